/*
 * tcp_seq.h — sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).
 *
 * Sequence numbers are compared only through these helpers: a plain '<' is
 * wrong at the wrap. a is "before" b when the signed 32-bit distance from b
 * to a is negative, which is correct for any two numbers less than 2^31
 * apart — the largest window TCP allows (RFC 7323 §2.3) keeps them so.
 */
#ifndef TUNDRA_TCP_TCP_SEQ_H
#define TUNDRA_TCP_TCP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

static inline bool seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static inline bool seq_geq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}

/*
 * The two interval tests below hold nothing when lo == hi. Without that
 * check, the number exactly 2^31 away from lo would pass both halves: it
 * is "after" lo and "before" hi at once (found by the tcp_state fuzzer: a
 * SYN-ACK acknowledging ISS + 2^31 was taken in SYN-SENT before our SYN
 * had gone out, SND.NXT = ISS). With lo != hi (and hi less than 2^31
 * after lo) no number is ambiguous.
 */

/* lo <= x < hi, in sequence space. */
static inline bool seq_in(uint32_t x, uint32_t lo, uint32_t hi)
{
	return lo != hi && seq_leq(lo, x) && seq_lt(x, hi);
}

/* lo < x <= hi: the RFC 9293 §3.10.7.4 acceptable-ACK test
 * (SND.UNA < SEG.ACK =< SND.NXT). */
static inline bool seq_in_open_closed(uint32_t x, uint32_t lo, uint32_t hi)
{
	return lo != hi && seq_lt(lo, x) && seq_leq(x, hi);
}

static inline uint32_t seq_max(uint32_t a, uint32_t b)
{
	return seq_gt(a, b) ? a : b;
}

static inline uint32_t seq_min(uint32_t a, uint32_t b)
{
	return seq_lt(a, b) ? a : b;
}

#endif
