"""`doctor`: each check passes, warns or fails with the command that fixes it; exit 1 on a fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Repo


def checks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in data["checks"]}


def test_a_healthy_repository_passes(flow_repo: Repo) -> None:
    data = flow_repo.ok("doctor")
    found = checks(data)
    assert found["identity"]["status"] == "pass"
    assert "alice@example.com" in found["identity"]["message"]
    assert found["plan"]["status"] == "pass"
    assert found["history"]["status"] == "pass"
    assert found["libgit2"]["message"].startswith("libgit2 1.")
    assert found["git"]["message"].startswith("git version 2.")
    assert data["ok"] is True and data["summary"]["fail"] == 0


def test_no_plan_warns_and_names_init(repo: Repo) -> None:
    found = checks(repo.ok("doctor"))
    assert found["plan"]["status"] == "warn"
    assert found["plan"]["fix"] == "git flow-task init"


def test_missing_identity_fails_with_exit_1(repo: Repo, tmp_path: Path) -> None:
    empty = tmp_path / "empty-gitconfig"
    empty.write_text("")
    repo.git("config", "user.useConfigOnly", "true")
    env = {"GIT_CONFIG_GLOBAL": str(empty), "GIT_AUTHOR_NAME": "", "GIT_AUTHOR_EMAIL": "",
           "GIT_COMMITTER_NAME": "", "GIT_COMMITTER_EMAIL": ""}
    refused = repo.refused("doctor", "--json", env=env)
    data = refused.json
    assert data["success"] is False and "identity" in data["error"]
    identity = checks(data)["identity"]
    assert identity["status"] == "fail" and "git config --global user.email" in identity["fix"]
    human = repo.refused("doctor", env=env)
    assert "✗ fail" in human.stdout and "fix: git config --global user.name" in human.stdout


def test_shallow_clone_warns(flow_repo: Repo, tmp_path: Path) -> None:
    flow_repo.git("clone", "-q", "--depth", "1", f"file://{flow_repo.path}", str(tmp_path / "shallow"))
    clone = Repo(tmp_path / "shallow")
    history = checks(clone.ok("doctor"))["history"]
    assert history["status"] == "warn" and history["fix"] == "git fetch --unshallow"
