/*
 * ctl_client.c — `tundra stat` and `tundra conns`: send one request to a
 * running tundra's control socket (ctl.h) and print the reply, once or
 * every --watch seconds until Ctrl-C.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"

#define CLIENT_TIMEOUT_S 10

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *f)
{
	fputs("usage: tundra stat  [--json|--prometheus] [--watch SECS] "
	      "[--dev NAME|--socket PATH]\n"
	      "       tundra conns [--json] [--watch SECS] "
	      "[--dev NAME|--socket PATH]\n"
	      "  --dev NAME     the tundra serving TUN device NAME in this "
	      "network namespace\n"
	      "                 (socket @tundra-NAME; default tun0)\n"
	      "  --socket PATH  its control socket (--ctl-path); @NAME for an "
	      "abstract one\n"
	      "  --watch SECS   refresh every SECS seconds until Ctrl-C\n",
	      f);
}

struct reply {
	char *buf;
	size_t len, cap;
};

/* One request. 0 with the reply in *r, or 1 with a message on stderr. */
static int fetch(const struct sockaddr_un *sa, socklen_t salen,
		 const char *what, bool by_dev, const char *req,
		 struct reply *r)
{
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };
	size_t len = strlen(req), off = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	r->len = 0;
	if (fd < 0) {
		fprintf(stderr, "tundra: socket: %s\n", strerror(errno));
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)sa, salen)) {
		int e = errno;

		if (e == ECONNREFUSED || e == ENOENT) {
			if (by_dev)
				fprintf(stderr,
					"tundra: no tundra running for %s in "
					"this network namespace (nothing "
					"listens on @tundra-%s)\n",
					what, what);
			else
				fprintf(stderr,
					"tundra: no tundra listening on %s\n",
					what);
		} else if (e == EAGAIN) {
			fprintf(stderr, "tundra: %s is busy, try again\n",
				what);
		} else {
			fprintf(stderr, "tundra: cannot connect to %s: %s\n",
				what, strerror(e));
		}
		close(fd);
		return 1;
	}
	while (off < len) {
		ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR && !interrupted)
			continue;
		if (n <= 0) {
			fprintf(stderr, "tundra: sending to %s: %s\n", what,
				strerror(errno));
			close(fd);
			return 1;
		}
		off += (size_t)n;
	}
	for (;;) {
		ssize_t n;

		if (r->cap - r->len < 65536) {
			size_t cap = r->cap ? r->cap * 2 : 131072;
			char *b = realloc(r->buf, cap);

			if (!b) {
				fputs("tundra: out of memory\n", stderr);
				close(fd);
				return 1;
			}
			r->buf = b;
			r->cap = cap;
		}
		n = recv(fd, r->buf + r->len, r->cap - r->len - 1, 0);
		if (n > 0) {
			r->len += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno == EINTR && !interrupted)
			continue;
		fprintf(stderr, "tundra: reading from %s: %s\n", what,
			errno == EAGAIN ? "timed out" : strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	r->buf[r->len] = 0;
	if (r->len == 0) {
		fprintf(stderr, "tundra: %s closed without a reply\n", what);
		return 1;
	}
	if (!strncmp(r->buf, "error:", 6)) {
		fprintf(stderr, "tundra: %s", r->buf);
		if (r->buf[r->len - 1] != '\n')
			fputc('\n', stderr);
		return 1;
	}
	return 0;
}

int ctl_client_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'p' },
		{ "watch", required_argument, NULL, 'w' },
		{ "dev", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dev = "tun0", *path = NULL, *fmt = NULL;
	double watch = 0;
	struct sockaddr_un sa;
	struct reply r = { 0 };
	char req[64], *end;
	socklen_t salen;
	bool conns;
	int c, rc;

	if (argc < 1 || (strcmp(argv[0], "stat") && strcmp(argv[0], "conns"))) {
		usage(stderr);
		return 2;
	}
	conns = !strcmp(argv[0], "conns");
	optind = 0; /* glibc: start over, whatever parsed argv before */
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			fmt = "json";
			break;
		case 'p':
			if (conns) {
				fputs("tundra: conns has no --prometheus "
				      "format\n",
				      stderr);
				return 2;
			}
			fmt = "prometheus";
			break;
		case 'w':
			errno = 0;
			watch = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(watch >= 0.1) ||
			    watch > 86400) {
				fprintf(stderr,
					"tundra: --watch wants seconds "
					"between 0.1 and 86400, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'd':
			dev = optarg;
			break;
		case 's':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tundra: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!path && (!dev[0] || strchr(dev, '/'))) {
		fprintf(stderr, "tundra: bad device name '%s'\n", dev);
		return 2;
	}
	salen = ctl_sockaddr(&sa, path, dev);
	if (!salen) {
		fprintf(stderr, "tundra: socket name too long\n");
		return 2;
	}
	snprintf(req, sizeof(req), "%s%s%s\n", argv[0], fmt ? " " : "",
		 fmt ? fmt : "");

	if (!watch) {
		rc = fetch(&sa, salen, path ? path : dev, !path, req, &r);
		if (!rc)
			fwrite(r.buf, 1, r.len, stdout);
		free(r.buf);
		if (fflush(stdout))
			rc = 1;
		return rc;
	}

	/* --watch: Ctrl-C (or SIGTERM) ends the loop with status 0. */
	{
		struct sigaction act = { .sa_handler = on_signal };
		sigset_t set;

		sigemptyset(&act.sa_mask);
		sigaction(SIGINT, &act, NULL);
		sigaction(SIGTERM, &act, NULL);
		sigemptyset(&set);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
	}
	rc = 0;
	while (!interrupted) {
		struct timespec ts;
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		rc = fetch(&sa, salen, path ? path : dev, !path, req, &r);
		if (rc || interrupted)
			break;
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
		printf("\033[H\033[2J"
		       "every %gs: tundra %s%s%s (%s)  %s\n\n",
		       watch, argv[0], fmt ? " --" : "", fmt ? fmt : "",
		       path ? path : dev, stamp);
		fwrite(r.buf, 1, r.len, stdout);
		fflush(stdout);
		ts.tv_sec = (time_t)watch;
		ts.tv_nsec = (long)((watch - (double)ts.tv_sec) * 1e9);
		while (!interrupted && nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	free(r.buf);
	if (interrupted)
		rc = 0;
	return rc;
}
