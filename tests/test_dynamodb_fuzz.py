"""No request crashes the DynamoDB endpoint: random requests drawn from DynamoDB's own model.

Every operation of botocore's ``dynamodb`` and ``dynamodbstreams`` models
(offered or not) gets requests built from its input shape: mostly the right
JSON kinds with values that reach the operations (the tables that exist,
their keys, expressions over their attributes), and now and then a null, a
value of the wrong kind, an out-of-range number or a long string. Whatever
comes, the answer is a 200 or DynamoDB's 4xx error body (never a 500, never
an ``InternalServerError`` inside a batch's answer), each with the CRC of
its body; afterwards the server still serves and a table no request names
is as it was.

Each seed sends the same requests in every run (but for the shard ids and
iterators they take from earlier answers), and a failure shows the request
that failed. ``KEYSTONE_FUZZ_EXAMPLES`` (``make fuzz``)
scales how many are sent.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest
from dynamodbsupport import crc_ok, serve

from keystone.testing import KeystoneServer
from keystone_net.dynamodb.tables import stream_arn

EXAMPLES = int(os.environ.get("KEYSTONE_FUZZ_EXAMPLES", "100"))
SEEDS = 4
PER_SEED = 5 * EXAMPLES  # requests per seed: 2,000 in all by default

#: The tables the requests aim at (HASH pk, RANGE sk, both S; orders with a
#: stream), recreated when a request has deleted one; and one no request
#: names, checked at the end.
TABLES = ("things", "orders")
UNTOUCHED = "kept_aside"
KEPT_ITEM = {"pk": {"S": "kept"}, "sk": {"S": "1"}, "v": {"N": "42"}}

NAMES = ["things", "orders", "pk", "sk", "v", "a", "b", "#n", ":v", "l", "m", "gsi1", ""]
KEY_CONDITIONS = [
    "pk = :v",
    "pk = :v AND sk > :w",
    "pk = :v AND begins_with(sk, :w)",
    "#n = :v",
    "pk = :v AND sk BETWEEN :v AND :w",
]
CONDITIONS = ["attribute_exists(a)", "attribute_not_exists(pk)", "size(a) > :v", "a IN (:v, :w)"]
UPDATES = [
    "SET a = :v",
    "SET a = a + :v",
    "SET #n = :v",
    "SET l = list_append(l, :v)",
    "SET m.x = :v",
    "SET l[3] = :v",
    "REMOVE a",
    "REMOVE l[0]",
    "ADD n :v",
    "DELETE s :v",
    "SET a = if_not_exists(a, :v)",
]
PROJECTIONS = ["a, b, m.x", "l[0], #n"]
STATEMENTS = [
    "SELECT * FROM things",
    'SELECT * FROM "things" WHERE pk = ?',
    "INSERT INTO things VALUE {'pk': 'a', 'sk': 'b'}",
    "UPDATE things SET v = 1 WHERE pk = 'a' AND sk = 'b'",
    "DELETE FROM things WHERE pk = 'k' AND sk = '1'",
]
EXPRESSIONS = [
    *KEY_CONDITIONS, *CONDITIONS, *UPDATES, *PROJECTIONS, *STATEMENTS, "", "(((", "pk = :nowhere"
]  # fmt: skip


class Requests:
    """Request bodies for DynamoDB's operations, drawn with ``rng`` from botocore's model."""

    def __init__(self, rng: random.Random) -> None:
        loader = botocore.session.get_session().get_component("data_loader")
        self.rng = rng
        self.models = [loader.load_service_model(s, "service-2") for s in SERVICES]
        # Shard ids and iterators seen in answers (see learn), used again.
        self.shards: list[str] = []
        self.iterators: list[str] = []
        self.special: dict[str, Callable[[], Any]] = {
            "TableName": lambda: rng.choice(["things", "orders", "things", "orders", "nope"]),
            "Key": self.key,
            "ExclusiveStartKey": self.key,
            "Item": self.item,
            "ExpressionAttributeValues": lambda: {
                rng.choice([":v", ":w", ":x"]): self.attribute_value()
                for _ in range(rng.randint(1, 3))
            },
            "ExpressionAttributeNames": lambda: {
                rng.choice(["#n", "#m"]): rng.choice(["a", "v", "pk"])
                for _ in range(rng.randint(1, 2))
            },
            "IndexName": lambda: rng.choice(["gsi1", "lsi1", "nope"]),
            "Limit": lambda: rng.choice([1, 2, 5, 100]),
            "AttributeName": lambda: rng.choice(["pk", "sk", "gk", "v", "ttl"]),
            "Segment": lambda: rng.choice([0, 1, 2]),
            "TotalSegments": lambda: rng.choice([1, 2, 3]),
            "ResourceArn": lambda: rng.choice(
                ["arn:aws:dynamodb:us-east-1:000000000000:table/things", "arn:x", "orders"]
            ),
            "StreamArn": lambda: rng.choice([stream_arn("orders"), stream_arn("things"), "x" * 40]),
            "ShardId": lambda: rng.choice([*self.shards, "shardId-x"]),
            "ShardIterator": lambda: rng.choice([*self.iterators[-5:], "x", "a" * 100]),
            "SequenceNumber": lambda: rng.choice(["1", "1" * 21, "x" * 21]),
            "Parameters": lambda: [self.attribute_value() for _ in range(rng.randint(0, 3))],
        }

    # -- values ------------------------------------------------------------------------

    def key(self) -> dict[str, Any]:
        rng = self.rng
        key: dict[str, Any] = {
            "pk": {"S": rng.choice(["k", "a", "b"])},
            "sk": {"S": rng.choice(["1", "2", "b"])},
        }
        if rng.random() < 0.1:
            key.pop(rng.choice(["pk", "sk"]))
        if rng.random() < 0.05:
            key["pk"] = self.attribute_value()
        return key

    def item(self) -> dict[str, Any]:
        item = self.key()
        for _ in range(self.rng.randint(0, 4)):
            item[self.rng.choice(["v", "a", "b", "l", "m", "n", "s", "gk"])] = (
                self.attribute_value()
            )
        return item

    def attribute_value(self, depth: int = 0) -> Any:
        rng = self.rng
        kind = rng.choice(["S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL", "L", "M", "S", "N"])
        value: Any
        if kind == "S":
            value = rng.choice(["k", "1", "", "x" * rng.choice([1, 1025, 3000])])
        elif kind == "N":
            value = rng.choice(["1", "-0", "1e126", "1e200", "abc", "1E-130", " 1", "9" * 40, ""])
        elif kind == "B":
            value = rng.choice(["AA==", "", "!!", base64.b64encode(b"x" * 10).decode()])
        elif kind == "SS":
            value = rng.choice([[], ["a", "a"], ["a", "b"], [1], [None]])
        elif kind == "NS":
            value = rng.choice([[], ["1", "1.0"], ["x"], ["1", "2"]])
        elif kind == "BS":
            value = rng.choice([[], ["AA==", "AA=="], ["AQ=="]])
        elif kind == "BOOL":
            value = rng.choice([True, False, "true", 1])
        elif kind == "NULL":
            value = rng.choice([True, False, None])
        elif kind == "L":
            value = [
                self.attribute_value(depth + 1) for _ in range(rng.randint(0, 3) * (depth < 4))
            ]
        else:
            value = {
                rng.choice(NAMES): self.attribute_value(depth + 1)
                for _ in range(rng.randint(0, 3) * (depth < 4))
            }
        out = {kind: value}
        if rng.random() < 0.05:
            out[rng.choice(["S", "N", "X"])] = "2"
        return {} if rng.random() < 0.03 else out

    def odd(self) -> Any:
        """A value of some JSON kind, likely the wrong one."""
        return self.rng.choice([1, 1.5, "s", True, None, [], {}, [1], {"a": 1}])

    def string(self, shape: dict[str, Any], name: str) -> str:
        rng = self.rng
        if shape.get("enum") and rng.random() < 0.85:
            return str(rng.choice(shape["enum"]))
        if "Expression" in name or name == "Statement":
            return rng.choice(EXPRESSIONS)
        if rng.random() < 0.7:
            return rng.choice(NAMES)
        size = rng.choice([0, 1, 3, 10, 300, 70_000])
        return "".join(rng.choice("ab.#:_-é\x00\U0001f600 ") for _ in range(size))

    # -- shapes ------------------------------------------------------------------------

    def value(self, model: dict[str, Any], shape_name: str, name: str, depth: int) -> Any:
        rng = self.rng
        if name in self.special and rng.random() < 0.9:
            return self.special[name]()
        if rng.random() < 0.01:
            return self.odd()
        shape = model["shapes"][shape_name]
        kind = shape["type"]
        if shape_name == "AttributeValue":
            return self.attribute_value()
        if kind == "structure":
            required = set(shape.get("required", ()))
            out = {}
            for member, spec in shape["members"].items():
                wanted = 0.97 if member in required else (0.25 if depth < 3 else 0.08)
                if rng.random() < wanted and depth < 8:
                    out[member] = (
                        None
                        if rng.random() < 0.01
                        else self.value(model, spec["shape"], member, depth + 1)
                    )
            return out
        if kind == "list":
            count = rng.choice([0, 1, 1, 2, 3, 26, 101]) if depth < 2 else rng.choice([0, 1, 2])
            entry = shape["member"]["shape"]
            return [
                None if rng.random() < 0.02 else self.value(model, entry, name, depth + 1)
                for _ in range(count if depth < 6 else 0)
            ]
        if kind == "map":
            keys = model["shapes"][shape["key"]["shape"]]
            entry = shape["value"]["shape"]
            return {
                (
                    self.special["TableName"]()
                    if name == "RequestItems"
                    else self.string(keys, name)
                ): (None if rng.random() < 0.03 else self.value(model, entry, name, depth + 1))
                for _ in range(rng.choice([0, 1, 1, 2, 3]) if depth < 6 else 0)
            }
        if kind == "string":
            return self.string(shape, name)
        if kind in ("integer", "long"):
            return rng.choice([0, 1, -1, 10, 2**31, 2**63, 1_000_000])
        if kind == "double":
            return rng.choice([0.0, 1.5, -1.0, 1e308])
        if kind == "boolean":
            return rng.choice([True, False])
        if kind == "blob":
            return rng.choice(["AA==", "", "??"])
        if kind == "timestamp":
            return rng.choice([0, 1_700_000_000, 1e20, "2020-01-01T00:00:00Z", "x"])
        return self.odd()

    def learn(self, answer: Any) -> None:
        """Keep the shard ids and shard iterators of an answer, for later requests."""
        if type(answer) is not dict:
            return
        for shard in answer.get("StreamDescription", {}).get("Shards", ()):
            if shard["ShardId"] not in self.shards:
                self.shards.append(shard["ShardId"])
        for member in ("ShardIterator", "NextShardIterator"):
            if isinstance(answer.get(member), str):
                self.iterators.append(answer[member])

    def item_request(self, operation: str) -> dict[str, Any]:
        """A request of one of :data:`ITEM_OPERATIONS` that names a real table and its keys."""
        rng = self.rng
        body: dict[str, Any] = {"TableName": rng.choice(TABLES)}
        if operation in ("GetItem", "DeleteItem", "UpdateItem"):
            body["Key"] = self.key()
        if operation == "PutItem":
            body["Item"] = self.item()
        if operation == "UpdateItem":
            body["UpdateExpression"] = rng.choice(UPDATES)
        if operation == "Query":
            body["KeyConditionExpression"] = rng.choice(KEY_CONDITIONS)
        if operation in ("Query", "Scan"):
            body["Limit"] = rng.choice([1, 2, 10])
            if rng.random() < 0.3:
                body["FilterExpression"] = rng.choice(CONDITIONS)
            if rng.random() < 0.2:
                body["ExclusiveStartKey"] = self.key()
        if operation != "GetItem" and rng.random() < 0.3:
            body["ConditionExpression"] = rng.choice(CONDITIONS)
        if rng.random() < 0.3:
            body["ProjectionExpression"] = rng.choice(PROJECTIONS)
        for member, choices in (
            ("ReturnValues", ["NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"]),
            ("ReturnValuesOnConditionCheckFailure", ["NONE", "ALL_OLD"]),
            ("ReturnConsumedCapacity", ["NONE", "TOTAL", "INDEXES"]),
            ("Select", ["COUNT", "ALL_ATTRIBUTES", "SPECIFIC_ATTRIBUTES"]),
        ):
            if rng.random() < 0.15:
                body[member] = rng.choice(choices)
        # (only the placeholders the expressions use: DynamoDB refuses unused ones)
        text = " ".join(v for k, v in body.items() if k.endswith("Expression"))
        values = {
            ":v": {"S": rng.choice(["k", "1", "a"])},
            ":w": rng.choice([{"S": "1"}, {"N": "1"}, self.attribute_value()]),
        }
        if used := {k: v for k, v in values.items() if k in text}:
            body["ExpressionAttributeValues"] = used
        if "#n" in text:
            body["ExpressionAttributeNames"] = {"#n": rng.choice(["pk", "a", "v"])}
        return body

    def many_request(self, operation: str) -> dict[str, Any]:
        """A request of one of :data:`MANY_OPERATIONS` made of well-formed parts."""
        rng = self.rng
        count = rng.randint(1, 4)
        table = rng.choice(TABLES)
        if operation == "BatchWriteItem":
            writes = [
                {"PutRequest": {"Item": self.item()}}
                if rng.random() < 0.7
                else {"DeleteRequest": {"Key": self.key()}}
                for _ in range(count)
            ]
            return {"RequestItems": {table: writes}}
        if operation == "BatchGetItem":
            return {"RequestItems": {table: {"Keys": [self.key() for _ in range(count)]}}}
        if operation == "TransactGetItems":
            return {"TransactItems": [{"Get": self.item_request("GetItem")} for _ in range(count)]}
        if operation == "TransactWriteItems":
            parts = []
            for _ in range(count):
                kind = rng.choice(["Put", "Update", "Delete", "ConditionCheck"])
                part = self.item_request(
                    {"Put": "PutItem", "Update": "UpdateItem"}.get(kind, "DeleteItem")
                )
                for member in ("ReturnValues", "ReturnConsumedCapacity", "ProjectionExpression"):
                    part.pop(member, None)
                if kind == "ConditionCheck":
                    part.setdefault("ConditionExpression", rng.choice(CONDITIONS))
                parts.append({kind: part})
            body: dict[str, Any] = {"TransactItems": parts}
            if rng.random() < 0.3:
                body["ClientRequestToken"] = rng.choice(["token-1", "token-2"])
            return body
        statement = rng.choice(STATEMENTS)
        body = {"Statement": statement}
        if "?" in statement:
            body["Parameters"] = [{"S": rng.choice(["k", "a"])}]
        return body

    def request(self) -> tuple[str, Any]:
        """``(target, body)``: DynamoDB's operations seven times in eight, the streams' otherwise."""
        rng = self.rng
        model = self.models[0] if rng.random() < 7 / 8 else self.models[1]
        operation = rng.choice(sorted(model["operations"]))
        if rng.random() < 0.3:  # (reaching past the checks, into the operations)
            operation = rng.choice(ITEM_OPERATIONS + MANY_OPERATIONS)
            if operation in ITEM_OPERATIONS:
                return f"DynamoDB_20120810.{operation}", self.item_request(operation)
            return f"DynamoDB_20120810.{operation}", self.many_request(operation)
        shape = model["operations"][operation].get("input", {}).get("shape")
        body = {} if shape is None else self.value(model, shape, "", 0)
        if type(body) is dict and operation == "DeleteTable" and body.get("TableName") in TABLES:
            body["TableName"] = "nope"  # (deletes happen, but rarely: the tables stay useful)
        return f"{model['metadata']['targetPrefix']}.{operation}", body


SERVICES = ("dynamodb", "dynamodbstreams")
ITEM_OPERATIONS = ("PutItem", "GetItem", "UpdateItem", "DeleteItem", "Query", "Scan")
MANY_OPERATIONS = (
    "BatchWriteItem", "BatchGetItem", "TransactGetItems", "TransactWriteItems", "ExecuteStatement"
)  # fmt: skip


def _table(name: str) -> dict[str, Any]:
    stream = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    return {
        **({"StreamSpecification": stream} if name == "orders" else {}),
        "TableName": name,
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


class Endpoint:
    """One keep-alive connection to the endpoint; each answer checked as it comes."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def send(self, target: str, body: Any) -> tuple[int, Any]:
        data = json.dumps(body).encode()
        self.conn.request(
            "POST",
            "/",
            data,
            {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"},
        )
        reply = self.conn.getresponse()
        raw = reply.read()
        shown = data[:1500].decode("utf-8", "replace")
        assert crc_ok({k.lower(): v for k, v in reply.getheaders()}, raw), shown
        assert reply.status < 500, f"{target} {shown} -> {reply.status} {raw[:300]!r}"
        answer = json.loads(raw)
        if reply.status != 200:
            assert "#" in answer["__type"], (shown, answer)
        assert b"InternalServerError" not in raw, f"{target} {shown} -> {raw[:300]!r}"
        return reply.status, answer

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeystoneServer]:
    srv = serve(tmp_path_factory.mktemp("fuzz") / "fuzz.keystone", tables=(UNTOUCHED,))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize("seed", range(SEEDS))
def test_random_requests_get_dynamodbs_answers(server: KeystoneServer, seed: int) -> None:
    assert server.dynamodb_url is not None
    endpoint = Endpoint(server.dynamodb_url)
    try:
        endpoint.send("DynamoDB_20120810.PutItem", {"TableName": UNTOUCHED, "Item": KEPT_ITEM})
        requests = Requests(random.Random(seed))
        answered = 0
        for i in range(PER_SEED):
            if i % 250 == 0:
                for name in TABLES:  # (back, if a request deleted it)
                    endpoint.send("DynamoDB_20120810.CreateTable", _table(name))
            target, body = requests.request()
            status, answer = endpoint.send(target, body)
            answered += status == 200
            requests.learn(answer)
        assert answered > 0
        status, answer = endpoint.send(
            "DynamoDB_20120810.GetItem",
            {"TableName": UNTOUCHED, "Key": {"pk": KEPT_ITEM["pk"], "sk": KEPT_ITEM["sk"]}},
        )
        assert status == 200 and answer["Item"] == KEPT_ITEM
    finally:
        endpoint.close()
