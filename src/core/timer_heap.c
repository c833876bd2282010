/*
 * timer_heap.c — a binary min-heap of connections keyed by their earliest
 * deadline. Each connection is in the heap at most once (heap_idx), so a
 * change of deadline is one sift, O(log n), and the next deadline is O(1).
 */
#include <stdlib.h>

#include "core/core_priv.h"

int theap_init(struct core *core, uint32_t cap)
{
	core->heap = malloc(cap * sizeof(*core->heap));
	if (!core->heap)
		return -1;
	core->heap_cap = cap;
	core->heap_len = 0;
	return 0;
}

void theap_free(struct core *core)
{
	free(core->heap);
	core->heap = NULL;
}

static void heap_set(struct core *core, uint32_t i, struct tcp_conn *c)
{
	core->heap[i] = c;
	c->heap_idx = (int32_t)i;
}

static void sift_up(struct core *core, uint32_t i)
{
	struct tcp_conn *c = core->heap[i];

	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (core->heap[p]->timer_at <= c->timer_at)
			break;
		heap_set(core, i, core->heap[p]);
		i = p;
	}
	heap_set(core, i, c);
}

static void sift_down(struct core *core, uint32_t i)
{
	struct tcp_conn *c = core->heap[i];

	for (;;) {
		uint32_t l = 2 * i + 1, m = l;
		if (l >= core->heap_len)
			break;
		if (l + 1 < core->heap_len &&
		    core->heap[l + 1]->timer_at < core->heap[l]->timer_at)
			m = l + 1;
		if (c->timer_at <= core->heap[m]->timer_at)
			break;
		heap_set(core, i, core->heap[m]);
		i = m;
	}
	heap_set(core, i, c);
}

void theap_remove(struct core *core, struct tcp_conn *c)
{
	uint32_t i;

	if (c->heap_idx < 0)
		return;
	i = (uint32_t)c->heap_idx;
	c->heap_idx = -1;
	if (--core->heap_len == i)
		return;
	heap_set(core, i, core->heap[core->heap_len]);
	sift_down(core, i);
	sift_up(core, (uint32_t)core->heap[i]->heap_idx);
}

void theap_update(struct core *core, struct tcp_conn *c)
{
	uint64_t at = 0;

	const uint64_t t[] = { c->rto_at, c->tw_at, c->dack_at, c->ka_at,
			       c->pto_at };

	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i] && (!at || t[i] < at))
			at = t[i];
	if (!at) {
		theap_remove(core, c);
		c->timer_at = 0;
		return;
	}
	if (c->heap_idx >= 0 && at == c->timer_at)
		return;
	c->timer_at = at;
	if (c->heap_idx < 0) {
		if (core->heap_len == core->heap_cap) {
			uint32_t cap = core->heap_cap * 2;
			struct tcp_conn **h =
				realloc(core->heap, cap * sizeof(*h));
			if (!h)
				return; /* no memory: this deadline is lost */
			core->heap = h;
			core->heap_cap = cap;
		}
		heap_set(core, core->heap_len++, c);
		sift_up(core, (uint32_t)c->heap_idx);
	} else {
		sift_down(core, (uint32_t)c->heap_idx);
		sift_up(core, (uint32_t)c->heap_idx);
	}
}

struct tcp_conn *theap_min(struct core *core)
{
	return core->heap_len ? core->heap[0] : NULL;
}
