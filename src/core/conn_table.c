/*
 * conn_table.c — a shard's connection table: chained hash on the keyed
 * flow hash, doubled when the load passes one entry per bucket so lookups
 * stay O(1) as the table grows. A connection does not keep its hash (4
 * bytes on every connection): a lookup compares the key itself, and
 * removing one or growing the table computes the hash again.
 */
#include <stdlib.h>

#include "core/core_priv.h"

int ctab_init(struct core *core, uint32_t nbuckets)
{
	core->buckets = calloc(nbuckets, sizeof(*core->buckets));
	if (!core->buckets)
		return -1;
	core->nbuckets = nbuckets;
	core->nconns = 0;
	return 0;
}

void ctab_free(struct core *core)
{
	free(core->buckets);
	core->buckets = NULL;
}

struct tcp_conn *ctab_lookup(struct core *core, uint64_t hash, uint32_t raddr,
			     uint16_t rport, uint16_t lport)
{
	struct tcp_conn *c = core->buckets[hash & (core->nbuckets - 1)];

	for (; c; c = c->hnext)
		if (c->raddr == raddr && c->rport == rport && c->lport == lport)
			return c;
	return NULL;
}

/* Its flow hash, as the lookups compute it: IPv4 input takes only
 * datagrams to our address, so that is every connection's local one. */
static uint64_t conn_hash(const struct core *core, const struct tcp_conn *c)
{
	return flow_hash(core->cfg.flow_key, c->raddr, c->rport, core->cfg.addr,
			 c->lport);
}

static void ctab_grow(struct core *core)
{
	uint32_t n = core->nbuckets * 2;
	struct tcp_conn **b = calloc(n, sizeof(*b));

	/* Out of memory: keep the longer chains, stay correct. */
	if (!b)
		return;
	for (uint32_t i = 0; i < core->nbuckets; i++) {
		struct tcp_conn *c = core->buckets[i], *next;
		for (; c; c = next) {
			uint64_t h = conn_hash(core, c);

			next = c->hnext;
			c->hnext = b[h & (n - 1)];
			b[h & (n - 1)] = c;
		}
	}
	free(core->buckets);
	core->buckets = b;
	core->nbuckets = n;
}

void ctab_insert(struct core *core, struct tcp_conn *c, uint64_t hash)
{
	struct tcp_conn **head;

	if (core->nconns >= core->nbuckets)
		ctab_grow(core);
	head = &core->buckets[hash & (core->nbuckets - 1)];
	c->hnext = *head;
	*head = c;
	core->nconns++;
}

void ctab_remove(struct core *core, struct tcp_conn *c)
{
	struct tcp_conn **p =
		&core->buckets[conn_hash(core, c) & (core->nbuckets - 1)];

	for (; *p; p = &(*p)->hnext) {
		if (*p == c) {
			*p = c->hnext;
			c->hnext = NULL;
			core->nconns--;
			return;
		}
	}
}
