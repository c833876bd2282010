/*
 * impair.c — the --impair spec, the per-thread PRNG, the decision for each
 * packet and the time-ordered queue of held packets. See impair.h.
 */
#include "impair/impair.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Counters are read by other threads (the control socket): relaxed atomic
 * stores by the owner, as core/core.h's stat_add() does. */
#define ST_ADD(f, v)                                                          \
	__atomic_store_n(&(f), __atomic_load_n(&(f), __ATOMIC_RELAXED) + (v), \
			 __ATOMIC_RELAXED)
#define ST_SET(f, v) __atomic_store_n(&(f), (v), __ATOMIC_RELAXED)

/* ---- the spec ---------------------------------------------------------- */

/* "P", "P%" with P in 0..100 and up to four decimals, into parts per
 * million. Parsed by hand so that "0.1" is exactly 1000 ppm. */
static int parse_pct(const char *s, uint32_t *ppm)
{
	uint64_t whole = 0, frac = 0;
	unsigned digits = 0, fdigits = 0;

	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		whole = whole * 10 + (uint64_t)(*s - '0');
		if (whole > 100)
			return -1;
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, fdigits++) {
			if (fdigits == 4)
				return -1;
			frac = frac * 10 + (uint64_t)(*s - '0');
		}
		if (!fdigits)
			return -1;
	}
	if (!digits && !fdigits)
		return -1;
	if (*s == '%')
		s++;
	if (*s)
		return -1;
	for (; fdigits < 4; fdigits++)
		frac *= 10;
	whole = whole * 10000 + frac;
	if (whole > IMPAIR_PPM)
		return -1;
	*ppm = (uint32_t)whole;
	return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

enum {
	K_LOSS,
	K_DELAY,
	K_JITTER,
	K_REORDER,
	K_DUP,
	K_GAP,
	K_LIMIT,
	K_SEED,
	K_DIR,
	K__N
};
static const char *const keys[K__N] = { "loss",	   "delay", "jitter",
					"reorder", "dup",   "gap",
					"limit",   "seed",  "dir" };

int impair_parse(const char *text, struct impair_spec *out, char *why,
		 size_t whylen)
{
	struct impair_spec s = { .gap_ms = IMPAIR_GAP_MS_DEF,
				 .limit_mib = IMPAIR_LIMIT_MIB_DEF,
				 .dir = IMPAIR_RX | IMPAIR_TX };
	bool seen[K__N] = { false };
	const char *p = text;

	if (!*text || !strcmp(text, "off")) {
		*out = s;
		return 0;
	}
	for (;;) {
		char item[64], *val;
		size_t len = strcspn(p, ",");
		uint64_t v;
		int k;

		if (len == 0 || len >= sizeof(item)) {
			snprintf(
				why, whylen,
				"an empty or over-long item in '%s' (items are key=value, comma-separated)",
				text);
			return -1;
		}
		memcpy(item, p, len);
		item[len] = 0;
		val = strchr(item, '=');
		if (!val) {
			snprintf(why, whylen, "'%s' is not key=value", item);
			return -1;
		}
		*val++ = 0;
		for (k = 0; k < K__N && strcmp(item, keys[k]); k++)
			;
		if (k == K__N) {
			snprintf(
				why, whylen,
				"unknown key '%s' (keys: loss delay jitter reorder dup gap limit seed dir)",
				item);
			return -1;
		}
		if (seen[k]) {
			snprintf(why, whylen, "'%s' given twice", item);
			return -1;
		}
		seen[k] = true;
		switch (k) {
		case K_LOSS:
		case K_REORDER:
		case K_DUP:
			if (parse_pct(val, k == K_LOSS ? &s.loss_ppm :
					   k == K_DUP  ? &s.dup_ppm :
							 &s.reorder_ppm)) {
				snprintf(
					why, whylen,
					"%s=%s: expected a percentage in 0..100 (up to 4 decimals)",
					item, val);
				return -1;
			}
			break;
		case K_DELAY:
		case K_JITTER:
		case K_GAP:
			if (parse_u64(val, IMPAIR_MAX_MS, &v)) {
				snprintf(
					why, whylen,
					"%s=%s: expected milliseconds in 0..%u",
					item, val, IMPAIR_MAX_MS);
				return -1;
			}
			*(k == K_DELAY	? &s.delay_ms :
			  k == K_JITTER ? &s.jitter_ms :
					  &s.gap_ms) = (uint32_t)v;
			break;
		case K_LIMIT:
			if (parse_u64(val, IMPAIR_LIMIT_MIB_MAX, &v) || !v) {
				snprintf(why, whylen,
					 "limit=%s: expected MiB in 1..%u", val,
					 IMPAIR_LIMIT_MIB_MAX);
				return -1;
			}
			s.limit_mib = (uint32_t)v;
			break;
		case K_SEED:
			if (parse_u64(val, UINT64_MAX, &s.seed)) {
				snprintf(
					why, whylen,
					"seed=%s: expected an unsigned integer",
					val);
				return -1;
			}
			s.has_seed = true;
			break;
		case K_DIR:
			if (!strcmp(val, "rx"))
				s.dir = IMPAIR_RX;
			else if (!strcmp(val, "tx"))
				s.dir = IMPAIR_TX;
			else if (!strcmp(val, "both"))
				s.dir = IMPAIR_RX | IMPAIR_TX;
			else {
				snprintf(why, whylen,
					 "dir=%s: expected rx, tx or both",
					 val);
				return -1;
			}
			break;
		}
		if (!p[len])
			break;
		p += len + 1;
	}
	*out = s;
	return 0;
}

bool impair_spec_active(const struct impair_spec *s)
{
	return s->dir && (s->loss_ppm || s->dup_ppm || s->reorder_ppm ||
			  s->delay_ms || s->jitter_ms);
}

void impair_spec_format(const struct impair_spec *s, char *buf, size_t len)
{
	snprintf(
		buf, len,
		"loss=%u.%04u,delay=%u,jitter=%u,reorder=%u.%04u,dup=%u.%04u,gap=%u,limit=%u,seed=%" PRIu64
		",dir=%s",
		s->loss_ppm / 10000, s->loss_ppm % 10000, s->delay_ms,
		s->jitter_ms, s->reorder_ppm / 10000, s->reorder_ppm % 10000,
		s->dup_ppm / 10000, s->dup_ppm % 10000, s->gap_ms, s->limit_mib,
		s->seed,
		s->dir == IMPAIR_RX ? "rx" :
		s->dir == IMPAIR_TX ? "tx" :
				      "both");
}

/* ---- the PRNG ---------------------------------------------------------- */

/* splitmix64 (Steele, Lea, Flood 2014): one word of state, passes BigCrush,
 * and any seed is a good one. Not for secrets; only for replayable faults. */
uint64_t impair_rand(struct impair *im)
{
	uint64_t z = (im->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* True with probability ppm / 10^6: the draw's top 32 bits scaled to
 * 0..10^6-1 (multiply-shift, no modulo bias worth the name). */
static bool chance(uint64_t r, uint32_t ppm)
{
	return ((r >> 32) * IMPAIR_PPM >> 32) < ppm;
}

int impair_init(struct impair *im, const struct impair_spec *s, uint64_t stream)
{
	memset(im, 0, sizeof(*im));
	im->spec = *s;
	/* Different streams of one seed must not be the same sequence:
	 * scramble the stream in, then warm up once. */
	im->rng = s->seed ^ (stream * 0xd1b54a32d192ed03ull);
	(void)impair_rand(im);
	im->byte_limit = (uint64_t)s->limit_mib << 20;
	im->cap = 1024;
	im->heap = malloc(im->cap * sizeof(*im->heap));
	return im->heap ? 0 : -ENOMEM;
}

void impair_fini(struct impair *im)
{
	free(im->heap);
	im->heap = NULL;
	im->n = im->cap = 0;
}

struct impair_plan impair_decide(struct impair *im, uint64_t now)
{
	const struct impair_spec *s = &im->spec;
	/* Always four draws, in this order: packet n's fate depends only on
	 * the seed and n. */
	uint64_t r_loss = impair_rand(im), r_dup = impair_rand(im);
	uint64_t r_reorder = impair_rand(im), r_jitter = impair_rand(im);
	struct impair_plan p = { .copies = 1, .when = now };
	uint64_t hold_ns = (uint64_t)s->delay_ms * 1000000ull;

	ST_ADD(im->st.pkts, 1);
	if (chance(r_loss, s->loss_ppm)) {
		ST_ADD(im->st.dropped, 1);
		p.copies = 0;
		return p;
	}
	if (chance(r_dup, s->dup_ppm)) {
		ST_ADD(im->st.dup, 1);
		p.copies = 2;
	}
	/* Uniform in [0, jitter] ms, at ns resolution. */
	if (s->jitter_ms)
		hold_ns += (r_jitter >> 11) %
			   ((uint64_t)s->jitter_ms * 1000000ull + 1);
	if (chance(r_reorder, s->reorder_ppm)) {
		ST_ADD(im->st.reordered, 1);
		hold_ns += (uint64_t)s->gap_ms * 1000000ull;
	}
	p.when = now + hold_ns;
	return p;
}

/* ---- the held packets: a binary min-heap on (when, seq) ---------------- */

static bool before(const struct impair_item *a, const struct impair_item *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

int impair_hold(struct impair *im, uint64_t when, uint8_t copies, void *obj,
		uint32_t len, uint16_t aux)
{
	struct impair_item it = { .when = when,
				  .seq = im->seq++,
				  .obj = obj,
				  .len = len,
				  .aux = aux,
				  .copies = copies };
	uint32_t i;

	/* A router's tail drop: the queue is full in bytes (or, for tiny
	 * packets, in entries). */
	if (im->bytes + len > im->byte_limit || im->n == IMPAIR_MAX_ITEMS) {
		ST_ADD(im->st.full, 1);
		return -ENOBUFS;
	}
	if (im->n == im->cap) {
		struct impair_item *h =
			realloc(im->heap, 2 * (size_t)im->cap * sizeof(*h));

		if (!h) {
			ST_ADD(im->st.full, 1);
			return -ENOBUFS;
		}
		im->heap = h;
		im->cap *= 2;
	}
	/* Sift up. */
	for (i = im->n++; i > 0; i = (i - 1) / 2) {
		uint32_t parent = (i - 1) / 2;

		if (!before(&it, &im->heap[parent]))
			break;
		im->heap[i] = im->heap[parent];
	}
	im->heap[i] = it;
	im->bytes += len;
	ST_ADD(im->st.delayed, 1);
	ST_SET(im->st.held, im->n);
	ST_SET(im->st.held_bytes, im->bytes);
	return 0;
}

bool impair_pop(struct impair *im, uint64_t now, struct impair_item *out)
{
	struct impair_item last;
	uint32_t i = 0;

	if (!im->n || im->heap[0].when > now)
		return false;
	*out = im->heap[0];
	last = im->heap[--im->n];
	/* Sift the last item down from the root. */
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= im->n)
			break;
		if (c + 1 < im->n && before(&im->heap[c + 1], &im->heap[c]))
			c++;
		if (!before(&im->heap[c], &last))
			break;
		im->heap[i] = im->heap[c];
		i = c;
	}
	if (im->n)
		im->heap[i] = last;
	im->bytes -= out->len;
	ST_SET(im->st.held, im->n);
	ST_SET(im->st.held_bytes, im->bytes);
	return true;
}

int impair_timeout_ms(const struct impair *im, uint64_t now)
{
	uint64_t next = impair_next(im), ms;

	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	ms = (next - now + 999999) / 1000000;
	return ms > IMPAIR_MAX_MS * 3 ? (int)IMPAIR_MAX_MS * 3 : (int)ms;
}
