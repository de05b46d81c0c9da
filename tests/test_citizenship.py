"""Issue #13: a good git citizen everywhere. Each situation is real git, set up as a user would:
signing settings that only `git config` sees, split and sparse indexes, sparse checkouts,
partial and shallow clones, husky and core.hooksPath (tests/test_citizen_hooks.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Repo

TASK1 = ".flow/tasks/fn-1-add-oauth-login.1.md"
ID1 = "fn-1-add-oauth-login.1"


def git_flow(repo: Repo, *args: str, env: dict[str, str] | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`git [-c ...] flow-task ...` as a user types it: git runs the console script from PATH,
    passing `-c` settings down in GIT_CONFIG_PARAMETERS."""
    return subprocess.run(["git", *args], cwd=cwd or repo.path, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def failing_gpg(tmp_path: Path) -> Path:
    program = tmp_path / "failing-gpg"
    program.write_text("#!/bin/sh\necho 'gpg: no secret key' >&2\nexit 2\n")
    program.chmod(0o755)
    return program


# Signing: commit.gpgsign and gpg.* as git sees them (finding 4) ------------------------------


def _refused_unsigned(repo: Repo, result: subprocess.CompletedProcess[str], head: str) -> None:
    assert result.returncode == 1, result
    assert "signing failed" in result.stderr and "Traceback" not in result.stderr
    assert repo.head() == head and repo.status() == ""
    assert "status: todo" in repo.read(TASK1)


def test_signing_asked_by_git_dash_c_is_honoured(flow_repo: Repo, tmp_path: Path) -> None:
    repo, head = flow_repo, flow_repo.head()
    result = git_flow(repo, "-c", "commit.gpgsign=true", "-c", f"gpg.program={failing_gpg(tmp_path)}",
                      "flow-task", "start", "fn-1.1")
    _refused_unsigned(repo, result, head)


def test_signing_asked_by_git_config_count_environment_is_honoured(flow_repo: Repo,
                                                                   tmp_path: Path) -> None:
    repo, head = flow_repo, flow_repo.head()
    env = {"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "commit.gpgsign", "GIT_CONFIG_VALUE_0": "true",
           "GIT_CONFIG_KEY_1": "gpg.program", "GIT_CONFIG_VALUE_1": str(failing_gpg(tmp_path))}
    _refused_unsigned(repo, repo.proc("start", "fn-1.1", env=env), head)
    # the same environment in-process: the decision is git's, not libgit2's
    result = repo.flow("start", "fn-1.1", env=env)
    assert result.exit_code == 1 and "signing failed" in result.stderr, result
    assert repo.head() == head


def test_signing_asked_by_git_config_global_is_honoured(flow_repo: Repo, tmp_path: Path) -> None:
    repo, head = flow_repo, flow_repo.head()
    other_global = tmp_path / "other-gitconfig"
    other_global.write_text(Path(os.environ["GIT_CONFIG_GLOBAL"]).read_text()
                            + f"[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = {failing_gpg(tmp_path)}\n")
    _refused_unsigned(repo, repo.proc("start", "fn-1.1", env={"GIT_CONFIG_GLOBAL": str(other_global)}),
                      head)


def test_git_dash_c_turns_off_signing_set_in_the_repository(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    repo.git("config", "commit.gpgsign", "true")
    repo.git("config", "gpg.program", str(failing_gpg(tmp_path)))
    refused = repo.refused("start", "fn-1.1")
    assert "git -c commit.gpgsign=false flow-task" in refused.stderr  # the hint names the way out

    result = git_flow(repo, "-c", "commit.gpgsign=false", "flow-task", "start", "fn-1.1")

    assert result.returncode == 0, result.stderr
    assert "gpgsig" not in repo.git("cat-file", "commit", "HEAD")
    assert "status: in_progress" in repo.read(TASK1) and repo.status() == ""


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
def test_real_ssh_signing_from_git_dash_c(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    key = tmp_path / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"alice@example.com {(tmp_path / 'signing_key.pub').read_text()}")
    settings = ["-c", "commit.gpgsign=true", "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"]

    result = git_flow(repo, *settings, "flow-task", "start", "fn-1.1")

    assert result.returncode == 0, result.stderr
    verify = git_flow(repo, "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", "HEAD")
    assert verify.returncode == 0, verify.stderr
    assert 'Good "git" signature for alice@example.com' in verify.stderr
    # and through GIT_CONFIG_COUNT, for the next transition
    env = {"GIT_CONFIG_COUNT": "3", "GIT_CONFIG_KEY_0": "commit.gpgsign", "GIT_CONFIG_VALUE_0": "true",
           "GIT_CONFIG_KEY_1": "gpg.format", "GIT_CONFIG_VALUE_1": "ssh",
           "GIT_CONFIG_KEY_2": "user.signingkey", "GIT_CONFIG_VALUE_2": str(key)}
    assert repo.proc("done", "fn-1.1", env=env).returncode == 0
    verify = git_flow(repo, "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", "HEAD")
    assert verify.returncode == 0, verify.stderr
