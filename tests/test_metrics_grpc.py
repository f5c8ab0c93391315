"""gRPC health checking and server reflection of keystone_net.serving.metrics, over a real grpclib server.

The services of ``Metrics.grpc_services()`` run beside ``KeystoneService`` in
one grpclib ``Server`` on 127.0.0.1, and grpclib's own clients talk to them.
Reflection is checked the way ``grpcurl list`` / ``grpcurl describe`` use it:
list the services, fetch the file that defines a symbol, and rebuild the
service from the returned descriptors alone.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpclib.reflection.v1 import reflection_grpc, reflection_pb2
from grpclib.reflection.v1alpha import reflection_grpc as alpha_grpc
from grpclib.reflection.v1alpha import reflection_pb2 as alpha_pb2
from grpclib.server import Server

import keystone
from keystone_net import Client
from keystone_net._proto import keystone as pb
from keystone_net.grpc.server import KeystoneService
from keystone_net.serving.metrics import KEYSTONE_SERVICE, Metrics

SERVING = HealthCheckResponse.SERVING
NOT_SERVING = HealthCheckResponse.NOT_SERVING


@asynccontextmanager
async def serving(db: keystone.Database, metrics: Metrics) -> AsyncIterator[tuple[Channel, int]]:
    """A grpclib server with the keystone service and the metrics' services; a channel, the port."""
    server = Server([KeystoneService(db), *metrics.grpc_services()])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    await server.start(sock=sock)
    port = sock.getsockname()[1]
    channel = Channel("127.0.0.1", port)
    try:
        yield channel, port
    finally:
        channel.close()
        server.close()
        await server.wait_closed()


def run(
    db: keystone.Database, metrics: Metrics, test: Callable[[Channel], Awaitable[None]]
) -> None:
    async def main() -> None:
        async with serving(db, metrics) as (channel, _):
            await asyncio.wait_for(test(channel), 30)

    asyncio.run(main())


async def check(channel: Channel, service: str) -> Any:
    return (await HealthStub(channel).Check(HealthCheckRequest(service=service))).status


# --------------------------------------------------------------------------
# Health
# --------------------------------------------------------------------------


def test_health_follows_set_ready_for_the_server_and_the_keystone_service(
    db: keystone.Database,
) -> None:
    m = Metrics(db)

    async def test(channel: Channel) -> None:
        for service in ("", KEYSTONE_SERVICE):
            assert await check(channel, service) == NOT_SERVING
        m.set_ready(True)
        for service in ("", KEYSTONE_SERVICE):
            assert await check(channel, service) == SERVING
        m.set_ready(False)
        for service in ("", KEYSTONE_SERVICE):
            assert await check(channel, service) == NOT_SERVING

    run(db, m, test)


def test_ready_before_the_services_exist_is_kept(db: keystone.Database) -> None:
    m = Metrics(db)
    m.set_ready(True)

    async def test(channel: Channel) -> None:
        assert await check(channel, "") == SERVING

    run(db, m, test)


def test_an_unknown_service_is_not_found(db: keystone.Database) -> None:
    async def test(channel: Channel) -> None:
        with pytest.raises(GRPCError) as info:
            await check(channel, "no.such.Service")
        assert info.value.status is Status.NOT_FOUND

    run(db, Metrics(db), test)


def test_watch_streams_every_change(db: keystone.Database) -> None:
    m = Metrics(db)

    async def test(channel: Channel) -> None:
        async with HealthStub(channel).Watch.open() as stream:
            await stream.send_message(HealthCheckRequest(service=KEYSTONE_SERVICE), end=True)
            assert (await stream.recv_message()).status == NOT_SERVING
            m.set_ready(True)
            assert (await stream.recv_message()).status == SERVING
            # From another thread too (the server's signal handling may run elsewhere).
            changer = threading.Thread(target=m.set_ready, args=(False,))
            changer.start()
            changer.join()
            assert (await stream.recv_message()).status == NOT_SERVING
            await stream.cancel()

    run(db, m, test)


def test_the_keystone_service_answers_beside_health_and_reflection(
    db: keystone.Database,
) -> None:
    m = Metrics(db)
    m.set_ready(True)

    async def main() -> None:
        async with serving(db, m) as (channel, port):
            async with Client(f"127.0.0.1:{port}", timeout=10) as client:
                await client.put({"pk": "a", "n": 1})
                assert await client.get("a") == {"pk": "a", "n": 1}
            assert await check(channel, "") == SERVING

    asyncio.run(main())


def test_grpc_services_are_made_once(db: keystone.Database) -> None:
    m = Metrics(db)
    first, second = m.grpc_services(), m.grpc_services()
    assert [id(s) for s in first] == [id(s) for s in second]
    routes = {route for service in first for route in service.__mapping__()}
    assert {
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    } <= routes


# --------------------------------------------------------------------------
# Reflection
# --------------------------------------------------------------------------


async def reflect(channel: Channel, *requests: Any, alpha: bool = False) -> list[Any]:
    """Send reflection requests on one stream (as grpcurl does); the responses."""
    stub = (alpha_grpc if alpha else reflection_grpc).ServerReflectionStub(channel)
    replies = []
    async with stub.ServerReflectionInfo.open() as stream:
        for request in requests:
            await stream.send_message(request)
            replies.append(await stream.recv_message())
        await stream.end()
    return replies


def rebuild(file_descriptor_protos: list[bytes]) -> Any:
    """A descriptor pool made of what reflection returned, and nothing else."""
    pool = descriptor_pool.DescriptorPool()
    for data in file_descriptor_protos:
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(data))
    return pool


def test_reflection_lists_the_services(db: keystone.Database) -> None:
    async def test(channel: Channel) -> None:
        for module, alpha in ((reflection_pb2, False), (alpha_pb2, True)):
            (reply,) = await reflect(
                channel, module.ServerReflectionRequest(list_services=""), alpha=alpha
            )
            names = {s.name for s in reply.list_services_response.service}
            assert names == {
                KEYSTONE_SERVICE,
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            }

    run(db, Metrics(db), test)


def test_reflection_resolves_every_listed_service_and_its_methods_as_grpcurl_asks(
    db: keystone.Database,
) -> None:
    """``grpcurl describe SERVICE`` / ``describe SERVICE.Method`` / ``describe MESSAGE``."""

    async def test(channel: Channel) -> None:
        request = reflection_pb2.ServerReflectionRequest
        (listed,) = await reflect(channel, request(list_services=""))
        for service_name in [s.name for s in listed.list_services_response.service]:
            (by_service,) = await reflect(channel, request(file_containing_symbol=service_name))
            files = list(by_service.file_descriptor_response.file_descriptor_proto)
            service = rebuild(files).FindServiceByName(service_name)
            for method in service.methods:
                (by_method,) = await reflect(
                    channel, request(file_containing_symbol=method.full_name)
                )
                assert list(by_method.file_descriptor_response.file_descriptor_proto) == files
                for message in (method.input_type, method.output_type):
                    (by_message,) = await reflect(
                        channel, request(file_containing_symbol=message.full_name)
                    )
                    found = rebuild(
                        list(by_message.file_descriptor_response.file_descriptor_proto)
                    ).FindMessageTypeByName(message.full_name)
                    assert [f.name for f in found.fields] == [f.name for f in message.fields]
        (get,) = await reflect(channel, request(file_containing_symbol="keystone.KeystoneDB.Get"))
        pool = rebuild(list(get.file_descriptor_response.file_descriptor_proto))
        method = pool.FindMethodByName("keystone.KeystoneDB.Get")
        assert (method.input_type.full_name, method.output_type.full_name) == (
            "keystone.GetRequest",
            "keystone.GetResponse",
        )
        (missing,) = await reflect(
            channel, request(file_containing_symbol="keystone.KeystoneDB.NoSuchMethod")
        )
        assert missing.error_response.error_code == Status.NOT_FOUND.value

    run(db, Metrics(db), test)


def test_reflection_describes_the_keystone_service_without_the_proto(
    db: keystone.Database,
) -> None:
    class Implemented(pb.KeystoneDbBase):
        pass

    expected = Implemented().__mapping__()

    async def test(channel: Channel) -> None:
        request = reflection_pb2.ServerReflectionRequest
        by_symbol, by_name = await reflect(
            channel,
            request(file_containing_symbol=KEYSTONE_SERVICE),
            request(file_by_filename="keystone.proto"),
        )
        files = list(by_symbol.file_descriptor_response.file_descriptor_proto)
        assert files == list(by_name.file_descriptor_response.file_descriptor_proto)
        pool = rebuild(files)
        service = pool.FindServiceByName(KEYSTONE_SERVICE)
        assert {f"/{KEYSTONE_SERVICE}/{m.name}" for m in service.methods} == set(expected)
        for method in service.methods:
            handler = expected[f"/{KEYSTONE_SERVICE}/{method.name}"]
            assert method.input_type.name == handler.request_type.__name__
            assert method.output_type.name == handler.reply_type.__name__
            assert method.server_streaming is (handler.cardinality is Cardinality.UNARY_STREAM)
            assert not method.client_streaming
        # Messages are described to the field (what `grpcurl describe keystone.PutRequest` shows).
        put = pool.FindMessageTypeByName("keystone.PutRequest")
        assert {f.name: f.number for f in put.fields} == {
            name: meta.number
            for name, meta in pb.PutRequest._betterproto.meta_by_field_name.items()
        }
        assert pool.FindMessageTypeByName("keystone.Value").oneofs_by_name["value"]

    run(db, Metrics(db), test)


def test_reflection_describes_the_health_service_and_v1alpha_works_too(
    db: keystone.Database,
) -> None:
    async def test(channel: Channel) -> None:
        (reply,) = await reflect(
            channel,
            alpha_pb2.ServerReflectionRequest(file_containing_symbol="grpc.health.v1.Health"),
            alpha=True,
        )
        pool = rebuild(list(reply.file_descriptor_response.file_descriptor_proto))
        methods = pool.FindServiceByName("grpc.health.v1.Health").methods_by_name
        assert set(methods) == {"Check", "Watch"} and methods["Watch"].server_streaming

    run(db, Metrics(db), test)


def test_reflection_reports_unknown_symbols_and_files(db: keystone.Database) -> None:
    async def test(channel: Channel) -> None:
        request = reflection_pb2.ServerReflectionRequest
        replies = await reflect(
            channel,
            request(file_containing_symbol="keystone.NoSuchThing"),
            request(file_by_filename="nope.proto"),
            request(list_services=""),  # the stream goes on after errors
        )
        for reply in replies[:2]:
            assert reply.error_response.error_code == Status.NOT_FOUND.value
        assert replies[2].list_services_response.service

    run(db, Metrics(db), test)
