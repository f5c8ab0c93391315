"""Network bench: the keystone_net server vs a bare grpclib echo service, in one run.

    python benches/net.py [--quick] [--rounds N]

Both servers run as subprocesses on loopback; the same keystone_net client
(async, one HTTP/2 connection) calls both, so the difference is the server:
keystone_net (decode, worker thread, LMDB, encode) vs an echo service that
answers every Get with a prebuilt betterproto2 ``GetResponse`` holding the
same item, and every Put with ``PutResponse(success=True)``, touching no
database. A second echo answers with pre-encoded bytes: the floor of
grpclib itself.

* sequential Get: p50/p99 latency (target: keystone p50 <= 1.3x echo);
* 32 concurrent callers on one connection: Get and Put throughput (target:
  keystone Get >= 0.8x echo). The keystone server runs with its default
  durability ("sync": every put is on disk before it is acknowledged);
* batch_get of 100 keys in one call vs 100 sequential gets, items/s
  (target: >= 20x);
* group commit: 32 concurrent durable writers (one connection each) on the
  default server vs one started with ``--no-group-commit``, writes/s
  (target: >= 4x), and vs the echo (the ceiling of that ratio here);
* compression: a 1000-item query with gzip replies vs plain, time and the
  reply bytes on the wire (no target: on loopback the CPU costs more than
  the bytes save; the bytes are what a slow link would feel);
* TLS: sequential Get p50 over TLS (``--tls-cert``/``--tls-key``, a
  throwaway CA made with ``cryptography`` by ``tests/certs.py``) vs plaintext.
  Skipped, saying why, when ``keystone_net.serving.tls`` or client TLS is missing.

Every server runs with ``--metrics-port 0`` (no metrics endpoint), so that
benches never fight over port 9090.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")

from _harness import compare, machine  # noqa: E402

import keystone  # noqa: E402
import keystone_net  # noqa: E402
from keystone_net._proto import keystone as pb  # noqa: E402
from keystone_net.grpc import convert  # noqa: E402
from keystone_net.grpc.convert import RawMessage  # noqa: E402

CALLERS = 32
WRITERS = 32
_LISTENING = re.compile(r"listening on \S+:(\d+)")


def make_item(i: int) -> dict[str, object]:
    return {
        "pk": f"user#{i:05d}",
        "sk": "profile",
        "name": f"customer {i}",
        "total": i * 3,
        "status": "shipped" if i % 3 else "pending",
        "tags": ["a", "b"],
    }


# --------------------------------------------------------------------------
# The echo services (run with --serve-echo in a subprocess)
# --------------------------------------------------------------------------


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class BetterprotoEcho:
    """Get -> a prebuilt betterproto2 GetResponse (encoded per call); Put -> success."""

    def __init__(self) -> None:
        self.item = convert.item_to_proto(make_item(1))

    async def get(self, stream: Any) -> None:
        await stream.recv_message()
        await stream.send_message(pb.GetResponse(item=self.item))

    async def put(self, stream: Any) -> None:
        await stream.recv_message()
        await stream.send_message(pb.PutResponse(success=True))

    def __mapping__(self) -> dict[str, Any]:
        from grpclib.const import Cardinality, Handler

        return {
            "/keystone.KeystoneDB/Get": Handler(
                self.get, Cardinality.UNARY_UNARY, pb.GetRequest, pb.GetResponse
            ),
            "/keystone.KeystoneDB/Put": Handler(
                self.put, Cardinality.UNARY_UNARY, pb.PutRequest, pb.PutResponse
            ),
        }


class RawEcho:
    """Get and Put answered with pre-encoded bytes: grpclib's own cost only."""

    def __init__(self) -> None:
        self.get_reply = RawMessage(bytes(pb.GetResponse(item=convert.item_to_proto(make_item(1)))))
        self.put_reply = RawMessage(bytes(pb.PutResponse(success=True)))

    async def get(self, stream: Any) -> None:
        await stream.recv_message()
        await stream.send_message(self.get_reply)

    async def put(self, stream: Any) -> None:
        await stream.recv_message()
        await stream.send_message(self.put_reply)

    def __mapping__(self) -> dict[str, Any]:
        from grpclib.const import Cardinality, Handler

        return {
            "/keystone.KeystoneDB/Get": Handler(
                self.get, Cardinality.UNARY_UNARY, RawMessage, RawMessage
            ),
            "/keystone.KeystoneDB/Put": Handler(
                self.put, Cardinality.UNARY_UNARY, RawMessage, RawMessage
            ),
        }


async def serve_echo() -> None:
    from grpclib.server import Server

    servers = []
    for service in (BetterprotoEcho(), RawEcho()):
        server = Server([service])
        sock = _listen()
        await server.start(sock=sock)
        servers.append(server)
        print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    await asyncio.Event().wait()  # until killed


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


class Process:
    """A subprocess whose stderr announces ``listening on HOST:PORT`` lines.

    Its stderr goes to a file, not a pipe: reading a busy server's request
    log here would take CPU from the clients being measured.
    """

    def __init__(self, args: list[str], ports: int = 1, env: dict[str, str] | None = None) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="keystone-bench-", suffix=".log")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stderr=self.log,
            stdout=subprocess.DEVNULL,
            text=True,
            env=None if env is None else {**os.environ, **env},
        )
        self.ports: list[int] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            with open(self.log.name) as f:
                found = [int(m.group(1)) for m in _LISTENING.finditer(f.read())]
            if len(found) >= ports:
                self.ports = found[:ports]
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{args} did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def keystone_server(db_path: str, *args: str, env: dict[str, str] | None = None) -> Process:
    """``python -m keystone_net serve`` on a free port (default durability: sync)."""
    return Process(
        [
            "-m",
            "keystone_net",
            "serve",
            "--db-path",
            db_path,
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--no-dynamodb",  # (two servers at once would both want port 8000)
            *args,
        ],
        env=env,
    )


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


async def latencies(call: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    out = []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        await call()
        out.append(clock() - t0)
    return out


async def callers(call: Callable[[int], Awaitable[Any]], per_caller: int) -> int:
    async def one(c: int) -> None:
        for i in range(per_caller):
            await call(c * per_caller + i)

    await asyncio.gather(*(one(c) for c in range(CALLERS)))
    return CALLERS * per_caller


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def group_commit(
    loop: asyncio.AbstractEventLoop, tmp: str, rounds: int, per_writer: int, echo_port: int
) -> None:
    """32 durable writers, one connection each: the default server vs ``--no-group-commit``.

    The same writers against the echo service (no database at all) give the
    ceiling of the ratio on this machine: what the calls alone cost.
    """
    servers = {
        "group commit (default)": keystone_server(os.path.join(tmp, "group.keystone")),
        "--no-group-commit": keystone_server(
            os.path.join(tmp, "single.keystone"), "--no-group-commit"
        ),
    }
    ports = {name: server.ports[0] for name, server in servers.items()}
    ports["echo (no database)"] = echo_port
    run = loop.run_until_complete
    counter = iter(range(10**9))
    clients: dict[str, list[keystone_net.Client]] = {
        name: [keystone_net.Client(f"127.0.0.1:{port}", timeout=120) for _ in range(WRITERS)]
        for name, port in ports.items()
    }
    try:

        def load(writers: list[keystone_net.Client]) -> Callable[[], int]:
            async def write_all() -> int:
                async def one(client: keystone_net.Client) -> None:
                    for _ in range(per_writer):
                        await client.put(make_item(next(counter)))

                await asyncio.gather(*(one(c) for c in writers))
                return WRITERS * per_writer

            return lambda: run(write_all())

        names = list(clients)
        ratios = compare(
            f"durable put (sync), {WRITERS} concurrent writers, one connection each (writes/s)",
            (names[0], load(clients[names[0]])),
            [(name, load(clients[name])) for name in names[1:]],
            rounds,
            targets={names[1]: 4.0},
        )
        ceiling = ratios[names[1]] / ratios[names[2]]
        print(
            f"  ceiling here: the echo, touching no database, takes {ceiling:.2f}x the writes/s"
            f" of {names[1]}; no database could give group commit more over it"
        )
    finally:
        for writers in clients.values():
            for client in writers:
                run(client.close())
        for server in servers.values():
            server.stop()
    # The same writers as threads on a local Database: what group commit
    # gives without the network's per-call cost (the ceiling of the above).
    local_dir = os.path.join(tmp, "local")
    os.makedirs(local_dir, exist_ok=True)

    def local(group: bool | None, name: str) -> Callable[[], int]:
        db = keystone.Database.open(os.path.join(local_dir, name), group_commit=group)
        opened.append(db)
        n = per_writer * 10

        def write_all() -> int:
            def one(w: int) -> None:
                for _ in range(n):
                    db.put({**make_item(w), "sk": f"local#{next(counter)}"})

            threads = [threading.Thread(target=one, args=(w,)) for w in range(WRITERS)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            return WRITERS * n

        return write_all

    opened: list[keystone.Database] = []
    try:
        compare(
            f"  (for reference) the same in process: {WRITERS} threads on one Database",
            ("group commit (default)", local(None, "group.keystone")),
            [("group_commit=False", local(False, "single.keystone"))],
            rounds,
        )
    finally:
        for db in opened:
            db.close()


def compression(loop: asyncio.AbstractEventLoop, tmp: str, rounds: int, n_items: int) -> None:
    """A query of ``n_items`` ~500-byte items: bytes on the wire and time, plain vs gzip.

    The server runs with ``--compression gzip``; the gzip client asks for
    compressed replies, the plain one does not. A loopback relay counts the
    bytes (``tests/netsupport.Relay``).
    """
    sys.path.insert(0, _TESTS)
    from netsupport import Relay

    server = keystone_server(os.path.join(tmp, "compressed.keystone"), "--compression", "gzip")
    run = loop.run_until_complete
    relay = Relay(server.ports[0])
    run(relay.start())
    clients = {
        "gzip": keystone_net.Client(f"127.0.0.1:{relay.port}", timeout=120, compression="gzip"),
        "plain": keystone_net.Client(f"127.0.0.1:{relay.port}", timeout=120),
    }
    try:
        rng = random.Random(7)  # text like a real note: 400 words drawn at random
        words = [
            "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9)))
            for _ in range(400)
        ]
        statuses = ["pending", "shipped", "delivered", "returned"]
        items = [
            {
                "pk": "orders",
                "sk": f"{i:06d}",
                "customer": f"customer #{rng.randrange(10_000)}",
                "status": statuses[i % len(statuses)],
                "note": " ".join(rng.choices(words, k=60)),
                "total": rng.randrange(100_000),
            }
            for i in range(n_items)
        ]
        for start in range(0, n_items, 25):
            run(clients["plain"].batch_write(puts=items[start : start + 25]))
        down: dict[str, int] = {}

        def query(name: str) -> Callable[[], int]:
            async def one() -> int:
                before = relay.down
                page = await clients[name].query("orders")
                down[name] = relay.down - before
                return int(page.count)

            return lambda: run(one())

        compare(
            f"query of {n_items} items (~500 bytes each), server --compression gzip",
            ("gzip client", query("gzip")),
            [("plain client", query("plain"))],
            rounds,
        )
        print(
            f"  reply bytes on the wire: gzip {down['gzip']:,} vs plain {down['plain']:,} "
            f"({down['gzip'] / down['plain']:.0%})"
        )
    finally:
        for client in clients.values():
            run(client.close())
        relay.close()
        server.stop()


def tls_latency(
    loop: asyncio.AbstractEventLoop,
    tmp: str,
    rounds: int,
    n_seq: int,
    plain: keystone_net.Client,
) -> None:
    """Sequential Get p50 over TLS vs plaintext (same database contents, same client code)."""
    print("\nsequential get over TLS vs plaintext (async client, one connection)")
    reason = _tls_missing()
    if reason:
        print(f"  skipped: {reason}")
        return
    sys.path.insert(0, _TESTS)
    from certs import make_pki

    pki = make_pki(Path(tmp) / "pki")
    server = keystone_server(
        os.path.join(tmp, "tls.keystone"),
        "--tls-cert",
        str(pki.server_cert),
        "--tls-key",
        str(pki.server_key),
    )
    run = loop.run_until_complete
    secure = keystone_net.Client(
        f"https://127.0.0.1:{server.ports[0]}", ca_file=pki.ca, timeout=120
    )
    try:
        run(secure.put(make_item(1)))
        run(plain.put(make_item(1)))
        samples: dict[str, list[float]] = {"plaintext": [], "TLS": []}
        clients = {"plaintext": plain, "TLS": secure}
        for client in clients.values():  # warm up: connect (the TLS handshake), caches
            run(latencies(lambda client=client: client.get("user#00001", "profile"), 50))
        for _ in range(rounds):
            for name, client in clients.items():
                samples[name].extend(
                    run(latencies(lambda client=client: client.get("user#00001", "profile"), n_seq))
                )
        for name, s in samples.items():
            print(
                f"  {name:<40} p50 {percentile(s, 0.5) * 1e6:8.1f} us   p99 {percentile(s, 0.99) * 1e6:8.1f} us"
            )
        ratio = percentile(samples["TLS"], 0.5) / percentile(samples["plaintext"], 0.5)
        print(f"  TLS p50 / plaintext p50: {ratio:.2f}x")
    finally:
        run(secure.close())
        server.stop()


def _tls_missing() -> str | None:
    """Why the TLS comparison cannot run here, or ``None``."""
    import importlib.util
    import inspect

    if importlib.util.find_spec("keystone_net.serving.tls") is None:
        return "keystone_net.serving.tls is not installed"
    if "ca_file" not in inspect.signature(keystone_net.Client).parameters:
        return "the client takes no ca_file= (no client TLS yet)"
    if importlib.util.find_spec("cryptography") is None:
        return "cryptography (a dev dependency) is not installed"
    if not os.path.exists(os.path.join(_TESTS, "certs.py")):
        return "tests/certs.py (the certificate maker) is missing"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few, short rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per contender")
    parser.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:  # on the loop KEYSTONE_EVENT_LOOP chooses, as the server would
        from keystone_net.serving import eventloop

        eventloop.run(serve_echo())
        return

    quick = args.quick
    rounds = args.rounds or (3 if quick else 7)
    n_items = 1_000 if quick else 10_000
    n_seq = 300 if quick else 3_000
    per_caller = 10 if quick else 60
    put_per_caller = 2 if quick else 8
    n_batches = 5 if quick else 40
    print(f"machine: {machine()}; items={n_items}, rounds={rounds}, callers={CALLERS}")

    tmp = tempfile.mkdtemp(prefix="keystone-net-bench-")
    here = os.path.abspath(__file__)
    server = keystone_server(os.path.join(tmp, "bench.keystone"))
    echo = Process([here, "--serve-echo"], ports=2)
    loop = asyncio.new_event_loop()
    ks = keystone_net.Client(f"127.0.0.1:{server.ports[0]}", timeout=120)
    bp = keystone_net.Client(f"127.0.0.1:{echo.ports[0]}", timeout=120)
    raw = keystone_net.Client(f"127.0.0.1:{echo.ports[1]}", timeout=120)
    run = loop.run_until_complete
    try:
        items = [make_item(i) for i in range(n_items)]
        for start in range(0, n_items, 1000):
            run(ks.batch_write(puts=items[start : start + 1000]))
        keys = [(it["pk"], it["sk"]) for it in items]

        # -- sequential Get latency ----------------------------------------------
        samples: dict[str, list[float]] = {
            "keystone": [],
            "echo (betterproto2)": [],
            "echo (raw bytes)": [],
        }
        clients = {"keystone": ks, "echo (betterproto2)": bp, "echo (raw bytes)": raw}
        for client in clients.values():  # warm up: connect, caches
            run(latencies(lambda client=client: client.get("user#00001", "profile"), 50))
        for r in range(rounds):
            for name, client in clients.items():
                pk, sk = keys[r % n_items]
                samples[name].extend(
                    run(latencies(lambda client=client, pk=pk, sk=sk: client.get(pk, sk), n_seq))
                )
        print("\nsequential get (async client, one connection)")
        for name, s in samples.items():
            print(
                f"  {name:<40} p50 {percentile(s, 0.5) * 1e6:8.1f} us   p99 {percentile(s, 0.99) * 1e6:8.1f} us"
            )
        ratio = percentile(samples["keystone"], 0.5) / percentile(
            samples["echo (betterproto2)"], 0.5
        )
        floor = percentile(samples["keystone"], 0.5) / percentile(samples["echo (raw bytes)"], 0.5)
        print(
            f"  keystone p50 / echo p50: {ratio:.2f}x (target <= 1.3x: {'met' if ratio <= 1.3 else 'MISSED'})"
        )
        print(f"  keystone p50 / raw-bytes echo p50: {floor:.2f}x")

        sync = keystone_net.connect(f"127.0.0.1:{server.ports[0]}", timeout=120)
        try:
            sync.get(*keys[0])
            t = []
            for i in range(n_seq):
                t0 = time.perf_counter()
                sync.get(*keys[i % n_items])
                t.append(time.perf_counter() - t0)
            print(
                f"  (sync client, for reference: p50 {percentile(t, 0.5) * 1e6:.1f} us, p99 {percentile(t, 0.99) * 1e6:.1f} us)"
            )
        finally:
            sync.close()

        # -- 32 callers --------------------------------------------------------
        def get_load(client: keystone_net.Client) -> Callable[[], int]:
            return lambda: run(callers(lambda i: client.get(*keys[i % n_items]), per_caller))

        compare(
            f"get, {CALLERS} concurrent callers on one connection",
            ("keystone get", get_load(ks)),
            [("echo (betterproto2)", get_load(bp)), ("echo (raw bytes)", get_load(raw))],
            rounds,
            targets={"echo (betterproto2)": 0.8},
        )

        counter = iter(range(10**9))

        def put_load(client: keystone_net.Client) -> Callable[[], int]:
            def put(i: int) -> Awaitable[Any]:
                return client.put({**items[i % n_items], "sk": f"new#{next(counter)}"})

            return lambda: run(callers(put, put_per_caller))

        compare(
            f"put (durable, sync), {CALLERS} concurrent callers on one connection",
            ("keystone put", put_load(ks)),
            [("echo (betterproto2)", put_load(bp)), ("echo (raw bytes)", put_load(raw))],
            rounds,
        )

        # -- batch_get vs sequential gets ----------------------------------------
        batches = [keys[(b * 100) % n_items :][:100] for b in range(n_batches)]
        batches = [b if len(b) == 100 else keys[:100] for b in batches]

        async def batch_gets() -> int:
            total = 0
            for batch in batches:
                total += len(await ks.batch_get(batch))
            return total

        async def single_gets() -> int:
            total = 0
            for batch in batches[: max(1, n_batches // 10)]:
                for key in batch:
                    total += (await ks.get(*key)) is not None
            return total

        compare(
            "100 keys: one batch_get vs 100 sequential gets (items/s)",
            ("batch_get of 100 keys", lambda: run(batch_gets())),
            [("100 sequential gets", lambda: run(single_gets()))],
            rounds,
            targets={"100 sequential gets": 20.0},
        )

        group_commit(loop, tmp, rounds, 5 if quick else 20, echo.ports[0])
        tls_latency(loop, tmp, rounds, n_seq, ks)
        compression(loop, tmp, rounds, 1000)
    finally:
        for client in (ks, bp, raw):
            run(client.close())
        loop.close()
        server.stop()
        echo.stop()


if __name__ == "__main__":
    main()
