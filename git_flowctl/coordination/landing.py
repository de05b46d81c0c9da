"""Landed work (DESIGN §4, issue #17): a done task whose work is on the default branch.

A done task has landed when the default branch's tree says it is done too, and its code is in
the default branch's history: a ``flow/<task-id>`` branch (`run` keeps each task's code there)
that the default branch does not contain means the code has not landed, whatever the files say
(`run` records ``done`` on the branch it runs on, which may be the default branch itself).
`land` merges such a branch and deletes it, so a landed task leaves no ``flow/`` branch behind
(coordination/land.py).

The default branch is read from git objects (config ``default_branch``, else ``origin/HEAD``,
else main or master, remote-tracking first): through pygit2 when the command has it open, else
with one ``git for-each-ref`` and the workspace's ``git cat-file --batch``
(Workspace.default_branch_tip, files_at). Only the tasks done in the plan being read are looked
up there, and a file whose blob is the same on both sides needs no parsing; the ``flow/``
branches are asked about once (``git for-each-ref --no-merged``), only when a done task is done
there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from git_flowctl.model import states
from git_flowctl.model.document import Document, DocumentError
from git_flowctl.model.items import archived_task_path, task_path
from git_flowctl.repo.plan import Plan

if TYPE_CHECKING:
    from git_flowctl.repo.workspace import DefaultBranch, Workspace

TASK_BRANCHES = "refs/heads/flow/"  # `run` keeps each task's code on flow/<task-id>


def task_branch(task_id: str) -> str:
    """The branch `run` keeps a task's code on, as a full ref."""
    return f"{TASK_BRANCHES}{task_id}"


@dataclass
class Landing:
    default_branch: str | None  # the ref compared against, e.g. refs/remotes/origin/main
    landed: set[str] = field(default_factory=set)
    reading_default: bool = False  # the plan read *is* the default branch
    # Done in the plan read but not landed: not done on the default branch, or done there while
    # its flow/ branch is not merged into it.
    not_landed: set[str] = field(default_factory=set)

    @property
    def branch_name(self) -> str | None:
        if self.default_branch is None:
            return None
        for prefix in ("refs/heads/", "refs/remotes/"):
            if self.default_branch.startswith(prefix):
                return self.default_branch[len(prefix):]
        return self.default_branch


def landed_tasks(ws: Workspace, plan: Plan, rev: str | None = None) -> Landing:
    tip = ws.default_branch_tip(plan.config.get("default_branch"))
    if tip is None:
        return Landing(None)
    landing = Landing(tip.name, reading_default=_reads_default(ws, rev, tip))
    done = [task for task in plan.tasks.values() if task.status == states.DONE]
    there = ws.files_at(tip.commit, [path for task in done
                                     for path in (task_path(task.id), archived_task_path(task.id))])
    for task in done:
        for path in (task_path(task.id), archived_task_path(task.id)):
            if path not in there:
                continue
            blob_id, raw = there[path]
            if blob_id == plan.source.blob_id(task.path):
                landing.landed.add(task.id)
                break
            try:
                status = Document.parse(raw or b"", path).data.get("status")
            except DocumentError:
                status = None  # a broken file there is not evidence of landing
            if status == states.DONE:
                landing.landed.add(task.id)
            break
    if landing.landed:
        landing.landed -= unmerged_task_branches(ws, tip.commit)
    landing.not_landed = {task.id for task in done} - landing.landed
    return landing


def unmerged_task_branches(ws: Workspace, commit: str) -> set[str]:
    """The task IDs whose ``flow/<task-id>`` branch holds commits that ``commit`` does not."""
    if not ws.repo_is_open:
        result = ws.reader.run("for-each-ref", f"--no-merged={commit}", "--format=%(refname)",
                               "--", TASK_BRANCHES)
        names = result.stdout.decode("utf-8", "replace").split() if result.returncode == 0 else []
        return {name[len(TASK_BRANCHES):] for name in names if name.startswith(TASK_BRANCHES)}
    import pygit2

    repo = ws.repo
    target = pygit2.Oid(hex=commit)
    found = set()
    for name in repo.references:
        if not name.startswith(TASK_BRANCHES):
            continue
        try:
            tip = repo.references[name].peel(pygit2.Commit).id
        except (KeyError, ValueError, pygit2.GitError):
            continue
        if tip != target and not repo.descendant_of(target, tip):
            found.add(name[len(TASK_BRANCHES):])
    return found


def _reads_default(ws: Workspace, rev: str | None, tip: DefaultBranch) -> bool:
    if rev is None:
        return tip.checked_out
    return ws.resolve_commit(rev) == tip.commit
