/*
 * fuzz_common.h — shared by the libFuzzer targets of tests/fuzz/ (each
 * fuzz_NAME.c is one binary, see mk/fuzz.mk and README.md there).
 *
 *   - FUZZ_CHECK: an invariant that must hold; a failure prints what and
 *     where and aborts, which libFuzzer reports as a crash with the input
 *     saved as a reproducer;
 *   - struct fz: reads the fuzzer's bytes as a stream of small integers,
 *     zeros once it is exhausted (so every input decodes to something);
 *   - pkt_build: a valid IPv4 + TCP datagram with correct checksums, so
 *     the targets get past checksum validation into the code behind it.
 */
#ifndef TUNDRA_TESTS_FUZZ_FUZZ_COMMON_H
#define TUNDRA_TESTS_FUZZ_FUZZ_COMMON_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "ip/csum.h"
#include "ip/ipv4.h"
#include "tcp/tcp_wire.h"

#define FUZZ_CHECK(cond, ...)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr,                                        \
				"FUZZ INVARIANT FAILED %s:%d: %s: ", __FILE__, \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	const uint8_t *p;
	size_t n, i;
};

static inline bool fz_more(const struct fz *f)
{
	return f->i < f->n;
}

static inline uint8_t fz_u8(struct fz *f)
{
	return f->i < f->n ? f->p[f->i++] : 0;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t hi = fz_u8(f);

	return (uint16_t)(hi << 8 | fz_u8(f));
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t hi = fz_u16(f);

	return hi << 16 | fz_u16(f);
}

/* A small signed offset, mostly near zero. */
static inline int32_t fz_delta(struct fz *f)
{
	uint8_t b = fz_u8(f);

	switch (b >> 6) {
	case 0:
		return 0;
	case 1:
		return (int32_t)(b & 0x1f) - 16;
	case 2:
		return ((int32_t)(b & 0x3f) - 32) * 256;
	default:
		return (int32_t)((uint32_t)(b & 0x3f) << 26); /* far away */
	}
}

/* What a peer puts in one segment. */
struct seg_in {
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	uint8_t opts[TCP_MAX_OPT_LEN];
	uint8_t optlen; /* multiple of 4 */
	const uint8_t *payload;
	uint32_t len;
};

/* Build s into buf (room for 60 + s->len bytes); returns the length. */
static inline uint32_t pkt_build(uint8_t *buf, const struct seg_in *s,
				 uint16_t ip_id)
{
	uint32_t thlen = TCP_HDR_LEN + s->optlen;
	uint32_t tot = IPV4_HDR_LEN + thlen + s->len;
	uint8_t *th = buf + IPV4_HDR_LEN;
	struct tcp_hdr h = {
		.sport = htons(s->sport),
		.dport = htons(s->dport),
		.seq = htonl(s->seq),
		.ack = htonl(s->ack),
		.doff = (uint8_t)((thlen / 4) << 4),
		.flags = s->flags,
		.window = htons(s->wnd),
	};
	uint32_t sum;
	uint16_t check;

	ipv4_build(buf, s->saddr, s->daddr, IPPROTO_TCP_, (uint16_t)tot, ip_id);
	memcpy(th, &h, sizeof(h));
	memcpy(th + TCP_HDR_LEN, s->opts, s->optlen);
	if (s->len)
		memcpy(th + thlen, s->payload, s->len);
	sum = csum_pseudo_ipv4(htonl(s->saddr), htonl(s->daddr), IPPROTO_TCP_,
			       (uint16_t)(thlen + s->len));
	check = csum_fold(csum_partial(th, thlen + s->len, sum));
	memcpy(th + 16, &check, 2);
	return tot;
}

#endif
