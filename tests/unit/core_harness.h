/*
 * core_harness.h — a fake environment for driving the sans-I/O core
 * (src/core/core.h) from unit tests. Included by test_core.c only.
 *
 *   - out_alloc hands out descriptors from a fixed array; it can be made to
 *     fail (alloc_fail) or limited (out_max) to test back-pressure;
 *   - out_send gathers each datagram into a flat copy, validates it with
 *     ipv4_parse/tcp_parse (so every checksum tundra computes is verified,
 *     also against the independent reference sum of test_helpers.h), and
 *     either completes it at once with core_tx_done or holds it (defer) so
 *     that descriptor lifetimes can be tested; a held descriptor's payload
 *     is compared with its send-time copy when it is completed;
 *   - listeners: 7 echo, 9 discard, 19 source, TAPP_PORT the test app;
 *   - a peer at 10.0.0.1 that builds valid IPv4 + TCP segments, offering
 *     SACK-permitted and timestamps when asked (struct syn_cfg; with
 *     timestamps every segment it sends carries its clock, ts_base + now
 *     in ms, and echoes p->ts_ecr), or answering our own SYN (our_connect,
 *     peer_syn_ack_in);
 *   - SACK blocks of our ACKs, which tcp_parse skips, read from the raw
 *     options (sack_of, expect_sack);
 *   - the core delays ACKs by 40 ms (expect_dack: none before, one then;
 *     expect_ack_soon: either) and is worker 3 of 4 (active opens pick
 *     ports that hash back to it).
 *
 * Time is H->now, advanced by the tests: nothing reads a clock.
 */
#ifndef TUNDRA_TESTS_UNIT_CORE_HARNESS_H
#define TUNDRA_TESTS_UNIT_CORE_HARNESS_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/apps.h"
#include "core/core.h"
#include "core/core_priv.h"
#include "ip/csum.h"
#include "ip/ipv4.h"
#include "tcp/tcp_seq.h"
#include "tcp/tcp_wire.h"
#include "test_helpers.h"
#include "tundra/app.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif

#define OUR IP4(10, 0, 0, 2)
#define PEER IP4(10, 0, 0, 1)
#define MS 1000000ull
#define SEC 1000000000ull
#define TAPP_PORT 5000
#define NDESC 256
#define MAXCAP 8192

/* One datagram tundra sent, flat and parsed. */
struct pkt {
	uint8_t *buf;
	uint32_t len;
	struct ip_view ip;
	bool tcp;
	struct tcp_seg seg; /* seg.data points into buf */
	uint64_t at;        /* H->now when it was sent */
	uint16_t gso_size;  /* a TSO super-segment (tx_offload) */
	bool csum_partial;  /* sent with a partial checksum (tx_offload) */
};

/* What the test app (port TAPP_PORT) saw and how it behaves. */
struct tapp {
	int accepted, readable, writable, closed;
	int last_err;
	bool eof;               /* tundra_conn_eof was true in readable */
	struct tundra_conn *conn;
	/* behaviour */
	bool close_on_accept;
	bool no_consume;        /* leave received bytes in the buffer */
	int refuse;             /* accepted returns this when < 0 */
	const uint8_t *write_on_accept;
	size_t write_on_accept_len;
	/* received stream */
	uint8_t *rx;
	size_t rxlen, rxcap;
};

struct harness {
	struct core *core;
	struct core_config cfg;
	struct core_env env;
	uint64_t now;
	uint16_t ip_id;

	struct core_out desc[NDESC];
	bool desc_used[NDESC];
	unsigned out_count;  /* descriptors out of the pool now */
	unsigned out_max;    /* at most this many out at once */
	bool alloc_fail;     /* out_alloc returns NULL */
	unsigned alloc_nulls;

	bool defer;          /* hold descriptors instead of completing */
	struct core_out *held[NDESC];
	unsigned held_cap[NDESC]; /* index of its capture */
	unsigned nheld;

	struct pkt *caps[MAXCAP];
	unsigned ncap, rd;

	struct core_listener l_echo, l_discard, l_source, l_tapp;
	struct tapp t;
};

static struct harness *H;

/* ---- test app -------------------------------------------------------- */

static int tapp_accepted(struct tundra_conn *c, void *arg)
{
	cr_assert_eq(arg, &H->t, "listener arg not passed to accepted");
	/* The core kept arg in the app's word until now: it is the app's,
	 * and zeroed, from accepted() on. */
	cr_assert_eq(*tundra_conn_app_data(c), 0, "app word not zeroed");
	H->t.accepted++;
	H->t.conn = c;
	if (H->t.refuse < 0)
		return H->t.refuse;
	if (H->t.write_on_accept_len) {
		size_t n = tundra_conn_write(c, H->t.write_on_accept,
					     H->t.write_on_accept_len);
		cr_assert_eq(n, H->t.write_on_accept_len);
	}
	if (H->t.close_on_accept)
		tundra_conn_close(c);
	return 0;
}

static void tapp_readable(struct tundra_conn *c)
{
	struct iovec iov[2];
	size_t n;

	H->t.readable++;
	if (!H->t.no_consume) {
		n = tundra_conn_peek(c, iov);
		if (H->t.rxlen + n > H->t.rxcap) {
			H->t.rxcap = (H->t.rxlen + n) * 2;
			H->t.rx = realloc(H->t.rx, H->t.rxcap);
			cr_assert(H->t.rx);
		}
		size_t got = 0;
		for (int i = 0; i < 2 && got < n; i++) {
			memcpy(H->t.rx + H->t.rxlen + got, iov[i].iov_base,
			       iov[i].iov_len);
			got += iov[i].iov_len;
		}
		cr_assert_eq(got, n, "peek views do not add up");
		H->t.rxlen += n;
		tundra_conn_consume(c, n);
	}
	if (tundra_conn_eof(c))
		H->t.eof = true;
}

static void tapp_writable(struct tundra_conn *c)
{
	(void)c;
	H->t.writable++;
}

static void tapp_closed(struct tundra_conn *c, int err)
{
	(void)c;
	H->t.closed++;
	H->t.last_err = err;
	H->t.conn = NULL;
}

static const struct tundra_app test_app = {
	.name = "test",
	.accepted = tapp_accepted,
	.readable = tapp_readable,
	.writable = tapp_writable,
	.closed = tapp_closed,
};

/* ---- env ------------------------------------------------------------- */

static struct core_out *h_out_alloc(void *ctx)
{
	cr_assert_eq(ctx, H);
	if (H->alloc_fail || H->out_count >= H->out_max) {
		H->alloc_nulls++;
		return NULL;
	}
	for (unsigned i = 0; i < NDESC; i++) {
		if (!H->desc_used[i]) {
			H->desc_used[i] = true;
			H->out_count++;
			/* Garbage, so a field the core forgets to set shows. */
			memset(&H->desc[i], 0x5a, sizeof(H->desc[i]));
			return &H->desc[i];
		}
	}
	H->alloc_nulls++;
	return NULL;
}

static unsigned desc_index(const struct core_out *o)
{
	cr_assert(o >= H->desc && o < H->desc + NDESC,
		  "descriptor not from the pool");
	unsigned i = (unsigned)(o - H->desc);
	cr_assert(H->desc_used[i], "descriptor %u sent but not allocated", i);
	return i;
}

/* The datagram o describes, flat; NULL-free. */
static uint8_t *gather(const struct core_out *o, uint32_t *len)
{
	uint32_t total = 0;
	uint8_t *buf;

	cr_assert(o->niov >= 1 && o->niov <= CORE_OUT_MAX_IOV, "niov %u",
		  o->niov);
	for (unsigned i = 0; i < o->niov; i++)
		total += (uint32_t)o->iov[i].iov_len;
	cr_assert_eq(total, o->len, "iov total %u != len %u", total, o->len);
	buf = malloc(total ? total : 1);
	cr_assert(buf);
	total = 0;
	for (unsigned i = 0; i < o->niov; i++) {
		memcpy(buf + total, o->iov[i].iov_base, o->iov[i].iov_len);
		total += (uint32_t)o->iov[i].iov_len;
	}
	*len = total;
	return buf;
}

/*
 * What the kernel does with a descriptor the core marked for offload
 * (tx_offload): check the marks (csum_start/csum_offset at the TCP
 * checksum, gso_size only on a TCP super-segment longer than it), check
 * that the checksum field holds the pseudo-header sum (folded, not
 * complemented), then finish the checksum as the device would (sum from
 * csum_start to the end, field included; store the complement), so the
 * usual checks below see a complete datagram.
 */
static void finish_offload(const struct core_out *o, struct pkt *k)
{
	uint8_t *th = k->buf + IPV4_HDR_LEN;
	uint32_t l4len = k->len - IPV4_HDR_LEN;
	uint16_t field, want, ck;

	cr_assert(H->cfg.tx_offload, "offload marks without tx_offload");
	cr_assert_eq(k->buf[9], IPPROTO_TCP_, "offload marks on proto %u",
		     k->buf[9]);
	cr_assert_eq(o->csum_start, IPV4_HDR_LEN);
	cr_assert_eq(o->csum_offset, 16);
	memcpy(&field, th + 16, 2);
	want = htons(ref_fold(ref_pseudo(OUR, PEER, IPPROTO_TCP_,
					 (uint16_t)l4len)));
	cr_assert_eq(field, want, "partial checksum %04x, want %04x", field,
		     want);
	ck = (uint16_t)~ref_fold(ref_sum(th, l4len, 0));
	put16(th + 16, ck);
	if (o->gso_size) {
		uint32_t thlen = (uint32_t)(th[12] >> 4) * 4;

		cr_assert_eq(o->iov[0].iov_len, IPV4_HDR_LEN + thlen,
			     "iov[0] must be exactly the headers");
		cr_assert_gt(l4len - thlen, o->gso_size,
			     "a super-segment of %u bytes, gso_size %u",
			     l4len - thlen, o->gso_size);
	}
}

static void h_out_send(void *ctx, struct core_out *o)
{
	struct pkt *k = calloc(1, sizeof(*k));
	unsigned i = desc_index(o);
	enum drop_reason r;

	cr_assert_eq(ctx, H);
	cr_assert(k);
	cr_assert(H->ncap < MAXCAP, "too many packets captured");
	cr_assert_eq(o->iov[0].iov_base, o->hdr, "iov[0] is not hdr");
	k->buf = gather(o, &k->len);
	k->at = H->now;
	k->gso_size = o->gso_size;
	k->csum_partial = o->csum_start != 0;
	if (o->csum_start || o->gso_size)
		finish_offload(o, k);
	else
		cr_assert(!H->cfg.tx_offload || k->buf[9] != IPPROTO_TCP_,
			  "tx_offload: a TCP segment without a partial csum");
	r = ipv4_parse(k->buf, k->len, &k->ip);
	cr_assert_eq(r, DROP_NONE, "tundra sent a bad IPv4 datagram: %s",
		     drop_name(r));
	cr_assert_eq(k->ip.saddr, OUR);
	cr_assert_eq(k->ip.daddr, PEER);
	cr_assert_eq(k->ip.hdr_len, IPV4_HDR_LEN);
	cr_assert_eq(ref_csum(k->buf, IPV4_HDR_LEN), 0, "IPv4 header csum");
	if (k->ip.proto == IPPROTO_TCP_) {
		k->tcp = true;
		r = tcp_parse(&k->ip, &k->seg);
		cr_assert_eq(r, DROP_NONE, "tundra sent a bad segment: %s",
			     drop_name(r));
		/* And the independent reference sum over the pseudo-header. */
		cr_assert_eq(ref_fold(ref_pseudo(OUR, PEER, IPPROTO_TCP_,
						 k->ip.l4_len) +
				      ref_sum(k->ip.l4, k->ip.l4_len, 0)),
			     0xffff, "TCP checksum (reference)");
		cr_assert_eq(k->seg.sport != 0 && k->seg.dport != 0, true);
	} else {
		cr_assert_eq(k->ip.proto, IPPROTO_ICMP_, "proto %u",
			     k->ip.proto);
		cr_assert_eq(ref_csum(k->ip.l4, k->ip.l4_len), 0,
			     "ICMP checksum");
	}
	H->caps[H->ncap++] = k;
	if (H->defer) {
		H->held[H->nheld] = o;
		H->held_cap[H->nheld] = H->ncap - 1;
		H->nheld++;
		return;
	}
	core_tx_done(H->core, o);
	H->desc_used[i] = false;
	H->out_count--;
}

static const struct core_listener *h_lookup(void *ctx, uint16_t port)
{
	cr_assert_eq(ctx, H);
	switch (port) {
	case 7:
		return &H->l_echo;
	case 9:
		return &H->l_discard;
	case 19:
		return &H->l_source;
	case TAPP_PORT:
		return &H->l_tapp;
	default:
		return NULL;
	}
}

/* Complete held descriptor j (index into held[]): its payload must still
 * be what it was when it was sent. */
static void complete_held(unsigned j)
{
	struct core_out *o;
	struct pkt *k;
	uint8_t *now;
	uint32_t len;

	cr_assert(j < H->nheld);
	o = H->held[j];
	k = H->caps[H->held_cap[j]];
	now = gather(o, &len);
	cr_assert_eq(len, k->len);
	cr_assert(memcmp(now, k->buf, len) == 0,
		  "payload of a descriptor changed before core_tx_done");
	free(now);
	memmove(&H->held[j], &H->held[j + 1],
		(H->nheld - j - 1) * sizeof(H->held[0]));
	memmove(&H->held_cap[j], &H->held_cap[j + 1],
		(H->nheld - j - 1) * sizeof(H->held_cap[0]));
	H->nheld--;
	core_tx_done(H->core, o);
	H->desc_used[desc_index(o)] = false;
	H->out_count--;
}

static void complete_all(void)
{
	while (H->nheld)
		complete_held(0);
}

static struct core_config default_config(void)
{
	struct core_config cfg = {
		.addr = OUR,
		.mtu = 1500,
		.sndbuf = 64 * 1024,
		.rcvbuf = 64 * 1024,
		.time_wait_ns = 1 * SEC,
		.rto_min_ns = 200 * MS,
		.rto_max_ns = 120 * SEC,
		.max_retries = 5,
		.delack_ns = 40 * MS,
		.worker_id = 3,
		.nworkers = 4,
		.prefix = 24,
	};

	for (int i = 0; i < 16; i++) {
		cfg.flow_key[i] = (uint8_t)(0x10 + i);
		cfg.iss_key[i] = (uint8_t)(0xa0 ^ (i * 7));
	}
	return cfg;
}

static void h_core(const struct core_config *cfg)
{
	H->cfg = *cfg;
	H->core = core_create(&H->cfg, &H->env);
	cr_assert(H->core, "core_create failed");
}

static void h_setup(void)
{
	struct core_config cfg = default_config();

	H = calloc(1, sizeof(*H));
	cr_assert(H);
	H->now = 10 * SEC;
	H->out_max = NDESC;
	H->env = (struct core_env){
		.ctx = H,
		.out_alloc = h_out_alloc,
		.out_send = h_out_send,
		.listener_lookup = h_lookup,
	};
	H->l_echo = (struct core_listener){.app = &app_echo};
	H->l_discard = (struct core_listener){.app = &app_discard};
	H->l_source = (struct core_listener){.app = &app_source};
	H->l_tapp = (struct core_listener){.app = &test_app, .arg = &H->t};
	h_core(&cfg);
}

/* Give back what is held, destroy the core (which must free everything:
 * LeakSanitizer checks in the sanitizer build), free the captures. */
static void h_destroy_core(void)
{
	H->defer = false;
	complete_all();
	core_destroy(H->core);
	H->core = NULL;
}

static void h_teardown(void)
{
	if (!H)
		return;
	if (H->core)
		h_destroy_core();
	for (unsigned i = 0; i < H->ncap; i++) {
		free(H->caps[i]->buf);
		free(H->caps[i]);
	}
	free(H->t.rx);
	free(H);
	H = NULL;
#ifdef HAVE_LSAN
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
		     "memory leaked (LeakSanitizer report above)");
#endif
}

/*
 * A test of the core. Setup and teardown run inside the test body, not as
 * Criterion .init/.fini: LeakSanitizer's report at exit and a failed
 * assertion in .fini both leave a Criterion test passing, and the leak
 * check of h_teardown must be able to fail it.
 */
#define CORE_TEST(name)                                                     \
	static void name##_body(void);                                      \
	Test(core, name)                                                    \
	{                                                                   \
		h_setup();                                                  \
		name##_body();                                              \
		h_teardown();                                               \
	}                                                                   \
	static void name##_body(void)

/* ---- observing ------------------------------------------------------- */

static const struct core_stats *ST(void)
{
	return core_stats(H->core);
}

static uint64_t drops(enum drop_reason r)
{
	return core_stats(H->core)->drops[r];
}

static const char *fl(uint8_t f)
{
	static char b[8][16];
	static int n;
	char *s = b[n++ & 7];

	snprintf(s, 16, "%s%s%s%s%s", f & TCP_SYN ? "S" : "",
		 f & TCP_FIN ? "F" : "", f & TCP_RST ? "R" : "",
		 f & TCP_PSH ? "P" : "", f & TCP_ACK ? "." : "");
	return s;
}

static struct pkt *next_pkt(void)
{
	return H->rd < H->ncap ? H->caps[H->rd++] : NULL;
}

static struct pkt *expect_tcp(void)
{
	struct pkt *k = next_pkt();

	cr_assert(k, "expected a segment from tundra, got none");
	cr_assert(k->tcp, "expected TCP, got protocol %u", k->ip.proto);
	return k;
}

static void expect_quiet_at(int line)
{
	if (H->rd < H->ncap) {
		struct pkt *k = H->caps[H->rd];
		cr_assert_fail("line %d: unexpected output: %s seq=%u ack=%u "
			       "len=%u (%u pending)",
			       line, k->tcp ? fl(k->seg.flags) : "ICMP",
			       k->seg.seq, k->seg.ack, k->seg.len,
			       H->ncap - H->rd);
	}
}
#define expect_quiet() expect_quiet_at(__LINE__)

/* Ignore whatever tundra sent so far. */
static void skip_output(void)
{
	H->rd = H->ncap;
}

/* A segment with exactly these flags, seq and ack (ack checked only with
 * ACK set) and payload length. */
static struct pkt *expect_seg(uint8_t flags, uint32_t seq, uint32_t ack,
			      uint32_t len)
{
	struct pkt *k = expect_tcp();

	cr_assert_eq(k->seg.flags, flags, "flags %s, want %s",
		     fl(k->seg.flags), fl(flags));
	cr_assert_eq(k->seg.seq, seq, "seq %u, want %u", k->seg.seq, seq);
	if (flags & TCP_ACK)
		cr_assert_eq(k->seg.ack, ack, "ack %u, want %u", k->seg.ack,
			     ack);
	cr_assert_eq(k->seg.len, len, "len %u, want %u", k->seg.len, len);
	return k;
}

/* ---- the peer -------------------------------------------------------- */

struct peer {
	uint16_t sport, dport;
	uint32_t isn;   /* peer's ISN */
	uint32_t nxt;   /* peer's next sequence number */
	uint32_t iss;   /* tundra's ISN, from the SYN-ACK */
	uint32_t ack;   /* the next byte expected from tundra */
	uint16_t wnd;   /* window the peer announces (unscaled) */
	uint16_t mss;   /* MSS tundra announced */
	bool ws;        /* tundra answered with window scale */
	uint8_t our_ws; /* ... this shift */
	/* RFC 7323, when the peer's SYN offered timestamps: every segment
	 * peer_in builds carries NOP NOP TS(ts_base + now in ms, ts_ecr). */
	bool ts;
	uint32_t ts_base;
	uint32_t ts_ecr; /* what the peer echoes (set from tundra's TSval) */
};

static size_t build_tcp(uint8_t *buf, uint16_t sport, uint16_t dport,
			uint32_t seq, uint32_t ack, uint8_t flags,
			uint16_t wnd, const uint8_t *opts, size_t optlen,
			const void *data, size_t len)
{
	size_t olen = (optlen + 3) & ~(size_t)3;
	size_t thlen = TCP_HDR_LEN + olen;
	uint8_t *th = buf + IPV4_HDR_LEN;
	uint32_t sum;
	uint16_t ck;
	struct tcp_hdr h = {
		.sport = htons(sport),
		.dport = htons(dport),
		.seq = htonl(seq),
		.ack = htonl(ack),
		.doff = (uint8_t)((thlen / 4) << 4),
		.flags = flags,
		.window = htons(wnd),
	};

	memcpy(th, &h, sizeof(h));
	memset(th + TCP_HDR_LEN, TCPOPT_EOL, olen);
	if (optlen)
		memcpy(th + TCP_HDR_LEN, opts, optlen);
	if (len)
		memcpy(th + thlen, data, len);
	ipv4_build(buf, PEER, OUR, IPPROTO_TCP_,
		   (uint16_t)(IPV4_HDR_LEN + thlen + len), H->ip_id++);
	sum = csum_pseudo_ipv4(htonl(PEER), htonl(OUR), IPPROTO_TCP_,
			       (uint16_t)(thlen + len));
	sum = csum_partial(th, thlen + len, sum);
	ck = csum_fold(sum);
	memcpy(th + 16, &ck, 2);
	return IPV4_HDR_LEN + thlen + len;
}

/* Hand one segment to core_input (no flush). */
static void raw_in(uint16_t sport, uint16_t dport, uint32_t seq,
		   uint32_t ack, uint8_t flags, uint16_t wnd,
		   const uint8_t *opts, size_t optlen, const void *data,
		   size_t len)
{
	uint8_t *buf = malloc(IPV4_HDR_LEN + 60 + len);
	size_t n;

	cr_assert(buf);
	n = build_tcp(buf, sport, dport, seq, ack, flags, wnd, opts, optlen,
		      data, len);
	core_input(H->core, buf, (uint32_t)n, H->now);
	/* The core only borrows the bytes: scribble over them. */
	memset(buf, 0xee, n);
	free(buf);
}

static void flush(void)
{
	core_flush(H->core, H->now);
}

/* Advance time by d and run the timers. */
static void advance(uint64_t d)
{
	H->now += d;
	core_timers(H->core, H->now);
}

/* A segment from p at p->nxt acking p->ack, no flush; p->nxt advances. */
static uint32_t peer_tsval(const struct peer *p)
{
	return p->ts_base + (uint32_t)(H->now / MS);
}

/* NOP NOP TS(val, ecr) into o (12 bytes). */
static size_t put_ts_opt(uint8_t *o, uint32_t val, uint32_t ecr)
{
	o[0] = TCPOPT_NOP;
	o[1] = TCPOPT_NOP;
	o[2] = TCPOPT_TIMESTAMP;
	o[3] = 10;
	put32(o + 4, val);
	put32(o + 8, ecr);
	return 12;
}

/* A segment from p at seq (not necessarily p->nxt), acking p->ack, with
 * p's timestamp when in use; no flush, p->nxt unchanged. */
static void peer_raw(struct peer *p, uint32_t seq, uint8_t flags,
		     const void *data, size_t len)
{
	uint8_t o[12];
	size_t n = p->ts ? put_ts_opt(o, peer_tsval(p), p->ts_ecr) : 0;

	raw_in(p->sport, p->dport, seq, p->ack, flags, p->wnd, o, n, data,
	       len);
}

static void peer_in(struct peer *p, uint8_t flags, const void *data,
		    size_t len)
{
	peer_raw(p, p->nxt, flags, data, len);
	p->nxt += (uint32_t)len + !!(flags & TCP_SYN) + !!(flags & TCP_FIN);
}

/* ... and flush. */
static void peer_send(struct peer *p, uint8_t flags, const void *data,
		      size_t len)
{
	peer_in(p, flags, data, len);
	flush();
}

#define OPTS(...) ((const uint8_t[]){__VA_ARGS__}), \
		  sizeof((const uint8_t[]){__VA_ARGS__})

/* The options of a SYN or SYN-ACK from the peer: MSS (0: none), window
 * shift (< 0: none), SACK-permitted, timestamps (ts: TSval tsval, TSecr
 * tsecr). Returns the length. */
static size_t syn_opts_build(uint8_t *o, uint16_t mss, int ws, bool sack,
			     bool ts, uint32_t tsval, uint32_t tsecr)
{
	size_t n = 0;

	if (mss) {
		o[n++] = TCPOPT_MSS;
		o[n++] = 4;
		o[n++] = (uint8_t)(mss >> 8);
		o[n++] = (uint8_t)mss;
	}
	if (sack) {
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_SACK_PERM;
		o[n++] = 2;
	}
	if (ts)
		n += put_ts_opt(o + n, tsval, tsecr);
	if (ws >= 0) {
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_WSCALE;
		o[n++] = 3;
		o[n++] = (uint8_t)ws;
	}
	return n;
}

/* A peer SYN offering what opts says; returns after checking the SYN-ACK,
 * which sets p->iss (and, with timestamps, p->ts_ecr). */
struct syn_cfg {
	uint16_t mss;
	int ws;
	uint16_t wnd;
	bool sack;
	bool ts;
	uint32_t ts_base; /* the peer's TSval = ts_base + now in ms */
};

static struct pkt *peer_syn_cfg(struct peer *p, uint16_t sport,
				uint16_t dport, uint32_t isn,
				const struct syn_cfg *sc)
{
	uint8_t o[40];
	size_t n;
	struct pkt *k;

	memset(p, 0, sizeof(*p));
	p->sport = sport;
	p->dport = dport;
	p->isn = isn;
	p->nxt = isn + 1;
	p->wnd = sc->wnd;
	p->ts_base = sc->ts_base;
	n = syn_opts_build(o, sc->mss, sc->ws, sc->sack, sc->ts,
			   peer_tsval(p), 0);
	raw_in(sport, dport, isn, 0, TCP_SYN, sc->wnd, o, n, NULL, 0);
	flush();
	k = expect_tcp();
	cr_assert_eq(k->seg.flags, TCP_SYN | TCP_ACK, "SYN-ACK flags %s",
		     fl(k->seg.flags));
	cr_assert_eq(k->seg.ack, isn + 1);
	cr_assert_eq(k->seg.sport, dport);
	cr_assert_eq(k->seg.dport, sport);
	cr_assert_eq(k->seg.len, 0);
	p->iss = k->seg.seq;
	p->ack = p->iss + 1;
	p->ws = k->seg.opts.has_wscale;
	p->our_ws = k->seg.opts.wscale;
	p->mss = k->seg.opts.mss;
	cr_assert_eq(k->seg.opts.has_ts, sc->ts,
		     "SYN-ACK timestamps %d, offered %d", k->seg.opts.has_ts,
		     sc->ts);
	if (sc->ts) {
		p->ts = true;
		p->ts_ecr = k->seg.opts.tsval;
		cr_assert_eq(k->seg.opts.tsecr, peer_tsval(p),
			     "SYN-ACK TSecr %u, want the SYN's TSval %u",
			     k->seg.opts.tsecr, peer_tsval(p));
	}
	return k;
}

/* SYN with the given MSS (0: none) and window shift (< 0: none), no SACK,
 * no timestamps; returns after checking the SYN-ACK, which sets p->iss. */
static struct pkt *peer_syn(struct peer *p, uint16_t sport, uint16_t dport,
			    uint32_t isn, uint16_t mss, int ws, uint16_t wnd)
{
	const struct syn_cfg sc = {.mss = mss, .ws = ws, .wnd = wnd};

	return peer_syn_cfg(p, sport, dport, isn, &sc);
}

/* Full handshake: SYN, SYN-ACK, ACK (window wnd, unscaled on the wire). */
static void peer_connect(struct peer *p, uint16_t sport, uint16_t dport,
			 uint32_t isn, uint16_t mss, int ws, uint16_t wnd)
{
	peer_syn(p, sport, dport, isn, mss, ws, wnd);
	peer_send(p, TCP_ACK, NULL, 0);
}

/* Tundra's table entry for p (NULL: none). */
static struct tcp_conn *conn_of(const struct peer *p)
{
	uint64_t h = flow_hash(H->cfg.flow_key, PEER, p->sport, OUR, p->dport);

	return ctab_lookup(H->core, h, PEER, p->sport, p->dport);
}

static int state_of(const struct peer *p)
{
	struct tcp_conn *c = conn_of(p);

	return c ? c->state : TCPS_CLOSED;
}

#define assert_state(p, s)                                                  \
	cr_assert_eq(state_of(p), (s), "state %s, want %s",                 \
		     tcp_state_name((enum tcp_state)state_of(p)),           \
		     tcp_state_name(s))

/*
 * Take every data/FIN segment tundra sent since the last look: each must
 * be in sequence at p->ack, carry ACK, ack p->nxt, and be no longer than
 * maxseg; the payload is appended to dst (when not NULL). Returns the
 * bytes taken; *nseg the number of segments.
 */
static size_t take_data(struct peer *p, uint8_t *dst, size_t cap,
			uint32_t maxseg, unsigned *nseg)
{
	size_t total = 0;
	unsigned ns = 0;
	struct pkt *k;

	while ((k = next_pkt())) {
		cr_assert(k->tcp);
		cr_assert(k->seg.flags & TCP_ACK, "no ACK on %s",
			  fl(k->seg.flags));
		cr_assert_eq(k->seg.flags & (TCP_SYN | TCP_RST), 0, "flags %s",
			     fl(k->seg.flags));
		cr_assert_eq(k->seg.seq, p->ack, "seq %u, want %u (in order)",
			     k->seg.seq, p->ack);
		cr_assert_eq(k->seg.ack, p->nxt);
		cr_assert(k->seg.len <= maxseg, "segment of %u > %u",
			  k->seg.len, maxseg);
		if (dst) {
			cr_assert(total + k->seg.len <= cap);
			memcpy(dst + total, k->seg.data, k->seg.len);
		}
		total += k->seg.len;
		p->ack += k->seg.len + !!(k->seg.flags & TCP_FIN);
		ns++;
	}
	if (nseg)
		*nseg = ns;
	return total;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	struct xs x = {seed | 1};

	xs_fill(&x, p, n);
}

/* ---- options the parser does not keep -------------------------------- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* The option of this kind in k's header (its kind byte), or NULL. */
static const uint8_t *opt_find(const struct pkt *k, uint8_t kind)
{
	const uint8_t *o = k->ip.l4 + TCP_HDR_LEN;
	unsigned len = k->seg.hdr_len - TCP_HDR_LEN, i = 0;

	while (i < len) {
		if (o[i] == TCPOPT_EOL)
			break;
		if (o[i] == TCPOPT_NOP) {
			i++;
			continue;
		}
		cr_assert(i + 1 < len && o[i + 1] >= 2 && i + o[i + 1] <= len,
			  "tundra sent a malformed option at %u", i);
		if (o[i] == kind)
			return o + i;
		i += o[i + 1];
	}
	return NULL;
}

/* The SACK blocks of k (RFC 2018 §3) into b: their number, or -1 when k
 * has no SACK option. */
static int sack_of(const struct pkt *k, uint32_t b[4][2])
{
	const uint8_t *o = opt_find(k, TCPOPT_SACK);
	int n;

	if (!o)
		return -1;
	cr_assert_eq((o[1] - 2) % 8, 0, "SACK option length %u", o[1]);
	n = (o[1] - 2) / 8;
	cr_assert(n >= 1 && n <= 4, "%d SACK blocks", n);
	for (int i = 0; i < n; i++) {
		b[i][0] = be32(o + 2 + 8 * i);
		b[i][1] = be32(o + 6 + 8 * i);
	}
	return n;
}

/* k carries exactly these SACK blocks, in this order (n 0: none). */
static void expect_sack_at(int line, const struct pkt *k, int n,
			   const uint32_t (*want)[2])
{
	uint32_t b[4][2];
	int got = sack_of(k, b);

	if (!n) {
		cr_assert_eq(got, -1, "line %d: SACK option with %d blocks",
			     line, got);
		return;
	}
	cr_assert_eq(got, n, "line %d: %d SACK blocks, want %d", line, got, n);
	for (int i = 0; i < n; i++)
		cr_assert(b[i][0] == want[i][0] && b[i][1] == want[i][1],
			  "line %d: SACK block %d is [%u, %u), want [%u, %u)",
			  line, i, b[i][0], b[i][1], want[i][0], want[i][1]);
}
#define expect_sack(k, n, ...)                                              \
	expect_sack_at(__LINE__, (k), (n), (const uint32_t[][2]){__VA_ARGS__})
#define expect_no_sack(k) expect_sack_at(__LINE__, (k), 0, NULL)

/* ---- delayed ACKs ---------------------------------------------------- */

/* No ACK now; exactly one, at RCV.NXT = p->nxt, when delack_ns has
 * passed (RFC 9293 §3.8.6.3). */
static struct pkt *expect_dack_at(int line, struct peer *p)
{
	expect_quiet_at(line);
	advance(H->cfg.delack_ns - 1);
	expect_quiet_at(line);
	advance(1);
	struct pkt *k = expect_seg(TCP_ACK, p->ack, p->nxt, 0);
	expect_quiet_at(line);
	return k;
}
#define expect_dack(p) expect_dack_at(__LINE__, (p))

/* An ACK of everything, now or at the latest when delack_ns has passed:
 * for tests about something else than ACK timing. */
static struct pkt *expect_ack_soon(struct peer *p)
{
	if (H->rd == H->ncap)
		advance(H->cfg.delack_ns);
	return expect_seg(TCP_ACK, p->ack, p->nxt, 0);
}

/* ---- active open ----------------------------------------------------- */

/* core_connect to PEER:rport for the test app; flushes and checks our SYN.
 * p gets the ports (sport: the peer's, dport: ours) and our ISS. */
static struct pkt *our_connect(struct peer *p, uint16_t rport,
			       struct tcp_conn **cp)
{
	struct tcp_conn *c = NULL;
	struct pkt *k;
	int r = core_connect(H->core, PEER, rport, &test_app, &H->t, H->now,
			     &c);

	cr_assert_eq(r, 0, "core_connect: %d", r);
	cr_assert_not_null(c);
	cr_assert_eq(c->state, TCPS_SYN_SENT);
	expect_quiet(); /* the SYN waits for the flush */
	flush();
	k = expect_tcp();
	cr_assert_eq(k->seg.flags, TCP_SYN, "SYN flags %s", fl(k->seg.flags));
	cr_assert_eq(k->seg.dport, rport);
	cr_assert_eq(k->seg.len, 0);
	memset(p, 0, sizeof(*p));
	p->sport = rport;
	p->dport = k->seg.sport;
	p->iss = k->seg.seq;
	p->ack = p->iss + 1;
	if (cp)
		*cp = c;
	return k;
}

/* The peer's SYN-ACK to our SYN (ISN isn, options as in sc), no flush. */
static void peer_syn_ack_in(struct peer *p, uint32_t isn,
			    const struct syn_cfg *sc, uint32_t our_tsval)
{
	uint8_t o[40];
	size_t n;

	p->isn = isn;
	p->nxt = isn + 1;
	p->wnd = sc->wnd;
	p->ts = sc->ts;
	p->ts_base = sc->ts_base;
	p->ts_ecr = our_tsval;
	n = syn_opts_build(o, sc->mss, sc->ws, sc->sack, sc->ts,
			   peer_tsval(p), our_tsval);
	raw_in(p->sport, p->dport, isn, p->ack, TCP_SYN | TCP_ACK, sc->wnd, o,
	       n, NULL, 0);
}

#endif
