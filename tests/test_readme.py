"""README.md opens with two commands that work on a fresh machine; .ci/run runs exactly them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import FLOW_EXE, Repo

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)[:2]


def test_readme_opens_with_demo_and_test_commands() -> None:
    demo, tests = readme_commands()
    assert demo.endswith("git flow-task demo") and "pip install ." in demo
    assert "pip install -e '.[test]'" in tests and "pytest" in tests


def test_ci_runs_exactly_the_readme_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in readme_commands():
        assert command in ci, f".ci/run does not run {command!r} verbatim"


def test_demo_runs_and_shows_plan_transition_gate_and_log() -> None:
    result = subprocess.run([FLOW_EXE, "demo"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Created task fn-1-add-oauth-login.4" in out
    assert "todo -> in_progress" in out and "in_progress -> done" in out
    assert "cannot start fn-1-add-oauth-login.4: dependencies not satisfied" in out
    assert "Flow-Transition: fn-1-add-oauth-login.1 todo->in_progress action=start" in out
    assert "Flow-Evidence: fn-1-add-oauth-login.1" in out
    # the pre-commit hook refuses the hand edit, naming the task and its open dependencies
    assert "[gate-unsatisfied] fn-1-add-oauth-login.4 entered done" in out
    assert "commit refused" in out
    assert "mark the e2e tests done by hand" not in out.split("git log --reverse")[-1]
    assert "Traceback" not in out + result.stderr


def test_demo_json_reports_each_step_and_its_exit_code() -> None:
    result = subprocess.run([FLOW_EXE, "demo", "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    import json

    data = json.loads(result.stdout)
    codes = {step["command"]: step["exit_code"] for step in data["steps"]}
    assert codes["git flow-task start fn-1.4"] == 1  # the gate
    assert codes["git commit -q -am 'mark the e2e tests done by hand'"] == 1  # the hook
    assert codes["git flow-task start fn-1.2"] == 0
    assert data["repository"] is None  # removed unless --keep
    assert "Flow-Transition: fn-1-add-oauth-login.2 todo->in_progress" in data["log"]


def test_the_one_minute_tour_runs_as_written(repo: Repo) -> None:
    text = (ROOT / "README.md").read_text()
    tour = text.split("## In one minute", 1)[1]
    block = re.search(r"```sh\n(.+?)\n```", tour, re.S)
    assert block is not None
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + block.group(1)], cwd=repo.path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Flow-Evidence: fn-1-add-oauth-login.1 commits=abc1234" in result.stdout
    assert repo.ok("show", "fn-1.1")["status"] == "done"
