"""``DynamoStore``: a ``keystone.Store`` backed by Amazon DynamoDB or any compatible service.

The same application code runs on a file and on DynamoDB::

    db = keystone.Database.open("app.keystone")                         # before
    db = keystone_net.connect("dynamodb://app?region=eu-west-1")         # after

Every call becomes one DynamoDB request (batches: one per chunk) through a
boto3 client. Expressions pass through unchanged as DynamoDB expressions;
``sk`` conditions become the ``KeyConditionExpression``; values go through
:mod:`keystone_net.dynamodb.encoding`; errors through
:mod:`keystone_net.dynamodb.boto_errors`. Reads of the table are strongly
consistent by default (``consistent=True``), as a file's are; index reads
are eventually consistent, because DynamoDB offers nothing else on a
global index. Where DynamoDB keeps a weaker promise than the file -- batches
are not atomic, streams keep 24 hours -- ``docs/scale-out.md`` says so.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from keystone.checks import (
    PUT_RETURNS,
    UPDATE_RETURNS,
    OnConditionFailure,
    PutReturns,
    UpdateReturns,
    check_limit,
    check_returns,
    keep_old_on_failure,
)
from keystone.errors import DatabaseClosed, ValidationError
from keystone.keys import PARTITION, SORT, key_value, missing_key, schema_mismatch
from keystone.paging import every_item
from keystone.reads import SELECT_VALUES, Select, bind_read, check_select
from keystone.schema import GlobalIndex, Schema, StreamConfig
from keystone.sk import KeyValue, SortKeyCondition
from keystone.store import Store
from keystone.streams import StreamRecord
from keystone.table import Page
from keystone.types import Item
from keystone.writes import ConditionCheck, Delete, Put, TransactPart, Update, check_token

from . import definitions as _definitions
from .batches import GET_CHUNK, WRITE_CHUNK, Backoff, chunks, get_all, write_all
from .boto_errors import call
from .encoding import AttributeValue, decode_item, encode_item, encode_value, encode_values
from .streams import read_stream

#: How often botocore retries a throttled or failed request before giving up.
DEFAULT_RETRIES: Final = 10
#: DynamoDB's bound on a parallel scan's TotalSegments.
MAX_SEGMENTS: Final = 1_000_000
_SK_OPS: Final = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")
_UNSET: Any = object()


def make_client(
    service: str,
    *,
    session: Any = None,
    region: str | None = None,
    endpoint: str | None = None,
    retries: int = DEFAULT_RETRIES,
) -> Any:
    """A botocore client of ``service`` with standard retries (``retries`` attempts in all)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": retries, "mode": "standard"})
    return (session or boto3.session.Session()).client(
        service, region_name=region, endpoint_url=endpoint, config=config
    )


class DynamoStore:
    """One DynamoDB table as a ``keystone.Store`` (plus table management and streams).

    Build one from a boto3 ``client`` (``boto3.client("dynamodb", ...)``) or a
    boto3 ``session`` (``region``/``endpoint`` then pick the service), or
    with ``keystone_net.connect("dynamodb://TABLE?region=...&endpoint=...")``.
    ``consistent`` makes table reads strongly consistent (the default, as
    on a file). ``retries`` is botocore's attempt count for throttled calls
    (``ResourceExhausted`` after the last); ``backoff`` paces the rounds of
    a batch's unprocessed remainder.
    """

    def __init__(
        self,
        table: str,
        *,
        client: Any = None,
        session: Any = None,
        region: str | None = None,
        endpoint: str | None = None,
        consistent: bool = True,
        retries: int = DEFAULT_RETRIES,
        backoff: Backoff | None = None,
        streams_client: Any = None,
    ) -> None:
        if not isinstance(table, str) or not table:
            raise ValidationError("a DynamoDB table name is a non-empty str")
        self.table_name = table
        self._session = session
        self._region = region
        self._endpoint = endpoint
        self._retries = retries
        self.client = client or make_client(
            "dynamodb", session=session, region=region, endpoint=endpoint, retries=retries
        )
        self._streams = streams_client
        self.consistent = consistent
        self.backoff = backoff or Backoff()
        self._keys: _definitions.KeySchema | None = None
        self._others: dict[str, DynamoStore] = {}  # the other tables parts name, by name
        self._closed = False

    # -- lifetime ------------------------------------------------------------

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<keystone_net.DynamoStore {self.table_name!r} {state}>"

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop using the store (idempotent); the client is shared and stays usable."""
        self._closed = True

    def __enter__(self) -> DynamoStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self) -> _definitions.KeySchema:
        if self._closed:
            raise DatabaseClosed("the store is closed")
        if self._keys is None:
            self._keys = _definitions.key_schema(self._describe(self.table_name))
        return self._keys

    def _sibling(self, table: str, keys: _definitions.KeySchema | None = None) -> DynamoStore:
        other = DynamoStore(
            table,
            client=self.client,
            consistent=self.consistent,
            backoff=self.backoff,
            streams_client=self._streams,
        )
        other._session, other._region, other._endpoint = self._session, self._region, self._endpoint
        other._keys = keys
        return other

    # -- keys ----------------------------------------------------------------

    def _on(self, table: object) -> DynamoStore:
        """The store of the table a part names (``None``: this one), through the same client."""
        if table is None or table == self.table_name:
            return self
        if not isinstance(table, str) or not table:
            raise ValidationError(f"table must be a table name (a non-empty str), got {table!r}")
        other = self._others.get(table)
        if other is None:
            other = self._others[table] = self._sibling(table)
        return other

    def _key(self, pk: object, sk: object = None) -> dict[str, AttributeValue]:
        keys = self._check()
        if pk is None:
            raise ValidationError(
                schema_mismatch(f"the partition key {keys.partition_key!r} is missing")
            )
        out = {keys.partition_key: self._key_value(keys, keys.partition_key, pk, PARTITION)}
        if keys.sort_key is None:
            if sk is not None:
                raise ValidationError(
                    schema_mismatch("a sort key value was given, but the table has no sort key")
                )
        elif sk is None:
            raise ValidationError(
                schema_mismatch(
                    f"the sort key {keys.sort_key!r} is missing; DynamoDB has no optional sort key"
                )
            )
        else:
            out[keys.sort_key] = self._key_value(keys, keys.sort_key, sk, SORT)
        return out

    @staticmethod
    def _key_value(
        keys: _definitions.KeySchema, name: str, value: object, role: str, in_item: bool = False
    ) -> AttributeValue:
        """One key attribute's value, checked against its declared type (DynamoDB's messages)."""
        declared = keys.types.get(name)
        if declared in ("S", "N", "B"):
            # keystone.keys holds DynamoDB's key rules and messages: type, emptiness, length.
            key_value(value, name, declared, in_item, role)  # type: ignore[arg-type]
        return encode_value(value, name)

    def _item(self, item: Mapping[str, Any]) -> dict[str, AttributeValue]:
        """An item to write, its key attributes checked as DynamoDB checks them."""
        keys = self._check()
        encoded = encode_item(item)
        for name, role in ((keys.partition_key, PARTITION), (keys.sort_key, SORT)):
            if name is None:
                continue
            if name not in encoded:
                hint = "" if role == PARTITION else " (DynamoDB has no optional sort key)"
                raise ValidationError(missing_key(name) + hint)
            self._key_value(keys, name, item[name], role, in_item=True)
        return encoded

    def _key_arg(self, key: object, what: str) -> dict[str, AttributeValue]:
        """A key given as ``(pk, sk)``, ``(pk,)``, a bare ``pk`` or a key dict."""
        keys = self._check()
        try:
            if isinstance(key, Mapping):
                extra = set(key) - {keys.partition_key, keys.sort_key}
                if extra:
                    raise ValidationError(
                        f"has attributes that are not key attributes: {sorted(extra)}"
                    )
                if keys.partition_key not in key:
                    raise ValidationError(f"has no partition key attribute {keys.partition_key!r}")
                sk = key.get(keys.sort_key) if keys.sort_key else None
                return self._key(key[keys.partition_key], sk)
            if isinstance(key, tuple):
                if len(key) not in (1, 2):
                    raise ValidationError(f"must be (pk,) or (pk, sk), got a tuple of {len(key)}")
                return self._key(*key)
            return self._key(key)
        except ValidationError as exc:
            raise ValidationError(f"{what}: {exc}") from None

    def _table_key(self, key: object, what: str) -> tuple[DynamoStore, dict[str, AttributeValue]]:
        """A key argument, as the file takes it: also ``(table, key)`` or a ``Delete``."""
        if isinstance(key, Delete):
            if key.condition is not None:
                raise ValidationError(f"{what}: batch_write takes no conditions")
            store = self._on(key.table)
            return store, store._key_arg((key.pk, key.sk), what)
        if (
            isinstance(key, tuple)
            and len(key) == 2
            and isinstance(key[0], str)
            and isinstance(key[1], (tuple, Mapping))
        ):
            store = self._on(key[0])
            return store, store._key_arg(key[1], what)
        return self, self._key_arg(key, what)

    def _distinct(
        self, keys: Iterable[object], what: str
    ) -> list[tuple[DynamoStore, dict[str, AttributeValue]]]:
        if isinstance(keys, (str, bytes, Mapping)) or not isinstance(keys, Iterable):
            raise ValidationError(f"{what}: keys must be a list of (pk, sk) tuples or key dicts")
        out, seen = [], set()
        for i, k in enumerate(keys):
            store, key = self._table_key(k, f"{what} keys[{i}]")
            ident = (store.table_name, _identity(key))
            if ident in seen:
                raise ValidationError(
                    f"{what} keys[{i}]: the same key appears twice in one request"
                )
            seen.add(ident)
            out.append((store, key))
        return out

    # -- single items --------------------------------------------------------

    def get(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> Item | None:
        """The item with this key, or ``None``. ``projection`` picks attributes."""
        reply = call(
            self.client.get_item,
            TableName=self.table_name,
            Key=self._key(pk, sk),
            ProjectionExpression=projection,
            ExpressionAttributeNames=_names(names),
            ConsistentRead=self.consistent,
        )
        item = reply.get("Item")
        return None if item is None else decode_item(item)

    def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
    ) -> Item | None:
        """Store ``item`` if ``condition`` holds; the replaced item with ``returns="ALL_OLD"``.

        With ``return_values_on_condition_check_failure="ALL_OLD"`` a failed
        condition's ``ConditionalCheckFailed.item`` is the item as it was
        (DynamoDB's ReturnValuesOnConditionCheckFailure).
        """
        self._check()
        check_returns(returns, PUT_RETURNS)
        on_failure = _on_failure(return_values_on_condition_check_failure)
        reply = call(
            self.client.put_item,
            TableName=self.table_name,
            Item=self._item(item),
            ConditionExpression=condition,
            ExpressionAttributeNames=_names(names),
            ExpressionAttributeValues=encode_values(values),
            ReturnValues=returns,
            ReturnValuesOnConditionCheckFailure=on_failure,
        )
        return _image(reply)

    def delete(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
    ) -> Item | None:
        """Delete the item with this key if ``condition`` holds (no error if absent)."""
        check_returns(returns, PUT_RETURNS)
        on_failure = _on_failure(return_values_on_condition_check_failure)
        reply = call(
            self.client.delete_item,
            TableName=self.table_name,
            Key=self._key(pk, sk),
            ConditionExpression=condition,
            ExpressionAttributeNames=_names(names),
            ExpressionAttributeValues=encode_values(values),
            ReturnValues=returns,
            ReturnValuesOnConditionCheckFailure=on_failure,
        )
        return _image(reply)

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
    ) -> Item | None:
        """Apply an update expression (UpdateItem); returns the image ``returns`` asks for.

        Without ``update`` a missing item is created with only its key, as
        DynamoDB's UpdateItem does.
        """
        check_returns(returns, UPDATE_RETURNS)
        _check_update(update)
        on_failure = _on_failure(return_values_on_condition_check_failure)
        reply = call(
            self.client.update_item,
            TableName=self.table_name,
            Key=self._key(pk, sk),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=_names(names),
            ExpressionAttributeValues=encode_values(values),
            ReturnValues=returns,
            ReturnValuesOnConditionCheckFailure=on_failure,
        )
        return _image(reply)

    # -- queries and scans -------------------------------------------------------

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
    ) -> Page:
        """One page of partition ``pk`` in sort-key order (Query).

        ``sk`` becomes the ``KeyConditionExpression``; or give DynamoDB's own
        ``key_condition`` text instead of ``pk``/``sk``. ``select="COUNT"``
        returns only the counts.
        """
        keys = self._check()
        if sk is not None and not isinstance(sk, SortKeyCondition):
            raise ValidationError(
                "sk must be a condition from keystone.sk, e.g. sk.begins_with('a')"
            )
        check_limit(limit)
        _check_select(select, projection, index)
        pk_attr, sk_attr = keys.index_keys(index)
        all_names = dict(names or {})
        all_values = dict(encode_values(values) or {})
        if key_condition is not None:
            if pk is not None or sk is not None:
                raise ValidationError("query takes either pk/sk or key_condition, not both")
            if not isinstance(key_condition, str):
                raise ValidationError(
                    f"key_condition must be a str, got {type(key_condition).__name__}"
                )
            expression = key_condition
        elif pk is None:
            raise ValidationError("query needs a partition key: pk=... or key_condition=...")
        else:
            all_names["#ks_p"] = pk_attr
            all_values[":ks_p"] = encode_value(pk, "partition key")
            expression = "#ks_p = :ks_p"
            if sk is not None:
                if sk_attr is None:
                    raise ValidationError(
                        "a sort key condition was given, but there is no sort key"
                    )
                all_names["#ks_s"] = sk_attr
                all_values[":ks_v"] = encode_value(sk.value, "sort key condition value")
                if sk.op == "between":
                    all_values[":ks_u"] = encode_value(sk.upper, "sort key condition upper bound")
                    expression += " AND #ks_s BETWEEN :ks_v AND :ks_u"
                elif sk.op == "begins_with":
                    expression += " AND begins_with(#ks_s, :ks_v)"
                else:
                    expression += f" AND #ks_s {_SK_OPS[sk.op]} :ks_v"
            if (
                start is not None
                and index is None
                and isinstance(start, Mapping)
                and start.get(pk_attr) != pk
            ):
                raise ValidationError(
                    "The provided starting key is invalid: it is not a key of the queried partition"
                )
        reply = call(
            self.client.query,
            TableName=self.table_name,
            IndexName=index,
            KeyConditionExpression=expression,
            FilterExpression=filter,
            ProjectionExpression=projection,
            ExpressionAttributeNames=all_names or None,
            ExpressionAttributeValues=all_values or None,
            Limit=limit,
            ExclusiveStartKey=self._start(start),
            ScanIndexForward=not reverse,
            ConsistentRead=self._consistent(index),
            Select=select,
        )
        return _page(reply)

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
    ) -> Page:
        """One page of the table or of an index (Scan); ``segment`` of ``total_segments``."""
        keys = self._check()
        check_limit(limit)
        _check_select(select, projection, index)
        if index is not None:
            keys.index_keys(index)
        _check_segments(segment, total_segments)
        parallel = total_segments != 1 or segment != 0
        reply = call(
            self.client.scan,
            TableName=self.table_name,
            IndexName=index,
            FilterExpression=filter,
            ProjectionExpression=projection,
            ExpressionAttributeNames=_names(names),
            ExpressionAttributeValues=encode_values(values),
            Limit=limit,
            ExclusiveStartKey=self._start(start),
            Segment=segment if parallel else None,
            TotalSegments=total_segments if parallel else None,
            ConsistentRead=self._consistent(index),
            Select=select,
        )
        return _page(reply)

    def query_all(
        self, pk: KeyValue | None = None, sk: SortKeyCondition | None = None, **kwargs: Any
    ) -> Iterator[Item]:
        """Every item of every page of ``query(pk, sk, **kwargs)``."""
        yield from every_item(
            lambda start: self.query(pk, sk, start=start, **kwargs), kwargs.pop("start", None)
        )

    def scan_all(self, **kwargs: Any) -> Iterator[Item]:
        """Every item of every page of ``scan(**kwargs)``."""
        yield from every_item(
            lambda start: self.scan(start=start, **kwargs), kwargs.pop("start", None)
        )

    def _start(self, start: Mapping[str, Any] | None) -> dict[str, AttributeValue] | None:
        if start is None:
            return None
        if not isinstance(start, Mapping):
            raise ValidationError("start must be the last_key dict of a previous page")
        return encode_item(start)

    def _consistent(self, index: str | None) -> bool | None:
        return self.consistent if index is None else None

    # -- batches -------------------------------------------------------------

    def batch_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> list[Item]:
        """The items with these keys, in request order; missing ones are left out.

        A key may be ``(table, key)`` to read another table in the same call.
        Sent 100 keys per BatchGetItem; unprocessed keys are asked again with
        backoff (``ResourceExhausted`` when they never come). ``projection``
        is sent as each table's ProjectionExpression, with the key attributes
        added so that the items can be put back in request order (and then
        left out again if the projection did not name them).
        """
        self._check()
        wanted = self._distinct(keys, "batch_get")
        proj = _projector(projection, names)
        found: dict[tuple[str, tuple[Any, ...]], Item] = {}
        for chunk in chunks(wanted, GET_CHUNK):
            requests: dict[str, dict[str, Any]] = {}
            for store, key in chunk:
                request = requests.get(store.table_name)
                if request is None:
                    request = requests[store.table_name] = {
                        "Keys": [],
                        "ConsistentRead": self.consistent,
                        **store._projection_with_keys(projection, names, proj),
                    }
                request["Keys"].append(key)
            reply = get_all(self.client, requests, self.backoff)
            for table, raws in reply.items():
                key_names = self._on(table)._key_names()
                for raw in raws:
                    ident = (table, _identity({k: raw[k] for k in key_names}))
                    item = decode_item(raw)
                    found[ident] = item if proj is None else proj(item)
        return [found[i] for i in ((s.table_name, _identity(k)) for s, k in wanted) if i in found]

    def _projection_with_keys(
        self, projection: str | None, names: Mapping[str, str] | None, proj: Any
    ) -> dict[str, Any]:
        """A table's ProjectionExpression arguments for batch_get: the projection plus its keys."""
        if projection is None:
            return {}
        out_names = dict(names or {})
        text = projection
        # Attributes the projection names whole (a key attribute is a scalar: nothing below it).
        have = {str(path[0]) for path in getattr(proj, "paths", ()) if len(path) == 1}
        for i, attr in enumerate(self._key_names()):
            if attr not in have:
                out_names[f"#ks_k{i}"] = attr
                text += f", #ks_k{i}"
        return {"ProjectionExpression": text, "ExpressionAttributeNames": out_names or None}

    def batch_write(
        self, puts: Iterable[Mapping[str, Any]] = (), deletes: Iterable[object] = ()
    ) -> None:
        """Put and delete many items, 25 per BatchWriteItem request.

        A put may be ``keystone.Put(item, table="orders")`` and a delete
        ``keystone.Delete(pk, sk, table="orders")`` or ``(table, key)``, to
        write several tables. Every item is validated before anything is
        sent, and a key given twice raises ``ValidationError`` with nothing
        written. Unlike a file's batch, this is *not* one atomic commit: each
        chunk of 25 is applied on its own, and a chunk's unprocessed writes
        are retried with backoff; ``ResourceExhausted`` after the last round
        means that earlier chunks were applied. Use ``transact_write`` for
        all or nothing.
        """
        self._check()
        if isinstance(puts, Mapping) or not isinstance(puts, Iterable):
            raise ValidationError("batch_write: puts must be a list of items, not one item")
        if isinstance(deletes, (str, bytes, Mapping)) or not isinstance(deletes, Iterable):
            raise ValidationError(
                "batch_write: deletes must be a list of (pk, sk) tuples or key dicts"
            )
        requests: list[tuple[str, dict[str, Any]]] = []
        seen: set[tuple[str, tuple[Any, ...]]] = set()
        for i, raw in enumerate(puts):
            try:
                store = self
                if isinstance(raw, Put):
                    if raw.condition is not None:
                        raise ValidationError(
                            "batch_write takes no conditions (use transact_write)"
                        )
                    store, raw = self._on(raw.table), raw.item
                item = store._item(raw)
            except ValidationError as exc:
                raise ValidationError(f"batch_write puts[{i}]: {exc}") from None
            ident = (store.table_name, _identity({k: item[k] for k in store._key_names()}))
            if ident in seen:
                raise ValidationError(
                    f"batch_write puts[{i}]: the same key appears twice in one request"
                )
            seen.add(ident)
            requests.append((store.table_name, {"PutRequest": {"Item": item}}))
        for i, k in enumerate(deletes):
            store, key = self._table_key(k, f"batch_write deletes[{i}]")
            ident = (store.table_name, _identity(key))
            if ident in seen:
                raise ValidationError(
                    f"batch_write deletes[{i}]: the same key appears twice in one request"
                )
            seen.add(ident)
            requests.append((store.table_name, {"DeleteRequest": {"Key": key}}))
        for chunk in chunks(requests, WRITE_CHUNK):
            grouped: dict[str, list[dict[str, Any]]] = {}
            for table, request in chunk:
                grouped.setdefault(table, []).append(request)
            write_all(self.client, grouped, self.backoff)

    def _key_of(self, body: Mapping[str, Any]) -> dict[str, AttributeValue]:
        """The key of a transaction part's body (its ``Key``, or its ``Item``'s key attributes)."""
        if "Key" in body:
            key: dict[str, AttributeValue] = body["Key"]
            return key
        return {k: body["Item"][k] for k in self._key_names()}

    def _key_names(self) -> tuple[str, ...]:
        keys = self._check()
        return (keys.partition_key,) + ((keys.sort_key,) if keys.sort_key else ())

    # -- transactions --------------------------------------------------------

    def transact_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> list[Item | None]:
        """The items with these keys from one snapshot (TransactGetItems), ``None`` for missing.

        A key may be given more than once (it is read once), and may be
        ``(table, key)`` to read another table. ``projection`` is each Get's
        ProjectionExpression.
        """
        self._check()
        if isinstance(keys, (str, bytes, Mapping)) or not isinstance(keys, Iterable):
            raise ValidationError(
                "transact_get: keys must be a list of (pk, sk) tuples or key dicts"
            )
        proj = _projector(projection, names)
        wanted = [self._table_key(k, f"transact_get keys[{i}]") for i, k in enumerate(keys)]
        distinct: dict[tuple[str, tuple[Any, ...]], tuple[str, dict[str, AttributeValue]]] = {}
        for store, key in wanted:
            distinct.setdefault((store.table_name, _identity(key)), (store.table_name, key))
        if not distinct:
            return []
        gets = []
        for table, key in distinct.values():
            get: dict[str, Any] = {"TableName": table, "Key": key}
            if projection is not None:
                get["ProjectionExpression"] = projection
                if names:
                    get["ExpressionAttributeNames"] = dict(names)
            gets.append({"Get": get})
        reply = call(self.client.transact_get_items, TransactItems=gets)
        # (The projection is applied here too: a no-op after DynamoDB's, and it makes
        # emulators that ignore a Get's ProjectionExpression give the same items.)
        got = {
            ident: (decode_item(r["Item"]) if proj is None else proj(decode_item(r["Item"])))
            if r.get("Item")
            else None
            for ident, r in zip(distinct, reply["Responses"], strict=True)
        }
        return [got[(store.table_name, _identity(key))] for store, key in wanted]

    def transact_write(
        self,
        parts: Iterable[TransactPart],
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> None:
        """Apply every part or none of them (TransactWriteItems).

        A part's ``table=`` names the DynamoDB table it acts on (this one if
        none). ``names``/``values`` are shared by all parts; each part is sent
        the placeholders its own expressions use. ``token`` is DynamoDB's
        ``ClientRequestToken``. A failed part raises ``TransactionCanceled``
        with one reason per part (from ``CancellationReasons``) and, for a
        part with ``return_values_on_condition_check_failure="ALL_OLD"``, the
        item as it was in ``items``.
        """
        self._check()
        if isinstance(parts, (Put, Update, Delete, ConditionCheck, Mapping)) or not isinstance(
            parts, Iterable
        ):
            raise ValidationError("transact_write: parts must be a list of parts, not one part")
        if token is not None:
            check_token(token)
        encoded = encode_values(values) or {}
        used: set[str] = set()
        seen: set[tuple[str, tuple[Any, ...]]] = set()
        items = []
        for i, part in enumerate(parts):
            try:
                store = self._on(getattr(part, "table", None))
                entry, texts = store._part(part)
            except ValidationError as exc:
                raise ValidationError(f"transact_write part {i}: {exc}") from None
            mine = {p for text in texts for p in _PLACEHOLDER.findall(text)}
            for p in sorted(mine):
                if p.startswith("#") and p not in (names or {}):
                    raise ValidationError(
                        f"transact_write part {i}: An expression attribute name used in the "
                        f"document path is not defined; attribute name: {p}"
                    )
                if p.startswith(":") and p not in encoded:
                    raise ValidationError(
                        f"transact_write part {i}: An expression attribute value used in "
                        f"expression is not defined; attribute value: {p}"
                    )
            used |= mine
            body = next(iter(entry.values()))
            part_names = {p: n for p, n in (names or {}).items() if p in mine}
            part_values = {p: v for p, v in encoded.items() if p in mine}
            if part_names:
                body["ExpressionAttributeNames"] = part_names
            if part_values:
                body["ExpressionAttributeValues"] = part_values
            ident = (store.table_name, _identity(store._key_of(body)))
            if ident in seen:
                raise ValidationError(
                    "Transaction request cannot include multiple operations on one item"
                    f"; part {i} repeats a key"
                )
            seen.add(ident)
            items.append(entry)
        problems = []
        unused_names = sorted(set(names or {}) - used)
        unused_values = sorted(set(encoded) - used)
        if unused_names:
            problems.append(
                "Value provided in ExpressionAttributeNames unused in expressions: "
                f"keys: {{{', '.join(unused_names)}}}"
            )
        if unused_values:
            problems.append(
                "Value provided in ExpressionAttributeValues unused in expressions: "
                f"keys: {{{', '.join(unused_values)}}}"
            )
        if problems:
            raise ValidationError("transact_write: " + "; ".join(problems))
        if not items:
            return
        call(self.client.transact_write_items, TransactItems=items, ClientRequestToken=token)

    def _part(self, part: object) -> tuple[dict[str, Any], list[str]]:
        table = self.table_name
        if isinstance(part, Put):
            body: dict[str, Any] = {"TableName": table, "Item": self._item(part.item)}
            kind = "Put"
        elif isinstance(part, Update):
            _check_update(part.update)
            body = {"TableName": table, "Key": self._key(part.pk, part.sk)}
            if part.update is not None:
                body["UpdateExpression"] = part.update
            kind = "Update"
        elif isinstance(part, Delete):
            body = {"TableName": table, "Key": self._key(part.pk, part.sk)}
            kind = "Delete"
        elif isinstance(part, ConditionCheck):
            if not isinstance(part.condition, str) or not part.condition.strip():
                raise ValidationError("ConditionCheck needs a condition")
            body = {"TableName": table, "Key": self._key(part.pk, part.sk)}
            kind = "ConditionCheck"
        else:
            raise ValidationError(
                "parts must be keystone.Put, Update, Delete or ConditionCheck, "
                f"got {type(part).__name__}"
            )
        if part.condition is not None:
            body["ConditionExpression"] = part.condition
        on_failure = _on_failure(part.return_values_on_condition_check_failure)
        if on_failure is not None:
            body["ReturnValuesOnConditionCheckFailure"] = on_failure
        texts = [body.get("ConditionExpression", ""), body.get("UpdateExpression", "")]
        return {kind: body}, texts

    # -- PartiQL -------------------------------------------------------------

    def execute(self, statement: str, parameters: Sequence[Any] | None = None) -> Page:
        """Run one PartiQL statement (ExecuteStatement); every page of a SELECT, as one Page."""
        self._check()
        if not isinstance(statement, str) or not statement.strip():
            raise ValidationError("execute: the statement must be a non-empty str")
        params = None
        if parameters is not None:
            params = [encode_value(p, f"parameters[{i}]") for i, p in enumerate(parameters)]
        items: list[Item] = []
        token = None
        while True:
            reply = call(
                self.client.execute_statement,
                Statement=statement,
                Parameters=params,
                NextToken=token,
                ConsistentRead=self.consistent,
            )
            items.extend(decode_item(i) for i in reply.get("Items", []))
            token = reply.get("NextToken")
            if not token:
                break
        return Page(items, len(items), len(items), None)

    # -- streams ---------------------------------------------------------------

    @property
    def streams_client(self) -> Any:
        if self._streams is None:
            meta = self.client.meta
            self._streams = make_client(
                "dynamodbstreams",
                session=self._session,
                region=self._region or meta.region_name,
                endpoint=self._endpoint or meta.endpoint_url,
                retries=self._retries,
            )
        return self._streams

    def stream(self, after: int | None = None, limit: int | None = None) -> list[StreamRecord]:
        """Records of the table's DynamoDB Stream with a sequence number above ``after``, oldest first."""
        self._check()
        if after is not None and (
            not isinstance(after, int) or isinstance(after, bool) or after < 0
        ):
            raise ValidationError(f"after must be a sequence number (int >= 0), got {after!r}")
        check_limit(limit)
        description = self._describe(self.table_name)
        arn = description.get("LatestStreamArn")
        if not arn or not (description.get("StreamSpecification") or {}).get("StreamEnabled"):
            raise ValidationError("this table has no stream (Schema(stream=StreamConfig(...)))")
        return read_stream(self.streams_client, arn, after, limit)

    # -- tables ----------------------------------------------------------------

    def _describe(self, name: str) -> dict[str, Any]:
        table: dict[str, Any] = call(self.client.describe_table, TableName=name)["Table"]
        return table

    def create_table(
        self,
        name: str,
        schema: Schema | None = None,
        *,
        types: Mapping[str, str] | None = None,
        wait: float = 600.0,
        **request: Any,
    ) -> DynamoStore:
        """Create table ``name`` with ``schema``'s keys, indexes, stream and TTL; wait until ACTIVE.

        Key attributes are ``S`` unless ``types`` (or a ``(name, type)`` key)
        says ``N`` or ``B``. Extra keyword arguments go to ``CreateTable``
        (``BillingMode``, ``ProvisionedThroughput``, ``Tags``, ...).
        """
        if self._closed:
            raise DatabaseClosed("the store is closed")
        schema = schema if schema is not None else Schema()
        args = {**_definitions.create_table_request(name, schema, types), **request}
        call(self.client.create_table, **args)
        description = _definitions.wait_active(self.client, name, wait)
        if schema.ttl_attribute:
            call(
                self.client.update_time_to_live,
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.ttl_attribute},
            )
        return self._sibling(name, _definitions.key_schema(description))

    def table(self, name: str) -> DynamoStore:
        """The store of another table through the same client (``NotFound`` if absent)."""
        return self._sibling(name, _definitions.key_schema(self._describe(name)))

    def tables(self) -> list[str]:
        """The names of every table the client's account and region hold, sorted."""
        names: list[str] = []
        start = None
        while True:
            reply = call(self.client.list_tables, ExclusiveStartTableName=start)
            names.extend(reply.get("TableNames", []))
            start = reply.get("LastEvaluatedTableName")
            if not start:
                return sorted(names)

    def describe_table(self, name: str | None = None) -> dict[str, Any]:
        """DynamoDB's ``TableDescription`` of table ``name`` (default: this store's)."""
        return self._describe(name or self.table_name)

    def schema_of(self, name: str | None = None) -> Schema:
        """The ``keystone.Schema`` of table ``name`` (default: this store's), TTL included."""
        name = name or self.table_name
        ttl = call(self.client.describe_time_to_live, TableName=name)["TimeToLiveDescription"]
        attribute = ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None
        return _definitions.schema_of(self._describe(name), attribute)

    @property
    def schema(self) -> Schema:
        return self.schema_of()

    def delete_table(self, name: str, *, wait: float = 600.0) -> None:
        """Delete table ``name`` and wait until it is gone (``NotFound`` if absent)."""
        call(self.client.delete_table, TableName=name)
        _definitions.wait_gone(self.client, name, wait)
        if name == self.table_name:
            self._keys = None

    def update_table(
        self,
        name: str,
        add_indexes: Sequence[GlobalIndex] = (),
        drop_indexes: Sequence[str | GlobalIndex] = (),
        stream: StreamConfig | None = _UNSET,
        *,
        types: Mapping[str, str] | None = None,
        wait: float = 600.0,
    ) -> dict[str, Any]:
        """Add or drop global indexes and change the stream, each change waited for (ACTIVE).

        DynamoDB changes one global index per request and cannot add a
        local index to an existing table (``ValidationError``).
        """
        for gidx in add_indexes:
            if not isinstance(gidx, GlobalIndex):
                raise ValidationError(
                    "update_table: DynamoDB adds only global indexes to an existing table"
                )
            entry, attrs = _definitions.global_index_definition(gidx, types or {})
            # Every attribute definition, the table's own with the new index's: DynamoDB
            # merges them either way, and an emulator that replaces them loses none.
            known = _definitions.key_schema(self._describe(name)).types
            conflict = [a for a, t in attrs.items() if known.get(a, t) != t]
            if conflict:
                raise ValidationError(
                    f"update_table: attribute {conflict[0]!r} is a key attribute of type "
                    f"{known[conflict[0]]} already, not {attrs[conflict[0]]}"
                )
            call(
                self.client.update_table,
                TableName=name,
                AttributeDefinitions=[
                    {"AttributeName": a, "AttributeType": t} for a, t in {**known, **attrs}.items()
                ],
                GlobalSecondaryIndexUpdates=[{"Create": entry}],
            )
            _definitions.wait_active(self.client, name, wait)
        for dropped in _definitions.index_names(drop_indexes):
            call(
                self.client.update_table,
                TableName=name,
                GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": dropped}}],
            )
            _definitions.wait_active(self.client, name, wait)
        if stream is not _UNSET:
            call(
                self.client.update_table,
                TableName=name,
                StreamSpecification=_definitions.stream_specification(stream),
            )
        description = _definitions.wait_active(self.client, name, wait)
        if name == self.table_name:
            self._keys = _definitions.key_schema(description)
        return description

    def stats(self) -> dict[str, Any]:
        """DynamoDB's item count and size (refreshed by DynamoDB about every six hours) and keys."""
        keys = self._check()
        description = self._describe(self.table_name)
        return {
            "items": description.get("ItemCount", 0),
            "table_bytes": description.get("TableSizeBytes", 0),
            "partition_key": keys.partition_key,
            "sort_key": keys.sort_key,
            "indexes": {name: None for name in keys.indexes},
        }

    @staticmethod
    def _is_a_store(store: DynamoStore) -> Store:
        return store


def _check_update(update: object) -> None:
    """``None`` (UpdateItem with no actions: the key-only item) or a non-empty expression."""
    if update is None:
        return
    if not isinstance(update, str):
        raise ValidationError(f"update must be a str, got {type(update).__name__}")
    if not update.strip():
        raise ValidationError("Invalid UpdateExpression: The expression can not be empty;")


def _projector(projection: str | None, names: Mapping[str, str] | None) -> Any:
    """The library's compiled ``projection`` (``None`` without one); unused names are refused."""
    if projection is None and not names:
        return None
    return bind_read(names, None, proj=projection)[2]


def _on_failure(choice: object) -> str | None:
    """ReturnValuesOnConditionCheckFailure for ``return_values_on_condition_check_failure``."""
    return "ALL_OLD" if keep_old_on_failure(choice) else None


def _check_select(select: object, projection: str | None, index: str | None) -> None:
    """``select`` checked as the file checks it (what depends on the index: DynamoDB checks)."""
    if select is None:
        return
    if index is None:
        check_select(select, projection, None)
    elif type(select) is not str or select not in SELECT_VALUES:
        check_select(select, projection, None)  # raises with the file's message


def _check_segments(segment: object, total_segments: object) -> None:
    for name, value in (("segment", segment), ("total_segments", total_segments)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError(f"{name} must be an int, got {value!r}")
    assert isinstance(segment, int) and isinstance(total_segments, int)
    if not 1 <= total_segments <= MAX_SEGMENTS:
        raise ValidationError(
            f"total_segments must be between 1 and {MAX_SEGMENTS}, got {total_segments}"
        )
    if not 0 <= segment < total_segments:
        raise ValidationError(
            f"segment must be between 0 and total_segments - 1 ({total_segments - 1}), got {segment}"
        )


def _names(names: Mapping[str, str] | None) -> dict[str, str] | None:
    return dict(names) if names else None


def _image(reply: Mapping[str, Any]) -> Item | None:
    attributes = reply.get("Attributes")
    return decode_item(attributes) if attributes else None


def _page(reply: Mapping[str, Any]) -> Page:
    items = [decode_item(i) for i in reply.get("Items", [])]
    last = reply.get("LastEvaluatedKey")
    return Page(
        items,
        int(reply.get("Count", len(items))),
        int(reply.get("ScannedCount", len(items))),
        decode_item(last) if last else None,
    )


def _identity(key: Mapping[str, AttributeValue]) -> tuple[Any, ...]:
    """A hashable identity of an encoded key."""
    return tuple(sorted((name, repr(sorted(av.items()))) for name, av in key.items()))


def parse_dynamodb_url(url: str) -> dict[str, Any]:
    """``dynamodb://TABLE?region=R&endpoint=URL&consistent=0`` -> constructor arguments."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "dynamodb":
        raise ValidationError(f"not a dynamodb:// URL: {url!r}")
    table = urllib.parse.unquote(parts.netloc + parts.path).strip("/")
    if not table:
        raise ValidationError(f"{url!r}: name the table, as in dynamodb://TABLE?region=us-east-1")
    query = dict(urllib.parse.parse_qsl(parts.query))
    args: dict[str, Any] = {"table": table}
    unknown = set(query) - {"region", "endpoint", "consistent", "retries", "profile"}
    if unknown:
        raise ValidationError(f"{url!r}: unknown parameter {sorted(unknown)[0]!r}")
    if "region" in query:
        args["region"] = query["region"]
    if "endpoint" in query:
        args["endpoint"] = query["endpoint"]
    if "consistent" in query:
        args["consistent"] = query["consistent"].lower() not in ("0", "false", "no")
    if "retries" in query:
        try:
            args["retries"] = int(query["retries"])
        except ValueError:
            raise ValidationError(f"{url!r}: retries must be an int") from None
    if "profile" in query:
        import boto3

        args["session"] = boto3.session.Session(profile_name=query["profile"])
    return args


def connect_dynamodb(url: str, **kwargs: Any) -> DynamoStore:
    """The :class:`DynamoStore` of a ``dynamodb://TABLE?region=...&endpoint=...`` URL."""
    args = parse_dynamodb_url(url)
    args.update(kwargs)
    return DynamoStore(args.pop("table"), **args)


__all__ = [
    "DEFAULT_RETRIES",
    "DynamoStore",
    "connect_dynamodb",
    "make_client",
    "parse_dynamodb_url",
]
