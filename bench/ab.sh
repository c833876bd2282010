#!/bin/bash
# ab.sh BUILD_DIR — interleaved A/B comparison of tundra configurations
# against the kernel's TCP over a veth pair, on the latency-bound tests:
# rr (1 connection, 1-byte echo) and crr (CRR_CONNS in flight, connect +
# 1 byte echo + close), the same loadgen client as bench/run.sh.
#
#   CONFIGS='pipe=--io-mode pipeline;rtc=--io-mode rtc' bash bench/ab.sh build
#   CONFIGS='main=@/tmp/main/build/tundra;new=' bash bench/ab.sh build
#
# Every configuration runs in its own namespace at the same time (an idle
# tundra sleeps); each run round measures the kernel and every
# configuration one after another, in a rotated order, so a noisy moment
# of a shared machine hits every side alike. Prints each run's numbers and
# then the median per side and its ratio to the kernel's median. For rr
# and crr it also gives each tundra's own CPU time per transaction
# (rr_cpu_us, crr_cpu_us: utime + stime of all its threads, system calls
# included), which moves far less with the machine's noise than the rates.
#
# Knobs: CONFIGS (NAME=tundra options, ';'-separated), RUNS (5), DURATION
# (2 s), CRR_CONNS (8), TESTS ("rr crr"; also "send" and "recv": BYTES,
# 512M, to discard / from source), WORKERS/QUEUES (nproc), SRC_ADDRS (16),
# OUT (bench/results/ab-<timestamp>). The kernel side serves send/recv
# with loadgen's thread-per-connection discard and source servers.
#
# Safety: namespaces are private to this run (names carry $$) and removed
# on exit; every command runs under `timeout`; processes are stopped by PID.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

NPROC=$(nproc)
CONFIGS=${CONFIGS:-"pipeline=--io-mode pipeline;rtc=--io-mode rtc"}
RUNS=${RUNS:-5}
DURATION=${DURATION:-2}
CRR_CONNS=${CRR_CONNS:-8}
TESTS=${TESTS:-"rr crr"}
BYTES=${BYTES:-512M}
WORKERS=${WORKERS:-$NPROC}
QUEUES=${QUEUES:-$NPROC}
SRC_ADDRS=${SRC_ADDRS:-16}
LOADGEN=$BUILD/bench/loadgen
# congestion control of every kernel socket (loadgen --cc): not the host default
KERNEL_CC=${KERNEL_CC:-cubic}
TUNDRA_BIN=$BUILD/tundra
RES=${OUT:-bench/results/ab-$(date +%Y%m%d-%H%M%S)}

die() { echo "ab: $*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, TUN)"
[[ -x $LOADGEN && -x $TUNDRA_BIN ]] || die "run make first"
for v in RUNS CRR_CONNS SRC_ADDRS WORKERS QUEUES; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
((RUNS <= 50 && SRC_ADDRS <= 200)) || die "RUNS <= 50, SRC_ADDRS <= 200"
[[ $DURATION =~ ^[0-9]+([.][0-9]+)?$ ]] || die "DURATION must be seconds"
mkdir -p "$RES/logs" || die "cannot create $RES"
RAW=$RES/raw.tsv	# side test metric run value
: >"$RAW"

NA=ab-ka-$$
NB=ab-kb-$$
PIDS=()		# `timeout` wrappers of what runs in the background

cleanup() {
	local w
	for w in "${PIDS[@]}"; do
		kill_wait "$(child_pid "$w")" 5
		kill_wait "$w" 5 0
	done
	wait 2>/dev/null
	ns_cleanup_all
}
trap cleanup EXIT
trap 'exit 130' INT TERM

client_ns() {	# client_ns NS: the client sysctls of bench/run.sh
	ip netns exec "$1" sysctl -qw net.ipv4.tcp_tw_reuse=1 \
		net.ipv4.ip_local_port_range="1024 65535" >/dev/null
}

# ---- the sides ---------------------------------------------------------

SIDES=(kernel)
declare -A NS_OF HOST_OF SRC_OF TW_OF
{ ns_create "$NA" && ns_create "$NB"; } || die "cannot create namespaces"
client_ns "$NA"
ip -n "$NA" link add vb0 type veth peer name vb1 netns "$NB" || die "veth"
ip -n "$NA" addr add 10.9.0.1/24 dev vb0
ip -n "$NB" addr add 10.9.0.2/24 dev vb1
addrs_add "$NA" vb0 10.9.0 "$SRC_ADDRS"
ip -n "$NA" link set vb0 up
ip -n "$NB" link set vb1 up
timeout -k 5 3600 ip netns exec "$NB" "$LOADGEN" server --cc "$KERNEL_CC" --port 7 \
	--mode echo --epoll --timeout 3500 >"$RES/logs/kernel-echo.log" 2>&1 &
PIDS+=($!)
for m in discard:9 source:19; do
	timeout -k 5 3600 ip netns exec "$NB" "$LOADGEN" server --cc "$KERNEL_CC" --port "${m#*:}" \
		--mode "${m%%:*}" --timeout 3500 >"$RES/logs/kernel-${m%%:*}.log" 2>&1 &
	PIDS+=($!)
done
for ((i = 0; i < 50; i++)); do
	grep -q '^server: listening' "$RES/logs/kernel-echo.log" && break
	sleep 0.1
done
timeout 10 ip netns exec "$NA" ping -n -q -c 1 -w 5 10.9.0.2 >/dev/null ||
	die "veth does not answer"
NS_OF[kernel]=$NA HOST_OF[kernel]=10.9.0.2 SRC_OF[kernel]=10.9.0.10+$SRC_ADDRS

IFS=';' read -r -a CFG_LIST <<<"$CONFIGS"
n=0
for c in "${CFG_LIST[@]}"; do
	name=${c%%=*}
	args=${c#*=}
	bin=$TUNDRA_BIN
	# "NAME=@/path/to/tundra ARGS": another build (e.g. of main).
	if [[ $args == @* ]]; then
		bin=${args%% *}
		bin=${bin#@}
		[[ $args == *" "* ]] && args=${args#* } || args=""
		[[ -x $bin ]] || die "config '$name': $bin is not executable"
	fi
	[[ $name =~ ^[a-zA-Z0-9_-]+$ && $name != kernel ]] || die "bad config name '$name'"
	n=$((n + 1))
	ns=ab-t$n-$$
	ns_create "$ns" || die "cannot create $ns"
	client_ns "$ns"
	log=$RES/logs/tundra-$name.log
	# shellcheck disable=SC2086  # args is a list of options
	timeout -k 5 3600 ip netns exec "$ns" "$bin" --dev tun0 \
		--addr 10.0.0.2/24 --peer-addr 10.0.0.1/24 --workers "$WORKERS" \
		--queues "$QUEUES" $args >"$log" 2>&1 &
	PIDS+=($!)
	TW_OF[$name]=$!
	for ((i = 0; i < 100; i++)); do
		grep -q '^tundra: ready' "$log" && break
		sleep 0.1
	done
	grep -q '^tundra: ready' "$log" || die "tundra '$name' did not start: $(tail -n 3 "$log")"
	addrs_add "$ns" tun0 10.0.0 "$SRC_ADDRS"
	SIDES+=("$name")
	NS_OF[$name]=$ns HOST_OF[$name]=10.0.0.2 SRC_OF[$name]=10.0.0.10+$SRC_ADDRS
	echo "ab: $name = $bin --workers $WORKERS --queues $QUEUES $args ($(grep -m1 -o 'io_mode [a-z]*' "$log"))"
done

kv() { awk -v k="$1" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }'; }

measure() {	# measure SIDE TEST RUN
	local side=$1 test=$2 r=$3 log res pid="" t0="" t1 n
	log=$RES/logs/$side-$test-$r.log
	# tundra's own CPU per transaction (rr, crr): less at the mercy of a
	# noisy machine than the rates. Not for the kernel side, whose server
	# work runs partly in softirq context, outside any process.
	if [[ $side != kernel ]]; then
		pid=$(child_pid "${TW_OF[$side]}")
		t0=$(cpu_ticks "$pid")
	fi
	case $test in
	rr) timeout -k 5 60 ip netns exec "${NS_OF[$side]}" "$LOADGEN" rr --cc "$KERNEL_CC" \
		--host "${HOST_OF[$side]}" --port 7 --conns 1 --size 1 \
		--duration "$DURATION" --timeout 45 >"$log" 2>&1 ;;
	send | recv)
		# Bulk, one connection: to discard (9) or from source (19).
		timeout -k 5 120 ip netns exec "${NS_OF[$side]}" "$LOADGEN" "$test" --cc "$KERNEL_CC" \
		--host "${HOST_OF[$side]}" --port "$([[ $test == send ]] && echo 9 || echo 19)" \
		--bytes "$BYTES" --timeout 100 >"$log" 2>&1 ;;
	crr) timeout -k 5 60 ip netns exec "${NS_OF[$side]}" "$LOADGEN" crr --cc "$KERNEL_CC" \
		--host "${HOST_OF[$side]}" --port 7 --conns "$CRR_CONNS" \
		--size 1 --duration "$DURATION" --src "${SRC_OF[$side]}" \
		--timeout 45 >"$log" 2>&1 ;;
	esac || { echo "ab: $side $test run $r failed (see $log)"; return; }
	res=$(grep -m1 '^result ' "$log")
	t1=$(cpu_ticks "$pid")
	n=$(kv transactions <<<"$res")
	if [[ -n $t0 && -n $t1 && ${n:-0} -gt 0 && ($test == rr || $test == crr) ]]; then
		printf '%s\t%s\t%s_cpu_us\t%s\t%s\n' "$side" "$test" "$test" "$r" \
			"$(awk -v d="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }')" >>"$RAW"
	fi
	case $test in
	rr) for k in tps p50_us p99_us; do
		printf '%s\trr\trr_%s\t%s\t%s\n' "$side" "$k" "$r" "$(kv "$k" <<<"$res")" >>"$RAW"
	done ;;
	send | recv)
		printf '%s\t%s\t%s_gbps\t%s\t%s\n' "$side" "$test" "$test" "$r" "$(kv gbps <<<"$res")" >>"$RAW" ;;
	crr) for k in cps p50_us p99_us; do
		printf '%s\tcrr\tcrr_%s\t%s\t%s\n' "$side" "$k" "$r" "$(kv "$k" <<<"$res")" >>"$RAW"
	done ;;
	esac
	printf '  %-10s %-4s run %d: %s\n' "$side" "$test" "$r" "${res#result }"
}

nsides=${#SIDES[@]}
for ((r = 1; r <= RUNS; r++)); do
	for test in $TESTS; do
		for ((i = 0; i < nsides; i++)); do
			measure "${SIDES[$(((i + r) % nsides))]}" "$test" "$r"
		done
	done
done

median() {	# median SIDE METRIC
	awk -F'\t' -v s="$1" -v m="$2" '$1 == s && $3 == m && $5 != "" { print $5 }' "$RAW" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

{
	echo "ab: medians of $RUNS interleaved runs, ${DURATION}s each; ratio = side / kernel; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
	printf '%-12s' metric
	for s in "${SIDES[@]}"; do printf ' %12s' "$s"; done
	for s in "${SIDES[@]:1}"; do printf ' %12s' "$s/kern"; done
	echo
	for m in rr_tps rr_p50_us rr_p99_us rr_cpu_us crr_cps crr_p50_us crr_p99_us crr_cpu_us send_gbps recv_gbps; do
		k=$(median kernel "$m")
		[[ -n $k || -n $(median "${SIDES[1]}" "$m") ]] || continue
		printf '%-12s' "$m"
		for s in "${SIDES[@]}"; do printf ' %12s' "$(median "$s" "$m")"; done
		for s in "${SIDES[@]:1}"; do
			printf ' %12s' "$(awk -v a="$(median "$s" "$m")" -v b="$k" 'BEGIN { if (a != "" && b + 0) printf "%.2f", a / b; else printf "-" }')"
		done
		echo
	done
} | tee "$RES/summary.txt"
# Each tundra's counters (other_queue: datagrams read on a foreign queue).
for s in "${SIDES[@]:1}"; do
	kill -USR1 "$(child_pid "${TW_OF[$s]}")" 2>/dev/null
done
sleep 0.5
for s in "${SIDES[@]:1}"; do
	echo "ab: $s: $(grep '^stats rx ' "$RES/logs/tundra-$s.log" | tail -n 1)"
done
echo "ab: results in $RES"
