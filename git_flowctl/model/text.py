"""User text on its way into files and commit messages: data, never structure (docs/security.md).

Titles, ``-m`` messages, reasons, summaries and evidence are written by people and agents, and
some arrive from cloned repositories. None of it may become a trailer line, a revert line or a
squash header in a commit message (replay reads those, docs/trailers.md), and none of it may
hold what a file or a message cannot carry (lone surrogates from non-UTF-8 input, line breaks in
a one-line field). This module is the one place that says how such text is checked or made
harmless; the writer (``trailers.compose_message``) and the commands call it.
"""

from __future__ import annotations

import re

from git_flowctl.model.errors import FlowError

# C0 and C1 control characters, DEL, and Unicode's line and paragraph separators: none of them
# belongs in a one-line field (a title, an actor). Tab too: it would read as a separator.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Lines of a message body that replay, git or a squash would read as structure
# (trailers.parse_message): a flow trailer, a revert line, a squashed commit's header.
_STRUCTURAL_LINE = re.compile(
    r"^[ \t]*(?:flow-[a-z0-9-]*[ \t]*:|this reverts commit|commit [0-9a-f]{7,64}\b)",
    re.IGNORECASE)
NEUTRALIZED_PREFIX = "> "


def not_utf8(text: str) -> bool:
    """True when ``text`` holds lone surrogates (bytes that were not UTF-8, decoded with
    surrogateescape: command-line arguments and environment variables)."""
    return _SURROGATE.search(text) is not None


def require_utf8(text: str, what: str) -> str:
    if not_utf8(text):
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise FlowError(f"{what} is not valid UTF-8: {shown!r}",
                        hint="pass text as UTF-8 (check the terminal's or the script's encoding)")
    return text


def one_line_field(text: str, what: str) -> str:
    """A one-line field (a title, an actor) as given, without surrounding spaces; refused
    (exit 1) when it holds a line break or another control character, or is not UTF-8, so that
    nothing is silently dropped."""
    require_utf8(text, what)
    found = _CONTROL.search(text)
    if found is not None:
        raise FlowError(f"{what} holds a control character ({found.group()!r} at position "
                        f"{found.start() + 1}): it must be one line of text",
                        hint="remove line breaks, tabs and other control characters")
    return text.strip(" ")


def one_line(text: str) -> str:
    """``text`` as one line for a commit subject: every control character becomes a space."""
    return _CONTROL.sub(" ", text)


def neutralize_body(text: str) -> str:
    """A commit message body in which no line reads as a flow trailer, a revert or a squash
    header: such lines get ``> `` in front (as a quotation), every other line is kept."""
    lines = text.split("\n")
    return "\n".join(f"{NEUTRALIZED_PREFIX}{line}" if _STRUCTURAL_LINE.match(line) else line
                     for line in lines)
