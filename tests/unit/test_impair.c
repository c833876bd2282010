/* test_impair.c — the --impair module (src/impair/): the spec parser, the
 * PRNG's determinism, the decision rates, and the held-packet queue's order,
 * limit and counters. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "impair/impair.h"
#include "test_helpers.h"

#define MS 1000000ull

static struct impair_spec parse_ok(const char *text)
{
	struct impair_spec s;
	char why[256] = "";

	cr_assert_eq(impair_parse(text, &s, why, sizeof(why)), 0, "'%s': %s",
		     text, why);
	return s;
}

static void parse_bad(const char *text, const char *want)
{
	struct impair_spec s;
	char why[256] = "";

	cr_assert_eq(impair_parse(text, &s, why, sizeof(why)), -1,
		     "'%s' accepted", text);
	cr_assert(strstr(why, want), "'%s': '%s' lacks '%s'", text, why, want);
}

/* ---- the spec ---------------------------------------------------------- */

Test(impair_spec, every_key)
{
	struct impair_spec s = parse_ok("loss=1,delay=10,jitter=3,reorder=0.5,"
					"dup=2%,gap=7,limit=8,seed=42,dir=rx");

	cr_assert_eq(s.loss_ppm, 10000);
	cr_assert_eq(s.delay_ms, 10);
	cr_assert_eq(s.jitter_ms, 3);
	cr_assert_eq(s.reorder_ppm, 5000);
	cr_assert_eq(s.dup_ppm, 20000);
	cr_assert_eq(s.gap_ms, 7);
	cr_assert_eq(s.limit_mib, 8);
	cr_assert_eq(s.seed, 42);
	cr_assert(s.has_seed);
	cr_assert_eq(s.dir, IMPAIR_RX);
	cr_assert(impair_spec_active(&s));
}

Test(impair_spec, defaults_and_off)
{
	struct impair_spec s = parse_ok("delay=10");

	cr_assert_eq(s.loss_ppm, 0);
	cr_assert_eq(s.gap_ms, IMPAIR_GAP_MS_DEF);
	cr_assert_eq(s.limit_mib, IMPAIR_LIMIT_MIB_DEF);
	cr_assert_eq(s.dir, IMPAIR_RX | IMPAIR_TX);
	cr_assert_not(s.has_seed);
	cr_assert(impair_spec_active(&s));

	s = parse_ok("");
	cr_assert_not(impair_spec_active(&s));
	s = parse_ok("off");
	cr_assert_not(impair_spec_active(&s));
	/* Keys that change nothing on their own. */
	s = parse_ok("loss=0,seed=3,dir=tx,gap=9");
	cr_assert_not(impair_spec_active(&s));
}

Test(impair_spec, percentages_exact)
{
	static const struct {
		const char *text;
		uint32_t ppm;
	} c[] = {
		{ "loss=0", 0 },
		{ "loss=100", 1000000 },
		{ "loss=0.1", 1000 },
		{ "loss=0.0001", 1 },
		{ "loss=.5", 5000 },
		{ "loss=5%", 50000 },
		{ "loss=99.9999", 999999 },
		{ "loss=100.0", 1000000 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(c); i++)
		cr_assert_eq(parse_ok(c[i].text).loss_ppm, c[i].ppm, "%s",
			     c[i].text);
}

Test(impair_spec, bad_specs)
{
	parse_bad("loss=101", "loss=101: expected a percentage in 0..100");
	parse_bad("loss=100.0001", "expected a percentage");
	parse_bad("loss=1.23456", "expected a percentage");
	parse_bad("loss=-1", "expected a percentage");
	parse_bad("loss=", "expected a percentage");
	parse_bad("loss=.", "expected a percentage");
	parse_bad("loss=1%%", "expected a percentage");
	parse_bad("dup=abc", "dup=abc: expected a percentage");
	parse_bad("delay=10001",
		  "delay=10001: expected milliseconds in 0..10000");
	parse_bad("jitter=1.5", "jitter=1.5: expected milliseconds");
	parse_bad("limit=0", "limit=0: expected MiB in 1..4096");
	parse_bad("seed=x", "seed=x: expected an unsigned integer");
	parse_bad("seed=18446744073709551616", "expected an unsigned integer");
	parse_bad("dir=up", "dir=up: expected rx, tx or both");
	parse_bad("speed=3", "unknown key 'speed'");
	parse_bad("loss", "'loss' is not key=value");
	parse_bad("loss=1,,delay=2", "empty or over-long item");
	parse_bad("loss=1,", "empty or over-long item");
	parse_bad("loss=1,loss=2", "'loss' given twice");
}

Test(impair_spec, format_parses_back)
{
	struct impair_spec a = parse_ok("loss=0.25,delay=10,jitter=2,"
					"reorder=1,dup=0.5,gap=3,limit=16,"
					"seed=99,dir=tx"),
			   b;
	char text[256], why[256];

	impair_spec_format(&a, text, sizeof(text));
	cr_assert_eq(impair_parse(text, &b, why, sizeof(why)), 0, "%s: %s",
		     text, why);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "%s", text);
}

/* ---- the PRNG and the decisions ------------------------------------------ */

static struct impair im_a, im_b;

static void fini_both(void)
{
	impair_fini(&im_a);
	impair_fini(&im_b);
}

TestSuite(impair, .fini = fini_both);

Test(impair, same_seed_same_fates)
{
	struct impair_spec s = parse_ok("loss=5,dup=5,reorder=5,jitter=4,"
					"delay=1,seed=1234");
	unsigned differ = 0;

	cr_assert_eq(impair_init(&im_a, &s, 1), 0);
	cr_assert_eq(impair_init(&im_b, &s, 1), 0);
	for (int i = 0; i < 10000; i++) {
		struct impair_plan a = impair_decide(&im_a, 1000 * MS + i);
		struct impair_plan b = impair_decide(&im_b, 1000 * MS + i);

		cr_assert_eq(a.copies, b.copies, "packet %d", i);
		cr_assert_eq(a.when, b.when, "packet %d", i);
	}
	cr_assert_eq(memcmp(&im_a.st, &im_b.st, sizeof(im_a.st)), 0);

	/* Another stream of the same seed (the other thread) is another
	 * sequence. */
	impair_fini(&im_b);
	cr_assert_eq(impair_init(&im_b, &s, 2), 0);
	for (int i = 0; i < 64; i++)
		differ += impair_rand(&im_a) != impair_rand(&im_b);
	cr_assert_geq(differ, 63);
}

Test(impair, seed_changes_fates)
{
	struct impair_spec s = parse_ok("loss=50,seed=1"), t = s;
	unsigned differ = 0;

	t.seed = 2;
	cr_assert_eq(impair_init(&im_a, &s, 1), 0);
	cr_assert_eq(impair_init(&im_b, &t, 1), 0);
	for (int i = 0; i < 1000; i++)
		differ += impair_decide(&im_a, 0).copies !=
			  impair_decide(&im_b, 0).copies;
	/* Two independent fair coins differ half the time. */
	cr_assert(differ > 400 && differ < 600, "differ %u", differ);
}

/* Packet n's loss draw does not depend on the other knobs: the same seed
 * loses the same packets with or without delay, dup and reorder. */
Test(impair, loss_independent_of_other_knobs)
{
	struct impair_spec s = parse_ok("loss=10,seed=77");
	struct impair_spec t = parse_ok("loss=10,seed=77,dup=30,reorder=20,"
					"delay=5,jitter=5");

	cr_assert_eq(impair_init(&im_a, &s, 1), 0);
	cr_assert_eq(impair_init(&im_b, &t, 1), 0);
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(impair_decide(&im_a, 0).copies == 0,
			     impair_decide(&im_b, 0).copies == 0, "packet %d",
			     i);
}

Test(impair, rates_match_the_spec)
{
	struct impair_spec s = parse_ok("loss=5,dup=2,reorder=10,seed=5");
	const int n = 200000;
	uint64_t lost = 0, dup = 0;

	cr_assert_eq(impair_init(&im_a, &s, 1), 0);
	for (int i = 0; i < n; i++) {
		struct impair_plan p = impair_decide(&im_a, 0);

		lost += p.copies == 0;
		dup += p.copies == 2;
	}
	/* Binomial: 5 standard deviations either side. */
	cr_assert(lost > 9513 && lost < 10487, "lost %lu", (unsigned long)lost);
	/* dup and reorder are drawn for the 95% not lost. */
	cr_assert(dup > 3495 && dup < 4105, "dup %lu", (unsigned long)dup);
	cr_assert_eq(im_a.st.pkts, (uint64_t)n);
	cr_assert_eq(im_a.st.dropped, lost);
	cr_assert_eq(im_a.st.dup, dup);
	cr_assert(im_a.st.reordered > 18346 && im_a.st.reordered < 19654,
		  "reordered %lu", (unsigned long)im_a.st.reordered);
}

Test(impair, extremes)
{
	struct impair_spec all = parse_ok("loss=100,seed=9");
	struct impair_spec none = parse_ok("delay=0,dup=100,seed=9");

	cr_assert_eq(impair_init(&im_a, &all, 1), 0);
	cr_assert_eq(impair_init(&im_b, &none, 1), 0);
	for (int i = 0; i < 10000; i++) {
		cr_assert_eq(impair_decide(&im_a, 5).copies, 0);
		struct impair_plan p = impair_decide(&im_b, 5);
		cr_assert_eq(p.copies, 2);
		cr_assert_eq(p.when, 5);
	}
}

Test(impair, delay_jitter_gap_bounds)
{
	struct impair_spec s = parse_ok("delay=10,jitter=4,reorder=30,gap=50,"
					"seed=3");
	const uint64_t now = 7 * MS;
	uint64_t lo = UINT64_MAX, hi = 0;
	unsigned gapped = 0;

	cr_assert_eq(impair_init(&im_a, &s, 1), 0);
	for (int i = 0; i < 20000; i++) {
		struct impair_plan p = impair_decide(&im_a, now);
		uint64_t d = p.when - now;

		cr_assert_eq(p.copies, 1);
		cr_assert_geq(d, 10 * MS);
		cr_assert_leq(d, 64 * MS);
		/* Either in [delay, delay+jitter], or that plus the gap. */
		cr_assert(d <= 14 * MS || d >= 60 * MS, "hold %lu ns",
			  (unsigned long)d);
		if (d >= 60 * MS) {
			gapped++;
		} else {
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
	}
	cr_assert_eq(gapped, im_a.st.reordered);
	/* The jitter covers its range. */
	cr_assert_lt(lo, 10 * MS + 10000);
	cr_assert_gt(hi, 14 * MS - 10000);
}

/* ---- the held-packet queue ----------------------------------------------- */

#define P(i) ((void *)(uintptr_t)(i))

Test(impair, queue_releases_in_time_order)
{
	struct impair_spec s = parse_ok("delay=1,seed=1");
	struct xs x = { 0x1234567 };
	struct impair_item it;
	uint64_t last_when = 0, last_seq = 0;
	int n = 0;

	cr_assert_eq(impair_init(&im_a, &s, 1), 0);
	cr_assert_eq(impair_next(&im_a), UINT64_MAX);
	cr_assert_eq(impair_timeout_ms(&im_a, 0), -1);
	/* 5000 packets at random release times, many equal (to check
	 * arrival order among ties); the heap grows past its first size. */
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(impair_hold(&im_a, (xs_next(&x) % 300 + 1) * MS, 1,
					 P(i + 1), 100, (uint16_t)i),
			     0);
	cr_assert_eq(im_a.st.held, 5000);
	cr_assert_eq(im_a.st.held_bytes, 500000);
	cr_assert_eq(im_a.st.delayed, 5000);
	/* Nothing leaves before its time. */
	cr_assert_not(impair_pop(&im_a, impair_next(&im_a) - 1, &it));
	for (uint64_t now = 0; now <= 301 * MS; now += 7 * MS / 2) {
		while (impair_pop(&im_a, now, &it)) {
			cr_assert_leq(it.when, now);
			cr_assert(it.when > last_when ||
				  (it.when == last_when && it.seq > last_seq) ||
				  n == 0);
			cr_assert_eq((uintptr_t)it.obj, (uintptr_t)it.aux + 1);
			last_when = it.when;
			last_seq = it.seq;
			n++;
		}
		if (im_a.n)
			cr_assert_gt(impair_next(&im_a), now);
	}
	cr_assert_eq(n, 5000);
	cr_assert_eq(im_a.st.held, 0);
	cr_assert_eq(im_a.st.held_bytes, 0);
}

Test(impair, queue_limit_is_a_counted_tail_drop)
{
	struct impair_spec s = parse_ok("delay=10,limit=1,seed=1");
	struct impair_item it;
	int held = 0;

	cr_assert_eq(impair_init(&im_a, &s, 1), 0);
	/* 1 MiB of 1500-byte packets: 699 fit, the rest are refused. */
	for (int i = 0; i < 1000; i++)
		held += impair_hold(&im_a, 10 * MS, 1, P(i + 1), 1500, 0) == 0;
	cr_assert_eq(held, (1 << 20) / 1500);
	cr_assert_eq(im_a.st.full, 1000 - (uint64_t)held);
	cr_assert_eq(impair_hold(&im_a, 10 * MS, 1, P(1), 1500, 0), -ENOBUFS);
	/* Releasing one makes room for one. */
	cr_assert(impair_pop(&im_a, 10 * MS, &it));
	cr_assert_eq(it.copies, 1);
	cr_assert_eq(impair_hold(&im_a, 11 * MS, 2, P(2), 1500, 0), 0);
	cr_assert_eq(impair_hold(&im_a, 11 * MS, 2, P(3), 1500, 0), -ENOBUFS);
}

Test(impair, timeout_rounds_up)
{
	struct impair_spec s = parse_ok("delay=1,seed=1");

	cr_assert_eq(impair_init(&im_a, &s, 1), 0);
	cr_assert_eq(impair_hold(&im_a, 10 * MS + 1, 1, P(1), 1, 0), 0);
	cr_assert_eq(impair_timeout_ms(&im_a, 0), 11);
	cr_assert_eq(impair_timeout_ms(&im_a, 10 * MS), 1);
	cr_assert_eq(impair_timeout_ms(&im_a, 10 * MS + 1), 0);
	cr_assert_eq(impair_timeout_ms(&im_a, 20 * MS), 0);
}

TUNDRA_TSAN_SKIP_MAIN
