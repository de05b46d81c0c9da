"""Work on tasks: start, done, block, unblock, fail, retry, skip, reopen, release."""

from __future__ import annotations

import click

from git_flowctl import ops
from git_flowctl.cli.common import (
    apply_change,
    context_for,
    force_option,
    get_output,
    mode_of,
    mutating,
    open_workspace,
    read_text,
)
from git_flowctl.plan import Plan
from git_flowctl.writer import Change


@click.command("start")
@click.argument("task")
@force_option
@mutating
def start_command(task: str, force: bool, no_commit: bool, dry_run: bool, message: str | None,
                  actor: str | None) -> None:
    """Start TASK: todo or up_for_retry -> in_progress.

    Refused while a dependency is not satisfied (each one is named). The task's assignee becomes
    the actor.
    """
    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode, force)
    apply_change(out, ws, lambda plan: ops.start(plan, task, ctx), mode, message)


@click.command("done")
@click.argument("task")
@click.option("--summary", metavar="TEXT", help="What was done (text, @file or -).")
@click.option("--summary-file", type=click.Path(dir_okay=False), help="Read the summary from a file.")
@click.option("--evidence", "evidence_values", multiple=True, metavar="JSON|KEY=VALUE",
              help='Evidence: a JSON object or key=value (repeatable), e.g. commits=abc123 tests="pytest -q".')
@click.option("--evidence-json", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read the evidence JSON object from a file (or - for stdin).")
@force_option
@mutating
def done_command(task: str, summary: str | None, summary_file: str | None,
                 evidence_values: tuple[str, ...], evidence_json: str | None, force: bool,
                 no_commit: bool, dry_run: bool, message: str | None, actor: str | None) -> None:
    """Finish TASK: in_progress -> done.

    Fills the task's `## Done summary` and `## Evidence` sections and records a `Flow-Evidence`
    trailer. Refused while a dependency is not satisfied.
    """
    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode, force)
    summary_text = read_text(summary, "the summary")
    if summary_file:
        summary_text = read_text(f"@{summary_file}", "the summary")
    values = list(evidence_values)
    if evidence_json:
        text = read_text("-" if evidence_json == "-" else f"@{evidence_json}", "the evidence")
        values.append(text or "")
    evidence = ops.parse_evidence(values)
    apply_change(out, ws, lambda plan: ops.done(plan, task, ctx, summary=summary_text,
                                                evidence=evidence), mode, message)


def _simple_command(name: str, doc: str, builder_name: str, reason: str | None = None) -> click.Command:
    def callback(task: str, force: bool, no_commit: bool, dry_run: bool, message: str | None,
                 actor: str | None, **kwargs: object) -> None:
        out = get_output()
        ws = open_workspace(out)
        mode = mode_of(no_commit, dry_run)
        ctx = context_for(ws, actor, mode, force)
        builder = getattr(ops, builder_name)
        extra = {key: read_text(value, key) if isinstance(value, str) else value
                 for key, value in kwargs.items()}

        def build(plan: Plan) -> Change:
            result: Change = builder(plan, task, ctx, **extra)
            return result

        apply_change(out, ws, build, mode, message)

    callback.__doc__ = doc
    command = click.argument("task")(callback)
    if reason == "required":
        command = click.option("--reason", required=True, metavar="TEXT",
                               help="Why (text, @file or -).")(command)
    elif reason == "optional":
        command = click.option("--reason", metavar="TEXT", help="Why (text, @file or -).")(command)
    command = force_option(mutating(command))
    return click.command(name)(command)


block_command = _simple_command(
    "block", "Block TASK (todo or in_progress -> blocked) with a reason.", "block", "required")
unblock_command = _simple_command("unblock", "Unblock TASK: blocked -> todo.", "unblock")
fail_command = _simple_command(
    "fail", "Record a failed attempt of TASK: in_progress -> up_for_retry while attempts < "
    "max_retries, else failed.", "fail", "optional")
retry_command = _simple_command("retry", "Retry TASK: failed -> todo, attempts reset.", "retry")
skip_command = _simple_command(
    "skip", "Skip TASK (todo, blocked, up_for_retry or failed -> skipped) with a reason.", "skip",
    "required")
release_command = _simple_command(
    "release", "Release TASK: in_progress -> todo, the assignee cleared.", "release")


@click.command("reopen")
@click.argument("task")
@click.option("--cascade", is_flag=True, help="Also reopen the done tasks that depend on it.")
@force_option
@mutating
def reopen_command(task: str, cascade: bool, force: bool, no_commit: bool, dry_run: bool,
                   message: str | None, actor: str | None) -> None:
    """Reopen TASK: done or skipped -> todo."""
    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode, force)
    apply_change(out, ws, lambda plan: ops.reopen(plan, task, ctx, cascade=cascade), mode, message)
