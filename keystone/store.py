"""``Store``: the one typed interface of a local database and a remote client.

``keystone.Database`` and ``keystone_net``'s sync client both satisfy it, so
application code typed against ``Store`` runs unchanged on either.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .checks import OnConditionFailure
from .database import PutReturns, TransactPart, UpdateReturns
from .reads import Select
from .sk import KeyValue, SortKeyCondition
from .table import Page
from .types import Item


@runtime_checkable
class Store(Protocol):
    """The operations shared by ``keystone.Database`` and ``keystone_net.connect(...)``."""

    def get(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> Item | None: ...

    def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
    ) -> Item | None: ...

    def delete(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
    ) -> Item | None: ...

    def update(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        update: str | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: UpdateReturns = "ALL_NEW",
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
    ) -> Item | None: ...

    def query(
        self,
        pk: KeyValue | None = None,
        sk: SortKeyCondition | None = None,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        reverse: bool = False,
        key_condition: str | None = None,
        select: Select | None = None,
    ) -> Page: ...

    def scan(
        self,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        segment: int = 0,
        total_segments: int = 1,
        select: Select | None = None,
    ) -> Page: ...

    def query_all(
        self, pk: KeyValue | None = None, sk: SortKeyCondition | None = None, **kwargs: Any
    ) -> Iterator[Item]: ...

    def scan_all(self, **kwargs: Any) -> Iterator[Item]: ...

    def batch_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> list[Item]: ...

    def batch_write(
        self, puts: Iterable[Mapping[str, Any]] = (), deletes: Iterable[object] = ()
    ) -> None: ...

    def transact_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> list[Item | None]: ...

    def transact_write(
        self,
        parts: Iterable[TransactPart],
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> None: ...

    def execute(self, statement: str, parameters: Sequence[Any] | None = None) -> Page: ...

    def close(self) -> None: ...


__all__ = ["Store"]
