"""Read models: the JSON shapes commands print (flowctl's field names where it had the concept)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from git_flowctl.model import states
from git_flowctl.model.items import TASK_SECTIONS, Epic, Task
from git_flowctl.repo.plan import Plan


def _section_key(title: str) -> str:
    return title.lower().replace(" ", "_")


def task_summary(plan: Plan, task: Task) -> dict[str, Any]:
    """The row shape of `tasks`: flowctl's id, epic, title, status, priority, domain, depends_on."""
    return {
        "id": task.id,
        "epic": task.epic,
        "title": task.title,
        "status": plan.state_of(task.id),
        "priority": task.priority,
        "domain": task.domain,
        "depends_on": task.depends_on,
    }


def task_detail(plan: Plan, task: Task) -> dict[str, Any]:
    data: dict[str, Any] = {key: value for key, value in task.doc.data.items()}
    effective = plan.state_of(task.id)
    data.update({
        "id": task.id,
        "status": effective,
        "stored_status": task.status,
        "view_state": plan.view_state(task.id),
        "depends_on": task.depends_on,
        "trigger_rule": task.trigger_rule,
        "attempts": task.attempts,
        "max_retries": task.max_retries(plan.config.max_retries),
        "blocked_by": plan.unsatisfied_dependencies(task),
        "dependents": [t.id for t in plan.dependents(task.id)],
        "spec_path": task.path,
    })
    for title in TASK_SECTIONS:
        data[_section_key(title)] = task.doc.section(title)
    return data


def epic_summary(plan: Plan, epic: Epic) -> dict[str, Any]:
    tasks = plan.tasks_of(epic.id)
    finished = sum(1 for t in tasks if t.status in states.FINISHED)
    return {
        "id": epic.id,
        "title": epic.title,
        "status": epic.status,
        "depends_on_epics": epic.depends_on_epics,
        "tasks": len(tasks),
        "done": sum(1 for t in tasks if t.status == states.DONE),
        "finished": finished,
    }


def epic_detail(plan: Plan, epic: Epic) -> dict[str, Any]:
    data: dict[str, Any] = {key: value for key, value in epic.doc.data.items()}
    data.update(epic_summary(plan, epic))
    data["spec_path"] = epic.path
    data["tasks"] = [
        {"id": t.id, "title": t.title, "status": plan.state_of(t.id), "priority": t.priority,
         "depends_on": t.depends_on}
        for t in plan.tasks_of(epic.id)
    ]
    return data


COUNTED_STATES = ("todo", "in_progress", "blocked", "done", "skipped", "failed", "up_for_retry",
                  "upstream_failed")


def state_counts(plan: Plan, task_ids: list[str]) -> dict[str, int]:
    counts = Counter(plan.state_of(task_id) for task_id in task_ids)
    return {state: counts.get(state, 0) for state in COUNTED_STATES}


def status_report(plan: Plan) -> dict[str, Any]:
    epics = plan.sorted_epics()
    per_epic = []
    for epic in epics:
        ids_of_epic = [t.id for t in plan.tasks_of(epic.id)]
        per_epic.append({"id": epic.id, "title": epic.title, "status": epic.status,
                         "total": len(ids_of_epic), "tasks": state_counts(plan, ids_of_epic)})
    ready = [t.id for t in plan.sorted_tasks() if plan.view_state(t.id) == states.READY]
    return {
        "flow_exists": plan.initialized,
        "epics": {"open": sum(1 for e in epics if e.status == "open"),
                  "done": sum(1 for e in epics if e.status == "done")},
        "tasks": state_counts(plan, list(plan.tasks)),
        "total_tasks": len(plan.tasks),
        "ready": ready,
        "per_epic": per_epic,
    }
