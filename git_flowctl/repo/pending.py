"""Trailers waiting for the user's next commit (the ``--no-commit`` path, DESIGN §2).

``git flow-task done X --no-commit`` writes and stages the task file; its ``Flow-Transition`` and
``Flow-Evidence`` lines wait in ``<git-dir>/flow-pending-trailers.json`` until the
prepare-commit-msg hook adds them to the message of the commit that records the file::

    {".flow/tasks/fn-1-x.2.md": {"blob": "<staged blob id>", "lines": ["Flow-Transition: ..."]}}

An entry belongs to the staged content it was written with. Lines accumulate while the same
file stays staged (``start --no-commit`` then ``done --no-commit`` give one chain), and an entry
whose content has since been committed, or replaced by something else, is stale and dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PENDING_FILE = "flow-pending-trailers.json"


@dataclass
class Entry:
    blob: str | None  # the blob staged by the command; None when it deleted the file
    lines: list[str]


def pending_path(git_dir: Path) -> Path:
    return git_dir / PENDING_FILE


def read(git_dir: Path) -> dict[str, Entry]:
    try:
        raw = json.loads(pending_path(git_dir).read_text("utf-8"))
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(raw, dict):
        return {}
    entries: dict[str, Entry] = {}
    for path, value in raw.items():
        if not isinstance(value, dict):
            continue
        lines = value.get("lines")
        blob = value.get("blob")
        if isinstance(lines, list) and all(isinstance(line, str) for line in lines) \
                and (blob is None or isinstance(blob, str)):
            entries[str(path)] = Entry(blob, list(lines))
    return entries


def write(git_dir: Path, entries: Mapping[str, Entry]) -> None:
    path = pending_path(git_dir)
    if not entries:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    data = {key: {"blob": entry.blob, "lines": entry.lines} for key, entry in sorted(entries.items())}
    fd, temp_name = tempfile.mkstemp(prefix=f".{PENDING_FILE}.", dir=git_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def record(git_dir: Path, staged: Mapping[str, str | None], previous: Mapping[str, str | None],
           committed: Mapping[str, str | None], lines_by_path: Mapping[str, list[str]]) -> None:
    """Remember the lines of a ``--no-commit`` change.

    ``staged`` maps each written path to its new blob (None: deleted), ``previous`` to the blob
    staged before this command and ``committed`` to the blob at HEAD. Earlier lines for a path
    are kept only while that earlier command's content is still staged and not yet committed;
    otherwise they belong to something else.
    """
    entries = read(git_dir)
    for path, blob in staged.items():
        old = entries.get(path)
        before = previous.get(path)
        still_pending = old is not None and old.blob == before and before != committed.get(path)
        kept = old.lines if old is not None and still_pending else []
        entries[path] = Entry(blob, [*kept, *lines_by_path.get(path, [])])
    write(git_dir, entries)


def prune(git_dir: Path, committed: Mapping[str, str | None], staged: Mapping[str, str | None]) -> dict[str, Entry]:
    """Drop stale entries and return the live ones.

    ``committed`` and ``staged`` give, for each path that has an entry, its blob at HEAD and in
    the index. An entry whose blob is already at HEAD was committed; one whose blob is no longer
    staged (and whose path is unchanged since HEAD) was undone.
    """
    entries = read(git_dir)
    live: dict[str, Entry] = {}
    for path, entry in entries.items():
        at_head, in_index = committed.get(path), staged.get(path)
        if at_head == in_index or entry.blob == at_head:
            continue  # committed already, or nothing staged for the path any more
        live[path] = entry
    if live.keys() != entries.keys():
        write(git_dir, live)
    return live
