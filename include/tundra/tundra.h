/*
 * tundra/tundra.h — a tundra stack: its configuration and life cycle.
 *
 * One thread (the "control" thread: main's) creates, configures, starts,
 * stops and destroys a stack; the stack runs its own RX, worker and TX
 * threads in between. Apps run inside the workers (tundra/app.h).
 */
#ifndef TUNDRA_TUNDRA_H
#define TUNDRA_TUNDRA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tundra/app.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tundra_config {
	const char *dev;        /* TUN device name */
	uint32_t addr;          /* tundra's own address, host order */
	uint8_t prefix;
	uint32_t peer_addr;     /* the kernel side of the device */
	uint8_t peer_prefix;
	unsigned queues;        /* TUN queues (>= 1) */
	unsigned workers;       /* worker threads (>= 1) */
	unsigned mtu;
	unsigned ring_size;     /* entries per RX->worker ring */
	unsigned txqueuelen;    /* the device's kernel-side queue (packets) */
	/* TUN offloads (IFF_VNET_HDR + TUNSETOFFLOAD: GSO receive, TSO send,
	 * checksums left to the kernel). AUTO falls back to plain reads and
	 * writes, with a log line, when the kernel refuses; ON fails. */
	enum tundra_offload {
		TUNDRA_OFFLOAD_AUTO = 0,
		TUNDRA_OFFLOAD_ON,
		TUNDRA_OFFLOAD_OFF,
	} offload;
	/* eBPF queue steering (TUNSETSTEERINGEBPF): the kernel puts each
	 * datagram on the queue of the worker that owns its flow. AUTO: with
	 * more than one queue, when the kernel accepts the program (else a
	 * log line, and the kernel's own flow table decides). */
	enum tundra_steering {
		TUNDRA_STEERING_AUTO = 0,
		TUNDRA_STEERING_OFF,
	} steering;
	uint32_t sndbuf;        /* per-connection buffer sizes (bytes) */
	uint32_t rcvbuf;
	uint64_t time_wait_ms;  /* 2*MSL */
	uint64_t delack_ms;     /* delayed-ACK timeout; 0: no delay */
	unsigned spin;          /* polls before a thread sleeps */
	const char *tun_path;   /* NULL: /dev/net/tun */

	/* Retransmission (RFC 6298 (2.4), (2.5)). */
	uint64_t rto_min_ms;
	uint64_t rto_max_ms;
	unsigned max_retries;   /* RTO expiries before ETIMEDOUT */
	/* Congestion control of every connection (RFC 9438, RFC 5681). */
	enum tundra_cc {
		TUNDRA_CC_CUBIC = 0,
		TUNDRA_CC_RENO,
	} cc;
	int tlp;                /* tail loss probes (RFC 8985 §7): 0 off, 1 on */

	/* Defences and limits. */
	int syncookies;         /* 0 off, 1 on (when a SYN queue is full),
				   2 always */
	uint32_t syn_backlog;   /* SYN-RECEIVED per listener per worker */
	uint32_t max_conns;     /* connections overall, split per worker */
	uint32_t challenge_ack_limit; /* per second per worker (RFC 5961 §7) */
	uint64_t reass_mem;     /* out-of-order bytes held per worker */

	/* Threads. */
	enum tundra_poll_mode {
		TUNDRA_POLL_ADAPTIVE = 0, /* spin `spin` polls, then sleep */
		TUNDRA_POLL_BUSY,         /* never sleep (pinned benchmarks) */
		TUNDRA_POLL_BLOCKING,     /* sleep as soon as idle */
	} poll_mode;
	/* How datagrams travel between the TUN queues and the workers. */
	enum tundra_io_mode {
		TUNDRA_IO_AUTO = 0, /* rtc when it can run, else pipeline */
		TUNDRA_IO_PIPELINE, /* RX thread -> workers -> TX thread */
		TUNDRA_IO_RTC,	    /* run to completion: worker i reads and
					 writes TUN queue i (workers ==
					 queues, no impair) */
	} io_mode;
	int cpu_rx, cpu_tx;     /* CPU to pin to; -1: not pinned */
	const int *cpu_workers; /* cpu_workers[i] for worker i, or NULL */

	/* Operations. */
	const char *ctl_path;   /* control socket; NULL: "@tundra-<dev>"
				   (abstract, so per network namespace) */
	const char *pcap_path;  /* capture what crosses the TUN; NULL: off */
	int log_level;          /* 0 error, 1 warn, 2 info, 3 debug */
	uint64_t stop_grace_ms; /* on stop: FIN open connections, wait this */

	/* Faults: a link impairment spec applied in tundra's own RX/TX path
	 * ("loss=1,delay=10", src/impair/impair.h); NULL or "": off. */
	const char *impair;
};

/* Defaults: tun0, 10.0.0.2/24, peer 10.0.0.1/24, queues = workers = CPUs,
 * MTU 1500. */
void tundra_config_defaults(struct tundra_config *cfg);

struct tundra;

/* Create the device and everything the threads need; no thread runs yet.
 * 0, or -errno with one line in err. */
int tundra_create(struct tundra **out, const struct tundra_config *cfg,
		  char *err, size_t errlen);
/* Serve app on a TCP port (before or after start). -EADDRINUSE if taken. */
int tundra_listen(struct tundra *t, uint16_t port, const struct tundra_app *app,
		  void *arg);
int tundra_start(struct tundra *t);
/*
 * Graceful stop, before tundra_stop(): every established connection is
 * closed as if its app had called tundra_conn_close() (FIN after the data
 * already queued), new connections are refused (a SYN gets a RST), and
 * this waits up to ms milliseconds until no connection has a FIN of ours
 * unacknowledged (FIN-WAIT-2 and TIME-WAIT count as done). Returns how many
 * are still open (0: all done). Control thread, while the stack runs.
 */
int tundra_drain(struct tundra *t, uint64_t ms);
/* Stop and join every thread. Idempotent. */
void tundra_stop(struct tundra *t);
/* Free everything; the device disappears. */
void tundra_destroy(struct tundra *t);

/* Number of worker threads. */
unsigned tundra_workers(const struct tundra *t);

/*
 * Run fn(arg) on worker `worker`'s thread, in its loop, soon (in posting
 * order per poster). Callable from any thread, a worker's own included:
 * this is how an app hands work to the worker that owns a connection.
 * 0, -EINVAL for a bad worker index, -ENOMEM. Calls still queued when the
 * stack stops are run by tundra_destroy() on the control thread, so arg is
 * never leaked.
 */
int tundra_worker_call(struct tundra *t, unsigned worker,
		       void (*fn)(void *arg), void *arg);

/*
 * Open a connection from worker `worker` to raddr:rport (host order),
 * served by app (tundra/app.h; accepted() runs once it is established,
 * closed() with -ECONNREFUSED or -ETIMEDOUT if it never is). Must run on
 * that worker's thread: from one of its callbacks, or through
 * tundra_worker_call. 0, -EINVAL, -EADDRNOTAVAIL, -ENOMEM, -ENOBUFS (the
 * worker's share of max_conns is taken), -ENOSPC (the worker serves 256
 * other apps already: tundra/app.h).
 */
int tundra_connect(struct tundra *t, unsigned worker, uint32_t raddr,
		   uint16_t rport, const struct tundra_app *app, void *arg);

/* Print per-thread counters and per-reason drops, one "stats ..." line
 * each. Safe while running (a snapshot) and after stop (exact). */
void tundra_print_stats(struct tundra *t, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
