#!/bin/sh
# run.sh BUILD -- every benchmark, each printing parsable result lines.
# Bounded: about 10 minutes in all on a 2-core machine.  Figures go to
# bench/RESULTS.md by hand, with the machine and the command.
set -e
BUILD=${1:-build}
PY=/usr/bin/python3
echo "== hot path (in process)"
sh bench/hotpath.sh "$BUILD"
echo "== 1M-entry list: load time and memory, rblcached and rbldnsd"
$PY bench/listload.py "$BUILD"
echo "== side by side: rblcached, rbldnsd, Unbound, do-nothing responders"
$PY bench/compare --quick "$BUILD"
echo "== upstream miss latency, 20 ms upstream, 1 and 5 sources"
$PY bench/upstream_latency.py "$BUILD"
echo "== scaling: threads in process, workers in the daemon"
$PY bench/scaling.py "$BUILD"
echo "== cache memory with 10M distinct IPs, max-memory 256M"
"$BUILD/bench/cachemem" 256M 10000000
echo "== upstream queries per 1000 client queries, 1-3 daemons sharing Redis"
$PY bench/shared_cache.py "$BUILD"
