"""rate-limit: UDP answers per client prefix, slip, TCP untouched, reload.

A burst is 1000 queries sent as fast as Python goes from 16 source ports
(so the kernel spreads them over the daemon's 2 workers, as it does a
resolver's or a spoofed flood), with some queries of other clients mixed
in; the replies are then read until none came for 0.3 s.  Every socket
is loopback and every loop bounded.
"""

import select
import socket
import time

import pytest

from rbltest import (BL_ANSWER, NOERROR, parse_header, query_wire,
                     recv_frame, rev, rrs, tcp_frame)

RATE = 50
NAME = rev("192.0.2.1")
TC = 0x0200


def limited(rbl, rate=RATE, slip=2, more=""):
    rbl.extra = ("rate-limit { responses-per-second = %d  slip = %d%s }"
                 % (rate, slip, more))
    rbl.lists(block="192.0.2.1\n")
    return rbl


class Burst:
    """Counts, per source address, the plain answers and the truncated
    ones among the replies to one burst."""

    def __init__(self):
        self.sent = {}
        self.plain = {}
        self.tc = {}
        self.bad = []
        self.seconds = 0.0      # from the first query to the last reply

    def total(self, counts, *srcs):
        return sum(counts.get(s, 0) for s in srcs)


def burst(rbl, n=1000, src="127.0.1.5", others=(), ports=16):
    """n queries from src (over `ports` sockets) and, spread through
    them, the queries of others: [(address, count), ...]."""
    socks, plan = [], []
    for addr, count, k in [(src, n, ports)] + [(a, c, 2) for a, c in others]:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        mine = []
        for _ in range(k):
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.bind((addr, 0))
            s.setblocking(False)
            socks.append((s, addr, fam))
            mine.append(len(socks) - 1)
        plan.append((addr, count, mine))
    # one list of (socket index, query id), the others spread evenly
    order = []
    qid = 1
    for addr, count, mine in plan:
        for i in range(count):
            order.append(((i + 0.5) / count, mine[i % len(mine)], qid))
            qid += 1
    order.sort()
    b = Burst()
    wires = [(si, query_wire(NAME, qid=q)) for _, si, q in order]
    t0 = time.monotonic()
    last = t0
    for si, w in wires:
        s, addr, fam = socks[si]
        s.sendto(w, ("::1" if fam == socket.AF_INET6 else "127.0.0.1",
                     rbl.port))
        b.sent[addr] = b.sent.get(addr, 0) + 1
    by_fd = {s.fileno(): (s, addr) for s, addr, _ in socks}
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        ready, _, _ = select.select(list(by_fd), [], [], 0.3)
        if not ready:
            break
        for fd in ready:
            s, addr = by_fd[fd]
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            last = time.monotonic()
            _, flags, rcode, qd, an, ns, ar = parse_header(data)
            if flags & TC:
                if an or ns or qd != 1 or rcode != NOERROR:
                    b.bad.append(data)
                b.tc[addr] = b.tc.get(addr, 0) + 1
            else:
                if rcode != NOERROR or an != 1:
                    b.bad.append(data)
                b.plain[addr] = b.plain.get(addr, 0) + 1
    for s, _, _ in socks:
        s.close()
    b.seconds = last - t0
    return b


def allowance(b, rate=RATE):
    """The most plain answers a prefix may get in a burst: a full bucket
    (one second of the rate, over all workers) plus what refilled until
    the last reply (however slowly the daemon drained the queries), plus
    one per worker for rounding."""
    return rate + rate * b.seconds + 2


def test_flood_is_cut_to_the_rate_with_every_other_limited_answer_truncated(rbl):
    limited(rbl)
    before = rbl.stats()
    others = [("127.0.2.5", 20)] + ([("::1", 10)] if rbl.v6 else [])
    b = burst(rbl, src="127.0.1.5", others=others)
    assert not b.bad, b.bad[:3]
    plain = b.plain.get("127.0.1.5", 0)
    tc = b.tc.get("127.0.1.5", 0)
    # the flooder: about a second of the rate, not 1000
    assert RATE // 2 <= plain <= allowance(b), (plain, b.seconds)
    # slip 2: every other limited answer goes out truncated (per worker)
    dropped = 1000 - plain - tc
    assert abs(tc - dropped) <= 2, (plain, tc, dropped)
    # clients of other prefixes, sending at the same time, lose nothing
    for addr, count in others:
        assert (b.plain.get(addr, 0), b.tc.get(addr, 0)) == (count, 0), addr
    after = rbl.stats()
    assert after["ratelimit_slipped"] - before["ratelimit_slipped"] == tc
    assert after["ratelimit_dropped"] - before["ratelimit_dropped"] == dropped


def test_same_prefix_shares_the_limit(rbl):
    limited(rbl)
    # 127.0.1.5 and 127.0.1.6 are one /24: one bucket between them
    b = burst(rbl, n=500, src="127.0.1.5", others=[("127.0.1.6", 500)])
    assert not b.bad
    assert b.total(b.plain, "127.0.1.5", "127.0.1.6") <= allowance(b)
    assert b.plain.get("127.0.1.6", 0) < 500


def test_ipv4_prefix_setting(rbl):
    limited(rbl, more="  ipv4-prefix = 32")
    b = burst(rbl, n=500, src="127.0.1.5", others=[("127.0.1.6", 20)])
    assert b.plain.get("127.0.1.5", 0) <= allowance(b)
    assert b.plain.get("127.0.1.6", 0) == 20


def test_tcp_from_a_limited_client_is_answered(rbl):
    limited(rbl)
    b = burst(rbl, src="127.0.1.5")
    assert b.plain.get("127.0.1.5", 0) <= allowance(b)
    # the bucket is empty now; 3 x RATE pipelined TCP queries all answered
    with socket.create_connection(("127.0.0.1", rbl.port), timeout=5,
                                  source_address=("127.0.1.5", 0)) as s:
        n = 3 * RATE
        s.sendall(b"".join(tcp_frame(query_wire(NAME, qid=i))
                           for i in range(n)))
        for i in range(n):
            qid, flags, rcode, qd, an, ns, ar = parse_header(recv_frame(s))
            assert (qid, rcode, an, flags & TC) == (i, NOERROR, 1, 0)


def test_answers_resume_after_a_second(rbl):
    limited(rbl)
    b = burst(rbl, src="127.0.1.5")
    assert b.plain.get("127.0.1.5", 0) <= allowance(b)
    time.sleep(1.2)
    for _ in range(RATE // 3):
        r = rbl.query(NAME, "A", src="127.0.1.5", timeout=1.0)
        assert rrs(r, "A") == [BL_ANSWER] and not r.flags & TC


@pytest.mark.parametrize("slip", [0, 1])
def test_slip_never_and_always(rbl, slip):
    limited(rbl, slip=slip)
    b = burst(rbl, src="127.0.1.5")
    assert not b.bad
    plain, tc = b.plain.get("127.0.1.5", 0), b.tc.get("127.0.1.5", 0)
    assert plain <= allowance(b)
    if slip == 0:
        assert tc == 0
    else:
        assert plain + tc == 1000


def test_off_by_default_every_query_answered(rbl):
    rbl.lists(block="192.0.2.1\n")
    b = burst(rbl, src="127.0.1.5")
    assert not b.bad
    assert (b.plain.get("127.0.1.5", 0), b.tc.get("127.0.1.5", 0)) == (1000, 0)
    st = rbl.stats()
    assert st["ratelimit_dropped"] == 0 and st["ratelimit_slipped"] == 0


def test_reload_turns_it_on_and_off(rbl):
    rbl.lists(block="192.0.2.1\n")
    assert burst(rbl, n=300).plain.get("127.0.1.5", 0) == 300

    def reload(extra):
        rbl.extra = extra
        rbl.write_config()
        mark = len(rbl.log())
        rbl.reload()
        assert rbl.wait_log("configuration reloaded", start=mark)

    reload("rate-limit { responses-per-second = %d }" % RATE)
    b = burst(rbl, n=300)
    assert b.plain.get("127.0.1.5", 0) <= allowance(b)
    time.sleep(1.1)
    reload("")
    assert burst(rbl, n=300).plain.get("127.0.1.5", 0) == 300


@pytest.mark.parametrize("option,value", [
    ("responses-per-second", "-1"),
    ("responses-per-second", "1000001"),
    ("slip", "101"),
    ("slip", "-1"),
    ("ipv4-prefix", "0"),
    ("ipv4-prefix", "33"),
    ("ipv6-prefix", "129"),
    ("table-size", "0"),
    ("table-size", "many"),
])
def test_bad_value_fails_check_with_file_and_line(rbl, option, value):
    text = rbl.write_config()
    line = len(text.splitlines()) + 2
    rc, err = rbl.check(text + "rate-limit {\n  %s = %s\n}\n" % (option, value))
    assert rc == 1 and "%s:%d:" % (rbl.confpath, line) in err, err
    assert option in err, err


def test_unknown_key_in_section_fails_check(rbl):
    text = rbl.write_config()
    line = len(text.splitlines()) + 1
    rc, err = rbl.check(text + "rate-limit { rate = 5 }\n")
    assert rc == 1 and "%s:%d:" % (rbl.confpath, line) in err, err


def test_example_values_check_ok(rbl):
    text = rbl.write_config()
    rc, err = rbl.check(text + "rate-limit { responses-per-second = 20  slip = 2"
                        "  ipv4-prefix = 24  ipv6-prefix = 56"
                        "  table-size = 65536 }\n")
    assert rc == 0, err
