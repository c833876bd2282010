/*
 * tcp_challenge.c — challenge ACKs and their rate limit (RFC 5961 §7).
 *
 * A challenge ACK answers a RST or SYN that is in the window but not
 * exactly at RCV.NXT, and an ACK outside the acceptable range: the real
 * peer, if it is the one talking, resets exactly or resynchronizes; a blind
 * attacker learns nothing. §7 asks that their rate be limited, so a flood of
 * spoofed segments does not turn into a flood of ACKs.
 *
 * The budget is per core (per worker) and per second. A fixed, global
 * budget is a side channel (CVE-2016-5696, "Off-Path TCP Exploits"): an
 * attacker spends it with spoofed segments and counts the challenge ACKs
 * that reach its own connection to learn whether its guess was in the
 * window. Linux's answer (commit 75ff39ccc1bd, 2016) keeps the limit but
 * draws each second's budget at random in [limit/2, limit/2 + limit), so
 * counting no longer tells. We do the same; per core, the budget is also
 * not shared between workers, which only adds noise for the attacker.
 * (Linux later went further: since 2022 the global limit is off by default
 * and only a per-socket limit on out-of-window replies remains; a per-core
 * budget keeps a hard cap on what a flood can make us send, which is what
 * a stack built for stress tests wants.)
 *
 * The random draw must not make a system call or read a clock (the core is
 * sans-I/O): it is SipHash of the second's number under the core's secret
 * key, unpredictable to a peer and reproducible in tests.
 */
#include <sodium.h>
#include <string.h>

#include "core/core_priv.h"
#include "tcp/tcp_challenge.h"
#include "tcp/tcp_seq.h"

#define NS_PER_SEC 1000000000ull

static uint32_t budget_for(const struct core *core, uint64_t sec)
{
	uint32_t limit = core->cfg.challenge_ack_limit;
	uint8_t in[9], out[crypto_shorthash_BYTES];
	uint64_t r;

	in[0] = 'A'; /* not an input any other hash with this key sees */
	memcpy(in + 1, &sec, 8);
	crypto_shorthash(out, in, sizeof(in), core->cfg.iss_key);
	memcpy(&r, out, sizeof(r));
	return (limit + 1) / 2 + (uint32_t)(r % limit);
}

bool tcp_challenge_ack(struct core *core, struct tcp_conn *c)
{
	uint64_t sec = core->now / NS_PER_SEC;

	if (core->cfg.challenge_ack_limit) {
		if (!core->chack_armed || sec != core->chack_sec) {
			core->chack_armed = true;
			core->chack_sec = sec;
			core->chack_left = budget_for(core, sec);
		}
		if (!core->chack_left) {
			stat_add(core->stats.challenge_acks_limited, 1);
			return false;
		}
		core->chack_left--;
	}
	stat_add(core->stats.challenge_acks_sent, 1);
	c->flags |= TF_ACK_NOW;
	core_schedule(core, c);
	return true;
}

bool tcp_challenge_ack_check(struct core *core, struct tcp_conn *c,
			     const struct tcp_seg *seg)
{
	/* MAX.SND.WND is the largest window the peer has offered; we bound
	 * it by the largest it could offer (65535 << its shift), which
	 * accepts a little more than the RFC's range but keeps the check
	 * free of per-ACK bookkeeping in the ACK path. */
	uint32_t max_wnd = 65535u << c->snd_wscale;

	if (seq_gt(seg->ack, c->snd_max)) {
		core_drop(core, DROP_TCP_BAD_ACK);
	} else if (seq_lt(seg->ack, c->snd_una - max_wnd)) {
		core_drop(core, DROP_TCP_OLD_ACK);
	} else {
		return true;
	}
	tcp_challenge_ack(core, c);
	return false;
}
