/*
 * core.h — the sans-I/O protocol core of one worker.
 *
 * A core owns one shard of connections: their table, state machines,
 * buffers and timers. It is driven by three calls — core_input() with the
 * bytes of one received IPv4 datagram, core_flush() at the end of a batch,
 * core_timers() when the earliest deadline has passed — each given the
 * current time. It makes no system call and reads no clock: everything it
 * sends goes through the env callbacks, so the same code runs in a worker
 * thread, in a unit test, or in a simulator.
 *
 * All functions are for the one thread that owns the core.
 */
#ifndef TUNDRA_CORE_CORE_H
#define TUNDRA_CORE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/drop.h"

struct core;
struct tcp_conn;
struct tundra_app;

/* Room for the IPv4 + TCP headers with the longest option area. */
#define CORE_HDR_ROOM 128
#define CORE_OUT_MAX_IOV 3

/*
 * One outgoing datagram. The env hands these out (core_env.out_alloc); the
 * core writes the headers into hdr and points the remaining iovecs at the
 * payload — bytes in a connection's send buffer, not a copy. The payload
 * stays valid until core_tx_done() is called for the descriptor.
 */
struct core_out {
	struct iovec iov[CORE_OUT_MAX_IOV]; /* iov[0] = hdr */
	uint8_t niov;
	uint32_t len;          /* total bytes */
	struct tcp_conn *conn; /* send buffer the payload points into */
	void *aux;             /* core-owned copy (ICMP replies), or NULL */
	/*
	 * Offloads (core_config.tx_offload only; all 0 otherwise): csum_start
	 * != 0 says the transport checksum at csum_start + csum_offset holds
	 * only the pseudo-header sum for the transmitter's device to finish;
	 * gso_size != 0 makes this a TSO super-segment whose payload the
	 * device cuts into gso_size pieces (the headers, iov[0], repeated on
	 * each). The transmitter turns them into a virtio_net_hdr.
	 */
	uint16_t gso_size;
	uint8_t csum_start, csum_offset;
	uint8_t hdr[CORE_HDR_ROOM];
};

struct core_listener {
	const struct tundra_app *app;
	void *arg;
};

struct core_env {
	void *ctx;
	/* A free descriptor, or NULL when none is: the core then keeps its
	 * output pending and retries after the next core_tx_done(). */
	struct core_out *(*out_alloc)(void *ctx);
	/* Hand a filled descriptor to the transmitter. */
	void (*out_send)(void *ctx, struct core_out *o);
	/* The listener on a local port, or NULL (shared, read-mostly). */
	const struct core_listener *(*listener_lookup)(void *ctx,
						       uint16_t port);
};

struct core_config {
	uint32_t addr;          /* our IPv4 address, host order */
	uint16_t mtu;           /* device MTU: our MSS is mtu - 40 */
	uint32_t sndbuf;        /* per-connection buffers (bytes, rounded */
	uint32_t rcvbuf;        /*   up to a power of two) */
	uint64_t time_wait_ns;  /* 2*MSL (RFC 9293 §3.6.1) */
	uint64_t rto_min_ns;    /* RFC 6298 (2.4) lower bound */
	uint64_t rto_max_ns;
	unsigned max_retries;   /* RTO expiries before giving up */
	unsigned cc_algo;       /* enum tcp_cc_algo (src/tcp/tcp_cc.h) */
	bool no_tlp;            /* no tail loss probes (RFC 8985 §7) */
	uint64_t delack_ns;     /* delayed-ACK timeout (RFC 9293 §3.8.6.3);
				   0: ACK every batch at once */
	uint8_t flow_key[16];   /* keyed hash of the 4-tuple */
	uint8_t iss_key[16];    /* RFC 6528 secret */
	unsigned worker_id;     /* for stats and tundra_conn_worker() */
	unsigned nworkers;      /* active opens pick ports that hash here */
	bool tx_offload;        /* the transmitter finishes partial TCP
				   checksums and cuts TSO super-segments
				   (core_out.csum_start, gso_size) */
	uint8_t prefix;         /* of addr's subnet: its broadcast is a
				   martian source (0: not checked) */

	/* Defences (issue 7). For the limits, 0 means none. */
	enum core_syncookies {
		CORE_SYNCOOKIES_OFF = 0, /* a full SYN queue drops SYNs */
		CORE_SYNCOOKIES_ON,      /* cookies once the queue is full */
		CORE_SYNCOOKIES_ALWAYS,  /* every SYN gets a cookie (tests) */
	} syncookies;
	uint32_t syn_backlog;   /* SYN-RECEIVED per listening port */
	uint32_t max_conns;     /* connections in this core's table */
	uint32_t challenge_ack_limit; /* per second, RFC 5961 §7 */
	uint64_t reass_mem;     /* out-of-order bytes held on this core */
};

/* Per-core counters: written by the owning thread only; readers on other
 * threads load each field with stat_read(). */
struct core_stats {
	uint64_t pkts_in, bytes_in;
	uint64_t pkts_out, bytes_out;
	uint64_t conns_accepted, conns_connected, conns_refused;
	uint64_t conns_closed, conns_reset, conns_active;
	uint64_t resets_sent, icmp_echo;
	uint64_t retransmits;
	uint64_t retrans_bytes; /* sequence space sent again */
	uint64_t fast_recoveries, rto_timeouts, undos, sack_ignored;
	uint64_t reorder_seen; /* DupThresh raised */
	uint64_t tlp_probes, tlp_recoveries; /* RFC 8985 §7 */
	uint64_t lost_retransmits;
	uint64_t side_nomem; /* side structure not allocated: fell back */
	uint64_t syncookies_sent, syncookies_ok, syncookies_failed;
	uint64_t challenge_acks_sent, challenge_acks_limited;
	uint64_t reass_bytes; /* gauge: out-of-order bytes held now */
	uint64_t drops[DROP__COUNT];
};

#define stat_add(field, n)                                                    \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) \
					   + (n),                             \
			 __ATOMIC_RELAXED)
#define stat_read(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

struct core *core_create(const struct core_config *cfg,
			 const struct core_env *env);
/* Free every connection and buffer. Descriptors still out must have been
 * returned with core_tx_done() first. */
void core_destroy(struct core *core);

/*
 * Active open (RFC 9293 §3.10.1): a connection to raddr:rport from an
 * ephemeral port whose 4-tuple hashes to this core's worker, so the
 * replies come here. app->accepted runs when it is established,
 * app->closed(-ECONNREFUSED / -ETIMEDOUT) if it never is. The SYN goes
 * out at the next core_flush. 0 or -EADDRNOTAVAIL / -ENOMEM, -ENOBUFS
 * when the table already holds max_conns connections, -ENOSPC when the
 * core's app table holds CORE_APPS other apps.
 */
int core_connect(struct core *core, uint32_t raddr, uint16_t rport,
		 const struct tundra_app *app, void *arg, uint64_t now,
		 struct tcp_conn **out);

/* One received datagram (bytes as read from the device). The bytes are
 * only borrowed for the duration of the call. */
void core_input(struct core *core, const uint8_t *pkt, uint32_t len,
		uint64_t now);
/* The same, with the flow_hash of the datagram's TCP 4-tuple when the
 * caller already has it (NULL: compute it). */
void core_input_hashed(struct core *core, const uint8_t *pkt, uint32_t len,
		       uint64_t now, const uint64_t *hash);
/* Flags of core_input_pkt. CORE_IN_CSUM_OK: the device vouches for the
 * transport checksum (virtio_net_hdr NEEDS_CSUM or DATA_VALID: the kernel
 * made the segment itself and left the checksum partial, or checked it),
 * so the core does not verify it. A GSO super-packet needs no flag: it is
 * one large TCP segment, accepted like any other. */
#define CORE_IN_CSUM_OK 0x1
void core_input_pkt(struct core *core, const uint8_t *pkt, uint32_t len,
		    uint64_t now, const uint64_t *hash, unsigned flags);
/* End of a batch: run app callbacks, send pending data, ACKs and FINs. */
void core_flush(struct core *core, uint64_t now);
/* True when core_flush has work (after core_tx_done freed descriptors). */
bool core_pending(const struct core *core);
/* The earliest armed deadline (UINT64_MAX: none). */
uint64_t core_next_deadline(const struct core *core);
/* How long an idle thread may sleep at now before the next deadline: ms
 * (1..1000), 0 when one is due already (do not sleep), -1: none armed. */
int core_sleep_ms(const struct core *core, uint64_t now);
/* Fire timers due at now; returns the next deadline (UINT64_MAX: none). */
uint64_t core_timers(struct core *core, uint64_t now);
/* The transmitter is done with o (written or dropped). */
void core_tx_done(struct core *core, struct core_out *o);

const struct core_stats *core_stats(const struct core *core);

/* One connection as core_conn_snapshot() sees it (host order; for the
 * control socket's `conns`). */
struct core_conn_info {
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	const char *state;      /* tcp_state_name() */
	unsigned worker;
	uint32_t snd_una, snd_nxt, snd_wnd;
	uint32_t rcv_nxt, rcv_wnd; /* rcv_wnd: advertised, not yet used */
	bool have_rtt;          /* srtt/rttvar hold a measurement */
	uint64_t srtt_ns, rttvar_ns, rto_ns;
	uint32_t retransmits;
	uint64_t retrans_bytes;
	uint32_t cwnd, ssthresh; /* bytes */
	const char *cc;          /* congestion control algorithm */
	bool in_recovery;
	uint64_t bytes_acked, bytes_received;
	uint32_t sndbuf_used, sndbuf_cap;
	uint32_t rcvbuf_used, rcvbuf_cap;
	uint16_t mss;           /* the peer's MSS */
};
/* The number of connections in the table. */
size_t core_conn_count(const struct core *core);
/* sizeof(struct tcp_conn): what every connection costs before buffers. */
size_t core_conn_size(void);
/* Describe the connections of the table, skipping the first `skip` (in
 * table order), into out[0..max). Returns how many it wrote. Owning thread
 * only. */
size_t core_conn_snapshot(const struct core *core, struct core_conn_info *out,
			  size_t max, size_t skip);
/* Count a drop that happened outside the core but on its behalf. */
void core_count_drop(struct core *core, enum drop_reason r);

/* Graceful stop (tundra_drain): ask every synchronized connection whose
 * app has not closed it yet to close — FIN after the data already queued,
 * as tundra_conn_close() (the apps' closed() callbacks still run). Sent at
 * the next core_flush. Idempotent: call it again for connections that got
 * established since. */
void core_close_all(struct core *core);
/* Connections still to finish: synchronized, and our FIN not yet
 * acknowledged (ESTABLISHED .. LAST_ACK). FIN-WAIT-2 and TIME-WAIT count as
 * done: everything we had to send was delivered. */
size_t core_conns_open(const struct core *core);

/*
 * The keyed hash of a flow, computed the same way by the RX thread (to pick
 * the worker) and by the core (for its table). remote/local from tundra's
 * point of view, host order. The RX thread uses the high 32 bits, the table
 * the low bits, so a shard's connections still spread over all buckets.
 */
uint64_t flow_hash(const uint8_t key[16], uint32_t raddr, uint16_t rport,
		   uint32_t laddr, uint16_t lport);
static inline unsigned flow_worker(uint64_t hash, unsigned nworkers)
{
	return (unsigned)(((hash >> 32) * nworkers) >> 32);
}

#endif
