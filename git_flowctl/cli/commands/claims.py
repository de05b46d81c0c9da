"""Claims and leases: claims, heartbeat, reclaim (the claim refs themselves: claims.py)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from git_flowctl.changes import ops
from git_flowctl.cli import complete
from git_flowctl.cli.commands.work import claimed_transition, remote_option
from git_flowctl.cli.common import context_for, get_output, mode_of, mutating, open_workspace
from git_flowctl.model.errors import FlowError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from git_flowctl.changes.ops import Context
    from git_flowctl.cli.output import Output
    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.repo.writer import Mode


@click.command("claims")
@click.option("--stale", is_flag=True, help="Only claims whose lease has run out.")
@click.option("--prune", is_flag=True,
              help="Remove the finished records whose work has reached the default branch.")
@click.option("--no-fetch", is_flag=True, help="Do not fetch the remote's claims first.")
@remote_option
@click.option("--actor", metavar="NAME", help="Who acts (for --prune on the remote).")
def claims_command(stale: bool, prune: bool, no_fetch: bool, remote: str | None,
                   actor: str | None) -> None:
    """List who holds which task, until when, and the finished records kept across branches.

    With a remote (claims.remote or --remote) its claims are fetched first and listed with the
    local ones; `where` says which.
    """
    from git_flowctl.coordination.claims import Claims

    out = get_output()
    ws = open_workspace(out)
    claims = Claims.open(ws, remote)
    problem = None if no_fetch or claims.remote_name is None else claims.refresh()
    pruned = claims.prune(ws.actor(actor)) if prune else []
    default_ref, default_plan = claims.default_branch_plan()
    now = time.time()
    rows = []
    for claim in claims.all():
        if stale and not claim.expired(now):
            continue
        row = claim.as_json(now)
        row["landed"] = claims.landed(claim, default_ref, default_plan) if claim.is_finished else None
        rows.append(row)
    payload: dict[str, Any] = {
        "claims": rows, "count": len(rows), "remote": claims.remote_name,
        "local_only": claims.remote is None or problem is not None,
        "remote_problem": problem or (claims.remote_problem if claims.remote is None else None),
        "default_branch": default_ref,
    }
    if prune:
        payload["pruned"] = pruned
        if default_ref is None:
            payload["prune_note"] = ("nothing can be pruned: there is no default branch for work "
                                     "to land on (`git flow-task config set default_branch NAME`)")
    out.emit(payload, lambda console: _render(console, payload, stale))


def _render(console: Console, payload: dict[str, Any], stale: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from git_flowctl.coordination.claims import short_branch

    if payload.get("prune_note"):
        console.print(payload["prune_note"])
    for record in payload.get("pruned", []):
        console.print(f"pruned {escape(record['id'])} (landed on "
                      f"{escape(short_branch(payload['default_branch'] or ''))})")
    if not payload["claims"]:
        console.print("no stale claims" if stale else "no claims")
    else:
        table = Table(show_edge=False, header_style="bold", pad_edge=False)
        for column in ("task", "state", "holder", "since", "lease", "branch", "where"):
            table.add_column(column, no_wrap=column in ("task", "state"))
        for row in payload["claims"]:
            if row["state"] == "done":
                state = "[green]finished[/green]" + (" [dim](landed)[/dim]" if row["landed"] else "")
                lease = f"at {row['commit'][:10]}" if row["commit"] else "staged"
            elif row["stale"]:
                state, lease = "[red]stale[/red]", f"expired {row['lease_until']}"
            else:
                state, lease = "[yellow]held[/yellow]", f"{_duration(row['expires_in'])} left"
            table.add_row(escape(row["id"]), state, escape(row["holder"]), escape(row["claimed_at"]),
                          escape(lease), escape(short_branch(row["branch"])), escape(row["where"]))
        console.print(table)
    if any(row["stale"] for row in payload["claims"]):
        console.print("[dim]an expired lease is recorded as a failed attempt of its task by the "
                      "next `next --claim` or `run`, or now by `git flow-task reclaim --expired`[/dim]")
    if payload["remote"] is None:
        console.print("[dim]claims are local only: no claims.remote configured[/dim]")
    elif payload["remote_problem"]:
        console.print(f"[dim]local view only: {escape(payload['remote_problem'])}[/dim]")


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


@click.command("heartbeat")
@click.argument("task", shell_complete=complete.task_ids, required=False)
@remote_option
@click.option("--actor", metavar="NAME",
              help="Who acts (default: FLOW_ACTOR, git user.email, user.name, $USER).")
def heartbeat_command(task: str | None, remote: str | None, actor: str | None) -> None:
    """Extend the lease of TASK's claim (or of every claim the actor holds).

    Exits 3 when the claim is no longer the actor's (the lease ran out and someone reclaimed it):
    stop working on that task.
    """
    from git_flowctl.coordination.work import heartbeat

    out = get_output()
    ws = open_workspace(out)
    beat = heartbeat(ws, task, remote=remote, actor=actor)
    if beat.failure is not None:
        out.fail(beat.payload, beat.failure, exit_code=3)
        return
    out.emit(beat.payload)


@click.command("reclaim")
@click.argument("task", shell_complete=complete.task_ids, required=False)
@click.option("--expired", is_flag=True,
              help="Record every claim whose lease ran out as a failed attempt (action=expire) "
                   "and give it back, instead of taking one over.")
@click.option("--epic", shell_complete=complete.epic_ids, metavar="EPIC",
              help="With --expired: only this epic's tasks.")
@remote_option
@mutating
def reclaim_command(task: str | None, expired: bool, epic: str | None, remote: str | None,
                    no_commit: bool, dry_run: bool, message: str | None,
                    actor: str | None) -> None:
    """Take over TASK's claim when its lease has run out, and work on it here.

    The swap is atomic (compare-and-swap on the claim ref, and a leased push on the remote), so
    of two reclaimers one wins; the old holder's later heartbeat or done exits 3. A task that is
    todo here is started; one in progress here under the old holder gets the actor as assignee.

    With --expired (and no TASK): every expired lease of a task this branch knows is recorded
    as a failed attempt (up_for_retry while retries remain, else failed) and its claim is given
    back; of several noticers exactly one records each (`next --claim` and `run` do the same).
    """
    from git_flowctl.coordination.claims import Claims
    from git_flowctl.coordination.work import resolve_task_id

    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode)
    if expired or task is None:
        if task is not None or not expired:
            raise UsageError("give a TASK to reclaim, or --expired (without a TASK)",
                             hint="git flow-task reclaim TASK | git flow-task reclaim --expired")
        _reclaim_expired(out, ws, ctx, mode, epic, remote, message)
        return
    if epic is not None:
        raise UsageError("--epic goes with --expired")
    task_id = resolve_task_id(ws, task)
    claims = Claims.open(ws, remote)
    if claims.remote is not None:
        claims.remote.fetch(task_id)
    current = claims.get(task_id) or (claims.remote.read(task_id) if claims.remote else None)
    if current is None:
        raise FlowError(f"{task_id} is not claimed: there is nothing to reclaim",
                        hint=f"`git flow-task start {task_id}` claims it")
    claimed_transition(out, ws, ctx, mode, message, task_id, "start",
                       lambda plan: ops.reclaim(plan, task_id, ctx), remote=remote, reclaim=True)


def _reclaim_expired(out: Output, ws: Workspace, ctx: Context, mode: Mode, epic: str | None,
                     remote: str | None, message: str | None) -> None:
    from git_flowctl.coordination import expiry
    from git_flowctl.coordination.claims import Claims
    from git_flowctl.repo.writer import Mode, Writer

    if mode is Mode.STAGE:
        raise UsageError("reclaim --expired records each expiry as its own commit; "
                         "it has no --no-commit")
    claims = Claims.open(ws, remote)
    problem = claims.refresh() if claims.remote is not None else None
    plan = ws.load_plan("HEAD")
    plan.require_initialized()
    epic_id = plan.resolve_epic(epic) if epic else None
    candidates = expiry.expired_claims(claims, plan, ctx.actor, epic_id=epic_id)
    left = [claim for claim in claims.all() if claim.expired() and not claim.is_finished
            and claim not in candidates and (epic_id is None or claim.task.startswith(epic_id + "."))]
    payload: dict[str, Any] = {"remote": claims.remote_name, "remote_problem": problem}
    if mode is Mode.DRY_RUN:
        payload.update(dry_run=True, would_expire=[
            {"id": claim.task, "holder": claim.holder, "lease_until": claim.until}
            for claim in candidates])
    else:
        writer = Writer(ws, message=message)
        recorded = [expiry.record_expiry(claims, writer, ctx, claim) for claim in candidates]
        payload["expired"] = [item.as_json() for item in recorded if item is not None]
        payload["lost_races"] = [claim.task for claim, item in zip(candidates, recorded, strict=True)
                                 if item is None]
    payload["left_alone"] = [
        {"id": claim.task, "holder": claim.holder, "lease_until": claim.until,
         "why": "this branch cannot record it (the task is not in progress, todo or up_for_retry "
                "here, or is your own in-progress task)"} for claim in left]
    count = len(payload.get("expired", payload.get("would_expire", [])))
    payload["count"] = count
    payload["message"] = (f"{'would record' if mode is Mode.DRY_RUN else 'recorded'} "
                          f"{count} expired lease{'' if count == 1 else 's'}")
    out.emit(payload, lambda console: _render_expired(console, payload))


def _render_expired(console: Console, payload: dict[str, Any]) -> None:
    from rich.markup import escape

    for item in payload.get("expired", []):
        result = f"-> {item['status']} (attempt {item['attempts']})" if item["status"] \
            else escape(item["note"] or "")
        console.print(f"expired {escape(item['id'])} (lease of {escape(item['holder'])} ran out "
                      f"at {escape(str(item['lease_until']))}) {result}")
    for item in payload.get("would_expire", []):
        console.print(f"would expire {escape(item['id'])} (lease of {escape(item['holder'])} ran "
                      f"out at {escape(str(item['lease_until']))})")
    for task in payload.get("lost_races", []):
        console.print(f"[dim]{escape(task)}: another noticer recorded it first[/dim]")
    for item in payload["left_alone"]:
        console.print(f"[dim]left alone: {escape(item['id'])} ({escape(item['why'])})[/dim]")
    console.print(escape(payload["message"]))
