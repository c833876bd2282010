/*
 * pkt.h — receive packet buffers and the RX thread's pool of them.
 *
 * The RX thread owns the pool: it takes a buffer, reads a datagram into it
 * and passes it to a worker over that worker's ring. The worker hands it
 * back on its own return ring (worker → RX), so every buffer is allocated
 * and freed by one thread and jemalloc never takes a cross-thread bin lock.
 */
#ifndef TUNDRA_PKT_PKT_H
#define TUNDRA_PKT_PKT_H

#include <stddef.h>
#include <stdint.h>

struct pkt {
	uint64_t hash;    /* flow_hash of its TCP 4-tuple, if has_hash */
	uint32_t len;     /* bytes read */
	uint16_t queue;   /* the TUN queue it came from */
	uint8_t has_hash; /* RX hashed the real ports: the core reuses it */
	uint8_t pad;
	uint8_t data[];   /* pool->buf_size bytes */
};

struct pkt_pool {
	struct pkt **free;
	uint32_t nfree;
	uint32_t total;
	uint32_t buf_size;
	void *mem; /* one slab for all buffers */
};

int pkt_pool_init(struct pkt_pool *p, uint32_t count, uint32_t buf_size);
void pkt_pool_destroy(struct pkt_pool *p);

static inline struct pkt *pkt_get(struct pkt_pool *p)
{
	return p->nfree ? p->free[--p->nfree] : NULL;
}

static inline void pkt_put(struct pkt_pool *p, struct pkt *k)
{
	p->free[p->nfree++] = k;
}

#endif
