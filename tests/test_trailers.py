"""The trailer grammar (docs/trailers.md): the spec's examples, the fast path, squash order."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from git_flowctl.model.trailers import (
    Revert,
    Transition,
    format_pairs,
    parse_message,
    parse_pairs,
    parse_transition,
)

SPEC = Path(__file__).resolve().parent.parent / "docs" / "trailers.md"
EXAMPLE = re.compile(r"```message\n(?P<message>.*?)```\s*```json\n(?P<expected>.*?)```", re.S)


def _normalized(message: str) -> dict[str, Any]:
    parsed = parse_message(message)
    transitions = []
    for item in parsed.transitions:
        entry: dict[str, Any] = {"subject": item.subject, "from": item.source, "to": item.target,
                                 "action": item.action, "by": item.by, "id": item.id,
                                 "force": item.force, "extra": dict(item.extra)}
        if item.origin is not None:
            entry["origin"] = {"commit": item.origin.commit, "author": item.origin.author,
                               "timestamp": item.origin.timestamp}
        transitions.append(entry)
    return {
        "transitions": transitions,
        "evidence": [{"subject": e.subject, "fields": dict(e.fields)} for e in parsed.evidence],
        "task_refs": parsed.task_refs,
        "malformed": [m.line_number for m in parsed.malformed],
        "reverts": parsed.reverts,
        "renames": [[r.old, r.new] for r in parsed.renames],
        "archived": parsed.archived,
        "reviews": [{"subject": r.subject, "kind": r.kind, "verdict": r.verdict, "by": r.by,
                     "id": r.id, "extra": dict(r.extra)} for r in parsed.reviews],
        "gaps": [{"subject": g.subject, "from": g.source, "to": g.target, "action": g.action,
                  "epic": g.epic, "priority": g.priority, "by": g.by, "id": g.id}
                 for g in parsed.gaps],
    }


def _examples() -> list[tuple[str, dict[str, Any]]]:
    found = [(m["message"], json.loads(m["expected"])) for m in EXAMPLE.finditer(SPEC.read_text())]
    assert len(found) >= 6, "the spec lost its examples"
    return found


@pytest.mark.parametrize("message,expected", _examples())
def test_every_example_in_the_spec_parses_as_the_spec_says(message: str, expected: dict[str, Any]) -> None:
    actual = _normalized(message)
    for key, value in expected.items():
        assert actual[key] == value, (key, actual[key])
    for key in ("transitions", "evidence", "task_refs", "malformed", "renames", "archived",
                "reviews", "gaps"):
        if key not in expected:
            assert actual[key] == [], (key, actual[key])


CANONICAL_LINES = [
    "Flow-Transition: fn-1-a.2 todo->in_progress action=start by=alice@example.com id=01JD3Q6X5M3N8Q2R7T9VWXYZ0A",
    "    Flow-Transition: fn-1-a.2 none->todo action=create by=a id=X force=1",
    "Flow-Transition:fn-1-a done->open action=reopen by=a\\b id=Y  ",
    "Flow-Transition: fn-1-a.2 none->none action=create by=a id=Z",
    "Flow-Evidence: fn-1-a.2 commits=abc,def tests=pytest exit=0",
    "Flow-Evidence: fn-1-a.2 empty= a=b=c",
    "Flow-Evidence: fn-1-a.2",
    "\tFlow-Evidence: fn-1-a.2 k=\u00a0v",
]
GENERAL_LINES = [
    'Flow-Transition: fn-1-a.2 todo->in_progress by=alice action=start id=01J note="a b"',
    "flow-transition: fn-1-a.2 todo->done action=done by=a id=X force=0",
    "Flow-Transition : fn-1-a.2 todo->done action=done by=a id=X",
    'Flow-Evidence: fn-1-a.2 tests="pytest -q" commits=abc',
    "Flow-Transition: fn-1-a.2\ttodo->done\taction=done by=a id=X",
    "Flow-Transition: fn-1-a.2 todo->done action=done by=a id=X extra=1 extra=2",
]


def _general(line: str) -> Any:
    """What the general path (no canonical shortcut) makes of one line."""
    key, _, value = line.strip(" \t").partition(":")
    value = value.strip(" \t")
    if key.strip().lower() == "flow-transition":
        return parse_transition(value, line=1)
    subject, _, rest = value.partition(" ")
    return (subject, tuple((parse_pairs(rest) or {}).items()))


@pytest.mark.parametrize("line", CANONICAL_LINES + GENERAL_LINES)
def test_the_shortcut_for_canonical_lines_gives_what_the_general_parser_gives(line: str) -> None:
    parsed = parse_message(f"subject\n\n{line}")
    expected = _general(line)
    if isinstance(expected, str):  # malformed for the general path: malformed here too
        assert parsed.transitions == [] and len(parsed.malformed) == 1
    elif isinstance(expected, Transition):
        assert parsed.transitions == [expected]
        assert parsed.transitions[0].line_number == 3
    else:
        assert [(e.subject, e.fields) for e in parsed.evidence] == [expected]


def test_values_round_trip_through_format_and_parse() -> None:
    values = {"plain": "abc", "space": "a b", "quote": 'say "hi"', "slash": "a\\b", "empty": "",
              "tab": "a\tb", "unicode": "café ✓", "equals": "a=b"}
    assert parse_pairs(format_pairs(values)) == values


def test_a_squash_message_applies_its_commits_oldest_first_with_their_own_dates() -> None:
    message = (
        "Squashed commit of the following:\n\n"
        "commit " + "b" * 40 + "\nAuthor: Bob <bob@example.com>\nDate:   Tue Jan 6 11:00:00 2026 +0100\n\n"
        "    flow: done\n\n    Flow-Transition: t.1 in_progress->done action=done by=bob id=B\n"
        "    This reverts commit " + "c" * 40 + ".\n\n"
        "commit " + "a" * 40 + "\nAuthor: Ann <ann@example.com>\nDate:   Mon Jan 5 10:00:00 2026 +0000\n\n"
        "    flow: start\n\n    Flow-Transition: t.1 todo->in_progress action=start by=ann id=A\n\n"
        "Flow-Transition: t.2 none->todo action=create by=me id=C\n"
    )
    parsed = parse_message(message)
    steps = [(s.id if isinstance(s, Transition) else f"revert {s.commit[:1]}") for s in parsed.steps]
    assert steps == ["A", "B", "revert c", "C"]
    first, second, own = parsed.transitions
    assert first.origin is not None and first.origin.commit == "a" * 40
    assert first.origin.timestamp == 1767607200 and first.origin.author == "Ann <ann@example.com>"
    assert second.origin is not None and second.origin.offset_minutes == 60
    assert second.origin.timestamp == 1767693600
    assert own.origin is None
    assert isinstance(parsed.steps[2], Revert) and parsed.reverts == ["c" * 40]


def test_garbage_never_raises() -> None:
    for message in ["", "\n\n", "Flow-Transition:", "Flow-Transition: \u2028 x->y", "Flow-Task: !!",
                    "commit " + "a" * 40 + "\n", "commit " + "a" * 40 + "\nDate: nonsense\n    x",
                    "Flow-Evidence: \"unterminated", "This reverts commit zzz.", "\r\n" * 3]:
        parse_message(message)


def test_whole_message_shortcut_agrees_with_the_line_by_line_parser() -> None:
    import random

    from git_flowctl.model import trailers

    pool = [*CANONICAL_LINES, *GENERAL_LINES, "flow: start fn-1.1", "", "Some body text",
            "Flow-Task: fn-1-a.3", "Flow-Transition: fn-1-flow-x.1 todo->done action=done by=a id=F",
            "Flow-Transition: fn-1.1 todo->done action=done by=a id=W\r",
            "Flow-Transition: fn-1.1 todo->done action=done by=a id=W\r\r",
            "Flow-Transition: fn-1.1 todo->done action=done by=a id=a\rb",
            "Flow-Evidence: fn-1.1 tests=x\r", "x Flow-Transition: fn-1.1 a->b action=a by=b id=c",
            "Flow-Transition:\tfn-1.1 todo->done action=done by=a id=T1",
            "Flow-Transition: fn-1.1  todo->done action=done by=a id=T2",
            "Flow-Transition: fn-1.1 todo->done action=done by=a id=T3 \t ",
            'Flow-Transition: fn-1.1 todo->done action=done by="a b" id=T4',
            "Flow-Transition: fn-1.1 none->todo action=create by=a id=T5 force=1",
            "Flow-Transition: fn-1.1 todo->done action=done by=a id=T6 force=1 x=y",
            "   Flow-Evidence: fn-1.1 a=1  b=2", "FLOW-TRANSITION: fn-1.1 todo->done action=a by=b id=T7"]
    generator = random.Random(5)
    shortcut = 0
    for _ in range(600):
        block = [generator.choice(pool) for _ in range(generator.randint(1, 6))]
        # Sometimes a body before the block, holding a flow line that is not in the block.
        body = generator.choice(["", "Some body text\n\n", "Text\nFlow-Transition: fn-9.9 "
                                 "todo->done action=done by=x id=BODY\n\n"])
        message = f"flow: start fn-1.1\n\n{body}" + "\n".join(block)
        shortcut += trailers.canonical_lines(message) is not None
        reference = trailers.Trailers()
        for number, line in _reference_block(message):
            trailers._parse_line(reference, number, line, None)
        parsed = parse_message(message)
        for key in ("transitions", "evidence", "task_refs", "malformed", "steps"):
            assert getattr(parsed, key) == getattr(reference, key), (key, message)
        assert [t.line_number for t in parsed.transitions] == \
            [t.line_number for t in reference.transitions], message
        assert [e.line_number for e in parsed.evidence] == [e.line_number for e in reference.evidence]
        if any(line.strip() for line in block):  # the body's paragraph is not the last one
            assert "BODY" not in [t.id for t in parsed.transitions]
    assert shortcut >= 25  # the shortcut answered often enough to be what was checked


def _reference_block(message: str) -> list[tuple[int, str]]:
    """The trailer block as docs/trailers.md defines it, written out plainly: the last
    paragraph, and when it is made only of trailer lines the paragraphs before it made only of
    trailer lines, never the first."""
    paragraphs: list[list[tuple[int, str]]] = [[]]
    for number, line in enumerate(message.split("\n"), start=1):
        line = line[:-1] if line.endswith("\r") else line
        if line.strip(" \t"):
            paragraphs[-1].append((number, line))
        elif paragraphs[-1]:
            paragraphs.append([])
    paragraphs = [p for p in paragraphs if p]
    if len(paragraphs) < 2:
        return []
    start = len(paragraphs) - 1
    trailer = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*[ \t]*:.*|[ \t]+\S.*", re.ASCII)
    while start > 1 and all(trailer.fullmatch(line) for paragraph in paragraphs[start - 1:]
                            for _, line in paragraph):
        start -= 1
    return [item for paragraph in paragraphs[start:] for item in paragraph]
