/*
 * tcp_timer.c — what a connection does when its deadline passes: the
 * retransmission timeout (RFC 6298), the persist probe for a zero window
 * (RFC 9293 §3.8.6.1) and the end of TIME-WAIT (§3.6.1).
 *
 * Retransmission is go-back-N from SND.UNA for now: loss recovery proper
 * (fast retransmit, SACK, congestion control) comes with a later issue.
 */
#include <errno.h>

#include "core/core_priv.h"
#include "tcp/tcp_seq.h"
#include "tundra/app.h"

/* RFC 6298 §2: SRTT, RTTVAR and RTO from one measurement. */
void tcp_rtt_sample(struct core *core, struct tcp_conn *c, uint64_t rtt)
{
	uint64_t rto;

	if (!(c->flags & TF_HAVE_RTT)) {
		c->flags |= TF_HAVE_RTT;
		/* (2.2) the first measurement */
		c->srtt_ns = rtt;
		c->rttvar_ns = rtt / 2;
	} else {
		/* (2.3) beta = 1/4, alpha = 1/8 */
		uint64_t err = c->srtt_ns > rtt ? c->srtt_ns - rtt
						: rtt - c->srtt_ns;
		c->rttvar_ns = (3 * c->rttvar_ns + err) / 4;
		c->srtt_ns = (7 * c->srtt_ns + rtt) / 8;
	}
	/* RTO = SRTT + max(G, K*RTTVAR), with the clock granularity G taken
	 * as 1 ms; then (2.4) the lower and (2.5) the upper bound. */
	rto = c->srtt_ns + MAX(1000000ull, 4 * c->rttvar_ns);
	c->rto_ns = MIN(MAX(rto, core->cfg.rto_min_ns), core->cfg.rto_max_ns);
}

void tcp_timer_fire(struct core *core, struct tcp_conn *c)
{
	uint64_t now = core->now;

	if (c->tw_at && c->tw_at <= now) {
		c->tw_at = 0;
		core_conn_close(core, c, 0);
		return;
	}
	if (!c->rto_at || c->rto_at > now) {
		theap_update(core, c);
		return;
	}
	c->rto_at = 0;
	if (++c->retries > core->cfg.max_retries) {
		/* Give up: the app learns ETIMEDOUT, the peer gets a RST. */
		c->flags |= TF_SEND_RST;
		tcp_output(core, c);
		core_conn_close(core, c, -ETIMEDOUT);
		return;
	}
	/* (5.5) back off, (5.6) restart; Karn: the timed segment is void. */
	c->rto_ns = MIN(c->rto_ns * 2, core->cfg.rto_max_ns);
	c->flags &= ~TF_RTT_TIMING;
	if (c->snd_una == c->snd_max) {
		/* Nothing outstanding: this was the persist timer. */
		c->flags |= TF_PROBE;
	} else {
		/* (5.4) retransmit, from the earliest unacknowledged. */
		c->snd_nxt = c->snd_una;
	}
	c->rto_at = now + c->rto_ns;
	theap_update(core, c);
	core_schedule(core, c);
}
