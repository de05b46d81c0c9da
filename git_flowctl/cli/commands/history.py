"""History as the source of truth: log, stats, recover (docs/history.md)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import get_output, open_workspace
from git_flowctl.cli.output import Output
from git_flowctl.cli.render import styled_state
from git_flowctl.history.replay import Event, GitReader, Progress, replay
from git_flowctl.model.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from git_flowctl.history.recover import Diagnosis
    from git_flowctl.repo.workspace import Workspace

PROGRESS_MIN_COMMITS = 2000  # a bar for histories longer than this, on a terminal only
FOLLOW_INTERVAL = 0.5


def _reader(ws: Workspace) -> GitReader:
    return GitReader(ws.root, ws.common_dir)


@contextmanager
def _progress(out: Output, what: str) -> Iterator[Progress | None]:
    """A rich progress bar on stderr while a long history is read, when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar: Progress | None = None
    task_id = None

    def update(done: int, expected: int) -> None:
        nonlocal bar, task_id
        if expected < PROGRESS_MIN_COMMITS:
            return
        if bar is None:
            bar = Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(),
                           console=Console(file=sys.stderr), transient=True)
            bar.start()
            task_id = bar.add_task(what, total=expected)
        assert task_id is not None
        bar.update(task_id, completed=done)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


# log ---------------------------------------------------------------------------------------------


@click.command("log")
@click.argument("ref", shell_complete=complete.task_ids, metavar="[TASK]", required=False)
@click.option("--epic", shell_complete=complete.epic_ids, metavar="EPIC", help="Every transition of an epic and its tasks.")
@click.option("--follow", is_flag=True,
              help="Keep printing new transitions as commits arrive (Ctrl-C stops).")
@click.option("--rev", metavar="REV", default="HEAD", show_default=True,
              help="Read the history of this revision.")
def log_command(ref: str | None, epic: str | None, follow: bool, rev: str) -> None:
    """Transitions of TASK (or --epic E, or all), oldest first, from history.

    Each line: when, commit, task, from -> to, action, who, and the evidence. A transition
    undone by `git revert` is marked, and the revert is listed too. With --json and --follow,
    one JSON object per line, one per event; --follow also streams the events of the runs of
    this repository as they happen (`"event": "run"`: start, done, fail, timeout, retry,
    breaker, ...).
    """
    from git_flowctl.history.timeline import log_report, select

    out = get_output()
    ws = open_workspace(out)
    git = _reader(ws)
    with _progress(out, "reading history") as progress:
        history = replay(git, rev, progress=progress, save=False)
    report = log_report(history, rev, ref, epic, git)
    history.flush()
    if not follow:
        out.emit(report, lambda console: _render_log(console, report))
        return
    from git_flowctl.coordination.runs import EventTail

    printed: set[tuple[str, str, str]] = set()
    subjects, _, epic_id = select(history, ref, epic, git, rev)
    events = history.events(subjects)
    run_events = EventTail(ws.common_dir)  # runs' events from now on (issue #16)
    _emit_events(out, events, printed)
    head = history.head
    try:
        while True:
            time.sleep(FOLLOW_INTERVAL)
            _emit_run_events(out, run_events.poll(), subjects, epic_id)
            chain = git.first_parents(rev, 1)
            current = chain[0] if chain else None
            if current == head:
                continue
            head = current
            history = replay(git, rev)
            subjects = select(history, ref, epic, git, rev)[0]
            _emit_events(out, history.events(subjects), printed)
    except KeyboardInterrupt:
        return


def _emit_run_events(out: Output, events: list[dict[str, Any]], subjects: list[str] | None,
                     epic_id: str | None) -> None:
    """A run's events (start, done, fail, timeout, retry, breaker, ...) as they happen: all of
    them, or with TASK or --epic those of its tasks."""
    for event in events:
        task = event.get("id")
        if subjects is not None and not (task in subjects or (
                epic_id is not None and isinstance(task, str) and task.startswith(epic_id + "."))):
            continue
        if out.json_mode:
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        else:
            from rich.markup import escape

            out.console.print(f"[dim]{escape(str(event.get('time')))}[/dim] run "
                              f"{escape(str(event.get('run_id'))[-6:])} {escape(str(event.get('kind')))}"
                              f"  {escape(str(event.get('message')))}")
    if events:
        sys.stdout.flush()


def _emit_events(out: Output, events: list[Event], printed: set[tuple[str, str, str]]) -> None:
    fresh = [e for e in events if (e.commit, e.transition_id, e.kind) not in printed]
    for event in fresh:
        printed.add((event.commit, event.transition_id, event.kind))
        if out.json_mode:
            sys.stdout.write(json.dumps(event.as_json(), ensure_ascii=False) + "\n")
        else:
            _render_event(out.console, event.as_json())
    sys.stdout.flush()


def _render_log(console: Console, report: dict[str, Any]) -> None:
    if not report["events"]:
        what = report["id"] or report["epic"] or "this history"
        console.print(f"no transitions for {what} in {report['rev']}", markup=False)
    for event in report["events"]:
        _render_event(console, event)
    if report["shallow"]:
        console.print("[yellow]shallow clone: transitions before its boundary are not shown[/yellow]")


def _render_event(console: Console, event: dict[str, Any]) -> None:
    from rich.markup import escape

    when = event["time"].replace("T", " ")[:16]
    change = f"{styled_state(event['from'] or 'none')} -> {styled_state(event['to'])}"
    if event["event"] == "review":  # a verdict (issue #15): the state does not change
        verdict = str(event["extra"].get("verdict", "")).upper()
        style = "green" if verdict == "SHIP" else "red"
        change = f"{escape(event['extra'].get('kind', ''))} review [{style}]{escape(verdict)}[/{style}]"
        event = {**event, "action": "by", "extra": {k: v for k, v in event["extra"].items()
                                                    if k not in ("kind", "verdict")}}
    line = (f"[dim]{when}[/dim] [yellow]{event['commit'][:7]}[/yellow] {escape(event['id'])} "
            f"{change} [bold]{escape(event['action'])}[/bold] {escape(event['by'])}")
    if event["force"]:
        line += " [red]forced[/red]"
    if event["event"] == "revert":
        line += " [magenta](undoes a transition)[/magenta]"
    if event["reverted_by"]:
        line = f"[strike]{line}[/strike] [magenta]reverted by {event['reverted_by'][:7]}[/magenta]"
    if event["squashed_from"]:
        line += f" [dim](squashed from {event['squashed_from'][:7]})[/dim]"
    console.print(line, highlight=False)
    if event["evidence"]:
        shown = "  ".join(f"{escape(k)}={escape(v)}" for k, v in event["evidence"].items())
        console.print(f"    [dim]evidence:[/dim] {shown}", highlight=False)


# stats -------------------------------------------------------------------------------------------


@click.command("stats")
@click.option("--epic", shell_complete=complete.epic_ids, metavar="EPIC", help="Only this epic's tasks.")
@click.option("--since", metavar="DATE", help="Only events at or after DATE (ISO date or time).")
@click.option("--rev", metavar="REV", default="HEAD", show_default=True,
              help="Read the history of this revision.")
def stats_command(epic: str | None, since: str | None, rev: str) -> None:
    """Lead and cycle time, throughput, work in progress, failures, all from history."""
    from git_flowctl.history.stats import parse_since, stats_report

    out = get_output()
    ws = open_workspace(out)
    since_time = parse_since(since) if since else None
    with _progress(out, "reading history") as progress:
        history = replay(_reader(ws), rev, progress=progress)
    report = stats_report(history, rev=rev, epic=epic, since=since_time)
    out.emit(report, lambda console: _render_stats(console, report))


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _render_stats(console: Console, report: dict[str, Any]) -> None:
    from rich.table import Table

    scope = f"epic {report['epic']}" if report["epic"] else "all tasks"
    if report["since"]:
        scope += f" since {report['since'][:10]}"
    console.print(f"[bold]Flow stats[/bold] ({scope}, {report['rev']}): "
                  f"{report['tasks']['total']} tasks", highlight=False)
    summary = Table(show_edge=False, header_style="bold", pad_edge=False)
    summary.add_column("measure")
    summary.add_column("median", justify="right")
    summary.add_column("p90", justify="right")
    summary.add_column("tasks", justify="right")
    for name, key in (("lead time (created -> done)", "lead_time"),
                      ("cycle time (started -> done)", "cycle_time")):
        item = report[key]
        summary.add_row(name, human_duration(item["median_seconds"]),
                        human_duration(item["p90_seconds"]), str(item["count"]))
    console.print(summary)
    failures = report["failures"]
    console.print(f"failure rate {_percent(failures['failure_rate'])} "
                  f"({failures['failed_attempts']} failed of "
                  f"{failures['failed_attempts'] + failures['completions']} finished attempts), "
                  f"retry rate {_percent(failures['retry_rate'])}", highlight=False)
    if report["weeks"]:
        weekly = Table(show_edge=False, header_style="bold", pad_edge=False,
                       title="per week", title_justify="left")
        weekly.add_column("week")
        weekly.add_column("done", justify="right")
        weekly.add_column("")
        weekly.add_column("started", justify="right")
        weekly.add_column("failed", justify="right")
        weekly.add_column("wip", justify="right")
        peak = max(week["done"] for week in report["weeks"]) or 1
        for week in report["weeks"]:
            bar = "█" * round(20 * week["done"] / peak)
            weekly.add_row(week["week"], str(week["done"]), f"[green]{bar}[/green]",
                           str(week["started"]), str(week["failed"]), str(week["wip"]))
        console.print(weekly)
    evidence = report["evidence"]
    if evidence["records"]:
        parts = [f"{evidence[key]} {key}" for key in ("commits", "tests", "prs", "tokens")
                 if evidence[key]]
        console.print(f"evidence: {evidence['records']} records" +
                      (f" ({', '.join(parts)})" if parts else ""), highlight=False)
    if report["forced"]:
        console.print(f"[red]{len(report['forced'])} forced transition(s)[/red]:")
        for item in report["forced"]:
            console.print(f"  {item['commit'][:7]} {item['id']} {item['from']} -> {item['to']} "
                          f"({item['action']}, {item['by']})", markup=False, highlight=False)
    if report["shallow"]:
        console.print("[yellow]shallow clone: only the transitions after its boundary count[/yellow]")


# recover -----------------------------------------------------------------------------------------


@click.command("recover")
@click.option("--rev", metavar="REV", help="Replay to REV and compare with REV's files.")
@click.option("--apply", "apply_fixes", is_flag=True,
              help="Restore deleted files and set statuses to what history says, in one commit.")
@click.option("-m", "--message", metavar="TEXT", help="Extra text for the commit body.")
@click.option("--actor", metavar="NAME", help="Who acts (default: FLOW_ACTOR, git user.email, ...).")
def recover_command(rev: str | None, apply_fixes: bool, message: str | None,
                    actor: str | None) -> None:
    """Compare the files with what history says; with --apply, repair them.

    Dry run by default: lists each divergence with its evidence (the commit that changed a
    status without a trailer, the commit that deleted a file) and problems found in history.
    """
    from git_flowctl.history.recover import build_recovery, diagnose
    from git_flowctl.repo.writer import Mode, Writer

    out = get_output()
    ws = open_workspace(out)
    if apply_fixes and rev:
        raise UsageError("--apply repairs the current branch; --rev only inspects",
                         hint="drop --rev, or check out REV first")
    if rev is None:
        ws.require_flow_checked_out()  # the files it compares with are the work tree's
    with _progress(out, "replaying history") as progress:
        diagnosis = diagnose(_reader(ws), rev, progress=progress, git_dir=ws.git_dir)
    report = diagnosis.as_json()
    report.update(applied=False, commit=None, restored=[], updated=[], completed=[])
    if apply_fixes and diagnosis.fixable:
        # The writer first completes a transition a crash cut short (its journal), then
        # records the rest in one commit.
        outcome = Writer(ws, message=message, load=lambda source: source).apply(
            build_recovery(diagnosis, ws.actor(actor)), Mode.COMMIT)
        report.update(applied=True, commit=outcome.commit,
                      restored=outcome.change.result.get("restored", []),
                      updated=outcome.change.result.get("updated", []),
                      completed=[d.path for d in diagnosis.divergences if d.kind == "interrupted"])
    out.emit(report, _recover_renderer(diagnosis, report))


def _recover_renderer(diagnosis: Diagnosis, report: dict[str, Any]) -> Callable[[Console], None]:
    def render(console: Console) -> None:
        from rich.markup import escape
        from rich.table import Table

        if report["note"]:
            console.print(f"[yellow]{escape(report['note'])}[/yellow]")
        if not report["divergences"] and not report["problems"]:
            console.print(f"[green]✓[/green] the {escape(report['compared_with'])} agrees with "
                          f"history ({report['checked']} checked, {report['commits']} commits)")
            return
        if report["divergences"]:
            table = Table(show_edge=False, header_style="bold", pad_edge=False,
                          title=f"{escape(report['compared_with'])} vs history", title_justify="left")
            for column in ("kind", "task/epic", "file", "history", "evidence", "fix"):
                table.add_column(column)
            for item in report["divergences"]:
                table.add_row(item["kind"], escape(item["id"] or item["path"]),
                              styled_state(item["file_status"] or "missing"),
                              styled_state(item["history_status"] or
                                           ("none" if item["id"] else "-")),
                              escape(item["evidence"]), escape(item["fix"] or "left alone"))
            console.print(table)
        if report["problems"]:
            console.print("[bold]in history[/bold]")
            for problem in report["problems"]:
                console.print(f"  {problem['kind']}: {escape(problem['message'])}", highlight=False)
        if report["applied"]:
            done = len(report["restored"]) + len(report["updated"]) + len(report["completed"])
            where = (f"in {report['commit'][:7]}" if report["commit"]
                     else "(HEAD already had them: files restored, no commit needed)")
            console.print(f"[green]✓[/green] recovered {done} file(s) {where}")
        elif diagnosis.fixable:
            console.print(f"dry run: `git flow-task recover --apply` fixes "
                          f"{len(diagnosis.fixable)} of these in one commit")

    return render

