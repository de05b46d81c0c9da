"""Shell completion of task and epic IDs (``shell_complete=`` of the ID arguments and options).

Runs on every <Tab>, so it reads only file names under ``.flow/`` of the work tree the shell
stands in: no git process, no parsing. Full IDs that start with what was typed come first; when
none does, the short forms (``fn-1``, ``fn-1.2``) that do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from git_flowctl.model import ids
from git_flowctl.model.items import EPICS_DIR, TASKS_DIR

if TYPE_CHECKING:
    import click
    from click.shell_completion import CompletionItem


def _flow_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds ``.flow`` (within its work tree)."""
    for directory in (start, *start.parents):
        if (directory / ".flow").is_dir():
            return directory
        if (directory / ".git").exists():
            return None
    return None


def _names(directory: Path) -> list[str]:
    try:
        return sorted((name[:-3] for name in os.listdir(directory) if name.endswith(".md")),
                      key=ids.id_sort_key)
    except OSError:
        return []


def _short(any_id: str) -> str | None:
    parsed = ids.parse_id(any_id)
    if parsed is None:
        return None
    short = f"{parsed.prefix}-{parsed.epic_number}"
    return short if parsed.task_number is None else f"{short}.{parsed.task_number}"


def candidates(incomplete: str, *, tasks: bool, epics: bool, cwd: Path | None = None) -> list[str]:
    root = _flow_root(cwd or Path.cwd())
    if root is None:
        return []
    known = [*(_names(root / EPICS_DIR) if epics else []), *(_names(root / TASKS_DIR) if tasks else [])]
    full = [name for name in known if name.startswith(incomplete)]
    if full:
        return full
    shorts = dict.fromkeys(short for short in map(_short, known) if short)
    return [short for short in shorts if short.startswith(incomplete)]


def task_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return _complete(incomplete, tasks=True, epics=False)


def epic_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return _complete(incomplete, tasks=False, epics=True)


def any_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return _complete(incomplete, tasks=True, epics=True)


def _complete(incomplete: str, *, tasks: bool, epics: bool) -> list[CompletionItem]:
    """Completes the last ID of a comma-separated list (``--deps fn-1.1,fn-1.``) too."""
    from click.shell_completion import CompletionItem

    head, comma, last = incomplete.rpartition(",")
    return [CompletionItem(f"{head}{comma}{name}")
            for name in candidates(last, tasks=tasks, epics=epics)]
