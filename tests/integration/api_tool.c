/*
 * api_tool.c — the thread API (tundra/socket.h) end to end: a program that
 * makes its own tundra stack (its own TUN device, in the network namespace
 * it runs in) and talks to the kernel's TCP through it.
 *
 *   api_tool [stack options] MODE [mode options]
 *
 *   server           --port P        echo server, one thread per connection
 *   client           --host H --port P --bytes N
 *                    echo client: N bytes of a seeded pattern, each chunk
 *                    read back and checked before the next is sent
 *   client --send    N bytes of the i % 251 pattern, shutdown, wait for EOF
 *   client --recv    read N bytes and check i % 251 (a kernel source); with
 *                    --until-eof expect the peer's FIN right after them
 *   halfclose-client send N (seeded pattern) to an echo server, shut down
 *                    writing after the last byte, read until EOF, check all
 *   closefirst       send N (i % 251), close at once; print a stats
 *                    snapshot after 0.5 s and after the TIME-WAIT time
 *   refused          connecting must fail with -ECONNREFUSED
 *   conns --count C  C concurrent connections to an echo server, a 1-byte
 *                    round trip each, shutdown, EOF, close all; then wait
 *                    out TIME-WAIT
 *
 * Stack options: --dev --addr A/N --peer-addr A/N --workers --queues
 * --time-wait MS; --timeout S bounds the whole run (exit 1).
 * Output: "api_tool: ready ...", "result mode=M ... ok=0|1", and the
 * stack's stats at exit. Exit 0 only when the mode succeeded (server: on
 * SIGTERM/SIGINT).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "tundra/socket.h"
#include "tundra/tundra.h"

struct opts {
	const char *mode;
	uint32_t host;
	uint16_t port;
	uint64_t bytes;
	unsigned count;
	bool send, recv, until_eof;
	double timeout;
	uint64_t seed;
};

static struct opts o = { .bytes = 1 << 20, .count = 1000, .timeout = 120,
			 .seed = 1 };
static struct tundra *T;
static uint64_t time_wait_ms = 60000;
static struct tundra_sock *listener; /* server mode */
static pthread_t main_thread;
static atomic_int mode_rc = 1;

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- patterns --------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Byte `off` of the seeded pattern: byte off%8 of splitmix64(seed+off/8). */
static void seeded_fill(uint64_t seed, uint64_t off, uint8_t *dst, size_t n)
{
	for (size_t i = 0; i < n; i++, off++)
		dst[i] = (uint8_t)(splitmix64(seed + off / 8) >> (8 * (off % 8)));
}

static void src_fill(uint64_t off, uint8_t *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (uint8_t)((off + i) % 251);
}

/* ---- README example: an echo server on the thread API ---------------- */

static atomic_int live_conns;

static void *echo_conn(void *arg)
{
	struct tundra_sock *s = arg;
	char buf[16384];
	ssize_t n;

	while ((n = tundra_sock_read(s, buf, sizeof(buf), 0)) > 0)
		if (tundra_sock_write(s, buf, (size_t)n, 0) != n)
			break;
	tundra_sock_close(s); /* after EOF: FIN follows the last echoed byte */
	atomic_fetch_sub(&live_conns, 1);
	return NULL;
}

/* The accept loop; ls came from tundra_sock_listen(t, port, 1024, &ls). */
static int echo_server(struct tundra_sock *ls)
{
	struct tundra_sock *s;
	pthread_t th;
	int rc;

	while ((rc = tundra_sock_accept(ls, &s, 0)) == 0) {
		atomic_fetch_add(&live_conns, 1);
		if (pthread_create(&th, NULL, echo_conn, s)) {
			atomic_fetch_sub(&live_conns, 1);
			tundra_sock_abort(s);
			continue;
		}
		pthread_detach(th);
	}
	tundra_sock_close(ls);
	return rc; /* -ESHUTDOWN once the stack stops */
}

/* ---- README example: an echo client ---------------------------------- */

/* Send n bytes in chunks; read each chunk back and compare. */
static int echo_client(struct tundra *t, uint32_t addr, uint16_t port,
		       uint64_t n, uint64_t seed)
{
	static uint8_t out[65536], in[65536];
	struct tundra_sock *s;
	int rc = tundra_sock_connect(t, addr, port, 0, &s);

	if (rc)
		return rc;
	for (uint64_t off = 0; off < n && !rc;) {
		size_t len = n - off < sizeof(out) ? (size_t)(n - off) : sizeof(out);
		ssize_t r = 0;

		seeded_fill(seed, off, out, len);
		if (tundra_sock_write(s, out, len, 0) != (ssize_t)len)
			rc = -EIO;
		for (size_t got = 0; !rc && got < len; got += (size_t)r)
			if ((r = tundra_sock_read(s, in + got, len - got, 0)) <= 0)
				rc = r ? (int)r : -EPROTO; /* EOF too soon */
		if (!rc && memcmp(in, out, len))
			rc = -EBADMSG;
		off += len;
	}
	tundra_sock_close(s);
	return rc;
}

/* ---- other modes ------------------------------------------------------ */

static void result(const char *mode, uint64_t bytes, double secs, bool ok,
		   const char *extra)
{
	printf("result mode=%s bytes=%" PRIu64 " secs=%.3f gbps=%.3f ok=%d%s%s\n",
	       mode, bytes, secs, secs > 0 ? (double)bytes * 8 / secs / 1e9 : 0,
	       ok ? 1 : 0, extra && *extra ? " " : "", extra ? extra : "");
	fflush(stdout);
}

static int connect_or_say(struct tundra_sock **s)
{
	int rc = tundra_sock_connect(T, o.host, o.port, 0, s);

	if (rc)
		fprintf(stderr, "api_tool: connect: %s\n", strerrorname_np(-rc));
	return rc;
}

static int mode_send(void)
{
	static uint8_t buf[65536 + 251];
	struct tundra_sock *s;
	uint64_t off = 0;
	double t0 = now_sec();
	char tmp[8];
	ssize_t r;

	if (connect_or_say(&s))
		return 1;
	src_fill(0, buf, sizeof(buf));
	while (off < o.bytes) {
		size_t len = o.bytes - off < 65536 ? (size_t)(o.bytes - off)
						    : 65536;
		r = tundra_sock_write(s, buf + off % 251, len, 0);
		if (r != (ssize_t)len) {
			fprintf(stderr, "api_tool: write: %zd\n", r);
			tundra_sock_close(s);
			return 1;
		}
		off += len;
	}
	tundra_sock_shutdown(s);
	r = tundra_sock_read(s, tmp, sizeof(tmp), 0);
	tundra_sock_close(s);
	result("send", off, now_sec() - t0, r == 0,
	       r == 0 ? "eof=1" : "eof=0");
	return r == 0 ? 0 : 1;
}

static int mode_recv(void)
{
	static uint8_t buf[65536];
	struct tundra_sock *s;
	uint64_t off = 0;
	double t0 = now_sec();
	ssize_t r = 0;
	bool ok = true;
	char extra[64] = "";

	if (connect_or_say(&s))
		return 1;
	while (off < o.bytes) {
		size_t want = o.bytes - off < sizeof(buf) ? (size_t)(o.bytes - off)
							 : sizeof(buf);
		r = tundra_sock_read(s, buf, want, 0);
		if (r <= 0) {
			fprintf(stderr, "api_tool: read at %" PRIu64 ": %zd\n",
				off, r);
			ok = false;
			break;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != (uint8_t)((off + (uint64_t)i) % 251)) {
				ssize_t end = i;

				while (end < r &&
				       buf[end] != (uint8_t)((off + (uint64_t)end) % 251))
					end++;
				fprintf(stderr,
					"api_tool: pattern mismatch at %" PRIu64
					" (read of %zd at %" PRIu64
					"): got %u want %u, %zd bad bytes"
					" (shift %d mod 251)\n",
					off + (uint64_t)i, r, off, buf[i],
					(unsigned)((off + (uint64_t)i) % 251),
					end - i,
					(int)((buf[i] + 251 -
					       (off + (uint64_t)i) % 251) % 251));
				ok = false;
				break;
			}
		if (!ok)
			break;
		off += (uint64_t)r;
	}
	if (ok && o.until_eof) {
		r = tundra_sock_read(s, buf, sizeof(buf), 0);
		ok = r == 0;
		snprintf(extra, sizeof(extra), "eof=%d", ok);
	}
	tundra_sock_close(s);
	result("recv", off, now_sec() - t0, ok, extra);
	/* The close is asynchronous and the stack stops with this program:
	 * give our FIN its ACK (or our RST, with unread data, its way out)
	 * before it does, so the peer and the final stats see the end. */
	sleep_ms(500);
	return ok ? 0 : 1;
}

/* Wait on the socket's eventfd; events() re-armed it. */
static void wait_sock(struct tundra_sock *s, int ms)
{
	struct pollfd p = { .fd = tundra_sock_fd(s), .events = POLLIN };

	poll(&p, 1, ms);
}

static int mode_halfclose(void)
{
	static uint8_t out[65536], in[65536], want[65536];
	struct tundra_sock *s;
	uint64_t sent = 0, rcvd = 0;
	double t0 = now_sec();
	bool shut = false, eof = false, ok = true;

	if (connect_or_say(&s))
		return 1;
	while (ok && !eof) {
		bool progress = false;
		ssize_t r;

		if (sent < o.bytes) {
			size_t len = o.bytes - sent < sizeof(out)
					     ? (size_t)(o.bytes - sent)
					     : sizeof(out);
			seeded_fill(o.seed, sent, out, len);
			r = tundra_sock_write(s, out, len, TUNDRA_NONBLOCK);
			if (r > 0) {
				sent += (uint64_t)r;
				progress = true;
			} else if (r != -EAGAIN) {
				fprintf(stderr, "api_tool: write: %zd\n", r);
				ok = false;
			}
		} else if (!shut) {
			ok = tundra_sock_shutdown(s) == 0;
			shut = true;
		}
		r = tundra_sock_read(s, in, sizeof(in), TUNDRA_NONBLOCK);
		if (r > 0) {
			seeded_fill(o.seed, rcvd, want, (size_t)r);
			if (memcmp(in, want, (size_t)r)) {
				fprintf(stderr, "api_tool: echo mismatch near %" PRIu64 "\n",
					rcvd);
				ok = false;
			}
			rcvd += (uint64_t)r;
			progress = true;
		} else if (r == 0) {
			eof = true;
		} else if (r != -EAGAIN) {
			fprintf(stderr, "api_tool: read: %zd\n", r);
			ok = false;
		}
		if (!progress && ok && !eof &&
		    !(tundra_sock_events(s) & (POLLIN | POLLOUT | POLLERR | POLLHUP)))
			wait_sock(s, 1000);
	}
	ok = ok && eof && shut && rcvd == o.bytes;
	tundra_sock_close(s);
	result("halfclose-client", rcvd, now_sec() - t0, ok,
	       eof ? "eof=1" : "eof=0");
	return ok ? 0 : 1;
}

static int mode_closefirst(void)
{
	static uint8_t buf[65536 + 251];
	struct tundra_sock *s;
	uint64_t off = 0;

	if (connect_or_say(&s))
		return 1;
	src_fill(0, buf, sizeof(buf));
	while (off < o.bytes) {
		size_t len = o.bytes - off < 65536 ? (size_t)(o.bytes - off)
						    : 65536;
		if (tundra_sock_write(s, buf + off % 251, len, 0) != (ssize_t)len)
			break;
		off += len;
	}
	tundra_sock_close(s); /* graceful: the bytes, then FIN */
	result("closefirst", off, 0, off == o.bytes, "");
	sleep_ms(500);
	printf("phase after-close\n");
	tundra_print_stats(T, stdout);
	sleep_ms(time_wait_ms + 700);
	printf("phase after-time-wait\n");
	tundra_print_stats(T, stdout);
	return off == o.bytes ? 0 : 1;
}

static int mode_refused(void)
{
	struct tundra_sock *s;
	double t0 = now_sec();
	int rc = tundra_sock_connect(T, o.host, o.port, 0, &s);
	char extra[64];

	if (!rc)
		tundra_sock_close(s);
	snprintf(extra, sizeof(extra), "error=%s",
		 rc ? strerrorname_np(-rc) : "none");
	result("refused", 0, now_sec() - t0, rc == -ECONNREFUSED, extra);
	return rc == -ECONNREFUSED ? 0 : 1;
}

/*
 * Drive every socket in s[0..n) through step() until it returns 1 (done)
 * for all, or -1 (failed) for one. step() returning 0 means "pending" and
 * must have re-armed the socket (an -EAGAIN or tundra_sock_events()), so
 * sleeping in poll is safe.
 */
static int phase(struct tundra_sock **s, unsigned n, int (*step)(struct tundra_sock *),
		 const char *name)
{
	struct pollfd *p = calloc(n, sizeof(*p));
	bool *done = calloc(n, sizeof(*done));
	unsigned left = n;
	int rc = 0;

	if (!p || !done) {
		free(p);
		free(done);
		return -ENOMEM;
	}
	while (left && !rc) {
		unsigned k = 0;

		for (unsigned i = 0; i < n && !rc; i++) {
			int r;

			if (done[i])
				continue;
			r = step(s[i]);
			if (r < 0) {
				fprintf(stderr, "api_tool: %s failed on connection %u\n",
					name, i);
				rc = -EIO;
			} else if (r > 0) {
				done[i] = true;
				left--;
			} else {
				p[k].fd = tundra_sock_fd(s[i]);
				p[k++].events = POLLIN;
			}
		}
		if (k && !rc && poll(p, k, 1000) < 0 && errno != EINTR)
			rc = -errno;
	}
	free(p);
	free(done);
	return rc;
}

static int step_connected(struct tundra_sock *s)
{
	int ev = tundra_sock_events(s);

	if (ev & (POLLERR | POLLHUP))
		return -1;
	return ev & POLLOUT ? 1 : 0;
}

static int step_ping(struct tundra_sock *s)
{
	char c = 'x';
	ssize_t r = tundra_sock_write(s, &c, 1, TUNDRA_NONBLOCK);

	return r == 1 ? 1 : r == -EAGAIN ? 0 : -1;
}

static int step_pong(struct tundra_sock *s)
{
	char c;
	ssize_t r = tundra_sock_read(s, &c, 1, TUNDRA_NONBLOCK);

	return r == 1 && c == 'x' ? 1 : r == -EAGAIN ? 0 : -1;
}

static int step_eof(struct tundra_sock *s)
{
	char c;
	ssize_t r = tundra_sock_read(s, &c, 1, TUNDRA_NONBLOCK);

	return r == 0 ? 1 : r == -EAGAIN ? 0 : -1;
}

static int mode_conns(void)
{
	struct tundra_sock **s = calloc(o.count, sizeof(*s));
	double t0 = now_sec(), t1;
	unsigned opened = 0;
	int rc = 0;
	char extra[128];

	if (!s)
		return 1;
	for (; opened < o.count; opened++) {
		rc = tundra_sock_connect(T, o.host, o.port, TUNDRA_NONBLOCK,
					 &s[opened]);
		if (rc != -EINPROGRESS)
			break;
		tundra_sock_set_nodelay(s[opened], 1);
		rc = 0;
	}
	if (!rc)
		rc = phase(s, opened, step_connected, "connect");
	if (!rc)
		rc = phase(s, opened, step_ping, "write");
	if (!rc)
		rc = phase(s, opened, step_pong, "read echo");
	for (unsigned i = 0; !rc && i < opened; i++)
		rc = tundra_sock_shutdown(s[i]);
	if (!rc)
		rc = phase(s, opened, step_eof, "wait for EOF");
	for (unsigned i = 0; i < opened; i++)
		tundra_sock_close(s[i]);
	t1 = now_sec();
	free(s);
	snprintf(extra, sizeof(extra), "conns=%u error=%s", opened,
		 rc ? strerrorname_np(-rc) : "none");
	result("conns", opened, t1 - t0, !rc && opened == o.count, extra);
	/* Our side closed first: wait out TIME-WAIT so that the final
	 * stats can show every connection gone. */
	if (!rc)
		sleep_ms(time_wait_ms + 1000);
	return !rc && opened == o.count ? 0 : 1;
}

static void *mode_main(void *arg)
{
	int rc = 1;

	(void)arg;
	if (!strcmp(o.mode, "server")) {
		rc = echo_server(listener);
		if (rc != -ESHUTDOWN)
			fprintf(stderr, "api_tool: server: %s\n",
				strerrorname_np(-rc));
		rc = rc == -ESHUTDOWN ? 0 : 1;
	} else if (!strcmp(o.mode, "client") && o.send) {
		rc = mode_send();
	} else if (!strcmp(o.mode, "client") && o.recv) {
		rc = mode_recv();
	} else if (!strcmp(o.mode, "client")) {
		double t0 = now_sec();
		int r = echo_client(T, o.host, o.port, o.bytes, o.seed);
		char extra[64];

		snprintf(extra, sizeof(extra), "error=%s",
			 r ? strerrorname_np(-r) : "none");
		result("client", o.bytes, now_sec() - t0, r == 0, extra);
		rc = r ? 1 : 0;
	} else if (!strcmp(o.mode, "halfclose-client")) {
		rc = mode_halfclose();
	} else if (!strcmp(o.mode, "closefirst")) {
		rc = mode_closefirst();
	} else if (!strcmp(o.mode, "refused")) {
		rc = mode_refused();
	} else if (!strcmp(o.mode, "conns")) {
		rc = mode_conns();
	}
	atomic_store(&mode_rc, rc);
	pthread_kill(main_thread, SIGUSR2);
	return NULL;
}

/* ---- main ------------------------------------------------------------- */

static int parse_addr(const char *s, uint32_t *addr, uint8_t *prefix)
{
	char buf[32], *slash;
	struct in_addr in;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = 0;
		if (prefix)
			*prefix = (uint8_t)atoi(slash + 1);
	}
	if (inet_pton(AF_INET, buf, &in) != 1)
		return -1;
	*addr = ntohl(in.s_addr);
	return 0;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	switch (*end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; break;
	default: break;
	}
	return v;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: api_tool MODE [options]\n"
		"modes: server --port P | client --host H --port P --bytes N\n"
		"       [--send | --recv [--until-eof]] | halfclose-client ... |\n"
		"       closefirst ... | refused --host H --port P |\n"
		"       conns --host H --port P --count C\n"
		"stack: --dev NAME --addr A/N --peer-addr A/N --workers W\n"
		"       --queues Q --time-wait MS; --timeout S\n");
}

int main(int argc, char **argv)
{
	enum { O_DEV = 256, O_ADDR, O_PEER, O_WORKERS, O_QUEUES, O_TW,
	       O_TIMEOUT, O_HOST, O_PORT, O_BYTES, O_COUNT, O_SEND, O_RECV,
	       O_EOF, O_SEED };
	static const struct option lo[] = {
		{ "dev", 1, NULL, O_DEV }, { "addr", 1, NULL, O_ADDR },
		{ "peer-addr", 1, NULL, O_PEER },
		{ "workers", 1, NULL, O_WORKERS },
		{ "queues", 1, NULL, O_QUEUES },
		{ "time-wait", 1, NULL, O_TW },
		{ "timeout", 1, NULL, O_TIMEOUT }, { "host", 1, NULL, O_HOST },
		{ "port", 1, NULL, O_PORT }, { "bytes", 1, NULL, O_BYTES },
		{ "count", 1, NULL, O_COUNT }, { "send", 0, NULL, O_SEND },
		{ "recv", 0, NULL, O_RECV }, { "until-eof", 0, NULL, O_EOF },
		{ "seed", 1, NULL, O_SEED }, { "help", 0, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct tundra_config cfg;
	struct rlimit rl;
	sigset_t sigs;
	pthread_t th;
	char err[256];
	double deadline;
	int c, rc, sig = 0;

	tundra_config_defaults(&cfg);
	cfg.workers = cfg.queues = 2;
	if (argc < 2 || argv[1][0] == '-') {
		usage(argc < 2 ? stderr : stdout);
		return 2;
	}
	o.mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_DEV: cfg.dev = optarg; break;
		case O_ADDR:
			if (parse_addr(optarg, &cfg.addr, &cfg.prefix))
				goto bad;
			break;
		case O_PEER:
			if (parse_addr(optarg, &cfg.peer_addr, &cfg.peer_prefix))
				goto bad;
			break;
		case O_WORKERS: cfg.workers = (unsigned)atoi(optarg); break;
		case O_QUEUES: cfg.queues = (unsigned)atoi(optarg); break;
		case O_TW: cfg.time_wait_ms = strtoull(optarg, NULL, 10); break;
		case O_TIMEOUT: o.timeout = atof(optarg); break;
		case O_HOST:
			if (parse_addr(optarg, &o.host, NULL))
				goto bad;
			break;
		case O_PORT: o.port = (uint16_t)atoi(optarg); break;
		case O_BYTES: o.bytes = parse_size(optarg); break;
		case O_COUNT: o.count = (unsigned)atoi(optarg); break;
		case O_SEND: o.send = true; break;
		case O_RECV: o.recv = true; break;
		case O_EOF: o.until_eof = true; break;
		case O_SEED: o.seed = strtoull(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		default: goto bad;
		}
	}
	if (!cfg.workers || !cfg.queues || !o.port)
		goto bad;
	time_wait_ms = cfg.time_wait_ms;

	/* One eventfd per socket: room for the conns mode. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Signals are for this thread's sigwait; every thread inherits the
	 * mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	main_thread = pthread_self();

	rc = tundra_create(&T, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "api_tool: %s\n", err);
		return 1;
	}
	/* Listen before the threads start: the listener table hands the
	 * listener to the workers through liburcu, whose barriers
	 * ThreadSanitizer cannot see (see the report). */
	if (!strcmp(o.mode, "server") &&
	    (rc = tundra_sock_listen(T, o.port, 1024, &listener))) {
		fprintf(stderr, "api_tool: listen: %s\n", strerrorname_np(-rc));
		tundra_destroy(T);
		return 1;
	}
	if (tundra_start(T)) {
		fprintf(stderr, "api_tool: cannot start the stack\n");
		tundra_destroy(T);
		return 1;
	}
	printf("api_tool: ready mode=%s workers=%u\n", o.mode, cfg.workers);
	fflush(stdout);
	if (pthread_create(&th, NULL, mode_main, NULL)) {
		tundra_destroy(T);
		return 1;
	}
	deadline = now_sec() + o.timeout;
	for (;;) {
		struct timespec ts = { 0, 200 * 1000000 };

		sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGUSR2)
			break;
		if (now_sec() > deadline) {
			fprintf(stderr, "api_tool: timeout after %.0f s\n",
				o.timeout);
			break;
		}
	}
	/* Wakes every thread blocked on a socket (-ESHUTDOWN). */
	tundra_stop(T);
	pthread_join(th, NULL);
	for (int i = 0; i < 500 && atomic_load(&live_conns); i++)
		sleep_ms(10);
	rc = atomic_load(&mode_rc);
	if (sig != SIGUSR2 && strcmp(o.mode, "server"))
		rc = 1; /* a client mode that did not finish */
	tundra_print_stats(T, stdout);
	tundra_destroy(T);
	return rc;
bad:
	usage(stderr);
	return 2;
}
