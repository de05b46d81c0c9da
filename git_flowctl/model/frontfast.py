"""Frontmatter in the simple form this tool writes, read without YAML (issue #11).

Parsing thousands of task files with PyYAML made a cold read of a large plan cost seconds, and
importing PyYAML costs a lean read (views/lean.py) more than its whole budget. Nearly every file
is the form ``Document.render`` writes: one ``key: value`` per line, where a value is a plain
scalar, a quoted string or a flow list of those. ``load_simple`` reads exactly that form and
gives what YAML 1.1's safe loader gives (``document.load_yaml``: timestamps kept as text);
for anything else (comments, block lists, nested mappings, floats, escapes, anchors, a repeated
key) it returns None and the caller uses YAML. It errs only towards None: tests compare it with
PyYAML over generated documents (tests/test_frontfast.py).

Plain scalars resolve by YAML 1.1's implicit rules, restricted to what needs no guessing: a
word is a string unless it is a null or boolean word; a number is an integer only in the plain
decimal form; a date or ISO date-time is text (the loader drops the timestamp resolver).
"""

from __future__ import annotations

from git_flowctl.model.trailerfast import Lazy

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (tuples.py)
if TYPE_CHECKING:
    from typing import Any

_NULL = frozenset({"~", "null", "Null", "NULL"})
_BOOL = {word: value for words, value in (
    (("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    (("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False))
    for word in words}

_KEY = r"[A-Za-z_][A-Za-z0-9_-]*"
# Never in a scalar read here: control characters, YAML's line breaks (\x85, \u2028, \u2029),
# the byte-order mark, non-characters; and the characters that could make a plain scalar
# something else (a comment, a mapping, a flow collection, a quote, an escape).
_NEVER = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\ufeff\\ufffe\\uffff"
_PLAIN_CHAR = rf"[^{_NEVER}#:\[\]{{}}\"\\]"
_PLAIN_END = rf"[^{_NEVER}#:\[\]{{}}\"\\ ]"  # a plain scalar's last character: not a space
# A plain scalar that starts with a letter or underscore: YAML 1.1 resolves it to null or a
# boolean for the words below, and to a string otherwise.
_FIRST = r"(?:[A-Za-z_/]|\.(?=[A-Za-z/]))"  # a path (.flow/x, /x) too: no resolver reads those
_WORD = rf"{_FIRST}(?:{_PLAIN_CHAR}*{_PLAIN_END})?"
_FLOATS = frozenset({".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"})  # YAML 1.1 floats
_INTEGER = r"-?(?:0|[1-9][0-9]*)"
_DATE = (r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
         r"(?:T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?")
_SINGLE = rf"'(?:[^'{_NEVER}]|'')*'"
_DOUBLE = rf'"[^"\\{_NEVER}]*"'
_SCALAR = rf"{_WORD}|{_INTEGER}|{_DATE}|{_SINGLE}|{_DOUBLE}"
# In a flow list a plain item also ends at a comma or a bracket, and has single spaces only.
_FLOW_CHAR = rf"[^{_NEVER}#:\[\]{{}}\",\\ ]"
_FLOW_WORD = rf"{_FIRST}(?:{_FLOW_CHAR}| (?={_FLOW_CHAR}))*"
_ITEM = rf"{_FLOW_WORD}|{_INTEGER}|{_DATE}|{_SINGLE}|{_DOUBLE}"
_LIST = rf"\[(?:(?:{_ITEM})(?:, (?:{_ITEM}))*)?\]"
# Compiled on first use: a lean read that shows no file never needs them.
_LINE = Lazy(rf"({_KEY}):(?: +(?:({_LIST})|({_SCALAR})) *| *)")
_ITEMS = Lazy(rf"({_ITEM})(?:, |\])")


def _scalar(text: str) -> Any:
    first = text[0]
    if first == "'":
        return text[1:-1].replace("''", "'")
    if first == '"':
        return text[1:-1]
    if text in _NULL:
        return None
    if text in _BOOL:
        return _BOOL[text]
    if first == "-" or first.isdigit():
        return int(text) if "-" not in text[1:] else text
    return text


def load_simple(text: str) -> dict[str, Any] | None:
    """The mapping of frontmatter in the simple form (see the module docstring), else None."""
    data: dict[str, Any] = {}
    for line in text.split("\n"):
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            return None
        key, listed, scalar = match.groups()
        if key in data or key in _NULL or key in _BOOL:
            return None  # a repeated key, or a key YAML would not read as text
        if listed is not None:
            items = _ITEMS.pattern.findall(listed[1:]) if listed != "[]" else []
            if not _FLOATS.isdisjoint(items):
                return None
            data[key] = [_scalar(item) for item in items]
        elif scalar is not None:
            if scalar.rstrip(" ") in _FLOATS:
                return None
            data[key] = _scalar(scalar.rstrip(" ") if scalar[0] not in "'\"" else scalar)
        else:
            data[key] = None
    return data or None  # no line at all: YAML reads an empty document as None


# Writing the same form -----------------------------------------------------------------------

# A string YAML's dumper writes as it is, read back the same: ASCII words and paths (what task
# files hold) with no character that could make it anything else (document.render_field).
_PLAIN_TEXT = Lazy(r"[A-Za-z_][A-Za-z0-9_ ./@()+-]*")
# A UTC time as flowctl writes `created_at`: YAML's dumper writes it plain (ours resolves no
# timestamps), and both readers read it back as text.
_UTC_TIME = Lazy(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z")


def _plain_text(value: str) -> bool:
    return value not in _NULL and value not in _BOOL and value[-1] != " " \
        and _PLAIN_TEXT.fullmatch(value) is not None


def render_simple(key: str, value: Any) -> str | None:
    """``key: value`` as ``document.render_field`` writes it through YAML, for the values
    that need no YAML (None, booleans, integers, plain words, lists of them); else None."""
    if key in _NULL or key in _BOOL or not _plain_text(key) or " " in key:
        return None
    kind = type(value)
    if value is None:
        text = "null"
    elif kind is bool:
        text = "true" if value else "false"
    elif kind is int:
        text = str(value)
    elif kind is str and value and (_plain_text(value) or _UTC_TIME.fullmatch(value) is not None):
        text = value
    elif kind is str and not value:
        text = "''"
    elif kind is list and all(type(item) is str and item and _plain_text(item) for item in value):
        text = "[" + ", ".join(value) + "]"
    else:
        return None
    return f"{key}: {text}\n"
