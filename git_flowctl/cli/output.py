"""Printing results: JSON for programs, rich for people (colour off under NO_COLOR or a pipe)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any, cast

from git_flowctl.model.document import DocumentError
from git_flowctl.model.errors import FlowError
from git_flowctl.views.jsonout import print_json as print_json  # re-exported

if TYPE_CHECKING:
    from rich.console import Console

    from git_flowctl.views.text import Block

Render = Callable[["Console"], None]


class Output:
    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.exit_code = 0
        self._console: Console | None = None
        self.display_path: Callable[[str], str] = lambda path: path

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = make_console(sys.stdout)
        return self._console

    def emit(self, payload: dict[str, Any], render: Render | str | None = None) -> None:
        """Print a command's result: ``{"success": true, **payload}``, or the human rendering."""
        if self.json_mode:
            print_json({"success": True, **payload})
            return
        if render is None:
            message = payload.get("message")
            if message:
                self.console.print(str(message), highlight=False, markup=False)
            return
        if isinstance(render, str):
            self.console.print(render, highlight=False)
            return
        render(self.console)

    def emit_text(self, payload: dict[str, Any], blocks: Callable[[], Iterable[Block]]) -> None:
        """Print a read command's result: ``{"success": true, **payload}``, or the human
        answer drawn from ``blocks()`` (views/text.py) for standard output's mode."""
        if self.json_mode:
            print_json({"success": True, **payload})
            return
        from git_flowctl.views.text import output_mode, render

        sys.stdout.write(render(blocks(), output_mode(sys.stdout)))
        sys.stdout.flush()

    def fail(self, payload: dict[str, Any], message: str, exit_code: int = 1) -> None:
        """A result that is itself a refusal (validate found errors): JSON or text, then exit."""
        self.exit_code = exit_code
        if self.json_mode:
            print_json({"success": False, "error": message, **payload})
        else:
            sys.stderr.write(f"error: {message}\n")


def make_console(file: Any) -> Console:
    from rich.console import Console

    is_tty = hasattr(file, "isatty") and file.isatty()
    width = None if is_tty else int(os.environ.get("COLUMNS", "0") or 0) or 120
    stream = file if is_tty else cast("IO[str]", TrimmedLines(file))  # what rich calls: write, flush
    return Console(file=stream, width=width,
                   no_color=bool(os.environ.get("NO_COLOR")) or None, highlight=False,
                   soft_wrap=not is_tty)


class TrimmedLines:
    """A text stream that drops the spaces at the end of each line: rich pads every table cell
    to its column's width, which a terminal hides and a file, a diff or a grep does not."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self._pending = ""

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        if lines:
            self._file.write("".join(f"{line.rstrip(' ')}\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._file.write(self._pending)
            self._pending = ""
        self._file.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return str(getattr(self._file, "encoding", None) or "utf-8")


def report_error(out: Output, error: FlowError) -> None:
    message = error.message
    if isinstance(error, DocumentError):
        location = out.display_path(error.path)
        message = f"{location}:{error.line}: {error.problem}" if error.line else f"{location}: {error.problem}"
    if out.json_mode:
        details = {k: v for k, v in error.details.items() if k not in ("success", "error")}
        if isinstance(error, DocumentError):
            details["file"] = out.display_path(error.path)
        print_json({"success": False, "error": message, "hint": error.hint, **details})
        return
    sys.stderr.write(f"error: {message}\n")
    if error.hint:
        sys.stderr.write(f"hint: {error.hint}\n")
    sys.stderr.flush()
