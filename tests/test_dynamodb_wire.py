"""The DynamoDB endpoint's wire behaviour, byte for byte: errors, headers, limits, bad input.

Requests here are raw HTTP (http.client), so what is pinned is what any
SDK sees: status codes, ``__type`` codes and messages, ``x-amzn-RequestId``
and ``x-amz-crc32``; and after every bad request the server still serves.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from dynamodbsupport import client, crc_ok, error_of, raw, serve

from keystone.testing import KeystoneServer

KEY = {"pk": {"S": "k"}, "sk": {"S": "1"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeystoneServer]:
    srv = serve(tmp_path_factory.mktemp("wire") / "wire.keystone")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def url(server: KeystoneServer) -> str:
    assert server.dynamodb_url is not None
    return server.dynamodb_url


def still_serves(url: str) -> None:
    status, _, data = raw(url, json.dumps({"TableName": "things", "Key": KEY}).encode())
    assert status == 200, data


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


class TestResponses:
    def test_a_response_carries_a_request_id_and_the_crc32_of_its_body(self, url: str) -> None:
        status, headers, data = raw(url, body(TableName="things", Key=KEY))
        assert status == 200
        assert headers["content-type"] == "application/x-amz-json-1.0"
        assert headers["x-amzn-requestid"]
        assert crc_ok(headers, data)

    def test_errors_carry_them_too(self, url: str) -> None:
        status, headers, data = raw(url, body(TableName="x"))
        assert status == 400
        assert headers["x-amzn-requestid"] and crc_ok(headers, data)

    def test_a_client_request_id_is_echoed(self, url: str) -> None:
        _, headers, _ = raw(
            url, body(TableName="things", Key=KEY), headers={"x-request-id": "abc-123"}
        )
        assert headers["x-amzn-requestid"] == "abc-123"

    def test_get_root_is_a_health_check(self, url: str) -> None:
        status, _, data = raw(url, b"", target=None, method="GET")
        assert status == 200 and data.startswith(b"healthy: ")


class TestOperations:
    def test_an_operation_not_offered_is_unknown_operation(self, url: str) -> None:
        status, _, data = raw(url, b"{}", target="DynamoDB_20120810.CreateBackup")
        assert status == 400
        assert error_of(data)[0] == "UnknownOperationException"
        still_serves(url)

    def test_a_missing_or_foreign_target_is_unknown_operation(self, url: str) -> None:
        for target in (None, "Foo_2020.GetItem", "DynamoDB_20120810.NoSuchThing"):
            status, _, data = raw(url, b"{}", target=target)
            assert status == 400
            code, _ = error_of(data)
            assert code == "UnknownOperationException"

    def test_error_types_carry_dynamodbs_namespaces(self, url: str) -> None:
        _, _, data = raw(url, body(TableName="x"))
        assert json.loads(data)["__type"] == "com.amazon.coral.validate#ValidationException"
        _, _, data = raw(url, body(TableName="things", Key={"zz": {"S": "a"}}))
        assert json.loads(data)["__type"] == "com.amazon.coral.validate#ValidationException"
        _, _, data = raw(
            url,
            body(
                TableName="things",
                Key=KEY,
                Item=KEY,
                ConditionExpression="attribute_not_exists(pk)",
            ),
            target="DynamoDB_20120810.PutItem",
        )
        raw(url, body(TableName="things", Item=KEY), target="DynamoDB_20120810.PutItem")
        _, _, data = raw(
            url,
            body(TableName="things", Item=KEY, ConditionExpression="attribute_not_exists(pk)"),
            target="DynamoDB_20120810.PutItem",
        )
        assert json.loads(data)["__type"] == (
            "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
        )


class TestValidation:
    def test_one_constraint_is_one_validation_error(self, url: str) -> None:
        status, _, data = raw(url, body(TableName="ab", Key=KEY))
        assert status == 400
        assert error_of(data) == (
            "ValidationException",
            "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy "
            "constraint: Member must have length greater than or equal to 3",
        )

    def test_several_are_counted_and_joined(self, url: str) -> None:
        _, _, data = raw(url, body(TableName="a!", Key=KEY, ReturnConsumedCapacity="LOTS"))
        code, message = error_of(data)
        assert code == "ValidationException"
        assert message.startswith("3 validation errors detected: ")
        assert "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+" in message
        assert "Value 'LOTS' at 'returnConsumedCapacity' failed to satisfy constraint: " in message
        assert "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]" in message

    def test_a_missing_required_member_is_null(self, url: str) -> None:
        _, _, data = raw(url, body(TableName="things"))
        assert error_of(data)[1] == (
            "1 validation error detected: Value null at 'key' failed to satisfy constraint: "
            "Member must not be null"
        )

    @pytest.mark.parametrize(
        ("target", "request_body", "path"),
        [
            ("TransactGetItems", {"TransactItems": [None]}, "transactItems.1.member"),
            ("ExecuteTransaction", {"TransactStatements": [None]}, "transactStatements.1.member"),
            ("BatchExecuteStatement", {"Statements": [None]}, "statements.1.member"),
            ("BatchWriteItem", {"RequestItems": {"things": None}}, "requestItems.things.member"),
            ("BatchGetItem", {"RequestItems": {"things": None}}, "requestItems.things.member"),
        ],
    )
    def test_a_null_in_a_list_or_batch_is_a_null_member(
        self, url: str, target: str, request_body: dict[str, object], path: str
    ) -> None:
        _, _, data = raw(url, json.dumps(request_body).encode(), f"DynamoDB_20120810.{target}")
        assert error_of(data) == (
            "ValidationException",
            f"1 validation error detected: Value null at '{path}' failed to satisfy constraint: "
            "Member must not be null",
        )
        still_serves(url)

    def test_ranges_of_numbers(self, url: str) -> None:
        _, _, data = raw(url, body(TableName="things", Limit=0), target="DynamoDB_20120810.Scan")
        assert error_of(data)[1] == (
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )

    def test_list_lengths_with_member_paths(self, url: str) -> None:
        _, _, data = raw(url, body(TransactItems=[]), target="DynamoDB_20120810.TransactGetItems")
        assert "Member must have length greater than or equal to 1" in error_of(data)[1]

    @pytest.mark.parametrize(
        ("request_body", "message"),
        [
            ({"TableName": 5, "Key": KEY}, "NUMBER_VALUE cannot be converted to String"),
            (
                {"TableName": "things", "Key": KEY, "ConsistentRead": "yes"},
                "STRING_VALUE cannot be converted to Boolean",
            ),
            ({"TableName": "things", "Key": []}, "Start of list found where not expected"),
            ({"TableName": "things", "Key": {"pk": "k"}}, None),
        ],
    )
    def test_wrong_json_types_are_serialization_errors(
        self, url: str, request_body: dict[str, object], message: str | None
    ) -> None:
        status, _, data = raw(url, json.dumps(request_body).encode())
        assert status == 400
        code, text = error_of(data)
        assert code == "SerializationException"
        if message is not None:
            assert text == message
        still_serves(url)

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (
                {},
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
            ),
            (
                {"S": "a", "N": "1"},
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one "
                "of the supported datatypes",
            ),
            ({"N": "12abc"}, "The parameter cannot be converted to a numeric value: 12abc"),
            (
                {"NULL": False},
                "One or more parameter values were invalid: Null attribute value types must have the value of true",
            ),
            (
                {"SS": []},
                "One or more parameter values were invalid: An string set  may not be empty",
            ),
            (
                {"SS": ["a", "a"]},
                "One or more parameter values were invalid: Input collection [a, a] contains duplicates.",
            ),
        ],
    )
    def test_attribute_values_are_checked_as_dynamodb_does(
        self, url: str, value: dict[str, object], message: str
    ) -> None:
        item = {**KEY, "v": value}
        status, _, data = raw(
            url, body(TableName="things", Item=item), target="DynamoDB_20120810.PutItem"
        )
        assert status == 400
        assert error_of(data) == ("ValidationException", message)


class TestBadInput:
    def test_malformed_json(self, url: str) -> None:
        for junk in (b"{", b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"):
            status, _, data = raw(url, junk)
            assert status == 400, junk
            assert error_of(data)[0] == "SerializationException"
        still_serves(url)

    def test_a_body_over_16_mb_is_refused_before_it_is_read(self, url: str) -> None:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            head = (
                "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n"
                "Content-Type: application/x-amz-json-1.0\r\n"
                f"Content-Length: {16 * 1024 * 1024 + 1}\r\n\r\n"
            )
            sock.sendall(head.encode())
            reply = b""
            for _ in range(100):  # until the server closes the connection
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 413")
        assert b"RequestEntityTooLarge" in reply
        still_serves(url)

    def test_a_streamed_body_over_16_mb_is_cut_off(self, url: str) -> None:
        big = (
            b'{"TableName": "things", "Item": {"pk": {"S": "' + b"x" * (16 * 1024 * 1024) + b'"}}}'
        )
        try:
            status, _, data = raw(url, big, target="DynamoDB_20120810.PutItem")
        except (ConnectionError, OSError):
            status = 413  # the server may close the connection while we still send
        assert status == 413
        still_serves(url)

    def test_a_truncated_body_does_not_stop_the_server(self, url: str) -> None:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n"
                b'Content-Length: 500\r\n\r\n{"TableName": "thi'
            )
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            sock.sendall(b"GARBAGE\r\n\r\n")
            sock.recv(1024)
        still_serves(url)

    def test_deep_nesting_is_refused_not_crashed(self, url: str) -> None:
        value: dict[str, object] = {"S": "x"}
        for _ in range(200):
            value = {"L": [value]}
        status, _, data = raw(
            url,
            body(TableName="things", Item={**KEY, "v": value}),
            target="DynamoDB_20120810.PutItem",
        )
        assert status == 400
        assert error_of(data)[0] == "ValidationException"
        still_serves(url)

    def test_boto3_sees_the_same_errors(self, url: str) -> None:
        c = client(url)
        with pytest.raises(c.exceptions.ClientError) as info:
            c.get_item(TableName="things", Key={})
        assert info.value.response["Error"]["Code"] == "ValidationException"
