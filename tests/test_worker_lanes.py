"""The server's worker lanes (keystone_net.serving.limits.Batches).

A call whose deadline passes, or whose client goes away, is cancelled; the
thread running its batch cannot be. Every call of that batch still runs
exactly once and gets its own outcome. A lane of writes gathers the callers
of its last batch into the next one. Real threads, real lanes; the slow
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


# -- a lane of writes gathers its batches --------------------------------------------


class _Writes:
    """A one-worker lane with ``together`` (as the servers' lanes of writes), and its batches."""

    def __init__(self, gather_for: float) -> None:
        self.sizes: list[int] = []  # the calls each ``together`` ran
        self._ran: list[str] = []
        self.lane = WorkerPool(1).batches(self._together, gather_for=gather_for)

    def _together(self, run: Any) -> None:
        run()
        self.sizes.append(len(self._ran))
        self._ran.clear()

    def _write(self, name: str, pause: float) -> str:
        if pause:
            threading.Event().wait(pause)  # a commit that takes a while
        self._ran.append(name)
        return name

    def call(self, name: str, pause: float = 0.0) -> asyncio.Future[str]:
        return asyncio.ensure_future(self.lane.run(self._write, name, pause))

    async def a_batch_of_four(self) -> None:
        """One call alone (it takes the worker), then four queued behind it: one batch of four."""
        first = self.call("first", 0.2)
        await asyncio.sleep(0.05)
        four = [self.call(f"w{i}", 0.05) for i in range(4)]
        await asyncio.wait_for(asyncio.gather(first, *four), WAIT)


def test_callers_coming_back_one_by_one_after_a_batch_share_the_next_one() -> None:
    async def main() -> tuple[list[str], list[int]]:
        writes = _Writes(gather_for=WAIT)
        await writes.a_batch_of_four()
        # The four come back, one after the other, right after their batch:
        # the first waits for the others instead of committing alone.
        again = []
        for i in range(4):
            again.append(writes.call(f"again{i}"))
            await asyncio.sleep(0)
        return await asyncio.wait_for(asyncio.gather(*again), WAIT), writes.sizes

    outcomes, sizes = asyncio.run(main())
    assert outcomes == ["again0", "again1", "again2", "again3"]
    assert sizes == [1, 4, 4]


def test_when_fewer_callers_come_back_their_batch_starts_after_the_wait() -> None:
    async def main() -> tuple[list[str], list[int]]:
        writes = _Writes(gather_for=0.05)
        await writes.a_batch_of_four()
        outcomes = await asyncio.wait_for(asyncio.gather(writes.call("a"), writes.call("b")), WAIT)
        # A lone caller long after the last batch does not wait.
        await asyncio.sleep(0.2)
        outcomes.append(await asyncio.wait_for(writes.call("alone"), WAIT))
        return outcomes, writes.sizes

    outcomes, sizes = asyncio.run(main())
    assert outcomes == ["a", "b", "alone"]
    assert sizes == [1, 4, 2, 1]


def test_one_caller_at_a_time_never_waits() -> None:
    async def main() -> list[int]:
        writes = _Writes(gather_for=WAIT)
        for i in range(5):
            assert await asyncio.wait_for(writes.call(f"w{i}"), WAIT) == f"w{i}"
        return writes.sizes

    assert asyncio.run(main()) == [1, 1, 1, 1, 1]


def test_calls_cancelled_while_their_batch_gathers_leave_the_lane_idle_and_working() -> None:
    async def main() -> tuple[list[Any], str, list[int]]:
        writes = _Writes(gather_for=0.2)
        await writes.a_batch_of_four()
        waiting = [writes.call("c0"), writes.call("c1")]
        await asyncio.sleep(0)
        for call in waiting:
            call.cancel()
        gone = await asyncio.gather(*waiting, return_exceptions=True)
        await asyncio.sleep(0.3)  # the wait ends with nothing to run
        later = await asyncio.wait_for(writes.call("later"), WAIT)
        return gone, later, writes.sizes

    gone, later, sizes = asyncio.run(main())
    assert all(isinstance(g, asyncio.CancelledError) for g in gone)
    assert later == "later"
    assert sizes == [1, 4, 1]
