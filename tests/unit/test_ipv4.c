/* test_ipv4.c — ipv4_parse, ipv4_check_addrs, ipv4_build. */
#include <criterion/criterion.h>
#include <string.h>

#include "ip/ipv4.h"
#include "test_helpers.h"

#define OUR IP4(10, 0, 0, 2)
#define PEER IP4(10, 0, 0, 1)

/* Header fields for mk(); zero-initialised means "sensible default". */
struct ipspec {
	unsigned ver;   /* default 4; 16 means 0 */
	unsigned ihl;   /* in 32-bit words; default 5; 16 means 0 */
	int tot;        /* total length; default header + payload; -1: 0 */
	unsigned ttl;   /* default 64; use ttl0 for zero */
	bool ttl0;
	uint16_t frag;  /* flags+offset as on the wire (host order) */
	uint32_t saddr; /* default PEER */
	uint32_t daddr; /* default OUR */
	uint8_t proto;  /* default TCP */
	size_t payload; /* payload bytes after the header */
	bool bad_csum;
};

/* Write a datagram into buf with a correct header checksum (computed by the
 * reference, not by the code under test); returns header+payload length.
 * Options (IHL > 5) are NOPs; the payload is a byte pattern. */
static size_t mk(uint8_t *buf, struct ipspec s)
{
	unsigned ver = s.ver ? s.ver & 0xf : 4;
	unsigned ihl = s.ihl ? s.ihl & 0xf : 5;
	size_t hl = ihl * 4u;
	size_t n = (hl > 20 ? hl : 20) + s.payload;
	unsigned tot = s.tot < 0 ? 0 : s.tot ? (unsigned)s.tot : (unsigned)n;

	memset(buf, 0, n);
	buf[0] = (uint8_t)(ver << 4 | (ihl & 0xf));
	buf[1] = 0;
	put16(buf + 2, (uint16_t)tot);
	put16(buf + 4, 0x1234);
	put16(buf + 6, s.frag);
	buf[8] = s.ttl0 ? 0 : (uint8_t)(s.ttl ? s.ttl : 64);
	buf[9] = s.proto ? s.proto : IPPROTO_TCP_;
	put32(buf + 12, s.saddr ? s.saddr : PEER);
	put32(buf + 16, s.daddr ? s.daddr : OUR);
	for (size_t i = 20; i < hl; i++)
		buf[i] = 1; /* NOP options */
	for (size_t i = (hl > 20 ? hl : 20); i < n; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	/* Checksum over the header as IHL says (at least the 20 bytes we
	 * wrote, for IHL < 5 tests which never reach the checksum). */
	uint16_t c = ref_csum(buf, hl >= 20 ? hl : 20);
	if (s.bad_csum)
		c ^= 0x0100;
	put16(buf + 10, c);
	return n;
}

static enum drop_reason parse(const uint8_t *b, size_t n)
{
	struct ip_view v;
	memset(&v, 0xa5, sizeof(v));
	return ipv4_parse(b, n, &v);
}

#define assert_drop(got, want)                                              \
	cr_assert_eq((got), (want), "got %s want %s", drop_name(got),       \
		     drop_name(want))

/* ---- valid datagrams -------------------------------------------------- */

Test(ipv4, valid_minimal_header_only)
{
	uint8_t b[64];
	size_t n = mk(b, (struct ipspec){0});
	struct ip_view v;

	cr_assert_eq(n, 20);
	assert_drop(ipv4_parse(b, n, &v), DROP_NONE);
	cr_assert_eq(v.hdr, b);
	cr_assert_eq(v.l4, b + 20);
	cr_assert_eq(v.saddr, PEER);
	cr_assert_eq(v.daddr, OUR);
	cr_assert_eq(v.hdr_len, 20);
	cr_assert_eq(v.l4_len, 0);
	cr_assert_eq(v.proto, IPPROTO_TCP_);
	cr_assert_eq(v.ttl, 64);
}

Test(ipv4, valid_with_payload_fields)
{
	uint8_t b[1600];
	size_t n = mk(b, (struct ipspec){.payload = 1480,
					 .ttl = 1,
					 .proto = IPPROTO_ICMP_,
					 .saddr = IP4(192, 168, 1, 77),
					 .daddr = IP4(172, 16, 254, 1)});
	struct ip_view v;

	cr_assert_eq(n, 1500);
	assert_drop(ipv4_parse(b, n, &v), DROP_NONE);
	cr_assert_eq(v.saddr, IP4(192, 168, 1, 77));
	cr_assert_eq(v.daddr, IP4(172, 16, 254, 1));
	cr_assert_eq(v.l4, b + 20);
	cr_assert_eq(v.l4_len, 1480);
	cr_assert_eq(v.proto, IPPROTO_ICMP_);
	cr_assert_eq(v.ttl, 1); /* TTL 1 is fine for a datagram to us */
}

Test(ipv4, valid_with_options_every_ihl)
{
	uint8_t b[128];

	for (unsigned ihl = 5; ihl <= 15; ihl++) {
		size_t n = mk(b, (struct ipspec){.ihl = ihl, .payload = 9});
		struct ip_view v;
		assert_drop(ipv4_parse(b, n, &v), DROP_NONE);
		cr_assert_eq(v.hdr_len, ihl * 4, "ihl %u", ihl);
		cr_assert_eq(v.l4, b + ihl * 4);
		cr_assert_eq(v.l4_len, 9);
	}
}

Test(ipv4, df_is_accepted)
{
	uint8_t b[64];
	size_t n = mk(b, (struct ipspec){.frag = IPV4_DF, .payload = 8});
	assert_drop(parse(b, n), DROP_NONE);
}

Test(ipv4, trailing_padding_ignored)
{
	/* Link-layer padding beyond tot_len: accepted, l4_len from tot_len. */
	uint8_t b[128];
	size_t n = mk(b, (struct ipspec){.payload = 6});
	memset(b + n, 0xee, 40);

	for (size_t pad = 1; pad <= 40; pad++) {
		struct ip_view v;
		assert_drop(ipv4_parse(b, n + pad, &v), DROP_NONE);
		cr_assert_eq(v.l4_len, 6, "pad %zu", pad);
	}
}

Test(ipv4, payload_not_covered_by_header_checksum)
{
	uint8_t b[64];
	size_t n = mk(b, (struct ipspec){.payload = 20});
	b[30] ^= 0xff;
	assert_drop(parse(b, n), DROP_NONE);
}

Test(ipv4, build_then_parse)
{
	uint8_t b[64];
	struct ip_view v;

	memset(b, 0x77, sizeof(b));
	ipv4_build(b, OUR, PEER, IPPROTO_TCP_, 40, 0xbeef);
	/* The wire bytes. */
	cr_assert_eq(b[0], 0x45);
	cr_assert_eq(b[1], 0);
	cr_assert_eq(get16(b + 2), 40);
	cr_assert_eq(get16(b + 4), 0xbeef);
	cr_assert_eq(get16(b + 6), IPV4_DF);
	cr_assert_eq(b[8], IPV4_DEFAULT_TTL);
	cr_assert_eq(b[9], IPPROTO_TCP_);
	uint8_t copy[20];
	memcpy(copy, b, 20);
	copy[10] = copy[11] = 0;
	cr_assert_eq(get16(b + 10), ref_csum(copy, 20));
	cr_assert_eq(get16(b + 12) << 16 | get16(b + 14), OUR);
	cr_assert_eq(get16(b + 16) << 16 | get16(b + 18), PEER);
	cr_assert_eq(b[20], 0x77, "wrote past the 20-byte header");

	assert_drop(ipv4_parse(b, 40, &v), DROP_NONE);
	cr_assert_eq(v.saddr, OUR);
	cr_assert_eq(v.daddr, PEER);
	cr_assert_eq(v.l4_len, 20);
	cr_assert_eq(v.ttl, IPV4_DEFAULT_TTL);
	/* The peer's view: to it, this datagram is "ours". */
	assert_drop(ipv4_check_addrs(&v, PEER, 0), DROP_NONE);
}

Test(ipv4, build_many_random)
{
	struct xs x = {31337};
	uint8_t b[20];

	for (int i = 0; i < 20000; i++) {
		uint32_t s = xs_u32(&x), d = xs_u32(&x);
		uint16_t tot = (uint16_t)(20 + xs_below(&x, 65516));
		uint16_t id = (uint16_t)xs_u32(&x);
		struct ip_view v;
		ipv4_build(b, s, d, IPPROTO_ICMP_, tot, id);
		/* Its checksum verifies by the reference... */
		cr_assert_eq(ref_fold(ref_sum(b, 20, 0)), 0xffff, "iter %d", i);
		cr_assert_eq(get16(b + 2), tot);
		/* ...and it parses (alone: make tot_len 20 and re-sum). */
		put16(b + 2, 20);
		put16(b + 10, 0);
		put16(b + 10, ref_csum(b, 20));
		assert_drop(ipv4_parse(b, 20, &v), DROP_NONE);
		cr_assert_eq(v.saddr, s);
		cr_assert_eq(v.daddr, d);
		cr_assert_eq(get16(b + 4), id);
	}
}

/* ---- truncation and lengths ------------------------------------------- */

Test(ipv4, truncated_every_length_below_20)
{
	uint8_t b[64];
	mk(b, (struct ipspec){.payload = 20});

	for (size_t n = 0; n < 20; n++)
		assert_drop(parse(b, n), DROP_IP_TRUNCATED);
	assert_drop(parse(NULL, 0), DROP_IP_TRUNCATED);
}

Test(ipv4, truncated_inside_options_is_ihl)
{
	/* IHL 15 (60 bytes): every length 20..59 has the IHL beyond the
	 * bytes read. */
	uint8_t b[128];
	mk(b, (struct ipspec){.ihl = 15, .payload = 4});

	for (size_t n = 20; n < 60; n++)
		assert_drop(parse(b, n), DROP_IP_IHL);
}

Test(ipv4, truncated_inside_payload_is_totlen)
{
	/* tot_len 60 but fewer bytes read, header complete. */
	uint8_t b[128];
	size_t full = mk(b, (struct ipspec){.payload = 40});

	cr_assert_eq(full, 60);
	for (size_t n = 20; n < full; n++)
		assert_drop(parse(b, n), DROP_IP_TOTLEN);
	assert_drop(parse(b, full), DROP_NONE);
}

Test(ipv4, bad_version)
{
	uint8_t b[64];

	for (unsigned ver = 0; ver < 16; ver++) {
		if (ver == 4)
			continue;
		size_t n = mk(b, (struct ipspec){.ver = ver ? ver : 16,
						 .payload = 8});
		/* ver 16 wraps to 0 in the nibble */
		assert_drop(parse(b, n), DROP_IP_VERSION);
	}
	/* IPv6-looking packet. */
	size_t n = mk(b, (struct ipspec){.ver = 6, .payload = 20});
	assert_drop(parse(b, n), DROP_IP_VERSION);
}

Test(ipv4, ihl_below_5)
{
	uint8_t b[64];

	for (unsigned ihl = 0; ihl < 5; ihl++) {
		size_t n = mk(b, (struct ipspec){.ihl = ihl ? ihl : 16,
						 .payload = 20});
		/* .ihl 16 is masked to 0 in the nibble by mk() */
		cr_assert_eq(b[0] & 0xf, ihl);
		assert_drop(parse(b, n), DROP_IP_IHL);
	}
}

Test(ipv4, ihl_beyond_packet)
{
	/* A 40-byte datagram whose IHL says 44..60 bytes of header. */
	uint8_t b[64];

	for (unsigned ihl = 11; ihl <= 15; ihl++) {
		mk(b, (struct ipspec){.payload = 20});
		b[0] = (uint8_t)(0x40 | ihl);
		put16(b + 10, 0);
		put16(b + 10, ref_csum(b, 20));
		assert_drop(parse(b, 40), DROP_IP_IHL);
	}
}

Test(ipv4, totlen_below_ihl)
{
	uint8_t b[128];

	for (int tot = 0; tot < 20; tot++) {
		size_t n = mk(b, (struct ipspec){.tot = tot ? tot : -1,
						 .payload = 20});
		cr_assert_eq(get16(b + 2), tot);
		assert_drop(parse(b, n), DROP_IP_TOTLEN);
	}
	/* With options: IHL 6 (24 bytes) and tot_len 20..23. */
	for (int tot = 20; tot < 24; tot++) {
		size_t n = mk(b, (struct ipspec){.ihl = 6, .tot = tot,
						 .payload = 8});
		assert_drop(parse(b, n), DROP_IP_TOTLEN);
	}
}

Test(ipv4, totlen_beyond_bytes_read)
{
	uint8_t b[128];
	size_t n = mk(b, (struct ipspec){.payload = 20});

	for (int extra = 1; extra <= 3; extra++) {
		mk(b, (struct ipspec){.tot = (int)n + extra, .payload = 20});
		assert_drop(parse(b, n), DROP_IP_TOTLEN);
	}
	mk(b, (struct ipspec){.tot = 0xffff, .payload = 20});
	assert_drop(parse(b, n), DROP_IP_TOTLEN);
}

/* ---- checksum, TTL, fragments ------------------------------------------ */

Test(ipv4, bad_checksum)
{
	uint8_t b[64];
	size_t n = mk(b, (struct ipspec){.bad_csum = true, .payload = 8});
	assert_drop(parse(b, n), DROP_IP_CSUM);
}

Test(ipv4, every_single_bit_flip_is_caught)
{
	/* Flip each bit of fields that no earlier check looks at (tos, id,
	 * ttl, proto, checksum, addresses, options): always IP_CSUM. */
	uint8_t b[64];
	size_t n = mk(b, (struct ipspec){.ihl = 6, .payload = 8});
	static const size_t bytes[] = {1, 4, 5, 8, 9, 10, 11, 12, 13,
				       14, 15, 16, 17, 18, 19, 20, 21, 22, 23};

	for (size_t i = 0; i < ARRAY_SIZE(bytes); i++) {
		for (int bit = 0; bit < 8; bit++) {
			b[bytes[i]] ^= (uint8_t)(1 << bit);
			assert_drop(parse(b, n), DROP_IP_CSUM);
			b[bytes[i]] ^= (uint8_t)(1 << bit);
		}
	}
	assert_drop(parse(b, n), DROP_NONE);
}

Test(ipv4, checksum_covers_options)
{
	uint8_t b[128];
	size_t n = mk(b, (struct ipspec){.ihl = 15, .payload = 8});
	b[59] ^= 0x10; /* last option byte */
	assert_drop(parse(b, n), DROP_IP_CSUM);
}

Test(ipv4, ttl_zero)
{
	uint8_t b[64];
	size_t n = mk(b, (struct ipspec){.ttl0 = true, .payload = 8});
	assert_drop(parse(b, n), DROP_IP_TTL);
}

Test(ipv4, more_fragments)
{
	uint8_t b[64];
	size_t n = mk(b, (struct ipspec){.frag = IPV4_MF, .payload = 8});
	assert_drop(parse(b, n), DROP_IP_FRAGMENT);
	n = mk(b, (struct ipspec){.frag = IPV4_MF | IPV4_DF, .payload = 8});
	assert_drop(parse(b, n), DROP_IP_FRAGMENT);
}

Test(ipv4, fragment_offset)
{
	/* The last fragment (MF clear, offset set) too. */
	static const uint16_t offs[] = {1, 2, 0x100, 0x1000, IPV4_OFFMASK};
	uint8_t b[64];

	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		size_t n = mk(b, (struct ipspec){.frag = offs[i], .payload = 8});
		assert_drop(parse(b, n), DROP_IP_FRAGMENT);
		n = mk(b, (struct ipspec){.frag = IPV4_DF | offs[i],
					  .payload = 8});
		assert_drop(parse(b, n), DROP_IP_FRAGMENT);
		n = mk(b, (struct ipspec){.frag = IPV4_MF | offs[i],
					  .payload = 8});
		assert_drop(parse(b, n), DROP_IP_FRAGMENT);
	}
}

/* ---- addresses --------------------------------------------------------- */

static enum drop_reason addrs(uint32_t saddr, uint32_t daddr)
{
	uint8_t b[64];
	struct ip_view v;
	size_t n = mk(b, (struct ipspec){.payload = 8});

	/* mk() treats 0 as "default": patch the addresses in directly. */
	put32(b + 12, saddr);
	put32(b + 16, daddr);
	put16(b + 10, 0);
	put16(b + 10, ref_csum(b, 20));
	cr_assert_eq(ipv4_parse(b, n, &v), DROP_NONE);
	cr_assert_eq(v.saddr, saddr);
	cr_assert_eq(v.daddr, daddr);
	return ipv4_check_addrs(&v, OUR, 24);
}

Test(ipv4, addrs_ok)
{
	static const uint32_t ok[] = {
		PEER,
		IP4(1, 0, 0, 0),
		IP4(1, 2, 3, 4),
		IP4(126, 255, 255, 255),
		IP4(128, 0, 0, 0),
		IP4(192, 168, 0, 1),
		IP4(223, 255, 255, 255),
		IP4(10, 0, 0, 3),
	};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		assert_drop(addrs(ok[i], OUR), DROP_NONE);
}

Test(ipv4, not_ours)
{
	static const uint32_t dst[] = {
		IP4(10, 0, 0, 1), IP4(10, 0, 0, 3), IP4(10, 0, 0, 255),
		IP4(2, 0, 0, 10), IP4(0, 0, 0, 0),  IP4(255, 255, 255, 255),
		IP4(224, 0, 0, 1),
	};

	for (size_t i = 0; i < ARRAY_SIZE(dst); i++)
		assert_drop(addrs(PEER, dst[i]), DROP_IP_NOT_OURS);
	/* Even with a martian source, the destination is checked first. */
	assert_drop(addrs(IP4(127, 0, 0, 1), IP4(10, 0, 0, 3)),
		    DROP_IP_NOT_OURS);
}

Test(ipv4, martian_sources)
{
	static const uint32_t bad[] = {
		IP4(0, 0, 0, 0),       IP4(0, 1, 2, 3),
		IP4(0, 255, 255, 255), IP4(127, 0, 0, 1),
		IP4(127, 0, 0, 0),     IP4(127, 255, 255, 255),
		IP4(224, 0, 0, 0),     IP4(224, 0, 0, 1),
		IP4(239, 255, 255, 255), IP4(240, 0, 0, 1),
		IP4(254, 1, 2, 3),     IP4(255, 255, 255, 254),
		IP4(255, 255, 255, 255),
		IP4(10, 0, 0, 255), /* our /24's directed broadcast */
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		enum drop_reason r = addrs(bad[i], OUR);
		cr_assert_eq(r, DROP_IP_MARTIAN_SRC, "src %08x: got %s",
			     bad[i], drop_name(r));
	}
}

Test(ipv4, check_addrs_on_hand_made_view)
{
	struct ip_view v = {.saddr = IP4(8, 8, 8, 8), .daddr = OUR};

	assert_drop(ipv4_check_addrs(&v, OUR, 24), DROP_NONE);
	v.saddr = OUR;
	assert_drop(ipv4_check_addrs(&v, OUR, 24), DROP_IP_LAND);
	v.saddr = IP4(8, 8, 8, 8);
	assert_drop(ipv4_check_addrs(&v, IP4(8, 8, 4, 4), 24), DROP_IP_NOT_OURS);
}

/* Land attack: our own address as the source (the destination is ours, so
 * source == destination), whatever the ports. */
Test(ipv4, land)
{
	assert_drop(addrs(OUR, OUR), DROP_IP_LAND);
}

/* The directed broadcast depends on the prefix: 10.0.0.255 is a host of a
 * /23 or /16, .127 is the broadcast of a /25; /31 and /32 have none (RFC
 * 3021), and prefix 0 means "unknown, not checked". */
Test(ipv4, directed_broadcast_source)
{
	struct ip_view v = {.saddr = IP4(10, 0, 0, 255), .daddr = OUR};

	assert_drop(ipv4_check_addrs(&v, OUR, 24), DROP_IP_MARTIAN_SRC);
	assert_drop(ipv4_check_addrs(&v, OUR, 23), DROP_NONE);
	assert_drop(ipv4_check_addrs(&v, OUR, 0), DROP_NONE);
	v.saddr = IP4(10, 0, 1, 255);
	assert_drop(ipv4_check_addrs(&v, OUR, 23), DROP_IP_MARTIAN_SRC);
	assert_drop(ipv4_check_addrs(&v, OUR, 24), DROP_NONE);
	v.saddr = IP4(10, 0, 255, 255);
	assert_drop(ipv4_check_addrs(&v, OUR, 16), DROP_IP_MARTIAN_SRC);
	v.saddr = IP4(10, 0, 0, 127);
	assert_drop(ipv4_check_addrs(&v, OUR, 25), DROP_IP_MARTIAN_SRC);
	assert_drop(ipv4_check_addrs(&v, OUR, 24), DROP_NONE);
	/* Another subnet's broadcast is just an address. */
	v.saddr = IP4(10, 0, 1, 255);
	assert_drop(ipv4_check_addrs(&v, OUR, 24), DROP_NONE);
	v.saddr = IP4(10, 0, 0, 3);
	assert_drop(ipv4_check_addrs(&v, OUR, 31), DROP_NONE);
	v.saddr = IP4(10, 0, 0, 3);
	assert_drop(ipv4_check_addrs(&v, OUR, 30), DROP_IP_MARTIAN_SRC);
}

/* ---- IP options: well formed ones are skipped ------------------------- */

/* A datagram with these option bytes (padded with EOL to a multiple of 4)
 * and a correct checksum, parsed. */
static enum drop_reason parse_opts(const uint8_t *o, size_t olen)
{
	uint8_t b[80];
	size_t words = (olen + 3) / 4;
	size_t n = mk(b, (struct ipspec){.ihl = 5 + (unsigned)words,
					 .payload = 8});
	struct ip_view v;

	memset(b + 20, 0, words * 4);
	memcpy(b + 20, o, olen);
	put16(b + 10, 0);
	put16(b + 10, ref_csum(b, 20 + words * 4));
	enum drop_reason r = ipv4_parse(b, n, &v);
	if (r == DROP_NONE) {
		cr_assert_eq(v.hdr_len, 20 + words * 4);
		cr_assert_eq(v.l4, b + 20 + words * 4, "options not skipped");
		cr_assert_eq(v.l4_len, 8);
	}
	return r;
}

#define OPTS(...) ((const uint8_t[]){__VA_ARGS__}), \
		  sizeof((const uint8_t[]){__VA_ARGS__})

Test(ipv4, options_well_formed_are_skipped)
{
	/* Record route (7), length 7, pointer 4, room for one address. */
	assert_drop(parse_opts(OPTS(7, 7, 4, 0, 0, 0, 0)), DROP_NONE);
	/* Timestamp (68), router alert (148), NOPs, EOL then garbage. */
	assert_drop(parse_opts(OPTS(68, 8, 5, 0, 1, 2, 3, 4)), DROP_NONE);
	assert_drop(parse_opts(OPTS(148, 4, 0, 0)), DROP_NONE);
	assert_drop(parse_opts(OPTS(1, 1, 1, 0, 0xff, 0xff)), DROP_NONE);
	/* An unknown option is skipped by its length. */
	assert_drop(parse_opts(OPTS(30, 6, 9, 9, 9, 9)), DROP_NONE);
	/* 40 bytes of options (IHL 15): one long record route. */
	uint8_t rr[40] = {7, 39, 4};
	assert_drop(parse_opts(rr, sizeof(rr)), DROP_NONE);
}

Test(ipv4, options_malformed)
{
	/* Length 0 and 1 are below the kind+length octets. */
	assert_drop(parse_opts(OPTS(7, 0, 0, 0)), DROP_IP_BAD_OPT);
	assert_drop(parse_opts(OPTS(7, 1, 0, 0)), DROP_IP_BAD_OPT);
	/* A length past the header's end. */
	assert_drop(parse_opts(OPTS(7, 9, 4, 0)), DROP_IP_BAD_OPT);
	assert_drop(parse_opts(OPTS(1, 1, 1, 68, 8, 5, 0, 0)), DROP_IP_BAD_OPT);
	/* A kind in the last byte with no room for its length. */
	assert_drop(parse_opts(OPTS(1, 1, 1, 7)), DROP_IP_BAD_OPT);
	/* Well formed, then a bad one. */
	assert_drop(parse_opts(OPTS(148, 4, 0, 0, 7, 0, 0, 0)),
		    DROP_IP_BAD_OPT);
}

Test(ipv4, options_source_route_dropped)
{
	/* LSRR (131) and SSRR (137), well formed, one hop. */
	assert_drop(parse_opts(OPTS(131, 7, 4, 1, 2, 3, 4)), DROP_IP_SRCROUTE);
	assert_drop(parse_opts(OPTS(137, 7, 4, 1, 2, 3, 4)), DROP_IP_SRCROUTE);
	/* Also behind other options. */
	assert_drop(parse_opts(OPTS(1, 148, 4, 0, 0, 131, 3, 4)),
		    DROP_IP_SRCROUTE);
	/* After EOL it is not an option any more. */
	assert_drop(parse_opts(OPTS(0, 131, 3, 4)), DROP_NONE);
}

Test(ipv4, drop_names)
{
	cr_assert_str_eq(drop_name(DROP_NONE), "NONE");
	cr_assert_str_eq(drop_name(DROP_IP_CSUM), "IP_CSUM");
	cr_assert_str_eq(drop_name(DROP__COUNT), "UNKNOWN");
	cr_assert_str_eq(drop_text(DROP__COUNT), "unknown");
	for (int r = 0; r < DROP__COUNT; r++) {
		cr_assert_not_null(drop_name((enum drop_reason)r));
		cr_assert_not_null(drop_text((enum drop_reason)r));
	}
}

TUNDRA_TSAN_SKIP_MAIN
