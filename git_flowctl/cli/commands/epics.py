"""Epics: epic create|show, epics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from git_flowctl.cli import complete
from git_flowctl.cli.commands.deps import epic_add_dep, epic_rm_dep
from git_flowctl.cli.commands.planning import (
    epic_archive,
    epic_close,
    epic_edit,
    epic_reopen,
    epic_set_plan,
)
from git_flowctl.cli.common import (
    click_escape,
    context_for,
    emit_outcome,
    get_output,
    mode_of,
    mutating,
    open_workspace,
    read_plan,
    read_text,
    rev_option,
    split_list,
)
from git_flowctl.coordination import numbering
from git_flowctl.model.items import EPIC_SECTIONS
from git_flowctl.views import text
from git_flowctl.views.shapes import epic_summary

if TYPE_CHECKING:
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.writer import Change


@click.group("epic")
def epic_group() -> None:
    """Epics: create, show, edit, close, reopen, set-plan, add-dep, rm-dep, archive."""


for _command in (epic_edit, epic_close, epic_reopen, epic_set_plan, epic_add_dep, epic_rm_dep, epic_archive):
    epic_group.add_command(_command)


@epic_group.command("create")
@click.option("--title", required=True, help="What the epic delivers.")
@click.option("--deps", shell_complete=complete.epic_ids, multiple=True, metavar="EPICS", help="Epics it depends on (comma-separated).")
@click.option("--branch", help="The branch the epic's work lands on.")
@click.option("--priority", type=int, help="Lower first.")
@click.option("--overview", metavar="TEXT", help="The ## Overview (text, @file or -).")
@click.option("--remote", metavar="NAME",
              help="Reserve the number on this git remote too (default: claims.remote).")
@mutating
def epic_create(title: str, deps: tuple[str, ...], branch: str | None, priority: int | None,
                overview: str | None, remote: str | None, no_commit: bool, dry_run: bool,
                message: str | None, actor: str | None) -> None:
    """Create an epic, fn-N-slug.

    N is one more than the highest number in the work tree, in the .flow/epics (and archive)
    tree of every local and remote-tracking branch, and among the numbers reserved. The number
    is reserved with a create-only ref, refs/flow/epic-numbers/fn-N, shared by every worktree
    and, with claims.remote set, pushed to that remote: a number someone else reserved first is
    skipped, so epics made at once in two worktrees or clones get different numbers (`renumber`
    repairs a collision made without a reservation).
    """
    from git_flowctl.changes import ops
    from git_flowctl.coordination.reservations import EpicNumbers, Reservation, apply_with_numbers
    from git_flowctl.model import ids
    from git_flowctl.model.config import CONFIG_PATH, Config
    from git_flowctl.repo.writer import Writer

    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode)
    dep_refs = split_list(deps)
    sections = {}
    overview_text = read_text(overview, "the overview")
    if overview_text:
        sections[EPIC_SECTIONS[0]] = overview_text
    config = Config.parse(ws.work_tree_source().read(CONFIG_PATH))
    remote_name = remote if remote is not None else config.get("claims.remote")
    numbers = EpicNumbers(ws, config.prefix, str(remote_name) if remote_name else None)
    taken = numbering.taken_epic_numbers(ws, config.prefix) | numbers.reserved()

    def reserve(into: list[Reservation]) -> None:
        into.append(numbers.reserve(taken, lambda number: ids.make_epic_id(
            number, title, config.prefix, config.slug_max), ctx.actor))

    def build(plan: Plan, reserved: list[Reservation] | None) -> Change:
        change = ops.create_epic(plan, title, ctx, depends_on_epics=dep_refs, branch=branch,
                                 priority=priority, sections=sections, taken_numbers=taken,
                                 number=reserved[0].number if reserved else None)
        if reserved:
            change.result["reservation"] = reserved[0].as_json()
        return change

    outcome, reserved = apply_with_numbers(numbers, Writer(ws, message=message), mode,
                                           reserve=reserve, build=build)
    emit_outcome(out, outcome)
    reservation = reserved[0] if reserved else None
    if reservation and not out.json_mode and (reservation.remote or reservation.note):
        line = f"epic number reserved: {reservation.ref}"
        line += f" (and on {reservation.remote})" if reservation.remote else ""
        line += f"; local only: {reservation.note}" if reservation.note else ""
        out.console.print(f"  [dim]{click_escape(line)}[/dim]", highlight=False)


@epic_group.command("show")
@click.argument("epic", shell_complete=complete.epic_ids)
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
    rows = [epic_summary(plan.facts, epic) for epic in plan.facts.sorted_epics()]
    payload = {"epics": rows, "count": len(rows)}
    out.emit_text(payload, lambda: text.epics_blocks(payload))
