/*
 * stack.c — a tundra stack's life cycle: the device, the rings, the
 * threads, and their orderly stop (RX first, then the workers, then TX once
 * it has written everything the workers queued).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <urcu.h>

#include "stack/stack.h"

void tundra_config_defaults(struct tundra_config *cfg)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (ncpu < 1)
		ncpu = 1;
	memset(cfg, 0, sizeof(*cfg));
	cfg->dev = "tun0";
	cfg->addr = 0x0a000002; /* 10.0.0.2 */
	cfg->prefix = 24;
	cfg->peer_addr = 0x0a000001; /* 10.0.0.1 */
	cfg->peer_prefix = 24;
	cfg->queues = (unsigned)ncpu;
	cfg->workers = (unsigned)ncpu;
	cfg->mtu = 1500;
	cfg->ring_size = 2048;
	cfg->txqueuelen = 10000;
	cfg->sndbuf = 256 * 1024;
	cfg->rcvbuf = 256 * 1024;
	cfg->time_wait_ms = 60000; /* 2 * MSL, MSL = 30 s as in Linux */
	cfg->delack_ms = 40;       /* Linux's minimum delayed-ACK time */
	cfg->spin = 64;
	cfg->rto_min_ms = 200;     /* Linux's minimum RTO */
	cfg->rto_max_ms = 120000;  /* RFC 6298 (2.5): at least 60 s */
	cfg->max_retries = 15;     /* Linux's tcp_retries2 */
	cfg->poll_mode = TUNDRA_POLL_ADAPTIVE;
	cfg->cpu_rx = cfg->cpu_tx = -1;
	cfg->log_level = 2;
	cfg->stop_grace_ms = 2000;
}

int tundra_create(struct tundra **out, const struct tundra_config *cfg,
		  char *err, size_t errlen)
{
	struct tun_config tc = {
		.name = cfg->dev,
		.queues = cfg->queues,
		.mtu = cfg->mtu,
		.peer_addr = cfg->peer_addr,
		.peer_prefix = cfg->peer_prefix,
		.tun_path = cfg->tun_path,
		.txqueuelen = cfg->txqueuelen,
	};
	struct tundra *t;
	uint32_t bufsize;
	int rc;

	*out = NULL;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return -EIO;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->cfg = *cfg;
	t->rx_stop_efd = -1;
	t->tx_wake.efd = -1;
	randombytes_buf(t->flow_key, sizeof(t->flow_key));

	rc = tun_open(&t->dev, &tc, err, errlen);
	if (rc)
		goto fail;
	rc = -ENOMEM;
	snprintf(err, errlen, "out of memory setting up %u workers",
		 cfg->workers);
	t->listeners = listeners_create();
	if (!t->listeners)
		goto fail;
	/* Receive buffers: enough to fill every worker ring, plus the
	 * bursts in flight. Sized to the MTU, cache-line rounded. */
	bufsize = (cfg->mtu + 63) & ~63u;
	if (pkt_pool_init(&t->pool, cfg->workers * cfg->ring_size + BURST * 4,
			  bufsize))
		goto fail;
	t->rx_stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->rx_stop_efd < 0 || waiter_init(&t->tx_wake))
		goto fail;
	t->workers = calloc(cfg->workers, sizeof(*t->workers));
	if (!t->workers)
		goto fail;
	t->nworkers = cfg->workers;
	for (unsigned i = 0; i < cfg->workers; i++)
		t->workers[i].wake.efd = -1;
	for (unsigned i = 0; i < cfg->workers; i++) {
		if (worker_init(t, &t->workers[i], i))
			goto fail;
	}
	err[0] = 0;
	*out = t;
	return 0;
fail:
	tundra_destroy(t);
	return rc;
}

int tundra_listen(struct tundra *t, uint16_t port, const struct tundra_app *app,
		  void *arg)
{
	return listeners_add(t->listeners, port, app, arg);
}

int tundra_start(struct tundra *t)
{
	sigset_t all, old;
	int rc = 0;

	/* Threads start with every signal blocked: signals are the control
	 * thread's business (sigwait in main). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&t->tx_thread, NULL, tx_main, t) == 0) {
		t->tx_started = true;
		pthread_setname_np(t->tx_thread, "tundra-tx");
	} else {
		rc = -EAGAIN;
	}
	for (unsigned i = 0; !rc && i < t->nworkers; i++) {
		struct worker *w = &t->workers[i];
		char name[32];

		if (pthread_create(&w->thread, NULL, worker_main, w)) {
			rc = -EAGAIN;
			break;
		}
		w->started = true;
		snprintf(name, sizeof(name), "tundra-w%u", i);
		name[15] = 0; /* the kernel's limit */
		pthread_setname_np(w->thread, name);
	}
	if (!rc && pthread_create(&t->rx_thread, NULL, rx_main, t) == 0) {
		t->rx_started = true;
		pthread_setname_np(t->rx_thread, "tundra-rx");
	} else if (!rc) {
		rc = -EAGAIN;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		tundra_stop(t);
	return rc;
}

void tundra_stop(struct tundra *t)
{
	uint64_t one = 1;

	atomic_store(&t->stop_rx, true);
	if (t->rx_started) {
		(void)!write(t->rx_stop_efd, &one, sizeof(one));
		pthread_join(t->rx_thread, NULL);
		t->rx_started = false;
	}
	atomic_store(&t->stop_workers, true);
	for (unsigned i = 0; i < t->nworkers; i++) {
		struct worker *w = &t->workers[i];
		if (!w->started)
			continue;
		waiter_kick(&w->wake);
		/* A sleeper that missed the flag wakes on the eventfd. */
		(void)!write(w->wake.efd, &one, sizeof(one));
		pthread_join(w->thread, NULL);
		w->started = false;
	}
	sock_stack_stop(t);
	atomic_store(&t->stop_tx, true);
	if (t->tx_started) {
		(void)!write(t->tx_wake.efd, &one, sizeof(one));
		pthread_join(t->tx_thread, NULL);
		t->tx_started = false;
	}
}

void tundra_destroy(struct tundra *t)
{
	if (!t)
		return;
	tundra_stop(t);
	for (unsigned i = 0; i < t->nworkers; i++)
		worker_fini(&t->workers[i]);
	sock_stack_destroy(t);
	free(t->workers);
	listeners_destroy(t->listeners);
	pkt_pool_destroy(&t->pool);
	if (t->rx_stop_efd >= 0)
		close(t->rx_stop_efd);
	waiter_destroy(&t->tx_wake);
	tun_close(&t->dev);
	free(t);
}

void tundra_print_stats(struct tundra *t, FILE *f)
{
	uint64_t drops[DROP__COUNT] = { 0 };

	fprintf(f,
		"stats rx pkts=%" PRIu64 " bytes=%" PRIu64
		" ring_full=%" PRIu64 " ring_waits=%" PRIu64
		" no_buf=%" PRIu64 " read_errors=%" PRIu64
		" wakeups=%" PRIu64 "\n",
		stat_read(t->rx.pkts), stat_read(t->rx.bytes),
		stat_read(t->rx.ring_full), stat_read(t->rx.ring_waits),
		stat_read(t->rx.no_buf),
		stat_read(t->rx.read_errors), stat_read(t->rx.batches));
	for (unsigned i = 0; i < t->nworkers; i++) {
		struct worker *w = &t->workers[i];
		const struct core_stats *s = core_stats(w->core);

		fprintf(f,
			"stats worker=%u pkts_in=%" PRIu64 " bytes_in=%" PRIu64
			" pkts_out=%" PRIu64 " bytes_out=%" PRIu64
			" conns_accepted=%" PRIu64 " conns_connected=%" PRIu64
			" conns_active=%" PRIu64
			" conns_reset=%" PRIu64 " resets_sent=%" PRIu64
			" retransmits=%" PRIu64 " icmp_echo=%" PRIu64
			" wakeups=%" PRIu64 " batches=%" PRIu64
			" calls=%" PRIu64 "\n",
			i, stat_read(s->pkts_in), stat_read(s->bytes_in),
			stat_read(s->pkts_out), stat_read(s->bytes_out),
			stat_read(s->conns_accepted),
			stat_read(s->conns_connected),
			stat_read(s->conns_active), stat_read(s->conns_reset),
			stat_read(s->resets_sent), stat_read(s->retransmits),
			stat_read(s->icmp_echo),
			atomic_load_explicit(&w->wake.wakeups,
					     memory_order_relaxed),
			stat_read(w->batches), stat_read(w->calls_run));
		for (int r = 0; r < DROP__COUNT; r++)
			drops[r] += stat_read(s->drops[r]);
	}
	fprintf(f,
		"stats tx pkts=%" PRIu64 " bytes=%" PRIu64 " batches=%" PRIu64
		" errors=%" PRIu64 " eagain=%" PRIu64 " wakeups=%" PRIu64 "\n",
		stat_read(t->tx.pkts), stat_read(t->tx.bytes),
		stat_read(t->tx.batches), stat_read(t->tx.errors),
		stat_read(t->tx.eagain),
		atomic_load_explicit(&t->tx_wake.wakeups,
				     memory_order_relaxed));
	drops[DROP_RX_RING_FULL] += stat_read(t->rx.ring_full);
	drops[DROP_RX_NO_BUF] += stat_read(t->rx.no_buf);
	for (int r = 1; r < DROP__COUNT; r++)
		if (drops[r])
			fprintf(f, "stats drop reason=%s count=%" PRIu64 "\n",
				drop_name(r), drops[r]);
	fflush(f);
}
