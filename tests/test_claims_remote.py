"""Claims across clones through a bare remote on local disk (issue #7): create-only pushes,
leased updates, the loser named, unreachable remotes, the fetch refspec."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import Repo, make_repo

T1, T2 = "fn-1-add-oauth-login.1", "fn-1-add-oauth-login.2"
REF = "refs/flow/claims/"


def remote_claim(remote: Path, task: str) -> str | None:
    out = Repo(remote).git("for-each-ref", "--format=%(objectname)", REF + task).strip()
    return out or None


def remote_fields(remote: Path, task: str) -> dict[str, str]:
    message = Repo(remote).git("log", "-1", "--format=%B", REF + task)
    line = next(row for row in message.splitlines() if row.startswith("Flow-Claim:"))
    return dict(pair.split("=", 1) for pair in line.split()[2:])


def clone(remote: Path, path: Path) -> Repo:
    Repo(path.parent).git("clone", "-q", str(remote), str(path))
    return Repo(path)


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Repo, Repo]:
    """A bare remote whose main has the plan with claims.remote: origin, and two clones."""
    remote = tmp_path / "remote.git"
    Repo(tmp_path).git("init", "-q", "--bare", "-b", "main", str(remote))
    seed = make_repo(tmp_path / "seed")
    seed.ok("init")
    seed.ok("config", "set", "claims.remote", "origin")
    seed.ok("epic", "create", "--title", "Add OAuth login")
    seed.ok("task", "create", "--epic", "fn-1", "--title", "Design token schema")
    seed.ok("task", "create", "--epic", "fn-1", "--title", "Implement JWT middleware")
    seed.git("remote", "add", "origin", str(remote))
    seed.git("push", "-q", "origin", "main")
    return remote, clone(remote, tmp_path / "alice"), clone(remote, tmp_path / "bob")


BOB = {"FLOW_ACTOR": "bob"}


def test_the_claim_is_pushed_and_the_loser_is_named(clones: tuple[Path, Repo, Repo]) -> None:
    remote, alice, bob = clones
    data = alice.ok("start", "fn-1.1")
    assert data["claim"]["scope"] == "remote" and data["claim"]["remote"] == "origin"
    assert data["claim"]["note"] is None
    assert remote_claim(remote, T1) == alice.git("rev-parse", REF + T1).strip()
    before = bob.head()
    lost = bob.refused("start", "fn-1.1", "--json", code=3, env=BOB)
    assert lost.json["holder"] == "alice@example.com"
    assert "on origin" in lost.json["error"]
    assert bob.head() == before
    assert bob.git("for-each-ref", REF).strip() == ""  # the local claim was rolled back
    assert remote_fields(remote, T1)["holder"] == "alice@example.com"


def test_done_and_release_update_the_remote(clones: tuple[Path, Repo, Repo]) -> None:
    remote, alice, bob = clones
    alice.ok("start", "fn-1.1")
    done = alice.ok("done", "fn-1.1")
    assert done["claim"]["scope"] == "remote"
    fields = remote_fields(remote, T1)
    assert fields["state"] == "done" and fields["commit"] == alice.head()
    lost = bob.refused("start", "fn-1.1", "--json", code=3, env=BOB)
    assert "finished by alice@example.com" in lost.json["error"]
    alice.ok("start", "fn-1.2")
    assert remote_claim(remote, T2) is not None
    released = alice.ok("release", "fn-1.2")
    assert released["claim"]["released"] is True
    assert remote_claim(remote, T2) is None
    bob.ok("start", "fn-1.2", env=BOB)
    assert remote_fields(remote, T2)["holder"] == "bob"


def test_claims_lists_the_remotes_claims(clones: tuple[Path, Repo, Repo]) -> None:
    _, alice, bob = clones
    alice.ok("start", "fn-1.1")
    listed = bob.ok("claims", env=BOB)
    assert listed["remote"] == "origin" and listed["local_only"] is False
    assert [(row["id"], row["holder"], row["where"]) for row in listed["claims"]] == \
        [(T1, "alice@example.com", "origin")]


def test_an_unreachable_remote_leaves_the_claim_local(clones: tuple[Path, Repo, Repo],
                                                      tmp_path: Path) -> None:
    _, alice, _ = clones
    alice.git("remote", "set-url", "origin", str(tmp_path / "gone.git"))
    data = alice.ok("start", "fn-1.1")
    assert data["claim"]["scope"] == "local"
    assert "claim is local only" in data["claim"]["note"] and "unreachable" in data["claim"]["note"]
    assert alice.git("for-each-ref", "--format=%(refname)", REF).split() == [REF + T1]
    human = alice.flow("start", "fn-1.2")
    assert human.exit_code == 0 and "claim is local only" in human.stdout


def test_a_missing_remote_says_so(clones: tuple[Path, Repo, Repo]) -> None:
    _, alice, _ = clones
    data = alice.ok("start", "fn-1.1", "--remote", "upstream")
    assert "no git remote named 'upstream'" in data["claim"]["note"]


def test_init_remote_adds_the_fetch_refspec(clones: tuple[Path, Repo, Repo]) -> None:
    _, alice, bob = clones
    alice.ok("start", "fn-1.1")
    result = bob.ok("init", "--remote", "origin")
    assert result["claims_refspec"] == "+refs/flow/claims/*:refs/flow/remote-claims/origin/*"
    assert bob.ok("init", "--remote", "origin")["claims_refspec_added"] is False
    fetch = bob.git("config", "--get-all", "remote.origin.fetch").splitlines()
    assert fetch.count("+refs/flow/claims/*:refs/flow/remote-claims/origin/*") == 1
    bob.git("fetch", "-q", "origin")
    mirrored = bob.git("for-each-ref", "--format=%(refname)", "refs/flow/").split()
    assert mirrored == ["refs/flow/remote-claims/origin/" + T1]


def test_config_set_claims_remote_adds_the_refspec(repo: Repo, tmp_path: Path) -> None:
    remote = tmp_path / "r.git"
    repo.git("init", "-q", "--bare", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    repo.ok("init")
    data = repo.ok("config", "set", "claims.remote", "origin")
    assert data["claims_refspec_added"] is True
    assert "+refs/flow/claims/*:refs/flow/remote-claims/origin/*" in \
        repo.git("config", "--get-all", "remote.origin.fetch")


def test_a_lease_expires_across_clones(clones: tuple[Path, Repo, Repo]) -> None:
    remote, alice, bob = clones
    alice.ok("start", "fn-1.1", env={"FLOW_ACTOR": "alice"})
    # Lease of 1 second for this claim: renew it with a short lease through config.
    alice.ok("config", "set", "claims.lease_seconds", "1", env={"FLOW_ACTOR": "alice"})
    alice.ok("heartbeat", "fn-1.1", env={"FLOW_ACTOR": "alice"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = bob.ok("claims", "--stale", env=BOB)["claims"]
        if rows:
            break
        time.sleep(0.2)
    assert [row["id"] for row in rows] == [T1]
    taken = bob.ok("reclaim", "fn-1.1", env=BOB)
    assert taken["claim"]["reclaimed_from"] == "alice" and taken["claim"]["scope"] == "remote"
    assert remote_fields(remote, T1)["holder"] == "bob"
    head = alice.head()
    result = alice.refused("done", "fn-1.1", "--json", code=3, env={"FLOW_ACTOR": "alice"})
    assert result.json["holder"] == "bob"
    assert alice.head() == head and alice.status() == ""
    alice.refused("heartbeat", "fn-1.1", code=3, env={"FLOW_ACTOR": "alice"})
    assert remote_fields(remote, T1)["holder"] == "bob"


def test_prune_deletes_landed_records_on_the_remote(clones: tuple[Path, Repo, Repo]) -> None:
    remote, alice, bob = clones
    alice.ok("start", "fn-1.1")
    alice.ok("done", "fn-1.1")
    assert remote_claim(remote, T1) is not None
    assert bob.ok("claims", "--prune", env=BOB)["pruned"] == []  # not on origin/main yet
    alice.git("push", "-q", "origin", "main")
    bob.git("fetch", "-q", "origin")
    pruned = bob.ok("claims", "--prune", env=BOB)
    assert [row["id"] for row in pruned["pruned"]] == [T1]
    assert remote_claim(remote, T1) is None


def test_heartbeat_of_all_claims_reports_the_lost_ones(clones: tuple[Path, Repo, Repo]) -> None:
    remote, alice, bob = clones
    alice.ok("config", "set", "claims.lease_seconds", "1")
    alice.ok("start", "fn-1.1")
    alice.ok("start", "fn-1.2")
    deadline = time.monotonic() + 60
    while len(bob.ok("claims", "--stale", env=BOB)["claims"]) < 2:
        assert time.monotonic() < deadline, "the leases never ran out"
        time.sleep(0.2)
    bob.ok("reclaim", "fn-1.2", env=BOB)
    result = alice.refused("heartbeat", "--json", code=3)
    assert [row["id"] for row in result.json["lost"]] == [T2]
    assert result.json["lost"][0]["holder"] == "bob"
    assert [row["id"] for row in result.json["renewed"]] == [T1]
    assert remote_fields(remote, T2)["holder"] == "bob"


def test_next_claim_does_not_resume_a_task_reclaimed_on_another_machine(
        clones: tuple[Path, Repo, Repo]) -> None:
    from git_flowctl.changes.ops import Context
    from git_flowctl.coordination.claims import Claims, claim_next
    from git_flowctl.repo.workspace import Workspace

    _, alice, bob = clones
    alice.ok("config", "set", "claims.lease_seconds", "1")
    alice.ok("start", "fn-1.1")
    deadline = time.monotonic() + 60
    while not bob.ok("claims", "--stale", env=BOB)["claims"]:
        assert time.monotonic() < deadline, "the lease never ran out"
        time.sleep(0.2)
    bob.ok("reclaim", "fn-1.1", env=BOB)
    ws = Workspace(alice.path)
    answer = claim_next(Claims.open(ws), Context(actor="alice@example.com", now="2026-01-05T10:00:00Z"))
    assert (answer["task"], answer["reason"], answer["claimed"]) == (T2, "ready_task", True)
