"""Epics: epic create|show, epics."""

from __future__ import annotations

import click

from git_flowctl import numbering
from git_flowctl.cli.commands.deps import epic_add_dep, epic_rm_dep
from git_flowctl.cli.commands.planning import epic_archive, epic_close, epic_reopen, epic_set_plan
from git_flowctl.cli.common import (
    apply_change,
    context_for,
    get_output,
    mode_of,
    mutating,
    open_workspace,
    read_plan,
    read_text,
    rev_option,
    split_list,
)
from git_flowctl.cli.render import styled_state
from git_flowctl.model import EPIC_SECTIONS
from git_flowctl.views import epic_summary


@click.group("epic")
def epic_group() -> None:
    """Epics: create, show, close, reopen, set-plan, add-dep, rm-dep, archive."""


for _command in (epic_close, epic_reopen, epic_set_plan, epic_add_dep, epic_rm_dep, epic_archive):
    epic_group.add_command(_command)


@epic_group.command("create")
@click.option("--title", required=True, help="What the epic delivers.")
@click.option("--deps", multiple=True, metavar="EPICS", help="Epics it depends on (comma-separated).")
@click.option("--branch", help="The branch the epic's work lands on.")
@click.option("--priority", type=int, help="Lower first.")
@click.option("--overview", metavar="TEXT", help="The ## Overview (text, @file or -).")
@mutating
def epic_create(title: str, deps: tuple[str, ...], branch: str | None, priority: int | None,
                overview: str | None, no_commit: bool, dry_run: bool, message: str | None,
                actor: str | None) -> None:
    """Create an epic, fn-N-slug.

    N is one more than the highest number in the work tree and in the .flow/epics (and archive)
    tree of every local and remote-tracking branch, so epics made on two branches rarely collide
    (`renumber` repairs it when they do).
    """
    from git_flowctl import ops

    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode)
    dep_refs = split_list(deps)
    sections = {}
    overview_text = read_text(overview, "the overview")
    if overview_text:
        sections[EPIC_SECTIONS[0]] = overview_text
    apply_change(out, ws, lambda plan: ops.create_epic(
        plan, title, ctx, depends_on_epics=dep_refs, branch=branch, priority=priority,
        sections=sections, taken_numbers=numbering.taken_epic_numbers(ws, plan.config.prefix)),
        mode, message)


@epic_group.command("show")
@click.argument("epic")
@rev_option
def epic_show(epic: str, rev: str | None) -> None:
    """Show an epic with its tasks."""
    from git_flowctl.cli.commands.tasks import _show

    _show(epic, rev)


@click.command("epics")
@rev_option
def epics_command(rev: str | None) -> None:
    """List epics with their progress."""
    out, _ws, plan = read_plan(rev)
    rows = [epic_summary(plan, epic) for epic in plan.sorted_epics()]

    def render(console: object) -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        assert isinstance(console, Console)
        if not rows:
            console.print("no epics yet: `git flow-task epic create --title ...`")
            return
        table = Table(show_edge=False, header_style="bold", pad_edge=False)
        for column in ("id", "status", "done", "title"):
            table.add_column(column)
        for row in rows:
            table.add_row(escape(row["id"]), styled_state(row["status"]),
                          f"{row['done']}/{row['tasks']}", escape(row["title"]))
        console.print(table)

    out.emit({"epics": rows, "count": len(rows)}, render)
