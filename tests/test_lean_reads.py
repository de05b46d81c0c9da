"""Read commands on the work tree reach git through `git` itself, never pygit2 (bench_startup.py).

Two ways answer every read: the git command (gitcli.py: one `rev-parse`, `config`,
`for-each-ref`, `cat-file --batch`) when pygit2 is not open, and pygit2 once a command has
opened it. The tests run the same scenarios both ways and compare whole JSON outputs: landed
tasks (origin/HEAD, a configured branch, a tag), claims held here, finished records, the remote's
mirror and unreadable claim refs. In the git runs, opening pygit2 fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, make_repo

from git_flowctl.repo.cache import CACHE_DIR
from git_flowctl.repo.catalog import PlanCache
from git_flowctl.repo.workspace import Workspace
from git_flowctl.views import lean

CLAIM = "refs/flow/claims/"
MIRROR = "refs/flow/remote-claims/origin/"
DAVE = {"FLOW_ACTOR": "dave@example.com"}


@contextlib.contextmanager
def reads_through(way: str) -> Iterator[None]:
    """``git``: opening pygit2 fails the command (so the test). ``pygit2``: every workspace
    opens it first, so every read takes the pygit2 side."""
    with pytest.MonkeyPatch.context() as patch:
        # The lean path (views/lean.py) answers these without a Workspace at all;
        # tests/test_lean_path.py compares it with the normal path. Here: the normal path.
        patch.setattr(lean, "answer", lambda args: None)
        if way == "git":
            def refuse(self: Workspace) -> None:
                raise AssertionError("a read on the work tree opened pygit2")

            patch.setattr(Workspace, "_open_repo", refuse)
        else:
            original = Workspace.__init__

            def opened(self: Workspace, *args: Any, **kwargs: Any) -> None:
                original(self, *args, **kwargs)
                assert self.repo is not None and self.repo_is_open

            patch.setattr(Workspace, "__init__", opened)
        yield


def both_ways(repo: Repo, *args: str, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """The command's JSON through git and through pygit2; they must be equal."""
    with reads_through("git"):
        by_git = repo.ok(*args, cwd=cwd, env=env)
    with reads_through("pygit2"):
        by_pygit2 = repo.ok(*args, cwd=cwd, env=env)
    assert by_git == by_pygit2, args
    return by_git


# A world with everything the reads look at -----------------------------------------------------


@dataclass
class World:
    remote: Path
    alice: Repo  # on branch `feature`; main is checked out in `alice_main`
    alice_main: Path
    ids: dict[str, str]  # short ID -> full ID


def _id(repo: Repo, *args: str, env: dict[str, str] | None = None) -> str:
    return str(repo.ok(*args, env=env)["id"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A bare remote `origin` (claims.remote) and two clones. On origin's main fn-1.1 is done
    (landed); alice, on `feature`, finished fn-1.2 (a finished record, not landed) and holds
    fn-1.3; bob holds fn-2.1 through the remote (alice sees it only in her mirror); fn-2.2's
    claim ref is a blob and fn-2.4's a commit with no claim trailer (both unreadable)."""
    root = tmp_path_factory.mktemp("lean")
    remote = root / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    seed = make_repo(root / "seed")
    seed.ok("init")
    seed.ok("config", "set", "claims.remote", "origin")
    ids = {"fn-1": _id(seed, "epic", "create", "--title", "Add OAuth login"),
           "fn-2": _id(seed, "epic", "create", "--title", "Billing")}
    for number, deps in ((1, ()), (2, ("fn-1.1",)), (3, ("fn-1.1",)), (4, ("fn-1.3",))):
        ids[f"fn-1.{number}"] = _id(seed, "task", "create", "--epic", "fn-1", "--title",
                                    f"Login step {number}", "--priority", str(number),
                                    *(("--deps", ",".join(deps)) if deps else ()))
    for number in (1, 2, 3, 4):
        ids[f"fn-2.{number}"] = _id(seed, "task", "create", "--epic", "fn-2", "--title",
                                    f"Billing step {number}", "--priority", str(number))
    seed.git("remote", "add", "origin", str(remote))
    seed.git("push", "-q", "origin", "main")
    alice = Repo(root / "alice")
    bob = Repo(root / "bob")
    for clone in (alice, bob):
        seed.git("clone", "-q", str(remote), str(clone.path))
    alice.ok("start", "fn-1.1")
    alice.ok("done", "fn-1.1", "--summary", "schema agreed")
    alice.git("push", "-q", "origin", "main")
    bob.ok("start", "fn-2.1", env={"FLOW_ACTOR": "bob@example.com"})
    alice.git("checkout", "-q", "-b", "feature")
    alice.ok("start", "fn-1.2")
    alice.ok("done", "fn-1.2", "--summary", "middleware in")
    alice.ok("start", "fn-1.3")
    alice.git("fetch", "-q", "origin", f"+{CLAIM}*:{MIRROR}*")
    blob = alice.git("hash-object", "-w", "--stdin", input="not a claim\n").strip()
    alice.git("update-ref", CLAIM + ids["fn-2.2"], blob)
    tree = alice.git("hash-object", "-t", "tree", "-w", "--stdin", input="").strip()
    stray = alice.git("commit-tree", tree, "-m", "a commit that is not a claim").strip()
    alice.git("update-ref", CLAIM + ids["fn-2.4"], stray)
    alice_main = root / "alice-main"
    alice.git("worktree", "add", "-q", str(alice_main), "main")
    return World(remote, alice, alice_main, ids)


READS = [
    ("show", "fn-1.1"), ("show", "fn-1.2"), ("show", "fn-1"), ("show", "fn-2"), ("tasks",),
    ("tasks", "--status", "done"), ("list",), ("status",), ("ready",), ("next",), ("blocked",),
    ("epics",),
]


@pytest.mark.parametrize("args", READS, ids=lambda args: "-".join(args))
def test_reads_on_a_branch_agree_both_ways(world: World, args: tuple[str, ...]) -> None:
    both_ways(world.alice, *args)
    both_ways(world.alice, *args, env=DAVE)


@pytest.mark.parametrize("args", READS, ids=lambda args: "-".join(args))
def test_reads_in_a_worktree_on_the_default_branch_agree_both_ways(
        world: World, args: tuple[str, ...]) -> None:
    both_ways(world.alice, *args, cwd=world.alice_main)


def test_the_world_exercises_landing_and_every_kind_of_claim(world: World) -> None:
    """The comparisons above mean something only if these answers are not empty."""
    ids = world.ids
    status = both_ways(world.alice, "status")
    assert status["default_branch"] == "origin/main"
    assert status["landed"] == [ids["fn-1.1"]]  # fn-1.2 is done only on feature
    shown = both_ways(world.alice, "show", "fn-1.2")
    assert shown["status"] == "done" and shown["landed"] is False
    on_main = both_ways(world.alice, "status", cwd=world.alice_main)
    assert on_main["landed"] == [ids["fn-1.1"]]
    ready = both_ways(world.alice, "ready", env=DAVE)
    blocked = {row["id"]: row["blocked_by"] for row in ready["blocked"]}
    assert blocked[ids["fn-2.1"]] == ["claimed_by=bob@example.com"]  # from the mirror only
    assert blocked[ids["fn-2.2"]] == ["claimed_by=(unreadable claim)"]
    assert blocked[ids["fn-2.4"]] == ["claimed_by=(unreadable claim)"]
    assert [row["id"] for row in ready["ready"]] == [ids["fn-2.3"]]
    assert world.alice.git("for-each-ref", "--format=%(refname)", CLAIM + ids["fn-2.1"]) == ""
    # dave has nothing in progress: the best task nobody holds
    assert both_ways(world.alice, "next", env=DAVE)["task"] == ids["fn-2.3"]
    # alice resumes her own; fn-1.2's finished record is hers, on feature
    assert both_ways(world.alice, "next")["task"] == ids["fn-1.3"]


REV_READS = [
    ("status", "--rev", "main"), ("show", "fn-1.2", "--rev", "main"), ("show", "fn-1", "--rev", "HEAD~1"),
    ("tasks", "--rev", "origin/main"), ("list", "--rev", "HEAD"), ("ready", "--rev", "main"),
    ("next", "--rev", "main"), ("blocked", "--rev", "HEAD"), ("cat", "fn-1.1", "--rev", "main"),
]


@pytest.mark.parametrize("args", REV_READS, ids=lambda args: "-".join(args))
def test_revision_reads_agree_both_ways(world: World, args: tuple[str, ...]) -> None:
    """--rev reads the commit's tree through `git cat-file --batch` (GitTreeSource) until
    pygit2 is open, then through pygit2 (TreeSource)."""
    both_ways(world.alice, *args, env=DAVE)


def test_a_revision_read_is_the_read_of_that_checkout(world: World) -> None:
    with reads_through("git"):
        assert world.alice.ok("status", "--rev", "main") == world.alice.ok("status", cwd=world.alice_main)
        assert world.alice.ok("show", "fn-1.2", "--rev", "main")["status"] == "todo"


def test_an_unknown_revision_is_the_same_error_both_ways(world: World) -> None:
    errors = []
    for way in ("git", "pygit2"):
        with reads_through(way):
            errors.append(world.alice.refused("status", "--rev", "no-such-branch", "--json").json)
    assert errors[0] == errors[1]
    assert errors[0]["error"] == "unknown revision 'no-such-branch'"


# Default branches: configured, origin/HEAD elsewhere, a tag ----------------------------------


def test_a_configured_default_branch_wins(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("branch", "trunk")  # before fn-1.1 is done
    repo.ok("config", "set", "default_branch", "trunk")
    repo.git("branch", "-f", "trunk")  # trunk gets the config too, still before the done
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    status = both_ways(repo, "status")
    assert status["default_branch"] == "trunk" and status["landed"] == []
    repo.git("branch", "-f", "trunk", "main")
    assert both_ways(repo, "status")["landed"] == ["fn-1-add-oauth-login.1"]


def test_origin_head_pointing_elsewhere_than_main(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    repo.git("update-ref", "refs/remotes/origin/develop", "HEAD~2")
    repo.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/develop")
    status = both_ways(repo, "status")
    assert status["default_branch"] == "origin/develop" and status["landed"] == []
    repo.git("update-ref", "refs/remotes/origin/develop", "HEAD")
    assert both_ways(repo, "tasks", "--status", "done")["tasks"][0]["landed"] is True


def test_a_default_branch_that_is_an_annotated_tag(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    repo.git("tag", "-a", "-m", "release", "release")
    repo.ok("config", "set", "default_branch", "refs/tags/release")
    status = both_ways(repo, "status")
    assert status["default_branch"] == "refs/tags/release"
    assert status["landed"] == ["fn-1-add-oauth-login.1"]


def test_the_main_worktrees_branch_is_the_default_when_nothing_else_names_one(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("branch", "-m", "main", "work")
    status = both_ways(repo, "status")
    assert status["default_branch"] == "work"


def test_no_default_branch_at_all(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("branch", "-m", "main", "work")
    repo.git("checkout", "-q", "--detach")
    status = both_ways(repo, "status")
    assert status["default_branch"] is None and status["landed"] == []


def test_an_archived_task_on_the_default_branch_counts_as_landed(flow_repo: Repo) -> None:
    repo = flow_repo
    for task in ("fn-1.1", "fn-1.2", "fn-1.3"):
        repo.ok("start", task)
        repo.ok("done", task)
    repo.git("checkout", "-q", "-b", "feature")
    repo.git("checkout", "-q", "main")
    repo.ok("epic", "close", "fn-1")
    repo.ok("epic", "archive", "fn-1")
    repo.git("checkout", "-q", "feature")
    status = both_ways(repo, "status")
    assert status["landed"] == [f"fn-1-add-oauth-login.{n}" for n in (1, 2, 3)]
    archived = both_ways(repo, "show", "fn-1.2", "--rev", "main")  # walks .flow/archive/
    assert archived["archived"] is True and archived["status"] == "done"
    assert both_ways(repo, "status", "--rev", "main")["total_tasks"] == 0


# Finding the repository as git does ------------------------------------------------------------


def test_git_dir_and_work_tree_from_elsewhere_read_and_write_that_repository(
        flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"GIT_DIR": str(repo.path / ".git"), "GIT_WORK_TREE": str(repo.path)}
    assert both_ways(repo, "status", cwd=elsewhere, env=env) == both_ways(repo, "status")
    repo.ok("start", "fn-1.1", cwd=elsewhere, env=env)  # pygit2 writes with git's work tree
    assert "status: in_progress" in repo.read(".flow/tasks/fn-1-add-oauth-login.1.md")
    assert repo.status() == ""  # the index entry was updated in that repository too
    assert not (elsewhere / ".flow").exists()


def test_git_dir_alone_makes_the_current_directory_the_work_tree(flow_repo: Repo) -> None:
    """As in a hook of a linked worktree (git sets GIT_DIR and runs it at the top)."""
    repo = flow_repo
    worktree = repo.path.parent / "wt"
    repo.git("worktree", "add", "-q", "-b", "side", str(worktree))
    env = {"GIT_DIR": str(repo.path / ".git" / "worktrees" / "wt")}
    both_ways(repo, "status", cwd=worktree, env=env)
    repo.ok("start", "fn-1.1", cwd=worktree, env=env)
    assert repo.git("log", "-1", "--format=%s", "side").startswith("flow: start")
    assert repo.git("status", "--porcelain", cwd=worktree) == ""


def test_a_linked_worktree_shares_the_common_directory(flow_repo: Repo) -> None:
    repo = flow_repo
    worktree = repo.path.parent / "wt"
    repo.git("worktree", "add", "-q", "-b", "side", str(worktree))
    ws = Workspace(worktree / ".flow")
    assert ws.root == worktree
    assert ws.git_dir == repo.path / ".git" / "worktrees" / "wt"
    assert ws.common_dir == repo.path / ".git"
    assert not ws.repo_is_open
    assert Path(ws.repo.path) == ws.git_dir and Path(ws.repo.workdir or "") == worktree


def test_inside_the_git_directory_the_work_tree_is_still_found(flow_repo: Repo) -> None:
    """git names no work tree inside .git; libgit2 does, and commands worked there before."""
    repo = flow_repo
    assert repo.ok("status", cwd=repo.path / ".git" / "refs") == repo.ok("status")


def test_outside_any_repository_and_in_a_bare_one(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    result = Repo(plain).refused("status", "--json",
                                 env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert result.json["error"] == f"not a git repository: {plain}"
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    result = Repo(bare / "refs").refused("status", "--json")
    assert result.json["error"] == f"{bare} is a bare repository; git flow-task needs a work tree"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root to give the repository to another user")
def test_another_users_repository_is_refused_with_gits_remedy(flow_repo: Repo) -> None:
    subprocess.run(["chown", "-R", "65534", str(flow_repo.path)], check=True)
    result = flow_repo.refused("status", "--json")
    assert result.json["error"] == \
        f"cannot open the repository: detected dubious ownership in repository at '{flow_repo.path}'"
    assert result.json["hint"] == \
        f"if you trust it: git config --global --add safe.directory {flow_repo.path}"


def test_config_comes_from_git_with_its_includes_and_command_line(flow_repo: Repo) -> None:
    """`git -c user.email=... flow-task` and [include] reach the actor as git sees them."""
    repo = flow_repo
    (repo.path / "extra.gitconfig").write_text("[user]\n\temail = included@example.com\n")
    repo.git("config", "include.path", str(repo.path / "extra.gitconfig"))
    with reads_through("git"):
        assert repo.ok("ready")["actor"] == "included@example.com"
        command_line = {"GIT_CONFIG_PARAMETERS": "'user.email'='cli@example.com'"}
        assert repo.ok("ready", env=command_line)["actor"] == "cli@example.com"
    with reads_through("pygit2"):
        assert repo.ok("ready")["actor"] == "included@example.com"


def test_the_actor_falls_back_to_user_name(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("config", "user.email", "")
    repo.git("config", "user.name", "Local Name")
    no_email = {"GIT_AUTHOR_EMAIL": "", "EMAIL": ""}
    assert both_ways(repo, "ready", env=no_email)["actor"] == "Local Name"
    assert both_ways(repo, "ready", env={**no_email, "FLOW_ACTOR": "agent-7"})["actor"] == "agent-7"


# Parsed files reused by content ---------------------------------------------------------------


def test_work_tree_reads_keep_each_file_by_its_blob_id(flow_repo: Repo) -> None:
    """The work tree's catalog (repo/catalog.py) records git's blob ID of the bytes on disk:
    a hand edit is a new entry, never a stale answer, and a garbled catalog is rebuilt."""
    repo = flow_repo
    path = ".flow/tasks/fn-1-add-oauth-login.2.md"
    first = repo.ok("show", "fn-1.2")
    blob = repo.git("hash-object", "--no-filters", path).strip()
    ws = Workspace(repo.path)
    cache = PlanCache(ws.common_dir, ws.root)

    def stored_blob() -> str | None:
        found = cache.load_work_tree()
        return found.blob(path) if found is not None else None

    assert stored_blob() == blob
    repo.write(path, repo.read(path).replace("title: Implement JWT middleware", "title: Edited by hand"))
    assert repo.ok("show", "fn-1.2")["title"] == "Edited by hand"
    assert stored_blob() == repo.git("hash-object", "--no-filters", path).strip()
    (ws.common_dir / CACHE_DIR / "plan" / cache.work_tree_name).write_bytes(b"\x80\x05garbage")
    repo.git("checkout", "--", path)
    assert repo.ok("show", "fn-1.2") == first
    assert stored_blob() == blob


def test_the_cache_directory_is_one_name() -> None:
    from git_flowctl.history import replay as history

    assert CACHE_DIR == history.CACHE_DIR  # history takes cache.py's name


# No pygit2 in the process -----------------------------------------------------------------------

WRAPPER = """
import json, sys
from git_flowctl.entry import main
code = main(sys.argv[1:])
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("pygit2", "rich"))
sys.stderr.write("\\nLOADED " + json.dumps(loaded) + "\\n")
sys.exit(code)
"""


def loaded_modules(cwd: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    result = subprocess.run([sys.executable, "-c", WRAPPER, *args], cwd=cwd, capture_output=True,
                            text=True, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    marker = result.stderr.rsplit("LOADED ", 1)[1]
    found: list[str] = json.loads(marker)
    return found


@pytest.mark.parametrize("args", [("next", "--json"), ("ready", "--json"),
                                  ("show", "fn-1.1", "--json"), ("show", "fn-1", "--json"),
                                  ("tasks", "--json"), ("list", "--json"), ("status", "--json")],
                         ids=lambda args: "-".join(args[:-1]))
def test_read_commands_do_not_import_pygit2(world: World, args: tuple[str, ...]) -> None:
    assert loaded_modules(world.alice.path, *args, env=DAVE) == []


@pytest.mark.parametrize("args", [("status", "--rev", "main", "--json"),
                                  ("show", "fn-1.2", "--rev", "origin/main", "--json")],
                         ids=lambda args: "-".join(args[:-1]))
def test_revision_reads_do_not_import_pygit2_either(world: World, args: tuple[str, ...]) -> None:
    assert loaded_modules(world.alice.path, *args, env=DAVE) == []


def test_the_import_check_sees_pygit2_when_it_is_loaded(world: World) -> None:
    """The checks above can fail: a transition (here a dry run) writes through pygit2."""
    assert "pygit2" in loaded_modules(world.alice.path, "start", "fn-2.3", "--dry-run", "--json",
                                      env=DAVE)
