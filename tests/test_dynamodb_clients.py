"""Real DynamoDB clients other than boto3 against the endpoint: the AWS CLI, PynamoDB models,
and the AWS SDK for JavaScript v3 (``tests/interop/aws_sdk_js``, run by node when it is there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dynamodbsupport import CREDENTIALS, serve

from keystone.testing import KeystoneServer

JS = Path(__file__).parent / "interop" / "aws_sdk_js"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeystoneServer]:
    # (PynamoDB creates its own table, "orders")
    srv = serve(
        tmp_path_factory.mktemp("clients") / "clients.keystone", tables=("things", "jsitems")
    )
    try:
        yield srv
    finally:
        srv.stop()


def aws_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=CREDENTIALS["aws_secret_access_key"],
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


class TestAwsCli:
    def aws(self, server: KeystoneServer, *args: str) -> subprocess.CompletedProcess[str]:
        exe = Path(sys.executable).with_name("aws")
        if not exe.exists():
            pytest.skip("the AWS CLI (awscli, a dev dependency) is not installed")
        return subprocess.run(
            [
                str(exe),
                "dynamodb",
                *args,
                "--endpoint-url",
                str(server.dynamodb_url),
                "--output",
                "json",
            ],
            env=aws_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def test_put_get_query_scan(self, server: KeystoneServer) -> None:
        item = json.dumps({"pk": {"S": "cli"}, "sk": {"S": "1"}, "n": {"N": "3"}})
        put = self.aws(server, "put-item", "--table-name", "things", "--item", item)
        assert put.returncode == 0, put.stderr
        key = json.dumps({"pk": {"S": "cli"}, "sk": {"S": "1"}})
        got = self.aws(server, "get-item", "--table-name", "things", "--key", key)
        assert json.loads(got.stdout)["Item"]["n"] == {"N": "3"}
        query = self.aws(
            server,
            "query",
            "--table-name",
            "things",
            "--key-condition-expression",
            "pk = :p",
            "--expression-attribute-values",
            json.dumps({":p": {"S": "cli"}}),
        )
        assert json.loads(query.stdout)["Count"] == 1
        scan = self.aws(server, "scan", "--table-name", "things", "--select", "COUNT")
        assert json.loads(scan.stdout)["Count"] >= 1

    def test_errors_reach_the_cli_as_dynamodbs(self, server: KeystoneServer) -> None:
        got = self.aws(server, "get-item", "--table-name", "ab", "--key", "{}")
        assert got.returncode != 0
        assert "ValidationException" in got.stderr
        assert "Member must have length greater than or equal to 3" in got.stderr


class TestPynamoDB:
    def test_a_model_saves_gets_queries_updates_and_deletes(self, server: KeystoneServer) -> None:
        from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
        from pynamodb.exceptions import PutError
        from pynamodb.models import Model

        class Order(Model):
            class Meta:
                table_name = "orders"
                host = server.dynamodb_url
                region = "us-east-1"
                aws_access_key_id = CREDENTIALS["aws_access_key_id"]
                aws_secret_access_key = CREDENTIALS["aws_secret_access_key"]

            customer = UnicodeAttribute(hash_key=True, attr_name="pk")
            placed = UnicodeAttribute(range_key=True, attr_name="sk")
            total = NumberAttribute(default=0)
            tags = UnicodeSetAttribute(null=True)

        if not Order.exists():
            Order.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        for i in range(3):
            Order("ann", f"2024-0{i + 1}", total=10 * i, tags={"x"}).save()
        got = Order.get("ann", "2024-02")
        assert got.total == 10 and got.tags == {"x"}
        assert [o.placed for o in Order.query("ann", Order.placed >= "2024-02")] == [
            "2024-02",
            "2024-03",
        ]
        got.update(actions=[Order.total.add(5)])
        assert Order.get("ann", "2024-02").total == 15
        with pytest.raises(PutError):
            Order("ann", "2024-01").save(condition=Order.customer.does_not_exist())
        Order.get("ann", "2024-01").delete()
        assert Order.count("ann") == 2


class TestAwsSdkForJavaScript:
    def test_the_v3_client_and_document_client(self, server: KeystoneServer) -> None:
        node = shutil.which("node")
        if node is None:
            pytest.skip("node is not installed (the AWS SDK for JavaScript needs it)")
        if not (JS / "node_modules" / "@aws-sdk" / "client-dynamodb").exists():
            pytest.skip(f"run `npm ci` in {JS} first (.ci/run does)")
        done = subprocess.run(
            [node, str(JS / "run.mjs"), str(server.dynamodb_url)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=JS,
        )
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["updated"] == "42"
        assert out["get"] == {"pk": {"S": "js"}, "sk": {"S": "1"}, "n": {"N": "42"}}
        assert out["doc"] == {"tags": ["a", "b"], "nested": {"x": [1, 2]}}
        assert out["query"] == ["1", "2"]
        assert out["condition"] == "ConditionalCheckFailedException"
        assert out["transaction"] == {
            "name": "TransactionCanceledException",
            "reasons": ["ConditionalCheckFailed"],
        }
        assert out["validation"] == "ValidationException"
        assert out["table"] == "ACTIVE"
