"""File ownership (issue #16, part 3): `files`, `next --claim` passing over overlapping tasks,
`start` refusing them (exit 3) unless --force."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import FLOW_EXE, Repo

from git_flowctl.coordination.ownership import entries_overlap, overlapping

T1, T2, T3, T4 = (f"fn-1-share.{n}" for n in range(1, 5))


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("src/app.py", "src/app.py", True),
    ("./src/app.py", "src/app.py/", True),
    ("src", "src/app.py", True),
    ("src/app.py", "src/application.py", False),
    ("src/*.py", "src/app.py", True),
    ("src/*.py", "src/a*", True),
    ("src/*.py", "docs/*.md", False),
    ("src", "src/**/*.py", True),
    ("lib", "src/*.py", False),
    ("docs/a.md", "docs/b.md", False),
])
def test_which_entries_overlap(a: str, b: str, expected: bool) -> None:
    assert entries_overlap(a.strip("./").rstrip("/") if a.startswith("./") else a.rstrip("/"),
                           b.rstrip("/")) is expected
    assert bool(overlapping([a], [b])) is expected
    assert bool(overlapping([b], [a])) is expected


def shared_plan(repo: Repo) -> None:
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Share")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "API", "--files", "src/app.py",
            "--priority", "1")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "API tests",
            "--files", "src/*.py,tests/test_app.py", "--priority", "2")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Docs", "--files", "docs",
            "--priority", "3")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "After API", "--deps", "fn-1.1",
            "--files", "src/app.py")


def agent(repo: Repo, name: str) -> Repo:
    path = repo.path.parent / name
    repo.git("worktree", "add", "-q", "-b", name, str(path))
    return Repo(path)


def claim_next(worktree: Repo, actor: str) -> dict[str, object]:
    """`next --claim` as a separate process (the real console script)."""
    result = subprocess.run([FLOW_EXE, "next", "--claim", "--json"], cwd=worktree.path,
                            capture_output=True, text=True, env={**os.environ, "FLOW_ACTOR": actor})
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_two_agents_never_get_tasks_that_share_a_file(repo: Repo) -> None:
    shared_plan(repo)
    ann, ben, cat = agent(repo, "ann"), agent(repo, "ben"), agent(repo, "cat")
    first = claim_next(ann, "ann")
    assert first["task"] == T1
    second = claim_next(ben, "ben")
    assert second["task"] == T3  # T2 shares src/app.py with ann's T1: passed over
    passed = [p for p in second["passed_over"] if p.get("reason") == "files"]  # type: ignore[union-attr]
    assert passed == [{"task": T2, "title": "API tests", "reason": "files", "held_task": T1,
                       "held_by": "ann", "paths": ["src/*.py"]}]
    third = claim_next(cat, "cat")
    assert third["status"] == "none"
    assert any(p.get("reason") == "files" and p["task"] == T2 and p["held_by"] == "ann"
               for p in third["passed_over"])  # type: ignore[union-attr]
    # plain `next` and `ready` agree
    assert cat.ok("next", env={"FLOW_ACTOR": "cat"})["status"] == "none"
    blocked = {row["id"]: row for row in cat.ok("ready", env={"FLOW_ACTOR": "cat"})["blocked"]}
    assert blocked[T2]["blocked_by"] == [f"files={T1} (ann)"]
    # start refuses (exit 3) naming the holder and the paths, --force overrides (recorded)
    refused = cat.flow("start", T2, "--json", env={"FLOW_ACTOR": "cat"})
    assert refused.exit_code == 3, refused
    assert T1 in refused.json["error"] and "ann" in refused.json["error"]
    assert "src/*.py" in refused.json["error"]
    assert cat.git("for-each-ref", "refs/flow/claims/" + T2) == ""  # the claim was rolled back
    forced = cat.ok("start", T2, "--force", env={"FLOW_ACTOR": "cat"})
    assert forced["status"] == "in_progress"
    assert "force=1" in cat.message()
    # once ann is done with T1, its files are free again
    ann.ok("done", T1, env={"FLOW_ACTOR": "ann"})


def test_files_lists_owners_and_conflicts(repo: Repo) -> None:
    shared_plan(repo)
    report = repo.ok("files")
    assert report["owners"] == [
        {"path": "docs", "tasks": [T3]},
        {"path": "src/*.py", "tasks": [T2]},
        {"path": "src/app.py", "tasks": [T1, T4]},
        {"path": "tests/test_app.py", "tasks": [T2]},
    ]
    # T1 and T4 share src/app.py but T4 waits on T1: they never run at once
    assert [c["tasks"] for c in report["conflicts"]] == [[T1, T2], [T2, T4]]
    first = report["conflicts"][0]
    assert first["paths"] == {T1: ["src/app.py"], T2: ["src/*.py"]}
    assert first["held_by"] == {T1: None, T2: None}
    repo.ok("start", T1, env={"FLOW_ACTOR": "ann"})
    held = repo.ok("files")
    assert held["conflicts"][0]["held_by"][T1] == "ann"
    assert next(row for row in held["tasks"] if row["id"] == T1)["held_by"] == "ann"
    repo.ok("done", T1, env={"FLOW_ACTOR": "ann"})
    after = repo.ok("files")
    assert [c["tasks"] for c in after["conflicts"]] == [[T2, T4]]  # done: owns nothing now
    assert repo.ok("files", "--epic", "fn-1")["count"] == 1
    text = repo.flow("files").stdout
    assert "conflict" in text and "src/app.py" in text


def test_run_and_next_agree_on_someone_elses_files(repo: Repo, tmp_path: Path) -> None:
    shared_plan(repo)
    repo.ok("config", "set", "retry_backoff.base", "0")
    repo.ok("start", T1, env={"FLOW_ACTOR": "ann"})
    result = repo.flow("--json", "run", "--epic", "fn-1", "--", "true")
    assert result.exit_code == 0, result
    data = result.json
    assert data["done"] == [T3]
    assert "overlap" in data["not_started"][T2] and "ann" in data["not_started"][T2]
