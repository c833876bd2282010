/* vnet.c — building and reading virtio_net_hdr (see vnet.h). */
#include "tun/vnet.h"

#include <endian.h>
#include <string.h>

/* Where the checksum field sits in a TCP header (RFC 9293 §3.1). */
#define VNET_TCP_CSUM_OFF 16

void vnet_rx_parse(const struct virtio_net_hdr *h, uint32_t len,
		   struct vnet_rx *out)
{
	uint16_t start = le16toh(h->csum_start);
	uint16_t off = le16toh(h->csum_offset);
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	out->csum_ok = false;
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		out->csum_ok = off == VNET_TCP_CSUM_OFF &&
			       (uint32_t)start + off + 2 <= len;
	else if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID)
		out->csum_ok = true;
	out->gso = gso == VIRTIO_NET_HDR_GSO_TCPV4;
}

void vnet_tx_build(struct virtio_net_hdr *h, uint16_t hdr_len,
		   uint16_t csum_start, uint16_t csum_offset, uint16_t gso_size)
{
	memset(h, 0, sizeof(*h));
	/* The kernel copies hdr_len bytes into the linear part of its
	 * buffer (tun_get_user): the headers it will read and rewrite. */
	if (csum_start || gso_size)
		h->hdr_len = htole16(hdr_len);
	if (csum_start) {
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = htole16(csum_start);
		h->csum_offset = htole16(csum_offset);
	}
	if (gso_size) {
		h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		h->gso_size = htole16(gso_size);
	}
}
