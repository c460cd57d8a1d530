#!/bin/sh
# run-unit.sh BUILD -- run every cmocka unit test binary in BUILD/tests,
# print each runner's summary and a total; exit 1 on any failure.
BUILD=${1:-build}
passed=0
failed=0
bad=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	echo "== $t"
	if "$t" >"$out" 2>&1; then :; else bad=$((bad + 1)); echo "FAILED: $t"; fi
	cat "$out"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
done
[ "$bad" -gt 0 ] && [ "$failed" -eq 0 ] && failed=$bad
echo "unit: $passed passed, $failed failed"
[ "$passed" -gt 0 ] && [ "$failed" -eq 0 ] && [ "$bad" -eq 0 ]
