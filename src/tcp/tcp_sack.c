/*
 * tcp_sack.c — loss recovery on the sending side.
 *
 * - The SACK scoreboard (RFC 6675 §3) from the peer's SACK blocks (RFC
 *   2018), DSACK blocks (RFC 2883) recognised and left out.
 * - RFC 6675's IsLost / pipe / NextSeg, which drive fast recovery; a peer
 *   without SACK gets NewReno (RFC 6582): each duplicate ACK stands for one
 *   segment that left the network, and a partial ACK marks the next
 *   segment lost.
 * - Entering recovery (RFC 5681 §3.2 / RFC 6675 §5), leaving it (RFC 6582
 *   §3.2 step 3), the response to a timeout (RFC 5681 §3.1, RFC 6298
 *   §5), and undoing a reduction that was spurious (Eifel detection with
 *   timestamps, RFC 3522; response as RFC 4015).
 *
 * Small windows: limited transmit (RFC 3042) and early retransmit (RFC
 * 5827). Not here: RACK-TLP (RFC 8985), PRR (RFC 6937), DSACK-based undo.
 */
#include <stdlib.h>

#include "base/compiler.h"
#include "core/core_priv.h"
#include "tcp/tcp_seq.h"


static uint32_t sb_len(const struct tcp_sb *sb, unsigned i)
{
	return sb->r[i].end - sb->r[i].start;
}

/* Merge [s, e) into the sorted, disjoint ranges. When the table is full
 * the highest range is forgotten: that only makes us retransmit more. */
static void sb_insert(struct tcp_sb *sb, uint32_t s, uint32_t e)
{
	unsigned i = 0, j;

	while (i < sb->n && seq_lt(sb->r[i].end, s))
		i++;
	j = i;
	while (j < sb->n && seq_leq(sb->r[j].start, e)) {
		s = seq_min(s, sb->r[j].start);
		e = seq_max(e, sb->r[j].end);
		sb->sacked -= sb_len(sb, j);
		j++;
	}
	if (j == i) {
		/* No overlap: a new range at i. */
		if (sb->n == TCP_SB_MAX) {
			if (i == sb->n)
				return;
			sb->n--;
			sb->sacked -= sb_len(sb, sb->n);
		}
		memmove(&sb->r[i + 1], &sb->r[i], (sb->n - i) * sizeof(sb->r[0]));
		sb->n++;
	} else if (j > i + 1) {
		/* Ranges i..j-1 become one. */
		memmove(&sb->r[i + 1], &sb->r[j], (sb->n - j) * sizeof(sb->r[0]));
		sb->n = (uint8_t)(sb->n - (j - i - 1));
	}
	sb->r[i].start = s;
	sb->r[i].end = e;
	sb->sacked += e - s;
}

/* RFC 6675 HighRxt. It means something only in recovery (where the side
 * structure holds it, set when recovery begins); outside, nothing above
 * SND.UNA counts as retransmitted. */
static uint32_t high_rxt(const struct tcp_conn *c)
{
	return (c->rec & REC_RECOVERY) ? c->side->high_rxt : c->snd_una;
}

void tcp_sack_update(struct core *core, struct tcp_conn *c,
		     const struct tcp_seg *seg)
{
	bool pass = (c->rec & REC_RECOVERY) && seq_lt(c->snd_una, high_rxt(c));
	uint32_t before = pass ? tcp_sack_between(c, c->snd_una, high_rxt(c))
			       : 0;

	for (unsigned b = 0; b < seg->opts.nsack; b++) {
		uint32_t s = seg->opts.sack[b][0], e = seg->opts.sack[b][1];

		/* RFC 2883 §4: a block at or below the cumulative ACK is a
		 * DSACK (a duplicate arrived): it says nothing about holes.
		 * Blocks past what we sent, or empty, are bogus. */
		if (!seq_lt(s, e) || seq_leq(e, c->snd_una) ||
		    seq_gt(e, c->snd_max) || e - s > c->snd_max - c->snd_una) {
			/* RFC 8985 §7.4.1: a D-SACK for the probe says the
			 * original had arrived: no loss to respond to. */
			if ((c->rec & REC_TLP) && e == c->side->tlp_high &&
			    seq_leq(e, c->snd_una))
				c->rec |= REC_TLP_DSACK;
			stat_add(core->stats.sack_ignored, 1);
			continue;
		}
		if (seq_lt(s, c->snd_una))
			s = c->snd_una;
		if (!tcp_sb(c)) {
			struct tcp_side *x = tcp_side_get(c);

			if (x && !(x->sb = calloc(1, sizeof(*x->sb))))
				tcp_side_put(c);
			if (!tcp_sb(c))
				return; /* recovery goes on without SACK */
		}
		sb_insert(tcp_sb(c), s, e);
	}
	if (pass)
		c->side->pass_sacked += tcp_sack_between(c, c->snd_una,
							 high_rxt(c)) -
				  before;
}

void tcp_sack_advance(struct tcp_conn *c)
{
	struct tcp_sb *sb = tcp_sb(c);
	unsigned i = 0;

	if (!sb)
		return;
	while (i < sb->n && seq_leq(sb->r[i].end, c->snd_una)) {
		sb->sacked -= sb_len(sb, i);
		i++;
	}
	if (i) {
		memmove(&sb->r[0], &sb->r[i], (sb->n - i) * sizeof(sb->r[0]));
		sb->n = (uint8_t)(sb->n - i);
	}
	if (sb->n && seq_lt(sb->r[0].start, c->snd_una)) {
		sb->sacked -= c->snd_una - sb->r[0].start;
		sb->r[0].start = c->snd_una;
	}
	if (!sb->n) {
		free(sb);
		c->side->sb = NULL;
		tcp_side_put(c);
	}
}

void tcp_sack_free(struct tcp_conn *c)
{
	if (c->side) {
		free(c->side->sb);
		c->side->sb = NULL;
		free(c->side->undo);
		c->side->undo = NULL;
		tcp_side_put(c);
	}
}

/* SACKed bytes within [a, b). */
uint32_t tcp_sack_between(const struct tcp_conn *c, uint32_t a, uint32_t b)
{
	const struct tcp_sb *sb = tcp_sb(c);
	uint32_t n = 0;

	if (!sb || !seq_lt(a, b))
		return 0;
	for (unsigned i = 0; i < sb->n; i++) {
		uint32_t s = seq_max(sb->r[i].start, a);
		uint32_t e = seq_min(sb->r[i].end, b);

		if (seq_lt(s, e))
			n += e - s;
	}
	return n;
}

/*
 * RFC 6675 §4 IsLost(SeqNum): true when DupThresh discontiguous SACKed
 * sequences, or more than (DupThresh - 1) * SMSS SACKed bytes, lie above
 * it. Both counts only grow as SeqNum goes down, so the lost octets are
 * exactly the unSACKed ones below one boundary, which this returns. In
 * recovery the first unacknowledged segment counts as lost too (§5
 * (4.3); for NewReno the segment a partial ACK points at).
 */
static uint32_t lost_end(const struct tcp_conn *c)
{
	const struct tcp_sb *sb = tcp_sb(c);
	uint32_t l = c->snd_una, acc = 0;

	if (sb) {
		for (unsigned i = sb->n; i-- > 0;) {
			acc += sb_len(sb, i);
			if (acc > (c->reordering - 1u) * tcp_smss(c) ||
			    sb->n - i >= c->reordering) {
				l = sb->r[i].start;
				break;
			}
		}
	}
	if ((c->rec & REC_RECOVERY) && seq_leq(l, c->snd_una))
		l = c->snd_una + 1;
	return l;
}

/* RFC 6675 §4 SetPipe: octets in flight. Without SACK (RFC 6582), every
 * duplicate ACK stands for a segment that has left the network. */
uint32_t tcp_pipe(const struct tcp_conn *c)
{
	uint32_t out = c->snd_max - c->snd_una;
	uint32_t l, hr, lost, rexmit;

	if (!(c->flags & TF_SACK)) {
		uint32_t gone = (uint32_t)c->dupacks * tcp_smss(c);

		return out > gone ? out - gone : 0;
	}
	l = lost_end(c);
	if (seq_gt(l, c->snd_max))
		l = c->snd_max;
	/* Unsacked octets below the boundary are lost: not in flight ... */
	lost = (l - c->snd_una) - tcp_sack_between(c, c->snd_una, l);
	/* ... unless retransmitted: those below HighRxt are again. */
	hr = seq_gt(high_rxt(c), c->snd_una) ? seq_min(high_rxt(c), l)
					     : c->snd_una;
	rexmit = (hr - c->snd_una) - tcp_sack_between(c, c->snd_una, hr);
	return out - (tcp_sb(c) ? tcp_sb(c)->sacked : 0) - lost + rexmit;
}

/* Octets in flight outside recovery: sent from SND.UNA to SND.NXT (after
 * a timeout rewound SND.NXT, what lies above it is taken as lost), less
 * what the peer SACKed. */
uint32_t tcp_in_flight(const struct tcp_conn *c)
{
	if (c->rec & REC_RECOVERY)
		return tcp_pipe(c);
	return (c->snd_nxt - c->snd_una) -
	       tcp_sack_between(c, c->snd_una, c->snd_nxt);
}

bool tcp_next_lost(const struct tcp_conn *c, uint32_t *seq, uint32_t *len,
		   bool *fin)
{
	const struct tcp_sb *sb = tcp_sb(c);
	uint32_t l = lost_end(c);
	uint32_t s = seq_gt(high_rxt(c), c->snd_una) ? high_rxt(c) : c->snd_una;
	uint32_t hole_end = c->snd_max;
	uint32_t data_end = c->snd_buf_seq + tcp_snd(c)->len;
	unsigned i;

	/* RFC 6675 §4 NextSeg (1): the first octet above HighRxt that is
	 * not SACKed and is lost. */
	for (i = 0; sb && i < sb->n; i++) {
		if (seq_leq(sb->r[i].end, s))
			continue;
		if (seq_leq(sb->r[i].start, s)) {
			s = sb->r[i].end;
			continue;
		}
		hole_end = sb->r[i].start;
		break;
	}
	if (!seq_lt(s, l) || !seq_lt(s, c->snd_max))
		return false;
	*seq = s;
	if (seq_geq(s, data_end)) {
		/* Only our FIN is missing. */
		*len = 0;
		*fin = true;
		return true;
	}
	*len = MIN(tcp_smss(c), seq_min(hole_end, data_end) - s);
	*fin = (c->flags & TF_FIN_SENT) && s + *len == data_end &&
	       seq_gt(hole_end, data_end);
	return true;
}

/* Before a reduction: keep the window for an undo (RFC 3522), unless an
 * episode that may still prove spurious already kept the one before it.
 * The undo state is allocated here and freed when the episode is decided
 * (check_undo); without memory this reduction cannot be undone, which is
 * what a stack without RFC 3522 does. */
static void arm_undo(struct tcp_conn *c)
{
	if (!(c->rec & REC_UNDO)) {
		struct tcp_side *x = tcp_side_get(c);

		if (!x)
			return;
		if (!x->undo && !(x->undo = malloc(sizeof(*x->undo)))) {
			tcp_side_put(c);
			return;
		}
		x->undo->cc = c->cc;
		x->undo->tsval = 0;
		x->undo->entry_sacked = 0;
		c->rec |= REC_UNDO;
	}
}

/* The episode is decided: the undo state goes. */
static void drop_undo(struct tcp_conn *c)
{
	c->rec &= (uint16_t)~REC_UNDO;
	if (c->side) {
		free(c->side->undo);
		c->side->undo = NULL;
		tcp_side_put(c);
	}
}

/* RFC 6675 §5 (4) / RFC 5681 §3.2: fast retransmit, then recovery. */
static void enter_recovery(struct core *core, struct tcp_conn *c)
{
	struct tcp_side *x = tcp_side_get(c);

	/* Recovery keeps its state in the side structure. Without memory
	 * for it, no fast retransmit: the retransmission timer recovers
	 * (RFC 6298 §5), as for a loss too few duplicate ACKs show. The
	 * next duplicate ACK tries again. */
	if (!x)
		return;
	arm_undo(c);
	tcp_cc_on_loss(core, c);
	c->cc.cwnd = c->cc.ssthresh; /* (4.2) */
	c->recover = c->snd_max;      /* (4.1) RecoveryPoint = HighData */
	x->high_rxt = c->snd_una;
	x->rxt_mark = c->snd_max;
	x->rxt_at = tcp_now_us(core);
	x->pass_sacked = 0;
	c->rec |= REC_RECOVERY | REC_RXT_FIRST;
	if (x->undo) {
		uint32_t sacked = x->sb ? x->sb->sacked : 0;

		x->undo->entry_sacked = (uint8_t)MIN(
			sacked / tcp_smss(c) + c->dupacks, TCP_REORDER_MAX);
	}
	stat_add(core->stats.fast_recoveries, 1);
	TP_RECOVERY(c, c->raddr, c->rport, c->snd_una, c->cc.cwnd);
	core_schedule(core, c);
}

/* The duplicate ACKs that mean a loss. RFC 5827 §3.1 (early
 * retransmit): with fewer than four segments outstanding and nothing new
 * to send, that many duplicates can never come: one less than the
 * outstanding segments will do. */
static unsigned dupthresh(const struct tcp_conn *c)
{
	uint32_t smss = tcp_smss(c);
	uint32_t oseg = (c->snd_max - c->snd_una + smss - 1) / smss;
	bool unsent = c->snd_max - c->snd_buf_seq < tcp_snd(c)->len &&
		      seq_lt(c->snd_max, c->snd_una + c->snd_wnd);

	/* Not once reordering was seen (RFC 5827 §3.3). */
	if (c->reordering == TCP_DUPTHRESH && oseg >= 2 &&
	    oseg < TCP_DUPTHRESH + 1 && !unsent)
		return oseg - 1;
	return c->reordering;
}

static void maybe_enter_recovery(struct core *core, struct tcp_conn *c)
{
	if (c->rec & REC_RECOVERY || c->snd_una == c->snd_max)
		return;
	/* RFC 6582 §3.2 step 1 keeps the duplicate ACKs of a go-back-N
	 * resend from starting a recovery; with SACK the scoreboard tells
	 * what is really missing (RFC 6675), and a hole that shows up after
	 * the resend passed it must not wait for another timeout. */
	if (!(c->flags & TF_SACK) && (c->rec & REC_RTO_GUARD) &&
	    !seq_gt(c->snd_una, c->recover))
		return;
	if (c->dupacks >= dupthresh(c) || seq_gt(lost_end(c), c->snd_una))
		enter_recovery(core, c);
}

/* The congestion window the send loop may fill. RFC 3042 (limited
 * transmit): each of the first two duplicate ACKs lets one new segment
 * out, so a small window still produces the ACKs fast retransmit
 * needs. */
uint32_t tcp_send_cwnd(const struct tcp_conn *c)
{
	if (!(c->rec & REC_RECOVERY) && c->dupacks &&
	    c->dupacks < c->reordering)
		return c->cc.cwnd + c->dupacks * tcp_smss(c);
	return c->cc.cwnd;
}

/* Eifel detection (RFC 3522 §3.2): the first ACK for the retransmitted
 * segment echoes a timestamp older than the retransmission's: the
 * original arrived, the reduction was not needed. */
static void check_undo(struct core *core, struct tcp_conn *c,
		       const struct tcp_seg *seg, uint32_t fack)
{
	struct tcp_undo *u = tcp_undo(c);

	if (!(c->rec & REC_UNDO) || !u->tsval || !seq_gt(seg->ack, u->seq))
		return;
	if (!(c->flags & TF_TS) || !seg->opts.has_ts || !seg->opts.tsecr ||
	    !seq_lt(seg->opts.tsecr, u->tsval)) {
		drop_undo(c);
		return;
	}
	/* RFC 4015 §3 response: restore the window and go on sending new
	 * data; what is really missing shows up as a hole again. A
	 * spurious fast retransmit means the path reorders by more than
	 * DupThresh: raise it past what fooled us (as Linux's
	 * tcp_update_reordering). */
	if (c->rec & REC_RECOVERY) {
		/* The late segment arrived with data up to fack already
		 * SACKed: that is how far this path reorders. */
		uint32_t dist = seq_gt(fack, u->seq)
					? (fack - u->seq) / tcp_smss(c) + 1
					: 0;

		dist = MAX(dist, u->entry_sacked + 1u);
		if (dist > c->reordering) {
			c->reordering = (uint8_t)MIN(dist, TCP_REORDER_MAX);
			stat_add(core->stats.reorder_seen, 1);
		}
	}
	c->cc = u->cc;
	drop_undo(c);
	c->rec &= (uint16_t)~(REC_RECOVERY | REC_RXT_FIRST | REC_RTO_GUARD |
			      REC_REO_TIMER);
	c->dupacks = 0;
	if (seq_lt(c->snd_nxt, c->snd_max))
		c->snd_nxt = c->snd_max;
	stat_add(core->stats.undos, 1);
	core_schedule(core, c);
}

/* A hole below SACKed data filled without a retransmission: the
 * segment was late, not lost. The distance (in segments) to the highest
 * SACKed byte is how far this path reorders; DupThresh follows it. fack
 * is that highest byte before this ACK, una the old SND.UNA. */
void tcp_reorder_seen(struct core *core, struct tcp_conn *c, uint32_t una,
		      uint32_t fack)
{
	uint32_t dist;

	/* Only a segment we never resent proves reordering: below the
	 * highest retransmission (of this or an earlier pass, episode or
	 * timeout) the hole may have been filled by the resend itself;
	 * counting that as reordering would raise DupThresh to the whole
	 * window and stall every later recovery. */
	if (!seq_gt(fack, una) ||
	    ((c->rec & REC_RXT_HW) && seq_lt(una, c->side->rxt_hw)))
		return;
	dist = (fack - una) / tcp_smss(c) + 1;
	if (dist > c->reordering) {
		c->reordering = (uint8_t)MIN(dist, TCP_REORDER_MAX);
		stat_add(core->stats.reorder_seen, 1);
	}
}

/*
 * A retransmission can be lost too, and RFC 6675 alone would wait for
 * the RTO. SND.UNA still below HighRxt means the first retransmission of
 * this pass (the one at SND.UNA) is not acknowledged. It is lost when
 * something sent after it was delivered (the idea of RACK, RFC 8985 §6,
 * in sequence terms; Linux's former tcp_mark_lost_retrans):
 * - data sent after the pass began (above rxt_mark) SACKed, by more than
 *   the reordering allowance; or
 * - later retransmissions of the same pass SACKed (a pass resends in
 *   sequence order, so those went after it): a lost super-packet leaves
 *   a hole of many segments, and with the send buffer full nothing new
 *   goes out that could be SACKed above rxt_mark.
 * Then start a new pass from SND.UNA. As RACK does, only once an RTT and
 * a quarter (its reordering window) went by since the pass began: a
 * jittery path delivers later segments first.
 */
static void check_lost_rxt(struct core *core, struct tcp_conn *c)
{
	uint32_t fack, allow;
	uint64_t since;

	struct tcp_side *x = c->side;

	if (!(c->rec & REC_RECOVERY) || !tcp_sb(c) ||
	    !seq_lt(c->snd_una, x->high_rxt))
		return;
	fack = tcp_sb(c)->r[tcp_sb(c)->n - 1].end;
	allow = (c->reordering - 1u) * tcp_smss(c);
	if (!seq_gt(fack, x->rxt_mark + allow) && x->pass_sacked <= allow)
		return;
	since = tcp_since_us(core, x->rxt_at);
	if (since <= tcp_srtt_ns(c) + tcp_srtt_ns(c) / 4) {
		/* RFC 8985 §6.3: the evidence is in but the window is
		 * not over; the last SACK may already have come (nothing
		 * else is in flight), so a timer finishes the check. */
		c->pto_at = tcp_dl(core->now - since + tcp_srtt_ns(c) +
				   tcp_srtt_ns(c) / 4 + 1);
		c->rec |= REC_REO_TIMER;
		theap_update(core, c);
		return;
	}
	{
		c->rec &= (uint16_t)~REC_REO_TIMER;
		c->pto_at = 0;
		x->high_rxt = c->snd_una;
		x->rxt_mark = c->snd_max;
		x->rxt_at = tcp_now_us(core);
		x->pass_sacked = 0;
		stat_add(core->stats.lost_retransmits, 1);
		core_schedule(core, c);
	}
}

/*
 * RFC 8985 §7.4: the probe's episode ends when SND.UNA passes what was
 * outstanding when it went. Unless the peer reported the probe as a
 * duplicate (the original, or its ACK, had got through after all), the
 * probe repaired a loss: respond as a fast recovery would (§7.4.2),
 * without the retransmissions, which are done.
 */
static void tlp_episode(struct core *core, struct tcp_conn *c)
{
	if (!(c->rec & REC_TLP) || seq_lt(c->snd_una, c->side->tlp_high))
		return;
	if (!(c->rec & (REC_TLP_DSACK | REC_RECOVERY))) {
		tcp_cc_on_loss(core, c);
		c->cc.cwnd = c->cc.ssthresh;
		stat_add(core->stats.tlp_recoveries, 1);
	}
	c->rec &= (uint16_t)~(REC_TLP | REC_TLP_DSACK);
}

static void recovery_newack(struct core *core, struct tcp_conn *c,
			    const struct tcp_seg *seg, uint32_t acked,
			    uint32_t fack)
{
	uint32_t smss = tcp_smss(c);

	check_undo(core, c, seg, fack);
	tlp_episode(core, c);
	if ((c->rec & REC_RXT_HW) && seq_geq(c->snd_una, c->side->rxt_hw))
		c->rec &= (uint16_t)~REC_RXT_HW;
	if ((c->rec & REC_RTO_GUARD) && seq_gt(c->snd_una, c->recover))
		c->rec &= (uint16_t)~REC_RTO_GUARD;
	if (c->rec & REC_RECOVERY) {
		if (seq_geq(c->snd_una, c->recover)) {
			/* RFC 6582 §3.2 step 3, option (1): leave recovery
			 * with cwnd = min(ssthresh, max(FlightSize, SMSS) +
			 * SMSS), which avoids a burst. */
			uint32_t fs = c->snd_max - c->snd_una;

			c->rec &= (uint16_t)~(REC_RECOVERY | REC_RXT_FIRST |
					      REC_REO_TIMER);
			c->dupacks = 0;
			c->cc.cwnd = MIN(c->cc.ssthresh, MAX(fs, smss) + smss);
			/* The timers were re-armed for this ACK while still
			 * in recovery, without a probe: arm it now, or a
			 * lost tail after recovery waits for the RTO. */
			tcp_arm_pto(core, c);
			theap_update(core, c);
			return;
		}
		/* A partial ACK (RFC 6582 §3.2 step 4): the segment it
		 * points at is lost too; lost_end() marks it, and HighRxt
		 * must not stay below SND.UNA. The duplicate ACKs the
		 * acknowledged segments caused no longer stand for
		 * anything in flight. */
		if (seq_lt(c->side->high_rxt, c->snd_una))
			c->side->high_rxt = c->snd_una;
		check_lost_rxt(core, c);
		if (!(c->flags & TF_SACK)) {
			uint32_t segs = acked / smss;

			c->dupacks = (uint8_t)(c->dupacks > segs
						       ? c->dupacks - segs
						       : 0);
			/* NewReno retransmits at each partial ACK. */
			c->rec |= REC_RXT_FIRST;
		}
		core_schedule(core, c);
		return;
	}
	c->dupacks = 0;
	tcp_cc_on_ack(core, c, acked);
	/* With SACK, an ACK that advances may still show enough holes. */
	if (tcp_sb(c))
		maybe_enter_recovery(core, c);
}

void tcp_recovery_newack(struct core *core, struct tcp_conn *c,
			 const struct tcp_seg *seg, uint32_t acked,
			 uint32_t fack)
{
	recovery_newack(core, c, seg, acked, fack);
	/* Recovery over, the retransmissions and the probe acknowledged:
	 * the side structure goes if nothing else holds it. */
	tcp_side_put(c);
}

void tcp_recovery_dupack(struct core *core, struct tcp_conn *c)
{
	check_lost_rxt(core, c);
	if (c->dupacks < 255)
		c->dupacks++;
	/* In recovery pipe went down; before it, limited transmit may
	 * send. */
	core_schedule(core, c);
	maybe_enter_recovery(core, c);
}

/* RFC 5681 §3.1 / RFC 6298 §5: a retransmission timeout. ssthresh is
 * reduced on the first expiry only (equation (4) "when a segment is
 * retransmitted multiple times, ssthresh is held constant"), cwnd drops
 * to one segment (the loss window), and everything from SND.UNA is sent
 * again — except what the peer SACKed (RFC 6675 §5.1). */
void tcp_recovery_rto(struct core *core, struct tcp_conn *c)
{
	if (c->retries == 1) {
		arm_undo(c);
		tcp_cc_on_loss(core, c);
	}
	c->cc.cwnd = tcp_smss(c);
	c->cc.acked_acc = 0;
	c->rec &= (uint16_t)~(REC_RECOVERY | REC_RXT_FIRST | REC_TLP |
			      REC_TLP_NOW | REC_TLP_DSACK | REC_REO_TIMER);
	c->pto_at = 0;
	c->rec |= REC_RTO_GUARD;
	c->recover = c->snd_max;
	/* HighRxt (only used in recovery, which sets it on entry) goes
	 * with the recovery state. */
	c->dupacks = 0;
	stat_add(core->stats.rto_timeouts, 1);
	tcp_side_put(c);
}

void tcp_recovery_sent(struct core *core, struct tcp_conn *c, uint32_t seq,
		       uint32_t len)
{
	struct tcp_side *x = tcp_side_get(c);

	c->retrans_bytes += len;
	/* Without memory for rxt_hw a hole this resend fills may later be
	 * taken for reordering (tcp_reorder_seen): DupThresh grows, which
	 * delays fast retransmits; the RTO still recovers. */
	if (x && (!(c->rec & REC_RXT_HW) || seq_gt(seq + len, x->rxt_hw))) {
		x->rxt_hw = seq + len;
		c->rec |= REC_RXT_HW;
	}
	stat_add(core->stats.retrans_bytes, len);
	if ((c->rec & REC_UNDO) && !tcp_undo(c)->tsval) {
		/* The first retransmission of the episode: remember its
		 * TSval for Eifel detection (0 means "none", so avoid it). */
		tcp_undo(c)->seq = seq;
		tcp_undo(c)->tsval = tcp_ts_now(core, c) | !tcp_ts_now(core, c);
	}
}

/* The SACKed range that holds seq: its end (so a go-back-N resend skips
 * it), else seq; *next is where the next SACKed range starts (or
 * SND.MAX). */
uint32_t tcp_sack_skip(const struct tcp_conn *c, uint32_t seq, uint32_t *next)
{
	const struct tcp_sb *sb = tcp_sb(c);

	*next = c->snd_max;
	if (!sb)
		return seq;
	for (unsigned i = 0; i < sb->n; i++) {
		if (seq_leq(sb->r[i].end, seq))
			continue;
		if (seq_leq(sb->r[i].start, seq)) {
			seq = sb->r[i].end;
			continue;
		}
		*next = sb->r[i].start;
		break;
	}
	return seq;
}

/* RFC 8985 §7.2: PTO = 2 SRTT, plus the peer's delayed-ACK time when a
 * single segment is in flight (its ACK may be held), else plus 2 ms of
 * slack for timer and scheduling granularity (Linux's TCP_TIMEOUT_MIN in
 * tcp_schedule_loss_probe; a fixed 10 ms floor, as older Linux had, idles
 * a sub-millisecond path for 50 RTTs at every tail loss), and no later
 * than the RTO would fire (then the probe goes in its place). Not in
 * recovery, not while a probe is outstanding, not before an RTT sample,
 * not after a timeout (RFC 8985 §7.2 conditions). */
#define TLP_SLACK_NS 2000000ull
#define TLP_DELACK_NS 200000000ull /* WCDelAckT */
void tcp_arm_pto(struct core *core, struct tcp_conn *c)
{
	uint64_t pto;

	if (c->rec & REC_REO_TIMER)
		return; /* pto_at is the reordering timer */
	c->pto_at = 0;
	if (core->cfg.no_tlp || !(c->flags & TF_HAVE_RTT) ||
	    c->snd_una == c->snd_max ||
	    !c->rto_at || c->retries || !TCPS_HAVE_ESTABLISHED(c->state) ||
	    (c->rec & (REC_RECOVERY | REC_TLP | REC_TLP_NOW)))
		return;
	pto = 2 * tcp_srtt_ns(c);
	if (c->snd_max - c->snd_una <= tcp_smss(c))
		pto += TLP_DELACK_NS;
	else
		pto += TLP_SLACK_NS;
	c->pto_at = tcp_dl(MIN(core->now + pto,
				  tcp_dl_ns(c->rto_at, core->now)));
}

void tcp_tlp_fire(struct core *core, struct tcp_conn *c)
{
	c->pto_at = 0;
	if (c->rec & REC_REO_TIMER) {
		c->rec &= (uint16_t)~REC_REO_TIMER;
		check_lost_rxt(core, c);
		return;
	}
	if (c->snd_una == c->snd_max || (c->rec & REC_RECOVERY))
		return;
	c->rec |= REC_TLP_NOW;
	/* §7.3: the RTO runs from the probe (and must not fire now, when
	 * it was due at the same instant). */
	c->rto_at = tcp_dl(core->now + tcp_rto_ns(c));
	stat_add(core->stats.tlp_probes, 1);
	core_schedule(core, c);
}
