/*
 * main.c — the tundra program: read the configuration (--config FILE, then
 * the flags over it; src/config/), create the stack, start the built-in
 * apps, then wait for signals. SIGINT/SIGTERM stop it (threads joined,
 * memory freed, device gone, exit 0); SIGUSR1 prints a stats snapshot.
 * `tundra stat ...` and `tundra conns ...` ask a running tundra over its
 * control socket instead.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu.h>
#ifdef TUNDRA_JEMALLOC
#include <jemalloc/jemalloc.h>

/*
 * jemalloc's options for the tundra program (MALLOC_CONF, read after
 * this, overrides any of them). A connection that goes idle frees its
 * buffers; jemalloc keeps freed pages for reuse and returns them to the OS
 * only as they age past dirty_decay_ms (10 s by default), and only from
 * inside a malloc() or free() call: a stack whose connections went idle
 * makes none, so the pages stayed in its RSS. Here jemalloc's own
 * background thread returns them (MADV_DONTNEED) about a second after
 * their last use, so no worker makes the madvise() calls; the thread
 * sleeps while nothing is waiting to be returned. bench/hold.sh, 100k
 * idle connections: RSS per connection 327 -> 251 bytes after the hold.
 */
const char *malloc_conf =
	"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
#endif

#include "apps/apps.h"
#include "apps/iperf3.h"
#include "base/log.h"
#include "config/config.h"
#include "core/core.h"
#include "ctl/ctl.h"
#include "tundra/tundra.h"

static const char *ip_str(uint32_t a, char *buf)
{
	struct in_addr in = { .s_addr = htonl(a) };

	return inet_ntop(AF_INET, &in, buf, INET_ADDRSTRLEN);
}

/*
 * SIGUSR1, after the stats: one "mem" line with the size of a connection's
 * control block (and the allocator size class it lands in) and jemalloc's
 * own totals, so that memory per connection can be taken apart
 * (bench/hold.sh). Reading the stats costs a few mallctl calls, none of
 * them on a worker.
 */
static void print_mem(FILE *f)
{
	size_t cs = core_conn_size();
#ifdef TUNDRA_JEMALLOC
	static const char *const keys[] = { "allocated", "active", "resident",
					    "mapped", "retained" };
	uint64_t epoch = 1;
	size_t len = sizeof(epoch);

	/* The totals are cached; a new epoch refreshes them. */
	mallctl("epoch", &epoch, &len, &epoch, len);
	fprintf(f, "mem conn_size=%zu conn_class=%zu", cs, nallocx(cs, 0));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char name[32];
		size_t v = 0;

		len = sizeof(v);
		snprintf(name, sizeof(name), "stats.%s", keys[i]);
		if (mallctl(name, &v, &len, NULL, 0) == 0)
			fprintf(f, " je_%s=%zu", keys[i], v);
	}
	fputc('\n', f);
#else
	fprintf(f, "mem conn_size=%zu\n", cs);
#endif
	fflush(f);
}

static int listen_apps(struct tundra *t, const struct config *c,
		       struct iperf3_server *ip3)
{
	const struct {
		unsigned port;
		const struct tundra_app *app;
		void *arg;
	} apps[APP_COUNT] = {
		[APP_ECHO] = { c->port[APP_ECHO], &app_echo, NULL },
		[APP_DISCARD] = { c->port[APP_DISCARD], &app_discard, NULL },
		[APP_SOURCE] = { c->port[APP_SOURCE], &app_source, NULL },
		[APP_IPERF3] = { c->port[APP_IPERF3], &app_iperf3, ip3 },
	};

	for (unsigned i = 0; i < APP_COUNT; i++) {
		if (apps[i].port &&
		    tundra_listen(t, (uint16_t)apps[i].port, apps[i].app,
				  apps[i].arg))
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct config c; /* cfg points into it for the whole run */
	struct tundra *t;
	struct iperf3_server *ip3 = NULL;
	char err[1024], a[INET_ADDRSTRLEN], p[INET_ADDRSTRLEN];
	sigset_t sigs;
	int rc, sig;

	if (argc > 1 && (!strcmp(argv[1], "stat") || !strcmp(argv[1], "conns"))) {
		return ctl_client_main(argc - 1, argv + 1);
	}

	config_defaults(&c);
	rc = config_parse_args(&c, argc, argv, err, sizeof(err));
	if (rc > 0)
		return 0;
	if (rc < 0 || config_finish(&c, err, sizeof(err))) {
		fprintf(stderr, "tundra: %s\n", err);
		return 2;
	}
	log_set_level(c.cfg.log_level);

	/* Signals are taken synchronously by this thread only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	rcu_register_thread();
	rc = tundra_create(&t, &c.cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "tundra: %s\n", err);
		rcu_unregister_thread();
		return 1;
	}
	/* The iperf3 app needs the stack (for worker calls); it logs one
	 * line per test on stdout. */
	if (iperf3_server_create(&ip3, t, stdout) || listen_apps(t, &c, ip3) ||
	    tundra_start(t)) {
		fprintf(stderr, "tundra: cannot start its threads\n");
		tundra_destroy(t);
		iperf3_server_destroy(ip3);
		rcu_unregister_thread();
		return 1;
	}
	printf("tundra: ready dev=%s addr=%s/%u peer=%s/%u queues=%u "
	       "workers=%u mtu=%u poll_mode=%s echo=%u discard=%u source=%u "
	       "iperf3=%u\n",
	       c.cfg.dev, ip_str(c.cfg.addr, a), c.cfg.prefix,
	       ip_str(c.cfg.peer_addr, p), c.cfg.peer_prefix, c.cfg.queues,
	       c.cfg.workers, c.cfg.mtu,
	       config_poll_mode_name(c.cfg.poll_mode), c.port[APP_ECHO],
	       c.port[APP_DISCARD], c.port[APP_SOURCE], c.port[APP_IPERF3]);
	fflush(stdout);

	for (;;) {
		sig = sigwaitinfo(&sigs, NULL);
		if (sig == SIGUSR1) {
			tundra_print_stats(t, stdout);
			print_mem(stdout);
			continue;
		}
		if (sig == SIGINT || sig == SIGTERM)
			break;
	}
	printf("tundra: stopping (%s)\n", strsignal(sig));
	fflush(stdout);
	tundra_drain(t, c.cfg.stop_grace_ms);
	tundra_stop(t);
	tundra_print_stats(t, stdout);
	tundra_destroy(t);
	iperf3_server_destroy(ip3);
	rcu_unregister_thread();
	printf("tundra: stopped\n");
	return 0;
}
