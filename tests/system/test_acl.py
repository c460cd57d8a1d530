"""allow-query: clients outside it get REFUSED, over UDP and TCP, or
nothing with allow-query-action "drop"."""

import socket

import dns.exception
import pytest

from rbltest import BL, BL_ANSWER, REFUSED, query_wire, rev, rrs, tcp_frame


@pytest.fixture
def only_127_0_0_2(rbl):
    rbl.allow_query = ["127.0.0.2/32"]
    rbl.lists(block="192.0.2.1\n")
    return rbl


def test_client_outside_allow_query_refused(only_127_0_0_2):
    r = only_127_0_0_2.query(rev("192.0.2.1"), "A", src="127.0.0.1")
    assert r.rcode() == REFUSED and not r.answer


def test_client_inside_allow_query_answered(only_127_0_0_2):
    r = only_127_0_0_2.query(rev("192.0.2.1"), "A", src="127.0.0.2")
    assert rrs(r, "A") == [BL_ANSWER]


def test_acl_over_tcp(only_127_0_0_2):
    assert only_127_0_0_2.query(BL, "SOA", tcp=True, src="127.0.0.1").rcode() == REFUSED
    assert rrs(only_127_0_0_2.query(BL, "SOA", tcp=True, src="127.0.0.2"), "SOA")


def test_acl_refuses_apex_and_foreign_names_too(only_127_0_0_2):
    assert only_127_0_0_2.query(BL, "SOA", src="127.0.0.3").rcode() == REFUSED


def test_ipv6_client_outside_v4_only_acl_refused(rbl):
    if not rbl.v6:
        pytest.skip("no ::1")
    rbl.allow_query = ["127.0.0.0/8"]
    rbl.lists(block="192.0.2.1\n")
    assert rbl.query(rev("192.0.2.1"), "A", v6=True).rcode() == REFUSED
    assert rrs(rbl.query(rev("192.0.2.1"), "A"), "A") == [BL_ANSWER]


def test_allow_query_prefix(rbl):
    rbl.allow_query = ["127.0.0.0/31"]
    rbl.lists(block="192.0.2.1\n")
    assert rrs(rbl.query(rev("192.0.2.1"), "A", src="127.0.0.1"), "A")
    assert rbl.query(rev("192.0.2.1"), "A", src="127.0.0.2").rcode() == REFUSED


# ---- allow-query-action ----

@pytest.fixture
def dropping(rbl):
    # 127.0.0.1 stays inside: the fixture's readiness probe comes from it
    rbl.allow_query = ["127.0.0.1/32", "127.0.0.2/32"]
    rbl.extra = 'allow-query-action = "drop"'
    rbl.lists(block="192.0.2.1\n")
    return rbl


def test_drop_outside_gets_no_answer_inside_answered(dropping):
    before = dropping.stats()
    with pytest.raises(dns.exception.Timeout):
        dropping.query(rev("192.0.2.1"), "A", src="127.0.0.3", timeout=0.5)
    # not even an error for a query the parser would refuse
    assert dropping.send_raw(b"\x12\x34\x01\x00\x00\x02" + b"\0" * 6,
                             timeout=0.5, src="127.0.0.3") is None
    assert rrs(dropping.query(rev("192.0.2.1"), "A", src="127.0.0.2"), "A") \
        == [BL_ANSWER]
    after = dropping.stats()
    assert after["dropped_acl"] - before["dropped_acl"] == 2
    assert after["refused_acl"] == before["refused_acl"]


def test_drop_ipv6_client_outside(dropping):
    if not dropping.v6:
        pytest.skip("no ::1")
    with pytest.raises(dns.exception.Timeout):
        dropping.query(BL, "SOA", v6=True, timeout=0.5)


def test_drop_closes_tcp_at_once(dropping):
    before = dropping.stats()["dropped_acl"]
    with socket.create_connection(("127.0.0.1", dropping.port), timeout=3,
                                  source_address=("127.0.0.3", 0)) as s:
        try:
            s.sendall(tcp_frame(query_wire(BL, qtype=6)))
            got = s.recv(512)
        except ConnectionResetError:
            got = b""
        assert got == b""           # closed, well before the 10 s idle time
    assert dropping.stats()["dropped_acl"] == before + 1
    assert rrs(dropping.query(BL, "SOA", tcp=True, src="127.0.0.2"), "SOA")


def test_refuse_is_the_default_and_explicit(rbl):
    rbl.allow_query = ["127.0.0.1/32"]
    rbl.extra = 'allow-query-action = "refuse"'
    rbl.lists(block="192.0.2.1\n")
    assert rbl.query(rev("192.0.2.1"), "A", src="127.0.0.3").rcode() == REFUSED
    st = rbl.stats()
    assert st["refused_acl"] == 1 and st["dropped_acl"] == 0


def test_bad_action_fails_check_with_file_and_line(rbl):
    text = rbl.write_config()
    rc, err = rbl.check(text + 'allow-query-action = "ignore"\n')
    line = len(text.splitlines()) + 1
    assert rc == 1 and "%s:%d:" % (rbl.confpath, line) in err, err
    assert "allow-query-action" in err and "ignore" in err, err
