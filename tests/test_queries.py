"""Issue #3: ready, next, blocked, reading any revision, landed work, IDs everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Repo
from plans import PREFIX, clone, tid

import git_flowctl.cli as cli_module


def test_ready_has_flowctls_shape(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Standalone", "--priority", "0")
    repo.ok("block", "fn-1.4", "--reason", "waiting on legal")
    repo.ok("start", "fn-1.1")
    data = repo.ok("ready")
    assert data["epic"] is None and data["actor"] == "alice@example.com"
    assert data["ready"] == []
    assert data["in_progress"] == [{"id": tid(1), "title": "Design token schema",
                                    "assignee": "alice@example.com"}]
    blocked = {row["id"]: row for row in data["blocked"]}
    assert blocked[tid(4)]["blocked_by"] == ["status=blocked"]
    assert blocked[tid(2)]["blocked_by"] == [tid(1)]
    assert [row["id"] for row in data["blocked"]] == [tid(4), tid(2), tid(3)]  # priority order
    repo.ok("done", "fn-1.1")
    ready = repo.ok("ready", "--epic", "fn-1")
    assert [(row["id"], row["depends_on"]) for row in ready["ready"]] == [
        (tid(2), [tid(1)]), (tid(3), [tid(1)])]
    assert ready["epic"] == PREFIX
    human = repo.flow("ready")
    assert human.exit_code == 0 and f"{tid(2)}  Implement JWT middleware" in human.stdout


def test_next_gives_own_in_progress_first_then_lowest_priority(flow_repo: Repo) -> None:
    repo = flow_repo
    first = repo.ok("next")
    assert (first["status"], first["task"], first["reason"]) == ("work", tid(1), "ready_task")
    assert first["epic"] == PREFIX
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Urgent", "--priority", "0")
    assert repo.ok("next")["task"] == tid(4)
    repo.ok("start", "fn-1.1")
    mine = repo.ok("next")
    assert (mine["task"], mine["reason"]) == (tid(1), "resume_in_progress")
    bob = repo.ok("next", "--actor", "bob@example.com")
    assert (bob["task"], bob["reason"]) == (tid(4), "ready_task")
    carol = repo.ok("next", env={"FLOW_ACTOR": "carol"})
    assert carol["task"] == tid(4)
    human = repo.flow("next")
    assert human.stdout.startswith(f"resume {tid(1)}")


def test_next_passes_over_epics_whose_epic_dependencies_are_open(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("epic", "create", "--title", "Billing", "--deps", "fn-1")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Invoices", "--priority", "0")
    repo.ok("start", "fn-1.1")
    answer = repo.ok("next", "--actor", "bob")
    # fn-1 waits for nothing: its one startable task is in progress under another actor
    assert answer["status"] == "none" and answer["reason"] == "in_progress_elsewhere"
    assert answer["in_progress"] == [{"task": f"{PREFIX}.1", "assignee": "alice@example.com"}]
    assert answer["passed_over"] == [{"epic": "fn-2-billing", "waiting_on": [PREFIX]}]
    for task in ("fn-1.2", "fn-1.3"):
        repo.ok("skip", task, "--reason", "later")
    repo.ok("done", "fn-1.1")
    answer = repo.ok("next", "--actor", "bob")  # fn-1 is finished but open: close it
    assert (answer["reason"], answer["epic"]) == ("all_done_close_epic", PREFIX)
    assert answer["suggest"] == f"git flow-task epic close {PREFIX}"
    repo.ok("epic", "close", "fn-1")
    answer = repo.ok("next", "--actor", "bob")
    assert (answer["task"], answer["passed_over"]) == ("fn-2-billing.1", [])


def test_blocked_lists_why(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("task", "create", "--epic", "fn-1", "--title", "After 2", "--deps", "fn-1.2")
    repo.ok("block", "fn-1.1", "--reason", "needs a decision")
    data = repo.ok("blocked")
    rows = {row["id"]: row for row in data["blocked"]}
    assert rows[tid(1)]["status"] == "blocked" and rows[tid(1)]["reason"] == "needs a decision"
    assert rows[tid(2)]["status"] == "waiting" and rows[tid(2)]["waiting_on"] == {tid(1): "blocked"}
    assert data["count"] == 4
    repo.ok("unblock", "fn-1.1")
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    repo.ok("start", "fn-1.2")
    repo.ok("task", "edit", "fn-1.2", "--max-retries", "0")
    repo.ok("fail", "fn-1.2")
    rows = {row["id"]: row for row in repo.ok("blocked")["blocked"]}
    assert rows[tid(4)]["status"] == "upstream_failed" and rows[tid(4)]["blocked_by"] == [tid(2)]
    human = repo.flow("blocked")
    assert f"{tid(4)}  upstream_failed" in human.stdout and f"{tid(2)} (failed)" in human.stdout


# Reading any revision -----------------------------------------------------------------------------


def test_status_at_head_3_equals_what_status_printed_three_transitions_ago(flow_repo: Repo) -> None:
    repo = flow_repo
    printed = [repo.flow("status", "--json").stdout]
    for args in (("start", "fn-1.1"), ("done", "fn-1.1"), ("start", "fn-1.2"), ("block", "fn-1.3", "--reason", "x")):
        repo.ok(*args)
        printed.append(repo.flow("status", "--json").stdout)
    assert len(set(printed)) == len(printed)  # every transition changed the report
    head, status = repo.head(), repo.status()
    for back in range(4):
        assert repo.flow("status", "--rev", f"HEAD~{back}", "--json").stdout == printed[-1 - back]
    assert repo.head() == head and repo.status() == status  # no checkout happened


READ_COMMANDS: list[list[str]] = [
    ["show", "fn-1.1"], ["task", "show", "fn-1.1"], ["epic", "show", "fn-1"], ["cat", "fn-1.1"],
    ["tasks"], ["list"], ["epics"], ["status"], ["ready"], ["next"], ["blocked"], ["graph"],
    ["critical-path"], ["config", "get", "max_retries"], ["log"], ["stats"],
    ["export"], ["prime"], ["board"], ["gap", "list"], ["gap", "check", "--epic", "fn-1"],
    ["files"], ["queue"], ["prompt", "fn-1.2"],
]
# Commands that do not read a plan, or read something other than a revision's tree.
# The integrity commands (issue #4) read trees their own way (validate --rev/--staged, check
# --base/--head, the hooks read the index git is writing) and are tested in test_validate.py,
# test_check.py and test_hooks.py.
# `recover` compares the work tree with history; its --rev is tested in tests/test_recover.py.
NOT_PLAN_READERS = {"help", "completion", "demo", "detect", "validate", "check", "hook", "hooks", "merge-driver",
                    "recover", "claims", "heartbeat",  # claims and heartbeat read claim refs
                    "doctor",
                    "invariants",  # .flow/invariants.md of the work tree, whose commands it runs
                    "guard",  # the work tree's guard commands, which it runs or trusts
                    "checkpoint",  # refs/flow/checkpoints/: a checkpoint is itself a revision
                    "mcp"}  # a server: its read tools take rev per call


def _commands(group: object, path: list[str]) -> list[tuple[list[str], object]]:
    import click

    assert isinstance(group, click.Group)
    ctx = click.Context(group, **group.context_settings)
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        found.append(([*path, name], command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, [*path, name]))
    return found


def test_every_read_command_takes_rev() -> None:
    import click

    readers = []
    for path, command in _commands(cli_module.cli, []):
        assert isinstance(command, click.Command)
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        if isinstance(command, click.Group) or "--dry-run" in options or path[0] in NOT_PLAN_READERS:
            continue
        readers.append(" ".join(path))
        assert "--rev" in options, (
            f"`{' '.join(path)}` reads the plan but takes no --rev: add it (cli.common.rev_option), "
            "or, if it reads no plan, list it in NOT_PLAN_READERS")
    assert sorted(readers) == sorted(" ".join(c[:2] if c[0] in ("task", "epic", "config", "gap") else c[:1])
                                     for c in READ_COMMANDS), "READ_COMMANDS misses a read command"


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c))
def test_read_commands_read_the_revision_from_git_objects(flow_repo: Repo, command: list[str]) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("config", "set", "max_retries", "5")
    repo.ok("done", "fn-1.1", "--summary", "Schema done")
    if command[0] == "config":
        repo.ok("config", "set", "max_retries", "7")
    if command[0] == "gap":
        repo.ok("gap", "add", "--epic", "fn-1", "--priority", "nice", "Dark mode")
    if command[0] == "files":
        repo.ok("task", "edit", "fn-1.2", "--files", "src/auth.py")
    head, status = repo.head(), repo.status()
    now = repo.flow(*command, "--json")
    at_head = repo.flow(*command, "--rev", "HEAD", "--json")
    before = repo.flow(*command, "--rev", "HEAD~1", "--json")
    assert now.exit_code == at_head.exit_code == before.exit_code == 0, (now, before)
    assert at_head.stdout == now.stdout
    assert before.stdout != now.stdout
    assert repo.head() == head and repo.status() == status
    unknown = repo.refused(*command, "--rev", "no-such-branch")
    assert "unknown revision 'no-such-branch'" in unknown.stderr


def test_rev_reads_another_branch_without_switching(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("checkout", "-q", "-b", "feature")
    repo.ok("start", "fn-1.1")
    repo.git("checkout", "-q", "main")
    assert repo.ok("show", "fn-1.1")["status"] == "todo"
    assert repo.ok("show", "fn-1.1", "--rev", "feature")["status"] == "in_progress"
    assert repo.ok("ready", "--rev", "feature")["in_progress"][0]["id"] == tid(1)
    assert repo.git("rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


# Landed -------------------------------------------------------------------------------------------


def test_done_here_and_on_the_default_branch_is_landed(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("checkout", "-q", "-b", "feature")
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    assert repo.ok("show", "fn-1.1")["landed"] is False
    assert repo.ok("status")["landed"] == []
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--ff-only", "feature")
    repo.git("checkout", "-q", "feature")
    repo.ok("start", "fn-1.2")
    repo.ok("done", "fn-1.2")
    shown = repo.ok("show", "fn-1.1")
    assert shown["landed"] is True and shown["default_branch"] == "main"
    assert repo.ok("show", "fn-1.2")["landed"] is False
    rows = {row["id"]: row["landed"] for row in repo.ok("tasks")["tasks"]}
    assert rows == {tid(1): True, tid(2): False, tid(3): False}
    status = repo.ok("status")
    assert status["landed"] == [tid(1)] and status["default_branch"] == "main"
    assert [t["landed"] for t in repo.ok("epic", "show", "fn-1")["tasks"]] == [True, False, False]
    human = repo.flow("tasks").stdout
    landed_line = next(line for line in human.splitlines() if line.startswith(tid(1)))
    other_line = next(line for line in human.splitlines() if line.startswith(tid(2)))
    assert "landed" in landed_line and "landed" not in other_line
    assert "landed on main" in repo.flow("show", "fn-1.1").stdout
    assert f"landed on main: {tid(1)}" in repo.flow("status").stdout
    # read from main: the same answer about the feature branch's revision
    repo.git("checkout", "-q", "main")
    assert repo.ok("status", "--rev", "feature")["landed"] == [tid(1)]


def test_landed_follows_the_remote_default_branch(flow_repo: Repo, tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    flow_repo.git("clone", "-q", "--bare", str(flow_repo.path), str(bare))
    work = clone(bare, tmp_path / "work")
    work.git("checkout", "-q", "-b", "feature")
    work.ok("start", "fn-1.1")
    work.ok("done", "fn-1.1")
    assert work.ok("status")["default_branch"] == "origin/main"
    assert work.ok("status")["landed"] == []
    work.git("push", "-q", "origin", "feature")
    reviewer = clone(bare, tmp_path / "reviewer")
    reviewer.git("merge", "-q", "--ff-only", "origin/feature")
    reviewer.git("push", "-q", "origin", "main")
    assert work.ok("status")["landed"] == []  # not fetched yet: origin/main is what we know
    work.git("fetch", "-q")
    assert work.ok("status")["landed"] == [tid(1)]
    assert work.ok("show", "fn-1.1")["default_branch"] == "origin/main"


# IDs ----------------------------------------------------------------------------------------------

SAME_ID_READS = [["show", "{task}"], ["task", "show", "{task}"], ["cat", "{task}"],
                 ["epic", "show", "{epic}"], ["tasks", "--epic", "{epic}"], ["ready", "--epic", "{epic}"],
                 ["next", "--epic", "{epic}"], ["blocked", "--epic", "{epic}"],
                 ["graph", "--epic", "{epic}"], ["critical-path", "--epic", "{epic}"]]
SAME_ID_WRITES = [["start", "{task}", "--force"], ["block", "{task}", "--reason", "r"], ["skip", "{task}", "--reason", "r"],
                  ["dep", "add", "{task}", "fn-1.3"], ["dep", "rm", "{task}", "fn-1.1"],
                  ["task", "set-deps", "{task}", "--deps", "fn-1.3"], ["task", "edit", "{task}", "--title", "T"],
                  ["task", "split", "{task}", "--titles", "A|B"], ["epic", "close", "{epic}", "--force"],
                  ["epic", "add-dep", "fn-2", "{epic}"], ["task", "create", "--epic", "{epic}", "--title", "X"]]


def _fill(args: list[str], task: str, epic: str) -> list[str]:
    return [arg.format(task=task, epic=epic) for arg in args]


@pytest.mark.parametrize("command", SAME_ID_READS + SAME_ID_WRITES, ids=lambda c: " ".join(c[:2]))
def test_short_and_full_ids_name_the_same_thing_everywhere(flow_repo: Repo, command: list[str]) -> None:
    repo = flow_repo
    repo.ok("epic", "create", "--title", "Billing")
    dry = [] if command in SAME_ID_READS else ["--dry-run"]
    short = repo.flow(*_fill(command, "fn-1.2", "fn-1"), *dry, "--json")
    full = repo.flow(*_fill(command, tid(2), PREFIX), *dry, "--json")
    assert short.exit_code == full.exit_code == 0, (short, full)
    if dry:
        assert json.loads(short.stdout)["diff"] == json.loads(full.stdout)["diff"] != ""
    else:
        assert short.stdout == full.stdout


@pytest.mark.parametrize("command", SAME_ID_READS + SAME_ID_WRITES, ids=lambda c: " ".join(c[:2]))
def test_an_absent_id_exits_1_and_says_so(flow_repo: Repo, command: list[str]) -> None:
    repo = flow_repo
    repo.ok("epic", "create", "--title", "Billing")
    head = repo.head()
    result = repo.flow(*_fill(command, "fn-9.1", "fn-9"), "--json")
    assert result.exit_code == 1, result
    assert result.json["error"] in ("no task 'fn-9.1'", "no epic 'fn-9'")
    assert repo.head() == head
    human = repo.refused(*_fill(command, "fn-9.1", "fn-9"))
    assert human.stderr.startswith(("error: no task 'fn-9.1'", "error: no epic 'fn-9'"))


def test_an_ambiguous_short_form_lists_the_candidates(flow_repo: Repo) -> None:
    repo = flow_repo
    epic_text = repo.read(f".flow/epics/{PREFIX}.md").replace(PREFIX, "fn-1-other-work")
    repo.write(".flow/epics/fn-1-other-work.md", epic_text)
    task_text = repo.read(f".flow/tasks/{tid(1)}.md").replace(PREFIX, "fn-1-other-work")
    repo.write(".flow/tasks/fn-1-other-work.1.md", task_text)
    repo.commit_all("a collision, as a merge of two branches makes it")
    for ref, candidates in (("fn-1", [PREFIX, "fn-1-other-work"]),
                            ("fn-1.1", [tid(1), "fn-1-other-work.1"])):
        result = repo.flow("show", ref, "--json")
        assert result.exit_code == 1
        assert result.json["candidates"] == candidates
        assert all(candidate in result.json["error"] for candidate in candidates)
        assert "renumber" in result.json["hint"]
    assert repo.ok("show", "fn-1-other-work.1")["id"] == "fn-1-other-work.1"


def test_ready_does_not_offer_a_task_whose_epic_waits_on_an_open_epic(flow_repo: Repo) -> None:
    repo = flow_repo
    later = repo.ok("epic", "create", "--title", "Later", "--deps", "fn-1")["id"]
    task = repo.ok("task", "create", "--epic", later, "--title", "Waits for fn-1")["id"]
    report = repo.ok("ready")
    assert task not in [row["id"] for row in report["ready"]]
    blocked = {row["id"]: row["blocked_by"] for row in report["blocked"]}
    assert blocked[task] == ["epic=fn-1-add-oauth-login"]
    assert repo.ok("next", "--epic", later)["reason"] == "blocked_by_epic_deps"
