/*
 * fuzz_input.c — raw datagrams through core_input(), the whole sans-I/O
 * core (IPv4, ICMP, TCP demultiplexing, LISTEN, SYN-RECEIVED and the
 * states after), with listeners on FZ_PORT_A and FZ_PORT_B. After every
 * datagram: core_flush, every descriptor handed back, the invariants of
 * fuzz_core.h; at the end the core is destroyed and LeakSanitizer looks
 * for anything it kept.
 *
 * Input: a config byte (fenv_init), then records of
 *   ctrl(1) len(2, big-endian) bytes(len)
 * where ctrl can repair the datagram so that it gets past validation:
 *   bit 0  destination := our address, source := a peer (10.0.0.1/.3)
 *   bit 1  IPv4 total length := len, header checksum recomputed
 *   bit 2  TCP/ICMP checksum recomputed
 *   bits 3-5  advance the clock (0, 1 ms, 40 ms, 200 ms, 1 s, 3 s, 30 s,
 *             to the next deadline) and run core_timers
 *   bit 6  keep the descriptors (hand them back after the next record)
 */
#include "fuzz_core.h"

#define MAX_DGRAM 65535

static void repair(uint8_t *p, uint32_t len, uint8_t ctrl)
{
	unsigned ihl;

	if (len < IPV4_HDR_LEN)
		return;
	if (ctrl & 1) {
		uint32_t d = htonl(FZ_OUR),
			 s = htonl(p[15] & 1 ? FZ_PEER2 : FZ_PEER1);
		memcpy(p + 12, &s, 4);
		memcpy(p + 16, &d, 4);
	}
	ihl = (p[0] & 0x0f) * 4u;
	if (ctrl & 4 && ihl >= IPV4_HDR_LEN && ihl + 4 <= len) {
		uint16_t zero = 0, check, l4len = (uint16_t)(len - ihl);
		uint8_t *l4 = p + ihl;
		uint32_t sum = 0, s, d;
		unsigned at = p[9] == IPPROTO_TCP_ ? 16 : 2;

		if (at + 2 <= l4len) {
			memcpy(l4 + at, &zero, 2);
			if (p[9] == IPPROTO_TCP_) {
				memcpy(&s, p + 12, 4);
				memcpy(&d, p + 16, 4);
				sum = csum_pseudo_ipv4(s, d, IPPROTO_TCP_,
						       l4len);
			}
			check = csum_fold(csum_partial(l4, l4len, sum));
			memcpy(l4 + at, &check, 2);
		}
	}
	if (ctrl & 2 && ihl >= IPV4_HDR_LEN && ihl <= len) {
		uint16_t tot = htons((uint16_t)len), zero = 0, check;

		memcpy(p + 2, &tot, 2);
		memcpy(p + 10, &zero, 2);
		check = csum(p, ihl);
		memcpy(p + 10, &check, 2);
	}
}

static void advance(unsigned how)
{
	static const uint64_t steps[7] = { 0,		1 * FZ_MS,  40 * FZ_MS,
					   200 * FZ_MS, 1 * FZ_SEC, 3 * FZ_SEC,
					   30 * FZ_SEC };
	uint64_t next;

	if (how < 7) {
		E->now += steps[how];
	} else {
		next = core_next_deadline(E->core);
		if (next != UINT64_MAX && next > E->now)
			E->now = next;
	}
	core_timers(E->core, E->now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size, 0 };
	struct fenv e;
	unsigned records = 0;

	fenv_init(&e, fz_u8(&f));
	while (fz_more(&f) && records++ < 256) {
		uint8_t ctrl = fz_u8(&f);
		uint32_t len = fz_u16(&f), left = (uint32_t)(f.n - f.i);
		uint8_t *p;

		len = MIN(len, left);
		len = MIN(len, MAX_DGRAM);
		/* Exact size on the heap: ASan sees any read past it. */
		p = malloc(len ? len : 1);
		FUZZ_CHECK(p, "out of memory");
		memcpy(p, f.p + f.i, len);
		f.i += len;
		repair(p, len, ctrl);
		core_input(e.core, p, len, e.now);
		free(p); /* borrowed only for the call */
		check_core(false);
		core_flush(e.core, e.now);
		check_flushed();
		check_core(false);
		if (!(ctrl & 0x40))
			tx_done_all(false);
		if ((ctrl >> 3) & 7) {
			advance((ctrl >> 3) & 7);
			check_core(true);
		}
	}
	fenv_fini(&e);
	return 0;
}
