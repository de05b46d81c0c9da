"""`git flow-task run` (issue #7): worktrees on flow/<task>, evidence, retries, upstream_failed,
timeouts that kill the process group, files overlap, the circuit breaker, stop/pause/resume."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import FLOW_EXE, Repo, make_repo

WAIT = 300.0  # generous: the machine is shared and loaded


def script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def plan(repo: Repo, *tasks: tuple[str, list[str], list[str]], max_retries: int = 0) -> list[str]:
    """Tasks as (title, deps by number, files); returns their IDs."""
    repo.ok("init")
    repo.ok("config", "set", "max_retries", str(max_retries))
    repo.ok("config", "set", "retry_backoff.base", "0")  # retried at once (test_backoff.py waits)
    repo.ok("epic", "create", "--title", "Run")
    ids = []
    for title, deps, files in tasks:
        args = ["task", "create", "--epic", "fn-1", "--title", title]
        for dep in deps:
            args += ["--deps", f"fn-1.{dep}"]
        for file in files:
            args += ["--files", file]
        ids.append(repo.ok(*args)["id"])
    return ids


def run_json(repo: Repo, *args: str, code: int = 0) -> dict[str, Any]:
    result = repo.flow("--json", "run", *args)
    assert result.exit_code == code, result
    data: dict[str, Any] = result.json
    return data


def status_on(repo: Repo, task: str, rev: str = "HEAD") -> str:
    text = repo.git("show", f"{rev}:.flow/tasks/{task}.md")
    return next(line.split(":", 1)[1].strip() for line in text.splitlines()
                if line.startswith("status:"))


def wait_for(condition: Any, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1].startswith("Z")  # a zombie is dead
    except FileNotFoundError:
        return True


def branches(repo: Repo) -> list[str]:
    return repo.git("for-each-ref", "--format=%(refname:short)", "refs/heads/flow/").split()


# The must-hold cases -----------------------------------------------------------------------------


def test_diamond_with_a_failing_middle_task(repo: Repo, tmp_path: Path) -> None:
    a, b, c, d = plan(repo, ("A", [], []), ("B", [1], []), ("C", [1], []), ("D", [2, 3], []),
                      max_retries=1)
    runs = tmp_path / "runs.txt"
    command = script(tmp_path / "cmd.sh", f'echo "$FLOW_TASK_ID" >> {runs}\n'
                                          f'[ "$FLOW_TASK_ID" = "{b}" ] && exit 1\nexit 0\n')
    data = run_json(repo, "--jobs", "2", "--", command, code=1)
    assert data["success"] is False and "failed" in data["error"]
    ran = runs.read_text().split()
    assert ran.count(b) == 2 and ran.count(a) == 1 and ran.count(c) == 1 and d not in ran
    assert [x["outcome"] for x in data["tasks"][b]["attempts"]] == ["up_for_retry", "failed"]
    assert [x["exit_code"] for x in data["tasks"][b]["attempts"]] == [1, 1]
    assert data["tasks"][b]["status"] == "failed"
    assert data["tasks"][a]["status"] == data["tasks"][c]["status"] == "done"
    assert d not in data["tasks"] and data["upstream_failed"] == [d]
    assert data["done"] == [a, c] and data["failed"] == [b]
    assert data["not_started"] == {d: "upstream_failed"}
    assert status_on(repo, b) == "failed" and status_on(repo, d) == "todo"
    assert f"flow/{d}" not in branches(repo)
    assert repo.status() == ""


def test_a_timeout_kills_the_command_and_its_child(repo: Repo, tmp_path: Path) -> None:
    (task,) = plan(repo, ("Sleeps", [], []))
    pid_file = tmp_path / "child.pid"
    data = run_json(repo, "--timeout", "2", "--", "sh", "-c",
                    f"sleep 300 & echo $! > {pid_file}; wait", code=1)
    attempt = data["tasks"][task]["attempts"][0]
    assert attempt["timed_out"] is True and attempt["outcome"] == "failed"
    assert data["failed"] == [task] and status_on(repo, task) == "failed"
    child = int(pid_file.read_text())
    wait_for(lambda: process_gone(child), "the spawned child to die", timeout=60)
    assert "timed out after 2s" in repo.read(f".flow/tasks/{task}.md")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds strays through /proc")
def test_a_timeout_kills_a_child_that_left_the_process_group(repo: Repo, tmp_path: Path) -> None:
    """setsid takes a child out of the command's session and process group; the attempt's
    FLOW_* variables still mark it, as Jenkins finds a build's strays by BUILD_ID."""
    (task,) = plan(repo, ("Escapes", [], []))
    pid_file = tmp_path / "escaped.pid"
    escape = (f"import os, time\nif os.fork() == 0:\n    os.setsid()\n"
              f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n    time.sleep(300)\n"
              f"time.sleep(300)\n")
    data = run_json(repo, "--timeout", "2", "--", sys.executable, "-c", escape, code=1)
    assert data["tasks"][task]["attempts"][0]["timed_out"] is True
    escaped = int(pid_file.read_text())  # written after setsid: it had left the group
    wait_for(lambda: process_gone(escaped), "the child that left the group to die", timeout=60)


# Evidence, worktrees, branches -------------------------------------------------------------------


def test_done_records_evidence_and_the_branch_keeps_the_work(repo: Repo, tmp_path: Path) -> None:
    (task,) = plan(repo, ("Works", [], []))
    command = script(tmp_path / "work.sh",
                     'env | grep ^FLOW_ | sort > env.txt\necho "some output"\n'
                     'git add env.txt && git commit -q -m "work on $FLOW_TASK_ID"\n')
    data = run_json(repo, "--", command)
    attempt = data["tasks"][task]["attempts"][0]
    assert data["done"] == [task] and attempt["exit_code"] == 0 and attempt["worktree"] is None
    tip = repo.git("rev-parse", f"flow/{task}").strip()
    assert attempt["commits"] == [tip]
    log = Path(attempt["log"])
    assert attempt["log_sha256"] == hashlib.sha256(log.read_bytes()).hexdigest()
    assert "some output" in log.read_text()
    evidence = next(line for line in repo.message().splitlines() if line.startswith("Flow-Evidence:"))
    assert f"commits={tip}" in evidence and "exit_code=0" in evidence
    assert f"log_sha256={attempt['log_sha256']}" in evidence and f"branch=flow/{task}" in evidence
    env = dict(line.split("=", 1) for line in repo.git("show", f"flow/{task}:env.txt").splitlines())
    assert env["FLOW_TASK_ID"] == task and env["FLOW_ACTOR"] == "alice@example.com"
    assert env["FLOW_TASK_FILE"].endswith(f"/.flow/tasks/{task}.md")
    assert not Path(env["FLOW_TASK_FILE"]).exists()  # the worktree is gone, the branch stays
    assert repo.git("worktree", "list").count("\n") == 1
    assert "Commits: " + tip in repo.read(f".flow/tasks/{task}.md")
    record = repo.ok("claims")["claims"][0]
    assert record["state"] == "done" and record["commit"] == repo.head()
    # The flow/ branch carries only the code: merging it moves no task backwards.
    repo.git("merge", "-q", "--no-edit", f"flow/{task}")
    assert status_on(repo, task) == "done"


def test_a_dependent_sees_its_dependencys_branch(repo: Repo, tmp_path: Path) -> None:
    first, second = plan(repo, ("Writes", [], []), ("Reads", [1], []))
    command = script(tmp_path / "cmd.sh",
                     f'if [ "$FLOW_TASK_ID" = "{first}" ]; then echo made > made.txt; '
                     'git add made.txt; git commit -q -m made; exit 0; fi\n'
                     'test -f made.txt\n')
    data = run_json(repo, "--", command)
    assert data["done"] == [first, second]
    assert data["tasks"][second]["attempts"][0]["commits"] == []


def test_keep_worktrees_and_dirty_worktrees_are_kept(repo: Repo, tmp_path: Path) -> None:
    clean, dirty = plan(repo, ("Clean", [], []), ("Dirty", [], []))
    command = script(tmp_path / "cmd.sh", f'[ "$FLOW_TASK_ID" = "{dirty}" ] && echo x > left.txt\n'
                                          "exit 0\n")
    data = run_json(repo, "--", command)
    assert data["tasks"][clean]["attempts"][0]["worktree"] is None
    kept = data["tasks"][dirty]["attempts"][0]["worktree"]
    assert kept and (Path(kept) / "left.txt").exists()
    (third,) = plan_more(repo, "Third")
    again = run_json(repo, "--keep-worktrees", "--", command)
    assert again["tasks"][third]["attempts"][0]["worktree"]


def plan_more(repo: Repo, *titles: str) -> list[str]:
    return [repo.ok("task", "create", "--epic", "fn-1", "--title", title)["id"] for title in titles]


# Scheduling rules --------------------------------------------------------------------------------


def test_tasks_whose_files_overlap_never_run_at_once(repo: Repo, tmp_path: Path) -> None:
    narrow, wide, other = plan(repo, ("Narrow", [], ["src/app.py"]), ("Wide", [], ["src"]),
                               ("Other", [], ["docs/guide.md"]))
    data = run_json(repo, "--jobs", "3", "--", "sleep", "0.5")
    assert sorted(data["done"]) == sorted([narrow, wide, other])
    first, second = sorted((data["tasks"][t]["attempts"][0] for t in (narrow, wide)),
                           key=lambda attempt: attempt["started"])
    assert first["ended"] <= second["started"]


def test_dry_run_prints_the_waves(repo: Repo, tmp_path: Path) -> None:
    a, b, c, d = plan(repo, ("A", [], []), ("B", [1], []), ("C", [1], []), ("D", [2, 3], []))
    head = repo.head()
    data = run_json(repo, "--dry-run", "--", "true")
    assert data["waves"] == [[a], [b, c], [d]]
    assert repo.head() == head and branches(repo) == []
    text = repo.flow("run", "--dry-run", "--", "true").stdout
    assert f"wave 2: {b}, {c}" in text


def test_the_circuit_breaker_stops_starting_tasks(repo: Repo) -> None:
    ids = plan(repo, ("One", [], []), ("Two", [], []), ("Three", [], []))
    data = run_json(repo, "--max-failures", "2", "--", "false", code=1)
    assert data["attempts"] == 2 and "circuit breaker" in data["stopped"]
    assert data["failed"] == ids[:2] and ids[2] in data["not_started"]
    assert status_on(repo, ids[2]) == "todo"


def test_max_tasks_limits_the_runs(repo: Repo) -> None:
    ids = plan(repo, ("One", [], []), ("Two", [], []), ("Three", [], []))
    data = run_json(repo, "--max-tasks", "2", "--", "true")
    assert data["done"] == ids[:2] and "max-tasks" in data["stopped"]


def test_human_output_is_one_line_per_event(repo: Repo) -> None:
    (task,) = plan(repo, ("One", [], []))
    result = repo.flow("run", "--", "true")
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert any(" start " in line and task in line for line in lines)
    assert any(" done " in line and task in line for line in lines)
    assert "ended: 1 done, 0 failed" in result.stdout


def test_run_needs_its_command_after_dashes(repo: Repo) -> None:
    plan(repo, ("One", [], []))
    assert "after `--`" in repo.refused("run", "make", "test", code=2).stderr
    repo.refused("run", code=2)
    repo.refused("run", "--", "no-such-command-anywhere", code=2)
    assert "no run is active" in repo.refused("run", "stop", code=1).stderr


def test_tasks_claimed_elsewhere_are_passed_over(repo: Repo, tmp_path: Path) -> None:
    first, second = plan(repo, ("One", [], []), ("Two", [], []))
    other = tmp_path / "other"
    repo.git("worktree", "add", "-q", "-b", "other", str(other))
    Repo(other).ok("start", first, env={"FLOW_ACTOR": "bob"})
    data = run_json(repo, "--", "true")
    assert data["done"] == [second] and first not in data["tasks"]
    assert data["not_started"][first] == "claimed by bob"


# Stopping, pausing ------------------------------------------------------------------------------


def spawn_run(repo: Repo, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([FLOW_EXE, "--json", "run", *args], cwd=repo.path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_ctrl_c_releases_the_running_task(repo: Repo, tmp_path: Path) -> None:
    (task,) = plan(repo, ("Long", [], []))
    marker = tmp_path / "started"
    command = script(tmp_path / "cmd.sh", f"echo $$ > {marker}.tmp; mv {marker}.tmp {marker}\n"
                                          "exec sleep 300\n")
    process = spawn_run(repo, "--", command)
    wait_for(marker.exists, "the command to start")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 130, (out, err)
    summary = json.loads(out)
    assert summary["interrupted"] is True and summary["tasks"][task]["attempts"][0]["outcome"] == "released"
    assert status_on(repo, task) == "todo"
    assert repo.git("for-each-ref", "refs/flow/claims/").strip() == ""
    assert repo.status() == "" and repo.git("worktree", "list").count("\n") == 1
    wait_for(lambda: process_gone(int(marker.read_text())), "the command to die", timeout=60)


@pytest.mark.slow
def test_pause_resume_and_stop_from_another_terminal(repo: Repo, tmp_path: Path) -> None:
    first, second, third = plan(repo, ("First", [], []), ("Second", [], []), ("Third", [], []))
    gate = tmp_path / "release-first"
    command = script(tmp_path / "cmd.sh",
                     f'if [ "$FLOW_TASK_ID" = "{first}" ]; then touch {tmp_path}/first-started; '
                     f"while [ ! -e {gate} ]; do sleep 0.05; done; exit 0; fi\n"
                     f'if [ "$FLOW_TASK_ID" = "{third}" ]; then touch {tmp_path}/third-started; '
                     "exec sleep 300; fi\nexit 0\n")
    process = spawn_run(repo, "--", command)
    wait_for((tmp_path / "first-started").exists, "the first task to start")
    paused = repo.ok("run", "pause")
    assert paused["runs"][0]["paused"] is True
    gate.touch()
    wait_for(lambda: status_on(repo, first, "main") == "done", "the first task to finish")
    assert branches(repo) == [f"flow/{first}"]  # paused: nothing new started
    assert status_on(repo, second, "main") == "todo"
    repo.ok("run", "resume")
    wait_for((tmp_path / "third-started").exists, "the third task to start")
    stopped = repo.ok("run", "stop")
    assert stopped["action"] == "stop"
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 1, (out, err)
    summary = json.loads(out)
    assert summary["done"] == [first, second]
    assert summary["tasks"][third]["attempts"][0]["outcome"] == "released"
    assert "stop requested" in summary["stopped"]
    assert status_on(repo, third, "main") == "todo"
    assert repo.git("for-each-ref", f"refs/flow/claims/{third}").strip() == ""


def test_run_through_a_remote_claims_there(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    Repo(tmp_path).git("init", "-q", "--bare", "-b", "main", str(remote))
    repo = make_repo(tmp_path / "repo")
    (task,) = plan(repo, ("One", [], []))
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    data = run_json(repo, "--remote", "origin", "--", "true")
    assert data["claims"] == "remote" and data["done"] == [task]
    on_remote = Repo(remote).git("log", "-1", "--format=%B", f"refs/flow/claims/{task}")
    assert "state=done" in on_remote


def test_the_worktree_root_is_under_the_common_dir(repo: Repo, tmp_path: Path) -> None:
    (task,) = plan(repo, ("One", [], []))
    command = script(tmp_path / "cmd.sh", f"pwd > {tmp_path}/where\n")
    run_json(repo, "--", command)
    where = Path((tmp_path / "where").read_text().strip())
    assert where == (repo.path / ".git" / "flow-worktrees" / task).resolve()
    assert os.path.commonpath([where, repo.path.resolve()]) == str(repo.path.resolve())


def test_a_task_that_cannot_start_here_is_passed_over(repo: Repo) -> None:
    first, second = plan(repo, ("One", [], []), ("Two", [], []))
    path = f".flow/tasks/{first}.md"
    repo.write(path, repo.read(path) + "\nmy own edit\n")
    data = run_json(repo, "--", "true")
    assert data["done"] == [second]
    assert "uncommitted edits" in data["not_started"][first]
    assert "my own edit" in repo.read(path)


def test_the_run_keeps_the_lease_alive(repo: Repo, tmp_path: Path) -> None:
    (task,) = plan(repo, ("Long", [], []))
    repo.ok("config", "set", "claims.lease_seconds", "1")
    # The command waits until the claim's lease has been extended twice (or gives up).
    command = script(tmp_path / "cmd.sh", """
until_of() { git log -1 --format=%B "refs/flow/claims/$FLOW_TASK_ID" | tr ' ' '\\n' | grep '^until='; }
first=$(until_of); seen=0; tries=0
while [ $seen -lt 2 ] && [ $tries -lt 1200 ]; do
  now=$(until_of); [ "$now" != "$first" ] && { seen=$((seen + 1)); first=$now; }
  sleep 0.1; tries=$((tries + 1))
done
[ $seen -ge 2 ]
""")
    data = run_json(repo, "--", command)
    assert data["done"] == [task]


def test_a_run_that_loses_its_claim_stops_the_command(repo: Repo, tmp_path: Path) -> None:
    (task,) = plan(repo, ("Lost", [], []))
    repo.ok("config", "set", "claims.lease_seconds", "1")
    # Someone else's claim replaces the run's (here: a ref that names no holder we know).
    command = script(tmp_path / "cmd.sh", 'git update-ref "refs/flow/claims/$FLOW_TASK_ID" HEAD\n'
                                          "exec sleep 300\n")
    data = run_json(repo, "--", command)
    attempt = data["tasks"][task]["attempts"][0]
    assert attempt["outcome"] == "lost" and "unreadable claim" in attempt["reason"]
    assert status_on(repo, task) == "todo"
    assert repo.git("rev-parse", f"refs/flow/claims/{task}").strip() != ""


def test_live_progress_on_a_terminal(tmp_path: Path) -> None:
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from git_flowctl.cli.commands.run import _Progress
    from git_flowctl.cli.output import Output
    from git_flowctl.coordination.scheduler import Event

    out = Output(json_mode=False)
    screen = io.StringIO()
    out._console = Console(file=screen, force_terminal=True, width=100, no_color=True,
                           highlight=False)
    progress = _Progress(out)
    progress.tty = True
    attempt = SimpleNamespace(task="fn-1-x.1", number=2, started=time.monotonic(), branch="flow/fn-1-x.1")
    progress.scheduler = SimpleNamespace(running={"fn-1-x.1": attempt}, paused=False,  # type: ignore[assignment]
                                         stopping=False)
    with progress:
        progress.event(Event("start", "fn-1-x.1 started (attempt 2)", "fn-1-x.1"))
        progress.event(Event("done", "fn-1-x.0 done", "fn-1-x.0"))
        assert progress.live is not None
        progress.live.refresh()
    text = screen.getvalue()
    assert "fn-1-x.1 started (attempt 2)" in text and "flow/fn-1-x.1" in text
    assert "1 running, 1 done, 0 failed" in text


def test_an_epic_waiting_on_another_epic_is_not_run_and_the_run_says_why(repo: Repo) -> None:
    plan(repo, ("first", [], []))
    second = repo.ok("epic", "create", "--title", "Later", "--deps", "fn-1")["id"]
    later = repo.ok("task", "create", "--epic", second, "--title", "Later task")["id"]
    reason = "its epic waits for epic fn-1-run to close"
    waves = run_json(repo, "--epic", second, "--dry-run", "--", "true")
    assert waves["waves"] == [] and waves["excluded"] == {later: reason}
    summary = run_json(repo, "--epic", second, "--", "true")
    assert summary["tasks"] == {} and summary["not_started"] == {later: reason}
    human = repo.flow("run", "--epic", second, "--", "true")
    assert f"not started: {later} ({reason})" in human.stdout
    assert status_on(repo, later) == "todo"
