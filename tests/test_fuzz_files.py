"""Issue #14, item 3: property-based fuzzing (hypothesis) of task files through reads and writes.

The property: a task file that loads is written back loading to exactly the intended values
(the ones it had, with the command's change applied: types included, unknown keys kept, the body
as it was), or the write is refused (exit 1, nothing written); a file that does not load is
refused by every command with a one-line error, never a traceback. Files are generated as
data, then written out in the layouts people and tools use (block, flow, indented, commented,
quoted, CRLF, byte-order mark), sometimes with their bytes mangled.

Counts are small by default so CI stays fast; FLOW_STRESS=N runs N times as many examples.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Repo, make_repo
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from git_flowctl.model.document import Document, DocumentError, identical
from git_flowctl.model.items import TASK_KEY_ORDER, TASK_STATUSES

STRESS = max(1, int(os.environ.get("FLOW_STRESS", "1") or 1))
TASK_ID, EPIC_ID = "fn-1-fuzz.1", "fn-1-fuzz"
PATH = f".flow/tasks/{TASK_ID}.md"
KNOWN = set(TASK_KEY_ORDER)

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
one_line = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
                   min_size=1, max_size=24).filter(lambda t: t.strip(" ") == t and t.strip())
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False, allow_infinity=False, width=32), text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
                                        inner, max_size=3), max_leaves=6)
extra_keys = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(lambda k: k not in KNOWN)


@st.composite
def task_data(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {"id": TASK_ID, "epic": EPIC_ID, "title": draw(one_line),
                            "status": draw(st.sampled_from(TASK_STATUSES))}
    if draw(st.booleans()):
        data["priority"] = draw(st.integers(0, 99))
    if draw(st.booleans()):
        data["depends_on"] = draw(st.sampled_from([[], ["fn-1-fuzz.2"]]))
    if draw(st.booleans()):
        data["domain"] = draw(one_line)
    data.update(draw(st.dictionaries(extra_keys, values, max_size=3)))
    order = draw(st.permutations(list(data)))
    return {key: data[key] for key in order}


def layout(data: dict[str, Any], style: str, bodytext: str) -> bytes:
    if style == "flow":
        front = yaml.safe_dump(data, default_flow_style=True, allow_unicode=True, width=60,
                               sort_keys=False)
    else:
        quote = {"double": '"', "single": "'"}.get(style)
        front = yaml.safe_dump(data, default_flow_style=False, allow_unicode=style != "ascii",
                               sort_keys=False, default_style=quote, width=1 << 16)
    lines = front.splitlines()
    if style == "indented":
        lines = ["   " + line for line in lines]
    if style == "commented":
        lines = [part for line in lines for part in
                 ((f"# about {line[:5]}", line) if line[:1].isalpha() else (line,))]
    text_out = "---\n" + "\n".join(lines) + "\n" + ("...\n" if style == "ended" else "---\n")
    text_out += bodytext
    return text_out.encode("utf-8")


STYLES = ["block", "flow", "indented", "commented", "double", "single", "ascii", "ended"]
body = st.sampled_from(["## Description\nTBD\n\n## Acceptance\n- [ ] TBD\n", "",
                        "## Description\n```\n## not a heading\n---\n```\n", "x\r\ny\n",
                        "## Done summary\n\n## Evidence\n- ok\n"])


@st.composite
def task_file(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    data = draw(task_data())
    raw = layout(data, draw(st.sampled_from(STYLES)), draw(body))
    if draw(st.booleans()):
        raw = raw.replace(b"\n", b"\r\n")
    if draw(st.integers(0, 9)) == 0:
        raw = b"\xef\xbb\xbf" + raw
    if draw(st.integers(0, 5)) == 0:  # mangled: anything may happen, only no traceback
        position = draw(st.integers(0, len(raw)))
        raw = raw[:position] + draw(st.binary(max_size=6)) + raw[position + 1:]
    return raw, data


@st.composite
def edits(draw: st.DrawFn) -> list[tuple[str, Any]]:
    return draw(st.lists(st.one_of(
        st.tuples(st.just("status"), st.sampled_from(TASK_STATUSES)),
        st.tuples(st.just("priority"), st.one_of(st.none(), st.integers(0, 99))),
        st.tuples(st.just("assignee"), one_line),
        st.tuples(st.just("blocked_reason"), text.filter(str.strip)),
        st.tuples(st.just("drop"), extra_keys),
        st.tuples(st.just("section"), text)), min_size=1, max_size=3))


# In memory: parse, change, render, parse again ----------------------------------------------------


@settings(max_examples=300 * STRESS, deadline=None)
@given(task_file(), edits())
def test_a_file_that_loads_is_written_back_as_intended_or_refused(
        generated: tuple[bytes, dict[str, Any]], changes: list[tuple[str, Any]]) -> None:
    raw, _ = generated
    try:
        doc = Document.parse(raw, PATH)
    except DocumentError as error:
        assert error.problem and "\n" not in error.message
        return
    for kind, value in changes:
        if kind == "drop":
            doc.data.pop(value, None)
        elif kind == "section":
            doc.set_section("Done summary", value)
        elif value is None:
            doc.data.pop(kind, None)
        else:
            doc.data[kind] = value
    intended = {key: value for key, value in doc.data.items()}
    try:
        out = doc.render(TASK_KEY_ORDER)
    except DocumentError:
        return  # refused: nothing would be written
    again = Document.parse(out, PATH)
    assert identical(again.data, intended)
    assert again.body == doc.body
    assert again.newline == doc.newline and again.bom == doc.bom


# Through the commands, in a real repository -------------------------------------------------------


def _plan(repo: Repo) -> str:
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Fuzz")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "First")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Second")
    return repo.head()


@pytest.mark.slow
def test_commands_read_and_write_fuzzed_files_as_intended_or_refuse() -> None:
    with tempfile.TemporaryDirectory(prefix="flow-fuzz-") as temp:
        repo = make_repo(Path(temp) / "repo")
        base = _plan(repo)

        @settings(max_examples=40 * STRESS, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(task_file(), st.integers(0, 99), st.booleans())
        def check(generated: tuple[bytes, dict[str, Any]], priority: int, start: bool) -> None:
            raw, _ = generated
            assume(b"\0" not in raw)
            repo.git("reset", "-q", "--hard", base)
            (repo.path / PATH).write_bytes(raw)
            repo.git("add", PATH)
            repo.git("commit", "-q", "--no-verify", "-m", "fuzzed file")
            head = repo.head()
            try:
                doc: Document | None = Document.parse(raw, PATH)
            except DocumentError:
                doc = None
            shown = repo.flow("show", "fn-1.1", "--json")
            assert "Traceback" not in shown.stdout + shown.stderr
            if shown.exit_code != 0:
                assert shown.exit_code == 1 and shown.json["success"] is False
            elif doc is not None:
                assert shown.json["status"] == doc.data["status"]
                assert shown.json["title"] == doc.data["title"]
            args = ("start", "fn-1.1") if start else ("task", "edit", "fn-1.1", "--priority",
                                                     str(priority))
            result = repo.flow(*args, "--json")
            assert "Traceback" not in result.stdout + result.stderr, result
            if result.exit_code != 0:
                assert result.exit_code in (1, 3) and result.json["success"] is False
                assert repo.head() == head and repo.status() == ""
                return
            assert doc is not None and shown.exit_code == 0  # a write only from a file that loads
            intended = dict(doc.data)
            if start:
                intended.update(status="in_progress", assignee="alice@example.com")
            else:
                intended["priority"] = priority
            written = Document.parse(repo.git("show", f"HEAD:{PATH}").encode("utf-8")
                                     if b"\r" not in raw and not raw.startswith(b"\xef")
                                     else _blob(repo, f"HEAD:{PATH}"), PATH)
            assert identical(written.data, intended), (written.data, intended)
            assert written.body == doc.body
            assert repo.flow("validate", "--json").exit_code in (0, 1)

        check()


def _blob(repo: Repo, spec: str) -> bytes:
    import subprocess

    return subprocess.run(["git", "cat-file", "blob", spec], cwd=repo.path, capture_output=True,
                          check=True).stdout
