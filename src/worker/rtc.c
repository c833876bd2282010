/*
 * rtc.c — io_mode rtc, run to completion: with as many workers as TUN
 * queues, worker i reads TUN queue i itself, feeds each datagram to its
 * core at once, and writes what the core sends on queue i, with no RX or
 * TX thread in between. A request then costs one thread wake-up (the
 * worker's) instead of three (RX, worker, TX), and no ring hop.
 *
 * The kernel sends a flow on the queue tundra last wrote it on (its TUN
 * flow table, drivers/net/tun.c), so once the owner has written on a flow
 * the flow's datagrams come to the owner's queue. One that lands on
 * another worker's queue (a SYN, before anything was written; any flow
 * while the kernel's flow table is full) is copied into a buffer of the
 * reading worker's own pool and passed over an SPSC ring to its owner,
 * which hands the buffer back on a return ring: every buffer is freed by
 * the thread that allocated it, as in the pipeline.
 *
 * Back-pressure: a datagram for another worker that finds no buffer or no
 * ring slot stays in the read buffer, and the worker reads nothing more
 * until it has gone (the kernel queues what arrives meanwhile); the
 * worker keeps serving its own rings, so two workers waiting on each
 * other both make progress. The kernel's receive work for what a worker
 * writes runs in the worker's writev, as it ran in the TX thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu.h>

#include "base/log.h"
#include "capture/pcap.h"
#include "stack/stack.h"
#include "tun/vnet.h"

/* How long a worker holding a datagram for a full worker sleeps between
 * looks, when nobody wakes it (ms). */
#define RTC_HELD_POLL_MS 1

/* Loops of write-then-flush after a turn: each core_tx_done may let the
 * core send more (a window of data whose descriptors were all out). */
#define RTC_WRITE_ROUNDS 8

/* A poll() shorter than this did not sleep: the queue was readable (a
 * sleep and wake-up take tens of microseconds, a poll() that finds the
 * queue readable about one). */
#define RTC_NO_SLEEP_NS 5000

int worker_rtc_init(struct tundra *t, struct worker *w)
{
	const struct tundra_config *c = &t->cfg;
	struct worker_rtc *r = calloc(1, sizeof(*r));
	uint32_t nbig;

	w->rtc = r;
	if (!r)
		return -ENOMEM;
	r->fd = t->dev.fds[w->id];
	r->buf = malloc(sizeof(struct pkt) + PKT_BIG_SIZE);
	r->fwd = calloc(t->nworkers, sizeof(*r->fwd));
	r->ret = calloc(t->nworkers, sizeof(*r->ret));
	r->kick = calloc(t->nworkers, sizeof(*r->kick));
	if (!r->buf || !r->fwd || !r->ret || !r->kick)
		return -ENOMEM;
	/* Datagrams for other workers: one ring's worth of MTU-sized copies,
	 * and with offloads a share of the big-buffer budget (a super-packet
	 * on a foreign queue is rare: bulk flows keep their queue). */
	if (pkt_pool_init(&r->pool, c->ring_size, (c->mtu + 63) & ~63u))
		return -ENOMEM;
	nbig = MAX(4u, (8u << 20) / (PKT_BIG_SIZE + 64) / t->nworkers);
	if (t->dev.vnet_hdr && pkt_pool_init(&r->bigpool, nbig, PKT_BIG_SIZE))
		return -ENOMEM;
	for (unsigned j = 0; j < t->nworkers; j++) {
		if (j == w->id)
			continue;
		r->fwd[j] = ring_create(c->ring_size);
		/* Room for every buffer of the pools: a return never fails. */
		r->ret[j] = ring_create(r->pool.total + r->bigpool.total);
		if (!r->fwd[j] || !r->ret[j])
			return -ENOMEM;
	}
	return 0;
}

void worker_rtc_fini(struct tundra *t, struct worker *w)
{
	struct worker_rtc *r = w->rtc;

	if (!r)
		return;
	for (unsigned j = 0; j < t->nworkers; j++) {
		if (r->fwd)
			ring_destroy(r->fwd[j]);
		if (r->ret)
			ring_destroy(r->ret[j]);
	}
	/* Buffers still on a ring are in the pools' slabs: freed here. */
	pkt_pool_destroy(&r->pool);
	pkt_pool_destroy(&r->bigpool);
	free(r->fwd);
	free(r->ret);
	free(r->kick);
	free(r->buf);
	free(r);
	w->rtc = NULL;
}

/* Take back the buffers other workers are done with. */
static void rtc_reclaim(struct tundra *t, struct worker *w)
{
	struct worker_rtc *r = w->rtc;
	void *objs[BURST];
	uint32_t n;

	for (unsigned j = 0; j < t->nworkers; j++) {
		if (j == w->id)
			continue;
		while ((n = ring_dequeue_burst(r->ret[j], objs, BURST)))
			for (uint32_t i = 0; i < n; i++) {
				struct pkt *k = objs[i];

				pkt_put(k->big ? &r->bigpool : &r->pool, k);
			}
	}
}

/* Feed the core what other workers read for us, and hand the buffers
 * back. Returns how many datagrams. */
static uint32_t rtc_take_passed(struct tundra *t, struct worker *w,
				uint64_t now)
{
	void *objs[BURST];
	uint32_t n, total = 0;

	for (unsigned j = 0; j < t->nworkers; j++) {
		struct worker *from = &t->workers[j];

		if (j == w->id)
			continue;
		while ((n = ring_dequeue_burst(from->rtc->fwd[w->id], objs,
					       BURST))) {
			for (uint32_t i = 0; i < n; i++) {
				struct pkt *k = objs[i];

				core_input_pkt(w->core, k->data, k->len, now,
					       k->has_hash ? &k->hash : NULL,
					       k->in_flags);
			}
			/* Cannot fail: sized for every buffer of from's. */
			ring_enqueue_burst(from->rtc->ret[w->id], objs, n);
			total += n;
		}
		/* It waits for room we just made. */
		if (total && atomic_load_explicit(&from->rtc->starved,
						  memory_order_acquire))
			waiter_wake(&from->wake);
	}
	return total;
}

/* Pass the datagram in r->buf to worker `to`: a copy in a pool buffer on
 * the ring. false when there is no buffer or no slot (nothing changed). */
static bool rtc_pass(struct tundra *t, struct worker *w, unsigned to)
{
	struct worker_rtc *r = w->rtc;
	struct pkt *src = r->buf, *k;
	bool big = src->len > r->pool.buf_size;
	struct pkt_pool *pool = big ? &r->bigpool : &r->pool;

	k = pkt_get(pool);
	if (!k) {
		rtc_reclaim(t, w);
		k = pkt_get(pool);
		if (!k)
			return false;
	}
	k->hash = src->hash;
	k->len = src->len;
	k->queue = src->queue;
	k->has_hash = src->has_hash;
	k->in_flags = src->in_flags;
	k->big = big;
	memcpy(k->data, src->data, src->len);
	if (!ring_enqueue(r->fwd[to], k)) {
		pkt_put(pool, k);
		return false;
	}
	r->kick[to] = true;
	return true;
}

/* Wake the workers we passed datagrams to in this read. */
static void rtc_kick(struct tundra *t, struct worker *w)
{
	struct worker_rtc *r = w->rtc;

	for (unsigned j = 0; j < t->nworkers; j++)
		if (r->kick[j]) {
			r->kick[j] = false;
			waiter_wake(&t->workers[j].wake);
		}
}

/* One datagram of len bytes is in r->buf: the core's if it is ours, else
 * passed on (or held). false when it was held. */
static bool rtc_dispatch(struct tundra *t, struct worker *w, uint64_t now)
{
	struct worker_rtc *r = w->rtc;
	struct pkt *k = r->buf;
	unsigned to;

	if (t->cap)
		capture_packet(t->cap, k->data, k->len);
	to = rx_classify(t, k);
	if (to == w->id) {
		core_input_pkt(w->core, k->data, k->len, now,
			       k->has_hash ? &k->hash : NULL, k->in_flags);
		return true;
	}
	if (k->has_hash)
		stat_add(r->rx.other_queue, 1);
	if (unlikely(k->len > r->pool.buf_size && !r->bigpool.total)) {
		/* Longer than the MTU without offloads: no buffer could ever
		 * take it, so holding it would stop this queue for good. */
		stat_add(r->rx.no_buf, 1);
		LOG_WARN_RL("rx: %u-byte datagram for worker %u fits no "
			    "buffer, dropped",
			    k->len, to);
		return true;
	}
	if (rtc_pass(t, w, to))
		return true;
	r->held = true;
	r->held_for = to;
	atomic_store_explicit(&r->starved, true, memory_order_release);
	stat_add(r->rx.ring_waits, 1);
	return false;
}

/* Read up to BURST datagrams from our queue. Returns how many; *more when
 * the queue may hold more. */
static uint32_t rtc_read(struct tundra *t, struct worker *w, uint64_t now,
			 bool *more)
{
	struct worker_rtc *r = w->rtc;
	struct pkt *k = r->buf;
	uint32_t got = 0;

	*more = false;
	if (r->held) {
		if (!rtc_pass(t, w, r->held_for))
			return 0;
		r->held = false;
		atomic_store_explicit(&r->starved, false, memory_order_relaxed);
		got++;
	}
	while (got < BURST) {
		struct virtio_net_hdr vh;
		struct vnet_rx v;
		ssize_t n;

		if (t->dev.vnet_hdr)
			n = rx_read_vnet(r->fd, k, PKT_BIG_SIZE, &vh);
		else
			n = read(r->fd, k->data, PKT_BIG_SIZE);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				stat_add(r->rx.read_errors, 1);
				LOG_WARN_RL("rx: read from %s queue %u: %m",
					    t->cfg.dev, w->id);
			}
			break;
		}
		if ((size_t)n > PKT_BIG_SIZE) {
			/* A truncated datagram (see rx.c): never used. */
			stat_add(r->rx.read_errors, 1);
			continue;
		}
		k->len = (uint32_t)n;
		k->queue = (uint16_t)w->id;
		k->in_flags = 0;
		if (t->dev.vnet_hdr) {
			vnet_rx_parse(&vh, k->len, &v);
			k->in_flags = v.csum_ok ? CORE_IN_CSUM_OK : 0;
			if (v.gso)
				stat_add(r->rx.gso_pkts, 1);
		}
		stat_add(r->rx.pkts, 1);
		stat_add(r->rx.bytes, k->len);
		got++;
		if (!rtc_dispatch(t, w, now))
			break;
	}
	if (got == BURST)
		*more = true;
	rtc_kick(t, w);
	return got;
}

/* Write what the core queued, give the descriptors back, and let the
 * core send what that made room for. Returns how many were written. */
static uint32_t rtc_write(struct tundra *t, struct worker *w, uint64_t now)
{
	struct worker_rtc *r = w->rtc;
	void *objs[BURST];
	uint32_t n, total = 0;

	for (int round = 0; round < RTC_WRITE_ROUNDS; round++) {
		while ((n = ring_dequeue_burst(w->tx_ring, objs, BURST))) {
			for (uint32_t i = 0; i < n; i++) {
				tx_write(t, &r->tx, r->fd, objs[i]);
				core_tx_done(w->core, objs[i]);
				w->free_descs[w->nfree++] = objs[i];
			}
			total += n;
		}
		if (!core_pending(w->core))
			break;
		rcu_read_lock();
		core_flush(w->core, now);
		rcu_read_unlock();
	}
	w->tx_kick = false;
	if (total)
		stat_add(r->tx.batches, 1);
	return total;
}

static bool rtc_work_queued(struct tundra *t, struct worker *w)
{
	for (unsigned j = 0; j < t->nworkers; j++)
		if (j != w->id && !ring_empty(t->workers[j].rtc->fwd[w->id]))
			return true;
	return worker_calls_pending(w);
}

void *worker_rtc_main(void *arg)
{
	struct worker *w = arg;
	struct tundra *t = w->t;
	struct worker_rtc *r = w->rtc;
	bool busy = t->cfg.poll_mode == TUNDRA_POLL_BUSY;
	/* Read once more before sleeping (see below), and whether this
	 * round is such a read. */
	bool reread = true, again = false;

	rcu_register_thread();
	while (!atomic_load_explicit(&t->stop_workers, memory_order_acquire)) {
		uint64_t now = clock_now_ns(), sleep_at;
		uint32_t got, sent;
		bool more;
		int timeout;

		rcu_read_lock();
		got = rtc_take_passed(t, w, now);
		got += rtc_read(t, w, now, &more);
		if (worker_calls_pending(w))
			got += worker_run_calls(w);
		if (now >= core_next_deadline(w->core))
			core_timers(w->core, now);
		else if (got || core_pending(w->core))
			core_flush(w->core, now);
		rcu_read_unlock();
		sent = rtc_write(t, w, now);

		if (got || sent)
			stat_add(w->batches, 1);
		if (again && !got)
			reread = false;
		again = false;
		/* Round again at once for known work: a full burst (the
		 * queue may hold more) or output the core still has. */
		if (more || core_pending(w->core) || !ring_empty(w->tx_ring))
			continue;
		/* The read emptied the queue; what we wrote may have brought
		 * more at once (a kernel peer's TCP runs inside our write():
		 * ACKs bring it data in a bulk transfer), or only much later
		 * (an answer its application has to write). Read once more
		 * while that pays; when it finds nothing, go straight to the
		 * poll() below, one system call either way, and one fewer
		 * when nothing came, as in each request/response exchange
		 * (ab.sh rr, one worker: 4 us less CPU and p50 per exchange).
		 * A poll() that returns without sleeping says the read would
		 * have paid again. */
		if ((got || sent) && reread) {
			again = true;
			continue;
		}
		/* Idle: sleep at once. A look at the TUN queue is a system
		 * call, and so is poll(), which returns at once when the
		 * queue is readable, so nothing spins here (`spin` is for the
		 * pipeline's threads). Measured with bench/ab.sh on 2 CPUs:
		 * spinning 64 read()s cut crr by a quarter, spinning on the
		 * rings alone gained nothing. poll_mode busy never sleeps. */
		if (busy)
			continue;
		waiter_prepare(&w->wake);
		if (rtc_work_queued(t, w) || atomic_load(&t->stop_workers)) {
			waiter_cancel(&w->wake);
			continue;
		}
		timeout = core_sleep_ms(w->core, clock_now_ns());
		if (timeout == 0) {
			waiter_cancel(&w->wake);
			continue;
		}
		if (r->held && (timeout < 0 || timeout > RTC_HELD_POLL_MS))
			timeout = RTC_HELD_POLL_MS;
		/* Holding a datagram: the queue stays unread, so do not wake
		 * for it. */
		sleep_at = clock_now_ns();
		waiter_sleep_fd(&w->wake, r->held ? -1 : r->fd, timeout);
		if (clock_now_ns() - sleep_at < RTC_NO_SLEEP_NS)
			reread = true;
		stat_add(r->rx.batches, 1);
	}
	/* Stopping: what the core queued last still goes out. */
	rtc_write(t, w, clock_now_ns());
	rcu_unregister_thread();
	return NULL;
}
