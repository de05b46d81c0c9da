"""Issue #5: `recover` compares files with history, explains each difference, repairs."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import Repo

from git_flowctl.model.document import Document
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.sources import TreeSource, WorkTreeSource
from git_flowctl.repo.workspace import Workspace

TASK = ".flow/tasks/fn-1-add-oauth-login.{}.md"


def _ten_tasks_twenty_transitions(repo: Repo) -> None:
    repo.ok("init")
    repo.ok("config", "set", "retry_backoff.base", "0")  # a failed task starts again at once
    repo.ok("epic", "create", "--title", "Add OAuth login")
    repo.ok("epic", "create", "--title", "Billing")
    for number in range(1, 8):
        deps = ["--deps", f"fn-1.{number - 1}"] if number > 1 else []
        repo.ok("task", "create", "--epic", "fn-1", "--title", f"Step {number}", *deps,
                "--priority", str(number), "--description", f"Body of step {number}\n\n```\n## not a heading\n```")
    for number in range(1, 4):
        repo.ok("task", "create", "--epic", "fn-2", "--title", f"Invoice {number}")
    transitions = [
        ("start", "fn-1.1"), ("done", "fn-1.1", "--summary", "schema in", "--evidence", "commits=a1"),
        ("start", "fn-1.2"), ("done", "fn-1.2"), ("start", "fn-1.3"), ("block", "fn-1.3", "--reason", "API"),
        ("unblock", "fn-1.3"), ("start", "fn-1.3"), ("fail", "fn-1.3", "--reason", "flaky"),
        ("start", "fn-1.3"), ("done", "fn-1.3"), ("reopen", "fn-1.3"), ("skip", "fn-2.1", "--reason", "n/a"),
        ("start", "fn-2.2"), ("release", "fn-2.2"), ("start", "fn-2.2"), ("done", "fn-2.2"),
        ("start", "fn-2.3"), ("block", "fn-2.3", "--reason", "legal"), ("start", "fn-1.4", "--force"),
    ]
    for args in transitions:
        repo.ok(*args)
    assert len(transitions) == 20


def _snapshot(repo: Repo) -> dict[str, bytes]:
    root = repo.path / ".flow"
    return {str(p.relative_to(repo.path)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rm_rf_flow_then_recover_apply_brings_back_every_file(repo: Repo) -> None:
    _ten_tasks_twenty_transitions(repo)
    before = _snapshot(repo)
    assert len([p for p in before if "/tasks/" in p]) == 10
    head = repo.head()

    shutil.rmtree(repo.path / ".flow")  # not committed: HEAD still has every file
    report = repo.ok("recover")
    assert report["applied"] is False and len(report["divergences"]) == 13  # 10 + 2 epics + config
    assert {d["kind"] for d in report["divergences"]} == {"deleted"}
    assert all(d["evidence"] == "deleted in the working tree (not committed)"
               for d in report["divergences"])
    assert not (repo.path / ".flow").exists()  # a dry run writes nothing

    applied = repo.ok("recover", "--apply")
    assert applied["applied"] is True and applied["commit"] is None  # nothing to commit
    assert _snapshot(repo) == before and repo.head() == head and repo.status() == ""

    # Committed: the deletion is in history; recover restores everything in one commit.
    repo.git("rm", "-r", "-q", ".flow")
    repo.git("commit", "-q", "-m", "remove the plan")
    deletion = repo.head()
    report = repo.ok("recover")
    assert {d["commit"] for d in report["divergences"]} == {deletion}
    applied = repo.ok("recover", "--apply")
    assert applied["commit"] == repo.head() and repo.git("rev-parse", "HEAD~1").strip() == deletion
    assert len(applied["restored"]) == 13
    assert _snapshot(repo) == before and repo.status() == ""
    changed = repo.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").split()
    assert sorted(changed) == sorted(before)
    message = repo.message()
    assert message.count("action=recover") == 12  # every task and epic; config has no state
    assert "Flow-Transition: fn-1-add-oauth-login.3 none->todo action=recover" in message
    ws = Workspace(repo.path)
    plan = Plan.load(WorkTreeSource(ws.root), strict=True)
    assert len(plan.tasks) == 10 and len(plan.epics) == 2
    assert plan.task("fn-1.3").status == "todo" and plan.task("fn-1.4").status == "in_progress"
    assert plan.task("fn-1.5").depends_on == ["fn-1-add-oauth-login.4"]
    assert "## not a heading" in (plan.task("fn-1.2").doc.section("Description") or "")
    assert repo.ok("recover")["clean"] is True
    assert repo.ok("validate")["success"] is True
    assert repo.ok("check", "--base", deletion)["success"] is True  # the recover commit passes CI


def test_a_hand_edit_to_done_without_a_trailer_is_reported_with_its_commit(flow_repo: Repo) -> None:
    repo = flow_repo
    path = repo.path / TASK.format(2)
    path.write_text(path.read_text().replace("status: todo", "status: done"))
    repo.commit_all("mark it done")
    edit = repo.head()

    report = repo.ok("recover")
    [divergence] = report["divergences"]
    assert divergence["kind"] == "status" and divergence["id"] == "fn-1-add-oauth-login.2"
    assert (divergence["file_status"], divergence["history_status"]) == ("done", "todo")
    assert divergence["commit"] == edit
    assert f"{edit[:7]} changed it todo->done without a Flow-Transition trailer" == divergence["evidence"]
    [problem] = report["problems"]
    assert (problem["kind"], problem["commit"], problem["from"], problem["to"]) == (
        "untracked_change", edit, "todo", "done")
    human = repo.flow("recover")
    assert human.exit_code == 0 and edit[:7] in human.stdout

    applied = repo.ok("recover", "--apply")
    assert applied["updated"] == [TASK.format(2)]
    assert "Flow-Transition: fn-1-add-oauth-login.2 done->todo action=recover" in repo.message()
    assert "status: todo" in path.read_text() and repo.status() == ""
    assert repo.ok("recover")["clean"] is True  # the later recover settles the old edit
    assert repo.ok("validate")["success"] is True
    assert repo.ok("check", "--base", edit)["success"] is True


def test_an_uncommitted_edit_is_named_and_not_overwritten(flow_repo: Repo) -> None:
    repo = flow_repo
    path = repo.path / TASK.format(1)
    path.write_text(path.read_text().replace("status: todo", "status: done") + "my notes\n")
    report = repo.ok("recover")
    [divergence] = report["divergences"]
    assert divergence["commit"] is None and "uncommitted edit" in divergence["evidence"]
    head = repo.head()
    refused = repo.refused("recover", "--apply")
    assert "uncommitted edits" in refused.stderr
    assert repo.head() == head and "my notes" in path.read_text()


def test_a_trailer_without_its_change_is_reported(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("commit", "-q", "--allow-empty", "-m",
             "pretend\n\nFlow-Transition: fn-1-add-oauth-login.1 todo->in_progress action=start "
             "by=x id=01JD3Q6X5M3N8Q2R7T9VWXYZ9Z")
    fake = repo.head()
    report = repo.ok("recover")
    problems = {(p["kind"], p["commit"]): p["message"] for p in report["problems"]}
    assert "not believed" in problems[("trailer_without_change", fake)]
    # History believes the tree, not the line: the task is still todo, nothing to repair.
    assert report["divergences"] == []
    assert repo.ok("recover", "--apply")["commit"] is None
    assert repo.ok("show", "fn-1.1")["status"] == "todo"
    assert [e["to"] for e in repo.ok("log", "fn-1.1")["events"]] == ["todo"]


def test_archived_files_are_not_deleted_and_malformed_lines_do_not_crash(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    archive = repo.path / ".flow" / "archive" / "fn-1-add-oauth-login" / "tasks"
    archive.mkdir(parents=True)
    (repo.path / TASK.format(1)).rename(archive / "fn-1-add-oauth-login.1.md")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "archive\n\nFlow-Transition: fn-1.1 in_progress->done by=me")
    report = repo.ok("recover")
    assert report["divergences"] == []
    assert [(p["kind"], p["message"]) for p in report["problems"]] == [
        ("malformed", "line 3: missing action=: Flow-Transition: fn-1.1 in_progress->done by=me")]


def test_a_file_history_knows_nothing_about_is_adopted(flow_repo: Repo) -> None:
    repo = flow_repo
    text = (repo.path / TASK.format(3)).read_text()
    repo.write(TASK.format(4), text.replace(".3", ".4").replace("Add login UI", "Hand made")
               .replace("status: todo", "status: blocked"))
    repo.commit_all("hand made task")
    added = repo.head()
    [divergence] = repo.ok("recover")["divergences"]
    assert (divergence["kind"], divergence["commit"], divergence["file_status"]) == (
        "untracked_file", added, "blocked")
    repo.ok("recover", "--apply")
    assert "fn-1-add-oauth-login.4 blocked->blocked action=recover" in repo.message()
    assert repo.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD") == ""
    assert repo.ok("recover")["clean"] is True
    assert repo.ok("check", "--base", added)["success"] is True


def test_rev_compares_that_revisions_files_and_apply_refuses_it(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.git("rm", "-q", TASK.format(1))
    repo.git("commit", "-q", "-m", "drop")
    assert repo.ok("recover", "--rev", "HEAD~1")["clean"] is True
    at_head = repo.ok("recover", "--rev", "HEAD")
    assert [d["kind"] for d in at_head["divergences"]] == ["deleted"]
    assert at_head["compared_with"] == "HEAD"
    repo.refused("recover", "--rev", "HEAD", "--apply", code=2)
    repo.refused("recover", "--rev", "no-such-rev")


def test_restored_files_keep_their_last_content_with_history_status(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    before = (repo.path / TASK.format(1)).read_bytes()
    # Deleted in one commit that also pretends, by hand, a different status elsewhere.
    repo.git("rm", "-q", TASK.format(1))
    repo.git("commit", "-q", "-m", "gone")
    repo.ok("recover", "--apply")
    assert (repo.path / TASK.format(1)).read_bytes() == before
    ws = Workspace(repo.path)
    head_tree = ws.repo.revparse_single("HEAD").peel(__import__("pygit2").Commit).tree
    doc = Document.parse(TreeSource(ws.repo, head_tree, "HEAD").read(TASK.format(1)) or b"", "x")
    assert doc.data["status"] == "in_progress"


def test_empty_and_unborn_repositories(tmp_path: Path) -> None:
    from conftest import make_repo

    unborn = make_repo(tmp_path / "unborn", initial_commit=False)
    assert unborn.ok("recover")["clean"] is True
    assert unborn.ok("log")["events"] == []
    assert unborn.ok("stats")["tasks"]["total"] == 0


def test_recover_repairs_a_tree_that_does_not_load_as_a_plan(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("rm", "-q", ".flow/epics/fn-1-add-oauth-login.md")
    repo.git("commit", "-q", "--no-verify", "-m", "drop the epic")
    assert repo.refused("start", "fn-1.1").stderr.startswith("error: .flow/tasks/")  # broken
    [divergence] = repo.ok("recover")["divergences"]
    assert divergence["kind"] == "deleted" and divergence["id"] == "fn-1-add-oauth-login"
    repo.ok("recover", "--apply")
    assert repo.ok("validate")["success"] is True
    assert repo.ok("start", "fn-1.1")["status"] == "in_progress"
