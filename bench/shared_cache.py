#!/usr/bin/python3
"""shared_cache.py [BUILD] -- upstream queries a site makes, 1-3 hosts.

One fault-injecting upstream (tests/system/faultdns.py, in a process of
its own) serves three DNSBL zones and counts every query it gets; one
redis-server.  For each setup, fresh BUILD/rblcached daemons (one zone
with the three upstream sources) are sent the same client queries: Q
addresses drawn from a population of P with Zipf(1) popularity (seeded),
query i going to daemon i mod N, as a site's MX hosts would share the
traffic.  One line per setup:

  shared_cache daemons=2 redis=yes queries=3000 distinct_ips=811
      upstream_q=2433 upstream_per_1000=811.0 floor_per_1000=811.0

upstream_per_1000: upstream queries per 1000 client queries, all three
sources together; floor_per_1000: what one shared cache would need at
least (each distinct address asked once of each source).  redis=no runs
the same daemons each with only its own cache, for comparison.

Loopback only; every wait is bounded; the processes it started are
stopped and the temp dir removed on the way out.
"""
import argparse
import multiprocessing
import random
import shutil
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

from upstream_latency import free_port, launch, stop

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "system"))
from faultdns import FaultDNS  # noqa: E402

ZONES = ["zen.spamhaus.org", "b.barracudacentral.org", "list.dnswl.org"]
BL = "bl.rblcache.internal"


def fault_main(conn):
    """The upstream: every name answers A 127.0.0.2 (TTL 300) at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    f = FaultDNS(ZONES).start()
    for z in ZONES:
        f.set_zone(z, a="127.0.0.2")
    conn.send(f.port)
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if conn.poll(0.2):
                msg = conn.recv()
                if msg == "count":
                    conn.send(f.total("A"))
                    continue
                break
    except (EOFError, OSError):
        pass
    finally:
        f.stop()


def start_daemon(build, d, fault_port, redis_port):
    d.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        port = free_port()
        ub = d / "unbound.conf"
        ub.write_text("server:\n    do-not-query-localhost: no\n"
                      "    qname-minimisation: no\n"
                      '    local-zone: "spamhaus.org." nodefault\n' + "".join(
                          'stub-zone:\n    name: "%s"\n'
                          '    stub-addr: 127.0.0.1@%d\n' % (z, fault_port)
                          for z in ZONES))
        srcs = ", ".join('"%s*1"' % z for z in ZONES)
        conf = d / "rblcache.conf"
        text = ('listen = { "127.0.0.1:%d" }\nworkers = 1\nuser = "root"\n'
                'state-dir = "%s"\ncontrol = "%s"\n'
                'resolver { unbound-config = "%s" timeout-ms = 1000 }\n'
                'zone "%s" { sources = { %s } threshold = 2 '
                'answer = "127.0.0.2" }\n'
                % (port, d / "state", d / "control.sock", ub, BL, srcs))
        if redis_port:
            text += ('redis { address = "127.0.0.1:%d" prefix = "bench:" '
                     'timeout-ms = 50 }\n' % redis_port)
        conf.write_text(text)
        try:
            return launch(build, conf, d / "rblcached.log", port), port
        except RuntimeError as e:
            if "already in use" not in str(e):
                raise
    raise RuntimeError("rblcached did not start:\n" +
                       (d / "rblcached.log").read_text(errors="replace"))


def wait_redis_up(d, timeout=5.0):
    """Waits until the daemon's log says Redis is connected."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "connected" in (d / "rblcached.log").read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


def zipf_ips(q, population, seed):
    rng = random.Random(seed)
    weights = [1.0 / (k + 1) for k in range(population)]
    ranks = rng.choices(range(population), weights=weights, k=q)
    perm = list(range(population))
    rng.shuffle(perm)
    return ["10.%d.%d.%d" % (1 + (perm[r] >> 16), (perm[r] >> 8) & 255,
                             perm[r] & 255) for r in ranks]


def name_of(ip):
    return ".".join(reversed(ip.split("."))) + "." + BL


def run(build, tmp, conn, ndaemons, redis_port, ips, tag):
    procs = []
    try:
        ports = []
        for k in range(ndaemons):
            d = tmp / ("%s-%d" % (tag, k))
            p, port = start_daemon(build, d, fault_port_of[0], redis_port)
            procs.append(p)
            ports.append(port)
            if redis_port and not wait_redis_up(d):
                raise RuntimeError("daemon %d did not reach Redis" % k)
        conn.send("count")
        before = conn.recv()
        lost = 0
        for i, ip in enumerate(ips):
            q = dns.message.make_query(name_of(ip), "A")
            try:
                dns.query.udp(q, "127.0.0.1", port=ports[i % ndaemons],
                              timeout=2.0)
            except dns.exception.Timeout:
                lost += 1
        time.sleep(0.2)
        conn.send("count")
        upstream = conn.recv() - before
        distinct = len(set(ips))
        print("shared_cache daemons=%d redis=%s queries=%d distinct_ips=%d "
              "upstream_q=%d upstream_per_1000=%.1f floor_per_1000=%.1f "
              "lost=%d" % (ndaemons, "yes" if redis_port else "no", len(ips),
                           distinct, upstream, 1000.0 * upstream / len(ips),
                           1000.0 * distinct * len(ZONES) / len(ips), lost),
              flush=True)
    finally:
        for p in procs:
            stop(p)


fault_port_of = [0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--population", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    build = Path(args.build).resolve()
    if not shutil.which("redis-server"):
        sys.exit("shared_cache.py: redis-server not installed (make deps)")
    tmp = Path(tempfile.mkdtemp(prefix="rblcache-shared-"))
    parent, child = multiprocessing.Pipe()
    fault = multiprocessing.Process(target=fault_main, args=(child,),
                                    daemon=True)
    fault.start()
    redis = None
    try:
        if not parent.poll(10):
            raise RuntimeError("fault server did not start")
        fault_port_of[0] = parent.recv()
        rport = free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", rport), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        ips = zipf_ips(args.queries, args.population, args.seed)
        for n in (1, 2, 3):
            subprocess.run(["redis-cli", "-p", str(rport), "FLUSHALL"],
                           stdout=subprocess.DEVNULL, check=True, timeout=5)
            run(build, tmp, parent, n, rport, ips, "redis%d" % n)
        run(build, tmp, parent, 3, 0, ips, "alone3")
    finally:
        if redis:
            stop(redis)
        try:
            parent.send("stop")
        except OSError:
            pass
        fault.join(5)
        if fault.is_alive():
            fault.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
