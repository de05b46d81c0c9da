"""Human output of the read commands: lines of styled segments and aligned tables, as text.

`status`, `show`, `tasks`, `list`, `epics`, `ready`, `next`, `blocked` and `validate` print
their human answer from the same payload as their ``--json`` answer, through the functions
here; the click commands (cli/commands/) and the lean read path (views/lean.py) both call them,
so both print the same bytes (tests/test_lean_path.py). Standard library only, no click and no
rich: at 50,000 tasks a rich Table cost about 1 ms a row (issue #11).

A block is a line (a list of ``(text, style)`` segments) or a ``Table``. ``render`` turns blocks
into text for an output ``Mode``:

- plain (a pipe, a file, ``NO_COLOR``, a dumb terminal): no escape codes, no wrapping and no
  cutting, so a row is one line that grep finds whole; no spaces at the ends of lines;
- colour (a terminal): each style as SGR escape codes written here (the styles are the few
  names of ``STATE_STYLES``; rich would cost its import on every read), and a table wider than
  the terminal has its ``cut`` columns (titles) shortened with "…".

Column widths count characters, two for East Asian wide and full-width ones (unicodedata, loaded
only for text that is not ASCII). Text from plan files is data: control characters that would
move the cursor or start an escape sequence are shown as U+FFFD (docs/security.md).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any, NamedTuple

    from git_flowctl.guard.validate import Finding

    Segment = tuple[str, str]  # (text, style name or "")
    Line = list[Segment]
    Cell = str | tuple[Segment, ...]
else:
    from git_flowctl.model.tuples import NamedTuple

STATE_STYLES = {
    "todo": "white",
    "ready": "cyan",
    "waiting": "dim",
    "in_progress": "yellow",
    "blocked": "magenta",
    "done": "green",
    "skipped": "dim green",
    "failed": "bold red",
    "up_for_retry": "red",
    "upstream_failed": "red dim",
    "open": "white",
    "missing": "bold red",
}

# SGR parameters of the style words used here (ECMA-48): attributes and the eight colours.
_SGR = {"bold": "1", "dim": "2", "italic": "3", "underline": "4", "black": "30", "red": "31",
        "green": "32", "yellow": "33", "blue": "34", "magenta": "35", "cyan": "36",
        "white": "37"}
MIN_CUT = 10  # a cut column keeps at least this many cells
ELLIPSIS = "…"


class Mode(NamedTuple):
    """How text is drawn: ``colour`` (escape codes) and the terminal's ``width`` (None: never
    cut). A stored answer is kept per mode (views/lean.py)."""

    colour: bool = False
    width: int | None = None


PLAIN = Mode()


def output_mode(stream: Any) -> Mode:
    """The mode for ``stream``: colour on a terminal unless NO_COLOR is set (no-color.org) or
    TERM is dumb; FORCE_COLOR asks for colour on any stream (as rich reads it). The width is
    COLUMNS, else the terminal's."""
    environ = os.environ
    if environ.get("NO_COLOR"):
        return PLAIN
    try:
        terminal = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        terminal = False
    if not environ.get("FORCE_COLOR") and (not terminal or environ.get("TERM") in ("dumb", "unknown")):
        return PLAIN
    if not terminal:
        return Mode(True, None)
    columns = environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return Mode(True, int(columns))
    try:
        return Mode(True, os.get_terminal_size(stream.fileno()).columns or 80)
    except (AttributeError, ValueError, OSError):
        return Mode(True, 80)


class Table:
    """Rows under a header, columns aligned (``right``: right-aligned ones); ``cut``: the
    columns a terminal too narrow for the table shortens, in that order."""

    __slots__ = ("cut", "header", "right", "rows")

    def __init__(self, header: Sequence[str], rows: list[Sequence[Cell]], *,
                 right: Iterable[int] = (), cut: Sequence[int] = ()) -> None:
        self.header = list(header)
        self.rows = rows
        self.right = frozenset(right)
        self.cut = tuple(cut)


if TYPE_CHECKING:
    Block = Line | Table  # one line, or a table


# Rendering ------------------------------------------------------------------------------------

# Control characters (C0, DEL, C1) and the Unicode line separators: shown as U+FFFD, except
# tab (kept) and those rich dropped (bell, backspace, vertical tab, form feed, carriage return).
_CLEAN: dict[int, str | None] = {code: "\ufffd" for code in (*range(0x20), *range(0x7f, 0xa0),
                                                                0x2028, 0x2029)}
_CLEAN.update({0x09: "\t", 0x07: None, 0x08: None, 0x0b: None, 0x0c: None, 0x0d: None})


def clean(text: str) -> str:
    """``text`` without what would act on a terminal instead of showing."""
    return text if text.isprintable() else text.translate(_CLEAN)


def width(text: str) -> int:
    """The cells ``text`` takes on a terminal (East Asian wide and full-width: two; combining
    and format characters: none)."""
    if text.isascii():
        return len(text)
    import unicodedata

    cells = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        cells += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return cells


def _cut(text: str, cells: int) -> str:
    """``text`` in at most ``cells`` cells, its end replaced by "…" when it does not fit."""
    if width(text) <= cells:
        return text
    if text.isascii():
        return text[:max(cells - 1, 0)] + ELLIPSIS
    kept, used = [], 0
    for char in text:
        used += width(char)
        if used > cells - 1:
            break
        kept.append(char)
    return "".join(kept) + ELLIPSIS


def _styled(text: str, style: str) -> str:
    codes = ";".join(_SGR[word] for word in style.split() if word in _SGR) if style else ""
    return f"\x1b[{codes}m{text}\x1b[0m" if codes and text else text


def _line_text(segments: Sequence[Segment], mode: Mode) -> str:
    """One line: its segments, without trailing spaces."""
    parts = [(clean(text), style) for text, style in segments]
    while parts and not parts[-1][0].rstrip(" "):
        parts.pop()
    if parts:
        parts[-1] = (parts[-1][0].rstrip(" "), parts[-1][1])
    if not mode.colour:
        return "".join(text for text, _ in parts)
    return "".join(_styled(text, style) for text, style in parts)


def _segments(cell: Cell) -> tuple[Segment, ...]:
    return ((cell, ""),) if isinstance(cell, str) else cell


def _cut_segments(segments: tuple[Segment, ...], cells: int) -> tuple[Segment, ...]:
    kept: list[Segment] = []
    room = cells - 1
    for text, style in segments:
        size = width(text)
        if size <= room:
            kept.append((text, style))
            room -= size
            continue
        if room > 0:
            kept.append((_cut(text, room + 1)[:-1], style))
        break
    kept.append((ELLIPSIS, kept[-1][1] if kept else ""))
    return tuple(kept)


def _table_lines(table: Table, mode: Mode) -> list[str]:
    """The table's lines. Built for 50,000 rows: each row's text is checked once for control
    characters and for ASCII (then widths are lengths), and plain rows are joined as strings."""
    count = len(table.header)
    last = count - 1
    cells: list[list[str]] = [list(table.header)]  # each row's cells as text
    styled: list[Sequence[Cell]] = [tuple(((name, "bold"),) for name in table.header)]
    sizes: list[list[int]] = [[width(name) for name in table.header]]
    for row in table.rows:
        texts = [cell if isinstance(cell, str) else "".join(text for text, _ in cell) for cell in row]
        joined = "".join(texts)
        if not joined.isprintable():
            row = [clean(cell) if isinstance(cell, str) else tuple((clean(t), s) for t, s in cell)
                   for cell in row]
            texts = [cell if isinstance(cell, str) else "".join(text for text, _ in cell) for cell in row]
            joined = "".join(texts)
        cells.append(texts)
        styled.append(row)
        sizes.append([len(text) for text in texts] if joined.isascii() else [width(text) for text in texts])
    widths = [max(column) for column in zip(*sizes, strict=True)]
    if mode.width is not None:
        total = sum(widths) + 2 * last
        for column in table.cut:
            if total <= mode.width:
                break
            narrower = max(MIN_CUT, widths[column] - (total - mode.width))
            if narrower >= widths[column]:
                continue
            total -= widths[column] - narrower
            widths[column] = narrower
            for index, row_sizes in enumerate(sizes):
                if row_sizes[column] > narrower:
                    cut = _cut_segments(_segments(styled[index][column]), narrower)
                    styled[index] = [*styled[index][:column], cut, *styled[index][column + 1:]]
                    cells[index][column] = "".join(text for text, _ in cut)
                    row_sizes[column] = width(cells[index][column])
    right = table.right
    lines = []
    for index, (texts, row_sizes) in enumerate(zip(cells, sizes, strict=True)):
        if not mode.colour:
            parts = []
            for column, text in enumerate(texts):
                pad = " " * (widths[column] - row_sizes[column])
                parts.append(pad + text if column in right else text + pad if column != last else text)
            lines.append("  ".join(parts).rstrip(" "))
            continue
        segments: list[Segment] = []
        for column, cell in enumerate(styled[index]):
            pad = widths[column] - row_sizes[column]
            if column in right and pad:
                segments.append((" " * pad, ""))
            segments.extend(_segments(cell))
            if column != last:
                segments.append((" " * (2 + (0 if column in right else pad)), ""))
        lines.append(_line_text(segments, mode))
    return lines


def render(blocks: Iterable[Block], mode: Mode = PLAIN) -> str:
    """The text of ``blocks`` (each line ends with a newline)."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Table):
            out.extend(_table_lines(block, mode))
        else:
            out.append(_line_text(block, mode))
    return "".join(f"{line}\n" for line in out)


# Pieces -----------------------------------------------------------------------------------------


def state(name: str) -> Segment:
    return (name, STATE_STYLES.get(name, "white"))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _body(text: str) -> list[Line]:
    return [[(line, "")] for line in text.split("\n")]


def task_table(rows: list[dict[str, Any]], *, mark_landed: bool = False,
               mark_not_landed: bool = False) -> Table:
    """Tasks as a table; ``mark_landed`` adds "landed" to done tasks that reached the default
    branch, ``mark_not_landed`` "not landed" to done tasks whose code has not (on the default
    branch itself: a run's flow/ branch not merged yet)."""
    cells: list[Sequence[Cell]] = []
    for row in rows:
        priority = row.get("priority")
        status: tuple[Segment, ...] = (state(row["status"]),)
        if mark_landed and row.get("landed"):
            status += ((" landed", "green"),)
        elif mark_not_landed and row.get("landed") is False and row["status"] == "done":
            status += ((" not landed", "yellow"),)
        cells.append((row["id"], status, "" if priority is None else str(priority), row["title"],
                      ", ".join(row.get("depends_on") or [])))
    return Table(("id", "status", "pri", "title", "depends on"), cells, right=(2,), cut=(3,))


# The commands -----------------------------------------------------------------------------------


def tasks_blocks(payload: dict[str, Any], mark_landed: bool, mark_not_landed: bool) -> list[Block]:
    rows = payload["tasks"]
    if not rows:
        return [[("no tasks", "")]]
    return [task_table(rows, mark_landed=mark_landed, mark_not_landed=mark_not_landed)]


NO_EPICS = "no epics yet: `git flow-task epic create --title ...`"


def list_blocks(payload: dict[str, Any], reading_default: bool) -> list[Block]:
    """`list`: each epic's line and its tasks' table."""
    if not payload["epics"]:
        return [[(NO_EPICS, "")]]
    by_epic: dict[str, list[dict[str, Any]]] = {}
    for task in payload["tasks"]:
        by_epic.setdefault(task["epic"], []).append(task)
    blocks: list[Block] = []
    for epic in payload["epics"]:
        blocks.append([])
        blocks.append([(epic["id"], "bold"), (f"  {epic['title']}  ", ""), state(epic["status"]),
                       (f"  {epic['done']}/{epic['tasks']} done", "")])
        rows = by_epic.get(epic["id"])
        if rows:
            blocks.append(task_table(rows, mark_landed=not reading_default,
                                     mark_not_landed=reading_default))
    return blocks


def epics_blocks(payload: dict[str, Any]) -> list[Block]:
    rows = payload["epics"]
    if not rows:
        return [[(NO_EPICS, "")]]
    return [Table(("id", "status", "done", "title"),
                  [(row["id"], (state(row["status"]),), f"{row['done']}/{row['tasks']}", row["title"])
                   for row in rows], cut=(3,))]


def status_blocks(report: dict[str, Any], source: str, mark_landed: bool,
                  mark_not_landed: bool) -> list[Block]:
    if not report["flow_exists"]:
        return [[("no .flow/ plan here: `git flow-task init` creates one", "")]]
    counts = [(name, count) for name, count in report["tasks"].items() if count]
    first: Line = [(plural(report["total_tasks"], "task"), "bold"),
                   (f" in {plural(len(report['per_epic']), 'epic')} ({source}): ", "")]
    for index, (name, count) in enumerate(counts):
        first += [("  " if index else "", ""), state(name), (f" {count}", "")]
    if not counts:
        first.append(("none yet", ""))
    blocks: list[Block] = [first]
    if report["per_epic"]:
        rows: list[Sequence[Cell]] = []
        for epic in report["per_epic"]:
            finished = epic["tasks"]["done"] + epic["tasks"]["skipped"]
            shown: list[Segment] = []
            for name, count in epic["tasks"].items():
                if count:
                    shown += [("  " if shown else "", ""), state(name), (f" {count}", "")]
            rows.append((epic["id"], (state(epic["status"]),), f"{finished}/{epic['total']}",
                         tuple(shown)))
        blocks.append(Table(("epic", "status", "progress", "states"), rows, right=(2,)))
    if report["ready"]:
        blocks.append([("ready: " + ", ".join(report["ready"]), "")])
    for run in report.get("runs", []):
        blocks.append([(f"run {run['run_id']}: {run['state']}, "
                        f"{len(run.get('running') or [])} running ", ""),
                       ("(`git flow-task run status`)", "dim")])
    if mark_landed and report["landed"]:
        blocks.append([(f"landed on {report['default_branch']}: " + ", ".join(report["landed"]), "")])
    if mark_not_landed and report["not_landed"]:
        blocks.append([(f"done, not landed on {report['default_branch']}: "
                        + ", ".join(report["not_landed"])
                        + " (`git flow-task land --all-done` lands them)", "")])
    return blocks


def task_blocks(detail: dict[str, Any]) -> list[Block]:
    """`show TASK`: its fields, then its body's sections."""
    head: Line = [(str(detail["id"]), "bold"), (f"  {detail['title']}", "")]
    if detail.get("archived"):
        head.append(("  (archived)", "dim"))
    status: Line = [("  status      ", ""), state(str(detail["status"]))]
    more = ""
    if detail["status"] != detail["stored_status"]:
        more += f" (stored: {detail['stored_status']})"
    if detail["view_state"] in ("ready", "waiting"):
        more += f", {detail['view_state']}"
    if detail.get("landed"):
        more += f", landed on {detail['default_branch']}"
    elif detail["status"] == "done" and detail.get("default_branch"):
        more += f", not landed on {detail['default_branch']}"
    if more:
        status.append((more, ""))
    blocks: list[Block] = [head, status]
    fields = [("epic", detail.get("epic")), ("depends on", ", ".join(detail["depends_on"]) or "-"),
              ("blocked by", ", ".join(detail["blocked_by"]) or None),
              ("priority", detail.get("priority")), ("domain", detail.get("domain")),
              ("assignee", detail.get("assignee")),
              ("files", ", ".join(detail.get("files") or []) or None),
              ("attempts", f"{detail['attempts']}/{detail['max_retries']}" if detail["attempts"] else None),
              ("blocked", detail.get("blocked_reason")), ("skipped", detail.get("skipped_reason")),
              ("file", detail.get("spec_path"))]
    for label, value in fields:
        if value is not None:
            blocks.append([(f"  {label:<11} {value}", "")])
    for title in ("description", "acceptance", "done_summary", "evidence"):
        text = detail.get(title)
        if text:
            blocks.append([])
            blocks.append([(title.replace("_", " ").capitalize(), "bold")])
            blocks.extend(_body(str(text)))
    return blocks


def epic_blocks(detail: dict[str, Any], mark_landed: bool = False,
                mark_not_landed: bool = False) -> list[Block]:
    """`show EPIC`: its line, its epic dependencies, its tasks' table."""
    head: Line = [(str(detail["id"]), "bold"), (f"  {detail['title']}  ", ""),
                  state(str(detail["status"])), ("  ", "")]
    if detail.get("archived"):
        head += [("(archived)", "dim"), ("  ", "")]
    head.append((f"{detail['done']}/{len(detail['tasks'])} done", ""))
    blocks: list[Block] = [head]
    if detail.get("depends_on_epics"):
        blocks.append([(f"  depends on  {', '.join(detail['depends_on_epics'])}", "")])
    if detail["tasks"]:
        blocks.append(task_table(list(detail["tasks"]), mark_landed=mark_landed,
                                 mark_not_landed=mark_not_landed))
    return blocks


def ready_blocks(report: dict[str, Any]) -> list[Line]:
    blocks: list[Line] = []
    for kind, title in (("ready", "ready"), ("in_progress", "in progress"), ("blocked", "blocked")):
        rows = report[kind]
        blocks.append([(title, "bold"), (f" ({len(rows)})", "")])
        for row in rows:
            detail = ""
            if kind == "in_progress":
                detail = f"  ({row['assignee'] or 'nobody'})"
            elif kind == "blocked":
                detail = "  <- " + ", ".join(row["blocked_by"])
            blocks.append([(f"  {row['id']}  {row['title']}{detail}", "")])
    return blocks


# `next` with nothing to do: why, in words (queries._nothing gives the reason).
_NOTHING = {
    "all_done_close_epic": "every task of {epic} is finished; close the epic",
    "waiting_on_other_branch": "the work it waits for is finished on another branch",
    "claimed_by_others": "the ready tasks are claimed by other agents",
    "in_progress_elsewhere": "what is left waits for work in progress under other assignees",
    "all_blocked": "what is left is blocked",
    "failed_upstream": "what is left waits for a task that failed",
    "files_held_by_others": "the ready tasks' files are held by other agents",
    "blocked_by_epic_deps": "every open epic waits for another epic",
}


def next_blocks(answer: dict[str, Any]) -> list[Line]:
    blocks: list[Line] = []
    if answer["status"] == "work":
        verb = "resume" if answer["reason"] == "resume_in_progress" else "start"
        blocks.append([(f"{verb} ", ""), (str(answer["task"]), "bold"), (f"  {answer['title']}", "")])
    elif answer["status"] in ("plan", "completion_review"):
        kind = answer["review"]["kind"]
        blocks.append([(f"review the {kind} of ", ""), (str(answer["epic"]), "bold"),
                       (f"  {answer['title']} ", ""),
                       (f"(require_review: a SHIP {kind} verdict first; `git flow-task review "
                        f"{answer['epic']} --kind {kind}`)", "dim")])
    elif answer["reason"] == "waiting_for_retry":
        blocks.append([(f"nothing to do now: {answer['retry_later'][0]['id']} comes back for a "
                        f"retry at {answer['retry_after']}", "")])
    else:
        why = _NOTHING.get(answer["reason"], "no task is ready")
        blocks.append([("nothing to do: " + why.format(**{key: str(value) for key, value in answer.items()}),
                        "")])
    if answer.get("suggest"):
        blocks.append([("  next step: ", ""), (str(answer["suggest"]), "bold")])
    for passed in answer["passed_over"]:
        if passed.get("reason") == "files":
            blocks.append([(f"  passed over {passed['task']}: its files "
                            f"{', '.join(passed['paths'])} overlap {passed['held_task']}"
                            f" (held by {passed['held_by']})", "")])
            continue
        blocks.append([(f"  passed over {passed['epic']}: waits for "
                        f"{', '.join(passed['waiting_on'])}", "")])
    return blocks


def blocked_blocks(payload: dict[str, Any]) -> list[Line]:
    rows = payload["blocked"]
    if not rows:
        return [[("nothing is blocked", "")]]
    blocks: list[Line] = []
    for row in rows:
        why = row["reason"] if row["status"] == "blocked" else ", ".join(
            f"{dep} ({dep_state})" for dep, dep_state in row["waiting_on"].items()) or ", ".join(
            row["blocked_by"])
        blocks.append([(f"{row['id']}  ", ""), state(row["status"]), (f"  {row['title']}  ", ""),
                       (why or "", "dim")])
    return blocks


_SEVERITY_STYLES = {"error": "bold red", "warning": "yellow", "notice": "cyan"}


def finding_lines(findings: Iterable[Finding], *, show_commit: bool = True) -> list[Line]:
    """The validator's findings: ``path:line: severity [rule] message`` and an indented hint
    (guard/reporting.text_lines, with styles)."""
    from git_flowctl.guard.reporting import location

    lines: list[Line] = []
    for item in findings:
        line: Line = [(f"{location(item)}: ", ""),
                      (item.severity, _SEVERITY_STYLES.get(item.severity, "")),
                      (" ", ""), (f"[{item.rule}]", "dim"), (f" {item.message}", "")]
        if show_commit and item.commit:
            line.append((f" (commit {item.commit[:7]})", "dim"))
        lines.append(line)
        if item.hint:
            lines.append([(f"    hint: {item.hint}", "dim")])
    return lines
