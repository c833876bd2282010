/*
 * barrier.h — the full barrier of a Dekker hand-off ("store my flag, then
 * read yours"), used wherever one thread publishes work and another
 * announces it is going to sleep.
 *
 * ThreadSanitizer does not model fences, so under it a sequentially
 * consistent read-modify-write of a flag both sides use (an equivalent
 * barrier on every architecture we run on) stands in for the fence.
 */
#ifndef TUNDRA_BASE_BARRIER_H
#define TUNDRA_BASE_BARRIER_H

#include <stdatomic.h>

static inline void dekker_barrier(_Atomic int *flag)
{
#ifdef __SANITIZE_THREAD__
	atomic_fetch_add_explicit(flag, 0, memory_order_seq_cst);
#else
	(void)flag;
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

#endif
