/*
 * tcp_reass.c — out-of-order data (RFC 9293 §3.10.7.4 seventh: "segments
 * with higher beginning sequence numbers SHOULD be held for later
 * processing").
 *
 * Held bytes are written straight into the receive buffer at their offset
 * past RCV.NXT: the window we advertise never exceeds the free space, so
 * every acceptable byte has its place and holding costs no extra memory.
 * Only the ranges are tracked, at most TCP_OOO_MAX of them (the bound on
 * per-connection reassembly state); a segment that would need another
 * range is dropped and counted. The ranges are the SACK blocks of our ACKs.
 *
 * Holding costs no memory, but it pins it: a flood of connections that
 * each leave one byte missing keeps every receive buffer allocated and
 * full. So the bytes held on a core, all connections together, are capped
 * too (reass_mem); beyond it out-of-order segments are dropped and
 * counted, and the in-order ones still fill the holes.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core_priv.h"
#include "tcp/tcp_seq.h"

/* o's ranges changed: its byte count and the core's follow. */
static void ooo_account(struct core *core, struct tcp_ooo *o)
{
	uint32_t sum = 0;

	for (unsigned i = 0; i < o->n; i++)
		sum += o->blk[i].end - o->blk[i].start;
	core->ooo_bytes = core->ooo_bytes - o->bytes + sum;
	o->bytes = sum;
	__atomic_store_n(&core->stats.reass_bytes, core->ooo_bytes,
			 __ATOMIC_RELAXED);
}

enum drop_reason tcp_reass_insert(struct core *core, struct tcp_conn *c,
				  uint32_t seq, const uint8_t *data,
				  uint32_t len, bool fin)
{
	struct tcp_ooo *o = tcp_ooo(c);
	uint32_t start = seq, end = seq + len;
	unsigned i, j;

	if (!o) {
		struct tcp_side *x = tcp_side_get(c);

		if (!x)
			return DROP_TCP_NO_MEMORY;
		o = x->ooo = calloc(1, sizeof(*o));
		if (!o) {
			tcp_side_put(c);
			return DROP_TCP_NO_MEMORY;
		}
	}
	if (fin) {
		o->has_fin = true;
		o->fin_seq = end;
	}
	if (!len)
		return DROP_NONE;
	/* Counted before merging: a retransmitted range is refused too
	 * once the core is at its cap, which is what keeps the cap. */
	if (core->cfg.reass_mem && core->ooo_bytes + len > core->cfg.reass_mem)
		return DROP_TCP_OOO_MEM;
	/* The window keeps every acceptable byte inside the free space;
	 * check it anyway rather than overwrite unread data. */
	if (seq - c->rcv_nxt + len > bbuf_space(tcp_rcv(c)))
		return DROP_TCP_NOT_ACCEPTABLE;
	bbuf_put_at(&c->io->rcv, seq - c->rcv_nxt, data, len);

	/* Merge with every range it overlaps or touches. */
	for (i = 0; i < o->n && seq_lt(o->blk[i].end, start); i++)
		;
	for (j = i; j < o->n && seq_leq(o->blk[j].start, end); j++) {
		start = seq_min(start, o->blk[j].start);
		end = seq_max(end, o->blk[j].end);
	}
	if (j == i) {
		/* A new range at index i. */
		if (o->n == TCP_OOO_MAX)
			return DROP_TCP_OOO_FULL;
		memmove(&o->blk[i + 1], &o->blk[i],
			(o->n - i) * sizeof(o->blk[0]));
		o->n++;
	} else if (j > i + 1) {
		memmove(&o->blk[i + 1], &o->blk[j],
			(o->n - j) * sizeof(o->blk[0]));
		o->n -= j - i - 1;
	}
	o->blk[i].start = start;
	o->blk[i].end = end;
	o->blk[i].stamp = ++o->stamp;
	ooo_account(core, o);
	return DROP_NONE;
}

bool tcp_reass_dup(const struct tcp_conn *c, uint32_t seq, uint32_t len,
		   uint32_t *ds, uint32_t *de)
{
	const struct tcp_ooo *o = tcp_ooo(c);
	uint32_t end = seq + len;

	if (!o || !len)
		return false;
	for (unsigned i = 0; i < o->n; i++) {
		if (seq_leq(o->blk[i].end, seq))
			continue;
		if (seq_leq(end, o->blk[i].start))
			return false; /* sorted: nothing later overlaps */
		*ds = seq_max(seq, o->blk[i].start);
		*de = seq_min(end, o->blk[i].end);
		return true;
	}
	return false;
}

bool tcp_reass_advance(struct tcp_conn *c)
{
	struct tcp_ooo *o = tcp_ooo(c);
	bool fin;

	if (!o)
		return false;
	while (o->n && seq_leq(o->blk[0].start, c->rcv_nxt)) {
		if (seq_gt(o->blk[0].end, c->rcv_nxt)) {
			uint32_t d = o->blk[0].end - c->rcv_nxt;

			c->io->rcv.len += d;
			tcp_rcv_advance(c, d);
			c->io->rcv_unacked += d;
		}
		memmove(&o->blk[0], &o->blk[1], (o->n - 1) * sizeof(o->blk[0]));
		o->n--;
	}
	ooo_account(tcp_core(c), o);
	fin = o->has_fin && o->fin_seq == c->rcv_nxt;
	/* In-order bytes went past a held FIN: the peer contradicted
	 * itself, and the bytes won (they are in the stream now); that FIN
	 * can never be next, so forget it rather than hold it forever. */
	if (o->has_fin && seq_lt(o->fin_seq, c->rcv_nxt))
		o->has_fin = false;
	if (!o->n && (!o->has_fin || fin)) {
		free(o);
		c->side->ooo = NULL;
		tcp_side_put(c);
	}
	return fin;
}

void tcp_reass_free(struct tcp_conn *c)
{
	struct tcp_ooo *o = tcp_ooo(c);

	if (o) {
		struct core *core = tcp_core(c);

		core->ooo_bytes -= o->bytes;
		__atomic_store_n(&core->stats.reass_bytes, core->ooo_bytes,
				 __ATOMIC_RELAXED);
		free(o);
		c->side->ooo = NULL;
		tcp_side_put(c);
	}
}

unsigned tcp_sack_blocks(const struct tcp_conn *c, uint32_t (*out)[2],
			 unsigned max, uint32_t *below)
{
	const struct tcp_ooo *o = tcp_ooo(c);
	unsigned n = 0;

	if (!o)
		return 0;
	/* RFC 2018 §4: most recent first, each next one older than the
	 * last taken. */
	while (n < max && n < o->n) {
		unsigned best = o->n;
		for (unsigned i = 0; i < o->n; i++)
			if (o->blk[i].stamp < *below &&
			    (best == o->n || o->blk[i].stamp > o->blk[best].stamp))
				best = i;
		if (best == o->n)
			break;
		out[n][0] = o->blk[best].start;
		out[n][1] = o->blk[best].end;
		*below = o->blk[best].stamp;
		n++;
	}
	return n;
}

unsigned tcp_sack_changed(const struct tcp_conn *c, uint32_t below)
{
	const struct tcp_ooo *o = tcp_ooo(c);
	unsigned n = 0;

	for (unsigned i = 0; o && i < o->n; i++)
		if (o->blk[i].stamp > o->acked_stamp &&
		    o->blk[i].stamp < below)
			n++;
	return n;
}
