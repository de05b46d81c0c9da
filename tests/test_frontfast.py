"""The YAML-free frontmatter reader agrees with YAML wherever it answers (model/frontfast.py)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from conftest import Repo

from git_flowctl.model import document
from git_flowctl.model.frontfast import load_simple

KEYS = ["id", "title", "status", "depends_on", "x-y", "_k", "yes", "on", "null", "Off", "y", "n",
        "key1", "a_b"]
ATOMS = [
    "todo", "Step 1 of epic 2", "fn-1-auth.2", "worker@example.com", "yes", "No", "ON", "off",
    "true", "FALSE", "null", "Null", "~", "y", "n", "0", "00", "012", "7", "-3", "+3", "1_000",
    "0x1f", "0o17", "0b101", "1.5", ".5", "1e3", "1:20", "-0", "2026-01-05", "2026-01-05T10:00:00Z",
    "2026-01-05 10:00:00", "2026-1-5", "it's", "a'b", 'a"b', "a: b", "a:b", "a #b", "a#b", "#x",
    "&a", "*a", "!x", "|", ">", "%x", "@x", "`x", "a, b", "[a]", "{a: 1}", "a]", "a}", "- a", "-",
    "?", "? a", "a ?", "a\tb", "caf\u00e9", "\u00e9t\u00e9", "a\u00a0", "\u2028", "a\\b", "=", "<<",
    ".inf", ".NaN", "a  b", " a", "a ", "'quoted'", "'it''s'", "'a: #b'", '"double"', '"a\\nb"',
    '"a#b"', "''", '""', "'unclosed", "x\ufeff", "ab_c-d/e.f(g)", "a=b", "a|b", "a>b", "a&b", "a*b",
    ".flow/tasks/x.md", "/abs/path", ".inf", ".Inf", ".nan", ".5", "./x", "..", ".", ".x y", "/",
    ".infinity", "-foo",
]


SAFE = ["todo", "Step 1 of epic 2", "fn-1-auth.2", "w@example.com", "7", "-3", "0", "yes", "null",
        ".flow/tasks/fn-1.2.md",
        "2026-01-05T10:00:00Z", "2026-11-28T10:08:00.000000Z", "'it''s: #1'", '"say"', "caf\u00e9", "a'b", "x/y.z"]


def _atom(rng: random.Random) -> str:
    return rng.choice(SAFE if rng.random() < 0.6 else ATOMS)


def _value(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        items = [_atom(rng) for _ in range(rng.randint(0, 3))]
        return "[" + rng.choice([", ", ", ", ",", " , "]).join(items) + "]"
    if roll < 0.3:
        return ""
    return _atom(rng)


def _document(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(1, 4)):
        key = rng.choice(KEYS)
        value = _value(rng)
        separator = rng.choice([": ", ": ", ": ", ":", ":  ", " : "])
        lines.append(f"{key}{separator}{value}".rstrip() + rng.choice(["", "", " "]))
        if rng.random() < 0.05:
            lines.append(rng.choice(["", "  nested: 1", "- item", "# comment"]))
    if rng.random() < 0.5:
        lines = [line for line in lines if not line.startswith(tuple(KEYS[5:10]))]
    return "\n".join(lines) + "\n"


def _yaml(text: str) -> tuple[bool, Any]:
    try:
        return True, document.load_yaml(text)
    except Exception:
        return False, None


@pytest.mark.parametrize("seed", range(8))
def test_every_answer_equals_yamls(seed: int) -> None:
    rng = random.Random(seed)
    answered = 0
    for _ in range(3000):
        text = _document(rng)
        fast = load_simple(text)
        if fast is None:
            continue
        answered += 1
        ok, slow = _yaml(text)
        assert ok, f"YAML refuses what load_simple read: {text!r}"
        assert fast == slow and [type(v) for v in fast.values()] == [type(v) for v in slow.values()], text
        assert list(fast) == list(slow), text
    assert answered > 300  # the comparison means something only if it answers often


def test_the_files_this_tool_writes_need_no_yaml(flow_repo: Repo) -> None:
    """Every frontmatter the commands write takes the fast path (a cold read's speed)."""
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1", "--summary", "ok", "--evidence", "tests=pytest -q")
    repo.ok("block", "fn-1.2", "--reason", "waiting: on review # soon")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Edge: quotes 'and' #hash", "--priority", "3",
            "--domain", "backend", "--files", "src/a.py,docs/b.md", "--deps", "fn-1.1")
    for path in repo.git("ls-files", ".flow").split():
        if not path.endswith(".md"):
            continue
        text = repo.read(path)
        front = text.split("---\n")[1]
        assert load_simple(front) == document.load_yaml(front), path


@pytest.mark.parametrize("seed", range(4))
def test_what_it_writes_is_what_yaml_writes(seed: int) -> None:
    from git_flowctl.model.frontfast import render_simple

    rng = random.Random(seed)
    values: list[Any] = [None, True, False, 0, 7, -3, 2**40, 1.5, "", [], {"a": 1}]
    written = 0
    for _ in range(4000):
        roll = rng.random()
        value: Any = rng.choice(values) if roll < 0.2 else \
            [rng.choice(SAFE + ATOMS) for _ in range(rng.randint(0, 3))] if roll < 0.4 else \
            rng.choice(SAFE + ATOMS)
        key = rng.choice(KEYS)
        fast = render_simple(key, value)
        if fast is None:
            continue
        written += 1
        yaml_text = document.dump_yaml({key: value}, flow_leaves=isinstance(value, (list, dict)))
        if isinstance(value, list) and value:
            yaml_text = f"{key}: {document.dump_yaml(value).rstrip()}\n"
        assert fast == yaml_text, (key, value)
        assert document.load_yaml(fast) == {key: value}
    assert written > 500
