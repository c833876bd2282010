/*
 * tcp.c — TCP scenarios over the two-core simulator (sim.h): handshake,
 * simultaneous open, bulk transfer each way, bidirectional, half-close,
 * simultaneous close, zero-window stall, RST in the middle, and a clean-link
 * baseline; each over many seeds, the link and the stack's configuration
 * varying with the seed. Built into build/tests/sim_tcp; see README.md.
 *
 *   sim_tcp [--scenario NAME|all] [--seed N | --seeds N [--first N]] [-v]
 *
 * SIM_SEEDS (environment) sets the default number of seeds per scenario.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef TUNDRA_SANITIZE
#include <sanitizer/common_interface_defs.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif
#endif

#include "sim.h"

#define KiB ((uint64_t)1024)
#define MiB ((uint64_t)1024 * 1024)
#define LISTEN_PORT 5000
#define UNBOUNDED ((uint64_t)1 << 50)
#define STALL_MAX (1500 * SIM_SEC)
#ifdef TUNDRA_SANITIZE
#define DEFAULT_SEEDS 100 /* sanitizers make a run 3-8 times slower */
#else
#define DEFAULT_SEEDS 200
#endif
#define EPHEMERAL_LO 32768 /* as in core.c */
#define EPHEMERAL_HI 60999

/* ---- the test app ---------------------------------------------------- */

enum close_mode {
	CL_NEVER,       /* never closes (RST scenario) */
	CL_AFTER_TX,    /* close once everything is written */
	CL_AFTER_TX_EOF /* ... and the peer's FIN was read */,
	CL_HOOK,        /* a sim hook closes it */
};

struct run;

struct ep {
	struct run *run;
	int idx;
	char name;
	struct tundra_conn *c;
	struct tcp_conn *connecting; /* from core_connect, until accepted */

	uint64_t tx_key, rx_key; /* stream patterns */
	uint64_t tx_total, tx_done;
	uint64_t rx_expect, rx_done;
	enum close_mode close_mode;
	bool tx_after_eof;  /* start writing once the peer's FIN is read */
	unsigned chunk;     /* write at most this much per call */
	unsigned pieces;    /* consume in up to this many pieces */
	bool nodelay;

	uint64_t stall_at;  /* stop reading here ... */
	uint64_t stall_ns;  /* ... for this long (0: never) */
	bool stalled, stall_done;
	uint64_t stall_start, stall_zw; /* when, and zero windows seen then */
	uint64_t abort_at;  /* abort once this much was read */

	/* what happened */
	int n_accepted, n_closed, err;
	bool eof, app_closed, aborted;
	uint64_t rx_after_close; /* bytes read after our close (half) */
	uint64_t t_accepted, t_closed;

	/* what should */
	int expect_err;
	bool expect_eof;
};

struct run {
	const struct scenario *sc;
	uint64_t seed;
	struct sim sim;
	struct core_config cfg[2];
	struct sim_opts opts;
	struct ep ep[2];
	uint8_t *scratch; /* pattern generation */
	size_t scratch_len;
	uint16_t port;
	uint64_t hook_delay; /* simclose: when both close */
};

static struct run *R; /* the run in progress (callbacks have no arg) */

static void pattern(uint64_t key, uint64_t off, uint8_t *dst, size_t n)
{
	while (n) {
		uint64_t w = sim_mix64(key ^ ((off >> 3) * 0x9e3779b97f4a7c15ull));
		unsigned b = (unsigned)(off & 7);

		for (; b < 8 && n; b++, n--, off++)
			*dst++ = (uint8_t)(w >> (8 * b));
	}
}

static uint8_t *scratch(size_t n)
{
	if (R->scratch_len < n) {
		free(R->scratch);
		R->scratch_len = n < 64 * KiB ? 64 * KiB : n;
		R->scratch = malloc(R->scratch_len);
		if (!R->scratch)
			abort();
	}
	return R->scratch;
}

static struct ep *EP(struct tundra_conn *c)
{
	struct ep *e = (struct ep *)(uintptr_t)tundra_conn_app_data(c)[0];

	if (e)
		return e;
	for (int i = 0; i < 2; i++)
		if ((struct tundra_conn *)R->ep[i].connecting == c)
			return &R->ep[i];
	sim_fail(&R->sim, "callback for a connection no endpoint knows");
	return NULL;
}

static void ep_trace(struct ep *e, const char *what)
{
	sim_trace(&R->sim, "%c: %s (tx %" PRIu64 "/%" PRIu64 " rx %" PRIu64
			   ")",
		  e->name, what, e->tx_done, e->tx_total, e->rx_done);
}

static void maybe_close(struct ep *e)
{
	if (!e->c || e->app_closed)
		return;
	if (e->tx_done != e->tx_total)
		return;
	if (e->close_mode == CL_AFTER_TX ||
	    (e->close_mode == CL_AFTER_TX_EOF && e->eof)) {
		e->app_closed = true;
		ep_trace(e, "close()");
		tundra_conn_close(e->c);
	}
}

static void pump(struct ep *e)
{
	if (!e->c || e->app_closed)
		return;
	if (e->tx_after_eof && !e->eof)
		return;
	while (e->tx_done < e->tx_total) {
		size_t space = tundra_conn_write_space(e->c);
		uint64_t n = e->tx_total - e->tx_done;
		size_t got;
		uint8_t *buf;

		if (n > e->chunk)
			n = e->chunk;
		if (n > space)
			n = space;
		if (!n)
			break;
		buf = scratch(n);
		pattern(e->tx_key, e->tx_done, buf, n);
		got = tundra_conn_write(e->c, buf, n);
		if (got > n) {
			sim_fail(&R->sim, "%c: write took %zu of %" PRIu64,
				 e->name, got, n);
			return;
		}
		e->tx_done += got;
		if (got < n) {
			sim_fail(&R->sim,
				 "%c: write took %zu of %" PRIu64
				 " though write_space said %zu",
				 e->name, got, n, space);
			return;
		}
	}
	maybe_close(e);
}

static void on_resume(struct sim *s, void *arg);

/* Read (and check) everything there is. Called from readable, and from a
 * hook when a stall ends. */
static void do_read(struct ep *e)
{
	struct tundra_conn *c = e->c;

	if (!c || e->stalled)
		return;
	for (unsigned piece = 0; c; piece++) {
		struct iovec iov[2];
		size_t n = tundra_conn_peek(c, iov), take, got = 0, sum = 0;
		uint8_t *want;

		if (!n)
			break;
		for (int i = 0; i < 2 && sum < n; i++)
			sum += iov[i].iov_len;
		if (sum != n) {
			sim_fail(&R->sim, "%c: peek views add up to %zu, not %zu",
				 e->name, sum, n);
			return;
		}
		if (e->rx_done + n > e->rx_expect) {
			sim_fail(&R->sim,
				 "%c: received %" PRIu64 " bytes, more than "
				 "the %" PRIu64 " sent",
				 e->name, e->rx_done + n, e->rx_expect);
			return;
		}
		take = n;
		if (piece + 1 < e->pieces && n > 1)
			take = 1 + sim_below(&R->sim.rng, n);
		if (e->stall_ns && !e->stall_done &&
		    e->rx_done + take > e->stall_at)
			take = e->stall_at > e->rx_done
				       ? e->stall_at - e->rx_done
				       : 0;
		want = scratch(take);
		pattern(e->rx_key, e->rx_done, want, take);
		for (int i = 0; i < 2 && got < take; i++) {
			size_t l = iov[i].iov_len < take - got
					   ? iov[i].iov_len
					   : take - got;
			if (memcmp(iov[i].iov_base, want + got, l)) {
				size_t k = 0;
				while (((uint8_t *)iov[i].iov_base)[k] ==
				       want[got + k])
					k++;
				sim_fail(&R->sim,
					 "%c: stream byte %" PRIu64
					 " is %02x, want %02x",
					 e->name, e->rx_done + got + k,
					 ((uint8_t *)iov[i].iov_base)[k],
					 want[got + k]);
				return;
			}
			got += l;
		}
		if (take)
			tundra_conn_consume(c, take);
		e->rx_done += take;
		if (e->app_closed)
			e->rx_after_close += take;
		if (e->rx_done >= e->abort_at && !e->aborted) {
			e->aborted = true;
			ep_trace(e, "abort()");
			tundra_conn_abort(c);
			if (e->n_closed != 1 || e->c)
				sim_fail(&R->sim,
					 "%c: abort did not call closed "
					 "(closed %d times)",
					 e->name, e->n_closed);
			return;
		}
		if (e->stall_ns && !e->stall_done &&
		    e->rx_done >= e->stall_at) {
			e->stalled = e->stall_done = true;
			e->stall_start = R->sim.now;
			e->stall_zw = R->sim.ls[e->idx].zero_windows;
			ep_trace(e, "stops reading");
			sim_hook(&R->sim, (unsigned)e->idx,
				 R->sim.now + e->stall_ns, on_resume, e);
			return;
		}
	}
	if (c && !e->eof && tundra_conn_eof(c)) {
		e->eof = true;
		ep_trace(e, "EOF");
		pump(e);
		maybe_close(e);
	}
}

static void on_resume(struct sim *s, void *arg)
{
	struct ep *e = arg;

	/* The stall lasts stall_ns after the window closed (at most
	 * STALL_MAX): a lossy link may take long to fill a big window. */
	if (s->ls[e->idx].zero_windows == e->stall_zw &&
	    s->now - e->stall_start < STALL_MAX) {
		sim_hook(s, (unsigned)e->idx, s->now + e->stall_ns, on_resume,
			 e);
		return;
	}
	e->stalled = false;
	ep_trace(e, "reads again");
	/* Outside any callback of the connection: the worker would do this
	 * from another callback of the same worker. */
	do_read(e);
}

static void on_simclose(struct sim *s, void *arg)
{
	(void)s;
	(void)arg;
	for (int i = 0; i < 2; i++) {
		struct ep *e = &R->ep[i];

		if (e->c && !e->app_closed) {
			if (e->tx_done != e->tx_total)
				sim_fail(&R->sim,
					 "%c: simultaneous close before all "
					 "was written",
					 e->name);
			e->app_closed = true;
			ep_trace(e, "close() (simultaneous)");
			tundra_conn_close(e->c);
		}
	}
}

static int app_accepted(struct tundra_conn *c, void *arg)
{
	struct ep *e = arg;

	tundra_conn_app_data(c)[0] = (uint64_t)(uintptr_t)e;
	e->n_accepted++;
	if (e->n_accepted > 1) {
		sim_fail(&R->sim, "%c: accepted a second connection", e->name);
		return -ECONNREFUSED;
	}
	e->c = c;
	e->connecting = NULL;
	e->t_accepted = R->sim.now;
	ep_trace(e, "accepted");
	if (e->nodelay)
		tundra_conn_set_nodelay(c, true);
	if (R->hook_delay && R->ep[!e->idx].c)
		sim_hook(&R->sim, 2, R->sim.now + R->hook_delay, on_simclose,
			 NULL);
	pump(e);
	return 0;
}

static void app_readable(struct tundra_conn *c)
{
	struct ep *e = EP(c);

	if (!e)
		return;
	if (e->c != c) {
		sim_fail(&R->sim, "%c: readable for a connection not its own",
			 e->name);
		return;
	}
	do_read(e);
}

static void app_writable(struct tundra_conn *c)
{
	struct ep *e = EP(c);

	if (!e)
		return;
	if (e->c != c) {
		sim_fail(&R->sim, "%c: writable for a connection not its own",
			 e->name);
		return;
	}
	pump(e);
}

static void app_closed(struct tundra_conn *c, int err)
{
	struct ep *e = EP(c);
	char b[64];

	if (!e)
		return;
	e->n_closed++;
	e->err = err;
	e->c = NULL;
	e->connecting = NULL;
	e->t_closed = R->sim.now;
	snprintf(b, sizeof(b), "closed(%d)", err);
	ep_trace(e, b);
	if (e->n_closed > 1)
		sim_fail(&R->sim, "%c: closed called %d times", e->name,
			 e->n_closed);
}

static const struct tundra_app sim_app = {
	.name = "sim",
	.accepted = app_accepted,
	.readable = app_readable,
	.writable = app_writable,
	.closed = app_closed,
};

/* ---- scenarios ------------------------------------------------------- */

struct scenario {
	const char *name;
	const char *what;
	void (*setup)(struct run *r, struct sim_rng *g);
	bool clean;  /* the clean-link baseline */
	bool simopen;
	/* Loss-recovery scenarios: their own link, and a bound on what
	 * the sender retransmits (see check_rexmit). */
	void (*link)(struct sim_rng *g, struct sim_link_params *l);
	unsigned reorder_pct; /* retransmissions allowed for reordering */
};

/* Both endpoints: send tx bytes each way (A: a, B: b). */
static void streams(struct run *r, uint64_t a, uint64_t b)
{
	r->ep[0].tx_total = r->ep[1].rx_expect = a;
	r->ep[1].tx_total = r->ep[0].rx_expect = b;
}

/* 1-4 MiB, less with small buffers: without fast retransmit a lossy
 * link moves about one window per RTO. */
static uint64_t bulk_size(struct run *r, struct sim_rng *g)
{
	uint64_t n = sim_range(g, 1 * MiB, 4 * MiB) + sim_below(g, 1500);
	uint64_t w = 64 * (uint64_t)r->cfg[0].sndbuf;

	for (int i = 0; i < 2; i++) {
		if (64 * (uint64_t)r->cfg[i].sndbuf < w)
			w = 64 * (uint64_t)r->cfg[i].sndbuf;
		if (64 * (uint64_t)r->cfg[i].rcvbuf < w)
			w = 64 * (uint64_t)r->cfg[i].rcvbuf;
	}
	return n < w ? n : w + sim_below(g, 1500);
}

static void sc_handshake(struct run *r, struct sim_rng *g)
{
	(void)g;
	streams(r, 0, 0);
	r->ep[0].close_mode = CL_AFTER_TX;
	r->ep[1].close_mode = CL_AFTER_TX_EOF;
}

static void sc_bulk_ab(struct run *r, struct sim_rng *g)
{
	streams(r, bulk_size(r, g), 0);
	r->ep[0].close_mode = CL_AFTER_TX;
	r->ep[1].close_mode = CL_AFTER_TX_EOF;
}

static void sc_bulk_ba(struct run *r, struct sim_rng *g)
{
	streams(r, 0, bulk_size(r, g));
	r->ep[1].close_mode = CL_AFTER_TX;
	r->ep[0].close_mode = CL_AFTER_TX_EOF;
}

static void sc_bidir(struct run *r, struct sim_rng *g)
{
	streams(r, bulk_size(r, g) / 2, bulk_size(r, g) / 2);
	r->ep[0].close_mode = CL_AFTER_TX;
	r->ep[1].close_mode = CL_AFTER_TX;
}

static void sc_halfclose(struct run *r, struct sim_rng *g)
{
	streams(r, sim_below(g, 256 * KiB), sim_range(g, 1, 1 * MiB));
	r->ep[0].close_mode = CL_AFTER_TX;
	r->ep[1].close_mode = CL_AFTER_TX;
	r->ep[1].tx_after_eof = true; /* all of B's data after A's FIN */
}

static void sc_simclose(struct run *r, struct sim_rng *g)
{
	/* What each writes fits its send buffer: all written at accept. */
	uint64_t a = sim_below(g, r->cfg[0].sndbuf < 4096 ? 4096
							  : r->cfg[0].sndbuf);
	uint64_t b = sim_below(g, r->cfg[1].sndbuf < 4096 ? 4096
							  : r->cfg[1].sndbuf);

	streams(r, a, b);
	r->ep[0].close_mode = r->ep[1].close_mode = CL_HOOK;
	r->hook_delay = 1 + sim_below(g, 300 * SIM_MS);
}

static void sc_zerowin(struct run *r, struct sim_rng *g)
{
	uint64_t rcv = r->cfg[1].rcvbuf, snd = r->cfg[0].sndbuf;
	uint64_t at = sim_below(g, 512 * KiB);

	/* Enough behind the stall point to fill B's window and A's
	 * buffer. */
	streams(r, at + 2 * (rcv + snd) + sim_range(g, 1, 1 * MiB), 0);
	r->ep[0].close_mode = CL_AFTER_TX;
	r->ep[1].close_mode = CL_AFTER_TX_EOF;
	r->ep[1].stall_at = at;
	r->ep[1].stall_ns = sim_range(g, 1 * SIM_SEC, 30 * SIM_SEC);
}

static void sc_rst(struct run *r, struct sim_rng *g)
{
	int who = (int)sim_below(g, 2);

	streams(r, UNBOUNDED, UNBOUNDED);
	r->ep[0].close_mode = r->ep[1].close_mode = CL_NEVER;
	r->ep[who].abort_at = sim_below(g, 512 * KiB);
	r->ep[who].expect_err = -ECONNABORTED;
	r->ep[!who].expect_err = -ECONNRESET;
	r->ep[0].expect_eof = r->ep[1].expect_eof = false;
}

/* The defences on a lossy link: every connection B accepts is made from a
 * SYN cookie (so its options survive the round trip through the cookie
 * and the timestamps, and a lost ACK is made up for by the data behind
 * it); out-of-order memory and challenge ACKs are tightly capped. */
static void sc_cookies(struct run *r, struct sim_rng *g)
{
	/* Enough to fill windows and force reassembly, small enough that
	 * the tight reass_mem (more go-back-N) does not cost much time. */
	streams(r, sim_range(g, 1, 256 * KiB), sim_range(g, 1, 256 * KiB));
	r->ep[0].close_mode = CL_AFTER_TX;
	r->ep[1].close_mode = CL_AFTER_TX;
	r->cfg[1].syncookies = CORE_SYNCOOKIES_ALWAYS;
	for (int i = 0; i < 2; i++) {
		r->cfg[i].reass_mem = sim_range(g, 4 * KiB, 256 * KiB);
		r->cfg[i].challenge_ack_limit =
			(uint32_t)sim_range(g, 1, 100);
		r->cfg[i].max_conns = 4;
		/* A TIME-WAIT of 3-8 s can end while the peer, on a link
		 * this lossy, still retransmits its FIN; its ACK then
		 * meets the listener. Without cookies that is a RST (the
		 * peer sees ECONNRESET), with cookies out it is a silent
		 * drop (ETIMEDOUT): both fail the run either way, and
		 * neither is what this scenario is about. 2 MSL of 30 s
		 * outlasts the peer's retries. */
		r->cfg[i].time_wait_ns = 30 * SIM_SEC;
	}
}

static void sc_simopen(struct run *r, struct sim_rng *g)
{
	streams(r, sim_below(g, 128 * KiB), sim_below(g, 128 * KiB));
	r->ep[0].close_mode = CL_AFTER_TX;
	r->ep[1].close_mode = CL_AFTER_TX_EOF;
}

/* ---- loss recovery (issue: loss recovery and congestion control) ---- */

/* A bulk transfer of a few MiB over buffers big enough for a window of
 * many segments, so loss recovery (not RTO) is what gets it through. */
static void sc_loss_bulk(struct run *r, struct sim_rng *g)
{
	for (int i = 0; i < 2; i++) {
		if (r->cfg[i].sndbuf < 64 * KiB)
			r->cfg[i].sndbuf = (uint32_t)(64 * KiB);
		if (r->cfg[i].rcvbuf < 64 * KiB)
			r->cfg[i].rcvbuf = (uint32_t)(64 * KiB);
		if (r->cfg[i].mtu < 1280)
			r->cfg[i].mtu = 1500;
	}
	streams(r, sim_range(g, 2 * MiB, 4 * MiB), 0);
	r->ep[0].close_mode = CL_AFTER_TX;
	r->ep[1].close_mode = CL_AFTER_TX_EOF;
}

/* The same at 20 % loss, 1 MiB: each segment needs 1.25 tries on
 * average, and timeouts are frequent. */
static void sc_loss_bulk_small(struct run *r, struct sim_rng *g)
{
	sc_loss_bulk(r, g);
	streams(r, sim_range(g, 512 * KiB, 1 * MiB), 0);
}

static void base_link(struct sim_rng *g, struct sim_link_params *l)
{
	memset(l, 0, sizeof(*l));
	l->delay_ns = sim_range(g, 1 * SIM_MS, 50 * SIM_MS);
}

static void link_loss1(struct sim_rng *g, struct sim_link_params *l)
{
	base_link(g, l);
	l->loss_ppm = 10000;
}

static void link_loss5(struct sim_rng *g, struct sim_link_params *l)
{
	base_link(g, l);
	l->loss_ppm = 50000;
}

static void link_loss20(struct sim_rng *g, struct sim_link_params *l)
{
	base_link(g, l);
	l->loss_ppm = 200000;
}

static void link_burst(struct sim_rng *g, struct sim_link_params *l)
{
	base_link(g, l);
	l->loss_ppm = 2000;
	l->burst_ppm = (uint32_t)sim_range(g, 1000, 5000);
	l->burst_ns = sim_range(g, 2 * SIM_MS, 30 * SIM_MS);
}

static void link_reorder(struct sim_rng *g, struct sim_link_params *l)
{
	base_link(g, l);
	l->loss_ppm = 5000;
	l->reorder_ppm = (uint32_t)sim_range(g, 50000, 300000);
	l->reorder_ns = sim_range(g, 1 * SIM_MS, 3 * l->delay_ns);
}

static void link_dupjitter(struct sim_rng *g, struct sim_link_params *l)
{
	base_link(g, l);
	l->loss_ppm = 10000;
	l->dup_ppm = (uint32_t)sim_range(g, 10000, 100000);
	l->jitter_ns = sim_range(g, 1 * SIM_MS, 10 * SIM_MS);
}

/* Spurious retransmissions allowed where the link reorders, in percent
 * of the transfer (see check_rexmit). `reorder` holds up to 30 % of the
 * datagrams for up to 3 one-way delays: without RACK's time-based loss
 * detection, up to ~20 % of such a transfer is resent before DupThresh
 * has learnt the path (measured over 200 seeds). */
#define REORDER_PCT 10
#define REORDER_PCT_HEAVY 25

static const struct scenario scenarios[] = {
	{"clean", "A->B bulk over a clean link: no loss, so no retransmission "
		  "and no drop", sc_bulk_ab, true, false, NULL, 0},
	{"handshake", "connect, accept, close, close", sc_handshake, false,
	 false, NULL, 0},
	{"simopen", "simultaneous open (both connect, crossed SYNs)",
	 sc_simopen, false, true, NULL, 0},
	{"bulk_ab", "bulk A->B, A closes first", sc_bulk_ab, false, false, NULL, 0},
	{"bulk_ba", "bulk B->A (the accepting side sends), B closes first",
	 sc_bulk_ba, false, false, NULL, 0},
	{"bidir", "bulk both ways at once", sc_bidir, false, false, NULL, 0},
	{"halfclose", "A sends and closes; B sends after A's FIN, then "
		      "closes", sc_halfclose, false, false, NULL, 0},
	{"simclose", "both close at the same instant (crossed FINs)",
	 sc_simclose, false, false, NULL, 0},
	{"zerowin", "B stops reading (zero window), then resumes",
	 sc_zerowin, false, false, NULL, 0},
	{"rst", "both stream; one aborts, the other must see ECONNRESET",
	 sc_rst, false, false, NULL, 0},
	{"loss1", "bulk A->B, 1% random loss both ways", sc_loss_bulk, false,
	 false, link_loss1, 0},
	{"loss5", "bulk A->B, 5% random loss both ways", sc_loss_bulk, false,
	 false, link_loss5, 0},
	{"loss20", "bulk A->B, 20% random loss both ways", sc_loss_bulk_small,
	 false, false, link_loss20, 0},
	{"burst", "bulk A->B, outages of up to 2-30 ms losing everything",
	 sc_loss_bulk, false, false, link_burst, 0},
	{"reorder", "bulk A->B, 5-30% of datagrams late by up to 3 delays, "
		    "0.5% loss", sc_loss_bulk, false, false, link_reorder,
	 REORDER_PCT_HEAVY},
	{"dupjitter", "bulk A->B, 1-10% duplicated, 1-10 ms jitter, 1% loss",
	 sc_loss_bulk, false, false, link_dupjitter, REORDER_PCT},
	{"cookies", "bulk both ways, B accepts through a SYN cookie; small "
		    "reass_mem, challenge-ACK limit and max_conns",
	 sc_cookies, false, false, NULL, 0},
};
#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

/* ---- per-seed variation ---------------------------------------------- */

static uint64_t pick(struct sim_rng *g, const uint64_t *v, size_t n)
{
	return v[sim_below(g, n)];
}
#define PICK(g, ...)                                                        \
	pick(g, (const uint64_t[]){__VA_ARGS__},                            \
	     sizeof((const uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t))

static void gen_link(struct sim_rng *g, struct sim_link_params *l, bool clean)
{
	memset(l, 0, sizeof(*l));
	l->delay_ns = sim_below(g, 50 * SIM_MS + 1);
	/* A sender with TSO: its super-segments cut (as the kernel does) or,
	 * on a third of the links, delivered whole (as GRO would). */
	l->gso_whole = sim_chance(g, 333333);
	if (clean || sim_chance(g, 100000))
		return; /* 10% of the seeds: a clean link */
	if (sim_chance(g, 500000))
		l->jitter_ns = sim_below(g, 10 * SIM_MS + 1);
	l->loss_ppm = (uint32_t)sim_below(g, 200001);
	if (sim_chance(g, 500000))
		l->dup_ppm = (uint32_t)sim_below(g, 50001);
	if (sim_chance(g, 500000)) {
		l->reorder_ppm = (uint32_t)sim_below(g, 100001);
		l->reorder_ns = sim_range(g, 1 * SIM_MS, 100 * SIM_MS);
	}
	if (sim_chance(g, 300000))
		l->corrupt_ppm = (uint32_t)sim_range(g, 1000, 20000);
	if (sim_chance(g, 400000)) {
		uint64_t maxq;

		l->bw_bps = sim_range(g, 1, 100) * 1000000;
		/* At most half a second of queue: packet lifetimes stay
		 * well under TIME-WAIT. */
		maxq = l->bw_bps / 8 / 2;
		l->qlimit = (uint32_t)sim_range(g, 8 * KiB,
						maxq < 256 * KiB ? maxq
								 : 256 * KiB);
		if (l->qlimit < 4 * KiB)
			l->qlimit = 4 * KiB;
	}
}

static void gen_cfg(struct sim_rng *g, struct core_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mtu = (uint16_t)PICK(g, 1500, 1500, 1500, 1500, 1280, 576, 9000);
	c->sndbuf = (uint32_t)PICK(g, 8 * KiB, 16 * KiB, 64 * KiB, 64 * KiB,
				   256 * KiB, 1 * MiB);
	c->rcvbuf = (uint32_t)PICK(g, 8 * KiB, 16 * KiB, 64 * KiB, 64 * KiB,
				   256 * KiB, 1 * MiB);
	c->time_wait_ns = sim_range(g, 3, 8) * SIM_SEC;
	c->rto_min_ns = 200 * SIM_MS;
	c->rto_max_ns = 4 * SIM_SEC;
	c->max_retries = 30;
	c->delack_ns = PICK(g, 0, 40 * SIM_MS, 200 * SIM_MS);
	for (int i = 0; i < 16; i++) {
		c->flow_key[i] = (uint8_t)sim_rand(g);
		c->iss_key[i] = (uint8_t)sim_rand(g);
	}
	/* Half the nodes have TUN offloads: TSO super-segments and partial
	 * checksums out (the link finishes and cuts them, sim.c). */
	c->tx_offload = sim_chance(g, 500000);
}

/* The ephemeral port core_connect picks (core.c, one worker, empty
 * table). */
static uint16_t predict_port(const struct core_config *c, uint32_t raddr,
			     uint16_t rport, uint64_t now)
{
	uint32_t range = EPHEMERAL_HI - EPHEMERAL_LO + 1;
	uint32_t start = (uint32_t)flow_hash(c->iss_key, raddr, rport, c->addr,
					     0) ^
			 (uint32_t)(now >> 10);

	return (uint16_t)(EPHEMERAL_LO + start % range);
}

/* A start time and a port X such that A's connect to B:X picks a port pA
 * and B's connect to A:pA picks X: the two SYNs then cross. */
static bool craft_simopen(struct run *r, uint64_t *t, uint16_t *x,
			  uint16_t *pa)
{
	r->cfg[0].addr = SIM_ADDR_A;
	r->cfg[1].addr = SIM_ADDR_B;
	for (uint64_t k = 0; k < 64; k++) {
		uint64_t now = *t + k * 1024 * 1024;
		for (uint32_t p = EPHEMERAL_LO; p <= EPHEMERAL_HI; p++) {
			uint16_t a = predict_port(&r->cfg[0], SIM_ADDR_B,
						  (uint16_t)p, now);
			if (predict_port(&r->cfg[1], SIM_ADDR_A, a, now) == p) {
				*t = now;
				*x = (uint16_t)p;
				*pa = a;
				return true;
			}
		}
	}
	return false;
}

/* ---- one run --------------------------------------------------------- */

static char cur_run[512];
static const char *prog = "sim_tcp";
static int verbose;

static void describe_run(struct run *r, FILE *f)
{
	char b[1024];

	sim_link_describe(&r->sim, b, sizeof(b));
	fprintf(f, "  link: %s\n", b);
	fprintf(f, "  stack: tx_done %s, %u descriptors; ",
		r->opts.defer_tx ? "deferred" : "immediate", r->opts.ndesc);
	for (int i = 0; i < 2; i++)
		fprintf(f, "%c: mtu %u sndbuf %u rcvbuf %u delack %" PRIu64
			   "ms tw %" PRIu64 "s%s%s",
			'A' + i, r->cfg[i].mtu, r->cfg[i].sndbuf,
			r->cfg[i].rcvbuf, r->cfg[i].delack_ns / SIM_MS,
			r->cfg[i].time_wait_ns / SIM_SEC,
			r->cfg[i].tx_offload ? " tso" : "", i ? "\n" : "; ");
	for (int i = 0; i < 2; i++) {
		struct ep *e = &r->ep[i];
		fprintf(f,
			"  %c: accepted %d closed %d err %d (want %d) eof %d "
			"(want %d) tx %" PRIu64 "/%" PRIu64 " rx %" PRIu64
			"/%" PRIu64 " chunk %u pieces %u nodelay %d",
			e->name, e->n_accepted, e->n_closed, e->err,
			e->expect_err, e->eof, e->expect_eof, e->tx_done,
			e->tx_total, e->rx_done, e->rx_expect, e->chunk,
			e->pieces, e->nodelay);
		if (e->stall_ns)
			fprintf(f, " stall at %" PRIu64 " for %.3fs",
				e->stall_at, (double)e->stall_ns / 1e9);
		if (e->abort_at != UINT64_MAX)
			fprintf(f, " abort at %" PRIu64, e->abort_at);
		fputc('\n', f);
	}
	for (int i = 0; i < 2; i++) {
		const struct sim_link_stats *l = &r->sim.ls[i];
		const struct core_stats *cs =
			r->sim.node[i].core ? core_stats(r->sim.node[i].core)
					    : NULL;
		fprintf(f,
			"  %s: sent %" PRIu64 " lost %" PRIu64 " dup %" PRIu64
			" reordered %" PRIu64 " corrupted %" PRIu64
			" qdrop %" PRIu64 " delivered %" PRIu64
			" zero-windows %" PRIu64 " RSTs %" PRIu64
			" TSO super-segments %" PRIu64,
			i ? "B>A" : "A>B", l->sent, l->lost, l->dups,
			l->reordered, l->corrupted, l->qdrops, l->delivered,
			l->zero_windows, l->rsts, l->tso_segs);
		if (l->bursts)
			fprintf(f, " (%" PRIu64 " bursts)", l->bursts);
		fprintf(f, " lost payload %" PRIu64, l->lost_payload);
		if (cs)
			fprintf(f,
				"; %c retransmits %" PRIu64 " (%" PRIu64
				" bytes) recoveries %" PRIu64
				" timeouts %" PRIu64 " undos %" PRIu64,
				'A' + i, cs->retransmits, cs->retrans_bytes,
				cs->fast_recoveries, cs->rto_timeouts,
				cs->undos);
		fputc('\n', f);
	}
	for (int i = 0; i < 2; i++) {
		if (!r->sim.node[i].core)
			continue;
		const struct core_stats *cs = core_stats(r->sim.node[i].core);
		fprintf(f, "  %c drops:", 'A' + i);
		for (int d = 1; d < DROP__COUNT; d++)
			if (cs->drops[d])
				fprintf(f, " %s=%" PRIu64,
					drop_name((enum drop_reason)d),
					cs->drops[d]);
		fputc('\n', f);
		sim_conns_describe(&r->sim, i, b, sizeof(b));
		fputs(b, f);
	}
}

/* The worst retransmitted/lost ratio of the scenario's seeds so far
 * (among seeds that lost at least 16 segments), and the worst share of
 * the transfer sent again beyond twice what was lost. */
static double worst_ratio, worst_excess;
static uint64_t worst_seed, worst_excess_seed;
static uint64_t sum_timeouts, sum_recoveries, sum_undos;

/*
 * Loss recovery is efficient: the bytes A sent again stay within a small
 * multiple of the payload the link lost on the way to B (or B dropped
 * for want of a reassembly range), plus a few
 * segments (a timeout resends what was in flight, a lost ACK can make a
 * segment look lost) — plus, where the scenario reorders, a share of the
 * transfer: a segment late by more than the reordering threshold is
 * indistinguishable from a lost one until it arrives.
 */
#define REXMIT_FACTOR 2
#define REXMIT_SLACK (16 * 1500)
static void check_rexmit(struct run *r)
{
	const struct core_stats *cs = core_stats(r->sim.node[0].core);
	const struct core_stats *bs = core_stats(r->sim.node[1].core);
	/* What the link lost, and what B had to drop for want of a
	 * reassembly range (at most an MTU each): both must be resent. */
	uint64_t lost = r->sim.ls[0].lost_payload +
			bs->drops[DROP_TCP_OOO_FULL] * r->cfg[0].mtu;
	uint64_t total = r->ep[0].tx_total;
	uint64_t allow = REXMIT_FACTOR * lost + REXMIT_SLACK +
			 total * r->sc->reorder_pct / 100;
	double ratio = (double)cs->retrans_bytes / (double)(lost ? lost : 1);
	double excess = cs->retrans_bytes > REXMIT_FACTOR * lost
				? (double)(cs->retrans_bytes -
					   REXMIT_FACTOR * lost) /
					  (double)total
				: 0;

	sum_timeouts += cs->rto_timeouts;
	sum_recoveries += cs->fast_recoveries;
	sum_undos += cs->undos;
	if (lost >= 16 * 1500 && ratio > worst_ratio) {
		worst_ratio = ratio;
		worst_seed = r->seed;
	}
	if (excess > worst_excess) {
		worst_excess = excess;
		worst_excess_seed = r->seed;
	}
	if (cs->retrans_bytes > allow)
		sim_fail(&r->sim,
			 "A retransmitted %" PRIu64 " bytes for %" PRIu64
			 " payload bytes lost of %" PRIu64
			 " (more than %d x + %d + %u%%)",
			 cs->retrans_bytes, lost, total, REXMIT_FACTOR,
			 REXMIT_SLACK, r->sc->reorder_pct);
}

static void final_checks(struct run *r)
{
	struct sim *s = &r->sim;

	for (int i = 0; i < 2 && !s->failed; i++) {
		struct ep *e = &r->ep[i];

		if (e->n_accepted != 1)
			sim_fail(s, "%c: accepted %d times, want once", e->name,
				 e->n_accepted);
		else if (e->n_closed != 1)
			sim_fail(s, "%c: not closed (closed %d times)", e->name,
				 e->n_closed);
		else if (e->err != e->expect_err)
			sim_fail(s, "%c: closed(%d), want closed(%d)", e->name,
				 e->err, e->expect_err);
		else if (e->eof != e->expect_eof)
			sim_fail(s, "%c: EOF %s", e->name,
				 e->eof ? "seen, unexpected" : "never seen");
		else if (e->expect_eof && e->rx_done != e->rx_expect)
			sim_fail(s, "%c: received %" PRIu64 " of %" PRIu64,
				 e->name, e->rx_done, e->rx_expect);
		else if (e->expect_err == 0 && e->tx_done != e->tx_total)
			sim_fail(s, "%c: wrote only %" PRIu64 " of %" PRIu64,
				 e->name, e->tx_done, e->tx_total);
	}
	for (int i = 0; i < 2 && !s->failed; i++) {
		struct sim_node *n = &s->node[i];
		const struct core *c = n->core;
		const struct core_stats *cs = core_stats(c);

		if (c->nconns || c->heap_len || c->flush_head ||
		    c->blocked_head)
			sim_fail(s,
				 "%c: not empty at the end: %u connections, "
				 "%u timers%s%s",
				 n->name, c->nconns, c->heap_len,
				 c->flush_head ? ", flush list" : "",
				 c->blocked_head ? ", blocked list" : "");
		else if (cs->conns_active)
			sim_fail(s, "%c: conns_active %" PRIu64 " at the end",
				 n->name, cs->conns_active);
		else if (n->nout || n->nheld)
			sim_fail(s, "%c: %u descriptors not given back",
				 n->name, n->nout);
		else if (cs->pkts_in != s->ls[!i].delivered)
			sim_fail(s, "%c: pkts_in %" PRIu64 " != %" PRIu64
				    " delivered",
				 n->name, cs->pkts_in, s->ls[!i].delivered);
		else if (s->ls[!i].corrupt_dropped != s->ls[!i].corrupted)
			sim_fail(s, "%c: %" PRIu64 " of %" PRIu64
				    " corrupted datagrams dropped",
				 n->name, s->ls[!i].corrupt_dropped,
				 s->ls[!i].corrupted);
		else if (r->sc->simopen ? cs->conns_connected != 1
					: (i == 0 ? cs->conns_connected != 1
						  : cs->conns_accepted != 1))
			sim_fail(s, "%c: conns_connected %" PRIu64
				    " conns_accepted %" PRIu64,
				 n->name, cs->conns_connected,
				 cs->conns_accepted);
	}
	if (!s->failed && r->sc->clean) {
		for (int i = 0; i < 2 && !s->failed; i++) {
			const struct core_stats *cs =
				core_stats(s->node[i].core);
			if (cs->retransmits)
				sim_fail(s,
					 "%c: %" PRIu64
					 " retransmissions on a clean link",
					 'A' + i, cs->retransmits);
			for (int d = 1; d < DROP__COUNT && !s->failed; d++)
				if (cs->drops[d])
					sim_fail(s,
						 "%c: %" PRIu64
						 " drops (%s) on a clean link",
						 'A' + i, cs->drops[d],
						 drop_name((enum drop_reason)d));
		}
	}
	if (!s->failed && r->ep[1].stall_ns && !s->ls[1].zero_windows)
		sim_fail(s, "B stalled but never advertised a zero window");
	if (!s->failed && r->sc->link)
		check_rexmit(r);
}

struct result {
	bool ok;
	uint64_t vt_ns, pkts;
};

static struct result run_one(const struct scenario *sc, uint64_t seed,
			     bool show)
{
	struct run *r = calloc(1, sizeof(*r));
	struct sim_rng g;
	struct result res = {0};
	uint16_t x = 0, pa = 0;
	int rc = 0;

	if (!r)
		abort();
	R = r;
	r->sc = sc;
	r->seed = seed;
	snprintf(cur_run, sizeof(cur_run),
		 "scenario %s seed %" PRIu64 "; replay: %s --scenario %s "
		 "--seed %" PRIu64 " -v\n",
		 sc->name, seed, prog, sc->name, seed);
	/* Everything from the seed and the scenario's name. */
	g.s = sim_mix64(seed);
	for (const char *p = sc->name; *p; p++)
		g.s = sim_mix64(g.s ^ (uint8_t)*p);
	gen_cfg(&g, &r->cfg[0]);
	gen_cfg(&g, &r->cfg[1]);
	if (sim_chance(&g, 500000)) {
		/* Symmetric link. */
		gen_link(&g, &r->opts.link[0], sc->clean);
		r->opts.link[1] = r->opts.link[0];
	} else {
		gen_link(&g, &r->opts.link[0], sc->clean);
		gen_link(&g, &r->opts.link[1], sc->clean);
	}
	if (sc->link) {
		sc->link(&g, &r->opts.link[0]);
		r->opts.link[1] = r->opts.link[0];
	}
	r->opts.defer_tx = sim_chance(&g, 500000);
	r->opts.ndesc = (unsigned)PICK(&g, 256, 256, 64, 8, 2);
	r->opts.t_start = sim_range(&g, 1, 1000000) * SIM_SEC +
			  sim_below(&g, SIM_SEC);
	r->opts.t_limit = 3600 * SIM_SEC;
	r->opts.ev_limit = 20000000;
	r->opts.verbose = verbose;
	r->port = LISTEN_PORT;
	for (int i = 0; i < 2; i++) {
		struct ep *e = &r->ep[i];

		e->run = r;
		e->idx = i;
		e->name = (char)('A' + i);
		e->chunk = (unsigned)PICK(&g, 1, 100, 1000, 1448, 4096,
					  64 * KiB, 1 * MiB, 1 * MiB, 1 * MiB);
		e->pieces = (unsigned)PICK(&g, 1, 1, 1, 2, 3);
		e->nodelay = sim_chance(&g, 300000);
		e->abort_at = UINT64_MAX;
		e->expect_err = 0;
		e->expect_eof = true;
	}
	r->ep[0].tx_key = r->ep[1].rx_key = sim_mix64(seed ^ 0xa0a0);
	r->ep[1].tx_key = r->ep[0].rx_key = sim_mix64(seed ^ 0xb0b0);
	sc->setup(r, &g);
	/* One-byte writes of megabytes would only cost time. */
	for (int i = 0; i < 2; i++)
		if (r->ep[i].tx_total > 256 * KiB && r->ep[i].chunk < 1000)
			r->ep[i].chunk = 1448;
	if (sc->simopen && !craft_simopen(r, &r->opts.t_start, &x, &pa)) {
		printf("FAIL %s seed %" PRIu64
		       ": no port pair found for a simultaneous open\n",
		       sc->name, seed);
		free(r);
		R = NULL;
		return res;
	}

	if (sim_init(&r->sim, sim_mix64(g.s ^ 0x5157), r->cfg, &r->opts)) {
		fprintf(stderr, "sim_init failed\n");
		exit(2);
	}
	if (show) {
		printf("scenario %s (%s), seed %" PRIu64 "\n", sc->name,
		       sc->what, seed);
		describe_run(r, stdout);
	}
	if (sc->simopen) {
		struct tcp_conn *ca = NULL, *cb = NULL;

		rc = sim_connect(&r->sim, 0, x, &sim_app, &r->ep[0], &ca);
		if (!rc) {
			r->ep[0].connecting = ca;
			rc = sim_connect(&r->sim, 1, pa, &sim_app, &r->ep[1],
					 &cb);
			r->ep[1].connecting = cb;
		}
		if (rc)
			sim_fail(&r->sim, "core_connect: %d", rc);
		else if (ca->lport != pa || cb->lport != x)
			sim_fail(&r->sim,
				 "simultaneous open not crafted: ports "
				 "%u/%u, predicted %u/%u",
				 ca->lport, cb->lport, pa, x);
		else
			sim_trace(&r->sim,
				  "simultaneous open: A %u <-> B %u", pa, x);
	} else {
		struct tcp_conn *ca = NULL;

		sim_listen(&r->sim, 1, r->port, &sim_app, &r->ep[1]);
		rc = sim_connect(&r->sim, 0, r->port, &sim_app, &r->ep[0],
				 &ca);
		if (rc)
			sim_fail(&r->sim, "core_connect: %d", rc);
		r->ep[0].connecting = ca;
	}
	if (!r->sim.failed && sim_run(&r->sim) == 0)
		final_checks(r);
	res.ok = !r->sim.failed;
	res.vt_ns = r->sim.now - r->opts.t_start;
	res.pkts = r->sim.ls[0].sent + r->sim.ls[1].sent;
	if (!res.ok) {
		printf("FAIL %s seed %" PRIu64 ": %s\n", sc->name, seed,
		       r->sim.fail_msg);
		describe_run(r, stdout);
		printf("  replay: %s --scenario %s --seed %" PRIu64 " -v\n",
		       prog, sc->name, seed);
	} else if (show) {
		printf("ok: %s seed %" PRIu64 " in %.3f s virtual, %" PRIu64
		       " datagrams\n",
		       sc->name, seed, (double)res.vt_ns / 1e9, res.pkts);
		describe_run(r, stdout);
	}
	sim_destroy(&r->sim);
	free(r->scratch);
	free(r);
	R = NULL;
	return res;
}

/* ---- main ------------------------------------------------------------ */

static void on_signal(int sig)
{
	static const char m[] = "\nsim_tcp: crashed during ";

	if (write(2, m, sizeof(m) - 1) < 0 ||
	    write(2, cur_run, strlen(cur_run)) < 0) {
		/* nothing more to do */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

#ifdef TUNDRA_SANITIZE
static void on_death(void)
{
	static const char m[] = "\nsim_tcp: sanitizer error during ";

	if (write(2, m, sizeof(m) - 1) < 0 ||
	    write(2, cur_run, strlen(cur_run)) < 0) {
		/* nothing more to do */
	}
}
#endif

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	printf("usage: %s [--scenario NAME|all] [--seed N | --seeds N "
	       "[--first N]] [-v] [--list]\n"
	       "  SIM_SEEDS=N sets the default number of seeds (%d)\n"
	       "scenarios:\n",
	       prog, DEFAULT_SEEDS);
	for (size_t i = 0; i < NSCEN; i++)
		printf("  %-10s %s\n", scenarios[i].name, scenarios[i].what);
}

int main(int argc, char **argv)
{
	const char *only = "all";
	uint64_t first = 0, nseeds = DEFAULT_SEEDS, one = 0;
	bool have_one = false;
	unsigned total_fail = 0;
	double t0 = wall();
	const char *env = getenv("SIM_SEEDS");

	prog = argv[0];
	if (env && *env)
		nseeds = strtoull(env, NULL, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--scenario") && i + 1 < argc) {
			only = argv[++i];
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			one = strtoull(argv[++i], NULL, 0);
			have_one = true;
		} else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			nseeds = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--first") && i + 1 < argc) {
			first = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "-v")) {
			verbose = 1;
		} else if (!strcmp(argv[i], "--list") ||
			   !strcmp(argv[i], "-h") ||
			   !strcmp(argv[i], "--help")) {
			usage();
			return 0;
		} else {
			usage();
			return 2;
		}
	}
	signal(SIGSEGV, on_signal);
	signal(SIGABRT, on_signal);
	signal(SIGBUS, on_signal);
	signal(SIGFPE, on_signal);
#ifdef TUNDRA_SANITIZE
	__sanitizer_set_death_callback(on_death);
#endif
	setvbuf(stdout, NULL, _IOLBF, 0);

	bool found = false;
	for (size_t k = 0; k < NSCEN; k++) {
		const struct scenario *sc = &scenarios[k];
		unsigned fails = 0;
		uint64_t vt = 0, vt_max = 0, pkts = 0, n = 0, worst = 0;
		double t1 = wall();

		if (strcmp(only, "all") && strcmp(only, sc->name))
			continue;
		found = true;
		worst_ratio = worst_excess = 0;
		sum_timeouts = sum_recoveries = sum_undos = 0;
		for (uint64_t sd = have_one ? one : first;
		     have_one ? sd == one : sd < first + nseeds; sd++) {
			struct result res = run_one(sc, sd, have_one);

			n++;
			if (!res.ok)
				fails++;
			vt += res.vt_ns;
			pkts += res.pkts;
			if (res.vt_ns > vt_max) {
				vt_max = res.vt_ns;
				worst = sd;
			}
		}
#ifdef HAVE_LSAN
		if (__lsan_do_recoverable_leak_check()) {
			printf("FAIL %s: memory leaked (report above); "
			       "bisect with --seed\n",
			       sc->name);
			fails++;
		}
#endif
		printf("%-10s %4" PRIu64 " seeds %3u failed  virtual %8.1f s "
		       "(max %.1f s, seed %" PRIu64 ")  %9" PRIu64
		       " datagrams  wall %.2f s\n",
		       sc->name, n, fails, (double)vt / 1e9,
		       (double)vt_max / 1e9, worst, pkts, wall() - t1);
		if (sc->link)
			printf("%-10s retransmitted/lost payload: worst %.2f "
			       "(seed %" PRIu64 "); beyond 2 x lost: worst "
			       "%.1f%% of the transfer (seed %" PRIu64 ")\n",
			       sc->name, worst_ratio, worst_seed,
			       100 * worst_excess, worst_excess_seed);
		if (sc->link)
			printf("%-10s sender: %" PRIu64 " fast recoveries, %" PRIu64
			       " timeouts, %" PRIu64 " undone\n",
			       sc->name, sum_recoveries, sum_timeouts,
			       sum_undos);
		total_fail += fails;
	}
	if (!found) {
		usage();
		return 2;
	}
	printf("sim_tcp: %s, %u failures, wall %.2f s\n",
	       total_fail ? "FAILED" : "passed", total_fail, wall() - t0);
	return total_fail ? 1 : 0;
}
