#!/bin/bash
# deps.sh — install the Debian packages tundra needs to build and test.
#
# Idempotent: checks each package with dpkg-query and installs only what is
# missing (running `apt-get update` only then). Silent when everything is
# already present. Needs root.
set -euo pipefail

# Build: compiler, pkg-config, liburcu, jemalloc, libsodium, cJSON, inih,
# libpcap, sys/sdt.h, Criterion.
# Tests and scripts: tcpdump (reads captures back), iperf3 (the stock
# client), ip (iproute2), ping, capsh (libcap2-bin), procps (sysctl, ps),
# python3 (protocol peers, JSON checks), timeout (coreutils), awk (mawk);
# the attack tests: hping3 (SYN flood), nmap (scans), python3-scapy (forged
# segments and malformed packets).
# `deps.sh bench` adds gnuplot for the plots, `deps.sh profile` perf,
# `deps.sh fuzz` clang with libFuzzer's runtime (libclang_rt.fuzzer is in
# libclang-rt-14-dev, only a recommendation of clang-14 on Debian 12) and
# llvm-symbolizer (llvm-14) for readable crash reports.
PKGS=(
	build-essential
	pkg-config
	liburcu-dev
	libjemalloc-dev
	libcriterion-dev
	libsodium-dev
	libcjson-dev
	libinih-dev
	libpcap-dev
	systemtap-sdt-dev
	tcpdump
	iperf3
	iproute2
	iputils-ping
	libcap2-bin
	procps
	coreutils
	mawk
	python3
	hping3
	nmap
	python3-scapy
)
for extra in "$@"; do
	case $extra in
	bench) PKGS+=(gnuplot-nox) ;;
	profile) PKGS+=(linux-perf) ;;
	fuzz) PKGS+=(clang libclang-rt-14-dev llvm-14) ;;
	*)
		echo "deps.sh: unknown group '$extra' (bench, profile, fuzz)" >&2
		exit 2
		;;
	esac
done

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[[ "$st" == installed ]] || missing+=("$p")
done

((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "deps.sh: missing packages: ${missing[*]}" >&2
	echo "deps.sh: run as root (e.g. sudo make deps) to install them" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: apt-get not found; install by hand: ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "deps.sh: installing: ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps.sh: done"
