#!/bin/bash
# run.sh BUILD_DIR — the benchmark battery (`make bench`): tundra against
# the Linux kernel's own TCP over a veth pair, measured in the same run.
#
#   kernel:  namespace A (client, 10.9.0.1) --veth-- namespace B (servers,
#            10.9.0.2): loadgen servers (discard 9, source 19, echo 7 with
#            one epoll thread) and `iperf3 -s` on 5201.
#   tundra:  namespace T: tundra on its TUN device (10.0.0.2); the kernel
#            of that namespace (10.0.0.1) is the client.
#
# Tests, each RUNS times on both: bulk send (BYTES to discard), bulk recv
# (BYTES from source, pattern checked), rr (1 connection, 1-byte
# request/response, DURATION s), crr (CRR_CONNS in flight, connect/1 byte/
# close, DURATION s), hold (HOLD_CONNS connections, memory per connection),
# iperf3 (1 and 4 streams, both directions, IPERF_TIME s). Then a scaling
# matrix: tundra with workers x queues over powers of two up to nproc, on
# bulk send and crr.
#
# Output: a table on stdout and bench/results/<timestamp>/ (results.txt,
# results.csv, raw.csv, scaling.csv, results.json, *.png with gnuplot, and
# logs/). See bench/README.md for the knobs and how to read the numbers.
#
# Safety: every namespace is private to this run (names carry $$) and is
# removed on exit by its exact name; every command runs under `timeout`;
# processes are stopped by PID only; all loops are bounded.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

NPROC=$(nproc)
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	RUNS=${RUNS:-1}
	BYTES=${BYTES:-128M}
	DURATION=${DURATION:-1}
	HOLD_CONNS=${HOLD_CONNS:-2000}
	HOLD_SECS=${HOLD_SECS:-1}
	SCALE_BYTES=${SCALE_BYTES:-64M}
	SCALE_RUNS=${SCALE_RUNS:-1}
else
	RUNS=${RUNS:-3}
	BYTES=${BYTES:-1G}
	DURATION=${DURATION:-3}
	HOLD_CONNS=${HOLD_CONNS:-10000}
	HOLD_SECS=${HOLD_SECS:-2}
	SCALE_BYTES=${SCALE_BYTES:-512M}
	SCALE_RUNS=${SCALE_RUNS:-$RUNS}
fi
IPERF_TIME=${IPERF_TIME:-$DURATION}
CRR_CONNS=${CRR_CONNS:-8}
RR_SIZE=${RR_SIZE:-1}
MTU=${MTU:-1500}
# Half the CPUs for tundra, half for the kernel client that loads it on the
# same machine (the kernel's own server side is one epoll thread for rr
# and crr). On 2 CPUs a second worker only competes with the client: in
# the scaling rows (and bench/ab.sh, interleaved) --workers 1 --queues 1
# is ahead on every test, crr by 60 %.
HALF=$((NPROC / 2 > 0 ? NPROC / 2 : 1))
WORKERS=${WORKERS:-$HALF}
QUEUES=${QUEUES:-$HALF}
TUNDRA_ARGS=${TUNDRA_ARGS:-}
SCALE=${SCALE:-1}
SCALE_MAX=${SCALE_MAX:-4}
IPERF=${IPERF:-auto}
# The kernel sockets' congestion control (loadgen --cc, iperf3 -C), on both
# sides of the kernel baseline and on the kernel client against tundra.
KERNEL_CC=${KERNEL_CC:-cubic}
SRC_ADDRS=${SRC_ADDRS:-16}	# extra client addresses for crr

LOADGEN=$BUILD/bench/loadgen
[[ -x $LOADGEN ]] || LOADGEN=build/bench/loadgen
TUNDRA_BIN=$BUILD/tundra

die() { echo "bench: $*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, TUN)"
[[ -x $LOADGEN ]] || die "$LOADGEN missing (run make first)"
[[ -x $TUNDRA_BIN ]] || die "$TUNDRA_BIN missing (run make first)"
for v in RUNS SCALE_RUNS CRR_CONNS HOLD_CONNS WORKERS QUEUES SCALE_MAX SRC_ADDRS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (is '${!v}')"
done
((RUNS <= 50 && SCALE_RUNS <= 50)) || die "RUNS and SCALE_RUNS must be at most 50"
((SRC_ADDRS <= 200)) || die "SRC_ADDRS must be at most 200"
((HOLD_CONNS <= 500000)) || die "HOLD_CONNS must be at most 500000"
for v in DURATION IPERF_TIME HOLD_SECS; do
	[[ ${!v} =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$v must be a number of seconds"
done
[[ $IPERF_TIME =~ ^[1-9][0-9]*$ ]] || die "IPERF_TIME must be whole seconds (iperf3 -t)"
HAVE_IPERF=0
command -v iperf3 >/dev/null && [[ $IPERF != 0 ]] && HAVE_IPERF=1

STAMP=$(date +%Y%m%d-%H%M%S)
RES=${OUT:-bench/results/$STAMP}
mkdir -p "$RES/logs" || die "cannot create $RES"
RAW=$RES/raw.tsv		# system config metric run value
NOTES=$RES/notes.txt
FAILS=$RES/failures.txt
: >"$RAW"
: >"$NOTES"
: >"$FAILS"

NA=tb-ka-$$	# kernel client
NB=tb-kb-$$	# kernel servers
NT_SEQ=0
BG_PIDS=()	# `timeout` wrappers of background processes

# ---- process and namespace helpers --------------------------------------

# Client-side sysctls (per namespace): reuse TIME-WAIT ports for outgoing
# connections where timestamps allow it, and the widest ephemeral range.
ns_client_sysctls() {
	ip netns exec "$1" sysctl -qw net.ipv4.tcp_tw_reuse=1 \
		net.ipv4.ip_local_port_range="1024 65535" >/dev/null
}

# bg_start VAR LIFE NS LOG CMD...: start CMD in NS under `timeout LIFE`;
# VAR gets the PID of CMD itself (ip netns exec execs it), VAR_W the
# wrapper's.
bg_start() {
	local var=$1 life=$2 ns=$3 log=$4 w i p=""
	shift 4
	timeout -k 5 "$life" ip netns exec "$ns" "$@" >"$log" 2>&1 &
	w=$!
	BG_PIDS+=("$w")
	for ((i = 0; i < 50; i++)); do
		p=$(child_pid "$w")
		[[ -n $p ]] && break
		kill -0 "$w" 2>/dev/null || break
		sleep 0.05
	done
	printf -v "$var" '%s' "$p"
	printf -v "${var}_W" '%s' "$w"
}

# stop_pid PID [WRAPPER]: SIGTERM, up to 5 s, SIGKILL; then reap WRAPPER.
stop_pid() {
	local p=$1 w=${2:-}
	kill_wait "$p" 5
	if [[ -n $w ]]; then
		kill_wait "$w" 5 0
		wait "$w" 2>/dev/null
	fi
	return 0
}

cleanup() {
	local w n
	stop_pid "${TUNDRA:-}" "${TUNDRA_W:-}"
	for w in "${BG_PIDS[@]}"; do
		if kill -0 "$w" 2>/dev/null; then
			# The child first (TERM lets iperf3/loadgen exit cleanly).
			n=$(child_pid "$w")
			stop_pid "$n" "$w"
		fi
	done
	ns_cleanup_all
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

# ---- recording ----------------------------------------------------------

rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }	# sys cfg metric run value
note() { printf '%s\n' "$*" | tee -a "$NOTES"; }
kv() { awk -v k="$1" '{for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }'; }

fail_rec() {	# fail_rec WHAT LOGFILE RC
	{
		echo "== $1 (exit $3)"
		tail -n 15 "$2" | sed 's/^/    /'
	} >>"$FAILS"
	echo "    FAILED: $1 (exit $3; log $2)"
}

# lg SYS CFG TAG RUN NS SECS ARGS...: run loadgen under timeout; RESULT gets
# its result line; returns its exit status (failures are recorded).
RESULT=""
lg() {
	local sys=$1 cfg=$2 tag=$3 run=$4 ns=$5 t=$6 log rc
	shift 6
	log=$RES/logs/$sys-$cfg-$tag-$run.log
	RESULT=""
	if [[ $sys == tundra ]] && ! bench_tundra_alive; then
		echo "tundra is not running (see its log in $RES/logs)" >"$log"
		fail_rec "$sys $cfg $tag run $run: skipped" "$log" "-"
		return 1
	fi
	timeout -k 5 "$t" ip netns exec "$ns" "$LOADGEN" "$1" --cc "$KERNEL_CC" \
		"${@:2}" >"$log" 2>&1
	rc=$?
	RESULT=$(grep -m1 '^result ' "$log")
	if ((rc != 0)); then
		fail_rec "$sys $cfg $tag run $run: loadgen $*" "$log" "$rc"
	fi
	return $rc
}

# ---- the tests ----------------------------------------------------------

# bytes_secs BYTES: a generous timeout for a transfer of BYTES (>= 100 Mbit/s).
bytes_secs() {
	local b
	b=$(numfmt --from=iec "${1%B}" 2>/dev/null || echo 1073741824)
	echo $((b / 12500000 + 30))
}

t_send() {	# t_send SYS CFG NS HOST RUN [BYTES]
	local by=${6:-$BYTES} t
	t=$(bytes_secs "$by")
	lg "$1" "$2" send "$5" "$3" $((t + 10)) send --host "$4" --port 9 \
		--bytes "$by" --timeout "$t" || return 1
	rec "$1" "$2" send_gbps "$5" "$(kv gbps <<<"$RESULT")"
}

t_recv() {	# t_recv SYS CFG NS HOST RUN
	local t
	t=$(bytes_secs "$BYTES")
	lg "$1" "$2" recv "$5" "$3" $((t + 10)) recv --host "$4" --port 19 \
		--bytes "$BYTES" --verify-pattern --timeout "$t" || return 1
	rec "$1" "$2" recv_gbps "$5" "$(kv gbps <<<"$RESULT")"
}

t_rr() {	# t_rr SYS CFG NS HOST RUN
	local k
	lg "$1" "$2" rr "$5" "$3" 60 rr --host "$4" --port 7 --conns 1 \
		--size "$RR_SIZE" --duration "$DURATION" --timeout 45 || return 1
	rec "$1" "$2" rr_tps "$5" "$(kv tps <<<"$RESULT")"
	for k in p50 p90 p99 max; do
		rec "$1" "$2" "rr_${k}_us" "$5" "$(kv "${k}_us" <<<"$RESULT")"
	done
}

t_crr() {	# t_crr SYS CFG NS HOST RUN SRC
	local k
	lg "$1" "$2" crr "$5" "$3" 60 crr --host "$4" --port 7 \
		--conns "$CRR_CONNS" --size 1 --duration "$DURATION" \
		--src "$6" --timeout 45 || return 1
	rec "$1" "$2" crr_cps "$5" "$(kv cps <<<"$RESULT")"
	for k in p50 p99; do
		rec "$1" "$2" "crr_${k}_us" "$5" "$(kv "${k}_us" <<<"$RESULT")"
	done
}

t_hold() {	# t_hold SYS CFG NS HOST RUN SERVER_PID
	local t
	t=$(awk -v n="$HOLD_CONNS" -v h="$HOLD_SECS" 'BEGIN { printf "%d", n / 500 + h + 30 }')
	lg "$1" "$2" hold "$5" "$3" $((t + 10)) hold --host "$4" --port 7 \
		--conns "$HOLD_CONNS" --hold "$HOLD_SECS" --server-pid "$6" \
		--rst --timeout "$t" || return 1
	rec "$1" "$2" hold_setup_cps "$5" "$(kv setup_rate <<<"$RESULT")"
	rec "$1" "$2" hold_rss_bpc "$5" "$(kv rss_bytes_per_conn <<<"$RESULT")"
	rec "$1" "$2" hold_slab_bpc "$5" "$(kv slab_bytes_per_conn <<<"$RESULT")"
	rec "$1" "$2" hold_sockslab_bpc "$5" "$(kv sock_slab_bytes_per_conn <<<"$RESULT")"
}

# t_iperf SYS CFG NS HOST RUN NAME IPERF_ARGS...: Gbit/s at the receiver.
t_iperf() {
	local sys=$1 cfg=$2 ns=$3 host=$4 run=$5 name=$6 log rc g
	shift 6
	log=$RES/logs/$sys-$cfg-$name-$run.log
	if [[ $sys == tundra ]] && ! bench_tundra_alive; then
		echo "tundra is not running (see its log in $RES/logs)" >"$log"
		fail_rec "$sys $cfg $name run $run: skipped" "$log" "-"
		return 1
	fi
	timeout -k 5 $((IPERF_TIME + 25)) ip netns exec "$ns" iperf3 -c "$host" \
		-p 5201 -t "$IPERF_TIME" -f g --connect-timeout 3000 -C "$KERNEL_CC" "$@" \
		>"$log" 2>&1
	rc=$?
	g=$(grep 'receiver' "$log" | tail -n 1 |
		awk '{ for (i = 2; i <= NF; i++) if ($i == "Gbits/sec") { print $(i - 1); exit } }')
	if ((rc != 0)) || [[ -z $g ]]; then
		fail_rec "$sys $cfg $name run $run: iperf3 -c $host $*" "$log" "$rc"
		return 1
	fi
	rec "$sys" "$cfg" "$name" "$run" "$g"
}

IPERF_TESTS=("iperf_fwd_p1:" "iperf_rev_p1:-R" "iperf_fwd_p4:-P 4" "iperf_rev_p4:-R -P 4")

# ---- tundra -------------------------------------------------------------

TUNDRA=""
TUNDRA_W=""
NT=""
# bench_tundra_start W Q TAG: a fresh namespace and tundra in it; sets NT, TUNDRA.
bench_tundra_start() {
	local w=$1 q=$2 tag=$3 i
	NT_SEQ=$((NT_SEQ + 1))
	NT=tb-t-$$-$NT_SEQ
	ns_create "$NT" || return 1
	ns_client_sysctls "$NT"
	TLOG=$RES/logs/tundra-$tag
	# shellcheck disable=SC2086  # TUNDRA_ARGS is a list of options
	bg_start TUNDRA 1800 "$NT" "$TLOG.log" "$TUNDRA_BIN" --dev tun0 \
		--addr 10.0.0.2/24 --peer-addr 10.0.0.1/24 --mtu "$MTU" \
		--workers "$w" --queues "$q" $TUNDRA_ARGS
	for ((i = 0; i < 100; i++)); do
		grep -q '^tundra: ready' "$TLOG.log" 2>/dev/null && break
		kill -0 "$TUNDRA_W" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^tundra: ready' "$TLOG.log" 2>/dev/null; then
		fail_rec "tundra start (--workers $w --queues $q)" "$TLOG.log" "-"
		stop_pid "$TUNDRA" "$TUNDRA_W"
		TUNDRA=""
		return 1
	fi
	# Extra client addresses for crr: tundra answers any source, and the
	# kernel's TIME-WAIT ports (held 60 s; tundra sends no timestamps, so
	# tcp_tw_reuse cannot recycle them) are per source address.
	addrs_add "$NT" tun0 10.0.0 "$SRC_ADDRS" 2>/dev/null
}

bench_tundra_alive() { [[ -n $TUNDRA ]] && kill -0 "$TUNDRA" 2>/dev/null; }

# bench_tundra_stop: SIGUSR1 for the last counters, then SIGTERM; keep the log.
bench_tundra_stop() {
	local i before
	if bench_tundra_alive; then
		before=$(grep -c '^stats tx ' "$TLOG.log")
		kill -USR1 "$TUNDRA" 2>/dev/null
		for ((i = 0; i < 20; i++)); do
			(($(grep -c '^stats tx ' "$TLOG.log") > before)) && break
			sleep 0.1
		done
	fi
	stop_pid "$TUNDRA" "$TUNDRA_W"
	TUNDRA=""
	TUNDRA_W=""
	ns_delete "$NT"
	# Summarise trouble from tundra's final counters.
	awk '/^stats drop /{print "    tundra drops: " $0}
	     /^stats worker=/{for (i = 1; i <= NF; i++) if ($i ~ /^(retransmits|conns_reset)=/ && $i !~ /=0$/) r = r " " $2 " " $i}
	     END { if (r != "") print "    tundra counters:" r }' \
		<(awk '/^stats rx /{buf=""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$TLOG.log" | grep '^stats') |
		tee -a "$TLOG.summary"
	grep -E 'ERROR|error|assert|Sanitizer' "$TLOG.log" | grep -v '^stats' | head -n 5 | sed 's/^/    tundra: /'
}

# ---- kernel reference ---------------------------------------------------

KSRV_ECHO=""
kernel_start() {
	local s i ok=1
	ns_create "$NA" || return 1
	ns_create "$NB" || return 1
	ns_client_sysctls "$NA"
	ip -n "$NA" link add vb0 mtu "$MTU" type veth peer name vb1 mtu "$MTU" netns "$NB" || return 1
	ip -n "$NA" addr add 10.9.0.1/24 dev vb0
	ip -n "$NB" addr add 10.9.0.2/24 dev vb1
	addrs_add "$NA" vb0 10.9.0 "$SRC_ADDRS"
	ip -n "$NA" link set vb0 up
	ip -n "$NB" link set vb1 up
	# Thread-per-connection servers for bulk (as veth_baseline.sh), one
	# epoll thread for echo (rr, crr, hold: no thread per connection).
	bg_start KSRV_DISCARD 1800 "$NB" "$RES/logs/kernel-server-discard.log" \
		"$LOADGEN" server --port 9 --mode discard --timeout 1700 --cc "$KERNEL_CC"
	bg_start KSRV_SOURCE 1800 "$NB" "$RES/logs/kernel-server-source.log" \
		"$LOADGEN" server --port 19 --mode source --timeout 1700 --cc "$KERNEL_CC"
	bg_start KSRV_ECHO 1800 "$NB" "$RES/logs/kernel-server-echo.log" \
		"$LOADGEN" server --port 7 --mode echo --epoll --timeout 1700 --cc "$KERNEL_CC"
	if ((HAVE_IPERF)); then
		bg_start KSRV_IPERF 1800 "$NB" "$RES/logs/kernel-iperf3-server.log" \
			iperf3 -s -p 5201
	fi
	for s in discard source echo; do
		for ((i = 0; i < 50; i++)); do
			grep -q '^server: listening' "$RES/logs/kernel-server-$s.log" 2>/dev/null && break
			sleep 0.1
		done
		grep -q '^server: listening' "$RES/logs/kernel-server-$s.log" || ok=0
	done
	# The veth needs a moment for carrier and the first neighbour entry.
	timeout 10 ip netns exec "$NA" ping -n -q -c 1 -w 5 10.9.0.2 >/dev/null 2>&1 || ok=0
	((ok))
}

# ---- the battery --------------------------------------------------------

battery() {	# battery SYS: RUNS of every test against one system
	local sys=$1 ns host src spid r name args cfg
	if [[ $sys == kernel ]]; then
		ns=$NA host=10.9.0.2 src=10.9.0.10+$SRC_ADDRS cfg=veth
	else
		ns=$NT host=10.0.0.2 src=10.0.0.10+$SRC_ADDRS cfg=w${WORKERS}q${QUEUES}
	fi
	echo "-- $sys: bulk send, $BYTES to discard x $RUNS"
	for ((r = 1; r <= RUNS; r++)); do t_send "$sys" "$cfg" "$ns" "$host" "$r"; done
	echo "-- $sys: bulk recv, $BYTES from source (pattern checked) x $RUNS"
	for ((r = 1; r <= RUNS; r++)); do t_recv "$sys" "$cfg" "$ns" "$host" "$r"; done
	echo "-- $sys: rr, 1 connection, $RR_SIZE B, ${DURATION}s x $RUNS"
	for ((r = 1; r <= RUNS; r++)); do t_rr "$sys" "$cfg" "$ns" "$host" "$r"; done
	# hold before crr: crr leaves thousands of TIME-WAIT sockets, whose
	# expiry would move the Slab figure hold reads.
	echo "-- $sys: hold $HOLD_CONNS connections ${HOLD_SECS}s x $RUNS"
	for ((r = 1; r <= RUNS; r++)); do
		if [[ $sys == tundra ]]; then
			# A fresh tundra per run: its allocator keeps freed
			# memory, which would hide the cost of a second run.
			bench_tundra_stop >/dev/null
			bench_tundra_start "$WORKERS" "$QUEUES" "hold-$r" || continue
			ns=$NT
			spid=$TUNDRA
		else
			spid=$KSRV_ECHO
		fi
		t_hold "$sys" "$cfg" "$ns" "$host" "$r" "$spid"
		sleep 1	# let the closed sockets go (RCU) before the next run
	done
	echo "-- $sys: crr, $CRR_CONNS in flight, 1 B, ${DURATION}s x $RUNS"
	for ((r = 1; r <= RUNS; r++)); do t_crr "$sys" "$cfg" "$ns" "$host" "$r" "$src"; done
	if ((!HAVE_IPERF)); then
		return
	fi
	if [[ $sys == tundra ]] && ((!TUNDRA_IPERF)); then
		return
	fi
	echo "-- $sys: iperf3 ${IPERF_TIME}s: 1 and 4 streams, both directions x $RUNS"
	for args in "${IPERF_TESTS[@]}"; do
		name=${args%%:*}
		for ((r = 1; r <= RUNS; r++)); do
			# shellcheck disable=SC2086  # the iperf3 options
			t_iperf "$sys" "$cfg" "$ns" "$host" "$r" "$name" ${args#*:}
		done
	done
}

# ---- run ----------------------------------------------------------------

T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
{
	echo "tundra benchmark battery, $(date -Iseconds)"
	echo "host: $(uname -n), kernel $(uname -r), $NPROC CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo))"
	echo "settings: RUNS=$RUNS BYTES=$BYTES DURATION=${DURATION}s IPERF_TIME=${IPERF_TIME}s CRR_CONNS=$CRR_CONNS RR_SIZE=$RR_SIZE HOLD_CONNS=$HOLD_CONNS HOLD_SECS=$HOLD_SECS MTU=$MTU QUICK=$QUICK"
	echo "tundra: --workers $WORKERS --queues $QUEUES ${TUNDRA_ARGS:+$TUNDRA_ARGS }($TUNDRA_BIN, git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty'))"
	echo "kernel: veth pair between two namespaces, MTU $MTU, loadgen servers (epoll echo), iperf3 -s, congestion control $KERNEL_CC"
	echo "load average at start: $LOAD_START"
} | tee "$RES/header.txt"
awk -v l="${LOAD_START%% *}" -v n="$NPROC" 'BEGIN { if (l + 0 > n * 0.5) exit 1 }' ||
	note "warning: load average $LOAD_START at start on $NPROC CPUs: others are busy, numbers are noisy"

echo "== kernel reference (veth)"
if kernel_start; then
	battery kernel
else
	note "kernel reference setup failed: no kernel numbers (see $RES/logs)"
fi
for s in KSRV_DISCARD KSRV_SOURCE KSRV_ECHO KSRV_IPERF; do
	w=${s}_W
	[[ -n ${!s:-} ]] && stop_pid "${!s}" "${!w:-}"
done
ns_delete "$NA"
ns_delete "$NB"

echo "== tundra --workers $WORKERS --queues $QUEUES"
TUNDRA_IPERF=0
if bench_tundra_start "$WORKERS" "$QUEUES" main; then
	if ((HAVE_IPERF)); then
		# Does tundra answer iperf3 on 5201? One short real test.
		if timeout -k 5 20 ip netns exec "$NT" iperf3 -c 10.0.0.2 -p 5201 -t 1 \
			-f g --connect-timeout 3000 >"$RES/logs/tundra-iperf3-probe.log" 2>&1; then
			TUNDRA_IPERF=1
		else
			note "tundra does not answer iperf3 on port 5201 (probe: $(grep -v '^$' "$RES/logs/tundra-iperf3-probe.log" | tail -n 1)); iperf3 rows have no tundra numbers"
		fi
	fi
	battery tundra
	bench_tundra_stop
else
	note "tundra did not start: no tundra numbers (see $RES/logs/tundra-main.log)"
fi
((HAVE_IPERF)) || note "iperf3 not installed or IPERF=0: no iperf3 rows"

# ---- scaling matrix -----------------------------------------------------

# Powers of two up to nproc, plus nproc; at most SCALE_MAX values (the
# first, the last and evenly spaced ones between).
scale_values() {
	local -a v=() out=()
	local i n
	for ((i = 1; i <= NPROC; i *= 2)); do v+=("$i"); done
	[[ ${v[-1]} -ne $NPROC ]] && v+=("$NPROC")
	n=${#v[@]}
	if ((SCALE_MAX == 1)); then
		echo "$NPROC"
		return
	fi
	if ((n <= SCALE_MAX)); then
		echo "${v[@]}"
		return
	fi
	for ((i = 0; i < SCALE_MAX; i++)); do
		out+=("${v[$((i * (n - 1) / (SCALE_MAX - 1)))]}")
	done
	echo "${out[@]}" | tr ' ' '\n' | awk '!seen[$0]++' | tr '\n' ' '
}

if [[ $SCALE == 1 ]]; then
	SV=$(scale_values)
	echo "== scaling: tundra workers x queues in {${SV// /,}}, bulk send $SCALE_BYTES and crr ${DURATION}s x $SCALE_RUNS"
	for w in $SV; do
		for q in $SV; do
			echo "-- workers=$w queues=$q"
			bench_tundra_start "$w" "$q" "scale-w${w}q${q}" || continue
			for ((r = 1; r <= SCALE_RUNS; r++)); do
				bench_tundra_alive || break
				t_send tundra "scale-w${w}q${q}" "$NT" 10.0.0.2 "$r" "$SCALE_BYTES"
			done
			for ((r = 1; r <= SCALE_RUNS; r++)); do
				bench_tundra_alive || break
				t_crr tundra "scale-w${w}q${q}" "$NT" 10.0.0.2 "$r" "10.0.0.10+$SRC_ADDRS"
			done
			bench_tundra_stop
		done
	done
fi

# ---- tables -------------------------------------------------------------

T_END=$(date +%s)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# id|unit|higher is better|description
METRICS=(
	"send_gbps|Gbit/s|1|bulk send $BYTES: kernel client -> discard"
	"recv_gbps|Gbit/s|1|bulk recv $BYTES <- source (pattern checked)"
	"rr_tps|trans/s|1|rr: 1 conn; ${RR_SIZE} B echo; ${DURATION}s"
	"rr_p50_us|us|0|rr latency p50"
	"rr_p90_us|us|0|rr latency p90"
	"rr_p99_us|us|0|rr latency p99"
	"rr_max_us|us|0|rr latency max"
	"crr_cps|conn/s|1|crr: $CRR_CONNS in flight; connect+1 B echo+close"
	"crr_p50_us|us|0|crr latency p50 (whole exchange)"
	"crr_p99_us|us|0|crr latency p99"
	"hold_setup_cps|conn/s|1|hold: open+verify $HOLD_CONNS conns (256 at a time)"
	"hold_mem_bpc|B/conn|0|hold: server memory per idle conn (see notes)"
	"iperf_fwd_p1|Gbit/s|1|iperf3 1 stream: client -> server"
	"iperf_rev_p1|Gbit/s|1|iperf3 1 stream -R: server -> client"
	"iperf_fwd_p4|Gbit/s|1|iperf3 -P 4: client -> server"
	"iperf_rev_p4|Gbit/s|1|iperf3 -P 4 -R"
)

# Memory per connection. tundra: its VmRSS growth per held connection
# (a fresh tundra per run). kernel: the server side's kernel memory is not
# attributable exactly; estimate it from the socket-related slab caches
# (/proc/slabinfo: active objects x size of TCP, inode, dentry, file, epoll
# item, port buckets): their growth per connection in the veth run (both
# ends are kernel sockets) minus that in the tundra run (only the client
# end is), plus the epoll echo server's RSS growth per connection. Without
# /proc/slabinfo, the same with the machine-wide Slab of /proc/meminfo.
SLABM=hold_sockslab_bpc
SLABW="socket-related slab caches (/proc/slabinfo: TCP, sock_inode_cache, dentry, filp, eventpoll_epi, tcp_bind*_bucket; active objects x object size)"
if ! awk -F'\t' '$3 == "hold_sockslab_bpc" && $5 != "" { f = 1 } END { exit !f }' "$RAW"; then
	SLABM=hold_slab_bpc
	SLABW="Slab of /proc/meminfo (slab pages, partly empty ones included)"
fi
TS=$(awk -F'\t' -v m="$SLABM" '$1 == "tundra" && $3 == m && $5 != "" { print $5 }' "$RAW" | sort -g |
	awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
awk -F'\t' -v OFS='\t' '$1 == "tundra" && $3 == "hold_rss_bpc" { $3 = "hold_mem_bpc"; print }' "$RAW" >"$RAW.mem"
if [[ -n $TS ]]; then
	awk -F'\t' -v OFS='\t' -v ts="$TS" -v m="$SLABM" '
		$1 == "kernel" && $3 == m && $5 != "" { slab[$4] = $5 }
		$1 == "kernel" && $3 == "hold_rss_bpc" { rss[$4] = $5 }
		END { for (r in slab) print "kernel", "veth", "hold_mem_bpc", r, sprintf("%.0f", slab[r] - ts + rss[r]) }' \
		"$RAW" >>"$RAW.mem"
	note "hold memory: tundra = tundra VmRSS growth per connection (a fresh tundra per run). kernel = an estimate: growth of the $SLABW per connection in the veth run, where both ends are kernel sockets ($(awk -F'\t' -v m="$SLABM" '$1 == "kernel" && $3 == m {printf "%s ", $5}' "$RAW")B), minus the same in the tundra run, where only the client end is (median ${TS} B), plus the epoll echo server's RSS growth per connection ($(awk -F'\t' '$1 == "kernel" && $3 == "hold_rss_bpc" {printf "%s ", $5}' "$RAW")B). The counters are machine-wide, so whatever else runs moves them; idle sockets hold no buffer memory (tcp_mem_delta_kb in the hold logs); page tables and per-CPU caches are not counted. Read it as an order of magnitude."
else
	note "hold memory: no tundra hold run succeeded, so the kernel server-side estimate (which subtracts the client side measured in the tundra run) is not available: N/A"
fi
cat "$RAW.mem" >>"$RAW"
rm -f "$RAW.mem"

# summarize: SYS CFG METRIC -> "n min median max" (empty when no values)
summarize() {
	awk -F'\t' -v s="$1" -v c="$2" -v m="$3" '$1 == s && $2 == c && $3 == m && $5 != "" { print $5 }' "$RAW" |
		sort -g | awk '{ v[NR] = $1 } END {
			if (!NR) exit
			med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%d %s %s %s\n", NR, v[1], med, v[NR] }'
}

fmt() {	# fmt VALUE: 3 significant-ish digits
	awk -v v="$1" 'BEGIN {
		if (v == "") { printf "-"; exit }
		a = v < 0 ? -v : v
		if (a >= 1000) printf "%.0f", v
		else if (a >= 100) printf "%.1f", v
		else if (a >= 10) printf "%.2f", v
		else printf "%.3g", v }'
}

# ---- throughput under loss (bench/loss.sh; LOSS=0 skips it) --------------
if [[ ${LOSS:-1} != 0 ]]; then
	echo "-- loss: tundra and kernel under nftables drops, tundra with --impair delay"
	RUNS=$RUNS IPERF_TIME=$IPERF_TIME WORKERS=$WORKERS QUEUES=$QUEUES \
		TUNDRA_ARGS=$TUNDRA_ARGS OUT=$RES bash bench/loss.sh "$BUILD" \
		>"$RES/logs/loss.log" 2>&1
	rc=$?
	((rc == 0)) || fail_rec "loss benchmark (bench/loss.sh)" "$RES/logs/loss.log" "$rc"
fi

TCFG=w${WORKERS}q${QUEUES}
CSV=$RES/results.csv
echo "metric,unit,higher_is_better,description,tundra_n,tundra_min,tundra_median,tundra_max,kernel_n,kernel_min,kernel_median,kernel_max,ratio_tundra_over_kernel" >"$CSV"
TABLE=$RES/table.txt
{
	printf '%-15s %-8s %-26s %-26s %7s  %s\n' metric unit "tundra min/median/max" "kernel min/median/max" ratio description
	printf '%s\n' "$(printf '%.0s-' {1..120})"
} >"$TABLE"
PLOT_TPUT=$RES/plot-throughput.dat
PLOT_RATE=$RES/plot-rates.dat
PLOT_LAT=$RES/plot-latency.dat
printf '# metric tundra_med tundra_min tundra_max kernel_med kernel_min kernel_max\n' |
	tee "$PLOT_TPUT" "$PLOT_RATE" "$PLOT_LAT" >/dev/null
for m in "${METRICS[@]}"; do
	IFS='|' read -r id unit hib desc <<<"$m"
	t=$(summarize tundra "$TCFG" "$id")
	k=$(summarize kernel veth "$id")
	[[ -z $t && -z $k ]] && continue
	read -r tn tmin tmed tmax <<<"${t:-0 - - -}"
	read -r kn kmin kmed kmax <<<"${k:-0 - - -}"
	ratio=$(awk -v a="$tmed" -v b="$kmed" 'BEGIN { if (a != "-" && b != "-" && b + 0 != 0) printf "%.2f", a / b; else printf "-" }')
	tstr="-"
	[[ -n $t ]] && tstr="$(fmt "$tmin")/$(fmt "$tmed")/$(fmt "$tmax")"
	kstr="-"
	[[ -n $k ]] && kstr="$(fmt "$kmin")/$(fmt "$kmed")/$(fmt "$kmax")"
	printf '%-15s %-8s %-26s %-26s %7s  %s\n' "$id" "$unit" "$tstr" "$kstr" "$ratio" "$desc" >>"$TABLE"
	echo "$id,$unit,$hib,\"$desc\",$tn,${tmin/-/},${tmed/-/},${tmax/-/},$kn,${kmin/-/},${kmed/-/},${kmax/-/},${ratio/-/}" >>"$CSV"
	line="$id ${tmed/-/0} ${tmin/-/0} ${tmax/-/0} ${kmed/-/0} ${kmin/-/0} ${kmax/-/0}"
	case $id in
	*_gbps | iperf_*) echo "$line" >>"$PLOT_TPUT" ;;
	rr_tps | crr_cps | hold_setup_cps) echo "$line" >>"$PLOT_RATE" ;;
	rr_p50_us | rr_p99_us | crr_p50_us | crr_p99_us) echo "$line" >>"$PLOT_LAT" ;;
	esac
done

SCSV=$RES/scaling.csv
STABLE=$RES/scaling.txt
PLOT_SCALE=$RES/plot-scaling.dat
echo "workers,queues,metric,n,min,median,max" >"$SCSV"
printf '# config send_med send_min send_max crr_med crr_min crr_max\n' >"$PLOT_SCALE"
if [[ $SCALE == 1 ]]; then
	{
		printf '%-8s %-7s %-26s %-26s\n' workers queues "send Gbit/s min/med/max" "crr conn/s min/med/max"
		printf '%s\n' "$(printf '%.0s-' {1..70})"
	} >"$STABLE"
	for w in $SV; do
		for q in $SV; do
			s=$(summarize tundra "scale-w${w}q${q}" send_gbps)
			c=$(summarize tundra "scale-w${w}q${q}" crr_cps)
			read -r sn smin smed smax <<<"${s:-0 - - -}"
			read -r cn cmin cmed cmax <<<"${c:-0 - - -}"
			sstr="-"
			[[ -n $s ]] && sstr="$(fmt "$smin")/$(fmt "$smed")/$(fmt "$smax")"
			cstr="-"
			[[ -n $c ]] && cstr="$(fmt "$cmin")/$(fmt "$cmed")/$(fmt "$cmax")"
			printf '%-8s %-7s %-26s %-26s\n' "$w" "$q" "$sstr" "$cstr" >>"$STABLE"
			[[ -n $s ]] && echo "$w,$q,send_gbps,$sn,$smin,$smed,$smax" >>"$SCSV"
			[[ -n $c ]] && echo "$w,$q,crr_cps,$cn,$cmin,$cmed,$cmax" >>"$SCSV"
			echo "w${w}q${q} ${smed/-/0} ${smin/-/0} ${smax/-/0} ${cmed/-/0} ${cmin/-/0} ${cmax/-/0}" >>"$PLOT_SCALE"
		done
	done
fi

# raw.csv
{
	echo "system,config,metric,run,value"
	tr '\t' ',' <"$RAW"
} >"$RES/raw.csv"

# results.json (built with awk: no dependency beyond the base system)
{
	printf '{\n  "meta": {'
	printf '"date": "%s", "host": "%s", "kernel": "%s", "nproc": %s, "kernel_cc": "%s", ' "$(date -Iseconds)" "$(uname -n)" "$(uname -r)" "$NPROC" "$KERNEL_CC"
	printf '"runs": %s, "bytes": "%s", "duration_s": %s, "iperf_time_s": %s, "crr_conns": %s, "rr_size": %s, ' "$RUNS" "$BYTES" "$DURATION" "$IPERF_TIME" "$CRR_CONNS" "$RR_SIZE"
	printf '"hold_conns": %s, "hold_secs": %s, "mtu": %s, "quick": %s, "workers": %s, "queues": %s, ' "$HOLD_CONNS" "$HOLD_SECS" "$MTU" "$QUICK" "$WORKERS" "$QUEUES"
	printf '"scale_bytes": "%s", "scale_runs": %s, "load_start": "%s", "load_end": "%s", "elapsed_s": %s},\n' "$SCALE_BYTES" "$SCALE_RUNS" "$LOAD_START" "$LOAD_END" $((T_END - T_START))
	printf '  "metrics": [\n'
	tail -n +2 "$CSV" | awk -F',' '
		function num(x) { return x == "" ? "null" : x }
		{
			# the description is quoted and may hold no comma
			desc = $4; gsub(/"/, "", desc)
			printf "%s    {\"metric\": \"%s\", \"unit\": \"%s\", \"higher_is_better\": %s, \"description\": \"%s\", ", (NR > 1 ? ",\n" : ""), $1, $2, ($3 == 1 ? "true" : "false"), desc
			printf "\"tundra\": {\"n\": %s, \"min\": %s, \"median\": %s, \"max\": %s}, ", $5, num($6), num($7), num($8)
			printf "\"kernel\": {\"n\": %s, \"min\": %s, \"median\": %s, \"max\": %s}, \"ratio\": %s}", $9, num($10), num($11), num($12), num($13)
		} END { printf "\n" }'
	printf '  ],\n  "scaling": [\n'
	tail -n +2 "$SCSV" | awk -F',' '{ printf "%s    {\"workers\": %s, \"queues\": %s, \"metric\": \"%s\", \"n\": %s, \"min\": %s, \"median\": %s, \"max\": %s}", (NR > 1 ? ",\n" : ""), $1, $2, $3, $4, $5, $6, $7 } END { printf "\n" }'
	printf '  ],\n  "raw": [\n'
	awk -F'\t' '$5 != "" { printf "%s    {\"system\": \"%s\", \"config\": \"%s\", \"metric\": \"%s\", \"run\": %s, \"value\": %s}", (n++ ? ",\n" : ""), $1, $2, $3, $4, $5 } END { printf "\n" }' "$RAW"
	printf '  ],\n  "notes": [\n'
	awk '{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "%s    \"%s\"", (NR > 1 ? ",\n" : ""), $0 } END { printf "\n" }' "$NOTES"
	printf '  ],\n  "failures": %s\n}\n' "$(grep -c '^== ' "$FAILS")"
} >"$RES/results.json"

# results.txt: everything a reader needs, in one file
{
	cat "$RES/header.txt"
	echo "load average at end: $LOAD_END; elapsed $((T_END - T_START)) s"
	echo
	echo "tundra (--workers $WORKERS --queues $QUEUES) vs kernel TCP over veth; min/median/max of RUNS=$RUNS; ratio = tundra median / kernel median"
	cat "$TABLE"
	if [[ $SCALE == 1 ]]; then
		echo
		echo "scaling: tundra workers x queues; bulk send $SCALE_BYTES and crr ($CRR_CONNS in flight, ${DURATION}s); min/median/max of $SCALE_RUNS"
		cat "$STABLE"
	fi
	if [[ -s $NOTES ]]; then
		echo
		echo "notes:"
		sed 's/^/  - /' "$NOTES"
	fi
	echo
	if [[ -s $FAILS ]]; then
		echo "failures ($(grep -c '^== ' "$FAILS")):"
		cat "$FAILS"
	else
		echo "failures: none"
	fi
	if compgen -G "$RES/logs/tundra-*.summary" >/dev/null; then
		echo
		echo "tundra counters worth a look, per instance (drops, retransmits, resets; hold closes its connections with an RST, so conns_reset is expected in the hold-N instances):"
		for f in "$RES"/logs/tundra-*.summary; do
			[[ -s $f ]] || continue
			echo "  $(basename "$f" .summary):"
			sed 's/^/  /' "$f"
		done
	fi
} >"$RES/results.txt"
rm -f "$TABLE" "$STABLE" "$RES/header.txt"

# plots
if command -v gnuplot >/dev/null && [[ -f bench/plot.gp ]]; then
	if ! timeout 60 gnuplot -e "dir='$RES'" bench/plot.gp >"$RES/logs/gnuplot.log" 2>&1; then
		echo "(gnuplot failed: see $RES/logs/gnuplot.log)"
	fi
fi

echo
echo "=================================================================="
cat "$RES/results.txt"
echo
[[ -f $RES/loss.md ]] && { cat "$RES/loss.md"; echo; }
# shellcheck disable=SC2012  # fixed file name patterns, listed for reading
echo "results: $RES/ ($(cd "$RES" && ls -- *.txt *.csv *.json *.png 2>/dev/null | tr '\n' ' '))"
# Exit status: 0 when every measurement succeeded.
[[ ! -s $FAILS ]]
