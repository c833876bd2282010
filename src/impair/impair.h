/*
 * impair.h — tundra's own seeded link impairment (--impair): loss,
 * duplication, delay with jitter, and reordering, applied to what crosses
 * the TUN device in tundra's RX thread (after the read) and TX thread
 * (before the writev). This machine's kernel has no netem (DESIGN.md,
 * "Faults on this machine"), so this is how a real-kernel test gets delay.
 *
 * Sans-I/O, like the core: an impairment takes `now` and reads no clock.
 * One struct impair belongs to one thread (RX or TX) and is only touched by
 * it; its counters are written by that thread with stat_add() and may be
 * read by any thread with stat_read().
 *
 * Each packet draws exactly four numbers from the thread's PRNG (loss, dup,
 * reorder, jitter), whatever the spec, so given the seed the fate of the
 * n-th packet a thread sees is fixed.
 *
 * Held packets wait in a min-heap ordered by (release time, arrival), so
 * equal release times keep arrival order. The heap is bounded in bytes
 * (spec.limit) like a router queue: a packet that does not fit is a counted
 * tail drop.
 */
#ifndef TUNDRA_IMPAIR_IMPAIR_H
#define TUNDRA_IMPAIR_IMPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMPAIR_RX 1u
#define IMPAIR_TX 2u

#define IMPAIR_PPM 1000000u	 /* probabilities: parts per million */
#define IMPAIR_MAX_MS 10000u	 /* delay, jitter, gap: at most 10 s */
#define IMPAIR_LIMIT_MIB_DEF 64u /* bytes held per direction */
#define IMPAIR_LIMIT_MIB_MAX 4096u
#define IMPAIR_GAP_MS_DEF 5u	    /* extra hold of a reordered packet */
#define IMPAIR_MAX_ITEMS (1u << 20) /* held packets per direction */

struct impair_spec {
	uint32_t loss_ppm, dup_ppm, reorder_ppm;
	uint32_t delay_ms, jitter_ms, gap_ms;
	uint32_t limit_mib;
	uint64_t seed;
	bool has_seed; /* seed= given; otherwise the caller picks one */
	unsigned dir;  /* IMPAIR_RX | IMPAIR_TX */
};

/*
 * Parse "loss=P,delay=MS,jitter=MS,reorder=P,dup=P,gap=MS,limit=MIB,
 * seed=N,dir=rx|tx|both" (any subset, any order, each key once; P is a
 * percentage in 0..100 with up to four decimals and an optional '%').
 * "" and "off" parse to an inactive spec. 0, or -1 with what went wrong in
 * why (one line).
 */
int impair_parse(const char *text, struct impair_spec *out, char *why,
		 size_t whylen);
/* Anything to do at all? */
bool impair_spec_active(const struct impair_spec *s);
/* The spec as text, in the syntax impair_parse() reads. */
void impair_spec_format(const struct impair_spec *s, char *buf, size_t len);

struct impair_item {
	uint64_t when;	/* release time, ns */
	uint64_t seq;	/* arrival order: ties keep it */
	void *obj;	/* the held packet (the caller's meaning) */
	uint32_t len;	/* its bytes, charged against the limit */
	uint16_t aux;	/* the caller's (TX: the worker) */
	uint8_t copies; /* deliver it this many times (1, or 2: dup) */
};

/* Counters: written by the owning thread, read with stat_read(). */
struct impair_stats {
	uint64_t pkts;	    /* packets that met the impairment */
	uint64_t dropped;   /* lost on purpose (loss=) */
	uint64_t dup;	    /* delivered twice (dup=) */
	uint64_t delayed;   /* held for later release */
	uint64_t reordered; /* held an extra gap (reorder=) */
	uint64_t full;	    /* tail-dropped: the held bytes were at the limit */
	uint64_t held;	    /* gauge: packets held now */
	uint64_t held_bytes; /* gauge: their bytes */
};

struct impair {
	struct impair_spec spec;
	uint64_t rng; /* splitmix64 state */
	struct impair_item *heap;
	uint32_t n, cap;
	uint64_t bytes, byte_limit, seq;
	struct impair_stats st;
};

/* What to do with one packet. */
struct impair_plan {
	uint8_t copies; /* 0: lost; 1; 2: duplicated */
	uint64_t when;	/* release time; <= now: at once */
};

/* stream separates the PRNGs of the threads that share one seed. 0 or
 * -ENOMEM. */
int impair_init(struct impair *im, const struct impair_spec *s,
		uint64_t stream);
/* Frees the heap only: the caller first takes back what is held
 * (impair_pop with now = UINT64_MAX). */
void impair_fini(struct impair *im);

/* Decide one packet's fate (four PRNG draws; counts pkts, dropped, dup,
 * reordered). */
struct impair_plan impair_decide(struct impair *im, uint64_t now);
/* Hold obj until when. 0, or -ENOBUFS (counted in full) when it does not
 * fit under the limit: the caller drops it. */
int impair_hold(struct impair *im, uint64_t when, uint8_t copies, void *obj,
		uint32_t len, uint16_t aux);
/* Take the earliest held packet if it is due at now. */
bool impair_pop(struct impair *im, uint64_t now, struct impair_item *out);
/* Release time of the earliest held packet; UINT64_MAX when none. */
static inline uint64_t impair_next(const struct impair *im)
{
	return im->n ? im->heap[0].when : UINT64_MAX;
}
/* A poll() timeout that wakes at the next release (rounded up to whole
 * ms: a packet may leave up to 1 ms late, never early), or -1 when nothing
 * is held. */
int impair_timeout_ms(const struct impair *im, uint64_t now);

/* The thread's PRNG (splitmix64), exposed for tests. */
uint64_t impair_rand(struct impair *im);

#endif
