"""TLS: the contexts of ``keystone_net.serving.tls``, and clients over TLS and mutual TLS.

The certificates are made for each test module by ``tests/certs.py`` (a
private CA, a server certificate for 127.0.0.1/localhost, client
certificates from that CA and from another one). The client tests run the
real service in the test's event loop (``InProcessServer``) and, when the
server has the ``--tls-*`` options, as a ``keystone-server`` process.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from certs import Pki, make_pki
from netsupport import InProcessServer, quiet_args, requires_flags

import keystone
from keystone_net import Client, connect
from keystone_net.serving.tls import client_context, server_context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), other_ca=True)


def handshake(
    server: ssl.SSLContext, client: ssl.SSLContext, server_hostname: str = "localhost"
) -> tuple[str | None, str | None, Any]:
    """A TLS handshake over a socket pair: ``(client ALPN, TLS version, server error)``.

    Raises the client's error if its side fails.
    """
    left, right = socket.socketpair()
    left.settimeout(10)
    right.settimeout(10)
    server_error: list[BaseException] = []

    def serve() -> None:
        try:
            with server.wrap_socket(right, server_side=True) as tls:
                tls.recv(1)  # the client's byte: the handshake is over on both sides
                tls.sendall(b"k")
        except (OSError, ssl.SSLError) as exc:
            server_error.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with client.wrap_socket(left, server_hostname=server_hostname) as tls:
            tls.sendall(b"k")
            tls.recv(1)
            alpn, version = tls.selected_alpn_protocol(), tls.version()
    finally:
        thread.join(10)
        right.close()
    return alpn, version, server_error[0] if server_error else None


# --------------------------------------------------------------------------
# The contexts
# --------------------------------------------------------------------------


class TestContexts:
    def test_server_and_client_agree_on_h2_over_tls12_or_later(self, pki: Pki) -> None:
        server = server_context(pki.server_cert, pki.server_key)
        client = client_context(pki.ca)
        alpn, version, error = handshake(server, client)
        assert error is None
        assert alpn == "h2"
        assert version in ("TLSv1.2", "TLSv1.3")
        assert server.minimum_version >= ssl.TLSVersion.TLSv1_2
        assert client.minimum_version >= ssl.TLSVersion.TLSv1_2
        assert server.options & ssl.OP_NO_COMPRESSION

    def test_the_client_checks_the_server_certificate_and_host_name(self, pki: Pki) -> None:
        client = client_context(pki.ca)
        assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname
        server = server_context(pki.server_cert, pki.server_key)
        assert handshake(server, client, "127.0.0.1")[0] == "h2"  # an IP SAN
        with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
            handshake(server, client, "db.example.com")

    def test_by_default_the_client_trusts_the_system_cas_only(self, pki: Pki) -> None:
        server = server_context(pki.server_cert, pki.server_key)
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(server, client_context())
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(server, client_context(pki.other_ca))

    def test_without_a_client_ca_no_client_certificate_is_asked(self, pki: Pki) -> None:
        server = server_context(pki.server_cert, pki.server_key)
        assert server.verify_mode == ssl.CERT_NONE
        client = client_context(pki.ca, pki.client_cert, pki.client_key)
        assert handshake(server, client)[2] is None

    def test_with_a_client_ca_a_signed_client_certificate_is_required(self, pki: Pki) -> None:
        server = server_context(pki.server_cert, pki.server_key, pki.ca)
        assert server.verify_mode == ssl.CERT_REQUIRED
        signed = client_context(pki.ca, pki.client_cert, pki.client_key)
        assert handshake(server, signed) == ("h2", handshake(server, signed)[1], None)
        for client in (
            client_context(pki.ca),  # no certificate
            client_context(pki.ca, pki.other_client_cert, pki.other_client_key),  # other CA
        ):
            try:
                _, _, error = handshake(server, client)
            except (OSError, ssl.SSLError):
                continue  # TLS 1.2: the client sees the refusal at once
            assert isinstance(error, ssl.SSLError)  # TLS 1.3: the server refuses after

    def test_a_missing_file_is_named(self, pki: Pki, tmp_path: Path) -> None:
        missing = tmp_path / "nope.pem"
        with pytest.raises(FileNotFoundError, match="nope.pem"):
            server_context(missing, pki.server_key)
        with pytest.raises(FileNotFoundError, match="nope.pem"):
            server_context(pki.server_cert, pki.server_key, missing)
        with pytest.raises(FileNotFoundError, match="nope.pem"):
            client_context(missing)
        with pytest.raises(FileNotFoundError, match="nope.pem"):
            client_context(pki.ca, pki.client_cert, missing)

    def test_a_file_that_is_not_pem_is_named(self, pki: Pki, tmp_path: Path) -> None:
        junk = tmp_path / "junk.pem"
        junk.write_text("not a certificate\n")
        with pytest.raises(ssl.SSLError, match="junk.pem"):
            server_context(junk, pki.server_key)
        with pytest.raises(ssl.SSLError, match="junk.pem"):
            client_context(junk)
        with pytest.raises(ssl.SSLError, match="server.pem"):  # key of another certificate
            server_context(pki.server_cert, pki.client_key)
        assert issubclass(ssl.SSLError, OSError)  # the server's CLI reports OSErrors

    def test_an_encrypted_key_fails_instead_of_prompting(self, pki: Pki, tmp_path: Path) -> None:
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(pki.server_key.read_bytes(), None)
        locked = tmp_path / "locked.key"
        locked.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            )
        )
        with pytest.raises(ssl.SSLError, match="unencrypted"):
            server_context(pki.server_cert, locked)

    def test_a_key_without_its_certificate_is_refused(self, pki: Pki) -> None:
        with pytest.raises(ValueError, match="cert_file"):
            client_context(pki.ca, key_file=pki.client_key)


# --------------------------------------------------------------------------
# Clients over TLS (the service in this process)
# --------------------------------------------------------------------------


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


class TestClientOverTls:
    def test_round_trip(self, pki: Pki, tmp_path: Path) -> None:
        async def main() -> None:
            tls = server_context(pki.server_cert, pki.server_key)
            async with InProcessServer(tmp_path / "db", ssl=tls) as server:
                url = f"https://127.0.0.1:{server.port}"
                async with Client(url, ca_file=pki.ca, timeout=10) as db:
                    await db.put({"pk": "u", "sk": "1", "name": "Ada"})
                    await db.batch_write(puts=[{"pk": "u", "sk": str(i)} for i in range(2, 5)])
                    assert await db.get("u", "1") == {"pk": "u", "sk": "1", "name": "Ada"}
                    assert (await db.query("u")).count == 4
                    assert [i["sk"] async for i in db.scan_all()] == ["1", "2", "3", "4"]
                    with pytest.raises(keystone.ValidationError):
                        await db.update("u", "1", update="SET")
                    assert "https://127.0.0.1" in repr(db)

        run(main())

    def test_localhost_is_a_name_of_the_certificate(self, pki: Pki, tmp_path: Path) -> None:
        async def main() -> None:
            tls = server_context(pki.server_cert, pki.server_key)
            async with (
                InProcessServer(tmp_path / "db", ssl=tls) as server,
                Client(f"https://localhost:{server.port}", ca_file=pki.ca) as db,
            ):
                assert await db.get("nothing") is None

        run(main())

    def test_an_untrusted_server_is_unavailable_at_once(self, pki: Pki, tmp_path: Path) -> None:
        async def main() -> None:
            tls = server_context(pki.server_cert, pki.server_key)
            async with InProcessServer(tmp_path / "db", ssl=tls) as server:
                url = f"https://127.0.0.1:{server.port}"
                async with Client(url, ca_file=pki.other_ca, retries=50, timeout=30) as db:
                    started = time.monotonic()
                    with pytest.raises(keystone.Unavailable, match="certificate"):
                        await db.get("a")
                    with pytest.raises(keystone.Unavailable, match="certificate"):
                        await db.scan()
                    assert time.monotonic() - started < 5  # not retried 50 times

        run(main())

    def test_tls_to_a_plaintext_server_says_so(self, tmp_path: Path) -> None:
        async def main() -> None:
            async with (
                InProcessServer(tmp_path / "db") as server,
                Client(f"https://127.0.0.1:{server.port}", retries=50) as db,
            ):
                started = time.monotonic()
                with pytest.raises(keystone.Unavailable, match="TLS"):
                    await db.get("a")
                assert time.monotonic() - started < 5

        run(main())

    def test_plaintext_to_a_tls_server_is_unavailable(self, pki: Pki, tmp_path: Path) -> None:
        async def main() -> None:
            tls = server_context(pki.server_cert, pki.server_key)
            async with (
                InProcessServer(tmp_path / "db", ssl=tls) as server,
                Client(f"127.0.0.1:{server.port}", retries=1, timeout=10) as db,
            ):
                with pytest.raises(keystone.Unavailable):
                    await db.get("a")

        run(main())

    def test_a_context_of_your_own(self, pki: Pki, tmp_path: Path) -> None:
        async def main() -> None:
            tls = server_context(pki.server_cert, pki.server_key)
            async with InProcessServer(tmp_path / "db", ssl=tls) as server:
                ctx = client_context(pki.ca)
                url = f"https://127.0.0.1:{server.port}"
                async with Client(url, ssl_context=ctx) as db:
                    await db.put({"pk": "mine"})
                    assert await db.get("mine") == {"pk": "mine"}

        run(main())


class TestMutualTls:
    @staticmethod
    async def call(pki: Pki, port: int, **tls: Any) -> Any:
        async with Client(f"https://127.0.0.1:{port}", ca_file=pki.ca, timeout=10, **tls) as db:
            await db.put({"pk": "m"})
            return await db.get("m")

    def test_a_client_certificate_from_the_ca_is_accepted(self, pki: Pki, tmp_path: Path) -> None:
        async def main() -> None:
            tls = server_context(pki.server_cert, pki.server_key, pki.ca)
            async with InProcessServer(tmp_path / "db", ssl=tls) as server:
                got = await self.call(
                    pki, server.port, cert_file=pki.client_cert, key_file=pki.client_key
                )
                assert got == {"pk": "m"}

        run(main())

    @pytest.mark.parametrize("version", ["TLSv1_3", "TLSv1_2"])
    @pytest.mark.parametrize("which", ["none", "other CA"])
    def test_other_clients_are_refused(
        self, pki: Pki, tmp_path: Path, which: str, version: str
    ) -> None:
        creds: dict[str, Any] = (
            {}
            if which == "none"
            else {"cert_file": pki.other_client_cert, "key_file": pki.other_client_key}
        )

        async def main() -> None:
            tls = server_context(pki.server_cert, pki.server_key, pki.ca)
            tls.maximum_version = getattr(ssl.TLSVersion, version)
            async with InProcessServer(tmp_path / "db", ssl=tls) as server:
                with pytest.raises(keystone.Unavailable, match="cert_file"):
                    await self.call(pki, server.port, retries=1, **creds)
                assert len(server.db.scan().items) == 0  # the put never got in

        run(main())


# --------------------------------------------------------------------------
# The server process with --tls-cert/--tls-key/--tls-client-ca
# --------------------------------------------------------------------------


@requires_flags("--tls-cert", "--tls-key")
def test_server_process_over_tls(pki: Pki, start_server: Any) -> None:
    server = start_server(
        None,
        0,
        "--tls-cert",
        str(pki.server_cert),
        "--tls-key",
        str(pki.server_key),
        *quiet_args(),
    )
    with connect(f"https://127.0.0.1:{server.port}", ca_file=pki.ca, timeout=20) as db:
        db.put({"pk": "tls", "n": 1})
        assert db.get("tls") == {"pk": "tls", "n": 1}
        assert db.execute("SELECT * FROM t WHERE pk = 'tls'").count == 1
    with (
        connect(f"127.0.0.1:{server.port}", timeout=5, retries=0) as plain,
        pytest.raises(keystone.Unavailable),
    ):
        plain.get("tls")


@requires_flags("--tls-cert", "--tls-key", "--tls-client-ca")
def test_server_process_with_mutual_tls(pki: Pki, start_server: Any) -> None:
    server = start_server(
        None,
        0,
        "--tls-cert",
        str(pki.server_cert),
        "--tls-key",
        str(pki.server_key),
        "--tls-client-ca",
        str(pki.ca),
        *quiet_args(),
    )
    url = f"https://127.0.0.1:{server.port}"
    with connect(
        url, ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key, timeout=20
    ) as db:
        db.put({"pk": "mtls"})
        assert db.get("mtls") == {"pk": "mtls"}
    for creds in ({}, {"cert_file": pki.other_client_cert, "key_file": pki.other_client_key}):
        with connect(url, ca_file=pki.ca, timeout=10, retries=1, **creds) as stranger:
            with pytest.raises(keystone.Unavailable):
                stranger.get("mtls")
            with pytest.raises(keystone.Unavailable):
                stranger.put({"pk": "intruder"})
    with connect(
        url, ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key, timeout=20
    ) as db:
        assert db.get("intruder") is None
