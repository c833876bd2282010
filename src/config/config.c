/*
 * config.c — the knob table, and the three things made from it: the INI
 * file parser (libinih), the command line (getopt_long) and --help / the
 * README's reference table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "impair/impair.h"

static const char *const poll_modes[] = { "adaptive", "busy", "blocking",
					  NULL };
static const char *const io_modes[] = { "auto", "pipeline", "rtc", NULL };
static const char *const steering_modes[] = { "auto", "off", NULL };
static const char *const offload_modes[] = { "auto", "on", "off", NULL };
static const char *const cc_algos[] = { "cubic", "reno", NULL };
static const char *const off_on[] = { "off", "on", NULL };
static const char *const syncookie_modes[] = { "off", "on", "always",
					       NULL };
static const char *const log_levels[] = { "error", "warn", "info", "debug",
					  NULL };

#define F(field) offsetof(struct config, field), 0, \
	sizeof(((struct config *)0)->field)
#define C(field) F(cfg.field)

/* The one table. Defaults (def) are what tundra_config_defaults() and
 * config_defaults() set; test_config.c checks that they agree. */
const struct config_knob config_knobs[] = {
	{ "device", "name", "dev", "NAME", KT_NAME, 1, 15, NULL, "tun0",
	  "TUN device to create (or attach to, if a multi-queue TUN of that name exists)",
	  F(dev) },
	{ "device", "addr", "addr", "A.B.C.D/N", KT_ADDR, 0, 0, NULL,
	  "10.0.0.2/24", "tundra's own address",
	  offsetof(struct config, cfg.addr), offsetof(struct config, cfg.prefix),
	  0 },
	{ "device", "peer_addr", "peer-addr", "A.B.C.D/N", KT_ADDR, 0, 0, NULL,
	  "10.0.0.1/24",
	  "the kernel side's address, set on the device over rtnetlink",
	  offsetof(struct config, cfg.peer_addr),
	  offsetof(struct config, cfg.peer_prefix), 0 },
	{ "device", "mtu", "mtu", "M", KT_UINT, 576, 65535, NULL, "1500",
	  "device MTU; tundra's MSS is MTU - 40", C(mtu) },
	{ "device", "queues", "queues", "Q", KT_COUNT, 1, 64, NULL, "auto",
	  "TUN queues (auto: number of CPUs)", C(queues) },
	{ "device", "txqueuelen", "txqueuelen", "N", KT_UINT, 1, 1u << 20, NULL,
	  "10000", "packets the kernel may queue on the device for tundra",
	  C(txqueuelen) },
	{ "device", "offload", "offload", "MODE", KT_ENUM, 0, 2, offload_modes,
	  "auto",
	  "TUN offloads (IFF_VNET_HDR: 64 KB GSO reads, TSO writes): auto uses them if the kernel accepts, else plain; on fails without them",
	  C(offload) },

	{ "device", "steering", "steering", "MODE", KT_ENUM, 0, 1,
	  steering_modes, "auto",
	  "eBPF queue steering: the kernel puts each flow on its worker's queue by tundra's own hash (auto: with queues > 1, if the kernel accepts the program); off: the kernel's flow table decides",
	  C(steering) },

	{ "threads", "workers", "workers", "W", KT_COUNT, 1, 256, NULL, "auto",
	  "worker threads (auto: number of CPUs)", C(workers) },
	{ "threads", "ring_size", "ring-size", "N", KT_UINT, 64, 1u << 20, NULL,
	  "2048", "entries per RX->worker ring", C(ring_size) },
	{ "threads", "poll_mode", "poll-mode", "MODE", KT_ENUM, 0, 2,
	  poll_modes, "adaptive",
	  "idle threads: adaptive spins `spin` polls then sleeps; busy never sleeps (workers, TX, RX); blocking sleeps at once (spin 0)",
	  C(poll_mode) },
	{ "threads", "spin", "spin", "N", KT_UINT, 0, 1u << 24, NULL, "64",
	  "idle polls before a thread sleeps (poll_mode adaptive; io_mode pipeline: an rtc worker sleeps in poll() at once)",
	  C(spin) },
	{ "threads", "io_mode", "io-mode", "MODE", KT_ENUM, 0, 2, io_modes,
	  "auto",
	  "rtc: worker i reads and writes TUN queue i itself, no RX/TX threads (needs workers = queues, no impair); pipeline: RX thread -> workers -> TX thread; auto: rtc when it can run",
	  C(io_mode) },
	{ "threads", "cpu_rx", "cpu-rx", "CPU", KT_CPU, 0, CPU_SETSIZE - 1,
	  NULL, "none", "pin the RX thread to this CPU (none: not pinned)",
	  C(cpu_rx) },
	{ "threads", "cpu_tx", "cpu-tx", "CPU", KT_CPU, 0, CPU_SETSIZE - 1,
	  NULL, "none", "pin the TX thread to this CPU (none: not pinned)",
	  C(cpu_tx) },
	{ "threads", "cpu_workers", "cpu-workers", "LIST", KT_CPULIST, 0,
	  CPU_SETSIZE - 1, NULL, "none",
	  "pin worker i to CPU LIST[i mod length], e.g. 0,1 (none: not pinned)",
	  0, 0, 0 },

	{ "tcp", "sndbuf", "sndbuf", "BYTES", KT_UINT, 4096, 1u << 30, NULL,
	  "262144", "per-connection send buffer (rounded up to a power of two)",
	  C(sndbuf) },
	{ "tcp", "rcvbuf", "rcvbuf", "BYTES", KT_UINT, 4096, 1u << 30, NULL,
	  "1048576",
	  "per-connection receive buffer (rounded up to a power of two)",
	  C(rcvbuf) },
	{ "tcp", "time_wait_ms", "time-wait", "MS", KT_UINT, 0, 600000, NULL,
	  "60000", "TIME-WAIT duration in ms (2*MSL)", C(time_wait_ms) },
	/* RFC 9293 3.8.6.3: the delay MUST be under 0.5 s. */
	{ "tcp", "delack_ms", "delack-ms", "MS", KT_UINT, 0, 500, NULL, "40",
	  "delayed-ACK timeout in ms (0: ACK every batch at once)",
	  C(delack_ms) },
	{ "tcp", "rto_min_ms", "rto-min-ms", "MS", KT_UINT, 1, 60000, NULL,
	  "200", "lower bound of the retransmission timeout (RFC 6298 2.4)",
	  C(rto_min_ms) },
	{ "tcp", "rto_max_ms", "rto-max-ms", "MS", KT_UINT, 1, 3600000, NULL,
	  "120000", "upper bound of the retransmission timeout (RFC 6298 2.5)",
	  C(rto_max_ms) },
	{ "tcp", "max_retries", "max-retries", "N", KT_UINT, 1, 100, NULL, "15",
	  "RTO expiries before a connection fails with ETIMEDOUT",
	  C(max_retries) },
	{ "tcp", "cc", "cc", "ALGO", KT_ENUM, 0, 1, cc_algos, "cubic",
	  "congestion control: cubic (RFC 9438) or reno (RFC 5681)", C(cc) },
	{ "tcp", "tlp", "tlp", "on|off", KT_ENUM, 0, 1, off_on, "on",
	  "tail loss probes (RFC 8985 7): a lost tail is found in two RTTs, not an RTO",
	  C(tlp) },

	{ "limits", "syncookies", "syncookies", "MODE", KT_ENUM, 0, 2,
	  syncookie_modes, "on",
	  "SYN cookies (RFC 4987): on when a listener's SYN queue is full; off drops SYNs then; always (for tests) for every SYN",
	  C(syncookies) },
	{ "limits", "syn_backlog", "syn-backlog", "N", KT_UINT, 1, 65535, NULL,
	  "1024",
	  "connections in SYN-RECEIVED per listening port per worker",
	  C(syn_backlog) },
	{ "limits", "max_conns", "max-conns", "N", KT_UINT, 1, 1u << 24, NULL,
	  "262144",
	  "connections overall (TIME-WAIT included), split evenly over the workers",
	  C(max_conns) },
	{ "limits", "challenge_ack_limit", "challenge-ack-limit", "N", KT_UINT,
	  1, 1000000, NULL, "1000",
	  "challenge ACKs per second per worker (RFC 5961 7), randomised each second",
	  C(challenge_ack_limit) },
	{ "limits", "reass_mem", "reass-mem", "BYTES", KT_UINT, 65536,
	  1ul << 40, NULL, "67108864",
	  "out-of-order bytes held per worker, all connections together",
	  C(reass_mem) },

	{ "apps", "echo", "echo-port", "PORT", KT_UINT, 0, 65535, NULL, "7",
	  "echo server port, RFC 862 (0: off)", F(port[APP_ECHO]) },
	{ "apps", "discard", "discard-port", "PORT", KT_UINT, 0, 65535, NULL,
	  "9", "discard server port (0: off)", F(port[APP_DISCARD]) },
	{ "apps", "source", "source-port", "PORT", KT_UINT, 0, 65535, NULL, "19",
	  "source server port, byte i is i mod 251 (0: off)",
	  F(port[APP_SOURCE]) },
	{ "apps", "iperf3", "iperf3-port", "PORT", KT_UINT, 0, 65535, NULL,
	  "5201", "iperf3 server port (0: off)", F(port[APP_IPERF3]) },

	{ "log", "level", "log-level", "LEVEL", KT_ENUM, 0, 3, log_levels,
	  "info", "log messages up to this level", C(log_level) },
	{ "ctl", "socket", "ctl-socket", "PATH", KT_PATH, 0, 107, NULL, "",
	  "control socket path, @NAME for an abstract one (empty: @tundra-<dev>)",
	  F(ctl_path) },
	{ "capture", "pcap", "pcap", "FILE", KT_PATH, 0, PATH_MAX - 1, NULL, "",
	  "write what crosses the TUN device to this pcap file (empty: off)",
	  F(pcap_path) },
	{ "stop", "grace_ms", "stop-grace-ms", "MS", KT_UINT, 0, 600000, NULL,
	  "2000",
	  "on SIGINT/SIGTERM, FIN open connections and wait this long",
	  C(stop_grace_ms) },
	{ "faults", "impair", "impair", "SPEC", KT_IMPAIR, 0, 255, NULL, "",
	  "impair the link in tundra's own RX/TX path on purpose: loss=P,delay=MS,jitter=MS,reorder=P,dup=P[,gap=MS,limit=MIB,seed=N,dir=rx/tx/both], P in percent (empty: off; see README)",
	  F(impair) },
};
const unsigned config_nknobs = sizeof(config_knobs) / sizeof(config_knobs[0]);

_Static_assert(sizeof(config_knobs) / sizeof(config_knobs[0]) <= 64,
	       "struct config's seen[] is too small");

const char *config_poll_mode_name(int v)
{
	return v >= 0 && v <= 2 ? poll_modes[v] : "?";
}

const char *config_log_level_name(int v)
{
	return v >= 0 && v <= 3 ? log_levels[v] : "?";
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	tundra_config_defaults(&c->cfg);
	strcpy(c->dev, c->cfg.dev);
	c->cfg.dev = c->dev;
	c->port[APP_ECHO] = 7;
	c->port[APP_DISCARD] = 9;
	c->port[APP_SOURCE] = 19;
	c->port[APP_IPERF3] = 5201;
}

static unsigned ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (unsigned)n;
}

/* A decimal integer in min..max, nothing else around it. */
static int parse_ulong(const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_prefix(const char *s, uint32_t *addr, uint8_t *prefix)
{
	char buf[32];
	char *slash;
	struct in_addr in;
	unsigned long p = 32;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = 0;
		if (parse_ulong(slash + 1, 1, 32, &p))
			return -1;
	}
	if (inet_pton(AF_INET, buf, &in) != 1)
		return -1;
	*addr = ntohl(in.s_addr);
	*prefix = (uint8_t)p;
	return 0;
}

static void store_uint(void *p, size_t size, unsigned long v)
{
	switch (size) {
	case 1: *(uint8_t *)p = (uint8_t)v; break;
	case 2: *(uint16_t *)p = (uint16_t)v; break;
	case 4: *(uint32_t *)p = (uint32_t)v; break;
	default: *(uint64_t *)p = v; break;
	}
}

int config_set(struct config *c, const struct config_knob *k, const char *val,
	       char *why, size_t whylen)
{
	char *base = (char *)c;
	unsigned long v;

	switch (k->type) {
	case KT_UINT:
	case KT_COUNT:
		if (k->type == KT_COUNT && !strcmp(val, "auto")) {
			v = ncpus();
			if (v > k->max)
				v = k->max;
		} else if (parse_ulong(val, k->min, k->max, &v)) {
			snprintf(why, whylen, "an integer in %lu..%lu%s", k->min,
				 k->max, k->type == KT_COUNT ? " or 'auto'" : "");
			return -1;
		}
		store_uint(base + k->off, k->size, v);
		return 0;
	case KT_ADDR:
		if (parse_prefix(val, (uint32_t *)(base + k->off),
				 (uint8_t *)(base + k->off2))) {
			snprintf(why, whylen,
				 "an IPv4 address with a prefix length in 1..32, like %s",
				 k->def);
			return -1;
		}
		return 0;
	case KT_ENUM:
		for (unsigned i = 0; k->names[i]; i++) {
			if (!strcmp(val, k->names[i])) {
				*(int *)(base + k->off) = (int)i;
				return 0;
			}
		}
		snprintf(why, whylen, "one of ");
		for (unsigned i = 0; k->names[i]; i++)
			snprintf(why + strlen(why), whylen - strlen(why), "%s%s",
				 i ? "|" : "", k->names[i]);
		return -1;
	case KT_NAME:
		if (strlen(val) < k->min || strlen(val) > k->max ||
		    strchr(val, '/') || strpbrk(val, " \t")) {
			snprintf(why, whylen,
				 "a device name of %lu..%lu characters, no '/' or spaces",
				 k->min, k->max);
			return -1;
		}
		strcpy(base + k->off, val);
		return 0;
	case KT_PATH:
		if (strlen(val) > k->max) {
			snprintf(why, whylen, "a path of at most %lu characters",
				 k->max);
			return -1;
		}
		strcpy(base + k->off, val);
		return 0;
	case KT_IMPAIR: {
		struct impair_spec spec;
		char reason[200];

		if (strlen(val) > k->max) {
			snprintf(why, whylen, "a spec of at most %lu characters",
				 k->max);
			return -1;
		}
		if (impair_parse(val, &spec, reason, sizeof(reason))) {
			snprintf(why, whylen, "an impairment spec; here, %s", reason);
			return -1;
		}
		strcpy(base + k->off, val);
		return 0;
	}
	case KT_CPU:
		if (!strcmp(val, "none") || !strcmp(val, "-1")) {
			*(int *)(base + k->off) = -1;
			return 0;
		}
		if (parse_ulong(val, k->min, k->max, &v)) {
			snprintf(why, whylen, "a CPU number in %lu..%lu or 'none'",
				 k->min, k->max);
			return -1;
		}
		*(int *)(base + k->off) = (int)v;
		return 0;
	case KT_CPULIST: {
		int list[CONFIG_MAX_CPUS];
		unsigned n = 0;
		const char *p = val;
		char item[16];

		if (!strcmp(val, "none")) {
			c->cpu_list_n = 0;
			return 0;
		}
		for (;;) {
			size_t len = strcspn(p, ",");

			if (len == 0 || len >= sizeof(item) ||
			    n == CONFIG_MAX_CPUS)
				goto bad_list;
			memcpy(item, p, len);
			item[len] = 0;
			if (parse_ulong(item, k->min, k->max, &v))
				goto bad_list;
			list[n++] = (int)v;
			if (!p[len])
				break;
			p += len + 1;
		}
		memcpy(c->cpu_list, list, n * sizeof(list[0]));
		c->cpu_list_n = n;
		return 0;
bad_list:
		snprintf(why, whylen,
			 "a comma-separated list of 1..%u CPU numbers in %lu..%lu (like 0,1), or 'none'",
			 CONFIG_MAX_CPUS, k->min, k->max);
		return -1;
	}
	}
	snprintf(why, whylen, "?");
	return -1;
}

/* ---- the file ---------------------------------------------------------- */

struct file_ctx {
	struct config *c;
	FILE *f;
	const char *path;
	int lineno;      /* the line inih is on (counted by our reader) */
	int long_line;   /* first line longer than inih's buffer, or 0 */
	int err_line;    /* our first error, or 0 */
	char err[512];
};

/* fgets, counting lines as inih does (it calls the reader once a line). */
static char *file_reader(char *buf, int size, void *stream)
{
	struct file_ctx *x = stream;
	char *r = fgets(buf, size, x->f);

	if (!r)
		return NULL;
	x->lineno++;
	if (!x->long_line && !strchr(buf, '\n') && !feof(x->f))
		x->long_line = x->lineno;
	return r;
}

static int file_handler(void *user, const char *section, const char *key,
			const char *value)
{
	struct file_ctx *x = user;
	const struct config_knob *k = NULL;
	bool known_section = false;
	char why[256];

	if (x->err_line)
		return 1; /* one error is enough */
	for (unsigned i = 0; i < config_nknobs; i++) {
		if (strcmp(config_knobs[i].section, section))
			continue;
		known_section = true;
		if (!strcmp(config_knobs[i].key, key))
			k = &config_knobs[i];
	}
	x->err_line = x->lineno;
	if (!*section) {
		snprintf(x->err, sizeof(x->err),
			 "%s:%d: '%s' is outside any section (put it under [section])",
			 x->path, x->lineno, key);
		return 0;
	}
	if (!known_section) {
		snprintf(x->err, sizeof(x->err),
			 "%s:%d: unknown section [%s]", x->path, x->lineno,
			 section);
		return 0;
	}
	if (!k) {
		snprintf(x->err, sizeof(x->err),
			 "%s:%d: unknown key '%s' in [%s]", x->path, x->lineno,
			 key, section);
		return 0;
	}
	if (x->c->seen[k - config_knobs]) {
		snprintf(x->err, sizeof(x->err),
			 "%s:%d: [%s] %s given twice (first on line %d)",
			 x->path, x->lineno, section, key,
			 x->c->seen_line[k - config_knobs]);
		return 0;
	}
	if (config_set(x->c, k, value, why, sizeof(why))) {
		snprintf(x->err, sizeof(x->err),
			 "%s:%d: [%s] %s = '%s': expected %s", x->path,
			 x->lineno, section, key, value, why);
		return 0;
	}
	x->c->seen[k - config_knobs] = true;
	x->c->seen_line[k - config_knobs] = x->lineno;
	x->err_line = 0;
	return 1;
}

int config_load_file(struct config *c, const char *path, char *err,
		     size_t errlen)
{
	struct file_ctx x = { .c = c, .path = path };
	int rc;

	memset(c->seen, 0, sizeof(c->seen));
	x.f = fopen(path, "r");
	if (!x.f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = ini_parse_stream(file_reader, &x, file_handler, &x);
	fclose(x.f);
	if (rc == 0 && !x.long_line)
		return 0;
	if (x.long_line && (rc <= 0 || x.long_line <= rc)) {
		snprintf(err, errlen, "%s:%d: line longer than %d characters",
			 path, x.long_line, INI_MAX_LINE - 2);
	} else if (rc > 0 && x.err_line == rc) {
		snprintf(err, errlen, "%s", x.err);
	} else if (rc > 0) {
		snprintf(err, errlen,
			 "%s:%d: syntax error: expected '[section]' or 'key = value'",
			 path, rc);
	} else {
		snprintf(err, errlen, "%s: cannot parse (error %d)", path, rc);
	}
	return -1;
}

/* ---- the command line -------------------------------------------------- */

enum { OPT_CONFIG = 1000, OPT_REFERENCE, OPT_KNOB = 2000 };

static struct option *long_options(void)
{
	static struct option opts[64 + 4];

	if (!opts[0].name) {
		unsigned n = 0;

		for (unsigned i = 0; i < config_nknobs; i++)
			opts[n++] = (struct option){ config_knobs[i].flag,
						     required_argument, NULL,
						     OPT_KNOB + (int)i };
		opts[n++] = (struct option){ "config", required_argument, NULL,
					     OPT_CONFIG };
		opts[n++] = (struct option){ "print-config-reference",
					     no_argument, NULL, OPT_REFERENCE };
		opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	}
	return opts;
}

int config_parse_args(struct config *c, int argc, char **argv, char *err,
		      size_t errlen)
{
	struct option *opts = long_options();
	char why[256];
	int ch;

	/* Pass 1: only --config (and --help, which wins). */
	c->config_file = NULL;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == OPT_CONFIG)
			c->config_file = optarg;
	}
	if (c->config_file &&
	    config_load_file(c, c->config_file, err, errlen))
		return -1;

	/* Pass 2: every other flag, over the file. */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (ch >= OPT_KNOB && ch < OPT_KNOB + (int)config_nknobs) {
			const struct config_knob *k =
				&config_knobs[ch - OPT_KNOB];

			if (config_set(c, k, optarg, why, sizeof(why))) {
				snprintf(err, errlen,
					 "--%s: '%s': expected %s", k->flag,
					 optarg, why);
				return -1;
			}
			continue;
		}
		switch (ch) {
		case OPT_CONFIG:
			break;
		case OPT_REFERENCE:
			config_print_reference(stdout);
			return 1;
		case 'h':
			config_usage(stdout);
			return 1;
		case ':':
			snprintf(err, errlen, "%s needs an argument (see --help)",
				 argv[optind - 1]);
			return -1;
		default:
			snprintf(err, errlen, "unknown option '%s' (see --help)",
				 argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

int config_finish(struct config *c, char *err, size_t errlen)
{
	const char *src = c->config_file ? c->config_file : "the command line";

	c->cfg.dev = c->dev;
	c->cfg.ctl_path = c->ctl_path[0] ? c->ctl_path : NULL;
	c->cfg.pcap_path = c->pcap_path[0] ? c->pcap_path : NULL;
	c->cfg.impair = c->impair[0] ? c->impair : NULL;
	c->cfg.cpu_workers = NULL;
	if (c->cpu_list_n) {
		for (unsigned i = 0; i < c->cfg.workers && i < CONFIG_MAX_CPUS;
		     i++)
			c->cpu_workers[i] = c->cpu_list[i % c->cpu_list_n];
		c->cfg.cpu_workers = c->cpu_workers;
	}
	if (c->cfg.addr == c->cfg.peer_addr) {
		snprintf(err, errlen,
			 "%s: [device] addr and peer_addr are the same address",
			 src);
		return -1;
	}
	if (c->cfg.rto_min_ms > c->cfg.rto_max_ms) {
		snprintf(err, errlen,
			 "%s: [tcp] rto_min_ms (%llu) is above rto_max_ms (%llu)",
			 src, (unsigned long long)c->cfg.rto_min_ms,
			 (unsigned long long)c->cfg.rto_max_ms);
		return -1;
	}
	for (unsigned a = 0; a < APP_COUNT; a++) {
		for (unsigned b = a + 1; b < APP_COUNT; b++) {
			static const char *const app[APP_COUNT] = {
				"echo", "discard", "source", "iperf3"
			};

			if (c->port[a] && c->port[a] == c->port[b]) {
				snprintf(err, errlen,
					 "%s: [apps] %s and %s both use port %u",
					 src, app[a], app[b], c->port[a]);
				return -1;
			}
		}
	}
	return 0;
}

/* ---- documentation ------------------------------------------------------ */

static void print_range(FILE *f, const struct config_knob *k, bool md);

void config_usage(FILE *f)
{
	const char *section = "";

	fprintf(f,
		"usage: tundra [--config FILE] [options]\n"
		"       tundra stat|conns ...   (ask a running tundra, see tundra stat --help)\n"
		"\n"
		"A userspace TCP/IPv4 stack on a TUN device. Creates the device, gives the\n"
		"kernel side peer_addr, and serves echo, discard, source and an iperf3\n"
		"server at addr. SIGINT/SIGTERM stop it; SIGUSR1 prints stats.\n"
		"\n"
		"  --config FILE         read an INI file first (config/tundra.conf documents\n"
		"                        every key); the flags below override it\n"
		"  --print-config-reference\n"
		"                        print the configuration reference (Markdown)\n"
		"  -h, --help            this text\n");
	for (unsigned i = 0; i < config_nknobs; i++) {
		const struct config_knob *k = &config_knobs[i];
		char opt[64];

		if (strcmp(section, k->section)) {
			section = k->section;
			fprintf(f, "\n[%s]\n", section);
		}
		snprintf(opt, sizeof(opt), "--%s %s", k->flag, k->metavar);
		fprintf(f, "  %-22s %s = %s  (", opt, k->key,
			*k->def ? k->def : "(empty)");
		print_range(f, k, false);
		fprintf(f, ")\n  %-22s %s\n", "", k->help);
	}
}

static void print_range(FILE *f, const struct config_knob *k, bool md)
{
	const char *q = md ? "`" : "";

	switch (k->type) {
	case KT_UINT:
		fprintf(f, "%lu..%lu", k->min, k->max);
		break;
	case KT_COUNT:
		fprintf(f, "%lu..%lu, %sauto%s", k->min, k->max, q, q);
		break;
	case KT_ADDR:
		fprintf(f, "A.B.C.D/N");
		break;
	case KT_ENUM:
		for (unsigned i = 0; k->names[i]; i++)
			fprintf(f, "%s%s%s%s", i ? ", " : "", q, k->names[i],
				q);
		break;
	case KT_NAME:
		fprintf(f, "%lu..%lu characters", k->min, k->max);
		break;
	case KT_PATH:
		fprintf(f, "path");
		break;
	case KT_CPU:
		fprintf(f, "CPU, %snone%s", q, q);
		break;
	case KT_CPULIST:
		fprintf(f, "CPU list, %snone%s", q, q);
		break;
	case KT_IMPAIR:
		fprintf(f, "spec");
		break;
	}
}

void config_print_reference(FILE *f)
{
	fprintf(f, "| section | key | flag | values | default | meaning |\n"
		   "|---|---|---|---|---|---|\n");
	for (unsigned i = 0; i < config_nknobs; i++) {
		const struct config_knob *k = &config_knobs[i];

		fprintf(f, "| `[%s]` | `%s` | `--%s` | ", k->section, k->key,
			k->flag);
		print_range(f, k, true);
		fprintf(f, " | %s%s%s | %s |\n", *k->def ? "`" : "", k->def,
			*k->def ? "`" : "(empty)", k->help);
	}
}
