"""The trailer grammar's shared pieces, and canonical lines read in one step.

docs/trailers.md is the grammar and ``trailers.py`` its parser; both build on what is defined
here, once: the patterns of an ID, a state and a key, how values are quoted, ``key=value`` pairs,
and the exact form of the lines this tool writes. ``canonical_lines`` reads a message made of
such lines (nearly every message of a long history) with one regular expression, without
loading ``trailers.py``, which keeps replay's lean path fast (issue #5, bench/bench_replay.py).
A message with anything else is for ``trailers.parse_message``; both give the same transitions
(tests/test_trailers.py, tests/test_history.py).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing costs start-up time that replay's lean path avoids
if TYPE_CHECKING:
    from collections.abc import Mapping

NONE_STATE = "none"

# Pattern sources of the grammar's tokens (compiled with re.ASCII).
SUBJECT = r"[A-Za-z0-9][\w.-]*"  # an epic or task ID
STATE = r"[a-z_]+"
KEY = r"[A-Za-z][\w.-]*"


class Lazy:
    """A regular expression compiled on first use: most commands never parse a trailer line,
    and `log` after one new commit parses one (start-up time, bench/bench_replay.py)."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._source = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(*self._source)
        return self._compiled

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self.pattern.match(text, pos)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self.pattern.fullmatch(text)

    def search(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(text)

    def split(self, text: str, maxsplit: int = 0) -> list[str]:
        return self.pattern.split(text, maxsplit=maxsplit)


_CLAIM_LINE = Lazy(r"^[ \t]*Flow-Claim[ \t]*:[ \t]*(?P<value>.*?)[ \t]*$", re.IGNORECASE)
_SUBJECT_ONLY = Lazy(rf"^{SUBJECT}$", re.ASCII)
CLAIM_KEY = "Flow-Claim"
_PAIR = Lazy(rf'(?P<key>{KEY})=(?P<value>"(?:[^"\\]|\\.)*"|[^ \t"]*)(?=[ \t]|$)', re.ASCII)
_BARE = Lazy(r'^[^ \t"\\]+$')
# The lines as this tool writes them (bare values, keys in order): read in one step. Anything
# else goes through trailers.py's general path, which gives the same result. A bare value holds
# no newline (no line does): the patterns also match within a whole message.
_BARE_VALUE = r'[^ \t"\n]'
_TRANSITION_LINE = (  # none->none changes nothing: malformed, for the general path to report
    rf"Flow-Transition:[ \t]*(?P<subject>{SUBJECT}) (?!none->none )(?P<source>{STATE})->(?P<target>{STATE})"
    rf" action=(?P<action>{_BARE_VALUE}+) by=(?P<by>{_BARE_VALUE}+) id=(?P<id>{_BARE_VALUE}+)"
    r"(?P<force> force=1)?")
_EVIDENCE_LINE = (rf"Flow-Evidence:[ \t]*(?P<evidence_subject>{SUBJECT})"
                  rf"(?P<pairs>(?: {KEY}={_BARE_VALUE}*)*)")
CANONICAL_TRANSITION = Lazy(rf"[ \t]*{_TRANSITION_LINE}[ \t]*", re.ASCII)  # one line
CANONICAL_EVIDENCE = Lazy(rf"[ \t]*{_EVIDENCE_LINE}[ \t]*", re.ASCII)
# Each of them in "\n" + message: beginning with a newline, the pattern lets re jump from line to
# line instead of trying every position as `^` in MULTILINE does (a fifth faster on a long log).
# A line counts only in the trailer block (docs/trailers.md, section 1): the line after it is a
# flow line too (which must match in turn), or the message ends (a NUL between records). A flow
# line that is not canonical, or not in the trailer block, is counted by no match, so the count
# of "flow-" sends the message to the general parser.
_CANONICAL_LINE = (rf"\n[ \t]*Flow-(?:{_TRANSITION_LINE[5:]}|{_EVIDENCE_LINE[5:]})[ \t]*"
                   r"(?=\n[ \t]*Flow-|\n*(?:\0|\Z))")
_CANONICAL_LINES = Lazy(_CANONICAL_LINE, re.ASCII)
# A block of `git log -z` records in history._LOG_FORMAT, each preceded by a NUL: a record's
# commit, parents and author (3 groups, empty for a line), or one of its canonical lines (the 9
# groups of CanonicalLine, empty for a record). history._NewestFirst.add_block reads it, having
# checked that each record has exactly three separators (what the fields hold is git's: a
# negated set is matched a quarter faster than hex digits). A record's match takes in its
# message's first paragraph (the subject), so no flow line there is counted.
LOG_BLOCK = Lazy(rf"\0([^\x1f]*)\x1f([^\x1f]*)\x1f([^\x1f]*)\x1f[^\n\0]*(?:\n[^\n\0]+)*|{_CANONICAL_LINE}",
                 re.ASCII)


def quote(value: str) -> str:
    if value and value.isprintable() and " " not in value and '"' not in value \
            and "\\" not in value:
        return value  # the common case, without a regular expression
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


# A canonical line of a message, as the groups of both patterns: a transition's are (subject,
# from, to, action, by, id, " force=1" or "", "", ""); an evidence line's are ("", "", "", "",
# "", "", "", subject, its pairs as written).
CanonicalLine = tuple[str, str, str, str, str, str, str, str, str]


def canonical_lines(message: str) -> list[CanonicalLine] | None:
    """The flow lines of a message that holds only canonical ones (what this tool writes), all
    in its trailer block, in order; None when the message holds anything else (another flow
    line, a flow line outside the last paragraph, a squash, a revert, a CR, a bullet that may
    start a squashed message), which ``trailers.parse_message`` then reads line by line. One
    regular expression finds every canonical line and the count of ``flow-`` says whether that
    was all, so a long history is read without a Python loop over its lines
    (bench/bench_replay.py)."""
    if "reverts commit" in message or "\ncommit " in message or "\r" in message \
            or "\n* " in message:
        return None
    flow_lines = message.lower().count("flow-")
    if not flow_lines:
        return []
    # Each line found is followed only by flow lines (the pattern); the subject paragraph comes
    # before a blank line, so a message with none holds its flow lines in its subject.
    if message.find("\n\n", 0, len(message.rstrip())) < 0:
        return None
    found: list[CanonicalLine] = _CANONICAL_LINES.pattern.findall(f"\n{message}")
    # Fewer: a line that is not canonical, or more than one "flow-" on a line.
    return found if len(found) == flow_lines else None


def parse_claim(message: str) -> tuple[str, dict[str, str]] | None:
    """The subject and fields of the first well-formed ``Flow-Claim`` line, else None (the
    one line of a claim commit: docs/claims.md)."""
    for raw in message.splitlines():
        match = _CLAIM_LINE.match(raw)
        if match is None:
            continue
        parts = match.group("value").split(None, 1)
        if not parts or not _SUBJECT_ONLY.match(parts[0]):
            continue
        pairs = parse_pairs(parts[1]) if len(parts) == 2 else {}
        if pairs is not None:
            return parts[0], pairs
    return None
