"""Issue #3: help everywhere. The man page and docs/commands.md are generated from the CLI and
kept current by these tests (like sqlite-utils' docs test); `git help flow-task` opens the man
page; `help CMD`; completion for bash (run for real, through git's own completion), zsh and fish."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest
from conftest import BIN_DIR, Repo

from git_flowctl.cli import COMMANDS, manpage

ROOT = Path(__file__).resolve().parent.parent
ALL = list(manpage.walk())
GIT_COMPLETION = Path("/usr/share/bash-completion/completions/git")


def test_the_man_page_and_command_reference_are_current() -> None:
    assert manpage.main(["--check"]) == 0, (
        "share/man/man1/git-flow-task.1 or docs/commands.md is stale: "
        "run `python -m git_flowctl.cli.manpage --write` and commit the result")


@pytest.mark.parametrize("entry", ALL, ids=lambda entry: entry.name)
def test_every_command_has_help_and_is_in_the_docs(entry: manpage.Entry) -> None:
    assert entry.help.strip(), f"`git flow-task {entry.name}` has no help text (write its docstring)"
    docs = (ROOT / "docs" / "commands.md").read_text()
    assert f"### `git flow-task {entry.name}`" in docs, f"`{entry.name}` is missing from docs/commands.md"
    man = manpage.MAN_PATH.read_text()
    assert f'.SS "git flow\\-task {entry.name.replace("-", chr(92) + "-")}' in man
    for param in entry.command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"`{entry.name} {param.opts[0]}` has no help text"


def test_the_top_level_listing_names_every_command() -> None:
    assert sorted(e.name for e in ALL if " " not in e.name) == sorted(COMMANDS)
    assert all(summary.endswith(".") for _, _, summary in COMMANDS.values())
    assert len({e.name for e in ALL}) == len(ALL)


def test_man_page_is_valid_roff() -> None:
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    result = subprocess.run(["groff", "-ww", "-z", "-man", str(manpage.MAN_PATH)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def _git_help_env() -> dict[str, str]:
    return {"MANPATH": str(ROOT / "share" / "man"), "MANPAGER": "cat", "PAGER": "cat",
            "MANWIDTH": "100", "PATH": f"{BIN_DIR}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize("argv", [["help", "flow-task"], ["flow-task", "--help"]])
def test_git_help_shows_the_manual_page(repo: Repo, argv: list[str]) -> None:
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    result = subprocess.run(["git", *argv], cwd=repo.path, capture_output=True, text=True,
                            env={**os.environ, **_git_help_env()})
    assert result.returncode == 0, result.stderr
    text = re.sub(r".\x08", "", result.stdout)  # overstrike bold, when a formatter adds it
    assert "GIT-FLOW-TASK(1)" in text
    assert "git flow-task dep add [OPTIONS] TASK DEP..." in text
    assert "git flow-task critical-path" in text and "EXIT STATUS" in text


def test_help_command(repo: Repo) -> None:
    shown = repo.flow("help", "epic", "close")
    direct = repo.flow("epic", "close", "--help")
    assert shown.exit_code == direct.exit_code == 0
    assert shown.stdout == direct.stdout
    assert shown.stdout.startswith("Usage: git flow-task epic close [OPTIONS] EPIC")
    assert repo.ok("help", "dep", "add")["command"] == "git flow-task dep add"
    top = repo.flow("help")
    assert "critical-path" in top.stdout and "Commands:" in top.stdout
    typo = repo.refused("help", "grpah", code=2)
    assert "did you mean graph?" in typo.stderr
    leaf = repo.refused("help", "status", "x", code=2)
    assert "has no subcommands" in leaf.stderr
    assert repo.flow("status", "-h").stdout.startswith("Usage: git flow-task status")


# Completion ---------------------------------------------------------------------------------------


def _bash(repo: Repo, script: str, body: str) -> str:
    path = repo.path.parent / "completion.bash"
    path.write_text(script)
    result = subprocess.run(["bash", "-c", f"source {path}\n{body}"], cwd=repo.path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_bash_completion_of_git_flow_task(repo: Repo) -> None:
    script = repo.flow("completion", "bash").stdout
    assert "_git_flow_task_completion()" in script and "_git_flow_task()" in script
    out = _bash(repo, script, """
COMP_WORDS=(git-flow-task ep); COMP_CWORD=1
_git_flow_task_completion git-flow-task
printf '%s\\n' "${COMPREPLY[@]}"
COMPREPLY=()
COMP_WORDS=(git flow-task epic ar); COMP_CWORD=3
_git_flow_task
printf '%s\\n' "${COMPREPLY[@]}"
COMPREPLY=()
COMP_WORDS=(git flow-task graph --format ''); COMP_CWORD=4
_git_flow_task
printf '%s\\n' "${COMPREPLY[@]}"
""")
    assert out.split() == ["epic", "epics", "archive", "ascii", "mermaid", "dot"]


def test_bash_completion_through_gits_own_completion(repo: Repo) -> None:
    if not GIT_COMPLETION.exists():
        pytest.skip("git's bash completion is not installed")
    script = repo.flow("completion", "bash").stdout
    out = _bash(repo, f"source {GIT_COMPLETION}\n{script}", """
COMP_WORDS=(git flow-task critical-p); COMP_CWORD=2; COMP_LINE="git flow-task critical-p"
COMP_POINT=${#COMP_LINE}
__git_wrap__git_main
printf '%s\\n' "${COMPREPLY[@]}"
""")
    assert out.split() == ["critical-path"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_completion_scripts(repo: Repo, shell: str) -> None:
    script = repo.flow("completion", shell).stdout
    assert "_GIT_FLOW_TASK_COMPLETE" in script
    if shell == "zsh":
        assert "#compdef git-flow-task" in script and "_git-flow-task() {" in script
    else:
        assert "complete --no-files --command git-flow-task" in script
        assert "__fish_seen_subcommand_from flow-task" in script
    if shutil.which(shell):
        check = subprocess.run([shell, "-n"], input=script, capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    # what the scripts ask for, the program answers (the protocol is the same for every shell)
    answer = subprocess.run(
        ["git-flow-task"], cwd=repo.path, capture_output=True, text=True,
        env={**os.environ, "_GIT_FLOW_TASK_COMPLETE": f"{shell}_complete",
             "COMP_WORDS": "git-flow-task dep ", "COMP_CWORD": "2" if shell == "zsh" else ""})
    assert "add" in answer.stdout and "rm" in answer.stdout, answer


def _complete(repo: Repo, words: str, cwd: Path | None = None) -> list[str]:
    """What the program answers a bash completion script for the last of ``words``."""
    parts = words.split(" ")
    answer = subprocess.run(
        ["git-flow-task"], cwd=cwd or repo.path, capture_output=True, text=True,
        env={**os.environ, "_GIT_FLOW_TASK_COMPLETE": "bash_complete", "COMP_WORDS": words,
             "COMP_CWORD": str(len(parts) - 1)})
    assert answer.returncode == 0, answer.stderr
    lines = [line for line in answer.stdout.splitlines() if line]
    assert all(line.startswith("plain,") for line in lines), answer.stdout
    return [line.split(",", 1)[1] for line in lines]


def test_task_and_epic_ids_complete(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("epic", "create", "--title", "Billing")
    tasks = ["fn-1-add-oauth-login.1", "fn-1-add-oauth-login.2", "fn-1-add-oauth-login.3"]
    assert _complete(repo, "git-flow-task start fn-1") == tasks
    assert _complete(repo, "git-flow-task start fn-1-add-oauth-login.3") == tasks[2:]
    assert _complete(repo, "git-flow-task start fn-1.") == ["fn-1.1", "fn-1.2", "fn-1.3"]
    assert _complete(repo, "git-flow-task epic close ") == ["fn-1-add-oauth-login", "fn-2-billing"]
    assert _complete(repo, "git-flow-task ready --epic fn-2") == ["fn-2-billing"]
    assert _complete(repo, "git-flow-task show fn-") == ["fn-1-add-oauth-login", "fn-2-billing", *tasks]
    assert _complete(repo, "git-flow-task task create --epic fn-1 --title x --deps fn-1.1,fn-1.") \
        == ["fn-1.1,fn-1.1", "fn-1.1,fn-1.2", "fn-1.1,fn-1.3"]
    assert _complete(repo, "git-flow-task dep add fn-1.2 fn-1-add-oauth-login.") == tasks
    assert _complete(repo, "git-flow-task start fn-1.", cwd=repo.path / ".flow" / "tasks") \
        == ["fn-1.1", "fn-1.2", "fn-1.3"]  # from a subdirectory
    assert _complete(repo, "git-flow-task start fn-9") == []


def test_id_completion_outside_a_plan_offers_nothing(repo: Repo) -> None:
    assert _complete(repo, "git-flow-task start fn-") == []


def test_unknown_shell_is_a_usage_error(repo: Repo) -> None:
    assert "tcsh" in repo.refused("completion", "tcsh", code=2).stderr
