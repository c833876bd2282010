/*
 * micro_csum — throughput of the Internet checksum (src/ip/csum.h) in GB/s
 * (10^9 bytes per second):
 *
 *   csum_partial over 64, 1460, 9000 and 65536-byte buffers (a bare ACK's
 *   header area, an MSS-sized payload, a jumbo frame, a TSO super-segment);
 *   csum_iov over 2 pieces, as tcp_emit() sums a payload that wraps around
 *   the send buffer: 1460 split evenly (730+730) and at an odd offset
 *   (731+729, the byte-swap path), and 65536 split 32768+32768;
 *   a naive reference: 16 bits at a time into a 32-bit accumulator;
 *   cand_adc4 (x86-64 only): a candidate loop, not tundra's code, with four
 *   64-bit words per add-with-carry chain, to show the headroom.
 *
 * Every result is checked against the naive sum. Each case runs
 * MICRO_TRIALS times (default 5): median, min and max are reported.
 *
 *   result bench=csum case=NAME bytes=N gbps=MEDIAN ns_per_call=.. min=.. max=.. trials=N
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "ip/csum.h"

#define MAX_TRIALS 31
/* bytes summed per trial: ~20-40 ms at a few GB/s */
#define TRIAL_BYTES (96ull << 20)

static unsigned trials = 5;
static volatile uint32_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The reference: RFC 1071 §4.1 as written, 16 bits at a time. noipa: the
 * compiler may not hoist the loop-invariant call out of the timing loop. */
__attribute__((noipa)) static uint32_t naive_sum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	while (len > 1) {
		uint16_t w;
		memcpy(&w, p, 2);
		sum += w;
		p += 2;
		len -= 2;
	}
	if (len)
		sum += *p; /* first byte in memory is the high-order one (BE) */
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

#ifdef __x86_64__
/* A candidate, not tundra's code: csum_partial's loop with four 64-bit
 * words per add-with-carry chain (as Linux's x86 csum_partial does), to
 * show what the checksum could cost. Tail by csum_partial. */
__attribute__((noipa)) static uint32_t adc_sum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = 0, w0, w1, w2, w3;

	while (len >= 32) {
		memcpy(&w0, p, 8);
		memcpy(&w1, p + 8, 8);
		memcpy(&w2, p + 16, 8);
		memcpy(&w3, p + 24, 8);
		__asm__("addq %1, %0\n\tadcq %2, %0\n\tadcq %3, %0\n\t"
			"adcq %4, %0\n\tadcq $0, %0"
			: "+r"(acc)
			: "r"(w0), "r"(w1), "r"(w2), "r"(w3)
			: "cc");
		p += 32;
		len -= 32;
	}
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return csum_partial(p, len, (uint32_t)acc);
}
#endif

enum kind { K_PARTIAL, K_IOV, K_NAIVE, K_ADC };

static uint32_t run_once(enum kind k, const uint8_t *buf, size_t len,
			 const struct iovec *iov)
{
	switch (k) {
	case K_PARTIAL:
		return csum_partial(buf, len, 0);
	case K_IOV:
		return csum_iov(iov, 2, 0);
#ifdef __x86_64__
	case K_ADC:
		return adc_sum(buf, len);
#endif
	case K_NAIVE:
	default:
		return naive_sum(buf, len);
	}
}

static int bad;

static void bench(const char *name, enum kind k, const uint8_t *buf,
		  size_t len, size_t split)
{
	struct iovec iov[2] = {
		{(void *)buf, split},
		{(void *)(buf + split), len - split},
	};
	uint64_t iters = TRIAL_BYTES / len;
	double g[MAX_TRIALS], ns[MAX_TRIALS];
	uint16_t want = csum_fold(naive_sum(buf, len));
	uint16_t got = csum_fold(run_once(k, buf, len, iov));

	if (got != want) {
		printf("csum %s: WRONG RESULT %04x, naive %04x\n", name, got,
		       want);
		bad = 1;
	}
	for (unsigned t = 0; t < trials; t++) {
		uint32_t acc = 0;
		uint64_t t0 = now_ns();

		for (uint64_t i = 0; i < iters; i++) {
			/* buf may have changed: no hoisting */
			__asm__ volatile("" : : "r"(buf) : "memory");
			acc += run_once(k, buf, len, iov);
		}
		uint64_t dt = now_ns() - t0;
		sink = acc;
		g[t] = (double)(iters * len) / (double)dt; /* bytes/ns = GB/s */
		ns[t] = (double)dt / (double)iters;
	}
	double med = median(g, trials), mns = median(ns, trials);

	printf("csum %-16s %6zu B  %7.2f GB/s  %8.1f ns/call   (median of %u; "
	       "min %.2f, max %.2f)\n",
	       name, len, med, mns, trials, g[0], g[trials - 1]);
	printf("result bench=csum case=%s bytes=%zu gbps=%.3f ns_per_call=%.1f "
	       "min=%.3f max=%.3f trials=%u\n",
	       name, len, med, mns, g[0], g[trials - 1], trials);
	fflush(stdout);
}

int main(void)
{
	static const size_t sizes[] = {64, 1460, 9000, 65536};
	const char *e = getenv("MICRO_TRIALS");
	uint8_t *buf;
	char name[32];

	if (e && atoi(e) > 0)
		trials = (unsigned)atoi(e) > MAX_TRIALS ? MAX_TRIALS
							: (unsigned)atoi(e);
	/* 64-byte aligned, as jemalloc hands out the send buffer. */
	if (posix_memalign((void **)&buf, 64, 65536)) {
		fprintf(stderr, "micro_csum: out of memory\n");
		return 1;
	}
	srand(1);
	for (size_t i = 0; i < 65536; i++)
		buf[i] = (uint8_t)rand();
	printf("# micro_csum: GB/s = 10^9 bytes/s, %u trials per case\n",
	       trials);

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(name, sizeof(name), "partial_%zu", sizes[i]);
		bench(name, K_PARTIAL, buf, sizes[i], 0);
		snprintf(name, sizeof(name), "naive_%zu", sizes[i]);
		bench(name, K_NAIVE, buf, sizes[i], 0);
#ifdef __x86_64__
		snprintf(name, sizeof(name), "cand_adc4_%zu", sizes[i]);
		bench(name, K_ADC, buf, sizes[i], 0);
#endif
	}
	bench("iov2_1460_even", K_IOV, buf, 1460, 730);
	bench("iov2_1460_odd", K_IOV, buf, 1460, 731);
	bench("iov2_65536", K_IOV, buf, 65536, 32768);
	free(buf);
	return bad;
}
