#!/bin/bash
# profile.sh BUILD_DIR [WORKLOAD [LOADGEN ARGS...]] — `make profile`: a perf
# profile of tundra under load.
#
# Creates a network namespace of its own, starts BUILD_DIR/tundra in it
# (--workers WORKERS --queues QUEUES, 2 each by default), samples it with
# `perf record --call-graph fp` (tundra is built with frame pointers)
# while build/bench/loadgen drives one of its servers from the kernel's
# TCP, stops tundra by PID (SIGTERM), and writes into
# bench/results/profile-<timestamp>-<workload>/:
#
#   perf.data          the samples (perf report -i perf.data)
#   report.txt         top symbols, self time (perf report --no-children)
#   threads.txt        time per thread (perf report --sort comm)
#   thread_syms.txt    top symbols per thread (--sort comm,sym)
#   callers.txt        call graphs of the top symbols (caller view)
#   categories.txt     each thread's time by activity (TUN read/write,
#                      poll, wake-ups, checksum, memcpy, ...)
#   stacks.folded      folded stacks ("thread;root;...;leaf count"), the input
#                      of any flame graph tool (FlameGraph's flamegraph.pl,
#                      inferno-flamegraph, speedscope.app)
#   flame.svg          only when flamegraph.pl or inferno-flamegraph is on PATH
#                      (Debian 12 packages neither: see bench/PROFILING.md)
#   loadgen.txt        the load generator's result line
#   tundra.out/.err    tundra's output, with its final stats
#   summary.txt        what is printed at the end
#
# WORKLOAD (default: send; also from the environment, for make):
#   send   loadgen send --port 9 (discard): the receive path
#   recv   loadgen recv --port 19 (source): the send path
#   echo   loadgen echo --port 7, 8 connections, 4 KiB chunks: both paths,
#          smaller writes
#   any other word: loadgen with that mode and the LOADGEN ARGS given
# BYTES (default 2G; echo 256M per connection / 8) sets the transfer size,
# PERF_FREQ (default 2999) the sampling rate in Hz, RESULTS the output
# parent folder. PERF_ALL=1 samples every CPU (perf record -a) instead of
# tundra's PID: the kernel client (loadgen, softirq, idle) shows up too,
# which is what a client-bound workload such as crr needs.
#
# Nothing is created in the root namespace; every step is bounded by
# `timeout`; processes are stopped by PID; the namespace is deleted by its
# exact name on exit.
set -uo pipefail

BUILD=${1:-build}
WORKLOAD=${2:-${WORKLOAD:-send}}
shift $(($# > 2 ? 2 : $#))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

TUNDRA=$BUILD/tundra
LOADGEN=$BUILD/bench/loadgen
[[ -x $LOADGEN ]] || LOADGEN=build/bench/loadgen
ADDR=10.0.0.2
NS=tundra-prof-$$
FREQ=${PERF_FREQ:-2999}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${RESULTS:-bench/results}/profile-$STAMP-$WORKLOAD

case $WORKLOAD in
send)
	LG_ARGS=(send --host "$ADDR" --port 9 --bytes "${BYTES:-2G}")
	;;
recv)
	LG_ARGS=(recv --host "$ADDR" --port 19 --bytes "${BYTES:-2G}")
	;;
echo)
	LG_ARGS=(echo --host "$ADDR" --port 7 --bytes "${BYTES:-32M}"
		--conns 8 --chunk 4K)
	;;
*)
	LG_ARGS=("$WORKLOAD" "$@")
	;;
esac
LG_ARGS+=(--timeout 60)

die() {
	echo "profile: $*" >&2
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, TUN, perf -p)"
command -v perf >/dev/null || die "perf not found (Debian: apt-get install linux-perf)"
for f in "$TUNDRA" "$LOADGEN"; do
	[[ -x $f ]] || die "$f missing (run make first)"
done

mkdir -p "$OUT" || die "cannot create $OUT"
perf_pid=""

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
	kill_wait "$perf_pid" 10 INT
	tundra_kill
	wait 2>/dev/null
	ns_cleanup_all
}
trap cleanup EXIT
trap 'exit 130' INT TERM


echo "profile: workload '$WORKLOAD': loadgen ${LG_ARGS[*]}"
echo "profile: results in $OUT"

ns_create "$NS" || die "cannot create namespace $NS"

# `ip netns exec` execs tundra in place: its PID is timeout's child.
tundra_launch "$NS" 300 200 "$OUT/tundra.out" "$OUT/tundra.err" "$TUNDRA" \
	--dev tun0 --addr "$ADDR/24" --peer-addr 10.0.0.1/24 \
	--workers "${WORKERS:-2}" --queues "${QUEUES:-${WORKERS:-2}}"
case $? in
1) die "tundra exited before it was ready: $(tail -n 5 "$OUT/tundra.err")" ;;
2) die "tundra not ready after 20 s" ;;
esac
[[ -n $TUNDRA_PID ]] || die "cannot find tundra's PID"
grep -m1 '^tundra: ready' "$OUT/tundra.out"
echo "profile: threads: $(cat /proc/"$TUNDRA_PID"/task/*/comm | sort | tr '\n' ' ')"
# Extra client addresses (10.0.0.10+16) for `crr --src` and `hold --src`:
# the client's TIME-WAIT ports are per source address.
addrs_add "$NS" tun0 10.0.0 16 2>/dev/null

# The kernel side of the traffic runs in loadgen and in softirq context,
# outside tundra's PID: -p shows tundra's own threads only (their user and
# kernel time, syscalls included).
SCOPE=(-p "$TUNDRA_PID")
[[ ${PERF_ALL:-0} == 1 ]] && SCOPE=(-a)
timeout -k 5 150 perf record -q -F "$FREQ" -g --call-graph fp \
	"${SCOPE[@]}" -o "$OUT/perf.data" 2>"$OUT/perf-record.err" &
perf_pid=$!
sleep 0.5
kill -0 "$perf_pid" 2>/dev/null || die "perf record failed: $(cat "$OUT/perf-record.err")"

lg_status=0
in_ns 90 "$LOADGEN" "${LG_ARGS[@]}" >"$OUT/loadgen.txt" 2>&1 || lg_status=$?
cat "$OUT/loadgen.txt"

kill -INT "$perf_pid"
wait "$perf_pid" 2>/dev/null
perf_pid=""

if tundra_stop 100; then
	TUNDRA_PID=""
else
	echo "profile: tundra still running 10 s after SIGTERM" >&2
fi
ns_delete "$NS"

# ---- reports -------------------------------------------------------------

P=(perf report -i "$OUT/perf.data" --stdio --no-children)
timeout 120 "${P[@]}" -g none --percent-limit 0.3 \
	--sort sym,dso >"$OUT/report.txt" 2>/dev/null
timeout 120 "${P[@]}" -g none --sort comm >"$OUT/threads.txt" 2>/dev/null
timeout 120 "${P[@]}" -g none --percent-limit 0.5 \
	--sort comm,sym >"$OUT/thread_syms.txt" 2>/dev/null
timeout 120 "${P[@]}" -G --percent-limit 3 \
	--sort sym >"$OUT/callers.txt" 2>/dev/null

# Folded stacks: one line per distinct stack, "thread;outer;...;leaf N".
# perf script prints each sample as a header line (the thread name first)
# and then its frames, leaf first, one per line, and a blank line.
timeout 300 perf script -i "$OUT/perf.data" -F comm,ip,sym 2>/dev/null |
	awk '
	function flush() {
		if (comm != "") {
			s = comm
			for (i = n; i >= 1; i--)
				s = s ";" f[i]
			count[s]++
		}
		comm = ""; n = 0
	}
	/^[^ \t]/ { flush(); comm = $1; next }
	/^[ \t]*$/ { flush(); next }
	{
		sym = $2
		for (i = 3; i <= NF; i++)
			if ($i !~ /^\(/)
				sym = sym " " $i
		sub(/\+0x[0-9a-f]+$/, "", sym)
		gsub(/;/, ":", sym)
		if (sym == "" || sym == "[unknown]")
			sym = "[unknown]"
		f[++n] = sym
	}
	END {
		flush()
		for (s in count)
			print s, count[s]
	}' | sort >"$OUT/stacks.folded"

svg_note=""
if command -v flamegraph.pl >/dev/null; then
	flamegraph.pl --title "tundra: $WORKLOAD" "$OUT/stacks.folded" \
		>"$OUT/flame.svg" 2>/dev/null && svg_note="flame.svg written (flamegraph.pl)"
elif command -v inferno-flamegraph >/dev/null; then
	inferno-flamegraph --title "tundra: $WORKLOAD" <"$OUT/stacks.folded" \
		>"$OUT/flame.svg" 2>/dev/null && svg_note="flame.svg written (inferno-flamegraph)"
fi
[[ -n $svg_note ]] || svg_note="no flame.svg: no flamegraph.pl or inferno-flamegraph on PATH (Debian 12 packages neither); feed stacks.folded to one"

# CPU per thread: samples / frequency (cpu-clock samples only while a thread
# runs), against the transfer's duration from loadgen's result line.
secs=$(sed -n 's/^result .* secs=\([0-9.]*\).*/\1/p' "$OUT/loadgen.txt")
cpu_table() {
	awk -v freq="$FREQ" -v secs="${secs:-0}" '
	{ split($0, a, ";"); n[a[1]] += $NF; tot += $NF }
	END {
		printf "%-12s %8s %8s %s\n", "thread", "samples", "cpu_s",
		       (secs > 0 ? "cpu/transfer" : "")
		for (t in n)
			printf "%-12s %8d %8.2f %s\n", t, n[t], n[t] / freq,
			       (secs > 0 ? sprintf("%5.0f%%", 100 * n[t] / freq / secs) : "") | "sort -k2,2nr"
		close("sort -k2,2nr")
		printf "%-12s %8d %8.2f %s\n", "all", tot, tot / freq,
		       (secs > 0 ? sprintf("%5.0f%%  (of %s s)", 100 * tot / freq / secs, secs) : "")
	}' "$OUT/stacks.folded"
}

# Where each thread's time goes, by what its stack contains (first match):
# the kernel work tundra's syscalls do, sleeping and waking, and its own
# user-space code by leaf function.
categories() {
	awk '
	function cat(st, leaf) {
		if (st ~ /;(exit_to_user_mode_loop|irqentry_exit_to_user_mode);schedule/)
			return "preempted (more runnable threads than CPUs)"
		if (st ~ /;(__poll|do_sys_poll|__x64_sys_poll|ppoll|eventfd_read)(;|$)/)
			return "poll, eventfd read (sleep, wake-up)"
		if (st ~ /;eventfd_write(;|$)/)
			return "eventfd_write (waking a thread)"
		if (st ~ /;(ksys_read|__x64_sys_read|tun_chr_read_iter)(;|$)/)
			return "read() of the TUN: one packet, copied out"
		if (st ~ /;(do_writev|__x64_sys_writev|tun_chr_write_iter)(;|$)/)
			return "writev() to the TUN: kernel input path + its TCP"
		if (st ~ /;entry_SYSCALL_64/)
			return "other syscalls, syscall entry/exit"
		if (st ~ /;(asm_|irq_|__irq_exit|handle_softirqs)/)
			return "interrupts, softirq"
		if (leaf == "csum_partial" || leaf == "csum_iov")
			return "user: checksum"
		if (leaf ~ /^__(memmove|memcpy)/)
			return "user: memcpy"
		if (leaf ~ /siphash/)
			return "user: siphash (flow hash)"
		if (leaf ~ /clock_gettime/)
			return "user: clock_gettime"
		return "user: other"
	}
	{
		cnt = $NF
		st = $0
		sub(/ [0-9]+$/, "", st)
		k = split(st, f, ";")
		c = cat(st, f[k])
		n[f[1] "\t" c] += cnt
		tot[f[1]] += cnt
	}
	END {
		for (x in n) {
			split(x, a, "\t")
			printf "%-10s %5.1f%%  %s\n", a[1], 100 * n[x] / tot[a[1]], a[2] | "sort -k1,1 -k2,2nr"
		}
		close("sort -k1,1 -k2,2nr")
	}' "$OUT/stacks.folded"
}
categories >"$OUT/categories.txt"

{
	echo "== profile of tundra, workload '$WORKLOAD' ($(date -Is))"
	echo "loadgen ${LG_ARGS[*]}"
	grep '^result' "$OUT/loadgen.txt" || echo "(no loadgen result line; status $lg_status)"
	echo
	echo "== time per thread (perf report --sort comm)"
	grep -E '^ +[0-9]' "$OUT/threads.txt"
	echo
	echo "== CPU per thread (samples at $FREQ Hz; 100% = one CPU busy for the whole transfer)"
	cpu_table
	echo
	echo "== each thread's time by activity (from its stacks; % of that thread)"
	cat "$OUT/categories.txt"
	echo
	echo "== top symbols, self time, all threads (perf report --no-children --sort sym,dso)"
	grep -E '^ +[0-9]' "$OUT/report.txt" | head -n "${TOP:-25}"
	echo
	echo "== top symbols per thread (--sort comm,sym)"
	grep -E '^ +[0-9]' "$OUT/thread_syms.txt" | head -n "${TOP:-30}"
	echo
	echo "== tundra's counters at exit"
	grep '^stats ' "$OUT/tundra.out"
	echo
	echo "== files"
	echo "$OUT/: perf.data report.txt threads.txt thread_syms.txt categories.txt callers.txt stacks.folded ($(wc -l <"$OUT/stacks.folded") stacks)"
	echo "$svg_note"
} | tee "$OUT/summary.txt"

exit "$lg_status"
