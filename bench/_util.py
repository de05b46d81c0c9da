"""Shared helpers for the benchmark scripts: bytecode, timing commands and printing ratios.

Every script calls ``compile_bytecode()`` before it measures anything.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def compile_bytecode() -> None:
    """Write the bytecode of git_flowctl where this interpreter imports it from.

    An installed package comes with its bytecode. An editable install run with
    PYTHONDONTWRITEBYTECODE=1 (as on our machines) never writes any, so every command would
    compile each module it imports and a benchmark would time the compiler, not our code.
    ``compileall`` writes the files whatever that variable says.
    """
    import compileall

    import git_flowctl

    for directory in git_flowctl.__path__:
        if not compileall.compile_dir(directory, quiet=1):
            raise SystemExit(f"could not compile {directory}")


def settle() -> None:
    """Write out what the setup left in the page cache before timing: the kernel's writeback of
    20,000 new commits would otherwise take a core in the middle of the measurements."""
    os.sync()
    time.sleep(0.5)


def git(cwd: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run git in ``cwd`` (failing loudly) and return what it printed."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          input=input, env={**os.environ, **(env or {})}).stdout


def init_repo(path: Path) -> Path:
    """A new repository on main with one commit (a README)."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# bench\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "init")
    return path


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


def paired(command: Sequence[str], cwd: str, runs: int = 15) -> tuple[float, float]:
    """Median times of ``command`` and of `python -c pass`, run alternately so that the load of
    a busy machine falls on both alike (one warm-up run each first)."""
    floor_command = [sys.executable, "-c", "pass"]
    for argv in (floor_command, command):
        subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    floors: list[float] = []
    values: list[float] = []
    for _ in range(runs):
        for argv, samples in ((floor_command, floors), (command, values)):
            start = time.perf_counter()
            subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
            samples.append(time.perf_counter() - start)
    return statistics.median(values), statistics.median(floors)


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
