"""The gap registry as the validator sees it: each gap's state in a tree, for the gaps one change
touches or its message names (guard/validate.py's gap rules, docs/validation.md#gaps-and-reviews).

A gap's state is its status (open or resolved) and its priority: what ``gap check`` and ``epic
close`` decide by, and what a ``Flow-Gap`` trailer records. A gap is known by its ID (its file's
name) wherever its file is (``.flow/gaps/<epic>/`` or ``.flow/archive/gaps/<epic>/``), so a
move that ``renumber`` or ``epic archive`` makes changes no state.

Gap files are not plan files: the validator's snapshots never read them. A change reads only the
gap files it changes or its trailers name, found by comparing the gap directories' tree IDs (a
commit) or the index entries listed anyway (the commit-msg hook): a commit that touches no gap
file reads none. The pre-commit hook reads none at all (the rules need the message).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from git_flowctl.model.document import Document, DocumentError
from git_flowctl.model.layout import GAP_DIRS, archived_gap_path, gap_path
from git_flowctl.model.layout import is_gap_path as is_gap_path
from git_flowctl.model.trailers import GAP_PRIORITIES, GAP_PRIORITY_ALIASES, GAP_STATES

TYPE_CHECKING = False  # typing's import costs the hooks' start-up time (guard/hooklean.py)
if TYPE_CHECKING:
    import pygit2

    from git_flowctl.model.trailers import GapChange
    from git_flowctl.repo.sources import Source


@dataclass(frozen=True)
class GapState:
    """One gap in one tree. ``status`` and ``priority`` are None when the file does not say one
    (unreadable, or a value outside the grammar): the rules then leave the gap alone."""

    path: str
    status: str | None
    priority: str | None

    @property
    def readable(self) -> bool:
        return self.status is not None and self.priority is not None

    def text(self) -> str:
        return f"{self.status} [{self.priority}]"


@dataclass
class GapStates:
    """The gaps around one change: each gap's state in every parent and after (None: no gap of
    that ID there), for the gaps whose files the change touches or whose trailers it carries."""

    before: list[dict[str, GapState | None]] = field(default_factory=list)
    after: dict[str, GapState | None] = field(default_factory=dict)


def gap_id_of(path: str) -> str:
    return path.rsplit("/", 1)[-1][:-3]


def read_state(source: Source, path: str) -> GapState | None:
    """The gap at ``path`` (defaults as gates/gaps.py reads them: open, required)."""
    raw = source.read(path)
    if raw is None:
        return None
    try:
        data = Document.parse(raw, path).data
    except DocumentError:
        return GapState(path, None, None)
    status = data.get("status", GAP_STATES[0])
    priority = data.get("priority", GAP_PRIORITIES[0])
    priority = GAP_PRIORITY_ALIASES.get(priority, priority) if isinstance(priority, str) else None
    return GapState(path, status if status in GAP_STATES else None,
                    priority if priority in GAP_PRIORITIES else None)


def gap_entries(source: Source) -> dict[str, str | None]:
    """Every gap file of a tree with its blob ID (live and archived)."""
    return {path: blob for directory in GAP_DIRS
            for path, blob in source.walk_entries(directory) if is_gap_path(path)}


def changed_gap_paths(before: Mapping[str, str | None], after: Mapping[str, str | None]) -> set[str]:
    """The gap files whose blob differs between two listings (added, changed or removed)."""
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}


def gap_subtrees(tree: pygit2.Tree | None) -> tuple[str | None, ...]:
    """The object IDs of a commit's gap directories: equal IDs, equal gaps. A path lookup each
    (libgit2 walks ``.flow``, a directory of a few entries)."""
    found: list[str | None] = []
    for directory in GAP_DIRS:
        try:
            found.append(str(tree[directory].id) if tree is not None else None)
        except KeyError:
            found.append(None)
    return tuple(found)


def gap_states(parents: Sequence[Source], after: Source, changed: Iterable[str],
               named: Iterable[GapChange]) -> GapStates:
    """The states of the gaps at the ``changed`` paths and of those ``named`` by trailers (at
    their epic's live or archived path), in each parent and after."""
    candidates: dict[str, list[str]] = {}
    for path in sorted(changed):
        if is_gap_path(path):
            candidates.setdefault(gap_id_of(path), []).append(path)
    for line in named:
        paths = candidates.setdefault(line.subject, [])
        paths.extend(path for path in (gap_path(line.epic, line.subject),
                                       archived_gap_path(line.epic, line.subject))
                     if path not in paths)

    def states_in(source: Source) -> dict[str, GapState | None]:
        found: dict[str, GapState | None] = {}
        for gap, paths in candidates.items():
            found[gap] = next((state for path in paths
                               if (state := read_state(source, path)) is not None), None)
        return found

    return GapStates([states_in(parent) for parent in parents], states_in(after))
