/*
 * ring.h — bounded, lock-free single-producer/single-consumer ring of
 * pointers.
 *
 * Exactly one thread may call the producer side (ring_enqueue*) and exactly
 * one thread the consumer side (ring_dequeue*) of a given ring; they may be
 * different threads. Indices are free-running 32-bit counters masked by the
 * power-of-two capacity, so "full" and "empty" need no spare slot.
 *
 * The producer's and consumer's indices live on separate cache lines, and
 * each side keeps a private copy of the other side's index that it refreshes
 * only when the copy says the ring is full (producer) or empty (consumer):
 * in steady state a burst touches the shared line of the other side once.
 */
#ifndef TUNDRA_RING_RING_H
#define TUNDRA_RING_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

struct ring {
	/* Producer's line: written by the producer only. */
	struct {
		_Atomic uint32_t tail;
		uint32_t head_cache; /* producer's view of cons.head */
	} prod cacheline_aligned;
	/* Consumer's line: written by the consumer only. */
	struct {
		_Atomic uint32_t head;
		uint32_t tail_cache; /* consumer's view of prod.tail */
	} cons cacheline_aligned;
	/* Read-only after creation. */
	uint32_t mask cacheline_aligned;
	uint32_t size;
	void *slots[];
};

/* Capacity is rounded up to a power of two (minimum 2). NULL on ENOMEM. */
struct ring *ring_create(uint32_t capacity);
void ring_destroy(struct ring *r);

static always_inline uint32_t ring_capacity(const struct ring *r)
{
	return r->size;
}

/*
 * Enqueue up to n pointers; returns how many were enqueued (0..n). A short
 * count means the ring is full: the caller counts the drop or backs off.
 */
static always_inline uint32_t ring_enqueue_burst(struct ring *r,
						 void *const *objs, uint32_t n)
{
	uint32_t tail = atomic_load_explicit(&r->prod.tail,
					     memory_order_relaxed);
	uint32_t free_slots = r->size - (tail - r->prod.head_cache);

	if (unlikely(free_slots < n)) {
		r->prod.head_cache = atomic_load_explicit(
			&r->cons.head, memory_order_acquire);
		free_slots = r->size - (tail - r->prod.head_cache);
		if (n > free_slots)
			n = free_slots;
	}
	for (uint32_t i = 0; i < n; i++)
		r->slots[(tail + i) & r->mask] = objs[i];
	/* Release: the slots are visible before the new tail. */
	atomic_store_explicit(&r->prod.tail, tail + n, memory_order_release);
	return n;
}

static always_inline bool ring_enqueue(struct ring *r, void *obj)
{
	return ring_enqueue_burst(r, &obj, 1) == 1;
}

/* Dequeue up to n pointers into objs; returns how many (0 when empty). */
static always_inline uint32_t ring_dequeue_burst(struct ring *r, void **objs,
						 uint32_t n)
{
	uint32_t head = atomic_load_explicit(&r->cons.head,
					     memory_order_relaxed);
	uint32_t avail = r->cons.tail_cache - head;

	if (avail < n) {
		r->cons.tail_cache = atomic_load_explicit(
			&r->prod.tail, memory_order_acquire);
		avail = r->cons.tail_cache - head;
		if (n > avail)
			n = avail;
	}
	for (uint32_t i = 0; i < n; i++)
		objs[i] = r->slots[(head + i) & r->mask];
	/* Release: our reads of the slots finish before the producer reuses
	 * them. */
	atomic_store_explicit(&r->cons.head, head + n, memory_order_release);
	return n;
}

static always_inline void *ring_dequeue(struct ring *r)
{
	void *obj = NULL;
	return ring_dequeue_burst(r, &obj, 1) ? obj : NULL;
}

/*
 * Entries currently queued. Exact when called by either endpoint about its
 * own side; from a third thread it is a snapshot for stats only.
 */
static always_inline uint32_t ring_count(struct ring *r)
{
	uint32_t tail = atomic_load_explicit(&r->prod.tail,
					     memory_order_acquire);
	uint32_t head = atomic_load_explicit(&r->cons.head,
					     memory_order_acquire);
	return tail - head;
}

static always_inline bool ring_empty(struct ring *r)
{
	return ring_count(r) == 0;
}

#endif
