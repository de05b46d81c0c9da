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


def task_table(console: Console, rows: list[dict[str, Any]], *, title: str | None = None) -> None:
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
        table.add_row(escape(row["id"]), styled_state(row["status"]),
                      "" if priority is None else str(priority), escape(row["title"]),
                      escape(", ".join(row.get("depends_on") or [])))
    console.print(table)
