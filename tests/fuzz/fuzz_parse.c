/*
 * fuzz_parse.c — the datagram parser: ipv4_parse, ipv4_check_addrs,
 * tcp_parse and tcp_parse_opts (src/ip/ipv4.c, src/tcp/tcp_parse.c) on
 * arbitrary bytes. Any input gives a parsed result that stays inside the
 * bytes it was given, or a named drop reason; never a crash, an
 * out-of-bounds read (ASan: the bytes are a heap copy of exactly their
 * length) or undefined behaviour (UBSan).
 *
 * Input: one mode byte, then the datagram. Random bytes almost never carry
 * correct checksums, so the mode can repair them before parsing, letting
 * the fuzzer reach the checks behind them:
 *   bit 0  set the IPv4 total length to the bytes given
 *   bit 1  recompute the IPv4 header checksum
 *   bit 2  recompute the TCP checksum (over the pseudo-header)
 *   bit 3  parse the bytes after the mode byte as a bare option area
 *   bit 4  ... of a SYN (MSS and window scale count only there)
 */
#include "fuzz_common.h"

#define OUR 0x0a000002u /* 10.0.0.2 */

static void check_opts(const struct tcp_opts *o, bool syn)
{
	FUZZ_CHECK(o->wscale <= TCP_MAX_WSCALE, "wscale %u", o->wscale);
	if (!syn)
		FUZZ_CHECK(!o->has_mss && !o->has_wscale && !o->sack_ok,
			   "SYN-only option taken from a non-SYN");
	if (!o->has_wscale)
		FUZZ_CHECK(o->wscale == 0, "wscale without the option");
	if (!o->has_mss)
		FUZZ_CHECK(o->mss == 0, "mss without the option");
	if (!o->has_ts)
		FUZZ_CHECK(!o->tsval && !o->tsecr, "ts without the option");
}

static void fix_tcp_csum(uint8_t *pkt, const struct ip_view *ip)
{
	uint8_t *th = pkt + ip->hdr_len;
	uint16_t zero = 0, check;
	uint32_t sum;

	if (ip->l4_len < TCP_HDR_LEN)
		return;
	memcpy(th + 16, &zero, 2);
	sum = csum_pseudo_ipv4(htonl(ip->saddr), htonl(ip->daddr), IPPROTO_TCP_,
			       ip->l4_len);
	check = csum_fold(csum_partial(th, ip->l4_len, sum));
	memcpy(th + 16, &check, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ip_view ip;
	struct tcp_seg seg;
	struct tcp_opts opts;
	enum drop_reason r;
	uint8_t mode, *pkt;
	size_t len;

	if (size < 1)
		return 0;
	mode = data[0];
	len = size - 1;
	/* An exact-size heap copy: a read past the end is an ASan report. */
	pkt = malloc(len ? len : 1);
	FUZZ_CHECK(pkt, "out of memory");
	memcpy(pkt, data + 1, len);

	if (mode & 0x08) {
		bool syn = mode & 0x10;

		r = tcp_parse_opts(pkt, (unsigned)len, syn, &opts);
		FUZZ_CHECK(r == DROP_NONE || r == DROP_TCP_BAD_OPT, "opts: %s",
			   drop_name(r));
		if (r == DROP_NONE)
			check_opts(&opts, syn);
		free(pkt);
		return 0;
	}

	if (len >= IPV4_HDR_LEN && (mode & 0x01)) {
		uint16_t tot = htons((uint16_t)MIN(len, 65535u));
		memcpy(pkt + 2, &tot, 2);
	}
	if (len >= IPV4_HDR_LEN && (mode & 0x02)) {
		unsigned ihl = (pkt[0] & 0x0f) * 4u;
		uint16_t zero = 0, check;

		if (ihl >= IPV4_HDR_LEN && ihl <= len) {
			memcpy(pkt + 10, &zero, 2);
			check = csum(pkt, ihl);
			memcpy(pkt + 10, &check, 2);
		}
	}

	r = ipv4_parse(pkt, len, &ip);
	FUZZ_CHECK(r < DROP__COUNT && drop_name(r), "reason %d", (int)r);
	if (r != DROP_NONE)
		goto out;
	FUZZ_CHECK(ip.hdr == pkt && ip.l4 == pkt + ip.hdr_len, "views");
	FUZZ_CHECK(ip.hdr_len >= IPV4_HDR_LEN && ip.hdr_len <= 60, "hdr_len %u",
		   ip.hdr_len);
	FUZZ_CHECK((size_t)ip.hdr_len + ip.l4_len <= len,
		   "hdr %u + l4 %u past %zu bytes", ip.hdr_len, ip.l4_len, len);
	FUZZ_CHECK(ip.ttl != 0 && ip.proto == pkt[9], "ttl/proto");
	FUZZ_CHECK(csum(pkt, ip.hdr_len) == 0, "accepted a bad header sum");

	r = ipv4_check_addrs(&ip, OUR);
	FUZZ_CHECK(r == DROP_NONE || r == DROP_IP_NOT_OURS ||
			   r == DROP_IP_MARTIAN_SRC,
		   "addrs: %s", drop_name(r));
	if (r == DROP_NONE)
		FUZZ_CHECK(ip.daddr == OUR && ip.saddr != OUR, "addrs");

	if (mode & 0x04)
		fix_tcp_csum(pkt, &ip);
	r = tcp_parse(&ip, &seg);
	FUZZ_CHECK(r < DROP__COUNT && drop_name(r), "reason %d", (int)r);
	if (r != DROP_NONE)
		goto out;
	FUZZ_CHECK(seg.hdr_len >= TCP_HDR_LEN && seg.hdr_len <= 60 &&
			   seg.hdr_len % 4 == 0,
		   "tcp hdr_len %u", seg.hdr_len);
	FUZZ_CHECK(seg.hdr_len + seg.len == ip.l4_len,
		   "hdr %u + payload %u != l4 %u", seg.hdr_len, seg.len,
		   ip.l4_len);
	FUZZ_CHECK(seg.data == ip.l4 + seg.hdr_len, "payload view");
	FUZZ_CHECK(seg.data + seg.len <= pkt + len, "payload past the end");
	FUZZ_CHECK(seg.sport && seg.dport, "port zero accepted");
	FUZZ_CHECK(!((seg.flags & TCP_SYN) &&
		     (seg.flags & (TCP_FIN | TCP_RST))),
		   "SYN with FIN/RST accepted");
	FUZZ_CHECK(seg.saddr == ip.saddr && seg.daddr == ip.daddr, "addrs");
	check_opts(&seg.opts, seg.flags & TCP_SYN);
	/* Touch every payload byte: a bad view is an ASan report here. */
	{
		volatile uint8_t x = 0;
		for (uint32_t i = 0; i < seg.len; i++)
			x ^= seg.data[i];
		(void)x;
	}
out:
	free(pkt);
	return 0;
}
