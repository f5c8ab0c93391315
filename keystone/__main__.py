"""``python -m keystone``: the ``keystone`` command line (see :mod:`keystone.cli`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
