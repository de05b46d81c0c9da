"""Claims through refs on one machine (issue #7): start claims, done keeps a finished record,
release/fail/block give the task back, leases, reclaim, records across branches."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import Repo

T1, T2, T3 = "fn-1-add-oauth-login.1", "fn-1-add-oauth-login.2", "fn-1-add-oauth-login.3"
CLAIM = "refs/flow/claims/"


def claim_target(repo: Repo, task: str) -> str | None:
    out = repo.git("for-each-ref", "--format=%(objectname)", CLAIM + task).strip()
    return out or None


def claim_fields(repo: Repo, task: str) -> dict[str, str]:
    message = repo.git("log", "-1", "--format=%B", CLAIM + task)
    line = next(row for row in message.splitlines() if row.startswith("Flow-Claim:"))
    _, subject, *pairs = line.split()
    assert subject == task
    return dict(pair.split("=", 1) for pair in pairs)


def worktree(repo: Repo, name: str) -> Repo:
    path = repo.path.parent / name
    repo.git("worktree", "add", "-q", "-b", name, str(path))
    return Repo(path)


def as_actor(name: str) -> dict[str, str]:
    return {"FLOW_ACTOR": name}


def wait_until_stale(repo: Repo, task: str, timeout: float = 60.0) -> None:
    """Leases are wall-clock times; wait (without a timing margin) until this one has run out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stale = repo.ok("claims", "--stale")["claims"]
        if any(row["id"] == task for row in stale):
            return
        time.sleep(0.2)
    raise AssertionError(f"the lease of {task} never ran out")


@pytest.fixture
def short_lease(flow_repo: Repo) -> Repo:
    flow_repo.ok("config", "set", "claims.lease_seconds", "1")
    return flow_repo


# Taking a claim ---------------------------------------------------------------------------------


def test_start_creates_the_claim_ref_with_its_trailer(flow_repo: Repo) -> None:
    data = flow_repo.ok("start", "fn-1.1")
    claim = data["claim"]
    assert claim["holder"] == "alice@example.com" and claim["state"] == "held"
    assert claim["scope"] == "local"
    assert "local only" in claim["note"] and "no claims.remote" in claim["note"]
    fields = claim_fields(flow_repo, T1)
    assert fields["state"] == "held" and fields["holder"] == "alice@example.com"
    assert fields["branch"] == "refs/heads/main"
    assert fields["since"] <= fields["until"] and fields["until"] == claim["lease_until"]
    # A tiny commit: the empty tree, no parents, nothing on any branch.
    assert flow_repo.git("rev-parse", f"{CLAIM}{T1}^{{tree}}").strip() == \
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    assert flow_repo.git("rev-list", "--parents", "-1", CLAIM + T1).split()[1:] == []
    assert flow_repo.status() == ""


def test_human_output_says_the_claim_is_local_only(flow_repo: Repo) -> None:
    result = flow_repo.flow("start", "fn-1.1")
    assert result.exit_code == 0, result
    assert "claim is local only: no claims.remote configured" in result.stdout


def test_a_failed_transition_removes_its_claim(flow_repo: Repo) -> None:
    before = flow_repo.head()
    flow_repo.refused("start", "fn-1.2")  # the gate: fn-1.1 is not done
    assert claim_target(flow_repo, T2) is None
    # --no-commit checks the gate against the index only after claiming: rolled back too.
    flow_repo.refused("start", "fn-1.2", "--no-commit")
    assert claim_target(flow_repo, T2) is None and flow_repo.status() == ""
    flow_repo.write(f".flow/tasks/{T1}.md", flow_repo.read(f".flow/tasks/{T1}.md") + "\nedit\n")
    flow_repo.refused("start", "fn-1.1")  # the user's own edits: refused after claiming
    assert claim_target(flow_repo, T1) is None
    assert flow_repo.head() == before


def test_another_worktree_cannot_start_a_claimed_task(flow_repo: Repo) -> None:
    other = worktree(flow_repo, "bob-branch")
    flow_repo.ok("start", "fn-1.1")
    before = other.head()
    result = other.refused("start", "fn-1.1", "--json", code=3, env=as_actor("bob"))
    assert result.json["holder"] == "alice@example.com"
    assert "claimed by alice@example.com" in result.json["error"]
    assert other.head() == before
    human = other.refused("start", "fn-1.1", code=3, env=as_actor("bob"))
    assert "alice@example.com" in human.stderr and "hint:" in human.stderr


def test_the_same_actor_is_refused_unless_it_reclaims(flow_repo: Repo) -> None:
    other = worktree(flow_repo, "second-worker")
    flow_repo.ok("start", "fn-1.1")
    first = claim_target(flow_repo, T1)
    result = other.refused("start", "fn-1.1", code=3)
    assert "already claimed by you: claimed by alice@example.com" in result.stderr
    assert "--reclaim" in result.stderr
    data = other.ok("start", "fn-1.1", "--reclaim")
    assert data["claim"]["reclaimed_from"] == "alice@example.com"
    assert claim_target(flow_repo, T1) not in (None, first)
    assert claim_fields(flow_repo, T1)["branch"] == "refs/heads/second-worker"


def test_dry_run_refuses_a_held_task_and_changes_nothing(flow_repo: Repo) -> None:
    other = worktree(flow_repo, "bob-branch")
    flow_repo.ok("start", "fn-1.1")
    held = claim_target(flow_repo, T1)
    other.refused("start", "fn-1.1", "--dry-run", code=3, env=as_actor("bob"))
    dry = other.ok("start", "fn-1.3", "--dry-run", "--force", env=as_actor("bob"))
    assert dry["dry_run"] is True
    assert claim_target(flow_repo, T3) is None
    assert claim_target(flow_repo, T1) == held


# Done: the finished record across branches -------------------------------------------------------


def test_done_turns_the_claim_into_a_finished_record(flow_repo: Repo) -> None:
    feature = worktree(flow_repo, "feature")
    feature.ok("start", "fn-1.1")
    data = feature.ok("done", "fn-1.1")
    record = data["claim"]
    assert record["state"] == "done" and record["commit"] == data["commit"]
    fields = claim_fields(flow_repo, T1)
    assert fields["state"] == "done" and fields["commit"] == feature.head()
    assert fields["branch"] == "refs/heads/feature" and "until" not in fields
    # main does not see feature's commits: the record is what stops it from doing it again.
    result = flow_repo.refused("start", "fn-1.1", "--json", code=3, env=as_actor("bob"))
    assert "finished by alice@example.com on feature" in result.json["error"]
    assert result.json["commit"] == feature.head()


def test_prune_drops_records_once_their_commit_reaches_the_default_branch(flow_repo: Repo) -> None:
    feature = worktree(flow_repo, "feature")
    feature.ok("start", "fn-1.1")
    feature.ok("done", "fn-1.1")
    listed = flow_repo.ok("claims")["claims"]
    assert [(row["id"], row["state"], row["landed"]) for row in listed] == [(T1, "done", False)]
    assert flow_repo.ok("claims", "--prune")["pruned"] == []
    assert claim_target(flow_repo, T1) is not None
    flow_repo.git("merge", "-q", "--no-edit", "feature")
    pruned = flow_repo.ok("claims", "--prune")
    assert [row["id"] for row in pruned["pruned"]] == [T1]
    assert claim_target(flow_repo, T1) is None and pruned["claims"] == []


def test_a_squash_merge_lands_a_record_too(flow_repo: Repo) -> None:
    feature = worktree(flow_repo, "feature")
    feature.ok("start", "fn-1.1")
    feature.ok("done", "fn-1.1")
    flow_repo.git("merge", "-q", "--squash", "feature")
    flow_repo.git("commit", "-q", "--no-verify", "-m", "squashed feature")
    assert [row["landed"] for row in flow_repo.ok("claims")["claims"]] == [True]
    assert [row["id"] for row in flow_repo.ok("claims", "--prune")["pruned"]] == [T1]


def test_reopen_drops_the_finished_record(flow_repo: Repo) -> None:
    flow_repo.ok("start", "fn-1.1")
    flow_repo.ok("done", "fn-1.1")
    assert claim_target(flow_repo, T1) is not None
    flow_repo.ok("reopen", "fn-1.1")
    assert claim_target(flow_repo, T1) is None
    flow_repo.ok("start", "fn-1.1")


# Giving a task back ----------------------------------------------------------------------------


@pytest.mark.parametrize("action", [["release"], ["fail"], ["block", "--reason", "waiting on API"]])
def test_release_fail_and_block_delete_the_claim(flow_repo: Repo, action: list[str]) -> None:
    other = worktree(flow_repo, "bob-branch")
    flow_repo.ok("start", "fn-1.1")
    data = flow_repo.ok(action[0], "fn-1.1", *action[1:])
    assert data["claim"]["released"] is True
    assert claim_target(flow_repo, T1) is None
    other.ok("start", "fn-1.1", env=as_actor("bob"))  # given back: anyone may take it


def test_only_the_holder_gives_a_claim_back(flow_repo: Repo) -> None:
    other = worktree(flow_repo, "bob-branch")
    flow_repo.ok("start", "fn-1.1")
    held = claim_target(flow_repo, T1)
    result = other.refused("block", "fn-1.1", "--reason", "mine now", code=3, env=as_actor("bob"))
    assert "alice@example.com" in result.stderr
    assert claim_target(flow_repo, T1) == held


def test_release_works_on_packed_refs(flow_repo: Repo) -> None:
    flow_repo.ok("start", "fn-1.1")
    flow_repo.git("pack-refs", "--all")
    assert not (flow_repo.path / ".git" / CLAIM / T1).exists()
    flow_repo.ok("release", "fn-1.1")
    assert claim_target(flow_repo, T1) is None


# Leases ------------------------------------------------------------------------------------------


def test_heartbeat_extends_the_lease(short_lease: Repo) -> None:
    repo = short_lease
    repo.ok("config", "set", "claims.lease_seconds", "3600")
    first = repo.ok("start", "fn-1.1")["claim"]["lease_until"]
    deadline = time.monotonic() + 30
    renewed = first
    while renewed == first and time.monotonic() < deadline:  # until the clock's second moves
        time.sleep(0.2)
        renewed = repo.ok("heartbeat", "fn-1.1")["renewed"][0]["lease_until"]
    assert renewed > first
    assert claim_fields(repo, T1)["until"] == renewed
    everything = repo.ok("heartbeat")
    assert [row["id"] for row in everything["renewed"]] == [T1]


def test_heartbeat_of_someone_elses_claim_exits_3(flow_repo: Repo) -> None:
    flow_repo.ok("start", "fn-1.1")
    result = flow_repo.refused("heartbeat", "fn-1.1", code=3, env=as_actor("bob"))
    assert "alice@example.com" in result.stderr
    assert flow_repo.ok("heartbeat", env=as_actor("bob"))["count"] == 0


def test_an_expired_claim_is_reclaimed_and_the_old_holder_is_refused(short_lease: Repo) -> None:
    repo = short_lease
    other = worktree(repo, "bob-branch")
    repo.ok("start", "fn-1.1")
    old_claim = claim_target(repo, T1)
    wait_until_stale(repo, T1)
    refused = other.refused("start", "fn-1.1", code=3, env=as_actor("bob"))
    assert "reclaim" in refused.stderr
    data = other.ok("reclaim", "fn-1.1", env=as_actor("bob"))
    assert data["status"] == "in_progress" and data["claim"]["reclaimed_from"] == "alice@example.com"
    assert claim_fields(repo, T1)["holder"] == "bob"
    assert claim_target(repo, T1) != old_claim
    # The old holder's done changes nothing and exits 3; so does its heartbeat.
    head, text = repo.head(), repo.read(f".flow/tasks/{T1}.md")
    result = repo.refused("done", "fn-1.1", "--json", code=3)
    assert result.json["holder"] == "bob"
    assert repo.head() == head and repo.read(f".flow/tasks/{T1}.md") == text and repo.status() == ""
    repo.refused("heartbeat", "fn-1.1", code=3)
    assert claim_fields(repo, T1)["holder"] == "bob"
    other.ok("done", "fn-1.1", env=as_actor("bob"))


def test_a_live_claim_cannot_be_reclaimed(flow_repo: Repo) -> None:
    other = worktree(flow_repo, "bob-branch")
    flow_repo.ok("start", "fn-1.1")
    result = other.refused("reclaim", "fn-1.1", code=3, env=as_actor("bob"))
    assert "lease until" in result.stderr
    other.refused("reclaim", "fn-1.3", code=1, env=as_actor("bob"))  # nothing to reclaim


def test_reclaim_on_the_same_branch_reassigns_without_a_transition(short_lease: Repo) -> None:
    repo = short_lease
    repo.ok("start", "fn-1.1")
    wait_until_stale(repo, T1)
    data = repo.ok("reclaim", "fn-1.1", env=as_actor("bob"))
    assert data["reclaimed_from"] == "alice@example.com"
    assert "assignee: bob" in repo.read(f".flow/tasks/{T1}.md")
    assert "Flow-Transition" not in repo.message()
    repo.ok("done", "fn-1.1", env=as_actor("bob"))


def test_claims_lists_holders_and_stale_ones(short_lease: Repo) -> None:
    repo = short_lease
    repo.ok("start", "fn-1.1")
    repo.ok("config", "set", "claims.lease_seconds", "3600")
    repo.ok("done", "fn-1.1")
    repo.ok("start", "fn-1.2", env=as_actor("bob"))
    listed = {row["id"]: row for row in repo.ok("claims")["claims"]}
    assert listed[T1]["state"] == "done" and listed[T1]["landed"] is True
    assert listed[T2]["holder"] == "bob" and listed[T2]["stale"] is False
    assert listed[T2]["expires_in"] > 3000
    assert repo.ok("claims", "--stale")["claims"] == []
    text = repo.flow("claims").stdout
    assert "bob" in text and "finished" in text and "local only" in text


def test_next_claim_picks_resumes_and_skips_held_tasks(flow_repo: Repo) -> None:
    first = flow_repo.ok("next", "--claim")
    assert (first["task"], first["reason"], first["claimed"]) == (T1, "ready_task", True)
    assert first["commit"] == flow_repo.head() and first["claim"]["holder"] == "alice@example.com"
    assert "local only" in first["claim"]["note"]
    assert claim_fields(flow_repo, T1)["holder"] == "alice@example.com"
    again = flow_repo.ok("next", "--claim")
    assert (again["task"], again["reason"], again["claimed"]) == (T1, "resume_in_progress", True)
    flow_repo.git("checkout", "-q", "-b", "bob-branch", "HEAD~1")  # fn-1.1 is todo here
    bob = flow_repo.ok("next", "--claim", env=as_actor("bob"))
    assert bob["status"] == "none"  # fn-1.1 is held; 2 and 3 wait on it
    flow_repo.git("checkout", "-q", "main")
    flow_repo.ok("done", "fn-1.1")
    flow_repo.git("checkout", "-q", "-b", "carol-branch")
    carol = flow_repo.ok("next", "--claim", env=as_actor("carol"))
    flow_repo.git("checkout", "-q", "-b", "dave-branch", "main")
    dave = flow_repo.ok("next", "--claim", env=as_actor("dave"))
    assert {carol["task"], dave["task"]} == {T2, T3}
    human = flow_repo.flow("next", "--claim", env=as_actor("dave"))
    assert human.exit_code == 0 and human.stdout.startswith(f"resume {dave['task']}")
    flow_repo.refused("next", "--claim", "--rev", "HEAD", code=2)


def test_ready_and_next_hide_tasks_held_by_others(flow_repo: Repo) -> None:
    other = worktree(flow_repo, "alice-branch")
    flow_repo.ok("start", "fn-1.1", env=as_actor("bob"))
    report = other.ok("ready")
    assert [row["id"] for row in report["ready"]] == []
    assert report["blocked"][0]["blocked_by"] == ["claimed_by=bob"]
    assert other.ok("next")["status"] == "none"
    assert other.ok("next", env=as_actor("bob"))["task"] == T1  # bob's own claim
    flow_repo.ok("done", "fn-1.1", env=as_actor("bob"))
    finished = other.ok("ready")["blocked"][0]["blocked_by"]
    assert finished == ["claimed_by=bob (finished on main)"]


def test_claim_refs_are_shared_by_worktrees_and_never_on_a_branch(flow_repo: Repo, tmp_path: Path) -> None:
    other = worktree(flow_repo, "elsewhere")
    other.ok("start", "fn-1.1")
    assert claim_target(flow_repo, T1) == claim_target(other, T1)
    assert flow_repo.git("branch", "--contains", claim_target(flow_repo, T1) or "").strip() == ""


def test_no_commit_start_and_done_keep_the_claim_in_step(flow_repo: Repo) -> None:
    staged = flow_repo.ok("start", "fn-1.1", "--no-commit")
    assert staged["claim"]["holder"] == "alice@example.com"
    flow_repo.git("commit", "-q", "--no-verify", "-m", "start by hand")
    record = flow_repo.ok("done", "fn-1.1", "--no-commit")["claim"]
    assert record["state"] == "done" and record["commit"] is None
    assert "commit" not in claim_fields(flow_repo, T1)
    assert [row["landed"] for row in flow_repo.ok("claims")["claims"]] == [False]
    flow_repo.git("commit", "-q", "--no-verify", "-m", "done by hand")
    assert [row["landed"] for row in flow_repo.ok("claims")["claims"]] == [True]


def test_an_unreadable_claim_ref_still_holds_the_task(flow_repo: Repo) -> None:
    flow_repo.git("update-ref", CLAIM + T1, "HEAD")
    result = flow_repo.refused("start", "fn-1.1", code=3)
    assert "(unreadable claim)" in result.stderr


def test_next_claim_human_output(flow_repo: Repo) -> None:
    result = flow_repo.flow("next", "--claim")
    assert result.exit_code == 0, result
    assert result.stdout.startswith(f"✓ claimed and started {T1}")
    assert "claim is local only" in result.stdout


def test_a_record_of_a_done_that_was_reset_away_does_not_block(flow_repo: Repo) -> None:
    base = flow_repo.head()
    flow_repo.ok("start", "fn-1.1")
    started = flow_repo.head()
    flow_repo.ok("done", "fn-1.1")
    flow_repo.git("reset", "-q", "--hard", started)  # in progress again: done again is fine
    flow_repo.ok("done", "fn-1.1")
    flow_repo.git("reset", "-q", "--hard", base)  # todo again: so is start
    flow_repo.ok("start", "fn-1.1")
    assert claim_fields(flow_repo, T1)["state"] == "held"
    other = worktree(flow_repo, "bob-branch")  # someone else is still refused
    other.git("reset", "-q", "--hard", base)
    other.refused("start", "fn-1.1", code=3, env=as_actor("bob"))


def test_force_replaces_ones_own_record_but_not_someone_elses(flow_repo: Repo) -> None:
    other = worktree(flow_repo, "bob-branch")
    flow_repo.ok("start", "fn-1.1")
    flow_repo.ok("done", "fn-1.1")
    flow_repo.ok("start", "fn-1.1", "--force")  # a repair on the same branch
    assert claim_fields(flow_repo, T1)["state"] == "held"
    other.refused("start", "fn-1.1", "--force", code=3, env=as_actor("bob"))


def test_a_reverted_start_does_not_block_starting_again(flow_repo: Repo) -> None:
    flow_repo.ok("start", "fn-1.1")
    flow_repo.git("revert", "--no-edit", "HEAD")
    flow_repo.ok("start", "fn-1.1")
    other = worktree(flow_repo, "bob-branch")
    other.git("reset", "-q", "--hard", "HEAD~1")
    other.refused("start", "fn-1.1", code=3, env=as_actor("bob"))


def test_a_repository_on_trunk_with_no_remote_lands_on_trunk(flow_repo: Repo) -> None:
    """No origin, neither main nor master: the main worktree's branch is the default branch (a
    clone would take it as origin/HEAD), so finished work shows as landed (issue #12)."""
    flow_repo.git("branch", "-m", "main", "trunk")
    feature = worktree(flow_repo, "feature")
    feature.ok("start", "fn-1.1")
    feature.ok("done", "fn-1.1")
    listed = flow_repo.ok("claims")
    assert listed["default_branch"] == "refs/heads/trunk"
    assert [row["landed"] for row in listed["claims"]] == [False]
    flow_repo.git("merge", "-q", "--no-edit", "feature")
    assert [row["id"] for row in flow_repo.ok("claims", "--prune")["pruned"]] == [T1]
    doctor = {check["name"]: check for check in flow_repo.ok("doctor")["checks"]}
    assert doctor["default branch"]["status"] == "pass"
    assert doctor["default branch"]["message"] == "work lands on refs/heads/trunk (found)"


def test_no_default_branch_at_all_is_said_by_prune_and_doctor(flow_repo: Repo) -> None:
    flow_repo.git("branch", "-m", "main", "trunk")
    flow_repo.git("checkout", "-q", "--detach")  # the main worktree is on no branch
    data = flow_repo.ok("claims", "--prune")
    assert data["default_branch"] is None and data["pruned"] == []
    assert "there is no default branch" in data["prune_note"]
    assert "there is no default branch" in flow_repo.flow("claims", "--prune").stdout
    doctor = {check["name"]: check for check in flow_repo.ok("doctor")["checks"]}
    assert doctor["default branch"]["status"] == "warn"
    assert doctor["default branch"]["fix"] == "git flow-task config set default_branch NAME"
    flow_repo.git("checkout", "-q", "trunk")
    flow_repo.ok("config", "set", "default_branch", "trunk")
    doctor = {check["name"]: check for check in flow_repo.ok("doctor")["checks"]}
    assert doctor["default branch"]["message"] == "work lands on refs/heads/trunk (configured)"
