"""Issue #15, checkpoints: refs under refs/flow/checkpoints/<epic>/<name>, a restore in one
commit that recover and check agree with, and the claims remote carrying them to other clones."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import Repo

EPIC = "fn-1-add-oauth-login"
TASKS = [f".flow/tasks/{EPIC}.{n}.md" for n in (1, 2, 3)]


def files(repo: Repo, rev: str | None = None) -> dict[str, str]:
    paths = [f".flow/epics/{EPIC}.md", *TASKS]
    if rev is None:
        return {path: repo.read(path) for path in paths}
    return {path: repo.git("show", f"{rev}:{path}") for path in paths}


def test_save_three_transitions_restore_in_one_commit_and_recover_agrees(flow_repo: Repo) -> None:
    repo = flow_repo
    saved = repo.ok("checkpoint", "save", "fn-1", "--name", "before-auth")
    assert saved["ref"] == f"refs/flow/checkpoints/{EPIC}/before-auth"
    assert saved["commit"] == repo.head() and saved["pushed"] is None
    assert repo.git("rev-parse", saved["ref"]).strip() == repo.head()
    before, checkpoint = files(repo), repo.head()

    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1", "--summary", "schema done")
    repo.ok("start", "fn-1.2")
    assert files(repo) != before
    head = repo.head()

    diffed = repo.ok("checkpoint", "diff", "fn-1", "before-auth")
    assert [(c["id"], c["status"]) for c in diffed["changes"]] == [
        (f"{EPIC}.1", {"from": "todo", "to": "done"}),
        (f"{EPIC}.2", {"from": "todo", "to": "in_progress"})]
    assert "+status: done" in diffed["diff"]

    restored = repo.ok("checkpoint", "restore", "fn-1", "before-auth")
    assert restored["status_changes"] == [
        {"id": f"{EPIC}.1", "from": "done", "to": "todo"},
        {"id": f"{EPIC}.2", "from": "in_progress", "to": "todo"}]
    assert repo.git("rev-parse", "HEAD~1").strip() == head  # one commit
    assert files(repo) == before and files(repo, "HEAD") == files(repo, checkpoint)
    assert repo.status() == ""
    message = repo.message()
    assert f"Flow-Transition: {EPIC}.1 done->todo action=restore by=alice@example.com" in message
    assert f"Flow-Transition: {EPIC}.2 in_progress->todo action=restore" in message

    recover = repo.ok("recover")
    assert recover["clean"] is True and recover["divergences"] == []
    assert [e["to"] for e in repo.ok("log", "fn-1.1")["events"]] == ["todo", "in_progress", "done",
                                                                      "todo"]
    assert repo.flow("check", "--base", checkpoint).exit_code == 0
    # the claims went back with the states: the tasks can be started again
    assert repo.git("for-each-ref", "refs/flow/claims/").strip() == ""
    repo.ok("start", "fn-1.1")
    assert repo.ok("checkpoint", "restore", "fn-1", "before-auth")["status_changes"] == [
        {"id": f"{EPIC}.1", "from": "in_progress", "to": "todo"}]


def test_a_restore_the_state_machine_refuses_needs_force(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("block", "fn-1.1", "--reason", "waiting on the design")
    repo.ok("checkpoint", "save", "fn-1", "--name", "blocked")
    base = repo.head()
    repo.ok("unblock", "fn-1.1")
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    head = repo.head()
    refused = repo.flow("checkpoint", "restore", "fn-1", "blocked", "--json")
    assert refused.exit_code == 1
    assert refused.json["error"] == (f"cannot restore {EPIC} to blocked: the state machine has no "
                                     f"{EPIC}.1 done -> blocked")
    assert refused.json["refused"] == [f"{EPIC}.1 done -> blocked"]
    assert repo.head() == head and repo.status() == ""
    forced = repo.ok("checkpoint", "restore", "fn-1", "blocked", "--force")
    assert forced["status_changes"] == [{"id": f"{EPIC}.1", "from": "done", "to": "blocked"}]
    assert "action=restore" in repo.message() and "force=1" in repo.message()
    check = repo.flow("check", "--base", base, "--json")
    assert check.exit_code == 0
    assert [f["rule"] for f in check.json["findings"]] == ["transition-forced"]
    assert repo.ok("recover")["clean"] is True


def test_gaps_are_part_of_the_epics_state(flow_repo: Repo) -> None:
    repo = flow_repo
    gap = repo.ok("gap", "add", "--epic", "fn-1", "Tokens expire")["id"]
    repo.ok("checkpoint", "save", "fn-1", "--name", "one-gap")
    repo.ok("gap", "resolve", gap, "--evidence", "done")
    later = repo.ok("gap", "add", "--epic", "fn-1", "Audit log")
    restored = repo.ok("checkpoint", "restore", "fn-1", "one-gap")
    assert restored["restored"] == [f".flow/gaps/{EPIC}/{gap}.md"]
    assert restored["kept"] == [later["gap"]["path"]]
    assert {g["id"]: g["status"] for g in repo.ok("gap", "list")["gaps"]} == {
        gap: "open", later["id"]: "open"}


def test_list_names_and_delete(flow_repo: Repo) -> None:
    repo = flow_repo
    first = repo.ok("checkpoint", "save", "fn-1")
    assert first["name"].endswith("Z") and len(first["name"]) == len("20260105T100000Z")
    repo.ok("checkpoint", "save", "fn-1", "--name", "second")
    refused = repo.flow("checkpoint", "save", "fn-1", "--name", "second")
    assert refused.exit_code == 1 and "exists" in refused.stderr and "--force" in refused.stderr
    repo.ok("start", "fn-1.1")
    moved = repo.ok("checkpoint", "save", "fn-1", "--name", "second", "--force")
    assert moved["commit"] == repo.head()
    listed = repo.ok("checkpoint", "list", "--epic", "fn-1")
    assert sorted(c["name"] for c in listed["checkpoints"]) == sorted([first["name"], "second"])
    assert repo.ok("checkpoint", "delete", "fn-1", "second")["deleted"] is True
    assert [c["name"] for c in repo.ok("checkpoint", "list")["checkpoints"]] == [first["name"]]
    missing = repo.flow("checkpoint", "diff", "fn-1", "second")
    assert missing.exit_code == 1 and "no checkpoint second" in missing.stderr
    bad = repo.flow("checkpoint", "save", "fn-1", "--name", "a..b")
    assert bad.exit_code == 2 and "not a checkpoint name" in bad.stderr
    human = repo.flow("checkpoint", "diff", "fn-1", first["name"])
    assert f"modified .flow/tasks/{EPIC}.1.md (todo -> in_progress)" in human.stdout


def test_checkpoints_travel_through_the_claims_remote(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo.git("remote", "add", "origin", str(bare))
    repo.ok("config", "set", "claims.remote", "origin")
    repo.git("push", "-q", "origin", "main")
    saved = repo.ok("checkpoint", "save", "fn-1", "--name", "shared")
    assert saved["pushed"] == "origin"
    remote_refs = subprocess.run(["git", "ls-remote", str(bare), "refs/flow/checkpoints/*"],
                                 capture_output=True, text=True, check=True).stdout
    assert f"{saved['commit']}\trefs/flow/checkpoints/{EPIC}/shared" in remote_refs

    clone = Repo(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", str(bare), str(clone.path)], check=True)
    clone.ok("start", "fn-1.1")
    restored = clone.ok("checkpoint", "restore", "fn-1", "shared")
    assert restored["status_changes"] == [{"id": f"{EPIC}.1", "from": "in_progress", "to": "todo"}]

    repo.ok("checkpoint", "delete", "fn-1", "shared")
    remote_refs = subprocess.run(["git", "ls-remote", str(bare), "refs/flow/checkpoints/*"],
                                 capture_output=True, text=True, check=True).stdout
    assert remote_refs == ""
