"""`git flow-task run [OPTIONS] -- COMMAND...` and `run stop|pause|resume` (scheduler.py)."""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import get_output, open_workspace
from git_flowctl.cli.output import Output
from git_flowctl.model.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

    from git_flowctl.coordination.scheduler import Event, Scheduler


class _RunCommand(click.Command):
    """Remembers whether `--` was given, so `run stop` and `run -- stop` differ."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["flow_run_dashdash"] = "--" in args
        return super().parse_args(ctx, args)


@click.command("run", cls=_RunCommand, context_settings={"allow_interspersed_args": False})
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--epic", shell_complete=complete.epic_ids, metavar="EPIC", help="Only this epic's tasks.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many tasks run at once.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Kill a task's command (its process group and any process carrying its FLOW_* "
                   "variables) after this long: a failure.")
@click.option("--max-tasks", type=click.IntRange(min=1), metavar="K",
              help="Start at most K task runs (retries count), then finish what runs.")
@click.option("--max-failures", type=click.IntRange(min=1), metavar="K",
              help="Circuit breaker: after K failures in a row, start nothing new.")
@click.option("--keep-worktrees", is_flag=True, help="Keep each task's worktree (branches always stay).")
@click.option("--dry-run", is_flag=True, help="Print the waves the run would go through; run nothing.")
@click.option("--land", is_flag=True,
              help="Land each task on the current branch as soon as its command succeeds "
                   "(`git flow-task land`: done is recorded with its code; dependents start "
                   "from it).")
@click.option("--remote", metavar="NAME", help="Claim through this git remote (default: claims.remote).")
@click.option("--actor", metavar="NAME",
              help="Who acts (default: FLOW_ACTOR, git user.email, user.name, $USER).")
def run_command(command: tuple[str, ...], epic: str | None, jobs: int, timeout: float | None,
                max_tasks: int | None, max_failures: int | None, keep_worktrees: bool,
                dry_run: bool, remote: str | None, actor: str | None, land: bool) -> None:
    """Run COMMAND once for each ready task, at most --jobs at a time.

    Each task is claimed and started on the current branch, and COMMAND runs in a worktree on
    branch flow/<task-id> with FLOW_TASK_ID, FLOW_TASK_FILE and FLOW_ACTOR set. Exit 0 records
    done (evidence: exit code, duration, log digest, the branch's commits); anything else records
    fail (retried while retries remain). Dependents start as soon as their dependencies are done;
    tasks whose `files` overlap never run at once. With --land each task's branch is merged into
    the current branch as soon as its command succeeds, with its done in the same commit (the
    guard runs on the merged result); without it, the run ends by printing the `land` command
    for what it finished.

    A run registers itself while it lives: `run status` (from any terminal) lists the runs of
    this repository, what each runs now, and the dead ones (their process is gone: the next
    run on the same branch resumes their tasks). Expired leases of others are recorded as
    failed attempts; an up_for_retry task is waited for until its retry backoff has passed.

    \b
    git flow-task run --jobs 2 --timeout 600 -- ./agent.sh
    git flow-task run status [RUN_ID]                  (from another terminal)
    git flow-task run stop | pause | resume [RUN_ID]   (RUN_ID when several are active)
    """
    out = get_output()
    ctx = click.get_current_context()
    ws = open_workspace(out)
    if not ctx.meta.get("flow_run_dashdash") and command:
        from git_flowctl.coordination.scheduler import CONTROL_WORDS

        if command[0] in CONTROL_WORDS and len(command) <= 2:
            _control(out, ws, command[0], command[1] if len(command) == 2 else None)
            return
        if command[0] == "status" and len(command) <= 2:
            _status(out, ws, command[1] if len(command) == 2 else None)
            return
        raise UsageError(f"put the command after `--`: git flow-task run -- {' '.join(command)}",
                         hint="`run status` shows the runs; `run stop`, `run pause` and "
                              "`run resume` control one")
    if not command:
        raise UsageError("run needs a command after `--`", hint="git flow-task run -- make test")
    from git_flowctl.coordination.scheduler import RunOptions, Scheduler

    options = RunOptions(list(command), ws.actor(actor), epic=epic, jobs=jobs, timeout=timeout,
                         max_tasks=max_tasks, max_failures=max_failures,
                         keep_worktrees=keep_worktrees, remote=remote, land=land)
    if dry_run:
        scheduler = Scheduler(ws, options)
        waves = scheduler.dry_run()
        out.emit({"dry_run": True, "command": list(command), "jobs": jobs, **waves},
                 lambda console: _render_waves(console, waves))
        return
    progress = _Progress(out)
    scheduler = Scheduler(ws, options, progress.event)
    progress.scheduler = scheduler
    summary = _run_with_signals(scheduler, progress)
    if summary["interrupted"]:
        code = 130
    elif summary["failed"] or (summary["stopped"] and "max-tasks" not in summary["stopped"]):
        code = 1
    else:
        code = 0
    if code:
        why = summary["stopped"] or f"{len(summary['failed'])} task(s) failed"
        if out.json_mode:
            out.fail(summary, f"run {summary['run_id']}: {why}", exit_code=code)
        else:
            _render_summary(out.console, summary)
            out.exit_code = code
        return
    out.emit(summary, lambda console: _render_summary(console, summary))


def _run_with_signals(scheduler: Scheduler, progress: _Progress) -> dict[str, Any]:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        name = "interrupted (Ctrl-C)" if signum == signal.SIGINT else "terminated"
        scheduler.request_stop(name, abort=True, interrupted=True)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with progress:
            return scheduler.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Progress:
    """Live rich progress on a terminal; one line per event otherwise (stderr under --json)."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.scheduler: Scheduler | None = None
        self.live: Live | None = None
        self.counts: dict[str, int] = {"done": 0, "fail": 0}
        self.tty = not out.json_mode and sys.stdout.isatty()

    def __enter__(self) -> _Progress:
        if self.tty:
            from rich.live import Live

            self.live = Live(self._table(), console=self.out.console, refresh_per_second=4,
                             get_renderable=self._table, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def event(self, event: Event) -> None:
        if event.kind in self.counts:
            self.counts[event.kind] += 1
        if event.kind == "end":
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
        line = f"{stamp} {event.kind:<8} {event.message}"
        if self.out.json_mode:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        elif self.live is not None:
            from rich.markup import escape

            self.live.console.print(f"[dim]{stamp}[/dim] {_style(event.kind)} {escape(event.message)}")
        else:
            self.out.console.print(line, markup=False, highlight=False)

    def _table(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        scheduler = self.scheduler
        if scheduler is None:
            return Text("")
        state = "paused" if scheduler.paused else "stopping" if scheduler.stopping else "running"
        line = Text(f"{state}: {len(scheduler.running)} running, {self.counts['done']} done, "
                    f"{self.counts['fail']} failed", style="dim")
        if not scheduler.running:
            return line
        table = Table(show_edge=False, header_style="bold", pad_edge=False, box=None)
        for column, justify in (("task", "left"), ("attempt", "right"), ("elapsed", "right"),
                                ("branch", "left")):
            table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        now = time.monotonic()
        for attempt in scheduler.running.values():
            table.add_row(attempt.task, str(attempt.number), f"{now - attempt.started:.0f}s",
                          attempt.branch)
        return Group(table, line)


def _style(kind: str) -> str:
    styles = {"done": "green", "fail": "red", "timeout": "red", "breaker": "bold red",
              "start": "cyan", "lost": "red", "skip": "yellow", "pause": "yellow",
              "stop": "yellow", "released": "yellow"}
    style = styles.get(kind, "white")
    return f"[{style}]{kind:<8}[/{style}]"


def _render_waves(console: Console, waves: dict[str, Any]) -> None:
    from rich.markup import escape

    if not waves["waves"]:
        console.print("nothing to run")
    for number, wave in enumerate(waves["waves"], start=1):
        console.print(f"wave {number}: " + ", ".join(escape(task) for task in wave))
    for task, why in waves["excluded"].items():
        console.print(f"[dim]not run: {escape(task)} ({escape(why)})[/dim]")


def _render_summary(console: Console, summary: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from git_flowctl.cli.render import styled_state
    from git_flowctl.coordination.scheduler import _summary_line

    if summary["tasks"]:
        table = Table(show_edge=False, header_style="bold", pad_edge=False)
        for column in ("task", "status", "attempts", "last exit", "commits", "branch"):
            table.add_column(column, no_wrap=column == "task")
        for task_id, info in summary["tasks"].items():
            last = info["attempts"][-1]
            exit_text = "timeout" if last["timed_out"] else str(last["exit_code"])
            table.add_row(escape(task_id), styled_state(info["status"]), str(len(info["attempts"])),
                          exit_text, str(len(last["commits"])), escape(last["branch"]))
        console.print(table)
    if summary["upstream_failed"]:
        console.print("upstream_failed (not run): " + ", ".join(summary["upstream_failed"]))
    for task, why in summary["not_started"].items():
        if task not in summary["upstream_failed"]:
            console.print(f"[dim]not started: {escape(task)} ({escape(str(why))})[/dim]")
    console.print(escape(_summary_line(summary)))
    if summary.get("land_command"):
        console.print(f"their code is on flow/ branches; land it: {escape(summary['land_command'])}")


def _status(out: Output, ws: Any, run_id: str | None) -> None:
    from git_flowctl.coordination import runs

    payload = runs.status_report(ws.common_dir, run_id)
    out.emit(payload, lambda console: _render_status(console, payload["runs"]))


def _render_status(console: Console, listed: list[dict[str, Any]]) -> None:
    from rich.markup import escape

    from git_flowctl.coordination.claims import short_branch

    if not listed:
        console.print("no run is registered in this repository")
    for record in listed:
        state = record["state"]
        style = {"dead": "red", "paused": "yellow", "stopping": "yellow"}.get(state, "green")
        console.print(f"[{style}]{state}[/{style}] run {escape(record['run_id'])} on "
                      f"{escape(short_branch(record.get('branch') or ''))} by "
                      f"{escape(str(record.get('actor')))} since {escape(str(record.get('started_at')))}"
                      f" [dim](pid {record.get('pid')} on {escape(str(record.get('host')))}, "
                      f"{record.get('jobs')} at a time)[/dim]")
        for entry in record.get("running") or []:
            console.print(f"  {escape(str(entry['task']))}  attempt {entry['attempt']}  since "
                          f"{escape(str(entry['started_at']))}")
        if record.get("waiting_for_retry"):
            console.print(f"  [dim]waiting for a retry at {escape(record['waiting_for_retry'])}[/dim]")
        if state == "dead":
            console.print("  [dim]its process is gone: the next `git flow-task run` on its branch "
                          "resumes its tasks[/dim]")


def _control(out: Output, ws: Any, word: str, run_id: str | None) -> None:
    from git_flowctl.coordination.scheduler import send_control

    runs = send_control(ws, word, run_id)
    ids = ", ".join(run["run_id"] for run in runs)
    past = {"stop": "stopping", "pause": "paused", "resume": "resumed"}[word]
    if runs and runs[0].get("state") == "forgotten":
        past = "forgot the dead"
    out.emit({"action": word, "runs": runs, "message": f"{past}: run {ids}"})
