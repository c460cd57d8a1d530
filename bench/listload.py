#!/usr/bin/python3
"""listload.py BUILD -- load time and memory of a 1M-entry list.

Generates a seeded list of 1,000,000 entries (90 % single addresses,
10 % CIDRs of /16../31, 5 % exclusions, a text on every tenth entry),
starts BUILD/rblcached on it with one worker, then rbldnsd (Debian's,
as ip4trie) on the same file, and prints one line per server:

  listload server=rblcached entries=1000000 load_s=0.46 rss_mb=22.2 peak_rss_mb=43.6
  listload server=rbldnsd entries=1000000 load_s=0.80 rss_mb=... peak_rss_mb=...
"""
import os, random, re, signal, socket, subprocess, sys, tempfile, time

N = 1_000_000

def report(server, p, log, deadline, pattern):
    """Waits (until deadline) for the load time the server logs, then
    prints its line with RSS and peak RSS from /proc."""
    load = None
    while time.time() < deadline and load is None:
        time.sleep(0.1)
        m = re.search(pattern, open(log).read())
        if m:
            load = float(m.group(1))
    time.sleep(0.5)
    st = open(f"/proc/{p.pid}/status").read()
    rss = int(re.search(r"VmRSS:\s+(\d+)", st).group(1)) / 1024
    hwm = int(re.search(r"VmHWM:\s+(\d+)", st).group(1)) / 1024
    print(f"listload server={server} entries={N} load_s={load} "
          f"rss_mb={rss:.1f} peak_rss_mb={hwm:.1f}", flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "big.list")
        with open(path, "w") as f:
            f.write(":127.0.0.2:listed $\n")
            for i in range(N):
                a = rng.getrandbits(32) | 0x01000000
                r = rng.random()
                if r < 0.10:
                    bits = rng.randint(16, 31)
                    a &= (0xffffffff << (32 - bits)) & 0xffffffff
                    ip = f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}/{bits}"
                else:
                    ip = f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"
                if r > 0.95:
                    f.write(f"!{ip}\n")
                elif i % 10 == 0:
                    f.write(f"{ip} :127.0.0.3:entry {i} $\n")
                else:
                    f.write(ip + "\n")
        port = free_port()
        conf = os.path.join(d, "r.conf")
        with open(conf, "w") as f:
            f.write(f'listen = {{ "127.0.0.1:{port}" }}\nworkers = 1\nuser = "root"\n'
                    f'list "big" {{ file = "{path}" }}\n'
                    f'zone "bl.test" {{ sources = {{ "big" }} }}\n')
        log = os.path.join(d, "log")
        with open(log, "w") as lf:
            p = subprocess.Popen([os.path.join(build, "rblcached"), "-f", "-c", conf],
                                 stderr=lf)
        try:
            deadline = time.time() + 30
            report("rblcached", p, log, deadline,
                   r"prefixes from .* in ([0-9.]+) s")
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
        rbldnsd(d, path)


def rbldnsd(d, path):
    """The same file served by rbldnsd; its log says how long loading took."""
    if not os.path.exists("/usr/sbin/rbldnsd"):
        return
    os.chmod(d, 0o755)
    os.chmod(path, 0o644)
    port = free_port()
    log = os.path.join(d, "rbldnsd.log")
    with open(log, "w") as lf:
        p = subprocess.Popen(["/usr/sbin/rbldnsd", "-n", "-b", f"127.0.0.1/{port}",
                              "-w", d, "bl.test:ip4trie:" + os.path.basename(path)],
                             stdout=lf, stderr=lf)
    try:
        deadline = time.time() + 60
        report("rbldnsd", p, log, deadline,
               r"zones reloaded, time ([0-9.]+)e/")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)

if __name__ == "__main__":
    main()
