"""Epic numbers at scale (DESIGN §1, IDs): allocation across branches, collisions, ``renumber``.

Sequential numbers collide when two branches create epics at once. A new epic takes one more than
the highest number seen in the work tree and in the ``.flow/epics`` and ``.flow/archive/epics``
trees of every local and remote-tracking branch, read through git objects (a branch whose
``.flow`` tree was already seen costs one lookup). When two epics still end up with one number
(branches created them before either saw the other, then merged), ``renumber`` finds the collision
and gives the younger epic a free number, rewriting every reference in one commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from git_flowctl.changes.ops import Context
from git_flowctl.model import ids
from git_flowctl.model.document import Document
from git_flowctl.model.errors import ConflictError, FlowError, UsageError
from git_flowctl.model.items import (
    ARCHIVE_EPICS_DIR,
    ARCHIVE_TASKS_DIR,
    EPIC_KEY_ORDER,
    EPICS_DIR,
    TASK_KEY_ORDER,
    TASKS_DIR,
    archived_epic_path,
    archived_task_path,
    epic_path,
    task_path,
)
from git_flowctl.model.trailers import Rename
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.writer import Change

if TYPE_CHECKING:
    import pygit2

    from git_flowctl.repo.workspace import Workspace

_EPIC_DIRS = (EPICS_DIR, ARCHIVE_EPICS_DIR)


def _numbers_in(names: Iterable[str], prefix: str) -> set[int]:
    found = set()
    for name in names:
        parsed = ids.parse_id(name[:-3]) if name.endswith(".md") else None
        if parsed is not None and parsed.prefix == prefix and not parsed.is_task:
            found.add(parsed.epic_number)
    return found


def _tree_names(repo: pygit2.Repository, tree: pygit2.Tree, directory: str) -> list[str]:
    import pygit2

    try:
        entry = tree[directory]
    except KeyError:
        return []
    subtree = repo[entry.id]
    return [item.name or "" for item in subtree] if isinstance(subtree, pygit2.Tree) else []


def _branch_flow_trees(ws: Workspace) -> Iterator[pygit2.Tree]:
    """The ``.flow`` tree of every local and remote-tracking branch tip, each distinct tree once
    (branches mostly share it)."""
    import pygit2

    repo = ws.repo
    seen: set[str] = set()
    for reference in repo.references.iterator():
        if not reference.name.startswith(("refs/heads/", "refs/remotes/")):
            continue
        if reference.type != pygit2.enums.ReferenceType.DIRECT:
            continue  # origin/HEAD points at a branch listed anyway
        try:
            flow = repo[reference.target].peel(pygit2.Commit).tree[".flow"]
        except (KeyError, ValueError, pygit2.GitError):
            continue
        if str(flow.id) in seen:
            continue
        seen.add(str(flow.id))
        flow_tree = repo[flow.id]
        if isinstance(flow_tree, pygit2.Tree):
            yield flow_tree


def taken_epic_numbers(ws: Workspace, prefix: str) -> set[int]:
    """Every epic number in use here or on any local or remote-tracking branch (archive too)."""
    numbers: set[int] = set()
    source = ws.work_tree_source()
    for directory in _EPIC_DIRS:
        numbers |= _numbers_in(source.list_files(directory), prefix)
    for flow_tree in _branch_flow_trees(ws):
        for directory in ("epics", "archive/epics"):
            numbers |= _numbers_in(_tree_names(ws.repo, flow_tree, directory), prefix)
    return numbers


def taken_task_numbers(ws: Workspace, epic_id: str) -> set[int]:
    """Every number of ``epic_id``'s tasks in use here or on any local or remote-tracking branch
    (archive too), as ``taken_epic_numbers`` reads epics (issue #13, finding 8)."""

    def numbers_in(names: Iterable[str]) -> set[int]:
        found = set()
        for name in names:
            parsed = ids.parse_id(name[:-3]) if name.endswith(".md") else None
            if parsed is not None and parsed.is_task and parsed.epic_id == epic_id:
                found.add(ids.task_number(name[:-3]))
        return found

    numbers: set[int] = set()
    source = ws.work_tree_source()
    for directory in (TASKS_DIR, ARCHIVE_TASKS_DIR):
        numbers |= numbers_in(source.list_files(directory))
    for flow_tree in _branch_flow_trees(ws):
        for directory in ("tasks", "archive/tasks"):
            numbers |= numbers_in(_tree_names(ws.repo, flow_tree, directory))
    return numbers


# Collisions -------------------------------------------------------------------------------------


def all_epic_ids(plan: Plan) -> list[str]:
    return sorted({*plan.epics, *plan.archived_epic_ids()}, key=ids.id_sort_key)


def find_collisions(plan: Plan) -> dict[str, list[str]]:
    """Epic numbers used by more than one epic (live or archived): ``{"fn-3": [ids...]}``."""
    by_number: dict[str, list[str]] = {}
    for epic_id in all_epic_ids(plan):
        parsed = ids.parse_id(epic_id)
        if parsed is not None:
            by_number.setdefault(f"{parsed.prefix}-{parsed.epic_number}", []).append(epic_id)
    return {number: found for number, found in by_number.items() if len(found) > 1}


def _created(plan: Plan, epic_id: str) -> str:
    epic = plan.epics.get(epic_id) or plan.archived_epic(epic_id)
    return (epic.created if epic is not None else None) or "9999"


def _keeper(plan: Plan, group: list[str]) -> str:
    """Who keeps a contested number: an archived epic (it is history), else the oldest."""
    return min(group, key=lambda epic_id: (epic_id in plan.epics, _created(plan, epic_id),
                                            ids.id_sort_key(epic_id)))


# Renumber ---------------------------------------------------------------------------------------


def with_number(epic_id: str, number: int) -> str:
    """The epic's ID with another number (its slug kept)."""
    parsed = ids.parse_id(epic_id)
    if parsed is None:
        raise FlowError(f"not an epic ID: {epic_id}")
    return ids.ParsedId(parsed.prefix, number, parsed.slug, None).epic_id


def renumber(plan: Plan, ctx: Context, *, taken: set[int], epic_ref: str | None = None,
             to: int | None = None, targets: list[int] | None = None) -> Change:
    """Give epics new numbers and rewrite every reference to them, in one change.

    With no ``epic_ref``: every collision is repaired (the keeper of each number is the archived
    epic, else the oldest by ``created``, else the first by ID; the others move). With
    ``epic_ref``: that epic moves, to ``to`` or to the next free number. ``targets``: the numbers
    reserved for the moving epics, in order (reservations.py); else free ones are picked.
    """
    plan.require_initialized()
    if epic_ref is not None and "." in epic_ref:  # a task: fn-1.4
        return renumber_task(plan, epic_ref, taken=taken, to=to,
                             target=targets[0] if targets else None)
    prefix = plan.config.prefix
    used = taken | {ids.epic_number(epic_id) for epic_id in all_epic_ids(plan)
                    if (p := ids.parse_id(epic_id)) is not None and p.prefix == prefix}
    collisions = find_collisions(plan)
    moving: list[str] = []
    if epic_ref is not None:
        epic_id = plan.resolve_epic(epic_ref)
        moving = [epic_id]
        if to is not None:
            if to < 1:
                raise UsageError("--to must be 1 or more")
            if to in used and targets is None:  # with targets, `to` is reserved: ours
                raise FlowError(f"epic number {to} is taken (here or on another branch)",
                                hint="leave --to out to take the next free number")
    else:
        if to is not None:
            raise UsageError("--to needs an EPIC to move")
        for group in collisions.values():
            keeper = _keeper(plan, group)
            moving += [epic_id for epic_id in group if epic_id != keeper]
    if not moving:
        return Change("flow: renumber", {}, result={
            "renamed": {}, "collisions": _collision_rows(collisions),
            "message": "no epic number is used twice; nothing to renumber"})
    if targets is not None and len(targets) != len(moving):
        raise ConflictError("the plan changed while its new epic numbers were reserved",
                            hint="run renumber again")
    next_number = max(used, default=0) + 1
    renames: dict[str, str] = {}
    for place, epic_id in enumerate(moving):
        number = targets[place] if targets is not None else to if to is not None else next_number
        next_number = max(next_number, number) + 1
        new_epic = with_number(epic_id, number)
        renames[epic_id] = new_epic
        task_ids = [t.id for t in plan.tasks_of(epic_id)]
        task_ids += [t for t in plan.archived_task_ids() if ids.epic_of(t) == epic_id]
        for task_id in task_ids:
            renames[task_id] = ids.make_task_id(new_epic, ids.task_number(task_id))
    writes = _rewrite_all(plan, renames)
    return Change(
        "flow: renumber " + ", ".join(f"{old} -> {new}" for old, new in renames.items()
                                      if not ids.is_task_id(old)),
        writes, records=[Rename(old, new) for old, new in renames.items()],
        result={"renamed": renames, "collisions": _collision_rows(collisions),
                "message": "renumbered " + ", ".join(
                    f"{old} -> {new}" for old, new in renames.items() if not ids.is_task_id(old))})


def renumber_task(plan: Plan, task_ref: str, *, taken: set[int], to: int | None = None,
                  target: int | None = None) -> Change:
    """Give one task another number in its epic (issue #13, finding 8), rewriting every
    reference to it (depends_on of its dependents, full IDs in any text) in one change with a
    `Flow-Rename` record. ``taken``: the epic's task numbers on other branches and reserved;
    ``target``: the number reserved for it."""
    task = plan.task(task_ref)
    used = taken | {t.number for t in plan.tasks.values() if t.epic == task.epic}
    used |= {ids.task_number(t) for t in plan.archived_task_ids() if ids.epic_of(t) == task.epic}
    if to is not None:
        if to < 1:
            raise UsageError("--to must be 1 or more")
        if to in used and target is None:
            raise FlowError(f"task number {to} of {task.epic} is taken (here, on another branch, "
                            "or reserved)", hint="leave --to out to take the next free number")
    number = target if target is not None else to if to is not None else max(used, default=0) + 1
    old_id, new_id = task.id, ids.make_task_id(task.epic, number)
    renames = {old_id: new_id}
    writes = _rewrite_all(plan, renames)  # rewrites the documents in place (task.id too)
    return Change(f"flow: renumber {old_id} -> {new_id}", writes,
                  records=[Rename(old_id, new_id)],
                  result={"renamed": renames, "collisions": [],
                          "message": f"renumbered {old_id} -> {new_id}"})


def _collision_rows(collisions: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [{"number": number, "epics": found} for number, found in sorted(collisions.items())]


def _id_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.-])(?P<epic>{re.escape(prefix)}-\d+(?:-[a-z0-9]+)*)(?P<task>\.\d+)?(?![\w-])")


def rewrite_text(text: str, renames: dict[str, str], pattern: re.Pattern[str]) -> str:
    """Replace whole-token references to renamed epics and tasks (full IDs only)."""

    def replace(match: re.Match[str]) -> str:
        epic, task = match.group("epic"), match.group("task") or ""
        whole = epic + task
        if whole in renames:
            return renames[whole]
        if epic in renames:
            return renames[epic] + task
        return whole

    return pattern.sub(replace, text)


def _rewrite_value(value: Any, renames: dict[str, str], pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return rewrite_text(value, renames, pattern)
    if isinstance(value, list):
        return [_rewrite_value(item, renames, pattern) for item in value]
    return value


def _rewrite_all(plan: Plan, renames: dict[str, str]) -> dict[str, bytes | None]:
    pattern = _id_pattern(plan.config.prefix)
    documents: list[tuple[str, Document, tuple[str, ...], bool]] = []
    for epic in plan.epics.values():
        documents.append((epic.id, epic.doc, EPIC_KEY_ORDER, False))
    for task in plan.tasks.values():
        documents.append((task.id, task.doc, TASK_KEY_ORDER, False))
    for epic_id in plan.archived_epic_ids():
        archived_epic = plan.archived_epic(epic_id)
        if archived_epic is not None:
            documents.append((epic_id, archived_epic.doc, EPIC_KEY_ORDER, True))
    for task_id in plan.archived_task_ids():
        archived_task = plan.archived_task(task_id)
        if archived_task is not None:
            documents.append((task_id, archived_task.doc, TASK_KEY_ORDER, True))
    writes: dict[str, bytes | None] = {}
    for item_id, doc, key_order, archived in documents:
        original = doc.render(key_order)
        for key, value in list(doc.data.items()):
            new_value = _rewrite_value(value, renames, pattern)
            if new_value != value:
                doc.data[key] = new_value
        doc.body = rewrite_text(doc.body, renames, pattern)
        rendered = doc.render(key_order)
        if item_id in renames:
            new_id = renames[item_id]
            is_task = ids.is_task_id(item_id)
            if archived:
                new_path = archived_task_path(new_id) if is_task else archived_epic_path(new_id)
            else:
                new_path = task_path(new_id) if is_task else epic_path(new_id)
            if plan.source.read(new_path) is not None:
                raise FlowError(f"cannot renumber {item_id}: {new_path} already exists",
                                hint="pick another number with --to")
            writes[doc.path] = None
            writes[new_path] = rendered
        elif rendered != original:
            writes[doc.path] = rendered
    writes.update(_rewrite_gaps(plan, renames, pattern))
    return writes


def _rewrite_gaps(plan: Plan, renames: dict[str, str], pattern: re.Pattern[str]) -> dict[str, bytes | None]:
    """The gap registry follows (docs/gates.md#gaps): a renamed epic's gap folder moves to its
    new ID (live or archived), and every ID a gap file names (``epic``, ``task``, text) is
    rewritten. A gap keeps its own ID: its ``Flow-Gap`` trailers in history name it."""
    from git_flowctl.gates.gaps import KEY_ORDER
    from git_flowctl.model.layout import GAP_DIRS, is_gap_path

    writes: dict[str, bytes | None] = {}
    for directory in GAP_DIRS:
        for path in plan.source.walk_files(directory):
            if not is_gap_path(path):
                continue
            raw = plan.source.read(path)
            if raw is None:
                continue
            folder = path.split("/")[-2]
            new_path = f"{directory}/{renames.get(folder, folder)}/{path.rsplit('/', 1)[-1]}"
            doc = Document.parse(raw, path)
            original = doc.render(KEY_ORDER)
            for key, value in list(doc.data.items()):
                doc.data[key] = _rewrite_value(value, renames, pattern)
            doc.body = rewrite_text(doc.body, renames, pattern)
            rendered = doc.render(KEY_ORDER)
            if new_path != path:
                if plan.source.read(new_path) is not None:
                    raise FlowError(f"cannot renumber {folder}: {new_path} already exists",
                                    hint="pick another number with --to")
                writes[path] = None
                writes[new_path] = rendered
            elif rendered != original:
                writes[path] = rendered
    return writes
