"""A fresh-clone walk-through: the examples of README.md and docs/*.md run as written.

Every fenced ``python`` and ``sh`` block is found in the Markdown. The
blocks of one document run in order in one empty temporary directory, so a
later block can use the file an earlier one made. An HTML comment on the
line before a fence says how a block runs:

``<!-- example: skip (REASON) -->``
    never run; the reason is required (a long-running server, a machine we
    do not have, a fragment of a larger program).
``<!-- example: run -->``
    an ``sh`` block that runs (``sh`` blocks run only when marked so, since
    most start servers or need other machines; an unmarked one fails here).
``<!-- example: needs-server -->``
    runs after a real ``python -m keystone_net serve`` has started for the
    document; ``127.0.0.1:50051`` in the block is replaced by its address.
``<!-- example: file NAME -->``
    a ``python`` block saved as NAME in the directory, not run.
``<!-- example: pytest NAME -->``
    a ``python`` block saved as NAME and run with ``python -m pytest NAME``.

Unmarked ``python`` blocks run with ``python -c``. The README's first
example runs twice, as a newcomer who runs it again would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from keystone.testing import KeystoneServer, start_server

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TIMEOUT = 120
_FENCE = re.compile(r"^```(?P<lang>python|sh)\s*$")
_MARKER = re.compile(r"^<!--\s*example:\s*(?P<what>.*?)\s*-->\s*$")
_KINDS = ("skip", "run", "needs-server", "file", "pytest")


@dataclass(frozen=True)
class Example:
    document: Path
    line: int
    lang: str
    code: str
    #: The marker's kind (``""``: none) and its argument.
    kind: str
    arg: str

    def __str__(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line} ({self.lang})"


def examples(document: Path) -> list[Example]:
    """Every fenced python and sh block of ``document``, with its marker."""
    lines = document.read_text(encoding="utf-8").splitlines()
    found: list[Example] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        marker = _MARKER.match(lines[i - 1]) if i > 0 else None
        kind, arg = "", ""
        if marker is not None:
            kind, _, arg = marker["what"].partition(" ")
        found.append(
            Example(
                document, i + 1, fence["lang"], "\n".join(lines[i + 1 : end]), kind, arg.strip()
            )
        )
        i = end + 1
    return found


ALL = [example for document in DOCUMENTS for example in examples(document)]


@pytest.mark.parametrize("example", ALL, ids=str)
def test_every_example_says_how_it_runs(example: Example) -> None:
    assert example.kind in ("", *_KINDS), f"{example}: unknown marker {example.kind!r}"
    if example.kind == "skip":
        assert re.fullmatch(r"\(.+\)", example.arg), f"{example}: a skip needs a (reason)"
    if example.lang == "sh":
        assert example.kind in ("skip", "run", "needs-server"), (
            f"{example}: mark an sh block <!-- example: run --> or <!-- example: skip (why) -->"
        )
    if example.kind in ("file", "pytest"):
        assert example.lang == "python" and example.arg, f"{example}: {example.kind} needs a NAME"


def test_the_walk_through_covers_every_document_with_examples() -> None:
    with_examples = {e.document.name for e in ALL}
    assert {"README.md", "cli.md", "partiql.md", "testing.md"} <= with_examples
    assert sum(e.kind != "skip" for e in ALL) >= 8  # every one that needs no other machine


class Walk:
    """One document's directory, and the server its needs-server examples talk to."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server: KeystoneServer | None = None
        bin_dir = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
        self.env.pop("KEYSTONE_AUTH_TOKEN", None)

    def address(self) -> str:
        if self.server is None:
            served = self.directory.parent / "served"
            served.mkdir(exist_ok=True)
            self.server = start_server(served / "server.keystone", args=["--metrics-port", "0"])
        return f"127.0.0.1:{self.server.port}"

    def run(self, example: Example) -> None:
        code = example.code
        if example.kind == "needs-server":
            code = code.replace("127.0.0.1:50051", self.address())
        if example.kind == "file":
            (self.directory / example.arg).write_text(code + "\n", encoding="utf-8")
            return
        if example.kind == "pytest":
            (self.directory / example.arg).write_text(code + "\n", encoding="utf-8")
            argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", example.arg]
        elif example.lang == "python":
            argv = [sys.executable, "-c", code]
        else:
            argv = ["bash", "-euo", "pipefail", "-c", code]
        try:
            done = subprocess.run(
                argv,
                cwd=self.directory,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{example} did not finish within {TIMEOUT}s")
        assert done.returncode == 0, f"{example} failed:\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, f"{example}:\n{done.stderr}"

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.mark.parametrize(
    "document",
    [d for d in DOCUMENTS if any(e.kind != "skip" for e in examples(d))],
    ids=lambda d: d.name,
)
def test_the_examples_of_a_document_run_in_a_fresh_directory(
    document: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    walk = Walk(work)
    try:
        runnable = [e for e in examples(document) if e.kind != "skip"]
        for n, example in enumerate(runnable):
            walk.run(example)
            if document.name == "README.md" and n == 0:
                walk.run(example)  # the first example, run again, works again
    finally:
        walk.close()
