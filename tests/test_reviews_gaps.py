"""Issue #15: review verdicts (by hand and by a real reviewer program) and the gap registry,
with real commits, real merges and `epic close` refusing until the gates are met."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo

from git_flowctl.model.trailers import parse_message

EPIC = "fn-1-add-oauth-login"
EPIC_FILE = f".flow/epics/{EPIC}.md"
ID1 = f"{EPIC}.1"


def reviewer(tmp_path: Path, verdict: str, *, name: str = "reviewer.sh", extra: str = "") -> str:
    """A reviewer program: saves what it was given, prints some text and a verdict tag."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\ncat > {tmp_path}/{name}.stdin\n{extra}"
                    f"echo 'I read it all.'\necho '<verdict>{verdict}</verdict>'\n")
    path.chmod(0o755)
    return str(path)


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def finish_all(repo: Repo) -> None:
    for task in ("fn-1.1", "fn-1.2", "fn-1.3"):
        repo.ok("start", task)
        repo.ok("done", task)


def frontmatter(repo: Repo, path: str) -> dict[str, Any]:
    import yaml

    text = repo.read(path)
    loaded: dict[str, Any] = yaml.safe_load(text.split("---\n")[1])
    return loaded


# Reviews ---------------------------------------------------------------------------------------


def test_a_reviewer_that_says_needs_work_records_it_and_close_waits_for_ship(flow_repo: Repo,
                                                                           tmp_path: Path) -> None:
    repo = flow_repo
    repo.ok("config", "set", "require_review", "completion")
    finish_all(repo)
    refused = repo.flow("epic", "close", "fn-1", "--json")
    assert refused.exit_code == 1
    assert "config requires a SHIP completion review (latest: none)" in refused.json["error"]

    data = repo.ok("review", "fn-1", "--run", reviewer(tmp_path, "NEEDS_WORK"))
    assert data["verdict"] == "needs_work" and data["kind"] == "completion"
    assert data["reviewer"]["status"] == "verdict" and data["reviewer"]["exit_code"] == 0
    message = repo.message()
    review = parse_message(message).reviews
    assert [(r.subject, r.kind, r.verdict) for r in review] == [(EPIC, "completion", "needs_work")]
    assert dict(review[0].extra) == {"output": f"sha256:{data['reviewer']['sha256']}",
                                     "reviewer": "run"}
    assert "I read it all" not in message  # the reviewer's text is data, never the message
    assert frontmatter(repo, EPIC_FILE)["completion_review_status"] == "needs_work"
    refused = repo.flow("epic", "close", "fn-1", "--json")
    assert refused.exit_code == 1 and "(latest: NEEDS_WORK)" in refused.json["error"]
    assert repo.ok("next")["status"] == "completion_review"
    assert repo.ok("next")["reason"] == "needs_completion_review"

    repo.ok("review", "fn-1", "--run", reviewer(tmp_path, "SHIP", name="second.sh"))
    closed = repo.ok("epic", "close", "fn-1")
    assert closed["status"] == "done"
    assert repo.flow("check", "--base", repo.git("rev-list", "--max-parents=0", "HEAD").strip()
                     ).exit_code == 0


def test_the_reviewer_reads_the_spec_and_the_diff_of_the_tasks_commits(flow_repo: Repo,
                                                                      tmp_path: Path) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.write("src/token.py", "SCHEMA = {'sub': str}\n")
    repo.commit_all(f"token schema\n\nFlow-Task: {ID1}")
    repo.write("src/other.py", "UNRELATED = 1\n")
    repo.commit_all("unrelated work")
    repo.ok("done", "fn-1.1")
    repo.ok("review", "fn-1.1", "--run", reviewer(tmp_path, "SHIP"))
    given = (tmp_path / "reviewer.sh.stdin").read_text()
    assert "# Review request: completion of fn-1-add-oauth-login.1" in given
    assert "title: Design token schema" in given and f"## Epic: {EPIC_FILE}" in given
    assert "+SCHEMA = {'sub': str}" in given and "UNRELATED" not in given
    assert "Diff of the work's commits (1)" in given

    repo.ok("review", "fn-1.2", "--kind", "plan", "--run", reviewer(tmp_path, "MAJOR_RETHINK"))
    plan_input = (tmp_path / "reviewer.sh.stdin").read_text()
    assert "# Review request: plan of fn-1-add-oauth-login.2" in plan_input
    assert "Diff of the work" not in plan_input
    assert frontmatter(repo, f".flow/tasks/{EPIC}.2.md")["plan_review_status"] == "major_rethink"


def test_a_reviewer_that_is_not_installed_is_skipped_with_a_warning(flow_repo: Repo) -> None:
    repo = flow_repo
    head = repo.head()
    result = repo.flow("review", "fn-1", "--run", "no-such-reviewer-cli exec -")
    assert result.exit_code == 0
    assert "warning: reviewer program not found: no-such-reviewer-cli" in result.stderr
    data = repo.ok("review", "fn-1", "--run", "no-such-reviewer-cli exec -")
    assert data["status"] == "skipped" and data["verdict"] is None and data["commit"] is None
    assert repo.head() == head and repo.status() == ""


def test_a_reviewer_without_a_verdict_or_past_its_timeout_records_nothing(flow_repo: Repo,
                                                                         tmp_path: Path) -> None:
    repo = flow_repo
    head = repo.head()
    vague = tmp_path / "vague.sh"
    vague.write_text("#!/bin/sh\ncat >/dev/null\necho 'seems fine, I guess'\n")
    vague.chmod(0o755)
    result = repo.flow("review", "fn-1", "--run", str(vague), "--json")
    assert result.exit_code == 1 and "no <verdict>" in result.json["error"]
    assert result.json["reviewer"]["output"] in result.json["hint"]
    pid_file = tmp_path / "child.pid"
    slow = f"cat >/dev/null; sleep 300 & echo $! > {pid_file}; wait"
    started = time.monotonic()
    result = repo.flow("review", "fn-1", "--run", slow, "--timeout", "1", "--json")
    assert result.exit_code == 1 and "timed out after 1s" in result.json["error"]
    assert time.monotonic() - started < 60
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 60
    while not process_gone(pid):
        assert time.monotonic() < deadline, "the reviewer's child outlived its timeout"
        time.sleep(0.05)
    assert repo.head() == head


def test_verdict_by_hand_with_notes_and_what_log_and_stats_show(flow_repo: Repo) -> None:
    repo = flow_repo
    notes = "Split the middleware.\n## Not a heading\nFlow-Transition: fn-1.1 todo->done action=x"
    repo.ok("review", "fn-1.2", "--verdict", "needs_work", "--notes", notes)
    text = repo.read(f".flow/tasks/{EPIC}.2.md")
    assert "## Reviews\n- 2026-01-05T10:00:00Z plan NEEDS_WORK by alice@example.com\n" \
           "  > Split the middleware.\n  > ## Not a heading\n" in text
    assert "Flow-Transition" not in repo.message()
    assert parse_message(repo.message()).transitions == []
    repo.ok("review", "fn-1.2", "--verdict", "SHIP", "--kind", "plan")
    events = repo.ok("log", "fn-1.2")["events"]
    reviews = [e for e in events if e["event"] == "review"]
    assert [(e["extra"]["kind"], e["extra"]["verdict"], e["from"], e["to"]) for e in reviews] == [
        ("plan", "needs_work", "todo", "todo"), ("plan", "ship", "todo", "todo")]
    human = repo.flow("log", "fn-1.2")
    assert "plan review NEEDS_WORK by alice@example.com" in human.stdout
    stats = repo.ok("stats")
    assert stats["reviews"] == {"recorded": {"plan": {"needs_work": 1, "ship": 1}},
                                "latest": {"plan": {"ship": 1}}}
    assert stats["tasks"]["total"] == 3  # a review is not a transition


def test_require_review_plan_makes_next_ask_for_the_plan_review(flow_repo: Repo) -> None:
    repo = flow_repo
    assert repo.ok("next")["status"] == "work"
    repo.ok("config", "set", "require_review", "plan")
    answer = repo.ok("next")
    assert (answer["status"], answer["epic"], answer["task"], answer["reason"]) == (
        "plan", EPIC, None, "needs_plan_review")
    assert "review the plan of" in repo.flow("next").stdout
    repo.ok("review", "fn-1", "--verdict", "needs_work")
    assert repo.ok("next")["reason"] == "needs_plan_review"
    repo.ok("review", "fn-1", "--verdict", "ship", "--kind", "plan")
    answer = repo.ok("next")
    assert answer["status"] == "work" and answer["task"] == ID1


def test_review_usage_errors(flow_repo: Repo) -> None:
    repo = flow_repo
    assert "give --verdict or --run" in repo.refused("review", "fn-1", code=2).stderr
    assert "unknown verdict" in repo.refused("review", "fn-1", "--verdict", "lgtm", code=2).stderr
    assert repo.refused("review", "fn-9", "--verdict", "ship").exit_code == 1
    # A value of the wrong kind is refused when set (issue #14), and reported when read.
    assert "require_review must be" in repo.refused("config", "set", "require_review",
                                                    "sometimes").stderr
    config = repo.read(".flow/config.yaml").replace("require_review: null", "require_review: sometimes")
    repo.write(".flow/config.yaml", config)
    repo.commit_all("hand edit")
    assert "require_review must be null, completion or plan" in repo.refused("next").stderr


# Gaps ------------------------------------------------------------------------------------------


def test_an_open_required_gap_keeps_the_epic_open_until_resolved(flow_repo: Repo) -> None:
    repo = flow_repo
    finish_all(repo)
    added = repo.ok("gap", "add", "--epic", "fn-1", "Logout revokes refresh tokens")
    gap = added["id"]
    assert added["created"] is True and gap.startswith("gap-") and len(gap) == 12
    assert repo.ok("gap", "add", "--epic", "fn-1", "logout revokes refresh tokens  ")["created"] is False
    nice = repo.ok("gap", "add", "--epic", "fn-1", "--priority", "nice", "Prettier log lines")["id"]
    trailers = parse_message(repo.git("log", "-2", "--format=%B")).gaps
    assert {(g.subject, g.source, g.target, g.action, g.epic, g.priority) for g in trailers} == {
        (gap, None, "open", "add", EPIC, "required"), (nice, None, "open", "add", EPIC, "nice")}
    assert "Logout" not in repo.git("log", "-2", "--format=%B")  # the text stays in the file

    refused = repo.flow("epic", "close", "fn-1", "--json")
    assert refused.exit_code == 1
    assert refused.json["error"] == (f"cannot close {EPIC}: 1 open gap must be resolved first: "
                                     f"{gap} [required] Logout revokes refresh tokens")
    assert refused.json["open_gaps"] == [gap]
    check = repo.flow("gap", "check", "--epic", "fn-1", "--json")
    assert check.exit_code == 1 and check.json["gate"] == "fail"
    assert [g["id"] for g in check.json["open_blocking"]] == [gap]
    assert len(check.json["open_non_blocking"]) == 1

    head = repo.head()
    skipped = repo.ok("epic", "close", "fn-1", "--skip-gap-check")
    assert skipped["status"] == "done" and skipped["gap_check"] == "skipped"
    repo.git("reset", "-q", "--hard", head)

    resolved = repo.ok("gap", "resolve", gap, "--evidence", "tests/test_logout.py covers it")
    assert resolved["changed"] is True and resolved["gap"]["status"] == "resolved"
    assert resolved["gap"]["evidence"] == "tests/test_logout.py covers it"
    assert repo.ok("gap", "resolve", gap[:8])["changed"] is False
    assert repo.ok("gap", "check", "--epic", "fn-1")["gate"] == "pass"
    assert repo.ok("epic", "close", "fn-1")["status"] == "done"
    assert [g["id"] for g in repo.ok("gap", "list", "--open")["gaps"]] == [nice]
    assert repo.ok("gap", "list", "--rev", head)["count"] == 2


def test_two_branches_that_each_add_a_gap_merge_without_conflict(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")  # the merge driver is registered: it must not be needed
    base = repo.head()
    repo.git("checkout", "-q", "-b", "alice")
    first = repo.ok("gap", "add", "--epic", "fn-1", "Tokens expire")["id"]
    shared = repo.ok("gap", "add", "--epic", "fn-1", "--priority", "important", "Audit log")["id"]
    repo.git("checkout", "-q", "main")
    second = repo.ok("gap", "add", "--epic", "fn-1", "--priority", "nice", "Dark mode")["id"]
    assert repo.ok("gap", "add", "--epic", "fn-1", "--priority", "important", "Audit log")["id"] == shared
    merged = subprocess.run(["git", "merge", "--no-edit", "alice"], cwd=repo.path,
                            capture_output=True, text=True)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "CONFLICT" not in merged.stdout
    listed = {g["id"]: g["priority"] for g in repo.ok("gap", "list", "--epic", "fn-1")["gaps"]}
    assert listed == {first: "required", shared: "important", second: "nice"}
    assert repo.status() == ""
    assert repo.flow("check", "--base", base).exit_code == 0


def test_gap_errors(flow_repo: Repo) -> None:
    repo = flow_repo
    assert "a gap needs its text" in repo.refused("gap", "add", "--epic", "fn-1", " ", code=2).stderr
    assert repo.refused("gap", "add", "--epic", "fn-9", "x").exit_code == 1
    assert "no gap gap-0000" in repo.refused("gap", "resolve", "gap-0000").stderr
    listed = repo.flow("gap", "list")
    assert listed.exit_code == 0 and "no gaps" in listed.stdout


@pytest.mark.parametrize("priority", ["nice-to-have"])
def test_flowctls_priority_name_is_read(flow_repo: Repo, priority: str) -> None:
    data = flow_repo.ok("gap", "add", "--epic", "fn-1", "--priority", priority, "Polish")
    assert data["gap"]["priority"] == "nice"
    assert flow_repo.ok("gap", "check", "--epic", "fn-1")["gate"] == "pass"
