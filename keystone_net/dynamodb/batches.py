"""BatchWriteItem / BatchGetItem in DynamoDB's chunk sizes, retrying what comes back unprocessed.

DynamoDB takes at most 25 writes and 100 keys per request and may return
part of a request unprocessed (``UnprocessedItems``/``UnprocessedKeys``)
when a partition is busy. Each chunk is sent, then whatever came back is
sent again after an exponentially growing, fully jittered pause, up to
``attempts`` rounds; what is still left then raises ``ResourceExhausted``.
Chunks already written stay written: unlike ``keystone.Database``, a batch
on DynamoDB is not one atomic commit (``transact_write`` is).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from keystone.errors import ResourceExhausted

from .boto_errors import call

WRITE_CHUNK: Final = 25
GET_CHUNK: Final = 100
T = TypeVar("T")


def chunks(seq: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Pauses between rounds: ``base * 2**round``, capped, times a uniform jitter in [0, 1)."""

    attempts: int = 10
    base: float = 0.05
    cap: float = 5.0
    sleep: Callable[[float], None] = time.sleep

    def pause(self, round_: int) -> None:
        self.sleep(random.uniform(0, min(self.cap, self.base * 2**round_)))


def write_all(client: Any, requests: Mapping[str, list[dict[str, Any]]], backoff: Backoff) -> None:
    """One BatchWriteItem request (<= 25 writes) until nothing is left unprocessed."""
    pending: Mapping[str, list[dict[str, Any]]] = requests
    for round_ in range(backoff.attempts):
        if round_:
            backoff.pause(round_)
        reply = call(client.batch_write_item, RequestItems=pending)
        pending = reply.get("UnprocessedItems") or {}
        if not pending:
            return
    left = sum(len(v) for v in pending.values())
    raise ResourceExhausted(
        f"batch_write: {left} writes were still unprocessed after {backoff.attempts} rounds "
        "(the table is throttled); writes of earlier rounds and chunks were applied"
    )


def get_all(
    client: Any, requests: Mapping[str, dict[str, Any]], backoff: Backoff
) -> dict[str, list[dict[str, Any]]]:
    """One BatchGetItem request (<= 100 keys) until no key is left unprocessed."""
    found: dict[str, list[dict[str, Any]]] = {}
    pending: Mapping[str, dict[str, Any]] = requests
    for round_ in range(backoff.attempts):
        if round_:
            backoff.pause(round_)
        reply = call(client.batch_get_item, RequestItems=pending)
        for table, items in reply.get("Responses", {}).items():
            found.setdefault(table, []).extend(items)
        pending = reply.get("UnprocessedKeys") or {}
        if not pending:
            return found
    left = sum(len(v["Keys"]) for v in pending.values())
    raise ResourceExhausted(
        f"batch_get: {left} keys were still unprocessed after {backoff.attempts} rounds "
        "(the table is throttled)"
    )


__all__ = ["GET_CHUNK", "WRITE_CHUNK", "Backoff", "chunks", "get_all", "write_all"]
