"""The ``keystone-server`` console script is ``python -m keystone_net serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import keystone


def script() -> str:
    path = os.path.join(os.path.dirname(sys.executable), "keystone-server")
    if not os.path.exists(path):
        pytest.skip("the keystone-server console script is not installed in this environment")
    return path


@pytest.mark.parametrize("lead", [[], ["serve"]], ids=["bare", "with-serve"])
def test_keystone_server_serves_and_stops_on_sigterm(tmp_path, lead):
    db_path = tmp_path / "s.keystone"
    proc = subprocess.Popen(
        [script(), *lead, "--db-path", str(db_path), "--port", "0", "--metrics-port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    seen = ""
    while time.monotonic() < deadline and "listening on" not in seen:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    assert "listening on 127.0.0.1:" in seen, seen
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    with keystone.Database.open(db_path, create=False) as db:
        assert db.stats()["items"] == 0
