/* icmp.c — ICMP echo (RFC 792; RFC 1122 §3.2.2.6: every host answers
 * echo requests). Other ICMP messages are counted and ignored for now. */
#include <stdlib.h>
#include <string.h>

#include "core/core_priv.h"
#include "ip/csum.h"

void icmp_input(struct core *core, const struct ip_view *ip)
{
	struct core_out *o;
	struct icmp_hdr h;
	uint8_t *copy;

	if (ip->l4_len < ICMP_HDR_LEN) {
		core_drop(core, DROP_ICMP_TRUNCATED);
		return;
	}
	if (csum(ip->l4, ip->l4_len) != 0) {
		core_drop(core, DROP_ICMP_CSUM);
		return;
	}
	memcpy(&h, ip->l4, sizeof(h));
	if (h.type != ICMP_ECHO_REQUEST || h.code != 0) {
		core_drop(core, DROP_ICMP_TYPE);
		return;
	}
	/* The reply carries the request's identifier, sequence and data:
	 * copy the message (the receive buffer goes back to the RX thread
	 * now), change the type and sum it again. Not RFC 1624's update:
	 * for a message whose other words all sum to zero it gives 0x0000
	 * where only 0xffff verifies (the fuzzer found an all-zero echo). */
	copy = malloc(ip->l4_len);
	if (!copy) {
		core_drop(core, DROP_TCP_NO_MEMORY);
		return;
	}
	o = core_out_get(core);
	if (!o) {
		free(copy);
		core_drop(core, DROP_TX_NO_DESC);
		return;
	}
	memcpy(copy, ip->l4, ip->l4_len);
	copy[0] = ICMP_ECHO_REPLY;
	copy[2] = copy[3] = 0;
	h.check = csum(copy, ip->l4_len);
	memcpy(copy + 2, &h.check, 2);

	ipv4_build(o->hdr, core->cfg.addr, ip->saddr, IPPROTO_ICMP_,
		   (uint16_t)(IPV4_HDR_LEN + ip->l4_len), core->ip_id++);
	o->aux = copy;
	o->iov[0].iov_base = o->hdr;
	o->iov[0].iov_len = IPV4_HDR_LEN;
	o->iov[1].iov_base = copy;
	o->iov[1].iov_len = ip->l4_len;
	o->niov = 2;
	o->len = IPV4_HDR_LEN + ip->l4_len;
	stat_add(core->stats.icmp_echo, 1);
	stat_add(core->stats.pkts_out, 1);
	stat_add(core->stats.bytes_out, o->len);
	core->env.out_send(core->env.ctx, o);
}
