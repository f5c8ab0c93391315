"""Index queries through a real server: number index keys cross the wire."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import keystone
from keystone import GlobalIndex, Schema, sk
from keystone_net import connect

SCHEMA = Schema(
    global_indexes=[
        GlobalIndex("by_score", "game", "score"),
        GlobalIndex("by_level", "level", "name"),
    ]
)
SCORES = [Decimal("-2.5"), -1, 0, Decimal("0.125"), 3, 40, 2**70, "text"]


@pytest.fixture
def client(tmp_path: Any, start_server: Any) -> Any:
    path = tmp_path / "indexed.keystone"
    keystone.Database.open(path, schema=SCHEMA).close()  # the server opens it as it is
    server = start_server(path)
    with connect(server.url, timeout=20) as client:
        for i, score in enumerate(SCORES[::-1]):
            client.put({"pk": f"p{i}", "game": "g", "score": score, "level": i % 3, "name": "n"})
        yield client


def test_number_sort_keys_order_and_filter_remotely(client: Any) -> None:
    assert [i["score"] for i in client.query_all("g", index="by_score")] == SCORES
    page = client.query("g", sk.between(-1, Decimal("3.0")), index="by_score")
    assert [i["score"] for i in page.items] == [-1, 0, Decimal("0.125"), 3]
    assert [i["score"] for i in client.query("g", sk.gt(3), index="by_score").items] == [
        40,
        2**70,
    ]
    with pytest.raises(keystone.ValidationError, match="begins_with takes a str or bytes"):
        client.query("g", sk.begins_with(1), index="by_score")


def test_pages_of_an_index_resume_on_number_keys_remotely(client: Any) -> None:
    seen, start = [], None
    for _ in range(len(SCORES)):
        page = client.query("g", index="by_score", limit=2, start=start)
        seen += [i["score"] for i in page.items]
        start = page.last_key
        if start is None:
            break
    assert seen == SCORES


@pytest.mark.parametrize("level", [1, 1.0, Decimal("1.00")])
def test_a_number_partition_key_crosses_the_wire(client: Any, level: object) -> None:
    items = client.query(level, index="by_level").items
    assert sorted(i["pk"] for i in items) == ["p1", "p4", "p7"]
    assert client.query(b"\x01", index="by_level").items == []  # a binary is another partition
    with pytest.raises(keystone.ValidationError, match="partition key"):
        client.query(1)  # the table's own keys stay S or B
