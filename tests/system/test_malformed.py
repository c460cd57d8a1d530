"""Malformed packets over UDP: FORMERR where a reply is due, dropped when
there is nobody to answer, never a crash (each case ends with a query
that must still be answered)."""

import random
import socket
import struct
import time

import pytest

from rbltest import (BL, BL_ANSWER, FORMERR, NOERROR, NOTIMP, REFUSED,
                     header, parse_header, query_wire, question, rev, rrs,
                     wire_name)


@pytest.fixture
def live(rbl):
    """A daemon that must still answer a listed address after the test."""
    rbl.lists(block="192.0.2.1\n")
    yield rbl
    assert rbl.alive(), "rblcached died (status %s)" % rbl.proc.returncode
    r = rbl.query(rev("192.0.2.1"), "A", timeout=2.0)
    assert rrs(r, "A") == [BL_ANSWER]


def reply_rcode(rbl, pkt, qid=0x1234):
    data = rbl.send_raw(pkt, timeout=1.0)
    assert data is not None, "no reply"
    rid, flags, rcode, *_ = parse_header(data)
    assert rid == qid and flags & 0x8000, "not a reply to our query"
    return rcode


# ---- too short to answer: dropped ----

@pytest.mark.parametrize("pkt", [
    b"",
    bytes([0x5A, 0x01, 0xFF, 0x00, 0x33]),
    header()[:11],
], ids=["empty", "5-bytes", "11-bytes"])
def test_shorter_than_header_dropped(live, pkt):
    assert live.send_raw(pkt, timeout=0.3) is None


@pytest.mark.parametrize("flags", [0x8000, 0x8400, 0x8003, 0x8000 | 4 << 11])
def test_response_packet_not_answered(live, flags):
    pkt = query_wire(rev("192.0.2.1"), flags=flags)
    assert live.send_raw(pkt, timeout=0.3) is None


# ---- FORMERR ----

LONG_LABELS = ".".join(["a" * 60] * 5)      # 5 * 61 + 1 = 306 bytes


@pytest.mark.parametrize("pkt", [
    header(qd=1),                                          # no question
    header(qd=0) + question(BL, 6),
    header(qd=0),
    header(qd=2) + question(BL, 6) + question(BL, 2),
    header(qd=2) + question(BL, 6),
    header() + b"\x3f" + b"abcde",                         # label past the end
    header() + b"\x03abc",                                 # no root label
    header() + b"\xc0\x0c\x00\x06\x00\x01",                # pointer loop
    header() + b"\x02bl\xc0\x0c\x00\x01\x00\x01",          # loop via a label
    header() + b"\xc0\x12\x00\x01\x00\x01" + wire_name(BL),  # any pointer
    header() + b"\xc0",                                    # half a pointer
    header() + b"\x41" + b"a" * 65 + b"\x00\x00\x01\x00\x01",  # 0x40 label type
    header() + b"\x80" + b"\x00\x00\x01\x00\x01",          # 0x80 label type
    header() + wire_name(LONG_LABELS) + b"\x00\x01\x00\x01",  # 300-byte name
    header() + wire_name(BL),                              # no type/class
    header() + wire_name(BL) + b"\x00\x06\x00",            # half a class
    header(an=1) + question(BL, 6),                        # missing record
    header(ns=1) + question(BL, 6) + b"\x00\x00\x01",      # short record
    header(ar=1) + question(BL, 6) + b"\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x20",
    header(ar=65535) + question(BL, 6),
], ids=["header-only", "qd0-with-question", "qd0", "qd2", "qd2-one-question",
        "label-past-end", "no-root", "pointer-loop", "pointer-loop-2",
        "pointer", "half-pointer", "label-0x40", "label-0x80", "300-byte-name",
        "no-type", "half-class", "an-missing", "ns-short", "ar-rdlen-past-end",
        "ar-65535"])
def test_malformed_is_formerr(live, pkt):
    assert reply_rcode(live, pkt) == FORMERR


def test_formerr_echoes_id_and_no_question(live):
    data = live.send_raw(header(qid=0xBEEF, qd=2) + question(BL, 6))
    qid, flags, rcode, qd, an, ns, ar = parse_header(data)
    assert (qid, rcode, an, ns) == (0xBEEF, FORMERR, 0, 0) and flags & 0x8000


def test_name_of_255_bytes_is_accepted(live):
    # 3 * 64 + 62 + 1 = 255: the longest legal name, outside every zone
    name = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(wire_name(name)) == 255
    assert reply_rcode(live, header() + wire_name(name) + b"\x00\x01\x00\x01") == REFUSED


def test_name_of_256_bytes_is_formerr(live):
    name = ".".join(["a" * 63] * 3 + ["b" * 62])
    assert reply_rcode(live, header() + wire_name(name) + b"\x00\x01\x00\x01") == FORMERR


def test_trailing_garbage_after_question_is_ignored(live):
    pkt = query_wire(rev("192.0.2.1")) + b"\xff" * 7
    assert reply_rcode(live, pkt) == NOERROR


# ---- opcodes ----

@pytest.mark.parametrize("opcode", [1, 2, 4, 5, 15], ids=["IQUERY", "STATUS", "NOTIFY", "UPDATE", "15"])
def test_other_opcodes_are_notimp(live, opcode):
    data = live.send_raw(query_wire(BL, 6, flags=opcode << 11))
    qid, flags, rcode, *_ = parse_header(data)
    assert rcode == NOTIMP and (flags >> 11) & 0xF == opcode and flags & 0x8000


# ---- random input ----

def test_random_garbage_never_kills_it(live):
    rng = random.Random(5782)
    valid = [query_wire(rev("192.0.2.%d" % i), qtype=rng.choice([1, 16, 255]),
                        ar=b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00", nar=1)
             for i in range(1, 20)]
    pkts = []
    for i in range(200):
        pkts.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 600))))
    for i in range(300):
        p = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 6)):
            p[rng.randrange(len(p))] = rng.getrandbits(8)
        if rng.random() < 0.3:
            p = p[:rng.randint(0, len(p))]
        pkts.append(bytes(p))
    bad = check_replies(live, pkts)
    assert not bad, bad[:5]


def check_replies(rbl, pkts):
    """Sends pkts in bursts, checks every reply is a reply (QR set) with
    an id we sent; returns the offending replies."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ids, bad = set(), []
    try:
        for k in range(0, len(pkts), 50):
            for p in pkts[k:k + 50]:
                if len(p) >= 2:
                    ids.add(struct.unpack("!H", p[:2])[0])
                s.sendto(p, ("127.0.0.1", rbl.port))
            s.settimeout(0.2)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                try:
                    data = s.recv(65535)
                except socket.timeout:
                    break
                if len(data) < 12 or not data[2] & 0x80 or \
                        struct.unpack("!H", data[:2])[0] not in ids:
                    bad.append(data[:40])
    finally:
        s.close()
    return bad
