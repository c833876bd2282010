/*
 * test_recovery.c — loss recovery and congestion control through the
 * sans-I/O core (tcp_sack.c, tcp_cc.c): the initial window and slow start,
 * NewReno fast retransmit for a peer without SACK, SACK-based recovery that
 * resends only the holes, limited transmit and early retransmit for small
 * windows, the timeout's loss window, undo of a spurious timeout, and the
 * shapes of CUBIC's and Reno's congestion avoidance.
 *
 * The source app (port 19) sends as much as cwnd allows; the fake peer
 * decides which of its segments were "lost" by acknowledging around them.
 */
#include <inttypes.h>
#include <math.h>

/* The harness is a header of static helpers; this file uses some. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "core_harness.h"

TestSuite(core);

#define US 1000ull

#define SEGS_MAX 128

/* The data segments tundra sent since the last look, in order. */
static unsigned collect(struct pkt **out)
{
	unsigned n = 0;
	struct pkt *k;

	while ((k = next_pkt())) {
		cr_assert(k->tcp);
		cr_assert_eq(k->seg.flags & (TCP_SYN | TCP_RST), 0);
		cr_assert(n < SEGS_MAX);
		out[n++] = k;
	}
	return n;
}

/* A pure ACK from p acking `ack`, with up to four SACK blocks, p's
 * timestamp when in use; then flush. */
static void ack_sack(struct peer *p, uint32_t ack, const uint32_t (*b)[2],
		     unsigned nb)
{
	uint8_t o[40];
	size_t n = p->ts ? put_ts_opt(o, peer_tsval(p), p->ts_ecr) : 0;

	if (nb) {
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_NOP;
		o[n++] = TCPOPT_SACK;
		o[n++] = (uint8_t)(2 + 8 * nb);
		for (unsigned i = 0; i < nb; i++) {
			put32(o + n, b[i][0]);
			put32(o + n + 4, b[i][1]);
			n += 8;
		}
	}
	raw_in(p->sport, p->dport, p->nxt, ack, TCP_ACK, p->wnd, o, n, NULL,
	       0);
	flush();
}

static struct tcp_conn *C(const struct peer *p)
{
	struct tcp_conn *c = conn_of(p);

	cr_assert(c);
	return c;
}

/* The source app's stream starts at p.iss + 1: byte i is i % 251. */
static void check_payload(const struct peer *p, const struct pkt *k)
{
	uint32_t off = k->seg.seq - (p->iss + 1);

	for (uint32_t i = 0; i < k->seg.len; i++)
		cr_assert_eq(k->seg.data[i], (uint8_t)((off + i) % 251),
			     "payload byte %u of seq %u", i, k->seg.seq);
}

/* RFC 6928 initial window, then RFC 3465 slow start: every ACK of a full
 * segment lets two new ones out. */
CORE_TEST(initial_window_then_slow_start)
{
	struct pkt *s[SEGS_MAX];
	struct peer p;
	unsigned n;

	peer_connect(&p, 42000, 19, 0x100000, 1460, 7, 65535);
	n = collect(s);
	cr_assert_eq(n, 10, "IW: %u segments", n);
	cr_assert_eq(C(&p)->cc.cwnd, 14600);
	for (unsigned i = 0; i < 10; i++) {
		cr_assert_eq(s[i]->seg.len, 1460);
		check_payload(&p, s[i]);
	}
	/* One ACK per segment: cwnd +1 SMSS each (acked < 2 SMSS). */
	for (unsigned i = 0; i < 10; i++) {
		struct pkt *t[SEGS_MAX];

		H->now += MS;
		ack_sack(&p, s[i]->seg.seq + s[i]->seg.len, NULL, 0);
		n = collect(t);
		cr_assert_eq(n, 2, "ACK %u let %u out", i, n);
	}
	cr_assert_eq(C(&p)->cc.cwnd, 29200);
	cr_assert_eq(ST()->retransmits, 0);
}

/* RFC 6582 with a peer that has no SACK: three duplicate ACKs (the first
 * two let a new segment out each, RFC 3042) trigger the retransmission of
 * the first segment; a partial ACK the next; the full ACK ends recovery
 * with cwnd <= ssthresh. */
CORE_TEST(newreno_fast_retransmit_and_partial_ack)
{
	struct pkt *s[SEGS_MAX], *t[SEGS_MAX];
	struct peer p;
	uint32_t una, cwnd0;
	unsigned n;

	peer_connect(&p, 42001, 19, 0x110000, 1460, 7, 65535);
	cr_assert_eq(collect(s), 10);
	una = s[0]->seg.seq;
	cwnd0 = C(&p)->cc.cwnd;
	/* Segments 0 and 1 are lost; 2..9 arrive: eight duplicate ACKs. */
	H->now += 20 * MS;
	for (unsigned d = 1; d <= 2; d++) {
		ack_sack(&p, una, NULL, 0);
		n = collect(t);
		cr_assert_eq(n, 1, "limited transmit after dupack %u: %u", d,
			     n);
		cr_assert_eq(t[0]->seg.seq, s[9]->seg.seq + 1460 * d);
	}
	cr_assert_eq(ST()->retransmits, 0);
	ack_sack(&p, una, NULL, 0);
	n = collect(t);
	cr_assert_geq(n, 1);
	cr_assert_eq(t[0]->seg.seq, una, "fast retransmit of %u, got %u", una,
		     t[0]->seg.seq);
	cr_assert_eq(t[0]->seg.len, 1460);
	check_payload(&p, t[0]);
	cr_assert_eq(ST()->fast_recoveries, 1);
	cr_assert(C(&p)->rec & REC_RECOVERY);
	/* CUBIC: ssthresh = 0.7 cwnd (RFC 9438 §4.6). */
	cr_assert_eq(C(&p)->cc.ssthresh, (uint32_t)(cwnd0 * 0.7f));
	for (unsigned i = 0; i < 5; i++)
		ack_sack(&p, una, NULL, 0); /* the rest of the dupacks */
	n = collect(t);
	for (unsigned i = 0; i < n; i++)
		cr_assert(seq_geq(t[i]->seg.seq, s[9]->seg.seq + 2 * 1460),
			  "only new data while segment 1's loss is unknown");

	/* The retransmission fills the first hole: a partial ACK up to
	 * segment 1, which goes at once. */
	H->now += 20 * MS;
	ack_sack(&p, s[1]->seg.seq, NULL, 0);
	n = collect(t);
	cr_assert_geq(n, 1);
	cr_assert_eq(t[0]->seg.seq, s[1]->seg.seq);
	cr_assert(C(&p)->rec & REC_RECOVERY);
	cr_assert_eq(ST()->retransmits, 2);

	/* Everything up to the recovery point: recovery ends. */
	H->now += 20 * MS;
	ack_sack(&p, C(&p)->recover, NULL, 0);
	cr_assert_not(C(&p)->rec & REC_RECOVERY);
	cr_assert_leq(C(&p)->cc.cwnd, C(&p)->cc.ssthresh);
	cr_assert_eq(ST()->retransmits, 2);
	skip_output();
}

/* RFC 6675 with SACK: the scoreboard marks the holes lost once three
 * segments above them are SACKed; exactly the holes are resent, never a
 * SACKed byte. */
CORE_TEST(sack_recovery_resends_only_holes)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true,
				   .ts_base = 0x1000};
	struct pkt *s[SEGS_MAX], *t[SEGS_MAX];
	uint32_t b[4][2];
	struct peer p;
	unsigned n;

	peer_syn_cfg(&p, 42002, 19, 0x120000, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	cr_assert_eq(collect(s), 10);
	cr_assert_eq(s[0]->seg.len, 1448);
	/* Segments 2 and 5 are lost. */
	H->now += 20 * MS;
	p.ts_ecr = s[1]->seg.opts.tsval;
	ack_sack(&p, s[2]->seg.seq, NULL, 0);
	collect(t); /* slow start sends more: not lost, not looked at */
	b[0][0] = s[3]->seg.seq;
	b[0][1] = s[5]->seg.seq;
	ack_sack(&p, s[2]->seg.seq, b, 1); /* 3, 4 */
	cr_assert_not(C(&p)->rec & REC_RECOVERY);
	/* Limited transmit, and the SACKed bytes are out of flight: only
	 * new data goes. */
	n = collect(t);
	cr_assert_geq(n, 1);
	for (unsigned i = 0; i < n; i++)
		cr_assert(seq_gt(t[i]->seg.seq, s[9]->seg.seq));
	b[0][0] = s[6]->seg.seq;
	b[0][1] = s[7]->seg.seq;
	b[1][0] = s[3]->seg.seq;
	b[1][1] = s[5]->seg.seq;
	ack_sack(&p, s[2]->seg.seq, b, 2); /* 3, 4, 6: 2 is lost */
	cr_assert(C(&p)->rec & REC_RECOVERY);
	n = collect(t);
	cr_assert_geq(n, 1);
	cr_assert_eq(t[0]->seg.seq, s[2]->seg.seq);
	cr_assert_eq(t[0]->seg.len, 1448);
	check_payload(&p, t[0]);
	for (unsigned i = 1; i < n; i++)
		cr_assert(seq_gt(t[i]->seg.seq, s[9]->seg.seq),
			  "segment %u resent although not lost", i);
	/* 7..12 SACKed as well: 5 has three SACKed above it, and pipe
	 * went down enough for one more segment (RFC 6675 §5 (C)). */
	b[0][0] = s[6]->seg.seq;
	b[0][1] = s[9]->seg.seq + 4 * 1448;
	b[1][0] = s[3]->seg.seq;
	b[1][1] = s[5]->seg.seq;
	ack_sack(&p, s[2]->seg.seq, b, 2);
	ack_sack(&p, s[2]->seg.seq, b, 2);
	n = collect(t);
	unsigned got5 = 0;
	for (unsigned i = 0; i < n; i++) {
		if (t[i]->seg.seq == s[5]->seg.seq)
			got5++;
		else
			cr_assert(seq_gt(t[i]->seg.seq, s[9]->seg.seq),
				  "resent %u, not a hole", t[i]->seg.seq);
	}
	cr_assert_eq(got5, 1, "hole at segment 5 resent %u times", got5);
	cr_assert_eq(ST()->retransmits, 2);
	cr_assert_eq(C(&p)->retrans_bytes, 2 * 1448);
	cr_assert_eq(ST()->undos, 0);
	skip_output();
}

/* DSACK (RFC 2883) and bogus blocks change nothing: no recovery, counted
 * as ignored. */
CORE_TEST(dsack_and_bogus_blocks_ignored)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true};
	struct pkt *s[SEGS_MAX];
	uint32_t b[4][2];
	struct peer p;

	peer_syn_cfg(&p, 42003, 19, 0x130000, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	cr_assert_eq(collect(s), 10);
	H->now += 20 * MS;
	p.ts_ecr = s[3]->seg.opts.tsval;
	b[0][0] = s[1]->seg.seq; /* below the ACK: a DSACK */
	b[0][1] = s[2]->seg.seq;
	b[1][0] = s[9]->seg.seq + (1u << 20); /* never sent */
	b[1][1] = s[9]->seg.seq + (1u << 20) + 1448;
	b[2][0] = s[8]->seg.seq; /* empty */
	b[2][1] = s[8]->seg.seq;
	for (int i = 0; i < 4; i++)
		ack_sack(&p, s[4]->seg.seq, b, 3);
	cr_assert_eq(ST()->sack_ignored, 12);
	cr_assert_eq(tcp_sb(C(&p)), NULL);
	/* RFC 6675 §2: with SACK in use, an ACK is a duplicate only if it
	 * SACKs something new; these repeat nothing valid, so they are no
	 * loss signal at all. */
	cr_assert_eq(C(&p)->dupacks, 0);
	cr_assert_eq(ST()->fast_recoveries, 0);
	/* One valid block of three segments above the ACK is. */
	b[0][0] = s[5]->seg.seq;
	b[0][1] = s[8]->seg.seq;
	ack_sack(&p, s[4]->seg.seq, b, 1);
	cr_assert_eq(ST()->fast_recoveries, 1);
	skip_output();
}

/* RFC 5827: two segments outstanding, nothing more to send: one
 * duplicate ACK is enough. */
CORE_TEST(early_retransmit_with_two_segments)
{
	static uint8_t d[2920];
	struct pkt *t[SEGS_MAX];
	struct peer p;
	unsigned n;

	fill_random(d, sizeof(d), 5);
	peer_connect(&p, 42004, 7, 0x140000, 1460, 7, 65535);
	peer_send(&p, TCP_ACK | TCP_PSH, d, sizeof(d));
	n = collect(t);
	/* The echo and the ACK of the peer's data ride together. */
	cr_assert_eq(n, 2);
	uint32_t una = t[0]->seg.seq;
	/* The first is lost; the second draws one duplicate ACK. */
	H->now += 5 * MS;
	p.ack = una;
	ack_sack(&p, una, NULL, 0);
	n = collect(t);
	cr_assert_eq(n, 1, "early retransmit: %u segments", n);
	cr_assert_eq(t[0]->seg.seq, una);
	cr_assert(memcmp(t[0]->seg.data, d, 1460) == 0);
	cr_assert_eq(ST()->fast_recoveries, 1);
}

/* RFC 5681 §3.1: a timeout drops cwnd to one segment and halves
 * ssthresh (Reno: FlightSize / 2); repeated timeouts keep ssthresh. */
CORE_TEST(rto_loss_window_reno)
{
	struct core_config cfg = default_config();
	struct pkt *s[SEGS_MAX];
	struct peer p;


	h_destroy_core();
	cfg.cc_algo = TCP_CC_RENO;
	cfg.no_tlp = true; /* the timeout itself is under test */
	h_core(&cfg);
	peer_connect(&p, 42005, 19, 0x150000, 1460, 7, 65535);
	cr_assert_eq(collect(s), 10);
	advance(SEC); /* RTO 1 s: no RTT sample yet beyond the handshake */
	skip_output();
	if (!ST()->rto_timeouts) {
		advance(SEC);
		skip_output();
	}
	cr_assert_eq(ST()->rto_timeouts, 1);
	cr_assert_eq(C(&p)->cc.cwnd, 1460);
	cr_assert_eq(C(&p)->cc.ssthresh, 14600 / 2);
	uint32_t ss = C(&p)->cc.ssthresh;
	advance(10 * SEC);
	skip_output();
	cr_assert_geq(ST()->rto_timeouts, 2);
	cr_assert_eq(C(&p)->cc.ssthresh, ss, "ssthresh held on a re-timeout");
	struct core_conn_info ci;
	cr_assert_eq(core_conn_snapshot(H->core, &ci, 1, 0), 1);
	cr_assert_str_eq(ci.cc, "reno");
	cr_assert_eq(ci.cwnd, 1460);
}

/* RFC 3522 / RFC 4015: the ACK after a timeout echoes the original
 * transmission's timestamp: the timeout was spurious, the window comes
 * back and go-back-N stops. */
CORE_TEST(spurious_rto_undone_with_timestamps)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 77};
	struct pkt *s[SEGS_MAX], *t[SEGS_MAX];
	struct peer p;
	uint32_t cwnd0, ts_orig;
	unsigned n;

	/* The timeout itself is under test: no probe before it. */
	H->core->cfg.no_tlp = true;
	peer_syn_cfg(&p, 42006, 19, 0x160000, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	cr_assert_eq(collect(s), 10);
	cwnd0 = C(&p)->cc.cwnd;
	ts_orig = s[9]->seg.opts.tsval;
	cr_assert_null(tcp_undo(C(&p)), "no undo state before a reduction");
	for (int i = 0; i < 40 && !ST()->rto_timeouts; i++)
		advance(100 * MS);
	cr_assert_eq(ST()->rto_timeouts, 1);
	/* The reduction may prove spurious: its undo state exists now. */
	cr_assert_not_null(tcp_undo(C(&p)));
	cr_assert(C(&p)->rec & REC_UNDO);
	n = collect(t);
	cr_assert_eq(n, 1, "loss window: %u", n);
	cr_assert_eq(t[0]->seg.seq, s[0]->seg.seq);
	cr_assert_neq(t[0]->seg.opts.tsval, ts_orig);
	/* The late ACK of the originals. */
	p.ts_ecr = ts_orig;
	ack_sack(&p, s[9]->seg.seq + 1448, NULL, 0);
	cr_assert_eq(ST()->undos, 1);
	cr_assert_null(tcp_undo(C(&p)), "undone: the undo state is freed");
	cr_assert_geq(C(&p)->cc.cwnd, cwnd0);
	cr_assert_eq(C(&p)->snd_nxt, C(&p)->snd_max);
	n = collect(t);
	for (unsigned i = 0; i < n; i++)
		cr_assert(seq_gt(t[i]->seg.seq, s[9]->seg.seq),
			  "resent %u after the undo", t[i]->seg.seq);
}

/* A real loss is not undone: the ACK echoes the retransmission. */
CORE_TEST(genuine_rto_not_undone)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 77};
	struct pkt *s[SEGS_MAX], *t[SEGS_MAX];
	struct peer p;

	/* The timeout itself is under test: no probe before it. */
	H->core->cfg.no_tlp = true;
	peer_syn_cfg(&p, 42007, 19, 0x170000, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	cr_assert_eq(collect(s), 10);
	for (int i = 0; i < 40 && !ST()->rto_timeouts; i++)
		advance(100 * MS);
	cr_assert_eq(collect(t), 1);
	cr_assert_not_null(tcp_undo(C(&p)));
	p.ts_ecr = t[0]->seg.opts.tsval;
	ack_sack(&p, s[1]->seg.seq, NULL, 0);
	cr_assert_eq(ST()->undos, 0);
	/* Decided (a real loss): the undo state is gone too. */
	cr_assert_null(tcp_undo(C(&p)));
	cr_assert_not(C(&p)->rec & REC_UNDO);
	cr_assert_eq(C(&p)->cc.cwnd, 2 * 1448, "slow start from 1 segment");
	skip_output();
}

/* ---- the algorithms on their own ------------------------------------- */

/* A connection as far as tcp_cc.c looks: MSS, RTT, the window. */
static struct tcp_conn *cc_conn(unsigned algo, uint32_t cwnd_segs)
{
	struct tcp_conn *c = calloc(1, sizeof(*c));

	cr_assert(c);
	c->snd_mss = 1000;
	c->flags = TF_HAVE_RTT;
	c->srtt_us = 100 * MS / 1000;
	c->cc_algo = (uint8_t)algo;
	c->cc.cwnd = cwnd_segs * 1000;
	c->cc.ssthresh = 0x7fffffff;
	c->rec = REC_CWND_LIMITED;
	c->snd_una = 0;
	c->snd_max = c->cc.cwnd;
	return c;
}

/* One RTT of ACKs, a segment each, for a full window. */
static void one_rtt(struct core *k, struct tcp_conn *c)
{
	uint32_t segs = c->cc.cwnd / 1000;

	for (uint32_t i = 0; i < segs; i++) {
		k->now += 100 * MS / segs;
		tcp_cc_on_ack(k, c, 1000);
	}
}

/* RFC 9438: after a loss at W_max = 100 segments, cwnd = 70; the cubic
 * curve is back at W_max after K = cbrt(W_max (1 - beta) / C) = 4.22 s,
 * concave on the way (more than 90 % back at K / 2), then grows past. */
Test(core, cubic_curve_shape)
{
	struct core k = {.now = 1000 * SEC};
	struct tcp_conn *c = cc_conn(TCP_CC_CUBIC, 100);
	double kk = cbrt(100 * 0.3 / 0.4);
	uint32_t at_half = 0, at_k = 0, at_k2 = 0;

	tcp_cc_on_loss(&k, c);
	c->cc.cwnd = c->cc.ssthresh;
	cr_assert_eq(c->cc.cwnd, 70000);
	uint64_t t0 = k.now;
	while (k.now - t0 < 8 * SEC) {
		one_rtt(&k, c);
		double t = (double)(k.now - t0) / SEC;
		if (!at_half && t >= kk / 2)
			at_half = c->cc.cwnd;
		if (!at_k && t >= kk)
			at_k = c->cc.cwnd;
		if (!at_k2 && t >= kk + 2)
			at_k2 = c->cc.cwnd;
	}
	cr_assert_gt(at_half, 90000, "cwnd %u at K/2", at_half);
	cr_assert_lt(at_half, 99000, "cwnd %u at K/2", at_half);
	/* At K the curve is on its plateau at W_max ... */
	cr_assert(at_k > 99000 && at_k <= 101000, "cwnd %u at K = %.2f s",
		  at_k, kk);
	/* ... and leaves it afterwards: W_cubic(K + 2) = 103.2, and at
	 * this short RTT the Reno-friendly estimate (§4.3, +0.53 segment
	 * per RTT since the loss) is about as large. */
	cr_assert(at_k2 > 102000 && at_k2 < 107000, "cwnd %u at K + 2 s",
		  at_k2);
	cr_assert_gt(c->cc.cwnd, 105000, "convex growth past W_max: %u",
		     c->cc.cwnd);
	free(c);
}

/* Fast convergence (RFC 9438 §4.7): a second loss below the previous
 * W_max lowers W_max further. */
Test(core, cubic_fast_convergence)
{
	struct core k = {.now = 1000 * SEC};
	struct tcp_conn *c = cc_conn(TCP_CC_CUBIC, 100);

	tcp_cc_on_loss(&k, c);
	cr_assert_float_eq(c->cc.w_max, 100.0f, 1e-3);
	c->cc.cwnd = 80000;
	tcp_cc_on_loss(&k, c);
	cr_assert_float_eq(c->cc.w_max, 80.0f * 1.7f / 2, 1e-3);
	cr_assert_eq(c->cc.ssthresh, 56000);
	free(c);
}

/* Reno (RFC 5681 §3.1): congestion avoidance adds one SMSS per RTT; an
 * application-limited sender does not grow the window at all. */
Test(core, reno_linear_growth_and_app_limited)
{
	struct core k = {.now = 1000 * SEC};
	struct tcp_conn *c = cc_conn(TCP_CC_RENO, 20);

	c->cc.ssthresh = 20000;
	for (int r = 0; r < 10; r++)
		one_rtt(&k, c);
	cr_assert_eq(c->cc.cwnd, 30000, "cwnd %u after 10 RTTs", c->cc.cwnd);
	c->rec = 0; /* not cwnd-limited */
	one_rtt(&k, c);
	cr_assert_eq(c->cc.cwnd, 30000);
	free(c);
}

/* Slow start counts the bytes acked, a stretch ACK in full (a kernel
 * peer acks a GRO super-segment at once), and stops at ssthresh, the
 * rest of the ACK counting toward congestion avoidance. */
Test(core, slow_start_byte_counting_and_ssthresh)
{
	struct core k = {.now = 1000 * SEC};
	struct tcp_conn *c = cc_conn(TCP_CC_RENO, 10);

	tcp_cc_on_ack(&k, c, 5000); /* a stretch ACK of 5 segments */
	cr_assert_eq(c->cc.cwnd, 15000);
	c->cc.ssthresh = 15500;
	tcp_cc_on_ack(&k, c, 2000);
	cr_assert_eq(c->cc.cwnd, 15500);
	cr_assert_eq(c->cc.acked_acc, 1500);
	free(c);
}

/* tundra_conn_set_cc: a per-connection choice, like TCP_CONGESTION. */
CORE_TEST(set_cc_per_connection)
{
	struct peer p;

	peer_connect(&p, 42008, TAPP_PORT, 0x180000, 1460, 7, 65535);
	cr_assert_eq(H->t.accepted, 1);
	cr_assert_eq(C(&p)->cc_algo, TCP_CC_CUBIC, "the configured default");
	cr_assert_eq(tundra_conn_set_cc(H->t.conn, "bbr"), -ENOENT);
	cr_assert_eq(C(&p)->cc_algo, TCP_CC_CUBIC);
	cr_assert_eq(tundra_conn_set_cc(H->t.conn, "reno"), 0);
	cr_assert_eq(C(&p)->cc_algo, TCP_CC_RENO);
	struct core_conn_info ci;
	cr_assert_eq(core_conn_snapshot(H->core, &ci, 1, 0), 1);
	cr_assert_str_eq(ci.cc, "reno");
	cr_assert_eq(ci.cwnd, 14600);
}

/* RFC 2883: a duplicate segment is answered with a D-SACK block naming
 * it (first), so the sender can tell its retransmission was spurious;
 * only once. */
CORE_TEST(duplicate_segment_gets_dsack)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 5};
	static uint8_t d[1000];
	uint32_t blk[4][2];
	struct peer p;
	struct pkt *k;

	fill_random(d, sizeof(d), 9);
	peer_syn_cfg(&p, 42009, 9, 0x190000, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	uint32_t start = p.nxt;
	peer_send(&p, TCP_ACK | TCP_PSH, d, sizeof(d));
	skip_output();
	H->now += 100 * MS; /* the delayed ACK went; now the duplicate */
	advance(0);
	skip_output();
	p.ts_ecr = 0;
	peer_raw(&p, start, TCP_ACK | TCP_PSH, d, sizeof(d));
	flush();
	k = expect_tcp();
	cr_assert_eq(k->seg.ack, start + sizeof(d));
	cr_assert_eq(sack_of(k, blk), 1);
	cr_assert_eq(blk[0][0], start);
	cr_assert_eq(blk[0][1], start + sizeof(d));
	/* The next ACK has no D-SACK any more. */
	peer_send(&p, TCP_ACK | TCP_PSH, d, 10);
	H->now += 100 * MS;
	advance(0);
	k = expect_tcp();
	cr_assert_eq(k->seg.ack, start + sizeof(d) + 10);
	cr_assert_eq(sack_of(k, blk), -1, "no SACK option any more");
	skip_output();
}

/* RFC 2883 §4: a segment that repeats bytes already delivered and
 * brings new ones too gets a D-SACK block for the repeated part only;
 * the new bytes are delivered. */
CORE_TEST(partial_duplicate_gets_dsack_for_the_old_part)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 5};
	static uint8_t d[1000];
	uint32_t blk[4][2];
	struct peer p;
	struct pkt *k;

	fill_random(d, sizeof(d), 11);
	peer_syn_cfg(&p, 42011, 9, 0x1a0000, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	uint32_t start = p.nxt;
	peer_send(&p, TCP_ACK | TCP_PSH, d, 600);
	H->now += 100 * MS;
	advance(0);
	skip_output();
	/* [start, start+1000): the first 600 bytes again, 400 new. */
	peer_raw(&p, start, TCP_ACK | TCP_PSH, d, sizeof(d));
	flush();
	k = expect_tcp();
	cr_assert_eq(k->seg.ack, start + sizeof(d), "the new bytes taken");
	cr_assert_eq(sack_of(k, blk), 1);
	cr_assert_eq(blk[0][0], start);
	cr_assert_eq(blk[0][1], start + 600, "only the repeated part");
	skip_output();
}

/* RFC 2883 §4.1.3: a duplicate of data held out of order: the D-SACK
 * block names the repeated bytes, and the next block is the held range
 * that contains them. */
CORE_TEST(duplicate_of_held_data_gets_dsack_then_its_block)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 5};
	static uint8_t d[4000];
	uint32_t blk[4][2];
	struct peer p;
	struct pkt *k;

	fill_random(d, sizeof(d), 12);
	peer_syn_cfg(&p, 42012, 9, 0x1b0000, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	uint32_t start = p.nxt;
	/* [start, +1000) lost; [+1000, +2000) and [+3000, +4000) held. */
	peer_raw(&p, start + 1000, TCP_ACK, d + 1000, 1000);
	peer_raw(&p, start + 3000, TCP_ACK, d + 3000, 1000);
	flush();
	skip_output();
	/* [+1500, +2500) again: 500 bytes held, 500 new. */
	peer_raw(&p, start + 1500, TCP_ACK, d + 1500, 1000);
	flush();
	k = expect_tcp();
	cr_assert_eq(k->seg.ack, start, "the hole is still there");
	cr_assert_eq(sack_of(k, blk), 3);
	cr_assert_eq(blk[0][0], start + 1500, "D-SACK: the repeated bytes");
	cr_assert_eq(blk[0][1], start + 2000);
	cr_assert_eq(blk[1][0], start + 1000, "then the range holding them");
	cr_assert_eq(blk[1][1], start + 2500);
	cr_assert_eq(blk[2][0], start + 3000);
	cr_assert_eq(blk[2][1], start + 4000);
	skip_output();
	/* Bytes never seen before: no D-SACK. */
	peer_raw(&p, start + 2500, TCP_ACK, d + 2500, 500);
	flush();
	k = expect_tcp();
	cr_assert_eq(sack_of(k, blk), 1, "one range, no D-SACK");
	cr_assert_eq(blk[0][0], start + 1000);
	cr_assert_eq(blk[0][1], start + 4000);
	skip_output();
	/* The hole filled: everything delivered, in order. */
	peer_raw(&p, start, TCP_ACK, d, 1000);
	flush();
	k = expect_tcp();
	cr_assert_eq(k->seg.ack, start + sizeof(d));
	skip_output();
}

/* Go-back-N after a timeout skips what the peer SACKed; the segment
 * that ends where a SACKed range begins must not carry the FIN, which
 * only ever follows the last byte (a regression: it once did). */
CORE_TEST(go_back_n_skips_sacked_and_fin_stays_last)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 3};
	static uint8_t d[5 * 1448];
	struct pkt *s[SEGS_MAX], *t[SEGS_MAX];
	uint32_t b[4][2];
	struct peer p;
	unsigned n;

	/* The timeout itself is under test: no probe before it. */
	H->core->cfg.no_tlp = true;
	fill_random(d, sizeof(d), 11);
	peer_syn_cfg(&p, 42010, TAPP_PORT, 0x1a0000, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	cr_assert_eq(tundra_conn_write(H->t.conn, d, sizeof(d)), sizeof(d));
	tundra_conn_close(H->t.conn);
	flush();
	cr_assert_eq(collect(s), 5);
	cr_assert(s[4]->seg.flags & TCP_FIN);
	/* Segment 2 arrived (SACKed); 0, 1, 3, 4 and the FIN are lost. */
	H->now += 30 * MS;
	p.ts_ecr = s[2]->seg.opts.tsval;
	b[0][0] = s[2]->seg.seq;
	b[0][1] = s[3]->seg.seq;
	ack_sack(&p, s[0]->seg.seq, b, 1);
	for (int i = 0; i < 40 && !ST()->rto_timeouts; i++)
		advance(100 * MS);
	cr_assert_eq(ST()->rto_timeouts, 1);
	n = collect(t);
	cr_assert_eq(n, 1);
	cr_assert_eq(t[0]->seg.seq, s[0]->seg.seq);
	/* Each ACK lets slow start resend more: 1, then 3 and 4 + FIN. */
	p.ts_ecr = t[0]->seg.opts.tsval;
	ack_sack(&p, s[1]->seg.seq, b, 1);
	n = collect(t);
	cr_assert_geq(n, 1);
	cr_assert_eq(t[0]->seg.seq, s[1]->seg.seq);
	cr_assert_eq(t[0]->seg.len, 1448);
	cr_assert_not(t[0]->seg.flags & TCP_FIN, "FIN before a SACKed range");
	uint32_t fins = 0, s2 = 0;
	for (unsigned i = 1; i < n; i++) {
		if (t[i]->seg.seq == s[2]->seg.seq)
			s2++;
		if (t[i]->seg.flags & TCP_FIN) {
			fins++;
			cr_assert_eq(t[i]->seg.seq + t[i]->seg.len,
				     s[4]->seg.seq + s[4]->seg.len);
		}
	}
	cr_assert_eq(s2, 0, "a SACKed segment was resent");
	for (unsigned i = 1; i < n; i++)
		cr_assert(memcmp(t[i]->seg.data,
				 d + (t[i]->seg.seq - s[0]->seg.seq),
				 t[i]->seg.len) == 0);
	(void)fins;
	skip_output();
}

/* RFC 8985 §7: the last ACK of a window is lost. Two RTTs later a probe
 * resends the last segment; the peer's answer carries a D-SACK for it,
 * so nothing was lost and the window stays. No RTO. */
CORE_TEST(tlp_probe_after_a_lost_ack)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 3};
	static uint8_t d[3 * 1448];
	struct pkt *s[SEGS_MAX], *t[SEGS_MAX];
	uint32_t b[4][2];
	struct peer p;

	fill_random(d, sizeof(d), 13);
	peer_syn_cfg(&p, 42011, TAPP_PORT, 0x1b0000, &sc);
	H->now += 20 * MS; /* an RTT sample of 20 ms */
	peer_send(&p, TCP_ACK, NULL, 0);
	cr_assert(C(&p)->flags & TF_HAVE_RTT);
	cr_assert_eq(tundra_conn_write(H->t.conn, d, sizeof(d)), sizeof(d));
	flush();
	cr_assert_eq(collect(s), 3);
	uint32_t cwnd = C(&p)->cc.cwnd;
	/* The peer got everything; its ACK is lost. PTO = 2 SRTT. */
	uint64_t pto = tcp_dl_ns(C(&p)->pto_at, H->now);
	cr_assert_gt(pto, H->now);
	cr_assert_lt(pto, tcp_dl_ns(C(&p)->rto_at, H->now),
		     "PTO = 2 SRTT, before the RTO");
	advance(pto - H->now);
	cr_assert_eq(collect(t), 1);
	cr_assert_eq(t[0]->seg.seq, s[2]->seg.seq, "the last segment again");
	cr_assert_eq(ST()->tlp_probes, 1);
	cr_assert_eq(ST()->rto_timeouts, 0);
	/* Its answer: everything acked, the probe reported as duplicate. */
	p.ts_ecr = t[0]->seg.opts.tsval;
	b[0][0] = s[2]->seg.seq;
	b[0][1] = s[2]->seg.seq + 1448;
	ack_sack(&p, s[2]->seg.seq + 1448, b, 1);
	cr_assert_eq(ST()->tlp_recoveries, 0);
	cr_assert_eq(C(&p)->cc.cwnd, cwnd, "a duplicate probe changes nothing");
	cr_assert_eq(C(&p)->rec & REC_TLP, 0);
}

/* The tail segment really was lost: the probe repairs it, the ACK has
 * no D-SACK, and the sender responds as in a fast recovery (§7.4.2). */
CORE_TEST(tlp_probe_repairs_a_lost_tail)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 3};
	static uint8_t d[3 * 1448];
	struct pkt *s[SEGS_MAX], *t[SEGS_MAX];
	struct peer p;

	fill_random(d, sizeof(d), 14);
	peer_syn_cfg(&p, 42012, TAPP_PORT, 0x1c0000, &sc);
	H->now += 20 * MS;
	peer_send(&p, TCP_ACK, NULL, 0);
	cr_assert_eq(tundra_conn_write(H->t.conn, d, sizeof(d)), sizeof(d));
	flush();
	cr_assert_eq(collect(s), 3);
	/* Segments 0 and 1 arrive (and are acked); 2 is lost. */
	H->now += 20 * MS;
	p.ts_ecr = s[1]->seg.opts.tsval;
	ack_sack(&p, s[2]->seg.seq, NULL, 0);
	uint32_t cwnd = C(&p)->cc.cwnd;
	for (int i = 0; i < 100 && !ST()->tlp_probes; i++)
		advance(5 * MS);
	cr_assert_eq(ST()->tlp_probes, 1);
	cr_assert_eq(collect(t), 1);
	cr_assert_eq(t[0]->seg.seq, s[2]->seg.seq);
	cr_assert(memcmp(t[0]->seg.data, d + 2 * 1448, 1448) == 0);
	p.ts_ecr = t[0]->seg.opts.tsval;
	ack_sack(&p, s[2]->seg.seq + 1448, NULL, 0);
	cr_assert_eq(ST()->tlp_recoveries, 1);
	cr_assert_lt(C(&p)->cc.cwnd, cwnd);
	cr_assert_eq(ST()->rto_timeouts, 0);
}

/* With tlp = off the same loss waits for the RTO. */
CORE_TEST(tlp_off_waits_for_the_rto)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 3};
	static uint8_t d[2 * 1448];
	struct pkt *s[SEGS_MAX];
	struct peer p;

	H->core->cfg.no_tlp = true;
	peer_syn_cfg(&p, 42013, TAPP_PORT, 0x1d0000, &sc);
	H->now += 20 * MS;
	peer_send(&p, TCP_ACK, NULL, 0);
	cr_assert_eq(tundra_conn_write(H->t.conn, d, sizeof(d)), sizeof(d));
	flush();
	cr_assert_eq(collect(s), 2);
	cr_assert_eq(C(&p)->pto_at, 0);
	for (int i = 0; i < 100 && !ST()->rto_timeouts; i++)
		advance(5 * MS);
	cr_assert_eq(ST()->tlp_probes, 0);
	cr_assert_eq(ST()->rto_timeouts, 1);
	skip_output();
}

/* One batch of segments that changes more ranges than an ACK's SACK
 * option can hold: further ACKs report the rest, each led by the newest
 * range (RFC 2018 §4), so the sender hears of every range. */
CORE_TEST(sack_blocks_of_a_batch_all_reported)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 3};
	static uint8_t d[20 * 100];
	uint32_t blk[4][2], seen[16] = {0};
	struct peer p;
	struct pkt *k;
	unsigned acks = 0;

	fill_random(d, sizeof(d), 15);
	peer_syn_cfg(&p, 42014, TAPP_PORT, 0x1e0000, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	uint32_t b0 = p.nxt;
	/* Chunks 1, 3, 5, ... 15 in one batch: eight new ranges. */
	for (unsigned c = 1; c < 16; c += 2)
		peer_raw(&p, b0 + c * 100, TCP_ACK, d + c * 100, 100);
	flush();
	while ((k = next_pkt())) {
		int n = sack_of(k, blk);

		cr_assert_geq(n, 1);
		acks++;
		/* The newest range (chunk 15) always leads. */
		cr_assert_eq(blk[0][0], b0 + 1500, "ACK %u leads with %u", acks,
			     blk[0][0] - b0);
		for (int i = 0; i < n; i++)
			seen[(blk[i][0] - b0) / 100] = 1;
	}
	for (unsigned c = 1; c < 16; c += 2)
		cr_assert(seen[c], "range at chunk %u never reported", c);
	/* 3 ranges in the first, then the newest and 2 more each. */
	cr_assert_eq(acks, 4, "%u ACKs for 8 ranges", acks);
	/* A later ACK reports only what changed since. */
	peer_raw(&p, b0 + 17 * 100, TCP_ACK, d + 1700 % 2000, 100);
	flush();
	acks = 0;
	while ((k = next_pkt()))
		acks++;
	cr_assert_eq(acks, 1);
}

TUNDRA_TSAN_SKIP_MAIN

/*
 * A lost super-packet leaves a hole of many segments; the pass of
 * retransmissions that repairs it loses its first one. With nothing new to
 * send, no data above the pass can be SACKed: the later retransmissions
 * being SACKed is what shows the first one lost (RACK's idea, RFC 8985
 * §6). Not before an RTT and a quarter (the reordering window), and as
 * no further ACK will come, a timer finishes the check (§6.3) — not the
 * RTO. A hole our own resend filled is no evidence of reordering.
 */
CORE_TEST(lost_retransmission_found_by_later_ones)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 3};
	static uint8_t d[10 * 1448];
	struct pkt *s[SEGS_MAX], *t[SEGS_MAX];
	uint32_t b[1][2];
	struct peer p;
	unsigned n, i;

	fill_random(d, sizeof(d), 15);
	peer_syn_cfg(&p, 42014, TAPP_PORT, 0x1e0000, &sc);
	H->now += 20 * MS; /* SRTT 20 ms from the SYN-ACK */
	peer_send(&p, TCP_ACK, NULL, 0);
	cr_assert_eq(tundra_conn_write(H->t.conn, d, sizeof(d)), sizeof(d));
	flush();
	cr_assert_eq(collect(s), 10);
	/* Segments 0..5 lost at once; 6..9 SACKed: recovery resends 0..5. */
	H->now += 20 * MS;
	b[0][0] = s[6]->seg.seq;
	b[0][1] = s[9]->seg.seq + 1448;
	ack_sack(&p, s[0]->seg.seq, b, 1);
	cr_assert(C(&p)->rec & REC_RECOVERY);
	n = collect(t);
	cr_assert_eq(n, 6, "resent %u", n);
	for (i = 0; i < n; i++)
		cr_assert_eq(t[i]->seg.seq, s[i]->seg.seq);
	/* The resend of 0 is lost, those of 1..5 arrive, 5 ms later. */
	H->now += 5 * MS;
	b[0][0] = s[1]->seg.seq;
	ack_sack(&p, s[0]->seg.seq, b, 1);
	cr_assert_eq(collect(t), 0, "inside the reordering window");
	uint64_t at = H->now;
	cr_assert_eq(ST()->lost_retransmits, 0);
	/* No more ACKs: the reordering timer, well before the RTO. */
	for (i = 0; i < 40 && !ST()->lost_retransmits; i++)
		advance(2 * MS);
	cr_assert_eq(ST()->lost_retransmits, 1);
	cr_assert_eq(ST()->rto_timeouts, 0);
	n = collect(t);
	cr_assert_eq(n, 1);
	cr_assert_eq(t[0]->seg.seq, s[0]->seg.seq);
	cr_assert(memcmp(t[0]->seg.data, d, 1448) == 0);
	cr_assert_lt(H->now - at, 30 * MS, "found after %" PRIu64 " ns",
		     H->now - at);
	/* It arrives: all acknowledged, recovery over, DupThresh as it was. */
	p.ts_ecr = t[0]->seg.opts.tsval;
	ack_sack(&p, s[9]->seg.seq + 1448, NULL, 0);
	cr_assert_not(C(&p)->rec & REC_RECOVERY);
	cr_assert_eq(C(&p)->reordering, TCP_DUPTHRESH);
	cr_assert_eq(ST()->reorder_seen, 0);
	cr_assert_eq(ST()->retransmits, 7);
}

/*
 * A sub-millisecond path: our TSval ticks in ms, so its echoes (0 ms)
 * must not drag SRTT to zero; the timed segment measures it. The tail
 * loss probe then comes after 2 SRTT plus 2 ms of slack (RFC 8985 §7.2),
 * not after a fixed 10 ms.
 */
CORE_TEST(sub_ms_rtt_from_the_clock_and_a_prompt_probe)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 3};
	static uint8_t d[6 * 1448];
	struct pkt *s[SEGS_MAX], *t[SEGS_MAX];
	struct peer p;
	uint64_t sent;

	fill_random(d, sizeof(d), 16);
	peer_syn_cfg(&p, 42015, TAPP_PORT, 0x1f0000, &sc);
	H->now += 300 * US;
	peer_send(&p, TCP_ACK, NULL, 0);
	cr_assert_eq(tundra_conn_write(H->t.conn, d, 3 * 1448), 3 * 1448);
	flush();
	cr_assert_eq(collect(s), 3);
	H->now += 300 * US;
	p.ts_ecr = s[2]->seg.opts.tsval; /* the same ms: an echo of 0 */
	ack_sack(&p, s[2]->seg.seq + 1448, NULL, 0);
	cr_assert_geq(tcp_srtt_ns(C(&p)), 250 * US, "SRTT %" PRIu64 " ns",
		      tcp_srtt_ns(C(&p)));
	cr_assert_leq(tcp_srtt_ns(C(&p)), 350 * US, "SRTT %" PRIu64 " ns",
		      tcp_srtt_ns(C(&p)));
	/* Three more segments, all lost. */
	cr_assert_eq(tundra_conn_write(H->t.conn, d + 3 * 1448, 3 * 1448),
		     3 * 1448);
	flush();
	cr_assert_eq(collect(t), 3);
	sent = H->now;
	for (int i = 0; i < 100 && !ST()->tlp_probes; i++)
		advance(100 * US);
	cr_assert_eq(ST()->tlp_probes, 1);
	cr_assert_leq(H->now - sent, 2 * 350 * US + 2 * MS + 100 * US,
		      "probe after %" PRIu64 " ns", H->now - sent);
	cr_assert_geq(H->now - sent, 2 * MS);
	cr_assert_eq(collect(t), 1);
	cr_assert_eq(t[0]->seg.seq, s[2]->seg.seq + 3 * 1448);
	cr_assert_eq(ST()->rto_timeouts, 0);
}

/* An active open with timestamps: the SYN's round trip is the first
 * sample, taken at the SYN-ACK. It used to wait for the first data's ACK,
 * and with an echo under 2 ms that fell back to the SYN's timing, so the
 * idle time between the handshake and the first write went into SRTT. */
CORE_TEST(active_open_rtt_from_the_syn_not_the_idle_time)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 3};
	static uint8_t d[1448];
	struct tcp_conn *c;
	struct pkt *k, *s[SEGS_MAX];
	struct peer p;

	fill_random(d, sizeof(d), 18);
	k = our_connect(&p, 8086, &c);
	H->now += 400 * US;
	peer_syn_ack_in(&p, 0xb000, &sc, k->seg.opts.tsval);
	flush();
	expect_seg(TCP_ACK, p.iss + 1, 0xb001, 0);
	cr_assert_eq(c->state, TCPS_ESTABLISHED);
	cr_assert(c->flags & TF_HAVE_RTT, "a sample from the SYN");
	cr_assert_geq(tcp_srtt_ns(c), 350 * US, "SRTT %" PRIu64, tcp_srtt_ns(c));
	cr_assert_leq(tcp_srtt_ns(c), 450 * US, "SRTT %" PRIu64, tcp_srtt_ns(c));
	/* A second idle, then data, ACKed at once (an echo of 0 ms). */
	H->now += 1000 * MS;
	cr_assert_eq(tundra_conn_write(H->t.conn, d, sizeof(d)), sizeof(d));
	flush();
	cr_assert_eq(collect(s), 1);
	H->now += 400 * US;
	p.ts_ecr = s[0]->seg.opts.tsval;
	ack_sack(&p, s[0]->seg.seq + sizeof(d), NULL, 0);
	cr_assert_leq(tcp_srtt_ns(c), 450 * US,
		      "SRTT %" PRIu64 " ns: the idle second went in",
		      tcp_srtt_ns(c));
}

/*
 * RFC 5681 §4.1 restarts from the initial window only after an idle
 * period longer than the RTO. A pipe that drains and refills within the
 * same millisecond is not idle (the last-send mark is kept in ms, nudged
 * odd so 0 can mean "none": a regression once took that nudge for 49 days
 * of idleness and restarted every flow whose data was all acknowledged).
 */
CORE_TEST(no_restart_when_the_pipe_drains_briefly)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 3};
	static uint8_t d[40 * 1448];
	struct pkt *s[SEGS_MAX];
	struct peer p;
	uint32_t cwnd;

	fill_random(d, sizeof(d), 17);
	peer_syn_cfg(&p, 42016, TAPP_PORT, 0x200000, &sc);
	H->now += 300 * US;
	peer_send(&p, TCP_ACK, NULL, 0);
	/* An even millisecond: the odd mark lies ahead of the clock. */
	H->now = (H->now / (2 * MS) + 1) * 2 * MS;
	cr_assert_eq(tundra_conn_write(H->t.conn, d, 10 * 1448), 10 * 1448);
	flush();
	cr_assert_eq(collect(s), 10);
	H->now += 100 * US;
	p.ts_ecr = s[9]->seg.opts.tsval;
	ack_sack(&p, s[9]->seg.seq + 1448, NULL, 0); /* all acked */
	cwnd = C(&p)->cc.cwnd;
	cr_assert_gt(cwnd, 10 * 1448u, "slow start grew cwnd: %u", cwnd);
	H->now += 100 * US;
	cr_assert_eq(tundra_conn_write(H->t.conn, d + 10 * 1448, 30 * 1448),
		     30 * 1448);
	flush();
	cr_assert_eq(C(&p)->cc.cwnd, cwnd, "cwnd %u after a 100 us pause",
		     C(&p)->cc.cwnd);
	cr_assert_eq(collect(s), cwnd / 1448);
}

/* Six segments out on a SACK connection with an RTT sample; the peer
 * got segment 0 and 2..5, not 1. */
static void six_out_one_lost(struct peer *p, uint16_t sport, uint32_t iss,
			     struct pkt **s)
{
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true, .ts = true, .ts_base = 3};
	static uint8_t d[6 * 1448];
	uint32_t b[4][2];

	fill_random(d, sizeof(d), 15);
	peer_syn_cfg(p, sport, TAPP_PORT, iss, &sc);
	H->now += 20 * MS;
	peer_send(p, TCP_ACK, NULL, 0);
	cr_assert_null(C(p)->side, "established and idle: no side structure");
	cr_assert_eq(tundra_conn_write(H->t.conn, d, sizeof(d)), sizeof(d));
	flush();
	cr_assert_eq(collect(s), 6);
	H->now += 20 * MS;
	p->ts_ecr = s[0]->seg.opts.tsval;
	b[0][0] = s[2]->seg.seq;
	b[0][1] = s[5]->seg.seq + 1448;
	ack_sack(p, s[1]->seg.seq, b, 1);
}

/* The loss recovery state lives in the side structure (tcp_conn.h)
 * while it means something: allocated when recovery begins, freed when
 * everything is acknowledged, so the idle connection is back to its
 * control block alone. */
CORE_TEST(side_structure_while_recovering_only)
{
	struct pkt *s[SEGS_MAX], *t[SEGS_MAX];
	struct peer p;

	six_out_one_lost(&p, 42030, 0x300000, s);
	cr_assert(C(&p)->rec & REC_RECOVERY);
	cr_assert_not_null(C(&p)->side);
	cr_assert_not_null(tcp_sb(C(&p)));
	cr_assert_eq(collect(t), 1);
	cr_assert_eq(t[0]->seg.seq, s[1]->seg.seq, "the hole resent");
	cr_assert(C(&p)->rec & REC_RXT_HW);
	p.ts_ecr = t[0]->seg.opts.tsval;
	ack_sack(&p, s[5]->seg.seq + 1448, NULL, 0);
	cr_assert_eq(C(&p)->snd_una, C(&p)->snd_max);
	cr_assert_eq(C(&p)->rec & REC_SIDE, 0);
	cr_assert_null(C(&p)->side, "idle again: the side structure went");
	/* What must survive the idle period did. */
	cr_assert(C(&p)->flags & TF_HAVE_RTT);
	cr_assert_lt(C(&p)->cc.ssthresh, UINT32_MAX);
	advance(60 * SEC);
	expect_quiet();
	cr_assert_null(C(&p)->side);
	cr_assert_eq(ST()->side_nomem, 0);
}

/* Without memory for the side structure: no fast recovery (counted),
 * the retransmission timer recovers the loss, and once memory is back
 * recovery works again. */
CORE_TEST(side_structure_allocation_failure_survived)
{
	struct pkt *s[SEGS_MAX], *t[SEGS_MAX];
	struct peer p;
	unsigned n;

	H->core->fail_side = UINT32_MAX;
	six_out_one_lost(&p, 42031, 0x310000, s);
	cr_assert_not(C(&p)->rec & REC_RECOVERY, "no recovery without it");
	cr_assert_null(C(&p)->side);
	cr_assert_gt(ST()->side_nomem, 0);
	cr_assert_eq(ST()->fast_recoveries, 0);
	/* The RTO (or the probe, which also needs the side structure and
	 * so does not go) brings segment 1 again. */
	for (int i = 0; i < 400 && !ST()->rto_timeouts; i++)
		advance(5 * MS);
	cr_assert_eq(ST()->rto_timeouts, 1);
	n = collect(t);
	cr_assert_geq(n, 1);
	cr_assert_eq(t[0]->seg.seq, s[1]->seg.seq,
		     "the hole resent by the RTO");
	cr_assert_null(C(&p)->side);
	p.ts_ecr = t[0]->seg.opts.tsval;
	ack_sack(&p, s[5]->seg.seq + 1448, NULL, 0);
	cr_assert_eq(C(&p)->snd_una, C(&p)->snd_max, "all delivered");
	assert_state(&p, TCPS_ESTABLISHED);
	cr_assert_null(C(&p)->side);
	/* Memory back: the next loss gets a fast recovery. */
	H->core->fail_side = 0;
	skip_output();
}
