"""DynamoDB bench: ``keystone copy`` throughput and the DynamoDB Store's latency, in one run.

    python benches/dynamo_store.py [--quick] [--file-only | --compare] [--items N] [--to-dynamo N]

* copy file -> new file (LMDB's snapshot copy) and file -> existing file
  (item by item, one scan segment: both files share one interpreter), 1,000,000 small items (``--quick``:
  100,000), as ``python -m keystone copy`` in a subprocess, in items/s;
  goal >= 100,000 items/s file -> file;
* copy file -> DynamoDB on moto's server (20,000 items; ``--quick``: 2,000);
* ``DynamoStore.get``/``put`` latency on moto's server (``moto_server`` in
  a subprocess on loopback): median and 99th percentile of 500 calls;
* the async choice: 400 gets at 16 at a time through ``AsyncDynamoStore``
  (worker threads) and through aiobotocore, if installed (not a
  dependency: ``pip install aiobotocore`` to compare).

``--compare`` runs only the DynamoDB rows (copy file -> DynamoDB, get/put
latency), on moto's server and on the project's own DynamoDB endpoint (a
``python -m keystone_net serve`` process, ``--durability async``), one after
the other in one run; ``--endpoint URL`` runs the full set against any URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import keystone

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "moto_server"),
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("moto_server did not start")


def start_own_endpoint(directory: str) -> tuple[object, str]:
    from pathlib import Path

    from keystone.testing import start_server

    server = start_server(Path(directory) / "endpoint.keystone", args=["--durability", "async"])
    assert server.dynamodb_url is not None, server.output()
    return server, server.dynamodb_url


def dynamo_rows(tmp: str, label: str, endpoint: str, n: int) -> None:
    """Copy file -> DynamoDB and DynamoStore get/put latency on one endpoint."""
    from keystone_net.dynamodb.store import DynamoStore

    small = os.path.join(tmp, f"small-{label}.keystone")
    make_source(small, n)
    url = f"dynamodb://bench-copy?region={REGION}&endpoint={endpoint}"
    rate = timed_copy(small, url, n, "--segments", "8", "--page-size", "500")
    print(f"  {label}: copy file -> DynamoDB ({n:,} items): {rate:>8,.0f} items/s")
    admin = DynamoStore("bench-store", region=REGION, endpoint=endpoint)
    store = admin.create_table("bench-store", keystone.Schema())
    store.batch_write(puts=[{"pk": f"k{i}", "sk": "s", "v": i} for i in range(100)])
    p50, p99 = latency(lambda i: store.get(f"k{i % 100}", "s"), 500)
    print(f"  {label}: DynamoStore.get, 500 calls: median {p50:.2f} ms, p99 {p99:.2f} ms")
    p50, p99 = latency(lambda i: store.put({"pk": f"k{i % 100}", "sk": "s", "v": i}), 500)
    print(f"  {label}: DynamoStore.put, 500 calls: median {p50:.2f} ms, p99 {p99:.2f} ms")


def compare(quick: bool, to_dynamo: int | None = None) -> None:
    n = to_dynamo or (2_000 if quick else 20_000)
    tmp = tempfile.mkdtemp(prefix="keystone-bench-")
    moto, server = None, None
    try:
        moto, moto_url = start_moto()
        server, own_url = start_own_endpoint(tmp)
        print("DynamoDB rows, moto's server vs the project's endpoint:")
        dynamo_rows(tmp, "moto", moto_url, n)
        dynamo_rows(tmp, "endpoint", own_url, n)
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(10)
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
        shutil.rmtree(tmp, ignore_errors=True)


def make_source(path: str, n: int) -> None:
    with keystone.Database.open(path, durability="async") as db:
        for start in range(0, n, 50_000):
            db.batch_write(
                puts=[
                    {"pk": f"user#{i:07d}", "sk": "profile", "n": i, "status": "active"}
                    for i in range(start, min(n, start + 50_000))
                ]
            )


def timed_copy(src: str, dst: str, n: int, *extra: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "keystone", "copy", src, dst, *extra],
        check=True,
        stderr=subprocess.DEVNULL,
        cwd=os.path.dirname(src),
    )
    return n / (time.perf_counter() - t0)


def latency(fn, calls: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for i in range(calls):
        t0 = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return statistics.median(samples) * 1e3, samples[int(len(samples) * 0.99) - 1] * 1e3


async def async_threads(url: str, calls: int, width: int) -> float:
    from keystone_net.dynamodb.aio import AsyncDynamoStore

    store = AsyncDynamoStore.connect(url, concurrency=width)
    sem = asyncio.Semaphore(width)

    async def one(i: int) -> None:
        async with sem:
            await store.get(f"k{i % 100}", "s")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    return calls / (time.perf_counter() - t0)


async def async_aiobotocore(endpoint: str, table: str, calls: int, width: int) -> float | None:
    try:
        from aiobotocore.session import get_session
    except ImportError:
        return None
    sem = asyncio.Semaphore(width)
    async with get_session().create_client(
        "dynamodb", region_name=REGION, endpoint_url=endpoint
    ) as c:

        async def one(i: int) -> None:
            async with sem:
                await c.get_item(
                    TableName=table,
                    Key={"pk": {"S": f"k{i % 100}"}, "sk": {"S": "s"}},
                    ConsistentRead=True,
                )

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(calls)))
        return calls / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--endpoint", help="a DynamoDB-compatible URL instead of moto's server")
    parser.add_argument(
        "--file-only", action="store_true", help="only the file -> file copies (no DynamoDB)"
    )
    parser.add_argument(
        "--compare", action="store_true", help="the DynamoDB rows on moto and on our endpoint"
    )
    parser.add_argument(
        "--to-dynamo",
        type=int,
        metavar="N",
        help="items copied file -> DynamoDB (default 20,000; --quick: 2,000)",
    )
    parser.add_argument("--items", type=int, metavar="N", help="items copied file -> file")
    args = parser.parse_args()
    if args.compare:
        compare(args.quick, args.to_dynamo)
        return
    n = args.items or (100_000 if args.quick else 1_000_000)
    to_dynamo = args.to_dynamo or (2_000 if args.quick else 20_000)
    from keystone_net.dynamodb.store import DynamoStore

    tmp = tempfile.mkdtemp(prefix="keystone-bench-")
    moto = None
    try:
        if args.endpoint:
            endpoint = args.endpoint
        elif not args.file_only:
            moto, endpoint = start_moto()
        src = os.path.join(tmp, "src.keystone")
        make_source(src, n)
        print(f"copy, {n:,} items (python -m keystone copy):")
        rate = timed_copy(src, os.path.join(tmp, "new.keystone"), n)
        print(f"  file -> new file (snapshot copy):        {rate:>12,.0f} items/s")
        existing = os.path.join(tmp, "existing.keystone")
        keystone.Database.open(existing).close()
        rate = timed_copy(src, existing, n, "--page-size", "5000")
        print(f"  file -> existing file (item by item):    {rate:>12,.0f} items/s")
        if args.file_only:
            return

        small = os.path.join(tmp, "small.keystone")
        make_source(small, to_dynamo)
        url = f"dynamodb://bench-copy?region={REGION}&endpoint={endpoint}"
        rate = timed_copy(small, url, to_dynamo, "--segments", "8", "--page-size", "500")
        print(
            f"  file -> DynamoDB on {'moto' if moto else endpoint} ({to_dynamo:,} items): {rate:>8,.0f} items/s"
        )

        admin = DynamoStore("bench-store", region=REGION, endpoint=endpoint)
        store = admin.create_table("bench-store", keystone.Schema())
        store.batch_write(puts=[{"pk": f"k{i}", "sk": "s", "v": i} for i in range(100)])
        print(f"DynamoStore on {'moto_server' if moto else endpoint}, 500 calls each:")
        p50, p99 = latency(lambda i: store.get(f"k{i % 100}", "s"), 500)
        print(f"  get: median {p50:.2f} ms, p99 {p99:.2f} ms")
        p50, p99 = latency(lambda i: store.put({"pk": f"k{i % 100}", "sk": "s", "v": i}), 500)
        print(f"  put: median {p50:.2f} ms, p99 {p99:.2f} ms")
        calls, width = 400, 16
        print(f"async, {calls} gets, {width} at a time:")
        base = f"dynamodb://bench-store?region={REGION}&endpoint={endpoint}"
        print(
            f"  AsyncDynamoStore (threads): {asyncio.run(async_threads(base, calls, width)):>8,.0f} calls/s"
        )
        aio = asyncio.run(async_aiobotocore(endpoint, "bench-store", calls, width))
        print(
            "  aiobotocore:                "
            + ("not installed" if aio is None else f"{aio:>8,.0f} calls/s")
        )
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
