/*
 * tcp_timer.c — what a connection does when a deadline passes: the
 * retransmission timeout (RFC 6298), the persist probe for a zero window
 * (RFC 9293 §3.8.6.1), the delayed ACK (§3.8.6.3), keep-alive (§3.8.4)
 * and the end of TIME-WAIT (§3.6.1).
 *
 * After a timeout, retransmission is go-back-N from SND.UNA, skipping what
 * the peer SACKed, in slow start from the loss window (tcp_sack.c); fast
 * retransmit and recovery live in tcp_sack.c too.
 */
#include <errno.h>

#include "core/core_priv.h"
#include "tcp/tcp_seq.h"
#include "tundra/app.h"

/* RFC 6298 §2: SRTT, RTTVAR and RTO from one measurement (rtt in ns;
 * the control block keeps microseconds, the sample is rounded up so a
 * sub-microsecond RTT still counts as one). */
void tcp_rtt_sample(struct tcp_conn *c, uint64_t rtt_ns)
{
	uint64_t rtt = MIN((rtt_ns + 999) / 1000, (uint64_t)UINT32_MAX);
	uint64_t srtt = c->srtt_us, rttvar = c->rttvar_us;

	if (!(c->flags & TF_HAVE_RTT)) {
		c->flags |= TF_HAVE_RTT;
		/* (2.2) the first measurement */
		srtt = rtt;
		rttvar = rtt / 2;
	} else {
		/* (2.3) beta = 1/4, alpha = 1/8 */
		uint64_t err = srtt > rtt ? srtt - rtt : rtt - srtt;
		rttvar = (3 * rttvar + err) / 4;
		srtt = (7 * srtt + rtt) / 8;
	}
	c->srtt_us = (uint32_t)srtt;
	c->rttvar_us = (uint32_t)rttvar;
	tcp_rto_reset(c);
}

/* The RTO follows SRTT and RTTVAR again (tcp_rto_ns): what undoes a
 * timeout's back-off (5.5) once an ACK of new data brings a valid
 * measurement, even one too coarse to move SRTT (5.7). */
void tcp_rto_reset(struct tcp_conn *c)
{
	tcp_backoff_set(c, 0);
}

void tcp_keepalive_reset(struct core *core, struct tcp_conn *c)
{
	if (!tcp_ka(c))
		return;
	tcp_ka(c)->sent = 0;
	tcp_ka(c)->at = core->now + (uint64_t)tcp_ka(c)->idle_ms * 1000000;
	theap_update(core, c);
}

/* RFC 9293 §3.8.4 / RFC 1122 §4.2.3.6: after the idle time, probe every
 * interval; after `probes` unanswered ones the peer is gone. true when
 * the connection was closed. */
static bool keepalive_fire(struct core *core, struct tcp_conn *c)
{
	struct tcp_ka *ka = tcp_ka(c);

	ka->at = 0;
	if (!(c->flags & TF_KEEPALIVE) ||
	    (c->state != TCPS_ESTABLISHED && c->state != TCPS_CLOSE_WAIT))
		return false;
	if (ka->sent >= ka->probes) {
		c->flags |= TF_SEND_RST;
		tcp_output(core, c);
		core_conn_close(core, c, -ETIMEDOUT);
		return true;
	}
	ka->sent++;
	c->flags |= TF_PROBE;
	ka->at = core->now + (uint64_t)ka->intvl_ms * 1000000;
	core_schedule(core, c);
	return false;
}

/* The retransmission (or persist) timeout. true when the connection was
 * closed. */
static bool rto_fire(struct core *core, struct tcp_conn *c)
{
	c->rto_at = 0;
	if (++c->retries > core->cfg.max_retries) {
		/* Give up: the app learns ETIMEDOUT, the peer gets a RST
		 * (none for a SYN that was never answered). */
		if (c->state != TCPS_SYN_SENT) {
			c->flags |= TF_SEND_RST;
			tcp_output(core, c);
		}
		core_conn_close(core, c, -ETIMEDOUT);
		return true;
	}
	/* (5.5) back off, (5.6) restart; Karn: the timed segment is void. */
	if (tcp_rto_ns(c) < core->cfg.rto_max_ns)
		tcp_backoff_set(c, tcp_backoff(c) + 1);
	c->flags &= ~TF_RTT_TIMING;
	tcp_io_put(c);
	if (c->snd_una == c->snd_max) {
		/* Nothing outstanding: this was the persist timer. */
		c->flags |= TF_PROBE;
	} else {
		/* (5.4) retransmit, from the earliest unacknowledged. */
		TP_RTO(c, c->raddr, c->rport, c->snd_una, c->snd_max,
		       tcp_rto_ns(c), c->retries);
		if (TCPS_HAVE_ESTABLISHED(c->state))
			tcp_recovery_rto(core, c); /* the loss window */
		else
			c->rec |= REC_SYN_LOST;
		c->snd_nxt = c->snd_una;
	}
	c->rto_at = tcp_dl(core->now + tcp_rto_ns(c));
	core_schedule(core, c);
	return false;
}

void tcp_timer_fire(struct core *core, struct tcp_conn *c)
{
	uint64_t now = core->now;
	/* In TIME-WAIT rto_at is its end, not a retransmission. */
	bool tw = c->state == TCPS_TIME_WAIT;

	if (tw && tcp_dl_due(c->rto_at, now)) {
		c->rto_at = 0;
		core_conn_close(core, c, 0);
		return;
	}
	if (tcp_dl_due(c->dack_at, now)) {
		c->dack_at = 0;
		if (c->flags & TF_DACK) {
			c->flags |= TF_ACK_NOW;
			core_schedule(core, c);
		}
	}
	if (tcp_ka(c) && tcp_ka(c)->at && tcp_ka(c)->at <= now &&
	    keepalive_fire(core, c))
		return;
	if (tcp_dl_due(c->pto_at, now))
		tcp_tlp_fire(core, c);
	if (!tw && tcp_dl_due(c->rto_at, now) && rto_fire(core, c))
		return;
	theap_update(core, c);
}
