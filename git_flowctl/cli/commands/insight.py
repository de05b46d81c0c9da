"""Insight: status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli.common import get_output, open_workspace, rev_option
from git_flowctl.cli.render import styled_state
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
    out.emit(report, lambda console: _render(console, report, plan.source.label,
                                             answer.mark_landed))


def _render(console: Console, report: dict[str, Any], source: str, mark_landed: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not report["flow_exists"]:
        console.print("no .flow/ plan here: `git flow-task init` creates one")
        return
    counts = report["tasks"]
    shown = [f"{styled_state(state)} {count}" for state, count in counts.items() if count]
    epics = len(report["per_epic"])
    console.print(f"[bold]{_plural(report['total_tasks'], 'task')}[/bold] in {_plural(epics, 'epic')}"
                  f" ({source}): " + ("  ".join(shown) if shown else "none yet"))
    if report["per_epic"]:
        table = Table(show_edge=False, header_style="bold", pad_edge=False)
        table.add_column("epic", no_wrap=True)
        table.add_column("status")
        table.add_column("progress", justify="right")
        table.add_column("states")
        for epic in report["per_epic"]:
            finished = epic["tasks"]["done"] + epic["tasks"]["skipped"]
            states_text = "  ".join(f"{styled_state(s)} {n}" for s, n in epic["tasks"].items() if n)
            table.add_row(escape(epic["id"]), styled_state(epic["status"]),
                          f"{finished}/{epic['total']}", states_text)
        console.print(table)
    if report["ready"]:
        console.print("ready: " + ", ".join(escape(i) for i in report["ready"]))
    for run in report.get("runs", []):
        console.print(f"run {escape(run['run_id'])}: {run['state']}, "
                      f"{len(run.get('running') or [])} running "
                      f"[dim](`git flow-task run status`)[/dim]")
    if mark_landed and report["landed"]:
        console.print(f"landed on {escape(report['default_branch'])}: "
                      + ", ".join(escape(i) for i in report["landed"]))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


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
