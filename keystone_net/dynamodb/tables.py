"""The tables of the served file as DynamoDB tables: which one a request names, and the table operations.

Every table of the file is a DynamoDB table of the same name (SPEC §10);
the library's default table is the table ``default``. :class:`Tables`
resolves a request's ``TableName`` (a name or a table ARN) to a
:class:`TableRef` (the library's ``keystone.Table`` handle and its key
attribute names) and answers CreateTable, DescribeTable, ListTables,
UpdateTable and DeleteTable by converting DynamoDB's shapes to the
library's ``create_table`` / ``describe_table`` / ``tables`` /
``update_table`` / ``delete_table`` and back. The library owns the rules
of names, key types and indexes; what is converted here is only what the
wire says (``AttributeDefinitions`` typing the key attributes, the index
and stream specifications).

What DynamoDB describes beyond the schema (the billing mode and the
provisioned throughput asked for, the tags) is kept in the file with the
table, as the library's table properties (``Database.set_table_properties``),
so it survives a restart and goes with a deleted table. ``TableSizeBytes``
and ``IndexSizeBytes`` are sizes by DynamoDB's item-size rules: exact up to
:data:`SIZE_SAMPLE` items, beyond that the mean of the first
:data:`SIZE_SAMPLE` times the exact count.
"""

from __future__ import annotations

import datetime as _dt
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import keystone
from keystone.errors import NotFound, ValidationError

from . import errors
from .capacity import item_size

__all__ = ["ACCOUNT", "REGION", "STREAM_LABEL", "TableRef", "Tables", "stream_arn", "table_arn"]

#: The account and region of every ARN the endpoint makes (DynamoDB Local's).
ACCOUNT: Final = "000000000000"
REGION: Final = "ddblocal"
DEFAULT_TABLE: Final = "default"
STREAM_LABEL: Final = "1970-01-01T00:00:00.000"

_PAY: Final = "PAY_PER_REQUEST"
_PROVISIONED: Final = "PROVISIONED"
#: How many items a size in a description is measured over (beyond: estimated).
SIZE_SAMPLE: Final = 1000
#: DynamoDB's most tags per resource.
MAX_TAGS: Final = 50


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def stream_arn(name: str) -> str:
    return f"{table_arn(name)}/stream/{STREAM_LABEL}"


def name_of(table: str) -> str:
    """The table name of a ``TableName`` member (a name, or a table ARN)."""
    if table.startswith("arn:"):
        _, _, rest = table.partition(":table/")
        name = rest.split("/", 1)[0]
        if not name:
            raise errors.validation(f"Invalid TableArn: {table}")
        return name
    return table


def _not_found(name: str) -> errors.DynamoError:
    return errors.resource_not_found(f"Requested resource not found: Table: {name} not found")


def _in_use(message: str) -> errors.DynamoError:
    return errors.DynamoError("ResourceInUseException", message)


def _invalid(message: str) -> errors.DynamoError:
    return errors.validation("One or more parameter values were invalid: " + message)


@dataclass(frozen=True, slots=True)
class TableRef:
    """One table as the operations use it."""

    name: str
    store: keystone.Table
    pk: str
    sk: str | None
    #: Whether an item may lack the sort key (a legacy, untyped key schema).
    sk_optional: bool


@dataclass(slots=True)
class _Settings:
    """A table's billing mode and throughput, as kept in its properties."""

    billing: str = _PAY
    read_units: int = 0
    write_units: int = 0
    #: Global index name -> its own ``(read, write)`` units (PROVISIONED tables).
    indexes: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: When the table last became PAY_PER_REQUEST (epoch seconds; 0: when made).
    pay_since: float = 0.0

    @classmethod
    def of(cls, props: Mapping[str, Any]) -> _Settings:
        return cls(
            props.get("billing_mode", _PAY),
            int(props.get("read_units", 0)),
            int(props.get("write_units", 0)),
            {k: (int(v[0]), int(v[1])) for k, v in (props.get("index_units") or {}).items()},
            float(props.get("pay_since", 0.0)),
        )

    def props(self) -> dict[str, Any]:
        return {
            "billing_mode": self.billing,
            "read_units": self.read_units,
            "write_units": self.write_units,
            "index_units": {k: list(v) for k, v in self.indexes.items()},
            "pay_since": self.pay_since,
        }

    def index_units(self, index: str) -> tuple[int, int]:
        if self.billing == _PAY:
            return 0, 0
        return self.indexes.get(index, (self.read_units, self.write_units))


class Tables:
    """The tables of one database file, as the endpoint serves them."""

    def __init__(self, db: keystone.Database) -> None:
        self._db = db
        self._refs: dict[str, TableRef] = {}
        self._lock = threading.Lock()
        try:
            self._file_created = os.path.getctime(db.path)
        except (OSError, TypeError, ValueError):
            self._file_created = time.time()

    # -- resolving ----------------------------------------------------------------

    def get(self, table: str) -> TableRef:
        """The table a request's ``TableName`` names (ResourceNotFoundException if none)."""
        ref = self._refs.get(table)
        if ref is not None and not _dropped(ref.store):
            return ref
        name = name_of(table)
        try:
            handle = self._db.table(name)
        except NotFound:
            raise errors.resource_not_found() from None  # (DynamoDB's words for item operations)
        schema = handle.schema
        ref = TableRef(name, handle, schema.partition_key, schema.sort_key, not schema.typed)
        with self._lock:
            if len(self._refs) < 4096:  # (bounded: names of deleted tables are dropped too)
                self._refs[table] = ref
        return ref

    def changed(self, name: str) -> None:
        """Forget what was resolved of table ``name`` (its schema changed)."""
        with self._lock:
            for key in [k for k, ref in self._refs.items() if ref.name == name]:
                del self._refs[key]

    def _settings(self, name: str) -> _Settings:
        try:
            return _settings_of(self._db.table_properties(name))
        except NotFound:
            raise _not_found(name) from None

    def handle(self, table: str) -> keystone.Table:
        """The library's handle of ``table`` (for what only needs the table)."""
        return self.get(table).store

    def named(self, table: str) -> keystone.Table:
        """:meth:`handle`, with DescribeTable's words when there is no such table."""
        try:
            return self.get(table).store
        except errors.DynamoError as exc:
            if exc.code == "ResourceNotFoundException":
                raise _not_found(name_of(table)) from None
            raise

    # -- descriptions -------------------------------------------------------------

    def describe(self, table: str, status: str = "ACTIVE") -> dict[str, Any]:
        """DynamoDB's ``TableDescription`` of ``table``: the library's, with what the wire adds."""
        name = name_of(table)
        try:
            out = self._db.describe_table(name)
        except NotFound:
            raise _not_found(name) from None
        out.pop("TimeToLiveDescription", None)  # (DescribeTimeToLive's, not DescribeTable's)
        settings = self._settings(name)
        arn = table_arn(name)
        created = out.get("CreationDateTime")
        out["CreationDateTime"] = (
            created.timestamp() if isinstance(created, _dt.datetime) else self._file_created
        )
        out["TableStatus"] = status
        out["TableId"] = f"keystone-{name}"
        out["TableArn"] = arn
        handle = self._db.table(name)
        schema = handle.schema
        out["TableSizeBytes"] = _size(handle, None, out["ItemCount"])

        def throughput(units: tuple[int, int]) -> dict[str, int]:
            return {
                "ReadCapacityUnits": units[0],
                "WriteCapacityUnits": units[1],
                "NumberOfDecreasesToday": 0,
            }

        out["ProvisionedThroughput"] = throughput(
            (settings.read_units, settings.write_units) if settings.billing != _PAY else (0, 0)
        )
        if settings.billing == _PAY:
            out["BillingModeSummary"] = {
                "BillingMode": _PAY,
                "LastUpdateToPayPerRequestDateTime": settings.pay_since or out["CreationDateTime"],
            }
        out["DeletionProtectionEnabled"] = False
        for key in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
            for index in out.get(key, ()):
                index["IndexArn"] = f"{arn}/index/{index['IndexName']}"
                index["IndexSizeBytes"] = _size(handle, index["IndexName"], index["ItemCount"])
                if key == "GlobalSecondaryIndexes":
                    index["ProvisionedThroughput"] = throughput(
                        settings.index_units(index["IndexName"])
                    )
        if schema.stream is not None:
            out["LatestStreamArn"] = stream_arn(name)
            out["LatestStreamLabel"] = STREAM_LABEL
        return out

    def names(self) -> list[str]:
        """The tables ListTables lists, sorted: every table of the file.

        The default table is listed once it is in use (it holds an item, an
        index or a stream): a file made by the endpoint lists exactly the
        tables created through it, as DynamoDB does.
        """
        names = self._db.tables()
        if DEFAULT_TABLE in names and not self._default_in_use():
            names.remove(DEFAULT_TABLE)
        return names

    def _default_in_use(self) -> bool:
        db = self._db
        schema = db.schema
        if schema.indexes or schema.stream is not None:
            return True
        page = db.scan(limit=1)
        return bool(page.items) or page.last_key is not None

    # -- CreateTable --------------------------------------------------------------

    def create(self, req: Mapping[str, Any]) -> dict[str, Any]:
        name = name_of(req["TableName"])
        types = _attribute_types(req.get("AttributeDefinitions") or ())
        used: set[str] = set()
        if not req.get("KeySchema"):  # (optional in the model, for replicas of a global table)
            raise errors.validation(
                "No defined key schema. A key schema containing at least a hash key must be "
                "defined for all tables"
            )
        pk, sk = _key_schema(req["KeySchema"], types, used, "KeySchema")
        local = []
        for spec in req.get("LocalSecondaryIndexes") or ():
            ipk, isk = _key_schema(spec["KeySchema"], types, used, "LocalSecondaryIndexes")
            if isk is None:
                raise _invalid("Local Secondary Index must have a range key")
            if ipk[0] != pk[0]:
                raise _invalid(
                    "Index KeySchema does not have the same leading hash key as table KeySchema "
                    f"for index: {spec['IndexName']}. index hash key: {ipk[0]}, table hash key: "
                    f"{pk[0]}"
                )
            if sk is None:
                raise _invalid(
                    "Table KeySchema does not have a range key, which is required "
                    "when specifying a LocalSecondaryIndex"
                )
            local.append(
                keystone.LocalIndex(spec["IndexName"], isk, _projection(spec.get("Projection")))
            )
        glob = [
            _global_index(spec, types, used) for spec in req.get("GlobalSecondaryIndexes") or ()
        ]
        unused = sorted(set(types) - used)
        if unused:
            raise _invalid(
                "Number of attributes in KeySchema does not exactly match number of attributes "
                "defined in AttributeDefinitions"
            )
        stream = _stream(req.get("StreamSpecification"))
        settings = _billing(req)
        if settings.billing == _PROVISIONED:
            for spec in req.get("GlobalSecondaryIndexes") or ():
                units = _units(spec.get("ProvisionedThroughput"))
                if units is not None:
                    settings.indexes[spec["IndexName"]] = units
        tags = _tags(req.get("Tags") or (), {})
        try:
            schema = keystone.Schema(
                partition_key=pk,
                sort_key=sk,
                local_indexes=local,
                global_indexes=glob,
                stream=stream if stream is not _OFF else None,
            )
        except ValidationError as exc:
            raise _invalid(str(exc)) from None
        with self._lock:
            if name in self._db.tables():
                raise _in_use(f"Table already exists: {name}")
            props = settings.props()
            if tags:
                props["tags"] = tags
            try:
                self._db.create_table(name, schema, properties=props)
            except ValidationError as exc:
                if str(exc).startswith("Table already exists"):
                    raise _in_use(str(exc)) from None
                raise
            self._refs.pop(name, None)
        return self.describe(name)

    # -- DeleteTable --------------------------------------------------------------

    def delete(self, table: str) -> dict[str, Any]:
        name = name_of(table)
        if name == DEFAULT_TABLE:
            raise _in_use(
                "Table default is the database file's default table and cannot be deleted "
                "(delete its items instead)"
            )
        description = self.describe(name, status="DELETING")
        try:
            self._db.delete_table(name)
        except NotFound:
            raise _not_found(name) from None
        self.changed(name)
        return description

    # -- UpdateTable --------------------------------------------------------------

    def update(self, req: Mapping[str, Any]) -> dict[str, Any]:
        name = name_of(req["TableName"])
        handle = self.named(name)
        schema = handle.schema
        types = _attribute_types(req.get("AttributeDefinitions") or ())
        add: list[keystone.GlobalIndex] = []
        drop: list[str] = []
        units: dict[str, tuple[int, int] | None] = {}
        existing = {i.name for i in schema.indexes}
        for change in req.get("GlobalSecondaryIndexUpdates") or ():
            present = [k for k in ("Create", "Update", "Delete") if change.get(k) is not None]
            if len(present) != 1:
                raise _invalid(
                    "One of GlobalSecondaryIndexUpdate.Create, Update or Delete must be specified"
                )
            spec = change[present[0]]
            index = spec["IndexName"]
            if present[0] == "Create":
                if index in existing:
                    raise _invalid(f"Attempting to create an index which already exists: {index}")
                add.append(_global_index(spec, _with_table_types(types, schema), set()))
                units[index] = _units(spec.get("ProvisionedThroughput"))
            elif index not in existing or index in {i.name for i in schema.local_indexes}:
                raise errors.resource_not_found(
                    f"Requested resource not found: Requested index {index} not found"
                )
            elif present[0] == "Delete":
                drop.append(index)
                units[index] = None
            else:
                given = _units(spec.get("ProvisionedThroughput"))
                if given is None:
                    raise _invalid(
                        f"ProvisionedThroughput must be specified to update index: {index}"
                    )
                units[index] = given
        kwargs: dict[str, Any] = {}
        stream = _stream(req.get("StreamSpecification"))
        if stream is _OFF:
            if schema.stream is None:
                raise errors.validation(f"Table already has no stream: {table_arn(name)}")
            kwargs["stream"] = None
        elif stream is not None:
            if schema.stream is not None:
                raise errors.validation(f"Table already has an enabled stream: TableName: {name}")
            kwargs["stream"] = stream
        rebill = "BillingMode" in req or "ProvisionedThroughput" in req
        if (
            not add
            and not drop
            and not kwargs
            and not units
            and "BillingMode" not in req
            and ("ProvisionedThroughput" not in req)
        ):
            raise errors.validation(
                "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
                "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
            )

        def settle(props: dict[str, Any]) -> dict[str, Any]:
            # (read and written in one write transaction: a change made
            # meanwhile, by another process too, is not lost)
            settings = _settings_of(props)
            if rebill:
                changed = _billing({"BillingMode": settings.billing, **req})
                if changed.billing == _PAY and settings.billing != _PAY:
                    changed.pay_since = time.time()
                else:
                    changed.pay_since = settings.pay_since
                changed.indexes = settings.indexes
                settings = changed
            for index, given in units.items():
                if given is None or settings.billing == _PAY:
                    settings.indexes.pop(index, None)
                else:
                    settings.indexes[index] = given
            return {**props, **settings.props()}

        try:
            settle(self._db.table_properties(name))  # (a bad request fails before any change)
        except NotFound:
            raise _not_found(name) from None
        with self._lock:
            if add or drop or kwargs:
                self._db.update_table(name, add_indexes=add, drop_indexes=drop, **kwargs)
            try:
                self._db.change_table_properties(name, settle)
            except NotFound:
                raise _not_found(name) from None
            self._refs.pop(name, None)
        return self.describe(name)

    # -- tags ---------------------------------------------------------------------

    def tags(self, table: str) -> dict[str, str]:
        """The tags of ``table`` (a name or ARN)."""
        name = self.get(table).name
        try:
            return dict(self._db.table_properties(name).get("tags") or {})
        except NotFound:
            raise errors.resource_not_found() from None

    def retag(self, table: str, add: Any = (), remove: Any = ()) -> None:
        """Add (or overwrite) the ``Tags`` ``add`` and drop the keys ``remove``, in one commit."""
        name = self.get(table).name

        def change(props: dict[str, Any]) -> dict[str, Any]:
            # (read and written in one write transaction: tags added
            # meanwhile, by another process too, are kept)
            tags = dict(props.get("tags") or {})
            for key in remove:
                tags.pop(key, None)
            props["tags"] = _tags(add, tags)
            return props

        try:
            self._db.change_table_properties(name, change)
        except NotFound:
            raise errors.resource_not_found() from None


def _settings_of(props: Mapping[str, Any]) -> _Settings:
    try:
        return _Settings.of(props)
    except (TypeError, ValueError, IndexError, AttributeError):
        return _Settings()  # (set otherwise through the library: described as on demand)


def _dropped(handle: keystone.Table) -> bool:
    """Whether a kept handle's table was deleted meanwhile (by another door or the library)."""
    storage = getattr(handle, "_table", None)
    return bool(getattr(storage, "dropped", False))


# --------------------------------------------------------------------------
# Converting DynamoDB's table shapes
# --------------------------------------------------------------------------

_OFF: Final[Any] = object()  # a StreamSpecification turning the stream off


def _attribute_types(definitions: Any) -> dict[str, str]:
    types: dict[str, str] = {}
    for d in definitions:
        name, kind = d["AttributeName"], d["AttributeType"]
        if name in types:
            raise _invalid(f"Duplicate AttributeName in AttributeDefinitions: {name}")
        types[name] = kind
    return types


def _with_table_types(types: dict[str, str], schema: keystone.Schema) -> dict[str, str]:
    """``types`` plus the table's own key types (UpdateTable may leave them out)."""
    out = dict(types)
    for attr, kind in (
        (schema.partition_key, schema.partition_key_type),
        (schema.sort_key, schema.sort_key_type),
    ):
        if attr is not None and kind is not None:
            out.setdefault(attr, kind)
    return out


def _key_schema(
    keys: Any, types: Mapping[str, str], used: set[str], where: str
) -> tuple[tuple[str, Any], tuple[str, Any] | None]:
    """``((pk, type), (sk, type) | None)`` of a ``KeySchema``, each attribute defined once."""
    hashes = [k["AttributeName"] for k in keys if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in keys if k["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) > 1 or keys[0]["KeyType"] != "HASH":
        raise _invalid(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
            if keys[0]["KeyType"] != "HASH"
            else f"Invalid KeySchema in {where}: exactly one HASH key and at most one RANGE key"
        )
    if ranges and ranges[0] == hashes[0]:
        raise _invalid(
            "Invalid KeySchema: Both the Hash Key and the Range Key element in the KeySchema "
            "have the same name"
        )
    out = []
    for attr in (hashes[0], *ranges):
        if attr not in types:
            raise _invalid(
                "Some index key attributes are not defined in AttributeDefinitions. "
                f"Keys: [{', '.join([hashes[0], *ranges])}], "
                f"AttributeDefinitions: [{', '.join(types)}]"
            )
        used.add(attr)
        out.append((attr, types[attr]))
    return out[0], (out[1] if len(out) > 1 else None)


def _projection(spec: Mapping[str, Any] | None) -> Any:
    kind = (spec or {}).get("ProjectionType") or "ALL"
    extra = (spec or {}).get("NonKeyAttributes")
    if kind == "INCLUDE":
        if not extra:
            raise _invalid("ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
        return tuple(extra)
    if extra:
        raise _invalid(f"ProjectionType is {kind}, but NonKeyAttributes is specified")
    return kind


def _global_index(
    spec: Mapping[str, Any], types: Mapping[str, str], used: set[str]
) -> keystone.GlobalIndex:
    pk, sk = _key_schema(spec["KeySchema"], types, used, "GlobalSecondaryIndexes")
    try:
        return keystone.GlobalIndex(spec["IndexName"], pk, sk, _projection(spec.get("Projection")))
    except ValidationError as exc:
        raise _invalid(str(exc)) from None


def _stream(spec: Mapping[str, Any] | None) -> Any:
    """``None`` (not asked), :data:`_OFF`, or the ``keystone.StreamConfig`` asked for."""
    if spec is None:
        return None
    if not spec.get("StreamEnabled"):
        if spec.get("StreamViewType"):
            raise _invalid("StreamViewType is specified when StreamEnabled is false")
        return _OFF
    view = spec.get("StreamViewType")
    if not view:
        raise _invalid("StreamSpecification: StreamViewType is required when StreamEnabled is true")
    return keystone.StreamConfig(view=view)


def _units(throughput: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """``(read, write)`` of a ``ProvisionedThroughput`` (``None`` if not given)."""
    if throughput is None:
        return None
    return int(throughput.get("ReadCapacityUnits") or 0), int(
        throughput.get("WriteCapacityUnits") or 0
    )


def _tags(given: Any, tags: dict[str, str]) -> dict[str, str]:
    """``tags`` with the ``Tags`` list ``given`` added (at most :data:`MAX_TAGS` in all)."""
    for tag in given:
        tags[tag["Key"]] = tag["Value"]
    if len(tags) > MAX_TAGS:
        raise errors.DynamoError(
            "LimitExceededException",
            f"The number of tags on a resource must not exceed {MAX_TAGS}",
        )
    return tags


def _size(handle: Any, index: str | None, count: int) -> int:
    """Bytes of a table's (or index's) items by DynamoDB's rules: exact, or estimated."""
    if count == 0:
        return 0
    page = handle.scan(index=index, limit=SIZE_SAMPLE)
    if not page.items:
        return 0
    total = sum(item_size(item) for item in page.items)
    if page.last_key is None:
        return total
    return round(total / len(page.items) * count)


def _billing(req: Mapping[str, Any]) -> _Settings:
    mode = req.get("BillingMode") or _PROVISIONED
    throughput = req.get("ProvisionedThroughput")
    if mode == _PAY:
        if throughput is not None and (
            throughput.get("ReadCapacityUnits") or throughput.get("WriteCapacityUnits")
        ):
            raise _invalid(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                "BillingMode is PAY_PER_REQUEST"
            )
        return _Settings(_PAY)
    if throughput is None:
        raise _invalid(
            "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode "
            "is PROVISIONED"
        )
    return _Settings(
        _PROVISIONED,
        int(throughput.get("ReadCapacityUnits") or 0),
        int(throughput.get("WriteCapacityUnits") or 0),
    )
