/*
 * stack.h — the threaded shell around the cores: struct tundra and the
 * per-thread structures the RX, worker and TX threads share.
 *
 *   TUN queue fds --> RX --rx_ring[w]--> worker w --tx_ring[w]--> TX --> TUN
 *                      ^--free_ring[w]--'      ^----done_ring[w]---'
 *
 * Every ring is single-producer/single-consumer. Buffers go back to the
 * thread that owns them: packet buffers to RX (free_ring), transmit
 * descriptors to their worker (done_ring).
 *
 * io_mode rtc (src/worker/rtc.c) has no RX or TX thread: worker i reads
 * and writes TUN queue i itself, and passes a datagram that belongs to
 * worker j over fwd[j] (its buffer comes back on j's ret ring):
 *
 *   TUN queue i <--> worker i --fwd[j]--> worker j <--> TUN queue j
 *                             <--ret[i]--
 */
#ifndef TUNDRA_STACK_STACK_H
#define TUNDRA_STACK_STACK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <urcu/wfcqueue.h>

#include "base/waiter.h"
#include "core/core.h"
#include "pkt/pkt.h"
#include "ring/ring.h"
#include "tun/tun.h"
#include "tundra/tundra.h"

#define BURST 64

struct listeners;
struct ctl_server;
struct impair;

struct worker {
	unsigned id;
	struct tundra *t;
	pthread_t thread;
	bool started;

	struct ring *rx_ring;   /* RX -> worker: struct pkt * */
	struct ring *free_ring; /* worker -> RX: struct pkt * */
	struct ring *tx_ring;   /* worker -> TX: struct core_out * */
	struct ring *done_ring; /* TX -> worker: struct core_out * */
	struct waiter wake;

	/* Calls posted by any thread (tundra_worker_call): a wait-free
	 * MPSC queue (liburcu wfcqueue); this worker is the only
	 * dequeuer. */
	struct __cds_wfcq_head calls_head;
	struct cds_wfcq_tail calls_tail;
	uint64_t calls_run;

	struct core *core;
	struct core_out *descs;
	struct core_out **free_descs;
	uint32_t ndescs, nfree;
	bool tx_kick; /* sent something since TX was last woken */

	uint64_t batches;    /* loop turns that found work */
	uint64_t rx_ring_hwm; /* deepest RX ring seen */

	struct worker_rtc *rtc; /* io_mode rtc only, else NULL */
};

struct rx_stats {
	uint64_t pkts, bytes, reads_again;
	uint64_t ring_full, no_buf, read_errors;
	uint64_t ring_waits; /* yields to a worker whose ring was full */
	uint64_t batches;
	uint64_t gso_pkts;   /* GSO super-packets read (offloads) */
	uint64_t other_queue; /* TCP datagrams not on their flow's TX queue */
};

struct tx_stats {
	uint64_t pkts, bytes, batches, errors, eagain;
	uint64_t tso_segs;   /* TSO super-segments written (offloads) */
};

/* A worker's own I/O in io_mode rtc (src/worker/rtc.c). */
struct worker_rtc {
	int fd;		 /* TUN queue id: read and written here only */
	struct pkt *buf; /* what each read fills (PKT_BIG_SIZE bytes) */
	/* buf holds a datagram for worker held_for that found no pool
	 * buffer or ring slot: nothing more is read until it goes. */
	bool held;
	unsigned held_for;
	_Atomic bool starved;	       /* held: whoever frees room wakes us */
	struct pkt_pool pool, bigpool; /* copies passed to other workers */
	struct ring **fwd;  /* fwd[j]: datagrams for worker j (j consumes) */
	struct ring **ret;  /* ret[j]: our buffers back from worker j */
	bool *kick;	    /* kick[j]: wake worker j at the end of a read */
	struct rx_stats rx; /* this worker's share of the rx and tx */
	struct tx_stats tx; /*   counters (summed by ctl) */
};

struct tundra {
	struct tundra_config cfg;
	struct tun_dev dev;
	struct listeners *listeners;
	uint8_t flow_key[16];

	struct worker *workers;
	unsigned nworkers;
	bool rtc;     /* io_mode resolved: rtc (no RX/TX threads) */
	bool steered; /* the eBPF steering program is attached */

	/* RX thread */
	pthread_t rx_thread;
	bool rx_started;
	int rx_stop_efd;
	struct pkt_pool pool;    /* MTU-sized buffers */
	struct pkt_pool bigpool; /* 64 KB ones, with offloads only (pkt.h) */
	struct rx_stats rx;

	/* TX thread */
	pthread_t tx_thread;
	bool tx_started;
	struct waiter tx_wake;
	struct tx_stats tx;

	_Atomic bool stop_rx, stop_workers, stop_tx;

	/* tundra_drain() started: listener lookups find nothing, so new
	 * connections are refused (src/stack/drain.c). */
	_Atomic bool draining;
	/* pcap capture of what crosses the TUN (cfg.pcap_path), written by
	 * RX and TX; NULL: off (src/capture/pcap.h). */
	struct capture *cap;

	/* The thread API's state (src/api/socket.c), made on first use. */
	struct sock_stack *_Atomic socks;

	/* The control socket's thread (src/ctl/), NULL when not running. */
	struct ctl_server *ctl;

	/* cfg.impair's state, one per direction, owned by the RX and the TX
	 * thread (src/impair/); NULL: that direction is not impaired, and
	 * the data path pays one predictable branch. */
	struct impair *imp_rx, *imp_tx;
};

uint64_t clock_now_ns(void);

/* worker.c */
int worker_init(struct tundra *t, struct worker *w, unsigned id);
void worker_fini(struct worker *w);
void *worker_main(void *arg);
/* Run the calls posted to w (tundra_worker_call); how many ran. */
uint32_t worker_run_calls(struct worker *w);
bool worker_calls_pending(struct worker *w);

/* rtc.c (io_mode rtc): set up and free w->rtc, once every worker's core
 * exists; the loop that replaces worker_main. */
int worker_rtc_init(struct tundra *t, struct worker *w);
void worker_rtc_fini(struct tundra *t, struct worker *w);
void *worker_rtc_main(void *arg);

/* api/socket.c: tundra_stop() (after the workers are joined) wakes every
 * app thread blocked on a socket; tundra_destroy() (after the cores are
 * freed) frees the sockets that are left. */
void sock_stack_stop(struct tundra *t);
void sock_stack_destroy(struct tundra *t);

/* rx.c, tx.c */
void *rx_main(void *arg);
void *tx_main(void *arg);
/* The worker that owns datagram k (its flow_hash kept in k when TCP). */
unsigned rx_classify(struct tundra *t, struct pkt *k);
/* One read with offloads: the virtio_net_hdr into vh, the datagram into
 * k (at most size bytes). What read() returns, less the header. */
struct virtio_net_hdr;
ssize_t rx_read_vnet(int fd, struct pkt *k, uint32_t size,
		     struct virtio_net_hdr *vh);
/* Write o on fd (with its virtio_net_hdr when offloads are on), counted in
 * st; retried on EAGAIN for a bounded time, then dropped (counted). */
void tx_write(struct tundra *t, struct tx_stats *st, int fd,
	      struct core_out *o);

/* link_impair.c: cfg.impair parsed into t->imp_rx / t->imp_tx (0, or
 * -EINVAL / -ENOMEM with err); and their release once the threads are
 * gone (frees what RX still holds). */
int stack_impair_init(struct tundra *t, char *err, size_t errlen);
void stack_impair_fini(struct tundra *t);

/* listeners.c: the port -> app map, an RCU hash table (liburcu cds_lfht):
 * read by every worker, written by the control thread. */
struct listeners *listeners_create(void);
void listeners_destroy(struct listeners *ls);
int listeners_add(struct listeners *ls, uint16_t port,
		  const struct tundra_app *app, void *arg);
/* Caller is inside an RCU read-side critical section. */
const struct core_listener *listeners_lookup(struct listeners *ls,
					     uint16_t port);

#endif
