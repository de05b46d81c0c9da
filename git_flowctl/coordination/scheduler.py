"""`git flow-task run`: work through the ready tasks, N at a time, each in its own worktree.

For each task: claim it and record ``start`` on the branch the run was started on (the *run
branch*), create a worktree on ``flow/<task-id>`` from that commit (merging the ``flow/`` branches
of its dependencies), run the command there in its own process group with ``FLOW_TASK_ID``,
``FLOW_TASK_FILE`` and ``FLOW_ACTOR`` set, heartbeat the claim while it runs, then record ``done``
(evidence: exit code, duration, log digest, the branch's commits) or ``fail`` on the run branch.

Why the run branch holds the transitions (docs/claims.md#where-a-run-records-its-transitions): the
plan there is the one the scheduler reads, so a dependent becomes ready the moment its dependency
is done; the claim records name commits of that branch; and the ``flow/`` branches carry only the
code (their ``.flow/`` files are the ones of the commit they started from), so merging them later
never moves a task's state backwards.

One thread, one loop: it polls the processes, the control file (``run stop|pause|resume``), the
timeouts and the heartbeats, and starts what became ready. Stopping (Ctrl-C, ``run stop``) kills
each running command's process group and releases its task, so nothing is left half-written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from git_flowctl.changes import ops
from git_flowctl.coordination import availability, runs
from git_flowctl.coordination.claims import (
    Claims,
    ClaimTakenError,
    apply_with_claim,
    current_branch,
    iso,
    short_branch,
)
from git_flowctl.coordination.ownership import files_overlap
from git_flowctl.gates.process import kill_tree, marked_processes
from git_flowctl.model import states
from git_flowctl.model.errors import FlowError, UsageError
from git_flowctl.model.ulid import new_ulid
from git_flowctl.repo.writer import Mode, Writer, atomic_write

if TYPE_CHECKING:
    from git_flowctl.coordination.land import Outcome as LandOutcome
    from git_flowctl.coordination.land import RunLanding
    from git_flowctl.coordination.queries import Offer
    from git_flowctl.gates.guard import Report
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.workspace import Workspace

RUNS_DIR = "flow-runs"
WORKTREES_DIR = "flow-worktrees"
BRANCH_PREFIX = "flow/"
CONTROL_WORDS = ("stop", "pause", "resume")
_POLL_SECONDS = 0.05
_LOOK_AGAIN_SECONDS = 1.0
_ENV_DROPPED = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                "GIT_PREFIX", "GIT_COMMON_DIR")


@dataclass
class RunOptions:
    command: list[str]
    actor: str
    epic: str | None = None
    jobs: int = 1
    timeout: float | None = None
    max_tasks: int | None = None
    max_failures: int | None = None
    keep_worktrees: bool = False
    remote: str | None = None
    kill_grace: float = 5.0
    land: bool = False  # each task lands on the run branch once its command succeeded (issue #17)


@dataclass
class Event:
    kind: str  # run, start, done, fail, timeout, skip, lost, released, pause, resume, stop, breaker, note, end
    message: str
    task: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {"event": self.kind, "task": self.task, "message": self.message, "at": iso(self.at),
                **self.data}

    def log_json(self, run_id: str) -> dict[str, Any]:
        """The line `log --follow --json` prints for it (beside the transitions' lines)."""
        return {"event": "run", "kind": self.kind, "run_id": run_id, "id": self.task,
                "message": self.message, "time": iso(self.at), "timestamp": self.at,
                **{k: v for k, v in self.data.items() if k not in ("summary",)}}


@dataclass
class Attempt:
    """One run of the command for one task."""

    task: str
    number: int
    branch: str
    worktree: Path
    base: str  # the run branch commit the attempt started from
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_handle: IO[bytes] | None = None
    started: float = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.time)
    next_heartbeat: float = 0.0
    kill_deadline: float | None = None
    timed_out: bool = False
    lost_claim: str | None = None
    exit_code: int | None = None
    duration: float = 0.0
    outcome: str = "running"
    commits: list[str] = field(default_factory=list)
    log_sha256: str | None = None
    reason: str | None = None
    kept_worktree: bool = False
    ended_at: float | None = None
    resumed: bool = False  # a task a dead run left in progress, run again (issue #16)
    # The guard after a command that exited 0 (gates/): its thread, then its report.
    guard_thread: threading.Thread | None = None
    guard: Report | None = None
    guard_error: str | None = None
    # `run --land` (coordination/land.py): the landing's thread, then its outcome.
    land_thread: threading.Thread | None = None
    landing: LandOutcome | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "attempt": self.number, "outcome": self.outcome, "exit_code": self.exit_code,
            "duration": round(self.duration, 3), "timed_out": self.timed_out,
            "branch": self.branch, "base": self.base, "commits": self.commits,
            "log": str(self.log_path), "log_sha256": self.log_sha256, "reason": self.reason,
            "worktree": str(self.worktree) if self.kept_worktree else None,
            "guard": self.guard.as_json() if self.guard is not None else None,
            "landing": self.landing.as_json() if self.landing is not None else None,
            "started_at": iso(self.started_at), "resumed": self.resumed,
            "ended_at": iso(self.ended_at) if self.ended_at else None,
            "started": self.started_at, "ended": self.ended_at,
        }


class Scheduler:
    def __init__(self, ws: Workspace, options: RunOptions,
                 emit: Callable[[Event], None] | None = None) -> None:
        if options.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        if not options.command:
            raise UsageError("run needs a command after --", hint="git flow-task run -- make test")
        self.ws = ws
        self.options = options
        self._emit = emit or (lambda event: None)
        self.claims = Claims.open(ws, options.remote)
        self.writer = Writer(ws)
        self.branch = current_branch(ws.repo)
        self.run_id = new_ulid().lower()
        self.run_dir = ws.common_dir / RUNS_DIR / self.run_id
        self._identity = runs.identity()
        self.worktree_root = ws.common_dir / WORKTREES_DIR
        self.running: dict[str, Attempt] = {}
        self.history: dict[str, list[Attempt]] = {}
        self.events: list[Event] = []
        self.passed_over: dict[str, str] = {}  # task -> why this run did not start it
        self.started_count = 0
        self.consecutive_failures = 0
        self.stop_reason: str | None = None
        self.stopping = False
        self.paused = False
        self.interrupted = False
        self.aborting = False
        self.epic_id: str | None = None
        self._control_seen = 0.0
        # issue #16: tasks held back (retry backoff, files held by others) and when to look again
        self.resume_queue: list[str] = []  # tasks a dead run of ours left in progress
        self.started_at = time.time()
        self._record_written = 0.0
        self.held_back: dict[str, str] = {}
        self.waiting_until: float | None = None  # the first retry backoff that runs out
        self._look_again = 0.0
        self._changed = True
        self.landing: RunLanding | None = None

    # Public ---------------------------------------------------------------------------------

    def request_stop(self, reason: str, *, abort: bool = False, interrupted: bool = False) -> None:
        """Start no new task; with ``abort`` also kill the running commands and release their
        tasks. Signal handlers call this: it only sets flags, the loop acts at a safe point."""
        if not self.stopping:
            self.stopping = True
            self.stop_reason = reason
        self.aborting = self.aborting or abort
        self.interrupted = self.interrupted or interrupted

    def dry_run(self) -> dict[str, Any]:
        """The waves the run would go through if every task succeeded."""
        plan = self.ws.load_plan("HEAD")
        self.epic_id = plan.resolve_epic(self.options.epic) if self.options.epic else None
        return plan_waves(plan, availability.offer(self.ws, plan, self.options.actor, self.claims,
                                                   rev="HEAD"), self.epic_id)

    def run(self) -> dict[str, Any]:
        self._check_command()
        plan = self.ws.load_plan("HEAD")
        self.epic_id = plan.resolve_epic(self.options.epic) if self.options.epic else None
        if self.claims.remote is not None:
            problem = self.claims.refresh()
            if problem:
                self._event("note", f"claims are local only: {problem}")
        elif self.claims.remote_name is None:
            self._event("note", "claims are local only: no claims.remote configured")
        if self.options.land:
            from git_flowctl.coordination.land import RunLanding

            self.landing = RunLanding(self.ws, self.options.actor, self.branch,
                                      stop=lambda: self.aborting)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)
        started = time.time()
        self.started_at = started
        self._write_state()
        self._event("run", f"run {self.run_id} on {short_branch(self.branch)}: "
                           f"`{_shell_join(self.options.command)}`, {self.options.jobs} at a time",
                    run_id=self.run_id, branch=self.branch)
        resumable = self._dead_runs_tasks(plan)
        for task in plan.facts.tasks.values():
            if task.status == states.IN_PROGRESS and task.assignee == self.options.actor \
                    and self._in_scope(task.epic) and task.id not in resumable:
                self.passed_over[task.id] = "already in progress (an earlier run?): release or reclaim it"
        try:
            self._loop()
        finally:
            self._shutdown()
            runs.remove_record(self.ws.common_dir, self.run_id)  # the run is over
        summary = self._summary(time.time() - started)
        self._event("end", _summary_line(summary), summary=None)
        return summary

    def _dead_runs_tasks(self, plan: Plan) -> set[str]:
        """The tasks a dead run of this actor on this branch left in progress (issue #16): they
        are resumed, as new attempts in their worktrees, before anything else starts. Whatever
        the dead run's commands left running is killed first (found by their FLOW_* markers)."""
        found: set[str] = set()
        for record in runs.list_runs(self.ws.common_dir):
            if record["state"] != "dead" or record.get("branch") != self.branch \
                    or record.get("actor") != self.options.actor:
                continue
            resumed: list[str] = []
            elsewhere = []  # tasks of another epic than this run's: left for a run of theirs
            for entry in record.get("running") or []:
                task = plan.tasks.get(str(entry.get("task")))
                if task is not None and not self._in_scope(task.epic):
                    elsewhere.append(entry)
                    continue
                if task is None or task.id in found:
                    continue
                for stray in marked_processes((f"FLOW_RUN_ID={record['run_id']}",
                                               f"FLOW_TASK_ID={task.id}")):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(stray, signal.SIGKILL)
                if task.status == states.IN_PROGRESS and task.assignee == self.options.actor:
                    found.add(task.id)
                    resumed.append(task.id)
                    self.resume_queue.append(task.id)
            self._event("resume", f"run {record['run_id']} is dead (pid {record.get('pid')} on "
                                  f"{record.get('host')}): resuming "
                                  f"{', '.join(resumed) or 'nothing'}",
                        dead_run=record["run_id"])
            if elsewhere:
                runs.write_record(self.ws.common_dir, {
                    key: value for key, value in record.items() if key not in ("alive", "state")}
                    | {"running": elsewhere})
            else:
                runs.remove_record(self.ws.common_dir, str(record["run_id"]))
        return found

    # The loop -------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            self._read_control()
            self._reap()  # first: a command that ended on its own is recorded as it ended
            if self.aborting:
                for attempt in self.running.values():
                    self._terminate(attempt)
            self._watch_running()
            if time.monotonic() - self._record_written > runs.REFRESH_SECONDS:
                self._write_state()
            started = 0 if self.stopping or self.paused else self._start_ready()
            # an up_for_retry task that comes back later is waited for, not given up (issue #16)
            idle = not self.paused and started == 0 and self.waiting_until is None
            if not self.running and (self.stopping or idle):
                return
            time.sleep(_POLL_SECONDS)

    def _check_command(self) -> None:
        program = self.options.command[0]
        if "/" not in program and shutil.which(program) is None:
            raise UsageError(f"command not found: {program}",
                             hint="give the command after `--`, e.g. `run -- make test`")

    def _in_scope(self, epic: str) -> bool:
        return self.epic_id is None or epic == self.epic_id

    def _start_ready(self) -> int:
        """Start what can start now; returns how many were started. The plan is read again
        after every transition, else once a second (a backoff running out, a claim given back
        or expired elsewhere)."""
        now = time.monotonic()
        if not self._changed and now < self._look_again:
            return 0
        self._changed = False
        self._look_again = now + _LOOK_AGAIN_SECONDS
        self._record_expired()
        started = self._resume_dead()
        exclude: set[str] = set(self.running) | set(self.passed_over)
        while len(self.running) < self.options.jobs:
            plan = self.ws.load_plan("HEAD")
            listed = self.claims.all()
            held = self.claims.held_map(self.options.actor, listed)
            mine = {task_id for task_id, holder in held.items() if holder == self.options.actor}
            answer = availability.next_answer(self.ws, plan, self.options.actor, self.epic_id,
                                              self.claims, listed=listed,
                                              exclude=frozenset(exclude | mine))
            self._note_held_back(answer)
            if answer["status"] != "work":
                return started
            task_id = str(answer["task"])
            exclude.add(task_id)
            if answer["reason"] == "resume_in_progress":
                continue
            task = plan.tasks[task_id]
            busy = [other for other in self.running.values()
                    if files_overlap(task.files, plan.tasks[other.task].files)]
            if busy:
                continue  # waits for the task holding its files; tried again next round
            if self.options.max_tasks is not None and self.started_count >= self.options.max_tasks:
                self.request_stop(f"--max-tasks {self.options.max_tasks} reached")
                self._event("stop", f"{self.stop_reason}: starting no new tasks")
                return started
            if self._start(plan, task_id):
                started += 1
        return started

    def _note_held_back(self, answer: dict[str, Any]) -> None:
        """Remember why tasks wait (for not_started) and when the first retry comes back."""
        self.held_back = {}
        for passed in answer["passed_over"]:
            if passed.get("reason") == "files":
                self.held_back[passed["task"]] = (
                    f"its files overlap {passed['held_task']} (held by {passed['held_by']})")
        retries = answer.get("retry_later") or []
        for row in retries:
            self.held_back[row["id"]] = f"retry after {row['retry_after']}"
        if answer["status"] == "work" or not retries:
            self.waiting_until = None
            return
        first = retries[0]
        until = backoff_due(answer["retry_after"])
        if self.waiting_until is None or abs(until - self.waiting_until) > 0.5:
            self._event("wait", f"waiting for {first['id']}: its retry comes at "
                                f"{first['retry_after']}", first["id"],
                        retry_after=first["retry_after"])
        self.waiting_until = until
        self._look_again = min(self._look_again, time.monotonic() + max(0.0, until - time.time()))

    def _record_expired(self) -> None:
        """Expired leases of others in this run's scope become failed attempts (expiry.py)."""
        from git_flowctl.coordination import expiry

        try:
            plan = self.ws.load_plan("HEAD")
            recorded = expiry.sweep(self.claims, self.writer, self._context(), plan,
                                    epic_id=self.epic_id)
        except FlowError as error:
            self._event("note", f"could not record expired leases: {error.message}")
            return
        for item in recorded:
            self._event("expire", f"{item.task}: the lease of {item.holder} ran out "
                                  f"({item.lease_until}) -> {item.status or item.note}", item.task,
                        holder=item.holder, status=item.status, commit=item.commit)

    def _start(self, plan: Plan, task_id: str) -> bool:
        ctx = self._context()
        try:
            outcome = apply_with_claim(self.claims, self.writer,
                                       lambda plan: ops.start(plan, task_id, ctx), Mode.COMMIT,
                                       task_id=task_id, action="start", actor=ctx.actor)
        except ClaimTakenError as taken:
            self.passed_over[task_id] = taken.message
            self._event("skip", f"{task_id}: {taken.message}", task_id)
            if self.claims.remote is not None:
                self.claims.refresh()
            return False
        except FlowError as refused:  # e.g. the task file has uncommitted edits here
            self.passed_over[task_id] = refused.message
            self._event("skip", f"{task_id}: cannot start: {refused.message}", task_id)
            return False
        return self._launch(plan, task_id, str(outcome.commit))

    def _resume_dead(self) -> int:
        """Start again the tasks a dead run of ours left in progress; returns how many."""
        started = 0
        while self.resume_queue and len(self.running) < self.options.jobs:
            task_id = self.resume_queue.pop(0)
            plan = self.ws.load_plan("HEAD")
            task = plan.tasks.get(task_id)
            if task is None or task.status != states.IN_PROGRESS \
                    or task.assignee != self.options.actor:
                continue  # someone changed it meanwhile (released, expired, done)
            if any(files_overlap(task.files, plan.tasks[other].files)
                   for other in self.running if other in plan.tasks):
                self.resume_queue.append(task_id)
                break
            try:  # the dead run's claim is ours: take it over (compare-and-swap)
                self.claims.acquire(task_id, self.options.actor, self.branch, reclaim=True)
            except FlowError as taken:
                self.passed_over[task_id] = f"left in progress by a dead run; {taken.message}"
                self._event("skip", f"{task_id}: cannot resume: {taken.message}", task_id)
                continue
            head = _git_out(self.ws, self.ws.root, "rev-parse", "HEAD")
            if self._launch(plan, task_id, head, resumed=True):
                started += 1
        return started

    def _launch(self, plan: Plan, task_id: str, base: str, *, resumed: bool = False) -> bool:
        """The attempt's worktree and command, once the task is started (or resumed) here."""
        ctx = self._context()
        number = plan.tasks[task_id].attempts + 1
        branch = f"{BRANCH_PREFIX}{task_id}"
        log_path = self.run_dir / "logs" / f"{task_id}.{number}.log"
        attempt = Attempt(task_id, number, branch, self.worktree_root / task_id, base, log_path)
        attempt.resumed = resumed
        self.started_count += 1
        self.history.setdefault(task_id, []).append(attempt)
        self.running[task_id] = attempt
        try:
            attempt.worktree = self._prepare_worktree(plan, task_id, branch, base)
            attempt.base = _git_out(self.ws, attempt.worktree, "rev-parse", "HEAD")
        except FlowError as error:
            attempt.reason = error.message
            attempt.exit_code = None
            self._event("note", f"{task_id}: {error.message}", task_id)
            self._finish(attempt, failed=True)
            return True
        env = {key: value for key, value in os.environ.items() if key not in _ENV_DROPPED}
        env.update(FLOW_TASK_ID=task_id, FLOW_ACTOR=ctx.actor, FLOW_RUN_ID=self.run_id,
                   FLOW_TASK_FILE=str(attempt.worktree / plan.tasks[task_id].path),
                   FLOW_TASK_BRANCH=branch, FLOW_TASK_ATTEMPT=str(number))
        attempt.log_handle = open(log_path, "wb")  # noqa: SIM115 (closed when the attempt ends)
        try:
            attempt.process = subprocess.Popen(
                self.options.command, cwd=attempt.worktree, env=env, stdin=subprocess.DEVNULL,
                stdout=attempt.log_handle, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as error:
            attempt.reason = f"cannot run `{_shell_join(self.options.command)}`: {error.strerror}"
            self._finish(attempt, failed=True)
            return True
        attempt.started = time.monotonic()
        attempt.next_heartbeat = attempt.started + self._heartbeat_interval()
        verb = "resumed (left in progress by a dead run)" if resumed else "started"
        self._event("start", f"{task_id} {verb} (attempt {number}) on {branch}", task_id,
                    attempt=number, branch=branch, worktree=str(attempt.worktree),
                    pid=attempt.process.pid, log=str(log_path), resumed=resumed or None)
        self._write_state()
        return True

    def _heartbeat_interval(self) -> float:
        return max(0.5, self.claims.lease_seconds / 3)

    def _watch_running(self) -> None:
        now = time.monotonic()
        for attempt in list(self.running.values()):
            process = attempt.process
            if process is None:
                continue
            if attempt.kill_deadline is not None:
                if now >= attempt.kill_deadline:
                    kill_tree(process.pid, signal.SIGKILL, self._markers(attempt))
                continue
            guarding = attempt.guard_thread is not None  # --timeout is the command's, not the guard's
            if not guarding and self.options.timeout is not None \
                    and now - attempt.started > self.options.timeout:
                attempt.timed_out = True
                self._event("timeout", f"{attempt.task} timed out after {self.options.timeout:g}s: "
                                       "killing its processes", attempt.task)
                self._terminate(attempt)
                continue
            if now >= attempt.next_heartbeat:
                attempt.next_heartbeat = now + self._heartbeat_interval()
                try:
                    self.claims.heartbeat(attempt.task, self.options.actor)
                except ClaimTakenError as taken:
                    attempt.lost_claim = taken.message
                    self._event("lost", f"{attempt.task}: {taken.message}; stopping its command",
                                attempt.task)
                    self._terminate(attempt)
                except FlowError as error:
                    self._event("note", f"{attempt.task}: heartbeat failed: {error.message}",
                                attempt.task)

    def _markers(self, attempt: Attempt) -> tuple[str, ...]:
        """The environment entries every process of this attempt inherits (gates.process)."""
        return (f"FLOW_RUN_ID={self.run_id}", f"FLOW_TASK_ID={attempt.task}",
                f"FLOW_TASK_ATTEMPT={attempt.number}")

    def _terminate(self, attempt: Attempt) -> None:
        if attempt.process is not None and attempt.kill_deadline is None:
            kill_tree(attempt.process.pid, signal.SIGTERM, self._markers(attempt))
            attempt.kill_deadline = time.monotonic() + self.options.kill_grace

    def _reap(self) -> None:
        for attempt in list(self.running.values()):
            if attempt.land_thread is not None:
                if not attempt.land_thread.is_alive():
                    self._finish(attempt, failed=False)
                continue
            if attempt.guard_thread is not None:
                if attempt.guard_thread.is_alive():
                    continue
                self._finish(attempt, failed=self._guard_failed(attempt))
                continue
            if attempt.process is None or attempt.process.poll() is None:
                continue
            # whatever it left behind goes too
            kill_tree(attempt.process.pid, signal.SIGKILL, self._markers(attempt))
            attempt.exit_code = attempt.process.returncode
            attempt.duration = time.monotonic() - attempt.started
            failed = attempt.timed_out or attempt.exit_code != 0
            if not failed and not self.aborting and self.landing is not None:
                self._start_landing(attempt)  # the guard runs on the landing's merged result
                continue
            if not failed and not self.aborting and self._start_guard(attempt):
                continue
            self._finish(attempt, failed=failed)

    # Landing (run --land) ---------------------------------------------------------------------

    def _start_landing(self, attempt: Attempt) -> None:
        """After a command that exited 0: land its branch on the run branch, in a thread (one
        landing at a time), with the done it records there. Its worktree goes first, for the
        landed branch to be deleted."""
        assert self.landing is not None
        landing = self.landing
        attempt.log_sha256 = _sha256(attempt.log_path)
        attempt.commits = self._commits(attempt)
        evidence, summary = self._done_evidence(attempt)
        if attempt.log_handle is not None:
            attempt.log_handle.close()
        self._remove_worktree(attempt)
        self._event("land", f"{attempt.task}: its command exited 0; landing {attempt.branch} on "
                            f"{short_branch(self.branch)}", attempt.task)

        def land() -> None:
            try:
                attempt.landing = landing.land(attempt.task, evidence=evidence, summary=summary)
            except Exception as error:  # reported as the attempt's failure, never lost
                from git_flowctl.coordination.land import Outcome

                attempt.landing = Outcome(attempt.task, attempt.branch, "", "error",
                                          reason=f"the landing could not run: "
                                                 f"{type(error).__name__}: {error}")

        attempt.land_thread = threading.Thread(target=land, name=f"land {attempt.task}",
                                               daemon=True)
        attempt.land_thread.start()

    def _landed(self, attempt: Attempt) -> None:
        """Record what the landing did: done (with the code), failed or blocked (by land), or,
        when it could not even try, a fail recorded here with its reason."""
        landing = attempt.landing
        assert landing is not None
        if landing.ok:
            attempt.outcome = states.DONE
            self.consecutive_failures = 0
            self._event("done", f"{attempt.task} done and landed on {short_branch(self.branch)} "
                                f"({_plural(len(attempt.commits), 'commit')}, "
                                f"{(landing.commit or '')[:7]})", attempt.task,
                        attempt=attempt.number, commits=attempt.commits, landed=landing.commit)
            return
        attempt.reason = f"could not land: {landing.reason}"
        recorded = landing.outcome in ("failed", "blocked") and landing.recorded is not None
        self._failed(attempt, recorded=landing.outcome if recorded else None,
                     paths=landing.paths or None, checks=landing.checks or None)

    def _failed(self, attempt: Attempt, *, recorded: str | None = None, **data: Any) -> None:
        """A failed attempt: ``fail`` recorded with its reason (unless the landing ``recorded``
        its own), the event, the retry it comes back for, and the circuit breaker."""
        if recorded is None:
            ctx = self._context()
            reason = f"{attempt.reason} (log sha256 {attempt.log_sha256 or '-'}: {attempt.log_path})"
            outcome = self._record(attempt, "fail",
                                   lambda plan: ops.fail(plan, attempt.task, ctx, reason=reason))
            attempt.outcome = str(outcome.get("status", states.FAILED))
        else:
            attempt.outcome = recorded
        self.consecutive_failures += 1
        self._event("fail", f"{attempt.task} failed: {attempt.reason} -> {attempt.outcome}",
                    attempt.task, attempt=attempt.number, status=attempt.outcome, **data)
        if attempt.outcome == states.UP_FOR_RETRY:
            self._retry_event(attempt)
        limit = self.options.max_failures
        if limit and self.consecutive_failures >= limit and not self.stopping:
            self.request_stop(f"circuit breaker: {self.consecutive_failures} consecutive "
                              f"failures (--max-failures {limit})")
            self._event("breaker", f"{self.stop_reason}: starting no new tasks")

    def _done_evidence(self, attempt: Attempt) -> tuple[dict[str, Any], str]:
        evidence = {"exit_code": attempt.exit_code, "duration": f"{attempt.duration:.1f}s",
                    "log_sha256": attempt.log_sha256, "branch": attempt.branch,
                    "commits": attempt.commits}
        summary = (f"`{_shell_join(self.options.command)}` exited 0 in {attempt.duration:.1f}s "
                   f"on {attempt.branch} ({_plural(len(attempt.commits), 'commit')}).")
        return evidence, summary

    # The guard ------------------------------------------------------------------------------

    def _start_guard(self, attempt: Attempt) -> bool:
        """After a command that exited 0: run the guard in the task's worktree, in a thread,
        so the loop goes on (heartbeats, other tasks, Ctrl-C). False when there is nothing to
        run and the config does not require it."""
        from git_flowctl.gates.verify import configured_checks, verify
        from git_flowctl.model.config import CONFIG_PATH, Config
        from git_flowctl.repo.sources import WorkTreeSource

        source = WorkTreeSource(attempt.worktree)
        try:
            wanted = bool(configured_checks(source)) or \
                Config.parse(source.read(CONFIG_PATH)).require_verify
        except FlowError as error:
            attempt.guard_error = error.message
            wanted = True
        if not wanted:
            return False
        self._event("guard", f"{attempt.task}: its command exited 0; running the guard",
                    attempt.task)
        markers = dict(marker.split("=", 1) for marker in self._markers(attempt))
        keep_in = self.run_dir / "guard" / f"{attempt.task}.{attempt.number}"

        def run_guard() -> None:
            if attempt.guard_error is not None:
                return
            try:
                attempt.guard = verify(self.ws, base=attempt.base, root=attempt.worktree,
                                       source=source, markers=markers, keep_in=keep_in,
                                       stop=lambda: self.aborting)
            except FlowError as error:
                attempt.guard_error = error.message
            except Exception as error:  # reported as the attempt's failure, never lost
                attempt.guard_error = f"the guard could not run: {type(error).__name__}: {error}"

        attempt.guard_thread = threading.Thread(target=run_guard, name=f"guard {attempt.task}",
                                                daemon=True)
        attempt.guard_thread.start()
        return True

    def _guard_failed(self, attempt: Attempt) -> bool:
        if attempt.guard_error is not None:
            attempt.reason = attempt.guard_error
            return True
        report = attempt.guard
        problem = report.problem() if report is not None else "the guard did not run"
        if problem is not None:
            attempt.reason = f"the command exited 0, but {problem}"
            return True
        return False

    # Recording an attempt -------------------------------------------------------------------

    def _finish(self, attempt: Attempt, *, failed: bool) -> None:
        if attempt.guard_thread is None and attempt.land_thread is None:
            attempt.duration = time.monotonic() - attempt.started
        attempt.ended_at = time.time()
        if attempt.log_handle is not None:
            attempt.log_handle.close()
        attempt.log_sha256 = _sha256(attempt.log_path)
        if attempt.land_thread is None:  # a landing deleted the branch: its commits are known
            attempt.commits = self._commits(attempt)
        ctx = self._context()
        if attempt.landing is not None:
            self._landed(attempt)
        elif self.aborting and attempt.kill_deadline is not None and not attempt.timed_out \
                and attempt.lost_claim is None:
            self._record(attempt, "release", lambda plan: ops.release(plan, attempt.task, ctx))
            attempt.outcome = "released"
            self._event("released", f"{attempt.task} released ({self.stop_reason})", attempt.task)
        elif attempt.lost_claim is not None:
            # Someone else holds the claim now: give the task back on this branch, leave theirs.
            try:
                self.writer.apply(lambda plan: ops.release(plan, attempt.task, ctx))
            except FlowError as error:
                self._event("note", f"{attempt.task}: could not release: {error.message}",
                            attempt.task)
            attempt.outcome = "lost"
            attempt.reason = attempt.lost_claim
        elif failed:
            if attempt.reason is None:
                attempt.reason = (f"timed out after {self.options.timeout:g}s" if attempt.timed_out
                                  else f"`{_shell_join(self.options.command)}` exited "
                                       f"{attempt.exit_code} after {attempt.duration:.1f}s")
            self._failed(attempt, exit_code=attempt.exit_code, timed_out=attempt.timed_out)
        else:
            evidence, summary = self._done_evidence(attempt)
            verified = attempt.guard.evidence(attempt.task) if attempt.guard is not None else None
            self._record(attempt, "done", lambda plan: ops.done(
                plan, attempt.task, ctx, summary=summary, evidence=evidence,
                verification=verified))
            attempt.outcome = states.DONE
            self.consecutive_failures = 0
            self._event("done", f"{attempt.task} done in {attempt.duration:.1f}s "
                                f"({_plural(len(attempt.commits), 'commit')} on {attempt.branch})",
                        attempt.task, attempt=attempt.number, commits=attempt.commits)
        self._remove_worktree(attempt)
        self.running.pop(attempt.task, None)
        self._changed = True
        self._write_state()

    def _retry_event(self, attempt: Attempt) -> None:
        from git_flowctl.coordination.backoff import Backoff, iso_ms

        try:
            plan = self.ws.load_plan("HEAD")
            task = plan.tasks[attempt.task]
            wait = Backoff.of(plan.config.get("retry_backoff"),
                              task.doc.data.get("retry_backoff")).delay(task.attempts)
        except (FlowError, KeyError):
            return
        self._event("retry", f"{attempt.task} retry scheduled: up for retry after {wait:g}s "
                             f"(at {iso_ms(time.time() + wait)})", attempt.task,
                    attempt=attempt.number, retry_in=wait)

    def _record(self, attempt: Attempt, action: str,
                build: Callable[[Plan], Any]) -> dict[str, Any]:
        ctx = self._context()
        try:
            outcome = apply_with_claim(self.claims, self.writer, build, Mode.COMMIT,
                                       task_id=attempt.task, action=action, actor=ctx.actor)
        except FlowError as error:
            attempt.reason = f"{attempt.reason + '; ' if attempt.reason else ''}could not record " \
                             f"{action}: {error.message}"
            self._event("note", f"{attempt.task}: could not record {action}: {error.message}",
                        attempt.task)
            return {}
        return dict(outcome.change.result)

    def _commits(self, attempt: Attempt) -> list[str]:
        """Commits the attempt made on its branch (not the base, not merged dependencies)."""
        try:
            tip = _git_out(self.ws, self.ws.root, "rev-parse", f"refs/heads/{attempt.branch}")
        except FlowError:
            return []
        result = self.ws.git("rev-list", "--no-merges", tip, "--not", attempt.base, check=False)
        return result.stdout.decode().split()

    # Worktrees ------------------------------------------------------------------------------

    def _prepare_worktree(self, plan: Plan, task_id: str, branch: str, base: str) -> Path:
        """A worktree on ``flow/<task-id>`` at ``base`` (an existing branch gets ``base`` merged
        in), with the ``flow/`` branches of the task's dependencies merged."""
        existing = self.ws.worktrees_by_branch().get(f"refs/heads/{branch}")
        if existing is not None:
            path = existing
            self._merge(path, base, f"the run branch ({short_branch(self.branch)})")
        else:
            path = self.worktree_root / task_id
            if path.exists():
                self.ws.git("worktree", "prune", check=False)
                if path.exists():
                    path = self.worktree_root / f"{task_id}-{self.run_id[-6:]}"
            path.parent.mkdir(parents=True, exist_ok=True)
            new_branch = self.ws.repo.references.get(f"refs/heads/{branch}") is None
            if new_branch:
                args = ["worktree", "add", "--quiet", "-b", branch, str(path), base]
            else:
                args = ["worktree", "add", "--quiet", str(path), branch]
            result = self.ws.git(*args, check=False)
            if result.returncode != 0:
                raise FlowError(f"cannot create the worktree on {branch}: "
                                f"{_last_line(result.stderr)}")
            if not new_branch:
                self._merge(path, base, f"the run branch ({short_branch(self.branch)})")
        for dep in plan.tasks[task_id].depends_on:
            dep_branch = f"{BRANCH_PREFIX}{dep}"
            if self.ws.repo.references.get(f"refs/heads/{dep_branch}") is not None:
                self._merge(path, dep_branch, dep_branch)
        return path

    def _merge(self, path: Path, rev: str, label: str) -> None:
        result = subprocess.run(
            ["git", "merge", "--quiet", "--no-edit", "--no-verify", rev], cwd=path,
            capture_output=True, env={**os.environ, "LC_ALL": "C"}, check=False)
        if result.returncode != 0:
            subprocess.run(["git", "merge", "--abort"], cwd=path, capture_output=True, check=False)
            raise FlowError(f"merging {label} into the task's worktree failed: "
                            f"{_last_line(result.stdout + result.stderr)}")

    def _remove_worktree(self, attempt: Attempt) -> None:
        path = attempt.worktree
        if not path.exists() or not (path / ".git").exists():
            return
        if self.options.keep_worktrees:
            attempt.kept_worktree = True
            return
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=path, capture_output=True,
                               check=False).stdout.strip()
        if dirty:
            attempt.kept_worktree = True
            self._event("note", f"{attempt.task}: kept {path}: it has uncommitted changes",
                        attempt.task)
            return
        result = self.ws.git("worktree", "remove", "--force", str(path), check=False)
        if result.returncode != 0:
            attempt.kept_worktree = True

    # Control and state ------------------------------------------------------------------------

    def _read_control(self) -> None:
        path = self.run_dir / "control"
        try:
            stat = path.stat()
        except FileNotFoundError:
            return
        if stat.st_mtime_ns == self._control_seen:
            return
        self._control_seen = stat.st_mtime_ns
        word = path.read_text().strip()
        if word == "stop" and not self.aborting:
            self.request_stop("stop requested (`git flow-task run stop`)", abort=True)
            self._event("stop", self.stop_reason or "")
        elif word == "pause" and not self.paused:
            self.paused = True
            self._event("pause", "paused: no new tasks start (`run resume` continues)")
        elif word == "resume" and self.paused:
            self.paused = False
            self._changed = True
            self._event("resume", "resumed")
        self._write_state()

    def _write_state(self) -> None:
        """The run's record in the registry (runs.py): `run status` and `status` read it."""
        if not self.run_dir.exists():
            return
        now = time.time()
        record = {
            "run_id": self.run_id, **self._identity, "branch": self.branch,
            "actor": self.options.actor, "command": self.options.command,
            "jobs": self.options.jobs, "epic": self.epic_id, "remote": self.claims.remote_name,
            "started_at": iso(self.started_at), "started": self.started_at,
            "updated_at": iso(now), "updated": now,
            "paused": self.paused, "stopping": self.stopping, "stop_reason": self.stop_reason,
            "running": [{"task": a.task, "attempt": a.number, "started_at": iso(a.started_at),
                         "pid": a.process.pid if a.process is not None else None,
                         "branch": a.branch, "worktree": str(a.worktree), "log": str(a.log_path),
                         "resumed": a.resumed, "guard": a.guard_thread is not None,
                         "landing": a.land_thread is not None}
                        for a in self.running.values()],
            "attempts": sum(len(a) for a in self.history.values()),
            "waiting_for_retry": iso(self.waiting_until) if self.waiting_until else None,
            "control_seen": self._control_seen, "run_dir": str(self.run_dir),
        }
        runs.write_record(self.ws.common_dir, record)
        self._record_written = time.monotonic()

    def _shutdown(self) -> None:
        """Stop what still runs (Ctrl-C, run stop, an error): kill, wait, release."""
        if not self.running:
            return
        self.request_stop(self.stop_reason or "stopped", abort=True)
        for attempt in self.running.values():
            self._terminate(attempt)
        deadline = time.monotonic() + self.options.kill_grace + 30
        while self.running and time.monotonic() < deadline:
            self._watch_running()
            self._reap()
            time.sleep(_POLL_SECONDS)

    # Reporting ------------------------------------------------------------------------------

    def _event(self, kind: str, message: str, task: str | None = None, **data: Any) -> None:
        event = Event(kind, message, task, {k: v for k, v in data.items() if v is not None})
        self.events.append(event)
        if self.run_dir.exists():  # `log --follow` streams them (runs.EventTail)
            with contextlib.suppress(OSError):
                runs.append_event(self.run_dir, event.log_json(self.run_id))
        self._emit(event)

    def _context(self) -> ops.Context:
        try:
            now = self.ws.identities[0].iso()
        except FlowError:
            now = iso(time.time())
        return ops.Context(actor=self.options.actor, now=now)

    def _summary(self, duration: float) -> dict[str, Any]:
        plan = self.ws.load_plan("HEAD")
        tasks: dict[str, Any] = {}
        for task_id, attempts in self.history.items():
            tasks[task_id] = {"status": plan.state_of(task_id),
                              "attempts": [a.as_json() for a in attempts]}
        in_scope = [t for t in plan.facts.sorted_tasks() if self._in_scope(t.epic)]
        by_state: dict[str, list[str]] = {}
        for task in in_scope:
            by_state.setdefault(plan.state_of(task.id), []).append(task.id)
        held = self.claims.held_map(self.options.actor)
        not_started = {}
        for task in in_scope:
            if task.id in self.history or plan.state_of(task.id) in states.FINISHED:
                continue
            holder = held.get(task.id)
            waits_for = plan.facts.epic_waits(task.epic)
            not_started[task.id] = self.passed_over.get(task.id) or self.held_back.get(task.id) or (
                f"claimed by {holder}" if holder and holder != self.options.actor
                else epic_wait_reason(waits_for) if waits_for
                else plan.view_state(task.id))
        failed = [t for t in tasks if tasks[t]["status"] == states.FAILED]
        return {
            "run_id": self.run_id, "branch": self.branch, "command": self.options.command,
            "epic": self.epic_id, "jobs": self.options.jobs, "actor": self.options.actor,
            "duration": round(duration, 3), "tasks": tasks,
            "done": [t for t in tasks if tasks[t]["status"] == states.DONE],
            "failed": failed,
            "up_for_retry": [t for t in tasks if tasks[t]["status"] == states.UP_FOR_RETRY],
            "upstream_failed": by_state.get(states.UPSTREAM_FAILED, []),
            "not_started": not_started,
            "attempts": sum(len(a) for a in self.history.values()),
            "stopped": self.stop_reason, "interrupted": self.interrupted,
            "claims": "remote" if self.claims.remote is not None and not self.claims.remote_problem
            else "local",
            "run_dir": str(self.run_dir),
            **self._landing_summary(tasks),
        }

    def _landing_summary(self, tasks: dict[str, Any]) -> dict[str, Any]:
        """``landed``: what this run landed (``--land``); ``land_command``: how to land what it
        finished but did not (issue #17), None when nothing waits."""
        from git_flowctl.coordination.landing import unmerged_task_branches

        landed = [task for task, attempts in self.history.items()
                  if attempts[-1].landing is not None and attempts[-1].landing.ok]
        done = [task for task in tasks if tasks[task]["status"] == states.DONE]
        try:
            unmerged = unmerged_task_branches(self.ws, _git_out(self.ws, self.ws.root,
                                                                "rev-parse", "HEAD"))
        except FlowError:
            unmerged = set()
        waiting = [task for task in done if task in unmerged]
        command = None
        if waiting:
            from git_flowctl.coordination.land import default_target

            into = short_branch(self.branch)
            named = "" if default_target(self.ws) == into or not self.branch.startswith(
                "refs/heads/") else f" --into {into}"
            command = f"git flow-task land{named} " + " ".join(waiting)
        return {"landed": landed, "not_landed": waiting, "land_command": command}


def epic_wait_reason(waits_for: list[str]) -> str:
    return f"its epic waits for epic {', '.join(waits_for)} to close"


def plan_waves(plan: Plan, offer: Offer, epic_id: str | None) -> dict[str, Any]:
    """The dependency levels a run would go through if every task succeeded (``--dry-run``).
    The first wave is what ``offer`` calls ready now; a task someone else holds, one held back
    (a retry backoff, files someone else holds) and one whose epic waits are left out, with why."""
    facts = plan.facts
    in_scope = [t for t in facts.sorted_tasks() if epic_id is None or t.epic == epic_id]
    simulated = dict(facts.effective_states())
    pending: list[str] = []
    excluded: dict[str, str] = {}
    for task in in_scope:
        state = simulated[task.id]
        holder = offer.holder(task.id)
        waits_for = facts.epic_waits(task.epic)
        held_back = offer.held_back.get(task.id)
        if state not in states.STARTABLE:
            if state not in states.FINISHED:
                excluded[task.id] = state
        elif holder is not None:
            excluded[task.id] = f"claimed by {holder}"
        elif waits_for:
            excluded[task.id] = epic_wait_reason(waits_for)
        elif held_back is not None and not facts.unsatisfied_dependencies(task):
            excluded[task.id] = held_back
        else:
            pending.append(task.id)
    waves: list[list[str]] = []
    while pending:
        wave = [task_id for task_id in pending if states.dependency_satisfied(
            facts.tasks[task_id].trigger_rule,
            {dep: simulated.get(dep, states.MISSING) for dep in facts.tasks[task_id].depends_on})]
        if not wave:
            break
        waves.append(sorted(wave, key=lambda t: facts.tasks[t].sort_key()))
        for task_id in wave:
            simulated[task_id] = states.DONE
            pending.remove(task_id)
    for task_id in pending:
        excluded[task_id] = "waits on a task this run does not run"
    return {"waves": waves, "excluded": excluded, "epic": epic_id,
            "task_count": sum(len(wave) for wave in waves)}


# Controlling a run from another terminal -------------------------------------------------------


def active_runs(ws: Workspace) -> list[dict[str, Any]]:
    """Runs of this repository whose process is alive (runs.list_runs)."""
    return [record for record in runs.list_runs(ws.common_dir) if record["alive"]]


def send_control(ws: Workspace, word: str, run_id: str | None = None,
                 wait_seconds: float = 60.0) -> list[dict[str, Any]]:
    """Ask a run to stop, pause or resume, and wait until it has seen it. Without ``run_id``
    the one active run; several active runs need the ID of the one meant."""
    if word not in CONTROL_WORDS:
        raise UsageError(f"unknown run control {word!r}", hint="run stop | run pause | run resume")
    every = runs.list_runs(ws.common_dir)
    if run_id is not None:
        chosen = [r for r in every if r["run_id"] == run_id or r["run_id"].startswith(run_id)]
        if len(chosen) > 1:
            raise UsageError(f"{run_id!r} names {len(chosen)} runs",
                             hint="give more of the run ID (`git flow-task run status`)")
        if not chosen:
            raise FlowError(f"no run {run_id} in this repository",
                            hint="`git flow-task run status` lists the runs")
        if not chosen[0]["alive"]:
            if word == "stop":
                return [forget_dead_run(ws, chosen[0])]
            raise FlowError(f"run {chosen[0]['run_id']} is dead (its process "
                            f"{chosen[0].get('pid')} on {chosen[0].get('host')} is gone)",
                            hint="the next `git flow-task run` on its branch resumes its tasks; "
                                 "`run stop RUN_ID` forgets it")
    else:
        chosen = [r for r in every if r["alive"]]
        if not chosen:
            raise FlowError("no run is active in this repository",
                            hint="`git flow-task run -- COMMAND` starts one")
        if len(chosen) > 1:
            raise UsageError(f"{len(chosen)} runs are active: name the one to {word}",
                             hint=f"git flow-task run {word} RUN_ID "
                                  f"({', '.join(r['run_id'] for r in chosen)})",
                             runs=[r["run_id"] for r in chosen])
    data = chosen[0]
    control = ws.common_dir / RUNS_DIR / data["run_id"] / "control"
    atomic_write(control, word.encode() + b"\n")
    wanted = control.stat().st_mtime_ns
    deadline = time.monotonic() + wait_seconds
    record = Path(runs.record_path(ws.common_dir, data["run_id"]))
    while True:
        try:
            current = json.loads(record.read_text())
        except FileNotFoundError:
            return [{**data, "state": "ended"}]  # the run has ended meanwhile
        except (OSError, ValueError):
            current = {}
        if current.get("control_seen") == wanted:
            return [current]
        if time.monotonic() > deadline:
            raise FlowError(f"run {data['run_id']} did not acknowledge `{word}` in "
                            f"{wait_seconds:g}s", hint=f"is it stuck? its pid is {data.get('pid')}")
        time.sleep(0.05)


def forget_dead_run(ws: Workspace, record: dict[str, Any]) -> dict[str, Any]:
    """`run stop` of a dead run: what its commands left running (on this host) is killed and
    its record removed. Its tasks stay in progress under their claims: the next run of the same
    actor on that branch no longer resumes them, and once their leases run out they are
    recorded as failed attempts like any other expired lease."""
    killed = []
    if record.get("host") == runs.hostname():
        for stray in marked_processes((f"FLOW_RUN_ID={record['run_id']}",)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(stray, signal.SIGKILL)
                killed.append(stray)
    runs.remove_record(ws.common_dir, str(record["run_id"]))
    return {**record, "state": "forgotten", "killed": killed,
            "left_in_progress": [entry.get("task") for entry in record.get("running") or []]}


# Helpers ---------------------------------------------------------------------------------------


def _sha256(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _git_out(ws: Workspace, cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    if result.returncode != 0:
        raise FlowError(f"git {args[0]} failed: {_last_line(result.stderr)}")
    return result.stdout.decode().strip()


def _last_line(data: bytes) -> str:
    lines = data.decode("utf-8", errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


def _shell_join(command: list[str]) -> str:
    import shlex

    return shlex.join(command)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _summary_line(summary: dict[str, Any]) -> str:
    parts = [f"{len(summary['done'])} done", f"{len(summary['failed'])} failed"]
    if summary["up_for_retry"]:
        parts.append(f"{len(summary['up_for_retry'])} up for retry")
    if summary["upstream_failed"]:
        parts.append(f"{len(summary['upstream_failed'])} upstream_failed")
    text = f"run {summary['run_id']} ended: " + ", ".join(parts) + \
        f" ({summary['attempts']} attempts in {summary['duration']:.1f}s)"
    if summary["stopped"]:
        text += f"; stopped: {summary['stopped']}"
    return text


def backoff_due(iso_text: str) -> float:
    """Epoch seconds of a ``retry_after`` (``...T10:00:02.500Z``)."""
    from datetime import UTC, datetime

    return datetime.strptime(iso_text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
