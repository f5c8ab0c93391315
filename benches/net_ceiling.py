"""The gRPC door against its own ceiling, on asyncio's loop and on uvloop, in one run.

    python benches/net_ceiling.py [--quick] [--rounds N] [--client-loop asyncio|uvloop]

For each server event loop (``KEYSTONE_EVENT_LOOP=asyncio`` and ``=uvloop``)
it starts a keystone server (default durability "sync", group commit) and
the bare grpclib echo of ``benches/net.py`` (a Get answered with a prebuilt
betterproto2 ``GetResponse`` of the same item, a Put with ``success``; no
database) on that same loop, and measures, alternating the contenders round
by round:

* sequential Get of one item, p50 and p99 latency: keystone vs the echo
  answering the very same item (target: keystone p50 <= 1.2x the echo's);
* 32 concurrent durable writers, one connection each: keystone's writes/s vs
  the echo's Puts/s with the same 32 callers, its ceiling here (target:
  >= 0.85x);
* and, between the two loops, keystone's p50 and writes/s on uvloop vs on
  asyncio (uvloop becomes the default where installed if it lowers p50 or
  raises throughput by >= 10%).

Beside the wall-clock figures it prints each server's CPU time per call
(user + system, from ``/proc/PID/stat``; Linux only): on a machine shared
with other work, wall-clock ratios move with the neighbours' load, while the
CPU a server spends on a call mostly does not.

The measuring client is the async ``keystone_net.Client`` on this process's
loop, asyncio's unless ``--client-loop uvloop``. Servers run with
``--metrics-port 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _harness import machine  # noqa: E402
from net import Process, keystone_server, make_item, percentile  # noqa: E402

import keystone_net  # noqa: E402

WRITERS = 32
LOOPS = ("asyncio", "uvloop")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (0 where /proc is missing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed_gets(client: keystone_net.Client, n: int) -> list[float]:
    item = make_item(1)
    pk, sk = item["pk"], item["sk"]
    clock = time.perf_counter
    out = []
    for _ in range(n):
        t0 = clock()
        await client.get(pk, sk)
        out.append(clock() - t0)
    return out


async def writes(clients: list[keystone_net.Client], per_writer: int, counter: Any) -> float:
    """Writes/s of ``per_writer`` puts from each client at once."""

    async def one(client: keystone_net.Client) -> None:
        for _ in range(per_writer):
            await client.put({**make_item(1), "sk": f"w#{next(counter)}"})

    t0 = time.perf_counter()
    await asyncio.gather(*(one(c) for c in clients))
    return len(clients) * per_writer / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few, short rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per contender")
    parser.add_argument("--client-loop", choices=LOOPS, default="asyncio")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    n_seq = 300 if args.quick else 2000
    per_writer = 5 if args.quick else 25
    print(f"machine: {machine()}; rounds={rounds}, client loop: {args.client_loop}")

    if args.client_loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    tmp = tempfile.mkdtemp(prefix="keystone-ceiling-")
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "net.py")
    servers: dict[str, Process] = {}
    for name in LOOPS:
        env = {"KEYSTONE_EVENT_LOOP": name}
        servers[f"keystone/{name}"] = keystone_server(
            os.path.join(tmp, f"{name}.keystone"), env=env
        )
        servers[f"echo/{name}"] = Process([here, "--serve-echo"], ports=2, env=env)
    names = list(servers)
    readers = {
        name: keystone_net.Client(f"127.0.0.1:{servers[name].ports[0]}", timeout=120)
        for name in names
    }
    writers = {
        name: [
            keystone_net.Client(f"127.0.0.1:{servers[name].ports[0]}", timeout=120)
            for _ in range(WRITERS)
        ]
        for name in names
    }
    counter = iter(range(10**9))
    try:
        for name in LOOPS:
            run(readers[f"keystone/{name}"].put(make_item(1)))
        for client in readers.values():  # warm up: connections, caches
            run(timed_gets(client, 50))
        for clients in writers.values():
            run(writes(clients, 1, counter))

        latency: dict[str, list[float]] = {name: [] for name in names}
        rates: dict[str, list[float]] = {name: [] for name in names}
        get_cpu = dict.fromkeys(names, 0.0)
        put_cpu = dict.fromkeys(names, 0.0)
        for _ in range(rounds):
            for name in names:
                pid = servers[name].proc.pid
                before = cpu_seconds(pid)
                latency[name].extend(run(timed_gets(readers[name], n_seq)))
                get_cpu[name] += cpu_seconds(pid) - before
            for name in names:
                pid = servers[name].proc.pid
                before = cpu_seconds(pid)
                rates[name].append(run(writes(writers[name], per_writer, counter)))
                put_cpu[name] += cpu_seconds(pid) - before
        gets_made = rounds * n_seq
        puts_made = rounds * WRITERS * per_writer

        p50 = {name: percentile(s, 0.5) for name, s in latency.items()}
        rate = {name: statistics.median(r) for name, r in rates.items()}
        print("\nsequential get of one item (p50 / p99)")
        for name in names:
            p99 = percentile(latency[name], 0.99)
            print(f"  {name:<18} p50 {p50[name] * 1e6:8.1f} us   p99 {p99 * 1e6:8.1f} us")
        print(f"\n{WRITERS} durable writers, one connection each (median of rounds)")
        for name in names:
            print(f"  {name:<18} {rate[name]:10,.0f} writes/s")
        print("\nserver CPU per call (user + system)")
        for name in names:
            print(
                f"  {name:<18} get {get_cpu[name] / gets_made * 1e6:7.1f} us"
                f"   durable put (32 writers) {put_cpu[name] / puts_made * 1e6:7.1f} us"
            )
        print("\nratios (one run)")
        for loop_name in LOOPS:
            ks, echo = f"keystone/{loop_name}", f"echo/{loop_name}"
            latency_ratio = p50[ks] / p50[echo]
            ceiling_ratio = rate[ks] / rate[echo]
            print(
                f"  {loop_name:<8} get p50 keystone/echo {latency_ratio:.2f}x"
                f" (target <= 1.2x: {'met' if latency_ratio <= 1.2 else 'MISSED'});"
                f"  writers keystone/echo {ceiling_ratio:.2f}x"
                f" (target >= 0.85x: {'met' if ceiling_ratio >= 0.85 else 'MISSED'})"
            )
        faster = p50["keystone/asyncio"] / p50["keystone/uvloop"]
        more = rate["keystone/uvloop"] / rate["keystone/asyncio"]
        print(
            f"  uvloop vs asyncio (keystone server): p50 {1 / faster:.2f}x the latency,"
            f" writers {more:.2f}x the writes/s"
        )
        print(
            f"  uvloop vs asyncio (echo): p50 {p50['echo/uvloop'] / p50['echo/asyncio']:.2f}x,"
            f" writers {rate['echo/uvloop'] / rate['echo/asyncio']:.2f}x"
        )
        for kind in ("keystone", "echo"):
            a, u = f"{kind}/asyncio", f"{kind}/uvloop"
            print(
                f"  uvloop vs asyncio ({kind}), server CPU per call:"
                f" get {get_cpu[u] / get_cpu[a]:.2f}x, put {put_cpu[u] / put_cpu[a]:.2f}x"
                if get_cpu[a] and put_cpu[a]
                else f"  ({kind}: no CPU times here)"
            )
    finally:
        for client in readers.values():
            run(client.close())
        for clients in writers.values():
            for client in clients:
                run(client.close())
        loop.close()
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
