"""Differential test: rblcached against the reference rbldnsd.

Random list files in the rbldnsd ip4trie/ip6trie syntax are served by both
daemons, and the answers for a few thousand addresses (biased towards the
edges of the listed and excluded prefixes) are compared: rcode, the A
set and the TXT strings (TTLs are ignored).

Self-contained: it starts and stops its own daemons and uses no fixtures
from conftest.py.  Knobs (environment):
  RBLCACHE_DIFF_SEED=N   reproduce a run (the seed is printed on failure)
  RBLCACHE_DIFF_KEEP=1   keep the temporary directory (lists, config, logs)
  RBLCACHE_BUILD=DIR     where rblcached lives (default: build)
  RBLDNSD=PATH           the reference daemon (default: /usr/sbin/rbldnsd)
  RBLCACHE_DIFF_SKIP=f,g leave out extended-syntax features (names in
                         EXT_FEATURES), to look past a known divergence
"""

import ipaddress
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

REPO = Path(__file__).resolve().parents[2]
RBLDNSD = os.environ.get("RBLDNSD") or shutil.which("rbldnsd") or "/usr/sbin/rbldnsd"
_build = Path(os.environ.get("RBLCACHE_BUILD", "build"))
RBLCACHED = (_build if _build.is_absolute() else REPO / _build) / "rblcached"

V4ZONE = "v4.test"
V6ZONE = "v6.test"
TIME_BUDGET = 14.0          # seconds of querying per test function
STARTUP_TIMEOUT = 8.0
MAX_TIMEOUTS = 5            # unanswered queries before giving up
MAX_REPORTED = 20

# Addresses the servers are allowed to treat specially (RFC 5782 test
# points, IPv4-mapped/6to4 forms rbldnsd maps onto IPv4 datasets):
# never generated, never queried.
V4_AVOID = [ipaddress.ip_network("127.0.0.0/8")]
V6_AVOID = [ipaddress.ip_network(n) for n in (
    "::/96", "::ffff:0:0/96", "64:ff9b::/96", "2002::/16")]


# Extended-syntax features (test_differential_extended), each a form that
# rbldnsd accepts; RBLCACHE_DIFF_SKIP=name,... leaves some out.
EXT_FEATURES = {
    "v4abbrev": "IPv4 prefixes with fewer octets: 10.2 (/16), 10.2.3 (/24), 10.2/15",
    "v6abbrev": "IPv6 prefixes without '::': 2001:db8:1 (= 2001:db8:1::/48)",
    "v6case": "IPv6 in exploded form or upper case",
    "aonly": "':A' value without a TXT part (takes the default TXT)",
    "anotxt": "':A:' value (no TXT)",
    "txtonly": "a value without ':' (TXT with the default A)",
    "defaults": "default lines ':A:' and ':127.0.0.N' (no TXT)",
    "txtcomment": "'# ...'/'; ...' after a TXT (part of the TXT in rbldnsd)",
    "dollar2": "'$$' and '$x' in TXT",
    "quotes": "quotes and backslashes in TXT",
    "longtxt": "TXT templates of 230-252 bytes (answers cut at 254 bytes)",
    "dups": "the same prefix twice (rbldnsd keeps the first, with a warning)",
    "layout": "tabs, extra spaces, comment/blank lines, '! addr', $TTL",
}
SKIP = set(filter(None, os.environ.get("RBLCACHE_DIFF_SKIP", "").split(",")))


def feat(ext, name):
    return ext and name not in SKIP


# --------------------------------------------------------------------------
# list generation

WORDS = ("listed", "spam", "source", "see", "http://bl.example.test/q?ip=",
         "abuse", "blocked", "open", "proxy", "relay", "dynamic", "range",
         "policy", "contact", "noc@example.test", "ref:42", "(test)", "a-b_c",
         "100%", "x/y", "1.2.3", "NET", "Zz")


def rand_txt(rng, ext):
    """A TXT template: words, sometimes with '$' (the queried address)."""
    n = rng.randint(1, 6)
    parts = [rng.choice(WORDS) for _ in range(n)]
    r = rng.random()
    if r < 0.45:
        # '$' as its own word, glued to a word, or at the end
        pos = rng.randint(0, len(parts))
        how = rng.random()
        if how < 0.5:
            parts.insert(pos, "$")
        elif how < 0.8 and parts:
            parts[-1] = parts[-1] + "$"
        else:
            parts.insert(pos, "[$]")
    x = rng.random()
    if feat(ext, "dollar2") and x < 0.08:
        parts.append("$$")                        # a literal '$'
    elif feat(ext, "dollar2") and x < 0.12:
        parts.append("$" + rng.choice("abcxyz"))  # address + letter
    elif feat(ext, "quotes") and 0.12 <= x < 0.18:
        parts.append('"quoted"')
    elif feat(ext, "quotes") and 0.18 <= x < 0.22:
        parts.append("back\\slash")
    txt = " ".join(parts)
    if feat(ext, "longtxt") and rng.random() < 0.06:
        # long template: close to the 255-byte limit, '$' near the end
        filler = "L" * rng.randint(200, 250)
        # at most 245 bytes: rand_value() may append a 7-byte comment
        txt = (filler + " " + txt)[:rng.randint(230, 245)]
        if rng.random() < 0.5:
            txt = txt[:-2] + " $"
    return txt.strip()


def rand_a(rng):
    r = rng.random()
    if r < 0.55:
        return str(rng.randint(2, 254))                  # 127.0.0.N
    if r < 0.9:
        return "127.0.0.%d" % rng.randint(1, 254)
    return "192.0.2.%d" % rng.randint(1, 254)


def rand_value(rng, ext):
    """The text after an address ('' = use the default)."""
    r = rng.random()
    if r < 0.4:
        return ""
    if not ext or r < 0.75:
        return ":%s:%s" % (rand_a(rng), rand_txt(rng, ext))
    r = rng.random()
    if r < 0.25 and feat(ext, "aonly"):
        return ":%s" % rand_a(rng)                       # A only
    if r < 0.45 and feat(ext, "anotxt"):
        return ":%s:" % rand_a(rng)                      # A, no TXT
    if r < 0.75 and feat(ext, "txtonly"):
        return rand_txt(rng, ext)                        # TXT only
    if r < 0.9 and feat(ext, "layout"):
        return ":%s:  %s" % (rand_a(rng), rand_txt(rng, ext))
    if feat(ext, "txtcomment"):
        return ":%s:%s %s" % (rand_a(rng), rand_txt(rng, ext),
                              rng.choice(("# note", "; note")))
    return ":%s:%s" % (rand_a(rng), rand_txt(rng, ext))


def rand_default_line(rng, ext):
    if not feat(ext, "defaults"):
        return ":%s:%s" % (rand_a(rng), rand_txt(rng, ext))
    r = rng.random()
    if r < 0.6:
        return ":%s:%s" % (rand_a(rng), rand_txt(rng, ext))
    if r < 0.8:
        return ":%s:" % rand_a(rng)
    return ":127.0.0.%d" % rng.randint(2, 254)           # A only, no TXT


def avoided(net, avoid):
    return any(net.overlaps(a) for a in avoid)


def rand_subnet(rng, top, minlen, maxlen):
    bits = top.max_prefixlen
    plen = rng.randint(max(minlen, top.prefixlen), maxlen)
    span = 1 << (bits - top.prefixlen)
    addr = int(top.network_address) + rng.randrange(span)
    addr &= ~((1 << (bits - plen)) - 1) & ((1 << bits) - 1)
    return ipaddress.ip_network((addr, plen))


def gen_nets(rng, version, ext):
    """Random clusters of nested prefixes: list of (net, excluded)."""
    bits = 32 if version == 4 else 128
    avoid = V4_AVOID if version == 4 else V6_AVOID
    out, seen = [], set()

    def add(net, excl):
        if net in seen or avoided(net, avoid):
            return
        seen.add(net)
        out.append((net, excl))

    for _ in range(rng.randint(5, 8)):
        for _attempt in range(100):
            if version == 4:
                tlen = rng.choice((8, 12, 16, 16, 20, 24))
                a = rng.randrange(1, 224) << 24 | rng.getrandbits(24)
            else:
                tlen = rng.choice((16, 24, 32, 32, 40, 48, 56, 64))
                a = (0x2000 | rng.getrandbits(13)) << 112 | rng.getrandbits(112)
                if rng.random() < 0.2:
                    a = 0x20010db8 << 96 | rng.getrandbits(96)
            top = ipaddress.ip_network((a >> (bits - tlen) << (bits - tlen), tlen))
            if not avoided(top, avoid) and top not in seen:
                break
        if rng.random() < 0.8:
            add(top, False)
        inner = []
        for _ in range(rng.randint(6, 30)):
            r = rng.random()
            if r < 0.3:
                net = rand_subnet(rng, top, bits, bits)          # single
            elif version == 4:
                net = rand_subnet(rng, top, tlen + 1, 32)
            else:
                net = rand_subnet(rng, top, tlen + 1,
                                  max(tlen + 1, rng.choice((64, 96, 128))))
            add(net, rng.random() < 0.3)
            inner.append(net)
        # nest deeper: listings inside exclusions inside listings...
        for parent in rng.sample(inner, min(len(inner), 6)):
            if parent.prefixlen >= bits - 1:
                continue
            child = rand_subnet(rng, parent, parent.prefixlen + 1, bits)
            add(child, rng.random() < 0.5)
    # a few isolated singles and exclusions of unlisted space
    for _ in range(rng.randint(3, 10)):
        a = rng.getrandbits(bits)
        if version == 4:
            net = ipaddress.ip_network((a, 32))
        else:
            net = ipaddress.ip_network(((0x2000 << 112) | (a >> 3), 128))
        add(net, rng.random() < 0.2)
    rng.shuffle(out)
    return out


def v4_text(rng, net, ext):
    a = str(net.network_address)
    L = net.prefixlen
    if not ext:
        return a if (L == 32 and rng.random() < 0.7) else "%s/%d" % (a, L)
    octs = a.split(".")
    k = max(1, -(-L // 8))
    r = rng.random()
    if L == 32 and r < 0.5:
        return a
    if not feat(ext, "v4abbrev"):
        return "%s/%d" % (a, L)
    if L in (16, 24) and r < 0.5:
        return ".".join(octs[:L // 8])            # abbreviated: a.b / a.b.c
    if k < 4 and r < 0.75:
        return "%s/%d" % (".".join(octs[:k]), L)  # a.b/12, a.b.c/22
    return "%s/%d" % (a, L)


def v6_text(rng, net, ext):
    L = net.prefixlen
    comp = str(net.network_address)
    if not ext:
        return comp if (L == 128 and rng.random() < 0.7) else "%s/%d" % (comp, L)
    r = rng.random()
    if feat(ext, "v6abbrev") and L % 16 == 0 and 32 <= L <= 112 and r < 0.3:
        groups = net.network_address.exploded.split(":")[:L // 16]
        return ":".join(g.lstrip("0") or "0" for g in groups)   # "2001:db8:1"
    if r < 0.5 and feat(ext, "v6case"):
        s = net.network_address.exploded
    elif r < 0.6 and feat(ext, "v6case"):
        s = comp.upper()
    else:
        s = comp
    return s if (L == 128 and rng.random() < 0.5) else "%s/%d" % (s, L)


def gen_list(rng, version, ext):
    """Returns (text, entries, defaults) where entries are
    (net, excluded, line) and defaults are (entry index, line)."""
    nets = gen_nets(rng, version, ext)
    fmt = v4_text if version == 4 else v6_text
    lines, entries, defaults = [], [], []
    if feat(ext, "layout"):
        lines += ["# generated by test_differential.py", "",
                  "$TTL %d" % rng.randint(60, 3600), "; a comment"]
    ndef = rng.randint(1, 3) if ext else rng.randint(1, 2)
    def_at = sorted(rng.sample(range(len(nets)), min(ndef, len(nets))))
    if rng.random() < 0.3:
        def_at[0] = 0
    lay = feat(ext, "layout")
    for i, (net, excl) in enumerate(nets):
        if i in def_at:
            d = rand_default_line(rng, ext)
            defaults.append((len(entries), d))
            lines.append(d)
        addr = fmt(rng, net, ext)
        if excl:
            line = ("! " if lay and rng.random() < 0.3 else "!") + addr
        else:
            val = rand_value(rng, ext)
            sep = " "
            if lay:
                sep = rng.choice((" ", " ", "\t", "  ", " \t"))
            line = addr + (sep + val if val else "")
            if lay and not val and rng.random() < 0.1:
                line += rng.choice((" # trailing comment", "\t; trailing"))
        if lay and rng.random() < 0.05:
            line = rng.choice((" ", "\t", "  ")) + line
        if lay and rng.random() < 0.03:
            lines.append(rng.choice(("", "# c", "; c", "   ")))
        lines.append(line)
        entries.append((net, excl, line))
        if feat(ext, "dups") and rng.random() < 0.04:
            # the same prefix again, later: the first line wins
            dnet = rng.choice(entries)[0]
            dexcl = rng.random() < 0.3
            dval = rand_value(rng, ext) if not dexcl else ""
            dline = ("!" if dexcl else "") + fmt(rng, dnet, ext) + \
                (" " + dval if dval else "")
            lines.append(dline)
            entries.append((dnet, dexcl, dline))
    return "\n".join(lines) + "\n", entries, defaults


def gen_queries(rng, version, entries, count):
    """Addresses to ask: prefix edges and their neighbours first, then
    random ones inside and outside the listed space."""
    bits = 32 if version == 4 else 128
    top = (1 << bits) - 1
    avoid = V4_AVOID if version == 4 else V6_AVOID
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    edges, inside = [], []
    for net, _excl, _line in entries:
        lo, hi = int(net.network_address), int(net.broadcast_address)
        edges += [lo, hi, lo - 1, hi + 1]
        if hi - lo > 1:
            edges += [lo + 1, hi - 1]
            inside.append(rng.randint(lo, hi))
            inside.append(rng.randint(lo, hi))
    rnd = []
    for _ in range(count // 5):
        net = rng.choice(entries)[0]
        # somewhere near the prefix: in a 1-8 bits shorter prefix around it
        wider = max(0, net.prefixlen - rng.randint(1, 8))
        base = int(net.network_address) >> (bits - wider) << (bits - wider)
        rnd.append(base + rng.getrandbits(bits - wider) if wider < bits else base)
    for _ in range(count // 10):
        rnd.append(rng.getrandbits(bits) if version == 4
                   else (0x2000 << 112) | rng.getrandbits(125))
    seen, out = set(), []
    for pool in (edges, inside, rnd):
        rng.shuffle(pool)
        for a in pool:
            if a < 0 or a > top or a in seen:
                continue
            ip = cls(a)
            if any(ip in n for n in avoid):
                continue
            seen.add(a)
            out.append(ip)
    # keep all edges if possible, fill with the rest
    out = out[:count]
    rng.shuffle(out)
    return out


def qname(ip, zone):
    if ip.version == 4:
        return ".".join(reversed(str(ip).split("."))) + "." + zone + "."
    return ".".join(reversed(ip.exploded.replace(":", ""))) + "." + zone + "."


# --------------------------------------------------------------------------
# daemons

def free_port(rng, exclude=()):
    for _ in range(200):
        port = rng.randint(20000, 30000)
        if port in exclude:
            continue
        ok = True
        for typ in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, typ)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port
    raise RuntimeError("no free port found")


class Daemon:
    def __init__(self, name, argv, logpath, cwd):
        self.name = name
        self.logpath = logpath
        self.log = open(logpath, "wb")
        try:
            self.proc = subprocess.Popen(argv, stdout=self.log,
                                         stderr=subprocess.STDOUT, cwd=cwd,
                                         stdin=subprocess.DEVNULL)
        except OSError:
            self.log.close()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()

    def logtext(self, limit=8000):
        try:
            data = Path(self.logpath).read_bytes()
        except OSError as e:
            return "<no log: %s>" % e
        text = data.decode("utf-8", "replace")
        if len(text) > limit:
            text = "...\n" + text[-limit:]
        return text


class Client:
    """A UDP socket asking one server, matching replies by id."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def close(self):
        self.sock.close()

    def ask(self, name, rdtype, timeout=1.0, tries=3):
        q = dns.message.make_query(name, rdtype)
        q.flags &= ~dns.flags.RD
        wire = q.to_wire()
        for _ in range(tries):
            self.sock.sendto(wire, ("127.0.0.1", self.port))
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.sock.settimeout(left)
                try:
                    data, _ = self.sock.recvfrom(65535)
                except socket.timeout:
                    break
                except ConnectionRefusedError:
                    time.sleep(0.05)
                    break
                try:
                    r = dns.message.from_wire(data)
                except Exception as e:  # noqa: BLE001 - report, don't crash
                    return ("BADREPLY", repr(e))
                if r.id != q.id:
                    continue
                return normalize(r)
        return ("TIMEOUT",)


def normalize(r):
    a, txt = [], []
    for rrset in r.answer:
        for rd in rrset:
            if rrset.rdtype == dns.rdatatype.A:
                a.append(rd.address)
            elif rrset.rdtype == dns.rdatatype.TXT:
                txt.append(tuple(rd.strings))
            else:
                a.append("%s:%s" % (dns.rdatatype.to_text(rrset.rdtype),
                                    rd.to_text()))
    return (dns.rcode.to_text(r.rcode()), tuple(sorted(a)), tuple(sorted(txt)))


def show(ans):
    if len(ans) != 3:                   # TIMEOUT, BADREPLY, EXITED, ...
        return " ".join(map(str, ans))
    rcode, a, txt = ans
    parts = [rcode]
    if a:
        parts.append("A=" + ",".join(a))
    for t in txt:
        parts.append("TXT=" + "|".join(repr(s)[1:] for s in t))
    return " ".join(parts)


def wait_ready(client, names, proc, deadline, want_listed=()):
    """Polls until the server answers NOERROR/NXDOMAIN for `names` and
    NOERROR for at least one of `want_listed` (if any).  Bounded."""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return "exited with status %s" % proc.returncode
        ok = all(client.ask(n, "A", timeout=0.2, tries=1)[0]
                 in ("NOERROR", "NXDOMAIN") for n in names)
        if ok and want_listed:
            ok = any(client.ask(n, "A", timeout=0.2, tries=1)[0] == "NOERROR"
                     for n in want_listed)
        if ok:
            return None
        time.sleep(0.1)
    return "not ready after %.0f s" % STARTUP_TIMEOUT


# --------------------------------------------------------------------------
# the test

def covering(entries, ip, defaults):
    """The list lines relevant to `ip`: every prefix containing it, least
    specific first, plus the default line in force for the most specific."""
    # for a duplicated prefix the first line counts: put it last
    hits = sorted((net.prefixlen, -i, line)
                  for i, (net, _excl, line) in enumerate(entries)
                  if ip.version == net.version and ip in net)
    lines = [line for _len, _i, line in hits]
    if hits:
        best_i = -hits[-1][1]
        d = [line for (at, line) in defaults if at <= best_i]
        if d:
            lines.append("(default in force: %s)" % d[-1])
    return lines or ["(no covering entry)"]


def quoted_lines(logtext):
    """For log messages like 'PATH:LINE: message' about a list file,
    the offending line itself."""
    out = []
    for m in re.finditer(r"(/\S+\.list):(\d+): ([^\n]*)", logtext):
        path, num, msg = m.group(1), int(m.group(2)), m.group(3)
        try:
            line = Path(path).read_text().splitlines()[num - 1]
        except (OSError, IndexError):
            line = "?"
        out.append("  %s:%d: %s\n      line: %r" % (Path(path).name, num, msg, line))
        if len(out) >= MAX_REPORTED:
            break
    return "\n".join(out)


def run_differential(seed, ext, n4, n6, fixed=None):
    if not os.path.exists(RBLDNSD):
        pytest.skip("rbldnsd not installed")
    if not RBLCACHED.exists():
        pytest.skip("%s not built" % RBLCACHED)

    rng = random.Random(seed)
    if fixed:
        (v4text, v4entries, v4defs), (v6text, v6entries, v6defs) = fixed
    else:
        v4text, v4entries, v4defs = gen_list(rng, 4, ext)
        v6text, v6entries, v6defs = gen_list(rng, 6, ext)
    q4 = gen_queries(rng, 4, v4entries, n4)
    q6 = gen_queries(rng, 6, v6entries, n6)

    # rbldnsd drops privileges to its own user: the directory and files
    # must be world-readable (pytest's tmp_path, or a private $TMPDIR, is
    # not).
    tmp = Path(tempfile.mkdtemp(prefix="rblcache-diff-",
                                dir="/tmp" if os.path.isdir("/tmp") else None))
    os.chmod(tmp, 0o755)
    keep = os.environ.get("RBLCACHE_DIFF_KEEP") == "1"
    daemons, clients = [], []
    try:
        (tmp / "v4.list").write_text(v4text)
        (tmp / "v6.list").write_text(v6text)
        for f in ("v4.list", "v6.list"):
            os.chmod(tmp / f, 0o644)
        prng = random.Random()
        p_ref = free_port(prng)
        p_new = free_port(prng, exclude=(p_ref,))
        conf = tmp / "rblcache.conf"
        conf.write_text(
            'listen = { "127.0.0.1:%d" }\n'
            "workers = 1\n"
            'user = "root"\n'
            'allow-query = { "127.0.0.0/8", "::1/128" }\n'
            'state-dir = "%s"\n'
            'control = "%s"\n'
            'list "v4" { file = "%s" }\n'
            'list "v6" { file = "%s" }\n'
            'zone "%s" { sources = { "v4*1" } threshold = 1 }\n'
            'zone "%s" { sources = { "v6*1" } threshold = 1 }\n'
            % (p_new, tmp / "state", tmp / "control.sock", tmp / "v4.list",
               tmp / "v6.list", V4ZONE, V6ZONE))

        ref = Daemon("rbldnsd", [
            RBLDNSD, "-n", "-b", "127.0.0.1/%d" % p_ref, "-w", str(tmp),
            "-t", "300", "-c", "1h",
            "%s:ip4trie:v4.list" % V4ZONE, "%s:ip6trie:v6.list" % V6ZONE],
            tmp / "rbldnsd.log", tmp)
        daemons.append(ref)
        new = Daemon("rblcached", [str(RBLCACHED), "-f", "-c", str(conf)],
                     tmp / "rblcached.log", tmp)
        daemons.append(new)
        cref, cnew = Client(p_ref), Client(p_new)
        clients += [cref, cnew]

        def logs():
            return "\n".join("----- %s log (%s) -----\n%s" %
                             (d.name, d.logpath, d.logtext()) for d in daemons)

        def header():
            return ("seed=%d ext=%s skip=%s (rerun: RBLCACHE_DIFF_SEED=%d; %s)"
                    % (seed, ext, ",".join(sorted(SKIP)) or "-", seed,
                       "files kept in %s" % tmp if keep else
                       "RBLCACHE_DIFF_KEEP=1 keeps the lists and logs"))

        probe4 = qname(ipaddress.IPv4Address("192.0.2.1"), V4ZONE)
        probe6 = qname(ipaddress.IPv6Address("2001:db8::1"), V6ZONE)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        err = wait_ready(cref, [probe4, probe6], ref.proc, deadline)
        if err:
            pytest.fail("%s\nrbldnsd %s\n%s" % (header(), err, logs()))
        # Our generator must only write lines rbldnsd accepts.
        warn = [ln for ln in ref.logtext().splitlines()
                if ("file v4.list(" in ln or "file v6.list(" in ln)
                and "duplicated entry" not in ln]
        assert not warn, ("%s\ntest bug: rbldnsd warns about generated "
                          "lines:\n%s" % (header(), "\n".join(warn)))

        # Known-listed addresses (per rbldnsd) to tell when rblcached has
        # loaded both lists.
        listed4 = [qname(ip, V4ZONE) for ip in q4[:200]
                   if cref.ask(qname(ip, V4ZONE), "A")[0] == "NOERROR"][:5]
        listed6 = [qname(ip, V6ZONE) for ip in q6[:200]
                   if cref.ask(qname(ip, V6ZONE), "A")[0] == "NOERROR"][:5]
        err = wait_ready(cnew, [probe4, probe6], new.proc, deadline + 4)
        for lst in (listed4, listed6):
            if not err and lst:
                err = wait_ready(cnew, [], new.proc, deadline + 4, lst)
                if err:
                    err = ("never answered NOERROR for any of %s (list not "
                           "loaded?): %s" % (lst, err))
        if err:
            pytest.fail("%s\nrblcached %s\nlines it complains about:\n%s\n%s"
                        % (header(), err, quoted_lines(new.logtext(10**6)),
                           logs()), pytrace=False)

        mismatches, asked, listed, truncated, timeouts = [], 0, 0, False, 0
        t0 = time.monotonic()
        work = [(ip, V4ZONE, v4entries, v4defs) for ip in q4] + \
               [(ip, V6ZONE, v6entries, v6defs) for ip in q6]
        random.Random(seed + 1).shuffle(work)
        for ip, zone, entries, defs in work:
            if time.monotonic() - t0 > TIME_BUDGET:
                truncated = True
                break
            name = qname(ip, zone)
            if timeouts >= MAX_TIMEOUTS:
                mismatches.append((ip, zone, "-", ("-",), ("-",), [
                    "stopped after %d unanswered queries" % timeouts]))
                break
            for rdtype in ("A", "TXT"):
                a = cref.ask(name, rdtype, timeout=0.5, tries=2)
                b = cnew.ask(name, rdtype, timeout=0.5, tries=2)
                timeouts += (a[0] == "TIMEOUT") + (b[0] == "TIMEOUT")
                asked += 1
                if rdtype == "A" and a[0] == "NOERROR":
                    listed += 1
                if a != b:
                    mismatches.append((ip, zone, rdtype, a, b,
                                       covering(entries, ip, defs)))
            if new.proc.poll() is not None:
                mismatches.append((ip, zone, "-", ("-",), ("EXITED",),
                                   ["rblcached exited with status %s"
                                    % new.proc.returncode]))
                break

        print("%s: %d queries, %d listed, %d mismatches%s" % (
            header(), asked, listed, len(mismatches),
            " (time budget hit)" if truncated else ""))
        if mismatches:
            out = [header(),
                   "%d of %d queries differ (rbldnsd vs rblcached):"
                   % (len(mismatches), asked)]
            # one example per responsible list line first, then the rest
            firsts, rest, keys = [], [], set()
            for m in mismatches:
                specific = [ln for ln in m[5] if not ln.startswith("(default")]
                key = (m[1], m[2], specific[-1] if specific else "")
                (rest if key in keys else firsts).append(m)
                keys.add(key)
            out.append("(%d distinct list-line/qtype cases)" % len(firsts))
            for ip, zone, rdtype, a, b, lines in (firsts + rest)[:MAX_REPORTED]:
                out.append("  %s %s (%s zone)\n    rbldnsd:   %s\n"
                           "    rblcached: %s\n    lines: %s"
                           % (ip, rdtype, zone, show(a), show(b),
                              "\n           ".join(lines)))
            out.append(logs())
            pytest.fail("\n".join(out), pytrace=False)
        # not vacuous: a fair share of both answers
        assert listed > asked // 20, "%s: too few listed answers" % header()
        assert listed < asked - asked // 20, "%s: too few unlisted" % header()
    finally:
        for c in clients:
            c.close()
        for d in daemons:
            d.stop()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _seed():
    s = os.environ.get("RBLCACHE_DIFF_SEED")
    if s:
        return int(s)
    return random.SystemRandom().randrange(1 << 31)


# Hand-written edge cases (see the rbldnsd notes): (line, prefix or None).
LONG = "L" * 248
FIXED_V4 = [
    ("# fixed cases", None),
    ("$TTL 600", None),
    ("10.0.0.0/8 :2:outer $", "10.0.0.0/8"),
    ("!10.1.0.0/16", "10.1.0.0/16"),
    ("10.1.2.0/24 :3:inner", "10.1.2.0/24"),
    ("!10.1.2.128/25", "10.1.2.128/25"),
    ("10.1.2.200 :4:deep [$]", "10.1.2.200/32"),
    ("11.0.0.1", "11.0.0.1/32"),                 # before any default line
    (":5:default five $", None),
    ("11.2", "11.2.0.0/16"),
    ("11.3.4", "11.3.4.0/24"),
    ("11.5/16 :6", "11.5.0.0/16"),               # A only: default TXT
    ("11.6.0.0/15 :7:", "11.6.0.0/15"),          # A, no TXT
    ("11.8.0.0/16 txt only $", "11.8.0.0/16"),   # TXT, default A
    ("11.9.0.1 :8:a $$ b $x c", "11.9.0.1/32"),
    ("11.9.0.2 :9:tx # kept", "11.9.0.2/32"),
    ("11.9.0.3 :10:tx ; kept", "11.9.0.3/32"),
    ("11.9.0.4 # comment: default value", "11.9.0.4/32"),
    ("11.9.0.5\t:11:\ttab  separated  ", "11.9.0.5/32"),
    ("  11.9.0.6 :12:  leading space", "11.9.0.6/32"),
    ("11.9.0.7 :1.2.3.4:other A", "11.9.0.7/32"),
    ('11.9.0.8 :127.0.0.13:"quoted" back\\slash', "11.9.0.8/32"),
    ("11.9.0.9 :14:%s $" % LONG, "11.9.0.9/32"),   # answer cut at 254
    ("11.9.0.10 :15:$", "11.9.0.10/32"),
    ("11.9.0.16/28 :16:$ [$] $", "11.9.0.16/28"),
    ("! 11.9.0.20", "11.9.0.20/32"),
    ("; a comment", None),
    ("", None),
    (":127.0.0.17", None),                        # default without TXT
    ("11.9.0.13", "11.9.0.13/32"),
    (":18:", None),
    ("11.9.0.14", "11.9.0.14/32"),
    (":19:last default", None),
    ("12.0.0.0/31", "12.0.0.0/31"),
    ("12.0.0.255/32 :20", "12.0.0.255/32"),
    ("223.255.255.255", "223.255.255.255/32"),
    ("1.0.0.0/24", "1.0.0.0/24"),
]
FIXED_V6 = [
    (":20:v6 default $", None),
    ("2001:db8::/32", "2001:db8::/32"),
    ("!2001:db8:1::/48", "2001:db8:1::/48"),
    ("2001:db8:1:2::/64 :21:inner $", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::5 :22", "2001:db8:1:2::5/128"),
    ("2001:DB8:2::/48 :23:upper", "2001:db8:2::/48"),
    ("2001:0db8:0003:0000:0000:0000:0000:0000/64 :24:exploded",
     "2001:db8:3::/64"),
    ("2001:db8:4 :25:abbreviated", "2001:db8:4::/48"),
    ("2001:db8:5:0:0:0:0:1 :26:[$]", "2001:db8:5::1/128"),
    ("2001:db8:6::1:0:0:1 :27:[$]", "2001:db8:6::1:0:0:1/128"),
    ("2001:db8:7::/112 :28:[$]", "2001:db8:7::/112"),
    ("2001:db8:0:1:1:1:1:0/127 :29:[$]", "2001:db8:0:1:1:1:1:0/127"),
    ("2001:db9:: :30:[$]", "2001:db9::/128"),
    ("2a00::/12 :31:short", "2a00::/12"),
    ("!2a00:1::/32", "2a00:1::/32"),
    ("2a00:1:2::/48 :32:%s $" % LONG, "2a00:1:2::/48"),
    ("2a00:1:3::/48 :33", "2a00:1:3::/48"),
    ("2a00:1:4::/48 :34:", "2a00:1:4::/48"),
    ("2a00:1:5::/48 just text $", "2a00:1:5::/48"),
]


def fixed_list(rows):
    lines, entries, defaults = [], [], []
    for line, net in rows:
        lines.append(line)
        if net is None:
            if line.startswith(":") and not line.startswith("::"):
                defaults.append((len(entries), line))
            continue
        entries.append((ipaddress.ip_network(net), line.lstrip().startswith("!"),
                        line))
    return "\n".join(lines) + "\n", entries, defaults


def test_differential_fixed():
    """Hand-written edge cases of the rbldnsd syntax."""
    run_differential(_seed(), ext=True, n4=400, n6=300,
                     fixed=(fixed_list(FIXED_V4), fixed_list(FIXED_V6)))


def test_differential_core():
    """The syntax the brief guarantees: addresses, CIDRs, exclusions,
    ':A:TXT' values, '$' in TXT, default ':A:TXT' lines."""
    run_differential(_seed(), ext=False, n4=2200, n6=1300)


def test_differential_extended():
    """Also the rarer rbldnsd forms: abbreviated prefixes, ':A' and ':A:'
    values, bare TXT values, '$$', comments, tabs, long TXTs, $TTL."""
    run_differential(_seed(), ext=True, n4=1400, n6=900)
