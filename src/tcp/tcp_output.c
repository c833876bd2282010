/*
 * tcp_output.c — building and sending segments: SYN, SYN-ACK, data from
 * the send buffer (zero copy: the descriptor points into it), FIN, ACK
 * (delayed per RFC 9293 §3.8.6.3, with SACK blocks per RFC 2018), RST.
 */
#include <arpa/inet.h>
#include <string.h>

#include "core/core_priv.h"
#include "ip/csum.h"
#include "tcp/tcp_seq.h"

struct seg_spec {
	uint32_t raddr, laddr;
	uint16_t rport, lport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;          /* already scaled down */
	uint8_t optlen;        /* multiple of 4 bytes */
	uint16_t gso_size;     /* TSO: payload per wire segment; 0: one */
	uint8_t opts[TCP_MAX_OPT_LEN];
};

/*
 * TSO (core_config.tx_offload): one descriptor may carry up to this much
 * payload, which the device cuts into MSS-sized segments. The IPv4 total
 * length of the super-segment must fit its 16 bits, with the longest TCP
 * header (RFC 791 §3.1, RFC 9293 §3.1).
 */
#define TCP_TSO_MAX (65535u - IPV4_HDR_LEN - TCP_HDR_LEN - TCP_MAX_OPT_LEN)

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The 10-byte timestamp option (RFC 7323 §3). */
static uint8_t put_ts_raw(uint8_t *p, uint32_t val, uint32_t ecr)
{
	p[0] = TCPOPT_TIMESTAMP;
	p[1] = 10;
	put32(p + 2, val);
	put32(p + 6, ecr);
	return 10;
}

/* NOP NOP TS: the layout RFC 7323 appendix A recommends. */
static uint8_t put_ts(uint8_t *p, uint32_t val, uint32_t ecr)
{
	p[0] = TCPOPT_NOP;
	p[1] = TCPOPT_NOP;
	return 2 + put_ts_raw(p + 2, val, ecr);
}

/*
 * Fill o with IPv4 + TCP headers for spec and the payload already placed in
 * o->iov[1..niov-1] (paylen bytes), checksums included, and hand it on.
 */
static void tcp_emit(struct core *core, struct core_out *o,
		     const struct seg_spec *s, uint32_t paylen)
{
	uint8_t *ip = o->hdr, *th = o->hdr + IPV4_HDR_LEN;
	uint32_t thlen = TCP_HDR_LEN + s->optlen;
	uint32_t sum;
	struct tcp_hdr h = {
		.sport = htons(s->lport),
		.dport = htons(s->rport),
		.seq = htonl(s->seq),
		.ack = htonl(s->ack),
		.doff = (uint8_t)((thlen / 4) << 4),
		.flags = s->flags,
		.window = htons(s->wnd),
		.check = 0,
		.urg = 0,
	};

	memcpy(th, &h, sizeof(h));
	if (s->optlen)
		memcpy(th + TCP_HDR_LEN, s->opts, s->optlen);
	ipv4_build(ip, s->laddr, s->raddr, IPPROTO_TCP_,
		   (uint16_t)(IPV4_HDR_LEN + thlen + paylen), core->ip_id++);
	/* RFC 9293 §3.1: the checksum covers the pseudo-header, the TCP
	 * header and the payload. */
	sum = csum_pseudo_ipv4(htonl(s->laddr), htonl(s->raddr), IPPROTO_TCP_,
			       (uint16_t)(thlen + paylen));
	if (core->cfg.tx_offload) {
		/*
		 * The device finishes it (virtio NEEDS_CSUM, as Linux's
		 * CHECKSUM_PARTIAL): the field holds the pseudo-header sum,
		 * folded, not complemented; the device adds the header and
		 * payload from csum_start on. For a super-segment the
		 * length in it is the whole TCP length, which the kernel's
		 * segmentation adjusts per piece (tcp_gso_segment).
		 */
		h.check = (uint16_t)~csum_fold(sum);
		o->csum_start = IPV4_HDR_LEN;
		o->csum_offset = 16;
		o->gso_size = s->gso_size;
	} else {
		sum = csum_partial(th, thlen, sum);
		sum = csum_iov(&o->iov[1], o->niov - 1, sum);
		h.check = csum_fold(sum);
	}
	memcpy(th + 16, &h.check, 2);

	o->iov[0].iov_base = o->hdr;
	o->iov[0].iov_len = IPV4_HDR_LEN + thlen;
	o->len = IPV4_HDR_LEN + thlen + paylen;
	stat_add(core->stats.pkts_out, 1);
	stat_add(core->stats.bytes_out, o->len);
	TP_SEG_OUT(s->laddr, s->lport, s->raddr, s->rport, s->seq, s->ack,
		   s->flags, paylen);
	core->env.out_send(core->env.ctx, o);
}

void tcp_respond_rst(struct core *core, const struct tcp_seg *seg)
{
	struct seg_spec s = {
		.raddr = seg->saddr,
		.laddr = seg->daddr,
		.rport = seg->sport,
		.lport = seg->dport,
	};
	struct core_out *o;

	/* RFC 9293 §3.10.7.1: an incoming RST is discarded; otherwise, if
	 * the ACK bit is off, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>,
	 * else <SEQ=SEG.ACK><CTL=RST>. */
	if (seg->flags & TCP_RST)
		return;
	if (seg->flags & TCP_ACK) {
		s.seq = seg->ack;
		s.flags = TCP_RST;
	} else {
		s.seq = 0;
		s.ack = seg->seq + tcp_seg_len(seg);
		s.flags = TCP_RST | TCP_ACK;
	}
	o = core_out_get(core);
	if (!o) {
		core_drop(core, DROP_TX_NO_DESC);
		return;
	}
	stat_add(core->stats.resets_sent, 1);
	tcp_emit(core, o, &s, 0);
}

bool tcp_respond_synack(struct core *core, const struct tcp_seg *syn,
			uint32_t iss, uint16_t wnd, const uint8_t *opts,
			uint8_t optlen)
{
	struct seg_spec s = {
		.raddr = syn->saddr,
		.laddr = syn->daddr,
		.rport = syn->sport,
		.lport = syn->dport,
		.seq = iss,
		.ack = syn->seq + 1,
		.flags = TCP_SYN | TCP_ACK,
		.wnd = wnd,
		.optlen = optlen,
	};
	struct core_out *o = core_out_get(core);

	if (!o) {
		core_drop(core, DROP_TX_NO_DESC);
		return false;
	}
	memcpy(s.opts, opts, optlen);
	tcp_emit(core, o, &s, 0);
	return true;
}

uint32_t tcp_rcv_window(struct core *core, struct tcp_conn *c)
{
	const struct bbuf *rb = tcp_rcv(c);
	uint32_t cap = rb->mem ? bbuf_cap(rb) : core->rcvbuf_cap;
	uint32_t right = c->rcv_nxt + (cap - rb->len);
	uint32_t max = c->flags & TF_WSCALE ? 65535u << c->rcv_wscale : 65535;
	uint32_t thresh = MIN(cap / 2, core->mss);

	if (right - c->rcv_nxt > max)
		right = c->rcv_nxt + max;
	/*
	 * RFC 9293 §3.8.6.2.2 (receiver SWS avoidance): move the right edge
	 * only by at least min(buffer/2, MSS); and never move it back
	 * (§3.8.6.2.2, "shrinking the window" is strongly discouraged).
	 */
	if (seq_gt(right, c->rcv_adv) && right - c->rcv_adv >= thresh)
		c->rcv_adv = right;
	return seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
}

/* The common part of every segment of c: addresses, ACK, window, and the
 * timestamp option when in use. Sending an ACK settles the delayed one. */
static void spec_for(struct core *core, struct tcp_conn *c,
		     struct seg_spec *s, uint32_t seq, uint8_t flags)
{
	uint32_t wnd = tcp_rcv_window(core, c);

	s->raddr = c->raddr;
	s->laddr = core->cfg.addr;
	s->rport = c->rport;
	s->lport = c->lport;
	s->seq = seq;
	s->ack = (flags & TCP_ACK) ? c->rcv_nxt : 0;
	s->flags = flags;
	s->gso_size = 0;
	/* RFC 7323 §2.2: the window in a SYN is never scaled. */
	if ((c->flags & TF_WSCALE) && !(flags & TCP_SYN))
		wnd >>= c->rcv_wscale;
	s->wnd = (uint16_t)MIN(wnd, 65535u);
	s->optlen = 0;
	if ((c->flags & TF_TS) && !(flags & (TCP_SYN | TCP_RST)))
		s->optlen = put_ts(s->opts, tcp_ts_now(core, c), c->ts_recent);
	if (flags & TCP_ACK) {
		c->last_ack_sent = c->rcv_nxt;
		if (c->io) {
			c->io->rcv_unacked = 0;
			tcp_io_put(c); /* that may have been all it held */
		}
		c->flags &= ~(TF_ACK_NOW | TF_DACK);
		if (c->dack_at) {
			c->dack_at = 0; /* the delayed ACK just went */
			theap_update(core, c);
		}
	}
}

/* The options of our SYN (active: we offer everything) or SYN-ACK (we
 * echo what the peer offered): MSS, SACK-permitted, timestamps, window
 * scale, in Linux's order so the SYN is 20 bytes of options. */
static void syn_opts(struct core *core, struct tcp_conn *c, struct seg_spec *s)
{
	bool active = c->state == TCPS_SYN_SENT;
	bool sack = active || (c->flags & TF_SACK);
	bool ts = active || (c->flags & TF_TS);
	bool ws = active || (c->flags & TF_WSCALE);
	uint8_t *p = s->opts, n = 0;

	p[n++] = TCPOPT_MSS;
	p[n++] = 4;
	p[n++] = (uint8_t)(core->mss >> 8);
	p[n++] = (uint8_t)core->mss;
	if (sack && ts) {
		p[n++] = TCPOPT_SACK_PERM;
		p[n++] = 2;
		n += put_ts_raw(p + n, tcp_ts_now(core, c),
				active ? 0 : c->ts_recent);
	} else if (ts) {
		n += put_ts(p + n, tcp_ts_now(core, c),
			    active ? 0 : c->ts_recent);
	} else if (sack) {
		p[n++] = TCPOPT_NOP;
		p[n++] = TCPOPT_NOP;
		p[n++] = TCPOPT_SACK_PERM;
		p[n++] = 2;
	}
	if (ws) {
		p[n++] = TCPOPT_NOP;
		p[n++] = TCPOPT_WSCALE;
		p[n++] = 3;
		p[n++] = c->rcv_wscale;
	}
	s->optlen = n;
}

/* An idle connection keeps no buffer: an empty send buffer that no
 * descriptor points into is freed (tundra_conn_write allocates it again),
 * so held connections cost their control block only. */
static void sndbuf_maybe_free(struct tcp_conn *c)
{
	if (tcp_snd(c)->mem && !tcp_snd(c)->len && !tcp_tx_inflight(c))
		tcp_sndbuf_free(c);
}

void tcp_sndbuf_release(struct core *core, struct tcp_conn *c)
{
	uint32_t limit = c->snd_una;
	uint32_t data_end = c->snd_buf_seq + tcp_snd(c)->len;
	uint32_t d;

	/* The transmitter reads the payload of a descriptor until it hands
	 * it back; the peer may ack those bytes before that (the kernel
	 * handles a TUN write inside the writer's syscall), and the app
	 * must not overwrite them yet. */
	if (tcp_tx_inflight(c) && seq_lt(c->io->tx_low, limit))
		limit = c->io->tx_low;
	if (seq_gt(limit, data_end))
		limit = data_end; /* the FIN has no byte in the buffer */
	if (!seq_gt(limit, c->snd_buf_seq)) {
		sndbuf_maybe_free(c);
		return;
	}
	d = limit - c->snd_buf_seq;
	bbuf_drop(&c->io->snd, d);
	c->snd_buf_seq += d;
	sndbuf_maybe_free(c);
	c->flags |= TF_WRITABLE;
	core_schedule(core, c);
}

void tcp_rearm_rto(struct core *core, struct tcp_conn *c)
{
	if (c->state == TCPS_TIME_WAIT)
		return; /* rto_at times TIME-WAIT, nothing is in flight */
	if (c->snd_una == c->snd_max) {
		c->rto_at = 0;
	} else {
		c->rto_at = tcp_dl(core->now + tcp_rto_ns(c));
	}
	tcp_arm_pto(core, c);
	theap_update(core, c);
}

/* Our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), first time or again. */
static bool send_syn(struct core *core, struct tcp_conn *c)
{
	struct core_out *o = core_out_get(core);
	uint8_t flags = c->state == TCPS_SYN_SENT ? TCP_SYN
						  : TCP_SYN | TCP_ACK;
	struct seg_spec s;

	if (!o)
		return false;
	spec_for(core, c, &s, c->iss, flags);
	syn_opts(core, c, &s);
	if (c->snd_max != c->iss) {
		stat_add(core->stats.retransmits, 1);
		TP_RETRANSMIT(c, c->raddr, c->rport, c->iss, 1u);
	} else if (!(c->flags & TF_RTT_TIMING) && tcp_io_get(c)) {
		/* Time the SYN (Karn: not a retransmitted one); without
		 * memory to note it, leave it untimed. */
		c->flags |= TF_RTT_TIMING;
		c->io->rtt_seq = c->iss + 1;
		c->io->rtt_ts = tcp_now_us(core);
	}
	c->snd_nxt = c->iss + 1;
	c->snd_max = seq_max(c->snd_max, c->snd_nxt);
	tcp_emit(core, o, &s, 0);
	if (!c->rto_at)
		tcp_rearm_rto(core, c);
	return true;
}

/* One ACK; with SACK, a D-SACK block (once) and then blocks[] from
 * first: the newest range first, then those older than *below. */
static bool send_one_ack(struct core *core, struct tcp_conn *c, uint32_t seq,
			 bool newest, uint32_t *below)
{
	struct core_out *o = core_out_get(core);
	unsigned max = c->flags & TF_TS ? 3 : 4;
	struct seg_spec s;
	uint32_t blocks[4][2];
	unsigned n = 0;

	if (!o)
		return false;
	spec_for(core, c, &s, seq, TCP_ACK);
	if ((c->flags & TF_SACK) && (c->flags & TF_DSACK)) {
		/* RFC 2883 §4: the D-SACK block first, once. */
		blocks[0][0] = c->side->dsack_start;
		blocks[0][1] = c->side->dsack_end;
		n = 1;
		c->flags &= ~TF_DSACK;
		tcp_side_put(c);
	}
	if ((c->flags & TF_SACK) && tcp_ooo(c)) {
		if (newest) {
			/* RFC 2018 §4: the first block is always the one
			 * with the most recent segment. */
			uint32_t top = UINT32_MAX;

			n += tcp_sack_blocks(c, blocks + n, 1, &top);
			if (*below == UINT32_MAX)
				*below = top;
		}
		n += tcp_sack_blocks(c, blocks + n, max - n, below);
	}
	if (n) {
		/* RFC 2018 §3: NOP NOP, kind 5, length 2 + 8n. */
		uint8_t *p = s.opts + s.optlen;

		p[0] = TCPOPT_NOP;
		p[1] = TCPOPT_NOP;
		p[2] = TCPOPT_SACK;
		p[3] = (uint8_t)(2 + 8 * n);
		for (unsigned i = 0; i < n; i++) {
			put32(p + 4 + 8 * i, blocks[i][0]);
			put32(p + 8 + 8 * i, blocks[i][1]);
		}
		s.optlen = (uint8_t)(s.optlen + 4 + 8 * n);
	}
	tcp_emit(core, o, &s, 0);
	return true;
}

/*
 * A segment without data: an ACK (with SACK blocks while we hold
 * out-of-order data), or a probe one below SND.UNA. A batch of segments
 * may have changed more ranges than one ACK's 3-4 blocks can report;
 * a sender that never hears of a range would resend it. So, as a receiver
 * that ACKs every out-of-order segment would (RFC 5681 §4.2), further
 * ACKs follow until each changed range was reported once (each still
 * leading with the newest range).
 */
static bool send_ack(struct core *core, struct tcp_conn *c, uint32_t seq)
{
	uint32_t below = UINT32_MAX;
	unsigned extra = 0;

	if (!send_one_ack(core, c, seq, false, &below))
		return false;
	while (tcp_ooo(c) && (c->flags & TF_SACK) &&
	       tcp_sack_changed(c, below) && extra++ < TCP_OOO_MAX) {
		if (!send_one_ack(core, c, seq, true, &below))
			break; /* out of descriptors: the next ACK will do */
	}
	if (tcp_ooo(c))
		tcp_ooo(c)->acked_stamp = tcp_ooo(c)->stamp;
	c->flags &= ~(TF_PROBE | TF_SACK_NOW);
	return true;
}

/* One segment of data [seq, seq + n) from the send buffer, and the FIN
 * after it if fin. Counts a retransmission when it lies below SND.MAX. The
 * caller moves SND.NXT. false when no descriptor is free. */
static bool send_data(struct core *core, struct tcp_conn *c, uint32_t seq,
		      uint32_t n, bool fin)
{
	struct core_out *o = core_out_get(core);
	uint32_t off = seq - c->snd_buf_seq;
	uint8_t flags = TCP_ACK;
	struct seg_spec s;

	if (!o)
		return false;
	o->niov = (uint8_t)(1 + bbuf_view(tcp_snd(c), off, n, &o->iov[1]));
	/* The transmitter holds the payload's bytes (a FIN alone points at
	 * nothing): they stay until it hands the descriptor back. */
	if (n) {
		o->conn = c;
		c->io->tx_low = c->io->tx_inflight++
					? seq_min(c->io->tx_low, seq)
					: seq;
	}
	if (n && off + n == tcp_snd(c)->len)
		flags |= TCP_PSH;
	if (fin)
		flags |= TCP_FIN;
	spec_for(core, c, &s, seq, flags);
	if (n > tcp_smss(c))
		s.gso_size = (uint16_t)tcp_smss(c); /* TSO */
	if (seq_lt(seq, c->snd_max)) {
		/* Karn (RFC 6298 §3): an ACK of a resent timed segment
		 * cannot tell which copy it answers. */
		if ((c->flags & TF_RTT_TIMING) &&
		    seq_lt(seq, c->io->rtt_seq)) {
			c->flags &= ~TF_RTT_TIMING;
			tcp_io_put(c);
		}
		stat_add(core->stats.retransmits, 1);
		c->retransmits++;
		tcp_recovery_sent(core, c, seq, n + fin);
		TP_RETRANSMIT(c, c->raddr, c->rport, seq, n + fin);
	} else if (!(c->flags & TF_RTT_TIMING) && n) {
		/* Time one segment per RTT; Karn: never a retransmitted one
		 * (RFC 6298 §3). */
		c->flags |= TF_RTT_TIMING;
		c->io->rtt_seq = seq + n;
		c->io->rtt_ts = tcp_now_us(core);
	}
	if (n)
		/* 0 means none; the | 1 may put the mark up to 1 ms
		 * ahead of the clock, so the idle test above is signed. */
		c->last_tx_ms = tcp_now_ms(core) | 1;
	c->flags &= ~TF_PROBE;
	tcp_emit(core, o, &s, n);
	return true;
}

/*
 * How much of avail bytes (usable of them inside the send and congestion
 * windows) the next data segment carries: one MSS, or with TSO up to
 * TCP_TSO_MAX in one super-segment. A super-segment that does not take all
 * the data ends on an MSS boundary, so no piece of it is a short segment
 * the sender SWS and Nagle rules below would have held back (RFC 9293
 * §3.8.6.2.1, §3.7.4).
 */
static uint32_t tcp_tso_len(const struct core *core, uint32_t avail,
			    uint32_t usable, uint32_t mss)
{
	uint32_t n = MIN(avail, usable);

	/* A device MTU near 64 KB leaves no room for two segments in one
	 * IPv4 datagram: no super-segments then. */
	if (!core->cfg.tx_offload || n <= mss || TCP_TSO_MAX < 2 * mss)
		return MIN(n, mss);
	n = MIN(n, TCP_TSO_MAX / mss * mss);
	if (n < avail)
		n -= n % mss;
	return n;
}

/* RFC 6675 §5 (C): in recovery, while cwnd - pipe >= 1 SMSS, retransmit
 * the next lost segment (NextSeg rule (1)); new data (rule (2)) is left
 * to the send loop, under the same pipe. The first retransmission goes
 * regardless of pipe (§5 (4.3), and RFC 6582's partial ACK). */
static bool recovery_output(struct core *core, struct tcp_conn *c,
			    uint32_t *pipe)
{
	uint32_t seq, n;
	bool fin;

	while (tcp_next_lost(c, &seq, &n, &fin)) {
		if (!(c->rec & REC_RXT_FIRST) &&
		    *pipe + tcp_smss(c) > c->cc.cwnd)
			break;
		if (!send_data(core, c, seq, n, fin))
			return false;
		/* The head goes again: give it a full RTO before a timeout
		 * declares it lost too (as Linux does; RFC 6298 (5.3) only
		 * restarts on new ACKs, which a recovery lacks). */
		if (seq == c->snd_una)
			tcp_rearm_rto(core, c);
		c->rec &= (uint16_t)~REC_RXT_FIRST;
		c->side->high_rxt = seq + n + fin; /* in recovery */
		*pipe += n + fin;
		if (!(c->flags & TF_SACK))
			break; /* NewReno: one segment per partial ACK */
	}
	c->rec &= (uint16_t)~REC_RXT_FIRST;
	return true;
}

/* RFC 8985 §7.3: no new data could go: the probe resends the last
 * segment (the highest-sequence one), FIN included, and opens a probe
 * episode (tcp_sack.c). */
static bool tlp_retransmit(struct core *core, struct tcp_conn *c)
{
	uint32_t data_end = c->snd_buf_seq + tcp_snd(c)->len;
	bool fin = (c->flags & TF_FIN_SENT) && c->snd_max == data_end + 1;
	uint32_t end = fin ? data_end : c->snd_max;
	uint32_t n = MIN(tcp_smss(c), end - c->snd_una);

	if (c->snd_una == c->snd_max)
		return true;
	/* The probe's episode needs the side structure (tlp_high); without
	 * it no probe: the RTO, armed from now (tcp_tlp_fire), recovers. */
	if (!tcp_side_get(c))
		return true;
	if (!send_data(core, c, end - n, n, fin)) {
		tcp_side_put(c);
		return false;
	}
	c->side->tlp_high = c->snd_max;
	c->rec |= REC_TLP;
	return true;
}

bool tcp_output(struct core *core, struct tcp_conn *c)
{
	struct core_out *o;
	struct seg_spec s;
	uint32_t inflight, cwnd, sent_new, smss = tcp_smss(c);

	if (c->flags & TF_SEND_RST) {
		/* RFC 9293 §3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST>. */
		o = core_out_get(core);
		if (!o)
			return false;
		/* The highest sequence sent, not a rewound SND.NXT: the
		 * peer accepts a RST only at its RCV.NXT (RFC 5961 §3). */
		spec_for(core, c, &s, c->snd_max, TCP_RST | TCP_ACK);
		c->flags &= ~TF_SEND_RST;
		stat_add(core->stats.resets_sent, 1);
		tcp_emit(core, o, &s, 0);
		return true;
	}
	if (c->state == TCPS_SYN_SENT || c->state == TCPS_SYN_RECEIVED) {
		if (c->snd_nxt == c->iss)
			return send_syn(core, c);
		/* RFC 9293 §3.10.7.4: an unacceptable segment in
		 * SYN-RECEIVED is answered with an ACK too. */
		if (c->state == TCPS_SYN_RECEIVED &&
		    (c->flags & TF_ACK_NOW) && !send_ack(core, c, c->snd_max))
			return false;
		return true;
	}
	/* Out-of-order data arrived: the SACK goes ahead of any data. */
	if ((c->flags & TF_SACK_NOW) && !send_ack(core, c, c->snd_max))
		return false;

	/* RFC 5681 §4.1: a connection idle for longer than the RTO starts
	 * again from (at most) the initial window. */
	if (c->snd_una == c->snd_max && c->last_tx_ms &&
	    (int32_t)(tcp_now_ms(core) - c->last_tx_ms) >
		    (int32_t)(tcp_rto_ns(c) / 1000000) &&
	    c->snd_nxt - c->snd_buf_seq < tcp_snd(c)->len) {
		tcp_cc_restart(core, c);
		c->last_tx_ms = 0;
	}
	inflight = tcp_in_flight(c);
	if ((c->rec & REC_RECOVERY) && !recovery_output(core, c, &inflight))
		return false;
	cwnd = tcp_send_cwnd(c);
	/* RFC 8985 §7.3: the probe is new data if there is some and the
	 * peer's window takes it, whatever cwnd says. */
	if (c->rec & REC_TLP_NOW)
		cwnd = MAX(cwnd, inflight + smss);
	sent_new = c->snd_max;

	for (;;) {
		uint32_t off, avail, usable, n, mss, next;
		int32_t room;
		bool fin, idle;

		if (seq_lt(c->snd_nxt, c->snd_max) && tcp_sb(c)) {
			/* Going back after a timeout: what the peer SACKed
			 * is not sent again (RFC 6675 §5.1). */
			c->snd_nxt = tcp_sack_skip(c, c->snd_nxt, &next);
		} else {
			next = c->snd_max;
		}
		off = c->snd_nxt - c->snd_buf_seq;
		if (off > tcp_snd(c)->len)
			break; /* the FIN is out: nothing after it */
		avail = tcp_snd(c)->len - off;
		if (seq_lt(c->snd_nxt, next) && seq_lt(next, c->snd_max))
			avail = MIN(avail, next - c->snd_nxt);
		room = (int32_t)(c->snd_una + c->snd_wnd - c->snd_nxt);
		usable = room > 0 ? (uint32_t)room : 0;
		mss = smss;
		/* RFC 5681 §3.1: no more in flight than cwnd. */
		usable = MIN(usable, cwnd > inflight ? cwnd - inflight : 0);
		n = tcp_tso_len(core, avail, usable, mss);
		/* The FIN follows the last byte (and goes again after a
		 * rewind); like Linux, it is sent whatever the window (a
		 * zero window accepts it at RCV.NXT). Not at the end of
		 * avail: that may stop short at a SACKed range. */
		fin = (c->flags & TF_APP_CLOSED) && off + n == tcp_snd(c)->len;
		if (n == 0 && !fin)
			break;
		/*
		 * RFC 9293 §3.8.6.2.1 (sender SWS avoidance): a segment
		 * shorter than the MSS goes out only if it carries all
		 * the data we have, or at least half the peer's largest
		 * window; otherwise wait for the window to open.
		 */
		if (n < avail && n < mss && n < c->snd_wnd / 2)
			break;
		/*
		 * Nagle (RFC 9293 §3.7.4), Minshall's variant as in Linux:
		 * hold a short segment while an earlier short one is
		 * unacknowledged — unless the app turned it off or closed
		 * (the last piece goes with the FIN), or this is a
		 * retransmission (SND.NXT rewound below that segment: as
		 * Linux's tcp_minshall_check).
		 */
		if (n && n < mss && !fin && !(c->flags & TF_NODELAY) &&
		    seq_gt(c->io->snd_sml, c->snd_una) &&
		    seq_leq(c->io->snd_sml, c->snd_nxt))
			break;
		idle = c->snd_una == c->snd_max;
		if (!send_data(core, c, c->snd_nxt, n, fin))
			return false;
		inflight += n + fin;
		c->snd_nxt += n + fin;
		c->snd_max = seq_max(c->snd_max, c->snd_nxt);
		/* A super-segment's last piece may be short (Linux:
		 * tcp_minshall_update). A FIN alone may have no struct
		 * tcp_io to mark: no data can follow it to be held. */
		if ((n < mss || n % mss) && c->io)
			c->io->snd_sml = c->snd_nxt;
		if (fin && !(c->flags & TF_FIN_SENT)) {
			c->flags |= TF_FIN_SENT;
			/* RFC 9293 §3.10.4 CLOSE. */
			tcp_set_state(c, c->state == TCPS_CLOSE_WAIT
						 ? TCPS_LAST_ACK
						 : TCPS_FIN_WAIT_1);
		}
		/* RFC 6298 (5.1): start the timer when data goes out with
		 * none outstanding — which also retires a persist deadline
		 * set while the window was shut. */
		if (!c->rto_at || idle)
			tcp_rearm_rto(core, c);
		if (fin)
			break;
	}

	if (c->rec & REC_TLP_NOW) {
		c->rec &= (uint16_t)~REC_TLP_NOW;
		if (c->snd_max == sent_new && !tlp_retransmit(core, c))
			return false;
		/* §7.3: the RTO runs from the probe. */
		c->rto_at = tcp_dl(core->now + tcp_rto_ns(c));
		theap_update(core, c);
	} else if (seq_gt(c->snd_max, sent_new)) {
		/* §7.2: new data went: the probe waits from now. */
		tcp_arm_pto(core, c);
		theap_update(core, c);
	}
	/* The window, not the app, is what stops us: cwnd may grow on the
	 * next ACKs (RFC 7661 §4.3's cwnd-limited test). */
	if (inflight + smss > c->cc.cwnd)
		c->rec |= REC_CWND_LIMITED;
	else
		c->rec &= (uint16_t)~REC_CWND_LIMITED;

	if (c->flags & TF_PROBE) {
		/* A zero-window or keep-alive probe: an ACK one below
		 * SND.UNA, which the peer must answer with its window (RFC
		 * 9293 §3.8.6.1; the keep-alive form carries no data to
		 * lose). */
		if (!send_ack(core, c, c->snd_una - 1))
			return false;
	}
	if ((c->flags & TF_DACK) && !(c->flags & TF_ACK_NOW)) {
		/* RFC 9293 §3.8.6.3: ACK at least every second full-sized
		 * segment; otherwise wait up to the delayed-ACK time for
		 * data to carry it. */
		if (tcp_rcv_unacked(c) >= 2u * (core->mss - tcp_opt_len(c)) ||
		    !core->cfg.delack_ns) {
			c->flags |= TF_ACK_NOW;
		} else if (tcp_quick_left(c)) {
			/* After a loss: every segment ACKed at once, for a
			 * while (tcp_conn.h). */
			tcp_quick_set(c, tcp_quick_left(c) - 1);
			c->flags |= TF_ACK_NOW;
		} else if (!c->dack_at) {
			c->dack_at = tcp_dl(core->now + core->cfg.delack_ns);
			theap_update(core, c);
		}
	}
	/* A pure ACK carries the highest sequence sent: after an RTO
	 * rewound SND.NXT, a lower one would fall left of the peer's
	 * RCV.NXT and be dropped unread — with both sides retransmitting,
	 * neither would ever see the other's ACKs (Linux:
	 * tcp_acceptable_seq). */
	if ((c->flags & TF_ACK_NOW) && !send_ack(core, c, c->snd_max))
		return false;
	/* Data waits on a zero window with nothing in flight: the persist
	 * timer (the retransmission timer, see tcp_timer.c) probes it. */
	if (c->snd_una == c->snd_max && !c->rto_at &&
	    c->snd_nxt - c->snd_buf_seq < tcp_snd(c)->len) {
		c->rto_at = tcp_dl(core->now + tcp_rto_ns(c));
		theap_update(core, c);
	}
	return true;
}
