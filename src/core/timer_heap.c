/*
 * timer_heap.c — a binary min-heap of connections keyed by their earliest
 * deadline. Each connection is in the heap at most once (heap_idx), so a
 * change of deadline is one sift, O(log n), and the next deadline is O(1).
 * An entry holds its key, so a sift reads no connection.
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

static void heap_set(struct core *core, uint32_t i, struct theap_ent e)
{
	core->heap[i] = e;
	e.c->heap_idx = (int32_t)i;
}

static void sift_up(struct core *core, uint32_t i)
{
	struct theap_ent e = core->heap[i];

	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (core->heap[p].at <= e.at)
			break;
		heap_set(core, i, core->heap[p]);
		i = p;
	}
	heap_set(core, i, e);
}

static void sift_down(struct core *core, uint32_t i)
{
	struct theap_ent e = core->heap[i];

	for (;;) {
		uint32_t l = 2 * i + 1, m = l;
		if (l >= core->heap_len)
			break;
		if (l + 1 < core->heap_len &&
		    core->heap[l + 1].at < core->heap[l].at)
			m = l + 1;
		if (e.at <= core->heap[m].at)
			break;
		heap_set(core, i, core->heap[m]);
		i = m;
	}
	heap_set(core, i, e);
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
	sift_up(core, (uint32_t)core->heap[i].c->heap_idx);
}

void theap_update(struct core *core, struct tcp_conn *c)
{
	uint64_t at = 0;

	const uint64_t now = core->now;
	const uint64_t t[] = { tcp_dl_ns(c->rto_at, now),
			       tcp_dl_ns(c->dack_at, now), tcp_ka_at(c),
			       tcp_dl_ns(c->pto_at, now) };

	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i] && (!at || t[i] < at))
			at = t[i];
	if (!at) {
		theap_remove(core, c);
		return;
	}
	if (c->heap_idx >= 0) {
		uint32_t i = (uint32_t)c->heap_idx;

		if (core->heap[i].at == at)
			return;
		core->heap[i].at = at;
		sift_down(core, i);
		sift_up(core, (uint32_t)c->heap_idx);
		return;
	}
	if (core->heap_len == core->heap_cap) {
		uint32_t cap = core->heap_cap * 2;
		struct theap_ent *h = realloc(core->heap, cap * sizeof(*h));

		if (!h)
			return; /* no memory: this deadline is lost */
		core->heap = h;
		core->heap_cap = cap;
	}
	heap_set(core, core->heap_len++, (struct theap_ent){ at, c });
	sift_up(core, (uint32_t)c->heap_idx);
}

struct tcp_conn *theap_min(struct core *core)
{
	return core->heap_len ? core->heap[0].c : NULL;
}
