#!/bin/bash
# test_api.sh BUILD_DIR — the thread API (include/tundra/socket.h) against
# the Linux TCP peer, through BUILD_DIR/tests/it_api_tool.
#
# Everything runs in a network namespace made for this run (tundra-api-<pid>),
# deleted on exit. Each api_tool run makes its own stack and TUN device in it
# (tundra 10.0.0.2, kernel side 10.0.0.1), so runs are sequential. Kernel
# peers are build/bench/loadgen servers and small python3 programs, bound to
# the wildcard address in the namespace. Every command runs under `timeout`;
# background processes are stopped by PID.
#
# With a sanitizer build (BUILD_DIR like build/san-address-undefined) the
# sanitizer options of run.sh are exported, time limits are tripled, and a
# sanitizer report on api_tool's stderr fails its test.
#
# Output: PASS/FAIL per test, then "N passed, M failed"; exit 0 only when
# nothing failed. Logs of a failed run are kept under BUILD_DIR.
# BIG (default 1G) sets the size of the two long transfers.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

TOOL=$BUILD/tests/it_api_tool
LOADGEN=$BUILD/bench/loadgen
[[ -x $LOADGEN ]] || LOADGEN=build/bench/loadgen
BIG=${BIG:-1G}
NS=tundra-api-$$
TADDR=10.0.0.2
KADDR=10.0.0.1
STACK=(--dev tun0 --addr "$TADDR/24" --peer-addr "$KADDR/24" --workers 2 --queues 2)

if [[ $(id -u) -ne 0 ]]; then
	echo "test_api.sh: needs root (network namespaces, TUN)" >&2
	exit 2
fi
for f in "$TOOL" "$LOADGEN"; do
	if [[ ! -x $f ]]; then
		echo "test_api.sh: $f not found (run make first)" >&2
		exit 2
	fi
done
command -v python3 >/dev/null || { echo "test_api.sh: needs python3" >&2; exit 2; }

san_setup "$BUILD"

LOG=$(mktemp -d /tmp/tundra-api.XXXXXX)
bgpids=()

cleanup() {
	local p i
	for p in "${bgpids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for ((i = 0; i < 30; i++)); do
		local any=0
		for p in "${bgpids[@]}"; do
			kill -0 "$p" 2>/dev/null && any=1
		done
		((any)) || break
		sleep 0.1
	done
	for p in "${bgpids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	ns_cleanup_all
	((nfail == 0)) && rm -rf "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bg NAME SECONDS CMD... — start CMD in the namespace in the background,
# stdout/stderr in $LOG/NAME.{out,err}; its PID (the timeout's) in BGPID.
bg() {
	local name=$1 t=$(($2 * SLOW))
	shift 2
	timeout -k 5 "$t" ip netns exec "$NS" "$@" >"$LOG/$name.out" 2>"$LOG/$name.err" &
	BGPID=$!
	bgpids+=("$BGPID")
}

# stop_bg PID — SIGTERM the process under timeout/ip netns exec (the
# child of the timeout), wait for it; its status in BGRC.
stop_bg() {
	local pid=$1 child i
	child=$(child_pid "$pid")
	[[ -n $child ]] && kill -TERM "$child" 2>/dev/null
	for ((i = 0; i < 100 * SLOW; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	BGRC=$?
}

# wait_bg PID SECONDS — wait for a background peer to finish by itself;
# past SECONDS (a peer whose tundra died waits forever) stop it.
wait_bg() {
	local i
	for ((i = 0; i < $2 * 10 * SLOW; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$1" 2>/dev/null && stop_bg "$1"
	wait "$1" 2>/dev/null
}

wait_line() { # FILE REGEX SECONDS
	local i
	for ((i = 0; i < $3 * 10 * SLOW; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# tool NAME SECONDS ARGS... — run api_tool in the namespace (foreground).
tool() {
	local name=$1 t=$(($2 * SLOW))
	shift 2
	in_ns "$t" "$TOOL" "$@" "${STACK[@]}" --timeout $((t - 5)) \
		>"$LOG/$name.out" 2>"$LOG/$name.err"
}

# The worker lines of the last stats snapshot of a file.
last_workers() {
	awk '/^stats rx /{n=0; delete w} /^stats worker=/{w[n++]=$0}
	     /^stats tx /{m=n; for (i=0;i<n;i++) keep[i]=w[i]}
	     END{for (i=0;i<m;i++) print keep[i]}' "$1"
}
# field FIELD — sum of FIELD=V over stdin lines.
field_sum() {
	grep -o "$1=[0-9]*" | cut -d= -f2 | awk '{s+=$1} END{print s+0}'
}
field_list() { grep -o "$1=[0-9]*" | cut -d= -f2 | paste -sd/ -; }

# check NAME RC FILE — PASS when RC is 0, the file has "ok=1" and no
# sanitizer report; FAIL with context otherwise.
check() {
	local name=$1 rc=$2 base=$3 rep
	rep=$(sanitizer_report "$LOG/$base.err" 3)
	if ((rc == 0)) && [[ -z $rep ]] && grep -q ' ok=1' "$LOG/$base.out"; then
		t_pass "$name"
		grep -h '^result ' "$LOG/$base.out" | sed 's/^/        /'
		return 0
	fi
	if [[ -n $rep ]]; then
		t_fail "$name" "sanitizer: $(head -n 1 <<<"$rep")"
	elif ((rc == 124 || rc == 137)); then
		t_fail "$name" "timed out"
	else
		t_fail "$name" "exit $rc"
	fi
	tail -n 8 "$LOG/$base.out" "$LOG/$base.err" 2>/dev/null | sed 's/^/        | /'
	return 1
}

# ---- python kernel peers -------------------------------------------------
cat >"$LOG/peer.py" <<'EOF'
import os, socket, sys, threading
mode = sys.argv[1]
PAT = bytes(i % 251 for i in range(251)) * (2 * 1024 * 1024 // 251 + 2)
def listen(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(8); print("listening", flush=True)
    c, _ = s.accept(); s.close(); return c
if mode == "sink":          # read until EOF checking i % 251, then close
    c = listen(int(sys.argv[2])); buf = bytearray(1 << 20); n = 0; ok = True
    while True:
        k = c.recv_into(buf)
        if not k: break
        if n == 0:   # what the kernel negotiated (struct tcp_info)
            i = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
            print("tcpinfo ts=%d sack=%d wscale=%d,%d" % (i[5] & 1, i[5] >> 1 & 1,
                  i[6] & 15, i[6] >> 4), flush=True)
        o = n % 251
        if ok and buf[:k] != PAT[o:o + k]: ok = False; print("mismatch near", n, flush=True)
        n += k
    c.close(); print("result mode=sink bytes=%d ok=%d" % (n, ok), flush=True)
elif mode == "sendclose":   # send N bytes of i % 251, then close first
    c = listen(int(sys.argv[2])); n = int(sys.argv[3]); off = 0
    while off < n:
        k = min(n - off, 1 << 20); c.sendall(PAT[off % 251: off % 251 + k]); off += k
    c.close(); print("result mode=sendclose bytes=%d ok=1" % n, flush=True)
elif mode == "sendreset":  # send until the peer resets (it closes unread)
    c = listen(int(sys.argv[2])); off = 0; err = "none"
    try:
        while off < (1 << 30):
            c.sendall(PAT[off % 251: off % 251 + 65536]); off += 65536
    except OSError as e:
        err = type(e).__name__
    ok = err in ("ConnectionResetError", "BrokenPipeError")
    print("result mode=sendreset bytes=%d error=%s ok=%d" % (off, err, ok), flush=True)
elif mode == "halfclose":   # send N, shutdown(SHUT_WR), read the echo to EOF
    n = int(sys.argv[4]); data = os.urandom(n)
    c = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=60)
    def tx():
        c.sendall(data); c.shutdown(socket.SHUT_WR)
    th = threading.Thread(target=tx); th.start(); got = bytearray()
    while True:
        b = c.recv(1 << 20)
        if not b: break
        got += b
    th.join(); c.close(); ok = bytes(got) == data
    print("result mode=halfclose-kernel bytes=%d ok=%d" % (len(got), ok), flush=True)
    sys.exit(0 if ok else 1)
EOF
peer() { python3 "$LOG/peer.py" "$@"; }
PEER=(python3 "$LOG/peer.py")

# ---- setup ---------------------------------------------------------------
echo "== thread API tests: $TOOL (namespace $NS)"
ns_create "$NS" || { echo "test_api.sh: cannot create namespace $NS" >&2; exit 2; }

# ---- tundra as server ----------------------------------------------------
bg server 200 "$TOOL" server --port 7 "${STACK[@]}" --timeout $((190 * SLOW))
SRV=$BGPID
if wait_line "$LOG/server.out" '^api_tool: ready' 10; then
	t0=$SECONDS
	in_ns $((30 * SLOW)) "$LOADGEN" echo --host $TADDR --port 7 --bytes 1M \
		--timeout $((25 * SLOW)) >"$LOG/srv_echo.out" 2>&1
	rc=$?
	: >"$LOG/srv_echo.err"
	check "server: kernel echo client, 1 MiB checked ($((SECONDS - t0))s)" $rc srv_echo
	in_ns $((60 * SLOW)) "$LOADGEN" echo --host $TADDR --port 7 --conns 50 \
		--bytes 256K --chunk 16K --timeout $((50 * SLOW)) >"$LOG/srv_echo50.out" 2>&1
	rc=$?
	: >"$LOG/srv_echo50.err"
	check "server: 50 concurrent echo clients, 256 KiB each" $rc srv_echo50
	in_ns $((30 * SLOW)) "${PEER[@]}" halfclose $TADDR 7 1048576 \
		>"$LOG/srv_half.out" 2>"$LOG/srv_half.err"
	check "half-close by the kernel: SHUT_WR, echo read to EOF (1 MiB)" $? srv_half
else
	t_fail "server: start" "$(tail -n 3 "$LOG/server.err")"
fi
stop_bg "$SRV"
rep=$(sanitizer_report "$LOG/server.err" 3)
if ((BGRC == 0)) && [[ -z $rep ]] && grep -q '^stats tx ' "$LOG/server.out"; then
	t_pass "server: clean exit on SIGTERM, stats printed (conns_accepted=$(
		last_workers "$LOG/server.out" | field_list conns_accepted))"
else
	t_fail "server: clean exit on SIGTERM" "status $BGRC ${rep:+sanitizer: $rep}"
	tail -n 5 "$LOG/server.err" | sed 's/^/        | /'
fi

# ---- tundra as client ----------------------------------------------------
bg kecho 1000 "$LOADGEN" server --port 7007 --mode echo --timeout 0
KECHO=$BGPID
bg ksource 1000 "$LOADGEN" server --port 1919 --mode source --timeout 0
KSRC=$BGPID
wait_line "$LOG/kecho.out" '^server: listening' 5
wait_line "$LOG/ksource.out" '^server: listening' 5

t0=$SECONDS
tool client 60 client --host $KADDR --port 7007 --bytes 1M
check "client: to a kernel echo server, 1 MiB checked ($((SECONDS - t0))s)" $? client

# 1 GiB to a checking kernel sink, with ss -tni watched meanwhile.
bg sink 400 "${PEER[@]}" sink 9009
SINK=$BGPID
wait_line "$LOG/sink.out" '^listening' 5
t0=$SECONDS
tool send 300 client --send --host $KADDR --port 9009 --bytes "$BIG" &
TPID=$!
: >"$LOG/ss.txt"
for ((i = 0; i < 100; i++)); do
	in_ns 5 ss -tni "( dport = :9009 or sport = :9009 )" >"$LOG/ss.txt" 2>&1
	grep -q 'wscale:' "$LOG/ss.txt" && break
	kill -0 $TPID 2>/dev/null || break
	sleep 0.1
done
wait $TPID
rc=$?
secs=$((SECONDS - t0))
wait_bg "$SINK" 10
if ((rc == 0)) && grep -q ' ok=1' "$LOG/sink.out" &&
	grep -q "bytes=$(grep -o 'bytes=[0-9]*' "$LOG/send.out" | head -n1 | cut -d= -f2) " "$LOG/sink.out"; then
	check "client: $BIG to a kernel sink, content checked there (${secs}s)" 0 send
	sed 's/^/        /' "$LOG/sink.out" | grep result
else
	check "client: $BIG to a kernel sink, content checked there (${secs}s)" 1 send
	sed 's/^/        | sink: /' "$LOG/sink.out"
fi
# ss -tni (iproute2 6.1 here) prints wscale but not "ts"/"sack" on this
# kernel even between two kernel sockets, so those two come from the
# kernel socket's own TCP_INFO (tcpi_options), printed by the sink.
opts=$(grep -A1 "$TADDR" "$LOG/ss.txt" | tr '\n' ' ')
ti=$(grep -m1 '^tcpinfo ' "$LOG/sink.out")
if grep -q 'wscale:' <<<"$opts" && grep -q 'ts=1 sack=1 wscale=[1-9]' <<<"$ti"; then
	t_pass "window scaling, timestamps and SACK in use (ss: $(grep -oE 'wscale:[0-9,]+' <<<"$opts" | head -n1)$(
		grep -qw ts <<<"$opts" && echo ' ts')$(grep -qw sack <<<"$opts" && echo ' sack'); kernel ${ti#tcpinfo })"
else
	t_fail "window scaling, timestamps and SACK in use" "ss -tni: ${opts:-nothing}; kernel: ${ti:-no tcpinfo}"
fi

t0=$SECONDS
tool recv 300 client --recv --host $KADDR --port 1919 --bytes "$BIG"
check "client: $BIG from a kernel source, pattern checked ($((SECONDS - t0))s)" $? recv

tool refused 20 refused --host $KADDR --port 5555
check "connect to a closed kernel port: -ECONNREFUSED" $? refused

t0=$SECONDS
tool halfclose 60 halfclose-client --host $KADDR --port 7007 --bytes 1M
check "half-close by tundra: shutdown, echo read to EOF (1 MiB, $((SECONDS - t0))s)" $? halfclose

# Kernel closes first: the kernel ends in TIME-WAIT, tundra's connection is
# gone at once (LAST-ACK, then CLOSED).
bg sendclose 60 "${PEER[@]}" sendclose 2020 1048576
SC=$BGPID
wait_line "$LOG/sendclose.out" '^listening' 5
tool kclose 60 client --recv --until-eof --host $KADDR --port 2020 --bytes 1M
rc=$?
wait_bg "$SC" 10
tw=$(in_ns 5 ss -tan state time-wait "( sport = :2020 )" | grep -c "$KADDR:2020")
act=$(last_workers "$LOG/kclose.out" | field_sum conns_active)
if check "kernel closes first: EOF after 1 MiB, then tundra closes" $rc kclose; then
	if ((tw >= 1 && act == 0)); then
		t_pass "kernel closes first: kernel in TIME-WAIT, tundra conns_active=0"
	else
		t_fail "kernel closes first: TIME-WAIT on the kernel side" \
			"kernel TIME-WAIT sockets=$tw tundra conns_active=$act"
	fi
fi

# Close with unread data: RFC 1122 §4.2.2.13 / Linux: RST, and the kernel
# sender sees ECONNRESET (or EPIPE after it).
bg sendreset 60 "${PEER[@]}" sendreset 2222
SR=$BGPID
wait_line "$LOG/sendreset.out" '^listening' 5
tool rclose 60 client --recv --host $KADDR --port 2222 --bytes 1M
rc=$?
wait_bg "$SR" 5
if check "close with unread data: read 1 MiB of an endless stream, close" $rc rclose; then
	if grep -q ' ok=1' "$LOG/sendreset.out"; then
		t_pass "close with unread data resets: $(grep -o 'error=[A-Za-z]*' "$LOG/sendreset.out") on the kernel side"
	else
		t_fail "close with unread data resets" "$(tail -n 2 "$LOG/sendreset.out")"
	fi
fi

# Tundra closes first: tundra in TIME-WAIT (its connection still counted
# in conns_active after both FINs), the kernel not; gone after 2 s.
bg sink2 60 "${PEER[@]}" sink 2121
SK2=$BGPID
wait_line "$LOG/sink2.out" '^listening' 5
tool tclose 60 closefirst --host $KADDR --port 2121 --bytes 1M --time-wait 2000
rc=$?
wait_bg "$SK2" 10
ktw=$(in_ns 5 ss -tan state time-wait "( sport = :2121 )" | grep -c "$KADDR:2121")
mid=$(awk '/^phase after-close/{p=1} /^phase after-time-wait/{p=0} p' "$LOG/tclose.out" |
	grep '^stats worker=' | field_sum conns_active)
end=$(awk '/^phase after-time-wait/{p=1} p' "$LOG/tclose.out" |
	grep '^stats worker=' | field_sum conns_active)
if ((rc == 0)) && grep -q 'bytes=1048576 ok=1' "$LOG/sink2.out" &&
	[[ -z $(sanitizer_report "$LOG/tclose.err" 3) ]]; then
	t_pass "tundra closes first: every byte delivered before the FIN (kernel sink checked 1 MiB)"
	if ((mid == 1 && end == 0 && ktw == 0)); then
		t_pass "tundra closes first: tundra in TIME-WAIT (conns_active 1 after close, 0 after 2 s), kernel not"
	else
		t_fail "tundra closes first: TIME-WAIT on tundra's side" \
			"conns_active after close=$mid after time-wait=$end kernel TIME-WAIT=$ktw"
	fi
else
	check "tundra closes first" 1 tclose
	sed 's/^/        | sink: /' "$LOG/sink2.out"
fi

# 1000 concurrent connections.
t0=$SECONDS
tool conns 120 conns --host $KADDR --port 7007 --count 1000 --time-wait 1000
rc=$?
if check "1000 concurrent connections, 1-byte echo each, closed ($((SECONDS - t0))s)" $rc conns; then
	lines=$(last_workers "$LOG/conns.out")
	act=$(field_list conns_active <<<"$lines")
	con=$(field_sum conns_connected <<<"$lines")
	if [[ -n $lines ]] && ! grep -q 'conns_active=[1-9]' <<<"$lines" && ((con == 1000)); then
		t_pass "1000 connections: conns_active=$act on every worker at exit, conns_connected=$con"
	else
		t_fail "1000 connections: all closed at exit" "conns_active=$act conns_connected=$con"
	fi
fi

stop_bg "$KECHO"
stop_bg "$KSRC"

if ((nfail > 0)); then
	keep=$BUILD/api-logs.$(date +%Y%m%d-%H%M%S).$$
	mkdir -p "$keep" && cp -a "$LOG"/. "$keep"/ && rm -rf "$LOG" &&
		echo "--- logs kept in $keep"
fi
t_summary
((nfail == 0))
