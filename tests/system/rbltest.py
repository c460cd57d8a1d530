"""rbltest -- a real rblcached on a free loopback port, for the system tests.

The `rbl` fixture (conftest.py) hands each test an Rbl: a temp directory
with list files and a config, and a daemon started on first use.  A case
is a few lines:

    def test_listed(rbl):
        rbl.lists(block="192.0.2.1\n")
        assert rbl.query(rev("192.0.2.1"), "A").rcode() == NOERROR

Invariants: only loopback addresses; every wait is bounded in time; the
only process ever signalled is the one this object started (by its pid).
RBLCACHE_BUILD (default "build") selects the directory holding rblcached,
so `make asan` runs the same cases against build-asan/rblcached.
"""

import errno
import ipaddress
import json
import os
import random
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

REPO = Path(__file__).resolve().parents[2]
_build = Path(os.environ.get("RBLCACHE_BUILD", "build"))
BUILD = _build if _build.is_absolute() else REPO / _build
RBLCACHED = BUILD / "rblcached"
RBLCTL = BUILD / "rblctl"

BL = "bl.rblcache.internal"
WL = "wl.rblcache.internal"
BL_ANSWER = "127.0.0.2"
WL_ANSWER = "127.0.10.1"

NOERROR = dns.rcode.NOERROR
FORMERR = dns.rcode.FORMERR
NXDOMAIN = dns.rcode.NXDOMAIN
NOTIMP = dns.rcode.NOTIMP
REFUSED = dns.rcode.REFUSED
BADVERS = dns.rcode.BADVERS

# What UBSan and ASan print (build-asan): never expected.  LeakSanitizer's
# report counts only after a clean shutdown: an exit(1) on a start-up error
# need not free what the process held.
SANITIZER_MARKS = ("runtime error:", "ERROR: AddressSanitizer")
LEAK_MARK = "ERROR: LeakSanitizer"

START_TIMEOUT = 5.0     # seconds until a started daemon must answer
STOP_TIMEOUT = 5.0      # SIGTERM, then SIGKILL after this long


# --------------------------------------------------------------------------
# names

def rev(ip, zone=BL):
    """The DNSBL query name of an address: d.c.b.a.ZONE or 32 nibbles."""
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        labels = reversed(str(a).split("."))
    else:
        labels = reversed(a.exploded.replace(":", ""))
    return ".".join(labels) + "." + zone + "."


def rrs(r, rdtype, section="answer"):
    """The rdata of one type in a section of a dnspython message, as text."""
    out = []
    for rrset in getattr(r, section):
        if rrset.rdtype == dns.rdatatype.from_text(rdtype):
            out += [rd.to_text() for rd in rrset]
    return out


def txts(r):
    """The TXT strings of the answer, each record's strings joined."""
    out = []
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            out += [b"".join(rd.strings).decode("latin-1") for rd in rrset]
    return out


def is_nodata(r):
    """NOERROR, empty answer, the zone's SOA in authority."""
    return (r.rcode() == NOERROR and not r.answer and
            len(rrs(r, "SOA", "authority")) == 1)


# --------------------------------------------------------------------------
# raw wire format, for what dnspython will not send

def header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def question(name, qtype=1, qclass=1):
    return wire_name(name) + struct.pack("!2H", qtype, qclass)


def opt_rr(payload=1232, version=0, flags=0, ext_rcode=0):
    """An OPT record (RFC 6891) without options."""
    return b"\0" + struct.pack("!HHBBHH", 41, payload, ext_rcode, version,
                               flags, 0)


def query_wire(name, qtype=1, qid=0x1234, flags=0x0100, ar=b"", nar=0):
    return header(qid, flags, 1, 0, 0, nar) + question(name, qtype) + ar


def parse_header(data):
    """(id, flags, rcode, qd, an, ns, ar) of a reply."""
    qid, flags, qd, an, ns, ar = struct.unpack("!6H", data[:12])
    return qid, flags, flags & 0xF, qd, an, ns, ar


def tcp_frame(msg):
    return struct.pack("!H", len(msg)) + msg


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes"
                           % (len(buf), n))
        buf += chunk
    return buf


def recv_frame(sock):
    (n,) = struct.unpack("!H", recv_exact(sock, 2))
    return recv_exact(sock, n)


# --------------------------------------------------------------------------
# ports

def has_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            s.bind(("::1", 0))
        finally:
            s.close()
        return True
    except OSError:
        return False


def port_free(family, host, port):
    for typ in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(family, typ)
        try:
            if typ == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def _port_range():
    """Ports to hand out: below the kernel's ephemeral range, where no
    outgoing connection of another process can take a port between
    free_port() and the daemon's bind()."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    top = min(low, 65536) - 1
    return (10000, top) if top > 12000 else (40000, 60000)


_PORTS = _port_range()
_port_rng = random.Random(os.getpid() ^ time.monotonic_ns())
_ports_given = set()


def free_port(v6=True):
    """A port free for UDP and TCP on 127.0.0.1 (and ::1 when v6), never
    one this process handed out before."""
    for _ in range(200):
        port = _port_rng.randint(*_PORTS)
        if port in _ports_given:
            continue
        if not port_free(socket.AF_INET, "127.0.0.1", port):
            continue
        if v6 and not port_free(socket.AF_INET6, "::1", port):
            continue
        _ports_given.add(port)
        return port
    raise RuntimeError("no free port on loopback after 200 tries")


# --------------------------------------------------------------------------
# the daemon

DEFAULT_ZONES = {
    BL: 'sources = { "block*10", "allow*-100" } threshold = 3 '
        'answer = "%s" ttl = 300' % BL_ANSWER,
    WL: 'sources = { "allow*1" } threshold = 1 answer = "%s"' % WL_ANSWER,
}


class Rbl:
    """One rblcached with its directory, lists and config.

    Set the attributes (zones, list_names, allow_query, user, extra...)
    before the daemon starts; lists() and query() start it on first use.
    """

    def __init__(self, directory):
        self.dir = Path(directory)
        self.v6 = has_ipv6()
        self.port = None
        self.proc = None
        self.workers = 2
        self.user = "root"
        self.allow_query = ["127.0.0.0/8", "::1/128"]
        self.list_names = ["block", "allow"]
        self.zones = dict(DEFAULT_ZONES)
        self.extra = ""             # appended to the config verbatim
        self.listen = None          # None: 127.0.0.1 and [::1] on self.port
        self.confpath = self.dir / "rblcache.conf"
        self.logpath = self.dir / "rblcached.log"
        self.state_dir = self.dir / "state"
        self.control = self.dir / "control.sock"
        self._logf = None

    # ---- files ----

    def path(self, name):
        return self.dir / ("%s.list" % name)

    def write_list(self, name, text, inplace=False):
        """Writes a list file: a new file renamed over the old one (what
        most tools do), or the same inode truncated and rewritten."""
        if name not in self.list_names:
            self.list_names.append(name)
        p = self.path(name)
        if inplace and p.exists():
            with open(p, "r+") as f:
                f.truncate(0)
                f.write(text)
        else:
            tmp = p.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, p)
        return p

    def config_text(self):
        listen = self.listen
        if listen is None:
            listen = ["127.0.0.1:%d" % self.port]
            if self.v6:
                listen.append("[::1]:%d" % self.port)
        q = lambda xs: ", ".join('"%s"' % x for x in xs)  # noqa: E731
        lines = [
            "# written by tests/system/rbltest.py",
            "listen = { %s }" % q(listen),
            "workers = %d" % self.workers,
            'user = "%s"' % self.user,
            "allow-query = { %s }" % q(self.allow_query),
            'state-dir = "%s"' % self.state_dir,
            'control = "%s"' % self.control,
        ]
        for name in self.list_names:
            lines.append('list "%s" { file = "%s" }' % (name, self.path(name)))
        for zone, body in self.zones.items():
            lines.append('zone "%s" { %s }' % (zone, body))
        text = "\n".join(lines) + "\n"
        if self.extra:
            text += self.extra if self.extra.endswith("\n") else self.extra + "\n"
        return text

    def write_config(self, text=None):
        """Writes the config (generated unless text is given); returns it."""
        if self.port is None:
            self.port = free_port(self.v6)
        if text is None:
            text = self.config_text()
        tmp = self.confpath.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.confpath)
        return text

    def _ensure_lists(self):
        for name in self.list_names:
            if not self.path(name).exists():
                self.path(name).write_text("")

    def lists(self, **texts):
        """Writes the named lists (the others empty) and starts the daemon
        if it is not running yet."""
        for name, text in texts.items():
            self.write_list(name, text)
        self._ensure_lists()
        if self.proc is None:
            self.start()
        return self

    # ---- process ----

    def check(self, text=None):
        """rblcached -t: returns (exit status, stderr)."""
        self._ensure_lists()
        self.write_config(text)
        p = subprocess.run([str(RBLCACHED), "-t", "-c", str(self.confpath)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        err = p.stderr.decode("utf-8", "replace")
        marks = SANITIZER_MARKS + ((LEAK_MARK,) if p.returncode == 0 else ())
        assert not any(m in err for m in marks), err
        return p.returncode, err

    def spawn(self, text=None):
        """Starts rblcached without waiting for it (for start-up failures)."""
        assert self.proc is None, "already started"
        if not RBLCACHED.exists():
            raise RuntimeError("%s not built (run make)" % RBLCACHED)
        self._ensure_lists()
        self.write_config(text)
        self._logf = open(self.logpath, "ab")
        # a `make` relinking the binary right now: ETXTBSY/EACCES/ENOEXEC
        # for a moment, so retry briefly
        deadline = time.monotonic() + 3.0
        while True:
            try:
                self.proc = subprocess.Popen(
                    [str(RBLCACHED), "-f", "-c", str(self.confpath)],
                    stdin=subprocess.DEVNULL, stdout=self._logf,
                    stderr=self._logf, cwd=str(self.dir))
                return self.proc
            except OSError as e:
                if e.errno not in (errno.ETXTBSY, errno.EACCES, errno.ENOEXEC) \
                        or time.monotonic() > deadline:
                    self._logf.close()
                    self._logf = None
                    raise
                time.sleep(0.1)

    def start(self, timeout=START_TIMEOUT):
        """Starts rblcached and waits until it answers; a port lost to a
        race is retried on a new one."""
        for attempt in range(3):
            start = self._log_size()
            self.spawn()
            err = self.wait_ready(timeout)
            if err is None:
                return self
            rc = self.proc.poll()
            self.stop()
            out = self.logpath.read_bytes()[start:].decode(errors="replace")
            if rc is not None and "already in use" in out and attempt < 2:
                # an exit(1) at start-up need not free what it held: keep
                # its LeakSanitizer report out of the log the case's
                # teardown checks
                lost = [ln for ln in out.splitlines() if "already in use" in ln]
                with open(self.logpath, "r+b") as f:
                    f.truncate(start)
                    f.seek(start)
                    f.write(("(start-up lost a port race, retried: %s)\n"
                             % lost[0]).encode())
                self.port = None
                continue
            raise RuntimeError("rblcached %s\n----- log -----\n%s"
                               % (err, self.log()))
        raise AssertionError("unreachable")

    def wait_ready(self, timeout):
        probe = query_wire(next(iter(self.zones)), qtype=6)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited with status %d" % self.proc.returncode
            if self.send_raw(probe, timeout=0.1) is not None:
                return None
        return "did not answer within %.1f s" % timeout

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig):
        assert self.alive(), "rblcached is not running"
        os.kill(self.proc.pid, sig)

    def reload(self):
        """SIGHUP: reload the configuration and every list."""
        self.kill(signal.SIGHUP)

    def stop(self, sig=signal.SIGTERM):
        """Stops the daemon (SIGTERM, SIGKILL after 5 s); its exit status."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        rc = stop_process(proc, sig)
        if self._logf:
            self._logf.close()
            self._logf = None
        return rc

    def wait_exit(self, timeout):
        """The exit status of a daemon expected to exit by itself."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.stop()
        return rc

    def _log_size(self):
        try:
            return self.logpath.stat().st_size
        except OSError:
            return 0

    def log(self):
        try:
            return self.logpath.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, text, timeout=3.0, start=0):
        """Waits until the log (from offset start) contains text."""
        return wait_until(lambda: text in self.log()[start:], timeout)

    def stats(self):
        """rblctl --json stats: the counters as a dict."""
        p = subprocess.run([str(RBLCTL), "-s", str(self.control), "--json",
                            "stats"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=10)
        assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
        return json.loads(p.stdout)

    # ---- queries ----

    def query(self, name, rdtype="A", tcp=False, edns=None, payload=1232,
              do=False, src=None, v6=False, timeout=2.0, rdclass="IN"):
        """One query; edns=None sends none, edns=N sends version N.
        Raises dns.exception.Timeout when no answer comes."""
        if self.proc is None:
            self.lists()
        q = dns.message.make_query(name, rdtype, rdclass)
        if edns is not None:
            # not through make_query: its want_dnssec(False) clears the
            # EDNS version bits (dnspython 2.3)
            q.use_edns(edns, ednsflags=dns.flags.DO if do else 0,
                       payload=payload)
        where = "::1" if v6 else "127.0.0.1"
        if tcp:
            return dns.query.tcp(q, where, timeout=timeout, port=self.port,
                                 source=src)
        return dns.query.udp(q, where, timeout=timeout, port=self.port,
                             source=src, ignore_unexpected=True)

    def send_raw(self, data, timeout=1.0, src=None, v6=False):
        """Sends one UDP datagram; the reply's bytes or None on timeout."""
        fam = socket.AF_INET6 if v6 else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            if src:
                s.bind((src, 0))
            s.settimeout(timeout)
            s.sendto(data, ("::1" if v6 else "127.0.0.1", self.port))
            try:
                return s.recv(65535)
            except socket.timeout:
                return None
            except ConnectionRefusedError:
                return None
        finally:
            s.close()

    def tcp_connect(self, timeout=3.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def answers(self):
        """True when a liveness query (the apex SOA) is answered."""
        if not self.alive():
            return False
        try:
            r = self.query(next(iter(self.zones)), "SOA", timeout=1.0)
        except Exception:  # noqa: BLE001 - any failure means not alive
            return False
        return r.rcode() == NOERROR


def readme_block(first_line, containing=""):
    """The text of the one fenced block of README.md that begins with
    first_line and contains containing: tests run the snippets users copy."""
    blocks = [b.lstrip("\n")
              for b in (REPO / "README.md").read_text().split("```")[1::2]]
    found = [b for b in blocks
             if b.startswith(first_line + "\n") and containing in b]
    assert len(found) == 1, "README.md: %d blocks begin with %r" % (
        len(found), first_line)
    return found[0]


def stop_process(proc, sig=signal.SIGTERM):
    """Sends sig to a Popen still running, SIGKILL when it has not exited
    STOP_TIMEOUT seconds later; its exit status."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
    return proc.returncode


def stop_problem(rc, log):
    """What is wrong with how a daemon ended after SIGTERM (rc: its exit
    status, None when it had exited by itself earlier; log: its output),
    or None: a non-zero exit, or a sanitizer report (LeakSanitizer's only
    after a SIGTERM exit)."""
    marks = SANITIZER_MARKS + ((LEAK_MARK,) if rc is not None else ())
    bad = [m for m in marks if m in log]
    if (rc is not None and rc != 0) or bad:
        return "rblcached: exit status %s after SIGTERM%s\n%s" % (
            rc, ", log has " + ", ".join(bad) if bad else "", log[-20000:])
    return None


def wait_until(pred, timeout, interval=0.05):
    """Polls pred() until it is true or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def closed_by_peer(sock):
    """True when the peer has closed (EOF or reset) a socket with nothing
    to read; non-blocking."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError as e:
        return e.errno in (errno.ECONNRESET, errno.EPIPE)


def rss_bytes(pid):
    """The resident memory of a process (VmRSS), in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)
