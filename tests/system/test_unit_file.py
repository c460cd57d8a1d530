"""test_unit_file -- conf/rblcached.service is a unit systemd accepts.

systemd-analyze verify reads the unit as systemd would (unknown keys,
bad values, missing executables); the binary paths are pointed at this
build first, since the unit names the installed ones.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_build = Path(os.environ.get("RBLCACHE_BUILD", "build"))
BUILD = _build if _build.is_absolute() else REPO / _build


@pytest.mark.skipif(not shutil.which("systemd-analyze"),
                    reason="systemd-analyze not installed")
def test_unit_verifies(tmp_path):
    text = (REPO / "conf" / "rblcached.service").read_text()
    assert "/usr/local/sbin/rblcached" in text
    unit = tmp_path / "rblcached.service"
    unit.write_text(text.replace("/usr/local/sbin/rblcached",
                                 str(BUILD / "rblcached")))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)],
                       capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 0 and out == "", out


def test_unit_sandboxing():
    text = (REPO / "conf" / "rblcached.service").read_text()
    for line in ("NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ReadWritePaths=/var/lib/rblcache /run/rblcache",
                 "PrivateTmp=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                 "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                 "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in text.splitlines(), line
