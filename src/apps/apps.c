/*
 * apps.c — echo, discard and source, written against the zero-copy
 * in-worker API: they read straight out of the receive buffer.
 */
#include "apps/apps.h"

#include <pthread.h>

#include "base/compiler.h"

/* echo: move what fits from the receive buffer to the send buffer. What does
 * not fit stays unread, so the window closes and the peer slows down. */
static void echo_pump(struct tundra_conn *c)
{
	struct iovec iov[2];
	size_t n = tundra_conn_peek(c, iov), moved = 0;

	for (int i = 0; n && i < 2 && moved < n; i++) {
		size_t w = tundra_conn_write(c, iov[i].iov_base,
					     iov[i].iov_len);
		moved += w;
		if (w < iov[i].iov_len)
			break;
	}
	tundra_conn_consume(c, moved);
	if (tundra_conn_eof(c))
		tundra_conn_close(c);
}

const struct tundra_app app_echo = {
	.name = "echo",
	.readable = echo_pump,
	.writable = echo_pump,
};

/* discard: count and drop. app_data[0] = bytes received. */
static void discard_readable(struct tundra_conn *c)
{
	struct iovec iov[2];
	size_t n = tundra_conn_peek(c, iov);

	tundra_conn_app_data(c)[0] += n;
	tundra_conn_consume(c, n);
	if (tundra_conn_eof(c))
		tundra_conn_close(c);
}

const struct tundra_app app_discard = {
	.name = "discard",
	.readable = discard_readable,
};

/* source: app_data[0] = stream offset of the next byte to write. The
 * pattern table holds 17 periods, so any offset mod 251 can start a run of
 * 16 whole periods. */
#define SRC_PERIOD 251
#define SRC_CHUNK (SRC_PERIOD * 16)
static uint8_t src_table[SRC_PERIOD * 17];

static void source_fill(struct tundra_conn *c)
{
	uint64_t *off = &tundra_conn_app_data(c)[0];
	size_t space;

	while ((space = tundra_conn_write_space(c)) > 0) {
		size_t n = MIN(space, (size_t)SRC_CHUNK);
		size_t w = tundra_conn_write(
			c, src_table + *off % SRC_PERIOD, n);

		*off += w;
		if (w < n)
			break;
	}
}

static void source_table_init(void)
{
	for (size_t i = 0; i < sizeof(src_table); i++)
		src_table[i] = source_byte(i);
}

static int source_accepted(struct tundra_conn *c, void *arg)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	(void)arg;
	pthread_once(&once, source_table_init);
	source_fill(c);
	return 0;
}

/* Whatever the peer sends is read and dropped; its FIN ends the stream. */
static void source_readable(struct tundra_conn *c)
{
	struct iovec iov[2];

	tundra_conn_consume(c, tundra_conn_peek(c, iov));
	if (tundra_conn_eof(c))
		tundra_conn_close(c);
}

const struct tundra_app app_source = {
	.name = "source",
	.accepted = source_accepted,
	.readable = source_readable,
	.writable = source_fill,
};
