"""The client over TLS through a real nginx running ``deploy/nginx.conf``.

nginx terminates TLS (the test's own CA and server certificate) and passes
the calls over plaintext HTTP/2 (``grpc_pass``) to a server process on
loopback. The shipped snippet is used as is, with only its listen address,
upstream port and certificate paths rewritten; nginx runs in the foreground
(``daemon off``, one process) with its pid, logs and temp files in the
test's directory. Skipped when ``nginx`` is not installed (``.ci/run``
installs it).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from certs import Pki, make_pki
from netsupport import free_port, quiet_args, requires_flags

import keystone
from keystone_net import AuthenticationError, Retry, connect

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)


def _nginx_build() -> tuple[tuple[int, ...], str]:
    """``(version, configure arguments)`` of the installed nginx."""
    if NGINX is None:
        return (), ""
    out = subprocess.run([NGINX, "-V"], capture_output=True, text=True, timeout=30).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    return (tuple(int(x) for x in match.groups()) if match else ()), out


VERSION, BUILD = _nginx_build()
pytestmark = [
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed"),
    pytest.mark.skipif(
        NGINX is not None and not ("http_v2_module" in BUILD and "http_ssl_module" in BUILD),
        reason="this nginx is built without http_v2 or http_ssl",
    ),
]

SNIPPET = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"

MAIN_CONF = """\
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/keystone.conf;
}}
"""


def snippet_for(listen_port: int, backend_port: int, pki: Pki) -> str:
    """deploy/nginx.conf with this test's ports and certificates."""
    text = SNIPPET.read_text()
    rewrites = [
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{listen_port} ssl http2;"),
        (r"server 127\.0\.0\.1:50051;", f"server 127.0.0.1:{backend_port};"),
        (r"ssl_certificate +\S+;", f"ssl_certificate {pki.server_cert};"),
        (r"ssl_certificate_key +\S+;", f"ssl_certificate_key {pki.server_key};"),
    ]
    for pattern, replacement in rewrites:
        text, count = re.subn(pattern, replacement, text)
        assert count == 1, f"deploy/nginx.conf has no single {pattern!r} any more"
    return text


class Nginx:
    """nginx in the foreground on ``127.0.0.1:port`` in front of ``backend_port``."""

    def __init__(self, tmp: Path, backend_port: int, pki: Pki) -> None:
        assert NGINX is not None
        self.tmp = tmp
        self.port = free_port()
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "keystone.conf").write_text(snippet_for(self.port, backend_port, pki))
        (tmp / "nginx.conf").write_text(MAIN_CONF.format(tmp=tmp))
        command = [NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf")]
        if VERSION >= (1, 19, 5):  # -e: no attempt at the default error log before the config
            command += ["-e", str(tmp / "error.log")]
        command += ["-g", "daemon off; master_process off;"]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen within 20 s:\n{self.log()}")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def log(self) -> str:
        path = self.tmp / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def proxy(tmp_path: Path, start_server: Any, pki: Pki) -> Iterator[tuple[Nginx, Any]]:
    server = start_server(None, 0, *quiet_args())
    nginx = Nginx(tmp_path / "nginx", server.port, pki)
    yield nginx, server
    nginx.stop()


def test_calls_and_errors_through_nginx(proxy: tuple[Nginx, Any], pki: Pki) -> None:
    nginx, _ = proxy
    with connect(nginx.url, ca_file=pki.ca, timeout=20) as db:
        db.put({"pk": "user#1", "sk": "profile", "name": "Ada", "n": 1})
        db.batch_write(puts=[{"pk": "user#1", "sk": f"order#{i}", "n": i} for i in range(5)])
        assert db.get("user#1", "profile") == {
            "pk": "user#1",
            "sk": "profile",
            "name": "Ada",
            "n": 1,
        }
        page = db.query("user#1", keystone.sk.begins_with("order#"))
        assert [i["n"] for i in page.items] == [0, 1, 2, 3, 4]
        assert db.execute("SELECT * FROM t WHERE pk = 'user#1'").count == 6
        # Error statuses and their trailing metadata come through nginx.
        with pytest.raises(keystone.ValidationError):
            db.update("user#1", "profile", update="SET")
        with pytest.raises(keystone.ConditionalCheckFailed) as failed:
            db.put({"pk": "user#1", "sk": "profile"}, condition="attribute_not_exists(pk)")
        with pytest.raises(keystone.TransactionCanceled) as canceled:
            db.transact_write(
                [
                    keystone.Put({"pk": "new"}),
                    keystone.ConditionCheck("user#1", "profile", "n = :two"),
                ],
                values={":two": 2},
            )
        assert canceled.value.reasons == [None, "ConditionalCheckFailed"]
        assert failed.value is not None
        assert db.get("new") is None


def test_a_long_scan_streams_through_nginx(proxy: tuple[Nginx, Any], pki: Pki) -> None:
    nginx, _ = proxy
    with connect(nginx.url, ca_file=pki.ca, timeout=30) as db:
        pad = "x" * 1000
        for b in range(6):
            db.batch_write(puts=[{"pk": f"p{b}", "sk": f"{i:04d}", "pad": pad} for i in range(500)])
        assert sum(1 for _ in db.scan_all()) == 3000  # ~3 MB: several stream messages


def test_one_connection_outlives_nginx_request_limits(proxy: tuple[Nginx, Any], pki: Pki) -> None:
    nginx, _ = proxy
    with connect(nginx.url, ca_file=pki.ca, timeout=20, retries=0) as db:
        for i in range(1200):  # more than nginx's default keepalive_requests (1000)
            db.put({"pk": "many", "sk": f"{i:04d}"})
        assert db.query("many", limit=2000).count == 1200


def test_a_stopped_backend_is_unavailable(proxy: tuple[Nginx, Any], pki: Pki) -> None:
    nginx, server = proxy
    with connect(nginx.url, ca_file=pki.ca, timeout=20, retries=Retry(attempts=2)) as db:
        db.put({"pk": "a"})
        assert server.terminate() == 0
        with pytest.raises(keystone.Unavailable):  # nginx answers 502: UNAVAILABLE
            db.get("a")
        with pytest.raises(keystone.Unavailable):
            db.put({"pk": "b"})


def test_the_tls_certificate_is_checked(proxy: tuple[Nginx, Any], tmp_path: Path) -> None:
    nginx, _ = proxy
    stranger = make_pki(tmp_path / "stranger")
    with (
        connect(nginx.url, ca_file=stranger.ca, timeout=20) as db,
        pytest.raises(keystone.Unavailable, match="certificate"),
    ):
        db.get("a")


@requires_flags("--auth-token")
def test_the_bearer_token_passes_through_nginx(tmp_path: Path, start_server: Any, pki: Pki) -> None:
    server = start_server(None, 0, "--auth-token", "tok3n", *quiet_args())
    nginx = Nginx(tmp_path / "nginx", server.port, pki)
    try:
        with connect(nginx.url, ca_file=pki.ca, auth_token="tok3n", timeout=20) as db:
            db.put({"pk": "a"})
            assert db.get("a") == {"pk": "a"}
        with (
            connect(nginx.url, ca_file=pki.ca, auth_token="wrong", timeout=20) as db,
            pytest.raises(AuthenticationError),
        ):
            db.get("a")
    finally:
        nginx.stop()
