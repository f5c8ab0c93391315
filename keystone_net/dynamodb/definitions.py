"""``keystone.Schema`` <-> DynamoDB table definitions, and waiting for a table to be ACTIVE.

A schema's key attribute is a name (typed ``S``, or the type given in
``types``) or a ``(name, type)`` pair; indexes keep their names and
projections (a list of attributes becomes ``INCLUDE``). Tables are created
on demand capacity (``PAY_PER_REQUEST``) unless the caller passes its own
``BillingMode``/``ProvisionedThroughput``. A stream becomes the table's
``StreamSpecification`` (DynamoDB keeps stream records 24 hours whatever
``StreamConfig.retention`` says) and ``ttl_attribute`` its TTL setting.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keystone.errors import ResourceExhausted, ValidationError
from keystone.schema import GlobalIndex, LocalIndex, Schema, StreamConfig

_KEY_TYPES = ("S", "N", "B")


def _spec(
    key: object, types: Mapping[str, str], what: str, declared: str | None = None
) -> tuple[str, str]:
    """``(name, type)`` of a key attribute: its ``declared`` type (a typed ``keystone.Schema``),
    else the type ``types`` gives it, else ``S``; a ``(name, type)`` pair is taken as is."""
    if isinstance(key, tuple) and len(key) == 2:
        name, kind = key
    else:
        name, kind = key, declared or types.get(str(key), "S")
    if not isinstance(name, str) or not name or kind not in _KEY_TYPES:
        raise ValidationError(f"{what}: a key is a name or a (name, 'S'|'N'|'B') pair, got {key!r}")
    return name, str(kind)


@dataclass(frozen=True, slots=True)
class KeySchema:
    """The key attributes of a table and of each of its indexes."""

    partition_key: str
    sort_key: str | None
    #: index name -> (partition key attribute, sort key attribute or None)
    indexes: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)

    def index_keys(self, index: str | None) -> tuple[str, str | None]:
        if index is None:
            return self.partition_key, self.sort_key
        try:
            return self.indexes[index]
        except KeyError:
            known = ", ".join(sorted(self.indexes)) or "none"
            raise ValidationError(f"index {index!r} does not exist (indexes: {known})") from None


def _keys(description: Mapping[str, Any]) -> tuple[str, str | None]:
    pk = sk = None
    for element in description["KeySchema"]:
        if element["KeyType"] == "HASH":
            pk = element["AttributeName"]
        else:
            sk = element["AttributeName"]
    assert pk is not None
    return pk, sk


def key_schema(description: Mapping[str, Any]) -> KeySchema:
    """The :class:`KeySchema` of a ``TableDescription``."""
    pk, sk = _keys(description)
    indexes = {
        i["IndexName"]: _keys(i)
        for kind in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes")
        for i in description.get(kind, [])
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
    return KeySchema(pk, sk, indexes, types)


def _projection(projection: object) -> dict[str, Any]:
    if projection in ("ALL", "KEYS_ONLY"):
        return {"ProjectionType": projection}
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(projection)}  # type: ignore[call-overload]


def _projection_back(projection: Mapping[str, Any]) -> Any:
    kind = projection.get("ProjectionType", "ALL")
    return list(projection.get("NonKeyAttributes", [])) if kind == "INCLUDE" else kind


def _key_elements(pk: str, sk: str | None) -> list[dict[str, str]]:
    out = [{"AttributeName": pk, "KeyType": "HASH"}]
    if sk is not None:
        out.append({"AttributeName": sk, "KeyType": "RANGE"})
    return out


def global_index_definition(
    index: GlobalIndex, types: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """A ``GlobalSecondaryIndexes`` entry and the attribute types its keys need."""
    what = f"index {index.name!r}"
    pk, pk_type = _spec(index.partition_key, types, what, index.partition_key_type)
    attrs = {pk: pk_type}
    sk = None
    if index.sort_key is not None:
        sk, sk_type = _spec(index.sort_key, types, what, index.sort_key_type)
        attrs[sk] = sk_type
    entry = {
        "IndexName": index.name,
        "KeySchema": _key_elements(pk, sk),
        "Projection": _projection(index.projection),
    }
    return entry, attrs


def create_table_request(
    name: str, schema: Schema, types: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``CreateTable`` arguments of a table named ``name`` with ``schema``."""
    types = dict(types or {})
    pk, pk_type = _spec(schema.partition_key, types, "partition_key", schema.partition_key_type)
    attrs: dict[str, str] = {pk: pk_type}
    sk = None
    if schema.sort_key is not None:
        sk, sk_type = _spec(schema.sort_key, types, "sort_key", schema.sort_key_type)
        attrs[sk] = sk_type
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": _key_elements(pk, sk),
        "BillingMode": "PAY_PER_REQUEST",
    }
    local: list[LocalIndex] = list(schema.local_indexes)
    if local:
        if sk is None:
            raise ValidationError("local indexes need a table with a sort key")
        entries = []
        for idx in local:
            isk, isk_type = _spec(idx.sort_key, types, f"index {idx.name!r}", idx.sort_key_type)
            attrs[isk] = isk_type
            entries.append(
                {
                    "IndexName": idx.name,
                    "KeySchema": _key_elements(pk, isk),
                    "Projection": _projection(idx.projection),
                }
            )
        request["LocalSecondaryIndexes"] = entries
    if schema.global_indexes:
        entries = []
        for gidx in schema.global_indexes:
            entry, more = global_index_definition(gidx, types)
            attrs.update(more)
            entries.append(entry)
        request["GlobalSecondaryIndexes"] = entries
    request["AttributeDefinitions"] = [
        {"AttributeName": a, "AttributeType": t} for a, t in attrs.items()
    ]
    if schema.stream is not None:
        request["StreamSpecification"] = stream_specification(schema.stream)
    return request


def stream_specification(stream: StreamConfig | None) -> dict[str, Any]:
    """``StreamSpecification`` of a stream setting (``None``: no stream)."""
    if stream is None:
        return {"StreamEnabled": False}
    return {"StreamEnabled": True, "StreamViewType": stream.view}


def schema_of(description: Mapping[str, Any], ttl_attribute: str | None = None) -> Schema:
    """The typed ``keystone.Schema`` of a ``TableDescription`` (DynamoDB's keys are all typed)."""
    types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}

    def typed(attr: str | None) -> Any:
        return None if attr is None else (attr, types[attr])

    pk, sk = _keys(description)
    local = [
        LocalIndex(i["IndexName"], typed(_keys(i)[1]), _projection_back(i["Projection"]))
        for i in description.get("LocalSecondaryIndexes", [])
    ]
    global_ = [
        GlobalIndex(
            i["IndexName"],
            typed(_keys(i)[0]),
            typed(_keys(i)[1]),
            _projection_back(i["Projection"]),
        )
        for i in description.get("GlobalSecondaryIndexes", [])
    ]
    spec = description.get("StreamSpecification") or {}
    stream = StreamConfig(spec["StreamViewType"]) if spec.get("StreamEnabled") else None
    return Schema(typed(pk), typed(sk), local, global_, ttl_attribute, stream)


def wait_active(client: Any, name: str, timeout: float = 600.0) -> dict[str, Any]:
    """Poll ``DescribeTable`` until the table and every index are ACTIVE; its description."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        table: dict[str, Any] = client.describe_table(TableName=name)["Table"]
        busy = table.get("TableStatus") != "ACTIVE" or any(
            i.get("IndexStatus", "ACTIVE") != "ACTIVE"
            for i in table.get("GlobalSecondaryIndexes", [])
        )
        if not busy:
            return table
        if time.monotonic() > deadline:
            raise ResourceExhausted(f"table {name!r} did not become ACTIVE within {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def wait_gone(client: Any, name: str, timeout: float = 600.0) -> None:
    """Poll until ``DescribeTable`` says the table no longer exists."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            client.describe_table(TableName=name)
        except client.exceptions.ResourceNotFoundException:
            return
        if time.monotonic() > deadline:
            raise ResourceExhausted(f"table {name!r} was not deleted within {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def index_names(indexes: Sequence[object]) -> list[str]:
    """The names of indexes given as index objects or names."""
    return [i if isinstance(i, str) else i.name for i in indexes]  # type: ignore[attr-defined]


__all__ = [
    "KeySchema",
    "create_table_request",
    "global_index_definition",
    "index_names",
    "key_schema",
    "schema_of",
    "stream_specification",
    "wait_active",
    "wait_gone",
]
