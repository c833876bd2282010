/*
 * worker.c — a worker thread: the loop around one sans-I/O core.
 *
 * Each turn: take a burst of datagrams from the RX ring and feed them to the
 * core, hand the buffers back to RX, take back the descriptors TX is done
 * with, fire due timers, flush (ACKs, data, app callbacks), wake TX if we
 * queued anything. With nothing to do it spins briefly, then sleeps on its
 * eventfd until RX or TX wakes it or the next timer is due.
 */
#include <errno.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <time.h>
#include <urcu.h>

#include "core/core.h"
#include "tcp/tcp_cc.h"
#include "stack/stack.h"

uint64_t clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct core_out *env_out_alloc(void *ctx)
{
	struct worker *w = ctx;

	return w->nfree ? w->free_descs[--w->nfree] : NULL;
}

static void env_out_send(void *ctx, struct core_out *o)
{
	struct worker *w = ctx;

	/* Cannot fail: the ring holds every descriptor this worker owns. */
	ring_enqueue(w->tx_ring, o);
	w->tx_kick = true;
}

static const struct core_listener *env_listener_lookup(void *ctx,
						       uint16_t port)
{
	struct worker *w = ctx;

	/* Draining (tundra_drain): accept nothing new. */
	if (atomic_load_explicit(&w->t->draining, memory_order_relaxed))
		return NULL;
	return listeners_lookup(w->t->listeners, port);
}

struct worker_call {
	struct cds_wfcq_node node;
	void (*fn)(void *arg);
	void *arg;
	/* The queue's own ordering lives in the uninstrumented liburcu;
	 * this flag makes the hand-off visible to ThreadSanitizer too. */
	_Atomic int ready;
};

int tundra_worker_call(struct tundra *t, unsigned worker,
		       void (*fn)(void *arg), void *arg)
{
	struct worker_call *c;
	struct worker *w;

	if (worker >= t->nworkers || !fn)
		return -EINVAL;
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	w = &t->workers[worker];
	cds_wfcq_node_init(&c->node);
	c->fn = fn;
	c->arg = arg;
	atomic_store_explicit(&c->ready, 1, memory_order_release);
	cds_wfcq_enqueue(&w->calls_head, &w->calls_tail, &c->node);
	waiter_wake(&w->wake);
	return 0;
}

int tundra_connect(struct tundra *t, unsigned worker, uint32_t raddr,
		   uint16_t rport, const struct tundra_app *app, void *arg)
{
	if (worker >= t->nworkers || !app)
		return -EINVAL;
	return core_connect(t->workers[worker].core, raddr, rport, app, arg,
			    clock_now_ns(), NULL);
}

unsigned tundra_workers(const struct tundra *t)
{
	return t->nworkers;
}

uint32_t worker_run_calls(struct worker *w)
{
	struct cds_wfcq_node *node;
	uint32_t n = 0;

	while ((node = __cds_wfcq_dequeue_blocking(&w->calls_head,
						   &w->calls_tail))) {
		struct worker_call *c =
			caa_container_of(node, struct worker_call, node);

		if (atomic_load_explicit(&c->ready, memory_order_acquire))
			c->fn(c->arg);
		free(c);
		n++;
	}
	if (n)
		stat_add(w->calls_run, n);
	return n;
}

bool worker_calls_pending(struct worker *w)
{
	return !cds_wfcq_empty(&w->calls_head, &w->calls_tail);
}

int worker_init(struct tundra *t, struct worker *w, unsigned id)
{
	const struct tundra_config *tc = &t->cfg;
	struct core_config cc = {
		.addr = tc->addr,
		.mtu = (uint16_t)tc->mtu,
		.sndbuf = tc->sndbuf,
		.rcvbuf = tc->rcvbuf,
		.time_wait_ns = tc->time_wait_ms * 1000000ull,
		.rto_min_ns = tc->rto_min_ms * 1000000ull,
		.rto_max_ns = tc->rto_max_ms * 1000000ull,
		.max_retries = tc->max_retries,
		/* tundra_cc and tcp_cc_algo number the algorithms alike. */
		.cc_algo = tc->cc == TUNDRA_CC_RENO ? TCP_CC_RENO : TCP_CC_CUBIC,
		.no_tlp = !tc->tlp,
		.delack_ns = tc->delack_ms * 1000000ull,
		.worker_id = id,
		.nworkers = tc->workers,
		.prefix = tc->prefix,
		.syncookies = (enum core_syncookies)tc->syncookies,
		.syn_backlog = tc->syn_backlog,
		/* Split evenly, rounded up: the flow hash spreads
		 * connections evenly over the workers. */
		.max_conns = (uint32_t)(((uint64_t)tc->max_conns +
					 tc->workers - 1) /
					tc->workers),
		.challenge_ack_limit = tc->challenge_ack_limit,
		.reass_mem = tc->reass_mem,
		/* TX writes a virtio_net_hdr: partial checksums and TSO. */
		.tx_offload = t->dev.vnet_hdr,
	};
	struct core_env env = {
		.ctx = w,
		.out_alloc = env_out_alloc,
		.out_send = env_out_send,
		.listener_lookup = env_listener_lookup,
	};
	int err;

	w->id = id;
	w->t = t;
	__cds_wfcq_init(&w->calls_head, &w->calls_tail);
	memcpy(cc.flow_key, t->flow_key, sizeof(cc.flow_key));
	randombytes_buf(cc.iss_key, sizeof(cc.iss_key));
	/* Enough descriptors for a full window of MSS segments on a few
	 * connections; the TX ring holds them all so a send never fails. */
	w->ndescs = 4096;
	w->rx_ring = ring_create(tc->ring_size);
	w->free_ring = ring_create(t->pool.total + t->bigpool.total);
	w->tx_ring = ring_create(w->ndescs);
	w->done_ring = ring_create(w->ndescs);
	w->descs = calloc(w->ndescs, sizeof(*w->descs));
	w->free_descs = calloc(w->ndescs, sizeof(*w->free_descs));
	if (!w->rx_ring || !w->free_ring || !w->tx_ring || !w->done_ring ||
	    !w->descs || !w->free_descs)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->ndescs; i++)
		w->free_descs[i] = &w->descs[i];
	w->nfree = w->ndescs;
	err = waiter_init(&w->wake);
	if (err)
		return err;
	w->core = core_create(&cc, &env);
	return w->core ? 0 : -ENOMEM;
}

void worker_fini(struct worker *w)
{
	void *objs[BURST];
	uint32_t n;

	/* Calls posted after the worker stopped: run here, on the control
	 * thread, with the threads gone, so their arguments are freed. */
	if (w->core)
		worker_run_calls(w);
	/* Descriptors TX handed back after we stopped. */
	if (w->done_ring && w->core)
		while ((n = ring_dequeue_burst(w->done_ring, objs, BURST)))
			for (uint32_t i = 0; i < n; i++)
				core_tx_done(w->core, objs[i]);
	core_destroy(w->core);
	waiter_destroy(&w->wake);
	ring_destroy(w->rx_ring);
	ring_destroy(w->free_ring);
	ring_destroy(w->tx_ring);
	ring_destroy(w->done_ring);
	free(w->descs);
	free(w->free_descs);
}

/* Give descriptors that TX is done with back to the core. */
static uint32_t reap_done(struct worker *w)
{
	void *objs[BURST];
	uint32_t n, total = 0;

	while ((n = ring_dequeue_burst(w->done_ring, objs, BURST))) {
		for (uint32_t i = 0; i < n; i++) {
			core_tx_done(w->core, objs[i]);
			w->free_descs[w->nfree++] = objs[i];
		}
		total += n;
	}
	return total;
}

static uint32_t rx_burst(struct worker *w, uint64_t now)
{
	void *pkts[BURST];
	uint32_t n = ring_dequeue_burst(w->rx_ring, pkts, BURST);

	if (!n)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		struct pkt *k = pkts[i];
		core_input_pkt(w->core, k->data, k->len, now,
			       k->has_hash ? &k->hash : NULL, k->in_flags);
	}
	/* Cannot fail: the return ring holds every buffer of the pool. */
	ring_enqueue_burst(w->free_ring, pkts, n);
	return n;
}

static void kick_tx(struct worker *w)
{
	if (w->tx_kick) {
		w->tx_kick = false;
		waiter_wake(&w->t->tx_wake);
	}
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct tundra *t = w->t;
	unsigned idle = 0;

	rcu_register_thread();
	while (!atomic_load_explicit(&t->stop_workers, memory_order_acquire)) {
		uint64_t now = clock_now_ns();
		int timeout;
		uint32_t got, done;

		/* Listener lookups in this turn happen inside one RCU
		 * read-side section. */
		rcu_read_lock();
		got = rx_burst(w, now);
		done = reap_done(w);
		if (worker_calls_pending(w))
			got += worker_run_calls(w);
		if (now >= core_next_deadline(w->core))
			core_timers(w->core, now);
		else if (got || core_pending(w->core))
			core_flush(w->core, now);
		rcu_read_unlock();
		kick_tx(w);

		if (got || done) {
			stat_add(w->batches, 1);
			idle = 0;
			continue;
		}
		if (idle < t->cfg.spin ||
		    t->cfg.poll_mode == TUNDRA_POLL_BUSY) {
			/* Spin on the queues alone (no clock read, no RCU
			 * section); the next turn handles what shows up,
			 * or, with the spin spent, goes to sleep (never,
			 * in poll_mode busy: it spins on). */
			while (idle++ < t->cfg.spin && ring_empty(w->rx_ring) &&
			       ring_empty(w->done_ring) &&
			       !worker_calls_pending(w))
				caa_cpu_relax();
			continue;
		}
		/* Sleep, unless work arrived since we last looked. */
		waiter_prepare(&w->wake);
		if (!ring_empty(w->rx_ring) || !ring_empty(w->done_ring) ||
		    worker_calls_pending(w) || atomic_load(&t->stop_workers)) {
			waiter_cancel(&w->wake);
			continue;
		}
		timeout = core_sleep_ms(w->core, clock_now_ns());
		if (timeout == 0) {
			waiter_cancel(&w->wake);
			continue;
		}
		waiter_sleep(&w->wake, timeout);
		idle = 0;
	}
	rcu_unregister_thread();
	return NULL;
}
