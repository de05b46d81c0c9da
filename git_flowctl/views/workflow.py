"""flowctl's remaining workflow views (issue #16, part 5): `queue`, `status --interrupted` and
`prompt` (flowctl's worker prompt): the plan read for a person steering many epics, and for one
worker about to do one task."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from git_flowctl.coordination import availability
from git_flowctl.model import states
from git_flowctl.model.items import Task

if TYPE_CHECKING:
    from git_flowctl.coordination.claims import Claims
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.workspace import Workspace

CMD = "git flow-task"
DEPENDENCY_SUMMARY_WORDS = 60  # a dependency's done summary in a prompt, at most
EVIDENCE_LINES = 4  # a dependency's evidence lines in a prompt, at most


# queue -----------------------------------------------------------------------------------------


def _waiting(plan: Plan, row: dict[str, Any]) -> bool:
    """A `ready` blocked row that only waits (dependencies, its epic's dependencies) rather than
    being blocked (status blocked, upstream_failed, held, held back)."""
    return plan.view_state(row["id"]) == states.WAITING or all(
        str(why).startswith("epic=") for why in row["blocked_by"])


def queue_report(ws: Workspace, plan: Plan, actor: str, claims: Claims, *,
                 every_epic: bool = False) -> dict[str, Any]:
    """`queue`: per open epic (``every_epic``: closed ones too), how many tasks are ready, in
    progress, blocked and waiting, and what blocks or holds each; with totals. The same
    definitions as `ready` (availability.ready_answer), grouped by epic."""
    report = availability.ready_answer(ws, plan, actor, None, claims)
    rows: dict[str, dict[str, Any]] = {}
    for epic in plan.sorted_epics():
        if epic.status != "open" and not every_epic:
            continue
        tasks = plan.tasks_of(epic.id)
        rows[epic.id] = {
            "id": epic.id, "title": epic.title, "status": epic.status, "total": len(tasks),
            "done": sum(1 for t in tasks if t.status in states.FINISHED),
            "failed": sum(1 for t in tasks if plan.state_of(t.id) == states.FAILED),
            "ready": [], "in_progress": [], "blocked": [], "waiting": [],
            "waits_for_epics": plan.open_epic_dependencies(epic)}
    for row in report["ready"]:
        epic_id = plan.tasks[row["id"]].epic
        if epic_id in rows:
            rows[epic_id]["ready"].append({"id": row["id"], "title": row["title"]})
    for row in report["in_progress"]:
        epic_id = plan.tasks[row["id"]].epic
        if epic_id in rows:
            rows[epic_id]["in_progress"].append(row)
    for row in report["blocked"]:
        epic_id = plan.tasks[row["id"]].epic
        if epic_id in rows:
            kind = "waiting" if _waiting(plan, row) else "blocked"
            rows[epic_id][kind].append({"id": row["id"], "title": row["title"],
                                     "blocked_by": row["blocked_by"],
                                     **({"reason": row["reason"]} if row.get("reason") else {})})
    epics = []
    for row in rows.values():
        row["counts"] = {kind: len(row[kind]) for kind in ("ready", "in_progress", "blocked",
                                                           "waiting")}
        epics.append(row)
    totals = {kind: sum(row["counts"][kind] for row in epics)
              for kind in ("ready", "in_progress", "blocked", "waiting")}
    return {"actor": actor, "epics": epics, "totals": totals, "count": len(epics)}


# status --interrupted -----------------------------------------------------------------------------


def interrupted_report(plan: Plan) -> dict[str, Any]:
    """`status --interrupted`: open epics where work has started (a task left todo, or has
    attempts) and is not finished, with where each stands and the command that goes on."""
    found = []
    for epic in plan.sorted_epics():
        if epic.status != "open":
            continue
        tasks = plan.tasks_of(epic.id)
        started = [t for t in tasks if t.status != states.TO_DO or t.attempts]
        unfinished = [t for t in tasks if t.status not in states.FINISHED]
        if not started or not unfinished:
            continue
        found.append({
            "id": epic.id, "title": epic.title, "total": len(tasks),
            "done": sum(1 for t in tasks if t.status in states.FINISHED),
            "in_progress": [{"id": t.id, "assignee": t.assignee} for t in tasks
                            if t.status == states.IN_PROGRESS],
            "unfinished": [{"id": t.id, "status": plan.state_of(t.id)} for t in unfinished],
            "resume": f"{CMD} next --claim --epic {epic.id}",
        })
    return {"interrupted": found, "count": len(found)}


# prompt ----------------------------------------------------------------------------------------


def _words(text: str, limit: int) -> str:
    words = text.split()
    return " ".join(words) if len(words) <= limit else " ".join(words[:limit]) + " ..."


def _dependency(plan: Plan, dep_id: str) -> dict[str, Any]:
    task = plan.tasks.get(dep_id) or plan.archived_task(dep_id)
    if task is None:
        return {"id": dep_id, "title": None, "status": states.MISSING, "summary": None,
                "evidence": []}
    evidence = [line.removeprefix("- ").strip() for line
                in (task.doc.section("Evidence") or "").splitlines() if line.strip()]
    summary = task.doc.section("Done summary") or ""
    return {"id": task.id, "title": task.title, "status": plan.state_of(task.id)
            if task.id in plan.tasks else task.status,
            "summary": _words(summary, DEPENDENCY_SUMMARY_WORDS) if summary.strip() else None,
            "evidence": evidence[:EVIDENCE_LINES]}


def _commands(plan: Plan, task: Task, lease_seconds: int) -> dict[str, str]:
    verify = " --verify" if plan.config.require_verify else ""
    commands = {}
    if task.status in states.STARTABLE:
        commands["start"] = f"{CMD} start {task.id}"
    if lease_seconds:
        commands["heartbeat"] = f"{CMD} heartbeat {task.id}"
    commands["done"] = (f'{CMD} done {task.id}{verify} --summary "what you did" '
                        f'--evidence commits=<sha> --evidence tests="<command you ran>"')
    commands["fail"] = f'{CMD} fail {task.id} --reason "what went wrong"'
    commands["block"] = f'{CMD} block {task.id} --reason "what you are waiting for"'
    return commands


def prompt_answer(ws: Workspace, plan: Plan, ref: str, actor: str,
                  claims: Claims) -> dict[str, Any]:
    """`prompt TASK`: everything one worker needs to do one task, as data and as text: the
    spec and acceptance, the dependencies' done summaries and evidence, the files it owns (and
    who holds overlapping ones), and the exact commands that finish, fail or block it. The
    text has no times or other changing parts, so the same plan gives the same prompt."""
    task = plan.task(ref)
    epic = plan.epics.get(task.epic)
    listed = claims.all()
    overlaps = availability.file_overlaps(plan, task.id, availability.file_holders(
        plan, actor, listed, ws.repository_id(create=False)))
    limit = task.max_retries(plan.config.max_retries)
    data: dict[str, Any] = {
        "id": task.id, "title": task.title, "epic": task.epic,
        "epic_title": epic.title if epic else None, "status": plan.view_state(task.id),
        "attempts": task.attempts, "max_retries": limit,
        "description": (task.doc.section("Description") or "").strip() or None,
        "acceptance": (task.doc.section("Acceptance") or "").strip() or None,
        "last_attempt": (task.doc.section("Done summary") or "").strip() or None
        if task.attempts else None,
        "dependencies": [_dependency(plan, dep) for dep in task.depends_on],
        "files": task.files, "files_held": overlaps,
        "commands": _commands(plan, task, claims.lease_seconds),
        "lease_seconds": claims.lease_seconds,
    }
    text = render_prompt(data)
    data["prompt"] = text
    data["words"] = len(re.findall(r"\S+", text))
    return data


def render_prompt(data: dict[str, Any]) -> str:
    lines = [f"# Task {data['id']}: {data['title']}", ""]
    epic = f"{data['epic']}: {data['epic_title']}" if data["epic_title"] else data["epic"]
    lines.append(f"Epic {epic}. State: {data['status']}; attempt {data['attempts'] + 1} of "
                 f"{data['max_retries'] + 1}.")
    if data["last_attempt"]:
        lines.append(f"Last attempt: {_words(data['last_attempt'], 40)}")
    lines.append("")
    lines += ["## What to do", "", data["description"] or "(no description: see the title)", ""]
    if data["acceptance"]:
        lines += ["## Acceptance", "", data["acceptance"], ""]
    if data["dependencies"]:
        lines += ["## What it builds on", ""]
        for dep in data["dependencies"]:
            head = f"- {dep['id']}" + (f" {dep['title']}" if dep["title"] else "") + \
                f" ({dep['status']})"
            lines.append(head + (f": {dep['summary']}" if dep["summary"] else ""))
            lines += [f"  - {line}" for line in dep["evidence"]]
        lines.append("")
    if data["files"]:
        lines += ["## Files you own", "", *[f"- {path}" for path in data["files"]]]
        for held in data["files_held"]:
            lines.append(f"- careful: {', '.join(held['paths'])} overlaps {held['held_task']}, "
                         f"held by {held['held_by']}")
        lines += ["", "Change other files only when the task needs it.", ""]
    commands = data["commands"]
    lines += ["## Commands", ""]
    if "start" in commands:
        lines.append(f"- start (claims it): `{commands['start']}`")
    if "heartbeat" in commands:
        minutes = max(1, data["lease_seconds"] // 180)
        lines.append(f"- every {minutes} min while you work (the claim's lease is "
                     f"{data['lease_seconds']}s): `{commands['heartbeat']}`")
    lines += [f"- finished: `{commands['done']}`",
              f"- it did not work: `{commands['fail']}`",
              f"- you cannot go on: `{commands['block']}`",
              "", "Record the outcome only with these commands; do not edit `.flow/` files."]
    return "\n".join(lines) + "\n"
