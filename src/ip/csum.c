/* csum.c — Internet checksum, RFC 1071 and RFC 1624. */
#include "ip/csum.h"

#include <string.h>
#include <sys/uio.h>

#include "base/compiler.h"

uint32_t csum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t acc = sum;

	/* 8 bytes at a time into a 64-bit accumulator with end-around carry:
	 * one's-complement addition is associative, so wide words are fine. */
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		acc += w;
		if (acc < w)
			acc++;
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		acc += w;
		if (acc < w)
			acc++;
		p += 4;
		len -= 4;
	}
	acc = (acc & 0xffffffffu) + (acc >> 32); /* room for the tail carries */
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		acc += w;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* The odd trailing byte is the high-order byte of a 16-bit
		 * word in network order, i.e. the first byte in memory. */
		uint16_t w = 0;
		memcpy(&w, p, 1);
		acc += w;
	}
	/* Fold 64 → 32 bits. */
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint32_t csum_pseudo_ipv4(uint32_t saddr_be, uint32_t daddr_be, uint8_t proto,
			  uint16_t len)
{
	uint8_t ph[12];

	memcpy(ph, &saddr_be, 4);
	memcpy(ph + 4, &daddr_be, 4);
	ph[8] = 0;
	ph[9] = proto;
	ph[10] = (uint8_t)(len >> 8);
	ph[11] = (uint8_t)len;
	return csum_partial(ph, sizeof(ph), 0);
}

uint16_t csum_update16(uint16_t check, uint16_t old_val, uint16_t new_val)
{
	uint32_t sum = (uint16_t)~check;

	sum += (uint16_t)~old_val;
	sum += new_val;
	return csum_fold(sum);
}

uint16_t csum_update32(uint16_t check, uint32_t old_val, uint32_t new_val)
{
	uint32_t sum = (uint16_t)~check;

	sum += (uint16_t)~(old_val & 0xffff);
	sum += (uint16_t)~(old_val >> 16);
	sum += new_val & 0xffff;
	sum += new_val >> 16;
	return csum_fold(sum);
}

uint32_t csum_iov(const struct iovec *iov, int n, uint32_t sum)
{
	size_t off = 0;

	for (int i = 0; i < n; i++) {
		uint32_t s = csum_partial(iov[i].iov_base, iov[i].iov_len, 0);

		/* A piece that starts at an odd offset pairs its bytes the
		 * other way round: its sum is the byte-swapped contribution
		 * (RFC 1071 §2(B), byte order independence). */
		if (off & 1) {
			s = (s & 0xffff) + (s >> 16);
			s = (s & 0xffff) + (s >> 16);
			s = ((s & 0xff) << 8) | (s >> 8);
		}
		sum += s;
		if (sum < s)
			sum++;
		off += iov[i].iov_len;
	}
	return sum;
}
