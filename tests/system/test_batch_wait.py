"""test_batch_wait -- batch-wait-us: a busy worker waits after a partial
UDP batch; every query is still answered, and rightly."""

import socket
import time

import dns.message
import dns.rcode

from rbltest import BL, BL_ANSWER, rev


def burst(port, names, sockets=4, seconds=5.0):
    """Sends every name once, spread over several sockets, and returns
    {name: answer message}; bounded by seconds."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
             for _ in range(sockets)]
    got = {}
    try:
        for s in socks:
            s.setblocking(False)
        for i, name in enumerate(names):
            q = dns.message.make_query(name, "A")
            q.id = i
            socks[i % sockets].sendto(q.to_wire(), ("127.0.0.1", port))
        deadline = time.monotonic() + seconds
        while len(got) < len(names) and time.monotonic() < deadline:
            for s in socks:
                try:
                    while True:
                        r = dns.message.from_wire(s.recv(4096))
                        got[names[r.id]] = r
                except BlockingIOError:
                    pass
            time.sleep(0.001)
    finally:
        for s in socks:
            s.close()
    return got


def test_busy_worker_with_batch_wait_answers_every_query(rbl):
    rbl.extra = "batch-wait-us = 200\n"
    rbl.lists(block="192.0.2.0/25\n")
    listed = [rev("192.0.2.%d" % i) for i in range(128)]
    unlisted = [rev("198.51.100.%d" % i) for i in range(128)]
    names = [n for pair in zip(listed, unlisted) for n in pair] * 4
    names = list(dict.fromkeys(names))          # once each, interleaved
    for _ in range(3):                          # back to back: busy
        got = burst(rbl.port, names)
        assert len(got) == len(names), "%d of %d answered" % (len(got), len(names))
        for n in listed:
            assert got[n].answer[0][0].to_text() == BL_ANSWER, n
        for n in unlisted:
            assert got[n].rcode() == dns.rcode.NXDOMAIN, n


def test_batch_wait_out_of_range_fails_check(rbl):
    text = rbl.write_config()
    rc, err = rbl.check(text + "batch-wait-us = 5000\n")
    line = len(text.splitlines()) + 1
    assert rc == 1 and "%s:%d:" % (rbl.confpath, line) in err, err
    assert "batch-wait-us" in err, err
