"""The example project (tests/example_app) passes using only the installed plugin.

It runs in a subprocess from its own directory, whose pytest.ini makes it
the rootdir: the repository's tests/conftest.py is never loaded, so the
fixtures can only come from the ``pytest11`` entry point.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from keystone.testing import _server_available

EXAMPLE = Path(__file__).parent / "example_app"


def test_the_example_app_passes_with_only_the_installed_plugin() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "--trace-config"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"rootdir: {EXAMPLE}" in output
    assert "keystone            : " in output  # the plugin, from its entry point
    assert "conftest" not in output  # tests/conftest.py (with `db`, `store`) never loaded
    counts = dict(
        (kind, int(n)) for n, kind in re.findall(r"(\d+) (passed|skipped|failed|error)", output)
    )
    assert counts.get("failed", 0) == counts.get("error", 0) == 0
    if _server_available() is None and "keystone_net.connect is not available" not in output:
        assert counts == {"passed": 20}, output  # local and remote variants all ran
    else:
        assert counts["passed"] >= 11, output


def test_the_example_app_has_no_conftest() -> None:
    assert not list(EXAMPLE.rglob("conftest.py"))
    assert (EXAMPLE / "pytest.ini").exists()
