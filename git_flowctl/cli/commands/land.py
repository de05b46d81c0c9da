"""`git flow-task land TASK... [--into B] [--strategy S] [--push] [--dry-run]` (land.py)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import get_output, open_workspace

if TYPE_CHECKING:
    from rich.console import Console

_MARKS = {"landed": "[green]✓[/green]", "already_landed": "[dim]=[/dim]",
          "failed": "[red]✗[/red]", "blocked": "[yellow]✗[/yellow]", "skipped": "[yellow]-[/yellow]",
          "error": "[red]![/red]"}


@click.command("land")
@click.argument("tasks", nargs=-1, shell_complete=complete.task_ids)
@click.option("--into", metavar="BRANCH",
              help="The branch to land on (default: the default branch: default_branch in "
                   "config, else origin/HEAD, else main or master).")
@click.option("--strategy", type=click.Choice(["merge", "rebase", "squash"]),
              help="How each branch comes in (default: land.strategy in config, else merge).")
@click.option("--branch", metavar="BRANCH",
              help="The branch to land, for one task (default: its flow/<task-id> branch, else "
                   "the branch its claim names).")
@click.option("--all-done", is_flag=True,
              help="Land every done task whose branch is not on the target yet.")
@click.option("--push", is_flag=True,
              help="Push each landing to the target's remote (--force-with-lease); when the "
                   "remote moved, land again from its new tip.")
@click.option("--remote", metavar="NAME",
              help="The remote --push pushes to (default: the target's upstream, else origin).")
@click.option("--dry-run", is_flag=True, help="Print the order and what each landing would do; change nothing.")
@click.option("--actor", metavar="NAME",
              help="Who acts (default: FLOW_ACTOR, git user.email, user.name, $USER).")
def land_command(tasks: tuple[str, ...], into: str | None, strategy: str | None,
                 branch: str | None, all_done: bool, push: bool, remote: str | None,
                 dry_run: bool, actor: str | None) -> None:
    """Merge finished task branches into the target, each with its state.

    One task at a time, in dependency order, in a temporary worktree: merge (or rebase, or
    squash) the task's branch into the target, run the guard when one is configured, and
    commit the code with the state: a task in progress gets its done transition in the landing
    commit, a task done before gets Flow-Landed. The target moves by compare-and-swap. A
    conflict or a failing guard lands nothing of that task: it is recorded failed (blocked with
    land.on_failure: block) with the paths or checks named, its branch is kept, and tasks that
    do not depend on it go on.

    \b
    git flow-task land fn-1.2 fn-1.3
    git flow-task land --all-done --push
    """
    from git_flowctl.coordination.land import LandOptions, land_answer

    out = get_output()
    ws = open_workspace(out)
    answer = land_answer(ws, tasks, LandOptions(ws.actor(actor), into=into, strategy=strategy,
                                                push=push, remote=remote),
                         branch=branch, all_done=all_done, dry_run=dry_run, emit=_progress(out))
    if dry_run:
        plan = answer.payload
        out.emit(plan, lambda console: _render_plan(console, plan))
        return
    result = answer.payload
    if answer.failure is None:
        out.emit(result, lambda console: _render_result(console, result))
        return
    if out.json_mode:
        out.fail(result, answer.failure, exit_code=answer.exit_code)
    else:
        _render_result(out.console, result)
        out.fail({}, answer.failure, exit_code=answer.exit_code)


def _progress(out: Any) -> Any:
    """Events go to stderr under --json (stdout is the result), else nowhere: the result says
    it all once the landings are over."""
    def emit(kind: str, data: dict[str, Any]) -> None:
        if out.json_mode and kind in ("begin", "retry", "guard"):
            sys.stderr.write(f"land {kind:<6} {data.get('id')}\n")
            sys.stderr.flush()
    return emit


def _render_plan(console: Console, plan: dict[str, Any]) -> None:
    from rich.markup import escape

    console.print(f"[bold]dry run[/bold]: nothing written. Landing on {escape(plan['into'])} "
                  f"({plan['strategy']}), in this order:", highlight=False)
    if not plan["tasks"]:
        console.print("  nothing to land")
    for number, step in enumerate(plan["tasks"], start=1):
        console.print(f"  {number}. {escape(step['id'])}: would {escape(step['would'])}",
                      highlight=False)
    for task, why in plan["passed_over"].items():
        console.print(f"[dim]  passed over: {escape(task)} ({escape(why)})[/dim]")


def _render_result(console: Console, result: dict[str, Any]) -> None:
    from rich.markup import escape

    if not result["tasks"]:
        console.print("nothing to land")
    for task in result["tasks"]:
        mark = _MARKS.get(task["outcome"], "?")
        commit = f" [dim]({task['commit'][:7]})[/dim]" if task.get("commit") else ""
        if task["outcome"] == "landed":
            what = "done recorded with it" if task["recorded"] == "done" else "Flow-Landed"
            text = f"{task['id']} landed on {result['into']} from {task['branch']} ({what})"
        elif task["outcome"] == "already_landed":
            text = f"{task['id']} had landed already"
        elif task["outcome"] in ("failed", "blocked"):
            text = (f"{task['id']} did not land: {task['reason']}; recorded {task['outcome']}, "
                    f"{task['branch']} kept")
        else:
            text = f"{task['id']} {task['outcome']}: {task['reason']}"
        console.print(f"{mark} {escape(text)}{commit}", highlight=False)
        for note in task.get("notes") or []:
            console.print(f"[dim]  {escape(note)}[/dim]", highlight=False)
    for task, why in result["passed_over"].items():
        console.print(f"[dim]passed over: {escape(task)} ({escape(why)})[/dim]")
    if result["push"] and result["landed"]:
        console.print(f"[dim]pushed to {escape(str(result['remote']))}[/dim]")
