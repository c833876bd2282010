/*
 * tcp_syncookie.c — SYN cookies (RFC 4987 §3.6), the Linux way.
 *
 * The cookie is our ISS:
 *
 *   bit 31      parity of the time slot (64 s) it was made in
 *   bits 28-30  index into cookie_mss[]: the largest entry not above the
 *               MSS of the SYN
 *   bits 0-27   a MAC: SipHash-2-4 (libsodium crypto_shorthash), keyed
 *               with the core's RFC 6528 secret, of the 4-tuple, the SYN's
 *               sequence number and the slot
 *
 * The ACK that completes the handshake acknowledges ISS + 1 at SEQ IRS + 1,
 * so both come back without state. The slot parity says which of the
 * current and the previous slot to check; older cookies fail.
 *
 * Only the MSS fits in the sequence number. When the SYN carried
 * timestamps, the other options ride in the low 6 bits of our TSval, which
 * the peer echoes in every segment (RFC 7323 §3.2), as Linux does
 * (cookie_init_timestamp): bits 0-3 the peer's window shift (15: none), bit
 * 4 SACK-permitted. Without timestamps the SYN-ACK offers MSS only: window
 * scaling or SACK that the peer believed on and we did not would corrupt
 * the window, so they stay off for that connection.
 */
#include <sodium.h>
#include <string.h>

#include "core/core_priv.h"
#include "tcp/tcp_seq.h"
#include "tcp/tcp_syncookie.h"

/* The MSS values a cookie can carry (3 bits): the common ones from the
 * minimum (RFC 9293 §3.7.1) over tunnels and PPPoE (1492 - 40) to
 * Ethernet and 9000-byte jumbo frames. A peer's MSS is rounded down to
 * one of them, so it never gets segments larger than it asked for — but
 * never below 536, which every host must take (RFC 9293 §3.7.1; Linux's
 * table starts there too). */
static const uint16_t cookie_mss[8] = { 536,  1220, 1300, 1360,
					1440, 1452, 1460, 8960 };

#define COOKIE_MAC_MASK 0x0fffffffu
#define COOKIE_TS_BITS 0x3fu
#define COOKIE_TS_NO_WS 0x0fu
#define COOKIE_TS_SACK 0x10u

static uint32_t cookie_mac(const struct core *core, uint32_t raddr,
			   uint16_t rport, uint32_t laddr, uint16_t lport,
			   uint32_t irs, uint64_t slot)
{
	uint8_t in[25], out[crypto_shorthash_BYTES];
	uint32_t m;

	/* A tag and a length of its own: never the same input as the ISS
	 * or flow hashes made with this key. */
	in[0] = 'C';
	memcpy(in + 1, &raddr, 4);
	memcpy(in + 5, &laddr, 4);
	memcpy(in + 9, &rport, 2);
	memcpy(in + 11, &lport, 2);
	memcpy(in + 13, &irs, 4);
	memcpy(in + 17, &slot, 8);
	crypto_shorthash(out, in, sizeof(in), core->cfg.iss_key);
	memcpy(&m, out, sizeof(m));
	return m;
}

static unsigned mss_index(const struct tcp_seg *syn)
{
	uint16_t mss = syn->opts.has_mss ? syn->opts.mss : 536;
	unsigned i = 0;

	while (i + 1 < 8 && cookie_mss[i + 1] <= mss)
		i++;
	return i;
}

uint32_t tcp_syncookie_make(struct core *core, const struct tcp_seg *syn)
{
	uint64_t slot = core->now / SYNCOOKIE_SLOT_NS;
	uint32_t mac = cookie_mac(core, syn->saddr, syn->sport, syn->daddr,
				  syn->dport, syn->seq, slot);

	return (uint32_t)(slot & 1) << 31 | (uint32_t)mss_index(syn) << 28 |
	       (mac & COOKIE_MAC_MASK);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void tcp_syncookie_send(struct core *core, const struct tcp_seg *syn,
			uint64_t hash)
{
	uint32_t iss = tcp_syncookie_make(core, syn);
	uint8_t o[TCP_MAX_OPT_LEN], n = 0;
	const struct tcp_opts *so = &syn->opts;

	o[n++] = TCPOPT_MSS;
	o[n++] = 4;
	o[n++] = (uint8_t)(core->mss >> 8);
	o[n++] = (uint8_t)core->mss;
	if (so->has_ts) {
		/* Our clock as the connection will run it (core.c gives it
		 * the offset (hash >> 17) ^ ISS), rounded down so the low
		 * bits hold the options: never ahead of the connection's
		 * later TSvals (RFC 7323 §5.4 wants them monotonic). */
		uint32_t now = (uint32_t)(core->now / 1000000) +
			       ((uint32_t)(hash >> 17) ^ iss);
		uint32_t bits =
			(so->has_wscale ? so->wscale : COOKIE_TS_NO_WS) |
			(so->sack_ok ? COOKIE_TS_SACK : 0);
		uint32_t tsval = (now & ~COOKIE_TS_BITS) | bits;

		if ((int32_t)(tsval - now) > 0)
			tsval -= COOKIE_TS_BITS + 1;
		if (so->sack_ok) {
			o[n++] = TCPOPT_SACK_PERM;
			o[n++] = 2;
		} else {
			o[n++] = TCPOPT_NOP;
			o[n++] = TCPOPT_NOP;
		}
		o[n++] = TCPOPT_TIMESTAMP;
		o[n++] = 10;
		put32(o + n, tsval);
		put32(o + n + 4, so->tsval);
		n += 8;
		if (so->has_wscale) {
			o[n++] = TCPOPT_NOP;
			o[n++] = TCPOPT_WSCALE;
			o[n++] = 3;
			o[n++] = core->rcv_wscale;
		}
	}
	/* The first window, unscaled as in every SYN (RFC 7323 §2.2). */
	if (tcp_respond_synack(core, syn, iss,
			       (uint16_t)MIN(core->rcvbuf_cap, 65535u), o, n)) {
		stat_add(core->stats.syncookies_sent, 1);
		core->cookie_sent_at = core->now ? core->now : 1;
	}
}

bool tcp_syncookie_recent(const struct core *core)
{
	if (core->cfg.syncookies == CORE_SYNCOOKIES_ALWAYS)
		return true;
	return core->cfg.syncookies == CORE_SYNCOOKIES_ON &&
	       core->cookie_sent_at &&
	       core->now - core->cookie_sent_at < 2 * SYNCOOKIE_SLOT_NS;
}

struct tcp_conn *tcp_syncookie_check(struct core *core,
				     const struct tcp_seg *ack, uint64_t hash,
				     bool *valid)
{
	uint32_t cookie = ack->ack - 1, irs = ack->seq - 1;
	uint64_t slot = core->now / SYNCOOKIE_SLOT_NS;
	struct tcp_seg syn;
	struct tcp_conn *c;

	*valid = false;
	/* The slot of the cookie: this one or the one before. */
	if ((slot & 1) != cookie >> 31) {
		if (!slot)
			goto fail;
		slot--;
	}
	if (((cookie_mac(core, ack->saddr, ack->sport, ack->daddr, ack->dport,
			 irs, slot) ^
	      cookie) &
	     COOKIE_MAC_MASK) != 0)
		goto fail;
	*valid = true;
	if (!core_conn_room(core)) {
		core_drop(core, DROP_TCP_CONN_LIMIT);
		return NULL;
	}

	/* The SYN again, as far as the cookie remembers it. */
	memset(&syn, 0, sizeof(syn));
	syn.saddr = ack->saddr;
	syn.daddr = ack->daddr;
	syn.sport = ack->sport;
	syn.dport = ack->dport;
	syn.seq = irs;
	syn.wnd = ack->wnd;
	syn.flags = TCP_SYN;
	syn.opts.has_mss = true;
	syn.opts.mss = cookie_mss[(cookie >> 28) & 7];
	if (ack->opts.has_ts) {
		uint32_t bits = ack->opts.tsecr & COOKIE_TS_BITS;

		syn.opts.has_ts = true;
		syn.opts.tsval = ack->opts.tsval;
		if ((bits & COOKIE_TS_NO_WS) != COOKIE_TS_NO_WS) {
			syn.opts.has_wscale = true;
			syn.opts.wscale =
				(uint8_t)MIN(bits & COOKIE_TS_NO_WS,
					     (unsigned)TCP_MAX_WSCALE);
		}
		syn.opts.sack_ok = bits & COOKIE_TS_SACK;
	}
	c = core_conn_new(core, &syn, hash);
	if (!c) {
		core_drop(core, DROP_TCP_NO_MEMORY);
		return NULL;
	}
	core_conn_set_iss(c, cookie);
	/* Our SYN-ACK is out: its ACK is what arrives now. */
	c->snd_nxt = c->snd_max = cookie + 1;
	stat_add(core->stats.syncookies_ok, 1);
	return c;

fail:
	stat_add(core->stats.syncookies_failed, 1);
	return NULL;
}
