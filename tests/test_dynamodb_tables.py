"""Every table of the file is a DynamoDB table: the table operations, typed keys, and
batches and transactions across tables, with boto3 against a real server process."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from dynamodbsupport import client, serve

import keystone
from keystone.testing import KeystoneServer
from keystone_net.dynamodb.capacity import item_size
from keystone_net.dynamodb.tables import SIZE_SAMPLE


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeystoneServer]:
    srv = serve(tmp_path_factory.mktemp("tables") / "tables.keystone", tables=())
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def ddb(server: KeystoneServer) -> Iterator[Any]:
    c = client(server.dynamodb_url)
    yield c
    for name in c.list_tables()["TableNames"]:
        if name != "default":
            c.delete_table(TableName=name)


def code_of(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def message_of(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Message"])


def make(ddb: Any, name: str, hash_type: str = "S", range_type: str | None = "S", **extra: Any):
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": hash_type}]
    if range_type is not None:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": range_type})
    attrs.extend(extra.pop("more_attributes", []))
    return ddb.create_table(
        TableName=name,
        KeySchema=keys,
        AttributeDefinitions=attrs,
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )["TableDescription"]


class TestCreateDescribeListDelete:
    def test_a_created_table_is_described_with_its_keys_indexes_and_stream(self, ddb) -> None:
        created = ddb.create_table(
            TableName="orders",
            KeySchema=[
                {"AttributeName": "customer", "KeyType": "HASH"},
                {"AttributeName": "placed", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "customer", "AttributeType": "S"},
                {"AttributeName": "placed", "AttributeType": "N"},
                {"AttributeName": "total", "AttributeType": "N"},
                {"AttributeName": "status", "AttributeType": "S"},
            ],
            LocalSecondaryIndexes=[
                {
                    "IndexName": "by_total",
                    "KeySchema": [
                        {"AttributeName": "customer", "KeyType": "HASH"},
                        {"AttributeName": "total", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by_status",
                    "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
                    "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
                }
            ],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
        )["TableDescription"]
        assert created["TableStatus"] == "ACTIVE"
        ddb.put_item(
            TableName="orders",
            Item={
                "customer": {"S": "ann"},
                "placed": {"N": "3"},
                "total": {"N": "10"},
                "status": {"S": "open"},
            },
        )
        table = ddb.describe_table(TableName="orders")["Table"]
        assert table["TableName"] == "orders"
        assert table["TableArn"].endswith(":table/orders")
        assert table["ItemCount"] == 1
        assert table["KeySchema"] == [
            {"AttributeName": "customer", "KeyType": "HASH"},
            {"AttributeName": "placed", "KeyType": "RANGE"},
        ]
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        assert types == {"customer": "S", "placed": "N", "total": "N", "status": "S"}
        (lsi,) = table["LocalSecondaryIndexes"]
        assert lsi["IndexName"] == "by_total"
        assert lsi["Projection"] == {"ProjectionType": "KEYS_ONLY"}
        (gsi,) = table["GlobalSecondaryIndexes"]
        assert gsi["IndexName"] == "by_status" and gsi["IndexStatus"] == "ACTIVE"
        assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]}
        assert gsi["ItemCount"] == 1
        assert table["StreamSpecification"] == {
            "StreamEnabled": True,
            "StreamViewType": "NEW_IMAGE",
        }
        assert table["LatestStreamArn"].startswith(table["TableArn"] + "/stream/")
        assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
        got = ddb.query(
            TableName="orders",
            IndexName="by_status",
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "open"}},
        )
        assert got["Items"] == [
            {
                "customer": {"S": "ann"},
                "placed": {"N": "3"},
                "total": {"N": "10"},
                "status": {"S": "open"},
            }
        ]

    def test_an_existing_table_is_resource_in_use(self, ddb) -> None:
        make(ddb, "twice")
        with pytest.raises(ClientError) as info:
            make(ddb, "twice")
        assert code_of(info) == "ResourceInUseException"
        assert message_of(info) == "Table already exists: twice"

    def test_an_unknown_table_is_resource_not_found(self, ddb) -> None:
        key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
        calls = [
            lambda: ddb.get_item(TableName="nowhere", Key=key),
            lambda: ddb.put_item(TableName="nowhere", Item=key),
            lambda: ddb.query(
                TableName="nowhere",
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "a"}},
            ),
            lambda: ddb.describe_table(TableName="nowhere"),
            lambda: ddb.delete_table(TableName="nowhere"),
            lambda: ddb.describe_time_to_live(TableName="nowhere"),
            lambda: ddb.execute_statement(Statement="SELECT * FROM nowhere"),
            lambda: ddb.batch_get_item(RequestItems={"nowhere": {"Keys": [key]}}),
        ]
        for call in calls:
            with pytest.raises(ClientError) as info:
                call()
            assert code_of(info) == "ResourceNotFoundException"
        with pytest.raises(ClientError) as info:
            ddb.describe_table(TableName="nowhere")
        assert message_of(info) == "Requested resource not found: Table: nowhere not found"

    def test_key_schema_errors_speak_dynamodbs_words(self, ddb) -> None:
        with pytest.raises(ClientError) as info:
            ddb.create_table(
                TableName="bad",
                KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "b", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        assert message_of(info) == (
            "One or more parameter values were invalid: Some index key attributes are not "
            "defined in AttributeDefinitions. Keys: [a], AttributeDefinitions: [b]"
        )
        with pytest.raises(ClientError) as info:
            ddb.create_table(
                TableName="bad",
                KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}],
                AttributeDefinitions=[
                    {"AttributeName": "a", "AttributeType": "S"},
                    {"AttributeName": "b", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        assert "Number of attributes in KeySchema does not exactly match" in message_of(info)

    def test_a_table_without_a_key_schema_is_refused(self, ddb) -> None:
        # (the model makes KeySchema optional, for replicas of global tables)
        with pytest.raises(ClientError) as info:
            ddb.create_table(
                TableName="keyless",
                AttributeDefinitions=[{"AttributeName": "a", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        assert info.value.response["Error"]["Code"] == "ValidationException"
        assert "No defined key schema" in message_of(info)
        assert "keyless" not in ddb.list_tables()["TableNames"]
        with pytest.raises(ClientError) as info:
            ddb.create_table(
                TableName="bad",
                KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "a", "AttributeType": "S"}],
            )
        assert "ReadCapacityUnits and WriteCapacityUnits must both be specified" in message_of(info)
        assert "bad" not in ddb.list_tables()["TableNames"]

    def test_list_tables_pages_by_name(self, ddb) -> None:
        names = [f"page_{i:02d}" for i in range(7)]
        for name in reversed(names):
            make(ddb, name, range_type=None)
        seen: list[str] = []
        start: dict[str, str] = {}
        for _ in range(10):
            got = ddb.list_tables(Limit=3, **start)
            assert len(got["TableNames"]) <= 3
            seen.extend(got["TableNames"])
            if "LastEvaluatedTableName" not in got:
                break
            start = {"ExclusiveStartTableName": got["LastEvaluatedTableName"]}
        assert seen == names
        paginated = [
            n for page in ddb.get_paginator("list_tables").paginate() for n in page["TableNames"]
        ]
        assert paginated == names

    def test_delete_table_takes_its_items_and_name(self, ddb) -> None:
        make(ddb, "gone")
        ddb.put_item(TableName="gone", Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
        deleted = ddb.delete_table(TableName="gone")["TableDescription"]
        assert deleted["TableName"] == "gone" and deleted["TableStatus"] == "DELETING"
        ddb.get_waiter("table_not_exists").wait(TableName="gone")
        assert "gone" not in ddb.list_tables()["TableNames"]
        make(ddb, "gone")  # the name is free again, and the new table is empty
        assert ddb.scan(TableName="gone")["Count"] == 0

    def test_the_default_table_is_listed_once_it_is_used_and_cannot_be_deleted(self, ddb) -> None:
        assert "default" not in ddb.list_tables()["TableNames"]
        key = {"pk": {"S": "d"}, "sk": {"S": "1"}}
        ddb.put_item(TableName="default", Item=key)
        try:
            assert "default" in ddb.list_tables()["TableNames"]
            with pytest.raises(ClientError) as info:
                ddb.delete_table(TableName="default")
            assert code_of(info) == "ResourceInUseException"
        finally:
            ddb.delete_item(TableName="default", Key=key)


class TestUpdateTable:
    def test_a_global_index_is_created_from_the_items_and_deleted(self, ddb) -> None:
        make(ddb, "grow")
        for i in range(5):
            ddb.put_item(
                TableName="grow",
                Item={
                    "pk": {"S": f"p{i}"},
                    "sk": {"S": "1"},
                    "colour": {"S": "red" if i % 2 else "blue"},
                },
            )
        updated = ddb.update_table(
            TableName="grow",
            AttributeDefinitions=[{"AttributeName": "colour", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": "by_colour",
                        "KeySchema": [{"AttributeName": "colour", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                }
            ],
        )["TableDescription"]
        assert [g["IndexName"] for g in updated["GlobalSecondaryIndexes"]] == ["by_colour"]
        got = ddb.query(
            TableName="grow",
            IndexName="by_colour",
            KeyConditionExpression="colour = :c",
            ExpressionAttributeValues={":c": {"S": "red"}},
        )
        assert sorted(i["pk"]["S"] for i in got["Items"]) == ["p1", "p3"]
        ddb.update_table(
            TableName="grow", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_colour"}}]
        )
        assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName="grow")["Table"]
        with pytest.raises(ClientError) as info:
            ddb.query(
                TableName="grow",
                IndexName="by_colour",
                KeyConditionExpression="colour = :c",
                ExpressionAttributeValues={":c": {"S": "red"}},
            )
        assert code_of(info) == "ValidationException"
        with pytest.raises(ClientError) as info:
            ddb.update_table(
                TableName="grow", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "nope"}}]
            )
        assert code_of(info) == "ResourceNotFoundException"

    def test_the_stream_is_turned_on_and_off(self, ddb, server: KeystoneServer) -> None:
        import boto3

        make(ddb, "flow")
        on = ddb.update_table(
            TableName="flow",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )["TableDescription"]
        arn = on["LatestStreamArn"]
        key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
        ddb.put_item(TableName="flow", Item=key)
        streams = boto3.client(
            "dynamodbstreams",
            endpoint_url=server.dynamodb_url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
        )
        assert [s["TableName"] for s in streams.list_streams()["Streams"]] == ["flow"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
        it = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        (record,) = streams.get_records(ShardIterator=it)["Records"]
        assert record["eventName"] == "INSERT" and record["dynamodb"]["Keys"] == key
        assert "NewImage" not in record["dynamodb"]
        off = ddb.update_table(TableName="flow", StreamSpecification={"StreamEnabled": False})
        assert "StreamSpecification" not in off["TableDescription"]
        assert streams.list_streams()["Streams"] == []
        with pytest.raises(ClientError) as info:
            streams.describe_stream(StreamArn=arn)
        assert code_of(info) == "ResourceNotFoundException"


class TestTypedKeys:
    def test_number_and_binary_keys_round_trip_and_sort_as_their_type(self, ddb) -> None:
        make(ddb, "numbers", hash_type="B", range_type="N")
        for n in ("10", "9", "-1.5", "100"):
            ddb.put_item(
                TableName="numbers", Item={"pk": {"B": b"\x00\x01"}, "sk": {"N": n}, "v": {"S": n}}
            )
        got = ddb.get_item(TableName="numbers", Key={"pk": {"B": b"\x00\x01"}, "sk": {"N": "9"}})
        assert got["Item"]["v"] == {"S": "9"}
        page = ddb.query(
            TableName="numbers",
            KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":p": {"B": b"\x00\x01"},
                ":lo": {"N": "-2"},
                ":hi": {"N": "10"},
            },
        )
        assert [i["sk"]["N"] for i in page["Items"]] == ["-1.5", "9", "10"]
        count = ddb.query(
            TableName="numbers",
            KeyConditionExpression="pk = :p AND sk > :lo",
            ExpressionAttributeValues={":p": {"B": b"\x00\x01"}, ":lo": {"N": "9"}},
            Select="COUNT",
        )
        assert count["Count"] == 2 and "Items" not in count

    def test_a_key_of_the_wrong_type_is_refused_with_dynamodbs_message(self, ddb) -> None:
        make(ddb, "typed", hash_type="N", range_type=None)
        with pytest.raises(ClientError) as info:
            ddb.put_item(TableName="typed", Item={"pk": {"S": "one"}})
        assert code_of(info) == "ValidationException"
        assert message_of(info) == (
            "One or more parameter values were invalid: Type mismatch for key pk expected: N "
            "actual: S"
        )
        with pytest.raises(ClientError) as info:
            ddb.get_item(TableName="typed", Key={"pk": {"S": "one"}})
        assert message_of(info).startswith("The provided key element does not match the schema")
        assert ddb.scan(TableName="typed")["Count"] == 0


class TestAcrossTables:
    def test_batch_write_and_get_span_tables_with_the_same_keys(self, ddb) -> None:
        make(ddb, "left")
        make(ddb, "right", hash_type="N", range_type=None)
        ddb.batch_write_item(
            RequestItems={
                "left": [
                    {
                        "PutRequest": {
                            "Item": {"pk": {"S": "1"}, "sk": {"S": "a"}, "side": {"S": "L"}}
                        }
                    },
                    {
                        "PutRequest": {
                            "Item": {"pk": {"S": "2"}, "sk": {"S": "a"}, "side": {"S": "L"}}
                        }
                    },
                ],
                "right": [
                    {"PutRequest": {"Item": {"pk": {"N": "1"}, "side": {"S": "R"}}}},
                ],
            }
        )
        got = ddb.batch_get_item(
            RequestItems={
                "left": {
                    "Keys": [
                        {"pk": {"S": "1"}, "sk": {"S": "a"}},
                        {"pk": {"S": "9"}, "sk": {"S": "a"}},
                        {"pk": {"S": "2"}, "sk": {"S": "a"}},
                    ],
                    "ProjectionExpression": "pk, side",
                },
                "right": {"Keys": [{"pk": {"N": "1"}}, {"pk": {"N": "2"}}]},
            }
        )["Responses"]
        assert sorted(i["pk"]["S"] for i in got["left"]) == ["1", "2"]
        assert all(set(i) == {"pk", "side"} for i in got["left"])
        assert got["right"] == [{"pk": {"N": "1"}, "side": {"S": "R"}}]
        with pytest.raises(ClientError) as info:
            ddb.batch_write_item(
                RequestItems={
                    "left": [
                        {"PutRequest": {"Item": {"pk": {"S": "3"}, "sk": {"S": "a"}}}},
                    ],
                    "right": [
                        {"PutRequest": {"Item": {"pk": {"S": "not a number"}}}},
                    ],
                }
            )
        assert code_of(info) == "ValidationException"
        # one commit: the valid put of the refused batch did not happen either
        assert "Item" not in ddb.get_item(
            TableName="left", Key={"pk": {"S": "3"}, "sk": {"S": "a"}}
        )

    def test_a_transaction_spans_tables_all_or_nothing(self, ddb) -> None:
        make(ddb, "accounts", range_type=None)
        make(ddb, "ledger", hash_type="N", range_type=None)
        ddb.put_item(TableName="accounts", Item={"pk": {"S": "ann"}, "balance": {"N": "10"}})

        def move(amount: str, entry: str, **extra: Any) -> None:
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": "accounts",
                            "Key": {"pk": {"S": "ann"}},
                            "UpdateExpression": "SET balance = balance - :a",
                            "ConditionExpression": "balance >= :a",
                            "ExpressionAttributeValues": {":a": {"N": amount}},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Put": {
                            "TableName": "ledger",
                            "Item": {"pk": {"N": entry}, "amount": {"N": amount}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ],
                **extra,
            )

        move("4", "1")
        with pytest.raises(ClientError) as info:
            move("7", "2")
        assert code_of(info) == "TransactionCanceledException"
        reasons = info.value.response["CancellationReasons"]
        assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed", "None"]
        assert reasons[0]["Item"] == {"pk": {"S": "ann"}, "balance": {"N": "6"}}
        assert "Item" not in ddb.get_item(TableName="ledger", Key={"pk": {"N": "2"}})
        got = ddb.transact_get_items(
            TransactItems=[
                {"Get": {"TableName": "accounts", "Key": {"pk": {"S": "ann"}}}},
                {
                    "Get": {
                        "TableName": "ledger",
                        "Key": {"pk": {"N": "1"}},
                        "ProjectionExpression": "amount",
                    }
                },
                {"Get": {"TableName": "ledger", "Key": {"pk": {"N": "2"}}}},
            ]
        )["Responses"]
        assert got[0]["Item"]["balance"] == {"N": "6"}
        assert got[1]["Item"] == {"amount": {"N": "4"}}
        assert got[2] == {}

    def test_a_client_request_token_applies_a_transaction_once(self, ddb) -> None:
        make(ddb, "counted", range_type=None)
        parts = [
            {
                "Update": {
                    "TableName": "counted",
                    "Key": {"pk": {"S": "c"}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            }
        ]
        for _ in range(3):
            ddb.transact_write_items(TransactItems=parts, ClientRequestToken="tok-1")
        got = ddb.get_item(TableName="counted", Key={"pk": {"S": "c"}})
        assert got["Item"]["n"] == {"N": "1"}
        other = [{"Delete": {"TableName": "counted", "Key": {"pk": {"S": "c"}}}}]
        with pytest.raises(ClientError) as info:
            ddb.transact_write_items(TransactItems=other, ClientRequestToken="tok-1")
        assert code_of(info) == "IdempotentParameterMismatchException"


class TestPerTableSettings:
    def test_ttl_and_tags_belong_to_their_table(self, ddb, tmp_path) -> None:
        make(ddb, "tagged")
        make(ddb, "plain")
        arn = ddb.describe_table(TableName="tagged")["Table"]["TableArn"]
        other = ddb.describe_table(TableName="plain")["Table"]["TableArn"]
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "db"}])
        assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [
            {"Key": "team", "Value": "db"}
        ]
        assert ddb.list_tags_of_resource(ResourceArn=other)["Tags"] == []
        with pytest.raises(ClientError) as info:
            ddb.tag_resource(
                ResourceArn=arn.replace("tagged", "missing"), Tags=[{"Key": "a", "Value": "b"}]
            )
        assert code_of(info) == "ResourceNotFoundException"
        got = ddb.describe_time_to_live(TableName="plain")["TimeToLiveDescription"]
        assert got == {"TimeToLiveStatus": "DISABLED"}


def test_a_file_with_ttl_on_one_table_describes_it_there_only(tmp_path) -> None:
    path = tmp_path / "ttl.keystone"
    with keystone.Database.open(path) as db:
        db.create_table("expiring", keystone.Schema(("pk", "S"), None, ttl_attribute="until"))
        db.create_table("lasting", keystone.Schema(("pk", "S"), None))
    srv = serve(path, tables=())
    try:
        c = client(srv.dynamodb_url)
        assert c.describe_time_to_live(TableName="expiring")["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "until",
        }
        assert c.describe_time_to_live(TableName="lasting")["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "DISABLED"
        }
        c.put_item(TableName="expiring", Item={"pk": {"S": "old"}, "until": {"N": "1000"}})
        c.put_item(TableName="lasting", Item={"pk": {"S": "old"}, "until": {"N": "1000"}})
        assert "Item" not in c.get_item(TableName="expiring", Key={"pk": {"S": "old"}})
        assert "Item" in c.get_item(TableName="lasting", Key={"pk": {"S": "old"}})
    finally:
        srv.stop()


class TestExecuteTransaction:
    def test_writes_across_tables_commit_together(self, ddb) -> None:
        make(ddb, "people", range_type=None)
        make(ddb, "audit", hash_type="N", range_type=None)
        ddb.put_item(TableName="people", Item={"pk": {"S": "bo"}, "age": {"N": "30"}})
        ddb.execute_transaction(
            TransactStatements=[
                {"Statement": "INSERT INTO people VALUE {'pk': 'cy', 'age': 20}"},
                {
                    "Statement": "UPDATE people SET age = age + ? WHERE pk = ?",
                    "Parameters": [{"N": "1"}, {"S": "bo"}],
                },
                {"Statement": "INSERT INTO audit VALUE {'pk': 1, 'what': 'ages'}"},
            ]
        )
        assert ddb.get_item(TableName="people", Key={"pk": {"S": "bo"}})["Item"]["age"] == {
            "N": "31"
        }
        assert "Item" in ddb.get_item(TableName="audit", Key={"pk": {"N": "1"}})

        with pytest.raises(ClientError) as info:
            ddb.execute_transaction(
                TransactStatements=[
                    {"Statement": "DELETE FROM people WHERE pk = 'cy'"},
                    {"Statement": "INSERT INTO audit VALUE {'pk': 1, 'what': 'again'}"},
                    {"Statement": "UPDATE people SET age = 1 WHERE pk = 'nobody'"},
                ]
            )
        assert code_of(info) == "TransactionCanceledException"
        codes = [r["Code"] for r in info.value.response["CancellationReasons"]]
        assert codes == ["None", "DuplicateItem", "ConditionalCheckFailed"]
        # nothing of the cancelled transaction happened
        assert "Item" in ddb.get_item(TableName="people", Key={"pk": {"S": "cy"}})
        assert "Item" not in ddb.get_item(TableName="people", Key={"pk": {"S": "nobody"}})

    def test_reads_come_from_one_snapshot_in_statement_order(self, ddb) -> None:
        make(ddb, "shelf")
        ddb.put_item(
            TableName="shelf",
            Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "5"}, "x": {"S": "y"}},
        )
        got = ddb.execute_transaction(
            TransactStatements=[
                {"Statement": "SELECT n FROM shelf WHERE pk = 'a' AND sk = '1'"},
                {
                    "Statement": "SELECT * FROM shelf WHERE pk = ? AND sk = ?",
                    "Parameters": [{"S": "a"}, {"S": "2"}],
                },
            ]
        )["Responses"]
        assert got == [{"Item": {"n": {"N": "5"}}}, {}]

    def test_dynamodbs_rules_of_the_operation(self, ddb) -> None:
        make(ddb, "rules")
        read = {"Statement": "SELECT * FROM rules WHERE pk = 'a' AND sk = '1'"}
        write = {"Statement": "INSERT INTO rules VALUE {'pk': 'a', 'sk': '1'}"}
        scan = {"Statement": "SELECT * FROM rules WHERE pk = 'a'"}
        for statements in ([read, write], [scan]):
            with pytest.raises(ClientError) as info:
                ddb.execute_transaction(TransactStatements=statements)
            assert code_of(info) == "ValidationException"
        with pytest.raises(ClientError) as info:
            ddb.execute_transaction(TransactStatements=[write, write])
        assert code_of(info) == "ValidationException"
        with pytest.raises(ClientError) as info:
            ddb.execute_transaction(
                TransactStatements=[{"Statement": "INSERT INTO absent VALUE {'pk': 'a'}"}]
            )
        assert code_of(info) == "ResourceNotFoundException"
        assert ddb.scan(TableName="rules")["Count"] == 0

    def test_a_token_applies_the_statements_once(self, ddb) -> None:
        make(ddb, "tokens", range_type=None)
        ddb.put_item(TableName="tokens", Item={"pk": {"S": "t"}, "n": {"N": "0"}})
        bump = [{"Statement": "UPDATE tokens SET n = n + 1 WHERE pk = 't'"}]
        for _ in range(2):
            ddb.execute_transaction(TransactStatements=bump, ClientRequestToken="once")
        assert ddb.get_item(TableName="tokens", Key={"pk": {"S": "t"}})["Item"]["n"] == {"N": "1"}

    def test_insert_of_an_existing_item_is_duplicate_item(self, ddb) -> None:
        make(ddb, "dups", range_type=None)
        ddb.execute_statement(Statement="INSERT INTO dups VALUE {'pk': 'a'}")
        with pytest.raises(ClientError) as info:
            ddb.execute_statement(Statement="INSERT INTO dups VALUE {'pk': 'a'}")
        assert code_of(info) == "DuplicateItemException"


class TestTimeToLive:
    def test_update_time_to_live_turns_expiry_on_and_off_per_table(self, ddb) -> None:
        make(ddb, "sessions", range_type=None)
        make(ddb, "users", range_type=None)
        ddb.put_item(TableName="sessions", Item={"pk": {"S": "old"}, "until": {"N": "1000"}})
        got = ddb.update_time_to_live(
            TableName="sessions",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "until"},
        )
        assert got["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "until"}
        assert ddb.describe_time_to_live(TableName="sessions")["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "until",
        }
        assert "Item" not in ddb.get_item(TableName="sessions", Key={"pk": {"S": "old"}})
        assert ddb.describe_time_to_live(TableName="users")["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "DISABLED"
        }
        for spec, message in (
            ({"Enabled": True, "AttributeName": "until"}, "TimeToLive is already enabled"),
            (
                {"Enabled": True, "AttributeName": "other"},
                "TimeToLive is active on a different AttributeName: current AttributeName is until",
            ),
        ):
            with pytest.raises(ClientError) as info:
                ddb.update_time_to_live(TableName="sessions", TimeToLiveSpecification=spec)
            assert message_of(info) == message
        ddb.update_time_to_live(
            TableName="sessions",
            TimeToLiveSpecification={"Enabled": False, "AttributeName": "until"},
        )
        ddb.put_item(TableName="sessions", Item={"pk": {"S": "kept"}, "until": {"N": "1000"}})
        assert "Item" in ddb.get_item(TableName="sessions", Key={"pk": {"S": "kept"}})
        with pytest.raises(ClientError) as info:
            ddb.update_time_to_live(
                TableName="sessions",
                TimeToLiveSpecification={"Enabled": False, "AttributeName": "until"},
            )
        assert message_of(info) == "TimeToLive is already disabled"


def test_a_table_deleted_and_made_again_behind_the_endpoint_is_the_new_one(tmp_path) -> None:
    path = tmp_path / "behind.keystone"
    srv = serve(path, tables=("again",))
    try:
        c = client(srv.dynamodb_url)
        c.put_item(TableName="again", Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
        c.delete_table(TableName="again")
        with pytest.raises(ClientError) as info:
            c.get_item(TableName="again", Key={"pk": {"S": "a"}, "sk": {"S": "1"}})
        assert code_of(info) == "ResourceNotFoundException"
        make(c, "again", hash_type="N", range_type=None)
        c.put_item(TableName="again", Item={"pk": {"N": "1"}})
        assert c.get_item(TableName="again", Key={"pk": {"N": "1"}})["Item"] == {"pk": {"N": "1"}}
    finally:
        srv.stop()


def _provisioned_with_index(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4},
            }
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
        Tags=[{"Key": "team", "Value": "db"}],
    )


def _what_is_described(ddb: Any, name: str) -> dict[str, Any]:
    table = ddb.describe_table(TableName=name)["Table"]
    arn = table["TableArn"]
    return {
        "throughput": {
            k: table["ProvisionedThroughput"][k]
            for k in ("ReadCapacityUnits", "WriteCapacityUnits")
        },
        "billing": table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        "indexes": {
            i["IndexName"]: (
                i["ProvisionedThroughput"]["ReadCapacityUnits"],
                i["ProvisionedThroughput"]["WriteCapacityUnits"],
            )
            for i in table.get("GlobalSecondaryIndexes", ())
        },
        "tags": ddb.list_tags_of_resource(ResourceArn=arn)["Tags"],
    }


class TestTableSettingsAreKeptInTheFile:
    def test_billing_throughput_index_throughput_and_tags_survive_a_restart(self, tmp_path) -> None:
        path = tmp_path / "kept.keystone"
        srv = serve(path, tables=())
        try:
            c = client(srv.dynamodb_url)
            _provisioned_with_index(c, "kept")
            arn = c.describe_table(TableName="kept")["Table"]["TableArn"]
            c.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "test"}])
            c.update_table(
                TableName="kept",
                GlobalSecondaryIndexUpdates=[
                    {
                        "Update": {
                            "IndexName": "by_g",
                            "ProvisionedThroughput": {
                                "ReadCapacityUnits": 9,
                                "WriteCapacityUnits": 8,
                            },
                        }
                    }
                ],
            )
            make(c, "ondemand")
            before = {n: _what_is_described(c, n) for n in ("kept", "ondemand")}
        finally:
            srv.stop()
        assert before["kept"] == {
            "throughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
            "billing": "PROVISIONED",
            "indexes": {"by_g": (9, 8)},
            "tags": [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "db"}],
        }
        assert before["ondemand"]["billing"] == "PAY_PER_REQUEST"
        srv = serve(path, tables=())
        try:
            c = client(srv.dynamodb_url)
            after = {n: _what_is_described(c, n) for n in ("kept", "ondemand")}
            assert after == before
            c.update_table(TableName="kept", BillingMode="PAY_PER_REQUEST")
            got = _what_is_described(c, "kept")
            assert got["billing"] == "PAY_PER_REQUEST"
            assert got["indexes"] == {"by_g": (0, 0)}
            assert got["throughput"] == {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
            c.delete_table(TableName="kept")
            _provisioned_with_index(c, "kept")  # (made again: the old tags went with the table)
            again = _what_is_described(c, "kept")
            assert again["tags"] == [{"Key": "team", "Value": "db"}]
            assert again["indexes"] == {"by_g": (3, 4)}
        finally:
            srv.stop()
        with keystone.Database.open(path) as db:
            assert db.table_properties("kept")["tags"] == {"team": "db"}

    def test_an_index_update_of_throughput_alone_is_accepted(self, ddb) -> None:
        _provisioned_with_index(ddb, "solo")
        out = ddb.update_table(
            TableName="solo",
            GlobalSecondaryIndexUpdates=[
                {
                    "Update": {
                        "IndexName": "by_g",
                        "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 2},
                    }
                }
            ],
        )["TableDescription"]
        (gsi,) = out["GlobalSecondaryIndexes"]
        assert gsi["ProvisionedThroughput"]["ReadCapacityUnits"] == 1
        assert gsi["ProvisionedThroughput"]["WriteCapacityUnits"] == 2
        assert out["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
        with pytest.raises(ClientError) as info:
            ddb.update_table(
                TableName="solo",
                GlobalSecondaryIndexUpdates=[
                    {
                        "Update": {
                            "IndexName": "nope",
                            "ProvisionedThroughput": {
                                "ReadCapacityUnits": 1,
                                "WriteCapacityUnits": 2,
                            },
                        }
                    }
                ],
            )
        assert code_of(info) == "ResourceNotFoundException"

    def test_an_update_with_a_bad_billing_change_adds_no_index_either(self, ddb) -> None:
        make(ddb, "steady")
        with pytest.raises(ClientError) as info:
            ddb.update_table(
                TableName="steady",
                BillingMode="PROVISIONED",  # (without the ProvisionedThroughput it needs)
                AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
                GlobalSecondaryIndexUpdates=[
                    {
                        "Create": {
                            "IndexName": "by_g",
                            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    }
                ],
            )
        assert code_of(info) == "ValidationException"
        table = ddb.describe_table(TableName="steady")["Table"]
        assert "GlobalSecondaryIndexes" not in table
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    def test_more_than_50_tags_are_refused_and_none_are_added(self, ddb) -> None:
        make(ddb, "many")
        arn = ddb.describe_table(TableName="many")["Table"]["TableArn"]
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
        with pytest.raises(ClientError) as info:
            ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "one-more", "Value": "v"}])
        assert code_of(info) == "LimitExceededException"
        assert len(ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]) == 50
        ddb.untag_resource(ResourceArn=arn, TagKeys=[f"k{i}" for i in range(49)])
        assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "k49", "Value": "v"}]


class TestSizes:
    def test_table_and_index_sizes_follow_dynamodbs_item_size_rules(self, ddb) -> None:
        _provisioned_with_index(ddb, "sized")
        assert ddb.describe_table(TableName="sized")["Table"]["TableSizeBytes"] == 0
        items = [{"pk": f"p{i:03}", "g": i % 7, "body": "x" * (i * 3)} for i in range(40)]
        for item in items:
            ddb.put_item(
                TableName="sized",
                Item={
                    "pk": {"S": item["pk"]},
                    "g": {"N": str(item["g"])},
                    "body": {"S": item["body"]},
                },
            )
        table = ddb.describe_table(TableName="sized")["Table"]
        expected = sum(item_size({**i, "g": Decimal(i["g"])}) for i in items)
        assert table["TableSizeBytes"] == expected
        (gsi,) = table["GlobalSecondaryIndexes"]
        keys_only = sum(item_size({"pk": i["pk"], "g": Decimal(i["g"])}) for i in items)
        assert gsi["IndexSizeBytes"] == keys_only

    def test_a_large_table_size_is_estimated_from_a_sample(self, tmp_path) -> None:
        path = tmp_path / "big.keystone"
        n = SIZE_SAMPLE * 3
        with keystone.Database.open(path) as db:
            big = db.create_table("big", keystone.Schema(("pk", "S"), None))
            big.batch_write(puts=[{"pk": f"k{i:05}", "v": "y" * 20} for i in range(n)])
        srv = serve(path, tables=())
        try:
            got = client(srv.dynamodb_url).describe_table(TableName="big")["Table"]
        finally:
            srv.stop()
        one = len("pk") + len("k00000") + len("v") + 20
        assert got["ItemCount"] == n
        assert got["TableSizeBytes"] == one * n


def test_properties_the_endpoint_cannot_read_describe_the_table_as_on_demand(tmp_path) -> None:
    path = tmp_path / "odd.keystone"
    with keystone.Database.open(path) as db:
        db.create_table(
            "odd",
            keystone.Schema(("pk", "S"), None),
            properties={"billing_mode": "PROVISIONED", "read_units": "lots", "index_units": 5},
        )
    srv = serve(path, tables=())
    try:
        got = client(srv.dynamodb_url).describe_table(TableName="odd")["Table"]
    finally:
        srv.stop()
    assert got["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert got["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
