"""Run-time list entries shared by several rblcached through one Redis.

Each test starts its own redis-server on a free loopback port (no
persistence, restartable on the same port) and two or three daemons
whose config has `redis { address = "127.0.0.1:PORT" prefix = "t:" }`.
What is checked (daemon/share.h has the design):

  * an rblctl add/del on one daemon answers on every other within 1 s;
  * the Redis layout: hash t:v1:entries, field "LIST CIDR", value
    "MS RECORD" (RECORD a journal record, a del kept as a tombstone), and
    the channel t:v1:events carrying the field;
  * reason and origin travel (rblctl list, TXT);
  * catch-up of a daemon that was stopped; serving on while Redis is
    down; edits made meanwhile reaching the others once it is back;
  * remote edits are in the receiving daemon's own journal;
  * last writer wins, also when the earlier edit was made by a host cut
    off from Redis (a TCP forwarder in this file cuts one daemon off);
  * expiry, three daemons, the runtime_shared statistic.

Reconnecting: the daemon retries after 1 s, doubling to 30 s, so a
recovery is allowed RECONNECT (10 s) here; the tests keep Redis away
for only a second or two so that the retry at +3 s normally gets it.

Invariants: loopback only; every wait is bounded; the only processes
signalled are the redis-server and rblcached started here, by pid; all
files live in pytest's tmp_path.  Run with /usr/bin/python3 (redis-py).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest

redis = pytest.importorskip("redis")

from rbltest import (BL_ANSWER, BUILD, LEAK_MARK, NOERROR,  # noqa: E402
                     NXDOMAIN, SANITIZER_MARKS, Rbl, free_port, rev, rrs,
                     txts, wait_until)

RBLCTL = BUILD / "rblctl"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
CTL_TIMEOUT = 15.0
PREFIX = "t:"
HKEY = PREFIX + "v1:entries"
CHAN = PREFIX + "v1:events"
HOST = socket.gethostname()[:55]
ORIGIN = "rblctl@" + HOST
PROPAGATE = 1.0         # an edit reaches the other daemons within this
UP_TIMEOUT = 5.0        # a daemon started next to a live Redis shares by then
RECONNECT = 10.0        # backoff 1 s, 2 s, 4 s...: recovery within this
SETTLE = 1.5            # after a reconnect, for the merge to be done


# --------------------------------------------------------------------------
# redis-server and a forwarder to cut one daemon off

class RedisServer:
    """redis-server on 127.0.0.1:port; stop() and start() again on the
    same port (an empty Redis: nothing is saved)."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port(v6=False)
        self.proc = None
        self.logpath = self.dir / "redis.log"
        self._logf = None

    def start(self, timeout=5.0):
        assert self.proc is None, "redis-server already running"
        self._logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--dir", str(self.dir)],
            stdin=subprocess.DEVNULL, stdout=self._logf, stderr=self._logf,
            cwd=str(self.dir))
        c = self.client(timeout=0.3)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with %d:\n%s"
                                   % (self.proc.returncode, self.log()))
            try:
                if c.ping():
                    return self
            except redis.exceptions.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server not answering on %d:\n%s"
                                   % (self.port, self.log()))
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self._logf.close()
        self._logf = None

    def client(self, timeout=2.0):
        return redis.Redis(host="127.0.0.1", port=self.port,
                           socket_timeout=timeout,
                           socket_connect_timeout=timeout,
                           decode_responses=True)

    def log(self):
        try:
            return self.logpath.read_text(errors="replace")
        except OSError:
            return ""


class Proxy:
    """A TCP forwarder 127.0.0.1:port -> Redis.  cut() closes the
    listener and every connection (the daemon behind it loses Redis
    while the others keep it); resume() listens on the same port again.
    With hold=N, the reply to an HGETALL is held back N seconds (Redis
    has run the command; the daemon does not know the result yet) and
    hgetall_seen is set when the HGETALL went to Redis."""

    def __init__(self, target_port, hold=0.0):
        self.target = target_port
        self.hold = hold
        self.hgetall_seen = threading.Event()
        self.port = free_port(v6=False)
        self.lock = threading.Lock()
        self.socks = []
        self.threads = []
        self.lsock = None
        self.running = False

    def resume(self):
        assert self.lsock is None
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        ls.settimeout(0.1)
        self.lsock = ls
        self.running = True
        self._thread(self._accept, ls)
        return self

    def _thread(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept(self, ls):
        while self.running:
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target),
                                             timeout=2)
            except OSError:
                c.close()
                continue
            c.settimeout(None)
            u.settimeout(None)
            with self.lock:
                if not self.running:
                    c.close()
                    u.close()
                    return
                self.socks += [c, u]
            st = {"hold_until": 0.0}
            self._thread(self._pump, c, u, st, True)
            self._thread(self._pump, u, c, st, False)

    def _pump(self, a, b, st, upward):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                if upward and self.hold and b"HGETALL" in d:
                    st["hold_until"] = time.monotonic() + self.hold
                    b.sendall(d)
                    self.hgetall_seen.set()
                    continue
                if not upward:
                    wait = st["hold_until"] - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            self.running = False
            socks, self.socks = self.socks, []
        if self.lsock is not None:
            self.lsock.close()
            self.lsock = None
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        threads, self.threads = self.threads, []
        for t in threads:
            t.join(2.0)
        for s in socks:
            s.close()


# --------------------------------------------------------------------------
# fixtures

@pytest.fixture
def redis_srv(tmp_path):
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip("redis-server not installed")
    r = RedisServer(tmp_path / "redis")
    try:
        yield r.start()
    finally:
        r.stop()


@pytest.fixture
def cluster(request, tmp_path, redis_srv):
    """make(name, port=None, start=True): an Rbl in tmp_path/name sharing
    through redis_srv (or 127.0.0.1:port); all stopped after the test,
    their logs printed when it failed."""
    made = []
    proxies = []

    def make(name, port=None, start=True, wait_up=True):
        d = Rbl(tmp_path / name)
        d.dir.mkdir(parents=True, exist_ok=True)
        d.extra = ('redis { address = "127.0.0.1:%d" prefix = "%s" '
                   'timeout-ms = 50 }' % (port or redis_srv.port, PREFIX))
        made.append(d)
        if start:
            d.lists()
            if wait_up:
                assert wait_shared(d, 1, UP_TIMEOUT), d.log()
        return d

    make.proxies = proxies
    failed = True
    rcs = {}
    try:
        yield make
        failed = False
    finally:
        for p in proxies:
            p.cut()
        for d in made:
            rcs[d.dir.name] = d.stop()
        rep = getattr(request.node, "rep_call", None)
        failed = failed or rep is None or rep.failed
        if failed:
            for d in made:
                print("----- rblcached log (%s) -----\n%s"
                      % (d.logpath, d.log()[-8000:]))
            print("----- redis log -----\n%s" % redis_srv.log()[-3000:])
    if not failed:
        for d in made:
            log = d.log()
            rc = rcs[d.dir.name]
            marks = SANITIZER_MARKS + ((LEAK_MARK,) if rc is not None else ())
            bad = [m for m in marks if m in log]
            if (rc is not None and rc != 0) or bad:
                pytest.fail("rblcached %s: exit status %s after SIGTERM%s\n%s"
                            % (d.dir.name, rc, ", log has " + ", ".join(bad)
                               if bad else "", log[-8000:]), pytrace=False)


# --------------------------------------------------------------------------
# helpers

def ctl(rbl, *args):
    if not RBLCTL.exists():
        raise RuntimeError("%s not built (make build/rblctl)" % RBLCTL)
    p = subprocess.run([str(RBLCTL), "-s", str(rbl.control), *args],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CTL_TIMEOUT)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def ok(rbl, *args):
    rc, out, err = ctl(rbl, *args)
    assert (rc, err) == (0, ""), (rbl.dir.name, args, rc, out, err)
    return out


def jok(rbl, *args):
    return json.loads(ok(rbl, "--json", *args))


def stats(rbl):
    """`rblctl stats` (text) as {name: int}."""
    return {ln.split()[0]: int(ln.split()[1])
            for ln in ok(rbl, "stats").splitlines()}


def shared(rbl):
    return stats(rbl)["runtime_shared"]


def wait_shared(rbl, want, timeout):
    return wait_until(lambda: shared(rbl) == want, timeout, interval=0.05)


def state(rbl, ip):
    """'listed', 'nx' or a description of anything else."""
    r = rbl.query(rev(ip), "A")
    if r.rcode() == NOERROR and rrs(r, "A") == [BL_ANSWER]:
        return "listed"
    if r.rcode() == NXDOMAIN:
        return "nx"
    return r.to_text()


def wait_state(rbl, ip, want, timeout, t0=None):
    """Polls DNS until ip is `want` on rbl; the seconds since t0 (default:
    now) or None when it did not happen within timeout."""
    t0 = time.monotonic() if t0 is None else t0
    deadline = t0 + timeout
    while True:
        if state(rbl, ip) == want:
            return time.monotonic() - t0
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)


def entries(rbl, name="block"):
    """{cidr: entry} of the run-time entries of a list (rblctl list --json)."""
    doc = jok(rbl, "list", name)
    return {e["cidr"]: e for e in doc["entries"] if e["origin"] == "rblctl"}


def reason(rbl, cidr):
    e = entries(rbl).get(cidr)
    return None if e is None else e["reason"]


def wait_reason(rbl, cidr, want, timeout):
    return wait_until(lambda: reason(rbl, cidr) == want, timeout)


def list_line(rbl, cidr):
    """The text `rblctl list block` line of a run-time entry."""
    for ln in ok(rbl, "list", "block").splitlines():
        if ln.startswith(cidr + "\t"):
            return ln
    return None


def txt(rbl, ip):
    return txts(rbl.query(rev(ip), "TXT"))


def check_crc(record):
    f = record.split(" ")
    want = "%08x" % zlib.crc32(" ".join([f[0]] + f[2:]).encode())
    assert f[1] == want, "bad CRC in %r (want %s)" % (record, want)


def next_second():
    """Sleeps past the next whole second plus a margin: an add after this
    has a larger ADDED than one before (ADDED is whole seconds)."""
    t = time.time()
    time.sleep(int(t) + 1 - t + 0.15)


def delays_note(what, secs):
    print("delay %-50s %.3f s" % (what, secs))


# --------------------------------------------------------------------------
# propagation within a second

def test_add_and_del_reach_the_other_daemon_within_1s(cluster):
    a, b = cluster("a"), cluster("b")
    cases = [(a, b, "192.0.2.10", "192.0.2.10"),
             (b, a, "198.51.100.0/24", "198.51.100.77"),
             (a, b, "2001:db8:5::/48", "2001:db8:5::1")]
    for src, dst, cidr, ip in cases:
        assert state(dst, ip) == "nx" and state(src, ip) == "nx"
        t0 = time.monotonic()
        ok(src, "add", "block", cidr, "--reason", "r " + cidr)
        assert state(src, ip) == "listed"           # at once on its own
        d = wait_state(dst, ip, "listed", 3.0, t0)
        assert d is not None, "add of %s on %s never reached %s" % (
            cidr, src.dir.name, dst.dir.name)
        delays_note("add %s %s->%s" % (cidr, src.dir.name, dst.dir.name), d)
        assert d < PROPAGATE, d
        t0 = time.monotonic()
        ok(src, "del", "block", cidr)
        assert state(src, ip) == "nx"
        d = wait_state(dst, ip, "nx", 3.0, t0)
        assert d is not None, "del of %s on %s never reached %s" % (
            cidr, src.dir.name, dst.dir.name)
        delays_note("del %s %s->%s" % (cidr, src.dir.name, dst.dir.name), d)
        assert d < PROPAGATE, d
    assert b.wait_log('list "block": 192.0.2.10/32 added by %s (via redis)'
                      % ORIGIN, 1.0), b.log()
    assert b.wait_log('list "block": 192.0.2.10/32 deleted by another host '
                      '(via redis)', 1.0), b.log()
    assert a.wait_log('list "block": 198.51.100.0/24 added by %s (via redis)'
                      % ORIGIN, 1.0), a.log()
    # the originating daemon does not re-apply its own edit
    assert "192.0.2.10/32 added by %s (via redis)" % ORIGIN not in a.log()
    assert stats(a)["runtime_entries"] == stats(b)["runtime_entries"] == 0


def test_redis_hash_and_channel_layout(cluster, redis_srv):
    a, b = cluster("a"), cluster("b")
    r = redis_srv.client()
    ps = r.pubsub()
    ps.subscribe(CHAN)
    m = ps.get_message(timeout=2.0)
    assert m and m["type"] == "subscribe", m

    def next_message():
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            m = ps.get_message(timeout=0.2)
            if m and m["type"] == "message":
                return m
        return None

    field = "block 192.0.2.0/24"
    ok(a, "add", "block", "192.0.2.0/24", "--for", "1h",
       "--reason", "spam run 100%")
    now = time.time()
    m = next_message()
    assert m == {"type": "message", "pattern": None, "channel": CHAN,
                 "data": field}, m
    h = r.hgetall(HKEY)
    assert list(h) == [field], h
    mt = re.fullmatch(r"(\d+) (add ([0-9a-f]{8}) (\d+) (\d+) block "
                      r"192\.0\.2\.0/24 (\S+) (\S+))", h[field])
    assert mt, h[field]
    ms, rec, _, added, expires, origin, why = mt.groups()
    check_crc(rec)
    assert int(ms) == int(added) * 1000
    assert abs(int(added) - now) <= 2
    assert int(expires) == int(added) + 3600
    assert origin == ORIGIN
    assert why == "spam%20run%20100%25"
    e = entries(a)["192.0.2.0/24"]
    assert (e["added"], e["expires"]) == (int(added), int(expires))
    assert wait_state(b, "192.0.2.1", "listed", 2.0) is not None

    # no reason, no expiry, IPv6
    ok(b, "add", "block", "2001:db8::/32")
    m = next_message()
    assert m and m["data"] == "block 2001:db8::/32", m
    v = r.hget(HKEY, "block 2001:db8::/32")
    mt = re.fullmatch(r"(\d+) (add [0-9a-f]{8} (\d+) 0 block 2001:db8::/32 "
                      r"%s -)" % re.escape(ORIGIN), v or "")
    assert mt, v
    check_crc(mt.group(2))
    assert int(mt.group(1)) == int(mt.group(3)) * 1000

    # del: a tombstone, which stays
    ok(a, "del", "block", "192.0.2.0/24")
    now = time.time()
    m = next_message()
    assert m and m["data"] == field, m
    v = r.hget(HKEY, field)
    mt = re.fullmatch(r"(\d+) (del [0-9a-f]{8} block 192\.0\.2\.0/24)", v or "")
    assert mt, v
    check_crc(mt.group(2))
    assert int(mt.group(1)) >= int(added) * 1000
    assert abs(int(mt.group(1)) / 1000 - now) <= 2
    assert wait_state(b, "192.0.2.1", "nx", 2.0) is not None
    time.sleep(0.3)
    assert sorted(r.hkeys(HKEY)) == sorted([field, "block 2001:db8::/32"])
    assert r.hget(HKEY, field) == v                 # B did not rewrite it
    # exactly one message per edit: nobody republishes what it applied
    assert next_message() is None
    ps.close()


def test_reason_and_origin_travel(cluster):
    a, b = cluster("a"), cluster("b")
    why = "spam run, 100% sure \u2014 caf\u00e9  two spaces"
    ok(a, "add", "block", "203.0.113.0/24", "--for", "7d", "--reason", why)
    assert wait_reason(b, "203.0.113.0/24", why, 2.0), entries(b)
    ea, eb = entries(a)["203.0.113.0/24"], entries(b)["203.0.113.0/24"]
    assert eb == ea, (ea, eb)
    assert eb["by"] == ORIGIN and eb["reason"] == why
    # the text listing of B shows the same line as A's
    la, lb = list_line(a, "203.0.113.0/24"), list_line(b, "203.0.113.0/24")
    assert la is not None and lb == la, (la, lb)
    assert ("rblctl by %s, added" % ORIGIN) in lb and lb.endswith(": " + why)
    # the TXT answer is the reason, on both
    raw = why.encode().decode("latin-1")
    assert txt(b, "203.0.113.9") == [raw] == txt(a, "203.0.113.9")
    # an entry without reason: B's TXT is whatever A's is
    ok(a, "add", "block", "203.0.114.5")
    assert wait_state(b, "203.0.114.5", "listed", 2.0) is not None
    assert entries(b)["203.0.114.5/32"]["reason"] == ""
    assert txt(b, "203.0.114.5") == txt(a, "203.0.114.5")


# --------------------------------------------------------------------------
# catch-up, Redis away

def test_catch_up_after_restart(cluster):
    a, b = cluster("a"), cluster("b")
    ok(a, "add", "block", "192.0.2.1", "--reason", "x")      # both have it
    ok(b, "add", "block", "192.0.2.4", "--reason", "kept")   # both have it
    assert wait_state(b, "192.0.2.1", "listed", 2.0) is not None
    assert wait_state(a, "192.0.2.4", "listed", 2.0) is not None
    assert b.stop() == 0
    ok(a, "add", "block", "198.51.100.0/24", "--reason", "p while b away")
    ok(a, "add", "block", "203.0.113.7", "--reason", "q")
    ok(a, "del", "block", "203.0.113.7")
    ok(a, "del", "block", "192.0.2.1")
    ok(a, "add", "block", "2001:db8:7::/48", "--reason", "v6")
    b.start()
    t0 = time.monotonic()
    want = {"198.51.100.5": "listed", "203.0.113.7": "nx", "192.0.2.1": "nx",
            "192.0.2.4": "listed", "2001:db8:7::1": "listed"}
    got = lambda: {ip: state(b, ip) for ip in want}  # noqa: E731
    assert wait_until(lambda: got() == want, 2.0), (got(), want)
    delays_note("catch-up after restart", time.monotonic() - t0)
    assert set(entries(b)) == {"198.51.100.0/24", "192.0.2.4/32",
                               "2001:db8:7::/48"}, entries(b)
    assert entries(b) == entries(a)
    assert reason(b, "198.51.100.0/24") == "p while b away"
    assert shared(b) == 1
    assert b.wait_log("192.0.2.1/32 deleted by another host (via redis)",
                      1.0), b.log()


def test_redis_killed_keeps_serving_and_edits_meanwhile_arrive(cluster,
                                                               redis_srv):
    a, b = cluster("a"), cluster("b")
    ok(a, "add", "block", "192.0.2.1", "--reason", "before")
    ok(a, "add", "block", "192.0.2.2", "--reason", "to be deleted by b")
    assert wait_state(b, "192.0.2.2", "listed", 2.0) is not None
    redis_srv.stop(signal.SIGKILL)
    t_down = time.monotonic()
    assert wait_shared(b, 0, 3.0) and wait_shared(a, 0, 3.0)
    assert b.wait_log("sharing run-time entries stopped", 1.0), b.log()
    # B keeps serving what it has
    for _ in range(20):
        assert state(b, "192.0.2.1") == "listed"
        assert txt(b, "192.0.2.1") == ["before"]
        assert state(b, "192.0.2.99") == "nx"
        time.sleep(0.02)
    # edits on B while Redis is down: acknowledged, answering on B
    next_second()                   # later than A's add of 192.0.2.2
    ok(b, "add", "block", "198.51.100.0/24", "--reason", "while down")
    ok(b, "del", "block", "192.0.2.2")
    assert state(b, "198.51.100.1") == "listed"
    assert state(b, "192.0.2.2") == "nx"
    assert state(a, "198.51.100.1") == "nx"
    assert state(a, "192.0.2.2") == "listed"
    time.sleep(max(0.0, 1.5 - (time.monotonic() - t_down)))
    redis_srv.start()                       # empty: nothing was saved
    t0 = time.monotonic()
    d = wait_state(a, "198.51.100.1", "listed", RECONNECT, t0)
    assert d is not None, "B's add while Redis was down never reached A"
    delays_note("queued add after Redis restart (down %.1f s)"
                % (t0 - t_down), d)
    assert wait_state(a, "192.0.2.2", "nx", 2.0) is not None, \
        "B's del while Redis was down never reached A"
    assert reason(a, "198.51.100.0/24") == "while down"
    assert wait_shared(a, 1, RECONNECT) and wait_shared(b, 1, RECONNECT)
    time.sleep(0.5)
    assert entries(a) == entries(b)
    # the restarted (empty) Redis has every entry again, and the tombstone
    h = redis_srv.client().hgetall(HKEY)
    assert set(h) == {"block 192.0.2.1/32", "block 198.51.100.0/24",
                      "block 192.0.2.2/32"}, h
    assert " del " in h["block 192.0.2.2/32"], h
    assert b.wait_log("sharing run-time entries (", 1.0)


def test_started_before_redis_exists(cluster, redis_srv):
    redis_srv.stop()
    b = cluster("b", start=False)
    b.lists(block="192.0.2.9\n")
    t_start = time.monotonic()
    assert shared(b) == 0
    assert b.wait_log("sharing run-time entries stopped", 2.0), b.log()
    ok(b, "add", "block", "203.0.113.0/24", "--reason", "no redis yet")
    assert state(b, "203.0.113.1") == "listed"
    assert wait_state(b, "192.0.2.9", "listed", 2.0) is not None
    time.sleep(max(0.0, 1.5 - (time.monotonic() - t_start)))
    redis_srv.start()
    t0 = time.monotonic()
    a = cluster("a", wait_up=False)
    d = wait_state(a, "203.0.113.1", "listed", RECONNECT, t0)
    assert d is not None, "B's entry made before Redis existed never " \
        "reached A"
    delays_note("add before Redis existed -> A", d)
    assert reason(a, "203.0.113.0/24") == "no redis yet"
    assert entries(a)["203.0.113.0/24"]["by"] == ORIGIN
    assert wait_shared(b, 1, 2.0)
    # file entries are not shared
    assert state(a, "192.0.2.9") == "nx"


def test_remote_edits_survive_a_restart_with_redis_down(cluster, redis_srv):
    a, b = cluster("a"), cluster("b")
    ok(a, "add", "block", "198.51.100.0/24", "--reason", "learned")
    ok(a, "add", "block", "192.0.2.2", "--reason", "to go")
    assert wait_state(b, "192.0.2.2", "listed", 2.0) is not None
    ok(a, "del", "block", "192.0.2.2")
    assert wait_state(b, "192.0.2.2", "nx", 2.0) is not None
    assert wait_reason(b, "198.51.100.0/24", "learned", 2.0)
    before = entries(b)
    assert b.stop() == 0
    redis_srv.stop()
    b.start()
    assert shared(b) == 0
    assert state(b, "198.51.100.1") == "listed"
    assert state(b, "192.0.2.2") == "nx"
    assert entries(b) == before
    assert before["198.51.100.0/24"]["by"] == ORIGIN
    # in B's own journal
    text = ""
    for f in ("entries.db", "journal.log"):
        p = b.state_dir / f
        if p.exists():
            text += p.read_text()
    assert re.search(r"^add [0-9a-f]{8} \d+ 0 block 198\.51\.100\.0/24 %s "
                     r"learned$" % re.escape(ORIGIN), text, re.M), text


# --------------------------------------------------------------------------
# last writer wins

def test_last_writer_wins_on_both(cluster, redis_srv):
    a, b = cluster("a"), cluster("b")
    cidr, ip = "192.0.2.0/24", "192.0.2.1"
    ok(a, "add", "block", cidr, "--reason", "one")
    assert wait_reason(b, cidr, "one", 2.0)
    next_second()
    ok(b, "add", "block", cidr, "--reason", "two")
    assert wait_reason(a, cidr, "two", 2.0), entries(a)
    time.sleep(0.3)
    assert reason(a, cidr) == reason(b, cidr) == "two"
    assert txt(a, ip) == txt(b, ip) == ["two"]
    next_second()
    ok(a, "del", "block", cidr)                 # a del after an add wins
    assert wait_state(b, ip, "nx", 2.0) is not None
    time.sleep(0.3)
    assert state(a, ip) == state(b, ip) == "nx"
    next_second()
    ok(b, "add", "block", cidr, "--reason", "three")   # an add after a del
    assert wait_reason(a, cidr, "three", 2.0), entries(a)
    time.sleep(0.3)
    assert reason(a, cidr) == reason(b, cidr) == "three"
    v = redis_srv.client().hget(HKEY, "block " + cidr)
    assert v.endswith(" three"), v


@pytest.mark.parametrize("kind", ["add", "del"])
def test_older_edit_of_a_cut_off_host_does_not_win(cluster, redis_srv, kind):
    """B, cut off from Redis, edits an entry; A edits it later; when B is
    back, A's later edit must win on both (and in Redis)."""
    proxy = Proxy(redis_srv.port).resume()
    cluster.proxies.append(proxy)
    a = cluster("a")
    b = cluster("b", port=proxy.port)
    cidr, ip = "192.0.2.0/24", "192.0.2.1"
    ok(a, "add", "block", cidr, "--reason", "base")
    assert wait_reason(b, cidr, "base", 2.0)
    next_second()
    proxy.cut()
    t_cut = time.monotonic()
    assert wait_shared(b, 0, 3.0) and shared(a) == 1
    if kind == "add":
        ok(b, "add", "block", cidr, "--reason", "b while cut off")
    else:
        ok(b, "del", "block", cidr)
    next_second()
    ok(a, "add", "block", cidr, "--reason", "a later")
    time.sleep(max(0.0, 1.5 - (time.monotonic() - t_cut)))
    proxy.resume()
    assert wait_shared(b, 1, RECONNECT), b.log()
    time.sleep(SETTLE)
    got = {"a": reason(a, cidr), "b": reason(b, cidr),
           "redis": redis_srv.client().hget(HKEY, "block " + cidr)}
    assert (got["a"], got["b"]) == ("a later", "a later") and \
        got["redis"].endswith(" a%20later"), got
    assert state(b, ip) == "listed"


@pytest.mark.parametrize("kind", ["add", "del"])
def test_edit_of_a_cut_off_host_survives_its_restart(cluster, redis_srv,
                                                     kind):
    """B, cut off from Redis, edits an entry A also has, then restarts
    before Redis is back: B's (later) edit must still win on both."""
    proxy = Proxy(redis_srv.port).resume()
    cluster.proxies.append(proxy)
    a = cluster("a")
    b = cluster("b", port=proxy.port)
    cidr, ip = "192.0.2.0/24", "192.0.2.1"
    ok(a, "add", "block", cidr, "--reason", "base")
    assert wait_reason(b, cidr, "base", 2.0)
    next_second()
    proxy.cut()
    assert wait_shared(b, 0, 3.0)
    if kind == "add":
        ok(b, "add", "block", cidr, "--reason", "b later")
        want = "b later"
    else:
        ok(b, "del", "block", cidr)
        want = None
    assert b.stop() == 0
    b.start()
    assert reason(b, cidr) == want              # B's journal has it
    proxy.resume()
    assert wait_shared(b, 1, RECONNECT), b.log()
    time.sleep(SETTLE)
    got = {"a": reason(a, cidr), "b": reason(b, cidr),
           "redis": redis_srv.client().hget(HKEY, "block " + cidr)}
    assert (got["a"], got["b"]) == (want, want), got
    assert state(a, ip) == state(b, ip) == ("nx" if want is None
                                            else "listed")


# --------------------------------------------------------------------------
# expiry, three daemons, stats

def test_expiring_entry_expires_on_the_other_daemon(cluster):
    a, b = cluster("a"), cluster("b")
    t0 = time.monotonic()
    ok(a, "add", "block", "192.0.2.77", "--for", "2s", "--reason", "temp")
    assert wait_state(b, "192.0.2.77", "listed", PROPAGATE, t0) is not None
    eb = entries(b)["192.0.2.77/32"]
    assert eb == entries(a)["192.0.2.77/32"]
    assert eb["expires"] - eb["added"] == 2
    assert txt(b, "192.0.2.77") == ["temp"]
    da = wait_state(a, "192.0.2.77", "nx", 4.0, t0)
    db = wait_state(b, "192.0.2.77", "nx", 4.0, t0)
    assert da is not None and db is not None, (da, db)
    assert db <= 2 + 1.5, db
    delays_note("--for 2s gone on A / B", max(da, db))
    assert entries(a) == entries(b) == {}
    assert b.wait_log('list "block": run-time entry 192.0.2.77/32 expired '
                      "(temp)", 2.0), b.log()


def test_three_daemons(cluster, redis_srv):
    a, b, c = cluster("a"), cluster("b"), cluster("c")
    t0 = time.monotonic()
    ok(c, "add", "block", "203.0.113.0/24", "--reason", "from c")
    for d in (a, b):
        s = wait_state(d, "203.0.113.5", "listed", 3.0, t0)
        assert s is not None and s < PROPAGATE, (d.dir.name, s)
        delays_note("add c->%s" % d.dir.name, s)
        assert reason(d, "203.0.113.0/24") == "from c"
    t0 = time.monotonic()
    ok(b, "del", "block", "203.0.113.0/24")
    for d in (a, c):
        s = wait_state(d, "203.0.113.5", "nx", 3.0, t0)
        assert s is not None and s < PROPAGATE, (d.dir.name, s)
        delays_note("del b->%s" % d.dir.name, s)
    # many edits in a burst arrive complete and in order
    for i in range(30):
        ok([a, b, c][i % 3], "add", "block", "198.51.100.%d" % i,
           "--reason", "burst %d" % i)
    want = {"198.51.100.%d/32" % i: "burst %d" % i for i in range(30)}
    for d in (a, b, c):
        assert wait_until(lambda: {k: v["reason"] for k, v in
                                   entries(d).items()} == want, 3.0), \
            (d.dir.name, sorted(entries(d)))
    assert len(redis_srv.client().hkeys(HKEY)) == 31


def test_runtime_shared_statistic(cluster, redis_srv, tmp_path):
    a = cluster("a")
    assert stats(a)["runtime_shared"] == 1
    assert jok(a, "stats")["runtime_shared"] == 1
    redis_srv.stop()
    t_down = time.monotonic()
    assert wait_shared(a, 0, 2.0), "runtime_shared still 1 with Redis down"
    assert jok(a, "stats")["runtime_shared"] == 0
    time.sleep(max(0.0, 1.5 - (time.monotonic() - t_down)))
    redis_srv.start()
    t0 = time.monotonic()
    assert wait_shared(a, 1, RECONNECT), a.log()
    delays_note("runtime_shared back to 1 after restart", time.monotonic() - t0)
    # a daemon without a redis section shares nothing
    lone = Rbl(tmp_path / "lone")
    lone.dir.mkdir()
    try:
        lone.lists()
        assert stats(lone)["runtime_shared"] == 0
    finally:
        assert lone.stop() == 0


# --------------------------------------------------------------------------
# edits racing a host's session set-up

def test_edit_made_while_a_host_reads_the_hash_reaches_it(cluster, redis_srv):
    """B adds an entry after A's HGETALL ran in Redis but before A has
    the reply (held back by the forwarder): the announcement comes to A's
    subscription during its set-up; A must still end with the entry."""
    b = cluster("b")
    proxy = Proxy(redis_srv.port, hold=1.0).resume()
    cluster.proxies.append(proxy)
    a = cluster("a", port=proxy.port, wait_up=False)
    assert proxy.hgetall_seen.wait(5.0), a.log()
    t0 = time.monotonic()
    ok(b, "add", "block", "198.51.100.0/24", "--reason", "during set-up")
    assert wait_shared(a, 1, 5.0), a.log()
    d = wait_state(a, "198.51.100.1", "listed", 3.0, t0)
    assert d is not None, (
        "B's add, made while A read the hash, never reached A (Redis has "
        "%r)" % redis_srv.client().hget(HKEY, "block 198.51.100.0/24"))


def test_catch_up_push_does_not_overwrite_a_newer_edit(cluster, redis_srv):
    """Redis lost the hash (FLUSHALL, an empty restart); A, reconnecting,
    reads it empty and pushes what it has.  B deletes the entry after A's
    HGETALL ran but before A pushed: B's delete (the later edit) must win
    on both hosts, not be overwritten by A's older add."""
    b = cluster("b")
    proxy = Proxy(redis_srv.port).resume()
    cluster.proxies.append(proxy)
    a = cluster("a", port=proxy.port)
    cidr, ip = "192.0.2.0/24", "192.0.2.1"
    ok(a, "add", "block", cidr, "--reason", "old")
    assert wait_reason(b, cidr, "old", 2.0)
    redis_srv.client().delete(HKEY)         # Redis lost its data
    proxy.cut()
    assert wait_shared(a, 0, 3.0)
    proxy.hold = 1.0
    proxy.hgetall_seen.clear()
    next_second()
    proxy.resume()
    assert proxy.hgetall_seen.wait(RECONNECT), a.log()
    ok(b, "del", "block", cidr)             # later than A's add
    assert state(b, ip) == "nx"
    assert wait_shared(a, 1, 5.0), a.log()
    time.sleep(SETTLE)
    got = {"a": state(a, ip), "b": state(b, ip),
           "redis": redis_srv.client().hget(HKEY, "block " + cidr)}
    assert (got["a"], got["b"]) == ("nx", "nx") and " del " in got["redis"], \
        got
