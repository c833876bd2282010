#!/bin/bash
# check_config_docs.sh [BUILD_DIR] — the configuration is documented in three
# places that must agree: config/tundra.conf, README.md's configuration
# reference and `BUILD_DIR/tundra --help`. Checks that all three list exactly
# the same [section] keys, that the file and --help give the same defaults,
# and that the README's table is exactly what
# `BUILD_DIR/tundra --print-config-reference` prints (regenerate it with that
# command between the config-reference markers).
#
# Prints what differs; exit 0 when everything agrees, 1 when not, 2 on usage.
set -uo pipefail

BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
TUNDRA=$BUILD/tundra
CONF=config/tundra.conf
if [[ ! -x $TUNDRA ]]; then
	echo "check_config_docs.sh: $TUNDRA not found (run make first)" >&2
	exit 2
fi

tmp=$(mktemp -d /tmp/tundra-docs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
bad=0

# section.key=value for every key of the file (comments skipped).
awk '/^[[:space:]]*[;#]/ || /^[[:space:]]*$/ { next }
     /^\[/ { s = $0; gsub(/[][[:space:]]/, "", s); next }
     { line = $0; k = line; sub(/[[:space:]]*=.*/, "", k)
       v = line; sub(/^[^=]*=[[:space:]]*/, "", v); sub(/[[:space:]]*$/, "", v)
       print s "." k "=" v }' "$CONF" | sort >"$tmp/conf.kv"
cut -d= -f1 "$tmp/conf.kv" >"$tmp/conf.keys"

# From --help: "[section]" lines, then "  --flag ARG   key = default  (range)".
"$TUNDRA" --help | awk '
     /^\[[a-z]+\]$/ { s = $0; gsub(/[][]/, "", s); next }
     s != "" && /^  --/ && $3 != "" && $4 == "=" {
       v = $5; if (v == "(empty)") v = ""; print s "." $3 "=" v }' |
	sort >"$tmp/help.kv"
cut -d= -f1 "$tmp/help.kv" >"$tmp/help.keys"

# The README's table, between its markers.
sed -n '/<!-- config-reference:begin -->/,/<!-- config-reference:end -->/p' \
	README.md | sed '1d;$d' >"$tmp/readme.table"
sed -n 's/^| `\[\([a-z_]*\)\]` | `\([a-z0-9_]*\)` |.*/\1.\2/p' \
	"$tmp/readme.table" | sort >"$tmp/readme.keys"

"$TUNDRA" --print-config-reference >"$tmp/ref.table"

report() { # NAME A B
	if ! diff -u "$2" "$3" >"$tmp/diff"; then
		echo "check_config_docs: $1 differ:"
		sed -n '3,$p' "$tmp/diff" | grep '^[-+]' | sed 's/^/    /'
		bad=1
	fi
}
[[ -s $tmp/help.keys ]] || { echo "check_config_docs: no keys in --help"; bad=1; }
report "keys of $CONF (-) and --help (+)" "$tmp/conf.keys" "$tmp/help.keys"
report "keys of $CONF (-) and README.md (+)" "$tmp/conf.keys" "$tmp/readme.keys"
report "defaults in $CONF (-) and --help (+)" "$tmp/conf.kv" "$tmp/help.kv"
report "README.md's table (-) and --print-config-reference (+)" \
	"$tmp/readme.table" "$tmp/ref.table"
if ((bad == 0)); then
	echo "check_config_docs: $(wc -l <"$tmp/conf.keys") keys agree in $CONF, README.md and --help"
fi
exit "$bad"
