"""The work commands' domain: a transition recorded with its claim step, and `heartbeat`.

The CLI (cli/commands/work.py, claims.py) prints what these return; the MCP server (mcp/) returns
it as it is, so both give the same JSON (issue #18).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from git_flowctl.model import ids
from git_flowctl.model.items import TASKS_DIR

if TYPE_CHECKING:
    from git_flowctl.changes.ops import Context
    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.repo.writer import Builder, Mode, Outcome


def resolve_task_id(ws: Workspace, ref: str) -> str:
    """The full ID of a task reference, from the task files' names (no file is parsed); an
    epic's ID is refused as such, with a hint to its tasks."""
    from git_flowctl.model.errors import FlowError, NotFoundError
    from git_flowctl.model.items import EPICS_DIR

    if "/" not in ref and not ref.startswith(".") and (ws.root / TASKS_DIR / f"{ref}.md").is_file():
        return ref  # a full ID: its file is there (listing thousands of names is for short IDs)
    source = ws.work_tree_source()
    names = source.list_files(TASKS_DIR)
    try:
        return ids.resolve(ref, [name[:-3] for name in names if name.endswith(".md")], kind="task")
    except NotFoundError as missing:
        parsed = ids.parse_id(ref)
        if parsed is not None and not parsed.is_task:
            epics = [name[:-3] for name in source.list_files(EPICS_DIR) if name.endswith(".md")]
            try:
                epic_id = ids.resolve(ref, epics, kind="epic")
            except FlowError:
                raise missing from None
            raise NotFoundError(f"{epic_id} is an epic, not a task",
                                hint=f"give one of its tasks (`git flow-task ready --epic {epic_id}` "
                                     "lists those that can start)", id=epic_id, kind="epic") from None
        raise


def claimed_transition(ws: Workspace, ctx: Context, mode: Mode, message: str | None, task: str,
                       action: str, build: Builder, *, remote: str | None,
                       reclaim: bool = False) -> Outcome:
    """Record a transition together with its claim step (claims.apply_with_claim)."""
    from git_flowctl.coordination.claims import Claims, apply_with_claim
    from git_flowctl.repo.writer import Writer

    task_id = resolve_task_id(ws, task)
    claims = Claims.open(ws, remote)
    return apply_with_claim(claims, Writer(ws, message=message), build, mode, task_id=task_id,
                            action=action, actor=ctx.actor, reclaim=reclaim, force=ctx.force)


def restart(ws: Workspace, ctx: Context, mode: Mode, message: str | None, task: str) -> Outcome:
    """Back to todo: TASK and every task downstream of it (changes/ops.py's restart), then the
    claims and finished records of the reset tasks dropped: they are todo again. A dry run
    lists ``would_reset``; a recorded one ``claims_dropped``."""
    from git_flowctl.changes import ops
    from git_flowctl.coordination.claims import Claims
    from git_flowctl.repo.writer import Mode, Writer

    outcome = Writer(ws, message=message).apply(lambda plan: ops.restart(plan, task, ctx), mode)
    reset = list(outcome.change.result.get("reset", []))
    if mode is Mode.DRY_RUN:
        outcome.change.result["would_reset"] = reset
        return outcome
    claims = Claims.open(ws)
    dropped = []
    for task_id in reset:
        held = claims.get(task_id)
        if held is not None and claims.drop(task_id, held, ctx.actor).get("released"):
            dropped.append(task_id)
    outcome.change.result["claims_dropped"] = dropped
    return outcome


@dataclass(frozen=True)
class Heartbeat:
    payload: dict[str, Any]
    failure: str | None  # set when a claim was lost: the command fails with exit code 3


def heartbeat(ws: Workspace, task: str | None, *, remote: str | None,
              actor: str | None) -> Heartbeat:
    """Extend the lease of TASK's claim, or of every local claim the actor holds.

    A claim lost to another holder raises ClaimTakenError when TASK names it; among all the
    actor's claims, the lost ones are listed and ``failure`` says so.
    """
    from git_flowctl.coordination.claims import Claims, ClaimTakenError, held_claims

    who = ws.actor(actor)
    claims = Claims.open(ws, remote)
    if task is not None:
        task_ids = [resolve_task_id(ws, task)]
    else:
        task_ids = [claim.task for claim in held_claims(claims, who) if claim.where == "local"]
    renewed: list[dict[str, Any]] = []
    lost: list[dict[str, str]] = []
    notes: list[str] = []
    for task_id in task_ids:
        try:
            claim, note = claims.heartbeat(task_id, who)
        except ClaimTakenError as error:
            if task is not None:
                raise
            lost.append({"id": task_id, "error": error.message,
                         "holder": str(error.details.get("holder"))})
            continue
        renewed.append(claim.as_json())
        if note:
            notes.append(note)
    payload: dict[str, Any] = {
        "actor": who, "renewed": renewed, "count": len(renewed), "lost": lost,
        "lease_seconds": claims.lease_seconds, "note": notes[0] if notes else None}
    if lost:
        return Heartbeat(payload, "; ".join(item["error"] for item in lost))
    if not task_ids:
        message = f"{who} holds no claims"
    else:
        message = ", ".join(f"{row['id']} until {row['lease_until']}" for row in renewed)
        message = f"lease extended: {message}" + (f" ({notes[0]})" if notes else "")
    payload["message"] = message
    return Heartbeat(payload, None)
