"""The gRPC service on the wire: what a client generated from keystone.proto sees.

These tests talk to a real server process with the generated betterproto2
messages (the way any client of the original protocol does), check the gRPC
statuses and trailing metadata of every error class, and the wire rules of
PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import socket
from decimal import Decimal
from typing import Any

import pytest
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server

import keystone
from keystone import sk
from keystone_net import Client, KeystoneService
from keystone_net._proto import keystone as pb
from keystone_net.grpc import convert
from keystone_net.grpc.convert import RawMessage

ROUTE = "/keystone.KeystoneDB/"
UTC = dt.UTC


@pytest.fixture
def remote(remote_store: Any) -> Any:
    """The session server with an empty table."""
    remote_store.fresh()
    return remote_store


class Answer:
    """The outcome of one raw call: the reply, or the status and trailing metadata."""

    def __init__(self) -> None:
        self.reply: Any = None
        self.status = Status.OK
        self.message: str | None = None
        self.trailers: dict[str, Any] = {}

    def error(self) -> keystone.KeystoneError:
        return convert.exception_for(self.status, self.message, self.trailers)


def call(
    port: int, method: str, request: Any, reply_type: Any, *, raw: bytes | None = None
) -> Answer:
    """One call with the generated message types (or raw bytes), as any client makes it.

    Scan's ``reply`` is the list of its messages.
    """

    async def run() -> Answer:
        answer = Answer()
        channel = Channel("127.0.0.1", port)
        send_type = RawMessage if raw is not None else type(request)
        streamed = method == "Scan"
        cardinality = Cardinality.UNARY_STREAM if streamed else Cardinality.UNARY_UNARY
        try:
            async with channel.request(
                ROUTE + method, cardinality, send_type, reply_type, timeout=20
            ) as stream:
                await stream.send_message(RawMessage(raw) if raw is not None else request, end=True)
                try:
                    if streamed:  # every message of the stream
                        answer.reply = [message async for message in stream]
                    else:
                        answer.reply = await stream.recv_message()
                except GRPCError as err:
                    answer.status, answer.message = err.status, err.message
                    answer.trailers = dict(stream.trailing_metadata or {})
        finally:
            channel.close()
        return answer

    return asyncio.run(run())


def v(**kwargs: Any) -> pb.Value:
    return pb.Value(**kwargs)


# --------------------------------------------------------------------------
# Values and keys on the wire
# --------------------------------------------------------------------------

EVERY_KIND = {
    "pk": "kinds",
    "s": "héllo ☃",
    "n_int": -(10**37),
    "n_dec": Decimal("0.1"),
    "b": b"\x00\xff",
    "t": True,
    "f": False,
    "null": None,
    "l": [1, "a", [b"x", None]],
    "m": {"a": {"b": [Decimal("2.5")]}, "e": {}},
    "ss": {"a", "b"},
    "ns": {1, Decimal("2.5")},
    "bs": {b"x", b"\x00"},
    "vec": keystone.Vector([0.5, -1.25, 3.0]),
    "ts": dt.datetime(2024, 3, 1, 7, 30, 15, 123000, tzinfo=UTC),
}


def test_every_value_kind_crosses_the_wire_both_ways(remote: Any) -> None:
    client = remote.client
    client.put(EVERY_KIND)
    assert client.get("kinds") == EVERY_KIND
    # A client of the generated messages reads the same values.
    answer = call(remote.server.port, "Get", pb.GetRequest(partition_key=b"kinds"), pb.GetResponse)
    attributes = answer.reply.item.attributes
    assert attributes["n_dec"].number_value == "0.1"
    assert attributes["f"].bool_value is False
    assert attributes["vec"].vector_value.values == [0.5, -1.25, 3.0]
    assert attributes["ts"].timestamp_value == 1709278215123
    assert sorted(attributes["ns"].number_set.values) == ["1", "2.5"]
    assert convert.item_from_proto(answer.reply.item) == EVERY_KIND


def test_a_put_without_key_attributes_takes_them_from_the_request(remote: Any) -> None:
    item = pb.Item(attributes={"v": v(number_value="1")})
    request = pb.PutRequest(partition_key=b"raw", sort_key=b"s1", item=item)
    answer = call(remote.server.port, "Put", request, pb.PutResponse)
    assert answer.status is Status.OK and answer.reply.success is True
    assert answer.reply.error is None  # errors are statuses; the error fields stay empty
    assert remote.client.get("raw", "s1") == {"pk": b"raw", "sk": b"s1", "v": 1}


def test_a_put_whose_key_attributes_match_the_request_keeps_their_types(remote: Any) -> None:
    item = pb.Item(attributes={"pk": v(string_value="p"), "v": v(bool_value=True)})
    answer = call(
        remote.server.port, "Put", pb.PutRequest(partition_key=b"p", item=item), pb.PutResponse
    )
    assert answer.status is Status.OK
    assert remote.client.get("p") == {"pk": "p", "v": True}


def test_a_put_whose_key_attributes_differ_from_the_request_is_invalid(remote: Any) -> None:
    item = pb.Item(attributes={"pk": v(string_value="other")})
    answer = call(
        remote.server.port, "Put", pb.PutRequest(partition_key=b"p", item=item), pb.PutResponse
    )
    assert answer.status is Status.INVALID_ARGUMENT
    assert "partition_key" in (answer.message or "")
    assert remote.client.get("p") is None and remote.client.get("other") is None


def test_an_item_created_by_update_keeps_the_key_types_the_caller_gave(remote: Any) -> None:
    client = remote.client
    assert client.update("u", "s", "SET v = :v", values={":v": 1}) == {"pk": "u", "sk": "s", "v": 1}
    assert client.update(b"u", b"t", "SET v = :v", values={":v": 1}) == {
        "pk": b"u",
        "sk": b"t",
        "v": 1,
    }
    client.transact_write(
        [keystone.Update(b"x", "y", "SET v = :v"), keystone.Update("x", b"z", "SET v = :v")],
        values={":v": 2},
    )
    assert client.get("x", "y") == {"pk": b"x", "sk": "y", "v": 2}
    assert client.get("x", "z") == {"pk": "x", "sk": b"z", "v": 2}
    # Clients of the original protocol send bytes only: UTF-8 keys become str.
    request = pb.UpdateRequest(
        partition_key=b"plain",
        update_expression="SET v = :v",
        expression_values={":v": v(string_value="x")},
    )
    answer = call(remote.server.port, "Update", request, pb.UpdateResponse)
    assert convert.item_from_proto(answer.reply.item) == {"pk": "plain", "v": "x"}


def test_an_original_client_pages_a_query_with_key_bytes_only(remote: Any) -> None:
    remote.client.batch_write(puts=[{"pk": "q", "sk": f"{i:02d}", "i": i} for i in range(5)])
    seen: list[int] = []
    start: pb.LastKey | None = None
    for _ in range(10):
        request = pb.QueryRequest(partition_key=b"q", limit=2, exclusive_start_key=start)
        reply = call(remote.server.port, "Query", request, pb.QueryResponse).reply
        seen.extend(convert.item_from_proto(i)["i"] for i in reply.items)
        if reply.last_evaluated_key is None:
            break
        # Drop our cursor: resume from partition_key/sort_key, as an old client would.
        start = pb.LastKey(
            partition_key=reply.last_evaluated_key.partition_key,
            sort_key=reply.last_evaluated_key.sort_key,
        )
    assert seen == [0, 1, 2, 3, 4]


def test_query_sort_key_conditions_and_direction_on_the_wire(remote: Any) -> None:
    remote.client.batch_write(puts=[{"pk": "q", "sk": f"{i:02d}"} for i in range(10)])
    condition = convert.sort_key_condition_to_proto("between", "03", "06")
    request = pb.QueryRequest(partition_key=b"q", sort_key_condition=condition, scan_forward=False)
    reply = call(remote.server.port, "Query", request, pb.QueryResponse).reply
    assert [convert.item_from_proto(i)["sk"] for i in reply.items] == ["06", "05", "04", "03"]
    assert (reply.count, reply.scanned_count) == (4, 4)
    assert remote.client.query("q", sk.begins_with("0"), limit=3).last_key == {
        "pk": "q",
        "sk": "02",
    }


def test_execute_statement_replies_with_the_statement_kind(remote: Any) -> None:
    pytest.importorskip("keystone.partiql")
    port = remote.server.port

    def run(statement: str) -> pb.ExecuteStatementResponse:
        answer = call(
            port,
            "ExecuteStatement",
            pb.ExecuteStatementRequest(statement=statement),
            pb.ExecuteStatementResponse,
        )
        assert answer.status is Status.OK, answer.message
        return answer.reply

    assert run("INSERT INTO t VALUE {'pk': 'e', 'sk': 's', 'n': 1}").insert.success is True
    updated = run("UPDATE t SET n = n + 1 WHERE pk = 'e' AND sk = 's'").update
    assert convert.item_from_proto(updated.item) == {"pk": "e", "sk": "s", "n": 2}
    selected = run("SELECT n FROM t WHERE pk = 'e'").select
    assert [convert.item_from_proto(i) for i in selected.items] == [{"n": 2}]
    assert run("DELETE FROM t WHERE pk = 'e' AND sk = 's'").delete.success is True
    # Our client rebuilds exactly the local Page of each statement.
    client = remote.client
    assert client.execute("INSERT INTO t VALUE {'pk': ?, 'n': ?}", ["p", 5]) == keystone.Page()
    assert client.execute("SELECT * FROM t WHERE pk = ?", ["p"]).items == [{"pk": "p", "n": 5}]


# --------------------------------------------------------------------------
# Every error is a gRPC status
# --------------------------------------------------------------------------


def test_validation_errors_are_invalid_argument(remote: Any) -> None:
    request = pb.GetRequest(partition_key=b"a", projection_expression="a,,b")
    answer = call(remote.server.port, "Get", request, pb.GetResponse)
    assert answer.status is Status.INVALID_ARGUMENT
    assert answer.trailers.get("keystone-error") == "ValidationError"
    assert "Syntax error" in (answer.message or "")


@pytest.mark.parametrize(
    ("method", "raw"),
    [
        ("Put", b"\x1a\x05\x0a\x03"),  # an item field cut short
        ("Get", b"\x0a\xff\xff\xff\xff\x0f"),  # a length far past the end
        ("Query", b"\x1a\x02\xff\xfe"),  # filter_expression that is not UTF-8
        ("BatchWrite", b"\x0a\x04\x0a\x02\x1a\x09"),
        ("ExecuteStatement", b"\x0a\x03\xc3\x28\x41"),
        ("TransactWrite", b"\x0b"),  # a group: not proto3
    ],
)
def test_malformed_requests_are_invalid_argument(remote: Any, method: str, raw: bytes) -> None:
    answer = call(remote.server.port, method, None, RawMessage, raw=raw)
    assert answer.status is Status.INVALID_ARGUMENT, answer.message
    assert "Traceback" not in (answer.message or "")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (pb.Value(), "index_partition_key"),  # no kind set
        (pb.Value(number_value="12abc"), "cannot be converted to a numeric value: 12abc"),
        (pb.Value(bool_value=True), "must be str or bytes, got bool"),  # the table's key
    ],
)
def test_a_bad_index_partition_key_is_invalid_argument(
    remote: Any, value: pb.Value, message: str
) -> None:
    request = pb.QueryRequest(index_partition_key=value)
    answer = call(remote.server.port, "Query", request, pb.QueryResponse)
    assert answer.status is Status.INVALID_ARGUMENT, answer.message
    assert message in (answer.message or ""), answer.message


@pytest.mark.parametrize(
    ("method", "raw", "field"),
    [
        # betterproto2 keeps what a wire type decodes to; the server checks the types
        ("Query", b"\x0a\x02f1\x10\x05", "sort_key_condition"),  # a message as a varint
        ("Query", b"\x0a\x02f1\x12\x02\x08\x01", "equal_to"),  # nested: a Value as a varint
        ("Get", b"\x08\x05", "partition_key"),  # bytes as a varint
        ("Scan", b"\x08\x01", "filter_expression"),  # a string as a varint
        ("Scan", b"\x1a\x01x", "limit"),  # an integer length-delimited
    ],
)
def test_fields_sent_with_the_wrong_wire_type_are_invalid_argument(
    remote: Any, method: str, raw: bytes, field: str
) -> None:
    answer = call(remote.server.port, method, None, RawMessage, raw=raw)
    assert answer.status is Status.INVALID_ARGUMENT, answer.message
    assert field in (answer.message or "") and "wrong wire type" in (answer.message or "")


def _deep_list(levels: int) -> bytes:
    """A ``Value`` nested ``levels`` lists deep, as bytes."""
    value = b"\x20\x01"
    for _ in range(levels):
        inner = b"\x0a" + convert._varint(len(value)) + value
        value = b"\x32" + convert._varint(len(inner)) + inner
    return value


@pytest.mark.parametrize("levels", [keystone.MAX_NESTING_DEPTH + 1, 5000])
def test_deeply_nested_requests_are_invalid_argument(remote: Any, levels: int) -> None:
    value = _deep_list(levels)
    entry = b"\x0a\x01a\x12" + convert._varint(len(value)) + value
    put = bytes(pb.PutRequest(partition_key=b"deep")) + convert.len_field(
        3, convert.len_field(1, entry)
    )
    answer = call(remote.server.port, "Put", None, RawMessage, raw=put)
    assert answer.status is Status.INVALID_ARGUMENT and "nesting" in (answer.message or "")
    # The same value where betterproto2 parses it (a sort-key condition).
    condition = convert.len_field(1, value)
    query = bytes(pb.QueryRequest(partition_key=b"deep")) + convert.len_field(2, condition)
    answer = call(remote.server.port, "Query", None, RawMessage, raw=query)
    assert answer.status is Status.INVALID_ARGUMENT
    assert remote.client.get("deep") is None


def test_a_failed_condition_is_failed_precondition(remote: Any) -> None:
    remote.client.put({"pk": "c", "v": 1})
    request = pb.DeleteRequest(
        partition_key=b"c",
        condition_expression="v = :v",
        expression_values={":v": v(number_value="2")},
    )
    answer = call(remote.server.port, "Delete", request, pb.DeleteResponse)
    assert answer.status is Status.FAILED_PRECONDITION
    assert isinstance(answer.error(), keystone.ConditionalCheckFailed)
    with pytest.raises(keystone.ConditionalCheckFailed):
        remote.client.delete("c", condition="v = :v", values={":v": 2})
    assert remote.client.get("c") == {"pk": "c", "v": 1}


def test_a_cancelled_transaction_is_aborted_with_reasons_in_trailing_metadata(remote: Any) -> None:
    remote.client.put({"pk": "t", "v": 1})
    request = pb.TransactWriteRequest(
        items=[
            pb.TransactWriteItem(put=pb.TransactPut(partition_key=b"n", item=pb.Item())),
            pb.TransactWriteItem(
                condition_check=pb.ConditionCheck(
                    partition_key=b"t", condition_expression="v = :two"
                )
            ),
        ],
        expression_values={":two": v(number_value="2")},
    )
    answer = call(remote.server.port, "TransactWrite", request, pb.TransactWriteResponse)
    assert answer.status is Status.ABORTED
    assert json.loads(answer.trailers["keystone-cancellation-reasons"]) == [
        None,
        "ConditionalCheckFailed",
    ]
    with pytest.raises(keystone.TransactionCanceled) as info:
        remote.client.transact_write(
            [keystone.Put({"pk": "n"}), keystone.ConditionCheck("t", condition="v = :two")],
            values={":two": 2},
        )
    assert info.value.reasons == [None, "ConditionalCheckFailed"]
    assert remote.client.get("n") is None


# NOT_FOUND: no RPC of keystone.proto names a thing that may be missing (a
# missing item is an empty reply, a missing index a ValidationError), so no
# request reaches it; convert's mapping of NotFound is tested in test_convert.


class _BrokenDatabase(keystone.Database):
    """A real database whose ``get`` fails the way a bug would."""

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret detail /etc/passwd")


def test_an_unexpected_error_is_internal_without_its_traceback(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def run() -> keystone.KeystoneError:
        db = _BrokenDatabase.open(tmp_path / "broken.keystone")
        server = Server([KeystoneService(db)])
        sock = socket.create_server(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        await server.start(sock=sock)
        try:
            async with Client(f"127.0.0.1:{port}", timeout=20) as client:
                await client.put({"pk": "a"})  # the other calls still work
                try:
                    await client.get("a")
                except keystone.KeystoneError as exc:
                    return exc
                raise AssertionError("get did not fail")
        finally:
            server.close()
            await server.wait_closed()
            db.close()

    with caplog.at_level(logging.ERROR, logger="keystone_net.grpc.server"):
        exc = asyncio.run(run())
    assert type(exc) is keystone.KeystoneError
    assert "secret" not in str(exc) and "Traceback" not in str(exc)
    assert "internal" in str(exc)
    assert any("secret detail" in (r.exc_text or "") or r.exc_info for r in caplog.records)
