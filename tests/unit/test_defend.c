/*
 * test_defend.c — the core's defences (issue 7), end to end through the
 * fake link of core_harness.h: SYN cookies (RFC 4987 §3.6), the SYN queue,
 * the connection cap, challenge ACKs and their rate limit (RFC 5961 §5.2,
 * §7), the per-core cap on out-of-order bytes, and hostile datagrams
 * counted by name. Time is a variable: no test reads a clock.
 */
/* The harness is written for test_core.c: this file uses part of it. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "core_harness.h"
#include "tcp/tcp_syncookie.h"

TestSuite(defend);

static const uint8_t MSG[] = "hello, tundra\n";
#define MSGLEN (sizeof(MSG) - 1)

/* A fresh core with cfg changed by the caller. */
static void h_recore(const struct core_config *cfg)
{
	h_destroy_core();
	h_core(cfg);
}

static void cookies(enum core_syncookies mode, uint32_t backlog)
{
	struct core_config cfg = default_config();

	cfg.syncookies = mode;
	cfg.syn_backlog = backlog;
	h_recore(&cfg);
}

/* ---- SYN cookies ------------------------------------------------------ */

/* Without timestamps the cookie can carry the MSS only: the SYN-ACK offers
 * nothing else, the table stays empty until the ACK, which makes the
 * connection ESTABLISHED at once and tells the app. */
CORE_TEST(syncookie_handshake_without_timestamps)
{
	struct peer p;
	struct pkt *k;

	cookies(CORE_SYNCOOKIES_ALWAYS, 0);
	const struct syn_cfg sc = {.mss = 1460, .ws = 7, .wnd = 65535,
				   .sack = true};
	k = peer_syn_cfg(&p, 41000, TAPP_PORT, 0x1234, &sc);
	cr_assert(k->seg.opts.has_mss);
	cr_assert_eq(k->seg.opts.mss, 1460);
	cr_assert(!k->seg.opts.has_wscale, "window scale without timestamps");
	cr_assert(!k->seg.opts.sack_ok, "SACK without timestamps");
	cr_assert(!k->seg.opts.has_ts);
	cr_assert_neq(k->seg.wnd, 0);
	expect_quiet();
	cr_assert_eq(core_conn_count(H->core), 0, "a cookie keeps no state");
	cr_assert_eq(ST()->syncookies_sent, 1);
	cr_assert_eq(p.iss, tcp_syncookie_make(H->core, &(struct tcp_seg){
		.saddr = PEER, .daddr = OUR, .sport = 41000,
		.dport = TAPP_PORT, .seq = 0x1234,
		.opts = {.has_mss = true, .mss = 1460}}));

	/* A retransmitted SYN gets the same cookie, still no state. */
	raw_in(41000, TAPP_PORT, 0x1234, 0, TCP_SYN, 65535,
	       OPTS(TCPOPT_MSS, 4, 0x05, 0xb4), NULL, 0);
	flush();
	k = expect_seg(TCP_SYN | TCP_ACK, p.iss, 0x1235, 0);
	cr_assert_eq(core_conn_count(H->core), 0);
	cr_assert_eq(ST()->syncookies_sent, 2);

	H->now += 3 * SEC;
	peer_send(&p, TCP_ACK, NULL, 0);
	assert_state(&p, TCPS_ESTABLISHED);
	cr_assert_eq(H->t.accepted, 1);
	cr_assert_eq(ST()->syncookies_ok, 1);
	cr_assert_eq(ST()->conns_accepted, 1);
	struct tcp_conn *c = conn_of(&p);
	cr_assert_eq(c->iss, p.iss);
	cr_assert_eq(c->snd_mss, 1460);
	cr_assert_eq(c->flags & (TF_WSCALE | TF_SACK | TF_TS), 0);
	cr_assert_eq(c->snd_wnd, 65535, "window not scaled");
	expect_quiet();

	/* And it works: data both ways. */
	peer_send(&p, TCP_ACK | TCP_PSH, MSG, MSGLEN);
	cr_assert_eq(H->t.rxlen, MSGLEN);
	cr_assert(!memcmp(H->t.rx, MSG, MSGLEN));
	expect_ack_soon(&p);
	cr_assert_eq(tundra_conn_write(H->t.conn, MSG, MSGLEN), MSGLEN);
	flush();
	k = expect_seg(TCP_ACK | TCP_PSH, p.ack, p.nxt, MSGLEN);
	cr_assert(!memcmp(k->seg.data, MSG, MSGLEN));
}

/* With timestamps, window scale and SACK ride in the low bits of our
 * TSval and come back in the peer's TSecr (as Linux does). */
CORE_TEST(syncookie_handshake_with_timestamps)
{
	struct peer p;
	struct pkt *k;
	uint32_t synack_ts;

	cookies(CORE_SYNCOOKIES_ALWAYS, 0);
	const struct syn_cfg sc = {.mss = 1400, .ws = 7, .wnd = 100,
				   .sack = true, .ts = true,
				   .ts_base = 0x70000000};
	k = peer_syn_cfg(&p, 41001, TAPP_PORT, 0xfffffff0, &sc);
	cr_assert(k->seg.opts.has_wscale);
	cr_assert_eq(k->seg.opts.wscale, 1, "our shift for 64 KiB");
	cr_assert(k->seg.opts.sack_ok);
	cr_assert(k->seg.opts.has_ts);
	synack_ts = k->seg.opts.tsval;
	cr_assert_eq(synack_ts & 0x3f, 7 | 0x10, "TSval low bits %#x",
		     synack_ts & 0x3f);
	cr_assert_eq(core_conn_count(H->core), 0);

	H->now += 20 * MS;
	H->t.write_on_accept = MSG;
	H->t.write_on_accept_len = MSGLEN;
	peer_send(&p, TCP_ACK, NULL, 0);
	assert_state(&p, TCPS_ESTABLISHED);
	struct tcp_conn *c = conn_of(&p);
	cr_assert_eq(c->flags & (TF_WSCALE | TF_SACK | TF_TS),
		     TF_WSCALE | TF_SACK | TF_TS);
	cr_assert_eq(c->snd_wscale, 7);
	cr_assert_eq(c->rcv_wscale, 1);
	cr_assert_eq(c->snd_mss, 1360, "1400 rounds down to 1360");
	cr_assert_eq(c->snd_wnd, 100u << 7, "the ACK's window, scaled");
	/* The SYN-ACK's TSval is the connection's clock at that time,
	 * rounded down to hold the 6 bits: never ahead of it (RFC 7323
	 * §5.4: monotonic), at most 63 ms behind. */
	uint32_t clock0 = (uint32_t)((H->now - 20 * MS) / MS) + c->ts_offset;
	cr_assert(seq_leq(synack_ts, clock0), "TSval %u ahead of clock %u",
		  synack_ts, clock0);
	cr_assert(clock0 - synack_ts < 64, "TSval %u, clock %u", synack_ts,
		  clock0);
	/* The data the app wrote: our TSval never runs backwards from the
	 * SYN-ACK's, and echoes the peer's. */
	k = expect_seg(TCP_ACK | TCP_PSH, p.ack, p.nxt, MSGLEN);
	cr_assert(k->seg.opts.has_ts);
	cr_assert(seq_geq(k->seg.opts.tsval, synack_ts), "TSval %u < %u",
		  k->seg.opts.tsval, synack_ts);
	cr_assert_eq(k->seg.opts.tsecr, peer_tsval(&p));
	cr_assert_eq(ST()->syncookies_ok, 1);
}

/* The MSS in a cookie is one of eight values, rounded down; no MSS
 * option means 536 (RFC 9293 §3.7.1). */
CORE_TEST(syncookie_mss_table)
{
	static const struct {
		uint16_t offered, used;
	} t[] = {
		{0, 536},     {536, 536},   {1219, 536},  {1220, 1220},
		{1300, 1300}, {1399, 1360}, {1452, 1452}, {1459, 1452},
		{1460, 1460}, {8960, 1460}, {65535, 1460},
	};

	cookies(CORE_SYNCOOKIES_ALWAYS, 0);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct peer p;
		const struct syn_cfg sc = {.mss = t[i].offered, .ws = -1,
					   .wnd = 65535};

		peer_syn_cfg(&p, (uint16_t)(42000 + i), TAPP_PORT,
			     (uint32_t)(i * 0x01000193u), &sc);
		peer_send(&p, TCP_ACK, NULL, 0);
		assert_state(&p, TCPS_ESTABLISHED);
		cr_assert_eq(conn_of(&p)->snd_mss, t[i].used,
			     "MSS %u: used %u, want %u", t[i].offered,
			     conn_of(&p)->snd_mss, t[i].used);
	}
	cr_assert_eq(ST()->syncookies_ok, ARRAY_SIZE(t));
}

/* A cookie is good for its own 64 s slot and the next one, no longer, and
 * only for the 4-tuple and SYN sequence number it was made for. */
CORE_TEST(syncookie_validation)
{
	struct peer p;

	cookies(CORE_SYNCOOKIES_ALWAYS, 0);
	H->now = 1000 * SYNCOOKIE_SLOT_NS + 63 * SEC; /* end of a slot */
	peer_syn(&p, 41002, TAPP_PORT, 5000, 1460, -1, 65535);

	/* Wrong ACK number: counted, no state, and no RST (while cookies
	 * are out, it may be a later segment of a cookie connection whose
	 * first one was lost). */
	raw_in(p.sport, p.dport, p.nxt, p.ack + 1, TCP_ACK, 65535, NULL, 0,
	       NULL, 0);
	flush();
	expect_quiet();
	cr_assert_eq(ST()->syncookies_failed, 1);
	cr_assert_eq(drops(DROP_TCP_BAD_COOKIE), 1);
	/* Wrong sequence number (another SYN's, or a later segment): the
	 * same. */
	raw_in(p.sport, p.dport, p.nxt + 1, p.ack, TCP_ACK, 65535, NULL, 0,
	       NULL, 0);
	flush();
	/* Another port of the peer's. */
	raw_in(p.sport + 1, p.dport, p.nxt, p.ack, TCP_ACK, 65535, NULL, 0,
	       NULL, 0);
	flush();
	expect_quiet();
	cr_assert_eq(ST()->syncookies_failed, 3);
	cr_assert_eq(drops(DROP_TCP_BAD_COOKIE), 3);
	cr_assert_eq(core_conn_count(H->core), 0);

	/* Two slots later the cookie has expired. */
	H->now += 2 * SYNCOOKIE_SLOT_NS;
	raw_in(p.sport, p.dport, p.nxt, p.ack, TCP_ACK, 65535, NULL, 0, NULL,
	       0);
	flush();
	expect_quiet();
	cr_assert_eq(ST()->syncookies_failed, 4);
	cr_assert_eq(ST()->syncookies_ok, 0);
	cr_assert_eq(H->t.accepted, 0);

	/* In the next slot it is still good. */
	struct peer q;
	H->now = 2000 * SYNCOOKIE_SLOT_NS + 63 * SEC;
	peer_syn(&q, 41003, TAPP_PORT, 7000, 1460, -1, 65535);
	H->now += 2 * SEC; /* slot + 1 */
	peer_send(&q, TCP_ACK, NULL, 0);
	assert_state(&q, TCPS_ESTABLISHED);
	cr_assert_eq(ST()->syncookies_ok, 1);
	expect_quiet();
}

/* The cookie's ACK may carry data: it is delivered like any other first
 * data, through the normal SYN-RECEIVED path. */
CORE_TEST(syncookie_ack_with_data)
{
	struct peer p;

	cookies(CORE_SYNCOOKIES_ALWAYS, 0);
	peer_syn(&p, 41004, TAPP_PORT, 0x99, 1460, -1, 65535);
	peer_send(&p, TCP_ACK | TCP_PSH, MSG, MSGLEN);
	assert_state(&p, TCPS_ESTABLISHED);
	cr_assert_eq(H->t.accepted, 1);
	cr_assert_eq(H->t.rxlen, MSGLEN);
	expect_ack_soon(&p);
}

/* ---- the SYN queue ---------------------------------------------------- */

/* syn_backlog connections in SYN-RECEIVED per port; then cookies (on)
 * take over and keep working; completing a handshake frees a place. */
CORE_TEST(syn_queue_full_then_cookies)
{
	struct peer p[4];

	cookies(CORE_SYNCOOKIES_ON, 2);
	peer_syn(&p[0], 43000, TAPP_PORT, 100, 1460, -1, 65535);
	peer_syn(&p[1], 43001, TAPP_PORT, 200, 1460, -1, 65535);
	assert_state(&p[0], TCPS_SYN_RECEIVED);
	assert_state(&p[1], TCPS_SYN_RECEIVED);
	cr_assert_eq(H->core->synq[TAPP_PORT], 2);
	cr_assert_eq(ST()->syncookies_sent, 0);
	/* Another port has a queue of its own. */
	struct peer e;
	peer_syn(&e, 43009, 7, 900, 1460, -1, 65535);
	assert_state(&e, TCPS_SYN_RECEIVED);

	peer_syn(&p[2], 43002, TAPP_PORT, 300, 1460, -1, 65535);
	assert_state(&p[2], TCPS_CLOSED);
	cr_assert_eq(ST()->syncookies_sent, 1);
	cr_assert_eq(core_conn_count(H->core), 3);

	/* The cookie completes... */
	peer_send(&p[2], TCP_ACK, NULL, 0);
	assert_state(&p[2], TCPS_ESTABLISHED);
	cr_assert_eq(ST()->syncookies_ok, 1);
	cr_assert_eq(H->core->synq[TAPP_PORT], 2, "a cookie is not queued");
	/* ... and so does a queued one, which frees its place. */
	peer_send(&p[0], TCP_ACK, NULL, 0);
	assert_state(&p[0], TCPS_ESTABLISHED);
	cr_assert_eq(H->core->synq[TAPP_PORT], 1);
	peer_syn(&p[3], 43003, TAPP_PORT, 400, 1460, -1, 65535);
	assert_state(&p[3], TCPS_SYN_RECEIVED);
	cr_assert_eq(ST()->syncookies_sent, 1);
	/* A reset in SYN-RECEIVED frees one too. */
	raw_in(p[1].sport, p[1].dport, p[1].nxt, 0, TCP_RST, 0, NULL, 0, NULL,
	       0);
	flush();
	assert_state(&p[1], TCPS_CLOSED);
	cr_assert_eq(H->core->synq[TAPP_PORT], 1);
	cr_assert_eq(H->t.accepted, 2);
	expect_quiet();
}

/* With cookies off a full queue drops the SYN (no answer: the peer
 * retransmits), and an ACK to the listener is just a bad segment. */
CORE_TEST(syn_queue_full_cookies_off)
{
	struct peer p[2];

	cookies(CORE_SYNCOOKIES_OFF, 1);
	peer_syn(&p[0], 43100, TAPP_PORT, 100, 1460, -1, 65535);
	raw_in(43101, TAPP_PORT, 200, 0, TCP_SYN, 65535, NULL, 0, NULL, 0);
	flush();
	expect_quiet();
	cr_assert_eq(drops(DROP_TCP_SYNQ_FULL), 1);
	cr_assert_eq(core_conn_count(H->core), 1);
	/* The handshake of the first one ends: room again. */
	peer_send(&p[0], TCP_ACK, NULL, 0);
	assert_state(&p[0], TCPS_ESTABLISHED);
	peer_syn(&p[1], 43101, TAPP_PORT, 200, 1460, -1, 65535);
	assert_state(&p[1], TCPS_SYN_RECEIVED);
	cr_assert_eq(ST()->syncookies_sent, 0);
	/* A stray ACK: RST as RFC 9293 §3.10.7.2 says, not a cookie. */
	raw_in(43102, TAPP_PORT, 1, 77, TCP_ACK, 65535, NULL, 0, NULL, 0);
	flush();
	expect_seg(TCP_RST, 77, 0, 0);
	cr_assert_eq(ST()->syncookies_failed, 0);
	cr_assert_eq(drops(DROP_TCP_LISTEN_BAD), 1);
}

/* In "on" mode an ACK is checked as a cookie only while cookies were sent
 * recently (two slots): otherwise a guess has nothing to hit. */
CORE_TEST(syncookie_checked_only_when_recent)
{
	struct peer p, q;

	cookies(CORE_SYNCOOKIES_ON, 1);
	peer_syn(&p, 43200, TAPP_PORT, 100, 1460, -1, 65535);
	peer_syn(&q, 43201, TAPP_PORT, 200, 1460, -1, 65535); /* cookie */
	cr_assert_eq(ST()->syncookies_sent, 1);
	/* A bad ACK while cookies are recent: a failed cookie, no RST. */
	raw_in(43202, TAPP_PORT, 1, 77, TCP_ACK, 65535, NULL, 0, NULL, 0);
	flush();
	expect_quiet();
	cr_assert_eq(ST()->syncookies_failed, 1);
	/* Long after: not even checked (and q's cookie has expired): the
	 * RST of RFC 9293 §3.10.7.2 again. */
	H->now += 2 * SYNCOOKIE_SLOT_NS;
	peer_send(&q, TCP_ACK, NULL, 0);
	expect_seg(TCP_RST, q.ack, 0, 0);
	cr_assert_eq(ST()->syncookies_failed, 1);
	cr_assert_eq(drops(DROP_TCP_LISTEN_BAD), 1);
	assert_state(&q, TCPS_CLOSED);
}

/* A flood of SYNs from spoofed sources: the table does not grow past the
 * queue, everything else is answered statelessly. */
CORE_TEST(syn_flood_is_bounded)
{
	cookies(CORE_SYNCOOKIES_ON, 16);
	for (uint32_t i = 0; i < 2000; i++) {
		raw_in((uint16_t)(1024 + i), TAPP_PORT, i * 7919u, 0, TCP_SYN,
		       65535, OPTS(TCPOPT_MSS, 4, 0x05, 0xb4), NULL, 0);
		if (i % 64 == 63)
			flush();
	}
	flush();
	cr_assert_eq(core_conn_count(H->core), 16);
	cr_assert_eq(H->core->synq[TAPP_PORT], 16);
	cr_assert_eq(ST()->syncookies_sent, 2000 - 16);
	skip_output();
	/* The queued ones time out and leave the queue empty. */
	for (int i = 0; i < 10; i++)
		advance(60 * SEC);
	cr_assert_eq(core_conn_count(H->core), 0);
	cr_assert_eq(H->core->synq[TAPP_PORT], 0);
	skip_output();
}

/* ---- the connection cap ----------------------------------------------- */

CORE_TEST(max_conns_bounds_the_table)
{
	struct core_config cfg = default_config();
	struct peer p[3], q;
	struct tcp_conn *c;

	cfg.max_conns = 3;
	cfg.syncookies = CORE_SYNCOOKIES_ON;
	cfg.syn_backlog = 1;
	h_recore(&cfg);
	peer_connect(&p[0], 44000, TAPP_PORT, 100, 1460, -1, 65535);
	struct tundra_conn *c0 = H->t.conn;
	peer_syn(&p[1], 44001, TAPP_PORT, 200, 1460, -1, 65535);
	/* The SYN queue is full: a cookie, while the table has room. */
	peer_syn(&q, 44002, TAPP_PORT, 300, 1460, -1, 65535);
	cr_assert_eq(ST()->syncookies_sent, 1);
	/* An active open takes the last place. */
	cr_assert_eq(core_connect(H->core, PEER, 80, &test_app, &H->t, H->now,
				  &c),
		     0);
	flush();
	expect_seg(TCP_SYN, c->iss, 0, 0);
	cr_assert_eq(core_conn_count(H->core), 3);

	/* Full. The cookie is valid but makes no connection: dropped, no
	 * RST (the peer's retransmission may find room). */
	peer_send(&q, TCP_ACK, NULL, 0);
	expect_quiet();
	assert_state(&q, TCPS_CLOSED);
	cr_assert_eq(drops(DROP_TCP_CONN_LIMIT), 1);
	cr_assert_eq(ST()->syncookies_failed, 0);
	cr_assert_eq(ST()->syncookies_ok, 0);
	/* A SYN is dropped without an answer, cookie or not. */
	raw_in(44003, TAPP_PORT, 400, 0, TCP_SYN, 65535, NULL, 0, NULL, 0);
	flush();
	expect_quiet();
	cr_assert_eq(drops(DROP_TCP_CONN_LIMIT), 2);
	cr_assert_eq(ST()->syncookies_sent, 1);
	/* Another active open fails. */
	cr_assert_eq(core_connect(H->core, PEER, 81, &test_app, &H->t, H->now,
				  NULL),
		     -ENOBUFS);
	expect_quiet();
	cr_assert_eq(core_conn_count(H->core), 3);

	/* A reset frees a place: the cookie's ACK, sent again, now works. */
	raw_in(p[1].sport, p[1].dport, p[1].nxt, 0, TCP_RST, 0, NULL, 0, NULL,
	       0);
	flush();
	assert_state(&p[1], TCPS_CLOSED);
	peer_raw(&q, q.nxt, TCP_ACK, NULL, 0);
	flush();
	assert_state(&q, TCPS_ESTABLISHED);
	cr_assert_eq(ST()->syncookies_ok, 1);
	expect_quiet();

	/* p[0] closes first and waits in TIME-WAIT, which still holds its
	 * place: a flood of short connections cannot grow the table. */
	tundra_conn_close(c0);
	flush();
	expect_seg(TCP_ACK | TCP_FIN, p[0].ack, p[0].nxt, 0);
	p[0].ack++;
	peer_send(&p[0], TCP_ACK | TCP_FIN, NULL, 0);
	assert_state(&p[0], TCPS_TIME_WAIT);
	skip_output();
	raw_in(44005, TAPP_PORT, 600, 0, TCP_SYN, 65535, NULL, 0, NULL, 0);
	flush();
	expect_quiet();
	cr_assert_eq(drops(DROP_TCP_CONN_LIMIT), 3);
	/* TIME-WAIT ends (1 s here): room again. */
	H->now += H->cfg.time_wait_ns;
	core_timers(H->core, H->now);
	assert_state(&p[0], TCPS_CLOSED);
	skip_output();
	peer_syn(&p[2], 44005, TAPP_PORT, 600, 1460, -1, 65535);
	assert_state(&p[2], TCPS_SYN_RECEIVED);
	cr_assert_eq(core_conn_count(H->core), 3);
}

/* ---- challenge ACKs (RFC 5961) ---------------------------------------- */

static void chack_limit(uint32_t limit)
{
	struct core_config cfg = default_config();

	cfg.challenge_ack_limit = limit;
	h_recore(&cfg);
}

/* Send n in-window RSTs (not at RCV.NXT), one flush each; the number of
 * challenge ACKs that came out. */
static unsigned bad_rsts(struct peer *p, unsigned n)
{
	unsigned acks = 0;
	struct pkt *k;

	for (unsigned i = 0; i < n; i++) {
		raw_in(p->sport, p->dport, p->nxt + 1 + i % 100, 0, TCP_RST,
		       0, NULL, 0, NULL, 0);
		flush();
		while ((k = next_pkt())) {
			cr_assert_eq(k->seg.flags, TCP_ACK);
			cr_assert_eq(k->seg.seq, p->ack);
			cr_assert_eq(k->seg.ack, p->nxt);
			acks++;
		}
	}
	return acks;
}

/* §7: at most about limit challenge ACKs per second per core, the budget
 * drawn each second in [limit/2, limit/2 + limit); the connection itself
 * is untouched by the RSTs. */
CORE_TEST(challenge_ack_rate_limited)
{
	struct peer p;
	unsigned acks, min = ~0u, max = 0;
	uint64_t sent = 0, limited = 0;

	chack_limit(10);
	H->now = 100 * SEC;
	peer_connect(&p, 45000, TAPP_PORT, 0x5000, 1460, -1, 65535);
	for (int s = 0; s < 40; s++) {
		H->now = (uint64_t)(101 + s) * SEC + 1000;
		acks = bad_rsts(&p, 100);
		cr_assert(acks >= 5 && acks < 15, "second %d: %u ACKs", s,
			  acks);
		min = MIN(min, acks);
		max = MAX(max, acks);
		sent += acks;
		limited += 100 - acks;
	}
	/* Randomised: not the same budget every second. */
	cr_assert_lt(min, max, "every second's budget was %u", min);
	cr_assert_eq(ST()->challenge_acks_sent, sent);
	cr_assert_eq(ST()->challenge_acks_limited, limited);
	cr_assert_eq(drops(DROP_TCP_RST_BAD_SEQ), 4000);
	assert_state(&p, TCPS_ESTABLISHED);
	cr_assert_eq(ST()->conns_reset, 0);
	/* An exact RST still resets, budget or not. */
	raw_in(p.sport, p.dport, p.nxt, 0, TCP_RST, 0, NULL, 0, NULL, 0);
	flush();
	assert_state(&p, TCPS_CLOSED);
	cr_assert_eq(H->t.last_err, -ECONNRESET);
}

/* The budget is per core and shared by the three kinds of challenge:
 * RST in the window, SYN in a synchronized state (§4.2), and an ACK out
 * of range (§5.2). */
CORE_TEST(challenge_ack_budget_shared)
{
	struct peer p;
	unsigned acks = 0;
	struct pkt *k;

	chack_limit(1); /* budget 1 + (r % 1) = 1 every second */
	peer_connect(&p, 45001, TAPP_PORT, 0x6000, 1460, -1, 65535);
	H->now += SEC;
	/* SYN at a new sequence number: challenge ACK, state unchanged. */
	raw_in(p.sport, p.dport, p.nxt + 1000, 0, TCP_SYN, 65535, NULL, 0,
	       NULL, 0);
	flush();
	k = expect_seg(TCP_ACK, p.ack, p.nxt, 0);
	(void)k;
	assert_state(&p, TCPS_ESTABLISHED);
	/* The same second: an ACK of data never sent gets nothing. */
	raw_in(p.sport, p.dport, p.nxt, p.ack + 5000, TCP_ACK, 65535, NULL, 0,
	       NULL, 0);
	flush();
	expect_quiet();
	raw_in(p.sport, p.dport, p.nxt + 10, 0, TCP_RST, 0, NULL, 0, NULL, 0);
	flush();
	expect_quiet();
	cr_assert_eq(ST()->challenge_acks_sent, 1);
	cr_assert_eq(ST()->challenge_acks_limited, 2);
	cr_assert_eq(drops(DROP_TCP_BAD_FLAGS), 1);
	cr_assert_eq(drops(DROP_TCP_BAD_ACK), 1);
	cr_assert_eq(drops(DROP_TCP_RST_BAD_SEQ), 1);
	/* Next second: one more. */
	H->now += SEC;
	raw_in(p.sport, p.dport, p.nxt, p.ack + 5000, TCP_ACK, 65535, NULL, 0,
	       NULL, 0);
	flush();
	while (next_pkt())
		acks++;
	cr_assert_eq(acks, 1);
	cr_assert_eq(ST()->challenge_acks_sent, 2);
	assert_state(&p, TCPS_ESTABLISHED);
}

/* §5.2: data whose ACK is older than SND.UNA - MAX.SND.WND is dropped
 * (blind injection needs an acceptable ACK as well as an in-window
 * sequence number); an ACK within that range, even old, is fine. */
CORE_TEST(old_ack_is_challenged)
{
	struct peer p;

	peer_connect(&p, 45002, TAPP_PORT, 0x7000, 1460, -1, 65535);
	/* No window scaling: MAX.SND.WND is at most 65535. */
	raw_in(p.sport, p.dport, p.nxt, p.ack - 65536, TCP_ACK | TCP_PSH,
	       65535, NULL, 0, MSG, MSGLEN);
	flush();
	expect_seg(TCP_ACK, p.ack, p.nxt, 0);
	cr_assert_eq(drops(DROP_TCP_OLD_ACK), 1);
	cr_assert_eq(H->t.rxlen, 0, "data with a bogus ACK delivered");
	cr_assert_eq(ST()->challenge_acks_sent, 1);
	/* At the edge of the range it is taken. */
	raw_in(p.sport, p.dport, p.nxt, p.ack - 65535, TCP_ACK | TCP_PSH,
	       65535, NULL, 0, MSG, MSGLEN);
	flush();
	cr_assert_eq(H->t.rxlen, MSGLEN);
	cr_assert_eq(drops(DROP_TCP_OLD_ACK), 1);
}

/* With window scaling the range grows with the peer's shift. */
CORE_TEST(old_ack_range_scaled)
{
	struct peer p;

	peer_connect(&p, 45003, TAPP_PORT, 0x8000, 1460, 7, 65535);
	raw_in(p.sport, p.dport, p.nxt, p.ack - (65535u << 7) - 1,
	       TCP_ACK | TCP_PSH, 65535, NULL, 0, MSG, MSGLEN);
	flush();
	skip_output();
	cr_assert_eq(drops(DROP_TCP_OLD_ACK), 1);
	cr_assert_eq(H->t.rxlen, 0);
	raw_in(p.sport, p.dport, p.nxt, p.ack - 100000, TCP_ACK | TCP_PSH,
	       65535, NULL, 0, MSG, MSGLEN);
	flush();
	cr_assert_eq(H->t.rxlen, MSGLEN);
}

/* ---- reassembly memory ------------------------------------------------ */

/* The bytes held out of order on a core, all connections together, are
 * capped by reass_mem; in-order data still fills the holes, and what is
 * held is given back as it is delivered or when a connection goes. */
CORE_TEST(reass_mem_per_core)
{
	struct core_config cfg = default_config();
	struct peer p, q;
	uint8_t buf[2000];

	fill_random(buf, sizeof(buf), 7);
	cfg.reass_mem = 3000;
	h_recore(&cfg);
	peer_connect(&p, 46000, TAPP_PORT, 0x1000, 1460, -1, 65535);
	peer_connect(&q, 46001, 9, 0x2000, 1460, -1, 65535);

	/* p holds 1000 bytes past a hole of 100, q 1500. */
	peer_raw(&p, p.nxt + 100, TCP_ACK, buf + 100, 1000);
	peer_raw(&q, q.nxt + 500, TCP_ACK, buf, 1500);
	flush();
	skip_output();
	cr_assert_eq(H->core->ooo_bytes, 2500);
	cr_assert_eq(ST()->reass_bytes, 2500);
	/* 600 more would pass 3000: dropped, counted, still ACKed (a
	 * duplicate ACK with SACK is what the peer expects). */
	peer_raw(&p, p.nxt + 1200, TCP_ACK, buf + 1200, 600);
	flush();
	skip_output();
	cr_assert_eq(drops(DROP_TCP_OOO_MEM), 1);
	cr_assert_eq(H->core->ooo_bytes, 2500);
	/* 500 fit. */
	peer_raw(&p, p.nxt + 1100, TCP_ACK, buf + 1100, 500);
	flush();
	skip_output();
	cr_assert_eq(H->core->ooo_bytes, 3000);
	/* p's hole is filled in order: its 1500 held bytes are delivered
	 * and no longer count. */
	peer_raw(&p, p.nxt, TCP_ACK, buf, 100);
	flush();
	cr_assert_eq(H->t.rxlen, 1600);
	cr_assert(!memcmp(H->t.rx, buf, 1600));
	cr_assert_eq(H->core->ooo_bytes, 1500);
	skip_output();
	/* q goes away with bytes held: they are given back too. */
	raw_in(q.sport, q.dport, q.nxt, 0, TCP_RST, 0, NULL, 0, NULL, 0);
	flush();
	assert_state(&q, TCPS_CLOSED);
	cr_assert_eq(H->core->ooo_bytes, 0);
	cr_assert_eq(ST()->reass_bytes, 0);
}

/* ---- hostile datagrams, through core_input ---------------------------- */

/* A SYN to the test app, then its source address patched (and the IPv4
 * checksum fixed: the address checks come before TCP's). */
static void syn_from(uint32_t saddr, uint16_t sport, uint16_t dport)
{
	uint8_t b[64];
	size_t n = build_tcp(b, sport, dport, 1, 0, TCP_SYN, 65535, NULL, 0,
			     NULL, 0);

	put32(b + 12, saddr);
	put16(b + 10, 0);
	put16(b + 10, ref_csum(b, IPV4_HDR_LEN));
	core_input(H->core, b, (uint32_t)n, H->now);
	flush();
}

CORE_TEST(hostile_sources_dropped)
{
	/* Land: from our own address and port to it. */
	syn_from(OUR, TAPP_PORT, TAPP_PORT);
	cr_assert_eq(drops(DROP_IP_LAND), 1);
	syn_from(OUR, 1234, TAPP_PORT);
	cr_assert_eq(drops(DROP_IP_LAND), 2);
	/* Martians and our /24's broadcast. */
	syn_from(IP4(10, 0, 0, 255), 1234, TAPP_PORT);
	syn_from(IP4(127, 0, 0, 1), 1234, TAPP_PORT);
	syn_from(IP4(0, 0, 0, 0), 1234, TAPP_PORT);
	syn_from(IP4(224, 0, 0, 5), 1234, TAPP_PORT);
	syn_from(IP4(240, 0, 0, 5), 1234, TAPP_PORT);
	syn_from(IP4(255, 255, 255, 255), 1234, TAPP_PORT);
	cr_assert_eq(drops(DROP_IP_MARTIAN_SRC), 6);
	expect_quiet();
	cr_assert_eq(core_conn_count(H->core), 0);
}

/* Scanner probes: SYN+FIN and SYN+RST never reach a listener, a null
 * segment gets no RST even from a closed port; FIN alone to a closed port
 * is reset as RFC 9293 §3.10.7.1 says. */
CORE_TEST(scan_probes)
{
	raw_in(40000, TAPP_PORT, 1, 0, TCP_SYN | TCP_FIN, 65535, NULL, 0,
	       NULL, 0);
	raw_in(40000, TAPP_PORT, 1, 0, TCP_SYN | TCP_RST, 65535, NULL, 0,
	       NULL, 0);
	raw_in(40000, TAPP_PORT, 1, 0, 0, 65535, NULL, 0, NULL, 0);
	raw_in(40000, 4444, 1, 0, 0, 65535, NULL, 0, NULL, 0);
	raw_in(40000, 4444, 1, 0, TCP_PSH | TCP_URG, 65535, NULL, 0, NULL, 0);
	flush();
	expect_quiet();
	cr_assert_eq(drops(DROP_TCP_SYN_FIN), 1);
	cr_assert_eq(drops(DROP_TCP_SYN_RST), 1);
	cr_assert_eq(drops(DROP_TCP_NULL_FLAGS), 3);
	cr_assert_eq(core_conn_count(H->core), 0);
	raw_in(40000, 4444, 1, 0, TCP_FIN, 65535, NULL, 0, NULL, 0);
	flush();
	expect_seg(TCP_RST | TCP_ACK, 0, 2, 0);
}

/* The ACK of a cookie SYN-ACK is lost and data follows: the later
 * segments cannot be validated (only SEQ = IRS + 1 carries the cookie's
 * IRS) and are dropped without a RST; the retransmission of the first
 * segment opens the connection. */
CORE_TEST(syncookie_first_segment_lost)
{
	struct peer p;

	cookies(CORE_SYNCOOKIES_ALWAYS, 0);
	peer_syn(&p, 41005, TAPP_PORT, 0x4000, 1460, -1, 65535);
	/* The ACK and the first 100 bytes are lost: the next 100 come. */
	uint8_t buf[200];
	fill_random(buf, sizeof(buf), 3);
	peer_raw(&p, p.nxt + 100, TCP_ACK, buf + 100, 100);
	flush();
	expect_quiet();
	cr_assert_eq(drops(DROP_TCP_BAD_COOKIE), 1);
	assert_state(&p, TCPS_CLOSED);
	/* The peer's RTO: the first segment again. */
	peer_raw(&p, p.nxt, TCP_ACK, buf, 100);
	flush();
	assert_state(&p, TCPS_ESTABLISHED);
	cr_assert_eq(H->t.rxlen, 100);
	cr_assert(!memcmp(H->t.rx, buf, 100));
	peer_raw(&p, p.nxt + 100, TCP_ACK, buf + 100, 100);
	flush();
	cr_assert_eq(H->t.rxlen, 200);
	cr_assert(!memcmp(H->t.rx, buf, 200));
}

TUNDRA_TSAN_SKIP_MAIN
