"""The DynamoDB Streams API (``DynamoDBStreams_20120810``) and TTL over a file with a stream."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from dynamodbsupport import CREDENTIALS, client, serve

import keystone
from keystone.testing import KeystoneServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeystoneServer]:
    path = tmp_path_factory.mktemp("streams") / "streams.keystone"
    schema = keystone.Schema(
        ("pk", "S"),
        ("sk", "S"),
        ttl_attribute="expires",
        stream=keystone.StreamConfig(view="NEW_AND_OLD_IMAGES"),
    )
    with keystone.Database.open(path) as db:
        db.create_table("events", schema)
    srv = serve(path)
    try:
        yield srv
    finally:
        srv.stop()


def streams_client(url: str):
    return boto3.client("dynamodbstreams", endpoint_url=url, region_name="us-east-1", **CREDENTIALS)


def test_records_of_every_iterator_type(server: KeystoneServer) -> None:
    ddb = client(server.dynamodb_url)
    streams = streams_client(server.dynamodb_url)
    table = ddb.describe_table(TableName="events")["Table"]
    arn = table["LatestStreamArn"]
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert [s["StreamArn"] for s in streams.list_streams(TableName="events")["Streams"]] == [arn]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    latest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
    key = {"pk": {"S": "e"}, "sk": {"S": "1"}}
    ddb.put_item(TableName="events", Item={**key, "v": {"N": "1"}})
    ddb.put_item(TableName="events", Item={**key, "v": {"N": "2"}})
    ddb.delete_item(TableName="events", Key=key)

    got = streams.get_records(ShardIterator=latest["ShardIterator"])
    records = got["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert records[1]["dynamodb"]["OldImage"] == {**key, "v": {"N": "1"}}
    assert records[1]["dynamodb"]["NewImage"] == {**key, "v": {"N": "2"}}
    assert records[2]["dynamodb"]["Keys"] == key
    assert streams.get_records(ShardIterator=got["NextShardIterator"])["Records"] == []

    first, second = (r["dynamodb"]["SequenceNumber"] for r in records[:2])
    at = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=second
    )
    assert [
        r["eventName"] for r in streams.get_records(ShardIterator=at["ShardIterator"])["Records"]
    ] == [
        "MODIFY",
        "REMOVE",
    ]
    after = streams.get_shard_iterator(
        StreamArn=arn,
        ShardId=shard,
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        SequenceNumber=first,
    )
    assert len(streams.get_records(ShardIterator=after["ShardIterator"])["Records"]) == 2
    horizon = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )
    everything = streams.get_records(ShardIterator=horizon["ShardIterator"], Limit=2)
    assert len(everything["Records"]) == 2


def test_a_bad_iterator_is_a_validation_error(server: KeystoneServer) -> None:
    streams = streams_client(server.dynamodb_url)
    with pytest.raises(ClientError) as info:
        streams.get_records(ShardIterator="not-an-iterator")
    assert info.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize(
    "number", ["1" * 21, "9" * 40, "²" + "0" * 20, "-" + "1" * 20, "1.5" + "0" * 18]
)
def test_a_sequence_number_never_given_out_is_a_validation_error(
    server: KeystoneServer, number: str
) -> None:
    streams = streams_client(server.dynamodb_url)
    arn = client(server.dynamodb_url).describe_table(TableName="events")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        with pytest.raises(ClientError) as info:
            streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType=kind, SequenceNumber=number
            )
        assert info.value.response["Error"] == {
            "Code": "ValidationException",
            "Message": f"Invalid SequenceNumber for ShardIteratorType {kind}: {number}",
        }


def test_at_sequence_number_zero_reads_from_the_start(server: KeystoneServer) -> None:
    ddb = client(server.dynamodb_url)
    streams = streams_client(server.dynamodb_url)
    arn = ddb.describe_table(TableName="events")["Table"]["LatestStreamArn"]
    ddb.put_item(TableName="events", Item={"pk": {"S": "zero"}, "sk": {"S": "1"}})
    at = streams.get_shard_iterator(
        StreamArn=arn,
        ShardId="shardId-00000000000000000001-00000001",
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber="0" * 21,
    )
    horizon = streams.get_shard_iterator(
        StreamArn=arn,
        ShardId="shardId-00000000000000000001-00000001",
        ShardIteratorType="TRIM_HORIZON",
    )
    first = streams.get_records(ShardIterator=at["ShardIterator"], Limit=5)["Records"]
    assert first
    assert first == streams.get_records(ShardIterator=horizon["ShardIterator"], Limit=5)["Records"]


def test_time_to_live_names_the_files_attribute(server: KeystoneServer) -> None:
    ddb = client(server.dynamodb_url)
    got = ddb.describe_time_to_live(TableName="events")["TimeToLiveDescription"]
    assert got == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    with pytest.raises(ClientError) as info:
        ddb.update_time_to_live(
            TableName="events",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
        )
    assert info.value.response["Error"]["Message"] == "TimeToLive is already enabled"
    with pytest.raises(ClientError) as info:
        ddb.update_time_to_live(
            TableName="events", TimeToLiveSpecification={"Enabled": True, "AttributeName": "other"}
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_expired_items_are_invisible(server: KeystoneServer) -> None:
    ddb = client(server.dynamodb_url)
    key = {"pk": {"S": "ttl"}, "sk": {"S": "1"}}
    ddb.put_item(TableName="events", Item={**key, "expires": {"N": "1000"}})
    assert "Item" not in ddb.get_item(TableName="events", Key=key)
