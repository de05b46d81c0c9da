"""Issue #3, must hold: every mutating command's --dry-run leaves HEAD, the index, the work tree
and every ref unchanged. The commands are discovered from the CLI (those with a --dry-run
option), so a new one fails here until it has a sample invocation below."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, Repo, make_repo
from plans import put_in_state, tid

from git_flowctl.cli import manpage
from git_flowctl.gates.gaps import gap_id

# `run --dry-run` prints the waves it would run, not a commit (tests/test_run.py covers it).
MUTATING = [entry.name for entry in manpage.walk() if entry.name != "run"
            and any("--dry-run" in getattr(param, "opts", []) for param in entry.command.params)]

# A valid invocation of each mutating command against the plan built by `template` below.
SAMPLES: dict[str, list[str]] = {
    "init": ["init"],  # run in a repository that has no plan yet
    "config set": ["config", "set", "max_retries", "4"],
    "epic create": ["epic", "create", "--title", "Search"],
    "epic close": ["epic", "close", "fn-3"],
    "epic reopen": ["epic", "reopen", "fn-2"],
    "epic set-plan": ["epic", "set-plan", "fn-1", "--file", "-"],
    "epic edit": ["epic", "edit", "fn-1", "--title", "Renamed", "--branch", "feat/x"],
    "epic add-dep": ["epic", "add-dep", "fn-3", "fn-1"],
    "epic rm-dep": ["epic", "rm-dep", "fn-3", "fn-2"],
    "epic archive": ["epic", "archive", "fn-2"],
    "task create": ["task", "create", "--epic", "fn-1", "--title", "More", "--deps", "fn-1.1"],
    "task edit": ["task", "edit", "fn-1.3", "--title", "Renamed", "--estimate", "2"],
    "task set-deps": ["task", "set-deps", "fn-1.3", "--deps", "fn-1.1,fn-1.6"],
    "task split": ["task", "split", "fn-1.3", "--titles", "A|B"],
    "dep add": ["dep", "add", "fn-1.8", "fn-1.3"],
    "dep rm": ["dep", "rm", "fn-1.8", "fn-1.2"],
    "start": ["start", "fn-1.3"],
    "done": ["done", "fn-1.2", "--summary", "finished", "--evidence", "commits=abc1234"],
    "block": ["block", "fn-1.3", "--reason", "waiting"],
    "unblock": ["unblock", "fn-1.4"],
    "fail": ["fail", "fn-1.2", "--reason", "tests fail"],
    "retry": ["retry", "fn-1.5"],
    "skip": ["skip", "fn-1.3", "--reason", "not needed"],
    "reopen": ["reopen", "fn-1.1", "--cascade"],
    "restart": ["restart", "fn-1.1", "--force"],  # fn-1.2 downstream is in progress
    "release": ["release", "fn-1.2"],
    "reclaim": ["reclaim", "fn-1.7"],  # claimed by the same actor on the branch `side`
    "renumber": ["renumber", "fn-3"],
    "import flowctl": ["import", "flowctl", str(FIXTURES / "flowctl-legacy"),
                       "--state-dir", str(FIXTURES / "no-such-state-dir")],
    "import json": ["import", "json", str(FIXTURES / "export-v1.json")],
    "guard detect": ["guard", "detect", "--write"],
    "review": ["review", "fn-1.1", "--verdict", "ship"],
    "gap add": ["gap", "add", "--epic", "fn-1", "Logout revokes tokens"],
    "gap resolve": ["gap", "resolve", gap_id("fn-1-add-oauth-login", "Audit log")],
    # saved before the tasks moved; up_for_retry -> todo is no transition: --force
    "checkpoint restore": ["checkpoint", "restore", "fn-1", "created", "--force"],
}
STDIN = {"epic set-plan": "## Overview\nA new plan.\n"}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fn-1 with a task in every stored state; fn-2 closed; fn-3 open, depending on fn-2."""
    repo = make_repo(tmp_path_factory.mktemp("dry-run") / "template")
    repo.write("Makefile", "test:\n\ttrue\n")  # for `guard detect --write` to propose
    repo.commit_all("a Makefile")
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Add OAuth login")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Done one")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Working", "--deps", "fn-1.1")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Ready", "--deps", "fn-1.1")
    for state in ("blocked", "failed", "skipped", "up_for_retry"):
        repo.ok("task", "create", "--epic", "fn-1", "--title", state.capitalize())
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Waiting", "--deps", "fn-1.2")
    repo.ok("checkpoint", "save", "fn-1", "--name", "created")
    put_in_state(repo, tid(1), "done")
    repo.ok("start", "fn-1.2")
    for number, state in ((4, "blocked"), (5, "failed"), (6, "skipped"), (7, "up_for_retry")):
        put_in_state(repo, tid(number), state)
    repo.ok("epic", "create", "--title", "Billing")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Invoices")
    put_in_state(repo, "fn-2.1", "done")
    repo.ok("epic", "close", "fn-2")
    repo.ok("epic", "create", "--title", "Launch", "--deps", "fn-2")
    repo.ok("gap", "add", "--epic", "fn-1", "Audit log")
    repo.git("checkout", "-q", "-b", "side")  # a claim on fn-1.7, up_for_retry on main
    repo.ok("start", "fn-1.7")
    repo.git("checkout", "-q", "main")
    assert repo.status() == ""
    return repo.path


def test_every_mutating_command_has_a_sample() -> None:
    missing = sorted(set(MUTATING) - set(SAMPLES))
    assert not missing, f"add a sample invocation to SAMPLES for: {', '.join(missing)}"
    stale = sorted(set(SAMPLES) - set(MUTATING))
    assert not stale, f"SAMPLES names commands that are gone or lost --dry-run: {', '.join(stale)}"


def _snapshot(repo: Repo) -> tuple[str, str, str, str, bool]:
    return (repo.head(), repo.status(), repo.git("for-each-ref"), repo.git("ls-files", "-s"),
            (repo.path / ".git" / "flow-pending-trailers.json").exists())


@pytest.mark.parametrize("name", MUTATING)
def test_dry_run_changes_nothing(name: str, template: Path, tmp_path: Path) -> None:
    assert name in SAMPLES, f"add a sample invocation of `{name}` to SAMPLES"
    if name == "init":
        repo = make_repo(tmp_path / "fresh")
    else:
        shutil.copytree(template, tmp_path / "repo", symlinks=True)
        repo = Repo(tmp_path / "repo")
    repo.write("notes.txt", "an untracked file of the user's\n")
    repo.write("README.md", "# edited but not staged\n")
    before = _snapshot(repo)
    args = SAMPLES[name]
    result = repo.flow(*args, "--dry-run", "--json", input=STDIN.get(name))
    assert result.exit_code == 0, result
    data = result.json
    assert data["dry_run"] is True and data["commit"] is None
    assert data["diff"], "the sample should describe a real change"
    assert data["commit_message"].startswith("flow: ")
    assert _snapshot(repo) == before
    human = repo.flow(*args, "--dry-run", input=STDIN.get(name))
    assert human.exit_code == 0 and human.stdout.startswith("dry run: nothing written"), human
    assert _snapshot(repo) == before
    # the same invocation without --dry-run really changes something (the sample is not a no-op)
    applied = repo.flow(*args, "--json", input=STDIN.get(name))
    assert applied.exit_code == 0, applied
    assert repo.head() != before[0]
