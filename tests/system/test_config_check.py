"""rblcached -t: exit 0 on a good config, 1 with file:line on stderr for
each kind of error (config syntax, values, cross-references, list lines)."""

import subprocess

import pytest

from rbltest import RBLCACHED, REPO

GOOD = """\
listen = { "127.0.0.1:5300" }
workers = 1
user = "root"
allow-query = { "127.0.0.0/8", "::1/128" }
list "block" { file = "block.list" }
list "allow" { file = "allow.list" }
zone "bl.rblcache.internal" {
  sources = { "block*10", "allow*-100" }
  threshold = 3
  answer = "127.0.0.2"
  ttl = 300
}
zone "wl.rblcache.internal" { sources = { "allow*1" } threshold = 1 answer = "127.0.10.1" }
"""


def replace_line(text, n, new):
    lines = text.splitlines()
    lines[n - 1] = new
    return "\n".join(lines) + "\n"


def check(rbl, text):
    rc, err = rbl.check(text)
    return rc, err, str(rbl.confpath)


def test_good_config_ok(rbl):
    rbl.write_list("block", "192.0.2.1\n198.51.100.0/24 :127.0.0.3:Spam $\n")
    rc, err, conf = check(rbl, GOOD)
    assert rc == 0 and "configuration ok" in err


def test_generated_config_ok(rbl):
    rc, err = rbl.check()
    assert rc == 0, err


def test_example_config_of_the_repo_ok(rbl):
    p = subprocess.run([str(RBLCACHED), "-t", "-c", str(REPO / "conf/rblcache.conf")],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()


@pytest.mark.parametrize("line,new,message", [
    (2, "workers = 1\nbogus-key = 1", "bogus-key"),                      # at 3
    (1, 'listen = { "127.0.0.1:99999" }', "99999"),
    (1, 'listen = { "127.0.0.1" }', "127.0.0.1"),
    (1, 'listen = { "localhost:53" }', "localhost"),
    (4, 'allow-query = { "127.0.0.0/8", "10.0.0.0/33" }', "10.0.0.0/33"),
    (4, 'allow-query = { "127.0.0.1/8" }', "127.0.0.1/8"),                # host bits
    (4, 'allow-query = { "not-a-net" }', "not-a-net"),
    (2, "workers = -1", "workers"),
    (2, "workers = many", "workers"),
    (8, '  sources = { "block*ten" }', "block*ten"),
    (10, '  answer = "::1"', "::1"),
    (10, '  answer = "127.0.0.256"', "127.0.0.256"),
    (11, "  ttl = -1", "ttl"),
])
def test_bad_value_names_its_line(rbl, line, new, message):
    text = replace_line(GOOD, line, new)
    where = line + 1 if new.startswith("workers = 1\n") else line
    rc, err, conf = check(rbl, text)
    assert rc == 1 and "%s:%d:" % (conf, where) in err and message in err, err


def test_zone_naming_unknown_list(rbl):
    text = replace_line(GOOD, 13, 'zone "wl.rblcache.internal" { sources = { "alow*1" } }')
    rc, err, conf = check(rbl, text)
    assert rc == 1 and "%s:13:" % conf in err and "alow" in err, err


def test_unknown_list_in_multiline_zone_names_the_zone_line(rbl):
    text = replace_line(GOOD, 8, '  sources = { "block*10", "nosuch*-100" }')
    rc, err, conf = check(rbl, text)
    assert rc == 1 and "%s:7:" % conf in err and "nosuch" in err, err


def test_duplicate_zone(rbl):
    text = GOOD + 'zone "bl.rblcache.internal" { sources = { "block*1" } }\n'
    rc, err, conf = check(rbl, text)
    assert rc == 1 and "%s:14:" % conf in err, err


def test_list_without_zone_file_key(rbl):
    text = replace_line(GOOD, 6, 'list "allow" { }')
    rc, err, conf = check(rbl, text)
    assert rc == 1 and "%s:6:" % conf in err and "missing file" in err, err


def test_no_zone(rbl):
    rc, err, conf = check(rbl, "\n".join(GOOD.splitlines()[:6]) + "\n")
    assert rc == 1 and "no zone" in err, err


def test_syntax_error(rbl):
    text = replace_line(GOOD, 9, "  threshold = = 3")
    rc, err, conf = check(rbl, text)
    assert rc == 1 and "%s:9:" % conf in err, err


def test_unterminated_list_value(rbl):
    rc, err, conf = check(rbl, GOOD + 'zone "x.internal" { sources = { "block*1"\n')
    assert rc == 1 and "%s:" % conf in err, err


@pytest.mark.parametrize("lines,bad", [
    ("192.0.2.1\n# ok\n198.51.100.0/33\n", 3),
    ("192.0.2.1\n192.0.2.256\n", 2),
    ("not-an-address\n", 1),
    ("\n\n\n\n2001:db8::/129\n", 5),
    ("192.0.2.1 :127.0.0.999:text\n", 1),
    ("$TTL abc\n", 1),
])
def test_bad_list_line_names_file_and_line(rbl, lines, bad):
    rbl.write_list("block", lines)
    rc, err, conf = check(rbl, GOOD)
    assert rc == 1 and "%s:%d:" % (rbl.path("block"), bad) in err, err
    assert "%s:5" % conf in err      # and the config line declaring the list


def test_every_bad_list_line_reported(rbl):
    rbl.write_list("block", "1.2.3.4/40\n192.0.2.1\nx.y\n")
    rbl.write_list("allow", "192.0.2.1\n10.0.0.0/99\n")
    rc, err, conf = check(rbl, GOOD)
    assert rc == 1
    for where in ("block.list:1:", "block.list:3:", "allow.list:2:"):
        assert where in err, err
    assert "block.list:2:" not in err


def test_missing_list_file(rbl):
    text = GOOD.replace('"allow.list"', '"%s"' % (rbl.dir / "nowhere.list"))
    rc, err, conf = check(rbl, text)
    assert rc == 1 and "nowhere.list" in err, err


def test_missing_config_file(rbl):
    p = subprocess.run([str(RBLCACHED), "-t", "-c", str(rbl.dir / "none.conf")],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert p.returncode == 1 and b"none.conf" in p.stderr


def test_relative_list_paths_resolve_against_the_config(rbl):
    rbl.write_list("block", "300.1.1.1\n")
    rc, err, conf = check(rbl, GOOD)     # GOOD names "block.list", relative
    assert rc == 1 and "%s:1:" % rbl.path("block") in err, err


def test_bad_list_at_start_exits_1_with_file_line(rbl):
    rbl.lists(block="192.0.2.1\n")
    rbl.stop()
    rbl.write_list("block", "192.0.2.1\n192.0.2.0/40\n")
    proc = rbl.spawn()
    assert rbl.wait_exit(5) == 1 and proc.returncode == 1
    assert "%s:2:" % rbl.path("block") in rbl.log()


def test_usage_without_c(rbl):
    p = subprocess.run([str(RBLCACHED), "-t"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    assert p.returncode != 0 and b"usage" in p.stderr


def test_list_name_with_capitals_can_be_referenced(rbl):
    text = GOOD.replace('list "block"', 'list "Block"').replace('"block*10"', '"Block*10"')
    rc, err, conf = check(rbl, text)
    assert rc == 0, err


def test_missing_user_fails_the_check(rbl):
    rc, err, conf = check(rbl, GOOD.replace('user = "root"', 'user = "no-such-user-rbl"'))
    assert rc == 1 and 'user "no-such-user-rbl" does not exist' in err
