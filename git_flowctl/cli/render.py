"""Rich renderings shared by the human output of several commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

STATE_STYLES = {
    "todo": "white",
    "ready": "cyan",
    "waiting": "dim",
    "in_progress": "yellow",
    "blocked": "magenta",
    "done": "green",
    "skipped": "dim green",
    "failed": "bold red",
    "up_for_retry": "red",
    "upstream_failed": "red dim",
    "open": "white",
    "missing": "bold red",
}


def styled_state(state: str) -> str:
    style = STATE_STYLES.get(state, "white")
    return f"[{style}]{state}[/{style}]"


def task_table(console: Console, rows: list[dict[str, Any]], *, title: str | None = None,
               mark_landed: bool = False, mark_not_landed: bool = False) -> None:
    """Tasks as a table; ``mark_landed`` adds "landed" to done tasks that reached the default
    branch, ``mark_not_landed`` "not landed" to done tasks whose code has not (on the default
    branch itself: a run's flow/ branch not merged yet)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("pri", justify="right")
    table.add_column("title")
    table.add_column("depends on")
    for row in rows:
        priority = row.get("priority")
        status = styled_state(row["status"])
        if mark_landed and row.get("landed"):
            status += " [green]landed[/green]"
        elif mark_not_landed and row.get("landed") is False and row["status"] == "done":
            status += " [yellow]not landed[/yellow]"
        table.add_row(escape(row["id"]), status,
                      "" if priority is None else str(priority), escape(row["title"]),
                      escape(", ".join(row.get("depends_on") or [])))
    console.print(table)
