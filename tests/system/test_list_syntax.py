"""List file syntax as the daemon serves it (README "List files"): values,
defaults, variables, $TTL, CRLF, and the rule for a prefix given twice.
The rbldnsd-compatible core is also checked against rbldnsd itself by
test_differential.py; these pin the cases the README spells out."""

import pytest

from rbltest import NXDOMAIN, rev, rrs, txts

Z = "plain.rblcache.internal"       # no zone answer: A is the entry's value


@pytest.fixture
def plain(rbl):
    rbl.zones[Z] = 'sources = { "block*1" }'
    return rbl


def answer(rbl, ip):
    """(A values, TXT strings) for ip in the plain zone, or 'NXDOMAIN'."""
    r = rbl.query(rev(ip, Z), "ANY")
    if r.rcode() == NXDOMAIN:
        return "NXDOMAIN"
    return rrs(r, "A"), txts(r)


@pytest.mark.parametrize("line,ip,want", [
    ("192.0.2.1", "192.0.2.1", (["127.0.0.2"], [])),
    ("192.0.2.1 :127.0.0.3:text $", "192.0.2.1", (["127.0.0.3"], ["text 192.0.2.1"])),
    ("192.0.2.1 :5:five", "192.0.2.1", (["127.0.0.5"], ["five"])),
    ("192.0.2.1:4:glued", "192.0.2.1", (["127.0.0.4"], ["glued"])),
    ("192.0.2.1 :127.0.0.6:", "192.0.2.1", (["127.0.0.6"], [])),
    ("192.0.2.1 just text $", "192.0.2.1", (["127.0.0.2"], ["just text 192.0.2.1"])),
    ("192.0.2.1 :3:cost $$5", "192.0.2.1", (["127.0.0.3"], ["cost $5"])),
    ("10.2.3", "10.2.3.200", (["127.0.0.2"], [])),
    ("10.2.3", "10.2.4.1", "NXDOMAIN"),
    ("2001:db8:1", "2001:db8:1:ffff::1", (["127.0.0.2"], [])),
    ("2001:db8::/32 :2:IPv6 source $", "2001:db8::ff", (["127.0.0.2"], ["IPv6 source 2001:db8::ff"])),
])
def test_entry_values(plain, line, ip, want):
    plain.lists(block=line + "\n")
    assert answer(plain, ip) == want


def test_default_line_sets_a_and_text_for_later_entries(plain):
    plain.lists(block="192.0.2.1\n:127.0.0.9:Listed: $\n192.0.2.2\n192.0.2.3 :4\n")
    assert answer(plain, "192.0.2.1") == (["127.0.0.2"], [])
    assert answer(plain, "192.0.2.2") == (["127.0.0.9"], ["Listed: 192.0.2.2"])
    assert answer(plain, "192.0.2.3") == (["127.0.0.4"], ["Listed: 192.0.2.3"])


def test_variable_in_text(plain):
    plain.lists(block="$1 see https://example.org/\n192.0.2.1 :3:blocked, $1\n")
    assert answer(plain, "192.0.2.1") == (["127.0.0.3"], ["blocked, see https://example.org/"])


def test_crlf_line_endings(plain):
    plain.lists(block="# dos\r\n192.0.2.1 :3:text\r\n192.0.2.2\r\n")
    assert answer(plain, "192.0.2.1") == (["127.0.0.3"], ["text"])
    assert answer(plain, "192.0.2.2") == (["127.0.0.2"], [])


def test_ttl_line_last_one_wins(plain):
    plain.lists(block="$TTL 100\n192.0.2.1\n$TTL 2h\n")
    assert plain.query(rev("192.0.2.1", Z), "A").answer[0].ttl == 7200


def test_same_prefix_twice_first_line_wins(plain):
    plain.lists(block="192.0.2.0/24 :3:first\n192.0.2.0/24 :4:second\n")
    assert answer(plain, "192.0.2.9") == (["127.0.0.3"], ["first"])


def test_nested_exclusion_and_listing(plain):
    plain.lists(block="10.0.0.0/8 :3:outer\n!10.1.0.0/16\n10.1.2.0/24 :4:inner\n!10.1.2.3\n")
    assert answer(plain, "10.9.9.9") == (["127.0.0.3"], ["outer"])
    assert answer(plain, "10.1.9.9") == "NXDOMAIN"
    assert answer(plain, "10.1.2.4") == (["127.0.0.4"], ["inner"])
    assert answer(plain, "10.1.2.3") == "NXDOMAIN"


def test_ipv6_exclusion(plain):
    plain.lists(block="2001:db8::/32\n!2001:db8:bad::/48\n")
    assert answer(plain, "2001:db8:bad::1") == "NXDOMAIN"
    assert answer(plain, "2001:db8:bae::1") == (["127.0.0.2"], [])


def test_soa_and_ns_lines_ignored(plain):
    plain.lists(block="$SOA 3600 ns.example. hm.example. 1 3600 600 86400 300\n"
                      "$NS 3600 ns.example.\n192.0.2.1\n")
    assert answer(plain, "192.0.2.1") == (["127.0.0.2"], [])


def test_comments_and_blank_lines(plain):
    plain.lists(block="\n# c\n; c\n   \n\t\n192.0.2.1   # trailing\n")
    assert answer(plain, "192.0.2.1") == (["127.0.0.2"], [])


def test_ipv4_and_ipv6_share_a_file(plain):
    plain.lists(block="192.0.2.1 :3:v4\n2001:db8::1 :4:v6\n")
    assert answer(plain, "192.0.2.1") == (["127.0.0.3"], ["v4"])
    assert answer(plain, "2001:db8::1") == (["127.0.0.4"], ["v6"])


def test_txt_of_several_lists_in_source_order(rbl):
    rbl.zones[Z] = 'sources = { "a*1", "b*1", "allow*-1" } threshold = 1'
    rbl.lists(a="192.0.2.0/24 :3:from a\n", b="192.0.2.1 :4:from b\n",
              allow="192.0.2.1 :5:allowed\n")
    r = rbl.query(rev("192.0.2.1", Z), "ANY")
    # the first positive match gives the A; negative sources add no text
    assert rrs(r, "A") == ["127.0.0.3"] and sorted(txts(r)) == ["from a", "from b"]
