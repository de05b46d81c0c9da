"""The trailer grammar, version 1 (docs/trailers.md is the spec; this is its one parser).

    Flow-Transition: <id> <from>-><to> action=<a> by=<actor> id=<ulid> [force=1] [key=value ...]
    Flow-Evidence: <task-id> key=value ...
    Flow-Task: <task-id>
    Flow-Rename: <old-id> <new-id>
    Flow-Archive: <id>
    Flow-Review: <id> kind=<plan|completion> verdict=<ship|needs_work|major_rethink> by=<actor> id=<ulid>
    Flow-Gap: <gap-id> <from>-><to> action=<a> epic=<epic-id> priority=<p> by=<actor> id=<ulid>
    Flow-Landed: <task-id> commit=<sha> [key=value ...]

``from`` is ``none`` for a create (and ``to`` is ``none`` when a subject stops existing). Values
are bare (no space, quote or backslash) or double-quoted with ``\\"`` and ``\\\\`` escapes; no value
holds a newline. Lines count only in a message's trailer block (its last paragraph, with the
all-trailer paragraphs just before it; never its subject), and in the trailer block of each
message a squash holds (``git merge --squash`` indents them under ``commit <sha>`` headers;
GitHub starts each with ``* ``), so text elsewhere in a message is never read as a transition;
the squashed messages are put back in the order their commits were made (git lists them newest
first). ``This reverts commit <40 hex>.``, exactly as ``git revert`` writes it, on a line of its
own after the subject, is a step too. Malformed lines become ``Malformed`` findings, never
exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from git_flowctl.model.trailerfast import (
    CANONICAL_EVIDENCE,
    CANONICAL_TRANSITION,
    NONE_STATE,
    STATE,
    SUBJECT,
    Lazy,
    canonical_lines,
)

# The grammar's quoting is defined in trailerfast.py and is part of this module's interface.
from git_flowctl.model.trailerfast import CLAIM_KEY as CLAIM_KEY
from git_flowctl.model.trailerfast import format_pairs as format_pairs
from git_flowctl.model.trailerfast import parse_claim as parse_claim
from git_flowctl.model.trailerfast import parse_pairs as parse_pairs
from git_flowctl.model.trailerfast import quote as quote
from git_flowctl.model.trailerfast import unquote as unquote

TRANSITION_KEY = "Flow-Transition"
EVIDENCE_KEY = "Flow-Evidence"
TASK_KEY = "Flow-Task"
RENAME_KEY = "Flow-Rename"  # `renumber` gave an epic or task a new ID (history follows it)
ARCHIVE_KEY = "Flow-Archive"  # `epic archive` moved an epic or task under .flow/archive/
REVIEW_KEY = "Flow-Review"  # `review` recorded a verdict (issue #15)
GAP_KEY = "Flow-Gap"  # `gap add|resolve` changed the gap registry (issue #15)
LANDED_KEY = "Flow-Landed"  # `land` brought a task's branch onto this branch (issue #17)
GAP_STATES = ("open", "resolved")
GAP_PRIORITIES = ("required", "important", "nice")
# flowctl wrote "nice-to-have"; the issue says "nice": both are read, "nice" is written.
GAP_PRIORITY_ALIASES = {"nice-to-have": "nice"}


_LINE = Lazy(r"^[ \t]*(?P<key>Flow-Transition|Flow-Evidence|Flow-Task|Flow-Rename|Flow-Archive"
             r"|Flow-Review|Flow-Gap|Flow-Landed)"
             r"[ \t]*:[ \t]*(?P<value>.*?)[ \t]*$", re.IGNORECASE | re.ASCII)
_SUBJECT = Lazy(rf"^{SUBJECT}$", re.ASCII)
_STATE = Lazy(rf"^{STATE}$")
_COMMIT_ID = Lazy(r"^[0-9a-f]{7,64}$")
# git revert's line (sequencer.c): the full ID then "." (", reversing" for a merge), or with
# --reference the abbreviated ID, then " (<subject>, <date>)." On a line of its own.
_REVERT = Lazy(r"[ \t]*This reverts commit (?:(?P<sha>[0-9a-f]{40}|[0-9a-f]{64})(?:\.|, reversing)"
               r"|(?P<short>[0-9a-f]{4,64}) \(.*, \d{4}-\d{2}-\d{2}\)\.)[ \t]*")
# A line of a trailer block (git's trailer.c: `key: value`, a continuation, or cherry-pick -x's).
_TRAILER_LINE = Lazy(r"[A-Za-z0-9][A-Za-z0-9-]*[ \t]*:.*|[ \t]+\S.*|\(cherry picked from commit [0-9a-f]+\)",
                     re.ASCII)
# GitHub's squash message ends the squashed messages with a line of dashes before co-authors.
_SEPARATOR = Lazy(r"-{3,}[ \t]*")
_BLANKS = Lazy(r"[ \t]+")
# The header git writes before each squashed message (builtin/merge.c, squash_message()).
_SQUASH_COMMIT = Lazy(r"^commit (?P<sha>[0-9a-f]{40}|[0-9a-f]{64})$")
_SQUASH_HEADER = Lazy(r"^(?P<key>Author|Date|Merge|Commit|AuthorDate|CommitDate):\s*(?P<value>.*)$")
_SQUASH_DATE_FORMAT = "%a %b %d %H:%M:%S %Y %z"  # git's default date format


@dataclass(frozen=True)
class Transition:
    subject: str  # task or epic ID
    source: str | None  # None for a create
    target: str
    action: str
    by: str
    id: str
    force: bool = False
    extra: tuple[tuple[str, str], ...] = ()
    # Where a parsed line stood: 1-based line in the message, and the squashed commit it was
    # copied from (None when it is the commit's own line). Not part of the value.
    line_number: int = field(default=0, compare=False)
    origin: SquashOrigin | None = field(default=None, compare=False)

    def value(self) -> str:
        pairs: dict[str, str] = {"action": self.action, "by": self.by, "id": self.id}
        if self.force:
            pairs["force"] = "1"
        pairs.update(dict(self.extra))
        return f"{self.subject} {self.source or NONE_STATE}->{self.target} {format_pairs(pairs)}"

    def line(self) -> str:
        return f"{TRANSITION_KEY}: {self.value()}"


@dataclass(frozen=True)
class Evidence:
    subject: str
    fields: tuple[tuple[str, str], ...]
    line_number: int = field(default=0, compare=False)
    origin: SquashOrigin | None = field(default=None, compare=False)

    def line(self) -> str:
        return f"{EVIDENCE_KEY}: {self.subject} {format_pairs(dict(self.fields))}"

    def as_dict(self) -> dict[str, str]:
        return dict(self.fields)


@dataclass(frozen=True)
class SquashOrigin:
    """One squashed commit in a ``git merge --squash`` message: its header, as git wrote it."""

    commit: str
    author: str | None = None  # "Name <email>"
    date: str | None = None  # as written, in git's default format
    timestamp: int | None = None  # ``date`` as Unix seconds, when it parses
    offset_minutes: int | None = None


@dataclass(frozen=True)
class Revert:
    """A ``This reverts commit <sha>`` line: the commit named is undone at this point."""

    commit: str  # as written: a full or an abbreviated object name
    line_number: int = 0
    origin: SquashOrigin | None = None


@dataclass(frozen=True)
class Rename:
    """An ID that ``renumber`` replaced; ``subject`` is the new ID."""

    old: str
    new: str
    line_number: int = field(default=0, compare=False)
    origin: SquashOrigin | None = field(default=None, compare=False)

    @property
    def subject(self) -> str:
        return self.new

    def line(self) -> str:
        return f"{RENAME_KEY}: {self.old} {self.new}"


@dataclass(frozen=True)
class Archive:
    """An epic or task that ``epic archive`` moved under ``.flow/archive/``."""

    subject: str
    line_number: int = field(default=0, compare=False)
    origin: SquashOrigin | None = field(default=None, compare=False)

    def line(self) -> str:
        return f"{ARCHIVE_KEY}: {self.subject}"


@dataclass(frozen=True)
class Review:
    """A verdict on a task or an epic (``review``): it changes no state."""

    subject: str
    kind: str  # plan | completion
    verdict: str  # ship | needs_work | major_rethink
    by: str
    id: str
    extra: tuple[tuple[str, str], ...] = ()
    line_number: int = field(default=0, compare=False)
    origin: SquashOrigin | None = field(default=None, compare=False)

    def line(self) -> str:
        pairs = {"kind": self.kind, "verdict": self.verdict, "by": self.by, "id": self.id,
                 **dict(self.extra)}
        return f"{REVIEW_KEY}: {self.subject} {format_pairs(pairs)}"


@dataclass(frozen=True)
class GapChange:
    """A gap added to, resolved in or reopened in an epic's gap registry."""

    subject: str  # the gap's ID
    source: str | None  # None when added
    target: str  # open | resolved
    action: str
    epic: str
    priority: str
    by: str
    id: str
    line_number: int = field(default=0, compare=False)
    origin: SquashOrigin | None = field(default=None, compare=False)

    def line(self) -> str:
        pairs = {"action": self.action, "epic": self.epic, "priority": self.priority,
                 "by": self.by, "id": self.id}
        return f"{GAP_KEY}: {self.subject} {self.source or NONE_STATE}->{self.target} {format_pairs(pairs)}"


@dataclass(frozen=True)
class Landed:
    """``land`` brought the task's work onto this branch: ``commit`` is the tip of the branch it
    landed (merged, rebased or squashed). It changes no state; the task is done in the tree of
    the commit that carries it (the same commit's ``done`` transition, or an earlier one)."""

    subject: str
    commit: str
    extra: tuple[tuple[str, str], ...] = ()
    line_number: int = field(default=0, compare=False)
    origin: SquashOrigin | None = field(default=None, compare=False)

    def line(self) -> str:
        return f"{LANDED_KEY}: {self.subject} {format_pairs({'commit': self.commit, **dict(self.extra)})}"


Record = Rename | Archive | Review | GapChange | Landed


@dataclass(frozen=True)
class Malformed:
    line_number: int  # 1-based within the message
    text: str
    reason: str


@dataclass
class Trailers:
    transitions: list[Transition] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    task_refs: list[str] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)
    reverts: list[str] = field(default_factory=list)
    # Transitions, reverts, renames and archive moves in the order they take effect (squashed
    # messages oldest first, then the commit's own lines), and the squashed commits it holds.
    steps: list[Transition | Revert | Rename | Archive | Review | Landed] = field(default_factory=list)
    origins: list[SquashOrigin] = field(default_factory=list)
    renames: list[Rename] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    gaps: list[GapChange] = field(default_factory=list)
    landings: list[Landed] = field(default_factory=list)


def parse_transition(value: str, *, line: int = 0,
                     origin: SquashOrigin | None = None) -> Transition | str:
    """One ``Flow-Transition`` value; a reason string when it is malformed."""
    parts = _BLANKS.split(value.strip(" \t"), maxsplit=2)
    if len(parts) < 2:
        return "expected `<id> <from>-><to> action=... by=... id=...`"
    subject, change = parts[0], parts[1]
    if not _SUBJECT.match(subject):
        return f"{subject!r} is not a task or epic ID"
    if "->" not in change:
        return f"{change!r} is not a `<from>-><to>` change"
    source, target = change.split("->", 1)
    if not _STATE.match(source) or not _STATE.match(target):
        return f"{change!r} is not a `<from>-><to>` change"
    if source == NONE_STATE and target == NONE_STATE:
        return "`none->none` changes nothing"
    pairs = parse_pairs(parts[2] if len(parts) > 2 else "")
    if pairs is None:
        return "values with spaces must be double-quoted (key=\"a b\")"
    for required in ("action", "by", "id"):
        if not pairs.get(required):
            return f"missing {required}="
    action, by, ulid = pairs.pop("action"), pairs.pop("by"), pairs.pop("id")
    force = pairs.pop("force", "0") not in ("0", "", "false")
    return Transition(subject, None if source == NONE_STATE else source, target, action, by, ulid,
                      force, tuple(pairs.items()), line, origin)


def parse_review(value: str, *, line: int = 0,
                 origin: SquashOrigin | None = None) -> Review | str:
    """One ``Flow-Review`` value; a reason string when it is malformed."""
    from git_flowctl.model.reviews import KINDS, VERDICTS

    parts = _BLANKS.split(value.strip(" \t"), maxsplit=1)
    if not parts or not _SUBJECT.match(parts[0]):
        return "expected `<id> kind=... verdict=... by=... id=...`"
    pairs = parse_pairs(parts[1] if len(parts) > 1 else "")
    if pairs is None:
        return "values with spaces must be double-quoted (key=\"a b\")"
    for required in ("kind", "verdict", "by", "id"):
        if not pairs.get(required):
            return f"missing {required}="
    kind, verdict = pairs.pop("kind"), pairs.pop("verdict")
    if kind not in KINDS:
        return f"kind={kind} is not {' or '.join(KINDS)}"
    if verdict not in VERDICTS:
        return f"verdict={verdict} is not {', '.join(VERDICTS)}"
    by, ulid = pairs.pop("by"), pairs.pop("id")
    return Review(parts[0], kind, verdict, by, ulid, tuple(pairs.items()), line, origin)


def parse_gap(value: str, *, line: int = 0, origin: SquashOrigin | None = None) -> GapChange | str:
    """One ``Flow-Gap`` value; a reason string when it is malformed."""
    parts = _BLANKS.split(value.strip(" \t"), maxsplit=2)
    expected = "expected `<gap-id> <from>-><to> action=... epic=... priority=... by=... id=...`"
    if len(parts) < 3 or not _SUBJECT.match(parts[0]) or "->" not in parts[1]:
        return expected
    source, target = parts[1].split("->", 1)
    if source not in (NONE_STATE, *GAP_STATES) or target not in GAP_STATES:
        return f"{parts[1]!r} is not a change between none, {', '.join(GAP_STATES)}"
    pairs = parse_pairs(parts[2])
    if pairs is None:
        return "values with spaces must be double-quoted (key=\"a b\")"
    for required in ("action", "epic", "priority", "by", "id"):
        if not pairs.get(required):
            return f"missing {required}="
    if not _SUBJECT.match(pairs["epic"]) or pairs["priority"] not in GAP_PRIORITIES:
        return expected
    return GapChange(parts[0], None if source == NONE_STATE else source, target, pairs["action"],
                     pairs["epic"], pairs["priority"], pairs["by"], pairs["id"], line, origin)


def parse_landed(value: str, *, line: int = 0,
                 origin: SquashOrigin | None = None) -> Landed | str:
    """One ``Flow-Landed`` value; a reason string when it is malformed."""
    parts = _BLANKS.split(value.strip(" \t"), maxsplit=1)
    if not parts or not _SUBJECT.match(parts[0]) or "." not in parts[0]:
        return "expected `<task-id> commit=<sha>`"
    pairs = parse_pairs(parts[1] if len(parts) > 1 else "")
    if pairs is None:
        return "values with spaces must be double-quoted (key=\"a b\")"
    commit = pairs.pop("commit", "")
    if not _COMMIT_ID.match(commit):
        return "missing commit=<sha> (7 to 64 hexadecimal digits)"
    return Landed(parts[0], commit, tuple(pairs.items()), line, origin)


@dataclass
class _Segment:
    origin: SquashOrigin | None
    lines: list[tuple[int, str]] = field(default_factory=list)


def _segments(lines: list[str]) -> list[_Segment]:
    """Split a message into its own lines and the squashed messages it holds (if any).

    A squashed message starts with an unindented ``commit <sha>`` line followed by header lines
    (``Author:``, ``Date:``); its body is the indented lines after them. Unindented lines that
    follow belong to the commit's own text again. Without such headers there is one segment.
    """
    own = _Segment(None)
    squashed: list[_Segment] = []
    current: _Segment | None = None
    in_headers = False
    fields: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        header = _SQUASH_COMMIT.match(raw)
        if header is not None and (number + 1 > len(lines) or _SQUASH_HEADER.match(lines[number])):
            current = _Segment(SquashOrigin(header.group("sha")))
            squashed.append(current)
            in_headers, fields = True, {}
            continue
        if current is not None and in_headers:
            field_match = _SQUASH_HEADER.match(raw)
            if field_match is not None:
                fields[field_match.group("key")] = field_match.group("value").strip()
                current.origin = _origin_with(current.origin, fields)
                continue
            in_headers = False
        if current is not None and (raw.startswith((" ", "\t")) or not raw.strip()):
            current.lines.append((number, raw))
            continue
        current = None
        own.lines.append((number, raw))
    # git lists squashed commits newest first; they took effect oldest first, then the own text.
    return [*reversed(squashed), own]


def _origin_with(origin: SquashOrigin | None, fields: dict[str, str]) -> SquashOrigin:
    from datetime import datetime

    assert origin is not None
    date = fields.get("Date") or fields.get("AuthorDate")
    timestamp = offset = None
    if date:
        try:
            parsed = datetime.strptime(date, _SQUASH_DATE_FORMAT)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.utcoffset() is not None:
            timestamp = int(parsed.timestamp())
            delta = parsed.utcoffset()
            offset = int(delta.total_seconds() // 60) if delta is not None else None
    return SquashOrigin(origin.commit, fields.get("Author"), date, timestamp, offset)


def parse_message(message: str) -> Trailers:
    """Every flow trailer line in the trailer blocks of a commit message (its own, and those of
    the messages a squash holds), and its revert lines."""
    if "reverts commit" not in message and "flow-" not in message.lower():
        return Trailers()
    quick = _parse_canonical(message)
    if quick is not None:
        return quick
    found = Trailers()
    # Lines end at LF (a CR before it is dropped), as git splits them.
    lines = [line[:-1] if line.endswith("\r") else line for line in message.split("\n")]
    segments = _segments(lines) if "\ncommit " in message else _bullet_segments(lines)
    for segment in segments:
        if segment.origin is not None:
            found.origins.append(segment.origin)
        for number, raw, in_block in _readable_lines(segment):
            if in_block:
                _parse_line(found, number, raw, segment.origin)
            else:
                _parse_revert(found, number, raw, segment.origin)
    return found


def parse_lines(text: str) -> Trailers:
    """Trailer lines the tool keeps outside a commit message (the lines a ``--no-commit``
    change waits to add, pending.py), each read as a line of a trailer block."""
    found = Trailers()
    for number, raw in enumerate(text.split("\n"), start=1):
        _parse_line(found, number, raw[:-1] if raw.endswith("\r") else raw, None)
    return found


def _paragraphs(lines: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """Runs of non-blank lines (a blank line holds nothing but spaces and tabs)."""
    paragraphs: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for item in lines:
        if item[1].strip(" \t"):
            current.append(item)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _readable_lines(segment: _Segment) -> Iterable[tuple[int, str, bool]]:
    """The lines of one message that may hold steps, each with whether it is in the trailer
    block: every paragraph but the first (the subject); the block is the last paragraph and,
    when it holds only trailer lines, the paragraphs of only trailer lines just before it
    (GitHub puts co-authors apart)."""
    paragraphs = _paragraphs(segment.lines)
    if len(paragraphs) < 2:
        return
    indent = 4 if segment.origin is not None else 0  # git indents a squashed message
    block_start = len(paragraphs) - 1
    while block_start > 1 and all(_TRAILER_LINE.fullmatch(_dedent(raw, indent))
                                  for paragraph in paragraphs[block_start - 1:]
                                  for _, raw in paragraph):
        block_start -= 1
    for place, paragraph in enumerate(paragraphs[1:], start=1):
        for number, raw in paragraph:
            yield number, raw, place >= block_start


def _dedent(raw: str, indent: int) -> str:
    return raw[indent:] if indent and raw.startswith(" " * indent) else raw


def _bullet_segments(lines: list[str]) -> list[_Segment]:
    """GitHub's squash message: the subject, then each squashed commit's message oldest first,
    its first line starting with ``* ``, then maybe a line of dashes and co-authors (the
    message's own lines). A message with no such bullet is one segment."""
    own = _Segment(None)
    segments: list[_Segment] = []
    current = own
    previous_blank = False
    for number, raw in enumerate(lines, start=1):
        starts_paragraph = previous_blank or number == 1
        if starts_paragraph and number > 1 and raw.startswith("* "):
            current = _Segment(None)
            segments.append(current)
        elif starts_paragraph and current is not own and _SEPARATOR.fullmatch(raw):
            current = own
        current.lines.append((number, raw))
        previous_blank = not raw.strip(" \t")
    return [*segments, own] if segments else [own]


def _parse_canonical(message: str) -> Trailers | None:
    lines = canonical_lines(message)
    if lines is None:
        return None
    # The n-th canonical line is the n-th line that says "flow-" (each says it once).
    numbers = [number for number, line in enumerate(message.split("\n"), start=1)
               if "flow-" in line.lower()]
    found = Trailers()
    for number, (subject, source, target, action, by, ulid, force, evidence_subject, pairs) \
            in zip(numbers, lines, strict=True):
        if subject:
            found.transitions.append(Transition(subject, None if source == NONE_STATE else source,
                                                target, action, by, ulid, bool(force), (), number))
        else:
            fields = dict(pair.split("=", 1) for pair in pairs.split(" ") if pair)
            found.evidence.append(Evidence(evidence_subject, tuple(fields.items()), number))
    found.steps.extend(found.transitions)
    return found


def _parse_revert(found: Trailers, number: int, raw: str, origin: SquashOrigin | None) -> None:
    revert = _REVERT.fullmatch(raw) if "reverts commit" in raw else None
    if revert:
        sha = revert.group("sha") or revert.group("short")
        found.reverts.append(sha)
        found.steps.append(Revert(sha, number, origin))


def _parse_line(found: Trailers, number: int, raw: str, origin: SquashOrigin | None) -> None:
    if "flow-" not in raw.lower():
        _parse_revert(found, number, raw, origin)
        return
    canonical = CANONICAL_TRANSITION.fullmatch(raw)
    if canonical is not None:
        source = canonical["source"]
        transition = Transition(canonical["subject"], None if source == NONE_STATE else source,
                                canonical["target"], canonical["action"], canonical["by"],
                                canonical["id"], canonical["force"] is not None, (), number, origin)
        found.transitions.append(transition)
        found.steps.append(transition)
        return
    canonical = CANONICAL_EVIDENCE.fullmatch(raw)
    if canonical is not None:
        fields = dict(pair.split("=", 1) for pair in canonical["pairs"].split(" ") if pair)
        found.evidence.append(Evidence(canonical["evidence_subject"], tuple(fields.items()), number,
                                       origin))
        return
    match = _LINE.match(raw)
    if match is None:
        return
    key, value = match.group("key").lower(), match.group("value")
    if key == TRANSITION_KEY.lower():
        parsed = parse_transition(value, line=number, origin=origin)
        if isinstance(parsed, str):
            found.malformed.append(Malformed(number, raw.strip(), parsed))
        else:
            found.transitions.append(parsed)
            found.steps.append(parsed)
    elif key == EVIDENCE_KEY.lower():
        parts = [part for part in _BLANKS.split(value.strip(" \t"), maxsplit=1) if part]
        pairs = parse_pairs(parts[1]) if len(parts) == 2 else {}
        if not parts or not _SUBJECT.match(parts[0]) or pairs is None:
            found.malformed.append(Malformed(number, raw.strip(),
                                             "expected `<task-id> key=value ...`"))
        else:
            found.evidence.append(Evidence(parts[0], tuple(pairs.items()), number, origin))
    elif key == RENAME_KEY.lower():
        parts = _BLANKS.split(value.strip(" \t"))
        if len(parts) != 2 or not all(_SUBJECT.match(part) for part in parts):
            found.malformed.append(Malformed(number, raw.strip(), "expected `<old-id> <new-id>`"))
        else:
            rename = Rename(parts[0], parts[1], number, origin)
            found.renames.append(rename)
            found.steps.append(rename)
    elif key == REVIEW_KEY.lower():
        review = parse_review(value, line=number, origin=origin)
        if isinstance(review, str):
            found.malformed.append(Malformed(number, raw.strip(), review))
        else:
            found.reviews.append(review)
            found.steps.append(review)
    elif key == GAP_KEY.lower():
        gap = parse_gap(value, line=number, origin=origin)
        if isinstance(gap, str):
            found.malformed.append(Malformed(number, raw.strip(), gap))
        else:
            found.gaps.append(gap)
    elif key == LANDED_KEY.lower():
        landed = parse_landed(value, line=number, origin=origin)
        if isinstance(landed, str):
            found.malformed.append(Malformed(number, raw.strip(), landed))
        else:
            found.landings.append(landed)
            found.steps.append(landed)
    elif key == ARCHIVE_KEY.lower():
        if _SUBJECT.match(value):
            found.archived.append(value)
            found.steps.append(Archive(value, number, origin))
        else:
            found.malformed.append(Malformed(number, raw.strip(), "expected `Flow-Archive: <id>`"))
    else:
        if _SUBJECT.match(value):
            found.task_refs.append(value)
        else:
            found.malformed.append(Malformed(number, raw.strip(), "expected `Flow-Task: <task-id>`"))


def compose_message(subject: str, body: str | None, trailer_lines: Iterable[str]) -> str:
    """A commit message: subject, optional body, then one trailer block. The subject and body
    carry user text (titles, ``-m``): the subject is made one line and body lines that would
    read as flow trailers, reverts or squash headers are quoted (model/text.py), so the trailer
    block holds only ``trailer_lines``."""
    from git_flowctl.model.text import neutralize_body, one_line

    parts = [one_line(subject).strip()]
    if body and body.strip():
        parts.append(neutralize_body(body.strip()))
    lines = list(trailer_lines)
    if lines:
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# Claims (issue #7, docs/claims.md) --------------------------------------------------------------
#
#     Flow-Claim: <task-id> state=held holder=<actor> since=<time> until=<time> branch=<ref> ...
#
# The one line of a claim commit (the object a ``refs/flow/claims/<task-id>`` ref points at). It
# never appears in a branch's history, so ``parse_message`` does not look for it.

# The claim line is read by `ready` and `next` on their lean path too: CLAIM_KEY and
# parse_claim live in trailerfast.py.


def format_claim(subject: str, pairs: Mapping[str, str]) -> str:
    return f"{CLAIM_KEY}: {subject} {format_pairs(pairs)}"
