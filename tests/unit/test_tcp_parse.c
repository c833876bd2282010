/* test_tcp_parse.c — tcp_parse and tcp_parse_opts. */
#include <criterion/criterion.h>
#include <string.h>

#include "ip/ipv4.h"
#include "tcp/tcp_wire.h"
#include "test_helpers.h"

#define OUR IP4(10, 0, 0, 2)
#define PEER IP4(10, 0, 0, 1)

struct segspec {
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	const uint8_t *opts; /* padded with EOL to a multiple of 4 */
	size_t optlen;
	int doff;            /* data offset in words; -1: from optlen */
	const uint8_t *payload;
	size_t paylen;
	bool bad_csum;
};

static struct segspec seg_default(void)
{
	return (struct segspec){
		.saddr = PEER,
		.daddr = OUR,
		.sport = 40000,
		.dport = 7,
		.seq = 0x11223344,
		.ack = 0x55667788,
		.flags = TCP_ACK,
		.wnd = 0xfedc,
		.doff = -1,
	};
}

/* IPv4 header (reference checksum) + TCP segment with a correct TCP
 * checksum (reference, over the pseudo-header); returns the datagram
 * length. */
static size_t mkseg(uint8_t *buf, struct segspec s)
{
	size_t optpad = (s.optlen + 3) & ~(size_t)3;
	size_t thl = TCP_HDR_LEN + optpad;
	size_t l4 = thl + s.paylen;
	size_t n = IPV4_HDR_LEN + l4;
	uint8_t *t = buf + IPV4_HDR_LEN;

	memset(buf, 0, n);
	buf[0] = 0x45;
	put16(buf + 2, (uint16_t)n);
	put16(buf + 6, IPV4_DF);
	buf[8] = 64;
	buf[9] = IPPROTO_TCP_;
	put32(buf + 12, s.saddr);
	put32(buf + 16, s.daddr);
	put16(buf + 10, ref_csum(buf, IPV4_HDR_LEN));

	put16(t, s.sport);
	put16(t + 2, s.dport);
	put32(t + 4, s.seq);
	put32(t + 8, s.ack);
	t[12] = (uint8_t)((s.doff >= 0 ? (unsigned)s.doff : thl / 4) << 4);
	t[13] = s.flags;
	put16(t + 14, s.wnd);
	put16(t + 18, 0);
	if (s.optlen)
		memcpy(t + TCP_HDR_LEN, s.opts, s.optlen);
	if (s.paylen)
		memcpy(t + thl, s.payload, s.paylen);
	uint16_t c = (uint16_t)~ref_fold(
		ref_pseudo(s.saddr, s.daddr, IPPROTO_TCP_, (uint16_t)l4) +
		ref_sum(t, l4, 0));
	if (s.bad_csum)
		c ^= 0x0001;
	put16(t + 16, c);
	return n;
}

/* ipv4_parse (must succeed) then tcp_parse. */
static enum drop_reason parse(const uint8_t *buf, size_t n,
			      struct ip_view *ip, struct tcp_seg *seg)
{
	enum drop_reason r = ipv4_parse(buf, n, ip);
	cr_assert_eq(r, DROP_NONE, "IPv4 layer: %s", drop_name(r));
	memset(seg, 0xa5, sizeof(*seg));
	return tcp_parse(ip, seg);
}

static enum drop_reason parse_spec(struct segspec s)
{
	static uint8_t buf[2048];
	struct ip_view ip;
	struct tcp_seg seg;
	size_t n = mkseg(buf, s);
	return parse(buf, n, &ip, &seg);
}

#define assert_drop(got, want)                                              \
	do {                                                                \
		enum drop_reason g_ = (got), w_ = (want);                   \
		cr_assert_eq(g_, w_, "got %s want %s", drop_name(g_),       \
			     drop_name(w_));                                \
	} while (0)

/* A segment whose only options are opts (padded with EOL). */
static enum drop_reason with_opts(uint8_t flags, const uint8_t *opts,
				  size_t len)
{
	struct segspec s = seg_default();
	s.flags = flags;
	s.opts = opts;
	s.optlen = len;
	return parse_spec(s);
}

#define OPTS(...) ((const uint8_t[]){__VA_ARGS__})
#define NOPTS(...) sizeof((const uint8_t[]){__VA_ARGS__})
/* tcp_parse_opts() on exactly these bytes. */
#define PARSE_OPTS(syn, o, ...)                                             \
	tcp_parse_opts(OPTS(__VA_ARGS__), NOPTS(__VA_ARGS__), (syn), (o))

/* ---- valid segments ---------------------------------------------------- */

Test(tcp_parse, valid_syn_with_all_options)
{
	static const uint8_t o[] = {
		TCPOPT_MSS, 4, 0x05, 0xb4,          /* MSS 1460 */
		TCPOPT_SACK_PERM, 2,                /* SACK permitted */
		TCPOPT_TIMESTAMP, 10, 0xde, 0xad, 0xbe, 0xef,
		0x01, 0x02, 0x03, 0x04,             /* TS val/ecr */
		TCPOPT_NOP, TCPOPT_WSCALE, 3, 7,    /* WS 7 */
	};
	uint8_t buf[128];
	struct segspec s = seg_default();
	struct ip_view ip;
	struct tcp_seg seg;

	s.flags = TCP_SYN;
	s.ack = 0;
	s.sport = 0xffff;
	s.dport = 1;
	s.opts = o;
	s.optlen = sizeof(o);
	size_t n = mkseg(buf, s);
	assert_drop(parse(buf, n, &ip, &seg), DROP_NONE);

	cr_assert_eq(seg.saddr, PEER);
	cr_assert_eq(seg.daddr, OUR);
	cr_assert_eq(seg.sport, 0xffff);
	cr_assert_eq(seg.dport, 1);
	cr_assert_eq(seg.seq, 0x11223344);
	cr_assert_eq(seg.ack, 0);
	cr_assert_eq(seg.wnd, 0xfedc);
	cr_assert_eq(seg.flags, TCP_SYN);
	cr_assert_eq(seg.hdr_len, 40);
	cr_assert_eq(seg.data, buf + 20 + 40);
	cr_assert_eq(seg.len, 0);
	cr_assert_eq(tcp_seg_len(&seg), 1);
	cr_assert(seg.opts.has_mss);
	cr_assert_eq(seg.opts.mss, 1460);
	cr_assert(seg.opts.has_wscale);
	cr_assert_eq(seg.opts.wscale, 7);
	cr_assert(seg.opts.sack_ok);
	cr_assert(seg.opts.has_ts);
	cr_assert_eq(seg.opts.tsval, 0xdeadbeef);
	cr_assert_eq(seg.opts.tsecr, 0x01020304);
}

Test(tcp_parse, valid_ack_with_payload_every_length)
{
	/* Payload 0..300 bytes (odd ones exercise the checksum tail). */
	uint8_t pay[300], buf[512];
	struct xs x = {4242};

	for (size_t len = 0; len <= sizeof(pay); len++) {
		xs_fill(&x, pay, len);
		struct segspec s = seg_default();
		struct ip_view ip;
		struct tcp_seg seg;
		s.flags = TCP_ACK | TCP_PSH | (len & 1 ? TCP_FIN : 0);
		s.seq = xs_u32(&x);
		s.ack = xs_u32(&x);
		s.wnd = (uint16_t)xs_u32(&x);
		s.payload = pay;
		s.paylen = len;
		size_t n = mkseg(buf, s);
		assert_drop(parse(buf, n, &ip, &seg), DROP_NONE);
		cr_assert_eq(seg.seq, s.seq);
		cr_assert_eq(seg.ack, s.ack);
		cr_assert_eq(seg.wnd, s.wnd);
		cr_assert_eq(seg.flags, s.flags);
		cr_assert_eq(seg.hdr_len, 20);
		cr_assert_eq(seg.data, buf + 40, "len %zu", len);
		cr_assert_eq(seg.len, len);
		cr_assert_eq(tcp_seg_len(&seg), len + (len & 1));
		cr_assert(memcmp(seg.data, pay, len) == 0);
		cr_assert_not(seg.opts.has_mss || seg.opts.has_wscale ||
			      seg.opts.sack_ok || seg.opts.has_ts);
	}
}

Test(tcp_parse, payload_of_ones)
{
	/* 0xff payloads fill the checksum accumulator with ones. */
	uint8_t pay[64], buf[256];

	memset(pay, 0xff, sizeof(pay));
	for (size_t len = 0; len <= sizeof(pay); len++) {
		struct segspec s = seg_default();
		s.payload = pay;
		s.paylen = len;
		s.seq = 0xffffffff;
		s.ack = 0xffffffff;
		s.wnd = 0xffff;
		s.sport = s.dport = 0xffff;
		size_t n = mkseg(buf, s);
		struct ip_view ip;
		struct tcp_seg seg;
		enum drop_reason r = parse(buf, n, &ip, &seg);
		cr_assert_eq(r, DROP_NONE, "len %zu: %s", len, drop_name(r));
	}
}

Test(tcp_parse, ip_padding_not_in_payload)
{
	/* Link padding after the IP datagram is not TCP payload. */
	uint8_t buf[256], pay[5] = {1, 2, 3, 4, 5};
	struct segspec s = seg_default();
	s.payload = pay;
	s.paylen = sizeof(pay);
	size_t n = mkseg(buf, s);
	memset(buf + n, 0x99, 20);
	struct ip_view ip;
	struct tcp_seg seg;
	cr_assert_eq(ipv4_parse(buf, n + 20, &ip), DROP_NONE);
	assert_drop(tcp_parse(&ip, &seg), DROP_NONE);
	cr_assert_eq(seg.len, 5);
}

Test(tcp_parse, max_options_40_bytes_of_nop)
{
	uint8_t o[40];
	memset(o, TCPOPT_NOP, sizeof(o));
	uint8_t buf[256], pay[3] = {7, 8, 9};
	struct segspec s = seg_default();
	s.opts = o;
	s.optlen = sizeof(o);
	s.payload = pay;
	s.paylen = 3;
	size_t n = mkseg(buf, s);
	struct ip_view ip;
	struct tcp_seg seg;
	assert_drop(parse(buf, n, &ip, &seg), DROP_NONE);
	cr_assert_eq(seg.hdr_len, 60);
	cr_assert_eq(seg.data, buf + 80);
	cr_assert_eq(seg.len, 3);
}

Test(tcp_parse, legal_flag_combinations)
{
	static const uint8_t ok[] = {
		TCP_FIN, TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK, TCP_FIN | TCP_ACK,
		TCP_RST, TCP_RST | TCP_ACK, TCP_PSH | TCP_ACK | TCP_URG,
		TCP_SYN | TCP_ECE | TCP_CWR, TCP_FIN | TCP_RST,
	};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		struct segspec s = seg_default();
		s.flags = ok[i];
		assert_drop(parse_spec(s), DROP_NONE);
	}
}

/* ---- malformed segments ------------------------------------------------ */

Test(tcp_parse, l4_shorter_than_20)
{
	uint8_t buf[64];

	for (size_t l4 = 0; l4 < TCP_HDR_LEN; l4++) {
		memset(buf, 0, sizeof(buf));
		buf[0] = 0x45;
		put16(buf + 2, (uint16_t)(20 + l4));
		buf[8] = 64;
		buf[9] = IPPROTO_TCP_;
		put32(buf + 12, PEER);
		put32(buf + 16, OUR);
		put16(buf + 10, ref_csum(buf, 20));
		for (size_t i = 0; i < l4; i++)
			buf[20 + i] = 0x50; /* looks like doff 5 at byte 12 */
		struct ip_view ip;
		struct tcp_seg seg;
		enum drop_reason r = parse(buf, 20 + l4, &ip, &seg);
		cr_assert_eq(r, DROP_TCP_TRUNCATED, "l4 %zu: %s", l4,
			     drop_name(r));
	}
}

Test(tcp_parse, doff_below_5)
{
	for (int doff = 0; doff < 5; doff++) {
		struct segspec s = seg_default();
		static const uint8_t pay[24];
		s.doff = doff;
		s.payload = pay;
		s.paylen = sizeof(pay);
		assert_drop(parse_spec(s), DROP_TCP_DOFF);
	}
}

Test(tcp_parse, doff_beyond_segment)
{
	/* 20-byte segment claiming 24..60 bytes of header. */
	for (int doff = 6; doff <= 15; doff++) {
		struct segspec s = seg_default();
		s.doff = doff;
		assert_drop(parse_spec(s), DROP_TCP_DOFF);
	}
	/* 56-byte segment (36 bytes of payload) claiming 60. */
	struct segspec s = seg_default();
	static const uint8_t pay[36];
	s.doff = 15;
	s.payload = pay;
	s.paylen = 36;
	assert_drop(parse_spec(s), DROP_TCP_DOFF);
	/* ... but exactly 60 with doff 15 is fine (payload = NOP options). */
	static const uint8_t nops[40] = {[0 ... 39] = TCPOPT_NOP};
	s.payload = nops;
	s.paylen = 40;
	assert_drop(parse_spec(s), DROP_NONE);
}

Test(tcp_parse, bad_checksum)
{
	struct segspec s = seg_default();
	s.bad_csum = true;
	assert_drop(parse_spec(s), DROP_TCP_CSUM);
}

Test(tcp_parse, checksum_covers_payload_and_options)
{
	static const uint8_t o[] = {TCPOPT_MSS, 4, 0x05, 0xb4};
	uint8_t pay[33], buf[256];
	for (size_t i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)i;
	struct segspec s = seg_default();
	s.flags = TCP_SYN;
	s.opts = o;
	s.optlen = sizeof(o);
	s.payload = pay;
	s.paylen = sizeof(pay);
	size_t n = mkseg(buf, s);

	/* Every bit of the TCP segment matters (except where an earlier
	 * check would fire: data offset byte). */
	for (size_t i = 20; i < n; i++) {
		if (i == 20 + 12)
			continue;
		for (int bit = 0; bit < 8; bit++) {
			struct ip_view ip;
			struct tcp_seg seg;
			buf[i] ^= (uint8_t)(1 << bit);
			enum drop_reason r = parse(buf, n, &ip, &seg);
			cr_assert_eq(r, DROP_TCP_CSUM, "byte %zu bit %d: %s",
				     i, bit, drop_name(r));
			buf[i] ^= (uint8_t)(1 << bit);
		}
	}
}

Test(tcp_parse, checksum_covers_pseudo_header)
{
	/* Right bytes, wrong addresses in the pseudo-header. */
	uint8_t buf[128];
	struct segspec s = seg_default();
	size_t n = mkseg(buf, s);
	struct ip_view ip;
	struct tcp_seg seg;

	cr_assert_eq(ipv4_parse(buf, n, &ip), DROP_NONE);
	assert_drop(tcp_parse(&ip, &seg), DROP_NONE);
	struct ip_view v2 = ip;
	v2.saddr ^= 0x100;
	assert_drop(tcp_parse(&v2, &seg), DROP_TCP_CSUM);
	v2 = ip;
	v2.daddr = IP4(10, 0, 0, 3);
	assert_drop(tcp_parse(&v2, &seg), DROP_TCP_CSUM);
	/* Swapped source and destination sum the same (one's complement
	 * addition commutes): not detectable, and accepted. */
	v2 = ip;
	v2.saddr = ip.daddr;
	v2.daddr = ip.saddr;
	assert_drop(tcp_parse(&v2, &seg), DROP_NONE);
}

Test(tcp_parse, csum_ok_skips_the_checksum)
{
	/* Offloads: the device vouched for the checksum (a partial one, as
	 * the kernel leaves it), so a field that does not add up is fine;
	 * without its word the same bytes are dropped. */
	uint8_t buf[128];
	struct segspec s = seg_default();
	size_t n = mkseg(buf, s);
	struct ip_view ip;
	struct tcp_seg seg;

	buf[IPV4_HDR_LEN + 16] ^= 0x5a;
	cr_assert_eq(ipv4_parse(buf, n, &ip), DROP_NONE);
	cr_assert(!ip.l4_csum_ok, "ipv4_parse must not vouch for it");
	assert_drop(tcp_parse(&ip, &seg), DROP_TCP_CSUM);
	ip.l4_csum_ok = true;
	assert_drop(tcp_parse(&ip, &seg), DROP_NONE);
	cr_assert_eq(seg.sport, s.sport);
}

Test(tcp_parse, port_zero)
{
	struct segspec s = seg_default();
	s.sport = 0;
	assert_drop(parse_spec(s), DROP_TCP_BAD_PORT);
	s = seg_default();
	s.dport = 0;
	assert_drop(parse_spec(s), DROP_TCP_BAD_PORT);
	s.sport = 0;
	assert_drop(parse_spec(s), DROP_TCP_BAD_PORT);
}

Test(tcp_parse, syn_fin)
{
	struct segspec s = seg_default();
	s.flags = TCP_SYN | TCP_FIN;
	assert_drop(parse_spec(s), DROP_TCP_SYN_FIN);
	s.flags = TCP_SYN | TCP_FIN | TCP_ACK | TCP_PSH;
	assert_drop(parse_spec(s), DROP_TCP_SYN_FIN);
	s.flags = 0xff; /* "christmas tree": SYN and FIN among the rest */
	assert_drop(parse_spec(s), DROP_TCP_SYN_FIN);
}

Test(tcp_parse, syn_rst)
{
	struct segspec s = seg_default();
	s.flags = TCP_SYN | TCP_RST;
	assert_drop(parse_spec(s), DROP_TCP_SYN_RST);
	s.flags = TCP_SYN | TCP_RST | TCP_ACK;
	assert_drop(parse_spec(s), DROP_TCP_SYN_RST);
}

/* nmap's null scan, and the flag-only variants that carry none of SYN,
 * ACK, RST, FIN; FIN alone (FIN scan) and the nmap Xmas scan (FIN PSH
 * URG) are left to the state machine, which resets them on a closed port
 * as RFC 9293 §3.10.7.1 says. */
Test(tcp_parse, null_flags)
{
	struct segspec s = seg_default();
	s.flags = 0;
	assert_drop(parse_spec(s), DROP_TCP_NULL_FLAGS);
	s.flags = TCP_PSH | TCP_URG;
	assert_drop(parse_spec(s), DROP_TCP_NULL_FLAGS);
	s.flags = TCP_ECE | TCP_CWR;
	assert_drop(parse_spec(s), DROP_TCP_NULL_FLAGS);
	s.flags = TCP_FIN;
	assert_drop(parse_spec(s), DROP_NONE);
	s.flags = TCP_FIN | TCP_PSH | TCP_URG;
	assert_drop(parse_spec(s), DROP_NONE);
	s.flags = TCP_RST;
	assert_drop(parse_spec(s), DROP_NONE);
}

/* ---- malformed options, through the whole segment ---------------------- */

Test(tcp_parse, opt_len_0)
{
	assert_drop(with_opts(TCP_SYN, OPTS(TCPOPT_MSS, 0, 0, 0), 4),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_ACK, OPTS(99, 0, 0, 0), 4),
		    DROP_TCP_BAD_OPT);
}

Test(tcp_parse, opt_len_1)
{
	assert_drop(with_opts(TCP_SYN, OPTS(TCPOPT_MSS, 1, 0, 0), 4),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_ACK, OPTS(TCPOPT_NOP, 99, 1, 0), 4),
		    DROP_TCP_BAD_OPT);
}

Test(tcp_parse, opt_len_past_end)
{
	/* Timestamp claims 10 bytes in a 4-byte area... */
	assert_drop(with_opts(TCP_ACK, OPTS(TCPOPT_NOP, TCPOPT_NOP,
					    TCPOPT_TIMESTAMP, 10),
			      4),
		    DROP_TCP_BAD_OPT);
	/* ...an unknown option runs one byte past the end... */
	assert_drop(with_opts(TCP_ACK, OPTS(99, 5, 0, 0), 4),
		    DROP_TCP_BAD_OPT);
	/* ...and into the payload is still "past the end". */
	struct segspec s = seg_default();
	static const uint8_t pay[16];
	s.opts = OPTS(99, 8, 0, 0);
	s.optlen = 4;
	s.payload = pay;
	s.paylen = sizeof(pay);
	assert_drop(parse_spec(s), DROP_TCP_BAD_OPT);
}

Test(tcp_parse, mss_len_not_4)
{
	assert_drop(with_opts(TCP_SYN, OPTS(TCPOPT_MSS, 3, 5, 0), 4),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_SYN,
			      OPTS(TCPOPT_MSS, 5, 5, 0xb4, 0, 0, 0, 0), 8),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_SYN, OPTS(TCPOPT_MSS, 2, 0, 0), 4),
		    DROP_TCP_BAD_OPT);
	/* Malformed even where the option would be ignored. */
	assert_drop(with_opts(TCP_ACK, OPTS(TCPOPT_MSS, 3, 5, 0), 4),
		    DROP_TCP_BAD_OPT);
}

Test(tcp_parse, wscale_len_not_3)
{
	assert_drop(with_opts(TCP_SYN, OPTS(TCPOPT_WSCALE, 4, 7, 0), 4),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_SYN, OPTS(TCPOPT_WSCALE, 2, 0, 0), 4),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_ACK, OPTS(TCPOPT_WSCALE, 4, 7, 0), 4),
		    DROP_TCP_BAD_OPT);
}

Test(tcp_parse, timestamp_len_not_10)
{
	assert_drop(with_opts(TCP_ACK, OPTS(TCPOPT_TIMESTAMP, 8, 1, 2, 3, 4,
					    5, 6),
			      8),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_SYN, OPTS(TCPOPT_TIMESTAMP, 12, 1, 2, 3, 4,
					    5, 6, 7, 8, 9, 10),
			      12),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_ACK, OPTS(TCPOPT_TIMESTAMP, 2, 0, 0), 4),
		    DROP_TCP_BAD_OPT);
}

Test(tcp_parse, sack_perm_len_not_2)
{
	assert_drop(with_opts(TCP_SYN, OPTS(TCPOPT_SACK_PERM, 3, 0, 0), 4),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_SYN, OPTS(TCPOPT_SACK_PERM, 4, 0, 0), 4),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_ACK, OPTS(TCPOPT_SACK_PERM, 4, 0, 0), 4),
		    DROP_TCP_BAD_OPT);
}

Test(tcp_parse, kind_at_last_byte_without_length)
{
	assert_drop(with_opts(TCP_SYN, OPTS(TCPOPT_NOP, TCPOPT_NOP, TCPOPT_NOP,
					    TCPOPT_MSS),
			      4),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_ACK, OPTS(TCPOPT_NOP, TCPOPT_NOP, TCPOPT_NOP,
					    99),
			      4),
		    DROP_TCP_BAD_OPT);
}

Test(tcp_parse, good_options_then_bad_one)
{
	assert_drop(with_opts(TCP_SYN, OPTS(TCPOPT_MSS, 4, 5, 0xb4,
					    TCPOPT_SACK_PERM, 2, 99, 0),
			      8),
		    DROP_TCP_BAD_OPT);
}

/* ---- option semantics -------------------------------------------------- */

Test(tcp_parse, unknown_option_skipped)
{
	static const uint8_t o[] = {
		99,  6, 0xaa, 0xbb, 0xcc, 0xdd, /* unknown, 6 bytes */
		TCPOPT_MSS, 4, 0x23, 0x28,      /* MSS 9000 */
		77, 2,                          /* unknown, 2 bytes */
		TCPOPT_WSCALE, 3, 2, TCPOPT_NOP,
	};
	uint8_t buf[128];
	struct segspec s = seg_default();
	struct ip_view ip;
	struct tcp_seg seg;
	s.flags = TCP_SYN | TCP_ACK;
	s.opts = o;
	s.optlen = sizeof(o);
	size_t n = mkseg(buf, s);
	assert_drop(parse(buf, n, &ip, &seg), DROP_NONE);
	cr_assert(seg.opts.has_mss);
	cr_assert_eq(seg.opts.mss, 9000);
	cr_assert(seg.opts.has_wscale);
	cr_assert_eq(seg.opts.wscale, 2);
	cr_assert_not(seg.opts.sack_ok);
	cr_assert_not(seg.opts.has_ts);
}

Test(tcp_parse, sack_block_and_timestamp_parsed)
{
	static const uint8_t o[] = {
		TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK, 10,
		0, 0, 0, 1, 0, 0, 0, 2,               /* one SACK block */
		TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10,
		0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff,
	};
	uint8_t buf[128];
	struct segspec s = seg_default();
	struct ip_view ip;
	struct tcp_seg seg;
	s.opts = o;
	s.optlen = sizeof(o);
	size_t n = mkseg(buf, s);
	assert_drop(parse(buf, n, &ip, &seg), DROP_NONE);
	cr_assert(seg.opts.has_ts);
	cr_assert_eq(seg.opts.tsval, 5);
	cr_assert_eq(seg.opts.tsecr, 0xffffffff);
	cr_assert_eq(seg.opts.nsack, 1);
	cr_assert_eq(seg.opts.sack[0][0], 1);
	cr_assert_eq(seg.opts.sack[0][1], 2);
	cr_assert_eq(seg.hdr_len, 44);
}

Test(tcp_parse, four_sack_blocks_in_order)
{
	uint8_t o[36] = { TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK, 34 };
	uint8_t buf[128];
	struct segspec s = seg_default();
	struct ip_view ip;
	struct tcp_seg seg;

	for (int b = 0; b < 8; b++) {
		uint32_t v = 0x80000000u + (uint32_t)b * 1000;
		o[4 + 4 * b] = (uint8_t)(v >> 24);
		o[5 + 4 * b] = (uint8_t)(v >> 16);
		o[6 + 4 * b] = (uint8_t)(v >> 8);
		o[7 + 4 * b] = (uint8_t)v;
	}
	s.opts = o;
	s.optlen = sizeof(o);
	size_t n = mkseg(buf, s);
	assert_drop(parse(buf, n, &ip, &seg), DROP_NONE);
	cr_assert_eq(seg.opts.nsack, 4);
	for (int b = 0; b < 4; b++) {
		cr_assert_eq(seg.opts.sack[b][0], 0x80000000u + 2000u * b);
		cr_assert_eq(seg.opts.sack[b][1], 0x80000000u + 2000u * b + 1000);
	}
}

/* More than four blocks cannot fit a TCP header; tcp_parse_opts on a
 * longer area (it is exposed) must refuse them rather than overflow
 * (found by the parse fuzzer). */
Test(tcp_parse, sack_five_blocks_refused)
{
	uint8_t o[42] = { TCPOPT_SACK, 42 };
	struct tcp_opts opts;

	cr_assert_eq(tcp_parse_opts(o, sizeof(o), false, &opts),
		     DROP_TCP_BAD_OPT);
}

/* RFC 2018 §3: the SACK option is 2 + 8n bytes, n >= 1. */
Test(tcp_parse, sack_len_not_2_plus_8n)
{
	assert_drop(with_opts(TCP_ACK, OPTS(TCPOPT_SACK, 2, 1, 1), 4),
		    DROP_TCP_BAD_OPT);
	assert_drop(with_opts(TCP_ACK,
			      OPTS(TCPOPT_SACK, 11, 0, 0, 0, 1, 0, 0, 0, 2,
				   0, 1),
			      12),
		    DROP_TCP_BAD_OPT);
}

Test(tcp_parse, eol_stops)
{
	/* Garbage after EOL (here a 1-byte "MSS") is not parsed. */
	uint8_t buf[128];
	struct segspec s = seg_default();
	struct ip_view ip;
	struct tcp_seg seg;
	s.flags = TCP_SYN;
	s.opts = OPTS(TCPOPT_MSS, 4, 0x05, 0xb4, TCPOPT_EOL, TCPOPT_MSS, 1,
		      TCPOPT_WSCALE);
	s.optlen = 8;
	size_t n = mkseg(buf, s);
	assert_drop(parse(buf, n, &ip, &seg), DROP_NONE);
	cr_assert(seg.opts.has_mss);
	cr_assert_eq(seg.opts.mss, 1460);
	cr_assert_not(seg.opts.has_wscale);

	/* EOL first: nothing at all. */
	s.opts = OPTS(TCPOPT_EOL, TCPOPT_WSCALE, 3, 9);
	s.optlen = 4;
	n = mkseg(buf, s);
	assert_drop(parse(buf, n, &ip, &seg), DROP_NONE);
	cr_assert_not(seg.opts.has_wscale);
	cr_assert_not(seg.opts.has_mss);
}

Test(tcp_parse, mss_ws_sackperm_ignored_on_non_syn)
{
	static const uint8_t o[] = {
		TCPOPT_MSS, 4, 0x05, 0xb4, TCPOPT_WSCALE, 3, 7, TCPOPT_NOP,
		TCPOPT_SACK_PERM, 2, TCPOPT_NOP, TCPOPT_NOP,
	};
	uint8_t buf[128];
	struct segspec s = seg_default();
	struct ip_view ip;
	struct tcp_seg seg;
	s.flags = TCP_ACK;
	s.opts = o;
	s.optlen = sizeof(o);
	size_t n = mkseg(buf, s);
	assert_drop(parse(buf, n, &ip, &seg), DROP_NONE);
	cr_assert_not(seg.opts.has_mss);
	cr_assert_eq(seg.opts.mss, 0);
	cr_assert_not(seg.opts.has_wscale);
	cr_assert_eq(seg.opts.wscale, 0);
	cr_assert_not(seg.opts.sack_ok);

	/* The same options on SYN|ACK count. */
	s.flags = TCP_SYN | TCP_ACK;
	n = mkseg(buf, s);
	assert_drop(parse(buf, n, &ip, &seg), DROP_NONE);
	cr_assert(seg.opts.has_mss);
	cr_assert_eq(seg.opts.mss, 1460);
	cr_assert(seg.opts.has_wscale);
	cr_assert_eq(seg.opts.wscale, 7);
	cr_assert(seg.opts.sack_ok);
}

Test(tcp_parse, wscale_clamped_to_14)
{
	static const uint8_t shifts[] = {0, 1, 13, 14, 15, 16, 100, 255};

	for (size_t i = 0; i < ARRAY_SIZE(shifts); i++) {
		uint8_t buf[128];
		struct segspec s = seg_default();
		struct ip_view ip;
		struct tcp_seg seg;
		uint8_t o[4] = {TCPOPT_NOP, TCPOPT_WSCALE, 3, shifts[i]};
		s.flags = TCP_SYN;
		s.opts = o;
		s.optlen = 4;
		size_t n = mkseg(buf, s);
		assert_drop(parse(buf, n, &ip, &seg), DROP_NONE);
		cr_assert(seg.opts.has_wscale);
		uint8_t want = shifts[i] > 14 ? 14 : shifts[i];
		cr_assert_eq(seg.opts.wscale, want, "shift %u: got %u",
			     shifts[i], seg.opts.wscale);
	}
}

/* ---- tcp_parse_opts directly ------------------------------------------- */

Test(tcp_parse_opts, empty_area_clears_output)
{
	struct tcp_opts o;
	memset(&o, 0xff, sizeof(o));
	assert_drop(tcp_parse_opts(NULL, 0, true, &o), DROP_NONE);
	cr_assert_not(o.has_mss || o.has_wscale || o.sack_ok || o.has_ts);
	cr_assert_eq(o.mss, 0);
	cr_assert_eq(o.wscale, 0);
	cr_assert_eq(o.tsval, 0);
	cr_assert_eq(o.tsecr, 0);
}

Test(tcp_parse_opts, malformed_lengths)
{
	struct tcp_opts o;

	/* Lone option kinds with no room for the length octet. */
	assert_drop(PARSE_OPTS(true, &o, TCPOPT_MSS), DROP_TCP_BAD_OPT);
	assert_drop(PARSE_OPTS(true, &o, TCPOPT_WSCALE), DROP_TCP_BAD_OPT);
	assert_drop(PARSE_OPTS(true, &o, TCPOPT_SACK_PERM), DROP_TCP_BAD_OPT);
	assert_drop(PARSE_OPTS(false, &o, TCPOPT_TIMESTAMP),
		    DROP_TCP_BAD_OPT);
	assert_drop(PARSE_OPTS(false, &o, 200), DROP_TCP_BAD_OPT);
	assert_drop(PARSE_OPTS(false, &o, TCPOPT_NOP, 200), DROP_TCP_BAD_OPT);
	/* Length 0 and 1 (would loop or step back). */
	assert_drop(PARSE_OPTS(false, &o, 200, 0), DROP_TCP_BAD_OPT);
	assert_drop(PARSE_OPTS(false, &o, 200, 1), DROP_TCP_BAD_OPT);
	assert_drop(PARSE_OPTS(false, &o, 200, 1, 0, 0), DROP_TCP_BAD_OPT);
	/* Past the end, by one. */
	assert_drop(PARSE_OPTS(true, &o, TCPOPT_MSS, 4, 5), DROP_TCP_BAD_OPT);
	assert_drop(PARSE_OPTS(true, &o, TCPOPT_WSCALE, 3), DROP_TCP_BAD_OPT);
	assert_drop(PARSE_OPTS(false, &o, TCPOPT_TIMESTAMP, 10, 1, 2, 3, 4, 5,
			       6, 7),
		    DROP_TCP_BAD_OPT);
	assert_drop(PARSE_OPTS(false, &o, 200, 255, 0), DROP_TCP_BAD_OPT);
	/* Exact fit is fine. */
	assert_drop(PARSE_OPTS(true, &o, TCPOPT_WSCALE, 3, 4), DROP_NONE);
	cr_assert_eq(o.wscale, 4);
	assert_drop(PARSE_OPTS(false, &o, 200, 2), DROP_NONE);
	assert_drop(PARSE_OPTS(true, &o, TCPOPT_SACK_PERM, 2), DROP_NONE);
	cr_assert(o.sack_ok);
}

Test(tcp_parse_opts, wrong_lengths_per_kind)
{
	struct tcp_opts o;

	for (unsigned len = 2; len <= 12; len++) {
		uint8_t a[12] = {0};
		for (int syn = 0; syn < 2; syn++) {
			static const struct {
				uint8_t kind, good;
			} k[] = {{TCPOPT_MSS, 4},
				 {TCPOPT_WSCALE, 3},
				 {TCPOPT_SACK_PERM, 2},
				 {TCPOPT_TIMESTAMP, 10}};
			for (size_t j = 0; j < ARRAY_SIZE(k); j++) {
				a[0] = k[j].kind;
				a[1] = (uint8_t)len;
				enum drop_reason want = len == k[j].good
								? DROP_NONE
								: DROP_TCP_BAD_OPT;
				enum drop_reason got =
					tcp_parse_opts(a, len, syn, &o);
				cr_assert_eq(got, want,
					     "kind %u len %u syn %d: got %s",
					     k[j].kind, len, syn,
					     drop_name(got));
			}
		}
	}
}

Test(tcp_parse_opts, timestamps_on_any_segment)
{
	struct tcp_opts o;

	assert_drop(PARSE_OPTS(false, &o, TCPOPT_TIMESTAMP, 10, 0x80, 0, 0, 1,
			       0, 0, 0, 0),
		    DROP_NONE);
	cr_assert(o.has_ts);
	cr_assert_eq(o.tsval, 0x80000001);
	cr_assert_eq(o.tsecr, 0);
	assert_drop(PARSE_OPTS(true, &o, TCPOPT_TIMESTAMP, 10, 0, 0, 0, 0, 0x12,
			       0x34, 0x56, 0x78),
		    DROP_NONE);
	cr_assert(o.has_ts);
	cr_assert_eq(o.tsval, 0);
	cr_assert_eq(o.tsecr, 0x12345678);
}

Test(tcp_parse_opts, nops_only_and_eol_after_nops)
{
	struct tcp_opts o;
	assert_drop(PARSE_OPTS(true, &o, 1, 1, 1, 1, 1, 1, 1), DROP_NONE);
	assert_drop(PARSE_OPTS(true, &o, 1, 1, 0, 200, 0), DROP_NONE);
	assert_drop(PARSE_OPTS(true, &o, 0), DROP_NONE);
}

Test(tcp_parse_opts, random_bytes_never_overrun)
{
	/* Fuzz: random option areas of every length, parsed from a buffer
	 * that ends exactly at the area (ASan catches an over-read). Every
	 * result is NONE or BAD_OPT, and wscale never exceeds 14. */
	struct xs x = {0xabcdef};

	for (int iter = 0; iter < 200000; iter++) {
		unsigned len = xs_below(&x, TCP_MAX_OPT_LEN + 1);
		uint8_t *a = malloc(len ? len : 1);
		cr_assert_not_null(a);
		for (unsigned i = 0; i < len; i++) {
			/* Bias toward small kinds and lengths. */
			uint32_t r = xs_u32(&x);
			a[i] = (uint8_t)(r & 0x100 ? r % 12 : r >> 24);
		}
		struct tcp_opts o;
		enum drop_reason r = tcp_parse_opts(a, len, iter & 1, &o);
		cr_assert(r == DROP_NONE || r == DROP_TCP_BAD_OPT);
		cr_assert_leq(o.wscale, TCP_MAX_WSCALE);
		if (!(iter & 1))
			cr_assert_not(o.has_mss || o.has_wscale || o.sack_ok);
		free(a);
	}
}

TUNDRA_TSAN_SKIP_MAIN
