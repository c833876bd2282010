#!/bin/bash
# test_offload.sh BUILD_DIR — TUN offloads (offload = auto|on|off) of
# build/tundra against the kernel, in a namespace of its own
# (tundra-off-<pid>, removed on exit; processes stopped by PID only). The
# main suite (run.sh) runs with the default, auto; this one runs the bulk
# checks once with each fixed setting:
#
#   - --offload off: the device has vnet_hdr off; echo 1 MiB, 256 MiB to
#     discard, 256 MiB from source (pattern checked), 100 echo
#     connections; no GSO packet read, no TSO segment written;
#   - --offload on: vnet_hdr on; the same transfers; GSO super-packets
#     were read and TSO super-segments written (gso_pkts, tso_segs);
#     each flow stayed on its queue: at most 2 datagrams per connection
#     (the SYN, and the handshake's ACK, which the kernel sends before
#     it has learnt the flow's queue) arrived on another queue
#     (other_queue);
#   - --offload on --mtu 1280: the TSO size follows the MSS (64 MiB each
#     way, pattern checked);
#   - --mtu 65535 (the benchmark mode), offloads on and off: 64 MiB each
#     way, pattern checked;
#   - every run ends with a clean exit (status 0) on SIGTERM.
#
# Output: PASS/FAIL per check, then "N passed, M failed".
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

it_prologue test_offload.sh
NS=tundra-off-$$
ADDR=10.0.0.2
LIFETIME=200

LOG=$(mktemp -d /tmp/tundra-off.XXXXXX)

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

ns_create "$NS" || { echo "cannot create namespace $NS" >&2; exit 2; }

# check NAME SECONDS CMD... — PASS when CMD (run in the namespace) exits 0.
check() {
	local name=$1 t=$2 out rc
	shift 2
	out=$(in_ns $((t * SLOW)) "$@" 2>&1)
	rc=$?
	if ((rc == 0)); then
		t_pass "$name ($(tail -n 1 <<<"$out" | cut -c1-90))"
	else
		t_fail "$name" "rc=$rc: $(tail -n 2 <<<"$out" | tr '\n' ' ' | cut -c1-200)"
	fi
}

# stat_sum FILE KEY — the sum of KEY=N over the stats lines of FILE.
stat_sum() {
	grep -o "\<$2=[0-9]*" "$1" | cut -d= -f2 | awk '{ s += $1 } END { print s + 0 }'
}

# start TAG ARGS... — start tundra with ARGS; logs under $LOG/TAG.*.
start() {
	local tag=$1
	shift
	OUT=$LOG/$tag.out
	ERR=$LOG/$tag.err
	if tundra_launch "$NS" "$LIFETIME" $((100 * SLOW)) "$OUT" "$ERR" \
		"$TUNDRA" --dev tun0 --addr "$ADDR/24" --peer-addr 10.0.0.1/24 \
		--queues 2 --workers 2 "$@" && tundra_alive; then
		t_pass "$tag: start"
		return 0
	fi
	t_fail "$tag: start" "$(tail -n 2 "$ERR" | tr '\n' ' ')"
	tundra_kill
	return 1
}

# stop TAG — SIGTERM, expect exit 0 and the final stats on stdout.
stop() {
	if ! tundra_stop $((100 * SLOW)); then
		t_fail "$1: clean exit" "still running after $((10 * SLOW))s"
		tundra_kill
	elif ((TUNDRA_RC == 0)) && grep -q '^stats tx ' "$OUT"; then
		t_pass "$1: clean exit (status 0, stats printed)"
	else
		t_fail "$1: clean exit" "status $TUNDRA_RC"
	fi
	TUNDRA_PID=""
	t_no_sanitizer_reports "$ERR"
}

# vnet TAG on|off — the device's vnet_hdr flag as the kernel reports it.
vnet() {
	local info
	info=$(ip -n "$NS" -d link show tun0 2>&1)
	if [[ $info == *"vnet_hdr $2"* ]]; then
		t_pass "$1: device has vnet_hdr $2"
	else
		t_fail "$1: device has vnet_hdr $2" "$(tr '\n' ' ' <<<"$info" | cut -c1-200)"
	fi
}

bulk() {
	local tag=$1 size=${2:-256M}
	check "$tag: echo 1 MiB, content checked" 30 \
		"$LOADGEN" echo --host "$ADDR" --port 7 --bytes 1M --timeout $((20 * SLOW))
	check "$tag: $size to discard" 70 \
		"$LOADGEN" send --host "$ADDR" --port 9 --bytes "$size" --timeout $((60 * SLOW))
	check "$tag: $size from source, pattern checked" 70 \
		"$LOADGEN" recv --host "$ADDR" --port 19 --bytes "$size" \
		--verify-pattern --timeout $((60 * SLOW))
}

# ---- off -----------------------------------------------------------------
if start off --offload off; then
	if grep -q 'offloads off' "$ERR"; then
		t_pass "off: logged"
	else
		t_fail "off: logged" "$(grep -m1 'device tun0 ready' "$ERR")"
	fi
	vnet off off
	bulk off
	check "off: 100 concurrent echo connections" 70 \
		"$LOADGEN" echo --host "$ADDR" --port 7 --conns 100 --bytes 256K \
		--chunk 16K --timeout $((60 * SLOW))
	stop off
	g=$(stat_sum "$OUT" gso_pkts) s=$(stat_sum "$OUT" tso_segs)
	if ((g == 0 && s == 0)); then
		t_pass "off: no GSO read, no TSO written"
	else
		t_fail "off: no GSO read, no TSO written" "gso_pkts=$g tso_segs=$s"
	fi
fi

# ---- on ------------------------------------------------------------------
if start on --offload on; then
	if grep -q 'offloads on' "$ERR"; then
		t_pass "on: logged"
	else
		t_fail "on: logged" "$(grep -m1 'device tun0 ready' "$ERR")"
	fi
	vnet on on
	bulk on
	check "on: 100 concurrent echo connections" 70 \
		"$LOADGEN" echo --host "$ADDR" --port 7 --conns 100 --bytes 256K \
		--chunk 16K --timeout $((60 * SLOW))
	stop on
	g=$(stat_sum "$OUT" gso_pkts) s=$(stat_sum "$OUT" tso_segs)
	if ((g > 0 && s > 0)); then
		t_pass "on: offloads used (gso_pkts=$g tso_segs=$s)"
	else
		t_fail "on: offloads used" "gso_pkts=$g tso_segs=$s"
	fi
	oq=$(stat_sum "$OUT" other_queue) c=$(stat_sum "$OUT" conns_accepted)
	if ((c > 0 && oq <= 2 * c)); then
		t_pass "on: flows kept their queue (other_queue=$oq for $c connections)"
	else
		t_fail "on: flows kept their queue" "other_queue=$oq for $c connections"
	fi
fi

# ---- on, MTU 1280 ----------------------------------------------------------
if start mtu1280 --offload on --mtu 1280; then
	bulk mtu1280 64M
	stop mtu1280
	s=$(stat_sum "$OUT" tso_segs)
	if ((s > 0)); then
		t_pass "mtu1280: TSO used (tso_segs=$s)"
	else
		t_fail "mtu1280: TSO used" "tso_segs=$s"
	fi
fi

# ---- MTU 65535, both ways of the device -------------------------------------
# The benchmark mode: one segment per datagram fills it (MSS 65495), so no
# super-segments are built (two segments cannot share one IPv4 datagram);
# every datagram read or written is up to 64 KB, with and without offloads.
for mode in on off; do
	if start "mtu65535-$mode" --offload "$mode" --mtu 65535; then
		if [[ $(ip -n "$NS" link show tun0 2>&1) == *"mtu 65535 "* ]]; then
			t_pass "mtu65535-$mode: device MTU 65535"
		else
			t_fail "mtu65535-$mode: device MTU 65535"
		fi
		bulk "mtu65535-$mode" 64M
		stop "mtu65535-$mode"
	fi
done

t_summary
((nfail == 0))
