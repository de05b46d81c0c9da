"""Landed work (DESIGN §4): a task done here and also done on the default branch.

The default branch is read from git objects (config ``default_branch``, else ``origin/HEAD``,
else main or master, remote-tracking first). Only the tasks done in the plan being read are
looked up there, and a file whose blob is the same on both sides needs no parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from git_flowctl import states
from git_flowctl.document import Document, DocumentError
from git_flowctl.model import archived_task_path, task_path
from git_flowctl.plan import Plan
from git_flowctl.sources import TreeSource

if TYPE_CHECKING:
    from git_flowctl.workspace import Workspace


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
    import pygit2

    ref_name = ws.default_branch(plan.config.get("default_branch"))
    if ref_name is None:
        return Landing(None)
    try:
        default_commit = ws.repo.revparse_single(ref_name).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return Landing(None)
    landing = Landing(ref_name, reading_default=_reads_default(ws, rev, default_commit.id, ref_name))
    default = TreeSource(ws.repo, default_commit.tree, label=ref_name)
    for task in plan.tasks.values():
        if task.status != states.DONE:
            continue
        for path in (task_path(task.id), archived_task_path(task.id)):
            here, there = plan.source.blob_id(task.path), default.blob_id(path)
            if there is None:
                continue
            if here is not None and here == there:
                landing.landed.add(task.id)
                break
            raw = default.read(path)
            try:
                status = Document.parse(raw or b"", path).data.get("status")
            except DocumentError:
                status = None  # a broken file there is not evidence of landing
            if status == states.DONE:
                landing.landed.add(task.id)
            break
    return landing


def _reads_default(ws: Workspace, rev: str | None, default_id: object, ref_name: str) -> bool:
    import pygit2

    if rev is not None:
        try:
            return bool(ws.repo.revparse_single(rev).peel(pygit2.Commit).id == default_id)
        except (KeyError, ValueError, pygit2.GitError):
            return False
    head = ws.repo.references.get("HEAD")
    return head is not None and head.type == pygit2.enums.ReferenceType.SYMBOLIC \
        and str(head.target) == ref_name
