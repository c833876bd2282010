#!/bin/bash
# test_capture.sh BUILD_DIR — pcap capture, logging and graceful stop of
# build/tundra against the kernel, in a namespace of its own
# (tundra-cap-<pid>, removed on exit; processes stopped by PID only):
#
#   - tundra runs with --pcap FILE; ping, one small echo exchange
#     (loadgen), and one idle echo connection held by a kernel client;
#   - SIGTERM: the drain must FIN the idle connection (the client reads
#     EOF) and tundra must exit 0 well within --stop-grace-ms;
#   - tcpdump -r FILE -nn must show, with the right addresses and in order:
#     ICMP echo request and reply; for the echo connection the SYN, the
#     SYN-ACK, data both ways, and a FIN each way; and tundra's FIN on the
#     idle connection;
#   - the log lines (stderr) name the device, the threads and the drain;
#   - an unwritable --pcap path fails tundra_create with one clear line.
#
# Output: PASS/FAIL per check, then "N passed, M failed".
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

it_prologue test_capture.sh
NS=tundra-cap-$$
ADDR=10.0.0.2
PEER=10.0.0.1
GRACE_MS=3000

if ! command -v tcpdump >/dev/null; then
	echo "test_capture.sh: tcpdump not installed" >&2
	exit 2
fi
if ! "$TUNDRA" --help 2>&1 | grep -q -- '--pcap'; then
	echo "test_capture.sh: $TUNDRA has no --pcap option" >&2
	exit 2
fi

LOG=$(mktemp -d /tmp/tundra-cap.XXXXXX)
OUT=$LOG/tundra.out
ERR=$LOG/tundra.err
PCAP=$LOG/capture.pcap
HOLD_PID=""

cleanup() {
	tundra_kill
	[[ -n $HOLD_PID ]] && kill_wait "$HOLD_PID" 2
	wait 2>/dev/null
	ns_cleanup_all
	if ((nfail == 0)); then
		rm -rf "$LOG"
	else
		echo "--- logs kept in $LOG"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ns_create "$NS" || { echo "cannot create namespace $NS" >&2; exit 2; }

# ---- an unwritable capture path: a clear error, no device left -----------
out=$(timeout -k 5 $((20 * SLOW)) ip netns exec "$NS" "$TUNDRA" --dev tcap0 \
	--pcap /nonexistent-dir-$$/x.pcap --workers 1 --queues 1 2>&1)
rc=$?
if ((rc != 0)) && grep -q 'cannot write capture file /nonexistent-dir' <<<"$out"; then
	t_pass "unwritable --pcap path refused ($(grep -m1 'capture file' <<<"$out" | cut -c1-100))"
else
	t_fail "unwritable --pcap path refused" "rc=$rc: $(tr '\n' ' ' <<<"$out" | cut -c1-200)"
fi
if ip -n "$NS" link show dev tcap0 >/dev/null 2>&1; then
	t_fail "no device left after the failed start"
else
	t_pass "no device left after the failed start"
fi

# ---- the run ---------------------------------------------------------------
if tundra_launch "$NS" $((120 * SLOW)) $((100 * SLOW)) "$OUT" "$ERR" "$TUNDRA" \
	--dev tun0 --addr "$ADDR/24" --peer-addr "$PEER/24" --queues 1 \
	--workers 2 --pcap "$PCAP" --stop-grace-ms "$GRACE_MS" \
	--log-level info && tundra_alive; then
	t_pass "start with --pcap"
else
	t_fail "start with --pcap" "$(tail -n 3 "$ERR" | tr '\n' ' ')"
	t_summary
	exit 1
fi

if in_ns $((15 * SLOW)) ping -n -c 2 -i 0.2 -W 2 "$ADDR" >"$LOG/ping.log" 2>&1; then
	t_pass "ping"
else
	t_fail "ping" "$(tail -n 2 "$LOG/ping.log" | tr '\n' ' ')"
fi
if in_ns $((20 * SLOW)) "$LOADGEN" echo --host "$ADDR" --port 7 --bytes 3000 \
	--chunk 1000 --timeout $((15 * SLOW)) >"$LOG/echo.log" 2>&1; then
	t_pass "echo 3000 bytes"
else
	t_fail "echo 3000 bytes" "$(tail -n 2 "$LOG/echo.log" | tr '\n' ' ')"
fi

# An idle connection a kernel client holds open: it must see EOF (our FIN)
# when tundra stops. `cat` exits 0 at EOF; the timeout bounds it.
timeout -k 2 $((30 * SLOW)) ip netns exec "$NS" bash -c '
	exec 3<>/dev/tcp/'"$ADDR"'/7 || exit 3
	echo ready >'"$LOG"'/hold.ready
	cat <&3 >/dev/null
	echo "eof rc=$?"' >"$LOG/hold.log" 2>&1 &
HOLD_PID=$!
for ((i = 0; i < 50 * SLOW; i++)); do
	[[ -e $LOG/hold.ready ]] && break
	sleep 0.1
done
sleep 0.3
if [[ -e $LOG/hold.ready ]]; then
	t_pass "idle echo connection open"
else
	t_fail "idle echo connection open" "$(cat "$LOG/hold.log")"
fi

# ---- graceful stop ----------------------------------------------------------
t0=$(date +%s%N)
if tundra_stop $(((GRACE_MS / 100 + 50) * SLOW)); then
	ms=$((($(date +%s%N) - t0) / 1000000))
	if ((TUNDRA_RC == 0)); then
		t_pass "stop: exit 0 in ${ms} ms (grace ${GRACE_MS} ms)"
	else
		t_fail "stop: exit status $TUNDRA_RC"
	fi
	if ((ms < GRACE_MS * SLOW)); then
		t_pass "stop finished before the grace ran out (${ms} ms)"
	else
		t_fail "stop finished before the grace ran out" "${ms} ms"
	fi
else
	t_fail "stop" "still running"
fi
TUNDRA_PID=""
hold_rc=0
wait "$HOLD_PID" || hold_rc=$?
HOLD_PID=""
if ((hold_rc == 0)) && grep -q '^eof rc=0' "$LOG/hold.log"; then
	t_pass "idle connection: kernel client read EOF at stop"
else
	t_fail "idle connection: kernel client read EOF at stop" \
		"rc=$hold_rc $(tr '\n' ' ' <"$LOG/hold.log")"
fi

# ---- the log ----------------------------------------------------------------
for pat in 'info: device tun0 ready' 'info: capturing to ' \
	'info: threads started' 'info: drained in' 'info: threads stopped'; do
	if grep -q -- "$pat" "$ERR"; then
		t_pass "log line '$pat'"
	else
		t_fail "log line '$pat'" "$(head -c 300 "$ERR" | tr '\n' '|')"
	fi
done
if grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z tundra[-a-z0-9]* info: ' "$ERR"; then
	t_pass "log format: timestamp, thread name, level"
else
	t_fail "log format" "$(head -n 2 "$ERR" | tr '\n' '|')"
fi

# ---- the capture ------------------------------------------------------------
if ! tcpdump -r "$PCAP" -nn -tt >"$LOG/dump.txt" 2>"$LOG/dump.err"; then
	t_fail "tcpdump reads the capture" "$(cat "$LOG/dump.err")"
else
	t_pass "tcpdump reads the capture ($(wc -l <"$LOG/dump.txt") packets)"
fi
D=$LOG/dump.txt

# ordered NAME REGEX... — each REGEX matches a line of the dump, each after
# the line the previous one matched.
ordered() {
	local name=$1
	shift
	if awk -v n=$# 'BEGIN { for (i = 1; i < ARGC; i++) re[i] = ARGV[i]; ARGC = 1; k = 1 }
		k <= n && $0 ~ re[k] { k++ }
		END { exit !(k > n) }' "$@" <"$D"; then
		t_pass "$name"
	else
		t_fail "$name" "not found in this order: $*"
	fi
}

ordered "capture: ICMP echo request then reply" \
	"IP $PEER > $ADDR: ICMP echo request" "IP $ADDR > $PEER: ICMP echo reply"

# The echo connection: the first client port that sent data.
port=$(awk -v p="$PEER" -v a="$ADDR" '$3 ~ "^"p"\\." && $5 == a".7:" && / length [1-9]/ {
	split($3, f, "."); print f[5]; exit }' "$D")
if [[ -z $port ]]; then
	t_fail "capture: echo connection found" "no data segment to $ADDR.7"
else
	C="$PEER\\.$port > $ADDR\\.7:"
	S="$ADDR\\.7 > $PEER\\.$port:"
	ordered "capture: SYN, SYN-ACK, data both ways, FINs (port $port)" \
		"$C Flags \\[S\\]" "$S Flags \\[S\\.\\]" \
		"$C Flags \\[P?\\.\\].* length [1-9]" "$S Flags \\[P?\\.\\].* length [1-9]" \
		"Flags \\[F" "Flags \\[F"
	if grep -Eq "$C Flags \\[F" "$D" && grep -Eq "$S Flags \\[F" "$D"; then
		t_pass "capture: a FIN each way (port $port)"
	else
		t_fail "capture: a FIN each way (port $port)"
	fi
fi
# The idle connection: tundra's FIN from the drain.
hport=$(awk -v p="$PEER" -v a="$ADDR" -v skip="${port:-x}" '$3 ~ "^"p"\\." && $5 == a".7:" && /Flags \[S\]/ {
	split($3, f, "."); if (f[5] != skip) print f[5] }' "$D" | tail -n 1)
if [[ -n $hport ]] && grep -Eq "$ADDR\\.7 > $PEER\\.$hport: Flags \\[F" "$D"; then
	t_pass "capture: tundra's FIN on the idle connection (port $hport)"
else
	t_fail "capture: tundra's FIN on the idle connection" "port ${hport:-?}"
fi

t_no_sanitizer_reports "$ERR"
t_summary
((nfail == 0))
