/* test_steer.c — the eBPF steering program (src/tun/steer.c) picks the
 * same worker as the RX thread, flow_worker(flow_hash()), run in the
 * kernel with BPF_PROG_TEST_RUN. Loading eBPF needs CAP_BPF: without it
 * (unit tests as a normal user) the kernel-side tests are skipped, said
 * so; the integration suite runs as root. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "tun/steer.h"
#include "test_helpers.h"

/* A 40-byte IPv4 + TCP header (proto 6 unless told), host-order fields. */
static uint32_t make_pkt(uint8_t *p, uint32_t saddr, uint32_t daddr,
			 uint16_t sport, uint16_t dport, uint8_t proto,
			 uint16_t frag)
{
	uint32_t a;
	uint16_t s;

	memset(p, 0, 40);
	p[0] = 0x45;
	p[3] = 40;
	s = htons(frag);
	memcpy(p + 6, &s, 2);
	p[8] = 64;
	p[9] = proto;
	a = htonl(saddr);
	memcpy(p + 12, &a, 4);
	a = htonl(daddr);
	memcpy(p + 16, &a, 4);
	s = htons(sport);
	memcpy(p + 20, &s, 2);
	s = htons(dport);
	memcpy(p + 22, &s, 2);
	p[32] = 0x50;
	return 40;
}

static int load_or_skip(const uint8_t key[16], unsigned nworkers)
{
	char err[256];
	int fd = tun_steer_load(key, nworkers, err, sizeof(err));

	if (fd == -EPERM || fd == -EACCES)
		cr_skip_test("no CAP_BPF: %s", err);
	cr_assert(fd >= 0, "%s", err);
	return fd;
}

Test(steer, program_matches_flow_worker)
{
	static const unsigned nw[] = { 1, 2, 3, 4, 7, 64 };

	srand(7);
	for (size_t w = 0; w < ARRAY_SIZE(nw); w++) {
		uint8_t key[16];
		unsigned seen[64] = { 0 };
		int fd;

		for (int i = 0; i < 16; i++)
			key[i] = (uint8_t)rand();
		fd = load_or_skip(key, nw[w]);
		for (int i = 0; i < 500; i++) {
			uint8_t p[40];
			uint32_t sa = 0x0a000000u | (uint32_t)(rand() & 0xffff);
			uint32_t da = 0x0a000002u;
			uint16_t sp = (uint16_t)rand(), dp = (uint16_t)rand();
			uint32_t len = make_pkt(p, sa, da, sp, dp, 6, 0);
			unsigned want = flow_worker(
				flow_hash(key, sa, sp, da, dp), nw[w]);
			long got = tun_steer_test_run(fd, p, len);

			cr_assert_eq(
				got, (long)want,
				"workers %u, %08x:%u -> %08x:%u: eBPF %ld, "
				"flow_worker %u",
				nw[w], sa, sp, da, dp, got, want);
			seen[want]++;
		}
		/* The map spreads: every worker gets some of 500 flows. */
		for (unsigned i = 0; nw[w] <= 7 && i < nw[w]; i++)
			cr_expect(seen[i] > 0, "worker %u of %u got no flow", i,
				  nw[w]);
		close(fd);
	}
}

/* Not TCP, or a fragment: by addresses alone (ports 0), as rx_classify. */
Test(steer, addresses_only_without_ports)
{
	uint8_t key[16] = { 1, 2,  3,  4,  5,  6,  7,  8,
			    9, 10, 11, 12, 13, 14, 15, 16 };
	int fd = load_or_skip(key, 4);

	for (uint32_t i = 0; i < 200; i++) {
		uint8_t p[40];
		uint32_t sa = 0x0a000100u + i, da = 0x0a000002u;
		unsigned want = flow_worker(flow_hash(key, sa, 0, da, 0), 4);

		make_pkt(p, sa, da, 1000, 7, 17, 0); /* UDP */
		cr_assert_eq(tun_steer_test_run(fd, p, 40), (long)want);
		make_pkt(p, sa, da, 1000, 7, 6, 0x2000); /* MF: a fragment */
		cr_assert_eq(tun_steer_test_run(fd, p, 40), (long)want);
		make_pkt(p, sa, da, 1000, 7, 6, 5); /* a later fragment */
		cr_assert_eq(tun_steer_test_run(fd, p, 40), (long)want);
	}
	close(fd);
}

Test(steer, not_ipv4_goes_to_worker_0)
{
	uint8_t key[16] = { 0 }, p[40];
	int fd = load_or_skip(key, 4);

	make_pkt(p, 1, 2, 3, 4, 6, 0);
	p[0] = 0x60;
	cr_assert_eq(tun_steer_test_run(fd, p, 40), 0);
	close(fd);
}

TUNDRA_TSAN_SKIP_MAIN
