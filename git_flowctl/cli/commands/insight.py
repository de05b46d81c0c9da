"""Insight: status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli.common import get_output, open_workspace, rev_option
from git_flowctl.views import text
from git_flowctl.views.reads import status_answer

if TYPE_CHECKING:
    from rich.console import Console


@click.command("status")
@click.option("--interrupted", is_flag=True,
              help="Only the open epics whose work has started and is not finished.")
@rev_option
def status_command(interrupted: bool, rev: str | None) -> None:
    """Counts per state, per epic, what is ready, and the runs of this repository (`runs`:
    live and dead ones, as `run status` lists them).

    With --interrupted: the open epics where work has started (a task has left todo) and is not
    finished, with what is in progress and the command that goes on.
    """
    out = get_output()
    ws = open_workspace(out)
    plan = ws.load_plan(rev)
    if interrupted:
        from git_flowctl.views.workflow import interrupted_report

        plan.require_initialized()
        found = interrupted_report(plan)
        out.emit(found, lambda console: _render_interrupted(console, found))
        return
    answer = status_answer(ws, plan, rev)
    report = answer.payload
    out.emit_text(report, lambda: text.status_blocks(report, plan.source.label,
                                                     answer.mark_landed, answer.mark_not_landed))


def _render_interrupted(console: Console, found: dict[str, Any]) -> None:
    from rich.markup import escape

    if not found["interrupted"]:
        console.print("no interrupted epic: every started epic is finished")
    for epic in found["interrupted"]:
        console.print(f"[bold]{escape(epic['id'])}[/bold]  {escape(epic['title'])}  "
                      f"{epic['done']}/{epic['total']} done")
        for task in epic["in_progress"]:
            console.print(f"  in progress: {escape(task['id'])} ({escape(str(task['assignee']))})")
        left = [f"{task['id']} ({task['status']})" for task in epic["unfinished"]]
        console.print(f"  unfinished: {escape(', '.join(left))}")
        console.print(f"  [dim]go on: {escape(epic['resume'])}[/dim]")
