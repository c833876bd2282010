#!/bin/bash
# hold.sh BUILD_DIR — memory per idle established connection (`make
# bench-hold`): HOLD_CONNS connections (default 100000) from the kernel of a
# private namespace to tundra's echo port, each verified by a 1-byte echo,
# held HOLD_SECS, a sample re-verified, then closed with RSTs.
#
# Reported (one `result bench=hold ...` line, and hold.txt in the result
# directory):
#   rss_bpc            tundra's VmRSS growth from before the first connect
#                      to the hold, divided by the connections held;
#   rss_marginal_bpc   the same over the second half only (loadgen measures
#                      tundra's RSS once half are held): the cost of one
#                      more connection, without one-time costs (pools and
#                      thread stacks touched by the first packets);
#   je_alloc_bpc       jemalloc's stats.allocated growth per connection (what
#                      tundra asked for, not what the pages cost);
#   je_resident_bpc    jemalloc's stats.resident growth per connection;
#   conn_size          sizeof(struct tcp_conn), and conn_class the jemalloc
#                      size class it is allocated from.
# The last three come from tundra's "mem" line (SIGUSR1), read during the hold.
#
# Knobs: HOLD_CONNS (100000, at most 2000000), HOLD_SECS (5), WORKERS and
# QUEUES (nproc), TUNDRA_ARGS (extra tundra options), OUT (result dir).
# The client needs one source address per PORTS_PER_SRC (40000) connections:
# they are added to the TUN device as 10.0.0.10, .11, ...
#
# Safety: one private namespace (name carries $$), created here and removed
# on exit by its exact name; tundra and loadgen run under `timeout`, are
# stopped by PID; every loop is bounded. The fd limit is raised by loadgen
# itself (setrlimit, needs root) inside the namespace; fs.nr_open (global,
# not changed here) caps it.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

HOLD_CONNS=${HOLD_CONNS:-100000}
HOLD_SECS=${HOLD_SECS:-5}
WORKERS=${WORKERS:-$(nproc)}
QUEUES=${QUEUES:-$(nproc)}
TUNDRA_ARGS=${TUNDRA_ARGS:-}
PORTS_PER_SRC=40000

die() { echo "hold: $*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, TUN, fd limits)"
LOADGEN=$BUILD/bench/loadgen
TUNDRA_BIN=$BUILD/tundra
[[ -x $LOADGEN && -x $TUNDRA_BIN ]] || die "$BUILD/tundra or $LOADGEN missing (run make first)"
for v in HOLD_CONNS WORKERS QUEUES; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (is '${!v}')"
done
[[ $HOLD_SECS =~ ^[0-9]+$ ]] || die "HOLD_SECS must be whole seconds"
((HOLD_CONNS <= 2000000)) || die "HOLD_CONNS must be at most 2000000"
((HOLD_SECS <= 600)) || die "HOLD_SECS must be at most 600"
NR_OPEN=$(cat /proc/sys/fs/nr_open)
((HOLD_CONNS + 64 <= NR_OPEN)) || die "HOLD_CONNS needs fs.nr_open >= $((HOLD_CONNS + 64)) (is $NR_OPEN)"

NSRC=$(((HOLD_CONNS + PORTS_PER_SRC - 1) / PORTS_PER_SRC))
((NSRC <= 200)) || die "too many source addresses ($NSRC)"
# tundra splits max_conns evenly over its workers, and the flow hash does
# not split the connections exactly evenly: leave room.
MAX_CONNS=$((HOLD_CONNS * 2 + 4096))
# Setup at >= 500 connections/s, the hold, the re-check, margin.
LG_TIMEOUT=$((HOLD_CONNS / 500 + HOLD_SECS + 60))

STAMP=$(date +%Y%m%d-%H%M%S)
RES=${OUT:-bench/results/hold-$STAMP}
mkdir -p "$RES" || die "cannot create $RES"
NS=th-$$
LG_W=""

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
	if [[ -n $LG_W ]] && kill -0 "$LG_W" 2>/dev/null; then
		kill_wait "$(child_pid "$LG_W")" 5
		kill_wait "$LG_W" 5 0
	fi
	tundra_kill
	ns_cleanup_all
}
trap cleanup EXIT
trap 'echo "hold: interrupted" >&2; exit 130' INT TERM

ns_create "$NS" || die "cannot create namespace $NS"
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" \
	net.ipv4.tcp_tw_reuse=1 >/dev/null || die "sysctl in $NS failed"

# shellcheck disable=SC2086  # TUNDRA_ARGS is a list of options
tundra_launch "$NS" $((LG_TIMEOUT + 120)) 100 "$RES/tundra.log" "$RES/tundra.err" \
	"$TUNDRA_BIN" --dev tun0 --addr 10.0.0.2/24 --peer-addr 10.0.0.1/24 \
	--workers "$WORKERS" --queues "$QUEUES" --max-conns "$MAX_CONNS" \
	$TUNDRA_ARGS || die "tundra did not start (see $RES/tundra.err)"
for ((a = 0; a < NSRC; a++)); do
	ip -n "$NS" addr add "10.0.0.$((10 + a))/32" dev tun0 ||
		die "cannot add source address 10.0.0.$((10 + a))"
done

# mem_line: SIGUSR1 to tundra, then its new "mem" line (empty after 5 s).
mem_line() {
	local before i
	before=$(grep -c '^mem ' "$RES/tundra.log")
	kill -USR1 "$TUNDRA_PID" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		if (($(grep -c '^mem ' "$RES/tundra.log") > before)); then
			grep '^mem ' "$RES/tundra.log" | tail -n 1
			return 0
		fi
		sleep 0.1
	done
	return 0
}
kv() { awk -v k="$1" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }'; }

MEM0=$(mem_line)
[[ -n $MEM0 ]] || die "tundra printed no mem line"

echo "hold: $HOLD_CONNS connections from $NSRC source addresses, held ${HOLD_SECS}s (log: $RES)"
timeout -k 5 "$LG_TIMEOUT" ip netns exec "$NS" "$LOADGEN" hold --host 10.0.0.2 \
	--port 7 --conns "$HOLD_CONNS" --hold "$HOLD_SECS" --server-pid "$TUNDRA_PID" \
	--src "10.0.0.10+$NSRC" --rst --timeout $((LG_TIMEOUT - 10)) \
	>"$RES/loadgen.log" 2>&1 &
LG_W=$!
# Read tundra's allocator statistics during the hold.
MEM1=""
for ((i = 0; i < LG_TIMEOUT * 10; i++)); do
	if grep -q 'connections open and verified' "$RES/loadgen.log" 2>/dev/null; then
		MEM1=$(mem_line)
		break
	fi
	kill -0 "$LG_W" 2>/dev/null || break
	sleep 0.1
done
wait "$LG_W"
LG_RC=$?
LG_W=""
RESULT=$(grep -m1 '^result ' "$RES/loadgen.log")
tundra_stop 100 || tundra_kill
ns_delete "$NS"

held=$(kv held <<<"$RESULT")
per() {	# per KEY: growth of KEY between MEM0 and MEM1 per held connection
	local a b
	a=$(kv "$1" <<<"$MEM0")
	b=$(kv "$1" <<<"$MEM1")
	if [[ -n $a && -n $b && -n $held && $held -gt 0 ]]; then
		awk -v a="$a" -v b="$b" -v n="$held" 'BEGIN { printf "%.0f", (b - a) / n }'
	else
		echo NA
	fi
}
LINE="result bench=hold ok=$([[ $LG_RC -eq 0 ]] && echo 1 || echo 0) conns=$HOLD_CONNS held=${held:-0}"
LINE+=" reverified=$(kv reverified <<<"$RESULT")/$(kv sampled <<<"$RESULT")"
LINE+=" setup_rate=$(kv setup_rate <<<"$RESULT")"
LINE+=" rss_bpc=$(kv rss_bytes_per_conn <<<"$RESULT")"
LINE+=" rss_marginal_bpc=$(kv rss_marginal_bytes_per_conn <<<"$RESULT")"
LINE+=" je_alloc_bpc=$(per je_allocated) je_resident_bpc=$(per je_resident)"
LINE+=" conn_size=$(kv conn_size <<<"$MEM0") conn_class=$(kv conn_class <<<"$MEM0")"
LINE+=" workers=$WORKERS queues=$QUEUES"
{
	echo "$LINE"
	echo "loadgen: $RESULT"
	echo "mem before: $MEM0"
	echo "mem holding: $MEM1"
} >"$RES/hold.txt"
echo "$LINE"
if ((LG_RC != 0)); then
	echo "hold: loadgen failed (exit $LG_RC); tail of $RES/loadgen.log:" >&2
	tail -n 5 "$RES/loadgen.log" >&2
	exit 1
fi
exit 0
