"""Epics and tasks: typed views over their frontmatter documents (DESIGN §1).

A ``Task`` or ``Epic`` wraps the ``Document`` it was read from, so a rewrite keeps every key the
tool does not know. ``field_problems`` is the one place that says what a well-formed file is; the
loader raises on the first problem, the validator reports them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from git_flowctl.model import ids, reviews
from git_flowctl.model.document import Document, DocumentError
from git_flowctl.model.facts import EpicFacts, TaskFacts
from git_flowctl.model.layout import (  # re-exported: modules import these names from here
    ARCHIVE_DIR as ARCHIVE_DIR,
)
from git_flowctl.model.layout import (
    ARCHIVE_EPICS_DIR as ARCHIVE_EPICS_DIR,
)
from git_flowctl.model.layout import (
    ARCHIVE_TASKS_DIR as ARCHIVE_TASKS_DIR,
)
from git_flowctl.model.layout import (
    EPICS_DIR as EPICS_DIR,
)
from git_flowctl.model.layout import (
    FLOW_DIR as FLOW_DIR,
)
from git_flowctl.model.layout import (
    TASKS_DIR as TASKS_DIR,
)
from git_flowctl.model.layout import (
    archived_epic_path as archived_epic_path,
)
from git_flowctl.model.layout import (
    archived_task_path as archived_task_path,
)
from git_flowctl.model.layout import (
    epic_path as epic_path,
)
from git_flowctl.model.layout import (
    task_path as task_path,
)

TYPE_CHECKING = False  # typing's import costs the hooks' start-up time (guard/hooklean.py)
if TYPE_CHECKING:
    from typing import Any

TASK_STATUSES = ("todo", "in_progress", "blocked", "done", "skipped", "failed", "up_for_retry")
EPIC_STATUSES = ("open", "done")
TRIGGER_RULES = ("all_success", "none_failed_min_one_success", "all_done")

TASK_KEY_ORDER = (
    "id", "epic", "title", "status", "depends_on", "priority", "estimate", "domain", "files",
    "assignee", "max_retries", "attempts", "retry_backoff", "trigger_rule", "blocked_reason", "skipped_reason",
    "created",
)
EPIC_KEY_ORDER = ("id", "title", "status", "depends_on_epics", "branch", "priority", "created")

TASK_SECTIONS = ("Description", "Acceptance", "Done summary", "Evidence")
EPIC_SECTIONS = ("Overview", "Scope", "Approach", "Acceptance", "References")


@dataclass
class Problem:
    """One thing wrong with a file's fields: the line, the key, what, and how to fix it."""

    key: str
    line: int | None
    message: str
    hint: str | None = None


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _optional_int(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _backoff_value(value: Any) -> bool:
    """A task's ``retry_backoff`` (coordination/backoff.py): seconds, or base/factor/max."""
    def seconds(number: Any) -> bool:
        return isinstance(number, (int, float)) and not isinstance(number, bool) \
            and 0 <= number < float("inf")

    if isinstance(value, dict):
        return all(key in ("base", "factor", "max") and seconds(number)
                   for key, number in value.items())
    return seconds(value)


def task_field_problems(doc: Document, expected_id: str | None) -> list[Problem]:
    data = doc.data
    problems: list[Problem] = []

    def add(key: str, message: str, hint: str | None = None) -> None:
        problems.append(Problem(key, doc.line_of(key) or 2, message, hint))

    for key in ("id", "epic", "title", "status"):
        if key not in data or data[key] in (None, ""):
            problems.append(Problem(key, 2, f"missing required field `{key}`",
                                    f"add `{key}: ...` to the frontmatter"))
    task_id = data.get("id")
    if task_id is not None and (not isinstance(task_id, str) or not ids.is_task_id(task_id)):
        add("id", f"`id: {task_id}` is not a task ID", "task IDs look like fn-1-slug.2")
    elif isinstance(task_id, str) and expected_id is not None and task_id != expected_id:
        add("id", f"`id: {task_id}` does not match the file name {expected_id}.md",
            "rename the file or correct the id")
    epic = data.get("epic")
    if epic is not None and (not isinstance(epic, str) or not ids.is_epic_id(epic)):
        add("epic", f"`epic: {epic}` is not an epic ID")
    elif isinstance(task_id, str) and isinstance(epic, str) and ids.is_task_id(task_id) \
            and ids.epic_of(task_id) != epic:
        add("epic", f"`epic: {epic}` does not match the task ID {task_id}")
    if "title" in data and data["title"] is not None and not isinstance(data["title"], str):
        add("title", "`title` must be text")
    status = data.get("status")
    if status is not None and status not in TASK_STATUSES:
        hint = "upstream_failed is derived, never stored" if status == "upstream_failed" else None
        add("status", f"`status: {status}` is not a task status ({', '.join(TASK_STATUSES)})", hint)
    if "depends_on" in data and data["depends_on"] is not None:
        deps = data["depends_on"]
        if not _is_str_list(deps):
            add("depends_on", "`depends_on` must be a list of task IDs")
        else:
            for dep in deps:
                if not ids.is_task_id(dep):
                    add("depends_on", f"`depends_on` entry {dep!r} is not a task ID")
    for key in ("priority", "max_retries", "attempts"):
        if key in data and not _optional_int(data[key]):
            add(key, f"`{key}` must be a whole number")
    if "estimate" in data and data["estimate"] is not None and (
            isinstance(data["estimate"], bool) or not isinstance(data["estimate"], (int, float))):
        add("estimate", "`estimate` must be a number")
    if "files" in data and data["files"] is not None and not _is_str_list(data["files"]):
        add("files", "`files` must be a list of paths")
    for key in ("domain", "assignee", "blocked_reason", "skipped_reason", "created"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            add(key, f"`{key}` must be text")
    if data.get("retry_backoff") is not None and not _backoff_value(data["retry_backoff"]):
        add("retry_backoff", "`retry_backoff` must be seconds >= 0, or a mapping of base, "
                             "factor and max (each >= 0)", "retry_backoff: {base: 10, max: 300}")
    rule = data.get("trigger_rule")
    if rule is not None and rule not in TRIGGER_RULES:
        add("trigger_rule", f"`trigger_rule: {rule}` is not one of {', '.join(TRIGGER_RULES)}")
    return problems


def epic_field_problems(doc: Document, expected_id: str | None) -> list[Problem]:
    data = doc.data
    problems: list[Problem] = []

    def add(key: str, message: str, hint: str | None = None) -> None:
        problems.append(Problem(key, doc.line_of(key) or 2, message, hint))

    for key in ("id", "title", "status"):
        if key not in data or data[key] in (None, ""):
            problems.append(Problem(key, 2, f"missing required field `{key}`",
                                    f"add `{key}: ...` to the frontmatter"))
    epic_id = data.get("id")
    if epic_id is not None and (not isinstance(epic_id, str) or not ids.is_epic_id(epic_id)):
        add("id", f"`id: {epic_id}` is not an epic ID", "epic IDs look like fn-1-slug")
    elif isinstance(epic_id, str) and expected_id is not None and epic_id != expected_id:
        add("id", f"`id: {epic_id}` does not match the file name {expected_id}.md")
    status = data.get("status")
    if status is not None and status not in EPIC_STATUSES:
        add("status", f"`status: {status}` is not an epic status (open, done)")
    deps = data.get("depends_on_epics")
    if deps is not None:
        if not _is_str_list(deps):
            add("depends_on_epics", "`depends_on_epics` must be a list of epic IDs")
        else:
            for dep in deps:
                if not ids.is_epic_id(dep):
                    add("depends_on_epics", f"`depends_on_epics` entry {dep!r} is not an epic ID")
    if "priority" in data and not _optional_int(data["priority"]):
        add("priority", "`priority` must be a whole number")
    for key in ("branch", "created", "title"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            add(key, f"`{key}` must be text")
    return problems


def _raise_first(doc: Document, problems: list[Problem]) -> None:
    if problems:
        first = problems[0]
        raise DocumentError(doc.path, first.line, first.message, first.hint)


class _Item:
    """What tasks and epics share: a document, typed reads of common fields, and edits."""

    kind = ""
    key_order: tuple[str, ...] = ()
    list_keys: tuple[str, ...] = ()  # kept as [] rather than removed when emptied

    def __init__(self, doc: Document) -> None:
        self.doc = doc

    @property
    def path(self) -> str:
        return self.doc.path

    @property
    def id(self) -> str:
        return str(self.doc.data["id"])

    @property
    def title(self) -> str:
        return str(self.doc.data["title"])

    @property
    def status(self) -> str:
        return str(self.doc.data["status"])

    @property
    def priority(self) -> int | None:
        value = self.doc.data.get("priority")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def created(self) -> str | None:
        return self.doc.data.get("created")

    def set(self, key: str, value: Any) -> None:
        """Set a field; ``None`` removes it, so files carry only what is known."""
        if value is None or value == []:
            if key in self.list_keys:
                self.doc.data[key] = []
            else:
                self.doc.data.pop(key, None)
        else:
            self.doc.data[key] = value

    def render(self) -> bytes:
        return self.doc.render(self.key_order)


class Task(_Item):
    """A task file. Attribute reads are typed; ``set`` edits the document for a rewrite."""

    kind = "task"
    key_order = TASK_KEY_ORDER
    list_keys = ("depends_on",)

    @classmethod
    def from_document(cls, doc: Document, expected_id: str | None = None) -> Task:
        _raise_first(doc, task_field_problems(doc, expected_id))
        return cls(doc)

    @property
    def epic(self) -> str:
        return str(self.doc.data["epic"])

    @property
    def depends_on(self) -> list[str]:
        return list(self.doc.data.get("depends_on") or [])

    @property
    def estimate(self) -> float | None:
        value = self.doc.data.get("estimate")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def domain(self) -> str | None:
        return self.doc.data.get("domain")

    @property
    def files(self) -> list[str]:
        return list(self.doc.data.get("files") or [])

    @property
    def assignee(self) -> str | None:
        return self.doc.data.get("assignee")

    def max_retries(self, default: int) -> int:
        value = self.doc.data.get("max_retries")
        return value if isinstance(value, int) else default

    @property
    def attempts(self) -> int:
        value = self.doc.data.get("attempts")
        return value if isinstance(value, int) else 0

    @property
    def trigger_rule(self) -> str:
        return str(self.doc.data.get("trigger_rule") or "all_success")

    @property
    def blocked_reason(self) -> str | None:
        return self.doc.data.get("blocked_reason")

    @property
    def skipped_reason(self) -> str | None:
        return self.doc.data.get("skipped_reason")

    @property
    def number(self) -> int:
        return ids.task_number(self.id)

    def sort_key(self) -> tuple[int, int, int, str]:
        """flowctl's order: priority (absent last), then task number, then title."""
        priority = self.priority if self.priority is not None else 999
        parsed = ids.parse_id(self.id)
        return (priority, parsed.epic_number if parsed else 0, self.number, self.title)

    def facts(self) -> TaskFacts:
        """What the read commands and gates need of this task (model/facts.py)."""
        parsed = ids.parse_id(self.id)
        max_retries = self.doc.data.get("max_retries")
        return TaskFacts(
            self.id, self.epic, self.title, self.status, self.depends_on, self.priority,
            self.domain, self.assignee, self.trigger_rule, self.blocked_reason, self.skipped_reason,
            self.attempts, max_retries if isinstance(max_retries, int) else None,
            parsed.epic_number if parsed else 0, self.number, self.estimate, tuple(self.files))


class Epic(_Item):
    kind = "epic"
    key_order = EPIC_KEY_ORDER
    list_keys = ("depends_on_epics",)

    @classmethod
    def from_document(cls, doc: Document, expected_id: str | None = None) -> Epic:
        _raise_first(doc, epic_field_problems(doc, expected_id))
        return cls(doc)

    @property
    def depends_on_epics(self) -> list[str]:
        return list(self.doc.data.get("depends_on_epics") or [])

    @property
    def branch(self) -> str | None:
        return self.doc.data.get("branch")

    @property
    def number(self) -> int:
        return ids.epic_number(self.id)

    def facts(self) -> EpicFacts:
        return EpicFacts(self.id, self.title, self.status, self.depends_on_epics, self.priority,
                         self.branch, self.number, reviews.verdict_in(self.doc.data, reviews.PLAN),
                         reviews.verdict_in(self.doc.data, reviews.COMPLETION))


def new_task_document(task_id: str, epic_id: str, title: str, *, depends_on: list[str],
                      priority: int | None, domain: str | None, files: list[str],
                      created: str | None, description: str | None,
                      acceptance: str | None, extra: dict[str, Any] | None = None) -> Document:
    data: dict[str, Any] = {"id": task_id, "epic": epic_id, "title": title, "status": "todo",
                            "depends_on": list(depends_on)}
    if priority is not None:
        data["priority"] = priority
    if domain:
        data["domain"] = domain
    if files:
        data["files"] = list(files)
    if extra:
        data.update(extra)
    if created:
        data["created"] = created
    rank = {key: index for index, key in enumerate(TASK_KEY_ORDER)}
    data = dict(sorted(data.items(), key=lambda item: rank.get(item[0], len(rank))))
    body = (
        f"## Description\n{(description or 'TBD').strip()}\n\n"
        f"## Acceptance\n{(acceptance or '- [ ] TBD').strip()}\n\n"
        "## Done summary\n\n"
        "## Evidence\n"
    )
    return Document.new(task_path(task_id), data, body)


def new_epic_document(epic_id: str, title: str, *, depends_on_epics: list[str],
                      branch: str | None, priority: int | None, created: str | None,
                      sections: dict[str, str] | None = None) -> Document:
    data: dict[str, Any] = {"id": epic_id, "title": title, "status": "open",
                            "depends_on_epics": list(depends_on_epics)}
    if branch:
        data["branch"] = branch
    if priority is not None:
        data["priority"] = priority
    if created:
        data["created"] = created
    given = sections or {}
    body = "\n".join(f"## {name}\n{(given.get(name) or 'TBD').strip()}\n" for name in EPIC_SECTIONS)
    return Document.new(epic_path(epic_id), data, body)
