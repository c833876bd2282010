/* listeners.c — listening ports, shared read-mostly state in an RCU hash
 * table (DESIGN.md: liburcu for what every worker reads and few write). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <urcu.h>
#include <urcu/rculfhash.h>

#include "stack/stack.h"

struct listener {
	struct cds_lfht_node node;
	uint16_t port;
	struct core_listener l;
	/* Set (release) before the node is published; read (acquire) by
	 * lookups. liburcu's own barriers already order this, but
	 * ThreadSanitizer cannot see inside the uninstrumented library:
	 * this pair is the edge it can see. */
	_Atomic int ready;
};

struct listeners {
	struct cds_lfht *ht;
};

static int match_port(struct cds_lfht_node *node, const void *key)
{
	const struct listener *l = caa_container_of(node, struct listener,
						    node);
	return l->port == *(const uint16_t *)key;
}

static unsigned long port_hash(uint16_t port)
{
	/* Ports are few and chosen by us: a multiplicative spread will do. */
	return (unsigned long)port * 0x9E3779B97F4A7C15ull;
}

struct listeners *listeners_create(void)
{
	struct listeners *ls = calloc(1, sizeof(*ls));

	if (!ls)
		return NULL;
	ls->ht = cds_lfht_new(16, 16, 0, CDS_LFHT_AUTO_RESIZE, NULL);
	if (!ls->ht) {
		free(ls);
		return NULL;
	}
	return ls;
}

void listeners_destroy(struct listeners *ls)
{
	struct cds_lfht_iter it;
	struct listener *l;

	if (!ls)
		return;
	/* Only after every reader thread has stopped: nothing can still hold
	 * a node, so they are freed without waiting for a grace period. */
	rcu_read_lock();
	cds_lfht_for_each_entry (ls->ht, &it, l, node) {
		if (!cds_lfht_del(ls->ht, &l->node))
			free(l);
	}
	rcu_read_unlock();
	cds_lfht_destroy(ls->ht, NULL);
	free(ls);
}

int listeners_add(struct listeners *ls, uint16_t port,
		  const struct tundra_app *app, void *arg)
{
	struct listener *l = calloc(1, sizeof(*l));
	struct cds_lfht_node *got;

	if (!l)
		return -ENOMEM;
	l->port = port;
	l->l.app = app;
	l->l.arg = arg;
	atomic_store_explicit(&l->ready, 1, memory_order_release);
	cds_lfht_node_init(&l->node);
	rcu_read_lock();
	got = cds_lfht_add_unique(ls->ht, port_hash(port), match_port, &port,
				  &l->node);
	rcu_read_unlock();
	if (got != &l->node) {
		free(l);
		return -EADDRINUSE;
	}
	return 0;
}

const struct core_listener *listeners_lookup(struct listeners *ls,
					     uint16_t port)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct listener *l;

	cds_lfht_lookup(ls->ht, port_hash(port), match_port, &port, &it);
	node = cds_lfht_iter_get_node(&it);
	if (!node)
		return NULL;
	l = caa_container_of(node, struct listener, node);
	return atomic_load_explicit(&l->ready, memory_order_acquire) ? &l->l
								       : NULL;
}
