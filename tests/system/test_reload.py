"""Reloads: list files are watched (edits served within ~2 s), SIGHUP
reloads the config and every list, and a broken edit keeps the previous
version serving with file:line in the log."""

import os
import threading
import time

import dns.exception

from rbltest import (BL, BL_ANSWER, NOERROR, NXDOMAIN, REFUSED, rev, rrs,
                     txts, wait_until)

PICKUP = 2.5        # seconds an edit may take to be served


def listed(rbl, ip, zone=BL):
    return rbl.query(rev(ip, zone), "A").rcode() == NOERROR


def served(rbl, ip, zone=BL, timeout=PICKUP):
    """Waits until ip is listed in zone."""
    return wait_until(lambda: listed(rbl, ip, zone), timeout)


# ---- list files ----

def test_list_replaced_by_rename_is_served(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.write_list("block", "192.0.2.2\n")
    assert served(rbl, "192.0.2.2") and not listed(rbl, "192.0.2.1")


def test_list_rewritten_in_place_is_served(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.write_list("block", "192.0.2.1\n198.51.100.0/24\n", inplace=True)
    assert served(rbl, "198.51.100.77") and listed(rbl, "192.0.2.1")


def test_list_edits_in_a_row(rbl):
    rbl.lists(block="192.0.2.1\n")
    for i in range(2, 5):
        rbl.write_list("block", "192.0.2.%d\n" % i)
        assert served(rbl, "192.0.2.%d" % i), "edit %d not served" % i


def test_allow_list_edit_changes_both_zones(rbl):
    rbl.lists(block="192.0.2.0/24\n")
    rbl.write_list("allow", "192.0.2.5\n")
    assert served(rbl, "192.0.2.5", "wl.rblcache.internal")
    assert not listed(rbl, "192.0.2.5")


def test_sighup_reloads_a_list_whose_stat_did_not_change(rbl):
    rbl.lists(block="192.0.2.1\n")
    p = rbl.path("block")
    st = os.stat(p)
    rbl.write_list("block", "192.0.2.7\n", inplace=True)     # same size
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    rbl.reload()
    assert served(rbl, "192.0.2.7") and not listed(rbl, "192.0.2.1")
    assert rbl.wait_log("configuration reloaded")


def test_broken_edit_keeps_old_data_and_names_file_line(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.write_list("block", "# new\n192.0.2.2\nnot-an-address\n192.0.2.3\n")
    assert rbl.wait_log("%s:3:" % rbl.path("block"), timeout=PICKUP)
    assert listed(rbl, "192.0.2.1") and not listed(rbl, "192.0.2.2")
    assert "still serving the previous version" in rbl.log()


def test_fixed_edit_after_broken_one_is_served(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.write_list("block", "192.0.2.2\n192.0.2.300\n")
    assert rbl.wait_log("%s:2:" % rbl.path("block"), timeout=PICKUP)
    rbl.write_list("block", "192.0.2.2\n")
    assert served(rbl, "192.0.2.2") and not listed(rbl, "192.0.2.1")


def test_broken_in_place_edit_then_fixed_in_place(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.write_list("block", "192.0.2.2/33\n", inplace=True)
    assert rbl.wait_log("%s:1:" % rbl.path("block"), timeout=PICKUP)
    rbl.write_list("block", "192.0.2.2/32\n192.0.2.9\n", inplace=True)
    assert served(rbl, "192.0.2.9") and listed(rbl, "192.0.2.2")


def test_broken_file_reported_once(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.write_list("block", "192.0.2.2\n256.1.2.3\n")
    where = "%s:2:" % rbl.path("block")
    assert rbl.wait_log(where, timeout=PICKUP)
    time.sleep(2.2)
    assert rbl.log().count(where) == 1 and listed(rbl, "192.0.2.1")


def test_deleted_list_keeps_serving_then_recreated(rbl):
    rbl.lists(block="192.0.2.1\n")
    os.unlink(rbl.path("block"))
    time.sleep(PICKUP - 1)
    assert listed(rbl, "192.0.2.1") and rbl.alive()
    rbl.write_list("block", "192.0.2.4\n")
    assert served(rbl, "192.0.2.4") and not listed(rbl, "192.0.2.1")


# ---- the configuration ----

NEW = "new.rblcache.internal"


def test_sighup_adds_a_zone(rbl):
    rbl.lists(block="192.0.2.1\n")
    assert rbl.query(rev("192.0.2.1", NEW), "A").rcode() == REFUSED
    rbl.zones[NEW] = 'sources = { "block*1" } answer = "127.0.0.8"'
    rbl.write_config()
    rbl.reload()
    assert served(rbl, "192.0.2.1", NEW)
    assert rrs(rbl.query(rev("192.0.2.1", NEW), "A"), "A") == ["127.0.0.8"]


def test_sighup_adds_a_list(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.write_list("extra", "203.0.113.0/24\n")
    rbl.zones[BL] = 'sources = { "block*10", "extra*10" } threshold = 3 answer = "127.0.0.2"'
    rbl.write_config()
    rbl.reload()
    assert served(rbl, "203.0.113.9") and listed(rbl, "192.0.2.1")


def test_sighup_removes_a_zone(rbl):
    rbl.lists(allow="192.0.2.1\n")
    del rbl.zones["wl.rblcache.internal"]
    rbl.write_config()
    rbl.reload()
    assert wait_until(lambda: rbl.query(rev("192.0.2.1", "wl.rblcache.internal"),
                                        "A").rcode() == REFUSED, PICKUP)


def test_sighup_changes_allow_query(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.allow_query = ["127.0.0.2/32"]
    rbl.write_config()
    rbl.reload()
    assert wait_until(lambda: rbl.query(BL, "SOA").rcode() == REFUSED, PICKUP)
    assert rbl.query(BL, "SOA", src="127.0.0.2").rcode() == NOERROR


def test_broken_config_on_sighup_keeps_the_old_one(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.write_config(rbl.config_text() + "zone \"x.internal\" { sources = {\n")
    rbl.reload()
    assert rbl.wait_log("configuration reload failed")
    assert listed(rbl, "192.0.2.1") and rbl.alive()


def test_config_with_broken_list_on_sighup_keeps_the_old_one(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.write_list("extra", "192.0.2.2\nbogus\n")
    rbl.zones[BL] = 'sources = { "extra*10" } threshold = 3'
    rbl.write_config()
    rbl.reload()
    assert rbl.wait_log("configuration reload failed")
    assert "%s:2:" % rbl.path("extra") in rbl.log()
    assert listed(rbl, "192.0.2.1") and not listed(rbl, "192.0.2.2")


def test_list_edits_still_served_after_a_failed_config_reload(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.write_config("listen = {\n")
    rbl.reload()
    assert rbl.wait_log("configuration reload failed")
    rbl.write_list("block", "192.0.2.6\n")
    assert served(rbl, "192.0.2.6")


def test_many_sighups_in_a_row(rbl):
    rbl.lists(block="192.0.2.1\n")
    for _ in range(20):
        rbl.reload()
        time.sleep(0.02)
    assert wait_until(lambda: rbl.log().count("configuration reloaded") >= 1, 3)
    assert listed(rbl, "192.0.2.1") and rbl.alive()


# ---- a big list under load ----

def big_list(path, n=1_000_000):
    """n /32s in 10.0.0.0/8 (every 7th with a text), plus 192.0.2.1."""
    with open(path, "w") as f:
        f.write("192.0.2.1\n")
        for k in range(0, n, 100_000):
            f.write("".join(
                "10.%d.%d.%d :127.0.0.2:big $\n" % (i >> 16 & 255, i >> 8 & 255, i & 255)
                if i % 7 == 0 else
                "10.%d.%d.%d\n" % (i >> 16 & 255, i >> 8 & 255, i & 255)
                for i in range(k, min(n, k + 100_000))))


def test_queries_answered_during_big_list_reload(rbl):
    rbl.lists(block="192.0.2.1\n")
    stop = threading.Event()
    stats = {"ok": 0, "timeout": 0, "wrong": []}

    def ask():
        t_end = time.monotonic() + 28
        while not stop.is_set() and time.monotonic() < t_end and stats["ok"] < 200_000:
            try:
                r = rbl.query(rev("192.0.2.1"), "A", timeout=1.0)
            except dns.exception.Timeout:
                stats["timeout"] += 1
                continue
            if rrs(r, "A") == [BL_ANSWER]:
                stats["ok"] += 1
            else:
                stats["wrong"].append(r.to_text())

    t = threading.Thread(target=ask, daemon=True)
    t.start()
    try:
        big = rbl.dir / "big.tmp"
        big_list(big)
        os.replace(big, rbl.path("block"))
        assert served(rbl, "10.15.66.63", timeout=20), "big list not served"
        mark = len(rbl.log())
        rbl.reload()                                    # and once more by SIGHUP
        assert rbl.wait_log("configuration reloaded", timeout=20, start=mark)
        time.sleep(0.3)
        assert txts(rbl.query(rev("10.0.0.7"), "TXT")) == ["big 10.0.0.7"]
        assert rbl.query(rev("10.16.0.0"), "A").rcode() == NXDOMAIN
    finally:
        stop.set()
        t.join(timeout=5)
        rbl.path("block").unlink()      # 15 MB: do not keep it around
    assert not t.is_alive()
    assert stats["timeout"] == 0 and not stats["wrong"][:3], stats
    assert stats["ok"] > 100, stats


def test_sighup_with_new_listen_keeps_the_old_sockets(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.listen = ["127.0.0.1:%d" % (rbl.port + 1 if rbl.port < 65535 else rbl.port - 1)]
    rbl.write_config()
    rbl.reload()
    assert rbl.wait_log("restart only") and rbl.wait_log("configuration reloaded")
    assert listed(rbl, "192.0.2.1")
