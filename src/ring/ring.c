/* ring.c — creation and destruction of SPSC rings (see ring.h). */
#include "ring/ring.h"

#include <stdlib.h>
#include <string.h>

struct ring *ring_create(uint32_t capacity)
{
	uint32_t size = 2;
	struct ring *r;

	if (capacity > (1u << 30))
		return NULL;
	while (size < capacity)
		size <<= 1;
	if (posix_memalign((void **)&r, CACHELINE,
			   sizeof(*r) + size * sizeof(void *)))
		return NULL;
	memset(r, 0, sizeof(*r));
	r->size = size;
	r->mask = size - 1;
	return r;
}

void ring_destroy(struct ring *r)
{
	free(r);
}
