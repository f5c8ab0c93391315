"""What the CLI prints: readable tables on a terminal, typed JSON Lines otherwise.

:class:`Output` is chosen once per command: ``--json`` or ``--output json``
forces JSON Lines, ``--output table`` (``-o table``) forces tables, and by
default a terminal gets tables while a pipe or a file gets JSON Lines (one
item per line, see :mod:`.jsonl`). (``--table NAME`` names the table a verb
acts on.)
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, TextIO

from ..types import format_number
from . import jsonl

#: Table cells longer than this are cut and end with an ellipsis.
MAX_CELL: Final = 60


class Output:
    """Writes items, single items and key/value mappings in one format."""

    def __init__(self, stream: TextIO, *, json: bool, key_attrs: Sequence[str] = ()) -> None:
        self.stream = stream
        self.json = json
        self.key_attrs = [k for k in key_attrs if k]

    def items(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Print items (a table, or one JSON line each); returns how many."""
        if self.json:
            count = 0
            write = self.stream.write
            for item in items:
                write(jsonl.dumps(item) + "\n")
                count += 1
            return count
        rows = list(items)
        if rows:
            columns = _columns(rows, self.key_attrs)
            table = [[cell(row[c]) if c in row else "" for c in columns] for row in rows]
            self._table(columns, table)
        noun = "item" if len(rows) == 1 else "items"
        self.stream.write(f"({len(rows)} {noun})\n")
        return len(rows)

    def item(self, item: Mapping[str, Any]) -> None:
        """Print one item: a JSON line, or an attribute/value table."""
        if self.json:
            self.stream.write(jsonl.dumps(item) + "\n")
            return
        names = _columns([item], self.key_attrs)
        self._table(["attribute", "value"], [[n, cell(item[n])] for n in names])

    def mapping(self, data: Mapping[str, Any]) -> None:
        """Print a flat mapping (``stats``): a JSON object, or a two-column table."""
        if self.json:
            try:
                text = jsonl.dumps(dict(data))
            except TypeError:  # a value typed JSON has no tag for: its str()
                text = json.dumps(dict(data), default=str, ensure_ascii=False)
            self.stream.write(text + "\n")
            return
        self._table(["name", "value"], [[str(k), cell(v)] for k, v in data.items()])

    def _table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [len(h) for h in header]
        for row in rows:
            for i, text in enumerate(row):
                widths[i] = max(widths[i], len(text))
        lines = [
            _row(header, widths),
            "  ".join("-" * w for w in widths),
            *(_row(row, widths) for row in rows),
        ]
        self.stream.write("\n".join(lines) + "\n")


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _columns(rows: Sequence[Mapping[str, Any]], key_attrs: Sequence[str]) -> list[str]:
    """Key attributes first, then every other attribute in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        for name in row:
            seen.setdefault(name, None)
    keys = [k for k in key_attrs if k in seen]
    return keys + [name for name in seen if name not in keys]


def cell(value: Any) -> str:
    """A value as one short line of text for a table."""
    if isinstance(value, str):
        text = value
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, Decimal)):
        text = format_number(value)
    elif isinstance(value, _dt.datetime):
        text = jsonl.format_timestamp(value)
    else:
        try:
            text = jsonl.dumps(value)
        except TypeError:
            text = str(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - 1] + "…"
    return text


__all__ = ["MAX_CELL", "Output", "cell"]
