"""Work on tasks: start, done, block, unblock, fail, retry, skip, reopen, release.

start, done, release, fail and block also take or give back the task's claim (claims.py), and
reopen drops a finished record, so the claim refs and the branch's commits agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from git_flowctl.changes import ops
from git_flowctl.changes.ops import Context
from git_flowctl.cli import complete
from git_flowctl.cli.common import (
    apply_change,
    context_for,
    emit_outcome,
    force_option,
    get_output,
    mode_of,
    mutating,
    open_workspace,
    read_text,
)
from git_flowctl.cli.output import Output
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.workspace import Workspace
from git_flowctl.repo.writer import Builder, Change, Mode, Writer

if TYPE_CHECKING:
    from git_flowctl.model.trailers import Evidence

remote_option = click.option(
    "--remote", metavar="NAME", help="Push the claim to this git remote (default: claims.remote).")


def claimed_transition(out: Output, ws: Workspace, ctx: Context, mode: Mode, message: str | None,
                       task: str, action: str, build: Builder, *, remote: str | None,
                       reclaim: bool = False) -> None:
    """Record a transition together with its claim step (coordination.work), then print."""
    from git_flowctl.coordination import work

    outcome = work.claimed_transition(ws, ctx, mode, message, task, action, build, remote=remote,
                                      reclaim=reclaim)
    emit_outcome(out, outcome)
    claim = outcome.change.result.get("claim")
    if claim and not out.json_mode:
        out.console.print(f"  [dim]{_claim_line(claim)}[/dim]", highlight=False)


def _claim_line(claim: dict[str, Any]) -> str:
    from rich.markup import escape

    if claim.get("state") == "done":
        where = f"at {claim['commit'][:12]}" if claim.get("commit") else "(staged)"
        text = f"claim: finished record {where}, kept until it reaches the default branch"
    elif "released" in claim:
        text = "claim: given back" if claim["released"] else "claim: there was none"
    else:
        text = f"claim: lease until {claim['lease_until']}"
        if claim.get("scope") == "remote":
            text += f", pushed to {claim['remote']}"
    if claim.get("note"):
        text += f"; {claim['note']}"
    return escape(text)


@click.command("start")
@click.argument("task", shell_complete=complete.task_ids)
@click.option("--reclaim", is_flag=True,
              help="Take over a claim whose lease expired, or one you already hold.")
@remote_option
@force_option
@mutating
def start_command(task: str, reclaim: bool, remote: str | None, force: bool, no_commit: bool,
                  dry_run: bool, message: str | None, actor: str | None) -> None:
    """Start TASK: todo or up_for_retry -> in_progress, and claim it.

    Refused while a dependency is not satisfied (each one is named), and with exit code 3 while
    someone else holds the claim or the task is finished on another branch. The task's assignee
    becomes the actor.
    """
    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode, force)
    claimed_transition(out, ws, ctx, mode, message, task, "start",
                       lambda plan: ops.start(plan, task, ctx), remote=remote, reclaim=reclaim)


@click.command("done")
@click.argument("task", shell_complete=complete.task_ids)
@click.option("--summary", metavar="TEXT", help="What was done (text, @file or -).")
@click.option("--summary-file", type=click.Path(dir_okay=False), help="Read the summary from a file.")
@click.option("--evidence", "evidence_values", multiple=True, metavar="JSON|KEY=VALUE",
              help='Evidence: a JSON object or key=value (repeatable), e.g. commits=abc123 tests="pytest -q".')
@click.option("--evidence-json", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read the evidence JSON object from a file (or - for stdin).")
@click.option("--verify", is_flag=True,
              help="Run the guard first; refuse unless it passes, and record its results as evidence.")
@remote_option
@force_option
@mutating
def done_command(task: str, summary: str | None, summary_file: str | None,
                 evidence_values: tuple[str, ...], evidence_json: str | None, verify: bool,
                 remote: str | None, force: bool, no_commit: bool, dry_run: bool,
                 message: str | None, actor: str | None) -> None:
    """Finish TASK: in_progress -> done.

    Fills the task's `## Done summary` and `## Evidence` sections and records a `Flow-Evidence`
    trailer. Refused while a dependency is not satisfied, and with exit code 3 when the claim is
    no longer the actor's. The claim becomes a record that the task is finished on this branch.
    With --verify the guard runs first (`git flow-task guard`): a failing check, or every check
    skipped, refuses with nothing written; otherwise each check's result, duration and output
    digest go into the commit as `Flow-Evidence`. `require_verify: true` makes --verify
    necessary.
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
    verification = _run_guard_for(out, ws, task, ctx, mode, evidence) if verify else None
    claimed_transition(out, ws, ctx, mode, message, task, "done",
                       lambda plan: ops.done(plan, task, ctx, summary=summary_text,
                                             evidence=evidence, verification=verification),
                       remote=remote)


def _run_guard_for(out: Output, ws: Workspace, task: str, ctx: Context, mode: Mode,
                   evidence: dict[str, Any]) -> list[Evidence]:
    """``done --verify``: the guard's evidence lines, or its refusal (exit 1, nothing written),
    with the report printed for people."""
    from git_flowctl.gates.verify import guard_before_done

    checked = guard_before_done(ws, task, ctx, from_head=mode is Mode.COMMIT, evidence=evidence)
    if not out.json_mode:
        from git_flowctl.cli.commands.gates import print_report

        print_report(out.console, checked.report)
    refusal = checked.refusal()
    if refusal is not None:
        raise refusal
    return checked.evidence()


def _simple_command(name: str, doc: str, builder_name: str, reason: str | None = None,
                    *, gives_claim_back: bool = False) -> click.Command:
    def callback(task: str, force: bool, no_commit: bool, dry_run: bool, message: str | None,
                 actor: str | None, remote: str | None = None, **kwargs: object) -> None:
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

        if gives_claim_back:
            claimed_transition(out, ws, ctx, mode, message, task, name, build, remote=remote)
        else:
            apply_change(out, ws, build, mode, message)

    callback.__doc__ = doc
    command = click.argument("task", shell_complete=complete.task_ids)(callback)
    if gives_claim_back:
        command = remote_option(command)
    if reason == "required":
        command = click.option("--reason", required=True, metavar="TEXT",
                               help="Why (text, @file or -).")(command)
    elif reason == "optional":
        command = click.option("--reason", metavar="TEXT", help="Why (text, @file or -).")(command)
    command = force_option(mutating(command))
    return click.command(name)(command)


block_command = _simple_command(
    "block", "Block TASK (todo or in_progress -> blocked) with a reason; its claim is given back.",
    "block", "required", gives_claim_back=True)
unblock_command = _simple_command("unblock", "Unblock TASK: blocked -> todo.", "unblock")
fail_command = _simple_command(
    "fail", "Record a failed attempt of TASK: in_progress -> up_for_retry while attempts < "
    "max_retries, else failed; its claim is given back.", "fail", "optional", gives_claim_back=True)
retry_command = _simple_command("retry", "Retry TASK: failed -> todo, attempts reset.", "retry")
skip_command = _simple_command(
    "skip", "Skip TASK (todo, blocked, up_for_retry or failed -> skipped) with a reason.", "skip",
    "required")
release_command = _simple_command(
    "release", "Release TASK: in_progress -> todo, the assignee cleared, the claim given back.",
    "release", gives_claim_back=True)


@click.command("reopen")
@click.argument("task", shell_complete=complete.task_ids)
@click.option("--cascade", is_flag=True, help="Also reopen the done tasks that depend on it.")
@force_option
@mutating
def reopen_command(task: str, cascade: bool, force: bool, no_commit: bool, dry_run: bool,
                   message: str | None, actor: str | None) -> None:
    """Reopen TASK: done or skipped -> todo (its finished claim record is dropped)."""
    out = get_output()
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode, force)
    outcome = Writer(ws, message=message).apply(
        lambda plan: ops.reopen(plan, task, ctx, cascade=cascade), mode)
    if mode is not Mode.DRY_RUN:
        from git_flowctl.coordination.claims import Claims

        claims = Claims.open(ws)
        for task_id in outcome.change.result.get("reopened", []):
            record = claims.get(task_id)
            if record is not None and record.is_finished:
                claims.drop(task_id, record, ctx.actor)
    emit_outcome(out, outcome)
