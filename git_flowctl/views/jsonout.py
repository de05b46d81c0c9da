"""JSON as every command prints it: ``json.dumps(data, indent=2, ensure_ascii=False,
default=str)``, byte for byte, about three times faster.

The standard library's encoder runs in C only without ``indent``; with it, every value goes
through Python generators, which made `tasks --json` of 5,000 tasks spend more on printing than
on everything else (issue #11). Here containers are joined from their items' text and strings
go through the C string encoder. Standard library only: the lean read path (views/lean.py) and
the click commands (output.py) print through ``print_json``, so both print the same bytes
(tests/test_jsonout.py compares with ``json.dumps`` over generated data).
"""

from __future__ import annotations

import sys

try:  # the C string encoder, without loading the json package's decoder and scanner
    from _json import encode_basestring
except ImportError:  # another Python: json.encoder's own
    from json.encoder import encode_basestring

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from typing import Any

_INFINITY = float("inf")


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def dumps(data: Any) -> str:
    """``json.dumps(data, indent=2, ensure_ascii=False, default=str)``."""
    keys: dict[Any, str] = {}

    def text(value: Any, indent: str) -> str:
        kind = type(value)
        if kind is str:
            return encode_basestring(value)
        if value is None:
            return "null"
        if value is True:
            return "true"
        if value is False:
            return "false"
        if kind is int:
            return int.__repr__(value)
        if kind is dict:
            if not value:
                return "{}"
            inner = indent + "  "
            parts = []
            for key, item in value.items():
                label = keys.get(key) if type(key) is str else None
                if label is None:
                    label = encode_basestring(_key(key)) + ": "
                    if type(key) is str:
                        keys[key] = label
                parts.append(label + (encode_basestring(item) if type(item) is str else text(item, inner)))
            return "{\n" + inner + (",\n" + inner).join(parts) + "\n" + indent + "}"
        if kind is list or kind is tuple:
            if not value:
                return "[]"
            inner = indent + "  "
            return "[\n" + inner + (",\n" + inner).join(
                [encode_basestring(item) if type(item) is str else text(item, inner) for item in value]
            ) + "\n" + indent + "]"
        return other(value, indent)

    def other(value: Any, indent: str) -> str:
        """Subclasses and everything else, in the order ``json.encoder`` tries them."""
        if isinstance(value, str):
            return encode_basestring(value)
        if isinstance(value, int):
            return int.__repr__(value)
        if isinstance(value, float):
            return _float(value)
        if isinstance(value, (list, tuple)):
            return text(list(value), indent)
        if isinstance(value, dict):
            return text(dict(value), indent)
        return text(str(value), indent)  # default=str

    def into(value: Any, indent: str, out: list[str], depth: int) -> None:
        """The outer containers (a command's payload and its lists) as pieces of one text:
        joined once, not copied at each level (`tasks --json` at 50,000 tasks, issue #11)."""
        kind = type(value)
        if depth == 0 or (kind is not dict and kind is not list) or not value:
            out.append(text(value, indent))
            return
        inner = indent + "  "
        out.append("{\n" + inner if kind is dict else "[\n" + inner)
        first = True
        for key, item in value.items() if kind is dict else enumerate(value):
            if not first:
                out.append(",\n" + inner)
            first = False
            if kind is dict:
                label = keys.get(key) if type(key) is str else None
                if label is None:
                    label = encode_basestring(_key(key)) + ": "
                    if type(key) is str:
                        keys[key] = label
                out.append(label)
            into(item, inner, out, depth - 1)
        out.append("\n" + indent + ("}" if kind is dict else "]"))

    pieces: list[str] = []
    into(data, "", pieces, 2)
    return "".join(pieces)


def print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(dumps(data) + "\n")
    sys.stdout.flush()
