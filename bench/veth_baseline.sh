#!/bin/bash
# veth_baseline.sh BUILD_DIR — the kernel-to-kernel baseline for tundra's
# throughput numbers, measured in the same invocation.
#
# 1. Two namespaces joined by a veth pair (MTU $MTU): loadgen server
#    --mode discard in one, `loadgen send` of $BYTES from the other,
#    $RUNS times; prints each run and the median.
# 2. Unless TUNDRA=0 or BUILD_DIR/tundra is missing: the same transfer from
#    the kernel to tundra's discard server over its TUN device, $RUNS times,
#    then both medians and the ratio tundra/veth.
#
# Environment: RUNS (3), BYTES (1G), MTU (1500), TUNDRA (auto|0|1),
# TUNDRA_ARGS (extra tundra options, e.g. "--workers 2 --queues 1").
# All namespaces are private to this run and removed on exit; every step is
# bounded by `timeout`; processes are stopped by PID.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

RUNS=${RUNS:-3}
BYTES=${BYTES:-1G}
MTU=${MTU:-1500}
WANT_TUNDRA=${TUNDRA:-auto}
TUNDRA_ARGS=${TUNDRA_ARGS:-}
LOADGEN=$BUILD/bench/loadgen
# congestion control of every kernel socket (loadgen --cc): not the host default
KERNEL_CC=${KERNEL_CC:-cubic}
[[ -x $LOADGEN ]] || LOADGEN=build/bench/loadgen
TUNDRA_BIN=$BUILD/tundra

NA=tundra-vb-a-$$	# client side
NB=tundra-vb-b-$$	# server side
NT=tundra-vb-t-$$	# tundra
srv_pid=""
LOG=$(mktemp -d /tmp/tundra-vb.XXXXXX)

if [[ $(id -u) -ne 0 ]]; then
	echo "veth_baseline: needs root (network namespaces)" >&2
	exit 2
fi
[[ -x $LOADGEN ]] || { echo "veth_baseline: $LOADGEN missing (make first)" >&2; exit 2; }
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || { echo "veth_baseline: RUNS must be 1..99" >&2; exit 2; }

cleanup() {
	kill_wait "$srv_pid" 5
	tundra_kill
	wait 2>/dev/null
	ns_cleanup_all
	rm -rf "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { sort -g | awk '{v[NR] = $1} END {
	if (NR == 0) exit 1
	if (NR % 2) print v[(NR + 1) / 2]
	else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# runs LABEL NS HOST: RUNS transfers of BYTES to HOST:9; sets MEDIAN.
MEDIAN=""
runs() {
	local label=$1 ns=$2 host=$3 r out g
	local -a vals=()
	for ((r = 1; r <= RUNS; r++)); do
		if ! out=$(timeout -k 5 150 ip netns exec "$ns" "$LOADGEN" send --cc "$KERNEL_CC" \
			--host "$host" --port 9 --bytes "$BYTES" --timeout 120 2>&1); then
			echo "$label run $r: FAILED"
			printf '%s\n' "$out" | sed 's/^/    /'
			return 1
		fi
		g=$(sed -n 's/^result .* gbps=\([0-9.]*\).*/\1/p' <<<"$out")
		printf '%-7s run %d: %6s Gbit/s  (%s)\n' "$label" "$r" "$g" \
			"$(grep '^result' <<<"$out")"
		vals+=("$g")
	done
	MEDIAN=$(printf '%s\n' "${vals[@]}" | median)
}

echo "== $BYTES to a discard server, $RUNS runs each, MTU $MTU, $(nproc) CPUs, kernel $(uname -r), kernel TCP ${KERNEL_CC:-cubic}"

# ---- kernel <-> kernel over veth ----------------------------------------

for n in "$NA" "$NB"; do
	ns_create "$n" || exit 1
done
ip -n "$NA" link add vb0 mtu "$MTU" type veth peer name vb1 mtu "$MTU" netns "$NB" || exit 1
ip -n "$NA" addr add 10.0.1.1/24 dev vb0
ip -n "$NB" addr add 10.0.1.2/24 dev vb1
ip -n "$NA" link set vb0 up
ip -n "$NB" link set vb1 up

ip netns exec "$NB" "$LOADGEN" server --cc "$KERNEL_CC" --port 9 --mode discard --timeout 900 \
	>"$LOG/server.out" 2>&1 &
srv_pid=$!
for ((i = 0; i < 50; i++)); do
	grep -q '^server: listening' "$LOG/server.out" 2>/dev/null && break
	sleep 0.1
done
runs veth "$NA" 10.0.1.2 || exit 1
veth=$MEDIAN
kill_wait "$srv_pid" 5
srv_pid=""
echo "veth    median: $veth Gbit/s"

# ---- kernel -> tundra over TUN ------------------------------------------

if [[ $WANT_TUNDRA == 0 ]]; then
	exit 0
fi
if [[ ! -x $TUNDRA_BIN ]]; then
	if [[ $WANT_TUNDRA == 1 ]]; then
		echo "veth_baseline: $TUNDRA_BIN missing" >&2
		exit 1
	fi
	echo "($TUNDRA_BIN not built: tundra runs skipped)"
	exit 0
fi

ns_create "$NT" || exit 1
# shellcheck disable=SC2086  # TUNDRA_ARGS is a list of options
if ! tundra_launch "$NT" 900 200 "$LOG/tundra.out" "$LOG/tundra.err" \
	"$TUNDRA_BIN" --dev tun0 --addr 10.0.0.2/24 --peer-addr 10.0.0.1/24 \
	--mtu "$MTU" $TUNDRA_ARGS; then
	echo "veth_baseline: tundra did not become ready" >&2
	tail -n 20 "$LOG/tundra.err" >&2
	exit 1
fi
if ! runs tundra "$NT" 10.0.0.2; then
	tail -n 20 "$LOG/tundra.err" >&2
	exit 1
fi
tun=$MEDIAN
kill_wait "$TUNDRA_PID" 5
TUNDRA_PID=""
echo "tundra  median: $tun Gbit/s"
echo "$veth $tun" | awk '{ if ($1 > 0) printf "ratio tundra/veth: %.2f (veth %s Gbit/s, tundra %s Gbit/s, same run)\n", $2 / $1, $1, $2 }'
