"""`doctor`: each check passes, warns or fails with the command that fixes it; exit 1 on a fail."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from conftest import BIN_DIR, Repo


def checks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in data["checks"]}


def test_a_healthy_repository_passes(flow_repo: Repo) -> None:
    flow_repo.ok("hooks", "install")
    data = flow_repo.ok("doctor")
    found = checks(data)
    assert all(check["status"] == "pass" for check in data["checks"]), data
    assert found["hooks"]["message"].startswith("4 hooks installed in ")
    assert found["merge driver"]["status"] == "pass"
    assert found["files"]["message"] == "every file is valid (1 epic, 3 tasks)"
    assert found["identity"]["status"] == "pass"
    assert "alice@example.com" in found["identity"]["message"]
    assert found["plan"]["status"] == "pass"
    assert found["history"]["status"] == "pass"
    assert found["libgit2"]["message"].startswith("libgit2 1.")
    assert found["git"]["message"].startswith("git version 2.")
    assert data["ok"] is True and data["summary"]["fail"] == 0


def test_fresh_clone_without_hooks_warns_and_names_hooks_install(flow_repo: Repo,
                                                                 tmp_path: Path) -> None:
    flow_repo.git("clone", "-q", str(flow_repo.path), str(tmp_path / "clone"))
    clone = Repo(tmp_path / "clone")
    data = clone.ok("doctor")
    found = checks(data)
    assert found["hooks"]["status"] == "warn"
    assert found["hooks"]["fix"] == "git flow-task hooks install"
    assert "pre-commit, prepare-commit-msg, commit-msg, pre-push" in found["hooks"]["message"]
    assert found["merge driver"]["status"] == "warn"
    assert data["ok"] is True  # warnings do not fail
    human = clone.flow("doctor")
    assert human.exit_code == 0
    assert "! warn" in human.stdout and "fix: git flow-task hooks install" in human.stdout


def test_an_existing_hook_is_reported_as_chained(flow_repo: Repo) -> None:
    hook = flow_repo.path / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    flow_repo.ok("hooks", "install")
    message = checks(flow_repo.ok("doctor"))["hooks"]["message"]
    assert message.endswith("they run pre-commit.pre-flow-task first")


def test_hook_shims_whose_interpreter_is_gone_fail(flow_repo: Repo) -> None:
    flow_repo.ok("hooks", "install")
    hook = flow_repo.path / ".git" / "hooks" / "pre-push"
    text = hook.read_text()
    hook.write_text(text.replace(text.split("flow_python=", 1)[1].split("\n", 1)[0],
                                 "'/nowhere/bin/python3'"))
    refused = flow_repo.refused("doctor", "--json")
    found = checks(refused.json)
    assert found["hooks"]["status"] == "fail" and "/nowhere/bin/python3" in found["hooks"]["message"]
    assert found["hooks"]["fix"] == "git flow-task hooks install"


def test_hooks_run_by_the_pre_commit_framework(flow_repo: Repo) -> None:
    flow_repo.write(".pre-commit-config.yaml", "repos:\n  - repo: local\n    hooks:\n"
                    "      - id: flow-task-pre-commit\n")
    env = {"PRE_COMMIT_HOME": str(flow_repo.path.parent / "pre-commit-home")}
    subprocess.run([str(BIN_DIR / "pre-commit"), "install", "--hook-type", "pre-commit"],
                   cwd=flow_repo.path, check=True, capture_output=True, env={**os.environ, **env})
    partly = checks(flow_repo.ok("doctor"))["hooks"]
    assert partly["status"] == "warn"
    assert partly["fix"] == ("pre-commit install --hook-type prepare-commit-msg "
                             "--hook-type commit-msg --hook-type pre-push")
    subprocess.run([str(BIN_DIR / "pre-commit"), "install", "--hook-type", "prepare-commit-msg",
                    "--hook-type", "commit-msg", "--hook-type", "pre-push"],
                   cwd=flow_repo.path, check=True, capture_output=True, env={**os.environ, **env})
    found = checks(flow_repo.ok("doctor"))
    assert found["hooks"]["status"] == "pass" and "pre-commit framework" in found["hooks"]["message"]
    assert found["merge driver"]["fix"] == "git flow-task hooks install --merge-driver-only"


def test_gitattributes_without_the_merge_line_warns(flow_repo: Repo) -> None:
    flow_repo.ok("hooks", "install")
    flow_repo.write(".gitattributes", "*.png binary\n")
    flow_repo.commit_all("drop the merge attribute")
    driver = checks(flow_repo.ok("doctor"))["merge driver"]
    assert driver["status"] == "warn" and ".gitattributes lacks" in driver["message"]
    assert driver["fix"] == "git flow-task init"


def test_an_invalid_file_fails_and_names_validate(flow_repo: Repo) -> None:
    path = ".flow/tasks/fn-1-add-oauth-login.2.md"
    flow_repo.write(path, flow_repo.read(path).replace("status: todo", "status: started"))
    refused = flow_repo.refused("doctor", "--json")
    files = checks(refused.json)["files"]
    assert files["status"] == "fail" and files["fix"] == "git flow-task validate"
    assert f"first: {path}:5: `status: started` is not a task status" in files["message"]
    assert "files" in refused.json["error"]


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


def test_cache_is_reported_and_a_broken_one_warns(repo: Repo) -> None:
    fresh = checks(repo.ok("doctor"))["cache"]
    assert fresh["status"] == "pass" and fresh["message"].startswith("none yet at ")
    repo.ok("init")
    repo.ok("log")  # a history command builds the cache
    built = checks(repo.ok("doctor"))["cache"]
    assert built["status"] == "pass" and "flow-cache" in built["message"]
    assert re.match(r"\d+ files?, [\d.]+ (bytes|KB|MB) at ", built["message"])
    root = repo.path / ".git" / "flow-cache"
    shutil.rmtree(root)
    root.write_text("not a directory\n")
    broken = checks(repo.ok("doctor"))["cache"]
    assert broken["status"] == "warn" and "is not a directory" in broken["message"]
    assert broken["fix"].startswith(f"rm -rf {root}")
