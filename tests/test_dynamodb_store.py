"""``keystone_net.dynamodb.DynamoStore``: what is particular to DynamoDB.

The behaviour suite (``store`` fixture, kind ``dynamodb``) proves the common
behaviour; these pin the DynamoDB side: the URL, the encoding of the types
DynamoDB lacks and what other readers see, chunked batches and their
retries, errors, table management and streams. The endpoint is moto's
server (or ``KEYSTONE_DYNAMODB_TEST_ENDPOINT``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from botocore.stub import Stubber
from dynamo import Endpoint

import keystone
import keystone_net
from keystone import ConditionalCheckFailed, NotFound, ResourceExhausted, TransactionCanceled, sk
from keystone_net.dynamodb.batches import Backoff
from keystone_net.dynamodb.encoding import TIMESTAMP_TAG, VECTOR_TAG
from keystone_net.dynamodb.store import DynamoStore, parse_dynamodb_url


@pytest.fixture
def admin(dynamo_endpoint: Endpoint) -> DynamoStore:
    return DynamoStore("unused", client=dynamo_endpoint.client())


@pytest.fixture
def table(admin: DynamoStore) -> Iterator[DynamoStore]:
    """A fresh table (pk S, sk S) with a NEW_AND_OLD_IMAGES stream, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    store = admin.create_table(name, keystone.Schema(stream=keystone.StreamConfig()))
    yield store
    admin.delete_table(name)


class TestConnect:
    def test_a_dynamodb_url_gives_a_store_on_that_table(
        self, dynamo_endpoint: Endpoint, table: DynamoStore
    ) -> None:
        url = f"dynamodb://{table.table_name}?region={dynamo_endpoint.region}"
        if dynamo_endpoint.url:
            url += f"&endpoint={dynamo_endpoint.url}"
        db = keystone_net.connect(url)
        assert isinstance(db, DynamoStore) and isinstance(db, keystone.Store)
        db.put({"pk": "a", "sk": "b", "v": 1})
        assert table.get("a", "b") == {"pk": "a", "sk": "b", "v": 1}

    def test_url_parameters(self) -> None:
        args = parse_dynamodb_url(
            "dynamodb://orders?region=eu-west-1&endpoint=http://h:8000&consistent=0"
        )
        assert args == {
            "table": "orders",
            "region": "eu-west-1",
            "endpoint": "http://h:8000",
            "consistent": False,
        }

    @pytest.mark.parametrize("url", ["dynamodb://", "dynamodb://t?colour=red"])
    def test_bad_urls_are_refused(self, url: str) -> None:
        with pytest.raises(keystone.ValidationError):
            parse_dynamodb_url(url)

    def test_a_missing_table_is_not_found(self, admin: DynamoStore) -> None:
        with pytest.raises(NotFound):
            admin.table("no-such-table")
        with pytest.raises(NotFound):
            DynamoStore("no-such-table", client=admin.client).get("a", "b")


class TestTypesDynamoDBLacks:
    def test_vector_and_datetime_read_back_as_the_same_values(self, table: DynamoStore) -> None:
        when = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        item = {
            "pk": "a",
            "sk": "b",
            "vec": keystone.Vector([0.25, -1.5]),
            "at": when,
            "nested": {"l": [keystone.Vector([1.0]), when]},
        }
        table.put(item)
        got = table.get("a", "b")
        assert got == item
        assert got is not None and got["at"].tzinfo == dt.UTC

    def test_other_readers_see_one_attribute_maps(self, table: DynamoStore) -> None:
        table.put(
            {
                "pk": "a",
                "sk": "b",
                "vec": keystone.Vector([0.25]),
                "at": dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC),
            }
        )
        raw = table.client.get_item(
            TableName=table.table_name, Key={"pk": {"S": "a"}, "sk": {"S": "b"}}
        )["Item"]
        assert raw["vec"] == {"M": {VECTOR_TAG: {"B": keystone.Vector([0.25]).to_bytes()}}}
        assert raw["at"] == {"M": {TIMESTAMP_TAG: {"N": "1000"}}}

    def test_a_map_that_looks_like_the_encoding_is_refused(self, table: DynamoStore) -> None:
        with pytest.raises(keystone.ValidationError, match="reserved"):
            table.put({"pk": "a", "sk": "b", "m": {VECTOR_TAG: b"1234"}})
        assert table.get("a", "b") is None

    def test_numbers_sets_and_bytes_come_back_as_the_library_returns_them(
        self, table: DynamoStore
    ) -> None:
        table.put(
            {
                "pk": "a",
                "sk": "b",
                "i": 10**30,
                "d": Decimal("0.1"),
                "f": 1.5,
                "ns": {1, Decimal("2.5")},
                "bs": {b"x"},
                "b": bytearray(b"y"),
            }
        )
        assert table.get("a", "b") == {
            "pk": "a",
            "sk": "b",
            "i": 10**30,
            "d": Decimal("0.1"),
            "f": Decimal("1.5"),
            "ns": {1, Decimal("2.5")},
            "bs": {b"x"},
            "b": b"y",
        }


class TestBatches:
    def test_batch_write_and_get_beyond_one_request(self, table: DynamoStore) -> None:
        table.batch_write(puts=[{"pk": "p", "sk": f"{i:04d}", "n": i} for i in range(260)])
        keys = [("p", f"{i:04d}") for i in range(0, 260, 2)] + [("p", "missing")]
        got = table.batch_get(keys)
        assert [i["n"] for i in got] == list(range(0, 260, 2))  # request order, missing left out
        table.batch_write(deletes=keys[:-1])
        assert table.query("p").count == 130

    def test_unprocessed_writes_are_sent_again_until_none_are_left(
        self, table: DynamoStore
    ) -> None:
        pauses: list[float] = []
        table.backoff = Backoff(attempts=5, sleep=pauses.append)
        item = {"pk": {"S": "p"}, "sk": {"S": "1"}}
        left = {table.table_name: [{"PutRequest": {"Item": item}}]}
        with Stubber(table.client) as stub:
            stub.add_response("batch_write_item", {"UnprocessedItems": left})
            stub.add_response("batch_write_item", {"UnprocessedItems": left})
            stub.add_response("batch_write_item", {"UnprocessedItems": {}})
            table.batch_write(puts=[{"pk": "p", "sk": "1"}])
            stub.assert_no_pending_responses()
        assert len(pauses) == 2 and all(0 <= p <= 5.0 for p in pauses)

    def test_writes_never_processed_raise_resource_exhausted(self, table: DynamoStore) -> None:
        table.backoff = Backoff(attempts=3, sleep=lambda _: None)
        left = {table.table_name: [{"PutRequest": {"Item": {"pk": {"S": "p"}, "sk": {"S": "1"}}}}]}
        with Stubber(table.client) as stub:
            for _ in range(3):
                stub.add_response("batch_write_item", {"UnprocessedItems": left})
            with pytest.raises(ResourceExhausted, match="1 writes were still unprocessed"):
                table.batch_write(puts=[{"pk": "p", "sk": "1"}])

    def test_unprocessed_keys_are_asked_again(self, table: DynamoStore) -> None:
        table.backoff = Backoff(attempts=3, sleep=lambda _: None)
        key = {"pk": {"S": "p"}, "sk": {"S": "1"}}
        with Stubber(table.client) as stub:
            stub.add_response(
                "batch_get_item",
                {
                    "Responses": {},
                    "UnprocessedKeys": {table.table_name: {"Keys": [key], "ConsistentRead": True}},
                },
            )
            stub.add_response(
                "batch_get_item", {"Responses": {table.table_name: [{**key, "v": {"N": "7"}}]}}
            )
            assert table.batch_get([("p", "1")]) == [{"pk": "p", "sk": "1", "v": 7}]

    def test_throttling_after_retries_is_resource_exhausted(self, table: DynamoStore) -> None:
        with Stubber(table.client) as stub:
            stub.add_client_error("get_item", "ProvisionedThroughputExceededException", "slow down")
            with pytest.raises(ResourceExhausted, match="ProvisionedThroughputExceeded"):
                table.get("p", "1")


class TestErrors:
    def test_a_failed_condition_carries_the_item_when_asked(self, table: DynamoStore) -> None:
        table.put({"pk": "a", "sk": "b", "v": 1})
        old = {"pk": "a", "sk": "b", "v": 1}
        ask: Any = {"return_values_on_condition_check_failure": "ALL_OLD"}
        attempts = [
            lambda **kw: table.put(
                {"pk": "a", "sk": "b"}, condition="attribute_not_exists(pk)", **kw
            ),
            lambda **kw: table.delete("a", "b", condition="v = :w", values={":w": 2}, **kw),
            lambda **kw: table.update(
                "a", "b", "SET v = :w", condition="v = :w", values={":w": 2}, **kw
            ),
        ]
        for attempt in attempts:
            with pytest.raises(ConditionalCheckFailed) as failed:
                attempt(**ask)
            assert failed.value.item == old
            with pytest.raises(ConditionalCheckFailed) as failed:
                attempt()
            assert failed.value.item is None
        with pytest.raises(keystone.ValidationError, match="return_values_on_condition_check"):
            table.put(old, return_values_on_condition_check_failure="ALL_NEW")  # type: ignore[arg-type]
        assert table.get("a", "b") == old

    def test_cancellation_reasons_become_the_reasons(self, table: DynamoStore) -> None:
        table.put({"pk": "a", "sk": "b"})
        with pytest.raises(TransactionCanceled) as canceled:
            table.transact_write(
                [
                    keystone.Put({"pk": "x", "sk": "y"}),
                    keystone.ConditionCheck("a", "b", condition="attribute_not_exists(pk)"),
                ]
            )
        assert canceled.value.reasons == [None, "ConditionalCheckFailed"]
        assert table.get("x", "y") is None

    def test_shared_placeholders_go_to_the_parts_that_use_them(self, table: DynamoStore) -> None:
        table.transact_write(
            [
                keystone.Put({"pk": "a", "sk": "1"}, condition="attribute_not_exists(#p)"),
                keystone.Update("a", "2", "SET #v = :v"),
            ],
            names={"#p": "pk", "#v": "v"},
            values={":v": 5},
        )
        assert table.get("a", "2") == {"pk": "a", "sk": "2", "v": 5}


class TestQueriesAndPartiQL:
    def test_sort_key_conditions_become_key_conditions(self, table: DynamoStore) -> None:
        table.batch_write(puts=[{"pk": "p", "sk": f"k{i}"} for i in range(5)])
        assert [i["sk"] for i in table.query("p", sk.between("k1", "k3"), reverse=True)] == [
            "k3",
            "k2",
            "k1",
        ]
        page = table.query("p", sk.begins_with("k"), limit=2)
        assert page.count == 2 and page.last_key == {"pk": "p", "sk": "k1"}
        assert [i["sk"] for i in table.query("p", start=page.last_key)] == ["k2", "k3", "k4"]

    def test_execute_runs_partiql_through_execute_statement(self, table: DynamoStore) -> None:
        table.execute(
            # (literals: moto's PartiQL takes ``?`` parameters in WHERE clauses only)
            f"INSERT INTO \"{table.table_name}\" VALUE {{'pk': 'a', 'sk': 'b', 'n': 3}}"
        )
        page = table.execute(f'SELECT * FROM "{table.table_name}" WHERE pk = ?', ["a"])
        assert page.items == [{"pk": "a", "sk": "b", "n": 3}]


class TestTables:
    def test_create_describe_list_update_delete(self, admin: DynamoStore) -> None:
        name = f"t-{uuid.uuid4().hex[:10]}"
        schema = keystone.Schema(
            partition_key="customer",
            sort_key="placed",
            global_indexes=[keystone.GlobalIndex("by_status", "status", "placed", "KEYS_ONLY")],
        )
        orders = admin.create_table(name, schema, types={"placed": "N"})
        try:
            assert name in admin.tables()
            described = admin.describe_table(name)
            assert described["TableStatus"] == "ACTIVE"
            types = {
                a["AttributeName"]: a["AttributeType"] for a in described["AttributeDefinitions"]
            }
            assert types == {"customer": "S", "placed": "N", "status": "S"}
            orders.put({"customer": "c1", "placed": 20240101, "status": "open"})
            assert orders.get("c1", 20240101) == {
                "customer": "c1",
                "placed": 20240101,
                "status": "open",
            }
            assert orders.query("open", index="by_status").count == 1
            with pytest.raises(keystone.ValidationError, match="expected: N actual: S"):
                orders.get("c1", "20240101")

            admin.update_table(name, add_indexes=[keystone.GlobalIndex("by_total", "total")])
            assert {i.name for i in admin.schema_of(name).global_indexes} == {
                "by_status",
                "by_total",
            }
            admin.update_table(name, drop_indexes=["by_status"])
            assert [i.name for i in admin.schema_of(name).global_indexes] == ["by_total"]
        finally:
            admin.delete_table(name)
        assert name not in admin.tables()
        with pytest.raises(NotFound):
            admin.describe_table(name)


class TestUpdateTable:
    def test_a_stream_can_be_turned_on_later_and_local_indexes_cannot_be_added(
        self, admin: DynamoStore
    ) -> None:
        name = f"t-{uuid.uuid4().hex[:10]}"
        plain = admin.create_table(name, keystone.Schema())
        try:
            admin.update_table(name, stream=keystone.StreamConfig("KEYS_ONLY"))
            assert admin.schema_of(name).stream == keystone.StreamConfig("KEYS_ONLY")
            plain.put({"pk": "a", "sk": "b", "v": 1})
            (record,) = plain.stream()
            assert (record.event, record.keys) == ("INSERT", {"pk": "a", "sk": "b"})
            with pytest.raises(keystone.ValidationError, match="only global indexes"):
                admin.update_table(name, add_indexes=[keystone.LocalIndex("l", "v")])  # type: ignore[list-item]
        finally:
            admin.delete_table(name)


class TestStreams:
    def test_changes_become_stream_records(self, table: DynamoStore) -> None:
        table.put({"pk": "a", "sk": "1", "v": 1})
        table.update("a", "1", "SET v = :v", values={":v": 2})
        table.delete("a", "1")
        records = table.stream()
        assert [r.event for r in records] == ["INSERT", "MODIFY", "REMOVE"]
        assert [r.keys for r in records] == [{"pk": "a", "sk": "1"}] * 3
        assert records[1].old_image == {"pk": "a", "sk": "1", "v": 1}
        assert records[1].new_image == {"pk": "a", "sk": "1", "v": 2}
        assert all(r.timestamp.tzinfo is not None and not r.by_ttl for r in records)
        assert [r.sequence for r in table.stream(after=records[0].sequence)] == [
            r.sequence for r in records[1:]
        ]
        assert table.stream(limit=1) == records[:1]

    def test_a_table_without_a_stream_says_so(self, admin: DynamoStore) -> None:
        name = f"t-{uuid.uuid4().hex[:10]}"
        plain = admin.create_table(name, keystone.Schema())
        try:
            with pytest.raises(keystone.ValidationError, match="no stream"):
                plain.stream()
        finally:
            admin.delete_table(name)


class TestAsync:
    def test_the_async_store_has_the_async_clients_calls(self, table: DynamoStore) -> None:
        import asyncio

        from keystone_net.dynamodb.aio import AsyncDynamoStore

        async def scenario() -> tuple[Any, ...]:
            async with AsyncDynamoStore(table, concurrency=4) as db:
                await asyncio.gather(*(db.put({"pk": "p", "sk": f"{i:02d}"}) for i in range(30)))
                got = await db.get("p", "07")
                queried = [i["sk"] async for i in db.query_all("p", limit=7)]
                scanned = [i async for i in db.scan_all(limit=11)]
                await db.transact_write([keystone.Delete("p", "00")])
                counted = await db.query(
                    key_condition="pk = :p AND sk < :s",
                    values={":p": "p", ":s": "10"},
                    select="COUNT",
                )
                projected = await db.batch_get(
                    [("p", "02"), ("p", "01")], projection="#s", names={"#s": "sk"}
                )
                return (
                    got,
                    queried,
                    len(scanned),
                    await db.transact_get([("p", "00")]),
                    counted.count,
                    projected,
                )

        got, queried, scanned, after, counted, projected = asyncio.run(scenario())
        assert got == {"pk": "p", "sk": "07"}
        assert queried == [f"{i:02d}" for i in range(30)]
        assert scanned == 30
        assert after == [None]
        assert counted == 9
        assert projected == [{"sk": "02"}, {"sk": "01"}]
        assert table.closed

    def test_a_call_past_its_timeout_raises_timeout(self, table: DynamoStore) -> None:
        import asyncio

        from keystone_net.dynamodb.aio import AsyncDynamoStore

        async def scenario() -> None:
            db = AsyncDynamoStore(table)
            with pytest.raises(keystone.Timeout, match="get did not finish within 0 s"):
                await db.get("p", "1", timeout=0)
            assert await db.get("p", "1", timeout=30) is None

        asyncio.run(scenario())


class TestTodaysStoreApi:
    """The arguments ``keystone.Database`` gained with many tables (#13) and #14, on DynamoDB."""

    @pytest.fixture
    def filled(self, table: DynamoStore) -> DynamoStore:
        table.batch_write(
            puts=[{"pk": p, "sk": f"k{i}", "n": i, "extra": "x"} for p in "ab" for i in range(4)]
        )
        return table

    def test_key_condition_text_is_dynamodbs_key_condition_expression(
        self, filled: DynamoStore
    ) -> None:
        page = filled.query(
            key_condition="pk = :p AND begins_with(#s, :x)",
            names={"#s": "sk"},
            values={":p": "a", ":x": "k"},
            reverse=True,
            limit=3,
        )
        assert [i["sk"] for i in page.items] == ["k3", "k2", "k1"]
        rest = filled.query_all(
            key_condition="pk = :p", values={":p": "a"}, start=None, reverse=True
        )
        assert [i["sk"] for i in rest] == ["k3", "k2", "k1", "k0"]
        with pytest.raises(keystone.ValidationError, match="not both"):
            filled.query("a", key_condition="pk = :p", values={":p": "a"})
        with pytest.raises(keystone.ValidationError, match="needs a partition key"):
            filled.query()

    def test_select_count_returns_only_the_counts(self, filled: DynamoStore) -> None:
        page = filled.query("a", select="COUNT")
        assert (page.items, page.count, page.scanned_count) == ([], 4, 4)
        page = filled.scan(select="COUNT", filter="n >= :m", values={":m": 2})
        assert (page.items, page.count, page.scanned_count) == ([], 4, 8)
        with pytest.raises(keystone.ValidationError, match="only the Count"):
            filled.scan(select="COUNT", projection="n")
        with pytest.raises(keystone.ValidationError, match="enum value set"):
            filled.scan(select="SOME")  # type: ignore[arg-type]

    def test_projections_on_batch_get_and_transact_get(self, filled: DynamoStore) -> None:
        keys = [("b", "k2"), ("a", "k1"), ("a", "nothing"), ("a", "k3")]
        # The projection leaves the keys out: they are fetched to restore the order, then dropped.
        assert filled.batch_get(keys, projection="n") == [{"n": 2}, {"n": 1}, {"n": 3}]
        assert filled.batch_get(keys, projection="#s, n", names={"#s": "sk"}) == [
            {"sk": "k2", "n": 2},
            {"sk": "k1", "n": 1},
            {"sk": "k3", "n": 3},
        ]
        assert filled.transact_get(keys, projection="n, extra") == [
            {"n": 2, "extra": "x"},
            {"n": 1, "extra": "x"},
            None,
            {"n": 3, "extra": "x"},
        ]
        with pytest.raises(keystone.ValidationError, match="unused in expressions"):
            filled.batch_get(keys, names={"#s": "sk"})

    def test_an_empty_update_expression_is_refused(self, table: DynamoStore) -> None:
        with pytest.raises(keystone.ValidationError, match="can not be empty"):
            table.update("new", "item", "  ")
        assert table.get("new", "item") is None

    def test_an_update_without_actions_creates_the_key_only_item(
        self, table: DynamoStore, dynamo_endpoint: Endpoint, request: pytest.FixtureRequest
    ) -> None:
        if dynamo_endpoint.moto:
            request.applymarker(
                pytest.mark.xfail(
                    reason="moto answers an UpdateItem without UpdateExpression with a server "
                    "error; DynamoDB creates the key-only item",
                    raises=keystone.Unavailable,
                    strict=True,
                )
            )
        assert table.update("new", "item") == {"pk": "new", "sk": "item"}

    def test_cancelled_parts_carry_their_items_when_asked(self, table: DynamoStore) -> None:
        table.put({"pk": "a", "sk": "1", "v": 1})
        table.put({"pk": "a", "sk": "2", "v": 2})
        with pytest.raises(TransactionCanceled) as canceled:
            table.transact_write(
                [
                    keystone.ConditionCheck(
                        "a",
                        "1",
                        condition="v = :no",
                        return_values_on_condition_check_failure="ALL_OLD",
                    ),
                    keystone.Update("a", "2", "SET v = :no", condition="v = :no"),
                    keystone.Put({"pk": "a", "sk": "3"}),
                ],
                values={":no": 9},
            )
        assert canceled.value.reasons == ["ConditionalCheckFailed", "ConditionalCheckFailed", None]
        assert canceled.value.items == [{"pk": "a", "sk": "1", "v": 1}, None, None]
        assert table.get("a", "3") is None

    def test_the_token_is_sent_as_the_client_request_token(self, table: DynamoStore) -> None:
        sent: list[Any] = []

        def record(params: dict[str, Any], **_: Any) -> None:
            sent.append(params.get("ClientRequestToken"))

        events = table.client.meta.events
        events.register("provide-client-params.dynamodb.TransactWriteItems", record)
        try:
            table.transact_write([keystone.Put({"pk": "t", "sk": "1"})], token="order-42")
            table.transact_write([keystone.Put({"pk": "t", "sk": "2"})])
        finally:
            events.unregister("provide-client-params.dynamodb.TransactWriteItems", record)
        assert sent == ["order-42", None]
        with pytest.raises(keystone.ValidationError, match="ClientRequestToken"):
            table.transact_write([keystone.Put({"pk": "t", "sk": "3"})], token="x" * 37)
        assert table.get("t", "3") is None

    def test_typed_number_and_binary_keys_from_the_schema(self, admin: DynamoStore) -> None:
        name = f"t-{uuid.uuid4().hex[:10]}"
        schema = keystone.Schema(
            partition_key=("id", "N"),
            sort_key=("blob", "B"),
            global_indexes=[keystone.GlobalIndex("by_when", ("when", "N"), projection="ALL")],
        )
        typed = admin.create_table(name, schema)
        try:
            described = admin.describe_table(name)
            assert {
                a["AttributeName"]: a["AttributeType"] for a in described["AttributeDefinitions"]
            } == {"id": "N", "blob": "B", "when": "N"}
            typed.put({"id": 7, "blob": b"\x00\x01", "when": 1700000000})
            assert typed.get(7, b"\x00\x01") == {"id": 7, "blob": b"\x00\x01", "when": 1700000000}
            assert typed.query(1700000000, index="by_when").count == 1
            with pytest.raises(keystone.ValidationError, match="expected: N actual: S"):
                typed.get("7", b"\x00")
            with pytest.raises(keystone.ValidationError, match="empty binary value"):
                typed.get(7, b"")
            back = admin.schema_of(name)
            assert (back.partition_key, back.partition_key_type) == ("id", "N")
            assert (back.sort_key, back.sort_key_type) == ("blob", "B")
            assert back.global_indexes[0].partition_key_type == "N"
        finally:
            admin.delete_table(name)

    def test_parts_and_keys_naming_other_tables(
        self, admin: DynamoStore, table: DynamoStore
    ) -> None:
        name = f"t-{uuid.uuid4().hex[:10]}"
        stock = admin.create_table(name, keystone.Schema(partition_key=("sku", "S"), sort_key=None))
        try:
            stock.put({"sku": "apple", "left": 3})
            table.transact_write(
                [
                    keystone.Put({"pk": "order", "sk": "1", "sku": "apple"}),
                    keystone.Update("apple", None, "SET #l = #l - :one", table=name),
                ],
                names={"#l": "left"},
                values={":one": 1},
            )
            assert stock.get("apple") == {"sku": "apple", "left": 2}
            with pytest.raises(TransactionCanceled) as canceled:
                table.transact_write(
                    [
                        keystone.Put({"pk": "order", "sk": "2"}),
                        keystone.ConditionCheck(
                            "apple",
                            condition="#l > :many",
                            table=name,
                            return_values_on_condition_check_failure="ALL_OLD",
                        ),
                    ],
                    names={"#l": "left"},
                    values={":many": 5},
                )
            assert canceled.value.items == [None, {"sku": "apple", "left": 2}]
            assert table.get("order", "2") is None

            table.batch_write(
                puts=[
                    {"pk": "order", "sk": "3"},
                    keystone.Put({"sku": "pear", "left": 1}, table=name),
                ],
                deletes=[keystone.Delete("order", "1"), (name, ("apple",))],
            )
            assert stock.get("apple") is None and table.get("order", "1") is None
            got = table.batch_get([(name, {"sku": "pear"}), ("order", "3"), (name, ("apple",))])
            assert got == [{"sku": "pear", "left": 1}, {"pk": "order", "sk": "3"}]
            assert table.transact_get([(name, ("pear",)), ("order", "3"), (name, ("pear",))]) == [
                {"sku": "pear", "left": 1},
                {"pk": "order", "sk": "3"},
                {"sku": "pear", "left": 1},
            ]
            with pytest.raises(keystone.ValidationError, match="twice"):
                table.batch_get([(name, ("pear",)), (name, {"sku": "pear"})])
            with pytest.raises(keystone.ValidationError, match="multiple operations on one item"):
                table.transact_write(
                    [
                        keystone.Delete("pear", table=name),
                        keystone.Put({"sku": "pear"}, table=name),
                    ]
                )
            with pytest.raises(NotFound):
                table.transact_write([keystone.Delete("x", table="no-such-table")])
        finally:
            admin.delete_table(name)
