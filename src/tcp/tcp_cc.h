/*
 * tcp_cc.h — congestion control behind one small interface (RFC 5681
 * vocabulary): the shared slow start, and per algorithm congestion
 * avoidance and the reaction to a loss. Reno (RFC 5681) and CUBIC (RFC
 * 9438, the default). Internal to the core.
 */
#ifndef TUNDRA_TCP_TCP_CC_H
#define TUNDRA_TCP_TCP_CC_H

#include <stdbool.h>
#include <stdint.h>

struct core;
struct tcp_conn;

/* CUBIC is 0: a zeroed configuration gets the default. */
enum tcp_cc_algo { TCP_CC_CUBIC = 0, TCP_CC_RENO, TCP_CC__COUNT };

/* Per-connection congestion state (what an undo restores). cwnd and
 * ssthresh in bytes; the algorithm is tcp_conn.cc_algo. */
struct tcp_cc {
	uint32_t cwnd;
	uint32_t ssthresh;
	uint32_t acked_acc; /* Reno: bytes acked toward the next +SMSS */
	/* CUBIC (RFC 9438 §4), in segments and seconds. */
	float w_max;        /* window before the last reduction */
	/* The window when this epoch began: with w_max it gives the
	 * curve's K and plateau (cubic_curve()), which are not kept, as
	 * every connection would pay for them. */
	float w_epoch;
	float w_est;        /* Reno-friendly estimate (§4.3) */
	/* Start of this congestion-avoidance epoch, in ms of the core's
	 * clock (32 bits: an epoch is timed modulo 49 days; 0: none). The
	 * curve's time scale is seconds (§4.2), as Linux's (jiffies). */
	uint32_t epoch;
};

struct tcp_cc_ops {
	const char *name;
	/* Congestion avoidance: acked bytes were newly acknowledged while
	 * the window was the limit and cwnd >= ssthresh. */
	void (*cong_avoid)(struct core *core, struct tcp_conn *c,
			   uint32_t acked);
	/* A loss was detected (fast retransmit or timeout): the new
	 * ssthresh. The algorithm notes what it needs for its recovery. */
	uint32_t (*ssthresh)(struct core *core, struct tcp_conn *c);
	/* The connection restarts after an idle period (RFC 5681 §4.1). */
	void (*restart)(struct tcp_conn *c);
};

extern const struct tcp_cc_ops *const tcp_cc_algos[TCP_CC__COUNT];

/* Algorithm by name ("reno", "cubic"); -1 if none. */
int tcp_cc_by_name(const char *name);
const char *tcp_cc_name(unsigned algo);

/* The payload bytes of one full segment (SMSS of RFC 5681). */
uint32_t tcp_smss(const struct tcp_conn *c);
/* The initial window (RFC 6928 §2), once the peer's MSS is known. */
void tcp_cc_init(struct core *core, struct tcp_conn *c);
/* Newly acknowledged bytes outside loss recovery: slow start (byte
 * counting, RFC 3465, without the per-ACK cap: see tcp_cc.c) or the
 * algorithm's
 * congestion avoidance. Only while the window was the limit (RFC 7661
 * §4.3: an application-limited sender does not grow it). */
void tcp_cc_on_ack(struct core *core, struct tcp_conn *c, uint32_t acked);
/* Enter a reduction: ssthresh from the algorithm. */
void tcp_cc_on_loss(struct core *core, struct tcp_conn *c);
/* RFC 5681 §4.1: after an idle period longer than the RTO, cwnd is at
 * most the initial window. */
void tcp_cc_restart(struct core *core, struct tcp_conn *c);

#endif
