/* pkt.c — the receive buffer pool (see pkt.h). */
#include "pkt/pkt.h"

#include <errno.h>
#include <stdlib.h>

#include "base/compiler.h"

int pkt_pool_init(struct pkt_pool *p, uint32_t count, uint32_t buf_size)
{
	size_t stride = (sizeof(struct pkt) + buf_size + CACHELINE - 1) &
			~(size_t)(CACHELINE - 1);

	p->buf_size = buf_size;
	p->total = p->nfree = 0;
	p->free = calloc(count, sizeof(*p->free));
	if (!p->free || posix_memalign(&p->mem, CACHELINE, stride * count)) {
		free(p->free);
		p->free = NULL;
		p->mem = NULL;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++)
		p->free[i] = (struct pkt *)((char *)p->mem + i * stride);
	p->total = p->nfree = count;
	return 0;
}

void pkt_pool_destroy(struct pkt_pool *p)
{
	free(p->free);
	free(p->mem);
	p->free = NULL;
	p->mem = NULL;
}
