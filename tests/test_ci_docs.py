"""docs/ci.md and docs/hooks.md: their YAML parses and the CI job scripts really run."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml
from conftest import Repo

DOCS = Path(__file__).resolve().parent.parent / "docs"
TASK2 = ".flow/tasks/fn-1-add-oauth-login.2.md"


def yaml_blocks(page: str) -> list[object]:
    text = (DOCS / page).read_text()
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]


def test_yaml_in_the_docs_parses() -> None:
    github, gitlab = yaml_blocks("ci.md")
    assert isinstance(github, dict) and isinstance(gitlab, dict)
    assert github["jobs"]["check"]["steps"][0]["with"]["fetch-depth"] == 0
    assert gitlab["flow-task"]["variables"]["GIT_DEPTH"] == "0"
    precommit, lefthook = yaml_blocks("hooks.md")
    assert isinstance(precommit, dict) and isinstance(lefthook, dict)
    assert list(lefthook) == ["pre-commit", "prepare-commit-msg", "commit-msg", "pre-push"]
    ids = [hook["id"] for hook in precommit["repos"][0]["hooks"]]
    manifest = yaml.safe_load((DOCS.parent / ".pre-commit-hooks.yaml").read_text())
    assert ids == [hook["id"] for hook in manifest]


def test_the_github_job_script_runs(flow_repo: Repo, tmp_path: Path) -> None:
    github = yaml_blocks("ci.md")[0]
    assert isinstance(github, dict)
    script = github["jobs"]["check"]["steps"][-1]["run"]
    clone = tmp_path / "ci-clone"
    subprocess.run(["git", "clone", "-q", str(flow_repo.path), str(clone)], check=True)
    work = Repo(clone)
    work.git("checkout", "-q", "-b", "topic")
    work.ok("start", "fn-1.1")

    def job(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-e", "-c", script], cwd=clone, capture_output=True,
                              text=True, env={**os.environ, **env})

    pull_request = job({"BASE_REF": "main", "BEFORE": ""})
    assert pull_request.returncode == 0, pull_request.stderr
    assert "1 commit, no problems" in pull_request.stdout
    everything = job({"BASE_REF": "", "BEFORE": "0" * 40})
    assert everything.returncode == 0, everything.stderr

    work.write(TASK2, work.read(TASK2).replace("status: todo", "status: done"))
    work.commit_all("by hand")
    failed = job({"BASE_REF": "", "BEFORE": work.git("rev-parse", "HEAD~1").strip()})
    assert failed.returncode == 1
    assert f"::error file={TASK2},line=5,title=flow-task trailer-missing::" in failed.stdout


def test_the_gitlab_job_command_writes_junit(flow_repo: Repo, tmp_path: Path) -> None:
    gitlab = yaml_blocks("ci.md")[1]
    assert isinstance(gitlab, dict)
    command = gitlab["flow-task"]["script"][-1]
    base = flow_repo.head()
    flow_repo.ok("start", "fn-1.1")
    result = subprocess.run(["bash", "-e", "-c", command], cwd=flow_repo.path, capture_output=True,
                            text=True, env={**os.environ, "FLOW_BASE": base})
    assert result.returncode == 0, result.stderr
    report = (flow_repo.path / "flow-task.xml").read_text()
    assert '<testsuite name="git flow-task check" tests="2" failures="0"' in report
