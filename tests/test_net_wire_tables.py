"""The `table` fields and table management RPCs as a client generated from the
proto sends them (PROTOCOL.md): key bytes read by the table's declared type,
statuses for missing and existing tables, bad input refused naming the field
while the server keeps serving. Raw calls against the session's real server.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from grpclib.const import Status
from test_net_server import call

import keystone
from keystone_net._proto import keystone as pb
from keystone_net.grpc import convert

ORDERS = pb.TableSchema(
    partition_key=pb.KeyAttribute(name="customer", type="S"),
    sort_key=pb.KeyAttribute(name="placed", type="N"),
    global_indexes=[
        pb.GlobalIndexDefinition(
            name="by_status",
            partition_key=pb.KeyAttribute(name="status", type="S"),
            projection=pb.IndexProjection(projection_type="KEYS_ONLY"),
        )
    ],
)


@pytest.fixture
def remote(remote_store: Any) -> Any:
    remote_store.fresh()
    return remote_store


def _create(port: int) -> None:
    answer = call(
        port,
        "CreateTable",
        pb.CreateTableRequest(table="orders", schema=ORDERS),
        pb.TableDescriptionResponse,
    )
    assert answer.status is Status.OK, answer.message
    description = convert.item_from_proto(answer.reply.description)
    assert description["TableName"] == "orders"
    assert description["GlobalSecondaryIndexes"][0]["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_table_management_rpcs(remote: Any) -> None:
    port = remote.server.port
    _create(port)
    listed = call(port, "ListTables", pb.ListTablesRequest(), pb.ListTablesResponse)
    assert listed.reply.tables == ["default", "orders"]
    again = call(
        port, "CreateTable", pb.CreateTableRequest(table="orders"), pb.TableDescriptionResponse
    )
    assert again.status is Status.ALREADY_EXISTS
    assert again.message == "Table already exists: orders"
    assert isinstance(again.error(), keystone.ValidationError)
    described = call(
        port,
        "DescribeTable",
        pb.DescribeTableRequest(table="orders"),
        pb.TableDescriptionResponse,
    )
    assert convert.item_from_proto(described.reply.description)["KeySchema"][1] == {
        "AttributeName": "placed",
        "KeyType": "RANGE",
    }
    updated = call(
        port,
        "UpdateTable",
        pb.UpdateTableRequest(
            table="orders",
            drop_indexes=["by_status"],
            stream=pb.StreamChange(
                enabled=True, specification=pb.StreamSpecification(view="KEYS_ONLY")
            ),
        ),
        pb.TableDescriptionResponse,
    )
    description = convert.item_from_proto(updated.reply.description)
    assert "GlobalSecondaryIndexes" not in description
    assert description["StreamSpecification"]["StreamViewType"] == "KEYS_ONLY"
    deleted = call(
        port, "DeleteTable", pb.DeleteTableRequest(table="orders"), pb.DeleteTableResponse
    )
    assert deleted.status is Status.OK
    missing = call(
        port,
        "DescribeTable",
        pb.DescribeTableRequest(table="orders"),
        pb.TableDescriptionResponse,
    )
    assert missing.status is Status.NOT_FOUND
    assert missing.message == "Requested resource not found: Table: orders not found"


def test_key_bytes_are_read_by_the_declared_type(remote: Any) -> None:
    port = remote.server.port
    _create(port)
    # A put without key attributes: S from UTF-8, N from the number's text.
    put = pb.PutRequest(
        partition_key="ü".encode(),
        sort_key=b"1.50",
        item=pb.Item(attributes={"v": pb.Value(number_value="1")}),
        table="orders",
    )
    assert call(port, "Put", put, pb.PutResponse).status is Status.OK
    orders = remote.client.table("orders")
    assert orders.get("ü", Decimal("1.5")) == {"customer": "ü", "placed": Decimal("1.5"), "v": 1}
    got = call(
        port,
        "Get",
        pb.GetRequest(partition_key="ü".encode(), sort_key=b"15E-1", table="orders"),
        pb.GetResponse,
    )
    assert convert.item_from_proto(got.reply.item)["v"] == 1
    # The default table is untouched; a batch key names its table.
    assert remote.client.scan().items == []
    batch = call(
        port,
        "BatchGet",
        pb.BatchGetRequest(
            keys=[pb.Key(partition_key="ü".encode(), sort_key=b"1.5", table="orders")],
            projection_expression="v",
        ),
        pb.BatchGetResponse,
    )
    assert [convert.item_from_proto(i) for i in batch.reply.items] == [{"v": 1}]


def test_bad_key_bytes_and_missing_tables_are_refused_and_the_server_serves_on(
    remote: Any,
) -> None:
    port = remote.server.port
    _create(port)
    bad_number = call(
        port,
        "Get",
        pb.GetRequest(partition_key=b"c", sort_key=b"1_000", table="orders"),
        pb.GetResponse,
    )
    assert bad_number.status is Status.INVALID_ARGUMENT
    assert "sort_key" in (bad_number.message or "")
    bad_text = call(
        port,
        "Delete",
        pb.DeleteRequest(partition_key=b"\xff", sort_key=b"1", table="orders"),
        pb.DeleteResponse,
    )
    assert bad_text.status is Status.INVALID_ARGUMENT
    assert "partition_key" in (bad_text.message or "")
    nope = call(
        port,
        "TransactGet",
        pb.TransactGetRequest(keys=[pb.Key(partition_key=b"a", table="nope")]),
        pb.TransactGetResponse,
    )
    assert nope.status is Status.NOT_FOUND
    bad_schema = call(
        port,
        "CreateTable",
        pb.CreateTableRequest(
            table="typo", schema=pb.TableSchema(partition_key=pb.KeyAttribute(name="k", type="X"))
        ),
        pb.TableDescriptionResponse,
    )
    assert bad_schema.status is Status.INVALID_ARGUMENT and "'X'" in (bad_schema.message or "")
    assert call(port, "ListTables", pb.ListTablesRequest(), pb.ListTablesResponse).reply.tables == [
        "default",
        "orders",
    ]


def test_a_client_of_the_original_protocol_still_acts_on_the_default_table(remote: Any) -> None:
    put = pb.PutRequest(
        partition_key=b"p", item=pb.Item(attributes={"sk": pb.Value(string_value="s")})
    )
    assert call(remote.server.port, "Put", put, pb.PutResponse).status is Status.OK
    assert remote.client.get("p", "s") == {"pk": b"p", "sk": "s"}


def test_typed_key_values_take_the_place_of_the_key_bytes(remote: Any) -> None:
    """partition_key_value / sort_key_value (ours): the key as the caller typed it,
    handed to the library as it is, so a wrong type is refused in its words."""
    port = remote.server.port
    _create(port)
    remote.client.table("orders").put({"customer": "c", "placed": Decimal("2.5"), "v": 1})
    got = call(
        port,
        "Get",
        pb.GetRequest(
            partition_key=b"ignored",  # the typed values win over the bytes
            partition_key_value=pb.Value(string_value="c"),
            sort_key_value=pb.Value(number_value="25E-1"),
            table="orders",
        ),
        pb.GetResponse,
    )
    assert got.status is Status.OK and convert.item_from_proto(got.reply.item)["v"] == 1
    wrong = call(
        port,
        "Get",
        pb.GetRequest(
            partition_key_value=pb.Value(string_value="c"),
            sort_key_value=pb.Value(string_value="2.5"),  # bytes alone could not tell
            table="orders",
        ),
        pb.GetResponse,
    )
    assert wrong.status is Status.INVALID_ARGUMENT
    assert "Type mismatch for key placed expected: N actual: S" in (wrong.message or "")
    out_of_range = call(
        port,
        "Delete",
        pb.DeleteRequest(
            partition_key_value=pb.Value(string_value="c"),
            sort_key_value=pb.Value(number_value="1E+200"),
            table="orders",
        ),
        pb.DeleteResponse,
    )
    assert out_of_range.status is Status.INVALID_ARGUMENT
    assert (out_of_range.message or "").startswith("placed: Number overflow")
    batch = call(
        port,
        "BatchGet",
        pb.BatchGetRequest(
            keys=[
                pb.Key(
                    partition_key_value=pb.Value(string_value="c"),
                    sort_key_value=pb.Value(number_value="2.50"),
                    table="orders",
                )
            ]
        ),
        pb.BatchGetResponse,
    )
    assert [convert.item_from_proto(i)["v"] for i in batch.reply.items] == [1]
    assert remote.client.table("orders").scan().count == 1  # nothing was deleted
