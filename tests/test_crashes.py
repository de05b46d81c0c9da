"""Issue #14, item 4: a transition killed at any point is repaired by the tool, in one command.

Each mutating command is killed (SIGKILL) at every step the writer can stop between (the
``FLOW_CRASH_AT`` points in repo/writer.py), and at random moments; after each kill `git fsck`
finds nothing wrong, and either `recover --apply` or simply the next transition brings the
repository to a state `validate` accepts, with no task file lost, no temporary file left and
nothing staged. The random part runs a few kills by default; FLOW_STRESS=N runs N times as many.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import FLOW_EXE, Repo

pytestmark = pytest.mark.slow

STRESS = max(1, int(os.environ.get("FLOW_STRESS", "1") or 1))
POINTS = ("before-ref", "after-ref", "mid-work-tree", "after-work-tree", "after-index")
COMMANDS = {
    "task create": ("task", "create", "--epic", "fn-1", "--title", "Crash test"),
    "start": ("start", "fn-1.1"),
    "task edit": ("task", "edit", "fn-1.2", "--priority", "7", "--title", "Renamed"),
    "epic archive": ("epic", "archive", "fn-2"),
}


def prepared(repo: Repo) -> Repo:
    """flow_repo plus a closed epic fn-2 with one skipped task (for `epic archive`)."""
    repo.ok("epic", "create", "--title", "Old work")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Gone")
    repo.ok("skip", "fn-2.1", "--reason", "not needed")
    repo.ok("epic", "close", "fn-2")
    return repo


def tracked_flow_files(repo: Repo) -> set[str]:
    return set(repo.git("ls-files", "--", ".flow").split())


def assert_sound(repo: Repo, before_files: set[str]) -> None:
    """fsck clean; validate passes; nothing staged or modified under .flow; no temp file; no
    task or epic file lost (each one tracked before is tracked now, or moved to the archive)."""
    fsck = subprocess.run(["git", "fsck", "--no-progress", "--no-dangling"], cwd=repo.path,
                          capture_output=True, text=True)
    assert fsck.returncode == 0 and "error" not in fsck.stdout + fsck.stderr, fsck
    validated = repo.flow("validate", "--json")
    assert validated.exit_code == 0, validated
    assert repo.git("status", "--porcelain", "--untracked-files=all", "--", ".flow") == ""
    now = tracked_flow_files(repo)
    for path in before_files:
        name = path.rsplit("/", 1)[-1]
        assert path in now or any(p.endswith(f"/{name}") and "/archive/" in p for p in now), path
    on_disk = {p.relative_to(repo.path).as_posix() for p in (repo.path / ".flow").rglob("*")
               if p.is_file()}
    assert on_disk == now


def run_killed(repo: Repo, args: tuple[str, ...], env: dict[str, str]) -> int:
    result = subprocess.run([FLOW_EXE, *args], cwd=repo.path, capture_output=True, text=True,
                            env={**os.environ, **env})
    return result.returncode


@pytest.mark.parametrize("repair", ["recover", "next transition"])
@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_transition_killed_at_each_step_is_repaired_in_one_command(
        flow_repo: Repo, command: str, point: str, repair: str) -> None:
    repo = prepared(flow_repo)
    before = tracked_flow_files(repo)
    head = repo.head()
    code = run_killed(repo, COMMANDS[command], {"FLOW_CRASH_AT": point})
    assert code == -signal.SIGKILL, code
    moved = repo.head() != head
    assert moved == (point != "before-ref")
    if repair == "recover":
        report = repo.ok("recover", "--apply")
        if point in ("after-ref", "mid-work-tree", "after-work-tree"):
            assert report["completed"], report
        assert repo.ok("recover")["clean"] is True
    repo.ok("task", "create", "--epic", "fn-1", "--title", "After the crash")
    assert_sound(repo, before)
    if moved:  # the transition that was committed is the one the files show
        if command == "start":
            assert repo.ok("show", "fn-1.1")["status"] == "in_progress"
        elif command == "task create":
            assert repo.ok("show", "fn-1.4")["title"] == "Crash test"
        elif command == "task edit":
            assert repo.ok("show", "fn-1.2")["priority"] == 7
        else:
            assert not (repo.path / ".flow" / "epics" / "fn-2-old-work.md").exists()


def test_random_kills_of_mutating_commands(flow_repo: Repo, tmp_path: Path) -> None:
    """Kill commands at random moments (FLOW_STRESS=N for N times as many); after each: fsck,
    recover --apply, validate, and the next command works."""
    repo = prepared(flow_repo)
    generator = random.Random(int(os.environ.get("FLOW_STRESS_SEED", "14")))
    sequence = [("start", "fn-1.1"), ("done", "fn-1.1", "--evidence", "tests=ok"),
                ("task", "create", "--epic", "fn-1", "--title", "More"),
                ("block", "fn-1.3", "--reason", "wait"), ("unblock", "fn-1.3"),
                ("task", "edit", "fn-1.2", "--priority", "4"), ("reopen", "fn-1.1")]
    # How long a command takes here: kills land anywhere in it.
    started = time.monotonic()
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Timing")
    duration = max(0.2, time.monotonic() - started) * 3
    kills = 0
    for round_number in range(8 * STRESS):
        args = sequence[round_number % len(sequence)]
        before = tracked_flow_files(repo)
        process = subprocess.Popen([FLOW_EXE, *args, "--force"] if args[0] in ("start", "done")
                                   else [FLOW_EXE, *args], cwd=repo.path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(generator.uniform(0, duration))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        repo.ok("recover", "--apply")
        assert_sound(repo, before)
    assert kills > 0


@pytest.mark.parametrize("point", ["mid-work-tree", "staged-work-tree", "staged-index"])
def test_a_no_commit_transition_killed_is_completed_by_the_next_command(flow_repo: Repo,
                                                                        point: str) -> None:
    """--no-commit writes the file, stages it and leaves its trailers for the next commit: a
    kill in between is completed by the next transition, and that commit carries the trailer."""
    repo = flow_repo
    repo.ok("hooks", "install")
    head = repo.head()
    code = run_killed(repo, ("start", "fn-1.1", "--no-commit"), {"FLOW_CRASH_AT": point})
    assert code == -signal.SIGKILL, code
    assert repo.head() == head
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Next", "--no-commit")
    assert repo.git("diff", "--name-only", "--", ".flow") == ""  # work tree == index
    assert not list((repo.path / ".flow" / "tasks").glob(".*.tmp"))
    repo.git("commit", "-q", "-m", "work")  # the hooks add both trailers
    message = repo.message()
    assert "Flow-Transition: fn-1-add-oauth-login.1 todo->in_progress action=start" in message
    assert repo.ok("show", "fn-1.1")["status"] == "in_progress"
    assert repo.ok("recover")["clean"] is True
    assert_sound(repo, set())
