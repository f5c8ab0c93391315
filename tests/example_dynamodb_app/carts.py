"""A tiny application written for DynamoDB: it builds its own boto3 client, as real code does."""

from __future__ import annotations

import boto3


def table_setup(name: str = "carts") -> None:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def add(user: str, product: str, quantity: int) -> int:
    """Add to a user's cart; the new quantity of that product."""
    table = boto3.resource("dynamodb").Table("carts")
    got = table.update_item(
        Key={"pk": user, "sk": product},
        UpdateExpression="ADD quantity :q",
        ExpressionAttributeValues={":q": quantity},
        ReturnValues="UPDATED_NEW",
    )
    return int(got["Attributes"]["quantity"])


def cart(user: str) -> dict[str, int]:
    from boto3.dynamodb.conditions import Key

    table = boto3.resource("dynamodb").Table("carts")
    items = table.query(KeyConditionExpression=Key("pk").eq(user))["Items"]
    return {i["sk"]: int(i["quantity"]) for i in items}
