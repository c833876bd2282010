/*
 * rx.c — the RX thread: reads datagrams from every TUN queue and hands each
 * to the worker that owns its flow, hash(4-tuple) → worker (DESIGN.md). It
 * looks at no more of a packet than it needs to find the 4-tuple and never
 * touches connection state; the worker validates everything.
 *
 * It sleeps in poll() on the queue fds; a burst is read per queue per turn
 * and pushed with one ring operation per worker. A full worker ring drops
 * (counted): TUN offers no back-pressure on the receive side, and the peer's
 * TCP recovers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "capture/pcap.h"
#include "impair/impair.h"
#include "ip/ipv4.h"
#include "stack/stack.h"
#include "tcp/tcp_wire.h"

/* How long RX keeps yielding to a worker whose ring is full before it
 * drops. */
#define RX_FULL_WAIT_NS 50000000ull /* 50 ms */

/* Which worker owns this datagram: TCP by its 4-tuple; anything else (ICMP,
 * garbage) by its addresses, so it is spread too. The worker checks it.
 * A TCP hash is kept in the packet so the core need not compute it
 * again. */
static unsigned classify(struct tundra *t, struct pkt *k)
{
	const uint8_t *p = k->data;
	uint32_t len = k->len;
	uint64_t h;
	uint32_t saddr, daddr;
	uint16_t sport = 0, dport = 0;
	unsigned ihl;

	if (len < IPV4_HDR_LEN || (p[0] >> 4) != 4)
		return 0;
	ihl = (p[0] & 0x0f) * 4u;
	memcpy(&saddr, p + 12, 4);
	memcpy(&daddr, p + 16, 4);
	/* First fragments carry ports, later ones do not: fragments all go
	 * by address (the worker drops them anyway, for now). */
	k->has_hash = 0;
	if (p[9] == IPPROTO_TCP_ && len >= ihl + 4 &&
	    !(((p[6] << 8) | p[7]) & (IPV4_MF | IPV4_OFFMASK))) {
		memcpy(&sport, p + ihl, 2);
		memcpy(&dport, p + ihl + 2, 2);
		k->has_hash = 1;
	}
	h = flow_hash(t->flow_key, ntohl(saddr), ntohs(sport), ntohl(daddr),
		      ntohs(dport));
	k->hash = h;
	return flow_worker(h, t->nworkers);
}

/* Take back the buffers workers are done with. */
static void refill(struct tundra *t)
{
	struct pkt_pool *pool = &t->pool;

	for (unsigned i = 0; i < t->nworkers; i++)
		pool->nfree += ring_dequeue_burst(
			t->workers[i].free_ring,
			(void **)&pool->free[pool->nfree],
			pool->total - pool->nfree);
}

/* Push each worker's batch onto its ring (count[w] datagrams in
 * batch[w]); what does not fit is dropped, counted. */
static void rx_dispatch(struct tundra *t, unsigned nw,
			struct pkt *batch[nw][BURST], unsigned count[nw])
{
	for (unsigned w = 0; w < nw; w++) {
		unsigned sent;

		if (!count[w])
			continue;
		sent = ring_enqueue_burst(t->workers[w].rx_ring,
					  (void **)batch[w], count[w]);
		/*
		 * A full ring: wake the worker and give it the CPU for a
		 * while rather than drop. While RX waits it reads nothing,
		 * so the kernel's queue on the device (txqueuelen) absorbs
		 * the burst: back-pressure instead of a loss the peer must
		 * recover from. Bounded, so a stuck worker costs drops, not
		 * a stuck stack.
		 */
		for (uint64_t until = 0; sent < count[w] &&
		     !atomic_load_explicit(&t->stop_rx, memory_order_relaxed);) {
			uint64_t now = clock_now_ns();

			if (!until)
				until = now + RX_FULL_WAIT_NS;
			else if (now > until)
				break;
			waiter_wake(&t->workers[w].wake);
			stat_add(t->rx.ring_waits, 1);
			sched_yield();
			sent += ring_enqueue_burst(t->workers[w].rx_ring,
						   (void **)&batch[w][sent],
						   count[w] - sent);
		}
		for (unsigned i = sent; i < count[w]; i++)
			pkt_put(&t->pool, batch[w][i]);
		if (sent < count[w]) {
			stat_add(t->rx.ring_full, count[w] - sent);
			LOG_WARN_RL("rx: worker %u ring full for 50 ms, "
				    "dropped %u packet(s)", w, count[w] - sent);
		}
		if (sent)
			waiter_wake(&t->workers[w].wake);
	}
}

/* A free buffer, taking back what the workers are done with if need be;
 * NULL when every buffer is queued at a worker. */
static struct pkt *rx_buf(struct tundra *t)
{
	struct pkt *k = pkt_get(&t->pool);

	if (!k) {
		refill(t);
		k = pkt_get(&t->pool);
	}
	return k;
}

/*
 * --impair on receive (src/impair/): decide k's fate. Returns true when it
 * took k: lost, or copied into the held queue (so a long delay never
 * starves the pool); false when k goes on now, unchanged.
 */
static bool rx_impair(struct tundra *t, struct pkt *k)
{
	uint64_t now = clock_now_ns();
	struct impair_plan p = impair_decide(t->imp_rx, now);
	void *copy;

	if (likely(p.copies == 1 && p.when <= now))
		return false;
	/* A duplicate is held too, released at once on the next turn. */
	if (p.copies) {
		copy = malloc(k->len);
		if (!copy) {
			stat_add(t->rx.no_buf, 1); /* no memory for the copy */
		} else {
			memcpy(copy, k->data, k->len);
			/* A full queue is counted there (impair_full). */
			if (impair_hold(t->imp_rx, p.when, p.copies, copy,
					k->len, k->queue))
				free(copy);
		}
	}
	pkt_put(&t->pool, k);
	return true;
}

/* Dispatch the held datagrams that are due, each copy in a pool buffer. */
static void rx_impair_release(struct tundra *t)
{
	struct pkt *batch[t->nworkers][BURST];
	unsigned count[t->nworkers];
	uint64_t now = clock_now_ns();
	struct impair_item it;
	unsigned got;

	do {
		memset(count, 0, sizeof(count));
		got = 0;
		while (got + 2 <= BURST && impair_pop(t->imp_rx, now, &it)) {
			for (unsigned c = 0; c < it.copies; c++) {
				struct pkt *k = rx_buf(t);
				unsigned w;

				if (!k) {
					stat_add(t->rx.no_buf, 1);
					continue;
				}
				memcpy(k->data, it.obj, it.len);
				k->len = it.len;
				k->queue = it.aux;
				if (t->cap)
					capture_packet(t->cap, k->data, k->len);
				w = classify(t, k);
				batch[w][count[w]++] = k;
				got++;
			}
			free(it.obj);
		}
		rx_dispatch(t, t->nworkers, batch, count);
	} while (got + 2 > BURST);
}

/* Read up to BURST datagrams from one queue and dispatch them. Returns how
 * many were read; *again is set when the queue may hold more. */
static unsigned rx_queue(struct tundra *t, unsigned q, bool *again)
{
	struct pkt *batch[t->nworkers][BURST];
	unsigned count[t->nworkers];
	unsigned got = 0;

	memset(count, 0, sizeof(count));
	*again = false;
	while (got < BURST) {
		struct pkt *k = rx_buf(t);
		ssize_t n;
		unsigned w;

		if (!k) {
			/* Every buffer is queued at a worker: drop. */
			uint8_t scratch[64];
			if (read(t->dev.fds[q], scratch, sizeof(scratch)) < 0)
				break;
			stat_add(t->rx.no_buf, 1);
			LOG_WARN_RL("rx: no packet buffer free, dropping "
				    "(queue %u)", q);
			continue;
		}
		n = read(t->dev.fds[q], k->data, t->pool.buf_size);
		if (n <= 0) {
			pkt_put(&t->pool, k);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				stat_add(t->rx.read_errors, 1);
				LOG_WARN_RL("rx: read from %s queue %u: %m",
					    t->cfg.dev, q);
			}
			break;
		}
		k->len = (uint32_t)n;
		k->queue = (uint16_t)q;
		stat_add(t->rx.pkts, 1);
		stat_add(t->rx.bytes, (uint64_t)n);
		got++;
		/* The capture records what tundra receives: after this. */
		if (unlikely(t->imp_rx) && rx_impair(t, k))
			continue;
		if (t->cap)
			capture_packet(t->cap, k->data, (size_t)n);
		w = classify(t, k);
		batch[w][count[w]++] = k;
	}
	if (got == BURST)
		*again = true;
	rx_dispatch(t, t->nworkers, batch, count);
	return got;
}

void *rx_main(void *arg)
{
	struct tundra *t = arg;
	unsigned nq = t->dev.nqueues;
	struct pollfd pfd[TUN_MAX_QUEUES + 1];

	for (unsigned q = 0; q < nq; q++)
		pfd[q] = (struct pollfd){ .fd = t->dev.fds[q],
					  .events = POLLIN };
	pfd[nq] = (struct pollfd){ .fd = t->rx_stop_efd, .events = POLLIN };

	while (!atomic_load_explicit(&t->stop_rx, memory_order_acquire)) {
		bool more = true;
		/* poll_mode busy: never block in poll. */
		int timeout = t->cfg.poll_mode == TUNDRA_POLL_BUSY ? 0 : -1, n;

		/* --impair: release what is due, wake for what is next. */
		if (unlikely(t->imp_rx)) {
			rx_impair_release(t);
			n = impair_timeout_ms(t->imp_rx, clock_now_ns());
			if (n >= 0 && (timeout < 0 || n < timeout))
				timeout = n;
		}
		n = poll(pfd, nq + 1, timeout);

		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (pfd[nq].revents)
			break;
		stat_add(t->rx.batches, 1);
		/* Round-robin the queues until all are drained, so one busy
		 * queue cannot starve the others. */
		while (more) {
			more = false;
			/* Held datagrams leave on time under load too. */
			if (unlikely(t->imp_rx))
				rx_impair_release(t);
			for (unsigned q = 0; q < nq; q++) {
				bool again;

				if (!(pfd[q].revents & POLLIN))
					continue;
				rx_queue(t, q, &again);
				if (again)
					more = true;
				else
					pfd[q].revents = 0;
			}
		}
	}
	/* Stopping: what --impair still holds is lost, as on a link that
	 * goes down. */
	if (t->imp_rx) {
		struct impair_item it;

		while (impair_pop(t->imp_rx, UINT64_MAX, &it))
			free(it.obj);
	}
	return NULL;
}
