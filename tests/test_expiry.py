"""Expired leases become failed attempts (issue #16, part 1): real processes killed with
SIGKILL, worktrees racing to notice, and a bare remote between clones."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import FLOW_EXE, Repo, make_repo

RACER = Path(__file__).with_name("expiry_racer.py")
ROOT = Path(__file__).resolve().parent.parent
WAIT = 120.0
T1 = "fn-1-ship.1"


def seed(repo: Repo, tasks: int = 1, lease: int = 1) -> None:
    repo.ok("init")
    repo.ok("config", "set", "claims.lease_seconds", str(lease))
    repo.ok("epic", "create", "--title", "Ship")
    for number in range(1, tasks + 1):
        repo.ok("task", "create", "--epic", "fn-1", "--title", f"Task {number}")


def as_actor(name: str) -> dict[str, str]:
    return {"FLOW_ACTOR": name}


def expire_lines(repo: Repo, *revs: str) -> list[str]:
    """Every `action=expire` transition in the history of the revisions (each commit once)."""
    log = repo.git("log", "--format=%H%n%B", *revs)
    return [line for line in log.splitlines()
            if line.startswith("Flow-Transition:") and "action=expire" in line]


def wait_until_stale(repo: Repo, task: str) -> None:
    deadline = time.monotonic() + WAIT
    while not any(row["id"] == task for row in repo.ok("claims", "--stale")["claims"]):
        if time.monotonic() > deadline:
            raise AssertionError(f"the lease of {task} never ran out")
        time.sleep(0.1)


def claim_and_die(repo: Repo, tmp_path: Path, actor: str, cwd: Path | None = None) -> dict[str, object]:
    """An agent process that claims the next task and then hangs; killed with SIGKILL once it
    has claimed. Returns what its `next --claim` printed."""
    answer = tmp_path / f"{actor}.json"
    agent = subprocess.Popen(
        ["sh", "-c", f'"{FLOW_EXE}" next --claim --json > "{answer}" && touch "{answer}.ok" '
                     "&& exec sleep 600"],
        cwd=cwd or repo.path, env={**os.environ, "FLOW_ACTOR": actor})
    deadline = time.monotonic() + WAIT
    while not Path(f"{answer}.ok").exists():
        assert agent.poll() is None, "the agent ended before it claimed"
        assert time.monotonic() < deadline, "the agent never claimed"
        time.sleep(0.05)
    agent.send_signal(signal.SIGKILL)
    agent.wait()
    data: dict[str, object] = json.loads(answer.read_text())
    return data


def test_a_killed_agents_task_is_expired_once_and_claimed_again(repo: Repo, tmp_path: Path) -> None:
    seed(repo)
    claimed = claim_and_die(repo, tmp_path, "dead@example.com")
    assert claimed["task"] == T1 and claimed["claimed"] is True
    assert repo.ok("show", T1)["status"] == "in_progress"
    # before the lease runs out nothing is expired: the task is simply held
    early = repo.ok("next", "--claim", env=as_actor("bob"))
    if early["expired"] == []:  # (the lease may already be over on a slow machine)
        assert early["status"] == "none"
    wait_until_stale(repo, T1)
    stale = repo.ok("claims", "--stale")["claims"]
    assert [(row["id"], row["holder"], row["stale"]) for row in stale] == \
        [(T1, "dead@example.com", True)]
    human = repo.flow("next", "--claim", env=as_actor("bob"))
    assert human.exit_code == 0 and (early["expired"] or "recorded as a failed attempt" in human.stdout)
    bob = repo.ok("next", "--claim", env=as_actor("bob"))
    assert bob["reason"] == "resume_in_progress"
    assert (bob["task"], bob["claimed"]) == (T1, True)
    # one expire transition, in_progress -> up_for_retry, then bob's start
    assert len(expire_lines(repo, "HEAD")) == 1
    log = repo.ok("log", T1)["events"]
    assert [(e["action"], e["from"], e["to"]) for e in log][-2:] == [
        ("expire", "in_progress", "up_for_retry"), ("start", "up_for_retry", "in_progress")]
    shown = repo.ok("show", T1)
    assert shown["attempts"] == 1 and shown["assignee"] == "bob"
    assert "lease of dead@example.com ran out" in repo.git("show", f"HEAD~1:.flow/tasks/{T1}.md")
    assert repo.ok("claims")["claims"][0]["holder"] == "bob"
    assert repo.ok("claims", "--stale")["claims"] == []
    root = repo.git("rev-list", "--max-parents=0", "HEAD").strip()
    assert repo.flow("check", "--base", root).exit_code == 0  # the validator accepts expire


def test_three_noticers_racing_record_the_expiry_exactly_once(repo: Repo, tmp_path: Path) -> None:
    seed(repo)
    noticers = []
    for name in ("n0", "n1", "n2"):
        path = tmp_path / name
        repo.git("worktree", "add", "-q", "-b", name, str(path))
        noticers.append((name, path))
    claim_and_die(repo, tmp_path, "dead@example.com")  # on main; the worktrees see it todo
    wait_until_stale(repo, T1)
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, str(RACER), str(go), "next", "--claim"], cwd=path,
                               env={**os.environ, "FLOW_ACTOR": f"{name}@example.com",
                                    "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for name, path in noticers]
    time.sleep(1.0)  # every racer has imported and waits at the barrier
    go.touch()
    answers = []
    for racer in racers:
        out, err = racer.communicate(timeout=WAIT)
        assert racer.returncode == 0, err
        answers.append(json.loads(out))
    assert all(answer["exit_code"] == 0 for answer in answers), answers
    recorded = Counter(item["id"] for answer in answers for item in answer["expired"])
    assert recorded == Counter({T1: 1}), answers
    branches = [f"refs/heads/{name}" for name, _ in noticers]
    lines = expire_lines(repo, *branches, "main")
    assert len(lines) == 1, lines
    # recorded where it was noticed: todo there (the start is on main), attempt 1
    assert re.search(rf"^Flow-Transition: {re.escape(T1)} todo->up_for_retry action=expire by=n\d@",
                     lines[0])
    assert Counter(answer["task"] for answer in answers if answer["claimed"]) == Counter({T1: 1})
    winner = next(name for name, _ in noticers if name in lines[0])
    checked = repo.flow("check", "--base", "main", "--json", cwd=tmp_path / winner)
    assert checked.exit_code == 0, checked
    holder = repo.ok("claims")["claims"][0]
    assert holder["state"] == "held" and holder["holder"] in {f"{n}@example.com" for n, _ in noticers}


def test_reclaim_expired_records_and_gives_back(repo: Repo, tmp_path: Path) -> None:
    seed(repo, tasks=2)
    repo.ok("task", "edit", "fn-1.2", "--max-retries", "0")
    repo.ok("start", "fn-1.1", env=as_actor("ann"))
    repo.ok("start", "fn-1.2", env=as_actor("ann"))
    wait_until_stale(repo, "fn-1-ship.2")
    dry = repo.ok("reclaim", "--expired", "--dry-run", env=as_actor("bob"))
    assert [item["id"] for item in dry["would_expire"]] == [T1, "fn-1-ship.2"]
    assert len(repo.ok("claims")["claims"]) == 2
    done = repo.ok("reclaim", "--expired", env=as_actor("bob"))
    assert [(item["id"], item["status"], item["attempts"]) for item in done["expired"]] == [
        (T1, "up_for_retry", 1), ("fn-1-ship.2", "failed", 1)]
    assert repo.ok("claims")["claims"] == []  # both given back
    assert len(expire_lines(repo, "HEAD")) == 2
    again = repo.ok("reclaim", "--expired", env=as_actor("bob"))
    assert again["expired"] == [] and again["count"] == 0
    assert repo.ok("next", env=as_actor("bob"))["task"] == T1  # up for retry: ready again
    repo.refused("reclaim", code=2)
    repo.refused("reclaim", T1, "--expired", code=2)


def test_ones_own_in_progress_task_is_resumed_not_expired(repo: Repo) -> None:
    seed(repo)
    first = repo.ok("next", "--claim")
    wait_until_stale(repo, first["task"])
    again = repo.ok("next", "--claim")
    assert again["expired"] == [] and again["reason"] == "resume_in_progress"
    assert repo.ok("claims", "--stale")["claims"] == []  # resuming renewed the lease
    assert expire_lines(repo, "HEAD") == []


@pytest.mark.parametrize("same_identity", [False, True], ids=["two actors", "one identity"])
def test_expiry_across_clones_through_a_bare_remote(tmp_path: Path, same_identity: bool) -> None:
    """With one git identity in two clones, the dead clone's claim is still someone else's
    (the repository ID tells them apart): it is expired, not resumed."""
    remote = tmp_path / "remote.git"
    Repo(tmp_path).git("init", "-q", "--bare", "-b", "main", str(remote))
    origin = make_repo(tmp_path / "seed")
    seed(origin)
    origin.ok("config", "set", "claims.remote", "origin")
    origin.git("remote", "add", "origin", str(remote))
    origin.git("push", "-q", "origin", "main")
    clones = []
    for name in ("ann", "ben"):
        Repo(tmp_path).git("clone", "-q", str(remote), name)
        clones.append(Repo(tmp_path / name))
    ann, ben = clones
    noticer = "ann@example.com" if same_identity else "ben@example.com"
    claim_and_die(ann, tmp_path, "ann@example.com")
    on_remote = Repo(remote).git("for-each-ref", "--format=%(refname)", "refs/flow/claims/")
    assert f"refs/flow/claims/{T1}" in on_remote
    deadline = time.monotonic() + WAIT
    while True:
        answer = ben.ok("next", "--claim", env=as_actor(noticer))
        if answer["expired"] or time.monotonic() > deadline:
            break
        assert answer["status"] == "none"
        time.sleep(0.2)
    assert [item["id"] for item in answer["expired"]] == [T1]
    assert (answer["task"], answer["claimed"]) == (T1, True)
    assert len(expire_lines(ben, "HEAD")) == 1
    message = Repo(remote).git("log", "-1", "--format=%B", f"refs/flow/claims/{T1}")
    assert f"holder={noticer}" in message  # the remote holds the noticer's claim now


def test_an_attempt_made_on_another_branch_counts_where_it_is_noticed(repo: Repo) -> None:
    seed(repo)
    repo.ok("config", "set", "retry_backoff.base", "0")
    repo.ok("start", T1, env=as_actor("ann"))
    repo.ok("fail", T1, env=as_actor("ann"))  # attempt 1: up_for_retry
    noticer = repo.path.parent / "noticer"
    repo.git("worktree", "add", "-q", "-b", "noticer", str(noticer))
    repo.ok("start", T1, env=as_actor("ann"))  # attempt 2, on main only; then ann dies
    wait_until_stale(repo, T1)
    bob = Repo(noticer).ok("next", "--claim", env=as_actor("bob"))
    assert [item["attempts"] for item in bob["expired"]] == [2]
    (line,) = expire_lines(repo, "noticer")
    assert f"{T1} up_for_retry->up_for_retry action=expire" in line
    assert (bob["task"], bob["claimed"]) == (T1, True)
    checked = Repo(noticer).flow("check", "--base", "main", "--json")
    assert checked.exit_code == 0, checked
    events = Repo(noticer).ok("log", T1)["events"]  # history believes it (the tree agrees)
    assert [(e["action"], e["from"], e["to"]) for e in events][-2:] == [
        ("expire", "up_for_retry", "up_for_retry"), ("start", "up_for_retry", "in_progress")]


@pytest.mark.slow
def test_three_clones_racing_through_a_bare_remote_record_it_once(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    Repo(tmp_path).git("init", "-q", "--bare", "-b", "main", str(remote))
    origin = make_repo(tmp_path / "seed")
    seed(origin)
    origin.ok("config", "set", "claims.remote", "origin")
    origin.git("remote", "add", "origin", str(remote))
    origin.git("push", "-q", "origin", "main")
    names = ("dead", "ann", "ben", "cat")
    for name in names:
        Repo(tmp_path).git("clone", "-q", str(remote), name)
    claim_and_die(Repo(tmp_path / "dead"), tmp_path, "dead@example.com")
    ann = Repo(tmp_path / "ann")
    deadline = time.monotonic() + WAIT
    while not any(row["stale"] for row in ann.ok("claims")["claims"]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, str(RACER), str(go), "next", "--claim"],
                               cwd=tmp_path / name,
                               env={**os.environ, "FLOW_ACTOR": f"{name}@example.com",
                                    "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for name in names[1:]]
    time.sleep(1.0)
    go.touch()
    answers = []
    for racer in racers:
        out, err = racer.communicate(timeout=WAIT)
        assert racer.returncode == 0, err
        answers.append(json.loads(out))
    recorded = Counter(item["id"] for answer in answers for item in answer["expired"])
    assert recorded == Counter({T1: 1}), answers
    lines = [line for name in names[1:] for line in expire_lines(Repo(tmp_path / name), "HEAD")]
    assert len(lines) == 1, lines
    assert Counter(answer["task"] for answer in answers if answer["claimed"]) == Counter({T1: 1})


def test_run_records_an_expired_lease_and_then_runs_the_task(repo: Repo) -> None:
    seed(repo, tasks=2)
    repo.ok("start", T1, env=as_actor("ghost"))
    wait_until_stale(repo, T1)
    result = repo.flow("--json", "run", "--", "true")
    assert result.exit_code == 0, result
    data = result.json
    assert data["done"] == [T1, "fn-1-ship.2"]
    assert "expire" in result.stderr and "ghost" in result.stderr
    assert len(expire_lines(repo, "HEAD")) == 1
    assert repo.ok("show", T1)["attempts"] == 1
