"""Retry backoff (issue #16, part 2): up_for_retry tasks come back after min(max, base *
factor^(n-1)) seconds, derived from the fail transition in history; ready, next, board and run
leave them out until then and say when they come back."""

from __future__ import annotations

import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo

from git_flowctl.coordination.backoff import Backoff, iso_ms
from git_flowctl.model.errors import FlowError
from git_flowctl.model.ulid import ulid_milliseconds

T1, T2 = "fn-1-retry.1", "fn-1-retry.2"


def seed(repo: Repo, base: str, factor: str = "2", max_retries: int = 3) -> None:
    repo.ok("init")
    repo.ok("config", "set", "max_retries", str(max_retries))
    repo.ok("config", "set", "retry_backoff.base", base)
    repo.ok("config", "set", "retry_backoff.factor", factor)
    repo.ok("epic", "create", "--title", "Retry")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Flaky", "--priority", "1")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Other", "--priority", "2")


def seconds(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def fail_time(repo: Repo, task: str) -> float:
    """When the last fail of the task was written: its transition ID's time."""
    events = [e for e in repo.ok("log", task)["events"] if e["action"] == "fail"]
    return ulid_milliseconds(events[-1]["transition_id"]) / 1000


def test_the_delay_grows_by_the_factor_up_to_the_maximum() -> None:
    backoff = Backoff.of({"base": 2, "factor": 3, "max": 30})
    assert [backoff.delay(n) for n in (0, 1, 2, 3, 4)] == [0, 2, 6, 18, 30]
    assert Backoff.of(None).as_json() == {"base": 30.0, "factor": 2.0, "max": 600.0}
    assert Backoff.of({"base": 2}, 5).delay(1) == 5  # a task's number is its base
    assert Backoff.of({"base": 2}, {"factor": 10}).delay(2) == 20
    assert Backoff.of({"base": 0}).off and Backoff.of({"base": 0}).delay(3) == 0
    assert Backoff.of({"factor": 1e308, "max": 50}).delay(400) == 50
    for bad in ({"base": -1}, {"base": "soon"}, {"speed": 2}, "fast", True):
        with pytest.raises(FlowError):
            Backoff.of(bad)
    assert iso_ms(1767607202.5001) == "2026-01-05T10:00:02.501Z"  # rounded up, never earlier


def test_next_and_ready_hold_a_failed_task_back_and_say_when(repo: Repo) -> None:
    seed(repo, base="2")
    repo.ok("task", "edit", T2, "--max-retries", "0")
    repo.ok("start", T2)
    repo.ok("fail", T2)  # failed for good: T2 leaves the picture
    repo.ok("start", T1)
    repo.ok("fail", T1, "--reason", "flaky")
    failed = fail_time(repo, T1)
    answer = repo.ok("next")
    assert time.time() < failed + 2, "the machine is too slow for this test's margin"
    assert (answer["status"], answer["reason"]) == ("none", "waiting_for_retry")
    assert seconds(answer["retry_after"]) == pytest.approx(failed + 2, abs=0.002)
    assert answer["retry_later"] == [{"id": T1, "retry_after": answer["retry_after"]}]
    ready = repo.ok("ready")
    assert ready["ready"] == []
    row = next(r for r in ready["blocked"] if r["id"] == T1)
    assert row["blocked_by"] == [f"retry_after={answer['retry_after']}"]
    assert "comes back for a retry at" in repo.flow("next").stdout
    board = repo.ok("board")
    assert T1 not in board["ready"]
    (card,) = [c for c in board["columns"]["waiting"] if c["id"] == T1]
    assert card["waits_for"] == [f"retry after {answer['retry_after']}"]
    while time.time() < failed + 2:
        time.sleep(0.05)
    assert repo.ok("next")["task"] == T1  # back once the backoff has passed
    assert T1 in [row["id"] for row in repo.ok("ready")["ready"]]
    # the second failure waits base * factor = 4 s
    repo.ok("start", T1)
    repo.ok("fail", T1)
    second = fail_time(repo, T1)
    held = repo.ok("next")
    assert seconds(held["retry_after"]) == pytest.approx(second + 4, abs=0.002)
    # a task's own retry_backoff overrides the config: 0 turns it off for that task
    repo.ok("task", "edit", T1, "--retry-backoff", "0")
    assert "retry_backoff: 0" in repo.read(f".flow/tasks/{T1}.md")
    assert repo.ok("next")["task"] == T1
    repo.ok("task", "edit", T1, "--retry-backoff", "none")
    assert "retry_backoff" not in repo.read(f".flow/tasks/{T1}.md")
    repo.refused("task", "edit", T1, "--retry-backoff", "-1", code=2)
    # a hand-written mapping overrides part of the config
    text = repo.read(f".flow/tasks/{T1}.md").replace("attempts: 2\n",
                                                     "attempts: 2\nretry_backoff: {max: 0}\n")
    repo.write(f".flow/tasks/{T1}.md", text)
    repo.commit_all("no backoff for T1")
    assert repo.ok("next")["task"] == T1
    repo.write(f".flow/tasks/{T1}.md", text.replace("{max: 0}", "{max: -3}"))
    assert "retry_backoff" in repo.refused("validate", "--json").stdout
    repo.git("checkout", "--", ".flow")
    # `start` by hand is not held back: a person may retry at once
    repo.ok("start", T1)


def test_no_history_is_read_without_a_task_up_for_retry(repo: Repo) -> None:
    seed(repo, base="30")
    cache = repo.path / ".git" / "flow-cache" / "replay"
    repo.ok("next")
    repo.ok("ready")
    assert not cache.exists() or not any(cache.iterdir())
    repo.ok("start", T1)
    repo.ok("fail", T1)
    assert repo.ok("next")["task"] == T2
    assert cache.exists() and any(cache.iterdir())  # now it is read (and cached)


def test_an_expired_lease_is_retried_at_once(repo: Repo) -> None:
    seed(repo, base="600")
    repo.ok("config", "set", "claims.lease_seconds", "1")
    repo.ok("start", T1, env={"FLOW_ACTOR": "ghost"})
    deadline = time.monotonic() + 60
    while not repo.ok("claims", "--stale")["claims"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    answer = repo.ok("next", "--claim")
    assert [item["id"] for item in answer["expired"]] == [T1]
    assert answer["task"] == T1  # the lease was the wait


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.mark.slow
def test_run_waits_for_the_backoff_two_then_four_seconds(repo: Repo, tmp_path: Path) -> None:
    seed(repo, base="2", max_retries=2)
    repo.ok("skip", T2, "--reason", "not this one")
    command = _script(tmp_path / "fails.sh", "exit 1\n")
    result = repo.flow("--json", "run", "--", command)
    assert result.exit_code == 1, result
    data: dict[str, Any] = result.json
    attempts = data["tasks"][T1]["attempts"]
    assert [a["outcome"] for a in attempts] == ["up_for_retry", "up_for_retry", "failed"]
    fails = [e for e in repo.ok("log", T1)["events"] if e["action"] == "fail"]
    fail_times = [ulid_milliseconds(e["transition_id"]) / 1000 for e in fails]
    assert attempts[1]["started"] >= fail_times[0] + 2  # no sooner than 2 s later
    assert attempts[2]["started"] >= fail_times[1] + 4  # then no sooner than 4 s after that
    assert attempts[1]["started"] < fail_times[0] + 2 + 5  # and it did wait, not give up
    assert "retry scheduled" in result.stderr and "waiting for" in result.stderr


def test_config_set_of_a_number_over_the_backoff_mapping_replaces_the_block(flow_repo: Repo) -> None:
    """`config set retry_backoff 3600` replaced only the `retry_backoff:` line, whose comment
    made it look like a one-line value, and left `base:`/`factor:`/`max:` under a scalar: the
    read-back refused it as invalid YAML at line 7, a message about a file the user never
    touched (found while writing issue #12's tests)."""
    repo = flow_repo
    assert repo.ok("config", "set", "retry_backoff", "3600")["value"] == 3600
    text = repo.read(".flow/config.yaml")
    assert "retry_backoff: 3600" in text and "  factor: 2" not in text
    assert "max_retries: 2          # `fail` gives a task back" in text  # other lines kept
    assert repo.ok("config", "get", "retry_backoff")["value"] == 3600
    # a one-line value keeps its comment and is replaced in place
    repo.ok("config", "set", "max_retries", "4")
    assert "max_retries: 4          # `fail` gives a task back" in repo.read(".flow/config.yaml")
