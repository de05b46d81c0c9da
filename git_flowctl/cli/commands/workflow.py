"""flowctl's remaining workflow commands and file ownership (issue #16): files, queue,
restart, prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import read_plan, rev_option

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
