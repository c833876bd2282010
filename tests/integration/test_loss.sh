#!/bin/bash
# test_loss.sh BUILD_DIR — bulk transfers between build/tundra and the
# kernel over a lossy path, every byte checked, in namespaces of their own
# (tundra-loss-<pid> holds tundra's TUN device and routes for
# tundra-lossc-<pid>, the client; both removed on exit; processes stopped
# by PID only).
#
# Loss comes from nftables rules in the routing namespace's forward hook
# (`numgen random mod 1000 < N drop`), on what goes from the client to
# tundra and back. It must be on the path: a drop rule in the sending
# host's own output hook is reported to its TCP, which just sends the
# segment again (no loss at all). Delay comes from tundra's own --impair
# (this kernel has no netem). Each case moves LOSS_MB both ways:
#
#   - kernel -> tundra -> kernel: loadgen echo, every echoed byte checked;
#   - tundra -> kernel: loadgen recv from source, byte i == i mod 251;
#
# at 1% and 5% loss each way with tundra's offloads off, so that every
# drop is one segment both ways (the client's veth sends one segment per
# packet too), then (tundra restarted, offloads on: its TSO bursts are
# dropped whole) at 1% loss with --impair delay=10. A case must finish
# within its time bound, the nft counters must show that packets were
# really dropped, the kernel client and tundra must have retransmitted,
# and with --impair its held-packet counters must move.
# Then LOSS_MB/8 each way with every --impair fault at once (loss, dup,
# reorder, delay, jitter; a fixed seed) and no nft rules, each fault's
# counter checked in both directions; and a bad spec must be refused.
#
# LOSS_MB (default 256; 32 in sanitizer builds, where everything is several
# times slower; at least 16: with TSO bursts a smaller transfer may see no
# drop from tundra at 1 %) sets the size; LOSS_TIMEOUT (seconds per
# transfer) the bound.
# Output: PASS/FAIL per check, the time each transfer took, then
# "N passed, M failed".
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

it_prologue test_loss.sh
NS=tundra-loss-$$
NSC=tundra-lossc-$$
DEV=tloss0
ADDR=10.0.0.2
PEER=10.0.0.1
TABLE=tundra_loss

if ! command -v nft >/dev/null; then
	echo "test_loss.sh: nft not installed (scripts/deps.sh installs nftables)" >&2
	exit 2
fi
if ((SAN)); then
	LOSS_MB=${LOSS_MB:-32}
else
	LOSS_MB=${LOSS_MB:-256}
fi
# Generous: at 5% loss, and at 1% with 10 ms of delay, 256 MiB takes 3 to
# 5 minutes on a 2-core VM (the window such a path allows is small).
LOSS_TIMEOUT=${LOSS_TIMEOUT:-$((60 + LOSS_MB * 2))}

LOG=$(mktemp -d /tmp/tundra-loss.XXXXXX)
OUT=$LOG/tundra.out
ERR=$LOG/tundra.err

cleanup() {
	tundra_kill
	wait 2>/dev/null
	ns_cleanup_all # the nft table goes with the namespace
	if ((nfail == 0)); then
		rm -rf "$LOG"
	else
		echo "--- logs kept in $LOG"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ns_create "$NS" || { echo "cannot create namespace $NS" >&2; exit 2; }
ns_create "$NSC" || { echo "cannot create namespace $NSC" >&2; exit 2; }
# The client's veth sends one segment per packet (gso_max_size 1500), so
# each drop on the router is one of its segments: with GSO its 64 KB
# bursts are few enough that 1% of them can miss every data packet (and
# the kernel then has nothing to resend).
routed_client "$NS" "$NSC" 10.9.4 lc 1500 ||
	{ echo "cannot link $NSC to $NS" >&2; exit 2; }

# loss_set PERMILLE — $NS drops that many packets in 1000 of what it
# forwards from and to the client, each way (0: no rules), with counters.
loss_set() {
	path_loss_set "$NS" "$TABLE" lc0 "$1" 1000
}

start() {
	if tundra_launch "$NS" $((LOSS_TIMEOUT * 6 * SLOW)) $((100 * SLOW)) \
		"$OUT" "$ERR" "$TUNDRA" --dev "$DEV" --addr "$ADDR/24" \
		--peer-addr "$PEER/24" --queues 1 --workers 2 "$@" &&
		tundra_alive; then
		t_pass "start${*:+ with $*}"
		return 0
	fi
	t_fail "start${*:+ with $*}" "$(tail -n 3 "$ERR" | tr '\n' ' ')"
	return 1
}

# stop — SIGTERM; tundra prints its counters to $OUT on the way out.
stop() {
	if tundra_stop $((100 * SLOW)) && ((TUNDRA_RC == 0)); then
		t_pass "clean exit"
	else
		t_fail "clean exit" "status ${TUNDRA_RC:-still running}"
		tundra_kill
	fi
	TUNDRA_PID=""
}

# stat LINE FIELD — the sum of FIELD over tundra's final "stats LINE" lines.
stat() {
	awk -v l="$1" -v f="$2" '$1 == "stats" && index($2, l) == 1 {
		for (i = 3; i <= NF; i++) { split($i, kv, "=");
			if (kv[1] == f) s += kv[2] } } END { print s + 0 }' "$OUT"
}

# xfer NAME LOADGEN-ARGS... — one transfer under the time bound; reports
# how long it took.
xfer() {
	local name=$1 t0 t1 out rc
	shift
	if ! tundra_alive; then
		t_fail "$name" "tundra is not running"
		return
	fi
	t0=$(date +%s.%N)
	out=$(NS=$NSC in_ns $((LOSS_TIMEOUT * SLOW + 10)) "$LOADGEN" "$@" \
		--timeout $((LOSS_TIMEOUT * SLOW)) 2>&1)
	rc=$?
	t1=$(date +%s.%N)
	printf '== %s\n%s\n' "$name" "$out" >>"$LOG/xfer.log"
	if ((rc == 0)); then
		t_pass "$name ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }'))"
	else
		t_fail "$name" "rc=$rc after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }'): $(tail -n 2 <<<"$out" | tr '\n' ' ' | cut -c1-200)"
	fi
}

# client_retrans — the kernel client's TcpRetransSegs since its namespace
# was made (absolute: nstat's own history file is shared by namespaces).
client_retrans() {
	ip netns exec "$NSC" nstat -az TcpRetransSegs 2>/dev/null |
		awk '$1 == "TcpRetransSegs" { n = $2 } END { print n + 0 }'
}

# one_case LABEL PERMILLE — both transfers at that loss, then the checks
# that the loss was real.
one_case() {
	local label=$1 pm=$2 d_in d_out kr kr0
	loss_set "$pm" || { t_fail "$label: nft rules" "nft failed"; return; }
	kr0=$(client_retrans)
	xfer "$label: echo $LOSS_MB MiB kernel->tundra->kernel, every byte checked" \
		echo --host "$ADDR" --port 7 --bytes "${LOSS_MB}M" --chunk 64K
	xfer "$label: $LOSS_MB MiB tundra->kernel from source, pattern checked" \
		recv --host "$ADDR" --port 19 --bytes "${LOSS_MB}M" --verify-pattern
	d_in=$(path_loss_dropped "$NS" "$TABLE" from)
	d_out=$(path_loss_dropped "$NS" "$TABLE" to)
	if ((${d_in:-0} > 0 && ${d_out:-0} > 0)); then
		t_pass "$label: nft dropped packets both ways ($d_in to tundra, $d_out from it)"
	else
		t_fail "$label: nft dropped packets both ways" "to tundra ${d_in:-?}, from it ${d_out:-?}"
	fi
	# The drops were losses to the kernel's TCP too: it had to resend.
	kr=$(($(client_retrans) - kr0))
	if ((kr > 0)); then
		t_pass "$label: the kernel client retransmitted ($kr segments)"
	else
		t_fail "$label: the kernel client retransmitted" "TcpRetransSegs grew by $kr"
	fi
}

# ---- 1% and 5% loss --------------------------------------------------------
if start --offload off; then
	one_case "1% loss" 10
	one_case "5% loss" 50
	loss_set 0
	stop
	r=$(stat worker retransmits)
	if ((r > 0)); then
		t_pass "tundra retransmitted ($r segments)"
	else
		t_fail "tundra retransmitted" "retransmits=$r"
	fi
fi

# ---- 1% loss and --impair delay=10 -----------------------------------------
if start --impair delay=10; then
	one_case "1% loss, delay 10 ms" 10
	loss_set 0
	stop
	rxd=$(stat rx impair_delayed)
	txd=$(stat tx impair_delayed)
	if ((rxd > 0 && txd > 0)) && grep -q 'impairing the link' "$ERR"; then
		t_pass "--impair delay held packets both ways (rx $rxd, tx $txd)"
	else
		t_fail "--impair delay held packets both ways" "rx $rxd, tx $txd"
	fi
	if (($(stat rx impair_held) == 0 && $(stat tx impair_held) == 0)); then
		t_pass "--impair holds nothing after stop"
	else
		t_fail "--impair holds nothing after stop"
	fi
fi

# ---- every --impair fault at once, tundra's own loss only ------------------
# Offloads off: a GSO read is one impairment draw for up to 45 segments, so
# a few MiB would give too few draws for each fault to happen for sure.
MIX_MB=$((LOSS_MB / 8 > 4 ? LOSS_MB / 8 : 4))
if start --offload off \
	--impair loss=1,dup=1,reorder=2,gap=3,delay=2,jitter=3,seed=7; then
	xfer "impair mix: echo $MIX_MB MiB, every byte checked" \
		echo --host "$ADDR" --port 7 --bytes "${MIX_MB}M" --chunk 64K
	xfer "impair mix: $MIX_MB MiB from source, pattern checked" \
		recv --host "$ADDR" --port 19 --bytes "${MIX_MB}M" --verify-pattern
	stop
	bad=""
	for dir in rx tx; do
		for f in impair_dropped impair_dup impair_reordered impair_delayed; do
			(($(stat $dir $f) > 0)) || bad+=" $dir.$f=0"
		done
	done
	if [[ -z $bad ]]; then
		t_pass "impair mix: loss, dup, reorder and delay all happened both ways"
	else
		t_fail "impair mix: every fault happened" "$bad"
	fi
	if grep -q 'impairing the link on purpose: .*seed=7' "$ERR"; then
		t_pass "impair mix: the spec and its seed are logged"
	else
		t_fail "impair mix: the spec and its seed are logged"
	fi
fi

# ---- a bad spec: one clear line, exit 2, no device -----------------------
out=$(timeout -k 5 $((20 * SLOW)) ip netns exec "$NS" "$TUNDRA" --dev "$DEV" \
	--impair loss=1,delay=ten 2>&1)
rc=$?
if ((rc == 2)) && grep -q "delay=ten: expected milliseconds" <<<"$out" &&
	! ip -n "$NS" link show dev "$DEV" >/dev/null 2>&1; then
	t_pass "bad --impair spec refused ($(head -n 1 <<<"$out" | cut -c1-120))"
else
	t_fail "bad --impair spec refused" "rc=$rc: $(head -n 2 <<<"$out" | tr '\n' ' ')"
fi

t_no_sanitizer_reports "$ERR"
t_summary
((nfail == 0))
