"""The one rule for the order of a subject's transitions inside one commit message (issue #13,
finding 3), shared by the validator (``find_chain``) and replay.

A message may list a subject's transitions in any order: a squash message often lists the newest
commit first. Their IDs are ULIDs, which sort by the millisecond they were made, so the ID order
is nearly always the order they happened in; when it does not chain (each link leaving the state
the one before it reached), a small search finds an order that does (links minted in the same
millisecond, clocks of two machines). ``ANY`` leaves the first source or the last target open,
for replay, which knows where a chain starts but not where it must end.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up time that the lean `log` path avoids (replay)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import TypeVar

    Link = TypeVar("Link")

ANY = "\0any"  # a start or end that any state matches
SEARCH_LIMIT = 12  # links beyond which only the ID order is tried


def chain_order(links: Sequence[Link], ends: Callable[[Link], tuple[str | None, str | None]],
                key: Callable[[Link], str], start: str | None = ANY,
                end: str | None = ANY) -> list[Link] | None:
    """An order of ``links`` that leads from ``start`` to ``end`` using each once (ID order
    first), or None. ``ends(link)`` is (source, target); ``key(link)`` its ID."""
    ordered = sorted(links, key=key)

    def fits(sequence: Sequence[Link]) -> bool:
        current = start
        for link in sequence:
            source, target = ends(link)
            if current != ANY and source != current:
                return False
            current = target
        return end == ANY or current == end

    if fits(ordered):
        return ordered
    if len(ordered) > SEARCH_LIMIT:
        return None

    def search(current: str | None, remaining: list[Link]) -> list[Link] | None:
        if not remaining:
            return [] if end == ANY or current == end else None
        tried: set[tuple[str | None, str | None]] = set()
        for index, link in enumerate(remaining):
            pair = ends(link)
            if (current != ANY and pair[0] != current) or pair in tried:
                continue
            tried.add(pair)
            rest = search(pair[1], remaining[:index] + remaining[index + 1:])
            if rest is not None:
                return [link, *rest]
        return None

    return search(start, ordered)
