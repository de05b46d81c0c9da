"""The lean read path (views/lean.py) prints exactly what the normal CLI prints, or steps aside.

`status`, `show`, `tasks`, `list`, `epics`, `ready`, `next` and `blocked` with --json are
answered from the plan snapshot without click, YAML or pygit2 (issue #11). Each test runs a
command both ways, the console's entry point (lean first) and the click CLI alone, and compares
the bytes printed; it also checks that the lean path really answered where it should, so that
the comparison is not between two runs of the normal path. The same reads without --json
(human text, views/text.py) are compared too, to a pipe and to a terminal.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Repo, make_repo
from test_lean_reads import DAVE, READS, World, world  # noqa: F401  (the fixture)

from git_flowctl.views import lean
from git_flowctl.views.text import width


def _run(entry: str, repo: Repo, args: tuple[str, ...], cwd: Path | None = None,
         env: dict[str, str] | None = None,
         stdout: io.StringIO | None = None) -> tuple[int | None, str]:
    """(exit code, stdout) through ``entry``: "lean" (lean.answer alone, None when it steps
    aside) or "normal" (the click CLI alone). ``stdout``: where it prints (a ``Terminal``)."""
    from git_flowctl.cli import run

    stdout = stdout if stdout is not None else io.StringIO()
    old_cwd, old_env = os.getcwd(), {key: os.environ.get(key) for key in (env or {})}
    os.chdir(cwd or repo.path)
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
            code = lean.answer(list(args)) if entry == "lean" else run(list(args))
    finally:
        os.chdir(old_cwd)
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return code, stdout.getvalue()


def same_both_ways(repo: Repo, *args: str, cwd: Path | None = None,
                   env: dict[str, str] | None = None, lean_answers: bool | None = True) -> str:
    """The lean path's bytes equal the normal path's; returns them. ``lean_answers``: the
    lean path must answer (True), must step aside (False), or may do either (None)."""
    lean_code, lean_out = _run("lean", repo, (*args, "--json"), cwd, env)
    normal_code, normal_out = _run("normal", repo, (*args, "--json"), cwd, env)
    if lean_answers is False or (lean_answers is None and lean_code is None):
        assert lean_code is None and lean_out == "", f"the lean path answered {args}"
        return normal_out
    assert lean_code == 0, f"the lean path stepped aside for {args}"
    assert lean_out == normal_out, args
    assert normal_code == 0
    return normal_out


@pytest.mark.parametrize("args", [args for args in READS], ids=lambda args: "-".join(args))
def test_reads_in_the_world_are_the_same_bytes(world: World, args: tuple[str, ...]) -> None:  # noqa: F811
    """Landing on origin/main, claims held here and through the remote's mirror, finished
    records, unreadable claim refs: each read, as two actors, on a branch and on main."""
    same_both_ways(world.alice, *args)
    same_both_ways(world.alice, *args, env=DAVE)
    same_both_ways(world.alice, *args, cwd=world.alice_main)


@pytest.mark.parametrize("args", [("ready", "--epic", "fn-2"), ("next", "--epic", "fn-1"),
                                  ("blocked", "--epic", "fn-1"), ("tasks", "--epic", "fn-2"),
                                  ("tasks", "--status", "todo", "--status", "ready"),
                                  ("tasks", "--domain", "backend"), ("ready", "--actor", "bob@example.com"),
                                  ("show", "fn-2.4")],
                         ids=lambda args: "-".join(args))
def test_options_the_lean_path_reads(world: World, args: tuple[str, ...]) -> None:  # noqa: F811
    same_both_ways(world.alice, *args, env=DAVE)


@pytest.mark.parametrize("args", [
    ("status", "--rev", "HEAD"), ("show", "fn-1.2", "--rev", "main"), ("next", "--claim"),
    ("show", "fn-9.9"), ("ready", "--epic", "fn-7"), ("tasks", "--epic=fn-1"), ("show",),
    ("show", "fn-1.1", "fn-1.2"), ("tasks", "--help"), ("ready", "--epic", "fn-1", "--epic", "fn-2"),
    ("blocked", "--bogus"),
], ids=lambda args: "-".join(args) or "none")
def test_what_it_does_not_know_goes_to_the_normal_path(world: World, args: tuple[str, ...]) -> None:  # noqa: F811
    """--rev, --claim, errors (unknown IDs), option forms it does not parse, usage errors."""
    code, out = _run("lean", world.alice, (*args, "--json"))
    assert code is None and out == ""


def test_a_plan_file_that_does_not_load_is_reported_by_the_normal_path(flow_repo: Repo) -> None:
    repo = flow_repo
    same_both_ways(repo, "status")
    repo.write(".flow/tasks/fn-1-add-oauth-login.2.md", "---\nid: [broken\n---\n")
    same_both_ways(repo, "status", lean_answers=False)
    result = repo.flow("status", "--json")
    assert result.exit_code == 1 and "fn-1-add-oauth-login.2.md:2" in result.json["error"]
    repo.git("checkout", "--", ".flow")
    repo.write(".flow/tasks/fn-1-add-oauth-login.3.md",
               repo.read(".flow/tasks/fn-1-add-oauth-login.3.md").replace(
                   "epic: fn-1-add-oauth-login", "epic: fn-9-gone"))
    same_both_ways(repo, "tasks", lean_answers=False)  # its epic does not exist
    assert "fn-9-gone" in repo.flow("tasks", "--json").json["error"]


def test_frontmatter_beyond_the_simple_form_is_shown_by_the_normal_path(flow_repo: Repo) -> None:
    """`show` reads one file's frontmatter without YAML only in the simple form."""
    repo = flow_repo
    path = ".flow/tasks/fn-1-add-oauth-login.1.md"
    repo.write(path, repo.read(path).replace("priority: 1\n", "priority: 1\nlabels:\n- a\n- b\n"))
    same_both_ways(repo, "show", "fn-1.1", lean_answers=False)
    assert repo.ok("show", "fn-1.1")["labels"] == ["a", "b"]
    same_both_ways(repo, "tasks")  # the facts are in the snapshot: other reads stay lean


def test_archived_dependencies_and_epic_dependencies(flow_repo: Repo) -> None:
    repo = flow_repo
    for task in ("fn-1.1", "fn-1.2", "fn-1.3"):
        repo.ok("start", task)
        repo.ok("done", task, "--summary", "ok")
    repo.ok("epic", "close", "fn-1")
    repo.ok("epic", "create", "--title", "Second", "--deps", "fn-1")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "After archive", "--deps", "fn-1.2")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Waits", "--deps", "fn-2.1")
    repo.ok("epic", "archive", "fn-1")
    for args in (("status",), ("ready",), ("next",), ("blocked",), ("show", "fn-2.1"),
                 ("show", "fn-2"), ("tasks",), ("list",), ("epics",)):
        same_both_ways(repo, *args)
    assert repo.ok("ready")["ready"][0]["id"] == "fn-2-second.1"


def test_derived_states_upstream_failed_and_blocked(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("task", "edit", "fn-1.1", "--max-retries", "0")
    repo.ok("start", "fn-1.1")
    repo.ok("fail", "fn-1.1")
    repo.ok("block", "fn-1.3", "--reason", "waiting")
    for args in (("status",), ("ready",), ("next",), ("blocked",), ("show", "fn-1.2"), ("tasks",),
                 ("tasks", "--status", "upstream_failed")):
        same_both_ways(repo, *args)
    assert repo.ok("show", "fn-1.2")["status"] == "upstream_failed"


def test_no_default_branch_and_a_tag_as_default_branch(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    repo.git("branch", "-m", "main", "work")
    same_both_ways(repo, "status")
    repo.git("tag", "-a", "-m", "release", "release")
    repo.ok("config", "set", "default_branch", "refs/tags/release")
    same_both_ways(repo, "status", lean_answers=False)  # a tag is peeled by the normal path
    assert repo.ok("status")["landed"] == ["fn-1-add-oauth-login.1"]


def test_a_default_branch_without_its_catalog_is_left_to_the_normal_path_once(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    repo.git("update-ref", "refs/remotes/origin/main", "HEAD")
    repo.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    repo.ok("start", "fn-1.2")  # a new tree here; origin/main's catalog is built on first need
    assert repo.ok("status")["landed"] == ["fn-1-add-oauth-login.1"]
    same_both_ways(repo, "status")
    same_both_ways(repo, "show", "fn-1.1")


WRAPPER = """
import json, sys
from git_flowctl.views import lean
code = lean.answer(sys.argv[1:])
heavy = sorted({name.split(".")[0] for name in sys.modules
                if name.split(".")[0] in ("pygit2", "rich", "click", "yaml", "networkx")}
               | {name for name in ("typing", "dataclasses", "subprocess") if name in sys.modules})
sys.stderr.write("\\nLOADED " + json.dumps([code, heavy]) + "\\n")
"""


@pytest.mark.parametrize("args", [("status",), ("show", "fn-1.2"), ("show", "fn-1"), ("tasks",),
                                  ("list",), ("epics",), ("ready",), ("next",), ("blocked",)],
                         ids=lambda args: "-".join(args))
def test_the_lean_path_loads_nothing_heavy(world: World, args: tuple[str, ...]) -> None:  # noqa: F811
    """Warm: after a read of the same state (the snapshot is there)."""
    world.alice.ok(*args)
    result = subprocess.run([sys.executable, "-c", WRAPPER, *args, "--json"], cwd=world.alice.path,
                            capture_output=True, text=True, env={**os.environ, **DAVE})
    code, heavy = json.loads(result.stderr.rsplit("LOADED ", 1)[1])
    assert code == 0 and heavy == [], result.stderr


def test_every_answer_equals_the_answer_with_the_cache_deleted(tmp_path: Path) -> None:
    """A lean answer from an old snapshot would be wrong: after each change the snapshot is
    checked against the files and every answer equals a fresh one."""
    repo = make_repo(tmp_path / "repo")
    repo.ok("init")
    repo.ok("epic", "create", "--title", "One")
    for number in range(1, 5):
        repo.ok("task", "create", "--epic", "fn-1", "--title", f"Task {number}")
    cache = repo.path / ".git" / "flow-cache"

    def answers() -> list[str]:
        return [same_both_ways(repo, *args) for args in
                (("status",), ("tasks",), ("ready",), ("show", "fn-1.2"))]

    warm = answers()
    assert warm == answers()  # from the snapshot
    repo.write(".flow/tasks/fn-1-one.2.md",
               repo.read(".flow/tasks/fn-1-one.2.md").replace("status: todo", "status: done"))
    edited = answers()
    assert edited != warm
    import shutil

    # Cold, with a file edited since HEAD: HEAD's version of it is in no snapshot, so landing
    # needs the normal path once; then the lean path answers again, the same.
    shutil.rmtree(cache)
    assert same_both_ways(repo, "status", lean_answers=None) == edited[0]
    assert answers() == edited


def test_validate_is_repeated_from_the_snapshot_and_recomputed_after_a_change(flow_repo: Repo) -> None:
    """`validate --json` runs the validator on the normal path, which keeps its answer for
    the same files; the lean path repeats it (exit code too) until a file changes."""
    repo = flow_repo
    code, _ = _run("lean", repo, ("validate", "--json"))
    assert code is None  # nothing kept yet
    first = _run("normal", repo, ("validate", "--json"))
    assert first[0] == 0 and json.loads(first[1])["valid"] is True
    assert _run("lean", repo, ("validate", "--json")) == first
    path = ".flow/tasks/fn-1-add-oauth-login.2.md"
    repo.write(path, repo.read(path).replace("status: todo", "status: bogus"))
    assert _run("lean", repo, ("validate", "--json"))[0] is None  # changed: validated again
    broken = _run("normal", repo, ("validate", "--json"))
    assert broken[0] == 1 and json.loads(broken[1])["valid"] is False
    assert _run("lean", repo, ("validate", "--json")) == broken
    result = repo.flow("validate", "--json")  # through the console's entry: the same
    assert (result.exit_code, result.stdout) == broken
    assert _run("lean", repo, ("validate", "--epic", "fn-1", "--json"))[0] is None


def test_the_validator_parses_each_file_version_once(flow_repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    from git_flowctl.guard import validate

    repo = flow_repo
    assert repo.flow("validate", "--rev", "HEAD", "--json").exit_code == 0
    parsed: list[str] = []
    real = validate.parse_item
    monkeypatch.setattr(validate, "parse_item",
                        lambda path, raw, kind: parsed.append(path) or real(path, raw, kind))
    for args in (("validate", "--rev", "HEAD"), ("validate",), ("validate", "--staged")):
        assert repo.flow(*args, "--json").exit_code == 0
    assert parsed == []  # every file version came from the item store
    for name in ("items", "items-added"):
        (repo.path / ".git" / "flow-cache" / "plan" / name).write_bytes(b"flowplan garbage")
    assert repo.flow("validate", "--rev", "HEAD", "--json").exit_code == 0
    assert parsed  # a damaged store is rebuilt


def test_the_item_store_keeps_items_added_lately_apart(flow_repo: Repo,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand edit adds one item: it goes to the small file of items added lately, and the
    store of every item is not written again (50,000 of them, issue #11); once the added ones
    are many, they are written into it. Either way each version is parsed once."""
    from git_flowctl.guard import validate

    repo = flow_repo
    monkeypatch.setattr(validate.ItemStore, "KEEP_ADDED", 3)
    directory = repo.path / ".git" / "flow-cache" / "plan"
    assert repo.flow("validate", "--json").exit_code == 0  # more items than 3: stored whole
    whole = (directory / "items").read_bytes()
    path = ".flow/tasks/fn-1-add-oauth-login.2.md"
    repo.write(path, repo.read(path).replace("title: Implement JWT middleware", "title: Edited"))
    assert repo.flow("validate", "--json").exit_code == 0
    assert (directory / "items").read_bytes() == whole
    assert (directory / "items-added").stat().st_size > 0
    parsed: list[str] = []
    real = validate.parse_item
    monkeypatch.setattr(validate, "parse_item",
                        lambda path, raw, kind: parsed.append(path) or real(path, raw, kind))
    assert repo.flow("validate", "--json").exit_code == 0
    assert parsed == []  # the edited version came from the items added
    for title in ("One", "Two", "Three"):
        repo.write(path, repo.read(path).replace("title: ", f"title: {title} ", 1))
        assert repo.flow("validate", "--json").exit_code == 0
    assert (directory / "items").read_bytes() != whole  # the added ones written into it


def test_board_is_repeated_from_the_snapshot_while_nothing_it_shows_changed(world: World) -> None:  # noqa: F811
    """`board --plain` and `board --json` are drawn on the normal path (history, critical
    path), which keeps the drawing; the lean path prints it again until the plan, HEAD, the
    actor or the claims change."""
    repo = world.alice
    # Files written within the racy window (catalog.RACY_NS) make a read's generation depend on
    # the clock; a run straddling its end keeps no drawing. The fixture has just written them:
    # age them, so "nothing changed" is what the test sees (it failed 2 full runs in 5 under load).
    aged = time.time() - 10
    for path in (repo.path / ".flow").rglob("*"):
        if path.is_file():
            os.utime(path, (aged, aged))
    for args in (("board", "--plain"), ("board", "--json"), ("board", "--epic", "fn-1", "--plain")):
        lean_args = tuple(arg for arg in args if arg != "--json")
        json_flag = ("--json",) if "--json" in args else ()
        normal = _run("normal", repo, (*lean_args, *json_flag))
        assert normal[0] == 0
        assert _run("lean", repo, (*lean_args, *json_flag)) == normal
        assert _run("lean", repo, (*lean_args, *json_flag), env=DAVE)[0] is None  # another actor
    assert _run("lean", repo, ("board",))[0] is None  # no --plain: a terminal may want rich
    assert _run("lean", repo, ("board", "--plain", "--json"))[0] is None


# Human output (views/text.py): the lean path answers the reads without --json too ------------


class Terminal(io.StringIO):
    """Standard output that says it is a terminal (the text gets colours and cut titles)."""

    def isatty(self) -> bool:
        return True


def _run_text(entry: str, repo: Repo, args: tuple[str, ...], cwd: Path | None = None,
              env: dict[str, str] | None = None, terminal: bool = False) -> tuple[int | None, str]:
    """``_run`` of a human read: to a pipe, or with ``terminal`` to a terminal (NO_COLOR unset
    unless ``env`` sets it)."""
    if not terminal:
        return _run(entry, repo, args, cwd, env)
    return _run(entry, repo, args, cwd, {"NO_COLOR": "", **(env or {})}, Terminal())


def same_text_both_ways(repo: Repo, *args: str, cwd: Path | None = None,
                        env: dict[str, str] | None = None, lean_answers: bool | None = True,
                        terminal: bool = False) -> str:
    """``same_both_ways`` for the human answer (no --json)."""
    lean_code, lean_out = _run_text("lean", repo, args, cwd, env, terminal)
    normal_code, normal_out = _run_text("normal", repo, args, cwd, env, terminal)
    if lean_answers is False or (lean_answers is None and lean_code is None):
        assert lean_code is None and lean_out == "", f"the lean path answered {args}"
        return normal_out
    assert lean_code == normal_code, f"the lean path stepped aside for {args}"
    assert lean_out == normal_out, args
    assert "\x1b[" in normal_out if terminal else "\x1b[" not in normal_out
    return normal_out


@pytest.mark.parametrize("args", [args for args in READS], ids=lambda args: "-".join(args))
def test_human_reads_in_the_world_are_the_same_bytes(world: World, args: tuple[str, ...]) -> None:  # noqa: F811
    """Every human read, as two actors, on a branch (landed work marked) and on main (work not
    landed marked), to a pipe and to a terminal."""
    same_text_both_ways(world.alice, *args)
    same_text_both_ways(world.alice, *args, env=DAVE)
    same_text_both_ways(world.alice, *args, cwd=world.alice_main)
    same_text_both_ways(world.alice, *args, terminal=True)
    same_text_both_ways(world.alice, *args, cwd=world.alice_main, terminal=True)


def test_human_reads_mark_landed_work(world: World) -> None:  # noqa: F811
    """The comparisons above see the marks: landed on a branch, the default branch's own."""
    ids = world.ids
    on_branch = same_text_both_ways(world.alice, "status")
    assert f"landed on origin/main: {ids['fn-1.1']}" in on_branch
    row = next(line for line in same_text_both_ways(world.alice, "tasks").splitlines()
               if line.startswith(ids["fn-1.1"] + " "))
    assert "done landed" in " ".join(row.split())
    shown = same_text_both_ways(world.alice, "show", "fn-1.2")
    assert "done, not landed on origin/main" in shown


@pytest.fixture(scope="module")
def every_state(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """A plan with a task in every state, on `feature` (a done task landed on main, one not)."""
    from plans import put_in_state

    repo = make_repo(tmp_path_factory.mktemp("states") / "repo")
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Every state")
    repo.ok("epic", "create", "--title", "Waits for the first", "--deps", "fn-1")
    wanted = ["done", "todo", "in_progress", "blocked", "skipped", "failed", "up_for_retry"]
    for name in wanted:
        repo.ok("task", "create", "--epic", "fn-1", "--title", f"A task {name}", "--priority", "2")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "After the failed one", "--deps", "fn-1.6")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "東京 タスク, wide title")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "x" * 300)
    put_in_state(repo, "fn-1.1", "done")
    repo.git("checkout", "-q", "-b", "feature")
    for number, name in enumerate(wanted[1:], start=2):
        put_in_state(repo, f"fn-1.{number}", name)
    return repo


EVERY_READ = [("status",), ("tasks",), ("list",), ("epics",), ("ready",), ("next",),
              ("blocked",), ("show", "fn-1"), ("show", "fn-2"), ("show", "fn-1.1"),
              ("show", "fn-1.3"), ("show", "fn-1.4"), ("show", "fn-1.8"), ("validate",),
              ("tasks", "--status", "done")]


@pytest.mark.parametrize("args", EVERY_READ, ids=lambda args: "-".join(args))
def test_human_reads_of_every_state_are_the_same_bytes(every_state: Repo, args: tuple[str, ...]) -> None:
    """To a pipe, to a terminal, and to a terminal under NO_COLOR (the pipe's text)."""
    repo = every_state
    # An up_for_retry task: what its backoff holds back is history's (availability.py)
    may = None if args[0] in ("ready", "next", "validate", "status", "blocked") \
        or "--status" in args else True
    same_text_both_ways(repo, *args, lean_answers=may)
    same_text_both_ways(repo, *args, lean_answers=may, terminal=True)
    plain = same_text_both_ways(repo, *args, lean_answers=may)
    assert same_text_both_ways(repo, *args, lean_answers=may, env={"NO_COLOR": "1"},
                               terminal=False) == plain
    _, under_no_color = _run_text("normal", repo, args, env={"NO_COLOR": "1"}, terminal=True)
    assert under_no_color == plain  # NO_COLOR on a terminal: the plain text


def test_an_empty_plan_and_no_plan(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    for args in (("status",), ("tasks",), ("epics",), ("list",)):  # no .flow/: the normal path
        same_text_both_ways(repo, *args, lean_answers=False)
        assert repo.flow(*args).stdout == _run_text("normal", repo, args)[1]
    repo.ok("init")
    assert same_text_both_ways(repo, "tasks") == "no tasks\n"
    assert same_text_both_ways(repo, "epics").startswith("no epics yet")
    assert same_text_both_ways(repo, "list").startswith("no epics yet")
    assert "0 tasks in 0 epics (working tree): none yet" in same_text_both_ways(repo, "status")
    assert same_text_both_ways(repo, "blocked") == "nothing is blocked\n"
    assert same_text_both_ways(repo, "ready") == "ready (0)\nin progress (0)\nblocked (0)\n"


def test_a_long_title_is_one_line_to_a_pipe_and_cut_on_a_terminal(every_state: Repo) -> None:
    long_title = "x" * 300
    piped = same_text_both_ways(every_state, "tasks")
    row = next(line for line in piped.splitlines() if long_title in line)
    assert row.startswith("fn-2-waits-for-the-first.2 ")
    coloured = same_text_both_ways(every_state, "tasks", env={"COLUMNS": "80"}, terminal=True)
    visible = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in coloured.splitlines()]
    assert len(visible) == len(piped.splitlines())  # still one line a row
    assert max(width(line) for line in visible) == 80, visible  # the wide title counts double
    assert any(line.startswith("fn-2-waits-for-the-first.2 ") and line.rstrip().endswith("…")
               for line in visible)


def test_a_stored_human_answer_is_kept_per_output_mode(every_state: Repo) -> None:
    """A pipe's text is never printed to a terminal, nor a terminal's of one width at another."""
    repo = every_state
    piped = same_text_both_ways(repo, "tasks")
    assert _run_text("lean", repo, ("tasks",)) == (0, piped)  # stored
    wide = _run_text("lean", repo, ("tasks",), env={"COLUMNS": "400"}, terminal=True)
    narrow = _run_text("lean", repo, ("tasks",), env={"COLUMNS": "60"}, terminal=True)
    assert wide[0] == narrow[0] == 0
    assert "\x1b[" in wide[1] and wide[1] != narrow[1] and "…" in narrow[1] and "…" not in wide[1]
    assert _run_text("lean", repo, ("tasks",)) == (0, piped)
    assert _run_text("lean", repo, ("tasks", "--json"))[1].startswith("{")  # and JSON's own


def test_validate_human_is_repeated_from_the_snapshot(flow_repo: Repo) -> None:
    """The normal path keeps `validate`'s human answer per output mode; the lean path repeats
    it (exit code too) until a file changes."""
    repo = flow_repo
    assert _run_text("lean", repo, ("validate",))[0] is None  # nothing kept yet
    first = _run_text("normal", repo, ("validate",))
    assert first[0] == 0 and "✓ .flow/ in the working tree is valid (1 epic, 3 tasks)" in first[1]
    assert _run_text("lean", repo, ("validate",)) == first
    assert _run_text("lean", repo, ("validate",), terminal=True)[0] is None  # not for a terminal
    on_terminal = _run_text("normal", repo, ("validate",), terminal=True)
    assert "\x1b[32m✓\x1b[0m" in on_terminal[1]
    assert _run_text("lean", repo, ("validate",), terminal=True) == on_terminal
    path = ".flow/tasks/fn-1-add-oauth-login.2.md"
    repo.write(path, repo.read(path).replace("status: todo", "status: bogus"))
    assert _run_text("lean", repo, ("validate",))[0] is None  # changed: validated again
    broken = _run_text("normal", repo, ("validate",))
    assert broken[0] == 1 and "error" in broken[1]
    assert _run_text("lean", repo, ("validate",)) == broken
    result = repo.flow("validate")  # through the console's entry: the same
    assert (result.exit_code, result.stdout) == broken


@pytest.mark.parametrize("args", [("tasks",), ("status",), ("show", "fn-1"), ("list",),
                                  ("blocked",), ("ready",)], ids=lambda args: "-".join(args))
def test_human_reads_load_nothing_heavy(world: World, args: tuple[str, ...]) -> None:  # noqa: F811
    """The console's entry, to a pipe: neither click nor rich (nor YAML, pygit2, networkx)."""
    world.alice.flow(*args)
    result = subprocess.run([sys.executable, "-c", WRAPPER, *args], cwd=world.alice.path,
                            capture_output=True, text=True, env={**os.environ, **DAVE})
    code, heavy = json.loads(result.stderr.rsplit("LOADED ", 1)[1])
    assert code == 0 and heavy == [], result.stderr
    assert result.stdout.strip() and "\x1b[" not in result.stdout


ENTRY_WRAPPER = WRAPPER.replace("from git_flowctl.views import lean\ncode = lean.answer(sys.argv[1:])",
                                "from git_flowctl.entry import main\ncode = main(sys.argv[1:])")


def test_human_tasks_through_the_console_entry_loads_nothing_heavy(world: World) -> None:  # noqa: F811
    """entry.main sends a human read to the lean path, to a pipe and with colours (FORCE_COLOR:
    the terminal's mode) alike: no click, rich, YAML or pygit2 either way."""
    assert "entry import main" in ENTRY_WRAPPER
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    for extra, coloured in (({}, False), ({"FORCE_COLOR": "1"}, True)):
        world.alice.flow("tasks", env=extra)
        result = subprocess.run([sys.executable, "-c", ENTRY_WRAPPER, "tasks"], cwd=world.alice.path,
                                capture_output=True, text=True, env={**env, **DAVE, **extra})
        code, heavy = json.loads(result.stderr.rsplit("LOADED ", 1)[1])
        assert code == 0 and heavy == [], result.stderr
        assert ("\x1b[" in result.stdout) == coloured and world.ids["fn-1.1"] in result.stdout
