/*
 * core.c — the sans-I/O core of one worker: datagram demultiplexing, the
 * connection lifecycle, the flush at the end of a batch, timers, and the
 * return of transmit descriptors. See core.h.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_priv.h"
#include "ip/ipv4.h"
#include "tcp/tcp_seq.h"
#include "tundra/app.h"

#define CORE_INIT_BUCKETS 1024
#define CORE_INIT_TIMERS 1024
#define TCP_DEFAULT_MSS 536 /* RFC 9293 §3.7.1, when the peer sends none */
#define TCP_MIN_MSS 64      /* floor against absurdly small announced MSS */

static uint32_t pow2_at_least(uint32_t v, uint32_t min)
{
	uint32_t p = min;

	while (p < v && p < (1u << 30))
		p <<= 1;
	return p;
}

uint64_t flow_hash(const uint8_t key[16], uint32_t raddr, uint16_t rport,
		   uint32_t laddr, uint16_t lport)
{
	uint8_t in[12], out[crypto_shorthash_BYTES];
	uint64_t h;

	/* SipHash-2-4 keyed with a secret: a peer cannot aim many flows at
	 * one worker or one bucket. */
	memcpy(in, &raddr, 4);
	memcpy(in + 4, &laddr, 4);
	memcpy(in + 8, &rport, 2);
	memcpy(in + 10, &lport, 2);
	crypto_shorthash(out, in, sizeof(in), key);
	memcpy(&h, out, sizeof(h));
	return h;
}

struct core *core_slots[CORE_SLOTS];
static pthread_mutex_t core_slots_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t core_slots_next; /* where the search for a free one starts */

static bool core_slot_take(struct core *core)
{
	bool ok = false;

	pthread_mutex_lock(&core_slots_lock);
	for (uint32_t i = 0; i < CORE_SLOTS; i++) {
		uint32_t s = (core_slots_next + i) % CORE_SLOTS;

		if (!core_slots[s]) {
			core_slots[s] = core;
			core->idx = (uint16_t)s;
			core_slots_next = s + 1;
			ok = true;
			break;
		}
	}
	pthread_mutex_unlock(&core_slots_lock);
	return ok;
}

static void core_slot_put(struct core *core)
{
	pthread_mutex_lock(&core_slots_lock);
	if (core_slots[core->idx] == core)
		core_slots[core->idx] = NULL;
	pthread_mutex_unlock(&core_slots_lock);
}

int core_app_idx(struct core *core, const struct tundra_app *app)
{
	for (uint32_t i = 0; i < core->napps; i++)
		if (core->apps[i] == app)
			return (int)i;
	if (core->napps == CORE_APPS)
		return -1;
	core->apps[core->napps] = app;
	return (int)core->napps++;
}

struct core *core_create(const struct core_config *cfg,
			 const struct core_env *env)
{
	struct core *core = calloc(1, sizeof(*core));

	if (!core)
		return NULL;
	if (!core_slot_take(core)) {
		free(core);
		return NULL;
	}
	core->cfg = *cfg;
	core->env = *env;
	core->sndbuf_cap = pow2_at_least(cfg->sndbuf, 4096);
	core->rcvbuf_cap = pow2_at_least(cfg->rcvbuf, 4096);
	core->mss = (uint16_t)(cfg->mtu - IPV4_HDR_LEN - TCP_HDR_LEN);
	/* RFC 7323 §2.3: the smallest shift that lets the window field
	 * cover the whole receive buffer. */
	while ((core->rcvbuf_cap >> core->rcv_wscale) > 65535 &&
	       core->rcv_wscale < TCP_MAX_WSCALE)
		core->rcv_wscale++;
	core->flush_tail = &core->flush_head;
	core->blocked_tail = &core->blocked_head;
	/* One count per port: 128 KiB, and a SYN costs an index, not a
	 * lookup (listeners are shared; their SYN queues are per core). */
	if (cfg->syn_backlog)
		core->synq = calloc(65536, sizeof(*core->synq));
	if (ctab_init(core, CORE_INIT_BUCKETS) ||
	    theap_init(core, CORE_INIT_TIMERS) ||
	    (cfg->syn_backlog && !core->synq)) {
		ctab_free(core);
		theap_free(core);
		free(core->synq);
		core_slot_put(core);
		free(core);
		return NULL;
	}
	return core;
}

static void conn_free(struct tcp_conn *c)
{
	tcp_reass_free(c);
	tcp_sack_free(c);
	if (c->side) {
		free(c->side->ka);
		free(c->side);
		c->side = NULL;
	}
	if (c->io) {
		bbuf_free(&c->io->snd);
		bbuf_free(&c->io->rcv);
		free(c->io);
	}
	free(c);
}

void core_destroy(struct core *core)
{
	if (!core)
		return;
	/* Closed connections are only on the lists; live ones are in the
	 * table too. Free the former first, before the table's walk frees
	 * what the lists link through. */
	for (struct tcp_conn *c = core->flush_head, *next; c; c = next) {
		next = c->flush_next;
		if (c->flags & TF_DEAD)
			conn_free(c);
	}
	for (struct tcp_conn *c = core->blocked_head, *next; c; c = next) {
		next = c->flush_next;
		if (c->flags & TF_DEAD)
			conn_free(c);
	}
	for (uint32_t i = 0; i < core->nbuckets; i++) {
		struct tcp_conn *c = core->buckets[i], *next;
		for (; c; c = next) {
			next = c->hnext;
			conn_free(c);
		}
	}
	while (core->io_ncache)
		free(core->io_cache[--core->io_ncache]);
	ctab_free(core);
	theap_free(core);
	free(core->synq);
	core_slot_put(core);
	free(core);
}

const struct core_stats *core_stats(const struct core *core)
{
	return &core->stats;
}

void core_count_drop(struct core *core, enum drop_reason r)
{
	core_drop(core, r);
}

size_t core_conn_count(const struct core *core)
{
	return core->nconns;
}

size_t core_conn_size(void)
{
	return sizeof(struct tcp_conn);
}

size_t core_conn_snapshot(const struct core *core, struct core_conn_info *out,
			  size_t max, size_t skip)
{
	size_t n = 0, seen = 0;

	for (uint32_t b = 0; b < core->nbuckets && n < max; b++) {
		for (const struct tcp_conn *c = core->buckets[b]; c && n < max;
		     c = c->hnext) {
			struct core_conn_info *i;

			if (seen++ < skip)
				continue;
			i = &out[n++];
			memset(i, 0, sizeof(*i));
			i->laddr = core->cfg.addr;
			i->raddr = c->raddr;
			i->lport = c->lport;
			i->rport = c->rport;
			i->state = tcp_state_name((enum tcp_state)c->state);
			i->worker = core->cfg.worker_id;
			i->snd_una = c->snd_una;
			i->snd_nxt = c->snd_nxt;
			i->snd_wnd = c->snd_wnd;
			i->rcv_nxt = c->rcv_nxt;
			i->rcv_wnd = seq_gt(c->rcv_adv, c->rcv_nxt)
					     ? c->rcv_adv - c->rcv_nxt
					     : 0;
			i->have_rtt = c->flags & TF_HAVE_RTT;
			i->srtt_ns = tcp_srtt_ns(c);
			i->rttvar_ns = (uint64_t)c->rttvar_us * 1000;
			i->rto_ns = tcp_rto_ns(c);
			i->retransmits = c->retransmits;
			i->retrans_bytes = c->retrans_bytes;
			i->cwnd = c->cc.cwnd;
			i->ssthresh = c->cc.ssthresh;
			i->cc = tcp_cc_name(c->cc_algo);
			i->in_recovery = c->rec & REC_RECOVERY;
			i->bytes_acked = tcp_bytes_acked(c);
			i->bytes_received = tcp_bytes_received(c);
			i->sndbuf_used = tcp_snd(c)->len;
			i->sndbuf_cap = tcp_snd(c)->mem ? bbuf_cap(tcp_snd(c))
							: core->sndbuf_cap;
			i->rcvbuf_used = tcp_rcv(c)->len;
			i->rcvbuf_cap = tcp_rcv(c)->mem ? bbuf_cap(tcp_rcv(c))
							: core->rcvbuf_cap;
			i->mss = c->snd_mss;
		}
	}
	return n;
}

struct core_out *core_out_get(struct core *core)
{
	struct core_out *o = core->env.out_alloc(core->env.ctx);

	if (o) {
		o->niov = 1;
		o->len = 0;
		o->conn = NULL;
		o->aux = NULL;
		o->gso_size = 0;
		o->csum_start = o->csum_offset = 0;
	}
	return o;
}

void core_schedule(struct core *core, struct tcp_conn *c)
{
	if (c->flags & (TF_IN_FLUSH | TF_DEAD))
		return;
	c->flags |= TF_IN_FLUSH;
	c->flush_next = NULL;
	*core->flush_tail = c;
	core->flush_tail = &c->flush_next;
}

/* RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), M a 4-microsecond timer, F a keyed pseudo-random function
 * (SipHash here). */
uint32_t core_iss(struct core *core, uint32_t raddr, uint16_t rport,
		  uint32_t laddr, uint16_t lport)
{
	uint64_t f = flow_hash(core->cfg.iss_key, raddr, rport, laddr, lport);

	return (uint32_t)(core->now / 4000) + (uint32_t)f;
}

void tcp_syn_options(struct core *core, struct tcp_conn *c,
		     const struct tcp_seg *seg)
{
	const struct tcp_opts *o = &seg->opts;

	/* RFC 9293 §3.7.1: send no more than the peer's MSS and what our
	 * own MTU carries. */
	c->snd_mss = o->has_mss ? MIN(o->mss, core->mss) : TCP_DEFAULT_MSS;
	c->snd_mss = MAX(c->snd_mss, TCP_MIN_MSS);
	/* Each option is in use only if both SYNs carry it; a passive
	 * open offers back exactly what the peer offered. */
	c->flags &= ~(TF_WSCALE | TF_SACK | TF_TS);
	c->snd_wscale = c->rcv_wscale = 0;
	if (o->has_wscale) {
		c->flags |= TF_WSCALE;
		c->snd_wscale = o->wscale;
		c->rcv_wscale = core->rcv_wscale;
	}
	if (o->sack_ok)
		c->flags |= TF_SACK;
	if (o->has_ts) {
		c->flags |= TF_TS;
		c->ts_recent = o->tsval;
		c->ts_recent_s = tcp_now_s(core);
	}
	tcp_cc_init(core, c); /* the initial window needs the MSS */
}

void core_conn_set_iss(struct tcp_conn *c, uint32_t iss)
{
	/* RFC 7323 §7.1: a per-connection random timestamp offset, (flow
	 * hash >> 17) ^ ISS (tcp_syncookie.c derives the same one before
	 * the connection exists). conn_alloc stored the hash part, with ISS
	 * 0; a new ISS replaces the old one in it. */
	c->ts_offset ^= c->iss ^ iss;
	c->iss = iss;
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->snd_buf_seq = c->iss + 1;
	/* Sequence numbers are only compared near each other: every one
	 * the connection keeps starts at ISS, never at 0 (snd_sml starts
	 * at SND.UNA with struct tcp_io). */
	if (c->io)
		c->io->snd_sml = c->iss;
}

void core_synq_leave(struct core *core, struct tcp_conn *c)
{
	if (!(c->flags & TF_SYNQ))
		return;
	c->flags &= ~TF_SYNQ;
	core->synq[c->lport]--;
}

/* A control block with its key and the send side initialised. */
static struct tcp_conn *conn_alloc(struct core *core, uint64_t hash,
				   uint32_t raddr, uint16_t rport,
				   uint16_t lport)
{
	struct tcp_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->core_idx = core->idx;
	c->raddr = raddr;
	c->rport = rport;
	c->lport = lport;
	c->heap_idx = -1;
	/* The high bits of the hash, which pick neither worker nor bucket:
	 * they tell the peer nothing about either. */
	c->ts_offset = (uint32_t)(hash >> 17);
	core_conn_set_iss(c,
			  core_iss(core, raddr, rport, core->cfg.addr, lport));
	c->cc_algo = (uint8_t)(core->cfg.cc_algo < TCP_CC__COUNT
				       ? core->cfg.cc_algo
				       : TCP_CC_CUBIC);
	c->recover = c->iss;
	c->reordering = TCP_DUPTHRESH;
	return c;
}

void tcp_set_first_window(struct core *core, struct tcp_conn *c)
{
	c->rcv_adv = c->rcv_nxt +
		     MIN(core->rcvbuf_cap, c->flags & TF_WSCALE
						   ? 65535u << c->rcv_wscale
						   : 65535u);
	c->last_ack_sent = c->rcv_nxt;
}

struct tcp_conn *core_conn_new(struct core *core, const struct tcp_seg *seg,
			       uint64_t hash)
{
	struct tcp_conn *c =
		conn_alloc(core, hash, seg->saddr, seg->sport, seg->dport);

	if (!c)
		return NULL;
	tcp_set_state(c, TCPS_SYN_RECEIVED);
	c->irs = seg->seq;
	c->rcv_nxt = seg->seq + 1;
	c->snd_wnd = seg->wnd; /* never scaled in a SYN (RFC 7323 §2.2) */
	c->snd_wl1 = seg->seq;
	tcp_syn_options(core, c, seg);
	tcp_set_first_window(core, c);
	ctab_insert(core, c, hash);
	return c;
}

#define EPHEMERAL_LO 32768 /* Linux's ip_local_port_range */
#define EPHEMERAL_HI 60999

int core_connect(struct core *core, uint32_t raddr, uint16_t rport,
		 const struct tundra_app *app, void *arg, uint64_t now,
		 struct tcp_conn **out)
{
	uint32_t range = EPHEMERAL_HI - EPHEMERAL_LO + 1;
	uint32_t start, i;
	struct tcp_conn *c;
	uint64_t h = 0;
	uint16_t port = 0;
	int ai;

	core->now = now;
	/* The same bound as for passive opens: nothing grows the table past
	 * max_conns (Linux fails connect() with ENOBUFS when it cannot
	 * allocate a socket). */
	if (!core_conn_room(core))
		return -ENOBUFS;
	ai = core_app_idx(core, app);
	if (ai < 0)
		return -ENOSPC;
	/* DESIGN.md: pick a port whose 4-tuple hashes back to this worker,
	 * so the peer's replies reach the state. A keyed start point makes
	 * the choice unpredictable (RFC 6056 §3.3.4 in spirit); about one
	 * port in nworkers fits. */
	start = (uint32_t)flow_hash(core->cfg.iss_key, raddr, rport,
				    core->cfg.addr,
				    (uint16_t)core->port_seq++) ^
		(uint32_t)(now >> 10);
	for (i = 0; i < range; i++) {
		uint16_t p = (uint16_t)(EPHEMERAL_LO + (start + i) % range);

		h = flow_hash(core->cfg.flow_key, raddr, rport, core->cfg.addr,
			      p);
		if (flow_worker(h, MAX(core->cfg.nworkers, 1u)) !=
		    core->cfg.worker_id)
			continue;
		if (ctab_lookup(core, h, raddr, rport, p))
			continue;
		port = p;
		break;
	}
	if (!port)
		return -EADDRNOTAVAIL;
	c = conn_alloc(core, h, raddr, rport, port);
	if (!c)
		return -ENOMEM;
	tcp_set_state(c, TCPS_SYN_SENT);
	c->flags |= TF_ACTIVE | TF_APP;
	/* We offer every option; the SYN-ACK decides (tcp_syn_options). */
	c->rcv_wscale = core->rcv_wscale;
	c->snd_mss = TCP_DEFAULT_MSS;
	c->app_idx = (uint8_t)ai;
	c->app_data = (uintptr_t)arg;
	ctab_insert(core, c, h);
	core_schedule(core, c); /* the SYN goes out at the flush */
	if (out)
		*out = c;
	return 0;
}

void core_conn_close(struct core *core, struct tcp_conn *c, int err)
{
	bool was_established = TCPS_HAVE_ESTABLISHED(c->state);

	if (c->flags & TF_DEAD)
		return;
	core_synq_leave(core, c);
	tcp_set_state(c, TCPS_CLOSED);
	c->flags |= TF_DEAD;
	ctab_remove(core, c);
	theap_remove(core, c);
	tcp_reass_free(c);
	if (was_established) {
		stat_add(core->stats.conns_active, -1);
		stat_add(core->stats.conns_closed, 1);
	}
	if (c->flags & TF_APP) {
		const struct tundra_app *app = core_app(core, c);

		c->flags &= ~TF_APP;
		if (app->closed)
			app->closed((struct tundra_conn *)c, err);
	}
	/* On a list, or pointed to by descriptors: freed when the last
	 * of those lets go (core_flush, core_tx_done). */
	if (!(c->flags & TF_IN_FLUSH) && !tcp_tx_inflight(c))
		conn_free(c);
}

void core_input(struct core *core, const uint8_t *pkt, uint32_t len,
		uint64_t now)
{
	core_input_hashed(core, pkt, len, now, NULL);
}

void core_input_hashed(struct core *core, const uint8_t *pkt, uint32_t len,
		       uint64_t now, const uint64_t *hash)
{
	core_input_pkt(core, pkt, len, now, hash, 0);
}

void core_input_pkt(struct core *core, const uint8_t *pkt, uint32_t len,
		    uint64_t now, const uint64_t *hash, unsigned flags)
{
	struct ip_view ip;
	struct tcp_seg seg;
	enum drop_reason r;

	core->now = now;
	stat_add(core->stats.pkts_in, 1);
	stat_add(core->stats.bytes_in, len);
	r = ipv4_parse(pkt, len, &ip);
	if (r == DROP_NONE)
		r = ipv4_check_addrs(&ip, core->cfg.addr, core->cfg.prefix);
	if (unlikely(r != DROP_NONE)) {
		core_drop(core, r);
		return;
	}
	ip.l4_csum_ok = (flags & CORE_IN_CSUM_OK) != 0;
	switch (ip.proto) {
	case IPPROTO_TCP_:
		r = tcp_parse(&ip, &seg);
		if (unlikely(r != DROP_NONE)) {
			core_drop(core, r);
			return;
		}
		tcp_input(core, &seg,
			  hash ? *hash
			       : flow_hash(core->cfg.flow_key, seg.saddr,
					   seg.sport, seg.daddr, seg.dport));
		break;
	case IPPROTO_ICMP_:
		icmp_input(core, &ip);
		break;
	default:
		core_drop(core, DROP_IP_PROTO);
		break;
	}
}

/* c leaves a list: free it if it was closed meanwhile and nothing else
 * points at it. true when it is gone. */
static bool unlist(struct tcp_conn *c)
{
	c->flags &= ~TF_IN_FLUSH;
	if ((c->flags & TF_DEAD) && !tcp_tx_inflight(c)) {
		conn_free(c);
		return true;
	}
	return (c->flags & TF_DEAD) != 0;
}

void core_flush(struct core *core, uint64_t now)
{
	const struct tundra_app *app;
	struct tcp_conn *c;

	core->now = now;
	while ((c = core->flush_head)) {
		core->flush_head = c->flush_next;
		if (!core->flush_head)
			core->flush_tail = &core->flush_head;
		if (c->flags & TF_DEAD) {
			unlist(c);
			continue;
		}
		/* App callbacks first: what they write goes out below. c
		 * stays listed (TF_IN_FLUSH) meanwhile, so a close inside a
		 * callback cannot free it under us. */
		app = core_app(core, c);
		if ((c->flags & TF_READABLE) && (c->flags & TF_APP)) {
			c->flags &= ~TF_READABLE;
			if (app->readable)
				app->readable((struct tundra_conn *)c);
		}
		if ((c->flags & TF_WRITABLE) && (c->flags & TF_APP)) {
			c->flags &= ~TF_WRITABLE;
			if (app->writable)
				app->writable((struct tundra_conn *)c);
		}
		if (c->flags & TF_DEAD) {
			unlist(c);
			continue;
		}
		if (!tcp_output(core, c)) {
			/* Out of descriptors: wait for core_tx_done. */
			c->flush_next = NULL;
			*core->blocked_tail = c;
			core->blocked_tail = &c->flush_next;
			continue;
		}
		unlist(c);
	}
}

bool core_pending(const struct core *core)
{
	return core->flush_head != NULL;
}

void core_tx_done(struct core *core, struct core_out *o)
{
	struct tcp_conn *c = o->conn;

	free(o->aux);
	o->aux = NULL;
	o->conn = NULL;
	if (c && --c->io->tx_inflight == 0) {
		if (!(c->flags & TF_DEAD))
			tcp_sndbuf_release(core, c); /* what was pinned */
		else if (!(c->flags & TF_IN_FLUSH))
			conn_free(c);
	}
	/* A descriptor is free again: blocked output may proceed. */
	if (core->blocked_head) {
		*core->flush_tail = core->blocked_head;
		core->flush_tail = core->blocked_tail;
		core->blocked_head = NULL;
		core->blocked_tail = &core->blocked_head;
	}
}

uint64_t core_next_deadline(const struct core *core)
{
	return core->heap_len ? core->heap[0].at : UINT64_MAX;
}

int core_sleep_ms(const struct core *core, uint64_t now)
{
	uint64_t next = core_next_deadline(core);

	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	/* Rounded up, so the sleeper wakes after the deadline, not a
	 * little before it (and would sleep 0 ms again); at most 1 s, so
	 * that a clock step is noticed. */
	return (int)MIN((next - now + 999999) / 1000000, 1000);
}

uint64_t core_timers(struct core *core, uint64_t now)
{
	struct tcp_conn *c;

	core->now = now;
	while (core->heap_len && core->heap[0].at <= now) {
		c = core->heap[0].c;
		theap_remove(core, c);
		tcp_timer_fire(core, c);
	}
	core_flush(core, now);
	return core_next_deadline(core);
}

void core_close_all(struct core *core)
{
	for (uint32_t b = 0; b < core->nbuckets; b++)
		for (struct tcp_conn *c = core->buckets[b]; c; c = c->hnext)
			if ((c->state == TCPS_ESTABLISHED ||
			     c->state == TCPS_CLOSE_WAIT) &&
			    (c->flags & TF_APP))
				/* Only flags and the flush list: the
				 * table is not touched. */
				tundra_conn_close((struct tundra_conn *)c);
}

size_t core_conns_open(const struct core *core)
{
	size_t n = 0;

	for (uint32_t b = 0; b < core->nbuckets; b++)
		for (const struct tcp_conn *c = core->buckets[b]; c;
		     c = c->hnext)
			if (c->state >= TCPS_ESTABLISHED &&
			    c->state < TCPS_FIN_WAIT_2)
				n++;
	return n;
}
