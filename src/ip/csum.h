/*
 * csum.h — the Internet checksum (RFC 1071) and its incremental update
 * (RFC 1624). Pure functions; safe from any thread.
 *
 * Sums are kept as 32-bit one's-complement accumulators ("partial sums") so
 * that several pieces (pseudo-header, header, payload slices) can be added
 * before the final fold. Byte order: the sum is computed over the bytes as
 * they lie in memory, so the folded result can be stored with memcpy into a
 * network-order field without a swap.
 */
#ifndef TUNDRA_IP_CSUM_H
#define TUNDRA_IP_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* Add len bytes at data to the partial sum. Odd lengths are allowed only for
 * the last piece of a checksummed range. */
uint32_t csum_partial(const void *data, size_t len, uint32_t sum);

/* Fold a partial sum to 16 bits and complement it: the value to store. */
static inline uint16_t csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Checksum of a contiguous range, ready to store. A received range whose
 * checksum field is correct gives 0. */
static inline uint16_t csum(const void *data, size_t len)
{
	return csum_fold(csum_partial(data, len, 0));
}

/* Partial sum over scattered pieces (any lengths: a piece that starts at an
 * odd offset of the range is byte-swapped into place). */
struct iovec;
uint32_t csum_iov(const struct iovec *iov, int n, uint32_t sum);

/* Partial sum of the TCP/UDP IPv4 pseudo-header (RFC 9293 §3.1). Addresses
 * are in network order as they lie in the IP header. */
uint32_t csum_pseudo_ipv4(uint32_t saddr_be, uint32_t daddr_be, uint8_t proto,
			  uint16_t len);

/*
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Update a stored checksum (as it
 * lies in memory) when a 16-bit field changes from old to new (both as they
 * lie in memory) or a 32-bit field does.
 */
uint16_t csum_update16(uint16_t check, uint16_t old_val, uint16_t new_val);
uint16_t csum_update32(uint16_t check, uint32_t old_val, uint32_t new_val);

#endif
