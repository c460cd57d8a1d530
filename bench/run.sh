#!/bin/sh
# run.sh BUILD -- benchmarks; today: load time and memory of a 1M-entry list.
set -e
BUILD=${1:-build}
exec /usr/bin/python3 bench/listload.py "$BUILD"
