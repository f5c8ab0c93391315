"""Table management on the wire: ``keystone.Schema`` <-> ``TableSchema`` and its parts.

Key attributes travel as ``KeyAttribute`` (a name and, for typed keys, ``S``,
``N`` or ``B``); index projections as DynamoDB spells them (``ALL``,
``KEYS_ONLY``, or ``INCLUDE`` with the attribute names); a stream's
retention as a number of records or of milliseconds. Decoding builds the
library's own objects, so every check (names, types, projections) is the
library's and a bad schema is a ``ValidationError`` naming what is wrong.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

from keystone.errors import ValidationError
from keystone.schema import GlobalIndex, KeySpec, LocalIndex, Schema, StreamConfig
from keystone_net._proto import keystone as pb


def _key_to_proto(name: str, kind: str | None) -> pb.KeyAttribute:
    return pb.KeyAttribute(name=name, type=kind)


def _key_from_proto(msg: pb.KeyAttribute | None, what: str) -> KeySpec:
    if msg is None or not msg.name:
        raise ValidationError(f"{what}: a key attribute needs a name")
    if msg.type is None:
        return msg.name
    return (msg.name, msg.type)  # type: ignore[return-value]  # (Schema checks the type)


def _projection_to_proto(projection: object) -> pb.IndexProjection:
    if isinstance(projection, str):
        return pb.IndexProjection(projection_type=projection)
    return pb.IndexProjection(
        projection_type="INCLUDE",
        non_key_attributes=list(projection),  # type: ignore[call-overload]
    )


def _projection_from_proto(msg: pb.IndexProjection | None, what: str) -> Any:
    if msg is None or not msg.projection_type:
        return "ALL"
    kind = msg.projection_type
    if kind == "INCLUDE":
        return list(msg.non_key_attributes)
    if kind in ("ALL", "KEYS_ONLY"):
        if msg.non_key_attributes:
            raise ValidationError(f"{what}: non_key_attributes go with projection_type INCLUDE")
        return kind
    raise ValidationError(
        f"{what}: projection_type must be 'ALL', 'KEYS_ONLY' or 'INCLUDE', got {kind!r}"
    )


def local_index_to_proto(idx: LocalIndex) -> pb.LocalIndexDefinition:
    return pb.LocalIndexDefinition(
        name=idx.name,
        sort_key=_key_to_proto(idx.sort_key, idx.sort_key_type),
        projection=_projection_to_proto(idx.projection),
    )


def global_index_to_proto(idx: GlobalIndex) -> pb.GlobalIndexDefinition:
    return pb.GlobalIndexDefinition(
        name=idx.name,
        partition_key=_key_to_proto(idx.partition_key, idx.partition_key_type),
        sort_key=None if idx.sort_key is None else _key_to_proto(idx.sort_key, idx.sort_key_type),
        projection=_projection_to_proto(idx.projection),
    )


def local_index_from_proto(msg: pb.LocalIndexDefinition) -> LocalIndex:
    what = f"local index {msg.name!r}"
    return LocalIndex(
        msg.name,
        _key_from_proto(msg.sort_key, f"{what} sort_key"),
        _projection_from_proto(msg.projection, what),
    )


def global_index_from_proto(msg: pb.GlobalIndexDefinition) -> GlobalIndex:
    what = f"global index {msg.name!r}"
    return GlobalIndex(
        msg.name,
        _key_from_proto(msg.partition_key, f"{what} partition_key"),
        None if msg.sort_key is None else _key_from_proto(msg.sort_key, f"{what} sort_key"),
        _projection_from_proto(msg.projection, what),
    )


def stream_to_proto(stream: StreamConfig) -> pb.StreamSpecification:
    retention = stream.retention
    if isinstance(retention, _dt.timedelta):
        return pb.StreamSpecification(
            view=stream.view, retention_ms=max(1, int(retention.total_seconds() * 1000))
        )
    return pb.StreamSpecification(view=stream.view, retention_records=retention)


def stream_from_proto(msg: pb.StreamSpecification) -> StreamConfig:
    if msg.retention_records is not None and msg.retention_ms is not None:
        raise ValidationError("stream: give retention_records or retention_ms, not both")
    retention: int | _dt.timedelta | None = msg.retention_records
    if msg.retention_ms is not None:
        retention = _dt.timedelta(milliseconds=msg.retention_ms)
    return StreamConfig(msg.view or "NEW_AND_OLD_IMAGES", retention)  # type: ignore[arg-type]


def schema_to_proto(schema: Schema) -> pb.TableSchema:
    """The ``TableSchema`` of a ``keystone.Schema``."""
    return pb.TableSchema(
        partition_key=_key_to_proto(schema.partition_key, schema.partition_key_type),
        sort_key=None
        if schema.sort_key is None
        else _key_to_proto(schema.sort_key, schema.sort_key_type),
        local_indexes=[local_index_to_proto(i) for i in schema.local_indexes],
        global_indexes=[global_index_to_proto(i) for i in schema.global_indexes],
        ttl_attribute=schema.ttl_attribute,
        stream=None if schema.stream is None else stream_to_proto(schema.stream),
    )


def schema_from_proto(msg: pb.TableSchema) -> Schema:
    """The ``keystone.Schema`` of a ``TableSchema`` (``ValidationError`` if it is not valid)."""
    return Schema(
        partition_key=_key_from_proto(msg.partition_key, "schema.partition_key"),
        sort_key=None if msg.sort_key is None else _key_from_proto(msg.sort_key, "schema.sort_key"),
        local_indexes=[local_index_from_proto(i) for i in msg.local_indexes],
        global_indexes=[global_index_from_proto(i) for i in msg.global_indexes],
        ttl_attribute=msg.ttl_attribute,
        stream=None if msg.stream is None else stream_from_proto(msg.stream),
    )


def indexes_to_proto(
    indexes: Sequence[LocalIndex | GlobalIndex],
) -> tuple[list[pb.LocalIndexDefinition], list[pb.GlobalIndexDefinition]]:
    """``UpdateTableRequest.add_local_indexes`` and ``add_global_indexes``."""
    local: list[pb.LocalIndexDefinition] = []
    global_: list[pb.GlobalIndexDefinition] = []
    for idx in indexes:
        if isinstance(idx, LocalIndex):
            local.append(local_index_to_proto(idx))
        elif isinstance(idx, GlobalIndex):
            global_.append(global_index_to_proto(idx))
        else:
            raise ValidationError(
                "update_table: add_indexes holds keystone.LocalIndex and GlobalIndex objects, "
                f"got {type(idx).__name__}"
            )
    return local, global_
