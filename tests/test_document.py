from __future__ import annotations

import pytest

from git_flowctl.model.document import Document, DocumentError, get_section, set_section
from git_flowctl.model.items import TASK_KEY_ORDER, Task

TASK = """---
id: fn-1-a.1
epic: fn-1-a
# a comment the tool does not own
title: "Parse: the config"
status: todo
depends_on: []
custom_field: {nested: [1, 2]}
created: 2026-01-05T10:00:00Z
---
## Description
Some text.

```markdown
## Not a heading
```

## Acceptance
- [ ] works

## Done summary

## Evidence
"""


def test_unchanged_document_renders_byte_for_byte() -> None:
    doc = Document.parse(TASK.encode(), "t.md")
    assert doc.render(TASK_KEY_ORDER) == TASK.encode()


def test_changing_one_key_touches_only_its_line() -> None:
    doc = Document.parse(TASK.encode(), "t.md")
    doc.data["status"] = "in_progress"
    doc.data["assignee"] = "alice@example.com"
    rendered = doc.render(TASK_KEY_ORDER).decode()
    before, after = TASK.splitlines(), rendered.splitlines()
    changed = [line for line in after if line not in before]
    assert changed == ["status: in_progress", "assignee: alice@example.com"]
    assert "# a comment the tool does not own" in rendered
    assert 'title: "Parse: the config"' in rendered
    assert "custom_field: {nested: [1, 2]}" in rendered
    # canonical order: assignee comes after depends_on and before created
    assert rendered.index("assignee:") < rendered.index("created:")


def test_timestamps_stay_strings() -> None:
    doc = Document.parse(TASK.encode(), "t.md")
    assert doc.data["created"] == "2026-01-05T10:00:00Z"


def test_crlf_and_bom_are_kept() -> None:
    raw = ("\ufeff" + TASK).replace("\n", "\r\n").encode()
    doc = Document.parse(raw, "t.md")
    assert doc.data["status"] == "todo"
    doc.data["status"] = "done"
    doc.set_section("Done summary", "All good.\nSecond line.")
    out = doc.render(TASK_KEY_ORDER)
    assert out.startswith(b"\xef\xbb\xbf---\r\n")
    assert b"\n" not in out.replace(b"\r\n", b"")
    assert b"status: done\r\n" in out
    assert b"## Done summary\r\nAll good.\r\nSecond line.\r\n\r\n## Evidence" in out


def test_sections_are_fence_aware() -> None:
    doc = Document.parse(TASK.encode(), "t.md")
    assert doc.section("Description") == "Some text.\n\n```markdown\n## Not a heading\n```"
    assert doc.section("Not a heading") is None
    body = set_section(doc.body, "Description", "New.")
    assert "## Not a heading" not in body
    assert get_section(body, "Acceptance") == "- [ ] works"


def test_set_section_appends_missing_section() -> None:
    body = set_section("## Description\nx\n", "Evidence", "- Commits: abc")
    assert body == "## Description\nx\n\n## Evidence\n- Commits: abc\n"


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("no frontmatter\n", 1, "no frontmatter"),
    ("---\nid: x\n", 1, "not closed"),
    ("---\nid: x\ntitle: [unclosed\nstatus: todo\n---\n", 3, "invalid YAML"),
    ("---\nid: x\ntitle: a: b\n---\n", 3, "invalid YAML"),
    ("---\n- a list\n---\n", 2, "mapping"),
])
def test_malformed_frontmatter_names_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(DocumentError) as caught:
        Document.parse(text.encode(), ".flow/tasks/x.md")
    assert caught.value.line == line
    assert fragment in caught.value.message
    assert caught.value.message.startswith(f".flow/tasks/x.md:{line}:")


def test_invalid_utf8_is_reported() -> None:
    with pytest.raises(DocumentError, match="UTF-8"):
        Document.parse(b"---\nid: \xff\n---\n", "x.md")


def test_bad_status_is_reported_on_its_line() -> None:
    doc = Document.parse(TASK.replace("status: todo", "status: finished").encode(), "fn-1-a.1.md")
    with pytest.raises(DocumentError) as caught:
        Task.from_document(doc, "fn-1-a.1")
    assert caught.value.line == 6
    assert "finished" in caught.value.message


def test_id_must_match_file_name() -> None:
    doc = Document.parse(TASK.encode(), "fn-1-a.2.md")
    with pytest.raises(DocumentError, match="does not match the file name"):
        Task.from_document(doc, "fn-1-a.2")
