/*
 * main.c — the tundra program: parse the command line, create the stack,
 * start the built-in apps, then wait for signals. SIGINT/SIGTERM stop it
 * (threads joined, memory freed, device gone, exit 0); SIGUSR1 prints a
 * stats snapshot.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>

#include "apps/apps.h"
#include "apps/iperf3.h"
#include "tundra/tundra.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tundra [options]\n"
		"\n"
		"A userspace TCP/IPv4 stack on a TUN device. Creates DEV, gives the\n"
		"kernel side PEER-ADDR, and serves echo (7), discard (9), source (19)\n"
		"and an iperf3 server (5201) at ADDR. SIGINT/SIGTERM stop it;\n"
		"SIGUSR1 prints stats.\n"
		"\n"
		"  --dev NAME            TUN device name (default tun0)\n"
		"  --addr A.B.C.D/N      tundra's own address (default 10.0.0.2/24)\n"
		"  --peer-addr A.B.C.D/N the kernel side's address (default 10.0.0.1/24)\n"
		"  --queues Q            TUN queues, 1..64 (default: number of CPUs)\n"
		"  --workers W           worker threads, 1..256 (default: number of CPUs)\n"
		"  --mtu M               device MTU, 576..9000 (default 1500)\n"
		"  --ring-size N         entries per RX->worker ring (default 2048)\n"
		"  --txqueuelen N        the device's kernel-side queue, packets\n"
		"                        (default 10000)\n"
		"  --sndbuf BYTES        per-connection send buffer (default 262144)\n"
		"  --rcvbuf BYTES        per-connection receive buffer (default 262144)\n"
		"  --time-wait MS        TIME-WAIT duration, 2*MSL (default 60000)\n"
		"  --delack-ms MS        delayed-ACK timeout, 0..500 (default 40)\n"
		"  --spin N              idle polls before a thread sleeps (default 64)\n"
		"  -h, --help            this text\n");
}

static int parse_prefix(const char *s, uint32_t *addr, uint8_t *prefix)
{
	char buf[32];
	char *slash, *end;
	struct in_addr in;
	long p = 32;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = 0;
		errno = 0;
		p = strtol(slash + 1, &end, 10);
		if (errno || *end || end == slash + 1 || p < 1 || p > 32)
			return -1;
	}
	if (inet_pton(AF_INET, buf, &in) != 1)
		return -1;
	*addr = ntohl(in.s_addr);
	*prefix = (uint8_t)p;
	return 0;
}

static int parse_uint(const char *opt, const char *s, unsigned long min,
		      unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || s[0] == '-' || v < min || v > max) {
		fprintf(stderr,
			"tundra: --%s: '%s' is not a number in %lu..%lu\n",
			opt, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

enum {
	OPT_DEV = 1,
	OPT_ADDR,
	OPT_PEER,
	OPT_QUEUES,
	OPT_WORKERS,
	OPT_MTU,
	OPT_RING,
	OPT_SNDBUF,
	OPT_RCVBUF,
	OPT_TW,
	OPT_SPIN,
	OPT_TXQLEN,
	OPT_DELACK,
};

static int parse_args(int argc, char **argv, struct tundra_config *cfg)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, OPT_DEV },
		{ "addr", required_argument, NULL, OPT_ADDR },
		{ "peer-addr", required_argument, NULL, OPT_PEER },
		{ "queues", required_argument, NULL, OPT_QUEUES },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "mtu", required_argument, NULL, OPT_MTU },
		{ "ring-size", required_argument, NULL, OPT_RING },
		{ "sndbuf", required_argument, NULL, OPT_SNDBUF },
		{ "rcvbuf", required_argument, NULL, OPT_RCVBUF },
		{ "time-wait", required_argument, NULL, OPT_TW },
		{ "spin", required_argument, NULL, OPT_SPIN },
		{ "txqueuelen", required_argument, NULL, OPT_TXQLEN },
		{ "delack-ms", required_argument, NULL, OPT_DELACK },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		const char *name = c > 0 && c <= OPT_DELACK ? opts[c - 1].name
							  : "";
		switch (c) {
		case OPT_DEV:
			if (!*optarg || strlen(optarg) > 15) {
				fprintf(stderr,
					"tundra: --dev: '%s' is not a device "
					"name of 1..15 characters\n",
					optarg);
				return -1;
			}
			cfg->dev = optarg;
			break;
		case OPT_ADDR:
		case OPT_PEER:
			if (parse_prefix(optarg,
					 c == OPT_ADDR ? &cfg->addr
						       : &cfg->peer_addr,
					 c == OPT_ADDR ? &cfg->prefix
						       : &cfg->peer_prefix)) {
				fprintf(stderr,
					"tundra: --%s: '%s' is not an IPv4 "
					"address like 10.0.0.2/24\n",
					name, optarg);
				return -1;
			}
			break;
		case OPT_QUEUES:
			if (parse_uint(name, optarg, 1, 64, &v))
				return -1;
			cfg->queues = (unsigned)v;
			break;
		case OPT_WORKERS:
			if (parse_uint(name, optarg, 1, 256, &v))
				return -1;
			cfg->workers = (unsigned)v;
			break;
		case OPT_MTU:
			if (parse_uint(name, optarg, 576, 9000, &v))
				return -1;
			cfg->mtu = (unsigned)v;
			break;
		case OPT_RING:
			if (parse_uint(name, optarg, 64, 1u << 20, &v))
				return -1;
			cfg->ring_size = (unsigned)v;
			break;
		case OPT_SNDBUF:
		case OPT_RCVBUF:
			if (parse_uint(name, optarg, 4096, 1u << 30, &v))
				return -1;
			*(c == OPT_SNDBUF ? &cfg->sndbuf : &cfg->rcvbuf) =
				(uint32_t)v;
			break;
		case OPT_TW:
			if (parse_uint(name, optarg, 0, 600000, &v))
				return -1;
			cfg->time_wait_ms = v;
			break;
		case OPT_SPIN:
			if (parse_uint(name, optarg, 0, 1u << 24, &v))
				return -1;
			cfg->spin = (unsigned)v;
			break;
		case OPT_TXQLEN:
			if (parse_uint(name, optarg, 1, 1u << 20, &v))
				return -1;
			cfg->txqueuelen = (unsigned)v;
			break;
		case OPT_DELACK:
			/* RFC 9293 §3.8.6.3: the delay MUST be under 0.5 s. */
			if (parse_uint(name, optarg, 0, 500, &v))
				return -1;
			cfg->delack_ms = v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tundra: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if (cfg->addr == cfg->peer_addr) {
		fprintf(stderr, "tundra: --addr and --peer-addr are the same\n");
		return -1;
	}
	return 0;
}

static const char *ip_str(uint32_t a, char *buf)
{
	struct in_addr in = { .s_addr = htonl(a) };

	return inet_ntop(AF_INET, &in, buf, INET_ADDRSTRLEN);
}

int main(int argc, char **argv)
{
	struct tundra_config cfg;
	struct tundra *t;
	struct iperf3_server *ip3 = NULL;
	char err[256], a[INET_ADDRSTRLEN], p[INET_ADDRSTRLEN];
	sigset_t sigs;
	int rc, sig;

	tundra_config_defaults(&cfg);
	if (parse_args(argc, argv, &cfg))
		return 2;

	/* Signals are taken synchronously by this thread only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	rcu_register_thread();
	rc = tundra_create(&t, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tundra: %s\n", err);
		rcu_unregister_thread();
		return 1;
	}
	/* The iperf3 app needs the stack (for worker calls); it logs one
	 * line per test on stdout. */
	if (iperf3_server_create(&ip3, t, stdout) ||
	    tundra_listen(t, 7, &app_echo, NULL) ||
	    tundra_listen(t, 9, &app_discard, NULL) ||
	    tundra_listen(t, 19, &app_source, NULL) ||
	    tundra_listen(t, IPERF3_PORT, &app_iperf3, ip3) ||
	    tundra_start(t)) {
		fprintf(stderr, "tundra: cannot start its threads\n");
		tundra_destroy(t);
		iperf3_server_destroy(ip3);
		rcu_unregister_thread();
		return 1;
	}
	printf("tundra: ready dev=%s addr=%s/%u peer=%s/%u queues=%u "
	       "workers=%u mtu=%u\n",
	       cfg.dev, ip_str(cfg.addr, a), cfg.prefix,
	       ip_str(cfg.peer_addr, p), cfg.peer_prefix, cfg.queues,
	       cfg.workers, cfg.mtu);
	fflush(stdout);

	for (;;) {
		sig = sigwaitinfo(&sigs, NULL);
		if (sig == SIGUSR1) {
			tundra_print_stats(t, stdout);
			continue;
		}
		if (sig == SIGINT || sig == SIGTERM)
			break;
	}
	printf("tundra: stopping (%s)\n", strsignal(sig));
	tundra_stop(t);
	tundra_print_stats(t, stdout);
	tundra_destroy(t);
	iperf3_server_destroy(ip3);
	rcu_unregister_thread();
	printf("tundra: stopped\n");
	return 0;
}
