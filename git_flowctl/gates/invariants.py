"""Architecture invariants: ``.flow/invariants.md``, rules that must keep holding, each with the
command that verifies it (docs/gates.md).

    # Invariants

    ## The domain imports no CLI
    Nothing outside cli/ imports click or rich.

    verify: python -m pytest tests/test_layers.py -q
    timeout: 120

Each ``## Name`` section is one invariant; its ``verify:`` line (outside code fences) is the
command, ``timeout:`` optional. The name's slug (``the-domain-imports-no-cli``) is its key in
evidence (``invariant.<slug>``). ``invariants check`` and ``guard`` run them like guard commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from git_flowctl.gates.guard import DEFAULT_TIMEOUT, Check
from git_flowctl.model import verification
from git_flowctl.model.document import sections
from git_flowctl.model.errors import FlowError
from git_flowctl.model.ids import slugify

INVARIANTS_PATH = ".flow/invariants.md"
SLUG_MAX = 48
_FIELD = re.compile(r"^(?P<key>verify|timeout)\s*:\s*(?P<value>.*?)\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")

TEMPLATE = """\
# Invariants

Architecture rules that must keep holding. Each `## Name` section is one rule; its `verify:`
line is the command that checks it (run from the repository root by `git flow-task invariants
check` and by `git flow-task guard`).
"""


@dataclass
class Invariant:
    name: str  # the heading
    slug: str
    line: int  # 1-based line of the heading
    description: str
    verify: str | None
    timeout: float = DEFAULT_TIMEOUT
    problems: list[str] = field(default_factory=list)

    def check(self) -> Check:
        assert self.verify is not None
        return Check(verification.INVARIANT, self.slug, self.verify, self.timeout,
                     origin=f"{INVARIANTS_PATH}:{self.line}", title=self.name)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "key": f"{verification.INVARIANT}.{self.slug}",
                "slug": self.slug, "line": self.line, "description": self.description,
                "verify": self.verify, "timeout": self.timeout, "problems": self.problems}


def parse(text: str) -> list[Invariant]:
    """Every ``## `` section; each problem (no verify line, a bad timeout, a duplicate name) is
    kept on its invariant, for ``show`` to print and ``checks`` to refuse."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    found: list[Invariant] = []
    seen: dict[str, int] = {}
    for section in sections(text):
        body = lines[section.heading_line + 1: section.end_line]
        name = section.title.strip()
        slug = slugify(name, SLUG_MAX) if re.search(r"[A-Za-z0-9]", name) else ""
        if not slug or not verification.valid_name(slug):
            slug = f"line-{section.heading_line + 1}"
        invariant = Invariant(name, slug, section.heading_line + 1, "", None)
        described: list[str] = []
        fence = False
        for offset, line in enumerate(body):
            if _FENCE.match(line):
                fence = not fence
            match = None if fence else _FIELD.match(line)
            if match is None:
                described.append(line)
                continue
            where = section.heading_line + 2 + offset
            key, value = match["key"].lower(), match["value"]
            if key == "verify":
                if invariant.verify is not None:
                    invariant.problems.append(f"line {where}: a second `verify:` line")
                invariant.verify = value or None
            else:
                try:
                    invariant.timeout = float(value)
                    if invariant.timeout <= 0:
                        raise ValueError
                except ValueError:
                    invariant.problems.append(f"line {where}: `timeout: {value}` is not a "
                                              "number of seconds above 0")
        invariant.description = "\n".join(described).strip()
        if invariant.verify is None:
            invariant.problems.append("no `verify:` line: nothing checks it")
        if slug in seen:
            invariant.problems.append(f"same key as the invariant on line {seen[slug]} "
                                      f"({verification.INVARIANT}.{slug}): rename one")
        seen.setdefault(slug, invariant.line)
        found.append(invariant)
    return found


def load(text: bytes | None) -> list[Invariant]:
    if text is None:
        return []
    try:
        return parse(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise FlowError(f"{INVARIANTS_PATH}: not valid UTF-8") from None


def checks(invariants: list[Invariant]) -> list[Check]:
    """The invariants as checks; refused while one of them has a problem."""
    for invariant in invariants:
        if invariant.problems:
            raise FlowError(f"{INVARIANTS_PATH}:{invariant.line}: invariant "
                            f"{invariant.name!r}: {invariant.problems[0]}",
                            hint="each `## Name` section needs one `verify: COMMAND` line "
                                 "(`git flow-task invariants show` lists them)")
    return [invariant.check() for invariant in invariants]
