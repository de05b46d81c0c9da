"""Checkpoints (issue #15, docs/gates.md#checkpoints): an epic's state at a commit, kept as a ref.

``checkpoint save E [--name N]`` creates ``refs/flow/checkpoints/<epic-id>/<name>`` pointing at
HEAD (create-only; ``--force`` moves it). The ref keeps that commit, so the epic's files of that
moment stay readable whatever happens to the branch. ``diff`` compares the epic's files (its
file, its tasks' files, its gaps) at the checkpoint with HEAD; ``restore`` brings them back in
one commit whose ``Flow-Transition`` lines record each status change as ``action=restore``,
refused where the state machine has no such change (unless ``--force``). Files created since
the checkpoint are left as they are and listed. ``delete`` removes the ref.

The CLI pushes the ref to ``claims.remote`` when one is set (coordination/claims.py's
``RemoteClaims``), so a checkpoint saved on one machine can be restored on another.
"""

from __future__ import annotations

import difflib
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from git_flowctl.changes.ops import Context, transition
from git_flowctl.model import ids, reviews, states
from git_flowctl.model.document import Document, DocumentError
from git_flowctl.model.errors import FlowError, NotFoundError, UsageError
from git_flowctl.model.items import TASKS_DIR, Task, epic_path
from git_flowctl.model.layout import GAPS_DIR
from git_flowctl.model.trailers import (
    GAP_PRIORITIES,
    GAP_STATES,
    GapChange,
    Record,
    Review,
    Transition,
)
from git_flowctl.model.ulid import new_ulid
from git_flowctl.repo.writer import Change

if TYPE_CHECKING:
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.sources import Source
    from git_flowctl.repo.workspace import Workspace

PREFIX = "refs/flow/checkpoints/"
REMOTE_PREFIX = "refs/flow/remote-checkpoints/"  # the claims remote's, mirrored when pushed
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_STATUS = re.compile(rb"""^status:[ \t]*(["']?)([a-z_]+)\1[ \t]*(?:#[^\n]*)?\r?$""", re.M)


@dataclass(frozen=True)
class Checkpoint:
    epic: str
    name: str
    commit: str
    time: str | None = None

    @property
    def ref(self) -> str:
        return ref_name(self.epic, self.name)

    def as_json(self) -> dict[str, Any]:
        return {"epic": self.epic, "name": self.name, "ref": self.ref, "commit": self.commit,
                "time": self.time}


def ref_name(epic_id: str, name: str) -> str:
    return f"{PREFIX}{epic_id}/{name}"


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or ".." in name or name.endswith((".lock", ".")):
        raise UsageError(f"{name!r} is not a checkpoint name",
                         hint="letters, digits, `.`, `-` and `_`, e.g. before-refactor")
    return name


def default_name() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _git_out(ws: Workspace, *args: str) -> str | None:
    result = ws.git(*args, check=False)
    return result.stdout.decode("utf-8", "replace").strip() if result.returncode == 0 else None


def save(ws: Workspace, epic_id: str, name: str, *, force: bool = False) -> Checkpoint:
    """Point ``refs/flow/checkpoints/<epic>/<name>`` at HEAD (create-only unless ``force``)."""
    head = _git_out(ws, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    if head is None:
        raise FlowError("no commit to save a checkpoint at", hint="commit something first")
    ref = ref_name(epic_id, check_name(name))
    old = [] if force else [""]  # update-ref's old value "": the ref must not exist yet
    result = ws.git("update-ref", "-m", f"flow: checkpoint save {epic_id} {name}", ref, head, *old,
                    check=False)
    if result.returncode != 0:
        existing = get(ws, epic_id, name)
        if existing is not None:
            raise FlowError(f"checkpoint {name} of {epic_id} exists (at {existing.commit[:12]})",
                            hint="choose another --name, or move it with --force")
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FlowError(f"cannot create {ref}: {detail[-1] if detail else 'git update-ref failed'}")
    found = get(ws, epic_id, name)
    assert found is not None
    return found


def listing(ws: Workspace, epic_id: str | None = None, *, prefix: str = PREFIX) -> list[Checkpoint]:
    where = f"{prefix}{epic_id}/" if epic_id else prefix
    out = _git_out(ws, "for-each-ref", "--format=%(refname)%00%(objectname)%00"
                   "%(*committerdate:iso-strict)%(committerdate:iso-strict)", where) or ""
    found = []
    for line in out.splitlines():
        refname, commit, when = line.split("\0")
        rest = refname[len(prefix):]
        epic, _, name = rest.partition("/")
        if epic and name and "/" not in name:
            found.append(Checkpoint(epic, name, commit, when or None))
    return sorted(found, key=lambda c: (ids.id_sort_key(c.epic), c.time or "", c.name))


def get(ws: Workspace, epic_id: str, name: str) -> Checkpoint | None:
    for checkpoint in listing(ws, epic_id):
        if checkpoint.name == name:
            return checkpoint
    return None


def newest(ws: Workspace, epic_id: str) -> Checkpoint | None:
    """The checkpoint of the epic whose commit is newest (flowctl kept one per epic)."""
    found = listing(ws, epic_id)
    return max(found, key=lambda c: (c.time or "", c.name)) if found else None


def require(ws: Workspace, epic_id: str, name: str) -> Checkpoint:
    found = get(ws, epic_id, check_name(name))
    if found is None:
        names = ", ".join(c.name for c in listing(ws, epic_id)) or "none"
        raise NotFoundError(f"no checkpoint {name} of {epic_id}",
                            hint=f"its checkpoints: {names} (`git flow-task checkpoint list`)")
    return found


def delete(ws: Workspace, checkpoint: Checkpoint) -> None:
    ws.git("update-ref", "-d", checkpoint.ref, checkpoint.commit)


# The epic's files --------------------------------------------------------------------------------


def epic_files(source: Source, epic_id: str) -> dict[str, bytes]:
    """The files that make up an epic's state: its file, its tasks', its gaps'."""
    found: dict[str, bytes] = {}
    paths = [epic_path(epic_id)]
    paths += [f"{TASKS_DIR}/{name}" for name in source.list_files(TASKS_DIR)
              if name.endswith(".md") and ids.is_task_id(name[:-3])
              and ids.epic_of(name[:-3]) == epic_id]
    paths += source.walk_files(f"{GAPS_DIR}/{epic_id}")
    for path in paths:
        raw = source.read(path)
        if raw is not None:
            found[path] = raw
    return found


def status_in(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    match = _STATUS.search(raw)
    return match.group(2).decode() if match else None


def _subject(path: str) -> str | None:
    """The task or epic a path holds (gaps have their own trailers and no state here)."""
    if path.startswith(f"{GAPS_DIR}/"):
        return None
    return path.rsplit("/", 1)[-1][:-3]


def diff(then: dict[str, bytes], now: dict[str, bytes]) -> dict[str, Any]:
    """What changed in the epic's files from the checkpoint to now."""
    changes = []
    patches: list[str] = []
    for path in sorted(set(then) | set(now)):
        old, new = then.get(path), now.get(path)
        if old == new:
            continue
        change = "added" if old is None else "removed" if new is None else "modified"
        entry: dict[str, Any] = {"path": path, "id": _subject(path) or path.rsplit("/", 1)[-1][:-3],
                                 "change": change}
        if _subject(path) is not None and status_in(old) != status_in(new):
            entry["status"] = {"from": status_in(old), "to": status_in(new)}
        changes.append(entry)
        patches.extend(difflib.unified_diff(
            (old or b"").decode("utf-8", "replace").splitlines(keepends=True),
            (new or b"").decode("utf-8", "replace").splitlines(keepends=True),
            fromfile=f"a/{path}" if old is not None else "/dev/null",
            tofile=f"b/{path}" if new is not None else "/dev/null"))
    return {"changes": changes, "diff": "".join(patches)}


def restore(plan: Plan, checkpoint: Checkpoint, then: dict[str, bytes], ctx: Context) -> Change:
    """Bring the epic's files back to ``then`` (read at the checkpoint), in one change."""
    plan.require_initialized()
    now = epic_files(plan.source, checkpoint.epic)
    writes: dict[str, bytes | None] = {path: raw for path, raw in then.items()
                                       if now.get(path) != raw}
    restored_status = {subject: status_in(raw) for path, raw in then.items()
                       if (subject := _subject(path)) is not None}
    transitions: list[Transition] = []
    refused: list[str] = []
    for path in sorted(writes, key=lambda p: ids.id_sort_key(_subject(p) or p)):
        subject = _subject(path)
        if subject is None:
            continue
        old, new = status_in(now.get(path)), status_in(then[path])
        if new is None or old == new:
            continue
        kind = "task" if ids.is_task_id(subject) else "epic"
        table = states.LEGAL_TASK_CHANGES if kind == "task" else states.LEGAL_EPIC_CHANGES
        if (old, new) not in table:
            refused.append(f"{subject} {old or 'none'} -> {new}")
        transitions.append(transition(subject, old, new, states.RESTORE_ACTION, ctx))
    if refused and not ctx.force:
        raise FlowError(f"cannot restore {checkpoint.epic} to {checkpoint.name}: the state machine "
                        f"has no {'; '.join(refused)}",
                        hint="--force restores them anyway (recorded as force=1)", refused=refused)
    if not ctx.force:
        _refuse_unsatisfied(plan, then, restored_status)
    kept = sorted(path for path in now if path not in then)
    names = [t.subject for t in transitions]
    records = _restored_records(checkpoint.epic, writes, now, ctx)
    return Change(
        f"flow: restore {checkpoint.epic} to checkpoint {checkpoint.name}", writes, transitions,
        records=records,
        result={"epic": checkpoint.epic, "name": checkpoint.name, "checkpoint": checkpoint.commit,
                "restored": sorted(writes), "status_changes": [
                    {"id": t.subject, "from": t.source, "to": t.target} for t in transitions],
                "kept": kept,
                "message": f"{checkpoint.epic} restored to {checkpoint.name}: "
                           f"{len(writes)} file{'s' if len(writes) != 1 else ''}"
                           + (f", status of {', '.join(names)}" if names else "")})


def _restored_records(epic_id: str, writes: dict[str, bytes | None], now: dict[str, bytes],
                      ctx: Context) -> list[Record]:
    """What a restore does to the gate records, as their trailers say it (docs/gates.md): a
    ``Flow-Gap`` line for each gap whose status or priority comes back, and a ``Flow-Review``
    line for each verdict brought back (a verdict taken away needs none), each
    ``action=restore``. The validator holds them against the files as it holds a gap's or a
    review's own commit."""
    from git_flowctl.gates.gaps import Gap

    records: list[Record] = []
    for path, raw in sorted(writes.items()):
        if raw is None:
            continue
        old_raw = now.get(path)
        try:
            new_doc = Document.parse(raw, path)
            old_doc = Document.parse(old_raw, path) if old_raw is not None else None
        except DocumentError:
            continue  # a file that does not parse says no state; the validator leaves it too
        if _subject(path) is None:
            new, old = Gap(new_doc), Gap(old_doc) if old_doc is not None else None
            if new.status not in GAP_STATES or new.priority not in GAP_PRIORITIES:
                continue
            if old is None or (old.status, old.priority) != (new.status, new.priority):
                records.append(GapChange(new.id, old.status if old is not None else None,
                                         new.status, states.RESTORE_ACTION, epic_id, new.priority,
                                         ctx.actor, new_ulid()))
            continue
        for kind in reviews.KINDS:
            verdict = reviews.verdict_in(new_doc.data, kind)
            before = reviews.verdict_in(old_doc.data, kind) if old_doc is not None else None
            if verdict is not None and verdict != before:
                records.append(Review(str(_subject(path)), kind, verdict, ctx.actor, new_ulid(),
                                      (("action", states.RESTORE_ACTION),)))
    return records


def _refuse_unsatisfied(plan: Plan, then: dict[str, bytes],
                        restored: dict[str, str | None]) -> None:
    """A task restored into in_progress or done needs its dependencies satisfied (the gate)."""
    effective = plan.effective_states()

    def state(task_id: str) -> str:
        return restored.get(task_id) or effective.get(task_id) or states.MISSING

    for path, raw in then.items():
        subject = _subject(path)
        target = restored.get(subject or "")
        if subject is None or not ids.is_task_id(subject) \
                or target not in (states.IN_PROGRESS, states.DONE):
            continue
        current = plan.tasks.get(subject)
        if current is not None and current.status == target:
            continue  # not a change of status: nothing enters in_progress or done
        try:
            task = Task.from_document(Document.parse(raw, path), subject)
        except (DocumentError, FlowError):
            continue
        blocking = states.unsatisfied(task.trigger_rule, {dep: state(dep) for dep in task.depends_on})
        if blocking:
            raise FlowError(f"cannot restore {subject} to {target}: its dependencies are "
                            f"not satisfied now: {', '.join(blocking)}",
                            hint="--force restores it anyway (recorded as force=1)")
