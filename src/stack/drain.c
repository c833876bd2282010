/*
 * drain.c — tundra_drain(): the graceful part of a stop. From the control
 * thread it sets t->draining (listener lookups then find nothing, so a new
 * SYN is answered with a RST), then, every few milliseconds until the
 * deadline, posts a call to every worker (tundra_worker_call) that closes
 * the connections still open (core_close_all: FIN after the queued data)
 * and counts those whose FIN is not yet acknowledged (core_conns_open).
 * Repeating the close catches connections that completed their handshake
 * after the first round.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "base/log.h"
#include "stack/stack.h"

#define DRAIN_POLL_NS 5000000ull /* 5 ms between rounds */

/* One round: shared by the control thread and every worker it was posted
 * to; the last to let go frees it (a call still queued when the stack stops
 * runs in tundra_destroy). */
struct drain_round {
	_Atomic unsigned refs;
	_Atomic unsigned pending; /* workers yet to answer */
	_Atomic size_t open;
};

struct drain_call {
	struct drain_round *r;
	struct core *core;
};

static void round_put(struct drain_round *r)
{
	if (atomic_fetch_sub(&r->refs, 1) == 1)
		free(r);
}

static void drain_on_worker(void *arg)
{
	struct drain_call *c = arg;
	struct drain_round *r = c->r;

	core_close_all(c->core);
	atomic_fetch_add(&r->open, core_conns_open(c->core));
	atomic_fetch_sub(&r->pending, 1);
	free(c);
	round_put(r);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	nanosleep(&ts, NULL);
}

/* Post one round and wait for it (until deadline). Returns the number of
 * open connections, or -1 when the round did not finish in time. */
static long drain_round(struct tundra *t, uint64_t deadline)
{
	struct drain_round *r = calloc(1, sizeof(*r));
	long open = -1;

	if (!r)
		return -1;
	atomic_store(&r->refs, 1 + t->nworkers);
	atomic_store(&r->pending, t->nworkers);
	for (unsigned i = 0; i < t->nworkers; i++) {
		struct drain_call *c = malloc(sizeof(*c));

		if (c) {
			c->r = r;
			c->core = t->workers[i].core;
		}
		if (!c || tundra_worker_call(t, i, drain_on_worker, c)) {
			free(c);
			atomic_fetch_sub(&r->pending, 1);
			round_put(r);
			continue;
		}
	}
	for (;;) {
		if (atomic_load(&r->pending) == 0) {
			open = (long)atomic_load(&r->open);
			break;
		}
		if (clock_now_ns() >= deadline)
			break;
		sleep_ns(200000); /* 0.2 ms */
	}
	round_put(r);
	return open;
}

int tundra_drain(struct tundra *t, uint64_t ms)
{
	uint64_t start = clock_now_ns();
	uint64_t deadline = start + ms * 1000000ull;
	long open = 0, last = 0;
	bool running = false;

	for (unsigned i = 0; i < t->nworkers; i++)
		running |= t->workers[i].started;
	atomic_store(&t->draining, true);
	if (!running)
		return 0;
	LOG_INFO("draining: closing connections, refusing new ones "
		 "(grace %llu ms)", (unsigned long long)ms);
	for (bool first = true;; first = false) {
		/* The first round may overrun a tiny grace: its FINs go out
		 * and its count is worth having. */
		open = drain_round(t, first ? MAX(deadline, start + 100000000ull)
					    : deadline);
		if (open >= 0)
			last = open;
		if (open == 0 || clock_now_ns() >= deadline)
			break;
		sleep_ns(DRAIN_POLL_NS);
	}
	if (open < 0)
		open = last ? last : 1; /* a worker did not answer in time */
	if (open)
		LOG_WARN("drain: %ld connection(s) still open after %llu ms",
			 open, (unsigned long long)ms);
	else
		LOG_INFO("drained in %llu ms",
			 (unsigned long long)((clock_now_ns() - start) /
					      1000000));
	return (int)open;
}
