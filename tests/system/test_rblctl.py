"""rblctl against the real rblcached: every command, its errors, run-time
entries (answers at once, expiry, durability across SIGTERM, kill -9,
torn journal records, a full or read-only state-dir), the control socket
(permissions, a second daemon, stale sockets) and hostile clients.

rblctl is taken from the same build directory as rblcached
(RBLCACHE_BUILD).  Every wait is bounded; the only processes signalled are
the daemons these tests start, by pid; a tmpfs mounted here is unmounted
in a finally.
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import stat
import statistics
import subprocess
import tempfile
import threading
import time
import zlib

import pytest

from rbltest import (BL, BL_ANSWER, BUILD, DEFAULT_ZONES, NOERROR, NXDOMAIN,
                     WL, WL_ANSWER, Rbl, rev, rrs, txts, wait_until)

RBLCTL = BUILD / "rblctl"
CTL_TIMEOUT = 15.0
HOST = socket.gethostname()[:55]      # JOURNAL_ORIGIN_MAX - 8 - 1
ORIGIN = "rblctl@" + HOST
VALID = "add, check, del, flush, list, reload, stats"
BUSY = b"error\ttoo many control connections; try again\n"
ISO_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


# --------------------------------------------------------------------------
# helpers

def ctl(rbl, *args, timeout=CTL_TIMEOUT, sock=None, **kw):
    """Runs rblctl -s SOCKET ARGS; (exit status, stdout, stderr)."""
    if not RBLCTL.exists():
        raise RuntimeError("%s not built (make build/rblctl)" % RBLCTL)
    p = subprocess.run([str(RBLCTL), "-s", str(sock or rbl.control), *args],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, **kw)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def ok(rbl, *args):
    """rblctl that must succeed silently on stderr; its stdout."""
    rc, out, err = ctl(rbl, *args)
    assert (rc, err) == (0, ""), (args, rc, out, err)
    return out


def jok(rbl, *args):
    return json.loads(ok(rbl, "--json", *args))


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def listed(rbl, ip, zone=BL, answer=BL_ANSWER):
    r = rbl.query(rev(ip, zone), "A")
    return r.rcode() == NOERROR and rrs(r, "A") == [answer]


def nx(rbl, ip, zone=BL):
    return rbl.query(rev(ip, zone), "A").rcode() == NXDOMAIN


def runtime_entries(rbl, name="block"):
    """{cidr: entry} of the run-time entries `list --json` shows."""
    doc = jok(rbl, "list", name)
    return {e["cidr"]: e for e in doc["entries"] if e["origin"] == "rblctl"}


def recv_all(s, limit=1 << 22):
    buf = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
        assert len(buf) < limit, "reply larger than %d bytes" % limit
    return buf


def connect_unix(path, timeout=5.0):
    """A connected AF_UNIX socket with a timeout.  A non-blocking connect
    fails with EAGAIN while the listen backlog is full: retried until
    timeout, as rblctl's blocking connect waits."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)
        except BaseException:
            s.close()
            raise


def raw_ctl(path, data, shut=True, timeout=5.0):
    """One raw AF_UNIX exchange: sends data, reads the reply to EOF."""
    s = connect_unix(path, timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if shut:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        return recv_all(s)
    finally:
        s.close()


def req(*fields):
    return ("\t".join(("rblctl/1",) + fields) + "\n").encode()


def journal_records(path):
    """The records of a journal file, every complete line's CRC checked:
    (list of (kind, fields), torn tail bytes)."""
    data = path.read_bytes()
    header = b"# rblcache journal v1\n"
    assert data.startswith(header), data[:60]
    body = data[len(header):]
    lines = body.split(b"\n")
    tail = lines.pop()          # b"" when the file ends in a newline
    out = []
    for ln in lines:
        if not ln or ln.startswith(b"#"):
            continue
        f = ln.split(b" ")
        assert f[0] in (b"add", b"del"), ln
        crc = b"%08x" % zlib.crc32(b" ".join([f[0]] + f[2:]))
        assert f[1] == crc, "bad CRC in %r (want %s)" % (ln, crc)
        out.append((f[0].decode(), [x.decode() for x in f[2:]]))
    return out, tail


class DnsProbe(threading.Thread):
    """Queries a listed name until stopped; records every failure."""

    def __init__(self, rbl, ip):
        super().__init__(daemon=True)
        self.rbl, self.name = rbl, rev(ip)
        self.stop_ev = threading.Event()
        self.count = 0
        self.failures = []

    def run(self):
        while not self.stop_ev.is_set():
            try:
                r = self.rbl.query(self.name, "A", timeout=1.0)
                if rrs(r, "A") != [BL_ANSWER]:
                    self.failures.append(r.to_text())
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.failures.append(repr(e))
            self.count += 1
            time.sleep(0.01)

    def finish(self):
        self.stop_ev.set()
        self.join(5)
        assert not self.is_alive()
        assert self.count > 0
        assert self.failures == [], self.failures[:5]


def mount_tmpfs(path, size="48k"):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size,
                        "tmpfs", str(path)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s" % p.stderr.decode().strip())


def umount(path):
    subprocess.run(["umount", str(path)], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, timeout=10)


FILE_BLOCK = ("192.0.2.0/24 :127.0.0.3:file reason $\n"
              "# a comment\n"
              "198.51.100.7\n")


# --------------------------------------------------------------------------
# 1. every command, text and JSON

def test_add_list_del_text_and_json(rbl):
    rbl.lists(block=FILE_BLOCK)
    bpath = rbl.path("block")
    assert ok(rbl, "add", "block", "203.0.113.0/24", "--reason",
              "spam $ run") == "added 203.0.113.0/24 to block\n"
    out = ok(rbl, "add", "block", "203.0.114.1", "--for", "1h")
    m = re.fullmatch(r"added 203\.0\.114\.1/32 to block, expires (%s)\n"
                     % ISO_RE, out)
    assert m, out
    j = jok(rbl, "add", "block", "2001:db8:5::/48", "--reason", "v6")
    assert set(j) == {"list", "cidr", "added", "expires"}
    assert (j["list"], j["cidr"], j["expires"]) == ("block", "2001:db8:5::/48", 0)
    assert abs(j["added"] - time.time()) < 5

    doc = jok(rbl, "list", "block")
    assert (doc["list"], doc["file"]) == ("block", str(bpath))
    ents = doc["entries"]
    assert ents[:2] == [
        {"origin": "file", "line": 1,
         "text": "192.0.2.0/24 :127.0.0.3:file reason $"},
        {"origin": "file", "line": 3, "text": "198.51.100.7"}]
    rt = {e["cidr"]: e for e in ents[2:]}
    assert [e["origin"] for e in ents[2:]] == ["rblctl"] * 3
    assert set(rt) == {"203.0.113.0/24", "203.0.114.1/32", "2001:db8:5::/48"}
    for e in rt.values():
        assert set(e) == {"origin", "cidr", "added", "expires", "by", "reason"}
        assert e["by"] == ORIGIN
    e1, e2, e3 = (rt["203.0.113.0/24"], rt["203.0.114.1/32"],
                  rt["2001:db8:5::/48"])
    assert (e1["expires"], e1["reason"]) == (0, "spam $ run")
    assert e2["expires"] - e2["added"] == 3600 and e2["reason"] == ""
    assert iso(e2["expires"]) == m.group(1)
    assert e3["reason"] == "v6"

    text = ok(rbl, "list", "block")
    want = [
        '# list "block": file %s, then run-time entries' % bpath,
        "192.0.2.0/24 :127.0.0.3:file reason $\tfile %s:1" % bpath,
        "198.51.100.7\tfile %s:3" % bpath,
    ]
    # run-time entries in the journal's order: family, address, length
    want += [
        "203.0.113.0/24\trblctl by %s, added %s, never expires: spam $ run"
        % (ORIGIN, iso(e1["added"])),
        "203.0.114.1/32\trblctl by %s, added %s, expires %s"
        % (ORIGIN, iso(e2["added"]), iso(e2["expires"])),
        "2001:db8:5::/48\trblctl by %s, added %s, never expires: v6"
        % (ORIGIN, iso(e3["added"])),
    ]
    assert text.splitlines() == want

    assert ok(rbl, "del", "block", "203.0.114.1") == \
        "deleted 203.0.114.1/32 from block\n"
    assert jok(rbl, "del", "block", "2001:db8:5::/48") == \
        {"list": "block", "cidr": "2001:db8:5::/48", "deleted": True}
    assert set(runtime_entries(rbl)) == {"203.0.113.0/24"}
    # the allow list, empty file, nothing at run time
    assert jok(rbl, "list", "allow") == {"list": "allow",
                                         "file": str(rbl.path("allow")),
                                         "entries": []}
    assert ok(rbl, "list", "allow") == \
        '# list "allow": file %s, then run-time entries\n' % rbl.path("allow")


def test_check_text_and_json(rbl):
    rbl.lists(block=FILE_BLOCK, allow="192.0.2.9\n")
    ok(rbl, "add", "block", "203.0.113.0/24", "--reason", "spam $ run")

    out = ok(rbl, "check", "203.0.113.5")
    assert out.splitlines() == [
        "203.0.113.5",
        "zone %s: LISTED (score 10, threshold 3)" % BL,
        "  list     block                        +10  run-time entry "
        "203.0.113.0/24 by %s, never expires: spam $ run" % ORIGIN,
        "  list     allow                        (-100  no entry",
        '  mail server sees: A 127.0.0.2, TXT "spam $ run"',
        "  (reject_rbl_client %s rejects; the TXT is $rbl_reason)" % BL,
        "zone %s: not listed (score 0, threshold 1)" % WL,
        "  list     allow                        (+1  no entry",
        "  mail server sees: NXDOMAIN (not listed)",
    ]
    doc = jok(rbl, "check", "203.0.113.5")
    assert doc["ip"] == "203.0.113.5"
    bl, wl = doc["zones"]
    assert bl == {
        "zone": BL, "listed": True, "score": 10, "threshold": 3,
        "sources": [
            {"source": "block", "kind": "list", "weight": 10, "counted": True,
             "detail": "run-time entry 203.0.113.0/24 by %s, never expires: "
                       "spam $ run" % ORIGIN},
            {"source": "allow", "kind": "list", "weight": -100,
             "counted": False, "detail": "no entry"}],
        "answer": {"rcode": 0, "a": ["127.0.0.2"], "txt": "spam $ run"}}
    assert wl == {
        "zone": WL, "listed": False, "score": 0, "threshold": 1,
        "sources": [{"source": "allow", "kind": "list", "weight": 1,
                     "counted": False, "detail": "no entry"}],
        "answer": {"rcode": 3, "a": [], "txt": ""}}

    # a file entry ($ expanded), an allowed one, one nobody lists
    out = ok(rbl, "check", "192.0.2.5")
    assert ("  list     block                        +10  entry in %s "
            '"file reason 192.0.2.5"' % rbl.path("block")) in out.splitlines()
    assert '  mail server sees: A 127.0.0.2, TXT "file reason 192.0.2.5"' \
        in out.splitlines()
    doc = jok(rbl, "check", "192.0.2.9")
    bl, wl = doc["zones"]
    assert (bl["listed"], bl["score"], bl["answer"]["rcode"]) == (False, -90, 3)
    assert [s["counted"] for s in bl["sources"]] == [True, True]
    assert (wl["listed"], wl["answer"]["a"]) == (True, [WL_ANSWER])
    out = ok(rbl, "check", "10.0.0.1")
    assert out.count("mail server sees: NXDOMAIN (not listed)") == 2
    # an IPv4-mapped address is checked as the IPv4 address
    assert ok(rbl, "check", "::ffff:203.0.113.5").splitlines()[:2] == \
        ["203.0.113.5", "zone %s: LISTED (score 10, threshold 3)" % BL]


def test_stats_reload_flush_text_and_json(rbl):
    rbl.lists(block="192.0.2.1\n")
    before = jok(rbl, "stats")
    assert all(isinstance(v, int) for v in before.values())
    for k in ("queries", "answered", "listed", "not_listed", "runtime_entries",
              "cache_hits", "cache_misses", "redis_configured", "redis_up"):
        assert k in before, k
    assert listed(rbl, "192.0.2.1") and nx(rbl, "192.0.2.2")
    ok(rbl, "add", "block", "198.51.100.0/24")
    after = jok(rbl, "stats")
    assert after["queries"] - before["queries"] == 2
    assert after["answered"] - before["answered"] == 2
    assert after["listed"] - before["listed"] == 1
    assert after["not_listed"] - before["not_listed"] == 1
    assert (before["runtime_entries"], after["runtime_entries"]) == (0, 1)
    assert after["redis_configured"] == 0

    text = ok(rbl, "stats")
    lines = text.splitlines()
    # a broken-down figure is name{label="value",...}
    assert all(re.fullmatch(r'[a-z0-9_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})?'
                            r" +\d+", ln) for ln in lines), text
    pairs = dict((ln.split()[0], int(ln.split()[1])) for ln in lines)
    assert list(pairs) == list(after)           # same names, same order
    assert pairs["runtime_entries"] == 1
    assert pairs["queries"] == after["queries"]
    # unique prefixes
    # no query in between: only the count of rblctl commands moved
    def uncounted(t):
        return [ln for ln in t.splitlines()
                if not ln.startswith("control_commands{")]
    assert uncounted(ok(rbl, "st")) == uncounted(text)
    assert ok(rbl, "s").splitlines()[0].split()[0] == "queries"

    mark = len(rbl.log())
    assert ok(rbl, "reload") == "reloaded\n"
    assert jok(rbl, "reload") == {"reloaded": True}
    assert ok(rbl, "r") == "reloaded\n"
    assert rbl.log()[mark:].count("configuration reloaded") == 3

    assert ok(rbl, "flush") == "flushed 0 cache entries\n"
    assert ok(rbl, "flush", "192.0.2.1") == \
        "flushed 0 cache entries for 192.0.2.1\n"
    assert ok(rbl, "flush", "2001:db8::1") == \
        "flushed 0 cache entries for 2001:db8::1\n"
    assert jok(rbl, "flush") == {"flushed": 0}
    assert jok(rbl, "flush", "192.0.2.1") == {"flushed": 0}
    assert "cache flushed for 192.0.2.1 by rblctl: 0 entries" in rbl.log()
    # the run-time entry outlived the reloads
    assert listed(rbl, "198.51.100.9")


def test_help_and_env_socket(rbl):
    rbl.lists()
    rc, out, err = ctl(rbl, "-h")
    assert rc == 0 and out.startswith("usage: rblctl [-s SOCKET] [--json]")
    for c in VALID.split(", "):
        assert "\n  %s" % c in out
    # $RBLCTL_SOCKET when -s is not given
    env = dict(os.environ, RBLCTL_SOCKET=str(rbl.control))
    p = subprocess.run([str(RBLCTL), "reload"], env=env, timeout=CTL_TIMEOUT,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"reloaded\n", b"")


# --------------------------------------------------------------------------
# 2. add answers at once, and fast

def test_add_answers_at_once_with_reason_verbatim(rbl):
    rbl.lists(block=FILE_BLOCK)
    ip = "203.0.113.77"
    # asked first: nothing cached may hide the new entry
    assert nx(rbl, ip) and rbl.query(rev(ip), "TXT").rcode() == NXDOMAIN
    ok(rbl, "add", "block", "203.0.113.64/26", "--reason",
       "spam run $ 100% see https://example.org/a?b=c")
    r = rbl.query(rev(ip), "A")
    assert r.rcode() == NOERROR and rrs(r, "A") == [BL_ANSWER]
    assert txts(rbl.query(rev(ip), "TXT")) == \
        ["spam run $ 100% see https://example.org/a?b=c"]
    assert listed(rbl, ip, zone=BL) and nx(rbl, ip, zone=WL)
    # over TCP too
    assert rrs(rbl.query(rev(ip), "A", tcp=True), "A") == [BL_ANSWER]
    # a run-time entry wins over the file's for the TXT of its addresses;
    # the file's other addresses keep the file's text
    ok(rbl, "add", "block", "192.0.2.5", "--reason", "rt reason")
    assert txts(rbl.query(rev("192.0.2.5"), "TXT")) == ["rt reason"]
    assert txts(rbl.query(rev("192.0.2.6"), "TXT")) == ["file reason 192.0.2.6"]
    # a replaced entry answers with its new reason at once
    ok(rbl, "add", "block", "203.0.113.64/26", "--reason", "second")
    assert txts(rbl.query(rev(ip), "TXT")) == ["second"]
    assert len(runtime_entries(rbl)) == 2
    assert 'list "block": 203.0.113.64/26 added by rblctl: second' in rbl.log()


def test_add_round_trip_median_under_100ms(rbl):
    rbl.lists()
    times = []
    for i in range(20):
        ip = "198.51.100.%d" % (i + 1)
        assert nx(rbl, ip)
        t0 = time.monotonic()
        rc, out, err = ctl(rbl, "add", "block", ip, "--reason", "r%d" % i)
        r = rbl.query(rev(ip), "A")
        times.append(time.monotonic() - t0)
        assert (rc, out, err) == (0, "added %s/32 to block\n" % ip, "")
        # the first query after the reply is already answered from it
        assert r.rcode() == NOERROR and rrs(r, "A") == [BL_ANSWER], i
    med = statistics.median(times)
    print("add + first query: median %.1f ms, max %.1f ms"
          % (med * 1000, max(times) * 1000))
    assert med < 0.100, times


# --------------------------------------------------------------------------
# 3. del

def test_del_then_nxdomain_and_errors(rbl):
    rbl.lists(block=FILE_BLOCK)
    bpath = rbl.path("block")
    ok(rbl, "add", "block", "203.0.113.0/24")
    assert listed(rbl, "203.0.113.1")
    assert ok(rbl, "del", "block", "203.0.113.0/24") == \
        "deleted 203.0.113.0/24 from block\n"
    assert nx(rbl, "203.0.113.1")
    assert "list \"block\": 203.0.113.0/24 deleted by rblctl" in rbl.log()
    # again: it is gone
    assert ctl(rbl, "del", "block", "203.0.113.0/24") == (
        1, "", "rblctl: no run-time entry 203.0.113.0/24 in block (entries "
        "from %s are changed by editing that file)\n" % bpath)
    # an entry of the file cannot be deleted at run time, and stays
    assert ctl(rbl, "del", "block", "192.0.2.0/24") == (
        1, "", "rblctl: no run-time entry 192.0.2.0/24 in block (entries "
        "from %s are changed by editing that file)\n" % bpath)
    assert listed(rbl, "192.0.2.1")
    # a different prefix length is a different entry
    ok(rbl, "add", "block", "203.0.113.0/25")
    rc, _, err = ctl(rbl, "del", "block", "203.0.113.0/24")
    assert rc == 1 and "no run-time entry 203.0.113.0/24 in block" in err
    assert listed(rbl, "203.0.113.1")
    # list names are matched without case; the name shown is the config's
    assert ok(rbl, "del", "BLOCK", "203.0.113.0/25") == \
        "deleted 203.0.113.0/25 from block\n"
    assert nx(rbl, "203.0.113.1") and runtime_entries(rbl) == {}


# --------------------------------------------------------------------------
# 4. error paths

DAEMON_ERRORS = [
    (("add", "nope", "192.0.2.0/24"), 'unknown list "nope"; lists: block, allow'),
    (("del", "nope", "192.0.2.0/24"), 'unknown list "nope"; lists: block, allow'),
    (("list", "nope"), 'unknown list "nope"; lists: block, allow'),
    (("add", "block", "192.0.2.1", "--reason", "x" * 255),
     "reason too long (at most 254 bytes)"),
]


@pytest.mark.parametrize("args,msg", DAEMON_ERRORS)
def test_daemon_side_errors_exit_1(rbl, args, msg):
    rbl.lists()
    assert ctl(rbl, *args) == (1, "", "rblctl: %s\n" % msg)
    assert ctl(rbl, "--json", *args) == (1, "", "rblctl: %s\n" % msg)
    assert runtime_entries(rbl) == {} and rbl.answers()


USAGE_ERRORS = [
    (("add", "block", "192.0.2.1/24"), "192.0.2.1/24: host bits set"),
    (("add", "block", "2001:db8:5::1/48"), "2001:db8:5::1/48: host bits set"),
    (("add", "block", "bad"), "bad: bad address"),
    (("add", "block", "1.2.3.4", "--for", "2x"),
     'bad duration "2x": want a number with an optional unit s, m, h, d or w '
     "(e.g. 90, 30s, 7d), more than zero and at most 100 years"),
    (("add", "block", "1.2.3.4", "--for", "0"),
     'bad duration "0": want a number with an optional unit s, m, h, d or w '
     "(e.g. 90, 30s, 7d), more than zero and at most 100 years"),
    (("x",), 'unknown command "x"; valid: %s' % VALID),
    (("",), 'unknown command ""; valid: %s' % VALID),
    (("addx", "block", "1.2.3.4"), 'unknown command "addx"; valid: %s' % VALID),
    (("add",), "missing arguments; usage: rblctl add LIST CIDR "
     "[--for DURATION] [--reason TEXT]"),
    (("add", "block"), "missing arguments; usage: rblctl add LIST CIDR "
     "[--for DURATION] [--reason TEXT]"),
    (("check",), "missing arguments; usage: rblctl check IP"),
]


@pytest.mark.parametrize("args,msg", USAGE_ERRORS)
def test_usage_errors_exit_2_without_a_daemon(tmp_path, args, msg):
    # nothing listens there: exit 2 and the message prove nothing was sent
    rc, out, err = ctl(None, *args, sock=tmp_path / "none.sock")
    assert (rc, out, err) == (2, "", "rblctl: %s\n" % msg)


def test_more_usage_errors(tmp_path, rbl):
    rbl.lists()
    for sock in (tmp_path / "none.sock", rbl.control):
        for args in (("check", "192.0.2.0/24"), ("check", "nonsense"),
                     ("del", "block"), ("list",),
                     ("check", "1.2.3.4", "5.6.7.8"),
                     ("del", "block", "1.2.3.4", "--for", "1h"),
                     ("add", "block", "1.2.3.4", "--for", "1h", "--for", "2h"),
                     ("--bogus", "stats"), ("add", "bl=ock", "1.2.3.4"),
                     ("add", "block", "1.2.3.4", "--reason", "a\tb")):
            rc, out, err = ctl(rbl, *args, sock=sock)
            assert rc == 2 and out == "" and err.startswith("rblctl: ") and \
                err.count("\n") == 1, (args, rc, out, err)
        rc, out, err = ctl(rbl, sock=sock)
        assert rc == 2 and out == "" and err.startswith("usage: rblctl")
    assert runtime_entries(rbl) == {}


def test_every_command_prefix_resolves(rbl):
    rbl.lists()
    # no two command names share a first letter: one letter is enough
    assert ok(rbl, "a", "block", "192.0.2.1") == "added 192.0.2.1/32 to block\n"
    assert ok(rbl, "l", "block").count("\n") == 2
    assert ok(rbl, "c", "192.0.2.1").startswith("192.0.2.1\nzone %s: LISTED" % BL)
    assert ok(rbl, "d", "block", "192.0.2.1") == "deleted 192.0.2.1/32 from block\n"
    assert ok(rbl, "f") == "flushed 0 cache entries\n"
    assert ok(rbl, "rel") == "reloaded\n"
    assert ok(rbl, "stat").startswith("queries ")


def test_daemon_not_running(rbl, tmp_path):
    missing = tmp_path / "missing.sock"
    assert ctl(rbl, "stats", sock=missing) == (
        1, "", "rblctl: cannot connect to %s: rblcached not running? (No such "
        "file or directory)\n" % missing)
    # a stale socket file left by a daemon killed with SIGKILL
    rbl.lists()
    rbl.kill(signal.SIGKILL)
    assert rbl.stop() == -signal.SIGKILL
    assert stat.S_ISSOCK(os.lstat(rbl.control).st_mode)
    assert ctl(rbl, "add", "block", "192.0.2.1") == (
        1, "", "rblctl: cannot connect to %s: rblcached not running? "
        "(Connection refused)\n" % rbl.control)


def _world_readable_rbl():
    d = tempfile.mkdtemp(prefix="rblctl-perm-")
    os.chmod(d, 0o755)
    r = Rbl(d)
    r.user = "nobody"
    return d, r


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_socket_group_and_permission_denied():
    d, r = _world_readable_rbl()
    try:
        r.lists(block="192.0.2.1\n")
        st = os.lstat(r.control)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert (st.st_uid, st.st_gid) == (0, 65534)     # root, nobody's group
        # a member of the group (here: nobody itself) may use it, and the
        # daemon (running as nobody) can write its journal
        rc, out, err = ctl(r, "add", "block", "198.51.100.0/24",
                           user=65534, group=65534, extra_groups=[])
        assert (rc, out, err) == (0, "added 198.51.100.0/24 to block\n", "")
        assert listed(r, "198.51.100.1")
        # anyone else is refused by the socket's mode
        for args in (("stats",), ("add", "block", "203.0.113.0/24")):
            rc, out, err = ctl(r, *args, user=12345, group=12345,
                               extra_groups=[])
            assert (rc, out, err) == (
                1, "", "rblctl: permission denied on %s: run as root or as a "
                "member of the socket's group\n" % r.control)
        assert nx(r, "203.0.113.1")
        # the entry survives a restart under the dropped privileges
        assert r.stop() == 0
        assert "compaction at exit failed" not in r.log()
        r.start()
        assert listed(r, "198.51.100.1")
        assert set(runtime_entries(r)) == {"198.51.100.0/24"}
    finally:
        r.stop()
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# 5. expiry

def test_for_2s_expires(rbl):
    rbl.lists()
    ip = "192.0.2.77"
    t0 = time.monotonic()
    out = ok(rbl, "add", "block", ip, "--for", "2s", "--reason", "temp")
    assert re.fullmatch(r"added 192\.0\.2\.77/32 to block, expires %s\n"
                        % ISO_RE, out), out
    assert listed(rbl, ip)
    e = runtime_entries(rbl)["192.0.2.77/32"]
    assert e["expires"] - e["added"] == 2
    assert ", expires %s: temp" % iso(e["expires"]) in ok(rbl, "list", "block")
    assert jok(rbl, "stats")["runtime_entries"] == 1
    # ADDED is whole seconds: the entry lives at least one more second
    time.sleep(max(0.0, 0.8 - (time.monotonic() - t0)))
    assert listed(rbl, ip)
    assert wait_until(lambda: nx(rbl, ip), 5.0 - (time.monotonic() - t0))
    gone = time.monotonic() - t0
    assert 0.8 <= gone <= 2 + 1.5, gone
    assert runtime_entries(rbl) == {}
    assert ok(rbl, "list", "block").count("\n") == 1
    assert jok(rbl, "stats")["runtime_entries"] == 0
    assert rbl.wait_log('list "block": run-time entry 192.0.2.77/32 expired '
                        "(temp)", 2.0), rbl.log()
    # not back after a restart
    rbl.stop()
    rbl.start()
    assert nx(rbl, ip) and runtime_entries(rbl) == {}


# --------------------------------------------------------------------------
# 6. IPv6

def test_ipv6_entry_answers_nibble_queries(rbl):
    rbl.lists()
    inside, outside = "2001:db8:5:1234::1", "2001:db8:6::1"
    assert nx(rbl, inside)
    ok(rbl, "add", "block", "2001:db8:5::/48", "--reason", "v6 net")
    r = rbl.query(rev(inside), "A")
    assert r.rcode() == NOERROR and rrs(r, "A") == [BL_ANSWER]
    assert txts(rbl.query(rev(inside), "TXT")) == ["v6 net"]
    assert listed(rbl, "2001:db8:5:ffff:ffff:ffff:ffff:ffff")
    assert nx(rbl, outside) and nx(rbl, "2001:db8:4:ffff::1")
    doc = jok(rbl, "check", inside)
    assert doc["ip"] == inside and doc["zones"][0]["listed"] is True
    ok(rbl, "del", "block", "2001:db8:5::/48")
    assert nx(rbl, inside)


# --------------------------------------------------------------------------
# 7. allow wins

def test_allow_entry_wins_over_block(rbl):
    # bl: block*10 + allow*-100, threshold 3; wl: allow*1
    rbl.lists(block="192.0.2.10\n", allow="198.51.100.20\n")
    assert listed(rbl, "192.0.2.10") and nx(rbl, "192.0.2.10", WL)
    ok(rbl, "add", "allow", "192.0.2.10", "--reason", "our relay")
    assert nx(rbl, "192.0.2.10")
    assert listed(rbl, "192.0.2.10", WL, WL_ANSWER)
    bl = jok(rbl, "check", "192.0.2.10")["zones"][0]
    assert (bl["listed"], bl["score"]) == (False, -90)
    # a run-time block entry does not beat the allow file either
    ok(rbl, "add", "block", "198.51.100.0/24")
    assert nx(rbl, "198.51.100.20") and listed(rbl, "198.51.100.21")
    # deleting the allow entry lists the address again, at once
    ok(rbl, "del", "allow", "192.0.2.10")
    assert listed(rbl, "192.0.2.10") and nx(rbl, "192.0.2.10", WL)


# --------------------------------------------------------------------------
# 8. list with file and run-time entries; a hand edit of the file

def test_hand_edit_of_the_file_is_picked_up_and_listed(rbl):
    rbl.lists(block="192.0.2.1\n")
    bpath = rbl.path("block")
    ok(rbl, "add", "block", "203.0.113.0/24", "--reason", "rt")
    time.sleep(1.1)         # mtime granularity: the edit must look new
    rbl.write_list("block", "192.0.2.1\n# added by hand\n198.51.100.99 :2:hand\n")
    want = "198.51.100.99 :2:hand\tfile %s:3" % bpath
    assert wait_until(lambda: listed(rbl, "198.51.100.99"), 3.0), rbl.log()
    assert want in ok(rbl, "list", "block").splitlines()
    ents = jok(rbl, "list", "block")["entries"]
    assert [e.get("line") for e in ents] == [1, 3, None]
    assert ents[2]["cidr"] == "203.0.113.0/24"
    # the run-time entry outlives the reload of its list's file
    assert listed(rbl, "203.0.113.5")
    assert txts(rbl.query(rev("203.0.113.5"), "TXT")) == ["rt"]


# --------------------------------------------------------------------------
# 9. durability: SIGTERM, kill -9

def test_50_entries_survive_sigterm(rbl):
    rbl.lists()
    cidrs = ["10.20.%d.0/24" % i for i in range(50)]
    for i, c in enumerate(cidrs):
        ok(rbl, "add", "block", c, "--reason", "entry %d" % i,
           *(["--for", "1d"] if i % 2 else []))
    # before the stop: one fsync'ed record per add, CRCs valid
    recs, tail = journal_records(rbl.state_dir / "journal.log")
    assert tail == b"" and len(recs) == 50
    assert recs[0] == ("add", recs[0][1])
    assert recs[0][1][2:] == ["block", "10.20.0.0/24", ORIGIN, "entry%200"]
    assert all(k == "add" for k, _ in recs)
    assert stat.S_IMODE(os.stat(rbl.state_dir).st_mode) == 0o700
    for f in ("journal.log", "entries.db"):
        p = rbl.state_dir / f
        if p.exists():
            assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, f
    before = runtime_entries(rbl)
    assert rbl.stop() == 0
    # compacted at exit: entries.db has them all, the log only its header
    recs, tail = journal_records(rbl.state_dir / "entries.db")
    assert tail == b"" and len(recs) == 50
    assert (rbl.state_dir / "journal.log").read_bytes() == \
        b"# rblcache journal v1\n"
    rbl.start()
    assert runtime_entries(rbl) == before
    for i, c in enumerate(cidrs):
        ip = c.replace(".0/24", ".9")
        assert listed(rbl, ip), c
        assert txts(rbl.query(rev(ip), "TXT")) == ["entry %d" % i]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_kill9_keeps_every_acknowledged_entry(rbl, seed):
    rng = random.Random(seed)
    rbl.lists()
    pid = rbl.proc.pid
    delay = rng.uniform(0.2, 1.5)
    start = threading.Event()

    def killer():
        start.wait(5)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    acked, failed = [], []
    start.set()
    deadline = time.monotonic() + 3.0
    for i in range(300):
        if time.monotonic() > deadline:
            break
        cidr = "10.%d.%d.%d/32" % (seed, i // 256, i % 256)
        rc, out, err = ctl(rbl, "add", "block", cidr, "--reason", "s%d i%d"
                           % (seed, i))
        if rc == 0:
            assert out == "added %s to block\n" % cidr
            acked.append(cidr)
            continue
        # killed: refused, or lost in the middle of this request
        assert rc == 1 and err.startswith("rblctl: "), (rc, err)
        assert any(m in err for m in (
            "cannot connect to", "cannot send the request to rblcached",
            "connection to rblcached lost", "bad reply from rblcached")), err
        failed.append(cidr)
        break
    t.join(5)
    assert not t.is_alive()
    assert rbl.proc.wait(5) == -signal.SIGKILL
    print("seed %d: kill after %.2f s, %d acknowledged" % (seed, delay,
                                                             len(acked)))
    assert len(acked) > 0
    # the log on disk: whole records with good CRCs, maybe a torn tail
    recs, tail = journal_records(rbl.state_dir / "journal.log")
    on_disk = [f[3] for k, f in recs]
    assert set(acked) <= set(on_disk)
    assert stat.S_ISSOCK(os.lstat(rbl.control).st_mode)   # left behind
    rbl.stop()
    mark = len(rbl.log())
    rbl.start()                 # replaces the stale socket
    restart_log = rbl.log()[mark:]
    bad = [ln for ln in restart_log.splitlines()
           if ("journal" in ln or "state-dir" in ln or "run-time" in ln)
           and "torn last record dropped" not in ln]
    assert bad == [], restart_log
    have = runtime_entries(rbl)
    missing = [c for c in acked if c not in have]
    assert missing == [], missing
    for c in acked:
        assert have[c]["reason"].startswith("s%d i" % seed)
        assert listed(rbl, c.split("/")[0]), c
    # an add that was cut off may or may not be there; nothing else is
    assert set(have) <= set(acked) | set(failed)
    # and it works on
    ok(rbl, "add", "block", "10.%d.255.255" % seed)
    assert listed(rbl, "10.%d.255.255" % seed)


# --------------------------------------------------------------------------
# 10. torn and corrupt records

def test_torn_last_record_is_dropped(rbl):
    rbl.lists()
    ok(rbl, "add", "block", "192.0.2.1", "--reason", "first")
    ok(rbl, "add", "block", "192.0.2.2", "--reason", "second")
    rbl.stop()                  # compacts: the log is its header again
    log = rbl.state_dir / "journal.log"
    with open(log, "ab") as f:
        f.write(b"add deadbeef 17")         # half a record, no newline
    mark = len(rbl.log())
    rbl.start()
    assert "%s:2: torn last record dropped (crash during a write?)" % log \
        in rbl.log()[mark:]
    assert set(runtime_entries(rbl)) == {"192.0.2.1/32", "192.0.2.2/32"}
    assert listed(rbl, "192.0.2.1") and listed(rbl, "192.0.2.2")
    # the next record follows the last good one, not the garbage
    ok(rbl, "add", "block", "192.0.2.3")
    recs, tail = journal_records(log)
    assert tail == b"" and [f[3] for _, f in recs] == ["192.0.2.3/32"]


def test_truncated_last_line_after_kill9(rbl):
    rbl.lists()
    for i in range(1, 4):
        ok(rbl, "add", "block", "192.0.2.%d" % i, "--reason", "n%d" % i)
    rbl.kill(signal.SIGKILL)
    rbl.proc.wait(5)
    rbl.stop()
    log = rbl.state_dir / "journal.log"
    data = log.read_bytes()
    assert data.count(b"\n") == 4           # header + 3 records
    log.write_bytes(data[:-6])              # cut into the third record
    mark = len(rbl.log())
    rbl.start()
    assert "%s:4: torn last record dropped" % log in rbl.log()[mark:]
    assert set(runtime_entries(rbl)) == {"192.0.2.1/32", "192.0.2.2/32"}
    assert listed(rbl, "192.0.2.1") and listed(rbl, "192.0.2.2")
    assert nx(rbl, "192.0.2.3")


def test_corrupt_record_in_the_middle_is_skipped(rbl):
    rbl.lists()
    for i in range(1, 4):
        ok(rbl, "add", "block", "192.0.2.%d" % i, "--reason", "n%d" % i)
    rbl.kill(signal.SIGKILL)
    rbl.proc.wait(5)
    rbl.stop()
    log = rbl.state_dir / "journal.log"
    lines = log.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"n2", b"N2")       # CRC no longer matches
    log.write_bytes(b"\n".join(lines))
    mark = len(rbl.log())
    rbl.start()
    assert re.search(r"journal\.log:3: corrupt record skipped \(",
                     rbl.log()[mark:]), rbl.log()[mark:]
    assert set(runtime_entries(rbl)) == {"192.0.2.1/32", "192.0.2.3/32"}
    assert nx(rbl, "192.0.2.2")


# --------------------------------------------------------------------------
# 11. full disk, read-only state-dir

def test_full_then_read_only_state_dir(rbl):
    mnt = rbl.dir / "statefs"
    mount_tmpfs(mnt)
    try:
        rbl.state_dir = mnt
        rbl.lists(block="192.0.2.1\n")
        reason = "long reason " * 20                    # 240 bytes, 20 spaces
        acked, fail = [], None
        for i in range(2000):
            cidr = "10.1.%d.%d/32" % (i // 256, i % 256)
            rc, out, err = ctl(rbl, "add", "block", cidr, "--reason", reason)
            if rc == 0:
                acked.append(cidr)
                continue
            fail = (cidr, rc, out, err)
            break
        assert fail is not None, "48k tmpfs never filled up"
        cidr, rc, out, err = fail
        assert (rc, out, err) == (
            1, "", "rblctl: not added: state-dir %s: journal.log: No space "
            "left on device\n" % mnt)
        assert len(acked) > 10
        # still serving; the refused entry was not applied, the others are
        assert rbl.answers() and listed(rbl, "192.0.2.1")
        assert nx(rbl, cidr.split("/")[0])
        for c in acked:
            assert listed(rbl, c.split("/")[0]), c
        assert set(runtime_entries(rbl)) == set(acked)
        # the log ends with the last acknowledged record, no partial one
        recs, tail = journal_records(mnt / "journal.log")
        assert tail == b"" and [f[3] for _, f in recs] == acked
        # a restart (its compaction at exit may not fit) keeps them all
        assert rbl.stop() == 0
        rbl.start()
        assert set(runtime_entries(rbl)) == set(acked)
        for c in acked[:: max(1, len(acked) // 20)] + [acked[-1]]:
            assert listed(rbl, c.split("/")[0]), c
        assert nx(rbl, cidr.split("/")[0])

        # read-only: with the journal open for writing, a live remount is
        # refused (EBUSY), so remount while the daemon is stopped
        assert rbl.stop() == 0
        p = subprocess.run(["mount", "-o", "remount,ro", str(mnt)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10)
        assert p.returncode == 0, p.stderr
        mark = len(rbl.log())
        rbl.start()
        assert "Read-only file system" in rbl.log()[mark:]
        rc, out, err = ctl(rbl, "add", "block", "10.2.0.1")
        assert (rc, out, err) == (
            1, "", "rblctl: not added: state-dir %s: journal.log: Read-only "
            "file system\n" % mnt)
        rc, out, err = ctl(rbl, "del", "block", acked[0])
        assert (rc, out, err) == (
            1, "", "rblctl: not deleted: state-dir %s: journal.log: Read-only "
            "file system\n" % mnt)
        assert rbl.answers() and listed(rbl, "192.0.2.1")
        assert nx(rbl, "10.2.0.1")
        assert listed(rbl, acked[0].split("/")[0])
        assert set(runtime_entries(rbl)) == set(acked)
    finally:
        rbl.stop()
        umount(mnt)


# --------------------------------------------------------------------------
# 12. state-dir unusable at start

def test_state_dir_is_a_file(rbl):
    rbl.state_dir = rbl.dir / "statefile"
    rbl.state_dir.write_text("not a directory\n")
    rbl.lists(block="192.0.2.1\n")
    why = "state-dir %s: open: Not a directory" % rbl.state_dir
    assert ("%s; serving without run-time entries until it is fixed and "
            "rblcached restarted" % why) in rbl.log()
    assert listed(rbl, "192.0.2.1") and nx(rbl, "192.0.2.2")
    want = (1, "", "rblctl: run-time entries unavailable: %s\n" % why)
    assert ctl(rbl, "add", "block", "192.0.2.2") == want
    assert ctl(rbl, "del", "block", "192.0.2.2") == want
    assert nx(rbl, "192.0.2.2")
    # the rest works
    assert ok(rbl, "list", "block").splitlines()[1:] == \
        ["192.0.2.1\tfile %s:1" % rbl.path("block")]
    assert jok(rbl, "stats")["runtime_entries"] == 0
    assert jok(rbl, "check", "192.0.2.1")["zones"][0]["listed"] is True


def test_state_dir_with_a_foreign_journal(rbl):
    rbl.state_dir.mkdir()
    (rbl.state_dir / "journal.log").write_text("hello\n")
    rbl.lists(block="192.0.2.1\n")
    why = "state-dir %s: journal.log: not an rblcache journal" % rbl.state_dir
    assert why in rbl.log()
    assert listed(rbl, "192.0.2.1")
    assert ctl(rbl, "add", "block", "192.0.2.2") == (
        1, "", "rblctl: run-time entries unavailable: %s\n" % why)
    # the file was left alone
    assert (rbl.state_dir / "journal.log").read_text() == "hello\n"


def test_state_dir_shared_by_two_daemons(rbl, tmp_path):
    rbl.lists()
    ok(rbl, "add", "block", "192.0.2.1")
    other = tmp_path / "other"
    other.mkdir()
    r2 = Rbl(other)
    r2.state_dir = rbl.state_dir
    try:
        r2.lists()
        why = "state-dir %s: in use by another process" % rbl.state_dir
        assert why in r2.log()
        assert ctl(r2, "add", "block", "192.0.2.2") == (
            1, "", "rblctl: run-time entries unavailable: %s\n" % why)
        assert nx(r2, "192.0.2.1")
        assert r2.stop() == 0
    finally:
        r2.stop()
    # the first one's entries are untouched
    ok(rbl, "add", "block", "192.0.2.3")
    assert set(runtime_entries(rbl)) == {"192.0.2.1/32", "192.0.2.3/32"}


# --------------------------------------------------------------------------
# 13. reload

def test_reload_picks_up_the_config_and_refuses_a_broken_one(rbl):
    rbl.lists(block="192.0.2.1\n")
    ok(rbl, "add", "block", "203.0.113.0/24")
    rbl.zones[BL] = rbl.zones[BL].replace('answer = "127.0.0.2"',
                                          'answer = "127.0.0.4"')
    rbl.write_config()
    assert listed(rbl, "192.0.2.1")         # not before the reload
    assert ok(rbl, "reload") == "reloaded\n"
    assert listed(rbl, "192.0.2.1", answer="127.0.0.4")
    assert listed(rbl, "203.0.113.1", answer="127.0.0.4")   # run-time entry

    good = rbl.confpath.read_text()
    rbl.write_config(good + 'zone "broken" { sources = { "nosuchlist" } }\n')
    mark = len(rbl.log())
    assert ctl(rbl, "reload") == (
        1, "", "rblctl: configuration reload failed (errors logged); still "
        "serving the previous configuration\n")
    assert "nosuchlist" in rbl.log()[mark:]
    assert listed(rbl, "192.0.2.1", answer="127.0.0.4")
    assert listed(rbl, "203.0.113.1", answer="127.0.0.4")
    rbl.write_config("listen = { this is not libconfuse\n")
    assert ctl(rbl, "--json", "reload")[0] == 1
    assert listed(rbl, "192.0.2.1", answer="127.0.0.4")
    # a list with errors: refused the same way
    rbl.write_config(good)
    rbl.write_list("block", "192.0.2.1\nthis is not an address\n")
    rc, out, err = ctl(rbl, "reload")
    assert (rc, out) == (1, "") and err == (
        "rblctl: configuration reload failed (list errors logged); still "
        "serving the previous configuration\n")
    assert listed(rbl, "192.0.2.1", answer="127.0.0.4")
    rbl.write_list("block", "192.0.2.1\n192.0.2.2\n")
    assert ok(rbl, "reload") == "reloaded\n"
    assert listed(rbl, "192.0.2.2", answer="127.0.0.4")
    assert ok(rbl, "add", "block", "198.51.100.1")
    assert listed(rbl, "198.51.100.1", answer="127.0.0.4")


# --------------------------------------------------------------------------
# 14. the control socket

def test_socket_mode_second_daemon_and_stale_socket(rbl, tmp_path):
    rbl.lists(block="192.0.2.1\n")
    st = os.lstat(rbl.control)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    assert "control socket %s" % rbl.control in rbl.log()

    other = tmp_path / "second"
    other.mkdir()
    r2 = Rbl(other)
    r2.control = rbl.control
    try:
        r2.spawn()
        assert r2.wait_exit(5) == 1, r2.log()
        assert "another rblcached is listening on %s" % rbl.control in r2.log()
    finally:
        r2.stop()
    # the first daemon's socket is still the one in place, and works
    st2 = os.lstat(rbl.control)
    assert (st2.st_ino, st2.st_dev) == (st.st_ino, st.st_dev)
    ok(rbl, "add", "block", "198.51.100.1")

    # a path that is not a socket is not replaced
    r3 = Rbl(tmp_path / "third")
    (tmp_path / "third").mkdir()
    r3.control = tmp_path / "third" / "plain.file"
    r3.control.write_text("keep me\n")
    try:
        r3.spawn()
        assert r3.wait_exit(5) == 1
        assert "%s exists and is not a socket" % r3.control in r3.log()
        assert r3.control.read_text() == "keep me\n"
    finally:
        r3.stop()

    # kill -9 leaves the socket file; the next start replaces it
    rbl.kill(signal.SIGKILL)
    rbl.proc.wait(5)
    rbl.stop()
    assert stat.S_ISSOCK(os.lstat(rbl.control).st_mode)
    rbl.start()
    st3 = os.lstat(rbl.control)
    assert st3.st_ino != st.st_ino and stat.S_IMODE(st3.st_mode) == 0o660
    assert set(runtime_entries(rbl)) == {"198.51.100.1/32"}
    # a clean stop removes it
    assert rbl.stop() == 0
    assert not os.path.lexists(rbl.control)
    # a missing directory is created
    rbl.control = rbl.dir / "run" / "sub" / "ctl.sock"
    rbl.start()
    assert stat.S_IMODE(os.stat(rbl.dir / "run" / "sub").st_mode) == 0o755
    assert ok(rbl, "reload") == "reloaded\n"


# --------------------------------------------------------------------------
# 15. hostile clients

def test_oversize_garbage_and_version(rbl):
    rbl.lists(block="192.0.2.1\n")
    probe = DnsProbe(rbl, "192.0.2.1")
    probe.start()
    try:
        path = rbl.control
        # 10 KB without a newline, the connection left open
        assert raw_ctl(path, b"x" * 10240, shut=False) == \
            b"error\trequest too long\n"
        assert raw_ctl(path, b"rblctl/1\ttext\tstats\t" + b"a" * 10240 +
                       b"\n") == b"error\trequest too long\n"
        # the limit: 4096 bytes with the newline pass, 4097 do not
        base = b"rblctl/1\ttext\tadd\tblock\t192.0.2.0/24\treason="
        exact = base + b"r" * (4095 - len(base)) + b"\n"
        assert len(exact) == 4096
        assert raw_ctl(path, exact) == \
            b"error\treason too long (at most 254 bytes)\n"
        assert raw_ctl(path, exact[:-1] + b"r\n") == \
            b"error\trequest too long\n"
        # binary garbage
        assert raw_ctl(path, b"\x00\x01\xff\xfe\x80garbage\n") == \
            b"error\tmalformed request: NUL byte\n"
        assert raw_ctl(path, b"\xff\xfe\xfd\xfc\n") == \
            b"error\tmalformed request: not rblctl/1\n"
        assert raw_ctl(path, b"rblctl/1\ttext\tstats\t\xff\xfe\n") == \
            b"error\tmalformed request: not UTF-8\n"
        assert raw_ctl(path, b"rblctl/1\ttext\tst\x01ats\n") == \
            b"error\tmalformed request: control character 0x01\n"
        assert raw_ctl(path, b"rblctl/1\ttext\tstats") == \
            b"error\tmalformed request: no newline at the end\n"
        assert raw_ctl(path, b"rblctl/1\txml\tstats\n") == \
            b"error\tmalformed request: format is neither text nor json\n"
        assert raw_ctl(path, b"rblctl/2\ttext\tstats\n") == \
            b"error\tprotocol version mismatch: daemon speaks rblctl/1\n"
        assert raw_ctl(path, req("text", "add", "block", "10.0.0.0/8",
                                 *["x"] * 20)).startswith(b"error\t")
        rng = random.Random(7)
        for _ in range(100):
            blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
            reply = raw_ctl(path, blob + b"\n")
            assert reply.startswith(b"error\tmalformed request") or \
                reply.startswith(b"error\tprotocol version mismatch"), blob
            assert reply.count(b"\n") == 1
        # mutated valid requests: ok or one error line, never a crash
        good = req("text", "add", "block", "198.51.100.0/24", "reason=x y")
        for _ in range(200):
            b = bytearray(good)
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b) - 1)] = rng.randrange(256)
            reply = raw_ctl(path, bytes(b))
            assert reply.startswith(b"ok\n") or (
                reply.startswith(b"error\t") and reply.endswith(b"\n") and
                reply.count(b"\n") == 1), (bytes(b), reply)
        # a client that connects and goes away
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(path))
            s.close()
        # the raw protocol, for the record
        reply = raw_ctl(path, req("text", "add", "block", "203.0.113.0/24",
                                  "reason=x"))
        assert reply == b"ok\nadded 203.0.113.0/24 to block\n"
        assert listed(rbl, "203.0.113.1")
        assert rbl.alive() and ok(rbl, "reload") == "reloaded\n"
    finally:
        probe.finish()


def concurrent_adds(rbl, n, net):
    """n raw clients sending `add block NET.i.0/24` at the same moment;
    their replies."""
    barrier = threading.Barrier(n)
    replies = [None] * n

    def client(i):
        try:
            barrier.wait(5)
            replies[i] = raw_ctl(rbl.control, req(
                "text", "add", "block", "%s.%d.0/24" % (net, i),
                "reason=c%d" % i), timeout=10)
        except Exception as e:  # noqa: BLE001 - shows in the assertion
            replies[i] = repr(e).encode()

    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads)
    acked, refused = set(), set()
    for i, r in enumerate(replies):
        c = "%s.%d.0/24" % (net, i)
        if r == BUSY:
            refused.add(c)
        else:
            assert r == b"ok\nadded %s to block\n" % c.encode(), (i, r)
            acked.add(c)
    return acked, refused


def test_many_clients_at_once(rbl):
    rbl.lists(block="192.0.2.1\n")
    probe = DnsProbe(rbl, "192.0.2.1")
    probe.start()
    held = []
    try:
        # 70 connections that send nothing: the 64 the daemon keeps, and
        # the others told so at once
        t0 = time.monotonic()
        for _ in range(70):
            held.append(connect_unix(rbl.control, 3.0))
        busy = [recv_all(s) for s in held[64:]]
        assert busy == [BUSY] * 6
        # (what rblctl shows then: test_rblctl_at_the_connection_limit_...)

        # 4 free slots, 100 clients at once: some served, the rest told
        # to try again, and only the acknowledged entries exist
        for s in held[60:]:
            s.close()
        held = held[:60]
        acked1, refused1 = concurrent_adds(rbl, 100, "10.8")
        print("with 60 idle clients: %d of 100 adds acknowledged"
              % len(acked1))
        assert acked1 and refused1
        assert set(runtime_entries(rbl)) == acked1
        for c in refused1:
            assert nx(rbl, c.replace(".0/24", ".1")), c

        # a client that never sends its request is closed after 5 s, so
        # silent clients cannot lock rblctl out for longer
        for s in held:
            s.settimeout(max(0.1, 8.0 - (time.monotonic() - t0)))
            assert recv_all(s) == b""
        waited = time.monotonic() - t0
        assert 4.5 <= waited <= 7.5, waited
        for s in held:
            s.close()
        held = []
        assert ctl(rbl, "stats")[0] == 0

        # 100 clients at once with every slot free
        acked2, refused2 = concurrent_adds(rbl, 100, "10.9")
        print("%d of 100 concurrent adds acknowledged" % len(acked2))
        assert acked2
        assert set(runtime_entries(rbl)) == acked1 | acked2
        for c in acked1 | acked2:
            assert listed(rbl, c.replace(".0/24", ".1")), c
        # and 40 rblctl at once, fewer than the 64 the daemon takes: all
        # served
        rcs = [None] * 40

        def run(i):
            rcs[i] = ctl(rbl, "check", "10.9.%d.1" % i)

        threads = [threading.Thread(target=run, args=(i,), daemon=True)
                   for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for i, (rc, out, err) in enumerate(rcs):
            assert rc == 0 and err == "" and \
                out.startswith("10.9.%d.1\nzone %s: " % (i, BL)), (rc, out, err)
        assert rbl.alive()
    finally:
        for s in held:
            s.close()
        probe.finish()


def test_rblctl_at_the_connection_limit_says_busy(rbl):
    """rblctl must show the daemon's "too many control connections" line,
    not an error of its own from sending into the closed connection."""
    rbl.lists()
    held = [connect_unix(rbl.control, 3.0) for _ in range(64)]
    try:
        got = [ctl(rbl, "stats") for _ in range(10)]
    finally:
        for s in held:
            s.close()
    want = (1, "", "rblctl: too many control connections; try again\n")
    bad = [g for g in got if g != want]
    assert bad == [], "%d of 10 differ, e.g. %r" % (len(bad), bad[0])


# --------------------------------------------------------------------------
# more run-time entry semantics

def test_expiry_while_stopped_and_replacing_an_expiry(rbl):
    rbl.lists()
    t0 = time.monotonic()
    ok(rbl, "add", "block", "192.0.2.1", "--for", "2s", "--reason", "gone")
    ok(rbl, "add", "block", "192.0.2.2", "--for", "2s")
    ok(rbl, "add", "block", "192.0.2.2", "--reason", "kept")   # replaces it
    ok(rbl, "add", "block", "192.0.2.3")
    ok(rbl, "add", "block", "192.0.2.3", "--for", "2s")       # and back
    e = runtime_entries(rbl)
    assert (e["192.0.2.2/32"]["expires"], e["192.0.2.2/32"]["reason"]) == \
        (0, "kept")
    assert e["192.0.2.3/32"]["expires"] > 0
    assert rbl.stop() == 0      # entries.db written with them live
    recs, _ = journal_records(rbl.state_dir / "entries.db")
    assert sorted(f[3] for _, f in recs) == \
        ["192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32"]
    time.sleep(max(0.0, 3.1 - (time.monotonic() - t0)))
    rbl.start()
    assert set(runtime_entries(rbl)) == {"192.0.2.2/32"}
    assert nx(rbl, "192.0.2.1") and nx(rbl, "192.0.2.3")
    assert listed(rbl, "192.0.2.2")
    assert txts(rbl.query(rev("192.0.2.2"), "TXT")) == ["kept"]


def test_most_specific_run_time_entry_answers(rbl):
    rbl.lists()
    ok(rbl, "add", "block", "203.0.113.0/24", "--reason", "the net")
    ok(rbl, "add", "block", "203.0.113.7", "--reason", "the host")
    assert txts(rbl.query(rev("203.0.113.7"), "TXT")) == ["the host"]
    assert txts(rbl.query(rev("203.0.113.8"), "TXT")) == ["the net"]
    d = jok(rbl, "check", "203.0.113.7")["zones"][0]["sources"][0]["detail"]
    assert d.startswith("run-time entry 203.0.113.7/32 by ")
    ok(rbl, "del", "block", "203.0.113.7")
    assert txts(rbl.query(rev("203.0.113.7"), "TXT")) == ["the net"]
    ok(rbl, "del", "block", "203.0.113.0/24")
    assert nx(rbl, "203.0.113.7")


REASONS = ['he said "hi" \\ back', "100% - 50%", "-", "%41%20 literal",
           "\u00e9 \u00fc \u65e5\u672c \u2713", "dollar $ sign",
           "a" + " " * 252 + "b", "=leading", "a $$ b", "$1 var", "$= raw",
           "$"]


def test_odd_reasons_survive_both_journal_files(rbl):
    rbl.lists()
    half = len(REASONS) // 2

    def check_all(n):
        ents = runtime_entries(rbl)
        for i, reason in enumerate(REASONS[:n]):
            ip = "198.51.100.%d" % (i + 1)
            assert ents[ip + "/32"]["reason"] == reason, i
            got = txts(rbl.query(rev(ip), "TXT", tcp=True))
            assert got == [reason.encode().decode("latin-1")], (i, got)

    for i, reason in enumerate(REASONS[:half]):
        ok(rbl, "add", "block", "198.51.100.%d" % (i + 1), "--reason", reason)
    check_all(half)
    assert rbl.stop() == 0                  # these go to entries.db
    rbl.start()
    check_all(half)
    for i, reason in enumerate(REASONS[half:], half):
        ok(rbl, "add", "block", "198.51.100.%d" % (i + 1), "--reason", reason)
    by_cidr = {}
    for f in ("entries.db", "journal.log"):
        recs, _ = journal_records(rbl.state_dir / f)
        by_cidr.update((f[3], f[5]) for _, f in recs)
    assert len(by_cidr) == len(REASONS)
    assert by_cidr["198.51.100.3/32"] == "%2D"          # "-"
    assert by_cidr["198.51.100.4/32"] == "%2541%2520%20literal"
    assert by_cidr["198.51.100.7/32"] == "a" + "%20" * 252 + "b"
    rbl.kill(signal.SIGKILL)                # these stay in journal.log
    rbl.stop()
    rbl.start()
    check_all(len(REASONS))
    # control characters never get that far
    for bad in ("line\nbreak", "tab\there", "bell\x07"):
        rc, out, err = ctl(rbl, "add", "block", "192.0.2.1", "--reason", bad)
        assert rc == 2 and out == "" and err.startswith("rblctl: "), (bad, err)


def test_duration_limits(rbl):
    rbl.lists()
    limit = 100 * 366 * 86400
    out = ok(rbl, "add", "block", "192.0.2.1", "--for", str(limit))
    e = runtime_entries(rbl)["192.0.2.1/32"]
    assert e["expires"] - e["added"] == limit
    assert out == "added 192.0.2.1/32 to block, expires %s\n" % iso(e["expires"])
    assert iso(e["expires"]).startswith("21")
    for dur, secs in (("90", 90), ("10m", 600), ("2h", 7200), ("7d", 604800),
                      ("1w", 604800)):
        e = jok(rbl, "add", "block", "192.0.2.2", "--for", dur)
        assert e["expires"] - e["added"] == secs, dur
    for dur in (str(limit + 1), "5229w", "-5", "+5", "1.5h", "5 m", "1y", "",
                "99999999999999999999999"):
        rc, out, err = ctl(rbl, "add", "block", "192.0.2.3", "--for", dur)
        assert rc == 2 and out == "" and err.startswith("rblctl: "), (dur, err)
    assert nx(rbl, "192.0.2.3")
    # the long-lived one survives a restart with its expiry intact
    before = runtime_entries(rbl)
    rbl.stop()
    rbl.start()
    assert runtime_entries(rbl) == before


def test_list_while_the_file_is_unreadable(rbl):
    rbl.lists(block="192.0.2.1\n")
    ok(rbl, "add", "block", "203.0.113.0/24")
    rbl.path("block").unlink()
    lines = ok(rbl, "list", "block").splitlines()
    assert lines[1] == "# %s: cannot read it now" % rbl.path("block")
    assert lines[2].startswith("203.0.113.0/24\trblctl by ")
    doc = jok(rbl, "list", "block")
    assert [e["origin"] for e in doc["entries"]] == ["rblctl"]
    # the last good copy of the file keeps answering
    assert listed(rbl, "192.0.2.1") and listed(rbl, "203.0.113.1")


def test_compaction_after_1000_records_then_kill9(rbl):
    rbl.lists()
    path = rbl.control
    n = 1000
    for i in range(n):
        c = "10.50.%d.%d/32" % (i // 256, i % 256)
        line = req("text", "add", "block", c, "reason=r%d" % i) if i % 10 \
            else req("text", "add", "block", c)
        assert raw_ctl(path, line) == b"ok\nadded %s to block\n" % c.encode()
    for i in range(0, n, 100):             # and a few deletions
        c = "10.50.%d.%d/32" % (i // 256, i % 256)
        assert raw_ctl(path, req("text", "del", "block", c)).startswith(b"ok\n")
    log = rbl.state_dir / "journal.log"
    # the once-a-second timer compacts a log of 1000+ records
    assert wait_until(lambda: log.stat().st_size < 1000, 3.0), \
        log.stat().st_size
    recs, tail = journal_records(rbl.state_dir / "entries.db")
    assert len(recs) >= n - 10 and tail == b""
    ok(rbl, "add", "block", "10.51.0.1", "--reason", "after compaction")
    want = runtime_entries(rbl)
    assert len(want) == n - 10 + 1
    rbl.kill(signal.SIGKILL)
    rbl.stop()
    mark = len(rbl.log())
    rbl.start()
    assert "journal" not in rbl.log()[mark:]
    assert runtime_entries(rbl) == want
    assert listed(rbl, "10.51.0.1") and listed(rbl, "10.50.3.231")
    assert nx(rbl, "10.50.0.100")


def test_longest_reason_answers_whole(rbl):
    """rblctl takes a reason of up to 254 bytes (what a list TXT keeps of
    one DNS character-string, as rbldnsd) and the TXT is the reason
    verbatim: all of it."""
    rbl.lists()
    reason = "x" * 253 + "y"
    ok(rbl, "add", "block", "192.0.2.1", "--reason", reason)
    assert runtime_entries(rbl)["192.0.2.1/32"]["reason"] == reason
    assert txts(rbl.query(rev("192.0.2.1"), "TXT", tcp=True)) == [reason]


def test_del_is_durable_across_both_journal_files(rbl):
    rbl.lists()
    ok(rbl, "add", "block", "192.0.2.1")
    ok(rbl, "add", "block", "192.0.2.2")
    assert rbl.stop() == 0                  # both in entries.db now
    rbl.start()
    ok(rbl, "del", "block", "192.0.2.1")    # a del record in journal.log
    recs, _ = journal_records(rbl.state_dir / "journal.log")
    assert recs == [("del", ["block", "192.0.2.1/32"])]
    rbl.kill(signal.SIGKILL)
    rbl.stop()
    rbl.start()
    assert set(runtime_entries(rbl)) == {"192.0.2.2/32"}
    assert nx(rbl, "192.0.2.1") and listed(rbl, "192.0.2.2")


def test_entries_of_a_list_dropped_by_a_reload_come_back_with_it(rbl):
    rbl.lists()
    ok(rbl, "add", "allow", "192.0.2.1", "--reason", "relay")
    rbl.list_names = ["block"]
    rbl.zones = {BL: 'sources = { "block*10" } threshold = 3 answer = "%s"'
                 % BL_ANSWER}
    rbl.write_config()
    assert ok(rbl, "reload") == "reloaded\n"
    assert ctl(rbl, "list", "allow") == (
        1, "", 'rblctl: unknown list "allow"; lists: block\n')
    assert ctl(rbl, "add", "allow", "192.0.2.2") == (
        1, "", 'rblctl: unknown list "allow"; lists: block\n')
    rbl.list_names = ["block", "allow"]
    rbl.zones = dict(DEFAULT_ZONES)
    rbl.write_config()
    assert ok(rbl, "reload") == "reloaded\n"
    assert set(runtime_entries(rbl, "allow")) == {"192.0.2.1/32"}
    assert listed(rbl, "192.0.2.1", WL, WL_ANSWER)


def test_socket_path_too_long(rbl):
    long_path = str(rbl.dir / ("x" * 110 + ".sock"))
    assert ctl(rbl, "stats", sock=long_path) == (
        2, "", "rblctl: socket path too long: %s\n" % long_path)
    rbl.control = rbl.dir / ("x" * 100 + ".sock")
    rbl.spawn()
    assert rbl.wait_exit(5) == 1
    assert "control socket: control socket path %s: empty or too long" \
        % rbl.control in rbl.log()
