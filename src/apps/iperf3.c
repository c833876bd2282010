/*
 * iperf3.c — an iperf3 server as an in-worker app.
 *
 * The protocol is ESnet iperf 3.x's (src/iperf_api.c, iperf_server_api.c,
 * iperf_client_api.c, iperf_tcp.c); the numbers below are from its
 * iperf_api.h. One test runs at a time, as in the real server:
 *
 *   client                                  server (this file)
 *   control conn, 37-byte cookie  ------>   (iperf_accept: the server is free)
 *                                 <------   PARAM_EXCHANGE (9)
 *   u32 length (big endian) + JSON ----->   (get_parameters)
 *                                 <------   CREATE_STREAMS (10)
 *   N data conns, each: cookie    ------>   (iperf_tcp_accept: match by cookie)
 *                                 <------   TEST_START (1), TEST_RUNNING (2)
 *   data one way or both (-R, --bidir)
 *   TEST_END (4)                  ------>
 *                                 <------   EXCHANGE_RESULTS (13)
 *   u32 length + results JSON     ------>
 *                                 <------   u32 length + results JSON
 *                                 <------   DISPLAY_RESULTS (14)
 *   IPERF_DONE (16), closes       ------>
 *
 * A connection that arrives while a test runs gets ACCESS_DENIED (-1) and is
 * closed (iperf_accept's "server busy" branch; during CREATE_STREAMS
 * iperf_tcp_accept reads the cookie first and denies a mismatch). A request
 * the server cannot serve gets SERVER_ERROR (-2) followed by two 32-bit
 * big-endian numbers, i_errno and errno, as iperf_exchange_parameters sends
 * them when protocol->listen() fails; the client prints
 * "error - <iperf_strerror(i_errno)>".
 *
 * Threads. Connections live on the worker their 4-tuple hashes to, so the
 * control connection (worker A) and the data streams (workers B, C, ...)
 * are usually on different threads, and each is touched only on its own
 * worker. What they share is one struct ip3_test:
 *  - a mutex (srv->lock), held briefly: which test is active, attaching a
 *    stream to it, tearing it down;
 *  - t->state, an atomic the data path reads (acquire) to know whether to
 *    send;
 *  - per-stream byte counters: one writer (the stream's worker, a relaxed
 *    store per callback), read by the control worker at TEST_END;
 *  - a reference count: the active slot, each connection, each posted
 *    tundra_worker_call() hold one; the last one frees the test.
 * Cross-worker actions (start sending for -R, abort streams on teardown,
 * "all streams connected" back to the control worker) are worker calls.
 *
 * Data path: received bytes are counted and consumed in place (no copy);
 * the sending side keeps the send buffer full from writable callbacks, like
 * the source app.
 */
#include "apps/iperf3.h"

#include <arpa/inet.h>
#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/compiler.h"

/* Control states (iperf_api.h). */
enum {
	IP3_TEST_START = 1,
	IP3_TEST_RUNNING = 2,
	IP3_TEST_END = 4,
	IP3_PARAM_EXCHANGE = 9,
	IP3_CREATE_STREAMS = 10,
	IP3_SERVER_TERMINATE = 11,
	IP3_CLIENT_TERMINATE = 12,
	IP3_EXCHANGE_RESULTS = 13,
	IP3_DISPLAY_RESULTS = 14,
	IP3_IPERF_START = 15,
	IP3_IPERF_DONE = 16,
	IP3_ACCESS_DENIED = -1,
	IP3_SERVER_ERROR = -2,
};

/* i_errno values sent after SERVER_ERROR: iperf_api.h's "test errors",
 * numbered the same since 3.0 (the parameter errors below 100 are not). */
enum {
	IE_RECVCOOKIE = 106, /* "unable to receive cookie at server" */
	IE_RECVPARAMS = 114, /* "unable to receive parameters from client" */
	IE_PACKAGERESULTS = 115, /* "unable to package results" */
	IE_RECVRESULTS = 117,	 /* "unable to receive results" */
	IE_PROTOCOL = 131,	 /* "protocol does not exist" */
};

#define IP3_COOKIE_SIZE 37	    /* iperf.h COOKIE_SIZE, NUL included */
#define IP3_MAX_STREAMS 128	    /* iperf.h MAX_STREAMS (per direction) */
#define IP3_MAX_BLOCKSIZE (1 << 20) /* iperf.h MAX_BLOCKSIZE */
#define IP3_MAX_TIME 86400	    /* iperf.h MAX_TIME */
#define IP3_MAX_OMIT 600	    /* iperf.h MAX_OMIT_TIME */
/* Our own bound on a JSON message (parameters, results). The real server
 * calloc()s whatever length the peer announces. */
#define IP3_MAX_JSON (64 * 1024)

/* Test phases, in order (t->state). */
enum {
	T_PARAMS,  /* cookie, parameters */
	T_CREATE,  /* accepting data streams */
	T_RUNNING, /* TEST_RUNNING sent */
	T_ENDED,   /* TEST_END received; results being exchanged */
	T_DONE,	   /* finished or torn down; the server is free again */
};

/* What a connection on port 5201 is, and what it points to: its test
 * (K_CTRL, K_PENDING) or its stream (K_STREAM). */
enum { K_NONE, K_CTRL, K_PENDING, K_STREAM, K_DENIED };

/* All of it in the connection's one word of app data (every connection
 * pays for each word the core keeps): the kind in the low three bits
 * (tests and streams are 8-byte aligned), the cookie bytes a pending
 * connection has matched in the top byte (user-space addresses stay
 * below bit 47 on x86-64 and 48 on arm64), the pointer between. */
#define AD_KIND 7ull
#define AD_GOT_SHIFT 56

static uint64_t ad_make(const void *p, int kind, unsigned got)
{
	uint64_t a = (uintptr_t)p;

	assert(!(a & AD_KIND) && !(a >> AD_GOT_SHIFT));
	return a | (uint64_t)kind | (uint64_t)got << AD_GOT_SHIFT;
}

static int ad_kind(uint64_t w)
{
	return (int)(w & AD_KIND);
}

static void *ad_ptr(uint64_t w)
{
	return (void *)(uintptr_t)(w & ~AD_KIND & ((1ull << AD_GOT_SHIFT) - 1));
}

static unsigned ad_got(uint64_t w)
{
	return (unsigned)(w >> AD_GOT_SHIFT);
}

/* Control-connection input states (t->cst). */
enum {
	C_COOKIE,
	C_PARAM_LEN,
	C_PARAM_JSON,
	C_STATE,
	C_RESULTS_LEN,
	C_RESULTS_JSON,
	C_DEAD, /* ignore what comes; close at EOF */
};

struct ip3_test;

struct ip3_stream {
	/* Set by the control worker before T_CREATE is published. */
	struct ip3_test *test;
	int id;	     /* iperf3 stream id: 1, 3, 4, 5, ... (iperf_add_stream) */
	bool sender; /* this server sends on it */
	/* The stream's worker only. */
	struct tundra_conn *conn; /* NULL once closed */
	bool omit_pending;
	uint64_t local; /* bytes received (receiver) or queued (sender) */
	/* Written under srv->lock at attach. */
	unsigned worker;
	/* Shared. */
	_Atomic uint64_t bytes;	    /* = local, published per callback */
	_Atomic uint64_t omit_base; /* bytes when the omit period ended */
	_Atomic bool omit_done;
	_Atomic bool alive; /* conn open */
	/* The control worker: what was reported. */
	uint64_t final;
} cacheline_aligned;

struct ip3_test {
	struct iperf3_server *srv;
	struct ip3_test *next, **pprev; /* srv->tests, under srv->lock */
	_Atomic unsigned refs;
	_Atomic int state;
	unsigned no; /* for the log */

	/* Written by the control worker before T_CREATE (under the lock),
	 * read-only afterwards. */
	char cookie[IP3_COOKIE_SIZE];
	unsigned parallel, nexpected;
	bool reverse, bidir;
	unsigned omit, duration, blksize;
	struct ip3_stream *streams;

	/* srv->lock. */
	unsigned nattached;
	bool torn;

	/* Written before the state becomes T_RUNNING (release). */
	uint64_t start_ns, omit_ns;

	/* The control worker only. */
	struct tundra_conn *ctl;
	unsigned ctl_worker;
	int cst;
	uint8_t hdr[IP3_COOKIE_SIZE];
	unsigned hgot;
	char *jbuf;
	uint32_t jlen, jgot;
	uint8_t *out;
	size_t out_len, out_cap;
	bool close_after_flush, results_sent;
	uint64_t end_ns;
	struct rusage ru0;
	double cpu[3];
};

struct iperf3_server {
	struct tundra *t;
	FILE *log;
	pthread_mutex_t lock;
	struct ip3_test *active; /* the test being served, or NULL */
	struct ip3_test *tests;	 /* every test still referenced */
	unsigned ntests;
};

static const uint8_t zeros[64 * 1024];

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 2, 3))) static void ip3_log(struct ip3_test *t,
							  const char *fmt, ...)
{
	FILE *f = t->srv->log;
	va_list ap;

	if (!f)
		return;
	va_start(ap, fmt);
	flockfile(f);
	fprintf(f, "iperf3: test %u ", t->no);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
	funlockfile(f);
	va_end(ap);
}

static const char *mode_name(const struct ip3_test *t)
{
	return t->bidir ? "bidir" : t->reverse ? "reverse" : "forward";
}

/* ---- life cycle ------------------------------------------------------ */

static void test_free(struct ip3_test *t)
{
	free(t->streams);
	free(t->jbuf);
	free(t->out);
	free(t);
}

static void test_ref(struct ip3_test *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

static void test_unref(struct ip3_test *t)
{
	struct iperf3_server *srv = t->srv;

	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_lock(&srv->lock);
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	pthread_mutex_unlock(&srv->lock);
	test_free(t);
}

/* Run fn(arg) on worker w, holding a reference on t meanwhile. */
static int post(struct ip3_test *t, unsigned w, void (*fn)(void *), void *arg)
{
	int err;

	test_ref(t);
	err = tundra_worker_call(t->srv->t, w, fn, arg);
	if (err) {
		test_unref(t);
		ip3_log(t, "cannot reach worker %u: %s", w, strerror(-err));
	}
	return err;
}

static void call_stream_abort(void *arg)
{
	struct ip3_stream *s = arg;
	struct ip3_test *t = s->test;

	if (s->conn)
		tundra_conn_abort(s->conn); /* -> ip3_closed, s->conn = NULL */
	test_unref(t);
}

/* TEST_END: close our direction of every stream (a FIN after what is
 * queued). The real server closes its stream sockets here
 * (iperf_handle_message_server, TEST_END), and a -R client needs it: it
 * switches its sockets back to blocking and drains them until EOF before
 * it reads EXCHANGE_RESULTS. What the client still sends is consumed
 * until its own FIN. */
static void call_stream_stop(void *arg)
{
	struct ip3_stream *s = arg;
	struct ip3_test *t = s->test;

	if (s->conn)
		tundra_conn_close(s->conn);
	test_unref(t);
}

/* Post fn for every stream still open. Control worker. */
static void post_streams(struct ip3_test *t, void (*fn)(void *))
{
	pthread_mutex_lock(&t->srv->lock);
	for (unsigned i = 0; i < t->nattached; i++)
		if (atomic_load(&t->streams[i].alive))
			post(t, t->streams[i].worker, fn, &t->streams[i]);
	pthread_mutex_unlock(&t->srv->lock);
}

/* Ends the test: the server takes the next client. abort_streams: reset
 * the data connections still open (an abnormal end; iperf3's
 * cleanup_server closes them too). Control worker only. */
static void test_teardown(struct ip3_test *t, bool abort_streams)
{
	struct iperf3_server *srv = t->srv;
	bool drop_slot = false;

	pthread_mutex_lock(&srv->lock);
	if (!t->torn) {
		t->torn = true;
		atomic_store_explicit(&t->state, T_DONE, memory_order_release);
		if (srv->active == t) {
			srv->active = NULL;
			drop_slot = true;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	if (abort_streams)
		post_streams(t, call_stream_abort);
	if (drop_slot)
		test_unref(t); /* the caller's connection still holds one */
}

/* ---- control connection: output --------------------------------------- */

static void ctl_flush(struct ip3_test *t)
{
	size_t w;

	if (!t->ctl)
		return;
	if (t->out_len) {
		w = tundra_conn_write(t->ctl, t->out, t->out_len);
		memmove(t->out, t->out + w, t->out_len - w);
		t->out_len -= w;
	}
	if (!t->out_len && t->close_after_flush)
		tundra_conn_close(t->ctl);
}

/* Queue bytes on the control connection; what does not fit in the send
 * buffer waits in t->out for the writable callback. */
static int ctl_send(struct ip3_test *t, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!t->ctl || t->close_after_flush)
		return -EPIPE;
	if (!t->out_len) {
		size_t w = tundra_conn_write(t->ctl, p, len);
		p += w;
		len -= w;
	}
	if (!len)
		return 0;
	if (t->out_len + len > t->out_cap) {
		size_t cap = MAX(t->out_cap * 2, t->out_len + len);
		uint8_t *n = realloc(t->out, cap);
		if (!n)
			return -ENOMEM;
		t->out = n;
		t->out_cap = cap;
	}
	memcpy(t->out + t->out_len, p, len);
	t->out_len += len;
	return 0;
}

static int ctl_send_state(struct ip3_test *t, int state)
{
	int8_t b = (int8_t)state; /* iperf_set_send_state: one signed char */

	return ctl_send(t, &b, 1);
}

/* JSON_write: a 32-bit big-endian length, then the unformatted text. */
static int ctl_send_json(struct ip3_test *t, const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	uint32_t n;
	int err;

	if (!s)
		return -ENOMEM;
	n = htonl((uint32_t)strlen(s));
	err = ctl_send(t, &n, sizeof(n));
	if (!err)
		err = ctl_send(t, s, strlen(s));
	cJSON_free(s);
	return err;
}

static void ctl_close(struct ip3_test *t)
{
	t->cst = C_DEAD;
	t->close_after_flush = true;
	ctl_flush(t);
}

/* An abnormal end without a message (the real server just closes). */
static void ctl_end(struct ip3_test *t, const char *why)
{
	ip3_log(t, "ended: %s", why);
	test_teardown(t, true);
	ctl_close(t);
}

/* SERVER_ERROR, i_errno, errno (iperf_exchange_parameters), then close. */
static void ctl_fail(struct ip3_test *t, int ie, int err, const char *why)
{
	int32_t v[2] = { (int32_t)htonl((uint32_t)ie),
			 (int32_t)htonl((uint32_t)err) };

	ip3_log(t, "refused: %s (SERVER_ERROR i_errno=%d errno=%d)", why, ie,
		err);
	ctl_send_state(t, IP3_SERVER_ERROR);
	ctl_send(t, v, sizeof(v));
	test_teardown(t, true);
	ctl_close(t);
}

/* ---- data streams --------------------------------------------------- */

/* -O: the real server zeroes its counters when the omit timer fires
 * (server_omit_timer_proc -> iperf_reset_stats). There is no app timer
 * here, so each stream notes its count at its first callback after the
 * omit period; a stream with no callback since then moved no bytes in
 * the counted period. */
static void omit_check(struct ip3_stream *s)
{
	struct ip3_test *t = s->test;

	if (atomic_load_explicit(&t->state, memory_order_acquire) < T_RUNNING)
		return;
	if (mono_ns() < t->start_ns + t->omit_ns)
		return;
	atomic_store_explicit(&s->omit_base, s->local, memory_order_relaxed);
	atomic_store_explicit(&s->omit_done, true, memory_order_release);
	s->omit_pending = false;
}

/* Reverse and bidir: keep the send buffer full while the test runs
 * (iperf_send writes blocks of `len` while the stream is writable; the
 * stream is a byte stream, so block boundaries do not show on the wire). */
static void stream_fill(struct tundra_conn *c, struct ip3_stream *s)
{
	struct ip3_test *t = s->test;
	size_t space;

	if (atomic_load_explicit(&t->state, memory_order_acquire) != T_RUNNING)
		return;
	if (unlikely(s->omit_pending))
		omit_check(s);
	while ((space = tundra_conn_write_space(c)) > 0) {
		size_t n = MIN(space, sizeof(zeros));
		size_t w = tundra_conn_write(c, zeros, n);

		s->local += w;
		if (w < n)
			break;
	}
	atomic_store_explicit(&s->bytes, s->local, memory_order_relaxed);
}

static void stream_readable(struct tundra_conn *c, struct ip3_stream *s)
{
	struct iovec iov[2];
	size_t n = tundra_conn_peek(c, iov);

	if (n) {
		if (!s->sender) {
			if (unlikely(s->omit_pending))
				omit_check(s);
			s->local += n;
			atomic_store_explicit(&s->bytes, s->local,
					      memory_order_relaxed);
		}
		tundra_conn_consume(c, n);
	}
	/* The client closes its streams at the end (iperf_client_end). */
	if (tundra_conn_eof(c))
		tundra_conn_close(c);
}

static void call_stream_start(void *arg)
{
	struct ip3_stream *s = arg;
	struct ip3_test *t = s->test;

	if (s->conn)
		stream_fill(s->conn, s);
	test_unref(t);
}

static void call_streams_ready(void *arg);

static void iov_copy(const struct iovec iov[2], void *dst, size_t len)
{
	size_t a = MIN(len, iov[0].iov_len);

	memcpy(dst, iov[0].iov_base, a);
	if (len > a)
		memcpy((uint8_t *)dst + a, iov[1].iov_base, len - a);
}

static void deny(struct tundra_conn *c)
{
	int8_t b = IP3_ACCESS_DENIED;
	uint64_t *ad = tundra_conn_app_data(c);
	struct iovec iov[2];

	*ad = ad_make(NULL, K_DENIED, 0);
	tundra_conn_write(c, &b, 1);
	tundra_conn_close(c);
	tundra_conn_consume(c, tundra_conn_peek(c, iov));
}

/* make_cookie() draws 36 characters from a 32-letter alphabet and ends
 * them with a NUL. */
static bool cookie_ok(const uint8_t *ck)
{
	if (ck[IP3_COOKIE_SIZE - 1] != 0)
		return false;
	for (int i = 0; i < IP3_COOKIE_SIZE - 1; i++)
		if (ck[i] < 0x21 || ck[i] > 0x7e)
			return false;
	return true;
}

/* A connection that came in during CREATE_STREAMS: its cookie decides
 * (iperf_tcp_accept: a stranger's cookie gets ACCESS_DENIED). The bytes
 * are compared as they come (ad_got() counts them), so nothing
 * stays unread and a peer that stops short and sends FIN is seen. */
static void pending_readable(struct tundra_conn *c, struct ip3_test *t)
{
	struct iperf3_server *srv = t->srv;
	uint64_t *ad = tundra_conn_app_data(c);
	unsigned got = ad_got(*ad);
	uint8_t part[IP3_COOKIE_SIZE];
	struct iovec iov[2];
	struct ip3_stream *s = NULL;
	bool ready = false;
	size_t n = tundra_conn_peek(c, iov);
	size_t take = MIN(n, (size_t)(IP3_COOKIE_SIZE - got));

	if (take) {
		iov_copy(iov, part, take);
		tundra_conn_consume(c, take);
		/* t->cookie was set before T_CREATE, which this connection
		 * saw under the lock when it was accepted. */
		if (memcmp(part, t->cookie + got, take)) {
			deny(c);
			test_unref(t);
			return;
		}
		got += (unsigned)take;
		*ad = ad_make(t, K_PENDING, got);
	}
	if (got < IP3_COOKIE_SIZE) {
		if (tundra_conn_eof(c)) {
			*ad = ad_make(NULL, K_NONE, 0);
			tundra_conn_close(c);
			test_unref(t);
		}
		return;
	}

	pthread_mutex_lock(&srv->lock);
	if (atomic_load_explicit(&t->state, memory_order_relaxed) == T_CREATE &&
	    t->nattached < t->nexpected) {
		s = &t->streams[t->nattached++];
		s->conn = c;
		s->worker = tundra_conn_worker(c);
		atomic_store(&s->alive, true);
		ready = t->nattached == t->nexpected;
	}
	pthread_mutex_unlock(&srv->lock);

	if (!s) {
		deny(c); /* too late, or one stream too many */
		test_unref(t);
		return;
	}
	*ad = ad_make(s, K_STREAM, 0);
	if (ready)
		post(t, t->ctl_worker, call_streams_ready, t);
	stream_readable(c, s);
}

/* ---- control connection: input --------------------------------------- */

static bool json_num(const cJSON *j, const char *name, double min, double max,
		     double *v)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, name);

	if (!it)
		return true; /* absent: keep the default */
	if (!cJSON_IsNumber(it) || isnan(it->valuedouble) ||
	    it->valuedouble < min || it->valuedouble > max ||
	    it->valuedouble != floor(it->valuedouble))
		return false;
	*v = it->valuedouble;
	return true;
}

/* get_parameters: the client's settings. The server needs the protocol,
 * the stream count and direction, and omit; the rest (time, num, len,
 * window, MSS, bandwidth, ...) steer the client or socket options tundra
 * does not have per connection, and are checked for range only. */
static void handle_params(struct ip3_test *t, cJSON *j)
{
	struct iperf3_server *srv = t->srv;
	double parallel = 1, omit = 0, dur = 10, len = 128 * 1024, x = 0;
	bool ok;

	if (!cJSON_IsObject(j)) {
		ctl_fail(t, IE_RECVPARAMS, EINVAL,
			 "parameters are not a JSON object");
		return;
	}
	/* Only TCP: tundra has no UDP or SCTP. The real server answers a
	 * protocol it cannot listen on with SERVER_ERROR (IEPROTOCOL is
	 * set_protocol's error for a protocol it does not have). */
	if (cJSON_GetObjectItemCaseSensitive(j, "udp") ||
	    cJSON_GetObjectItemCaseSensitive(j, "sctp")) {
		ctl_fail(t, IE_PROTOCOL, EPROTONOSUPPORT,
			 cJSON_GetObjectItemCaseSensitive(j, "udp") ?
				 "UDP is not supported" :
				 "SCTP is not supported");
		return;
	}
	ok = json_num(j, "parallel", 1, IP3_MAX_STREAMS, &parallel) &&
	     json_num(j, "omit", 0, IP3_MAX_OMIT, &omit) &&
	     json_num(j, "time", 0, IP3_MAX_TIME, &dur) &&
	     json_num(j, "len", 1, IP3_MAX_BLOCKSIZE, &len) &&
	     json_num(j, "num", 0, 9007199254740992.0, &x) &&
	     json_num(j, "blockcount", 0, 9007199254740992.0, &x) &&
	     json_num(j, "window", 0, INT32_MAX, &x) &&
	     json_num(j, "MSS", 0, INT32_MAX, &x);
	t->reverse = cJSON_GetObjectItemCaseSensitive(j, "reverse") != NULL;
	t->bidir = cJSON_GetObjectItemCaseSensitive(j, "bidirectional") != NULL;
	if (!ok || (t->reverse && t->bidir)) {
		ctl_fail(t, IE_RECVPARAMS, EINVAL, "parameter out of range");
		return;
	}
	t->parallel = (unsigned)parallel;
	t->omit = (unsigned)omit;
	t->duration = (unsigned)dur;
	t->blksize = (unsigned)len;
	t->nexpected = t->parallel * (t->bidir ? 2 : 1);
	t->streams =
		aligned_alloc(CACHELINE, t->nexpected * sizeof(*t->streams));
	if (!t->streams) {
		ctl_fail(t, IE_RECVPARAMS, ENOMEM, "out of memory");
		return;
	}
	memset(t->streams, 0, t->nexpected * sizeof(*t->streams));
	for (unsigned i = 0; i < t->nexpected; i++) {
		struct ip3_stream *s = &t->streams[i];

		s->test = t;
		s->id = i == 0 ? 1 : (int)i + 2; /* iperf_add_stream */
		/* iperf_run_server: with --bidir the first N accepted
		 * streams are the server's receivers, the next N its
		 * senders (the client creates its senders first). */
		s->sender = t->bidir ? i >= t->parallel : t->reverse;
		s->omit_pending = t->omit > 0;
	}
	pthread_mutex_lock(&srv->lock);
	atomic_store_explicit(&t->state, T_CREATE, memory_order_release);
	pthread_mutex_unlock(&srv->lock);
	t->cst = C_STATE;
	ctl_send_state(t, IP3_CREATE_STREAMS);
}

/* Every stream is connected: TEST_START, TEST_RUNNING (iperf_run_server
 * sends both back to back), and the server's senders start. */
static void call_streams_ready(void *arg)
{
	struct ip3_test *t = arg;
	struct iperf3_server *srv = t->srv;

	if (t->ctl && !t->torn &&
	    atomic_load_explicit(&t->state, memory_order_relaxed) == T_CREATE) {
		getrusage(RUSAGE_SELF, &t->ru0);
		t->start_ns = mono_ns();
		t->omit_ns = (uint64_t)t->omit * 1000000000ull;
		pthread_mutex_lock(&srv->lock);
		atomic_store_explicit(&t->state, T_RUNNING,
				      memory_order_release);
		pthread_mutex_unlock(&srv->lock);
		ctl_send_state(t, IP3_TEST_START);
		ctl_send_state(t, IP3_TEST_RUNNING);
		ip3_log(t,
			"running: %s, %u stream%s, from a client "
			"asking for %u s (omit %u s)",
			mode_name(t), t->nexpected, t->nexpected > 1 ? "s" : "",
			t->duration, t->omit);
		for (unsigned i = 0; i < t->nexpected; i++)
			if (t->streams[i].sender)
				post(t, t->streams[i].worker, call_stream_start,
				     &t->streams[i]);
	}
	test_unref(t);
}

static double tv_s(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* TEST_END: the counters as they stand now are the results (the real
 * server runs its stats callback here and stops its streams). */
static void handle_test_end(struct ip3_test *t)
{
	struct rusage ru;
	double wall;

	t->end_ns = mono_ns();
	pthread_mutex_lock(&t->srv->lock);
	atomic_store_explicit(&t->state, T_ENDED, memory_order_release);
	pthread_mutex_unlock(&t->srv->lock);
	for (unsigned i = 0; i < t->nexpected; i++) {
		struct ip3_stream *s = &t->streams[i];
		uint64_t b =
			atomic_load_explicit(&s->bytes, memory_order_relaxed);
		uint64_t base = 0;

		if (t->omit)
			base = atomic_load_explicit(&s->omit_done,
						    memory_order_acquire) ?
				       atomic_load_explicit(
					       &s->omit_base,
					       memory_order_relaxed) :
				       b;
		s->final = b - MIN(base, b);
	}
	post_streams(t, call_stream_stop);
	/* cpu_util(): process user+system time over wall time, percent. */
	getrusage(RUSAGE_SELF, &ru);
	wall = (double)(t->end_ns - t->start_ns) / 1e9;
	if (wall > 0) {
		double u = tv_s(&ru.ru_utime) - tv_s(&t->ru0.ru_utime);
		double s = tv_s(&ru.ru_stime) - tv_s(&t->ru0.ru_stime);

		t->cpu[1] = 100.0 * u / wall;
		t->cpu[2] = 100.0 * s / wall;
		t->cpu[0] = t->cpu[1] + t->cpu[2];
	}
	t->cst = C_RESULTS_LEN;
	ctl_send_state(t, IP3_EXCHANGE_RESULTS);
}

/* The seconds the results cover: from TEST_START, or from the end of the
 * omit period. */
static double counted_secs(const struct ip3_test *t)
{
	uint64_t from = t->start_ns + t->omit_ns;

	return t->end_ns > from ? (double)(t->end_ns - from) / 1e9 : 0.0;
}

/* send_results: what the client merges into its summary. Receiver bytes
 * are what tundra's connections received; sender bytes what was queued. */
static void handle_results(struct ip3_test *t, cJSON *client)
{
	cJSON *j, *arr;
	uint64_t rx = 0, tx = 0;
	double secs = counted_secs(t);
	bool ok;

	if (!cJSON_IsObject(client) ||
	    !cJSON_IsArray(
		    cJSON_GetObjectItemCaseSensitive(client, "streams"))) {
		ctl_fail(t, IE_RECVRESULTS, EINVAL,
			 "client results are not a JSON object with streams");
		return;
	}
	j = cJSON_CreateObject();
	ok = j && cJSON_AddNumberToObject(j, "cpu_util_total", t->cpu[0]) &&
	     cJSON_AddNumberToObject(j, "cpu_util_user", t->cpu[1]) &&
	     cJSON_AddNumberToObject(j, "cpu_util_system", t->cpu[2]) &&
	     /* -1 when the server only receives; tundra reports no
	      * per-connection retransmits, like a host without TCP_INFO,
	      * so 0 otherwise and -1 per stream. */
	     cJSON_AddNumberToObject(j, "sender_has_retransmits",
				     !t->reverse && !t->bidir ? -1 : 0);
	arr = ok ? cJSON_AddArrayToObject(j, "streams") : NULL;
	ok = arr != NULL;
	for (unsigned i = 0; ok && i < t->nexpected; i++) {
		const struct ip3_stream *s = &t->streams[i];
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			ok = false;
			break;
		}
		ok = cJSON_AddNumberToObject(o, "id", s->id) &&
		     cJSON_AddNumberToObject(o, "bytes", (double)s->final) &&
		     cJSON_AddNumberToObject(o, "retransmits", -1) &&
		     cJSON_AddNumberToObject(o, "jitter", 0) &&
		     cJSON_AddNumberToObject(o, "errors", 0) &&
		     cJSON_AddNumberToObject(o, "packets", 0) &&
		     cJSON_AddNumberToObject(o, "start_time", 0) &&
		     cJSON_AddNumberToObject(o, "end_time", secs);
		if (s->sender)
			tx += s->final;
		else
			rx += s->final;
	}
	if (!ok || ctl_send_json(t, j)) {
		cJSON_Delete(j);
		ctl_fail(t, IE_PACKAGERESULTS, ENOMEM, "cannot build results");
		return;
	}
	cJSON_Delete(j);
	ctl_send_state(t, IP3_DISPLAY_RESULTS);
	t->results_sent = true;
	t->cst = C_STATE;
	ip3_log(t,
		"done: %s, %u stream%s, %.2f s, received %" PRIu64
		" bytes (%.2f Gbit/s), sent %" PRIu64 " bytes (%.2f Gbit/s)",
		mode_name(t), t->nexpected, t->nexpected > 1 ? "s" : "", secs,
		rx, secs > 0 ? (double)rx * 8 / secs / 1e9 : 0.0, tx,
		secs > 0 ? (double)tx * 8 / secs / 1e9 : 0.0);
	/* The test is over: the server takes the next client now, not at
	 * IPERF_DONE. The client sends IPERF_DONE and exits as soon as it
	 * has these results, so a script's next `iperf3 -c` may connect
	 * before this worker has read that byte (busy with the streams'
	 * closes, say), and would be told the server is busy; stock
	 * iperf3 has the same window. IPERF_DONE, when it comes, finds
	 * the test torn down already. */
	test_teardown(t, false);
}

/* One state byte from the client (iperf_handle_message_server). */
static void handle_state(struct ip3_test *t, int8_t b)
{
	int st = atomic_load_explicit(&t->state, memory_order_relaxed);
	char why[64];

	switch (b) {
	case IP3_TEST_START:
		break; /* accepted and ignored, as by the real server */
	case IP3_TEST_END:
		if (st == T_RUNNING)
			handle_test_end(t);
		else
			ctl_end(t, "TEST_END before the test ran");
		break;
	case IP3_IPERF_DONE:
		if (t->results_sent) {
			test_teardown(t, false);
			t->cst = C_DEAD; /* the client closes next */
		} else {
			ctl_end(t, "IPERF_DONE before the results");
		}
		break;
	case IP3_CLIENT_TERMINATE:
		ctl_end(t, "the client has terminated");
		break;
	default:
		snprintf(why, sizeof(why), "unknown control message %d", b);
		ctl_end(t, why);
		break;
	}
}

/* A length-prefixed JSON message is complete in t->jbuf. */
static void json_done(struct ip3_test *t)
{
	cJSON *j = cJSON_ParseWithLength(t->jbuf, t->jlen);
	int cst = t->cst;

	free(t->jbuf);
	t->jbuf = NULL;
	if (!j) {
		if (cst == C_PARAM_JSON)
			ctl_fail(t, IE_RECVPARAMS, EINVAL,
				 "invalid parameter JSON");
		else
			ctl_fail(t, IE_RECVRESULTS, EINVAL,
				 "invalid results JSON");
		return;
	}
	if (cst == C_PARAM_JSON)
		handle_params(t, j);
	else
		handle_results(t, j);
	cJSON_Delete(j);
}

static void json_start(struct ip3_test *t, const uint8_t *hdr, int next)
{
	uint32_t len;

	memcpy(&len, hdr, 4);
	len = ntohl(len);
	if (len == 0 || len > IP3_MAX_JSON) {
		char why[64];

		snprintf(why, sizeof(why), "JSON length %" PRIu32 " (limit %d)",
			 len, IP3_MAX_JSON);
		ctl_fail(t,
			 next == C_PARAM_JSON ? IE_RECVPARAMS : IE_RECVRESULTS,
			 EMSGSIZE, why);
		return;
	}
	t->jbuf = malloc(len);
	if (!t->jbuf) {
		ctl_fail(t, IE_RECVPARAMS, ENOMEM, "out of memory");
		return;
	}
	t->jlen = len;
	t->jgot = 0;
	t->cst = next;
}

static void ctl_readable(struct tundra_conn *c, struct ip3_test *t)
{
	struct iovec iov[2];
	size_t n;

	for (;;) {
		n = tundra_conn_peek(c, iov);
		if (!n || t->cst == C_DEAD) {
			tundra_conn_consume(c, n);
			break;
		}
		if (t->cst == C_PARAM_JSON || t->cst == C_RESULTS_JSON) {
			size_t take = MIN(n, (size_t)(t->jlen - t->jgot));

			iov_copy(iov, t->jbuf + t->jgot, take);
			tundra_conn_consume(c, take);
			t->jgot += (uint32_t)take;
			if (t->jgot == t->jlen)
				json_done(t);
			continue;
		}
		/* Fixed-size pieces are gathered in t->hdr, so every byte
		 * is consumed and a FIN after a partial piece shows. */
		size_t need = t->cst == C_COOKIE ? IP3_COOKIE_SIZE :
			      t->cst == C_STATE	 ? 1 :
						   4;
		size_t take = MIN(n, need - t->hgot);

		iov_copy(iov, t->hdr + t->hgot, take);
		tundra_conn_consume(c, take);
		t->hgot += (unsigned)take;
		if (t->hgot < need)
			continue;
		t->hgot = 0;
		switch (t->cst) {
		case C_COOKIE:
			if (!cookie_ok(t->hdr)) {
				ctl_fail(t, IE_RECVCOOKIE, EINVAL,
					 "malformed cookie");
				break;
			}
			memcpy(t->cookie, t->hdr, IP3_COOKIE_SIZE);
			t->cst = C_PARAM_LEN;
			ctl_send_state(t, IP3_PARAM_EXCHANGE);
			break;
		case C_PARAM_LEN:
			json_start(t, t->hdr, C_PARAM_JSON);
			break;
		case C_RESULTS_LEN:
			json_start(t, t->hdr, C_RESULTS_JSON);
			break;
		case C_STATE:
			handle_state(t, (int8_t)t->hdr[0]);
			break;
		}
	}
	if (tundra_conn_eof(c)) {
		if (!t->torn)
			/* iperf_handle_message_server: "the client has
			 * unexpectedly closed the connection". */
			ctl_end(t, "the client closed the control connection");
		else
			tundra_conn_close(c);
	}
}

/* ---- the app ------------------------------------------------------- */

static struct ip3_test *test_new(struct iperf3_server *srv)
{
	struct ip3_test *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->srv = srv;
	atomic_init(&t->refs, 2); /* the active slot, the control conn */
	atomic_init(&t->state, T_PARAMS);
	t->cst = C_COOKIE;
	return t;
}

static int ip3_accepted(struct tundra_conn *c, void *arg)
{
	struct iperf3_server *srv = arg;
	uint64_t *ad = tundra_conn_app_data(c);
	struct ip3_test *fresh = test_new(srv), *t;
	int kind;

	pthread_mutex_lock(&srv->lock);
	t = srv->active;
	if (!t && fresh) {
		/* iperf_accept: the server is free; this is a control
		 * connection. */
		t = fresh;
		fresh = NULL;
		t->no = ++srv->ntests;
		t->next = srv->tests;
		if (t->next)
			t->next->pprev = &t->next;
		t->pprev = &srv->tests;
		srv->tests = t;
		srv->active = t;
		kind = K_CTRL;
	} else if (t && atomic_load_explicit(&t->state, memory_order_relaxed) ==
				T_CREATE) {
		test_ref(t);
		kind = K_PENDING;
	} else {
		kind = t ? K_DENIED : K_NONE;
	}
	pthread_mutex_unlock(&srv->lock);
	free(fresh);

	switch (kind) {
	case K_CTRL:
		t->ctl = c;
		t->ctl_worker = tundra_conn_worker(c);
		/* State bytes go out one at a time; Nagle would hold the
		 * second of TEST_START, TEST_RUNNING for an ACK. */
		tundra_conn_set_nodelay(c, true);
		/* A client that vanishes without FIN or RST (its host gone)
		 * would hold the server for ever: probe after 30 s idle. */
		tundra_conn_set_keepalive(c, 30000, 5000, 4);
		*ad = ad_make(t, K_CTRL, 0);
		return 0;
	case K_PENDING:
		*ad = ad_make(t, K_PENDING, 0);
		return 0;
	case K_DENIED:
		/* "Don't try to read from the socket. It could block an
		 * ongoing test. Just send ACCESS_DENIED." */
		deny(c);
		return 0;
	default:
		return -ENOMEM;
	}
}

static void ip3_readable(struct tundra_conn *c)
{
	uint64_t *ad = tundra_conn_app_data(c);
	struct iovec iov[2];

	switch (ad_kind(*ad)) {
	case K_STREAM:
		stream_readable(c, ad_ptr(*ad));
		break;
	case K_CTRL:
		ctl_readable(c, ad_ptr(*ad));
		break;
	case K_PENDING:
		pending_readable(c, ad_ptr(*ad));
		break;
	default:
		tundra_conn_consume(c, tundra_conn_peek(c, iov));
		if (tundra_conn_eof(c))
			tundra_conn_close(c);
		break;
	}
}

static void ip3_writable(struct tundra_conn *c)
{
	uint64_t *ad = tundra_conn_app_data(c);

	if (ad_kind(*ad) == K_STREAM) {
		struct ip3_stream *s = ad_ptr(*ad);

		if (s->sender)
			stream_fill(c, s);
	} else if (ad_kind(*ad) == K_CTRL) {
		ctl_flush(ad_ptr(*ad));
	}
}

static void ip3_closed(struct tundra_conn *c, int err)
{
	uint64_t *ad = tundra_conn_app_data(c);
	struct ip3_test *t;
	struct ip3_stream *s;

	switch (ad_kind(*ad)) {
	case K_STREAM:
		s = ad_ptr(*ad);
		s->conn = NULL;
		atomic_store(&s->alive, false);
		test_unref(s->test);
		break;
	case K_PENDING:
		test_unref(ad_ptr(*ad));
		break;
	case K_CTRL:
		t = ad_ptr(*ad);
		t->ctl = NULL;
		/* Mid-test: end it and reset its streams. After a normal
		 * end the streams were half-closed at TEST_END and finish
		 * on their own (the client's kernel may still be sending
		 * what the client wrote before TEST_END). */
		if (!t->torn) {
			ip3_log(t, "ended: control connection %s",
				err ? strerror(-err) : "closed");
			test_teardown(t, true);
		}
		test_unref(t);
		break;
	default:
		break;
	}
	*ad = ad_make(NULL, K_NONE, 0);
}

const struct tundra_app app_iperf3 = {
	.name = "iperf3",
	.accepted = ip3_accepted,
	.readable = ip3_readable,
	.writable = ip3_writable,
	.closed = ip3_closed,
};

int iperf3_server_create(struct iperf3_server **out, struct tundra *t,
			 FILE *log)
{
	struct iperf3_server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->t = t;
	s->log = log;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void iperf3_server_destroy(struct iperf3_server *s)
{
	if (!s)
		return;
	/* The stack is gone: connections were freed without a closed
	 * callback, so the tests they referenced are freed here. */
	while (s->tests) {
		struct ip3_test *t = s->tests;

		s->tests = t->next;
		test_free(t);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}
