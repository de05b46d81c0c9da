"""The merge driver for ``.flow/**/*.md`` (DESIGN §5; docs/hooks.md#the-merge-driver).

git calls ``git flow-task merge-driver %O %A %B %L %P`` with the common ancestor, ours (where the
result must be written) and theirs. Frontmatter is merged field by field, the Markdown body three
ways as text (``git merge-file``):

- a field changed on one side only: that side's value (a key removed there is removed);
- a list changed on both sides (``depends_on``, ``files``, ...): a three-way set merge, ours' order
  first, then what theirs added; an item removed on either side is removed;
- ``status`` changed on both sides: the status further along the lifecycle wins (PRECEDENCE), and
  the fields that belong to a status (assignee, attempts, blocked and skipped reasons) come from
  the same side, so the result is a state one of the branches really reached;
- anything else changed on both sides differently: a conflict, shown with conflict markers around
  the two versions of that field.

Exit status: 0 clean; 1 conflicts (markers written); never 0 after an internal error (the file
gets git's plain text merge and the exit status says to look at it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_flowctl.model.document import Document, DocumentError, render_field
from git_flowctl.model.items import EPIC_KEY_ORDER, TASK_KEY_ORDER

# Further along wins when both sides changed the status. A finished state records work that
# happened (done beats a parallel failure or block: the work succeeded on one branch); failure
# states record attempts (failed beats up_for_retry, the later of the two); an explicit block is
# news the other side did not have; in_progress beats todo (someone started).
PRECEDENCE: dict[str, int] = {
    "todo": 0, "open": 0,
    "in_progress": 1,
    "blocked": 2,
    "up_for_retry": 3,
    "failed": 4,
    "skipped": 5,
    "done": 6,
}
STATUS_FIELDS = ("assignee", "attempts", "blocked_reason", "skipped_reason")
_MISSING: Any = object()
_TOP_LEVEL_KEY = re.compile(r"""^(?P<key>[A-Za-z_][\w.-]*|"[^"]*"|'[^']*')\s*:(?:\s|$)""")


@dataclass
class MergeResult:
    content: bytes
    conflicts: int
    notes: list[str] = field(default_factory=list)


class _NotMergeable(Exception):
    """The driver cannot merge these field by field; git's text merge takes over."""


def text_merge(ours: bytes, base: bytes, theirs: bytes, marker_size: int = 7) -> tuple[bytes, int]:
    """``git merge-file`` on three byte strings: (result, number of conflicts)."""
    with tempfile.TemporaryDirectory(prefix="flow-merge-") as temp:
        paths = []
        for name, content in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(temp) / name
            path.write_bytes(content)
            paths.append(str(path))
        result = subprocess.run(
            ["git", "merge-file", "-p", f"--marker-size={marker_size}",
             "-L", "ours", "-L", "base", "-L", "theirs", *paths],
            capture_output=True, check=False)
    if result.returncode < 0 or result.returncode > 127:
        raise RuntimeError(f"git merge-file failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout, result.returncode


def _parse(raw: bytes, path: str) -> Document:
    try:
        return Document.parse(raw, path)
    except DocumentError as error:
        raise _NotMergeable(error.message) from None


def _merge_lists(base: Any, ours: list[Any], theirs: list[Any]) -> list[Any]:
    base_items = list(base) if isinstance(base, list) else []
    removed = [item for item in base_items if item not in ours or item not in theirs]
    merged: list[Any] = []
    for item in [*ours, *theirs]:
        if item not in merged and item not in removed:
            merged.append(item)
    return merged


def merge_documents(base_raw: bytes, ours_raw: bytes, theirs_raw: bytes, path: str,
                    marker_size: int = 7) -> MergeResult:
    ours = _parse(ours_raw, path)
    theirs = _parse(theirs_raw, path)
    base = _parse(base_raw, path) if base_raw.strip() else Document.new(path, {}, "")
    merged: dict[str, Any] = {}
    conflicts: dict[str, tuple[Any, Any]] = {}
    notes: list[str] = []
    keys = list(dict.fromkeys([*ours.data, *theirs.data, *base.data]))
    status_winner: Document | None = None
    o_status = base.data.get("status", _MISSING)
    a_status = ours.data.get("status", _MISSING)
    b_status = theirs.data.get("status", _MISSING)
    if a_status != o_status and b_status != o_status and a_status != b_status:
        rank_a = PRECEDENCE.get(str(a_status), -1)
        rank_b = PRECEDENCE.get(str(b_status), -1)
        if rank_a != rank_b and rank_a >= 0 and rank_b >= 0:
            status_winner = ours if rank_a > rank_b else theirs
            label = "ours" if status_winner is ours else "theirs"
            notes.append(f"{path}: status changed on both sides ({a_status} / {b_status}); "
                         f"kept {status_winner.data['status']} ({label}), the one further along")
    for key in keys:
        o = base.data.get(key, _MISSING)
        a = ours.data.get(key, _MISSING)
        b = theirs.data.get(key, _MISSING)
        if status_winner is not None and (key == "status" or key in STATUS_FIELDS):
            value = status_winner.data.get(key, _MISSING)
        elif a == b:
            value = a
        elif a == o:
            value = b
        elif b == o:
            value = a
        elif isinstance(a, list) and isinstance(b, list) and (o is _MISSING or isinstance(o, list)):
            value = _merge_lists(o, a, b)
        else:
            conflicts[key] = (a, b)
            value = a
        if value is not _MISSING:
            merged[key] = value
    result_doc = ours
    for key in list(result_doc.data):
        if key not in merged:
            del result_doc.data[key]
    result_doc.data.update(merged)
    # Key order: ours' order, then keys only theirs has, in theirs' order (render appends them).
    body, body_conflicts = text_merge(ours.body.encode("utf-8"), base.body.encode("utf-8"),
                                      theirs.body.encode("utf-8"), marker_size)
    result_doc.body = body.decode("utf-8", errors="surrogateescape")
    order = TASK_KEY_ORDER if "epic" in merged else EPIC_KEY_ORDER
    rendered: bytes = result_doc.render(order)
    if conflicts:
        rendered = _mark_conflicts(rendered, conflicts, marker_size, ours.newline)
    return MergeResult(rendered, len(conflicts) + body_conflicts, notes)


def _mark_conflicts(rendered: bytes, conflicts: dict[str, tuple[Any, Any]], size: int,
                    newline: str) -> bytes:
    """Replace each conflicting field's lines by ours and theirs between conflict markers."""
    text = rendered.decode("utf-8").replace("\r\n", "\n")
    bom = text.startswith("\ufeff")
    if bom:
        text = text[1:]
    lines = text.split("\n")
    end = next(i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "..."))
    front = lines[1:end]
    blocks: list[tuple[str | None, list[str]]] = []
    for line in front:
        match = _TOP_LEVEL_KEY.match(line)
        if match:
            key = match.group("key").strip("\"'")
            blocks.append((key, [line]))
        elif blocks:
            blocks[-1][1].append(line)
        else:
            blocks.append((None, [line]))
    out: list[str] = []
    present = {key for key, _ in blocks}
    for key, block in blocks:
        if key in conflicts:
            out.extend(_marker_block(key, *conflicts[key], size))
        else:
            out.extend(block)
    for key, (a, b) in conflicts.items():
        if key not in present:  # removed on our side, changed on theirs
            out.extend(_marker_block(key, a, b, size))
    result = "\n".join([lines[0], *out, *lines[end:]])
    if newline != "\n":
        result = result.replace("\n", newline)
    return (("\ufeff" if bom else "") + result).encode("utf-8")


def _marker_block(key: str, ours: Any, theirs: Any, size: int) -> list[str]:
    def side(value: Any) -> list[str]:
        return [] if value is _MISSING else render_field(key, value).rstrip("\n").split("\n")

    return ["<" * size + " ours", *side(ours), "=" * size, *side(theirs), ">" * size + " theirs"]


def run(base_path: str, ours_path: str, theirs_path: str, marker_size: str | int = 7,
        path: str | None = None) -> int:
    """The merge driver itself; writes the result to ``ours_path`` and returns the exit status."""
    shown = path or ours_path
    try:
        size = int(marker_size)
    except ValueError:
        size = 7
    base, ours, theirs = (Path(p).read_bytes() for p in (base_path, ours_path, theirs_path))
    try:
        result = merge_documents(base, ours, theirs, shown, size)
    except _NotMergeable as reason:
        content, conflicts = text_merge(ours, base, theirs, size)
        _write(ours_path, content)
        sys.stderr.write(f"flow-task merge: {shown}: {reason}; merged as plain text\n")
        return 1 if conflicts else 0
    except Exception as error:  # a bug must never pass for a clean merge
        sys.stderr.write(f"flow-task merge: internal error on {shown}: {type(error).__name__}: "
                         f"{error}; wrote git's text merge, review it before committing\n")
        try:
            content, _ = text_merge(ours, base, theirs, size)
            _write(ours_path, content)
        except Exception:
            return 2
        return 1
    _write(ours_path, result.content)
    for note in result.notes:
        sys.stderr.write(f"flow-task merge: {note}\n")
    if result.conflicts:
        sys.stderr.write(f"flow-task merge: {shown}: {result.conflicts} conflict(s) left with markers\n")
        return 1
    return 0


def _write(path: str, content: bytes) -> None:
    temp = f"{path}.flow-merge-tmp"
    with open(temp, "wb") as handle:
        handle.write(content)
    os.replace(temp, path)
