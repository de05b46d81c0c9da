"""Landed work (DESIGN §4): a task done here and also done on the default branch.

The default branch is read from git objects (config ``default_branch``, else ``origin/HEAD``,
else main or master, remote-tracking first): through pygit2 when the command has it open, else
with one ``git for-each-ref`` and the workspace's ``git cat-file --batch``
(Workspace.default_branch_tip, files_at). Only the tasks done in the plan being read are looked up there, and a file whose blob
is the same on both sides needs no parsing.
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


@dataclass
class Landing:
    default_branch: str | None  # the ref compared against, e.g. refs/remotes/origin/main
    landed: set[str] = field(default_factory=set)
    reading_default: bool = False  # the plan read *is* the default branch: landed == done

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
    return landing


def _reads_default(ws: Workspace, rev: str | None, tip: DefaultBranch) -> bool:
    if rev is None:
        return tip.checked_out
    return ws.resolve_commit(rev) == tip.commit
