"""DynamoDB's operations over ``keystone``: a validated request in, a response body out.

:class:`Operations` has one method per operation (``GetItem`` ->
:meth:`Operations.GetItem`), each taking the decoded, model-checked JSON
request and returning the JSON response as a dict. Every rule about items,
keys, expressions and conditions is the library's: a method converts the
request (:mod:`~keystone_net.dynamodb.wire`, :mod:`~keystone_net.dynamodb.legacy`),
makes the library call and converts the result; a library error becomes
DynamoDB's in :func:`keystone_net.dynamodb.errors.error_for`. What only
the wire knows (Select, ReturnConsumedCapacity, which parameters go
together) is checked here.

The methods block (they read and write the database), so the endpoint runs
them in worker threads; :data:`READS` and :data:`WRITES` name the short ones
that go in batches (:class:`keystone_net.serving.limits.Batches`), the
writes of one batch sharing one commit.
"""

from __future__ import annotations

import base64
import inspect
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

import keystone
from keystone.errors import ConditionalCheckFailed, TransactionCanceled, ValidationError
from keystone.expressions import Placeholders, projection

from . import capacity, errors, legacy, wire
from .tables import REGION, TableRef, Tables, stream_arn

__all__ = ["INLINE", "READS", "WRITES", "Operations"]

#: Short reads, batched together on their way to a worker thread.
READS: Final = frozenset({"GetItem", "BatchGetItem", "TransactGetItems"})
#: Reads of one item, run on the event loop itself: a bounded read of one key
#: (an LMDB get of a few microseconds plus its conversion) costs less than the
#: thread round trip that would carry it (docs/dynamodb-endpoint.md, "Reads
#: on the event loop", has the measurements).
INLINE: Final = frozenset({"GetItem"})
#: Short writes, batched together and committed together.
WRITES: Final = frozenset(
    {"PutItem", "DeleteItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems"}
)

_PUT_RETURNS: Final = ("NONE", "ALL_OLD")
_PLACEHOLDER: Final = re.compile(r"([#:])([A-Za-z0-9_]+)")
_SHARD: Final = "shardId-00000000000000000001-00000001"
_ON_FAILURE: Final = "return_values_on_condition_check_failure"

Json = dict[str, Any]


def _names(req: Mapping[str, Any]) -> dict[str, str] | None:
    return req.get("ExpressionAttributeNames") or None


def _values(req: Mapping[str, Any]) -> dict[str, Any] | None:
    return wire.decode_values(req.get("ExpressionAttributeValues"))


def _returns(req: Mapping[str, Any], allowed: tuple[str, ...], default: str) -> str:
    value = req.get("ReturnValues") or default
    if value not in allowed:
        raise errors.validation("Return values set to invalid value")
    return str(value)


def _with_old_item(exc: ConditionalCheckFailed, req: Mapping[str, Any]) -> None:
    """Attach the item the condition saw, if the request asked for it and the library kept it."""
    if req.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
        item = getattr(exc, "item", None)
        if item:
            exc.wire_item = wire.encode_item(item)  # type: ignore[attr-defined]


class Operations:
    """DynamoDB's operations over the tables of one database file."""

    def __init__(self, db: keystone.Database) -> None:
        self.db = db
        self.tables = Tables(db)
        self._tags: dict[str, dict[str, str]] = {}
        self._tags_lock = threading.Lock()
        self._token = "token" in inspect.signature(db.transact_write).parameters
        #: Whether the library keeps the item a failed condition saw, when asked
        #: (``return_values_on_condition_check_failure``, on writes and parts).
        self._on_failure = _ON_FAILURE in inspect.signature(db.put).parameters
        self._part_on_failure = _ON_FAILURE in inspect.signature(keystone.Put).parameters

    def _failure_kwargs(self, req: Mapping[str, Any]) -> dict[str, Any]:
        value = req.get("ReturnValuesOnConditionCheckFailure")
        if value is None or not self._on_failure:
            return {}
        return {_ON_FAILURE: value}

    def handler(self, operation: str) -> Callable[[Json], Json] | None:
        fn = getattr(self, operation, None)
        return fn if callable(fn) and operation[:1].isupper() else None

    # -- helpers ------------------------------------------------------------------

    def _key(self, t: TableRef, key: Mapping[str, Any]) -> tuple[Any, Any]:
        if t.sk is not None and t.sk_optional and t.sk not in key:
            pk, _ = wire.key_of(key, t.pk, None)
            return pk, None
        return wire.key_of(key, t.pk, t.sk)

    @staticmethod
    def _capacity(req: Mapping[str, Any], charges: list[tuple[str, float, str]], out: Json) -> None:
        entries = capacity.consumed(req.get("ReturnConsumedCapacity"), charges)
        if entries is not None:
            out["ConsumedCapacity"] = entries

    @staticmethod
    def _single_capacity(
        req: Mapping[str, Any], table: str, units: float, kind: str, out: Json
    ) -> None:
        entries = capacity.consumed(req.get("ReturnConsumedCapacity"), [(table, units, kind)])
        if entries is not None:
            out["ConsumedCapacity"] = entries[0]

    # -- single items -------------------------------------------------------------

    def GetItem(self, req: Json) -> Json:  # noqa: N802 (DynamoDB's operation names)
        legacy.translate(req)
        t = self.tables.get(req["TableName"])
        pk, sk = self._key(t, req["Key"])
        item = t.store.get(pk, sk, req.get("ProjectionExpression"), _names(req))
        out: Json = {} if item is None else {"Item": wire.encode_item(item)}
        if "ReturnConsumedCapacity" in req:
            units = capacity.read_units(capacity.item_size(item), bool(req.get("ConsistentRead")))
            self._single_capacity(req, t.name, units, "read", out)
        return out

    def PutItem(self, req: Json) -> Json:  # noqa: N802
        legacy.translate(req)
        t = self.tables.get(req["TableName"])
        returns = _returns(req, _PUT_RETURNS, "NONE")
        item = wire.decode_item(req["Item"])
        try:
            old = t.store.put(
                item,
                req.get("ConditionExpression"),
                _names(req),
                _values(req),
                returns,  # type: ignore[arg-type]
                **self._failure_kwargs(req),
            )
        except ConditionalCheckFailed as exc:
            _with_old_item(exc, req)
            raise
        out: Json = {} if old is None else {"Attributes": wire.encode_item(old)}
        if "ReturnConsumedCapacity" in req:
            size = max(capacity.item_size(item), capacity.item_size(old))
            self._single_capacity(req, t.name, capacity.write_units(size), "write", out)
        return out

    def DeleteItem(self, req: Json) -> Json:  # noqa: N802
        legacy.translate(req)
        t = self.tables.get(req["TableName"])
        returns = _returns(req, _PUT_RETURNS, "NONE")
        pk, sk = self._key(t, req["Key"])
        try:
            old = t.store.delete(
                pk,
                sk,
                req.get("ConditionExpression"),
                _names(req),
                _values(req),
                returns,  # type: ignore[arg-type]
                **self._failure_kwargs(req),
            )
        except ConditionalCheckFailed as exc:
            _with_old_item(exc, req)
            raise
        out: Json = {} if old is None else {"Attributes": wire.encode_item(old)}
        if "ReturnConsumedCapacity" in req:
            units = capacity.write_units(capacity.item_size(old))
            self._single_capacity(req, t.name, units, "write", out)
        return out

    def UpdateItem(self, req: Json) -> Json:  # noqa: N802
        legacy.translate(req)
        t = self.tables.get(req["TableName"])
        returns = _returns(
            req, ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"), "NONE"
        )
        pk, sk = self._key(t, req["Key"])
        try:
            image = t.store.update(
                pk,
                sk,
                req.get("UpdateExpression"),
                req.get("ConditionExpression"),
                _names(req),
                _values(req),
                returns,  # type: ignore[arg-type]
                **self._failure_kwargs(req),
            )
        except ConditionalCheckFailed as exc:
            _with_old_item(exc, req)
            raise
        out: Json = {} if not image else {"Attributes": wire.encode_item(image)}
        if "ReturnConsumedCapacity" in req:
            units = capacity.write_units(capacity.item_size(image))
            self._single_capacity(req, t.name, units, "write", out)
        return out

    # -- queries and scans ----------------------------------------------------------

    @staticmethod
    def _select(req: Json) -> str:
        select = req.get("Select")
        if select == "SPECIFIC_ATTRIBUTES" and not req.get("ProjectionExpression"):
            raise errors.validation(
                "Select type SPECIFIC_ATTRIBUTES requires ProjectionExpression or AttributesToGet"
            )
        if select not in (None, "SPECIFIC_ATTRIBUTES") and req.get("ProjectionExpression"):
            raise errors.validation(
                "Cannot specify the Select parameter with a value other than "
                "SPECIFIC_ATTRIBUTES together with a ProjectionExpression"
            )
        if select == "ALL_PROJECTED_ATTRIBUTES" and not req.get("IndexName"):
            raise errors.validation(
                "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
            )
        return str(select or "ALL_ATTRIBUTES")

    def _page_out(self, req: Json, t: TableRef, page: keystone.Page, select: str) -> Json:
        out: Json = {"Count": page.count, "ScannedCount": page.scanned_count}
        if select != "COUNT":
            encode = wire.encode_item
            out["Items"] = [encode(item) for item in page.items]
        if page.last_key is not None:
            out["LastEvaluatedKey"] = wire.encode_item(page.last_key)
        if "ReturnConsumedCapacity" in req:
            size = sum(capacity.item_size(i) for i in page.items)
            units = capacity.read_units(size, bool(req.get("ConsistentRead")))
            self._capacity(req, [(t.name, units, "read")], out)
            if "ConsumedCapacity" in out:
                out["ConsumedCapacity"] = out["ConsumedCapacity"][0]
        return out

    def Query(self, req: Json) -> Json:  # noqa: N802
        legacy.translate(req)
        t = self.tables.get(req["TableName"])
        select = self._select(req)
        text = req.get("KeyConditionExpression")
        if not text:
            raise errors.validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified "
                "in the request."
            )
        names, values = _names(req), _values(req)
        index = req.get("IndexName")
        pk_name, sk_name = t.pk, t.sk
        if index is not None:
            pk_name, sk_name = self._index_keys(t, index)
        kc = wire.key_condition(text, names, values, pk_name, sk_name)
        rest_names, rest_values = _other_placeholders(req, names, values, kc)
        start = req.get("ExclusiveStartKey")
        page = t.store.query(
            kc.pk,
            kc.sk,
            filter=req.get("FilterExpression"),
            names=rest_names,
            values=rest_values,
            projection=req.get("ProjectionExpression"),
            index=index,
            limit=req.get("Limit"),
            start=None if start is None else wire.decode_item(start),
            reverse=req.get("ScanIndexForward") is False,
        )
        return self._page_out(req, t, page, select)

    def _index_keys(self, t: TableRef, index: str) -> tuple[str, str | None]:
        schema = t.store.schema
        for local in schema.local_indexes:
            if local.name == index:
                return t.pk, local.sort_key
        for glob in schema.global_indexes:
            if glob.name == index:
                return glob.partition_key, glob.sort_key
        raise errors.validation("The table does not have the specified index: " + index)

    def Scan(self, req: Json) -> Json:  # noqa: N802
        legacy.translate(req)
        t = self.tables.get(req["TableName"])
        select = self._select(req)
        segment, total = req.get("Segment"), req.get("TotalSegments")
        if (segment is None) != (total is None):
            missing, present = (
                ("TotalSegments", "Segment") if total is None else ("Segment", "TotalSegments")
            )
            raise errors.validation(
                f"The {missing} parameter is required but was not present in the request when "
                f"parameter {present} is present"
            )
        if segment is not None and segment >= total:
            raise errors.validation(
                "The Segment parameter is zero-based and must be less than parameter "
                f"TotalSegments: Segment: {segment} is not less than TotalSegments: {total}"
            )
        start = req.get("ExclusiveStartKey")
        page = t.store.scan(
            filter=req.get("FilterExpression"),
            names=_names(req),
            values=_values(req),
            projection=req.get("ProjectionExpression"),
            index=req.get("IndexName"),
            limit=req.get("Limit"),
            start=None if start is None else wire.decode_item(start),
            segment=segment or 0,
            total_segments=total or 1,
        )
        return self._page_out(req, t, page, select)

    # -- batches ------------------------------------------------------------------------

    def BatchGetItem(self, req: Json) -> Json:  # noqa: N802
        requested = req["RequestItems"]
        total = sum(len(spec.get("Keys") or ()) for spec in requested.values())
        if total > 100:
            raise errors.validation("Too many items requested for the BatchGetItem call")
        responses: Json = {}
        charges = []
        for table, spec in requested.items():
            legacy.translate(spec)
            t = self.tables.get(table)
            keys = [self._key(t, key) for key in spec["Keys"]]
            if len(set(map(_hashable, keys))) != len(keys):
                raise errors.validation("Provided list of item keys contains duplicates")
            items = t.store.batch_get(keys)
            proj = _projector(spec)
            if proj is not None:
                items = [proj(item) for item in items]
            responses[t.name] = [wire.encode_item(i) for i in items]
            units = sum(
                capacity.read_units(capacity.item_size(i), bool(spec.get("ConsistentRead")))
                for i in items
            )
            charges.append((t.name, units, "read"))
        out: Json = {"Responses": responses, "UnprocessedKeys": {}}
        self._capacity(req, charges, out)
        return out

    def BatchWriteItem(self, req: Json) -> Json:  # noqa: N802
        requested = req["RequestItems"]
        total = sum(len(writes) for writes in requested.values())
        if total > 25:
            raise errors.validation("Too many items requested for the BatchWriteItem call")
        by_store: dict[int, tuple[keystone.Database, list[Any], list[Any]]] = {}
        charges = []
        for table, writes in requested.items():
            t = self.tables.get(table)
            _, puts, deletes = by_store.setdefault(id(t.store), (t.store, [], []))
            units = 0.0
            for write in writes:
                put, delete = write.get("PutRequest"), write.get("DeleteRequest")
                if (put is None) == (delete is None):
                    raise errors.validation(
                        "Supplied AttributeValue has more than one datatypes set, must contain "
                        "exactly one of the supported datatypes"
                        if put is not None
                        else "1 validation error detected: WriteRequest must contain either "
                        "PutRequest or DeleteRequest"
                    )
                if put is not None:
                    item = wire.decode_item(put["Item"])
                    puts.append(item)
                    units += capacity.write_units(capacity.item_size(item))
                else:
                    deletes.append(self._key(t, delete["Key"]))
                    units += 1.0
            charges.append((t.name, units, "write"))
        for store, puts, deletes in by_store.values():
            try:
                store.batch_write(puts=puts, deletes=deletes)
            except ValidationError as exc:
                if "twice" in str(exc):
                    raise errors.validation(
                        "Provided list of item keys contains duplicates"
                    ) from None
                raise
        out: Json = {"UnprocessedItems": {}}
        self._capacity(req, charges, out)
        return out

    # -- transactions --------------------------------------------------------------------

    def TransactGetItems(self, req: Json) -> Json:  # noqa: N802
        parts = [p["Get"] for p in req["TransactItems"]]
        refs = [self.tables.get(p["TableName"]) for p in parts]
        keys = [self._key(t, p["Key"]) for t, p in zip(refs, parts, strict=True)]
        stores = {id(t.store) for t in refs}
        if len(stores) > 1:  # pragma: no cover - one file holds one table for now
            raise errors.validation("TransactGetItems spans more than one database file")
        items = refs[0].store.transact_get(keys) if refs else []
        responses = []
        charges = []
        for part, t, item in zip(parts, refs, items, strict=True):
            proj = _projector(part)
            if item is not None and proj is not None:
                item = proj(item)
            responses.append({} if item is None else {"Item": wire.encode_item(item)})
            size = capacity.item_size(item)
            charges.append((t.name, capacity.read_units(size, transactional=True), "read"))
        out: Json = {"Responses": responses}
        self._capacity(req, charges, out)
        return out

    def TransactWriteItems(self, req: Json) -> Json:  # noqa: N802
        entries = req["TransactItems"]
        parts: list[Any] = []
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        refs = []
        charges = []
        for i, entry in enumerate(entries):
            present = [k for k in ("Put", "Update", "Delete", "ConditionCheck") if entry.get(k)]
            if len(present) != 1:
                raise errors.validation(
                    "TransactItems can only contain one of Check, Put, Update or Delete"
                )
            kind = present[0]
            spec = entry[kind]
            t = self.tables.get(spec["TableName"])
            refs.append(t)
            texts = {
                k: _rename(spec.get(k), i) for k in ("ConditionExpression", "UpdateExpression")
            }
            for key, name in (spec.get("ExpressionAttributeNames") or {}).items():
                names[_rename(key, i)] = name
            for key, av in (spec.get("ExpressionAttributeValues") or {}).items():
                values[_rename(key, i)] = wire.decode_value(av)
            cond = texts["ConditionExpression"]
            extra: dict[str, Any] = {}
            on_failure = spec.get("ReturnValuesOnConditionCheckFailure")
            if on_failure is not None and self._part_on_failure:
                extra[_ON_FAILURE] = on_failure
            if kind == "Put":
                item = wire.decode_item(spec["Item"])
                parts.append(keystone.Put(item, cond, **extra))
                units = capacity.write_units(capacity.item_size(item), transactional=True)
            else:
                pk, sk = self._key(t, spec["Key"])
                if kind == "Update":
                    parts.append(keystone.Update(pk, sk, texts["UpdateExpression"], cond, **extra))
                elif kind == "Delete":
                    parts.append(keystone.Delete(pk, sk, cond, **extra))
                else:
                    parts.append(keystone.ConditionCheck(pk, sk, cond, **extra))
                units = capacity.write_units(0, transactional=True)
            charges.append((t.name, units, "write"))
        stores = {id(t.store) for t in refs}
        if len(stores) > 1:  # pragma: no cover - one file holds one table for now
            raise errors.validation("TransactWriteItems spans more than one database file")
        store = refs[0].store
        kwargs: dict[str, Any] = {}
        token = req.get("ClientRequestToken")
        if token is not None and self._token:
            kwargs["token"] = token
        try:
            store.transact_write(parts, names=names or None, values=values or None, **kwargs)
        except TransactionCanceled as exc:
            exc.wire_reasons = _reasons(exc)  # type: ignore[attr-defined]
            raise
        except ValidationError as exc:
            if "same key" in str(exc) or "twice" in str(exc):
                raise errors.validation(
                    "Transaction request cannot include multiple operations on one item"
                ) from None
            raise
        out: Json = {}
        self._capacity(req, charges, out)
        return out

    # -- PartiQL -------------------------------------------------------------------------

    def ExecuteStatement(self, req: Json) -> Json:  # noqa: N802
        params = [wire.decode_value(p) for p in req.get("Parameters") or ()]
        page = self.db.execute(req["Statement"], params or None)
        out: Json = {"Items": [wire.encode_item(i) for i in page.items]}
        if page.last_key is not None:
            out["NextToken"] = base64.b64encode(
                orjson.dumps(wire.encode_item(page.last_key))
            ).decode()
        return out

    def BatchExecuteStatement(self, req: Json) -> Json:  # noqa: N802
        responses = []
        for statement in req["Statements"]:
            try:
                got = self.ExecuteStatement(
                    {"Statement": statement["Statement"], "Parameters": statement.get("Parameters")}
                )
            except Exception as exc:  # each statement answers on its own
                err = errors.error_for(exc, "BatchExecuteStatement")
                code = err.code.removesuffix("Exception")
                responses.append({"Error": {"Code": code, "Message": err.message}})
                continue
            one: Json = {}
            if got.get("Items"):
                one["Item"] = got["Items"][0]
            responses.append(one)
        return {"Responses": responses}

    # -- tables ------------------------------------------------------------------------------

    def CreateTable(self, req: Json) -> Json:  # noqa: N802
        return {"TableDescription": self.tables.create(req)}

    def DescribeTable(self, req: Json) -> Json:  # noqa: N802
        return {"Table": self.tables.describe(req["TableName"])}

    def ListTables(self, req: Json) -> Json:  # noqa: N802
        names = sorted(self.tables.list())
        start = req.get("ExclusiveStartTableName")
        if start is not None:
            names = [n for n in names if n > start]
        limit = req.get("Limit") or 100
        out: Json = {"TableNames": names[:limit]}
        if len(names) > limit:
            out["LastEvaluatedTableName"] = names[limit - 1]
        return out

    def DeleteTable(self, req: Json) -> Json:  # noqa: N802
        return {"TableDescription": self.tables.delete(req["TableName"])}

    def UpdateTable(self, req: Json) -> Json:  # noqa: N802
        return {"TableDescription": self.tables.update(req)}

    def DescribeTimeToLive(self, req: Json) -> Json:  # noqa: N802
        self.tables.get(req["TableName"])
        attribute = self.db.schema.ttl_attribute
        if attribute is None:
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
        return {
            "TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": attribute}
        }

    def UpdateTimeToLive(self, req: Json) -> Json:  # noqa: N802
        self.tables.get(req["TableName"])
        spec = req["TimeToLiveSpecification"]
        attribute = self.db.schema.ttl_attribute
        if spec["Enabled"] and attribute == spec["AttributeName"]:
            return {"TimeToLiveSpecification": spec}
        if not spec["Enabled"] and attribute is None:
            return {"TimeToLiveSpecification": spec}
        raise errors.validation(
            "TimeToLive of this database file's table is set when the file is opened "
            f"(now: {attribute or 'disabled'})"
        )

    # -- tags (kept by the server process) ---------------------------------------------------

    def TagResource(self, req: Json) -> Json:  # noqa: N802
        arn = req["ResourceArn"]
        with self._tags_lock:
            tags = self._tags.setdefault(arn, {})
            for tag in req["Tags"]:
                tags[tag["Key"]] = tag["Value"]
        return {}

    def UntagResource(self, req: Json) -> Json:  # noqa: N802
        arn = req["ResourceArn"]
        with self._tags_lock:
            tags = self._tags.get(arn, {})
            for key in req["TagKeys"]:
                tags.pop(key, None)
        return {}

    def ListTagsOfResource(self, req: Json) -> Json:  # noqa: N802
        with self._tags_lock:
            tags = dict(self._tags.get(req["ResourceArn"], {}))
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}

    # -- the account -------------------------------------------------------------------------

    def DescribeLimits(self, req: Json) -> Json:  # noqa: N802
        return {
            "AccountMaxReadCapacityUnits": 80000,
            "AccountMaxWriteCapacityUnits": 80000,
            "TableMaxReadCapacityUnits": 40000,
            "TableMaxWriteCapacityUnits": 40000,
        }

    def DescribeEndpoints(self, req: Json) -> Json:  # noqa: N802
        return {
            "Endpoints": [{"Address": req.get("__host", "localhost"), "CachePeriodInMinutes": 1440}]
        }

    # -- streams (DynamoDBStreams_20120810) --------------------------------------------------

    def ListStreams(self, req: Json) -> Json:  # noqa: N802
        if self.db.schema.stream is None:
            return {"Streams": []}
        name = req.get("TableName") or "default"
        return {
            "Streams": [
                {
                    "StreamArn": stream_arn(name),
                    "TableName": name,
                    "StreamLabel": "1970-01-01T00:00:00.000",
                }
            ]
        }

    def DescribeStream(self, req: Json) -> Json:  # noqa: N802
        arn = req["StreamArn"]
        name = _stream_table(arn)
        config = self.db.schema.stream
        if config is None:
            raise errors.resource_not_found(
                f"Requested resource not found: Stream: {arn} not found"
            )
        t = self.tables.get(name)
        keys = [{"AttributeName": t.pk, "KeyType": "HASH"}]
        if t.sk is not None:
            keys.append({"AttributeName": t.sk, "KeyType": "RANGE"})
        return {
            "StreamDescription": {
                "StreamArn": arn,
                "StreamLabel": "1970-01-01T00:00:00.000",
                "StreamStatus": "ENABLED",
                "StreamViewType": config.view,
                "TableName": name,
                "KeySchema": keys,
                "CreationRequestDateTime": 0,
                "Shards": [
                    {
                        "ShardId": _SHARD,
                        "SequenceNumberRange": {"StartingSequenceNumber": _seq(1)},
                    }
                ],
            }
        }

    def GetShardIterator(self, req: Json) -> Json:  # noqa: N802
        arn = req["StreamArn"]
        _stream_table(arn)
        if self.db.schema.stream is None:
            raise errors.resource_not_found(
                f"Requested resource not found: Stream: {arn} not found"
            )
        if req["ShardId"] != _SHARD:
            raise errors.resource_not_found("Requested resource not found: Shard does not exist")
        kind = req["ShardIteratorType"]
        number = req.get("SequenceNumber")
        if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            if number is None or not number.isdigit():
                raise errors.validation(
                    f"Invalid SequenceNumber for ShardIteratorType {kind}: {number}"
                )
            seq = int(number)
            after = seq - 1 if kind == "AT_SEQUENCE_NUMBER" else seq
        elif kind == "TRIM_HORIZON":
            after = 0
        else:  # LATEST
            after = self._last_sequence()
        return {"ShardIterator": _iterator(arn, after)}

    def _last_sequence(self) -> int:
        """The highest sequence number in the stream (0 if none), in a few bounded reads."""
        stream = self.db.stream
        if not stream(after=0, limit=1):
            return 0
        lo, hi = 0, 1  # a record comes after lo; none may come after hi: find hi
        while stream(after=hi, limit=1):
            lo, hi = hi, hi * 2
        while hi - lo > 1:  # a record after lo, none after hi
            mid = (lo + hi) // 2
            if stream(after=mid, limit=1):
                lo = mid
            else:
                hi = mid
        return stream(after=lo, limit=1)[0].sequence

    def GetRecords(self, req: Json) -> Json:  # noqa: N802
        arn, after = _from_iterator(req["ShardIterator"])
        limit = req.get("Limit") or 1000
        records = self.db.stream(after=after, limit=limit)
        view = self.db.schema.stream.view if self.db.schema.stream else "KEYS_ONLY"
        out = []
        for r in records:
            body: Json = {
                "ApproximateCreationDateTime": int(r.timestamp.timestamp()),
                "Keys": wire.encode_item(r.keys),
                "SequenceNumber": _seq(r.sequence),
                "SizeBytes": capacity.item_size(r.new_image or r.old_image or r.keys),
                "StreamViewType": view,
            }
            if r.new_image is not None:
                body["NewImage"] = wire.encode_item(r.new_image)
            if r.old_image is not None:
                body["OldImage"] = wire.encode_item(r.old_image)
            record: Json = {
                "eventID": f"{r.sequence:032x}",
                "eventName": r.event,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": body,
            }
            if r.by_ttl:
                record["userIdentity"] = {
                    "PrincipalId": "dynamodb.amazonaws.com",
                    "Type": "Service",
                }
            out.append(record)
        last = records[-1].sequence if records else after
        return {"Records": out, "NextShardIterator": _iterator(arn, last)}


# --------------------------------------------------------------------------


def _hashable(key: tuple[Any, Any]) -> tuple[Any, Any]:
    return key


def _projector(spec: Mapping[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """The library's projection of a batch or transaction part, if it has one."""
    text = spec.get("ProjectionExpression")
    names = spec.get("ExpressionAttributeNames")
    if not text:
        if names:
            Placeholders(names).check_all_used()
        return None
    ph = Placeholders(names)
    proj = projection(text, ph)
    ph.check_all_used()
    return proj


def _other_placeholders(
    req: Json,
    names: dict[str, str] | None,
    values: dict[str, Any] | None,
    kc: wire.KeyCondition,
) -> tuple[dict[str, str] | None, dict[str, Any] | None]:
    """The placeholders a query's key condition did not use, unless another expression uses them."""
    others = " ".join(str(req.get(k) or "") for k in ("FilterExpression", "ProjectionExpression"))
    used = set(_PLACEHOLDER.findall(others))
    rest_names = {
        k: v for k, v in (names or {}).items() if k not in kc.used_names or ("#", k[1:]) in used
    }
    rest_values = {
        k: v for k, v in (values or {}).items() if k not in kc.used_values or (":", k[1:]) in used
    }
    return rest_names or None, rest_values or None


def _rename(text: str | None, part: int) -> Any:
    """An expression (or placeholder) of transaction part ``part`` with its placeholders made unique."""
    if text is None:
        return None
    return _PLACEHOLDER.sub(lambda m: f"{m[1]}p{part}_{m[2]}", text)


def _reasons(exc: TransactionCanceled) -> list[Json]:
    out = []
    items = getattr(exc, "items", None) or [None] * len(exc.reasons)
    for reason, item in zip(exc.reasons, items, strict=False):
        if reason is None:
            out.append({"Code": "None"})
            continue
        one: Json = {"Code": reason}
        if item:
            one["Item"] = wire.encode_item(item)
        if reason == "ConditionalCheckFailed":
            one["Message"] = "The conditional request failed"
        else:
            one["Message"] = "One or more parameter values were invalid"
        out.append(one)
    return out


def _seq(n: int) -> str:
    return f"{n:021d}"


def _stream_table(arn: str) -> str:
    marker = ":table/"
    if marker not in arn or "/stream/" not in arn:
        raise errors.validation(f"Invalid StreamArn: {arn}")
    return arn.split(marker, 1)[1].split("/stream/", 1)[0]


def _iterator(arn: str, after: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([arn, after])).decode()


def _from_iterator(text: str) -> tuple[str, int]:
    try:
        arn, after = orjson.loads(base64.urlsafe_b64decode(text.encode()))
        if not isinstance(arn, str) or not isinstance(after, int) or after < 0:
            raise ValueError(text)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise errors.validation(f"Invalid ShardIterator: {text}") from None
    return arn, after
