"""Dependencies: dep add|rm, task set-deps, epic add-dep|rm-dep. Cycles are refused at write time."""

from __future__ import annotations

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import force_option, mutating, run_mutation, split_list


@click.group("dep")
def dep_group() -> None:
    """Add and remove task dependencies (any epic); a cycle is refused and printed."""


@dep_group.command("add")
@click.argument("task", shell_complete=complete.task_ids)
@click.argument("deps", shell_complete=complete.task_ids, nargs=-1, required=True, metavar="DEP...")
@force_option
@mutating
def dep_add(task: str, deps: tuple[str, ...], force: bool, no_commit: bool, dry_run: bool,
            message: str | None, actor: str | None) -> None:
    """Make TASK depend on each DEP (task IDs of any epic, comma-separated or repeated).

    Refused, with the cycle printed (a -> b -> a), when a DEP already waits for TASK. Adding an
    unfinished dependency to a task that is in progress or done needs --force.
    """
    from git_flowctl.changes import structure

    run_mutation(lambda plan, ctx: structure.add_dependencies(plan, task, split_list(deps), ctx),
                 actor=actor, no_commit=no_commit, dry_run=dry_run, message=message, force=force)


@dep_group.command("rm")
@click.argument("task", shell_complete=complete.task_ids)
@click.argument("deps", shell_complete=complete.task_ids, nargs=-1, required=True, metavar="DEP...")
@mutating
def dep_rm(task: str, deps: tuple[str, ...], no_commit: bool, dry_run: bool, message: str | None,
           actor: str | None) -> None:
    """Remove each DEP from TASK's dependencies (a dangling ID is removed by its exact text)."""
    from git_flowctl.changes import structure

    run_mutation(lambda plan, ctx: structure.remove_dependencies(plan, task, split_list(deps), ctx),
                 actor=actor, no_commit=no_commit, dry_run=dry_run, message=message)


@click.command("set-deps")
@click.argument("task", shell_complete=complete.task_ids)
@click.option("--deps", shell_complete=complete.task_ids, multiple=True, required=True, metavar="IDS",
              help='The whole list of dependencies (comma-separated, repeatable; "" for none).')
@force_option
@mutating
def task_set_deps(task: str, deps: tuple[str, ...], force: bool, no_commit: bool, dry_run: bool,
                  message: str | None, actor: str | None) -> None:
    """Replace TASK's dependencies with --deps (cycles refused, as for `dep add`)."""
    from git_flowctl.changes import structure

    run_mutation(lambda plan, ctx: structure.set_dependencies(plan, task, split_list(deps), ctx),
                 actor=actor, no_commit=no_commit, dry_run=dry_run, message=message, force=force)


@click.command("add-dep")
@click.argument("epic", shell_complete=complete.epic_ids)
@click.argument("deps", shell_complete=complete.epic_ids, nargs=-1, required=True, metavar="DEP...")
@mutating
def epic_add_dep(epic: str, deps: tuple[str, ...], no_commit: bool, dry_run: bool,
                 message: str | None, actor: str | None) -> None:
    """Make EPIC depend on each DEP epic: `next` passes EPIC over until they are closed.

    Refused, with the cycle printed, when a DEP already waits for EPIC.
    """
    from git_flowctl.changes import structure

    run_mutation(lambda plan, ctx: structure.change_epic_dependencies(plan, epic, ctx, add=split_list(deps)),
                 actor=actor, no_commit=no_commit, dry_run=dry_run, message=message)


@click.command("rm-dep")
@click.argument("epic", shell_complete=complete.epic_ids)
@click.argument("deps", shell_complete=complete.epic_ids, nargs=-1, required=True, metavar="DEP...")
@mutating
def epic_rm_dep(epic: str, deps: tuple[str, ...], no_commit: bool, dry_run: bool,
                message: str | None, actor: str | None) -> None:
    """Remove each DEP from EPIC's epic dependencies."""
    from git_flowctl.changes import structure

    run_mutation(lambda plan, ctx: structure.change_epic_dependencies(plan, epic, ctx,
                                                                      remove=split_list(deps)),
                 actor=actor, no_commit=no_commit, dry_run=dry_run, message=message)
