"""Shared fixtures.

``store`` is the behavioural fixture: every test that takes it runs against
a local ``keystone.Database`` and (once ``keystone_net`` is available)
against the sync client talking to a real server process on loopback, so
every local behaviour is proven remote too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import keystone

STORE_KINDS = ["local"]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[keystone.Database]:
    """A fresh database file in a temporary directory."""
    database = keystone.Database.open(tmp_path / "test.keystone")
    yield database
    database.close()


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[keystone.Store]:
    """A fresh, empty store: local database or remote client."""
    if request.param == "local":
        database = keystone.Database.open(tmp_path / "store.keystone")
        yield database
        database.close()
    else:  # pragma: no cover - filled in by the network layer
        raise AssertionError(request.param)
