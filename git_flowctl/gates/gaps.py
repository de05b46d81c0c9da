"""The gap registry (issue #15, docs/gates.md#gaps): what an epic still lacks, by priority.

One file per gap, in a folder per epic: ``.flow/gaps/<epic-id>/<gap-id>.md``, frontmatter only,
in flowctl's field names::

    ---
    id: gap-1a2b3c4d
    epic: fn-1-add-auth
    capability: Refresh tokens are revoked on logout
    priority: required
    status: open
    ---

The ID is flowctl's: ``gap-`` and the first 8 hex digits of the SHA-256 of
``<epic-id>:<capability, lower case>``, so adding the same gap twice is a no-op, and the file
holds nothing that differs between two branches adding the same gap (no time, no actor: those
are in the commit). Two branches adding different gaps add different files: git merges them
with no conflict and no merge driver. Each change is a commit with a ``Flow-Gap`` trailer.

A gap is ``open`` or ``resolved`` (``gap resolve``, with evidence). ``required`` and
``important`` gaps block: ``gap check`` fails and ``epic close`` refuses while one is open.

A gap follows its epic: ``epic archive`` moves the folder to ``.flow/archive/gaps/<epic-id>/``
(read-only from then on, as the epic is), and ``renumber`` moves it to the epic's new ID and
rewrites the IDs its files name. A gap keeps its own ID through both: the ID names the gap (its
``Flow-Gap`` trailers in history name it), so ``gap add`` also finds a gap already there by its
text (an epic renumbered since the gap was added has another hash).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from git_flowctl.changes.ops import Context
from git_flowctl.model.document import Document, DocumentError
from git_flowctl.model.errors import FlowError, NotFoundError, UsageError
from git_flowctl.model.layout import ARCHIVE_GAPS_DIR, GAPS_DIR, gap_path, is_gap_path
from git_flowctl.model.trailers import (
    GAP_PRIORITIES,
    GAP_PRIORITY_ALIASES,
    GAP_STATES,
    GapChange,
)
from git_flowctl.model.ulid import new_ulid
from git_flowctl.repo.writer import Change

if TYPE_CHECKING:
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.sources import Source

OPEN, RESOLVED = GAP_STATES
BLOCKING = ("required", "important")
KEY_ORDER = ("id", "epic", "capability", "priority", "status", "task", "source", "evidence")


def gap_id(epic_id: str, capability: str) -> str:
    key = f"{epic_id}:{capability.strip().lower()}"
    return "gap-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def normalize_priority(text: str) -> str:
    value = GAP_PRIORITY_ALIASES.get(text.strip().lower(), text.strip().lower())
    if value not in GAP_PRIORITIES:
        raise UsageError(f"unknown gap priority {text!r}",
                         hint="--priority required, important or nice")
    return value


@dataclass
class Gap:
    doc: Document

    @property
    def path(self) -> str:
        return self.doc.path

    def _text(self, key: str) -> str | None:
        value = self.doc.data.get(key)
        return None if value is None else str(value)

    @property
    def id(self) -> str:
        return self._text("id") or self.path.rsplit("/", 1)[-1][:-3]

    @property
    def epic(self) -> str:
        return self._text("epic") or self.path.split("/")[-2]

    @property
    def capability(self) -> str:
        return self._text("capability") or ""

    @property
    def priority(self) -> str:
        value = self._text("priority") or "required"
        return GAP_PRIORITY_ALIASES.get(value, value)

    @property
    def status(self) -> str:
        return self._text("status") or OPEN

    @property
    def blocking(self) -> bool:
        return self.status == OPEN and self.priority not in ("nice",)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "epic": self.epic, "capability": self.capability,
                "priority": self.priority, "status": self.status, "task": self._text("task"),
                "source": self._text("source"), "evidence": self._text("evidence"),
                "path": self.path}

    def render(self) -> bytes:
        return self.doc.render(KEY_ORDER)


def _load(source: Source, path: str) -> Gap | None:
    raw = source.read(path)
    if raw is None:
        return None
    try:
        return Gap(Document.parse(raw, path))
    except DocumentError:
        raise
    except FlowError as error:
        raise DocumentError(path, None, error.message) from None


def gaps_of(source: Source, epic_id: str | None = None) -> list[Gap]:
    """The gaps of one epic (one folder is read) or of every epic, by epic then ID."""
    directory = f"{GAPS_DIR}/{epic_id}" if epic_id else GAPS_DIR
    paths = [path for path in source.walk_files(directory)
             if is_gap_path(path) and path.startswith(GAPS_DIR + "/")]
    found = [gap for gap in (_load(source, path) for path in sorted(paths)) if gap is not None]
    return found


def find(source: Source, ref: str) -> Gap:
    """A gap by its ID (or a unique prefix of it, ``gap-1a2b``)."""
    ref = ref.strip()
    candidates = [path for path in source.walk_files(GAPS_DIR)
                  if path.endswith(".md") and path.rsplit("/", 1)[-1][:-3].startswith(ref)]
    exact = [path for path in candidates if path.rsplit("/", 1)[-1][:-3] == ref]
    chosen = exact or candidates
    if not chosen:
        archived = [path for path in source.walk_files(ARCHIVE_GAPS_DIR)
                    if is_gap_path(path) and path.rsplit("/", 1)[-1][:-3].startswith(ref)]
        if archived:
            epic_id = archived[0].split("/")[-2]
            raise FlowError(f"gap {archived[0].rsplit('/', 1)[-1][:-3]} is archived with epic "
                            f"{epic_id} (under .flow/archive/gaps/): it is read-only",
                            hint="an archived epic's gaps stay as they were archived",
                            id=epic_id, archived=True)
        raise NotFoundError(f"no gap {ref}", hint="`git flow-task gap list` shows the gaps")
    if len(chosen) > 1:
        names = ", ".join(path.rsplit("/", 1)[-1][:-3] for path in chosen[:5])
        raise FlowError(f"{ref} names more than one gap: {names}", hint="give more of the ID")
    gap = _load(source, chosen[0])
    assert gap is not None
    return gap


def add(plan: Plan, epic_ref: str, capability: str, priority: str, ctx: Context, *,
        task: str | None = None, source: str | None = None) -> Change:
    plan.require_initialized()
    text = capability.strip()
    if not text:
        raise UsageError("a gap needs its text", hint='gap add --epic fn-1 "Logout revokes tokens"')
    epic = plan.epic(epic_ref)
    priority = normalize_priority(priority)
    task_id = plan.resolve_task(task) if task else None
    identifier = gap_id(epic.id, text)
    path = gap_path(epic.id, identifier)
    existing = _load(plan.source, path) or _same_text(plan.source, epic.id, text)
    if existing is not None:
        identifier = existing.id
        return Change(f"flow: gap add {identifier}", {}, result={
            "id": identifier, "created": False, "gap": existing.as_json(),
            "message": f"gap {identifier} is already in {epic.id} ({existing.status})"})
    data: dict[str, Any] = {"id": identifier, "epic": epic.id, "capability": text,
                            "priority": priority, "status": OPEN}
    if task_id:
        data["task"] = task_id
    if source:
        data["source"] = source.strip()
    gap = Gap(Document.new(path, data, ""))
    trailer = GapChange(identifier, None, OPEN, "add", epic.id, priority, ctx.actor, new_ulid())
    return Change(f"flow: gap add {identifier} to {epic.id} ({priority})", {path: gap.render()},
                  records=[trailer],
                  result={"id": identifier, "created": True, "gap": gap.as_json(),
                          "message": f"gap {identifier} added to {epic.id}: [{priority}] {text}"})


def _same_text(source: Source, epic_id: str, text: str) -> Gap | None:
    """A gap of the epic with this text under another ID: one added before the epic was
    renumbered (its ID hashes the old epic ID)."""
    wanted = text.strip().lower()
    return next((gap for gap in gaps_of(source, epic_id)
                 if gap.capability.strip().lower() == wanted), None)


def resolve(plan: Plan, ref: str, ctx: Context, *, evidence: str | None = None) -> Change:
    plan.require_initialized()
    gap = find(plan.source, ref)
    if gap.status == RESOLVED:
        return Change(f"flow: gap resolve {gap.id}", {}, result={
            "id": gap.id, "changed": False, "gap": gap.as_json(),
            "message": f"gap {gap.id} is resolved already"})
    gap.doc.data["status"] = RESOLVED
    if evidence and evidence.strip():
        gap.doc.data["evidence"] = evidence.strip()
    trailer = GapChange(gap.id, OPEN, RESOLVED, "resolve", gap.epic, gap.priority, ctx.actor,
                        new_ulid())
    return Change(f"flow: gap resolve {gap.id} in {gap.epic}", {gap.path: gap.render()},
                  records=[trailer],
                  result={"id": gap.id, "changed": True, "gap": gap.as_json(),
                          "message": f"gap {gap.id} resolved"})


def check_report(source: Source, epic_id: str) -> dict[str, Any]:
    """flowctl's `gap check` document: gate pass|fail and the gaps by kind."""
    found = gaps_of(source, epic_id)
    blocking = [gap.as_json() for gap in found if gap.blocking]
    others = [gap.as_json() for gap in found if gap.status == OPEN and not gap.blocking]
    resolved = [gap.as_json() for gap in found if gap.status != OPEN]
    return {"epic": epic_id, "gate": "fail" if blocking else "pass", "total": len(found),
            "open_blocking": blocking, "open_non_blocking": others, "resolved": resolved}


def describe(gaps: list[dict[str, Any]]) -> str:
    return "; ".join(f"{gap['id']} [{gap['priority']}] {gap['capability']}" for gap in gaps)
