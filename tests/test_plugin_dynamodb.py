"""The ``keystone_dynamodb`` fixture: an unchanged boto3 application passes against the endpoint,
serially and under ``pytest -n 2`` (one endpoint per xdist worker, each test with its own set of
tables).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent / "example_dynamodb_app"


def run(*args: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


def passed(output: str) -> int:
    found = re.search(r"(\d+) passed", output)
    return int(found[1]) if found else 0


def test_the_boto3_app_passes_against_the_fixture() -> None:
    code, output = run()
    assert code == 0, output
    assert passed(output) == 12
    assert "failed" not in output


def test_it_passes_under_xdist_with_two_workers() -> None:
    if importlib.util.find_spec("xdist") is None:
        pytest.skip("pytest-xdist is not installed")
    code, output = run("-n", "2")
    assert code == 0, output
    assert passed(output) == 12
