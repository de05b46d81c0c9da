"""The Markdown side of a plan file: its body, and ``## `` sections found fence-aware.

Standard library only (no YAML): ``document.py`` uses these for every file, and the lean read
path (views/lean.py) reads one task's sections for `show` without parsing its frontmatter.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})")
_HEADING = re.compile(r"^## +(?P<title>.*?)\s*#*\s*$")
_BOM = "\ufeff"


class Section:
    """A ``## `` heading: its title, its line and where the section ends (0-based body lines)."""

    __slots__ = ("end_line", "heading_line", "title")

    def __init__(self, title: str, heading_line: int, end_line: int) -> None:
        self.title = title
        self.heading_line = heading_line  # index into the body's lines
        self.end_line = end_line  # index of the next heading, or len(lines)

    def __repr__(self) -> str:
        return f"Section({self.title!r}, {self.heading_line}, {self.end_line})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Section) and (self.title, self.heading_line, self.end_line) \
            == (other.title, other.heading_line, other.end_line)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaced


def split_file(raw: bytes) -> tuple[str, str] | None:
    """(the frontmatter's text, the Markdown body) as ``Document.parse(raw, path)`` splits
    them (LF line endings); None where Document.parse would refuse the file."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith(_BOM):
        text = text[1:]
    lines = text.replace("\r\n", "\n").split("\n")
    if lines[0].rstrip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            front = lines[1:index]
            return "\n".join(front) + ("\n" if front else ""), "\n".join(lines[index + 1:])
    return None


def sections(body: str) -> list[Section]:
    """``## `` sections of a Markdown body, ignoring lines inside code fences."""
    lines = body.split("\n")
    found: list[Section] = []
    fence: str | None = None
    for index, line in enumerate(lines):
        fence_match = _FENCE.match(line)
        if fence_match:
            marker = fence_match.group("fence")
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence) and not line.strip()[len(marker):].strip():
                fence = None
            continue
        if fence is None:
            heading = _HEADING.match(line)
            if heading:
                if found:
                    found[-1].end_line = index
                found.append(Section(heading.group("title"), index, len(lines)))
    return found


def get_section(body: str, title: str) -> str | None:
    lines = body.split("\n")
    for section in sections(body):
        if section.title.lower() == title.lower():
            return "\n".join(lines[section.heading_line + 1: section.end_line]).strip("\n")
    return None


def set_section(body: str, title: str, content: str) -> str:
    """Replace a section's content, or append the section when the body has none."""
    lines = body.split("\n")
    content_lines = content.strip("\n").split("\n") if content.strip() else []
    for section in sections(body):
        if section.title.lower() == title.lower():
            has_next = section.end_line < len(lines)
            replacement = content_lines + ([""] if has_next else [])
            if not has_next:
                # Keep exactly one trailing newline at the end of the file.
                replacement = [*content_lines, ""]
            new_lines = lines[: section.heading_line + 1] + replacement + lines[section.end_line:]
            return "\n".join(new_lines)
    stripped = body.rstrip("\n")
    prefix = stripped + "\n\n" if stripped else ""
    tail = "\n".join(content_lines)
    return f"{prefix}## {title}\n{tail}\n" if tail else f"{prefix}## {title}\n"
