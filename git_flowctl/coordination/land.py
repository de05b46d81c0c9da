"""`git flow-task land`: finished task branches merge into the target with their state, one at a
time, in dependency order: a merge queue native to git (issue #17, docs/landing.md).

For each task, in a temporary worktree under ``<git-common-dir>/flow-land/`` (never the user's
work tree or index):

1. start from the target's tip (with ``--push``, the remote's tip when it is ahead), and merge
   (``--no-ff``), rebase or squash the task's branch: its ``flow/<task-id>`` branch (`run`'s),
   else the branch its claim record names, else ``--branch``;
2. run the guard there when one is configured (gates/verify.py), on the merged result;
3. record the state with the code, in one commit: a task still in progress gets its ``done``
   transition in the landing commit (it is done exactly when its code is on the target); a task
   done before (as `run` records it on the branch it runs on) gets ``Flow-Landed`` only. Every
   landing commit carries ``Flow-Landed: <task> commit=<tip landed>``;
4. move the target ref by compare-and-swap (``git update-ref NEW OLD``); a worktree that has the
   target checked out is brought along as ``git merge --ff-only`` would (``read-tree -m -u``),
   and a landing that would overwrite its uncommitted changes is refused before anything moves.
   With ``--push``, push first with ``--force-with-lease`` on the remote tip the landing was built
   on; when the remote moved, fetch and redo everything from its new tip, a bounded number of
   times;
5. delete a ``flow/<task-id>`` branch that landed (landed-ness: coordination/landing.py).

A conflict or a failing guard changes no code on the target: the task is recorded ``failed``
(``blocked`` with ``land.on_failure: block``) on the target with the paths or the checks in the
reason (action ``land``, model/states.py), its branch is kept, and the tasks that do not depend
on it go on.

Transitions here are not written by repo/writer.py: the writer commits to the branch checked
out in this worktree, and the target may be checked out nowhere or elsewhere. The changes
themselves are built by changes/ops.py, as every transition's are.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from git_flowctl.changes import ops
from git_flowctl.coordination.claims import Claims, ClaimTakenError
from git_flowctl.coordination.landing import task_branch, unmerged_task_branches
from git_flowctl.model import ids, states
from git_flowctl.model.config import CONFIG_PATH, Config
from git_flowctl.model.errors import ConflictError, FlowError, UsageError
from git_flowctl.model.trailers import Landed, compose_message
from git_flowctl.model.ulid import new_ulid
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.sources import WorkTreeSource
from git_flowctl.repo.writer import exclusive_lock, worktree_lock

if TYPE_CHECKING:
    from git_flowctl.gates.guard import Report
    from git_flowctl.model.items import Task
    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.repo.writer import Change

STRATEGIES = ("merge", "rebase", "squash")
FAILURE_MODES = ("fail", "block")
ATTEMPTS = 5  # landings (and failure records) redone from a target that moved, at most
LAND_DIR = "flow-land"
# git runs no hooks for `land`'s own steps: no post-checkout of the user's in a scratch checkout,
# and the landing commit is made with commit-tree. Pushing does run the pre-push hook.
_NO_HOOKS = ("-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false")
_ENV_DROPPED = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                "GIT_PREFIX", "GIT_COMMON_DIR")

Emit = Callable[[str, dict[str, Any]], None]


@dataclass
class LandOptions:
    actor: str
    into: str | None = None  # the target branch; None: the default branch
    strategy: str | None = None  # None: config land.strategy (merge)
    push: bool = False
    remote: str | None = None  # None: the target's upstream remote, else origin
    on_failure: str | None = None  # None: config land.on_failure (fail)
    stop: Callable[[], bool] | None = None  # asked before each guard check: True fails the rest


@dataclass
class Candidate:
    """One task to land, as found before anything is done."""

    task: str
    title: str
    branch: str  # the branch landed, as a full ref
    tip: str  # its commit when the landing began
    depends_on: list[str]
    state: str  # the task's status on the target (else on its branch)
    run_branch: bool  # a run's flow/<task-id> branch: deleted once it landed

    @property
    def branch_name(self) -> str:
        return self.branch.removeprefix("refs/heads/")


@dataclass
class Outcome:
    """What happened to one task."""

    task: str
    branch: str
    tip: str
    outcome: str = "pending"  # landed | already_landed | failed | blocked | skipped | error
    commit: str | None = None  # the landing commit (or the commit recording the failure)
    recorded: str | None = None  # done | landed | failed | blocked
    status: str | None = None  # the task's status on the target afterwards
    reason: str | None = None
    paths: list[str] = field(default_factory=list)  # conflicting paths
    checks: list[str] = field(default_factory=list)  # guard checks that did not pass
    guard: dict[str, Any] | None = None
    attempts: int = 0
    notes: list[str] = field(default_factory=list)
    claim: dict[str, Any] | None = None
    branch_deleted: bool = False
    exit_code: int = 0  # of an error: 3 when it lost a race or someone else holds the task

    @property
    def ok(self) -> bool:
        return self.outcome in ("landed", "already_landed")

    def as_json(self) -> dict[str, Any]:
        return {"id": self.task, "branch": self.branch.removeprefix("refs/heads/"),
                "tip": self.tip, "outcome": self.outcome, "commit": self.commit,
                "recorded": self.recorded, "status": self.status, "reason": self.reason,
                "paths": self.paths, "checks": self.checks, "guard": self.guard,
                "attempts": self.attempts, "notes": self.notes, "claim": self.claim,
                "branch_deleted": self.branch_deleted, "exit_code": self.exit_code}


class _Failed(Exception):
    """The landing of one task failed for a reason of the task's own (recorded on the target)."""

    def __init__(self, reason: str, *, paths: Sequence[str] = (), checks: Sequence[str] = (),
                 guard: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.paths = list(paths)
        self.checks = list(checks)
        self.guard = guard


class _Moved(Exception):
    """The target (or the remote) moved while landing: build again from its new tip."""


class _Base:
    """Where one attempt starts: the local target's tip, the remote's, and the commit built on."""

    def __init__(self, local: str, remote: str | None, commit: str) -> None:
        self.local = local
        self.remote = remote
        self.commit = commit


class Lander:
    def __init__(self, ws: Workspace, options: LandOptions, emit: Emit | None = None) -> None:
        self.ws = ws
        self.options = options
        self._emit = emit or (lambda kind, data: None)
        self.target = target_ref(ws, options.into)
        self.target_name = self.target.removeprefix("refs/heads/")
        tip = self._rev(self.target)
        assert tip is not None
        self.config = Config.parse(self._file_at(tip, CONFIG_PATH))
        self.strategy = options.strategy or str(self.config.get("land.strategy") or "merge")
        if self.strategy not in STRATEGIES:
            raise UsageError(f"unknown landing strategy {self.strategy!r}",
                             hint="merge, rebase or squash (--strategy, or land.strategy in "
                                  "config.yaml)")
        self.on_failure = options.on_failure or str(self.config.get("land.on_failure") or "fail")
        if self.on_failure not in FAILURE_MODES:
            raise UsageError(f"land.on_failure must be fail or block, not {self.on_failure!r}",
                             hint="git flow-task config set land.on_failure block")
        self.remote: str | None = None
        self.remote_ref = self.target
        if options.push:
            self.remote = options.remote or ws.config_value(f"branch.{self.target_name}.remote") \
                or "origin"
            merge = ws.config_value(f"branch.{self.target_name}.merge")
            if merge and merge.startswith("refs/heads/") and not options.remote:
                self.remote_ref = merge
            if self.remote not in self._git("remote").stdout.decode().split():
                raise FlowError(f"no git remote named {self.remote!r} to push {self.target_name} to",
                                hint="name one with --remote, or `git remote add origin URL`")
        self.claims = Claims.open(ws)
        self.ctx = self._context()
        self.landed: set[str] = set()
        self.not_landed: dict[str, str] = {}  # task -> why (failed, or waits for one that did)

    # Choosing what lands ------------------------------------------------------------------------

    def resolve(self, refs: Sequence[str], *, all_done: bool = False,
                branch: str | None = None) -> tuple[list[Candidate], dict[str, str]]:
        """The tasks to land, in dependency order, and the tasks passed over with the reason
        (``--all-done``: already landed, nothing to land). Refuses (nothing done) a task that
        cannot land: no branch, a state other than in progress or done, someone else's."""
        if branch is not None and (all_done or len(refs) != 1):
            raise UsageError("--branch names the branch of one task", hint="land TASK --branch B")
        if all_done and refs:
            raise UsageError("give TASK... or --all-done, not both")
        if not all_done and not refs:
            raise UsageError("name the tasks to land, or --all-done",
                             hint="git flow-task land fn-1.2, or land --all-done")
        tip = self._rev(self.target)
        assert tip is not None
        on_target = self._plan_at(tip)
        here = self._plan_at("HEAD") if self._rev("HEAD") not in (None, tip) else on_target
        passed: dict[str, str] = {}
        if all_done:
            wanted = self._done_not_landed(on_target, here, tip, passed)
        else:
            wanted = []
            for ref in refs:
                task_id = _resolve(ref, on_target, here)
                if task_id not in wanted:
                    wanted.append(task_id)
        found: dict[str, Candidate] = {}
        unmerged = unmerged_task_branches(self.ws, tip)
        for task_id in wanted:
            candidate = self._candidate(task_id, on_target, here, tip, branch)
            if candidate is None:
                passed[task_id] = f"already landed on {self.target_name}"
                continue
            found[task_id] = candidate
        for candidate in found.values():
            for dep in candidate.depends_on:
                if dep in found or dep not in unmerged:
                    continue
                raise FlowError(f"{candidate.task} depends on {dep}, which has not landed on "
                                f"{self.target_name}",
                                hint=f"land it first, or with it: git flow-task land {dep} "
                                     f"{candidate.task}")
        return _dependency_order(found, on_target, here), passed

    def _done_not_landed(self, on_target: Plan, here: Plan, tip: str,
                         passed: dict[str, str]) -> list[str]:
        unmerged = unmerged_task_branches(self.ws, tip)
        wanted = [task_id for task_id in sorted(unmerged, key=ids.id_sort_key)
                  if _status(on_target, task_id) == states.DONE
                  or (_status(on_target, task_id) is None and _status(here, task_id) == states.DONE)]
        for claim in self.claims.all():
            if not claim.is_finished or claim.task in wanted or claim.task in unmerged:
                continue
            ref = claim.branch
            if not ref.startswith("refs/heads/") or ref == self.target:
                continue
            branch_tip = self._rev(ref)
            if branch_tip is None or self._is_ancestor(branch_tip, tip):
                continue
            if _status(on_target, claim.task) in (None, states.DONE) \
                    or _status(here, claim.task) == states.DONE:
                wanted.append(claim.task)
        for task_id, task in sorted(here.tasks.items()):
            if task.status == states.DONE and task_id not in wanted \
                    and _status(on_target, task_id) != states.DONE:
                passed[task_id] = f"done here but no branch of it to land on {self.target_name}"
        return wanted

    def _candidate(self, task_id: str, on_target: Plan, here: Plan, tip: str,
                   branch: str | None) -> Candidate | None:
        """The task as it will land; None when it has landed already."""
        try:
            branch_ref, run_branch = self._branch_of(task_id, branch)
        except FlowError:
            known = on_target.tasks.get(task_id) or here.tasks.get(task_id)
            if known is not None and known.status not in (states.IN_PROGRESS, states.DONE):
                self._refuse_state(task_id, known.status, self.target_name
                                   if task_id in on_target.tasks else "this branch")
            raise
        branch_tip = self._rev(branch_ref)
        assert branch_tip is not None
        on_branch = self._plan_at(branch_tip)
        task = self._as_merged(task_id, on_target, on_branch, tip, branch_tip)
        if task is None:
            raise FlowError(f"{task_id} is neither on {self.target_name} nor on "
                            f"{branch_ref.removeprefix('refs/heads/')}",
                            hint="land the branch that creates it")
        if self._is_ancestor(branch_tip, tip) and _status(on_target, task_id) == states.DONE:
            return None
        if task.status not in (states.IN_PROGRESS, states.DONE):
            self._refuse_state(task_id, task.status,
                               f"{self.target_name} with {branch_ref.removeprefix('refs/heads/')}")
        if task.status == states.IN_PROGRESS:
            if task.assignee and task.assignee != self.options.actor:
                raise ClaimTakenError(
                    f"cannot land {task_id}: {task.assignee} is working on it",
                    hint="its assignee lands it (the landing records their done)",
                    holder=task.assignee, id=task_id)
            self._check_claim(task_id)
        return Candidate(task_id, task.title, branch_ref, branch_tip, list(task.depends_on),
                         task.status, run_branch)

    def _as_merged(self, task_id: str, on_target: Plan, on_branch: Plan, tip: str,
                   branch_tip: str) -> Task | None:
        """The task as the merge will leave it: the branch's version where the target has not
        changed its file since they parted, else the target's (a merge keeps the side that
        changed it)."""
        ours, theirs = on_target.tasks.get(task_id), on_branch.tasks.get(task_id)
        if ours is None or theirs is None:
            return ours or theirs
        fork = self._git("merge-base", tip, branch_tip, check=False).stdout.decode().strip()
        if fork and self._git("rev-parse", "-q", "--verify", f"{fork}:{ours.path}",
                              check=False).stdout.decode().strip() \
                == on_target.source.blob_id(ours.path):
            return theirs
        return ours

    def _refuse_state(self, task_id: str, status: str, where: str) -> None:
        raise FlowError(
            f"cannot land {task_id}: it is {status} on {where}",
            hint="a task lands in progress (the landing records done) or done; "
                 + ("`retry` it, start it and finish its branch first"
                    if status in (states.FAILED, states.BLOCKED, states.UP_FOR_RETRY)
                    else f"start it first: git flow-task start {task_id}"),
            id=task_id, status=status)

    def _branch_of(self, task_id: str, branch: str | None) -> tuple[str, bool]:
        if branch is not None:
            ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
            if self._rev(ref) is None:
                raise FlowError(f"no branch {branch}", hint="`git branch` lists them")
            return ref, ref == task_branch(task_id)
        ref = task_branch(task_id)
        if self._rev(ref) is not None:
            return ref, True
        claim = self.claims.get(task_id)
        if claim is not None and claim.branch.startswith("refs/heads/") \
                and claim.branch != self.target and self._rev(claim.branch) is not None:
            return claim.branch, False
        raise FlowError(f"no branch to land for {task_id}: no flow/{task_id} (a run's), and its "
                        "claim names no other branch",
                        hint=f"name it: git flow-task land {task_id} --branch BRANCH")

    def _check_claim(self, task_id: str) -> None:
        """Refuse up front (exit 3) what ``confirm`` would refuse after the merge."""
        current = self.claims.get(task_id)
        if current is None or self.claims.stale_here(current, self.options.actor):
            return
        if current.is_finished:
            raise ClaimTakenError(
                f"cannot land {task_id}: it is {current.describe()}",
                hint=f"land it into {current.branch.removeprefix('refs/heads/')} "
                     f"(--into), or merge that branch into {self.target_name} first",
                holder=current.holder, id=task_id)
        if current.holder != self.options.actor:
            raise ClaimTakenError(f"cannot land {task_id}: it is {current.describe()}",
                                  hint="its holder lands it", holder=current.holder, id=task_id)

    # Dry run -------------------------------------------------------------------------------------

    def describe(self, candidates: Sequence[Candidate], passed: Mapping[str, str]) -> dict[str, Any]:
        """``--dry-run``: the order and what each landing would do; nothing is changed."""
        tip = self._rev(self.target)
        assert tip is not None
        guard = self._guard_configured(tip)
        steps = []
        diffs: list[str] = []
        messages: list[str] = []
        for candidate in candidates:
            commits = self._commits(candidate.tip, tip)
            stat = self._git("diff", "--stat", f"{tip}...{candidate.tip}", check=False)
            diffs.append(f"{candidate.task} ({candidate.branch_name}):\n"
                         + (stat.stdout.decode("utf-8", "replace") or " no change\n"))
            messages.append(self._message(candidate, commits, self._foreseen_lines(candidate)))
            verb = {"merge": "merge", "rebase": "rebase", "squash": "squash"}[self.strategy]
            records = "done (in_progress->done) and Flow-Landed" \
                if candidate.state == states.IN_PROGRESS else "Flow-Landed (done before)"
            shape = {"merge": "a merge commit", "rebase": "its last rebased commit",
                     "squash": "one squashed commit"}[self.strategy]
            steps.append({
                "id": candidate.task, "branch": candidate.branch_name, "tip": candidate.tip,
                "commits": len(commits), "state": candidate.state, "records": records,
                "guard": guard, "deletes_branch": candidate.run_branch,
                "would": (f"{verb} {candidate.branch_name} ({_plural(len(commits), 'commit')}) "
                          f"into {self.target_name} in {shape} recording {records}"
                          + ("; run the guard on the result" if guard else "")
                          + (f"; then push to {self.remote}" if self.remote else ""))})
        return {"dry_run": True, "into": self.target_name, "strategy": self.strategy,
                "push": self.remote is not None, "remote": self.remote,
                "order": [c.task for c in candidates], "tasks": steps, "passed_over": dict(passed),
                "target": tip, "commit": None, "diff": "".join(diffs),
                "commit_message": messages[0] if messages else "", "commit_messages": messages}

    def _foreseen_lines(self, candidate: Candidate) -> list[str]:
        """The trailer lines a landing of ``candidate`` would write (the done's ID is new)."""
        lines = []
        if candidate.state == states.IN_PROGRESS:
            lines.append(ops.transition(candidate.task, states.IN_PROGRESS, states.DONE, "done",
                                        self.ctx).line())
        lines.append(Landed(candidate.task, candidate.tip, (("by", self.options.actor),)).line())
        return lines

    def _message(self, candidate: Candidate, commits: Sequence[str], lines: Sequence[str],
                 title: str | None = None) -> str:
        listed = " ".join(commit[:12] for commit in commits[:50]) + (" ..." if len(commits) > 50 else "")
        body = (f"{self._verb().capitalize()} {candidate.branch_name} at {candidate.tip[:12]} "
                f"into {self.target_name} ({_plural(len(commits), 'commit')}"
                + (f" of its own: {listed}" if commits else "") + ").")
        return compose_message(f"flow: land {candidate.task} {_quoted(title or candidate.title)}",
                               body, lines)

    # Landing -------------------------------------------------------------------------------------

    def land(self, candidates: Sequence[Candidate], passed: Mapping[str, str] | None = None,
             ) -> dict[str, Any]:
        """Land each candidate in order; a task whose dependency did not land is skipped."""
        before = self._rev(self.target)
        outcomes: list[Outcome] = []
        with self._queue_lock():
            self._sweep()
            for candidate in candidates:
                waits = [dep for dep in candidate.depends_on if dep in self.not_landed]
                if waits:
                    outcome = Outcome(candidate.task, candidate.branch, candidate.tip, "skipped",
                                      reason=f"waits for {', '.join(waits)}, which did not land")
                    self.not_landed[candidate.task] = outcome.reason or ""
                    self._emit("skip", outcome.as_json())
                else:
                    outcome = self.land_one(candidate)
                outcomes.append(outcome)
        after = self._rev(self.target)
        return {"into": self.target_name, "strategy": self.strategy,
                "push": self.remote is not None, "remote": self.remote,
                "order": [c.task for c in candidates],
                "landed": [o.task for o in outcomes if o.outcome == "landed"],
                "already_landed": [o.task for o in outcomes if o.outcome == "already_landed"]
                + [task for task, why in (passed or {}).items() if why.startswith("already")],
                "failed": [o.task for o in outcomes if o.outcome in ("failed", "blocked", "error")],
                "skipped": [o.task for o in outcomes if o.outcome == "skipped"],
                "passed_over": dict(passed or {}),
                "tasks": [o.as_json() for o in outcomes], "before": before, "after": after}

    def land_queued(self, candidate: Candidate, *, evidence: Mapping[str, Any] | None = None,
                    summary: str | None = None) -> Outcome:
        """``land_one`` holding the queue (another `land` into the same target waits)."""
        with self._queue_lock():
            return self.land_one(candidate, evidence=evidence, summary=summary)

    def run_candidate(self, task_id: str) -> Candidate:
        """A task `run` just finished: its flow/ branch, in progress on the target."""
        branch = task_branch(task_id)
        tip = self._rev(branch)
        if tip is None:
            raise FlowError(f"{task_id}'s branch flow/{task_id} is gone")
        target_tip = self._rev(self.target)
        assert target_tip is not None
        task = self._plan_at(target_tip).task(task_id)
        return Candidate(task_id, task.title, branch, tip, list(task.depends_on), task.status,
                         True)

    def land_one(self, candidate: Candidate, *, evidence: Mapping[str, Any] | None = None,
                 summary: str | None = None) -> Outcome:
        """Land one task (also `run --land`'s step); never raises for the task's own failures."""
        outcome = Outcome(candidate.task, candidate.branch, candidate.tip)
        self._emit("begin", {"id": candidate.task, "branch": candidate.branch_name,
                             "into": self.target_name})
        try:
            self._land_attempts(candidate, outcome, evidence, summary)
        except _Failed as failed:
            outcome.reason, outcome.paths, outcome.checks = failed.reason, failed.paths, failed.checks
            outcome.guard = failed.guard or outcome.guard
            self._record_failure(candidate, outcome)
        except ConflictError as lost:  # someone else's claim, or the target kept moving
            outcome.outcome, outcome.reason, outcome.exit_code = "error", lost.message, 3
        except FlowError as error:
            outcome.outcome, outcome.reason, outcome.exit_code = "error", error.message, 1
            if error.hint:
                outcome.notes.append(error.hint)
        if outcome.ok:
            self.landed.add(candidate.task)
        else:
            self.not_landed[candidate.task] = outcome.reason or outcome.outcome
        self._emit(outcome.outcome, outcome.as_json())
        return outcome

    def _land_attempts(self, candidate: Candidate, outcome: Outcome,
                       evidence: Mapping[str, Any] | None, summary: str | None) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            outcome.attempts = attempt
            base = self._base()
            start = candidate.tip if self.strategy == "rebase" else base.commit
            with self._scratch(candidate.task, start) as scratch:
                try:
                    built = self._build(scratch, candidate, base, evidence, summary, outcome)
                except _AlreadyLanded:
                    outcome.outcome, outcome.status = "already_landed", states.DONE
                    return
                if built is None:
                    continue
                commit, recorded = built
            try:
                self._publish(base, commit, f"flow: land {candidate.task}")
            except _Moved:
                outcome.notes.append(f"attempt {attempt}: {self.target_name} moved; "
                                     "landing again from its new tip")
                self._emit("retry", {"id": candidate.task, "attempt": attempt})
                continue
            outcome.outcome, outcome.commit, outcome.recorded = "landed", commit, recorded
            outcome.status = states.DONE
            self._after_landing(candidate, outcome, recorded, commit)
            return
        raise ConflictError(f"gave up landing {candidate.task}: {self.target_name} kept moving "
                            f"({ATTEMPTS} attempts)", hint="try again when it is quieter")

    def _build(self, scratch: Path, candidate: Candidate, base: _Base,
               evidence: Mapping[str, Any] | None, summary: str | None,
               outcome: Outcome) -> tuple[str, str] | None:
        """Merge, check and commit in the scratch worktree: (the landing commit, what it
        records). Raises _Failed for a conflict or a failing guard."""
        parents, code_tip = self._integrate(scratch, candidate, base.commit)
        plan = Plan.load(WorkTreeSource(scratch, label=f"{self.target_name} + {candidate.branch_name}"))
        task = plan.tasks.get(candidate.task)
        state = task.status if task is not None else None
        if state == states.DONE and parents == [base.commit] and code_tip == base.commit \
                and self._is_ancestor(candidate.tip, base.commit):
            raise _AlreadyLanded
        if state not in (states.IN_PROGRESS, states.DONE):
            raise FlowError(f"cannot land {candidate.task}: it is {state or 'missing'} on "
                            f"{self.target_name} with {candidate.branch_name} merged",
                            hint="a task lands in progress or done")
        report = self._guard(scratch, base.commit, candidate.task)
        if report is not None:
            outcome.guard = report.as_json()
            problem = report.problem()
            if problem is not None:
                failed = [r.check.name for r in report.results if r.result == "fail"]
                raise _Failed(f"the guard failed on {self.target_name} with "
                              f"{candidate.branch_name} merged: {', '.join(failed)}"
                              if failed else f"the guard did not pass on the merged result: {problem}",
                              checks=failed, guard=report.as_json())
        lines: list[str] = []
        commits = self._commits(candidate.tip, base.commit)
        if state == states.IN_PROGRESS:
            assert task is not None
            proof = {**dict(evidence or {}), "branch": candidate.branch_name,
                     "commits": [c[:12] for c in commits]}
            text = summary or (f"Landed on {self.target_name}: {self._verb()} "
                               f"{candidate.branch_name} ({_plural(len(commits), 'commit')}).")
            try:
                change = ops.done(plan, candidate.task, self.ctx, summary=text, evidence=proof,
                                  verification=report.evidence(candidate.task)
                                  if report is not None else None)
            except FlowError as refused:
                raise _Failed(f"the landing cannot record done: {refused.message}") from None
            self._stage(scratch, change)
            lines = change.trailer_lines()
            recorded = "done"
        else:
            recorded = "landed"
        lines.append(Landed(candidate.task, candidate.tip,
                            (("by", self.options.actor),)).line())
        message = self._message(candidate, commits, lines,
                                task.title if task is not None else None)
        tree = self._git_in(scratch, "write-tree").stdout.decode().strip()
        if self.strategy == "rebase" and code_tip != base.commit:
            # The last rebased commit carries the state: it is amended (message and tree).
            original = self._git("log", "-1", "--format=%B", code_tip).stdout.decode()
            message = original.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
            parents = self._git("rev-parse", f"{code_tip}^").stdout.decode().split()
            return self._commit_tree(tree, parents, message, author_of=code_tip), recorded
        return self._commit_tree(tree, parents, message), recorded

    def _integrate(self, scratch: Path, candidate: Candidate, base: str) -> tuple[list[str], str]:
        """Bring the branch into the scratch worktree (at ``base``): the landing commit's
        parents and the commit whose tree holds the code (rebase: the rebased tip)."""
        tip = candidate.tip
        if self.strategy == "rebase":
            self._git_in(scratch, "checkout", "--quiet", "--detach", tip)
            result = self._git_in(scratch, "rebase", "--quiet", "--no-autosquash", base,
                                  check=False)
            if result.returncode != 0:
                paths = self._unmerged(scratch)
                self._git_in(scratch, "rebase", "--abort", check=False)
                raise self._conflict(candidate, paths, result)
            rebased = self._git_in(scratch, "rev-parse", "HEAD").stdout.decode().strip()
            return [base], rebased
        if self._is_ancestor(tip, base):
            return [base], base  # nothing to bring: the code is there already
        args = ["merge", "--quiet", "--no-edit", "--no-commit"]
        args += ["--squash"] if self.strategy == "squash" else ["--no-ff"]
        result = self._git_in(scratch, *args, tip, check=False)
        if result.returncode != 0:
            raise self._conflict(candidate, self._unmerged(scratch), result)
        return ([base] if self.strategy == "squash" else [base, tip]), tip

    def _conflict(self, candidate: Candidate, paths: list[str],
                  result: subprocess.CompletedProcess[bytes]) -> _Failed:
        if paths:
            shown = ", ".join(_printable(p) for p in paths[:20]) + (" ..." if len(paths) > 20 else "")
            return _Failed(f"{candidate.branch_name} conflicts with {self.target_name} in {shown}",
                           paths=[_printable(p) for p in paths])
        return _Failed(f"{self._verb()} {candidate.branch_name} into {self.target_name} failed: "
                       f"{_printable(_last_line(result))}")

    def _stage(self, scratch: Path, change: Change) -> None:
        """Put the change's files into the scratch worktree's index (not its files)."""
        for path, content in change.writes.items():
            if content is None:
                self._git_in(scratch, "rm", "--cached", "--quiet", "--", path)
                continue
            blob = self._git_in(scratch, "hash-object", "-w", "--stdin", "--path", path,
                                input=content).stdout.decode().strip()
            listed = self._git_in(scratch, "ls-files", "-s", "--", path).stdout.decode().split()
            mode = listed[0] if listed else "100644"
            self._git_in(scratch, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}")

    def _guard(self, scratch: Path, base: str, task_id: str) -> Report | None:
        from git_flowctl.gates.verify import configured_checks, verify

        source = WorkTreeSource(scratch)
        if not configured_checks(source):
            return None
        self._emit("guard", {"id": task_id})
        return verify(self.ws, base=base, root=scratch, source=source,
                      keep_in=self.ws.common_dir / LAND_DIR / "guard" / f"{task_id}.{new_ulid().lower()}",
                      env={**os.environ, "FLOW_TASK_ID": task_id, "FLOW_LAND_INTO": self.target_name},
                      stop=self.options.stop)

    def _guard_configured(self, commit: str) -> bool:
        from git_flowctl.gates import invariants

        if self.config.get("guard"):
            return True
        return bool(self._file_at(commit, invariants.INVARIANTS_PATH))

    # After a landing ------------------------------------------------------------------------------

    def _after_landing(self, candidate: Candidate, outcome: Outcome, recorded: str,
                       commit: str) -> None:
        if recorded == "done":
            try:
                confirmed = self.claims.confirm(candidate.task, self.options.actor)
                outcome.claim = self.claims.finish(candidate.task, self.options.actor,
                                                   self.target, commit, confirmed)
            except (ClaimTakenError, ConflictError) as changed:
                outcome.notes.append(f"the claim was left alone: {changed.message}")
        if candidate.run_branch:
            deleted = self._git("branch", "--quiet", "-D", candidate.branch_name, check=False)
            if deleted.returncode == 0:
                outcome.branch_deleted = True
            else:
                outcome.notes.append(f"{candidate.branch_name} was kept: {_last_line(deleted)}")

    def _record_failure(self, candidate: Candidate, outcome: Outcome) -> None:
        """The task is failed (or blocked) on the target, the reason in its file; its branch is
        kept. Nothing of its code reaches the target."""
        block = self.on_failure == "block"
        outcome.outcome = "blocked" if block else "failed"
        reason = outcome.reason or "the landing failed"
        for _ in range(ATTEMPTS):
            base = self._base()
            plan = self._plan_at(base.commit)
            task = plan.tasks.get(candidate.task)
            if task is None or task.status not in (states.IN_PROGRESS, states.DONE):
                outcome.notes.append(f"not recorded on {self.target_name}: the task is "
                                     f"{task.status if task else 'not there'}")
                return
            try:
                change = ops.land_failed(plan, candidate.task, self.ctx, reason=reason, block=block)
            except FlowError as refused:
                outcome.notes.append(f"not recorded: {refused.message}")
                return
            held = self.claims.get(candidate.task)
            message = compose_message(change.subject, f"Landing {candidate.branch_name} into "
                                      f"{self.target_name} failed; the branch is kept.",
                                      change.trailer_lines())
            tree = self._tree_with(base.commit, change.writes)
            commit = self._commit_tree(tree, [base.commit], message)
            try:
                self._publish(base, commit, f"flow: land {candidate.task} failed")
            except _Moved:
                continue
            outcome.commit, outcome.recorded = commit, outcome.outcome
            outcome.status = str(change.result.get("status"))
            if held is not None:
                outcome.claim = self.claims.drop(candidate.task, held, self.options.actor)
            return
        outcome.notes.append(f"not recorded: {self.target_name} kept moving")

    # The target ----------------------------------------------------------------------------------

    def _base(self) -> _Base:
        local = self._rev(self.target)
        if local is None:
            raise FlowError(f"the branch {self.target_name} is gone")
        if self.remote is None:
            return _Base(local, None, local)
        remote = self._fetch_remote()
        if remote is None or remote == local or self._is_ancestor(remote, local):
            return _Base(local, remote, local)
        if self._is_ancestor(local, remote):
            return _Base(local, remote, remote)
        return _Base(local, remote, self._join(local, remote))

    def _join(self, local: str, remote: str) -> str:
        """Both sides moved (local commits not pushed yet, someone else's pushed): a merge of
        the remote's tip into the local one, for the landing to build on, as `git pull` would."""
        tracking = f"{self.remote}/{self.remote_ref.removeprefix('refs/heads/')}"
        with self._scratch("join", local) as scratch:
            result = self._git_in(scratch, "merge", "--quiet", "--no-edit", "--no-ff",
                                  "--no-commit", remote, check=False)
            if result.returncode != 0:
                paths = ", ".join(_printable(p) for p in self._unmerged(scratch)[:10])
                raise FlowError(f"{self.target_name} and {tracking} have diverged and do not "
                                f"merge cleanly" + (f" ({paths})" if paths else ""),
                                hint=f"bring them together first (git pull {self.remote} "
                                     f"{self.target_name}), then land")
            tree = self._git_in(scratch, "write-tree").stdout.decode().strip()
        return self._commit_tree(tree, [local, remote],
                                 f"Merge {tracking} into {self.target_name}\n\n"
                                 f"{self.target_name} had commits not pushed yet when {tracking} "
                                 "moved; git flow-task land builds on both.\n")

    def _fetch_remote(self) -> str | None:
        assert self.remote is not None
        tracking = f"refs/remotes/{self.remote}/{self.remote_ref.removeprefix('refs/heads/')}"
        result = self._git("fetch", "--quiet", "--no-tags", self.remote,
                           f"+{self.remote_ref}:{tracking}", check=False)
        if result.returncode != 0:
            if "couldn't find remote ref" in result.stderr.decode("utf-8", "replace"):
                return None
            raise FlowError(f"cannot fetch {self.target_name} from {self.remote}: "
                            f"{_last_line(result)}", hint="check the remote (git fetch)")
        return self._rev(tracking)

    def _publish(self, base: _Base, commit: str, reflog: str) -> None:
        """Push (with ``--push``), then move the local target: compare-and-swap both ways.
        Raises _Moved when either moved since ``base`` was read."""
        if self.remote is not None:
            self._push(commit, base.remote)
        if not self._advance(base.local, commit, reflog):
            if self.remote is None:
                raise _Moved
            raise FlowError(f"landed and pushed to {self.remote}, but the local "
                            f"{self.target_name} moved meanwhile and was left alone",
                            hint=f"git pull {self.remote} {self.target_name} brings the landing")

    def _push(self, commit: str, expected: str | None) -> None:
        assert self.remote is not None
        lease = f"--force-with-lease={self.remote_ref}:{expected or ''}"
        # The user's pre-push hook runs: this is a push of code like any other.
        result = self._git("push", "--porcelain", "--quiet", lease, self.remote,
                           f"{commit}:{self.remote_ref}", check=False, hooks=True)
        if result.returncode == 0:
            return
        text = (result.stdout + result.stderr).decode("utf-8", "replace")
        if "stale info" in text or "fetch first" in text or "non-fast-forward" in text:
            raise _Moved
        raise FlowError(f"pushing {self.target_name} to {self.remote} was refused: "
                        f"{_printable(_push_problem(text))}",
                        hint="nothing landed; see why the remote (or the pre-push hook) refused")

    def _advance(self, old: str, new: str, reflog: str) -> bool:
        """Compare-and-swap the target from ``old`` to ``new``, and bring along a worktree that
        has it checked out (refused first if its uncommitted changes would be overwritten)."""
        where = self.ws.worktrees_by_branch().get(self.target)
        if where is None or not where.is_dir():  # a worktree whose directory is gone follows nothing
            return self._git("update-ref", "-m", reflog, self.target, new, old,
                             check=False).returncode == 0

        git_dir = Path(self._git_in(where, "rev-parse", "--absolute-git-dir").stdout.decode().strip())
        with worktree_lock(git_dir):
            self._refuse_overwrite(where, git_dir, old, new)
            if self._git("update-ref", "-m", reflog, self.target, new, old,
                         check=False).returncode != 0:
                return False
            for pause in (0.0, 0.05, 0.1, 0.2, 0.5, 1.0):
                time.sleep(pause)
                result = self._git_in(where, "read-tree", "-m", "-u", old, new, check=False)
                if result.returncode == 0:
                    return True
            raise FlowError(f"{self.target_name} moved to the landing, but the work tree at "
                            f"{where} could not follow: {_last_line(result)}",
                            hint=f"bring it along there: git read-tree -m -u {old[:12]} HEAD")

    def _refuse_overwrite(self, where: Path, git_dir: Path, old: str, new: str) -> None:
        for marker, what in (("MERGE_HEAD", "a merge"), ("rebase-merge", "a rebase"),
                             ("rebase-apply", "a rebase"), ("CHERRY_PICK_HEAD", "a cherry-pick"),
                             ("REVERT_HEAD", "a revert")):
            if (git_dir / marker).exists():
                raise FlowError(f"{what} is in progress in {where}, where {self.target_name} is "
                                "checked out; nothing landed", hint="finish or abort it, then land")
        changed = set(_z(self._git("diff", "--name-only", "-z", "--no-renames", old, new).stdout))
        if not changed:
            return
        self._git_in(where, "update-index", "-q", "--refresh", check=False)
        dirty = set(_z(self._git_in(where, "diff-index", "--name-only", "-z", "HEAD",
                                    check=False).stdout))
        dirty |= set(_z(self._git_in(where, "ls-files", "--others", "--exclude-standard", "-z",
                                     check=False).stdout))
        clash = sorted(changed & dirty)
        if clash:
            shown = ", ".join(_printable(p) for p in clash[:10])
            raise FlowError(f"{self.target_name} is checked out in {where} with uncommitted "
                            f"changes to {shown}, which the landing changes; nothing landed",
                            hint="commit or stash them there, then land again")

    # Scratch worktrees ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _scratch(self, name: str, start: str) -> Iterator[Path]:
        """A temporary worktree, detached at ``start``, removed afterwards."""
        root = self.ws.common_dir / LAND_DIR
        root.mkdir(parents=True, exist_ok=True)
        path = root / f"{name}.{os.getpid()}.{new_ulid()[-8:].lower()}"
        result = self._git("worktree", "add", "--quiet", "--detach", str(path), start, check=False)
        if result.returncode != 0:
            raise FlowError(f"cannot create a worktree to land {name} in: {_last_line(result)}")
        try:
            yield path
        finally:
            removed = self._git("worktree", "remove", "--force", "--force", str(path), check=False)
            if removed.returncode != 0:
                shutil.rmtree(path, ignore_errors=True)
                self._git("worktree", "prune", check=False)

    def _sweep(self) -> None:
        """Remove scratch worktrees of landings that died (their process is gone)."""
        root = self.ws.common_dir / LAND_DIR
        if not root.is_dir():
            return
        for path in root.iterdir():
            parts = path.name.rsplit(".", 2)
            if not path.is_dir() or len(parts) != 3 or not parts[1].isdigit():
                continue
            if _alive(int(parts[1])):
                continue
            self._git("worktree", "remove", "--force", "--force", str(path), check=False)
            shutil.rmtree(path, ignore_errors=True)
        self._git("worktree", "prune", check=False)

    def _queue_lock(self) -> contextlib.AbstractContextManager[None]:
        """One `land` into a target at a time in this repository (the queue)."""
        root = self.ws.common_dir / LAND_DIR
        root.mkdir(parents=True, exist_ok=True)
        path = root / (self.target_name.replace("/", "%") + ".lock")
        return exclusive_lock(path, seconds=600,
                              busy=f"another `land` into {self.target_name} holds the queue")

    # git -----------------------------------------------------------------------------------------

    def _git(self, *args: str, check: bool = True, input: bytes | None = None,
             hooks: bool = False) -> subprocess.CompletedProcess[bytes]:
        return self._git_in(self.ws.root, *args, check=check, input=input, hooks=hooks)

    def _git_in(self, cwd: Path, *args: str, check: bool = True, input: bytes | None = None,
                hooks: bool = False) -> subprocess.CompletedProcess[bytes]:
        env = {key: value for key, value in os.environ.items() if key not in _ENV_DROPPED}
        env["LC_ALL"] = "C"
        result = subprocess.run(["git", *(() if hooks else _NO_HOOKS), *args], cwd=cwd,
                                input=input, capture_output=True, env=env, check=False)
        if check and result.returncode != 0:
            raise FlowError(f"git {args[0]} failed: {_printable(_last_line(result))}")
        return result

    def _rev(self, rev: str) -> str | None:
        result = self._git("rev-parse", "-q", "--verify", f"{rev}^{{commit}}", check=False)
        return result.stdout.decode().strip() or None if result.returncode == 0 else None

    def _is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self._git("merge-base", "--is-ancestor", ancestor, descendant,
                         check=False).returncode == 0

    def _commits(self, tip: str, base: str) -> list[str]:
        return self._git("rev-list", "--no-merges", tip, "--not", base).stdout.decode().split()

    def _unmerged(self, scratch: Path) -> list[str]:
        result = self._git_in(scratch, "diff", "--name-only", "--diff-filter=U", "-z", check=False)
        return sorted(set(_z(result.stdout)))

    def _file_at(self, commit: str, path: str) -> bytes | None:
        result = self._git("cat-file", "blob", f"{commit}:{path}", check=False)
        return result.stdout if result.returncode == 0 else None

    def _plan_at(self, rev: str) -> Plan:
        return Plan.load(self.ws.revision_source(rev), strict=False, cache=self.ws.plan_cache)

    def _tree_with(self, commit: str, writes: Mapping[str, bytes | None]) -> str:
        """``commit``'s tree with ``writes`` applied, built in a temporary index."""
        index = self.ws.common_dir / LAND_DIR / f"index.{os.getpid()}.{new_ulid()[-8:].lower()}"
        env_index = {"GIT_INDEX_FILE": str(index)}
        try:
            self._git_env(env_index, "read-tree", commit)
            for path, content in writes.items():
                if content is None:
                    self._git_env(env_index, "rm", "--cached", "--quiet", "--", path)
                    continue
                blob = self._git("hash-object", "-w", "--stdin", "--path", path,
                                 input=content).stdout.decode().strip()
                listed = self._git_env(env_index, "ls-files", "-s", "--", path).stdout.decode().split()
                mode = listed[0] if listed else "100644"
                self._git_env(env_index, "update-index", "--add", "--cacheinfo",
                              f"{mode},{blob},{path}")
            return self._git_env(env_index, "write-tree").stdout.decode().strip()
        finally:
            with contextlib.suppress(FileNotFoundError):
                index.unlink()

    def _git_env(self, extra: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
        env = {key: value for key, value in os.environ.items() if key not in _ENV_DROPPED}
        env.update(extra, LC_ALL="C")
        result = subprocess.run(["git", *_NO_HOOKS, *args], cwd=self.ws.root, capture_output=True,
                                env=env, check=False)
        if result.returncode != 0:
            raise FlowError(f"git {args[0]} failed: {_printable(_last_line(result))}")
        return result

    def _commit_tree(self, tree: str, parents: Sequence[str], message: str,
                     author_of: str | None = None) -> str:
        """The commit object (signed as ``git commit`` would when ``commit.gpgsign`` is set)."""
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        if self.ws.config_bool("commit.gpgsign"):
            args.append("-S")
        env: dict[str, str] = {}
        if author_of is not None:
            name, email, date = self._git("log", "-1", "--format=%an%x00%ae%x00%ad", "--date=raw",
                                          author_of).stdout.decode().rstrip("\n").split("\0")
            env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date}
        return self._git_stdin(env, args, message).stdout.decode().strip()

    def _git_stdin(self, extra: Mapping[str, str], args: Sequence[str],
                   message: str) -> subprocess.CompletedProcess[bytes]:
        env = {key: value for key, value in os.environ.items() if key not in _ENV_DROPPED}
        env.update(extra, LC_ALL="C")
        result = subprocess.run(["git", *_NO_HOOKS, *args, "-F", "-"], cwd=self.ws.root,
                                input=message.encode("utf-8"), capture_output=True, env=env,
                                check=False)
        if result.returncode != 0:
            raise FlowError(f"cannot create the landing commit: {_printable(_last_line(result))}",
                            hint="with commit.gpgsign set, check the signing setup")
        return result

    def _verb(self) -> str:
        return {"merge": "merged", "rebase": "rebased", "squash": "squashed"}[self.strategy]

    def _context(self) -> ops.Context:
        try:
            now = self.ws.identities[0].iso()
        except FlowError:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return ops.Context(actor=self.options.actor, now=now)


class _AlreadyLanded(Exception):
    pass


class RunLanding:
    """`run --land`: each task lands on the run branch as soon as its command succeeded, so its
    dependents start from a branch that holds its code. Landings run one at a time (the run
    starts them from threads, as it runs the guard) and use a workspace of their own: pygit2
    repositories are not shared between threads."""

    def __init__(self, ws: Workspace, actor: str, branch: str, *,
                 stop: Callable[[], bool] | None = None) -> None:
        if not branch.startswith("refs/heads/"):
            raise UsageError("run --land lands on the branch the run is started on: check one "
                             "out (HEAD is detached)", hint="git switch main")
        from git_flowctl.repo.workspace import Workspace

        self.lander = Lander(Workspace(ws.root), LandOptions(actor, into=branch, stop=stop))
        self._one_at_a_time = threading.Lock()
        self.lander._sweep()

    def land(self, task_id: str, *, evidence: Mapping[str, Any],
             summary: str) -> Outcome:
        with self._one_at_a_time:
            try:
                candidate = self.lander.run_candidate(task_id)
            except FlowError as error:
                return Outcome(task_id, task_branch(task_id), "", "error", reason=error.message,
                               exit_code=1)
            return self.lander.land_queued(candidate, evidence=evidence, summary=summary)


# Helpers ------------------------------------------------------------------------------------------


def default_target(ws: Workspace) -> str | None:
    """The default branch's local name (``origin/main`` -> ``main``), None when there is none."""
    configured = Config.parse(ws.work_tree_source().read(CONFIG_PATH)).get("default_branch")
    found = ws.default_branch(str(configured) if configured else None)
    if found is None:
        return None
    if found.startswith("refs/remotes/"):
        return found.removeprefix("refs/remotes/").split("/", 1)[-1]
    return found.removeprefix("refs/heads/")


def target_ref(ws: Workspace, into: str | None) -> str:
    """The local branch work lands on: ``into``, else the default branch (its local name)."""
    name = into.removeprefix("refs/heads/") if into is not None else default_target(ws)
    if name is None:
        raise FlowError("no default branch to land on",
                        hint="name one: --into main (or config set default_branch main)")
    ref = f"refs/heads/{name}"
    if ws.resolve_commit(ref) is None:
        raise FlowError(f"no local branch {name} to land on",
                        hint=f"create it from the remote's: git branch {name} origin/{name}")
    return ref


def _resolve(ref: str, *plans: Plan) -> str:
    error: FlowError | None = None
    for plan in plans:
        try:
            return plan.resolve_task(ref)
        except FlowError as problem:
            error = error or problem
    assert error is not None
    raise error


def _status(plan: Plan, task_id: str) -> str | None:
    task = plan.tasks.get(task_id)
    return task.status if task is not None else None


def _dependency_order(found: Mapping[str, Candidate], *plans: Plan) -> list[Candidate]:
    """Dependencies first (among the tasks landing); otherwise the plan's order."""
    def sort_key(task_id: str) -> Any:
        for plan in plans:
            task: Task | None = plan.tasks.get(task_id)
            if task is not None:
                return task.sort_key()
        return (ids.id_sort_key(task_id),)

    ordered: list[Candidate] = []
    placed: set[str] = set()
    remaining = sorted(found, key=sort_key)
    while remaining:
        ready = [t for t in remaining if all(d in placed or d not in found
                                             for d in found[t].depends_on)]
        if not ready:  # a cycle cannot be written (graph.py); keep going in plan order
            ready = remaining[:1]
        for task_id in ready:
            ordered.append(found[task_id])
            placed.add(task_id)
            remaining.remove(task_id)
    return ordered


def _z(data: bytes) -> list[str]:
    return [item for item in data.decode("utf-8", "surrogateescape").split("\0") if item]


def _printable(text: str) -> str:
    """One line of printable text: a path or git's words never become lines of a message."""
    return "".join(ch if ch.isprintable() else "?" for ch in text.replace("\n", " "))


def _quoted(title: str) -> str:
    return '"' + _printable(title).replace('"', "'") + '"'


def _last_line(result: subprocess.CompletedProcess[bytes]) -> str:
    lines = (result.stderr or result.stdout).decode("utf-8", "replace").strip().splitlines()
    for line in reversed(lines):
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                return line.removeprefix(prefix)
    return lines[-1] if lines else f"git exited {result.returncode}"


@dataclass(frozen=True)
class LandAnswer:
    """What `land` answers: the dry run's plan or the landings' result, and when a task did not
    land, the failure's message and exit code (3 when a landing lost a race, else 1)."""

    payload: dict[str, Any]
    failure: str | None = None
    exit_code: int = 0


def land_answer(ws: Workspace, tasks: Sequence[str], options: LandOptions, *,
                branch: str | None = None, all_done: bool = False, dry_run: bool = False,
                emit: Emit | None = None) -> LandAnswer:
    """The `land` command's domain, shared by the CLI and the MCP server (issue #18)."""
    if options.remote is not None and not options.push:
        raise UsageError("--remote names where --push pushes", hint="add --push")
    lander = Lander(ws, options, emit=emit)
    candidates, passed = lander.resolve(list(tasks), all_done=all_done, branch=branch)
    if dry_run:
        return LandAnswer(lander.describe(candidates, passed))
    result = lander.land(candidates, passed)
    bad = [task for task in result["tasks"] if task["outcome"] not in ("landed", "already_landed")]
    if not bad:
        return LandAnswer(result)
    lost = any(task["outcome"] == "error" and task.get("exit_code") == 3 for task in bad)
    message = f"{len(bad)} of {len(result['tasks'])} task(s) did not land: " \
        + ", ".join(f"{task['id']} ({task['outcome']})" for task in bad)
    return LandAnswer(result, message, 3 if lost else 1)


def _push_problem(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("!"):
            return line.split("\t")[-1]
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
