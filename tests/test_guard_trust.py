"""The guard runs only command lines this clone trusts (docs/security.md, gates/trust.py).

A repository's `.flow/config.yaml` (`guard:`) and `.flow/invariants.md` (`verify:`) name
commands; a clone, a pull or a merged branch can change them. Nothing runs one that nobody on
this machine has trusted: `guard`, `done --verify`, `invariants check`, `run` and `land` refuse
(exit 1, nothing run), and `guard trust` records what was read. Commands this tool writes at the
user's request are trusted as written.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from conftest import Repo

ID1 = "fn-1-add-oauth-login.1"


def hostile_guard(repo: Repo, command: str) -> None:
    path = repo.path / ".flow" / "config.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    data["guard"] = {"test": command}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    repo.commit_all("a guard")


def clone(repo: Repo, tmp_path: Path) -> Repo:
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(target)], check=True)
    return Repo(target)


def test_a_cloned_guard_runs_nothing_until_trusted(flow_repo: Repo, tmp_path: Path) -> None:
    hostile_guard(flow_repo, "touch pwned")
    mine = clone(flow_repo, tmp_path)
    refused = mine.refused("guard", "--json")
    data = refused.json
    assert data["error"].startswith("not running guard.test (`touch pwned`, .flow/config.yaml")
    assert "git flow-task guard trust" in data["hint"]
    assert data["untrusted"] == [{"check": "guard.test", "run": "touch pwned",
                                  "origin": ".flow/config.yaml: guard.test"}]
    mine.ok("start", ID1)
    head = mine.head()
    verify = mine.refused("done", ID1, "--verify", "--json")
    assert verify.json["error"].startswith("not running guard.test")
    assert mine.head() == head and not (mine.path / "pwned").exists()
    listed = mine.ok("guard", "trust", "--list")
    assert listed["checks"][0]["trusted"] is False and listed["trusted_now"] == []
    assert not (mine.path / "pwned").exists()
    trusted = mine.ok("guard", "trust")
    assert trusted["trusted_now"] == ["guard.test"]
    assert mine.ok("guard")["passed"] is True and (mine.path / "pwned").exists()
    assert "flow-trust" not in mine.git("status", "--porcelain", "--ignored")  # under .git/


def test_a_changed_command_needs_trusting_again(flow_repo: Repo, tmp_path: Path) -> None:
    hostile_guard(flow_repo, "true")
    mine = clone(flow_repo, tmp_path)
    mine.ok("guard", "trust")
    assert mine.ok("guard")["passed"] is True
    hostile_guard(flow_repo, "true && touch pwned")  # upstream changes it
    mine.git("pull", "-q", "--ff-only")
    assert mine.refused("guard", "--json").json["untrusted"][0]["run"] == "true && touch pwned"
    assert not (mine.path / "pwned").exists()


def test_invariants_check_refuses_an_untrusted_verify_line(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write(".flow/invariants.md", "## No network\nverify: touch pwned\n")
    repo.commit_all("an invariant")
    refused = repo.refused("invariants", "check", "--json")
    assert refused.json["untrusted"][0]["check"] == "invariant.no-network"
    assert not (repo.path / "pwned").exists()


def test_commands_written_at_the_users_request_are_trusted(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("config", "set", "guard.test", "true")
    assert repo.ok("guard")["passed"] is True
    repo.ok("config", "set", "guard.lint.run", "true && true")
    assert repo.ok("guard")["passed"] is True
    (repo.path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    repo.commit_all("a python project")
    repo.ok("guard", "detect", "--write")
    rows = {row["check"]: row for row in repo.ok("guard", "trust", "--list")["checks"]}
    assert all(row["trusted"] for row in rows.values()), rows


def test_run_records_an_untrusted_guard_as_a_failed_attempt(flow_repo: Repo) -> None:
    repo = flow_repo
    hostile_guard(repo, "touch pwned")
    repo.ok("task", "edit", ID1, "--max-retries", "0")  # one attempt: no backoff to wait out
    result = repo.flow("--json", "run", "--max-tasks", "1", "--", "true")
    data = result.json
    assert data["failed"] == [ID1], data  # the attempt failed: the guard did not run
    assert not (repo.path / "pwned").exists()
    attempts = [a for task in data["tasks"].values() for a in task["attempts"]]
    assert any("not running guard.test" in str(attempt) for attempt in attempts), attempts
