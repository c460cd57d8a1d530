"""test_metrics -- GET /metrics: the Prometheus exposition of a real daemon.

Every count is checked as a difference between two scrapes around
queries this test sent, so the readiness probe and earlier cases never
matter.
"""

import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from rbltest import (BL, NOERROR, NXDOMAIN, REFUSED, RBLCACHED, query_wire,
                     rev, tcp_frame, wait_until)
from test_cache import CRblc, RedisServer, ctl, redis_srv  # noqa: F401
from test_upstream import (BB, WL, ZEN, fault, free_port,  # noqa: F401
                           started_daemons)

RBLCTL = RBLCACHED.parent / "rblctl"

# the exposition format, version 0.0.4
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,%s)*\})? (\S+)$" % (NAME, LABEL, LABEL))
HELP = re.compile(r"^# HELP (%s) \S.*$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$"
                  % NAME)
LABELS = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape_raw(port, path="/metrics", method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def parse(text):
    """{(name, frozenset(labels)): value}; asserts every line is valid
    exposition format and each family's HELP and TYPE come first."""
    out, typed, helped = {}, {}, set()
    for line in text.splitlines():
        m = HELP.match(line)
        if m:
            helped.add(m.group(1))
            continue
        m = TYPE.match(line)
        if m:
            typed[m.group(1)] = m.group(2)
            continue
        m = SAMPLE.match(line)
        assert m, "not exposition format: %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        family = re.sub(r"_(bucket|sum|count)$", "", name) \
            if re.sub(r"_(bucket|sum|count)$", "", name) in typed else name
        assert family in typed and family in helped, \
            "%s without HELP/TYPE before it" % name
        assert name.startswith("rblcache_"), name
        if typed[family] == "counter":
            assert name.endswith("_total"), name
        out[(name, frozenset(LABELS.findall(labels)))] = float(value)
    return out


def metric(m, name, **labels):
    return m.get((name, frozenset(labels.items())), 0.0)


def total(m, name, **labels):
    """Sum over the series of name whose labels include labels."""
    want = set(labels.items())
    return sum(v for (n, ls), v in m.items() if n == name and want <= ls)


class MRblc(CRblc):
    """A CRblc (cache, redis) serving metrics on a port of its own."""

    def __init__(self, directory, **kw):
        super().__init__(directory, **kw)
        self.mport = None

    def config_text(self):
        if self.mport is None:
            self.mport = free_port()
        return super().config_text() + 'metrics = "127.0.0.1:%d"\n' % self.mport

    def scrape(self):
        status, headers, body = scrape_raw(self.mport)
        assert status == 200, (status, body)
        return parse(body)


@pytest.fixture
def mrblc():
    yield from started_daemons(MRblc, "rblmet-")


def with_metrics(rbl):
    rbl.mport = free_port()
    rbl.extra += 'metrics = "127.0.0.1:%d"\n' % rbl.mport
    return rbl


def scrape(rbl):
    status, headers, body = scrape_raw(rbl.mport)
    assert status == 200, (status, body)
    return parse(body)


def listening_tcp_ports(pid):
    """TCP ports the process listens on (from /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    ports = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(f) as fh:
            for line in fh.readlines()[1:]:
                p = line.split()
                if p[3] == "0A" and p[9] in inodes:       # LISTEN
                    ports.add(int(p[1].rsplit(":", 1)[1], 16))
    return ports


# --------------------------------------------------------------------------
# the endpoint

def test_exposition_is_well_formed(rbl):
    with_metrics(rbl).lists(block="192.0.2.1\n")
    rbl.query(rev("192.0.2.1"))
    status, headers, body = scrape_raw(rbl.mport)
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    m = parse(body)
    assert body.endswith("\n")
    for name in ("rblcache_queries_total", "rblcache_verdicts_total",
                 "rblcache_query_duration_seconds", "rblcache_cache_hits_total",
                 "rblcache_redis_up", "rblcache_list_entries",
                 "rblcache_list_reload_timestamp_seconds",
                 "rblcache_control_commands_total",
                 "rblcache_query_log_dropped_total"):
        assert "# TYPE %s " % name in body, name
    assert metric(m, "rblcache_redis_up") == 0


def test_other_paths_404_other_methods_405(rbl):
    with_metrics(rbl).lists()
    assert scrape_raw(rbl.mport, "/")[0] == 404
    assert scrape_raw(rbl.mport, "/metrics/x")[0] == 404
    status, headers, _ = scrape_raw(rbl.mport, method="POST")
    assert status == 405 and "GET" in headers["Allow"]
    assert scrape_raw(rbl.mport, method="DELETE")[0] == 405
    assert scrape_raw(rbl.mport)[0] == 200


def test_metrics_off_by_default(rbl):
    rbl.lists()
    # the DNS port (TCP) is all it listens on
    assert listening_tcp_ports(rbl.proc.pid) == {rbl.port}


def test_metrics_listener_is_the_only_extra_port(rbl):
    with_metrics(rbl).lists()
    assert listening_tcp_ports(rbl.proc.pid) == {rbl.port, rbl.mport}


@pytest.mark.parametrize("value", ["127.0.0.1", "localhost:9797",
                                   "127.0.0.1:99999", "[::1]"])
def test_bad_metrics_value_fails_check_with_its_line(rbl, value):
    rbl.write_config()
    # first: libconfuse counts a "#" comment line twice
    rc, err = rbl.check('metrics = "%s"\n' % value + rbl.config_text())
    line = 1
    assert rc == 1 and "%s:%d:" % (rbl.confpath, line) in err \
        and "metrics" in err and value in err, err


# --------------------------------------------------------------------------
# queries

def test_query_counters_move_by_exactly_what_was_sent(rbl):
    with_metrics(rbl).lists(block="192.0.2.1\n192.0.2.2\n")
    before = scrape(rbl)
    sent = [
        (rev("192.0.2.1"), "A", NOERROR, 3),
        (rev("192.0.2.2"), "TXT", NOERROR, 2),
        (rev("192.0.2.9"), "A", NXDOMAIN, 4),
        (rev("192.0.2.1"), "AAAA", NOERROR, 1),           # NODATA
        (rev("192.0.2.1", "wl.rblcache.internal"), "A", NXDOMAIN, 2),
        ("example.org.", "A", REFUSED, 5),
    ]
    for name, qtype, rcode, n in sent:
        for _ in range(n):
            assert rbl.query(name, qtype).rcode() == rcode
    after = scrape(rbl)

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)
    assert delta("rblcache_queries_total", zone=BL, qtype="A",
                 rcode="NOERROR") == 3
    assert delta("rblcache_queries_total", zone=BL, qtype="TXT",
                 rcode="NOERROR") == 2
    assert delta("rblcache_queries_total", zone=BL, qtype="A",
                 rcode="NXDOMAIN") == 4
    assert delta("rblcache_queries_total", zone=BL, qtype="AAAA",
                 rcode="NOERROR") == 1
    assert delta("rblcache_queries_total", zone="wl.rblcache.internal",
                 qtype="A", rcode="NXDOMAIN") == 2
    assert delta("rblcache_queries_total", zone="other", qtype="A",
                 rcode="REFUSED") == 5
    assert delta("rblcache_queries_total") == 17
    assert delta("rblcache_verdicts_total", zone=BL, verdict="listed") == 6
    assert delta("rblcache_verdicts_total", zone=BL, verdict="notlisted") == 4
    assert delta("rblcache_verdicts_total", zone="wl.rblcache.internal",
                 verdict="notlisted") == 2
    # the histogram: every answered query once, buckets cumulative
    assert delta("rblcache_query_duration_seconds_count") == 17
    assert delta("rblcache_answers_total") == 17
    buckets = sorted(((float(dict(ls)["le"]), v) for (n, ls), v in
                      after.items() if n ==
                      "rblcache_query_duration_seconds_bucket"))
    assert len(buckets) >= 10 and buckets[-1][0] == float("inf")
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    assert buckets[-1][1] == metric(after,
                                    "rblcache_query_duration_seconds_count")
    # local answers take well under 10 ms
    assert metric(after, "rblcache_query_duration_seconds_bucket",
                  le="0.01") - metric(before,
                                      "rblcache_query_duration_seconds_bucket",
                                      le="0.01") == 17
    assert 0 < metric(after, "rblcache_query_duration_seconds_sum") < 1


# --------------------------------------------------------------------------
# upstreams, cache, Redis

def test_upstream_errors_by_kind(mrblc, fault):
    f = fault(ZEN, BB, WL)
    f.set_zone(ZEN, a="127.255.255.254")      # public resolver: refused
    f.set_zone(BB, rcode="SERVFAIL")
    f.set_zone(WL, drop=True)
    d = mrblc(sources=["zen.spamhaus.org*3", "b.barracudacentral.org*2",
                       "list.dnswl.org*-5"], stubs=f.stub_zones(),
              timeout_ms=400)
    before = d.scrape()
    assert d.a("192.0.2.4") == "NXDOMAIN"
    after = d.scrape()

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)
    for up, kind in ((ZEN, "errorcode"), (BB, "servfail"), (WL, "timeout")):
        for k in ("errorcode", "servfail", "timeout"):
            assert delta("rblcache_upstream_errors_total", upstream=up,
                         kind=k) == (1 if k == kind else 0), (up, k)
        assert delta("rblcache_upstream_queries_total", upstream=up) == 1, up
    assert delta("rblcache_upstream_waits_total") == 1


def test_answer_to_a_client_gone_is_a_drop(mrblc, fault):
    # a TCP client that hangs up while its query waits for upstream: the
    # answer composed later is counted as dropped, not as sent
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", delay_ms=300)
    d = mrblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
              timeout_ms=1000)
    before = d.scrape()
    c = socket.create_connection(("127.0.0.1", d.port), timeout=3)
    c.sendall(tcp_frame(query_wire(rev("192.0.2.4"))))
    assert f.wait_count(rev("192.0.2.4", ZEN), timeout=2.0)
    c.close()
    time.sleep(0.6)                 # the upstream has answered
    after = d.scrape()

    def delta(name):
        return metric(after, name) - metric(before, name)
    assert delta("rblcache_queries_received_total") == 1
    assert delta("rblcache_answers_total") == 0
    assert delta("rblcache_dropped_total") == 1


def test_cache_and_redis_figures(mrblc, fault, redis_srv):
    r = redis_srv()
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    d = mrblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
              redis_conf='address = "%s"' % r.address)
    assert wait_until(lambda: metric(d.scrape(), "rblcache_redis_up") == 1,
                      5.0)
    before = d.scrape()
    assert d.a("192.0.2.4") == "127.0.0.2"      # miss: Redis, then upstream
    assert d.a("192.0.2.4") == "127.0.0.2"      # the cached verdict
    assert d.a("192.0.2.4") == "127.0.0.2"
    after = d.scrape()

    def delta(name):
        return metric(after, name) - metric(before, name)
    assert delta("rblcache_cache_verdict_hits_total") == 2
    assert delta("rblcache_cache_misses_total") >= 1
    assert delta("rblcache_redis_gets_total") == 1
    assert delta("rblcache_redis_hits_total") == 0
    assert metric(after, "rblcache_upstream_queries_total", upstream=ZEN) \
        - metric(before, "rblcache_upstream_queries_total", upstream=ZEN) == 1
    assert metric(after, "rblcache_cache_entries") >= 2   # result + verdict
    assert metric(after, "rblcache_cache_bytes") > 0
    assert 0 <= metric(after, "rblcache_redis_rtt_average_seconds") < 0.03
    r.kill()
    assert wait_until(lambda: metric(d.scrape(), "rblcache_redis_up") == 0,
                      5.0)


# --------------------------------------------------------------------------
# lists, reloads, rblctl

def test_list_entries_and_reload_time_follow_an_edit(rbl):
    with_metrics(rbl).lists(block="192.0.2.1\n192.0.2.2\n")
    m = scrape(rbl)
    assert metric(m, "rblcache_list_entries", list="block") == 2
    assert metric(m, "rblcache_list_entries", list="allow") == 0
    t0 = metric(m, "rblcache_list_reload_timestamp_seconds", list="block")
    assert abs(t0 - time.time()) < 30
    ok0 = metric(m, "rblcache_reloads_total", what="list", result="ok")
    time.sleep(0.05)
    rbl.write_list("block", "192.0.2.1\n192.0.2.2\n198.51.100.0/24\n")
    assert wait_until(lambda: metric(scrape(rbl), "rblcache_list_entries",
                                     list="block") == 3, 5.0)
    m = scrape(rbl)
    assert metric(m, "rblcache_list_reload_timestamp_seconds",
                  list="block") > t0
    assert metric(m, "rblcache_reloads_total", what="list",
                  result="ok") == ok0 + 1
    # a broken file: counted as failed, the old one keeps serving
    rbl.write_list("block", "192.0.2.1\nnot an address\n")
    assert wait_until(lambda: metric(scrape(rbl), "rblcache_reloads_total",
                                     what="list", result="failed") == 1, 5.0)
    assert metric(scrape(rbl), "rblcache_list_entries", list="block") == 3


def test_control_commands_counted_and_stats_agree(rbl):
    with_metrics(rbl).lists()
    sock = str(rbl.control)

    def rblctl(*args):
        return subprocess.run([str(RBLCTL), "-s", sock] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=10)
    assert rblctl("stats").returncode == 0
    assert rblctl("add", "block", "192.0.2.0/24").returncode == 0
    assert rblctl("del", "block", "198.51.100.0/24").returncode == 1
    assert rblctl("reload").returncode == 0
    m = scrape(rbl)

    def cmd(c, r):
        return metric(m, "rblcache_control_commands_total", command=c,
                      result=r)
    assert (cmd("stats", "ok"), cmd("add", "ok"), cmd("del", "error"),
            cmd("reload", "ok"), cmd("del", "ok")) == (1, 1, 1, 1, 0)
    assert metric(m, "rblcache_reloads_total", what="config",
                  result="ok") == 1
    assert metric(m, "rblcache_list_entries", list="block") == 1
    # rblctl stats shows the same figures, text and JSON
    body = ctl(rbl, "stats")
    text = dict(line.split(None, 1) for line in body.splitlines())
    assert int(text["answered"]) == metric(m, "rblcache_answers_total")
    assert text['control_commands{command="add",result="ok"}'] == "1"
    js = ctl(rbl, "stats", json=True)
    assert list(js) == list(text)              # same names, same order
    assert js["answered"] == metric(m, "rblcache_answers_total")
    assert js['control_commands{command="del",result="error"}'] == 1
    assert sum(v for k, v in js.items() if k.startswith("queries_by{")) \
        == total(m, "rblcache_queries_total")
    assert js['list_entries{list="block"}'] == 1


def test_metrics_port_taken_fails_start(rbl):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        rbl.mport = s.getsockname()[1]
        rbl.extra += 'metrics = "127.0.0.1:%d"\n' % rbl.mport
        rbl.spawn()
        assert rbl.wait_exit(5.0) == 1
        assert "metrics: cannot listen on 127.0.0.1:%d" % rbl.mport \
            in rbl.log(), rbl.log()
    finally:
        s.close()


def test_metrics_change_needs_restart(rbl):
    with_metrics(rbl).lists()
    old = rbl.mport
    rbl.extra = 'metrics = "127.0.0.1:%d"\n' % free_port()
    rbl.write_config()
    n = rbl.log().count("configuration reloaded")
    rbl.reload()
    assert wait_until(lambda: rbl.log().count("configuration reloaded") > n,
                      3.0)
    assert "metrics takes effect at restart only" in rbl.log()
    assert scrape_raw(old)[0] == 200
