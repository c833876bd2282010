#!/bin/bash
# fuzz.sh — run libFuzzer targets for a bounded time each (`make fuzz`).
#
#   scripts/fuzz.sh BUILD_DIR TARGET...     FUZZ_TIME=seconds per target
#
# Each target starts from its committed seed corpus tests/fuzz/corpus/<t>/
# (read only) plus a working corpus BUILD_DIR/corpus/<t>/ (kept between runs,
# so coverage accumulates; never committed). A crash, leak, timeout or a
# failed invariant leaves its input in BUILD_DIR/crashes/ and fails the run
# with the command that replays it. No network, no root: pure CPU.
set -euo pipefail

build=${1:?usage: fuzz.sh BUILD_DIR TARGET...}
shift
time_s=${FUZZ_TIME:-60}
fail=0

for t in "$@"; do
	bin=$build/$t
	seeds=tests/fuzz/corpus/$t
	work=$build/corpus/$t
	crashes=$build/crashes
	log=$build/$t.log
	[[ -x $bin ]] || { echo "fuzz: $bin not built" >&2; exit 1; }
	mkdir -p "$work" "$crashes"
	args=(-max_total_time="$time_s" -timeout=10 -rss_limit_mb=2048
		-print_final_stats=1 -artifact_prefix="$crashes/$t-")
	[[ -f tests/fuzz/$t.dict ]] && args+=(-dict="tests/fuzz/$t.dict")
	dirs=("$work")
	[[ -d $seeds ]] && dirs+=("$seeds")
	echo "== fuzz $t for ${time_s}s (log: $log)"
	rc=0
	"$bin" "${args[@]}" "${dirs[@]}" >"$log" 2>&1 || rc=$?
	# The last status line (#N DONE/pulse cov: ft: corp: exec/s) and
	# the executed-units count of -print_final_stats.
	grep -E '^#[0-9]+' "$log" | tail -n 1 || true
	grep -E '^stat::number_of_executed_units' "$log" || true
	if ((rc != 0)); then
		fail=1
		echo "fuzz: $t FAILED (exit $rc); the end of its log:" >&2
		tail -n 40 "$log" >&2
		art=$(grep -oE "(Test unit|artifact) written to [^ ]+" "$log" |
			tail -n 1 | awk '{print $NF}')
		if [[ -n $art ]]; then
			echo "fuzz: reproducer: $art" >&2
			echo "fuzz: replay with: $bin $art" >&2
		fi
	fi
done
exit "$fail"
