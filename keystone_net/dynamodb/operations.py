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
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

import keystone
from keystone.errors import ConditionalCheckFailed, TransactionCanceled, ValidationError
from keystone.expressions import Placeholders, projection
from keystone.partiql import prepare
from keystone.partiql.planner import statement_table
from keystone.partiql.plans import InsertPlan

from . import capacity, errors, legacy, model, partiql, wire
from .tables import REGION, STREAM_LABEL, TableRef, Tables, name_of, stream_arn

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
_SHARD: Final = "shardId-00000000000000000001-00000001"

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


def _with_old_item(exc: ConditionalCheckFailed) -> None:
    """Attach the item the condition saw (the library keeps it when it was asked to)."""
    if exc.item:
        exc.wire_item = wire.encode_item(exc.item)  # type: ignore[attr-defined]


def _on_failure(req: Mapping[str, Any]) -> Any:
    return req.get("ReturnValuesOnConditionCheckFailure") or "NONE"


class Operations:
    """DynamoDB's operations over the tables of one database file."""

    def __init__(self, db: keystone.Database) -> None:
        self.db = db
        self.tables = Tables(db)

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
                return_values_on_condition_check_failure=_on_failure(req),
            )
        except ConditionalCheckFailed as exc:
            _with_old_item(exc)
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
                return_values_on_condition_check_failure=_on_failure(req),
            )
        except ConditionalCheckFailed as exc:
            _with_old_item(exc)
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
                return_values_on_condition_check_failure=_on_failure(req),
            )
        except ConditionalCheckFailed as exc:
            _with_old_item(exc)
            raise
        out: Json = {} if not image else {"Attributes": wire.encode_item(image)}
        if "ReturnConsumedCapacity" in req:
            units = capacity.write_units(capacity.item_size(image))
            self._single_capacity(req, t.name, units, "write", out)
        return out

    # -- queries and scans ----------------------------------------------------------

    def _page_out(self, req: Json, t: TableRef, page: keystone.Page) -> Json:
        out: Json = {"Count": page.count, "ScannedCount": page.scanned_count}
        if req.get("Select") != "COUNT":
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
        text = req.get("KeyConditionExpression")
        if not text:
            raise errors.validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified "
                "in the request."
            )
        start = req.get("ExclusiveStartKey")
        page = t.store.query(
            key_condition=text,
            filter=req.get("FilterExpression"),
            names=_names(req),
            values=_values(req),
            projection=req.get("ProjectionExpression"),
            index=req.get("IndexName"),
            limit=req.get("Limit"),
            start=None if start is None else wire.decode_item(start),
            reverse=req.get("ScanIndexForward") is False,
            select=req.get("Select"),
        )
        return self._page_out(req, t, page)

    def Scan(self, req: Json) -> Json:  # noqa: N802
        legacy.translate(req)
        t = self.tables.get(req["TableName"])
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
            select=req.get("Select"),
        )
        return self._page_out(req, t, page)

    # -- batches ------------------------------------------------------------------------

    def BatchGetItem(self, req: Json) -> Json:  # noqa: N802
        requested = _request_items(req)
        total = sum(len(spec.get("Keys") or ()) for spec in requested.values())
        if total > 100:
            raise errors.validation("Too many items requested for the BatchGetItem call")
        # Every table's keys go to the library in one read from one snapshot:
        # transact_get keeps each missing key's place, so each item is known
        # to be its table's (DynamoDB's batch reads need no snapshot; one is
        # a valid special case). Duplicates are DynamoDB's error here.
        plan: list[tuple[TableRef, Json, Callable[[Json], Json] | None, int]] = []
        keys: list[tuple[str, tuple[Any, Any]]] = []
        for table, spec in requested.items():
            legacy.translate(spec)
            t = self.tables.get(table)
            table_keys = [self._key(t, key) for key in spec["Keys"]]
            if len(set(table_keys)) != len(table_keys):
                raise errors.validation("Provided list of item keys contains duplicates")
            plan.append((t, spec, _projector(spec), len(table_keys)))
            keys.extend((t.name, key) for key in table_keys)
        items = self.db.transact_get(keys) if keys else []
        responses: Json = {}
        counting = capacity.wanted(req.get("ReturnConsumedCapacity"))
        charges = []
        at = 0
        for t, spec, proj, n in plan:
            found = [i for i in items[at : at + n] if i is not None]
            at += n
            if proj is not None:
                found = [proj(item) for item in found]
            responses[t.name] = [wire.encode_item(i) for i in found]
            consistent = bool(spec.get("ConsistentRead"))
            units = (
                sum(capacity.read_units(capacity.item_size(i), consistent) for i in found)
                if counting
                else 0.0
            )
            charges.append((t.name, units, "read"))
        out: Json = {"Responses": responses, "UnprocessedKeys": {}}
        self._capacity(req, charges, out)
        return out

    def BatchWriteItem(self, req: Json) -> Json:  # noqa: N802
        requested = _request_items(req)
        total = sum(len(writes) for writes in requested.values())
        if total > 25:
            raise errors.validation("Too many items requested for the BatchWriteItem call")
        puts: list[Any] = []  # (keystone.Put parts, each naming its table)
        deletes: list[keystone.Delete] = []
        counting = capacity.wanted(req.get("ReturnConsumedCapacity"))
        charges = []
        for table, writes in requested.items():
            t = self.tables.get(table)
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
                    puts.append(keystone.Put(item, table=t.name))
                    if counting:
                        units += capacity.write_units(capacity.item_size(item))
                else:
                    pk, sk = self._key(t, delete["Key"])
                    deletes.append(keystone.Delete(pk, sk, table=t.name))
                    units += 1.0
            charges.append((t.name, units, "write"))
        try:
            self.db.batch_write(puts=puts, deletes=deletes)  # every table, one commit
        except ValidationError as exc:
            if "twice" in str(exc):
                raise errors.validation("Provided list of item keys contains duplicates") from None
            raise
        out: Json = {"UnprocessedItems": {}}
        self._capacity(req, charges, out)
        return out

    # -- transactions --------------------------------------------------------------------

    def TransactGetItems(self, req: Json) -> Json:  # noqa: N802
        parts = [p["Get"] for p in req["TransactItems"]]
        refs = [self.tables.get(p["TableName"]) for p in parts]
        keys = [(t.name, self._key(t, p["Key"])) for t, p in zip(refs, parts, strict=True)]
        items = self.db.transact_get(keys) if keys else []
        responses = []
        counting = capacity.wanted(req.get("ReturnConsumedCapacity"))
        charges = []
        for part, t, item in zip(parts, refs, items, strict=True):
            proj = _projector(part)
            if item is not None and proj is not None:
                item = proj(item)
            responses.append({} if item is None else {"Item": wire.encode_item(item)})
            size = capacity.item_size(item) if counting else 0
            charges.append((t.name, capacity.read_units(size, transactional=True), "read"))
        out: Json = {"Responses": responses}
        self._capacity(req, charges, out)
        return out

    def TransactWriteItems(self, req: Json) -> Json:  # noqa: N802
        entries = req["TransactItems"]
        parts: list[Any] = []
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        counting = capacity.wanted(req.get("ReturnConsumedCapacity"))
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
            texts = {
                k: partiql.rename(spec.get(k), i)
                for k in ("ConditionExpression", "UpdateExpression")
            }
            for key, name in (spec.get("ExpressionAttributeNames") or {}).items():
                names[partiql.rename(key, i)] = name
            for key, av in (spec.get("ExpressionAttributeValues") or {}).items():
                values[partiql.rename(key, i)] = wire.decode_value(av)
            cond = texts["ConditionExpression"]
            extra: dict[str, Any] = {
                "table": t.name,
                "return_values_on_condition_check_failure": _on_failure(spec),
            }
            if kind == "Put":
                item = wire.decode_item(spec["Item"])
                parts.append(keystone.Put(item, cond, **extra))
                size = capacity.item_size(item) if counting else 0
                units = capacity.write_units(size, transactional=True)
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
        try:
            self.db.transact_write(  # every table, one commit
                parts,
                names=names or None,
                values=values or None,
                token=req.get("ClientRequestToken"),
            )
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
        statement = req["Statement"]
        table = self._statement_table(statement)
        try:
            page = table.execute(statement, params or None)
        except ConditionalCheckFailed:
            if isinstance(prepare(table, statement), InsertPlan):
                raise errors.DynamoError(
                    "DuplicateItemException", "Duplicate primary key exists in table"
                ) from None
            raise
        out: Json = {"Items": [wire.encode_item(i) for i in page.items]}
        if page.last_key is not None:
            out["NextToken"] = base64.b64encode(
                orjson.dumps(wire.encode_item(page.last_key))
            ).decode()
        return out

    def _statement_table(self, statement: str) -> keystone.Table:
        """The table a statement names (ResourceNotFoundException if the file has none)."""
        return self.tables.handle(statement_table(statement))

    def ExecuteTransaction(self, req: Json) -> Json:  # noqa: N802
        recorded = []
        for i, spec in enumerate(req["TransactStatements"]):
            statement = spec["Statement"]
            params = [wire.decode_value(p) for p in spec.get("Parameters") or ()]
            recorded.append(
                partiql.record(
                    self._statement_table(statement),
                    i,
                    statement,
                    params,
                    _on_failure(spec),
                )
            )
        reads = [r for r in recorded if r.kind == "read"]
        if reads and len(reads) != len(recorded):
            raise errors.validation(
                "A transaction holds either only reads (SELECT) or only writes "
                "(INSERT, UPDATE, DELETE), not both"
            )
        if reads:
            # (boto3 sends a ClientRequestToken with every call; reads take none and ignore it)
            items = self.db.transact_get([(r.table, r.key) for r in reads])
            responses = []
            counting = capacity.wanted(req.get("ReturnConsumedCapacity"))
            charges = []
            for r, item in zip(reads, items, strict=True):
                proj = _projector(
                    {"ProjectionExpression": r.projection, "ExpressionAttributeNames": r.names}
                )
                if item is not None and proj is not None:
                    item = proj(item)
                responses.append({} if item is None else {"Item": wire.encode_item(item)})
                size = capacity.item_size(item) if counting else 0
                charges.append((r.table, capacity.read_units(size, transactional=True), "read"))
            out: Json = {"Responses": responses}
            self._capacity(req, charges, out)
            return out
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        for r in recorded:
            names.update(r.names)
            values.update(r.values)
        try:
            self.db.transact_write(  # every statement, every table, one commit
                [r.part for r in recorded],
                names=names or None,
                values=values or None,
                token=req.get("ClientRequestToken"),
            )
        except TransactionCanceled as exc:
            reasons = _reasons(exc)
            for r, reason in zip(recorded, reasons, strict=False):
                if r.kind == "insert" and reason["Code"] == "ConditionalCheckFailed":
                    reason["Code"] = "DuplicateItem"
                    reason["Message"] = "Duplicate primary key exists in table"
            exc.wire_reasons = reasons  # type: ignore[attr-defined]
            raise
        except ValidationError as exc:
            if "same key" in str(exc) or "twice" in str(exc):
                raise errors.validation(
                    "Transaction request cannot include multiple operations on one item"
                ) from None
            raise
        out = {}
        charges = [
            (r.table, capacity.write_units(0, transactional=True), "write") for r in recorded
        ]
        self._capacity(req, charges, out)
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
        names = self.tables.names()
        start = req.get("ExclusiveStartTableName")
        if start is not None:
            names = [n for n in names if n > start]
        limit = req.get("Limit") or 100
        out: Json = {"TableNames": names[:limit]}
        if len(names) > limit:
            out["LastEvaluatedTableName"] = names[limit - 1]
        # (DynamoDB's ListTables pages by name; Limit is 1-100 by the model)
        return out

    def DeleteTable(self, req: Json) -> Json:  # noqa: N802
        return {"TableDescription": self.tables.delete(req["TableName"])}

    def UpdateTable(self, req: Json) -> Json:  # noqa: N802
        return {"TableDescription": self.tables.update(req)}

    def DescribeTimeToLive(self, req: Json) -> Json:  # noqa: N802
        attribute = self.tables.handle(req["TableName"]).schema.ttl_attribute
        if attribute is None:
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
        return {
            "TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": attribute}
        }

    def UpdateTimeToLive(self, req: Json) -> Json:  # noqa: N802
        name = self.tables.named(req["TableName"]).name
        attribute = self.tables.handle(name).schema.ttl_attribute
        spec = req["TimeToLiveSpecification"]
        if spec["Enabled"]:
            if attribute == spec["AttributeName"]:
                raise errors.validation("TimeToLive is already enabled")
            if attribute is not None:
                raise errors.validation(
                    "TimeToLive is active on a different AttributeName: current AttributeName "
                    f"is {attribute}"
                )
            self.db.update_table(name, ttl_attribute=spec["AttributeName"])
        else:
            if attribute is None:
                raise errors.validation("TimeToLive is already disabled")
            self.db.update_table(name, ttl_attribute=None)
        self.tables.changed(name)
        return {
            "TimeToLiveSpecification": {
                "Enabled": bool(spec["Enabled"]),
                "AttributeName": spec["AttributeName"],
            }
        }

    # -- tags (kept in the file with the table) ---------------------------------------------

    @staticmethod
    def _tagged(arn: str) -> str:
        """The table ARN a tag request names (ValidationException if it is not one)."""
        if ":table/" not in arn:
            raise errors.validation(f"Invalid TableArn: {arn}")
        return arn

    def TagResource(self, req: Json) -> Json:  # noqa: N802
        self.tables.retag(self._tagged(req["ResourceArn"]), add=req["Tags"])
        return {}

    def UntagResource(self, req: Json) -> Json:  # noqa: N802
        self.tables.retag(self._tagged(req["ResourceArn"]), remove=req["TagKeys"])
        return {}

    def ListTagsOfResource(self, req: Json) -> Json:  # noqa: N802
        tags = self.tables.tags(self._tagged(req["ResourceArn"]))
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
        wanted = req.get("TableName")
        names = [name_of(wanted)] if wanted else self.tables.names()
        streams = []
        for name in names:
            if self.tables.handle(name).schema.stream is not None:
                streams.append(
                    {"StreamArn": stream_arn(name), "TableName": name, "StreamLabel": STREAM_LABEL}
                )
        start = req.get("ExclusiveStartStreamArn")
        if start is not None:
            streams = [s for s in streams if s["StreamArn"] > start]
        limit = req.get("Limit") or 100
        out: Json = {"Streams": streams[:limit]}
        if len(streams) > limit:
            out["LastEvaluatedStreamArn"] = streams[limit - 1]["StreamArn"]
        return out

    def _streamed(self, arn: str) -> keystone.Table:
        """The table whose stream ``arn`` is (ResourceNotFoundException if it has none)."""
        name = _stream_table(arn)
        try:
            handle = self.tables.handle(name)
        except errors.DynamoError:
            handle = None
        if handle is None or handle.schema.stream is None or arn != stream_arn(name):
            raise errors.resource_not_found(
                f"Requested resource not found: Stream: {arn} not found"
            )
        return handle

    def DescribeStream(self, req: Json) -> Json:  # noqa: N802
        arn = req["StreamArn"]
        handle = self._streamed(arn)
        schema = handle.schema
        assert schema.stream is not None  # (checked by _streamed)
        keys = [{"AttributeName": schema.partition_key, "KeyType": "HASH"}]
        if schema.sort_key is not None:
            keys.append({"AttributeName": schema.sort_key, "KeyType": "RANGE"})
        return {
            "StreamDescription": {
                "StreamArn": arn,
                "StreamLabel": STREAM_LABEL,
                "StreamStatus": "ENABLED",
                "StreamViewType": schema.stream.view,
                "TableName": handle.name,
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
        handle = self._streamed(arn)
        if req["ShardId"] != _SHARD:
            raise errors.resource_not_found("Requested resource not found: Shard does not exist")
        kind = req["ShardIteratorType"]
        number = req.get("SequenceNumber")
        if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            # (ours count from 1 and fit 63 bits; a number that does not was never given out)
            if not (number and number.isascii() and number.isdigit() and int(number) < 2**63):
                raise errors.validation(
                    f"Invalid SequenceNumber for ShardIteratorType {kind}: {number}"
                )
            seq = int(number)
            after = max(seq - 1, 0) if kind == "AT_SEQUENCE_NUMBER" else seq
        elif kind == "TRIM_HORIZON":
            after = 0
        else:  # LATEST
            after = _last_sequence(handle)
        return {"ShardIterator": _iterator(arn, after)}

    def GetRecords(self, req: Json) -> Json:  # noqa: N802
        arn, after = _from_iterator(req["ShardIterator"])
        handle = self._streamed(arn)
        limit = req.get("Limit") or 1000
        records = handle.stream(after=after, limit=limit)
        view = handle.schema.stream.view if handle.schema.stream else "KEYS_ONLY"
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


def _last_sequence(handle: keystone.Table) -> int:
    """The highest sequence number in a table's stream (0 if none), in a few bounded reads."""
    stream = handle.stream
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


def _request_items(req: Json) -> Json:
    """A batch's ``RequestItems``, each table's part present (the model lets a null through)."""
    requested: Json = req["RequestItems"]
    nulls = [table for table, part in requested.items() if part is None]
    if nulls:
        raise model.invalid([model.null_at(f"requestItems.{table}.member") for table in nulls])
    return requested


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
