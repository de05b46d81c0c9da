"""The trailer grammar, version 1 (docs/trailers.md is the spec; this is its one parser).

    Flow-Transition: <id> <from>-><to> action=<a> by=<actor> id=<ulid> [force=1] [key=value ...]
    Flow-Evidence: <task-id> key=value ...
    Flow-Task: <task-id>
    Flow-Rename: <old-id> <new-id>
    Flow-Archive: <id>

``from`` is ``none`` for a create. Values are bare (no space, quote or backslash) or
double-quoted with ``\\"`` and ``\\\\`` escapes; no value holds a newline. Lines are found anywhere
in a message, also indented (a ``git merge --squash`` message indents every squashed message by
four spaces), so a squash keeps them. Malformed lines become ``Malformed`` findings, never
exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

TRANSITION_KEY = "Flow-Transition"
EVIDENCE_KEY = "Flow-Evidence"
TASK_KEY = "Flow-Task"
RENAME_KEY = "Flow-Rename"  # `renumber` gave an epic or task a new ID (history follows it)
ARCHIVE_KEY = "Flow-Archive"  # `epic archive` moved an epic or task under .flow/archive/
NONE_STATE = "none"

_LINE = re.compile(r"^[ \t]*(?P<key>Flow-Transition|Flow-Evidence|Flow-Task|Flow-Rename|Flow-Archive)"
                   r"[ \t]*:[ \t]*(?P<value>.*?)[ \t]*$", re.IGNORECASE)
_PAIR = re.compile(r'(?P<key>[A-Za-z][\w.-]*)=(?P<value>"(?:[^"\\]|\\.)*"|[^\s"]*)(?=\s|$)')
_BARE = re.compile(r'^[^\s"\\]+$')
_SUBJECT = re.compile(r"^[A-Za-z0-9][\w.-]*$")
_STATE = re.compile(r"^[a-z_]+$")
_REVERT = re.compile(r"This reverts commit (?P<sha>[0-9a-f]{7,64})")


def quote(value: str) -> str:
    value = " ".join(value.splitlines())
    if _BARE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def format_pairs(pairs: Mapping[str, str]) -> str:
    return " ".join(f"{key}={quote(str(value))}" for key, value in pairs.items())


def parse_pairs(text: str) -> dict[str, str] | None:
    """``k=v k2="a b"`` into a dict; None when anything in ``text`` is not a pair."""
    pairs: dict[str, str] = {}
    position = 0
    text = text.strip()
    while position < len(text):
        while position < len(text) and text[position] in " \t":
            position += 1
        if position >= len(text):
            break
        match = _PAIR.match(text, position)
        if match is None:
            return None
        pairs[match.group("key")] = unquote(match.group("value"))
        position = match.end()
    return pairs


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

    def line(self) -> str:
        return f"{EVIDENCE_KEY}: {self.subject} {format_pairs(dict(self.fields))}"

    def as_dict(self) -> dict[str, str]:
        return dict(self.fields)


@dataclass(frozen=True)
class Rename:
    """An ID that ``renumber`` replaced; ``subject`` is the new ID."""

    old: str
    new: str

    @property
    def subject(self) -> str:
        return self.new

    def line(self) -> str:
        return f"{RENAME_KEY}: {self.old} {self.new}"


@dataclass(frozen=True)
class Archive:
    """An epic or task that ``epic archive`` moved under ``.flow/archive/``."""

    subject: str

    def line(self) -> str:
        return f"{ARCHIVE_KEY}: {self.subject}"


Record = Rename | Archive


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
    renames: list[Rename] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)


def parse_transition(value: str) -> Transition | str:
    """One ``Flow-Transition`` value; a reason string when it is malformed."""
    parts = value.split(None, 2)
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
    pairs = parse_pairs(parts[2] if len(parts) > 2 else "")
    if pairs is None:
        return "values with spaces must be double-quoted (key=\"a b\")"
    for required in ("action", "by", "id"):
        if not pairs.get(required):
            return f"missing {required}="
    action, by, ulid = pairs.pop("action"), pairs.pop("by"), pairs.pop("id")
    force = pairs.pop("force", "0") not in ("0", "", "false")
    return Transition(subject, None if source == NONE_STATE else source, target, action, by, ulid,
                      force, tuple(pairs.items()))


def parse_message(message: str) -> Trailers:
    """Every flow trailer line in a whole commit message (indented squash copies included)."""
    found = Trailers()
    for number, raw in enumerate(message.splitlines(), start=1):
        if "flow-" not in raw.lower():
            revert = _REVERT.search(raw)
            if revert:
                found.reverts.append(revert.group("sha"))
            continue
        match = _LINE.match(raw)
        if match is None:
            continue
        key, value = match.group("key").lower(), match.group("value")
        if key == TRANSITION_KEY.lower():
            parsed = parse_transition(value)
            if isinstance(parsed, str):
                found.malformed.append(Malformed(number, raw.strip(), parsed))
            else:
                found.transitions.append(parsed)
        elif key == EVIDENCE_KEY.lower():
            parts = value.split(None, 1)
            pairs = parse_pairs(parts[1]) if len(parts) == 2 else {}
            if not parts or not _SUBJECT.match(parts[0]) or pairs is None:
                found.malformed.append(Malformed(number, raw.strip(),
                                                 "expected `<task-id> key=value ...`"))
            else:
                found.evidence.append(Evidence(parts[0], tuple(pairs.items())))
        elif key == RENAME_KEY.lower():
            parts = value.split()
            if len(parts) != 2 or not all(_SUBJECT.match(part) for part in parts):
                found.malformed.append(Malformed(number, raw.strip(), "expected `<old-id> <new-id>`"))
            else:
                found.renames.append(Rename(parts[0], parts[1]))
        elif key == ARCHIVE_KEY.lower():
            if _SUBJECT.match(value):
                found.archived.append(value)
            else:
                found.malformed.append(Malformed(number, raw.strip(), "expected `Flow-Archive: <id>`"))
        else:
            if _SUBJECT.match(value):
                found.task_refs.append(value)
            else:
                found.malformed.append(Malformed(number, raw.strip(), "expected `Flow-Task: <task-id>`"))
    return found


def compose_message(subject: str, body: str | None, trailer_lines: Iterable[str]) -> str:
    """A commit message: subject, optional body, then one trailer block."""
    parts = [subject.strip()]
    if body and body.strip():
        parts.append(body.strip())
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

CLAIM_KEY = "Flow-Claim"
_CLAIM_LINE = re.compile(r"^[ \t]*Flow-Claim[ \t]*:[ \t]*(?P<value>.*?)[ \t]*$", re.IGNORECASE)


def format_claim(subject: str, pairs: Mapping[str, str]) -> str:
    return f"{CLAIM_KEY}: {subject} {format_pairs(pairs)}"


def parse_claim(message: str) -> tuple[str, dict[str, str]] | None:
    """The subject and fields of the first well-formed ``Flow-Claim`` line, else None."""
    for raw in message.splitlines():
        match = _CLAIM_LINE.match(raw)
        if match is None:
            continue
        parts = match.group("value").split(None, 1)
        if not parts or not _SUBJECT.match(parts[0]):
            continue
        pairs = parse_pairs(parts[1]) if len(parts) == 2 else {}
        if pairs is not None:
            return parts[0], pairs
    return None
