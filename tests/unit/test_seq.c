/* test_seq.c — sequence-number arithmetic modulo 2^32 (tcp_seq.h). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "tcp/tcp_seq.h"
#include "test_helpers.h"

/* ---- ordered pairs ----------------------------------------------------- */

/* cmp: -1 when a is before b, 0 when equal, +1 when a is after b. */
struct seq_pair {
	uint32_t a, b;
	int cmp;
};

ParameterizedTestParameters(seq, compare)
{
	static struct seq_pair p[] = {
		/* across the 2^32 wrap */
		{0xfffffff0u, 0x00000010u, -1},
		{0xffffffffu, 0x00000000u, -1},
		{0xffffffffu, 0x00000001u, -1},
		{0xfffffffeu, 0xffffffffu, -1},
		{0x80000001u, 0x00000000u, -1}, /* 2^31 - 1 apart via wrap */
		{0xffffffffu, 0x7ffffffeu, -1}, /* 2^31 - 1 apart */
		/* across the signed boundary */
		{0x7fffffffu, 0x80000000u, -1},
		{0x7ffffff0u, 0x80000010u, -1},
		{0x00000001u, 0x80000000u, -1}, /* 2^31 - 1 apart */
		{0x00000000u, 0x7fffffffu, -1},
		/* plain */
		{0u, 1u, -1},
		{1000u, 2000u, -1},
		{0x80000000u, 0xffffffffu, -1},
		/* equal */
		{0u, 0u, 0},
		{0xffffffffu, 0xffffffffu, 0},
		{0x7fffffffu, 0x7fffffffu, 0},
		{0x80000000u, 0x80000000u, 0},
		{12345u, 12345u, 0},
	};
	size_t n = ARRAY_SIZE(p);
	/* Each pair both ways round. */
	static struct seq_pair all[2 * ARRAY_SIZE(p)];
	for (size_t i = 0; i < n; i++) {
		all[2 * i] = p[i];
		all[2 * i + 1] = (struct seq_pair){p[i].b, p[i].a, -p[i].cmp};
	}
	return cr_make_param_array(struct seq_pair, all, 2 * n);
}

ParameterizedTest(struct seq_pair *p, seq, compare)
{
	uint32_t a = p->a, b = p->b;

	cr_assert_eq(seq_lt(a, b), p->cmp < 0, "lt(%08x, %08x)", a, b);
	cr_assert_eq(seq_leq(a, b), p->cmp <= 0, "leq(%08x, %08x)", a, b);
	cr_assert_eq(seq_gt(a, b), p->cmp > 0, "gt(%08x, %08x)", a, b);
	cr_assert_eq(seq_geq(a, b), p->cmp >= 0, "geq(%08x, %08x)", a, b);
	cr_assert_eq(seq_min(a, b), p->cmp <= 0 ? a : b, "min(%08x, %08x)",
		     a, b);
	cr_assert_eq(seq_max(a, b), p->cmp >= 0 ? a : b, "max(%08x, %08x)",
		     a, b);
}

/* ---- windows ----------------------------------------------------------- */

/* [lo, hi) for seq_in, (lo, hi] for seq_in_open_closed. */
struct seq_win {
	uint32_t x, lo, hi;
	bool in;
	bool in_oc;
};

ParameterizedTestParameters(seq, window)
{
	static struct seq_win w[] = {
		/* window [0xfffffff0, 0x10) straddling 0 */
		{0xffffffefu, 0xfffffff0u, 0x00000010u, false, false},
		{0xfffffff0u, 0xfffffff0u, 0x00000010u, true, false},
		{0xfffffff1u, 0xfffffff0u, 0x00000010u, true, true},
		{0xffffffffu, 0xfffffff0u, 0x00000010u, true, true},
		{0x00000000u, 0xfffffff0u, 0x00000010u, true, true},
		{0x0000000fu, 0xfffffff0u, 0x00000010u, true, true},
		{0x00000010u, 0xfffffff0u, 0x00000010u, false, true},
		{0x00000011u, 0xfffffff0u, 0x00000010u, false, false},
		{0x80000000u, 0xfffffff0u, 0x00000010u, false, false},
		/* window ending exactly at 0 */
		{0xffffffffu, 0xffffff00u, 0x00000000u, true, true},
		{0x00000000u, 0xffffff00u, 0x00000000u, false, true},
		/* window starting exactly at 0 */
		{0xffffffffu, 0x00000000u, 0x00000100u, false, false},
		{0x00000000u, 0x00000000u, 0x00000100u, true, false},
		/* straddling the signed boundary */
		{0x7fffffffu, 0x7ffffff0u, 0x80000010u, true, true},
		{0x80000000u, 0x7ffffff0u, 0x80000010u, true, true},
		{0x80000010u, 0x7ffffff0u, 0x80000010u, false, true},
		{0x7fffffefu, 0x7ffffff0u, 0x80000010u, false, false},
		/* one-wide window at the wrap */
		{0xffffffffu, 0xffffffffu, 0x00000000u, true, false},
		{0x00000000u, 0xffffffffu, 0x00000000u, false, true},
		/* empty window */
		{0x00000000u, 0x00000000u, 0x00000000u, false, false},
		{0xffffffffu, 0xffffffffu, 0xffffffffu, false, false},
		{0x00000001u, 0x00000000u, 0x00000000u, false, false},
		/* ... even 2^31 away, which is both after lo and before hi */
		{0x80000000u, 0x00000000u, 0x00000000u, false, false},
		{0x7fffffffu, 0xffffffffu, 0xffffffffu, false, false},
		{0x9234abcdu, 0x1234abcdu, 0x1234abcdu, false, false},
		/* a large window, almost 2^31 */
		{0x40000000u, 0xc0000000u, 0x3fffffffu, false, false},
		{0x3ffffffeu, 0xc0000000u, 0x3fffffffu, true, true},
		{0xc0000000u, 0xc0000000u, 0x3fffffffu, true, false},
		{0x3fffffffu, 0xc0000000u, 0x3fffffffu, false, true},
	};
	return cr_make_param_array(struct seq_win, w, ARRAY_SIZE(w));
}

ParameterizedTest(struct seq_win *w, seq, window)
{
	cr_assert_eq(seq_in(w->x, w->lo, w->hi), w->in,
		     "seq_in(%08x, [%08x, %08x))", w->x, w->lo, w->hi);
	cr_assert_eq(seq_in_open_closed(w->x, w->lo, w->hi), w->in_oc,
		     "seq_in_open_closed(%08x, (%08x, %08x])", w->x, w->lo,
		     w->hi);
}

/* ---- properties over many random numbers -------------------------------- */

Test(seq, random_distances)
{
	struct xs x = {0x5eed5eed5eedull};

	for (int i = 0; i < 1000000; i++) {
		uint32_t a = xs_u32(&x);
		/* 1 .. 2^31 - 1 */
		uint32_t d = 1 + xs_below(&x, 0x7fffffffu);
		uint32_t b = a + d;
		cr_assert(seq_lt(a, b) && seq_leq(a, b));
		cr_assert(seq_gt(b, a) && seq_geq(b, a));
		cr_assert(!seq_lt(b, a) && !seq_gt(a, b));
		cr_assert_eq(seq_min(a, b), a);
		cr_assert_eq(seq_max(b, a), b);
		cr_assert(seq_in(a, a, b) && !seq_in(b, a, b));
		cr_assert(!seq_in_open_closed(a, a, b));
		cr_assert(seq_in_open_closed(b, a, b));
		uint32_t mid = a + d / 2;
		cr_assert(seq_in(mid, a, b) || d == 1);
		cr_assert(seq_leq(a, mid) && seq_leq(mid, b));
	}
}

Test(seq, every_offset_around_the_wrap)
{
	/* Walk x over [-300, 300) around 0 with window [-128, 128). */
	const uint32_t lo = (uint32_t)-128, hi = 128;

	for (int32_t off = -300; off < 300; off++) {
		uint32_t x = (uint32_t)off;
		cr_assert_eq(seq_in(x, lo, hi), off >= -128 && off < 128,
			     "off %d", off);
		cr_assert_eq(seq_in_open_closed(x, lo, hi),
			     off > -128 && off <= 128, "off %d", off);
		cr_assert_eq(seq_lt(x, 0), off < 0, "off %d", off);
		cr_assert_eq(seq_geq(x, 0), off >= 0, "off %d", off);
	}
}

TUNDRA_TSAN_SKIP_MAIN
