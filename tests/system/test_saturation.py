"""test_saturation -- a worker whose UDP socket is full.

When a batch read comes back full the worker stops waiting for events on
that socket and reads it from an idle watcher until a round finds it
drained; then it watches it again (server.c, udp_busy_cb).  Made
deterministic here by stopping the daemon (SIGSTOP) while a burst fills
its socket: on SIGCONT its first reads are full batches.  Asserted: every
query of the burst is answered, the mode was entered (udp_saturated),
and afterwards a lone query is answered at once -- the socket is watched
again -- also after a second burst.  And under a steady closed-loop load
from bench/loadgen that keeps the socket full, TCP queries and rblctl are
still served.
"""

import signal
import socket
import subprocess
import time

import pytest

from rbltest import (BL_ANSWER, NOERROR, NXDOMAIN, RBLCACHED, query_wire, rev,
                     wait_until)

# a worker reads at most 16 batches of 64 a turn before it looks at its
# other events: more than that must be queued for the socket to count as
# full, and the 4 MB rblcached asks for (capped by net.core.rmem_max)
# holds that many
BURST = 2000


def rmem_max():
    try:
        with open("/proc/sys/net/core/rmem_max") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0
LOADGEN = RBLCACHED.parent / "bench" / "loadgen"


def burst(rbl, n):
    """Sends n A queries (half for listed addresses) while the daemon is
    stopped, continues it and collects the answers: {qid: rcode}."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.connect(("127.0.0.1", rbl.port))
    got = {}
    try:
        rbl.kill(signal.SIGSTOP)
        try:
            for i in range(n):
                ip = "192.0.2.%d" % (1 + (i // 2) % 200) if i % 2 == 0 \
                    else "198.51.100.%d" % (1 + (i // 2) % 200)
                s.send(query_wire(rev(ip), qid=i))
        finally:
            rbl.kill(signal.SIGCONT)
        s.settimeout(0.5)
        deadline = time.monotonic() + 10
        while len(got) < n and time.monotonic() < deadline:
            try:
                data = s.recv(4096)
            except socket.timeout:
                continue
            qid = int.from_bytes(data[:2], "big")
            got[qid] = data[3] & 0x0f
    finally:
        s.close()
    return got


@pytest.mark.skipif(rmem_max() < 4 << 20,
                    reason="needs net.core.rmem_max >= 4 MB to queue the burst")
def test_full_socket_is_drained_and_watched_again(rbl):
    rbl.workers = 1
    rbl.lists(block="192.0.2.0/24\n")
    before = rbl.stats()["udp_saturated"]
    got = burst(rbl, BURST)
    assert len(got) == BURST, "answered %d of %d" % (len(got), BURST)
    want = {i: NOERROR if i % 2 == 0 else NXDOMAIN for i in range(BURST)}
    assert got == want
    assert rbl.stats()["udp_saturated"] > before
    # back to waiting for events: a lone query is answered at once
    time.sleep(0.3)
    t0 = time.monotonic()
    r = rbl.query(rev("192.0.2.7"), timeout=1.0)
    assert r.rcode() == NOERROR and BL_ANSWER in str(r.answer[0])
    assert time.monotonic() - t0 < 0.5
    # and the mode is entered again by the next burst
    n1 = rbl.stats()["udp_saturated"]
    got = burst(rbl, BURST)
    assert len(got) == BURST
    assert rbl.stats()["udp_saturated"] > n1
    time.sleep(0.3)
    assert rbl.query(rev("192.0.2.8"), timeout=1.0).rcode() == NOERROR


def test_tcp_and_control_served_while_saturated(rbl, tmp_path):
    # loadgen keeps 400 queries in flight for 3 s: the worker's socket
    # stays full, and meanwhile TCP queries and rblctl are answered
    rbl.workers = 1
    rbl.lists(block="192.0.2.0/24\n")
    qfile = tmp_path / "q.txt"
    qfile.write_text("".join("%s A\n" % rev("192.0.2.%d" % (1 + i % 200))
                             for i in range(1000)))
    before = rbl.stats()["udp_saturated"]
    gen = subprocess.Popen(
        [str(LOADGEN), "-s", "127.0.0.1", "-p", str(rbl.port), "-f",
         str(qfile), "-c", "400", "-d", "3", "-t", "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_until(
            lambda: rbl.stats()["udp_saturated"] > before, 2.5), \
            "the socket never came back full"
        slow = []
        for i in range(5):
            t0 = time.monotonic()
            r = rbl.query(rev("192.0.2.9"), tcp=True, timeout=5.0)
            assert r.rcode() == NOERROR
            slow.append(time.monotonic() - t0)
            rbl.stats()
        assert gen.poll() is None, "the load ended before the checks"
        assert max(slow) < 1.0, slow
    finally:
        out, _ = gen.communicate(timeout=30)
    assert "answered=" in out, out
