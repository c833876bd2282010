#!/usr/bin/python3
"""attack_peer.py — the kernel-side peers of test_attack.sh.

Runs inside the test's network namespace (ip netns exec), against tundra at
--addr. Forged packets are built with scapy and sent on a raw IPPROTO_RAW
socket (IP_HDRINCL), so the kernel routes them into tundra's TUN device and
nowhere else. tundra's own view (sequence numbers, drop counters) comes from
its control socket through `tundra stat --json` / `tundra conns --json`.

Modes (each prints "result ..." lines and exits 0 only on success):
  bulk      a paced echo transfer for --secs seconds, every byte checked
  connects  new connections (connect, 32-byte echo, close) for --secs
            seconds; reports attempts/ok and exits 1 below --min-ratio
  inwindow  RFC 5961 blind in-window attacks on a live echo transfer, then
            an exact-sequence RST that must kill the connection
  malformed every malformed packet kind of issue 7, each checked against
            its named drop reason when the kernel delivered it

Every loop is bounded in count and in time.
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

# scapy is only needed by the forging modes; importing it costs ~1 s.
IP = TCP = UDP = ICMP = GRE = Raw = None


def load_scapy():
    global IP, TCP, UDP, ICMP, GRE, Raw
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.layers.inet import IP as _IP, TCP as _TCP, UDP as _UDP, ICMP as _ICMP
    from scapy.layers.l2 import GRE as _GRE
    from scapy.packet import Raw as _Raw
    IP, TCP, UDP, ICMP, GRE, Raw = _IP, _TCP, _UDP, _ICMP, _GRE, _Raw


def log(*a):
    print(*a, flush=True)


def pattern(n, seed):
    """n pseudo-random bytes, reproducible from seed."""
    return random.Random(seed).randbytes(n)


# ---- tundra's control socket ----------------------------------------------

class Tundra:
    def __init__(self, binary):
        self.binary = binary

    def _q(self, *args):
        out = subprocess.run([self.binary, *args], capture_output=True,
                             timeout=20, check=True)
        return json.loads(out.stdout)

    def stat(self):
        return self._q("stat", "--json")

    def conns(self):
        return self._q("conns", "--json")["conns"]

    def conn(self, rport):
        for c in self.conns():
            if c["rport"] == rport:
                return c
        return None


def drops(st):
    return dict(st["drops"])


def counter(st, words):
    """Sum of every numeric counter (workers, rx, tx, drops, top level)
    whose name contains one of words (case-insensitive)."""
    total = 0

    def visit(d):
        nonlocal total
        for k, v in d.items():
            if isinstance(v, bool):
                continue
            if isinstance(v, (int, float)) and any(w in k.lower() for w in words):
                total += v
            elif isinstance(v, dict):
                visit(v)
            elif isinstance(v, list):
                for x in v:
                    if isinstance(x, dict):
                        visit(x)
    visit(st)
    return total


# ---- raw sending -----------------------------------------------------------

class RawSender:
    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def send(self, pkt, dst):
        """Send the bytes of pkt; None when the kernel took them, else the
        error it gave."""
        data = pkt if isinstance(pkt, bytes) else bytes(pkt)
        try:
            self.s.sendto(data, (dst, 0))
            return None
        except OSError as e:
            return e.strerror or str(e)


# ---- echo transfer driven in steps -----------------------------------------

class EchoStream:
    """A kernel socket to tundra's echo port whose every echoed byte is
    checked against what was sent."""

    def __init__(self, addr, port, seed, timeout):
        self.s = socket.create_connection((addr, port), timeout=timeout)
        self.s.settimeout(timeout)
        # Byte i of the stream is pat[i % len(pat)]: a 1 MiB random
        # period, so data injected or misplaced shows as a mismatch.
        self.pat = pattern(1 << 20, seed) * 2
        self.sent = 0
        self.got = 0
        self.lport = self.s.getsockname()[1]

    def _slice(self, off, n):
        o = off % (1 << 20)
        return self.pat[o:o + n]

    def step(self, n, chunk=16384):
        """Send n more bytes and read their echo; False on a mismatch."""
        todo = n
        while todo:
            k = min(chunk, todo)
            self.s.sendall(self._slice(self.sent, k))
            self.sent += k
            todo -= k
            while self.got < self.sent - 4 * chunk:
                if not self._read(self.sent - self.got):
                    return False
        while self.got < self.sent:
            if not self._read(self.sent - self.got):
                return False
        return True

    def _read(self, most):
        b = self.s.recv(min(most, 65536, 1 << 20))
        if not b:
            raise ConnectionError("EOF from tundra after %d bytes" % self.got)
        if b != self._slice(self.got, len(b)):
            log("echo mismatch at byte %d" % self.got)
            return False
        self.got += len(b)
        return True


# ---- bulk ------------------------------------------------------------------

def run_bulk(a):
    """A paced echo transfer lasting --secs: the connection must live
    through whatever else happens meanwhile."""
    t0 = time.monotonic()
    es = EchoStream(a.addr, a.port, 7, a.timeout)
    per_step = max(1, int(a.rate / 20))
    ok = True
    while time.monotonic() - t0 < a.secs:
        ts = time.monotonic()
        if not es.step(per_step):
            ok = False
            break
        rest = 0.05 - (time.monotonic() - ts)
        if rest > 0:
            time.sleep(rest)
    if ok and a.final:
        ok = es.step(a.final, 65536)
    es.s.shutdown(socket.SHUT_WR)
    tail = es.s.recv(1)
    es.s.close()
    secs = time.monotonic() - t0
    log("result mode=bulk bytes=%d echoed=%d secs=%.1f ok=%d eof=%d"
        % (es.sent, es.got, secs, ok, tail == b""))
    return 0 if ok and tail == b"" and es.got == es.sent else 1


# ---- connects --------------------------------------------------------------

def run_connects(a):
    """New connections at most every --gap seconds for --secs seconds (or
    --count attempts): connect, a 32-byte echo checked, close."""
    t0 = time.monotonic()
    attempts = ok = 0
    errors = {}
    while time.monotonic() - t0 < a.secs and attempts < a.count:
        ts = time.monotonic()
        attempts += 1
        msg = pattern(32, attempts)
        try:
            with socket.create_connection((a.addr, a.port), timeout=a.timeout) as s:
                s.settimeout(a.timeout)
                s.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    b = s.recv(64)
                    if not b:
                        break
                    got += b
                if got == msg:
                    ok += 1
                else:
                    errors["mismatch"] = errors.get("mismatch", 0) + 1
        except OSError as e:
            k = type(e).__name__
            errors[k] = errors.get(k, 0) + 1
        rest = a.gap - (time.monotonic() - ts)
        if rest > 0:
            time.sleep(rest)
    ratio = ok / attempts if attempts else 0.0
    log("result mode=connects attempts=%d ok=%d ratio=%.3f secs=%.1f errors=%s"
        % (attempts, ok, ratio, time.monotonic() - t0,
           ",".join("%s:%d" % kv for kv in sorted(errors.items())) or "none"))
    return 0 if attempts >= a.min_attempts and ratio >= a.min_ratio else 1


# ---- inwindow --------------------------------------------------------------

def run_inwindow(a):
    load_scapy()
    t = Tundra(a.tundra)
    raw = RawSender()
    kaddr = a.peer
    fails = []

    def check(cond, what):
        log("%s  %s" % ("ok  " if cond else "BAD ", what))
        if not cond:
            fails.append(what)

    es = EchoStream(a.addr, a.port, 11, a.timeout)
    lport = es.lport
    if not es.step(256 * 1024):
        log("result mode=inwindow ok=0 why=echo-mismatch-before-attack")
        return 1
    st0 = t.stat()
    chal0 = counter(st0, ("challenge_acks_sent",))
    d0 = drops(st0)

    def seg(**kw):
        return IP(src=kaddr, dst=a.addr) / TCP(sport=lport, dport=a.port, **kw)

    def view():
        # Quiet after a step: wait until tundra's send side is all acked
        # too, so its numbers stay put while we forge from them.
        c = None
        for _ in range(50):
            c = t.conn(lport)
            if c and c["snd_una"] == c["snd_nxt"]:
                break
            time.sleep(0.05)
        return c

    injected = 0
    rounds = [
        # (label, builder(c) -> list of packets)
        ("RST in window, not exact", lambda c: [
            seg(flags="R", seq=(c["rcv_nxt"] + off) % 2**32)
            for off in (1, c["rcv_wnd"] // 2, c["rcv_wnd"] - 1)]),
        ("RST|ACK in window, not exact", lambda c: [
            seg(flags="RA", seq=(c["rcv_nxt"] + off) % 2**32, ack=c["snd_nxt"])
            for off in (2, c["rcv_wnd"] // 3)]),
        ("SYN with a wrong sequence number (in and out of window)", lambda c: [
            seg(flags="S", seq=(c["rcv_nxt"] + off) % 2**32)
            for off in (1000, c["rcv_wnd"] // 2, -100000, 2**31)]),
        ("ACK beyond SND.NXT, with data", lambda c: [
            seg(flags="A", seq=c["rcv_nxt"], ack=(c["snd_nxt"] + 100000) % 2**32)
            / Raw(b"EVIL-AHEAD")]),
        ("ACK far below SND.UNA, with data", lambda c: [
            seg(flags="A", seq=c["rcv_nxt"], ack=(c["snd_una"] - 2**30) % 2**32)
            / Raw(b"EVIL-BEHIND")]),
        ("ACK out of range, no data", lambda c: [
            seg(flags="A", seq=c["rcv_nxt"], ack=(c["snd_nxt"] + off) % 2**32)
            for off in (50000, 2**31 - 1)]),
    ]
    for label, build in rounds:
        c = view()
        if c is None:
            check(False, "connection gone before: " + label)
            break
        for p in build(c):
            err = raw.send(p, a.addr)
            check(err is None, "kernel sent forged %s (%s)" % (p.summary(), err or "ok"))
            injected += 1
        time.sleep(0.2)
        c2 = t.conn(lport)
        check(c2 is not None and c2["state"] == "ESTABLISHED",
              "still ESTABLISHED after %s" % label)
        try:
            check(es.step(128 * 1024), "echo intact after %s" % label)
        except OSError as e:
            check(False, "echo after %s: %s" % (label, e))
            break
    # Let the counters settle, then read them.
    time.sleep(0.2)
    st1 = t.stat()
    chal = counter(st1, ("challenge_acks_sent",)) - chal0
    d1 = drops(st1)
    grew = {k: d1[k] - d0.get(k, 0) for k in d1 if d1[k] != d0.get(k, 0)}
    log("result mode=inwindow injected=%d challenge_acks=%d drops=%s"
        % (injected, chal, ",".join("%s:+%d" % kv for kv in sorted(grew.items())) or "none"))
    check(chal > 0, "tundra counted challenge ACKs (%d)" % chal)

    # Now the exact-sequence RST: this one must kill the connection, which
    # shows the checks above could fail.
    c = view()
    if c is not None:
        err = raw.send(seg(flags="R", seq=c["rcv_nxt"]), a.addr)
        check(err is None, "kernel sent the exact RST")
        gone = False
        for _ in range(40):
            if t.conn(lport) is None:
                gone = True
                break
            time.sleep(0.05)
        check(gone, "exact-sequence RST removed the connection in tundra")
        # The kernel's next segment meets no connection: tundra resets it.
        reset = False
        try:
            es.s.settimeout(5)
            es.s.sendall(b"after the reset")
            b = es.s.recv(100)
            reset = b == b""
        except (ConnectionResetError, BrokenPipeError):
            reset = True
        except OSError as e:
            log("after RST: %s" % e)
        check(reset, "kernel socket sees the reset")
    es.s.close()
    log("result mode=inwindow-final ok=%d failures=%d" % (not fails, len(fails)))
    return 0 if not fails else 1


# ---- malformed -------------------------------------------------------------

def csum16(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_raw(src, dst, sport, dport, flags, opts=b"", doff=None, seq=1000,
            payload=b"", bad_csum=False):
    """A TCP segment by hand, for headers scapy would fix up."""
    hlen = 20 + len(opts)
    d = doff if doff is not None else hlen // 4
    hdr = (sport.to_bytes(2, "big") + dport.to_bytes(2, "big") +
           seq.to_bytes(4, "big") + (0).to_bytes(4, "big") +
           bytes([(d & 0xF) << 4, flags]) + (65535).to_bytes(2, "big") +
           b"\0\0" + b"\0\0" + opts)
    seg = hdr + payload
    pseudo = (socket.inet_aton(src) + socket.inet_aton(dst) + b"\0\x06" +
              len(seg).to_bytes(2, "big"))
    c = csum16(pseudo + seg)
    if bad_csum:
        c ^= 0x5A5A
    return seg[:16] + c.to_bytes(2, "big") + seg[18:]


def run_malformed(a):
    load_scapy()
    t = Tundra(a.tundra)
    raw = RawSender()
    K, T = a.peer, a.addr
    F_S, F_F, F_R, F_A = 0x02, 0x01, 0x04, 0x10

    def ip_raw(l4, proto=6, **kw):
        return IP(src=kw.pop("src", K), dst=kw.pop("dst", T), proto=proto, **kw) / Raw(l4)

    sports = iter(range(40000, 41000))

    def syn9(**kw):
        """A SYN to the discard port, from a source port of its own."""
        return tcp_raw(kw.pop("src", K), kw.pop("dst", T), next(sports), 9, F_S, **kw)

    def opts_raw(opts, src=K):
        """A SYN to port 9 behind an IP header carrying opts verbatim."""
        opts = opts + b"\0" * (-len(opts) % 4)
        return hdr_with_opts(opts, syn9(src=src), src)

    def hdr_with_opts(opts, l4, src):
        """scapy would parse and re-encode options: build this by hand."""
        ihl = 5 + len(opts) // 4
        h = bytearray(bytes(IP(src=src, dst=T, proto=6, ttl=64, id=99))[:20])
        h[0] = 0x40 | ihl
        tot = 20 + len(opts) + len(l4)
        h[2:4] = tot.to_bytes(2, "big")
        h = bytes(h) + opts
        h = h[:10] + b"\0\0" + h[12:]
        h = h[:10] + csum16(h).to_bytes(2, "big") + h[12:]
        return h + l4

    FIXED = True
    # (kind, the drop reasons that count it, packet[, FIXED: the kernel
    # may repair it on the way])
    kinds = [
        ("bad IP version (6)", ["IP_VERSION"], IP(src=K, dst=T, version=6) / TCP(dport=9, flags="S")),
        ("IHL < 5", ["IP_IHL"], IP(src=K, dst=T, ihl=4) / TCP(dport=9, flags="S")),
        ("IHL past the packet", ["IP_IHL"], bytes(IP(src=K, dst=T, ihl=15, proto=6))),
        # The kernel's raw socket (raw_send_hdrinc) always rewrites the
        # total length and the header checksum: these arrive repaired.
        ("total length > bytes", ["IP_TOTLEN"], IP(src=K, dst=T, len=400) / TCP(dport=9, flags="S"), FIXED),
        ("bad IP checksum", ["IP_CSUM"], IP(src=K, dst=T, chksum=0x1234) / TCP(dport=9, flags="S"), FIXED),
        ("TTL 0", ["IP_TTL"], IP(src=K, dst=T, ttl=0) / TCP(dport=9, flags="S")),
        ("fragment (MF)", ["IP_FRAGMENT"], IP(src=K, dst=T, flags="MF", id=77) / TCP(dport=9, flags="S")),
        ("fragment (offset)", ["IP_FRAGMENT"], ip_raw(b"\0" * 16, frag=3, id=78)),
        # Well-formed options are accepted and skipped, as Linux does
        # ([]: no drop may be counted and the SYN is answered). From a
        # source that is not the kernel's, so that no RST answers the
        # SYN-ACK: the namespace's kernel drops it, not forwarding.
        ("IP options well formed (NOP NOP NOP EOL)", [],
         opts_raw(b"\x01\x01\x01\x00", src="10.0.0.50")),
        ("IP options well formed (router alert)", [],
         opts_raw(b"\x94\x04\x00\x00", src="10.0.0.51")),
        ("IP option length 0", ["IP_BAD_OPT"], opts_raw(b"\x07\x00\x00\x00")),
        ("IP option length 1", ["IP_BAD_OPT"], opts_raw(b"\x44\x01\x00\x00")),
        ("IP option past the header", ["IP_BAD_OPT"], opts_raw(b"\x01\x01\x44\x28")),
        ("IP loose source route", ["IP_SRCROUTE"], opts_raw(b"\x83\x07\x04\x0a\x00\x00\x01\x00")),
        ("IP strict source route", ["IP_SRCROUTE"], opts_raw(b"\x89\x07\x04\x0a\x00\x00\x01\x00")),
        ("UDP", ["IP_PROTO"], IP(src=K, dst=T) / UDP(sport=4000, dport=9) / Raw(b"x" * 8)),
        ("GRE", ["IP_PROTO"], IP(src=K, dst=T) / GRE() / Raw(b"x" * 8)),
        ("martian source 127.0.0.1", ["IP_MARTIAN_SRC"], ip_raw(syn9(src="127.0.0.1"), src="127.0.0.1")),
        ("martian source 0.1.2.3", ["IP_MARTIAN_SRC"], ip_raw(syn9(src="0.1.2.3"), src="0.1.2.3")),
        ("multicast source 224.0.0.5", ["IP_MARTIAN_SRC"], ip_raw(syn9(src="224.0.0.5"), src="224.0.0.5")),
        ("broadcast source 255.255.255.255", ["IP_MARTIAN_SRC"],
         ip_raw(syn9(src="255.255.255.255"), src="255.255.255.255")),
        ("subnet broadcast source 10.0.0.255", ["IP_MARTIAN_SRC"],
         ip_raw(syn9(src="10.0.0.255"), src="10.0.0.255")),
        ("land (src == dst == tundra, same port)", ["IP_LAND"],
         ip_raw(tcp_raw(T, T, 9, 9, F_S), src=T)),
        ("to another address (10.0.0.77)", ["IP_NOT_OURS"], ip_raw(syn9(dst="10.0.0.77"), dst="10.0.0.77")),
        ("TCP bad checksum", ["TCP_CSUM"], ip_raw(syn9(bad_csum=True))),
        ("TCP data offset < 5", ["TCP_DOFF"], ip_raw(syn9(doff=4))),
        ("TCP data offset past the end", ["TCP_DOFF"], ip_raw(syn9(doff=15))),
        ("TCP option length 0", ["TCP_BAD_OPT"], ip_raw(syn9(opts=b"\x02\x00\x01\x01"))),
        ("TCP option length 1", ["TCP_BAD_OPT"], ip_raw(syn9(opts=b"\x08\x01\x01\x01"))),
        ("TCP option past the end", ["TCP_BAD_OPT"], ip_raw(syn9(opts=b"\x01\x01\x08\x0a"))),
        ("TCP SYN+FIN", ["TCP_SYN_FIN"], ip_raw(tcp_raw(K, T, 40001, 9, F_S | F_F))),
        ("TCP SYN+RST", ["TCP_SYN_RST"], ip_raw(tcp_raw(K, T, 40002, 9, F_S | F_R))),
        ("TCP no flags (to a listener)", ["TCP_NULL_FLAGS"], ip_raw(tcp_raw(K, T, 40003, 9, 0))),
        ("TCP port 0", ["TCP_BAD_PORT"], ip_raw(tcp_raw(K, T, 40004, 0, F_S))),
    ]
    n = a.copies
    names = set(drops(t.stat()))
    fails, delivered, refused, lost = [], 0, [], []
    for kind, reasons, pkt, *fixed in kinds:
        want = [r for r in reasons if r in names]
        st0 = t.stat()
        errs = [raw.send(pkt, T) for _ in range(n)]
        sent = sum(e is None for e in errs)
        if sent == 0:
            refused.append(kind)
            log("skip  %-40s kernel refused to send it (%s): covered by the unit tests"
                % (kind, errs[0]))
            continue
        # Poll until tundra has read them (rx pkts), up to 3 s.
        for _ in range(60):
            st1 = t.stat()
            if st1["rx"]["pkts"] - st0["rx"]["pkts"] >= sent:
                break
            time.sleep(0.05)
        time.sleep(0.05)
        st1 = t.stat()
        got = st1["rx"]["pkts"] - st0["rx"]["pkts"]
        d0, d1 = drops(st0), drops(st1)
        grew = {k: d1[k] - d0.get(k, 0) for k in d1 if d1[k] != d0.get(k, 0)}
        gs = ",".join("%s:+%d" % kv for kv in sorted(grew.items())) or "none"
        if got < sent:
            lost.append(kind)
            log("skip  %-40s kernel took %d but tundra read %d (the kernel dropped it "
                "on the way): covered by the unit tests; drops %s" % (kind, sent, got, gs))
            continue
        delivered += 1
        if not reasons:
            # Must be accepted: no IP-level drop and a SYN-ACK sent (one:
            # the copies repeat the SYN, which is not answered again).
            # Only IP reasons count here: a stray segment of an earlier
            # test (a kernel RST for a SYN-ACK retransmission, say) may be
            # dropped meanwhile for a TCP reason.
            tx = st1["tx"]["pkts"] - st0["tx"]["pkts"]
            if any(k.startswith("IP_") for k in grew) or tx < 1:
                fails.append(kind)
                log("FAIL  %-40s delivered %d, must be accepted; drops %s, tundra sent %d"
                    % (kind, sent, gs, tx))
            else:
                log("ok    %-40s delivered %d, accepted (no drop, %d sent back)"
                    % (kind, sent, tx))
        elif not want:
            fails.append(kind)
            log("FAIL  %-40s delivered %d; this build has no drop reason %s; drops %s"
                % (kind, sent, "/".join(reasons), gs))
        elif any(grew.get(r, 0) >= sent for r in want):
            r = [r for r in want if grew.get(r, 0) >= sent][0]
            log("ok    %-40s delivered %d, counted %s +%d" % (kind, sent, r, grew[r]))
        elif fixed:
            delivered -= 1
            lost.append(kind)
            log("skip  %-40s the kernel repaired it on the way (drops %s): covered by "
                "the unit tests" % (kind, gs))
        else:
            fails.append(kind)
            log("FAIL  %-40s delivered %d, want %s +%d; drops %s"
                % (kind, sent, "/".join(want), sent, gs))
    log("result mode=malformed kinds=%d delivered=%d refused=%d lost=%d failed=%d"
        % (len(kinds), delivered, len(refused), len(lost), len(fails)))
    if refused or lost:
        log("result not-delivered=%s" % "; ".join(refused + lost))
    return 0 if not fails and delivered > 0 else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["bulk", "connects", "inwindow", "malformed"])
    p.add_argument("--addr", default="10.0.0.2")
    p.add_argument("--peer", default="10.0.0.1")
    p.add_argument("--port", type=int, default=7)
    p.add_argument("--tundra", default="build/tundra")
    p.add_argument("--secs", type=float, default=10)
    p.add_argument("--rate", type=float, default=1 << 20, help="bulk: bytes/s")
    p.add_argument("--final", type=int, default=0, help="bulk: bytes at full speed at the end")
    p.add_argument("--gap", type=float, default=0.02)
    p.add_argument("--count", type=int, default=100000)
    p.add_argument("--min-ratio", type=float, default=0.95)
    p.add_argument("--min-attempts", type=int, default=10)
    p.add_argument("--copies", type=int, default=3)
    p.add_argument("--timeout", type=float, default=10)
    a = p.parse_args()
    return {"bulk": run_bulk, "connects": run_connects,
            "inwindow": run_inwindow, "malformed": run_malformed}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
