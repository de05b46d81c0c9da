"""Issue #4, must hold: the merge driver, invoked by a real `git merge`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import Repo

from git_flowctl.guard import mergedriver

TASK1 = ".flow/tasks/fn-1-add-oauth-login.1.md"
ID1 = "fn-1-add-oauth-login.1"


def git(repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo.path, capture_output=True, text=True,
                          env=dict(os.environ))


def edit(repo: Repo, path: str, old: str, new: str) -> None:
    text = repo.read(path)
    assert old in text, text
    repo.write(path, text.replace(old, new, 1))


def branches(repo: Repo) -> str:
    """`ours` and `theirs` from the current commit; returns the base commit."""
    base = repo.head()
    repo.git("branch", "theirs")
    return base


def test_different_fields_of_one_task_merge_cleanly_and_keep_both(flow_repo: Repo) -> None:
    repo = flow_repo
    branches(repo)
    repo.ok("start", "fn-1.1")  # ours: status (line 5) and a new assignee
    repo.git("checkout", "-q", "theirs")
    edit(repo, TASK1, "title: Design token schema\n", "title: Design the token schema\n")  # line 4
    repo.commit_all("retitle")
    repo.git("checkout", "-q", "main")

    # Without the driver configured, git's text merge sees adjacent lines changed: a conflict.
    plain = git(repo, "merge", "--no-edit", "theirs")
    assert plain.returncode != 0 and "CONFLICT" in plain.stdout
    repo.git("merge", "--abort")

    repo.ok("hooks", "install")  # registers merge.flow-task; init wrote .gitattributes
    merged = git(repo, "merge", "--no-edit", "theirs")

    assert merged.returncode == 0, merged.stdout + merged.stderr
    text = repo.read(TASK1)
    assert "title: Design the token schema\n" in text
    assert "status: in_progress\n" in text and "assignee: alice@example.com\n" in text
    assert "<<<<<<<" not in text
    assert repo.git("log", "-1", "--format=%P").count(" ") == 1  # a real merge commit
    assert repo.flow("validate").exit_code == 0
    assert repo.flow("check", "--base", "HEAD~2").exit_code == 0


def test_same_body_lines_changed_on_both_sides_conflict(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    branches(repo)
    edit(repo, TASK1, "## Description\nTBD\n", "## Description\nUse RS256 tokens.\n")
    repo.commit_all("ours")
    repo.git("checkout", "-q", "theirs")
    edit(repo, TASK1, "## Description\nTBD\n", "## Description\nUse HS256 tokens.\n")
    edit(repo, TASK1, "priority: 1\n", "priority: 3\n")  # a field only they changed
    repo.commit_all("theirs")
    repo.git("checkout", "-q", "main")

    merged = git(repo, "merge", "--no-edit", "theirs")

    assert merged.returncode != 0
    assert "CONFLICT" in merged.stdout
    text = repo.read(TASK1)
    assert "<<<<<<< ours\nUse RS256 tokens.\n=======\nUse HS256 tokens.\n>>>>>>> theirs\n" in text
    assert "priority: 3\n" in text  # the frontmatter still merged field by field
    assert f"UU {TASK1}" in repo.status()


def test_status_changed_on_both_sides_keeps_the_one_further_along(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    branches(repo)
    repo.ok("block", "fn-1.1", "--reason", "waiting for the security review")
    repo.git("checkout", "-q", "theirs")
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1", "--summary", "schema written")
    repo.git("checkout", "-q", "main")

    merged = git(repo, "merge", "--no-edit", "theirs")

    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "status changed on both sides (blocked / done); kept done" in merged.stderr
    text = repo.read(TASK1)
    assert "status: done\n" in text
    assert "blocked_reason" not in text  # status fields come from the winning side
    assert "assignee: alice@example.com" in text
    assert repo.flow("check", "--base", "HEAD~3", "--json").exit_code == 0


def test_same_field_changed_differently_leaves_markers_in_the_frontmatter(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    branches(repo)
    edit(repo, TASK1, "title: Design token schema\n", "title: Ours\n")
    repo.commit_all("ours")
    repo.git("checkout", "-q", "theirs")
    edit(repo, TASK1, "title: Design token schema\n", "title: Theirs\n")
    repo.commit_all("theirs")
    repo.git("checkout", "-q", "main")

    merged = git(repo, "merge", "--no-edit", "theirs")

    assert merged.returncode != 0
    text = repo.read(TASK1)
    assert "<<<<<<< ours\ntitle: Ours\n=======\ntitle: Theirs\n>>>>>>> theirs\n" in text
    validated = repo.flow("validate", "--json")
    assert validated.exit_code == 1
    finding = validated.json["findings"][0]
    assert finding["rule"] == "conflict-markers" and "resolve the merge conflict" in finding["hint"]


def test_dependency_lists_merge_as_sets(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Four")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Five")
    repo.ok("hooks", "install")
    task3 = ".flow/tasks/fn-1-add-oauth-login.3.md"
    branches(repo)
    edit(repo, task3, "depends_on: [fn-1-add-oauth-login.1]\n",
         "depends_on: [fn-1-add-oauth-login.1, fn-1-add-oauth-login.4]\n")
    repo.commit_all("ours adds 4")
    repo.git("checkout", "-q", "theirs")
    edit(repo, task3, "depends_on: [fn-1-add-oauth-login.1]\n", "depends_on: [fn-1-add-oauth-login.5]\n")
    repo.commit_all("theirs swaps 1 for 5")
    repo.git("checkout", "-q", "main")

    merged = git(repo, "merge", "--no-edit", "theirs")

    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "depends_on: [fn-1-add-oauth-login.4, fn-1-add-oauth-login.5]\n" in repo.read(task3)


def test_crlf_file_stays_crlf(tmp_path: Path) -> None:
    base = b"---\r\nid: fn-1-a.1\r\ntitle: A\r\nstatus: todo\r\n---\r\n## Description\r\nTBD\r\n"
    ours = base.replace(b"status: todo", b"status: in_progress")
    theirs = base.replace(b"title: A", b"title: B")
    result = mergedriver.merge_documents(base, ours, theirs, "x.md")
    assert result.conflicts == 0
    assert result.content == b"---\r\nid: fn-1-a.1\r\ntitle: B\r\nstatus: in_progress\r\n---\r\n## Description\r\nTBD\r\n"


def test_file_added_on_both_sides_merges_against_an_empty_base() -> None:
    ours = b"---\nid: fn-1-a.1\ntitle: A\nstatus: todo\nfiles: [a.py]\n---\nbody\n"
    theirs = b"---\nid: fn-1-a.1\ntitle: A\nstatus: todo\nfiles: [b.py]\n---\nbody\n"
    result = mergedriver.merge_documents(b"", ours, theirs, "x.md")
    assert result.conflicts == 0
    assert b"files: [a.py, b.py]\n" in result.content


def test_a_crash_is_never_a_clean_merge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {}
    for name, text in (("base", "---\nid: x\n---\nA\n"), ("ours", "---\nid: x\n---\nB\n"),
                       ("theirs", "---\nid: x\n---\nA\n")):
        files[name] = tmp_path / name
        files[name].write_text(text)

    def broken(*args: object, **kwargs: object) -> mergedriver.MergeResult:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(mergedriver, "merge_documents", broken)
    code = mergedriver.run(str(files["base"]), str(files["ours"]), str(files["theirs"]), 7, "x.md")
    assert code != 0
    assert files["ours"].read_text() == "---\nid: x\n---\nB\n"  # git's text merge, for review


def test_unparseable_side_falls_back_to_a_text_merge(tmp_path: Path) -> None:
    base, ours, theirs = tmp_path / "o", tmp_path / "a", tmp_path / "b"
    base.write_text("no frontmatter\n1\n2\n3\nline\n")
    ours.write_text("no frontmatter\n1\n2\n3\nline changed\n")
    theirs.write_text("no frontmatter, theirs\n1\n2\n3\nline\n")
    assert mergedriver.run(str(base), str(ours), str(theirs), "7", ".flow/README.md") == 0
    assert ours.read_text() == "no frontmatter, theirs\n1\n2\n3\nline changed\n"
    theirs.write_text("no frontmatter\n1\n2\n3\nline, theirs\n")
    assert mergedriver.run(str(base), str(ours), str(theirs), "7", ".flow/README.md") == 1
    assert "<<<<<<< ours" in ours.read_text()
