"""Domain operations: each builds the ``Change`` the writer records, after checking it.

An operation reads the plan it is given (the base the writer chose: HEAD, or the index), enforces
the state machine and the gates, and returns the new file contents with their trailers. It never
touches git or the disk; the writer does that, so every command shares one path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from git_flowctl.model import ids, states
from git_flowctl.model.config import CONFIG_PATH, CONFIG_TEMPLATE
from git_flowctl.model.errors import ConflictError, FlowError, UsageError
from git_flowctl.model.graph import cycle_through, format_cycle
from git_flowctl.model.items import Epic, Task, new_epic_document, new_task_document
from git_flowctl.model.text import one_line_field
from git_flowctl.model.trailers import Evidence, Transition, parse_pairs
from git_flowctl.model.ulid import new_ulid
from git_flowctl.model.verification import outcome, results_of, verified
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.writer import Change


@dataclass(frozen=True)
class Context:
    """Who acts and when (the author time of the commit about to be made)."""

    actor: str
    now: str  # ISO 8601 UTC
    force: bool = False


def transition(subject: str, source: str | None, target: str, action: str, ctx: Context,
               **extra: str) -> Transition:
    return Transition(subject, source, target, action, ctx.actor, new_ulid(), ctx.force,
                      tuple(extra.items()))


def _quoted_title(title: str) -> str:
    return '"' + title.replace('"', "'") + '"'


# Setup ----------------------------------------------------------------------------------------


GITATTRIBUTES_PATH = ".gitattributes"
GITATTRIBUTES_LINE = ".flow/**/*.md merge=flow-task"
_GITATTRIBUTES_COMMENT = "# git flow-task: merge task and epic files field by field (docs/hooks.md)"


def _with_merge_attribute(existing: bytes | None) -> bytes | None:
    """``.gitattributes`` with the merge driver line added; None when it is there already."""
    text = (existing or b"").decode("utf-8", errors="surrogateescape")
    for line in text.splitlines():
        words = line.split()
        if words[:1] == [".flow/**/*.md"] and "merge=flow-task" in words[1:]:
            return None
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith("\n"):
        text += newline
    if text.strip():
        text += newline
    text += _GITATTRIBUTES_COMMENT + newline + GITATTRIBUTES_LINE + newline
    return text.encode("utf-8", errors="surrogateescape")


def init(plan: Plan) -> Change:
    writes: dict[str, bytes | None] = {}
    actions: list[str] = []
    if plan.source.read(CONFIG_PATH) is None:
        writes[CONFIG_PATH] = CONFIG_TEMPLATE.encode("utf-8")
        actions.append(f"created {CONFIG_PATH}")
    attributes = _with_merge_attribute(plan.source.read(GITATTRIBUTES_PATH))
    if attributes is not None:
        writes[GITATTRIBUTES_PATH] = attributes
        actions.append(f"added `{GITATTRIBUTES_LINE}` to {GITATTRIBUTES_PATH}")
    return Change("flow: init", writes, result={
        "message": "initialized .flow/" if writes else ".flow/ already initialized",
        "path": ".flow", "actions": actions})


# Epics and tasks ------------------------------------------------------------------------------


def create_epic(plan: Plan, title: str, ctx: Context, *, depends_on_epics: Iterable[str] = (),
                branch: str | None = None, priority: int | None = None,
                sections: Mapping[str, str] | None = None, taken_numbers: Iterable[int] = (),
                number: int | None = None) -> Change:
    """``number``: the one reserved for it (reservations.py); else one more than every epic
    number of the plan and ``taken_numbers``."""
    plan.require_initialized()
    title = one_line_field(title, "the title")
    if not title:
        raise UsageError("an epic needs a title", hint='--title "What this epic delivers"')
    deps = [plan.resolve_epic(ref) for ref in depends_on_epics]
    in_use = {e.number for e in plan.epics.values()}
    if number is None:
        number = max([*in_use, *taken_numbers], default=0) + 1
    elif number in in_use:
        raise ConflictError(f"epic number {number} was taken while it was being reserved",
                            hint="run the command again")
    epic_id = ids.make_epic_id(number, title, plan.config.prefix, plan.config.slug_max)
    doc = new_epic_document(epic_id, title, depends_on_epics=deps, branch=branch,
                            priority=priority, created=ctx.now, sections=dict(sections or {}))
    epic = Epic(doc)
    return Change(
        f"flow: create epic {epic_id} {_quoted_title(epic.title)}",
        {epic.path: epic.render()},
        [transition(epic_id, None, "open", "create", ctx)],
        result={"id": epic_id, "title": epic.title, "spec_path": epic.path,
                "depends_on_epics": deps, "message": f"Created epic {epic_id}"})


def create_task(plan: Plan, epic_ref: str, title: str, ctx: Context, *,
                depends_on: Iterable[str] = (), priority: int | None = None,
                domain: str | None = None, files: Iterable[str] = (),
                description: str | None = None, acceptance: str | None = None,
                extra: Mapping[str, Any] | None = None, number: int | None = None,
                taken_numbers: Iterable[int] = ()) -> Change:
    """``number``: the one reserved for it (reservations.TaskNumbers); else one above the
    epic's tasks here and ``taken_numbers`` (those on other branches and reserved)."""
    plan.require_initialized()
    title = one_line_field(title, "the title")
    if not title:
        raise UsageError("a task needs a title", hint='--title "What this task does"')
    epic = plan.epic(epic_ref)
    deps = _dedupe(plan.resolve_dependency(ref) for ref in depends_on)
    if number is None:
        number = max(plan.next_task_number(epic.id), max(taken_numbers, default=0) + 1)
    task_id = ids.make_task_id(epic.id, number)
    if task_id in plan.tasks:
        raise ConflictError(f"{task_id} exists already: its number was taken meanwhile",
                            hint="run the command again")
    # A hand-written depends_on may already name this ID: then these deps could close a cycle.
    cycle = cycle_through(lambda node: deps if node == task_id else plan.dependencies_of(node),
                          [(task_id, dep) for dep in deps])
    if cycle is not None:
        raise FlowError(f"refused: those dependencies would close the cycle {format_cycle(cycle)}",
                        hint="a task cannot wait for itself; drop one of them", cycle=cycle)
    doc = new_task_document(task_id, epic.id, title, depends_on=deps, priority=priority,
                            domain=domain, files=list(files), created=ctx.now,
                            description=description, acceptance=acceptance, extra=dict(extra or {}))
    task = Task(doc)
    return Change(
        f"flow: create {task_id} {_quoted_title(task.title)}",
        {task.path: task.render()},
        [transition(task_id, None, "todo", "create", ctx)],
        result={"id": task_id, "epic": epic.id, "title": task.title, "depends_on": deps,
                "spec_path": task.path, "message": f"Created task {task_id}"})


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


# Transitions ----------------------------------------------------------------------------------


def _result(task: Task, old: str, message: str, **more: Any) -> dict[str, Any]:
    return {"id": task.id, "title": task.title, "from": old, "status": task.status,
            "message": message, **more}


def _simple(plan: Plan, ref: str, action: str, target: str, ctx: Context,
            **fields: Any) -> Change:
    task = plan.task(ref)
    old = task.status
    states.check_action(task.id, old, action, force=ctx.force)
    for key, value in fields.items():
        task.set(key, value)
    task.set("status", target)
    return Change(
        f"flow: {action} {task.id} {_quoted_title(task.title)}",
        {task.path: task.render()},
        [transition(task.id, old, target, action, ctx)],
        result=_result(task, old, f"{task.id}: {old} -> {target}"))


def start(plan: Plan, ref: str, ctx: Context) -> Change:
    task = plan.task(ref)
    states.check_action(task.id, task.status, "start", force=ctx.force)
    if not ctx.force:
        plan.gate(task, "start")
    change = _simple(plan, ref, "start", states.IN_PROGRESS, ctx, assignee=ctx.actor)
    change.result["assignee"] = ctx.actor
    return change


def check_done(plan: Plan, ref: str, ctx: Context, *,
               evidence: Mapping[str, Any] | None = None) -> Task:
    """What ``done`` refuses before anything else (state machine, assignee, gate, evidence),
    so ``done --verify`` can refuse before it spends minutes on the guard."""
    task = plan.task(ref)
    states.check_action(task.id, task.status, "done", force=ctx.force)
    if not ctx.force:
        if task.assignee and task.assignee != ctx.actor:
            raise FlowError(f"cannot finish {task.id}: {task.assignee} is working on it",
                            hint="only the assignee finishes a task; --force overrides (recorded)",
                            assignee=task.assignee)
        plan.gate(task, "finish")
        if plan.config.require_evidence and not evidence:
            raise FlowError(f"cannot finish {task.id} without evidence: config requires it",
                            hint='pass --evidence \'{"commits": ["abc123"], "tests": ["pytest -q"]}\'')
    return task


def done(plan: Plan, ref: str, ctx: Context, *, summary: str | None = None,
         evidence: Mapping[str, Any] | None = None,
         verification: Sequence[Evidence] | None = None) -> Change:
    """``verification``: the guard's evidence lines (gates/guard.py), one per check; they must
    show a pass (model/verification.py). With ``require_verify`` a done needs them."""
    task = check_done(plan, ref, ctx, evidence=evidence)
    if verification is not None:
        fields = {key: value for line in verification for key, value in line.fields}
        if not verified(fields):
            raise FlowError(f"cannot finish {task.id}: the guard did not pass ({outcome(fields)})",
                            hint="`git flow-task guard` shows what fails")
    elif plan.config.require_verify and not ctx.force:
        raise FlowError(f"cannot finish {task.id} without the guard: config sets require_verify",
                        hint=f"git flow-task done {task.id} --verify (runs the guard first)")
    old = task.status
    if summary is not None:
        task.doc.set_section("Done summary", summary)
    if evidence or verification:
        task.doc.set_section("Evidence", render_evidence(evidence or {}, verification or ()))
    task.set("status", states.DONE)
    task.set("blocked_reason", None)
    evidence_trailers = [Evidence(task.id, tuple(_evidence_pairs(evidence).items()))] if evidence else []
    evidence_trailers.extend(Evidence(task.id, line.fields) for line in verification or ())
    return Change(
        f"flow: done {task.id} {_quoted_title(task.title)}",
        {task.path: task.render()},
        [transition(task.id, old, states.DONE, "done", ctx)],
        evidence_trailers,
        result=_result(task, old, f"{task.id}: {old} -> done",
                       evidence=dict(evidence or {}), summary=summary,
                       **({"verified": True} if verification is not None else {})))


def block(plan: Plan, ref: str, ctx: Context, *, reason: str) -> Change:
    if not reason or not reason.strip():
        raise UsageError("block needs a reason", hint='--reason "Waiting on the API review"')
    change = _simple(plan, ref, "block", states.BLOCKED, ctx, blocked_reason=reason.strip())
    change.result["blocked_reason"] = reason.strip()
    return change


def unblock(plan: Plan, ref: str, ctx: Context) -> Change:
    return _simple(plan, ref, "unblock", states.TO_DO, ctx, blocked_reason=None)


def _failed_attempt(plan: Plan, ref: str, action: str, ctx: Context,
                    note: Callable[[int], str] | None, **fields: Any) -> Change:
    """One more attempt used up (``fail``, ``expire``): up_for_retry while attempts remain,
    else failed; ``note(attempts)``, when given, becomes the Done summary."""
    task = plan.task(ref)
    states.check_action(task.id, task.status, action, force=ctx.force)
    limit = task.max_retries(plan.config.max_retries)
    target = states.UP_FOR_RETRY if task.attempts < limit else states.FAILED
    attempts = task.attempts + 1
    change = _simple(plan, ref, action, target, ctx, attempts=attempts, **fields)
    if note is not None:
        task = plan.tasks[task.id]
        task.doc.set_section("Done summary", note(attempts))
        change.writes[task.path] = task.render()
    change.result.update(attempts=attempts, max_retries=limit)
    return change


def fail(plan: Plan, ref: str, ctx: Context, *, reason: str | None = None) -> Change:
    text = reason.strip() if reason else None
    return _failed_attempt(plan, ref, "fail", ctx,
                           (lambda attempts: f"Failed (attempt {attempts}): {text}") if text else None)


def expire(plan: Plan, ref: str, ctx: Context, *, holder: str, lease_until: str | None) -> Change:
    """A claim whose lease ran out, recorded as a failed attempt (issue #16): like ``fail``,
    up_for_retry while attempts remain, else failed; the assignee is cleared. From todo or
    up_for_retry when the holder recorded its start on another branch: the attempt counts here,
    where the task is picked up again. The holder is data: it goes into the body, not a trailer."""
    until = f" at {lease_until}" if lease_until else ""
    change = _failed_attempt(
        plan, ref, "expire", ctx,
        lambda attempts: f"Expired (attempt {attempts}): the lease of {holder} ran out{until}.",
        assignee=None)
    change.result.update(holder=holder, lease_until=lease_until)
    return change


def retry(plan: Plan, ref: str, ctx: Context) -> Change:
    return _simple(plan, ref, "retry", states.TO_DO, ctx, attempts=None)


def skip(plan: Plan, ref: str, ctx: Context, *, reason: str) -> Change:
    if not reason or not reason.strip():
        raise UsageError("skip needs a reason", hint='--reason "Covered by fn-2.3"')
    change = _simple(plan, ref, "skip", states.SKIPPED, ctx, skipped_reason=reason.strip())
    change.result["skipped_reason"] = reason.strip()
    return change


def release(plan: Plan, ref: str, ctx: Context) -> Change:
    task = plan.task(ref)
    if not ctx.force and task.assignee and task.assignee != ctx.actor:
        raise FlowError(f"cannot release {task.id}: {task.assignee} holds it",
                        hint="only the assignee releases a task; --force overrides (recorded)")
    return _simple(plan, ref, "release", states.TO_DO, ctx, assignee=None)


def reclaim(plan: Plan, ref: str, ctx: Context) -> Change:
    """Take over a task whose claim the actor has just reclaimed (issue #7).

    A startable task is started. A task already in progress on this branch under the old holder
    stays in progress and gets the new assignee: the status does not change, so the commit
    carries no Flow-Transition trailer.
    """
    task = plan.task(ref)
    if task.status in states.STARTABLE:
        return start(plan, ref, ctx)
    if task.status != states.IN_PROGRESS:
        raise FlowError(f"cannot reclaim {task.id}: it is {task.status} on this branch",
                        hint="only a task that is in progress, todo or up_for_retry is reclaimed",
                        id=task.id, status=task.status)
    previous = task.assignee
    result = _result(task, task.status, f"{task.id}: reclaimed from {previous or 'nobody'}",
                     assignee=ctx.actor, reclaimed_from=previous)
    if previous == ctx.actor:
        return Change(f"flow: reclaim {task.id}", {}, result=result)
    task.set("assignee", ctx.actor)
    return Change(f"flow: reclaim {task.id} {_quoted_title(task.title)} from {previous or 'nobody'}",
                  {task.path: task.render()}, result=result)


def reopen(plan: Plan, ref: str, ctx: Context, *, cascade: bool = False) -> Change:
    task = plan.task(ref)
    states.check_action(task.id, task.status, "reopen", force=ctx.force)
    chosen = [task]
    if cascade:
        seen = {task.id}
        queue = [task.id]
        while queue:
            for dependent in plan.dependents(queue.pop(0)):
                if dependent.id not in seen and dependent.status == states.DONE:
                    seen.add(dependent.id)
                    chosen.append(dependent)
                    queue.append(dependent.id)
    writes: dict[str, bytes | None] = {}
    transitions = []
    for item in chosen:
        old = item.status
        item.set("status", states.TO_DO)
        item.set("skipped_reason", None)
        writes[item.path] = item.render()
        transitions.append(transition(item.id, old, states.TO_DO, "reopen", ctx))
    reopened = [item.id for item in chosen]
    return Change(
        f"flow: reopen {task.id} {_quoted_title(task.title)}"
        + (f" (+{len(chosen) - 1} dependents)" if len(chosen) > 1 else ""),
        writes, transitions,
        result={"id": task.id, "status": states.TO_DO, "reopened": reopened,
                "message": f"reopened {', '.join(reopened)}"})


def downstream(plan: Plan, task_id: str) -> list[Task]:
    """Every task that depends on ``task_id``, directly or through others, in ID order."""
    seen: set[str] = set()
    queue = [task_id]
    while queue:
        for dependent in plan.dependents(queue.pop(0)):
            if dependent.id not in seen and dependent.id != task_id:
                seen.add(dependent.id)
                queue.append(dependent.id)
    return plan.sorted_tasks(seen)


def restart(plan: Plan, ref: str, ctx: Context) -> Change:
    """flowctl's ``restart`` (issue #16): TASK and every task downstream of it back to todo,
    whatever their state, in one commit (``action=restart``). Attempts, the assignee, reasons,
    the done summary and the evidence are cleared (history keeps them). A task in progress is
    someone's work: refused unless forced (the claim step gives its claim back)."""
    task = plan.task(ref)
    chosen = [task, *downstream(plan, task.id)]
    busy = [item.id for item in chosen if item.status == states.IN_PROGRESS]
    if busy and not ctx.force:
        raise FlowError(f"cannot restart {task.id}: {', '.join(busy)} "
                        f"{'is' if len(busy) == 1 else 'are'} in progress",
                        hint="`release` them first (or `fail` them), or --force takes them back "
                             "and gives their claims back", in_progress=busy)
    writes: dict[str, bytes | None] = {}
    transitions = []
    reset: list[str] = []
    for item in chosen:
        old = item.status
        before = item.render()
        for key in ("attempts", "assignee", "blocked_reason", "skipped_reason"):
            item.set(key, None)
        item.set("status", states.TO_DO)
        for section in ("Done summary", "Evidence"):
            if item.doc.section(section):
                item.doc.set_section(section, "")
        rendered = item.render()
        if rendered == before:
            continue
        writes[item.path] = rendered
        reset.append(item.id)
        if old != states.TO_DO:
            # force=1 only where it took someone's work: every other change is the table's
            forced = ctx.force and old == states.IN_PROGRESS
            transitions.append(transition(item.id, old, states.TO_DO, "restart",
                                          Context(ctx.actor, ctx.now, forced)))
    return Change(
        f"flow: restart {task.id} {_quoted_title(task.title)}"
        + (f" (+{len(reset) - 1} downstream)" if len(reset) > 1 else ""),
        writes, transitions,
        result={"id": task.id, "status": states.TO_DO, "reset": reset,
                "downstream": [item.id for item in chosen[1:]],
                "message": f"restarted {', '.join(reset)}" if reset
                else f"{task.id} and its downstream tasks are todo already"})


# Evidence -------------------------------------------------------------------------------------

_EVIDENCE_LABELS = {"commits": "Commits", "tests": "Tests", "prs": "PRs"}


def parse_evidence(values: Iterable[str]) -> dict[str, Any]:
    """``--evidence`` values: a JSON object, or ``key=value`` pairs (repeated keys make lists)."""
    merged: dict[str, Any] = {}
    for value in values:
        text = value.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise UsageError(f"--evidence is not valid JSON: {exc.msg} (column {exc.colno})",
                                 hint='--evidence \'{"commits": ["abc123"]}\' or commits=abc123') from None
            if not isinstance(data, dict):
                raise UsageError("--evidence JSON must be an object")
            for key, item in data.items():
                _merge_evidence(merged, str(key), item)
            continue
        pairs = parse_pairs(text)
        if not pairs and "=" in text:
            key, _, rest = text.partition("=")
            if key.strip() and parse_pairs(f"{key.strip()}=x") is not None:
                pairs = {key.strip(): rest.strip()}  # one key=value whose value has spaces
        if not pairs:
            raise UsageError(f"--evidence {value!r} is neither JSON nor key=value",
                             hint='--evidence tests="pytest -q" --evidence commits=abc123')
        for key, item in pairs.items():
            _merge_evidence(merged, key, item)
    return merged


def _merge_evidence(merged: dict[str, Any], key: str, item: Any) -> None:
    if key not in merged:
        merged[key] = item
        return
    existing = merged[key] if isinstance(merged[key], list) else [merged[key]]
    merged[key] = existing + (item if isinstance(item, list) else [item])


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_as_text(v) for v in value)
    if isinstance(value, (dict,)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def render_evidence(evidence: Mapping[str, Any], verification: Iterable[Evidence] = ()) -> str:
    """The ``## Evidence`` section, as flowctl wrote it (``- Commits: ...``), and one
    ``- Guard: ...`` line per check of the guard."""
    lines = []
    for key, value in evidence.items():
        label = _EVIDENCE_LABELS.get(key, key.replace("_", " ").capitalize())
        lines.append(f"- {label}: {_as_text(value)}")
    for line in verification:
        for key, result in results_of(dict(line.fields)).items():
            kind, _, name = key.partition(".")
            seconds = dict(line.fields).get(f"{key}.duration")
            took = f" in {seconds}s" if seconds else ""
            lines.append(f"- {kind.capitalize()}: {name} {result}{took}")
    return "\n".join(lines)


def evidence_trailer(task_id: str, evidence: Mapping[str, Any]) -> Evidence:
    """The ``Flow-Evidence`` trailer that records ``evidence`` for a task."""
    return Evidence(task_id, tuple(_evidence_pairs(evidence).items()))


def _evidence_pairs(evidence: Mapping[str, Any] | None) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for key, value in (evidence or {}).items():
        safe_key = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in str(key))
        if not safe_key[:1].isalpha():
            safe_key = f"x{safe_key}"
        if isinstance(value, list):
            pairs[safe_key] = ",".join(_as_text(v) for v in value)
        else:
            pairs[safe_key] = _as_text(value)
    return pairs
