"""A run you can watch and steer (issue #16, part 4): the registry, `run status` from another
process, dead runs after SIGKILL and their tasks resumed, `status --json`'s `runs`, addressing
one of several runs, and run events through `log --follow --json`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import FLOW_EXE, Repo
from test_run import plan, process_gone, script, status_on, wait_for

from git_flowctl.coordination import runs

WAIT = 300.0


def spawn_run(repo: Repo, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([FLOW_EXE, "--json", "run", *args], cwd=repo.path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_status(repo: Repo) -> dict[str, Any]:
    """`run status --json` from another process."""
    result = repo.proc("run", "status", "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def blocking_command(tmp_path: Path) -> str:
    """Records its pid per task, then waits until the file `go` exists."""
    go = tmp_path / "go"
    return script(tmp_path / "cmd.sh",
                  f'echo $$ > "{tmp_path}/pid-$FLOW_TASK_ID"\n'
                  f'while [ ! -e "{go}" ]; do sleep 0.05; done\nexit 0\n')


def test_run_status_sees_a_live_run_then_a_dead_one_and_the_next_run_resumes(
        repo: Repo, tmp_path: Path) -> None:
    first, second = plan(repo, ("First", [], ["a.txt"]), ("Second", [], ["b.txt"]))
    command = blocking_command(tmp_path)
    process = spawn_run(repo, "--jobs", "2", "--", command)
    try:
        wait_for(lambda: len((run_status(repo)["runs"] or [{}])[0].get("running") or []) == 2,
                 "both tasks to run")
    except AssertionError:
        process.kill()
        raise
    status = run_status(repo)
    (record,) = status["runs"]
    assert record["state"] == "running" and record["alive"] is True
    assert record["pid"] == process.pid and record["branch"] == "refs/heads/main"
    assert sorted(entry["task"] for entry in record["running"]) == [first, second]
    assert all(entry["attempt"] == 1 for entry in record["running"])
    assert (status["active"], status["dead"]) == (1, 0)
    assert repo.ok("status")["runs"][0]["run_id"] == record["run_id"]  # flowctl's `runs`
    wait_for(lambda: (tmp_path / f"pid-{first}").exists() and (tmp_path / f"pid-{second}").exists(),
             "both commands to record their pids")
    orphans = [int((tmp_path / f"pid-{task}").read_text()) for task in (first, second)]

    process.send_signal(signal.SIGKILL)  # no clean-up at all: the commands go on as orphans
    process.communicate(timeout=WAIT)
    dead = run_status(repo)
    assert [r["state"] for r in dead["runs"]] == ["dead"] and dead["dead"] == 1
    assert "resumes its tasks" in repo.proc("run", "status").stdout
    assert status_on(repo, first) == status_on(repo, second) == "in_progress"
    assert "is dead" in repo.refused("run", "pause", record["run_id"], code=1).stderr

    (tmp_path / "go").touch()
    result = repo.flow("--json", "run", "--jobs", "2", "--", command)
    assert result.exit_code == 0, result
    summary = result.json
    assert summary["done"] == [first, second]
    for task in (first, second):
        (attempt,) = summary["tasks"][task]["attempts"]
        assert attempt["resumed"] is True and attempt["outcome"] == "done"
        assert attempt["attempt"] == 1  # the same attempt, run again: the run died, not the task
    assert "resuming" in result.stderr and record["run_id"] in result.stderr
    for pid in orphans:  # the dead run's commands were killed before the resume
        wait_for(lambda pid=pid: process_gone(pid), "the dead run's command to be killed", 60)
    assert run_status(repo)["runs"] == []  # the dead record went; the new run removed its own
    assert repo.ok("claims")["claims"][0]["state"] == "done"


def test_a_run_tasks_of_another_actor_are_not_resumed(repo: Repo, tmp_path: Path) -> None:
    (task,) = plan(repo, ("Only", [], []))
    repo.ok("start", task)
    dead = {"run_id": "01deadrun", "pid": 2 ** 22 + 7, "host": runs.hostname(),
            "boot_id": runs.boot_id(), "process_start": "1", "branch": "refs/heads/main",
            "actor": "someone-else", "running": [{"task": task, "attempt": 1}],
            "started_at": "2026-01-05T10:00:00Z"}
    runs.write_record(repo.path / ".git", dead)
    assert run_status(repo)["runs"][0]["state"] == "dead"
    data = repo.flow("--json", "run", "--", "true").json
    assert task not in data["tasks"]
    assert "already in progress" in data["not_started"][task]
    assert [r["run_id"] for r in run_status(repo)["runs"]] == ["01deadrun"]  # not its to clear
    forgotten = repo.ok("run", "stop", "01dead")
    assert forgotten["runs"][0]["state"] == "forgotten"
    assert forgotten["runs"][0]["left_in_progress"] == [task]
    assert run_status(repo)["runs"] == []
    assert "no run" in repo.refused("run", "pause", "01deadrun", code=1).stderr


def test_a_reused_pid_does_not_keep_a_dead_run_alive(repo: Repo) -> None:
    mine = runs.identity()
    assert runs.liveness({**mine}) == "alive"
    assert runs.liveness({**mine, "process_start": "0"}) == "dead"  # same pid, another process
    assert runs.liveness({**mine, "boot_id": "another-boot"}) in (
        "dead", "alive" if mine["boot_id"] is None else "dead")
    elsewhere = {**mine, "host": "another-host", "updated": time.time()}
    assert runs.liveness(elsewhere) == "alive"
    assert runs.liveness({**elsewhere, "updated": time.time() - runs.STALE_SECONDS - 1}) == "dead"


@pytest.mark.slow
def test_several_runs_are_addressed_by_id_and_events_stream_through_log(
        repo: Repo, tmp_path: Path) -> None:
    first, second = plan(repo, ("First", [], []), ("Second", [], []))
    other = tmp_path / "other"
    repo.git("worktree", "add", "-q", "-b", "other", str(other))
    command = blocking_command(tmp_path)
    follower = subprocess.Popen([FLOW_EXE, "log", "--follow", "--json"], cwd=repo.path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the follower reads where the events stand before the runs start
    one = spawn_run(repo, "--epic", "fn-1", "--", command)
    two = subprocess.Popen([FLOW_EXE, "--json", "run", "--", command], cwd=other,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "FLOW_ACTOR": "bob"})
    try:
        wait_for(lambda: sum(len(r.get("running") or []) for r in run_status(repo)["runs"]) == 2,
                 "two runs with one task each")
        listed = run_status(repo)["runs"]
        assert len(listed) == 2
        refused = repo.flow("run", "pause", "--json")
        assert refused.exit_code == 2 and "2 runs are active" in refused.json["error"]
        target = next(r for r in listed if r["actor"] != "bob")["run_id"]
        paused = repo.ok("run", "pause", target)
        assert paused["runs"][0]["paused"] is True
        states_now = {r["run_id"]: r["state"] for r in run_status(repo)["runs"]}
        assert states_now[target] == "paused" and list(states_now.values()).count("running") == 1
        repo.ok("run", "resume", target[:12])  # a prefix of the ID names it too
    finally:
        (tmp_path / "go").touch()
    for process in (one, two):
        out, err = process.communicate(timeout=WAIT)
        assert process.returncode == 0, (out, err)
    time.sleep(1.5)  # the follower polls twice a second
    follower.send_signal(signal.SIGINT)
    out, _ = follower.communicate(timeout=WAIT)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    run_events = [line for line in lines if line["event"] == "run"]
    kinds = {(line["kind"], line["id"]) for line in run_events}
    assert {("start", first), ("start", second), ("done", first), ("done", second)} <= kinds
    assert {line["kind"] for line in run_events} >= {"run", "pause", "resume", "end"}
    transitions = [line for line in lines if line["event"] == "transition"]
    assert any(line["action"] == "done" for line in transitions)
    assert run_status(repo)["runs"] == []


def test_a_dead_runs_tasks_of_another_epic_wait_for_a_run_of_theirs(repo: Repo) -> None:
    (first,) = plan(repo, ("First", [], []))
    repo.ok("epic", "create", "--title", "Second epic")
    second = repo.ok("task", "create", "--epic", "fn-2", "--title", "Other")["id"]
    actor = "alice@example.com"
    repo.ok("start", first)
    repo.ok("start", second)
    dead = {"run_id": "01deadrun", "pid": 2 ** 22 + 7, "host": runs.hostname(),
            "boot_id": runs.boot_id(), "process_start": "1", "branch": "refs/heads/main",
            "actor": actor, "running": [{"task": first, "attempt": 1}, {"task": second, "attempt": 1}],
            "started_at": "2026-01-05T10:00:00Z"}
    runs.write_record(repo.path / ".git", dead)
    data = repo.flow("--json", "run", "--epic", "fn-1", "--", "true").json
    assert data["done"] == [first] and data["tasks"][first]["attempts"][0]["resumed"] is True
    (left,) = run_status(repo)["runs"]
    assert [entry["task"] for entry in left["running"]] == [second]
    data = repo.flow("--json", "run", "--", "true").json
    assert data["done"] == [second]
    assert run_status(repo)["runs"] == []
