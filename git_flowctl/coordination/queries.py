"""What can be worked on: `ready` and `next`, in flowctl's JSON shapes.

Ordering is flowctl's: epics in number order; inside an epic, tasks by priority (absent last),
task number, title. ``held`` maps task IDs to the actor holding a claim on them (issue #7); a
task someone else holds is not offered.

Built on the plan's facts (model/facts.py), so the click commands and the lean read path
(views/lean.py) give the same answers; standard library only at import time.
"""

from __future__ import annotations

from git_flowctl.model import reviews, states

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from git_flowctl.model.facts import EpicFacts, PlanFacts, TaskFacts


def _epic_deps_open(plan: PlanFacts, epic: EpicFacts) -> list[str]:
    return plan.open_epic_dependencies(epic)


def _sorted(tasks: list[TaskFacts]) -> list[TaskFacts]:
    return sorted(tasks, key=lambda t: t.sort_key())


def is_ready(plan: PlanFacts, task: TaskFacts, actor: str | None = None,
             held: Mapping[str, str] | None = None) -> bool:
    if plan.view_state(task.id) != states.READY:
        return False
    holder = (held or {}).get(task.id)
    return holder is None or holder == actor


def ready_report(plan: PlanFacts, actor: str, epic_id: str | None = None,
                 held: Mapping[str, str] | None = None) -> dict[str, Any]:
    chosen = [t for t in plan.tasks.values() if epic_id is None or t.epic == epic_id]
    ready: list[dict[str, Any]] = []
    in_progress: list[dict[str, Any]] = []
    blocked: list[dict[str, Any]] = []
    waiting_epics = {e.id: _epic_deps_open(plan, e) for e in plan.epics.values()}
    for task in _sorted(chosen):
        state = plan.state_of(task.id)
        if state == states.IN_PROGRESS:
            in_progress.append({"id": task.id, "title": task.title, "assignee": task.assignee})
        elif state == states.BLOCKED:
            blocked.append({"id": task.id, "title": task.title, "blocked_by": ["status=blocked"],
                            "reason": task.blocked_reason})
        elif state in states.STARTABLE:
            waiting_on = plan.unsatisfied_dependencies(task)
            holder = (held or {}).get(task.id)
            if waiting_on:
                blocked.append({"id": task.id, "title": task.title, "blocked_by": waiting_on})
            elif holder is not None and holder != actor:
                blocked.append({"id": task.id, "title": task.title,
                                "blocked_by": [f"claimed_by={holder}"]})
            elif waiting_epics.get(task.epic):
                # Its own dependencies are met, but its epic waits on another epic: `next` and
                # `run` pass it over, so it is not offered as ready either.
                blocked.append({"id": task.id, "title": task.title,
                                "blocked_by": [f"epic={dep}" for dep in waiting_epics[task.epic]]})
            else:
                ready.append({"id": task.id, "title": task.title,
                              "depends_on": list(task.depends_on), "priority": task.priority})
        elif state == states.UPSTREAM_FAILED:
            failed_deps = [d for d, s in plan.dependency_states(task).items()
                           if s in (states.FAILED, states.UPSTREAM_FAILED)]
            blocked.append({"id": task.id, "title": task.title, "blocked_by": failed_deps,
                            "upstream_failed": True})
    return {"epic": epic_id, "actor": actor, "ready": ready, "in_progress": in_progress,
            "blocked": blocked}


def next_work(plan: PlanFacts, actor: str, epic_id: str | None = None,
              held: Mapping[str, str] | None = None,
              exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The one thing the actor should do next.

    Their own in-progress task first (``resume_in_progress``), else the best ready task
    (``ready_task``); epics that are done, or whose epic dependencies are open, are passed over and
    listed. ``exclude`` skips candidates (a `next --claim` that lost a race moves on). With
    ``require_review`` (issue #15) an epic without a SHIP plan verdict answers ``plan`` /
    ``needs_plan_review``, and one whose tasks are all finished without a SHIP completion verdict
    ``completion_review`` / ``needs_completion_review`` (flowctl's answers).
    """
    epics = [plan.epics[epic_id]] if epic_id else plan.sorted_epics()
    in_scope = {e.id for e in epics}
    own = _sorted([t for t in plan.with_status(states.IN_PROGRESS)
                   if t.epic in in_scope
                   and t.assignee == actor and t.id not in exclude])
    if own:
        return _answer("work", own[0], "resume_in_progress", [])
    passed_over: list[dict[str, Any]] = []
    required = plan.require_review()
    for epic in epics:
        if epic.status == "done":
            continue
        waiting_on = _epic_deps_open(plan, epic)
        if waiting_on:
            passed_over.append({"epic": epic.id, "waiting_on": waiting_on})
            continue
        if reviews.PLAN in required and epic.plan_review != reviews.SHIP:
            return _review_answer("plan", epic, "needs_plan_review", passed_over)
        tasks = plan.tasks_of(epic.id)
        candidates = [t for t in _sorted(tasks)
                      if t.id not in exclude and is_ready(plan, t, actor, held)]
        if candidates:
            return _answer("work", candidates[0], "ready_task", passed_over)
        if reviews.COMPLETION in required and tasks \
                and all(t.status in states.FINISHED for t in tasks) \
                and epic.completion_review != reviews.SHIP:
            return _review_answer("completion_review", epic, "needs_completion_review", passed_over)
    reason = "blocked_by_epic_deps" if passed_over else "none"
    return {"status": "none", "epic": None, "task": None, "title": None, "reason": reason,
            "passed_over": passed_over}


def _review_answer(status: str, epic: EpicFacts, reason: str,
                   passed_over: list[dict[str, Any]]) -> dict[str, Any]:
    kind = reviews.PLAN if status == "plan" else reviews.COMPLETION
    latest = epic.plan_review if kind == reviews.PLAN else epic.completion_review
    return {"status": status, "epic": epic.id, "task": None, "title": epic.title, "reason": reason,
            "review": {"kind": kind, "latest": latest}, "passed_over": passed_over}


def _answer(status: str, task: TaskFacts, reason: str, passed_over: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": status, "epic": task.epic, "task": task.id, "title": task.title,
            "reason": reason, "passed_over": passed_over}


def blocked_rows(plan: PlanFacts, epic_id: str | None) -> list[dict[str, Any]]:
    """`blocked`: tasks that cannot start, and why, in flowctl's order."""
    rows: list[dict[str, Any]] = []
    for task in sorted(plan.tasks.values(), key=lambda t: t.sort_key()):
        if epic_id is not None and task.epic != epic_id:
            continue
        state = plan.view_state(task.id)
        if state == states.BLOCKED:
            rows.append({"id": task.id, "title": task.title, "status": state,
                         "blocked_by": ["status=blocked"], "reason": task.blocked_reason})
        elif state in (states.WAITING, states.UPSTREAM_FAILED):
            effective = plan.effective_states()
            waiting_on = plan.unsatisfied_dependencies(task)
            rows.append({"id": task.id, "title": task.title, "status": state,
                         "blocked_by": waiting_on,
                         "waiting_on": {dep: effective.get(dep, states.MISSING) for dep in waiting_on},
                         "reason": None})
    return rows
