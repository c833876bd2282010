/*
 * link_impair.c — sets up cfg.impair (src/impair/impair.h) for the RX and
 * TX threads, and takes back what is still held when the stack goes.
 *
 * Memory: RX holds a malloc'd copy of each held datagram, not the pool
 * buffer itself, so a long delay cannot starve the pool (sized for the
 * worker rings, a few MB) and stall the receive path; the copies are capped
 * by the spec's limit (default 64 MiB per direction: 50 ms of about
 * 10 Gbit/s). TX holds the worker's own descriptors (their payload points
 * into the send buffer, so nothing is copied); the worker gets each back
 * only after its write, so it never reuses bytes a held segment points at.
 * TX is also bounded by the worker's descriptors (4096 each).
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "impair/impair.h"
#include "stack/stack.h"

int stack_impair_init(struct tundra *t, char *err, size_t errlen)
{
	struct impair_spec s;
	char why[256], text[256];

	if (!t->cfg.impair)
		return 0;
	if (impair_parse(t->cfg.impair, &s, why, sizeof(why))) {
		snprintf(err, errlen, "impair '%s': %s", t->cfg.impair, why);
		return -EINVAL;
	}
	if (!impair_spec_active(&s))
		return 0;
	if (!s.has_seed) {
		/* Random, but logged: any run can be replayed with seed=. */
		randombytes_buf(&s.seed, sizeof(s.seed));
		s.has_seed = true;
	}
	for (unsigned d = IMPAIR_RX; d <= IMPAIR_TX; d <<= 1) {
		struct impair **slot = d == IMPAIR_RX ? &t->imp_rx : &t->imp_tx;

		if (!(s.dir & d))
			continue;
		*slot = malloc(sizeof(**slot));
		if (!*slot || impair_init(*slot, &s, d)) {
			snprintf(err, errlen, "out of memory for impair");
			return -ENOMEM;
		}
	}
	impair_spec_format(&s, text, sizeof(text));
	LOG_WARN("impairing the link on purpose: %s", text);
	return 0;
}

void stack_impair_fini(struct tundra *t)
{
	struct impair_item it;

	if (t->imp_rx) {
		/* RX's held copies are its own. */
		while (impair_pop(t->imp_rx, UINT64_MAX, &it))
			free(it.obj);
		impair_fini(t->imp_rx);
		free(t->imp_rx);
		t->imp_rx = NULL;
	}
	if (t->imp_tx) {
		/* TX returned every descriptor it held when it stopped. */
		impair_fini(t->imp_tx);
		free(t->imp_tx);
		t->imp_tx = NULL;
	}
}
