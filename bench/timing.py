"""Timing helpers for a shared, noisy machine.

Competing implementations are timed in interleaved rounds (A, B, C, A, B, C, ...) and each keeps
its best round (as ``timeit`` advises): other processes can only slow a round down, so the
fastest round is the closest to the code's own cost, and interleaving exposes every contender
to the same background load.
"""

from __future__ import annotations

import time
from typing import Callable

ROUNDS = 5  # timed rounds per contender


def _round(fn: Callable[[], object], min_seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def best_seconds_per_call(contenders: dict[str, Callable[[], object]], min_seconds: float,
                          rounds: int = ROUNDS) -> dict[str, float]:
    """Best mean seconds per call of each contender over ``rounds`` interleaved rounds that together
    last about ``min_seconds`` per contender (one warm-up call each first)."""
    for fn in contenders.values():
        fn()
    best = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            best[name] = min(best[name], _round(fn, min_seconds / rounds))
    return best
