"""A small progress bar on stderr for long imports and exports.

It draws only when its stream is a terminal, redraws at most ten times a
second, and costs one counter comparison per call otherwise, so callers can
report every item.
"""

from __future__ import annotations

import time
from typing import Final, TextIO

_REDRAW_EVERY: Final = 0.1  # seconds
_WIDTH: Final = 24


class Progress:
    """``update(done, items)`` as work proceeds, ``close()`` at the end.

    ``total`` is in the same unit as ``done`` (bytes read for an import,
    items for an export); ``None`` when unknown (a bar without a percentage).
    """

    def __init__(self, label: str, stream: TextIO, *, total: int | None, enabled: bool) -> None:
        self.label = label
        self.stream = stream
        self.total = total if total else None
        self.enabled = enabled
        self.started = time.monotonic()
        self._next = self.started + _REDRAW_EVERY
        self._drawn = False
        self._check = 1024 if enabled else 1 << 62  # calls between clock reads
        self._calls = 0

    def update(self, done: int, items: int) -> None:
        self._calls += 1
        if self._calls < self._check:
            return
        self._calls = 0
        now = time.monotonic()
        if now >= self._next:
            self._next = now + _REDRAW_EVERY
            self._draw(done, items, now)

    def _draw(self, done: int, items: int, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = items / elapsed
        text = f"{self.label} "
        if self.total:
            fraction = min(done / self.total, 1.0)
            filled = int(fraction * _WIDTH)
            text += f"{fraction:4.0%} [{'#' * filled}{'.' * (_WIDTH - filled)}] "
            if 0 < fraction < 1:
                text += f"{items:,} items, {rate:,.0f}/s, {elapsed / fraction - elapsed:,.0f}s left"
            else:
                text += f"{items:,} items, {rate:,.0f}/s"
        else:
            text += f"{items:,} items, {rate:,.0f}/s"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self, done: int, items: int) -> None:
        """Draw the final state and end the line (only if anything was drawn)."""
        if self._drawn:
            self._draw(self.total or done, items, time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


__all__ = ["Progress"]
