/*
 * vnet.h — the virtio_net_hdr that starts every read and write on a TUN
 * queue opened with IFF_VNET_HDR (include/uapi/linux/virtio_net.h; the
 * virtio 1.x spec §5.1.6 "Device Operation"). Pure functions, any thread.
 *
 * tundra uses the 10-byte header (no num_buffers: that field is for
 * mergeable receive buffers of virtio rings; a TUN read fills one buffer).
 * Its 16-bit fields are little-endian: TUN's default on a little-endian
 * host, and what a legacy virtio device uses there (TUNSETVNETLE unset).
 */
#ifndef TUNDRA_TUN_VNET_H
#define TUNDRA_TUN_VNET_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_net.h>

_Static_assert(sizeof(struct virtio_net_hdr) == 10,
	       "TUN_VNET_HDR_LEN is the 10-byte virtio_net_hdr");

/* What a received header says about the datagram after it. */
struct vnet_rx {
	bool csum_ok; /* the TCP checksum need not be verified */
	bool gso;     /* a TCPv4 GSO super-packet (more than one MSS) */
};

/*
 * Read the header of a datagram of len bytes (the header not counted).
 * NEEDS_CSUM (the kernel made the segment and left its checksum partial)
 * counts as verified only when it points at a TCP checksum field inside
 * the datagram; anything else leaves csum_ok false, so the core verifies
 * the checksum itself and drops a wrong one (counted). DATA_VALID (the
 * kernel checked it) counts as verified. The GSO type needs no handling:
 * tundra ends the TCP connection, so a super-packet is one big segment.
 */
void vnet_rx_parse(const struct virtio_net_hdr *h, uint32_t len,
		   struct vnet_rx *out);

/*
 * Fill the header for a datagram whose IPv4 + TCP headers are hdr_len
 * bytes. csum_start != 0: the transport checksum at csum_start +
 * csum_offset holds the pseudo-header sum, the kernel finishes it
 * (NEEDS_CSUM). gso_size != 0: a TCPv4 TSO super-segment that the kernel
 * cuts into gso_size-byte pieces (needs csum_start). All zero: a plain,
 * finished datagram.
 */
void vnet_tx_build(struct virtio_net_hdr *h, uint16_t hdr_len,
		   uint16_t csum_start, uint16_t csum_offset,
		   uint16_t gso_size);

#endif
