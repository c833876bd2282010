/*
 * test_helpers.h — shared by the unit tests (header-only; the Makefile
 * builds each tests/unit/NAME.c into its own binary).
 *
 * The reference checksum here is deliberately the dumbest possible RFC 1071
 * implementation (big-endian 16-bit words, one at a time, 64-bit sum, fold
 * at the end) so that it shares no code or cleverness with src/ip/csum.c.
 */
#ifndef TUNDRA_TESTS_UNIT_TEST_HELPERS_H
#define TUNDRA_TESTS_UNIT_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Deterministic PRNG (Marsaglia xorshift64). Never seed with 0. */
struct xs {
	uint64_t s;
};

static inline uint64_t xs_next(struct xs *x)
{
	uint64_t v = x->s;

	v ^= v << 13;
	v ^= v >> 7;
	v ^= v << 17;
	x->s = v;
	return v;
}

static inline uint32_t xs_u32(struct xs *x)
{
	return (uint32_t)(xs_next(x) >> 32);
}

/* Uniform-ish in [0, n); n > 0. */
static inline uint32_t xs_below(struct xs *x, uint32_t n)
{
	return (uint32_t)((xs_next(x) >> 32) % n);
}

static inline void xs_fill(struct xs *x, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(xs_next(x) >> 56);
}

/* Big-endian stores/loads, independent of the code under test. */
static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Reference one's-complement sum of big-endian 16-bit words, unfolded;
 * an odd trailing byte is the high byte of a word padded with zero. */
static inline uint64_t ref_sum(const uint8_t *p, size_t n, uint64_t sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint64_t)(p[i] << 8 | p[i + 1]);
	if (i < n)
		sum += (uint64_t)p[i] << 8;
	return sum;
}

/* Fold to 16 bits (not complemented), in host order. */
static inline uint16_t ref_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The checksum to put on the wire, as a host-order number (store it with
 * put16). */
static inline uint16_t ref_csum(const uint8_t *p, size_t n)
{
	return (uint16_t)~ref_fold(ref_sum(p, n, 0));
}

/* Sum of the IPv4 pseudo-header; addresses in host order. */
static inline uint64_t ref_pseudo(uint32_t saddr, uint32_t daddr,
				  uint8_t proto, uint16_t len)
{
	uint8_t ph[12];

	put32(ph, saddr);
	put32(ph + 4, daddr);
	ph[8] = 0;
	ph[9] = proto;
	put16(ph + 10, len);
	return ref_sum(ph, sizeof(ph), 0);
}

#define IP4(a, b, c, d)                                                     \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |   \
	 (uint32_t)(d))

/*
 * ThreadSanitizer. Criterion 2.4 cannot start under TSan: BoxFort's
 * inheritable arena probes random addresses in [0x2000'0000'0000,
 * 0x7f00'0000'0000) for free space, TSan has reserved nearly all of it, and
 * criterion_initialize() aborts with "Could not initialize inheritable
 * arena: Resource temporarily unavailable" (Snaipe/Criterion#274; about 1
 * run in 20 gets through here). So under TSan every test binary gets its own
 * main() and never enters Criterion's runner:
 *   - TUNDRA_TSAN_SKIP_MAIN for single-threaded modules: says so, exit 0;
 *   - test_ring.c defines a main() that runs its two-thread stress with plain
 *     checks, which is the part TSan is for.
 */
#if defined(__SANITIZE_THREAD__)
#define TUNDRA_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TUNDRA_TSAN 1
#endif
#endif

#ifdef TUNDRA_TSAN
#include <stdio.h>
int main(int argc, char **argv);
#define TUNDRA_TSAN_SKIP_MAIN                                               \
	int main(int argc, char **argv)                                     \
	{                                                                   \
		(void)argc;                                                 \
		printf("%s: skipped under ThreadSanitizer (single-threaded " \
		       "code; Criterion cannot start under TSan)\n",        \
		       argv[0]);                                            \
		return 0;                                                   \
	}
#else
#define TUNDRA_TSAN_SKIP_MAIN
#endif

#endif
