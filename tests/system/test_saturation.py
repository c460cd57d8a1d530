"""test_saturation -- a worker whose UDP socket is full.

When a batch read comes back full the worker stops waiting for events on
that socket and reads it from an idle watcher until a round finds it
drained; then it watches it again (server.c, udp_busy_cb).  Made
deterministic here by stopping the daemon (SIGSTOP) while a burst fills
its socket: on SIGCONT its first reads are full batches.  Asserted: every
query of the burst is answered, the mode was entered (udp_saturated),
and afterwards a lone query is answered at once -- the socket is watched
again -- also after a second burst, and while saturated TCP and the
control socket are still served.
"""

import signal
import socket
import time

from rbltest import BL, BL_ANSWER, NOERROR, NXDOMAIN, query_wire, rev

BURST = 2000        # fits the 4 MB receive buffer rblcached asks for


def burst(rbl, n, stopped_extra=None):
    """Sends n A queries (half for listed addresses) while the daemon is
    stopped, continues it and collects the answers; returns
    {qid: rcode} and whatever stopped_extra() returned (called while the
    burst waits in the socket, the daemon continued)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.connect(("127.0.0.1", rbl.port))
    got = {}
    extra = None
    try:
        rbl.kill(signal.SIGSTOP)
        try:
            for i in range(n):
                ip = "192.0.2.%d" % (1 + i % 2) if i % 2 == 0 else \
                    "198.51.100.%d" % (1 + i % 200)
                s.send(query_wire(rev(ip), qid=i))
        finally:
            rbl.kill(signal.SIGCONT)
        if stopped_extra:
            extra = stopped_extra()
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
    return got, extra


def test_full_socket_is_drained_and_watched_again(rbl):
    rbl.workers = 1
    rbl.lists(block="192.0.2.0/24\n")
    before = rbl.stats()["udp_saturated"]
    got, _ = burst(rbl, BURST)
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
    got, _ = burst(rbl, BURST)
    assert len(got) == BURST
    assert rbl.stats()["udp_saturated"] > n1
    time.sleep(0.3)
    assert rbl.query(rev("192.0.2.8"), timeout=1.0).rcode() == NOERROR


def test_tcp_and_control_served_while_saturated(rbl):
    rbl.workers = 1
    rbl.lists(block="192.0.2.0/24\n")

    def during():
        # asked while the burst is being read: TCP and rblctl still work
        tcp = rbl.query(rev("192.0.2.9"), tcp=True, timeout=5.0).rcode()
        return tcp, rbl.stats()["queries"]
    got, (tcp, queries) = burst(rbl, BURST, during)
    assert tcp == NOERROR
    assert queries > 0
    assert len(got) == BURST


def test_apex_answers_after_saturation_on_two_workers(rbl):
    # two workers, each with its own socket: both come back to events
    rbl.lists(block="192.0.2.0/24\n")
    got, _ = burst(rbl, BURST)
    assert len(got) == BURST
    time.sleep(0.3)
    for i in range(20):
        r = rbl.query(BL, "SOA", timeout=1.0)
        assert r.rcode() == NOERROR
