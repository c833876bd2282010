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
 * 384, 448, 512, 640): 536 bytes cost 640 before this bound existed.
 */
#define TCP_CONN_BUDGET 424

Test(conn_mem, control_block_within_budget)
{
	cr_assert_leq(sizeof(struct tcp_conn), TCP_CONN_BUDGET,
		      "struct tcp_conn is %zu bytes, the budget %d",
		      sizeof(struct tcp_conn), TCP_CONN_BUDGET);
	cr_assert_eq(core_conn_size(), sizeof(struct tcp_conn));
	/* The undo state is a side structure, not part of the block. */
	cr_assert_lt(sizeof(struct tcp_undo), sizeof(struct tcp_conn) / 4);
}

/* Only what an idle connection must keep. */
static void assert_idle(const struct tcp_conn *c)
{
	cr_assert_null(c->sndbuf.data, "send buffer kept while empty");
	cr_assert_null(c->rcvbuf.data, "receive buffer kept while empty");
	cr_assert_null(c->ooo);
	cr_assert_null(c->sb);
	cr_assert_null(c->undo);
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
	cr_assert_not_null(conn_of(&p)->sndbuf.data);
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

/* The timestamp offset is (flow hash >> 17) ^ ISS whichever way the ISS
 * was set (RFC 7323 §7.1); the control block keeps only 32 bits of the
 * hash, so check it against the full one. */
CORE_TEST(ts_offset_from_the_full_flow_hash)
{
	struct peer p;

	peer_syn(&p, 41002, TAPP_PORT, 77, 1460, -1, 8192);
	struct tcp_conn *c = conn_of(&p);
	uint64_t h = flow_hash(H->cfg.flow_key, PEER, 41002, OUR, TAPP_PORT);

	cr_assert_eq(c->hash, (uint32_t)h);
	cr_assert_eq(c->ts_offset, (uint32_t)(h >> 17) ^ c->iss);
	core_conn_set_iss(c, c->iss + 12345);
	cr_assert_eq(c->ts_offset, (uint32_t)(h >> 17) ^ c->iss);
}
