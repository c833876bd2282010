/*
 * sim.c — the two-core simulator of sim.h: env callbacks, the link, the
 * event loop, tracing.
 */
#include "sim.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip/csum.h"
#include "ip/ipv4.h"
#include "tcp/tcp_wire.h"

struct sim_pkt {
	uint64_t at;
	uint64_t id;
	uint8_t dir; /* 0: A->B */
	bool corrupt;
	uint32_t len;
	uint8_t *buf;
};

/* ---- failure and trace ----------------------------------------------- */

void sim_fail(struct sim *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->failed)
		return;
	s->failed = true;
	n = snprintf(s->fail_msg, sizeof(s->fail_msg),
		     "t=%" PRIu64 ".%06" PRIu64 " s: ",
		     (s->now - s->o.t_start) / SIM_SEC,
		     (s->now - s->o.t_start) % SIM_SEC / 1000);
	va_start(ap, fmt);
	vsnprintf(s->fail_msg + n, sizeof(s->fail_msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (s->o.verbose)
		printf("FAIL: %s\n", s->fail_msg);
}

void sim_trace(const struct sim *s, const char *fmt, ...)
{
	va_list ap;
	uint64_t t = s->now - s->o.t_start;

	if (!s->o.verbose)
		return;
	printf("%4" PRIu64 ".%06" PRIu64 " ", t / SIM_SEC,
	       t % SIM_SEC / 1000);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static const char *flagstr(uint8_t f, char *b)
{
	char *p = b;

	if (f & TCP_SYN)
		*p++ = 'S';
	if (f & TCP_FIN)
		*p++ = 'F';
	if (f & TCP_RST)
		*p++ = 'R';
	if (f & TCP_PSH)
		*p++ = 'P';
	if (f & TCP_ACK)
		*p++ = '.';
	*p = 0;
	if (p == b)
		strcpy(b, "none");
	return b;
}

/* The options of a parsed segment, tcpdump style, from the raw bytes (to
 * show SACK blocks too). */
static void optstr(const uint8_t *th, unsigned hlen, char *b, size_t len)
{
	unsigned i = TCP_HDR_LEN;
	size_t n = 0;

	b[0] = 0;
	if (hlen <= TCP_HDR_LEN)
		return;
	n += (size_t)snprintf(b + n, len - n, " <");
	while (i < hlen && n < len - 40) {
		uint8_t k = th[i], l;

		if (k == TCPOPT_EOL)
			break;
		if (k == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= hlen)
			break;
		l = th[i + 1];
		if (l < 2 || i + l > hlen)
			break;
		switch (k) {
		case TCPOPT_MSS:
			n += (size_t)snprintf(b + n, len - n, "mss %u,",
					      (th[i + 2] << 8) | th[i + 3]);
			break;
		case TCPOPT_WSCALE:
			n += (size_t)snprintf(b + n, len - n, "ws %u,",
					      th[i + 2]);
			break;
		case TCPOPT_SACK_PERM:
			n += (size_t)snprintf(b + n, len - n, "sackOK,");
			break;
		case TCPOPT_TIMESTAMP: {
			uint32_t v, e;
			memcpy(&v, th + i + 2, 4);
			memcpy(&e, th + i + 6, 4);
			n += (size_t)snprintf(b + n, len - n, "TS %u %u,",
					      ntohl(v), ntohl(e));
			break;
		}
		case TCPOPT_SACK:
			n += (size_t)snprintf(b + n, len - n, "sack");
			for (unsigned j = i + 2; j + 8 <= i + l; j += 8) {
				uint32_t a, z;
				memcpy(&a, th + j, 4);
				memcpy(&z, th + j + 4, 4);
				n += (size_t)snprintf(b + n, len - n,
						      " %u:%u", ntohl(a),
						      ntohl(z));
			}
			n += (size_t)snprintf(b + n, len - n, ",");
			break;
		default:
			n += (size_t)snprintf(b + n, len - n, "opt%u,", k);
			break;
		}
		i += l;
	}
	if (n && b[n - 1] == ',')
		n--;
	snprintf(b + n, len - n, ">");
}

static void describe_pkt(const uint8_t *buf, uint32_t len, char *out,
			 size_t olen)
{
	struct ip_view ip;
	struct tcp_seg seg;
	char fb[8], ob[256];

	if (ipv4_parse(buf, len, &ip) != DROP_NONE) {
		snprintf(out, olen, "(bad IPv4, %u bytes)", len);
		return;
	}
	if (ip.proto != IPPROTO_TCP_ || tcp_parse(&ip, &seg) != DROP_NONE) {
		snprintf(out, olen, "proto %u len %u", ip.proto, ip.l4_len);
		return;
	}
	optstr(ip.l4, seg.hdr_len, ob, sizeof(ob));
	snprintf(out, olen, "%u > %u [%s] seq %u ack %u win %u len %u%s",
		 seg.sport, seg.dport, flagstr(seg.flags, fb), seg.seq,
		 seg.ack, seg.wnd, seg.len, ob);
}

/* ---- the packet heap ------------------------------------------------- */

static bool pkt_before(const struct sim_pkt *a, const struct sim_pkt *b)
{
	return a->at < b->at || (a->at == b->at && a->id < b->id);
}

static void heap_push(struct sim *s, struct sim_pkt *p)
{
	uint32_t i;

	if (s->nheap == s->capheap) {
		s->capheap = s->capheap ? s->capheap * 2 : 256;
		s->heap = realloc(s->heap, s->capheap * sizeof(*s->heap));
		if (!s->heap) {
			fprintf(stderr, "sim: out of memory\n");
			abort();
		}
	}
	i = s->nheap++;
	while (i > 0) {
		uint32_t up = (i - 1) / 2;
		if (!pkt_before(p, s->heap[up]))
			break;
		s->heap[i] = s->heap[up];
		i = up;
	}
	s->heap[i] = p;
}

static struct sim_pkt *heap_pop(struct sim *s)
{
	struct sim_pkt *top = s->heap[0], *last;
	uint32_t i = 0;

	last = s->heap[--s->nheap];
	if (!s->nheap)
		return top;
	for (;;) {
		uint32_t l = 2 * i + 1, m = l;
		if (l >= s->nheap)
			break;
		if (l + 1 < s->nheap && pkt_before(s->heap[l + 1], s->heap[l]))
			m = l + 1;
		if (!pkt_before(s->heap[m], last))
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	s->heap[i] = last;
	return top;
}

/* ---- the link -------------------------------------------------------- */

static void push_pkt(struct sim *s, int dir, uint8_t *buf, uint32_t len,
		     uint64_t at, bool corrupt)
{
	struct sim_pkt *p = malloc(sizeof(*p));

	if (!p) {
		fprintf(stderr, "sim: out of memory\n");
		abort();
	}
	p->at = at;
	p->id = s->next_id++;
	p->dir = (uint8_t)dir;
	p->corrupt = corrupt;
	p->len = len;
	p->buf = buf;
	heap_push(s, p);
}

/* The TCP payload bytes of an IPv4 datagram (0 if not TCP). */
static uint32_t tcp_payload(const uint8_t *buf, uint32_t len)
{
	uint32_t ihl, doff;

	if (len < 20 || buf[9] != 6)
		return 0;
	ihl = (buf[0] & 15u) * 4;
	if (len < ihl + 20)
		return 0;
	doff = (uint32_t)(buf[ihl + 12] >> 4) * 4;
	return len > ihl + doff ? len - ihl - doff : 0;
}

/* A datagram of len bytes (buf: ours now) enters direction dir. */
static void link_send(struct sim *s, int dir, uint8_t *buf, uint32_t len)
{
	const struct sim_link_params *lp = &s->link[dir];
	struct sim_link_stats *st = &s->ls[dir];
	uint64_t t = s->now, extra = 0, id = s->next_id;
	char fate[160];
	int fn = 0;
	bool corrupt = false;

	fate[0] = 0;
	st->sent++;
	if (st->burst_until <= t && lp->burst_ppm &&
	    sim_chance(&s->rng, lp->burst_ppm)) {
		st->burst_until =
			t + sim_range(&s->rng, SIM_MS,
				      lp->burst_ns > SIM_MS ? lp->burst_ns
							    : SIM_MS);
		st->bursts++;
	}
	if (st->burst_until > t) {
		st->lost++;
		st->lost_payload += tcp_payload(buf, len);
		snprintf(fate, sizeof(fate), "LOST (burst)");
		goto drop;
	}
	if (sim_chance(&s->rng, lp->loss_ppm)) {
		st->lost++;
		st->lost_payload += tcp_payload(buf, len);
		snprintf(fate, sizeof(fate), "LOST");
		goto drop;
	}
	if (lp->bw_bps) {
		/* Serialisation: the queue drains at bw; a datagram that
		 * would take it past qlimit bytes is tail-dropped (an empty
		 * queue takes any datagram). */
		uint64_t start = s->busy_until[dir] > t ? s->busy_until[dir] : t;
		uint64_t backlog = (start - t) * lp->bw_bps / 8 / SIM_SEC;
		if (backlog && backlog + len > lp->qlimit) {
			st->qdrops++;
			st->lost_payload += tcp_payload(buf, len);
			snprintf(fate, sizeof(fate), "QDROP (backlog %" PRIu64
				 ")", backlog);
			goto drop;
		}
		s->busy_until[dir] =
			start + (uint64_t)len * 8 * SIM_SEC / lp->bw_bps;
		t = s->busy_until[dir];
	}
	t += lp->delay_ns + sim_below(&s->rng, lp->jitter_ns + 1);
	if (sim_chance(&s->rng, lp->reorder_ppm)) {
		extra = sim_range(&s->rng, 1, lp->reorder_ns ? lp->reorder_ns
							     : 1);
		t += extra;
		st->reordered++;
	}
	fn += snprintf(fate + fn, sizeof(fate) - (size_t)fn,
		       "#%" PRIu64 " arrives +%.3fms", id,
		       (double)(t - s->now) / 1e6);
	if (extra)
		fn += snprintf(fate + fn, sizeof(fate) - (size_t)fn,
			       " REORDER(+%.3fms)", (double)extra / 1e6);
	if (sim_chance(&s->rng, lp->dup_ppm)) {
		uint8_t *copy = malloc(len);
		uint64_t dt = sim_range(&s->rng, 0, 2 * SIM_MS + lp->jitter_ns);

		memcpy(copy, buf, len);
		st->dups++;
		fn += snprintf(fate + fn, sizeof(fate) - (size_t)fn,
			       " DUP #%" PRIu64 "(+%.3fms)", id + 1,
			       (double)(t + dt - s->now) / 1e6);
		/* The original first (lower id), then the copy. */
		if (sim_chance(&s->rng, lp->corrupt_ppm)) {
			uint32_t off = (uint32_t)sim_below(&s->rng, len);
			uint8_t x = (uint8_t)sim_range(&s->rng, 1, 255);
			buf[off] ^= x;
			corrupt = true;
			st->corrupted++;
			fn += snprintf(fate + fn, sizeof(fate) - (size_t)fn,
				       " CORRUPT(byte %u ^%02x)", off, x);
		}
		push_pkt(s, dir, buf, len, t, corrupt);
		push_pkt(s, dir, copy, len, t + dt, false);
		goto out;
	}
	if (sim_chance(&s->rng, lp->corrupt_ppm)) {
		uint32_t off = (uint32_t)sim_below(&s->rng, len);
		uint8_t x = (uint8_t)sim_range(&s->rng, 1, 255);
		buf[off] ^= x;
		corrupt = true;
		st->corrupted++;
		snprintf(fate + fn, sizeof(fate) - (size_t)fn,
			 " CORRUPT(byte %u ^%02x)", off, x);
	}
	push_pkt(s, dir, buf, len, t, corrupt);
	goto out;
drop:
	free(buf);
out:
	if (s->o.verbose) {
		/* buf may be corrupted now: describe the copy in the queue
		 * is not needed, the caller traced the clean one. */
		printf("%25s%s\n", "", fate);
	}
}

/* ---- env callbacks --------------------------------------------------- */

static struct core_out *env_out_alloc(void *ctx)
{
	struct sim_node *n = ctx;

	if (n->nout >= n->ndesc) {
		n->alloc_nulls++;
		return NULL;
	}
	for (unsigned i = 0; i < n->ndesc; i++) {
		if (!n->used[i]) {
			n->used[i] = true;
			n->nout++;
			/* Garbage, so a field the core forgets to set shows. */
			memset(&n->desc[i], 0x5a, sizeof(n->desc[i]));
			return &n->desc[i];
		}
	}
	n->alloc_nulls++;
	return NULL;
}

static unsigned desc_index(struct sim_node *n, const struct core_out *o)
{
	struct sim *s = n->sim;
	unsigned i;

	if (o < n->desc || o >= n->desc + n->ndesc) {
		sim_fail(s, "%c: out_send of a descriptor not from its pool",
			 n->name);
		return 0;
	}
	i = (unsigned)(o - n->desc);
	if (!n->used[i])
		sim_fail(s, "%c: descriptor %u sent but not allocated",
			 n->name, i);
	return i;
}

static uint8_t *gather(struct sim_node *n, const struct core_out *o,
		       uint32_t *len)
{
	uint32_t total = 0;
	uint8_t *buf;

	if (o->niov < 1 || o->niov > CORE_OUT_MAX_IOV) {
		sim_fail(n->sim, "%c: descriptor with niov %u", n->name,
			 o->niov);
		*len = 0;
		return NULL;
	}
	for (unsigned i = 0; i < o->niov; i++)
		total += (uint32_t)o->iov[i].iov_len;
	if (total != o->len) {
		sim_fail(n->sim, "%c: iov total %u != len %u", n->name, total,
			 o->len);
		*len = 0;
		return NULL;
	}
	buf = malloc(total ? total : 1);
	if (!buf)
		abort();
	total = 0;
	for (unsigned i = 0; i < o->niov; i++) {
		memcpy(buf + total, o->iov[i].iov_base, o->iov[i].iov_len);
		total += (uint32_t)o->iov[i].iov_len;
	}
	*len = total;
	return buf;
}

static void give_back(struct sim_node *n, struct core_out *o)
{
	unsigned i = desc_index(n, o);

	core_tx_done(n->core, o);
	n->used[i] = false;
	n->nout--;
}

/* Big-endian 16/32-bit fields of a datagram. */
static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * What the kernel does with a datagram the core marked for offload: the
 * partial checksum at csum_start + csum_offset (the pseudo-header sum) is
 * finished over everything from csum_start on. false (sim_fail'd) when
 * the marks are not those of a TCP checksum.
 */
static bool finish_csum(struct sim_node *n, const struct core_out *o,
			uint8_t *buf, uint32_t len)
{
	uint16_t ck;

	if (!n->cfg.tx_offload || o->csum_start != IPV4_HDR_LEN ||
	    o->csum_offset != 16 || len < IPV4_HDR_LEN + TCP_HDR_LEN ||
	    buf[9] != IPPROTO_TCP_) {
		sim_fail(n->sim, "%c: bad offload marks (start %u offset %u)",
			 n->name, o->csum_start, o->csum_offset);
		return false;
	}
	ck = csum(buf + IPV4_HDR_LEN, len - IPV4_HDR_LEN);
	memcpy(buf + IPV4_HDR_LEN + 16, &ck, 2);
	return true;
}

/* The TCP checksum of a datagram whose field is zero. */
static void tcp_csum_set(uint8_t *buf, uint32_t len)
{
	uint32_t a, b, sum;
	uint16_t ck;

	memcpy(&a, buf + 12, 4);
	memcpy(&b, buf + 16, 4);
	sum = csum_pseudo_ipv4(a, b, IPPROTO_TCP_,
			       (uint16_t)(len - IPV4_HDR_LEN));
	ck = csum_fold(csum_partial(buf + IPV4_HDR_LEN, len - IPV4_HDR_LEN,
				    sum));
	memcpy(buf + IPV4_HDR_LEN + 16, &ck, 2);
}

static void send_one(struct sim_node *n, uint8_t *buf, uint32_t len);

/*
 * Cut a TSO super-segment (buf, ours) into gso-byte pieces as the kernel's
 * tcp_gso_segment does: headers copied to each, sequence numbers advanced,
 * FIN and PSH on the last piece only, IPv4 total length, ID (+1 a piece)
 * and both checksums redone. Each piece goes on the link.
 */
static void cut_gso(struct sim_node *n, uint8_t *buf, uint32_t len,
		    uint16_t gso)
{
	uint32_t hl = IPV4_HDR_LEN + (uint32_t)(buf[IPV4_HDR_LEN + 12] >> 4) * 4;
	uint32_t seq = (uint32_t)rd16(buf + IPV4_HDR_LEN + 4) << 16 |
		       rd16(buf + IPV4_HDR_LEN + 6);
	uint16_t id = rd16(buf + 4);
	uint8_t flags = buf[IPV4_HDR_LEN + 13];

	if (hl > len || len - hl <= gso) {
		sim_fail(n->sim, "%c: a super-segment of %u bytes, gso %u",
			 n->name, len - hl, gso);
		free(buf);
		return;
	}
	for (uint32_t off = hl, i = 0; off < len; off += gso, i++) {
		uint32_t pl = len - off < gso ? len - off : gso;
		uint8_t *p = malloc(hl + pl);
		uint32_t s = seq + (off - hl);
		uint16_t ck;

		if (!p)
			abort();
		memcpy(p, buf, hl);
		memcpy(p + hl, buf + off, pl);
		wr16(p + 2, (uint16_t)(hl + pl));
		wr16(p + 4, (uint16_t)(id + i));
		wr16(p + 10, 0);
		ck = csum(p, IPV4_HDR_LEN);
		memcpy(p + 10, &ck, 2);
		wr16(p + IPV4_HDR_LEN + 4, (uint16_t)(s >> 16));
		wr16(p + IPV4_HDR_LEN + 6, (uint16_t)s);
		p[IPV4_HDR_LEN + 13] =
			off + pl < len ? flags & ~(TCP_FIN | TCP_PSH) : flags;
		wr16(p + IPV4_HDR_LEN + 16, 0);
		tcp_csum_set(p, hl + pl);
		send_one(n, p, hl + pl);
	}
	free(buf);
}

static void env_out_send(void *ctx, struct core_out *o)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	uint32_t len;
	uint8_t *buf = gather(n, o, &len);

	desc_index(n, o);
	if (!buf)
		goto done;
	if (o->iov[0].iov_base != o->hdr)
		sim_fail(s, "%c: iov[0] is not hdr", n->name);
	if (n->cfg.tx_offload && buf[9] == IPPROTO_TCP_ && !o->csum_start)
		sim_fail(s, "%c: tx_offload, a TCP segment without a partial "
			 "checksum", n->name);
	if (o->gso_size && !o->csum_start)
		sim_fail(s, "%c: gso_size without a partial checksum",
			 n->name);
	if (o->csum_start && !finish_csum(n, o, buf, len)) {
		free(buf);
		goto done;
	}
	if (o->gso_size) {
		s->ls[n->idx].tso_segs++;
		if (!s->link[n->idx].gso_whole) {
			cut_gso(n, buf, len, o->gso_size);
			goto done;
		}
	}
	send_one(n, buf, len);
done:
	if (s->o.defer_tx && n->nheld < SIM_NDESC_MAX) {
		/* Keep a copy of what it pointed at: it must not change
		 * before core_tx_done. */
		uint32_t l2;
		n->held[n->nheld] = o;
		n->held_copy[n->nheld] = gather(n, o, &l2);
		n->held_len[n->nheld] = l2;
		n->nheld++;
		return;
	}
	give_back(n, o);
}

/* Check one datagram n sends (buf, ours) and put it on the link. */
static void send_one(struct sim_node *n, uint8_t *buf, uint32_t len)
{
	struct sim *s = n->sim;
	struct sim_link_stats *st = &s->ls[n->idx];
	struct ip_view ip;
	struct tcp_seg seg;
	enum drop_reason r;

	/* Everything tundra sends must be a valid datagram, checksums
	 * included, from its address to the other node. */
	r = ipv4_parse(buf, len, &ip);
	if (r != DROP_NONE) {
		sim_fail(s, "%c sent a bad IPv4 datagram: %s", n->name,
			 drop_name(r));
	} else if (ip.saddr != n->cfg.addr ||
		   ip.daddr != s->node[!n->idx].cfg.addr) {
		sim_fail(s, "%c sent %08x -> %08x", n->name, ip.saddr,
			 ip.daddr);
	} else if (ip.proto == IPPROTO_TCP_) {
		r = tcp_parse(&ip, &seg);
		if (r != DROP_NONE) {
			sim_fail(s, "%c sent a bad TCP segment: %s", n->name,
				 drop_name(r));
		} else {
			if (seg.wnd == 0 && !(seg.flags & (TCP_SYN | TCP_RST)))
				st->zero_windows++;
			if (seg.flags & TCP_RST)
				st->rsts++;
			if (seg.flags & TCP_FIN)
				st->fins++;
			/* The FIN only ever follows the last byte: once
			 * one was sent, nothing ends elsewhere (RFC 9293
			 * §3.10.4: FIN after all queued data). */
			if ((seg.flags & TCP_FIN) && !n->fin_seen) {
				n->fin_seen = true;
				n->fin_end = seg.seq + seg.len;
			} else if (n->fin_seen && !(seg.flags & TCP_RST) &&
				   (((seg.flags & TCP_FIN) &&
				     seg.seq + seg.len != n->fin_end) ||
				    (seg.len && (int32_t)(seg.seq + seg.len -
							  n->fin_end) > 0))) {
				sim_fail(s,
					 "%c sent %s seq %u len %u after its "
					 "FIN at %u",
					 n->name,
					 seg.flags & TCP_FIN ? "a FIN" : "data",
					 seg.seq, seg.len, n->fin_end);
			}
			if (seg.flags & TCP_SYN)
				st->syns++;
			if (seg.len)
				st->data_segs++;
		}
	}
	if (s->o.verbose) {
		char d[400];
		describe_pkt(buf, len, d, sizeof(d));
		sim_trace(s, "%c>%c %s", n->name, s->node[!n->idx].name, d);
	}
	link_send(s, n->idx, buf, len);
}

static const struct core_listener *env_lookup(void *ctx, uint16_t port)
{
	struct sim_node *n = ctx;

	for (unsigned i = 0; i < n->nlst; i++)
		if (n->lst[i].port == port)
			return &n->lst[i].l;
	return NULL;
}

/* Give back every held descriptor of n, checking that its payload did not
 * change meanwhile. */
static bool complete_held(struct sim_node *n)
{
	bool any = n->nheld != 0;

	while (n->nheld) {
		/* In order of sending, as a TX thread would. */
		struct core_out *o = n->held[0];
		uint8_t *copy = n->held_copy[0];
		uint32_t len = n->held_len[0], l2;
		uint8_t *now = gather(n, o, &l2);

		if (now && copy && (l2 != len || memcmp(now, copy, len)))
			sim_fail(n->sim,
				 "%c: payload of a descriptor changed before "
				 "core_tx_done",
				 n->name);
		free(now);
		free(copy);
		n->nheld--;
		memmove(&n->held[0], &n->held[1],
			n->nheld * sizeof(n->held[0]));
		memmove(&n->held_copy[0], &n->held_copy[1],
			n->nheld * sizeof(n->held_copy[0]));
		memmove(&n->held_len[0], &n->held_len[1],
			n->nheld * sizeof(n->held_len[0]));
		give_back(n, o);
	}
	return any;
}

/* ---- setup ----------------------------------------------------------- */

int sim_init(struct sim *s, uint64_t seed, const struct core_config cfg[2],
	     const struct sim_opts *o)
{
	memset(s, 0, sizeof(*s));
	s->rng.s = seed;
	s->o = *o;
	s->now = o->t_start;
	s->link[0] = o->link[0];
	s->link[1] = o->link[1];
	for (unsigned i = 0; i < SIM_NHOOKS; i++)
		s->hook[i].at = UINT64_MAX;
	for (int i = 0; i < 2; i++) {
		struct sim_node *n = &s->node[i];

		n->sim = s;
		n->idx = i;
		n->name = (char)('A' + i);
		n->cfg = cfg[i];
		n->cfg.addr = i ? SIM_ADDR_B : SIM_ADDR_A;
		n->cfg.nworkers = 1;
		n->cfg.worker_id = 0;
		n->ndesc = o->ndesc ? (o->ndesc > SIM_NDESC_MAX ? SIM_NDESC_MAX
								: o->ndesc)
				    : SIM_NDESC_MAX;
		n->env = (struct core_env){
			.ctx = n,
			.out_alloc = env_out_alloc,
			.out_send = env_out_send,
			.listener_lookup = env_lookup,
		};
		n->core = core_create(&n->cfg, &n->env);
		if (!n->core)
			return -1;
	}
	return 0;
}

void sim_destroy(struct sim *s)
{
	for (int i = 0; i < 2; i++) {
		struct sim_node *n = &s->node[i];

		if (!n->core)
			continue;
		complete_held(n);
		core_destroy(n->core);
		n->core = NULL;
	}
	while (s->nheap) {
		struct sim_pkt *p = heap_pop(s);
		free(p->buf);
		free(p);
	}
	free(s->heap);
	s->heap = NULL;
}

void sim_listen(struct sim *s, int node, uint16_t port,
		const struct tundra_app *app, void *arg)
{
	struct sim_node *n = &s->node[node];

	if (n->nlst < SIM_NLISTEN) {
		n->lst[n->nlst].port = port;
		n->lst[n->nlst].l = (struct core_listener){.app = app, .arg = arg};
		n->nlst++;
	}
}

int sim_connect(struct sim *s, int node, uint16_t rport,
		const struct tundra_app *app, void *arg,
		struct tcp_conn **out)
{
	return core_connect(s->node[node].core, s->node[!node].cfg.addr, rport,
			    app, arg, s->now, out);
}

void sim_hook(struct sim *s, unsigned slot, uint64_t at, sim_hook_fn fn,
	      void *arg)
{
	if (slot >= SIM_NHOOKS)
		return;
	s->hook[slot].at = at;
	s->hook[slot].fn = fn;
	s->hook[slot].arg = arg;
}

/* ---- the event loop -------------------------------------------------- */

/* Drops that only a malformed datagram earns: what a corrupted one must
 * get, and what a clean one from tundra must never get. */
static bool malformed_reason(int r)
{
	switch (r) {
	case DROP_IP_TRUNCATED:
	case DROP_IP_VERSION:
	case DROP_IP_IHL:
	case DROP_IP_TOTLEN:
	case DROP_IP_CSUM:
	case DROP_TCP_TRUNCATED:
	case DROP_TCP_DOFF:
	case DROP_TCP_CSUM:
		return true;
	default:
		return false;
	}
}

static void deliver(struct sim *s, struct sim_pkt *p)
{
	struct sim_node *n = &s->node[!p->dir];
	const struct core_stats *cs = core_stats(n->core);
	uint64_t before[DROP__COUNT];
	int changed = 0, reason = -1;

	memcpy(before, cs->drops, sizeof(before));
	s->ls[p->dir].delivered++;
	if (s->o.verbose) {
		char d[400];
		describe_pkt(p->buf, p->len, d, sizeof(d));
		sim_trace(s, "  -> %c #%" PRIu64 " %s%s", n->name, p->id,
			  p->corrupt ? "(corrupted) " : "", d);
	}
	core_input(n->core, p->buf, p->len, s->now);
	for (int r = 0; r < DROP__COUNT; r++) {
		if (cs->drops[r] != before[r]) {
			changed += (int)(cs->drops[r] - before[r]);
			reason = r;
		}
	}
	if (p->corrupt) {
		if (changed != 1 || !malformed_reason(reason))
			sim_fail(s,
				 "%c accepted a corrupted datagram #%" PRIu64
				 " (drops +%d, last reason %s)",
				 n->name, p->id, changed,
				 reason >= 0 ? drop_name((enum drop_reason)reason)
					     : "none");
		else
			s->ls[p->dir].corrupt_dropped++;
		if (s->o.verbose)
			sim_trace(s, "     %c dropped it: %s", n->name,
				  reason >= 0
					  ? drop_name((enum drop_reason)reason)
					  : "NOT DROPPED");
	} else if (changed) {
		if (malformed_reason(reason))
			sim_fail(s,
				 "%c dropped an intact datagram #%" PRIu64
				 " as malformed: %s",
				 n->name, p->id,
				 drop_name((enum drop_reason)reason));
		if (s->o.verbose)
			sim_trace(s, "     %c dropped it: %s", n->name,
				  drop_name((enum drop_reason)reason));
	}
	free(p->buf);
	free(p);
}

/* Give deferred descriptors back and flush what that unblocked, until
 * both cores are settled. */
static void settle(struct sim *s)
{
	for (int round = 0; round < 10000; round++) {
		bool any = false;

		for (int i = 0; i < 2; i++) {
			struct sim_node *n = &s->node[i];

			any |= complete_held(n);
			if (core_pending(n->core)) {
				core_flush(n->core, s->now);
				any = true;
			}
		}
		if (!any)
			return;
	}
	sim_fail(s, "cores never settle (flush keeps finding work)");
}

int sim_run(struct sim *s)
{
	uint64_t t_end = s->o.t_start + s->o.t_limit;

	for (int i = 0; i < 2; i++)
		core_flush(s->node[i].core, s->now);
	settle(s);
	while (!s->failed) {
		uint64_t t = UINT64_MAX, d[2];
		bool touched[2] = {false, false};

		if (s->nheap)
			t = s->heap[0]->at;
		for (int i = 0; i < 2; i++) {
			d[i] = core_next_deadline(s->node[i].core);
			if (d[i] < t)
				t = d[i];
		}
		for (unsigned i = 0; i < SIM_NHOOKS; i++)
			if (s->hook[i].at < t)
				t = s->hook[i].at;
		if (t == UINT64_MAX)
			return 0; /* quiescent */
		if (t < s->now)
			t = s->now; /* an overdue deadline */
		if (t > t_end) {
			sim_fail(s,
				 "virtual time limit (%" PRIu64
				 " s) reached; next event at +%" PRIu64 " ms",
				 s->o.t_limit / SIM_SEC,
				 (t - s->now) / SIM_MS);
			break;
		}
		if (++s->events > s->o.ev_limit) {
			sim_fail(s, "event limit (%" PRIu64 ") reached",
				 s->o.ev_limit);
			break;
		}
		s->now = t;
		/* Every datagram due now, then one flush per core (a
		 * batch, as a worker does). */
		while (s->nheap && s->heap[0]->at <= s->now && !s->failed) {
			struct sim_pkt *p = heap_pop(s);
			touched[!p->dir] = true;
			deliver(s, p);
		}
		for (int i = 0; i < 2; i++)
			if (touched[i])
				core_flush(s->node[i].core, s->now);
		settle(s);
		for (int i = 0; i < 2; i++) {
			if (core_next_deadline(s->node[i].core) <= s->now) {
				uint64_t before = s->now;

				sim_trace(s, "%c: timers", s->node[i].name);
				core_timers(s->node[i].core, s->now);
				if (core_next_deadline(s->node[i].core) <= before)
					sim_fail(s,
						 "%c: core_timers left a "
						 "deadline in the past",
						 s->node[i].name);
			}
		}
		settle(s);
		for (unsigned i = 0; i < SIM_NHOOKS; i++) {
			if (s->hook[i].at <= s->now) {
				s->hook[i].at = UINT64_MAX;
				s->hook[i].fn(s, s->hook[i].arg);
				for (int j = 0; j < 2; j++)
					core_flush(s->node[j].core, s->now);
				settle(s);
			}
		}
	}
	return -1;
}

/* ---- descriptions ---------------------------------------------------- */

void sim_link_describe(const struct sim *s, char *buf, size_t len)
{
	size_t n = 0;

	for (int d = 0; d < 2 && n < len; d++) {
		const struct sim_link_params *l = &s->link[d];

		n += (size_t)snprintf(
			buf + n, len - n,
			"%s%s: delay %.1fms jitter %.1fms loss %.2f%% dup "
			"%.2f%% reorder %.2f%%(+%.1fms) corrupt %.2f%% bw %s",
			d ? "; " : "", d ? "B>A" : "A>B",
			(double)l->delay_ns / 1e6, (double)l->jitter_ns / 1e6,
			l->loss_ppm / 1e4, l->dup_ppm / 1e4,
			l->reorder_ppm / 1e4, (double)l->reorder_ns / 1e6,
			l->corrupt_ppm / 1e4, l->bw_bps ? "" : "unlimited");
		if (l->gso_whole && n < len)
			n += (size_t)snprintf(buf + n, len - n,
					      " super-segments whole");
		if (l->bw_bps && n < len)
			n += (size_t)snprintf(buf + n, len - n,
					      "%.2fMbit/s q %uB",
					      (double)l->bw_bps / 1e6,
					      l->qlimit);
		if (l->burst_ppm && n < len)
			n += (size_t)snprintf(buf + n, len - n,
					      " outages %.2f%% of 1..%.0fms",
					      l->burst_ppm / 1e4,
					      (double)l->burst_ns / 1e6);
	}
}

void sim_conns_describe(const struct sim *s, int node, char *buf,
			size_t len)
{
	const struct core *c = s->node[node].core;
	size_t n = 0;

	buf[0] = 0;
	for (uint32_t b = 0; b < c->nbuckets && n < len; b++) {
		for (const struct tcp_conn *t = c->buckets[b]; t && n < len;
		     t = t->hnext) {
			n += (size_t)snprintf(
				buf + n, len - n,
				"  %c: %u->%u %s snd_una %u snd_nxt %u snd_max "
				"%u wnd %u sndbuf %u rcv_nxt %u rcvbuf %u "
				"retries %u rto %" PRIu64 "ms timer %s\n",
				s->node[node].name, t->lport, t->rport,
				tcp_state_name((enum tcp_state)t->state),
				t->snd_una, t->snd_nxt, t->snd_max,
				t->snd_wnd, tcp_snd(t)->len, t->rcv_nxt,
				tcp_rcv(t)->len, t->retries,
				tcp_rto_ns(t) / SIM_MS,
				t->heap_idx >= 0 ? "armed" : "none");
		}
	}
}
