"""flowctl's remaining workflow commands and file ownership (issue #16): files, queue,
restart, prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import (
    context_for,
    emit_outcome,
    force_option,
    get_output,
    mode_of,
    mutating,
    open_workspace,
    read_plan,
    rev_option,
)

if TYPE_CHECKING:
    from rich.console import Console


@click.command("files")
@click.option("--epic", "epic_ref", shell_complete=complete.epic_ids, metavar="EPIC",
              help="Only this epic's tasks.")
@click.option("--actor", metavar="NAME",
              help="Whose view (default: FLOW_ACTOR, git user.email, user.name, $USER).")
@rev_option
def files_command(epic_ref: str | None, actor: str | None, rev: str | None) -> None:
    """Which task owns which paths, and the conflicts between tasks that may run at once.

    A task owns the entries of its `files` (paths, directories, globs) while it is open (todo,
    in progress, blocked, up for retry). Two open tasks conflict when their files overlap and
    neither waits on the other. `next` passes over a task whose files overlap a task someone
    else holds, `start` refuses it (exit 3) unless --force, and `run` never runs both at once.
    """
    from git_flowctl.coordination.availability import files_report
    from git_flowctl.coordination.claims import Claims

    out, ws, plan = read_plan(rev)
    epic_id = plan.resolve_epic(epic_ref) if epic_ref else None
    report = files_report(plan, ws.actor(actor), Claims.open(ws).all(), epic_id)
    out.emit(report, lambda console: _render_files(console, report))


def _render_files(console: Console, report: dict[str, Any]) -> None:
    from rich.markup import escape

    if not report["owners"]:
        console.print("no open task owns files")
    for row in report["owners"]:
        console.print(f"{escape(row['path'])}  [dim]<-[/dim] {escape(', '.join(row['tasks']))}")
    for conflict in report["conflicts"]:
        first, second = conflict["tasks"]
        held = [f"{task} held by {holder}" for task, holder in conflict["held_by"].items() if holder]
        console.print(f"[yellow]conflict[/yellow] {escape(first)} and {escape(second)}: "
                      f"{escape(', '.join(conflict['paths'][first]))}"
                      + (f" [dim]({escape('; '.join(held))})[/dim]" if held else ""))


@click.command("queue")
@click.option("--all", "every_epic", is_flag=True, help="Closed epics too.")
@click.option("--actor", metavar="NAME",
              help="Whose view (default: FLOW_ACTOR, git user.email, user.name, $USER).")
@rev_option
def queue_command(every_epic: bool, actor: str | None, rev: str | None) -> None:
    """Per open epic: how many tasks are ready, in progress, blocked and waiting, and what
    blocks each (flowctl's queue).

    Blocked: status blocked, upstream_failed, claimed by someone else, waiting for its retry
    backoff, or its files held by someone else. Waiting: its dependencies (or its epic's) are
    not finished yet. The same definitions as `ready`, grouped by epic.
    """
    from git_flowctl.coordination.claims import Claims
    from git_flowctl.views.workflow import queue_report

    out, ws, plan = read_plan(rev)
    report = queue_report(ws, plan, ws.actor(actor), Claims.open(ws), every_epic=every_epic)
    out.emit(report, lambda console: _render_queue(console, report))


def _render_queue(console: Console, report: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not report["epics"]:
        console.print("no open epic")
        return
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for column in ("epic", "ready", "in progress", "blocked", "waiting", "done"):
        table.add_column(column, justify="left" if column == "epic" else "right", no_wrap=True)
    for row in report["epics"]:
        counts = row["counts"]
        table.add_row(escape(row["id"]), str(counts["ready"]), str(counts["in_progress"]),
                      str(counts["blocked"]), str(counts["waiting"]),
                      f"{row['done']}/{row['total']}")
    console.print(table)
    for row in report["epics"]:
        if row["waits_for_epics"]:
            console.print(f"{escape(row['id'])} waits for epic "
                          f"{escape(', '.join(row['waits_for_epics']))}")
        for kind in ("blocked", "waiting"):
            for task in row[kind]:
                console.print(f"  {kind} {escape(task['id'])}: "
                              f"{escape(', '.join(map(str, task['blocked_by'])))}")
    totals = report["totals"]
    console.print(f"[dim]{totals['ready']} ready, {totals['in_progress']} in progress, "
                  f"{totals['blocked']} blocked, {totals['waiting']} waiting[/dim]")


@click.command("restart")
@click.argument("task", shell_complete=complete.task_ids)
@force_option
@mutating
def restart_command(task: str, force: bool, no_commit: bool, dry_run: bool,
                    message: str | None, actor: str | None) -> None:
    """Back to todo: TASK and every task downstream of it, from any state (flowctl's restart).

    One commit with one `action=restart` transition per task that changes; attempts, the
    assignee, reasons, the done summary and the evidence are cleared (history keeps them), and
    the finished claim records of reset tasks are dropped. A task in progress is someone's work:
    refused unless --force, which also gives its claim back. --dry-run lists `would_reset`.
    """
    from git_flowctl.coordination.work import restart

    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode, force)
    emit_outcome(out, restart(ws, ctx, mode, message, task))


@click.command("prompt")
@click.argument("task", shell_complete=complete.task_ids)
@click.option("--actor", metavar="NAME",
              help="Who will work on it (default: FLOW_ACTOR, git user.email, user.name, $USER).")
@rev_option
def prompt_command(task: str, actor: str | None, rev: str | None) -> None:
    """Everything one worker needs to do TASK (flowctl's worker-prompt): the spec and
    acceptance, the dependencies' done summaries and evidence, the files it owns, and the exact
    commands to start, heartbeat, finish, fail or block it.

    Short enough for an agent's context (a typical task's prompt is under 600 words) and stable
    enough to script: the same plan gives the same text. --json adds the parts as fields.
    """
    from git_flowctl.coordination.claims import Claims
    from git_flowctl.views.workflow import prompt_answer

    out, ws, plan = read_plan(rev)
    data = prompt_answer(ws, plan, task, ws.actor(actor), Claims.open(ws))
    if out.json_mode:
        out.emit(data)
        return
    out.console.print(data["prompt"], markup=False, highlight=False, end="")
