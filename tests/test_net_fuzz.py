"""Bad bytes on the wire: every answer is a clear status, and the server keeps serving.

Valid requests of every method, encoded as any client would, are mutated at
random (bytes flipped, cut short, spliced) and sent raw to a real server. A
mutated request may still be valid, so it may succeed; otherwise its answer
must be a status that names the problem (INVALID_ARGUMENT, NOT_FOUND,
FAILED_PRECONDITION, ABORTED, RESOURCE_EXHAUSTED), never INTERNAL or UNKNOWN
(an exception the server did not expect). The server must answer a plain get
afterwards, and an item no request addresses must be unchanged.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from keystone_net._proto import keystone as pb
from keystone_net.grpc import convert
from keystone_net.grpc.convert import RawMessage

ROUTE = "/keystone.KeystoneDB/"
CALLS = int(
    __import__("os").environ.get("FUZZ_CALLS", "600")
)  # mutated requests in all (bounded: about 2 s here)
EXPECTED = {
    Status.OK,
    Status.INVALID_ARGUMENT,
    Status.NOT_FOUND,
    Status.FAILED_PRECONDITION,
    Status.ABORTED,
    Status.RESOURCE_EXHAUSTED,
}


def _item(i: int) -> pb.Item:
    return convert.item_to_proto(
        {
            "pk": f"f{i}",
            "sk": "s",
            "n": i,
            "l": [1, "a", {"m": b"\x00"}],
            "ss": {"x", "y"},
            "d": {"deep": [[None, True]]},
        }
    )


def _seeds() -> list[tuple[str, bytes]]:
    """One valid request of each method (and a few variants), as encoded bytes."""
    v = convert.value_to_proto
    cond = pb.SortKeyCondition(between=pb.BetweenCondition(lower=v("a"), upper=v("z")))
    seeds: list[tuple[str, Any]] = [
        ("Put", pb.PutRequest(partition_key=b"f1", sort_key=b"s", item=_item(1))),
        (
            "Put",
            pb.PutRequest(
                partition_key=b"f2",
                sort_key=b"s",
                item=_item(2),
                condition_expression="attribute_not_exists(pk) OR n < :n",
                expression_values={":n": v(5)},
            ),
        ),
        ("Get", pb.GetRequest(partition_key=b"f1", sort_key=b"s", projection_expression="n, l[0]")),
        ("Delete", pb.DeleteRequest(partition_key=b"f3", sort_key=b"s")),
        (
            "Update",
            pb.UpdateRequest(
                partition_key=b"f1",
                sort_key=b"s",
                update_expression="SET n = n + :one, l[1] = :s REMOVE d.deep",
                expression_values={":one": v(1), ":s": v("b")},
            ),
        ),
        (
            "Query",
            pb.QueryRequest(
                partition_key=b"f1",
                sort_key_condition=cond,
                filter_expression="n > :z",
                expression_values={":z": v(0)},
                limit=10,
            ),
        ),
        ("Query", pb.QueryRequest(index_partition_key=v(3), index_name="none")),
        ("Scan", pb.ScanRequest(filter_expression="attribute_exists(l)", limit=5)),
        (
            "BatchGet",
            pb.BatchGetRequest(keys=[pb.Key(partition_key=b"f1", sort_key=b"s")] * 3),
        ),
        (
            "BatchWrite",
            pb.BatchWriteRequest(
                writes=[
                    pb.WriteRequest(
                        put=pb.PutItem(partition_key=b"f4", sort_key=b"s", item=_item(4))
                    ),
                    pb.WriteRequest(delete=pb.DeleteKey(partition_key=b"f5", sort_key=b"s")),
                ]
            ),
        ),
        ("TransactGet", pb.TransactGetRequest(keys=[pb.Key(partition_key=b"f1", sort_key=b"s")])),
        (
            "TransactWrite",
            pb.TransactWriteRequest(
                items=[
                    pb.TransactWriteItem(
                        put=pb.TransactPut(partition_key=b"f6", sort_key=b"s", item=_item(6))
                    ),
                    pb.TransactWriteItem(
                        condition_check=pb.ConditionCheck(
                            partition_key=b"f1",
                            sort_key=b"s",
                            condition_expression="attribute_exists(pk)",
                        )
                    ),
                ]
            ),
        ),
        (
            "ExecuteStatement",
            pb.ExecuteStatementRequest(
                statement="SELECT * FROM t WHERE pk = ? AND sk BETWEEN ? AND ?",
                parameters=[v("f1"), v("a"), v("z")],
            ),
        ),
    ]
    return [(method, bytes(message)) for method, message in seeds]


def _mutate(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(6)
        if kind == 5 and out:  # another wire type in what may be a field's tag
            at = rng.randrange(len(out))
            out[at] = (out[at] & 0xF8) | rng.choice((0, 1, 2, 5))
        elif kind == 0 and out:  # flip a byte
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif kind == 1 and out:  # cut short
            del out[rng.randrange(len(out)) :]
        elif kind == 2:  # insert random bytes
            at = rng.randint(0, len(out))
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif kind == 3:  # splice in a piece of another request
            donor = rng.choice(donors)
            if donor:
                a = rng.randrange(len(donor))
                piece = donor[a : a + rng.randint(1, 24)]
                at = rng.randint(0, len(out))
                out[at:at] = piece
        elif out:  # a varint length field turned huge
            out[rng.randrange(len(out))] = 0xFF
    return bytes(out)


async def _raw(channel: Channel, method: str, data: bytes) -> tuple[Status, str | None]:
    cardinality = Cardinality.UNARY_STREAM if method == "Scan" else Cardinality.UNARY_UNARY
    try:
        async with channel.request(
            ROUTE + method, cardinality, RawMessage, RawMessage, timeout=20
        ) as stream:
            await stream.send_message(RawMessage(data), end=True)
            async for _ in stream:  # every reply message, then the trailers
                pass
    except GRPCError as err:
        return err.status, err.message
    return Status.OK, None


def test_mutated_requests_get_clear_statuses_and_lose_nothing(remote_store: Any) -> None:
    store = remote_store.fresh()
    canary = {"pk": "canary", "sk": "s", "v": [1, {"a": b"x"}]}
    store.put(canary)
    seeds = _seeds()
    donors = [data for _, data in seeds]
    rng = random.Random(int(__import__("os").environ.get("FUZZ_SEED", "20261126")))
    port = remote_store.server.port
    surprises: list[str] = []
    counts: dict[Status, int] = {}

    async def run() -> None:
        channel = Channel("127.0.0.1", port)
        try:
            for method, data in seeds:  # the seeds themselves are valid
                status, message = await _raw(channel, method, data)
                assert status in EXPECTED, (method, status, message)
            for n in range(CALLS):
                method, data = seeds[n % len(seeds)]
                mutated = _mutate(rng, data, donors)
                try:
                    status, message = await _raw(channel, method, mutated)
                except StreamTerminatedError as err:  # the server reset the stream
                    surprises.append(f"{method} {mutated.hex()}: stream reset ({err})")
                    continue
                counts[status] = counts.get(status, 0) + 1
                if status not in EXPECTED:
                    surprises.append(f"{method} {mutated.hex()}: {status.name} {message}")
        finally:
            channel.close()

    asyncio.run(run())
    assert surprises == []
    assert counts.get(Status.INVALID_ARGUMENT, 0) > CALLS // 10  # mutations did reach the checks
    assert counts.get(Status.OK, 0) > 0
    assert store.get("canary", "s") == canary  # the server still serves, the canary untouched


def test_garbage_connections_are_dropped_and_the_server_keeps_serving(remote_store: Any) -> None:
    """Random bytes instead of HTTP/2, or after a valid preface: the connection goes, nothing else."""
    import socket

    store = remote_store.fresh()
    store.put({"pk": "still", "v": 1})
    rng = random.Random(3)
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    for n in range(20):  # bounded in count, each bounded in time
        junk = rng.randbytes(rng.randint(1, 300))
        with socket.create_connection(("127.0.0.1", remote_store.server.port), timeout=5) as sock:
            try:
                sock.sendall((preface if n % 2 else b"") + junk)
                sock.shutdown(socket.SHUT_WR)  # and no more: the server sees the end
                sock.settimeout(2)
                while sock.recv(65536):  # until the server closes it (or 2 s pass)
                    pass
            except OSError:
                pass  # reset or timed out: either way the server is done with it
    assert store.get("still") == {"pk": "still", "v": 1}
