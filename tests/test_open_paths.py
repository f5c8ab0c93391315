"""Opening a path that cannot be a database, and opening read-only (issue 17, points 4 and 5).

Each bad path is a real one: a text file, a directory, a missing
directory, an empty file, a read-only bind mount, an immutable file. The
library, the CLI and the server refuse it with the same ``keystone`` error
naming the path and the cause, leave nothing behind (no ``-lock`` file, no
directory), and print no traceback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import keystone
from keystone import Corruption, NotFound, ReadOnly, ValidationError

TIMEOUT = 60


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keystone", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def serve(path: Path) -> subprocess.CompletedProcess[str]:
    """``python -m keystone_net serve --db-path PATH``, which must exit at once."""
    return subprocess.run(
        [sys.executable, "-m", "keystone_net", "serve", "--db-path", str(path)]
        + ["--port", "0", "--metrics-port", "0"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def make_db(path: Path) -> Path:
    with keystone.Database.open(path) as db:
        db.put({"pk": "user#1", "sk": "profile", "name": "Ada"})
    os.remove(f"{path}-lock")  # as a file copied to other media would be
    return path


# --------------------------------------------------------------------------
# Real bad places: a read-only mount and an immutable file
# --------------------------------------------------------------------------


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory holding a database, bind-mounted read-only (skips where mounts are not allowed)."""
    source = tmp_path / "source"
    source.mkdir()
    make_db(source / "app.keystone")
    mount = tmp_path / "ro"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a read-only file system")
    made = subprocess.run(["mount", "--bind", str(source), str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root): {made.stderr.decode().strip()}")
    try:
        remount = ["mount", "-o", "remount,ro,bind", str(mount)]
        made = subprocess.run(remount, capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"cannot remount read-only: {made.stderr.decode().strip()}")
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=TIMEOUT)


@pytest.fixture
def immutable_file(tmp_path: Path) -> Iterator[Path]:
    """A database file with the immutable attribute (skips where chattr is not available)."""
    path = make_db(tmp_path / "frozen.keystone")
    if shutil.which("chattr") is None:
        pytest.skip("no chattr command to make an immutable file")
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a file immutable here: {made.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, timeout=TIMEOUT)


# --------------------------------------------------------------------------
# The same refusal from the library, the CLI and the server
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class BadPath:
    make: Callable[[Path], Path]
    error: type[keystone.KeystoneError]
    cause: str


def _text_file(d: Path) -> Path:
    path = d / "notes.keystone"
    path.write_text("these are my notes, not a database\n" * 100)
    return path


def _directory(d: Path) -> Path:
    path = d / "folder.keystone"
    path.mkdir()
    return path


def _missing_directory(d: Path) -> Path:
    return d / "missing" / "dir" / "x.keystone"


def _empty_file(d: Path) -> Path:
    path = d / "empty.keystone"
    path.touch()
    return path


BAD_PATHS = {
    "not an LMDB file": BadPath(_text_file, Corruption, "is not a KeystoneDB database"),
    "a directory": BadPath(_directory, ValidationError, "is a directory, not a database file"),
    "a missing directory": BadPath(_missing_directory, NotFound, "does not exist"),
    "an empty file": BadPath(_empty_file, Corruption, "is an empty file"),
}


@pytest.fixture(params=list(BAD_PATHS))
def bad(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, BadPath]:
    case = BAD_PATHS[request.param]
    return case.make(tmp_path), case


def test_the_library_refuses_a_bad_path_naming_it_and_leaves_nothing(
    bad: tuple[Path, BadPath], tmp_path: Path
) -> None:
    path, case = bad
    before = listing(tmp_path)
    with pytest.raises(case.error) as info:
        keystone.Database.open(path)
    assert str(path) in str(info.value)
    assert case.cause in str(info.value)
    assert listing(tmp_path) == before


def test_the_library_refuses_a_bad_path_read_only_too(
    bad: tuple[Path, BadPath], tmp_path: Path
) -> None:
    path, case = bad
    before = listing(tmp_path)
    with pytest.raises(keystone.KeystoneError, match=str(path.name)):
        keystone.Database.open(path, read_only=True)
    assert listing(tmp_path) == before


@pytest.mark.parametrize("verb", [["put", '{"pk": "a", "sk": "b"}'], ["get", "a", "b"]])
def test_the_cli_gives_the_librarys_error_on_one_line(
    bad: tuple[Path, BadPath], tmp_path: Path, verb: list[str]
) -> None:
    path, case = bad
    before = listing(tmp_path)
    done = cli(verb[0], path, *verb[1:])
    assert done.returncode == 1
    assert done.stderr.startswith(f"keystone: {case.error.__name__}: ")
    assert str(path) in done.stderr and case.cause in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert listing(tmp_path) == before


def test_the_server_gives_the_librarys_error_and_exits(
    bad: tuple[Path, BadPath], tmp_path: Path
) -> None:
    path, case = bad
    before = listing(tmp_path)
    done = serve(path)
    assert done.returncode == 1
    assert f"cannot serve: {case.error.__name__}: " in done.stderr
    assert str(path) in done.stderr and case.cause in done.stderr
    assert "Traceback" not in done.stderr
    assert listing(tmp_path) == before


def test_the_server_creates_no_directory_for_its_database(tmp_path: Path) -> None:
    done = serve(tmp_path / "missing" / "x.keystone")
    assert done.returncode == 1
    assert "NotFound: cannot create" in done.stderr
    assert not (tmp_path / "missing").exists()


def test_a_new_file_in_an_existing_directory_is_still_created(tmp_path: Path) -> None:
    with keystone.Database.open(tmp_path / "new.keystone") as db:
        db.put({"pk": "a", "sk": "b"})
    with keystone.Database.open(tmp_path / "new.keystone", create=False) as db:
        assert db.get("a", "b") == {"pk": "a", "sk": "b"}


def test_a_missing_file_without_create_is_not_found_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no database at"):
        keystone.Database.open(tmp_path / "none.keystone", create=False)
    assert listing(tmp_path) == []


def test_a_read_only_file_system_refuses_writing_and_says_why(read_only_dir: Path) -> None:
    path = read_only_dir / "app.keystone"
    with pytest.raises(ReadOnly, match="read-only file system") as info:
        keystone.Database.open(path)
    assert str(path) in str(info.value)
    assert "read_only=True" in str(info.value)
    with pytest.raises(ReadOnly, match="read-only file system"):
        keystone.Database.open(read_only_dir / "new.keystone")
    done = cli("put", path, '{"pk": "a"}')
    assert done.returncode == 1
    assert done.stderr.startswith("keystone: ReadOnly: ") and "Traceback" not in done.stderr
    done = serve(path)
    assert done.returncode == 1 and "cannot serve: ReadOnly: " in done.stderr
    assert listing(read_only_dir) == ["app.keystone"]


def test_a_read_only_file_system_opens_for_reading(read_only_dir: Path) -> None:
    path = read_only_dir / "app.keystone"
    with keystone.Database.open(path, read_only=True) as db:
        assert db.get("user#1", "profile") == {"pk": "user#1", "sk": "profile", "name": "Ada"}
        with pytest.raises(ReadOnly):
            db.put({"pk": "b"})
    done = cli("get", path, "user#1", "profile")
    assert done.returncode == 0, done.stderr
    assert '"name":"Ada"' in done.stdout


def test_an_immutable_file_refuses_writing_and_opens_for_reading(immutable_file: Path) -> None:
    with pytest.raises(ReadOnly, match="immutable") as info:
        keystone.Database.open(immutable_file)
    assert str(immutable_file) in str(info.value)
    assert not Path(f"{immutable_file}-lock").exists()
    done = cli("put", immutable_file, '{"pk": "a"}')
    assert done.returncode == 1 and done.stderr.startswith("keystone: ReadOnly: ")
    with keystone.Database.open(immutable_file, read_only=True) as db:
        assert db.get("user#1", "profile") is not None
    done = cli("scan", immutable_file)
    assert done.returncode == 0, done.stderr
    assert "Ada" in done.stdout


# --------------------------------------------------------------------------
# read_only=True
# --------------------------------------------------------------------------


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return make_db(tmp_path / "app.keystone")


def test_read_only_reads_everything(path: Path) -> None:
    with keystone.Database.open(path, read_only=True) as db:
        assert db.get("user#1", "profile") == {"pk": "user#1", "sk": "profile", "name": "Ada"}
        assert [i["sk"] for i in db.query("user#1").items] == ["profile"]
        assert len(db.scan().items) == 1
        assert db.stats()["items"] == 1


@pytest.mark.parametrize(
    "write",
    [
        lambda db: db.put({"pk": "b", "sk": "c"}),
        lambda db: db.delete("user#1", "profile"),
        lambda db: db.update("user#1", "profile", "SET n = :n", values={":n": 1}),
        lambda db: db.batch_write(puts=[{"pk": "b", "sk": "c"}]),
        lambda db: db.transact_write([keystone.Put({"pk": "b", "sk": "c"})]),
        lambda db: db.execute("DELETE FROM t WHERE pk = 'user#1' AND sk = 'profile'"),
    ],
    ids=["put", "delete", "update", "batch_write", "transact_write", "partiql"],
)
def test_read_only_refuses_every_write_and_changes_nothing(
    path: Path, write: Callable[[keystone.Database], object]
) -> None:
    with keystone.Database.open(path, read_only=True) as db:
        with pytest.raises(ReadOnly, match="read-only") as info:
            write(db)
        assert str(path) in str(info.value)
    with keystone.Database.open(path) as db:
        assert db.scan().items == [{"pk": "user#1", "sk": "profile", "name": "Ada"}]


def test_read_only_never_creates_a_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        keystone.Database.open(tmp_path / "none.keystone", read_only=True)
    assert listing(tmp_path) == []


def test_read_only_refuses_a_schema_that_would_change_the_file(path: Path) -> None:
    adds_index = keystone.Schema(
        global_indexes=[keystone.GlobalIndex("by_name", partition_key="name")]
    )
    with pytest.raises(ValidationError, match="read-only"):
        keystone.Database.open(path, adds_index, read_only=True)


def test_a_file_is_open_in_one_mode_per_process(path: Path) -> None:
    with (
        keystone.Database.open(path, read_only=True),
        pytest.raises(ValidationError, match="already open read-only"),
    ):
        keystone.Database.open(path)


def test_the_cli_read_verbs_work_on_a_file_no_one_may_write(immutable_file: Path) -> None:
    """get, query, scan, export, backup and stats open read-only: they work on an immutable file."""
    dest = immutable_file.parent / "copy.keystone"
    for verb in (
        ["get", "user#1", "profile"],
        ["query", "user#1"],
        ["scan"],
        ["export"],
        ["stats"],
        ["backup", str(dest)],
    ):
        done = cli(verb[0], immutable_file, *verb[1:])
        assert done.returncode == 0, (verb, done.stderr)
    with keystone.Database.open(dest, read_only=True) as db:
        assert db.get("user#1", "profile") is not None


def test_the_cli_read_verbs_leave_the_file_unwritten(path: Path) -> None:
    before = path.stat().st_mtime_ns, path.read_bytes()
    for verb in (["get", "user#1", "profile"], ["query", "user#1"], ["scan"], ["stats"]):
        assert cli(verb[0], path, *verb[1:]).returncode == 0
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before


def test_an_empty_file_made_by_create_is_a_database(tmp_path: Path) -> None:
    """What create=True made is never an empty file: it opens again."""
    new = tmp_path / "new.keystone"
    keystone.Database.open(new).close()
    assert new.stat().st_size > 0
    with contextlib.closing(keystone.Database.open(new, read_only=True)) as db:
        assert db.scan().items == []
