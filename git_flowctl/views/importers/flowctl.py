"""`import flowctl`: a flowctl `.flow/` directory and its runtime state, in our format.

flowctl kept definitions in the tree (``epics/<id>.json``, ``specs/<id>.md``, ``tasks/<id>.json``,
``tasks/<id>.md``, ``meta.json``, ``config.json``) and runtime state outside it
(``<git-common-dir>/flow-state/tasks/<id>.state.json``: status, assignee, claim, evidence,
blocked reason), whose keys override the definition's. Each epic and task becomes one file here,
IDs kept. The mapping (docs/flowctl.md has it as a table):

- keys with a home here move there: ``depends_on`` (older files: ``deps``), ``priority``,
  ``domain``, ``files``, ``assignee``, ``blocked_reason``, ``skipped_reason``, ``branch_name`` ->
  ``branch``, ``created_at`` -> ``created``; ``evidence`` becomes the ``## Evidence`` section and a
  ``Flow-Evidence`` trailer;
- ``spec_path`` is dropped: the spec is the body of the item's own file now (and an in-place
  import deletes ``specs/``);
- every other key (``claim_note``, ``claimed_at``, ``updated_at``, ``plan_review_status``,
  ``next_task``, ...) is written to the frontmatter unchanged, nulls included. ``updated_at`` keeps flowctl's last value and is never updated
  again (from the import on, times come from commit history);
- the spec becomes the body, minus flowctl's ``# <id> <title>`` first line when it only repeats
  the ID and title, and minus the ``Blocked:`` note `block` appended to the Done summary once
  its text is the task's ``blocked_reason``; required sections missing from a spec are added
  empty;
- ``config.json`` and ``meta.json`` go under a ``flowctl:`` key of ``.flow/config.yaml``: none of
  flowctl 0.26's settings (memory, planSync, review, scouts) has a meaning here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_flowctl.changes.ops import render_evidence
from git_flowctl.model import ids
from git_flowctl.model.config import CONFIG_TEMPLATE, Config
from git_flowctl.model.document import Document, Rendered, dump_yaml, get_section, set_section
from git_flowctl.model.document import sections as markdown_sections
from git_flowctl.model.errors import FlowError
from git_flowctl.model.graph import find_cycle, format_cycle
from git_flowctl.model.items import (
    EPIC_KEY_ORDER,
    EPIC_SECTIONS,
    TASK_KEY_ORDER,
    TASK_SECTIONS,
    TASK_STATUSES,
    epic_path,
    new_epic_document,
    new_task_document,
    task_path,
)
from git_flowctl.views.importers import ConfigMerge, ConfigOutcome, ImportSet, Incoming

SUPPORTED_SCHEMAS = (1, 2, 3)
STATE_SUFFIX = ".state.json"

# flowctl keys that move to a field of ours (by another name where the name differs).
_TASK_HOMES = {"id": "id", "epic": "epic", "title": "title", "status": "status",
               "depends_on": "depends_on", "deps": "depends_on", "priority": "priority",
               "domain": "domain", "files": "files", "assignee": "assignee",
               "blocked_reason": "blocked_reason", "skipped_reason": "skipped_reason",
               "created_at": "created", "evidence": None, "spec_path": None}
_EPIC_HOMES = {"id": "id", "title": "title", "status": "status",
               "depends_on_epics": "depends_on_epics", "branch_name": "branch",
               "priority": "priority", "created_at": "created", "spec_path": None}
# `spec_path` (flowctl: specs/<epic>.md, tasks/<task>.md) is dropped: the spec is now the body of
# the item's own file, and an in-place import deletes specs/ (issue #12).
# flowctl's order of evidence lines in a spec (`- Commits:`, `- Tests:`, `- PRs:`).
_EVIDENCE_ORDER = ("commits", "tests", "prs")


@dataclass
class _Read:
    """What was read, with the names to show in messages."""

    label: str
    in_place: bool
    consumed: list[str] = field(default_factory=list)  # in-tree paths of flowctl's own files
    replaceable: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def default_state_dir(path: Path, fallback_common_dir: Path) -> Path:
    """flowctl's state directory: ``FLOW_STATE_DIR``, else ``<git-common-dir>/flow-state`` of the
    repository that holds ``path`` (``fallback_common_dir`` when it is in none)."""
    configured = os.environ.get("FLOW_STATE_DIR")
    if configured:
        return Path(configured)
    import pygit2

    found = pygit2.discover_repository(str(path))
    if found is None:
        return fallback_common_dir / "flow-state"
    git_dir = Path(found)
    commondir = git_dir / "commondir"
    if commondir.exists():
        git_dir = (git_dir / commondir.read_text().strip()).resolve()
    return git_dir / "flow-state"


def read_flowctl(path: Path, label: str, state_dir: Path | None, repo_root: Path) -> ImportSet:
    """Read flowctl's ``.flow/`` at ``path`` (and its state) into the files to write here.

    When ``path`` is this repository's own ``.flow/`` (an in-place migration), flowctl's files
    are replaced: its task specs by our task files, its JSON definitions, epic specs,
    ``meta.json`` and ``config.json`` removed in the same commit (they stay in history).
    """
    if not path.is_dir():
        raise FlowError(f"{label} is not a directory",
                        hint="give the path of flowctl's .flow/ directory")
    in_place = path.resolve() == (repo_root / ".flow").resolve()
    read = _Read(label=label, in_place=in_place)
    epic_files = _json_files(path / "epics") or _json_files(path / "specs")
    task_files = _json_files(path / "tasks")
    if not epic_files and not task_files:
        if in_place and (path / "config.yaml").exists():
            return ImportSet("flowctl", label, [], _no_config_change, details={
                "in_place": True, "state_dir": None, "state_files": 0},
                nothing_message=f"nothing to import: {label} holds no flowctl definitions "
                                "(it is already in git flow-task format)")
        raise FlowError(f"no flowctl plan in {label}: no epics/*.json or tasks/*.json",
                        hint="give the path of flowctl's .flow/ directory "
                             "(the one with meta.json, epics/ and tasks/)")
    meta = _read_object(path / "meta.json", f"{label}/meta.json") \
        if (path / "meta.json").exists() else {}
    schema = meta.get("schema_version", 1)
    if schema not in SUPPORTED_SCHEMAS:
        raise FlowError(f"{label}/meta.json: schema_version {schema!r} is not one this import "
                        f"knows ({', '.join(map(str, SUPPORTED_SCHEMAS))})",
                        hint="upgrade git flow-task, or report the flowctl version that wrote it")
    config = _read_object(path / "config.json", f"{label}/config.json") \
        if (path / "config.json").exists() else {}

    states, state_files = _read_states(state_dir, read)
    epics = [_epic(file, path, read) for file in epic_files]
    epic_ids = {item.id for item in epics}
    tasks = [_task(file, path, states.pop(_stem(file), {}), epic_ids, read) for file in task_files]
    for orphan in sorted(states, key=ids.id_sort_key):
        read.warnings.append(f"state file {orphan}{STATE_SUFFIX} has no task definition; ignored")
    _check_graph(epics, tasks, read)
    if state_dir is not None and not state_dir.is_dir():
        read.warnings.append(
            f"no flowctl state directory at {state_dir}: statuses, assignees and evidence come "
            "from the definitions alone (pass --state-dir if flowctl kept its state elsewhere)")

    block = {key: value for key, value in (("config", config), ("meta", meta)) if value}
    if in_place:
        for name in ("meta.json", "config.json"):
            if (path / name).exists():
                read.consumed.append(f".flow/{name}")
    items = sorted(epics, key=lambda i: ids.id_sort_key(i.id)) \
        + sorted(tasks, key=lambda i: ids.id_sort_key(i.id))
    return ImportSet(
        "flowctl", label, items, _config_merge(block),
        replaceable=frozenset(read.replaceable), removals=sorted(read.consumed),
        warnings=read.warnings,
        details={"in_place": in_place, "state_dir": str(state_dir) if state_dir else None,
                 "state_files": state_files})


# Reading files --------------------------------------------------------------------------------


def _json_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir()
                   if p.suffix == ".json" and p.is_file() and not p.name.startswith(".")),
                  key=lambda p: ids.id_sort_key(p.stem))


def _stem(file: Path) -> str:
    return file.name[:-len(".json")]


def _read_object(file: Path, name: str) -> dict[str, Any]:
    try:
        text = file.read_text("utf-8")
    except UnicodeDecodeError:
        raise FlowError(f"{name}: not valid UTF-8", file=name) from None
    except OSError as exc:
        raise FlowError(f"{name}: cannot be read: {exc.strerror}", file=name) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlowError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg}",
                        hint="fix the file (`flowctl validate --all` checks it) and import again",
                        file=name, line=exc.lineno) from None
    if not isinstance(data, dict):
        raise FlowError(f"{name}: expected a JSON object", file=name)
    return data


def _read_spec(file: Path) -> str | None:
    try:
        return file.read_text("utf-8").replace("\r\n", "\n")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise FlowError(f"{file}: not valid UTF-8", hint="save the spec as UTF-8") from None


def _read_states(state_dir: Path | None, read: _Read) -> tuple[dict[str, dict[str, Any]], int]:
    states: dict[str, dict[str, Any]] = {}
    directory = state_dir / "tasks" if state_dir is not None else None
    if directory is None or not directory.is_dir():
        return states, 0
    for file in sorted(directory.iterdir()):
        if file.name.endswith(STATE_SUFFIX) and file.is_file():
            states[file.name[:-len(STATE_SUFFIX)]] = _read_object(file, str(file))
    return states, len(states)


# Mapping --------------------------------------------------------------------------------------


def _epic(file: Path, root: Path, read: _Read) -> Incoming:
    name = f"{read.label}/{file.parent.name}/{file.name}"
    data = _read_object(file, name)
    epic_id = _required_text(data, "id", name)
    if not ids.is_epic_id(epic_id):
        raise FlowError(f"{name}: `id: {epic_id}` is not an epic ID", file=name)
    if epic_id != _stem(file):
        raise FlowError(f"{name}: `id: {epic_id}` does not match the file name", file=name)
    title = _required_text(data, "title", name)
    status = data.get("status") or "open"
    if status not in ("open", "done"):
        raise FlowError(f"{name}: `status: {status}` is not an epic status (open, done)", file=name)
    fields: dict[str, Any] = {"id": epic_id, "title": title, "status": status,
                              "depends_on_epics": _id_list(data, "depends_on_epics", name)}
    if data.get("branch_name"):
        fields["branch"] = _text(data, "branch_name", name)
    if data.get("priority") is not None:
        fields["priority"] = _int(data, "priority", name)
    if data.get("created_at"):
        fields["created"] = _text(data, "created_at", name)
    extras = {key: value for key, value in data.items() if key not in _EPIC_HOMES}
    spec_file = root / "specs" / f"{epic_id}.md"
    spec = _read_spec(spec_file)
    if read.in_place:
        read.consumed.append(f".flow/{file.parent.name}/{file.name}")
        if spec is not None:
            read.consumed.append(f".flow/specs/{epic_id}.md")
    default_body = new_epic_document(epic_id, title, depends_on_epics=[], branch=None,
                                     priority=None, created=None).body
    body = _body(spec, epic_id, title, EPIC_SECTIONS, default_body)
    doc = Document.new(epic_path(epic_id), _ordered(fields, EPIC_KEY_ORDER, extras), body)
    return Incoming("epic", epic_id, doc.path, doc.render(EPIC_KEY_ORDER), status)


def _task(file: Path, root: Path, state: dict[str, Any], epic_ids: set[str],
          read: _Read) -> Incoming:
    name = f"{read.label}/tasks/{file.name}"
    definition = _read_object(file, name)
    # Runtime state overrides the definition, key by key, as flowctl reads it.
    data = {**definition, **state}
    task_id = _required_text(data, "id", name)
    if not ids.is_task_id(task_id):
        raise FlowError(f"{name}: `id: {task_id}` is not a task ID", file=name)
    if task_id != _stem(file):
        raise FlowError(f"{name}: `id: {task_id}` does not match the file name", file=name)
    epic_id = data.get("epic") or ids.epic_of(task_id)
    if epic_id != ids.epic_of(task_id):
        raise FlowError(f"{name}: `epic: {epic_id}` does not match the task ID {task_id}", file=name)
    if epic_id not in epic_ids:
        raise FlowError(f"{name}: its epic {epic_id} is not defined in {read.label}", file=name,
                        hint=f"flowctl keeps epics in {read.label}/epics/<id>.json")
    title = _required_text(data, "title", name)
    status = data.get("status") or "todo"
    if status == "upstream_failed":
        status = "todo"  # derived here from the graph on every read, never stored
    if status not in TASK_STATUSES:
        raise FlowError(f"{name}: `status: {status}` is not a task status "
                        f"({', '.join(TASK_STATUSES)})", file=name)
    deps_key = "depends_on" if "depends_on" in data else "deps"
    spec = _read_spec(root / "tasks" / f"{task_id}.md")
    fields: dict[str, Any] = {"id": task_id, "epic": epic_id, "title": title, "status": status,
                              "depends_on": _id_list(data, deps_key, name)}
    if data.get("priority") is not None:
        fields["priority"] = _int(data, "priority", name)
    for key in ("domain", "assignee", "skipped_reason"):
        if data.get(key):
            fields[key] = _text(data, key, name)
    if data.get("files"):
        fields["files"] = _id_list(data, "files", name)
    reason = _text(data, "blocked_reason", name) if data.get("blocked_reason") else None
    if reason is None and status == "blocked" and spec is not None:
        reason = _reason_from_spec(spec)
    if reason:
        fields["blocked_reason"] = reason
    if data.get("created_at"):
        fields["created"] = _text(data, "created_at", name)
    homes = dict(_TASK_HOMES)
    evidence_value = data.get("evidence")
    evidence: dict[str, Any] = {}
    if isinstance(evidence_value, dict):
        evidence = _ordered_evidence(evidence_value)
    elif evidence_value is not None:
        homes.pop("evidence")  # not the shape flowctl writes: keep it as it is
        read.warnings.append(f"{name}: evidence is not an object; kept in the frontmatter")
    if deps_key == "depends_on":
        homes.pop("deps")  # both present: depends_on wins, deps is kept as it was
    extras = {key: value for key, value in data.items() if key not in homes}
    if read.in_place:
        read.consumed.append(f".flow/tasks/{file.name}")
        read.replaceable.add(task_path(task_id))
    default_body = new_task_document(task_id, epic_id, title, depends_on=[], priority=None,
                                     domain=None, files=[], created=None, description=None,
                                     acceptance=None).body
    body = _body(spec, task_id, title, TASK_SECTIONS, default_body)
    if reason and status == "blocked":
        body = _without_blocked_note(body, reason)
    if evidence:
        body = set_section(body, "Evidence", render_evidence(evidence))
    doc = Document.new(task_path(task_id), _ordered(fields, TASK_KEY_ORDER, extras), body)
    return Incoming("task", task_id, doc.path, doc.render(TASK_KEY_ORDER), status, evidence)


def _ordered(fields: dict[str, Any], order: Iterable[str], extras: dict[str, Any]) -> dict[str, Any]:
    data = {key: fields[key] for key in order if key in fields}
    data.update(extras)
    return data


def _ordered_evidence(evidence: dict[str, Any]) -> dict[str, Any]:
    """Non-empty evidence, in flowctl's order of lines (commits, tests, prs, then the rest)."""
    keys = [key for key in _EVIDENCE_ORDER if key in evidence]
    keys += [key for key in evidence if key not in _EVIDENCE_ORDER]
    return {key: evidence[key] for key in keys if evidence[key] not in (None, "", [], {})}


def _body(spec: str | None, item_id: str, title: str, sections: Iterable[str], default: str) -> str:
    if spec is None:
        return default
    lines = spec.split("\n")
    if lines and _repeats_id_and_title(lines[0], item_id, title):
        lines = lines[1:]
        while lines and not lines[0].strip():
            lines.pop(0)
    body = "\n".join(lines).rstrip("\n") + "\n"
    present = {found.title.lower() for found in markdown_sections(body)}  # one pass, not one per title
    for section in sections:
        if section.lower() not in present:
            body = set_section(body, section, "")
    return body


def _repeats_id_and_title(line: str, item_id: str, title: str) -> bool:
    """flowctl's spec header, ``# <id> <title>``: dropped only when it says nothing else."""
    return " ".join(line.split()) == " ".join(f"# {item_id} {title}".split())


def _reason_from_spec(spec: str) -> str | None:
    """flowctl's `block` appends ``Blocked:`` and the reason under ``## Done summary``."""
    summary = get_section(spec, "Done summary") or ""
    _, marker, reason = summary.partition("Blocked:")
    return (reason.strip() or None) if marker else None


def _without_blocked_note(body: str, reason: str) -> str:
    """Once the reason is in ``blocked_reason``, the ``Blocked:`` note flowctl's `block` appended
    to the Done summary says it a second time, in the section meant for the finished work."""
    summary = get_section(body, "Done summary")
    if summary is None:
        return body
    before, marker, after = summary.partition("Blocked:")
    if not marker or " ".join(after.split()) != " ".join(reason.split()):
        return body
    return set_section(body, "Done summary", before.strip())


def _check_graph(epics: list[Incoming], tasks: list[Incoming], read: _Read) -> None:
    task_ids = {task.id for task in tasks}
    edges: dict[str, list[str]] = {}
    for task in tasks:
        # What the file holds: a Rendered carries the values it was checked to read back as.
        data = task.content.intended if isinstance(task.content, Rendered) \
            else Document.parse(task.content, task.path).data
        deps = data.get("depends_on") or []
        edges[task.id] = list(deps)
        missing = [dep for dep in deps if dep not in task_ids]
        if missing:
            read.warnings.append(f"{task.id} depends on {', '.join(missing)}, "
                                 f"which {read.label} does not define")
    cycle = find_cycle(edges)
    if cycle:
        read.warnings.append(f"dependency cycle: {format_cycle(cycle)} "
                             "(`git flow-task validate` reports it until one link is removed)")
    open_by_epic: dict[str, list[str]] = {}  # one pass: a plan of 5,000 tasks (issue #11)
    for task in tasks:
        if task.status not in ("done", "skipped"):
            open_by_epic.setdefault(ids.epic_of(task.id), []).append(task.id)
    for epic in epics:
        open_tasks = open_by_epic.get(epic.id, [])
        if epic.status == "done" and open_tasks:
            read.warnings.append(f"{epic.id} is done, but not its tasks {', '.join(open_tasks)}: "
                                 "reopen the epic or finish them")
    numbers: dict[int, str] = {}
    for epic in epics:
        number = ids.epic_number(epic.id)
        if number in numbers:
            read.warnings.append(
                f"{numbers[number]} and {epic.id} share number {number} (flowctl allocated "
                "numbers without a lock): short IDs are ambiguous until one is renumbered")
        numbers.setdefault(number, epic.id)


# Values ---------------------------------------------------------------------------------------


def _required_text(data: dict[str, Any], key: str, name: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise FlowError(f"{name}: `{key}` is missing or not text", file=name)
    return value


def _text(data: dict[str, Any], key: str, name: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise FlowError(f"{name}: `{key}` must be text, not {json.dumps(value)}", file=name)
    return value


def _int(data: dict[str, Any], key: str, name: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise FlowError(f"{name}: `{key}` must be a whole number, not {json.dumps(value)}",
                        file=name)
    return value


def _id_list(data: dict[str, Any], key: str, name: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise FlowError(f"{name}: `{key}` must be a list of text values", file=name)
    return list(value)


# config.yaml ------------------------------------------------------------------------------------


def _no_config_change(existing: bytes | None) -> ConfigOutcome:
    return ConfigOutcome()


def _config_merge(block: dict[str, Any]) -> ConfigMerge:
    """Our config.yaml: created when absent; flowctl's settings kept under ``flowctl:``."""
    rendered = ("\n# Kept from flowctl's config.json and meta.json by `import flowctl`; "
                "git flow-task does not read them.\n" + dump_yaml({"flowctl": block})) if block else ""

    def merge(existing: bytes | None) -> ConfigOutcome:
        if existing is None:
            return ConfigOutcome((CONFIG_TEMPLATE + rendered).encode("utf-8"))
        if not block:
            return ConfigOutcome()
        current = Config.parse(existing).raw.get("flowctl")
        if current == block:
            return ConfigOutcome()
        if current is not None:
            return ConfigOutcome(conflict=".flow/config.yaml (its flowctl: settings)")
        text = existing.decode("utf-8")
        return ConfigOutcome((text + ("" if text.endswith("\n") or not text else "\n")
                              + rendered).encode("utf-8"))

    return merge
