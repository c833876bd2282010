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
#include <sys/uio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "capture/pcap.h"
#include "impair/impair.h"
#include "ip/ipv4.h"
#include "stack/stack.h"
#include "tcp/tcp_wire.h"
#include "tun/vnet.h"

/* How long RX keeps yielding to a worker whose ring is full before it
 * drops. */
#define RX_FULL_WAIT_NS 50000000ull /* 50 ms */

/* Which worker owns this datagram: TCP by its 4-tuple; anything else (ICMP,
 * garbage) by its addresses, so it is spread too. The worker checks it.
 * A TCP hash is kept in the packet so the core need not compute it
 * again. */
unsigned rx_classify(struct tundra *t, struct pkt *k)
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

/* Take back the buffers workers are done with, each to its own pool. */
static void refill(struct tundra *t)
{
	void *objs[BURST];
	uint32_t n;

	for (unsigned i = 0; i < t->nworkers; i++)
		while ((n = ring_dequeue_burst(t->workers[i].free_ring, objs,
					       BURST)))
			for (uint32_t j = 0; j < n; j++) {
				struct pkt *k = objs[j];

				pkt_put(k->big ? &t->bigpool : &t->pool, k);
			}
}

/* A buffer to read into: a big one with offloads (a read may be a GSO
 * super-packet), else a small one. NULL when none is free. */
static struct pkt *rx_buf(struct tundra *t)
{
	struct pkt_pool *pool = t->dev.vnet_hdr ? &t->bigpool : &t->pool;
	struct pkt *k = pkt_get(pool);

	if (!k) {
		refill(t);
		k = pkt_get(pool);
	}
	if (k)
		k->big = pool == &t->bigpool;
	return k;
}

/*
 * No buffer free: every one is queued at a worker. Give the workers the CPU
 * for a while, as for a full ring (rx_queue): the kernel's queue holds
 * what arrives meanwhile. Bounded; NULL after RX_FULL_WAIT_NS.
 */
static struct pkt *rx_buf_wait(struct tundra *t)
{
	uint64_t until = clock_now_ns() + RX_FULL_WAIT_NS;
	struct pkt *k = NULL;

	while (!k && clock_now_ns() < until &&
	       !atomic_load_explicit(&t->stop_rx, memory_order_relaxed)) {
		for (unsigned w = 0; w < t->nworkers; w++)
			waiter_wake(&t->workers[w].wake);
		sched_yield();
		k = rx_buf(t);
	}
	return k;
}

/*
 * One read with offloads: the virtio_net_hdr into vh, the datagram into
 * k. Returns what read() returns, the header not counted (a read too
 * short to hold the header is a read error, -1 with errno EINVAL).
 */
ssize_t rx_read_vnet(int fd, struct pkt *k, uint32_t size,
		     struct virtio_net_hdr *vh)
{
	struct iovec iov[2] = {
		{ .iov_base = vh, .iov_len = sizeof(*vh) },
		{ .iov_base = k->data, .iov_len = size },
	};
	ssize_t n = readv(fd, iov, 2);

	if (n <= 0)
		return n;
	if ((size_t)n < sizeof(*vh)) {
		errno = EINVAL;
		return -1;
	}
	return n - (ssize_t)sizeof(*vh);
}

/*
 * With offloads: note what the header says, and move a datagram that fits
 * a small buffer into one, so the big buffer serves the next read (big
 * buffers are few: pkt.h). Returns the buffer to dispatch, or NULL when
 * the datagram was dropped (counted).
 */
static struct pkt *rx_offload(struct tundra *t, struct pkt *k,
			      const struct virtio_net_hdr *vh)
{
	struct vnet_rx v;
	struct pkt *s;

	vnet_rx_parse(vh, k->len, &v);
	k->in_flags = v.csum_ok ? CORE_IN_CSUM_OK : 0;
	if (v.gso)
		stat_add(t->rx.gso_pkts, 1);
	if (k->len > t->pool.buf_size)
		return k;
	s = pkt_get(&t->pool);
	if (!s) {
		refill(t);
		s = pkt_get(&t->pool);
	}
	if (!s && t->bigpool.nfree >= t->bigpool.total / 2)
		return k; /* deliver the big one */
	if (!s) {
		/*
		 * Every small buffer is queued at a worker (a flood of
		 * short datagrams, slow workers) and half the big ones are
		 * too: keep the rest for super-packets, and drop this one
		 * rather than let short datagrams pin every 64 KB buffer.
		 */
		pkt_put(&t->bigpool, k);
		stat_add(t->rx.no_buf, 1);
		LOG_WARN_RL("rx: no small packet buffer free, dropping");
		return NULL;
	}
	s->big = 0;
	s->len = k->len;
	s->queue = k->queue;
	s->in_flags = k->in_flags;
	memcpy(s->data, k->data, k->len);
	pkt_put(&t->bigpool, k);
	return s;
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
			pkt_put(batch[w][i]->big ? &t->bigpool : &t->pool,
				batch[w][i]);
		if (sent < count[w]) {
			stat_add(t->rx.ring_full, count[w] - sent);
			LOG_WARN_RL("rx: worker %u ring full for 50 ms, "
				    "dropped %u packet(s)", w, count[w] - sent);
		}
		if (sent)
			waiter_wake(&t->workers[w].wake);
	}
}

/* What a held datagram must keep besides its bytes: its queue and the
 * core input flags (a partial checksum stays vouched for). */
#define RX_AUX(q, f) ((uint16_t)((q) | (f) << 8)) /* queues < 256 */

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
					k->len, RX_AUX(k->queue, k->in_flags)))
				free(copy);
		}
	}
	pkt_put(k->big ? &t->bigpool : &t->pool, k);
	return true;
}

/* A buffer for a held datagram of len bytes: a small one if it fits. */
static struct pkt *rx_buf_for(struct tundra *t, uint32_t len)
{
	struct pkt_pool *pool =
		len <= t->pool.buf_size ? &t->pool : &t->bigpool;
	struct pkt *k = pkt_get(pool);

	if (!k) {
		refill(t);
		k = pkt_get(pool);
	}
	if (k)
		k->big = pool == &t->bigpool;
	return k;
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
				struct pkt *k = rx_buf_for(t, it.len);
				unsigned w;

				if (!k) {
					stat_add(t->rx.no_buf, 1);
					continue;
				}
				memcpy(k->data, it.obj, it.len);
				k->len = it.len;
				k->queue = it.aux & 0xff;
				k->in_flags = (uint8_t)(it.aux >> 8);
				if (t->cap)
					capture_packet(t->cap, k->data, k->len);
				w = rx_classify(t, k);
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
		struct virtio_net_hdr vh;
		ssize_t n;
		unsigned w;

		if (!k && got) {
			/* Hand the workers what we hold first: they return
			 * buffers as they go. */
			*again = true;
			break;
		}
		if (!k)
			k = rx_buf_wait(t);
		if (!k) {
			/* Every buffer stayed queued at a worker: drop. */
			uint8_t scratch[128];
			if (read(t->dev.fds[q], scratch, sizeof(scratch)) < 0)
				break;
			stat_add(t->rx.no_buf, 1);
			LOG_WARN_RL("rx: no packet buffer free, dropping "
				    "(queue %u)", q);
			continue;
		}
		if (t->dev.vnet_hdr)
			n = rx_read_vnet(t->dev.fds[q], k, t->bigpool.buf_size,
					 &vh);
		else
			n = read(t->dev.fds[q], k->data, t->pool.buf_size);
		if (n > 0 && (size_t)n > (k->big ? t->bigpool.buf_size
						  : t->pool.buf_size)) {
			/* TUN reports the whole length of a datagram it
			 * truncated to our buffer; we never ask for one
			 * that large (MTU, or 64 KB GSO), but never read
			 * past the buffer either. */
			pkt_put(k->big ? &t->bigpool : &t->pool, k);
			stat_add(t->rx.read_errors, 1);
			LOG_WARN_RL("rx: %zd-byte datagram on %s queue %u "
				    "does not fit a buffer, dropped", n,
				    t->cfg.dev, q);
			continue;
		}
		if (n <= 0) {
			pkt_put(k->big ? &t->bigpool : &t->pool, k);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				stat_add(t->rx.read_errors, 1);
				LOG_WARN_RL("rx: read from %s queue %u: %m",
					    t->cfg.dev, q);
			}
			break;
		}
		k->len = (uint32_t)n;
		k->queue = (uint16_t)q;
		k->in_flags = 0;
		if (t->dev.vnet_hdr && !(k = rx_offload(t, k, &vh)))
			continue;
		stat_add(t->rx.pkts, 1);
		stat_add(t->rx.bytes, k->len);
		got++;
		/* The capture records what tundra receives: after this. */
		if (unlikely(t->imp_rx) && rx_impair(t, k))
			continue;
		if (t->cap)
			capture_packet(t->cap, k->data, k->len);
		w = rx_classify(t, k);
		/* TX writes worker w's flows on queue w mod Q, and the kernel
		 * sends a flow on the queue it was last written on: a TCP
		 * datagram on another queue is one the kernel has not (yet)
		 * mapped, e.g. a SYN, which could overtake or trail the
		 * flow's datagrams on the other queue. */
		if (k->has_hash && q != w % t->dev.nqueues)
			stat_add(t->rx.other_queue, 1);
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
