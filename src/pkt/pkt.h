/*
 * pkt.h — receive packet buffers and the RX thread's pool of them.
 *
 * The RX thread owns the pool: it takes a buffer, reads a datagram into it
 * and passes it to a worker over that worker's ring. The worker hands it
 * back on its own return ring (worker → RX), so every buffer is allocated
 * and freed by one thread and jemalloc never takes a cross-thread bin lock.
 *
 * With TUN offloads RX has two pools: small buffers (MTU-sized) and big
 * ones (PKT_BIG_SIZE, for a 64 KB GSO super-packet). It reads every
 * datagram into a big buffer and copies one that fits into a small buffer,
 * so big buffers are held only by super-packets waiting at a worker; their
 * number is set by a byte budget (stack.c, RX_BIG_POOL_BYTES).
 */
#ifndef TUNDRA_PKT_PKT_H
#define TUNDRA_PKT_PKT_H

#include <stddef.h>
#include <stdint.h>

struct pkt {
	uint64_t hash;    /* flow_hash of its TCP 4-tuple, if has_hash */
	uint32_t len;     /* bytes of the IPv4 datagram in data */
	uint16_t queue;   /* the TUN queue it came from */
	uint8_t has_hash; /* RX hashed the real ports: the core reuses it */
	uint8_t in_flags; /* core_input_pkt flags (CORE_IN_CSUM_OK) */
	uint8_t big;      /* from the big (GSO) pool, not the small one */
	uint8_t data[];   /* pool->buf_size bytes */
};

struct pkt_pool {
	struct pkt **free;
	uint32_t nfree;
	uint32_t total;
	uint32_t buf_size;
	void *mem; /* one slab for all buffers */
};

/* The longest IPv4 datagram (RFC 791 §3.1: a 16-bit total length): the
 * largest GSO super-packet a read may return. */
#define PKT_BIG_SIZE 65536u

int pkt_pool_init(struct pkt_pool *p, uint32_t count, uint32_t buf_size);
void pkt_pool_destroy(struct pkt_pool *p);

static inline struct pkt *pkt_get(struct pkt_pool *p)
{
	return p->nfree ? p->free[--p->nfree] : NULL;
}

/* A pool that was never initialised (no big pool without offloads) is
 * empty: pkt_get gives NULL. */

static inline void pkt_put(struct pkt_pool *p, struct pkt *k)
{
	p->free[p->nfree++] = k;
}

#endif
