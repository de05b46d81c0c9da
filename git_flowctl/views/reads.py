"""The JSON answers of `show`, `tasks` and `status`: the plan's shapes (shapes.py) plus what is
landed on the default branch. The CLI prints them, the MCP server returns them (issue #18), so
both give the same fields.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from git_flowctl.coordination import availability
from git_flowctl.coordination.landing import Landing, landed_tasks
from git_flowctl.coordination.queries import Offer
from git_flowctl.coordination.runs import list_runs
from git_flowctl.model import ids
from git_flowctl.model.errors import FlowError
from git_flowctl.model.ids import id_sort_key
from git_flowctl.model.items import TASK_SECTIONS, Epic, Task
from git_flowctl.repo.plan import Plan
from git_flowctl.views.shapes import epic_detail, status_report, task_detail, task_rows

if TYPE_CHECKING:
    from git_flowctl.repo.workspace import Workspace


@dataclass(frozen=True)
class Answer:
    """A read command's JSON fields, and what its human rendering needs to know."""

    payload: dict[str, Any]
    kind: str = ""  # show: "task" or "epic"
    mark_landed: bool = False  # the plan read is not the default branch: say what landed there
    # the plan read is the default branch: say which done tasks' code is not on it yet (a run's
    # flow/ branch that has not landed, issue #17)
    mark_not_landed: bool = False


def mark_landed(rows: list[dict[str, Any]], landing: Landing) -> list[dict[str, Any]]:
    for row in rows:
        row["landed"] = row["id"] in landing.landed
    return rows


def offer_for(ws: Workspace, plan: Plan, rev: str | None) -> Offer:
    """What the actor may start now (availability.offer), with today's claims: a revision read
    (``--rev``) answers as a checkout of that revision would."""
    return availability.offer(ws, plan, ws.actor(), rev=rev)


def show_answer(ws: Workspace, plan: Plan, ref: str, rev: str | None) -> Answer:
    """`show ID`: a task (fields, derived state, sections) or an epic with its tasks; an archived
    one read-only."""
    try:
        item = plan.resolve_any(ref)
    except FlowError as error:
        archived = plan.resolve_archived(ref) if error.details.get("archived") else None
        if archived is None:
            raise
        return _archived_answer(plan, archived)
    landing = landed_tasks(ws, plan, rev)
    if isinstance(item, Task):
        detail = task_detail(plan.facts, plan.facts.tasks[item.id], item.doc.data, item.doc.body,
                             offer_for(ws, plan, rev))
        detail["landed"] = item.id in landing.landed
        detail["default_branch"] = landing.branch_name
        return Answer(detail, "task")
    assert isinstance(item, Epic)
    detail = epic_detail(plan.facts, plan.facts.epics[item.id], item.doc.data)
    mark_landed(detail["tasks"], landing)
    return Answer(detail, "epic", mark_landed=not landing.reading_default,
                  mark_not_landed=landing.reading_default)


def _archived_answer(plan: Plan, item: Task | Epic) -> Answer:
    detail: dict[str, Any] = {**item.doc.data, "archived": True, "spec_path": item.path}
    if isinstance(item, Task):
        detail.update(stored_status=item.status, view_state=item.status, depends_on=item.depends_on,
                      blocked_by=[], waiting_on=[], attempts=item.attempts,
                      max_retries=item.max_retries(plan.config.max_retries), landed=False)
        for title in TASK_SECTIONS:
            detail[title.lower().replace(" ", "_")] = item.doc.section(title)
        return Answer(detail, "task")
    task_ids = sorted((t for t in plan.archived_task_ids() if ids.epic_of(t) == item.id),
                      key=ids.id_sort_key)
    rows = []
    for task_id in task_ids:
        task = plan.archived_task(task_id)
        if task is not None:
            rows.append({"id": task.id, "title": task.title, "status": task.status,
                         "priority": task.priority, "depends_on": task.depends_on})
    detail.update(tasks=rows, done=sum(1 for r in rows if r["status"] == "done"))
    return Answer(detail, "epic")


def tasks_answer(ws: Workspace, plan: Plan, *, epic_ref: str | None = None,
                 statuses: Collection[str] = (), domain: str | None = None,
                 rev: str | None = None) -> Answer:
    """`tasks`: the rows of the tasks that pass every filter (a status filter matches the stored
    state or the derived one: ready, waiting, upstream_failed)."""
    epic_id = plan.resolve_epic(epic_ref) if epic_ref else None
    rows = task_rows(plan.facts, offer_for(ws, plan, rev), epic_id, statuses, domain)
    landing = landed_tasks(ws, plan, rev)
    mark_landed(rows, landing)
    return Answer({"tasks": rows, "count": len(rows)}, mark_landed=not landing.reading_default,
                  mark_not_landed=landing.reading_default)


def status_answer(ws: Workspace, plan: Plan, rev: str | None) -> Answer:
    """`status`: counts per state and epic, the ready tasks, and what landed. The JSON names no
    source, so `status --rev HEAD~3` prints what `status` printed then."""
    report = status_report(plan.facts, plan.initialized, offer_for(ws, plan, rev))
    landing = landed_tasks(ws, plan, rev)
    report["default_branch"] = landing.branch_name
    report["landed"] = sorted(landing.landed, key=id_sort_key)
    report["not_landed"] = sorted(landing.not_landed, key=id_sort_key) \
        if landing.default_branch is not None else []
    report["runs"] = list_runs(ws.common_dir)  # flowctl's key: the registered runs (issue #16)
    return Answer(report, mark_landed=not landing.reading_default,
                  mark_not_landed=landing.reading_default)
