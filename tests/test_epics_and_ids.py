"""Issue #3: epic set-plan and archive; epic numbers across branches; renumber after a merge."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import Repo
from plans import PREFIX, clone, tid


def _close_fn1(repo: Repo) -> None:
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    repo.ok("skip", "fn-1.2", "--reason", "later")
    repo.ok("skip", "fn-1.3", "--reason", "later")
    repo.ok("epic", "close", "fn-1")


# set-plan -----------------------------------------------------------------------------------------


def test_set_plan_from_stdin_keeps_sections_and_fills_missing_ones(flow_repo: Repo) -> None:
    repo = flow_repo
    plan_text = ("## Overview\nLogin with OAuth.\n\n## Approach\n```md\n## not a heading\n```\n\n"
                 "## Quick commands\nmake test\n")
    data = repo.ok("epic", "set-plan", "fn-1", "--file", "-", input=plan_text)
    assert data["sections"] == ["Overview", "Approach", "Quick commands", "Scope", "Acceptance",
                                "References"]
    body = repo.ok("cat", "fn-1")["body"]
    assert body.startswith("## Overview\nLogin with OAuth.\n\n## Approach\n```md\n## not a heading\n```")
    assert "## Scope\nTBD\n" in body
    assert "Flow-Transition" not in repo.message()
    front = repo.read(f".flow/epics/{PREFIX}.md").split("---")[1]
    assert "status: open" in front  # frontmatter untouched


def test_set_plan_one_section_from_a_file(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    source = tmp_path / "approach.md"
    source.write_text("Use the provider's SDK.\n")
    repo.ok("epic", "set-plan", "fn-1", "--file", str(source), "--section", "approach")
    body = repo.ok("cat", "fn-1")["body"]
    assert "## Approach\nUse the provider's SDK.\n" in body and "## Overview\nTBD" in body
    result = repo.refused("epic", "set-plan", "fn-1", "--file", "-", input="just words\n", code=2)
    assert "no `## ` sections" in result.stderr
    missing = repo.refused("epic", "set-plan", "fn-1", "--file", str(tmp_path / "nope.md"), code=2)
    assert "cannot read the plan" in missing.stderr


# archive ------------------------------------------------------------------------------------------


def test_archive_moves_a_closed_epic_in_one_commit(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("epic", "create", "--title", "Billing")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Charge", "--deps", "fn-1.1")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Refund", "--deps", "fn-1.2",
            "--trigger-rule", "none_failed_min_one_success")
    head = repo.head()
    refused = repo.refused("epic", "archive", "fn-1")
    assert "it is open" in refused.stderr and "epic close" in refused.stderr
    assert repo.head() == head
    _close_fn1(repo)
    before = repo.head()
    data = repo.ok("epic", "archive", "fn-1")
    assert data["archived"] == [PREFIX, tid(1), tid(2), tid(3)]
    assert data["depended_on_by"] == ["fn-2-billing.1", "fn-2-billing.2"]
    assert repo.git("rev-list", "--count", f"{before}..HEAD").strip() == "1"
    renames = repo.git("diff", "--name-status", "-M", "HEAD~1", "HEAD").splitlines()
    assert sorted(renames) == sorted(
        f"R100\t.flow/{kind}/{name}.md\t.flow/archive/{kind}/{name}.md"
        for kind, name in (("epics", PREFIX), ("tasks", tid(1)), ("tasks", tid(2)), ("tasks", tid(3))))
    message = repo.message()
    assert [line for line in message.splitlines() if line.startswith("Flow-")] == [
        f"Flow-Archive: {name}" for name in (PREFIX, tid(1), tid(2), tid(3))]
    assert repo.status() == ""
    # gone from the live views, still readable
    assert [e["id"] for e in repo.ok("epics")["epics"]] == ["fn-2-billing"]
    assert tid(1) not in [t["id"] for t in repo.ok("tasks")["tasks"]]
    shown = repo.ok("show", "fn-1.2")
    assert shown["archived"] is True and shown["status"] == "skipped"
    assert repo.ok("show", "fn-1")["archived"] is True
    # read-only
    refused = repo.refused("reopen", "fn-1.2")
    assert "archived" in refused.stderr and "read-only" in refused.stderr
    # an archived task counts as it was archived: done satisfies, skipped satisfies all_success
    ready = {row["id"] for row in repo.ok("ready")["ready"]}
    assert ready == {"fn-2-billing.1"}  # .2 needs one success; its only dependency was skipped
    repo.ok("task", "edit", "fn-2.2", "--trigger-rule", "all_success")
    assert repo.ok("show", "fn-2.2")["view_state"] == "ready"
    # new work may still name an archived task
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Audit", "--deps", "fn-1.1")
    assert repo.ok("show", "fn-2.3")["view_state"] == "ready"
    # the number stays taken
    assert repo.ok("epic", "create", "--title", "Next")["id"] == "fn-3-next"


def test_archived_epic_dependency_counts_as_closed(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("epic", "create", "--title", "Billing", "--deps", "fn-1")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Charge")
    assert repo.ok("next", "--actor", "bob")["reason"] == "ready_task"  # fn-1 work comes first
    _close_fn1(repo)
    repo.ok("epic", "archive", "fn-1")
    answer = repo.ok("next")
    assert answer["task"] == "fn-2-billing.1" and answer["passed_over"] == []
    repo.ok("start", "fn-2.1")
    repo.ok("done", "fn-2.1")
    repo.ok("epic", "close", "fn-2")


# IDs at scale -------------------------------------------------------------------------------------


def test_new_epic_numbers_see_every_local_branch_and_the_archive(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("checkout", "-q", "-b", "feature")
    assert repo.ok("epic", "create", "--title", "Feature")["id"] == "fn-2-feature"
    repo.git("checkout", "-q", "-b", "side", "main")
    assert repo.ok("epic", "create", "--title", "Side")["id"] == "fn-3-side"
    repo.git("checkout", "-q", "main")
    assert not (repo.path / ".flow/epics/fn-2-feature.md").exists()
    assert repo.ok("epic", "create", "--title", "Main")["id"] == "fn-4-main"
    # a number archived on a branch that is not checked out stays taken too
    repo.git("checkout", "-q", "-b", "archiver")
    repo.ok("epic", "create", "--title", "Short lived")  # fn-5
    repo.ok("epic", "close", "fn-5")
    repo.ok("epic", "archive", "fn-5")
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "-D", "feature", "side")
    assert repo.ok("epic", "create", "--title", "Later")["id"] == "fn-6-later"


def test_new_epic_numbers_see_remote_tracking_branches(flow_repo: Repo, tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    flow_repo.git("clone", "-q", "--bare", str(flow_repo.path), str(bare))
    alice = clone(bare, tmp_path / "alice")
    bob = clone(bare, tmp_path / "bob")
    alice.git("checkout", "-q", "-b", "alice-work")
    alice.ok("epic", "create", "--title", "Payments")
    alice.git("push", "-q", "origin", "alice-work")
    bob.git("fetch", "-q")
    assert bob.ok("epic", "create", "--title", "Search")["id"] == "fn-3-search"


def _colliding_clones(flow_repo: Repo, tmp_path: Path) -> Repo:
    """Two clones create epic 2 before either sees the other; one merges the other's work."""
    bare = tmp_path / "origin.git"
    flow_repo.git("clone", "-q", "--bare", str(flow_repo.path), str(bare))
    alice = clone(bare, tmp_path / "alice")
    bob = clone(bare, tmp_path / "bob")
    older = {"GIT_AUTHOR_DATE": "2026-01-01T09:00:00+00:00", "GIT_COMMITTER_DATE": "2026-01-01T09:00:00+00:00"}
    bob.ok("epic", "create", "--title", "Billing", env=older)  # the older of the two
    bob.ok("task", "create", "--epic", "fn-2", "--title", "Invoices")
    bob.git("push", "-q", "origin", "main")
    alice.ok("epic", "create", "--title", "Auth", "--deps", "fn-1")
    alice.ok("task", "create", "--epic", "fn-2", "--title", "Sessions", "--deps", "fn-1.1")
    alice.ok("task", "create", "--epic", "fn-2", "--title", "Tokens", "--deps", "fn-2.1",
             "--description", "Builds on fn-2-auth.1 and fn-2-auth, not fn-2-authx.")
    alice.ok("task", "create", "--epic", "fn-1", "--title", "Polish", "--deps", "fn-2.2")
    alice.ok("epic", "create", "--title", "Launch", "--deps", "fn-2")
    alice.git("pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    return alice


def test_renumber_repairs_a_collision_after_a_merge(flow_repo: Repo, tmp_path: Path) -> None:
    repo = _colliding_clones(flow_repo, tmp_path)
    ambiguous = repo.flow("show", "fn-2", "--json")
    assert ambiguous.exit_code == 1 and ambiguous.json["candidates"] == ["fn-2-auth", "fn-2-billing"]
    head, status = repo.head(), repo.status()
    dry = repo.ok("renumber", "--dry-run")
    assert dry["renamed"]["fn-2-auth"] == "fn-4-auth" and repo.head() == head and repo.status() == status
    data = repo.ok("renumber")
    assert data["collisions"] == [{"number": "fn-2", "epics": ["fn-2-auth", "fn-2-billing"]}]
    assert data["renamed"] == {"fn-2-auth": "fn-4-auth", "fn-2-auth.1": "fn-4-auth.1",
                               "fn-2-auth.2": "fn-4-auth.2"}
    assert repo.git("rev-list", "--count", f"{head}..HEAD").strip() == "1"
    trailers = [line for line in repo.message().splitlines() if line.startswith("Flow-Rename:")]
    assert trailers == ["Flow-Rename: fn-2-auth fn-4-auth", "Flow-Rename: fn-2-auth.1 fn-4-auth.1",
                        "Flow-Rename: fn-2-auth.2 fn-4-auth.2"]
    assert repo.status() == ""
    files = repo.git("ls-files", ".flow").split()
    assert not [f for f in files if "fn-2-auth" in f]
    assert {".flow/epics/fn-4-auth.md", ".flow/tasks/fn-4-auth.1.md", ".flow/tasks/fn-4-auth.2.md",
            ".flow/epics/fn-2-billing.md", ".flow/tasks/fn-2-billing.1.md"} <= set(files)
    # every reference follows
    assert repo.ok("show", "fn-2")["id"] == "fn-2-billing"
    moved = repo.ok("show", "fn-4.2")
    assert moved["epic"] == "fn-4-auth" and moved["depends_on"] == ["fn-4-auth.1"]
    assert moved["description"] == "Builds on fn-4-auth.1 and fn-4-auth, not fn-2-authx."
    assert repo.ok("show", "fn-1.4")["depends_on"] == ["fn-4-auth.2"]
    assert repo.ok("show", "fn-3")["depends_on_epics"] == ["fn-4-auth"]
    assert repo.ok("show", "fn-4")["depends_on_epics"] == [PREFIX]
    again = repo.ok("renumber")
    assert again["changed"] is False and again["renamed"] == {}
    # the file changes are minimal: the rewritten reference lines only
    diff = repo.git("show", "--format=", "-M", "HEAD", "--", ".flow/tasks/fn-1-add-oauth-login.4.md")
    assert [line for line in diff.splitlines() if re.match(r"^[-+][^-+]", line)] == [
        "-depends_on: [fn-2-auth.2]", "+depends_on: [fn-4-auth.2]"]


def test_renumber_one_epic_to_a_chosen_number(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("checkout", "-q", "-b", "elsewhere")
    repo.ok("epic", "create", "--title", "Elsewhere")  # takes 2 on another branch
    repo.git("checkout", "-q", "main")
    assert repo.ok("renumber")["message"].startswith("no epic number is used twice")
    taken = repo.refused("renumber", "fn-1", "--to", "2")
    assert "epic number 2 is taken" in taken.stderr
    data = repo.ok("renumber", "fn-1", "--to", "7")
    assert data["renamed"][PREFIX] == "fn-7-add-oauth-login"
    assert repo.ok("show", "fn-7.2")["depends_on"] == ["fn-7-add-oauth-login.1"]
    assert repo.ok("renumber", "fn-7")["renamed"]["fn-7-add-oauth-login"] == "fn-8-add-oauth-login"
    assert repo.refused("renumber", "--to", "9", code=2).exit_code == 2


def test_renumber_keeps_an_archived_number_and_moves_the_live_epic(flow_repo: Repo) -> None:
    repo = flow_repo
    _close_fn1(repo)
    repo.ok("epic", "archive", "fn-1")
    text = repo.read(f".flow/archive/epics/{PREFIX}.md").replace(PREFIX, "fn-1-revived").replace(
        "status: done", "status: open")
    repo.write(".flow/epics/fn-1-revived.md", text)
    repo.commit_all("a branch that never saw the archive brought fn-1 back")
    data = repo.ok("renumber")
    assert data["renamed"] == {"fn-1-revived": "fn-2-revived"}


@pytest.mark.parametrize("command", [["epic", "close", "fn-1"], ["epic", "archive", "fn-1"]])
def test_epic_commands_refuse_unknown_epics(flow_repo: Repo, command: list[str]) -> None:
    result = flow_repo.refused(*command[:-1], "fn-9")
    assert "no epic 'fn-9'" in result.stderr


def test_archive_and_renumber_trailers_parse_and_survive_no_commit(flow_repo: Repo) -> None:
    from git_flowctl.model.trailers import Archive, Rename, parse_message

    repo = flow_repo
    _close_fn1(repo)
    data = repo.ok("epic", "archive", "fn-1", "--no-commit")
    assert data["trailers"] == [f"Flow-Archive: {name}" for name in (PREFIX, tid(1), tid(2), tid(3))]
    assert sorted(repo.status().splitlines()) == sorted(
        f"R  .flow/{kind}/{name}.md -> .flow/archive/{kind}/{name}.md"
        for kind, name in (("epics", PREFIX), ("tasks", tid(1)), ("tasks", tid(2)), ("tasks", tid(3))))
    pending = (repo.path / ".git" / "flow-pending-trailers.json").read_text()
    assert f"Flow-Archive: {tid(2)}" in pending
    message = "flow: x\n\nFlow-Rename: fn-2-a fn-4-a\nFlow-Archive: fn-1-b.3\nFlow-Rename: only-one\n"
    parsed = parse_message(message)
    assert parsed.renames == [Rename("fn-2-a", "fn-4-a")] and parsed.archived == ["fn-1-b.3"]
    assert [m.reason for m in parsed.malformed] == ["expected `<old-id> <new-id>`"]
    assert Archive("fn-1-b.3").line() == "Flow-Archive: fn-1-b.3"
    git_view = repo.git("interpret-trailers", "--parse", input=message)
    assert "Flow-Rename: fn-2-a fn-4-a" in git_view and "Flow-Archive: fn-1-b.3" in git_view
