"""EDNS0 (RFC 6891) and truncation: OPT echoed, BADVERS, TC over UDP."""

import dns.edns
import dns.flags
import dns.message

from rbltest import (BADVERS, BL, FORMERR, NOERROR, NXDOMAIN, header,
                     opt_rr, parse_header, question, recv_frame, rev, rrs,
                     tcp_frame, txts)


def test_opt_echoed_with_our_payload(rbl):
    rbl.lists(block="192.0.2.1\n")
    r = rbl.query(rev("192.0.2.1"), "A", edns=0, payload=4096)
    assert r.edns == 0 and r.payload == 1232 and rrs(r, "A")


def test_small_client_payload_is_echoed_as_ours(rbl):
    rbl.lists()
    r = rbl.query(rev("192.0.2.1"), "A", edns=0, payload=512)
    assert r.rcode() == NXDOMAIN and r.edns == 0 and r.payload == 1232


def test_no_opt_without_edns(rbl):
    rbl.lists(block="192.0.2.1\n")
    assert rbl.query(rev("192.0.2.1"), "A").edns == -1


def test_do_bit_echoed(rbl):
    rbl.lists(block="192.0.2.1\n")
    r = rbl.query(rev("192.0.2.1"), "A", edns=0, do=True)
    assert r.ednsflags & dns.flags.DO and rrs(r, "A")


def test_do_bit_not_set_when_not_asked(rbl):
    rbl.lists()
    assert not rbl.query(BL, "SOA", edns=0).ednsflags & dns.flags.DO


def test_edns_version_1_is_badvers(rbl):
    rbl.lists(block="192.0.2.1\n")
    r = rbl.query(rev("192.0.2.1"), "A", edns=1)
    assert r.rcode() == BADVERS and r.edns == 0 and not r.answer


def test_badvers_over_tcp(rbl):
    rbl.lists()
    assert rbl.query(BL, "SOA", edns=1, tcp=True).rcode() == BADVERS


def test_two_opt_records_is_formerr(rbl):
    rbl.lists()
    pkt = header(qid=0x4242, ar=2) + question(BL, 6) + opt_rr() + opt_rr()
    qid, flags, rcode, *_ = parse_header(rbl.send_raw(pkt))
    assert (qid, rcode) == (0x4242, FORMERR) and flags & 0x8000


def test_opt_in_answer_section_is_formerr(rbl):
    rbl.lists()
    pkt = header(an=1) + question(BL, 6) + opt_rr()
    assert parse_header(rbl.send_raw(pkt))[2] == FORMERR


def test_opt_with_non_root_owner_is_formerr(rbl):
    rbl.lists()
    pkt = header(ar=1) + question(BL, 6) + b"\x01x" + opt_rr()
    assert parse_header(rbl.send_raw(pkt))[2] == FORMERR


def test_opt_rdata_past_the_end_is_formerr(rbl):
    rbl.lists()
    opt = opt_rr()[:-2] + b"\x00\x10"          # rdlen 16, nothing follows
    pkt = header(ar=1) + question(BL, 6) + opt
    assert parse_header(rbl.send_raw(pkt))[2] == FORMERR


# ---- truncation ----

BIG = "big.rblcache.internal"
LONGS = [c * 250 for c in "xyz"]


def big_answer(rbl):
    """192.0.2.1 with a 250-byte text in three lists of one zone: the TXT
    answer is about 850 bytes."""
    rbl.zones[BIG] = 'sources = { "l1*1", "l2*1", "l3*1" } threshold = 1'
    rbl.lists(**{"l%d" % (i + 1): "192.0.2.1 :127.0.0.2:%s\n" % t
                 for i, t in enumerate(LONGS)})
    return rev("192.0.2.1", BIG)


def test_big_answer_without_edns_is_truncated_over_udp(rbl):
    r = rbl.query(big_answer(rbl), "TXT")
    assert r.flags & dns.flags.TC and r.rcode() == NOERROR and not r.answer


def test_truncated_udp_reply_fits_512_and_keeps_the_question(rbl):
    name = big_answer(rbl)
    data = rbl.send_raw(dns.message.make_query(name, "TXT").to_wire())
    assert len(data) <= 512 and parse_header(data)[3] == 1
    assert dns.message.from_wire(data).question[0].name.to_text() == name


def test_big_answer_over_tcp_is_complete(rbl):
    r = rbl.query(big_answer(rbl), "TXT", tcp=True)
    assert not r.flags & dns.flags.TC and sorted(txts(r)) == LONGS


def test_big_answer_fits_edns_payload(rbl):
    r = rbl.query(big_answer(rbl), "ANY", edns=0, payload=1232)
    assert not r.flags & dns.flags.TC and sorted(txts(r)) == LONGS and rrs(r, "A")


def test_edns_payload_smaller_than_answer_truncates_and_keeps_opt(rbl):
    r = rbl.query(big_answer(rbl), "TXT", edns=0, payload=600)
    assert r.flags & dns.flags.TC and not r.answer and r.edns == 0


def test_small_answer_in_big_zone_not_truncated(rbl):
    r = rbl.query(big_answer(rbl), "A")
    assert not r.flags & dns.flags.TC and rrs(r, "A") == ["127.0.0.2"]


def test_longest_text_fits_one_string(rbl):
    rbl.zones[BIG] = 'sources = { "l1*1" } threshold = 1'
    rbl.lists(l1="192.0.2.1 :127.0.0.2:%s\n" % ("y" * 300))
    r = rbl.query(rev("192.0.2.1", BIG), "TXT", tcp=True)
    assert r.rcode() == NOERROR and 250 <= len(txts(r)[0]) <= 255


def test_tiny_edns_payload_treated_as_512(rbl):
    rbl.lists(block="192.0.2.1\n")
    r = rbl.query(rev("192.0.2.1"), "A", edns=0, payload=100)
    assert rrs(r, "A") and not r.flags & dns.flags.TC


def test_edns_tiny_payload_still_truncates_big_answer(rbl):
    r = rbl.query(big_answer(rbl), "TXT", edns=0, payload=100)
    assert r.flags & dns.flags.TC and not r.answer


def test_edns_options_are_skipped(rbl):
    rbl.lists(block="192.0.2.1\n")
    q = dns.message.make_query(rev("192.0.2.1"), "A")
    q.use_edns(0, payload=1232, options=[
        dns.edns.GenericOption(10, b"\x01" * 8),                # cookie
        dns.edns.ECSOption("198.51.100.0", 24)])
    r = dns.message.from_wire(rbl.send_raw(q.to_wire()))
    assert r.id == q.id and rrs(r, "A") and r.edns == 0 and not r.options


def test_edns_payload_limit_is_exact(rbl):
    name = big_answer(rbl)
    q = dns.message.make_query(name, "TXT")
    q.use_edns(0, payload=1232)
    with rbl.tcp_connect() as s:
        s.sendall(tcp_frame(q.to_wire()))
        size = len(recv_frame(s))
    assert 512 < size < 1232
    fits = rbl.query(name, "TXT", edns=0, payload=size)
    assert not fits.flags & dns.flags.TC and sorted(txts(fits)) == LONGS
    assert rbl.query(name, "TXT", edns=0, payload=size - 1).flags & dns.flags.TC


def test_udp_answers_never_exceed_1232_even_if_client_allows_more(rbl):
    rbl.zones[BIG] = 'sources = { %s } threshold = 1' % ", ".join(
        '"l%d*1"' % i for i in range(6))
    rbl.lists(**{"l%d" % i: "192.0.2.1 :127.0.0.2:%s\n" % (chr(97 + i) * 250)
                 for i in range(6)})
    q = dns.message.make_query(rev("192.0.2.1", BIG), "TXT")
    q.use_edns(0, payload=4096)
    data = rbl.send_raw(q.to_wire())
    assert len(data) <= 1232 and parse_header(data)[1] & 0x0200     # TC
    assert len(txts(rbl.query(rev("192.0.2.1", BIG), "TXT", tcp=True))) == 6
