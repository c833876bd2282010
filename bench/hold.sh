#!/bin/bash
# hold.sh BUILD_DIR — memory per idle established connection (`make
# bench-hold`): HOLD_CONNS connections (default 100000) from the kernel of a
# private namespace to tundra's echo port, each verified by a 1-byte echo,
# held HOLD_SECS, a sample re-verified, then closed with RSTs.
#
# Reported (one `result bench=hold ...` line, and hold.txt in the result
# directory):
#   rss_bpc            tundra's VmRSS growth from before the first connect
#                      to the end of the hold (every connection idle
#                      HOLD_SECS), divided by the connections held;
#   rss_marginal_bpc   the same over the second half of the loadgen
#                      processes only (tundra's RSS is read when the first
#                      half hold theirs and have been idle SETTLE s): the
#                      cost of one more connection, without one-time costs
#                      (pools and thread stacks touched by the first
#                      packets);
#   rss_setup_bpc      as rss_bpc, but read the moment the last connection
#                      is verified: it still counts the pages of the
#                      buffers the echoes used, freed and not yet returned
#                      to the OS (tundra's jemalloc returns them after
#                      about a second, src/main/main.c);
#   je_alloc_bpc       jemalloc's stats.allocated growth per connection (what
#                      tundra asked for, not what the pages cost);
#   je_resident_bpc    jemalloc's stats.resident growth per connection;
#   conn_size          sizeof(struct tcp_conn), and conn_class the jemalloc
#                      size class it is allocated from.
# The last three come from tundra's "mem" line (SIGUSR1), read during the hold.
#
# Knobs: HOLD_CONNS (100000, at most 2000000), HOLD_SECS (5), SETTLE (2),
# WORKERS and QUEUES (nproc), TUNDRA_ARGS (extra tundra options), OUT
# (result dir).
# The client is one loadgen process per (fd hard limit - 128, at most
# 40000) connections, each bound to a source address of its own, added to
# the TUN device as 10.0.0.10, .11, ...; the processes hold their
# connections together (loadgen --hold-file) while the script measures.
#
# Safety: one private namespace (name carries $$), created here and removed
# on exit by its exact name; tundra and loadgen run under `timeout`, are
# stopped by PID; every loop is bounded. The fd limit is raised by loadgen
# by the script (ulimit -n up to the hard limit); without CAP_SYS_RESOURCE
# the hard limit stays, so the connections are spread over processes.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

HOLD_CONNS=${HOLD_CONNS:-100000}
HOLD_SECS=${HOLD_SECS:-5}
SETTLE=${SETTLE:-2}
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
[[ $SETTLE =~ ^[0-9]+$ ]] || die "SETTLE must be whole seconds"
((HOLD_CONNS <= 2000000)) || die "HOLD_CONNS must be at most 2000000"
((HOLD_SECS <= 600)) || die "HOLD_SECS must be at most 600"
NR_OPEN=$(cat /proc/sys/fs/nr_open)
((HOLD_CONNS + 64 <= NR_OPEN)) || die "HOLD_CONNS needs fs.nr_open >= $((HOLD_CONNS + 64)) (is $NR_OPEN)"

# One loadgen process per PER_PROC connections: a process may not hold
# more descriptors than the hard RLIMIT_NOFILE, which it can only raise
# with CAP_SYS_RESOURCE. Each process binds to a source address of its own
# (10.0.0.10, .11, ...), whose 64,512 ports are more than it needs.
HARD=$(ulimit -Hn)
[[ $HARD == unlimited ]] && HARD=$NR_OPEN
ulimit -n "$HARD" || die "cannot raise the soft fd limit to $HARD"
PER_PROC=$((HARD - 128))
((PER_PROC > PORTS_PER_SRC)) && PER_PROC=$PORTS_PER_SRC
((PER_PROC >= 1000)) || die "the fd limit ($HARD) is too low"
NLG=$(((HOLD_CONNS + PER_PROC - 1) / PER_PROC))
((NLG <= 200)) || die "too many loadgen processes ($NLG)"
# The first half of the processes, then the rest: tundra's RSS between
# the two gives the marginal cost of a connection.
NA=$((NLG / 2))
# tundra splits max_conns evenly over its workers, and the flow hash does
# not split the connections exactly evenly: leave room.
MAX_CONNS=$((HOLD_CONNS * 2 + 4096))
# Setup at >= 500 connections/s, the hold, the re-check, margin.
LG_TIMEOUT=$((HOLD_CONNS / 500 + HOLD_SECS + 60))

STAMP=$(date +%Y%m%d-%H%M%S)
RES=${OUT:-bench/results/hold-$STAMP}
mkdir -p "$RES" || die "cannot create $RES"
rm -f "$RES/release"
NS=th-$$
LG_W=()

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
	local w
	for w in "${LG_W[@]}"; do
		if kill -0 "$w" 2>/dev/null; then
			kill_wait "$(child_pid "$w")" 5
			kill_wait "$w" 5 0
		fi
	done
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
addrs_add "$NS" tun0 10.0.0 "$NLG" ||
	die "cannot add the source addresses 10.0.0.10+$NLG"

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
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$TUNDRA_PID/status" 2>/dev/null; }
kv() { awk -v k="$1" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }'; }

# lg_start I: loadgen process I (its share of the connections) in the
# background; its log is $RES/loadgen-I.log.
lg_start() {
	local i=$1 n
	n=$((HOLD_CONNS / NLG + (i < HOLD_CONNS % NLG ? 1 : 0)))
	timeout -k 5 "$LG_TIMEOUT" ip netns exec "$NS" "$LOADGEN" hold \
		--host 10.0.0.2 --port 7 --conns "$n" --hold "$HOLD_SECS" \
		--hold-file "$RES/release" --server-pid "$TUNDRA_PID" \
		--src "10.0.0.$((10 + i))" --rst --timeout $((LG_TIMEOUT - 10)) \
		>"$RES/loadgen-$i.log" 2>&1 &
	LG_W[i]=$!
}

# lg_wait_setup FROM TO: wait until processes FROM..TO-1 have all set up
# (or exited); print how many connections they hold.
lg_wait_setup() {
	local i t ready n v
	for ((t = 0; t < LG_TIMEOUT * 10; t++)); do
		ready=1
		for ((i = $1; i < $2; i++)); do
			grep -q 'connections open and verified' "$RES/loadgen-$i.log" 2>/dev/null ||
				! kill -0 "${LG_W[i]}" 2>/dev/null || ready=0
		done
		((ready)) && break
		sleep 0.1
	done
	n=0
	for ((i = $1; i < $2; i++)); do
		v=$(awk '/connections open and verified/ { for (k = 1; k < NF; k++) if ($(k + 1) == "of") { print $k; exit } }' "$RES/loadgen-$i.log" 2>/dev/null)
		n=$((n + ${v:-0}))
	done
	echo "$n"
}

MEM0=$(mem_line)
[[ -n $MEM0 ]] || die "tundra printed no mem line"
RSS0=$(rss_kb)

echo "hold: $HOLD_CONNS connections from $NLG loadgen processes (source addresses), held ${HOLD_SECS}s (log: $RES)"
for ((i = 0; i < NA; i++)); do lg_start "$i"; done
HELD_MID=$(lg_wait_setup 0 "$NA")
# Idle for SETTLE s first: the pages of the buffers that the echoes used
# and freed go back to the OS about a second after (tundra's jemalloc
# options, src/main/main.c); what stays is what idle connections hold.
sleep "$SETTLE"
RSS_MID=$(rss_kb)
for ((i = NA; i < NLG; i++)); do lg_start "$i"; done
HELD_B=$(lg_wait_setup "$NA" "$NLG")
# Everything is open: tundra's memory at once (transient pages still in),
# and after the hold, when every connection has been idle HOLD_SECS.
MEM1=$(mem_line)
RSS_SETUP=$(rss_kb)
sleep "$HOLD_SECS"
RSS1=$(rss_kb)
touch "$RES/release"
LG_RC=0
for ((i = 0; i < NLG; i++)); do
	wait "${LG_W[i]}" || LG_RC=1
done
LG_W=()
tundra_stop 100 || tundra_kill
ns_delete "$NS"

held=0 sampled=0 reverified=0 errors=0 results=0
for ((i = 0; i < NLG; i++)); do
	r=$(grep -m1 '^result ' "$RES/loadgen-$i.log")
	[[ -n $r ]] || continue
	results=$((results + 1))
	held=$((held + $(kv held <<<"$r")))
	sampled=$((sampled + $(kv sampled <<<"$r")))
	reverified=$((reverified + $(kv reverified <<<"$r")))
	errors=$((errors + $(kv errors <<<"$r")))
	[[ $(kv ok <<<"$r") == 1 ]] || LG_RC=1
done
((results == NLG)) || LG_RC=1
((held == HOLD_CONNS)) || LG_RC=1

div() { awk -v a="$1" -v n="$2" 'BEGIN { if (a == "" || n <= 0) print "NA"; else printf "%.0f", a / n }'; }
per() {	# per KEY: growth of KEY between MEM0 and MEM1 per held connection
	local a b
	a=$(kv "$1" <<<"$MEM0")
	b=$(kv "$1" <<<"$MEM1")
	[[ -n $a && -n $b ]] || { echo NA; return; }
	div $((b - a)) "$((HELD_MID + HELD_B))"
}
if ((NA > 0)); then
	MARGINAL=$(div $(((RSS1 - RSS_MID) * 1024)) "$HELD_B")
else
	MARGINAL=$(kv rss_marginal_bytes_per_conn <"$RES/loadgen-0.log")
fi
LINE="result bench=hold ok=$((LG_RC == 0 ? 1 : 0)) conns=$HOLD_CONNS held=$held"
LINE+=" reverified=$reverified/$sampled errors=$errors loadgens=$NLG"
LINE+=" rss_before_kb=$RSS0 rss_hold_kb=$RSS1"
LINE+=" rss_bpc=$(div $(((RSS1 - RSS0) * 1024)) "$((HELD_MID + HELD_B))")"
LINE+=" rss_marginal_bpc=$MARGINAL"
LINE+=" rss_setup_bpc=$(div $(((RSS_SETUP - RSS0) * 1024)) "$((HELD_MID + HELD_B))")"
LINE+=" je_alloc_bpc=$(per je_allocated) je_resident_bpc=$(per je_resident)"
LINE+=" conn_size=$(kv conn_size <<<"$MEM0") conn_class=$(kv conn_class <<<"$MEM0")"
LINE+=" workers=$WORKERS queues=$QUEUES"
{
	echo "$LINE"
	echo "rss_kb: before=$RSS0 half=$RSS_MID (held $HELD_MID, after ${SETTLE}s idle) all=$RSS_SETUP at setup, $RSS1 after the ${HOLD_SECS}s hold (held $((HELD_MID + HELD_B)))"
	echo "mem before: $MEM0"
	echo "mem holding: $MEM1"
	for ((i = 0; i < NLG; i++)); do
		echo "loadgen $i: $(grep -m1 '^result ' "$RES/loadgen-$i.log")"
	done
} >"$RES/hold.txt"
echo "$LINE"
if ((LG_RC != 0)); then
	echo "hold: a loadgen failed or not every connection was held; see $RES/loadgen-*.log" >&2
	exit 1
fi
exit 0
