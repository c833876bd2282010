/*
 * test_conn_mem.c — what a connection costs while it is idle: the control
 * block's size is bounded (so it cannot grow back unnoticed; bench/hold.sh
 * measures the whole cost per connection), and an established connection
 * that echoed a byte and went quiet holds no buffer, no side structure
 * and no timer — only its control block and its table slot.
 */
/* The harness is a header of static helpers; this file uses some. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "core_harness.h"

TestSuite(conn_mem);

/*
 * The control block's budget. Lower it when the block shrinks; raising
 * it needs a reason (every connection pays it; 100,000 idle ones pay it
 * 100,000 times). jemalloc rounds an allocation up to its size class (...,
 * 192, 224, 256, 320, 384, 448, 512, 640): 536 bytes cost 640 before this
 * bound existed, 304 cost 320, 224 the 224 class; 192 fills the 192 class
 * exactly (the next step is 160).
 */
#define TCP_CONN_BUDGET 192

Test(conn_mem, control_block_within_budget)
{
	cr_assert_leq(sizeof(struct tcp_conn), TCP_CONN_BUDGET,
		      "struct tcp_conn is %zu bytes, the budget %d",
		      sizeof(struct tcp_conn), TCP_CONN_BUDGET);
	cr_assert_eq(core_conn_size(), sizeof(struct tcp_conn));
	/* Side structures, not part of the block: each within a small
	 * jemalloc size class (16, 32, 48, 64). */
	cr_assert_leq(sizeof(struct tcp_undo), 48);
	cr_assert_leq(sizeof(struct tcp_ka), 32);
	cr_assert_leq(sizeof(struct tcp_side), 64);
	/* Two buffers of 16 bytes: the capacity rides in the address. They
	 * are behind one pointer, allocated while a buffer is. */
	cr_assert_eq(sizeof(struct bbuf), 16);
	cr_assert_eq(sizeof(struct tcp_io), 56);
}

/* The capacity kept in the buffer address's low bits comes back. */
Test(conn_mem, bbuf_capacity_in_the_address)
{
	for (uint32_t cap = 64; cap <= (1u << 24); cap <<= 1) {
		struct bbuf b = { 0 };

		cr_assert_eq(bbuf_cap(&b), 0);
		cr_assert_eq(bbuf_alloc(&b, cap), 0);
		cr_assert_eq(bbuf_cap(&b), cap);
		cr_assert_eq((uintptr_t)bbuf_data(&b) % 64, 0);
		cr_assert_eq(bbuf_write(&b, "abc", 3), 3);
		cr_assert_eq(bbuf_space(&b), cap - 3);
		cr_assert_eq(memcmp(bbuf_data(&b), "abc", 3), 0);
		bbuf_free(&b);
		cr_assert_eq(b.mem, 0);
	}
}

/* Only what an idle connection must keep. */
static void assert_idle(const struct tcp_conn *c)
{
	cr_assert_eq(tcp_snd(c)->mem, 0, "send buffer kept while empty");
	cr_assert_eq(tcp_rcv(c)->mem, 0, "receive buffer kept while empty");
	cr_assert_null(c->io, "struct tcp_io kept while idle");
	cr_assert_null(tcp_ooo(c));
	cr_assert_null(tcp_sb(c));
	cr_assert_null(tcp_undo(c));
	cr_assert_null(c->side, "a side structure kept while idle");
	cr_assert_lt(c->heap_idx, 0, "a timer armed on an idle connection");
	cr_assert_eq(theap_at(H->core, c), 0);
}

/* The bench's hold test in miniature: connect, one byte echoed, quiet. */
static void one_byte_echo(uint16_t sport, bool ts)
{
	const struct syn_cfg sc = { .mss = 1460,
				    .ws = 7,
				    .wnd = 65535,
				    .sack = true,
				    .ts = ts,
				    .ts_base = 5 };
	struct peer p;

	peer_syn_cfg(&p, sport, 7, 0x4000, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	assert_state(&p, TCPS_ESTABLISHED);
	assert_idle(conn_of(&p));

	peer_send(&p, TCP_ACK | TCP_PSH, "x", 1);
	struct pkt *k = expect_tcp();
	cr_assert_eq(k->seg.len, 1, "the echo");
	cr_assert_eq(k->seg.data[0], 'x');
	p.ack += 1;
	expect_quiet();
	/* While the echo is unacknowledged it is held, with its timer. */
	cr_assert_neq(tcp_snd(conn_of(&p))->mem, 0);
	cr_assert_geq(conn_of(&p)->heap_idx, 0);
	peer_send(&p, TCP_ACK, NULL, 0);
	expect_quiet();
	assert_idle(conn_of(&p));
	/* A minute later nothing has changed and nothing was sent. */
	advance(60 * SEC);
	expect_quiet();
	assert_state(&p, TCPS_ESTABLISHED);
	assert_idle(conn_of(&p));
}

CORE_TEST(idle_after_echo_holds_only_the_control_block)
{
	one_byte_echo(41000, false);
}

CORE_TEST(idle_after_echo_with_timestamps)
{
	one_byte_echo(41001, true);
}

/* Keep-alive state exists while keep-alive is on, and only then. */
CORE_TEST(keepalive_state_allocated_while_on)
{
	struct peer p;

	peer_connect(&p, 41003, TAPP_PORT, 0x5000, 1460, -1, 65535);
	struct tcp_conn *c = conn_of(&p);
	cr_assert_null(tcp_ka(c));
	tundra_conn_set_keepalive(H->t.conn, 1000, 100, 2);
	cr_assert_not_null(tcp_ka(c));
	cr_assert(c->flags & TF_KEEPALIVE);
	cr_assert_eq(theap_at(H->core, c), H->now + 1000 * MS,
		     "the idle timer is the connection's deadline");
	/* A probe after the idle time, then the peer answers it. */
	advance(1000 * MS);
	struct pkt *k = expect_tcp();
	cr_assert_eq(k->seg.seq, p.ack - 1, "a keep-alive probe");
	cr_assert_eq(tcp_ka(c)->sent, 1);
	tundra_conn_set_keepalive(H->t.conn, 0, 0, 0);
	cr_assert_null(tcp_ka(c));
	cr_assert_null(c->side, "the side structure goes with it");
	cr_assert_not(c->flags & TF_KEEPALIVE);
	cr_assert_lt(c->heap_idx, 0, "no timer left");
	advance(10 * SEC);
	expect_quiet();
}

/* The timestamp offset is (flow hash >> 17) ^ ISS whichever way the ISS
 * was set (RFC 7323 §7.1); the control block keeps no hash, so check it
 * against the full one. */
CORE_TEST(ts_offset_from_the_full_flow_hash)
{
	struct peer p;

	peer_syn(&p, 41002, TAPP_PORT, 77, 1460, -1, 8192);
	struct tcp_conn *c = conn_of(&p);
	uint64_t h = flow_hash(H->cfg.flow_key, PEER, 41002, OUR, TAPP_PORT);

	cr_assert_eq(c->ts_offset, (uint32_t)(h >> 17) ^ c->iss);
	core_conn_set_iss(c, c->iss + 12345);
	cr_assert_eq(c->ts_offset, (uint32_t)(h >> 17) ^ c->iss);
}

/* The byte counters come from the sequence numbers and a wrap count
 * each (tcp_conn.h). Start both offsets 10 bytes short of 2^32, as if
 * 4 GiB had gone each way, then echo 100 bytes across the wrap. */
CORE_TEST(byte_counters_across_the_offset_wrap)
{
	const struct syn_cfg sc = { .mss = 1460, .ws = 7, .wnd = 65535 };
	const uint64_t four_g = 1ull << 32;
	char d[100];
	struct peer p;

	memset(d, 'w', sizeof(d));
	peer_syn_cfg(&p, 41004, 7, 0xfffffff0u, &sc);
	peer_send(&p, TCP_ACK, NULL, 0);
	struct tcp_conn *c = conn_of(&p);
	cr_assert_eq(tcp_bytes_acked(c), 0);
	cr_assert_eq(tcp_bytes_received(c), 0, "the SYN is not data");
	c->irs = c->rcv_nxt + 9;
	c->iss = c->snd_una + 9;
	cr_assert_eq(tcp_bytes_received(c), four_g - 10);
	cr_assert_eq(tcp_bytes_acked(c), four_g - 10);

	peer_send(&p, TCP_ACK | TCP_PSH, d, sizeof(d));
	struct pkt *k = expect_tcp();
	cr_assert_eq(k->seg.len, sizeof(d), "the echo");
	p.ack += sizeof(d);
	peer_send(&p, TCP_ACK, NULL, 0);
	cr_assert_eq(c->rcv_wraps, 1);
	cr_assert_eq(c->snd_wraps, 1);
	cr_assert_eq(tcp_bytes_received(c), four_g + 90);
	cr_assert_eq(tcp_bytes_acked(c), four_g + 90);
	/* The peer's FIN is not data either. */
	peer_send(&p, TCP_ACK | TCP_FIN, NULL, 0);
	cr_assert_eq(tcp_bytes_received(c), four_g + 90);
}

TUNDRA_TSAN_SKIP_MAIN
