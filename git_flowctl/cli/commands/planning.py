"""Shaping the plan: task edit|split, epic edit|close|reopen|set-plan|archive, renumber."""

from __future__ import annotations

from functools import partial
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
    read_text,
    run_mutation,
    split_list,
)
from git_flowctl.model.errors import UsageError
from git_flowctl.model.items import EPIC_SECTIONS, TRIGGER_RULES
from git_flowctl.repo.plan import Plan

if TYPE_CHECKING:
    from git_flowctl.changes.ops import Context
    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.repo.writer import Change, Mode


class OptionalNumber(click.ParamType):  # type: ignore[type-arg]
    """A number, or ``none`` (also an empty string) to clear the field."""

    name = "N|none"

    def __init__(self, kind: type[int] | type[float]) -> None:
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, (int, float)):
            return value
        text = str(value).strip().lower()
        if text in ("", "none", "null"):
            return None
        try:
            number = self.kind(text)
        except ValueError:
            self.fail(f"{value!r} is not a {'whole ' if self.kind is int else ''}number (or none)",
                      param, ctx)
        if self.kind is float and number == int(number):
            return int(number)  # `estimate: 3`, not `3.0`
        return number


TRIGGER_RULE = click.Choice(TRIGGER_RULES)


def trigger_options(func: Any) -> Any:
    """--trigger-rule, --max-retries, --estimate: shared by `task create` and `task edit`."""
    for option in reversed([
        click.option("--trigger-rule", type=TRIGGER_RULE,
                     help="When the task may start: all_success (default: every dependency done or "
                          "skipped), none_failed_min_one_success, all_done."),
        click.option("--max-retries", type=OptionalNumber(int),
                     help="Failed attempts given back as up_for_retry (default: config max_retries)."),
        click.option("--estimate", type=OptionalNumber(float),
                     help="Size of the work, any unit; `critical-path --by estimate` adds them up."),
        click.option("--retry-backoff", type=OptionalNumber(float), metavar="SECONDS|none",
                     help="Seconds before a failed attempt is retried, doubling (by "
                          "retry_backoff.factor) each time (default: config retry_backoff)."),
    ]):
        func = option(func)
    return func


def trigger_fields(trigger_rule: str | None, max_retries: int | None, estimate: float | None,
                   given: set[str], retry_backoff: float | None = None) -> dict[str, Any]:
    from git_flowctl.changes import structure

    values = {"trigger_rule": trigger_rule, "max_retries": max_retries, "estimate": estimate,
              "retry_backoff": retry_backoff}
    return structure.check_task_fields({key: value for key, value in values.items() if key in given})


def given_options(ctx: click.Context) -> set[str]:
    """Names of the options the user typed (so `--priority none` clears, absence keeps)."""
    from click.core import ParameterSource

    return {name for name in ctx.params
            if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}


@click.command("edit")
@click.argument("task", shell_complete=complete.task_ids)
@click.option("--title", help="A new title (the ID does not change).")
@click.option("--priority", type=OptionalNumber(int), help="Lower first; none clears.")
@click.option("--domain", help='Free text; "" clears.')
@click.option("--files", multiple=True, metavar="PATHS",
              help='Paths the task owns, replacing the list (comma-separated, repeatable; "" clears).')
@trigger_options
@click.option("--description", metavar="TEXT", help="The ## Description (text, @file or -).")
@click.option("--acceptance", metavar="TEXT", help="The ## Acceptance checklist (text, @file or -).")
@mutating
@click.pass_context
def task_edit(ctx: click.Context, task: str, title: str | None, priority: int | None,
              domain: str | None, files: tuple[str, ...], trigger_rule: str | None,
              max_retries: int | None, estimate: float | None, retry_backoff: float | None,
              description: str | None, acceptance: str | None, no_commit: bool, dry_run: bool,
              message: str | None, actor: str | None) -> None:
    """Change TASK's title, priority, domain, files, trigger rule, retries, estimate, retry
    backoff or text.

    Only the options given change; `none` (or "") clears a field. The status is not touched, so
    the commit carries no Flow-Transition trailer.
    """
    from git_flowctl.changes import structure

    given = given_options(ctx)
    values: dict[str, Any] = {"title": title, "priority": priority, "domain": domain,
                              "files": split_list(files), "trigger_rule": trigger_rule,
                              "max_retries": max_retries, "estimate": estimate,
                              "retry_backoff": retry_backoff}
    fields = {key: value for key, value in values.items() if key in given}
    description_text = read_text(description, "the description")
    acceptance_text = read_text(acceptance, "the acceptance")
    if not fields and description_text is None and acceptance_text is None:
        raise UsageError("nothing to edit", hint="give at least one of --title, --priority, --domain, "
                         "--files, --trigger-rule, --max-retries, --estimate, --retry-backoff, "
                         "--description, --acceptance")
    run_mutation(lambda plan, flow_ctx: structure.edit_task(
        plan, task, flow_ctx, fields=fields, description=description_text, acceptance=acceptance_text),
        actor=actor, no_commit=no_commit, dry_run=dry_run, message=message)


@click.command("split")
@click.argument("task", shell_complete=complete.task_ids)
@click.option("--titles", required=True, metavar='"A|B|C"', help="The parts' titles, separated by |.")
@click.option("--chain", is_flag=True,
              help="Each part depends on the one before; dependents wait for the last part only.")
@force_option
@mutating
def task_split(task: str, titles: str, chain: bool, force: bool, no_commit: bool, dry_run: bool,
               message: str | None, actor: str | None) -> None:
    """Split TASK into parts with the next numbers; TASK itself is skipped.

    Every part takes TASK's dependencies (with --chain, only the first does and each next part
    waits for the one before). Tasks that depended on TASK now depend on every part (with --chain,
    on the last), so nothing downstream starts early. One commit.
    """
    from git_flowctl.changes import structure
    from git_flowctl.coordination.reservations import apply_with_task_numbers
    from git_flowctl.repo.writer import Writer

    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode, force)
    parts = titles.split("|")

    def create(plan: Plan, numbers: list[int] | None, taken: set[int]) -> Change:
        return structure.split_task(plan, task, parts, ctx, chain=chain, numbers=numbers,
                                    taken_numbers=taken)

    # The parts' numbers are reserved as `task create` reserves one (issue #13, finding 8).
    emit_outcome(out, apply_with_task_numbers(ws, Writer(ws, message=message), mode, ctx.actor,
                                              len(parts), create, task_ref=task))


@click.command("close")
@click.argument("epic", shell_complete=complete.epic_ids)
@click.option("--skip-gap-check", is_flag=True,
              help="Close even while required or important gaps are open.")
@force_option
@mutating
def epic_close(epic: str, skip_gap_check: bool, force: bool, no_commit: bool, dry_run: bool,
               message: str | None, actor: str | None) -> None:
    """Close EPIC (open -> done).

    Refused, listing them, while any task is not done or skipped, while an epic it depends on
    is open, while a required or important gap is open (`gap list`; --skip-gap-check closes
    anyway), and, with `require_review: completion`, until a SHIP completion verdict is
    recorded (`review`).
    """
    from git_flowctl.gates.closing import close_epic

    run_mutation(lambda plan, ctx: close_epic(plan, epic, ctx, skip_gap_check=skip_gap_check),
                 actor=actor, no_commit=no_commit, dry_run=dry_run, message=message, force=force)


@click.command("reopen")
@click.argument("epic", shell_complete=complete.epic_ids)
@force_option
@mutating
def epic_reopen(epic: str, force: bool, no_commit: bool, dry_run: bool, message: str | None,
                actor: str | None) -> None:
    """Reopen a closed EPIC (done -> open)."""
    from git_flowctl.changes import structure

    run_mutation(lambda plan, ctx: structure.reopen_epic(plan, epic, ctx), actor=actor,
                 no_commit=no_commit, dry_run=dry_run, message=message, force=force)


@click.command("edit")
@click.argument("epic", shell_complete=complete.epic_ids)
@click.option("--title", help="A new title (the ID does not change).")
@click.option("--branch", help='The branch the epic\'s work lands on; "" clears.')
@click.option("--priority", type=OptionalNumber(int), help="Lower first; none clears.")
@mutating
@click.pass_context
def epic_edit(ctx: click.Context, epic: str, title: str | None, branch: str | None,
              priority: int | None, no_commit: bool, dry_run: bool, message: str | None,
              actor: str | None) -> None:
    """Change EPIC's title, branch or priority (flowctl's epic set-title and set-branch).

    Only the options given change. The ID stays as it is, so references elsewhere keep
    working; the status is not touched, so the commit carries no Flow-Transition trailer.
    """
    from git_flowctl.changes import structure

    given = given_options(ctx)
    values: dict[str, Any] = {"title": title, "branch": branch, "priority": priority}
    fields = {key: value for key, value in values.items() if key in given}
    if not fields:
        raise UsageError("nothing to edit", hint="give at least one of --title, --branch, --priority")
    run_mutation(lambda plan, flow_ctx: structure.edit_epic(plan, epic, flow_ctx, fields=fields),
                 actor=actor, no_commit=no_commit, dry_run=dry_run, message=message)


@click.command("set-plan")
@click.argument("epic", shell_complete=complete.epic_ids)
@click.option("--file", "file_name", required=True, metavar="FILE|-",
              help="Markdown with ## Overview, ## Scope, ## Approach, ## Acceptance, ## References "
                   "(- reads stdin).")
@click.option("--section", metavar="NAME",
              help=f"Set only this section ({', '.join(EPIC_SECTIONS)}, or any other name).")
@mutating
def epic_set_plan(epic: str, file_name: str, section: str | None, no_commit: bool, dry_run: bool,
                  message: str | None, actor: str | None) -> None:
    """Write EPIC's plan from a file or stdin.

    Without --section the text replaces the plan; standard sections it lacks are added as TBD.
    """
    from git_flowctl.changes import structure

    text = read_text("-" if file_name == "-" else f"@{file_name}", "the plan") or ""
    run_mutation(lambda plan, ctx: structure.set_epic_plan(plan, epic, text, ctx, section=section),
                 actor=actor, no_commit=no_commit, dry_run=dry_run, message=message)


@click.command("archive")
@click.argument("epic", shell_complete=complete.epic_ids)
@mutating
def epic_archive(epic: str, no_commit: bool, dry_run: bool, message: str | None,
                 actor: str | None) -> None:
    """Move a closed EPIC, its tasks and its gaps under .flow/archive/ in one commit.

    Their IDs stay taken. Live tasks that depend on archived ones stay satisfied (an archived task
    keeps the done or skipped state it was archived with). The gaps move to
    .flow/archive/gaps/<epic-id>/ and are read-only from then on.
    """
    from git_flowctl.changes import structure

    run_mutation(lambda plan, ctx: structure.archive_epic(plan, epic, ctx), actor=actor,
                 no_commit=no_commit, dry_run=dry_run, message=message)


@click.command("renumber")
@click.argument("epic", shell_complete=complete.epic_ids, required=False, metavar="[EPIC|TASK]")
@click.option("--to", type=int, metavar="N",
              help="The number to give EPIC or TASK (must be free everywhere).")
@mutating
def renumber_command(epic: str | None, to: int | None, no_commit: bool, dry_run: bool,
                     message: str | None, actor: str | None) -> None:
    """Repair epic number collisions (after a merge), or move EPIC or TASK to a free number.

    Without EPIC, every number used by two epics is repaired: the archived epic, else the oldest,
    keeps it; the others take the next free numbers (free on every branch), reserved first as
    `epic create` reserves its number (exit 3 when another clone holds --to's number). IDs, file
    names, depends_on, depends_on_epics, epic fields and full IDs in the text are rewritten in
    one commit with Flow-Rename trailers; a renumbered epic's gap folder moves with it (the gaps
    keep their IDs) and gap files that name a renamed ID are rewritten. A TASK (fn-1.4) takes the next number of its epic free
    on every branch and not reserved (as `task create` reserves it), or --to's: run it on a
    branch before merging when both sides created the same task number.
    """
    from git_flowctl.coordination import numbering
    from git_flowctl.coordination.reservations import EpicNumbers, Reservation, apply_with_numbers
    from git_flowctl.model import ids
    from git_flowctl.repo.writer import Writer

    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode)
    plan = ws.load_plan()
    plan.require_initialized()
    remote = plan.config.get("claims.remote")
    if epic is not None and "." in epic:  # a task moves within its epic
        _renumber_task(ws, plan, epic, to, mode, ctx, message, str(remote) if remote else None)
        return
    numbers = EpicNumbers(ws, plan.config.prefix, str(remote) if remote else None)

    def taken_now(prefix: str) -> set[int]:
        return numbering.taken_epic_numbers(ws, prefix) | numbers.reserved()

    def reserve(into: list[Reservation]) -> None:
        """A number for each epic that moves, as the plan now stands."""
        preview = numbering.renumber(plan, ctx, taken=taken_now(plan.config.prefix),
                                     epic_ref=epic, to=to)
        for old, new in preview.result["renamed"].items():
            if ids.is_task_id(old):
                continue
            if to is not None:
                into.append(numbers.reserve_exact(to, new, ctx.actor))
            else:
                into.append(numbers.reserve(taken_now(plan.config.prefix),
                                            partial(numbering.with_number, old), ctx.actor))

    def build(current: Plan, reserved: list[Reservation] | None) -> Change:
        change = numbering.renumber(current, ctx, taken=taken_now(current.config.prefix),
                                    epic_ref=epic, to=to,
                                    targets=[r.number for r in reserved] if reserved is not None else None)
        if reserved:
            change.result["reservations"] = [r.as_json() for r in reserved]
        return change

    outcome, _ = apply_with_numbers(numbers, Writer(ws, message=message), mode, reserve=reserve,
                                    build=build)
    emit_outcome(out, outcome)


def _renumber_task(ws: Workspace, plan: Plan, task_ref: str, to: int | None, mode: Mode,
                   ctx: Context, message: str | None, remote: str | None) -> None:
    from git_flowctl.coordination import numbering
    from git_flowctl.coordination.reservations import Reservation, TaskNumbers, apply_with_numbers
    from git_flowctl.model import ids
    from git_flowctl.repo.writer import Writer

    task = plan.task(task_ref)
    task_id, epic_id = task.id, task.epic  # a preview rewrites the plan's documents in place
    numbers = TaskNumbers(ws, epic_id, remote)

    def taken_now() -> set[int]:
        return numbering.taken_task_numbers(ws, epic_id) | numbers.reserved()

    def reserve(into: list[Reservation]) -> None:
        numbering.renumber_task(plan, task_id, taken=taken_now(), to=to)  # refuses a taken --to
        if to is not None:
            into.append(numbers.reserve_exact(to, ids.make_task_id(epic_id, to), ctx.actor))
        else:
            into.append(numbers.reserve(taken_now(), partial(ids.make_task_id, epic_id), ctx.actor))

    def build(current: Plan, reserved: list[Reservation] | None) -> Change:
        change = numbering.renumber_task(current, task_id, taken=taken_now(), to=to,
                                         target=reserved[0].number if reserved else None)
        if reserved:
            change.result["reservations"] = [r.as_json() for r in reserved]
        return change

    outcome, _ = apply_with_numbers(numbers, Writer(ws, message=message), mode, reserve=reserve,
                                    build=build)
    emit_outcome(get_output(), outcome)
