"""Tasks: task create|show, tasks, list, show, cat."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from git_flowctl.cli import complete
from git_flowctl.cli.commands.deps import task_set_deps
from git_flowctl.cli.commands.planning import (
    given_options,
    task_edit,
    task_split,
    trigger_fields,
    trigger_options,
)
from git_flowctl.cli.common import (
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
from git_flowctl.coordination.landing import landed_tasks
from git_flowctl.views import text
from git_flowctl.views.reads import mark_landed, show_answer, tasks_answer
from git_flowctl.views.shapes import epic_summary, task_summary

if TYPE_CHECKING:
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.writer import Change


@click.group("task")
def task_group() -> None:
    """Tasks: create, show, edit, set-deps, split."""


task_group.add_command(task_edit)
task_group.add_command(task_set_deps)
task_group.add_command(task_split)


@task_group.command("create")
@click.option("--epic", "epic_ref", shell_complete=complete.epic_ids, required=True, metavar="EPIC", help="The epic (fn-1 or its full ID).")
@click.option("--title", required=True, help="What the task does.")
@click.option("--deps", shell_complete=complete.task_ids, multiple=True, metavar="IDS", help="Task IDs it depends on (comma-separated, repeatable).")
@click.option("--priority", type=int, help="Lower runs first; absent sorts last.")
@click.option("--domain", help="Free text: backend, frontend, docs, ...")
@click.option("--files", multiple=True, metavar="PATHS", help="Paths the task owns (comma-separated, repeatable).")
@click.option("--description", metavar="TEXT", help="The ## Description (text, @file or -).")
@click.option("--acceptance", metavar="TEXT", help="The ## Acceptance checklist (text, @file or -).")
@trigger_options
@mutating
@click.pass_context
def task_create(click_ctx: click.Context, epic_ref: str, title: str, deps: tuple[str, ...],
                priority: int | None, domain: str | None, files: tuple[str, ...],
                description: str | None, acceptance: str | None, trigger_rule: str | None,
                max_retries: int | None, estimate: float | None, retry_backoff: float | None,
                no_commit: bool, dry_run: bool, message: str | None, actor: str | None) -> None:
    """Create a task in an epic (status todo).

    A dependency may be a task of any epic; one that would close a cycle is refused. The task's
    number is one above those of the epic's tasks on every branch, reserved with a create-only
    ref (refs/flow/task-numbers/<epic>.<M>, pushed to claims.remote when set) as `epic create`
    reserves epic numbers, so two worktrees or clones creating at once get different numbers.
    """
    from git_flowctl.changes import ops
    from git_flowctl.coordination.reservations import apply_with_task_number
    from git_flowctl.repo.writer import Writer

    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode)
    description_text = read_text(description, "the description")
    acceptance_text = read_text(acceptance, "the acceptance")
    extra = trigger_fields(trigger_rule, max_retries, estimate, given_options(click_ctx),
                           retry_backoff)

    def create(plan: Plan, number: int | None, taken: set[int]) -> Change:
        return ops.create_task(
            plan, epic_ref, title, ctx, depends_on=split_list(deps), priority=priority,
            domain=domain, files=split_list(files), description=description_text,
            acceptance=acceptance_text, number=number, taken_numbers=taken,
            extra={key: value for key, value in extra.items() if value is not None})

    emit_outcome(out, apply_with_task_number(ws, epic_ref, Writer(ws, message=message), mode,
                                             ctx.actor, create))


def _show(ref: str, rev: str | None) -> None:
    out, ws, plan = read_plan(rev)
    answer = show_answer(ws, plan, ref, rev)
    detail = answer.payload
    if answer.kind == "task":
        out.emit_text(detail, lambda: text.task_blocks(detail))
    else:
        out.emit_text(detail, lambda: text.epic_blocks(detail, answer.mark_landed,
                                                       answer.mark_not_landed))


@task_group.command("show")
@click.argument("task", shell_complete=complete.task_ids)
@rev_option
def task_show(task: str, rev: str | None) -> None:
    """Show a task: fields, derived state, body sections."""
    _show(task, rev)


@click.command("show")
@click.argument("ref", shell_complete=complete.any_ids, metavar="ID")
@rev_option
def show_command(ref: str, rev: str | None) -> None:
    """Show an epic (with its tasks) or a task."""
    _show(ref, rev)


@click.command("cat")
@click.argument("ref", shell_complete=complete.any_ids, metavar="ID")
@rev_option
def cat_command(ref: str, rev: str | None) -> None:
    """Print the Markdown body of an epic or a task (with --json: {"id", "body"})."""
    out = get_output()
    ws = open_workspace(out)
    plan = ws.load_plan(rev)
    item = plan.resolve_any(ref)
    if out.json_mode:
        out.emit({"id": item.id, "path": item.path, "body": item.doc.body})
    else:
        sys.stdout.write(item.doc.body)


@click.command("tasks")
@click.option("--epic", "epic_ref", shell_complete=complete.epic_ids, metavar="EPIC", help="Only this epic's tasks.")
@click.option("--status", "status_filter", multiple=True, metavar="STATE",
              help="Only tasks in this state (repeatable; derived states like upstream_failed work).")
@click.option("--domain", metavar="DOMAIN", help="Only tasks of this domain.")
@rev_option
def tasks_command(epic_ref: str | None, status_filter: tuple[str, ...], domain: str | None,
                  rev: str | None) -> None:
    """List tasks."""
    out, ws, plan = read_plan(rev)
    answer = tasks_answer(ws, plan, epic_ref=epic_ref, statuses=status_filter, domain=domain, rev=rev)
    out.emit_text(answer.payload, lambda: text.tasks_blocks(answer.payload, answer.mark_landed,
                                                           answer.mark_not_landed))


@click.command("list")
@rev_option
def list_command(rev: str | None) -> None:
    """List every epic and its tasks."""
    out, ws, plan = read_plan(rev)
    epics = [epic_summary(plan.facts, e) for e in plan.facts.sorted_epics()]
    tasks = [task_summary(plan.facts, t) for t in plan.facts.sorted_tasks()]
    landing = landed_tasks(ws, plan, rev)
    mark_landed(tasks, landing)
    payload = {"epics": epics, "tasks": tasks, "epic_count": len(epics), "task_count": len(tasks)}
    out.emit_text(payload, lambda: text.list_blocks(payload, landing.reading_default))
