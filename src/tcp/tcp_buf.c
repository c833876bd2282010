/*
 * tcp_buf.c — a connection's send and receive buffers and their holder
 * (struct tcp_bufs in tcp_conn.h): the holder comes with the first
 * buffer and goes with the last, so an idle connection keeps one NULL
 * pointer for both. Worker thread only.
 */
#include <stdlib.h>

#include "tcp/tcp_conn.h"

static void bufs_put(struct tcp_conn *c)
{
	if (c->bufs && !c->bufs->snd.mem && !c->bufs->rcv.mem) {
		free(c->bufs);
		c->bufs = NULL;
	}
}

static struct bbuf *buf_get(struct tcp_conn *c, bool rcv, uint32_t cap)
{
	struct bbuf *b;

	if (!c->bufs && !(c->bufs = calloc(1, sizeof(*c->bufs))))
		return NULL;
	b = rcv ? &c->bufs->rcv : &c->bufs->snd;
	if (!b->mem && bbuf_alloc(b, cap)) {
		bufs_put(c);
		return NULL;
	}
	return b;
}

struct bbuf *tcp_sndbuf_get(struct tcp_conn *c, uint32_t cap)
{
	return buf_get(c, false, cap);
}

struct bbuf *tcp_rcvbuf_get(struct tcp_conn *c, uint32_t cap)
{
	return buf_get(c, true, cap);
}

void tcp_sndbuf_free(struct tcp_conn *c)
{
	if (c->bufs) {
		bbuf_free(&c->bufs->snd);
		bufs_put(c);
	}
}

void tcp_rcvbuf_free(struct tcp_conn *c)
{
	if (c->bufs) {
		bbuf_free(&c->bufs->rcv);
		bufs_put(c);
	}
}
