"""Which table a request names, and DynamoDB's description of it.

:class:`Tables` resolves a request's ``TableName`` (a name or a table ARN)
to a :class:`TableRef`: the ``keystone`` store the item operations call,
with its key attribute names. It also answers the table operations
(CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable) in
DynamoDB's shapes.

This file's library serves one table per file (its default table), so
every table name resolves to that table, and the table operations say so:
CreateTable succeeds when the requested key schema is the default table's
(the table exists already, so it is ACTIVE at once, as DynamoDB Local's
tables are) and is refused otherwise; DescribeTable describes the default
table under the requested name; ListTables lists ``default``; DeleteTable
and UpdateTable are refused, since the file's one table cannot go away or
change its key schema. (Tables of their own per name come with the
library's many-tables work.)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Final

import keystone

from . import errors

__all__ = ["ACCOUNT", "REGION", "TableRef", "Tables", "table_arn"]

#: The account and region of every ARN the endpoint makes (DynamoDB Local's).
ACCOUNT: Final = "000000000000"
REGION: Final = "ddblocal"
DEFAULT_TABLE: Final = "default"


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def name_of(table: str) -> str:
    """The table name of a ``TableName`` member (a name, or a table ARN)."""
    if table.startswith("arn:"):
        _, _, rest = table.partition(":table/")
        name = rest.split("/", 1)[0]
        if not name:
            raise errors.validation(f"Invalid TableArn: {table}")
        return name
    return table


@dataclass(frozen=True, slots=True)
class TableRef:
    """One table as the operations use it."""

    name: str
    store: keystone.Database
    pk: str
    sk: str | None
    #: Whether an item may lack the sort key (a legacy, untyped key schema).
    sk_optional: bool


class Tables:
    """The tables of one database file, as the endpoint serves them."""

    def __init__(self, db: keystone.Database) -> None:
        self._db = db
        schema = db.schema
        self._pk = schema.partition_key
        self._sk = schema.sort_key
        try:
            self._created = os.path.getctime(db.path)
        except (OSError, TypeError, ValueError):
            self._created = time.time()

    def get(self, table: str) -> TableRef:
        """The table a request's ``TableName`` names."""
        return TableRef(name_of(table), self._db, self._pk, self._sk, True)

    # -- descriptions -------------------------------------------------------------

    def describe(self, table: str) -> dict[str, Any]:
        """DynamoDB's ``TableDescription`` of ``table``."""
        name = name_of(table)
        schema = self._db.schema
        stats = self._db.stats()
        keys = [{"AttributeName": self._pk, "KeyType": "HASH"}]
        attributes = {self._pk: "S"}
        if self._sk is not None:
            keys.append({"AttributeName": self._sk, "KeyType": "RANGE"})
            attributes[self._sk] = "S"
        out: dict[str, Any] = {
            "TableName": name,
            "TableId": f"keystone-{name}",
            "TableArn": table_arn(name),
            "TableStatus": "ACTIVE",
            "CreationDateTime": self._created,
            "KeySchema": keys,
            "ItemCount": stats.get("items", 0),
            "TableSizeBytes": stats.get("file_bytes", 0),
            "ProvisionedThroughput": {
                "ReadCapacityUnits": 0,
                "WriteCapacityUnits": 0,
                "NumberOfDecreasesToday": 0,
            },
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            "DeletionProtectionEnabled": False,
        }
        locals_ = []
        for index in schema.local_indexes:
            attributes.setdefault(index.sort_key, "S")
            locals_.append(
                {
                    "IndexName": index.name,
                    "KeySchema": [
                        {"AttributeName": self._pk, "KeyType": "HASH"},
                        {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                    ],
                    "Projection": _projection(index.projection),
                    "IndexArn": f"{table_arn(name)}/index/{index.name}",
                }
            )
        globals_ = []
        for gsi in schema.global_indexes:
            attributes.setdefault(gsi.partition_key, "S")
            schema_keys = [{"AttributeName": gsi.partition_key, "KeyType": "HASH"}]
            if gsi.sort_key is not None:
                attributes.setdefault(gsi.sort_key, "S")
                schema_keys.append({"AttributeName": gsi.sort_key, "KeyType": "RANGE"})
            globals_.append(
                {
                    "IndexName": gsi.name,
                    "KeySchema": schema_keys,
                    "Projection": _projection(gsi.projection),
                    "IndexStatus": "ACTIVE",
                    "IndexArn": f"{table_arn(name)}/index/{gsi.name}",
                    "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
                }
            )
        if locals_:
            out["LocalSecondaryIndexes"] = locals_
        if globals_:
            out["GlobalSecondaryIndexes"] = globals_
        out["AttributeDefinitions"] = [
            {"AttributeName": a, "AttributeType": t} for a, t in attributes.items()
        ]
        if schema.stream is not None:
            out["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": schema.stream.view,
            }
            out["LatestStreamArn"] = stream_arn(name)
            out["LatestStreamLabel"] = STREAM_LABEL
        return out

    # -- the table operations -------------------------------------------------------

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        name = name_of(request["TableName"])
        wanted = {k["AttributeName"]: k["KeyType"] for k in request["KeySchema"]}
        have = {self._pk: "HASH"}
        if self._sk is not None:
            have[self._sk] = "RANGE"
        hash_key = [a for a, t in wanted.items() if t == "HASH"]
        if wanted != have and not (
            self._sk is not None and hash_key == [self._pk] and len(wanted) == 1
        ):
            raise errors.validation(
                "This database file holds one table, whose key schema is "
                + ", ".join(f"{a} ({t})" for a, t in have.items())
                + f"; table {name} would need "
                + ", ".join(f"{a} ({t})" for a, t in wanted.items())
            )
        return self.describe(name)

    def list(self) -> list[str]:
        return [DEFAULT_TABLE]

    def delete(self, table: str) -> dict[str, Any]:
        raise errors.DynamoError(
            "ResourceInUseException",
            f"Table {name_of(table)} is this database file's only table and cannot be deleted",
        )

    def update(self, request: dict[str, Any]) -> dict[str, Any]:
        raise errors.validation(
            "UpdateTable is not offered for this database file's only table "
            "(its indexes and stream are set when the file is opened)"
        )


STREAM_LABEL: Final = "1970-01-01T00:00:00.000"


def stream_arn(name: str) -> str:
    return f"{table_arn(name)}/stream/{STREAM_LABEL}"


def _projection(projection: Any) -> dict[str, Any]:
    if projection in ("ALL", "KEYS_ONLY"):
        return {"ProjectionType": projection}
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(projection)}
