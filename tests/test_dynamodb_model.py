"""The request checks compiled from DynamoDB's service model (keystone_net.dynamodb.model).

A valid request is checked by the members it has; a request with a problem
is checked again in the model's order, so the messages and their order are
DynamoDB's whatever order the request's JSON keys come in. The server-level
checks (HTTP, error bodies) are in tests/test_dynamodb_wire.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from keystone_net.dynamodb import errors, model

KEY = {"pk": {"S": "a"}, "sk": {"S": "b"}}


@pytest.fixture(scope="module")
def service() -> model.ServiceModel:
    return model.DYNAMODB()


def problem(service: model.ServiceModel, operation: str, request: dict[str, Any]) -> str:
    with pytest.raises(errors.DynamoError) as caught:
        service.check(operation, request)
    return caught.value.body()["message"]


def test_valid_requests_pass(service: model.ServiceModel) -> None:
    service.check("GetItem", {"TableName": "things", "Key": KEY, "ConsistentRead": True})
    service.check(
        "TransactWriteItems",
        {"TransactItems": [{"Put": {"TableName": "things", "Item": {**KEY, "m": {"M": KEY}}}}]},
    )


def test_problems_come_in_the_models_order_not_the_requests(service: model.ServiceModel) -> None:
    # Members in reverse of the model's order (TableName, ..., Select, ..., Limit).
    request = {"Limit": 0, "Select": "EVERYTHING", "TableName": "a!"}
    assert problem(service, "Query", request) == (
        "4 validation errors detected: "
        "Value 'a!' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3; "
        "Value 'a!' at 'tableName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value 'EVERYTHING' at 'select' failed to satisfy constraint: "
        "Member must satisfy enum value set: "
        "[ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES, SPECIFIC_ATTRIBUTES, COUNT]; "
        "Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_a_missing_member_among_others_keeps_its_place(service: model.ServiceModel) -> None:
    assert problem(service, "GetItem", {"ReturnConsumedCapacity": "LOTS", "TableName": "ab"}) == (
        "3 validation errors detected: "
        "Value 'ab' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3; "
        "Value null at 'key' failed to satisfy constraint: Member must not be null; "
        "Value 'LOTS' at 'returnConsumedCapacity' failed to satisfy constraint: "
        "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
    )


def test_a_nested_problem_names_its_whole_path(service: model.ServiceModel) -> None:
    request = {
        "TransactItems": [
            {"Put": {"Item": KEY, "TableName": "things"}},
            {"Put": {"Item": KEY, "TableName": "ab"}},
        ]
    }
    assert problem(service, "TransactWriteItems", request) == (
        "1 validation error detected: Value 'ab' at 'transactItems.2.member.put.tableName' "
        "failed to satisfy constraint: Member must have length greater than or equal to 3"
    )


def test_a_wrong_json_type_deep_in_an_item_is_a_serialization_error(
    service: model.ServiceModel,
) -> None:
    value: dict[str, Any] = {"S": 5}
    for _ in range(12):  # (within the nesting limit)
        value = {"M": {"a": value}}
    message = problem(service, "PutItem", {"TableName": "things", "Item": {**KEY, "deep": value}})
    assert message == "NUMBER_VALUE cannot be converted to String"
