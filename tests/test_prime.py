"""`prime`: a primer for agents, about this repository, under 1,000 tokens whatever the plan."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from conftest import FIXTURES, Repo

from git_flowctl.cli import COMMANDS

# About 1,000 tokens: English runs at about 0.75 words and 4 to 5 characters per token.
MAX_WORDS = 750
MAX_CHARACTERS = 5000


def primer(repo: Repo, **kwargs: Any) -> str:
    data = repo.ok("prime", **kwargs)
    text = str(data["primer"])
    assert data["words"] == len(text.split()) and data["characters"] == len(text)
    return text


def assert_small(text: str) -> None:
    assert len(text.split()) < MAX_WORDS, len(text.split())
    assert len(text) < MAX_CHARACTERS, len(text)


def test_primer_explains_the_workflow_for_this_repository(repo: Repo, tmp_path: Path) -> None:
    project = tmp_path / "flowctl"
    shutil.copytree(FIXTURES / "flowctl-0.26", project)
    repo.ok("import", "flowctl", str(project / "repo-flow"), "--state-dir",
            str(project / "flow-state"))
    text = primer(repo)
    assert_small(text)
    assert "epics `fn-N-slug`, tasks `fn-N-slug.M`" in text
    assert "`fn-1-add-oauth-login` Add OAuth login: 1/4 finished, 1 in_progress, 1 blocked" in text
    assert "waits for fn-1-add-oauth-login" in text
    assert "Nothing is ready now." in text  # fn-2 waits for epic fn-1; fn-1.4 for fn-1.3
    assert "You act as `alice@example.com` (git user.email)" in text
    assert "`git flow-task next --claim --json` picks the best ready task and starts it" in text
    assert "Claims are local to this repository (no `claims.remote`)" in text
    for needed in ("done ID --summary", "--evidence commits=SHA",
                   "block ID --reason", "--json", "Exit codes: 0 ok; 1 refused or invalid",
                   "2 usage", "3 lost a race"):
        assert needed in text, needed
    human = repo.flow("prime")
    assert human.exit_code == 0 and human.stdout == text


def test_primer_names_only_commands_that_exist(flow_repo: Repo) -> None:
    text = primer(flow_repo)
    named = set(re.findall(r"git flow-task ([a-z][a-z-]*)", text))
    assert named and named <= set(COMMANDS), named - set(COMMANDS)
    if "next" not in COMMANDS:
        assert "tasks --status ready --json" in text


def test_primer_stays_small_for_a_large_plan(repo: Repo) -> None:
    repo.ok("init")
    for number in range(1, 41):
        epic_id = f"fn-{number}-a-rather-long-epic"
        repo.write(f".flow/epics/{epic_id}.md",
                   f"---\nid: {epic_id}\ntitle: {'A rather long epic title that goes on ' * 3}\n"
                   "status: open\ndepends_on_epics: []\n---\n## Overview\nx\n")
        for task in range(1, 6):
            repo.write(f".flow/tasks/{epic_id}.{task}.md",
                       f"---\nid: {epic_id}.{task}\nepic: {epic_id}\ntitle: Task {task}\n"
                       "status: todo\ndepends_on: []\n---\n## Description\nx\n")
    repo.commit_all("a large plan")
    text = primer(repo)
    assert_small(text)
    assert "and 32 more" in text and "and 195 more" in text


def test_primer_says_whether_hooks_are_installed(flow_repo: Repo) -> None:
    before = primer(flow_repo)
    assert "Hooks are not installed (`git flow-task hooks install` adds them)." in before
    assert "--no-commit" not in before
    flow_repo.ok("hooks", "install")
    after = primer(flow_repo)
    assert "Hooks are installed: a commit or push that breaks the rules is refused." in after
    assert "`git flow-task done ID ... --no-commit`, then `git commit`" in after
    assert_small(after)


def test_primer_reflects_settings_and_actor(flow_repo: Repo, tmp_path: Path) -> None:
    flow_repo.git("init", "-q", "--bare", str(tmp_path / "remote.git"))
    flow_repo.git("remote", "add", "origin", str(tmp_path / "remote.git"))
    flow_repo.ok("config", "set", "claims.remote", "origin")
    flow_repo.ok("config", "set", "prefix", "ab")
    flow_repo.ok("config", "set", "require_evidence", "true")
    text = primer(flow_repo, env={"FLOW_ACTOR": "agent-7"})
    assert "epics `ab-N-slug`" in text
    assert "`done` requires `--evidence`." in text
    assert "You act as `agent-7` (from FLOW_ACTOR)" in text
    assert "Claims are pushed to the `origin` remote" in text


def test_primer_without_a_plan_says_how_to_start(repo: Repo) -> None:
    text = primer(repo)
    assert "No plan yet: `git flow-task init`" in text
    assert_small(text)


def test_primer_names_the_gates_this_repository_sets(flow_repo: Repo) -> None:
    repo = flow_repo
    assert "--verify" not in primer(repo) and "review is required" not in primer(repo)
    repo.ok("config", "set", "guard.test", "pytest -q")
    assert "Finish with `done ID --verify`: it runs the project's checks" in primer(repo)
    repo.ok("config", "set", "require_verify", "true")
    repo.ok("config", "set", "require_review", "[plan, completion]")
    text = primer(repo)
    assert "`done` requires `--verify`: it runs the project's checks" in text
    assert "A SHIP completion and plan review is required" in text
    assert_small(text)
