"""Timing helper shared by the benchmark scripts (run as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_mean_seconds(fn: Callable[[], object], repeat: int, number: int) -> float:
    """Best mean seconds per call over ``repeat`` batches of ``number`` calls, after one warm-up
    call (best-of filters out the noise of other processes on a shared machine)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return min(times)
