#!/bin/bash
# test_defend.sh BUILD_DIR — the defences against the real Linux peer:
# SYN cookies (--syncookies always: every connection is made from a cookie,
# so the kernel's SYN options must survive the cookie round trip), and the
# connection cap (--max-conns: SYNs beyond it get no answer). BUILD_DIR/tundra
# runs in a network namespace of its own (tundra-def-<pid>, deleted on exit);
# kernel-side load from BUILD_DIR/bench/loadgen and python3 sockets, each
# under `timeout`; processes are stopped by PID.
#
# Output: PASS/FAIL per test, then "N passed, M failed"; exit 0 only when
# nothing failed. Logs of a failed run are kept under /tmp.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

TUNDRA=$BUILD/tundra
PROBE=$BUILD/tests/it_ctl_probe
LOADGEN=$BUILD/bench/loadgen
[[ -x $LOADGEN ]] || LOADGEN=build/bench/loadgen
NS=tundra-def-$$
ADDR=10.0.0.2

if [[ $(id -u) -ne 0 ]]; then
	echo "test_defend.sh: needs root (network namespaces, TUN)" >&2
	exit 2
fi
for f in "$TUNDRA" "$PROBE" "$LOADGEN"; do
	if [[ ! -x $f ]]; then
		echo "test_defend.sh: $f not found (run make first)" >&2
		exit 2
	fi
done
command -v python3 >/dev/null || { echo "test_defend.sh: needs python3" >&2; exit 2; }

san_setup "$BUILD"

LOG=$(mktemp -d /tmp/tundra-def.XXXXXX)
OUT=$LOG/tundra.out
ERR=$LOG/tundra.err

cleanup() {
	tundra_kill
	wait 2>/dev/null
	ns_cleanup_all
	if ((nfail == 0)); then
		rm -rf "$LOG"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stat NAME — `stat --json` into $LOG/NAME.json.
stat() {
	in_ns $((15 * SLOW)) "$PROBE" stat --json >"$LOG/$1.json" 2>"$LOG/$1.err"
}

# pycheck NAME FILE PYTHON — PYTHON with the JSON of FILE as `d`, and
# w(key) the sum of a worker counter; PASS when it exits 0.
pycheck() {
	local name=$1 file=$2 code=$3 out
	if out=$(python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
def w(k): return sum(x[k] for x in d['workers'])
$code
" "$file" 2>&1); then
		t_pass "$name"
	else
		t_fail "$name" "$(tail -n 3 <<<"$out" | tr '\n' ' ')"
	fi
}

launch() {
	tundra_launch "$NS" $((120 * SLOW)) $((100 * SLOW)) "$OUT" "$ERR" \
		"$TUNDRA" --dev tun0 --addr "$ADDR/24" --peer-addr 10.0.0.1/24 "$@" &&
		tundra_alive
}

stop() {
	if tundra_stop $((50 * SLOW)) && ((TUNDRA_RC == 0)); then
		t_pass "$1: tundra stops cleanly"
		t_no_sanitizer_reports "$ERR"
	else
		t_fail "$1: tundra stops cleanly" "exit ${TUNDRA_RC:-?}"
		tundra_kill
	fi
}

echo "== defence tests: $TUNDRA (namespace $NS)"
ns_create "$NS" || { echo "test_defend.sh: cannot create namespace $NS" >&2; exit 2; }

# ---- SYN cookies, every connection -------------------------------------

if launch --queues 2 --workers 2 --syncookies always; then
	t_pass "start tundra (syncookies always)"
else
	t_fail "start tundra (syncookies always)" "$(tail -n 2 "$ERR")"
	t_summary
	exit 1
fi
# Linux's SYN offers MSS, SACK, timestamps and window scale: the cookie
# keeps them all (the last two in our TSval), and 1 MiB each way only
# passes with the window scaled right.
if in_ns $((30 * SLOW)) "$LOADGEN" echo --host "$ADDR" --port 7 --bytes 1M \
	--conns 8 --timeout $((20 * SLOW)) >"$LOG/echo.out" 2>&1; then
	t_pass "echo 8 x 1 MiB, every connection from a SYN cookie"
else
	t_fail "echo 8 x 1 MiB through SYN cookies" "$(tail -n 2 "$LOG/echo.out")"
fi
if stat cookies; then
	pycheck "stat: syncookies_sent/ok count the handshakes" "$LOG/cookies.json" "
assert w('syncookies_ok') >= 8, w('syncookies_ok')
assert w('syncookies_sent') >= w('syncookies_ok'), (w('syncookies_sent'), w('syncookies_ok'))
assert w('syncookies_failed') == 0, w('syncookies_failed')
assert w('conns_accepted') == w('syncookies_ok'), (w('conns_accepted'), w('syncookies_ok'))
"
else
	t_fail "stat: syncookies counters" "$(cat "$LOG/cookies.err")"
fi
stop "syncookies always"

# ---- the connection cap ------------------------------------------------

# One worker, 4 connections at most: the 5th and 6th SYN are dropped
# (no RST, so connect() times out); closing makes room (after TIME-WAIT,
# which is on our side only when we close first: here the peer does).
if launch --queues 1 --workers 1 --max-conns 4; then
	t_pass "start tundra (max-conns 4)"
else
	t_fail "start tundra (max-conns 4)" "$(tail -n 2 "$ERR")"
	t_summary
	exit 1
fi
if in_ns $((30 * SLOW)) python3 - "$ADDR" >"$LOG/cap.out" 2>&1 <<'EOF'
import socket, sys
host = sys.argv[1]
held, refused = [], 0
for i in range(6):
    s = socket.socket()
    s.settimeout(1.5)
    try:
        s.connect((host, 9))
        held.append(s)
    except (socket.timeout, TimeoutError):
        refused += 1
        s.close()
print('held', len(held), 'timed out', refused)
assert len(held) == 4 and refused == 2, (len(held), refused)
# The held ones still work.
for s in held:
    s.sendall(b'x' * 1000)
for s in held:
    s.close()
EOF
then
	t_pass "max-conns 4: 4 connect, 2 SYNs unanswered ($(tail -n 1 "$LOG/cap.out"))"
else
	t_fail "max-conns 4: 4 connect, 2 SYNs unanswered" "$(tail -n 2 "$LOG/cap.out")"
fi
if stat cap; then
	pycheck "stat: TCP_CONN_LIMIT drops counted" "$LOG/cap.json" "
assert d['drops']['TCP_CONN_LIMIT'] >= 2, d['drops']['TCP_CONN_LIMIT']
assert w('conns_accepted') == 4, w('conns_accepted')
"
else
	t_fail "stat: TCP_CONN_LIMIT drops" "$(cat "$LOG/cap.err")"
fi
# The peer closed first, so no TIME-WAIT here: room again at once.
if in_ns $((30 * SLOW)) "$LOADGEN" echo --host "$ADDR" --port 7 --bytes 64K \
	--conns 4 --timeout $((20 * SLOW)) >"$LOG/echo2.out" 2>&1; then
	t_pass "max-conns 4: room again once closed (echo 4 x 64 KiB)"
else
	t_fail "max-conns 4: room again once closed" "$(tail -n 2 "$LOG/echo2.out")"
fi
stop "max-conns"

t_summary
