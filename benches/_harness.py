"""Tiny timing harness shared by the benches: medians of repeated rounds, side by side.

Every bench runs a contender and its baseline alternately in the same
process, several rounds each, and reports the median time per operation and
the ratio of throughputs (contender ops/s divided by baseline ops/s, so
higher is better for the contender). No thresholds: the figures go to
``docs/performance.md`` with the command that produced them.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="few, short rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per contender")
    return parser.parse_args()


def machine() -> str:
    import os

    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}"


def per_op(
    fn: Callable[[], int], rounds: int, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Run ``fn`` (which returns how many operations it did) ``rounds`` times; seconds per op."""
    out = []
    for _ in range(rounds):
        t0 = clock()
        n = fn()
        out.append((clock() - t0) / n)
    return out


def compare(
    title: str,
    contender: tuple[str, Callable[[], int]],
    baselines: list[tuple[str, Callable[[], int]]],
    rounds: int,
    targets: dict[str, float] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Alternate the contender and baselines round by round; print medians and ratios."""
    names = [contender[0]] + [b[0] for b in baselines]
    fns = [contender[1]] + [b[1] for b in baselines]
    samples: list[list[float]] = [[] for _ in fns]
    for fn in fns:  # warm-up
        fn()
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            samples[i].extend(per_op(fn, 1, clock))
    medians = [statistics.median(s) for s in samples]
    print(f"\n{title}")
    for name, med in zip(names, medians, strict=True):
        print(f"  {name:<40} {med * 1e6:10.2f} us/op  {1 / med:12,.0f} ops/s")
    ratios: dict[str, float] = {}
    for name, med in zip(names[1:], medians[1:], strict=True):
        ratio = med / medians[0]
        ratios[name] = ratio
        target = (targets or {}).get(name)
        verdict = ""
        if target is not None:
            verdict = f"  (target >= {target}x: {'met' if ratio >= target else 'MISSED'})"
        print(f"  {contender[0]} vs {name}: {ratio:.2f}x throughput{verdict}")
    return ratios
