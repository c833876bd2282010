/* test_csum.c — Internet checksum (RFC 1071), pseudo-header, incremental
 * update (RFC 1624). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "ip/csum.h"
#include "test_helpers.h"

/* csum() as a host-order number, comparable with ref_csum(). */
static uint16_t csum_host(const void *p, size_t n)
{
	return ntohs(csum(p, n));
}

/* ---- known vectors ---------------------------------------------------- */

Test(csum, rfc1071_example)
{
	/* RFC 1071 §3: the sum of these bytes is 0xddf2 (as big-endian
	 * words 0001 f203 f4f5 f6f7), so the checksum is ~0xddf2 = 0x220d. */
	static const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03,
				    0xf4, 0xf5, 0xf6, 0xf7};
	uint32_t part = csum_partial(b, sizeof(b), 0);

	cr_assert_eq(ntohs((uint16_t)~csum_fold(part)), 0xddf2);
	cr_assert_eq(csum_host(b, sizeof(b)), 0x220d);
	cr_assert_eq(ref_csum(b, sizeof(b)), 0x220d); /* the reference agrees */
}

Test(csum, real_ipv4_header)
{
	/* 192.168.0.1 -> 192.168.0.199, UDP, DF, TTL 64, tot_len 0x73:
	 * checksum 0xb861 (a well-known captured header). */
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40,
			 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
			 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

	/* A header with a correct checksum sums to zero. */
	cr_assert_eq(csum(h, sizeof(h)), 0);
	h[10] = h[11] = 0;
	cr_assert_eq(csum_host(h, sizeof(h)), 0xb861);
	/* And the stored form is network order. */
	uint16_t c = csum(h, sizeof(h));
	memcpy(h + 10, &c, 2);
	cr_assert_eq(h[10], 0xb8);
	cr_assert_eq(h[11], 0x61);
}

Test(csum, empty_and_zero)
{
	static const uint8_t z[16];

	cr_assert_eq(csum_partial(z, 0, 0), 0);
	cr_assert_eq(csum_partial(z, 0, 0x1234), 0x1234);
	cr_assert_eq(csum(z, 0), 0xffff);
	cr_assert_eq(csum(z, sizeof(z)), 0xffff);
}

Test(csum, odd_lengths_pad_with_zero)
{
	/* An odd trailing byte counts as the high byte of a zero-padded
	 * word: {ab} == {ab 00}, {12 34 ab} == {12 34 ab 00}. */
	static const uint8_t a[] = {0xab};
	static const uint8_t a0[] = {0xab, 0x00};
	static const uint8_t b[] = {0x12, 0x34, 0xab};
	static const uint8_t b0[] = {0x12, 0x34, 0xab, 0x00};

	cr_assert_eq(csum_host(a, 1), (uint16_t)~0xab00);
	cr_assert_eq(csum(a, 1), csum(a0, 2));
	cr_assert_eq(csum_host(b, 3), (uint16_t)~(0x1234 + 0xab00));
	cr_assert_eq(csum(b, 3), csum(b0, 4));
}

Test(csum, end_around_carry)
{
	/* 0xffff + 0x0001 = 0x10000 -> 0x0001; checksum 0xfffe. */
	static const uint8_t a[] = {0xff, 0xff, 0x00, 0x01};
	cr_assert_eq(csum_host(a, sizeof(a)), 0xfffe);
	/* 0x8000 * 4 = 0x20000 -> 0x0002; checksum 0xfffd. */
	static const uint8_t b[] = {0x80, 0, 0x80, 0, 0x80, 0, 0x80, 0};
	cr_assert_eq(csum_host(b, sizeof(b)), 0xfffd);
}

/*
 * Carries out of the wide accumulator must be folded back in wherever they
 * happen, including in the 2-byte and 1-byte tail after an 8-byte word of
 * all ones has filled the 64-bit accumulator.
 */
Test(csum, carry_into_tail_after_all_ones_word)
{
	/* ffff ffff ffff ffff 0001: one's-complement sum 0x0001 -> 0xfffe */
	static const uint8_t a[] = {0xff, 0xff, 0xff, 0xff, 0xff,
				    0xff, 0xff, 0xff, 0x00, 0x01};
	cr_assert_eq(ref_csum(a, sizeof(a)), 0xfffe);
	cr_assert_eq(csum_host(a, sizeof(a)), 0xfffe,
		     "10 bytes ff*8 00 01: got 0x%04x", csum_host(a, 10));

	/* ff*8 01: sum 0x0100 -> checksum 0xfeff */
	static const uint8_t b[] = {0xff, 0xff, 0xff, 0xff, 0xff,
				    0xff, 0xff, 0xff, 0x01};
	cr_assert_eq(csum_host(b, sizeof(b)), 0xfeff,
		     "9 bytes ff*8 01: got 0x%04x", csum_host(b, 9));
}

Test(csum, all_ones_every_length)
{
	uint8_t buf[80];

	memset(buf, 0xff, sizeof(buf));
	for (size_t n = 0; n <= sizeof(buf); n++)
		cr_assert_eq(csum_host(buf, n), ref_csum(buf, n),
			     "len %zu: got 0x%04x want 0x%04x", n,
			     csum_host(buf, n), ref_csum(buf, n));
}

Test(csum, random_buffers_match_reference)
{
	struct xs x = {0x9e3779b97f4a7c15ull};
	uint8_t buf[600];

	/* Every length 0..512 at every alignment 0..7, random contents. */
	for (size_t n = 0; n <= 512; n++) {
		for (size_t off = 0; off < 8; off++) {
			xs_fill(&x, buf, sizeof(buf));
			uint16_t want = ref_csum(buf + off, n);
			uint16_t got = csum_host(buf + off, n);
			cr_assert_eq(got, want,
				     "len %zu off %zu: got 0x%04x want 0x%04x",
				     n, off, got, want);
		}
	}
}

Test(csum, high_bytes_match_reference)
{
	/* Bytes mostly 0xf0..0xff stress carries in every word size. */
	struct xs x = {12345};
	uint8_t buf[256];

	for (int iter = 0; iter < 4000; iter++) {
		size_t n = xs_below(&x, sizeof(buf) + 1);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)(0xf0 | xs_below(&x, 16));
		cr_assert_eq(csum_host(buf, n), ref_csum(buf, n),
			     "iter %d len %zu", iter, n);
	}
}

Test(csum, partial_with_initial_sum)
{
	/* The initial partial sum is added like another word. */
	struct xs x = {777};
	uint8_t buf[64];

	for (int iter = 0; iter < 2000; iter++) {
		uint32_t init = xs_u32(&x);
		size_t n = xs_below(&x, sizeof(buf) + 1);
		xs_fill(&x, buf, n);
		uint16_t got =
			ntohs(csum_fold(csum_partial(buf, n, init)));
		/* init is a native-order partial sum: its value in the
		 * big-endian reference is its 16-bit halves byte-swapped. */
		uint64_t ref = ref_sum(buf, n, 0) + ntohs((uint16_t)init) +
			       ntohs((uint16_t)(init >> 16));
		cr_assert_eq(got, (uint16_t)~ref_fold(ref), "iter %d", iter);
	}
}

Test(csum, split_into_pieces_equals_whole)
{
	struct xs x = {0xdeadbeefcafef00dull};
	uint8_t buf[1500];

	for (int iter = 0; iter < 3000; iter++) {
		size_t n = xs_below(&x, sizeof(buf) + 1);
		xs_fill(&x, buf, n);
		uint16_t whole = csum(buf, n);

		/* Split at random even offsets (only the last piece may be
		 * odd), summing the pieces into one partial sum. */
		uint32_t sum = 0;
		size_t pos = 0;
		int pieces = 0;
		while (pos < n) {
			size_t left = n - pos;
			size_t k = 2 * (size_t)xs_below(&x, 40);
			if (k >= left)
				k = left;
			sum = csum_partial(buf + pos, k, sum);
			pos += k;
			pieces++;
		}
		cr_assert_eq(csum_fold(sum), whole,
			     "iter %d len %zu pieces %d", iter, n, pieces);
	}
}

Test(csum, split_every_even_boundary)
{
	uint8_t buf[99];
	struct xs x = {42};

	xs_fill(&x, buf, sizeof(buf));
	for (size_t cut = 0; cut <= sizeof(buf) - 1; cut += 2) {
		uint32_t s = csum_partial(buf, cut, 0);
		s = csum_partial(buf + cut, sizeof(buf) - cut, s);
		cr_assert_eq(csum_fold(s), csum(buf, sizeof(buf)), "cut %zu",
			     cut);
	}
}

/* ---- pseudo-header ---------------------------------------------------- */

Test(csum, pseudo_header_matches_reference)
{
	struct xs x = {99};

	for (int iter = 0; iter < 5000; iter++) {
		uint32_t s = xs_u32(&x), d = xs_u32(&x);
		uint8_t proto = (uint8_t)xs_u32(&x);
		uint16_t len = (uint16_t)xs_u32(&x);
		uint32_t part = csum_pseudo_ipv4(htonl(s), htonl(d), proto, len);
		cr_assert_eq(ntohs((uint16_t)~csum_fold(part)),
			     ref_fold(ref_pseudo(s, d, proto, len)),
			     "iter %d", iter);
	}
}

Test(csum, tcp_segment_with_pseudo_header_verifies)
{
	/* A TCP segment checksummed with the reference verifies to zero
	 * through csum_pseudo_ipv4 + csum_partial, odd lengths included. */
	struct xs x = {2024};
	uint8_t seg[300];

	for (size_t n = 20; n < sizeof(seg); n++) {
		uint32_t s = IP4(10, 0, 0, 1), d = IP4(10, 0, 0, 2);
		xs_fill(&x, seg, n);
		put16(seg + 16, 0);
		uint16_t c = (uint16_t)~ref_fold(
			ref_pseudo(s, d, 6, (uint16_t)n) + ref_sum(seg, n, 0));
		put16(seg + 16, c);
		uint32_t sum = csum_pseudo_ipv4(htonl(s), htonl(d), 6,
						(uint16_t)n);
		cr_assert_eq(csum_fold(csum_partial(seg, n, sum)), 0,
			     "len %zu", n);
	}
}

/* ---- incremental update (RFC 1624) ------------------------------------ */

Test(csum, rfc1624_example)
{
	/* RFC 1624 §4: m 0x5555 -> 0x3285 with HC 0xdd2f gives 0x0000 by
	 * eqn. 3. Values "as they lie in memory" are network order. */
	uint16_t hc = csum_update16(htons(0xdd2f), htons(0x5555),
				    htons(0x3285));
	cr_assert_eq(ntohs(hc), 0x0000);
}

Test(csum, update16_no_change_is_identity)
{
	struct xs x = {5};

	for (int i = 0; i < 1000; i++) {
		uint16_t c = (uint16_t)xs_u32(&x), v = (uint16_t)xs_u32(&x);
		if (c == 0xffff)
			continue; /* -0 in, +0 out: both "zero" */
		cr_assert_eq(csum_update16(c, v, v), c, "c %04x v %04x", c, v);
	}
}

/* Random 20-byte IPv4-like header with a valid checksum. The first byte is
 * never zero, so neither the old nor the new header is all zeros (where a
 * full recomputation gives 0xffff and eqn. 3 gives the equivalent 0). */
static void random_header(struct xs *x, uint8_t h[20])
{
	xs_fill(x, h, 20);
	h[0] = 0x45;
	h[10] = h[11] = 0;
	uint16_t c = csum(h, 20);
	memcpy(h + 10, &c, 2);
}

Test(csum, update16_equals_full_recompute)
{
	static const size_t offs[] = {0, 2, 4, 6, 8, 12, 14, 16, 18};
	struct xs x = {0x0123456789abcdefull};
	uint8_t h[20];

	for (int iter = 0; iter < 100000; iter++) {
		random_header(&x, h);
		size_t off = offs[xs_below(&x, ARRAY_SIZE(offs))];
		uint16_t check, old, new;
		memcpy(&check, h + 10, 2);
		memcpy(&old, h + off, 2);
		switch (iter % 8) {
		case 0: new = 0; break;
		case 1: new = 0xffff; break;
		case 2: new = (uint16_t)~old; break;
		case 3: new = (uint16_t)(old + 1); break;
		default: new = (uint16_t)xs_u32(&x); break;
		}
		if (off == 0)
			new |= 0x45; /* keep the header non-zero */
		memcpy(h + off, &new, 2);

		uint16_t inc = csum_update16(check, old, new);
		h[10] = h[11] = 0;
		uint16_t full = csum(h, 20);
		cr_assert_eq(inc, full,
			     "iter %d off %zu old %04x new %04x: inc %04x "
			     "full %04x",
			     iter, off, old, new, inc, full);
		memcpy(h + 10, &inc, 2);
		cr_assert_eq(csum(h, 20), 0);
	}
}

Test(csum, update32_equals_full_recompute)
{
	/* 32-bit fields at even offsets not overlapping the checksum
	 * (bytes 10-11). */
	static const size_t offs[] = {0, 2, 4, 6, 12, 14, 16};
	struct xs x = {0xfedcba9876543210ull};
	uint8_t h[20];

	for (int iter = 0; iter < 100000; iter++) {
		random_header(&x, h);
		size_t off = offs[xs_below(&x, ARRAY_SIZE(offs))];
		uint16_t check;
		uint32_t old, new;
		memcpy(&check, h + 10, 2);
		memcpy(&old, h + off, 4);
		switch (iter % 8) {
		case 0: new = 0; break;
		case 1: new = 0xffffffffu; break;
		case 2: new = ~old; break;
		case 3: new = htonl(ntohl(old) + 1); break;
		default: new = xs_u32(&x); break;
		}
		if (off == 0)
			new |= 0x45;
		memcpy(h + off, &new, 4);

		uint16_t inc = csum_update32(check, old, new);
		h[10] = h[11] = 0;
		uint16_t full = csum(h, 20);
		cr_assert_eq(inc, full,
			     "iter %d off %zu old %08x new %08x: inc %04x "
			     "full %04x",
			     iter, off, old, new, inc, full);
		memcpy(h + 10, &inc, 2);
		cr_assert_eq(csum(h, 20), 0);
	}
}

Test(csum, update_ttl_decrement_chain)
{
	/* A router-style chain: decrement TTL 64 times via update16 on the
	 * ttl/proto word; the checksum stays valid every step. */
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40,
			 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
			 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

	while (h[8] > 0) {
		uint16_t check, old, new;
		memcpy(&check, h + 10, 2);
		memcpy(&old, h + 8, 2);
		h[8]--;
		memcpy(&new, h + 8, 2);
		check = csum_update16(check, old, new);
		memcpy(h + 10, &check, 2);
		cr_assert_eq(csum(h, 20), 0, "ttl %u", h[8]);
	}
}

TUNDRA_TSAN_SKIP_MAIN
