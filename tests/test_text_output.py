"""The human text of the read commands (views/text.py): aligned, one line a row, plain to a pipe,
coloured and fitted to a terminal; the same bytes from the lean path and the click commands
(tests/test_lean_path.py compares those)."""

from __future__ import annotations

import io
import os
import re

import pytest
from conftest import FLOW_EXE, Repo
from test_output import COLOUR, _run_on_a_terminal

from git_flowctl.views import text
from git_flowctl.views.text import PLAIN, Mode, Table, output_mode, render, width

SGR = re.compile(r"\x1b\[[0-9;]*m")


def _table(*titles: str) -> Table:
    return Table(("id", "status", "pri", "title", "after"),
                 [(f"fn-1.{n}", (text.state("done"), (" landed", "green")), str(n * 5), title, "x")
                  for n, title in enumerate(titles, start=1)], right=(2,), cut=(3,))


def test_plain_columns_align_and_lines_end_without_spaces() -> None:
    drawn = render([_table("short", "a longer title")], PLAIN)
    assert drawn == ("id      status       pri  title           after\n"
                     "fn-1.1  done landed    5  short           x\n"
                     "fn-1.2  done landed   10  a longer title  x\n")
    assert render([[("a  ", ""), ("   ", "dim")], []], PLAIN) == "a\n\n"


def test_wide_characters_take_two_cells() -> None:
    """East Asian wide characters take two cells: the next column starts at the same place."""
    lines = render([_table("東京タスク", "plain title")], PLAIN).splitlines()
    starts = {width(line[:line.index(" x")]) for line in lines[1:]}
    assert len(starts) == 1, lines
    assert width("東京") == 4 and width("e\u0301") == 1 and width("abc") == 3


def test_a_terminal_cuts_the_title_to_its_width_and_colours_states() -> None:
    drawn = render([_table("a" * 100, "東京" * 30)], Mode(True, 60))
    visible = [SGR.sub("", line) for line in drawn.splitlines()]
    assert [width(line) for line in visible] == [60, 56, 56]  # "after" is wider than "x"
    assert visible[1].endswith("…  x") and visible[2].endswith("…  x")
    assert "\x1b[32mdone\x1b[0m" in drawn and "\x1b[1mid\x1b[0m" in drawn
    # too narrow for the other columns: the title keeps text.MIN_CUT cells, the line is longer
    narrow = SGR.sub("", render([_table("a" * 100)], Mode(True, 20))).splitlines()
    assert "a" * (text.MIN_CUT - 1) + "…" in narrow[1]
    # a pipe: never cut
    assert "a" * 100 in render([_table("a" * 100)], PLAIN)


def test_control_characters_in_plan_text_do_not_reach_the_terminal() -> None:
    """Titles and bodies come from files anyone may have committed: an escape sequence in one
    would act on the terminal (docs/security.md)."""
    hostile = "evil\x1b]0;owned\x07\x1b[2J title\r"
    for mode in (PLAIN, Mode(True, 80)):
        drawn = render([_table(hostile), [(hostile, "")]], mode)
        assert "\x1b]" not in drawn and "\x1b[2J" not in drawn and "\r" not in drawn
        assert "evil\ufffd]0;owned\ufffd[2J title" in drawn


class _Stream(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


@pytest.mark.parametrize(("terminal", "env", "mode"), [
    (False, {}, PLAIN),
    (True, {}, Mode(True, 123)),
    (True, {"NO_COLOR": "1"}, PLAIN),
    (True, {"TERM": "dumb"}, PLAIN),
    (False, {"FORCE_COLOR": "1"}, Mode(True, None)),
    (True, {"COLUMNS": ""}, Mode(True, 80)),  # no size known (a StringIO has no descriptor)
])
def test_the_output_mode(monkeypatch: pytest.MonkeyPatch, terminal: bool, env: dict[str, str],
                         mode: Mode) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "123")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert output_mode(_Stream(terminal)) == mode


def test_tasks_on_a_real_terminal(flow_repo: Repo) -> None:
    """The console script on a pseudo-terminal: states in colour, the title cut to COLUMNS."""
    flow_repo.ok("task", "create", "--epic", "fn-1", "--title", "A title " + "long " * 40)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update({"TERM": "xterm-256color", "COLUMNS": "80"})
    for _ in range(2):  # computed, then the stored answer for this terminal
        shown = _run_on_a_terminal([FLOW_EXE, "tasks"], str(flow_repo.path), env)
        assert COLOUR.search(shown)
        rows = [SGR.sub("", line) for line in shown.splitlines()]
        assert len(rows) == 5 and max(width(row) for row in rows) <= 80, rows
        assert "A title long long" in rows[4] and rows[4].rstrip().endswith("…")
    plain = _run_on_a_terminal([FLOW_EXE, "tasks"], str(flow_repo.path), {**env, "NO_COLOR": "1"})
    assert not COLOUR.search(plain) and ("long " * 40).strip() in plain
