"""DNS answers of the local-list zones (DESIGN.md §2, RFC 1035 and 5782)."""

import dns.flags
import pytest

from rbltest import (BL, BL_ANSWER, NOERROR, NXDOMAIN, REFUSED, WL,
                     WL_ANSWER, is_nodata, rev, rrs, txts)

BLOCK = """\
# a comment
192.0.2.1
198.51.100.0/24 :127.0.0.3:Spam source $
!198.51.100.7
2001:db8::/32 :127.0.0.4:v6 net $
"""


# ---- listed and not listed ----

def test_listed_answers_zone_a_with_aa(rbl):
    rbl.lists(block=BLOCK)
    r = rbl.query(rev("192.0.2.1"), "A")
    assert r.rcode() == NOERROR and rrs(r, "A") == [BL_ANSWER]
    assert r.flags & dns.flags.AA and r.flags & dns.flags.QR


def test_listed_answer_ttl_is_the_zones(rbl):
    rbl.lists(block=BLOCK)
    r = rbl.query(rev("192.0.2.1"), "A")
    assert r.answer[0].ttl == 300


def test_listed_txt_expands_dollar_to_the_address(rbl):
    rbl.lists(block=BLOCK)
    r = rbl.query(rev("198.51.100.5"), "TXT")
    assert r.rcode() == NOERROR and txts(r) == ["Spam source 198.51.100.5"]
    assert r.flags & dns.flags.AA


def test_listed_without_text_txt_is_nodata(rbl):
    rbl.lists(block=BLOCK)
    assert is_nodata(rbl.query(rev("192.0.2.1"), "TXT"))


def test_any_gives_a_and_txt(rbl):
    rbl.lists(block=BLOCK)
    r = rbl.query(rev("198.51.100.9"), "ANY")
    assert rrs(r, "A") == [BL_ANSWER] and txts(r) == ["Spam source 198.51.100.9"]


@pytest.mark.parametrize("rdtype", ["AAAA", "MX", "NS", "SOA", "CNAME"])
def test_other_type_on_listed_name_is_nodata_with_soa(rbl, rdtype):
    rbl.lists(block=BLOCK)
    r = rbl.query(rev("192.0.2.1"), rdtype)
    assert is_nodata(r) and r.flags & dns.flags.AA


def test_not_listed_is_nxdomain_with_soa(rbl):
    rbl.lists(block=BLOCK)
    r = rbl.query(rev("192.0.2.2"), "A")
    assert r.rcode() == NXDOMAIN and not r.answer
    assert len(rrs(r, "SOA", "authority")) == 1 and r.flags & dns.flags.AA
    assert r.authority[0].name.to_text() == BL + "."


def test_excluded_address_is_not_listed(rbl):
    rbl.lists(block=BLOCK)
    assert rbl.query(rev("198.51.100.7"), "A").rcode() == NXDOMAIN
    assert rbl.query(rev("198.51.100.8"), "A").rcode() == NOERROR


def test_not_listed_txt_is_nxdomain(rbl):
    rbl.lists(block=BLOCK)
    assert rbl.query(rev("203.0.113.1"), "TXT").rcode() == NXDOMAIN


# ---- the apex and other names ----

def test_apex_soa(rbl):
    rbl.lists()
    r = rbl.query(BL, "SOA")
    soa = r.answer[0][0]
    assert r.rcode() == NOERROR and r.flags & dns.flags.AA
    assert soa.mname.to_text() == BL + "." and soa.rname.to_text() == "hostmaster." + BL + "."


def test_apex_ns(rbl):
    rbl.lists()
    r = rbl.query(WL, "NS")
    assert r.rcode() == NOERROR and rrs(r, "NS") == [WL + "."]


def test_apex_a_is_nodata(rbl):
    rbl.lists()
    assert is_nodata(rbl.query(BL, "A"))


def test_apex_any_has_soa_and_ns(rbl):
    rbl.lists()
    r = rbl.query(BL, "ANY")
    assert len(rrs(r, "SOA")) == 1 and rrs(r, "NS") == [BL + "."]


@pytest.mark.parametrize("name", [
    "2.0.0.127.example.com.",
    "2.0.0.127.xbl.rblcache.internal.",      # not on a label boundary
    "rblcache.internal.",                    # a parent of the zones
    ".",
])
def test_name_outside_every_zone_is_refused(rbl, name):
    rbl.lists()
    r = rbl.query(name, "A")
    assert r.rcode() == REFUSED and not r.answer


def test_class_chaos_is_refused(rbl):
    rbl.lists(block=BLOCK)
    assert rbl.query(rev("192.0.2.1"), "TXT", rdclass="CH").rcode() == REFUSED


def test_query_over_ipv6_transport(rbl):
    if not rbl.v6:
        pytest.skip("no ::1")
    rbl.lists(block=BLOCK)
    assert rrs(rbl.query(rev("192.0.2.1"), "A", v6=True), "A") == [BL_ANSWER]


# ---- allow list, weights and thresholds ----

def test_allow_list_overrides_block_list(rbl):
    rbl.lists(block="192.0.2.0/24\n", allow="192.0.2.9\n")
    assert rbl.query(rev("192.0.2.9"), "A").rcode() == NXDOMAIN
    assert rrs(rbl.query(rev("192.0.2.9", WL), "A"), "A") == [WL_ANSWER]
    assert rbl.query(rev("192.0.2.8"), "A").rcode() == NOERROR


def test_block_only_is_not_in_allow_zone(rbl):
    rbl.lists(block="192.0.2.0/24\n")
    assert rbl.query(rev("192.0.2.8", WL), "A").rcode() == NXDOMAIN


SCORE = "score.rblcache.internal"


@pytest.fixture
def scored(rbl):
    """A zone scoring three lists: two (weight 2) + one (weight 1) reach
    the threshold of 3, either alone does not; allow vetoes."""
    rbl.zones[SCORE] = ('sources = { "two*2", "one*1", "allow*-100" } '
                        'threshold = 3 answer = "127.0.0.9"')
    rbl.lists(two="10.0.0.0/24\n", one="10.0.0.0/25\n10.0.1.0/24\n",
              allow="10.0.0.5\n")
    return rbl


@pytest.mark.parametrize("ip,listed", [
    ("10.0.0.1", True),      # two + one = 3: at the threshold
    ("10.0.0.200", False),   # two only = 2
    ("10.0.1.1", False),     # one only = 1
    ("10.0.0.5", False),     # 3 - 100
    ("10.0.2.1", False),     # nothing
])
def test_weights_against_threshold(scored, ip, listed):
    r = scored.query(rev(ip, SCORE), "A")
    assert (rrs(r, "A") == ["127.0.0.9"]) if listed else r.rcode() == NXDOMAIN


def test_without_zone_answer_a_is_the_entry_value(rbl):
    rbl.zones["plain.rblcache.internal"] = 'sources = { "block*1" }'
    rbl.lists(block=BLOCK)
    z = "plain.rblcache.internal"
    assert rrs(rbl.query(rev("198.51.100.1", z), "A"), "A") == ["127.0.0.3"]
    assert rrs(rbl.query(rev("192.0.2.1", z), "A"), "A") == ["127.0.0.2"]


def test_default_value_line_applies_to_later_entries(rbl):
    rbl.zones["plain.rblcache.internal"] = 'sources = { "block*1" }'
    rbl.lists(block="192.0.2.1\n:127.0.0.5:default text $\n192.0.2.2\n")
    r = rbl.query(rev("192.0.2.2", "plain.rblcache.internal"), "ANY")
    assert rrs(r, "A") == ["127.0.0.5"] and txts(r) == ["default text 192.0.2.2"]


def test_list_ttl_used_when_zone_has_none(rbl):
    rbl.zones["plain.rblcache.internal"] = 'sources = { "block*1" }'
    rbl.lists(block="$TTL 3600\n192.0.2.1\n")
    r = rbl.query(rev("192.0.2.1", "plain.rblcache.internal"), "A")
    assert r.answer[0].ttl == 3600


# ---- IPv6 ----

def test_ipv6_nibble_query(rbl):
    rbl.lists(block=BLOCK)
    r = rbl.query(rev("2001:db8:1::5"), "ANY")
    assert rrs(r, "A") == [BL_ANSWER] and txts(r) == ["v6 net 2001:db8:1::5"]


def test_ipv6_not_listed(rbl):
    rbl.lists(block=BLOCK)
    assert rbl.query(rev("2001:db9::1"), "A").rcode() == NXDOMAIN


def test_ipv4_mapped_nibble_query_uses_ipv4_data(rbl):
    rbl.lists(block=BLOCK)
    assert rrs(rbl.query(rev("::ffff:192.0.2.1"), "A"), "A") == [BL_ANSWER]
    assert txts(rbl.query(rev("::ffff:198.51.100.3"), "TXT")) == ["Spam source 198.51.100.3"]
    assert rbl.query(rev("::ffff:192.0.2.2"), "A").rcode() == NXDOMAIN


def test_uppercase_nibbles_accepted(rbl):
    rbl.lists(block=BLOCK)
    assert rbl.query(rev("2001:db8::a").upper(), "A").rcode() == NOERROR


# ---- RFC 5782 test points ----

@pytest.mark.parametrize("zone,answer", [(BL, BL_ANSWER), (WL, WL_ANSWER)])
@pytest.mark.parametrize("ip", ["127.0.0.2", "::ffff:7f00:2"])
def test_rfc5782_test_point_listed_with_empty_lists(rbl, zone, answer, ip):
    rbl.lists()
    assert rrs(rbl.query(rev(ip, zone), "A"), "A") == [answer]
    assert len(txts(rbl.query(rev(ip, zone), "TXT"))) >= 1


@pytest.mark.parametrize("zone", [BL, WL])
@pytest.mark.parametrize("ip", ["127.0.0.1", "::ffff:7f00:1"])
def test_rfc5782_test_point_not_listed(rbl, zone, ip):
    rbl.lists()
    assert rbl.query(rev(ip, zone), "A").rcode() == NXDOMAIN


def test_rfc5782_127_0_0_1_never_listed_even_when_in_a_list(rbl):
    rbl.lists(block="127.0.0.0/8\n", allow="127.0.0.0/8\n")
    assert rbl.query(rev("127.0.0.1", WL), "A").rcode() == NXDOMAIN
    assert rbl.query(rev("127.0.0.3", WL), "A").rcode() == NOERROR


def test_rfc5782_127_0_0_2_listed_even_when_allowed(rbl):
    rbl.lists(allow="127.0.0.0/8\n")
    assert rrs(rbl.query(rev("127.0.0.2"), "A"), "A") == [BL_ANSWER]


# ---- strict names ----

@pytest.mark.parametrize("prefix", [
    "02.0.0.127",            # leading zero
    "256.0.0.127",           # octet > 255
    "0.0.127",               # 3 labels
    "2.0.0.127.1",           # 5 labels
    "a.0.0.127",             # not a number
    "-1.0.0.127",
    "2.0.0.0127",
    "x.2.0.0.127",
    "g" + ".0" * 31,         # bad nibble
    ".".join("0" * 31),      # 31 nibbles
    ".".join("0" * 33),      # 33 nibbles
    "00" + ".0" * 31,        # a 2-character label among nibbles
    "www",
])
def test_strict_names_are_nxdomain(rbl, prefix):
    rbl.lists(block="0.0.0.0/0\n::/0\n")
    r = rbl.query(prefix + "." + BL, "A")
    assert r.rcode() == NXDOMAIN and len(rrs(r, "SOA", "authority")) == 1


def test_zero_octets_are_fine(rbl):
    rbl.lists(block="10.0.0.0\n")
    assert rbl.query(rev("10.0.0.0"), "A").rcode() == NOERROR


# ---- case ----

def test_qname_case_insensitive_and_echoed(rbl):
    rbl.lists(block=BLOCK)
    name = "1.2.0.192.Bl.RblCache.INTERNAL."
    r = rbl.query(name, "A")
    assert rrs(r, "A") == [BL_ANSWER]
    assert r.question[0].name.to_text() == name and r.answer[0].name.to_text() == name


def test_nxdomain_case_insensitive_zone(rbl):
    rbl.lists()
    r = rbl.query("9.9.9.9.BL.RBLCACHE.INTERNAL.", "A")
    assert r.rcode() == NXDOMAIN and r.question[0].name.to_text() == "9.9.9.9.BL.RBLCACHE.INTERNAL."


PAT = "pat.rblcache.internal"


@pytest.mark.parametrize("source,ip,listed", [
    ("block=127.0.0.3*1", "198.51.100.1", True),       # value 127.0.0.3
    ("block=127.0.0.3*1", "192.0.2.1", False),         # value 127.0.0.2
    ("block=127.0.0.[2..3]*1", "192.0.2.1", True),
    ("block=127.0.0.[4;5]*1", "198.51.100.1", False),
    ("block=127.0.0.[1;3..9]*1", "2001:db8::1", True),  # value 127.0.0.4
])
def test_answer_pattern_applies_to_local_entry_value(rbl, source, ip, listed):
    rbl.zones[PAT] = 'sources = { "%s" } threshold = 1 answer = "127.0.0.9"' % source
    rbl.lists(block=BLOCK)
    r = rbl.query(rev(ip, PAT), "A")
    assert (rrs(r, "A") == ["127.0.0.9"]) if listed else r.rcode() == NXDOMAIN


# ---- zone names ----

def test_nested_zones_longest_match_wins(rbl):
    sub = "sub." + BL
    rbl.zones[sub] = 'sources = { "allow*1" } answer = "127.0.0.77"'
    rbl.lists(block="192.0.2.1\n", allow="192.0.2.2\n")
    assert rrs(rbl.query(rev("192.0.2.2", sub), "A"), "A") == ["127.0.0.77"]
    assert rbl.query(rev("192.0.2.1", sub), "A").rcode() == NXDOMAIN
    assert rrs(rbl.query(sub, "SOA"), "SOA") and rrs(rbl.query(rev("192.0.2.1"), "A"), "A")


def test_zone_written_with_capitals_and_trailing_dot(rbl):
    rbl.zones["Mixed.Example.TEST."] = 'sources = { "block*1" }'
    rbl.lists(block="192.0.2.1\n")
    r = rbl.query(rev("192.0.2.1", "mixed.example.test"), "A")
    assert rrs(r, "A") == ["127.0.0.2"]
