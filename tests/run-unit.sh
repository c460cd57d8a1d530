#!/bin/sh
# run-unit.sh BUILD -- run every cmocka unit test binary in BUILD/tests,
# print each runner's summary and a total; exit 1 on any failure.
BUILD=${1:-build}
pass=0
fail=0
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	echo "== $t"
	if "$t"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAILED: $t"
	fi
done
echo "unit: $pass passed, $fail failed"
[ "$pass" -gt 0 ] && [ "$fail" -eq 0 ]
