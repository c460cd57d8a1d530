#!/bin/sh
# hotpath.sh BUILD [-q] -- query_answer() per query: time and instructions.
#
# Times every case of BUILD/bench/hotpath natively (best of 5 loops), then
# counts instructions under callgrind, since perf counters are not
# available on the build machine: each case runs twice with --instr, for
# N1 and N2 queries, counting only the loop (--instr-atstart=no, the
# binary switches collection on around it); (Ir2 - Ir1) / (N2 - N1) is
# the count a query, with whatever is fixed cancelled out.  Prints the
# binary's lines with instr_per_query filled in ("na" without valgrind).
#
# HOTPATH_KEEP=DIR keeps the N2 callgrind files there, for
#   callgrind_annotate --inclusive=yes DIR/callgrind.CASE
# Bounded: each callgrind run is killed after 100 s; the whole script
# takes about a minute on the 2-core build machine.
set -e
BUILD=${1:-build}
[ $# -gt 0 ] && shift
QUICK=
[ "${1:-}" = "-q" ] && QUICK=-q
BIN=$BUILD/bench/hotpath
N1=20000
N2=40000

if [ ! -x "$BIN" ]; then
	echo "hotpath.sh: $BIN missing: run make first" >&2
	exit 1
fi
tmp=$(mktemp -d /tmp/rblcache-hotpath.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

if ! "$BIN" $QUICK >"$tmp/lines"; then
	cat "$tmp/lines"
	echo "hotpath.sh: $BIN failed" >&2
	exit 1
fi

# Ir of the timed loop for one case and one query count, or nothing.
count() {
	out=$tmp/callgrind.$1.$2
	if timeout 100 valgrind --tool=callgrind --instr-atstart=no \
	    --callgrind-out-file="$out" "$BIN" --instr -n "$2" -c "$1" \
	    >/dev/null 2>"$tmp/valgrind.log"; then
		sed -n 's/^totals: //p' "$out"
	else
		echo "hotpath.sh: callgrind on $1 failed:" >&2
		tail -5 "$tmp/valgrind.log" >&2
	fi
}

while read -r line; do
	case=$(echo "$line" | sed -n 's/.* case=\([^ ]*\).*/\1/p')
	instr=na
	if [ -n "$case" ] && command -v valgrind >/dev/null 2>&1; then
		ir1=$(count "$case" $N1)
		ir2=$(count "$case" $N2)
		if [ -n "$ir1" ] && [ -n "$ir2" ] && [ "$ir2" -gt "$ir1" ]; then
			instr=$(awk -v a="$ir1" -v b="$ir2" -v n1=$N1 -v n2=$N2 \
			    'BEGIN { printf "%.0f", (b - a) / (n2 - n1) }')
		fi
		if [ -n "${HOTPATH_KEEP:-}" ] && [ -f "$tmp/callgrind.$case.$N2" ]; then
			mkdir -p "$HOTPATH_KEEP"
			cp "$tmp/callgrind.$case.$N2" "$HOTPATH_KEEP/callgrind.$case"
		fi
	fi
	echo "$line" | sed "s/instr_per_query=[^ ]*/instr_per_query=$instr/"
done <"$tmp/lines"
