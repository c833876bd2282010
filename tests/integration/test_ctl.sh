#!/bin/bash
# test_ctl.sh BUILD_DIR — live stats over the control socket (src/ctl/):
# BUILD_DIR/tundra in a network namespace of its own (tundra-ctl-<pid>,
# deleted on exit), queried with the client (BUILD_DIR/tests/it_ctl_probe,
# which is ctl_client_main) and with raw python3 requests on the abstract
# socket "\0tundra-tun0". Kernel-side load from BUILD_DIR/bench/loadgen.
# Every command runs under `timeout`; processes are stopped by PID.
#
# With a sanitizer build the options of run.sh are exported, time limits
# tripled, and a sanitizer report on tundra's stderr fails the run.
#
# Output: PASS/FAIL per test, then "N passed, M failed"; exit 0 only when
# nothing failed. Logs of a failed run are kept under BUILD_DIR.
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
NS=tundra-ctl-$$
ADDR=10.0.0.2
WORKERS=2
HOLD_CONNS=40

if [[ $(id -u) -ne 0 ]]; then
	echo "test_ctl.sh: needs root (network namespaces, TUN)" >&2
	exit 2
fi
for f in "$TUNDRA" "$PROBE" "$LOADGEN"; do
	if [[ ! -x $f ]]; then
		echo "test_ctl.sh: $f not found (run make first)" >&2
		exit 2
	fi
done
command -v python3 >/dev/null || { echo "test_ctl.sh: needs python3" >&2; exit 2; }

san_setup "$BUILD"

LOG=$(mktemp -d /tmp/tundra-ctl.XXXXXX)
OUT=$LOG/tundra.out
ERR=$LOG/tundra.err
bgpids=()

cleanup() {
	local p
	for p in "${bgpids[@]}"; do
		kill_wait "$p" 3
	done
	tundra_kill
	wait 2>/dev/null
	ns_cleanup_all
	if ((nfail == 0)); then
		rm -rf "$LOG"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# q NAME ARGS... — the client in the namespace; stdout in $LOG/NAME.out.
q() {
	local name=$1
	shift
	in_ns $((15 * SLOW)) "$PROBE" "$@" >"$LOG/$name.out" 2>"$LOG/$name.err"
}

# raw REQUEST_BYTES — send raw bytes (python escapes) on the abstract
# socket, print the reply.
raw() {
	in_ns $((15 * SLOW)) python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect("\0tundra-tun0")
s.sendall(sys.argv[1].encode().decode("unicode_escape").encode("latin-1"))
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
' "$1"
}

# pycheck NAME FILE PYTHON — run PYTHON with the JSON of FILE as `d`;
# PASS when it exits 0.
pycheck() {
	local name=$1 file=$2 code=$3 out
	if out=$(python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
$code
" "$file" 2>&1); then
		t_pass "$name"
	else
		t_fail "$name" "$(tail -n 3 <<<"$out" | tr '\n' ' ')"
	fi
}

# ---- setup -------------------------------------------------------------

echo "== control socket tests: $TUNDRA (namespace $NS)"
ns_create "$NS" || { echo "test_ctl.sh: cannot create namespace $NS" >&2; exit 2; }

# Before tundra: a clear error.
if q nosock stat; then
	t_fail "no tundra: client fails" "exit 0"
elif grep -q "no tundra running for tun0 in this network namespace" "$LOG/nosock.err"; then
	t_pass "no tundra: client says so ($(head -n 1 "$LOG/nosock.err"))"
else
	t_fail "no tundra: client says so" "$(head -n 1 "$LOG/nosock.err")"
fi

if tundra_launch "$NS" $((200 * SLOW)) $((100 * SLOW)) "$OUT" "$ERR" "$TUNDRA" \
	--dev tun0 --addr "$ADDR/24" --peer-addr 10.0.0.1/24 \
	--queues 2 --workers "$WORKERS" && tundra_alive; then
	t_pass "start tundra ($WORKERS workers)"
else
	t_fail "start tundra" "no 'tundra: ready' line"
	t_summary
	exit 1
fi

# ---- stat --------------------------------------------------------------

if q stat0 stat && grep -q '^stats rx pkts=' "$LOG/stat0.out" &&
	grep -q '^stats tx pkts=' "$LOG/stat0.out" &&
	[[ $(grep -c '^stats worker=' "$LOG/stat0.out") -eq $WORKERS ]] &&
	grep -q '^stats worker=1 .*rx_ring=.*tx_ring=.*drops=' "$LOG/stat0.out"; then
	t_pass "stat: rx, tx and $WORKERS worker lines"
else
	t_fail "stat: rx, tx and $WORKERS worker lines" "$(head -c 300 "$LOG/stat0.out")"
fi

if q json0 stat --json; then
	pycheck "stat --json parses, expected keys" "$LOG/json0.out" "
assert d['nworkers'] == $WORKERS, d['nworkers']
assert len(d['workers']) == $WORKERS
for k in ('pkts', 'bytes', 'ring_full', 'no_buf', 'wakeups'): assert k in d['rx'], k
for w in d['workers']:
    for k in ('pkts_in', 'bytes_in', 'pkts_out', 'bytes_out', 'rx_ring',
              'tx_ring', 'wakeups', 'batches', 'conns_active', 'drops',
              'syncookies_sent', 'syncookies_ok', 'syncookies_failed',
              'challenge_acks_sent', 'challenge_acks_limited',
              'reass_bytes'):
        assert k in w, k
for k in ('pkts', 'bytes', 'batches', 'wakeups'): assert k in d['tx'], k
assert 'IP_CSUM' in d['drops'] and 'TCP_CSUM' in d['drops']
for r in ('IP_LAND', 'IP_BAD_OPT', 'TCP_NULL_FLAGS', 'TCP_CONN_LIMIT',
          'TCP_SYNQ_FULL', 'TCP_OOO_MEM'):
    assert r in d['drops'], r
"
else
	t_fail "stat --json parses, expected keys" "client failed: $(cat "$LOG/json0.err")"
fi

if in_ns $((30 * SLOW)) "$LOADGEN" echo --host "$ADDR" --port 7 --bytes 1M \
	--conns 4 --timeout $((20 * SLOW)) >"$LOG/echo.out" 2>&1; then
	t_pass "echo 4 x 1 MiB"
else
	t_fail "echo 4 x 1 MiB" "$(tail -n 2 "$LOG/echo.out")"
fi

if q json1 stat --json; then
	pycheck "stat --json: counters grew after traffic" "$LOG/json1.out" "
d0 = json.load(open('$LOG/json0.out'))
# 4 MiB each way in datagrams of at most 64 KB (GSO/TSO super-packets
# with offloads): at least 64 each way.
assert d['rx']['pkts'] >= d0['rx']['pkts'] + 64, (d0['rx'], d['rx'])
assert d['rx']['bytes'] >= d0['rx']['bytes'] + 4 * 1048576, d['rx']
assert d['tx']['pkts'] >= d0['tx']['pkts'] + 64, d['tx']
assert sum(w['pkts_in'] for w in d['workers']) > sum(w['pkts_in'] for w in d0['workers'])
assert sum(w['bytes_out'] for w in d['workers']) >= 4 * 1048576
assert sum(w['conns_accepted'] for w in d['workers']) >= 4
"
else
	t_fail "stat --json: counters grew after traffic" "client failed"
fi

if q prom stat --prometheus && python3 - "$LOG/prom.out" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
helps = {l.split()[2] for l in lines if l.startswith('# HELP ')}
types = {l.split()[2]: l.split()[3] for l in lines if l.startswith('# TYPE ')}
assert helps == set(types), helps ^ set(types)
sample = re.compile(r'^(tundra_[a-z_]+)(\{[a-z]+="[A-Za-z0-9_]+"\})? ([0-9]+)$')
names = set()
for l in lines:
    if l.startswith('#'):
        continue
    m = sample.match(l)
    assert m, 'bad sample line: ' + l
    names.add(m.group(1))
    assert m.group(1) in types, 'no TYPE for ' + l
    if types[m.group(1)] == 'counter':
        assert m.group(1).endswith('_total'), l
assert 'tundra_worker_pkts_in_total' in names
assert 'tundra_worker_syncookies_sent_total' in names
assert types.get('tundra_worker_reass_bytes') == 'gauge', types.get('tundra_worker_reass_bytes')
assert any(l.startswith('tundra_worker_pkts_in_total{worker="1"} ') for l in lines)
assert any(l.startswith('tundra_drops_total{reason="IP_CSUM"} ') for l in lines)
assert any(re.match(r'tundra_rx_pkts_total [1-9]', l) for l in lines)
EOF
then
	t_pass "stat --prometheus: HELP/TYPE lines, numeric samples, labels"
else
	t_fail "stat --prometheus: HELP/TYPE lines, numeric samples, labels" "$(head -n 3 "$LOG/prom.out")"
fi

# ---- conns -------------------------------------------------------------

in_ns $((60 * SLOW)) "$LOADGEN" hold --host "$ADDR" --port 7 --conns "$HOLD_CONNS" \
	--hold $((8 * SLOW)) --timeout $((50 * SLOW)) >"$LOG/hold.out" 2>&1 &
bgpids+=($!)
hold_pid=$!
n=0
for ((i = 0; i < 100 * SLOW; i++)); do
	q conns conns || true
	n=$(grep -c '^conn .* ESTABLISHED ' "$LOG/conns.out" 2>/dev/null || true)
	# Held and quiet: the peer may not have acked the last echo yet
	# (a delayed ACK), or a byte may have arrived in the batch whose
	# callbacks the snapshot ran before (it runs between a worker's
	# read and its flush), which the field check below would catch.
	((n >= HOLD_CONNS)) && ! grep -qE ' (sndbuf|rcvbuf)=[1-9]' "$LOG/conns.out" && break
	sleep 0.1
done
if ((n == HOLD_CONNS)) && grep -q "^conns total=$HOLD_CONNS shown=$HOLD_CONNS workers=$WORKERS\$" "$LOG/conns.out"; then
	t_pass "conns: $HOLD_CONNS ESTABLISHED while loadgen holds them"
else
	t_fail "conns: $HOLD_CONNS ESTABLISHED while loadgen holds them" \
		"got $n: $(head -n 2 "$LOG/conns.out" | tr '\n' ' ')"
fi
# The 4-tuples: tundra's side is 10.0.0.2:7, the peer 10.0.0.1:<ephemeral>,
# each peer port once; fields as documented.
if awk -v want="$HOLD_CONNS" '
	/^conn / {
		n++
		if ($2 != "10.0.0.2:7" || $3 !~ /^10\.0\.0\.1:[0-9]+$/ || $4 != "ESTABLISHED") bad++
		if (seen[$3]++) bad++
		if ($0 !~ / worker=[01] snd_una=[0-9]+ snd_nxt=[0-9]+ snd_wnd=[0-9]+ rcv_nxt=[0-9]+ rcv_wnd=[0-9]+ srtt_ms=[0-9.]+ rttvar_ms=[0-9.]+ rto_ms=[0-9.]+ retransmits=0 bytes_acked=[0-9]+ bytes_received=1 sndbuf=0\/[0-9]+ rcvbuf=0\/[0-9]+ mss=[0-9]+ cc=cubic cwnd=[1-9][0-9]* ssthresh=[0-9]+ recovery=0 retrans_bytes=0$/) { bad++; print "bad: " $0 }
	}
	END { exit !(n == want && bad == 0) }' "$LOG/conns.out" >"$LOG/conns.check"; then
	t_pass "conns: 4-tuples, state and fields right"
else
	t_fail "conns: 4-tuples, state and fields right" "$(head -n 2 "$LOG/conns.check")"
fi
# Both workers hold some (the flow hash spreads 40 connections).
if [[ $(grep -o '^conn .* worker=[0-9]*' "$LOG/conns.out" | awk '{print $NF}' | sort -u | wc -l) -eq $WORKERS ]]; then
	t_pass "conns: gathered from every worker"
else
	t_fail "conns: gathered from every worker" "$(grep -o 'worker=[0-9]*' "$LOG/conns.out" | sort | uniq -c | tr '\n' ' ')"
fi
if q connsj conns --json; then
	pycheck "conns --json parses, $HOLD_CONNS connections" "$LOG/connsj.out" "
assert d['total'] == $HOLD_CONNS and d['shown'] == $HOLD_CONNS, (d['total'], d['shown'])
assert d['truncated'] is False and d['missing_workers'] == []
assert len(d['conns']) == $HOLD_CONNS
for c in d['conns']:
    assert c['state'] == 'ESTABLISHED' and c['laddr'] == '10.0.0.2' and c['lport'] == 7
    assert c['raddr'] == '10.0.0.1' and c['local'] == '10.0.0.2:7'
    assert c['remote'] == '10.0.0.1:%d' % c['rport']
    assert c['cc'] == 'cubic' and c['cwnd'] >= 2 * c['mss'] - 24 and c['in_recovery'] is False and c['retrans_bytes'] == 0 and c['rto_ms'] > 0 and c['bytes_received'] == 1
    for k in ('snd_una', 'snd_nxt', 'snd_wnd', 'rcv_nxt', 'rcv_wnd', 'srtt_ms',
              'rttvar_ms', 'retransmits', 'bytes_acked', 'sndbuf_used',
              'sndbuf_cap', 'rcvbuf_used', 'rcvbuf_cap', 'worker'):
        assert k in c, k
"
else
	t_fail "conns --json parses, $HOLD_CONNS connections" "client failed"
fi

# Concurrent clients while the connections are held: 8 at once, 5 each.
conc_ok=1
cpids=()
for ((k = 0; k < 8; k++)); do
	(
		for ((j = 0; j < 5; j++)); do
			case $(((k + j) % 4)) in
			0) in_ns $((30 * SLOW)) "$PROBE" stat >/dev/null || exit 1 ;;
			1) in_ns $((30 * SLOW)) "$PROBE" conns --json >/dev/null || exit 1 ;;
			2) in_ns $((30 * SLOW)) "$PROBE" stat --prometheus >/dev/null || exit 1 ;;
			3) raw 'stat json\n' | python3 -c 'import json,sys; json.load(sys.stdin)' || exit 1 ;;
			esac
		done
	) &
	cpids+=($!)
done
for p in "${cpids[@]}"; do
	wait "$p" || conc_ok=0
done
if ((conc_ok)) && tundra_alive; then
	t_pass "8 concurrent clients x 5 requests"
else
	t_fail "8 concurrent clients x 5 requests" "$(tundra_alive && echo 'a request failed' || echo 'tundra died')"
fi

if wait "$hold_pid"; then
	t_pass "loadgen hold $HOLD_CONNS ($(grep -o 'held=[0-9]*' "$LOG/hold.out"))"
else
	t_fail "loadgen hold $HOLD_CONNS" "$(tail -n 2 "$LOG/hold.out")"
fi
# After the hold: tundra is the passive closer (the kernel closes first),
# so nothing lingers in TIME-WAIT here.
n=-1
for ((i = 0; i < 50 * SLOW; i++)); do
	q conns2 conns || true
	grep -q '^conns total=0 ' "$LOG/conns2.out" && { n=0; break; }
	sleep 0.1
done
if ((n == 0)); then
	t_pass "conns: 0 after loadgen closed them"
else
	t_fail "conns: 0 after loadgen closed them" "$(head -n 1 "$LOG/conns2.out")"
fi

# ---- the raw protocol --------------------------------------------------

out=$(raw 'garbage request\n' 2>&1)
if [[ $out == "error: unknown request"* ]]; then
	t_pass "garbage request: error line ($(head -c 40 <<<"$out")...)"
else
	t_fail "garbage request: error line" "$out"
fi
out=$(raw "$(printf 'x%.0s' {1..300})" 2>&1)
if [[ $out == "error: request longer than 256 bytes"* ]]; then
	t_pass "300-byte request: error line"
else
	t_fail "300-byte request: error line" "$out"
fi
out=$(raw 'stat\n' 2>&1)
if grep -q '^stats tx ' <<<"$out"; then
	t_pass "still serving after bad requests (raw 'stat')"
else
	t_fail "still serving after bad requests (raw 'stat')" "$(head -n 1 <<<"$out")"
fi
# A request without a newline, ended by shutting down the write side.
out=$(in_ns $((15 * SLOW)) python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("\0tundra-tun0")
s.sendall(b"conns json")
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(65536)
    if not b: break
    out += b
print(out.decode(), end="")' 2>&1)
if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["total"] == 0' "$out" 2>/dev/null; then
	t_pass "request ended by EOF (raw 'conns json')"
else
	t_fail "request ended by EOF (raw 'conns json')" "$(head -c 200 <<<"$out")"
fi
# A silent client is dropped after the read timeout; others wait, then go on.
in_ns $((15 * SLOW)) python3 -c '
import socket, time
s = socket.socket(socket.AF_UNIX)
s.connect("\0tundra-tun0")
time.sleep(4)' &
silent=$!
sleep 0.3
t0=$(date +%s%N)
if raw 'stat\n' | grep -q '^stats rx '; then
	t_pass "silent client times out, the next one is served ($((($(date +%s%N) - t0) / 1000000)) ms)"
else
	t_fail "silent client times out, the next one is served"
fi
wait "$silent"
# The client's --watch loop: two refreshes, then SIGINT ends it with 0.
timeout -k 5 $((20 * SLOW)) ip netns exec "$NS" "$PROBE" stat --watch 0.2 \
	>"$LOG/watch.out" 2>&1 &
wpid=$!
sleep 1.5
# timeout -> ip netns exec (execs the probe): the probe is the timeout's child.
wchild=$(child_pid "$wpid")
kill -INT "$wchild" 2>/dev/null
if wait "$wpid" && [[ $(grep -c 'every 0.2s: tundra stat' "$LOG/watch.out") -ge 2 ]]; then
	t_pass "stat --watch refreshes, Ctrl-C ends it (status 0)"
else
	t_fail "stat --watch refreshes, Ctrl-C ends it (status 0)" "$(grep -c 'every' "$LOG/watch.out") refreshes"
fi
# Usage errors.
if q bad1 conns --prometheus; then
	t_fail "conns --prometheus: usage error" "exit 0"
else
	t_pass "conns --prometheus: usage error"
fi
if q bad2 stat --dev nosuchdev; then
	t_fail "--dev of no running tundra: error" "exit 0"
elif grep -q "no tundra running for nosuchdev" "$LOG/bad2.err"; then
	t_pass "--dev of no running tundra: error"
else
	t_fail "--dev of no running tundra: error" "$(cat "$LOG/bad2.err")"
fi
if q sock stat --socket @tundra-tun0 && grep -q '^stats rx ' "$LOG/sock.out"; then
	t_pass "--socket @tundra-tun0"
else
	t_fail "--socket @tundra-tun0" "$(cat "$LOG/sock.err")"
fi

# ---- shutdown ----------------------------------------------------------

if tundra_stop $((100 * SLOW)) && ((TUNDRA_RC == 0)); then
	t_pass "clean exit on SIGTERM (status 0)"
else
	t_fail "clean exit on SIGTERM" "status ${TUNDRA_RC:-still running}"
	kill -KILL "$TUNDRA_PID" 2>/dev/null
fi
TUNDRA_PID=""
if q gone stat; then
	t_fail "socket gone with tundra" "client still connects"
else
	t_pass "socket gone with tundra"
fi
t_no_sanitizer_reports "$ERR"

if ((nfail > 0)); then
	keep=$BUILD/ctl-logs.$(date +%Y%m%d-%H%M%S).$$
	mkdir -p "$keep" && cp -a "$LOG"/. "$keep"/ && rm -rf "$LOG"
	echo "--- logs kept in $keep"
	LOG=$keep
fi
t_summary
((nfail == 0))
