"""Epic numbers reserved with create-only refs, here and on the claims remote (DESIGN §1):
clones that cannot see each other's branches still get different numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FLOW_EXE, Repo, make_repo

RESERVED = "refs/flow/epic-numbers/"


def refs(repo: Repo, prefix: str = "refs/flow/") -> dict[str, str]:
    listed = repo.git("for-each-ref", "--format=%(refname) %(objectname)", prefix)
    return dict(line.split() for line in listed.splitlines())


def remote_refs(remote: Path) -> list[str]:
    return sorted(refs(Repo(remote), RESERVED))


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Repo, Repo]:
    """A bare remote whose main has an initialized plan with claims.remote: origin (no epic),
    and two clones of it."""
    remote = tmp_path / "remote.git"
    Repo(tmp_path).git("init", "-q", "--bare", "-b", "main", str(remote))
    seed = make_repo(tmp_path / "seed")
    seed.ok("init")
    seed.ok("config", "set", "claims.remote", "origin")
    seed.git("remote", "add", "origin", str(remote))
    seed.git("push", "-q", "origin", "main")
    for name in ("alice", "bob"):
        Repo(tmp_path).git("clone", "-q", str(remote), str(tmp_path / name))
    return remote, Repo(tmp_path / "alice"), Repo(tmp_path / "bob")


def test_clones_that_cannot_see_each_other_get_different_numbers(
        clones: tuple[Path, Repo, Repo]) -> None:
    remote, alice, bob = clones
    made = alice.ok("epic", "create", "--title", "Add OAuth login")
    assert made["id"] == "fn-1-add-oauth-login"
    assert made["reservation"] == {"ref": f"{RESERVED}fn-1", "scope": "remote", "remote": "origin"}
    assert remote_refs(remote) == [f"{RESERVED}fn-1"]
    # bob has not fetched alice's branch (she has not even pushed it): only the reservation tells
    assert bob.ok("epic", "create", "--title", "Billing")["id"] == "fn-2-billing"
    assert remote_refs(remote) == [f"{RESERVED}fn-1", f"{RESERVED}fn-2"]
    message = Repo(remote).git("log", "-1", "--format=%B", f"{RESERVED}fn-2")
    assert message.startswith("flow: epic number fn-2 for fn-2-billing\n")
    assert "Reserved-By: alice@example.com" in message  # the hermetic identity
    assert bob.git("rev-parse", f"{RESERVED}fn-2") == Repo(remote).git("rev-parse", f"{RESERVED}fn-2")


def test_a_number_reserved_first_by_a_racer_is_skipped(clones: tuple[Path, Repo, Repo]) -> None:
    """bob cannot fetch (a dead URL) but can push (pushurl): his mirror does not know that fn-1
    is taken, so his create-only push of fn-1 loses and he moves on to fn-2."""
    remote, alice, bob = clones
    alice.ok("epic", "create", "--title", "Add OAuth login")
    bob.git("config", "remote.origin.pushurl", str(remote))
    bob.git("config", "remote.origin.url", str(remote.parent / "gone.git"))
    made = bob.ok("epic", "create", "--title", "Billing")
    assert made["id"] == "fn-2-billing"
    assert made["reservation"]["scope"] == "remote"
    assert remote_refs(remote) == [f"{RESERVED}fn-1", f"{RESERVED}fn-2"]
    assert f"{RESERVED}fn-1" not in refs(bob)  # the lost number's local ref was taken back


def test_another_worktree_reserving_a_number_moves_this_one_on(repo: Repo) -> None:
    repo.ok("init")  # claims.remote is unset: reservations are local, shared by worktrees
    repo.git("worktree", "add", "-q", "-b", "other", str(repo.path.parent / "other"))
    first = Repo(repo.path.parent / "other").ok("epic", "create", "--title", "Elsewhere")
    assert first["id"] == "fn-1-elsewhere"
    assert first["reservation"] == {"ref": f"{RESERVED}fn-1", "scope": "local"}
    # a third process holds fn-2 at this moment (its epic not yet committed anywhere)
    repo.git("update-ref", f"{RESERVED}fn-2", repo.head())
    assert repo.ok("epic", "create", "--title", "Here")["id"] == "fn-3-here"


def test_a_create_that_fails_gives_its_number_back(clones: tuple[Path, Repo, Repo]) -> None:
    remote, alice, _bob = clones
    refused = alice.refused("epic", "create", "--title", "Broken", "--deps", "fn-9", "--json")
    assert refused.json["error"] == "no epic 'fn-9'"
    assert remote_refs(remote) == [] and refs(alice, RESERVED) == {}
    assert alice.ok("epic", "create", "--title", "Fine")["id"] == "fn-1-fine"


def test_an_unreachable_remote_reserves_locally_and_says_so(clones: tuple[Path, Repo, Repo]) -> None:
    remote, alice, _bob = clones
    alice.git("remote", "set-url", "origin", str(remote.parent / "gone.git"))
    made = alice.ok("epic", "create", "--title", "Offline")
    assert made["reservation"]["scope"] == "local"
    assert made["reservation"]["note"].startswith("remote 'origin' unreachable (")
    assert list(refs(alice, RESERVED)) == [f"{RESERVED}fn-1"]
    human = alice.flow("epic", "create", "--title", "Offline too")
    assert human.exit_code == 0
    assert "epic number reserved: refs/flow/epic-numbers/fn-2; local only: remote 'origin'" \
        in " ".join(human.stdout.split())


def test_dry_run_reserves_nothing_and_renumber_avoids_reserved_numbers(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("update-ref", f"{RESERVED}fn-4", repo.head())  # taken by someone's create in flight
    dry = repo.ok("epic", "create", "--title", "Maybe", "--dry-run")
    assert dry["id"] == "fn-5-maybe" and "reservation" not in dry
    assert list(refs(repo, RESERVED)) == [f"{RESERVED}fn-1", f"{RESERVED}fn-4"]
    assert repo.ok("epic", "create", "--title", "Auth")["id"] == "fn-5-auth"
    repo.git("update-ref", f"{RESERVED}fn-6", repo.head())
    moved = repo.ok("renumber", "fn-5")  # to the next number free everywhere, reserved or not
    assert moved["renamed"] == {"fn-5-auth": "fn-7-auth"}


@pytest.mark.slow
def test_epics_created_at_once_in_three_clones_and_their_worktrees_get_distinct_numbers(
        clones: tuple[Path, Repo, Repo], tmp_path: Path) -> None:
    """Six processes (two clones of the remote, a third clone, a worktree of each) create an epic
    at the same moment, none seeing another's branch: six different numbers, all on the remote."""
    remote, alice, bob = clones
    Repo(tmp_path).git("clone", "-q", str(remote), str(tmp_path / "carol"))
    places = [alice.path, bob.path, tmp_path / "carol"]
    for n, place in enumerate(list(places)):
        worktree = tmp_path / f"wt{n}"
        Repo(place).git("worktree", "add", "-q", "-b", f"side{n}", str(worktree))
        places.append(worktree)
    start = tmp_path / "go"
    script = ("import os, subprocess, sys, time\n"
              "while not os.path.exists(sys.argv[1]): time.sleep(0.001)\n"
              "sys.exit(subprocess.run(sys.argv[2:]).returncode)\n")
    racers = [subprocess.Popen([sys.executable, "-c", script, str(start), FLOW_EXE, "epic", "create",
                                "--title", f"Epic {n}", "--json"],
                               cwd=place, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=os.environ.copy())
              for n, place in enumerate(places)]
    start.touch()
    results = [racer.communicate(timeout=300) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), results
    numbers = sorted(int(line.split('"fn-')[1].split("-")[0]) for out, _ in results
                     for line in out.splitlines() if line.strip().startswith('"id"'))
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert remote_refs(remote) == [f"{RESERVED}fn-{n}" for n in range(1, 7)]



def _collision(clones: tuple[Path, Repo, Repo]) -> Repo:
    """alice's main after merging bob's: both made an fn-1, bob while the remote was away."""
    remote, alice, bob = clones
    alice.ok("epic", "create", "--title", "Auth")
    bob.git("remote", "set-url", "origin", str(remote.parent / "gone.git"))
    assert bob.ok("epic", "create", "--title", "Billing")["reservation"]["scope"] == "local"
    bob.git("remote", "set-url", "origin", str(remote))
    bob.git("push", "-q", "origin", "main:bob")
    alice.git("fetch", "-q", "origin")
    alice.git("merge", "-q", "--no-edit", "origin/bob")
    return alice


def test_renumber_reserves_the_numbers_it_moves_epics_to(clones: tuple[Path, Repo, Repo]) -> None:
    remote, _alice, _bob = clones
    alice = _collision(clones)
    moved = alice.ok("renumber")
    assert moved["renamed"] == {"fn-1-billing": "fn-2-billing"}
    assert moved["reservations"] == [{"ref": f"{RESERVED}fn-2", "scope": "remote", "remote": "origin"}]
    assert remote_refs(remote) == [f"{RESERVED}fn-1", f"{RESERVED}fn-2"]
    message = Repo(remote).git("log", "-1", "--format=%B", f"{RESERVED}fn-2")
    assert message.startswith("flow: epic number fn-2 for fn-2-billing\n")


def test_renumber_to_a_number_another_clone_just_reserved_exits_3(
        clones: tuple[Path, Repo, Repo], tmp_path: Path) -> None:
    remote, _alice, _bob = clones
    alice = _collision(clones)
    Repo(tmp_path).git("clone", "-q", str(remote), str(tmp_path / "carol"))
    carol = Repo(tmp_path / "carol")
    carol.git("push", "-q", "origin", f"{carol.head()}:{RESERVED}fn-5")  # alice has not fetched it
    head = alice.head()
    lost = alice.refused("renumber", "fn-1-billing", "--to", "5", "--json", code=3)
    assert lost.json["error"] == "epic number 5 is reserved by another create or renumber"
    assert alice.head() == head and f"{RESERVED}fn-5" not in refs(alice, RESERVED)
    assert alice.ok("renumber", "fn-1-billing", "--to", "6")["renamed"]["fn-1-billing"] == "fn-6-billing"


def test_a_renumber_the_writer_refuses_gives_its_numbers_back(clones: tuple[Path, Repo, Repo]) -> None:
    remote, _alice, _bob = clones
    alice = _collision(clones)
    before = remote_refs(remote)
    (alice.path / ".git" / "MERGE_HEAD").write_text(alice.head() + "\n")  # a merge in progress
    refused = alice.refused("renumber", "--json")
    assert "merge" in refused.json["error"]
    assert remote_refs(remote) == before and f"{RESERVED}fn-2" not in refs(alice, RESERVED)
