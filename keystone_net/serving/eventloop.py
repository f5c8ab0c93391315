"""Which event loop a server process runs on: asyncio's own, or uvloop's.

uvloop (libuv's loop, a C extension with no Windows build) is the optional
extra ``keystonedb[uvloop]``. ``KEYSTONE_EVENT_LOOP`` chooses: ``auto`` (the
default: uvloop when it is installed, else asyncio), ``uvloop`` (an error if
it is missing) or ``asyncio``. :func:`run` runs a coroutine to its end on
the chosen loop, as ``asyncio.run`` does; :func:`loop_name` says which one
it would be. docs/performance.md has what uvloop measured here.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final, TypeVar

__all__ = ["ENV", "LOOPS", "LoopError", "loop_name", "run"]

#: The environment variable that chooses the loop.
ENV: Final = "KEYSTONE_EVENT_LOOP"
LOOPS: Final = ("auto", "uvloop", "asyncio")

T = TypeVar("T")


class LoopError(ValueError):
    """``KEYSTONE_EVENT_LOOP`` names no loop, or one that is not installed."""


def loop_name(environ: Mapping[str, str] | None = None) -> str:
    """``"uvloop"`` or ``"asyncio"``: the loop :func:`run` uses under ``environ``.

    Raises :class:`LoopError` for a value it does not know or a uvloop it cannot find.
    """
    env = os.environ if environ is None else environ
    wanted = env.get(ENV, "auto").strip().lower() or "auto"
    if wanted not in LOOPS:
        raise LoopError(f"{ENV} must be one of {', '.join(LOOPS)}, got {wanted!r}")
    if wanted == "auto":
        return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    if wanted == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise LoopError(
            f"{ENV}=uvloop, but uvloop is not installed (pip install 'keystonedb[uvloop]')"
        )
    return wanted


def _factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    return None


def run(main: Coroutine[Any, Any, T], environ: Mapping[str, str] | None = None) -> T:
    """Run ``main`` to its end on a new loop of the chosen kind (like ``asyncio.run``)."""
    with asyncio.Runner(loop_factory=_factory(loop_name(environ))) as runner:
        return runner.run(main)
