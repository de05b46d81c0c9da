"""What can be worked on: `ready` and `next`, in flowctl's JSON shapes.

Ordering is flowctl's: epics in number order; inside an epic, tasks by priority (absent last),
task number, title. ``held`` maps task IDs to the actor holding a claim on them (issue #7); a
task someone else holds is not offered.

Built on the plan's facts (model/facts.py), so the click commands and the lean read path
(views/lean.py) give the same answers; standard library only at import time.
"""

from __future__ import annotations

from git_flowctl.coordination.claimview import finished_on
from git_flowctl.model import reviews, states

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from git_flowctl.model.facts import EpicFacts, PlanFacts, TaskFacts


def _sorted(tasks: list[TaskFacts]) -> list[TaskFacts]:
    return sorted(tasks, key=lambda t: t.sort_key())


class Offer:
    """What an actor may start now: the one definition of "ready" (issue #12).

    A task is ready for ``actor`` when the plan says so (``PlanFacts.view_state``: startable,
    its dependencies satisfied, its epic waiting for no open epic), nobody else holds a claim on
    it (``held``: task -> holder, Claims.held_map), and nothing holds it back for a while
    (``held_back``: task -> why, availability.Holdbacks.reasons: a retry backoff, files someone
    else holds). Anything else startable is waiting, and ``waiting_on`` says on what. `status`,
    `show`, `tasks --status ready`, `graph`, `board`, `ready`, `next` and `run` all ask this,
    and `start` succeeds on exactly these tasks (without --force).
    """

    def __init__(self, plan: PlanFacts, actor: str | None = None,
                 held: Mapping[str, str] | None = None,
                 held_back: Mapping[str, str] | None = None) -> None:
        self.plan = plan
        self.actor = actor
        self.held = held if held is not None else {}
        self.held_back = held_back if held_back is not None else {}  # may be a lean stand-in

    def holder(self, task_id: str) -> str | None:
        """Who else holds a claim on the task; None when nobody or the actor does."""
        holder = self.held.get(task_id)
        return holder if holder is not None and holder != self.actor else None

    def state(self, task_id: str) -> str:
        """The view state (``PlanFacts.view_state``) with a ready task someone else holds, or
        one held back, shown as waiting."""
        state = self.plan.view_state(task_id)
        if state == states.READY and (self.holder(task_id) is not None
                                      or self.held_back.get(task_id) is not None):
            return states.WAITING
        return state

    def is_ready(self, task_id: str) -> bool:
        return self.state(task_id) == states.READY

    def waiting_on(self, task_id: str) -> list[str]:
        """Why a startable task is not ready: its unsatisfied dependencies and open epics
        (IDs), ``claimed_by=<holder>``, and what holds it back (``retry_after=...``,
        ``files=...``); empty for a ready task and for one that cannot start at all."""
        if self.plan.state_of(task_id) not in states.STARTABLE:
            return []
        found = self.plan.waiting_on(self.plan.tasks[task_id])
        holder = self.holder(task_id)
        if holder is not None:
            found.append(f"claimed_by={holder}")
        if not found:
            why = self.held_back.get(task_id)
            if why is not None:
                found.append(why)
        return found


def is_ready(plan: PlanFacts, task: TaskFacts, actor: str | None = None,
             held: Mapping[str, str] | None = None) -> bool:
    return Offer(plan, actor, held).is_ready(task.id)


def ready_report(plan: PlanFacts, actor: str, epic_id: str | None = None,
                 held: Mapping[str, str] | None = None) -> dict[str, Any]:
    chosen = [t for t in plan.tasks.values() if epic_id is None or t.epic == epic_id]
    ready: list[dict[str, Any]] = []
    in_progress: list[dict[str, Any]] = []
    blocked: list[dict[str, Any]] = []
    offer = Offer(plan, actor, held)
    for task in _sorted(chosen):
        state = plan.state_of(task.id)
        if state == states.IN_PROGRESS:
            in_progress.append({"id": task.id, "title": task.title, "assignee": task.assignee})
        elif state == states.BLOCKED:
            blocked.append({"id": task.id, "title": task.title, "blocked_by": ["status=blocked"],
                            "reason": task.blocked_reason})
        elif state in states.STARTABLE:
            waiting_on = offer.waiting_on(task.id)
            if waiting_on:
                # an open epic its epic depends on reads epic=<id> (flowctl's spelling)
                blocked.append({"id": task.id, "title": task.title, "blocked_by": [
                    f"epic={item}" if item in plan.epics else item for item in waiting_on]})
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
        answer = _answer("work", own[0], "resume_in_progress", [])
        answer["suggest"] = f"git flow-task done {own[0].id}"
        return answer
    passed_over: list[dict[str, Any]] = []
    required = plan.require_review()
    offer = Offer(plan, actor, held)
    for epic in epics:
        if epic.status == "done":
            continue
        waiting_on = plan.epic_waits(epic.id)
        if waiting_on:
            passed_over.append({"epic": epic.id, "waiting_on": waiting_on})
            continue
        if reviews.PLAN in required and epic.plan_review != reviews.SHIP:
            return _review_answer("plan", epic, "needs_plan_review", passed_over)
        tasks = plan.tasks_of(epic.id)
        candidates = [t for t in _sorted(tasks) if t.id not in exclude and offer.is_ready(t.id)]
        if candidates:
            answer = _answer("work", candidates[0], "ready_task", passed_over)
            answer["suggest"] = f"git flow-task start {candidates[0].id}"
            return answer
        if reviews.COMPLETION in required and tasks \
                and all(t.status in states.FINISHED for t in tasks) \
                and epic.completion_review != reviews.SHIP:
            return _review_answer("completion_review", epic, "needs_completion_review", passed_over)
    return _nothing(plan, offer, epics, exclude, passed_over)


def _nothing(plan: PlanFacts, offer: Offer, epics: list[EpicFacts], exclude: frozenset[str],
             passed_over: list[dict[str, Any]]) -> dict[str, Any]:
    """``next`` with no task to offer: the true reason, the first that applies, and the command
    that moves things forward (``suggest``; None when only waiting helps). Only epics that wait
    for no other epic are looked at first: what holds *them* up is what holds everything up."""
    answer: dict[str, Any] = {"status": "none", "epic": None, "task": None, "title": None,
                              "reason": "none", "passed_over": passed_over, "suggest": None}
    free = [epic for epic in epics if epic.status != "done" and not plan.epic_waits(epic.id)]
    for epic in free:
        tasks = plan.tasks_of(epic.id)
        if tasks and all(t.status in states.FINISHED for t in tasks):
            answer.update(reason="all_done_close_epic", epic=epic.id, title=epic.title,
                          suggest=f"git flow-task epic close {epic.id}")
            return answer
    tasks = [t for epic in free for t in _sorted(plan.tasks_of(epic.id))]
    elsewhere = _finished_elsewhere(plan, offer, tasks)
    if elsewhere:
        branch = elsewhere[0]["branch"]
        # the name comes from a claim record, maybe another clone's: a command only when it
        # is a plain branch name, never text an agent's shell would read as more
        answer.update(reason="waiting_on_other_branch", waiting_on=elsewhere,
                      suggest=f"git merge {branch}" if _plain_branch(branch)
                      else "git flow-task claims")
        return answer
    claimed = [{"task": t.id, "holder": offer.holder(t.id)} for t in tasks
               if plan.view_state(t.id) == states.READY and offer.holder(t.id) is not None]
    if claimed:
        answer.update(reason="claimed_by_others", claimed_by=claimed,
                      suggest="git flow-task claims")
        return answer
    busy = [{"task": t.id, "assignee": t.assignee} for t in tasks
            if plan.state_of(t.id) == states.IN_PROGRESS and t.id not in exclude]
    if busy:
        answer.update(reason="in_progress_elsewhere", in_progress=busy,
                      suggest=None)  # their work finishing is what frees the next task
        return answer
    stuck = [t.id for t in tasks if plan.state_of(t.id) == states.BLOCKED]
    if stuck:
        answer.update(reason="all_blocked", blocked=stuck, suggest=f"git flow-task unblock {stuck[0]}")
        return answer
    failed = [t.id for t in tasks if plan.state_of(t.id) == states.FAILED]
    if failed:
        answer.update(reason="failed_upstream", failed=failed,
                      suggest=f"git flow-task retry {failed[0]}")
        return answer
    if passed_over:
        answer.update(reason="blocked_by_epic_deps",
                      suggest=f"git flow-task show {passed_over[0]['waiting_on'][0]}")
    return answer


_BRANCH_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-")


def _plain_branch(name: str) -> bool:
    """Letters, digits, ``._/-``, not starting with ``-``: safe to print as a command word."""
    return bool(name) and not name.startswith("-") and ".." not in name \
        and set(name) <= _BRANCH_CHARACTERS


def _finished_elsewhere(plan: PlanFacts, offer: Offer, tasks: list[TaskFacts]) -> list[dict[str, Any]]:
    """Work finished on another branch (a finished claim record names it, claimview
    .held_entry) that this branch waits for: a ready task done there, or a waiting task's
    unsatisfied dependency. Merging that branch is the next step."""
    found = []
    for task in tasks:
        view = plan.view_state(task.id)
        if view == states.READY:
            branch = finished_on(offer.held.get(task.id, ""))
            if branch is not None:
                found.append({"task": task.id, "dependency": None, "branch": branch})
        elif view == states.WAITING:
            for dep in plan.unsatisfied_dependencies(task):
                branch = finished_on(offer.held.get(dep, ""))
                if branch is not None:
                    found.append({"task": task.id, "dependency": dep, "branch": branch})
    return found


def _review_answer(status: str, epic: EpicFacts, reason: str,
                   passed_over: list[dict[str, Any]]) -> dict[str, Any]:
    kind = reviews.PLAN if status == "plan" else reviews.COMPLETION
    latest = epic.plan_review if kind == reviews.PLAN else epic.completion_review
    return {"status": status, "epic": epic.id, "task": None, "title": epic.title, "reason": reason,
            "review": {"kind": kind, "latest": latest}, "passed_over": passed_over,
            "suggest": f"git flow-task review {epic.id} --kind {kind} --verdict ship"}


def _answer(status: str, task: TaskFacts, reason: str, passed_over: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": status, "epic": task.epic, "task": task.id, "title": task.title,
            "reason": reason, "passed_over": passed_over}


def blocked_rows(plan: PlanFacts, epic_id: str | None,
                 offer: Offer | None = None) -> list[dict[str, Any]]:
    """`blocked`: tasks that cannot start, and why, in flowctl's order. With ``offer``, a task
    the plan calls ready that the actor may not start (someone else holds it, or it is held
    back) is listed too, waiting, with ``blocked_by`` saying why (``Offer.waiting_on``)."""
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
            epics = plan.epic_waits(task.epic) if state == states.WAITING else []
            rows.append({"id": task.id, "title": task.title, "status": state,
                         "blocked_by": waiting_on + [f"epic={epic}" for epic in epics],
                         "waiting_on": {**{dep: effective.get(dep, states.MISSING)
                                           for dep in waiting_on},
                                        **dict.fromkeys(epics, "open")},
                         "reason": None})
        elif state == states.READY and offer is not None and not offer.is_ready(task.id):
            rows.append({"id": task.id, "title": task.title, "status": states.WAITING,
                         "blocked_by": offer.waiting_on(task.id), "waiting_on": {},
                         "reason": None})
    return rows
