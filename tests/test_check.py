"""Issue #4: `check --base` over real histories (squash merges, forced and authoritative
transitions, reverts, evidence, shallow clones) and its output formats."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from xml.etree import ElementTree

from conftest import Repo

TASK1 = ".flow/tasks/fn-1-add-oauth-login.1.md"
TASK2 = ".flow/tasks/fn-1-add-oauth-login.2.md"
EPIC = ".flow/epics/fn-1-add-oauth-login.md"
ID1, ID2, ID3 = "fn-1-add-oauth-login.1", "fn-1-add-oauth-login.2", "fn-1-add-oauth-login.3"
EPIC_ID = "fn-1-add-oauth-login"
ULID = "01JD3Q0000000000000000000A"


def rules(result_json: dict[str, object]) -> list[str]:
    findings = result_json["findings"]
    assert isinstance(findings, list)
    return [item["rule"] for item in findings]


def five_transitions(repo: Repo) -> str:
    """A feature branch with five transition commits; returns main's commit before them."""
    base = repo.head()
    repo.git("checkout", "-q", "-b", "feature")
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1", "--summary", "schema")
    repo.ok("start", "fn-1.2")
    repo.ok("done", "fn-1.2", "--summary", "middleware")
    repo.ok("start", "fn-1.3")
    repo.git("checkout", "-q", "main")
    return base


# Must hold 5 ---------------------------------------------------------------------------------


def test_squash_merge_with_default_message_passes_and_one_liner_fails(flow_repo: Repo) -> None:
    repo = flow_repo
    base = five_transitions(repo)
    repo.git("merge", "--squash", "feature")
    repo.git("commit", "-q", "--no-edit")  # git's default squash message
    assert "Squashed commit of the following" in repo.message()

    passed = repo.flow("check", "--base", base, "--json")

    assert passed.exit_code == 0, passed
    assert passed.json["valid"] is True and passed.json["commits_checked"] == 1

    repo.git("reset", "-q", "--hard", base)
    repo.git("merge", "--squash", "feature")
    repo.git("commit", "-q", "--no-verify", "-m", "Add OAuth login")

    failed = repo.flow("check", "--base", base, "--json")

    assert failed.exit_code == 1
    assert failed.json["success"] is False
    missing = [f for f in failed.json["findings"] if f["rule"] == "trailer-missing"]
    assert {f["subject"] for f in missing} == {ID1, ID2, ID3}
    assert all(f["commit"] == repo.head() for f in missing)


def test_squash_with_hooks_installed_commits_with_the_default_message(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    base = five_transitions(repo)
    repo.git("merge", "--squash", "feature")
    result = subprocess.run(["git", "commit", "--no-edit"], cwd=repo.path, capture_output=True,
                            text=True, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert repo.flow("check", "--base", base).exit_code == 0
    # and the one-liner is refused at commit time already
    repo.git("reset", "-q", "--hard", base)
    repo.git("merge", "--squash", "feature")
    result = subprocess.run(["git", "commit", "-m", "Add OAuth login"], cwd=repo.path,
                            capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode != 0
    assert "[trailer-missing]" in result.stderr


# Rules over history --------------------------------------------------------------------------


def test_forced_transitions_are_listed_but_pass(flow_repo: Repo) -> None:
    repo = flow_repo
    base = repo.head()
    repo.ok("start", "fn-1.2", "--force")  # its dependency is todo
    result = repo.flow("check", "--base", base, "--json")
    assert result.exit_code == 0, result
    forced = result.json["forced"]
    assert [(f["subject"], f["severity"]) for f in forced] == [(ID2, "notice")]
    assert "todo->in_progress (start) was forced by alice@example.com" in forced[0]["message"]
    human = repo.flow("check", "--base", base)
    assert "[transition-forced]" in human.stdout and "1 notice" in human.stdout


def test_authoritative_actions_and_chains_in_one_commit(flow_repo: Repo) -> None:
    repo = flow_repo
    base = repo.head()
    text = repo.read(TASK1).replace("status: todo", "status: done")
    repo.write(TASK1, text)
    repo.commit_all(f"import\n\nFlow-Transition: {ID1} todo->done action=import by=importer id={ULID}")
    text = repo.read(TASK2).replace("status: todo", "status: done")
    repo.write(TASK2, text)
    repo.commit_all(
        f"two steps\n\n"
        f"Flow-Transition: {ID2} in_progress->done action=done by=a id=01JD3Q0000000000000000000C\n"
        f"Flow-Transition: {ID2} todo->in_progress action=start by=a id=01JD3Q0000000000000000000B")
    result = repo.flow("check", "--base", base, "--json")
    assert result.exit_code == 0, result


def test_trailer_problems_are_named(flow_repo: Repo) -> None:
    repo = flow_repo
    base = repo.head()
    repo.write("a.py", "1\n")
    repo.commit_all(f"claims a change it does not make\n\n"
                    f"Flow-Transition: {ID1} todo->in_progress action=start by=a id={ULID}\n"
                    f"Flow-Transition: broken line")
    text = repo.read(TASK1).replace("status: todo", "status: in_progress")
    repo.write(TASK1, text)
    repo.commit_all(f"wrong trailer\n\nFlow-Transition: {ID1} todo->blocked action=block by=a "
                    f"id=01JD3Q0000000000000000000D")
    text = repo.read(TASK2).replace("status: todo", "status: in_progress")
    repo.write(TASK2, text)
    repo.commit_all(f"wrong action\n\nFlow-Transition: {ID2} todo->in_progress action=done by=a "
                    f"id=01JD3Q0000000000000000000E")
    result = repo.flow("check", "--base", base, "--json")
    assert result.exit_code == 1
    found = rules(result.json)
    assert "trailer-without-change" in found
    assert "trailer-malformed" in found
    assert "trailer-mismatch" in found
    illegal = [f for f in result.json["findings"] if f["rule"] == "transition-illegal"]
    assert any("done goes from in_progress to done, not todo->in_progress" in f["message"] for f in illegal)


def test_epic_close_needs_a_trailer_and_finished_tasks(flow_repo: Repo) -> None:
    repo = flow_repo
    base = repo.head()
    text = repo.read(EPIC).replace("status: open", "status: done")
    repo.write(EPIC, text)
    repo.commit_all(f"close\n\nFlow-Transition: {EPIC_ID} open->done action=close by=a id={ULID}")
    result = repo.flow("check", "--base", base, "--json")
    assert result.exit_code == 1
    assert rules(result.json) == ["epic-done-unfinished"]
    assert f"epic {EPIC_ID} is done but {ID1} (todo), {ID2} (todo), {ID3} (todo) are not finished" in \
        result.json["errors"][0]
    repo.git("reset", "-q", "--hard", "HEAD~1")
    for number in (1, 2, 3):
        repo.ok("skip", f"fn-1.{number}", "--reason", "descoped")
    repo.write(EPIC, repo.read(EPIC).replace("status: open", "status: done"))
    repo.commit_all("close without a trailer")
    result = repo.flow("check", "--base", base, "--json")
    assert rules(result.json) == ["trailer-missing"]


def test_evidence_required_by_config(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("config", "set", "require_evidence", "true")
    repo.ok("start", "fn-1.1")
    base = repo.head()
    repo.ok("done", "fn-1.1", "--force")  # --force skips the evidence requirement, and says so
    text = repo.read(TASK1)
    repo.git("reset", "-q", "--hard", base)
    repo.write(TASK1, text.replace("status: in_progress", "status: done"))
    repo.commit_all(f"done, no evidence\n\nFlow-Transition: {ID1} in_progress->done action=done by=a id={ULID}")
    result = repo.flow("check", "--base", base, "--json")
    assert rules(result.json) == ["evidence-missing"]
    repo.git("reset", "-q", "--hard", base)
    repo.ok("done", "fn-1.1", "--evidence", "tests=pytest")
    assert repo.flow("check", "--base", base).exit_code == 0


def test_merge_commits_need_no_trailers_for_what_either_side_did(flow_repo: Repo) -> None:
    repo = flow_repo
    base = repo.head()
    repo.git("checkout", "-q", "-b", "side")
    repo.ok("start", "fn-1.1")
    repo.git("checkout", "-q", "main")
    repo.write("a.py", "1\n")
    repo.commit_all("code on main")
    repo.git("merge", "-q", "--no-edit", "side")
    result = repo.flow("check", "--base", base, "--json")
    assert result.exit_code == 0, result
    assert result.json["commits_checked"] == 3


def test_archived_files_are_the_same_subjects(flow_repo: Repo) -> None:
    repo = flow_repo
    for number in (1, 2, 3):
        repo.ok("skip", f"fn-1.{number}", "--reason", "descoped")
    base = repo.head()
    repo.git("mv", ".flow/epics", ".flow/archive-tmp")
    (repo.path / ".flow" / "archive").mkdir()
    repo.git("mv", ".flow/archive-tmp", f".flow/archive/{EPIC_ID}")
    repo.git("mv", ".flow/tasks", f".flow/archive/{EPIC_ID}/tasks")
    repo.git("commit", "-q", "-m", "archive the epic")
    result = repo.flow("check", "--base", base, "--json")
    assert result.exit_code == 0, result
    assert repo.flow("validate", "--json").json["total_tasks"] == 3


def test_shallow_clone_is_refused_with_a_hint(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{repo.path}", str(clone)], check=True)
    result = Repo(clone).refused("check", "--base", "HEAD~3")
    assert "unknown revision" in result.stderr or "shallow" in result.stderr
    deeper = Repo(clone).refused("check", "--base", repo.git("rev-list", "--max-parents=0", "HEAD").strip())
    assert "shallow" in deeper.stderr or "unknown revision" in deeper.stderr
    assert "fetch-depth: 0" in deeper.stderr or "full history" in deeper.stderr


def test_shallow_edge_inside_the_range_is_named(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    first = repo.git("rev-list", "--max-parents=0", "HEAD").strip()
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{repo.path}", str(clone)], check=True)
    cloned = Repo(clone)
    subprocess.run(["git", "fetch", "-q", "--depth", "1", "origin", first], cwd=clone, check=True)
    result = cloned.refused("check", "--base", first)
    assert "history is incomplete" in result.stderr
    assert "fetch-depth: 0" in result.stderr


# Output formats ------------------------------------------------------------------------------


def broken_branch(repo: Repo) -> str:
    base = repo.head()
    repo.write(TASK2, repo.read(TASK2).replace("status: todo", "status: done"))
    repo.commit_all("by hand")
    return base


def test_check_junit_and_output_file(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    base = broken_branch(repo)
    report = tmp_path / "report.xml"
    result = repo.flow("check", "--base", base, "--format", "junit", "-o", str(report))
    assert result.exit_code == 1
    root = ElementTree.parse(report).getroot()
    assert root.tag == "testsuites" and root.get("failures") == "1"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 2  # one commit, and the tree at HEAD
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("type") == "trailer-missing"
    assert "[gate-unsatisfied]" in (failure.text or "")
    assert cases[1].find("failure") is None


def test_check_json_via_global_flag_and_human(flow_repo: Repo) -> None:
    repo = flow_repo
    base = broken_branch(repo)
    result = repo.flow("--json", "check", "--base", base)
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["success"] is False
    assert data["base"] == base and data["head"] == repo.head()
    assert data["total_errors"] == 3
    human = repo.flow("check", "--base", base)
    assert human.exit_code == 1
    assert f"commit {repo.head()[:7]} by hand" in human.stdout
    assert f"{TASK2}:5: error [gate-unsatisfied]" in human.stdout
    assert "✗ checked 1 commit in" in human.stdout


def test_check_defaults_to_the_merge_base_with_the_default_branch(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("checkout", "-q", "-b", "topic")
    repo.ok("start", "fn-1.1")
    data = repo.ok("check")
    assert data["base_ref"] == "refs/heads/main" and data["commits_checked"] == 1


def test_check_unknown_base_is_a_clear_error(flow_repo: Repo) -> None:
    result = flow_repo.refused("check", "--base", "origin/nope")
    assert "unknown revision 'origin/nope'" in result.stderr
    assert "hint:" in result.stderr


# Records of issue #3: renumber (Flow-Rename) and epic archive (Flow-Archive) -------------------


def test_renumber_and_archive_pass_check_and_the_hooks(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    base = repo.head()
    repo.ok("start", "fn-1.1")
    repo.ok("renumber", "fn-1", "--to", "7")
    assert f"Flow-Rename: {EPIC_ID} fn-7-add-oauth-login" in repo.message()
    check = repo.flow("check", "--base", base, "--json")
    assert check.exit_code == 0, check
    # the same through --no-commit and a plain `git commit` with the hooks
    repo.ok("renumber", "fn-7", "--to", "8", "--no-commit")
    result = subprocess.run(["git", "commit", "-m", "renumber by hand"], cwd=repo.path,
                            capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    message = repo.message()
    assert "Flow-Rename: fn-7-add-oauth-login fn-8-add-oauth-login" in message
    assert "Flow-Transition" not in message  # no create inferred for the new IDs
    repo.ok("done", "fn-8.1")
    for number in (2, 3):
        repo.ok("skip", f"fn-8.{number}", "--reason", "descoped")
    repo.ok("epic", "close", "fn-8")
    repo.ok("epic", "archive", "fn-8")
    assert "Flow-Archive:" in repo.message()
    check = repo.flow("check", "--base", base, "--json")
    assert check.exit_code == 0, check
    assert check.json["commits_checked"] == 8
