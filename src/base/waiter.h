/*
 * waiter.h — sleep/wake-up between a consumer thread and its producers.
 *
 * The consumer announces it is about to sleep (sleeping = 1), re-checks its
 * queues, and only then blocks on an eventfd; a producer, after publishing
 * work, wakes it only if the flag is set. The two sequentially-consistent
 * fences make the Dekker pattern safe: either the consumer sees the work, or
 * the producer sees the flag. A busy consumer therefore costs its producers
 * one load per batch, and an idle one costs no CPU at all.
 */
#ifndef TUNDRA_BASE_WAITER_H
#define TUNDRA_BASE_WAITER_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/barrier.h"
#include "base/compiler.h"

struct waiter {
	_Atomic int sleeping cacheline_aligned;
	int efd;
	_Atomic uint64_t wakeups; /* times a producer had to wake us */
};

int waiter_init(struct waiter *w);
void waiter_destroy(struct waiter *w);
/* Wake the consumer if it still sleeps (the slow half of waiter_wake). */
void waiter_kick(struct waiter *w);

/* Producer: after publishing work. */
static inline void waiter_wake(struct waiter *w)
{
	dekker_barrier(&w->sleeping);
	if (atomic_load_explicit(&w->sleeping, memory_order_relaxed))
		waiter_kick(w);
}

/* Consumer: announce the sleep; then re-check the queues and call
 * waiter_sleep() if still idle, or waiter_cancel() if not. */
static inline void waiter_prepare(struct waiter *w)
{
	atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
	dekker_barrier(&w->sleeping);
}

static inline void waiter_cancel(struct waiter *w)
{
	atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

/* Block until woken or timeout_ms passes (-1: no timeout). */
void waiter_sleep(struct waiter *w, int timeout_ms);
/* The same, and also until fd (-1: none) is readable: for a consumer whose
 * work also comes from a device (io_mode rtc: a worker's TUN queue). */
void waiter_sleep_fd(struct waiter *w, int fd, int timeout_ms);

#endif
