"""Epic and task IDs (DESIGN §1): ``fn-N-slug`` and ``fn-N-slug.M``, slugs, short forms."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Set

from git_flowctl.model.errors import FlowError, NotFoundError

TYPE_CHECKING = False  # typing costs start-up time that `log --json` avoids (git_flowctl/tuples.py)
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from git_flowctl.model.tuples import NamedTuple

DEFAULT_PREFIX = "fn"
DEFAULT_SLUG_MAX = 20

_ID_RE = re.compile(
    r"^(?P<prefix>[a-z][a-z0-9]*)-(?P<epic>\d+)"
    r"(?:-(?P<slug>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?))?"
    r"(?:\.(?P<task>\d+))?$"
)


class ParsedId(NamedTuple):
    prefix: str
    epic_number: int
    slug: str | None
    task_number: int | None

    @property
    def is_task(self) -> bool:
        return self.task_number is not None

    @property
    def epic_id(self) -> str:
        base = f"{self.prefix}-{self.epic_number}"
        return f"{base}-{self.slug}" if self.slug else base


def parse_id(text: str) -> ParsedId | None:
    """Split an epic or task ID into its parts; None when it is not ID-shaped."""
    match = _ID_RE.match(text)
    if match is None:
        return None
    task = match.group("task")
    return ParsedId(
        prefix=match.group("prefix"),
        epic_number=int(match.group("epic")),
        slug=match.group("slug"),
        task_number=int(task) if task is not None else None,
    )


def is_task_id(text: str) -> bool:
    parsed = parse_id(text)
    return parsed is not None and parsed.is_task


def is_epic_id(text: str) -> bool:
    parsed = parse_id(text)
    return parsed is not None and not parsed.is_task


def epic_of(task_id: str) -> str:
    """The epic part of a task ID (``fn-1-auth.2`` -> ``fn-1-auth``)."""
    return task_id.rsplit(".", 1)[0]


def task_number(task_id: str) -> int:
    parsed = parse_id(task_id)
    if parsed is None or parsed.task_number is None:
        raise FlowError(f"not a task ID: {task_id}")
    return parsed.task_number


def epic_number(any_id: str) -> int:
    parsed = parse_id(any_id)
    if parsed is None:
        raise FlowError(f"not an epic or task ID: {any_id}")
    return parsed.epic_number


def slugify(title: str, max_length: int = DEFAULT_SLUG_MAX) -> str:
    """Turn a title into an ID slug.

    NFKD to ASCII, lower case, characters other than word characters, spaces and hyphens dropped
    (so ``+`` and ``/`` vanish), ``_`` read as a space, runs of spaces and hyphens become one
    hyphen. A slug longer than ``max_length`` is cut at the last word boundary that fits (a word
    longer than the limit is cut hard). An empty result gets three random ``[a-z0-9]``.
    """
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", ascii_text.lower()).replace("_", " ")
    slug = re.sub(r"[-\s]+", "-", text).strip("-")
    if len(slug) > max_length:
        if slug[max_length] == "-":
            slug = slug[:max_length]
        else:
            cut = slug[:max_length]
            slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
        slug = slug.strip("-")
    if not slug:
        import secrets
        import string

        alphabet = string.ascii_lowercase + string.digits
        slug = "".join(secrets.choice(alphabet) for _ in range(3))
    return slug


def make_epic_id(number: int, title: str, prefix: str = DEFAULT_PREFIX,
                 slug_max: int = DEFAULT_SLUG_MAX) -> str:
    return f"{prefix}-{number}-{slugify(title, slug_max)}"


def make_task_id(epic_id: str, number: int) -> str:
    return f"{epic_id}.{number}"


def id_sort_key(any_id: str) -> tuple[int, int, str]:
    """Numeric order: ``fn-2.10`` after ``fn-2.9``, ``fn-10`` after ``fn-9``."""
    parsed = parse_id(any_id)
    if parsed is None:
        return (1 << 30, 0, any_id)
    return (parsed.epic_number, parsed.task_number or 0, any_id)


def resolve(ref: str, known: Iterable[str], kind: str = "task or epic") -> str:
    """Resolve an exact or short ID (``fn-3``, ``fn-3.2``) against the IDs that exist.

    Unknown and ambiguous references are errors that name the candidates; never an empty result.
    """
    if isinstance(known, (Mapping, Set)) and ref in known:  # no need to list them for this
        return ref
    known_ids = list(known)
    if ref in known_ids:
        return ref
    wanted = parse_id(ref)
    candidates: list[str] = []
    if wanted is not None:
        # Only IDs that start with the short form's prefix and number can match: parsing every
        # ID of a 50,000-task plan for each lookup would cost the plan's size (issue #11).
        head = f"{wanted.prefix}-{wanted.epic_number}"
        for other_id in known_ids:
            if not other_id.startswith(head) or other_id[len(head):len(head) + 1] not in ("", "-", "."):
                continue
            other = parse_id(other_id)
            if (other is None or other.prefix != wanted.prefix
                    or other.epic_number != wanted.epic_number
                    or other.task_number != wanted.task_number):
                continue
            if wanted.slug is None or wanted.slug == other.slug:
                candidates.append(other_id)
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        listed = ", ".join(sorted(candidates, key=id_sort_key))
        raise FlowError(
            f"ambiguous {kind} ID {ref!r}: it matches {listed}",
            hint="use the full ID, or `git flow-task renumber` to repair a number collision",
            candidates=sorted(candidates, key=id_sort_key),
        )
    import difflib

    close = difflib.get_close_matches(ref, known_ids, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else f"`git flow-task list` shows every {kind}"
    raise NotFoundError(f"no {kind} {ref!r}", hint=hint, candidates=close)
