"""flowctl's words still work, typos get git's suggestions, and no command prints the short help
(issue #12, items 3 and 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Repo, make_repo

from git_flowctl.cli import COMMANDS, compat

# Every flowctl 0.26 command of ../shared/FLOWCTL-REFERENCE.md with what it must do here: run
# (exit 0 in the fixture plan below) or stop with exit 2 naming the command that does it.
FLOWCTL_COMMANDS_THAT_WORK: list[tuple[str, ...]] = [
    ("detect",),
    ("status",),
    ("epic", "create", "--title", "Billing", "--branch", "feat/billing"),
    ("epic", "set-plan", "fn-1", "--file", "PLAN"),
    ("epic", "set-title", "fn-1", "--title", "OAuth login, reworked"),
    ("epic", "set-branch", "fn-1", "--branch", "feat/oauth"),
    ("epic", "add-dep", "fn-2", "fn-1"),
    ("epic", "rm-dep", "fn-2", "fn-1"),
    ("task", "create", "--epic", "fn-1", "--title", "Docs", "--deps", "fn-1.1", "--priority", "3",
     "--acceptance-file", "ACCEPTANCE"),
    ("task", "set-description", "fn-1.2", "--file", "DESCRIPTION"),
    ("task", "set-acceptance", "fn-1.2", "--file", "ACCEPTANCE"),
    ("task", "set-deps", "fn-1.3", "--deps", "fn-1.1"),
    ("dep", "add", "fn-1.4", "fn-1.2"),
    ("dep", "rm", "fn-1.4", "fn-1.2"),
    ("task", "split", "fn-1.4", "--titles", "A|B", "--chain"),
    ("show", "fn-1"), ("show", "fn-1.1"), ("cat", "fn-1.1"),
    ("epics",), ("tasks", "--epic", "fn-1", "--status", "todo"), ("list",),
    ("ready", "--epic", "fn-1"), ("next",),
    ("start", "fn-1.1", "--note", "picking this up"),
    ("done", "fn-1.1", "--summary-file", "SUMMARY", "--evidence-json", "EVIDENCE"),
    ("start", "fn-1.2"),
    ("block", "fn-1.2", "--reason-file", "REASON"),
    ("task", "skip", "fn-1.3", "--reason", "not needed"),
    ("validate", "--epic", "fn-1"), ("validate", "--all"),
    ("config", "get", "prefix"), ("config", "set", "slug_max", "30"),
    ("epic", "close", "fn-2"),
    ("gap", "add", "--epic", "fn-1", "--capability", "Audit log", "--priority", "nice-to-have",
     "--source", "review"),
    ("gap", "list", "--epic", "fn-1", "--status", "open"),
    ("gap", "resolve", "--epic", "fn-1", "--capability", "Audit log", "--evidence", "logged"),
    ("gap", "check", "--epic", "fn-1"),
    ("checkpoint", "save", "--epic", "fn-1"),
    ("checkpoint", "restore", "--epic", "fn-1"),
    ("checkpoint", "delete", "--epic", "fn-1"),
    ("queue",), ("worker-prompt", "fn-1.2"), ("restart", "fn-1.1", "--dry-run"),
]

# flowctl path -> a word the one-line answer must contain (the command that does it here).
FLOWCTL_COMMANDS_THAT_POINT: dict[tuple[str, ...], str] = {
    ("task", "reset", "fn-1.1"): "restart",
    ("task", "set-spec", "fn-1.1", "--file", "x"): "task edit",
    ("epic", "set-plan-review-status", "fn-1", "--status", "ship"): "review",
    ("state-path",): "log",
    ("migrate-state",): "import flowctl",
    ("memory",): "not part of git flow-task",
    ("prep-chat",): "prime",
    ("rp",): "not part of git flow-task",
    ("codex",): "not part of git flow-task",
    ("ralph",): "run",
    ("review-backend",): "not part of git flow-task",
}


@pytest.fixture
def flowctl_user(flow_repo: Repo, tmp_path: Path) -> Repo:
    files = {"PLAN": "## Overview\nLog in with OAuth.\n", "DESCRIPTION": "Write the middleware.\n",
             "ACCEPTANCE": "- [ ] tokens verified\n", "SUMMARY": "Schema designed.\n",
             "EVIDENCE": '{"commits": ["abc1234"], "tests": ["pytest -q"]}', "REASON": "waiting on keys\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    flow_repo.tmp = tmp_path  # type: ignore[attr-defined]
    return flow_repo


def test_every_flowctl_command_works_under_its_name(flowctl_user: Repo) -> None:
    tmp: Path = flowctl_user.tmp  # type: ignore[attr-defined]
    for command in FLOWCTL_COMMANDS_THAT_WORK:
        args = [str(tmp / word) if word.isupper() else word for word in command]
        result = flowctl_user.flow(*args, "--json")
        assert result.exit_code == 0, (command, result)
        assert result.json["success"] is True
    epic = flowctl_user.read(".flow/epics/fn-1-add-oauth-login.md")
    assert "title: OAuth login, reworked" in epic and "branch: feat/oauth" in epic
    task = flowctl_user.read(".flow/tasks/fn-1-add-oauth-login.2.md")
    assert "Write the middleware." in task and "- [ ] tokens verified" in task
    assert "status: blocked" in task and "blocked_reason: waiting on keys" in task
    assert "status: skipped" in flowctl_user.read(".flow/tasks/fn-1-add-oauth-login.3.md")
    log = flowctl_user.git("log", "--format=%B")
    assert "picking this up" in log  # start --note became the commit's -m text


@pytest.mark.parametrize("command", sorted(FLOWCTL_COMMANDS_THAT_POINT), ids=" ".join)
def test_flowctl_commands_without_a_counterpart_name_one(flow_repo: Repo, command: tuple[str, ...]) -> None:
    result = flow_repo.refused(*command, code=2)
    message = result.stderr.strip().splitlines()
    assert len(message) == 1 and message[0].startswith("error: flowctl's"), result
    assert FLOWCTL_COMMANDS_THAT_POINT[command] in message[0]
    assert flow_repo.refused(*command, "--json", code=2).json["success"] is False


def test_a_redirect_never_names_a_command_that_does_not_exist() -> None:
    for text in compat.REDIRECTS.values():
        for named in _backquoted_commands(text):
            assert named in COMMANDS or named in ("task", "epic"), (named, text)


def _backquoted_commands(text: str) -> list[str]:
    words = []
    for part in text.split("`")[1::2]:
        tokens = part.split()
        if tokens[:2] == ["git", "flow-task"] and len(tokens) > 2:
            words.append(tokens[2])
    return words


@pytest.mark.parametrize(("typed", "meant"), [("strat", "start"), ("stauts", "status"),
                                               ("shwo", "show"), ("valdate", "validate"),
                                               ("nxt", "next")])
def test_typos_get_gits_suggestion(flow_repo: Repo, typed: str, meant: str) -> None:
    result = flow_repo.refused(typed, "fn-1.1", code=2)
    assert f"did you mean `git flow-task {meant}`?" in result.stderr
    data = flow_repo.refused(typed, "--json", code=2).json
    assert meant in data["suggestions"]


def test_a_typo_in_a_subcommand_and_an_option(flow_repo: Repo) -> None:
    assert "`git flow-task task create`" in flow_repo.refused("task", "craete", code=2).stderr
    result = flow_repo.refused("start", "fn-1.1", "--forse", code=2)
    assert "did you mean `--force`?" in result.stderr
    far = flow_repo.refused("start", "fn-1.1", "--xyzzy", code=2)
    assert "did you mean" not in far.stderr and "`git flow-task start -h`" in far.stderr


def test_nothing_close_suggests_nothing(flow_repo: Repo) -> None:
    result = flow_repo.refused("xylophone", code=2)
    assert "did you mean" not in result.stderr
    assert "`git flow-task -h` lists the commands" in result.stderr


def test_usage_hints_say_dash_h_because_git_turns_help_into_the_man_page(flow_repo: Repo) -> None:
    result = flow_repo.refused("start", code=2)
    assert "`git flow-task start -h`" in result.stderr and "--help" not in result.stderr


def test_no_arguments_print_the_short_help(flow_repo: Repo) -> None:
    result = flow_repo.refused(code=2)
    assert result.stdout.startswith("Usage: git flow-task") and "Commands:" in result.stdout
    assert "error" not in result.stderr
    data = flow_repo.refused("--json", code=2).json
    assert data["success"] is False and "start" in data["commands"]


def test_the_console_script_with_no_arguments(flow_repo: Repo) -> None:
    result = flow_repo.proc()
    assert result.returncode == 2 and result.stdout.startswith("Usage: git flow-task")


def test_git_distance_matches_gits_weights() -> None:
    assert compat.git_distance("strat", "start") == 0  # one swap costs nothing
    assert compat.git_distance("stats", "status") == 1  # one insertion
    assert compat.git_distance("statuss", "status") == 3  # one deletion
    assert compat.git_distance("stbrt", "start") == 2  # one substitution
    assert compat.suggest("st", ["start", "status", "show"]) == ["start", "status"]
    assert compat.suggest("zzzzzzzz", ["start"]) == []


def test_options_after_a_double_dash_are_never_rewritten() -> None:
    assert compat.translate(["start", "fn-1.1", "--", "--note", "x"]) == ["start", "fn-1.1", "--", "--note", "x"]
    assert compat.translate(["block", "fn-1.1", "--reason-file=-"]) == ["block", "fn-1.1", "--reason", "-"]
    assert compat.translate(["task", "skip", "x", "--reason", "r"]) == ["skip", "x", "--reason", "r"]


def test_epic_edit_keeps_the_id_and_records_no_transition(flow_repo: Repo) -> None:
    data = flow_repo.ok("epic", "edit", "fn-1", "--title", "Sign in", "--priority", "2")
    assert data["id"] == "fn-1-add-oauth-login" and data["edited"] == ["title", "priority"]
    assert "Flow-Transition" not in flow_repo.message()
    assert flow_repo.ok("epic", "edit", "fn-1", "--priority", "none")["edited"] == ["priority"]
    assert "priority" not in flow_repo.read(".flow/epics/fn-1-add-oauth-login.md")
    assert flow_repo.refused("epic", "edit", "fn-1", code=2).stderr.startswith("error: nothing to edit")
    assert "cannot be empty" in flow_repo.refused("epic", "edit", "fn-1", "--title", " ", code=2).stderr


def test_detect_answers_flowctls_fields(flow_repo: Repo, tmp_path: Path) -> None:
    data = flow_repo.ok("detect")
    assert data["exists"] is True and data["valid"] is True
    assert data["path"] == str(flow_repo.path / ".flow")
    flow_repo.write(".flow/tasks/fn-1-add-oauth-login.1.md", "---\nid: [broken\n---\n")
    data = flow_repo.ok("detect")
    assert data["exists"] is True and data["valid"] is False and data["errors"] >= 1
    empty = make_repo(tmp_path / "empty")
    data = empty.ok("detect")
    assert data["exists"] is False and data["valid"] is False


def test_check_github_format_reports_a_fatal_error_as_an_annotation(flow_repo: Repo) -> None:
    result = flow_repo.refused("check", "--base", "no-such-branch", "--format", "github")
    assert result.stdout.startswith("::error title=git flow-task check::unknown revision 'no-such-branch'")
    assert "hint: fetch it first" in result.stdout.replace("(hint: ", "hint: ")
