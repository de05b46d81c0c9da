"""The validator holds Flow-Gap and Flow-Review trailers against the files a commit changes, as it
holds Flow-Transition trailers against statuses (docs/validation.md#gaps-and-reviews): a gap or
a verdict changed by hand, a trailer with no change, a trailer that says another change. Real
commits through the installed hooks (pre-commit, commit-msg, pre-push) and `check --base`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Repo
from test_hooks import bare_remote, git

EPIC = "fn-1-add-oauth-login"
EPIC_FILE = f".flow/epics/{EPIC}.md"
ULID = "01JD3Q0000000000000000000A"


def gap_file(gap: str) -> str:
    return f".flow/gaps/{EPIC}/{gap}.md"


def committed(repo: Repo, message: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`git commit` through the installed hooks (everything staged)."""
    repo.git("add", "-A")
    return git(repo, "commit", "-m", message, *args)


def rules_of(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {word[1:-1] for word in result.stderr.split() if word.startswith("[") and word.endswith("]")}


def check_rules(repo: Repo, base: str) -> list[tuple[str, str | None]]:
    """`check --base`'s findings: (rule, commit)."""
    result = repo.flow("check", "--base", base, "--json")
    findings = [item for item in result.json.get("findings", [])]
    if result.exit_code == 0:
        assert not [f for f in findings if f["severity"] == "error"], findings
    return [(item["rule"], item.get("commit")) for item in findings]


@pytest.fixture
def hooked(flow_repo: Repo) -> Repo:
    flow_repo.ok("hooks", "install")
    return flow_repo


# Gaps ------------------------------------------------------------------------------------------


def test_a_gap_changed_by_hand_is_refused_by_commit_msg(hooked: Repo) -> None:
    repo = hooked
    gap = repo.ok("gap", "add", "--epic", "fn-1", "Logout revokes tokens")["id"]
    original = repo.read(gap_file(gap))
    head = repo.head()
    edits = {
        "resolved by hand": original.replace("status: open", "status: resolved"),
        "downgraded to nice, past the gate of epic close": original.replace(
            "priority: required", "priority: nice"),
    }
    for what, text in edits.items():
        repo.write(gap_file(gap), text)
        refused = committed(repo, what)
        assert refused.returncode != 0 and repo.head() == head, what
        assert "[gap-trailer-missing]" in refused.stderr, refused.stderr
        assert f"gap {gap} changed open [required] -> " in refused.stderr
        assert f"{gap_file(gap)}: error" in refused.stderr
        repo.git("checkout", "-q", "--", ".")
        repo.git("reset", "-q")
    (repo.path / gap_file(gap)).unlink()
    deleted = committed(repo, "drop the gap")
    assert deleted.returncode != 0 and "[gap-trailer-missing]" in deleted.stderr
    assert f"gap {gap} changed open [required] -> none" in deleted.stderr
    repo.git("reset", "-q", "--hard")
    repo.write(f".flow/gaps/{EPIC}/gap-12345678.md",
               f"---\nid: gap-12345678\nepic: {EPIC}\ncapability: Made up\npriority: required\n"
               "status: open\n---\n")
    added = committed(repo, "a gap written by hand")
    assert added.returncode != 0 and "gap gap-12345678 changed none -> open [required]" in added.stderr


def test_a_flow_gap_trailer_must_say_the_change_the_commit_makes(hooked: Repo) -> None:
    repo = hooked
    gap = repo.ok("gap", "add", "--epic", "fn-1", "Logout revokes tokens")["id"]
    line = (f"Flow-Gap: {gap} open->resolved action=resolve epic={EPIC} priority=required "
            f"by=alice@example.com id={ULID}")
    repo.write("notes.txt", "code\n")
    without = committed(repo, f"claims a resolve\n\n{line}\n")
    assert without.returncode != 0 and "[gap-trailer-without-change]" in without.stderr
    assert f"the Flow-Gap trailer for {gap} says open->resolved [required], but this commit " \
           "leaves it open [required]" in without.stderr
    repo.write(gap_file(gap), repo.read(gap_file(gap)).replace("priority: required",
                                                               "priority: nice"))
    mismatch = committed(repo, f"says required, makes it nice\n\n{line}\n")
    assert mismatch.returncode != 0 and "[gap-trailer-mismatch]" in mismatch.stderr
    # the right trailer for a hand edit is accepted: the validator checks, it does not forbid
    repo.git("reset", "-q", "--hard")
    repo.write(gap_file(gap), repo.read(gap_file(gap)).replace("status: open",
                                                               "status: resolved"))
    accepted = committed(repo, f"resolved with its trailer\n\n{line}\n")
    assert accepted.returncode == 0, accepted.stderr


def test_gap_commands_moves_no_commit_and_reverts_pass_hooks_and_check(hooked: Repo) -> None:
    repo = hooked
    base = repo.head()
    first = repo.ok("gap", "add", "--epic", "fn-1", "Tokens expire")["id"]
    repo.ok("gap", "add", "--epic", "fn-1", "--no-commit", "--priority", "important", "Audit log")
    repo.write("audit.py", "log = []\n")
    with_code = committed(repo, "audit log, with its gap")
    assert with_code.returncode == 0, with_code.stderr
    assert "Flow-Gap: " in repo.message() and "none->open action=add" in repo.message()
    repo.ok("gap", "resolve", first, "--evidence", "tests pass")
    repo.write("more.py", "1\n")
    repo.git("add", "more.py")
    amended = git(repo, "commit", "--amend", "--no-edit")  # the gap commit, amended
    assert amended.returncode == 0, amended.stderr
    assert git(repo, "revert", "--no-edit", "HEAD").returncode == 0  # the resolve undone
    assert "status: open" in repo.read(gap_file(first))
    for task in ("fn-1.1", "fn-1.2", "fn-1.3"):
        repo.ok("start", task)
        repo.ok("done", task)
    repo.ok("renumber", "fn-1", "--to", "4")  # the gaps move: their state does not change
    repo.ok("epic", "close", "fn-4", "--skip-gap-check")
    repo.ok("epic", "archive", "fn-4")  # and again
    assert check_rules(repo, base) == []


def test_check_and_pre_push_report_a_gap_committed_past_the_hooks(hooked: Repo,
                                                                   tmp_path: Path) -> None:
    repo = hooked
    bare_remote(repo, tmp_path)
    assert git(repo, "push", "-q", "origin", "main").returncode == 0
    base = repo.head()
    gap = repo.ok("gap", "add", "--epic", "fn-1", "Logout revokes tokens")["id"]
    repo.write(gap_file(gap), repo.read(gap_file(gap)).replace("priority: required",
                                                               "priority: nice"))
    repo.commit_all("quietly not required any more")  # --no-verify: past the commit hooks
    sha = repo.head()
    assert check_rules(repo, base) == [("gap-trailer-missing", sha)]
    pushed = git(repo, "push", "origin", "main")
    assert pushed.returncode != 0 and "[gap-trailer-missing]" in pushed.stderr


# Reviews ---------------------------------------------------------------------------------------


def test_a_verdict_set_by_hand_is_refused(hooked: Repo) -> None:
    repo = hooked
    head = repo.head()
    text = repo.read(EPIC_FILE)
    repo.write(EPIC_FILE, text.replace("status: open\n", "status: open\ncompletion_review_status: ship\n"))
    refused = committed(repo, "ship it myself")
    assert refused.returncode != 0 and repo.head() == head
    assert "[review-trailer-missing]" in refused.stderr
    assert f"{EPIC}'s completion verdict changed none -> ship with no Flow-Review trailer" \
        in refused.stderr
    line = f"Flow-Review: {EPIC} kind=completion verdict=major_rethink by=alice@example.com id={ULID}"
    mismatch = committed(repo, f"ship it\n\n{line}\n")
    assert mismatch.returncode != 0 and "[review-trailer-mismatch]" in mismatch.stderr
    repo.git("reset", "-q", "--hard")
    repo.write("notes.txt", "code\n")
    without = committed(repo, f"a verdict that is not there\n\n{line}\n")
    assert without.returncode != 0 and "[review-trailer-without-change]" in without.stderr
    assert "leaves its completion verdict none" in without.stderr


def test_review_commands_no_commit_reverts_and_a_verdict_taken_back_pass(hooked: Repo) -> None:
    repo = hooked
    base = repo.head()
    repo.ok("review", "fn-1", "--verdict", "needs_work", "--kind", "plan")
    repo.ok("review", "fn-1", "--verdict", "ship", "--kind", "plan")
    repo.write("plan.md", "the plan\n")
    repo.git("add", "plan.md")
    amended = git(repo, "commit", "--amend", "--no-edit")  # the review commit, amended
    assert amended.returncode == 0, amended.stderr
    assert git(repo, "revert", "--no-edit", "HEAD").returncode == 0  # back to needs_work
    assert "plan_review_status: needs_work" in repo.read(EPIC_FILE)
    repo.ok("review", "fn-1.1", "--verdict", "ship", "--kind", "plan", "--no-commit")
    repo.write("schema.sql", "create table users;\n")
    with_code = committed(repo, "schema, reviewed")
    assert with_code.returncode == 0, with_code.stderr
    assert f"Flow-Review: {EPIC}.1 kind=plan verdict=ship" in repo.message()
    # taking a verdict away opens no gate: no trailer is needed for it
    text = repo.read(EPIC_FILE)
    repo.write(EPIC_FILE, "".join(line for line in text.splitlines(keepends=True)
                                  if not line.startswith("plan_review_status:")))
    dropped = committed(repo, "forget the plan verdict")
    assert dropped.returncode == 0, dropped.stderr
    assert check_rules(repo, base) == []


def test_check_reports_a_verdict_committed_past_the_hooks(hooked: Repo) -> None:
    repo = hooked
    repo.ok("review", "fn-1.2", "--verdict", "needs_work", "--kind", "completion")
    base = repo.head()
    path = f".flow/tasks/{EPIC}.2.md"
    repo.write(path, repo.read(path).replace("completion_review_status: needs_work",
                                             "completion_review_status: ship"))
    repo.commit_all("better now")
    assert check_rules(repo, base) == [("review-trailer-missing", repo.head())]


def test_checkpoint_restore_records_the_gaps_and_verdicts_it_brings_back(hooked: Repo) -> None:
    repo = hooked
    gap = repo.ok("gap", "add", "--epic", "fn-1", "Tokens expire")["id"]
    repo.ok("review", "fn-1", "--verdict", "needs_work", "--kind", "plan")
    repo.ok("checkpoint", "save", "fn-1", "--name", "before")
    base = repo.head()
    repo.ok("gap", "resolve", gap)
    repo.ok("review", "fn-1", "--verdict", "ship", "--kind", "plan")
    restored = repo.ok("checkpoint", "restore", "fn-1", "before")
    assert sorted(restored["restored"]) == sorted([EPIC_FILE, gap_file(gap)])
    message = repo.message()
    assert f"Flow-Gap: {gap} resolved->open action=restore epic={EPIC} priority=required" in message
    assert f"Flow-Review: {EPIC} kind=plan verdict=needs_work" in message and "action=restore" in message
    assert check_rules(repo, base) == []


# The hooks' cost ---------------------------------------------------------------------------------


def test_a_commit_that_touches_no_gap_reads_no_gap_file(hooked: Repo) -> None:
    """History and commit-msg compare the gap directories' tree IDs (or the index entries
    listed anyway) before reading any gap file."""
    import pygit2

    from git_flowctl.guard.validate import History
    from git_flowctl.model.trailers import parse_message

    repo = hooked
    repo.ok("gap", "add", "--epic", "fn-1", "Tokens expire")
    repo.ok("start", "fn-1.1")
    git_repo = pygit2.Repository(str(repo.path))
    history = History(git_repo)
    head = git_repo.head.peel(pygit2.Commit)
    trailers = parse_message(head.message)
    assert history.gap_states(head, list(head.parents), trailers, []) is None
    gap_commit = head.parents[0]
    states = history.gap_states(gap_commit, list(gap_commit.parents),
                                parse_message(gap_commit.message), [])
    assert states is not None and list(states.after) == [next(iter(states.after))]


def test_the_lean_pre_commit_still_answers_a_staged_gap_without_reading_it(hooked: Repo) -> None:
    repo = hooked
    gap = repo.ok("gap", "add", "--epic", "fn-1", "Tokens expire")["id"]
    path = f".flow/tasks/{EPIC}.1.md"
    repo.write(path, repo.read(path).replace("title: ", "title: New ", 1))
    repo.git("add", path)
    assert repo.flow("hook", "pre-commit").exit_code == 0  # stores HEAD's snapshot
    repo.write(gap_file(gap), repo.read(gap_file(gap)).replace("status: open", "status: resolved"))
    repo.git("add", gap_file(gap))
    script = ("import sys; sys.argv = ['git-flow-task', 'hook', 'pre-commit']\n"
              "from git_flowctl.entry import main\n"
              "code = main()\n"
              "loaded = sorted(m for m in ('click', 'pygit2', 'yaml', 'rich', "
              "'git_flowctl.guard.records') if m in sys.modules)\n"
              "print(__import__('json').dumps([code, loaded]))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=repo.path, capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout) == [0, []], done.stderr  # no message yet: nothing to hold
    refused = git(repo, "commit", "-m", "resolved by hand")  # the message is checked
    assert refused.returncode != 0 and "[gap-trailer-missing]" in refused.stderr


def test_an_imported_verdict_is_set_by_authority(repo: Repo, tmp_path: Path) -> None:
    """flowctl's epics keep their plan verdict on import (action=import sets it, as it sets the
    status): check accepts it without a Flow-Review line."""
    from test_import_flowctl import EPIC1, fixture_copy

    flow_dir, state_dir = fixture_copy(tmp_path)
    epic = flow_dir / "epics" / f"{EPIC1}.json"
    epic.write_text(epic.read_text().replace('"plan_review_status": "unknown"',
                                             '"plan_review_status": "ship"'))
    before = repo.head()
    repo.ok("import", "flowctl", str(flow_dir), "--state-dir", str(state_dir))
    assert "plan_review_status: ship" in repo.read(f".flow/epics/{EPIC1}.md")
    assert "Flow-Review" not in repo.message()
    assert check_rules(repo, before) == []
