"""A plan: every epic and task of one tree, read from a ``Source``, with ID resolution."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from git_flowctl.model import ids, states
from git_flowctl.model.config import CONFIG_PATH, Config
from git_flowctl.model.document import Document, DocumentError
from git_flowctl.model.errors import FlowError, NotFoundError
from git_flowctl.model.items import (
    ARCHIVE_EPICS_DIR,
    ARCHIVE_TASKS_DIR,
    EPICS_DIR,
    TASKS_DIR,
    Epic,
    Task,
    archived_epic_path,
    archived_task_path,
)
from git_flowctl.repo.sources import Source

if TYPE_CHECKING:
    from git_flowctl.repo.cache import DocumentCache


class NotInitializedError(FlowError):
    pass


@dataclass
class Plan:
    source: Source
    config: Config
    epics: dict[str, Epic] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    initialized: bool = True
    _effective: dict[str, str] | None = field(default=None, repr=False)
    _archived: dict[str, Task | Epic | None] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, source: Source, *, strict: bool = True, cache: DocumentCache | None = None) -> Plan:
        """Read every epic and task. ``strict`` raises on the first bad file (file and line).

        With a ``cache``, files whose blob ID the source knows are parsed once per blob.
        """
        config_bytes = source.read(CONFIG_PATH)
        config = Config.parse(config_bytes)
        plan = cls(source=source, config=config)
        plan.initialized = config_bytes is not None or bool(source.list_files(TASKS_DIR)) \
            or bool(source.list_files(EPICS_DIR))
        for name in source.list_files(EPICS_DIR):
            if not name.endswith(".md"):
                continue
            epic = Epic.from_document(_read_doc(source, f"{EPICS_DIR}/{name}", cache), name[:-3])
            plan.epics[epic.id] = epic
        for name in source.list_files(TASKS_DIR):
            if not name.endswith(".md"):
                continue
            task = Task.from_document(_read_doc(source, f"{TASKS_DIR}/{name}", cache), name[:-3])
            plan.tasks[task.id] = task
        if strict:
            for task in plan.tasks.values():
                if task.epic not in plan.epics:
                    raise DocumentError(task.path, task.doc.line_of("epic"),
                                        f"task's epic {task.epic} does not exist",
                                        hint="create it with `git flow-task epic create` or fix `epic:`")
        if cache is not None:
            cache.flush()
        return plan

    def require_initialized(self) -> None:
        if not self.initialized:
            raise NotInitializedError(
                f"no .flow/ plan in the {self.source.label}",
                hint="run `git flow-task init` first")

    # Lookup ---------------------------------------------------------------------------------

    def resolve_task(self, ref: str) -> str:
        try:
            return ids.resolve(ref, self.tasks, kind="task")
        except NotFoundError:
            self._refuse_archived(ref, self.archived_task_ids(), "task")
            self._refuse_epic_for_task(ref)
            raise

    def _refuse_epic_for_task(self, ref: str) -> None:
        parsed = ids.parse_id(ref)
        if parsed is None or parsed.is_task:
            return
        try:
            epic_id = ids.resolve(ref, self.epics, kind="epic")
        except FlowError:
            return
        raise NotFoundError(f"{epic_id} is an epic, not a task",
                            hint=f"give one of its tasks (`git flow-task ready --epic {epic_id}` "
                                 f"lists those that can start)", id=epic_id, kind="epic")

    def resolve_epic(self, ref: str) -> str:
        try:
            return ids.resolve(ref, self.epics, kind="epic")
        except NotFoundError:
            self._refuse_archived(ref, self.archived_epic_ids(), "epic")
            raise

    def _refuse_archived(self, ref: str, archived: list[str], kind: str) -> None:
        try:
            found = ids.resolve(ref, archived, kind=kind)
        except FlowError:
            return
        raise FlowError(f"{kind} {found} is archived (under .flow/archive/): it is read-only",
                        hint=f"`git flow-task show {found}` shows it; create a new {kind} for new work",
                        id=found, archived=True)

    def resolve_archived(self, ref: str) -> Task | Epic | None:
        """An archived task or epic by exact or short ID, for read commands; None if none."""
        parsed = ids.parse_id(ref)
        try:
            if parsed is not None and parsed.is_task:
                return self.archived_task(ids.resolve(ref, self.archived_task_ids(), kind="task"))
            return self.archived_epic(ids.resolve(ref, self.archived_epic_ids(), kind="epic"))
        except FlowError:
            return None

    # The archive (DESIGN §8 `epic archive`, docs/states.md#archive) -------------------------

    def archived_task_ids(self) -> list[str]:
        return [name[:-3] for name in self.source.list_files(ARCHIVE_TASKS_DIR) if name.endswith(".md")]

    def archived_epic_ids(self) -> list[str]:
        return [name[:-3] for name in self.source.list_files(ARCHIVE_EPICS_DIR) if name.endswith(".md")]

    def archived_task(self, task_id: str) -> Task | None:
        """An archived task, read only when something asks (a dependency on it, a renumber)."""
        if task_id not in self._archived:
            path = archived_task_path(task_id)
            raw = self.source.read(path)
            self._archived[task_id] = None if raw is None else Task.from_document(
                Document.parse(raw, path), task_id)
        found = self._archived[task_id]
        return found if isinstance(found, Task) else None

    def archived_epic(self, epic_id: str) -> Epic | None:
        key = f"epic:{epic_id}"
        if key not in self._archived:
            path = archived_epic_path(epic_id)
            raw = self.source.read(path)
            self._archived[key] = None if raw is None else Epic.from_document(
                Document.parse(raw, path), epic_id)
        found = self._archived[key]
        return found if isinstance(found, Epic) else None

    def resolve_dependency(self, ref: str) -> str:
        """A task to depend on: a live task, or an archived one (it stays satisfied)."""
        try:
            return ids.resolve(ref, self.tasks, kind="task")
        except NotFoundError:
            try:
                return ids.resolve(ref, self.archived_task_ids(), kind="task")
            except NotFoundError:
                pass
            raise

    def open_epic_dependencies(self, epic: Epic) -> list[str]:
        """The epics ``epic`` depends on that are not closed (archived ones are closed)."""
        waiting = []
        for dep in epic.depends_on_epics:
            if dep in self.epics:
                if self.epics[dep].status != "done":
                    waiting.append(dep)
            elif self.archived_epic(dep) is None:
                waiting.append(dep)
        return waiting

    def dependencies_of(self, task_id: str) -> list[str]:
        """A task's dependencies, live or archived (for graph walks)."""
        task = self.tasks.get(task_id) or self.archived_task(task_id)
        return task.depends_on if task is not None else []

    def task(self, ref: str) -> Task:
        return self.tasks[self.resolve_task(ref)]

    def epic(self, ref: str) -> Epic:
        return self.epics[self.resolve_epic(ref)]

    def resolve_any(self, ref: str) -> Task | Epic:
        """An epic or a task, by exact or short ID."""
        parsed = ids.parse_id(ref)
        if parsed is None:
            found = ids.resolve(ref, [*self.epics, *self.tasks])
            return self.tasks.get(found) or self.epics[found]
        return self.task(ref) if parsed.is_task else self.epic(ref)

    def tasks_of(self, epic_id: str) -> list[Task]:
        return sorted((t for t in self.tasks.values() if t.epic == epic_id),
                      key=lambda t: ids.id_sort_key(t.id))

    def sorted_tasks(self, only: Iterable[str] | None = None) -> list[Task]:
        chosen = self.tasks.values() if only is None else (self.tasks[i] for i in only)
        return sorted(chosen, key=lambda t: ids.id_sort_key(t.id))

    def sorted_epics(self) -> list[Epic]:
        return sorted(self.epics.values(), key=lambda e: ids.id_sort_key(e.id))

    def dependents(self, task_id: str) -> list[Task]:
        return [t for t in self.sorted_tasks() if task_id in t.depends_on]

    # States ---------------------------------------------------------------------------------

    def effective_states(self) -> dict[str, str]:
        """Stored states with ``upstream_failed`` derived (computed once per plan)."""
        if self._effective is None:
            stored = {t.id: t.status for t in self.tasks.values()}
            for task in list(self.tasks.values()):
                for dep in task.depends_on:
                    if dep not in stored and (archived := self.archived_task(dep)) is not None:
                        stored[dep] = archived.status  # done or skipped: archive needs a closed epic
            self._effective = states.effective_states(
                stored,
                {t.id: t.depends_on for t in self.tasks.values()},
                {t.id: t.trigger_rule for t in self.tasks.values()},
            )
        return self._effective

    def state_of(self, task_id: str) -> str:
        return self.effective_states().get(task_id, states.MISSING)

    def dependency_states(self, task: Task) -> dict[str, str]:
        effective = self.effective_states()
        return {dep: effective.get(dep, states.MISSING) for dep in task.depends_on}

    def unsatisfied_dependencies(self, task: Task) -> list[str]:
        return states.unsatisfied(task.trigger_rule, self.dependency_states(task))

    def view_state(self, task_id: str) -> str:
        """What a board shows: ``ready`` and ``waiting`` split out of todo/up_for_retry."""
        state = self.state_of(task_id)
        if state in states.STARTABLE:
            return states.WAITING if self.unsatisfied_dependencies(self.tasks[task_id]) else states.READY
        return state

    def gate(self, task: Task, action: str) -> None:
        """Refuse to start or finish a task whose dependencies are not satisfied, naming each."""
        blocking = self.unsatisfied_dependencies(task)
        if not blocking:
            return
        effective = self.effective_states()
        found = {dep: effective.get(dep, states.MISSING) for dep in blocking}
        listed = ", ".join(f"{dep} ({state})" for dep, state in found.items())
        raise FlowError(
            f"cannot {action} {task.id}: dependencies not satisfied: {listed}",
            hint=states.unsatisfied_hint(found), id=task.id, blocked_by=blocking)

    def next_task_number(self, epic_id: str) -> int:
        numbers = [t.number for t in self.tasks.values() if t.epic == epic_id]
        return max(numbers, default=0) + 1


def _read_doc(source: Source, path: str, cache: DocumentCache | None = None) -> Document:
    blob_id = source.blob_id(path) if cache is not None else None
    if blob_id is not None and cache is not None:
        cached = cache.get(blob_id, path)
        if cached is not None:
            return cached
    raw = source.read(path)
    if raw is None:
        raise DocumentError(path, None, "cannot be read")
    doc = Document.parse(raw, path)
    if blob_id is not None and cache is not None:
        cache.put(blob_id, doc)
    return doc
