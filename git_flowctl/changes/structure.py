"""Changes to a plan's shape: task edits, dependencies, splits, the epic lifecycle, the archive.

Like ``ops``, each function checks its change against the plan it is given (HEAD's tree, or the
index under --no-commit) and returns the ``Change`` the writer records; nothing here touches git or
the disk. An edit that changes no status carries no ``Flow-Transition`` trailer (the trailers
describe state changes, docs/states.md). ``task split`` skips the original (``action=split``);
``epic close`` and ``epic reopen`` change an epic's status (``open->done action=close``); ``epic
archive`` moves files and says so in ``Flow-Archive`` trailers.

A dependency that would close a cycle is refused here, at write time, with the cycle named
(``a -> b -> c -> a``): a plan with a cycle can never finish.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from git_flowctl.changes.ops import Context, _quoted_title, transition
from git_flowctl.model import ids, states
from git_flowctl.model.document import get_section, sections
from git_flowctl.model.errors import FlowError, UsageError
from git_flowctl.model.graph import cycle_through, format_cycle
from git_flowctl.model.items import (
    EPIC_SECTIONS,
    TRIGGER_RULES,
    Epic,
    Task,
    archived_epic_path,
    archived_task_path,
    epic_field_problems,
    new_task_document,
    task_field_problems,
)
from git_flowctl.model.layout import ARCHIVE_GAPS_DIR, GAPS_DIR
from git_flowctl.model.text import one_line_field
from git_flowctl.model.trailers import Archive, Transition
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.writer import Change

# Task edits -----------------------------------------------------------------------------------

EDITABLE_TASK_FIELDS = ("title", "priority", "domain", "files", "trigger_rule", "max_retries",
                        "estimate", "retry_backoff")
DEFAULT_TRIGGER_RULE = "all_success"


def check_task_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate editable fields (``None`` clears one); returns them normalized."""
    clean: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in EDITABLE_TASK_FIELDS:
            raise UsageError(f"{key} cannot be edited", hint=f"editable: {', '.join(EDITABLE_TASK_FIELDS)}")
        if key == "title":
            value = one_line_field(value, "the title") if isinstance(value, str) else ""
            if not value:
                raise UsageError("a task needs a title; --title cannot be empty")
        elif key == "trigger_rule":
            if value is not None and value not in TRIGGER_RULES:
                raise UsageError(f"unknown trigger rule {value!r}", hint=f"one of {', '.join(TRIGGER_RULES)}")
            if value == DEFAULT_TRIGGER_RULE:
                value = None  # the default is not written: files carry only what differs
        elif key in ("priority", "max_retries"):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise UsageError(f"--{key.replace('_', '-')} must be a whole number")
            if key == "max_retries" and value is not None and value < 0:
                raise UsageError("--max-retries cannot be negative")
        elif key in ("estimate", "retry_backoff"):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or value < 0):
                raise UsageError(f"--{key.replace('_', '-')} must be a number, 0 or more")
        elif key == "domain":
            value = value.strip() if isinstance(value, str) and value.strip() else None
        elif key == "files":
            value = [item for item in (value or []) if item] or None
        clean[key] = value
    return clean


def edit_task(plan: Plan, ref: str, ctx: Context, *, fields: Mapping[str, Any],
              description: str | None = None, acceptance: str | None = None) -> Change:
    """Change a task's descriptive fields and body sections; its status is not touched."""
    task = plan.task(ref)
    edited: list[str] = []
    for key, value in check_task_fields(fields).items():
        if task.doc.data.get(key) != value:
            task.set(key, value)
            edited.append(key)
    for title, text in (("Description", description), ("Acceptance", acceptance)):
        if text is not None and (task.doc.section(title) or "") != text.strip():
            task.doc.set_section(title, text)
            edited.append(title.lower())
    problems = task_field_problems(task.doc, task.id)
    if problems:
        raise FlowError(f"the edit would make {task.id} invalid: {problems[0].message}", hint=problems[0].hint)
    message = (f"{task.id}: edited {', '.join(edited)}" if edited
               else f"{task.id}: already as asked")
    return Change(
        f"flow: edit {task.id} {_quoted_title(task.title)} ({', '.join(edited)})",
        {task.path: task.render()} if edited else {},
        result={"id": task.id, "title": task.title, "edited": edited, "message": message,
                **{key: task.doc.data.get(key) for key in EDITABLE_TASK_FIELDS if key in fields}})


# Dependencies ---------------------------------------------------------------------------------


def resolve_dependencies(plan: Plan, refs: Iterable[str]) -> list[str]:
    """Task references to full IDs (live or archived tasks), in order, without duplicates."""
    found: dict[str, None] = {}
    for ref in refs:
        parsed = ids.parse_id(ref)
        if parsed is not None and not parsed.is_task:
            raise UsageError(f"{ref} is an epic; tasks depend on tasks",
                             hint="name a task (fn-1.2), or use `epic add-dep` between epics")
        found.setdefault(plan.resolve_dependency(ref), None)
    return list(found)


def refuse_task_cycle(plan: Plan, overrides: Mapping[str, list[str]],
                      new_edges: Iterable[tuple[str, str]]) -> None:
    """Refuse dependencies that would close a cycle, printing it (``a -> b -> a``)."""

    def neighbors(node: str) -> list[str]:
        return list(overrides[node]) if node in overrides else plan.dependencies_of(node)

    cycle = cycle_through(neighbors, new_edges)
    if cycle is not None:
        raise FlowError(f"refused: that dependency would close the cycle {format_cycle(cycle)}",
                        hint="a task cannot wait for itself; remove one of these dependencies instead",
                        cycle=cycle)


def _set_dependencies(plan: Plan, task: Task, new_deps: list[str], ctx: Context,
                      verb: str) -> Change:
    old_deps = task.depends_on
    added = [dep for dep in new_deps if dep not in old_deps]
    removed = [dep for dep in old_deps if dep not in new_deps]
    refuse_task_cycle(plan, {task.id: new_deps}, [(task.id, dep) for dep in added])
    if added and task.status in (states.IN_PROGRESS, states.DONE) and not ctx.force:
        effective = plan.effective_states()
        dep_states = {dep: effective.get(dep, states.MISSING) for dep in new_deps}
        waiting = [dep for dep in states.unsatisfied(task.trigger_rule, dep_states) if dep in added]
        if waiting:
            listed = ", ".join(f"{dep} ({dep_states[dep]})" for dep in waiting)
            raise FlowError(
                f"{task.id} is {task.status}; a new dependency that is not finished would break its "
                f"gate: {listed}",
                hint="finish the dependency first, or pass --force to record it anyway (force=1)",
                id=task.id, blocked_by=waiting)
    result = {"id": task.id, "task": task.id, "depends_on": new_deps, "added": added,
              "removed": removed}
    if not added and not removed:
        return Change(f"flow: {verb} {task.id}", {}, result={
            **result, "message": f"{task.id}: dependencies already as asked"})
    task.set("depends_on", new_deps)
    parts = [f"+{dep}" for dep in added] + [f"-{dep}" for dep in removed]
    return Change(
        f"flow: {verb} {task.id} {' '.join(parts)}",
        {task.path: task.render()},
        result={**result, "message": f"{task.id} depends on: {', '.join(new_deps) or 'nothing'}"})


def add_dependencies(plan: Plan, ref: str, dep_refs: Iterable[str], ctx: Context) -> Change:
    task = plan.task(ref)
    wanted = resolve_dependencies(plan, dep_refs)
    return _set_dependencies(plan, task, [*task.depends_on, *(d for d in wanted if d not in task.depends_on)],
                             ctx, "dep add")


def remove_dependencies(plan: Plan, ref: str, dep_refs: Iterable[str], ctx: Context) -> Change:
    task = plan.task(ref)
    dropping: list[str] = []
    for dep_ref in dep_refs:
        if dep_ref in task.depends_on:  # exact text: also removes a dangling entry
            dropping.append(dep_ref)
            continue
        try:
            dropping.append(ids.resolve(dep_ref, task.depends_on, kind="dependency"))
        except FlowError:
            resolved = resolve_dependencies(plan, [dep_ref])[0]
            raise FlowError(f"{task.id} does not depend on {resolved}",
                            hint=f"its dependencies: {', '.join(task.depends_on) or 'none'}",
                            id=task.id, depends_on=task.depends_on) from None
    return _set_dependencies(plan, task, [d for d in task.depends_on if d not in dropping], ctx, "dep rm")


def set_dependencies(plan: Plan, ref: str, dep_refs: Iterable[str], ctx: Context) -> Change:
    task = plan.task(ref)
    return _set_dependencies(plan, task, resolve_dependencies(plan, dep_refs), ctx, "set-deps")


# Split ----------------------------------------------------------------------------------------


def split_task(plan: Plan, ref: str, titles: list[str], ctx: Context, *, chain: bool = False,
               numbers: list[int] | None = None, taken_numbers: Iterable[int] = ()) -> Change:
    """Replace a task by parts: the parts take the next numbers, the original is skipped, and its
    dependents wait for every part (or the last, with ``chain``), so none can start early.
    ``numbers``: those reserved for the parts (reservations.apply_with_task_numbers); else the
    next ones above the epic's tasks here and ``taken_numbers``."""
    task = plan.task(ref)
    titles = [one_line_field(title, "a title") for title in titles]
    if len(titles) < 2 or not all(titles):
        raise UsageError("a split needs at least two non-empty titles", hint='--titles "Schema|API|UI"')
    old = task.status
    states.check_action(task.id, old, "split", force=ctx.force)
    if numbers is not None and len(numbers) != len(titles):
        raise FlowError("the plan changed while the parts' numbers were reserved",
                        hint="run the split again")
    first_number = max(plan.next_task_number(task.epic), max(taken_numbers, default=0) + 1)
    part_ids = [ids.make_task_id(task.epic, numbers[offset] if numbers else first_number + offset)
                for offset in range(len(titles))]
    writes: dict[str, bytes | None] = {}
    transitions: list[Transition] = []
    for index, (part_id, title) in enumerate(zip(part_ids, titles, strict=True)):
        deps = task.depends_on if index == 0 or not chain else [part_ids[index - 1]]
        extra: dict[str, Any] = {"split_from": task.id}
        for key in ("trigger_rule", "max_retries", "retry_backoff"):
            if key in task.doc.data:
                extra[key] = task.doc.data[key]
        part = Task(new_task_document(
            part_id, task.epic, title, depends_on=list(deps), priority=task.priority,
            domain=task.domain, files=task.files, created=ctx.now,
            description=f"Part {index + 1} of {len(titles)} of {task.id} ({task.title}).",
            acceptance=None, extra=extra))
        writes[part.path] = part.render()
        transitions.append(transition(part_id, None, states.TO_DO, "create", ctx, split_from=task.id))
    task.set("status", states.SKIPPED)
    task.set("skipped_reason", f"split into {', '.join(part_ids)}")
    task.set("split_into", part_ids)
    task.set("assignee", None)
    writes[task.path] = task.render()
    transitions.insert(0, transition(task.id, old, states.SKIPPED, "split", ctx, into=",".join(part_ids)))
    replacement = [part_ids[-1]] if chain else part_ids
    rewired: list[str] = []
    for dependent in plan.dependents(task.id):
        new_deps: list[str] = []
        for dep in dependent.depends_on:
            for item in (replacement if dep == task.id else [dep]):
                if item not in new_deps:
                    new_deps.append(item)
        dependent.set("depends_on", new_deps)
        writes[dependent.path] = dependent.render()
        rewired.append(dependent.id)
    return Change(
        f"flow: split {task.id} {_quoted_title(task.title)} into {len(part_ids)}",
        writes, transitions,
        result={"id": task.id, "status": states.SKIPPED, "from": old, "split_into": part_ids,
                "chain": chain, "rewired": rewired,
                "message": f"{task.id} split into {', '.join(part_ids)}"
                           + (f"; {', '.join(rewired)} now wait for {', '.join(replacement)}" if rewired else "")})


# Epics ----------------------------------------------------------------------------------------


def _epic_result(epic: Epic, message: str, **more: Any) -> dict[str, Any]:
    return {"id": epic.id, "title": epic.title, "status": epic.status,
            "depends_on_epics": epic.depends_on_epics, "message": message, **more}


EDITABLE_EPIC_FIELDS = ("title", "branch", "priority")


def edit_epic(plan: Plan, ref: str, ctx: Context, *, fields: Mapping[str, Any]) -> Change:
    """Change an epic's title, branch or priority (``None`` clears the last two).

    The ID never changes (flowctl's `epic set-title` re-slugged it and renamed files, which broke
    every reference on other branches), and the status is not touched: no trailer.
    """
    epic = plan.epic(ref)
    edited: list[str] = []
    for key, value in fields.items():
        if key not in EDITABLE_EPIC_FIELDS:
            raise UsageError(f"{key} cannot be edited", hint=f"editable: {', '.join(EDITABLE_EPIC_FIELDS)}")
        if key == "title":
            if not isinstance(value, str) or not value.strip():
                raise UsageError("an epic needs a title; --title cannot be empty")
            value = value.strip()
        elif key == "branch":
            value = value.strip() if isinstance(value, str) and value.strip() else None
        elif key == "priority" and value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise UsageError("--priority must be a whole number")
        if epic.doc.data.get(key) != value:
            epic.set(key, value)
            edited.append(key)
    problems = epic_field_problems(epic.doc, epic.id)
    if problems:
        raise FlowError(f"the edit would make {epic.id} invalid: {problems[0].message}", hint=problems[0].hint)
    message = f"{epic.id}: edited {', '.join(edited)}" if edited else f"{epic.id}: already as asked"
    return Change(f"flow: edit epic {epic.id} {_quoted_title(epic.title)} ({', '.join(edited)})",
                  {epic.path: epic.render()} if edited else {},
                  result=_epic_result(epic, message, edited=edited,
                                      **{key: epic.doc.data.get(key) for key in fields}))


def close_epic(plan: Plan, ref: str, ctx: Context) -> Change:
    """open -> done, only when every task is done or skipped and every epic dependency closed."""
    epic = plan.epic(ref)
    states.check_epic_action(epic.id, epic.status, "close", force=ctx.force)
    open_tasks = [t for t in plan.tasks_of(epic.id) if t.status not in states.FINISHED]
    if open_tasks and not ctx.force:
        listed = ", ".join(f"{t.id} ({plan.state_of(t.id)})" for t in open_tasks)
        raise FlowError(
            f"cannot close {epic.id}: {len(open_tasks)} task{'s' if len(open_tasks) > 1 else ''} "
            f"not done or skipped: {listed}",
            hint="finish or skip them first (`git flow-task skip ID --reason ...`)",
            id=epic.id, open_tasks=[t.id for t in open_tasks])
    waiting = plan.open_epic_dependencies(epic)
    if waiting and not ctx.force:
        raise FlowError(f"cannot close {epic.id}: it depends on epics that are open: {', '.join(waiting)}",
                        hint="close those first, or remove the dependency (`epic rm-dep`)",
                        id=epic.id, waiting_on=waiting)
    epic.set("status", "done")
    return Change(f"flow: close epic {epic.id} {_quoted_title(epic.title)}", {epic.path: epic.render()},
                  [transition(epic.id, "open", "done", "close", ctx)],
                  result=_epic_result(epic, f"{epic.id}: open -> done", **{"from": "open"}))


def reopen_epic(plan: Plan, ref: str, ctx: Context) -> Change:
    epic = plan.epic(ref)
    states.check_epic_action(epic.id, epic.status, "reopen", force=ctx.force)
    epic.set("status", "open")
    return Change(f"flow: reopen epic {epic.id} {_quoted_title(epic.title)}", {epic.path: epic.render()},
                  [transition(epic.id, "done", "open", "reopen", ctx)],
                  result=_epic_result(epic, f"{epic.id}: done -> open", **{"from": "done"}))


def set_epic_plan(plan: Plan, ref: str, text: str, ctx: Context, *, section: str | None = None) -> Change:
    """Replace an epic's plan (its Markdown body), or one section of it.

    The whole-plan form takes ``## `` sections (DESIGN §1: Overview, Scope, Approach, Acceptance,
    References; others such as flowctl's Quick commands are kept); standard sections the text
    lacks are added with ``TBD`` so the file stays complete.
    """
    epic = plan.epic(ref)
    if section is not None:
        name = next((s for s in EPIC_SECTIONS if s.lower() == section.strip().lower()), section.strip())
        if not name:
            raise UsageError("--section needs a name", hint="--section Approach")
        epic.doc.set_section(name, text)
        written = [name]
    else:
        found = [s.title for s in sections(text)]
        if not found:
            raise UsageError("the plan has no `## ` sections",
                             hint="write `## Overview`, `## Scope`, `## Approach`, `## Acceptance`, "
                                  "`## References`, or pass --section NAME to set one")
        body = text.strip("\n") + "\n"
        for name in EPIC_SECTIONS:
            if get_section(body, name) is None:
                body += f"\n## {name}\nTBD\n"
        epic.doc.body = body
        written = [s.title for s in sections(body)]
    change_writes: dict[str, bytes | None] = {}
    rendered = epic.render()
    if rendered != plan.source.read(epic.path):
        change_writes[epic.path] = rendered
    return Change(f"flow: set plan of {epic.id} {_quoted_title(epic.title)}", change_writes,
                  result=_epic_result(epic, f"{epic.id}: plan set ({', '.join(written)})",
                                      sections=written))


def refuse_epic_cycle(plan: Plan, epic_id: str, new_deps: list[str], added: list[str]) -> None:
    def neighbors(node: str) -> list[str]:
        if node == epic_id:
            return new_deps
        found = plan.epics.get(node) or plan.archived_epic(node)
        return found.depends_on_epics if found is not None else []

    cycle = cycle_through(neighbors, [(epic_id, dep) for dep in added])
    if cycle is not None:
        raise FlowError(f"refused: that dependency would close the cycle {format_cycle(cycle)}",
                        hint="an epic cannot wait for itself; remove one of these dependencies instead",
                        cycle=cycle)


def _resolve_epics(plan: Plan, refs: Iterable[str]) -> list[str]:
    found: dict[str, None] = {}
    for ref in refs:
        parsed = ids.parse_id(ref)
        if parsed is not None and parsed.is_task:
            raise UsageError(f"{ref} is a task; epics depend on epics", hint="name an epic (fn-2)")
        try:
            found.setdefault(ids.resolve(ref, plan.epics, kind="epic"), None)
        except FlowError:
            found.setdefault(ids.resolve(ref, plan.archived_epic_ids(), kind="epic"), None)
    return list(found)


def change_epic_dependencies(plan: Plan, ref: str, ctx: Context, *, add: Iterable[str] = (),
                             remove: Iterable[str] = ()) -> Change:
    epic = plan.epic(ref)
    old = epic.depends_on_epics
    adding = [dep for dep in _resolve_epics(plan, add) if dep not in old]
    removing: list[str] = []
    for dep_ref in remove:
        try:
            removing.append(dep_ref if dep_ref in old else ids.resolve(dep_ref, old, kind="epic dependency"))
        except FlowError:
            raise FlowError(f"{epic.id} does not depend on {dep_ref}",
                            hint=f"its epic dependencies: {', '.join(old) or 'none'}") from None
    new_deps = [dep for dep in old if dep not in removing] + adding
    refuse_epic_cycle(plan, epic.id, new_deps, adding)
    verb = "epic add-dep" if adding or not removing else "epic rm-dep"
    if not adding and not removing:
        return Change(f"flow: {verb} {epic.id}", {}, result=_epic_result(
            epic, f"{epic.id}: epic dependencies already as asked", added=[], removed=[]))
    epic.set("depends_on_epics", new_deps)
    return Change(
        f"flow: {verb} {epic.id} " + " ".join([f"+{d}" for d in adding] + [f"-{d}" for d in removing]),
        {epic.path: epic.render()},
        result=_epic_result(epic, f"{epic.id} depends on epics: {', '.join(new_deps) or 'none'}",
                            added=adding, removed=removing))


def archive_epic(plan: Plan, ref: str, ctx: Context) -> Change:
    """Move a closed epic, its tasks and its gaps under ``.flow/archive/`` in one commit.

    Only a closed epic is archived, so its tasks are all done or skipped: a live task that depends
    on one of them stays satisfied (docs/states.md#archive). The files move unchanged; their IDs,
    and so their numbers, stay taken. The epic's gap folder moves whole, to
    ``.flow/archive/gaps/<epic-id>/`` (docs/gates.md#gaps): the gaps keep their state and IDs.
    """
    epic = plan.epic(ref)
    if epic.status != "done":
        open_count = sum(1 for t in plan.tasks_of(epic.id) if t.status not in states.FINISHED)
        raise FlowError(f"cannot archive {epic.id}: it is open ({open_count} open task"
                        f"{'' if open_count == 1 else 's'})",
                        hint=f"close it first: `git flow-task epic close {epic.id}`", id=epic.id)
    moves: list[tuple[str, str, str]] = [(epic.id, epic.path, archived_epic_path(epic.id))]
    moves += [(t.id, t.path, archived_task_path(t.id)) for t in plan.tasks_of(epic.id)]
    gap_folder = f"{GAPS_DIR}/{epic.id}/"
    gap_moves = [(path, f"{ARCHIVE_GAPS_DIR}/{epic.id}/{path[len(gap_folder):]}")
                 for path in plan.source.walk_files(gap_folder.rstrip("/"))]
    writes: dict[str, bytes | None] = {}
    for old_path, new_path in [(old, new) for _, old, new in moves] + gap_moves:
        if plan.source.read(new_path) is not None:
            raise FlowError(f"cannot archive {epic.id}: {new_path} already exists",
                            hint="an earlier archive holds that ID; `git flow-task renumber` repairs it")
        writes[new_path] = plan.source.read(old_path)
        writes[old_path] = None
    archived_ids = [item_id for item_id, _, _ in moves]
    task_ids = set(archived_ids[1:])
    still_needed = sorted({t.id for t in plan.tasks.values()
                           if t.epic != epic.id and task_ids.intersection(t.depends_on)},
                          key=ids.id_sort_key)
    return Change(
        f"flow: archive epic {epic.id} {_quoted_title(epic.title)} ({len(task_ids)} tasks)",
        writes, records=[Archive(item_id) for item_id in archived_ids],
        result={"id": epic.id, "archived": archived_ids, "path": archived_epic_path(epic.id),
                "gaps": [new for _, new in gap_moves], "depended_on_by": still_needed,
                "message": f"archived {epic.id} and {len(task_ids)} task{'' if len(task_ids) == 1 else 's'}"
                           + (f" (and {len(gap_moves)} gap{'' if len(gap_moves) == 1 else 's'})"
                              if gap_moves else "")})

