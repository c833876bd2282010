/*
 * tcp_conn.h — the TCP control block (RFC 9293 §3.3.1 names) and the
 * connection states, ordered so that predicates are ranges (FreeBSD
 * tcp_fsm.h style). Internal to the core.
 */
#ifndef TUNDRA_TCP_TCP_CONN_H
#define TUNDRA_TCP_TCP_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/bbuf.h"
#include "tcp/tcp_cc.h"

struct core;
struct tundra_app;

enum tcp_state {
	TCPS_CLOSED = 0,
	TCPS_LISTEN,
	TCPS_SYN_SENT,
	TCPS_SYN_RECEIVED,
	/* From here on the connection is synchronized. */
	TCPS_ESTABLISHED,
	TCPS_CLOSE_WAIT,
	/* From here on we have sent FIN (or will, when data is out). */
	TCPS_FIN_WAIT_1,
	TCPS_CLOSING,
	TCPS_LAST_ACK,
	/* From here on our FIN is acknowledged. */
	TCPS_FIN_WAIT_2,
	TCPS_TIME_WAIT,
	TCPS__COUNT
};

#define TCPS_HAVE_ESTABLISHED(s) ((s) >= TCPS_ESTABLISHED)
#define TCPS_HAVE_RCVD_FIN(s)                                                 \
	((s) == TCPS_CLOSE_WAIT || (s) == TCPS_CLOSING ||                     \
	 (s) == TCPS_LAST_ACK || (s) == TCPS_TIME_WAIT)
#define TCPS_CAN_RECV_DATA(s)                                                 \
	((s) == TCPS_ESTABLISHED || (s) == TCPS_FIN_WAIT_1 ||                 \
	 (s) == TCPS_FIN_WAIT_2)

const char *tcp_state_name(enum tcp_state s);

/* Connection flags. */
#define TF_ACK_NOW 0x0001     /* send an ACK at the next flush */
#define TF_IN_FLUSH 0x0002    /* on the core's flush list */
#define TF_READABLE 0x0004    /* tell the app at the next flush */
#define TF_WRITABLE 0x0008    /* tell the app at the next flush */
#define TF_APP_CLOSED 0x0010  /* app called close: FIN after the data */
#define TF_FIN_SENT 0x0020    /* our FIN has a sequence number */
#define TF_RCVD_FIN 0x0040    /* peer's FIN accepted */
#define TF_DEAD 0x0080        /* out of the table, freed when TX is done */
#define TF_APP 0x0100         /* app attached: it gets closed() */
#define TF_WSCALE 0x0200      /* window scaling in use (RFC 7323 §2) */
#define TF_RTT_TIMING 0x0400  /* one segment is being timed */
#define TF_SEND_RST 0x0800    /* abort: send RST at the next flush */
#define TF_PROBE 0x1000       /* send a zero-window probe */
#define TF_HAVE_RTT 0x2000    /* srtt/rttvar hold a measurement */
#define TF_TS 0x4000          /* timestamps in use (RFC 7323 §3) */
#define TF_SACK 0x8000        /* the peer understands SACK (RFC 2018) */
#define TF_SACK_NOW 0x10000   /* out-of-order data: SACK it at once */
#define TF_NODELAY 0x20000    /* Nagle off */
#define TF_DACK 0x40000       /* data received, ACK may be delayed */
#define TF_ACTIVE 0x80000     /* opened by us (connect) */
#define TF_KEEPALIVE 0x100000 /* keep-alive probes on */
#define TF_SYNQ 0x200000      /* counted in its listener's SYN queue */
#define TF_DSACK 0x400000     /* report side->dsack_* (RFC 2883) */
/* Bits 24-27: quick ACKs left (tcp_quick_arm). */
#define TF_QUICK_SHIFT 24
#define TF_QUICK_MASK (0xfu << TF_QUICK_SHIFT)
/* Bits 28-31: the RTO's back-offs (RFC 6298 (5.5), tcp_rto_ns). */
#define TF_BACKOFF_SHIFT 28
#define TF_BACKOFF_MASK (0xfu << TF_BACKOFF_SHIFT)

/* Out-of-order data held in the receive buffer past RCV.NXT: at most
 * TCP_OOO_MAX disjoint ranges, which are also the SACK blocks we send
 * (RFC 2018 §4). Allocated while there are holes. */
#define TCP_OOO_MAX 32
struct tcp_ooo {
	uint8_t n;
	uint32_t bytes; /* sum of the ranges: counted in core->ooo_bytes */
	bool has_fin;
	uint32_t fin_seq;
	uint32_t stamp; /* recency counter: the newest range is SACKed first */
	uint32_t acked_stamp; /* stamp when our last ACK went */
	struct {
		uint32_t start, end, stamp;
	} blk[TCP_OOO_MAX]; /* sorted by start, disjoint, not adjacent */
};

/* Loss recovery state bits (tcp_conn.rec), apart from the flags above. */
#define REC_RECOVERY 0x01     /* in fast recovery (RFC 6675 / RFC 6582) */
#define REC_RXT_FIRST 0x02    /* send the first retransmission regardless
				 of pipe (RFC 6675 §5 (4.3)) */
#define REC_CWND_LIMITED 0x04 /* the window, not the app, limited the
				 last send: cwnd may grow */
#define REC_RTO_GUARD 0x08    /* after a timeout: no fast retransmit until
				 SND.UNA passes `recover` (RFC 6582 §3.2) */
#define REC_UNDO 0x10         /* a reduction may still prove spurious */
#define REC_SYN_LOST 0x20     /* the SYN or SYN-ACK was retransmitted */
#define REC_TLP_NOW 0x40      /* send a tail loss probe (RFC 8985 §7) */
#define REC_TLP 0x80          /* a probe retransmission is outstanding */
#define REC_TLP_DSACK 0x100   /* ... and the peer reported it a duplicate */
#define REC_REO_TIMER 0x400   /* in recovery, pto_at is the end of the
				 reordering window for a lost
				 retransmission (RFC 8985 §6.3) */
#define REC_RXT_HW 0x200      /* rxt_hw is valid: something below it may
				 have been retransmitted */

#define TCP_DUPTHRESH 3     /* RFC 5681 §3.2, RFC 6675 §2 */
#define TCP_REORDER_MAX 127 /* the most DupThresh grows to */

/* The SACK scoreboard (RFC 6675 §3): what the peer reported holding
 * above SND.UNA, as sorted disjoint ranges. Allocated while the peer
 * reports holes. */
#define TCP_SB_MAX 16
struct tcp_sb {
	uint8_t n;
	uint32_t sacked; /* bytes in the ranges */
	struct {
		uint32_t start, end;
	} r[TCP_SB_MAX];
};

/* The control block. Every connection has one, idle or not, so it is kept
 * small (bench/hold.sh measures it; tests/unit/test_conn_mem.c bounds
 * it, at 192 bytes, a jemalloc size class): fields are grouped by size so
 * there are no holes, times that only need 32 bits have them (durations
 * in microseconds; a timestamp only ever subtracted from the clock,
 * wrapping), what can be computed is (the RTO, the option length), the
 * core and the app are named by small indices, not pointers, and what
 * only an active connection needs is behind two pointers, allocated while
 * it is needed: the buffers and what is in flight (struct tcp_io), and
 * loss recovery, keep-alive and out-of-order state (struct tcp_side). */
struct tcp_undo;
struct tcp_side;
struct tcp_io;

struct tcp_conn {
	/* Lookup: hash chain, key (host order). The local address is the
	 * core's (cfg.addr). */
	struct tcp_conn *hnext;
	uint32_t raddr;
	uint16_t rport, lport;

	uint8_t state : 4;   /* enum tcp_state */
	uint8_t cc_algo : 2; /* enum tcp_cc_algo */
	/* Window shifts, at most 14 (RFC 7323 §2.3): a nibble each. */
	uint8_t snd_wscale : 4; /* peer's shift: applied to SEG.WND */
	uint8_t rcv_wscale : 4; /* our shift */
	uint16_t snd_mss;	/* the peer's MSS (payload + options we add) */
	uint32_t flags;
	/* The app (its callbacks) and the core that owns the connection, by
	 * index (tcp_app(), tcp_core()): 3 bytes where two pointers took
	 * 16. */
	uint8_t app_idx;
	uint8_t retries;
	/* Loss recovery (tcp_sack.c), here where they fill the word. */
	uint8_t dupacks;
	uint8_t reordering; /* DupThresh, raised when reordering is seen */
	uint16_t core_idx;
	uint16_t rec; /* REC_* */

	/* Send sequence space (RFC 9293 §3.3.1). */
	uint32_t iss;
	uint32_t snd_una;
	uint32_t snd_nxt;
	uint32_t snd_max; /* highest sequence sent: snd_nxt rewinds on RTO */
	uint32_t snd_wnd; /* scaled */
	uint32_t snd_wl1;
	uint32_t snd_buf_seq; /* sequence number of sndbuf's first byte */

	/* Receive sequence space. */
	uint32_t irs;
	uint32_t rcv_nxt;
	uint32_t rcv_adv; /* right edge we advertised: never moves back */
	uint32_t last_ack_sent;

	/* Timestamps (RFC 7323 §4-5). */
	uint32_t ts_recent;
	uint32_t ts_offset; /* our TSval = clock in ms + this */
	uint32_t ts_recent_s; /* clock in seconds when ts_recent was set:
				 the 24-day rule of §5.5 needs no more */

	/* RTT (RFC 6298), in microseconds; the RTO is computed from them
	 * and the back-off count (tcp_rto_ns). */
	uint32_t srtt_us; /* valid with TF_HAVE_RTT; the timed segment
			     is in struct tcp_io */
	uint32_t rttvar_us;
	/* Last data sent (tcp_now_ms, 0: none since the last restart), for
	 * the restart after idle (RFC 5681 §4.1): an idle period is
	 * measured modulo 49 days. */
	uint32_t last_tx_ms;
	int32_t heap_idx; /* -1 when not in the heap */

	/* Wraps of SND.UNA - ISS and RCV.NXT - IRS: with them the byte
	 * counters come from the sequence numbers (tcp_bytes_acked(),
	 * tcp_bytes_received()), good for 2^48 bytes each way. */
	uint16_t snd_wraps, rcv_wraps;

	/* Deadlines, 32-bit (tcp_dl(): core time in microseconds, modulo
	 * 2^32); 0: not armed. Set them with tcp_dl(), read them with
	 * tcp_dl_ns() / tcp_dl_due(). The earliest is the connection's key
	 * in the timer heap (timer_heap.c). */
	uint32_t rto_at;  /* in TIME-WAIT: its end (nothing is in flight) */
	uint32_t dack_at; /* delayed ACK due */
	uint32_t pto_at;  /* tail loss probe due (RFC 8985 §7); 0: not */

	/* Congestion control and loss recovery (tcp_cc.c, tcp_sack.c). */
	struct tcp_cc cc;
	/* RFC 6582 recover / RFC 6675 RecoveryPoint: here, not in the side
	 * structure, as REC_RTO_GUARD may outlive the data in flight (it
	 * holds until SND.UNA passes it). */
	uint32_t recover;
	uint32_t retransmits; /* segments retransmitted (a counter) */
	/* Sequence space retransmitted, modulo 2^32: only the control
	 * socket's connection list shows it (core_conn_snapshot), and 4 GiB
	 * resent on one connection is no case for 4 more bytes on every
	 * connection. The core's stats.retrans_bytes counts in 64 bits. */
	uint32_t retrans_bytes;
	struct tcp_side *side; /* NULL while it would hold nothing */

	struct tcp_io *io; /* NULL while nothing is buffered or in flight */

	struct tcp_conn *flush_next;

	/* The app's word (tundra_conn_app_data). Until the handshake
	 * completes it holds the argument for accepted() (the listener's,
	 * or tundra_connect's), which is needed only then: it costs no
	 * field of its own. Zeroed just before accepted() is called. */
	uint64_t app_data;
};

/*
 * What a connection needs only while something is buffered or in flight,
 * behind one pointer (an idle connection pays 8 bytes for it): the send
 * and receive buffers (each allocated while it holds data or descriptors
 * point into it), the transmitter's hold on the send buffer, and the
 * segment being timed. It is allocated with the first of these
 * (tcp_io_get) and freed when the last goes (tcp_io_put, tcp_io.c).
 * Read the buffers through tcp_snd() and tcp_rcv(), empty without it.
 */
struct tcp_io {
	struct bbuf snd;
	struct bbuf rcv;
	/* Descriptors the transmitter holds that point into snd (it hands
	 * them back through core_tx_done), and the lowest sequence they
	 * point at: those bytes stay until then, acknowledged or not. */
	uint32_t tx_inflight;
	uint32_t tx_low;
	/* With TF_RTT_TIMING (RFC 6298): the timed segment (or SYN) ends
	 * at rtt_seq and was sent at rtt_ts (tcp_now_us). */
	uint32_t rtt_seq;
	uint32_t rtt_ts;
	/* Bytes taken in order since our last ACK (they came into rcv,
	 * which the app may have emptied since). */
	uint32_t rcv_unacked;
	/* Nagle, Minshall's variant: end of the last short segment sent.
	 * Only data in flight gives it a meaning: it starts at SND.UNA,
	 * "none outstanding", whenever the structure is allocated. */
	uint32_t snd_sml;
};

/* Option bytes on our non-SYN segments: NOP NOP TS with timestamps (RFC
 * 7323 appendix A), none without. */
static inline uint32_t tcp_opt_len(const struct tcp_conn *c)
{
	return c->flags & TF_TS ? 12 : 0;
}

static inline const struct bbuf *tcp_snd(const struct tcp_conn *c)
{
	static const struct bbuf none;

	return c->io ? &c->io->snd : &none;
}

static inline const struct bbuf *tcp_rcv(const struct tcp_conn *c)
{
	static const struct bbuf none;

	return c->io ? &c->io->rcv : &none;
}

static inline uint32_t tcp_tx_inflight(const struct tcp_conn *c)
{
	return c->io ? c->io->tx_inflight : 0;
}

static inline uint32_t tcp_rcv_unacked(const struct tcp_conn *c)
{
	return c->io ? c->io->rcv_unacked : 0;
}

/* The structure, allocated if need be; NULL without memory. */
struct tcp_io *tcp_io_get(struct tcp_conn *c);
/* Free it if it holds nothing: no buffer, no descriptor, no timing, no
 * bytes waiting for our ACK. */
void tcp_io_put(struct tcp_conn *c);
/* The buffer, allocated with cap bytes if it was not; NULL without
 * memory. */
struct bbuf *tcp_sndbuf_get(struct tcp_conn *c, uint32_t cap);
struct bbuf *tcp_rcvbuf_get(struct tcp_conn *c, uint32_t cap);
/* Free the buffer (and the structure, if that was all it held). */
void tcp_sndbuf_free(struct tcp_conn *c);
void tcp_rcvbuf_free(struct tcp_conn *c);

/* Data bytes the peer acknowledged: SND.UNA's distance from ISS, less
 * the SYN and our FIN once acknowledged. */
static inline uint64_t tcp_bytes_acked(const struct tcp_conn *c)
{
	uint32_t off = c->snd_una - c->iss;
	uint32_t data_end = c->snd_buf_seq + tcp_snd(c)->len;
	bool syn = off || c->snd_wraps;
	bool fin = (c->flags & TF_FIN_SENT) && c->snd_una == data_end + 1;

	return ((uint64_t)c->snd_wraps << 32) + off - syn - fin;
}

/* Data bytes received in order: RCV.NXT's distance from IRS, less the
 * peer's SYN and FIN. */
static inline uint64_t tcp_bytes_received(const struct tcp_conn *c)
{
	uint32_t off = c->rcv_nxt - c->irs;
	bool syn = off || c->rcv_wraps;
	bool fin = c->flags & TF_RCVD_FIN;

	return ((uint64_t)c->rcv_wraps << 32) + off - syn - fin;
}

/* RCV.NXT moves on by n (n < 2^31), counting the wraps. */
static inline void tcp_rcv_advance(struct tcp_conn *c, uint32_t n)
{
	uint32_t before = c->rcv_nxt - c->irs;

	c->rcv_nxt += n;
	if (c->rcv_nxt - c->irs < before)
		c->rcv_wraps++;
}

/*
 * 32-bit deadlines. A deadline is stored as core time in microseconds,
 * rounded up (a timer fires at most 999 ns late), modulo 2^32 (71.6
 * minutes), 0 meaning "not armed" (a deadline that lands on 0 moves one
 * microsecond later). It is read back against the clock: at most
 * TCP_DL_PAST behind now — timers run as soon as they are due, so an armed
 * deadline is never far behind — and otherwise ahead, by up to 71.6
 * minutes less TCP_DL_PAST (67 minutes): the longest timer is an RTO
 * backed off to rto_max, which the configuration caps at 60 minutes
 * (TIME-WAIT at 10).
 */
#define TCP_DL_PAST (1u << 28) /* µs: 268 s */

/* The stored form of the deadline at_ns (core time). */
static inline uint32_t tcp_dl(uint64_t at_ns)
{
	uint32_t t = (uint32_t)((at_ns + 999) / 1000);

	return t ? t : 1;
}

/* The deadline t in core time (ns) as seen at now; 0 if not armed. */
static inline uint64_t tcp_dl_ns(uint32_t t, uint64_t now)
{
	uint64_t now_us = now / 1000;
	uint32_t d = t - (uint32_t)now_us;

	if (!t)
		return 0;
	if (d > (uint32_t)-TCP_DL_PAST) /* behind now */
		return (now_us - (uint32_t)-d) * 1000;
	return (now_us + d) * 1000;
}

/* The deadline t is armed and due at now. */
static inline bool tcp_dl_due(uint32_t t, uint64_t now)
{
	return t && tcp_dl_ns(t, now) <= now;
}

/* Keep-alive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): few connections use
 * it, so its state is allocated when the app turns it on
 * (tundra_conn_set_keepalive) and freed when it turns it off or the
 * connection enters TIME-WAIT or goes. */
struct tcp_ka {
	uint64_t at; /* next probe due (core time); 0: not armed */
	uint32_t idle_ms, intvl_ms;
	uint8_t probes, sent;
};

/* What undoing a reduction needs (RFC 3522, RFC 4015): the window before
 * it and the first retransmission of the episode. Allocated when a
 * reduction begins (tcp_sack.c arm_undo), freed when the episode is
 * decided or the connection goes: most connections never have one. */
struct tcp_undo {
	struct tcp_cc cc;     /* before the reduction */
	uint32_t seq;         /* first retransmitted sequence */
	uint32_t tsval;       /* our TSval on it; 0: not sent yet */
	uint8_t entry_sacked; /* SACKed segments when recovery began */
};

/*
 * What only an active connection needs, behind one pointer of the
 * control block: the side structures (each allocated while in use, see
 * above), the D-SACK block waiting for our next ACK, and the loss
 * recovery state that means something only while the REC_ bit beside it
 * is set. The side structure is allocated when the first of them is
 * needed (tcp_side_get) and freed when the last goes (tcp_side_put): in
 * recovery, with a retransmission or a tail loss probe unacknowledged,
 * while the peer reports holes or we hold out-of-order data. An idle
 * connection (everything acknowledged, nothing held) has none; what must
 * survive an idle period (cwnd, ssthresh, CUBIC's state, SRTT/RTTVAR/RTO,
 * DupThresh, recover) stays in the control block. Read the pointers
 * through tcp_sb() etc., which are NULL without it.
 */
#define REC_SIDE (REC_RECOVERY | REC_RXT_HW | REC_TLP)
struct tcp_side {
	struct tcp_undo *undo; /* with REC_UNDO */
	struct tcp_ka *ka;     /* with TF_KEEPALIVE */
	struct tcp_sb *sb;     /* while the peer reports holes */
	struct tcp_ooo *ooo;   /* while we hold out-of-order data */
	uint32_t dsack_start, dsack_end; /* with TF_DSACK */
	/* With REC_RECOVERY (tcp_sack.c): set when recovery begins. */
	uint32_t high_rxt;    /* RFC 6675 HighRxt */
	uint32_t rxt_mark;    /* SND.MAX when this pass of retransmissions
				 began: SACKs beyond it mean they were
				 lost */
	uint32_t rxt_at;      /* ... and when (tcp_now_us) */
	uint32_t pass_sacked; /* bytes of this pass's retransmissions
				 (below HighRxt) SACKed since it began */
	/* With REC_RXT_HW: end of the highest retransmission. A hole below
	 * it that fills may have been filled by our resend, so it proves
	 * no reordering (Linux: TCPCB_EVER_RETRANS). */
	uint32_t rxt_hw;
	uint32_t tlp_high; /* with REC_TLP: SND.MAX when the probe went */
};

static inline struct tcp_sb *tcp_sb(const struct tcp_conn *c)
{
	return c->side ? c->side->sb : NULL;
}

static inline struct tcp_ooo *tcp_ooo(const struct tcp_conn *c)
{
	return c->side ? c->side->ooo : NULL;
}

/*
 * Quick ACKs: after the receiver saw a loss (out-of-order data, a
 * duplicate, a hole filled), the sender is recovering with a small
 * window; a delayed ACK there holds its next segments up to the
 * delayed-ACK time, which on a short path is many round trips. So the
 * next data segments are each ACKed at once, as Linux's receiver does
 * ("quickack mode"); RFC 5681 §4.2 lets a receiver ACK more often than
 * every second segment. At most 15, and no more than half the segments
 * the window holds (each quick ACK is one more packet for the sender).
 */
static inline unsigned tcp_quick_left(const struct tcp_conn *c)
{
	return (c->flags & TF_QUICK_MASK) >> TF_QUICK_SHIFT;
}

static inline void tcp_quick_set(struct tcp_conn *c, unsigned n)
{
	c->flags = (c->flags & ~TF_QUICK_MASK) | ((n > 15 ? 15 : n) << TF_QUICK_SHIFT);
}

/* Doublings of the RTO since the last measurement: at most 15, far past
 * any rto_max (200 ms << 15 is 109 minutes). */
static inline unsigned tcp_backoff(const struct tcp_conn *c)
{
	return (c->flags & TF_BACKOFF_MASK) >> TF_BACKOFF_SHIFT;
}

static inline void tcp_backoff_set(struct tcp_conn *c, unsigned n)
{
	c->flags = (c->flags & ~TF_BACKOFF_MASK) |
		   ((n > 15 ? 15u : n) << TF_BACKOFF_SHIFT);
}

static inline struct tcp_undo *tcp_undo(const struct tcp_conn *c)
{
	return c->side ? c->side->undo : NULL;
}

static inline struct tcp_ka *tcp_ka(const struct tcp_conn *c)
{
	return c->side ? c->side->ka : NULL;
}

/* The side structure, allocated if need be (tcp_side.c); NULL without
 * memory, counted (side_nomem): the caller goes on without what it
 * wanted to keep there. */
struct tcp_side *tcp_side_get(struct tcp_conn *c);

/* Free the side structure if it holds nothing any more. */
static inline void tcp_side_put(struct tcp_conn *c)
{
	struct tcp_side *x = c->side;

	if (x && !x->undo && !x->ka && !x->sb && !x->ooo && !(c->flags & TF_DSACK) &&
	    !(c->rec & REC_SIDE)) {
		free(x);
		c->side = NULL;
	}
}

#endif
