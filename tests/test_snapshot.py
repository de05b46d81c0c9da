"""The plan snapshot (repo/catalog.py) never changes an answer (issue #11).

Randomized sequences of what people and git do to a work tree, each doing every one of them at
least once: checking out a branch whose .flow/ differs in ten tasks, hand edits, `git stash`
and `stash pop`, `git reset --hard`, touches that change only the mtime, same-size edits within
the same timestamp as the read before, new and deleted files, and transitions. After each step
every read the lean path answers (and `board --plain`) is answered with the snapshot as it
stands and again with the cache deleted, and the outputs must be equal. A cold read (a fresh
clone, or the cache deleted) is followed by a warm one.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

import pytest
from conftest import Repo
from plans import task_name as _task
from plans import task_text as _task_text
from plans import written_plan

from git_flowctl.repo import catalog
from git_flowctl.repo.catalog import PlanCache, work_tree_catalog

EPICS = 3
PER_EPIC = 10
# Every read the lean path answers (views/lean.py), with --json; `show` of a task is added per step.
READS = [("status",), ("tasks",), ("list",), ("epics",), ("ready",), ("ready", "--epic", "fn-2"),
         ("next",), ("blocked",), ("validate",), ("show", "fn-1"), ("board",)]
# What people and git do to a work tree (issue #11's list, and more): each sequence does each.
KINDS = ["checkout", "edit", "stash", "reset", "touch", "same-second", "new", "delete", "transition"]


def _plan(root: Path) -> Repo:
    repo = written_plan(root, EPICS, PER_EPIC)
    repo.git("checkout", "-q", "-b", "other")
    rng = random.Random(7)
    for epic, number in rng.sample([(e, n) for e in range(1, EPICS + 1) for n in range(3, PER_EPIC + 1)], 10):
        repo.write(f".flow/tasks/{_task(epic, number)}.md",
                   _task_text(epic, number, rng.choice(["done", "blocked", "todo", "skipped"]),
                              title=f"Changed on other {number}"))
    repo.commit_all("ten tasks differ")
    repo.git("checkout", "-q", "main")
    return repo


def _answers(repo: Repo, extra: list[tuple[str, ...]]) -> list[str]:
    found = []
    for args in READS + extra:
        result = repo.flow(*args, "--json")
        found.append(f"{result.exit_code}:{result.stdout}")
    plain = repo.flow("board", "--plain")
    found.append(f"{plain.exit_code}:{plain.stdout}")
    return found


def _fresh_answers(repo: Repo, extra: list[tuple[str, ...]]) -> list[str]:
    """The answers with the cache deleted (the real cache is kept aside and put back)."""
    cache = repo.path / ".git" / "flow-cache"
    aside = repo.path / ".git" / "flow-cache-aside"
    if cache.exists():
        cache.rename(aside)
    try:
        return _answers(repo, extra)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        if aside.exists():
            aside.rename(cache)


def _task_files(repo: Repo) -> list[Path]:
    return sorted((repo.path / ".flow" / "tasks").glob("*.md"))


def _edit(path: Path, rng: random.Random) -> None:
    text = path.read_text()
    choice = rng.random()
    if choice < 0.4 and "status: todo" in text:
        text = text.replace("status: todo", "status: done")  # the same size
    elif choice < 0.6 and "status: done" in text:
        text = text.replace("status: done", "status: todo")
    elif choice < 0.8:
        text = text.replace("title: ", "title: Edited ", 1)
    else:
        text = text.replace("depends_on: [", "depends_on: [fn-1-e1.1, ", 1).replace(", ]", "]")
    path.write_text(text)


def _step(repo: Repo, rng: random.Random, kind: str) -> str:
    files = _task_files(repo)
    dirty = bool(repo.status().strip())
    if kind == "checkout":
        if dirty:
            repo.git("stash", "-q", "-u")
        current = repo.git("rev-parse", "--abbrev-ref", "HEAD").strip()
        repo.git("checkout", "-q", "main" if current == "other" else "other")
    elif kind == "edit":
        _edit(rng.choice(files), rng)
    elif kind == "stash":
        if not dirty and not repo.git("stash", "list").strip():
            _edit(rng.choice(files), rng)  # something to stash
            dirty = True
        if dirty:
            repo.git("stash", "-q", "-u")
        else:
            repo.git("stash", "pop", "-q", check=False)
    elif kind == "reset":
        if not dirty:
            _edit(rng.choice(files), rng)  # something to throw away
            repo.flow("status", "--json")  # read as edited, then reset
        repo.git("reset", "-q", "--hard")
    elif kind == "touch":
        path = rng.choice(files)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    elif kind == "same-second":
        # A read, then at once an edit of the same size with the mtime put back: only the
        # racy rule (and the ctime) can tell the file changed.
        path = rng.choice(files)
        repo.flow("status", "--json")
        before = path.stat()
        text = path.read_text()
        swapped = text.replace("status: todo", "status: TODO") if "status: todo" in text \
            else text.replace("title: ", "title= ", 1)
        path.write_text(swapped)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif kind == "new":
        epic = rng.randint(1, EPICS)
        number = PER_EPIC + rng.randint(1, 5)
        repo.write(f".flow/tasks/{_task(epic, number)}.md", _task_text(epic, number))
    elif kind == "delete":
        rng.choice(files).unlink()
    else:
        if dirty:
            repo.git("stash", "-q", "-u")  # the writer wants the task file clean
        ready = repo.flow("ready", "--json")
        if ready.exit_code == 0 and ready.json["ready"]:
            task = ready.json["ready"][0]["id"]
            assert repo.flow("start", task, "--json").exit_code == 0
            assert repo.flow("done", task, "--json").exit_code == 0
    return kind


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_answer_equals_the_answer_with_the_cache_deleted(tmp_path: Path, seed: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Each sequence does every kind of step at least once, in a random order with random
    repeats; after each, every read (warm, and once more from the snapshot it left) equals
    the read with the cache deleted. With seed 4 no changed file's bytes are kept from the
    stat pass (as when a cold read of a large plan passes the budget): each is read again."""
    if seed == 4:
        monkeypatch.setattr(catalog, "_PENDING_BYTES", 0)
    repo = _plan(tmp_path / "repo")
    rng = random.Random(seed)
    kinds = KINDS + [rng.choice(KINDS) for _ in range(5)]
    rng.shuffle(kinds)
    for kind in kinds:
        _step(repo, rng, kind)
        files = _task_files(repo)
        extra = [("show", rng.choice(files).stem)] if files else []
        warm = _answers(repo, extra)
        assert warm == _answers(repo, extra), kind  # answered again from the snapshot
        assert warm == _fresh_answers(repo, extra), kind


# A cold read, then a warm one --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["deleted", "clone"])
@pytest.mark.parametrize("args", [("status",), ("show", "fn-1-e1.3"), ("tasks",), ("list",), ("epics",),
                                  ("ready",), ("ready", "--epic", "fn-2"), ("next",), ("blocked",),
                                  ("validate",), ("board",)], ids=lambda args: "-".join(args))
def test_the_read_after_a_cold_read_is_warm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            how: str, args: tuple[str, ...]) -> None:
    """A cold read (no flow-cache/: a fresh clone, or the cache deleted) answers and leaves
    the snapshot; the read after it prints the answer kept: no plan file read or parsed, the
    normal (click) path not entered."""
    from git_flowctl import cli
    from git_flowctl.views import lean

    repo = _plan(tmp_path / "repo")
    if how == "clone":
        repo.git("clone", "-q", str(repo.path), str(tmp_path / "clone"))
        repo = Repo(tmp_path / "clone")
    shutil.rmtree(repo.path / ".git" / "flow-cache", ignore_errors=True)
    old = time.time_ns() - 3600 * 1_000_000_000  # files older than the racy window
    for path in (repo.path / ".flow").rglob("*"):
        os.utime(path, ns=(old, old))
    cold = repo.flow(*args, "--json")
    assert cold.exit_code == 0 and cold.json["success"] is True, cold

    read: list[str] = []
    parsed: list[str] = []
    kept: list[int] = []
    real_read, real_parse, real_answer = catalog._Refresh.read, catalog.parse_entry, lean.read_answer

    def read_answer(cache: PlanCache, key: tuple[object, ...] | None) -> tuple[str, int] | None:
        found = real_answer(cache, key)
        kept.append(found is not None)
        return found

    def normal_path(argv: list[str]) -> int:
        raise AssertionError(f"the normal path answered {argv}")

    monkeypatch.setattr(catalog._Refresh, "read", lambda self, path: read.append(path) or real_read(self, path))
    monkeypatch.setattr(catalog, "parse_entry",
                        lambda path, raw, blob: parsed.append(path) or real_parse(path, raw, blob))
    monkeypatch.setattr(lean, "read_answer", read_answer)
    monkeypatch.setattr(cli, "run", normal_path)
    warm = repo.flow(*args, "--json")
    assert (warm.exit_code, warm.stdout) == (cold.exit_code, cold.stdout)
    assert kept == [True] and read == [] and parsed == []


# The racy rule itself ----------------------------------------------------------------------------


def _catalog(repo: Repo) -> catalog.Catalog:
    return work_tree_catalog(PlanCache(repo.path / ".git", repo.path), str(repo.path))


def test_a_racy_file_is_hashed_again_even_when_its_stat_data_is_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git's racy-git rule: a file modified within the timestamp of the snapshot may change
    again with the same size and mtime (a coarse file system, or the same tick); its stat data
    proves nothing, so its content is read and hashed again."""
    repo = _plan(tmp_path / "repo")
    path = repo.path / ".flow" / "tasks" / f"{_task(1, 5)}.md"
    _catalog(repo)
    path.write_text(_task_text(1, 5, "todo"))  # modified just now: racy
    first = _catalog(repo)
    stat = os.stat(path)
    path.write_text(_task_text(1, 5, "done"))  # the same size
    real_stat = os.stat

    def same_stat(target: str | os.PathLike[str], *args: object, **kwargs: object) -> os.stat_result:
        return stat if Path(target) == path else real_stat(target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(catalog.os, "stat", same_stat)
    second = _catalog(repo)
    name = path.name
    assert first.dirs[".flow/tasks"][name][1][3] == "todo"
    assert second.dirs[".flow/tasks"][name][1][3] == "done"  # read again although stat says same


def test_an_old_file_with_unchanged_stat_data_is_trusted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other side of the rule: a file older than the racy window is not read again while
    its stat data is unchanged (what makes a read cost a stat per file, not a read)."""
    repo = _plan(tmp_path / "repo")
    old = time.time_ns() - 3600 * 1_000_000_000
    for path in (repo.path / ".flow").rglob("*"):
        os.utime(path, ns=(old, old))
    _catalog(repo)
    _catalog(repo)  # taken after the mtime by more than the racy window
    reads: list[str] = []
    real_open = open

    def counting_open(file: object, *args: object, **kwargs: object) -> object:
        reads.append(str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", counting_open)
    _catalog(repo)
    assert not [name for name in reads if name.endswith(".md")]


def test_tree_catalogs_stored_as_deltas_equal_whole_reads(tmp_path: Path) -> None:
    """After each commit the writer stores the new tree's catalog as a delta from its base
    (the files it wrote), one in ``_MAX_DELTAS`` whole; loaded, each equals the catalog built
    from the tree, also when the whole ones a chain starts from are gone."""
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.workspace import Workspace

    repo = _plan(tmp_path / "repo")
    repo.git("checkout", "-q", "main")
    tasks = [_task(epic, number) for number in range(3, PER_EPIC + 1) for epic in range(1, EPICS + 1)]
    for task in tasks[:catalog._MAX_DELTAS // 2 + 2]:  # two commits each
        repo.ok("start", task)
        repo.ok("done", task)
    directory = repo.path / ".git" / "flow-cache" / "plan"
    names = sorted(path.name for path in directory.iterdir())
    assert any(name.startswith("treed-") for name in names)
    assert sum(name.startswith("tree-") for name in names) >= 2  # one stored whole on the way

    def facts() -> tuple[object, ...]:
        catalog._LOADED_TREES.clear()  # as a new command finds it
        ws = Workspace(repo.path)
        plan = Plan.load(ws.revision_source("HEAD"), cache=ws.plan_cache)
        return (dict(plan.facts.tasks.items()), dict(plan.facts.epics.items()), plan.config.raw)

    stored = facts()
    for path in directory.iterdir():
        if path.name.startswith("tree-"):
            path.unlink()  # a chain whose start is gone: built from the tree again
    assert facts() == stored
    shutil.rmtree(directory)
    assert facts() == stored


# The work tree's rows after a few files changed ----------------------------------------------------


def test_a_hand_edit_stores_the_rows_as_a_delta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read after one file changed stores the entries changed since the whole rows file
    (``rowsd-*``), not every row again (50,000 at a time, issue #11); many changes, and the
    rows are stored whole again. Each answer equals the answer with the cache deleted, also
    when the whole rows file a delta builds on is gone."""
    repo = _plan(tmp_path / "repo")
    directory = repo.path / ".git" / "flow-cache" / "plan"
    repo.ok("status")
    whole = next(directory.glob("rows-*"))
    before = whole.read_bytes()
    files = _task_files(repo)
    rng = random.Random(3)
    for path in files[:3]:
        _edit(path, rng)
        assert _answers(repo, []) == _fresh_answers(repo, [])
    assert whole.read_bytes() == before  # not written again
    delta = next(directory.glob("rowsd-*"))
    assert delta.stat().st_size < len(before) / 4

    whole.unlink()  # the base of the delta is gone: the files are read again
    _edit(files[4], rng)
    assert _answers(repo, []) == _fresh_answers(repo, [])
    rebuilt = whole.read_bytes()

    monkeypatch.setattr(catalog, "_DELTA_ROWS", 2)
    for path in files[5:9]:  # more changed files than a delta holds: whole again
        _edit(path, rng)
    assert _answers(repo, []) == _fresh_answers(repo, [])
    assert whole.read_bytes() != rebuilt


def test_a_hand_edit_is_parsed_not_looked_for_in_whole_tree_catalogs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A blob made by a hand edit is in no stored catalog: it is parsed, and the tree
    catalogs (tens of megabytes at 50,000 tasks) are not loaded to look for it. After a
    checkout that changed many files, they are: a branch read before is in its catalog."""
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.workspace import Workspace

    repo = _plan(tmp_path / "repo")
    ws = Workspace(repo.path)
    for rev in ("main", "other"):
        Plan.load(ws.revision_source(rev), cache=ws.plan_cache)  # their tree catalogs stored
    _catalog(repo)
    read: list[str] = []
    real_read = PlanCache.read
    monkeypatch.setattr(PlanCache, "read", lambda self, name: read.append(name) or real_read(self, name))
    _edit(_task_files(repo)[0], random.Random(1))
    _catalog(repo)
    assert read and not [name for name in read if name.startswith("tree-")]

    monkeypatch.setattr(catalog, "_PARSE_FIRST", 2)
    read.clear()
    repo.git("checkout", "-q", "--", ".")
    repo.git("checkout", "-q", "other")  # ten tasks differ
    _catalog(repo)
    assert [name for name in read if name.startswith("tree-")]


def test_the_read_after_an_edit_follows_the_states_derived_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read after a few task files changed takes the states derived from the snapshot
    before and computes only the changed tasks and those depending on them (PlanFacts.follow,
    tests/test_follow.py); an epic file changed, and they are computed whole."""
    from git_flowctl.model.facts import PlanFacts

    repo = _plan(tmp_path / "repo")
    repo.ok("status")
    taken: list[bool] = []
    real_follow = PlanFacts.follow

    def follow(self: PlanFacts, before: dict[str, object], changed: list[str]) -> None:
        real_follow(self, before, changed)
        taken.append(self._effective is not None)

    def answers() -> list[object]:
        return [repo.ok(*args) for args in (("status",), ("tasks",), ("blocked",))]

    monkeypatch.setattr(PlanFacts, "follow", follow)
    _edit(_task_files(repo)[2], random.Random(5))
    followed = answers()
    assert taken[:1] == [True]
    shutil.rmtree(repo.path / ".git" / "flow-cache")
    assert answers() == followed
    taken.clear()
    epic = next((repo.path / ".flow" / "epics").glob("*.md"))
    epic.write_text(epic.read_text().replace("title: ", "title: Edited ", 1))
    answers()
    assert taken == []
