"""A plan: every epic and task of one tree, read from a ``Source``, with ID resolution.

The plan's facts (model/facts.py) come from the source's catalog (repo/catalog.py): a command
reads the whole plan without parsing it. ``tasks`` and ``epics`` are mappings whose items are
parsed from their file only when one is asked for (``LazyItems``), so `show` of one task, or a
transition of one, parses that task and not the plan (issue #11).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

from git_flowctl.model import ids
from git_flowctl.model.config import CONFIG_PATH, Config
from git_flowctl.model.document import Document, DocumentError
from git_flowctl.model.errors import FlowError, NotFoundError
from git_flowctl.model.facts import EpicFacts, PlanFacts, Rows, TaskFacts
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
from git_flowctl.repo.catalog import unpack_row, without_gc
from git_flowctl.repo.sources import Source

if TYPE_CHECKING:
    from git_flowctl.repo.catalog import Catalog, PlanCache

Item = TypeVar("Item", Task, Epic)


class NotInitializedError(FlowError):
    pass


class LazyItems(Mapping[str, Item], Generic[Item]):
    """Tasks or epics by ID, in file-name order; each parsed from its file on first access
    (then kept, so an edit a builder makes to it is what later reads see). Items may also be
    put in directly (``import``'s plan of files that are ours)."""

    def __init__(self, source: Source | None, directory: str, kind: type[Item],
                 known: Iterable[str]) -> None:
        self._source = source
        self._directory = directory
        self._kind: type[Item] = kind
        self._ids = dict.fromkeys(known)
        self._loaded: dict[str, Item] = {}

    def __getitem__(self, item_id: str) -> Item:
        found = self._loaded.get(item_id)
        if found is not None:
            return found
        if item_id not in self._ids or self._source is None:
            raise KeyError(item_id)
        path = f"{self._directory}/{item_id}.md"
        raw = self._source.read(path)
        if raw is None:
            raise DocumentError(path, None, "cannot be read")
        loaded: Item = self._kind.from_document(Document.parse(raw, path), item_id)
        self._loaded[item_id] = loaded
        return loaded

    def __setitem__(self, item_id: str, item: Item) -> None:
        self._ids[item_id] = None
        self._loaded[item_id] = item

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


class Plan:
    def __init__(self, source: Source, config: Config, *, facts: PlanFacts | None = None,
                 initialized: bool = True) -> None:
        self.source = source
        self.config = config
        self.initialized = initialized
        names = (facts.tasks, facts.epics) if facts is not None else ((), ())
        self.tasks: LazyItems[Task] = LazyItems(source, TASKS_DIR, Task, names[0])
        self.epics: LazyItems[Epic] = LazyItems(source, EPICS_DIR, Epic, names[1])
        self._facts = facts
        self._archived: dict[str, Task | Epic | None] = {}
        self.catalog: Catalog | None = None

    @classmethod
    def load(cls, source: Source, *, strict: bool = True, cache: PlanCache | None = None) -> Plan:
        """Every epic and task, as facts. Any file that does not load raises (file and line),
        config.yaml first, then epics and tasks in name order; ``strict`` also refuses a task
        whose epic does not exist. With a ``cache`` the facts come from the snapshot, and only
        files it does not know are parsed."""
        catalog = source.catalog(cache)
        error = catalog.first_error()
        if error is not None:
            raise DocumentError(*error)
        data = catalog.config_data()
        config = Config(data, catalog.config_problems()) if data is not None \
            else Config.parse(source.read(CONFIG_PATH))
        plan = cls(source, config, initialized=catalog.initialized)
        if strict:
            missing = catalog.missing_epic()
            if missing is not None:
                path, epic = missing
                raw = source.read(path)
                line = Document.parse(raw, path).line_of("epic") if raw is not None else None
                raise DocumentError(path, line, f"task's epic {epic} does not exist",
                                    hint="create it with `git flow-task epic create` or fix `epic:`")
        with without_gc():  # rows become facts records only when looked at (a transition: few)
            task_rows, statuses = catalog.row_map(TASKS_DIR)
            tasks = Rows(task_rows, lambda row: TaskFacts._make(unpack_row(row)), statuses=statuses,
                         epic_in_id=True)  # a task whose epic is not its ID's does not load
            epics = Rows(catalog.row_map(EPICS_DIR)[0], lambda row: EpicFacts._make(unpack_row(row)))
        plan._facts = plan._facts_of(tasks, epics)
        plan.tasks = LazyItems(source, TASKS_DIR, Task, tasks)
        plan.epics = LazyItems(source, EPICS_DIR, Epic, epics)
        plan.catalog = catalog
        return plan

    @classmethod
    def of_items(cls, source: Source, config: Config, epics: Iterable[Epic],
                 tasks: Iterable[Task], *, initialized: bool) -> Plan:
        """A plan of items already parsed (``import``, which skips files that are not ours)."""
        plan = cls(source, config, initialized=initialized)
        for epic in epics:
            plan.epics[epic.id] = epic
        for task in tasks:
            plan.tasks[task.id] = task
        plan._facts = plan._facts_of({t.id: t.facts() for t in plan.tasks.values()},
                                     {e.id: e.facts() for e in plan.epics.values()})
        return plan

    def _facts_of(self, tasks: Mapping[str, TaskFacts], epics: Mapping[str, EpicFacts]) -> PlanFacts:
        def archived_task(task_id: str) -> TaskFacts | None:
            found = self.archived_task(task_id)
            return found.facts() if found is not None else None

        def archived_epic(epic_id: str) -> EpicFacts | None:
            found = self.archived_epic(epic_id)
            return found.facts() if found is not None else None

        return PlanFacts(tasks, epics, max_retries=lambda: self.config.max_retries,
                         archived_task=archived_task, archived_epic=archived_epic,
                         require_review=lambda: self.config.require_review)

    @property
    def facts(self) -> PlanFacts:
        """The plan as facts, as it was read (edits a builder makes to items are not in it)."""
        if self._facts is None:
            self._facts = self._facts_of({}, {})
        return self._facts

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

    def open_epic_dependencies(self, epic: Epic | EpicFacts) -> list[str]:
        """The epics ``epic`` depends on that are not closed (archived ones are closed)."""
        return self.facts.open_epic_dependencies(epic.facts() if isinstance(epic, Epic) else epic)

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
        return [self.tasks[t.id] for t in self.facts.tasks_of(epic_id)]

    def sorted_tasks(self, only: Iterable[str] | None = None) -> list[Task]:
        return [self.tasks[t.id] for t in self.facts.sorted_tasks(only)]

    def sorted_epics(self) -> list[Epic]:
        return [self.epics[e.id] for e in self.facts.sorted_epics()]

    def dependents(self, task_id: str) -> list[Task]:
        return [self.tasks[t.id] for t in self.facts.dependents(task_id)]

    # States (model/facts.py computes them, once per plan) -------------------------------------

    def effective_states(self) -> dict[str, str]:
        """Stored states with ``upstream_failed`` derived (computed once per plan)."""
        return self.facts.effective_states()

    def state_of(self, task_id: str) -> str:
        return self.facts.state_of(task_id)

    def dependency_states(self, task: Task | TaskFacts) -> dict[str, str]:
        return self.facts.dependency_states(task)

    def unsatisfied_dependencies(self, task: Task | TaskFacts) -> list[str]:
        return self.facts.unsatisfied_dependencies(task)

    def view_state(self, task_id: str) -> str:
        """What a board shows: ``ready`` and ``waiting`` split out of todo/up_for_retry."""
        return self.facts.view_state(task_id)

    def gate(self, task: Task | TaskFacts, action: str) -> None:
        """Refuse to start or finish a task whose dependencies are not satisfied, naming each
        (and to start one whose epic waits for an open epic: facts.PlanFacts.gate)."""
        self.facts.gate(task, action, task.epic)

    def next_task_number(self, epic_id: str) -> int:
        return self.facts.next_task_number(epic_id)
