"""The DynamoDB endpoint with boto3, client and resource, against a real server process."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from dynamodbsupport import client, resource, serve

from keystone.testing import KeystoneServer

TABLE = "orders"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeystoneServer]:
    srv = serve(tmp_path_factory.mktemp("ddb") / "boto3.keystone")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def ddb(server: KeystoneServer):
    c = client(server.dynamodb_url)
    # start each test from an empty table
    for page in c.get_paginator("scan").paginate(TableName=TABLE):
        for item in page["Items"]:
            key = {k: item[k] for k in ("pk", "sk") if k in item}
            c.delete_item(TableName=TABLE, Key=key)
    return c


def code_of(info: pytest.ExceptionInfo[ClientError]) -> str:
    return info.value.response["Error"]["Code"]


class TestItems:
    def test_put_then_get_round_trips_every_type(self, ddb) -> None:
        item = {
            "pk": {"S": "u#1"},
            "sk": {"S": "profile"},
            "s": {"S": "text"},
            "n": {"N": "12.50"},
            "big": {"N": "12345678901234567890123456789012345678"},
            "b": {"B": b"\x00\xff"},
            "t": {"BOOL": True},
            "nil": {"NULL": True},
            "l": {"L": [{"S": "a"}, {"N": "1"}]},
            "m": {"M": {"inner": {"S": "x"}}},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2.5"]},
            "bs": {"BS": [b"x", b"y"]},
            "empty": {"S": ""},
        }
        ddb.put_item(TableName=TABLE, Item=item)
        got = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "u#1"}, "sk": {"S": "profile"}})
        expected = dict(item, n={"N": "12.5"})
        got_item = got["Item"]
        for name in ("ss", "ns", "bs"):
            kind = next(iter(expected[name]))
            assert sorted(got_item[name][kind]) == sorted(expected[name][kind])
            del got_item[name], expected[name]
        assert got_item == expected

    def test_get_of_a_missing_item_has_no_item(self, ddb) -> None:
        got = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "nobody"}, "sk": {"S": "x"}})
        assert "Item" not in got

    def test_projection_picks_attributes(self, ddb) -> None:
        ddb.put_item(
            TableName=TABLE,
            Item={"pk": {"S": "p"}, "sk": {"S": "1"}, "a": {"N": "1"}, "b": {"N": "2"}},
        )
        got = ddb.get_item(
            TableName=TABLE,
            Key={"pk": {"S": "p"}, "sk": {"S": "1"}},
            ProjectionExpression="#a",
            ExpressionAttributeNames={"#a": "a"},
        )
        assert got["Item"] == {"a": {"N": "1"}}

    def test_put_returns_the_old_item_with_all_old(self, ddb) -> None:
        key = {"pk": {"S": "p"}, "sk": {"S": "1"}}
        ddb.put_item(TableName=TABLE, Item={**key, "v": {"N": "1"}})
        got = ddb.put_item(TableName=TABLE, Item={**key, "v": {"N": "2"}}, ReturnValues="ALL_OLD")
        assert got["Attributes"] == {**key, "v": {"N": "1"}}

    def test_failed_condition_is_conditional_check_failed_and_changes_nothing(self, ddb) -> None:
        key = {"pk": {"S": "p"}, "sk": {"S": "1"}}
        ddb.put_item(TableName=TABLE, Item={**key, "v": {"N": "1"}})
        with pytest.raises(ClientError) as info:
            ddb.put_item(
                TableName=TABLE,
                Item={**key, "v": {"N": "2"}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        assert code_of(info) == "ConditionalCheckFailedException"
        assert info.value.response["Error"]["Message"] == "The conditional request failed"
        assert ddb.get_item(TableName=TABLE, Key=key)["Item"]["v"] == {"N": "1"}

    def test_update_adds_and_returns_the_requested_image(self, ddb) -> None:
        key = {"pk": {"S": "c"}, "sk": {"S": "1"}}
        first = ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET #n = if_not_exists(#n, :zero) + :one",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        assert first["Attributes"] == {"n": {"N": "1"}}
        second = ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
        assert second["Attributes"] == {**key, "n": {"N": "2"}}
        plain = ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="REMOVE n")
        assert "Attributes" not in plain

    def test_delete_returns_the_old_item_and_removes_it(self, ddb) -> None:
        key = {"pk": {"S": "d"}, "sk": {"S": "1"}}
        ddb.put_item(TableName=TABLE, Item={**key, "v": {"S": "x"}})
        got = ddb.delete_item(TableName=TABLE, Key=key, ReturnValues="ALL_OLD")
        assert got["Attributes"] == {**key, "v": {"S": "x"}}
        assert "Item" not in ddb.get_item(TableName=TABLE, Key=key)

    def test_a_key_with_a_wrong_attribute_does_not_match_the_schema(self, ddb) -> None:
        with pytest.raises(ClientError) as info:
            ddb.get_item(TableName=TABLE, Key={"id": {"S": "x"}})
        assert code_of(info) == "ValidationException"
        assert info.value.response["Error"]["Message"] == (
            "The provided key element does not match the schema"
        )

    def test_consumed_capacity_follows_dynamodbs_units(self, ddb) -> None:
        key = {"pk": {"S": "cap"}, "sk": {"S": "1"}}
        big = "x" * 5000  # about 5 KB: 5 write units, 2 strong read units
        put = ddb.put_item(
            TableName=TABLE, Item={**key, "v": {"S": big}}, ReturnConsumedCapacity="TOTAL"
        )
        assert put["ConsumedCapacity"] == {
            "TableName": TABLE,
            "CapacityUnits": 5.0,
            "WriteCapacityUnits": 5.0,
        }
        strong = ddb.get_item(
            TableName=TABLE, Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL"
        )
        assert strong["ConsumedCapacity"]["CapacityUnits"] == 2.0
        eventual = ddb.get_item(TableName=TABLE, Key=key, ReturnConsumedCapacity="TOTAL")
        assert eventual["ConsumedCapacity"]["CapacityUnits"] == 1.0

    def test_batches_and_transactions_count_units_only_when_asked(self, ddb) -> None:
        small = [{"pk": {"S": "cap"}, "sk": {"S": str(i)}, "v": {"N": "1"}} for i in range(2)]
        large = {"pk": {"S": "cap"}, "sk": {"S": "large"}, "v": {"S": "x" * 5000}}
        writes = [{"PutRequest": {"Item": item}} for item in (*small, large)]
        writes.append({"DeleteRequest": {"Key": {"pk": {"S": "cap"}, "sk": {"S": "gone"}}}})
        plain = ddb.batch_write_item(RequestItems={TABLE: writes})
        assert "ConsumedCapacity" not in plain
        # 1 + 1 + 5 (5 KB) + 1 for the delete
        total = ddb.batch_write_item(RequestItems={TABLE: writes}, ReturnConsumedCapacity="TOTAL")
        assert total["ConsumedCapacity"] == [
            {"TableName": TABLE, "CapacityUnits": 8.0, "WriteCapacityUnits": 8.0}
        ]
        indexes = ddb.batch_write_item(
            RequestItems={TABLE: writes}, ReturnConsumedCapacity="INDEXES"
        )
        assert indexes["ConsumedCapacity"][0]["Table"] == {
            "CapacityUnits": 8.0,
            "WriteCapacityUnits": 8.0,
        }

        keys = [{k: item[k] for k in ("pk", "sk")} for item in (*small, large)]
        got = ddb.batch_get_item(RequestItems={TABLE: {"Keys": keys}})
        assert "ConsumedCapacity" not in got
        # eventually consistent: half a unit per 4 KB (0.5 + 0.5 + 1); strongly: twice that
        for consistent, units in ((False, 2.0), (True, 4.0)):
            got = ddb.batch_get_item(
                RequestItems={TABLE: {"Keys": keys, "ConsistentRead": consistent}},
                ReturnConsumedCapacity="TOTAL",
            )
            assert got["ConsumedCapacity"] == [
                {"TableName": TABLE, "CapacityUnits": units, "ReadCapacityUnits": units}
            ]

        gets = [{"Get": {"TableName": TABLE, "Key": key}} for key in keys]
        assert "ConsumedCapacity" not in ddb.transact_get_items(TransactItems=gets)
        # transactional: two units per 4 KB (2 + 2 + 4)
        got = ddb.transact_get_items(TransactItems=gets, ReturnConsumedCapacity="TOTAL")
        assert got["ConsumedCapacity"] == [
            {"TableName": TABLE, "CapacityUnits": 8.0, "ReadCapacityUnits": 8.0}
        ]

    def test_transactional_writes_and_statements_count_units_only_when_asked(self, ddb) -> None:
        large = {"pk": {"S": "cap"}, "sk": {"S": "large"}, "v": {"S": "x" * 5000}}
        # (a transaction names each item once: the check is of another key)
        check = {"TableName": TABLE, "Key": {"pk": {"S": "cap"}, "sk": {"S": "other"}}}
        parts = [
            {"Put": {"TableName": TABLE, "Item": large}},
            {"ConditionCheck": {**check, "ConditionExpression": "attribute_not_exists(nothing)"}},
        ]
        assert "ConsumedCapacity" not in ddb.transact_write_items(TransactItems=parts[:1])
        # transactional: two units per KB (5 KB: 10) and 2 for the check
        written = ddb.transact_write_items(TransactItems=parts, ReturnConsumedCapacity="TOTAL")
        assert written["ConsumedCapacity"] == [
            {"TableName": TABLE, "CapacityUnits": 12.0, "WriteCapacityUnits": 12.0}
        ]
        select = [{"Statement": f"SELECT * FROM \"{TABLE}\" WHERE pk = 'cap' AND sk = 'large'"}]
        assert "ConsumedCapacity" not in ddb.execute_transaction(TransactStatements=select)
        # two units per 4 KB of the 5 KB item: 4
        read = ddb.execute_transaction(TransactStatements=select, ReturnConsumedCapacity="TOTAL")
        assert read["ConsumedCapacity"] == [
            {"TableName": TABLE, "CapacityUnits": 4.0, "ReadCapacityUnits": 4.0}
        ]


class TestQueriesAndScans:
    def fill(self, ddb, n: int = 10) -> None:
        for i in range(n):
            ddb.put_item(
                TableName=TABLE,
                Item={"pk": {"S": "q"}, "sk": {"S": f"item#{i:02d}"}, "n": {"N": str(i)}},
            )

    def test_query_by_key_condition_in_order_and_reverse(self, ddb) -> None:
        self.fill(ddb)
        got = ddb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":p": {"S": "q"},
                ":a": {"S": "item#02"},
                ":b": {"S": "item#04"},
            },
        )
        assert [i["sk"]["S"] for i in got["Items"]] == ["item#02", "item#03", "item#04"]
        assert got["Count"] == 3
        back = ddb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "q"}},
            ScanIndexForward=False,
            Limit=2,
        )
        assert [i["sk"]["S"] for i in back["Items"]] == ["item#09", "item#08"]
        assert back["LastEvaluatedKey"] == {"pk": {"S": "q"}, "sk": {"S": "item#08"}}

    def test_query_pages_follow_last_evaluated_key(self, ddb) -> None:
        self.fill(ddb)
        paginator = ddb.get_paginator("query")
        pages = list(
            paginator.paginate(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "q"}},
                PaginationConfig={"PageSize": 3},
            )
        )
        assert [len(p["Items"]) for p in pages] == [3, 3, 3, 1]

    def test_query_filter_and_select_count(self, ddb) -> None:
        self.fill(ddb)
        got = ddb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p",
            FilterExpression="n >= :five",
            ExpressionAttributeValues={":p": {"S": "q"}, ":five": {"N": "5"}},
            Select="COUNT",
        )
        assert got["Count"] == 5 and got["ScannedCount"] == 10
        assert "Items" not in got

    def test_key_condition_on_a_non_key_attribute_is_refused(self, ddb) -> None:
        with pytest.raises(ClientError) as info:
            ddb.query(
                TableName=TABLE,
                KeyConditionExpression="n = :v",
                ExpressionAttributeValues={":v": {"N": "1"}},
            )
        assert code_of(info) == "ValidationException"

    def test_scan_segments_are_disjoint_and_cover_the_table(self, ddb) -> None:
        self.fill(ddb, 30)
        seen = []
        for segment in range(4):
            got = ddb.scan(TableName=TABLE, Segment=segment, TotalSegments=4)
            seen.extend(i["sk"]["S"] for i in got["Items"])
        assert sorted(seen) == [f"item#{i:02d}" for i in range(30)]

    def test_segment_without_total_segments_is_refused(self, ddb) -> None:
        with pytest.raises(ClientError) as info:
            ddb.scan(TableName=TABLE, Segment=1)
        assert code_of(info) == "ValidationException"
        assert "TotalSegments" in info.value.response["Error"]["Message"]


class TestBatchesAndTransactions:
    def test_batch_write_then_batch_get(self, ddb) -> None:
        puts = [
            {"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"S": str(i)}, "v": {"N": str(i)}}}}
            for i in range(25)
        ]
        assert ddb.batch_write_item(RequestItems={TABLE: puts})["UnprocessedItems"] == {}
        keys = [{"pk": {"S": "b"}, "sk": {"S": str(i)}} for i in range(0, 25, 5)]
        got = ddb.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ProjectionExpression": "v"}})
        assert sorted(int(i["v"]["N"]) for i in got["Responses"][TABLE]) == [0, 5, 10, 15, 20]
        assert got["UnprocessedKeys"] == {}

    def test_batch_write_of_26_is_a_validation_error(self, ddb) -> None:
        puts = [
            {"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"S": str(i)}}}} for i in range(26)
        ]
        with pytest.raises(ClientError) as info:
            ddb.batch_write_item(RequestItems={TABLE: puts})
        assert code_of(info) == "ValidationException"

    def test_transact_write_all_or_nothing_with_reasons(self, ddb) -> None:
        a = {"pk": {"S": "t"}, "sk": {"S": "a"}}
        b = {"pk": {"S": "t"}, "sk": {"S": "b"}}
        ddb.put_item(TableName=TABLE, Item={**a, "v": {"N": "1"}})
        with pytest.raises(ClientError) as info:
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": TABLE, "Item": {**b, "v": {"N": "2"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": a,
                            "ConditionExpression": "v = :two",
                            "ExpressionAttributeValues": {":two": {"N": "2"}},
                        }
                    },
                ]
            )
        assert code_of(info) == "TransactionCanceledException"
        reasons = info.value.response["CancellationReasons"]
        assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
        assert "Item" not in ddb.get_item(TableName=TABLE, Key=b)

    def test_transact_parts_keep_their_own_placeholders(self, ddb) -> None:
        a = {"pk": {"S": "t"}, "sk": {"S": "a"}}
        b = {"pk": {"S": "t"}, "sk": {"S": "b"}}
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key,
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"N": str(n)}},
                    }
                }
                for n, key in ((1, a), (2, b))
            ]
        )
        got = ddb.transact_get_items(
            TransactItems=[
                {"Get": {"TableName": TABLE, "Key": k}}
                for k in (a, b, {"pk": {"S": "t"}, "sk": {"S": "none"}})
            ]
        )
        assert [r.get("Item", {}).get("v") for r in got["Responses"]] == [
            {"N": "1"},
            {"N": "2"},
            None,
        ]


class TestResource:
    def test_table_resource_with_conditions(self, server: KeystoneServer, ddb) -> None:
        table = resource(server.dynamodb_url).Table(TABLE)
        with table.batch_writer() as writer:
            for i in range(12):
                writer.put_item(
                    Item={"pk": "r", "sk": f"{i:02d}", "n": i, "price": Decimal("1.25")}
                )
        got = table.query(
            KeyConditionExpression=Key("pk").eq("r") & Key("sk").begins_with("0"),
            FilterExpression=Attr("n").gt(5),
        )
        assert [i["n"] for i in got["Items"]] == [6, 7, 8, 9]
        assert got["Items"][0]["price"] == Decimal("1.25")
        table.update_item(
            Key={"pk": "r", "sk": "00"},
            UpdateExpression="SET tags = :t",
            ExpressionAttributeValues={":t": {"a", "b"}},
        )
        assert table.get_item(Key={"pk": "r", "sk": "00"})["Item"]["tags"] == {"a", "b"}
        scanned = table.scan(FilterExpression=Attr("n").between(3, 4))
        assert sorted(i["n"] for i in scanned["Items"]) == [3, 4]


class TestLegacyParameters:
    def test_expected_and_attribute_updates(self, ddb) -> None:
        key = {"pk": {"S": "legacy"}, "sk": {"S": "1"}}
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            AttributeUpdates={"v": {"Action": "PUT", "Value": {"N": "1"}}},
        )
        with pytest.raises(ClientError) as info:
            ddb.put_item(
                TableName=TABLE,
                Item={**key, "v": {"N": "9"}},
                Expected={"v": {"Value": {"N": "2"}}},
            )
        assert code_of(info) == "ConditionalCheckFailedException"
        ddb.put_item(
            TableName=TABLE,
            Item={**key, "v": {"N": "9"}},
            Expected={"v": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}},
        )
        got = ddb.get_item(TableName=TABLE, Key=key, AttributesToGet=["v"])
        assert got["Item"] == {"v": {"N": "9"}}

    def test_key_conditions_and_query_filter(self, ddb) -> None:
        for i in range(5):
            ddb.put_item(
                TableName=TABLE, Item={"pk": {"S": "lq"}, "sk": {"S": f"{i}"}, "n": {"N": str(i)}}
            )
        got = ddb.query(
            TableName=TABLE,
            KeyConditions={
                "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "lq"}]},
                "sk": {"ComparisonOperator": "GE", "AttributeValueList": [{"S": "1"}]},
            },
            QueryFilter={
                "n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "2"}, {"N": "4"}]}
            },
        )
        assert [i["n"]["N"] for i in got["Items"]] == ["2", "4"]

    def test_mixing_legacy_and_expressions_is_refused(self, ddb) -> None:
        with pytest.raises(ClientError) as info:
            ddb.get_item(
                TableName=TABLE,
                Key={"pk": {"S": "x"}, "sk": {"S": "y"}},
                AttributesToGet=["a"],
                ProjectionExpression="a",
            )
        assert code_of(info) == "ValidationException"
        assert (
            "Can not use both expression and non-expression parameters"
            in (info.value.response["Error"]["Message"])
        )


class TestPartiQL:
    def test_execute_statement_insert_and_select(self, ddb) -> None:
        ddb.execute_statement(
            Statement=f"INSERT INTO {TABLE} VALUE {{'pk': ?, 'sk': ?, 'v': ?}}",
            Parameters=[{"S": "ps"}, {"S": "1"}, {"N": "7"}],
        )
        got = ddb.execute_statement(
            Statement=f"SELECT * FROM {TABLE} WHERE pk = ?", Parameters=[{"S": "ps"}]
        )
        assert got["Items"] == [{"pk": {"S": "ps"}, "sk": {"S": "1"}, "v": {"N": "7"}}]

    def test_batch_execute_answers_each_statement(self, ddb) -> None:
        got = ddb.batch_execute_statement(
            Statements=[
                {"Statement": f"INSERT INTO {TABLE} VALUE {{'pk': 'bx', 'sk': '1'}}"},
                {"Statement": "SELEC nonsense"},
            ]
        )
        first, second = got["Responses"]
        assert "Error" not in first
        assert second["Error"]["Code"] == "Validation"


class TestTablesAndAccount:
    def test_describe_and_create_speak_dynamodbs_shapes(self, ddb) -> None:
        created = ddb.create_table(
            TableName="created_here",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )["TableDescription"]
        try:
            assert created["TableStatus"] == "ACTIVE"
            ddb.get_waiter("table_exists").wait(TableName="created_here")
            table = ddb.describe_table(TableName="created_here")["Table"]
            assert table["TableName"] == "created_here"
            assert table["KeySchema"][0] == {"AttributeName": "pk", "KeyType": "HASH"}
            assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        finally:
            ddb.delete_table(TableName="created_here")

    def test_describe_limits_and_endpoints(self, ddb) -> None:
        assert ddb.describe_limits()["TableMaxReadCapacityUnits"] == 40000
        assert ddb.describe_endpoints()["Endpoints"][0]["CachePeriodInMinutes"] == 1440

    def test_tags_round_trip(self, ddb) -> None:
        arn = ddb.describe_table(TableName=TABLE)["Table"]["TableArn"]
        ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "db"}])
        assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [
            {"Key": "team", "Value": "db"}
        ]
        ddb.untag_resource(ResourceArn=arn, TagKeys=["team"])
        assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == []

    def test_time_to_live_is_described(self, ddb) -> None:
        got = ddb.describe_time_to_live(TableName=TABLE)
        assert got["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"


class TestReturnValuesOnConditionCheckFailure:
    def test_a_failed_condition_carries_the_item_when_asked(self, ddb) -> None:
        key = {"pk": {"S": "rv"}, "sk": {"S": "1"}}
        ddb.put_item(TableName=TABLE, Item={**key, "v": {"N": "1"}})
        with pytest.raises(ClientError) as info:
            ddb.put_item(
                TableName=TABLE,
                Item=key,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        assert info.value.response["Item"] == {**key, "v": {"N": "1"}}

    def test_a_cancelled_transaction_carries_the_item_in_its_reason(self, ddb) -> None:
        key = {"pk": {"S": "rv"}, "sk": {"S": "2"}}
        ddb.put_item(TableName=TABLE, Item={**key, "v": {"N": "1"}})
        with pytest.raises(ClientError) as info:
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": key,
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    }
                ]
            )
        (reason,) = info.value.response["CancellationReasons"]
        assert reason["Item"] == {**key, "v": {"N": "1"}}
