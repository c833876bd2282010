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
 * Client modes run one thread over one epoll set of nonblocking sockets;
 * the server runs one thread per accepted connection with blocking I/O.
 */
#include <arpa/inet.h>
#include <errno.h>
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

static int conn_open(struct client *cl, struct conn *c,
		     const struct sockaddr_storage *ss, socklen_t sslen)
{
	struct epoll_event e;
	int fd, one = 1;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		msg("socket: %s", strerror(errno));
		return -1;
	}
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
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		msg("socket: %s", strerror(errno));
		return 1;
	}
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
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		msg("socket: %s", strerror(errno));
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&ss, sslen) < 0 ||
	    listen(lfd, 4096) < 0) {
		msg("bind/listen on port %s: %s", o->port, strerror(errno));
		close(lfd);
		return 1;
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
		"  server   --port P --mode discard|echo|source [--host BIND]\n"
		"           kernel-socket server, one thread per connection; the source\n"
		"           pattern is the same as tundra's. Stops on SIGTERM/SIGINT\n"
		"           (exit 0) or when --timeout expires (exit 1); --timeout 0\n"
		"           means no limit.\n"
		"\n"
		"Options:\n"
		"  -H, --host H         peer address (client) or bind address (server)\n"
		"  -p, --port P         TCP port\n"
		"  -b, --bytes N        bytes per connection; suffixes K M G T (binary)\n"
		"  -c, --conns C        concurrent connections (default 1)\n"
		"  -k, --chunk K        bytes per read/write call (default 64K)\n"
		"  -m, --mode M         server mode: discard, echo or source\n"
		"      --verify-pattern recv: check the i %% 251 source pattern\n"
		"      --seed S         echo: seed of the per-connection patterns (default 1)\n"
		"  -t, --timeout SEC    give up after SEC seconds (default 60), with a\n"
		"                       message and exit status 1\n"
		"  -h, --help           this text\n"
		"\n"
		"Output: one line 'result mode=M bytes=N secs=S gbps=G conns=C ok=0|1 ...'\n"
		"(gbps is 1e9 bit/s of payload). Exit status: 0 on full success, 1 on a\n"
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *m;
	uint64_t v;
	char *end;
	int ch;

	memset(o, 0, sizeof(*o));
	o->conns = 1;
	o->chunk = DEFAULT_CHUNK;
	o->timeout = 60;
	o->seed = 1;

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
	else {
		msg("unknown mode '%s' (try --help)", m);
		return -1;
	}

	optind = 1;
	while ((ch = getopt_long(argc - 1, argv + 1, "H:p:b:c:k:m:t:h",
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
		case 'S':
			o->seed = strtoul(optarg, NULL, 0);
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
	if (o->mode != MODE_REFUSED && !o->bytes_set) {
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
	case MODE_NONE:
		break;
	}
	return 2;
}
