/*
 * tcp_io.c — what a connection holds only while something is buffered or
 * in flight (struct tcp_io in tcp_conn.h): allocated with the first
 * buffer, descriptor or timed segment, freed when the last goes, so an
 * idle connection keeps one NULL pointer for all of it. Worker thread
 * only.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core_priv.h"
#include "tcp/tcp_conn.h"

/* How many freed ones a core keeps: none in sanitizer builds, so that a
 * use after tcp_io_put is caught there. */
#ifdef TUNDRA_SANITIZE
static const uint32_t io_keep = 0;
#else
static const uint32_t io_keep = CORE_IO_CACHE;
#endif

struct tcp_io *tcp_io_get(struct tcp_conn *c)
{
	struct core *core = tcp_core(c);

	if (c->io)
		return c->io;
	/* A connection whose app empties the receive buffer at once takes
	 * one and gives it back per segment: a few freed ones are kept
	 * (micro_core rx_b1: about half of what the allocation cost). */
	if (core->io_ncache) {
		c->io = core->io_cache[--core->io_ncache];
		memset(c->io, 0, sizeof(*c->io));
	} else if (!(c->io = calloc(1, sizeof(*c->io)))) {
		return NULL;
	}
	c->io->snd_sml = c->snd_una;
	return c->io;
}

void tcp_io_put(struct tcp_conn *c)
{
	struct core *core = tcp_core(c);
	struct tcp_io *io = c->io;

	if (io && !io->snd.mem && !io->rcv.mem && !io->tx_inflight &&
	    !io->rcv_unacked && !(c->flags & TF_RTT_TIMING)) {
		if (core->io_ncache < io_keep)
			core->io_cache[core->io_ncache++] = io;
		else
			free(io);
		c->io = NULL;
	}
}

static struct bbuf *buf_get(struct tcp_conn *c, bool rcv, uint32_t cap)
{
	struct tcp_io *io = tcp_io_get(c);
	struct bbuf *b;

	if (!io)
		return NULL;
	b = rcv ? &io->rcv : &io->snd;
	if (!b->mem && bbuf_alloc(b, cap)) {
		tcp_io_put(c);
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
	if (c->io) {
		bbuf_free(&c->io->snd);
		tcp_io_put(c);
	}
}

void tcp_rcvbuf_free(struct tcp_conn *c)
{
	if (c->io) {
		bbuf_free(&c->io->rcv);
		tcp_io_put(c);
	}
}
