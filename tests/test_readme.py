"""README.md opens with two commands that work on a fresh machine; .ci/run runs exactly them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import FLOW_EXE

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
    assert "Traceback" not in out + result.stderr
