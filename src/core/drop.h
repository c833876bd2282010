/*
 * drop.h — why a packet was dropped. Every drop in tundra is one of these,
 * counted per thread and summed on read (FreeBSD tcpstat style).
 */
#ifndef TUNDRA_CORE_DROP_H
#define TUNDRA_CORE_DROP_H

#define DROP_REASONS(X)                                                       \
	X(NONE, "not dropped")                                                \
	X(IP_TRUNCATED, "shorter than an IPv4 header")                        \
	X(IP_VERSION, "IP version is not 4")                                  \
	X(IP_IHL, "IPv4 header length below 20 or beyond the packet")         \
	X(IP_TOTLEN, "IPv4 total length beyond the bytes read")               \
	X(IP_CSUM, "bad IPv4 header checksum")                                \
	X(IP_TTL, "IPv4 TTL is zero")                                         \
	X(IP_FRAGMENT, "IPv4 fragment (reassembly not supported)")            \
	X(IP_NOT_OURS, "destination is not tundra's address")                \
	X(IP_MARTIAN_SRC, "martian source address")                           \
	X(IP_LAND, "source address is our own (land attack)")                \
	X(IP_BAD_OPT, "malformed IPv4 option")                                \
	X(IP_SRCROUTE, "IPv4 source-route option (LSRR/SSRR)")                \
	X(IP_PROTO, "protocol other than TCP and ICMP")                       \
	X(ICMP_TRUNCATED, "ICMP message shorter than its header")             \
	X(ICMP_CSUM, "bad ICMP checksum")                                     \
	X(ICMP_TYPE, "ICMP type other than echo request")                     \
	X(TCP_TRUNCATED, "TCP header beyond the packet")                      \
	X(TCP_DOFF, "TCP data offset below 5 or beyond the packet")           \
	X(TCP_CSUM, "bad TCP checksum")                                       \
	X(TCP_BAD_OPT, "malformed TCP option")                                \
	X(TCP_BAD_PORT, "TCP port zero")                                      \
	X(TCP_BAD_FLAGS, "SYN in a synchronized state (challenge ACK)")       \
	X(TCP_SYN_FIN, "SYN and FIN in one segment")                          \
	X(TCP_SYN_RST, "SYN and RST in one segment")                          \
	X(TCP_NULL_FLAGS, "none of SYN, ACK, RST, FIN set (null scan)")       \
	X(TCP_NO_LISTENER_RST, "segment for a closed port (reset or ignored)") \
	X(TCP_LISTEN_BAD, "non-SYN segment to a listener")                    \
	X(TCP_NOT_ACCEPTABLE, "segment outside the receive window")           \
	X(TCP_OOO_FULL, "out-of-order segment beyond the reassembly ranges")  \
	X(TCP_PAWS, "timestamp older than TS.Recent (RFC 7323 PAWS)")       \
	X(TCP_BAD_ACK, "ACK for data never sent")                             \
	X(TCP_NO_ACK, "segment without ACK in a synchronized state")          \
	X(TCP_RST_BAD_SEQ, "RST with sequence outside the window")            \
	X(TCP_AFTER_FIN, "data after the peer's FIN")                         \
	X(TCP_NO_MEMORY, "no memory for a new connection")                    \
	X(TCP_SYNQ_FULL, "SYN to a listener whose SYN queue is full")         \
	X(TCP_CONN_LIMIT, "connection table full (max_conns)")                \
	X(TCP_BAD_COOKIE, "ACK to a listener, not a valid SYN cookie (no RST)") \
	X(TCP_OLD_ACK, "ACK below SND.UNA - MAX.SND.WND (RFC 5961 5.2)")      \
	X(TCP_OOO_MEM, "out-of-order data beyond the worker's reass_mem")     \
	X(TX_NO_DESC, "no transmit descriptor free")                          \
	X(RX_RING_FULL, "worker's receive ring full")                        \
	X(RX_NO_BUF, "no packet buffer free")

enum drop_reason {
#define DROP_ENUM(name, text) DROP_##name,
	DROP_REASONS(DROP_ENUM)
#undef DROP_ENUM
		DROP__COUNT
};

/* Identifier ("IP_CSUM") and one-line description of a reason. */
const char *drop_name(enum drop_reason r);
const char *drop_text(enum drop_reason r);

#endif
