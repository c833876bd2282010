/*
 * tcp_challenge.h — challenge ACKs (RFC 5961 §3.2, §4.2, §5.2) and their
 * rate limit (§7). Internal to the core, on its own thread.
 */
#ifndef TUNDRA_TCP_TCP_CHALLENGE_H
#define TUNDRA_TCP_TCP_CHALLENGE_H

#include <stdbool.h>

struct core;
struct tcp_conn;
struct tcp_seg;

/* Send c's peer a challenge ACK (<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>) at
 * the next flush, unless this core's budget for the current second is
 * spent. Counts challenge_acks_sent or challenge_acks_limited; true when
 * the ACK will go. */
bool tcp_challenge_ack(struct core *core, struct tcp_conn *c);

/* RFC 5961 §5.2: SEG.ACK is acceptable in a synchronized state only within
 * [SND.UNA - MAX.SND.WND, SND.NXT]. false: the segment is to be dropped
 * (counted) and was answered with a (rate-limited) challenge ACK. */
bool tcp_challenge_ack_check(struct core *core, struct tcp_conn *c,
			     const struct tcp_seg *seg);

#endif
