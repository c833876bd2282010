/*
 * fuzz_tcp_state.c — a stateful fuzzer of the TCP core. One core and the
 * in-process app of fuzz_core.h are driven by a sequence of operations
 * decoded from the input; segments are crafted relative to the target
 * connection's real ISS / IRS / SND.UNA / SND.MAX / RCV.NXT / RCV.ADV, so
 * the fuzzer reaches ESTABLISHED, the closing states, reassembly, zero
 * windows and retransmission without guessing 32-bit numbers. After every
 * operation check_core() asserts the invariants; at the end every
 * descriptor is handed back and the core destroyed (LeakSanitizer).
 *
 * Input: a config byte (fenv_init), then operations, one opcode byte each
 * followed by its arguments (bytes past the end read as zero):
 *   SEG      target, flags, seq mode+delta, ack mode+delta, window,
 *            options (+ their arguments), payload length
 *   FLUSH    core_flush
 *   TIME     advance the clock by a step (or to the next deadline),
 *            core_timers
 *   TXDONE   hand back one held descriptor (any, not only the oldest)
 *   TXALL    hand back all, oldest or newest first
 *   WRITE    app writes n bytes on a connection it holds
 *   READ     app reads (checks) and consumes n bytes
 *   CLOSE / ABORT / CONNECT / OPTS (Nagle, keep-alive)
 *   DESC     limit the descriptors out at once / fail allocation
 *   MODE     app behaviour: consume in readable, echo, refuse accepts;
 *            side structures failing to allocate (all, or the next)
 *   RAW      bytes through core_input as they are
 */
#include "fuzz_core.h"

enum op {
	OP_SEG,
	OP_FLUSH,
	OP_TIME,
	OP_TXDONE,
	OP_TXALL,
	OP_WRITE,
	OP_READ,
	OP_CLOSE,
	OP_ABORT,
	OP_CONNECT,
	OP_OPTS,
	OP_DESC,
	OP_MODE,
	OP_RAW,
	OP_SEG2, /* SEG, then FLUSH and TXALL: one step of a conversation */
	OP__COUNT
};

#define MAX_OPS 1024
#define MAX_PAYLOAD 9000

static uint8_t pbuf[IPV4_HDR_LEN + 60 + MAX_PAYLOAD];
static uint8_t payload[MAX_PAYLOAD];
static uint16_t ip_id;

/* The n-th connection of the table (table order), or NULL. */
static struct tcp_conn *conn_nth(unsigned n)
{
	struct core *core = E->core;

	if (!core->nconns)
		return NULL;
	n %= core->nconns;
	for (uint32_t b = 0; b < core->nbuckets; b++)
		for (struct tcp_conn *c = core->buckets[b]; c; c = c->hnext)
			if (!n--)
				return c;
	return NULL;
}

static struct tundra_conn *app_pick(struct fz *f)
{
	uint8_t b = fz_u8(f);

	return E->napp ? E->app[b % E->napp] : NULL;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Options of a crafted segment; a mask byte says which. */
static void seg_opts(struct fz *f, struct seg_in *s, const struct tcp_conn *c)
{
	uint8_t m = fz_u8(f), *p = s->opts, n = 0;

	if (m & 0x01) { /* MSS */
		p[n++] = TCPOPT_MSS;
		p[n++] = 4;
		put16(p + n, (uint16_t)(fz_u8(f) * 64u));
		n += 2;
	}
	if (m & 0x02) { /* window scale, NOP-padded */
		p[n++] = TCPOPT_NOP;
		p[n++] = TCPOPT_WSCALE;
		p[n++] = 3;
		p[n++] = fz_u8(f) & 0x0f;
	}
	if (m & 0x04) { /* SACK permitted */
		p[n++] = TCPOPT_NOP;
		p[n++] = TCPOPT_NOP;
		p[n++] = TCPOPT_SACK_PERM;
		p[n++] = 2;
	}
	if (m & 0x08) { /* timestamps near what the connection expects */
		uint32_t val = c ? c->ts_recent + (uint32_t)fz_delta(f) :
				   fz_u32(f);
		uint32_t ecr =
			c ? tcp_ts_now(E->core, c) + (uint32_t)fz_delta(f) : 0;

		p[n++] = TCPOPT_NOP;
		p[n++] = TCPOPT_NOP;
		p[n++] = TCPOPT_TIMESTAMP;
		p[n++] = 10;
		put32(p + n, val);
		put32(p + n + 4, ecr);
		n += 8;
	}
	if ((m & 0x10) && n + 4 + 16 <= TCP_MAX_OPT_LEN) {
		/* Two SACK blocks around SND.UNA (parsed, not yet used). */
		uint32_t base = c ? c->snd_una : 0;

		p[n++] = TCPOPT_NOP;
		p[n++] = TCPOPT_NOP;
		p[n++] = TCPOPT_SACK;
		p[n++] = 18;
		for (int i = 0; i < 4; i++, n += 4)
			put32(p + n, base + (uint32_t)fz_delta(f));
	}
	if (m & 0x20) { /* raw bytes: whatever the fuzzer likes */
		uint8_t k = fz_u8(f) % 9;
		for (uint8_t i = 0; i < k && n < TCP_MAX_OPT_LEN; i++)
			p[n++] = fz_u8(f);
	}
	while (n % 4)
		p[n++] = TCPOPT_EOL;
	s->optlen = n;
}

static uint32_t seq_base(uint8_t mode, const struct tcp_conn *c,
			 uint32_t quad_isn)
{
	if (!c || c->state == TCPS_SYN_SENT)
		return quad_isn;
	switch (mode) {
	case 0:
		return c->rcv_nxt;
	case 1:
		return c->irs;
	case 2:
		return c->rcv_adv;
	default:
		return tcp_ooo(c) && tcp_ooo(c)->n ? tcp_ooo(c)->blk[0].end
						   : c->rcv_nxt;
	}
}

static uint32_t ack_base(uint8_t mode, const struct tcp_conn *c)
{
	if (!c)
		return 0;
	switch (mode) {
	case 0:
		return c->snd_max;
	case 1:
		return c->snd_una;
	case 2:
		return c->snd_nxt;
	default:
		return c->iss;
	}
}

static void op_seg(struct fz *f)
{
	uint8_t t = fz_u8(f), sm, am, w;
	struct tcp_conn *c = NULL;
	struct seg_in s;
	uint32_t len;

	memset(&s, 0, sizeof(s));
	s.daddr = FZ_OUR;
	if ((t & 0x80) && (c = conn_nth(t & 0x7f))) {
		s.saddr = c->raddr;
		s.sport = c->rport;
		s.dport = c->lport;
	} else {
		/* One of 32 quads: peer .1/.3, ports 40000-40007, to the
		 * two listeners and a closed port. */
		static const uint16_t lports[4] = { FZ_PORT_A, FZ_PORT_B,
						    FZ_PORT_A, 6000 };
		uint64_t h;

		s.saddr = t & 0x08 ? FZ_PEER2 : FZ_PEER1;
		s.sport = (uint16_t)(40000 + (t & 7));
		s.dport = lports[(t >> 4) & 3];
		h = flow_hash(E->cfg.flow_key, s.saddr, s.sport, FZ_OUR,
			      s.dport);
		c = ctab_lookup(E->core, h, s.saddr, s.sport, s.dport);
	}
	s.flags = fz_u8(f);
	sm = fz_u8(f);
	s.seq = seq_base(sm >> 6, c, 0x10000000u * (t & 0x0f) + 12345) +
		(uint32_t)fz_delta(f);
	am = fz_u8(f);
	s.ack = ack_base(am >> 6, c) + (uint32_t)fz_delta(f);
	w = fz_u8(f);
	s.wnd = w == 0xff ? 65535 : (uint16_t)(w * 257u / 4u);
	seg_opts(f, &s, c);
	len = fz_u8(f);
	len = len & 0x80 ? (len & 0x7f) * 128u : len;
	len = MIN(len, MAX_PAYLOAD);
	/* The peer's bytes, by sequence number (after a SYN's). */
	for (uint32_t i = 0; i < len; i++)
		payload[i] = pat_rx(s.seq + !!(s.flags & TCP_SYN) + i);
	s.payload = payload;
	s.len = len;
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr,
			"  seg %u>%u flags %#x seq %u (rcv_nxt+%d) ack %u "
			"(snd_una+%d) wnd %u opts %u len %u\n",
			s.sport, s.dport, s.flags, s.seq,
			c ? (int32_t)(s.seq - c->rcv_nxt) : 0, s.ack,
			c ? (int32_t)(s.ack - c->snd_una) : 0, s.wnd, s.optlen,
			s.len);
	core_input(E->core, pbuf, pkt_build(pbuf, &s, ip_id++), E->now);
}

static void op_time(struct fz *f)
{
	static const uint64_t steps[8] = {
		1 * FZ_MS,   10 * FZ_MS, 40 * FZ_MS, 100 * FZ_MS,
		200 * FZ_MS, 1 * FZ_SEC, 5 * FZ_SEC, 60 * FZ_SEC,
	};
	uint8_t b = fz_u8(f);
	uint64_t next;

	if (b & 0x80) {
		next = core_next_deadline(E->core);
		if (next != UINT64_MAX && next > E->now)
			E->now = next;
	} else {
		E->now += steps[b & 7] * (1 + ((b >> 3) & 3));
	}
	core_timers(E->core, E->now);
}

static void op_connect(struct fz *f)
{
	uint8_t b = fz_u8(f);
	struct tcp_conn *c;
	int rc;

	if (E->napp == FZ_MAXAPP)
		return;
	rc = core_connect(E->core, b & 0x08 ? FZ_PEER2 : FZ_PEER1,
			  (uint16_t)(40000 + (b & 7)), &fapp, E, E->now, &c);
	FUZZ_CHECK(rc == 0 || rc == -EADDRNOTAVAIL || rc == -ENOMEM,
		   "core_connect %d", rc);
	if (rc == 0) {
		FUZZ_CHECK(c->state == TCPS_SYN_SENT, "connect: state %u",
			   c->state);
		app_add((struct tundra_conn *)c);
	}
}

static void op_opts(struct fz *f)
{
	struct tundra_conn *c = app_pick(f);
	uint8_t b = fz_u8(f);

	if (!c)
		return;
	if (b & 0x80)
		tundra_conn_set_nodelay(c, b & 1);
	else
		tundra_conn_set_keepalive(c, (b & 0x0f) * 100u,
					  ((b >> 4) & 3) * 50u,
					  (uint8_t)((b >> 6) & 1) + 1);
}

static void op_raw(struct fz *f)
{
	uint32_t len = fz_u8(f), left = (uint32_t)(f->n - f->i);
	uint8_t *p;

	len = MIN(len, left);
	p = malloc(len ? len : 1);
	FUZZ_CHECK(p, "out of memory");
	memcpy(p, f->p + f->i, len);
	f->i += len;
	core_input(E->core, p, len, E->now);
	free(p);
}

/* FUZZ_TRACE=1 in the environment: print each operation and the
 * connections after it (to read what a reproducer does). */
static void trace(unsigned op)
{
	static int on = -1;
	static const char *const names[OP__COUNT] = {
		"SEG",	 "FLUSH", "TIME",  "TXDONE", "TXALL",
		"WRITE", "READ",  "CLOSE", "ABORT",  "CONNECT",
		"OPTS",	 "DESC",  "MODE",  "RAW",    "SEG2",
	};

	if (on < 0)
		on = getenv("FUZZ_TRACE") != NULL;
	if (!on)
		return;
	fprintf(stderr, "%-8s now=%llums held=%u app=%u\n", names[op],
		(unsigned long long)(E->now / FZ_MS), E->nheld, E->napp);
	for (uint32_t b = 0; b < E->core->nbuckets; b++)
		for (struct tcp_conn *c = E->core->buckets[b]; c; c = c->hnext)
			fprintf(stderr,
				"  :%u>%u %-12s una+%u nxt+%u max+%u wnd %u "
				"snd %u | rcv_nxt+%u adv+%u rcv %u ooo %u "
				"rto %llu\n",
				c->lport, c->rport,
				tcp_state_name((enum tcp_state)c->state),
				c->snd_una - c->iss, c->snd_nxt - c->iss,
				c->snd_max - c->iss, c->snd_wnd,
				tcp_snd(c)->len, c->rcv_nxt - c->irs,
				c->rcv_adv - c->irs, tcp_rcv(c)->len,
				tcp_ooo(c) ? tcp_ooo(c)->n : 0,
				(unsigned long long)(tcp_dl_ns(c->rto_at, E->now) /
						    FZ_MS));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size, 0 };
	struct fenv e;
	unsigned ops = 0;

	fenv_init(&e, fz_u8(&f));
	ip_id = 0;
	while (fz_more(&f) && ops++ < MAX_OPS) {
		bool timers = false;
		struct tundra_conn *c;
		uint8_t b;
		unsigned op = fz_u8(&f) % OP__COUNT;

		switch (op) {
		case OP_SEG:
			op_seg(&f);
			break;
		case OP_SEG2:
			op_seg(&f);
			check_core(false);
			core_flush(e.core, e.now);
			check_flushed();
			check_core(false);
			tx_done_all(false);
			break;
		case OP_FLUSH:
			core_flush(e.core, e.now);
			check_flushed();
			break;
		case OP_TIME:
			op_time(&f);
			timers = true;
			break;
		case OP_TXDONE:
			b = fz_u8(&f);
			if (e.nheld)
				tx_done(b % e.nheld);
			break;
		case OP_TXALL:
			tx_done_all(fz_u8(&f) & 1);
			break;
		case OP_WRITE:
			c = app_pick(&f);
			b = fz_u8(&f);
			if (c)
				app_write(c, b & 0x80 ? (b & 0x7f) * 512u : b);
			break;
		case OP_READ:
			c = app_pick(&f);
			b = fz_u8(&f);
			if (c)
				app_read(c, b == 0xff ? SIZE_MAX : b * 64u);
			break;
		case OP_CLOSE:
			if ((c = app_pick(&f)))
				tundra_conn_close(c);
			break;
		case OP_ABORT:
			if ((c = app_pick(&f)))
				tundra_conn_abort(c);
			break;
		case OP_CONNECT:
			op_connect(&f);
			break;
		case OP_OPTS:
			op_opts(&f);
			break;
		case OP_DESC:
			b = fz_u8(&f);
			e.alloc_fail = b & 0x80;
			e.out_max = (b & 0x7f) % (FZ_NDESC + 1);
			break;
		case OP_MODE:
			b = fz_u8(&f);
			e.app_consume = b & 1;
			e.app_echo = b & 2;
			e.app_refuse = b & 4;
			/* Side structures (tcp_side.c) without memory: all
			 * of them (8), or the next one (16). */
			e.core->fail_side = b & 8 ? UINT32_MAX : b & 16 ? 1 : 0;
			break;
		case OP_RAW:
			op_raw(&f);
			break;
		}
		check_core(timers);
		trace(op);
	}
	/* Let the core finish what it was doing before tearing down. */
	e.alloc_fail = false;
	e.out_max = FZ_NDESC;
	tx_done_all(false);
	core_flush(e.core, e.now);
	check_core(false);
	fenv_fini(&e);
	return 0;
}
