#!/usr/bin/env python3
"""make_seeds.py - write the seed corpus of the fuzz targets.

    python3 tests/fuzz/make_seeds.py        (from the repository root)

Rewrites tests/fuzz/corpus/<target>/*.bin: small valid datagrams for
`parse` and `input`, operation sequences for `tcp_state` (their encoding
is the one fuzz_tcp_state.c decodes). The files are committed; this
script documents how they were made.
"""
import os
import struct

OUR = bytes([10, 0, 0, 2])
PEER = bytes([10, 0, 0, 1])
HERE = os.path.dirname(os.path.abspath(__file__))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(proto, payload, src=PEER, dst=OUR, ttl=64, frag=0x4000):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag,
                    ttl, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def tcp(sport, dport, seq, ack, flags, wnd=65535, opts=b"", data=b"",
        src=PEER, dst=OUR):
    while len(opts) % 4:
        opts += b"\0"
    off = (20 + len(opts)) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags,
                    wnd, 0, 0) + opts
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(h) + len(data))
    c = csum(pseudo + h + data)
    h = h[:16] + struct.pack("!H", c) + h[18:]
    return ipv4(6, h + data, src, dst)


def icmp_echo(data=b"ping"):
    m = struct.pack("!BBHHH", 8, 0, 0, 7, 1) + data
    m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
    return ipv4(1, m)


SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
MSS = b"\x02\x04\x05\xb4"
SYNOPTS = MSS + b"\x04\x02\x08\x0a\x00\x00\x10\x00\x00\x00\x00\x00\x01\x03\x03\x07"

DGRAMS = {
    "syn": tcp(40000, 5000, 1000, 0, SYN),
    "syn_opts": tcp(40001, 5000, 2000, 0, SYN, opts=SYNOPTS),
    "syn_closed_port": tcp(40002, 6000, 3000, 0, SYN),
    "ack_data": tcp(40000, 5000, 1001, 77, ACK | PSH, data=b"hello" * 20),
    "fin": tcp(40000, 5000, 1001, 77, ACK | FIN),
    "rst": tcp(40000, 5000, 1001, 0, RST),
    "icmp_echo": icmp_echo(),
    "fragment": ipv4(6, b"\0" * 20, frag=0x2000),
}


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".bin"), "wb") as f:
        f.write(data)


# parse: mode byte 0 (bytes as they are), and the option-area mode.
for name, d in DGRAMS.items():
    write("parse", name, b"\0" + d)
write("parse", "opts_syn", b"\x18" + SYNOPTS)
write("parse", "opts_bad_len", b"\x18\x02\x05\x05\xb4\x00")
write("parse", "repair_all", b"\x07" + DGRAMS["syn_opts"][:30] + b"\xff" * 12)

# input: config byte, then records ctrl(1) len(2) bytes.
def rec(d, ctrl=0):
    return bytes([ctrl]) + struct.pack("!H", len(d)) + d

write("input", "syn", b"\x00" + rec(DGRAMS["syn"]))
write("input", "syn_opts_time", b"\x05" + rec(DGRAMS["syn_opts"], 0x38) +
      rec(DGRAMS["syn_opts"], 0x20))
write("input", "mixed", b"\x01" + b"".join(rec(d) for d in DGRAMS.values()))
write("input", "icmp", b"\x00" + rec(DGRAMS["icmp_echo"]))

# tcp_state: operations of fuzz_tcp_state.c.
OP_SEG, OP_FLUSH, OP_TIME, OP_TXDONE, OP_TXALL, OP_WRITE, OP_READ, \
    OP_CLOSE, OP_ABORT, OP_CONNECT, OP_OPTS, OP_DESC, OP_MODE, OP_RAW, \
    OP_SEG2 = range(15)
D0 = 0x00          # fz_delta: 0
def dsmall(v):     # fz_delta: -16..15
    return 0x40 | (v + 16)
def dpage(v):      # fz_delta: (-32..31) * 256
    return 0x80 | (v + 32)
M_NXT, M_IRS, M_ADV, M_OOO = 0x00, 0x40, 0x80, 0xC0   # seq modes
A_MAX, A_UNA, A_NXT, A_ISS = 0x00, 0x40, 0x80, 0xC0   # ack modes


def seg(t, flags, sm=M_NXT, sd=D0, am=A_MAX, ad=D0, w=0xFF, opts=b"\x00",
        length=0, op=OP_SEG2):
    return bytes([op, t, flags, sm, sd, am, ad, w]) + opts + bytes([length])


CONN = 0x80  # the first connection of the table
syn_opts = bytes([0x0F, 0x16, 7]) + b"\x00\x00\x10\x00"  # mss ws sack ts
ts_next = bytes([0x08, dsmall(1), D0])

passive = (seg(0x00, SYN, opts=syn_opts) +
           seg(CONN, ACK, opts=ts_next) +
           seg(CONN, ACK | PSH, opts=ts_next, length=100) +
           bytes([OP_WRITE, 0, 200, OP_FLUSH, OP_TXALL, 0]) +
           seg(CONN, ACK, opts=ts_next) +
           seg(CONN, ACK | FIN, opts=ts_next) +
           bytes([OP_CLOSE, 0, OP_FLUSH, OP_TXALL, 0]) +
           seg(CONN, ACK, opts=ts_next))
write("tcp_state", "passive_lifecycle", b"\x00" + passive)

active = (bytes([OP_CONNECT, 0, OP_FLUSH, OP_TXALL, 0]) +
          seg(CONN, SYN | ACK, am=A_ISS, ad=dsmall(1), opts=b"\x07\x16\x07") +
          bytes([OP_WRITE, 0, 0x84, OP_FLUSH]) +
          seg(CONN, ACK, am=A_UNA, ad=dpage(2)) +
          bytes([OP_TIME, 0x80, OP_TIME, 0x80, OP_TXALL, 1]) +
          bytes([OP_CLOSE, 0, OP_FLUSH]) +
          seg(CONN, ACK | FIN) +
          bytes([OP_TIME, 0x80]))
write("tcp_state", "active_rto", b"\x06" + active)

ooo = (seg(0x00, SYN, opts=b"\x05\x16") + seg(CONN, ACK) +
       seg(CONN, ACK, sd=dpage(4), length=0x84) +
       seg(CONN, ACK, sd=dpage(12), length=0x84) +
       seg(CONN, ACK | FIN, sm=M_OOO, length=50) +
       seg(CONN, ACK, length=0x88) +
       bytes([OP_READ, 0, 0xFF, OP_FLUSH, OP_TXALL, 0]))
write("tcp_state", "reassembly", b"\x04" + ooo)

zero = (bytes([OP_MODE, 0]) + seg(0x00, SYN) + seg(CONN, ACK) +
        seg(CONN, ACK, length=0xA0) + seg(CONN, ACK, length=0xA0) +
        seg(CONN, ACK, length=0x90) +
        bytes([OP_WRITE, 0, 0x88, OP_FLUSH, OP_TXALL, 0]) +
        seg(CONN, ACK, w=0) + bytes([OP_TIME, 0x80, OP_TIME, 0x80]) +
        bytes([OP_READ, 0, 0xFF, OP_FLUSH]) + seg(CONN, ACK))
write("tcp_state", "zero_window", b"\x00" + zero)

held = (seg(0x00, SYN) + seg(CONN, ACK) +
        bytes([OP_DESC, 3, OP_WRITE, 0, 0x90, OP_FLUSH]) +
        seg(CONN, ACK, op=OP_SEG) +
        bytes([OP_TXDONE, 1, OP_TXDONE, 0, OP_DESC, 64, OP_FLUSH,
               OP_ABORT, 0, OP_TXALL, 1]))
write("tcp_state", "tx_out_of_order", b"\x02" + held)

# Nine out-of-order ranges: the ninth does not fit (DROP_TCP_OOO_FULL).
full = seg(0x00, SYN, opts=b"\x04") + seg(CONN, ACK)
for k in range(1, 10):
    full += seg(CONN, ACK, sd=dpage(2 * k), length=100)
full += seg(CONN, ACK, length=0x84) + bytes([OP_READ, 0, 0xFF])
write("tcp_state", "ooo_full", b"\x01" + full)
