/*
 * tcp_side.c — the side structure of an active connection (struct
 * tcp_side in tcp_conn.h): allocated when a connection first needs it,
 * freed by tcp_side_put when it goes idle. Worker thread only.
 */
#include <stdlib.h>

#include "base/compiler.h"
#include "core/core_priv.h"

struct tcp_side *tcp_side_get(struct tcp_conn *c)
{
	struct core *core = tcp_core(c);

	if (c->side)
		return c->side;
	if (unlikely(core->fail_side)) {
		if (core->fail_side != UINT32_MAX)
			core->fail_side--;
	} else {
		c->side = calloc(1, sizeof(*c->side));
	}
	if (unlikely(!c->side))
		stat_add(core->stats.side_nomem, 1);
	return c->side;
}
