#!/usr/bin/env python3
"""iperf3_badctl.py HOST [PORT] — drive tundra's iperf3 server by hand.

Speaks the iperf3 control protocol (ESnet iperf 3.x: a 37-byte cookie,
one-byte states, 32-bit big-endian length + JSON) with deliberate mistakes,
and checks that the server ends each broken test promptly: with
SERVER_ERROR (-2) + i_errno + errno where the protocol has a message for
it, or by closing the connection. Also one complete, correct test done by
hand, so the byte count the server reports can be checked exactly, and
ACCESS_DENIED for a second client and for a stranger's stream.

Prints PASS/FAIL per case and "N passed, M failed"; exit status 1 if any
case failed. Every socket operation has a timeout.
"""
import json
import socket
import string
import struct
import sys
import random
import time

HOST = sys.argv[1] if len(sys.argv) > 1 else "10.0.0.2"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 5201
TIMEOUT = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0

# iperf_api.h
TEST_START, TEST_RUNNING, TEST_END = 1, 2, 4
PARAM_EXCHANGE, CREATE_STREAMS = 9, 10
EXCHANGE_RESULTS, DISPLAY_RESULTS, IPERF_DONE = 13, 14, 16
ACCESS_DENIED, SERVER_ERROR = -1, -2
IERECVCOOKIE, IERECVPARAMS, IEPROTOCOL = 106, 114, 131

npass = nfail = 0


def ok(name):
    global npass
    npass += 1
    print(f"PASS  {name}", flush=True)


def ko(name, why):
    global nfail
    nfail += 1
    print(f"FAIL  {name}: {why}", flush=True)


def cookie():
    # make_cookie(): 36 characters of a 32-letter alphabet, then NUL.
    alpha = string.ascii_lowercase + "234567"
    return "".join(random.choice(alpha) for _ in range(36)).encode() + b"\0"


def connect():
    s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def state(s):
    return struct.unpack("b", recv_exact(s, 1))[0]


def send_json(s, obj_or_text):
    data = obj_or_text if isinstance(obj_or_text, bytes) else \
        json.dumps(obj_or_text).encode()
    s.sendall(struct.pack("!I", len(data)) + data)


def expect_eof(s):
    """The server closes: EOF (or a reset) before TIMEOUT, nothing else."""
    try:
        extra = s.recv(4096)
    except ConnectionResetError:
        return True, "reset"
    except socket.timeout:
        return False, "no EOF within %.0f s" % TIMEOUT
    if extra:
        return False, f"unexpected bytes {extra[:16]!r}"
    return True, "EOF"


def expect_server_error(name, s, ie):
    try:
        st = state(s)
        if st != SERVER_ERROR:
            return ko(name, f"state {st}, want SERVER_ERROR")
        got_ie, got_errno = struct.unpack("!ii", recv_exact(s, 8))
    except (EOFError, OSError) as e:
        return ko(name, f"no SERVER_ERROR: {e}")
    if got_ie != ie:
        return ko(name, f"i_errno {got_ie}, want {ie}")
    closed, how = expect_eof(s)
    if not closed:
        return ko(name, how)
    ok(f"{name} (SERVER_ERROR i_errno={got_ie} errno={got_errno}, then {how})")


def params(**kw):
    p = {"tcp": True, "omit": 0, "time": 1, "parallel": 1, "len": 131072,
         "pacing_timer": 1000, "client_version": "3.12"}
    p.update(kw)
    return p


def start(s, ck=None):
    """Cookie, PARAM_EXCHANGE; returns the cookie."""
    ck = ck or cookie()
    s.sendall(ck)
    st = state(s)
    if st != PARAM_EXCHANGE:
        raise RuntimeError(f"state {st}, want PARAM_EXCHANGE")
    return ck


def run(name, fn):
    t0 = time.monotonic()
    try:
        fn(name)
    except Exception as e:  # any surprise is a failure of this case
        ko(name, f"{type(e).__name__}: {e}")
    if time.monotonic() - t0 > 2 * TIMEOUT:
        ko(name + " (time)", "took %.1f s" % (time.monotonic() - t0))


# ---- cases -----------------------------------------------------------

def short_cookie(name):
    with connect() as s:
        s.sendall(b"abc")
        s.shutdown(socket.SHUT_WR)
        closed, how = expect_eof(s)
        (ok(f"{name} ({how})") if closed else ko(name, how))


def cookie_no_nul(name):
    with connect() as s:
        s.sendall(b"a" * 37)
        expect_server_error(name, s, IERECVCOOKIE)


def huge_length(name):
    with connect() as s:
        start(s)
        s.sendall(struct.pack("!I", 0x7FFFFFFF))
        expect_server_error(name, s, IERECVPARAMS)


def truncated_json(name):
    with connect() as s:
        start(s)
        text = json.dumps(params()).encode()
        s.sendall(struct.pack("!I", len(text)) + text[: len(text) // 2])
        s.shutdown(socket.SHUT_WR)
        closed, how = expect_eof(s)
        (ok(f"{name} ({how})") if closed else ko(name, how))


def invalid_json(name):
    with connect() as s:
        start(s)
        send_json(s, b'{"tcp": true, "parallel": ')
        expect_server_error(name, s, IERECVPARAMS)


def json_not_object(name):
    with connect() as s:
        start(s)
        send_json(s, b"[1, 2, 3]")
        expect_server_error(name, s, IERECVPARAMS)


def too_many_streams(name):
    with connect() as s:
        start(s)
        send_json(s, params(parallel=1000))
        expect_server_error(name, s, IERECVPARAMS)


def udp(name):
    with connect() as s:
        start(s)
        p = params()
        del p["tcp"]
        p["udp"] = True
        send_json(s, p)
        expect_server_error(name, s, IEPROTOCOL)


def wrong_state(name):
    with connect() as s:
        start(s)
        send_json(s, params())
        st = state(s)
        if st != CREATE_STREAMS:
            return ko(name, f"state {st}, want CREATE_STREAMS")
        s.sendall(struct.pack("b", 99))
        closed, how = expect_eof(s)
        (ok(f"{name} ({how})") if closed else ko(name, how))


def test_end_too_early(name):
    with connect() as s:
        start(s)
        send_json(s, params())
        if state(s) != CREATE_STREAMS:
            return ko(name, "no CREATE_STREAMS")
        s.sendall(bytes([TEST_END]))
        closed, how = expect_eof(s)
        (ok(f"{name} ({how})") if closed else ko(name, how))


def busy(name):
    with connect() as a:
        start(a)  # a test is now being set up
        with connect() as b:
            b.sendall(cookie())
            st = state(b)
            if st != ACCESS_DENIED:
                return ko(name, f"second client got state {st}")
            closed, how = expect_eof(b)
            if not closed:
                return ko(name, "second client: " + how)
        ok(f"{name} (ACCESS_DENIED, then {how})")


def full_test_by_hand(name):
    """A whole forward test with 2 streams, a stranger's stream denied,
    and the receiver byte counts checked exactly."""
    sizes = [300000, 123457]
    with connect() as c:
        ck = start(c)
        send_json(c, params(parallel=len(sizes)))
        if state(c) != CREATE_STREAMS:
            return ko(name, "no CREATE_STREAMS")
        # A stranger during CREATE_STREAMS (iperf_tcp_accept).
        with connect() as x:
            x.sendall(cookie())
            if state(x) != ACCESS_DENIED:
                return ko(name, "stranger's stream not denied")
        streams = []
        for _ in sizes:
            d = connect()
            d.sendall(ck)
            streams.append(d)
        if state(c) != TEST_START or state(c) != TEST_RUNNING:
            return ko(name, "no TEST_START, TEST_RUNNING")
        for d, n in zip(streams, sizes):
            d.sendall(b"\x5a" * n)
        time.sleep(0.5)  # let it arrive before TEST_END
        c.sendall(bytes([TEST_END]))
        if state(c) != EXCHANGE_RESULTS:
            return ko(name, "no EXCHANGE_RESULTS")
        send_json(c, {"cpu_util_total": 0, "cpu_util_user": 0,
                      "cpu_util_system": 0, "sender_has_retransmits": 0,
                      "streams": [{"id": 1, "bytes": sizes[0],
                                   "retransmits": 0, "jitter": 0,
                                   "errors": 0, "packets": 0},
                                  {"id": 3, "bytes": sizes[1],
                                   "retransmits": 0, "jitter": 0,
                                   "errors": 0, "packets": 0}]})
        (n,) = struct.unpack("!I", recv_exact(c, 4))
        res = json.loads(recv_exact(c, n))
        if state(c) != DISPLAY_RESULTS:
            return ko(name, "no DISPLAY_RESULTS")
        got = {st["id"]: st["bytes"] for st in res["streams"]}
        # The server numbers streams (1, 3) in the order it accepted
        # them; two connections made back to back may land on different
        # workers and be accepted in either order, so compare the counts
        # as a multiset (the sizes differ, so each is still exact).
        if sorted(got) != [1, 3] or sorted(got.values()) != sorted(sizes):
            return ko(name, f"server counted {got}, sent {sizes}")
        if res.get("sender_has_retransmits") != -1:
            return ko(name, f"sender_has_retransmits {res.get('sender_has_retransmits')}")
        for d in streams:  # the server half-closed them at TEST_END
            if d.recv(1) != b"":
                return ko(name, "data on a stream")
            d.close()
        c.sendall(bytes([IPERF_DONE]))
        c.shutdown(socket.SHUT_WR)
        closed, how = expect_eof(c)
        if not closed:
            return ko(name, how)
        ok(f"{name} (server counted {got[1]}+{got[3]} bytes exactly)")


def main():
    cases = [short_cookie, cookie_no_nul, huge_length, truncated_json,
             invalid_json, json_not_object, too_many_streams, udp,
             wrong_state, test_end_too_early, busy, full_test_by_hand]
    for fn in cases:
        run(fn.__name__.replace("_", " "), fn)
        time.sleep(0.05)
    print(f"{npass} passed, {nfail} failed")
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
