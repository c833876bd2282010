/*
 * loadgen.c — kernel-socket load generator and reference server for tundra.
 *
 * Client modes drive tundra's built-in servers (echo 7, discard 9,
 * source 19) through the kernel's TCP; the server mode provides the same
 * three services on kernel sockets, for the kernel-to-kernel baseline over
 * a veth pair. Every run is bounded by --timeout and ends with one line:
 *
 *   result mode=M bytes=N secs=S gbps=G conns=C ok=0|1 [...]
 *
 * The exit status is 0 only when every byte was delivered and, where the
 * mode checks content, verified.
 *
 * rr, crr and hold measure request/response latency, connection rate and
 * the cost of many idle connections against an echo server; they add
 * key=value pairs (tps=, cps=, p50_us=, ..., errors=, rss_bytes_per_conn=)
 * to the result line. bench/run.sh drives them.
 *
 * Client modes run one thread over one epoll set of nonblocking sockets;
 * the server runs one thread per accepted connection with blocking I/O, or
 * with --epoll one thread over nonblocking sockets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The source pattern shared with tundra: byte i of a stream is i % 251. */
#define SRC_PERIOD 251u
/* A buffer of whole periods, so any offset can start a long slice. */
#define SRC_BUF_LEN (SRC_PERIOD * 2048u)

#define DEFAULT_CHUNK (64u * 1024u)
#define MAX_CHUNK (16u * 1024u * 1024u)

enum lg_mode {
	MODE_NONE,
	MODE_ECHO,
	MODE_SEND,
	MODE_RECV,
	MODE_REFUSED,
	MODE_SERVER,
	MODE_RR,
	MODE_CRR,
	MODE_HOLD,
};

enum srv_kind {
	SRV_NONE,
	SRV_DISCARD,
	SRV_ECHO,
	SRV_SOURCE,
};

struct lg_opts {
	enum lg_mode mode;
	const char *mode_name;
	const char *host;
	const char *port;
	uint64_t bytes;
	bool bytes_set;
	unsigned int conns;
	size_t chunk;
	double timeout;
	bool verify_pattern;
	enum srv_kind srv;
	const char *srv_name;
	unsigned long seed;
	/* rr, crr, hold */
	size_t size;	 /* request bytes per transaction */
	double duration; /* seconds of load (0: use count) */
	uint64_t count;	 /* transactions (0: use duration) */
	double hold;	 /* hold: seconds to hold the connections */
	const char *hold_file; /* hold: and until this file exists */
	long server_pid; /* hold: server whose VmRSS is read (0: none) */
	const char *src; /* crr, hold: source addresses to bind to */
	bool rst;	 /* hold: close with RST (SO_LINGER 0) */
	bool epoll;	 /* server: one epoll thread, not a thread per conn */
};

/* ---- small helpers ---------------------------------------------------- */

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void print_result(const struct lg_opts *o, uint64_t bytes, double secs,
			 unsigned int conns, bool ok, const char *extra)
{
	double gbps = secs > 0 ? (double)bytes * 8.0 / secs / 1e9 : 0.0;

	printf("result mode=%s bytes=%" PRIu64
	       " secs=%.3f gbps=%.2f conns=%u ok=%d%s%s\n",
	       o->mode_name, bytes, secs, gbps, conns, ok ? 1 : 0,
	       extra && *extra ? " " : "", extra ? extra : "");
	fflush(stdout);
}

/*
 * Parse a byte count: a decimal number with an optional binary suffix
 * (K, M, G, T; "KiB" and "KB" are accepted and mean the same).
 */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		mult = 1ull << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mult = 1ull << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mult = 1ull << 30;
		end++;
		break;
	case 't':
	case 'T':
		mult = 1ull << 40;
		end++;
		break;
	default:
		break;
	}
	if (mult != 1 && (*end == 'i' || *end == 'I'))
		end++;
	if (mult != 1 && (*end == 'b' || *end == 'B'))
		end++;
	if (*end)
		return -1;
	if (v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

static int resolve(const struct lg_opts *o, bool passive,
		   struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct addrinfo hints, *res;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	rc = getaddrinfo(o->host, o->port, &hints, &res);
	if (rc) {
		msg("cannot resolve %s port %s: %s", o->host ? o->host : "*",
		    o->port, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* ---- patterns --------------------------------------------------------- */

static uint8_t src_buf[SRC_BUF_LEN];

static void src_buf_init(void)
{
	for (size_t i = 0; i < SRC_BUF_LEN; i++)
		src_buf[i] = (uint8_t)(i % SRC_PERIOD);
}

/* A slice of the source pattern at stream offset @off, at most @max long. */
static const uint8_t *src_slice(uint64_t off, size_t max, size_t *len)
{
	size_t start = (size_t)(off % SRC_PERIOD);
	size_t avail = SRC_BUF_LEN - start;

	*len = max < avail ? max : avail;
	return src_buf + start;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * The echo pattern: a pseudo-random stream per connection, addressable by
 * offset so that a short write or read needs no saved generator state.
 * Word w of connection c is splitmix64(seed_c + w), in little-endian bytes.
 */
static void rnd_fill(uint64_t seed, uint64_t off, uint8_t *dst, size_t len)
{
	uint64_t w = off / 8;
	size_t skip = (size_t)(off % 8);

	while (len) {
		uint64_t v = splitmix64(seed + w);
		uint8_t b[8];
		size_t n;

		for (int i = 0; i < 8; i++)
			b[i] = (uint8_t)(v >> (8 * i));
		n = 8 - skip;
		if (n > len)
			n = len;
		memcpy(dst, b + skip, n);
		dst += n;
		len -= n;
		skip = 0;
		w++;
	}
}

/* ---- client engine ---------------------------------------------------- */

enum conn_state {
	CS_CONNECTING,
	CS_RUNNING,  /* moving the payload */
	CS_WAIT_EOF, /* our side is done (SHUT_WR sent); waiting for FIN */
	CS_DONE,
	CS_FAILED,
};

struct conn {
	int fd;
	unsigned int id;
	enum conn_state state;
	uint64_t seed;
	uint64_t sent;
	uint64_t rcvd;
	uint32_t events; /* what epoll currently watches */
};

struct client {
	const struct lg_opts *o;
	int ep;
	struct conn *conns;
	unsigned int n_done;
	unsigned int n_failed;
	unsigned int n_open; /* sockets not yet closed */
	uint8_t *txbuf;
	uint8_t *rxbuf;
	uint8_t *expbuf;
	uint64_t mismatches;
};

static void conn_fail(struct client *cl, struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void conn_fail(struct client *cl, struct conn *c, const char *fmt, ...)
{
	va_list ap;

	/* Report the first few failures in full; a flood tells nothing more. */
	if (cl->n_failed < 5) {
		fprintf(stderr, "loadgen: conn %u: ", c->id);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fprintf(stderr, " (sent=%" PRIu64 " rcvd=%" PRIu64 ")\n",
			c->sent, c->rcvd);
	} else if (cl->n_failed == 5) {
		msg("further connection failures not shown");
	}
	c->state = CS_FAILED;
	cl->n_failed++;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
		cl->n_open--;
	}
}

static void conn_finish(struct client *cl, struct conn *c)
{
	c->state = CS_DONE;
	cl->n_done++;
	close(c->fd);
	c->fd = -1;
	cl->n_open--;
}

static int conn_watch(struct client *cl, struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (ev == c->events)
		return 0;
	if (epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
		return -errno;
	c->events = ev;
	return 0;
}

/* --cc: the congestion control every socket uses (TCP_CONGESTION), so a
 * kernel baseline does not change algorithm with the host's default; root
 * may pick any available one, whatever tcp_allowed_congestion_control
 * says. NULL: the namespace's default. */
static const char *cc_name;

/* A TCP socket of the given family (flags: SOCK_NONBLOCK etc.), with the
 * --cc congestion control (accepted sockets inherit a listener's); -1,
 * with a message, on failure. */
static int tcp_socket(int family, int flags)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);

	if (fd < 0) {
		msg("socket: %s", strerror(errno));
		return -1;
	}
	if (cc_name && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc_name,
				  (socklen_t)strlen(cc_name)) < 0) {
		msg("--cc %s: %s", cc_name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int conn_open(struct client *cl, struct conn *c,
		     const struct sockaddr_storage *ss, socklen_t sslen)
{
	struct epoll_event e;
	int fd, one = 1;

	fd = tcp_socket(ss->ss_family, SOCK_NONBLOCK);
	if (fd < 0)
		return -1;
	if (cl->o->mode == MODE_ECHO)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	cl->n_open++;
	c->state = CS_CONNECTING;
	if (connect(fd, (const struct sockaddr *)ss, sslen) < 0 &&
	    errno != EINPROGRESS) {
		conn_fail(cl, c, "connect: %s", strerror(errno));
		return 0;
	}
	e.events = EPOLLOUT;
	e.data.ptr = c;
	if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
		msg("epoll_ctl: %s", strerror(errno));
		return -1;
	}
	c->events = EPOLLOUT;
	return 0;
}

/* Data still to send on @c in this mode. */
static uint64_t conn_tx_left(const struct client *cl, const struct conn *c)
{
	if (cl->o->mode == MODE_RECV)
		return 0;
	return cl->o->bytes - c->sent;
}

/* Our side has nothing more to say: half-close and wait for the peer's FIN. */
static void conn_shut(struct client *cl, struct conn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_fail(cl, c, "shutdown: %s", strerror(errno));
		return;
	}
	c->state = CS_WAIT_EOF;
}

static void conn_do_write(struct client *cl, struct conn *c)
{
	const struct lg_opts *o = cl->o;

	while (c->state == CS_RUNNING && conn_tx_left(cl, c) > 0) {
		uint64_t left = conn_tx_left(cl, c);
		size_t len = left < o->chunk ? (size_t)left : o->chunk;
		const uint8_t *p;
		ssize_t n;

		if (o->mode == MODE_ECHO) {
			/*
			 * Do not run far ahead of the echo: the peer's reply
			 * buffer is finite and so is ours.
			 */
			uint64_t ahead = c->sent - c->rcvd;

			if (ahead >= 4 * (uint64_t)o->chunk + (1u << 20))
				break;
			rnd_fill(c->seed, c->sent, cl->txbuf, len);
			p = cl->txbuf;
		} else {
			p = src_slice(c->sent, len, &len);
		}
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_fail(cl, c, "send: %s", strerror(errno));
			return;
		}
		c->sent += (uint64_t)n;
	}
	/* send: everything is out, say so. echo: wait for the echo first. */
	if (c->state == CS_RUNNING && o->mode == MODE_SEND &&
	    conn_tx_left(cl, c) == 0)
		conn_shut(cl, c);
}

static bool conn_verify(struct client *cl, struct conn *c, const uint8_t *buf,
			size_t len)
{
	const struct lg_opts *o = cl->o;
	size_t done = 0;

	if (o->mode == MODE_ECHO) {
		rnd_fill(c->seed, c->rcvd, cl->expbuf, len);
		if (memcmp(buf, cl->expbuf, len) == 0)
			return true;
		while (buf[done] == cl->expbuf[done])
			done++;
		conn_fail(cl, c,
			  "echo mismatch at stream offset %" PRIu64
			  ": got 0x%02x, expected 0x%02x",
			  c->rcvd + done, buf[done], cl->expbuf[done]);
		cl->mismatches++;
		return false;
	}
	if (o->mode == MODE_RECV && o->verify_pattern) {
		while (done < len) {
			size_t n;
			const uint8_t *exp =
				src_slice(c->rcvd + done, len - done, &n);

			if (memcmp(buf + done, exp, n)) {
				size_t i = 0;

				while (buf[done + i] == exp[i])
					i++;
				conn_fail(
					cl, c,
					"source pattern mismatch at stream offset %" PRIu64
					": got 0x%02x, expected 0x%02x",
					c->rcvd + done + i, buf[done + i],
					exp[i]);
				cl->mismatches++;
				return false;
			}
			done += n;
		}
	}
	return true;
}

static void conn_do_read(struct client *cl, struct conn *c)
{
	const struct lg_opts *o = cl->o;

	for (;;) {
		size_t want = o->chunk;
		ssize_t n;

		if (c->state == CS_RUNNING && o->mode != MODE_SEND) {
			uint64_t left = o->bytes - c->rcvd;

			if (left == 0)
				break;
			if (left < want)
				want = (size_t)left;
		}
		n = recv(c->fd, cl->rxbuf, want, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_fail(cl, c, "recv: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			if (c->state == CS_WAIT_EOF) {
				conn_finish(cl, c);
			} else if (o->mode == MODE_SEND) {
				conn_fail(cl, c,
					  "peer closed before all %" PRIu64
					  " bytes were sent",
					  o->bytes);
			} else {
				conn_fail(cl, c,
					  "unexpected EOF after %" PRIu64
					  " of %" PRIu64 " bytes",
					  c->rcvd, o->bytes);
			}
			return;
		}
		if (c->state == CS_WAIT_EOF || o->mode == MODE_SEND) {
			conn_fail(cl, c, "%zd unexpected bytes from the peer",
				  n);
			return;
		}
		if (!conn_verify(cl, c, cl->rxbuf, (size_t)n))
			return;
		c->rcvd += (uint64_t)n;
	}
	if (c->rcvd == o->bytes && c->state == CS_RUNNING) {
		if (o->mode == MODE_RECV)
			conn_finish(cl, c);
		else if (o->mode == MODE_ECHO && c->sent == o->bytes)
			conn_shut(cl, c);
	}
}

static void conn_event(struct client *cl, struct conn *c, uint32_t ev)
{
	uint32_t want;

	if (c->state == CS_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			conn_fail(cl, c, "connect: %s", strerror(err));
			return;
		}
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		c->state = CS_RUNNING;
		if (cl->o->mode == MODE_SEND && cl->o->bytes == 0)
			conn_shut(cl, c);
		else if (cl->o->mode == MODE_ECHO && cl->o->bytes == 0)
			conn_shut(cl, c);
		else if (cl->o->mode == MODE_RECV && cl->o->bytes == 0) {
			conn_finish(cl, c);
			return;
		}
	}
	if (c->state == CS_RUNNING && (ev & EPOLLOUT))
		conn_do_write(cl, c);
	if ((c->state == CS_RUNNING || c->state == CS_WAIT_EOF) &&
	    (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
		conn_do_read(cl, c);
	/* Echo: the reads may have opened the window for more writes. */
	if (c->state == CS_RUNNING && cl->o->mode == MODE_ECHO)
		conn_do_write(cl, c);
	if (c->state != CS_RUNNING && c->state != CS_WAIT_EOF)
		return;
	want = EPOLLIN | EPOLLRDHUP;
	if (c->state == CS_RUNNING && conn_tx_left(cl, c) > 0)
		want |= EPOLLOUT;
	if (conn_watch(cl, c, want) < 0)
		conn_fail(cl, c, "epoll_ctl: %s", strerror(errno));
}

static int run_client(const struct lg_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct client cl;
	struct epoll_event *evs;
	double t0, deadline, secs;
	uint64_t total = 0;
	unsigned int max_ev = o->conns < 1024 ? o->conns : 1024;
	bool ok, timed_out = false;
	char extra[160];

	if (resolve(o, false, &ss, &sslen) < 0)
		return 1;
	memset(&cl, 0, sizeof(cl));
	cl.o = o;
	cl.ep = epoll_create1(EPOLL_CLOEXEC);
	cl.conns = calloc(o->conns, sizeof(*cl.conns));
	cl.txbuf = malloc(o->chunk);
	cl.rxbuf = malloc(o->chunk);
	cl.expbuf = malloc(o->chunk);
	evs = calloc(max_ev, sizeof(*evs));
	if (cl.ep < 0 || !cl.conns || !cl.txbuf || !cl.rxbuf || !cl.expbuf ||
	    !evs) {
		msg("out of memory or epoll_create1 failed");
		return 1;
	}

	t0 = now_sec();
	deadline = t0 + o->timeout;
	for (unsigned int i = 0; i < o->conns; i++) {
		struct conn *c = &cl.conns[i];

		c->id = i;
		c->fd = -1;
		c->seed = splitmix64(((uint64_t)o->seed << 32) ^ i) ^
			  ((uint64_t)i << 40);
		if (conn_open(&cl, c, &ss, sslen) < 0)
			return 1;
	}

	while (cl.n_done + cl.n_failed < o->conns) {
		double left = deadline - now_sec();
		int n;

		if (left <= 0) {
			timed_out = true;
			break;
		}
		n = epoll_wait(cl.ep, evs, (int)max_ev,
			       left > 1.0 ? 1000 : (int)(left * 1000) + 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			msg("epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->state == CS_DONE || c->state == CS_FAILED)
				continue;
			conn_event(&cl, c, evs[i].events);
		}
	}
	secs = now_sec() - t0;

	if (timed_out) {
		unsigned int counts[CS_FAILED + 1] = { 0 };

		for (unsigned int i = 0; i < o->conns; i++)
			counts[cl.conns[i].state]++;
		msg("timeout after %.0f s: %u/%u connections done, %u failed, "
		    "%u connecting, %u transferring, %u waiting for FIN",
		    o->timeout, cl.n_done, o->conns, cl.n_failed,
		    counts[CS_CONNECTING], counts[CS_RUNNING],
		    counts[CS_WAIT_EOF]);
		for (unsigned int i = 0, shown = 0; i < o->conns && shown < 3;
		     i++) {
			struct conn *c = &cl.conns[i];

			if (c->state == CS_DONE || c->state == CS_FAILED)
				continue;
			msg("  conn %u: state=%d sent=%" PRIu64
			    " rcvd=%" PRIu64,
			    c->id, c->state, c->sent, c->rcvd);
			shown++;
		}
	}
	for (unsigned int i = 0; i < o->conns; i++) {
		struct conn *c = &cl.conns[i];

		total += o->mode == MODE_SEND ? c->sent : c->rcvd;
		if (c->fd >= 0)
			close(c->fd);
	}
	ok = !timed_out && cl.n_failed == 0 && cl.n_done == o->conns;
	snprintf(extra, sizeof(extra), "failed=%u mismatches=%" PRIu64 "%s%s",
		 cl.n_failed, cl.mismatches,
		 o->mode == MODE_RECV ?
			 (o->verify_pattern ? " verified=1" : " verified=0") :
		 o->mode == MODE_ECHO ? " verified=1" :
					"",
		 timed_out ? " timeout=1" : "");
	print_result(o, total, secs, o->conns, ok, extra);
	close(cl.ep);
	free(cl.conns);
	free(cl.txbuf);
	free(cl.rxbuf);
	free(cl.expbuf);
	free(evs);
	return ok ? 0 : 1;
}

/* ---- refused ---------------------------------------------------------- */

static int run_refused(const struct lg_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct pollfd pfd;
	double t0 = now_sec(), secs;
	int fd, err = 0, rc;
	socklen_t len = sizeof(err);
	char extra[96];

	if (resolve(o, false, &ss, &sslen) < 0)
		return 1;
	fd = tcp_socket(ss.ss_family, SOCK_NONBLOCK);
	if (fd < 0)
		return 1;
	if (connect(fd, (struct sockaddr *)&ss, sslen) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto done;
		}
	} else {
		goto done; /* connected at once: err stays 0 */
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do {
		double left = t0 + o->timeout - now_sec();

		if (left <= 0) {
			rc = 0;
			break;
		}
		rc = poll(&pfd, 1, (int)(left * 1000) + 1);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		msg("poll: %s", strerror(errno));
		close(fd);
		return 1;
	}
	if (rc == 0) {
		secs = now_sec() - t0;
		msg("timeout after %.0f s: no answer to the SYN (expected RST)",
		    o->timeout);
		print_result(o, 0, secs, 1, false, "error=ETIMEDOUT timeout=1");
		close(fd);
		return 1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
done:
	secs = now_sec() - t0;
	close(fd);
	if (err == ECONNREFUSED) {
		print_result(o, 0, secs, 1, true, "error=ECONNREFUSED");
		return 0;
	}
	if (err == 0)
		msg("connection to %s port %s succeeded; expected ECONNREFUSED",
		    o->host, o->port);
	else
		msg("connect failed with %s; expected ECONNREFUSED",
		    strerror(err));
	snprintf(extra, sizeof(extra), "error=%s",
		 err ? strerrorname_np(err) : "none");
	print_result(o, 0, secs, 1, false, extra);
	return 1;
}

/* ---- server ----------------------------------------------------------- */

struct srv_stats {
	pthread_mutex_t lock;
	uint64_t bytes_in;
	uint64_t bytes_out;
	unsigned int accepted;
	unsigned int active;
};

struct srv_conn {
	int fd;
	enum srv_kind kind;
	size_t chunk;
	struct srv_stats *st;
};

static void *srv_conn_main(void *arg)
{
	struct srv_conn *sc = arg;
	uint8_t *buf = malloc(sc->chunk);
	uint64_t in = 0, out = 0;
	ssize_t n;

	if (!buf)
		goto out;
	switch (sc->kind) {
	case SRV_DISCARD:
		while ((n = recv(sc->fd, buf, sc->chunk, 0)) > 0 ||
		       (n < 0 && errno == EINTR))
			if (n > 0)
				in += (uint64_t)n;
		break;
	case SRV_ECHO:
		for (;;) {
			size_t off = 0;

			n = recv(sc->fd, buf, sc->chunk, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			in += (uint64_t)n;
			while (off < (size_t)n) {
				ssize_t w = send(sc->fd, buf + off,
						 (size_t)n - off, MSG_NOSIGNAL);

				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					goto out_close;
				off += (size_t)w;
				out += (uint64_t)w;
			}
		}
		break;
	case SRV_SOURCE:
		/* Until the peer goes away (EPIPE or ECONNRESET). */
		for (;;) {
			size_t len;
			const uint8_t *p = src_slice(out, sc->chunk, &len);

			n = send(sc->fd, p, len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			out += (uint64_t)n;
		}
		break;
	case SRV_NONE:
		break;
	}
out_close:
	pthread_mutex_lock(&sc->st->lock);
	sc->st->bytes_in += in;
	sc->st->bytes_out += out;
	sc->st->active--;
	pthread_mutex_unlock(&sc->st->lock);
out:
	close(sc->fd);
	free(buf);
	free(sc);
	return NULL;
}

static volatile sig_atomic_t srv_stop;

static void srv_on_signal(int sig)
{
	(void)sig;
	srv_stop = 1;
}

static int run_server_epoll(const struct lg_opts *o, int lfd, double t0);

static int run_server(const struct lg_opts *o)
{
	struct srv_stats st = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct sigaction sa;
	pthread_attr_t attr;
	double t0 = now_sec(), secs;
	int lfd, one = 1;
	bool timed_out = false;
	char extra[160];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = srv_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if (resolve(o, true, &ss, &sslen) < 0)
		return 1;
	lfd = tcp_socket(ss.ss_family, 0);
	if (lfd < 0)
		return 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&ss, sslen) < 0 ||
	    listen(lfd, 4096) < 0) {
		msg("bind/listen on port %s: %s", o->port, strerror(errno));
		close(lfd);
		return 1;
	}
	/* Room for many connections (hold); best effort. */
	{
		struct rlimit rl = { .rlim_cur = 1u << 20,
				     .rlim_max = 1u << 20 };

		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 &&
		    getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (o->epoll) {
		if (fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK) < 0) {
			msg("fcntl: %s", strerror(errno));
			close(lfd);
			return 1;
		}
		printf("server: listening port=%s mode=%s epoll=1\n", o->port,
		       o->srv_name);
		fflush(stdout);
		return run_server_epoll(o, lfd, t0);
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	printf("server: listening port=%s mode=%s\n", o->port, o->srv_name);
	fflush(stdout);

	while (!srv_stop) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		struct srv_conn *sc;
		pthread_t th;
		int fd, rc;

		if (o->timeout > 0 && now_sec() - t0 >= o->timeout) {
			timed_out = true;
			break;
		}
		rc = poll(&pfd, 1, 200);
		if (rc <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EAGAIN)
				continue;
			msg("accept: %s", strerror(errno));
			break;
		}
		sc = malloc(sizeof(*sc));
		if (!sc) {
			close(fd);
			continue;
		}
		sc->fd = fd;
		sc->kind = o->srv;
		sc->chunk = o->chunk;
		sc->st = &st;
		pthread_mutex_lock(&st.lock);
		st.accepted++;
		st.active++;
		pthread_mutex_unlock(&st.lock);
		if (pthread_create(&th, &attr, srv_conn_main, sc)) {
			msg("pthread_create failed; dropping a connection");
			pthread_mutex_lock(&st.lock);
			st.active--;
			pthread_mutex_unlock(&st.lock);
			close(fd);
			free(sc);
		}
	}
	close(lfd);
	secs = now_sec() - t0;
	pthread_mutex_lock(&st.lock);
	snprintf(extra, sizeof(extra),
		 "server=%s accepted=%u active=%u bytes_in=%" PRIu64
		 " bytes_out=%" PRIu64 "%s",
		 o->srv_name, st.accepted, st.active, st.bytes_in, st.bytes_out,
		 timed_out ? " timeout=1" : "");
	if (timed_out)
		msg("server timeout after %.0f s: exiting", o->timeout);
	print_result(o, st.bytes_in + st.bytes_out, secs, st.accepted,
		     !timed_out, extra);
	pthread_mutex_unlock(&st.lock);
	/* Connection threads are detached; exiting ends them. */
	return timed_out ? 1 : 0;
}

/* ---- latency samples -------------------------------------------------- */

/*
 * Per-transaction latencies in nanoseconds. Up to LAT_MAX_SAMPLES are kept
 * (8 MiB); beyond that a uniform reservoir sample (Algorithm R) replaces
 * entries, so memory stays bounded on long runs. Percentiles are exact over
 * the kept sample (nearest rank after sorting); min, max and mean are exact
 * over every transaction.
 */
#define LAT_MAX_SAMPLES (1u << 20)

struct lat_set {
	uint64_t *v;
	size_t n;
	size_t cap;
	uint64_t seen;
	uint64_t min;
	uint64_t max;
	double sum;
	uint64_t rng;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int lat_init(struct lat_set *l)
{
	memset(l, 0, sizeof(*l));
	l->cap = LAT_MAX_SAMPLES;
	l->v = malloc(l->cap * sizeof(*l->v));
	l->min = UINT64_MAX;
	l->rng = 0x5eed;
	return l->v ? 0 : -1;
}

static void lat_add(struct lat_set *l, uint64_t ns)
{
	l->seen++;
	l->sum += (double)ns;
	if (ns < l->min)
		l->min = ns;
	if (ns > l->max)
		l->max = ns;
	if (l->n < l->cap) {
		l->v[l->n++] = ns;
	} else {
		uint64_t j = splitmix64(l->rng++) % l->seen;

		if (j < l->cap)
			l->v[j] = ns;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted sample, in microseconds. */
static double lat_pct_us(const struct lat_set *l, double q)
{
	size_t rank;

	if (!l->n)
		return 0.0;
	rank = (size_t)(q * (double)l->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > l->n)
		rank = l->n;
	return (double)l->v[rank - 1] / 1e3;
}

/* Sort the sample and append its summary to @buf. */
static void lat_summary(struct lat_set *l, char *buf, size_t len)
{
	size_t used = strlen(buf);

	qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
	snprintf(buf + used, len - used,
		 " p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f"
		 " min_us=%.1f mean_us=%.1f samples=%zu",
		 lat_pct_us(l, 0.50), lat_pct_us(l, 0.90), lat_pct_us(l, 0.99),
		 (double)l->max / 1e3, l->seen ? (double)l->min / 1e3 : 0.0,
		 l->seen ? l->sum / (double)l->seen / 1e3 : 0.0, l->n);
}

/* ---- source addresses ------------------------------------------------- */

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#define MAX_SRC_ADDRS 4096u

struct src_list {
	struct in_addr a[MAX_SRC_ADDRS];
	unsigned int n;
	unsigned int next;
};

/*
 * "A.B.C.D[+N][,...]": a comma-separated list of IPv4 addresses, each
 * optionally followed by +N for N consecutive addresses starting there.
 */
static int parse_src(const char *spec, struct src_list *sl)
{
	char *copy = strdup(spec), *save = NULL, *tok;
	int rc = 0;

	sl->n = 0;
	sl->next = 0;
	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *plus = strchr(tok, '+');
		unsigned long cnt = 1;
		struct in_addr a;

		if (plus) {
			char *end;

			*plus = '\0';
			errno = 0;
			cnt = strtoul(plus + 1, &end, 10);
			if (errno || end == plus + 1 || *end || cnt < 1 ||
			    cnt > MAX_SRC_ADDRS) {
				rc = -1;
				break;
			}
		}
		if (inet_pton(AF_INET, tok, &a) != 1) {
			rc = -1;
			break;
		}
		for (unsigned long i = 0; i < cnt; i++) {
			if (sl->n >= MAX_SRC_ADDRS) {
				rc = -1;
				break;
			}
			sl->a[sl->n++].s_addr =
				htonl(ntohl(a.s_addr) + (uint32_t)i);
		}
		if (rc)
			break;
	}
	free(copy);
	return rc || sl->n == 0 ? -1 : 0;
}

/*
 * Bind @fd to the next source address, round robin. The port is left to
 * connect() (IP_BIND_ADDRESS_NO_PORT), which only needs the 4-tuple to be
 * unique, so every address has the whole ephemeral range.
 */
static int src_bind(struct src_list *sl, int fd)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int one = 1;

	if (!sl || !sl->n)
		return 0;
	sin.sin_addr = sl->a[sl->next++ % sl->n];
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	return bind(fd, (struct sockaddr *)&sin, sizeof(sin));
}

/* ---- rr, crr, hold: request/response over echo ------------------------ */

enum tx_state {
	TS_IDLE, /* no socket (crr) or connected and waiting (rr, hold) */
	TS_CONNECTING,
	TS_SENDING, /* request partly sent */
	TS_WAITING, /* request sent; reading its echo */
	TS_HELD,    /* hold: verified, idle */
	TS_DONE,
	TS_FAILED,
};

struct tconn {
	int fd;
	unsigned int id;
	enum tx_state state;
	uint64_t seed;
	uint64_t off; /* stream offset of the current request */
	size_t req;   /* size of the current request */
	size_t sent;
	size_t rcvd;
	uint64_t t_start;
	uint32_t events;
};

#define MAX_ERRNO_KINDS 8

struct tx_client {
	const struct lg_opts *o;
	int ep;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct src_list *src;
	struct tconn *c;
	unsigned int n;
	unsigned int active; /* sockets open */
	uint8_t *txbuf;
	uint8_t *rxbuf;
	uint8_t *expbuf;
	struct lat_set lat;
	uint64_t txns;	  /* completed transactions */
	uint64_t started; /* transactions (crr: connections) started */
	uint64_t errors;
	uint64_t mismatches;
	uint64_t verified_bytes;
	int err_code[MAX_ERRNO_KINDS];
	uint64_t err_count[MAX_ERRNO_KINDS];
	unsigned int err_kinds;
	uint64_t err_other;
};

static void tx_count_errno(struct tx_client *cl, int err)
{
	for (unsigned int i = 0; i < cl->err_kinds; i++) {
		if (cl->err_code[i] == err) {
			cl->err_count[i]++;
			return;
		}
	}
	if (cl->err_kinds < MAX_ERRNO_KINDS) {
		cl->err_code[cl->err_kinds] = err;
		cl->err_count[cl->err_kinds++] = 1;
	} else {
		cl->err_other++;
	}
}

/* Append " errors=N [err_EXXX=n ...]" to @buf. */
static void tx_error_summary(const struct tx_client *cl, char *buf, size_t len)
{
	size_t used = strlen(buf);

	used += (size_t)snprintf(buf + used, len - used, " errors=%" PRIu64,
				 cl->errors);
	for (unsigned int i = 0; i < cl->err_kinds && used < len; i++) {
		const char *name = cl->err_code[i] ?
					   strerrorname_np(cl->err_code[i]) :
					   "protocol";

		used += (size_t)snprintf(buf + used, len - used,
					 " err_%s=%" PRIu64, name ? name : "?",
					 cl->err_count[i]);
	}
	if (cl->err_other && used < len)
		snprintf(buf + used, len - used, " err_other=%" PRIu64,
			 cl->err_other);
}

/* Close @c's socket; with @rst, abortively (RST instead of FIN). */
static void tc_close(struct tx_client *cl, struct tconn *c, bool rst)
{
	if (c->fd < 0)
		return;
	if (rst) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd);
	c->fd = -1;
	c->events = 0;
	cl->active--;
}

/* A failed connection or transaction; @err is an errno or 0. */
static void tc_fail(struct tx_client *cl, struct tconn *c, int err,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void tc_fail(struct tx_client *cl, struct tconn *c, int err,
		    const char *fmt, ...)
{
	va_list ap;

	if (cl->errors < 5) {
		fprintf(stderr, "loadgen: conn %u: ", c->id);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fprintf(stderr, " (request %zu/%zu sent, %zu received)\n",
			c->sent, c->req, c->rcvd);
	} else if (cl->errors == 5) {
		msg("further failures not shown (counted in errors=)");
	}
	cl->errors++;
	tx_count_errno(cl, err);
	tc_close(cl, c, false);
	c->state = TS_FAILED;
}

static int tc_watch(struct tx_client *cl, struct tconn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (ev == c->events)
		return 0;
	if (epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
		return -1;
	c->events = ev;
	return 0;
}

/*
 * Start a nonblocking connect on @c. Returns -1 only on a local resource
 * failure that makes going on pointless (no socket, epoll failure); a
 * failed connect is counted on the connection and returns 0.
 */
static int tc_open(struct tx_client *cl, struct tconn *c)
{
	struct epoll_event e;
	int fd, one = 1;

	c->sent = c->rcvd = c->req = 0;
	fd = tcp_socket(cl->ss.ss_family, SOCK_NONBLOCK);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->events = 0;
	cl->active++;
	c->state = TS_CONNECTING;
	if (src_bind(cl->src, fd) < 0) {
		tc_fail(cl, c, errno, "bind to a source address: %s",
			strerror(errno));
		return 0;
	}
	if (connect(fd, (const struct sockaddr *)&cl->ss, cl->sslen) < 0 &&
	    errno != EINPROGRESS) {
		tc_fail(cl, c, errno, "connect: %s", strerror(errno));
		return 0;
	}
	e.events = EPOLLOUT;
	e.data.ptr = c;
	if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
		msg("epoll_ctl: %s", strerror(errno));
		return -1;
	}
	c->events = EPOLLOUT;
	return 0;
}

/* The connect finished: 1 connected, 0 not yet, -1 failed (counted). */
static int tc_connected(struct tx_client *cl, struct tconn *c, uint32_t ev)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		tc_fail(cl, c, err, "connect: %s", strerror(err));
		return -1;
	}
	if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return 0;
	c->state = TS_IDLE;
	return 1;
}

static void tc_send_some(struct tx_client *cl, struct tconn *c)
{
	while (c->sent < c->req) {
		size_t len = c->req - c->sent;
		ssize_t n;

		rnd_fill(c->seed, c->off + c->sent, cl->txbuf, len);
		n = send(c->fd, cl->txbuf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			tc_fail(cl, c, errno, "send: %s", strerror(errno));
			return;
		}
		c->sent += (size_t)n;
	}
	c->state = TS_WAITING;
}

/* Read what there is of the echo: 1 complete and verified, 0 not yet,
 * -1 failed (counted). */
static int tc_recv_some(struct tx_client *cl, struct tconn *c)
{
	while (c->rcvd < c->req) {
		ssize_t n = recv(c->fd, cl->rxbuf, c->req - c->rcvd, 0);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			tc_fail(cl, c, errno, "recv: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			tc_fail(cl, c, 0,
				"unexpected EOF from the echo server");
			return -1;
		}
		rnd_fill(c->seed, c->off + c->rcvd, cl->expbuf, (size_t)n);
		if (memcmp(cl->rxbuf, cl->expbuf, (size_t)n)) {
			size_t i = 0;

			while (cl->rxbuf[i] == cl->expbuf[i])
				i++;
			cl->mismatches++;
			tc_fail(cl, c, 0,
				"echo mismatch at stream offset %" PRIu64
				": got 0x%02x, expected 0x%02x",
				c->off + c->rcvd + i, cl->rxbuf[i],
				cl->expbuf[i]);
			return -1;
		}
		c->rcvd += (size_t)n;
	}
	return c->sent == c->req ? 1 : 0;
}

/* Begin a request of @size bytes on a connected @c and send what fits. */
static void tc_begin(struct tx_client *cl, struct tconn *c, size_t size,
		     bool stamp)
{
	c->req = size;
	c->sent = c->rcvd = 0;
	if (stamp)
		c->t_start = now_ns();
	c->state = TS_SENDING;
	tc_send_some(cl, c);
}

/*
 * Drive @c's request on event @ev: 1 when its echo is complete and
 * verified, 0 when not yet (epoll interest updated), -1 on failure.
 */
static int tc_progress(struct tx_client *cl, struct tconn *c, uint32_t ev)
{
	int r;
	uint32_t want;

	if (c->state == TS_SENDING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		tc_send_some(cl, c);
	if (c->state != TS_SENDING && c->state != TS_WAITING)
		return -1;
	r = tc_recv_some(cl, c);
	if (r)
		return r;
	want = EPOLLIN | EPOLLRDHUP;
	if (c->state == TS_SENDING)
		want |= EPOLLOUT;
	if (tc_watch(cl, c, want) < 0) {
		tc_fail(cl, c, errno, "epoll_ctl: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int tx_init(struct tx_client *cl, const struct lg_opts *o,
		   struct src_list *src, unsigned int n)
{
	size_t bufsz = o->size ? o->size : 1;

	memset(cl, 0, sizeof(*cl));
	cl->o = o;
	cl->src = src;
	cl->n = n;
	if (resolve(o, false, &cl->ss, &cl->sslen) < 0)
		return -1;
	cl->ep = epoll_create1(EPOLL_CLOEXEC);
	cl->c = calloc(n, sizeof(*cl->c));
	cl->txbuf = malloc(bufsz);
	cl->rxbuf = malloc(bufsz);
	cl->expbuf = malloc(bufsz);
	if (cl->ep < 0 || !cl->c || !cl->txbuf || !cl->rxbuf || !cl->expbuf ||
	    lat_init(&cl->lat) < 0) {
		msg("out of memory or epoll_create1 failed");
		return -1;
	}
	for (unsigned int i = 0; i < n; i++) {
		cl->c[i].fd = -1;
		cl->c[i].id = i;
		cl->c[i].seed = splitmix64(((uint64_t)o->seed << 32) ^ i) ^
				((uint64_t)i << 40);
	}
	return 0;
}

static void tx_free(struct tx_client *cl)
{
	for (unsigned int i = 0; cl->c && i < cl->n; i++)
		if (cl->c[i].fd >= 0)
			close(cl->c[i].fd);
	if (cl->ep >= 0)
		close(cl->ep);
	free(cl->c);
	free(cl->txbuf);
	free(cl->rxbuf);
	free(cl->expbuf);
	free(cl->lat.v);
}

/* epoll_wait bounded by @deadline (ns) and 100 ms; 0 on timeout. */
static int tx_wait(struct tx_client *cl, struct epoll_event *evs, int max,
		   uint64_t deadline, bool *timed_out)
{
	uint64_t now = now_ns();
	int ms, n;

	if (now >= deadline) {
		*timed_out = true;
		return 0;
	}
	ms = (int)((deadline - now) / 1000000u) + 1;
	if (ms > 100)
		ms = 100;
	n = epoll_wait(cl->ep, evs, max, ms);
	if (n < 0 && errno == EINTR)
		n = 0;
	if (n < 0)
		msg("epoll_wait: %s", strerror(errno));
	else if (n == 0 && now_ns() >= deadline)
		*timed_out = true;
	return n;
}

/* May another transaction (rr) or connection (crr) start now? */
static bool tx_more(const struct tx_client *cl, uint64_t t_end)
{
	const struct lg_opts *o = cl->o;

	if (o->count)
		return cl->started < o->count;
	return now_ns() < t_end;
}

/* ---- rr --------------------------------------------------------------- */

/*
 * Drive @c's request on @ev; for each completed one record its latency and
 * start the next (timed from the completion) while the count or the
 * duration allows, else close the connection.
 */
static void rr_step(struct tx_client *cl, struct tconn *c, uint32_t ev,
		    uint64_t t_end, uint64_t *t_last)
{
	for (;;) {
		uint64_t t;

		if (tc_progress(cl, c, ev) <= 0)
			return;
		t = now_ns();
		lat_add(&cl->lat, t - c->t_start);
		*t_last = t;
		cl->txns++;
		cl->verified_bytes += c->req;
		c->off += c->req;
		if (!tx_more(cl, t_end)) {
			tc_close(cl, c, false);
			c->state = TS_DONE;
			return;
		}
		cl->started++;
		c->t_start = t;
		tc_begin(cl, c, cl->o->size, false);
		ev = 0;
	}
}

static int run_rr(const struct lg_opts *o)
{
	struct tx_client cl;
	struct epoll_event evs[256];
	uint64_t t0, t_end, deadline, t_last;
	unsigned int connected = 0, pending;
	bool timed_out = false, ok;
	double secs;
	char extra[512];

	if (tx_init(&cl, o, NULL, o->conns) < 0)
		return 1;
	deadline = now_ns() + (uint64_t)(o->timeout * 1e9);

	/* Phase 1: connect every connection. */
	for (unsigned int i = 0; i < o->conns; i++)
		if (tc_open(&cl, &cl.c[i]) < 0)
			return 1;
	pending = cl.active;
	while (pending) {
		int n = tx_wait(&cl, evs, 256, deadline, &timed_out);

		if (n < 0)
			return 1;
		if (timed_out)
			break;
		for (int i = 0; i < n; i++) {
			struct tconn *c = evs[i].data.ptr;
			int r;

			if (c->state != TS_CONNECTING)
				continue;
			r = tc_connected(&cl, c, evs[i].events);
			if (r == 0)
				continue;
			pending--;
			if (r > 0) {
				connected++;
				tc_watch(&cl, c, EPOLLRDHUP);
			}
		}
	}

	/* Phase 2: transactions until the count or the duration is reached. */
	t0 = now_ns();
	t_last = t0;
	t_end = t0 + (uint64_t)(o->duration * 1e9);
	for (unsigned int i = 0; i < o->conns && !timed_out; i++) {
		struct tconn *c = &cl.c[i];

		if (c->state != TS_IDLE)
			continue;
		if (!tx_more(&cl, t_end)) {
			tc_close(&cl, c, false);
			c->state = TS_DONE;
			continue;
		}
		cl.started++;
		tc_begin(&cl, c, o->size, true);
		rr_step(&cl, c, 0, t_end, &t_last);
	}
	while (cl.active && !timed_out) {
		int n = tx_wait(&cl, evs, 256, deadline, &timed_out);

		if (n < 0)
			return 1;
		if (timed_out)
			break;
		for (int i = 0; i < n; i++) {
			struct tconn *c = evs[i].data.ptr;

			if (c->state != TS_SENDING && c->state != TS_WAITING) {
				if (c->fd >= 0 && c->state == TS_IDLE)
					tc_fail(&cl, c, 0,
						"peer closed an idle connection");
				continue;
			}
			rr_step(&cl, c, evs[i].events, t_end, &t_last);
		}
	}
	secs = (double)(t_last - t0) / 1e9;
	if (timed_out)
		msg("timeout after %.0f s: %u of %u connections connected, "
		    "%" PRIu64 " transactions done, %u sockets still open",
		    o->timeout, connected, o->conns, cl.txns, cl.active);
	ok = !timed_out && cl.errors == 0 && cl.txns > 0 &&
	     connected == o->conns;
	snprintf(extra, sizeof(extra),
		 "size=%zu transactions=%" PRIu64
		 " tps=%.1f mismatches=%" PRIu64 " verified=1",
		 o->size, cl.txns, secs > 0 ? (double)cl.txns / secs : 0.0,
		 cl.mismatches);
	tx_error_summary(&cl, extra, sizeof(extra));
	lat_summary(&cl.lat, extra, sizeof(extra));
	if (timed_out)
		strncat(extra, " timeout=1", sizeof(extra) - strlen(extra) - 1);
	print_result(o, cl.verified_bytes, secs, o->conns, ok, extra);
	tx_free(&cl);
	return ok ? 0 : 1;
}

/* ---- crr -------------------------------------------------------------- */

static int run_crr(const struct lg_opts *o, struct src_list *src)
{
	struct tx_client cl;
	struct epoll_event evs[256];
	uint64_t t0, t_end, deadline, t_last;
	bool timed_out = false, ok;
	double secs;
	char extra[640];

	if (tx_init(&cl, o, src, o->conns) < 0)
		return 1;
	t0 = now_ns();
	t_last = t0;
	t_end = t0 + (uint64_t)(o->duration * 1e9);
	deadline = t0 + (uint64_t)(o->timeout * 1e9);

	/*
	 * Each slot: connect, send the request, read the echo, close; then
	 * again while the count or the duration allows. A failure is counted
	 * and the slot starts over; a slot whose connect fails at once (no
	 * free port, say) keeps trying until the end, so the run stays
	 * bounded by the duration.
	 */
	for (;;) {
		int n;

		for (unsigned int i = 0; i < o->conns; i++) {
			struct tconn *c = &cl.c[i];

			/* One attempt per slot and round, so that a slot
			 * whose connects fail at once cannot starve the
			 * others. */
			if (c->fd < 0 && c->state != TS_CONNECTING &&
			    tx_more(&cl, t_end)) {
				cl.started++;
				c->t_start = now_ns();
				if (tc_open(&cl, c) < 0)
					return 1;
			}
		}
		/* Nothing open: done, or every slot failed at once. */
		if (!cl.active)
			break;
		n = tx_wait(&cl, evs, 256, deadline, &timed_out);
		if (n < 0)
			return 1;
		if (timed_out)
			break;
		for (int i = 0; i < n; i++) {
			struct tconn *c = evs[i].data.ptr;
			int r;

			if (c->state == TS_CONNECTING) {
				r = tc_connected(&cl, c, evs[i].events);
				if (r <= 0)
					continue;
				tc_begin(&cl, c, o->size, false);
			}
			if (c->state != TS_SENDING && c->state != TS_WAITING)
				continue;
			r = tc_progress(&cl, c, evs[i].events);
			if (r <= 0)
				continue;
			tc_close(&cl, c, false);
			c->state = TS_IDLE;
			t_last = now_ns();
			lat_add(&cl.lat, t_last - c->t_start);
			cl.txns++;
			cl.verified_bytes += c->req;
		}
	}
	secs = (double)(t_last - t0) / 1e9;
	if (timed_out)
		msg("timeout after %.0f s: %" PRIu64 " connections done, "
		    "%u still open",
		    o->timeout, cl.txns, cl.active);
	ok = !timed_out && cl.errors == 0 && cl.txns > 0;
	snprintf(extra, sizeof(extra),
		 "size=%zu transactions=%" PRIu64
		 " cps=%.1f mismatches=%" PRIu64 " src_addrs=%u verified=1",
		 o->size, cl.txns, secs > 0 ? (double)cl.txns / secs : 0.0,
		 cl.mismatches, src ? src->n : 0);
	tx_error_summary(&cl, extra, sizeof(extra));
	lat_summary(&cl.lat, extra, sizeof(extra));
	if (timed_out)
		strncat(extra, " timeout=1", sizeof(extra) - strlen(extra) - 1);
	print_result(o, cl.verified_bytes, secs, o->conns, ok, extra);
	tx_free(&cl);
	return ok ? 0 : 1;
}

/* ---- hold ------------------------------------------------------------- */

#define HOLD_INFLIGHT 256u
#define HOLD_RECHECK 1000u

/* "Key:   N kB" from a /proc file; -1 when absent. */
static long proc_kb(const char *path, const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static long rss_kb(long pid)
{
	char path[64];

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	return proc_kb(path, "VmRSS");
}

/* TCP buffer memory of the whole machine (/proc/net/sockstat "mem", pages),
 * in kB; -1 when unknown. */
static long tcp_mem_kb(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/net/sockstat", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *m;

		if (strncmp(line, "TCP:", 4))
			continue;
		m = strstr(line, " mem ");
		if (m)
			v = strtol(m + 5, NULL, 10) *
			    (sysconf(_SC_PAGESIZE) / 1024);
	}
	fclose(f);
	return v;
}

/*
 * Bytes in use (active objects x object size, /proc/slabinfo) in the slab
 * caches a connected socket allocates from: the socket (TCP), its inode,
 * dentry and file, its epoll item and its port buckets. Machine-wide, like
 * Slab, but blind to partly empty slab pages and to unrelated caches.
 * -1 when unreadable (it needs root).
 */
static long sock_slab_kb(void)
{
	static const char *const caches[] = {
		"TCP",		 "sock_inode_cache", "dentry",		 "filp",
		"eventpoll_epi", "tcp_bind_bucket",  "tcp_bind2_bucket", NULL,
	};
	char line[512];
	double bytes = 0;
	bool any = false;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		unsigned long active, num, objsize;

		if (sscanf(line, "%63s %lu %lu %lu", name, &active, &num,
			   &objsize) != 4)
			continue;
		for (int i = 0; caches[i]; i++) {
			if (!strcmp(name, caches[i])) {
				bytes += (double)active * (double)objsize;
				any = true;
			}
		}
	}
	fclose(f);
	return any ? (long)(bytes / 1024) : -1;
}

static int raise_nofile(unsigned int conns)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)conns + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur >= want)
		return 0;
	if (rl.rlim_max < want)
		rl.rlim_max = want; /* needs CAP_SYS_RESOURCE */
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		msg("cannot raise RLIMIT_NOFILE to %llu: %s",
		    (unsigned long long)want, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Wait for the 1-byte round trips of connections in TS_SENDING/TS_WAITING;
 * completed ones become TS_HELD. With @opening, keep opening connections
 * (up to HOLD_INFLIGHT connecting or verifying at a time) until the
 * first @limit are open. Returns -1 on a fatal error, 1 on timeout, else 0.
 */
static int hold_drive(struct tx_client *cl, unsigned int *next_open,
		      unsigned int limit, unsigned int *busy,
		      unsigned int *held, uint64_t deadline)
{
	static struct epoll_event evs[1024];

	if (limit > cl->n)
		limit = cl->n;
	while (*busy || *next_open < limit) {
		bool late = false;
		int n;

		while (*next_open < limit && *busy < HOLD_INFLIGHT) {
			struct tconn *c = &cl->c[(*next_open)++];

			if (tc_open(cl, c) < 0)
				return -1;
			if (c->state == TS_CONNECTING)
				(*busy)++;
		}
		if (!*busy)
			continue;
		n = tx_wait(cl, evs, 1024, deadline, &late);
		if (n < 0)
			return -1;
		if (late)
			return 1;
		for (int i = 0; i < n; i++) {
			struct tconn *c = evs[i].data.ptr;
			int r;

			if (c->state == TS_HELD) {
				(*held)--;
				tc_fail(cl, c, 0,
					"connection closed or data arrived while held");
				continue;
			}
			if (c->state == TS_CONNECTING) {
				r = tc_connected(cl, c, evs[i].events);
				if (r < 0)
					(*busy)--;
				if (r <= 0)
					continue;
				tc_begin(cl, c, 1, true);
			}
			if (c->state != TS_SENDING && c->state != TS_WAITING)
				continue;
			r = tc_progress(cl, c, evs[i].events);
			if (r < 0)
				(*busy)--;
			if (r <= 0)
				continue;
			(*busy)--;
			lat_add(&cl->lat, now_ns() - c->t_start);
			c->off += c->req;
			cl->txns++;
			cl->verified_bytes += c->req;
			c->state = TS_HELD;
			(*held)++;
			if (tc_watch(cl, c, EPOLLIN | EPOLLRDHUP) < 0) {
				(*held)--;
				tc_fail(cl, c, errno, "epoll_ctl: %s",
					strerror(errno));
			}
		}
	}
	return 0;
}

static int run_hold(const struct lg_opts *o, struct src_list *src)
{
	struct tx_client cl;
	uint64_t t0, t_setup, deadline, hold_end;
	unsigned int next_open = 0, busy = 0, held = 0, sampled = 0;
	unsigned int held_after_setup, reverified = 0, step, held_mid = 0;
	long rss0, rss1, rss_mid = -1, slab0, slab1, tm0, tm1, ss0, ss1;
	uint64_t txns_before;
	bool timed_out = false, ok;
	double secs, setup_secs;
	char extra[1400];
	int r;

	if (raise_nofile(o->conns) < 0)
		return 1;
	if (tx_init(&cl, o, src, o->conns) < 0)
		return 1;
	if (o->server_pid && rss_kb(o->server_pid) < 0) {
		msg("cannot read VmRSS of --server-pid %ld", o->server_pid);
		return 1;
	}
	rss0 = rss_kb(o->server_pid);
	slab0 = proc_kb("/proc/meminfo", "Slab");
	ss0 = sock_slab_kb();
	tm0 = tcp_mem_kb();
	t0 = now_ns();
	deadline = t0 + (uint64_t)(o->timeout * 1e9);

	/* Open and verify each connection with a 1-byte echo: the first half,
	 * a pause to read the server's RSS with nothing in flight, then the
	 * rest. The growth over the second half is the marginal cost of a
	 * connection, free of one-time costs (pools and stacks touched by the
	 * first packets, the first table sizes). */
	r = hold_drive(&cl, &next_open, o->conns / 2, &busy, &held, deadline);
	if (r == 0 && o->server_pid && o->conns >= 2) {
		rss_mid = rss_kb(o->server_pid);
		held_mid = held;
	}
	if (r == 0)
		r = hold_drive(&cl, &next_open, cl.n, &busy, &held, deadline);
	if (r < 0)
		return 1;
	timed_out = r > 0;
	t_setup = now_ns();
	setup_secs = (double)(t_setup - t0) / 1e9;
	held_after_setup = held;
	msg("hold: %u of %u connections open and verified in %.2f s; "
	    "holding %.1f s",
	    held, o->conns, setup_secs, o->hold);

	/* Hold: any event on a held connection is a failure. With
	 * --hold-file, the hold goes on (in steps of 100 ms) until that file
	 * exists: several loadgen processes then hold their connections
	 * together while a script measures (bench/hold.sh). */
	hold_end = t_setup + (uint64_t)(o->hold * 1e9);
	if (hold_end > deadline)
		hold_end = deadline;
	for (;;) {
		uint64_t now = now_ns();

		if (timed_out || now >= deadline)
			break;
		if (now >= hold_end) {
			if (!o->hold_file || access(o->hold_file, F_OK) == 0)
				break;
			hold_end = now + 100000000ull < deadline
					   ? now + 100000000ull
					   : deadline;
		}
		unsigned int none = cl.n;

		r = hold_drive(&cl, &none, cl.n, &busy, &held, hold_end);
		if (r < 0)
			return 1;
		if (r == 0) {
			/* Nothing in flight: just watch for trouble. */
			struct epoll_event evs[64];
			bool over = false;
			int n = tx_wait(&cl, evs, 64, hold_end, &over);

			for (int i = 0; i < n; i++) {
				struct tconn *c = evs[i].data.ptr;

				if (c->state == TS_HELD) {
					held--;
					tc_fail(&cl, c, 0,
						"connection closed or data "
						"arrived while held");
				}
			}
		}
	}
	rss1 = rss_kb(o->server_pid);
	slab1 = proc_kb("/proc/meminfo", "Slab");
	ss1 = sock_slab_kb();
	tm1 = tcp_mem_kb();

	/* Re-verify a sample: up to HOLD_RECHECK evenly spaced connections. */
	step = held > HOLD_RECHECK ? held / HOLD_RECHECK : 1;
	txns_before = cl.txns;
	for (unsigned int i = 0, k = 0; i < cl.n && !timed_out; i++) {
		struct tconn *c = &cl.c[i];

		if (c->state != TS_HELD)
			continue;
		if (k++ % step)
			continue;
		sampled++;
		held--;
		busy++;
		tc_begin(&cl, c, 1, true);
		if (c->state == TS_FAILED) {
			busy--;
			continue;
		}
		if (tc_watch(&cl, c,
			     EPOLLIN | EPOLLRDHUP |
				     (c->state == TS_SENDING ? EPOLLOUT : 0)) <
		    0) {
			busy--;
			tc_fail(&cl, c, errno, "epoll_ctl: %s",
				strerror(errno));
		}
	}
	if (!timed_out) {
		unsigned int none = cl.n;

		r = hold_drive(&cl, &none, cl.n, &busy, &held, deadline);
		if (r < 0)
			return 1;
		timed_out = r > 0;
	}
	reverified = (unsigned int)(cl.txns - txns_before);

	/* Close everything. */
	for (unsigned int i = 0; i < cl.n; i++) {
		if (cl.c[i].fd >= 0) {
			tc_close(&cl, &cl.c[i], o->rst);
			cl.c[i].state = TS_DONE;
		}
	}
	secs = (double)(now_ns() - t0) / 1e9;
	if (timed_out)
		msg("timeout after %.0f s: %u of %u connections held, "
		    "%u re-verified of %u sampled",
		    o->timeout, held_after_setup, o->conns, reverified,
		    sampled);

	ok = !timed_out && cl.errors == 0 && held_after_setup == o->conns &&
	     reverified == sampled;
	snprintf(extra, sizeof(extra),
		 "held=%u setup_secs=%.3f setup_rate=%.1f hold_secs=%.1f "
		 "sampled=%u reverified=%u rst=%d",
		 held_after_setup, setup_secs,
		 setup_secs > 0 ? held_after_setup / setup_secs : 0.0, o->hold,
		 sampled, reverified, o->rst ? 1 : 0);
	if (o->server_pid) {
		size_t used = strlen(extra);

		snprintf(extra + used, sizeof(extra) - used,
			 " server_pid=%ld rss_before_kb=%ld rss_hold_kb=%ld"
			 " rss_bytes_per_conn=%.0f",
			 o->server_pid, rss0, rss1,
			 held_after_setup ? (double)(rss1 - rss0) * 1024.0 /
						    held_after_setup :
					    0.0);
		used = strlen(extra);
		if (rss_mid >= 0 && held_after_setup > held_mid)
			snprintf(extra + used, sizeof(extra) - used,
				 " rss_mid_kb=%ld held_mid=%u"
				 " rss_marginal_bytes_per_conn=%.0f",
				 rss_mid, held_mid,
				 (double)(rss1 - rss_mid) * 1024.0 /
					 (held_after_setup - held_mid));
	}
	{
		size_t used = strlen(extra);

		snprintf(extra + used, sizeof(extra) - used,
			 " slab_before_kb=%ld slab_hold_kb=%ld"
			 " slab_bytes_per_conn=%.0f tcp_mem_delta_kb=%ld",
			 slab0, slab1,
			 held_after_setup && slab0 >= 0 && slab1 >= 0 ?
				 (double)(slab1 - slab0) * 1024.0 /
					 held_after_setup :
				 0.0,
			 tm0 >= 0 && tm1 >= 0 ? tm1 - tm0 : -1);
	}
	if (ss0 >= 0 && ss1 >= 0) {
		size_t used = strlen(extra);

		snprintf(extra + used, sizeof(extra) - used,
			 " sock_slab_before_kb=%ld sock_slab_hold_kb=%ld"
			 " sock_slab_bytes_per_conn=%.0f",
			 ss0, ss1,
			 held_after_setup ? (double)(ss1 - ss0) * 1024.0 /
						    held_after_setup :
					    0.0);
	}
	tx_error_summary(&cl, extra, sizeof(extra));
	lat_summary(&cl.lat, extra, sizeof(extra));
	if (timed_out)
		strncat(extra, " timeout=1", sizeof(extra) - strlen(extra) - 1);
	print_result(o, cl.verified_bytes, secs, o->conns, ok, extra);
	tx_free(&cl);
	return ok ? 0 : 1;
}

/* ---- server, epoll flavour -------------------------------------------- */

/*
 * One thread, one epoll set, nonblocking sockets: what an event-driven
 * server on kernel sockets costs, without a thread (and its kernel stack
 * and task) per connection. Used for the rr, crr and hold baselines.
 */
struct esrv_conn {
	int fd;
	uint64_t out; /* source: stream offset; echo: bytes echoed */
	uint64_t in;
	uint8_t *pend; /* echo: bytes not yet sent back */
	size_t plen;
	size_t poff;
};

static void esrv_close(int ep, struct esrv_conn *sc, struct srv_stats *st)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, sc->fd, NULL);
	close(sc->fd);
	st->bytes_in += sc->in;
	st->bytes_out += sc->out;
	st->active--;
	free(sc->pend);
	free(sc);
}

/* Serve @sc on event @ev; false when it is to be closed. */
static bool esrv_serve(int ep, struct esrv_conn *sc, enum srv_kind kind,
		       uint8_t *buf, size_t chunk, uint32_t ev)
{
	ssize_t n;

	if (kind == SRV_SOURCE) {
		if (ev & (EPOLLERR | EPOLLHUP))
			return false;
		for (;;) {
			size_t len;
			const uint8_t *p = src_slice(sc->out, chunk, &len);

			n = send(sc->fd, p, len, MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR;
			sc->out += (uint64_t)n;
		}
	}
	/* echo: first flush what is pending, then read more. */
	while (sc->plen > sc->poff) {
		n = send(sc->fd, sc->pend + sc->poff, sc->plen - sc->poff,
			 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return true;
			return false;
		}
		sc->poff += (size_t)n;
		sc->out += (uint64_t)n;
	}
	if (sc->plen) {
		struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP,
					 .data.ptr = sc };

		sc->plen = sc->poff = 0;
		epoll_ctl(ep, EPOLL_CTL_MOD, sc->fd, &e);
	}
	for (;;) {
		size_t off = 0;

		n = recv(sc->fd, buf, chunk, 0);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		if (n == 0)
			return false;
		sc->in += (uint64_t)n;
		if (kind == SRV_DISCARD)
			continue;
		while (off < (size_t)n) {
			ssize_t w = send(sc->fd, buf + off, (size_t)n - off,
					 MSG_NOSIGNAL);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno == EAGAIN) {
				/* Keep the rest; stop reading until it is out. */
				struct epoll_event e = { .events = EPOLLOUT,
							 .data.ptr = sc };
				uint8_t *p = realloc(sc->pend, (size_t)n - off);

				if (!p)
					return false;
				memcpy(p, buf + off, (size_t)n - off);
				sc->pend = p;
				sc->plen = (size_t)n - off;
				sc->poff = 0;
				epoll_ctl(ep, EPOLL_CTL_MOD, sc->fd, &e);
				return true;
			}
			if (w <= 0)
				return false;
			off += (size_t)w;
			sc->out += (uint64_t)w;
		}
	}
}

static int run_server_epoll(const struct lg_opts *o, int lfd, double t0)
{
	struct srv_stats st = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	struct epoll_event evs[256];
	uint8_t *buf = malloc(o->chunk);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	bool timed_out = false;
	double secs;
	char extra[200];

	if (!buf || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e) < 0) {
		msg("server: out of memory or epoll failure");
		return 1;
	}
	while (!srv_stop) {
		int n;

		if (o->timeout > 0 && now_sec() - t0 >= o->timeout) {
			timed_out = true;
			break;
		}
		n = epoll_wait(ep, evs, 256, 200);
		for (int i = 0; i < n; i++) {
			struct esrv_conn *sc = evs[i].data.ptr;

			if (!sc) {
				/* Accept everything queued. */
				for (;;) {
					int fd = accept4(lfd, NULL, NULL,
							 SOCK_CLOEXEC |
								 SOCK_NONBLOCK);
					struct epoll_event ce;
					int one = 1;

					if (fd < 0)
						break;
					sc = calloc(1, sizeof(*sc));
					if (!sc) {
						close(fd);
						continue;
					}
					sc->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
						   &one, sizeof(one));
					ce.events = o->srv == SRV_SOURCE ?
							    EPOLLOUT :
							    EPOLLIN |
								    EPOLLRDHUP;
					ce.data.ptr = sc;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd,
						      &ce) < 0) {
						close(fd);
						free(sc);
						continue;
					}
					st.accepted++;
					st.active++;
				}
				continue;
			}
			if (!esrv_serve(ep, sc, o->srv, buf, o->chunk,
					evs[i].events))
				esrv_close(ep, sc, &st);
		}
	}
	close(lfd);
	secs = now_sec() - t0;
	snprintf(extra, sizeof(extra),
		 "server=%s epoll=1 accepted=%u active=%u bytes_in=%" PRIu64
		 " bytes_out=%" PRIu64 "%s",
		 o->srv_name, st.accepted, st.active, st.bytes_in, st.bytes_out,
		 timed_out ? " timeout=1" : "");
	if (timed_out)
		msg("server timeout after %.0f s: exiting", o->timeout);
	print_result(o, st.bytes_in + st.bytes_out, secs, st.accepted,
		     !timed_out, extra);
	/* Open connections are closed by exiting. */
	free(buf);
	close(ep);
	return timed_out ? 1 : 0;
}

/* ---- options ---------------------------------------------------------- */

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s MODE [options]\n"
		"\n"
		"Kernel-socket load generator and reference server for tundra.\n"
		"\n"
		"Modes:\n"
		"  echo     --host H --port P --bytes N [--conns C] [--chunk K]\n"
		"           C concurrent connections each send N bytes of their own\n"
		"           pseudo-random pattern, verify every echoed byte, then shut\n"
		"           down writing and expect EOF.\n"
		"  send     --host H --port P --bytes N [--conns C]\n"
		"           send N bytes (to a discard server) per connection, shut down\n"
		"           writing, wait for the server's FIN; report throughput.\n"
		"  recv     --host H --port P --bytes N [--conns C] [--verify-pattern]\n"
		"           read N bytes per connection from a source server, optionally\n"
		"           checking byte i == i %% 251, then close; report throughput.\n"
		"  refused  --host H --port P\n"
		"           connecting must fail with ECONNREFUSED (an RST); exit 0 only\n"
		"           then.\n"
		"  rr       --host H --port P [--conns C] [--size B]\n"
		"           [--duration S | --count N]\n"
		"           request/response on an echo server: each of C connections\n"
		"           sends B bytes (default 1), waits for the whole echo (checked),\n"
		"           and repeats, for S seconds (default 3) or N transactions in\n"
		"           all. Reports tps and latency percentiles in microseconds.\n"
		"  crr      --host H --port P [--conns C] [--size B]\n"
		"           [--duration S | --count N] [--src LIST]\n"
		"           connect/request/response/close: C in flight, each connects,\n"
		"           sends B bytes, reads the echo, closes (normally), and starts\n"
		"           over. Reports connections/s, latency of the whole exchange,\n"
		"           and errors by errno.\n"
		"  hold     --host H --port P --conns N [--hold S] [--server-pid PID]\n"
		"           [--src LIST] [--rst] [--hold-file PATH]\n"
		"           open N connections to an echo server (at most 256 being set\n"
		"           up at a time), verify each with a 1-byte echo, hold them S\n"
		"           seconds (default 5; any event on one is a failure), re-verify\n"
		"           up to 1000 evenly spaced ones, close them. Raises\n"
		"           RLIMIT_NOFILE itself. With --server-pid, reports the server's\n"
		"           VmRSS before and while holding and the bytes per connection;\n"
		"           always reports the change of Slab (/proc/meminfo, whole\n"
		"           machine), of the socket-related slab caches\n"
		"           (/proc/slabinfo: TCP, inode, dentry, file, epoll item) and\n"
		"           of TCP buffer memory (/proc/net/sockstat).\n"
		"  server   --port P --mode discard|echo|source [--host BIND] [--epoll]\n"
		"           kernel-socket server, one thread per connection (with --epoll:\n"
		"           one thread, nonblocking sockets); the source pattern is the\n"
		"           same as tundra's. Stops on SIGTERM/SIGINT (exit 0) or when\n"
		"           --timeout expires (exit 1); --timeout 0 means no limit.\n"
		"\n"
		"Options:\n"
		"  -H, --host H         peer address (client) or bind address (server)\n"
		"  -p, --port P         TCP port\n"
		"  -b, --bytes N        bytes per connection; suffixes K M G T (binary)\n"
		"  -c, --conns C        concurrent connections (default 1)\n"
		"  -k, --chunk K        bytes per read/write call (default 64K)\n"
		"  -m, --mode M         server mode: discard, echo or source\n"
		"      --verify-pattern recv: check the i %% 251 source pattern\n"
		"      --seed S         echo, rr, crr, hold: seed of the per-connection\n"
		"                       patterns (default 1)\n"
		"  -s, --size B         rr, crr: request bytes (default 1)\n"
		"  -d, --duration S     rr, crr: seconds of load (default 3)\n"
		"  -n, --count N        rr, crr: transactions in all, instead of a duration\n"
		"      --hold S         hold: seconds to hold (default 5)\n"
		"      --server-pid PID hold: the server process whose VmRSS to read\n"
		"      --src LIST       crr, hold: bind to these source addresses, round\n"
		"                       robin: A.B.C.D[+N][,...] (+N: N consecutive ones)\n"
		"      --src-prefix L   the same as --src\n"
		"      --rst            hold: close with an RST (SO_LINGER 0), leaving\n"
		"                       no TIME-WAIT behind\n"
		"      --hold-file PATH hold: after S seconds, hold on until PATH\n"
		"                       exists (processes holding together)\n"
		"      --epoll          server: one epoll thread instead of one per conn\n"
		"      --cc NAME        congestion control for every socket (e.g. cubic;\n"
		"                       default: the namespace's)\n"
		"  -t, --timeout SEC    give up after SEC seconds (default 60), with a\n"
		"                       message and exit status 1\n"
		"  -h, --help           this text\n"
		"\n"
		"Output: one line 'result mode=M bytes=N secs=S gbps=G conns=C ok=0|1 ...'\n"
		"(gbps is 1e9 bit/s of payload; rr/crr/hold add key=value pairs such\n"
		"as tps=, cps=, p50_us=, p99_us=, errors=, rss_bytes_per_conn=).\n"
		"Exit status: 0 on full success, 1 on a\n"
		"failed or unverified transfer or a timeout, 2 on a usage error.\n",
		argv0);
}

static int parse_opts(int argc, char **argv, struct lg_opts *o)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "conns", required_argument, NULL, 'c' },
		{ "chunk", required_argument, NULL, 'k' },
		{ "mode", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verify-pattern", no_argument, NULL, 'V' },
		{ "seed", required_argument, NULL, 'S' },
		{ "size", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },
		{ "hold", required_argument, NULL, 'O' },
		{ "server-pid", required_argument, NULL, 'P' },
		{ "src", required_argument, NULL, 'A' },
		{ "src-prefix", required_argument, NULL, 'A' },
		{ "rst", no_argument, NULL, 'R' },
		{ "hold-file", required_argument, NULL, 'F' },
		{ "epoll", no_argument, NULL, 'E' },
		{ "cc", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *m;
	double dv;
	uint64_t v;
	char *end;
	int ch;

	memset(o, 0, sizeof(*o));
	o->conns = 1;
	o->chunk = DEFAULT_CHUNK;
	o->timeout = 60;
	o->seed = 1;
	o->size = 1;
	o->hold = 5;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout, argv[0]);
			exit(0);
		}
	}
	if (argc < 2 || argv[1][0] == '-') {
		usage(stderr, argv[0]);
		return -1;
	}
	m = argv[1];
	o->mode_name = m;
	if (!strcmp(m, "echo"))
		o->mode = MODE_ECHO;
	else if (!strcmp(m, "send"))
		o->mode = MODE_SEND;
	else if (!strcmp(m, "recv"))
		o->mode = MODE_RECV;
	else if (!strcmp(m, "refused"))
		o->mode = MODE_REFUSED;
	else if (!strcmp(m, "server"))
		o->mode = MODE_SERVER;
	else if (!strcmp(m, "rr"))
		o->mode = MODE_RR;
	else if (!strcmp(m, "crr"))
		o->mode = MODE_CRR;
	else if (!strcmp(m, "hold"))
		o->mode = MODE_HOLD;
	else {
		msg("unknown mode '%s' (try --help)", m);
		return -1;
	}

	optind = 1;
	while ((ch = getopt_long(argc - 1, argv + 1, "H:p:b:c:k:m:t:s:d:n:h",
				 longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			o->host = optarg;
			break;
		case 'p':
			o->port = optarg;
			break;
		case 'b':
			if (parse_size(optarg, &o->bytes) < 0) {
				msg("bad --bytes '%s'", optarg);
				return -1;
			}
			o->bytes_set = true;
			break;
		case 'c':
			if (parse_size(optarg, &v) < 0 || v < 1 ||
			    v > 1000000) {
				msg("bad --conns '%s' (1..1000000)", optarg);
				return -1;
			}
			o->conns = (unsigned int)v;
			break;
		case 'k':
			if (parse_size(optarg, &v) < 0 || v < 1 ||
			    v > MAX_CHUNK) {
				msg("bad --chunk '%s' (1..16M)", optarg);
				return -1;
			}
			o->chunk = (size_t)v;
			break;
		case 'm':
			o->srv_name = optarg;
			if (!strcmp(optarg, "discard"))
				o->srv = SRV_DISCARD;
			else if (!strcmp(optarg, "echo"))
				o->srv = SRV_ECHO;
			else if (!strcmp(optarg, "source"))
				o->srv = SRV_SOURCE;
			else {
				msg("bad --mode '%s' (discard|echo|source)",
				    optarg);
				return -1;
			}
			break;
		case 't':
			errno = 0;
			o->timeout = strtod(optarg, &end);
			if (errno || end == optarg || *end || o->timeout < 0 ||
			    o->timeout > 86400) {
				msg("bad --timeout '%s' (0..86400)", optarg);
				return -1;
			}
			break;
		case 'V':
			o->verify_pattern = true;
			break;
		case 'C':
			if (!*optarg || strlen(optarg) >= 16) {
				msg("bad --cc '%s' (an algorithm name)", optarg);
				return -1;
			}
			cc_name = optarg;
			break;
		case 'S':
			o->seed = strtoul(optarg, NULL, 0);
			break;
		case 's':
			if (parse_size(optarg, &v) < 0 || v < 1 ||
			    v > MAX_CHUNK) {
				msg("bad --size '%s' (1..16M)", optarg);
				return -1;
			}
			o->size = (size_t)v;
			break;
		case 'd':
		case 'O':
			errno = 0;
			dv = strtod(optarg, &end);
			if (errno || end == optarg || *end || dv < 0 ||
			    dv > 86400) {
				msg("bad --%s '%s' (0..86400)",
				    ch == 'd' ? "duration" : "hold", optarg);
				return -1;
			}
			if (ch == 'd')
				o->duration = dv;
			else
				o->hold = dv;
			break;
		case 'n':
			if (parse_size(optarg, &o->count) < 0 || !o->count) {
				msg("bad --count '%s'", optarg);
				return -1;
			}
			break;
		case 'P':
			errno = 0;
			o->server_pid = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end ||
			    o->server_pid <= 0) {
				msg("bad --server-pid '%s'", optarg);
				return -1;
			}
			break;
		case 'A':
			o->src = optarg;
			break;
		case 'F':
			o->hold_file = optarg;
			break;
		case 'R':
			o->rst = true;
			break;
		case 'E':
			o->epoll = true;
			break;
		default:
			msg("try --help");
			return -1;
		}
	}
	if (optind < argc - 1) {
		msg("unexpected argument '%s'", argv[optind + 1]);
		return -1;
	}
	if (!o->port) {
		msg("--port is required");
		return -1;
	}
	if (o->mode == MODE_SERVER) {
		if (o->srv == SRV_NONE) {
			msg("server needs --mode discard|echo|source");
			return -1;
		}
		return 0;
	}
	if (!o->host) {
		msg("--host is required");
		return -1;
	}
	if (o->mode == MODE_RR || o->mode == MODE_CRR) {
		if (o->count && o->duration > 0) {
			msg("give --duration or --count, not both");
			return -1;
		}
		if (!o->count && o->duration <= 0)
			o->duration = 3;
	}
	if (o->mode == MODE_HOLD && o->hold >= o->timeout) {
		msg("--hold must be shorter than --timeout");
		return -1;
	}
	if (o->src && o->mode != MODE_CRR && o->mode != MODE_HOLD) {
		msg("--src is for crr and hold");
		return -1;
	}
	if (o->mode != MODE_REFUSED && o->mode != MODE_RR &&
	    o->mode != MODE_CRR && o->mode != MODE_HOLD && !o->bytes_set) {
		msg("--bytes is required");
		return -1;
	}
	if (o->timeout <= 0) {
		msg("--timeout must be > 0 for client modes");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct src_list src;
	struct lg_opts o;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	src_buf_init();
	switch (o.mode) {
	case MODE_ECHO:
	case MODE_SEND:
	case MODE_RECV:
		return run_client(&o);
	case MODE_REFUSED:
		return run_refused(&o);
	case MODE_SERVER:
		return run_server(&o);
	case MODE_RR:
		return run_rr(&o);
	case MODE_CRR:
	case MODE_HOLD:
		if (o.src && parse_src(o.src, &src) < 0) {
			msg("bad --src '%s' (A.B.C.D[+N][,...], at most %u)",
			    o.src, MAX_SRC_ADDRS);
			return 2;
		}
		return o.mode == MODE_CRR ? run_crr(&o, o.src ? &src : NULL) :
					    run_hold(&o, o.src ? &src : NULL);
	case MODE_NONE:
		break;
	}
	return 2;
}
