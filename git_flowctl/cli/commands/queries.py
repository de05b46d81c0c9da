"""What to work on: ready, next, blocked (flowctl's JSON shapes, any revision with --rev)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import context_for, get_output, open_workspace, read_plan, rev_option
from git_flowctl.cli.output import Output
from git_flowctl.cli.render import print_lines
from git_flowctl.coordination import queries
from git_flowctl.model.errors import UsageError
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.workspace import Workspace
from git_flowctl.views import text

if TYPE_CHECKING:
    from rich.console import Console


def epic_option(func: Any) -> Any:
    return click.option("--epic", "epic_ref", shell_complete=complete.epic_ids, metavar="EPIC", help="Only this epic.")(func)


def actor_option(func: Any) -> Any:
    return click.option("--actor", metavar="NAME",
                        help="Whose view (default: FLOW_ACTOR, git user.email, user.name, $USER).")(func)


def _load(rev: str | None) -> tuple[Workspace, Plan]:
    _out, ws, plan = read_plan(rev)
    return ws, plan


@click.command("ready")
@epic_option
@actor_option
@rev_option
def ready_command(epic_ref: str | None, actor: str | None, rev: str | None) -> None:
    """Tasks that can start now, those in progress, and those blocked (with what blocks them).

    Ready: todo or up_for_retry with every dependency satisfied under its trigger rule. Each list
    is sorted by priority (absent last), task number, title.
    """
    from git_flowctl.coordination.availability import ready_answer
    from git_flowctl.coordination.claims import Claims

    out = get_output()
    ws, plan = _load(rev)
    epic_id = plan.resolve_epic(epic_ref) if epic_ref else None
    who = ws.actor(actor)
    report = ready_answer(ws, plan, who, epic_id, Claims.open(ws), rev=rev)
    out.emit_text(report, lambda: text.ready_blocks(report))


@click.command("next")
@epic_option
@actor_option
@rev_option
@click.option("--claim", is_flag=True,
              help="Claim it and start it here; a race lost to another worker moves on to the next.")
@click.option("--remote", metavar="NAME",
              help="With --claim: claim through this git remote (default: claims.remote).")
@click.option("-m", "--message", metavar="TEXT", help="With --claim: extra text for the commit body.")
def next_command(epic_ref: str | None, actor: str | None, rev: str | None, claim: bool,
                 remote: str | None, message: str | None) -> None:
    """The one task to do next: your own in-progress task first, else the best ready one.

    Epics are taken in number order; an epic whose epic dependencies are open is passed over (and
    reported); the best ready task is the one with the lowest priority value, then number. Tasks
    claimed by others, or finished on another branch, are not offered. With --claim the task is
    claimed and started in one step (your own in-progress task is resumed).
    JSON: status (work|none), epic, task, reason, passed_over, and suggest: the command that
    moves things forward (null when only waiting helps). With nothing to do, reason says why:
    all_done_close_epic (every task of `epic` finished: close it), waiting_on_other_branch (the
    work is finished on a branch to merge), claimed_by_others (claimed_by names who),
    in_progress_elsewhere, all_blocked, failed_upstream, waiting_for_retry,
    files_held_by_others, blocked_by_epic_deps (only when that is the cause), none. With
    --claim also claimed, claim, lost_races.
    """
    out = get_output()
    if claim:
        _claim_next(out, epic_ref, actor, rev, remote, message)
        return
    from git_flowctl.coordination.availability import next_answer
    from git_flowctl.coordination.claims import Claims

    ws, plan = _load(rev)
    epic_id = plan.resolve_epic(epic_ref) if epic_ref else None
    who = ws.actor(actor)
    answer = next_answer(ws, plan, who, epic_id, Claims.open(ws), rev=rev)
    out.emit_text(answer, lambda: text.next_blocks(answer))


def _claim_next(out: Output, epic_ref: str | None, actor: str | None, rev: str | None,
                remote: str | None, message: str | None) -> None:
    from git_flowctl.coordination.claims import Claims, claim_next
    from git_flowctl.repo.writer import Mode

    if rev is not None:
        raise UsageError("--claim starts the task on the current branch; it cannot read --rev")
    ws = open_workspace(out)
    ctx = context_for(ws, actor, Mode.COMMIT)
    answer = claim_next(Claims.open(ws, remote), ctx, epic_ref=epic_ref, message=message)
    out.emit(answer, lambda console: _render_claimed(console, answer))


def _render_claimed(console: Console, answer: dict[str, Any]) -> None:
    from rich.markup import escape

    for expired in answer.get("expired", []):
        console.print(f"[dim]expired {escape(expired['id'])}: the lease of "
                      f"{escape(str(expired['holder']))} ran out; recorded as a failed attempt "
                      f"({escape(str(expired['status'] or expired['note']))})[/dim]")
    for lost in answer["lost_races"]:
        console.print(f"[dim]lost {escape(lost['id'])} to {escape(str(lost['holder']))}[/dim]")
    if answer["status"] != "work":
        print_lines(console, text.next_blocks(answer))
        return
    task = escape(str(answer["task"]))
    if answer["reason"] == "resume_in_progress":
        console.print(f"resume [bold]{task}[/bold]  {escape(answer['title'])} (you hold its claim)")
    else:
        short = (answer.get("commit") or "")[:7]
        console.print(f"[green]✓[/green] claimed and started [bold]{task}[/bold]  "
                      f"{escape(answer['title'])} [dim]({short})[/dim]")
    claim = answer.get("claim") or {}
    if claim.get("note"):
        console.print(f"  [dim]{escape(claim['note'])}[/dim]")


@click.command("blocked")
@epic_option
@rev_option
def blocked_command(epic_ref: str | None, rev: str | None) -> None:
    """Tasks that cannot start, and why: status blocked (with its reason), waiting on
    dependencies, or upstream_failed (a dependency failed)."""
    from git_flowctl.views.reads import offer_for

    out = get_output()
    ws, plan = _load(rev)
    epic_id = plan.resolve_epic(epic_ref) if epic_ref else None
    rows = queries.blocked_rows(plan.facts, epic_id, offer_for(ws, plan, rev))
    payload = {"epic": epic_id, "blocked": rows, "count": len(rows)}
    out.emit_text(payload, lambda: text.blocked_blocks(payload))
