"""Shared pieces of the command modules: options, the workspace, running a change."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from git_flowctl.changes.acting import context_for as context_for
from git_flowctl.changes.acting import mode_of as mode_of
from git_flowctl.cli.output import Output
from git_flowctl.model.errors import UsageError
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.workspace import Workspace

if TYPE_CHECKING:
    # Read commands never write: ops and the writer load only when a command records a change.
    from git_flowctl.changes.ops import Context
    from git_flowctl.repo.writer import Builder, Change, Mode, Outcome

F = TypeVar("F", bound=Callable[..., Any])


def get_output() -> Output:
    ctx = click.get_current_context()
    obj = ctx.find_root().obj
    if not isinstance(obj, Output):
        obj = Output(json_mode=False)
        ctx.find_root().obj = obj
    return obj


def open_workspace(out: Output) -> Workspace:
    ws = Workspace()
    out.display_path = ws.rel
    return ws


def read_plan(rev: str | None) -> tuple[Output, Workspace, Plan]:
    """What every read command starts with: the output, the workspace and an initialized plan
    (of the work tree, or of REV read from git objects)."""
    out = get_output()
    ws = open_workspace(out)
    plan = ws.load_plan(rev)
    plan.require_initialized()
    return out, ws, plan


def read_text(value: str | None, what: str) -> str | None:
    """Text arguments: literal text, ``@path`` for a file's content, ``-`` for stdin."""
    if value is None:
        return None
    if value == "-":
        return sys.stdin.read()
    if value.startswith("@") and len(value) > 1:
        path = Path(value[1:])
        try:
            return path.read_text("utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {what} from {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"cannot read {what} from {path}: not UTF-8") from None
    return value


def rev_option(func: F) -> F:
    return click.option("--rev", metavar="REV",
                        help="Read the plan of this revision from git objects (no checkout).")(func)


def mutating(func: F) -> F:
    """Options every mutating command takes (DESIGN §2)."""
    options = [
        click.option("--no-commit", is_flag=True,
                     help="Write and stage the file only; your next `git commit` records it."),
        click.option("--dry-run", is_flag=True, help="Print the change and write nothing."),
        click.option("-m", "--message", metavar="TEXT", help="Extra text for the commit body."),
        click.option("--actor", metavar="NAME",
                     help="Who acts (default: FLOW_ACTOR, git user.email, user.name, $USER)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def force_option(func: F) -> F:
    return click.option("--force", is_flag=True,
                        help="Override the state machine or a gate (recorded as force=1).")(func)


def apply_change(out: Output, ws: Workspace, build: Builder, mode: Mode,
                 message: str | None, human: Callable[[Outcome], str] | None = None) -> Outcome:
    from git_flowctl.repo.writer import Writer

    outcome = Writer(ws, message=message).apply(build, mode)
    emit_outcome(out, outcome, human)
    return outcome


def emit_outcome(out: Output, outcome: Outcome, human: Callable[[Outcome], str] | None = None) -> None:
    from git_flowctl.repo.writer import Mode

    payload = outcome.payload()
    if out.json_mode:
        out.emit(payload)
        return
    console = out.console
    if outcome.mode is Mode.DRY_RUN and outcome.noop:
        text = human(outcome) if human else str(payload.get("message", ""))
        console.print(f"[bold]dry run[/bold]: {click_escape(text)} (nothing to change)", highlight=False)
        return
    if outcome.mode is Mode.DRY_RUN:
        console.print("[bold]dry run[/bold]: nothing written. The commit would be:", highlight=False)
        console.print(outcome.message.rstrip(), markup=False, highlight=False)
        if outcome.diff:
            console.print(outcome.diff.rstrip(), markup=False, highlight=False)
        return
    text = human(outcome) if human else str(payload.get("message", ""))
    if outcome.noop:
        console.print(f"{text} (nothing to change)", markup=False, highlight=False)
    elif outcome.mode is Mode.STAGE:
        console.print(f"{text} [dim](staged; your next `git commit` records it)[/dim]", highlight=False)
    else:
        short = (outcome.commit or "")[:7]
        console.print(f"[green]✓[/green] {click_escape(text)} [dim]({short})[/dim]", highlight=False)


def click_escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def run_mutation(build: Callable[[Plan, Context], Change], *, actor: str | None, no_commit: bool,
                 dry_run: bool, message: str | None, force: bool = False,
                 human: Callable[[Outcome], str] | None = None) -> Outcome:
    """The body of most mutating commands: workspace, mode, context, then the writer."""
    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode, force)
    return apply_change(out, ws, lambda plan: build(plan, ctx), mode, message, human)


def split_list(values: tuple[str, ...] | list[str]) -> list[str]:
    """Repeatable, comma-separated option values as one list (``--deps a,b --deps c``)."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]
