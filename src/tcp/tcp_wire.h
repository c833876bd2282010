/*
 * tcp_wire.h — the TCP header and options on the wire (RFC 9293 §3.1,
 * RFC 7323), and the segment parser. Pure functions, any thread.
 */
#ifndef TUNDRA_TCP_TCP_WIRE_H
#define TUNDRA_TCP_TCP_WIRE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/drop.h"
#include "ip/ipv4.h"

#define TCP_HDR_LEN 20
#define TCP_MAX_OPT_LEN 40

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* Option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018). */
#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOPT_WSCALE 3
#define TCPOPT_SACK_PERM 4
#define TCPOPT_SACK 5
#define TCPOPT_TIMESTAMP 8

#define TCP_MAX_WSCALE 14 /* RFC 7323 §2.3 */

struct tcp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t doff; /* data offset in the high nibble */
	uint8_t flags;
	uint16_t window;
	uint16_t check;
	uint16_t urg;
} __attribute__((packed));

struct tcp_opts {
	bool has_mss;
	bool has_wscale;
	bool sack_ok;
	bool has_ts;
	uint16_t mss;
	uint8_t wscale; /* clamped to TCP_MAX_WSCALE */
	uint32_t tsval;
	uint32_t tsecr;
	uint8_t nsack; /* SACK blocks (RFC 2018 §3), as on the wire */
	uint32_t sack[4][2];
};

/* A parsed segment; ports and numbers in host order. */
struct tcp_seg {
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint32_t seq;
	uint32_t ack;
	uint16_t wnd; /* unscaled, as on the wire */
	uint8_t flags;
	uint8_t hdr_len;
	const uint8_t *data; /* payload */
	uint32_t len;        /* payload bytes */
	struct tcp_opts opts;
};

/* SEG.LEN of RFC 9293 §3.3.1: payload plus one for each of SYN and FIN. */
static inline uint32_t tcp_seg_len(const struct tcp_seg *s)
{
	return s->len + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN);
}

/*
 * Validate and parse the TCP segment carried by a validated IPv4 datagram:
 * length, data offset, checksum (over the pseudo-header), ports, flags,
 * options. Returns DROP_NONE or the reason to drop.
 */
enum drop_reason tcp_parse(const struct ip_view *ip, struct tcp_seg *seg);

/* Parse only the options area (exposed for tests). */
enum drop_reason tcp_parse_opts(const uint8_t *p, unsigned len, bool syn,
				struct tcp_opts *o);

#endif
