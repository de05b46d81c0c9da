"""Refusals name what stands in the way and the command that moves it forward (issue #12,
item 2)."""

from __future__ import annotations

import time

import pytest
from conftest import Repo
from plans import put_in_state, tid


@pytest.mark.parametrize(("state", "step"), [
    ("blocked", f"`unblock` {tid(1)} once the blocker is gone"),
    ("failed", f"`retry` {tid(1)}, or `skip` it"),
    ("in_progress", f"finish {tid(1)} (in progress)"),
    ("todo", f"start and finish {tid(1)}"),
])
def test_a_refused_start_says_how_to_move_its_dependency(flow_repo: Repo, state: str, step: str) -> None:
    put_in_state(flow_repo, tid(1), state)
    result = flow_repo.refused("start", tid(2))
    assert f"dependencies not satisfied: {tid(1)} ({state})" in result.stderr
    assert f"hint: {step}" in result.stderr
    assert "finish those first" not in result.stderr


def test_a_dependency_whose_upstream_failed(flow_repo: Repo) -> None:
    flow_repo.ok("task", "create", "--epic", "fn-1", "--title", "Docs", "--deps", "fn-1.2")
    put_in_state(flow_repo, tid(1), "failed")
    result = flow_repo.refused("start", tid(4), "--json")
    assert result.json["blocked_by"] == [tid(2)]
    assert "an upstream task failed" in result.json["hint"]


def test_skip_of_a_task_in_progress_says_release_first(flow_repo: Repo) -> None:
    flow_repo.ok("start", tid(1))
    result = flow_repo.refused("skip", tid(1), "--reason", "not needed")
    assert "hint: `release` it first (the claim goes back), then skip it" in result.stderr
    assert "--force" not in result.stderr


def test_an_epic_where_a_task_is_expected(flow_repo: Repo) -> None:
    for command in (["start", "fn-1"], ["done", "fn-1"], ["block", "fn-1", "--reason", "x"]):
        result = flow_repo.refused(*command)
        assert "error: fn-1-add-oauth-login is an epic, not a task" in result.stderr, command
        assert "ready --epic fn-1-add-oauth-login" in result.stderr
    assert "no task 'fn-9'" in flow_repo.refused("start", "fn-9").stderr
    assert "is an epic" in flow_repo.refused("task", "edit", "fn-1", "--title", "x").stderr


def test_another_actor_holds_it_start_and_done_exit_3_naming_the_holder(flow_repo: Repo) -> None:
    agent = {"FLOW_ACTOR": "agent-1"}
    flow_repo.ok("start", tid(1), env=agent)
    start = flow_repo.refused("start", tid(1), "--json", code=3, env={"FLOW_ACTOR": "agent-2"})
    assert "claimed by agent-1" in start.json["error"] and start.json["holder"] == "agent-1"
    assert "git flow-task next" in start.json["hint"] and "--reclaim" in start.json["hint"]
    done = flow_repo.refused("done", tid(1), "--json", code=3, env={"FLOW_ACTOR": "agent-2"})
    assert "claimed by agent-1" in done.json["error"] and done.json["holder"] == "agent-1"
    assert "agent-1 started it on this branch" in done.json["error"]
    assert "lease ran out" not in done.json["hint"]
    # the holder itself: starting again is the state machine's answer (exit 1), not a conflict
    own = flow_repo.refused("start", tid(1), code=1, env=agent)
    assert "it is already in progress" in own.stderr


def test_done_after_a_reclaim_says_the_lease_ran_out(flow_repo: Repo) -> None:
    flow_repo.ok("config", "set", "claims.lease_seconds", "1")
    other = flow_repo.path.parent / "other-wt"
    flow_repo.git("worktree", "add", "-q", "-b", "other", str(other))
    flow_repo.ok("start", tid(1), env={"FLOW_ACTOR": "agent-1"})
    time.sleep(2.5)  # the lease ends on a whole second after the start
    # agent-2 reclaims it in another worktree; then agent-1, who started it here, tries done
    reclaimed = flow_repo.flow("start", tid(1), "--reclaim", "--json", cwd=other,
                               env={"FLOW_ACTOR": "agent-2"})
    assert reclaimed.exit_code == 0, reclaimed
    done = flow_repo.refused("done", tid(1), "--json", code=3, env={"FLOW_ACTOR": "agent-1"})
    assert "your lease ran out and it was reclaimed" in done.json["hint"]
