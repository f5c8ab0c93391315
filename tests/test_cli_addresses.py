"""What the CLI's PATH names, and its errors on bad values (issue 17, points 2 and 3).

``host:port``, ``localhost:PORT``, ``grpc://``, ``grpcs://`` and
``http(s)://`` are servers, ``--endpoint`` names one explicitly, and a file
whose name looks like an address is ``./NAME``. Run as the user does: the
``keystone`` command in a subprocess against a real server process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import keystone
from keystone.cli.remote import AddressError, classify
from tests.conftest import ServerProcess


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keystone", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.fixture
def server(start_server: Callable[..., ServerProcess], tmp_path: Path) -> ServerProcess:
    return start_server(tmp_path / "served.keystone")


def served_items(server: ServerProcess) -> list[dict[str, object]]:
    import keystone_net

    with keystone_net.connect(server.url) as client:
        return list(client.scan_all())


@pytest.mark.parametrize("form", ["{host}:{port}", "localhost:{port}", "grpc://{host}:{port}"])
def test_a_server_address_puts_on_the_server_and_creates_no_file(
    server: ServerProcess, tmp_path: Path, form: str
) -> None:
    address = form.format(host="127.0.0.1", port=server.port)
    work = tmp_path / "work"
    work.mkdir()
    done = cli("put", address, '{"pk": "a", "sk": "b", "n": 1}', cwd=work)
    assert done.returncode == 0, done.stderr
    assert list(work.iterdir()) == []
    assert served_items(server) == [{"pk": "a", "sk": "b", "n": 1}]
    got = cli("get", address, "a", "b", cwd=work)
    assert got.returncode == 0, got.stderr
    assert got.stdout == '{"pk":"a","sk":"b","n":1}\n'


def test_an_http_url_is_the_server_too(server: ServerProcess) -> None:
    done = cli("put", f"http://127.0.0.1:{server.port}", '{"pk": "h", "sk": "t"}')
    assert done.returncode == 0, done.stderr
    assert served_items(server) == [{"pk": "h", "sk": "t"}]


@pytest.mark.parametrize("where", ["before", "after", "equals"])
def test_endpoint_names_the_server_instead_of_path(server: ServerProcess, where: str) -> None:
    put = ["put", '{"pk": "e", "sk": "p"}']
    flag = ["--endpoint", server.url]
    args = {
        "before": [*flag, *put],
        "after": [*put, *flag],
        "equals": [*put, f"--endpoint={server.url}"],
    }[where]
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    got = cli("--endpoint", server.url, "get", "e", "p")
    assert got.returncode == 0, got.stderr
    assert got.stdout == '{"pk":"e","sk":"p"}\n'


def test_endpoint_refuses_a_file_name(tmp_path: Path) -> None:
    done = cli("--endpoint", tmp_path / "app.keystone", "get", "a")
    assert done.returncode == 2
    assert "--endpoint takes a server address" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_file_named_like_an_address_is_written_with_a_directory(tmp_path: Path) -> None:
    done = cli("put", "./127.0.0.1:50051", '{"pk": "f", "sk": "g"}', cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with keystone.Database.open(tmp_path / "127.0.0.1:50051", read_only=True) as db:
        assert db.get("f", "g") == {"pk": "f", "sk": "g"}


def test_a_file_verb_refuses_a_server_address_and_says_how_to_name_a_file(
    tmp_path: Path,
) -> None:
    done = cli("stats", "127.0.0.1:50051", cwd=tmp_path)
    assert done.returncode == 2
    assert "stats needs a database file, not a server" in done.stderr
    assert "./127.0.0.1:50051" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_scheme_is_a_usage_error(tmp_path: Path) -> None:
    done = cli("get", "ftp://127.0.0.1:50051", "a", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown scheme ftp://" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_server_is_a_clean_error(tmp_path: Path) -> None:
    from keystone.testing import free_port

    done = cli("get", f"127.0.0.1:{free_port()}", "a", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("keystone: Unavailable: ")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "kind", "tls"),
    [
        ("127.0.0.1:50051", "grpc", False),
        ("localhost:50051", "grpc", False),
        ("db.example.com:443", "grpc", False),
        ("[::1]:50051", "grpc", False),
        ("grpc://db:50051", "grpc", False),
        ("grpcs://db:50051", "grpc", True),
        ("http://db:50051", "grpc", False),
        ("https://db:50051", "grpc", True),
        ("app.db", "file", False),
        ("./127.0.0.1:50051", "file", False),
        ("data/app:1.db", "file", False),
        ("/var/lib/keystone/keystone.db", "file", False),
    ],
)
def test_the_one_rule_of_what_a_path_names(text: str, kind: str, tls: bool) -> None:
    target = classify(text)
    assert (target.kind, target.tls) == (kind, tls)


def test_the_rule_refuses_what_is_neither() -> None:
    for text in ("ftp://host:1", "host:70000", "grpc://"):
        with pytest.raises(AddressError):
            classify(text)


# --------------------------------------------------------------------------
# Never a traceback: values the library cannot take
# --------------------------------------------------------------------------


BAD_VALUES = {
    "a huge exponent": '{"pk": "a", "sk": "b", "n": 1e1000000000}',
    "a lone surrogate": '{"pk": "\\udcff", "sk": "b"}',
    "a lone surrogate in a value": '{"pk": "a", "sk": "b", "s": "x\\ud800y"}',
    "200,000 digits": '{"pk": "a", "sk": "b", "n": 1' + "0" * 200_000 + "}",
}


@pytest.mark.parametrize("item", list(BAD_VALUES.values()), ids=list(BAD_VALUES))
def test_put_of_a_value_the_library_refuses_is_one_short_line(tmp_path: Path, item: str) -> None:
    path = tmp_path / "app.keystone"
    keystone.Database.open(path).close()
    done = subprocess.run(
        [sys.executable, "-m", "keystone", "put", str(path), "-"],
        input=item,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("keystone: ValidationError: ")
    assert done.stderr.count("\n") == 1
    assert len(done.stderr) < 600
    assert "Traceback" not in done.stderr
    with keystone.Database.open(path, read_only=True) as db:
        assert db.scan().items == []


def test_put_of_a_lone_surrogate_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    done = cli("put", tmp_path / "app.keystone", '{"pk": "\\udcff"}')
    assert done.returncode == 1
    assert done.stderr.startswith("keystone: ValidationError: ")
    assert "Traceback" not in done.stderr
