"""Shared helpers for the benchmark scripts: timing commands and printing ratios."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence


def time_command(argv: Sequence[str], *, runs: int = 15, cwd: str | None = None,
                 env: dict[str, str] | None = None, input: bytes | None = None) -> float:
    """Median wall time in seconds of running ``argv`` (after one warm-up run)."""
    full_env = {**os.environ, **(env or {})}
    subprocess.run(argv, cwd=cwd, env=full_env, input=input, capture_output=True, check=False)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=full_env, input=input, capture_output=True, check=False)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def time_call(func: Callable[[], object], *, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def python_floor(runs: int = 15) -> float:
    """`python -c pass` with this interpreter: the start-up every command pays."""
    return time_command([sys.executable, "-c", "pass"], runs=runs)


_missed: list[str] = []


def report(name: str, value: float, floor: float, goal: float, unit: str = "s") -> None:
    ratio = value / floor if floor else float("inf")
    verdict = "ok" if ratio <= goal else "MISSED"
    if verdict == "MISSED":
        _missed.append(name)
    print(f"RATIO {name} {ratio:.2f} (goal <= {goal}) [{value * 1000:.1f} ms vs floor "
          f"{floor * 1000:.1f} ms] {verdict}" if unit == "s" else
          f"RATIO {name} {ratio:.2f} (goal <= {goal}) [{value:.1f} vs {floor:.1f} {unit}] {verdict}")


def finish() -> int:
    if "--check" in sys.argv and _missed:
        print(f"missed goals: {', '.join(_missed)}")
        return 1
    return 0
