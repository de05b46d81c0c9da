"""docs/states.md's action table is the code's table (git_flowctl.model.states.ACTIONS)."""

from __future__ import annotations

import re
from pathlib import Path

from git_flowctl.model.states import ACTIONS, EPIC_ACTIONS

DOC = Path(__file__).resolve().parent.parent / "docs" / "states.md"


def _rows(text: str) -> dict[str, tuple[set[str], set[str]]]:
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[a-z]+", cells[0]) and cells[0] != "action":
            sources = {s.strip() for s in cells[1].split(",")}
            rows[cells[0]] = (sources, {t.strip() for t in cells[2].split(",")})
    return rows


def test_task_action_table_matches_the_code() -> None:
    text = DOC.read_text()
    table = text[text.index("<!-- states-table"):text.index("<!-- /states-table -->")]
    expected = {name: ({src if src is not None else "-" for src in a.sources}, set(a.targets))
                for name, a in ACTIONS.items()}
    assert _rows(table) == expected


def test_epic_action_table_matches_the_code() -> None:
    text = DOC.read_text()
    section = text[text.index("## Epics"):text.index("## Archive")]
    expected = {name: ({src if src is not None else "-" for src in a.sources}, set(a.targets))
                for name, a in EPIC_ACTIONS.items()}
    assert _rows(section) == expected
