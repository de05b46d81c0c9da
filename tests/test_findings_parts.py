"""A tree's findings computed from its parent's (issue #11): equal to computing them whole.

`check` walks a branch commit by commit and the pre-commit hook checks the index against HEAD;
both derive a snapshot from the one before (``Snapshot.derive``) and its findings from the one
before's (``Snapshot.finding_parts``). Over randomized edit sequences on small plans full of
problems (missing epics and dependencies, cycles, duplicate IDs and epic numbers, done epics with
open tasks, invalid fields, moved lines), every derived snapshot's findings equal those of the
same files read whole, line numbers included; so do its statuses, tables and effective states,
also when its base was stored and read back (``Snapshot.record``: items made when looked at).
"""

from __future__ import annotations

import hashlib
import random

import pytest

from git_flowctl.guard import validate
from git_flowctl.model.layout import CONFIG_PATH, EPICS_DIR, TASKS_DIR

STATUSES = ["todo", "in_progress", "done", "blocked", "failed", "skipped", "bogus"]
EPIC_STATUSES = ["open", "done", "closed"]


class MemorySource:
    """A tree of files in memory, as the validator reads a commit's."""

    def __init__(self, files: dict[str, bytes], label: str = "memory") -> None:
        self.files = dict(files)
        self.label = label

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)

    def blob_id(self, path: str) -> str | None:
        raw = self.files.get(path)
        return hashlib.sha1(raw).hexdigest() if raw is not None else None

    def walk_entries(self, directory: str) -> list[tuple[str, str | None]]:
        return sorted((path, self.blob_id(path)) for path in self.files
                      if path.startswith(directory + "/"))


def epic_id(number: int) -> str:
    return f"fn-{number}-e{number}"


def task_id(epic: int, number: int) -> str:
    return f"{epic_id(epic)}.{number}"


def task_file(rng: random.Random, epic: int, number: int, epics: int, per_epic: int) -> bytes:
    deps = [task_id(rng.randint(1, epics), rng.randint(1, per_epic + 1))
            for _ in range(rng.choice([0, 0, 1, 1, 2]))]
    if number > 1 and rng.random() < 0.6:
        deps.append(task_id(epic, number - 1))
    owner = epic if rng.random() < 0.9 else epics + 1  # sometimes an epic that does not exist
    lines = ["---"] + ["# a comment"] * rng.choice([0, 0, 1, 2]) + [
        f"id: {task_id(epic, number)}",
        f"epic: {epic_id(owner)}",
        f"title: Task {number}",
        f"status: {rng.choice(STATUSES)}",
        f"depends_on: [{', '.join(dict.fromkeys(deps))}]",
        "---",
        "## Description",
        "x",
        "",
        "## Acceptance",
        "- [ ] y",
        "",
    ]
    if rng.random() < 0.1:
        lines.remove("## Acceptance")  # a missing section
    return ("\n".join(lines) + "\n").encode()


def epic_file(rng: random.Random, number: int, epics: int) -> bytes:
    deps = [epic_id(rng.randint(1, epics + 1)) for _ in range(rng.choice([0, 0, 1]))]
    return (f"---\nid: {epic_id(number)}\ntitle: Epic {number}\n"
            f"status: {rng.choice(EPIC_STATUSES)}\n"
            f"depends_on_epics: [{', '.join(deps)}]\n---\n## Overview\nx\n").encode()


def plan(rng: random.Random, epics: int, per_epic: int) -> dict[str, bytes]:
    files = {CONFIG_PATH: b"prefix: fn\n"}
    for epic in range(1, epics + 1):
        files[f"{EPICS_DIR}/{epic_id(epic)}.md"] = epic_file(rng, epic, epics)
        for number in range(1, per_epic + 1):
            files[f"{TASKS_DIR}/{task_id(epic, number)}.md"] = task_file(rng, epic, number, epics, per_epic)
    # a copy under another name: a duplicate ID; an epic with the number of another
    files[f"{TASKS_DIR}/{task_id(1, 1)}-copy.md"] = files[f"{TASKS_DIR}/{task_id(1, 1)}.md"]
    files[f"{EPICS_DIR}/fn-2-other.md"] = epic_file(rng, 2, epics).replace(
        f"id: {epic_id(2)}".encode(), b"id: fn-2-other")
    return files


def edit(rng: random.Random, files: dict[str, bytes], epics: int, per_epic: int) -> dict[str, bytes | None]:
    """One commit's worth of changes: mostly new versions of existing files with the same ID (a
    transition, a dependency edit, moved lines), sometimes a new or deleted file."""
    changes: dict[str, bytes | None] = {}
    paths = sorted(path for path in files if path != CONFIG_PATH)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        path = rng.choice(paths)
        text = files[path]
        roll = rng.random()
        if roll < 0.05:
            changes[path] = None
        elif roll < 0.08:
            number = rng.randint(1, epics)
            changes[f"{TASKS_DIR}/{task_id(number, per_epic + 1)}.md"] = task_file(
                rng, number, per_epic + 1, epics, per_epic)
        elif path.startswith(TASKS_DIR) and b"-copy" not in path.encode():
            name = path.rsplit("/", 1)[1][:-3]  # fn-3-e3.5
            epic, number = int(name.split("-")[1]), int(name.rsplit(".", 1)[1])
            new = task_file(rng, epic, number, epics, per_epic)
            if rng.random() < 0.5:  # only the status: the rest as it was
                old_status = next(line for line in text.split(b"\n") if line.startswith(b"status:"))
                new = text.replace(old_status, f"status: {rng.choice(STATUSES)}".encode())
            changes[path] = new
        elif path.startswith(EPICS_DIR) and path.endswith(f"{epic_id(int(path.split('-')[1]))}.md"):
            changes[path] = epic_file(rng, int(path.split("-")[1]), epics)
        else:
            changes[path] = text.replace(b"---\n", b"---\n# moved\n", 1)
    if rng.random() < 0.05:
        changes[CONFIG_PATH] = b"prefix: fn\nmax_retries: 3\n"
    return changes


@pytest.mark.parametrize("seed", range(12))
def test_derived_findings_equal_whole_findings(seed: int) -> None:
    rng = random.Random(seed)
    epics, per_epic = 6, 8
    files = plan(rng, epics, per_epic)
    source = MemorySource(files)
    snapshot = validate.Snapshot.load(source)
    snapshot.content = "tree:start"
    snapshot.finding_parts()
    derived_simply = 0
    for step in range(40):
        changes = edit(rng, files, epics, per_epic)
        for path, content in changes.items():
            if content is None:
                files.pop(path, None)
            else:
                files[path] = content
        source = MemorySource(files, label=f"step {step}")
        blobs = {path: source.blob_id(path) for path in changes}
        if step % 5 == 1:  # as a command after this one finds it: stored, its files not parsed
            parts = snapshot._parts
            snapshot = validate.Snapshot.from_record(snapshot.label, snapshot.record())
            assert snapshot is not None
            snapshot.content = "tree:stored"
            snapshot._parts = parts if step % 10 == 1 else None
        derived = snapshot.derive(source.label, blobs, source.read, None)
        whole = validate.Snapshot.load(source)
        derived_simply += derived._simple
        if step % 7 == 3:
            snapshot = derived  # a chain of derived snapshots, whose parts were never asked
            continue
        assert derived.findings() == whole.findings(), (seed, step, changes)
        assert [part for part in derived.finding_parts()] == [part for part in whole.finding_parts()]
        assert derived.statuses() == whole.statuses()
        assert list(derived.tasks) == list(whole.tasks) and list(derived.epics) == list(whole.epics)
        assert [(i.path, i.id, i.status) for i in derived.items] == \
            [(i.path, i.id, i.status) for i in whole.items]
        for subject in whole.tasks:
            assert derived.state_of(subject) == whole.state_of(subject)
        snapshot = derived
    assert derived_simply >= 20


@pytest.mark.parametrize("stored", [False, True], ids=["read", "stored"])
def test_a_long_chain_of_transitions_shares_its_tables_and_equals_whole_reads(stored: bool) -> None:
    """A branch of transitions derives each snapshot from the one before without copying its
    tables (``validate._layer``: the base's table and the values replaced since, flattened into
    a new table once they grow). Every link of a long chain, from a base read whole or stored
    (its items made when looked at), holds what the same files read whole hold, in the same
    order, and its findings are the same."""
    rng = random.Random(11)
    epics, per_epic = 6, 8
    files = plan(rng, epics, per_epic)
    base = validate.Snapshot.load(MemorySource(files))
    if stored:
        found = validate.Snapshot.from_record("stored", base.record())
        assert found is not None
        base = found
    base.content = "tree:start"
    base.finding_parts()
    base.statuses()
    snapshot = base
    kinds: set[str] = set()
    # not the task whose copy holds its ID (the copy's file name comes first): not a transition
    tasks = sorted(path for path in files if path.startswith(TASKS_DIR) and task_id(1, 1) not in path)
    for step in range(150):
        changes: dict[str, bytes | None] = {}
        for path in rng.sample(tasks, rng.choice([1, 1, 2])):  # a transition: a new status
            old_status = next(line for line in files[path].split(b"\n") if line.startswith(b"status:"))
            changes[path] = files[path].replace(old_status, f"status: {rng.choice(STATUSES)}".encode())
        files.update({path: text for path, text in changes.items() if text is not None})
        source = MemorySource(files, label=f"step {step}")
        snapshot = snapshot.derive(source.label, {path: source.blob_id(path) for path in changes},
                                   source.read, None)
        assert snapshot._simple
        kinds.add(type(snapshot.tasks).__name__)
        if step % 10 and step != 149:
            continue
        whole = validate.Snapshot.load(source)
        assert [(key, item.record()) for key, item in snapshot.tasks.items()] == \
            [(key, item.record()) for key, item in whole.tasks.items()]
        assert dict(snapshot.blobs or {}) == whole.blobs and len(snapshot.tasks) == len(whole.tasks)
        assert list(snapshot.by_path()) == list(whole.by_path())
        assert snapshot.tasks.keys() | whole.epics.keys() == whole.tasks.keys() | whole.epics.keys()
        assert dict(snapshot.statuses()) == {**snapshot._status_table()}
        assert snapshot.statuses() == whole.statuses() and list(snapshot.statuses()) == list(whole.statuses())
        assert snapshot.findings() == whole.findings(), step
        assert all(subject in snapshot.tasks and snapshot.tasks.get(subject) is snapshot.tasks[subject]
                   for subject in whole.tasks)
        for subject in whole.tasks:
            assert snapshot.state_of(subject) == whole.state_of(subject)
    assert "_Layered" in kinds and kinds - {"_Layered"}  # shared, and flattened on the way
    assert base.statuses() == validate.Snapshot.load(MemorySource(plan(random.Random(11), epics, per_epic))).statuses()
