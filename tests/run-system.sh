#!/bin/sh
# run-system.sh -- the pytest system suites against the real daemon, and
# the Postfix end-to-end test (tests/postfix: needs root and `ip netns`).
# RBLCACHE_BUILD selects the build directory (build or build-asan).
# Debian's python3 has pytest and dnspython; a python3 earlier on PATH
# may not, so the interpreter is named.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" -m pytest -q -p no:cacheprovider tests/system tests/postfix
rc=$?
# pytest's 5 means no test ran: that is a failure here
[ "$rc" -eq 5 ] && echo "system: no test ran" && exit 1
exit $rc
