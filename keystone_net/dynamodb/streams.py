"""DynamoDB Streams -> ``keystone.StreamRecord``s.

A table's stream is a set of shards; each record carries a sequence number
(a decimal string, increasing within a shard and across a shard's
children). :func:`read_stream` reads every shard from its oldest record
(``TRIM_HORIZON``), or from just after ``after`` where a shard's range holds
it, and returns the records above ``after`` in sequence order. Reading
stops at a shard's end or at its tip (a page with no records), and after
``MAX_PAGES_PER_SHARD`` pages, so one call is bounded. A deletion by TTL is
the record whose ``userIdentity`` is the DynamoDB service.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Final

from keystone.streams import StreamRecord

from .boto_errors import call
from .encoding import decode_item

MAX_PAGES_PER_SHARD: Final = 1000


def _record(raw: dict[str, Any]) -> StreamRecord:
    change = raw["dynamodb"]
    stamp = change.get("ApproximateCreationDateTime")
    if isinstance(stamp, _dt.datetime):
        stamp = stamp.astimezone(_dt.UTC)
    else:
        stamp = _dt.datetime.fromtimestamp(float(stamp or 0), _dt.UTC)
    identity = raw.get("userIdentity") or {}
    return StreamRecord(
        sequence=int(change["SequenceNumber"]),
        event=raw["eventName"],
        keys=decode_item(change.get("Keys", {})),
        new_image=decode_item(change["NewImage"]) if "NewImage" in change else None,
        old_image=decode_item(change["OldImage"]) if "OldImage" in change else None,
        timestamp=stamp,
        by_ttl=identity.get("Type") == "Service"
        and identity.get("PrincipalId") == "dynamodb.amazonaws.com",
    )


def _shards(client: Any, arn: str) -> list[dict[str, Any]]:
    shards: list[dict[str, Any]] = []
    start = None
    for _ in range(MAX_PAGES_PER_SHARD):
        reply = call(client.describe_stream, StreamArn=arn, ExclusiveStartShardId=start)
        description = reply["StreamDescription"]
        shards.extend(description.get("Shards", []))
        start = description.get("LastEvaluatedShardId")
        if not start:
            break
    return shards


def _iterator(client: Any, arn: str, shard: dict[str, Any], after: int | None) -> str | None:
    span = shard.get("SequenceNumberRange", {})
    low = int(span.get("StartingSequenceNumber", 0))
    high = span.get("EndingSequenceNumber")
    args: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
    if after is not None and low <= after and (high is None or after < int(high)):
        args = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": str(after)}
    elif after is not None and high is not None and int(high) <= after:
        return None  # a closed shard wholly read before
    reply = call(client.get_shard_iterator, StreamArn=arn, ShardId=shard["ShardId"], **args)
    iterator: str | None = reply.get("ShardIterator")
    return iterator


def read_stream(
    client: Any, arn: str, after: int | None = None, limit: int | None = None
) -> list[StreamRecord]:
    """The stream's records with a sequence number above ``after``, oldest first, at most ``limit``."""
    records: list[StreamRecord] = []
    for shard in _shards(client, arn):
        iterator = _iterator(client, arn, shard, after)
        for _ in range(MAX_PAGES_PER_SHARD):
            if iterator is None:
                break
            reply = call(client.get_records, ShardIterator=iterator, Limit=1000)
            page = reply.get("Records", [])
            records.extend(r for r in map(_record, page) if after is None or r.sequence > after)
            if not page:
                break
            iterator = reply.get("NextShardIterator")
    records.sort(key=lambda r: r.sequence)
    return records if limit is None else records[:limit]


__all__ = ["MAX_PAGES_PER_SHARD", "read_stream"]
