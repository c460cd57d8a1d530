"""Start-up and shutdown: SIGTERM/SIGINT exit 0, a taken port exits 1."""

import signal

from rbltest import BL, NOERROR, Rbl, rev


def test_sigterm_exits_0(rbl):
    rbl.lists()
    assert rbl.stop(signal.SIGTERM) == 0 and "stopped" in rbl.log()


def test_sigint_exits_0(rbl):
    rbl.lists()
    assert rbl.stop(signal.SIGINT) == 0


def test_sigterm_with_open_tcp_connections_exits_0(rbl):
    rbl.lists()
    conns = [rbl.tcp_connect() for _ in range(5)]
    try:
        conns[0].sendall(b"\x00\x20" + b"\x00" * 10)     # a partial message
        assert rbl.stop(signal.SIGTERM) == 0
    finally:
        for c in conns:
            c.close()


def test_sigterm_after_reload_exits_0(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.reload()
    assert rbl.wait_log("configuration reloaded")
    rbl.write_list("block", "192.0.2.2\n")
    assert rbl.wait_log('list "block" reloaded', timeout=2.5)
    assert rbl.stop(signal.SIGTERM) == 0


def test_port_in_use_exits_1(rbl, tmp_path):
    rbl.lists()
    other = Rbl(tmp_path / "second")
    other.dir.mkdir()
    other.port = rbl.port
    try:
        other.spawn()
        assert other.wait_exit(5) == 1
        assert "already in use" in other.log()
    finally:
        other.stop()
    assert rbl.query(BL, "SOA").rcode() == NOERROR


def test_answers_right_after_start(rbl):
    rbl.lists(block="192.0.2.1\n")
    assert rbl.query(rev("192.0.2.1"), "A").rcode() == NOERROR


def test_ipv4_only_listen(rbl):
    rbl.port = None
    rbl.write_config()                    # picks the port
    rbl.listen = ["127.0.0.1:%d" % rbl.port]
    rbl.lists(block="192.0.2.1\n")
    assert rbl.query(rev("192.0.2.1"), "A").rcode() == NOERROR


def test_sigusr1_logs_the_counters(rbl):
    rbl.lists(block="192.0.2.1\n")
    assert rbl.query(rev("192.0.2.1"), "A").rcode() == NOERROR
    rbl.query(rev("192.0.2.2"), "A")
    rbl.proc.send_signal(signal.SIGUSR1)
    import time
    deadline = time.monotonic() + 5
    while "stats:" not in rbl.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = [l for l in rbl.log().splitlines() if "stats:" in l][0]
    assert "listed=1 " in line and "notlisted=1 " in line, line
    assert "queries=" in line and "upstream_timeout=0" in line, line
