"""The bearer token: sent on every call, refused tokens raise ``AuthenticationError``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from certs import make_pki
from grpclib.const import Status
from netsupport import InProcessServer, quiet_args, requires_flags

import keystone
from keystone_net import AuthenticationError, Client, connect
from keystone_net.grpc.convert import exception_for, status_for
from keystone_net.serving.tls import server_context

TOKEN = "s3cret-token.with~chars+/="


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_authentication_error_is_a_keystone_and_a_permission_error() -> None:
    assert issubclass(AuthenticationError, keystone.KeystoneError)
    assert issubclass(AuthenticationError, PermissionError)
    assert type(exception_for(Status.UNAUTHENTICATED, "no")) is AuthenticationError
    assert status_for(AuthenticationError("bad token"))[:2] == (
        Status.UNAUTHENTICATED,
        "bad token",
    )


@pytest.mark.parametrize("token", ["", "two words", "line\nbreak", "tab\t", "caf\u00e9", 42])
def test_a_token_that_cannot_be_a_header_is_refused_at_once(token: Any) -> None:
    with pytest.raises(ValueError, match="auth_token"):
        Client("127.0.0.1:1", auth_token=token)
    with pytest.raises(ValueError, match="auth_token"):
        connect("127.0.0.1:1", auth_token=token)


class TestTokenCheckingService:
    """The real service behind a token check in this process."""

    def test_the_right_token_goes_with_every_call(self, tmp_path: Path) -> None:
        async def main() -> None:
            async with InProcessServer(tmp_path / "db", token=TOKEN) as server:
                async with Client(f"127.0.0.1:{server.port}", auth_token=TOKEN) as db:
                    await db.put({"pk": "a", "sk": "1"})
                    assert await db.get("a", "1") == {"pk": "a", "sk": "1"}
                    assert (await db.query("a")).count == 1
                    assert (await db.scan()).count == 1  # a server stream
                    assert await db.batch_get([("a", "1")]) == [{"pk": "a", "sk": "1"}]
                    await db.update("a", "1", update="SET n = :n", values={":n": 1})
                    await db.transact_write([keystone.Delete("a", "1")])
                    assert (await db.execute("SELECT * FROM t")).count == 0
                assert server.seen_tokens == [f"Bearer {TOKEN}"] * 8

        run(main())

    @pytest.mark.parametrize("token", [None, "wrong"])
    def test_a_missing_or_wrong_token_is_an_authentication_error(
        self, tmp_path: Path, token: str | None
    ) -> None:
        async def main() -> None:
            async with InProcessServer(tmp_path / "db", token=TOKEN) as server:
                async with Client(f"127.0.0.1:{server.port}", auth_token=token) as db:
                    with pytest.raises(AuthenticationError, match="bearer token"):
                        await db.get("a")
                    with pytest.raises(AuthenticationError):
                        await db.put({"pk": "a"})
                    with pytest.raises(AuthenticationError):
                        await db.scan()
                expected = None if token is None else f"Bearer {token}"
                assert server.seen_tokens == [expected] * 3  # never retried
                assert server.db.get("a") is None

        run(main())

    def test_the_token_travels_over_tls_too(self, tmp_path: Path) -> None:
        pki = make_pki(tmp_path / "pki")

        async def main() -> None:
            tls = server_context(pki.server_cert, pki.server_key)
            async with InProcessServer(tmp_path / "db", ssl=tls, token=TOKEN) as server:
                url = f"https://127.0.0.1:{server.port}"
                async with Client(url, ca_file=pki.ca, auth_token=TOKEN) as db:
                    await db.put({"pk": "secure"})
                    assert await db.get("secure") == {"pk": "secure"}

        run(main())


@requires_flags("--auth-token")
def test_server_process_checks_the_token(start_server: Any) -> None:
    server = start_server(None, 0, "--auth-token", TOKEN, *quiet_args())
    with connect(server.url, auth_token=TOKEN, timeout=20) as db:
        db.put({"pk": "mine"})
        assert db.get("mine") == {"pk": "mine"}
        assert [i["pk"] for i in db.scan_all()] == ["mine"]
    for token in (None, "wrong", TOKEN + "x"):
        with connect(server.url, auth_token=token, timeout=20) as other:
            with pytest.raises(AuthenticationError):
                other.get("mine")
            with pytest.raises(AuthenticationError):
                other.put({"pk": "theirs"})
            with pytest.raises(AuthenticationError):
                other.scan()
    with connect(server.url, auth_token=TOKEN, timeout=20) as db:
        assert db.get("theirs") is None
