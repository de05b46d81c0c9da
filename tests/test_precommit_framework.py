"""Issue #4: `.pre-commit-hooks.yaml` works with the real pre-commit framework.

One environment build (pip installs this source tree in pre-commit's own virtualenv, in the
temporary PRE_COMMIT_HOME of the test session), then real `git commit` and `git push` through the
hooks `pre-commit install` wrote.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Repo, make_repo

from git_flowctl import __version__

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]


def snapshot_of_this_source(target: Path) -> str:
    """A git repository holding this work tree's files (uncommitted edits included), tagged as
    the release workflow would tag this version; returns the tag docs/hooks.md's `rev:` names."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    snapshot = Repo(target)
    snapshot.git("init", "-q")
    snapshot.commit_all("snapshot of the source under test")
    rev = str(documented_config()["repos"][0]["rev"])
    assert rev == f"v{__version__}"  # the first release's tag (tests/test_release.py)
    snapshot.git("tag", "-a", rev, "-m", f"git-flowctl {__version__}")
    return rev


def documented_config() -> dict[str, Any]:
    """docs/hooks.md's `.pre-commit-config.yaml`."""
    text = (ROOT / "docs" / "hooks.md").read_text()
    (block,) = [found for found in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
                if "repos:" in found]  # the other is lefthook's
    config: dict[str, Any] = yaml.safe_load(block)
    return config


def run(repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=repo.path, capture_output=True, text=True,
                          env=dict(os.environ), timeout=900)


@pytest.mark.slow
def test_pre_commit_framework_runs_every_hook(tmp_path: Path) -> None:
    hook_repo = tmp_path / "hook-repo"
    rev = snapshot_of_this_source(hook_repo)
    repo = make_repo(tmp_path / "project")
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Auth")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Schema")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Middleware", "--deps", "fn-1.1")
    repo.write(".pre-commit-config.yaml", (
        f"repos:\n- repo: {hook_repo}\n  rev: {rev}\n  hooks:\n"
        "  - id: flow-task-pre-commit\n  - id: flow-task-prepare-commit-msg\n"
        "  - id: flow-task-commit-msg\n  - id: flow-task-pre-push\n"))
    repo.commit_all("use pre-commit")
    installed = run(repo, *PRE_COMMIT, "install", "--hook-type", "pre-commit", "--hook-type",
                    "prepare-commit-msg", "--hook-type", "commit-msg", "--hook-type", "pre-push")
    assert installed.returncode == 0, installed.stderr
    built = run(repo, *PRE_COMMIT, "install-hooks")
    assert built.returncode == 0, built.stdout + built.stderr
    task2 = ".flow/tasks/fn-1-auth.2.md"

    # pre-commit stage: a hand edit to done before the dependency is refused
    repo.write(task2, repo.read(task2).replace("status: todo", "status: done"))
    refused = run(repo, "git", "commit", "-am", "finish by hand")
    assert refused.returncode != 0
    assert "flow-task validate staged .flow/" in refused.stdout + refused.stderr
    assert "[gate-unsatisfied] fn-1-auth.2 entered done" in refused.stdout + refused.stderr
    repo.git("checkout", "--", task2)

    # prepare-commit-msg and commit-msg stages: the --no-commit trailer lands with the code
    repo.ok("start", "fn-1.1", "--no-commit")
    repo.write("schema.py", "SCHEMA = {}\n")
    repo.git("add", "schema.py")
    committed = run(repo, "git", "commit", "-m", "Add the schema")
    assert committed.returncode == 0, committed.stdout + committed.stderr
    assert "Flow-Transition: fn-1-auth.1 todo->in_progress action=start" in repo.message()

    # commit-msg stage: a trailer without its change is refused
    repo.write("more.py", "x = 1\n")
    repo.git("add", "more.py")
    lie = run(repo, "git", "commit", "-m",
              "x\n\nFlow-Transition: fn-1-auth.2 todo->in_progress action=start by=a "
              "id=01JD3Q0000000000000000000A")
    assert lie.returncode != 0 and "[trailer-without-change]" in lie.stdout + lie.stderr

    # pre-push stage: a commit that skipped the hooks is refused at the push (a root-commit push)
    repo.git("reset", "-q", "--hard")
    repo.write(task2, repo.read(task2).replace("status: todo", "status: done"))
    repo.git("commit", "-q", "--no-verify", "-am", "finish by hand")
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo.git("remote", "add", "origin", str(bare))
    pushed = run(repo, "git", "push", "origin", "main")
    assert pushed.returncode != 0
    assert "flow-task check the pushed commits" in pushed.stdout + pushed.stderr
    assert "[trailer-missing] fn-1-auth.2 changed todo -> done" in pushed.stdout + pushed.stderr
