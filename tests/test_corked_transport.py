"""The DynamoDB door's corked transport, over a real socket pair on the event loop."""

from __future__ import annotations

import asyncio
import socket

from keystone_net.dynamodb.door import CorkedTransport


class _Sink(asyncio.Protocol):
    def __init__(self) -> None:
        self.closed = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def _pair() -> tuple[CorkedTransport, socket.socket, _Sink]:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, sink = await loop.connect_accepted_socket(_Sink, ours)
    return CorkedTransport(transport), theirs, sink


async def _read_all(sock: socket.socket, n: int) -> bytes:
    loop = asyncio.get_running_loop()
    out = b""
    for _ in range(100):  # bounded
        if len(out) >= n:
            break
        out += await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
    return out


def test_the_writes_of_one_turn_leave_together_at_its_end() -> None:
    async def main() -> None:
        corked, peer, _ = await _pair()
        corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
        corked.write(bytearray(b"body"))
        corked.write(b"")
        assert corked.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
        await asyncio.sleep(0)  # the turn ends: one write of both
        assert corked.get_write_buffer_size() == 0
        assert await _read_all(peer, 23) == b"HTTP/1.1 200 OK\r\n\r\nbody"
        corked.close()
        peer.close()

    asyncio.run(main())


def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    async def main() -> None:
        corked, peer, sink = await _pair()
        corked.write(b"last words")
        corked.close()
        assert corked.is_closing()  # (the wrapped transport's own answer)
        assert await _read_all(peer, 10) == b"last words"
        await asyncio.wait_for(sink.closed, 5)
        peer.close()

        corked, peer, sink = await _pair()
        corked.write(b"never sent")
        corked.abort()
        await asyncio.wait_for(sink.closed, 5)
        loop = asyncio.get_running_loop()
        assert await asyncio.wait_for(loop.sock_recv(peer, 100), 5) == b""
        peer.close()

    asyncio.run(main())
