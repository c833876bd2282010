/*
 * micro_ring — throughput of the SPSC ring (src/ring/ring.h) in items/s.
 *
 *   single-thread: one thread enqueues then dequeues, 1 at a time and in
 *                  bursts of 8, 32 and 64 (the cost of the ring operations
 *                  alone, everything in L1);
 *   cross-thread:  a producer and a consumer thread, pinned to two different
 *                  CPUs when the process may use at least two (on one CPU
 *                  they run unpinned and the number mostly measures the
 *                  scheduler), 1 at a time and in bursts of 32 (BURST in
 *                  src/stack/stack.h is 64; the ring is 2048 entries, the
 *                  default --ring-size). The consumer checks the order.
 *
 * Each case runs MICRO_TRIALS times (default 5); the median is reported,
 * with min and max. One item = one enqueue plus one dequeue.
 *
 * Output: human-readable lines, and one machine-readable line per case:
 *   result bench=ring case=NAME items_per_s=MEDIAN min=.. max=.. trials=N
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring/ring.h"

#define RING_SIZE 2048
#define ST_ITEMS (40u * 1000 * 1000)
#define XT_ITEMS (8u * 1000 * 1000)
#define MAX_TRIALS 31

static unsigned trials = 5;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void report(const char *name, const char *what, double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	double med = n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;

	printf("ring %-22s %8.1f Mitems/s   (median of %u; min %.1f, max %.1f)"
	       "%s%s\n",
	       name, med / 1e6, n, v[0] / 1e6, v[n - 1] / 1e6, what[0] ? "  " : "",
	       what);
	printf("result bench=ring case=%s items_per_s=%.0f min=%.0f max=%.0f "
	       "trials=%u\n",
	       name, med, v[0], v[n - 1], n);
	fflush(stdout);
}

static volatile uintptr_t sink;

/* ---- single thread ---------------------------------------------------- */

static double st_run(struct ring *r, uint32_t burst)
{
	void *in[64], *out[64];
	uintptr_t sum = 0;
	uint64_t t0, t1;
	uint32_t rounds = ST_ITEMS / burst;

	for (uint32_t i = 0; i < burst; i++)
		in[i] = (void *)(uintptr_t)(i + 1);
	t0 = now_ns();
	if (burst == 1) {
		for (uint32_t i = 0; i < rounds; i++) {
			ring_enqueue(r, (void *)(uintptr_t)(i + 1));
			sum += (uintptr_t)ring_dequeue(r);
		}
	} else {
		for (uint32_t i = 0; i < rounds; i++) {
			ring_enqueue_burst(r, in, burst);
			uint32_t n = ring_dequeue_burst(r, out, burst);
			sum += (uintptr_t)out[n - 1];
			/* keep the copy loop from being folded away */
			__asm__ volatile("" : : "r"(out) : "memory");
		}
	}
	t1 = now_ns();
	sink = sum;
	return (double)rounds * burst / ((double)(t1 - t0) / 1e9);
}

/* ---- two threads ------------------------------------------------------ */

static int cpus[2] = {-1, -1};

struct xt {
	struct ring *r;
	uint32_t burst;
	uint32_t items;
	int cpu;
	_Atomic int *go;
	_Atomic int *ready;
	uint64_t t_end;
	uint64_t errors;
	uintptr_t sum;
};

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* pid 0: the calling thread */
	if (sched_setaffinity(0, sizeof(set), &set))
		perror("micro_ring: sched_setaffinity");
}

static void wait_go(struct xt *x)
{
	atomic_fetch_add(x->ready, 1);
	while (!atomic_load_explicit(x->go, memory_order_acquire))
		__builtin_ia32_pause();
}

static void *producer(void *arg)
{
	struct xt *x = arg;
	void *buf[64];
	uint32_t next = 1, end = x->items + 1;

	pin(x->cpu);
	wait_go(x);
	if (x->burst == 1) {
		while (next < end) {
			if (ring_enqueue(x->r, (void *)(uintptr_t)next))
				next++;
			else
				__builtin_ia32_pause();
		}
	} else {
		while (next < end) {
			uint32_t n = end - next < x->burst ? end - next
							   : x->burst;
			for (uint32_t i = 0; i < n; i++)
				buf[i] = (void *)(uintptr_t)(next + i);
			uint32_t k = ring_enqueue_burst(x->r, buf, n);
			next += k;
			if (!k)
				__builtin_ia32_pause();
		}
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct xt *x = arg;
	void *buf[64];
	uintptr_t expect = 1, end = (uintptr_t)x->items + 1;
	uint64_t errors = 0;

	pin(x->cpu);
	wait_go(x);
	if (x->burst == 1) {
		while (expect < end) {
			void *p = ring_dequeue(x->r);
			if (!p) {
				__builtin_ia32_pause();
				continue;
			}
			errors += (uintptr_t)p != expect;
			expect++;
		}
	} else {
		while (expect < end) {
			uint32_t n = ring_dequeue_burst(x->r, buf, x->burst);
			if (!n) {
				__builtin_ia32_pause();
				continue;
			}
			for (uint32_t i = 0; i < n; i++)
				errors += (uintptr_t)buf[i] != expect + i;
			expect += n;
		}
	}
	x->t_end = now_ns();
	x->errors = errors;
	return NULL;
}

static double xt_run(uint32_t burst, uint64_t *errors)
{
	struct ring *r = ring_create(RING_SIZE);
	_Atomic int go = 0, ready = 0;
	struct xt p = {r, burst, XT_ITEMS, cpus[0], &go, &ready, 0, 0, 0};
	struct xt c = {r, burst, XT_ITEMS, cpus[1], &go, &ready, 0, 0, 0};
	pthread_t tp, tc;
	uint64_t t0;

	if (!r) {
		fprintf(stderr, "micro_ring: ring_create failed\n");
		exit(1);
	}
	if (pthread_create(&tc, NULL, consumer, &c) ||
	    pthread_create(&tp, NULL, producer, &p)) {
		fprintf(stderr, "micro_ring: pthread_create failed\n");
		exit(1);
	}
	while (atomic_load(&ready) < 2)
		sched_yield();
	t0 = now_ns();
	atomic_store_explicit(&go, 1, memory_order_release);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	ring_destroy(r);
	*errors += c.errors;
	return (double)XT_ITEMS / ((double)(c.t_end - t0) / 1e9);
}

int main(void)
{
	static const uint32_t bursts[] = {1, 8, 32, 64};
	double v[MAX_TRIALS];
	char name[64], note[96];
	const char *e = getenv("MICRO_TRIALS");
	cpu_set_t set;
	int ncpu = 0;
	uint64_t errors = 0;
	struct ring *r;

	if (e && atoi(e) > 0)
		trials = (unsigned)atoi(e) > MAX_TRIALS ? MAX_TRIALS
							: (unsigned)atoi(e);

	/* Two CPUs this process may run on, if there are two. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int i = 0; i < CPU_SETSIZE && ncpu < 2; i++)
			if (CPU_ISSET(i, &set))
				cpus[ncpu++] = i;
	}
	if (ncpu < 2) {
		cpus[0] = cpus[1] = -1;
		snprintf(note, sizeof(note), "(one CPU: unpinned)");
	} else {
		snprintf(note, sizeof(note), "(producer CPU %d, consumer CPU %d)",
			 cpus[0], cpus[1]);
	}
	printf("# micro_ring: SPSC ring of %u entries, %u trials per case\n",
	       RING_SIZE, trials);

	r = ring_create(RING_SIZE);
	if (!r) {
		fprintf(stderr, "micro_ring: ring_create failed\n");
		return 1;
	}
	for (size_t b = 0; b < sizeof(bursts) / sizeof(bursts[0]); b++) {
		for (unsigned t = 0; t < trials; t++)
			v[t] = st_run(r, bursts[b]);
		snprintf(name, sizeof(name), "st_burst%u", bursts[b]);
		report(name, "(single thread)", v, trials);
	}
	ring_destroy(r);

	for (uint32_t burst = 1; burst <= 32; burst += 31) {
		for (unsigned t = 0; t < trials; t++)
			v[t] = xt_run(burst, &errors);
		snprintf(name, sizeof(name), "xt_burst%u", burst);
		report(name, note, v, trials);
	}
	if (errors) {
		printf("ring: FAILED: the consumer saw %llu items out of order\n",
		       (unsigned long long)errors);
		return 1;
	}
	return 0;
}
