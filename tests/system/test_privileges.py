"""Started as root, rblcached binds and then runs as the configured user."""

import os
import pwd
import shutil
import tempfile

import pytest

from rbltest import BL_ANSWER, Rbl, rev, rrs, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def status(pid, key):
    """A field of /proc/PID/status as a list of words."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split()[1:]
    return None


def test_drops_to_nobody_and_answers(rbl):
    nobody = pwd.getpwnam("nobody")
    rbl.user = "nobody"
    rbl.lists(block="192.0.2.1\n")
    assert status(rbl.proc.pid, "Uid") == [str(nobody.pw_uid)] * 4
    assert status(rbl.proc.pid, "Gid") == [str(nobody.pw_gid)] * 4
    assert status(rbl.proc.pid, "Groups") == [str(nobody.pw_gid)]
    assert rrs(rbl.query(rev("192.0.2.1"), "A"), "A") == [BL_ANSWER]


def test_worker_threads_run_as_nobody_too(rbl):
    rbl.user = "nobody"
    rbl.lists()
    tasks = os.listdir("/proc/%d/task" % rbl.proc.pid)
    assert len(tasks) >= 3      # main + 2 workers
    for tid in tasks:
        with open("/proc/%d/task/%s/status" % (rbl.proc.pid, tid)) as f:
            uid = [ln.split()[1:] for ln in f if ln.startswith("Uid:")][0]
        assert uid == ["65534"] * 4, (tid, uid)


def test_unknown_user_exits_1_with_a_clear_message(rbl):
    rbl.user = "no-such-user-rblcache"
    rbl.spawn()
    assert rbl.wait_exit(5) == 1
    assert 'user "no-such-user-rblcache" does not exist' in rbl.log()


def test_root_user_keeps_root_with_a_warning(rbl):
    rbl.lists()
    assert status(rbl.proc.pid, "Uid")[0] == "0" and "running as root" in rbl.log()


def test_list_reload_after_dropping_privileges():
    # a world-readable directory: pytest's tmp_path is root-only
    d = tempfile.mkdtemp(prefix="rblcache-priv-")
    os.chmod(d, 0o755)
    rbl = Rbl(d)
    try:
        rbl.user = "nobody"
        rbl.lists(block="192.0.2.1\n")
        rbl.write_list("block", "192.0.2.2\n")
        ok = wait_until(lambda: rrs(rbl.query(rev("192.0.2.2"), "A"), "A") == [BL_ANSWER], 2.5)
        assert ok, rbl.log()
    finally:
        rbl.stop()
        shutil.rmtree(d, ignore_errors=True)
