"""test_querylog -- query-log: one line per answered query, never in the way.

Lines reach the file within about 0.1 s (the writer's interval): every
read here waits, bounded, until the expected lines are there.
"""

import os
import re
import stat
import time

from rbltest import BL, NOERROR, NXDOMAIN, REFUSED, rev, wait_until
from test_cache import ctl, stats

LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) (\S+) (\S+) ([A-Z]+) "
    r"(listed|notlisted|-) (-?\d+|-) (\d+) (local|cache|upstream|-)$")


def with_log(rbl, path=None):
    rbl.qlog = path or str(rbl.dir / "query.log")
    rbl.extra += 'query-log = "%s"\n' % rbl.qlog
    return rbl


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def wait_lines(path, n, timeout=3.0):
    assert wait_until(lambda: len(lines(path)) >= n, timeout), lines(path)
    return lines(path)


def fields(line):
    m = LINE.match(line)
    assert m, "bad query-log line: %r" % line
    return m.groups()


def test_lines_for_each_kind_of_answer(rbl):
    with_log(rbl).lists(block="192.0.2.1 :127.0.0.2:spam\n")
    n0 = len(wait_lines(rbl.qlog, 1))       # the readiness probe
    t0 = time.time()
    assert rbl.query(rev("192.0.2.1"), "A").rcode() == NOERROR
    assert rbl.query(rev("192.0.2.9"), "TXT").rcode() == NXDOMAIN
    assert rbl.query("02.0.0.127." + BL + ".", "A").rcode() == NXDOMAIN
    assert rbl.query("example.org.", "A").rcode() == REFUSED
    got = [fields(ln) for ln in wait_lines(rbl.qlog, n0 + 4)[n0:]]
    assert all(f[1] == "127.0.0.1" for f in got), got
    byname = {f[2]: f for f in got}
    assert set(byname) == {"1.2.0.192." + BL, "9.2.0.192." + BL,
                           "02.0.0.127." + BL, "example.org"}
    f = byname["1.2.0.192." + BL]
    assert f[3:7] == ("A", "NOERROR", "listed", "10") and f[8] == "local"
    f = byname["9.2.0.192." + BL]
    assert f[3:7] == ("TXT", "NXDOMAIN", "notlisted", "0") and f[8] == "local"
    f = byname["02.0.0.127." + BL]
    assert f[3:7] == ("A", "NXDOMAIN", "-", "-") and f[8] == "-"
    f = byname["example.org"]
    assert f[3:7] == ("A", "REFUSED", "-", "-")
    for f in got:
        ts = time.mktime(time.strptime(f[0][:19], "%Y-%m-%dT%H:%M:%S")) \
            - time.timezone
        assert abs(ts - t0) < 10, f        # UTC
        assert int(f[7]) < 1000000         # latency in microseconds
    mode = stat.S_IMODE(os.stat(rbl.qlog).st_mode)
    assert mode == 0o640, oct(mode)
    st = stats(rbl)
    assert st["query_log_lines"] == n0 + 4 and st["query_log_dropped"] == 0


def test_reopened_after_rename_and_sighup(rbl):
    with_log(rbl).lists(block="192.0.2.1\n")
    wait_lines(rbl.qlog, 1)
    rotated = rbl.qlog + ".1"
    os.rename(rbl.qlog, rotated)
    rbl.query(rev("192.0.2.1"))
    # still written to the renamed file until the reload
    assert wait_until(lambda: any("1.2.0.192" in ln for ln in lines(rotated)),
                      3.0), lines(rotated)
    n = rbl.log().count("configuration reloaded")
    rbl.reload()
    assert wait_until(lambda: rbl.log().count("configuration reloaded") > n,
                      3.0)
    rbl.query(rev("192.0.2.7"))
    assert wait_until(lambda: any("7.2.0.192" in ln for ln in
                                  lines(rbl.qlog)), 3.0), lines(rbl.qlog)
    assert not any("7.2.0.192" in ln for ln in lines(rotated))
    assert stat.S_IMODE(os.stat(rbl.qlog).st_mode) == 0o640


def test_reopened_by_rblctl_reload(rbl):
    with_log(rbl).lists()
    wait_lines(rbl.qlog, 1)
    os.rename(rbl.qlog, rbl.qlog + ".1")
    ctl(rbl, "reload")
    rbl.query(rev("192.0.2.7"))
    assert wait_until(lambda: any("7.2.0.192" in ln for ln in
                                  lines(rbl.qlog)), 3.0)


def test_unwritable_path_keeps_dns_answering(rbl):
    with_log(rbl, "/nonexistent-rblcache-dir/query.log")
    rbl.lists(block="192.0.2.1\n")
    assert "cannot open" in rbl.log()
    for _ in range(5):
        assert rbl.query(rev("192.0.2.1")).rcode() == NOERROR
    assert wait_until(lambda: stats(rbl)["query_log_write_errors"] > 0, 3.0)


def test_full_disk_keeps_dns_answering_and_logs_once(rbl):
    # /dev/full: every write fails with ENOSPC, as on a full disk
    with_log(rbl, "/dev/full").lists(block="192.0.2.1\n")
    deadline = time.monotonic() + 0.6       # several writer rounds
    n = 0
    while time.monotonic() < deadline:
        assert rbl.query(rev("192.0.2.1")).rcode() == NOERROR
        n += 1
        time.sleep(0.01)
    assert wait_until(lambda: stats(rbl)["query_log_write_errors"] >= 3, 3.0)
    assert rbl.log().count("write failed") == 1, rbl.log()
    assert n > 10


def test_off_by_default(rbl):
    rbl.lists()
    rbl.query(rev("192.0.2.1"))
    assert stats(rbl)["query_log_lines"] == 0
    assert not any(p.name.endswith(".log") and p.name != "rblcached.log"
                   for p in rbl.dir.iterdir())


def test_turned_off_at_reload_keeps_logging_until_restart(rbl):
    with_log(rbl).lists()
    wait_lines(rbl.qlog, 1)
    rbl.extra = ""
    rbl.write_config()
    for _ in range(2):          # a second reload reopens the same file
        n = rbl.log().count("configuration reloaded")
        rbl.reload()
        assert wait_until(lambda: rbl.log().count("configuration reloaded")
                          > n, 3.0)
    assert "query-log on or off takes effect at restart" in rbl.log()
    rbl.query(rev("192.0.2.7"))
    assert wait_until(lambda: any("7.2.0.192" in ln for ln in
                                  lines(rbl.qlog)), 3.0)
    assert rbl.alive()
