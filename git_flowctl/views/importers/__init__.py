"""Bringing a plan in from elsewhere: the shared core of `import flowctl` and `import json`.

An importer reads its input and renders each epic and task as the file it becomes here
(``Incoming``). ``build_change`` then compares those files with the base tree the writer read and
makes the one commit that adds what is missing, with an ``action=import`` transition per file:

- a file that is already there with the same bytes is left alone (a second import of the same
  data has nothing to do);
- a file that is already there with other content is never overwritten: the import is refused
  and lists every such ID, unless the path belongs to the input itself (``replaceable``: an
  in-place flowctl import replaces flowctl's own task specs);
- an epic number already used by another epic is refused the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from git_flowctl.changes import ops
from git_flowctl.changes.ops import Context, evidence_trailer, transition
from git_flowctl.model import ids
from git_flowctl.model.config import CONFIG_PATH, Config
from git_flowctl.model.document import Document, DocumentError
from git_flowctl.model.errors import FlowError
from git_flowctl.model.items import EPICS_DIR, TASKS_DIR, Epic, Task
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.sources import Source
from git_flowctl.repo.writer import Change
from git_flowctl.views.text import plural as _plural

ConfigMerge = Callable[[bytes | None], "ConfigOutcome"]


@dataclass(frozen=True)
class ConfigOutcome:
    """What an import does to ``.flow/config.yaml``: new bytes, nothing, or a conflict."""

    content: bytes | None = None
    conflict: str | None = None


@dataclass
class Incoming:
    """One epic or task as it will be written here."""

    kind: str  # "epic" or "task"
    id: str
    path: str
    content: bytes
    status: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportSet:
    """Everything an importer read, ready for ``build_change``."""

    source: str  # "flowctl" or "json": the trailers' from= and the messages
    label: str  # what was read, as the user named it
    items: list[Incoming]
    config: ConfigMerge
    replaceable: frozenset[str] = frozenset()
    removals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    nothing_message: str | None = None  # what to say when there is nothing to write


def load_plan_past_foreign_files(source: Source) -> Plan:
    """The base plan, skipping files that are not ours (flowctl's specs, before an in-place import).

    Files that do not parse are not lost: ``build_change`` compares every path it writes byte for
    byte, so a foreign or broken file in the way is reported, never overwritten silently.
    """
    config_bytes = source.read(CONFIG_PATH)
    epics: list[Epic] = []
    tasks: list[Task] = []
    for directory, kind in ((EPICS_DIR, Epic), (TASKS_DIR, Task)):
        for name in source.list_files(directory):
            raw = source.read(f"{directory}/{name}") if name.endswith(".md") else None
            if raw is None:
                continue
            try:
                item = kind.from_document(Document.parse(raw, f"{directory}/{name}"), name[:-3])
            except DocumentError:
                continue
            if isinstance(item, Epic):
                epics.append(item)
            else:
                tasks.append(item)
    return Plan.of_items(source, Config.parse(config_bytes), epics, tasks,
                         initialized=config_bytes is not None or bool(epics or tasks))


def build_change(plan: Plan, incoming: ImportSet, ctx: Context) -> Change:
    writes: dict[str, bytes | None] = {}
    created: list[str] = []
    unchanged: list[str] = []
    differing: list[str] = []
    transitions = []
    evidence = []
    numbers = {epic.number: epic.id for epic in plan.epics.values()}
    for item in incoming.items:
        current = plan.source.read(item.path)
        if current == item.content:
            unchanged.append(item.id)
            continue
        if current is not None and item.path not in incoming.replaceable:
            differing.append(item.id)
            continue
        if item.kind == "epic":
            holder = numbers.get(ids.epic_number(item.id))
            if holder is not None and holder != item.id:
                differing.append(f"{item.id} (number taken by {holder})")
                continue
        writes[item.path] = item.content
        transitions.append(transition(item.id, None, item.status, "import", ctx,
                                      origin=incoming.source))
        if item.evidence:
            evidence.append(evidence_trailer(item.id, item.evidence))
        created.append(item.id)
    config = incoming.config(plan.source.read(CONFIG_PATH))
    if config.conflict:
        differing.append(config.conflict)
    if differing:
        hint = ("an import never overwrites; compare with `git flow-task show ID`, "
                "then remove or rename what is in the way")
        if config.conflict and incoming.source == "json":
            hint += "; --keep-config imports the plan and keeps this repository's config.yaml"
        raise FlowError(
            f"cannot import: {len(differing)} already here with different content: "
            + ", ".join(differing), hint=hint, differing=differing)
    if config.content is not None:
        if not plan.initialized:  # what `init` would add besides config.yaml comes along
            writes.update({path: content for path, content in ops.init(plan).writes.items()
                           if path != CONFIG_PATH})
        writes[CONFIG_PATH] = config.content
    removed = [path for path in incoming.removals if plan.source.read(path) is not None]
    for path in removed:
        writes[path] = None
    epics = [item.id for item in incoming.items if item.kind == "epic"]
    tasks = [item.id for item in incoming.items if item.kind == "task"]
    made_epics = sum(1 for item in incoming.items if item.kind == "epic" and item.id in created)
    made_tasks = len(created) - made_epics
    if writes:
        message = (f"imported {_plural(made_epics, 'epic')} and {_plural(made_tasks, 'task')} "
                   f"from {incoming.label}")
    elif incoming.nothing_message:
        message = incoming.nothing_message
    else:
        message = (f"nothing to import: the {_plural(len(epics), 'epic')} and "
                   f"{_plural(len(tasks), 'task')} of {incoming.label} are already here, unchanged")
    result: dict[str, Any] = {
        "source": incoming.source,
        "path": incoming.label,
        "epics": epics,
        "tasks": tasks,
        "created": created,
        "unchanged": unchanged,
        "removed": removed,
        "config_written": CONFIG_PATH in writes,
        "warnings": incoming.warnings,
        **incoming.details,
        "message": message,
    }
    return Change(f"flow: import {_plural(made_epics, 'epic')}, {_plural(made_tasks, 'task')} "
                  f"from {incoming.source}", writes, transitions, evidence, result=result)
