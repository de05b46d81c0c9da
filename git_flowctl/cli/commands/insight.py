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
@rev_option
def status_command(rev: str | None) -> None:
    """Counts per state, per epic, and what is ready."""
    out = get_output()
    ws = open_workspace(out)
    plan = ws.load_plan(rev)
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
    if mark_landed and report["landed"]:
        console.print(f"landed on {escape(report['default_branch'])}: "
                      + ", ".join(escape(i) for i in report["landed"]))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
