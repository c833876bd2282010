/*
 * ipv4.h — IPv4 and ICMP wire formats (RFC 791, RFC 792) and the parser
 * that validates a received datagram. Pure functions, any thread.
 */
#ifndef TUNDRA_IP_IPV4_H
#define TUNDRA_IP_IPV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/drop.h"

#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6

#define IPV4_HDR_LEN 20
#define IPV4_DF 0x4000
#define IPV4_MF 0x2000
#define IPV4_OFFMASK 0x1fff
#define IPV4_DEFAULT_TTL 64

/* Option types (RFC 791 §3.1). */
#define IPOPT_EOL 0
#define IPOPT_NOP 1
#define IPOPT_LSRR 131
#define IPOPT_SSRR 137

/* RFC 791 §3.1, all multi-byte fields in network order. */
struct ipv4_hdr {
	uint8_t ver_ihl;
	uint8_t tos;
	uint16_t tot_len;
	uint16_t id;
	uint16_t frag_off;
	uint8_t ttl;
	uint8_t proto;
	uint16_t check;
	uint32_t saddr;
	uint32_t daddr;
} __attribute__((packed));

#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define ICMP_HDR_LEN 8

/* RFC 792, echo and echo reply. */
struct icmp_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t check;
	uint16_t id;
	uint16_t seq;
} __attribute__((packed));

/* A validated datagram: views into the caller's bytes, addresses and
 * lengths in host order. */
struct ip_view {
	const uint8_t *hdr;  /* start of the IPv4 header */
	const uint8_t *l4;   /* start of the transport header */
	uint32_t saddr;      /* host order */
	uint32_t daddr;      /* host order */
	uint16_t hdr_len;    /* IHL * 4 */
	uint16_t l4_len;     /* total length - header length */
	uint8_t proto;
	uint8_t ttl;
	/* The transport checksum need not be verified: the device vouched
	 * for it (offloads; set by the core, false from ipv4_parse). */
	bool l4_csum_ok;
};

/*
 * Validate the IPv4 header of a datagram of len bytes read from the device:
 * version, IHL, total length against len (trailing link padding is
 * ignored), header checksum, TTL, fragments, options (ipv4_check_opts).
 * Returns DROP_NONE and fills v, or the reason to drop. Does not look at
 * addresses: see ipv4_check_addrs.
 */
enum drop_reason ipv4_parse(const uint8_t *pkt, size_t len,
			    struct ip_view *v);

/* The option area (len bytes after the fixed header): well formed, and no
 * source route. DROP_NONE, DROP_IP_BAD_OPT or DROP_IP_SRCROUTE. */
enum drop_reason ipv4_check_opts(const uint8_t *p, unsigned len);

/* Addresses: destination must be ours; the source must not be ours (land
 * attack) nor martian (0/8, 127/8, multicast, class E, broadcast, and the
 * directed broadcast of our subnet when prefix is not 0; RFC 1122
 * §3.2.1.3). */
enum drop_reason ipv4_check_addrs(const struct ip_view *v, uint32_t our_addr,
				  uint8_t prefix);

/* Write a 20-byte IPv4 header (no options, DF set) with its checksum.
 * Addresses in host order. */
void ipv4_build(uint8_t *buf, uint32_t saddr, uint32_t daddr, uint8_t proto,
		uint16_t tot_len, uint16_t id);

#endif
