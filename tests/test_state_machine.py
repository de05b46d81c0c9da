"""Issue #3: every transition of the state machine, trigger rules, derived upstream_failed."""

from __future__ import annotations

import re

import pytest
from conftest import Repo
from plans import PREFIX, grep_history, put_in_state, stored_statuses_in_history, tid

from git_flowctl.model.states import ACTIONS

STATES = ("todo", "in_progress", "blocked", "done", "skipped", "failed", "up_for_retry")
ACTION_ARGS = {"block": ["--reason", "r"], "skip": ["--reason", "r"]}
# expire is recorded by whoever notices an expired lease (tests/test_expiry.py); restart resets
# downstream tasks too and takes a todo task (tests/test_workflow.py).
USER_ACTIONS = [name for name in ACTIONS if name not in ("create", "split", "expire", "restart")]


def diamond(repo: Repo) -> None:
    """1 -> 2, 1 -> 3, {2, 3} -> 4, with max_retries 1 on task 2."""
    repo.ok("init")
    repo.ok("config", "set", "retry_backoff.base", "0")  # retried at once (tests/test_backoff.py)
    repo.ok("epic", "create", "--title", "Add OAuth login")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Schema")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Middleware", "--deps", "fn-1.1",
            "--max-retries", "1")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "UI", "--deps", "fn-1.1")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "E2E", "--deps", "fn-1.2,fn-1.3")


def ready_ids(repo: Repo) -> list[str]:
    return [row["id"] for row in repo.ok("ready")["ready"]]


def test_the_diamond_with_a_retry_and_a_failure(repo: Repo) -> None:
    diamond(repo)
    assert "max_retries: 1" in repo.read(f".flow/tasks/{tid(2)}.md")
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")

    repo.ok("start", "fn-1.2")
    first = repo.ok("fail", "fn-1.2", "--reason", "flaky test")
    assert first["status"] == "up_for_retry" and first["attempts"] == 1
    assert repo.ok("show", "fn-1.4")["status"] == "todo"  # up_for_retry is no failure yet
    assert tid(2) in ready_ids(repo)

    repo.ok("start", "fn-1.2")
    second = repo.ok("fail", "fn-1.2")
    assert second["status"] == "failed" and second["attempts"] == 2
    shown = repo.ok("show", "fn-1.4")
    assert shown["status"] == "upstream_failed"
    assert shown["stored_status"] == "todo"
    assert tid(4) not in ready_ids(repo)
    blocked = {row["id"]: row for row in repo.ok("ready")["blocked"]}
    assert blocked[tid(4)]["blocked_by"] == [tid(2)]
    assert repo.refused("start", "fn-1.4").exit_code == 1

    retried = repo.ok("retry", "fn-1.2")
    assert retried["status"] == "todo"
    assert "attempts" not in repo.read(f".flow/tasks/{tid(2)}.md")
    assert repo.ok("show", "fn-1.4")["status"] == "todo"  # cleared by itself, nothing written
    repo.ok("start", "fn-1.2")
    repo.ok("done", "fn-1.2")
    four = repo.ok("show", "fn-1.4")
    assert four["status"] == "todo" and four["view_state"] == "waiting"
    assert four["blocked_by"] == [tid(3)]
    assert tid(4) not in ready_ids(repo)
    repo.ok("start", "fn-1.3")
    repo.ok("done", "fn-1.3")
    assert repo.ok("show", "fn-1.4")["view_state"] == "ready"
    assert ready_ids(repo) == [tid(4)]

    assert "upstream_failed" not in stored_statuses_in_history(repo)
    assert grep_history(repo, "upstream_failed") == ""
    assert "failed" in stored_statuses_in_history(repo)  # the history really holds the failure


@pytest.mark.parametrize("action", USER_ACTIONS)
def test_every_action_from_every_state_follows_the_table(repo: Repo, action: str) -> None:
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Add OAuth login")
    for state in STATES:
        repo.ok("task", "create", "--epic", "fn-1", "--title", f"In {state}")
    for number, state in enumerate(STATES, start=1):
        put_in_state(repo, tid(number), state)
        assert repo.ok("show", tid(number))["stored_status"] == state
    spec = ACTIONS[action]
    for number, state in enumerate(STATES, start=1):
        head = repo.head()
        result = repo.flow(action, tid(number), *ACTION_ARGS.get(action, []), "--json")
        if state in spec.sources:
            assert result.exit_code == 0, (state, result)
            assert result.json["status"] in spec.targets
            message = repo.message()
            assert re.search(rf"^Flow-Transition: {re.escape(tid(number))} {state}->"
                             rf"{result.json['status']} action={action} ", message, re.M), message
        else:
            assert result.exit_code == 1, (state, result)
            assert result.json["success"] is False
            assert f"cannot {action}" in result.json["error"]
            assert repo.head() == head and repo.status() == ""


def test_force_repairs_and_is_recorded(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    head = repo.head()
    repo.refused("retry", "fn-1.1")
    assert repo.head() == head
    data = repo.ok("retry", "fn-1.1", "--force")
    assert data["status"] == "todo"
    assert re.search(r"^Flow-Transition: \S+ in_progress->todo action=retry .* force=1$",
                     repo.message(), re.M)
    # a forced action that changes nothing records nothing
    head = repo.head()
    assert repo.ok("unblock", "fn-1.1", "--force")["changed"] is False
    assert repo.head() == head


def test_reopen_cascade_reopens_done_dependents_in_one_commit(flow_repo: Repo) -> None:
    repo = flow_repo
    for task in ("fn-1.1", "fn-1.2"):
        repo.ok("start", task)
        repo.ok("done", task)
    head = repo.head()
    data = repo.ok("reopen", "fn-1.1", "--cascade")
    assert data["reopened"] == [tid(1), tid(2)]
    assert repo.git("rev-list", "--count", f"{head}..HEAD").strip() == "1"
    assert repo.message().count("Flow-Transition:") == 2


# Trigger rules ------------------------------------------------------------------------------------


def _join(repo: Repo, rule: str, upstream: tuple[str, str]) -> dict[str, object]:
    """Two upstream tasks in the given states and a join with ``rule``; the join as shown."""
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Add OAuth login")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Path A")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Path B")
    args = [] if rule == "all_success" else ["--trigger-rule", rule]
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Join", "--deps", "fn-1.1,fn-1.2", *args)
    put_in_state(repo, tid(1), upstream[0])
    put_in_state(repo, tid(2), upstream[1])
    return repo.ok("show", "fn-1.3")


@pytest.mark.parametrize(("rule", "upstream", "expected"), [
    ("all_success", ("done", "done"), "ready"),
    ("all_success", ("done", "skipped"), "ready"),
    ("all_success", ("done", "in_progress"), "waiting"),
    ("all_success", ("done", "failed"), "upstream_failed"),
    ("none_failed_min_one_success", ("done", "skipped"), "ready"),
    ("none_failed_min_one_success", ("skipped", "skipped"), "waiting"),
    ("none_failed_min_one_success", ("done", "failed"), "upstream_failed"),
    ("none_failed_min_one_success", ("done", "up_for_retry"), "waiting"),
    ("all_done", ("done", "failed"), "ready"),
    ("all_done", ("failed", "skipped"), "ready"),
    ("all_done", ("done", "in_progress"), "waiting"),
    ("all_done", ("done", "blocked"), "waiting"),
])
def test_trigger_rules(repo: Repo, rule: str, upstream: tuple[str, str], expected: str) -> None:
    join = _join(repo, rule, upstream)
    assert join["trigger_rule"] == rule
    assert join["view_state"] == expected
    result = repo.flow("start", "fn-1.3", "--json")
    assert (result.exit_code == 0) == (expected == "ready"), result


def test_trigger_rule_is_settable_and_the_default_is_not_written(flow_repo: Repo) -> None:
    repo = flow_repo
    path = f".flow/tasks/{tid(2)}.md"
    assert "trigger_rule" not in repo.read(path)
    repo.ok("task", "edit", "fn-1.2", "--trigger-rule", "all_done")
    assert "trigger_rule: all_done" in repo.read(path)
    assert "Flow-Transition" not in repo.message()  # an edit is not a state change
    repo.ok("task", "edit", "fn-1.2", "--trigger-rule", "all_success")
    assert "trigger_rule" not in repo.read(path)
    bad = repo.refused("task", "edit", "fn-1.2", "--trigger-rule", "sometimes", code=2)
    assert "sometimes" in bad.stderr


def test_upstream_failed_propagates_through_a_chain_and_clears(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("task", "create", "--epic", "fn-1", "--title", "After 2", "--deps", "fn-1.2")
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    put_in_state(repo, tid(2), "failed")
    assert repo.ok("show", "fn-1.4")["status"] == "upstream_failed"
    status = repo.ok("status")
    assert status["tasks"]["upstream_failed"] == 1 and status["tasks"]["failed"] == 1
    assert [row["id"] for row in repo.ok("tasks", "--status", "upstream_failed")["tasks"]] == [tid(4)]
    repo.ok("retry", "fn-1.2")
    assert repo.ok("show", "fn-1.4")["status"] == "todo"


# Epics ------------------------------------------------------------------------------------------


def test_epic_close_is_refused_listing_open_tasks_then_closes_with_a_trailer(flow_repo: Repo) -> None:
    repo = flow_repo
    head = repo.head()
    refused = repo.flow("epic", "close", "fn-1", "--json")
    assert refused.exit_code == 1
    assert refused.json["open_tasks"] == [tid(1), tid(2), tid(3)]
    assert f"{tid(1)} (todo)" in refused.json["error"]
    assert repo.head() == head
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    repo.ok("skip", "fn-1.2", "--reason", "dropped")
    repo.ok("skip", "fn-1.3", "--reason", "dropped")
    closed = repo.ok("epic", "close", "fn-1")
    assert closed["status"] == "done"
    assert re.search(rf"^Flow-Transition: {PREFIX} open->done action=close by=alice@example.com id=",
                     repo.message(), re.M)
    assert "status: done" in repo.read(f".flow/epics/{PREFIX}.md")
    assert repo.refused("epic", "close", "fn-1").stderr.startswith("error: cannot close epic")
    reopened = repo.ok("epic", "reopen", "fn-1")
    assert reopened["status"] == "open"
    assert re.search(rf"^Flow-Transition: {PREFIX} done->open action=reopen ", repo.message(), re.M)


def test_epic_close_waits_for_its_epic_dependencies(repo: Repo) -> None:
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Base")
    repo.ok("epic", "create", "--title", "Top", "--deps", "fn-1")
    result = repo.flow("epic", "close", "fn-2", "--json")
    assert result.exit_code == 1
    assert result.json["waiting_on"] == ["fn-1-base"]
    repo.ok("epic", "close", "fn-1")
    repo.ok("epic", "close", "fn-2")
