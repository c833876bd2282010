/*
 * stack.c — a tundra stack's life cycle: the device, the rings, the
 * threads, and their orderly stop (RX first, then the workers, then TX once
 * it has written everything the workers queued).
 */
#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <urcu.h>

#include "base/compiler.h"
#include "ctl/ctl.h"
#include "base/log.h"
#include "capture/pcap.h"
#include "stack/stack.h"
#include "tun/steer.h"

/* The big receive buffers' budget (offloads; see tundra_create). */
#define RX_BIG_POOL_BYTES (8u << 20)

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
	cfg->offload = TUNDRA_OFFLOAD_AUTO;
	cfg->sndbuf = 256 * 1024;
	cfg->rcvbuf = 1024 * 1024;
	cfg->time_wait_ms = 60000; /* 2 * MSL, MSL = 30 s as in Linux */
	cfg->delack_ms = 40;       /* Linux's minimum delayed-ACK time */
	cfg->spin = 64;
	cfg->rto_min_ms = 200;     /* Linux's minimum RTO */
	cfg->rto_max_ms = 120000;  /* RFC 6298 (2.5): at least 60 s */
	cfg->max_retries = 15;     /* Linux's tcp_retries2 */
	cfg->cc = TUNDRA_CC_CUBIC;
	cfg->tlp = true;
	cfg->syncookies = 1;       /* on: as Linux's tcp_syncookies = 1 */
	/* Linux sizes its SYN queue by tcp_max_syn_backlog (128 to 1024
	 * depending on memory) per listener; 1024 per listener per worker
	 * costs at most 1024 control blocks (no buffers until data) on each
	 * worker before cookies take over. */
	cfg->syn_backlog = 1024;
	/* A control block without buffers is about 400 bytes: 256 Ki of
	 * them, TIME-WAIT included, is ~100 MiB at worst. */
	cfg->max_conns = 262144;
	cfg->challenge_ack_limit = 1000; /* Linux's 2016-2022 default */
	cfg->reass_mem = 64ull << 20;
	cfg->poll_mode = TUNDRA_POLL_ADAPTIVE;
	cfg->io_mode = TUNDRA_IO_AUTO;
	cfg->cpu_rx = cfg->cpu_tx = -1;
	cfg->log_level = 2;
	cfg->stop_grace_ms = 2000;
}

/* CPU pinning (cfg cpu_rx, cpu_tx, cpu_workers): cpu must be one this
 * process may run on. 0, or -EINVAL with one line in err. */
static int check_cpu(const char *what, int cpu, char *err, size_t errlen)
{
	cpu_set_t allowed;

	if (cpu < 0)
		return 0;
	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		CPU_ZERO(&allowed);
	if (cpu < CPU_SETSIZE && CPU_ISSET(cpu, &allowed))
		return 0;
	snprintf(err, errlen,
		 "%s: CPU %d is not one this process may run on (it may use %d CPUs, see taskset -p)",
		 what, cpu, CPU_COUNT(&allowed));
	return -EINVAL;
}

static int pin_thread(pthread_t th, int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(th, sizeof(set), &set) ? -EINVAL : 0;
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
		.offload = cfg->offload == TUNDRA_OFFLOAD_OFF  ? TUN_OFFLOAD_OFF
			   : cfg->offload == TUNDRA_OFFLOAD_ON ? TUN_OFFLOAD_ON
							       : TUN_OFFLOAD_AUTO,
	};
	struct tundra *t;
	uint32_t bufsize;
	bool rtc_ok;
	int rc;

	*out = NULL;
	if (check_cpu("cpu_rx", cfg->cpu_rx, err, errlen) ||
	    check_cpu("cpu_tx", cfg->cpu_tx, err, errlen))
		return -EINVAL;
	for (unsigned i = 0; cfg->cpu_workers && i < cfg->workers; i++) {
		char what[32];

		snprintf(what, sizeof(what), "cpu_workers (worker %u)", i);
		if (check_cpu(what, cfg->cpu_workers[i], err, errlen))
			return -EINVAL;
	}
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
	if (cfg->poll_mode == TUNDRA_POLL_BLOCKING)
		t->cfg.spin = 0; /* sleep as soon as idle */
	t->rx_stop_efd = -1;
	t->tx_wake.efd = -1;
	randombytes_buf(t->flow_key, sizeof(t->flow_key));

	rc = tun_open(&t->dev, &tc, err, errlen);
	if (rc)
		goto fail;
	LOG_INFO("device %s ready: %u queue(s), mtu %u, %u worker(s), "
		 "offloads %s",
		 cfg->dev, t->dev.nqueues, cfg->mtu, cfg->workers,
		 t->dev.vnet_hdr ? "on (GSO/TSO, 64 KB)" : "off");
	if (t->dev.offload_why[0])
		LOG_WARN("offload = auto: the kernel refused offloads (%s); "
			 "reading and writing one MTU-sized packet at a time",
			 t->dev.offload_why);
	if (t->dev.nqueues > 1 && cfg->steering == TUNDRA_STEERING_AUTO) {
		char why[512];
		int fd = tun_steer_load(t->flow_key, cfg->workers, why,
					sizeof(why)),
		    arc = 0;

		if (fd >= 0) {
			arc = tun_steer_attach(&t->dev, fd, why, sizeof(why));
			close(fd);
		}
		if (fd < 0 || arc)
			LOG_WARN("steering = auto: %s; the kernel's flow table "
				 "places the flows",
				 why);
		else
			LOG_INFO("steering: eBPF, each flow on its worker's "
				 "queue");
		t->steered = fd >= 0 && !arc;
	}
	if (cfg->pcap_path && cfg->pcap_path[0]) {
		t->cap = capture_open(cfg->pcap_path, err, errlen);
		if (!t->cap) {
			rc = -EIO;
			goto fail;
		}
		LOG_INFO("capturing to %s (pcap, both directions)",
			 cfg->pcap_path);
	}
	/* io_mode: rtc needs a queue per worker, and --impair lives in the
	 * RX and TX threads. */
	rtc_ok = t->dev.nqueues == cfg->workers &&
		 !(cfg->impair && cfg->impair[0]);
	if (cfg->io_mode == TUNDRA_IO_RTC && !rtc_ok) {
		snprintf(
			err, errlen,
			"io_mode rtc needs as many queues as workers (%u and %u) and no impair",
			t->dev.nqueues, cfg->workers);
		rc = -EINVAL;
		goto fail;
	}
	t->rtc = cfg->io_mode == TUNDRA_IO_RTC ||
		 (cfg->io_mode == TUNDRA_IO_AUTO && rtc_ok);
	LOG_INFO("io_mode %s",
		 t->rtc ? "rtc: each worker reads and writes its own queue" :
			  "pipeline: RX thread, workers, TX thread");
	rc = -ENOMEM;
	snprintf(err, errlen, "out of memory setting up %u workers",
		 cfg->workers);
	t->listeners = listeners_create();
	if (!t->listeners)
		goto fail;
	/* Receive buffers: enough to fill every worker ring, plus the
	 * bursts in flight. Sized to the MTU, cache-line rounded. (In rtc
	 * mode each worker has pools of its own: worker_rtc_init.) */
	bufsize = (cfg->mtu + 63) & ~63u;
	if (!t->rtc &&
	    pkt_pool_init(&t->pool, cfg->workers * cfg->ring_size + BURST * 4,
			  bufsize))
		goto fail;
	/*
	 * With offloads, big buffers for GSO super-packets, by a byte budget
	 * rather than one per ring slot (that would be 64 KB x 4352 = 272 MiB
	 * at the defaults): RX_BIG_POOL_BYTES, 8 MiB, about 127 buffers:
	 * a 1 MiB receive window holds 16 super-packets, so 8 bulk
	 * flows' worth. Pages are touched only as buffers are first used
	 * (the pool is a LIFO stack), so the resident size follows the
	 * deepest backlog, not the budget. When all are queued at workers,
	 * RX waits for them (the kernel's queue holds the packets) and only
	 * then drops (no_buf).
	 */
	if (!t->rtc && t->dev.vnet_hdr &&
	    pkt_pool_init(&t->bigpool,
			  MIN(RX_BIG_POOL_BYTES / (PKT_BIG_SIZE + 64),
			      t->pool.total),
			  PKT_BIG_SIZE))
		goto fail;
	t->rx_stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->rx_stop_efd < 0 || waiter_init(&t->tx_wake))
		goto fail;
	t->workers = calloc(cfg->workers, sizeof(*t->workers));
	if (!t->workers)
		goto fail;
	rc = stack_impair_init(t, err, errlen);
	if (rc)
		goto fail;
	rc = -ENOMEM;
	t->nworkers = cfg->workers;
	for (unsigned i = 0; i < cfg->workers; i++)
		t->workers[i].wake.efd = -1;
	for (unsigned i = 0; i < cfg->workers; i++) {
		if (worker_init(t, &t->workers[i], i))
			goto fail;
	}
	for (unsigned i = 0; t->rtc && i < cfg->workers; i++) {
		if (worker_rtc_init(t, &t->workers[i]))
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
	/* rtc: the workers do the I/O, no RX or TX thread. */
	if (t->rtc) {
		/* nothing */
	} else if (pthread_create(&t->tx_thread, NULL, tx_main, t) == 0) {
		t->tx_started = true;
		pthread_setname_np(t->tx_thread, "tundra-tx");
		rc = pin_thread(t->tx_thread, t->cfg.cpu_tx);
	} else {
		rc = -EAGAIN;
	}
	for (unsigned i = 0; !rc && i < t->nworkers; i++) {
		struct worker *w = &t->workers[i];
		char name[32];

		if (pthread_create(&w->thread, NULL,
				   t->rtc ? worker_rtc_main : worker_main, w)) {
			rc = -EAGAIN;
			break;
		}
		w->started = true;
		snprintf(name, sizeof(name), "tundra-w%u", i);
		name[15] = 0; /* the kernel's limit */
		pthread_setname_np(w->thread, name);
		if (t->cfg.cpu_workers)
			rc = pin_thread(w->thread, t->cfg.cpu_workers[i]);
	}
	if (rc || t->rtc) {
		/* no RX thread */
	} else if (pthread_create(&t->rx_thread, NULL, rx_main, t) == 0) {
		t->rx_started = true;
		pthread_setname_np(t->rx_thread, "tundra-rx");
		rc = pin_thread(t->rx_thread, t->cfg.cpu_rx);
	} else {
		rc = -EAGAIN;
	}
	if (!rc) {
		/* Live stats (src/ctl/): without them the stack still runs. */
		char err[160];

		if (ctl_server_start(t, &t->ctl, err, sizeof(err)))
			LOG_WARN("%s; live stats disabled", err);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		LOG_ERROR("cannot start threads: %s", strerror(-rc));
		tundra_stop(t);
	} else {
		LOG_INFO(
			t->rtc ?
				"threads started: %u worker(s), each on its own queue" :
				"threads started: rx, %u worker(s), tx",
			t->nworkers);
	}
	return rc;
}

void tundra_stop(struct tundra *t)
{
	uint64_t one = 1;
	bool running = t->rx_started || t->tx_started;

	for (unsigned i = 0; i < t->nworkers; i++)
		running |= t->workers[i].started;

	/* The control thread first: it may be waiting on the workers. */
	ctl_server_stop(t->ctl);
	t->ctl = NULL;
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
	if (running)
		LOG_INFO("threads stopped");
	/* Everything TX wrote is recorded: make it reach the file. */
	capture_flush(t->cap);
}

void tundra_destroy(struct tundra *t)
{
	if (!t)
		return;
	tundra_stop(t);
	for (unsigned i = 0; i < t->nworkers; i++)
		worker_rtc_fini(t, &t->workers[i]);
	for (unsigned i = 0; i < t->nworkers; i++)
		worker_fini(&t->workers[i]);
	sock_stack_destroy(t);
	free(t->workers);
	listeners_destroy(t->listeners);
	stack_impair_fini(t);
	pkt_pool_destroy(&t->pool);
	pkt_pool_destroy(&t->bigpool);
	if (t->rx_stop_efd >= 0)
		close(t->rx_stop_efd);
	waiter_destroy(&t->tx_wake);
	capture_close(t->cap);
	tun_close(&t->dev);
	free(t);
}

void tundra_print_stats(struct tundra *t, FILE *f)
{
	/* The same text as the control socket's `stat` (src/ctl/). */
	ctl_stats_text(t, f);
	fflush(f);
}
