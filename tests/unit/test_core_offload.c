/*
 * test_core_offload.c — the core with TUN offloads (core_config.tx_offload
 * and core_input_pkt's CORE_IN_CSUM_OK): TSO super-segments out, partial
 * checksums out, GSO super-packets and partial checksums in. The harness
 * (core_harness.h) checks every offload mark and finishes each partial
 * checksum as the kernel would before parsing what was sent.
 */
/* The harness is a header of static helpers written for test_core.c;
 * this file uses some of them. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "core_harness.h"

TestSuite(core);

/* The longest TSO payload for an MSS: whole segments under the 16-bit
 * IPv4 total length with the longest TCP header (tcp_output.c). */
#define TSO_MAX(mss) ((65535u - 20 - 20 - 40) / (mss) * (mss))

static void offload_core(uint32_t sndbuf)
{
	struct core_config cfg = default_config();

	core_destroy(H->core);
	cfg.tx_offload = true;
	cfg.sndbuf = sndbuf;
	h_core(&cfg);
}

static void check_source(const uint8_t *b, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(b[i], source_byte(off + i),
			     "source byte %zu wrong", (size_t)(off + i));
}

/* The next segment must be data at p->ack of len bytes with gso_size
 * gso; its payload goes to dst. */
static struct pkt *expect_data(struct peer *p, uint32_t len, uint16_t gso,
			       uint8_t *dst)
{
	struct pkt *k = expect_tcp();

	cr_assert_eq(k->seg.seq, p->ack, "seq %u, want %u", k->seg.seq, p->ack);
	cr_assert_eq(k->seg.len, len, "segment of %u bytes, want %u",
		     k->seg.len, len);
	cr_assert_eq(k->gso_size, gso, "gso_size %u, want %u", k->gso_size,
		     gso);
	cr_assert(k->csum_partial, "TCP checksum not left to the device");
	if (dst)
		memcpy(dst, k->seg.data, len);
	p->ack += len;
	return k;
}

/*
 * Take every data segment sent since the last look (all in order at
 * p->ack), checking what TSO promises whatever the congestion window
 * allowed: a descriptor longer than one MSS is a super-segment cut at mss
 * (gso_size), no longer than TSO_MAX, and a whole number of MSS unless it
 * ends the data queued so far (PSH: its last piece may then be short); a
 * checksum left to the device on every one. The payload is checked
 * against the source pattern from *off on. Returns the longest
 * descriptor seen; counts super-segments in *nsuper.
 */
static uint32_t take_tso(struct peer *p, uint32_t mss, uint64_t *off,
			 unsigned *nsuper)
{
	struct pkt *k;
	uint32_t longest = 0;

	while ((k = next_pkt())) {
		cr_assert(k->tcp);
		cr_assert_eq(k->seg.seq, p->ack, "seq %u, want %u", k->seg.seq,
			     p->ack);
		cr_assert(k->csum_partial,
			  "TCP checksum not left to the device");
		if (k->seg.len > mss) {
			cr_assert_eq(k->gso_size, mss, "gso_size %u, want %u",
				     k->gso_size, mss);
			cr_assert_leq(k->seg.len, TSO_MAX(mss));
			cr_assert(k->seg.len % mss == 0 ||
					  (k->seg.flags & TCP_PSH),
				  "a %u-byte super-segment that does not end "
				  "the data is not a whole number of MSS",
				  k->seg.len);
			(*nsuper)++;
		} else {
			cr_assert_eq(k->gso_size, 0);
		}
		check_source(k->seg.data, k->seg.len, *off);
		*off += k->seg.len;
		p->ack += k->seg.len;
		longest = k->seg.len > longest ? k->seg.len : longest;
	}
	return longest;
}

/* Source data acked round after round (one ACK per flight, as Linux
 * acknowledges a super-segment it receives whole) until a descriptor of
 * the largest size mss allows went out. */
static void tso_grows_to_max(struct peer *p, uint32_t mss)
{
	uint64_t off = 0;
	unsigned nsuper = 0, round;
	uint32_t longest = 0;

	for (round = 0; round < 200 && longest < TSO_MAX(mss); round++) {
		uint32_t l = take_tso(p, mss, &off, &nsuper);

		longest = l > longest ? l : longest;
		H->now += 1 * MS;
		peer_send(p, TCP_ACK, NULL, 0);
	}
	cr_assert_eq(longest, TSO_MAX(mss),
		     "after %u rounds the longest descriptor is %u, not %u",
		     round, longest, TSO_MAX(mss));
	cr_assert_gt(nsuper, 1);
	cr_assert_eq(ST()->retransmits, 0);
}

CORE_TEST(tso_super_segments_grow_to_64k)
{
	struct peer p;
	struct pkt *k;

	offload_core(64 * 1024);
	/* A scaled window of 8 MB: only the congestion window and the
	 * 64 KB send buffer limit. */
	peer_syn(&p, 41001, 19, 0x1000, 1460, 7, 65535);
	peer_send(&p, TCP_ACK, NULL, 0);
	/* The initial window (RFC 6928: 10 MSS here) goes as one
	 * descriptor. */
	k = expect_tcp();
	cr_assert_gt(k->seg.len, 1460);
	cr_assert_eq(k->seg.len % 1460, 0);
	cr_assert_eq(k->gso_size, 1460);
	expect_quiet();
	/* From there, as the window opens, up to 44 MSS per descriptor. */
	H->rd--; /* take_tso checks it again */
	tso_grows_to_max(&p, 1460);
}

CORE_TEST(tso_window_limit_ends_on_an_mss_boundary)
{
	struct peer p;
	static uint8_t b[16384];

	offload_core(64 * 1024);
	/* Unscaled window 10000: 6 MSS fit (8760); the 1240 left would be a
	 * short segment that sender SWS avoidance holds (RFC 9293
	 * §3.8.6.2.1), exactly as without TSO. */
	peer_syn(&p, 41002, 19, 0x2000, 1460, -1, 10000);
	peer_send(&p, TCP_ACK, NULL, 0);
	expect_data(&p, 8760, 1460, b);
	expect_quiet();
	check_source(b, 8760, 0);
}

CORE_TEST(tso_small_segment_is_plain_with_partial_csum)
{
	struct peer p;
	static const uint8_t d[100] = { 1, 2, 3 };
	struct pkt *k;

	offload_core(64 * 1024);
	peer_connect(&p, 41003, 7, 0x3000, 1460, 7, 65535);
	/* The echo comes back as one short segment: no GSO, but its
	 * checksum is still the device's to finish. */
	peer_send(&p, TCP_ACK | TCP_PSH, d, sizeof(d));
	k = expect_data(&p, sizeof(d), 0, NULL);
	cr_assert(memcmp(k->seg.data, d, sizeof(d)) == 0);
	expect_quiet();
}

CORE_TEST(tso_mss_follows_the_peer_and_timestamps)
{
	struct peer p;
	const struct syn_cfg sc = { .mss = 1000, .ws = 7, .wnd = 65535,
				    .ts = true, .ts_base = 77 };

	offload_core(64 * 1024);
	peer_syn_cfg(&p, 41004, 19, 0x4000, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	/* 12 bytes of timestamp option on every piece: 988 of payload,
	 * and the device repeats the option on each. */
	tso_grows_to_max(&p, 988);
}

CORE_TEST(tso_retransmission_after_a_timeout)
{
	struct peer p;
	struct pkt *k;
	uint32_t start;
	uint64_t rexmits;

	offload_core(64 * 1024);
	/* The timeout itself, not a tail loss probe ahead of it. */
	H->core->cfg.no_tlp = true;
	peer_syn(&p, 41005, 19, 0x5000, 1460, 7, 65535);
	peer_send(&p, TCP_ACK, NULL, 0);
	start = p.ack;
	k = expect_tcp();
	cr_assert_gt(k->seg.len, 1460, "the initial window in one piece");
	expect_quiet();
	/* Nothing acked: at the RTO, go-back-N from SND.UNA (RFC 6298
	 * (5.4)) within the loss window of one MSS (RFC 5681 §3.1). */
	advance(200 * MS);
	k = expect_tcp();
	cr_assert_eq(k->seg.seq, start);
	cr_assert_eq(k->seg.len, 1460);
	cr_assert_eq(k->gso_size, 0);
	check_source(k->seg.data, 1460, 0);
	expect_quiet();
	rexmits = ST()->retransmits;
	/* Acked: slow start lets more than one MSS go, and the rest of the
	 * lost flight is resent as one super-segment. */
	p.ack = start + 1460;
	H->now += 1 * MS;
	peer_send(&p, TCP_ACK, NULL, 0);
	k = expect_tcp();
	cr_assert_eq(k->seg.seq, start + 1460);
	cr_assert_gt(k->seg.len, 1460);
	cr_assert_eq(k->seg.len % 1460, 0);
	cr_assert_eq(k->gso_size, 1460);
	check_source(k->seg.data, k->seg.len, 1460);
	cr_assert_eq(ST()->retransmits, rexmits + 1, "one per descriptor");
}

/* ---- receive: GSO super-packets, partial checksums --------------------- */

/* A segment from p with its checksum left partial, as the kernel hands it
 * over with NEEDS_CSUM: only the pseudo-header sum in the field. */
static void partial_in(struct peer *p, uint8_t flags, const uint8_t *data,
		       size_t len, unsigned in_flags)
{
	uint8_t *buf = malloc(IPV4_HDR_LEN + 60 + len);
	size_t n;
	uint16_t ps;

	cr_assert(buf);
	n = build_tcp(buf, p->sport, p->dport, p->nxt, p->ack, flags, p->wnd,
		      NULL, 0, data, len);
	ps = ref_fold(ref_pseudo(PEER, OUR, IPPROTO_TCP_,
				 (uint16_t)(n - IPV4_HDR_LEN)));
	put16(buf + IPV4_HDR_LEN + 16, ps);
	core_input_pkt(H->core, buf, (uint32_t)n, H->now, NULL, in_flags);
	memset(buf, 0xee, n);
	free(buf);
}

CORE_TEST(partial_checksum_needs_csum_ok)
{
	struct peer p;
	static const uint8_t d[500] = { 9, 8, 7 };

	peer_connect(&p, 41010, TAPP_PORT, 0x10000, 1460, 7, 65535);
	/* Without the device's word for it, a partial checksum is a bad
	 * one. */
	partial_in(&p, TCP_ACK | TCP_PSH, d, sizeof(d), 0);
	flush();
	cr_assert_eq(drops(DROP_TCP_CSUM), 1);
	cr_assert_eq(H->t.rxlen, 0);
	/* With CORE_IN_CSUM_OK it is taken. */
	partial_in(&p, TCP_ACK | TCP_PSH, d, sizeof(d), CORE_IN_CSUM_OK);
	p.nxt += sizeof(d);
	flush();
	cr_assert_eq(drops(DROP_TCP_CSUM), 1);
	cr_assert_eq(H->t.rxlen, sizeof(d));
	cr_assert(memcmp(H->t.rx, d, sizeof(d)) == 0);
}

CORE_TEST(gso_super_packet_is_one_segment)
{
	struct peer p;
	struct pkt *k;
	static uint8_t d[60000];

	fill_random(d, sizeof(d), 41);
	peer_connect(&p, 41011, TAPP_PORT, 0x11000, 1460, 7, 65535);
	/* 60000 bytes in one datagram, far above our MSS of 1460: what
	 * the kernel's GSO hands over. The 64 KB receive buffer takes it
	 * whole, and an ACK goes at once (more than 2 MSS arrived). */
	partial_in(&p, TCP_ACK, d, sizeof(d), CORE_IN_CSUM_OK);
	p.nxt += sizeof(d);
	flush();
	cr_assert_eq(H->t.rxlen, sizeof(d));
	cr_assert(memcmp(H->t.rx, d, sizeof(d)) == 0);
	k = expect_tcp();
	cr_assert_eq(k->seg.flags, TCP_ACK);
	cr_assert_eq(k->seg.ack, p.nxt);
	expect_quiet();
}

CORE_TEST(gso_super_packet_beyond_the_window_is_trimmed)
{
	struct core_config cfg = default_config();
	struct peer p;
	static uint8_t d[60000];

	core_destroy(H->core);
	cfg.rcvbuf = 16384;
	h_core(&cfg);
	H->t.no_consume = true;
	fill_random(d, sizeof(d), 42);
	peer_connect(&p, 41012, TAPP_PORT, 0x12000, 1460, 7, 65535);
	/* A 16 KB window: the part of the super-packet inside it is taken
	 * (RFC 9293 §3.10.7.4: trim to the window), the rest dropped. */
	partial_in(&p, TCP_ACK, d, sizeof(d), CORE_IN_CSUM_OK);
	flush();
	struct tcp_conn *c = conn_of(&p);
	cr_assert_not_null(c);
	cr_assert_eq(tcp_rcv(c)->len, 16384);
	cr_assert_eq(c->rcv_nxt, p.nxt + 16384);
}

TUNDRA_TSAN_SKIP_MAIN
