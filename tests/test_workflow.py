"""flowctl's remaining workflow commands (issue #16, part 5): restart, queue,
status --interrupted, prompt (flowctl's worker-prompt)."""

from __future__ import annotations

import re

from conftest import Repo

E = "fn-1-chain"
T = {n: f"{E}.{n}" for n in range(1, 7)}


def chain(repo: Repo) -> None:
    """1 <- 2 <- 3 <- 4, and 5 apart; 6 depends on 1 only. 1, 2, 3 done; 4 failed."""
    repo.ok("init")
    repo.ok("config", "set", "retry_backoff.base", "0")
    repo.ok("epic", "create", "--title", "Chain")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Schema", "--files", "db/schema.sql",
            "--description", "Design the schema.", "--acceptance", "- [ ] tables for users")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Middle", "--deps", "fn-1.1",
            "--description", "Build the middle layer on the schema.",
            "--acceptance", "- [ ] reads users\n- [ ] writes sessions")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Top", "--deps", "fn-1.2")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Tip", "--deps", "fn-1.3",
            "--max-retries", "0")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Apart")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Side", "--deps", "fn-1.1")
    for n in (1, 2, 3):
        repo.ok("start", T[n])
        repo.ok("done", T[n], "--summary", f"Finished part {n}: the work is in src/part{n}.py.",
                "--evidence", f"commits=abc{n}", "--evidence", "tests=pytest -q")
    repo.ok("start", T[4])
    repo.ok("fail", T[4], "--reason", "flaky")


def statuses(repo: Repo) -> dict[str, str]:
    return {row["id"]: row["status"] for row in repo.ok("tasks")["tasks"]}


def test_restart_of_a_middle_task_resets_exactly_its_downstream(repo: Repo) -> None:
    chain(repo)
    before = statuses(repo)
    head = repo.head()
    dry = repo.ok("restart", "fn-1.2", "--dry-run")
    assert dry["would_reset"] == [T[2], T[3], T[4]]
    assert repo.head() == head and repo.status() == "" and statuses(repo) == before
    data = repo.ok("restart", "fn-1.2")
    assert data["reset"] == [T[2], T[3], T[4]]
    after = statuses(repo)
    assert {task: after[task] for task in (T[2], T[3], T[4])} == dict.fromkeys((T[2], T[3], T[4]), "todo")
    assert {task: after[task] for task in (T[1], T[5], T[6])} == \
        {task: before[task] for task in (T[1], T[5], T[6])}
    message = repo.message()
    assert re.findall(r"^Flow-Transition: (\S+) (\S+) action=restart", message, re.M) == [
        (T[2], "done->todo"), (T[3], "done->todo"), (T[4], "failed->todo")]
    middle = repo.read(f".flow/tasks/{T[2]}.md")
    assert "Finished part 2" not in middle and "assignee" not in middle
    assert "reads users" in middle  # the spec stays
    assert "attempts" not in repo.read(f".flow/tasks/{T[4]}.md")
    claims = {row["id"]: row for row in repo.ok("claims")["claims"]}
    assert T[1] in claims and T[2] not in claims and T[3] not in claims  # records dropped
    assert repo.flow("check", "--base", head).exit_code == 0  # the validator accepts restart
    ready = [row["id"] for row in repo.ok("ready")["ready"]]
    assert T[2] in ready and T[3] not in ready


def test_restart_refuses_work_in_progress_unless_forced(repo: Repo) -> None:
    chain(repo)
    repo.ok("restart", "fn-1.2")
    repo.ok("start", T[2], env={"FLOW_ACTOR": "bob"})
    refused = repo.refused("restart", "fn-1.1", "--json")
    assert T[2] in refused.json["error"] and "in progress" in refused.json["error"]
    data = repo.ok("restart", "fn-1.1", "--force")
    assert data["reset"] == [T[1], T[2]]  # 3, 4 and 6 downstream are todo already
    assert data["downstream"] == [T[2], T[3], T[4], T[6]]
    assert T[2] in data["claims_dropped"]
    assert re.search(rf"^Flow-Transition: {re.escape(T[2])} in_progress->todo action=restart .*force=1",
                     repo.message(), re.M)
    assert not re.search(rf"^Flow-Transition: {re.escape(T[1])} .*force=1", repo.message(), re.M)
    assert repo.ok("restart", "fn-1.5")["reset"] == []  # todo already, nothing downstream


def test_queue_counts_per_epic_and_names_what_blocks(repo: Repo) -> None:
    chain(repo)
    repo.ok("epic", "create", "--title", "Later")
    repo.ok("epic", "add-dep", "fn-2", "fn-1")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Afterwards")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "After tip", "--deps", "fn-1.4")
    repo.ok("block", T[5], "--reason", "waiting on keys")
    repo.ok("start", T[6], env={"FLOW_ACTOR": "bob"})
    report = repo.ok("queue")
    first, second = report["epics"]
    assert first["counts"] == {"ready": 0, "in_progress": 1, "blocked": 2, "waiting": 0}
    assert first["failed"] == 1 and first["done"] == 3 and first["total"] == 7
    blocked = {row["id"]: row["blocked_by"] for row in first["blocked"]}
    assert blocked == {T[5]: ["status=blocked"], f"{E}.7": [T[4]]}  # upstream_failed on T4
    assert first["in_progress"] == [{"id": T[6], "title": "Side", "assignee": "bob"}]
    assert second["id"].startswith("fn-2") and second["waits_for_epics"] == [E]
    assert second["counts"]["waiting"] == 1
    assert second["waiting"][0]["blocked_by"] == [f"epic={E}"]
    assert report["totals"] == {"ready": 0, "in_progress": 1, "blocked": 2, "waiting": 1}
    text = repo.flow("queue").stdout
    assert "waits for epic" in text and "status=blocked" in text
    repo.ok("retry", T[4])
    again = repo.ok("queue")["epics"][0]
    assert again["counts"]["ready"] == 1 and again["counts"]["waiting"] == 1  # 7 waits on 4


def test_status_interrupted_lists_started_unfinished_epics(repo: Repo) -> None:
    chain(repo)
    repo.ok("epic", "create", "--title", "Untouched")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Not started")
    found = repo.ok("status", "--interrupted")
    assert [epic["id"] for epic in found["interrupted"]] == [E]
    (epic,) = found["interrupted"]
    assert epic["done"] == 3 and epic["total"] == 6
    assert {row["id"] for row in epic["unfinished"]} == {T[4], T[5], T[6]}
    assert epic["resume"] == f"git flow-task next --claim --epic {E}"
    assert "go on:" in repo.flow("status", "--interrupted").stdout
    assert repo.ok("status")["runs"] == []


def test_prompt_carries_what_a_worker_needs_and_stays_short(repo: Repo) -> None:
    chain(repo)
    repo.ok("restart", "fn-1.2")
    data = repo.ok("prompt", "fn-1.2")
    text = data["prompt"]
    assert "Build the middle layer on the schema." in text and "writes sessions" in text
    assert "Finished part 1: the work is in src/part1.py." in text  # the dependency's summary
    assert "Commits: abc1" in text and "Tests: pytest -q" in text  # and its evidence
    assert f"git flow-task done {T[2]} --summary" in text
    assert f'git flow-task fail {T[2]} --reason' in text
    assert f'git flow-task block {T[2]} --reason' in text
    assert f"git flow-task start {T[2]}" in text and f"git flow-task heartbeat {T[2]}" in text
    assert data["words"] == len(text.split()) and data["words"] < 600
    assert [dep["id"] for dep in data["dependencies"]] == [T[1]]
    assert repo.flow("prompt", "fn-1.2").stdout == text  # the same text, no time in it
    assert repo.ok("prompt", "fn-1.2")["prompt"] == text
    owned = repo.ok("prompt", "fn-1.1")
    assert "db/schema.sql" in owned["prompt"] and owned["files"] == ["db/schema.sql"]
    # a long dependency summary is cut, so the prompt stays short
    repo.ok("restart", "fn-1.1")
    repo.ok("start", T[1])
    repo.ok("done", T[1], "--summary", "word " * 2000)
    assert repo.ok("prompt", "fn-1.2")["words"] < 600
    assert repo.ok("worker-prompt", "fn-1.2")["prompt"]  # flowctl's name works too
