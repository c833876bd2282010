/*
 * tcp_syncookie.h — SYN cookies (RFC 4987 §3.6): a listener whose SYN
 * queue is full answers a SYN with a SYN-ACK whose sequence number encodes
 * what the connection needs, and keeps no state; the peer's ACK brings the
 * cookie back and the connection is made from it. Internal to the core:
 * called from the LISTEN path of tcp_input.c, on the core's own thread.
 */
#ifndef TUNDRA_TCP_TCP_SYNCOOKIE_H
#define TUNDRA_TCP_TCP_SYNCOOKIE_H

#include <stdbool.h>
#include <stdint.h>

struct core;
struct tcp_conn;
struct tcp_seg;

/* Cookies are minted in slots of this length; an ACK is accepted in the
 * slot of its SYN-ACK and the next, so a cookie lives 64 to 128 s (Linux
 * accepts about two minutes, too). */
#define SYNCOOKIE_SLOT_NS (64ull * 1000000000ull)

/* The ISS of a cookie SYN-ACK to syn (4-tuple, SYN's sequence number,
 * the MSS we choose from the SYN's; exposed for tests). */
uint32_t tcp_syncookie_make(struct core *core, const struct tcp_seg *syn);

/* Answer syn with a cookie SYN-ACK; counts syncookies_sent. */
void tcp_syncookie_send(struct core *core, const struct tcp_seg *syn,
			uint64_t hash);

/* Whether an ACK to a listener without a connection should be checked as
 * a cookie: always in "always" mode, in "on" mode only within two slots
 * of the last cookie sent (so a blind guess has nothing to hit while no
 * flood is on, as Linux's tcp_synq_no_recent_overflow). */
bool tcp_syncookie_recent(const struct core *core);

/*
 * ack is an ACK (no SYN, no RST) to a listener and no connection: if
 * SEG.ACK - 1 is a valid cookie for its 4-tuple and SEG.SEQ - 1, create the
 * connection in SYN-RECEIVED as the SYN would have (ISS = the cookie, our
 * SYN-ACK sent, options decoded from the cookie and the echoed timestamp)
 * and return it: the caller hands it the ACK, which completes the
 * handshake. NULL with syncookies_failed counted if not valid; NULL with
 * *valid set (and the drop counted) when valid but no connection could be
 * made (max_conns, memory).
 */
struct tcp_conn *tcp_syncookie_check(struct core *core,
				     const struct tcp_seg *ack, uint64_t hash,
				     bool *valid);

#endif
