"""Issue #12, Must hold 1: over random plans, every command agrees on what is ready.

Plans are generated as data (epics with epic dependencies, tasks with dependencies, and what
happens to each task: done, skipped, blocked, in progress, failed, up for retry with and without
a backoff, claimed by another agent on his branch), then built with the real CLI in a fresh
repository. For the actor, `status --json` ready, `ready`, `tasks --status ready`, `show`'s view
state, `graph` (JSON and mermaid's class), `board`'s queue and `run --dry-run`'s first wave
must name the same tasks; `next` offers one of them (or nothing when there are none); and
`start` (checked with --dry-run, which refuses exactly as a start does) succeeds on exactly those
tasks and refuses every other startable one with exit 1 or 3.

Counts are small by default so CI stays fast; FLOW_STRESS=N runs N times as many examples.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from conftest import Repo, make_repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plans import put_in_state
from test_one_truth import ready_everywhere

STRESS = max(1, int(os.environ.get("FLOW_STRESS", "1") or 1))
FATES = ("todo", "done", "skipped", "blocked", "in_progress", "failed", "retry_now",
         "retry_later", "bob")


@dataclass(frozen=True)
class PlanSpec:
    epic_deps: tuple[bool, ...]  # epic k (from 2) depends on epic k-1
    tasks: tuple[tuple[int, tuple[int, ...], str], ...]  # (epic, earlier task indexes, fate)
    close: tuple[bool, ...]  # try to close each epic at the end


@st.composite
def plans(draw: st.DrawFn) -> PlanSpec:
    epics = draw(st.integers(1, 3))
    epic_deps = tuple(draw(st.booleans()) for _ in range(epics - 1))
    tasks = []
    for epic in range(1, epics + 1):
        for _ in range(draw(st.integers(1, 3))):
            earlier = range(len(tasks))
            deps = tuple(sorted(draw(st.sets(st.sampled_from(earlier), max_size=2)))) if tasks else ()
            tasks.append((epic, deps, draw(st.sampled_from(FATES))))
    return PlanSpec(epic_deps, tuple(tasks), tuple(draw(st.booleans()) for _ in range(epics)))


def build(repo: Repo, spec: PlanSpec) -> list[str]:
    """The plan in a repository; fates are tried in creation order, and a fate the plan does not
    allow at that point (its dependencies unfinished) is simply not reached."""
    repo.ok("init")
    for number in range(1, len(spec.epic_deps) + 2):
        deps = ["--deps", f"fn-{number - 1}"] if number > 1 and spec.epic_deps[number - 2] else []
        repo.ok("epic", "create", "--title", f"Epic {number}", *deps)
    ids: list[str] = []
    for epic, deps, _ in spec.tasks:
        dep_args = ["--deps", ",".join(ids[d] for d in deps)] if deps else []
        ids.append(repo.ok("task", "create", "--epic", f"fn-{epic}", "--title", "Work",
                           *dep_args)["id"])
    for task, (_, _, fate) in zip(ids, spec.tasks, strict=True):
        apply_fate(repo, task, fate)
    for number, close in enumerate(spec.close, start=1):
        if close:
            repo.flow("epic", "close", f"fn-{number}")
    claimed_by_bob = [task for task, (_, _, fate) in zip(ids, spec.tasks, strict=True)
                      if fate == "bob"]
    if claimed_by_bob:
        bob = repo.path.parent / "bob"
        repo.git("worktree", "add", "-q", str(bob), "-b", "bob")
        for task in claimed_by_bob:
            repo.flow("start", task, cwd=bob, env={"FLOW_ACTOR": "bob"})
    return ids


def apply_fate(repo: Repo, task: str, fate: str) -> None:
    if fate == "bob":
        return  # bob starts it on his branch once the plan is built
    state, backoff = {"retry_now": ("up_for_retry", "0"),
                      "retry_later": ("up_for_retry", "3600")}.get(fate, (fate, "0"))
    put_in_state(repo, task, state, may_refuse=True, retry_backoff=backoff)


@settings(max_examples=8 * STRESS, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plans())
def test_every_command_agrees_on_what_is_ready(spec: PlanSpec) -> None:
    with tempfile.TemporaryDirectory(prefix="flow-truth-") as scratch:
        repo = make_repo(Path(scratch) / "repo")
        ids = build(repo, spec)
        found = ready_everywhere(repo)
        expected = found["status"]
        for command, ready in found.items():
            assert ready == expected, (spec, command, ready, expected)
        statuses = {row["id"]: row["status"] for row in repo.ok("tasks")["tasks"]}
        own = [task for task in ids if statuses[task] == "in_progress"
               and repo.ok("show", task)["assignee"] == "alice@example.com"]
        answer = repo.ok("next")
        if own:
            assert answer["reason"] == "resume_in_progress", (spec, answer)
        elif expected:
            assert answer["status"] == "work" and answer["task"] in expected, (spec, answer)
        else:
            assert answer["status"] == "none" and answer["reason"] != "ready_task", (spec, answer)
        head = repo.head()
        for task in ids:
            if statuses[task] not in ("todo", "up_for_retry"):
                continue
            tried = repo.flow("start", task, "--dry-run", "--json")
            if task in expected:
                assert tried.exit_code == 0, (spec, task, tried)
            else:
                assert tried.exit_code in (1, 3), (spec, task, tried)
                assert "Traceback" not in tried.stdout + tried.stderr
        assert repo.head() == head
        if expected:  # and a real start of the first ready task succeeds
            first = sorted(expected)[0]
            assert repo.ok("start", first)["status"] == "in_progress"
