"""test_batch_wait -- batch-wait-us: a busy worker waits after a partial
UDP batch; every query is still answered, and rightly."""

from rbltest import BL_ANSWER
from test_upstream import burst


def test_busy_worker_with_batch_wait_answers_every_query(rbl):
    rbl.extra = "batch-wait-us = 200\n"
    rbl.lists(block="192.0.2.0/25\n")
    listed = ["192.0.2.%d" % i for i in range(128)]
    unlisted = ["198.51.100.%d" % i for i in range(128)]
    ips = [ip for pair in zip(listed, unlisted) for ip in pair]
    for _ in range(3):                          # back to back: busy
        got = burst(rbl, ips)
        assert len(got) == len(ips), "%d of %d answered" % (len(got), len(ips))
        for ip in listed:
            assert got[ip] == BL_ANSWER, ip
        for ip in unlisted:
            assert got[ip] == "NXDOMAIN", ip


def test_batch_wait_out_of_range_fails_check(rbl):
    text = rbl.write_config()
    rc, err = rbl.check(text + "batch-wait-us = 5000\n")
    line = len(text.splitlines()) + 1
    assert rc == 1 and "%s:%d:" % (rbl.confpath, line) in err, err
    assert "batch-wait-us" in err, err
