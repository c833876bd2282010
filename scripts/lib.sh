# shellcheck shell=bash
# shellcheck disable=SC2034  # the globals set here are for the sourcing script
# lib.sh — plumbing shared by tundra's shell scripts (tests/integration/*.sh,
# scripts/demo.sh, scripts/profile.sh, bench/*.sh). Source it, do not run it:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
#
# Sourcing only defines functions and a few globals (below); it runs nothing
# and changes no shell option. Every function is safe under
# `set -euo pipefail`: none returns nonzero unless its documentation says so.
#
# Network safety: namespaces are created with ns_create, which records each
# name, and ns_cleanup_all deletes exactly those names (call it from the
# EXIT trap). Processes are signalled by PID only.
#
# Globals it owns:
#   LIB_ROOT            the repository root (from this file's location)
#   LIB_NS_LIST         namespaces made by ns_create, not yet deleted
#   npass nfail failed  t_pass/t_fail counters and the failed test names
#   SAN SLOW            set by san_setup
#   TUNDRA_PID          tundra itself, TUNDRA_TPID the `timeout` around it
#                       (set by tundra_launch)
#   TUNDRA_RC           tundra's exit status (set by tundra_stop)

LIB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ---- results ---------------------------------------------------------------

npass=0
nfail=0
failed=()

# t_pass NAME — count a passed test, print "PASS  NAME".
t_pass() {
	npass=$((npass + 1))
	printf 'PASS  %s\n' "$1"
}

# t_fail NAME [WHY] — count a failed test, remember NAME in failed[], print
# "FAIL  NAME" or "FAIL  NAME: WHY".
t_fail() {
	nfail=$((nfail + 1))
	failed+=("$1")
	printf 'FAIL  %s%s\n' "$1" "${2:+: $2}"
}

# t_summary — the last line of a suite: "N passed, M failed".
t_summary() {
	echo "$npass passed, $nfail failed"
}

# ---- namespaces ------------------------------------------------------------

LIB_NS_LIST=()

# ns_create NAME — create network namespace NAME, record it for
# ns_cleanup_all, bring its lo up. Returns nonzero when either step fails
# (NAME is recorded only once it exists).
#
# Its kernel TCP's default congestion control is set to KERNEL_CC (default
# cubic, tundra's own default) where the host allows it: a new namespace
# inherits the host's (bbr on some hosts), and the host's
# tcp_allowed_congestion_control limits what a namespace may pick, so the
# benchmarks also set KERNEL_CC on their own sockets (iperf3 -C, loadgen
# --cc), which root may always do.
ns_create() {
	ip netns add "$1" || return 1
	LIB_NS_LIST+=("$1")
	ip -n "$1" link set lo up
	ip netns exec "$1" sysctl -qw \
		net.ipv4.tcp_congestion_control="${KERNEL_CC:-cubic}" 2>/dev/null ||
		true # under set -e too: the host may not allow it
	return 0
}

# ns_delete NAME — delete a namespace made by ns_create now, by its exact
# name, and forget it.
ns_delete() {
	local n rest=()
	ip netns del "$1" 2>/dev/null
	for n in "${LIB_NS_LIST[@]}"; do
		[[ $n == "$1" ]] || rest+=("$n")
	done
	LIB_NS_LIST=("${rest[@]}")
	return 0
}

# ns_cleanup_all — delete every namespace ns_create made (exact names).
ns_cleanup_all() {
	local n
	for n in "${LIB_NS_LIST[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	LIB_NS_LIST=()
	return 0
}

# ---- loss on the path --------------------------------------------------------
#
# A drop rule on the host that sends a packet is no loss to that host's TCP:
# the output and egress hooks report the drop to the sender (NET_XMIT_DROP,
# -EPERM), which keeps the segment queued and sends it again at once, so a
# "1 % loss" there costs nothing. Real loss happens on the path: a client
# namespace behind a router namespace, whose forward hook drops.

# addrs_add NS DEV NET N — add NET.10 to NET.(9+N), each /32, to DEV in
# namespace NS: extra client source addresses (loadgen --src NET.10+N),
# as a client's ports, TIME-WAIT ones included, are per source address.
# NET is three octets. Tries every one; fails if any could not be added.
addrs_add() {
	local a rc=0
	for ((a = 0; a < $4; a++)); do
		ip -n "$1" addr add "$3.$((10 + a))/32" dev "$2" || rc=1
	done
	return "$rc"
}

# routed_client ROUTER CLIENT NET [IF [GSO]] — a veth pair from namespace
# ROUTER (IF0, NET.1/24) to namespace CLIENT (IF1, NET.2/24, default route
# via NET.1); ROUTER forwards IPv4. NET is three octets, e.g. 10.9.3; IF
# defaults to rv (another name for a second client of the same router).
# GSO, in bytes, caps both ends' gso_max_size: 1500 makes the kernel send
# one segment per packet there, so a router drop is one segment, not a
# 64 KB GSO burst (set when the pair is made, which every kernel since
# 4.16 accepts).
routed_client() {
	local r=$1 c=$2 net=$3 i=${4:-rv}
	local -a g=()
	[[ -n ${5:-} ]] && g=(gso_max_size "$5")
	ip -n "$r" link add "${i}0" "${g[@]}" type veth \
		peer name "${i}1" netns "$c" "${g[@]}" &&
		ip -n "$r" addr add "$net.1/24" dev "${i}0" &&
		ip -n "$c" addr add "$net.2/24" dev "${i}1" &&
		ip -n "$r" link set "${i}0" up && ip -n "$c" link set "${i}1" up &&
		ip -n "$c" route add default via "$net.1" &&
		ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
}

# path_loss_set NS TABLE DEV N [MOD] — in namespace NS, drop N of every MOD
# (default 10000) packets it forwards from and to its interface DEV (the
# client's side: both ways), with nftables `numgen random` in the forward
# hook (table inet TABLE, a counter per direction); N = 0 removes the rules.
path_loss_set() {
	local ns=$1 t=$2 dev=$3 n=$4 mod=${5:-10000}
	ip netns exec "$ns" nft delete table inet "$t" 2>/dev/null
	((n > 0)) || return 0
	ip netns exec "$ns" nft -f - <<EOF
table inet $t {
	chain pathloss {
		type filter hook forward priority 0; policy accept;
		iifname "$dev" numgen random mod $mod < $n counter drop comment "from"
		oifname "$dev" numgen random mod $mod < $n counter drop comment "to"
	}
}
EOF
}

# path_loss_dropped NS TABLE from|to — packets path_loss_set's rules
# dropped coming from DEV's side, or going to it.
path_loss_dropped() {
	ip netns exec "$1" nft list chain inet "$2" pathloss 2>/dev/null |
		awk -v w="\"$3\"" '$NF == w { for (i = 1; i < NF; i++)
			if ($i == "packets") { print $(i + 1); exit } }'
}

# in_ns SECONDS CMD... — run CMD in the namespace $NS under
# `timeout -k 5 SECONDS`; returns CMD's status (124/137 on timeout).
in_ns() {
	local t=$1
	shift
	timeout -k 5 "$t" ip netns exec "$NS" "$@"
}

# ---- processes -------------------------------------------------------------

# kill_wait PID [SECS [SIG]] — send SIG (default TERM) to PID, wait up to
# SECS (default 5) seconds for it to exit, then SIGKILL it. SIG 0 sends
# nothing: just wait, then SIGKILL. Nothing happens when PID is empty or
# the process is gone. Does not reap (`wait`) it.
kill_wait() {
	local p=$1 secs=${2:-5} sig=${3:-TERM} i
	[[ -n $p ]] || return 0
	kill -"$sig" "$p" 2>/dev/null || return 0
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$p" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	return 0
}

# cpu_ticks PID — CPU time of process PID, all its threads: utime + stime
# from /proc/PID/stat, in clock ticks (getconf CLK_TCK a second); nothing
# when the process is gone.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }

# child_pid PID — print the first child of PID (for `timeout ... ip netns
# exec CMD`, that is CMD itself: ip netns exec execs it); nothing if none.
child_pid() {
	awk '{print $1}' "/proc/$1/task/$1/children" 2>/dev/null
	return 0
}

# ---- sanitizers ------------------------------------------------------------

# it_prologue NAME — the common start of an integration test (run it
# after BUILD is set): needs root; TUNDRA and LOADGEN from $BUILD (LOADGEN
# falls back to build/: the sanitizer builds do not make it); both must be
# there; then san_setup. Exits 2 (the test did not run) when one is
# missing, with a message naming NAME.
it_prologue() {
	local f
	TUNDRA=$BUILD/tundra
	LOADGEN=$BUILD/bench/loadgen
	[[ -x $LOADGEN ]] || LOADGEN=build/bench/loadgen
	if [[ $(id -u) -ne 0 ]]; then
		echo "$1: needs root (network namespaces, TUN)" >&2
		exit 2
	fi
	for f in "$TUNDRA" "$LOADGEN"; do
		[[ -x $f ]] || { echo "$1: $f missing (run make)" >&2; exit 2; }
	done
	san_setup "$BUILD"
}

# san_setup BUILD_DIR — SAN=1 for a sanitizer build (BUILD_DIR named
# san-*), else 0; SLOW=3 (time factor for every step) for those, else 1.
# Exports ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS and LSAN_OPTIONS unless
# already set: reports go to stderr, the first error stops the program,
# leaks are checked. tests/tsan.supp silences frames inside the
# uninstrumented liburcu only.
san_setup() {
	SAN=0
	case $(basename "$1") in
	san-*) SAN=1 ;;
	esac
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$LIB_ROOT/tests/tsan.supp}
	export LSAN_OPTIONS=${LSAN_OPTIONS:-}
	SLOW=1
	if ((SAN)); then SLOW=3; fi
	return 0
}

# sanitizer_report FILE [MAX] — print up to MAX (default 5) sanitizer report
# lines of FILE; nothing (status 1) when there are none.
sanitizer_report() {
	grep -E -m "${2:-5}" 'ERROR: (Address|Leak|Memory)Sanitizer|WARNING: ThreadSanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer|AddressSanitizer:DEADLYSIGNAL' "$1" 2>/dev/null
}

# t_no_sanitizer_reports FILE — the "no sanitizer reports" test: FAIL with
# the first report line of FILE if there is one, else PASS in a sanitizer
# build (SAN=1) and nothing otherwise.
t_no_sanitizer_reports() {
	local report
	if report=$(sanitizer_report "$1") && [[ -n $report ]]; then
		t_fail "no sanitizer reports" "$(head -n 1 <<<"$report")"
	elif ((SAN)); then
		t_pass "no sanitizer reports"
	fi
	return 0
}

# ---- tundra ----------------------------------------------------------------

TUNDRA_PID=""
TUNDRA_TPID=""
TUNDRA_RC=""

# tundra_launch NS LIFE TRIES OUT ERR CMD... — start CMD (tundra and its
# options) in namespace NS under `timeout -k 5 LIFE`, stdout to OUT and
# stderr to ERR, in the background; TUNDRA_TPID is the timeout's PID and
# TUNDRA_PID tundra's own (the timeout's child). Polls every 0.1 s, TRIES
# times, for a '^tundra: ready' line in OUT. Returns 0 once it is there and
# TUNDRA_PID is known, 1 when the timeout exited first, 2 when TRIES ran out.
tundra_launch() {
	local ns=$1 life=$2 tries=$3 out=$4 err=$5 i
	shift 5
	TUNDRA_PID=""
	timeout -k 5 "$life" ip netns exec "$ns" "$@" >"$out" 2>"$err" &
	TUNDRA_TPID=$!
	for ((i = 0; i < tries; i++)); do
		[[ -n $TUNDRA_PID ]] || TUNDRA_PID=$(child_pid "$TUNDRA_TPID")
		if grep -q '^tundra: ready' "$out" 2>/dev/null && [[ -n $TUNDRA_PID ]]; then
			return 0
		fi
		kill -0 "$TUNDRA_TPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 2
}

# tundra_alive — tundra (TUNDRA_PID) is known and running.
tundra_alive() {
	[[ -n $TUNDRA_PID ]] && kill -0 "$TUNDRA_PID" 2>/dev/null
}

# tundra_stop TRIES — SIGTERM tundra, poll (0.1 s, TRIES times) for its
# timeout wrapper to exit. Returns 0 once it has, with tundra's exit status
# in TUNDRA_RC; 1 (nothing reaped, nothing killed) when it still runs.
tundra_stop() {
	local i
	kill -TERM "$TUNDRA_PID" 2>/dev/null
	for ((i = 0; i < $1; i++)); do
		kill -0 "$TUNDRA_TPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$TUNDRA_TPID" 2>/dev/null && return 1
	TUNDRA_RC=0
	wait "$TUNDRA_TPID" || TUNDRA_RC=$?
	return 0
}

# tundra_kill — for EXIT traps: SIGTERM tundra, SIGKILL after 5 s, and
# SIGKILL its timeout wrapper.
tundra_kill() {
	kill_wait "$TUNDRA_PID" 5
	[[ -n $TUNDRA_TPID ]] && kill -KILL "$TUNDRA_TPID" 2>/dev/null
	return 0
}
