"""Packaging metadata and parallel test runs (issue 17, point 7)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tests" / "example_app"


def test_the_license_is_an_spdx_string_with_a_setuptools_that_reads_it() -> None:
    """The table form (``license = {text = ...}``) makes setuptools print a deprecation banner."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.search(r">=\s*(\d+)", setuptools)
    assert minimum is not None and int(minimum[1]) >= 77, setuptools


def test_the_example_app_passes_under_xdist_with_two_workers() -> None:
    pytest.importorskip("xdist")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "-v"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"\b20 passed\b", output), output
    workers = set(re.findall(r"\[(gw\d+)\] \[[ \d]+%\] PASSED", output))
    assert workers == {"gw0", "gw1"}, output  # both workers ran tests, each with its own server
