/*
 * socket.c — the thread API of include/tundra/socket.h on top of the
 * in-worker API (tundra/app.h) and tundra_worker_call().
 *
 * Each socket is one shared object, reference counted: the app's handle,
 * the worker side (from connect or accept until the connection's closed()
 * callback) and every call posted to the worker hold a reference.
 *
 *   app thread                                worker (owns the connection)
 *   write() --> tx ring (SPSC, app->worker) --> tundra_conn_write()
 *   read()  <-- rx ring (SPSC, worker->app) <-- tundra_conn_peek/consume()
 *
 * The worker fills the rx ring in the connection's readable callback and
 * consumes from the receive buffer only what fits, so the advertised window
 * (RFC 9293 §3.8.6) follows the app's reading. It drains the tx ring into
 * the send buffer and, when that is full, goes on in the writable callback.
 * The app asks the worker for work (room freed in a full rx ring, bytes
 * queued, shutdown, close, abort) by posting one "pump" call; an atomic
 * pump_pending flag coalesces the requests, so a hot loop keeps at most
 * one call in the worker's queue.
 *
 * The worker tells the app through the socket's eventfd, written only when
 * the app has re-armed it (the `notified` flag), so a busy reader costs the
 * worker no system call. Every hand-off that could lose a wake-up is the
 * Dekker pattern: each side stores its flag or data, issues a full
 * barrier, then loads the other side's.
 */
#include "tundra/socket.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/barrier.h"
#include "base/compiler.h"
#include "core/core.h"
#include "stack/stack.h"
#include "tundra/app.h"

#define SOCK_RING (256u * 1024) /* bytes per direction, a power of two */
#define DEFAULT_BACKLOG 128
/* Linux's net.core.somaxconn default: nothing an app asks for makes an
 * accept queue grow past it. */
#define MAX_BACKLOG 4096

/* ---- SPSC byte ring --------------------------------------------------- */

struct bring {
	_Atomic uint64_t head cacheline_aligned; /* consumer's position */
	_Atomic uint64_t tail cacheline_aligned; /* producer's position */
	uint8_t *buf cacheline_aligned;
	uint32_t cap;
};

static int bring_init(struct bring *r, uint32_t cap)
{
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->cap = cap;
	r->buf = malloc(cap); /* untouched pages cost nothing */
	return r->buf ? 0 : -ENOMEM;
}

static void bring_free(struct bring *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Producer side. */
static size_t bring_space(struct bring *r)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);

	return r->cap - (size_t)(t - h);
}

static void bring_put(struct bring *r, const void *src, size_t n)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t pos = (size_t)(t & (r->cap - 1));
	size_t first = MIN(n, r->cap - pos);

	memcpy(r->buf + pos, src, first);
	memcpy(r->buf, (const uint8_t *)src + first, n - first);
	atomic_store_explicit(&r->tail, t + n, memory_order_release);
}

/* Consumer side. */
static size_t bring_avail(struct bring *r)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);

	return (size_t)(t - h);
}

static void bring_get(struct bring *r, void *dst, size_t n)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t pos = (size_t)(h & (r->cap - 1));
	size_t first = MIN(n, r->cap - pos);

	memcpy(dst, r->buf + pos, first);
	memcpy((uint8_t *)dst + first, r->buf, n - first);
	atomic_store_explicit(&r->head, h + n, memory_order_release);
}

/* ---- objects ---------------------------------------------------------- */

enum { SK_CONN = 1, SK_LISTENER = 2 };

/* state: set by the worker (release), read by the app (acquire). */
#define ST_CONNECTED 0x1 /* handshake completed */
#define ST_RX_EOF 0x2    /* the peer's FIN: every byte is in the rx ring */
#define ST_DONE 0x4      /* the connection is gone (closed() ran) */
#define ST_STOPPED 0x8   /* the stack stopped */

/* req: set by the app, acted on by the worker. Sticky. */
#define RQ_SHUT 0x1  /* FIN once the tx ring is drained */
#define RQ_CLOSE 0x2 /* the handle is gone: graceful close */
#define RQ_ABORT 0x4 /* RST */

struct sock_stack;

struct tundra_sock {
	/* Published with release by listen (read with acquire by the
	 * workers' accepted(), which liburcu's table hands the pointer to
	 * without a barrier ThreadSanitizer sees). */
	_Atomic int kind;
	struct sock_stack *ss;
	struct tundra_sock *prev, *next; /* ss->all, under ss->lock */
	int efd;
	_Atomic int refs;
	_Atomic int notified; /* the eventfd was written since re-armed */

	/* ---- connection ---- */
	unsigned worker;
	uint32_t raddr; /* connect: where to */
	uint16_t rport;
	_Atomic uint32_t state;
	_Atomic int err;       /* 0 or -errno, set with ST_DONE */
	_Atomic uint32_t req;  /* RQ_* */
	_Atomic int pump_pending;
	_Atomic int rx_blocked; /* bytes wait in the receive buffer */
	_Atomic int nodelay_req; /* 0: none, 1: off, 2: on */
	struct bring rx, tx;
	/* Bytes saved from the receive buffer when the connection closed
	 * (err 0) with the rx ring full: read after the ring. Written by
	 * the worker before ST_DONE, read by the app after it. */
	uint8_t *left;
	size_t left_len, left_off;

	/* app side only */
	bool wr_shut, err_reported;

	/* worker side only */
	struct tundra_conn *conn;
	bool fin_done;

	/* ---- listener ---- */
	uint16_t port;
	pthread_mutex_t qlock; /* the accept queue */
	struct tundra_sock *q_head, **q_tail;
	struct tundra_sock *q_next; /* a connection's link in that queue */
	int q_len, backlog;
	bool open;
};

/* The per-stack state of this layer: every object (freed at destroy), the
 * listeners (kept for the stack's life: connections still in the
 * handshake point at them), the round-robin cursor for connect. */
struct sock_stack {
	struct tundra *t;
	pthread_mutex_t lock;
	struct tundra_sock *all;
	_Atomic unsigned rr;
	_Atomic int stopped;
};

static bool stopped(const struct tundra_sock *s)
{
	return atomic_load_explicit(&s->ss->stopped, memory_order_acquire);
}

static struct sock_stack *get_ss(struct tundra *t)
{
	struct sock_stack *ss = atomic_load_explicit(&t->socks,
						     memory_order_acquire);
	struct sock_stack *none = NULL;

	if (ss)
		return ss;
	ss = calloc(1, sizeof(*ss));
	if (!ss)
		return NULL;
	ss->t = t;
	pthread_mutex_init(&ss->lock, NULL);
	if (!atomic_compare_exchange_strong(&t->socks, &none, ss)) {
		pthread_mutex_destroy(&ss->lock);
		free(ss);
		return none;
	}
	return ss;
}

static struct tundra_sock *sock_alloc(struct sock_stack *ss, int kind,
				      uint16_t port)
{
	struct tundra_sock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	atomic_init(&s->kind, kind);
	s->ss = ss;
	s->port = port; /* before it is on the list: listen reads it */
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0)
		goto fail;
	if (kind == SK_CONN &&
	    (bring_init(&s->rx, SOCK_RING) || bring_init(&s->tx, SOCK_RING)))
		goto fail;
	if (kind == SK_LISTENER) {
		pthread_mutex_init(&s->qlock, NULL);
		s->q_tail = &s->q_head;
	}
	pthread_mutex_lock(&ss->lock);
	s->next = ss->all;
	if (ss->all)
		ss->all->prev = s;
	ss->all = s;
	pthread_mutex_unlock(&ss->lock);
	return s;
fail:
	if (s->efd >= 0)
		close(s->efd);
	bring_free(&s->rx);
	bring_free(&s->tx);
	free(s);
	return NULL;
}

static void sock_free_mem(struct tundra_sock *s)
{
	if (s->efd >= 0)
		close(s->efd);
	bring_free(&s->rx);
	bring_free(&s->tx);
	free(s->left);
	if (s->kind == SK_LISTENER)
		pthread_mutex_destroy(&s->qlock);
	free(s);
}

static void sock_get(struct tundra_sock *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static void sock_put(struct tundra_sock *s)
{
	struct sock_stack *ss = s->ss;

	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_lock(&ss->lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		ss->all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&ss->lock);
	sock_free_mem(s);
}

/* Worker (or anyone) -> app: something changed. At most one write per
 * re-arm. */
static void notify(struct tundra_sock *s)
{
	uint64_t one = 1;

	dekker_barrier(&s->notified);
	if (atomic_load_explicit(&s->notified, memory_order_relaxed))
		return;
	if (!atomic_exchange_explicit(&s->notified, 1, memory_order_seq_cst))
		(void)!write(s->efd, &one, sizeof(one));
}

/* App: re-arm the eventfd before re-checking the state it waits for. */
static void rearm(struct tundra_sock *s)
{
	uint64_t v;

	if (atomic_load_explicit(&s->notified, memory_order_relaxed)) {
		(void)!read(s->efd, &v, sizeof(v));
		atomic_store_explicit(&s->notified, 0, memory_order_seq_cst);
	}
	dekker_barrier(&s->notified);
}

/* App: sleep until the eventfd fires (the caller re-armed and re-checked). */
static void wait_efd(struct tundra_sock *s)
{
	struct pollfd p = { .fd = s->efd, .events = POLLIN };

	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
}

static void set_state(struct tundra_sock *s, uint32_t bits)
{
	atomic_fetch_or_explicit(&s->state, bits, memory_order_release);
}

static uint32_t get_state(struct tundra_sock *s)
{
	return atomic_load_explicit(&s->state, memory_order_acquire);
}

/* ---- worker side ------------------------------------------------------ */

static void sock_app_readable(struct tundra_conn *c);
static void sock_app_writable(struct tundra_conn *c);
static int sock_app_accepted(struct tundra_conn *c, void *arg);
static void sock_app_closed(struct tundra_conn *c, int err);

static const struct tundra_app sock_app = {
	.name = "socket",
	.accepted = sock_app_accepted,
	.readable = sock_app_readable,
	.writable = sock_app_writable,
	.closed = sock_app_closed,
};

static struct tundra_sock *conn_sock(struct tundra_conn *c)
{
	return (struct tundra_sock *)(uintptr_t)tundra_conn_app_data(c)[0];
}

/* Receive buffer -> rx ring, as far as it fits. true if anything moved or
 * EOF became known. */
static bool worker_rx(struct tundra_sock *s)
{
	struct tundra_conn *c = s->conn;
	bool changed = false;

	for (;;) {
		struct iovec iov[2];
		size_t n = tundra_conn_peek(c, iov), space, moved = 0;

		if (n) {
			space = bring_space(&s->rx);
			for (int i = 0; i < 2 && moved < MIN(n, space); i++) {
				size_t k = MIN(iov[i].iov_len,
					       MIN(n, space) - moved);
				bring_put(&s->rx, iov[i].iov_base, k);
				moved += k;
			}
			if (moved) {
				tundra_conn_consume(c, moved);
				changed = true;
			}
			if (moved < n) {
				/* Full: the app pumps after it reads. Re-check
				 * after the flag, or a read in between is
				 * missed. */
				atomic_store_explicit(&s->rx_blocked, 1,
						      memory_order_relaxed);
				dekker_barrier(&s->notified);
				if (bring_space(&s->rx))
					continue;
				return changed;
			}
		}
		if (atomic_load_explicit(&s->rx_blocked, memory_order_relaxed))
			atomic_store_explicit(&s->rx_blocked, 0,
					      memory_order_relaxed);
		if (tundra_conn_eof(c) && !(get_state(s) & ST_RX_EOF)) {
			set_state(s, ST_RX_EOF);
			changed = true;
		}
		return changed;
	}
}

/* tx ring -> send buffer. true if room was made for the app. */
static bool worker_tx(struct tundra_sock *s)
{
	struct tundra_conn *c = s->conn;
	size_t avail = bring_avail(&s->tx), total = 0;
	int nd;

	/* Read after the tail: a TCP_NODELAY set before these bytes were
	 * written applies to them. */
	nd = atomic_load_explicit(&s->nodelay_req, memory_order_relaxed);
	if (nd) {
		nd = atomic_exchange(&s->nodelay_req, 0);
		if (nd)
			tundra_conn_set_nodelay(c, nd == 2);
	}
	while (avail) {
		uint64_t h = atomic_load_explicit(&s->tx.head,
						  memory_order_relaxed);
		size_t pos = (size_t)(h & (s->tx.cap - 1));
		size_t len = MIN(avail, s->tx.cap - pos);
		size_t w = tundra_conn_write(c, s->tx.buf + pos, len);

		if (!w)
			break;
		atomic_store_explicit(&s->tx.head, h + w, memory_order_release);
		avail -= w;
		total += w;
		if (w < len)
			break;
	}
	/* POLLOUT hysteresis: wake a writer when a quarter is free. */
	return total && s->tx.cap - avail >= s->tx.cap / 4;
}

static bool rx_unread(struct tundra_sock *s)
{
	struct iovec iov[2];

	return bring_avail(&s->rx) || tundra_conn_peek(s->conn, iov) ||
	       s->left_off < s->left_len;
}

/* Everything the worker does for a socket: requests, then the two rings.
 * Runs in the connection's callbacks and in posted pump calls. */
static void worker_service(struct tundra_sock *s)
{
	struct tundra_conn *c = s->conn;
	uint32_t req;
	bool changed = false;

	if (!c)
		return;
	req = atomic_load_explicit(&s->req, memory_order_acquire);
	if ((req & RQ_ABORT) ||
	    ((req & RQ_CLOSE) && !(get_state(s) & ST_CONNECTED))) {
		/* RFC 9293 §3.10.5 ABORT; a close before the handshake
		 * completed has nothing to deliver either. closed() runs
		 * inside. */
		tundra_conn_abort(c);
		return;
	}
	if (req & RQ_CLOSE) {
		/* RFC 1122 §4.2.2.13 (kept by RFC 9293 §3.6): a close with
		 * received data unread, or data arriving after it, resets
		 * the connection so the peer knows it was lost. */
		if (rx_unread(s)) {
			tundra_conn_abort(c);
			return;
		}
	} else {
		changed |= worker_rx(s);
	}
	if (!(get_state(s) & ST_CONNECTED))
		return;
	changed |= worker_tx(s);
	if ((req & (RQ_SHUT | RQ_CLOSE)) && !s->fin_done &&
	    !bring_avail(&s->tx)) {
		/* The ring is drained into the send buffer: FIN follows
		 * the last byte (RFC 9293 §3.10.4). */
		tundra_conn_close(c);
		s->fin_done = true;
	}
	if (changed)
		notify(s);
}

/* A callback may end in closed() (an abort) which drops the worker's
 * reference: hold one across. */
static void sock_app_readable(struct tundra_conn *c)
{
	struct tundra_sock *s = conn_sock(c);

	sock_get(s);
	worker_service(s);
	sock_put(s);
}

static void sock_app_writable(struct tundra_conn *c)
{
	sock_app_readable(c);
}

static void pump_call(void *arg)
{
	struct tundra_sock *s = arg;

	atomic_store_explicit(&s->pump_pending, 0, memory_order_relaxed);
	dekker_barrier(&s->notified);
	if (!stopped(s))
		worker_service(s);
	sock_put(s); /* the call's reference */
}

static void connect_call(void *arg)
{
	struct tundra_sock *s = arg;
	struct tundra *t = s->ss->t;
	struct tcp_conn *tc = NULL;
	int rc;

	/* This call's reference becomes the worker side's on success. */
	if (stopped(s))
		rc = -ESHUTDOWN;
	else if (atomic_load(&s->req) & (RQ_ABORT | RQ_CLOSE))
		rc = -ECONNABORTED;
	else
		rc = core_connect(t->workers[s->worker].core, s->raddr,
				  s->rport, &sock_app, s, clock_now_ns(), &tc);
	if (rc) {
		atomic_store_explicit(&s->err, rc, memory_order_relaxed);
		set_state(s, ST_DONE);
		notify(s);
		sock_put(s);
		return;
	}
	/* The app word holds s (the connect's arg) until accepted(),
	 * which stores it again. */
	s->conn = (struct tundra_conn *)tc;
}

static int sock_app_accepted(struct tundra_conn *c, void *arg)
{
	struct tundra_sock *l = arg, *s;

	if (atomic_load_explicit(&l->kind, memory_order_acquire) == SK_CONN) {
		s = l; /* our active open completed */
		tundra_conn_app_data(c)[0] = (uint64_t)(uintptr_t)s;
		if (atomic_load(&s->req) & (RQ_ABORT | RQ_CLOSE))
			return -ECONNABORTED;
		set_state(s, ST_CONNECTED);
		worker_service(s);
		notify(s);
		return 0;
	}
	/* A listener's connection: queue it unless the backlog is full. */
	pthread_mutex_lock(&l->qlock);
	if (!l->open || l->q_len >= l->backlog) {
		pthread_mutex_unlock(&l->qlock);
		return -ECONNREFUSED;
	}
	pthread_mutex_unlock(&l->qlock);
	s = sock_alloc(l->ss, SK_CONN, 0);
	if (!s)
		return -ENOMEM;
	atomic_init(&s->refs, 2); /* the handle in the queue + worker */
	s->worker = tundra_conn_worker(c);
	s->conn = c;
	atomic_init(&s->state, ST_CONNECTED);
	tundra_conn_app_data(c)[0] = (uint64_t)(uintptr_t)s;
	pthread_mutex_lock(&l->qlock);
	if (!l->open || l->q_len >= l->backlog) { /* closed meanwhile */
		pthread_mutex_unlock(&l->qlock);
		tundra_conn_app_data(c)[0] = 0;
		s->conn = NULL;
		sock_put(s);
		sock_put(s);
		return -ECONNREFUSED;
	}
	s->q_next = NULL;
	*l->q_tail = s;
	l->q_tail = &s->q_next;
	l->q_len++;
	pthread_mutex_unlock(&l->qlock);
	notify(l);
	return 0;
}

static void sock_app_closed(struct tundra_conn *c, int err)
{
	struct tundra_sock *s = conn_sock(c);
	struct iovec iov[2];
	size_t n;

	if (!s) /* refused in accepted() */
		return;
	tundra_conn_app_data(c)[0] = 0;
	if (err == 0 && !(atomic_load(&s->req) & RQ_CLOSE)) {
		/* Closed in order: the peer's FIN came. Bytes that did not
		 * fit the rx ring stay readable. */
		worker_rx(s);
		n = tundra_conn_peek(c, iov);
		if (n && (s->left = malloc(n))) {
			memcpy(s->left, iov[0].iov_base, iov[0].iov_len);
			if (n > iov[0].iov_len)
				memcpy(s->left + iov[0].iov_len,
				       iov[1].iov_base, iov[1].iov_len);
			s->left_len = n;
		}
		set_state(s, ST_RX_EOF);
	}
	atomic_store_explicit(&s->err, err, memory_order_relaxed);
	s->conn = NULL;
	set_state(s, ST_DONE);
	notify(s);
	sock_put(s); /* the worker side's reference */
}

/* App -> worker: run worker_service soon (coalesced). */
static void post_pump(struct tundra_sock *s)
{
	dekker_barrier(&s->notified);
	if (atomic_load_explicit(&s->pump_pending, memory_order_relaxed) ||
	    atomic_exchange(&s->pump_pending, 1))
		return;
	if (stopped(s)) {
		atomic_store(&s->pump_pending, 0);
		return;
	}
	sock_get(s);
	if (tundra_worker_call(s->ss->t, s->worker, pump_call, s)) {
		atomic_store(&s->pump_pending, 0);
		sock_put(s);
	}
}

/* ---- the stack's hooks (stack.c) -------------------------------------- */

void sock_stack_stop(struct tundra *t)
{
	struct sock_stack *ss = atomic_load(&t->socks);

	if (!ss)
		return;
	atomic_store(&ss->stopped, 1);
	pthread_mutex_lock(&ss->lock);
	for (struct tundra_sock *s = ss->all; s; s = s->next) {
		set_state(s, ST_STOPPED);
		notify(s);
	}
	pthread_mutex_unlock(&ss->lock);
}

void sock_stack_destroy(struct tundra *t)
{
	struct sock_stack *ss = atomic_load(&t->socks);

	if (!ss)
		return;
	/* The threads are gone and the cores freed: what is left belongs
	 * to nobody. */
	for (struct tundra_sock *s = ss->all, *next; s; s = next) {
		next = s->next;
		sock_free_mem(s);
	}
	pthread_mutex_destroy(&ss->lock);
	free(ss);
	atomic_store(&t->socks, NULL);
}

/* ---- app side --------------------------------------------------------- */

int tundra_sock_listen(struct tundra *t, uint16_t port, int backlog,
		       struct tundra_sock **out)
{
	struct sock_stack *ss = get_ss(t);
	struct tundra_sock *l = NULL;
	int rc;

	*out = NULL;
	if (!ss)
		return -ENOMEM;
	if (atomic_load(&ss->stopped))
		return -ESHUTDOWN;
	if (backlog <= 0)
		backlog = DEFAULT_BACKLOG;
	if (backlog > MAX_BACKLOG)
		backlog = MAX_BACKLOG;
	/* A closed listener of ours on this port is reopened. */
	pthread_mutex_lock(&ss->lock);
	for (struct tundra_sock *s = ss->all; s; s = s->next)
		if (s->kind == SK_LISTENER && s->port == port) {
			l = s;
			break;
		}
	pthread_mutex_unlock(&ss->lock);
	if (l) {
		pthread_mutex_lock(&l->qlock);
		rc = l->open ? -EADDRINUSE : 0;
		if (!rc) {
			l->open = true;
			l->backlog = backlog;
		}
		pthread_mutex_unlock(&l->qlock);
		if (!rc)
			*out = l;
		return rc;
	}
	l = sock_alloc(ss, SK_LISTENER, port);
	if (!l)
		return -ENOMEM;
	/* Not reference counted: freed with the stack. */
	atomic_init(&l->refs, 1);
	l->backlog = backlog;
	l->open = true;
	atomic_store_explicit(&l->kind, SK_LISTENER, memory_order_release);
	rc = tundra_listen(t, port, &sock_app, l);
	if (rc) {
		sock_put(l);
		return rc;
	}
	*out = l;
	return 0;
}

int tundra_sock_accept(struct tundra_sock *l, struct tundra_sock **out,
		       int flags)
{
	bool armed = false;

	*out = NULL;
	if (l->kind != SK_LISTENER)
		return -EINVAL;
	for (;;) {
		struct tundra_sock *s;

		if (stopped(l))
			return -ESHUTDOWN;
		pthread_mutex_lock(&l->qlock);
		s = l->q_head;
		if (s) {
			l->q_head = s->q_next;
			if (!l->q_head)
				l->q_tail = &l->q_head;
			l->q_len--;
		}
		pthread_mutex_unlock(&l->qlock);
		if (s) {
			*out = s;
			return 0;
		}
		if (armed) {
			if (flags & TUNDRA_NONBLOCK)
				return -EAGAIN;
			wait_efd(l);
			armed = false;
			continue;
		}
		rearm(l);
		armed = true;
	}
}

int tundra_sock_connect(struct tundra *t, uint32_t addr, uint16_t port,
			int flags, struct tundra_sock **out)
{
	struct sock_stack *ss = get_ss(t);
	struct tundra_sock *s;
	uint32_t st;
	int rc;

	*out = NULL;
	if (!ss)
		return -ENOMEM;
	if (atomic_load(&ss->stopped))
		return -ESHUTDOWN;
	s = sock_alloc(ss, SK_CONN, 0);
	if (!s)
		return -ENOMEM;
	atomic_init(&s->refs, 2); /* the handle + the connect call */
	s->raddr = addr;
	s->rport = port;
	s->worker = atomic_fetch_add(&ss->rr, 1) % tundra_workers(t);
	rc = tundra_worker_call(t, s->worker, connect_call, s);
	if (rc) {
		sock_put(s);
		sock_put(s);
		return rc;
	}
	if (flags & TUNDRA_NONBLOCK) {
		*out = s;
		return -EINPROGRESS;
	}
	for (;;) {
		rearm(s);
		st = get_state(s);
		if (st & ST_CONNECTED) {
			*out = s;
			return 0;
		}
		if (st & (ST_DONE | ST_STOPPED)) {
			rc = st & ST_DONE ? atomic_load(&s->err) : -ESHUTDOWN;
			tundra_sock_close(s);
			return rc ? rc : -ECONNRESET;
		}
		wait_efd(s);
	}
}

/* The error to report now, once (like sock_error() in Linux). */
static int take_err(struct tundra_sock *s)
{
	int e;

	if (s->err_reported)
		return 0;
	e = atomic_load_explicit(&s->err, memory_order_relaxed);
	if (e)
		s->err_reported = true;
	return e;
}

static ssize_t try_read(struct tundra_sock *s, void *buf, size_t len)
{
	uint32_t st = get_state(s); /* before the ring: see ST_RX_EOF */
	size_t avail = bring_avail(&s->rx); /* once: MIN evaluates twice */
	size_t n = MIN(len, avail);
	int e;

	if (n) {
		bring_get(&s->rx, buf, n);
		/* Room was made: if the worker left bytes behind, it needs
		 * a pump (Dekker with worker_rx). */
		dekker_barrier(&s->notified);
		if (atomic_load_explicit(&s->rx_blocked, memory_order_relaxed))
			post_pump(s);
		return (ssize_t)n;
	}
	if ((st & ST_DONE) && s->left_off < s->left_len) {
		n = MIN(len, s->left_len - s->left_off);
		memcpy(buf, s->left + s->left_off, n);
		s->left_off += n;
		return (ssize_t)n;
	}
	if (st & ST_RX_EOF)
		return 0;
	if (st & ST_DONE) {
		e = take_err(s);
		return e; /* 0 after a clean close or a reported error */
	}
	if (st & ST_STOPPED)
		return -ESHUTDOWN;
	return -EAGAIN;
}

ssize_t tundra_sock_read(struct tundra_sock *s, void *buf, size_t len,
			 int flags)
{
	bool armed = false;
	ssize_t r;

	if (s->kind != SK_CONN)
		return -EINVAL;
	if (!len)
		return 0;
	for (;;) {
		r = try_read(s, buf, len);
		if (r != -EAGAIN)
			return r;
		if (armed) {
			if (flags & TUNDRA_NONBLOCK)
				return -EAGAIN;
			wait_efd(s);
			armed = false;
			continue;
		}
		rearm(s);
		armed = true;
	}
}

static ssize_t try_write(struct tundra_sock *s, const void *buf, size_t len)
{
	uint32_t st = get_state(s);
	size_t n;
	int e;

	if (st & ST_STOPPED)
		return -ESHUTDOWN;
	if (s->wr_shut)
		return -EPIPE;
	if (st & ST_DONE) {
		e = take_err(s);
		return e && e != -ECONNABORTED ? e : -EPIPE;
	}
	if (!(st & ST_CONNECTED))
		return -EAGAIN; /* connect in progress */
	n = bring_space(&s->tx); /* once: MIN evaluates twice */
	n = MIN(len, n);
	if (!n)
		return -EAGAIN;
	bring_put(&s->tx, buf, n);
	post_pump(s);
	return (ssize_t)n;
}

ssize_t tundra_sock_write(struct tundra_sock *s, const void *buf, size_t len,
			  int flags)
{
	const uint8_t *p = buf;
	size_t done = 0;
	bool armed = false;
	ssize_t r;

	if (s->kind != SK_CONN)
		return -EINVAL;
	while (done < len) {
		r = try_write(s, p + done, len - done);
		if (r > 0) {
			done += (size_t)r;
			armed = false;
			continue;
		}
		if (r != -EAGAIN)
			return done ? (ssize_t)done : r;
		if (flags & TUNDRA_NONBLOCK) {
			if (done)
				break;
			if (armed)
				return -EAGAIN;
			rearm(s);
			armed = true;
			continue;
		}
		if (armed) {
			wait_efd(s);
			armed = false;
			continue;
		}
		rearm(s);
		armed = true;
	}
	return (ssize_t)done;
}

int tundra_sock_shutdown(struct tundra_sock *s)
{
	uint32_t st;

	if (s->kind != SK_CONN)
		return -EINVAL;
	st = get_state(s);
	if (st & ST_STOPPED)
		return -ESHUTDOWN;
	if (!(st & ST_CONNECTED))
		return -ENOTCONN;
	if (s->wr_shut)
		return 0;
	s->wr_shut = true;
	atomic_fetch_or(&s->req, RQ_SHUT);
	post_pump(s);
	return 0;
}

static void release(struct tundra_sock *s, uint32_t rq)
{
	if (s->kind == SK_LISTENER) {
		struct tundra_sock *q;

		pthread_mutex_lock(&s->qlock);
		s->open = false;
		q = s->q_head;
		s->q_head = NULL;
		s->q_tail = &s->q_head;
		s->q_len = 0;
		pthread_mutex_unlock(&s->qlock);
		/* Never accepted: reset them (Linux does the same). */
		while (q) {
			struct tundra_sock *next = q->q_next;

			release(q, RQ_ABORT);
			q = next;
		}
		return; /* the listener itself lives as long as the stack */
	}
	atomic_fetch_or(&s->req, rq);
	post_pump(s);
	sock_put(s); /* the handle */
}

void tundra_sock_close(struct tundra_sock *s)
{
	if (s)
		release(s, RQ_CLOSE);
}

void tundra_sock_abort(struct tundra_sock *s)
{
	if (s)
		release(s, RQ_ABORT);
}

int tundra_sock_fd(const struct tundra_sock *s)
{
	return s->efd;
}

int tundra_sock_events(struct tundra_sock *s)
{
	uint32_t st;
	int ev = 0;

	rearm(s);
	if (s->kind == SK_LISTENER) {
		pthread_mutex_lock(&s->qlock);
		if (s->q_head)
			ev |= POLLIN;
		pthread_mutex_unlock(&s->qlock);
		if (stopped(s))
			ev |= POLLHUP;
		return ev;
	}
	st = get_state(s);
	if (bring_avail(&s->rx) || (st & (ST_RX_EOF | ST_DONE)))
		ev |= POLLIN;
	if (!s->err_reported && atomic_load(&s->err))
		ev |= POLLERR;
	if ((st & ST_CONNECTED) && !(st & (ST_DONE | ST_STOPPED)) &&
	    !s->wr_shut && bring_space(&s->tx) >= s->tx.cap / 4)
		ev |= POLLOUT;
	if ((st & (ST_DONE | ST_STOPPED)) || ((st & ST_RX_EOF) && s->wr_shut))
		ev |= POLLHUP;
	return ev;
}

int tundra_sock_error(struct tundra_sock *s)
{
	if (s->kind != SK_CONN)
		return 0;
	if (get_state(s) & ST_DONE)
		return take_err(s);
	return 0;
}

void tundra_sock_set_nodelay(struct tundra_sock *s, int on)
{
	if (s->kind != SK_CONN)
		return;
	atomic_store_explicit(&s->nodelay_req, on ? 2 : 1,
			      memory_order_relaxed);
	post_pump(s);
}
