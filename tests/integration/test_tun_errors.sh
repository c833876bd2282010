#!/usr/bin/env bash
# test_tun_errors.sh BUILD_DIR — tun_open()/tun_close() on a real kernel:
# the success path (multi-queue device, MTU, UP, address, gone after close)
# and the error lines a user sees (name taken, no /dev/net/tun, no
# CAP_NET_ADMIN, bad arguments).
#
# Everything runs inside a private network namespace made here and deleted on
# exit; no TUN device is ever created in the root namespace. Processes are
# stopped by PID only. Needs root, iproute2, gcc, and capsh (libcap2-bin) or
# setpriv (util-linux).
# ok() always succeeds, so "cond && ok x || ko x" is a plain if/else here.
# shellcheck disable=SC2015
set -euo pipefail

BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
NS="tundra-tun-$$"
TMP=$(mktemp -d /tmp/tundra-tun.XXXXXX)
PROBE="$TMP/tun_probe"
HOLD_PID=""
pass=0
fail=0

cleanup() {
	exec 3>&- 2>/dev/null || true
	if [[ -n $HOLD_PID ]]; then
		kill "$HOLD_PID" 2>/dev/null || true
		wait "$HOLD_PID" 2>/dev/null || true
	fi
	# Deleting the namespace also removes every device left inside it.
	ns_cleanup_all
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
nsx() { ip netns exec "$NS" "$@"; }

# link_gone NAME: true once NAME no longer exists in the namespace (bounded).
link_gone() {
	local _
	for _ in $(seq 50); do
		nsx ip link show "$1" >/dev/null 2>&1 || return 0
		sleep 0.1
	done
	return 1
}

# expect_fail TEST WANT CMD...: CMD must exit nonzero and print exactly WANT
# (one line) on stdout.
expect_fail() {
	local name=$1 want=$2 out rc=0
	shift 2
	out=$("$@" 2>"$TMP/stderr") || rc=$?
	if [[ $rc -ne 0 && $out == "$want" ]]; then
		ok "$name"
	else
		ko "$name" "rc=$rc got '$out' want '$want' ($(tr '\n' ' ' <"$TMP/stderr"))"
	fi
}

# --- build the probe against the library ------------------------------------
# A sanitized build (build/san-X-Y) must be linked with the same sanitizers.
SANFLAGS=""
case $(basename "$BUILD") in
san-*)
	san=$(basename "$BUILD")
	san=${san#san-}
	SANFLAGS="-fsanitize=${san//-/,}"
	;;
esac
PKG_LIBS=$(pkg-config --libs liburcu liburcu-cds libsodium 2>/dev/null || true)
# shellcheck disable=SC2086
gcc -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE $SANFLAGS \
	-I"$ROOT/include" -I"$ROOT/src" -pthread -o "$PROBE" \
	"$ROOT/tests/integration/tun_probe.c" "$BUILD/libtundra.a" $PKG_LIBS

ns_create "$NS"

# --- (a) success path ---------------------------------------------------------
# MTU 1400, not the TUN default 1500, so the check proves tun_open set it.
mkfifo "$TMP/ctl"
nsx "$PROBE" --hold tun0 3 1400 10.0.0.1/24 <"$TMP/ctl" >"$TMP/hold.out" 2>&1 &
HOLD_PID=$!
exec 3>"$TMP/ctl"
for _ in $(seq 100); do
	grep -qx ready "$TMP/hold.out" && break
	kill -0 "$HOLD_PID" 2>/dev/null || break
	sleep 0.1
done
if grep -qx ready "$TMP/hold.out"; then
	ok open_3_queues
	nq=$(nsx ls /sys/class/net/tun0/queues | grep -c '^rx-' || true)
	info=$(nsx ip -d link show tun0)
	if [[ $nq == 3 && $info == *"tun type tun pi off vnet_hdr off multi_queue"* &&
	      $info != *"persist on"* ]]; then
		ok queue_count
	else
		ko queue_count "rx queues=$nq: $info"
	fi
	mtu=$(nsx cat /sys/class/net/tun0/mtu)
	[[ $mtu == 1400 ]] && ok mtu_set || ko mtu_set "mtu=$mtu"
	flags=$(nsx ip -o link show tun0)
	[[ $flags =~ \<([A-Z_]+,)*UP[,\>] ]] && ok link_up || ko link_up "$flags"
	addr=$(nsx ip -4 -o addr show dev tun0)
	[[ $addr == *"inet 10.0.0.1/24 "* ]] && ok address_added || ko address_added "$addr"
	route=$(nsx ip -4 route show 10.0.0.0/24)
	[[ $route == *"dev tun0"* ]] && ok prefix_route || ko prefix_route "$route"
	# Another process attaches more queues; the address already exists.
	out=$(nsx "$PROBE" tun0 2 1400 10.0.0.1/24 2>&1) &&
		[[ $out == *"opened tun0"*"closed" ]] &&
		ok attach_second_process || ko attach_second_process "$out"
else
	ko open_3_queues "$(cat "$TMP/hold.out")"
fi
exec 3>&-
rc=0
wait "$HOLD_PID" || rc=$?
HOLD_PID=""
[[ $rc == 0 ]] && ok hold_close || ko hold_close "rc=$rc $(cat "$TMP/hold.out")"
link_gone tun0 && ok gone_after_close || ko gone_after_close

# Same process opens twice: the second tun_open finds the address in place
# (RTM_NEWADDR -> EEXIST) and must still succeed.
out=$(nsx "$PROBE" --twice tun1 2 1400 10.0.1.1/24 2>&1) &&
	[[ $out == *"reopened tun1"* ]] &&
	ok reopen_address_exists || ko reopen_address_exists "$out"
link_gone tun1 && ok reopen_gone_after_close || ko reopen_gone_after_close

# A pre-made persistent multi-queue TUN with the address already on it.
nsx ip tuntap add dev tunmq mode tun multi_queue
nsx ip addr add 10.0.2.1/24 dev tunmq
out=$(nsx "$PROBE" tunmq 3 1400 10.0.2.1/24 2>&1) &&
	[[ $(nsx cat /sys/class/net/tunmq/mtu) == 1400 ]] &&
	ok attach_premade_mq_tun || ko attach_premade_mq_tun "$out"
nsx ip link del tunmq

# --- (b) name taken by something that is not a multi-queue TUN ---------------
nsx ip link add tun0 type veth peer name tun0peer
expect_fail name_taken_veth \
	"device tun0 exists and is not a multi-queue TUN device (it is a veth device)" \
	nsx "$PROBE" tun0 3 1400 10.0.0.1/24
nsx ip link show tun0 >/dev/null 2>&1 && ok veth_untouched || ko veth_untouched
nsx ip link del tun0

nsx ip tuntap add dev tunsq mode tun
expect_fail name_taken_single_queue_tun \
	"device tunsq exists and is not a multi-queue TUN device (it is a single-queue TUN device)" \
	nsx "$PROBE" tunsq 3 1400 10.0.0.1/24
nsx ip link del tunsq

nsx ip tuntap add dev tapmq mode tap multi_queue
expect_fail name_taken_mq_tap \
	"device tapmq exists and is not a multi-queue TUN device (it is a multi-queue TAP device)" \
	nsx "$PROBE" tapmq 3 1400 10.0.0.1/24
nsx ip link del tapmq

expect_fail name_taken_loopback \
	"device lo exists and is not a multi-queue TUN device (it is the loopback device)" \
	nsx "$PROBE" lo 1 1400 10.0.0.1/24

# --- (c) no /dev/net/tun -----------------------------------------------------
expect_fail missing_dev_net_tun \
	"cannot open $TMP/no-such-tun: No such file or directory (is the tun module loaded?)" \
	nsx "$PROBE" --path "$TMP/no-such-tun" tun0 3 1400 10.0.0.1/24
link_gone tun0 && ok missing_dev_no_link || ko missing_dev_no_link

# --- (d) no CAP_NET_ADMIN ----------------------------------------------------
# Dropping it from the bounding set removes it from root's permitted and
# effective sets at the next execve (capabilities(7)).
if command -v capsh >/dev/null; then
	# shellcheck disable=SC2016 # $0 and $@ are for the inner bash
	nocap=(capsh --drop=cap_net_admin -- -c 'exec "$0" "$@"')
elif command -v setpriv >/dev/null; then
	nocap=(setpriv --inh-caps=-net_admin --bounding-set=-net_admin)
else
	nocap=()
fi
if [[ ${#nocap[@]} -gt 0 ]]; then
	expect_fail no_cap_net_admin \
		"cannot create TUN device tun0: Operation not permitted (needs CAP_NET_ADMIN)" \
		nsx "${nocap[@]}" "$PROBE" tun0 3 1400 10.0.0.1/24
	link_gone tun0 && ok no_cap_no_link || ko no_cap_no_link
else
	ko no_cap_net_admin "neither capsh (libcap2-bin) nor setpriv found"
fi

# --- bad arguments, and a failure after the device exists --------------------
expect_fail zero_queues "cannot use 0 queues on tun0 (1 to 64)" \
	nsx "$PROBE" tun0 0 1400 10.0.0.1/24
expect_fail too_many_queues "cannot use 65 queues on tun0 (1 to 64)" \
	nsx "$PROBE" tun0 65 1400 10.0.0.1/24
expect_fail name_too_long \
	"TUN device name tundra-much-too-long is too long (at most 15 characters)" \
	nsx "$PROBE" tundra-much-too-long 1 1400 10.0.0.1/24
# MTU below the TUN minimum (68): the device was created, so the failure
# path must close every queue and the device must vanish.
expect_fail bad_mtu "cannot set MTU 10 on tun0: Invalid argument" \
	nsx "$PROBE" tun0 3 10 10.0.0.1/24
link_gone tun0 && ok bad_mtu_no_link || ko bad_mtu_no_link

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
