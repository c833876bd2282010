#!/bin/bash
# test_rtc.sh BUILD_DIR — io_mode rtc (src/worker/rtc.c: each worker reads
# and writes its own TUN queue, no RX or TX thread) and eBPF queue steering
# (src/tun/steer.c), against the kernel, in a namespace of its own
# (tundra-rtc-<pid>, removed on exit; processes stopped by PID only):
#
#   - rtc, steering auto (2 workers, 2 queues): the log says rtc and eBPF
#     steering; no tundra-rx / tundra-tx thread; ping; echo 1 MiB, 256 MiB
#     to discard and from source (content checked); 100 concurrent echo
#     connections; 2 s of crr (connect, 1 byte echo, close, 8 in flight);
#     every worker accepted connections; no datagram read on a foreign
#     queue (other_queue=0: the program puts each on its owner's);
#   - rtc, steering off, offloads off (2 workers, 2 queues): the same
#     traffic, so datagrams land on foreign queues (the SYNs at least)
#     and are passed between the workers (other_queue > 0) and nothing is
#     lost for it (the transfers check their content);
#   - io_mode rtc with workers != queues is refused at start;
#   - pipeline with steering (4 workers, 2 queues): 100 echo connections,
#     other_queue=0 (worker w's flows on queue w mod 2);
#   - an idle rtc tundra uses no CPU (at most 3 clock ticks in 2 s);
#   - every run ends with a clean exit (status 0) on SIGTERM, no drops.
#
# Output: PASS/FAIL per check, then "N passed, M failed".
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

it_prologue test_rtc.sh
NS=tundra-rtc-$$
ADDR=10.0.0.2
LIFETIME=200

LOG=$(mktemp -d /tmp/tundra-rtc.XXXXXX)

cleanup() {
	tundra_kill
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

# check NAME SECONDS CMD... — PASS when CMD (run in the namespace) exits 0.
check() {
	local name=$1 t=$2 out rc
	shift 2
	out=$(in_ns $((t * SLOW)) "$@" 2>&1)
	rc=$?
	if ((rc == 0)); then
		t_pass "$name ($(tail -n 1 <<<"$out" | cut -c1-90))"
	else
		t_fail "$name" "rc=$rc: $(tail -n 2 <<<"$out" | tr '\n' ' ' | cut -c1-200)"
	fi
}

# stat_sum FILE KEY — the sum of KEY=N over the stats lines of FILE.
stat_sum() {
	grep -o "\<$2=[0-9]*" "$1" | cut -d= -f2 | awk '{ s += $1 } END { print s + 0 }'
}

# start TAG ARGS... — start tundra with ARGS; logs under $LOG/TAG.*.
start() {
	local tag=$1
	shift
	OUT=$LOG/$tag.out
	ERR=$LOG/$tag.err
	if tundra_launch "$NS" "$LIFETIME" $((100 * SLOW)) "$OUT" "$ERR" \
		"$TUNDRA" --dev tun0 --addr "$ADDR/24" --peer-addr 10.0.0.1/24 \
		"$@" && tundra_alive; then
		t_pass "$tag: start"
		return 0
	fi
	t_fail "$tag: start" "$(tail -n 2 "$ERR" | tr '\n' ' ')"
	tundra_kill
	return 1
}

# stop TAG — SIGTERM, expect exit 0 and the final stats on stdout.
stop() {
	if ! tundra_stop $((100 * SLOW)); then
		t_fail "$1: clean exit" "still running after $((10 * SLOW))s"
		tundra_kill
	elif ((TUNDRA_RC == 0)) && grep -q '^stats tx ' "$OUT"; then
		t_pass "$1: clean exit (status 0, stats printed)"
	else
		t_fail "$1: clean exit" "status $TUNDRA_RC"
	fi
	TUNDRA_PID=""
	t_no_sanitizer_reports "$ERR"
}

# threads TAG WANT — tundra's thread names (sorted) are WANT.
threads() {
	local got
	got=$(cat /proc/"$TUNDRA_PID"/task/*/comm | grep '^tundra-[rtw]' | sort | tr '\n' ' ')
	if [[ $got == "$2" ]]; then
		t_pass "$1: threads $got"
	else
		t_fail "$1: threads" "got '$got', wanted '$2'"
	fi
}

# logged TAG TEXT — tundra's log (stderr) has TEXT.
logged() {
	if grep -qF "$2" "$ERR"; then
		t_pass "$1: logged '$2'"
	else
		t_fail "$1: logged '$2'" "$(grep -m3 'info' "$ERR" | tr '\n' ' ' | cut -c1-200)"
	fi
}

traffic() {
	local tag=$1 size=$2
	check "$tag: ping" 15 ping -n -c 3 -i 0.2 -W 2 "$ADDR"
	check "$tag: echo 1 MiB, content checked" 30 \
		"$LOADGEN" echo --host "$ADDR" --port 7 --bytes 1M --timeout $((20 * SLOW))
	check "$tag: $size to discard" 70 \
		"$LOADGEN" send --host "$ADDR" --port 9 --bytes "$size" --timeout $((60 * SLOW))
	check "$tag: $size from source, pattern checked" 70 \
		"$LOADGEN" recv --host "$ADDR" --port 19 --bytes "$size" \
		--verify-pattern --timeout $((60 * SLOW))
	check "$tag: 100 concurrent echo connections" 70 \
		"$LOADGEN" echo --host "$ADDR" --port 7 --conns 100 --bytes 256K \
		--chunk 16K --timeout $((60 * SLOW))
	check "$tag: crr 3000 connections, 8 in flight" 30 \
		"$LOADGEN" crr --host "$ADDR" --port 7 --conns 8 --size 1 \
		--count 3000 --timeout $((20 * SLOW))
}

# counters TAG OQ — after stop: every worker accepted, no drops; OQ is
# "zero" or "some" datagrams read on a foreign queue.
counters() {
	local tag=$1 acc oq drops
	acc=$(grep '^stats worker=' "$OUT" | tail -n 2 | grep -o 'conns_accepted=[0-9]*' | cut -d= -f2 | paste -sd/ -)
	if [[ $acc =~ ^[1-9][0-9]*/[1-9][0-9]*$ ]]; then
		t_pass "$tag: both workers accepted connections ($acc)"
	else
		t_fail "$tag: both workers accepted connections" "conns_accepted $acc"
	fi
	drops=$(grep '^stats rx ' "$OUT" | tail -n 1 | grep -oE '\<(ring_full|no_buf|read_errors)=[0-9]*' | tr '\n' ' ')
	if [[ $drops == "ring_full=0 no_buf=0 read_errors=0 " ]]; then
		t_pass "$tag: no receive drops ($drops)"
	else
		t_fail "$tag: no receive drops" "$drops"
	fi
	oq=$(grep '^stats rx ' "$OUT" | tail -n 1 | grep -o 'other_queue=[0-9]*' | cut -d= -f2)
	if [[ $2 == zero && $oq == 0 ]] || [[ $2 == some && ${oq:-0} -gt 0 ]]; then
		t_pass "$tag: other_queue=$oq ($2 expected)"
	else
		t_fail "$tag: other_queue=${oq:-missing}" "$2 expected"
	fi
}

# idle TAG — an idle tundra uses (almost) no CPU: at most 3 clock ticks
# (utime + stime, /proc/PID/stat) in 2 s, after a second to settle.
idle() {
	local a b
	sleep 1
	a=$(cpu_ticks "$TUNDRA_PID")
	sleep 2
	b=$(cpu_ticks "$TUNDRA_PID")
	if ((b - a <= 3)); then
		t_pass "$1: idle, $((b - a)) CPU ticks in 2 s"
	else
		t_fail "$1: idle" "$((b - a)) CPU ticks in 2 s (at most 3 expected)"
	fi
}

# ---- rtc, steering -------------------------------------------------------
if start rtc --workers 2 --queues 2 --io-mode rtc; then
	logged rtc "io_mode rtc"
	logged rtc "steering: eBPF"
	threads rtc "tundra-w0 tundra-w1 "
	traffic rtc 256M
	idle rtc
	stop rtc
	counters rtc zero
fi

# ---- rtc, no steering, no offloads: datagrams passed between workers ------
if start rtc-nosteer --workers 2 --queues 2 --io-mode rtc --steering off \
	--offload off; then
	logged rtc-nosteer "io_mode rtc"
	traffic rtc-nosteer 64M
	stop rtc-nosteer
	counters rtc-nosteer some
fi

# ---- rtc needs a queue per worker ------------------------------------------
out=$(in_ns $((10 * SLOW)) "$TUNDRA" --dev tun0 --addr "$ADDR/24" \
	--peer-addr 10.0.0.1/24 --workers 2 --queues 1 --io-mode rtc 2>&1)
rc=$?
if ((rc == 1)) && grep -q 'io_mode rtc needs as many queues as workers' <<<"$out"; then
	t_pass "rtc with 2 workers on 1 queue: refused (exit 1)"
else
	t_fail "rtc with 2 workers on 1 queue: refused" "rc=$rc: $(tail -n 1 <<<"$out")"
fi

# ---- pipeline, steering --------------------------------------------------
if start pipeline --workers 4 --queues 2; then
	logged pipeline "io_mode pipeline"
	threads pipeline "tundra-rx tundra-tx tundra-w0 tundra-w1 tundra-w2 tundra-w3 "
	check "pipeline: 100 concurrent echo connections" 70 \
		"$LOADGEN" echo --host "$ADDR" --port 7 --conns 100 --bytes 256K \
		--chunk 16K --timeout $((60 * SLOW))
	stop pipeline
	oq=$(grep '^stats rx ' "$OUT" | tail -n 1 | grep -o 'other_queue=[0-9]*' | cut -d= -f2)
	if [[ $oq == 0 ]]; then
		t_pass "pipeline: other_queue=0 (steered)"
	else
		t_fail "pipeline: other_queue=${oq:-missing}" "0 expected"
	fi
fi

t_summary
((nfail == 0))
