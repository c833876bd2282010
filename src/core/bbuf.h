/*
 * bbuf.h — a byte ring with a power-of-two capacity: a connection's send or
 * receive buffer. Free-running 32-bit offsets; data are [head, head+len).
 * Allocated lazily (an idle listener child costs nothing until it has data
 * to hold). One thread only.
 */
#ifndef TUNDRA_CORE_BBUF_H
#define TUNDRA_CORE_BBUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/compiler.h"

struct bbuf {
	uint8_t *data;
	uint32_t cap; /* power of two, or 0 before allocation */
	uint32_t head;
	uint32_t len;
};

static inline uint32_t bbuf_space(const struct bbuf *b)
{
	return b->cap - b->len;
}

static inline int bbuf_alloc(struct bbuf *b, uint32_t cap)
{
	b->data = malloc(cap);
	if (!b->data)
		return -1;
	b->cap = cap;
	b->head = b->len = 0;
	return 0;
}

static inline void bbuf_free(struct bbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->cap = b->head = b->len = 0;
}

/* Up to two iovecs for n bytes starting off bytes after head. */
static inline int bbuf_view(const struct bbuf *b, uint32_t off, uint32_t n,
			    struct iovec *iov)
{
	uint32_t pos = (b->head + off) & (b->cap - 1);
	uint32_t first = MIN(n, b->cap - pos);

	if (!n)
		return 0;
	iov[0].iov_base = b->data + pos;
	iov[0].iov_len = first;
	if (first == n)
		return 1;
	iov[1].iov_base = b->data;
	iov[1].iov_len = n - first;
	return 2;
}

/* Append up to n bytes; returns how many fitted. */
static inline uint32_t bbuf_write(struct bbuf *b, const void *src, uint32_t n)
{
	uint32_t pos, first;

	n = MIN(n, bbuf_space(b));
	pos = (b->head + b->len) & (b->cap - 1);
	first = MIN(n, b->cap - pos);
	memcpy(b->data + pos, src, first);
	memcpy(b->data, (const uint8_t *)src + first, n - first);
	b->len += n;
	return n;
}

/* Write n bytes off bytes past the end of the data, without making them
 * part of it (out-of-order data waiting for the gap before it to fill).
 * The caller guarantees off + n <= bbuf_space(b). */
static inline void bbuf_put_at(struct bbuf *b, uint32_t off, const void *src,
			       uint32_t n)
{
	uint32_t pos = (b->head + b->len + off) & (b->cap - 1);
	uint32_t first = MIN(n, b->cap - pos);

	memcpy(b->data + pos, src, first);
	memcpy(b->data, (const uint8_t *)src + first, n - first);
}

static inline void bbuf_drop(struct bbuf *b, uint32_t n)
{
	b->head += n;
	b->len -= n;
}

#endif
