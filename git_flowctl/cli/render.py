"""Rich renderings shared by the human output of several commands.

The read commands' human answers are drawn by views/text.py (no rich); ``print_lines`` prints
its lines through a rich console where a command mixes them with rich output."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from git_flowctl.views.text import STATE_STYLES as STATE_STYLES  # re-exported

if TYPE_CHECKING:
    from rich.console import Console

    from git_flowctl.views.text import Line


def styled_state(state: str) -> str:
    style = STATE_STYLES.get(state, "white")
    return f"[{style}]{state}[/{style}]"


def print_lines(console: Console, lines: Iterable[Line]) -> None:
    """Lines of styled segments (views/text.py) on a rich console."""
    from rich.text import Text

    for line in lines:
        console.print(Text.assemble(*((text, style or "") for text, style in line)),
                      highlight=False)
