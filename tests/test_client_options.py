"""The clients' options: URL forms, TLS options, timeouts and retries given wrong."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

import keystone_net
from keystone_net import Client, Retry, SyncClient, connect
from keystone_net.grpc.transport import DEFAULT_TIMEOUT, UNSET, parse_target


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://db.example", (True, "db.example", 443)),
        ("https://db.example:50051", (True, "db.example", 50051)),
        ("HTTPS://db.example:8443/", (True, "db.example", 8443)),
        ("https://[::1]:9443", (True, "::1", 9443)),
        ("http://db.example", (False, "db.example", 50051)),
        ("db.example:7000", (False, "db.example", 7000)),
        ("localhost", (False, "localhost", 50051)),
    ],
)
def test_https_urls_are_tls_and_the_others_plaintext(
    url: str, expected: tuple[bool, str, int]
) -> None:
    assert parse_target(url) == expected
    assert keystone_net.parse_url(url) == expected[1:]


@pytest.mark.parametrize("url", ["grpcs://h:1", "ftp://h", "https://h:0", "https://h:x"])
def test_other_schemes_and_bad_ports_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        Client(url)


@pytest.mark.parametrize("option", ["ca_file", "cert_file", "key_file", "ssl_context"])
@pytest.mark.parametrize("url", ["127.0.0.1:50051", "http://127.0.0.1:50051"])
def test_tls_options_need_an_https_url(option: str, url: str, tmp_path: Path) -> None:
    value: Any = tmp_path / "x.pem"
    if option == "ssl_context":
        import ssl

        value = ssl.create_default_context()
    with pytest.raises(ValueError, match=f"{option}.*https://"):
        Client(url, **{option: value})
    with pytest.raises(ValueError, match="https://"):
        connect(url, **{option: value})


def test_a_context_of_your_own_excludes_the_file_options(tmp_path: Path) -> None:
    import ssl

    with pytest.raises(ValueError, match="ssl_context or ca_file"):
        Client("https://h", ssl_context=ssl.create_default_context(), ca_file=tmp_path / "ca")


def test_a_missing_ca_file_is_reported_when_the_client_is_made(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pem"):
        connect("https://127.0.0.1:1", ca_file=tmp_path / "nope.pem")


def test_https_without_a_ca_file_uses_the_system_cas() -> None:
    client = Client("https://db.example")  # nothing is loaded lazily: this must not fail
    assert repr(client) == "<keystone_net.Client https://db.example:443 open>"


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "5", True])
def test_bad_timeouts_are_refused(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        Client("127.0.0.1:1", timeout=timeout)


@pytest.mark.parametrize("retries", [-1, "3", True, 2.5])
def test_bad_retries_are_refused(retries: Any) -> None:
    with pytest.raises(ValueError, match="retries"):
        Client("127.0.0.1:1", retries=retries)


def test_retries_as_a_number_or_a_policy() -> None:
    assert Client("h").retries == Retry()  # the default: 3 retries
    assert Client("h", retries=0).retries.attempts == 1
    assert Client("h", retries=None).retries.attempts == 1
    assert Client("h", retries=5).retries.attempts == 6
    policy = Retry(attempts=2, initial_backoff=1.0)
    assert Client("h", retries=policy).retries is policy
    assert Client("h").timeout == DEFAULT_TIMEOUT
    assert Client("h", timeout=None).timeout is None
    assert Client("h", timeout=float("inf")).timeout is None


def _options(func: Any) -> dict[str, Any]:
    params = inspect.signature(func).parameters
    return {
        name: (p.kind, p.default)
        for name, p in params.items()
        if name != "self" and p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def test_connect_sync_client_and_client_take_the_same_options() -> None:
    options = _options(Client.__init__)
    assert set(options) >= {
        "partition_key",
        "sort_key",
        "timeout",
        "retries",
        "ca_file",
        "cert_file",
        "key_file",
        "ssl_context",
        "auth_token",
    }
    assert _options(SyncClient.__init__) == options
    assert _options(connect) == options


_METHODS = [
    "get",
    "put",
    "delete",
    "update",
    "query",
    "scan",
    "batch_get",
    "batch_write",
    "transact_get",
    "transact_write",
    "execute",
]


@pytest.mark.parametrize("cls", [Client, SyncClient])
@pytest.mark.parametrize("method", _METHODS)
def test_every_call_takes_a_timeout(cls: type, method: str) -> None:
    param = inspect.signature(getattr(cls, method)).parameters["timeout"]
    assert param.kind is inspect.Parameter.KEYWORD_ONLY
    assert param.default is UNSET
