/*
 * test_vnet.c — the virtio_net_hdr of TUN offloads (src/tun/vnet.c):
 * the bytes tundra writes ahead of each datagram, and what it makes of
 * the header the kernel puts ahead of each datagram it hands over. The
 * layout is checked byte by byte (little-endian 16-bit fields) against
 * include/uapi/linux/virtio_net.h: flags, gso_type, hdr_len, gso_size,
 * csum_start, csum_offset.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "test_helpers.h"
#include "tun/tun.h"
#include "tun/vnet.h"

static void bytes_of(const struct virtio_net_hdr *h, uint8_t b[10])
{
	memcpy(b, h, 10);
}

Test(vnet, size_matches_tun)
{
	cr_assert_eq(sizeof(struct virtio_net_hdr), TUN_VNET_HDR_LEN);
}

Test(vnet, plain_datagram_is_all_zero)
{
	struct virtio_net_hdr h;
	uint8_t b[10], zero[10] = { 0 };

	memset(&h, 0xa5, sizeof(h));
	vnet_tx_build(&h, 52, 0, 0, 0);
	bytes_of(&h, b);
	cr_assert(memcmp(b, zero, 10) == 0, "a finished datagram needs no "
					    "flags, no GSO");
}

Test(vnet, partial_checksum)
{
	struct virtio_net_hdr h;
	uint8_t b[10];
	/* clang-format off */
	const uint8_t want[10] = {
		VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE,
		52, 0,  /* hdr_len: IPv4 20 + TCP 32 */
		0, 0,   /* gso_size */
		20, 0,  /* csum_start: the TCP header */
		16, 0,  /* csum_offset: its checksum field */
	};
	/* clang-format on */

	vnet_tx_build(&h, 52, 20, 16, 0);
	bytes_of(&h, b);
	cr_assert(memcmp(b, want, 10) == 0);
}

Test(vnet, tso_super_segment)
{
	struct virtio_net_hdr h;
	uint8_t b[10];
	/* clang-format off */
	const uint8_t want[10] = {
		VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4,
		40, 0,       /* hdr_len */
		0xa8, 0x05,  /* gso_size 1448, little-endian */
		20, 0, 16, 0,
	};
	/* clang-format on */

	vnet_tx_build(&h, 40, 20, 16, 1448);
	bytes_of(&h, b);
	cr_assert(memcmp(b, want, 10) == 0);
}

static struct vnet_rx parse(const uint8_t b[10], uint32_t len)
{
	struct virtio_net_hdr h;
	struct vnet_rx v;

	memcpy(&h, b, 10);
	memset(&v, 0xff, sizeof(v));
	vnet_rx_parse(&h, len, &v);
	return v;
}

Test(vnet, rx_plain)
{
	const uint8_t b[10] = { 0 };
	struct vnet_rx v = parse(b, 60);

	cr_assert(!v.csum_ok, "a finished checksum is still verified");
	cr_assert(!v.gso);
}

Test(vnet, rx_needs_csum_at_the_tcp_checksum)
{
	const uint8_t b[10] = {
		VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 0, 0, 20, 0, 16, 0
	};

	cr_assert(parse(b, 40).csum_ok);
	/* The field would end past the datagram: not trusted. */
	cr_assert(!parse(b, 37).csum_ok);
	cr_assert(parse(b, 38).csum_ok);
}

Test(vnet, rx_needs_csum_elsewhere_is_not_trusted)
{
	/* csum_offset 6: a UDP checksum, not ours to skip. */
	const uint8_t b[10] = {
		VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 0, 0, 20, 0, 6, 0
	};

	cr_assert(!parse(b, 100).csum_ok);
}

Test(vnet, rx_data_valid)
{
	const uint8_t b[10] = { VIRTIO_NET_HDR_F_DATA_VALID };

	cr_assert(parse(b, 60).csum_ok);
}

Test(vnet, rx_gso_tcpv4)
{
	const uint8_t b[10] = { VIRTIO_NET_HDR_F_NEEDS_CSUM,
				VIRTIO_NET_HDR_GSO_TCPV4,
				52,
				0,
				0xa8,
				0x05,
				20,
				0,
				16,
				0 };
	struct vnet_rx v = parse(b, 65000);

	cr_assert(v.gso);
	cr_assert(v.csum_ok);
}

Test(vnet, rx_gso_ecn_and_other_types)
{
	uint8_t b[10] = { VIRTIO_NET_HDR_F_NEEDS_CSUM,
			  VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
			  52,
			  0,
			  0xa8,
			  0x05,
			  20,
			  0,
			  16,
			  0 };

	cr_assert(parse(b, 9000).gso, "TCPv4 with CWR is still TCPv4 GSO");
	b[1] = VIRTIO_NET_HDR_GSO_UDP;
	cr_assert(!parse(b, 9000).gso);
	b[1] = VIRTIO_NET_HDR_GSO_TCPV6;
	cr_assert(!parse(b, 9000).gso);
}

TUNDRA_TSAN_SKIP_MAIN
