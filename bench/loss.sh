#!/bin/bash
# loss.sh BUILD_DIR — throughput over a lossy path (`make bench-loss`;
# also run at the end of `make bench`): tundra against the kernel's own TCP,
# with the same nftables drop rules on a router between client and server.
#
#   kernel:  namespace A (iperf3 -c, 10.9.1.2) --veth-- router R --veth--
#            namespace B (iperf3 -s, 10.9.2.2)
#   tundra:  namespace C (iperf3 -c, 10.9.3.2) --veth-- router T, which
#            holds tundra's TUN device (10.0.0.1 there; tundra and its
#            iperf3 server at 10.0.0.2)
#
# The routers drop LOSS % of what they forward, both ways (`numgen random`
# in the forward hook). The drops must be on the path: a rule in the
# sending host's own output or egress hook is no loss to its TCP (the drop
# is reported to the sender, which keeps the segment and sends it again at
# once), which is what an earlier version of this script did for the
# client -> server direction.
#
# Each case is a fixed-time iperf3 run (IPERF_TIME s, so every run is
# bounded whatever the loss), RUNS times, both directions (forward: client
# -> server, i.e. kernel -> tundra; -R: server -> client). Loss rates
# LOSS_RATES (percent, each way). Then tundra alone (this kernel has no
# netem, so the kernel path cannot be delayed) with --impair delay=D for D
# in DELAYS, at the same loss rates.
#
# Output: a Markdown table on stdout and in $OUT/loss.md (OUT defaults to
# bench/results/loss-<timestamp>/), raw runs in loss.tsv, logs in logs/.
# Medians of RUNS; ratio = tundra / kernel. A failed run counts as missing
# (listed under the table); a case with no successful run shows "-".
#
# Safety: every namespace is private to this run (names carry $$) and
# removed on exit by its exact name, the nft tables live in those
# namespaces only, every command runs under `timeout`, processes are
# stopped by PID only.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

RUNS=${RUNS:-3}
IPERF_TIME=${IPERF_TIME:-5}
LOSS_RATES=${LOSS_RATES:-0 0.1 1 5}
# The kernel's congestion control, set on every iperf3 socket (iperf3 -C:
# the client's, and the kernel server's, which takes it from the client):
# the host's default may be another (bbr here), and tundra runs cubic.
KERNEL_CC=${KERNEL_CC:-cubic}
DELAYS=${DELAYS-10 50} # empty: no delayed cases
MTU=${MTU:-1500}
WORKERS=${WORKERS:-$(nproc)}
QUEUES=${QUEUES:-$(nproc)}
TUNDRA_ARGS=${TUNDRA_ARGS:-}
# The delayed cases need a window for the longer RTT (delay applies both
# ways): 256 KiB over 20 ms is only ~100 Mbit/s.
DELAY_ARGS=${DELAY_ARGS:---sndbuf 4194304 --rcvbuf 4194304}
# LOSS_UNIT: what one drop loses. segment (the default): every sender
# sends one segment per packet — the veths are made with gso_max_size 1500
# and tundra runs with --offload off — so LOSS % is the share of segments
# lost, as on a real link. burst: the kernel hands its veths (and tundra
# its TUN) GSO/TSO super-packets of up to ~64 KB, which the router forwards
# whole, so one drop loses a burst of up to 45 segments on either path:
# faster, and far fewer loss events than the rate says.
LOSS_UNIT=${LOSS_UNIT:-segment}
case $LOSS_UNIT in
segment) GSO_CAP=1500 UNIT_ARGS=(--offload off) ;;
burst) GSO_CAP="" UNIT_ARGS=() ;;
*) echo "bench-loss: LOSS_UNIT must be segment or burst" >&2; exit 2 ;;
esac
TUNDRA_BIN=$BUILD/tundra
STAMP=$(date +%Y%m%d-%H%M%S)
RES=${OUT:-bench/results/loss-$STAMP}

die() { echo "bench-loss: $*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, TUN)"
[[ -x $TUNDRA_BIN ]] || die "$TUNDRA_BIN missing (run make first)"
command -v iperf3 >/dev/null || die "iperf3 not installed (scripts/deps.sh)"
command -v nft >/dev/null || die "nft not installed (scripts/deps.sh)"
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || die "RUNS must be 1..99"
[[ $IPERF_TIME =~ ^[1-9][0-9]?$ ]] || die "IPERF_TIME must be 1..99 seconds"
for r in $LOSS_RATES; do
	[[ $r =~ ^[0-9]{1,2}([.][0-9]{1,2})?$ ]] ||
		die "LOSS_RATES: '$r' is not a percentage like 0.1 or 5"
done
for d in $DELAYS; do
	[[ $d =~ ^[0-9]{1,4}$ ]] || die "DELAYS: '$d' is not whole ms (0..9999)"
done
mkdir -p "$RES/logs" || die "cannot create $RES"
RAW=$RES/loss.tsv # system case loss dir run mbps
: >"$RAW"
FAILS=()

NA=tl-ka-$$
NB=tl-kb-$$
NR=tl-kr-$$
NT=tl-t-$$
NC=tl-c-$$
KSRV=""
TABLE=tundra_bench_loss

cleanup() {
	kill_wait "$KSRV" 5
	tundra_kill
	wait 2>/dev/null
	ns_cleanup_all
}
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { sort -g | awk '{v[NR] = $1} END {
	if (NR == 0) { print "-"; exit }
	if (NR % 2) print v[(NR + 1) / 2]
	else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# loss_set NS DEV PCT — the router NS drops PCT% of what it forwards from
# and to DEV (its client's side), each way (in 1/10000ths, so 0.1 works);
# 0: no rules.
loss_set() {
	path_loss_set "$1" "$TABLE" "$2" \
		"$(awk -v p="$3" 'BEGIN { printf "%d", p * 100 + 0.5 }')"
}

# run SYS CASE LOSS DIR NS HOST — RUNS iperf3 runs, Mbit/s into $RAW.
run() {
	local sys=$1 cas=$2 loss=$3 dir=$4 ns=$5 host=$6 r log m try
	local -a opt=()
	[[ $dir == rev ]] && opt=(-R)
	for ((r = 1; r <= RUNS; r++)); do
		log=$RES/logs/$sys-$cas-$loss-$dir-$r.log
		# Under heavy loss the server may still be closing the last
		# test (its final FIN exchange waits on retransmissions) when
		# the next one starts: iperf3 servers answer "busy" then, so
		# wait and try again (bounded: 20 x 0.5 s).
		for ((try = 0; try < 20; try++)); do
			timeout -k 5 $((IPERF_TIME + 30)) ip netns exec "$ns" \
				iperf3 -c "$host" -p 5201 -t "$IPERF_TIME" -f m \
				--connect-timeout 3000 -C "$KERNEL_CC" "${opt[@]}" \
				>"$log" 2>&1
			grep -q 'server is busy' "$log" || break
			sleep 0.5
		done
		m=$(grep 'receiver' "$log" | tail -n 1 | awk '{
			for (i = 2; i <= NF; i++)
				if ($i == "Mbits/sec") { print $(i - 1); exit } }')
		if [[ -z $m ]]; then
			FAILS+=("$sys $cas loss $loss% $dir run $r (see logs/${log##*/})")
			continue
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$cas" "$loss" "$dir" \
			"$r" "$m" >>"$RAW"
		printf '  %-6s %-9s loss %4s%% %s run %d: %s Mbit/s\n' "$sys" \
			"$cas" "$loss" "$dir" "$r" "$m"
	done
}

# med SYS CASE LOSS DIR — the median of those runs, or "-".
med() {
	awk -F'\t' -v s="$1" -v c="$2" -v l="$3" -v d="$4" \
		'$1 == s && $2 == c && $3 == l && $4 == d { print $6 }' "$RAW" |
		median
}

echo "== loss benchmark: iperf3 ${IPERF_TIME}s x $RUNS, loss each way: $LOSS_RATES % of each $LOSS_UNIT; delays: $DELAYS ms; $(nproc) CPUs, kernel $(uname -r), kernel TCP $KERNEL_CC"

# ---- kernel <-> kernel through a router ----------------------------------
for n in "$NA" "$NB" "$NR"; do
	ns_create "$n" || die "cannot create namespace $n"
done
routed_client "$NR" "$NA" 10.9.1 ra "$GSO_CAP" || die "cannot link $NA to the router"
routed_client "$NR" "$NB" 10.9.2 rb "$GSO_CAP" || die "cannot link $NB to the router"
for l in "$NR ra0" "$NR rb0" "$NA ra1" "$NB rb1"; do
	set -- $l
	ip -n "$1" link set dev "$2" mtu "$MTU" || die "mtu $MTU on $2"
done
timeout -k 5 3600 ip netns exec "$NB" iperf3 -s -p 5201 \
	>"$RES/logs/kernel-iperf3-server.log" 2>&1 &
KSRV=$!
sleep 0.5
for loss in $LOSS_RATES; do
	loss_set "$NR" ra0 "$loss" || die "nft rules failed in $NR"
	for dir in fwd rev; do
		run kernel plain "$loss" "$dir" "$NA" 10.9.2.2
	done
done
kill_wait "$KSRV" 5
KSRV=""
ns_delete "$NA"
ns_delete "$NB"
ns_delete "$NR"

# ---- tundra ---------------------------------------------------------------
# tundra_case CASE [TUNDRA OPTIONS...] — a fresh namespace and tundra, every
# loss rate, both directions.
tundra_case() {
	local cas=$1 loss dir
	shift
	ns_create "$NT" || die "cannot create namespace $NT"
	# shellcheck disable=SC2086  # TUNDRA_ARGS: extra options, split
	if ! tundra_launch "$NT" 3600 100 "$RES/logs/tundra-$cas.out" \
		"$RES/logs/tundra-$cas.err" "$TUNDRA_BIN" --dev tl0 \
		--addr 10.0.0.2/24 --peer-addr 10.0.0.1/24 --mtu "$MTU" \
		--workers "$WORKERS" --queues "$QUEUES" --log-level warn \
		"${UNIT_ARGS[@]}" "$@" $TUNDRA_ARGS; then
		FAILS+=("tundra $cas: did not start (logs/tundra-$cas.err)")
		tundra_kill
		ns_delete "$NT"
		return
	fi
	ns_create "$NC" || die "cannot create namespace $NC"
	routed_client "$NT" "$NC" 10.9.3 rc "$GSO_CAP" || die "cannot link $NC to $NT"
	ip -n "$NT" link set dev rc0 mtu "$MTU" &&
		ip -n "$NC" link set dev rc1 mtu "$MTU" || die "mtu $MTU"
	for loss in $LOSS_RATES; do
		loss_set "$NT" rc0 "$loss" || die "nft rules failed in $NT"
		for dir in fwd rev; do
			run tundra "$cas" "$loss" "$dir" "$NC" 10.0.0.2
		done
	done
	tundra_stop 100 || tundra_kill
	TUNDRA_PID=""
	ns_delete "$NC"
	ns_delete "$NT"
}
tundra_case plain
for d in $DELAYS; do
	# shellcheck disable=SC2086  # DELAY_ARGS: options, split
	tundra_case "delay$d" --impair "delay=$d" $DELAY_ARGS
done

# ---- the table ------------------------------------------------------------
{
	echo "### Throughput under loss (Mbit/s, median of $RUNS x iperf3 ${IPERF_TIME}s)"
	echo
	echo "Loss is per direction: a router namespace between client and server drops that share of what it forwards (nftables \`numgen random\`, forward hook), both ways."
	echo "fwd: kernel client -> server (tundra receives); rev: iperf3 -R (tundra sends)."
	if [[ $LOSS_UNIT == segment ]]; then
		echo "Every sender sends one segment per packet (veths with gso_max_size 1500, tundra --offload off), so the rate is the share of segments lost."
	else
		echo "LOSS_UNIT=burst: both paths carry GSO/TSO super-packets (up to ~64 KB), forwarded whole, so one drop loses a burst of up to 45 segments and there are far fewer loss events than the rate says."
	fi
	echo "$(nproc) CPUs, kernel $(uname -r), MTU $MTU, kernel TCP congestion control $KERNEL_CC (KERNEL_CC; tundra: cubic unless TUNDRA_ARGS say otherwise), tundra --workers $WORKERS --queues $QUEUES ${UNIT_ARGS[*]} $TUNDRA_ARGS, $(date -u '+%Y-%m-%d %H:%M UTC')."
	echo
	echo "| loss % | dir | kernel (veth, routed) | tundra | tundra / kernel |"
	echo "|---:|---|---:|---:|---:|"
	for loss in $LOSS_RATES; do
		for dir in fwd rev; do
			k=$(med kernel plain "$loss" "$dir")
			t=$(med tundra plain "$loss" "$dir")
			ratio=$(awk -v k="$k" -v t="$t" 'BEGIN {
				if (k == "-" || t == "-" || k + 0 == 0) print "-"
				else printf "%.2f", t / k }')
			echo "| $loss | $dir | $k | $t | $ratio |"
		done
	done
	if [[ -n $DELAYS ]]; then
		echo
		echo "### tundra with --impair delay (Mbit/s, median; no kernel row: no netem here)"
		echo
		echo "delay=D holds every packet D ms each way (RTT + 2D); tundra runs with $DELAY_ARGS."
		echo
		printf '| loss %% | dir |'
		for d in $DELAYS; do printf ' delay %s ms |' "$d"; done
		echo
		printf '|---:|---|'
		for d in $DELAYS; do printf -- '---:|'; done
		echo
		for loss in $LOSS_RATES; do
			for dir in fwd rev; do
				printf '| %s | %s |' "$loss" "$dir"
				for d in $DELAYS; do
					printf ' %s |' "$(med tundra "delay$d" "$loss" "$dir")"
				done
				echo
			done
		done
	fi
	if ((${#FAILS[@]})); then
		echo
		echo "Failed runs (not in the medians):"
		for f in "${FAILS[@]}"; do echo "- $f"; done
	fi
} >"$RES/loss.md"
echo
cat "$RES/loss.md"
echo
echo "results: $RES/loss.md"
((${#FAILS[@]} == 0))
