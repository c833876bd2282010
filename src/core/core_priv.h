/*
 * core_priv.h — what the core's modules (core.c, conn_table.c, timer_heap.c,
 * tcp_input.c, tcp_output.c, tcp_timer.c) share. Not for the shell.
 */
#ifndef TUNDRA_CORE_CORE_PRIV_H
#define TUNDRA_CORE_CORE_PRIV_H

#include "core/core.h"
#include "tcp/tcp_conn.h"
#include "tcp/tcp_wire.h"
#include "core/probes.h"

struct theap_ent {
	uint64_t at; /* the connection's earliest deadline */
	struct tcp_conn *c;
};

#define CORE_APPS 256 /* distinct apps per core: tcp_conn.app_idx */

struct core {
	struct core_config cfg;
	struct core_env env;
	struct core_stats stats;

	/* Connection table: chained hash, power-of-two buckets, doubled
	 * when the load factor passes 1 (so lookups stay O(1)). */
	struct tcp_conn **buckets;
	uint32_t nbuckets;
	uint32_t nconns;

	/* Connections with work for core_flush (FIFO). */
	struct tcp_conn *flush_head;
	struct tcp_conn **flush_tail;
	/* Connections whose output waits for a free descriptor. */
	struct tcp_conn *blocked_head;
	struct tcp_conn **blocked_tail;

	/* Min-heap of the connections with a deadline armed, keyed by the
	 * earliest one. The key sits in the heap entry, not in the
	 * connection: an idle connection has no timer and pays nothing. */
	struct theap_ent *heap;
	uint32_t heap_len, heap_cap;

	/* Freed struct tcp_io kept for the next (tcp_io.c): 2 KiB. */
#define CORE_IO_CACHE 32
	struct tcp_io *io_cache[CORE_IO_CACHE];
	uint32_t io_ncache;

	uint32_t sndbuf_cap, rcvbuf_cap; /* powers of two */
	uint16_t mss;                    /* the MSS we announce */
	uint8_t rcv_wscale;              /* the shift we announce */
	uint16_t ip_id;
	uint32_t port_seq; /* varies the ephemeral port search */
	uint64_t now;
	/* Tests: fail this many side structure allocations (tcp_side.c)
	 * before the next one succeeds; UINT32_MAX: all of them. */
	uint32_t fail_side;

	/* Defences (tcp_syncookie.c, tcp_challenge.c, tcp_reass.c). */
	uint16_t *synq;          /* SYN-RECEIVED count per local port */
	uint64_t cookie_sent_at; /* last cookie SYN-ACK (0: never) */
	uint64_t chack_sec;      /* the second chack_left is for */
	uint32_t chack_left;     /* challenge ACKs still allowed in it */
	bool chack_armed;        /* chack_sec is valid */
	uint64_t ooo_bytes;      /* out-of-order bytes held, all conns */

	/* Its slot in core_slots (tcp_core), and the apps of its
	 * connections by tcp_conn.app_idx (core_app_idx, tcp_app). */
	uint16_t idx;
	uint32_t napps;
	const struct tundra_app *apps[CORE_APPS];
};

/* Every core has a slot here while it exists (core_create, core_destroy):
 * a connection names its core by the slot's index. Written only under
 * a lock when a core comes or goes; a worker reads its own core's slot,
 * written before the worker started. */
#define CORE_SLOTS 65536
extern struct core *core_slots[CORE_SLOTS];

static inline struct core *tcp_core(const struct tcp_conn *c)
{
	return core_slots[c->core_idx];
}

/* The index of app in the core's table, added if new; -1 when the
 * table already holds CORE_APPS others. */
int core_app_idx(struct core *core, const struct tundra_app *app);

static inline const struct tundra_app *core_app(const struct core *core,
					       const struct tcp_conn *c)
{
	return core->apps[c->app_idx];
}

static inline const struct tundra_app *tcp_app(const struct tcp_conn *c)
{
	return core_app(tcp_core(c), c);
}

/* conn_table.c */
int ctab_init(struct core *core, uint32_t nbuckets);
void ctab_free(struct core *core);
struct tcp_conn *ctab_lookup(struct core *core, uint64_t hash, uint32_t raddr,
			     uint16_t rport, uint16_t lport);
/* hash: flow_hash() of the connection's key, as for ctab_lookup. */
void ctab_insert(struct core *core, struct tcp_conn *c, uint64_t hash);
void ctab_remove(struct core *core, struct tcp_conn *c);

/* timer_heap.c: the connection's key becomes the earliest of its armed
 * deadlines (rto_at, which in TIME-WAIT is its end; dack_at, the
 * keep-alive's, pto_at); the heap follows. */
int theap_init(struct core *core, uint32_t cap);
void theap_free(struct core *core);
void theap_update(struct core *core, struct tcp_conn *c);
void theap_remove(struct core *core, struct tcp_conn *c);
struct tcp_conn *theap_min(struct core *core);
/* The keep-alive deadline, 0 when none. */
static inline uint64_t tcp_ka_at(const struct tcp_conn *c)
{
	return tcp_ka(c) ? tcp_ka(c)->at : 0;
}

/* The connection's key in the heap; 0 when it has no deadline. */
static inline uint64_t theap_at(const struct core *core,
				const struct tcp_conn *c)
{
	return c->heap_idx >= 0 ? core->heap[c->heap_idx].at : 0;
}

/* core.c */
void core_schedule(struct core *core, struct tcp_conn *c);
struct tcp_conn *core_conn_new(struct core *core, const struct tcp_seg *seg,
			       uint64_t hash);
/* The connection reaches CLOSED: out of the table and heap, the app told,
 * memory freed once no descriptor points into it. */
void core_conn_close(struct core *core, struct tcp_conn *c, int err);
uint32_t core_iss(struct core *core, uint32_t raddr, uint16_t rport,
		  uint32_t laddr, uint16_t lport);
/* Give c (fresh, nothing sent) the initial send sequence number iss and
 * what derives from it (a SYN cookie replaces the RFC 6528 one). */
void core_conn_set_iss(struct tcp_conn *c, uint32_t iss);
/* c leaves SYN-RECEIVED: out of its listener's SYN queue count. */
void core_synq_leave(struct core *core, struct tcp_conn *c);
/* Room in the table for another connection (max_conns). */
static inline bool core_conn_room(const struct core *core)
{
	return !core->cfg.max_conns || core->nconns < core->cfg.max_conns;
}
/* A descriptor from the env, reset; NULL when none is free. */
struct core_out *core_out_get(struct core *core);

/* tcp_input.c */
void tcp_input(struct core *core, struct tcp_seg *seg, uint64_t hash);

/* tcp_output.c */
/* Send what c has pending (SYN-ACK, data, FIN, ACK, RST). false when it
 * ran out of descriptors and must be retried. */
bool tcp_output(struct core *core, struct tcp_conn *c);
/* RFC 9293 §3.10.7.1: the reset for a segment that has no connection. */
void tcp_respond_rst(struct core *core, const struct tcp_seg *seg);
/* A SYN-ACK to syn with no connection behind it (SYN cookies): ISS iss,
 * window wnd, these options. false when no descriptor was free. */
bool tcp_respond_synack(struct core *core, const struct tcp_seg *syn,
			uint32_t iss, uint16_t wnd, const uint8_t *opts,
			uint8_t optlen);
/* Our receive window, right edge updated (receiver SWS avoidance). */
uint32_t tcp_rcv_window(struct core *core, struct tcp_conn *c);
/* Free the acknowledged head of the send buffer, except bytes that a
 * descriptor still in the transmitter points at. */
void tcp_sndbuf_release(struct core *core, struct tcp_conn *c);
/* Arm the retransmission timer if data is outstanding. */
void tcp_rearm_rto(struct core *core, struct tcp_conn *c);

/* tcp_input.c: what the peer's SYN (or SYN-ACK) negotiated: MSS, window
 * scale, SACK, timestamps (RFC 9293 §3.7.1, RFC 7323, RFC 2018). */
void tcp_syn_options(struct core *core, struct tcp_conn *c,
		     const struct tcp_seg *seg);

/* The first window we offer, once RCV.NXT is known: the whole buffer, as
 * far as the window field reaches; it only grows from there. */
void tcp_set_first_window(struct core *core, struct tcp_conn *c);

/* Our timestamp clock (RFC 7323 §5.4): milliseconds, offset per
 * connection so it tells nothing about uptime. */
static inline uint32_t tcp_ts_now(const struct core *core,
				  const struct tcp_conn *c)
{
	return (uint32_t)(core->now / 1000000) + c->ts_offset;
}

/* The core's clock (ns) in the coarser units the control block keeps,
 * truncated to 32 bits: such a value is only ever subtracted from a later
 * one (unsigned, so a wrap does no harm), or compared with 0 as "unset". */
static inline uint32_t tcp_now_us(const struct core *core)
{
	return (uint32_t)(core->now / 1000);
}

static inline uint32_t tcp_now_ms(const struct core *core)
{
	return (uint32_t)(core->now / 1000000);
}

static inline uint32_t tcp_now_s(const struct core *core)
{
	return (uint32_t)(core->now / 1000000000);
}

/* Nanoseconds since t (a tcp_now_us value, less than 71 minutes ago). */
static inline uint64_t tcp_since_us(const struct core *core, uint32_t t)
{
	return (uint64_t)(uint32_t)(tcp_now_us(core) - t) * 1000;
}

/* RFC 6298 state in the core's unit (ns). */
static inline uint64_t tcp_srtt_ns(const struct tcp_conn *c)
{
	return (uint64_t)c->srtt_us * 1000;
}

/* RFC 6298: (2.1) one second before the first measurement, then (2.3)
 * SRTT + max(G, K*RTTVAR), with the clock granularity G taken as 1 ms;
 * (2.4) the lower and (2.5) the upper bound; doubled (5.5) for each
 * back-off (tcp_backoff), at most the upper bound. Computed, not kept:
 * every connection would pay 4 bytes for what a few adds give. */
#define TCP_INIT_RTO_NS 1000000000ull
static inline uint64_t tcp_rto_ns(const struct tcp_conn *c)
{
	const struct core *core = tcp_core(c);
	uint64_t rto = TCP_INIT_RTO_NS;

	if (c->flags & TF_HAVE_RTT)
		rto = ((uint64_t)c->srtt_us + MAX(1000ull, 4ull * c->rttvar_us)) *
		      1000;
	rto = MIN(MAX(rto, core->cfg.rto_min_ns), core->cfg.rto_max_ns);
	return MIN(rto << tcp_backoff(c), core->cfg.rto_max_ns);
}

/* tcp_timer.c */
void tcp_keepalive_reset(struct core *core, struct tcp_conn *c);

/* tcp_reass.c */
/* Hold out-of-order bytes [seq, seq+len) (and a FIN after them). */
enum drop_reason tcp_reass_insert(struct core *core, struct tcp_conn *c,
				  uint32_t seq, const uint8_t *data,
				  uint32_t len, bool fin);
/* Does [seq, seq+len) repeat bytes already held? Then *ds, *de: the first
 * such run (for a D-SACK block, RFC 2883 §4). */
bool tcp_reass_dup(const struct tcp_conn *c, uint32_t seq, uint32_t len,
		   uint32_t *ds, uint32_t *de);
/* After RCV.NXT moved: take the held ranges it reached into the stream.
 * true when the held FIN is now next. */
bool tcp_reass_advance(struct tcp_conn *c);
void tcp_reass_free(struct tcp_conn *c);
/* Up to max SACK blocks, most recent first, each older (by its stamp)
 * than *below, which is set to the oldest taken; UINT32_MAX: from the
 * newest. */
unsigned tcp_sack_blocks(const struct tcp_conn *c, uint32_t (*out)[2],
			 unsigned max, uint32_t *below);
/* Ranges changed since our last ACK and older than stamp `below`. */
unsigned tcp_sack_changed(const struct tcp_conn *c, uint32_t below);

/* tcp_timer.c */
void tcp_timer_fire(struct core *core, struct tcp_conn *c);
void tcp_rtt_sample(struct tcp_conn *c, uint64_t rtt);
void tcp_rto_reset(struct tcp_conn *c);

/* tcp_sack.c: the SACK scoreboard and loss recovery. */
void tcp_sack_update(struct core *core, struct tcp_conn *c,
		     const struct tcp_seg *seg);
/* SND.UNA moved: forget what it covers. */
void tcp_sack_advance(struct tcp_conn *c);
void tcp_sack_free(struct tcp_conn *c);
uint32_t tcp_sack_between(const struct tcp_conn *c, uint32_t a, uint32_t b);
uint32_t tcp_sack_skip(const struct tcp_conn *c, uint32_t seq,
		       uint32_t *next);
uint32_t tcp_pipe(const struct tcp_conn *c);
uint32_t tcp_in_flight(const struct tcp_conn *c);
uint32_t tcp_send_cwnd(const struct tcp_conn *c);
/* RFC 8985 §7: (re)arm the tail loss probe timer. */
void tcp_arm_pto(struct core *core, struct tcp_conn *c);
/* The probe timer fired. */
void tcp_tlp_fire(struct core *core, struct tcp_conn *c);
/* NextSeg's rule (1): the next lost segment to retransmit. */
bool tcp_next_lost(const struct tcp_conn *c, uint32_t *seq, uint32_t *len,
		   bool *fin);
/* ACK events: new data acknowledged, a duplicate ACK (with SACK: new
 * SACK information), a retransmission timeout, a retransmission sent. */
/* fack: the highest SACKed sequence before this ACK (SND.UNA if none). */
void tcp_recovery_newack(struct core *core, struct tcp_conn *c,
			 const struct tcp_seg *seg, uint32_t acked,
			 uint32_t fack);
void tcp_recovery_dupack(struct core *core, struct tcp_conn *c);
void tcp_reorder_seen(struct core *core, struct tcp_conn *c, uint32_t una,
		      uint32_t fack);
void tcp_recovery_rto(struct core *core, struct tcp_conn *c);
void tcp_recovery_sent(struct core *core, struct tcp_conn *c, uint32_t seq,
		       uint32_t len);

/* icmp.c */
void icmp_input(struct core *core, const struct ip_view *ip);

static inline void core_drop(struct core *core, enum drop_reason r)
{
	TP_DROP((int)r);
	stat_add(core->stats.drops[r], 1);
}

#endif
