/* tcp_parse.c — segment validation and option parsing (RFC 9293 §3.1-3.2,
 * RFC 7323 §2-3). */
#include <arpa/inet.h>
#include <string.h>

#include "base/compiler.h"
#include "ip/csum.h"
#include "tcp/tcp_wire.h"

enum drop_reason tcp_parse_opts(const uint8_t *p, unsigned len, bool syn,
				struct tcp_opts *o)
{
	unsigned i = 0;

	memset(o, 0, sizeof(*o));
	while (i < len) {
		uint8_t kind = p[i], olen;

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		/* RFC 9293 §3.2: every other option has a length octet that
		 * counts kind and length; one that is too small or runs past
		 * the header is malformed and the segment is dropped. */
		if (unlikely(i + 1 >= len))
			return DROP_TCP_BAD_OPT;
		olen = p[i + 1];
		if (unlikely(olen < 2 || i + olen > len))
			return DROP_TCP_BAD_OPT;
		switch (kind) {
		case TCPOPT_MSS:
			if (unlikely(olen != 4))
				return DROP_TCP_BAD_OPT;
			/* Only meaningful on SYN (RFC 9293 §3.7.1). */
			if (syn) {
				o->has_mss = true;
				o->mss = (uint16_t)(p[i + 2] << 8 | p[i + 3]);
			}
			break;
		case TCPOPT_WSCALE:
			if (unlikely(olen != 3))
				return DROP_TCP_BAD_OPT;
			if (syn) {
				o->has_wscale = true;
				/* RFC 7323 §2.3: a shift above 14 is used
				 * as 14. */
				o->wscale = MIN(p[i + 2], TCP_MAX_WSCALE);
			}
			break;
		case TCPOPT_SACK_PERM:
			if (unlikely(olen != 2))
				return DROP_TCP_BAD_OPT;
			if (syn)
				o->sack_ok = true;
			break;
		case TCPOPT_TIMESTAMP:
			if (unlikely(olen != 10))
				return DROP_TCP_BAD_OPT;
			o->has_ts = true;
			memcpy(&o->tsval, p + i + 2, 4);
			memcpy(&o->tsecr, p + i + 6, 4);
			o->tsval = ntohl(o->tsval);
			o->tsecr = ntohl(o->tsecr);
			break;
		case TCPOPT_SACK:
			/* RFC 2018 §3: 2 + 8n bytes, n blocks of left and
			 * right edge; at most 4 fit in 40 option bytes. A
			 * length that is not of that form is malformed. */
			if (unlikely(olen < 10 || (olen - 2) % 8 != 0 ||
				     olen > 2 + 8 * 4))
				return DROP_TCP_BAD_OPT;
			o->nsack = (uint8_t)((olen - 2) / 8);
			for (unsigned b = 0; b < o->nsack; b++) {
				uint32_t e[2];

				memcpy(e, p + i + 2 + 8 * b, 8);
				o->sack[b][0] = ntohl(e[0]);
				o->sack[b][1] = ntohl(e[1]);
			}
			break;
		default:
			/* Unknown options are skipped by their length (RFC
			 * 9293 §3.2). */
			break;
		}
		i += olen;
	}
	return DROP_NONE;
}

enum drop_reason tcp_parse(const struct ip_view *ip, struct tcp_seg *seg)
{
	struct tcp_hdr h;
	unsigned doff;
	uint32_t sum;
	enum drop_reason r;

	if (unlikely(ip->l4_len < TCP_HDR_LEN))
		return DROP_TCP_TRUNCATED;
	memcpy(&h, ip->l4, sizeof(h));
	doff = (h.doff >> 4) * 4u;
	if (unlikely(doff < TCP_HDR_LEN || doff > ip->l4_len))
		return DROP_TCP_DOFF;
	/* RFC 9293 §3.1. With offloads the kernel may hand us a segment it
	 * made itself with the checksum still partial (only the pseudo-header
	 * sum in place): nothing to verify, nothing crossed a wire. */
	if (!ip->l4_csum_ok) {
		sum = csum_pseudo_ipv4(htonl(ip->saddr), htonl(ip->daddr),
				       IPPROTO_TCP_, ip->l4_len);
		if (unlikely(csum_fold(csum_partial(ip->l4, ip->l4_len,
						    sum)) != 0))
			return DROP_TCP_CSUM;
	}
	seg->sport = ntohs(h.sport);
	seg->dport = ntohs(h.dport);
	if (unlikely(seg->sport == 0 || seg->dport == 0))
		return DROP_TCP_BAD_PORT;
	seg->flags = h.flags;
	/* SYN with FIN or RST has no meaning in any state; drop it rather
	 * than guess (as FreeBSD's tcp_input does for SYN|FIN). These are
	 * scanner probes and OS fingerprints, each counted on its own. */
	if (unlikely((h.flags & (TCP_SYN | TCP_FIN)) == (TCP_SYN | TCP_FIN)))
		return DROP_TCP_SYN_FIN;
	if (unlikely((h.flags & (TCP_SYN | TCP_RST)) == (TCP_SYN | TCP_RST)))
		return DROP_TCP_SYN_RST;
	/* A segment with none of SYN, ACK, RST, FIN (nmap's null scan) is
	 * valid in no state: every segment but the first SYN carries ACK
	 * (RFC 9293 §3.10.7.4 fifth), and without SYN or RST it cannot be
	 * the first. Dropped silently, as Linux does in every state but
	 * CLOSED: a closed port then looks no different from an open one,
	 * which is what a null scan tries to tell apart. */
	if (unlikely(!(h.flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN))))
		return DROP_TCP_NULL_FLAGS;
	r = tcp_parse_opts(ip->l4 + TCP_HDR_LEN, doff - TCP_HDR_LEN,
			   h.flags & TCP_SYN, &seg->opts);
	if (unlikely(r != DROP_NONE))
		return r;
	seg->saddr = ip->saddr;
	seg->daddr = ip->daddr;
	seg->seq = ntohl(h.seq);
	seg->ack = ntohl(h.ack);
	seg->wnd = ntohs(h.window);
	seg->hdr_len = (uint8_t)doff;
	seg->data = ip->l4 + doff;
	seg->len = ip->l4_len - doff;
	return DROP_NONE;
}
