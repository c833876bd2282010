/*
 * tcp_cc.c — congestion control: the shared parts (initial window, slow
 * start by bytes acked, restart after idle) and two algorithms behind struct
 * tcp_cc_ops: Reno (RFC 5681 §3.1) and CUBIC (RFC 9438).
 *
 * Windows are kept in bytes; CUBIC computes in segments of SMSS, as its
 * RFC does, and converts at the edges.
 */
#include <math.h>
#include <string.h>

#include "base/compiler.h"
#include "core/core_priv.h"
#include "tcp/tcp_cc.h"

/* No window beyond this: far above any buffer we allow, and far below
 * where the arithmetic on uint32_t would wrap. */
#define CWND_CLAMP (1u << 30)
#define SSTHRESH_INF 0x7fffffffu

uint32_t tcp_smss(const struct tcp_conn *c)
{
	uint32_t m = (uint32_t)(c->snd_mss - tcp_opt_len(c));

	return m ? m : 1;
}

/* In flight by RFC 5681's definition: sent and not yet acknowledged. */
static uint32_t flight_size(const struct tcp_conn *c)
{
	return c->snd_max - c->snd_una;
}

/* ---- Reno: RFC 5681 §3.1 ---------------------------------------------- */

/* Congestion avoidance: one SMSS per window of acknowledged bytes (the
 * byte-counting form of equation (3), as RFC 3465 recommends). */
static void reno_cong_avoid(struct core *core, struct tcp_conn *c,
			    uint32_t acked)
{
	(void)core;
	c->cc.acked_acc += acked;
	if (c->cc.acked_acc >= c->cc.cwnd) {
		c->cc.acked_acc -= c->cc.cwnd;
		c->cc.cwnd = MIN(c->cc.cwnd + tcp_smss(c), CWND_CLAMP);
	}
}

/* Equation (4): ssthresh = max(FlightSize / 2, 2 * SMSS). */
static uint32_t reno_ssthresh(struct core *core, struct tcp_conn *c)
{
	(void)core;
	c->cc.acked_acc = 0;
	return MAX(flight_size(c) / 2, 2 * tcp_smss(c));
}

static void reno_restart(struct tcp_conn *c)
{
	c->cc.acked_acc = 0;
}

static const struct tcp_cc_ops reno_ops = {
	.name = "reno",
	.cong_avoid = reno_cong_avoid,
	.ssthresh = reno_ssthresh,
	.restart = reno_restart,
};

/* ---- CUBIC: RFC 9438 -------------------------------------------------- */

#define CUBIC_C 0.4f    /* §4.1 */
#define CUBIC_BETA 0.7f /* §4.6 */

/* The epoch's curve: K, the seconds it takes to get back to W_max
 * (§4.2), and the plateau it aims at. W_max is fixed for an epoch (a
 * reduction, which changes it, ends the epoch), so these are the same
 * on every ACK of it. */
static void cubic_curve(const struct tcp_cc *cc, float *k, float *origin)
{
	if (cc->w_epoch < cc->w_max) {
		*k = cbrtf((cc->w_max - cc->w_epoch) / CUBIC_C);
		*origin = cc->w_max;
	} else {
		*k = 0;
		*origin = cc->w_epoch;
	}
}

static void cubic_cong_avoid(struct core *core, struct tcp_conn *c,
			     uint32_t acked)
{
	struct tcp_cc *cc = &c->cc;
	float smss = (float)tcp_smss(c);
	float w = (float)cc->cwnd / smss;
	float t, rtt, target, w_cubic, alpha, next, k, origin;

	if (!cc->epoch) {
		/* §4.2: a new congestion-avoidance epoch begins. */
		cc->epoch = tcp_now_ms(core) ? tcp_now_ms(core) : 1;
		cc->w_epoch = w;
		cc->w_est = w;
	}
	cubic_curve(cc, &k, &origin);
	t = (float)(uint32_t)(tcp_now_ms(core) - cc->epoch) / 1e3f;
	rtt = (c->flags & TF_HAVE_RTT) ? (float)c->srtt_us / 1e6f : 0.1f;
	/* §4.2: W_cubic(t + RTT) is the target one RTT ahead, kept within
	 * [cwnd, 1.5 cwnd]. */
	target = origin + CUBIC_C * powf(t + rtt - k, 3);
	target = MAX(target, w);
	target = MIN(target, 1.5f * w);
	/* §4.3: the Reno-friendly estimate grows by alpha per window, alpha
	 * = 3 (1 - beta) / (1 + beta) until it reaches W_max, then 1. */
	alpha = cc->w_est >= cc->w_max
			? 1.0f
			: 3.0f * (1 - CUBIC_BETA) / (1 + CUBIC_BETA);
	cc->w_est += alpha * ((float)acked / smss) / w;
	w_cubic = origin + CUBIC_C * powf(t - k, 3);
	if (w_cubic < cc->w_est) {
		next = cc->w_est; /* the Reno-friendly region */
	} else {
		/* §4.4 concave / §4.5 convex: (target - cwnd) / cwnd
		 * segments per acknowledged segment. */
		next = w + (target - w) / w * ((float)acked / smss);
	}
	if (next > w)
		cc->cwnd = (uint32_t)MIN(next * smss, (float)CWND_CLAMP);
}

static uint32_t cubic_ssthresh(struct core *core, struct tcp_conn *c)
{
	struct tcp_cc *cc = &c->cc;
	float w = (float)cc->cwnd / (float)tcp_smss(c);

	(void)core;
	/* §4.7 fast convergence: a flow whose window shrank since the
	 * last reduction releases bandwidth to newer flows. */
	if (w < cc->w_max)
		cc->w_max = w * (1 + CUBIC_BETA) / 2;
	else
		cc->w_max = w;
	cc->epoch = 0;
	/* §4.6: multiplicative decrease by beta. */
	return MAX((uint32_t)((float)cc->cwnd * CUBIC_BETA),
		   2 * tcp_smss(c));
}

static void cubic_restart(struct tcp_conn *c)
{
	/* The curve's clock does not run while the flow is idle (as
	 * Linux's bictcp_cwnd_event): start a new epoch from here. */
	c->cc.epoch = 0;
}

static const struct tcp_cc_ops cubic_ops = {
	.name = "cubic",
	.cong_avoid = cubic_cong_avoid,
	.ssthresh = cubic_ssthresh,
	.restart = cubic_restart,
};

/* ---- Shared ------------------------------------------------------------ */

const struct tcp_cc_ops *const tcp_cc_algos[TCP_CC__COUNT] = {
	[TCP_CC_RENO] = &reno_ops,
	[TCP_CC_CUBIC] = &cubic_ops,
};

int tcp_cc_by_name(const char *name)
{
	for (unsigned i = 0; i < TCP_CC__COUNT; i++)
		if (!strcmp(tcp_cc_algos[i]->name, name))
			return (int)i;
	return -1;
}

const char *tcp_cc_name(unsigned algo)
{
	return algo < TCP_CC__COUNT ? tcp_cc_algos[algo]->name : "?";
}

/* RFC 6928 §2: IW = min(10 * MSS, max(2 * MSS, 14600)). */
static uint32_t initial_window(const struct tcp_conn *c)
{
	uint32_t smss = tcp_smss(c);

	return MIN(10 * smss, MAX(2 * smss, 14600u));
}

/* RFC 5681 §3.1: if the SYN or SYN-ACK was retransmitted, the window
 * after the handshake is one segment. */
void tcp_cc_init(struct core *core, struct tcp_conn *c)
{
	(void)core;
	if (c->rec & REC_SYN_LOST)
		c->cc.cwnd = tcp_smss(c);
	else
		c->cc.cwnd = initial_window(c);
	c->cc.ssthresh = SSTHRESH_INF;
	c->cc.acked_acc = 0;
	c->cc.w_max = 0;
	c->cc.epoch = 0;
}

void tcp_cc_on_ack(struct core *core, struct tcp_conn *c, uint32_t acked)
{
	struct tcp_cc *cc = &c->cc;

	if (!(c->rec & REC_CWND_LIMITED))
		return;
	if (cc->cwnd < cc->ssthresh) {
		/*
		 * Slow start by the bytes acknowledged (RFC 3465 §2.1) and
		 * no further than ssthresh (the rest of the ACK counts
		 * toward congestion avoidance). Not capped at L = 2 SMSS
		 * per ACK (§2.2): our peer is a kernel that acknowledges a
		 * whole GRO/TSO super-segment with one ACK, and the cap
		 * would make slow start crawl; Linux's tcp_slow_start does
		 * the same. The burst it allows is at most what was acked.
		 */
		uint32_t inc = acked;
		uint32_t room = cc->ssthresh - cc->cwnd;

		cc->cwnd = MIN(cc->cwnd + MIN(inc, room), CWND_CLAMP);
		if (inc <= room)
			return;
		acked -= room;
	}
	tcp_cc_algos[c->cc_algo]->cong_avoid(core, c, acked);
}

void tcp_cc_on_loss(struct core *core, struct tcp_conn *c)
{
	c->cc.ssthresh = tcp_cc_algos[c->cc_algo]->ssthresh(core, c);
}

void tcp_cc_restart(struct core *core, struct tcp_conn *c)
{
	uint32_t iw = initial_window(c);

	(void)core;
	if (c->cc.cwnd > iw)
		c->cc.cwnd = iw;
	tcp_cc_algos[c->cc_algo]->restart(c);
}
