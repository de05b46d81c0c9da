"""Read models: the JSON shapes commands print (flowctl's field names where it had the concept).

Built from the plan's facts (model/facts.py), never from parsed files, so a report over the
whole plan costs no parsing; `show` adds the one file's frontmatter and body. The click
commands and the lean read path (views/lean.py) both call these, so they print the same JSON.
"""

from __future__ import annotations

from git_flowctl.model import states
from git_flowctl.model.layout import epic_path, task_path
from git_flowctl.model.markdown import get_section

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from git_flowctl.coordination.queries import Offer
    from git_flowctl.model.facts import EpicFacts, PlanFacts, TaskFacts

TASK_SECTIONS = ("Description", "Acceptance", "Done summary", "Evidence")  # items.TASK_SECTIONS


def _section_key(title: str) -> str:
    return title.lower().replace(" ", "_")


def task_summary(facts: PlanFacts, task: TaskFacts) -> dict[str, Any]:
    """The row shape of `tasks`: flowctl's id, epic, title, status, priority, domain, depends_on."""
    return {
        "id": task.id,
        "epic": task.epic,
        "title": task.title,
        "status": facts.state_of(task.id),
        "priority": task.priority,
        "domain": task.domain,
        "depends_on": list(task.depends_on),
    }


def task_detail(facts: PlanFacts, task: TaskFacts, frontmatter: Mapping[str, Any],
                body: str, offer: Offer) -> dict[str, Any]:
    """`show TASK`: every frontmatter field, the derived states and the body's sections.
    ``view_state`` and ``waiting_on`` are what the actor may do (queries.Offer)."""
    data: dict[str, Any] = dict(frontmatter)
    data.update({
        "id": task.id,
        "status": facts.state_of(task.id),
        "stored_status": task.status,
        "view_state": offer.state(task.id),
        "waiting_on": offer.waiting_on(task.id),
        "depends_on": list(task.depends_on),
        "trigger_rule": task.trigger_rule,
        "attempts": task.attempts,
        "max_retries": task.max_retries(facts.max_retries),
        "blocked_by": facts.unsatisfied_dependencies(task),
        "dependents": [t.id for t in facts.dependents(task.id)],
        "spec_path": task_path(task.id),
    })
    for title in TASK_SECTIONS:
        data[_section_key(title)] = get_section(body, title)
    return data


def epic_summary(facts: PlanFacts, epic: EpicFacts) -> dict[str, Any]:
    tasks = facts.tasks_of(epic.id)
    finished = sum(1 for t in tasks if t.status in states.FINISHED)
    return {
        "id": epic.id,
        "title": epic.title,
        "status": epic.status,
        "depends_on_epics": list(epic.depends_on_epics),
        "tasks": len(tasks),
        "done": sum(1 for t in tasks if t.status == states.DONE),
        "finished": finished,
    }


def epic_detail(facts: PlanFacts, epic: EpicFacts, frontmatter: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = dict(frontmatter)
    data.update(epic_summary(facts, epic))
    data["spec_path"] = epic_path(epic.id)
    data["tasks"] = [
        {"id": t.id, "title": t.title, "status": facts.state_of(t.id), "priority": t.priority,
         "depends_on": list(t.depends_on)}
        for t in facts.tasks_of(epic.id)
    ]
    return data


COUNTED_STATES = ("todo", "in_progress", "blocked", "done", "skipped", "failed", "up_for_retry",
                  "upstream_failed")


def state_counts(facts: PlanFacts, task_ids: Iterable[str]) -> dict[str, int]:
    return facts.state_counts(task_ids, COUNTED_STATES)


def status_report(facts: PlanFacts, initialized: bool, offer: Offer) -> dict[str, Any]:
    epics = facts.sorted_epics()
    per_epic = []
    for epic in epics:
        ids_of_epic = [t.id for t in facts.tasks_of(epic.id)]
        per_epic.append({"id": epic.id, "title": epic.title, "status": epic.status,
                         "total": len(ids_of_epic), "tasks": state_counts(facts, ids_of_epic)})
    views = facts.view_states()
    ready = [t.id for t in facts.sorted_tasks()
             if views[t.id] == states.READY and offer.is_ready(t.id)]
    return {
        "flow_exists": initialized,
        "epics": {"open": sum(1 for e in epics if e.status == "open"),
                  "done": sum(1 for e in epics if e.status == "done")},
        "tasks": state_counts(facts, list(facts.tasks)),
        "total_tasks": len(facts.tasks),
        "ready": ready,
        "per_epic": per_epic,
    }


def task_rows(facts: PlanFacts, offer: Offer, epic_id: str | None = None,
              statuses: Iterable[str] = (), domain: str | None = None) -> list[dict[str, Any]]:
    """`tasks`: the rows of the tasks chosen (before landing is marked), in ID order; ``ready``
    and ``waiting`` choose by what the actor may start (queries.Offer)."""
    wanted = frozenset(statuses)
    rows = []
    for task in facts.sorted_tasks():
        if epic_id and task.epic != epic_id:
            continue
        if domain and task.domain != domain:
            continue
        if wanted and facts.state_of(task.id) not in wanted and offer.state(task.id) not in wanted:
            continue
        rows.append(task_summary(facts, task))
    return rows


def mark_landed(rows: list[dict[str, Any]], landed: Iterable[str]) -> list[dict[str, Any]]:
    chosen = landed if isinstance(landed, (set, frozenset)) else set(landed)
    for row in rows:
        row["landed"] = row["id"] in chosen
    return rows
