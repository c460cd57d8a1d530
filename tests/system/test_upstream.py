"""test_upstream -- rblcached's upstream DNSBL/DNSWL aggregation.

Every upstream is on loopback: a real rbldnsd serving zones named like
the real lists (the module fixture `rbldnsd`), and faultdns.FaultDNS for
what rbldnsd will not do (delays, silence, SERVFAIL, error codes, DQS
zones) and for exact counts of the queries that reached upstream.  The
daemon reaches both through an unbound.conf of stub-zones handed to
libunbound.

Self-contained: the helpers below start their own rblcached (one per
test, or one per module for the scoring table); nothing here depends on
conftest.py's `rbl` fixture.  Every wait is bounded; the only processes
signalled are the Popen objects started here; temp dirs are removed.
"""

import ipaddress
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

import rbltest
from faultdns import FaultDNS

REPO = Path(__file__).resolve().parents[2]
_build = Path(os.environ.get("RBLCACHE_BUILD", "build"))
RBLCACHED = (_build if _build.is_absolute() else REPO / _build) / "rblcached"
RBLDNSD = "/usr/sbin/rbldnsd"

BL = "bl.rblcache.internal"
LISTED = "127.0.0.2"            # the zones' answer
ZEN = "zen.spamhaus.org"
BB = "b.barracudacentral.org"
WL = "list.dnswl.org"
SPAMCOP = "bl.spamcop.net"

SANITIZER_MARKS = ("runtime error:", "ERROR: AddressSanitizer",
                   "ERROR: LeakSanitizer")


# --------------------------------------------------------------------------
# names, ports

def rev(ip, zone=BL):
    """The DNSBL name of an address under zone: d.c.b.a or 32 nibbles."""
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        labels = reversed(str(a).split("."))
    else:
        labels = reversed(a.exploded.replace(":", ""))
    return ".".join(labels) + "." + zone


def free_port():
    """A port free for UDP and TCP on 127.0.0.1."""
    return rbltest.free_port(v6=False)


def dead_port():
    """A UDP port on 127.0.0.1 where nothing listens (queries are lost)."""
    return free_port()


def udp_ask(port, name, qtype="A", timeout=3.0):
    q = dns.message.make_query(name, qtype)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout)


def wait_until(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def a_of(r):
    """An answer in one word: the A value, NXDOMAIN, or the rcode."""
    rc = r.rcode()
    if rc == dns.rcode.NOERROR:
        vals = [rd.to_text() for rs in r.answer
                if rs.rdtype == dns.rdatatype.A for rd in rs]
        return vals[0] if len(vals) == 1 else "NOERROR %s" % vals
    return dns.rcode.to_text(rc)


def txt_of(r):
    """The one TXT record of an answer, its strings joined; or the rcode
    when it is not NOERROR."""
    out = [b"".join(rd.strings).decode("latin-1") for rs in r.answer
           if rs.rdtype == dns.rdatatype.TXT for rd in rs]
    if r.rcode() != dns.rcode.NOERROR:
        return dns.rcode.to_text(r.rcode())
    assert len(out) == 1, "want one TXT record, got %r" % out
    return out[0]


# --------------------------------------------------------------------------
# upstreams

def stubs_text(*upstreams):
    """unbound.conf stub-zones for upstream servers, or (zone, port)."""
    out = ""
    for u in upstreams:
        if isinstance(u, tuple):
            out += ('stub-zone:\n    name: "%s"\n    stub-addr: 127.0.0.1@%d\n'
                    % u)
        else:
            out += u.stub_zones()
    return out


class Rbldnsd:
    """A real rbldnsd serving ip4trie zones from a world-readable dir."""

    def __init__(self, zones):
        self.zones = zones            # zone name -> list file text
        self.dir = Path(tempfile.mkdtemp(prefix="rblup-rbldnsd-"))
        os.chmod(self.dir, 0o755)     # it drops to user rbldns
        self.port = None
        self.proc = None
        self.logpath = self.dir / "rbldnsd.log"

    def start(self):
        args = [RBLDNSD, "-n", "-w", str(self.dir), "-t", "300"]
        for i, (zone, text) in enumerate(self.zones.items()):
            f = self.dir / ("z%d.list" % i)
            f.write_text(text)
            os.chmod(f, 0o644)
            args.append("%s:ip4trie:%s" % (zone, f.name))
        for _ in range(3):
            self.port = free_port()
            with open(self.logpath, "ab") as log:
                self.proc = subprocess.Popen(
                    args[:1] + ["-b", "127.0.0.1/%d" % self.port] + args[1:],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            probe = "2.0.0.127." + next(iter(self.zones))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    udp_ask(self.port, probe, timeout=0.1)
                    return self
                except dns.exception.Timeout:
                    continue
            self.stop()
        raise RuntimeError("rbldnsd did not start:\n" +
                           self.logpath.read_text(errors="replace"))

    def stub_zones(self):
        return stubs_text(*[(z, self.port) for z in self.zones])

    def stop(self):
        if self.proc is not None:
            proc, self.proc = self.proc, None
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Rblc:
    """One rblcached with one zone (BL) over local lists and upstreams.

    sources: the zone's sources; upstreams: {name: "body of the block"};
    lists: {name: text} (every list named in sources without dots gets a
    file); stubs: the unbound.conf stub-zone text.
    """

    def __init__(self, directory, sources, stubs="", threshold=3,
                 answer=LISTED, upstreams=None, lists=None, timeout_ms=400,
                 zone_extra="", resolver_extra="", workers=2, ub_extra=""):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sources = sources
        self.stubs = stubs
        self.threshold = threshold
        self.answer = answer
        self.upstreams = upstreams or {}
        self.lists = dict(lists or {})
        for s in sources:
            name = s.split("=")[0].split("*")[0]
            if "." not in name:
                self.lists.setdefault(name, "")
        self.timeout_ms = timeout_ms
        self.zone_extra = zone_extra
        self.resolver_extra = resolver_extra
        self.workers = workers
        self.ub_extra = ub_extra      # more server: options for libunbound
        self.port = None
        self.proc = None
        self.confpath = self.dir / "rblcache.conf"
        self.ubpath = self.dir / "unbound.conf"
        self.logpath = self.dir / "rblcached.log"
        self.rc = None

    def config_text(self):
        q = lambda xs: ", ".join('"%s"' % x for x in xs)  # noqa: E731
        lines = [
            'listen = { "127.0.0.1:%d" }' % self.port,
            "workers = %d" % self.workers,
            'user = "root"',
            'allow-query = { "127.0.0.0/8", "::1/128" }',
            'state-dir = "%s"' % (self.dir / "state"),
            'control = "%s"' % (self.dir / "control.sock"),
            'resolver { unbound-config = "%s" timeout-ms = %d %s }'
            % (self.ubpath, self.timeout_ms, self.resolver_extra),
        ]
        for name in self.lists:
            lines.append('list "%s" { file = "%s" }'
                         % (name, self.dir / (name + ".list")))
        for name, body in self.upstreams.items():
            lines.append('upstream "%s" { %s }' % (name, body))
        zone = "sources = { %s } threshold = %d" % (q(self.sources),
                                                  self.threshold)
        if self.answer:
            zone += ' answer = "%s"' % self.answer
        lines.append('zone "%s" { %s %s }' % (BL, zone, self.zone_extra))
        return "\n".join(lines) + "\n"

    def start(self):
        if not RBLCACHED.exists():
            raise RuntimeError("%s not built (run make)" % RBLCACHED)
        for name, text in self.lists.items():
            (self.dir / (name + ".list")).write_text(text)
        self.ubpath.write_text("server:\n"
                               "    do-not-query-localhost: no\n"
                               "    qname-minimisation: no\n"
                               '    local-zone: "spamhaus.org." nodefault\n'
                               + "".join("    %s\n" % o for o in
                                         self.ub_extra.splitlines() if o)
                               + self.stubs)
        for _ in range(3):
            self.port = free_port()
            self.confpath.write_text(self.config_text())
            log = open(self.logpath, "ab")
            start = log.tell()
            self.proc = subprocess.Popen(
                [str(RBLCACHED), "-f", "-c", str(self.confpath)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=str(self.dir))
            log.close()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    udp_ask(self.port, BL, "SOA", timeout=0.1)
                    return self
                except (dns.exception.Timeout, dns.query.BadResponse):
                    # no answer yet, or a late one to an earlier probe
                    # reaching this probe's socket on a reused port
                    continue
            self.stop()
            out = self.logpath.read_bytes()[start:]
            if b"already in use" not in out:
                break
            # the exit(1) need not free what it held: its LeakSanitizer
            # report stays out of the log checked after SIGTERM
            with open(self.logpath, "r+b") as f:
                f.truncate(start)
                f.seek(start)
                f.write(b"(start-up lost a port race, retried)\n")
        raise RuntimeError("rblcached did not start\n" + self.log())

    def stop(self):
        """SIGTERM (SIGKILL after 5 s); the exit status."""
        if self.proc is None:
            return self.rc
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.rc = proc.returncode
        return self.rc

    def reload(self, **changes):
        """Rewrites the config with changes (attributes) and sends SIGHUP;
        waits until the daemon says it reloaded."""
        for k, v in changes.items():
            assert hasattr(self, k), k
            setattr(self, k, v)
        for name, text in self.lists.items():
            (self.dir / (name + ".list")).write_text(text)
        n = self.log().count("configuration reloaded")
        self.confpath.write_text(self.config_text())
        os.kill(self.proc.pid, signal.SIGHUP)
        assert wait_until(lambda: self.log().count("configuration reloaded")
                          > n, 3.0), self.log()

    def log(self):
        try:
            return self.logpath.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, text, timeout=2.0):
        return wait_until(lambda: text in self.log(), timeout)

    # ---- queries ----

    def ask(self, ip, qtype="A", timeout=3.0):
        return udp_ask(self.port, rev(ip), qtype, timeout)

    def timed(self, ip, qtype="A"):
        t0 = time.monotonic()
        r = self.ask(ip, qtype)
        return r, time.monotonic() - t0

    def a(self, ip):
        """The A of ip's name: its value, "NXDOMAIN", or another rcode."""
        return a_of(self.ask(ip))

    def txt(self, ip):
        return txt_of(self.ask(ip, "TXT"))


def started_daemons(cls, prefix):
    """The body of a fixture: yields make(**kw) -> a started cls (an Rblc
    or a subclass); all are stopped after the test, must exit 0 on
    SIGTERM and show no sanitizer report; their logs are printed (shown
    by pytest when a test fails); their directory is removed."""
    made = []
    top = Path(tempfile.mkdtemp(prefix=prefix))

    def make(**kw):
        d = cls(top / ("d%d" % len(made)), **kw)
        made.append(d)
        return d.start()
    try:
        yield make
        bad = []
        for d in made:
            rc = d.stop()
            log = d.log()
            print("----- rblcached log (%s) -----\n%s"
                  % (d.logpath, log[-20000:]))
            marks = [m for m in SANITIZER_MARKS if m in log]
            if rc not in (0, None) or marks:
                bad.append("exit status %s %s" % (rc, marks))
        assert not bad, "rblcached after SIGTERM: %s" % bad
    finally:
        for d in made:
            d.stop()
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def rblc():
    """rblc(sources=[...], stubs=..., ...) -> a started Rblc (see
    started_daemons)."""
    yield from started_daemons(Rblc, "rblup-")


@pytest.fixture
def fault():
    """fault(zone, ...) -> a started FaultDNS for those zones."""
    made = []

    def make(*zones):
        f = FaultDNS(zones).start()
        made.append(f)
        return f
    yield make
    for f in made:
        f.stop()


# --------------------------------------------------------------------------
# scoring: local lists and three real rbldnsd upstreams

ZEN_DATA = """\
$SOA 300 ns.zen.spamhaus.org. hostmaster.zen.spamhaus.org. 1 600 300 86400 60
:127.0.0.2:https://check.spamhaus.org/query/ip/$
192.0.2.4 :127.0.0.4
192.0.2.5 :127.0.0.4
192.0.2.6 :127.0.0.4
192.0.2.7 :127.0.0.4
192.0.2.8 :127.0.0.4
192.0.2.9 :127.0.0.20
192.0.2.11 :127.0.0.11
192.0.2.12 :127.0.0.12
192.0.2.13 :127.0.0.3
192.0.2.15 :127.0.0.4
192.0.2.30 :127.0.0.4
"""
BB_DATA = """\
$SOA 300 ns.barracudacentral.org. hm.barracudacentral.org. 1 600 300 86400 60
:127.0.0.2:Barracuda: $
192.0.2.5
192.0.2.7
192.0.2.8
192.0.2.9
192.0.2.11
192.0.2.12
192.0.2.13
192.0.2.15
192.0.2.16
192.0.2.17 :127.0.0.3
"""
WL_DATA = """\
$SOA 300 ns.list.dnswl.org. hm.list.dnswl.org. 1 600 300 86400 60
192.0.2.8 :127.0.10.2:dnswl
192.0.2.13 :127.0.10.0:dnswl
"""
SCORING_SOURCES = [
    "block*10", "allow*-100", "grey*1",
    "zen.spamhaus.org=127.0.0.[2..11]*3",
    "b.barracudacentral.org=127.0.0.2*2",
    "list.dnswl.org=127.0.[0..255].[1..3]*-5",
]
SCORING_LISTS = {
    "block": "192.0.2.30 :127.0.0.2:manual block\n",
    "allow": "192.0.2.15\n",
    "grey": "192.0.2.6\n192.0.2.7\n192.0.2.9\n192.0.2.16\n192.0.2.17\n",
}


@pytest.fixture(scope="module")
def rbldnsd():
    if not os.access(RBLDNSD, os.X_OK):
        pytest.skip("rbldnsd not installed (tests/deps.sh)")
    r = Rbldnsd({ZEN: ZEN_DATA, BB: BB_DATA, WL: WL_DATA})
    try:
        yield r.start()
    finally:
        r.cleanup()


@pytest.fixture(scope="module")
def scoring(rbldnsd):
    """One daemon for the scoring table: threshold 5."""
    d_dir = Path(tempfile.mkdtemp(prefix="rblup-scoring-"))
    d = Rblc(d_dir, SCORING_SOURCES, stubs=rbldnsd.stub_zones(), threshold=5,
             lists=SCORING_LISTS, timeout_ms=1500)
    try:
        yield d.start()
    finally:
        rc = d.stop()
        log = d.log()
        shutil.rmtree(d_dir, ignore_errors=True)
        assert rc == 0 and not any(m in log for m in SANITIZER_MARKS), log


@pytest.mark.parametrize("ip, want", [
    ("192.0.2.1", "NXDOMAIN"),     # nowhere: 0
    ("192.0.2.4", "NXDOMAIN"),     # zen 3
    ("192.0.2.5", LISTED),         # zen 3 + bb 2 = 5: at the threshold
    ("192.0.2.6", "NXDOMAIN"),     # zen 3 + grey 1 = 4: one below
    ("192.0.2.7", LISTED),         # zen + bb + grey = 6
    ("192.0.2.8", "NXDOMAIN"),     # zen + bb, dnswl -5: 0 (DNSWL override)
    ("192.0.2.9", "NXDOMAIN"),     # zen .20 outside [2..11], bb + grey = 3
    ("192.0.2.11", LISTED),        # zen .11 (edge of [2..11]) + bb = 5
    ("192.0.2.12", "NXDOMAIN"),    # zen .12 outside, bb = 2
    ("192.0.2.13", LISTED),        # zen .3 + bb; dnswl 127.0.10.0 no match
    ("192.0.2.15", "NXDOMAIN"),    # allow -100 + zen + bb
    ("192.0.2.16", "NXDOMAIN"),    # bb + grey = 3
    ("192.0.2.17", "NXDOMAIN"),    # bb .3 fails =127.0.0.2; grey = 1
    ("192.0.2.30", LISTED),        # block 10 (- every negative: 5)
])
def test_scoring_local_and_three_upstreams(scoring, ip, want):
    assert scoring.a(ip) == want, scoring.log()[-3000:]


def test_scoring_txt_names_every_part_and_upstream_txts(scoring):
    t = scoring.txt("192.0.2.5")
    assert t == ("listed: zen.spamhaus.org 127.0.0.4 (+3), "
                 "b.barracudacentral.org 127.0.0.2 (+2); score 5 >= 5; "
                 "zen.spamhaus.org: https://check.spamhaus.org/query/ip/"
                 "192.0.2.5; b.barracudacentral.org: Barracuda: 192.0.2.5")


def test_scoring_txt_of_unlisted_is_nxdomain(scoring):
    assert scoring.txt("192.0.2.8") == "NXDOMAIN"


def test_scoring_answer_is_fast_when_every_upstream_answers(scoring):
    r, t = scoring.timed("192.0.2.7")
    assert a_of(r) == LISTED and t < 0.5     # timeout-ms is 1500


# --------------------------------------------------------------------------
# timeouts, failures: fail open, never SERVFAIL

def test_one_upstream_times_out_verdict_from_the_others(rblc, fault):
    f = fault(ZEN, BB)
    f.set_zone(ZEN, a="127.0.0.4")
    f.set_zone(BB, a="127.0.0.2", delay_ms=3000)
    d = rblc(sources=["zen.spamhaus.org*3", "b.barracudacentral.org*2"],
             stubs=f.stub_zones(), upstreams={BB: "timeout-ms = 300"},
             timeout_ms=1500)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED
    assert 0.29 <= t < 0.45, "answer after %.3f s; bb's timeout-ms is 0.3" % t
    assert d.wait_log("upstream b.barracudacentral.org: no answer within "
                      "timeout-ms")


def test_timed_out_upstream_noted_in_txt(rblc, fault):
    f = fault(ZEN, BB)
    f.set_zone(ZEN, a="127.0.0.4", txt="zen says so")
    f.set_zone(BB, drop=True)
    d = rblc(sources=["zen.spamhaus.org*3", "b.barracudacentral.org*2"],
             stubs=f.stub_zones(), upstreams={BB: "timeout-ms = 250"})
    assert d.txt("192.0.2.4") == (
        "listed: zen.spamhaus.org 127.0.0.4 (+3); score 3 >= 3; "
        "b.barracudacentral.org: no answer in time; "
        "zen.spamhaus.org: zen says so")


def test_timeout_of_a_needed_upstream_gives_nxdomain(rblc, fault):
    f = fault(ZEN, BB)
    f.set_zone(ZEN, a="127.0.0.4")
    f.set_zone(BB, drop=True)
    d = rblc(sources=["zen.spamhaus.org*3", "b.barracudacentral.org*2"],
             stubs=f.stub_zones(), threshold=5, timeout_ms=300)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == "NXDOMAIN" and 0.29 <= t < 0.45, t


def test_all_upstreams_silent_fail_open(rblc, fault):
    f = fault(ZEN, BB, WL)
    for z in (ZEN, BB, WL):
        f.set_zone(z, drop=True)
    d = rblc(sources=["zen.spamhaus.org*3", "b.barracudacentral.org*2",
                      "list.dnswl.org*-5"],
             stubs=f.stub_zones(), timeout_ms=400)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == "NXDOMAIN", "fail open: not SERVFAIL"
    assert 0.39 <= t < 0.6, "answer after %.3f s; timeout-ms is 0.4" % t
    assert f.count(rev("192.0.2.4", ZEN)) >= 1     # it did try


def test_all_upstreams_silent_local_list_still_decides(rblc, fault):
    f = fault(ZEN, WL)
    f.set_zone(ZEN, drop=True)
    f.set_zone(WL, drop=True)
    d = rblc(sources=["block*10", "zen.spamhaus.org*3", "list.dnswl.org*-20"],
             stubs=f.stub_zones(), lists={"block": "192.0.2.4\n"},
             timeout_ms=300)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED and t < 0.45


def test_unreachable_upstream_fails_open(rblc):
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=stubs_text(
        (ZEN, dead_port())), timeout_ms=300)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == "NXDOMAIN" and t < 0.45, (a_of(r), t)


def test_servfail_upstream_fails_open(rblc, fault):
    f = fault(ZEN, BB)
    f.set_zone(ZEN, a="127.0.0.4")
    f.set_zone(BB, rcode="SERVFAIL")
    d = rblc(sources=["zen.spamhaus.org*3", "b.barracudacentral.org*2"],
             stubs=f.stub_zones(), timeout_ms=1000)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED and t < 1.1
    assert d.wait_log("upstream b.barracudacentral.org: lookups fail")


def test_servfail_of_a_needed_upstream_gives_nxdomain(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, rcode="SERVFAIL")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             timeout_ms=1000)
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == "NXDOMAIN" and t < 1.1, (a_of(r), t)


def test_each_upstream_has_its_own_timeout(rblc, fault):
    # zen gives up at 150 ms; bb answers at 300 ms, within its 800 ms:
    # the earlier deadline must not cut the later lookup short
    f = fault(ZEN, BB)
    f.set_zone(ZEN, drop=True)
    f.set_zone(BB, a="127.0.0.2", delay_ms=300)
    d = rblc(sources=["zen.spamhaus.org*3", "b.barracudacentral.org*3"],
             stubs=f.stub_zones(), timeout_ms=1500,
             upstreams={ZEN: "timeout-ms = 150", BB: "timeout-ms = 800"})
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED and 0.29 <= t < 0.6, (a_of(r), t)


def test_late_answer_is_cached_for_the_next_query(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", delay_ms=250)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             timeout_ms=150)
    assert d.a("192.0.2.4") == "NXDOMAIN"          # not in time
    assert f.wait_count(rev("192.0.2.4", ZEN), "A", 1)
    time.sleep(0.3)                                # the answer is in
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED and t < 0.1, (a_of(r), t)
    assert f.count(rev("192.0.2.4", ZEN)) == 1


# --------------------------------------------------------------------------
# error codes: never listed, logged with the list's name

@pytest.mark.parametrize("code, upstream_block, why", [
    ("127.255.255.252", "", "typo in the zone name (127.255.255.252)"),
    ("127.255.255.254", "",
     "queried through a public resolver (127.255.255.254)"),
    ("127.255.255.255", "", "too many queries (127.255.255.255)"),
    ("127.255.255.250", "", "key disabled (127.255.255.250)"),
    ("127.255.255.251", "", "key rejected (127.255.255.251)"),
    ("10.0.0.1", "", "answer outside 127.0.0.0/8"),
    ("127.0.0.99", 'error-codes = { "127.0.0.99" }', "configured error code"),
])
def test_error_code_is_not_listed_and_logged(rblc, fault, code,
                                             upstream_block, why):
    f = fault(ZEN)
    f.set_zone(ZEN, a=code)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             upstreams={ZEN: upstream_block} if upstream_block else None)
    assert d.a("192.0.2.4") == "NXDOMAIN"
    assert d.wait_log("upstream zen.spamhaus.org: refuses us: %s; not "
                      "counted as listed (logged once a minute)" % why)


def test_unconfigured_code_counts_as_listed(rblc, fault):
    # the control for the configured error code above
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.99")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones())
    assert d.a("192.0.2.4") == LISTED and "refuses us" not in d.log()


def test_dnswl_over_quota_is_not_a_whitelisting(rblc, fault):
    f = fault(WL)
    f.set_zone(WL, a="127.0.0.255")
    d = rblc(sources=["block*10", "list.dnswl.org*-20"],
             stubs=f.stub_zones(), lists={"block": "192.0.2.4\n"})
    assert d.a("192.0.2.4") == LISTED
    assert d.wait_log("upstream list.dnswl.org: refuses us: over quota "
                      "(127.0.0.255)")


def test_127_0_0_255_is_an_ordinary_code_outside_dnswl(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.255")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones())
    assert d.a("192.0.2.4") == LISTED


def test_error_code_of_dqs_upstream_logged_under_its_name(rblc, fault):
    f = fault("k3y.zen.dq.spamhaus.net")
    f.set_zone("k3y.zen.dq.spamhaus.net", a="127.255.255.250")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             upstreams={ZEN: 'query-zone = "k3y.zen.dq.spamhaus.net"'})
    assert d.a("192.0.2.4") == "NXDOMAIN"
    assert d.wait_log("upstream zen.spamhaus.org: refuses us: key disabled")


# --------------------------------------------------------------------------
# coalescing, DQS, short-circuit

def test_coalescing_100_concurrent_queries_one_upstream_query(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", delay_ms=200)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             timeout_ms=2000)
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
             for _ in range(10)]
    try:
        for i, s in enumerate(socks):
            for k in range(10):
                q = dns.message.make_query(rev("192.0.2.4"), "A")
                q.id = i * 10 + k
                s.sendto(q.to_wire(), ("127.0.0.1", d.port))
        got = {}
        deadline = time.monotonic() + 5
        while len(got) < 100 and time.monotonic() < deadline:
            ready, _, _ = select.select(socks, [], [], 0.1)
            for s in ready:
                r = dns.message.from_wire(s.recv(4096))
                got[r.id] = a_of(r)
    finally:
        for s in socks:
            s.close()
    assert len(got) == 100 and set(got.values()) == {LISTED}, got
    assert f.names() == {(rev("192.0.2.4", ZEN), "A"): 1}


def test_coalescing_txt_queries(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", txt="why", delay_ms=150)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             timeout_ms=2000)
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
             for _ in range(4)]
    try:
        for i, s in enumerate(socks):
            for k in range(5):
                q = dns.message.make_query(rev("192.0.2.4"), "TXT")
                q.id = i * 5 + k
                s.sendto(q.to_wire(), ("127.0.0.1", d.port))
        got = {}
        deadline = time.monotonic() + 5
        while len(got) < 20 and time.monotonic() < deadline:
            ready, _, _ = select.select(socks, [], [], 0.1)
            for s in ready:
                r = dns.message.from_wire(s.recv(4096))
                got[r.id] = txt_of(r)
    finally:
        for s in socks:
            s.close()
    want = "listed: zen.spamhaus.org 127.0.0.4 (+3); score 3 >= 3; " \
           "zen.spamhaus.org: why"
    assert len(got) == 20 and set(got.values()) == {want}, got
    assert f.names() == {(rev("192.0.2.4", ZEN), "A"): 1,
                         (rev("192.0.2.4", ZEN), "TXT"): 1}


def test_dqs_query_zone_is_queried(rblc, fault):
    dqs = "k3y.zen.dq.spamhaus.net"
    f = fault(dqs, ZEN)
    f.set(rev("192.0.2.4", dqs), a="127.0.0.4", txt="dqs says so")
    f.set_zone(ZEN, a="127.0.0.2")      # must not be asked
    d = rblc(sources=["zen.spamhaus.org=127.0.0.[2..11]*3"],
             stubs=f.stub_zones(),
             upstreams={ZEN: 'query-zone = "%s"' % dqs})
    assert d.a("192.0.2.4") == LISTED
    assert d.txt("192.0.2.4") == (
        "listed: zen.spamhaus.org 127.0.0.4 (+3); score 3 >= 3; "
        "zen.spamhaus.org: dqs says so")
    assert f.names() == {(rev("192.0.2.4", dqs), "A"): 1,
                         (rev("192.0.2.4", dqs), "TXT"): 1}


def test_short_circuit_allow_list_sends_no_query(rblc, fault):
    f = fault(ZEN, BB)
    f.set_zone(ZEN, a="127.0.0.4")
    f.set_zone(BB, a="127.0.0.2")
    d = rblc(sources=["block*10", "allow*-100", "zen.spamhaus.org*3",
                      "b.barracudacentral.org*2"], stubs=f.stub_zones(),
             lists={"allow": "192.0.2.4\n"})
    assert d.a("192.0.2.4") == "NXDOMAIN"
    time.sleep(0.1)
    assert f.total() == 0, f.names()


def test_short_circuit_block_beats_every_negative_upstream(rblc, fault):
    f = fault(WL)
    f.set_zone(WL, a="127.0.10.2")
    d = rblc(sources=["block*10", "list.dnswl.org*-5"], stubs=f.stub_zones(),
             lists={"block": "192.0.2.4 :127.0.0.2:manual block\n"})
    r, t = d.timed("192.0.2.4")
    assert a_of(r) == LISTED and t < 0.1
    time.sleep(0.1)
    assert f.total() == 0, f.names()


def test_short_circuit_upstreams_cannot_reach_threshold(rblc, fault):
    f = fault(ZEN, BB)
    f.set_zone(ZEN, a="127.0.0.4")
    f.set_zone(BB, a="127.0.0.2")
    d = rblc(sources=["zen.spamhaus.org*3", "b.barracudacentral.org*2"],
             stubs=f.stub_zones(), threshold=6)
    assert d.a("192.0.2.4") == "NXDOMAIN"
    time.sleep(0.1)
    assert f.total() == 0, f.names()


def test_no_short_circuit_when_dnswl_can_still_win(rblc, fault):
    # block 10 - dnswl 8 = 2 < 3: the DNSWL must be asked, and it wins
    f = fault(WL)
    f.set_zone(WL, a="127.0.10.2")
    d = rblc(sources=["block*10", "list.dnswl.org*-8"], stubs=f.stub_zones(),
             lists={"block": "192.0.2.4\n"})
    assert d.a("192.0.2.4") == "NXDOMAIN"
    assert f.names() == {(rev("192.0.2.4", WL), "A"): 1}


@pytest.mark.parametrize("ip, want", [("127.0.0.2", LISTED),
                                      ("127.0.0.1", "NXDOMAIN")])
def test_rfc5782_test_points_never_go_upstream(rblc, fault, ip, want):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    f.set(rev("127.0.0.2", ZEN), rcode="NXDOMAIN")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones())
    assert d.a(ip) == want
    time.sleep(0.1)
    assert f.total() == 0, f.names()


# --------------------------------------------------------------------------
# IPv6, TXT, patterns, TTL, TCP

def test_ipv6_address_queried_as_nibbles(rblc, fault):
    ip = "2001:db8::4"
    f = fault(ZEN)
    f.set(rev(ip, ZEN), a="127.0.0.4")
    d = rblc(sources=["zen.spamhaus.org=127.0.0.[2..11]*3"],
             stubs=f.stub_zones())
    assert d.a(ip) == LISTED
    assert d.a("2001:db8::5") == "NXDOMAIN"
    assert f.names() == {(rev(ip, ZEN), "A"): 1,
                         (rev("2001:db8::5", ZEN), "A"): 1}
    assert len(rev(ip, ZEN).split(".")) == 32 + 3


def test_v4_mapped_ipv6_queried_as_ipv4(rblc, fault):
    f = fault(ZEN)
    f.set(rev("192.0.2.4", ZEN), a="127.0.0.4")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones())
    assert d.a("::ffff:192.0.2.4") == LISTED
    assert f.names() == {(rev("192.0.2.4", ZEN), "A"): 1}


def test_txt_explanation_local_and_upstream(rblc, fault):
    f = fault(ZEN, WL)
    f.set(rev("192.0.2.4", ZEN), a="127.0.0.4",
          txt="https://check.spamhaus.org/query/ip/192.0.2.4")
    d = rblc(sources=["block*10", "zen.spamhaus.org=127.0.0.[2..11]*3",
                      "list.dnswl.org*-8"], stubs=f.stub_zones(),
             lists={"block": "192.0.2.4 :127.0.0.2:manual block\n"})
    t = d.txt("192.0.2.4")
    head, sep, tail = t.partition("; score ")
    assert head.startswith("listed: ") and sep, t
    assert sorted(head[len("listed: "):].split(", ")) == [
        'block "manual block" (+10)', "zen.spamhaus.org 127.0.0.4 (+3)"], t
    assert tail == ("13 >= 3; zen.spamhaus.org: "
                    "https://check.spamhaus.org/query/ip/192.0.2.4"), t


def test_txt_false_fetches_no_upstream_txt(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", txt="not wanted")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             upstreams={ZEN: "txt = false"})
    assert d.txt("192.0.2.4") == ("listed: zen.spamhaus.org 127.0.0.4 (+3); "
                                  "score 3 >= 3")
    assert f.names() == {(rev("192.0.2.4", ZEN), "A"): 1}


def test_a_query_fetches_no_upstream_txt(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", txt="why")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones())
    assert d.a("192.0.2.4") == LISTED
    assert f.names() == {(rev("192.0.2.4", ZEN), "A"): 1}


def test_upstream_txt_of_unmatched_source_left_out(rblc, fault):
    f = fault(ZEN, BB)
    f.set_zone(ZEN, a="127.0.0.4", txt="zen txt")
    f.set_zone(BB, a="127.0.0.3", txt="bb txt")     # fails =127.0.0.2
    d = rblc(sources=["zen.spamhaus.org*3", "b.barracudacentral.org="
                      "127.0.0.2*2"], stubs=f.stub_zones())
    assert d.txt("192.0.2.4") == ("listed: zen.spamhaus.org 127.0.0.4 (+3); "
                                  "score 3 >= 3; zen.spamhaus.org: zen txt")


@pytest.mark.parametrize("code, want", [
    ("127.0.0.4", "127.0.0.4"), ("127.0.0.2", "127.0.0.2"),
    ("127.0.0.11", "127.0.0.11"), ("127.0.0.20", "NXDOMAIN"),
    ("127.0.1.4", "NXDOMAIN")])
def test_pattern_and_answer_without_zone_answer(rblc, fault, code, want):
    f = fault(ZEN)
    f.set_zone(ZEN, a=code)
    d = rblc(sources=["zen.spamhaus.org=127.0.0.[2..11]*3"],
             stubs=f.stub_zones(), answer=None)
    assert d.a("192.0.2.4") == want


@pytest.mark.parametrize("codes, want", [
    (["127.0.0.2", "127.0.0.4"], LISTED),        # both patterns: 2 + 2
    (["127.0.0.4"], "NXDOMAIN"),                 # one: 2
    (["127.0.0.2", "127.0.0.3"], "NXDOMAIN"),    # one pattern twice: 2
    (["127.0.0.4", "127.0.0.5", "127.0.0.3"], LISTED),
])
def test_source_repeated_with_two_patterns(rblc, fault, codes, want):
    f = fault(ZEN)
    f.set_zone(ZEN, a=codes)
    d = rblc(sources=["zen.spamhaus.org=127.0.0.[2..3]*2",
                      "zen.spamhaus.org=127.0.0.[4..7]*2"],
             stubs=f.stub_zones(), threshold=4)
    assert d.a("192.0.2.4") == want
    assert f.names() == {(rev("192.0.2.4", ZEN), "A"): 1}


def test_repeated_source_txt_shows_both_matches(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a=["127.0.0.2", "127.0.0.4"])
    d = rblc(sources=["zen.spamhaus.org=127.0.0.[2..3]*2",
                      "zen.spamhaus.org=127.0.0.[4..7]*2"],
             stubs=f.stub_zones(), threshold=4, upstreams={ZEN: "txt = false"})
    assert d.txt("192.0.2.4") == ("listed: zen.spamhaus.org 127.0.0.2 (+2), "
                                  "zen.spamhaus.org 127.0.0.4 (+2); "
                                  "score 4 >= 4")


def test_ttl_never_longer_than_upstream_answer(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", ttl=60)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             zone_extra="ttl = 300")
    r = d.ask("192.0.2.4")
    assert a_of(r) == LISTED and 0 < r.answer[0].ttl <= 60, r.answer


def test_tcp_query_waits_for_upstream(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", delay_ms=100)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             timeout_ms=1000)
    q = dns.message.make_query(rev("192.0.2.4"), "A")
    r = dns.query.tcp(q, "127.0.0.1", port=d.port, timeout=3)
    assert a_of(r) == LISTED


# --------------------------------------------------------------------------
# logging: once a minute per list and kind

def test_failures_logged_once_a_minute(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.255.255.254")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones())
    for i in range(5):
        assert d.a("192.0.2.%d" % (i + 1)) == "NXDOMAIN"
    assert d.wait_log("refuses us")
    assert d.log().count("upstream zen.spamhaus.org: refuses us") == 1


# b.barracudacentral.org and bl.spamcop.net once hashed to the same slot
# of a table shared by every list, and one of them was never logged.
def test_timeouts_of_two_lists_each_logged(rblc, fault):
    f = fault(BB, SPAMCOP)
    f.set_zone(BB, drop=True)
    f.set_zone(SPAMCOP, drop=True)
    d = rblc(sources=["b.barracudacentral.org*2", "bl.spamcop.net*2"],
             stubs=f.stub_zones(), timeout_ms=200, threshold=2)
    assert d.a("192.0.2.4") == "NXDOMAIN"
    assert d.wait_log("upstream b.barracudacentral.org: no answer within")
    assert d.wait_log("upstream bl.spamcop.net: no answer within", 1.0)


# --------------------------------------------------------------------------
# more answers: ANY, NODATA, long TXT, notes

def test_any_query_answers_a_and_explanation(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", txt="why")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones())
    r = d.ask("192.0.2.4", "ANY")
    assert sorted(rd.to_text() for rs in r.answer for rd in rs) == [
        '"listed: zen.spamhaus.org 127.0.0.4 (+3); score 3 >= 3; '
        'zen.spamhaus.org: why"', "127.0.0.2"]


def test_upstream_nodata_is_not_listed(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, txt="a TXT but no A")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones())
    assert d.a("192.0.2.4") == "NXDOMAIN"
    assert "upstream zen.spamhaus.org" not in d.log()


def test_error_code_noted_in_txt_of_locally_listed(rblc, fault):
    f = fault(ZEN, WL)
    f.set_zone(ZEN, a="127.255.255.254", txt="public resolver")
    d = rblc(sources=["block*10", "zen.spamhaus.org*3", "list.dnswl.org*-8"],
             stubs=f.stub_zones(), lists={"block": "192.0.2.4\n"})
    assert d.txt("192.0.2.4") == ("listed: block (+10); score 10 >= 3; "
                                  "zen.spamhaus.org: error code")


def test_long_explanation_split_into_strings(rblc, fault):
    up_txt = "u" * 200
    f = fault(ZEN, WL)
    f.set_zone(ZEN, a="127.0.0.4", txt=up_txt)
    d = rblc(sources=["block*10", "zen.spamhaus.org*3", "list.dnswl.org*-8"],
             stubs=f.stub_zones(),
             lists={"block": "192.0.2.4 :127.0.0.2:%s\n" % ("b" * 200)})
    q = dns.message.make_query(rev("192.0.2.4"), "TXT", use_edns=0,
                               payload=1232)
    r = dns.query.udp(q, "127.0.0.1", port=d.port, timeout=3)
    recs = [rd for rs in r.answer for rd in rs]
    assert len(recs) == 1, recs
    strings = recs[0].strings
    assert len(strings) == 2 and all(len(x) <= 255 for x in strings)
    t = b"".join(strings).decode()
    assert t.endswith("; zen.spamhaus.org: " + up_txt), t
    assert 'block "%s" (+10)' % ("b" * 200) in t, t


# --------------------------------------------------------------------------
# max-pending, reloads

def test_max_pending_zero_answers_from_local_lists(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4")
    d = rblc(sources=["block*10", "zen.spamhaus.org*3", "list.dnswl.org*-8"],
             stubs=f.stub_zones(), lists={"block": "192.0.2.5\n"},
             resolver_extra="max-pending = 0")
    assert d.a("192.0.2.4") == "NXDOMAIN"          # zen never asked
    assert d.a("192.0.2.5") == LISTED
    assert f.total() == 0, f.names()


def test_max_pending_one_per_worker(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", delay_ms=250)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             timeout_ms=1000, workers=1, resolver_extra="max-pending = 1")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t0 = time.monotonic()
        for i in range(3):
            q = dns.message.make_query(rev("192.0.2.%d" % (i + 1)), "A")
            q.id = i
            s.sendto(q.to_wire(), ("127.0.0.1", d.port))
        got = {}
        s.settimeout(2)
        while len(got) < 3:
            r = dns.message.from_wire(s.recv(4096))
            got[r.id] = (a_of(r), round(time.monotonic() - t0, 3))
    finally:
        s.close()
    # one waits for zen; the two beyond max-pending are answered at once
    # from local lists alone
    fast = [rc for rc, t in got.values() if t < 0.15]
    assert fast == ["NXDOMAIN", "NXDOMAIN"], got


def test_reload_while_waiting_for_upstream(rblc, fault):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", delay_ms=300)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             timeout_ms=1500)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(3)
        s.sendto(dns.message.make_query(rev("192.0.2.4"), "A").to_wire(),
                 ("127.0.0.1", d.port))
        assert f.wait_count(rev("192.0.2.4", ZEN), "A", 1)
        d.reload(threshold=4)           # the parked query keeps its config
        r = dns.message.from_wire(s.recv(4096))
    finally:
        s.close()
    assert a_of(r) == LISTED
    assert d.a("192.0.2.4") == "NXDOMAIN"      # the new threshold


def test_reload_adds_upstream_source(rblc, fault):
    f = fault(ZEN, BB)
    f.set_zone(ZEN, a="127.0.0.4")
    f.set_zone(BB, a="127.0.0.2")
    d = rblc(sources=["block*10", "zen.spamhaus.org*3"], stubs=f.stub_zones(),
             threshold=5)
    assert d.a("192.0.2.4") == "NXDOMAIN"
    d.reload(sources=["block*10", "zen.spamhaus.org*3",
                      "b.barracudacentral.org*2"])
    assert d.a("192.0.2.4") == LISTED
    assert f.count(rev("192.0.2.4", BB)) == 1


# --------------------------------------------------------------------------
# concurrency: many distinct lookups in flight at once

def burst(d, ips, qtype="A"):
    """Sends one query for each ip at once (4 sockets); {ip: answer}."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
             for _ in range(4)]
    got = {}
    try:
        for i, ip in enumerate(ips):
            q = dns.message.make_query(rev(ip), qtype)
            q.id = i
            socks[i % 4].sendto(q.to_wire(), ("127.0.0.1", d.port))
        deadline = time.monotonic() + 5
        while len(got) < len(ips) and time.monotonic() < deadline:
            ready, _, _ = select.select(socks, [], [], 0.1)
            for s in ready:
                r = dns.message.from_wire(s.recv(4096))
                got[ips[r.id]] = a_of(r)
    finally:
        for s in socks:
            s.close()
    return got


def transports(f, name, qtype):
    """The transports ("udp", "tcp") f was asked name/qtype over."""
    with f.lock:
        return [t for _, n, ty, t in f.log if n == name and ty == qtype]


def test_truncated_upstream_answer_is_fetched_over_tcp(rblc, fault):
    # libunbound's TCP fallback runs on rblcached's own event loop: a TXT
    # too big for UDP comes back with TC, then in full over TCP
    f = fault(ZEN)
    name = rev("192.0.2.4", ZEN)
    big = ["https://check.example/%03d/%s" % (i, "x" * 150) for i in range(12)]
    f.set(name, a="127.0.0.4", txt=big)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones())
    t = d.txt("192.0.2.4")
    assert t.startswith("listed: zen.spamhaus.org 127.0.0.4 (+3); score 3 >= 3;"
                        " zen.spamhaus.org: https://check.example/"), t
    assert transports(f, name, "TXT") == ["udp", "tcp"], f.log


def test_tcp_upstream_only(rblc, fault):
    # every upstream query over TCP (libunbound's tcp-upstream): connect,
    # write and read events with their timeouts, answers as over UDP
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", txt="over tcp")
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             ub_extra="tcp-upstream: yes")
    for ip in ("192.0.2.4", "192.0.2.5", "192.0.2.6"):
        assert d.a(ip) == LISTED
    assert d.txt("192.0.2.7").endswith("zen.spamhaus.org: over tcp")
    asked = [t for _, n, ty, t in f.log]
    assert asked and set(asked) == {"tcp"}, f.log


BURST = ["10.1.%d.%d" % (i // 250, i % 250 + 1) for i in range(64)]


def test_burst_of_distinct_misses_with_more_ports(rblc, fault):
    # the control for the next case: libunbound allowed many ports
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", delay_ms=150)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             timeout_ms=400, ub_extra="outgoing-range: 1024")
    got = burst(d, BURST)
    assert Counter(got.values()) == {LISTED: 64}, got


def test_burst_of_distinct_misses_all_answered_in_time(rblc, fault):
    # 64 cache misses at once, every one answered by upstream in 150 ms:
    # all must be in well within timeout-ms 400
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", delay_ms=150)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             timeout_ms=400)
    got = burst(d, BURST)
    assert Counter(got.values()) == {LISTED: 64}, got
