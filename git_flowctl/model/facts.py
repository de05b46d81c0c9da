"""The plan as facts: one compact record per task and epic, and every derived fact, once.

A ``TaskFacts`` or ``EpicFacts`` holds what the read commands and the gates need from a file
(typed as ``items.Task`` and ``items.Epic`` read them: ``items.task_facts`` makes one). The
plan snapshot (repo/catalog.py) stores them, so a read answers from facts without parsing
YAML, and the lean read path (views/lean.py) answers without loading click, YAML or pygit2.

``PlanFacts`` is the one place where the derived facts are computed: effective states
(``upstream_failed``), ``ready`` and ``waiting``, unsatisfied dependencies, the gates, epics'
open dependencies, tasks per epic and dependents. ``Plan`` (repo/plan.py) delegates to it,
and the lean path uses it directly, so both paths give the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping

from git_flowctl.model import ids, states
from git_flowctl.model.errors import FlowError

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (tuples.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any, NamedTuple, Protocol

    class HasDependencies(Protocol):
        """A task as the gates read it: a TaskFacts, or an items.Task being edited."""

        @property
        def id(self) -> str: ...
        @property
        def depends_on(self) -> list[str]: ...
        @property
        def trigger_rule(self) -> str: ...
else:
    from git_flowctl.model.tuples import NamedTuple


class TaskFacts(NamedTuple):
    """A task file's fields as the commands read them (``items.Task``'s typed reads)."""

    id: str
    epic: str
    title: str
    status: str
    depends_on: list[str]
    priority: int | None
    domain: str | None
    assignee: str | None
    trigger_rule: str
    blocked_reason: str | None
    skipped_reason: str | None
    attempts: int
    max_retries_set: int | None  # the file's own max_retries, None for the config's default
    epic_number: int
    number: int
    estimate: float | None = None
    files: tuple[str, ...] = ()  # the paths it owns (coordination/ownership.py)

    def sort_key(self) -> tuple[int, int, int, str]:
        """flowctl's order: priority (absent last), then task number, then title."""
        priority = self.priority if self.priority is not None else 999
        return (priority, self.epic_number, self.number, self.title)

    def id_key(self) -> tuple[int, int, str]:
        """``ids.id_sort_key`` of the ID."""
        return (self.epic_number, self.number, self.id)

    def max_retries(self, default: int) -> int:
        return self.max_retries_set if self.max_retries_set is not None else default


class EpicFacts(NamedTuple):
    id: str
    title: str
    status: str
    depends_on_epics: list[str]
    priority: int | None
    branch: str | None
    number: int
    plan_review: str | None = None  # the latest verdicts (model/reviews.py: verdict_in)
    completion_review: str | None = None

    def id_key(self) -> tuple[int, int, str]:
        return (self.number, 0, self.id)


class Rows(Mapping[str, "Any"]):
    """Stored rows by ID, each made into its facts record on first access: a transition
    looks at a few tasks of a plan of thousands (repo/plan.py)."""

    def __init__(self, rows: dict[str, Any], make: Callable[[Any], Any], *,
                 statuses: Mapping[str, str | None] | None = None, epic_in_id: bool = False) -> None:
        """``statuses``: every row's status, known without making records (PlanFacts.with_status);
        ``epic_in_id``: every task's epic is the epic part of its ID (a loaded plan's rule,
        items.task_field_problems), so that PlanFacts.tasks_of need not look at the others."""
        self._rows = rows
        self._make = make
        self._made: dict[str, Any] = {}
        self.statuses = statuses
        self.epic_in_id = epic_in_id

    def __getitem__(self, key: str) -> Any:
        found = self._made.get(key)
        if found is None:
            found = self._made[key] = self._make(self._rows[key])
        return found

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class PlanFacts:
    """Every live task and epic of one tree as facts, and what is derived from them.

    ``tasks`` and ``epics`` are in file-name order (the order of ``Plan.load``).
    ``archived_task`` and ``archived_epic`` look up ``.flow/archive/`` only when a dependency
    names an ID that is not live (docs/states.md#archive).
    """

    def __init__(self, tasks: Mapping[str, TaskFacts], epics: Mapping[str, EpicFacts], *,
                 max_retries: int | Callable[[], int] = 2,
                 archived_task: Callable[[str], TaskFacts | None] = lambda _id: None,
                 archived_epic: Callable[[str], EpicFacts | None] = lambda _id: None,
                 effective: dict[str, str] | None = None,
                 require_review: Callable[[], frozenset[str]] = frozenset,
                 derived: Mapping[str, Any] | None = None) -> None:
        """``effective``: ``effective_states()`` as computed before from the same facts (the
        lean reads keep it with the snapshot, repo/catalog.py ``load_derived``); ``derived``:
        all of what ``derived()`` gave for the same facts (it wins over ``effective``)."""
        self.tasks = tasks
        self.epics = epics
        self._max_retries = max_retries
        self.archived_task = archived_task
        self.archived_epic = archived_epic
        # The review kinds a SHIP verdict is needed for (Config.require_review, which refuses a
        # bad setting only when it is asked: so here).
        self.require_review = require_review
        self._effective: dict[str, str] | None = effective
        # Whether the whole computation met no cycle (then a change can be followed: ``follow``).
        self.acyclic: bool | None = None
        self._some: dict[str, str] = {}  # states resolved one task at a time (state_of)
        self._views: dict[str, str] | None = None
        if derived is not None and isinstance(derived.get("effective"), dict):
            self._effective = derived["effective"]
            acyclic = derived.get("acyclic")
            self.acyclic = acyclic if isinstance(acyclic, bool) else None
            views = derived.get("views")
            self._views = views if isinstance(views, dict) else None
        self._epic_waits: dict[str, list[str]] = {}
        self._by_epic: dict[str, list[TaskFacts]] | None = None
        self._ids_by_epic: dict[str, list[str]] | None = None
        self._dependents: dict[str, list[TaskFacts]] | None = None
        self._dependents_asked = False
        self._sorted_tasks: list[TaskFacts] | None = None

    @property
    def max_retries(self) -> int:
        """config.yaml's max_retries, read when asked (a value of the wrong type is an error
        then, as Config.get says: Plan.load does not ask it)."""
        if callable(self._max_retries):
            self._max_retries = self._max_retries()
        return self._max_retries

    # Indexes (built once, on first use) -----------------------------------------------------

    def tasks_of(self, epic_id: str) -> list[TaskFacts]:
        """An epic's tasks (by their ``epic`` field) in ID order."""
        if self._by_epic is None and isinstance(self.tasks, Rows) and self.tasks.epic_in_id:
            if self._ids_by_epic is None:
                found: dict[str, list[str]] = {}
                for task_id in self.tasks:
                    found.setdefault(ids.epic_of(task_id), []).append(task_id)
                self._ids_by_epic = found
            return [self.tasks[task_id] for task_id in
                    sorted(self._ids_by_epic.get(epic_id, ()), key=ids.id_sort_key)]
        if self._by_epic is None:
            by_epic: dict[str, list[TaskFacts]] = {}
            for task in self.sorted_tasks():
                by_epic.setdefault(task.epic, []).append(task)
            self._by_epic = by_epic
        return list(self._by_epic.get(epic_id, ()))

    def with_status(self, status: str) -> list[TaskFacts]:
        """The tasks whose stored status is ``status``, in file-name order."""
        if isinstance(self.tasks, Rows) and self.tasks.statuses is not None:
            return [self.tasks[task_id] for task_id, stored in self.tasks.statuses.items()
                    if stored == status]
        return [task for task in self.tasks.values() if task.status == status]

    def sorted_tasks(self, only: Iterable[str] | None = None) -> list[TaskFacts]:
        """Tasks in ID order (``ids.id_sort_key``): all of them, or those named."""
        if only is not None:
            return sorted((self.tasks[i] for i in only), key=TaskFacts.id_key)
        if self._sorted_tasks is None:
            self._sorted_tasks = sorted(self.tasks.values(), key=TaskFacts.id_key)
        return list(self._sorted_tasks)

    def sorted_epics(self) -> list[EpicFacts]:
        return sorted(self.epics.values(), key=EpicFacts.id_key)

    def dependents(self, task_id: str) -> list[TaskFacts]:
        """The tasks that depend on ``task_id``, in ID order. The first question is answered
        by a scan (`show` of one task at 50,000 tasks); the index is built for the second."""
        if self._dependents is None and not self._dependents_asked:
            self._dependents_asked = True
            return sorted((task for task in self.tasks.values() if task_id in task.depends_on),
                          key=TaskFacts.id_key)
        if self._dependents is None:
            found: dict[str, list[TaskFacts]] = {}
            for task in self.sorted_tasks():
                for dep in dict.fromkeys(task.depends_on):
                    found.setdefault(dep, []).append(task)
            self._dependents = found
        return list(self._dependents.get(task_id, ()))

    def next_task_number(self, epic_id: str) -> int:
        numbers = [t.number for t in self.tasks.values() if t.epic == epic_id]
        return max(numbers, default=0) + 1

    def open_epic_dependencies(self, epic: EpicFacts) -> list[str]:
        """The epics ``epic`` depends on that are not closed (archived ones are closed)."""
        waiting = []
        for dep in epic.depends_on_epics:
            if dep in self.epics:
                if self.epics[dep].status != "done":
                    waiting.append(dep)
            elif self.archived_epic(dep) is None:
                waiting.append(dep)
        return waiting

    def epic_waits(self, epic_id: str | None) -> list[str]:
        """The open epics that ``epic_id`` depends on. No task of an epic starts while one is
        open: an epic dependency is a dependency of every task of the epic
        (docs/states.md#epic-dependencies)."""
        if epic_id is None:
            return []
        found = self._epic_waits.get(epic_id)
        if found is None:
            epic = self.epics.get(epic_id)
            found = self.open_epic_dependencies(epic) if epic is not None else []
            self._epic_waits[epic_id] = found
        return list(found)

    def epic_links(self, epic_id: str) -> list[tuple[str, str]]:
        """What an epic dependency means between tasks, for pictures and the critical path:
        (a task of an open epic ``epic_id`` depends on, a task of ``epic_id``) for the last
        tasks of the one (no task of their epic depends on them) and the first of the other (they
        depend on no task of their epic). Every task of the epic waits for every task of the
        other (``epic_waits``); these links are the fewest that say so."""
        firsts = [task.id for task in self.tasks_of(epic_id)
                  if not any(dep in self.tasks and self.tasks[dep].epic == epic_id
                             for dep in task.depends_on)]
        links = []
        for dep_epic in self.epic_waits(epic_id):
            inside = self.tasks_of(dep_epic)
            needed = {dep for task in inside for dep in task.depends_on}
            lasts = [task.id for task in inside if task.id not in needed]
            links += [(last, first) for last in lasts for first in firsts]
        return links

    # States ---------------------------------------------------------------------------------

    def effective_states(self) -> dict[str, str]:
        """Stored states with ``upstream_failed`` derived (computed once)."""
        if self._effective is None:
            tasks = self.tasks
            stored = {t.id: t.status for t in tasks.values()}
            for task in tasks.values():
                for dep in task.depends_on:
                    if dep not in stored and (archived := self.archived_task(dep)) is not None:
                        stored[dep] = archived.status  # done or skipped: archive needs a closed epic
            # A task that cannot start keeps its stored state whatever its dependencies are:
            # only todo and up_for_retry need the walk (states.effective_resolver).
            effective = {task_id: state for task_id, state in stored.items()
                         if state not in states.STARTABLE}
            cycles: list[str] = []
            resolve = self._resolver(stored.get, effective, cycles)
            for task_id, state in stored.items():
                if state in states.STARTABLE:
                    resolve(task_id)
            self._effective = effective
            self.acyclic = not cycles
        return self._effective

    def follow(self, before: Mapping[str, Any], changed: Iterable[str]) -> None:
        """Take ``effective_states`` and ``view_states`` from ``before`` (this plan's derived
        facts, ``derived()``, before the tasks ``changed`` were added, edited or removed, with
        the epics, the archive and the settings as they are), computing again only those tasks
        and the tasks that depend on them: the first read after a transition at 50,000 tasks
        costs the change, not the plan (issue #11). Nothing is taken when the plan before had
        a cycle (its states could depend on the order of the walk) or the walk meets one: they
        are then computed whole when asked."""
        effective, views = before.get("effective"), before.get("views")
        if before.get("acyclic") is not True or not isinstance(effective, dict) \
                or self._effective is not None:
            return
        tasks = self.tasks
        depending: dict[str, list[str]] = {}
        for task in tasks.values():
            for dep in task.depends_on:
                depending.setdefault(dep, []).append(task.id)
        dirty = set(changed)
        queue = list(dirty)
        while queue:
            for dependent in depending.get(queue.pop(), ()):
                if dependent not in dirty:
                    dirty.add(dependent)
                    queue.append(dependent)
        # As effective_states: live tasks, and the archived tasks live ones depend on.
        found = {task_id: state for task_id, state in effective.items()
                 if task_id not in dirty and (task_id in tasks or task_id in depending)}
        cycles: list[str] = []
        resolve = self._resolver(self._stored_of, found, cycles)
        live = [task_id for task_id in dirty if task_id in tasks]
        for task_id in live:
            for dep in tasks[task_id].depends_on:  # an archived dependency, as effective_states
                if dep not in tasks and dep not in found \
                        and (archived := self.archived_task(dep)) is not None:
                    found[dep] = archived.status
        for task_id in live:
            if tasks[task_id].status not in states.STARTABLE:
                found[task_id] = tasks[task_id].status
        for task_id in live:
            resolve(task_id)
        if cycles:
            return
        self._effective, self.acyclic = found, True
        if isinstance(views, dict):
            kept = {task_id: view for task_id, view in views.items()
                    if task_id not in dirty and task_id in tasks}
            kept.update((task_id, self.view_state(task_id)) for task_id in live)
            self._views = {task_id: kept[task_id] for task_id in tasks}  # in the plan's order

    def derived(self) -> dict[str, Any]:
        """What ``follow`` takes, as far as it was computed: keep it with the plan's snapshot."""
        found: dict[str, Any] = {}
        if self._effective is not None and self.acyclic is not None:
            found.update(effective=self._effective, acyclic=self.acyclic)
            if self._views is not None:
                found["views"] = self._views
        return found

    def state_of(self, task_id: str) -> str:
        """One task's effective state. Before ``effective_states`` has run, only the task's
        dependencies are walked (a transition's gate costs its dependencies, not the plan);
        where the walk meets a cycle the answer could depend on where it began, so then the
        whole plan is computed, as ``effective_states`` does, and answers."""
        if self._effective is not None:
            return self._effective.get(task_id, states.MISSING)
        found = self._some
        if task_id in found:
            return found[task_id]
        if task_id not in self.tasks:
            stored = self._stored_of(task_id)  # an archived dependency: its stored state
            return states.MISSING if stored is None else stored
        cycles: list[str] = []
        known = len(found)
        resolve = self._resolver(self._stored_of, found, cycles)
        state = resolve(task_id)
        if cycles:  # the walk only added keys: take them back, and compute the whole plan
            for added in list(found)[known:]:
                del found[added]
            return self.effective_states().get(task_id, states.MISSING)
        return state

    def _resolver(self, stored_of: Callable[[str], str | None], found: dict[str, str],
                  cycles: list[str]) -> Callable[[str], str]:
        """``states.effective_resolver`` over this plan's tasks, into ``found``."""
        tasks = self.tasks
        return states.effective_resolver(
            stored_of,
            lambda task_id: tasks[task_id].depends_on if task_id in tasks else [],
            lambda task_id: tasks[task_id].trigger_rule if task_id in tasks else "all_success",
            found, cycles)

    def _stored_of(self, task_id: str) -> str | None:
        """A task's stored state: a live task's, else an archived one's (a dependency)."""
        task = self.tasks.get(task_id)
        if task is not None:
            return task.status
        archived = self.archived_task(task_id)
        return archived.status if archived is not None else None

    def dependency_states(self, task: HasDependencies) -> dict[str, str]:
        return {dep: self.state_of(dep) for dep in task.depends_on}

    def unsatisfied_dependencies(self, task: HasDependencies) -> list[str]:
        return states.unsatisfied(task.trigger_rule, self.dependency_states(task))

    def waiting_on(self, task: TaskFacts) -> list[str]:
        """What a startable task waits for: its unsatisfied dependencies, then the open epics
        its epic depends on (``epic_waits``). Empty: it is ready."""
        return self.unsatisfied_dependencies(task) + self.epic_waits(task.epic)

    def retry_note(self, task_id: str) -> str | None:
        """``retry 1 of 2`` for an up_for_retry task (its failed attempts, of max_retries), so
        that views tell it from a fresh ready task; None otherwise."""
        task = self.tasks.get(task_id)
        if task is None or task.status != states.UP_FOR_RETRY:
            return None
        return f"retry {task.attempts} of {task.max_retries(self.max_retries)}"

    def view_state(self, task_id: str) -> str:
        """What every view shows: ``ready`` and ``waiting`` (``waiting_on``) split out of
        todo/up_for_retry; the one definition `start` gates on (``gate``)."""
        if self._views is not None:
            return self._views[task_id]
        state = self.state_of(task_id)
        if state in states.STARTABLE:
            return states.WAITING if self.waiting_on(self.tasks[task_id]) else states.READY
        return state

    def view_states(self) -> dict[str, str]:
        """``view_state`` of every task (computed once, for reports over the whole plan)."""
        if self._views is None:
            self.effective_states()
            self._views = {task_id: self.view_state(task_id) for task_id in self.tasks}
        return self._views

    def gate(self, task: HasDependencies, action: str, epic_id: str | None = None) -> None:
        """Refuse to start or finish a task whose dependencies are not satisfied, naming each;
        ``start`` also refuses while its epic (``epic_id``) waits for an open epic. Work already
        under way finishes (docs/states.md#epic-dependencies)."""
        blocking = self.unsatisfied_dependencies(task)
        epics = self.epic_waits(epic_id) if action == "start" else []
        if not blocking and not epics:
            return
        found = {dep: self.state_of(dep) for dep in blocking}
        said = ["dependencies not satisfied: "
                + ", ".join(f"{dep} ({state})" for dep, state in found.items())] if found else []
        if epics:
            said.append(f"its epic {epic_id} waits for epic {', '.join(epics)} (open)")
        hints = [states.unsatisfied_hint(found)] if found else []
        if epics:
            hints.append(states.epic_wait_hint(epics))
        raise FlowError(f"cannot {action} {task.id}: " + "; ".join(said),
                        hint="; ".join(hints),
                        id=task.id, blocked_by=blocking + epics,
                        waiting_on=[*({"task": dep, "state": state} for dep, state in found.items()),
                                    *({"epic": epic, "state": "open"} for epic in epics)])

    def state_counts(self, task_ids: Iterable[str], counted: Iterable[str]) -> dict[str, int]:
        effective = self.effective_states()
        counts: dict[str, int] = {}
        for task_id in task_ids:
            state = effective.get(task_id, states.MISSING)
            counts[state] = counts.get(state, 0) + 1
        return {state: counts.get(state, 0) for state in counted}

