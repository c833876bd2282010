/* ipv4.c — IPv4 validation and header construction (RFC 791, 1122). */
#include "ip/ipv4.h"

#include <arpa/inet.h>
#include <string.h>

#include "base/compiler.h"
#include "ip/csum.h"

/*
 * IP options (RFC 791 §3.1) are accepted and skipped, as Linux accepts
 * them (ip_options_compile), once they are well formed: EOL ends the list,
 * NOP is one byte, every other option has a length octet of at least 2
 * that stays inside the header. Source routes (LSRR 131, SSRR 137) are
 * dropped: tundra is no router, and Linux drops them too by default
 * (accept_source_route = 0); RFC 7126 §4.3-4.4 advises the same.
 */
enum drop_reason ipv4_check_opts(const uint8_t *p, unsigned len)
{
	unsigned i = 0;

	while (i < len) {
		uint8_t type = p[i], olen;

		if (type == IPOPT_EOL)
			break;
		if (type == IPOPT_NOP) {
			i++;
			continue;
		}
		if (unlikely(i + 1 >= len))
			return DROP_IP_BAD_OPT;
		olen = p[i + 1];
		if (unlikely(olen < 2 || i + olen > len))
			return DROP_IP_BAD_OPT;
		if (unlikely(type == IPOPT_LSRR || type == IPOPT_SSRR))
			return DROP_IP_SRCROUTE;
		i += olen;
	}
	return DROP_NONE;
}

enum drop_reason ipv4_parse(const uint8_t *pkt, size_t len, struct ip_view *v)
{
	struct ipv4_hdr h;
	unsigned ihl, tot;

	if (unlikely(len < IPV4_HDR_LEN))
		return DROP_IP_TRUNCATED;
	memcpy(&h, pkt, sizeof(h));
	if (unlikely((h.ver_ihl >> 4) != 4))
		return DROP_IP_VERSION;
	ihl = (h.ver_ihl & 0x0f) * 4u;
	if (unlikely(ihl < IPV4_HDR_LEN || ihl > len))
		return DROP_IP_IHL;
	tot = ntohs(h.tot_len);
	/* RFC 1122 §3.2.1.1-ish: a total length shorter than the header or
	 * longer than what was read is malformed; bytes beyond it are padding
	 * and are ignored. */
	if (unlikely(tot < ihl || tot > len))
		return DROP_IP_TOTLEN;
	if (unlikely(csum(pkt, ihl) != 0))
		return DROP_IP_CSUM;
	if (unlikely(h.ttl == 0))
		return DROP_IP_TTL;
	if (unlikely(ntohs(h.frag_off) & (IPV4_MF | IPV4_OFFMASK)))
		return DROP_IP_FRAGMENT;
	if (unlikely(ihl > IPV4_HDR_LEN)) {
		enum drop_reason r =
			ipv4_check_opts(pkt + IPV4_HDR_LEN, ihl - IPV4_HDR_LEN);
		if (r != DROP_NONE)
			return r;
	}

	v->hdr = pkt;
	v->l4 = pkt + ihl;
	v->saddr = ntohl(h.saddr);
	v->daddr = ntohl(h.daddr);
	v->hdr_len = (uint16_t)ihl;
	v->l4_len = (uint16_t)(tot - ihl);
	v->proto = h.proto;
	v->ttl = h.ttl;
	v->l4_csum_ok = false;
	return DROP_NONE;
}

static bool martian(uint32_t a)
{
	uint8_t top = a >> 24;

	return top == 0 || top == 127 || top >= 224 || a == 0xffffffffu;
}

enum drop_reason ipv4_check_addrs(const struct ip_view *v, uint32_t our_addr,
				  uint8_t prefix)
{
	if (unlikely(v->daddr != our_addr))
		return DROP_IP_NOT_OURS;
	/* Land attack: a datagram "from" us to us (any ports) can only be
	 * forged — we never send to ourselves through the device. */
	if (unlikely(v->saddr == our_addr))
		return DROP_IP_LAND;
	if (unlikely(martian(v->saddr)))
		return DROP_IP_MARTIAN_SRC;
	/* RFC 1122 §3.2.1.3: a directed broadcast of our subnet is never a
	 * source. (/31 and /32 have no broadcast address: RFC 3021.) */
	if (prefix && prefix < 31) {
		uint32_t host = ~0u >> prefix;

		if (unlikely((v->saddr & host) == host &&
			     (v->saddr & ~host) == (our_addr & ~host)))
			return DROP_IP_MARTIAN_SRC;
	}
	return DROP_NONE;
}

void ipv4_build(uint8_t *buf, uint32_t saddr, uint32_t daddr, uint8_t proto,
		uint16_t tot_len, uint16_t id)
{
	struct ipv4_hdr h = {
		.ver_ihl = 0x45,
		.tos = 0,
		.tot_len = htons(tot_len),
		.id = htons(id),
		.frag_off = htons(IPV4_DF),
		.ttl = IPV4_DEFAULT_TTL,
		.proto = proto,
		.check = 0,
		.saddr = htonl(saddr),
		.daddr = htonl(daddr),
	};

	h.check = csum(&h, sizeof(h));
	memcpy(buf, &h, sizeof(h));
}
