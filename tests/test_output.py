"""Human output respects NO_COLOR and non-terminals; JSON is always plain; python -m works."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

from conftest import FLOW_EXE, Repo

# An SGR sequence that sets a foreground colour (30-37, 38;..., 90-97). Bold is not a colour.
COLOUR = re.compile(r"\x1b\[(?:[0-9]+;)*(?:3[0-8]|9[0-7])(?:;[0-9]+)*m")


def _run_on_a_terminal(argv: list[str], cwd: str, env: dict[str, str]) -> str:
    """Run argv with a pseudo-terminal as stdout and return what it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_colour_on_a_terminal_and_not_under_no_color(flow_repo: Repo) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    coloured = _run_on_a_terminal([FLOW_EXE, "status"], str(flow_repo.path), env)
    assert COLOUR.search(coloured)
    plain = _run_on_a_terminal([FLOW_EXE, "status"], str(flow_repo.path), {**env, "NO_COLOR": "1"})
    assert not COLOUR.search(plain)
    assert "3 tasks" in plain


def test_no_escape_codes_when_piped(flow_repo: Repo) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    result = subprocess.run([FLOW_EXE, "status"], cwd=flow_repo.path, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0 and "\x1b[" not in result.stdout and "3 tasks" in result.stdout


def test_piped_tables_have_no_padding_at_line_ends(flow_repo: Repo) -> None:
    """rich pads each cell to its column; in a file those spaces would end every line."""
    for command in (["tasks"], ["status"], ["ready"], ["board"]):
        result = subprocess.run([FLOW_EXE, *command], cwd=flow_repo.path, capture_output=True,
                                text=True)
        assert result.returncode == 0 and "fn-1-add-oauth-login" in result.stdout, command
        padded = [line for line in result.stdout.splitlines() if line != line.rstrip(" ")]
        assert padded == [], (command, padded)


def test_json_before_or_after_the_subcommand(flow_repo: Repo) -> None:
    before = flow_repo.flow("--json", "show", "fn-1.1")
    after = flow_repo.flow("show", "fn-1.1", "--json")
    assert before.exit_code == after.exit_code == 0
    assert before.json == after.json and before.json["success"] is True


def test_python_dash_m_runs_the_cli(flow_repo: Repo) -> None:
    result = subprocess.run([sys.executable, "-m", "git_flowctl", "show", "fn-1.1", "--json"],
                            cwd=flow_repo.path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '"id": "fn-1-add-oauth-login.1"' in result.stdout


def test_usage_errors_exit_2_with_one_line(flow_repo: Repo) -> None:
    result = flow_repo.refused("start", code=2)
    assert result.stderr.startswith("error: Missing argument 'TASK'")
    result = flow_repo.refused("no-such-command", code=2)
    assert "'no-such-command' is not a git flow-task command" in result.stderr
    data = flow_repo.flow("start", "--json")
    assert data.exit_code == 2 and data.json["success"] is False


def test_git_subcommand_form(flow_repo: Repo) -> None:
    result = subprocess.run(["git", "flow-task", "show", "fn-1", "--json"], cwd=flow_repo.path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '"id": "fn-1-add-oauth-login"' in result.stdout
