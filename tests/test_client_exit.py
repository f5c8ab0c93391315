"""The blocking client never keeps a process alive (issue 17, point 1).

Each test runs the client the way a user does, in a ``python -c`` of its
own against a real server process, bounded by a timeout: a client left
open is closed when the interpreter exits, with a ``ResourceWarning`` as
an unclosed file gives.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ServerProcess

#: Far more than a healthy exit takes; only a hang reaches it.
EXIT_TIMEOUT = 60


def run_python(code: str, *options: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, *options, "-c", code],
            capture_output=True,
            text=True,
            timeout=EXIT_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:  # the bug: the process never exits
        pytest.fail(f"the process did not exit within {EXIT_TIMEOUT}s: {exc.stdout!r}")


@pytest.fixture
def server(start_server: Callable[..., ServerProcess], tmp_path: Path) -> ServerProcess:
    return start_server(tmp_path / "exit.keystone")


def test_an_unclosed_client_lets_the_process_exit(server: ServerProcess) -> None:
    code = (
        "import keystone_net\n"
        f"db = keystone_net.connect({server.url!r})\n"
        "db.put({'pk': 'c', 'sk': 'c', 'n': 1})\n"
        "print(db.get('c', 'c'))\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert "'n': 1" in done.stdout


def test_an_unclosed_client_warns_as_an_unclosed_file_does(server: ServerProcess) -> None:
    code = (
        f"import keystone_net\ndb = keystone_net.connect({server.url!r})\nprint(db.get('c', 'c'))\n"
    )
    done = run_python(code, "-W", "always::ResourceWarning")
    assert done.returncode == 0, done.stderr
    assert "ResourceWarning: unclosed keystone_net.SyncClient" in done.stderr
    assert server.url in done.stderr


def test_a_closed_client_gives_no_warning(server: ServerProcess) -> None:
    code = (
        "import keystone_net\n"
        f"with keystone_net.connect({server.url!r}) as db:\n"
        "    print(db.get('c', 'c'))\n"
    )
    done = run_python(code, "-W", "error::ResourceWarning")
    assert done.returncode == 0, done.stderr
    assert "ResourceWarning" not in done.stderr


def test_an_unclosed_client_that_never_called_lets_the_process_exit(
    server: ServerProcess,
) -> None:
    done = run_python(f"import keystone_net\ndb = keystone_net.connect({server.url!r})\n")
    assert done.returncode == 0, done.stderr
