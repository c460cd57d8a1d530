"""test_shutdown -- the service manager's view: sd_notify and SIGTERM.

rblcached tells systemd (Type=notify) READY=1 once it answers, RELOADING=1
then READY=1 around every reload, STOPPING=1 at SIGTERM; the messages go
to the datagram socket named by NOTIFY_SOCKET, which here is one the test
binds, read through the real libsystemd.  At SIGTERM it answers what is in
flight -- queries waiting for a slow upstream, over UDP and TCP -- before
it exits 0, and waits no longer than the upstream timeouts allow.
"""

import os
import signal
import socket
import struct
import time

import dns.message
import pytest

from rbltest import BL, rev
from test_upstream import (LISTED, ZEN, a_of, fault,  # noqa: F401
                           rblc)
from test_upstream import rev as urev


@pytest.fixture
def notify_sock(tmp_path, monkeypatch):
    """A bound AF_UNIX datagram socket; NOTIFY_SOCKET names it for the
    daemons the test starts."""
    path = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield s
    s.close()


def next_notice(s, timeout=3.0):
    """The next notification as a dict of its KEY=VALUE lines."""
    s.settimeout(timeout)
    data = s.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n") if line)


def test_ready_after_start_and_stopping_at_sigterm(rbl, notify_sock):
    rbl.lists(block="192.0.2.1\n")
    msg = next_notice(notify_sock)
    assert msg.get("READY") == "1", msg
    # READY is sent once the workers answer
    assert rbl.query(rev("192.0.2.1")).answer
    assert rbl.stop(signal.SIGTERM) == 0
    assert next_notice(notify_sock).get("STOPPING") == "1"


def test_reloading_then_ready_around_sighup(rbl, notify_sock):
    rbl.lists()
    assert next_notice(notify_sock).get("READY") == "1"
    before = time.clock_gettime(time.CLOCK_MONOTONIC)
    rbl.reload()
    msg = next_notice(notify_sock)
    assert msg.get("RELOADING") == "1", msg
    # MONOTONIC_USEC: when the reload began, on the monotonic clock
    usec = int(msg["MONOTONIC_USEC"])
    assert before * 1e6 - 1e6 < usec < time.clock_gettime(
        time.CLOCK_MONOTONIC) * 1e6 + 1e6
    assert next_notice(notify_sock).get("READY") == "1"
    assert rbl.wait_log("configuration reloaded")


def test_failed_reload_still_ends_ready(rbl, notify_sock):
    rbl.lists()
    assert next_notice(notify_sock).get("READY") == "1"
    rbl.write_config(rbl.config_text() + "bogus-option = 1\n")
    rbl.reload()
    assert next_notice(notify_sock).get("RELOADING") == "1"
    assert next_notice(notify_sock).get("READY") == "1"
    assert rbl.wait_log("configuration reload failed")
    # still answering from the previous configuration
    assert rbl.query(BL, "SOA").answer


def test_no_notify_socket_is_harmless(rbl, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    rbl.lists()
    assert rbl.stop(signal.SIGTERM) == 0


# --------------------------------------------------------------------------
# SIGTERM with queries in flight

def slow_upstream(rblc, fault, delay_ms=0, drop=False, timeout_ms=1500):
    f = fault(ZEN)
    f.set_zone(ZEN, a="127.0.0.4", delay_ms=delay_ms, drop=drop)
    d = rblc(sources=["zen.spamhaus.org*3"], stubs=f.stub_zones(),
             timeout_ms=timeout_ms)
    return f, d


def sigterm_and_wait(d):
    """SIGTERM; (exit status, seconds to exit).  Leaves d stopped."""
    proc = d.proc
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    rc = proc.wait(timeout=10)
    took = time.monotonic() - t0
    d.stop()
    return rc, took


def udp_send(port, name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(dns.message.make_query(name, "A").to_wire(),
             ("127.0.0.1", port))
    return s


def udp_recv(s, timeout):
    s.settimeout(timeout)
    return dns.message.from_wire(s.recv(4096))


def test_sigterm_answers_udp_query_waiting_for_upstream(rblc, fault):
    f, d = slow_upstream(rblc, fault, delay_ms=300)
    s = udp_send(d.port, urev("192.0.2.4"))
    assert f.wait_count(urev("192.0.2.4", ZEN), timeout=2.0)
    rc, took = sigterm_and_wait(d)
    # the upstream's late answer made it into the reply
    assert a_of(udp_recv(s, 1.0)) == LISTED
    assert rc == 0 and 0.1 < took < 2.0, (rc, took)
    s.close()


def test_sigterm_answers_tcp_query_waiting_for_upstream(rblc, fault):
    f, d = slow_upstream(rblc, fault, delay_ms=300)
    c = socket.create_connection(("127.0.0.1", d.port), timeout=3)
    wire = dns.message.make_query(urev("192.0.2.4"), "A").to_wire()
    c.sendall(struct.pack("!H", len(wire)) + wire)
    assert f.wait_count(urev("192.0.2.4", ZEN), timeout=2.0)
    rc, took = sigterm_and_wait(d)
    c.settimeout(1.0)
    buf = b""
    while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
        chunk = c.recv(4096)
        assert chunk, "connection closed before the answer"
        buf += chunk
    assert a_of(dns.message.from_wire(buf[2:])) == LISTED
    assert c.recv(4096) == b"", "closed after the answer"
    assert rc == 0 and took < 2.0, (rc, took)
    c.close()


def test_sigterm_with_silent_upstream_waits_only_the_timeout(rblc, fault):
    f, d = slow_upstream(rblc, fault, drop=True, timeout_ms=800)
    s = udp_send(d.port, urev("192.0.2.4"))
    assert f.wait_count(urev("192.0.2.4", ZEN), timeout=2.0)
    rc, took = sigterm_and_wait(d)
    # fail open at timeout-ms, then out
    assert a_of(udp_recv(s, 1.0)) == "NXDOMAIN"
    assert rc == 0 and took < 0.8 + 1.0, (rc, took)
    s.close()


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_second_signal_cuts_the_drain_short(rblc, fault, second):
    # a 5 s upstream timeout would hold the exit for 6 s; the admin's
    # second signal ends it at once, still with a clean exit
    f, d = slow_upstream(rblc, fault, drop=True, timeout_ms=5000)
    s = udp_send(d.port, urev("192.0.2.4"))
    assert f.wait_count(urev("192.0.2.4", ZEN), timeout=2.0)
    proc = d.proc
    os.kill(proc.pid, signal.SIGTERM)
    time.sleep(0.5)
    assert proc.poll() is None, "exited before the drain's end"
    t0 = time.monotonic()
    os.kill(proc.pid, second)
    rc = proc.wait(timeout=10)
    took = time.monotonic() - t0
    d.stop()
    assert rc == 0 and took < 1.0, (rc, took)
    assert "second signal: stopping now" in d.log()
    s.close()


def test_sigterm_idle_tcp_clients_do_not_hold_the_exit(rbl):
    rbl.lists()
    idle = rbl.tcp_connect()
    partial = rbl.tcp_connect()
    partial.sendall(b"\x00\x20" + b"\x00" * 10)   # half a message
    t0 = time.monotonic()
    assert rbl.stop(signal.SIGTERM) == 0
    assert time.monotonic() - t0 < 0.5
    for c in (idle, partial):
        # closed: EOF, or a reset where unread bytes were left behind
        c.settimeout(1.0)
        try:
            assert c.recv(100) == b""
        except ConnectionResetError:
            pass
        c.close()
