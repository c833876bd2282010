/*
 * ctl_server.c — the control socket's thread (tundra-ctl) and the stats it
 * serves: one snapshot of every counter, formatted as "stats" lines (also
 * tundra_print_stats()), JSON or Prometheus text; and `conns`, gathered on
 * each worker's own thread through tundra_worker_call. See ctl.h.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "ctl/ctl.h"
#include "impair/impair.h"
#include "stack/stack.h"

/* ---- the counters ----------------------------------------------------- */

/* X(key, gauge?, help). The text, JSON and Prometheus outputs all come
 * from these tables, in this order (the "stats" lines' historic order
 * first). */
#define RX_FIELDS(X)                                                          \
	X(pkts, 0, "datagrams read from the TUN device")                      \
	X(bytes, 0, "bytes read from the TUN device")                         \
	X(ring_full, 0, "datagrams dropped: the worker's ring stayed full")   \
	X(ring_waits, 0, "yields to a worker whose ring was full")            \
	X(no_buf, 0, "datagrams dropped: no packet buffer free")              \
	X(read_errors, 0, "failed reads from the TUN device")                 \
	X(wakeups, 0, "RX thread wake-ups with datagrams to read")            \
	X(gso_pkts, 0, "GSO super-packets read (offloads)")                   \
	X(other_queue, 0, "TCP datagrams read on a queue other than their flow's TX queue") \
	X(impair_dropped, 0, "datagrams lost on purpose (--impair loss=)")     \
	X(impair_dup, 0, "datagrams duplicated on purpose (--impair dup=)")   \
	X(impair_delayed, 0, "datagrams held for later (--impair delay=...)") \
	X(impair_reordered, 0, "datagrams held an extra gap (reorder=)")      \
	X(impair_full, 0, "datagrams tail-dropped: impair queue full")       \
	X(impair_held, 1, "datagrams the impairment holds now")

#define WORKER_FIELDS(X)                                                      \
	X(pkts_in, 0, "datagrams the worker processed")                       \
	X(bytes_in, 0, "bytes of the datagrams the worker processed")         \
	X(pkts_out, 0, "datagrams the worker sent")                           \
	X(bytes_out, 0, "bytes of the datagrams the worker sent")             \
	X(conns_accepted, 0, "connections accepted (passive open)")           \
	X(conns_connected, 0, "connections opened (active open)")             \
	X(conns_active, 1, "connections from ESTABLISHED until gone")         \
	X(conns_reset, 0, "connections ended by a reset")                     \
	X(resets_sent, 0, "RST segments sent")                                \
	X(retransmits, 0, "segments retransmitted")                           \
	X(retrans_bytes, 0, "bytes (sequence space) retransmitted")          \
	X(fast_recoveries, 0, "fast retransmits: recoveries entered")         \
	X(rto_timeouts, 0, "retransmission timeouts with data outstanding")   \
	X(undos, 0, "reductions undone as spurious (RFC 3522)")               \
	X(sack_ignored, 0, "SACK blocks ignored (DSACK or invalid)")          \
	X(reorder_seen, 0, "times reordering raised a DupThresh")            \
	X(tlp_probes, 0, "tail loss probes sent (RFC 8985)")                 \
	X(lost_retransmits, 0, "retransmission passes restarted: one was lost")\
	X(tlp_recoveries, 0, "probes that repaired a loss (window reduced)") \
	X(side_nomem, 0, "connection side structures not allocated (no memory)") \
	X(icmp_echo, 0, "ICMP echo requests answered")                        \
	X(wakeups, 0, "times another thread had to wake the worker")          \
	X(batches, 0, "worker loop turns that found work")                    \
	X(calls, 0, "tundra_worker_call functions run")                       \
	X(conns_refused, 0, "active opens refused or timed out")              \
	X(conns_closed, 0, "connections closed")                              \
	X(rx_ring, 1, "datagrams queued on the RX->worker ring now")          \
	X(tx_ring, 1, "datagrams queued on the worker->TX ring now")          \
	X(drops, 0, "datagrams the worker dropped (all reasons)")             \
	X(syncookies_sent, 0, "SYN-ACKs sent with a SYN cookie, no state")    \
	X(syncookies_ok, 0, "connections made from a valid SYN cookie")       \
	X(syncookies_failed, 0, "ACKs to a listener with an invalid cookie")  \
	X(challenge_acks_sent, 0, "challenge ACKs sent (RFC 5961)")           \
	X(challenge_acks_limited, 0,                                          \
	  "challenge ACKs not sent: the per-second limit (RFC 5961 7)")       \
	X(reass_bytes, 1, "out-of-order bytes held now")

#define TX_FIELDS(X)                                                          \
	X(pkts, 0, "datagrams written to the TUN device")                     \
	X(bytes, 0, "bytes written to the TUN device")                        \
	X(batches, 0, "TX loop turns that found work")                        \
	X(errors, 0, "failed writes (datagram dropped)")                      \
	X(eagain, 0, "writes that found the device queue full")               \
	X(wakeups, 0, "times a worker had to wake the TX thread")             \
	X(tso_segs, 0, "TSO super-segments written (offloads)")               \
	X(impair_dropped, 0, "datagrams lost on purpose (--impair loss=)")     \
	X(impair_dup, 0, "datagrams duplicated on purpose (--impair dup=)")   \
	X(impair_delayed, 0, "datagrams held for later (--impair delay=...)") \
	X(impair_reordered, 0, "datagrams held an extra gap (reorder=)")      \
	X(impair_full, 0, "datagrams tail-dropped: impair queue full")       \
	X(impair_held, 1, "datagrams the impairment holds now")

#define X_RX(k, g, h) RXF_##k,
#define X_W(k, g, h) WF_##k,
#define X_TX(k, g, h) TXF_##k,
enum { RX_FIELDS(X_RX) RXF__N };
enum { WORKER_FIELDS(X_W) WF__N };
enum { TX_FIELDS(X_TX) TXF__N };
#undef X_RX
#undef X_W
#undef X_TX

struct field {
	const char *key;
	bool gauge;
	const char *help;
};
#define X_DESC(k, g, h) { #k, g, h },
static const struct field rx_desc[] = { RX_FIELDS(X_DESC) };
static const struct field w_desc[] = { WORKER_FIELDS(X_DESC) };
static const struct field tx_desc[] = { TX_FIELDS(X_DESC) };
#undef X_DESC

struct snap {
	unsigned nworkers;
	uint64_t rx[RXF__N];
	uint64_t tx[TXF__N];
	uint64_t drops[DROP__COUNT]; /* the whole stack's */
	uint64_t (*w)[WF__N];
};

static uint64_t wakeups_of(struct waiter *wt)
{
	return atomic_load_explicit(&wt->wakeups, memory_order_relaxed);
}

/* --impair's counters, in RX_FIELDS' / TX_FIELDS' order from
 * impair_dropped; zeros when that direction is not impaired. */
static void impair_snap(const struct impair *im, uint64_t *v)
{
	if (!im)
		return;
	v[0] = stat_read(im->st.dropped);
	v[1] = stat_read(im->st.dup);
	v[2] = stat_read(im->st.delayed);
	v[3] = stat_read(im->st.reordered);
	v[4] = stat_read(im->st.full);
	v[5] = stat_read(im->st.held);
}
_Static_assert(RXF_impair_held == RXF_impair_dropped + 5 &&
		       TXF_impair_held == TXF_impair_dropped + 5,
	       "impair_snap() follows the fields' order");

/* Read every counter once (each with a relaxed atomic load: a snapshot
 * while running, exact after stop). 0 or -ENOMEM. */
static int snap_take(struct tundra *t, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	s->nworkers = t->nworkers;
	s->w = calloc(t->nworkers ? t->nworkers : 1, sizeof(*s->w));
	if (!s->w)
		return -ENOMEM;
	s->rx[RXF_pkts] = stat_read(t->rx.pkts);
	s->rx[RXF_bytes] = stat_read(t->rx.bytes);
	s->rx[RXF_ring_full] = stat_read(t->rx.ring_full);
	s->rx[RXF_ring_waits] = stat_read(t->rx.ring_waits);
	s->rx[RXF_no_buf] = stat_read(t->rx.no_buf);
	s->rx[RXF_read_errors] = stat_read(t->rx.read_errors);
	s->rx[RXF_wakeups] = stat_read(t->rx.batches);
	impair_snap(t->imp_rx, &s->rx[RXF_impair_dropped]);
	s->rx[RXF_gso_pkts] = stat_read(t->rx.gso_pkts);
	s->rx[RXF_other_queue] = stat_read(t->rx.other_queue);
	for (unsigned i = 0; i < t->nworkers; i++) {
		struct worker *w = &t->workers[i];
		const struct core_stats *cs = core_stats(w->core);
		uint64_t *v = s->w[i];

		v[WF_pkts_in] = stat_read(cs->pkts_in);
		v[WF_bytes_in] = stat_read(cs->bytes_in);
		v[WF_pkts_out] = stat_read(cs->pkts_out);
		v[WF_bytes_out] = stat_read(cs->bytes_out);
		v[WF_conns_accepted] = stat_read(cs->conns_accepted);
		v[WF_conns_connected] = stat_read(cs->conns_connected);
		v[WF_conns_active] = stat_read(cs->conns_active);
		v[WF_conns_reset] = stat_read(cs->conns_reset);
		v[WF_resets_sent] = stat_read(cs->resets_sent);
		v[WF_retransmits] = stat_read(cs->retransmits);
		v[WF_retrans_bytes] = stat_read(cs->retrans_bytes);
		v[WF_fast_recoveries] = stat_read(cs->fast_recoveries);
		v[WF_rto_timeouts] = stat_read(cs->rto_timeouts);
		v[WF_undos] = stat_read(cs->undos);
		v[WF_sack_ignored] = stat_read(cs->sack_ignored);
		v[WF_reorder_seen] = stat_read(cs->reorder_seen);
		v[WF_tlp_probes] = stat_read(cs->tlp_probes);
		v[WF_lost_retransmits] = stat_read(cs->lost_retransmits);
		v[WF_tlp_recoveries] = stat_read(cs->tlp_recoveries);
		v[WF_side_nomem] = stat_read(cs->side_nomem);
		v[WF_icmp_echo] = stat_read(cs->icmp_echo);
		v[WF_wakeups] = wakeups_of(&w->wake);
		v[WF_batches] = stat_read(w->batches);
		v[WF_calls] = stat_read(w->calls_run);
		v[WF_conns_refused] = stat_read(cs->conns_refused);
		v[WF_conns_closed] = stat_read(cs->conns_closed);
		v[WF_rx_ring] = w->rx_ring ? ring_count(w->rx_ring) : 0;
		v[WF_tx_ring] = w->tx_ring ? ring_count(w->tx_ring) : 0;
		v[WF_syncookies_sent] = stat_read(cs->syncookies_sent);
		v[WF_syncookies_ok] = stat_read(cs->syncookies_ok);
		v[WF_syncookies_failed] = stat_read(cs->syncookies_failed);
		v[WF_challenge_acks_sent] = stat_read(cs->challenge_acks_sent);
		v[WF_challenge_acks_limited] =
			stat_read(cs->challenge_acks_limited);
		v[WF_reass_bytes] = stat_read(cs->reass_bytes);
		for (int r = 1; r < DROP__COUNT; r++) {
			uint64_t d = stat_read(cs->drops[r]);

			v[WF_drops] += d;
			s->drops[r] += d;
		}
	}
	s->tx[TXF_pkts] = stat_read(t->tx.pkts);
	s->tx[TXF_bytes] = stat_read(t->tx.bytes);
	s->tx[TXF_batches] = stat_read(t->tx.batches);
	s->tx[TXF_errors] = stat_read(t->tx.errors);
	s->tx[TXF_eagain] = stat_read(t->tx.eagain);
	s->tx[TXF_wakeups] = wakeups_of(&t->tx_wake);
	impair_snap(t->imp_tx, &s->tx[TXF_impair_dropped]);
	s->tx[TXF_tso_segs] = stat_read(t->tx.tso_segs);
	/* io_mode rtc: every worker reads and writes its own queue. */
	for (unsigned i = 0; i < t->nworkers; i++) {
		const struct worker_rtc *r = t->workers[i].rtc;

		if (!r)
			continue;
		s->rx[RXF_pkts] += stat_read(r->rx.pkts);
		s->rx[RXF_bytes] += stat_read(r->rx.bytes);
		s->rx[RXF_ring_waits] += stat_read(r->rx.ring_waits);
		s->rx[RXF_no_buf] += stat_read(r->rx.no_buf);
		s->rx[RXF_read_errors] += stat_read(r->rx.read_errors);
		s->rx[RXF_wakeups] += stat_read(r->rx.batches);
		s->rx[RXF_gso_pkts] += stat_read(r->rx.gso_pkts);
		s->rx[RXF_other_queue] += stat_read(r->rx.other_queue);
		s->tx[TXF_pkts] += stat_read(r->tx.pkts);
		s->tx[TXF_bytes] += stat_read(r->tx.bytes);
		s->tx[TXF_batches] += stat_read(r->tx.batches);
		s->tx[TXF_errors] += stat_read(r->tx.errors);
		s->tx[TXF_eagain] += stat_read(r->tx.eagain);
		s->tx[TXF_tso_segs] += stat_read(r->tx.tso_segs);
	}
	s->drops[DROP_RX_RING_FULL] += s->rx[RXF_ring_full];
	s->drops[DROP_RX_NO_BUF] += s->rx[RXF_no_buf];
	return 0;
}

static void snap_free(struct snap *s)
{
	free(s->w);
	s->w = NULL;
}

static void text_fields(FILE *f, const struct field *d, const uint64_t *v,
			int n)
{
	for (int i = 0; i < n; i++)
		fprintf(f, " %s=%" PRIu64, d[i].key, v[i]);
	fputc('\n', f);
}

static void snap_text(const struct snap *s, FILE *f)
{
	fputs("stats rx", f);
	text_fields(f, rx_desc, s->rx, RXF__N);
	for (unsigned i = 0; i < s->nworkers; i++) {
		fprintf(f, "stats worker=%u", i);
		text_fields(f, w_desc, s->w[i], WF__N);
	}
	fputs("stats tx", f);
	text_fields(f, tx_desc, s->tx, TXF__N);
	for (int r = 1; r < DROP__COUNT; r++)
		if (s->drops[r])
			fprintf(f, "stats drop reason=%s count=%" PRIu64 "\n",
				drop_name(r), s->drops[r]);
}

void ctl_stats_text(struct tundra *t, FILE *f)
{
	struct snap s;

	if (snap_take(t, &s)) {
		fputs("stats error: out of memory\n", f);
		return;
	}
	snap_text(&s, f);
	snap_free(&s);
}

static cJSON *json_fields(const struct field *d, const uint64_t *v, int n)
{
	cJSON *o = cJSON_CreateObject();

	for (int i = 0; o && i < n; i++)
		cJSON_AddNumberToObject(o, d[i].key, (double)v[i]);
	return o;
}

/* 0, or -ENOMEM. */
static int snap_json(const struct tundra *t, const struct snap *s, FILE *f)
{
	cJSON *root = cJSON_CreateObject(), *ws, *drops;
	uint64_t total = 0;
	char *txt;

	if (!root)
		return -ENOMEM;
	cJSON_AddStringToObject(root, "dev", t->cfg.dev ? t->cfg.dev : "");
	cJSON_AddNumberToObject(root, "nworkers", s->nworkers);
	cJSON_AddItemToObject(root, "rx", json_fields(rx_desc, s->rx, RXF__N));
	ws = cJSON_AddArrayToObject(root, "workers");
	for (unsigned i = 0; ws && i < s->nworkers; i++) {
		cJSON *w = json_fields(w_desc, s->w[i], WF__N);

		if (w)
			cJSON_AddNumberToObject(w, "worker", i);
		cJSON_AddItemToArray(ws, w);
	}
	cJSON_AddItemToObject(root, "tx", json_fields(tx_desc, s->tx, TXF__N));
	drops = cJSON_AddObjectToObject(root, "drops");
	for (int r = 1; drops && r < DROP__COUNT; r++) {
		cJSON_AddNumberToObject(drops, drop_name(r),
					(double)s->drops[r]);
		total += s->drops[r];
	}
	cJSON_AddNumberToObject(root, "drops_total", (double)total);
	txt = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!txt)
		return -ENOMEM;
	fputs(txt, f);
	fputc('\n', f);
	cJSON_free(txt);
	return 0;
}

static void prom_head(FILE *f, const char *group, const struct field *d)
{
	const char *sfx = d->gauge ? "" : "_total";

	fprintf(f, "# HELP tundra_%s_%s%s %s\n", group, d->key, sfx, d->help);
	fprintf(f, "# TYPE tundra_%s_%s%s %s\n", group, d->key, sfx,
		d->gauge ? "gauge" : "counter");
}

static void snap_prometheus(const struct snap *s, FILE *f)
{
	fputs("# HELP tundra_workers worker threads\n"
	      "# TYPE tundra_workers gauge\n",
	      f);
	fprintf(f, "tundra_workers %u\n", s->nworkers);
	for (int i = 0; i < RXF__N; i++) {
		prom_head(f, "rx", &rx_desc[i]);
		fprintf(f, "tundra_rx_%s%s %" PRIu64 "\n", rx_desc[i].key,
			rx_desc[i].gauge ? "" : "_total", s->rx[i]);
	}
	for (int i = 0; i < WF__N; i++) {
		prom_head(f, "worker", &w_desc[i]);
		for (unsigned w = 0; w < s->nworkers; w++)
			fprintf(f, "tundra_worker_%s%s{worker=\"%u\"} %" PRIu64
				   "\n",
				w_desc[i].key, w_desc[i].gauge ? "" : "_total",
				w, s->w[w][i]);
	}
	for (int i = 0; i < TXF__N; i++) {
		prom_head(f, "tx", &tx_desc[i]);
		fprintf(f, "tundra_tx_%s%s %" PRIu64 "\n", tx_desc[i].key,
			tx_desc[i].gauge ? "" : "_total", s->tx[i]);
	}
	fputs("# HELP tundra_drops_total datagrams dropped, by reason "
	      "(src/core/drop.h)\n"
	      "# TYPE tundra_drops_total counter\n",
	      f);
	for (int r = 1; r < DROP__COUNT; r++)
		fprintf(f, "tundra_drops_total{reason=\"%s\"} %" PRIu64 "\n",
			drop_name(r), s->drops[r]);
}

/* ---- conns: gathered on each worker's thread ---------------------------- */

struct gather;

struct gather_slot {
	struct gather *g;
	unsigned idx;
	bool done, nomem;
	struct core_conn_info *v;
	size_t n;     /* entries in v */
	size_t total; /* connections the worker had */
};

/* Shared by the ctl thread and the posted calls; freed by whoever drops
 * the last reference, so a worker that answers after the ctl thread gave
 * up on it touches nothing freed. */
struct gather {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned refs, pending;
	bool abandoned;
	size_t budget; /* entries still to hand out (CTL_MAX_CONNS in all) */
	struct tundra *t;
	struct gather_slot *slots;
};

static void gather_unref_locked(struct gather *g, bool *last)
{
	*last = --g->refs == 0;
}

static void gather_free(struct gather *g)
{
	for (unsigned i = 0; i < g->t->nworkers; i++)
		free(g->slots[i].v);
	free(g->slots);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* Runs on worker sl->idx's thread (or, for a call still queued when the
 * stack stopped, on the thread that destroys it, the worker gone). */
static void gather_on_worker(void *arg)
{
	struct gather_slot *sl = arg;
	struct gather *g = sl->g;
	const struct core *core = g->t->workers[sl->idx].core;
	size_t total = core_conn_count(core), want, n = 0;
	struct core_conn_info *v = NULL;
	bool last;

	pthread_mutex_lock(&g->mu);
	want = g->abandoned ? 0 : MIN(total, g->budget);
	g->budget -= want;
	pthread_mutex_unlock(&g->mu);
	if (want) {
		v = malloc(want * sizeof(*v));
		if (v)
			n = core_conn_snapshot(core, v, want, 0);
	}
	pthread_mutex_lock(&g->mu);
	if (g->abandoned) {
		free(v);
	} else {
		sl->v = v;
		sl->n = n;
		sl->total = total;
		sl->nomem = want && !v;
		sl->done = true;
	}
	g->pending--;
	pthread_cond_signal(&g->cv);
	gather_unref_locked(g, &last);
	pthread_mutex_unlock(&g->mu);
	if (last)
		gather_free(g);
}

/* What the ctl thread keeps of a gather: per worker its entries (owned
 * now), or missing. */
struct conns_result {
	unsigned nworkers;
	struct gather_slot *w; /* copies; .done false: no answer */
};

static int conns_gather(struct tundra *t, struct conns_result *res)
{
	struct gather *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;
	struct timespec dl;
	bool last;

	memset(res, 0, sizeof(*res));
	if (!g)
		return -ENOMEM;
	g->slots = calloc(t->nworkers ? t->nworkers : 1, sizeof(*g->slots));
	res->w = calloc(t->nworkers ? t->nworkers : 1, sizeof(*res->w));
	if (!g->slots || !res->w) {
		free(g->slots);
		free(g);
		free(res->w);
		res->w = NULL;
		return -ENOMEM;
	}
	res->nworkers = t->nworkers;
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);
	g->t = t;
	g->budget = CTL_MAX_CONNS;
	g->refs = 1;
	for (unsigned i = 0; i < t->nworkers; i++) {
		g->slots[i].g = g;
		g->slots[i].idx = i;
		pthread_mutex_lock(&g->mu);
		g->refs++;
		g->pending++;
		pthread_mutex_unlock(&g->mu);
		if (tundra_worker_call(t, i, gather_on_worker, &g->slots[i])) {
			pthread_mutex_lock(&g->mu);
			g->refs--;
			g->pending--;
			pthread_mutex_unlock(&g->mu);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += CTL_WORKER_TIMEOUT_MS / 1000;
	dl.tv_nsec += (CTL_WORKER_TIMEOUT_MS % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g->mu);
	while (g->pending &&
	       pthread_cond_timedwait(&g->cv, &g->mu, &dl) != ETIMEDOUT)
		;
	for (unsigned i = 0; i < t->nworkers; i++) {
		res->w[i] = g->slots[i];
		g->slots[i].v = NULL; /* ours now */
	}
	g->abandoned = true;
	gather_unref_locked(g, &last);
	pthread_mutex_unlock(&g->mu);
	if (last)
		gather_free(g);
	return 0;
}

static void conns_result_free(struct conns_result *res)
{
	for (unsigned i = 0; res->w && i < res->nworkers; i++)
		free(res->w[i].v);
	free(res->w);
	res->w = NULL;
}

static void ip_str(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
		 (a >> 8) & 255, a & 255);
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

struct conns_sum {
	size_t total, shown;
	bool truncated;
	unsigned missing;
};

static struct conns_sum conns_summary(const struct conns_result *res)
{
	struct conns_sum s = { 0 };

	for (unsigned i = 0; i < res->nworkers; i++) {
		const struct gather_slot *w = &res->w[i];

		if (!w->done) {
			s.missing++;
			continue;
		}
		s.total += w->total;
		s.shown += w->n;
	}
	s.truncated = s.shown < s.total;
	return s;
}

static void conns_text(const struct conns_result *res, FILE *f)
{
	struct conns_sum s = conns_summary(res);

	fprintf(f, "conns total=%zu shown=%zu workers=%u%s", s.total,
		s.shown, res->nworkers, s.truncated ? " truncated" : "");
	if (s.missing) {
		const char *sep = " missing=";

		for (unsigned i = 0; i < res->nworkers; i++)
			if (!res->w[i].done) {
				fprintf(f, "%s%u", sep, i);
				sep = ",";
			}
	}
	fputc('\n', f);
	for (unsigned w = 0; w < res->nworkers; w++) {
		for (size_t k = 0; k < res->w[w].n; k++) {
			const struct core_conn_info *c = &res->w[w].v[k];
			char la[16], ra[16];

			ip_str(c->laddr, la, sizeof(la));
			ip_str(c->raddr, ra, sizeof(ra));
			fprintf(f,
				"conn %s:%u %s:%u %s worker=%u snd_una=%" PRIu32
				" snd_nxt=%" PRIu32 " snd_wnd=%" PRIu32
				" rcv_nxt=%" PRIu32 " rcv_wnd=%" PRIu32,
				la, c->lport, ra, c->rport, c->state,
				c->worker, c->snd_una, c->snd_nxt, c->snd_wnd,
				c->rcv_nxt, c->rcv_wnd);
			if (c->have_rtt)
				fprintf(f, " srtt_ms=%.3f rttvar_ms=%.3f",
					ms(c->srtt_ns), ms(c->rttvar_ns));
			else
				fputs(" srtt_ms=n/a rttvar_ms=n/a", f);
			fprintf(f,
				" rto_ms=%.3f retransmits=%" PRIu32
				" bytes_acked=%" PRIu64
				" bytes_received=%" PRIu64
				" sndbuf=%" PRIu32 "/%" PRIu32
				" rcvbuf=%" PRIu32 "/%" PRIu32
				" mss=%u cc=%s cwnd=%" PRIu32
				" ssthresh=%" PRIu32 " recovery=%d"
				" retrans_bytes=%" PRIu64 "\n",
				ms(c->rto_ns), c->retransmits, c->bytes_acked,
				c->bytes_received, c->sndbuf_used,
				c->sndbuf_cap, c->rcvbuf_used, c->rcvbuf_cap,
				c->mss, c->cc, c->cwnd, c->ssthresh,
				c->in_recovery, c->retrans_bytes);
		}
	}
	if (s.truncated)
		fprintf(f, "conns truncated: %zu of %zu shown (limit %u)\n",
			s.shown, s.total, (unsigned)CTL_MAX_CONNS);
	for (unsigned i = 0; i < res->nworkers; i++) {
		if (!res->w[i].done)
			fprintf(f,
				"conns missing worker=%u: no answer within "
				"%u ms\n",
				i, (unsigned)CTL_WORKER_TIMEOUT_MS);
		else if (res->w[i].nomem)
			fprintf(f, "conns worker=%u: out of memory\n", i);
	}
}

static cJSON *conn_json(const struct core_conn_info *c)
{
	cJSON *o = cJSON_CreateObject();
	char la[16], ra[16], ep[24];

	if (!o)
		return NULL;
	ip_str(c->laddr, la, sizeof(la));
	ip_str(c->raddr, ra, sizeof(ra));
	snprintf(ep, sizeof(ep), "%s:%u", la, c->lport);
	cJSON_AddStringToObject(o, "local", ep);
	snprintf(ep, sizeof(ep), "%s:%u", ra, c->rport);
	cJSON_AddStringToObject(o, "remote", ep);
	cJSON_AddStringToObject(o, "laddr", la);
	cJSON_AddNumberToObject(o, "lport", c->lport);
	cJSON_AddStringToObject(o, "raddr", ra);
	cJSON_AddNumberToObject(o, "rport", c->rport);
	cJSON_AddStringToObject(o, "state", c->state);
	cJSON_AddNumberToObject(o, "worker", c->worker);
	cJSON_AddNumberToObject(o, "snd_una", c->snd_una);
	cJSON_AddNumberToObject(o, "snd_nxt", c->snd_nxt);
	cJSON_AddNumberToObject(o, "snd_wnd", c->snd_wnd);
	cJSON_AddNumberToObject(o, "rcv_nxt", c->rcv_nxt);
	cJSON_AddNumberToObject(o, "rcv_wnd", c->rcv_wnd);
	if (c->have_rtt) {
		cJSON_AddNumberToObject(o, "srtt_ms", ms(c->srtt_ns));
		cJSON_AddNumberToObject(o, "rttvar_ms", ms(c->rttvar_ns));
	} else {
		cJSON_AddNullToObject(o, "srtt_ms");
		cJSON_AddNullToObject(o, "rttvar_ms");
	}
	cJSON_AddNumberToObject(o, "rto_ms", ms(c->rto_ns));
	cJSON_AddNumberToObject(o, "retransmits", c->retransmits);
	cJSON_AddNumberToObject(o, "bytes_acked", (double)c->bytes_acked);
	cJSON_AddNumberToObject(o, "bytes_received",
				(double)c->bytes_received);
	cJSON_AddNumberToObject(o, "sndbuf_used", c->sndbuf_used);
	cJSON_AddNumberToObject(o, "sndbuf_cap", c->sndbuf_cap);
	cJSON_AddNumberToObject(o, "rcvbuf_used", c->rcvbuf_used);
	cJSON_AddNumberToObject(o, "rcvbuf_cap", c->rcvbuf_cap);
	cJSON_AddNumberToObject(o, "mss", c->mss);
	cJSON_AddStringToObject(o, "cc", c->cc);
	cJSON_AddNumberToObject(o, "cwnd", c->cwnd);
	cJSON_AddNumberToObject(o, "ssthresh", c->ssthresh);
	cJSON_AddBoolToObject(o, "in_recovery", c->in_recovery);
	cJSON_AddNumberToObject(o, "retrans_bytes", (double)c->retrans_bytes);
	return o;
}

/* The object is written piecewise (one cJSON tree per connection), so a
 * reply of CTL_MAX_CONNS connections needs no tree of them all. */
static int conns_json(const struct conns_result *res, FILE *f)
{
	struct conns_sum s = conns_summary(res);
	const char *sep = "";

	fprintf(f,
		"{\"total\":%zu,\"shown\":%zu,\"truncated\":%s,\"limit\":%u,"
		"\"nworkers\":%u,\"missing_workers\":[",
		s.total, s.shown, s.truncated ? "true" : "false",
		(unsigned)CTL_MAX_CONNS, res->nworkers);
	for (unsigned i = 0; i < res->nworkers; i++)
		if (!res->w[i].done) {
			fprintf(f, "%s%u", sep, i);
			sep = ",";
		}
	fputs("],\"conns\":[", f);
	sep = "";
	for (unsigned w = 0; w < res->nworkers; w++) {
		for (size_t k = 0; k < res->w[w].n; k++) {
			cJSON *o = conn_json(&res->w[w].v[k]);
			char *txt = o ? cJSON_PrintUnformatted(o) : NULL;

			cJSON_Delete(o);
			if (!txt)
				return -ENOMEM;
			fprintf(f, "%s%s", sep, txt);
			cJSON_free(txt);
			sep = ",";
		}
	}
	fputs("]}\n", f);
	return 0;
}

/* ---- the server ------------------------------------------------------- */

struct ctl_server {
	struct tundra *t;
	int lfd, stop_efd;
	pthread_t thread;
	char unlink_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
};

socklen_t ctl_sockaddr(struct sockaddr_un *sa, const char *path,
		       const char *dev)
{
	char name[sizeof(sa->sun_path) + 16];
	size_t n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (path && path[0] && path[0] != '@') {
		n = strlen(path);
		if (n >= sizeof(sa->sun_path))
			return 0;
		memcpy(sa->sun_path, path, n);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
				   1);
	}
	if (path && path[0] == '@')
		snprintf(name, sizeof(name), "%s", path + 1);
	else
		snprintf(name, sizeof(name), "tundra-%s", dev ? dev : "tun0");
	n = strlen(name);
	if (!n || n + 1 > sizeof(sa->sun_path))
		return 0;
	memcpy(sa->sun_path + 1, name, n); /* sun_path[0] = 0: abstract */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static uint64_t mono_ms(void)
{
	return clock_now_ns() / 1000000;
}

/* Wait for fd (events) or the stop eventfd, at most until deadline_ms.
 * 1 ready, 0 timed out, -1 stopping or error. */
static int wait_fd(struct ctl_server *s, int fd, short events,
		   uint64_t deadline_ms)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = events },
				       { .fd = s->stop_efd,
					 .events = POLLIN } };
		uint64_t now = mono_ms();
		int n;

		if (now >= deadline_ms)
			return 0;
		n = poll(p, 2, (int)MIN(deadline_ms - now, 1000));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			return -1;
		if (p[0].revents)
			return 1;
	}
}

static void write_all(struct ctl_server *s, int fd, const char *buf,
		      size_t len)
{
	uint64_t deadline = mono_ms() + CTL_WRITE_TIMEOUT_MS;

	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_fd(s, fd, POLLOUT, deadline) == 1)
			continue;
		return; /* the client went away, was too slow, or we stop */
	}
}

/* Read one request line into req (NUL-terminated, without the newline).
 * 0, or -1 with an error reply in *why (NULL: say nothing). */
static int read_request(struct ctl_server *s, int fd, char *req,
			const char **why)
{
	uint64_t deadline = mono_ms() + CTL_READ_TIMEOUT_MS;
	size_t len = 0;

	*why = NULL;
	for (;;) {
		ssize_t n = recv(fd, req + len, CTL_MAX_REQUEST + 1 - len, 0);
		char *nl;

		if (n > 0) {
			len += (size_t)n;
			req[len] = 0;
			nl = memchr(req, '\n', len);
			if (nl) {
				*nl = 0;
				len = (size_t)(nl - req);
				break;
			}
			if (len > CTL_MAX_REQUEST) {
				*why = "error: request longer than 256 bytes\n";
				return -1;
			}
			continue;
		}
		if (n == 0)
			break; /* EOF ends the line too */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		switch (wait_fd(s, fd, POLLIN, deadline)) {
		case 1:
			continue;
		case 0:
			*why = "error: no request line within 2 s\n";
			return -1;
		default:
			return -1;
		}
	}
	req[len] = 0;
	if (memchr(req, 0, len)) {
		*why = "error: NUL byte in request\n";
		return -1;
	}
	return 0;
}

static const char usage_text[] =
	"requests: stat | stat json | stat prometheus | conns | conns json | "
	"help\n";

/* Build the reply to req into f. */
static void dispatch(struct tundra *t, char *req, FILE *f)
{
	char *words[3] = { 0 }, *save = NULL, *w;
	int n = 0;

	for (w = strtok_r(req, " \t\r", &save); w;
	     w = strtok_r(NULL, " \t\r", &save)) {
		if (n == 3)
			break;
		words[n++] = w;
	}
	if (n == 0) {
		fprintf(f, "error: empty request; %s", usage_text);
		return;
	}
	if (n <= 2 && !strcmp(words[0], "stat")) {
		struct snap s;
		const char *fmt = n == 2 ? words[1] : "text";

		if (strcmp(fmt, "text") && strcmp(fmt, "json") &&
		    strcmp(fmt, "prometheus")) {
			fprintf(f, "error: unknown format for stat; %s",
				usage_text);
			return;
		}
		if (snap_take(t, &s)) {
			fputs("error: out of memory\n", f);
			return;
		}
		if (!strcmp(fmt, "json")) {
			if (snap_json(t, &s, f))
				fputs("error: out of memory\n", f);
		} else if (!strcmp(fmt, "prometheus")) {
			snap_prometheus(&s, f);
		} else {
			snap_text(&s, f);
		}
		snap_free(&s);
		return;
	}
	if (n <= 2 && !strcmp(words[0], "conns")) {
		struct conns_result res;
		bool json = n == 2 && !strcmp(words[1], "json");

		if (n == 2 && !json && strcmp(words[1], "text")) {
			fprintf(f, "error: unknown format for conns; %s",
				usage_text);
			return;
		}
		if (conns_gather(t, &res)) {
			fputs("error: out of memory\n", f);
			return;
		}
		if (json) {
			if (conns_json(&res, f))
				fputs("error: out of memory\n", f);
		} else {
			conns_text(&res, f);
		}
		conns_result_free(&res);
		return;
	}
	if (n == 1 && !strcmp(words[0], "help")) {
		fputs(usage_text, f);
		return;
	}
	fprintf(f, "error: unknown request; %s", usage_text);
}

static void serve(struct ctl_server *s, int fd)
{
	char req[CTL_MAX_REQUEST + 2];
	const char *why;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (read_request(s, fd, req, &why)) {
		if (why)
			write_all(s, fd, why, strlen(why));
		return;
	}
	f = open_memstream(&buf, &len);
	if (!f) {
		why = "error: out of memory\n";
		write_all(s, fd, why, strlen(why));
		return;
	}
	dispatch(s->t, req, f);
	if (fclose(f) == 0)
		write_all(s, fd, buf, len);
	free(buf);
}

/* Closing a Unix socket with unread input resets it, and the client may
 * lose the reply: take in what the client already sent (bounded). */
static void drain(int fd)
{
	char scratch[4096];

	for (int i = 0; i < 64; i++)
		if (recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT) <= 0)
			break;
}

static void *ctl_main(void *arg)
{
	struct ctl_server *s = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = s->lfd, .events = POLLIN },
				       { .fd = s->stop_efd,
					 .events = POLLIN } };
		int n = poll(p, 2, -1), fd;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			break;
		if (!p[0].revents)
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				/* Out of something: back off, do not spin. */
				poll(&p[1], 1, 100);
			continue;
		}
		serve(s, fd);
		drain(fd);
		close(fd);
	}
	return NULL;
}

/* A filesystem socket left behind by a tundra that is gone: remove it.
 * Anything else at the path is left alone. 0, or -errno. */
static int remove_stale(const struct sockaddr_un *sa, socklen_t len,
			char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st)) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", sa->sun_path,
			 strerror(errno));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
			 "control socket %s: exists and is not a socket",
			 sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	rc = connect(fd, (const struct sockaddr *)sa, len);
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen,
			 "control socket %s is in use (another tundra?)",
			 sa->sun_path);
		return -EADDRINUSE;
	}
	unlink(sa->sun_path);
	return 0;
}

int ctl_server_start(struct tundra *t, struct ctl_server **out, char *err,
		     size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t salen = ctl_sockaddr(&sa, t->cfg.ctl_path, t->cfg.dev);
	bool abstract = salen && sa.sun_path[0] == 0;
	const char *shown = abstract ? sa.sun_path + 1 : sa.sun_path;
	struct ctl_server *s;
	int rc;

	*out = NULL;
	if (!salen) {
		snprintf(err, errlen, "control socket name too long");
		return -ENAMETOOLONG;
	}
	if (!abstract && (rc = remove_stale(&sa, salen, err, errlen)))
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->t = t;
	s->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->stop_efd < 0 || s->lfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		goto fail;
	}
	if (bind(s->lfd, (struct sockaddr *)&sa, salen)) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s%s: %s%s",
			 abstract ? "@" : "", shown, strerror(errno),
			 errno == EADDRINUSE ? " (another tundra on this "
					       "device?)"
					     : "");
		goto fail;
	}
	if (!abstract) {
		snprintf(s->unlink_path, sizeof(s->unlink_path), "%s",
			 sa.sun_path);
		if (chmod(sa.sun_path, 0600)) {
			rc = -errno;
			snprintf(err, errlen, "control socket %s: chmod: %s",
				 shown, strerror(errno));
			goto fail;
		}
	}
	if (listen(s->lfd, 16)) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: listen: %s", shown,
			 strerror(errno));
		goto fail;
	}
	if (pthread_create(&s->thread, NULL, ctl_main, s)) {
		rc = -EAGAIN;
		snprintf(err, errlen, "cannot start the control thread");
		goto fail;
	}
	pthread_setname_np(s->thread, "tundra-ctl");
	*out = s;
	err[0] = 0;
	return 0;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->stop_efd >= 0)
		close(s->stop_efd);
	if (s->unlink_path[0])
		unlink(s->unlink_path);
	free(s);
	return rc;
}

void ctl_server_stop(struct ctl_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	(void)!write(s->stop_efd, &one, sizeof(one));
	pthread_join(s->thread, NULL);
	close(s->lfd);
	close(s->stop_efd);
	if (s->unlink_path[0])
		unlink(s->unlink_path);
	free(s);
}
