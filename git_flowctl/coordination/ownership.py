"""File ownership (issue #16, part 3): which task owns which paths, and which overlap.

A task's ``files`` lists paths, directories and globs (``fnmatch``: ``*`` also matches ``/``).
Two entries overlap when they are the same path, one is a directory holding the other
(``src`` and ``src/app.py``), or one is a glob that matches the other. Two globs overlap when
either matches the other's text, or when one's literal part up to its first wildcard starts with
the other's (``src/*.py`` and ``src/a*``); a glob overlaps a directory its literal part lies in
(``src`` and ``src/*.py``). A cautious reading: two agents editing one file is the failure this
prevents, and the paths need not exist yet.

Used by `files`, by `next` (a task overlapping one held by someone else is passed over), by
`start` (exit 3 naming the holder, unless --force) and by `run` (overlapping tasks never run at
once).
"""

from __future__ import annotations

import fnmatch

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Iterable

_WILDCARDS = "*?["


def normalize(path: str) -> str:
    return path.strip().removeprefix("./").rstrip("/")


def _is_glob(path: str) -> bool:
    return any(char in path for char in _WILDCARDS)


def _literal_prefix(pattern: str) -> str:
    cut = min((pattern.index(c) for c in _WILDCARDS if c in pattern), default=len(pattern))
    return pattern[:cut]


def entries_overlap(a: str, b: str) -> bool:
    """Do two ``files`` entries (already normalized) name a common path?"""
    if not a or not b:
        return False
    if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
        return True
    if fnmatch.fnmatchcase(a, b) or fnmatch.fnmatchcase(b, a):
        return True
    if _is_glob(a) and _is_glob(b):
        left, right = _literal_prefix(a), _literal_prefix(b)
        return left.startswith(right) or right.startswith(left)
    if _is_glob(a) or _is_glob(b):  # a glob inside a directory entry: `src` and `src/*.py`
        pattern, path = (a, b) if _is_glob(a) else (b, a)
        return _literal_prefix(pattern).startswith(path + "/")
    return False


def overlapping(first: Iterable[str], second: Iterable[str]) -> list[str]:
    """The entries of ``first`` that overlap an entry of ``second`` (in ``first``'s order)."""
    others = [normalize(path) for path in second]
    found = []
    for path in first:
        mine = normalize(path)
        if any(entries_overlap(mine, other) for other in others) and path not in found:
            found.append(path)
    return found


def files_overlap(first: Iterable[str], second: Iterable[str]) -> bool:
    """Two tasks' ``files`` overlap."""
    return bool(overlapping(first, second))
