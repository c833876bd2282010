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

/* 16 bytes, as every connection has two: the capacity is a power of two
 * and the memory 64-byte aligned, so the shift sits in the low six bits
 * of the address. Read them through bbuf_data() and bbuf_cap(). */
#define BBUF_SHIFT_MASK ((uintptr_t)63)

struct bbuf {
	uintptr_t mem; /* address | log2(capacity); 0 before allocation */
	uint32_t head;
	uint32_t len;
};

static inline uint8_t *bbuf_data(const struct bbuf *b)
{
	return (uint8_t *)(b->mem & ~BBUF_SHIFT_MASK);
}

/* The capacity, 0 before allocation. */
static inline uint32_t bbuf_cap(const struct bbuf *b)
{
	return b->mem ? 1u << (b->mem & BBUF_SHIFT_MASK) : 0;
}

static inline uint32_t bbuf_space(const struct bbuf *b)
{
	return bbuf_cap(b) - b->len;
}

/* cap: a power of two, at least 64. */
static inline int bbuf_alloc(struct bbuf *b, uint32_t cap)
{
	void *p = aligned_alloc(BBUF_SHIFT_MASK + 1, cap);

	if (!p)
		return -1;
	b->mem = (uintptr_t)p | (uintptr_t)__builtin_ctz(cap);
	b->head = b->len = 0;
	return 0;
}

static inline void bbuf_free(struct bbuf *b)
{
	free(bbuf_data(b));
	b->mem = 0;
	b->head = b->len = 0;
}

/* Up to two iovecs for n bytes starting off bytes after head. */
static inline int bbuf_view(const struct bbuf *b, uint32_t off, uint32_t n,
			    struct iovec *iov)
{
	uint32_t cap = bbuf_cap(b);
	uint32_t pos = (b->head + off) & (cap - 1);
	uint32_t first = MIN(n, cap - pos);

	if (!n)
		return 0;
	iov[0].iov_base = bbuf_data(b) + pos;
	iov[0].iov_len = first;
	if (first == n)
		return 1;
	iov[1].iov_base = bbuf_data(b);
	iov[1].iov_len = n - first;
	return 2;
}

/* Append up to n bytes; returns how many fitted. */
static inline uint32_t bbuf_write(struct bbuf *b, const void *src, uint32_t n)
{
	uint32_t cap = bbuf_cap(b), pos, first;
	uint8_t *d = bbuf_data(b);

	n = MIN(n, bbuf_space(b));
	pos = (b->head + b->len) & (cap - 1);
	first = MIN(n, cap - pos);
	memcpy(d + pos, src, first);
	memcpy(d, (const uint8_t *)src + first, n - first);
	b->len += n;
	return n;
}

/* Write n bytes off bytes past the end of the data, without making them
 * part of it (out-of-order data waiting for the gap before it to fill).
 * The caller guarantees off + n <= bbuf_space(b). */
static inline void bbuf_put_at(struct bbuf *b, uint32_t off, const void *src,
			       uint32_t n)
{
	uint32_t cap = bbuf_cap(b);
	uint32_t pos = (b->head + b->len + off) & (cap - 1);
	uint32_t first = MIN(n, cap - pos);
	uint8_t *d = bbuf_data(b);

	memcpy(d + pos, src, first);
	memcpy(d, (const uint8_t *)src + first, n - first);
}

static inline void bbuf_drop(struct bbuf *b, uint32_t n)
{
	b->head += n;
	b->len -= n;
}

#endif
