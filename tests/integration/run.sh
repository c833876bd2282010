#!/bin/bash
# run.sh BUILD_DIR — integration tests: build/tundra against the Linux TCP peer.
#
# Everything happens inside a network namespace made for this run
# (tundra-it-<pid>), removed on exit. tundra creates its TUN device inside it
# and gives the kernel side 10.0.0.1/24; the tests talk to 10.0.0.2 from the
# kernel in that namespace with ping and build/bench/loadgen. Each step runs
# under `timeout`; tundra itself runs under a `timeout` too, so nothing
# outlives the suite by more than a few minutes even if this script is
# killed. Processes are stopped by PID only.
#
# With a sanitizer build (BUILD_DIR like build/san-address-undefined) the
# sanitizer options are exported and any sanitizer report on tundra's stderr
# fails the run.
#
# Output: PASS/FAIL per test, then "N passed, M failed". Exit 0 only when
# nothing failed. On failure tundra's logs are kept under BUILD_DIR.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2

TUNDRA=$BUILD/tundra
LOADGEN=$BUILD/bench/loadgen
[[ -x $LOADGEN ]] || LOADGEN=build/bench/loadgen

NS=tundra-it-$$
DEV=tun0
ADDR=10.0.0.2
WORKERS=4
QUEUES=2
LIFETIME=240		# hard cap on tundra's life, seconds

if [[ $(id -u) -ne 0 ]]; then
	echo "run.sh: needs root (network namespaces, TUN)" >&2
	exit 2
fi
for f in "$TUNDRA" "$LOADGEN"; do
	if [[ ! -x $f ]]; then
		echo "run.sh: $f not found or not executable (run make first)" >&2
		exit 2
	fi
done

# Sanitizers: report to stderr, stop at the first error, look for leaks.
SAN=0
case $(basename "$BUILD") in
san-*) SAN=1 ;;
esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# tsan.supp silences frames inside the uninstrumented liburcu only.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tsan.supp}
export LSAN_OPTIONS=${LSAN_OPTIONS:-}
# Sanitized binaries are slower; give every step more time.
SLOW=1
((SAN)) && SLOW=3

LOG=$(mktemp -d /tmp/tundra-it.XXXXXX)
OUT=$LOG/tundra.out
ERR=$LOG/tundra.err
npass=0
nfail=0
failed=()
tpid=""		# the `timeout` wrapping tundra
tundra_pid=""	# tundra itself
tundra_rc=""

log() { printf '%s\n' "$*"; }

pass() {
	npass=$((npass + 1))
	printf 'PASS  %s\n' "$1"
}

fail() {
	nfail=$((nfail + 1))
	failed+=("$1")
	printf 'FAIL  %s%s\n' "$1" "${2:+: $2}"
}

cleanup() {
	local i
	if [[ -n $tundra_pid ]] && kill -0 "$tundra_pid" 2>/dev/null; then
		kill -TERM "$tundra_pid" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			kill -0 "$tundra_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$tundra_pid" 2>/dev/null
	fi
	if [[ -n $tpid ]] && kill -0 "$tpid" 2>/dev/null; then
		kill -KILL "$tpid" 2>/dev/null
	fi
	wait 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	if ((nfail == 0)); then
		rm -rf "$LOG"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# in_ns SECONDS CMD... — run CMD in the namespace, bounded in time.
in_ns() {
	local t=$1
	shift
	timeout -k 5 "$t" ip netns exec "$NS" "$@"
}

alive() { [[ -n $tundra_pid ]] && kill -0 "$tundra_pid" 2>/dev/null; }

# step NAME SECONDS CMD... — one test: PASS when CMD exits 0.
step() {
	local name=$1 t=$(($2 * SLOW)) out rc
	shift 2
	if ! alive; then
		fail "$name" "tundra is not running"
		return
	fi
	out=$(in_ns "$t" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" >>"$LOG/steps.log"
	if ((rc == 0)); then
		pass "$name"
		grep '^result ' <<<"$out" | sed 's/^/        /'
	else
		if ((rc == 124 || rc == 137)); then
			fail "$name" "timed out after ${t}s"
		else
			fail "$name" "exit $rc"
		fi
		printf '%s\n' "$out" | tail -n 15 | sed 's/^/        | /'
	fi
}

# Number of complete stats snapshots (one "stats tx" line each) so far.
snapshots() { grep -c '^stats tx ' "$OUT" 2>/dev/null || true; }

# The worker lines of the last snapshot in $OUT.
last_worker_lines() {
	awk '/^stats rx /{n=0; delete w} /^stats worker=/{w[n++]=$0}
	     /^stats tx /{m=n; for (i=0;i<n;i++) keep[i]=w[i]}
	     END{for (i=0;i<m;i++) print keep[i]}' "$OUT"
}

# check_accepts: every worker of the last snapshot accepted a connection.
check_accepts() {
	local lines bad
	lines=$(last_worker_lines)
	if [[ $(wc -l <<<"$lines") -ne $WORKERS || -z $lines ]]; then
		fail "every worker accepted connections" \
			"expected $WORKERS 'stats worker=' lines, got: ${lines:-none}"
		return
	fi
	bad=$(awk '{
		for (i = 1; i <= NF; i++)
			if ($i ~ /^conns_accepted=/) {
				split($i, kv, "="); v = kv[2]; found = 1
			}
		if (!found || v + 0 <= 0) print $2 " conns_accepted=" (found ? v : "missing")
		found = 0
	}' <<<"$lines")
	if [[ -z $bad ]]; then
		pass "every worker accepted connections ($(
			grep -o 'conns_accepted=[0-9]*' <<<"$lines" |
				cut -d= -f2 | paste -sd/ -))"
	else
		fail "every worker accepted connections" "$(tr '\n' ' ' <<<"$bad")"
	fi
}

sanitizer_report() {
	grep -E -m 5 'ERROR: (Address|Leak|Memory)Sanitizer|WARNING: ThreadSanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer|AddressSanitizer:DEADLYSIGNAL' "$ERR" 2>/dev/null
}

# ---- setup -------------------------------------------------------------

log "== tundra integration tests: $TUNDRA (namespace $NS)"
((SAN)) && log "   sanitizer build: ASAN_OPTIONS=$ASAN_OPTIONS"
ip netns add "$NS" || { echo "run.sh: cannot create namespace $NS" >&2; exit 2; }
ip -n "$NS" link set lo up

# `ip netns exec` execs the command, so the child of `timeout` is tundra.
timeout -k 5 "$LIFETIME" ip netns exec "$NS" "$TUNDRA" \
	--dev "$DEV" --addr "$ADDR/24" --peer-addr 10.0.0.1/24 \
	--queues "$QUEUES" --workers "$WORKERS" >"$OUT" 2>"$ERR" &
tpid=$!
ready=0
for ((i = 0; i < 100 * SLOW; i++)); do
	if [[ -z $tundra_pid ]]; then
		tundra_pid=$(awk '{print $1}' "/proc/$tpid/task/$tpid/children" 2>/dev/null)
	fi
	if grep -q '^tundra: ready' "$OUT" 2>/dev/null; then
		ready=1
		break
	fi
	kill -0 "$tpid" 2>/dev/null || break
	sleep 0.1
done
if ((ready)) && alive; then
	pass "start ($(grep -m1 '^tundra: ready' "$OUT"))"
else
	if kill -0 "$tpid" 2>/dev/null; then
		fail "start" "no 'tundra: ready' line within $((10 * SLOW))s"
	else
		wait "$tpid"
		fail "start" "tundra exited with status $?"
	fi
fi

# ---- tests -------------------------------------------------------------

step "ping $ADDR (3 packets)" 15 ping -n -c 3 -i 0.2 -W 2 "$ADDR"
step "echo 1 MiB, content checked" 30 \
	"$LOADGEN" echo --host "$ADDR" --port 7 --bytes 1M --timeout $((20 * SLOW))
step "256 MiB to discard" 70 \
	"$LOADGEN" send --host "$ADDR" --port 9 --bytes 256M --timeout $((60 * SLOW))
step "256 MiB from source, pattern checked" 70 \
	"$LOADGEN" recv --host "$ADDR" --port 19 --bytes 256M --verify-pattern \
	--timeout $((60 * SLOW))
step "RST on a closed port (5555 refused)" 15 \
	"$LOADGEN" refused --host "$ADDR" --port 5555 --timeout 10
step "100 concurrent echo connections" 70 \
	"$LOADGEN" echo --host "$ADDR" --port 7 --conns 100 --bytes 256K \
	--chunk 16K --timeout $((60 * SLOW))

# Per-worker stats from a SIGUSR1 snapshot.
have_snapshot=0
if alive; then
	before=$(snapshots)
	kill -USR1 "$tundra_pid"
	for ((i = 0; i < 50 * SLOW; i++)); do
		(($(snapshots) > before)) && break
		alive || break
		sleep 0.1
	done
	if (($(snapshots) > before)); then
		sleep 0.2
		have_snapshot=1
		pass "stats snapshot on SIGUSR1"
		check_accepts
	else
		fail "stats snapshot on SIGUSR1" \
			"no new stats within $((5 * SLOW))s$(alive || echo '; tundra died')"
	fi
else
	fail "stats snapshot on SIGUSR1" "tundra is not running"
fi

# ---- shutdown ----------------------------------------------------------

if alive; then
	kill -TERM "$tundra_pid"
	for ((i = 0; i < 100 * SLOW; i++)); do
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$tpid" 2>/dev/null; then
		fail "clean exit on SIGTERM" "still running after $((10 * SLOW))s"
		kill -KILL "$tundra_pid" 2>/dev/null
	else
		wait "$tpid"
		tundra_rc=$?
		if ((tundra_rc == 0)); then
			pass "clean exit on SIGTERM (status 0)"
		else
			fail "clean exit on SIGTERM" "exit status $tundra_rc"
		fi
	fi
	if ((!have_snapshot)); then
		if grep -q '^stats tx ' "$OUT"; then
			check_accepts
		else
			fail "every worker accepted connections" "no stats printed"
		fi
	fi
	if ip -n "$NS" link show dev "$DEV" >/dev/null 2>&1; then
		fail "device $DEV gone after exit" "$(ip -n "$NS" -br link show dev "$DEV")"
	else
		pass "device $DEV gone after exit"
	fi
else
	st=""
	if [[ -n $tpid ]] && ! kill -0 "$tpid" 2>/dev/null; then
		wait "$tpid"
		st=" (it had exited with status $?)"
	fi
	fail "clean exit on SIGTERM" "tundra was not running$st"
fi
tundra_pid=""

if report=$(sanitizer_report) && [[ -n $report ]]; then
	fail "no sanitizer reports" "$(head -n 1 <<<"$report")"
else
	((SAN)) && pass "no sanitizer reports"
fi

# ---- sibling suites ----------------------------------------------------

if [[ -f tests/integration/test_tun_errors.sh ]]; then
	out=$(timeout -k 5 $((120 * SLOW)) bash tests/integration/test_tun_errors.sh "$BUILD" 2>&1)
	rc=$?
	printf '%s\n' "$out" >"$LOG/test_tun_errors.log"
	if ((rc == 0)); then
		pass "test_tun_errors.sh"
	else
		fail "test_tun_errors.sh" "exit $rc"
		printf '%s\n' "$out" | tail -n 20 | sed 's/^/        | /'
	fi
fi

# The iperf3 server driven by the stock client (a tundra of its own).
if [[ -f tests/integration/test_iperf3.sh ]]; then
	out=$(timeout -k 5 $((150 * SLOW)) bash tests/integration/test_iperf3.sh "$BUILD" 2>&1)
	rc=$?
	printf '%s\n' "$out" >"$LOG/test_iperf3.log"
	if ((rc == 0)); then
		pass "test_iperf3.sh ($(tail -n 1 <<<"$out"))"
	else
		fail "test_iperf3.sh" "exit $rc"
		# Its FAIL lines and summary; the whole output is kept in
		# test_iperf3.log with the other logs.
		printf '%s\n' "$out" | grep -E '^(FAIL|[0-9]+ passed)' | sed 's/^/        | /'
	fi
fi

# The thread API (include/tundra/socket.h), tundra as server and client
# (a stack of its own per api_tool run).
if [[ -f tests/integration/test_api.sh ]]; then
	out=$(timeout -k 5 $((300 * SLOW)) bash tests/integration/test_api.sh "$BUILD" 2>&1)
	rc=$?
	printf '%s\n' "$out" >"$LOG/test_api.log"
	if ((rc == 0)); then
		pass "test_api.sh ($(tail -n 1 <<<"$out"))"
	else
		fail "test_api.sh" "exit $rc"
		printf '%s\n' "$out" | grep -E '^FAIL|passed,' | sed 's/^/        | /'
	fi
fi

# ---- summary -----------------------------------------------------------

if ((nfail > 0)); then
	keep=$BUILD/integration-logs.$(date +%Y%m%d-%H%M%S).$$
	mkdir -p "$keep" && cp -a "$LOG"/. "$keep"/ && rm -rf "$LOG"
	log "--- failed: ${failed[*]}"
	log "--- tundra logs kept in $keep"
	log "--- tundra stderr (last 30 lines):"
	tail -n 30 "$keep/tundra.err" 2>/dev/null | sed 's/^/    /'
	log "--- tundra stdout (last 30 lines):"
	tail -n 30 "$keep/tundra.out" 2>/dev/null | sed 's/^/    /'
	LOG=$keep	# cleanup must not delete what we kept
fi
echo "$npass passed, $nfail failed"
((nfail == 0))
