/*
 * micro_conn_lookup — the cost of finding a connection in a core's table
 * (src/core/conn_table.c) with 1k, 10k, 100k and 1M connections.
 *
 * The table is the core's own: a core from core_create() (which starts at
 * 1024 buckets), filled with ctab_insert() — so it grows by doubling as the
 * worker's would — with connections calloc'd one by one as core_conn_new()
 * does, keyed by flow_hash() of distinct 4-tuples (10.x.y.z:port -> :9).
 * Measured per lookup:
 *
 *   flow_hash      the keyed SipHash of the 4-tuple (core_input does it for
 *                  every segment, the RX thread once more to pick the worker);
 *   hit_random     ctab_lookup of a random existing connection (the many-
 *                  flows case: the bucket and the connection are usually
 *                  cache misses once the table outgrows the caches);
 *   hit_hot        ctab_lookup of one of 16 connections over and over (the
 *                  few-bulk-flows case: everything in L1);
 *   miss           ctab_lookup of a tuple that is not there (a SYN, or a
 *                  segment for a closed port);
 *   chain          average entries compared per hit (the algorithmic part:
 *                  flat means O(1)).
 *
 * Each case runs MICRO_TRIALS times (default 5); medians are reported.
 *
 *   result bench=conn_lookup conns=N flow_hash_ns=.. hit_random_ns=.. hit_hot_ns=.. miss_ns=.. chain=.. buckets=..
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "core/core_priv.h"

#define MAX_TRIALS 31
#define LOOKUPS (1u * 1000 * 1000)
#define OUR_ADDR 0x0a000002u /* 10.0.0.2 */

static unsigned trials = 5;
static volatile uintptr_t sink;

struct key {
	uint64_t hash;
	uint32_t raddr;
	uint16_t rport;
	uint16_t lport;
};

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

/* xorshift64*: cheap, deterministic */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/* The i-th distinct remote endpoint: 10.1.0.0/16 .. hosts, ports 1024+. */
static void tuple(uint32_t i, uint32_t *raddr, uint16_t *rport)
{
	*raddr = 0x0a010000u + (i / 50000);
	*rport = (uint16_t)(1024 + i % 50000);
}

static struct core_out *no_alloc(void *ctx)
{
	(void)ctx;
	return NULL;
}

static void no_send(void *ctx, struct core_out *o)
{
	(void)ctx;
	(void)o;
}

static const struct core_listener *no_listener(void *ctx, uint16_t port)
{
	(void)ctx;
	(void)port;
	return NULL;
}

static void run(uint32_t nconns, const struct core_config *cfg,
		const struct core_env *env)
{
	struct core *core = core_create(cfg, env);
	struct key *keys = malloc(sizeof(*keys) * nconns);
	uint32_t *order = malloc(sizeof(*order) * LOOKUPS);
	/* the keys to look up, in lookup order: read sequentially, so the
	 * timing is the table's and not a random read of keys[] */
	struct key *lk = malloc(sizeof(*lk) * LOOKUPS);
	double fh[MAX_TRIALS], hr[MAX_TRIALS], hh[MAX_TRIALS], ms[MAX_TRIALS];
	uint64_t probes = 0;
	uint64_t t0;

	if (!core || !keys || !order || !lk) {
		fprintf(stderr, "micro_conn_lookup: out of memory\n");
		exit(1);
	}
	for (uint32_t i = 0; i < nconns; i++) {
		struct tcp_conn *c = calloc(1, sizeof(*c));
		uint32_t raddr;
		uint16_t rport;

		if (!c) {
			fprintf(stderr, "micro_conn_lookup: out of memory\n");
			exit(1);
		}
		tuple(i, &raddr, &rport);
		c->raddr = raddr;
		c->rport = rport;
		c->lport = 9;
		c->heap_idx = -1;
		keys[i] = (struct key){
			flow_hash(cfg->flow_key, raddr, rport, OUR_ADDR, 9),
			raddr, rport, 9
		};
		ctab_insert(core, c, keys[i].hash);
	}
	/* Chain length per hit: walk each bucket once. */
	for (uint32_t b = 0; b < core->nbuckets; b++) {
		uint64_t pos = 0;
		for (struct tcp_conn *c = core->buckets[b]; c; c = c->hnext)
			probes += ++pos;
	}
	for (uint32_t i = 0; i < LOOKUPS; i++) {
		order[i] = (uint32_t)(rnd() % nconns);
		lk[i] = keys[order[i]];
	}

	for (unsigned t = 0; t < trials; t++) {
		uintptr_t acc = 0;
		uint32_t raddr;
		uint16_t rport;

		/* flow_hash */
		t0 = now_ns();
		for (uint32_t i = 0; i < LOOKUPS; i++) {
			tuple(order[i], &raddr, &rport);
			acc += flow_hash(cfg->flow_key, raddr, rport, OUR_ADDR,
					 9);
		}
		fh[t] = (double)(now_ns() - t0) / LOOKUPS;

		/* random hits */
		t0 = now_ns();
		for (uint32_t i = 0; i < LOOKUPS; i++) {
			const struct key *k = &lk[i];
			acc += (uintptr_t)ctab_lookup(core, k->hash, k->raddr,
						      k->rport, k->lport);
		}
		hr[t] = (double)(now_ns() - t0) / LOOKUPS;

		/* hot hits: 16 connections */
		t0 = now_ns();
		for (uint32_t i = 0; i < LOOKUPS; i++) {
			const struct key *k = &lk[i & 15];
			acc += (uintptr_t)ctab_lookup(core, k->hash, k->raddr,
						      k->rport, k->lport);
		}
		hh[t] = (double)(now_ns() - t0) / LOOKUPS;

		/* misses: same hashes, a port no connection uses */
		t0 = now_ns();
		for (uint32_t i = 0; i < LOOKUPS; i++) {
			const struct key *k = &lk[i];
			acc += (uintptr_t)ctab_lookup(core, k->hash ^ 0x5bd1e995,
						      k->raddr, 7, k->lport);
		}
		ms[t] = (double)(now_ns() - t0) / LOOKUPS;
		sink = acc;
	}
	/* every lookup above must have found its connection */
	for (uint32_t i = 0; i < 1000 && i < nconns; i++) {
		const struct key *k = &lk[i];
		struct tcp_conn *c = ctab_lookup(core, k->hash, k->raddr,
						 k->rport, k->lport);
		if (!c || c->rport != k->rport || c->raddr != k->raddr) {
			fprintf(stderr, "micro_conn_lookup: lookup failed\n");
			exit(1);
		}
	}
	double mfh = median(fh, trials), mhr = median(hr, trials);
	double mhh = median(hh, trials), mms = median(ms, trials);
	double chain = (double)probes / nconns;

	printf("conn_lookup %8u conns  buckets=%-8u flow_hash %5.1f ns  "
	       "hit_random %6.1f ns  hit_hot %5.1f ns  miss %6.1f ns  "
	       "chain %.2f\n",
	       nconns, core->nbuckets, mfh, mhr, mhh, mms, chain);
	printf("result bench=conn_lookup conns=%u flow_hash_ns=%.1f "
	       "hit_random_ns=%.1f hit_hot_ns=%.1f miss_ns=%.1f chain=%.3f "
	       "buckets=%u hit_random_min=%.1f hit_random_max=%.1f "
	       "trials=%u\n",
	       nconns, mfh, mhr, mhh, mms, chain, core->nbuckets, hr[0],
	       hr[trials - 1], trials);
	fflush(stdout);
	/* core_destroy frees every connection in the table */
	core_destroy(core);
	free(keys);
	free(order);
	free(lk);
}

int main(int argc, char **argv)
{
	static const uint32_t counts[] = {1000, 10000, 100000, 1000000};
	const char *e = getenv("MICRO_TRIALS");
	struct core_config cfg = {
		.addr = OUR_ADDR,
		.mtu = 1500,
		.sndbuf = 262144,
		.rcvbuf = 262144,
		.time_wait_ns = 60000000000ull,
		.rto_min_ns = 200000000ull,
		.rto_max_ns = 120000000000ull,
		.max_retries = 8,
	};
	struct core_env env = {
		.out_alloc = no_alloc,
		.out_send = no_send,
		.listener_lookup = no_listener,
	};
	uint32_t max = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 0;

	if (e && atoi(e) > 0)
		trials = (unsigned)atoi(e) > MAX_TRIALS ? MAX_TRIALS
							: (unsigned)atoi(e);
	for (int i = 0; i < 16; i++)
		cfg.flow_key[i] = (uint8_t)(0x31 * i + 7);
	printf("# micro_conn_lookup: ns per lookup, %u lookups x %u trials "
	       "(medians); struct tcp_conn is %zu bytes\n",
	       LOOKUPS, trials, sizeof(struct tcp_conn));
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (!max || counts[i] <= max)
			run(counts[i], &cfg, &env);
	return 0;
}
