"""test_postfix -- a real Postfix asks a real rblcached, end to end.

One network namespace per module (rblpf-PID) holds everything: rbldnsd
as the upstream DNSBL, a private Postfix instance (tests/postfix/main.cf.in
and master.cf.in with README.md's Postfix blocks, its own config, queue
and data directories) with smtpd on 127.0.0.1:25, postscreen on :26 and a
long-lived smtpd on :27, and for each test a fresh rblcached on
127.0.0.1:53 and [::1]:53, the namespace's only name server
(/etc/netns/NAME/resolv.conf, which `ip netns exec` mounts over
/etc/resolv.conf for Postfix).  swaks speaks SMTP for other clients
through XCLIENT (to postscreen: from their own addresses), so Postfix
checks the address the test names, and each case asserts Postfix's reply
and what Postfix logged about the session.

Postfix treats a failed DNSBL lookup as "not listed", so an accepted
client proves little by itself: the cases that expect acceptance also
check that Postfix got an answer (no "RBL lookup error" logged) and, where
it matters, why it accepted.

The test process itself joins the namespace (setns) for the module, so
the helpers of tests/system (rbltest.Rbl, test_upstream.Rbldnsd) work
unchanged inside it.  Needs root and `ip netns`; skipped otherwise.
Everything created is removed, also on failure; the only processes
signalled are the ones started here, by pid.
"""

import ctypes
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "system"))

from rbltest import (BL, BUILD, WL, Rbl, readme_block,  # noqa: E402
                     stop_problem, wait_until)
from test_upstream import Rbldnsd, dead_port  # noqa: E402

RBLCTL = BUILD / "rblctl"
NETNS = "rblpf-%d" % os.getpid()
UPSTREAM = "dnsbl.example.net"  # not .test: a default local zone of unbound
DOMAIN = "rblcache.test"            # main.cf's mydestination
CLONE_NEWNET = 0x40000000
SESSION_TIMEOUT = 30                # one swaks run, seconds
SMTPD = 25                          # master.cf.in: one process per session
POSTSCREEN = 26
SMTPD_CACHING = 27                  # one process for every session

# One zone of local lists and an upstream, one allow zone, as README.md's
# deployment section sets them up.
ZONES = {
    BL: 'sources = { "block*10", "allow*-100", "%s*3" } threshold = 3 '
        'answer = "127.0.0.2"' % UPSTREAM,
    WL: 'sources = { "allow*1" } threshold = 1 answer = "127.0.10.1"',
}
BLOCK = """\
192.0.2.10 :127.0.0.2:Spam source $
192.0.2.11 :127.0.0.2:Spam source $
2001:db8::10 :127.0.0.2:IPv6 spam source $
2001:db8::11
"""
ALLOW = """\
192.0.2.11
2001:db8::11
"""
UPSTREAM_DATA = """\
$SOA 300 ns.dnsbl.example.net. hm.dnsbl.example.net. 1 600 300 86400 60
:127.0.0.2:Upstream says $
192.0.2.20
"""


# --------------------------------------------------------------------------
# the namespace

def _setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def _run(*args, timeout=30):
    p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def _must(*args, timeout=30):
    rc, out = _run(*args, timeout=timeout)
    assert rc == 0, "%s: exit status %d\n%s" % (" ".join(args), rc, out)
    return out


def _skip_unless_possible():
    if os.geteuid() != 0:
        pytest.skip("needs root: creates a network namespace and runs "
                    "Postfix and rblcached on port 53 and 25 in it")
    if shutil.which("ip") is None or _run("ip", "netns", "list")[0] != 0:
        pytest.skip("`ip netns` is not available (iproute2)")


class Netns:
    """A network namespace with lo up and 127.0.0.1 as its name server;
    enter() moves this thread into it, leave() back."""

    def __init__(self, name):
        self.name = name
        self.etc = Path("/etc/netns") / name
        self._home = None

    def create(self):
        _must("ip", "netns", "add", self.name)
        _must("ip", "-n", self.name, "link", "set", "lo", "up")
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        return self

    def enter(self):
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open("/run/netns/" + self.name, os.O_RDONLY)
        try:
            _setns(fd)
        finally:
            os.close(fd)

    def leave(self):
        if self._home is not None:
            try:
                _setns(self._home)
            finally:
                os.close(self._home)
                self._home = None

    def delete(self):
        self.leave()
        shutil.rmtree(self.etc, ignore_errors=True)
        try:
            os.rmdir(self.etc.parent)     # only when no one else uses it
        except OSError:
            pass
        _run("ip", "netns", "del", self.name)

    def exec_args(self, *args):
        return ("ip", "netns", "exec", self.name) + args


# --------------------------------------------------------------------------
# Postfix

class Session:
    """One SMTP session through swaks: the client's address as Postfix
    logs it, the reply to RCPT TO, the reply to the end of DATA (when
    sent), the transcript and what Postfix logged."""

    def __init__(self, addr, transcript, log):
        self.addr = addr
        self.transcript = transcript
        self.log = log
        self.rcpt = self._reply_to(r"RCPT TO:")
        self.data = self._reply_to(r"\.$")

    def _reply_to(self, command):
        """The reply to the first line swaks sent that matches command."""
        lines = self.transcript.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(" -> ") and re.match(command, line[4:]):
                for reply in lines[i + 1:]:
                    if reply.startswith(("<- ", "<**")):
                        return reply[3:].strip()
        return None

    def __repr__(self):
        return "----- swaks -----\n%s\n----- Postfix log -----\n%s" % (
            self.transcript, self.log)


class Postfix:
    """A private Postfix instance in the namespace, in directory top:
    etc/ (main.cf, master.cf from the templates), queue/, data/, maillog."""

    def __init__(self, netns, top):
        self.netns = netns
        self.top = Path(top)
        self.etc = self.top / "etc"
        self.queue = self.top / "queue"
        self.maillog = self.top / "maillog"

    def start(self):
        self.etc.mkdir()
        self.queue.mkdir(mode=0o755)
        # README.md's snippets, with /etc/postfix/ moved to etc/ here
        etc = lambda text: text.replace("/etc/postfix/", "%s/" % self.etc)  # noqa: E731,E501
        for name in ("rbl_reply", "dnsbl_reply"):
            (self.etc / name).write_text(
                readme_block("# /etc/postfix/" + name))
        main = {
            "@README@": readme_block("# /etc/postfix/main.cf",
                                     "reject_rbl_client"),
            "@POSTSCREEN@": readme_block("# /etc/postfix/main.cf",
                                         "postscreen_dnsbl_sites"),
        }
        for name in ("main.cf", "master.cf"):
            text = (HERE / (name + ".in")).read_text()
            for mark, block in main.items():
                text = text.replace(mark, etc(block))
            (self.etc / name).write_text(text.replace("@TOP@", str(self.top)))
        rc, out = self.postfix("start")
        if rc != 0:
            # postfix prints why only to a terminal (or to a log it may not
            # have opened yet): ask again on a pseudo-terminal
            out += _run(*self.netns.exec_args(
                "script", "-qec", "postfix -c %s check"
                % shlex.quote(str(self.etc)), "/dev/null"))[1]
        assert rc == 0 and wait_until(
            lambda: "daemon started" in self.log(), 10), \
            "postfix start: exit status %d\n%s\n----- %s -----\n%s" % (
                rc, out, self.maillog, self.log())
        return self

    def postfix(self, command):
        """postfix -c DIR command in the namespace: (exit status, output)."""
        return _run(*self.netns.exec_args("postfix", "-c", str(self.etc),
                                          command), timeout=60)

    def master_pid(self):
        try:
            return int((self.queue / "pid" / "master.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop(self):
        """postfix stop; SIGKILL to the master when that does not end it."""
        pid = self.master_pid()
        if pid is None:
            return
        self.postfix("stop")
        if not wait_until(lambda: not _alive(pid), 10):
            os.kill(pid, signal.SIGKILL)

    def log(self):
        try:
            return self.maillog.read_text(errors="replace")
        except OSError:
            return ""

    def smtp(self, client, data=False, port=SMTPD):
        """A session up to RCPT TO (or through DATA); waits until Postfix
        has logged its end.  To smtpd: from 127.0.0.1, naming client
        ("192.0.2.1" or "IPV6:2001:db8::1") in XCLIENT.  To postscreen
        (which knows no XCLIENT): from client, an address of the
        namespace's lo."""
        start = len(self.log())
        args = ["swaks", "--from", "sender@example.org",
                "--to", "user@" + DOMAIN, "--helo", "client.example.org",
                "--server", "127.0.0.1:%d" % port]
        if port == POSTSCREEN:
            args += ["--local-interface", client]
        else:
            args += ["--xclient-addr", client]
        if not data:
            args += ["--quit-after", "RCPT"]
        _, out = _run(*args, timeout=SESSION_TIMEOUT)
        addr = client[len("IPV6:"):] if client.startswith("IPV6:") else client
        ends = ("disconnect from unknown[%s]" % addr,      # smtpd
                "DISCONNECT [%s]" % addr)                  # postscreen
        wait_until(lambda: any(e in self.log()[start:] for e in ends), 5)
        return Session(addr, out, self.log()[start:])


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


# --------------------------------------------------------------------------
# fixtures

class Mail:
    """The module's namespace with its upstream and Postfix."""

    def __init__(self, netns, upstream, postfix):
        self.netns = netns
        self.upstream = upstream
        self.postfix = postfix


@pytest.fixture(scope="module")
def mail():
    _skip_unless_possible()
    netns = Netns(NETNS)
    top = Path(tempfile.mkdtemp(prefix="rblpf-"))
    os.chmod(top, 0o755)            # Postfix's daemons run as user postfix
    upstream = None
    postfix = Postfix(netns, top)
    try:
        netns.create()
        # the postscreen cases' clients: addresses of their own
        _must("ip", "-n", netns.name, "addr", "add", "192.0.2.0/24",
              "dev", "lo")
        netns.enter()
        upstream = Rbldnsd({UPSTREAM: UPSTREAM_DATA}).start()
        yield Mail(netns, upstream, postfix.start())
    finally:
        try:
            postfix.stop()
            if upstream is not None:
                upstream.cleanup()
        finally:
            netns.delete()
            shutil.rmtree(top, ignore_errors=True)


def _rblcached(mail, directory, forward, timeout_ms):
    """A fresh rblcached answering the namespace's DNS on port 53, its
    upstream reached through forward; stopped after the test, which then
    fails on an unclean exit.  Both daemons' logs are printed (pytest
    shows them when the test fails)."""
    d = Rbl(directory)
    d.port = 53
    d.zones = dict(ZONES)
    d.extra = 'resolver { forward = { "%s" } timeout-ms = %d }' % (
        forward, timeout_ms)
    start = len(mail.postfix.log())
    rc = None
    try:
        yield d.lists(block=BLOCK, allow=ALLOW)
    finally:
        rc = d.stop()
        print("----- rblcached log (%s) -----\n%s" % (d.logpath, d.log()))
        print("----- Postfix log (%s) -----\n%s"
              % (mail.postfix.maillog, mail.postfix.log()[start:]))
    problem = stop_problem(rc, d.log())
    assert problem is None, problem


@pytest.fixture
def rbl(mail, tmp_path):
    """rblcached with its upstream (rbldnsd) answering."""
    yield from _rblcached(mail, tmp_path, "127.0.0.1@%d" % mail.upstream.port,
                          1500)


@pytest.fixture
def rbl_upstream_down(mail, tmp_path):
    """rblcached whose every upstream query goes where nothing answers."""
    yield from _rblcached(mail, tmp_path, "127.0.0.1@%d" % dead_port(), 300)


def ctl(rbl, *args):
    """rblctl -s SOCKET ARGS, which must succeed; its output."""
    rc, out = _run(str(RBLCTL), "-s", str(rbl.control), *args)
    assert rc == 0, "rblctl %s: exit status %d\n%s" % (args, rc, out)
    return out


def stat(rbl, name):
    m = re.search(r"^%s\s+(\d+)$" % name, ctl(rbl, "stats"), re.M)
    assert m, name
    return int(m.group(1))


def rejected(s, text):
    """The RCPT reply is README.md's rbl_reply_maps reply to a client
    listed by reject_rbl_client, with text as $rbl_reason; the zone's
    name does not show."""
    return (s.rcpt is not None and s.rcpt.startswith(
        "554 5.7.1 Service unavailable; client [%s] blocked; %s"
        % (s.addr, text)) and BL not in s.rcpt)


def permitted_by_dnswl(s):
    """Postfix logged that permit_dnswl_client let the client in
    (smtpd_log_access_permit_actions in main.cf.in)."""
    return ("action=permit_dnswl_client for Client host=unknown[%s]"
            % s.addr in s.log)


def accepted(s):
    """RCPT accepted and every DNSBL lookup of the session answered."""
    return (s.rcpt is not None and s.rcpt.startswith("250 ")
            and "RBL lookup error" not in s.log)


# --------------------------------------------------------------------------
# the cases

@pytest.mark.parametrize("client, entry", [
    ("192.0.2.10", 'block "Spam source 192.0.2.10"'),
    ("IPV6:2001:db8::10", 'block "IPv6 spam source 2001:db8::10"'),
])
def test_listed_client_rejected_with_the_explanation(mail, rbl, client, entry):
    s = mail.postfix.smtp(client)
    assert rejected(s, "listed: %s (+10); score 10 >= 3" % entry), s


def test_client_listed_upstream_rejected_with_its_txt(mail, rbl):
    s = mail.postfix.smtp("192.0.2.20")
    assert rejected(s, "listed: {0} 127.0.0.2 (+3); score 3 >= 3; "
                       "{0}: Upstream says 192.0.2.20".format(UPSTREAM)), s


@pytest.mark.parametrize("client", ["192.0.2.11", "IPV6:2001:db8::11"])
def test_allow_listed_client_accepted_though_block_listed(mail, rbl, client):
    s = mail.postfix.smtp(client)
    assert accepted(s), s
    assert permitted_by_dnswl(s), s


@pytest.mark.parametrize("client", ["192.0.2.99", "IPV6:2001:db8::99"])
def test_unlisted_client_accepted_and_mail_delivered(mail, rbl, client):
    s = mail.postfix.smtp(client, data=True)
    assert accepted(s), s
    assert not permitted_by_dnswl(s), s
    assert s.data and s.data.startswith("250 2.0.0 Ok: queued as"), s
    queue_id = s.data.split()[-1]
    assert wait_until(lambda: re.search(
        r"%s: to=<user@%s>.*status=sent" % (queue_id, re.escape(DOMAIN)),
        mail.postfix.log()), 10), mail.postfix.log()


def test_rblctl_add_takes_effect_for_the_next_connection(mail, rbl):
    assert accepted(mail.postfix.smtp("192.0.2.30"))
    ctl(rbl, "add", "block", "192.0.2.30/32", "--reason", "spam run 4711")
    s = mail.postfix.smtp("192.0.2.30")
    assert rejected(s, 'listed: block "spam run 4711" (+10)'), s
    ctl(rbl, "del", "block", "192.0.2.30/32")
    s = mail.postfix.smtp("192.0.2.30")
    assert accepted(s), s


def test_smtpd_remembers_answers_until_postfix_reload(mail, rbl):
    """What README.md says of a running smtpd and rblctl edits."""
    assert accepted(mail.postfix.smtp("192.0.2.31", port=SMTPD_CACHING))
    ctl(rbl, "add", "block", "192.0.2.31/32", "--reason", "late")
    s = mail.postfix.smtp("192.0.2.31", port=SMTPD_CACHING)
    assert accepted(s), s               # the process's own DNSBL cache
    assert mail.postfix.postfix("reload")[0] == 0
    s = mail.postfix.smtp("192.0.2.31", port=SMTPD_CACHING)
    assert rejected(s, 'listed: block "late" (+10)'), s


def test_postscreen_rejects_listed_client_under_another_name(mail, rbl):
    s = mail.postfix.smtp("192.0.2.10", port=POSTSCREEN)
    assert s.rcpt == ("550 5.7.1 Service unavailable; client [192.0.2.10] "
                      "blocked using bl.example.com"), s
    assert "DNSBL rank 3 for [192.0.2.10]" in s.log, s


@pytest.mark.parametrize("client, allowed", [("192.0.2.11", True),
                                             ("192.0.2.99", False)])
def test_postscreen_passes_allowed_and_unlisted_clients(mail, rbl, client,
                                                        allowed):
    s = mail.postfix.smtp(client, port=POSTSCREEN)
    assert accepted(s), s
    assert "PASS NEW [%s]" % client in s.log, s
    wl = "addr %s listed by domain %s as 127.0.10.1" % (client, WL)
    assert (wl in s.log) == allowed, s
    assert "listed by domain %s" % BL not in s.log, s


def test_upstream_down_fails_open_and_local_lists_still_decide(
        mail, rbl_upstream_down):
    rbl = rbl_upstream_down
    # listed only upstream: with the upstream gone, no longer rejected
    s = mail.postfix.smtp("192.0.2.20")
    assert accepted(s), s
    s = mail.postfix.smtp("192.0.2.99")
    assert accepted(s), s
    assert stat(rbl, "upstream_timeouts") + \
        stat(rbl, "upstream_failures") >= 2, ctl(rbl, "stats")
    s = mail.postfix.smtp("192.0.2.10")
    assert rejected(s, 'listed: block "Spam source 192.0.2.10" (+10); '
                       'score 10 >= 3'), s
