"""Issue #2, must hold: the writer's git semantics, end to end through the CLI."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import FLOW_EXE, Repo, make_repo

from git_flowctl.model.items import new_task_document

ULID = r"[0-9A-HJKMNP-TV-Z]{26}"
TASK1 = ".flow/tasks/fn-1-add-oauth-login.1.md"
TASK2 = ".flow/tasks/fn-1-add-oauth-login.2.md"


def test_start_commits_only_the_task_file_and_leaves_user_changes_alone(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write("other.py", "print('old')\n")
    repo.write("notes.txt", "v1\n")
    repo.commit_all("add files")
    repo.write("other.py", "print('staged')\n")
    repo.git("add", "other.py")
    repo.write("notes.txt", "v2, not staged\n")
    staged_before = repo.git("diff", "--cached")
    unstaged_before = repo.git("diff")
    before = repo.head()

    result = repo.ok("start", "fn-1.1")

    assert result["status"] == "in_progress"
    assert repo.git("rev-parse", "HEAD~1").strip() == before
    changed = repo.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").split()
    assert changed == [TASK1]
    assert repo.git("diff", "--cached") == staged_before
    assert repo.git("diff") == unstaged_before
    status = repo.status()
    assert "M  other.py" in status and " M notes.txt" in status
    assert ".flow" not in status


def test_start_leaves_flow_clean_and_writes_the_trailer(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    assert repo.git("status", "--porcelain", "--", ".flow") == ""
    message = repo.message()
    assert message.startswith('flow: start fn-1-add-oauth-login.1 "Design token schema"\n')
    assert re.search(
        rf"^Flow-Transition: fn-1-add-oauth-login\.1 todo->in_progress action=start "
        rf"by=alice@example\.com id={ULID}$", message, re.MULTILINE), message
    # git itself reads it as a trailer
    trailers = repo.git("log", "-1", "--format=%(trailers:key=Flow-Transition,valueonly)")
    assert trailers.startswith("fn-1-add-oauth-login.1 todo->in_progress")
    text = repo.read(TASK1)
    assert "status: in_progress" in text and "assignee: alice@example.com" in text


def test_two_processes_starting_two_tasks_at_once_both_succeed(flow_repo: Repo) -> None:
    repo = flow_repo
    for number in range(4, 8):
        repo.ok("task", "create", "--epic", "fn-1", "--title", f"Parallel {number}")
    base = repo.head()
    tasks = [f"fn-1.{n}" for n in (1, 4, 5, 6, 7)]
    procs = [subprocess.Popen([FLOW_EXE, "start", task, "--json"], cwd=repo.path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for task in tasks]
    outputs = [proc.communicate() for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * len(tasks), outputs
    commits = repo.git("rev-list", f"{base}..HEAD").split()
    assert len(commits) == len(tasks)
    assert repo.git("rev-list", "--merges", f"{base}..HEAD") == ""
    subjects = repo.git("log", "--format=%s", f"{base}..HEAD")
    for number in (1, 4, 5, 6, 7):
        assert f"start fn-1-add-oauth-login.{number} " in subjects
    assert repo.status() == ""
    for number in (1, 4, 5, 6, 7):
        assert "status: in_progress" in repo.read(f".flow/tasks/fn-1-add-oauth-login.{number}.md")


def test_subdirectory_gives_the_same_result_and_relative_paths(flow_repo: Repo) -> None:
    repo = flow_repo
    sub = repo.path / "src" / "deep"
    sub.mkdir(parents=True)
    shown = repo.ok("show", "fn-1.1", cwd=sub)
    assert shown["id"] == "fn-1-add-oauth-login.1"
    assert repo.ok("start", "fn-1.1", cwd=sub)["status"] == "in_progress"
    assert repo.status() == ""
    (repo.path / TASK2).write_text("---\nid: [broken\n---\n")
    result = repo.refused("show", "fn-1.2", cwd=sub)
    assert result.stderr.startswith("error: ../../.flow/tasks/fn-1-add-oauth-login.2.md:2: invalid YAML")


def test_linked_worktree_works_and_shares_nothing_it_should_not(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    worktree = tmp_path / "wt"
    repo.git("worktree", "add", "-q", "-b", "feature", str(worktree))
    repo.ok("start", "fn-1.1", cwd=worktree)
    assert repo.git("log", "-1", "--format=%s", "feature").startswith("flow: start fn-1-add-oauth-login.1")
    assert repo.git("status", "--porcelain", cwd=worktree) == ""
    # main is untouched: the transition landed on the worktree's branch
    assert "status: todo" in repo.read(TASK1)
    assert repo.ok("show", "fn-1.1")["status"] == "todo"
    assert repo.ok("show", "fn-1.1", cwd=worktree)["status"] == "in_progress"


def test_crlf_file_and_unknown_key_survive_a_transition(flow_repo: Repo) -> None:
    repo = flow_repo
    path = repo.path / TASK1
    text = path.read_text().replace("status: todo", "status: todo\nowner_team: platform  # kept")
    path.write_bytes(text.replace("\n", "\r\n").encode())
    repo.commit_all("crlf")
    repo.ok("start", "fn-1.1")
    raw = path.read_bytes()
    assert b"status: in_progress\r\n" in raw
    assert b"owner_team: platform  # kept\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert repo.status() == ""
    blob = subprocess.run(["git", "cat-file", "-p", f"HEAD:{TASK1}"], cwd=repo.path,
                          capture_output=True, check=True).stdout
    assert blob == raw


@pytest.mark.parametrize(("content", "line", "fragment"), [
    ("---\nid: fn-1-add-oauth-login.2\ntitle: [oops\n---\n", 3, "invalid YAML"),
    (None, 5, "`status: finished` is not a task status"),
])
def test_bad_files_give_one_clear_line_and_write_nothing(flow_repo: Repo, content: str | None,
                                                         line: int, fragment: str) -> None:
    repo = flow_repo
    path = repo.path / TASK2
    if content is None:
        content = path.read_text().replace("status: todo", "status: finished")
    path.write_text(content)
    repo.commit_all("break a file")
    head = repo.head()
    result = repo.refused("start", "fn-1.1")
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"error: {TASK2}:{line}: ") and fragment in first, result.stderr
    assert repo.head() == head and repo.status() == ""
    data = repo.flow("start", "fn-1.1", "--json")
    assert data.exit_code == 1 and data.json["success"] is False
    assert data.json["file"] == TASK2 and data.json["line"] == line


def test_unknown_id_is_an_error(flow_repo: Repo) -> None:
    head = flow_repo.head()
    result = flow_repo.refused("start", "fn-9.1")
    assert "no task 'fn-9.1'" in result.stderr
    result = flow_repo.refused("show", "fn-9")
    assert "no epic 'fn-9'" in result.stderr
    assert flow_repo.head() == head


def test_gate_refuses_start_and_done_naming_each_dependency(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Both", "--deps", "fn-1.2,fn-1.3")
    head = repo.head()
    result = repo.refused("start", "fn-1.4")
    assert "fn-1-add-oauth-login.2 (todo)" in result.stderr
    assert "fn-1-add-oauth-login.3 (todo)" in result.stderr
    data = repo.flow("start", "fn-1.4", "--json").json
    assert data["blocked_by"] == ["fn-1-add-oauth-login.2", "fn-1-add-oauth-login.3"]
    assert repo.head() == head
    # done is gated too: force a start, then try to finish
    repo.ok("start", "fn-1.4", "--force")
    assert "force=1" in repo.message()
    result = repo.refused("done", "fn-1.4")
    assert "dependencies not satisfied" in result.stderr


def test_unborn_branch_first_transition_makes_the_root_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "fresh", initial_commit=False)
    repo.ok("init")
    assert repo.git("rev-list", "--count", "HEAD").strip() == "1"
    assert repo.git("log", "-1", "--format=%P").strip() == ""
    assert repo.git("ls-files").split() == [".flow/config.yaml", ".gitattributes"]
    again = repo.ok("init")
    assert again["changed"] is False and again["actions"] == []
    assert repo.git("rev-list", "--count", "HEAD").strip() == "1"


def test_detached_head_moves_head_only(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("checkout", "-q", "--detach")
    main_before = repo.git("rev-parse", "main").strip()
    repo.ok("start", "fn-1.1")
    assert repo.git("rev-parse", "main").strip() == main_before
    assert repo.git("rev-parse", "HEAD~1").strip() == main_before
    assert repo.status() == ""


@pytest.mark.parametrize(("setup", "fragment"), [
    ("merge", "a merge is in progress"),
    ("cherry-pick", "a cherry-pick is in progress"),
    ("rebase", "a rebase is in progress"),
    ("revert", "a revert is in progress"),
])
def test_refuses_during_an_unfinished_operation(flow_repo: Repo, setup: str, fragment: str) -> None:
    repo = flow_repo
    repo.write("conflict.txt", "base\n")
    repo.commit_all("base")
    repo.git("checkout", "-q", "-b", "side")
    repo.write("conflict.txt", "side\n")
    repo.commit_all("side change")
    repo.git("checkout", "-q", "main")
    repo.write("conflict.txt", "main\n")
    repo.commit_all("main change")
    if setup == "merge":
        repo.git("merge", "side", check=False)
    elif setup == "cherry-pick":
        repo.git("cherry-pick", "side", check=False)
    elif setup == "rebase":
        repo.git("rebase", "side", check=False)
    else:
        repo.write("conflict.txt", "again\n")
        repo.commit_all("again")
        repo.git("revert", "--no-edit", "HEAD~1", check=False)
    head = repo.head()
    result = repo.refused("start", "fn-1.1")
    assert fragment in result.stderr
    assert "hint:" in result.stderr
    assert repo.head() == head


def test_refuses_when_the_task_file_has_user_edits(flow_repo: Repo) -> None:
    repo = flow_repo
    path = repo.path / TASK1
    path.write_text(path.read_text() + "\nmy notes\n")
    head = repo.head()
    result = repo.refused("start", "fn-1.1")
    assert "has uncommitted edits" in result.stderr
    assert repo.head() == head
    assert path.read_text().endswith("my notes\n")
    repo.git("add", TASK1)
    result = repo.refused("start", "fn-1.1")
    assert "staged changes" in result.stderr


def test_author_and_committer_follow_git_rules(flow_repo: Repo) -> None:
    repo = flow_repo
    env = {"GIT_AUTHOR_NAME": "Bob Agent", "GIT_AUTHOR_EMAIL": "bob@example.com",
           "GIT_AUTHOR_DATE": "2026-02-01T12:00:00+01:00", "GIT_COMMITTER_NAME": "CI Bot",
           "GIT_COMMITTER_EMAIL": "ci@example.com"}
    repo.ok("start", "fn-1.1", env=env)
    line = repo.git("log", "-1", "--format=%an <%ae> %aI | %cn <%ce>")
    assert line.strip() == "Bob Agent <bob@example.com> 2026-02-01T12:00:00+01:00 | CI Bot <ci@example.com>"


def test_no_identity_is_a_clear_error(flow_repo: Repo) -> None:
    repo = flow_repo
    env = {"GIT_AUTHOR_NAME": "", "GIT_AUTHOR_EMAIL": "", "GIT_COMMITTER_NAME": "",
           "GIT_COMMITTER_EMAIL": "", "EMAIL": ""}
    repo.git("config", "user.useConfigOnly", "true")
    result = repo.refused("start", "fn-1.1", env=env)
    assert "no git identity" in result.stderr and "git config --global user.email" in result.stderr


def test_no_commit_writes_and_stages_only(flow_repo: Repo) -> None:
    repo = flow_repo
    head = repo.head()
    data = repo.ok("start", "fn-1.1", "--no-commit")
    assert data["commit"] is None and data["staged"] == [TASK1]
    assert repo.head() == head
    assert repo.status() == f"M  {TASK1}\n"
    assert data["trailers"][0].startswith("Flow-Transition: fn-1-add-oauth-login.1 todo->in_progress")
    # a second --no-commit builds on the staged state
    repo.ok("done", "fn-1.1", "--no-commit", "--summary", "ok")
    assert "status: done" in repo.git("show", f":{TASK1}")


def test_dry_run_writes_nothing(flow_repo: Repo) -> None:
    repo = flow_repo
    head, status = repo.head(), repo.status()
    data = repo.ok("start", "fn-1.1", "--dry-run")
    assert data["dry_run"] is True
    assert "-status: todo" in data["diff"] and "+status: in_progress" in data["diff"]
    assert "Flow-Transition: fn-1-add-oauth-login.1 todo->in_progress" in data["commit_message"]
    assert repo.head() == head and repo.status() == status
    human = repo.flow("start", "fn-1.1", "--dry-run")
    assert human.exit_code == 0 and "dry run" in human.stdout


def test_done_fills_summary_and_evidence(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    data = repo.ok("done", "fn-1.1", "--summary", "Schema defined", "--evidence",
                   '{"commits": ["abc1234"], "tests": ["pytest -q"], "prs": ["#12"]}')
    assert data["status"] == "done"
    text = repo.read(TASK1)
    assert "## Done summary\nSchema defined\n" in text
    assert "- Commits: abc1234\n- Tests: pytest -q\n- PRs: #12" in text
    message = repo.message()
    assert 'Flow-Evidence: fn-1-add-oauth-login.1 commits=abc1234 tests="pytest -q" prs=#12' in message
    repo.ok("start", "fn-1.2")
    repo.ok("done", "fn-1.2", "--evidence", "commits=def5678", "--evidence", "tests=pytest -q tests/x")
    assert 'Flow-Evidence: fn-1-add-oauth-login.2 commits=def5678 tests="pytest -q tests/x"' in repo.message()


def test_message_option_adds_a_body(flow_repo: Repo) -> None:
    flow_repo.ok("start", "fn-1.1", "-m", "Picked up after standup.")
    message = flow_repo.message()
    assert "\n\nPicked up after standup.\n\nFlow-Transition:" in message


def test_signed_commits_with_ssh_keys(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    key = tmp_path / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"alice@example.com {(tmp_path / 'signing_key.pub').read_text()}")
    for name, value in (("gpg.format", "ssh"), ("user.signingkey", str(key)),
                        ("commit.gpgsign", "true"), ("gpg.ssh.allowedSignersFile", str(allowed))):
        repo.git("config", name, value)
    repo.ok("start", "fn-1.1")
    verify = subprocess.run(["git", "verify-commit", "HEAD"], cwd=repo.path, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    assert "Good" in verify.stderr
    assert repo.status() == ""


def test_failing_signing_program_refuses_clearly(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    fake = tmp_path / "broken-gpg"
    fake.write_text("#!/bin/sh\necho 'no secret key' >&2\nexit 2\n")
    fake.chmod(0o755)
    repo.git("config", "commit.gpgsign", "true")
    repo.git("config", "gpg.program", str(fake))
    head = repo.head()
    result = repo.refused("start", "fn-1.1")
    assert "signing failed" in result.stderr
    assert repo.head() == head and repo.status() == ""
    assert "status: todo" in repo.read(TASK1)


def test_outside_git_and_bare_repositories_are_clear_errors(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    outside = Repo(plain)
    result = outside.refused("status", env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert "not a git repository" in result.stderr
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    result = Repo(bare).refused("status")
    assert "bare repository" in result.stderr


def test_file_mode_is_kept(flow_repo: Repo) -> None:
    repo = flow_repo
    path = repo.path / TASK1
    path.chmod(0o755)
    repo.commit_all("exec bit")
    repo.ok("start", "fn-1.1")
    assert path.stat().st_mode & 0o777 == 0o755
    assert repo.git("ls-tree", "HEAD", TASK1).startswith("100755")


@pytest.mark.parametrize("count", [2, 24], ids=["a-few-files", "many-files"])
def test_checkout_filters_apply_to_every_file_written(repo: Repo, count: int) -> None:
    """Files are written as git's checkout writes them: through eol conversion when the
    attributes ask for it (looked up with libgit2 for a few files, `git check-attr` for many),
    and as the blob's bytes otherwise; `git status` is clean either way."""
    repo.write(".gitattributes", ".flow/tasks/*.md text eol=crlf\n")
    repo.commit_all("attributes")
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Bulk")
    change = {f".flow/tasks/fn-1-bulk.{n}.md": new_task_document(
        f"fn-1-bulk.{n}", "fn-1-bulk", f"Task {n}", depends_on=[], priority=None, domain=None,
        files=[], created=None, description=None, acceptance=None).render() for n in range(1, count + 1)}
    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.repo.writer import Change, Writer

    Writer(Workspace(repo.path)).apply(lambda plan: Change("bulk", dict(change)))
    for path in change:
        assert b"\r\n" in (repo.path / path).read_bytes(), path
    assert repo.status() == ""
    epic = (repo.path / ".flow/epics/fn-1-bulk.md").read_bytes()
    assert b"\r\n" not in epic  # no attribute for epics: the blob's bytes
