/*
 * fuzz_core.h — a fake environment around one sans-I/O core (src/core/
 * core.h) for the core fuzz targets, in the manner of tests/unit/
 * core_harness.h, and the invariants checked after every step.
 *
 *   - descriptors come from a fixed pool of FZ_NDESC; the target decides
 *     when each is handed back (core_tx_done), in or out of order, and can
 *     limit or fail allocation (back-pressure);
 *   - every datagram tundra sends must parse (ipv4_parse, tcp_parse: our
 *     checksums are right), its payload must be the bytes the app wrote at
 *     that stream offset, and those bytes must not change until the
 *     descriptor is handed back (zero-copy send buffer);
 *   - listeners on FZ_PORT_A and FZ_PORT_B run one in-process app; the
 *     peer's payload byte at sequence number s is always pat_rx(s), so the
 *     app checks that every byte it reads is at its right place;
 *   - check_core() walks the table, the timer heap and the flush lists
 *     and checks each connection (see README.md for the list).
 */
#ifndef TUNDRA_TESTS_FUZZ_FUZZ_CORE_H
#define TUNDRA_TESTS_FUZZ_FUZZ_CORE_H

#include <errno.h>

#include "core/core.h"
#include "core/core_priv.h"
#include "fuzz_common.h"
#include "tcp/tcp_seq.h"
#include "tundra/app.h"

#define FZ_OUR 0x0a000002u   /* 10.0.0.2 */
#define FZ_PEER1 0x0a000001u /* 10.0.0.1 */
#define FZ_PEER2 0x0a000003u /* 10.0.0.3 */
#define FZ_PORT_A 5000
#define FZ_PORT_B 5001
#define FZ_NDESC 64
#define FZ_MAXAPP 32
#define FZ_MS 1000000ull
#define FZ_SEC 1000000000ull

/* The peer's byte at sequence number s, and the app's byte at stream
 * offset k: any misplaced byte shows. */
static inline uint8_t pat_rx(uint32_t s)
{
	return (uint8_t)((s * 2654435761u) >> 24);
}

static inline uint8_t pat_tx(uint32_t k)
{
	return (uint8_t)(((k ^ 0x55aa55aau) * 2246822519u) >> 24);
}

/* The right edge of the window offered on one connection. */
#define FZ_EDGES 64
struct edge {
	const struct tcp_conn *c;
	uint32_t iss, irs, right;
};

struct fenv {
	struct core *core;
	struct core_config cfg;
	struct core_env env;
	uint64_t now;

	struct core_out desc[FZ_NDESC];
	bool used[FZ_NDESC];
	uint8_t *copy[FZ_NDESC]; /* the datagram as sent */
	uint32_t copy_len[FZ_NDESC];
	struct core_out *held[FZ_NDESC]; /* in the order sent */
	unsigned nheld;
	unsigned out_max; /* at most this many out at once */
	bool alloc_fail;

	struct core_listener lst;

	/* Connections the app holds: accepted (or connected) .. closed. */
	struct tundra_conn *app[FZ_MAXAPP];
	unsigned napp;
	bool app_consume; /* readable() consumes what it reads */
	bool app_echo;	  /* ... and writes the same count back */
	bool app_refuse;  /* accepted() refuses */

	uint64_t sent;
	struct edge edges[FZ_EDGES];
	unsigned next_edge;
};

static struct fenv *E;

static inline struct tcp_conn *TC(struct tundra_conn *c)
{
	return (struct tcp_conn *)c;
}

/* ---- the app ---------------------------------------------------------- */

static int app_index(struct tundra_conn *c)
{
	for (unsigned i = 0; i < E->napp; i++)
		if (E->app[i] == c)
			return (int)i;
	return -1;
}

static void app_add(struct tundra_conn *c)
{
	if (app_index(c) < 0 && E->napp < FZ_MAXAPP)
		E->app[E->napp++] = c;
}

/* Write n bytes of the app's stream (pat_tx by stream offset). */
static size_t app_write(struct tundra_conn *tc, size_t n)
{
	uint8_t buf[4096];
	uint64_t *off = tundra_conn_app_data(tc);
	size_t done = 0;

	while (done < n) {
		size_t k = MIN(n - done, sizeof(buf)), w;

		for (size_t i = 0; i < k; i++)
			buf[i] = pat_tx((uint32_t)(*off + i));
		w = tundra_conn_write(tc, buf, k);
		FUZZ_CHECK(w <= k, "wrote %zu of %zu", w, k);
		*off += w;
		done += w;
		if (w < k)
			break;
	}
	return done;
}

/* Check the unread bytes against the peer's pattern; consume up to n. */
static void app_read(struct tundra_conn *tc, size_t n)
{
	struct tcp_conn *c = TC(tc);
	struct iovec iov[2];
	size_t got = tundra_conn_peek(tc, iov), k = 0;
	uint32_t seq;

	FUZZ_CHECK(got == tcp_rcv(c)->len, "peek %zu != rcvbuf %u", got,
		   tcp_rcv(c)->len);
	FUZZ_CHECK(tcp_bytes_received(c) >= got, "more unread than received");
	/* The first unread byte's sequence number. */
	seq = c->irs + 1 + (uint32_t)(tcp_bytes_received(c) - got);
	for (int v = 0; v < 2 && k < got; v++) {
		const uint8_t *p = iov[v].iov_base;
		for (size_t i = 0; i < iov[v].iov_len; i++, k++)
			FUZZ_CHECK(p[i] == pat_rx(seq + (uint32_t)k),
				   "received byte at seq %u is %u, want %u",
				   seq + (uint32_t)k, p[i],
				   pat_rx(seq + (uint32_t)k));
	}
	FUZZ_CHECK(k == got, "peek views add up to %zu, not %zu", k, got);
	n = MIN(n, got);
	if (E->app_echo)
		n = app_write(tc, n);
	tundra_conn_consume(tc, n);
}

static int fapp_accepted(struct tundra_conn *c, void *arg)
{
	FUZZ_CHECK(arg == E, "listener arg not passed");
	FUZZ_CHECK(TC(c)->state == TCPS_ESTABLISHED, "accepted in %s",
		   tcp_state_name((enum tcp_state)TC(c)->state));
	if (E->app_refuse)
		return -ECONNREFUSED; /* aborted: closed() follows */
	if (app_index(c) < 0 && E->napp == FZ_MAXAPP)
		return -ENOMEM;
	app_add(c);
	return 0;
}

static void fapp_readable(struct tundra_conn *c)
{
	FUZZ_CHECK(app_index(c) >= 0, "readable for a connection not ours");
	app_read(c, E->app_consume ? SIZE_MAX : 0);
}

static void fapp_writable(struct tundra_conn *c)
{
	FUZZ_CHECK(app_index(c) >= 0, "writable for a connection not ours");
}

static void fapp_closed(struct tundra_conn *c, int err)
{
	int i = app_index(c);

	FUZZ_CHECK(err == 0 || err == -ECONNRESET || err == -ETIMEDOUT ||
			   err == -ECONNABORTED || err == -ECONNREFUSED,
		   "closed with %d", err);
	if (i >= 0)
		E->app[i] = E->app[--E->napp];
}

static const struct tundra_app fapp = {
	.name = "fuzz",
	.accepted = fapp_accepted,
	.readable = fapp_readable,
	.writable = fapp_writable,
	.closed = fapp_closed,
};

/* ---- env -------------------------------------------------------------- */

static struct core_out *fe_alloc(void *ctx)
{
	FUZZ_CHECK(ctx == E, "env ctx");
	if (E->alloc_fail || E->nheld >= E->out_max)
		return NULL;
	for (unsigned i = 0; i < FZ_NDESC; i++) {
		if (!E->used[i]) {
			E->used[i] = true;
			/* Garbage, so a field the core forgets to set shows. */
			memset(&E->desc[i], 0x5a, sizeof(E->desc[i]));
			return &E->desc[i];
		}
	}
	return NULL;
}

static unsigned desc_index(const struct core_out *o)
{
	unsigned i;

	FUZZ_CHECK(o >= E->desc && o < E->desc + FZ_NDESC, "foreign desc");
	i = (unsigned)(o - E->desc);
	FUZZ_CHECK(E->used[i], "descriptor %u not allocated", i);
	return i;
}

static uint8_t *gather(const struct core_out *o, uint32_t *len)
{
	uint32_t total = 0;
	uint8_t *buf;

	FUZZ_CHECK(o->niov >= 1 && o->niov <= CORE_OUT_MAX_IOV, "niov %u",
		   o->niov);
	FUZZ_CHECK(o->iov[0].iov_base == o->hdr, "iov[0] is not hdr");
	for (unsigned i = 0; i < o->niov; i++)
		total += (uint32_t)o->iov[i].iov_len;
	FUZZ_CHECK(total == o->len, "iov total %u != len %u", total, o->len);
	buf = malloc(total ? total : 1);
	FUZZ_CHECK(buf, "out of memory");
	total = 0;
	for (unsigned i = 0; i < o->niov; i++) {
		memcpy(buf + total, o->iov[i].iov_base, o->iov[i].iov_len);
		total += (uint32_t)o->iov[i].iov_len;
	}
	*len = total;
	return buf;
}

/* The right edge of the window we offered on each connection (RFC 9293
 * §3.8.6.2.2: it never moves back), a few connections remembered. */
static void check_edge(const struct tcp_seg *seg)
{
	struct edge *edges = E->edges;
	struct core *core = E->core;
	const struct tcp_conn *c;
	uint32_t right, slack;
	struct edge *e = NULL;

	if (!(seg->flags & TCP_ACK) || (seg->flags & (TCP_SYN | TCP_RST)))
		return;
	c = ctab_lookup(core,
			flow_hash(core->cfg.flow_key, seg->daddr, seg->dport,
				  seg->saddr, seg->sport),
			seg->daddr, seg->dport, seg->sport);
	if (!c)
		return;
	right = seg->ack + ((uint32_t)seg->wnd
			    << (c->flags & TF_WSCALE ? c->rcv_wscale : 0));
	/* The scaled field rounds the window down: the edge may seem to
	 * move back by less than one unit of the scale. */
	slack = c->flags & TF_WSCALE ? (1u << c->rcv_wscale) - 1 : 0;
	for (unsigned i = 0; i < FZ_EDGES; i++)
		if (edges[i].c == c && edges[i].iss == c->iss &&
		    edges[i].irs == c->irs)
			e = &edges[i];
	if (!e) {
		e = &edges[E->next_edge++ % FZ_EDGES];
		e->c = c;
		e->iss = c->iss;
		e->irs = c->irs;
		e->right = right;
		return;
	}
	FUZZ_CHECK(seq_geq(right + slack, e->right),
		   "%s: offered window shrank: right edge %u, was %u",
		   tcp_state_name((enum tcp_state)c->state), right, e->right);
	e->right = seq_max(e->right, right);
}

/* What tundra sends must be a valid datagram from us to the peer. */
static void check_sent(const struct core_out *o, const uint8_t *buf,
		       uint32_t len)
{
	struct ip_view ip;
	struct tcp_seg seg;
	enum drop_reason r = ipv4_parse(buf, len, &ip);

	FUZZ_CHECK(r == DROP_NONE, "tundra sent a bad datagram: %s",
		   drop_name(r));
	FUZZ_CHECK(ip.saddr == FZ_OUR && ip.hdr_len + ip.l4_len == len,
		   "source / length");
	if (ip.proto == IPPROTO_ICMP_) {
		FUZZ_CHECK(csum(ip.l4, ip.l4_len) == 0 &&
				   ip.l4[0] == ICMP_ECHO_REPLY,
			   "bad echo reply");
		return;
	}
	FUZZ_CHECK(ip.proto == IPPROTO_TCP_, "proto %u", ip.proto);
	r = tcp_parse(&ip, &seg);
	FUZZ_CHECK(r == DROP_NONE, "tundra sent a bad segment: %s",
		   drop_name(r));
	check_edge(&seg);
	if (seg.len) {
		const struct tcp_conn *c = o->conn;
		uint32_t off;

		FUZZ_CHECK(c, "payload without a connection");
		FUZZ_CHECK(!(seg.flags & TCP_SYN), "data on a SYN");
		off = seg.seq - (c->iss + 1);
		for (uint32_t i = 0; i < seg.len; i++)
			FUZZ_CHECK(seg.data[i] == pat_tx(off + i),
				   "sent byte at stream offset %u is %u, "
				   "want %u",
				   off + i, seg.data[i], pat_tx(off + i));
	}
}

static void fe_send(void *ctx, struct core_out *o)
{
	unsigned i = desc_index(o);

	FUZZ_CHECK(ctx == E, "env ctx");
	for (unsigned k = 0; k < E->nheld; k++)
		FUZZ_CHECK(E->held[k] != o, "descriptor sent twice");
	E->copy[i] = gather(o, &E->copy_len[i]);
	check_sent(o, E->copy[i], E->copy_len[i]);
	E->held[E->nheld++] = o;
	E->sent++;
}

static const struct core_listener *fe_lookup(void *ctx, uint16_t port)
{
	FUZZ_CHECK(ctx == E, "env ctx");
	return port == FZ_PORT_A || port == FZ_PORT_B ? &E->lst : NULL;
}

/* Hand held descriptor k back; its payload must be as it was sent. */
static void tx_done(unsigned k)
{
	struct core_out *o = E->held[k];
	unsigned i = desc_index(o);
	uint32_t len;
	uint8_t *now = gather(o, &len);

	FUZZ_CHECK(len == E->copy_len[i] && !memcmp(now, E->copy[i], len),
		   "a datagram changed while the transmitter held it");
	free(now);
	free(E->copy[i]);
	E->copy[i] = NULL;
	memmove(&E->held[k], &E->held[k + 1],
		(E->nheld - k - 1) * sizeof(E->held[0]));
	E->nheld--;
	E->used[i] = false;
	core_tx_done(E->core, o);
}

static void tx_done_all(bool reverse)
{
	while (E->nheld)
		tx_done(reverse ? E->nheld - 1 : 0);
}

/* ---- invariants ------------------------------------------------------- */

static unsigned held_refs(const struct tcp_conn *c)
{
	unsigned n = 0;

	for (unsigned k = 0; k < E->nheld; k++)
		n += E->held[k]->conn == c;
	return n;
}

#define FZ_LIST_MAX 4096
static bool on_list(struct tcp_conn *const *l, unsigned n,
		    const struct tcp_conn *c)
{
	for (unsigned i = 0; i < n; i++)
		if (l[i] == c)
			return true;
	return false;
}

static void check_conn(struct core *core, struct tcp_conn *c,
		       struct tcp_conn *const *listed, unsigned nlisted)
{
	const char *st = tcp_state_name((enum tcp_state)c->state);
	uint32_t data_end = c->snd_buf_seq + tcp_snd(c)->len;
	bool fin_sent = c->flags & TF_FIN_SENT;
	const struct bbuf *rb = tcp_rcv(c);
	uint32_t rcap = rb->mem ? bbuf_cap(rb) : core->rcvbuf_cap;
	uint64_t at = 0;
	const uint64_t t[] = { tcp_dl_ns(c->rto_at, core->now),
			       tcp_dl_ns(c->dack_at, core->now), tcp_ka_at(c),
			       tcp_dl_ns(c->pto_at, core->now) };

	FUZZ_CHECK(c->state >= TCPS_SYN_SENT && c->state < TCPS__COUNT,
		   "state %u in the table", c->state);
	FUZZ_CHECK(!(c->flags & TF_DEAD), "dead connection in the table");
	FUZZ_CHECK(tcp_core(c) == core, "core pointer");
	FUZZ_CHECK(tcp_tx_inflight(c) == held_refs(c),
		   "tx_inflight %u but %u descriptors point into it",
		   tcp_tx_inflight(c), held_refs(c));
	if (c->flags & TF_IN_FLUSH)
		FUZZ_CHECK(on_list(listed, nlisted, c),
			   "TF_IN_FLUSH but on no list");

	/* Send sequence space (RFC 9293 §3.3.1). */
	FUZZ_CHECK(seq_leq(c->snd_una, c->snd_nxt), "%s: una %u > nxt %u", st,
		   c->snd_una, c->snd_nxt);
	FUZZ_CHECK(seq_leq(c->snd_nxt, c->snd_max), "%s: nxt %u > max %u", st,
		   c->snd_nxt, c->snd_max);
	FUZZ_CHECK(seq_leq(c->snd_max, data_end + fin_sent),
		   "%s: max %u beyond the data (end %u, fin %d)", st,
		   c->snd_max, data_end, fin_sent);
	FUZZ_CHECK(seq_geq(c->snd_buf_seq, c->iss + 1), "%s: buf_seq %u < iss",
		   st, c->snd_buf_seq);
	if (c->state == TCPS_SYN_SENT || c->state == TCPS_SYN_RECEIVED) {
		FUZZ_CHECK(c->snd_una == c->iss, "%s: una %u != iss %u", st,
			   c->snd_una, c->iss);
		FUZZ_CHECK(!fin_sent && !tcp_snd(c)->len, "%s: data or FIN",
			   st);
	} else {
		FUZZ_CHECK(seq_gt(c->snd_una, c->iss), "%s: SYN not acked", st);
		FUZZ_CHECK(seq_leq(c->snd_buf_seq, c->snd_una),
			   "%s: buf_seq %u past una %u", st, c->snd_buf_seq,
			   c->snd_una);
	}
	FUZZ_CHECK(fin_sent == (c->state >= TCPS_FIN_WAIT_1),
		   "%s with FIN_SENT %d", st, fin_sent);
	if (c->state >= TCPS_FIN_WAIT_2)
		FUZZ_CHECK(c->snd_una == data_end + 1,
			   "%s: FIN not acked (una %u, end %u)", st, c->snd_una,
			   data_end);

	/* Buffers. */
	FUZZ_CHECK(tcp_snd(c)->len <= bbuf_cap(tcp_snd(c)), "sndbuf len > cap");
	FUZZ_CHECK(tcp_rcv(c)->len <= bbuf_cap(tcp_rcv(c)), "rcvbuf len > cap");
	FUZZ_CHECK(!tcp_snd(c)->mem || bbuf_cap(tcp_snd(c)) == core->sndbuf_cap,
		   "sndbuf cap %u", bbuf_cap(tcp_snd(c)));
	FUZZ_CHECK(!tcp_rcv(c)->mem || bbuf_cap(tcp_rcv(c)) == core->rcvbuf_cap,
		   "rcvbuf cap %u", bbuf_cap(tcp_rcv(c)));

	/* Receive sequence space, once the peer's SYN is known. */
	if (c->state != TCPS_SYN_SENT) {
		bool rfin = c->flags & TF_RCVD_FIN;
		uint32_t wnd = seq_gt(c->rcv_adv, c->rcv_nxt) ?
				       c->rcv_adv - c->rcv_nxt :
				       0;
		uint32_t wmax = c->flags & TF_WSCALE ? 65535u << c->rcv_wscale :
						       65535u;

		FUZZ_CHECK(rfin == TCPS_HAVE_RCVD_FIN(c->state),
			   "%s with RCVD_FIN %d", st, rfin);
		FUZZ_CHECK(c->rcv_nxt - c->irs - 1 ==
				   tcp_bytes_received(c) + rfin,
			   "%s: rcv_nxt %u irs %u but %llu bytes received", st,
			   c->rcv_nxt, c->irs,
			   (unsigned long long)tcp_bytes_received(c));
		FUZZ_CHECK(tcp_rcv(c)->len <= tcp_bytes_received(c),
			   "rcvbuf.len");
		FUZZ_CHECK(seq_leq(c->rcv_nxt, c->rcv_adv + rfin),
			   "%s: rcv_nxt %u past the advertised edge %u", st,
			   c->rcv_nxt, c->rcv_adv);
		/* Every byte we accept has its place in the buffer. */
		FUZZ_CHECK(wnd <= rcap - tcp_rcv(c)->len,
			   "%s: window %u beyond free space %u", st, wnd,
			   rcap - tcp_rcv(c)->len);
		FUZZ_CHECK(wnd <= wmax, "%s: window %u > field max %u", st, wnd,
			   wmax);
		FUZZ_CHECK(seq_geq(c->rcv_nxt, c->last_ack_sent),
			   "%s: last_ack_sent %u past rcv_nxt %u", st,
			   c->last_ack_sent, c->rcv_nxt);
	}
	if (tcp_ooo(c)) {
		const struct tcp_ooo *o = tcp_ooo(c);

		FUZZ_CHECK(o->n <= TCP_OOO_MAX, "ooo n %u", o->n);
		FUZZ_CHECK(o->n || o->has_fin, "empty ooo kept");
		FUZZ_CHECK(tcp_rcv(c)->mem || !o->n, "ooo without rcvbuf");
		for (unsigned i = 0; i < o->n; i++) {
			FUZZ_CHECK(seq_lt(o->blk[i].start, o->blk[i].end),
				   "ooo block %u empty", i);
			FUZZ_CHECK(seq_gt(o->blk[i].start, c->rcv_nxt),
				   "ooo block %u [%u,%u) not past rcv_nxt %u",
				   i, o->blk[i].start, o->blk[i].end,
				   c->rcv_nxt);
			FUZZ_CHECK(o->blk[i].end - c->rcv_nxt <=
					   rcap - tcp_rcv(c)->len,
				   "ooo block %u ends outside the rcvbuf", i);
			if (i)
				FUZZ_CHECK(seq_lt(o->blk[i - 1].end,
						  o->blk[i].start),
					   "ooo blocks %u,%u unsorted or "
					   "touching",
					   i - 1, i);
		}
		if (o->has_fin)
			FUZZ_CHECK(seq_gt(o->fin_seq, c->rcv_nxt),
				   "held FIN %u not past rcv_nxt %u",
				   o->fin_seq, c->rcv_nxt);
	}

	/* Timers: in the heap exactly when a deadline is armed, keyed by
	 * the earliest; retransmission armed while anything is
	 * outstanding. */
	for (unsigned i = 0; i < ARRAY_SIZE(t); i++)
		if (t[i] && (!at || t[i] < at))
			at = t[i];
	FUZZ_CHECK((c->heap_idx >= 0) == (at != 0),
		   "%s: heap_idx %d with earliest deadline %llu", st,
		   c->heap_idx, (unsigned long long)at);
	if (at) {
		FUZZ_CHECK((uint32_t)c->heap_idx < core->heap_len &&
				   core->heap[c->heap_idx].c == c,
			   "heap slot");
		FUZZ_CHECK(theap_at(core, c) == at, "heap key %llu != %llu",
			   (unsigned long long)theap_at(core, c),
			   (unsigned long long)at);
	}
	/* In TIME-WAIT the retransmission deadline times its end. */
	if (c->state == TCPS_TIME_WAIT)
		FUZZ_CHECK(c->rto_at && c->snd_una == c->snd_max,
			   "%s: rto_at %u, snd_una %u snd_max %u", st,
			   c->rto_at, c->snd_una, c->snd_max);
	if (c->snd_una != c->snd_max)
		FUZZ_CHECK(c->rto_at, "%s: %u bytes outstanding, no timer", st,
			   c->snd_max - c->snd_una);
	FUZZ_CHECK(!!(c->flags & TF_KEEPALIVE) == !!tcp_ka(c),
		   "%s: TF_KEEPALIVE %d, keep-alive state %p", st,
		   !!(c->flags & TF_KEEPALIVE), (void *)tcp_ka(c));
	/* The undo state exists exactly while an undo is possible. */
	FUZZ_CHECK(!!(c->rec & REC_UNDO) == !!tcp_undo(c),
		   "%s: REC_UNDO %d, undo state %p", st, !!(c->rec & REC_UNDO),
		   (void *)tcp_undo(c));
	/* The side structure exists exactly while it holds something:
	 * a structure, a D-SACK block, or recovery state... */
	if (c->side)
		FUZZ_CHECK(c->side->undo || c->side->ka || c->side->sb ||
				   c->side->ooo || (c->flags & TF_DSACK) ||
				   (c->rec & REC_SIDE),
			   "%s: an empty side structure (rec %#x)", st, c->rec);
	else
		FUZZ_CHECK(!(c->flags & TF_DSACK) && !(c->rec & REC_SIDE),
			   "%s: D-SACK %d or rec %#x without the side "
			   "structure", st, !!(c->flags & TF_DSACK), c->rec);
	/* ... so a connection with everything acknowledged and nothing
	 * held has none: recovery, retransmissions, the probe are over. */
	if (c->snd_una == c->snd_max && TCPS_HAVE_ESTABLISHED(c->state))
		FUZZ_CHECK(!(c->rec & REC_SIDE),
			   "%s: all acknowledged, rec %#x", st, c->rec);

	/* The app holds exactly the connections with TF_APP. */
	FUZZ_CHECK(!!(c->flags & TF_APP) ==
			   (app_index((struct tundra_conn *)c) >= 0),
		   "%s: TF_APP %d vs app list", st, !!(c->flags & TF_APP));
}

static void check_core(bool timers_ran)
{
	struct core *core = E->core;
	struct tcp_conn *listed[FZ_LIST_MAX];
	unsigned nlisted = 0, n = 0;
	struct tcp_conn *c;

	for (c = core->flush_head; c; c = c->flush_next) {
		FUZZ_CHECK(nlisted < FZ_LIST_MAX, "flush list loops");
		FUZZ_CHECK(c->flags & TF_IN_FLUSH, "listed without flag");
		listed[nlisted++] = c;
	}
	for (c = core->blocked_head; c; c = c->flush_next) {
		FUZZ_CHECK(nlisted < FZ_LIST_MAX, "blocked list loops");
		FUZZ_CHECK(c->flags & TF_IN_FLUSH, "blocked without flag");
		listed[nlisted++] = c;
	}
	for (unsigned i = 0; i < nlisted; i++) {
		FUZZ_CHECK(!on_list(listed, i, listed[i]), "listed twice");
		if (listed[i]->flags & TF_DEAD)
			FUZZ_CHECK(listed[i]->heap_idx < 0, "dead in heap");
	}

	for (uint32_t i = 0; i < core->heap_len; i++) {
		FUZZ_CHECK(core->heap[i].c->heap_idx == (int32_t)i, "heap idx");
		FUZZ_CHECK(!(core->heap[i].c->flags & TF_DEAD), "dead in heap");
		FUZZ_CHECK(core->heap[i].at, "unarmed in heap");
		if (i)
			FUZZ_CHECK(core->heap[(i - 1) / 2].at <=
					   core->heap[i].at,
				   "heap order");
	}
	if (timers_ran && core->heap_len)
		FUZZ_CHECK(core->heap[0].at > E->now,
			   "a deadline passed but did not fire");

	for (uint32_t b = 0; b < core->nbuckets; b++)
		for (c = core->buckets[b]; c; c = c->hnext) {
			FUZZ_CHECK((flow_hash(core->cfg.flow_key, c->raddr,
					      c->rport, core->cfg.addr,
					      c->lport) &
				    (core->nbuckets - 1)) == b,
				   "wrong bucket");
			check_conn(core, c, listed, nlisted);
			n++;
		}
	FUZZ_CHECK(n == core->nconns, "table holds %u, nconns %u", n,
		   core->nconns);
	FUZZ_CHECK(core->heap_len <= n, "heap larger than the table");
	FUZZ_CHECK(E->napp <= n, "app holds %u of %u", E->napp, n);
}

/* Right after core_flush: nothing left to do, and unless output is
 * blocked on descriptors, every ACK, SACK or RST asked for went out. */
static void check_flushed(void)
{
	struct core *core = E->core;

	FUZZ_CHECK(!core->flush_head, "work left after core_flush");
	if (core->blocked_head)
		return;
	for (uint32_t b = 0; b < core->nbuckets; b++)
		for (struct tcp_conn *c = core->buckets[b]; c; c = c->hnext)
			FUZZ_CHECK(!(c->flags & (TF_ACK_NOW | TF_SACK_NOW |
						 TF_SEND_RST | TF_IN_FLUSH)),
				   "%s: flags %#x still set after the flush",
				   tcp_state_name((enum tcp_state)c->state),
				   c->flags);
}

/* ---- setup ------------------------------------------------------------ */

static void fenv_init(struct fenv *e, uint8_t cfgbyte)
{
	static const uint16_t mtus[4] = { 296, 576, 1500, 9000 };

	memset(e, 0, sizeof(*e));
	E = e;
	e->cfg.addr = FZ_OUR;
	e->cfg.mtu = mtus[(cfgbyte >> 3) & 3];
	e->cfg.sndbuf = cfgbyte & 2 ? 65536 : 4096;
	e->cfg.rcvbuf = cfgbyte & 1 ? 262144 : 4096;
	e->cfg.time_wait_ns = 2 * FZ_SEC;
	e->cfg.rto_min_ns = 200 * FZ_MS;
	e->cfg.rto_max_ns = 4 * FZ_SEC;
	e->cfg.max_retries = 2 + ((cfgbyte >> 5) & 3);
	e->cfg.delack_ns = cfgbyte & 4 ? 40 * FZ_MS : 0;
	memset(e->cfg.flow_key, 0x11, sizeof(e->cfg.flow_key));
	memset(e->cfg.iss_key, 0x22, sizeof(e->cfg.iss_key));
	e->cfg.worker_id = 0;
	e->cfg.nworkers = 1;
	e->env.ctx = e;
	e->env.out_alloc = fe_alloc;
	e->env.out_send = fe_send;
	e->env.listener_lookup = fe_lookup;
	e->lst.app = &fapp;
	e->lst.arg = e;
	e->out_max = FZ_NDESC;
	e->app_consume = true;
	e->now = 1 * FZ_SEC;
	e->core = core_create(&e->cfg, &e->env);
	FUZZ_CHECK(e->core, "core_create");
}

/* Everything back, then free: LeakSanitizer reports what the core kept. */
static void fenv_fini(struct fenv *e)
{
	tx_done_all(false);
	check_core(false);
	core_destroy(e->core);
	for (unsigned i = 0; i < FZ_NDESC; i++)
		FUZZ_CHECK(!e->copy[i], "copy left");
	E = NULL;
}

#endif
