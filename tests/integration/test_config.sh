#!/bin/bash
# test_config.sh BUILD_DIR — the configuration file and the flags over it.
#
# Checks that config/tundra.conf, README.md and --help agree
# (scripts/check_config_docs.sh), then, in a network namespace made for this
# run (tundra-cfg-<pid>, deleted on exit by that name): tundra started with
# config/tundra.conf serves; a bad file is one error line and exit 2; flags
# override the file; apps turned off by port 0 answer RST; poll_mode busy
# with pinned threads serves; a CPU it may not use is a startup error.
# Every tundra runs under `timeout`; processes are stopped by PID.
#
# Output: PASS/FAIL per test, then "N passed, M failed"; exit 0 only when
# nothing failed.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

it_prologue test_config.sh
NS=tundra-cfg-$$
ADDR=10.0.0.2

LOG=$(mktemp -d /tmp/tundra-cfg.XXXXXX)
OUT=$LOG/tundra.out
ERR=$LOG/tundra.err

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

# expect NAME CMD... — PASS when CMD (in the namespace) exits 0.
expect() {
	local name=$1 out
	shift
	if out=$(in_ns $((30 * SLOW)) "$@" 2>&1); then
		t_pass "$name"
	else
		t_fail "$name" "$(tail -n 3 <<<"$out" | tr '\n' ' ')"
	fi
}

# start NAME ARGS... — launch tundra with ARGS; PASS "NAME: ready line".
start() {
	local name=$1
	shift
	if tundra_launch "$NS" $((120 * SLOW)) $((100 * SLOW)) "$OUT" "$ERR" \
		"$TUNDRA" "$@" && tundra_alive; then
		t_pass "$name"
		return 0
	fi
	t_fail "$name" "not ready: $(head -n 3 "$ERR" | tr '\n' ' ')"
	return 1
}

# ready_has NAME FIELD... — the ready line contains every FIELD (k=v).
ready_has() {
	local name=$1 line f
	shift
	line=$(grep -m1 '^tundra: ready' "$OUT")
	for f in "$@"; do
		if [[ " $line " != *" $f "* ]]; then
			t_fail "$name" "no '$f' in: $line"
			return
		fi
	done
	t_pass "$name ($line)"
}

stop() {
	if tundra_alive && tundra_stop $((100 * SLOW)) && ((TUNDRA_RC == 0)); then
		t_pass "$1: clean exit"
	else
		t_fail "$1: clean exit" "status ${TUNDRA_RC:-?}"
		tundra_kill
	fi
	TUNDRA_PID=""
	t_no_sanitizer_reports "$ERR"
}

# refuses NAME STATUS WANT ARGS... — tundra ARGS exits STATUS at once and
# its stderr is exactly the one line WANT.
refuses() {
	local name=$1 status=$2 want=$3 rc=0 err
	shift 3
	err=$(in_ns $((20 * SLOW)) "$TUNDRA" "$@" 2>&1 >/dev/null) || rc=$?
	if ((rc != status)); then
		t_fail "$name" "exit $rc, not $status: $err"
	elif [[ $err != "$want" ]]; then
		t_fail "$name" "stderr: $err (wanted: $want)"
	else
		t_pass "$name ($err)"
	fi
}

echo "== tundra configuration tests: $TUNDRA (namespace $NS)"

if out=$(bash scripts/check_config_docs.sh "$BUILD" 2>&1); then
	t_pass "config/tundra.conf, README.md and --help agree"
else
	t_fail "config/tundra.conf, README.md and --help agree" "$(tr '\n' ' ' <<<"$out")"
fi

ns_create "$NS" || { echo "test_config.sh: cannot create namespace $NS" >&2; exit 2; }

# ---- the shipped file -------------------------------------------------------
if start "start with config/tundra.conf" --config config/tundra.conf; then
	ready_has "ready line shows the file's values" dev=tun0 \
		addr=10.0.0.2/24 peer=10.0.0.1/24 mtu=1500 poll_mode=adaptive \
		echo=7 discard=9 source=19 iperf3=5201 \
		"workers=$(nproc)" "queues=$(nproc)"
	expect "echo on port 7" "$LOADGEN" echo --host "$ADDR" --port 7 \
		--bytes 256K --timeout $((20 * SLOW))
	stop "config/tundra.conf"
fi

# ---- bad files --------------------------------------------------------------
bad=$LOG/bad.conf
printf '[device]\nmtu = 1500\n[threads]\nworkers = abc\n' >"$bad"
refuses "bad value: one error line, exit 2" 2 \
	"tundra: $bad:4: [threads] workers = 'abc': expected an integer in 1..256 or 'auto'" \
	--config "$bad"
printf '[tcp]\ncongestion = cubic\n' >"$bad"
refuses "unknown key: one error line, exit 2" 2 \
	"tundra: $bad:2: unknown key 'congestion' in [tcp]" --config "$bad"
printf '[threads]\nworkers = 2\n[thread]\nspin = 1\n' >"$bad"
refuses "unknown section: one error line, exit 2" 2 \
	"tundra: $bad:4: unknown section [thread]" --config "$bad"
refuses "bad flag: one error line, exit 2" 2 \
	"tundra: --poll-mode: 'fast': expected one of adaptive|busy|blocking" \
	--config config/tundra.conf --poll-mode fast
refuses "missing file: exit 2" 2 \
	"tundra: $LOG/none.conf: No such file or directory" --config "$LOG/none.conf"
refuses "a CPU it may not use: startup error" 1 \
	"tundra: cpu_rx: CPU 1023 is not one this process may run on (it may use $(nproc) CPUs, see taskset -p)" \
	--cpu-rx 1023
if ip -n "$NS" link show dev tun0 >/dev/null 2>&1; then
	t_fail "no device left by a refused start"
else
	t_pass "no device left by a refused start"
fi

# ---- flags over the file; apps off; busy polling, pinned ----------------
over=$LOG/over.conf
last=$(($(nproc) - 1))
cat >"$over" <<EOC
[device]
queues = 1
[threads]
workers = 1
poll_mode = busy
cpu_rx = 0
cpu_tx = $last
cpu_workers = 0,$last
[apps]
echo = 0
discard = 0
EOC
if start "start with a file and flags" --config "$over" --workers 2 \
	--iperf3-port 0; then
	ready_has "flags override the file" workers=2 queues=1 \
		poll_mode=busy echo=0 discard=0 source=19 iperf3=0
	expect "echo off: port 7 answers RST" "$LOADGEN" refused \
		--host "$ADDR" --port 7 --timeout 10
	expect "discard off: port 9 answers RST" "$LOADGEN" refused \
		--host "$ADDR" --port 9 --timeout 10
	expect "iperf3 off: port 5201 answers RST" "$LOADGEN" refused \
		--host "$ADDR" --port 5201 --timeout 10
	expect "source on (busy, pinned): 4 MiB, pattern checked" "$LOADGEN" \
		recv --host "$ADDR" --port 19 --bytes 4M --verify-pattern \
		--timeout $((20 * SLOW))
	# Each thread runs where it was pinned.
	pins=$(for task in /proc/"$TUNDRA_PID"/task/*; do
		printf '%s=%s\n' "$(cat "$task/comm")" \
			"$(awk '/^Cpus_allowed_list/ {print $2}' "$task/status")"
	done | grep '^tundra-' | sort | tr '\n' ' ')
	want="tundra-rx=0 tundra-tx=$last tundra-w0=0 tundra-w1=$last "
	if [[ $pins == *"$want"* || $pins == "$want" ]]; then
		t_pass "threads pinned ($pins)"
	else
		t_fail "threads pinned" "got: $pins wanted: $want"
	fi
	stop "busy, pinned"
fi

t_summary
((nfail == 0))
