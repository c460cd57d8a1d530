#!/usr/bin/python3
"""upstream_latency.py [BUILD] -- rblcached's latency on upstream cache misses.

A fault-injecting upstream (tests/system/faultdns.py, in a process of its
own) answers every query after 20 ms.  For each configuration, a fresh
BUILD/rblcached (2 workers) is asked about N distinct addresses (each a
cache miss: every query goes upstream), one query every --interval-ms
from several sockets, so a few are in flight at any time.  One line per
configuration, key=value, times in ms:

  upstream_latency sources=direct n=300 p50_ms=20.3 p99_ms=21.0 ...
  upstream_latency sources=1 n=300 p50_ms=20.9 p99_ms=22.4 ...
  upstream_latency sources=5 n=300 p50_ms=21.6 p99_ms=24.0 ...

--sources 1,2,3,4,5 runs every count from 1 to 5 (default 1,5).

sources=direct asks the fault server itself (the floor: its 20 ms plus
its own and the client's overhead); sources=K asks rblcached about a zone
with K upstream sources (K zones on the same fault server, all asked in
parallel).  overhead = answer time - 20 ms.  lost counts queries without
an answer within 2 s; upstream_q the queries the fault server received.

--unbound-option 'outgoing-range: 4096' adds a server: option to the
unbound.conf handed to libunbound (shown as unbound=... on the line):
libunbound's own default outgoing-range is 16 ports, so with 5 sources
at the default pace (about 20 upstream lookups in flight) lookups queue
inside libunbound and the 5-source line shows it.

--upstream c (the default once BUILD/bench/delayresp is built) replaces
both Python ends: bench/delayresp answers every query after exactly
20 ms and BUILD/bench/loadgen sends the queries (open loop, distinct
addresses, its latency histogram: buckets of ~0.13 ms at 20 ms).  The
floor is then delayresp asked directly; a server in between adds what
it adds, and five sources answer as fast as one, so there is no
"direct5" line.  --upstream py is the Python setup above.

Loopback only; every wait is bounded; the processes it started are
stopped and the temp dir removed on the way out.
"""
import argparse
import multiprocessing
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "system"))
from faultdns import FaultDNS  # noqa: E402
import rbltest  # noqa: E402

DELAY_MS = 20
ZONES = ["zen.spamhaus.org", "b.barracudacentral.org", "bl.spamcop.net",
         "psbl.surriel.com", "ix.dnsbl.manitu.net"]
BL = "bl.rblcache.internal"
SOCKETS = 4
ANSWER_WAIT = 2.0


def free_port():
    """A port free for UDP and TCP on 127.0.0.1 (the tests' chooser: below
    the ephemeral range, so no outgoing connection takes it meanwhile)."""
    return rbltest.free_port(v6=False)


def fault_main(conn):
    """The upstream: every name of every zone answers A after DELAY_MS."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    f = FaultDNS(ZONES).start()
    for z in ZONES:
        f.set_zone(z, a="127.0.0.2", delay_ms=DELAY_MS)
    conn.send(f.port)
    try:
        # until the parent says stop (or goes away); bounded either way
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if conn.poll(0.2):
                msg = conn.recv()
                if msg == "count":
                    conn.send(f.total())
                    continue
                break
    except (EOFError, OSError):
        pass
    finally:
        f.stop()


def percentile(xs, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def ip_of(i, base):
    a = base + i
    return "10.%d.%d.%d" % ((a >> 16) & 255, (a >> 8) & 255, a & 255)


def name_of(ip, zone):
    return ".".join(reversed(ip.split("."))) + "." + zone


def run_load(port, zone, n, interval, base):
    """Sends n queries (distinct addresses) to 127.0.0.1:port, one every
    interval seconds round-robin over SOCKETS sockets; returns the answer
    times in seconds and the count of the lost.  zone may be a list: then
    each step sends one query per zone at once and its time is when the
    last of them is answered (the slowest upstream, as rblcached sees it)."""
    zones = zone if isinstance(zone, list) else [zone]
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
             for _ in range(SOCKETS)]
    sent = {}               # (sock index, id) -> (step, send time)
    left = {}               # step -> answers still due
    first = {}              # step -> send time of its first query
    times = []
    try:
        t0 = time.monotonic()
        i = 0
        deadline = t0 + n * interval + ANSWER_WAIT + 1
        while time.monotonic() < deadline:
            now = time.monotonic()
            while i < n and t0 + i * interval <= now:
                k = i % SOCKETS
                for z, zn in enumerate(zones):
                    q = dns.message.make_query(name_of(ip_of(i, base), zn), "A")
                    q.id = (i * len(zones) + z) & 0xffff
                    socks[k].sendto(q.to_wire(), ("127.0.0.1", port))
                    sent[(k, q.id)] = (i, time.monotonic())
                left[i] = len(zones)
                i += 1
            if i >= n and not sent:
                break
            wait = (t0 + i * interval - now) if i < n else 0.05
            ready, _, _ = select.select(socks, [], [], max(0.0, wait))
            got = time.monotonic()
            for s in ready:
                k = socks.index(s)
                while True:
                    try:
                        data = s.recv(4096, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        break
                    try:
                        r = dns.message.from_wire(data)
                    except Exception:  # noqa: BLE001
                        continue
                    e = sent.pop((k, r.id), None)
                    if e is None:
                        continue
                    left[e[0]] -= 1
                    if left[e[0]] == 0:
                        del left[e[0]]
                        times.append(got - first.setdefault(e[0], e[1]))
                    else:
                        first.setdefault(e[0], e[1])
            # forget what is past hope
            for key, e in list(sent.items()):
                if got - e[1] > ANSWER_WAIT:
                    del sent[key]
        lost = n - len(times)
    finally:
        for s in socks:
            s.close()
    return times, lost


def start_rblcached(build, d, nsrc, fault_port, ub_options=()):
    for attempt in range(3):
        try:
            return start_once(build, d, nsrc, fault_port, ub_options)
        except RuntimeError as e:
            if "already in use" not in str(e) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def start_once(build, d, nsrc, fault_port, ub_options):
    port = free_port()
    ub = d / ("unbound-%d.conf" % nsrc)
    ub.write_text("server:\n    do-not-query-localhost: no\n"
                  "    qname-minimisation: no\n" +
                  "".join("    %s\n" % o for o in ub_options) + "".join(
                      'stub-zone:\n    name: "%s"\n'
                      '    stub-addr: 127.0.0.1@%d\n'
                      % (z, fault_port) for z in ZONES[:nsrc]))
    conf = d / ("rblcache-%d.conf" % nsrc)
    srcs = ", ".join('"%s*1"' % z for z in ZONES[:nsrc])
    conf.write_text(
        'listen = { "127.0.0.1:%d" }\nworkers = 2\nuser = "root"\n'
        'resolver { unbound-config = "%s" timeout-ms = 1000 }\n'
        'zone "%s" { sources = { %s } threshold = %d answer = "127.0.0.2" }\n'
        % (port, ub, BL, srcs, nsrc))
    p = launch(build, conf, d / ("rblcached-%d.log" % nsrc), port)
    return p, port


def launch(build, conf, logpath, port):
    """Starts BUILD/rblcached -f -c conf (output appended to logpath) and
    waits until it answers the SOA of BL on port; the process, or a
    RuntimeError with the log (it says "already in use" when the port
    was taken meanwhile)."""
    log = open(logpath, "ab")
    p = subprocess.Popen([str(build / "rblcached"), "-f", "-c", str(conf)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and p.poll() is None:
        try:
            dns.query.udp(dns.message.make_query(BL, "SOA"), "127.0.0.1",
                          port=port, timeout=0.1)
            return p
        except dns.exception.Timeout:
            continue
    stop(p)
    raise RuntimeError("rblcached did not start:\n" +
                       Path(logpath).read_text(errors="replace"))


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def report(label, n, times, lost, upstream_q, extra=""):
    ms = [t * 1000.0 for t in times]
    over = [m - DELAY_MS for m in ms]
    if not ms:
        print("upstream_latency sources=%s n=%d lost=%d" % (label, n, lost))
        return
    print("upstream_latency sources=%s n=%d p50_ms=%.1f p99_ms=%.1f "
          "overhead_p50_ms=%.1f overhead_p99_ms=%.1f max_ms=%.1f lost=%d "
          "upstream_q=%d%s"
          % (label, n, percentile(ms, 50), percentile(ms, 99),
             percentile(over, 50), percentile(over, 99), max(ms), lost,
             upstream_q, extra), flush=True)


def loadgen_run(build, port, names, rate, label):
    """build/bench/loadgen at rate qps over names (one query each); its
    result line as a dict."""
    with tempfile.NamedTemporaryFile("w", suffix=".q", delete=False) as f:
        f.write("".join("%s A\n" % n for n in names))
        qfile = f.name
    try:
        dur = len(names) / rate
        out = subprocess.run(
            [str(build / "bench" / "loadgen"), "-s", "127.0.0.1",
             "-p", str(port), "-f", qfile, "-r", str(rate),
             "-n", str(len(names)), "-d", "%.3f" % (dur + 0.5),
             "-t", str(int(ANSWER_WAIT * 1000)), "-l", label],
            capture_output=True, text=True, timeout=dur + 30).stdout
    finally:
        os.unlink(qfile)
    line = next((ln for ln in out.splitlines() if ln.startswith("loadgen ")),
                "")
    return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)


def report_c(label, r):
    if not r:
        print("upstream_latency upstream=c sources=%s error=no-loadgen-output"
              % label)
        return
    p50, p99 = float(r["p50_us"]) / 1000, float(r["p99_us"]) / 1000
    print("upstream_latency upstream=c sources=%s n=%s p50_ms=%.2f "
          "p99_ms=%.2f overhead_p50_ms=%.2f overhead_p99_ms=%.2f "
          "max_ms=%.2f lost=%s"
          % (label, r["sent"], p50, p99, p50 - DELAY_MS, p99 - DELAY_MS,
             float(r["max_us"]) / 1000, r["lost"]), flush=True)


def main_c(build, args, counts, n, interval):
    """The C setup: delayresp as the upstream, loadgen as the client."""
    rate = max(1, int(round(1.0 / interval)))
    procs = []
    with tempfile.TemporaryDirectory(prefix="upstream-latency-") as td:
        td = Path(td)
        fport = free_port()
        dr = subprocess.Popen(
            [str(build / "bench" / "delayresp"), "-p", str(fport),
             "-D", str(DELAY_MS), "-d", "600"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(dr)
        try:
            time.sleep(0.2)
            if dr.poll() is not None:
                sys.exit("delayresp did not start: " + dr.stdout.read())
            base = 0
            names = lambda zone, k: [name_of(ip_of(i, base), zone)
                                     for i in range(k)]
            loadgen_run(build, fport, names(ZONES[0], args.warmup), rate, "w")
            base += 1 << 16
            report_c("direct", loadgen_run(build, fport, names(ZONES[0], n),
                                           rate, "direct"))
            for nsrc in counts:
                p, port = start_rblcached(build, td, nsrc, fport,
                                          args.unbound_option)
                procs.append(p)
                base += 1 << 16
                loadgen_run(build, port, names(BL, args.warmup), rate, "w")
                base += 1 << 16
                report_c(str(nsrc), loadgen_run(build, port, names(BL, n),
                                                rate, str(nsrc)))
                stop(p)
        finally:
            for p in procs:
                stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default="build",
                    help="directory holding rblcached (default build)")
    ap.add_argument("--n", type=int, default=300, help="queries per run")
    ap.add_argument("--interval-ms", type=float, default=5.0,
                    help="time between two queries sent (default 5)")
    ap.add_argument("--warmup", type=int, default=20,
                    help="unmeasured queries first (default 20)")
    ap.add_argument("--unbound-option", action="append", default=[],
                    metavar="'NAME: VALUE'",
                    help="a server: option for libunbound's unbound.conf, "
                    "e.g. 'outgoing-range: 4096' (repeatable)")
    ap.add_argument("--upstream", choices=("c", "py"), default=None,
                    help="c: bench/delayresp and loadgen (the default when "
                    "built); py: the Python fault server and client")
    ap.add_argument("--sources", default="1,5", metavar="K,...",
                    help="upstream source counts to run, each 1-5 "
                    "(default 1,5)")
    args = ap.parse_args()
    try:
        counts = [int(k) for k in args.sources.split(",")]
    except ValueError:
        counts = []
    if not counts or any(k < 1 or k > len(ZONES) for k in counts):
        sys.exit("--sources: counts from 1 to %d, comma-separated"
                 % len(ZONES))
    build = Path(args.build)
    if not build.is_absolute():
        build = REPO / build
    if not (build / "rblcached").exists():
        sys.exit("%s/rblcached not built (run make)" % build)
    n = max(1, min(args.n, 100000))
    interval = max(0.0005, args.interval_ms / 1000.0)
    have_c = all((build / "bench" / t).exists()
                 for t in ("delayresp", "loadgen"))
    mode = args.upstream or ("c" if have_c else "py")
    if mode == "c":
        if not have_c:
            sys.exit("%s/bench/delayresp or loadgen not built (run make)"
                     % build)
        main_c(build, args, counts, n, interval)
        return

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    fp = ctx.Process(target=fault_main, args=(child,), daemon=True)
    fp.start()
    procs = []
    try:
        if not parent.poll(5):
            raise RuntimeError("the fault server did not start")
        fault_port = parent.recv()

        def upstream_count():
            parent.send("count")
            return parent.recv() if parent.poll(2) else -1

        base = 0
        # the floor: the fault server asked directly
        run_load(fault_port, ZONES[0], args.warmup, interval, base)
        base += 1 << 16
        c0 = upstream_count()
        times, lost = run_load(fault_port, ZONES[0], n, interval, base)
        report("direct", n, times, lost, upstream_count() - c0)
        # the floor for 5 sources: 5 queries at once, the slowest counts
        base += 1 << 16
        c0 = upstream_count()
        times, lost = run_load(fault_port, list(ZONES[:5]), n, interval, base)
        report("direct5", n, times, lost, upstream_count() - c0)
        with tempfile.TemporaryDirectory(prefix="upstream-latency-") as td:
            for nsrc in counts:
                p, port = start_rblcached(build, Path(td), nsrc, fault_port,
                                          args.unbound_option)
                procs.append(p)
                base += 1 << 16
                run_load(port, BL, args.warmup, interval, base)
                base += 1 << 16
                c0 = upstream_count()
                times, lost = run_load(port, BL, n, interval, base)
                extra = "".join(" unbound=%s" % o.replace(" ", "")
                                for o in args.unbound_option)
                report(str(nsrc), n, times, lost, upstream_count() - c0, extra)
                stop(p)
    finally:
        for p in procs:
            stop(p)
        try:
            parent.send("stop")
        except OSError:
            pass
        fp.join(timeout=5)
        if fp.is_alive():
            fp.terminate()
            fp.join(timeout=5)


if __name__ == "__main__":
    main()
