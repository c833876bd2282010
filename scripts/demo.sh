#!/bin/bash
# demo.sh BUILD_DIR — `make demo`: tundra in a private network namespace.
#
# Starts BUILD_DIR/tundra in a namespace made for this run, pings it, does an
# echo round trip, runs the stock iperf3 client against tundra's iperf3
# server (3 s forward, then 3 s reverse with -R), prints tundra's final
# per-thread stats, and removes the namespace. Nothing is created in the
# machine's root namespace; every step is bounded by `timeout`; processes
# are stopped by PID.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

TUNDRA=$BUILD/tundra
LOADGEN=$BUILD/bench/loadgen
[[ -x $LOADGEN ]] || LOADGEN=build/bench/loadgen
NS=tundra-demo-$$
ADDR=10.0.0.2
SECS=${SECS:-3}

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: needs root (network namespaces, TUN)" >&2
	exit 2
fi
for f in "$TUNDRA" "$LOADGEN"; do
	[[ -x $f ]] || { echo "demo: $f missing (run make first)" >&2; exit 2; }
done
command -v iperf3 >/dev/null ||
	{ echo "demo: iperf3 not installed (make deps)" >&2; exit 2; }

LOG=$(mktemp -d /tmp/tundra-demo.XXXXXX)
status=0

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	tundra_kill
	wait 2>/dev/null
	ns_cleanup_all
	rm -rf "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -t 1 ]]; then B=$'\033[1m' N=$'\033[0m'; else B="" N=""; fi
say() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
die() {
	printf '\ndemo: %s\n' "$*" >&2
	if [[ -s $LOG/tundra.err ]]; then
		echo "--- tundra stderr:" >&2
		tail -n 20 "$LOG/tundra.err" >&2
	fi
	exit 1
}

say "Creating network namespace $NS"
ns_create "$NS" || die "cannot create namespace $NS"

say "Starting $TUNDRA (device tun0, tundra $ADDR, kernel 10.0.0.1)"
tundra_launch "$NS" 600 200 "$LOG/tundra.out" "$LOG/tundra.err" "$TUNDRA" \
	--dev tun0 --addr "$ADDR/24" --peer-addr 10.0.0.1/24
case $? in
1) die "tundra exited before it was ready" ;;
2) die "tundra not ready after 20 s" ;;
esac
grep -m1 '^tundra: ready' "$LOG/tundra.out"
ip -n "$NS" -br addr show dev tun0

say "ping $ADDR"
in_ns 15 ping -n -c 3 -i 0.2 -W 2 "$ADDR" || die "ping failed"

say "Echo round trip (port 7)"
# shellcheck disable=SC2016  # $1 and $line expand in the inner shell
reply=$(in_ns 10 bash -c '
	exec 3<>"/dev/tcp/$1/7" || exit 1
	printf "hello, tundra\n" >&3
	IFS= read -r -t 5 line <&3 && printf "%s\n" "$line"' _ "$ADDR") ||
	die "echo round trip failed"
echo "sent:     hello, tundra"
echo "received: $reply"
[[ $reply == "hello, tundra" ]] || die "echo reply differs"
in_ns 40 "$LOADGEN" echo --host "$ADDR" --port 7 --bytes 1M --timeout 30 ||
	die "1 MiB echo failed"

# iperf3 prints its own report; tundra logs one line per test.
iperf() {
	local what=$1
	shift
	say "iperf3 $what: iperf3 -c $ADDR -t $SECS${*:+ $*}"
	in_ns $((SECS + 30)) iperf3 -c "$ADDR" -t "$SECS" "$@" ||
		die "iperf3 $* failed"
	grep '^iperf3: test .* done:' "$LOG/tundra.out" | tail -n 1 | sed 's/^/    tundra: /'
}
iperf "forward (the kernel sends, tundra receives)"
iperf "reverse (tundra sends, the kernel receives)" -R

say "Stopping tundra (SIGTERM); its final stats:"
if ! tundra_stop 100; then
	echo "demo: tundra still running 10 s after SIGTERM" >&2
	status=1
else
	TUNDRA_PID=""
	((TUNDRA_RC == 0)) || { echo "demo: tundra exited with status $TUNDRA_RC" >&2; status=1; }
fi
grep '^stats ' "$LOG/tundra.out" | sed 's/^/    /'
if [[ -s $LOG/tundra.err ]]; then
	echo "--- tundra stderr:"
	tail -n 20 "$LOG/tundra.err"
fi

say "Done; namespace $NS removed."
exit $status
