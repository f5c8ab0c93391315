"""The server's worker lanes (keystone_net.serving.limits.Batches) when a call gives up.

A call whose deadline passes, or whose client goes away, is cancelled; the
thread running its batch cannot be. Every call of that batch still runs
exactly once and gets its own outcome. Real threads, real lanes; the slow
call waits on an event the test sets. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from keystone_net.serving.limits import WorkerPool

WAIT = 20.0  # seconds any step may take before the test gives up


def test_a_batch_whose_first_caller_is_cancelled_runs_each_of_its_calls_once() -> None:
    runs: dict[str, int] = {}
    busy = threading.Event()  # the one worker is taken by another call
    inside = threading.Event()  # the batch has begun in its thread
    release = threading.Event()  # the batch may finish

    def hold() -> None:
        busy.wait(WAIT)

    def call(name: str) -> str:
        if name == "first":
            inside.set()
            release.wait(WAIT)
        runs[name] = runs.get(name, 0) + 1
        return f"{name} done"

    async def main() -> tuple[Any, list[Any]]:
        pool = WorkerPool(1)
        lane = pool.batches()
        holder = asyncio.ensure_future(pool.run(hold))
        await asyncio.sleep(0)
        first = asyncio.ensure_future(lane.run(call, "first"))  # waits for the worker
        await asyncio.sleep(0)
        others = [asyncio.ensure_future(lane.run(call, f"other{i}")) for i in range(3)]
        await asyncio.sleep(0)
        busy.set()  # the worker frees: one batch of all four calls starts
        await asyncio.wait_for(asyncio.to_thread(inside.wait, WAIT), WAIT)
        first.cancel()  # its caller gives up while the batch runs
        await asyncio.sleep(0.01)
        release.set()
        outcomes = await asyncio.wait_for(asyncio.gather(*others), WAIT)
        await asyncio.wait_for(holder, WAIT)
        first_outcome = await asyncio.gather(first, return_exceptions=True)
        return first_outcome[0], outcomes

    first_outcome, outcomes = asyncio.run(main())
    assert isinstance(first_outcome, asyncio.CancelledError)
    assert outcomes == ["other0 done", "other1 done", "other2 done"]
    assert runs == {"first": 1, "other0": 1, "other1": 1, "other2": 1}


def test_the_lane_takes_new_calls_after_a_cancelled_batch_ends() -> None:
    release = threading.Event()

    def slow() -> str:
        release.wait(WAIT)
        return "slow"

    async def main() -> list[str]:
        pool = WorkerPool(2)
        lane = pool.batches()
        first = asyncio.ensure_future(lane.run(slow))
        await asyncio.sleep(0.05)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        later = asyncio.ensure_future(lane.run(lambda: "later"))
        await asyncio.sleep(0.05)
        release.set()
        return [await asyncio.wait_for(later, WAIT)]

    assert asyncio.run(main()) == ["later"]
