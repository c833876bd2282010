/* test_ring.c — the SPSC pointer ring: single-thread semantics and a
 * two-thread ordering/loss/duplication stress. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "ring/ring.h"
#include "test_helpers.h"

#define P(i) ((void *)(uintptr_t)(i))
#define V(p) ((uintptr_t)(p))

/* Put the free-running indices (and both cached copies) at start, as if
 * start items had already passed through the ring. Only valid on an empty
 * ring with no other thread using it. */
static void set_indices(struct ring *r, uint32_t start)
{
	atomic_store(&r->prod.tail, start);
	r->prod.head_cache = start;
	atomic_store(&r->cons.head, start);
	r->cons.tail_cache = start;
}

/* ---- creation ---------------------------------------------------------- */

Test(ring, capacity_rounds_up_to_power_of_two)
{
	static const struct {
		uint32_t ask, size;
	} c[] = {
		{0, 2},       {1, 2},       {2, 2},       {3, 4},
		{4, 4},       {5, 8},       {7, 8},       {8, 8},
		{9, 16},      {1000, 1024}, {1024, 1024}, {1025, 2048},
		{65535, 65536}, {1u << 20, 1u << 20}, {(1u << 20) + 1, 1u << 21},
	};

	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		struct ring *r = ring_create(c[i].ask);
		cr_assert_not_null(r, "ask %u", c[i].ask);
		cr_assert_eq(ring_capacity(r), c[i].size, "ask %u: got %u",
			     c[i].ask, ring_capacity(r));
		cr_assert_eq(r->mask, c[i].size - 1);
		cr_assert_eq((uintptr_t)r % CACHELINE, 0);
		cr_assert(ring_empty(r));
		cr_assert_eq(ring_count(r), 0);
		ring_destroy(r);
	}
}

Test(ring, too_large_capacity_fails)
{
	cr_assert_null(ring_create((1u << 30) + 1));
	cr_assert_null(ring_create(0x80000000u));
	cr_assert_null(ring_create(UINT32_MAX));
}

Test(ring, layout_keeps_sides_apart)
{
	/* The two sides and the read-only part are on separate lines. */
	cr_assert_geq(offsetof(struct ring, cons) - offsetof(struct ring, prod),
		      CACHELINE);
	cr_assert_geq(offsetof(struct ring, mask) - offsetof(struct ring, cons),
		      CACHELINE);
}

/* ---- single-thread semantics ------------------------------------------- */

Test(ring, empty_dequeue)
{
	struct ring *r = ring_create(8);
	void *objs[4] = {P(0xdead), P(0xdead), P(0xdead), P(0xdead)};

	cr_assert_null(ring_dequeue(r));
	cr_assert_eq(ring_dequeue_burst(r, objs, 4), 0);
	cr_assert_eq(V(objs[0]), 0xdead, "empty dequeue wrote into objs");
	cr_assert_eq(ring_dequeue_burst(r, objs, 0), 0);
	cr_assert(ring_empty(r));
	/* Still empty after a fill and drain. */
	cr_assert(ring_enqueue(r, P(1)));
	cr_assert_eq(V(ring_dequeue(r)), 1);
	cr_assert_null(ring_dequeue(r));
	cr_assert_eq(ring_dequeue_burst(r, objs, 4), 0);
	ring_destroy(r);
}

Test(ring, fill_to_capacity_then_full)
{
	struct ring *r = ring_create(8);

	for (uintptr_t i = 1; i <= 8; i++) {
		cr_assert(ring_enqueue(r, P(i)), "item %zu", (size_t)i);
		cr_assert_eq(ring_count(r), i);
	}
	cr_assert_not(ring_enqueue(r, P(9)));
	void *more[3] = {P(9), P(10), P(11)};
	cr_assert_eq(ring_enqueue_burst(r, more, 3), 0);
	cr_assert_eq(ring_count(r), 8);
	/* FIFO, and the refused items never appear. */
	for (uintptr_t i = 1; i <= 8; i++)
		cr_assert_eq(V(ring_dequeue(r)), i);
	cr_assert_null(ring_dequeue(r));
	ring_destroy(r);
}

Test(ring, full_then_one_free_slot)
{
	/* The producer's cached head is stale after the consumer frees a
	 * slot: the next enqueue must refresh it and succeed. */
	struct ring *r = ring_create(4);
	for (uintptr_t i = 1; i <= 4; i++)
		cr_assert(ring_enqueue(r, P(i)));
	cr_assert_not(ring_enqueue(r, P(5)));
	cr_assert_eq(V(ring_dequeue(r)), 1);
	cr_assert(ring_enqueue(r, P(5)));
	cr_assert_not(ring_enqueue(r, P(6)));
	for (uintptr_t i = 2; i <= 5; i++)
		cr_assert_eq(V(ring_dequeue(r)), i);
	ring_destroy(r);
}

Test(ring, burst_enqueue_short_count)
{
	struct ring *r = ring_create(8);
	void *objs[16], *out[16];

	for (uintptr_t i = 0; i < 16; i++)
		objs[i] = P(i + 1);
	cr_assert_eq(ring_enqueue_burst(r, objs, 0), 0);
	cr_assert_eq(ring_enqueue_burst(r, objs, 5), 5);
	cr_assert_eq(ring_enqueue_burst(r, objs + 5, 5), 3);
	cr_assert_eq(ring_count(r), 8);
	cr_assert_eq(ring_dequeue_burst(r, out, 16), 8);
	for (uintptr_t i = 0; i < 8; i++)
		cr_assert_eq(V(out[i]), i + 1);
	/* A burst larger than the whole ring. */
	cr_assert_eq(ring_enqueue_burst(r, objs, 16), 8);
	cr_assert_eq(ring_dequeue_burst(r, out, 16), 8);
	for (uintptr_t i = 0; i < 8; i++)
		cr_assert_eq(V(out[i]), i + 1);
	ring_destroy(r);
}

Test(ring, burst_dequeue_partial_count)
{
	struct ring *r = ring_create(16);
	void *objs[3] = {P(10), P(20), P(30)}, *out[10];

	for (int i = 0; i < 10; i++)
		out[i] = P(0xdead);
	cr_assert_eq(ring_enqueue_burst(r, objs, 3), 3);
	cr_assert_eq(ring_dequeue_burst(r, out, 2), 2);
	cr_assert_eq(V(out[0]), 10);
	cr_assert_eq(V(out[1]), 20);
	cr_assert_eq(ring_count(r), 1);
	out[1] = P(0xdead);
	cr_assert_eq(ring_dequeue_burst(r, out, 10), 1);
	cr_assert_eq(V(out[0]), 30);
	cr_assert_eq(V(out[1]), 0xdead, "wrote past the count returned");
	cr_assert_eq(ring_dequeue_burst(r, out, 10), 0);
	ring_destroy(r);
}

Test(ring, interleaved_sides_see_each_other)
{
	/* The consumer's cached tail must be refreshed once it runs out. */
	struct ring *r = ring_create(8);
	void *out[8];

	cr_assert(ring_enqueue(r, P(1)));
	cr_assert_eq(ring_dequeue_burst(r, out, 8), 1);
	cr_assert(ring_enqueue(r, P(2)));
	cr_assert(ring_enqueue(r, P(3)));
	cr_assert_eq(ring_dequeue_burst(r, out, 1), 1);
	cr_assert_eq(V(out[0]), 2);
	cr_assert(ring_enqueue(r, P(4)));
	cr_assert_eq(ring_dequeue_burst(r, out, 8), 2);
	cr_assert_eq(V(out[0]), 3);
	cr_assert_eq(V(out[1]), 4);
	ring_destroy(r);
}

/* Drive a ring against a simple model queue with random burst sizes. */
static void model_run(struct ring *r, uint64_t seed, int ops)
{
	enum { MAXQ = 1 << 12 };
	static uintptr_t model[MAXQ]; /* circular, MAXQ > capacity */
	uint32_t cap = ring_capacity(r), mhead = 0, mtail = 0;
	uintptr_t next = 1;
	struct xs x = {seed};
	void *buf[64];

	cr_assert_lt(cap, MAXQ);
	for (int op = 0; op < ops; op++) {
		uint32_t n = xs_below(&x, 2 * cap + 2); /* 0 .. 2*cap+1 */
		if (n > ARRAY_SIZE(buf))
			n = ARRAY_SIZE(buf);
		uint32_t count = mtail - mhead;
		if (xs_below(&x, 2)) {
			for (uint32_t i = 0; i < n; i++)
				buf[i] = P(next + i);
			uint32_t want = n < cap - count ? n : cap - count;
			uint32_t got = ring_enqueue_burst(r, buf, n);
			cr_assert_eq(got, want, "op %d enqueue %u of %u free",
				     op, n, cap - count);
			for (uint32_t i = 0; i < got; i++)
				model[mtail++ % MAXQ] = next++;
		} else {
			uint32_t want = n < count ? n : count;
			uint32_t got = ring_dequeue_burst(r, buf, n);
			cr_assert_eq(got, want, "op %d dequeue %u of %u", op,
				     n, count);
			for (uint32_t i = 0; i < got; i++)
				cr_assert_eq(V(buf[i]), model[mhead++ % MAXQ],
					     "op %d item %u", op, i);
		}
		cr_assert_eq(ring_count(r), mtail - mhead);
		cr_assert_eq(ring_empty(r), mtail == mhead);
	}
}

Test(ring, fifo_many_cycles_small_rings)
{
	static const uint32_t caps[] = {2, 4, 8, 16, 64};

	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		struct ring *r = ring_create(caps[i]);
		model_run(r, 0x1000 + i, 200000);
		ring_destroy(r);
	}
}

Test(ring, indices_wrap_past_uint32_max)
{
	/* Start the free-running indices just below 2^32 so fills, drains
	 * and count() cross the wrap at every possible offset. */
	for (uint32_t back = 0; back <= 17; back++) {
		struct ring *r = ring_create(8);
		set_indices(r, UINT32_MAX - back);
		cr_assert(ring_empty(r));

		for (int round = 0; round < 4; round++) {
			uintptr_t base = 100 * (uintptr_t)round + 1;
			for (uintptr_t i = 0; i < 8; i++) {
				cr_assert(ring_enqueue(r, P(base + i)),
					  "back %u round %d i %zu", back,
					  round, (size_t)i);
				cr_assert_eq(ring_count(r), i + 1);
			}
			cr_assert_not(ring_enqueue(r, P(999)),
				      "back %u: full ring accepted an item",
				      back);
			for (uintptr_t i = 0; i < 8; i++)
				cr_assert_eq(V(ring_dequeue(r)), base + i,
					     "back %u round %d", back, round);
			cr_assert_null(ring_dequeue(r));
			cr_assert(ring_empty(r));
		}
		ring_destroy(r);
	}
}

Test(ring, model_across_uint32_wrap)
{
	struct ring *r = ring_create(16);
	set_indices(r, UINT32_MAX - 50000);
	model_run(r, 77, 200000); /* moves well past the wrap */
	cr_assert_lt(atomic_load(&r->prod.tail), 0x80000000u,
		     "the test did not actually cross the wrap");
	ring_destroy(r);
}

/* ---- two-thread stress --------------------------------------------------- */

/* Fast enough under TSan too (about 1 s on 2 cores), so no reduction. */
#define STRESS_ITEMS 5000000u

struct stress {
	struct ring *r;
	uint32_t items;
	uint64_t seed;
	atomic_bool stop; /* set by the consumer on failure */
};

static void *producer(void *arg)
{
	struct stress *s = arg;
	struct xs x = {s->seed};
	void *objs[64];
	uint32_t i = 0;

	while (i < s->items) {
		uint32_t burst = 1 + xs_below(&x, ARRAY_SIZE(objs));
		if (burst > s->items - i)
			burst = s->items - i;
		for (uint32_t k = 0; k < burst; k++)
			objs[k] = P((uintptr_t)i + k + 1);
		uint32_t sent = 0;
		while (sent < burst) {
			uint32_t k;
			if (burst - sent == 1 && (x.s & 1))
				k = ring_enqueue(s->r, objs[sent]);
			else
				k = ring_enqueue_burst(s->r, objs + sent,
						       burst - sent);
			sent += k;
			if (!k) {
				if (atomic_load_explicit(&s->stop,
							 memory_order_relaxed))
					return NULL;
				sched_yield();
			}
		}
		i += burst;
	}
	return NULL;
}

/*
 * Producer thread pushes 1..items in random bursts; this thread pops them in
 * random bursts and checks each is exactly the next one. Both spin with
 * sched_yield() on full/empty. Returns NULL, or what went wrong (in err).
 * No Criterion calls here: it also runs under TSan without Criterion.
 */
static const char *stress_run(uint32_t cap, uint32_t items,
			      uint32_t start_index, uint64_t seed, char *err,
			      size_t errlen)
{
	struct stress s = {.items = items, .seed = seed};
	struct xs x = {seed ^ 0x5555555555555555ull};
	pthread_t t;
	void *buf[64];
	uintptr_t expect = 1, bad_got = 0, bad_want = 0;

	s.r = ring_create(cap);
	if (!s.r)
		return "ring_create failed";
	set_indices(s.r, start_index);
	atomic_init(&s.stop, false);
	if (pthread_create(&t, NULL, producer, &s)) {
		ring_destroy(s.r);
		return "pthread_create failed";
	}

	while (expect <= items && !bad_want) {
		uint32_t n = 1 + xs_below(&x, ARRAY_SIZE(buf));
		uint32_t got;
		if (n == 1) {
			buf[0] = ring_dequeue(s.r);
			got = buf[0] != NULL;
		} else {
			got = ring_dequeue_burst(s.r, buf, n);
		}
		if (!got) {
			sched_yield();
			continue;
		}
		for (uint32_t k = 0; k < got; k++, expect++) {
			if (V(buf[k]) != expect) {
				bad_got = V(buf[k]);
				bad_want = expect;
				atomic_store(&s.stop, true);
				break;
			}
		}
	}
	pthread_join(t, NULL);

	const char *msg = NULL;
	void *extra = ring_dequeue(s.r);
	if (bad_want) {
		snprintf(err, errlen,
			 "cap %u: out of order, lost or duplicated: got %zu "
			 "where %zu was due",
			 cap, (size_t)bad_got, (size_t)bad_want);
		msg = err;
	} else if (extra) {
		snprintf(err, errlen, "cap %u: extra item %zu after the last",
			 cap, (size_t)V(extra));
		msg = err;
	} else if (!ring_empty(s.r) ||
		   atomic_load(&s.r->prod.tail) != start_index + items ||
		   atomic_load(&s.r->cons.head) != start_index + items) {
		snprintf(err, errlen, "cap %u: indices tail %u head %u, want %u",
			 cap, atomic_load(&s.r->prod.tail),
			 atomic_load(&s.r->cons.head), start_index + items);
		msg = err;
	}
	ring_destroy(s.r);
	return msg;
}

static const struct stress_case {
	const char *name;
	uint32_t cap, items, start;
	uint64_t seed;
} stress_cases[] = {
	/* Start 1M items below 2^32 so the run crosses the index wrap. */
	{"cap_1024", 1024, STRESS_ITEMS, UINT32_MAX - 1000000u,
	 0x1234567887654321ull},
	/* The smallest ring: full and empty nearly every call. */
	{"cap_2", 2, STRESS_ITEMS / 10, UINT32_MAX - 1000u,
	 0xabcdef0123456789ull},
	{"cap_64", 64, STRESS_ITEMS / 5, 0, 0x0f0f0f0f0f0f0f0full},
};

static void stress(size_t i)
{
	char err[256];
	const struct stress_case *c = &stress_cases[i];
	const char *msg =
		stress_run(c->cap, c->items, c->start, c->seed, err, sizeof(err));
	cr_assert_null(msg, "%s", msg);
}

/* The timeouts only turn a hang (lost wakeup, deadlock) into a failure;
 * the tests never depend on how fast anything runs. */
Test(ring_stress, two_threads_cap_1024, .timeout = 300)
{
	stress(0);
}

Test(ring_stress, two_threads_cap_2, .timeout = 300)
{
	stress(1);
}

Test(ring_stress, two_threads_cap_64, .timeout = 300)
{
	stress(2);
}

#ifdef TUNDRA_TSAN
/* See test_helpers.h: under TSan, run the stress without Criterion. */
int main(int argc, char **argv)
{
	int failed = 0;

	(void)argc;
	for (size_t i = 0; i < ARRAY_SIZE(stress_cases); i++) {
		char err[256];
		const struct stress_case *c = &stress_cases[i];
		const char *msg = stress_run(c->cap, c->items, c->start,
					     c->seed, err, sizeof(err));
		printf("[%s] ring_stress::two_threads_%s (%u items)%s%s\n",
		       msg ? "FAIL" : "PASS", c->name, c->items,
		       msg ? ": " : "", msg ? msg : "");
		failed += msg != NULL;
	}
	printf("%s: %zu stress runs under ThreadSanitizer, %d failed "
	       "(single-thread ring tests skipped: Criterion cannot start "
	       "under TSan)\n",
	       argv[0], ARRAY_SIZE(stress_cases), failed);
	return failed ? 1 : 0;
}
#endif
