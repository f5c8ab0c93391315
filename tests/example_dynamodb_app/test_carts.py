"""The application's tests: nothing but the keystone_dynamodb fixture makes them talk to KeystoneDB."""

from __future__ import annotations

import os

import pytest
from carts import add, cart, table_setup


@pytest.fixture(autouse=True)
def tables(keystone_dynamodb):
    table_setup()
    return keystone_dynamodb


def test_the_environment_points_at_the_endpoint(keystone_dynamodb) -> None:
    assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == keystone_dynamodb.url
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"


@pytest.mark.parametrize("n", range(4))
def test_add_accumulates(n: int) -> None:
    assert add("ann", "tea", 2) == 2  # every test starts from empty tables
    assert add("ann", "tea", n) == 2 + n


@pytest.mark.parametrize("n", range(4))
def test_cart_lists_what_was_added(n: int) -> None:
    add("bob", "milk", 1)
    add("bob", f"bread{n}", 3)
    assert cart("bob") == {"milk": 1, f"bread{n}": 3}


def test_the_fixture_gives_a_client_too(keystone_dynamodb) -> None:
    client = keystone_dynamodb.client()
    assert client.scan(TableName="carts")["Count"] == 0


@pytest.mark.parametrize("n", range(2))
def test_each_test_sees_only_its_own_tables(keystone_dynamodb, n: int) -> None:
    client = keystone_dynamodb.client()
    assert client.list_tables()["TableNames"] == ["carts"]  # (made by the autouse fixture)
    client.create_table(
        TableName=f"scratch{n}",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName=f"scratch{n}", Item={"id": {"N": str(n)}})
    client.put_item(TableName="default", Item={"pk": {"S": "left"}, "sk": {"S": str(n)}})
    assert sorted(client.list_tables()["TableNames"]) == ["carts", "default", f"scratch{n}"]
