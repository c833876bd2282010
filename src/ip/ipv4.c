/* ipv4.c — IPv4 validation and header construction (RFC 791, 1122). */
#include "ip/ipv4.h"

#include <arpa/inet.h>
#include <string.h>

#include "base/compiler.h"
#include "ip/csum.h"

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

enum drop_reason ipv4_check_addrs(const struct ip_view *v, uint32_t our_addr)
{
	if (unlikely(v->daddr != our_addr))
		return DROP_IP_NOT_OURS;
	if (unlikely(martian(v->saddr) || v->saddr == our_addr))
		return DROP_IP_MARTIAN_SRC;
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
