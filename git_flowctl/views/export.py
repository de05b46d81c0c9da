"""`export --json` and `import json`: the whole plan as one versioned JSON document.

The document holds everything the files hold (every frontmatter field, unknown keys under
``extra``, the Markdown body) and, under ``derived``, what readers compute from them (effective
state, ready/waiting, what blocks a task, epic progress). ``import json`` writes the files back
from the stored parts and ignores the derived ones, so exporting, importing into an empty
repository and exporting again gives the same document; only ``source.commit`` (the commit it
was read from) belongs to one repository. Like every read command's JSON, the document does not
say whether it came from the working tree or ``--rev HEAD``: with a clean tree they are equal.

    {"format": "git-flow-task-export", "version": 1,
     "source": {"commit": "<sha>"},      the commit read (HEAD, for the working tree)
     "config": {...},                    .flow/config.yaml as data
     "epics": [{"id", "path", <every epic field, null when absent>, "extra": {...},
                "body": "...", "derived": {"tasks", "total", "done", "finished", "states"}}],
     "tasks": [{"id", "path", <every task field, null when absent>, "extra": {...},
                "body": "...", "derived": {"state", "view_state", "blocked_by", "waiting_on", "dependents"}}],
     "dependencies": [{"task", "depends_on"}], "epic_dependencies": [{"epic", "depends_on"}],
     "archive": {"epics": [...], "tasks": [...]},   `epic archive`d items, stored parts only
     "counts": {"epics", "tasks", "states": {...}}}
"""

from __future__ import annotations

import json
from typing import Any

from git_flowctl.model import ids, states
from git_flowctl.model.config import CONFIG_PATH, CONFIG_TEMPLATE, Config
from git_flowctl.model.document import Document, DocumentError, dump_yaml, load_yaml
from git_flowctl.model.errors import FlowError
from git_flowctl.model.items import (
    EPIC_KEY_ORDER,
    TASK_KEY_ORDER,
    Epic,
    Task,
    archived_epic_path,
    archived_task_path,
    epic_field_problems,
    epic_path,
    task_field_problems,
    task_path,
)
from git_flowctl.repo.plan import Plan
from git_flowctl.views.importers import ConfigMerge, ConfigOutcome, ImportSet, Incoming
from git_flowctl.views.shapes import state_counts

FORMAT = "git-flow-task-export"
VERSION = 1


def export_plan(plan: Plan, *, commit: str | None) -> dict[str, Any]:
    epics = [_epic_entry(plan, epic) for epic in plan.sorted_epics()]
    tasks = [_task_entry(plan, task) for task in plan.sorted_tasks()]
    return {
        "format": FORMAT,
        "version": VERSION,
        "source": {"commit": commit},
        "config": plan.config.raw,
        "epics": epics,
        "tasks": tasks,
        "dependencies": [{"task": task.id, "depends_on": dep}
                         for task in plan.sorted_tasks() for dep in task.depends_on],
        "epic_dependencies": [{"epic": epic.id, "depends_on": dep}
                              for epic in plan.sorted_epics() for dep in epic.depends_on_epics],
        "archive": _archive(plan),
        "counts": {"epics": len(epics), "tasks": len(tasks),
                   "states": state_counts(plan.facts, list(plan.tasks))},
    }


def _archive(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Archived epics and tasks (`epic archive`), stored parts only: they are history."""
    epics = [plan.archived_epic(epic_id) for epic_id in sorted(plan.archived_epic_ids(),
                                                                key=ids.id_sort_key)]
    tasks = [plan.archived_task(task_id) for task_id in sorted(plan.archived_task_ids(),
                                                                key=ids.id_sort_key)]
    return {
        "epics": [_stored(epic.doc, EPIC_KEY_ORDER) for epic in epics if epic is not None],
        "tasks": [_stored(task.doc, TASK_KEY_ORDER) for task in tasks if task is not None],
    }


def _stored(doc: Document, order: tuple[str, ...]) -> dict[str, Any]:
    known, extra = _fields(doc, order)
    return {**known, "path": doc.path, "extra": extra, "body": doc.body}


def _fields(doc: Document, order: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    known = {key: doc.data.get(key) for key in order}
    extra = {key: value for key, value in doc.data.items() if key not in order}
    return known, extra


def _epic_entry(plan: Plan, epic: Epic) -> dict[str, Any]:
    known, extra = _fields(epic.doc, EPIC_KEY_ORDER)
    tasks = plan.tasks_of(epic.id)
    return {
        **known, "path": epic.path, "extra": extra, "body": epic.doc.body,
        "derived": {
            "tasks": [task.id for task in tasks],
            "total": len(tasks),
            "done": sum(1 for task in tasks if task.status == "done"),
            "finished": sum(1 for task in tasks if task.status in ("done", "skipped")),
            "states": state_counts(plan.facts, [task.id for task in tasks]),
        },
    }


def _task_entry(plan: Plan, task: Task) -> dict[str, Any]:
    known, extra = _fields(task.doc, TASK_KEY_ORDER)
    return {
        **known, "path": task.path, "extra": extra, "body": task.doc.body,
        "derived": {
            "state": plan.state_of(task.id),
            "view_state": plan.view_state(task.id),
            "blocked_by": plan.unsatisfied_dependencies(task),
            "waiting_on": plan.facts.waiting_on(plan.facts.tasks[task.id])
            if plan.state_of(task.id) in states.STARTABLE else [],
            "dependents": [other.id for other in plan.dependents(task.id)],
        },
    }


# import json ------------------------------------------------------------------------------------


def read_document(text: str, label: str, *, keep_config: bool = False) -> ImportSet:
    """An export document, checked, as the files to write. ``keep_config``: leave this
    repository's config.yaml as it is (or as `init` writes it), whatever the document holds."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlowError(f"{label}:{exc.lineno}: invalid JSON: {exc.msg}",
                        hint="give a file written by `git flow-task export --json`") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise FlowError(f"{label} is not a git flow-task export (no \"format\": \"{FORMAT}\")",
                        hint="write one with `git flow-task export --json > plan.json`")
    version = document.get("version")
    if version != VERSION:
        raise FlowError(f"{label}: export version {version!r} is not one this version reads "
                        f"({VERSION})", hint="import it with the git flow-task that wrote it")
    items: list[Incoming] = []
    for entry in _entries(document, "epics", label):
        items.append(_incoming(entry, "epic", label))
    for entry in _entries(document, "tasks", label):
        items.append(_incoming(entry, "task", label))
    archive = document.get("archive") or {}
    if not isinstance(archive, dict):
        raise FlowError(f"{label}: `archive` must be an object")
    for entry in _entries(archive, "epics", label):
        items.append(_incoming(entry, "epic", label, archived=True))
    for entry in _entries(archive, "tasks", label):
        items.append(_incoming(entry, "task", label, archived=True))
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise FlowError(f"{label}: `config` must be an object")
    return ImportSet("json", label, items, _config_merge({} if keep_config else config,
                                                         keep=keep_config))


def _entries(document: dict[str, Any], key: str, label: str) -> list[dict[str, Any]]:
    entries = document.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise FlowError(f"{label}: `{key}` must be a list of objects")
    return entries


def _incoming(entry: dict[str, Any], kind: str, label: str, *, archived: bool = False) -> Incoming:
    order = EPIC_KEY_ORDER if kind == "epic" else TASK_KEY_ORDER
    item_id = entry.get("id")
    valid = ids.is_epic_id if kind == "epic" else ids.is_task_id
    if not isinstance(item_id, str) or not valid(item_id):
        raise FlowError(f"{label}: {kind} entry with id {item_id!r} is not a {kind} ID")
    extra = entry.get("extra") or {}
    body = entry.get("body")
    if not isinstance(extra, dict) or not isinstance(body, str):
        raise FlowError(f"{label}: {item_id}: `extra` must be an object and `body` text")
    data = {key: entry[key] for key in order if entry.get(key) is not None}
    data.update(extra)
    if archived:
        path = archived_epic_path(item_id) if kind == "epic" else archived_task_path(item_id)
    else:
        path = epic_path(item_id) if kind == "epic" else task_path(item_id)
    doc = Document.new(path, data, body)
    problems = (epic_field_problems if kind == "epic" else task_field_problems)(doc, item_id)
    if problems:
        raise FlowError(f"{label}: {item_id}: {problems[0].message}", hint=problems[0].hint)
    return Incoming(kind, item_id, path, doc.render(order), str(data["status"]))


def _config_merge(config: dict[str, Any], *, keep: bool = False) -> ConfigMerge:
    """config.yaml from the document: written when absent, compared when present; a document
    with no settings (exported where there was no config.yaml) leaves it alone. ``keep``: the
    repository's own is kept (the defaults written when it has none)."""
    if config:
        wrong = Config.parse(dump_yaml(config, flow_leaves=False).encode("utf-8")).problems
        if wrong:
            setting = sorted(wrong)[0]
            raise FlowError(f"the export's config: {setting} must be {wrong[setting][1]}",
                            hint="import with --keep-config to keep this repository's settings")

    def merge(existing: bytes | None) -> ConfigOutcome:
        if keep and existing is None:
            return ConfigOutcome(CONFIG_TEMPLATE.encode("utf-8"))
        if not config:
            return ConfigOutcome()
        if existing is not None:
            try:
                current = Config.parse(existing).raw
            except DocumentError as exc:
                return ConfigOutcome(conflict=f"{CONFIG_PATH} ({exc.problem})")
            return ConfigOutcome() if current == config else ConfigOutcome(conflict=CONFIG_PATH)
        if config == (load_yaml(CONFIG_TEMPLATE) or {}):
            return ConfigOutcome(CONFIG_TEMPLATE.encode("utf-8"))  # keep its comments
        header = "# git flow-task project settings (docs/file-format.md#config), from an export.\n"
        return ConfigOutcome((header + dump_yaml(config, flow_leaves=False)).encode("utf-8"))

    return merge
