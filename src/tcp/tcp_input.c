/*
 * tcp_input.c — SEGMENT ARRIVES (RFC 9293 §3.10.7), in the order the RFC
 * gives: no connection (§3.10.7.1), LISTEN (§3.10.7.2), and the other states
 * SYN-SENT (§3.10.7.3), and the other states (§3.10.7.4) step by step.
 *
 * Effects on the connection are recorded in its flags (TF_ACK_NOW,
 * TF_READABLE, ...) and carried out by core_flush() once per batch, so a
 * burst of segments gets one ACK and one app callback.
 */
#include <errno.h>

#include "core/core_priv.h"
#include "tcp/tcp_challenge.h"
#include "tcp/tcp_seq.h"
#include "tcp/tcp_syncookie.h"
#include "tundra/app.h"

static void conn_input(struct core *core, struct tcp_conn *c,
		       struct tcp_seg *seg);

/* RFC 9293 §3.10.7.2: LISTEN. */
static void listen_input(struct core *core, struct tcp_seg *seg, uint64_t hash,
			 const struct core_listener *l)
{
	struct tcp_conn *c;
	int app;

	/* First, check for a RST: ignore it. */
	if (seg->flags & TCP_RST) {
		core_drop(core, DROP_TCP_LISTEN_BAD);
		return;
	}
	/* The listener's app by its index in this core's table, for the
	 * connection this segment may make. */
	app = core_app_idx(core, l->app);
	if (app < 0) {
		core_drop(core, DROP_TCP_NO_MEMORY);
		return;
	}
	/* Second, an ACK is bad: <SEQ=SEG.ACK><CTL=RST> — unless it brings
	 * back a SYN cookie (RFC 4987 §3.6), which makes the connection the
	 * SYN-ACK did not; the ACK then completes the handshake through the
	 * SYN-RECEIVED path like any other. */
	if (seg->flags & TCP_ACK) {
		if (!(seg->flags & TCP_SYN) && tcp_syncookie_recent(core)) {
			bool valid;

			c = tcp_syncookie_check(core, seg, hash, &valid);
			if (c) {
				c->app_idx = (uint8_t)app;
				c->app_data = (uintptr_t)l->arg;
				conn_input(core, c, seg);
				return;
			}
			/* Valid but no room: counted, no RST. Not valid:
			 * dropped without the RST Linux sends, because
			 * while cookies are out such an ACK is most often
			 * a later segment of a cookie connection whose
			 * first one (the only one at SEQ = IRS + 1, the
			 * only one that validates) was lost or reordered:
			 * a RST would kill it, silence lets the peer's
			 * retransmission of that first segment open it. It
			 * also keeps an ACK flood from being reflected as
			 * a RST flood. */
			if (!valid)
				core_drop(core, DROP_TCP_BAD_COOKIE);
			return;
		}
		core_drop(core, DROP_TCP_LISTEN_BAD);
		tcp_respond_rst(core, seg);
		return;
	}
	/* Fourth, anything but a SYN is dropped. */
	if (!(seg->flags & TCP_SYN)) {
		core_drop(core, DROP_TCP_LISTEN_BAD);
		return;
	}
	/* Third, the SYN. The table is full (max_conns): drop it, no RST,
	 * cookie or not — as Linux drops a SYN whose listener's accept
	 * queue is full (tcp_conn_request) — since the handshake could not
	 * make a connection anyway. The peer retransmits, and TIME-WAIT
	 * and closing connections make room meanwhile. */
	if (!core_conn_room(core)) {
		core_drop(core, DROP_TCP_CONN_LIMIT);
		return;
	}
	/* With its listener's SYN queue (the connections of this core in
	 * SYN-RECEIVED on this port) full, or cookies forced, the answer is
	 * a cookie and no state; without cookies the SYN is dropped, as
	 * Linux drops it, and the peer's retransmission may find room. */
	if (core->cfg.syncookies == CORE_SYNCOOKIES_ALWAYS ||
	    (core->synq && core->synq[seg->dport] >= core->cfg.syn_backlog)) {
		if (core->cfg.syncookies == CORE_SYNCOOKIES_OFF)
			core_drop(core, DROP_TCP_SYNQ_FULL);
		else
			tcp_syncookie_send(core, seg, hash);
		return;
	}
	/* A new connection in SYN-RECEIVED. Data on the SYN is not queued
	 * (the peer sends it again after the handshake). */
	c = core_conn_new(core, seg, hash);
	if (!c) {
		core_drop(core, DROP_TCP_NO_MEMORY);
		return;
	}
	c->app_idx = (uint8_t)app;
	c->app_data = (uintptr_t)l->arg;
	if (core->synq) {
		c->flags |= TF_SYNQ;
		core->synq[seg->dport]++;
	}
	core_schedule(core, c); /* the SYN-ACK goes out at the flush */
}

/* The handshake is complete (either side opened): tell the app. false if
 * the app refused and the connection is gone. */
static bool tcp_established(struct core *core, struct tcp_conn *c)
{
	void *arg = (void *)(uintptr_t)c->app_data;

	core_synq_leave(core, c);
	tcp_set_state(c, TCPS_ESTABLISHED);
	tcp_cc_init(core, c); /* one segment if the handshake lost one */
	stat_add(core->stats.conns_active, 1);
	if (c->flags & TF_ACTIVE)
		stat_add(core->stats.conns_connected, 1);
	else
		stat_add(core->stats.conns_accepted, 1);
	c->flags |= TF_APP;
	if (c->flags & TF_KEEPALIVE)
		tcp_keepalive_reset(core, c);
	c->app_data = 0; /* the app's from here on */
	if (tcp_app(c)->accepted &&
	    tcp_app(c)->accepted((struct tundra_conn *)c, arg) < 0) {
		tundra_conn_abort((struct tundra_conn *)c);
		return false;
	}
	return true;
}

static void enter_time_wait(struct core *core, struct tcp_conn *c)
{
	tcp_set_state(c, TCPS_TIME_WAIT);
	if (c->side) { /* no keep-alive in TIME-WAIT */
		free(c->side->ka);
		c->side->ka = NULL;
		tcp_side_put(c);
	}
	c->flags &= ~TF_KEEPALIVE;
	/* Everything we sent is acknowledged, so the retransmission
	 * timer's deadline is free: it times TIME-WAIT instead. */
	c->rto_at = tcp_dl(core->now + core->cfg.time_wait_ns);
	theap_update(core, c);
}

/* §3.10.7.4 first: the acceptability test of the table in that
 * section. */
static bool seq_acceptable(const struct tcp_conn *c, const struct tcp_seg *seg,
			   uint32_t wnd)
{
	uint32_t seglen = tcp_seg_len(seg);
	uint32_t end = c->rcv_nxt + wnd;

	if (seglen == 0) {
		if (wnd == 0)
			return seg->seq == c->rcv_nxt;
		return seq_in(seg->seq, c->rcv_nxt, end);
	}
	if (wnd == 0)
		return false;
	return seq_in(seg->seq, c->rcv_nxt, end) ||
	       seq_in(seg->seq + seglen - 1, c->rcv_nxt, end);
}

/* Process SEG.ACK in a synchronized state (§3.10.7.4 fifth, ESTABLISHED
 * and the states that refer to it). false: drop the segment. */
static bool ack_input(struct core *core, struct tcp_conn *c,
		      const struct tcp_seg *seg)
{
	uint32_t ack = seg->ack;
	uint32_t una = c->snd_una; /* before this ACK */

	/* "If the ACK acks something not yet sent (SEG.ACK > SND.NXT),
	 * then send an ACK, drop the segment". SND.NXT here is the highest
	 * we ever sent: after a rewind the peer may ack beyond snd_nxt. */
	if (seq_gt(ack, c->snd_max)) {
		c->flags |= TF_ACK_NOW;
		core_drop(core, DROP_TCP_BAD_ACK);
		return false;
	}
	if (seq_gt(ack, c->snd_una)) {
		uint32_t acked = ack - c->snd_una;
		uint32_t old_una = c->snd_una;
		const struct tcp_sb *sb = tcp_sb(c);
		uint32_t fack = sb ? sb->r[sb->n - 1].end : old_una;

		/* Count data only: not the SYN, nor our FIN. */
		if (c->snd_una == c->iss)
			acked--;
		if ((c->flags & TF_FIN_SENT) &&
		    ack == c->snd_buf_seq + tcp_snd(c)->len + 1)
			acked--;
		if (ack - c->iss < old_una - c->iss)
			c->snd_wraps++; /* for tcp_bytes_acked() */
		c->snd_una = ack;
		/* Keep the Nagle mark within reach of the sequence
		 * helpers: once acknowledged it only needs to trail. */
		if (c->io && seq_lt(c->io->snd_sml, ack))
			c->io->snd_sml = ack;
		tcp_sndbuf_release(core, c);
		/* RFC 7323 §4.1: RTTM from the echoed timestamp of any ACK
		 * that acknowledges new data (which also counts the time the
		 * peer held the ACK). Our TSval ticks in ms, so 0 or 1 only
		 * says "under 2 ms": fed to SRTT it would drag a
		 * sub-millisecond path's estimate to 0 or up to 1 ms, and the
		 * timers that scale with it (the tail loss probe, the
		 * reordering window) go wrong. There the timed segment (one
		 * per RTT, never a resent one: Karn) measures with the
		 * clock's resolution, and a coarse echo still undoes a
		 * timeout's back-off (RFC 6298 (5.7)). */
		uint32_t ms = UINT32_MAX;

		if ((c->flags & TF_TS) && seg->opts.has_ts && seg->opts.tsecr)
			ms = tcp_ts_now(core, c) - seg->opts.tsecr;
		if (ms >= 2 && ms < 60000) {
			tcp_rtt_sample(c, ms * 1000000ull);
			c->flags &= ~TF_RTT_TIMING;
		} else if ((c->flags & TF_RTT_TIMING) &&
			   seq_geq(ack, c->io->rtt_seq)) {
			c->flags &= ~TF_RTT_TIMING;
			tcp_rtt_sample(c, tcp_since_us(core, c->io->rtt_ts));
		} else if (ms < 2 && (c->flags & TF_HAVE_RTT)) {
			tcp_rto_reset(c);
		}
		tcp_io_put(c); /* the timing may have been all it held */
		if (seq_lt(c->snd_nxt, ack))
			c->snd_nxt = ack;
		c->retries = 0;
		tcp_rearm_rto(core, c);
		if (c->flags & TF_SACK) {
			tcp_reorder_seen(core, c, old_una, fack);
			tcp_sack_update(core, c, seg);
			tcp_sack_advance(c);
		}
		tcp_recovery_newack(core, c, seg, acked, fack);
	} else if (ack == c->snd_una && c->snd_una != c->snd_max &&
		   TCPS_HAVE_ESTABLISHED(c->state)) {
		uint32_t before = tcp_sb(c) ? tcp_sb(c)->sacked : 0;

		if (c->flags & TF_SACK) {
			/* RFC 6675 §2: with SACK, a duplicate ACK is one
			 * that SACKs data not SACKed before; an ACK that
			 * only repeats (a duplicated segment, a DSACK)
			 * tells of no loss. */
			if (seg->opts.nsack)
				tcp_sack_update(core, c, seg);
			if (tcp_sb(c) && tcp_sb(c)->sacked != before)
				tcp_recovery_dupack(core, c);
		} else if (!seg->len && !(seg->flags & (TCP_SYN | TCP_FIN)) &&
			   ((uint32_t)seg->wnd << c->snd_wscale) ==
				   c->snd_wnd) {
			/* RFC 5681 §2: no data, no SYN or FIN, the same
			 * ACK and window, while data is outstanding. */
			tcp_recovery_dupack(core, c);
		}
	}
	/* The peer answers: a persist probe is not a failed retry. */
	if (c->snd_una == c->snd_max)
		c->retries = 0;
	/* Window update (§3.10.7.4 fifth): only from a segment no older
	 * than the one that last set it. The RFC's SND.WL2 =< SEG.ACK for
	 * equal sequence numbers is SND.UNA =< SEG.ACK here, with no WL2 to
	 * keep: WL2 is the ACK of the last update, which SND.UNA has since
	 * reached, so WL2 =< SND.UNA always, and the section updates the
	 * window only if SND.UNA =< SEG.ACK anyway. The test differs only
	 * for an older ACK (WL2 =< SEG.ACK < SND.UNA): its window is
	 * stale, and it is not taken. */
	if (seq_lt(c->snd_wl1, seg->seq) ||
	    (c->snd_wl1 == seg->seq && seq_leq(una, ack))) {
		uint32_t old = c->snd_wnd;

		c->snd_wnd = (uint32_t)seg->wnd << c->snd_wscale;
		c->snd_wl1 = seg->seq;
		if (c->snd_wnd > old)
			core_schedule(core, c);
	}
	return true;
}

/* Our FIN is acknowledged once SND.UNA passed it. */
static inline bool fin_acked(const struct tcp_conn *c)
{
	return (c->flags & TF_FIN_SENT) &&
	       c->snd_una == c->snd_buf_seq + tcp_snd(c)->len + 1;
}

/* RFC 2883 §4: [start, end) arrived again; the next ACK reports it in a
 * D-SACK block, its first, so the sender can tell a spurious
 * retransmission (or a duplicating path) from a loss. Only the first
 * duplicate before that ACK is kept: a later one is reported by the ACK
 * it triggers. Without memory for the side structure there is no D-SACK:
 * it is advice, the sender copes. */
static void dsack_note(struct tcp_conn *c, uint32_t start, uint32_t end)
{
	struct tcp_side *x;

	if (!(c->flags & TF_SACK) || (c->flags & TF_DSACK))
		return;
	x = tcp_side_get(c);
	if (!x)
		return;
	c->flags |= TF_DSACK;
	x->dsack_start = start;
	x->dsack_end = end;
}

/* A loss showed at this end: quick ACKs for what follows (tcp_conn.h). */
static void quick_arm(const struct core *core, struct tcp_conn *c)
{
	tcp_quick_set(c, core->rcvbuf_cap / (2u * core->mss));
}

/* §3.10.7.4 seventh: segment text. In-order bytes join the stream;
 * later ones are held (tcp_reass.c) and SACKed. Returns true when a held
 * FIN became next in sequence. */
static bool data_input(struct core *core, struct tcp_conn *c,
		       struct tcp_seg *seg)
{
	enum drop_reason r;
	uint32_t n, ds, de;

	if (!TCPS_CAN_RECV_DATA(c->state)) {
		/* CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer's FIN
		 * came first; ignore the text. */
		core_drop(core, DROP_TCP_AFTER_FIN);
		seg->flags &= ~TCP_FIN;
		return false;
	}
	if (!tcp_rcvbuf_get(c, core->rcvbuf_cap)) {
		core_drop(core, DROP_TCP_NO_MEMORY);
		seg->flags &= ~TCP_FIN;
		return false;
	}
	/* Some of it repeats bytes held beyond a hole (RFC 2883 §4): held
	 * out of order, the block that holds them becomes the newest and is
	 * reported right after the D-SACK block (§4.1.3); in order, it
	 * fills the hole and reaches into them. */
	if (tcp_reass_dup(c, seg->seq, seg->len, &ds, &de))
		dsack_note(c, ds, de);
	if (seg->seq != c->rcv_nxt) {
		/* Later than RCV.NXT (earlier bytes were trimmed): hold it.
		 * RFC 5681 §4.2: an out-of-order segment is acknowledged at
		 * once (the duplicate ACK, with SACK blocks). */
		r = tcp_reass_insert(core, c, seg->seq, seg->data, seg->len,
				     seg->flags & TCP_FIN);
		if (r != DROP_NONE)
			core_drop(core, r);
		seg->flags &= ~TCP_FIN;
		c->flags |= TF_ACK_NOW | TF_SACK_NOW;
		quick_arm(core, c);
		return false;
	}
	n = bbuf_write(&c->io->rcv, seg->data, seg->len);
	tcp_rcv_advance(c, n);
	c->io->rcv_unacked += n;
	if (n < seg->len)
		seg->flags &= ~TCP_FIN; /* the FIN is beyond what we took */
	c->flags |= TF_DACK | TF_READABLE;
	if (tcp_ooo(c)) {
		/* RFC 5681 §4.2: a segment that fills a hole is ACKed at
		 * once. */
		c->flags |= TF_ACK_NOW;
		if (tcp_reass_advance(c)) {
			seg->flags &= ~TCP_FIN;
			return true;
		}
	}
	return false;
}

/* §3.10.7.4 eighth: the FIN. */
static void fin_input(struct core *core, struct tcp_conn *c)
{
	/* Only the first FIN has a sequence number: the peer's stream
	 * ended there. Another one at RCV.NXT (text after a FIN is
	 * ignored the same way in data_input) must not move RCV.NXT past
	 * anything the peer sent; it is acknowledged, and restarts
	 * TIME-WAIT, like a retransmission. */
	if (!(c->flags & TF_RCVD_FIN))
		tcp_rcv_advance(c, 1);
	/* The FIN ends the peer's stream: whatever is still held beyond it
	 * is not data (a broken or hostile peer sent it), so it is neither
	 * kept nor SACKed any more. */
	tcp_reass_free(c);
	c->flags |= TF_ACK_NOW | TF_READABLE | TF_RCVD_FIN;
	switch (c->state) {
	case TCPS_SYN_RECEIVED:
	case TCPS_ESTABLISHED:
		tcp_set_state(c, TCPS_CLOSE_WAIT);
		break;
	case TCPS_FIN_WAIT_1:
		/* Our FIN is not yet acked (else we would be in
		 * FIN-WAIT-2). */
		tcp_set_state(c, TCPS_CLOSING);
		break;
	case TCPS_FIN_WAIT_2:
		enter_time_wait(core, c);
		break;
	case TCPS_TIME_WAIT:
		enter_time_wait(core, c); /* restart the 2 MSL timeout */
		break;
	default:
		break; /* CLOSE-WAIT, CLOSING, LAST-ACK: remain */
	}
}

/* RFC 9293 §3.10.7.3: SYN-SENT. */
static void syn_sent_input(struct core *core, struct tcp_conn *c,
			   struct tcp_seg *seg)
{
	bool ack_ok = false;

	/* First, check the ACK bit: it must cover our SYN and nothing
	 * more (ISS < SEG.ACK =< SND.NXT). */
	if (seg->flags & TCP_ACK) {
		if (!seq_in_open_closed(seg->ack, c->iss, c->snd_max)) {
			core_drop(core, DROP_TCP_BAD_ACK);
			tcp_respond_rst(core, seg); /* not for a RST */
			return;
		}
		ack_ok = true;
	}
	/* Second, the RST bit: with an acceptable ACK, the peer refused
	 * (RFC 5961 §3.2 leaves SYN-SENT to this check). */
	if (seg->flags & TCP_RST) {
		if (ack_ok) {
			stat_add(core->stats.conns_refused, 1);
			core_conn_close(core, c, -ECONNREFUSED);
		} else {
			core_drop(core, DROP_TCP_RST_BAD_SEQ);
		}
		return;
	}
	/* Fourth, the SYN bit. */
	if (!(seg->flags & TCP_SYN)) {
		core_drop(core, DROP_TCP_NO_ACK);
		return;
	}
	c->irs = seg->seq;
	c->rcv_nxt = seg->seq + 1;
	c->last_ack_sent = c->rcv_nxt;
	tcp_syn_options(core, c, seg);
	tcp_set_first_window(core, c);
	c->snd_wnd = seg->wnd; /* never scaled in a SYN (RFC 7323 §2.2) */
	c->snd_wl1 = seg->seq;
	c->retries = 0;
	if (ack_ok) {
		/* Our SYN is acknowledged: ESTABLISHED, ACK the SYN. */
		c->snd_una = seg->ack;
		c->snd_nxt = seq_max(c->snd_nxt, c->snd_una);
		/* The SYN's round trip (never a resent SYN: Karn), with or
		 * without timestamps: left for later, a coarse echo on the
		 * first data's ACK would fall back to this timing and
		 * measure the idle time before that data too. */
		if (c->flags & TF_RTT_TIMING) {
			c->flags &= ~TF_RTT_TIMING;
			tcp_rtt_sample(c, tcp_since_us(core, c->io->rtt_ts));
			tcp_io_put(c);
		}
		tcp_rearm_rto(core, c);
		c->flags |= TF_ACK_NOW;
		if (!tcp_established(core, c))
			return; /* the app refused: aborted and gone */
	} else {
		/* Simultaneous open (§3.5 figure 8): SYN-RECEIVED, and our
		 * SYN goes again with an ACK: <SEQ=ISS><ACK=RCV.NXT>. */
		tcp_set_state(c, TCPS_SYN_RECEIVED);
		c->snd_nxt = c->iss;
	}
	core_schedule(core, c);
}

/*
 * A duplicate ACK that the path reordered behind a newer one carries an
 * older timestamp, and PAWS would drop it — with the SACK information
 * loss recovery needs. Like Linux's tcp_disordered_ack, let it through
 * when it can change nothing else: no data, no SYN or FIN, at RCV.NXT,
 * acking SND.UNA, the same window, and not older than about an RTO.
 */
static bool disordered_ack(const struct tcp_conn *c, const struct tcp_seg *seg)
{
	return (seg->flags & TCP_ACK) && !seg->len &&
	       !(seg->flags & (TCP_SYN | TCP_FIN)) && seg->seq == c->rcv_nxt &&
	       seg->ack == c->snd_una &&
	       ((uint32_t)seg->wnd << c->snd_wscale) == c->snd_wnd &&
	       c->ts_recent - seg->opts.tsval <= tcp_rto_ns(c) / 1000000;
}

/* RFC 9293 §3.10.7.4: every state from SYN-RECEIVED on. */
static void conn_input(struct core *core, struct tcp_conn *c,
		       struct tcp_seg *seg)
{
	uint32_t wnd = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt
						      : 0;

	/* A retransmitted SYN in SYN-RECEIVED means our SYN-ACK was lost:
	 * send it again (as Linux does) rather than a bare ACK the peer in
	 * SYN-SENT would ignore. */
	if (c->state == TCPS_SYN_RECEIVED && (seg->flags & TCP_SYN) &&
	    !(seg->flags & TCP_ACK) && seg->seq == c->irs) {
		c->snd_nxt = c->iss;
		core_schedule(core, c);
		return;
	}

	/* A peer that closed after our FIN-less data crossed its own FIN
	 * resets with the sequence number of that FIN, one below RCV.NXT:
	 * accept that as exact, as Linux does (tcp_reset_check), or
	 * teardown waits for a later reset. */
	if ((seg->flags & TCP_RST) && seg->seq == c->rcv_nxt - 1 &&
	    (c->state == TCPS_CLOSE_WAIT || c->state == TCPS_CLOSING ||
	     c->state == TCPS_LAST_ACK))
		seg->seq = c->rcv_nxt;

	/* Simultaneous open (RFC 9293 §3.5 figure 8): in SYN-RECEIVED the
	 * peer's SYN-ACK repeats its SYN at IRS, one left of RCV.NXT. The
	 * SYN is old news; its ACK completes the handshake (Linux accepts
	 * it the same way in tcp_validate_incoming). */
	if (c->state == TCPS_SYN_RECEIVED && (c->flags & TF_ACTIVE) &&
	    (seg->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) &&
	    seg->seq == c->irs) {
		seg->flags &= ~TCP_SYN;
		seg->seq++;
	}

	/* RFC 5961 §4: a SYN is answered "irrespective of the sequence
	 * number", so remember it before trimming could cut it away. */
	bool syn = seg->flags & TCP_SYN;

	/* RFC 7323 §5.3 R1 (PAWS), before the sequence check: a segment
	 * whose timestamp is older than TS.Recent is an old duplicate.
	 * TS.Recent older than 24 days is invalid (§5.5). */
	if ((c->flags & TF_TS) && seg->opts.has_ts && !(seg->flags & TCP_RST) &&
	    (int32_t)(seg->opts.tsval - c->ts_recent) < 0 &&
	    tcp_now_s(core) - c->ts_recent_s < 24u * 86400 &&
	    !disordered_ack(c, seg)) {
		c->flags |= TF_ACK_NOW;
		core_drop(core, DROP_TCP_PAWS);
		core_schedule(core, c);
		return;
	}

	/* First, check the sequence number. */
	if (!seq_acceptable(c, seg, wnd)) {
		/* A zero window still takes valid ACKs and RSTs at
		 * RCV.NXT: keep the control part, drop the text. */
		if (wnd == 0 && seg->seq == c->rcv_nxt) {
			seg->len = 0;
			seg->flags &= ~(TCP_FIN | TCP_SYN);
			c->flags |= TF_ACK_NOW;
		} else {
			if (!(seg->flags & TCP_RST))
				c->flags |= TF_ACK_NOW;
			/* Data we already had, all of it. */
			if (seg->len &&
			    seq_leq(seg->seq + seg->len, c->rcv_nxt) &&
			    c->rcv_nxt - seg->seq <= core->rcvbuf_cap + seg->len) {
				dsack_note(c, seg->seq, seg->seq + seg->len);
				/* A resend of what we had: our ACK was
				 * lost or late, the sender is recovering. */
				quick_arm(core, c);
			}
			core_drop(core, DROP_TCP_NOT_ACCEPTABLE);
			core_schedule(core, c);
			return;
		}
	}
	/* Trim to the window: what precedes RCV.NXT is a duplicate ... */
	if (seq_lt(seg->seq, c->rcv_nxt)) {
		uint32_t d = c->rcv_nxt - seg->seq;

		if (seg->flags & TCP_SYN) {
			/* The SYN occupies the first number: drop it and
			 * start the text one later. */
			seg->flags &= ~TCP_SYN;
			seg->seq++;
			d--;
		}
		d = MIN(d, seg->len);
		/* Its first d bytes we already had (RFC 2883 §4). */
		if (d)
			dsack_note(c, seg->seq, seg->seq + d);
		seg->data += d;
		seg->len -= d;
		seg->seq += d;
		c->flags |= TF_ACK_NOW;
	}
	/* ... and what goes past its right edge is not ours to keep. */
	if (seg->len && seq_gt(seg->seq + seg->len, c->rcv_nxt + wnd)) {
		seg->len = c->rcv_nxt + wnd - seg->seq;
		seg->flags &= ~TCP_FIN;
		c->flags |= TF_ACK_NOW;
	}
	/* The ACK asked for above goes at this flush even if a later step
	 * drops the segment and returns (no ACK bit, a bad ACK in
	 * SYN-RECEIVED): a flag left without the schedule would wait for
	 * some unrelated flush. */
	if (c->flags & TF_ACK_NOW)
		core_schedule(core, c);

	/* RFC 7323 §4.3 (R3): remember the timestamp of a segment that
	 * covers the last ACK we sent. */
	if ((c->flags & TF_TS) && seg->opts.has_ts &&
	    seq_leq(seg->seq, c->last_ack_sent)) {
		c->ts_recent = seg->opts.tsval;
		c->ts_recent_s = tcp_now_s(core);
	}
	/* Anything from the peer restarts the keep-alive idle time. */
	if (c->flags & TF_KEEPALIVE)
		tcp_keepalive_reset(core, c);

	/* Second, check the RST bit (RFC 5961 §3.2): exactly RCV.NXT resets,
	 * anywhere else in the window earns a challenge ACK. */
	if (seg->flags & TCP_RST) {
		if (seg->seq != c->rcv_nxt) {
			core_drop(core, DROP_TCP_RST_BAD_SEQ);
			tcp_challenge_ack(core, c);
			return;
		}
		/* In SYN-RECEIVED (passive), CLOSING, LAST-ACK and
		 * TIME-WAIT the connection just goes; elsewhere the app is
		 * told it was reset. */
		stat_add(core->stats.conns_reset, 1);
		/* RFC 9293 §3.10.7.4 second: in SYN-RECEIVED from an active
		 * (simultaneous) open the user learns "connection
		 * refused". */
		if (c->state == TCPS_SYN_RECEIVED && (c->flags & TF_ACTIVE)) {
			core_conn_close(core, c, -ECONNREFUSED);
			return;
		}
		switch (c->state) {
		case TCPS_SYN_RECEIVED:
		case TCPS_CLOSING:
		case TCPS_LAST_ACK:
		case TCPS_TIME_WAIT:
			core_conn_close(core, c, 0);
			break;
		default:
			core_conn_close(core, c, -ECONNRESET);
			break;
		}
		return;
	}

	/* Third, security: not used. Fourth, a SYN in a synchronized state
	 * gets a challenge ACK (RFC 5961 §4.2, RFC 9293 §3.10.7.4); in
	 * SYN-RECEIVED from a passive open the connection goes back to
	 * LISTEN, i.e. away. */
	if (syn) {
		if (c->state == TCPS_SYN_RECEIVED) {
			core_conn_close(core, c, 0);
			return;
		}
		core_drop(core, DROP_TCP_BAD_FLAGS);
		tcp_challenge_ack(core, c);
		return;
	}

	/* Fifth, check the ACK field. */
	if (!(seg->flags & TCP_ACK)) {
		core_drop(core, DROP_TCP_NO_ACK);
		return;
	}
	if (c->state == TCPS_SYN_RECEIVED) {
		/* SND.NXT of the RFC is the highest we sent: a rewind for
		 * a SYN-ACK retransmission must not make the ACK of the
		 * first one unacceptable. */
		if (!seq_in_open_closed(seg->ack, c->snd_una, c->snd_max)) {
			/* <SEQ=SEG.ACK><CTL=RST> */
			core_drop(core, DROP_TCP_BAD_ACK);
			tcp_respond_rst(core, seg);
			return;
		}
		c->snd_wnd = (uint32_t)seg->wnd << c->snd_wscale;
		c->snd_wl1 = seg->seq;
		if (!tcp_established(core, c))
			return;
	}
	/* RFC 5961 §5.2: an ACK outside [SND.UNA - MAX.SND.WND, SND.NXT]
	 * is dropped with a challenge ACK: blind data injection needs an
	 * acceptable ACK too. */
	if (!tcp_challenge_ack_check(core, c, seg))
		return;
	if (!ack_input(core, c, seg)) {
		core_schedule(core, c);
		return;
	}
	switch (c->state) {
	case TCPS_FIN_WAIT_1:
		if (fin_acked(c))
			tcp_set_state(c, TCPS_FIN_WAIT_2);
		break;
	case TCPS_CLOSING:
		if (fin_acked(c))
			enter_time_wait(core, c);
		break;
	case TCPS_LAST_ACK:
		if (fin_acked(c)) {
			core_conn_close(core, c, 0);
			return;
		}
		break;
	default:
		break;
	}

	/* Sixth, the URG bit: urgent data is not supported and the pointer
	 * is ignored; the bytes are delivered in line (RFC 9293 §3.8.5
	 * allows no more than that). */

	/* Seventh, the segment text. */
	if (seg->len && data_input(core, c, seg)) {
		fin_input(core, c); /* a held FIN is now in sequence */
	} else if (seg->flags & TCP_FIN) {
		/* Eighth, the FIN: processed when it is next in sequence,
		 * held when it is later. */
		if (seg->seq + seg->len == c->rcv_nxt)
			fin_input(core, c);
		else if (TCPS_CAN_RECV_DATA(c->state) &&
			 seq_gt(seg->seq + seg->len, c->rcv_nxt)) {
			tcp_reass_insert(core, c, seg->seq + seg->len, NULL, 0,
					 true);
			c->flags |= TF_ACK_NOW;
		}
	}

	if (c->flags & (TF_ACK_NOW | TF_DACK | TF_READABLE | TF_WRITABLE))
		core_schedule(core, c);
}

void tcp_input(struct core *core, struct tcp_seg *seg, uint64_t hash)
{
	struct tcp_conn *c;
	const struct core_listener *l;

	TP_SEG_IN(seg->saddr, seg->sport, seg->daddr, seg->dport, seg->seq,
		  seg->ack, seg->flags, seg->len);
	c = ctab_lookup(core, hash, seg->saddr, seg->sport, seg->dport);

	/* RFC 9293 §3.10.7.4 / RFC 6191: a new SYN for a connection in
	 * TIME-WAIT, above what the old incarnation used, may reopen it. */
	if (c && c->state == TCPS_TIME_WAIT && (seg->flags & TCP_SYN) &&
	    !(seg->flags & TCP_ACK) && seq_gt(seg->seq, c->rcv_nxt)) {
		core_conn_close(core, c, 0);
		c = NULL;
	}
	if (c) {
		if (c->state == TCPS_SYN_SENT)
			syn_sent_input(core, c, seg);
		else
			conn_input(core, c, seg);
		return;
	}
	l = core->env.listener_lookup(core->env.ctx, seg->dport);
	if (l) {
		listen_input(core, seg, hash, l);
		return;
	}
	/* RFC 9293 §3.10.7.1: CLOSED. */
	core_drop(core, DROP_TCP_NO_LISTENER_RST);
	tcp_respond_rst(core, seg);
}
