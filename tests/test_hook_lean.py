"""The lean pre-commit hook (guard/hooklean.py, issue #11) answers only what the normal one does.

It says "nothing to report" (0) or leaves the commit to the normal hook (None). Over randomized
sequences of staged changes (transitions legal and not, gates, cycles, invalid fields, new and
deleted files, config edits) with commits between them (by hand, so HEAD's snapshot is derived
from its parent's through git's diff, and by flow-task's writer, which stores the diff), it must
never answer 0 where the normal hook finds anything, and must answer the plain cases itself.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Repo
from plans import task_name as _task
from plans import task_text as _task_text
from plans import written_plan

from git_flowctl.guard import githooks, hookfast, hooklean
from git_flowctl.repo.workspace import Workspace

EPICS = 3
PER_EPIC = 8


def _plan(root: Path) -> Repo:
    return written_plan(root, EPICS, PER_EPIC)


def _normal(repo: Repo) -> list[str]:
    """The rules the normal hook reports for what is staged."""
    result = githooks.pre_commit(Workspace(repo.path, from_env=True))
    return [item.rule for item in result.findings]


def _lean() -> int | None:
    staged = hookfast.staged_under_flow()
    assert staged is not None
    return 0 if staged == b"" else hooklean.pre_commit(staged)


def _stage_something(repo: Repo, rng: random.Random) -> str:
    epic, number = rng.randint(1, EPICS), rng.randint(1, PER_EPIC)
    path = f".flow/tasks/{_task(epic, number)}.md"
    text = repo.read(path) if (repo.path / path).exists() else None
    roll = rng.random()
    if text is None or roll < 0.05:
        repo.write(path, _task_text(epic, number, "todo"))  # a new file (or back again)
        kind = "new"
    elif roll < 0.25:
        status = next(line for line in text.splitlines() if line.startswith("status:"))
        new = rng.choice(["in_progress", "done", "blocked", "todo", "skipped", "failed"])
        repo.write(path, text.replace(status, f"status: {new}"))
        kind = f"status {new}"
    elif roll < 0.45:
        repo.write(path, text.replace("title: ", "title: Renamed ", 1))
        kind = "title"
    elif roll < 0.55:
        other = _task(rng.randint(1, EPICS), rng.randint(1, PER_EPIC + 1))
        deps = next(line for line in text.splitlines() if line.startswith("depends_on:"))
        repo.write(path, text.replace(deps, f"depends_on: [{other}]"))
        kind = "dependency"
    elif roll < 0.6:
        repo.write(path, text.replace("status:", "status: bogus\nold_status:"))
        kind = "invalid"
    elif roll < 0.65:
        (repo.path / path).unlink()
        kind = "deleted"
    elif roll < 0.7:
        repo.write(".flow/config.yaml", f"prefix: fn\nmax_retries: {rng.randint(1, 5)}\n")
        kind = "config"
    else:
        repo.write(path, text.replace("## Description\nTBD", f"## Description\nNote {rng.random()}"))
        kind = "body"
    repo.git("add", "-A", ".flow")
    return kind


@pytest.mark.parametrize("seed", range(4))
def test_lean_pre_commit_agrees_with_the_normal_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     seed: int) -> None:
    rng = random.Random(seed)
    repo = _plan(tmp_path / "repo")
    monkeypatch.chdir(repo.path)
    answered = 0
    for step in range(30):
        kind = _stage_something(repo, rng)
        if rng.random() < 0.5:  # first after a commit: HEAD's snapshot comes from its parent's
            lean = _lean()
            normal = _normal(repo)
        else:
            normal = _normal(repo)
            lean = _lean()
        if lean == 0:
            assert normal == [], (seed, step, kind, normal)
            answered += 1
        roll = rng.random()
        if roll < 0.3 and normal == []:
            repo.git("commit", "-q", "-m", f"step {step}", check=False)  # by hand: no diff stored
        elif roll < 0.45:
            repo.git("reset", "-q", "--hard")
            todo = [_task(e, n) for e in range(1, EPICS + 1) for n in range(1, PER_EPIC + 1)]
            for task in rng.sample(todo, len(todo)):
                if repo.flow("start", task).exit_code == 0:  # the writer: it stores the diff
                    break
        else:
            repo.git("reset", "-q", "--hard")
    assert answered >= 8, answered


def test_lean_pre_commit_leaves_what_is_not_plain_to_the_normal_hook(flow_repo: Repo,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(flow_repo.path)
    path = ".flow/tasks/fn-1-add-oauth-login.1.md"
    flow_repo.write(path, flow_repo.read(path).replace("title: ", "title: New ", 1))
    flow_repo.git("add", path)
    assert _normal(flow_repo) == []  # the normal hook stores HEAD's snapshot
    assert _lean() == 0
    git_dir = flow_repo.path / ".git"
    for name in ("MERGE_HEAD", "REVERT_HEAD", "SQUASH_MSG", "flow-pending-trailers.json"):
        (git_dir / name).write_text(flow_repo.head() + "\n" if name.endswith("HEAD") else "{}\n")
        assert _lean() is None, name
        (git_dir / name).unlink()
    flow_repo.write(path, flow_repo.read(path).replace("status: todo", "status: done"))
    flow_repo.git("add", path)
    assert _normal(flow_repo) != []
    assert _lean() is None  # a finding: the normal hook prints it


def test_the_lean_pre_commit_loads_nothing_heavy(flow_repo: Repo) -> None:
    path = ".flow/tasks/fn-1-add-oauth-login.1.md"
    flow_repo.write(path, flow_repo.read(path).replace("title: ", "title: New ", 1))
    flow_repo.git("add", path)
    assert flow_repo.flow("hook", "pre-commit").exit_code == 0  # stores HEAD's snapshot
    flow_repo.write(path, flow_repo.read(path).replace("title: ", "title: Newer ", 1))
    flow_repo.git("add", path)
    script = ("import sys; sys.argv = ['git-flow-task', 'hook', 'pre-commit']\n"
              "from git_flowctl.entry import main\n"
              "code = main()\n"
              "heavy = sorted(m for m in ('click', 'pygit2', 'yaml', 'rich', 'inspect', 'typing')"
              " if m in sys.modules)\n"
              "print(__import__('json').dumps([code, heavy]))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=flow_repo.path, capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout) == [0, []], done.stderr
