"""Racing for claims with real processes (issues #7 and #14): 8 worktrees of one repository, 3
clones of one bare remote, clones sharing one git identity, worktrees of clones. Every task is
done exactly once across all branches, every racer ends, each round has exactly one winner and
every loser names the holder the remote kept. FLOW_STRESS=N runs N times as many tasks and
rounds (docs/security.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import FLOW_EXE, Repo, make_repo

pytestmark = pytest.mark.slow

RACER = Path(__file__).with_name("claim_racer.py")
ROOT = Path(__file__).resolve().parent.parent
# Each harness runs small counts by default; FLOW_STRESS=N multiplies them (docs/security.md).
STRESS = max(1, int(os.environ.get("FLOW_STRESS", "1") or 1))
TASKS = 20 * STRESS
PROCESS_TIMEOUT = 900  # generous: the machine is shared and loaded


def seed_plan(repo: Repo, tasks: int = TASKS) -> list[str]:
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Race")
    return [repo.ok("task", "create", "--epic", "fn-1", "--title", f"Task {n}")["id"]
            for n in range(1, tasks + 1)]


def spawn(argv: list[str], cwd: Path, actor: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FLOW_ACTOR": actor, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish_all(processes: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    results = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=PROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise AssertionError("a racer did not end") from None
        results.append((process.returncode, out, err))
    return results


def done_transitions(repo: Repo, branch: str) -> list[str]:
    """Task IDs whose done transition is in the branch's history."""
    log = repo.git("log", branch, "--format=%B")
    found = []
    for line in log.splitlines():
        if line.startswith("Flow-Transition:") and "action=done" in line:
            found.append(line.split()[1])
    return found


def claim_fields(repo: Repo, ref: str) -> dict[str, str]:
    message = repo.git("log", "-1", "--format=%B", ref)
    line = next(row for row in message.splitlines() if row.startswith("Flow-Claim:"))
    return dict(pair.split("=", 1) for pair in line.split()[2:])


def test_eight_worktrees_race_and_each_task_is_done_once(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    tasks = seed_plan(repo)
    branches = [f"racer-{n}" for n in range(8)]
    paths = []
    for branch in branches:
        path = tmp_path / branch
        repo.git("worktree", "add", "-q", "-b", branch, str(path))
        paths.append(path)
    go = tmp_path / "go"
    racers = [spawn([sys.executable, str(RACER), str(go)], path, f"{branch}@example.com")
              for branch, path in zip(branches, paths, strict=True)]
    go.touch()
    results = finish_all(racers)
    reported: list[str] = []
    for code, out, err in results:
        assert code == 0, (out, err)
        reported.extend(json.loads(out.strip().splitlines()[-1])["done"])
    per_branch = {branch: done_transitions(repo, branch) for branch in branches}
    everything = Counter(task for done in per_branch.values() for task in done)
    assert sorted(everything) == sorted(tasks)
    assert set(everything.values()) == {1}, everything
    assert sorted(reported) == sorted(tasks)
    for branch, done in per_branch.items():
        for task in done:  # the finished record names this branch and a commit on it
            fields = claim_fields(repo, f"refs/flow/claims/{task}")
            assert fields["state"] == "done" and fields["branch"] == f"refs/heads/{branch}"
            assert fields["holder"] == f"{branch}@example.com"
            repo.git("merge-base", "--is-ancestor", fields["commit"], branch)


def test_eight_worktrees_start_one_task_and_one_wins(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    seed_plan(repo, tasks=1)
    go = tmp_path / "go"
    starters = []
    for n in range(8):
        path = tmp_path / f"w{n}"
        repo.git("worktree", "add", "-q", "-b", f"w{n}", str(path))
        script = (f"import pathlib,time,sys\nwhile not pathlib.Path({str(go)!r}).exists(): "
                  "time.sleep(0.002)\nfrom git_flowctl.entry import main\n"
                  "sys.exit(main(['start', 'fn-1.1']))")
        starters.append(spawn([sys.executable, "-c", script], path, f"w{n}"))
    go.touch()
    codes = sorted(code for code, _, _ in finish_all(starters))
    assert codes == [0] + [3] * 7, codes


def test_three_clones_race_through_a_bare_remote(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    Repo(tmp_path).git("init", "-q", "--bare", "-b", "main", str(remote))
    seed = make_repo(tmp_path / "seed")
    tasks = seed_plan(seed)
    seed.ok("config", "set", "claims.remote", "origin")
    seed.git("remote", "add", "origin", str(remote))
    seed.git("push", "-q", "origin", "main")
    clones = []
    for name in ("ann", "ben", "cat"):
        Repo(tmp_path).git("clone", "-q", str(remote), name)
        clones.append(Repo(tmp_path / name))
    go = tmp_path / "go"
    racers = [spawn([sys.executable, str(RACER), str(go)], clone.path, f"{clone.path.name}@example.com")
              for clone in clones]
    go.touch()
    results = finish_all(racers)
    for code, out, err in results:
        assert code == 0, (out, err)
    per_clone = {clone.path.name: done_transitions(clone, "main") for clone in clones}
    everything = Counter(task for done in per_clone.values() for task in done)
    assert sorted(everything) == sorted(tasks)
    assert set(everything.values()) == {1}, everything
    on_remote = Repo(remote).git("for-each-ref", "--format=%(refname)", "refs/flow/claims/").split()
    assert len(on_remote) == TASKS
    for clone in clones:
        for task in per_clone[clone.path.name]:
            fields = claim_fields(Repo(remote), f"refs/flow/claims/{task}")
            assert fields["state"] == "done"
            assert fields["holder"] == f"{clone.path.name}@example.com"
            clone.git("merge-base", "--is-ancestor", fields["commit"], "main")


def test_three_clones_start_one_task_and_the_losers_exit_3(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    Repo(tmp_path).git("init", "-q", "--bare", "-b", "main", str(remote))
    seed = make_repo(tmp_path / "seed")
    seed_plan(seed, tasks=1)
    seed.ok("config", "set", "claims.remote", "origin")
    seed.git("remote", "add", "origin", str(remote))
    seed.git("push", "-q", "origin", "main")
    go = tmp_path / "go"
    starters = []
    for name in ("ann", "ben", "cat"):
        Repo(tmp_path).git("clone", "-q", str(remote), name)
        script = (f"import pathlib,time,subprocess,sys\nwhile not pathlib.Path({str(go)!r}).exists(): "
                  f"time.sleep(0.002)\nsys.exit(subprocess.run([{FLOW_EXE!r}, 'start', 'fn-1.1', "
                  "'--json']).returncode)")
        starters.append(spawn([sys.executable, "-c", script], tmp_path / name, name))
    go.touch()
    results = finish_all(starters)
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3, 3], results
    winner = next(out for code, out, _ in results if code == 0)
    holder = json.loads(winner)["claim"]["holder"]
    for code, out, _ in results:
        if code == 3:
            assert json.loads(out)["holder"] == holder


# Issue #14, item 1: clones that share one git identity -----------------------------------------

def _same_identity_clones(tmp_path: Path, tasks: int, count: int = 3) -> tuple[Path, list[Repo]]:
    remote = tmp_path / "remote.git"
    Repo(tmp_path).git("init", "-q", "--bare", "-b", "main", str(remote))
    seed = make_repo(tmp_path / "seed")
    seed_plan(seed, tasks=tasks)
    seed.ok("config", "set", "claims.remote", "origin")
    seed.git("remote", "add", "origin", str(remote))
    seed.git("push", "-q", "origin", "main")
    clones = []
    for number in range(count):
        Repo(tmp_path).git("clone", "-q", str(remote), f"clone{number}")
        clones.append(Repo(tmp_path / f"clone{number}"))
    return remote, clones


def test_clones_sharing_one_identity_get_exactly_one_winner_each_round(tmp_path: Path) -> None:
    """Three clones of one bare remote, the default git identity in all (no FLOW_ACTOR), all on
    main, start the same task at once: one wins, the others exit 3 "already claimed by you"."""
    rounds = 3 * STRESS
    remote, clones = _same_identity_clones(tmp_path, tasks=rounds)
    env = {key: value for key, value in os.environ.items() if key != "FLOW_ACTOR"}
    for number in range(1, rounds + 1):
        go = tmp_path / f"go{number}"
        script = (f"import pathlib,time,subprocess,sys\nwhile not pathlib.Path({str(go)!r}).exists(): "
                  f"time.sleep(0.002)\nsys.exit(subprocess.run([{FLOW_EXE!r}, 'start', "
                  f"'fn-1.{number}', '--json']).returncode)")
        starters = [subprocess.Popen([sys.executable, "-c", script], cwd=clone.path, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for clone in clones]
        go.touch()
        results = finish_all(starters)
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 3, 3], (number, results)
        winner = next(index for index, (code, _, _) in enumerate(results) if code == 0)
        for code, out, _ in results:
            if code == 3:
                answer = json.loads(out)
                assert "already claimed by you" in answer["error"], answer
                assert "--reclaim" in answer["hint"]
        task = f"fn-1-race.{number}"
        fields = claim_fields(Repo(remote), f"refs/flow/claims/{task}")
        winner_id = (clones[winner].path / ".git" / "flow-repository-id").read_text().strip()
        assert fields["repo"] == winner_id and fields["holder"] == "alice@example.com"


def test_a_second_start_in_another_clone_with_the_same_identity_exits_3(tmp_path: Path) -> None:
    remote, (first, second) = _same_identity_clones(tmp_path, tasks=1, count=2)
    first.ok("start", "fn-1.1")
    lost = second.refused("start", "fn-1.1", "--json", code=3)
    assert "already claimed by you" in lost.json["error"] and "--reclaim" in lost.json["hint"]
    assert second.ok("show", "fn-1.1")["status"] == "todo"  # nothing recorded there
    # The other clone's claim is not "mine" here: not ready, not resumable, not releasable.
    assert second.ok("next", "--claim")["status"] == "none"
    assert second.refused("release", "fn-1.1", "--json").exit_code == 1  # todo here: refused
    assert claim_fields(Repo(remote), "refs/flow/claims/fn-1-race.1")["repo"] == \
        (first.path / ".git" / "flow-repository-id").read_text().strip()
    # Taking it over is explicit.
    taken = second.ok("start", "fn-1.1", "--reclaim")
    assert taken["claim"]["reclaimed_from"] == "alice@example.com"


def test_every_loser_names_the_holder_the_remote_kept(tmp_path: Path) -> None:
    """Worktrees of two clones, six distinct actors, start one task at once: a worktree's local
    claim may be losing the remote push while another loser reads it; every loser must name
    the claim the remote kept."""
    rounds = 2 * STRESS
    remote, clones = _same_identity_clones(tmp_path, tasks=rounds, count=2)
    places = []
    for index, clone in enumerate(clones):
        places.append((clone.path, f"c{index}w0@example.com"))
        for number in (1, 2):
            path = tmp_path / f"c{index}w{number}"
            clone.git("worktree", "add", "-q", "-b", f"w{number}", str(path))
            places.append((path, f"c{index}w{number}@example.com"))
    for number in range(1, rounds + 1):
        go = tmp_path / f"go{number}"
        script = (f"import pathlib,time,subprocess,sys\nwhile not pathlib.Path({str(go)!r}).exists(): "
                  f"time.sleep(0.002)\nsys.exit(subprocess.run([{FLOW_EXE!r}, 'start', "
                  f"'fn-1.{number}', '--json']).returncode)")
        starters = [spawn([sys.executable, "-c", script], path, actor) for path, actor in places]
        go.touch()
        results = finish_all(starters)
        assert sorted(code for code, _, _ in results) == [0] + [3] * (len(places) - 1), results
        kept = claim_fields(Repo(remote), f"refs/flow/claims/fn-1-race.{number}")["holder"]
        winner = next(json.loads(out) for code, out, _ in results if code == 0)
        assert winner["claim"]["holder"] == kept
        named = [json.loads(out)["holder"] for code, out, _ in results if code == 3]
        assert named == [kept] * len(named), (kept, named)
