"""The DynamoDB endpoint against its floor and against the other local DynamoDBs, side by side.

    python benches/dynamodb.py [--quick]

Every server is started by this script on loopback, and the contenders run
alternately, round by round, in the same run:

1. boto3 GetItem, one client thread: keystone's endpoint (durable file)
   against a canned-response server on the same stack (uvicorn + httptools +
   uvloop, a plain ASGI app answering a fixed GetItem body): p50 latency
   and throughput ratios. The canned server is boto3's own floor. Then the
   throughput of 4 client threads (a client each) calling at once, which
   is what an application's pool of threads gets.
2. Server side, under wrk (Debian's package; 16 connections, 1 thread, a Lua
   request script): GetItem and durable PutItem (each request a new key)
   requests/s against the canned server's, keystone and (when installed)
   dynalite in memory. Skipped without ``wrk``.
3. Query of 100 items and BatchWriteItem of 25 with boto3: keystone against
   moto's server (``moto.server``) and dynalite (``npm ci`` in
   benches/dynalite; in memory), each started here. p50 latency.

No thresholds: the figures go to docs/performance.md with the command.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

HERE = Path(__file__).parent
CANNED = json.dumps(
    {"Item": {"pk": {"S": "user#1"}, "sk": {"S": "profile"}, "v": {"N": "1"}}}
).encode()


# -- the canned server: run as `python benches/dynamodb.py canned PORT` -----------------


async def canned_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/x-amz-json-1.0"),
                (b"content-length", str(len(CANNED)).encode()),
                (b"x-amzn-requestid", b"canned"),
                (b"x-amz-crc32", str(__import__("zlib").crc32(CANNED)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": CANNED})


def run_canned(port: int) -> None:
    import uvicorn

    loop = "uvloop" if shutil.which("true") and _has("uvloop") else "asyncio"
    uvicorn.run(
        canned_app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop=loop,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# -- processes --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@contextlib.contextmanager
def process(cmd: list[str], port: int, cwd: Path | None = None) -> Iterator[str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def keystone(path: Path) -> contextlib.AbstractContextManager[str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "keystone_net",
        "serve",
        "--db-path",
        str(path),
        "--port",
        "0",
        "--dynamodb-port",
        str(port),
        "--metrics-port",
        "0",
    ]
    return process(cmd, port)


def canned() -> contextlib.AbstractContextManager[str]:
    port = free_port()
    return process([sys.executable, __file__, "canned", str(port)], port)


def moto() -> contextlib.AbstractContextManager[str]:
    port = free_port()
    return process([sys.executable, "-m", "moto.server", "-p", str(port)], port)


def dynalite() -> contextlib.AbstractContextManager[str] | None:
    cli = HERE / "dynalite" / "node_modules" / "dynalite" / "cli.js"
    node = shutil.which("node")
    if node is None or not cli.exists():
        return None
    port = free_port()
    return process([node, str(cli), "--port", str(port)], port)


def client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}),
    )


KEY = {"pk": {"S": "user#1"}, "sk": {"S": "profile"}}


def create(c: Any, name: str) -> None:
    with contextlib.suppress(Exception):
        c.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
        )
    c.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
    )


def seeded(c: Any) -> Any:
    """``c`` once its server has the ``bench`` table with the item GetItem reads."""
    create(c, "bench")
    c.put_item(TableName="bench", Item={**KEY, "v": {"N": "1"}})
    return c


# -- measuring --------------------------------------------------------------------------


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def side_by_side(
    contenders: dict[str, Callable[[], Any]], n: int, rounds: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():
        timed(fn, max(20, n // 10))  # warm-up
    for _ in range(rounds):
        for name, fn in contenders.items():
            samples[name].extend(timed(fn, n))
    return samples


def threaded_rate(calls: list[Callable[[], Any]], n: int) -> float:
    """Calls per second of ``calls`` (one per thread) run at once, ``n`` calls each."""
    for call in calls:
        timed(call, 20)  # warm-up
    start = threading.Barrier(len(calls) + 1)

    def run(call: Callable[[], Any]) -> None:
        start.wait(timeout=60)
        for _ in range(n):
            call()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for t in threads:
        t.start()
    start.wait(timeout=60)
    began = time.perf_counter()
    for t in threads:
        t.join()
    return len(calls) * n / (time.perf_counter() - began)


def threaded_side_by_side(urls: dict[str, str], threads: int, n: int, rounds: int) -> None:
    """GetItem throughput of ``threads`` boto3 clients at once, per server, alternating."""
    calls = {
        name: [
            functools.partial(c.get_item, TableName="bench", Key=KEY)
            for c in (client(url) for _ in range(threads))
        ]
        for name, url in urls.items()
    }
    rates: dict[str, list[float]] = {name: [] for name in urls}
    for _ in range(rounds):
        for name, fns in calls.items():
            rates[name].append(threaded_rate(fns, n))
    base = next(iter(urls))
    print(f"\nboto3 GetItem, {threads} client threads at once")
    for name in urls:
        med = statistics.median(rates[name])
        line = f"  {name:<28} {med:9,.0f} calls/s"
        if name != base:
            line += f"   throughput {med / statistics.median(rates[base]):.2f}x of {base}"
        print(line + f"  [runs: {', '.join(f'{x:,.0f}' for x in rates[name])}]")


def report(title: str, samples: dict[str, list[float]], base: str) -> None:
    print(f"\n{title}")
    p50s = {k: statistics.median(v) for k, v in samples.items()}
    rates = {k: len(v) / sum(v) for k, v in samples.items()}
    for name in samples:
        line = f"  {name:<28} p50 {p50s[name] * 1e3:8.3f} ms  {rates[name]:9,.0f} calls/s"
        if name != base:
            line += f"   p50 {p50s[name] / p50s[base]:.2f}x, throughput {rates[name] / rates[base]:.2f}x of {base}"
        print(line)


# Every SDK request is signed: the scripts send a SigV4-shaped Authorization
# header (none of the servers here checks the signature, but dynalite refuses
# a request without one).
_AUTH = (
    "AWS4-HMAC-SHA256 Credential=bench/20261204/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)
WRK_GET = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["X-Amz-Target"] = "DynamoDB_20120810.GetItem"
wrk.headers["X-Amz-Date"] = "20261204T000000Z"
wrk.headers["Authorization"] = "{_AUTH}"
wrk.body = '{{"TableName":"bench","Key":{{"pk":{{"S":"user#1"}},"sk":{{"S":"profile"}}}}}}'
"""
WRK_PUT = f"""
counter = 0
request = function()
  counter = counter + 1
  local body = '{{"TableName":"bench","Item":{{"pk":{{"S":"w' .. tostring(math.random(1, 1000000000)) ..
    '"}},"sk":{{"S":"' .. counter .. '"}},"v":{{"N":"1"}}}}}}'
  return wrk.format("POST", "/", {{["Content-Type"] = "application/x-amz-json-1.0",
    ["X-Amz-Target"] = "DynamoDB_20120810.PutItem", ["X-Amz-Date"] = "20261204T000000Z",
    ["Authorization"] = "{_AUTH}"}}, body)
end
"""


def wrk(url: str, script: str, seconds: int, connections: int = 16) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", f.name, url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        os.unlink(f.name)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw {errors[1]} error responses:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found[1])


def server_side(ks: str, floor: str, rounds: int, seconds: int, connections: int) -> None:
    """GetItem and durable PutItem under wrk: keystone and dynalite against the canned server."""
    with contextlib.ExitStack() as stack:
        servers = {"keystone": ks}
        dyn = dynalite()
        if dyn is not None:
            servers["dynalite (memory)"] = url = stack.enter_context(dyn)
            seeded(client(url))
        else:
            print("\ndynalite is not installed (npm ci in benches/dynalite): left out")
        print(f"\nwrk, {connections} connections, {seconds} s each, alternating")
        canned_runs: list[float] = []
        got: dict[tuple[str, str], list[float]] = {}
        for _ in range(rounds):
            canned_runs.append(wrk(floor, WRK_GET, seconds, connections))
            for name, url in servers.items():
                for op, script in (("GetItem", WRK_GET), ("PutItem", WRK_PUT)):
                    got.setdefault((name, op), []).append(wrk(url, script, seconds, connections))
        base = statistics.median(canned_runs)
        print(f"  canned (same stack)          {base:9,.0f} req/s")
        for (name, op), runs in got.items():
            med = statistics.median(runs)
            print(
                f"  {name + ' ' + op:<28} {med:9,.0f} req/s  {med / base:.2f}x of canned"
                f"  [runs: {', '.join(f'{x:,.0f}' for x in runs)}]"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections")
    parser.add_argument("--wrk-only", action="store_true", help="only the server-side figures")
    args = parser.parse_args()
    n, rounds, seconds = (200, 2, 2) if args.quick else (1000, 3, 5)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; n={n} x {rounds} rounds")
    with (
        tempfile.TemporaryDirectory() as tmp,
        keystone(Path(tmp) / "bench.keystone") as ks,
        canned() as floor,
    ):
        k, f = seeded(client(ks)), client(floor)
        if not args.wrk_only:
            samples = side_by_side(
                {
                    "canned (same stack)": lambda: f.get_item(TableName="bench", Key=KEY),
                    "keystone GetItem": lambda: k.get_item(TableName="bench", Key=KEY),
                },
                n,
                rounds,
            )
            report("boto3 GetItem, one client thread", samples, "canned (same stack)")
            threaded_side_by_side(
                {"canned (same stack)": floor, "keystone GetItem": ks}, 4, n // 2, rounds
            )

        if shutil.which("wrk"):
            server_side(ks, floor, rounds, seconds, args.connections)
        else:
            print("\nwrk is not installed (apt-get install wrk): server-side figures skipped")
    if args.wrk_only:
        return

    others: dict[str, contextlib.AbstractContextManager[str]] = {"moto server": moto()}
    dyn = dynalite()
    if dyn is not None:
        others["dynalite (memory)"] = dyn
    else:
        print("\ndynalite is not installed (npm ci in benches/dynalite): left out")
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        urls = {"keystone": stack.enter_context(keystone(Path(tmp) / "q.keystone"))}
        for name, ctx in others.items():
            urls[name] = stack.enter_context(ctx)
        clients = {name: client(url) for name, url in urls.items()}
        for c in clients.values():
            create(c, "bench")
            for start in range(0, 100, 25):
                c.batch_write_item(
                    RequestItems={
                        "bench": [
                            {
                                "PutRequest": {
                                    "Item": {
                                        "pk": {"S": "q"},
                                        "sk": {"S": f"{i:03d}"},
                                        "v": {"N": str(i)},
                                    }
                                }
                            }
                            for i in range(start, start + 25)
                        ]
                    }
                )

        def query(c: Any) -> Callable[[], Any]:
            def run() -> None:
                got = c.query(
                    TableName="bench",
                    KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "q"}},
                )
                assert got["Count"] == 100

            return run

        counter = iter(range(10**9))

        def batch(c: Any) -> Callable[[], Any]:
            def run() -> None:
                b = next(counter)
                c.batch_write_item(
                    RequestItems={
                        "bench": [
                            {
                                "PutRequest": {
                                    "Item": {
                                        "pk": {"S": f"b{b}"},
                                        "sk": {"S": str(i)},
                                        "v": {"N": "1"},
                                    }
                                }
                            }
                            for i in range(25)
                        ]
                    }
                )

            return run

        m = max(20, n // 10)
        report(
            "Query of 100 items (boto3)",
            side_by_side({k_: query(c) for k_, c in clients.items()}, m, rounds),
            "keystone",
        )
        report(
            "BatchWriteItem of 25 (boto3)",
            side_by_side({k_: batch(c) for k_, c in clients.items()}, m, rounds),
            "keystone",
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "canned":
        run_canned(int(sys.argv[2]))
    else:
        main()
