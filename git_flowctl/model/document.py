"""Markdown files with YAML frontmatter that round-trip (DESIGN §1).

A rewrite changes only the frontmatter keys that changed: untouched keys keep their original text
(comments, quoting, layout), unknown keys survive, key order is stable, and the file keeps its line
endings (CRLF stays CRLF) and its byte-order mark. Body sections are edited fence-aware: a ``## ``
line inside a code fence is not a heading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from git_flowctl.model.errors import FlowError
from git_flowctl.model.frontfast import load_simple, render_simple
from git_flowctl.model.markdown import (  # re-exported: modules import these names from here
    Section as Section,
)
from git_flowctl.model.markdown import (
    get_section as get_section,
)
from git_flowctl.model.markdown import (
    sections as sections,
)
from git_flowctl.model.markdown import (
    set_section as set_section,
)

TYPE_CHECKING = False  # typing's import costs the hooks' start-up time (guard/hooklean.py)
if TYPE_CHECKING:
    from typing import Any

_BOM = "\ufeff"
_TOP_LEVEL_KEY = re.compile(r"""^(?P<key>[A-Za-z_][\w.-]*|"[^"]*"|'[^']*')\s*:(?:\s|$)""")
# git's conflict markers (`merge.conflictStyle` merge, diff3 or zdiff3; `conflict-marker-size`
# makes them longer than seven).
_MARKER_START = re.compile(r"^<{7,}(?: |$)")
_MARKER_SPLIT = re.compile(r"^={7,}$")
_MARKER_END = re.compile(r"^>{7,}(?: |$)")
CONFLICT_HINT = ("resolve the merge conflict: keep the lines you want, delete the `<<<<<<<`, "
                 "`=======` and `>>>>>>>` lines, then `git add` the file")


def conflict_marker_line(text: str) -> int | None:
    """The line (1-based) of the first ``<<<<<<<`` that a ``=======`` and then a ``>>>>>>>``
    line follow, as a merge leaves them; None when there is none. The three together, so a lone
    `=======` (a Markdown underline) is not one. Code fences are not skipped: git puts markers
    anywhere."""
    start = split = None
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if _MARKER_START.match(line):
            start, split = number, None
        elif start is not None and _MARKER_SPLIT.match(line):
            split = number
        elif split is not None and _MARKER_END.match(line):
            return start
    return None

def _yaml_classes() -> tuple[Any, Any, Any]:
    """The loader, the dumper and ``RefusedYAML``, built on first use: YAML is imported only
    when a file needs it (the form this tool writes does not: model/frontfast.py, issue #11)."""
    global _YAML_CLASSES
    if _YAML_CLASSES is None:
        import yaml

        base_loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        base_dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

        class RefusedYAML(yaml.MarkedYAMLError):
            """Valid YAML this tool does not read (anchors, aliases, a key twice), with a hint."""

            def __init__(self, problem: str, mark: Any, hint: str) -> None:
                super().__init__(problem=problem, problem_mark=mark)
                self.hint = hint

        class _Loader(base_loader):  # type: ignore[misc]
            """Safe loader that keeps timestamps as the strings they were written as, and refuses a
            key given twice in one mapping: YAML keeps the last, a line-based reader (or the writer,
            or a person) the first, and the two would disagree about a task's status (issue #14)."""

            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                seen: set[Any] = set()
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=True)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:  # an unhashable key: the constructor below reports it
                        continue
                    if duplicate:
                        raise RefusedYAML(f"the key {key!r} is given twice", key_node.start_mark,
                                          "keep one of the two lines")
                return super().construct_mapping(node, deep)

        class _Dumper(base_dumper):  # type: ignore[misc]
            """Safe dumper that does not quote timestamp-looking strings (the loader reads them back)."""

        _Loader.yaml_implicit_resolvers = _without_timestamps(base_loader.yaml_implicit_resolvers)
        _Dumper.yaml_implicit_resolvers = _without_timestamps(base_dumper.yaml_implicit_resolvers)
        _YAML_CLASSES = (_Loader, _Dumper, RefusedYAML)
    return _YAML_CLASSES


_YAML_CLASSES: tuple[Any, Any, Any] | None = None


def _without_timestamps(resolvers: dict[str, list[tuple[str, Any]]]) -> dict[str, list[tuple[str, Any]]]:
    return {
        first: [(tag, rx) for tag, rx in entries if tag != "tag:yaml.org,2002:timestamp"]
        for first, entries in resolvers.items()
    }


def _is_yaml_error(exc: BaseException) -> bool:
    import yaml

    return isinstance(exc, yaml.YAMLError)


class DocumentError(FlowError):
    """A file that cannot be read as frontmatter plus body; names the file and line."""

    def __init__(self, path: str, line: int | None, message: str, hint: str | None = None) -> None:
        location = f"{path}:{line}" if line else path
        super().__init__(f"{location}: {message}", hint=hint, file=path, line=line)
        self.path = path
        self.line = line
        self.problem = message


def load_yaml(text: str) -> Any:
    """YAML as data: no anchors or aliases (a few lines of them expand to billions of nodes, and
    one such file stops every command, hook and CI check that reads the plan), no key twice."""
    import yaml

    if "&" in text or "*" in text:  # only then can there be an anchor or an alias
        _refuse_anchors(text)
    return yaml.load(text, Loader=_yaml_classes()[0])


def _refuse_anchors(text: str) -> None:
    import yaml

    loader, _, refused = _yaml_classes()
    for event in yaml.parse(text, Loader=loader.__bases__[0]):
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            kind = "an alias" if isinstance(event, yaml.AliasEvent) else "an anchor"
            sign = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise refused(f"{kind} ({sign}{anchor}) is not allowed", event.start_mark,
                          "write the value out where the alias stands, and drop the anchor")


def dump_yaml(data: Any, *, flow_leaves: bool = True) -> str:
    """YAML text for ``data``; lists and mappings of scalars in flow style (``[a, b]``)."""
    import yaml

    dumped: str = yaml.dump(
        data,
        Dumper=_yaml_classes()[1],
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None if flow_leaves else False,
        width=1 << 16,
    )
    return dumped


def render_field(key: str, value: Any) -> str:
    """One top-level frontmatter field: ``key: value``, with scalar lists on one line."""
    simple = render_simple(key, value)  # the same text without YAML (model/frontfast.py)
    if simple is not None:
        return simple
    if isinstance(value, (list, dict)) and value and all(
        not isinstance(item, (list, dict)) for item in (value if isinstance(value, list) else value.values())
    ):
        return f"{dump_yaml({key: None}, flow_leaves=False)[:-len('null') - 1]}{dump_yaml(value).rstrip()}\n"
    return dump_yaml({key: value}, flow_leaves=isinstance(value, (list, dict)))


@dataclass
class _Block:
    """One top-level frontmatter key and its lines."""

    key: str | None
    text: str  # LF line endings, ends with a newline
    line: int  # 1-based line in the file


@dataclass
class Document:
    """One frontmatter file. ``data`` is the live mapping; ``render`` writes minimal changes."""

    path: str
    data: dict[str, Any]
    body: str
    newline: str = "\n"
    bom: bool = False
    _blocks: list[_Block] = field(default_factory=list, repr=False)
    _original: dict[str, Any] = field(default_factory=dict, repr=False)
    _closing: str = "---"

    @classmethod
    def parse(cls, raw: bytes | str, path: str) -> Document:
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = raw[: exc.start].count(b"\n") + 1
                raise DocumentError(path, line, "not valid UTF-8", hint="save the file as UTF-8") from None
        else:
            text = raw
        bom = text.startswith(_BOM)
        if bom:
            text = text[1:]
        newline = "\r\n" if "\r\n" in text.split("\n", 1)[0] + "\n" else "\n"
        text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        if not lines or lines[0].rstrip() != "---":
            raise DocumentError(path, 1, "no frontmatter: the file must start with a `---` line",
                                hint="put the YAML fields between two `---` lines at the top")
        end = None
        for index in range(1, len(lines)):
            if lines[index].rstrip() in ("---", "..."):
                end = index
                break
        if end is None:
            raise DocumentError(path, 1, "frontmatter is not closed by a `---` line",
                                hint="add a `---` line after the last field")
        front_lines = lines[1:end]
        front_text = "\n".join(front_lines) + ("\n" if front_lines else "")
        try:
            # The form this tool writes needs no YAML (model/frontfast.py, issue #11).
            data = (load_simple(front_text) or load_yaml(front_text)) if front_text.strip() else {}
        except Exception as exc:
            if not _is_yaml_error(exc):
                raise
            # An unclosed bracket or quote is reported where it opened, not at the end of input.
            mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
            line = mark.line + 2 if mark is not None else 2
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            marker = conflict_marker_line(text)
            if marker is not None:
                raise DocumentError(path, marker, "merge conflict markers in the file",
                                    hint=CONFLICT_HINT) from None
            raise DocumentError(path, line, f"invalid YAML in frontmatter: {problem}",
                                hint=getattr(exc, "hint", None) or "quote values that contain "
                                "`: ` or start with a special character") from None
        if not isinstance(data, dict):
            raise DocumentError(path, 2, "frontmatter must be a mapping of `key: value` lines")
        body = "\n".join(lines[end + 1:])
        doc = cls(path=path, data=data, body=body, newline=newline, bom=bom,
                  _closing=lines[end].rstrip())
        doc._blocks = _split_blocks(front_lines)
        doc._original = {key: _copy(value) for key, value in data.items()}
        return doc

    @classmethod
    def new(cls, path: str, data: dict[str, Any], body: str, newline: str = "\n") -> Document:
        return cls(path=path, data=dict(data), body=body, newline=newline)

    def line_of(self, key: str) -> int | None:
        """1-based line of a top-level key in the original file, for messages."""
        for block in self._blocks:
            if block.key == key:
                return block.line
        return None

    def render(self, key_order: Sequence[str] = ()) -> Rendered:
        """The file's bytes, changing only what changed. They are read back before they are
        returned: a layout the minimal rewrite cannot follow (frontmatter indented, or in flow
        style) is written out in full instead, and a value that cannot be written so that it
        reads back as itself is refused (issue #14: a rewrite never corrupts a valid file)."""
        kept = self._render_keeping(key_order)
        if self._reads_back(kept):
            return Rendered(kept, self.data, self.body)
        full = self._render_fresh(key_order)
        if self._reads_back(full):
            return Rendered(full, self.data, self.body)
        raise DocumentError(self.path, None, "the new content would not read back as written",
                            hint="a value holds something YAML cannot carry here; simplify it")

    def _reads_back(self, raw: bytes) -> bool:
        try:
            again = Document.parse(raw, self.path)
        except DocumentError:
            return False
        return identical(again.data, self.data) and again.body == self.body

    def _render_fresh(self, key_order: Sequence[str]) -> bytes:
        """Every key written anew, in the canonical order (comments and layout are lost)."""
        keys = [key for key in key_order if key in self.data]
        keys += [key for key in self.data if key not in keys]
        front = "".join(render_field(key, self.data[key]) for key in keys)
        return self._assemble(front, "---")

    def _assemble(self, front: str, closing: str) -> bytes:
        text = f"---\n{front}{closing}\n{self.body}"
        if self.newline != "\n":
            text = text.replace("\n", self.newline)
        return ((_BOM if self.bom else "") + text).encode("utf-8")

    def _render_keeping(self, key_order: Sequence[str]) -> bytes:
        out: list[str] = []
        written: set[str] = set()
        present = [block.key for block in self._blocks if block.key is not None]
        for block in self._blocks:
            if block.key is None:
                out.append(block.text)
                continue
            key = block.key
            if key in written:
                continue
            written.add(key)
            if key not in self.data:
                continue
            if key in self._original and _same(self._original[key], self.data[key]):
                out.append(block.text)
            else:
                out.append(render_field(key, self.data[key]))
            for new_key in self._new_keys_after(key, present, key_order, written):
                out.append(render_field(new_key, self.data[new_key]))
                written.add(new_key)
        for key, value in self.data.items():
            if key not in written:
                out.append(render_field(key, value))
                written.add(key)
        return self._assemble("".join(out), self._closing)

    def _new_keys_after(self, key: str, present: list[str], key_order: Sequence[str],
                        written: set[str]) -> Iterable[str]:
        """Keys absent from the file that the canonical order places right after ``key``."""
        if key not in key_order:
            return []
        order = list(key_order)
        following: list[str] = []
        for candidate in order[order.index(key) + 1:]:
            if candidate in present:
                break
            if candidate in self.data and candidate not in written:
                following.append(candidate)
        return following

    # Body sections -------------------------------------------------------------------------

    def section(self, title: str) -> str | None:
        return get_section(self.body, title)

    def set_section(self, title: str, content: str) -> None:
        self.body = set_section(self.body, title, content)


class Rendered(bytes):
    """A file's bytes and the values they were rendered from (``intended``, ``body``), so the
    writer can check that what it commits reads back as exactly that."""

    intended: dict[str, Any]
    body: str

    def __new__(cls, raw: bytes, intended: dict[str, Any], body: str) -> Rendered:
        made = super().__new__(cls, raw)
        made.intended = _copy(intended)
        made.body = body
        return made


def identical(left: Any, right: Any) -> bool:
    """Equal values of the same types all the way down (``1`` is not ``True``, nor ``"1"``)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(identical(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(identical(a, b) for a, b in zip(left, right,
                                                                                 strict=True))
    return bool(left == right) or (left != left and right != right)  # NaN reads back as NaN


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _same(left: Any, right: Any) -> bool:
    return type(left) is type(right) and bool(left == right)


def _split_blocks(front_lines: list[str]) -> list[_Block]:
    blocks: list[_Block] = []
    for number, line in enumerate(front_lines, start=2):
        match = _TOP_LEVEL_KEY.match(line)
        if match:
            key = match.group("key")
            if key[0] in "\"'":
                key = key[1:-1]
            blocks.append(_Block(key=key, text=line + "\n", line=number))
        elif blocks:
            blocks[-1].text += line + "\n"
        else:
            blocks.append(_Block(key=None, text=line + "\n", line=number))
    return blocks
