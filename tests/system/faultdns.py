"""faultdns -- a small fault-injecting authoritative DNS server for tests.

Serves any number of zones on a free loopback port (UDP and TCP), each
name answering as told: A and TXT records, after a delay, SERVFAIL,
NXDOMAIN, or never.  It counts every query it receives per (qname, qtype)
so a test can assert exactly how many upstream queries were sent.

    with FaultDNS(["zen.spamhaus.org"]) as f:
        f.set("4.3.2.1.zen.spamhaus.org", a="127.0.0.4", txt="why")
        f.set_zone("zen.spamhaus.org", delay_ms=800)   # every other name
        ... f.port ...
        assert f.count("4.3.2.1.zen.spamhaus.org", "A") == 1

A name without a rule gets its zone's default rule (NXDOMAIN unless
set_zone said otherwise); a name outside every zone gets REFUSED.  Every
answer is authoritative and carries the zone's SOA when it has no
records, so a resolver caches it as an ordinary negative answer.

Delayed answers are sent by one scheduler thread at their deadlines, so
a slow name never holds up the others.  stop() closes the sockets and
joins every thread it started (each bounded in time).

Also a command-line tool for poking at a resolver by hand:
    python3 faultdns.py ZONE[,ZONE...] [PORT]
"""

import heapq
import ipaddress
import socket
import struct
import threading
import time
from collections import Counter

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["FaultDNS", "Rule"]

SOA_TTL = 60


def _norm(name):
    """Lower case, no trailing dot: the form names are kept in."""
    return str(name).rstrip(".").lower()


class Rule:
    """What a name answers.

    a, txt: a value or a list of values (a TXT value is a string or a
    tuple of strings, one record); rcode: "NXDOMAIN", "SERVFAIL",
    "REFUSED" (an rcode answer, no records); drop: never answer;
    delay_ms: wait this long before answering; ttl: of the records.
    A name with neither a nor txt and no rcode answers NXDOMAIN.
    """

    def __init__(self, a=None, txt=None, rcode=None, drop=False, delay_ms=0,
                 ttl=300):
        self.a = [] if a is None else ([a] if isinstance(a, str) else list(a))
        if txt is None:
            self.txt = []
        elif isinstance(txt, (str, tuple)):
            self.txt = [txt]
        else:
            self.txt = list(txt)
        for v in self.a:
            ipaddress.IPv4Address(v)        # fail early on a typo
        self.rcode = None if rcode is None else dns.rcode.from_text(rcode)
        self.drop = drop
        self.delay_ms = delay_ms
        self.ttl = ttl

    def __repr__(self):
        return "Rule(a=%r, txt=%r, rcode=%r, drop=%r, delay_ms=%r)" % (
            self.a, self.txt, self.rcode, self.drop, self.delay_ms)


class FaultDNS:
    """An authoritative server for zones on 127.0.0.1:port (0: a free one)."""

    def __init__(self, zones, host="127.0.0.1", port=0, tcp=True):
        self.zones = [_norm(z) for z in zones]
        self.host = host
        self.rules = {}             # name -> Rule
        self.zone_rules = {}        # zone -> Rule (names without a rule)
        self.counts = Counter()     # (name, "A") -> queries received
        self.log = []               # (monotonic time, name, type, transport)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._heap = []             # (deadline, seq, send callable)
        self._seq = 0
        self._cv = threading.Condition(self.lock)
        self._tcp_wanted = tcp
        self.udp = None
        self.tcp = None
        self.port = None
        self._bind(port)

    # ---- configuration ----

    def set(self, name, **kw):
        """The rule for one name (see Rule)."""
        with self.lock:
            self.rules[_norm(name)] = Rule(**kw)
        return self

    def set_zone(self, zone, **kw):
        """The rule for every name of zone that has no rule of its own."""
        z = _norm(zone)
        assert z in self.zones, "%s: not one of %s" % (z, self.zones)
        with self.lock:
            self.zone_rules[z] = Rule(**kw)
        return self

    def count(self, name, qtype="A"):
        with self.lock:
            return self.counts[(_norm(name), qtype.upper())]

    def total(self, qtype=None):
        """Queries received in all, or of one type."""
        with self.lock:
            return sum(n for (nm, t), n in self.counts.items()
                       if qtype is None or t == qtype.upper())

    def names(self):
        """Every (name, type) asked, with its count (a copy)."""
        with self.lock:
            return dict(self.counts)

    def reset_counts(self):
        with self.lock:
            self.counts.clear()
            self.log.clear()

    def wait_count(self, name, qtype="A", n=1, timeout=3.0):
        """Waits until name/qtype was asked at least n times."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(name, qtype) >= n:
                return True
            time.sleep(0.01)
        return self.count(name, qtype) >= n

    # ---- life cycle ----

    def _bind(self, port):
        for _ in range(50):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.bind((self.host, port))
            except OSError:
                u.close()
                if port:
                    raise
                continue
            p = u.getsockname()[1]
            if not self._tcp_wanted:
                self.udp, self.port = u, p
                return
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                t.bind((self.host, p))
            except OSError:
                u.close()
                t.close()
                if port:
                    raise
                continue
            t.listen(64)
            self.udp, self.tcp, self.port = u, t, p
            return
        raise RuntimeError("faultdns: no free port on %s" % self.host)

    def start(self):
        self.udp.settimeout(0.1)
        self._spawn(self._udp_loop)
        self._spawn(self._scheduler)
        if self.tcp:
            self.tcp.settimeout(0.1)
            self._spawn(self._tcp_loop)
        return self

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads.append(t)
        return t

    def stop(self):
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        for t in list(self._threads):
            t.join(timeout=2.0)
        for s in (self.udp, self.tcp):
            if s:
                s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stub_zones(self):
        """unbound.conf stub-zone clauses for every zone served."""
        return "".join('stub-zone:\n    name: "%s"\n    stub-addr: %s@%d\n'
                       % (z, self.host, self.port) for z in self.zones)

    # ---- answering ----

    def _zone_of(self, name):
        best = None
        for z in self.zones:
            if (name == z or name.endswith("." + z)) and (
                    best is None or len(z) > len(best)):
                best = z
        return best

    def _answer(self, query):
        """(reply message or None to stay silent, delay in seconds)."""
        q = query.question[0]
        name = _norm(q.name)
        qtype = dns.rdatatype.to_text(q.rdtype)
        zone = self._zone_of(name)
        with self.lock:
            self.counts[(name, qtype)] += 1
            rule = self.rules.get(name) or self.zone_rules.get(zone) or Rule()
        resp = dns.message.make_response(query)
        resp.flags &= ~dns.flags.RA
        if zone is None:
            resp.set_rcode(dns.rcode.REFUSED)
            return resp, 0.0
        if rule.drop:
            return None, 0.0
        resp.flags |= dns.flags.AA
        delay = rule.delay_ms / 1000.0
        if rule.rcode is not None:
            resp.set_rcode(rule.rcode)
            if rule.rcode == dns.rcode.NXDOMAIN:
                resp.authority.append(self._soa(zone))
            return resp, delay
        if not rule.a and not rule.txt:
            resp.set_rcode(dns.rcode.NXDOMAIN)
            resp.authority.append(self._soa(zone))
            return resp, delay
        added = False
        want = {q.rdtype}
        if q.rdtype == dns.rdatatype.ANY:
            want = {dns.rdatatype.A, dns.rdatatype.TXT}
        if dns.rdatatype.A in want and rule.a:
            resp.answer.append(dns.rrset.from_text(
                q.name, rule.ttl, "IN", "A", *rule.a))
            added = True
        if dns.rdatatype.TXT in want and rule.txt:
            texts = []
            for t in rule.txt:
                parts = t if isinstance(t, tuple) else (t,)
                texts.append(" ".join('"%s"' % p.replace("\\", "\\\\")
                                      .replace('"', '\\"') for p in parts))
            resp.answer.append(dns.rrset.from_text(
                q.name, rule.ttl, "IN", "TXT", *texts))
            added = True
        if not added:                       # NODATA
            resp.authority.append(self._soa(zone))
        return resp, delay

    def _soa(self, zone):
        return dns.rrset.from_text(
            zone + ".", SOA_TTL, "IN", "SOA",
            "ns.%s. hostmaster.%s. 1 3600 600 86400 %d"
            % (zone, zone, SOA_TTL))

    def _later(self, delay, fn):
        if delay <= 0:
            fn()
            return
        with self._cv:
            self._seq += 1
            heapq.heappush(self._heap,
                           (time.monotonic() + delay, self._seq, fn))
            self._cv.notify()

    def _scheduler(self):
        while not self._stop.is_set():
            with self._cv:
                now = time.monotonic()
                due = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
                if not due:
                    wait = self._heap[0][0] - now if self._heap else 0.1
                    self._cv.wait(timeout=min(wait, 0.1))
                    continue
            for fn in due:
                try:
                    fn()
                except OSError:
                    pass                # the peer went away: nothing to do

    def _udp_loop(self):
        while not self._stop.is_set():
            try:
                data, peer = self.udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:           # noqa: BLE001 - junk is ignored
                continue
            if not query.question:
                continue
            q0 = query.question[0]
            with self.lock:
                self.log.append((time.monotonic(), _norm(q0.name),
                                 dns.rdatatype.to_text(q0.rdtype), "udp"))
            resp, delay = self._answer(query)
            if resp is None:
                continue
            limit = 512
            if query.edns >= 0:
                limit = max(512, min(query.payload, 4096))
            try:
                wire = resp.to_wire(max_size=limit)
            except dns.exception.TooBig:
                # too big for the client's buffer: TC and the question
                # only, the client retries over TCP (RFC 1035 4.2.1)
                resp.answer.clear()
                resp.authority.clear()
                resp.additional.clear()
                resp.flags |= dns.flags.TC
                wire = resp.to_wire(max_size=limit)
            self._later(delay, lambda w=wire, p=peer: self.udp.sendto(w, p))

    def _tcp_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._spawn(self._tcp_conn, conn)

    def _tcp_conn(self, conn):
        conn.settimeout(0.2)
        deadline = time.monotonic() + 10.0
        buf = b""
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    chunk = conn.recv(65535)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 2:
                    (n,) = struct.unpack("!H", buf[:2])
                    if len(buf) < 2 + n:
                        break
                    data, buf = buf[2:2 + n], buf[2 + n:]
                    try:
                        query = dns.message.from_wire(data)
                    except Exception:   # noqa: BLE001
                        continue
                    if not query.question:
                        continue
                    with self.lock:
                        self.log.append((time.monotonic(),
                                         _norm(query.question[0].name),
                                         dns.rdatatype.to_text(
                                             query.question[0].rdtype), "tcp"))
                    resp, delay = self._answer(query)
                    if resp is None:
                        continue
                    wire = resp.to_wire(max_size=65535)
                    frame = struct.pack("!H", len(wire)) + wire
                    self._later(delay, lambda f=frame: conn.sendall(f))
        except OSError:
            pass
        finally:
            # give delayed answers on this connection a moment to go out
            time.sleep(0.05)
            conn.close()


if __name__ == "__main__":
    import sys
    zs = sys.argv[1].split(",") if len(sys.argv) > 1 else ["example.test"]
    with FaultDNS(zs, port=int(sys.argv[2]) if len(sys.argv) > 2 else 0) as f:
        for z in zs:
            f.set("2.0.0.127." + z, a="127.0.0.2", txt="test point")
        print("faultdns on 127.0.0.1:%d for %s (NXDOMAIN but for "
              "2.0.0.127.ZONE); Ctrl-C stops" % (f.port, ", ".join(zs)))
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
