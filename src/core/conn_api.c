/* conn_api.c — the in-worker application API of include/tundra/app.h,
 * on top of the core's connections. */
#include <errno.h>

#include "core/core_priv.h"
#include "tundra/app.h"

static inline struct tcp_conn *C(struct tundra_conn *c)
{
	return (struct tcp_conn *)c;
}

static inline const struct tcp_conn *CC(const struct tundra_conn *c)
{
	return (const struct tcp_conn *)c;
}

size_t tundra_conn_peek(struct tundra_conn *tc, struct iovec iov[2])
{
	struct tcp_conn *c = C(tc);

	if (!tcp_rcv(c)->len)
		return 0;
	bbuf_view(tcp_rcv(c), 0, tcp_rcv(c)->len, iov);
	return tcp_rcv(c)->len;
}

void tundra_conn_consume(struct tundra_conn *tc, size_t n)
{
	struct tcp_conn *c = C(tc);
	uint32_t before = c->rcv_adv - c->rcv_nxt, after;

	n = MIN(n, tcp_rcv(c)->len);
	if (!n)
		return;
	bbuf_drop(&c->io->rcv, (uint32_t)n);
	/* Nothing left to read and nothing held out of order: give the
	 * buffer back (data_input allocates it again); an idle connection
	 * costs its control block only. */
	if (!tcp_rcv(c)->len && !tcp_ooo(c))
		tcp_rcvbuf_free(c);
	/* The right edge moves when it can move far enough (receiver SWS
	 * avoidance, in tcp_rcv_window). That is worth an ACK of its own
	 * only when the window at least doubled — it had closed, or nearly
	 * (as Linux's tcp_cleanup_rbuf); otherwise the next ACK carries
	 * it, and delayed ACKs stay delayed. */
	after = tcp_rcv_window(tcp_core(c), c);
	if (after >= 2 * before && after > before && !(c->flags & TF_DEAD)) {
		c->flags |= TF_ACK_NOW;
		core_schedule(tcp_core(c), c);
	}
}

bool tundra_conn_eof(const struct tundra_conn *tc)
{
	const struct tcp_conn *c = CC(tc);

	return (c->flags & TF_RCVD_FIN) && tcp_rcv(c)->len == 0;
}

bool tundra_conn_fin_received(const struct tundra_conn *tc)
{
	return (CC(tc)->flags & TF_RCVD_FIN) != 0;
}

static bool can_send(const struct tcp_conn *c)
{
	return !(c->flags & (TF_APP_CLOSED | TF_DEAD)) &&
	       (c->state == TCPS_ESTABLISHED || c->state == TCPS_CLOSE_WAIT);
}

size_t tundra_conn_write(struct tundra_conn *tc, const void *buf, size_t len)
{
	struct tcp_conn *c = C(tc);
	struct bbuf *sb;
	uint32_t n;

	if (!can_send(c) || !len)
		return 0;
	sb = tcp_sndbuf_get(c, tcp_core(c)->sndbuf_cap);
	if (!sb)
		return 0;
	n = bbuf_write(sb, buf, (uint32_t)MIN(len, UINT32_MAX));
	if (n)
		core_schedule(tcp_core(c), c);
	return n;
}

size_t tundra_conn_write_space(const struct tundra_conn *tc)
{
	const struct tcp_conn *c = CC(tc);

	if (!can_send(c))
		return 0;
	return tcp_snd(c)->mem ? bbuf_space(tcp_snd(c)) : tcp_core(c)->sndbuf_cap;
}

void tundra_conn_set_nodelay(struct tundra_conn *tc, bool on)
{
	struct tcp_conn *c = C(tc);

	if (on) {
		c->flags |= TF_NODELAY;
		core_schedule(tcp_core(c), c); /* held bytes may go now */
	} else {
		c->flags &= ~TF_NODELAY;
	}
}

int tundra_conn_set_cc(struct tundra_conn *tc, const char *name)
{
	struct tcp_conn *c = C(tc);
	int a = tcp_cc_by_name(name);

	if (a < 0)
		return -ENOENT;
	if (a != c->cc_algo) {
		/* CUBIC's curve starts a new epoch from the current window;
		 * Reno's byte count starts over. */
		c->cc_algo = (uint8_t)a;
		c->cc.acked_acc = 0;
		c->cc.epoch = 0;
		c->cc.w_max = 0;
	}
	return 0;
}

void tundra_conn_set_keepalive(struct tundra_conn *tc, uint32_t idle_ms,
			       uint32_t intvl_ms, uint8_t probes)
{
	struct tcp_conn *c = C(tc);

	if (c->flags & TF_DEAD)
		return;
	if (!idle_ms) {
		c->flags &= ~TF_KEEPALIVE;
		if (c->side) {
			free(c->side->ka);
			c->side->ka = NULL;
			tcp_side_put(c);
		}
		theap_update(tcp_core(c), c);
		return;
	}
	/* Without memory for its state keep-alive stays as it was. */
	if (!tcp_ka(c)) {
		struct tcp_side *x = tcp_side_get(c);

		if (!x)
			return;
		if (!(x->ka = calloc(1, sizeof(*x->ka)))) {
			tcp_side_put(c);
			return;
		}
	}
	c->flags |= TF_KEEPALIVE;
	tcp_ka(c)->idle_ms = idle_ms;
	tcp_ka(c)->intvl_ms = intvl_ms ? intvl_ms : 1;
	tcp_ka(c)->probes = probes;
	tcp_keepalive_reset(tcp_core(c), c);
}

void tundra_conn_close(struct tundra_conn *tc)
{
	struct tcp_conn *c = C(tc);

	if (c->flags & (TF_APP_CLOSED | TF_DEAD))
		return;
	c->flags |= TF_APP_CLOSED;
	core_schedule(tcp_core(c), c);
}

void tundra_conn_abort(struct tundra_conn *tc)
{
	struct tcp_conn *c = C(tc);

	if (c->flags & TF_DEAD)
		return;
	c->flags |= TF_SEND_RST;
	if (!tcp_output(tcp_core(c), c))
		core_drop(tcp_core(c), DROP_TX_NO_DESC); /* the RST is lost */
	core_conn_close(tcp_core(c), c, -ECONNABORTED);
}

uint64_t *tundra_conn_app_data(struct tundra_conn *tc)
{
	return &C(tc)->app_data;
}

unsigned tundra_conn_worker(const struct tundra_conn *tc)
{
	return tcp_core(CC(tc))->cfg.worker_id;
}
