"""What the server says as it starts, and the test fixtures' server (issue 17, point 6)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import keystone
from tests.conftest import ServerProcess

pytest_plugins = ["pytester"]


def test_the_startup_log_names_the_version_and_the_durability(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(tmp_path / "s.keystone", 0, durability="sync")
    (line,) = [x for x in server.output().splitlines() if "listening on" in x]
    assert f"keystone {keystone.__version__}" in line
    assert "durability sync" in line


def test_listening_on_every_interface_without_token_or_tls_warns(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(tmp_path / "s.keystone", 0, "--host", "0.0.0.0")
    warnings = [x for x in server.output().splitlines() if "WARNING" in x]
    assert any("neither --auth-token nor TLS" in x for x in warnings), server.output()


def test_listening_on_every_interface_with_a_token_does_not_warn(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(tmp_path / "s.keystone", 0, "--host", "0.0.0.0", "--auth-token", "t0k")
    assert "neither --auth-token nor TLS" not in server.output()


def test_loopback_does_not_warn(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server(tmp_path / "s.keystone")
    assert "neither --auth-token nor TLS" not in server.output()


def test_an_occupied_port_reports_the_bind_error_alone(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "keystone_net", "serve", "--db-path", str(tmp_path / "x.db")]
            + ["--port", str(port), "--metrics-port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    errors = [x for x in done.stderr.splitlines() if "ERROR" in x]
    assert len(errors) == 1 and "cannot serve" in errors[0]
    assert "stopped; database closed" not in done.stderr
    assert "Traceback" not in done.stderr


def test_keystone_server_help_names_itself() -> None:
    script = Path(sys.executable).with_name("keystone-server")
    if not script.exists():
        pytest.skip("the keystone-server script is not installed in this environment")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: keystone-server ")


def test_a_corrupt_file_is_a_clean_error_from_the_server(tmp_path: Path) -> None:
    junk = tmp_path / "junk.keystone"
    junk.write_bytes(b"\x00garbage" * 4096)
    done = subprocess.run(
        [sys.executable, "-m", "keystone_net", "serve", "--db-path", str(junk)]
        + ["--port", "0", "--metrics-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "cannot serve: Corruption: " in done.stderr
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------
# The pytest plugin's server and client
# --------------------------------------------------------------------------


def test_the_fixture_server_serves_metrics_on_a_free_port(tmp_path: Path) -> None:
    from keystone.testing import start_server

    server = start_server(tmp_path / "m.keystone")
    try:
        assert server.metrics_port is not None  # the system's pick, not the default 9090
        assert "--metrics-port" in server.process.args
        with socket.create_connection(("127.0.0.1", server.metrics_port), timeout=10) as conn:
            conn.sendall(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")
            reply = conn.recv(1024)
        assert reply.startswith(b"HTTP/1.")
        assert b" 200 " in reply.split(b"\r\n", 1)[0]
    finally:
        server.stop()


def test_keystone_client_honours_the_schema_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.keystone_schema(partition_key="id", sort_key=None)
            def test_marked(keystone_client):
                keystone_client.put({"id": "u1", "name": "Ada"})
                assert keystone_client.get("u1") == {"id": "u1", "name": "Ada"}

            @pytest.mark.keystone_schema(partition_key="id", sort_key=None)
            def test_marked_again_starts_empty(keystone_client):
                assert list(keystone_client.scan_all()) == []

            def test_unmarked(keystone_client):
                keystone_client.put({"pk": "a", "sk": "b"})
                assert keystone_client.get("a", "b") == {"pk": "a", "sk": "b"}
            """
        )
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=3)
