"""board: the plan at a glance; --watch redraws it when a ref moves."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import get_output, open_workspace, rev_option
from git_flowctl.model.errors import FlowError, UsageError
from git_flowctl.views.text import plural as _plural

if TYPE_CHECKING:
    from rich.console import RenderableType

    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.views.board import Board, Card


@click.command("board")
@click.option("--epic", "epic_ref", shell_complete=complete.epic_ids, metavar="EPIC", help="Only this epic.")
@click.option("--watch", is_flag=True, help="Redraw whenever a ref moves or .flow/ changes; Ctrl-C stops.")
@click.option("--interval", type=float, default=0.25, show_default=True, metavar="SECONDS",
              help="How often --watch checks for changes (a check is a few stats; a redraw "
                   "reads only the files that changed).")
@click.option("--plain", is_flag=True, help="Plain text even on a terminal.")
@rev_option
def board_command(epic_ref: str | None, watch: bool, interval: float, plain: bool,
                  rev: str | None) -> None:
    """The plan at a glance: a column per state, epic progress, the ready queue, the critical
    path and the latest transitions.

    On a terminal it is drawn with colour and bars; otherwise (or with --plain) it is a plain
    snapshot that lists every task once, grouped by state.
    """
    out = get_output()
    ws = open_workspace(out)
    if interval <= 0:
        raise UsageError("--interval must be more than 0 seconds")
    rich = not plain and not out.json_mode and sys.stdout.isatty()
    if not watch:
        board = snapshot(ws, epic_ref, rev)
        if out.json_mode:
            out.emit(board.as_dict())
        elif rich:
            out.console.print(render_rich(board))
        else:
            sys.stdout.write(render_plain(board))
        if rev is None and (out.json_mode or plain):
            _keep(ws, board, epic_ref, out.json_mode)
        return
    try:
        _watch(ws, epic_ref, rev, interval, rich=rich, json_mode=out.json_mode)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a watch ends: not an error


def _keep(ws: Workspace, board: Board, epic_ref: str | None, json_mode: bool) -> None:
    """Keep the board printed for the lean path to print again while nothing it shows has
    changed (views/lean.py: the plan's snapshot, HEAD, the actor, the claims)."""
    from git_flowctl.views.jsonout import dumps
    from git_flowctl.views.lean import board_inputs, landing_inputs, remember_answer

    if board.inputs is None:
        return
    generation, head, actor, held = board.inputs
    landing = landing_inputs(str(ws.root))
    if landing is None:
        return
    words = ["board", *(["--epic", epic_ref] if epic_ref else []), *([] if json_mode else ["--plain"])]
    text = dumps({"success": True, **board.as_dict()}) + "\n" if json_mode else render_plain(board)
    remember_answer(str(ws.common_dir), str(ws.root), generation, words, text, 0,
                    board_inputs(head, actor, held) + landing)


def snapshot(ws: Workspace, epic_ref: str | None, rev: str | None = None) -> Board:
    from git_flowctl.views import board as boards

    plan = ws.load_plan(rev)
    plan.require_initialized()
    epic_id = plan.resolve_epic(epic_ref) if epic_ref else None
    try:
        from git_flowctl.views.graphviews import critical_path

        path = [row["id"] for row in critical_path(plan, epic_id)["path"]]
    except FlowError:
        path = []  # a dependency cycle has no critical path; `validate` names the cycle
    from git_flowctl.coordination.availability import holdbacks
    from git_flowctl.coordination.claims import Claims
    from git_flowctl.coordination.landing import landed_tasks

    start = boards.tip(ws, rev)
    events = boards.latest_transitions(ws, plan, start, epic_id=epic_id)
    actor = ws.actor()
    claims = Claims.open(ws)
    listed = claims.all()
    held = claims.held_map(actor, listed)
    kept = holdbacks(ws, plan, actor, listed, epic_id=epic_id, rev=rev)
    landing = landed_tasks(ws, plan, rev)
    board = boards.build(plan, epic_id=epic_id, actor=actor, critical_path=path, events=events,
                         head=start[:7] if start else None, held=held, holdbacks=kept,
                         landed=landing.landed if landing.default_branch is not None else None)
    generation = plan.catalog.generation if plan.catalog is not None else None
    if start is not None and not kept.exclude():
        # Kept for the lean path only when nothing is held back: then the board depends on
        # nothing but the plan, HEAD, the actor, the claims and where work landed (retry
        # backoffs run on time).
        board.inputs = (generation, start, actor, dict(held))
    return board


def _watch(ws: Workspace, epic_ref: str | None, rev: str | None, interval: float, *,
           rich: bool, json_mode: bool) -> None:
    from git_flowctl.views.board import watch_signature

    last: tuple[object, ...] | None = None
    if rich:
        from rich.live import Live

        from git_flowctl.cli.output import make_console

        console = make_console(sys.stdout)
        with Live(console=console, auto_refresh=False, transient=False) as live:
            while True:
                signature = watch_signature(ws, rev)
                if signature != last:
                    last = signature
                    live.update(render_rich(snapshot(ws, epic_ref, rev)), refresh=True)
                time.sleep(interval)
    while True:
        signature = watch_signature(ws, rev)
        if signature != last:
            last = signature
            board = snapshot(ws, epic_ref, rev)
            if json_mode:
                sys.stdout.write(json.dumps({"success": True, **board.as_dict()},
                                            ensure_ascii=False) + "\n")
            else:
                sys.stdout.write(render_plain(board) + "\n")
            sys.stdout.flush()
        time.sleep(interval)


# Plain text -------------------------------------------------------------------------------------


def render_plain(board: Board) -> str:
    """Every task once, grouped by state; other sections name tasks by their short form."""
    tasks = sum(len(cards) for cards in board.columns.values())
    where = board.source + (f" at {board.head}" if board.head else "")
    scope = f"epic {board.epic}" if board.epic else _plural(len(board.epics), "epic")
    lines = [f"Board: {_plural(tasks, 'task')} in {scope} ({where})", ""]
    if board.epics:
        lines.append("Epics")
        width = max(len(epic.id) for epic in board.epics)
        for epic in board.epics:
            waits = f"  (waits for {', '.join(epic.waits_for)})" if epic.waits_for else ""
            lines.append(f"  {epic.id:<{width}}  {_bar(epic.finished, epic.total)} "
                         f"{epic.finished}/{epic.total}  {epic.status}  {epic.title}{waits}")
        lines.append("")
    for name in board.shown_columns():
        cards = board.columns.get(name, [])
        label = f"{name} ({len(cards)})"
        if name == "ready" and board.ready:
            label += ": the queue, in the order `next` takes it"
        lines.append(label)
        queued = [card for card in cards if card.id in board.ready]
        for card in cards:
            marker = "*" if card.critical else " "
            queue = f"{queued.index(card) + 1}. " if card in queued else ""
            lines.append(f"  {marker} {queue}{card.id}  {card.title}{_card_note(card)}")
    lines.append("")
    if board.critical_path:
        shorts = _shorts(board)
        chain = " -> ".join(shorts.get(task_id, task_id) for task_id in board.critical_path)
        lines.append(f"Critical path ({_plural(len(board.critical_path), 'task')}, marked *): "
                     f"{chain}")
    else:
        lines.append("Critical path: nothing left to do")
    if board.events:
        lines += ["", "Latest transitions"]
        for event in board.events:
            lines.append(f"  {event.time}  {event.commit}  {event.short}  "
                         f"{event.source or 'none'} -> {event.target}  {event.action} by {event.by}")
    return "\n".join(lines) + "\n"


def _card_note(card: Card) -> str:
    if card.landed is not None:
        return "  landed" if card.landed else "  not landed"
    if card.held_by:
        return f"  (claimed by {card.held_by})"
    if card.state == "in_progress" and card.assignee:
        return f"  @{card.assignee}"
    if card.state == "blocked" and card.blocked_reason:
        return f"  ({card.blocked_reason})"
    if card.waits_for:
        retry = f"{card.retry}, " if card.retry else ""
        return f"  ({retry}waits for {', '.join(_short(task_id) for task_id in card.waits_for)})"
    if card.retry:
        return f"  ({card.retry})"
    if card.priority is not None and card.state == "ready":
        return f"  p{card.priority}"
    return ""


def _short(task_id: str) -> str:
    from git_flowctl.model import ids

    parsed = ids.parse_id(task_id)
    if parsed is None or parsed.task_number is None:
        return task_id
    return f"{parsed.prefix}-{parsed.epic_number}.{parsed.task_number}"


def _shorts(board: Board) -> dict[str, str]:
    return {card.id: card.short for cards in board.columns.values() for card in cards}


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else 0
    return "[" + "#" * filled + "-" * (width - filled) + "]"


# rich ---------------------------------------------------------------------------------------------


def render_rich(board: Board) -> RenderableType:
    from rich.console import Group
    from rich.markup import escape
    from rich.panel import Panel
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    from git_flowctl.cli.render import STATE_STYLES, styled_state

    tasks = sum(len(cards) for cards in board.columns.values())
    where = escape(board.source + (f" at {board.head}" if board.head else ""))
    header = Text.from_markup(f"[bold]git flow-task board[/bold]  {_plural(tasks, 'task')} · "
                              f"{escape(board.epic or _plural(len(board.epics), 'epic'))} · {where}")
    parts: list[RenderableType] = [header]

    if board.epics:
        epics = Table(show_edge=False, show_header=False, pad_edge=False, box=None)
        for column in ("epic", "bar", "count", "title"):
            epics.add_column(column, no_wrap=column != "title")
        for epic in board.epics:
            waits = f" [dim](waits for {escape(', '.join(epic.waits_for))})[/dim]" if epic.waits_for else ""
            epics.add_row(f"[bold]{escape(epic.id)}[/bold]",
                          ProgressBar(total=max(epic.total, 1), completed=epic.finished, width=24),
                          f"{epic.finished}/{epic.total}", escape(epic.title) + waits)
        parts.append(Panel(epics, title="epics", title_align="left"))

    columns = Table(expand=True, show_lines=False, header_style="bold")
    shown = board.shown_columns()
    for name in shown:
        style = STATE_STYLES.get(name, "white")
        columns.add_column(f"[{style}]{name}[/{style}] {len(board.columns.get(name, []))}",
                           overflow="fold", ratio=1)
    cells = []
    for name in shown:
        lines = []
        for card in board.columns.get(name, []):
            mark = "[bold red]◆[/bold red] " if card.critical else ""
            lines.append(f"{mark}[bold]{escape(card.short)}[/bold] {escape(card.title)}"
                         f"[dim]{escape(_card_note(card))}[/dim]")
        cells.append("\n".join(lines))
    columns.add_row(*cells)
    parts.append(columns)

    side = Table.grid(expand=True, padding=(0, 2))
    side.add_column(ratio=1)
    side.add_column(ratio=1)
    shorts = _shorts(board)
    queue = "\n".join(f"{n}. [bold]{escape(shorts.get(t, t))}[/bold]"
                      for n, t in enumerate(board.ready[:10], start=1)) or "[dim]nothing ready[/dim]"
    path = (" → ".join(f"[bold]{escape(shorts.get(t, t))}[/bold]" for t in board.critical_path)
            if board.critical_path else "[dim]nothing left to do[/dim]")
    side.add_row(Panel(queue, title="ready queue", title_align="left"),
                 Panel(path, title=f"critical path ◆ {len(board.critical_path)}",
                       title_align="left"))
    parts.append(side)

    if board.events:
        events = Table(show_edge=False, header_style="bold", pad_edge=False, box=None, expand=True)
        events.add_column("when (UTC)", no_wrap=True, min_width=16)
        events.add_column("commit", no_wrap=True, min_width=7)
        events.add_column("task", overflow="fold")
        events.add_column("change", no_wrap=True, min_width=26)
        events.add_column("by", overflow="fold")
        for event in board.events:
            events.add_row(event.time.replace("T", " ")[:16], event.commit,
                           escape(event.short),
                           f"{event.source or 'none'} → {styled_state(event.target)}",
                           escape(f"{event.action} by {event.by}"))
        parts.append(Panel(events, title="latest transitions", title_align="left"))
    return Group(*parts)
