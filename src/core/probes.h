/*
 * probes.h — USDT (statically defined tracing) probes of the core, provider
 * "tundra". Each is a single nop in the code plus a note in the ELF
 * (.note.stapsdt) until a tracer (perf, bpftrace, systemtap) attaches a
 * uprobe to it; the arguments are only described, not computed, so the
 * sans-I/O core stays free of I/O and of tracing cost.
 *
 *   seg_in    (saddr, sport, daddr, dport, seq, ack, flags, len)  tcp_input
 *   seg_out   (saddr, sport, daddr, dport, seq, ack, flags, len)  tcp_emit
 *   state     (conn, raddr, rport, lport, old_state, new_state)   every change
 *   rto       (conn, raddr, rport, snd_una, snd_max, rto_ns, retries)
 *                                          RTO expiry that rewinds SND.NXT
 *   retransmit(conn, raddr, rport, seq, len)  each retransmitted segment
 *   recovery  (conn, raddr, rport, snd_una, cwnd)  fast recovery begins
 *   drop      (reason)                     every core drop (enum drop_reason)
 *
 * Addresses are IPv4 in host order, ports host order, states are enum
 * tcp_state (src/tcp/tcp_conn.h), reasons enum drop_reason
 * (src/core/drop.h). cwnd after the reduction is in bytes.
 *
 * Build with -DTUNDRA_NO_USDT (or without <sys/sdt.h>) and they vanish.
 */
#ifndef TUNDRA_CORE_PROBES_H
#define TUNDRA_CORE_PROBES_H

#if !defined(TUNDRA_NO_USDT) && defined(__has_include)
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define TUNDRA_HAVE_USDT 1
#endif
#endif

#ifdef TUNDRA_HAVE_USDT
#define TP_SEG_IN(sa, sp, da, dp, seq, ack, fl, len)                          \
	STAP_PROBE8(tundra, seg_in, sa, sp, da, dp, seq, ack, fl, len)
#define TP_SEG_OUT(sa, sp, da, dp, seq, ack, fl, len)                         \
	STAP_PROBE8(tundra, seg_out, sa, sp, da, dp, seq, ack, fl, len)
#define TP_STATE(c, ra, rp, lp, old, new)                                     \
	STAP_PROBE6(tundra, state, c, ra, rp, lp, old, new)
#define TP_RTO(c, ra, rp, una, max, rto_, tries)                              \
	STAP_PROBE7(tundra, rto, c, ra, rp, una, max, rto_, tries)
#define TP_RETRANSMIT(c, ra, rp, seq, len)                                    \
	STAP_PROBE5(tundra, retransmit, c, ra, rp, seq, len)
#define TP_RECOVERY(c, ra, rp, una, cwnd)                                     \
	STAP_PROBE5(tundra, recovery, c, ra, rp, una, cwnd)
#define TP_DROP(reason) STAP_PROBE1(tundra, drop, reason)
#else
#define TP_SEG_IN(...) do { } while (0)
#define TP_SEG_OUT(...) do { } while (0)
#define TP_STATE(...) do { } while (0)
#define TP_RTO(...) do { } while (0)
#define TP_RETRANSMIT(...) do { } while (0)
#define TP_RECOVERY(...) do { } while (0)
#define TP_DROP(...) do { } while (0)
#endif

#ifdef TUNDRA_TCP_TCP_CONN_H
/* Every state change of a connection goes through here (the "state"
 * probe). */
static inline void tcp_set_state(struct tcp_conn *c, enum tcp_state s)
{
	TP_STATE(c, c->raddr, c->rport, c->lport, (int)c->state, (int)s);
	c->state = s;
}
#endif

#endif
