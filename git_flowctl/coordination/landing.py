"""Landed work (DESIGN §4, issue #17): a done task whose work is on the default branch.

A done task has landed when the default branch's tree says it is done too, and its code is in
the default branch's history: a ``flow/<task-id>`` branch (`run` keeps each task's code there)
that the default branch does not contain means the code has not landed, whatever the files say
(`run` records ``done`` on the branch it runs on, which may be the default branch itself).
`land` merges such a branch and deletes it, so a landed task leaves no ``flow/`` branch behind
(coordination/land.py).

The default branch is read from git objects (config ``default_branch``, else ``origin/HEAD``,
else main or master, remote-tracking first): through pygit2 when the command has it open, else
with one ``git for-each-ref`` (Workspace.default_branch_tip). Whether a done task is done there
too is a question about blob IDs: the default branch's plan is a catalog keyed by its ``.flow``
tree ID (repo/catalog.py), so one lookup per done task answers it, and only a file whose blob
differs on the two sides needs its stored status (issue #11: one ``cat-file`` request per done
task made `status` cost the plan's size).
"""

from __future__ import annotations

from git_flowctl.model import states
from git_flowctl.model.layout import archived_task_path, task_path

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from git_flowctl.repo.catalog import Catalog
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.workspace import DefaultBranch, Workspace

TASK_BRANCHES = "refs/heads/flow/"  # `run` keeps each task's code on flow/<task-id>


def task_branch(task_id: str) -> str:
    """The branch `run` keeps a task's code on, as a full ref."""
    return f"{TASK_BRANCHES}{task_id}"


class Landing:
    """The default branch compared against, and the tasks landed on it."""

    def __init__(self, default_branch: str | None, landed: set[str] | None = None,
                 reading_default: bool = False) -> None:
        self.default_branch = default_branch  # the ref compared against, e.g. refs/remotes/origin/main
        self.landed = landed if landed is not None else set()
        self.reading_default = reading_default  # the plan read *is* the default branch
        # Done in the plan read but not landed: not done on the default branch, or done there
        # while its flow/ branch is not merged into it.
        self.not_landed: set[str] = set()

    @property
    def branch_name(self) -> str | None:
        return branch_name(self.default_branch)


def branch_name(ref: str | None) -> str | None:
    if ref is None:
        return None
    for prefix in ("refs/heads/", "refs/remotes/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def landed_of(done: Iterable[str], blob_here: Callable[[str], str | None], there: Catalog) -> set[str]:
    """The done tasks that are done on the default branch too: its file (live, or archived
    there) has the same blob as here, or says ``status: done``."""
    landed = set()
    for task_id in done:
        for path in (task_path(task_id), archived_task_path(task_id)):
            entry = there.entry(path)
            if entry is None:
                continue
            if entry[0] == blob_here(task_path(task_id)):
                landed.add(task_id)
                break
            if entry[3] == states.DONE:  # its `status:` there (a file that does not parse: None)
                landed.add(task_id)
            break
    return landed


def landed_tasks(ws: Workspace, plan: Plan, rev: str | None = None) -> Landing:
    tip = ws.default_branch_tip(plan.config.get("default_branch"))
    if tip is None:
        return Landing(None)
    landing = Landing(tip.name, reading_default=_reads_default(ws, rev, tip))
    done = [task.id for task in plan.facts.tasks.values() if task.status == states.DONE]
    if done:
        there = ws.revision_source(tip.commit).catalog(ws.plan_cache)
        here = plan.catalog
        landing.landed = landed_of(done, here.blob if here is not None else plan.source.blob_id,
                                   there)
    if landing.landed:
        landing.landed -= unmerged_task_branches(ws, tip.commit)
    landing.not_landed = set(done) - landing.landed
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
