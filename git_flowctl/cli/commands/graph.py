"""The graph: graph --format ascii|mermaid|dot, critical-path (networkx loads only here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import read_plan, rev_option
from git_flowctl.cli.render import styled_state
from git_flowctl.views import graphviews

if TYPE_CHECKING:
    from rich.console import Console

FORMATS = graphviews.FORMATS


@click.command("graph")
@click.option("--epic", "epic_ref", shell_complete=complete.epic_ids, metavar="EPIC",
              help="Only this epic (plus the outside tasks it depends on, marked).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="ascii", show_default=True,
              help="ascii for the terminal; mermaid for Markdown (GitHub renders it); dot for Graphviz.")
@rev_option
def graph_command(epic_ref: str | None, fmt: str, rev: str | None) -> None:
    """Draw the dependency graph, in layers of tasks that can run in parallel.

    Edges run from a dependency to the task that waits for it. `layers` groups every task by
    depth; `waves` groups the unfinished ones: wave 1 can run now (all together), wave 2 once
    wave 1 is done, and so on. JSON: nodes, edges, layers, waves, and the drawing as `text`.
    """
    from git_flowctl.views.reads import offer_for

    out, ws, plan = read_plan(rev)
    epic_id = plan.resolve_epic(epic_ref) if epic_ref else None
    view = graphviews.build(plan, epic_id, offer_for(ws, plan, rev))
    text = graphviews.render(view, fmt)
    if out.json_mode:
        out.emit({**view.as_dict(), "format": fmt, "text": text})
    else:
        click.echo(text, nl=False)


@click.command("critical-path")
@click.option("--epic", "epic_ref", shell_complete=complete.epic_ids, metavar="EPIC",
              help="Only this epic's work (and the unfinished outside work it waits for).")
@click.option("--by", type=click.Choice(("count", "estimate")), default="count", show_default=True,
              help="Length by number of tasks, or by their `estimate` fields (missing counts 1).")
@rev_option
def critical_path_command(epic_ref: str | None, by: str, rev: str | None) -> None:
    """The longest chain of unfinished work: what bounds how soon everything can be done.

    Unfinished means any state but done and skipped. Ties go to the lower task ID.
    """
    out, _ws, plan = read_plan(rev)
    epic_id = plan.resolve_epic(epic_ref) if epic_ref else None
    report = graphviews.critical_path(plan, epic_id, by)
    out.emit(report, lambda console: _render_path(console, report))


def _render_path(console: Console, report: dict[str, Any]) -> None:
    from rich.markup import escape

    if not report["path"]:
        console.print("no unfinished work")
        return
    weight = report["weight"]
    size = (f"{report['length']} tasks" if report["by"] == "count"
            else f"estimate {weight:g} over {report['length']} tasks")
    console.print(f"[bold]critical path[/bold]: {size}")
    for number, row in enumerate(report["path"], start=1):
        estimate = f"  ({row['estimate']:g})" if row["estimate"] is not None else ""
        outside = "  (other epic)" if row["external"] else ""
        console.print(f"  {number}. {escape(row['id'])}  {styled_state(row['status'])}  "
                      f"{escape(row['title'])}{estimate}{outside}")
    if report["unestimated"]:
        console.print(f"[dim]no estimate (counted as 1): {escape(', '.join(report['unestimated']))}[/dim]")
