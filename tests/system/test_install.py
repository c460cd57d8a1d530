"""test_install -- `make install` / `make uninstall` and the man pages.

make install runs into a temp DESTDIR (nothing outside it is touched);
`-o BUILD/rblcached -o BUILD/rblctl` tells make not to rebuild the
binaries, so the test installs exactly what was built (also under
RBLCACHE_BUILD=build-asan).  The man pages must render without a groff
warning, and every option of daemon/config.c's libconfuse schema must be
documented in doc/rblcache.conf.5.
"""
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_build = os.environ.get("RBLCACHE_BUILD", "build")
BUILD = Path(_build) if Path(_build).is_absolute() else REPO / _build
MAN_PAGES = ["rblcached.8", "rblctl.8", "rblcache.conf.5"]
CONF_FILES = ["rblcache.conf", "block.list", "allow.list"]

needs_build = pytest.mark.skipif(
    not ((BUILD / "rblcached").exists() and (BUILD / "rblctl").exists()),
    reason="%s/rblcached and rblctl are not built" % BUILD)


def make(target, destdir, prefix="/usr/local", check=True):
    cmd = ["make", "--no-print-directory", "-C", str(REPO),
           "BUILD=" + str(BUILD),
           "-o", str(BUILD / "rblcached"), "-o", str(BUILD / "rblctl"),
           target, "DESTDIR=" + str(destdir), "PREFIX=" + prefix,
           "SYSCONFDIR=/etc", "SYSTEMDDIR=/etc/systemd/system"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, "%s\n%s\n%s" % (cmd, r.stdout, r.stderr)
    return r


def expected(prefix="/usr/local"):
    """installed path (relative to DESTDIR) -> (mode, source file)"""
    p = prefix.lstrip("/")
    files = {
        p + "/sbin/rblcached": (0o755, BUILD / "rblcached"),
        p + "/sbin/rblctl": (0o755, BUILD / "rblctl"),
        p + "/share/man/man8/rblcached.8": (0o644, REPO / "doc/rblcached.8"),
        p + "/share/man/man8/rblctl.8": (0o644, REPO / "doc/rblctl.8"),
        p + "/share/man/man5/rblcache.conf.5":
            (0o644, REPO / "doc/rblcache.conf.5"),
        p + "/share/doc/rblcache/README.md": (0o644, REPO / "README.md"),
        "etc/systemd/system/rblcached.service":
            (0o644, REPO / "conf/rblcached.service"),
    }
    for f in CONF_FILES:
        files["etc/rblcache/" + f] = (0o640, REPO / "conf" / f)
    return files


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@needs_build
def test_install_files_and_modes(tmp_path):
    dest = tmp_path / "dest"
    make("install", dest)
    for rel, (m, src) in expected().items():
        f = dest / rel
        assert f.is_file(), rel
        assert mode(f) == m, "%s: mode %o, want %o" % (rel, mode(f), m)
        assert f.read_bytes() == src.read_bytes(), rel
    # nothing else was installed
    got = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()}
    assert got == set(expected()), got ^ set(expected())


@needs_build
def test_unit_follows_prefix(tmp_path):
    dest = tmp_path / "dest"
    make("install", dest, prefix="/usr")
    assert (dest / "usr/sbin/rblcached").is_file()
    unit = (dest / "etc/systemd/system/rblcached.service").read_text()
    assert "ExecStart=/usr/sbin/rblcached -f -c /etc/rblcache/rblcache.conf" \
        in unit.splitlines()
    assert "/usr/local/" not in unit
    make("uninstall", dest, prefix="/usr")
    assert not (dest / "usr/sbin/rblcached").exists()


@needs_build
def test_install_keeps_existing_config(tmp_path):
    dest = tmp_path / "dest"
    make("install", dest)
    conf = dest / "etc/rblcache/rblcache.conf"
    blist = dest / "etc/rblcache/block.list"
    conf.write_text("# the admin's own config\n")
    blist.write_text("192.0.2.99\n")
    os.chmod(conf, 0o600)
    (dest / "etc/rblcache/allow.list").unlink()  # a missing one is restored
    r = make("install", dest)
    assert conf.read_text() == "# the admin's own config\n", r.stdout
    assert mode(conf) == 0o600
    assert blist.read_text() == "192.0.2.99\n"
    allow = dest / "etc/rblcache/allow.list"
    assert allow.read_bytes() == (REPO / "conf/allow.list").read_bytes()
    assert mode(allow) == 0o640


@needs_build
def test_uninstall_keeps_config(tmp_path):
    dest = tmp_path / "dest"
    make("install", dest)
    conf = dest / "etc/rblcache/rblcache.conf"
    conf.write_text("# edited\n")
    make("uninstall", dest)
    left = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()}
    assert left == {"etc/rblcache/" + f for f in CONF_FILES}, left
    assert conf.read_text() == "# edited\n"
    assert not (dest / "usr/local/share/doc/rblcache").exists()
    # a second uninstall (nothing left to remove) still succeeds
    make("uninstall", dest)


@needs_build
def test_installed_daemon_checks_installed_config(tmp_path):
    dest = tmp_path / "dest"
    make("install", dest)
    conf = dest / "etc/rblcache/rblcache.conf"
    # the example names user "nobody"; make the check independent of
    # the accounts of this machine
    text = conf.read_text()
    text = re.sub(r'(?m)^user\s*=.*$', 'user = "root"', text)
    conf.write_text(text)
    daemon = dest / "usr/local/sbin/rblcached"
    r = subprocess.run([str(daemon), "-t", "-c", str(conf)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "configuration ok" in r.stderr
    # the relative list paths resolved against the installed directory
    assert str(dest / "etc/rblcache/block.list") in r.stderr
    # and a broken installed list is reported with file:line, exit 1
    (dest / "etc/rblcache/block.list").write_text("192.0.2.300\n")
    r = subprocess.run([str(daemon), "-t", "-c", str(conf)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "block.list:1:" in r.stderr, r.stderr
    rc = subprocess.run([str(dest / "usr/local/sbin/rblctl"), "--help"],
                        capture_output=True, text=True, timeout=60)
    assert rc.returncode == 0 and "usage: rblctl" in rc.stdout


@pytest.mark.skipif(not shutil.which("groff"), reason="groff not installed")
@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_renders_cleanly(page):
    path = REPO / "doc" / page
    r = subprocess.run(["groff", "-man", "-ww", "-z", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stderr
    text = path.read_text()
    name, section = page.rsplit(".", 1)
    assert re.search(r'(?m)^\.TH %s %s ' % (re.escape(name.upper()), section),
                     text), "bad .TH line"
    for sect in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
        assert re.search(r'(?m)^\.SH "?%s"?$' % sect, text), sect


def schema_options(source):
    """(section, name) of every CFG_*("name", ...) in the cfg_opt_t arrays
    of a libconfuse schema; section is the array's name."""
    out = []
    arrays = re.findall(r'cfg_opt_t\s+(\w+)\[\]\s*=\s*\{(.*?)\};',
                        source, re.S)
    for array, body in arrays:
        for name in re.findall(r'\bCFG_[A-Z_]+\(\s*"([^"]+)"', body):
            out.append((array, name))
    return out


def test_schema_parser_finds_options():
    # guard against a parser that finds nothing and so checks nothing
    opts = schema_options((REPO / "daemon/config.c").read_text())
    names = {n for _, n in opts}
    for n in ("listen", "max-memory", "timeout-ms", "file", "sources",
              "cache", "zone", "error-codes"):
        assert n in names, n
    assert len(opts) >= 30
    sample = 'static cfg_opt_t x_opts[] = {\n\tCFG_INT("new-knob", 1, 0),\n' \
        '\tCFG_END()\n};\n'
    assert schema_options(sample) == [("x_opts", "new-knob")]


def documented_terms(page_text):
    """the words of a man page's source with groff's escapes undone"""
    t = page_text.replace(r'\-', '-').replace(r'\(hy', '-')
    t = t.replace(r'\(dq', '"').replace(r'\fR', ' ').replace(r'\fB', ' ')
    t = t.replace(r'\fI', ' ').replace(r'\fP', ' ')
    return t


def test_every_config_option_is_documented():
    opts = schema_options((REPO / "daemon/config.c").read_text())
    page = documented_terms((REPO / "doc/rblcache.conf.5").read_text())
    # the page's sections: heading -> body
    parts = re.split(r'(?m)^\.SH\s+"?([^"\n]*)"?\n', page)
    sections = dict(zip(parts[1::2], parts[2::2]))
    missing = []
    for array, name in opts:
        # each option must be a tagged term (.B name on its own line, as
        # under .TP), not just a word somewhere in the text; a section's
        # options within that section ("cache_opts" -> "CACHE SECTION")
        if array == "root_opts":
            where = page
        else:
            head = array[:-len("_opts")].upper()
            where = "".join(body for h, body in sections.items()
                            if h.startswith(head) and "SECTION" in h)
        if not re.search(r'(?m)^\.B[IR]?\s+"?%s(?![-\w])' % re.escape(name),
                         where):
            missing.append((array, name))
    assert not missing, "options undocumented in doc/rblcache.conf.5: %s" \
        % missing
