"""The server's event loop: uvloop where installed, asyncio's own on request or without it.

``KEYSTONE_EVENT_LOOP`` (``auto``, ``uvloop``, ``asyncio``) chooses; the
``listening on`` line says which loop runs. Each test starts a real
``python -m keystone_net serve`` and makes real calls on it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keystone_net import connect

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


def serve(db_path: Path, loop: str | None) -> tuple[subprocess.Popen[str], str]:
    """A server under ``KEYSTONE_EVENT_LOOP=loop`` (unset: ``None``); it and its first lines."""
    env = {k: v for k, v in os.environ.items() if k != "KEYSTONE_EVENT_LOOP"}
    if loop is not None:
        env["KEYSTONE_EVENT_LOOP"] = loop
    proc = subprocess.Popen(
        [sys.executable, "-m", "keystone_net", "serve", "--db-path", str(db_path)]
        + ["--port", "0", "--metrics-port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    seen = ""
    until = time.monotonic() + 30
    while time.monotonic() < until and "listening on" not in seen:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    return proc, seen


def stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    ("loop", "expected"),
    [
        ("asyncio", "asyncio"),
        pytest.param(
            None,
            "uvloop",
            marks=pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed"),
            id="default-with-uvloop",
        ),
        pytest.param(
            "uvloop",
            "uvloop",
            marks=pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed"),
        ),
    ],
)
def test_the_server_runs_and_serves_on_the_chosen_loop(
    tmp_path: Path, loop: str | None, expected: str
) -> None:
    proc, seen = serve(tmp_path / "loop.keystone", loop)
    try:
        match = re.search(r"listening on 127\.0\.0\.1:(\d+) \(database .*, (\w+) loop,", seen)
        assert match, seen
        assert match.group(2) == expected
        with connect(f"127.0.0.1:{match.group(1)}", timeout=20) as client:
            client.put({"pk": "a", "n": 1})
            assert client.get("a") == {"pk": "a", "n": 1}
    finally:
        assert stop(proc) == 0


def test_an_unknown_loop_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    proc, seen = serve(tmp_path / "loop.keystone", "tornado")
    assert proc.wait(30) == 1
    assert proc.stderr is not None
    seen += proc.stderr.read()
    assert "KEYSTONE_EVENT_LOOP must be one of auto, uvloop, asyncio, got 'tornado'" in seen
    assert "Traceback" not in seen
