"""Issue #13: a good git citizen everywhere. Each situation is real git, set up as a user would:
signing settings that only `git config` sees, split and sparse indexes, sparse checkouts,
partial and shallow clones, husky and core.hooksPath (tests/test_citizen_hooks.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Repo

TASK1 = ".flow/tasks/fn-1-add-oauth-login.1.md"
ID1 = "fn-1-add-oauth-login.1"


def git_flow(repo: Repo, *args: str, env: dict[str, str] | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`git [-c ...] flow-task ...` as a user types it: git runs the console script from PATH,
    passing `-c` settings down in GIT_CONFIG_PARAMETERS."""
    return subprocess.run(["git", *args], cwd=cwd or repo.path, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def failing_gpg(tmp_path: Path) -> Path:
    program = tmp_path / "failing-gpg"
    program.write_text("#!/bin/sh\necho 'gpg: no secret key' >&2\nexit 2\n")
    program.chmod(0o755)
    return program


# Signing: commit.gpgsign and gpg.* as git sees them (finding 4) ------------------------------


def _refused_unsigned(repo: Repo, result: subprocess.CompletedProcess[str], head: str) -> None:
    assert result.returncode == 1, result
    assert "signing failed" in result.stderr and "Traceback" not in result.stderr
    assert repo.head() == head and repo.status() == ""
    assert "status: todo" in repo.read(TASK1)


def test_signing_asked_by_git_dash_c_is_honoured(flow_repo: Repo, tmp_path: Path) -> None:
    repo, head = flow_repo, flow_repo.head()
    result = git_flow(repo, "-c", "commit.gpgsign=true", "-c", f"gpg.program={failing_gpg(tmp_path)}",
                      "flow-task", "start", "fn-1.1")
    _refused_unsigned(repo, result, head)


def test_signing_asked_by_git_config_count_environment_is_honoured(flow_repo: Repo,
                                                                   tmp_path: Path) -> None:
    repo, head = flow_repo, flow_repo.head()
    env = {"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "commit.gpgsign", "GIT_CONFIG_VALUE_0": "true",
           "GIT_CONFIG_KEY_1": "gpg.program", "GIT_CONFIG_VALUE_1": str(failing_gpg(tmp_path))}
    _refused_unsigned(repo, repo.proc("start", "fn-1.1", env=env), head)
    # the same environment in-process: the decision is git's, not libgit2's
    result = repo.flow("start", "fn-1.1", env=env)
    assert result.exit_code == 1 and "signing failed" in result.stderr, result
    assert repo.head() == head


def test_signing_asked_by_git_config_global_is_honoured(flow_repo: Repo, tmp_path: Path) -> None:
    repo, head = flow_repo, flow_repo.head()
    other_global = tmp_path / "other-gitconfig"
    other_global.write_text(Path(os.environ["GIT_CONFIG_GLOBAL"]).read_text()
                            + f"[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = {failing_gpg(tmp_path)}\n")
    _refused_unsigned(repo, repo.proc("start", "fn-1.1", env={"GIT_CONFIG_GLOBAL": str(other_global)}),
                      head)


def test_git_dash_c_turns_off_signing_set_in_the_repository(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    repo.git("config", "commit.gpgsign", "true")
    repo.git("config", "gpg.program", str(failing_gpg(tmp_path)))
    refused = repo.refused("start", "fn-1.1")
    assert "git -c commit.gpgsign=false flow-task" in refused.stderr  # the hint names the way out

    result = git_flow(repo, "-c", "commit.gpgsign=false", "flow-task", "start", "fn-1.1")

    assert result.returncode == 0, result.stderr
    assert "gpgsig" not in repo.git("cat-file", "commit", "HEAD")
    assert "status: in_progress" in repo.read(TASK1) and repo.status() == ""


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
def test_real_ssh_signing_from_git_dash_c(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    key = tmp_path / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"alice@example.com {(tmp_path / 'signing_key.pub').read_text()}")
    settings = ["-c", "commit.gpgsign=true", "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"]

    result = git_flow(repo, *settings, "flow-task", "start", "fn-1.1")

    assert result.returncode == 0, result.stderr
    verify = git_flow(repo, "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", "HEAD")
    assert verify.returncode == 0, verify.stderr
    assert 'Good "git" signature for alice@example.com' in verify.stderr
    # and through GIT_CONFIG_COUNT, for the next transition
    env = {"GIT_CONFIG_COUNT": "3", "GIT_CONFIG_KEY_0": "commit.gpgsign", "GIT_CONFIG_VALUE_0": "true",
           "GIT_CONFIG_KEY_1": "gpg.format", "GIT_CONFIG_VALUE_1": "ssh",
           "GIT_CONFIG_KEY_2": "user.signingkey", "GIT_CONFIG_VALUE_2": str(key)}
    assert repo.proc("done", "fn-1.1", env=env).returncode == 0
    verify = git_flow(repo, "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", "HEAD")
    assert verify.returncode == 0, verify.stderr


# Split index and sparse index: indexes libgit2 cannot read (finding 2) -----------------------


def _split_index(repo: Repo) -> None:
    repo.git("config", "core.splitIndex", "true")
    repo.git("update-index", "--split-index")
    assert list((repo.path / ".git").glob("sharedindex.*")), "git wrote no shared index"


def _sparse_index(repo: Repo) -> None:
    repo.write("src/app.py", "print('app')\n")
    repo.commit_all("app")
    repo.git("sparse-checkout", "set", "--cone", "--sparse-index", ".flow")
    assert not (repo.path / "src").exists()
    assert repo.git("config", "index.sparse").strip() == "true"


INDEX_FORMATS = {"split index": _split_index, "sparse index": _sparse_index}


@pytest.mark.parametrize("index_format", sorted(INDEX_FORMATS))
def test_transitions_work_with_an_index_libgit2_cannot_read(flow_repo: Repo, index_format: str) -> None:
    repo = flow_repo
    INDEX_FORMATS[index_format](repo)
    repo.write("notes.txt", "mine\n")
    repo.git("add", "notes.txt")  # the user's staged work stays staged and out of our commits

    started = repo.ok("start", "fn-1.1")

    assert repo.git("rev-parse", "HEAD").strip() == started["commit"]
    assert repo.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").split() == [TASK1]
    assert repo.status() == "A  notes.txt\n"
    # the file has our edit uncommitted: refused as an edit, not called a merge conflict
    repo.write(TASK1, repo.read(TASK1) + "\nmy note\n")
    dirty = repo.refused("done", "fn-1.1")
    assert "has uncommitted edits" in dirty.stderr and "conflict" not in dirty.stderr
    repo.git("checkout", "--", TASK1)

    staged = repo.ok("done", "fn-1.1", "--no-commit")

    assert staged["staged"] == [TASK1]
    assert sorted(repo.git("diff", "--cached", "--name-only").split()) == [TASK1, "notes.txt"]
    assert repo.ok("validate", "--staged")["valid"] is True
    repo.ok("hooks", "install")
    commit = subprocess.run(["git", "commit", "-q", "-m", "Finish the schema"], cwd=repo.path,
                            capture_output=True, text=True)
    assert commit.returncode == 0, commit.stderr
    assert f"Flow-Transition: {ID1} in_progress->done action=done" in repo.message()
    assert repo.status() == ""
    assert repo.flow("check", "--base", "HEAD~2").exit_code == 0


@pytest.mark.parametrize("index_format", sorted(INDEX_FORMATS))
def test_hooks_judge_hand_edits_under_an_index_libgit2_cannot_read(flow_repo: Repo,
                                                                    index_format: str) -> None:
    repo = flow_repo
    INDEX_FORMATS[index_format](repo)
    repo.ok("hooks", "install")
    task2 = ".flow/tasks/fn-1-add-oauth-login.2.md"
    repo.write(task2, repo.read(task2).replace("status: todo\n", "status: done\n"))

    refused = subprocess.run(["git", "commit", "-qam", "by hand"], cwd=repo.path, capture_output=True,
                             text=True)

    assert refused.returncode != 0 and "[gate-unsatisfied]" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and "internal error" not in refused.stderr
    repo.git("checkout", "--", task2)
    repo.write(TASK1, repo.read(TASK1).replace("status: todo\n", "status: in_progress\n"))
    legal = subprocess.run(["git", "commit", "-qam", "start by hand"], cwd=repo.path,
                           capture_output=True, text=True)
    assert legal.returncode == 0, legal.stderr
    assert f"Flow-Transition: {ID1} todo->in_progress action=start" in repo.message()


# A sparse checkout that leaves .flow/ out (finding 5) ------------------------------------------


def test_sparse_checkout_without_flow_refuses_up_front(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write("src/app.py", "print('app')\n")
    repo.commit_all("app")
    repo.git("sparse-checkout", "set", "--cone", "src")
    assert not (repo.path / ".flow").exists()
    head = repo.head()

    for args in (["status"], ["show", "fn-1.1"], ["next", "--claim"], ["recover"],
                 ["task", "create", "--epic", "fn-1", "--title", "More"], ["start", "fn-1.1"],
                 ["start", "fn-1.1", "--no-commit"]):
        result = repo.refused(*args)
        assert "error: .flow/ is outside your sparse checkout" in result.stderr, (args, result)
        assert "git sparse-checkout add .flow" in result.stderr
    assert repo.head() == head and not (repo.path / ".flow").exists()
    assert repo.status() == ""
    # a commit's tree is still readable without a checkout
    assert repo.ok("status", "--rev", "HEAD")["total_tasks"] == 3
    doctor = {check["name"]: check for check in repo.flow("doctor", "--json").json["checks"]}
    assert doctor["plan"]["status"] == "fail" and doctor["plan"]["fix"] == "git sparse-checkout add .flow"
    repo.git("sparse-checkout", "add", ".flow")
    repo.ok("start", "fn-1.1")
    assert "status: in_progress" in repo.read(TASK1)


# Conflict markers (finding 6) ------------------------------------------------------------------


def _conflicted_description(repo: Repo) -> None:
    """Two branches edit one task's description; the merge driver leaves markers in the body."""
    repo.ok("hooks", "install")
    repo.git("branch", "theirs")
    for branch, text in (("main", "Use RS256 tokens."), ("theirs", "Use HS256 tokens.")):
        repo.git("checkout", "-q", branch)
        repo.write(TASK1, repo.read(TASK1).replace("## Description\n", f"## Description\n{text}\n"))
        repo.commit_all(f"describe on {branch}")
    repo.git("checkout", "-q", "main")
    merged = subprocess.run(["git", "merge", "--no-edit", "theirs"], cwd=repo.path,
                            capture_output=True, text=True)
    assert merged.returncode != 0 and "<<<<<<< " in repo.read(TASK1)


def test_conflict_markers_in_the_body_fail_validate_the_hook_and_check(flow_repo: Repo) -> None:
    repo = flow_repo
    _conflicted_description(repo)
    marker_line = repo.read(TASK1).split("\n").index(next(
        line for line in repo.read(TASK1).split("\n") if line.startswith("<<<<<<<"))) + 1

    validated = repo.flow("validate", "--json")

    assert validated.exit_code == 1
    finding = validated.json["findings"][0]
    assert (finding["rule"], finding["file"], finding["line"]) == ("conflict-markers", TASK1, marker_line)
    repo.git("add", TASK1)
    committed = subprocess.run(["git", "commit", "--no-edit"], cwd=repo.path, capture_output=True,
                               text=True)
    assert committed.returncode != 0 and "[conflict-markers]" in committed.stderr, committed.stderr
    repo.git("commit", "-q", "--no-edit", "--no-verify")
    checked = repo.flow("check", "--base", "HEAD~2", "--json")
    assert checked.exit_code == 1
    assert "conflict-markers" in {item["rule"] for item in checked.json["findings"]}


def test_conflict_markers_in_the_frontmatter_are_named_by_read_commands(flow_repo: Repo) -> None:
    repo = flow_repo
    text = repo.read(TASK1).replace("title: Design token schema\n",
                                    "<<<<<<< ours\ntitle: Ours\n=======\ntitle: Theirs\n>>>>>>> theirs\n")
    repo.write(TASK1, text)
    for args in (["show", "fn-1.1"], ["status"], ["tasks"]):
        result = repo.refused(*args)
        assert "merge conflict markers in the file" in result.stderr, (args, result)
        assert "resolve the merge conflict" in result.stderr and "quote values" not in result.stderr
    validated = repo.flow("validate", "--json").json["findings"]
    assert [item["rule"] for item in validated] == ["conflict-markers"]
    # a lone ======= (a Markdown underline) is not a conflict
    repo.git("checkout", "--", TASK1)
    repo.write(TASK1, repo.read(TASK1).replace("## Description\n", "## Description\nTitle\n=======\n"))
    assert repo.ok("validate")["valid"] is True


# One message, one order (finding 3) ------------------------------------------------------------


def test_a_squash_listing_the_newest_first_replays_in_the_order_check_accepts(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("checkout", "-q", "-b", "side")
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    newest_first = f"Squash fn-1.1\n\n{repo.message('side')}\n{repo.message('side~1')}"
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--squash", "side")
    repo.git("commit", "-q", "-m", newest_first)
    assert newest_first.index("in_progress->done") < newest_first.index("todo->in_progress")

    assert repo.flow("check", "--base", "HEAD~1").exit_code == 0
    events = repo.ok("log", "fn-1.1")["events"]
    assert [(event["from"], event["to"]) for event in events][-2:] == [
        ("todo", "in_progress"), ("in_progress", "done")]
    recovered = repo.ok("recover", "--apply")
    assert recovered["divergences"] == [] and recovered["commit"] is None
    assert recovered["problems"] == []
    assert "status: done" in repo.read(TASK1)


def test_recover_leaves_a_file_alone_when_its_own_commit_disagrees_with_itself(flow_repo: Repo) -> None:
    """Three lines for one task that chain in no order ending where the file is: history reads
    them one way, the commit's change says done; recover does not move the task back."""
    from git_flowctl.model.ulid import new_ulid

    repo = flow_repo
    repo.write(TASK1, repo.read(TASK1).replace("status: todo\n", "status: done\n"))
    lines = "\n".join(
        f"Flow-Transition: {ID1} {move} by=alice@example.com id={new_ulid(1_800_000_000_000 + n)}"
        for n, move in enumerate(("todo->in_progress action=start", "in_progress->done action=done",
                                  "done->todo action=reopen")))
    repo.commit_all(f"flow: three steps\n\n{lines}")
    assert repo.flow("check", "--base", "HEAD~1").exit_code == 1

    recovered = repo.ok("recover", "--apply")

    divergence = next(item for item in recovered["divergences"] if item["id"] == ID1)
    assert divergence["fix"] is None and "its trailers do not chain" in divergence["evidence"]
    assert recovered["commit"] is None and "status: done" in repo.read(TASK1)


# A revert of a revert (finding 7) --------------------------------------------------------------


@pytest.mark.parametrize("hooks", [False, True], ids=["no hooks", "hooks"])
def test_a_revert_of_a_revert_passes_check_and_gets_no_new_trailer(flow_repo: Repo, hooks: bool) -> None:
    repo = flow_repo
    if hooks:
        repo.ok("hooks", "install")
    base = repo.head()
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    for _ in range(2):
        reverted = subprocess.run(["git", "revert", "--no-edit", "HEAD"], cwd=repo.path,
                                  capture_output=True, text=True)
        assert reverted.returncode == 0, reverted.stderr
    assert "Flow-Transition" not in repo.message()  # git's message only
    assert "status: done" in repo.read(TASK1)

    checked = repo.flow("check", "--base", base)

    assert checked.exit_code == 0, checked
    assert repo.ok("show", "fn-1.1")["status"] == "done"
    assert repo.ok("stats")["throughput"]["done"] == 1
    assert [event["action"] for event in repo.ok("log", "fn-1.1")["events"]].count("done") == 1


# recover, partial and shallow clones (finding 9) ----------------------------------------------


def test_recover_sees_a_side_branch_that_a_merge_made_treesame(flow_repo: Repo) -> None:
    """The side branch starts and releases a task (its file ends as it began), the main line
    changes .flow/ too: the merge's .flow/ equals main's, and `git log -- .flow` would drop the
    side's commits without --full-history."""
    repo = flow_repo
    repo.git("checkout", "-q", "-b", "side")
    repo.ok("start", "fn-1.1")
    repo.ok("release", "fn-1.1")
    repo.git("checkout", "-q", "main")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Four")
    repo.git("merge", "-q", "--no-edit", "side")

    recovered = repo.ok("recover")

    assert recovered["problems"] == [] and recovered["divergences"] == []


def test_recover_never_says_none(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write(TASK1, repo.read(TASK1).replace("status: todo\n", ""))

    result = repo.flow("recover")

    assert result.exit_code == 0, result
    assert "None" not in result.stdout
    assert "says no status, its last commit says todo" in " ".join(result.stdout.split())


def _remote_with_plan(repo: Repo, tmp_path: Path) -> Path:
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "config", "uploadpack.allowFilter", "true"], check=True)
    repo.ok("start", "fn-1.1")
    repo.git("push", "-q", str(bare), "main")
    return bare


def test_partial_clone_with_the_remote_gone_says_so(flow_repo: Repo, tmp_path: Path) -> None:
    bare = _remote_with_plan(flow_repo, tmp_path)
    clone = Repo(tmp_path / "partial")
    flow_repo.git("clone", "-q", "--filter=blob:none", f"file://{bare}", str(clone.path))
    gone = bare.rename(tmp_path / "unreachable.git")
    message = "these blobs are not in this partial clone and the remote cannot be reached"

    for args in (["check", "--base", "HEAD~3"], ["recover"], ["status", "--rev", "HEAD~3"]):
        result = clone.refused(*args)
        assert f"error: {message}" in result.stderr, (args, result)
        assert "git remote get-url origin" in result.stderr
        assert "KeyError" not in result.stderr and "fsck" not in result.stderr
    assert clone.ok("status")["total_tasks"] == 3  # the checked-out files are all there

    gone.rename(bare)  # reachable again: git fetches what libgit2 cannot
    assert clone.flow("check", "--base", "HEAD~3").exit_code == 0
    assert clone.ok("recover")["problems"] == []
    assert clone.ok("status", "--rev", "HEAD~3")["total_tasks"] == 1


def test_shallow_clone_log_of_a_task_without_transitions_in_reach(flow_repo: Repo,
                                                                  tmp_path: Path) -> None:
    bare = _remote_with_plan(flow_repo, tmp_path)
    clone = Repo(tmp_path / "shallow")
    flow_repo.git("clone", "-q", "--depth", "1", f"file://{bare}", str(clone.path))

    quiet = clone.ok("log", "fn-1.2")
    human = clone.flow("log", "fn-1.2")

    assert (quiet["id"], quiet["events"], quiet["shallow"]) == ("fn-1-add-oauth-login.2", [], True)
    assert human.exit_code == 0
    assert "no transitions for fn-1-add-oauth-login.2" in human.stdout
    assert "shallow clone: transitions before its boundary are not shown" in human.stdout
    assert [event["to"] for event in clone.ok("log", "fn-1.1")["events"]] == ["in_progress"]
    assert clone.ok("log", "--epic", "fn-1")["shallow"] is True
    clone.refused("log", "fn-1.9")  # an ID that exists nowhere is still an error
    assert clone.ok("show", "fn-1.2")["id"] == "fn-1-add-oauth-login.2"


# Detached HEAD leftovers (finding 10) ----------------------------------------------------------


def test_a_task_finished_on_a_detached_head_left_behind_is_free_again(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("checkout", "-q", "--detach")
    repo.ok("start", "fn-1.1")
    finished = repo.ok("done", "fn-1.1")["commit"]
    repo.git("checkout", "-q", "main")
    assert any(claim["state"] == "done" for claim in repo.ok("claims")["claims"])

    assert ID1 in [task["id"] for task in repo.ok("ready")["ready"]]
    repo.ok("start", "fn-1.1")  # the record spoke for work on no branch

    assert "status: in_progress" in repo.read(TASK1)
    repo.ok("release", "fn-1.1")
    # the same work kept on a branch still holds the task, and the hint says how to free it
    repo.git("checkout", "-q", "--detach")
    repo.ok("start", "fn-1.1")
    kept = repo.ok("done", "fn-1.1")["commit"]
    assert kept != finished
    repo.git("branch", "keep", kept)
    repo.git("checkout", "-q", "main")
    refused = repo.refused("start", "fn-1.1", code=3)
    assert "finished on a detached HEAD" in refused.stderr
    assert f"git update-ref -d refs/flow/claims/{ID1}" in refused.stderr


# Task numbers reserved like epic numbers, and renumber for tasks (finding 8) -----------------


def test_two_worktrees_creating_a_task_in_one_epic_get_different_numbers(flow_repo: Repo,
                                                                         tmp_path: Path) -> None:
    repo = flow_repo
    other = Repo(tmp_path / "other")
    repo.git("worktree", "add", "-q", "-b", "side", str(other.path))

    here = repo.ok("task", "create", "--epic", "fn-1", "--title", "Four")
    there = other.ok("task", "create", "--epic", "fn-1", "--title", "Also four")

    assert here["id"] == "fn-1-add-oauth-login.4" and there["id"] == "fn-1-add-oauth-login.5"
    assert here["reservation"]["ref"] == "refs/flow/task-numbers/fn-1-add-oauth-login.4"
    assert repo.git("rev-parse", "--verify", "-q", "refs/flow/task-numbers/fn-1-add-oauth-login.5")
    merged = subprocess.run(["git", "merge", "--no-edit", "side"], cwd=repo.path,
                            capture_output=True, text=True)
    assert merged.returncode == 0, merged.stdout + merged.stderr  # no add/add conflict
    assert repo.flow("validate").exit_code == 0


def test_a_stashed_no_commit_create_keeps_its_number(flow_repo: Repo) -> None:
    repo = flow_repo
    staged = repo.ok("task", "create", "--epic", "fn-1", "--title", "Four", "--no-commit")
    repo.git("stash", "-q")
    assert not (repo.path / ".flow/tasks/fn-1-add-oauth-login.4.md").exists()

    other = repo.ok("task", "create", "--epic", "fn-1", "--title", "Five")

    assert staged["id"] == "fn-1-add-oauth-login.4" and other["id"] == "fn-1-add-oauth-login.5"
    repo.git("stash", "pop", "-q")
    assert (repo.path / ".flow/tasks/fn-1-add-oauth-login.4.md").exists()


def test_clones_reserve_task_numbers_on_the_claims_remote(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    repo.ok("config", "set", "claims.remote", "origin")
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    alice, bob = Repo(tmp_path / "alice"), Repo(tmp_path / "bob")
    for clone in (alice, bob):
        repo.git("clone", "-q", str(remote), str(clone.path))

    made = alice.ok("task", "create", "--epic", "fn-1", "--title", "Four")
    theirs = bob.ok("task", "create", "--epic", "fn-1", "--title", "Also four")

    assert made["reservation"]["scope"] == "remote"
    assert (made["id"], theirs["id"]) == ("fn-1-add-oauth-login.4", "fn-1-add-oauth-login.5")


def test_renumber_a_task_rewrites_its_dependents(flow_repo: Repo) -> None:
    repo = flow_repo
    dependent = ".flow/tasks/fn-1-add-oauth-login.2.md"

    moved = repo.ok("renumber", "fn-1.1")

    new_id = "fn-1-add-oauth-login.4"
    assert moved["renamed"] == {ID1: new_id}
    assert not (repo.path / TASK1).exists()
    assert f"id: {new_id}" in repo.read(f".flow/tasks/{new_id}.md")
    assert f"- {new_id}" in repo.read(dependent) or f"[{new_id}]" in repo.read(dependent)
    assert f"Flow-Rename: {ID1} {new_id}" in repo.message()
    assert repo.flow("validate").exit_code == 0
    assert repo.flow("check", "--base", "HEAD~1").exit_code == 0
    assert repo.ok("show", "fn-1.4")["status"] == "todo"
    assert [event["event"] for event in repo.ok("log", "fn-1.4")["events"]][-1] == "rename"
    to = repo.ok("renumber", "fn-1.4", "--to", "9")
    assert to["renamed"] == {new_id: "fn-1-add-oauth-login.9"}
    assert repo.refused("renumber", "fn-1.9", "--to", "2").exit_code == 1  # taken by fn-1.2


def test_split_parts_take_reserved_numbers(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    other = Repo(tmp_path / "other")
    repo.git("worktree", "add", "-q", "-b", "side", str(other.path))
    assert other.ok("task", "create", "--epic", "fn-1", "--title", "Four")["id"].endswith(".4")

    split = repo.ok("task", "split", "fn-1.3", "--titles", "Form|Errors")

    assert split["split_into"] == ["fn-1-add-oauth-login.5", "fn-1-add-oauth-login.6"]
    assert len(split["reservations"]) == 2
