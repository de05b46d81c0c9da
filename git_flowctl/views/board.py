"""`board`: the plan at a glance, as data (the CLI draws it with rich, or as plain text).

A board has a column per state (``ready`` and ``waiting`` split out of todo), each epic's
progress, the ready queue in the order ``next`` picks from it, the critical path (issue #3's
``graphviews.critical_path``), and the latest transitions of HEAD's history (issue #5's
``history.replay``, as `log` reads them). ``watch_signature`` is what ``--watch`` polls: it changes when a ref moves or a file
under ``.flow/`` is replaced, and costs a few ``stat`` calls.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from git_flowctl.coordination.availability import Holdbacks
from git_flowctl.coordination.queries import ready_report
from git_flowctl.model import ids, states
from git_flowctl.model.items import EPICS_DIR, TASKS_DIR
from git_flowctl.repo.plan import Plan

if TYPE_CHECKING:
    from git_flowctl.repo.workspace import Workspace

# Left to right, the way work flows. The first five are always shown; the rest when not empty.
COLUMNS = ("waiting", "ready", "in_progress", "blocked", "done",
           "up_for_retry", "failed", "upstream_failed", "skipped")
ALWAYS_SHOWN = COLUMNS[:5]
RECENT_LIMIT = 10


@dataclass
class Card:
    id: str
    short: str
    title: str
    epic: str
    state: str
    priority: int | None
    assignee: str | None
    blocked_reason: str | None
    waits_for: list[str]
    critical: bool = False
    held_by: str | None = None  # a task ready but for another actor's claim: waiting (#7, #12)
    landed: bool | None = None  # a done task: its code is on the default branch (issue #17)
    retry: str | None = None  # an up_for_retry task: "retry 1 of 2" (facts.retry_note)


@dataclass
class EpicProgress:
    id: str
    title: str
    status: str
    total: int
    finished: int
    states: dict[str, int]
    waits_for: list[str]


@dataclass
class Event:
    commit: str
    time: str  # ISO 8601, UTC
    subject: str
    short: str
    source: str | None
    target: str
    action: str
    by: str


@dataclass
class Board:
    source: str
    head: str | None
    epic: str | None
    epics: list[EpicProgress]
    columns: dict[str, list[Card]]
    ready: list[str]
    critical_path: list[str]
    events: list[Event] = field(default_factory=list)
    # What it was drawn from besides the commit: (plan snapshot's generation, HEAD, actor,
    # claims held), for cli/commands/board.py to keep the drawing (views/lean.py).
    inputs: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    def shown_columns(self) -> list[str]:
        return [name for name in COLUMNS if name in ALWAYS_SHOWN or self.columns.get(name)]

    def as_dict(self) -> dict[str, Any]:
        """The JSON of `board`; like every read command's, it does not name its source, so
        `--rev HEAD` and a clean working tree print the same."""
        return {
            "head": self.head, "epic": self.epic,
            "epics": [asdict(epic) for epic in self.epics],
            "columns": {name: [asdict(card) for card in self.columns.get(name, [])]
                        for name in COLUMNS},
            "ready": self.ready,
            "critical_path": self.critical_path,
            "events": [asdict(event) for event in self.events],
        }


def build(plan: Plan, *, epic_id: str | None, actor: str, critical_path: list[str],
          events: list[Event], head: str | None, held: Mapping[str, str] | None = None,
          holdbacks: Holdbacks | None = None, landed: Collection[str] | None = None) -> Board:
    """``holdbacks`` (availability.py): ready tasks waiting for their retry backoff or for
    files someone else holds show as waiting, with why, and are not in the ready queue.
    ``landed``: the done tasks whose work is on the default branch (coordination/landing.py);
    None when there is no default branch, and then cards say nothing about it."""
    kept = holdbacks or Holdbacks()
    shorts = short_forms(plan)
    facts = plan.facts
    chosen = [task for task in facts.sorted_tasks() if epic_id is None or task.epic == epic_id]
    on_path = set(critical_path)
    columns: dict[str, list[Card]] = {name: [] for name in COLUMNS}
    for task in sorted(chosen, key=lambda t: t.sort_key()):
        state = facts.view_state(task.id)
        waits_for = [f"epic {dep}" if dep in facts.epics else dep for dep in facts.waiting_on(task)] \
            if state == states.WAITING else []
        holder = (held or {}).get(task.id)
        held_by = holder if state == states.READY and holder not in (None, actor) else None
        if held_by is not None:  # waiting for this actor, as every view says (queries.Offer)
            state, waits_for = states.WAITING, [f"claimed by {held_by}"]
        elif state == states.READY and task.id in kept.exclude():
            state, waits_for = states.WAITING, [str(kept.why(task.id))]
        columns.setdefault(state, []).append(Card(
            task.id, shorts.get(task.id, task.id), task.title, task.epic, state, task.priority,
            task.assignee, task.blocked_reason, waits_for,
            task.id in on_path, held_by,
            (task.id in landed) if landed is not None and state == states.DONE else None,
            facts.retry_note(task.id)))
    epics = []
    for epic in facts.sorted_epics():
        if epic_id is not None and epic.id != epic_id:
            continue
        tasks = facts.tasks_of(epic.id)
        counts: dict[str, int] = {}
        for task in tasks:
            state = facts.view_state(task.id)
            counts[state] = counts.get(state, 0) + 1
        finished = sum(1 for task in tasks if task.status in states.FINISHED)
        waits_for = [dep for dep in epic.depends_on_epics
                     if dep not in facts.epics or facts.epics[dep].status != "done"]
        epics.append(EpicProgress(epic.id, epic.title, epic.status, len(tasks), finished,
                                  counts, waits_for))
    ready = [row["id"] for row in ready_report(facts, actor, epic_id, held=held)["ready"]
             if row["id"] not in kept.exclude()]
    return Board(plan.source.label, head, epic_id, epics, columns, ready, critical_path, events)


def short_forms(plan: Plan) -> dict[str, str]:
    """``fn-1.2`` for every task whose short form names it alone, else its full ID."""
    counts: dict[str, int] = {}
    shorts: dict[str, str] = {}
    for task_id in plan.tasks:
        parsed = ids.parse_id(task_id)
        if parsed is None or parsed.task_number is None:
            continue
        short = f"{parsed.prefix}-{parsed.epic_number}.{parsed.task_number}"
        shorts[task_id] = short
        counts[short] = counts.get(short, 0) + 1
    return {task_id: short if counts[short] == 1 else task_id for task_id, short in shorts.items()}


def tip(ws: Workspace, rev: str | None) -> str | None:
    """The commit a board reads history from: ``rev``, else HEAD (None on an unborn branch)."""
    import pygit2

    try:
        return str(ws.repo.revparse_single(rev or "HEAD").peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError):
        return None


def latest_transitions(ws: Workspace, plan: Plan, start: str | None, *, epic_id: str | None,
                       limit: int = RECENT_LIMIT) -> list[Event]:
    """The last ``limit`` transitions in the history of ``start``, newest first, from issue
    #5's replay (cached; each ``id=`` once, reverts and squashes understood as `log` does). A
    `git revert` of a transition is one too (action ``revert``): the state it moved back to is
    what the board shows."""
    from git_flowctl.history.replay import EVENT_REVERT, EVENT_TRANSITION, GitReader, replay

    if start is None:
        return []  # an unborn branch has no history
    history = replay(GitReader(ws.root, ws.common_dir), start)
    subjects = None
    if epic_id is not None:
        subjects = [s for s in history.subjects() if s == epic_id or ids.epic_of(s) == epic_id]
    shorts = short_forms(plan)
    events: list[Event] = []
    for item in reversed(history.events(subjects)):
        if len(events) >= limit:
            break
        if item.kind not in (EVENT_TRANSITION, EVENT_REVERT):
            continue  # renames and archives change no state
        events.append(Event(item.commit[:7], item.iso_time, item.subject,
                            shorts.get(item.subject, item.subject), item.source, item.target,
                            item.action, item.by))
    return events


def watch_signature(ws: Workspace, rev: str | None = None) -> tuple[Any, ...]:
    """Changes when a ref moves (the branch, ``rev``, claims, packed refs) or ``.flow/`` is
    rewritten."""
    head = tip(ws, rev)
    stamps: list[tuple[int, int] | None] = []
    for path in (ws.root / TASKS_DIR, ws.root / EPICS_DIR, ws.root / ".flow" / "config.yaml",
                 ws.common_dir / "packed-refs", ws.common_dir / "refs" / "flow" / "claims",
                 ws.git_dir / "HEAD"):
        try:
            info = os.stat(path)
            stamps.append((info.st_mtime_ns, info.st_size))
        except OSError:
            stamps.append(None)
    return (head, *stamps)
