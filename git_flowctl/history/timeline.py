"""`log`: the transitions of a task, an epic or the whole plan, from replayed history.

Shared by the click command and the lean path in ``entry.py`` (``log ... --json`` without click,
pygit2 or YAML), so both print the same document (docs/history.md has its shape).
"""

from __future__ import annotations

import json
import sys

from git_flowctl.history.replay import GitReader, History, replay
from git_flowctl.model import ids
from git_flowctl.model.errors import FlowError, UsageError

TYPE_CHECKING = False  # typing costs start-up time that this lean path avoids
if TYPE_CHECKING:
    from typing import Any


def epic_subjects(history: History) -> set[str]:
    """Every epic history knows: those with their own transitions and those of its tasks."""
    found = set()
    for subject in history.subjects():
        found.add(ids.epic_of(subject) if "." in subject else subject)
    return found


def tree_ids(git: GitReader, rev: str) -> list[str]:
    """The task and epic IDs whose files REV's tree holds (one `git ls-tree`)."""
    result = git.run("ls-tree", "-z", "--name-only", rev, "--", ".flow/tasks/", ".flow/epics/")
    names = result.stdout.decode("utf-8", "replace").split("\0") if result.returncode == 0 else []
    return sorted(name.rpartition("/")[2][:-3] for name in names if name.endswith(".md"))


def select(history: History, ref: str | None, epic: str | None,
           git: GitReader | None = None, rev: str = "HEAD") -> tuple[list[str] | None, str | None, str | None]:
    """(subjects to show or None for all, the task or epic ID resolved, the epic resolved).
    An ID history has no transition for is looked up among REV's files too (``git``): a
    shallow clone's history starts at its boundary, and such a task has no events to show."""
    if ref and epic:
        raise UsageError("give a TASK or --epic, not both")
    if epic is None and ref is None:
        return None, None, None
    if ref is not None:
        subjects = history.subjects()
        parsed = ids.parse_id(ref)
        if parsed is not None and not parsed.is_task:
            epic = ref
        else:
            try:
                found = ids.resolve(ref, subjects, kind="task")
            except FlowError:
                if git is None:
                    raise
                found = ids.resolve(ref, sorted({*subjects, *tree_ids(git, rev)}), kind="task")
            return [found], found, None
    assert epic is not None
    try:
        epic_id = ids.resolve(epic, sorted(epic_subjects(history)), kind="epic")
    except FlowError:
        if git is None:
            raise
        known = {*epic_subjects(history), *(ids.epic_of(item) if "." in item else item
                                            for item in tree_ids(git, rev))}
        epic_id = ids.resolve(epic, sorted(known), kind="epic")
    chosen = [s for s in history.subjects() if s == epic_id or ids.epic_of(s) == epic_id]
    return chosen, epic_id, epic_id


def log_report(history: History, rev: str, ref: str | None, epic: str | None,
               git: GitReader | None = None) -> dict[str, Any]:
    subjects, resolved, epic_id = select(history, ref, epic, git, rev)
    events = history.events(subjects)
    return {
        "rev": rev,
        "head": history.head,
        "id": resolved,
        "epic": epic_id,
        "shallow": history.shallow,
        "count": len(events),
        "events": [event.as_json() for event in events],
    }


def fast_log(args: list[str]) -> int | None:
    """``log [ID | --epic E] --json`` without loading the CLI; None to take the normal path
    (any other option, human output, or an error, which the normal path reports)."""
    rest = [arg for arg in args[1:] if arg != "--json"]
    if len(rest) == len(args) - 1:
        return None  # no --json: human output needs rich
    ref = epic = None
    if len(rest) == 2 and rest[0] == "--epic":
        epic = rest[1]
    elif len(rest) == 1 and not rest[0].startswith("-"):
        ref = rest[0]
    elif rest:
        return None
    try:
        located = GitReader.locate()
        read = located.first_parent_records("HEAD", 32) if located is not None else None
        if located is not None and read is not None:  # one git process in all
            git, (chain, records) = located, read
            history = replay(git, "HEAD", chain=chain, chain_records=records, save=False)
        else:
            git, chain = GitReader.discover_with_chain("HEAD", 32)
            history = replay(git, "HEAD", chain=chain, save=False)
        report = log_report(history, "HEAD", ref, epic, git)
        history.flush()  # one cache write: the fold with what `log` checked of it
    except FlowError:
        return None
    sys.stdout.write(json.dumps({"success": True, **report}, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0
