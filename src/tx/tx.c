/*
 * tx.c — the TX thread: drains every worker's TX ring and writes each
 * datagram to the TUN with one writev (headers from the descriptor, payload
 * straight from the connection's send buffer: no copy), then returns the
 * descriptors to their worker. A worker's flows always go out on the same
 * queue (worker id mod queues), so the kernel keeps each flow on one queue.
 * With offloads each write starts with a virtio_net_hdr built from the
 * descriptor: NEEDS_CSUM for a partial checksum, GSO_TCPV4 for a TSO
 * super-segment the kernel cuts into MSS-sized segments.
 *
 * Writing here keeps the kernel's receive work for each packet (which runs
 * in the writing thread) off the workers.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "capture/pcap.h"
#include "impair/impair.h"
#include "stack/stack.h"
#include "tun/vnet.h"

void tx_write(struct tundra *t, struct tx_stats *st, int fd, struct core_out *o)
{
	/* With offloads every write starts with a virtio_net_hdr (all zero
	 * for a finished datagram); the core's pieces follow. */
	struct virtio_net_hdr vh;
	struct iovec iov[CORE_OUT_MAX_IOV + 1];
	const struct iovec *v = o->iov;
	int niov = o->niov;
	size_t extra = 0;

	if (t->dev.vnet_hdr) {
		vnet_tx_build(&vh, (uint16_t)o->iov[0].iov_len, o->csum_start,
			      o->csum_offset, o->gso_size);
		iov[0] = (struct iovec){ .iov_base = &vh,
					 .iov_len = sizeof(vh) };
		memcpy(&iov[1], o->iov, o->niov * sizeof(*o->iov));
		v = iov;
		niov++;
		extra = sizeof(vh);
	}
	/* Captured before the write: the kernel handles a TUN write inside
	 * writev, so its answer can reach RX (and the capture) before writev
	 * returns; recording first keeps the file in causal order. A write
	 * that then fails is counted in tx errors. */
	if (t->cap)
		capture_packetv(t->cap, o->iov, o->niov);
	for (int tries = 0; tries < 100; tries++) {
		ssize_t n = writev(fd, v, niov);

		if (n >= 0) {
			stat_add(st->pkts, 1);
			stat_add(st->bytes, (uint64_t)n - extra);
			if (o->gso_size)
				stat_add(st->tso_segs, 1);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			/* EIO: device down; EINVAL: a bad packet. Counted,
			 * and the TCP above retransmits. */
			stat_add(st->errors, 1);
			LOG_WARN_RL("tx: write of %u bytes to %s: %m", o->len,
				    t->cfg.dev);
			return;
		}
		/* Back-pressure from the device: wait for room rather than
		 * drop (bounded). */
		stat_add(st->eagain, 1);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		poll(&p, 1, 10);
	}
	stat_add(st->errors, 1);
	LOG_WARN_RL("tx: device %s full for 1 s, dropped a %u-byte datagram",
		    t->cfg.dev, o->len);
}

/* Give o back to worker w: its payload bytes are free for reuse. */
static void tx_done(struct worker *w, struct core_out *o)
{
	/* Cannot fail: sized for every descriptor of the worker. */
	ring_enqueue(w->done_ring, o);
	waiter_wake(&w->wake);
}

/*
 * --impair on transmit (src/impair/): how many times to write o now (0:
 * lost, or tail-dropped by a full queue), or -1 when it is held; a held
 * descriptor goes back to its worker only after its write.
 */
static int tx_impair(struct tundra *t, unsigned worker, struct core_out *o,
		     uint64_t now)
{
	struct impair_plan p = impair_decide(t->imp_tx, now);

	if (likely(p.when <= now) || !p.copies)
		return p.copies;
	if (impair_hold(t->imp_tx, p.when, p.copies, o, o->len,
			(uint16_t)worker))
		return 0;
	return -1;
}

/* Write the held descriptors that are due (all of them with now =
 * UINT64_MAX: on stop, when the device is going, they are returned
 * unwritten). */
static unsigned tx_impair_release(struct tundra *t, uint64_t now, bool write)
{
	struct impair_item it;
	unsigned n = 0;

	while (impair_pop(t->imp_tx, now, &it)) {
		struct worker *w = &t->workers[it.aux];

		for (unsigned c = 0; write && c < it.copies; c++)
			tx_write(t, &t->tx, t->dev.fds[it.aux % t->dev.nqueues],
				 it.obj);
		tx_done(w, it.obj);
		n++;
	}
	return n;
}

static unsigned tx_drain(struct tundra *t)
{
	unsigned total = 0;
	uint64_t now = 0;

	if (unlikely(t->imp_tx)) {
		now = clock_now_ns();
		total += tx_impair_release(t, now, true);
	}
	for (unsigned i = 0; i < t->nworkers; i++) {
		struct worker *w = &t->workers[i];
		int fd = t->dev.fds[i % t->dev.nqueues];
		void *objs[BURST];
		uint32_t n = ring_dequeue_burst(w->tx_ring, objs, BURST);
		uint32_t done = 0;

		if (!n)
			continue;
		for (uint32_t k = 0; k < n; k++) {
			int copies = 1;

			if (unlikely(t->imp_tx) &&
			    (copies = tx_impair(t, i, objs[k], now)) < 0)
				continue; /* held */
			while (copies--)
				tx_write(t, &t->tx, fd, objs[k]);
			objs[done++] = objs[k];
		}
		/* Cannot fail: sized for every descriptor of the worker. */
		ring_enqueue_burst(w->done_ring, objs, done);
		if (done)
			waiter_wake(&w->wake);
		total += n;
	}
	return total;
}

static bool rings_empty(struct tundra *t)
{
	for (unsigned i = 0; i < t->nworkers; i++)
		if (!ring_empty(t->workers[i].tx_ring))
			return false;
	return true;
}

void *tx_main(void *arg)
{
	struct tundra *t = arg;
	unsigned idle = 0;
	int timeout;

	for (;;) {
		if (tx_drain(t)) {
			stat_add(t->tx.batches, 1);
			idle = 0;
			continue;
		}
		/* Workers stop first, so once told to stop, empty rings stay
		 * empty. */
		if (atomic_load_explicit(&t->stop_tx, memory_order_acquire))
			break;
		if (idle++ < t->cfg.spin ||
		    t->cfg.poll_mode == TUNDRA_POLL_BUSY)
			continue;
		waiter_prepare(&t->tx_wake);
		/* --impair: wake for the next held datagram's release. */
		timeout = unlikely(t->imp_tx)
				  ? impair_timeout_ms(t->imp_tx, clock_now_ns())
				  : -1;
		if (!rings_empty(t) || atomic_load(&t->stop_tx) ||
		    timeout == 0) {
			waiter_cancel(&t->tx_wake);
			continue;
		}
		waiter_sleep(&t->tx_wake, timeout);
		idle = 0;
	}
	if (t->imp_tx)
		tx_impair_release(t, UINT64_MAX, false);
	return NULL;
}
