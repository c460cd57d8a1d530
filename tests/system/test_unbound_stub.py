"""The Unbound stub zone of README.md, run: a mail host's validating
Unbound reaches rblcached through exactly the documented lines.

The Unbound here validates from the root trust anchor, as Debian's does,
and its root is a stub at a loopback port where nothing answers, so no
query leaves the host.  Each case takes the README block, optionally
without one of its lines to show why that line is there.
"""

import os
import subprocess
import time

import dns.exception
import dns.message
import dns.query
import pytest

from rbltest import (BL, BL_ANSWER, NOERROR, NXDOMAIN, free_port,
                     readme_block, rev, rrs, stop_process, txts)
from test_rblctl import ok

UNBOUND = "/usr/sbin/unbound"
SNIPPET = readme_block("# /etc/unbound/unbound.conf.d/rblcache.conf")
SERVFAIL = 2
# the root key's DS (IANA, KSK-2017), what Debian's dns-root-data ships
ROOT_DS = (". DS 20326 8 2 "
           "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D")


class Unbound:
    """unbound -d on 127.0.0.1:port with the README block (rblcached's
    port put in) after a server clause of its own."""

    def __init__(self, directory, rbl_port, without=None):
        self.dir = directory
        snippet = SNIPPET.replace("127.0.0.1@5300", "127.0.0.1@%d" % rbl_port)
        assert snippet != SNIPPET, "README block names no 127.0.0.1@5300"
        if without:
            lines = snippet.splitlines()
            snippet = "\n".join(x for x in lines if without not in x) + "\n"
            assert len(snippet.splitlines()) == len(lines) - 1, without
        self.snippet = snippet
        self.port = None
        self.proc = None
        self.logpath = directory / "unbound.log"

    def config(self):
        return ("server:\n"
                "    interface: 127.0.0.1\n"
                "    port: %d\n"
                "    do-daemonize: no\n"
                "    use-syslog: no\n"
                '    logfile: ""\n'
                '    username: ""\n'
                '    chroot: ""\n'
                '    pidfile: ""\n'
                '    directory: "%s"\n'
                "    num-threads: 1\n"
                '    trust-anchor: "%s"\n'
                "stub-zone:\n"
                '    name: "."\n'
                "    stub-addr: 127.0.0.1@%d\n"
                % (self.port, self.dir, ROOT_DS, free_port(v6=False))
                + self.snippet)

    def start(self):
        if not os.access(UNBOUND, os.X_OK):
            pytest.skip("unbound not installed (tests/deps.sh)")
        conf = self.dir / "unbound.conf"
        for _ in range(3):
            self.port = free_port(v6=False)
            conf.write_text(self.config())
            with open(self.logpath, "ab") as log:
                self.proc = subprocess.Popen(
                    [UNBOUND, "-d", "-c", str(conf)], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=log)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    self.ask("version.server", "TXT", rdclass="CH",
                             timeout=0.2)
                    return self
                except dns.exception.Timeout:
                    continue
            self.stop()
        raise RuntimeError("unbound did not start:\n" + self.log())

    def ask(self, name, rdtype="A", rdclass="IN", timeout=5.0):
        q = dns.message.make_query(name, rdtype, rdclass)
        return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=timeout)

    def stop(self):
        if self.proc is not None:
            proc, self.proc = self.proc, None
            stop_process(proc)

    def log(self):
        try:
            return self.logpath.read_text(errors="replace")
        except OSError:
            return ""


@pytest.fixture
def unbound(rbl, tmp_path):
    """unbound(without=LINE) -> a started Unbound in front of rbl (its
    lists already written); stopped after the test, its log printed."""
    made = []

    def make(without=None):
        d = tmp_path / ("unbound%d" % len(made))
        d.mkdir()
        u = Unbound(d, rbl.port, without)
        made.append(u)
        return u.start()
    try:
        yield make
    finally:
        for u in made:
            u.stop()
            print("----- unbound log (%s) -----\n%s" % (u.logpath, u.log()))


@pytest.fixture
def listed(rbl):
    return rbl.lists(block="192.0.2.10 :127.0.0.2:Spam source $\n")


def test_listed_and_unlisted_through_unbound(listed, unbound):
    u = unbound()
    r = u.ask(rev("192.0.2.10"))
    assert r.rcode() == NOERROR and rrs(r, "A") == [BL_ANSWER], r
    r = u.ask(rev("192.0.2.10"), "TXT")
    assert txts(r) == ["Spam source 192.0.2.10"], r
    assert u.ask(rev("192.0.2.11")).rcode() == NXDOMAIN


def test_ipv6_through_unbound(listed, unbound):
    listed.write_list("block", "2001:db8::10\n")
    listed.reload()
    u = unbound()
    deadline = time.monotonic() + 3
    while rrs(u.ask(rev("2001:db8::10")), "A") != [BL_ANSWER]:
        assert time.monotonic() < deadline, "not listed after reload"
        time.sleep(0.05)


def test_rblctl_edit_seen_through_unbound_at_once(listed, unbound):
    u = unbound()
    assert u.ask(rev("192.0.2.30")).rcode() == NXDOMAIN
    ok(listed, "add", "block", "192.0.2.30/32")
    assert rrs(u.ask(rev("192.0.2.30")), "A") == [BL_ANSWER]


@pytest.mark.parametrize("line", ["do-not-query-localhost", "domain-insecure"])
def test_without_the_line_unbound_fails(listed, unbound, line):
    # SERVFAIL, or (still trying to validate) no answer in time: either
    # way a mail server's lookup fails
    try:
        r = unbound(without=line).ask(rev("192.0.2.10"), timeout=3.0)
    except dns.exception.Timeout:
        return
    assert r.rcode() == SERVFAIL, r


def test_without_stub_no_cache_unbound_hides_an_rblctl_edit(listed, unbound):
    u = unbound(without="stub-no-cache")
    assert u.ask(rev("192.0.2.30")).rcode() == NXDOMAIN
    ok(listed, "add", "block", "192.0.2.30/32")
    assert u.ask(rev("192.0.2.30")).rcode() == NXDOMAIN   # Unbound's cache


def test_zone_apex_through_unbound(listed, unbound):
    assert rrs(unbound().ask(BL, "SOA"), "SOA")

