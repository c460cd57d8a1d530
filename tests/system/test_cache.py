"""test_cache -- rblcached's caches: in process and shared through Redis.

Every upstream is a faultdns.FaultDNS on loopback (it counts the queries
that reach it); every Redis is a redis-server started here on a free
loopback port (or a Unix socket in a temp dir).  The daemon is
test_upstream's Rblc with a `cache { }` and a `redis { }` block.

libunbound inside the daemon keeps its own cache and honours the upstream
TTL.  To tell our cache from libunbound's, the tests either use upstream
TTLs shorter than what they test (libunbound has forgotten the answer
when we still serve it), tell libunbound to keep nothing (cache-max-ttl:
0; the daemon then sees TTL 0 and clamps it to min-ttl), or count the
lookups the daemon hands to libunbound (stats upstream_queries).

The caches keep time in whole seconds of CLOCK_MONOTONIC_COARSE; tests
whose outcome depends on where in its life an entry is start just after
that clock ticked (align_second), so an entry of TTL n lives n - 0.1 s.
libunbound counts whole wall-clock seconds and keeps a record until its
TTL is below zero: an upstream TTL of 1 lives up to 2 s there, so tests
wait 2.2 s before they rely on libunbound having forgotten it.

Every wait is bounded; the only processes signalled are the ones started
here, by PID; temp dirs are removed.
"""

import json as jsonlib
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import dns.message
import dns.rdatatype
import pytest
import redis

from test_upstream import (BB, LISTED, ZEN, Rblc, a_of, fault,  # noqa: F401
                           free_port, rev, started_daemons, txt_of,
                           wait_until)

REDIS_SERVER = "/usr/bin/redis-server"
CLOCK_COARSE = getattr(time, "CLOCK_MONOTONIC_COARSE", 6)   # Linux: 6
NO_UB_CACHE = "cache-max-ttl: 0\ncache-max-negative-ttl: 0"


# --------------------------------------------------------------------------
# helpers

def align_second(at=0.1):
    """Sleeps until `at` s past a tick of the caches' whole-second clock;
    returns time.monotonic() then."""
    t = time.clock_gettime(CLOCK_COARSE)
    time.sleep((at - (t - int(t))) % 1.0)
    return time.monotonic()


def sleep_until(t):
    time.sleep(max(0.0, t - time.monotonic()))


def ctl(rblc, *args, json=False, timeout=5.0):
    """One control-socket command; the body of an `ok` reply (a dict for
    json=True).  Fails the test on `error`."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    buf = b""
    try:
        s.connect(str(rblc.dir / "control.sock"))
        line = "\t".join(("rblctl/1", "json" if json else "text") + args)
        s.sendall(line.encode() + b"\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    text = buf.decode(errors="replace")
    first, _, body = text.partition("\n")
    assert first == "ok", "rblctl %s: %r" % (" ".join(args), text)
    return jsonlib.loads(body) if json else body


def stats(rblc):
    """stats as {name: int}."""
    out = {}
    for line in ctl(rblc, "stats").splitlines():
        if line.strip():
            k, v = line.split()
            out[k] = int(v)
    return out


def redis_lines(rblc, word=""):
    """The cache's log lines about Redis that contain word (not those of
    the sharing of run-time entries, which has connections of its own)."""
    return [ln for ln in rblc.log().splitlines()
            if "redis" in ln and word in ln and "run-time entries" not in ln]


def rkey(ip, source=ZEN, txt=False, prefix="rblcache:"):
    return "%sv1:%s%s:%s" % (prefix, source, "/txt" if txt else "", ip)


def parse_value(v):
    """A Redis value "EXPIRES TTL KIND [DATA]" as (expires, ttl, kind,
    data)."""
    if isinstance(v, bytes):
        v = v.decode()
    exp, ttl, rest = v.split(" ", 2)
    kind, _, data = rest.partition(" ")
    return int(exp), int(ttl), kind, data


def blast(port, names, qtype="A", window=32, timeout=20.0, lost_after=3.0):
    """Asks every name over one UDP socket, at most `window` unanswered at a
    time; returns {index: response} (an index missing: no answer)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got, outstanding = {}, {}       # qid -> (index, sent at)
    sent = 0
    deadline = time.monotonic() + timeout
    try:
        while ((sent < len(names) or outstanding)
               and time.monotonic() < deadline):
            while sent < len(names) and len(outstanding) < window:
                q = dns.message.make_query(names[sent], qtype)
                q.id = sent & 0xFFFF
                s.sendto(q.to_wire(), ("127.0.0.1", port))
                outstanding[q.id] = (sent, time.monotonic())
                sent += 1
            ready, _, _ = select.select([s], [], [], 0.1)
            if ready:
                m = dns.message.from_wire(s.recv(65535))
                idx = outstanding.pop(m.id, (None,))[0]
                if idx is not None:
                    got[idx] = m
            now = time.monotonic()
            for qid, (_, t) in list(outstanding.items()):
                if now - t > lost_after:
                    del outstanding[qid]
    finally:
        s.close()
    return got


def answer_ttl(r):
    return min(rs.ttl for rs in r.answer)


# --------------------------------------------------------------------------
# the daemon, its upstream, Redis

class CRblc(Rblc):
    """An Rblc with `cache { CACHE }` and, when given, `redis { REDIS }`."""

    def __init__(self, directory, cache="", redis_conf=None, **kw):
        super().__init__(directory, **kw)
        self.cache = cache
        self.redis_conf = redis_conf

    def config_text(self):
        text = super().config_text()
        if self.cache is not None:
            text += "cache { %s }\n" % self.cache
        if self.redis_conf is not None:
            text += "redis { %s }\n" % self.redis_conf
        return text


@pytest.fixture
def cached():
    """cached(sources=[...], stubs=..., cache="...", redis_conf="...", ...)
    -> a started CRblc (see test_upstream.started_daemons)."""
    yield from started_daemons(CRblc, "rblcache-")


class RedisServer:
    """A redis-server of our own: TCP on 127.0.0.1:port, or a Unix socket."""

    def __init__(self, directory, port=None, unix=False, password=None,
                 debug=False):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.unix = self.dir / "redis.sock" if unix else None
        self.port = 0 if unix else (port or free_port())
        self.password = password
        self.debug = debug
        self.proc = None
        self.logpath = self.dir / "redis.log"

    @property
    def address(self):
        return ("unix:%s" % self.unix if self.unix
                else "127.0.0.1:%d" % self.port)

    def client(self, db=0):
        kw = dict(db=db, password=self.password, socket_timeout=3,
                  socket_connect_timeout=3)
        if self.unix:
            return redis.Redis(unix_socket_path=str(self.unix), **kw)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def start(self):
        args = [REDIS_SERVER, "--port", str(self.port),
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.dir), "--logfile", str(self.logpath),
                "--daemonize", "no"]
        if self.unix:
            args += ["--unixsocket", str(self.unix), "--unixsocketperm", "700"]
        if self.password:
            args += ["--requirepass", self.password]
        if self.debug:
            args += ["--enable-debug-command", "yes"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        c = self.client()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if c.ping():
                    return self
            except redis.exceptions.RedisError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not start:\n"
                           + self.logpath.read_text(errors="replace"))

    def signal(self, sig):
        assert self.proc is not None and self.proc.poll() is None
        os.kill(self.proc.pid, sig)

    def kill(self):
        """SIGKILL, at once: connections are reset."""
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=5)
        self.proc = None

    def stop(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)       # in case it was stopped
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@pytest.fixture
def redis_srv():
    """redis_srv(port=None, unix=False, password=None, debug=False) -> a
    started RedisServer; each stopped by PID and its dir removed."""
    made = []
    top = Path(tempfile.mkdtemp(prefix="rblredis-"))

    def make(**kw):
        r = RedisServer(top / ("r%d" % len(made)), **kw)
        made.append(r)
        return r.start()
    try:
        yield make
    finally:
        for r in made:
            r.stop()
        shutil.rmtree(top, ignore_errors=True)


def zen_daemon(cached, f, cache="", **kw):
    kw.setdefault("sources", ["zen.spamhaus.org*3"])
    return cached(stubs=f.stub_zones(), cache=cache, **kw)


# --------------------------------------------------------------------------
# 1. hits

def test_repeat_query_is_answered_from_cache(cached, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", txt="zen says so")
    # libunbound keeps nothing: only our cache can spare upstream queries
    d = zen_daemon(cached, f, ub_extra=NO_UB_CACHE)
    s0 = stats(d)
    for _ in range(5):
        assert d.a("192.0.2.4") == LISTED
    s1 = stats(d)
    assert f.count(rev("192.0.2.4", ZEN)) == 1
    assert s1["upstream_queries"] - s0["upstream_queries"] == 1
    assert s1["cache_verdict_hits"] - s0["cache_verdict_hits"] == 4
    assert s1["cache_verdict_misses"] - s0["cache_verdict_misses"] == 1

    # TXT answers are not verdicts: the results' cache serves the repeats
    for _ in range(3):
        assert d.txt("192.0.2.4").startswith("listed: zen.spamhaus.org "
                                             "127.0.0.4 (+3)")
    s2 = stats(d)
    assert f.count(rev("192.0.2.4", ZEN), "TXT") == 1
    assert f.count(rev("192.0.2.4", ZEN)) == 1       # A known already
    assert s2["upstream_queries"] - s1["upstream_queries"] == 1
    assert s2["cache_hits"] - s1["cache_hits"] >= 4, (s1, s2)

    # another address: its own upstream query, once
    for _ in range(3):
        assert d.a("192.0.2.5") == LISTED
    assert f.count(rev("192.0.2.5", ZEN)) == 1
    assert stats(d)["upstream_queries"] - s2["upstream_queries"] == 1


# --------------------------------------------------------------------------
# 2. TTLs

def test_entry_expires_after_upstream_ttl(cached, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", ttl=1)
    d = zen_daemon(cached, f, cache="min-ttl = 1 prefetch = false")
    name = rev("192.0.2.4", ZEN)
    t0 = align_second()
    assert d.a("192.0.2.4") == LISTED and f.count(name) == 1
    assert d.a("192.0.2.4") == LISTED and f.count(name) == 1
    sleep_until(t0 + 2.2)
    assert d.a("192.0.2.4") == LISTED
    assert f.count(name) == 2
    assert stats(d)["upstream_queries"] == 2


def test_min_ttl_keeps_short_lived_answer(cached, fault):
    # upstream TTL 1: libunbound has forgotten it at 2.2 s, we keep it
    # until 2.9 s
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", ttl=1)
    d = zen_daemon(cached, f, cache="min-ttl = 3 prefetch = false")
    name = rev("192.0.2.4", ZEN)
    t0 = align_second()
    assert d.a("192.0.2.4") == LISTED and f.count(name) == 1
    sleep_until(t0 + 2.2)
    assert d.a("192.0.2.4") == LISTED
    assert f.count(name) == 1
    assert stats(d)["upstream_queries"] == 1
    sleep_until(t0 + 3.2)                       # past min-ttl: asked again
    assert d.a("192.0.2.4") == LISTED
    assert f.count(name) == 2


@pytest.mark.parametrize("negative_ttl, lookups", [(1, 2), (900, 1)])
def test_negative_answer_cached_for_capped_soa_ttl(cached, fault,
                                                   negative_ttl, lookups):
    # faultdns' NXDOMAIN carries an SOA of TTL/minimum 60; libunbound
    # keeps it 60 s, so faultdns sees one query either way: what shows our
    # cache is the lookups the daemon hands to libunbound.  With
    # negative-ttl 1 the NXDOMAIN is forgotten after a second; with 900
    # the SOA's 60 s apply (the stored TTLs themselves, capped and not:
    # test_redis_prefix_and_soa_negative_ttl).
    f = fault(ZEN)                               # NXDOMAIN for everything
    d = zen_daemon(cached, f, cache="negative-ttl = %d prefetch = false"
                   % negative_ttl)
    t0 = align_second()
    assert d.a("192.0.2.4") == "NXDOMAIN"
    assert stats(d)["upstream_queries"] == 1
    sleep_until(t0 + 1.5)
    assert d.a("192.0.2.4") == "NXDOMAIN"
    assert stats(d)["upstream_queries"] == lookups
    assert f.count(rev("192.0.2.4", ZEN)) == 1


# --------------------------------------------------------------------------
# 3. verdicts: invalidated by list edits and reloads, results kept

def test_local_list_edit_invalidates_cached_verdict(cached, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    d = zen_daemon(cached, f, sources=["allow*-100", "zen.spamhaus.org*3"])
    name = rev("192.0.2.4", ZEN)
    assert d.a("192.0.2.4") == LISTED
    assert d.a("192.0.2.4") == LISTED              # a verdict hit
    assert f.count(name) == 1
    s0 = stats(d)
    assert s0["cache_verdict_hits"] >= 1

    (d.dir / "allow.list").write_text("192.0.2.4\n")
    assert wait_until(lambda: d.a("192.0.2.4") == "NXDOMAIN", 2.5), \
        "allow list edit not applied to a cached verdict"
    (d.dir / "allow.list").write_text("# empty again\n")
    assert wait_until(lambda: d.a("192.0.2.4") == LISTED, 2.5), \
        "allow list edit not applied to a cached verdict"
    s1 = stats(d)
    assert f.count(name) == 1
    assert s1["upstream_queries"] == s0["upstream_queries"]
    assert s1["cache_hits"] > s0["cache_hits"]     # the result, reused


def test_reload_invalidates_verdicts_keeps_results(cached, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    d = zen_daemon(cached, f)
    assert d.a("192.0.2.4") == LISTED
    assert d.a("192.0.2.4") == LISTED
    d.reload(answer="127.0.0.9")
    assert d.a("192.0.2.4") == "127.0.0.9"
    assert f.count(rev("192.0.2.4", ZEN)) == 1
    assert stats(d)["upstream_queries"] == 1


# --------------------------------------------------------------------------
# 4. serve-stale

def _stale_setup(cached, fault, serve_stale):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", ttl=1)
    d = zen_daemon(cached, f, timeout_ms=400,
                   cache="min-ttl = 1 prefetch = false serve-stale = %d"
                   % serve_stale)
    t0 = align_second()
    r = d.ask("192.0.2.4")
    assert a_of(r) == LISTED
    return f, d, t0


def test_serve_stale_when_upstream_is_silent(cached, fault):
    f, d, t0 = _stale_setup(cached, fault, 3600)
    f.set_zone(ZEN, drop=True)
    sleep_until(t0 + 2.2)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED, "stale entry not served"
    assert t < 0.4 + 0.3, "answer after %.3f s; timeout-ms is 0.4" % t
    assert 0 < answer_ttl(r) <= 30, r
    assert f.count(rev("192.0.2.4", ZEN)) >= 2          # it did try
    assert stats(d)["cache_stale_answers"] == 1
    asked = f.count(rev("192.0.2.4", ZEN))
    # and still there, at once: for the next 30 s the stale answer stands
    # without waiting for the failing upstream again (RFC 8767 §5)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED and t < 0.2, (a_of(r), t)
    assert 0 < answer_ttl(r) <= 30, r
    assert f.count(rev("192.0.2.4", ZEN)) == asked
    assert stats(d)["cache_stale_answers"] == 2


def test_serve_stale_on_servfail(cached, fault):
    f, d, t0 = _stale_setup(cached, fault, 3600)
    f.set_zone(ZEN, rcode="SERVFAIL")
    sleep_until(t0 + 2.2)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED, "stale entry not served"
    assert t < 0.4 + 0.3, t
    assert 0 < answer_ttl(r) <= 30, r
    assert f.count(rev("192.0.2.4", ZEN)) >= 2
    assert stats(d)["cache_stale_answers"] >= 1


def test_serve_stale_zero_fails_open(cached, fault):
    f, d, t0 = _stale_setup(cached, fault, 0)
    f.set_zone(ZEN, drop=True)
    sleep_until(t0 + 2.2)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == "NXDOMAIN" and 0.35 < t < 0.7, (a_of(r), t)
    assert stats(d)["cache_stale_answers"] == 0


def test_serve_stale_window_is_bounded(cached, fault):
    # TTL 1 from t0 - 0.1 s, stale for 2 s more: usable until t0 + 2.9
    f, d, t0 = _stale_setup(cached, fault, 2)
    f.set_zone(ZEN, drop=True)
    sleep_until(t0 + 2.2)
    assert d.a("192.0.2.4") == LISTED
    sleep_until(t0 + 3.3)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == "NXDOMAIN", "served beyond serve-stale"
    assert stats(d)["cache_stale_answers"] == 1


# --------------------------------------------------------------------------
# 5. prefetch

def _prefetch_setup(cached, fault, prefetch, qtype="A"):
    # upstream TTL 1, min-ttl 4: our entry lives until t0 + 3.9, its last
    # second from t0 + 2.9; libunbound forgot the answer by t0 + 2, so a
    # refresh reaches faultdns.  (With upstream TTL 4 and min-ttl 1
    # libunbound would answer the refresh from its own cache.)  libunbound
    # must not resend the 300 ms query of a server it knows to answer in
    # 1 ms: infra-cache-min-rtt keeps faultdns' counts exact.
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", txt="zen says so", ttl=1)
    d = zen_daemon(cached, f, timeout_ms=1500,
                   ub_extra="infra-cache-min-rtt: 1500",
                   cache="min-ttl = 4 prefetch = %s"
                   % ("true" if prefetch else "false"))
    t0 = align_second()
    assert a_of(d.ask("192.0.2.4", qtype)) in (LISTED, "NOERROR []")
    # from now on upstream is slow: an answer that waited for it shows
    f.set_zone(ZEN, a="127.0.0.4", txt="zen says so", ttl=1, delay_ms=300)
    return f, d, t0


def test_prefetch_refreshes_in_the_background(cached, fault):
    f, d, t0 = _prefetch_setup(cached, fault, True)
    name = rev("192.0.2.4", ZEN)
    sleep_until(t0 + 3.4)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED and t < 0.15, \
        "answer in the last tenth waited %.3f s" % t
    assert f.wait_count(name, "A", 2, timeout=1.0), \
        "no prefetch query; stats: %s" % {
            k: v for k, v in stats(d).items()
            if k.startswith(("cache_", "upstream_q"))}
    assert stats(d)["cache_prefetches"] == 1
    sleep_until(t0 + 4.4)                       # the old entry has ended
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED and t < 0.15, \
        "answer after the old expiry waited %.3f s" % t
    assert f.count(name) == 2
    assert stats(d)["upstream_queries"] == 2


def test_prefetch_of_txt_query(cached, fault):
    # TXT answers are built from the results (no verdict cache): the A
    # and the TXT result are both refreshed
    f, d, t0 = _prefetch_setup(cached, fault, True, "TXT")
    name = rev("192.0.2.4", ZEN)
    want = ("listed: zen.spamhaus.org 127.0.0.4 (+3); score 3 >= 3; "
            "zen.spamhaus.org: zen says so")
    sleep_until(t0 + 3.4)
    r, t = d.timed("192.0.2.4", "TXT")
    assert txt_of(r) == want and t < 0.15, t
    assert f.wait_count(name, "A", 2, timeout=1.0), "no prefetch query"
    assert f.wait_count(name, "TXT", 2, timeout=1.0), "no prefetch query"
    assert stats(d)["cache_prefetches"] == 2
    sleep_until(t0 + 4.4)
    r, t = d.timed("192.0.2.4", "TXT")
    assert txt_of(r) == want and t < 0.15, t
    assert (f.count(name), f.count(name, "TXT")) == (2, 2)
    assert stats(d)["upstream_queries"] == 4


def test_no_prefetch_when_disabled(cached, fault):
    f, d, t0 = _prefetch_setup(cached, fault, False)
    name = rev("192.0.2.4", ZEN)
    sleep_until(t0 + 3.4)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED and t < 0.15, t
    sleep_until(t0 + 4.3)
    assert f.count(name) == 1, "background query with prefetch = false"
    assert stats(d)["cache_prefetches"] == 0
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED and t >= 0.29, \
        "expired entry answered in %.3f s without upstream" % t
    assert f.count(name) == 2


# --------------------------------------------------------------------------
# 6. flush

def test_flush_all_and_flush_one_ip(cached, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    d = zen_daemon(cached, f, ub_extra=NO_UB_CACHE)
    a, b = rev("192.0.2.4", ZEN), rev("192.0.2.5", ZEN)
    for ip in ("192.0.2.4", "192.0.2.5", "192.0.2.4", "192.0.2.5"):
        assert d.a(ip) == LISTED
    assert (f.count(a), f.count(b)) == (1, 1)

    body = ctl(d, "flush", "192.0.2.4")
    assert "192.0.2.4" in body, body
    for ip in ("192.0.2.4", "192.0.2.5"):
        assert d.a(ip) == LISTED
    assert (f.count(a), f.count(b)) == (2, 1)

    ctl(d, "flush")
    assert stats(d)["cache_entries"] == 0
    for ip in ("192.0.2.4", "192.0.2.5", "192.0.2.4", "192.0.2.5"):
        assert d.a(ip) == LISTED
    assert (f.count(a), f.count(b)) == (3, 2)


def test_flush_ipv6_address(cached, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    d = zen_daemon(cached, f, ub_extra=NO_UB_CACHE)
    ip = "2001:db8::4"
    assert d.a(ip) == LISTED and d.a(ip) == LISTED
    assert f.count(rev(ip, ZEN)) == 1
    ctl(d, "flush", "2001:db8:0::4")             # any spelling of it
    assert d.a(ip) == LISTED
    assert f.count(rev(ip, ZEN)) == 2


def test_stats_json(cached, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    d = zen_daemon(cached, f)
    assert d.a("192.0.2.4") == LISTED
    j = ctl(d, "stats", json=True)
    t = stats(d)
    for k in ("cache_hits", "cache_misses", "cache_entries", "cache_bytes",
              "cache_max_bytes", "redis_configured", "redis_up",
              "upstream_queries"):
        assert j[k] == t[k], k
    assert j["redis_configured"] == 0 and j["cache_entries"] >= 1


# --------------------------------------------------------------------------
# 7. memory bound

def test_memory_bound_evicts(cached, fault):
    f = fault(ZEN)                               # NXDOMAIN at once
    d = zen_daemon(cached, f, cache='max-memory = "64K"', timeout_ms=2000)
    names = [rev("10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255))
             for i in range(1, 3001)]
    got = blast(d.port, names)
    assert len(got) == 3000, "%d of 3000 answered" % len(got)
    assert {a_of(r) for r in got.values()} == {"NXDOMAIN"}
    s = stats(d)
    assert s["cache_max_bytes"] == 64 * 1024
    assert 0 < s["cache_bytes"] <= s["cache_max_bytes"], s
    assert s["cache_evictions"] > 0, s
    assert d.a("192.0.2.4") == "NXDOMAIN"


def test_max_memory_zero_disables_cache(cached, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    d = zen_daemon(cached, f, cache='max-memory = "0"',
                   ub_extra=NO_UB_CACHE)
    for _ in range(3):
        assert d.a("192.0.2.4") == LISTED
    assert f.count(rev("192.0.2.4", ZEN)) == 3
    assert stats(d)["cache_entries"] == 0


# --------------------------------------------------------------------------
# 8. Redis: keys, values, sharing

def redis_conf(r, extra=""):
    return 'address = "%s" timeout-ms = 200 %s' % (r.address, extra)


def wait_key(client, key, timeout=3.0):
    return wait_until(lambda: client.exists(key), timeout)


def test_redis_values_as_documented(cached, fault, redis_srv):
    r = redis_srv()
    c = r.client()
    f = fault(ZEN)
    f.set(rev("192.0.2.4", ZEN), a="127.0.0.4", txt="zen says so", ttl=100)
    f.set(rev("192.0.2.5", ZEN), a=["127.0.0.4", "127.0.0.10"], ttl=3600)
    f.set(rev("192.0.2.6", ZEN), a="127.0.0.2", ttl=10)
    f.set(rev("192.0.2.8", ZEN), txt="only a TXT", ttl=100)    # A: NODATA
    f.set(rev("2001:db8::4", ZEN), a="127.0.0.3", ttl=100)
    d = zen_daemon(cached, f, cache="min-ttl = 50 max-ttl = 200 "
                   "negative-ttl = 30", redis_conf=redis_conf(r))
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 5)
    want = {  # key: (ttl, kind, data)
        rkey("192.0.2.4"): (100, "A", "127.0.0.4"),
        rkey("192.0.2.4", txt=True): (100, "T", "zen says so"),
        rkey("192.0.2.5"): (200, "A", "127.0.0.4 127.0.0.10"),  # max-ttl
        rkey("192.0.2.6"): (50, "A", "127.0.0.2"),              # min-ttl
        rkey("192.0.2.7"): (30, "N", ""),                # 60 > negative-ttl
        rkey("192.0.2.8"): (30, "D", ""),
        rkey("2001:db8::4"): (100, "A", "127.0.0.3"),           # RFC 5952
    }
    for ip in ("192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7",
               "192.0.2.8", "2001:db8::4"):
        d.ask(ip)
    d.ask("192.0.2.4", "TXT")
    now = time.time()
    assert wait_until(lambda: all(c.exists(k) for k in want), 3), \
        sorted(k.decode() for k in c.keys("*"))
    for key, (ttl, kind, data) in want.items():
        exp, vttl, vkind, vdata = parse_value(c.get(key))
        if kind == "A":         # an RRset's order is not kept
            vdata = " ".join(sorted(vdata.split(" ")))
            data = " ".join(sorted(data.split(" ")))
        assert (vttl, vkind, vdata) == (ttl, kind, data), key
        assert abs(exp - (now + ttl)) <= 2, (key, exp, now)
        pttl = c.pttl(key)
        assert ttl * 1000 - 3000 < pttl <= ttl * 1000, (key, pttl)
    assert len(c.keys("*v1:*")) == len(want)
    s = stats(d)
    assert s["redis_sets"] == len(want) and s["redis_misses"] == len(want)


def test_redis_prefix_and_soa_negative_ttl(cached, fault, redis_srv):
    # two daemons on one Redis with different prefixes share nothing; the
    # second (negative-ttl 900) stores the SOA-derived 60 s of an NXDOMAIN
    r = redis_srv()
    c = r.client()
    f = fault(ZEN)
    d1 = zen_daemon(cached, f, cache="negative-ttl = 30",
                    redis_conf=redis_conf(r))
    d2 = zen_daemon(cached, f, cache="negative-ttl = 900",
                    redis_conf=redis_conf(r, 'prefix = "other/"'))
    assert wait_until(lambda: stats(d1)["redis_up"] == 1 and
                      stats(d2)["redis_up"] == 1, 5)
    assert d1.a("192.0.2.7") == "NXDOMAIN"
    assert wait_key(c, rkey("192.0.2.7"))
    assert d2.a("192.0.2.7") == "NXDOMAIN"
    k2 = rkey("192.0.2.7", prefix="other/")
    assert wait_key(c, k2)
    assert f.count(rev("192.0.2.7", ZEN)) == 2       # no sharing
    assert parse_value(c.get(rkey("192.0.2.7")))[1:] == (30, "N", "")
    assert parse_value(c.get(k2))[1:] == (60, "N", "")
    assert sorted(c.keys("*v1:*")) == sorted([rkey("192.0.2.7").encode(),
                                              k2.encode()])
    assert stats(d2)["redis_answered"] == 0


@pytest.mark.parametrize("n", [2, 3])
def test_redis_shared_between_daemons(cached, fault, redis_srv, n):
    r = redis_srv()
    c = r.client()
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", txt="zen says so")
    ds = [zen_daemon(cached, f, redis_conf=redis_conf(r)) for _ in range(n)]
    assert wait_until(lambda: all(stats(d)["redis_up"] == 1 for d in ds), 5)
    name = rev("192.0.2.4", ZEN)
    assert ds[0].a("192.0.2.4") == LISTED
    assert ds[0].txt("192.0.2.4").startswith("listed: zen.spamhaus.org")
    assert wait_key(c, rkey("192.0.2.4"))
    assert wait_key(c, rkey("192.0.2.4", txt=True))
    for d in ds[1:]:
        assert d.a("192.0.2.4") == LISTED
        assert d.txt("192.0.2.4") == ds[0].txt("192.0.2.4")
        s = stats(d)
        assert s["redis_answered"] == 2 and s["upstream_queries"] == 0, s
        assert s["redis_hits"] == 2 and s["redis_rtt_avg_us"] > 0, s
        gets = s["redis_gets"]
        assert d.a("192.0.2.4") == LISTED                # now in process
        assert d.txt("192.0.2.4").startswith("listed: zen.spamhaus.org")
        assert stats(d)["redis_gets"] == gets
    assert f.count(name) == 1 and f.count(name, "TXT") == 1


def test_redis_unix_socket(cached, fault, redis_srv):
    r = redis_srv(unix=True)
    c = r.client()
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    d1 = zen_daemon(cached, f, redis_conf=redis_conf(r))
    d2 = zen_daemon(cached, f, redis_conf=redis_conf(r))
    assert wait_until(lambda: stats(d1)["redis_up"] == 1, 5)
    assert d1.a("192.0.2.4") == LISTED
    assert wait_key(c, rkey("192.0.2.4"))
    assert wait_until(lambda: stats(d2)["redis_up"] == 1, 5)
    assert d2.a("192.0.2.4") == LISTED
    assert f.count(rev("192.0.2.4", ZEN)) == 1
    assert stats(d2)["redis_answered"] == 1


def test_redis_flush_ip_deletes_its_keys(cached, fault, redis_srv):
    r = redis_srv()
    c = r.client()
    f = fault(ZEN, BB)
    f.set_zone(ZEN, a="127.0.0.4", txt="zen")
    f.set_zone(BB, a="127.0.0.2", txt="bb")
    d = cached(sources=["zen.spamhaus.org*3", "b.barracudacentral.org*2"],
               stubs=f.stub_zones(), redis_conf=redis_conf(r))
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 5)
    keys = {ip: [rkey(ip, src, txt) for src in (ZEN, BB)
                 for txt in (False, True)]
            for ip in ("192.0.2.4", "192.0.2.5")}
    for ip in keys:
        d.ask(ip)
        d.ask(ip, "TXT")
    assert wait_until(lambda: all(c.exists(k) for ks in keys.values()
                                  for k in ks), 3), c.keys("*")
    ctl(d, "flush", "192.0.2.4")
    assert wait_until(lambda: not any(c.exists(k)
                                      for k in keys["192.0.2.4"]), 3), \
        c.keys("*")
    assert all(c.exists(k) for k in keys["192.0.2.5"])
    s0 = stats(d)
    assert d.a("192.0.2.4") == LISTED
    assert stats(d)["upstream_queries"] - s0["upstream_queries"] == 2


def test_redis_values_written_by_others_are_used(cached, fault, redis_srv):
    # values in the documented format, written by hand, answer instead of
    # upstream; values that are not (junk, expired, another type) do not
    r = redis_srv()
    c = r.client()
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", txt="from upstream")
    now = int(time.time())
    c.set(rkey("192.0.2.4"), "%d 300 A 127.0.0.10" % (now + 300))
    c.set(rkey("192.0.2.5"), "%d 300 N" % (now + 300))
    c.set(rkey("192.0.2.6"), "hello")
    c.set(rkey("192.0.2.7"), "%d 300 A 127.0.0.10" % (now - 10))
    c.rpush(rkey("192.0.2.8"), "x")
    c.set(rkey("192.0.2.9"), "%d 300 A 127.0.0.10" % (now + 300))
    c.set(rkey("192.0.2.9", txt=True), "%d 300 T from redis" % (now + 300))
    d = zen_daemon(cached, f, redis_conf=redis_conf(r))
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 5)
    assert d.a("192.0.2.4") == LISTED
    assert d.a("192.0.2.5") == "NXDOMAIN"
    assert d.txt("192.0.2.9") == (
        "listed: zen.spamhaus.org 127.0.0.10 (+3); score 3 >= 3; "
        "zen.spamhaus.org: from redis")
    for ip in ("192.0.2.4", "192.0.2.5", "192.0.2.9"):
        assert f.count(rev(ip, ZEN)) == 0, ip
    assert f.count(rev("192.0.2.9", ZEN), "TXT") == 0
    for ip in ("192.0.2.6", "192.0.2.7", "192.0.2.8"):
        assert d.a(ip) == LISTED, ip
        assert f.count(rev(ip, ZEN)) == 1, ip
    s = stats(d)
    assert s["redis_answered"] == 4 and s["upstream_queries"] == 3, s
    # what was not a value is replaced by what upstream said (SET
    # replaces a key of any type)
    for ip in ("192.0.2.6", "192.0.2.7", "192.0.2.8"):
        assert wait_until(lambda: c.type(rkey(ip)) == b"string" and
                          c.get(rkey(ip)).endswith(b" A 127.0.0.4"), 3), \
            (ip, c.type(rkey(ip)))


def test_redis_concurrent_misses_one_get_one_upstream_query(cached, fault,
                                                             redis_srv):
    r = redis_srv()
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", delay_ms=100)
    d = zen_daemon(cached, f, redis_conf=redis_conf(r), timeout_ms=2000,
                   ub_extra="infra-cache-min-rtt: 2000")
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 5)
    got = blast(d.port, [rev("192.0.2.4")] * 50, window=50)
    assert len(got) == 50 and {a_of(m) for m in got.values()} == {LISTED}
    s = stats(d)
    assert f.count(rev("192.0.2.4", ZEN)) == 1
    assert s["redis_gets"] == 1 and s["redis_misses"] == 1, s
    assert s["upstream_queries"] == 1 and s["redis_sets"] == 1, s


def test_redis_db_select(cached, fault, redis_srv):
    r = redis_srv()
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    d = zen_daemon(cached, f, redis_conf=redis_conf(r, "db = 3"))
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 5)
    assert d.a("192.0.2.4") == LISTED
    assert wait_key(r.client(3), rkey("192.0.2.4"))
    assert r.client(0).keys("*") == []


# --------------------------------------------------------------------------
# 9. Redis trouble: answers go on, state changes logged once

FAST = 0.05 + 0.25  # a query's bound while Redis misbehaves: timeout-ms 50,
                    # upstream at once, a margin


def fault_daemon(cached, fault, r_address, extra=""):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    d = zen_daemon(cached, f, timeout_ms=1000,
                   redis_conf='address = "%s" timeout-ms = 50 %s'
                   % (r_address, extra))
    return f, d


def ask_new_ips(d, first, n, gap=0.0, bound=FAST):
    """Asks n new addresses 10.9.x.y one after another: each must be
    listed within bound s.  Returns the slowest time."""
    worst = 0.0
    for i in range(first, first + n):
        ip = "10.9.%d.%d" % (i >> 8 & 255, i & 255)
        r, t = d.timed(ip)
        assert a_of(r) == LISTED, (ip, a_of(r))
        assert t < bound, "%s answered after %.3f s" % (ip, t)
        worst = max(worst, t)
        if gap:
            time.sleep(gap)
    return worst


def test_redis_absent_at_start(cached, fault, redis_srv):
    port = free_port()
    f, d = fault_daemon(cached, fault, "127.0.0.1:%d" % port)
    ask_new_ips(d, 0, 10)
    assert d.wait_log("redis", 2)
    assert len(redis_lines(d, "unreachable")) == 1, d.log()
    assert stats(d)["redis_up"] == 0
    r = redis_srv(port=port)
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 10), \
        "not connected 10 s after Redis came up"
    assert len(redis_lines(d, "connected")) == 1
    assert d.a("192.0.2.4") == LISTED
    assert wait_key(r.client(), rkey("192.0.2.4"))


def test_redis_reconnect_backs_off(cached, fault):
    # a "Redis" that accepts and at once closes: every attempt fails the
    # same way; retries start fast and double, the failure is logged once.
    # The cache's connections (no password, db 0: one PING, alone) are
    # told from the two that share run-time entries (SUBSCRIBE; two PINGs)
    # by what they send first.
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    lsock.settimeout(0.05)
    conns = []                      # [accepted at, first bytes]
    stop = threading.Event()
    threads = []

    def first_bytes(conn, rec):
        conn.settimeout(0.3)
        try:
            rec[1] = conn.recv(4096)
        except OSError:
            pass
        finally:
            conn.close()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            rec = [time.monotonic(), b""]
            conns.append(rec)
            t = threading.Thread(target=first_bytes, args=(conn, rec),
                                 daemon=True)
            t.start()
            threads.append(t)
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        f, d = fault_daemon(cached, fault,
                            "127.0.0.1:%d" % lsock.getsockname()[1])
        ask_new_ips(d, 0, 5)
        time.sleep(4.0)
        ask_new_ips(d, 5, 5)
    finally:
        stop.set()
        th.join(timeout=2)
        for t in threads:
            t.join(timeout=2)
        lsock.close()
    attempts = [t for t, data in conns if data == b"*1\r\n$4\r\nPING\r\n"]
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert 4 <= len(attempts) <= 9, (gaps, conns)
    assert gaps[0] < 1.0, gaps                  # first retry within 1 s
    for g0, g1 in zip(gaps[1:], gaps[2:]):      # (the first one has
        assert g1 > 1.5 * g0, gaps              # start-up jitter) doubling
    assert gaps[-1] >= 1.0, gaps
    assert len(redis_lines(d)) == 1, d.log()
    assert stats(d)["redis_up"] == 0


def test_redis_killed_under_load_then_restarted(cached, fault, redis_srv):
    r = redis_srv()
    port = r.port
    f, d = fault_daemon(cached, fault, r.address)
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 5)
    worst = ask_new_ips(d, 0, 50, gap=0.01, bound=0.05 + 0.3)
    r.kill()
    worst = max(worst, ask_new_ips(d, 50, 150, gap=0.01, bound=0.05 + 0.3))
    assert stats(d)["redis_up"] == 0
    assert len(redis_lines(d, "connection lost")) == 1, d.log()
    r2 = redis_srv(port=port)
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 10), \
        "not reconnected 10 s after Redis came back"
    s = stats(d)
    assert s["redis_reconnects"] == 1
    assert d.a("192.0.2.4") == LISTED
    assert wait_key(r2.client(), rkey("192.0.2.4"))
    print("slowest answer: %.3f s" % worst)


def test_redis_stopped_then_continued(cached, fault, redis_srv):
    r = redis_srv()
    f, d = fault_daemon(cached, fault, r.address)
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 5)
    assert d.a("192.0.2.4") == LISTED
    r.signal(signal.SIGSTOP)
    try:
        ask_new_ips(d, 0, 20, gap=0.1)
        assert wait_until(lambda: redis_lines(d, "not answering"), 2)
        ask_new_ips(d, 20, 10, gap=0.1)
        assert len(redis_lines(d, "not answering")) == 1, d.log()
        assert stats(d)["redis_timeouts"] >= 1
    finally:
        r.signal(signal.SIGCONT)
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 10), \
        "not back 10 s after SIGCONT"
    assert len(redis_lines(d, "connected")) == 2
    assert d.a("192.0.2.5") == LISTED
    assert wait_key(r.client(), rkey("192.0.2.5"))


def test_redis_debug_sleep(cached, fault, redis_srv):
    r = redis_srv(debug=True)
    f, d = fault_daemon(cached, fault, r.address)
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 5)
    sleeper = threading.Thread(
        target=lambda: r.client().execute_command("DEBUG", "SLEEP", "1"))
    sleeper.start()
    try:
        time.sleep(0.05)
        ask_new_ips(d, 0, 15, gap=0.05)
    finally:
        sleeper.join(timeout=5)
    assert stats(d)["redis_timeouts"] >= 1
    assert wait_until(lambda: stats(d)["redis_up"] == 1, 10)
    assert d.a("192.0.2.5") == LISTED
    assert wait_key(r.client(), rkey("192.0.2.5"))


def test_redis_wrong_password(cached, fault, redis_srv):
    r = redis_srv(password="secret")
    f, d = fault_daemon(cached, fault, r.address, 'password = "wrong"')
    ask_new_ips(d, 0, 10)
    time.sleep(2.0)                 # retries: 0.1, 0.2, 0.4, 0.8 s, ...
    ask_new_ips(d, 10, 5)
    assert len(redis_lines(d, "authentication failed")) == 1, d.log()
    s = stats(d)
    assert s["redis_up"] == 0 and s["redis_configured"] == 1
    assert r.client().keys("*") == []

    f2, d2 = fault_daemon(cached, fault, r.address, 'password = "secret"')
    assert wait_until(lambda: stats(d2)["redis_up"] == 1, 5)
    assert d2.a("192.0.2.4") == LISTED
    assert wait_key(r.client(), rkey("192.0.2.4"))
    assert not redis_lines(d2, "authentication failed")


# --------------------------------------------------------------------------
# rblctl check on the upstream path

def test_check_reports_upstream_parts_and_survives_late_answers(cached, fault):
    """check runs the real lookups: a fresh answer, then the cached one;
    an upstream slower than timeout-ms is reported as such, and its late
    answer (arriving after check returned) is harmless."""
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    f.set(rev("192.0.2.9", ZEN), a="127.0.0.4", delay_ms=800)
    # libunbound waits for the slow answer instead of resending
    d = zen_daemon(cached, f, timeout_ms=300,
                   ub_extra="infra-cache-min-rtt: 1500")
    out = ctl(d, "check", "192.0.2.4")
    assert "zone bl.rblcache.internal: LISTED (score 3, threshold 3)" in out, out
    assert "127.0.0.4, TTL 300, fresh" in out, out
    assert "mail server sees: A %s" % LISTED in out, out
    out = ctl(d, "check", "192.0.2.4")
    assert ", cache" in out and "fresh" not in out, out
    t0 = time.monotonic()
    out = ctl(d, "check", "192.0.2.9")
    assert time.monotonic() - t0 < 1.2
    assert "not listed" in out and "no answer within 300 ms" in out, out
    time.sleep(1.0)                     # the late answer comes in
    out = ctl(d, "check", "192.0.2.9")  # now from the cache
    assert "LISTED" in out and ", cache" in out, out
    assert d.a("192.0.2.4") == LISTED
