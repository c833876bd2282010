/*
 * sim.h — a deterministic simulator that runs two tundra cores (the
 * sans-I/O core of src/core/core.h) in one process, joined by a simulated
 * link, in virtual time. See tests/sim/README.md.
 *
 *   node 0 "A" 10.0.0.1  <--- link dir 0 (A->B), dir 1 (B->A) --->  node 1 "B" 10.0.0.2
 *
 * Each datagram a core hands to out_send is gathered into a private copy,
 * (with core_config.tx_offload: its partial checksum finished and a TSO
 * super-segment cut at gso_size, as the kernel does with what tundra
 * writes, unless the link carries it whole),
 * checked (IPv4 and TCP must parse, checksums included), and put on the
 * link of its direction, which may lose, duplicate, delay, reorder, corrupt
 * it or drop it at the tail of a bandwidth-limited queue. The descriptor is
 * given back with core_tx_done either at once (inside out_send) or after
 * the core call returns ("deferred", like the real TX thread), with a
 * descriptor pool that may be small enough to run out.
 *
 * The event loop moves virtual time to the next event (a delivery, a core
 * deadline, an app hook) and calls core_input / core_flush / core_timers.
 * Nothing reads a clock; everything random comes from one seeded PRNG, so a
 * seed replays exactly.
 */
#ifndef TUNDRA_TESTS_SIM_SIM_H
#define TUNDRA_TESTS_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "core/core_priv.h"
#include "tundra/app.h"

#define SIM_MS ((uint64_t)1000000)
#define SIM_SEC ((uint64_t)1000000000)
#define SIM_ADDR_A 0x0a000001u /* 10.0.0.1 */
#define SIM_ADDR_B 0x0a000002u /* 10.0.0.2 */
#define SIM_NDESC_MAX 256
#define SIM_NLISTEN 4
#define SIM_NHOOKS 4

/* ---- PRNG: splitmix64 ------------------------------------------------ */

struct sim_rng {
	uint64_t s;
};

static inline uint64_t sim_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t sim_rand(struct sim_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ull;
	return sim_mix64(r->s);
}

/* Uniform in [0, n); 0 when n is 0. */
static inline uint64_t sim_below(struct sim_rng *r, uint64_t n)
{
	return n ? sim_rand(r) % n : 0;
}

/* Uniform in [lo, hi]. */
static inline uint64_t sim_range(struct sim_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + sim_below(r, hi - lo + 1);
}

/* True with probability ppm / 1e6. */
static inline bool sim_chance(struct sim_rng *r, uint32_t ppm)
{
	return ppm && sim_below(r, 1000000) < ppm;
}

/* ---- link ------------------------------------------------------------ */

struct sim_link_params {
	uint64_t delay_ns;   /* one-way propagation delay */
	uint64_t jitter_ns;  /* + uniform [0, jitter] per packet */
	uint32_t loss_ppm;   /* probability, parts per million */
	uint32_t dup_ppm;
	uint32_t reorder_ppm;  /* this share gets an extra delay ... */
	uint64_t reorder_ns;   /* ... uniform in [1, reorder_ns] */
	uint32_t corrupt_ppm;  /* one byte flipped */
	uint64_t bw_bps;       /* bits per second; 0: unlimited */
	uint32_t qlimit;       /* bytes queued before tail drop (with bw) */
	/* A TSO super-segment (core_config.tx_offload) crosses whole, as a
	 * GRO/GSO path hands it over, instead of cut at its gso_size as the
	 * kernel's GSO cuts what tundra writes. */
	bool gso_whole;
	/* Burst loss (a two-state Gilbert-like model): with this
	 * probability a datagram starts an outage that loses it and every
	 * datagram for a time uniform in [1 ms, burst_ns]. Timed, not
	 * counted, so a slow sender is not starved for minutes. */
	uint32_t burst_ppm;
	uint64_t burst_ns;
};

struct sim_link_stats {
	uint64_t sent, lost, dups, reordered, corrupted, qdrops, delivered;
	uint64_t bursts;       /* burst-loss episodes (lost counts each) */
	uint64_t lost_payload; /* TCP payload bytes lost or tail-dropped */
	uint64_t burst_until;  /* the outage lasts until then */
	uint64_t corrupt_dropped; /* corrupted ones the receiver dropped */
	uint64_t zero_windows;    /* segments advertising a zero window */
	uint64_t rsts, fins, syns, data_segs;
	uint64_t tso_segs;        /* super-segments sent (tx_offload) */
};

/* ---- nodes ----------------------------------------------------------- */

struct sim;

struct sim_node {
	struct sim *sim;
	/* Where its first FIN sat (the end of its stream): every later
	 * segment must end there or before. */
	bool fin_seen;
	uint32_t fin_end;
	int idx;   /* 0: A, 1: B */
	char name; /* 'A' or 'B' */
	struct core *core;
	struct core_config cfg;
	struct core_env env;

	struct core_out desc[SIM_NDESC_MAX];
	bool used[SIM_NDESC_MAX];
	unsigned ndesc; /* pool size */
	unsigned nout;
	uint64_t alloc_nulls;

	/* Deferred completion: sent, not yet given back. */
	struct core_out *held[SIM_NDESC_MAX];
	uint8_t *held_copy[SIM_NDESC_MAX];
	uint32_t held_len[SIM_NDESC_MAX];
	unsigned nheld;

	struct {
		uint16_t port;
		struct core_listener l;
	} lst[SIM_NLISTEN];
	unsigned nlst;
};

struct sim_opts {
	struct sim_link_params link[2]; /* [0] A->B, [1] B->A */
	bool defer_tx;     /* core_tx_done after the core call returns */
	unsigned ndesc;    /* descriptors per core (1..SIM_NDESC_MAX) */
	uint64_t t_start;  /* virtual time at the start */
	uint64_t t_limit;  /* fail when virtual time passes t_start + this */
	uint64_t ev_limit; /* fail after this many loop iterations */
	int verbose;       /* trace every segment */
};

typedef void (*sim_hook_fn)(struct sim *s, void *arg);

struct sim_pkt;

struct sim {
	struct sim_rng rng;
	uint64_t now;
	struct sim_opts o;
	struct sim_node node[2];
	struct sim_link_params link[2];
	struct sim_link_stats ls[2];
	uint64_t busy_until[2]; /* serialiser of each direction */

	/* Packets in flight: a min-heap by (at, id). */
	struct sim_pkt **heap;
	uint32_t nheap, capheap;
	uint64_t next_id;

	/* App timers: one-shot. */
	struct {
		uint64_t at; /* UINT64_MAX: off */
		sim_hook_fn fn;
		void *arg;
	} hook[SIM_NHOOKS];

	uint64_t events;
	bool failed;
	char fail_msg[2048];
};

/* Cores from cfg[0] (A) and cfg[1] (B); addr, worker_id, nworkers are
 * set here. The PRNG is seeded with seed. */
int sim_init(struct sim *s, uint64_t seed, const struct core_config cfg[2],
	     const struct sim_opts *o);
/* Give every descriptor back, destroy both cores, free the packets. */
void sim_destroy(struct sim *s);

void sim_listen(struct sim *s, int node, uint16_t port,
		const struct tundra_app *app, void *arg);
/* core_connect from node to the other node's raddr:rport, at s->now. */
int sim_connect(struct sim *s, int node, uint16_t rport,
		const struct tundra_app *app, void *arg,
		struct tcp_conn **out);
/* Run fn(s, arg) once, at virtual time at (slot 0..SIM_NHOOKS-1). */
void sim_hook(struct sim *s, unsigned slot, uint64_t at, sim_hook_fn fn,
	      void *arg);

/* Run until nothing is left to do: no packet in flight, no deadline in
 * either core, no hook. 0, or -1 when a check failed or a limit was hit
 * (s->fail_msg says why). */
int sim_run(struct sim *s);

/* Record a failure (the first one wins); the run stops at the next step. */
void sim_fail(struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One line describing the link parameters of both directions. */
void sim_link_describe(const struct sim *s, char *buf, size_t len);
/* The connections still in a core, one line each, into buf. */
void sim_conns_describe(const struct sim *s, int node, char *buf,
			size_t len);

/* Trace line (only with o.verbose), prefixed with the virtual time. */
void sim_trace(const struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
