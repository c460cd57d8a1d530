"""allow-query: clients outside it get REFUSED, over UDP and TCP."""

import pytest

from rbltest import BL, BL_ANSWER, REFUSED, rev, rrs


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
