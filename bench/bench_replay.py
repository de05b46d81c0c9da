"""Replay of a long history (issue #5).

Builds a repository with 20,000 transition commits (400 tasks, each created and then
started, finished and reopened in turn; generated with `git fast-import`, in seconds), then measures:

* replay_cold: `git flow-task log TASK --json` with no cache, against
  `git log --format=%(trailers)` over the same commits (goal <= 1.5x);
* replay_one_more: the same command after one more transition commit, with the cache of the
  commit before, against `python -c pass` (goal <= 4x).

Each command is timed alternately with its floor, so that a busy machine loads both alike, and
the package's bytecode is written first (``_util.compile_bytecode``).

Usage: python bench/bench_replay.py [--check] [--commits N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import compile_bytecode, finish, report, settle

FLOW = shutil.which("git-flow-task", path=str(Path(sys.executable).parent)) or "git-flow-task"
EPIC = "fn-1-bench"
TASKS = 400
ENV = {
    "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C",
}


def task_file(number: int, status: str) -> bytes:
    return (
        f"---\nid: {EPIC}.{number}\nepic: {EPIC}\ntitle: Task {number}\nstatus: {status}\n"
        f"depends_on: []\ncreated: '2026-01-05T10:00:00Z'\n---\n## Description\nTask {number}.\n\n"
        "## Acceptance\n- [ ] TBD\n\n## Done summary\n\n## Evidence\n"
    ).encode()


def ulid(counter: int) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value, chars = counter, []
    for _ in range(16):
        chars.append(alphabet[value & 31])
        value >>= 5
    return "01JD3Q0000" + "".join(reversed(chars))


def generate(path: Path, commits: int) -> None:
    """A repository whose history holds ``commits`` transition commits, via git fast-import."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    stream: list[bytes] = []
    stamp = 1_767_607_200  # 2026-01-05
    mark = 0

    def commit(path_in_tree: str, content: bytes, message: str) -> None:
        nonlocal mark, stamp
        mark += 1
        stamp += 60
        data = message.encode()
        stream.append(b"commit refs/heads/main\nmark :%d\n" % mark)
        stream.append(b"author Bench <bench@example.com> %d +0000\n" % stamp)
        stream.append(b"committer Bench <bench@example.com> %d +0000\n" % stamp)
        stream.append(b"data %d\n%s\n" % (len(data), data))
        if mark > 1:
            stream.append(b"from :%d\n" % (mark - 1))
        stream.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path_in_tree.encode(), len(content), content))

    epic = (f"---\nid: {EPIC}\ntitle: Bench\nstatus: open\ndepends_on_epics: []\n---\n"
            "## Overview\nTBD\n").encode()
    commit(f".flow/epics/{EPIC}.md", epic,
           f"flow: create epic {EPIC}\n\nFlow-Transition: {EPIC} none->open action=create "
           f"by=bench@example.com id={ulid(0)}\n")
    # A few hundred tasks, each worked many times (start, done, reopen, ...): every commit
    # rewrites the .flow/tasks tree, so thousands of task files would make generation quadratic.
    cycle = (("todo", "in_progress", "start"), ("in_progress", "done", "done"),
             ("done", "todo", "reopen"))
    counter = 1
    while mark < commits:
        counter += 1
        number = (counter - 2) % TASKS + 1
        round_number = (counter - 2) // TASKS
        if round_number == 0:
            source, status, action = None, "todo", "create"
        else:
            source, status, action = cycle[(round_number - 1) % 3]
        evidence = f"\nFlow-Evidence: {EPIC}.{number} commits=abc{counter} tests=pytest" \
            if action == "done" else ""
        commit(f".flow/tasks/{EPIC}.{number}.md", task_file(number, status),
               f"flow: {action} {EPIC}.{number}\n\nFlow-Transition: {EPIC}.{number} "
               f"{source or 'none'}->{status} action={action} by=bench@example.com "
               f"id={ulid(counter)}{evidence}\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(stream), check=True)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=path, check=True)


def timed(argv: list[str], repo: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=repo, capture_output=True, env={**os.environ, **ENV})
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    return elapsed


def time_cold(argv: list[str], repo: Path, runs: int) -> tuple[float, float]:
    """Median times of ``argv`` with no cache and of its floor, `git log --format=%(trailers)`
    over the same commits, run alternately (after a warm-up round)."""
    cache = repo / ".git" / "flow-cache"
    samples: list[float] = []
    floors: list[float] = []
    for _ in range(runs + 1):
        floors.append(timed(["git", "log", "--format=%(trailers)"], repo))
        shutil.rmtree(cache, ignore_errors=True)
        samples.append(timed(argv, repo))
    return statistics.median(samples[1:]), statistics.median(floors[1:])


def time_one_more(repo: Path, number: int, runs: int) -> tuple[float, float]:
    """Median times of `log` after one more transition commit (the cache at the commit before)
    and of its floor, `python -c pass`, run alternately (after a warm-up round)."""
    task = f"{EPIC}.{number}"
    cycle = (("done", "todo", "reopen"), ("todo", "in_progress", "start"),
             ("in_progress", "done", "done"))
    samples: list[float] = []
    floors: list[float] = []
    for run in range(runs + 1):
        timed([FLOW, "log", task, "--json"], repo)  # the cache is now at HEAD
        source, target, action = cycle[run % 3]
        path = f".flow/tasks/{task}.md"
        (repo / path).write_bytes(task_file(number, target))
        subprocess.run(["git", "commit", "-q", "-m",
                        f"flow: {action} {task}\n\nFlow-Transition: {task} {source}->{target} "
                        f"action={action} by=bench@example.com id={ulid(10_000_000 + run)}", path],
                       cwd=repo, check=True, env={**os.environ, **ENV})
        floors.append(timed([sys.executable, "-c", "pass"], repo))
        samples.append(timed([FLOW, "log", task, "--json"], repo))
    return statistics.median(samples[1:]), statistics.median(floors[1:])


def in_process(repo: Path) -> None:
    """Where the time goes: the replay alone, inside one Python process (not a goal)."""
    code = (
        "import shutil, time\n"
        "from git_flowctl.history.replay import GitReader, replay\n"
        "git = GitReader.discover()\n"
        "shutil.rmtree('.git/flow-cache', ignore_errors=True)\n"
        "start = time.perf_counter(); replay(git); cold = time.perf_counter() - start\n"
        "start = time.perf_counter(); replay(git); warm = time.perf_counter() - start\n"
        "print(f'INFO in-process replay: cold {cold * 1000:.0f} ms, cached {warm * 1000:.1f} ms')\n"
        # What `stats` and `recover` add the first time: every subject checked against its trees.
        "history = replay(git)\n"
        "start = time.perf_counter(); history.verify(); every = time.perf_counter() - start\n"
        "print(f'INFO checking every transition against its tree once: {every * 1000:.0f} ms')\n")
    subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, env={**os.environ, **ENV})


def main() -> int:
    compile_bytecode()
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flow-bench-replay-") as temp:
        repo = Path(temp) / "repo"
        started = time.perf_counter()
        generate(repo, args.commits)
        print(f"generated {args.commits} transition commits in {time.perf_counter() - started:.1f} s")
        settle()
        cold, floor = time_cold([FLOW, "log", f"{EPIC}.1", "--json"], repo, args.runs)
        report("replay_cold_vs_git_log_trailers", cold, floor, 1.5)
        one_more, floor = time_one_more(repo, 1, args.runs)
        report("replay_one_more_commit_vs_python", one_more, floor, 4.0)
        in_process(repo)
    return finish()


if __name__ == "__main__":
    raise SystemExit(main())
