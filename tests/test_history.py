"""Issue #5: replay, log, stats and the cache, against real git histories."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import FLOW_EXE, Repo, make_repo

from git_flowctl.history.replay import GitReader, replay

EPIC = "fn-1-add-oauth-login"
T1, T2, T3 = f"{EPIC}.1", f"{EPIC}.2", f"{EPIC}.3"


def at(moment: datetime) -> dict[str, str]:
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}


def history_of(repo: Repo, rev: str = "HEAD", use_cache: bool = True) -> Any:
    return replay(GitReader.discover(repo.path), rev, use_cache=use_cache)


def events(repo: Repo, *args: str) -> list[dict[str, Any]]:
    data = repo.ok("log", *args)
    assert data["count"] == len(data["events"])
    result: list[dict[str, Any]] = data["events"]
    return result


# Squash merges, rebases, merges -----------------------------------------------------------------


def _five_on_a_branch(repo: Repo, branch: str = "feature") -> list[str]:
    repo.git("checkout", "-q", "-b", branch)
    for args in (("start", "fn-1.1"), ("done", "fn-1.1"), ("start", "fn-1.2"), ("done", "fn-1.2"),
                 ("start", "fn-1.3")):
        repo.ok(*args)
    ids = repo.git("log", "--format=%(trailers:key=Flow-Transition,valueonly)", f"main..{branch}")
    transition_ids = [line.rsplit("id=", 1)[1] for line in ids.split("\n") if "id=" in line]
    assert len(transition_ids) == 5
    repo.git("checkout", "-q", "main")
    return transition_ids


def test_squash_merge_with_the_default_message_counts_all_five_once(flow_repo: Repo) -> None:
    repo = flow_repo
    transition_ids = _five_on_a_branch(repo)
    repo.git("merge", "--squash", "-q", "feature")
    repo.git("commit", "-q", "--no-edit")
    squash = repo.head()
    assert repo.git("rev-list", "--count", "main..feature").strip() == "5"  # not merged: squashed

    log = events(repo)
    counted = [e["transition_id"] for e in log]
    oldest_first = list(reversed(transition_ids))
    assert counted[4:] == oldest_first  # after the 4 creates: the five, once each, in order
    squashed = [e for e in log if e["commit"] == squash]
    assert [e["transition_id"] for e in squashed] == oldest_first
    assert [(e["id"], e["from"], e["to"]) for e in squashed] == [
        (T1, "todo", "in_progress"), (T1, "in_progress", "done"),
        (T2, "todo", "in_progress"), (T2, "in_progress", "done"), (T3, "todo", "in_progress")]
    assert all(e["squashed_from"] for e in squashed)
    states = history_of(repo).states()
    assert (states[T1], states[T2], states[T3]) == ("done", "done", "in_progress")

    # The branch is merged as well later: its original commits carry the same ids, counted once.
    repo.git("merge", "-q", "--no-edit", "-s", "ours", "feature")
    again = events(repo)
    assert [e["transition_id"] for e in again] == counted


def test_rebased_and_merged_branch_counts_each_transition_once(flow_repo: Repo) -> None:
    repo = flow_repo
    transition_ids = _five_on_a_branch(repo)
    repo.git("branch", "feature-before-rebase", "feature")
    repo.write("notes.txt", "main moved on\n")
    repo.commit_all("work on main")
    repo.git("checkout", "-q", "feature")
    repo.git("rebase", "-q", "main")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "--no-edit", "feature")
    # The pre-rebase commits come in too (someone had merged them elsewhere): same ids.
    repo.git("merge", "-q", "--no-edit", "feature-before-rebase")
    # initial + 5 setup + 5 originals + main's commit + 5 rebased copies + 2 merges
    assert repo.git("rev-list", "--count", "HEAD").strip() == str(1 + 5 + 5 + 1 + 5 + 2)

    log = events(repo)
    ids_seen = [e["transition_id"] for e in log]
    assert len(ids_seen) == len(set(ids_seen)) == 4 + 5
    assert set(transition_ids) <= set(ids_seen)
    history = history_of(repo)
    assert (history.state(T1), history.state(T2), history.state(T3)) == ("done", "done", "in_progress")
    assert repo.ok("recover")["clean"] is True


def test_both_sides_of_a_merge_count(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    repo.git("checkout", "-q", "-b", "side")
    repo.ok("start", "fn-1.2")
    repo.git("checkout", "-q", "main")
    repo.ok("start", "fn-1.3")
    repo.git("merge", "-q", "--no-edit", "side")
    history = history_of(repo)
    assert (history.state(T2), history.state(T3)) == ("in_progress", "in_progress")
    assert repo.ok("recover")["clean"] is True


# Reverts ------------------------------------------------------------------------------------------


def test_revert_of_a_done_commit_gives_in_progress_and_log_shows_both(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1", "--evidence", "commits=abc123")
    done_commit = repo.head()
    repo.git("revert", "--no-edit", "HEAD")
    revert_commit = repo.head()

    assert history_of(repo).state(T1) == "in_progress"
    assert repo.ok("show", "fn-1.1")["status"] == "in_progress"  # the file agrees
    log = events(repo, "fn-1.1")
    assert [(e["event"], e["from"], e["to"]) for e in log] == [
        ("transition", None, "todo"), ("transition", "todo", "in_progress"),
        ("transition", "in_progress", "done"), ("revert", "done", "in_progress")]
    assert log[2]["commit"] == done_commit and log[2]["reverted_by"] == revert_commit
    assert log[2]["evidence"] == {"commits": "abc123"}
    assert log[3]["commit"] == revert_commit and log[3]["undoes"] == log[2]["transition_id"]
    human = repo.flow("log", "fn-1.1")
    assert human.exit_code == 0 and f"reverted by {revert_commit[:7]}" in human.stdout
    assert repo.ok("stats")["lead_time"]["count"] == 0  # a reverted done never happened

    repo.git("revert", "--no-edit", "HEAD")  # revert the revert: done again
    assert history_of(repo).state(T1) == "done"
    log = events(repo, "fn-1.1")
    assert log[-1]["event"] == "revert" and (log[-1]["from"], log[-1]["to"]) == ("in_progress", "done")
    assert log[2]["reverted_by"] is None


def test_revert_of_a_renumber_gives_the_old_ids_back(flow_repo: Repo) -> None:
    """git revert of a renumber commit moves the files back; history must follow them, or
    recover would call the files strays and offer to restore the renamed ones."""
    repo = flow_repo
    repo.ok("hooks", "install")  # the revert goes through the hooks, then through check
    repo.ok("start", "fn-1.1")
    before = repo.head()
    repo.ok("renumber", "fn-1", "--to", "7")
    assert history_of(repo).state("fn-7-add-oauth-login.1") == "in_progress"
    repo.git("revert", "--no-commit", "HEAD")
    repo.git("commit", "-q", "--no-edit")  # pre-commit (REVERT_HEAD) and commit-msg run
    checked = repo.flow("check", "--base", before, "--json")
    assert checked.exit_code == 0, checked.json["findings"]
    assert (repo.path / ".flow" / "tasks" / f"{T1}.md").exists()
    replayed = history_of(repo, use_cache=False)
    assert replayed.state(T1) == "in_progress" and replayed.state("fn-1-add-oauth-login") == "open"
    assert replayed.state("fn-7-add-oauth-login.1") in (None, "none")
    recovered = repo.ok("recover")
    assert recovered["clean"] is True and recovered["divergences"] == []
    assert history_of(repo).state(T1) == "in_progress"  # the cached replay agrees
    repo.ok("done", "fn-1.1")
    repo.git("revert", "--no-edit", "HEAD~1")  # revert the revert: fn-7 again, still done
    assert history_of(repo, use_cache=False).state("fn-7-add-oauth-login.1") == "done"
    assert repo.ok("recover")["clean"] is True


def test_a_revert_after_a_cached_newest_first_replay(flow_repo: Repo) -> None:
    """A fold made newest first stores no commit -> effect map (its events say it): a revert
    of one of its commits, replayed from that cache, derives it."""
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    cached = history_of(repo)
    assert cached._fold.dump()[11] is True  # made newest first: effects left in the events
    repo.git("revert", "--no-edit", "HEAD")  # the done, a commit of the cached fold
    continued = history_of(repo)
    assert continued.walked == 1 and continued.cached_from == cached.head
    cold = history_of(repo, use_cache=False)
    assert continued.state(T1) == cold.state(T1) == "in_progress"
    assert [e.as_json() for e in continued.events([T1])] == [e.as_json() for e in cold.events([T1])]
    assert [e.kind for e in cold.events([T1])][-1] == "revert"


def test_revert_of_a_squash_commit_undoes_every_transition_in_it(flow_repo: Repo) -> None:
    repo = flow_repo
    _five_on_a_branch(repo)
    repo.git("merge", "--squash", "-q", "feature")
    repo.git("commit", "-q", "--no-edit")
    repo.git("revert", "--no-edit", "HEAD")
    history = history_of(repo)
    assert (history.state(T1), history.state(T2), history.state(T3)) == ("todo", "todo", "todo")
    assert repo.ok("recover")["clean"] is True


def test_revert_with_reference_format_and_of_a_rebased_away_commit(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.git("revert", "--no-edit", "--reference", "HEAD")  # "This reverts commit abc1234 (...)"
    assert history_of(repo).state(T1) == "todo"
    # A revert naming a commit that is not in this history (rebased away) but still in the
    # object database: its transitions are found by id.
    repo.ok("start", "fn-1.1")
    original = repo.head()
    repo.git("reset", "-q", "--hard", "HEAD~1")
    repo.git("cherry-pick", original, env={"GIT_COMMITTER_DATE": "2026-01-06T10:00:00+00:00"})
    assert repo.head() != original and history_of(repo).state(T1) == "in_progress"
    repo.git("revert", "--no-edit", "HEAD")
    repo.git("commit", "-q", "--amend", "-m", f"undo\n\nThis reverts commit {original}.")
    assert history_of(repo).state(T1) == "todo"
    assert repo.ok("recover")["clean"] is True


# log ------------------------------------------------------------------------------------------------


def test_log_task_json_is_oldest_first_with_commit_author_time_from_to(repo: Repo) -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    repo.ok("init", env=at(start))
    repo.ok("epic", "create", "--title", "Auth", env=at(start))
    repo.ok("task", "create", "--epic", "fn-1", "--title", "A", env=at(start + timedelta(minutes=1)))
    repo.ok("start", "fn-1.1", env={**at(start + timedelta(hours=2)), "FLOW_ACTOR": "agent-7"})
    repo.ok("done", "fn-1.1", "--actor", "agent-7", env=at(start + timedelta(hours=5)))
    commits = repo.git("log", "--reverse", "--format=%H", "-3").split()

    log = events(repo, "fn-1.1")
    assert [(e["commit"], e["from"], e["to"], e["time"]) for e in log] == [
        (commits[0], None, "todo", "2026-01-05T09:01:00Z"),
        (commits[1], "todo", "in_progress", "2026-01-05T11:00:00Z"),
        (commits[2], "in_progress", "done", "2026-01-05T14:00:00Z")]
    assert {e["author"] for e in log} == {"Alice Example <alice@example.com>"}
    assert [e["by"] for e in log] == ["alice@example.com", "agent-7", "agent-7"]
    assert [e["action"] for e in log] == ["create", "start", "done"]
    assert all(e["id"] == "fn-1-auth.1" and e["type"] == "task" for e in log)
    whole = repo.ok("log", "--epic", "fn-1")
    assert [e["id"] for e in whole["events"]] == ["fn-1-auth", "fn-1-auth.1", "fn-1-auth.1", "fn-1-auth.1"]
    assert whole["epic"] == "fn-1-auth"
    assert repo.ok("log")["count"] == 4
    assert repo.refused("log", "fn-9.1", "--json").json["success"] is False
    assert repo.refused("log", "fn-1.1", "--epic", "fn-1", code=2)


def test_the_lean_log_path_prints_what_the_full_cli_prints(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    worktree = tmp_path / "linked"
    repo.git("worktree", "add", "-q", "-b", "side", str(worktree))
    (repo.path / "src").mkdir()
    for cwd in (repo.path, repo.path / "src", worktree):
        if cwd == worktree:
            repo.ok("done", "fn-1.1", "--force", cwd=cwd)
        for args in (["log", "fn-1.1"], ["log", "--epic", "fn-1"], ["log"]):
            lean = repo.flow(*args, "--json", cwd=cwd)
            full = repo.flow(*args, "--rev", "HEAD", "--json", cwd=cwd)  # --rev: the click path
            assert lean.exit_code == full.exit_code == 0
            assert lean.stdout == full.stdout
    assert repo.ok("log", "fn-1.1", cwd=worktree)["events"][-1]["to"] == "done"
    assert repo.ok("log", "fn-1.1")["events"][-1]["to"] == "in_progress"
    code = ("import sys, io, contextlib\n"
            "from git_flowctl.entry import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out: code = main(['log', 'fn-1.1', '--json'])\n"
            "heavy = [m for m in ('click', 'pygit2', 'yaml', 'rich', 'subprocess', 'threading',\n"
            "                     'dataclasses', 'typing', 'git_flowctl.model.trailers') if m in sys.modules]\n"
            "assert code == 0 and '\"success\": true' in out.getvalue(), out.getvalue()\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], cwd=repo.path, check=True)
    shutil.rmtree(repo.path / ".git" / "flow-cache")  # and a replay from the root
    subprocess.run([sys.executable, "-c", code], cwd=repo.path, check=True)


def test_log_follow_prints_new_transitions_as_commits_arrive(flow_repo: Repo) -> None:
    repo = flow_repo
    process = subprocess.Popen([FLOW_EXE, "log", "fn-1.1", "--follow", "--json"], cwd=repo.path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    arrived = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if len(lines) == 3:
                arrived.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        for _ in range(600):  # the existing event first
            if lines:
                break
            threading.Event().wait(0.05)
        assert json.loads(lines[0])["to"] == "todo"
        repo.ok("start", "fn-1.1")
        repo.ok("done", "fn-1.1")
        assert arrived.wait(60), lines
        assert [json.loads(line)["to"] for line in lines] == ["todo", "in_progress", "done"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""


# stats --------------------------------------------------------------------------------------------


def test_stats_gives_the_lead_and_cycle_times_computed_by_hand(repo: Repo) -> None:
    monday = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # ISO week 2026-W02
    hour = timedelta(hours=1)
    repo.ok("init", env=at(monday))
    repo.ok("config", "set", "retry_backoff.base", "0", env=at(monday))  # retried at once
    repo.ok("epic", "create", "--title", "Metrics", env=at(monday))
    repo.ok("epic", "create", "--title", "Other", env=at(monday))
    # (created, started, done) offsets in hours; lead = done - created, cycle = done - started
    plan = [(0, 8, 10), (1, 17, 21), (2, 26, 32), (3, 35, 43), (4, 54, 104)]
    for number, (created, _, _) in enumerate(plan, start=1):
        repo.ok("task", "create", "--epic", "fn-1", "--title", f"Task {number}",
                env=at(monday + created * hour))
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Elsewhere", env=at(monday + 5 * hour))
    events_by_time = []
    for number, (_, started, done) in enumerate(plan, start=1):
        events_by_time += [(started, "start", number), (done, "done", number)]
    for offset, action, number in sorted(events_by_time):
        extra = ["--evidence", f"commits=a{number},b{number}", "--evidence", "tokens=1000"] \
            if action == "done" else []
        repo.ok(action, f"fn-1.{number}", *extra, env=at(monday + offset * hour))
    # A failure and a retry on the other epic, the next week (hour 160 is Monday 2026-01-12).
    repo.ok("start", "fn-2.1", env=at(monday + 160 * hour))
    repo.ok("fail", "fn-2.1", env=at(monday + 161 * hour))
    repo.ok("start", "fn-2.1", env=at(monday + 162 * hour))

    leads = [10 - 0, 21 - 1, 32 - 2, 43 - 3, 104 - 4]  # 10 20 30 40 100 hours
    cycles = [10 - 8, 21 - 17, 32 - 26, 43 - 35, 104 - 54]  # 2 4 6 8 50 hours
    # p90 by linear interpolation: rank 0.9 * (5 - 1) = 3.6 -> v[3] + 0.6 * (v[4] - v[3])
    lead_p90 = (40 + 0.6 * (100 - 40)) * 3600
    cycle_p90 = (8 + 0.6 * (50 - 8)) * 3600

    data = repo.ok("stats", "--epic", "fn-1")
    assert data["epic"] == "fn-1-metrics"
    assert data["lead_time"] == {"count": 5, "median_seconds": 30 * 3600,
                                 "p90_seconds": pytest.approx(lead_p90)}
    assert data["cycle_time"] == {"count": 5, "median_seconds": 6 * 3600,
                                  "p90_seconds": pytest.approx(cycle_p90)}
    assert sorted(leads) == [10, 20, 30, 40, 100] and sorted(cycles) == [2, 4, 6, 8, 50]
    assert data["tasks"] == {"total": 5, "states": {"done": 5}}
    # done at hours 10, 21, 32, 43 and 104 (Friday 2026-01-09 17:00): all in ISO week 2
    weeks = {week["week"]: week for week in data["weeks"]}
    assert list(weeks) == ["2026-W02"]
    assert weeks["2026-W02"]["done"] == 5 and weeks["2026-W02"]["started"] == 5
    assert data["evidence"]["records"] == 5 and data["evidence"]["commits"] == 10
    assert data["evidence"]["tokens"] == 5000
    assert data["failures"]["failure_rate"] == 0

    everything = repo.ok("stats")
    assert everything["failures"] == {"failed_attempts": 1, "completions": 5,
                                      "failure_rate": pytest.approx(1 / 6), "retried": 1,
                                      "retry_rate": 1.0}
    assert [w["week"] for w in everything["weeks"]] == ["2026-W02", "2026-W03"]
    assert everything["weeks"][1]["wip"] == 1  # fn-2.1 in progress again at the end

    since = repo.ok("stats", "--epic", "fn-1", "--since", "2026-01-07")  # completions at h 43, 104
    assert since["lead_time"]["count"] == 2 and since["lead_time"]["median_seconds"] == 70 * 3600
    human = repo.flow("stats")
    assert human.exit_code == 0 and "lead time" in human.stdout and "█" in human.stdout
    assert repo.refused("stats", "--since", "last tuesday", code=2)


def test_forced_transitions_are_listed(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.2", "--force")
    forced = repo.ok("stats")["forced"]
    assert [(f["id"], f["from"], f["to"], f["action"]) for f in forced] == [
        (T2, "todo", "in_progress", "start")]


# The cache ----------------------------------------------------------------------------------------


def _outputs(repo: Repo) -> list[str]:
    runs = [("log", "--json"), ("log", "fn-1.1", "--json"), ("log", "--epic", "fn-1", "--json"),
            ("stats", "--json"), ("recover", "--json"), ("log", "--rev", "HEAD~2", "--json"),
            ("status", "--rev", "HEAD~1", "--json")]
    results = [repo.flow(*args) for args in runs]
    assert all(r.exit_code == 0 for r in results), results
    return [r.stdout for r in results]


def _busy_history(repo: Repo) -> None:
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1", "--evidence", "tests=pytest")
    repo.git("checkout", "-q", "-b", "side")
    repo.ok("start", "fn-1.2")
    repo.ok("fail", "fn-1.2")
    repo.git("checkout", "-q", "main")
    repo.ok("start", "fn-1.3")
    repo.git("merge", "-q", "--no-edit", "side")
    repo.git("revert", "--no-edit", "HEAD~1")  # undo the start of fn-1.3 (first parent)
    repo.write(".flow/tasks/fn-1-add-oauth-login.2.md",
               repo.read(".flow/tasks/fn-1-add-oauth-login.2.md").replace("up_for_retry", "done"))
    repo.commit_all("hand edit")


def test_deleting_the_cache_changes_no_answer(flow_repo: Repo) -> None:
    repo = flow_repo
    _busy_history(repo)
    cache = repo.path / ".git" / "flow-cache"
    warm = _outputs(repo)
    assert (cache / "replay").is_dir() and any((cache / "plan").iterdir())
    assert _outputs(repo) == warm  # answered from the cache
    shutil.rmtree(cache)
    assert _outputs(repo) == warm  # rebuilt from nothing
    repo.ok("start", "fn-1.2", "--force")  # one more commit: continued from the cache
    incremental = _outputs(repo)
    shutil.rmtree(cache)
    assert _outputs(repo) == incremental


def test_a_command_after_one_new_commit_walks_only_that_commit(flow_repo: Repo) -> None:
    repo = flow_repo
    _busy_history(repo)
    first = history_of(repo)
    assert first.walked == first.commits and first.cached_from is None
    again = history_of(repo)
    assert again.walked == 0 and again.cached_from == first.head
    repo.ok("start", "fn-1.1", "--force")
    one_more = history_of(repo)
    assert one_more.walked == 1 and one_more.cached_from == first.head
    repo.ok("done", "fn-1.1", "--force")
    two_more = history_of(repo)
    assert two_more.walked == 1 and two_more.cached_from == one_more.head  # from the delta
    cold = history_of(repo, use_cache=False)
    assert [e.as_json() for e in two_more.events()] == [e.as_json() for e in cold.events()]
    assert two_more.states() == cold.states()
    # A branch off an older commit finds the cached state on its first-parent chain.
    repo.git("checkout", "-q", "-b", "old", "HEAD~2")
    branch = history_of(repo)
    assert branch.cached_from == first.head and branch.walked == 0


def test_many_commits_after_the_cached_one_fold_as_a_replay_from_the_root(flow_repo: Repo) -> None:
    repo = flow_repo
    first = history_of(repo)
    task = "fn-1-add-oauth-login.3"
    for number in range(24):  # past the searches of the cached IDs, then through the decoded map
        source, target = ("todo", "in_progress") if number % 2 == 0 else ("in_progress", "todo")
        copy = f"T{number - 1}" if number == 21 else f"T{number}"  # one copy: counted once
        path = f".flow/tasks/{task}.md"
        repo.write(path, repo.read(path).replace(f"status: {source}", f"status: {target}"))
        if number == 21:  # the copy's commit changes the file back: the tree agrees with T20
            repo.write(path, repo.read(path).replace(f"status: {target}", f"status: {source}"))
        repo.git("commit", "-q", "--allow-empty", "-a", "-m",
                 f"work {number}\n\nFlow-Transition: {task} {source}->{target} action=x by=a id={copy}")
    history = history_of(repo)
    assert history.cached_from == first.head and history.walked == 24
    cold = history_of(repo, use_cache=False)
    assert [e.as_json() for e in history.events()] == [e.as_json() for e in cold.events()]
    assert history.states() == cold.states() and len(history.events([task])) == 23 + 1
    assert history.not_believed == []
    again = history_of(repo)  # from the delta: its commits folded again onto the snapshot
    assert again.walked == 0 and again.cached_from == history.head
    assert [e.as_json() for e in again.events()] == [e.as_json() for e in cold.events()]


def test_a_corrupt_cache_is_rebuilt_silently(flow_repo: Repo) -> None:
    repo = flow_repo
    _busy_history(repo)
    expected = _outputs(repo)
    cache = repo.path / ".git" / "flow-cache"
    damaged = [path for path in cache.rglob("*") if path.is_file()]
    assert len(damaged) >= 2
    for number, path in enumerate(damaged):
        data = path.read_bytes()
        # garbage, a truncated file, and a flipped byte inside an otherwise valid file
        path.write_bytes([b"garbage\x00\xff" * 50, data[: len(data) // 2],
                          data[:-20] + bytes([data[-20] ^ 0xFF]) + data[-19:]][number % 3])
    results = [repo.flow(*args) for args in (("log", "--json"), ("stats", "--json"))]
    assert all(r.exit_code == 0 and r.stderr == "" for r in results)
    assert _outputs(repo) == expected
    assert history_of(repo).walked == 0  # rewritten, usable again


def test_the_cache_is_under_the_common_git_dir_and_never_in_the_tree(flow_repo: Repo,
                                                                     tmp_path: Path) -> None:
    repo = flow_repo
    worktree = tmp_path / "linked"
    repo.git("worktree", "add", "-q", "-b", "other", str(worktree))
    repo.ok("log", cwd=worktree)
    repo.ok("status", "--rev", "HEAD", cwd=worktree)
    assert (repo.path / ".git" / "flow-cache" / "replay").is_dir()
    assert repo.git("status", "--porcelain", "--ignored") == ""
    assert repo.git("status", "--porcelain", "--ignored", cwd=worktree) == ""


def test_concurrent_readers_and_writers_of_the_cache_agree(flow_repo: Repo) -> None:
    repo = flow_repo
    _busy_history(repo)
    expected = repo.flow("log", "--json").stdout
    shutil.rmtree(repo.path / ".git" / "flow-cache", ignore_errors=True)
    processes = [subprocess.Popen([FLOW_EXE, "log", "--json"], cwd=repo.path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0] * 6, outputs
    assert all(out == expected for out, _ in outputs)


# Shallow clones, long histories ---------------------------------------------------------------------


def test_a_shallow_clone_says_what_it_could_and_could_not_check(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    repo.ok("start", "fn-1.2")
    clone = make_repo_clone(repo, tmp_path / "shallow", depth=2)
    data = clone.ok("recover")
    assert data["shallow"] is True and data["history_complete"] is False
    assert data["note"].startswith("shallow clone: history stops at 1 boundary commit")
    assert data["unchecked"] == ["fn-1-add-oauth-login", T3]  # their transitions lie before it
    assert {d["id"] for d in data["divergences"]} == set()  # T1 (done, its start gone) and T2 check
    assert data["checked"] == 2
    assert clone.ok("log")["shallow"] is True
    human = clone.flow("recover")
    assert "could not check 2" in human.stdout


def make_repo_clone(repo: Repo, path: Path, depth: int) -> Repo:
    subprocess.run(["git", "clone", "-q", "--depth", str(depth), f"file://{repo.path}", str(path)],
                   check=True, capture_output=True)
    return Repo(path)


def _fast_import_history(path: Path, commits: int) -> None:
    """A long history of transition commits on one task file, made quickly."""
    stream = []
    for number in range(1, commits + 1):
        status = ("todo", "in_progress")[number % 2]
        source = "none" if number == 1 else ("in_progress", "todo")[number % 2]
        content = (f"---\nid: fn-1-x.1\nepic: fn-1-x\ntitle: T\nstatus: {status}\n"
                   "depends_on: []\n---\n## Description\nTBD\n").encode()
        message = (f"flow: {number}\n\nFlow-Transition: fn-1-x.1 {source}->{status} action=x "
                   f"by=a id=01JD{number:022d}\n").encode()
        stream.append(b"commit refs/heads/main\nmark :%d\n" % number)
        stream.append(b"committer A <a@example.com> %d +0000\n" % (1767607200 + number))
        stream.append(b"data %d\n%s\n" % (len(message), message))
        if number > 1:
            stream.append(b"from :%d\n" % (number - 1))
        stream.append(b"M 100644 inline .flow/tasks/fn-1-x.1.md\ndata %d\n%s\n" % (len(content), content))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(stream), check=True)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=path, check=True)


@pytest.mark.slow
def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    import pty

    repo = make_repo(tmp_path / "long", initial_commit=False)
    _fast_import_history(repo.path, 2500)
    piped = repo.proc("recover")
    assert piped.returncode == 0 and "replaying history" not in piped.stderr + piped.stdout
    shutil.rmtree(repo.path / ".git" / "flow-cache")
    controller, terminal = pty.openpty()
    process = subprocess.Popen([FLOW_EXE, "recover"], cwd=repo.path, stdout=subprocess.PIPE,
                               stderr=terminal, stdin=subprocess.DEVNULL,
                               env={**os.environ, "TERM": "xterm", "COLUMNS": "100"})
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    process.wait(120)
    os.close(controller)
    assert process.returncode == 0
    assert b"replaying history" in seen and b"/2500" in seen


# Renumber and archive (issue #3's Flow-Rename and Flow-Archive) --------------------------------------


def test_history_follows_a_renumbered_task_and_an_archived_epic(flow_repo: Repo) -> None:
    repo = flow_repo
    for number in (1, 2, 3):
        repo.ok("start", f"fn-1.{number}")
        repo.ok("done", f"fn-1.{number}")
    repo.ok("renumber", "fn-1", "--to", "7")
    renamed = "fn-7-add-oauth-login"
    log = events(repo, f"{renamed}.2")
    assert [(e["event"], e["id"], e["to"]) for e in log] == [
        ("transition", T2, "todo"), ("transition", T2, "in_progress"), ("transition", T2, "done"),
        ("rename", f"{renamed}.2", "done")]
    assert log[-1]["extra"] == {"renamed_from": T2} and log[-1]["action"] == "renumber"
    history = history_of(repo)
    assert history.state(f"{renamed}.2") == "done" and history.state(T2) is None
    stats = repo.ok("stats")
    assert stats["tasks"] == {"total": 3, "states": {"done": 3}}
    assert stats["lead_time"]["count"] == 3
    assert repo.ok("recover")["clean"] is True

    repo.ok("epic", "close", "fn-7")
    repo.ok("epic", "archive", "fn-7")
    assert repo.git("ls-files", ".flow/tasks") == ""
    assert events(repo, f"{renamed}.1")[-1]["event"] == "archive"
    assert repo.ok("recover")["clean"] is True  # archived files are where history says
    repo.git("rm", "-q", f".flow/archive/tasks/{renamed}.3.md")
    repo.git("commit", "-q", "-m", "lost one")
    [divergence] = repo.ok("recover")["divergences"]
    assert divergence["kind"] == "deleted" and divergence["path"] == f".flow/archive/tasks/{renamed}.3.md"
    repo.ok("recover", "--apply")
    assert (repo.path / f".flow/archive/tasks/{renamed}.3.md").exists()
    assert repo.ok("recover")["clean"] is True


def test_plans_read_from_git_objects_come_from_the_tree_catalog(
        flow_repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    from git_flowctl.repo import catalog
    from git_flowctl.repo.cache import cache_report
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.workspace import Workspace

    repo = flow_repo
    ws = Workspace(repo.path)
    source = ws.revision_source("HEAD")
    cold = Plan.load(source, cache=ws.plan_cache)
    parsed: list[str] = []
    real_parse = catalog.parse_entry
    monkeypatch.setattr(catalog, "parse_entry",
                        lambda path, raw, blob: parsed.append(path) or real_parse(path, raw, blob))
    warm = Plan.load(ws.revision_source("HEAD"), cache=ws.plan_cache)
    assert parsed == []  # the tree's catalog, keyed by its .flow tree ID, answered
    assert warm.facts.tasks == cold.facts.tasks
    assert {t.id: t.render() for t in warm.tasks.values()} == {t.id: t.render() for t in cold.tasks.values()}
    warm.task("fn-1.1").set("status", "done")  # callers edit documents: each plan has its own
    assert Plan.load(source, cache=ws.plan_cache).task("fn-1.1").status == "todo"
    report = cache_report(ws.common_dir)
    assert report["exists"] and report["files"] >= 1 and report["bytes"] > 0
    for stored in (repo.path / ".git" / "flow-cache" / "plan").iterdir():
        stored.write_bytes(b"flowplan" + b"garbage")
    catalog._LOADED_TREES.clear()  # as the next command finds it: a new process
    again = Plan.load(ws.revision_source("HEAD"), cache=ws.plan_cache)
    assert again.task("fn-1.2").depends_on == ["fn-1-add-oauth-login.1"]
    assert sorted(parsed) == sorted(path for path in repo.git("ls-files", ".flow").split()
                                    if path.endswith((".md", ".yaml")))


def _canonical_history(seed: int, copies: bool) -> dict[str, Any]:
    """Records of a linear history of messages made of canonical lines (history.Record),
    oldest first."""
    import random

    generator = random.Random(seed)
    subjects = ["fn-1-a", "fn-1-a.1", "fn-1-a.2", "fn-2.1"]
    states = ["todo", "in_progress", "done", "blocked"]
    records: dict[str, Any] = {}
    for number in range(300):
        lines = [f"flow: commit {number}", "", "Some text."] if number % 7 else ["no flow here"]
        for part in range(generator.choice([1, 1, 1, 2, 3]) if number % 7 else 0):
            subject = generator.choice(subjects)
            if generator.random() < 0.8:
                source = generator.choice(["none", *states])
                # with copies, some ids come twice: counted once
                ulid = f"ID{generator.randrange(280)}" if copies else f"ID{number}.{part}"
                force = " force=1" if generator.random() < 0.2 else ""
                lines.append(f"{'    ' if generator.random() < 0.1 else ''}Flow-Transition: "
                             f"{subject} {source}->{generator.choice(states)} action=x "
                             f"by=a{number}@example.com id={ulid}{force}")
            else:
                pairs = " ".join(f"{key}={generator.choice(['1', 'a,b', ''])}"
                                 for key in generator.sample(["tests", "commits", "tokens"], 2))
                lines.append(f"Flow-Evidence: {subject} {pairs}")
        sha = f"{number:040x}"
        records[sha] = (sha, (f"{number - 1:040x}",) if number else (), f"A {number}\na@x\n{number}\n+0130",
                        "\n".join(lines) + "\n")
    return records


def _contents(fold: Any) -> tuple[Any, ...]:
    """What a fold holds (history._Fold.dump), its commit -> effect map (stored, or derived
    from the events: the flag that says which is left out), and the order of subjects."""
    dump = fold.dump()
    return (*dump[:6], fold.effects_map(), *dump[7:11], list(dump[1]), list(dump[5]))


def test_canonical_messages_fold_as_the_general_parser_reads_them() -> None:
    """Replay folds messages of canonical lines from text it prepares while git writes
    (history._parse); the general parser's objects must give the same events and states."""
    from git_flowctl.history import replay as history
    from git_flowctl.model.trailers import parse_message

    records = _canonical_history(7, copies=True)
    prepared = {sha: history._parse(sha, r[2], r[3]) for sha, r in records.items() if r[3]}
    assert all(isinstance(found, list) for found in prepared.values())  # the canonical path
    general = {sha: parse_message(r[3]) for sha, r in records.items() if r[3]}
    folds = []
    for parsed in (prepared, general):
        fold = history._Fold()
        fold.add_commits(list(records), records, parsed, history.message_lookup(None, records))
        folds.append(fold)
    assert _contents(folds[0]) == _contents(folds[1])
    shown = [history._decode_event(i, text) for i, text in enumerate(folds[0].events)]
    transitions = sum(len(found) for found in prepared.values())
    assert 150 < len(shown) < transitions  # copies of a transition id counted once
    assert any(e.force for e in shown) and any(e.evidence for e in shown)
    assert any(e.source is None for e in shown) and shown[-1].offset_minutes == 90


@pytest.mark.parametrize("pairs", ["tests=3 commits=abc", "a=1 a=2", "a= b=1", "a=x\\y", "a=\x7f"])
def test_evidence_written_as_is_or_normalised_as_the_general_parser_does(pairs: str) -> None:
    from git_flowctl.history import replay as history
    from git_flowctl.model.trailers import parse_message

    message = (f"flow: done\n\nFlow-Transition: fn-1.1 in_progress->done action=done by=a id=E1\n"
               f"Flow-Evidence: fn-1.1 {pairs}\n")
    author = "A\na@x\n1\n+0000"
    records = {"a" * 40: ("a" * 40, (), author, message)}
    folds = []
    for parsed in (history._parse("a" * 40, author, message), parse_message(message)):
        fold = history._Fold()
        fold.add_commits(list(records), records, {"a" * 40: parsed}, history.message_lookup(None, records))
        folds.append(fold)
    assert isinstance(history._parse("a" * 40, author, message), list)  # the canonical path
    assert _contents(folds[0]) == _contents(folds[1])


def _log_text(records: dict[str, Any]) -> list[str]:
    """What ``git log -z`` in history._LOG_FORMAT prints for ``records``, newest first: one
    text per record (the raw date is one line: "time offset")."""
    texts = []
    for sha, parents, author, message in reversed(records.values()):
        name, email, time, offset = author.split("\n")
        texts.append(f"{sha}\x1f{' '.join(parents)}\x1f{name}\n{email}\n{time} {offset}\x1f{message}")
    return texts


def test_a_block_folded_at_once_is_the_fold_of_its_records_one_by_one() -> None:
    """_NewestFirst.add_block (one pattern over many records) against add per record."""
    from git_flowctl.history import replay as history

    for seed in range(3):
        records = _canonical_history(seed, copies=False)
        texts = _log_text(records)
        head = next(reversed(records))
        by_block, by_record = history._NewestFirst(head), history._NewestFirst(head)
        for start in range(0, len(texts), 70):  # blocks as reads of the pipe cut them
            assert by_block.add_block("\0".join(texts[start:start + 70]))
        history._read_block("\0".join(texts), {}, {}, by_record)
        assert by_block.usable and by_record.usable and by_block.commits == len(records)
        assert _contents(by_block.fold()) == _contents(by_record.fold())
    # Not for the block path (nothing folded): a message that may hold more than canonical
    # lines, a revert, a squash, a CR, a separator inside a message.
    for odd in ("fix flow-task", "This reverts commit " + "b" * 40, "Squashed\n\ncommit " + "c" * 40,
                "x\r\nFlow-Evidence: fn-1.1 a=1", "a\x1fb"):
        newest_first = history._NewestFirst(head)
        assert not newest_first.add_block("\0".join([*texts[:5], texts[5].rsplit("\x1f", 1)[0]
                                                     + "\x1f" + odd, *texts[6:9]]))
        assert newest_first.commits == 0 and newest_first.usable
    # A merge inside a block: the block is read, the fold is not usable.
    sha, parents, rest = texts[3].split("\x1f", 2)
    merged = [*texts[:3], f"{sha}\x1f{parents} {'f' * 40}\x1f{rest}", *texts[4:8]]
    newest_first = history._NewestFirst(head)
    assert newest_first.add_block("\0".join(merged)) and not newest_first.usable


def test_the_fold_made_newest_first_while_git_writes_is_the_canonical_fold() -> None:
    from git_flowctl.history import replay as history

    for seed in range(5):
        records = _canonical_history(seed, copies=False)
        parsed = {sha: history._parse(sha, r[2], r[3]) for sha, r in records.items() if r[3]}
        head = next(reversed(records))
        newest_first = history._NewestFirst(head)
        for sha in reversed(records):  # as git log writes them
            newest_first.add(records[sha], parsed.get(sha))
        assert newest_first.usable
        fold = history._Fold()
        order = history.canonical_order(head, records)
        fold.add_commits(order, records, parsed, history.message_lookup(None, records))
        assert _contents(newest_first.fold()) == _contents(fold)
    # A copied transition id, a merge, a message for the general parser: not for this fold.
    copies = _canonical_history(7, copies=True)
    merge = dict(records)
    merge[head] = (head, (*records[head][1], "f" * 40), *records[head][2:])
    for history_records in (copies, merge):
        newest_first = history._NewestFirst(next(reversed(history_records)))
        for sha, record in reversed(history_records.items()):
            newest_first.add(record, history._parse(sha, record[2], record[3]) if record[3] else None)
        assert not newest_first.usable
    newest_first = history._NewestFirst("a" * 40)
    newest_first.add(("a" * 40, (), "A\na@x\n1\n+0000", "This reverts commit " + "b" * 40),
                     history._parse("a" * 40, "A\na@x\n1\n+0000", "This reverts commit " + "b" * 40))
    assert not newest_first.usable


def test_statuses_read_from_loose_objects_are_those_git_reads(flow_repo: Repo) -> None:
    """history/agreement.py reads a few new commits' files from loose objects, else asks git:
    both must give the same answer (home, archive, missing, packed)."""
    from git_flowctl.history.agreement import TreeStatuses

    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    repo.ok("skip", "fn-1.2", "--reason", "x")
    repo.ok("skip", "fn-1.3", "--reason", "x")
    repo.ok("epic", "close", "fn-1")
    repo.ok("epic", "archive", "fn-1")
    commits = repo.git("rev-list", "HEAD").split()
    pairs = [(commit, subject) for commit in commits
             for subject in (T1, T2, "fn-1-add-oauth-login", "fn-9-none.1")]
    git = GitReader.discover(repo.path)
    by_git = TreeStatuses(git)
    by_git._from_loose = lambda pair: False  # type: ignore[method-assign]
    expected = by_git.statuses(pairs)
    loose = TreeStatuses(git)
    assert all(loose._from_loose(pair) for pair in pairs)  # nothing is packed yet
    assert {pair: loose.known[pair] for pair in pairs} == expected
    assert expected[(commits[0], T1)] == "done" and expected[(commits[0], "fn-9-none.1")] is None
    repo.git("gc", "-q")  # now packed: not loose, so git is asked
    assert not TreeStatuses(git)._from_loose(pairs[0])
    assert TreeStatuses(git).statuses(pairs) == expected
