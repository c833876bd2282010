/*
 * micro_core — the whole sans-I/O core (src/core/core.h) per segment, one
 * thread, no TUN, no rings: what a worker spends on a segment.
 *
 *   rx_bN   ns per received in-order 1448-byte data segment to the discard
 *           app (port 9): core_input (IPv4 + TCP parse with both checksums,
 *           flow hash, table lookup, RFC 9293 segment processing, copy into
 *           the receive buffer), then core_flush every N segments (the app's
 *           readable callback, the window update and one ACK built with its
 *           checksum). N=1: an ACK per segment; N=32: the batch a busy
 *           worker sees (its bursts are up to 64).
 *   tx_aN   ns per sent 1448-byte segment from the source app (port 19):
 *           the peer acks every N segments; per ACK, core_input (parse,
 *           lookup, ACK processing, send-buffer release, RTO re-arm) and
 *           core_flush (the app refills the send buffer by memcpy, then
 *           tcp_output builds the segments: headers and a checksum over the
 *           payload). N=2 is Linux's usual ACK rate; N=16 stretch ACKs.
 *
 * The env hands out descriptors from a free list and out_send gives each
 * back at once with core_tx_done, so TX costs nothing here. The peer's
 * segments are built once (ipv4_build, csum_*) and then only their sequence
 * or acknowledgment number changes, with the TCP checksum patched by
 * csum_update32 (RFC 1624): "peer" below is that cost, included in the rx
 * numbers (it is a few ns). Time ("now") is a counter advanced 1 µs per
 * batch: the core reads no clock; the benchmark reads CLOCK_MONOTONIC around
 * each trial only. Each case runs MICRO_TRIALS times (default 9: the cases are short): medians.
 * After the timed runs, a short validated run re-parses every datagram the
 * core sent (ipv4_parse + tcp_parse: checksums included) and checks the
 * byte counts, so the numbers are for correct work.
 *
 *   result bench=core case=rx_b1 ns_per_seg=.. min=.. max=.. mpps=.. gbps=.. acks_per_seg=.. trials=N
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps/apps.h"
#include "core/core.h"
#include "core/core_priv.h"
#include "ip/csum.h"
#include "ip/ipv4.h"
#include "tcp/tcp_wire.h"
#include "tundra/app.h"

#define MAX_TRIALS 31
#define OUR 0x0a000002u  /* 10.0.0.2 */
#define PEER 0x0a000001u /* 10.0.0.1 */
#define MSS 1448
#define RX_SEGS 100000u /* per trial */
#define TX_SEGS 100000u
#define NDESC 256
#define US 1000ull

static unsigned trials = 9;

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

static void die(const char *what)
{
	fprintf(stderr, "micro_core: %s\n", what);
	exit(1);
}

/* ---- the fake env ----------------------------------------------------- */

struct fenv {
	struct core *core;
	struct core_out desc[NDESC];
	struct core_out *free[NDESC];
	unsigned nfree;
	bool validate; /* re-parse every datagram sent */
	/* what tundra sent */
	uint32_t iss;       /* from the SYN-ACK */
	uint32_t snd_end;   /* highest SEQ+LEN of a data segment */
	uint64_t data_segs, acks, bytes;
	uint32_t last_ack;  /* ACK field of the last segment */
	uint64_t bad;       /* validation failures */
};

static struct fenv E;

static struct core_out *f_alloc(void *ctx)
{
	struct fenv *e = ctx;

	return e->nfree ? e->free[--e->nfree] : NULL;
}

static void f_validate(struct fenv *e, const struct core_out *o)
{
	static uint8_t flat[65536 + 256];
	struct ip_view ip;
	struct tcp_seg seg;
	uint32_t n = 0;

	for (unsigned i = 0; i < o->niov; i++) {
		memcpy(flat + n, o->iov[i].iov_base, o->iov[i].iov_len);
		n += (uint32_t)o->iov[i].iov_len;
	}
	if (n != o->len || ipv4_parse(flat, n, &ip) != DROP_NONE ||
	    ip.proto != IPPROTO_TCP_ || tcp_parse(&ip, &seg) != DROP_NONE)
		e->bad++;
	/* source app pattern: the byte at stream offset i is i % 251 */
	if (seg.len && seg.dport != 9) {
		uint32_t off = seg.seq - (e->iss + 1);
		for (uint32_t i = 0; i < seg.len; i += 97)
			if (seg.data[i] != source_byte((uint64_t)off + i)) {
				e->bad++;
				break;
			}
	}
}

static void f_send(void *ctx, struct core_out *o)
{
	struct fenv *e = ctx;
	const uint8_t *th = o->hdr + IPV4_HDR_LEN;
	uint32_t seq, ack, paylen = o->len - (uint32_t)o->iov[0].iov_len;

	memcpy(&seq, th + 4, 4);
	memcpy(&ack, th + 8, 4);
	seq = ntohl(seq);
	e->last_ack = ntohl(ack);
	if (th[13] & TCP_SYN)
		e->iss = seq;
	if (paylen) {
		e->data_segs++;
		e->bytes += paylen;
		if ((int32_t)(seq + paylen - e->snd_end) > 0)
			e->snd_end = seq + paylen;
	} else {
		e->acks++;
	}
	if (e->validate)
		f_validate(e, o);
	core_tx_done(e->core, o);
	e->free[e->nfree++] = o;
}

static const struct core_listener l_discard = {.app = &app_discard};
static const struct core_listener l_source = {.app = &app_source};

static const struct core_listener *f_lookup(void *ctx, uint16_t port)
{
	(void)ctx;
	return port == 9 ? &l_discard : port == 19 ? &l_source : NULL;
}

static void env_init(void)
{
	struct core_config cfg = {
		.addr = OUR,
		.mtu = 1500,
		.sndbuf = 262144, /* tundra's defaults */
		.rcvbuf = 262144,
		.time_wait_ns = 60000000000ull,
		.rto_min_ns = 200000000ull,
		.rto_max_ns = 120000000000ull,
		.max_retries = 8,
	};
	struct core_env env = {
		.ctx = &E,
		.out_alloc = f_alloc,
		.out_send = f_send,
		.listener_lookup = f_lookup,
	};

	memset(&E, 0, sizeof(E));
	for (int i = 0; i < 16; i++) {
		cfg.flow_key[i] = (uint8_t)(0x10 + i);
		cfg.iss_key[i] = (uint8_t)(0xa0 ^ (i * 7));
	}
	for (unsigned i = 0; i < NDESC; i++)
		E.free[E.nfree++] = &E.desc[i];
	E.core = core_create(&cfg, &env);
	if (!E.core)
		die("core_create failed");
}

/* ---- the peer (10.0.0.1) ---------------------------------------------- */

struct seg_tpl {
	uint8_t buf[IPV4_HDR_LEN + 60 + MSS];
	uint32_t len;
	uint32_t seq, ack; /* current values in the header */
};

static void tpl_build(struct seg_tpl *t, uint16_t sport, uint16_t dport,
		      uint32_t seq, uint32_t ack, uint8_t flags,
		      const uint8_t *opts, size_t optlen, uint32_t paylen)
{
	uint8_t *th = t->buf + IPV4_HDR_LEN;
	size_t thlen = TCP_HDR_LEN + ((optlen + 3) & ~(size_t)3);
	struct tcp_hdr h = {
		.sport = htons(sport),
		.dport = htons(dport),
		.seq = htonl(seq),
		.ack = htonl(ack),
		.doff = (uint8_t)((thlen / 4) << 4),
		.flags = flags,
		.window = htons(65535), /* x 2^7 once scaled: 8 MiB */
	};
	uint16_t ck;
	uint32_t sum;

	memcpy(th, &h, sizeof(h));
	memset(th + TCP_HDR_LEN, TCPOPT_EOL, thlen - TCP_HDR_LEN);
	if (optlen)
		memcpy(th + TCP_HDR_LEN, opts, optlen);
	for (uint32_t i = 0; i < paylen; i++)
		th[thlen + i] = (uint8_t)(i * 7 + 3);
	ipv4_build(t->buf, PEER, OUR, IPPROTO_TCP_,
		   (uint16_t)(IPV4_HDR_LEN + thlen + paylen), 1);
	sum = csum_pseudo_ipv4(htonl(PEER), htonl(OUR), IPPROTO_TCP_,
			       (uint16_t)(thlen + paylen));
	ck = csum_fold(csum_partial(th, thlen + paylen, sum));
	memcpy(th + 16, &ck, 2);
	t->len = (uint32_t)(IPV4_HDR_LEN + thlen + paylen);
	t->seq = seq;
	t->ack = ack;
}

/* Change the 32-bit field at TCP offset off (4: seq, 8: ack) and patch the
 * checksum (RFC 1624). */
static inline void tpl_set(struct seg_tpl *t, unsigned off, uint32_t *cur,
			   uint32_t v)
{
	uint8_t *th = t->buf + IPV4_HDR_LEN;
	uint32_t old_be = htonl(*cur), new_be = htonl(v);
	uint16_t ck;

	memcpy(&ck, th + 16, 2);
	ck = csum_update32(ck, old_be, new_be);
	memcpy(th + 16, &ck, 2);
	memcpy(th + off, &new_be, 4);
	*cur = v;
}

/* SYN (MSS 1448, window scale 7), then the ACK of the SYN-ACK. Returns the
 * established connection. */
static struct tcp_conn *handshake(uint16_t sport, uint16_t dport,
				  uint32_t isn, uint64_t now)
{
	static const uint8_t syn_opts[] = {TCPOPT_MSS, 4, MSS >> 8, MSS & 0xff,
					   TCPOPT_NOP, TCPOPT_WSCALE, 3, 7};
	struct seg_tpl t;
	struct tcp_conn *c;

	tpl_build(&t, sport, dport, isn, 0, TCP_SYN, syn_opts,
		  sizeof(syn_opts), 0);
	core_input(E.core, t.buf, t.len, now);
	core_flush(E.core, now);
	tpl_build(&t, sport, dport, isn + 1, E.iss + 1, TCP_ACK, NULL, 0, 0);
	core_input(E.core, t.buf, t.len, now + US);
	core_flush(E.core, now + US);
	c = ctab_lookup(E.core,
			flow_hash(E.core->cfg.flow_key, PEER, sport, OUR, dport),
			PEER, sport, dport);
	if (!c || c->state != TCPS_ESTABLISHED)
		die("handshake failed");
	return c;
}

/* ---- cases ------------------------------------------------------------ */

static uint64_t now_sim = 10ull * 1000000000ull;
static uint16_t next_port = 40000;

struct res {
	double ns; /* per segment */
	double acks_per_seg;
};

/* segs data segments to the discard app, a flush every batch. */
static struct res rx_run(unsigned batch, uint32_t segs, bool peer_only)
{
	uint16_t sport = next_port++;
	uint32_t isn = 1000000u * sport;
	struct tcp_conn *c = handshake(sport, 9, isn, now_sim);
	struct seg_tpl t;
	uint64_t t0, dt, acks0 = E.acks, bytes0;
	uint32_t seq = isn + 1;
	struct res r;

	tpl_build(&t, sport, 9, seq, E.iss + 1, TCP_ACK, NULL, 0, MSS);
	bytes0 = tcp_bytes_received(c);
	t0 = now_ns();
	segs = segs / batch * batch;
	for (uint32_t i = 0; i < segs; i += batch) {
		now_sim += US;
		for (unsigned j = 0; j < batch; j++) {
			tpl_set(&t, 4, &t.seq, seq);
			seq += MSS;
			if (!peer_only)
				core_input(E.core, t.buf, t.len, now_sim);
			else
				__asm__ volatile("" : : "r"(t.buf) : "memory");
		}
		if (!peer_only)
			core_flush(E.core, now_sim);
	}
	dt = now_ns() - t0;
	if (!peer_only) {
		/* a delayed ACK, if the core delays them, goes out here */
		now_sim += 1000 * 1000 * US;
		core_timers(E.core, now_sim);
		if (tcp_bytes_received(c) - bytes0 != (uint64_t)segs * MSS ||
		    E.last_ack != seq)
			die("rx: the core did not take (and ack) every segment");
	}
	r.ns = (double)dt / segs;
	r.acks_per_seg = (double)(E.acks - acks0) / segs;
	/* leave: RST at RCV.NXT closes it */
	tpl_build(&t, sport, 9, c->rcv_nxt, E.iss + 1, TCP_RST, NULL, 0, 0);
	core_input(E.core, t.buf, t.len, now_sim);
	core_flush(E.core, now_sim);
	return r;
}

/* The source app sends; the peer acks every ack_every segments, until
 * segs segments went out. */
static struct res tx_run(unsigned ack_every, uint32_t segs)
{
	uint16_t sport = next_port++;
	uint32_t isn = 1000000u * sport;
	struct tcp_conn *c;
	struct seg_tpl t;
	uint64_t t0, dt, segs0, acks = 0;
	uint32_t acked;
	struct res r;

	E.snd_end = 0;
	c = handshake(sport, 19, isn, now_sim); /* first window goes out */
	(void)c;
	acked = E.iss + 1;
	tpl_build(&t, sport, 19, isn + 1, acked, TCP_ACK, NULL, 0, 0);
	segs0 = E.data_segs;
	t0 = now_ns();
	while (E.data_segs - segs0 < segs) {
		uint32_t a = acked + ack_every * MSS;

		if ((int32_t)(a - E.snd_end) > 0)
			a = E.snd_end;
		if (a == acked)
			die("tx: nothing in flight to ack");
		acked = a;
		now_sim += US;
		tpl_set(&t, 8, &t.ack, acked);
		core_input(E.core, t.buf, t.len, now_sim);
		core_flush(E.core, now_sim);
		acks++;
	}
	dt = now_ns() - t0;
	r.ns = (double)dt / (double)(E.data_segs - segs0);
	r.acks_per_seg = (double)acks / (double)(E.data_segs - segs0);
	tpl_build(&t, sport, 19, isn + 1, acked, TCP_RST, NULL, 0, 0);
	core_input(E.core, t.buf, t.len, now_sim);
	core_flush(E.core, now_sim);
	return r;
}

static void report(const char *name, const char *what, struct res *v,
		   unsigned n)
{
	double ns[MAX_TRIALS], aps[MAX_TRIALS];

	for (unsigned i = 0; i < n; i++) {
		ns[i] = v[i].ns;
		aps[i] = v[i].acks_per_seg;
	}
	double m = median(ns, n), a = median(aps, n);
	double mpps = 1e3 / m, gbps = MSS * 8.0 / m;

	printf("core %-6s %7.1f ns/seg  %5.2f Mseg/s  %5.1f Gbit/s of payload"
	       "  acks/seg %.2f   (median of %u; min %.1f, max %.1f)  %s\n",
	       name, m, mpps, gbps, a, n, ns[0], ns[n - 1], what);
	printf("result bench=core case=%s ns_per_seg=%.1f min=%.1f max=%.1f "
	       "mpps=%.3f gbps=%.2f acks_per_seg=%.3f trials=%u\n",
	       name, m, ns[0], ns[n - 1], mpps, gbps, a, n);
	fflush(stdout);
}

int main(void)
{
	static const unsigned rx_batches[] = {1, 32};
	static const unsigned tx_acks[] = {2, 16};
	const char *e = getenv("MICRO_TRIALS");
	struct res v[MAX_TRIALS];
	char name[32], what[96];
	const struct core_stats *st;
	uint64_t drops = 0;

	if (e && atoi(e) > 0)
		trials = (unsigned)atoi(e) > MAX_TRIALS ? MAX_TRIALS
							: (unsigned)atoi(e);
	env_init();
	printf("# micro_core: one core, no threads; %u-byte segments, %u per "
	       "trial, %u trials per case\n",
	       MSS, RX_SEGS, trials);

	/* warm-up (page faults of the buffers, jemalloc) */
	rx_run(32, 20000, false);
	tx_run(2, 20000);

	for (unsigned t = 0; t < trials; t++)
		v[t] = rx_run(1, RX_SEGS, true);
	report("peer", "(the benchmark's own cost: patch seq + checksum)", v,
	       trials);
	for (size_t b = 0; b < sizeof(rx_batches) / sizeof(rx_batches[0]);
	     b++) {
		for (unsigned t = 0; t < trials; t++)
			v[t] = rx_run(rx_batches[b], RX_SEGS, false);
		snprintf(name, sizeof(name), "rx_b%u", rx_batches[b]);
		snprintf(what, sizeof(what),
			 "(in: discard, flush every %u segment%s)",
			 rx_batches[b], rx_batches[b] > 1 ? "s" : "");
		report(name, what, v, trials);
	}
	for (size_t a = 0; a < sizeof(tx_acks) / sizeof(tx_acks[0]); a++) {
		for (unsigned t = 0; t < trials; t++)
			v[t] = tx_run(tx_acks[a], TX_SEGS);
		snprintf(name, sizeof(name), "tx_a%u", tx_acks[a]);
		snprintf(what, sizeof(what),
			 "(out: source, peer acks every %u segments)",
			 tx_acks[a]);
		report(name, what, v, trials);
	}

	/* Validated run: every datagram re-parsed, checksums checked. */
	E.validate = true;
	rx_run(1, 2000, false);
	rx_run(32, 2000, false);
	tx_run(2, 2000);
	tx_run(16, 2000);
	E.validate = false;
	st = core_stats(E.core);
	for (int i = 0; i < DROP__COUNT; i++)
		if (i != DROP_NONE && st->drops[i]) {
			drops += st->drops[i];
			printf("core: drop %s: %llu\n", drop_name(i),
			       (unsigned long long)st->drops[i]);
		}
	printf("core: validated run: %llu bad datagrams; core drops over the "
	       "whole run %llu; pkts_in %llu pkts_out %llu\n",
	       (unsigned long long)E.bad, (unsigned long long)drops,
	       (unsigned long long)st->pkts_in,
	       (unsigned long long)st->pkts_out);
	core_destroy(E.core);
	if (E.bad || drops) {
		printf("core: FAILED\n");
		return 1;
	}
	return 0;
}
