"""ExecuteTransaction: PartiQL statements as one library transaction.

The library plans a PartiQL statement into calls of its own operations
(``get``, ``put``, ``update``, ``delete``; ``keystone.partiql.plans``: a plan
"never touches storage itself"). :class:`Recorder` offers those operations
and, instead of running them, keeps each call as what it is in a
transaction: a ``keystone.Put`` / ``Update`` / ``Delete`` part naming its
table, or a ``(table, key)`` read. The statements of one ExecuteTransaction
then become ONE ``transact_write`` (or ``transact_get``) of the library,
which owns the conditions, the all-or-nothing commit, the cancellation
reasons and the ClientRequestToken. Nothing of PartiQL is parsed here: the
library's planner does it, the same as for ExecuteStatement.

DynamoDB's rules of the operation that are the wire's, not the library's:
a transaction is all reads or all writes; each statement addresses one
item by its full key (no scans or queries); an item appears once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import keystone
from keystone.partiql import execute as run_statement
from keystone.table import Page

from . import errors

__all__ = ["Recorded", "Recorder", "rename"]

_PLACEHOLDER: Final = re.compile(r"([#:])([A-Za-z0-9_]+)")
_EMPTY: Final = Page([], 0, 0, None)


def rename(text: str | None, part: int) -> Any:
    """An expression (or a placeholder) of part ``part`` with its placeholders made unique."""
    if text is None:
        return None
    return _PLACEHOLDER.sub(lambda m: f"{m[1]}p{part}_{m[2]}", text)


@dataclass(slots=True)
class Recorded:
    """What one statement does, as a part of the transaction."""

    #: ``"read"``, ``"insert"``, ``"update"`` or ``"delete"``.
    kind: str
    table: str
    part: Any = None
    #: For a read: the key and the projection (with its names).
    key: tuple[Any, Any] | None = None
    projection: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Stands in for a table while the library's plan of one statement runs; records its call."""

    def __init__(self, table: keystone.Table, number: int, on_failure: str = "NONE") -> None:
        self._table = table
        self._number = number
        self._on_failure = on_failure
        self.recorded: Recorded | None = None

    @property
    def schema(self) -> keystone.Schema:
        return self._table.schema

    def _keep(self, recorded: Recorded) -> None:
        if self.recorded is not None:  # (a plan makes one call; never twice)
            raise errors.validation("a transaction statement makes one operation")
        self.recorded = recorded

    def _names(self, names: Mapping[str, str] | None) -> dict[str, str]:
        return {rename(k, self._number): v for k, v in (names or {}).items()}

    def _values(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        return {rename(k, self._number): v for k, v in (values or {}).items()}

    def _extra(self) -> dict[str, Any]:
        return {
            "table": self._table.name,
            "return_values_on_condition_check_failure": self._on_failure,
        }

    # -- the operations a plan calls ------------------------------------------------

    def get(
        self,
        pk: Any,
        sk: Any = None,
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self._keep(
            Recorded(
                "read",
                self._table.name,
                key=(pk, sk),
                projection=projection,
                names=dict(names or {}),
            )
        )

    def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> None:
        n = self._number
        part = keystone.Put(item, rename(condition, n), **self._extra())
        self._keep(
            Recorded(
                "insert",
                self._table.name,
                part,
                names=self._names(names),
                values=self._values(values),
            )
        )

    def update(
        self,
        pk: Any,
        sk: Any = None,
        update: str | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> None:
        n = self._number
        part = keystone.Update(pk, sk, rename(update, n), rename(condition, n), **self._extra())
        self._keep(
            Recorded(
                "update",
                self._table.name,
                part,
                names=self._names(names),
                values=self._values(values),
            )
        )

    def delete(
        self,
        pk: Any,
        sk: Any = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> None:
        n = self._number
        part = keystone.Delete(pk, sk, rename(condition, n), **self._extra())
        self._keep(
            Recorded(
                "delete",
                self._table.name,
                part,
                names=self._names(names),
                values=self._values(values),
            )
        )

    def query(self, *args: Any, **kwargs: Any) -> Page:
        raise _not_one_item()

    def scan(self, *args: Any, **kwargs: Any) -> Page:
        raise _not_one_item()


def _not_one_item() -> errors.DynamoError:
    return errors.validation(
        "Only single-item statements are supported in a transaction: "
        "the WHERE clause must give the full primary key with '=' and nothing else"
    )


def record(
    table: keystone.Table,
    number: int,
    statement: str,
    parameters: Sequence[Any],
    on_failure: str = "NONE",
) -> Recorded:
    """What ``statement`` does on ``table``, planned by the library, as transaction part ``number``."""
    recorder = Recorder(table, number, on_failure)
    run_statement(recorder, statement, parameters)  # type: ignore[arg-type]
    if recorder.recorded is None:  # (a SELECT whose LIMIT/OFFSET leaves nothing to read)
        raise _not_one_item()
    return recorder.recorded
