#!/usr/bin/python3
"""scaling.py [BUILD] -- what more workers buy: in process and in the daemon.

1. In process: bench/hotpath with -T 1 and -T N (N = the CPUs here): the
   same query_answer() loops on N threads at once over one snapshot and
   one cache.  A case whose total qps does not grow N-fold pays for shared
   writes; list lookups share nothing written, cached verdicts take a
   cache shard's lock and touch its LRU.
2. The daemon: rblcached with workers = 1 and workers = N on the 1M-entry
   list of bench/compare's generator, loadgen (closed loop, then open loop
   at a fixed rate) on the last CPU.  Reports qps and the server's CPU time
   per answered query: with more workers the CPU per query must not grow
   (SO_REUSEPORT spreads the packets; no lock or shared write on the
   path).  On a machine with few cores the generator shares a core with a
   worker, which caps the closed-loop qps: the write-up in RESULTS.md says
   what that does and does not show.

One parsable line per run:
  scaling where=hotpath case=verdict-hit threads=2 qps_total=.. ns_per_query=..
  scaling where=daemon workers=2 mode=max qps=.. cpu_us_per_q=.. p99_us=..
Bounded: every run has a time limit; about 2 minutes in all.
"""
import argparse
import importlib.machinery
import importlib.util
import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
_loader = importlib.machinery.SourceFileLoader("compare", os.path.join(HERE, "compare"))
_spec = importlib.util.spec_from_loader("compare", _loader)
compare = importlib.util.module_from_spec(_spec)
_loader.exec_module(compare)


def hotpath(build, case, threads):
    out = compare.run_bounded([os.path.join(build, "bench", "hotpath"), "-q",
                               "-T", str(threads), "-c", case], 120)
    m = re.search(r"ns_per_query=(\S+)", out)
    if not m:
        print(f"# hotpath {case} -T {threads} failed: {out.strip()[-300:]}")
        return None
    ns = float(m.group(1))
    qps = threads * 1e9 / ns
    print(f"scaling where=hotpath case={case} threads={threads} "
          f"qps_total={qps:.0f} ns_per_query={ns:.1f}", flush=True)
    return qps


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", nargs="?", default=os.environ.get("RBLCACHE_BUILD", "build"))
    ap.add_argument("--duration", type=int, default=5, help="s per daemon run (5)")
    ap.add_argument("--rate", type=float, default=150000,
                    help="open-loop qps for the CPU-per-query runs (150000)")
    args = ap.parse_args()
    ncpu = os.cpu_count() or 1
    nmax = max(2, ncpu)

    for case in ("list1m-hit", "verdict-hit", "small-hit"):
        one = hotpath(args.build, case, 1)
        many = hotpath(args.build, case, nmax)
        if one and many:
            print(f"# {case}: {nmax} threads give {many / one:.2f}x one thread's qps "
                  f"on {ncpu} CPUs", flush=True)

    # the daemon: compare's data (1M entries), generator on the last CPU
    ga = argparse.Namespace(entries=1_000_000, hot=10_000, zipf=1.0, listed=0.5,
                            v6=0.0, queries=200_000, seed=1, build=args.build,
                            duration=args.duration)
    compare.NICE = -10 if os.geteuid() == 0 else 0
    compare.GEN_CPU = str(ncpu - 1)
    d = tempfile.mkdtemp(prefix="rblcache-scaling-")
    try:
        listed, unlisted, _ = compare.gen_data(d, ga)
        qfile = os.path.join(d, "queries.txt")
        probe = (listed or unlisted)[0]
        for workers in sorted({1, nmax}):
            cpus = "0" if workers == 1 else f"0-{ncpu - 1}"
            s = compare.start_rblcached(d, args.build, probe, workers=workers,
                                        cpus=cpus)
            if not s:
                print(f"# workers={workers}: did not start")
                continue
            for mode, rate in (("max", None), ("rate", args.rate)):
                r = compare.measure(s, "loadgen", ga, qfile, rate)
                print(f"scaling where=daemon workers={workers} mode={mode} "
                      f"qps={compare.fmt(r.get('qps'), '.0f')} "
                      f"lost={compare.fmt(r.get('lost'), '.0f')} "
                      f"cpu_us_per_q={compare.fmt(r['cpu_us_per_q'], '.2f')} "
                      f"p99_us={compare.fmt(r.get('p99_us'), '.0f')} "
                      f"srv_cpu_pct={r['srv_pct']:.0f} gen_cpu_pct={r['gen_pct']:.0f}",
                      flush=True)
            s.stop()
    finally:
        for s in compare.Server.started:
            s.stop()
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
