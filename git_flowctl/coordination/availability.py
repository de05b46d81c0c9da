"""What keeps an otherwise ready task from being offered now (issue #16), in one place.

``queries`` says which tasks are ready from the plan and the claims (``held``). Two more facts
hold a ready task back for a while, and every command that offers work asks this module:

- **retry backoff** (backoff.py): an up_for_retry task whose last failed attempt is younger
  than its backoff comes back at ``retry_after``;
- **file ownership** (ownership.py): a task whose ``files`` overlap those of a task someone
  else holds (a live or expired claim, or in progress on this branch under another assignee)
  waits until that task is finished or given back.

``ready``, ``next``, ``next --claim``, ``run``, ``board`` and the MCP tools call ``ready_answer``
/ ``next_answer`` (or ``holdbacks`` with the claims they read): the held-back tasks are left out
of ``ready`` and listed under ``blocked`` with why and until when; ``next`` passes them over
(``passed_over`` entries with ``reason: files``, the holder and the paths) and, with nothing
else to do, answers ``reason: waiting_for_retry`` with the time the first one comes back. The
keys appear only when something is held back, so answers stay flowctl's otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from git_flowctl.coordination import backoff, ownership, queries, runs
from git_flowctl.model import states

if TYPE_CHECKING:
    from git_flowctl.coordination.claims import Claim, Claims
    from git_flowctl.model.facts import TaskFacts
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.workspace import Workspace


@dataclass(frozen=True)
class Holder:
    """A task someone else holds, with the files it owns."""

    task: str
    holder: str
    files: tuple[str, ...]


@dataclass
class Holdbacks:
    retry_after: dict[str, float] = field(default_factory=dict)  # task -> epoch seconds
    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # task -> overlaps

    def exclude(self) -> frozenset[str]:
        return frozenset(self.retry_after) | frozenset(self.files)

    def why(self, task_id: str) -> str | None:
        """One line for messages (run's not_started, board)."""
        if task_id in self.retry_after:
            return f"retry after {backoff.iso_ms(self.retry_after[task_id])}"
        overlaps = self.files.get(task_id)
        if overlaps:
            first = overlaps[0]
            return (f"its files overlap {first['held_task']} (held by {first['held_by']}): "
                    + ", ".join(first["paths"]))
        return None

    def reasons(self) -> dict[str, str]:
        """Task -> why it is held back, as ``ready`` words it in ``blocked_by``
        (queries.Offer's ``held_back``)."""
        found = {task_id: f"retry_after={backoff.iso_ms(when)}"
                 for task_id, when in self.retry_after.items()}
        for task_id, overlaps in self.files.items():
            found.setdefault(task_id, ", ".join(f"files={o['held_task']} ({o['held_by']})"
                                                for o in overlaps))
        return found

    def retry_rows(self) -> list[dict[str, Any]]:
        return [{"id": task_id, "retry_after": backoff.iso_ms(when)}
                for task_id, when in sorted(self.retry_after.items(), key=lambda kv: kv[1])]

    def annotate_next(self, answer: dict[str, Any], plan: Plan) -> dict[str, Any]:
        """``next``'s answer with what was held back: file overlaps as ``passed_over`` entries;
        with nothing to do while retries wait, ``reason: waiting_for_retry`` and ``retry_after``."""
        for task_id in sorted(self.files, key=lambda t: plan.tasks[t].sort_key()):
            for overlap in self.files[task_id]:
                answer["passed_over"].append({"task": task_id, "title": plan.tasks[task_id].title,
                                              "reason": "files", **overlap})
        if answer["status"] != "none" or answer["reason"] in _ACTIONABLE:
            return answer
        if self.retry_after:
            rows = self.retry_rows()
            answer.update(reason="waiting_for_retry", retry_after=rows[0]["retry_after"],
                          retry_later=rows, suggest=None)
        elif self.files and answer["reason"] == "none":
            answer.update(reason="files_held_by_others", suggest=None)
        return answer

    def annotate_ready(self, report: dict[str, Any]) -> dict[str, Any]:
        """``ready``'s report with the held-back tasks moved from ``ready`` to ``blocked``."""
        kept = []
        for row in report["ready"]:
            task_id = row["id"]
            if task_id in self.retry_after:
                when = backoff.iso_ms(self.retry_after[task_id])
                report["blocked"].append({"id": task_id, "title": row["title"],
                                          "blocked_by": [f"retry_after={when}"],
                                          "retry_after": when})
            elif task_id in self.files:
                overlaps = self.files[task_id]
                report["blocked"].append({
                    "id": task_id, "title": row["title"],
                    "blocked_by": [f"files={o['held_task']} ({o['held_by']})" for o in overlaps],
                    "files_held": overlaps})
            else:
                kept.append(row)
        report["ready"] = kept
        return report


# `next` reasons with something to do now (queries._nothing): a backoff does not hide them.
_ACTIONABLE = frozenset({"all_done_close_epic", "claimed_by_others", "waiting_on_other_branch"})


def own(claim: Claim, actor: str, repository: str | None) -> bool:
    """The actor's claim made in this repository (``repository``: Workspace.repository_id);
    the same identity's claim from another clone is someone else's (claims.Claims.is_own)."""
    if claim.holder != actor:
        return False
    if claim.repo is None:  # a claim from before repository IDs: this machine's is ours
        return claim.host == runs.hostname()
    return claim.repo == repository


def file_holders(plan: Plan, actor: str, listed: list[Claim],
                 repository: str | None = None) -> list[Holder]:
    """Tasks someone other than ``actor`` (in this repository) holds, that own files: a claim
    that is not a finished record (live or expired), or in progress here under another
    assignee. (The plan's facts: at 5,000 tasks no file is read, issue #11.)"""
    facts = plan.facts
    found: dict[str, Holder] = {}
    for claim in listed:
        task = facts.tasks.get(claim.task)
        if claim.is_finished or own(claim, actor, repository) or task is None or not task.files:
            continue
        if task.status in states.FINISHED:
            continue
        found[task.id] = Holder(task.id, claim.holder, tuple(task.files))
    for task in facts.with_status(states.IN_PROGRESS):
        if task.assignee not in (None, actor) and task.files and task.id not in found:
            found[task.id] = Holder(task.id, str(task.assignee), tuple(task.files))
    return list(found.values())


def file_overlaps(plan: Plan, task_id: str, holders: list[Holder]) -> list[dict[str, Any]]:
    """The held tasks whose files overlap ``task_id``'s, with the paths (of ``task_id``)."""
    task = plan.facts.tasks[task_id]
    found = []
    for held in holders:
        if held.task == task_id:
            continue
        paths = ownership.overlapping(task.files, held.files)
        if paths:
            found.append({"held_task": held.task, "held_by": held.holder, "paths": paths})
    return found


def holdbacks(ws: Workspace, plan: Plan, actor: str, listed: list[Claim], *,
              epic_id: str | None = None, rev: str | None = None,
              now: float | None = None) -> Holdbacks:
    """The ready tasks (in ``epic_id``) held back now, and why. Reads history only when one
    of them is up_for_retry with a backoff (backoff.retry_after)."""
    result = Holdbacks()
    facts = plan.facts
    repository = ws.repository_id(create=False)
    taken = {claim.task for claim in listed
             if claim.is_finished or not own(claim, actor, repository)}

    def candidate(task: TaskFacts) -> bool:
        """A ready task (in ``epic_id``) nobody else holds."""
        if (epic_id is not None and task.epic != epic_id) or task.id in taken:
            return False
        return facts.view_state(task.id) == states.READY

    # Only up_for_retry tasks wait for a backoff, and only tasks with files for their owners:
    # the facts say which, so a plan of 5,000 tasks is not walked for them (issue #11).
    waiting: dict[str, tuple[int, backoff.Backoff]] = {}
    configured = plan.config.get("retry_backoff")
    for task in facts.with_status(states.UP_FOR_RETRY):
        if candidate(task):
            waiting[task.id] = (task.attempts, backoff.Backoff.of(
                configured, plan.tasks[task.id].doc.data.get("retry_backoff")))
    if waiting:
        result.retry_after = backoff.retry_after(str(ws.root), str(ws.common_dir), rev or "HEAD",
                                                 waiting, now)
    holders = file_holders(plan, actor, listed, repository)
    if holders:
        for task in facts.tasks.values():
            if task.files and task.id not in result.retry_after and candidate(task):
                overlaps = file_overlaps(plan, task.id, holders)
                if overlaps:
                    result.files[task.id] = overlaps
    return result


def refuse_backoff(ws: Workspace, plan: Plan, task_id: str, actor: str,
                   listed: list[Claim]) -> None:
    """`start` of an up_for_retry task whose retry backoff has not run out: refused (exit 1),
    as ``ready`` and ``next`` hold it back (queries.Offer). --force starts it anyway. (Files
    someone else holds are refused by claims._refusing_held_back, exit 3.)"""
    from git_flowctl.model.errors import FlowError

    task = plan.facts.tasks.get(task_id)
    if task is None or task.status != states.UP_FOR_RETRY:
        return
    kept = holdbacks(ws, plan, actor, listed)
    if task_id in kept.retry_after:
        when = backoff.iso_ms(kept.retry_after[task_id])
        raise FlowError(f"cannot start {task_id}: it is up for retry after {when} (retry_backoff)",
                        hint="wait until then (`git flow-task ready` shows when), or start it "
                             "now with --force (recorded)", id=task_id, retry_after=when)


def offer(ws: Workspace, plan: Plan, actor: str, claims: Claims | None = None, *,
          rev: str | None = None) -> queries.Offer:
    """What ``actor`` may start now (queries.Offer), from the plan, the claims and what is held
    back: the one answer `status`, `show`, `tasks`, `graph` and `board` give."""
    from git_flowctl.coordination.claims import Claims

    # the plan's own settings: a revision read (--rev) needs no checkout of .flow/
    claims = Claims.open(ws, config=plan.config) if claims is None else claims
    listed = claims.all()
    kept = holdbacks(ws, plan, actor, listed, rev=rev)
    return queries.Offer(plan.facts, actor, claims.held_map(actor, listed), kept.reasons())


def next_answer(ws: Workspace, plan: Plan, actor: str, epic_id: str | None, claims: Claims, *,
                rev: str | None = None, exclude: frozenset[str] = frozenset(),
                listed: list[Claim] | None = None) -> dict[str, Any]:
    """``next``: queries.next_work with the claims, and what is held back (annotated)."""
    listed = claims.all() if listed is None else listed
    held = claims.held_map(actor, listed)
    kept = holdbacks(ws, plan, actor, listed, epic_id=epic_id, rev=rev)
    answer = queries.next_work(plan.facts, actor, epic_id, held=held, exclude=exclude | kept.exclude())
    return kept.annotate_next(answer, plan)


def ready_answer(ws: Workspace, plan: Plan, actor: str, epic_id: str | None, claims: Claims, *,
                 rev: str | None = None) -> dict[str, Any]:
    """``ready``: queries.ready_report with the claims, the held-back tasks under blocked."""
    listed = claims.all()
    report = queries.ready_report(plan.facts, actor, epic_id, held=claims.held_map(actor, listed))
    return holdbacks(ws, plan, actor, listed, epic_id=epic_id, rev=rev).annotate_ready(report)


# `files`: who owns what ---------------------------------------------------------------------

_OPEN = frozenset({states.TO_DO, states.IN_PROGRESS, states.BLOCKED, states.UP_FOR_RETRY})


def _ancestors(plan: Plan) -> dict[str, frozenset[str]]:
    """Every task's transitive dependencies (an iterative walk; cycles tolerated)."""
    tasks = plan.facts.tasks
    found: dict[str, frozenset[str]] = {}
    for start in tasks:
        if start in found:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        on_path: set[str] = {start}
        while stack:
            task_id, index = stack[-1]
            deps = [d for d in tasks[task_id].depends_on if d in tasks]
            if index < len(deps):
                stack[-1] = (task_id, index + 1)
                dep = deps[index]
                if dep not in found and dep not in on_path:
                    on_path.add(dep)
                    stack.append((dep, 0))
                continue
            stack.pop()
            on_path.discard(task_id)
            collected: set[str] = set()
            for dep in deps:
                collected.add(dep)
                collected |= found.get(dep, frozenset())
            found[task_id] = frozenset(collected)
    return found


def files_report(plan: Plan, actor: str, listed: list[Claim],
                 epic_id: str | None = None) -> dict[str, Any]:
    """`files`: each path entry and the tasks owning it, each task's files and who holds it, and
    the conflicts: two open tasks (neither waits on the other, so they may run at once) whose
    files overlap. Finished, failed and upstream_failed tasks own nothing any more."""
    holders = {claim.task: claim.holder for claim in listed if not claim.is_finished}
    tasks = [task for task in plan.facts.sorted_tasks()
             if task.files and (epic_id is None or task.epic == epic_id)]
    live = [task for task in tasks if task.status in _OPEN
            and plan.state_of(task.id) != states.UPSTREAM_FAILED]
    rows = []
    owners: dict[str, list[str]] = {}
    for task in tasks:
        holder = holders.get(task.id) or (task.assignee if task.status == states.IN_PROGRESS
                                          else None)
        rows.append({"id": task.id, "title": task.title, "status": plan.state_of(task.id),
                     "files": list(task.files), "held_by": holder, "owns": task in live})
        if task in live:
            for path in task.files:
                owners.setdefault(ownership.normalize(path), []).append(task.id)
    conflicts = []
    ancestors = _ancestors(plan) if len(live) > 1 else {}
    for index, first in enumerate(live):
        for second in live[index + 1:]:
            if first.id in ancestors.get(second.id, ()) or second.id in ancestors.get(first.id, ()):
                continue  # one waits for the other: they never run at once
            mine = ownership.overlapping(first.files, second.files)
            if not mine:
                continue
            conflicts.append({
                "tasks": [first.id, second.id],
                "paths": {first.id: mine, second.id: ownership.overlapping(second.files, first.files)},
                "held_by": {first.id: holders.get(first.id), second.id: holders.get(second.id)},
            })
    return {"epic": epic_id, "actor": actor, "tasks": rows,
            "owners": [{"path": path, "tasks": owners[path]} for path in sorted(owners)],
            "conflicts": conflicts, "count": len(conflicts)}
