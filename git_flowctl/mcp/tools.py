"""What each MCP tool does, without the SDK: the same domain calls as the CLI command of the same
name, returning that command's ``--json`` object (issue #18).

Every call opens the repository anew (one `git rev-parse`) and reads the plan from disk, so a
commit another process made between two calls is seen by the next one; what persists between
calls is only what the on-disk caches key by blob and commit IDs. A refusal raises the domain's
FlowError (message, hint, exit code); `error_payload` turns it into the CLI's failure JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from git_flowctl.model.errors import ConflictError, FlowError
from git_flowctl.repo.workspace import Workspace

if TYPE_CHECKING:
    from git_flowctl.changes.ops import Context
    from git_flowctl.model.trailers import Evidence
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.writer import Change, Mode, Outcome

EXIT_MEANINGS = {1: "refused or invalid", 2: "usage", 3: "lost a race or claimed by another"}


def success(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"success": True, **payload}


def error_payload(error: FlowError) -> dict[str, Any]:
    """The CLI's failure JSON (`{"success": false, "error", "hint", ...}`) plus the exit code the
    command would have ended with, and what it means."""
    details = {key: value for key, value in error.details.items() if key not in ("success", "error")}
    return {"success": False, "error": error.message, "hint": error.hint, **details,
            "exit_code": error.exit_code,
            "exit_meaning": EXIT_MEANINGS.get(error.exit_code, "refused or invalid")}


def internal_error(exc: Exception) -> FlowError:
    """A bug, said in one line as the CLI says it (cli.run)."""
    return FlowError(f"internal error: {type(exc).__name__}: {exc}",
                     hint="this is a bug in git flow-task; rerun with FLOW_DEBUG=1 for the "
                          "traceback and report it")


class FlowTools:
    """The tools of one repository. ``actor`` is the server's default actor (``mcp --actor``);
    each call may name another."""

    def __init__(self, root: Path, actor: str | None = None) -> None:
        self.root = root
        self.actor = actor

    def workspace(self) -> Workspace:
        return Workspace(self.root)

    def _who(self, actor: str | None) -> str | None:
        return actor or self.actor

    def _read(self, ws: Workspace, rev: str | None) -> Plan:
        plan = ws.load_plan(rev)
        plan.require_initialized()
        return plan

    def _context(self, ws: Workspace, actor: str | None, mode: Mode, force: bool = False) -> Context:
        from git_flowctl.changes.acting import context_for

        return context_for(ws, self._who(actor), mode, force)

    def _mutate(self, build: Callable[[Plan, Context], Change], *, actor: str | None, message: str | None, dry_run: bool,
                no_commit: bool, force: bool = False) -> dict[str, Any]:
        """The body of a plain mutating command (cli.common.run_mutation)."""
        from git_flowctl.changes.acting import mode_of
        from git_flowctl.repo.writer import Writer

        ws = self.workspace()
        mode = mode_of(no_commit, dry_run)
        ctx = self._context(ws, actor, mode, force)
        outcome = Writer(ws, message=message).apply(lambda plan: build(plan, ctx), mode)
        return success(outcome.payload())

    def _claimed(self, task: str, action: str, build: Callable[[Plan, Context], Change], *, actor: str | None,
                 message: str | None, dry_run: bool, no_commit: bool, force: bool,
                 remote: str | None, reclaim: bool = False) -> dict[str, Any]:
        """A transition with its claim step (cli/commands/work.py's claimed_transition)."""
        from git_flowctl.changes.acting import mode_of
        from git_flowctl.coordination.work import claimed_transition

        ws = self.workspace()
        mode = mode_of(no_commit, dry_run)
        ctx = self._context(ws, actor, mode, force)
        outcome: Outcome = claimed_transition(ws, ctx, mode, message, task, action,
                                              lambda plan: build(plan, ctx), remote=remote,
                                              reclaim=reclaim)
        return success(outcome.payload())

    # What to work on ------------------------------------------------------------------------

    def next(self, *, epic: str | None = None, actor: str | None = None, rev: str | None = None,
             claim: bool = False, remote: str | None = None,
             message: str | None = None) -> dict[str, Any]:
        from git_flowctl.coordination.availability import next_answer
        from git_flowctl.coordination.claims import Claims, claim_next
        from git_flowctl.model.errors import UsageError
        from git_flowctl.repo.writer import Mode

        ws = self.workspace()
        if claim:
            if rev is not None:
                raise UsageError("--claim starts the task on the current branch; it cannot read --rev")
            ctx = self._context(ws, actor, Mode.COMMIT)
            return success(claim_next(Claims.open(ws, remote), ctx, epic_ref=epic, message=message))
        plan = self._read(ws, rev)
        epic_id = plan.resolve_epic(epic) if epic else None
        who = ws.actor(self._who(actor))
        return success(next_answer(ws, plan, who, epic_id, Claims.open(ws), rev=rev))

    def ready(self, *, epic: str | None = None, actor: str | None = None,
              rev: str | None = None) -> dict[str, Any]:
        from git_flowctl.coordination.availability import ready_answer
        from git_flowctl.coordination.claims import Claims

        ws = self.workspace()
        plan = self._read(ws, rev)
        epic_id = plan.resolve_epic(epic) if epic else None
        who = ws.actor(self._who(actor))
        return success(ready_answer(ws, plan, who, epic_id, Claims.open(ws), rev=rev))

    # Reading --------------------------------------------------------------------------------

    def show(self, id: str, *, rev: str | None = None) -> dict[str, Any]:
        from git_flowctl.views.reads import show_answer

        ws = self.workspace()
        return success(show_answer(ws, self._read(ws, rev), id, rev).payload)

    def tasks(self, *, epic: str | None = None, status: Sequence[str] = (),
              domain: str | None = None, rev: str | None = None) -> dict[str, Any]:
        from git_flowctl.views.reads import tasks_answer

        ws = self.workspace()
        plan = self._read(ws, rev)
        return success(tasks_answer(ws, plan, epic_ref=epic, statuses=tuple(status),
                                    domain=domain, rev=rev).payload)

    def status(self, *, rev: str | None = None, interrupted: bool = False) -> dict[str, Any]:
        from git_flowctl.views.reads import status_answer

        ws = self.workspace()
        if interrupted:
            from git_flowctl.views.workflow import interrupted_report

            return success(interrupted_report(self._read(ws, rev)))
        return success(status_answer(ws, ws.load_plan(rev), rev).payload)

    def queue(self, *, all: bool = False, actor: str | None = None,
              rev: str | None = None) -> dict[str, Any]:
        from git_flowctl.coordination.claims import Claims
        from git_flowctl.views.workflow import queue_report

        ws = self.workspace()
        plan = self._read(ws, rev)
        return success(queue_report(ws, plan, ws.actor(self._who(actor)), Claims.open(ws),
                                    every_epic=all))

    def files(self, *, epic: str | None = None, actor: str | None = None,
              rev: str | None = None) -> dict[str, Any]:
        from git_flowctl.coordination.availability import files_report
        from git_flowctl.coordination.claims import Claims

        ws = self.workspace()
        plan = self._read(ws, rev)
        epic_id = plan.resolve_epic(epic) if epic else None
        return success(files_report(plan, ws.actor(self._who(actor)), Claims.open(ws).all(),
                                    epic_id))

    def prompt(self, task: str, *, actor: str | None = None,
               rev: str | None = None) -> dict[str, Any]:
        from git_flowctl.coordination.claims import Claims
        from git_flowctl.views.workflow import prompt_answer

        ws = self.workspace()
        plan = self._read(ws, rev)
        return success(prompt_answer(ws, plan, task, ws.actor(self._who(actor)), Claims.open(ws)))

    def run_status(self, run_id: str | None = None) -> dict[str, Any]:
        from git_flowctl.coordination.runs import status_report

        return success(status_report(self.workspace().common_dir, run_id))

    def log(self, task: str | None = None, *, epic: str | None = None,
            rev: str = "HEAD") -> dict[str, Any]:
        from git_flowctl.history.replay import GitReader, replay
        from git_flowctl.history.timeline import log_report

        ws = self.workspace()
        history = replay(GitReader(ws.root, ws.common_dir), rev)
        return success(log_report(history, rev, task, epic))

    def validate(self, *, rev: str | None = None, staged: bool = False, epic: str | None = None,
                 all: bool = False) -> dict[str, Any]:
        from git_flowctl.guard.reporting import validate_report

        report = validate_report(self.workspace(), rev=rev, staged=staged, epic_ref=epic,
                                 every_epic=all)
        if report.failure is not None:
            raise _with_payload(FlowError(report.failure), report.payload)
        return success(report.payload)

    # Working on a task ----------------------------------------------------------------------

    def start(self, task: str, *, reclaim: bool = False, remote: str | None = None,
              force: bool = False, actor: str | None = None, message: str | None = None,
              dry_run: bool = False, no_commit: bool = False) -> dict[str, Any]:
        from git_flowctl.changes import ops

        return self._claimed(task, "start", lambda plan, ctx: ops.start(plan, task, ctx),
                             actor=actor, message=message, dry_run=dry_run, no_commit=no_commit,
                             force=force, remote=remote, reclaim=reclaim)

    def done(self, task: str, *, summary: str | None = None,
             evidence: Mapping[str, Any] | Sequence[str] | None = None, remote: str | None = None,
             force: bool = False, actor: str | None = None, message: str | None = None,
             dry_run: bool = False, no_commit: bool = False,
             verify: bool = False) -> dict[str, Any]:
        import json

        from git_flowctl.changes import ops

        if evidence is None:
            values: list[str] = []
        elif isinstance(evidence, Mapping):
            values = [json.dumps(dict(evidence))]  # the CLI's --evidence JSON form
        else:
            values = list(evidence)  # the CLI's key=value (or JSON) forms, as given
        parsed = ops.parse_evidence(values)
        verification = self._guard_before_done(task, parsed, actor=actor, force=force,
                                               dry_run=dry_run, no_commit=no_commit) \
            if verify else None
        return self._claimed(task, "done",
                             lambda plan, ctx: ops.done(plan, task, ctx, summary=summary,
                                                        evidence=parsed,
                                                        verification=verification),
                             actor=actor, message=message, dry_run=dry_run, no_commit=no_commit,
                             force=force, remote=remote)

    def _guard_before_done(self, task: str, evidence: dict[str, Any], *, actor: str | None,
                           force: bool, dry_run: bool, no_commit: bool) -> list[Evidence]:
        """``done`` with ``verify``: the guard's evidence, or its refusal (gates/verify.py)."""
        from git_flowctl.changes.acting import mode_of
        from git_flowctl.gates.verify import guard_before_done
        from git_flowctl.repo.writer import Mode

        ws = self.workspace()
        mode = mode_of(no_commit, dry_run)
        checked = guard_before_done(ws, task, self._context(ws, actor, mode, force),
                                    from_head=mode is Mode.COMMIT, evidence=evidence)
        refusal = checked.refusal()
        if refusal is not None:
            raise refusal
        return checked.evidence()

    def block(self, task: str, *, reason: str, remote: str | None = None, force: bool = False,
              actor: str | None = None, message: str | None = None, dry_run: bool = False,
              no_commit: bool = False) -> dict[str, Any]:
        from git_flowctl.changes import ops

        return self._claimed(task, "block",
                             lambda plan, ctx: ops.block(plan, task, ctx, reason=reason),
                             actor=actor, message=message, dry_run=dry_run, no_commit=no_commit,
                             force=force, remote=remote)

    def fail(self, task: str, *, reason: str | None = None, remote: str | None = None,
             force: bool = False, actor: str | None = None, message: str | None = None,
             dry_run: bool = False, no_commit: bool = False) -> dict[str, Any]:
        from git_flowctl.changes import ops

        return self._claimed(task, "fail",
                             lambda plan, ctx: ops.fail(plan, task, ctx, reason=reason),
                             actor=actor, message=message, dry_run=dry_run, no_commit=no_commit,
                             force=force, remote=remote)

    def release(self, task: str, *, remote: str | None = None, force: bool = False,
                actor: str | None = None, message: str | None = None, dry_run: bool = False,
                no_commit: bool = False) -> dict[str, Any]:
        from git_flowctl.changes import ops

        return self._claimed(task, "release", lambda plan, ctx: ops.release(plan, task, ctx),
                             actor=actor, message=message, dry_run=dry_run, no_commit=no_commit,
                             force=force, remote=remote)

    def heartbeat(self, task: str | None = None, *, remote: str | None = None,
                  actor: str | None = None) -> dict[str, Any]:
        from git_flowctl.coordination.work import heartbeat

        beat = heartbeat(self.workspace(), task, remote=remote, actor=self._who(actor))
        if beat.failure is not None:
            raise _with_payload(ConflictError(beat.failure), beat.payload)
        return success(beat.payload)

    def restart(self, task: str, *, force: bool = False, actor: str | None = None,
                message: str | None = None, dry_run: bool = False,
                no_commit: bool = False) -> dict[str, Any]:
        from git_flowctl.changes.acting import mode_of
        from git_flowctl.coordination.work import restart

        ws = self.workspace()
        mode = mode_of(no_commit, dry_run)
        ctx = self._context(ws, actor, mode, force)
        return success(restart(ws, ctx, mode, message, task).payload())

    def land(self, tasks: Sequence[str] = (), *, into: str | None = None,
             strategy: str | None = None, branch: str | None = None, all_done: bool = False,
             push: bool = False, remote: str | None = None, dry_run: bool = False,
             actor: str | None = None) -> dict[str, Any]:
        from git_flowctl.coordination.land import LandOptions, land_answer

        ws = self.workspace()
        options = LandOptions(ws.actor(self._who(actor)), into=into, strategy=strategy, push=push,
                              remote=remote)
        answer = land_answer(ws, list(tasks), options, branch=branch, all_done=all_done,
                             dry_run=dry_run)
        if answer.failure is not None:
            failure = ConflictError(answer.failure) if answer.exit_code == 3 \
                else FlowError(answer.failure)
            raise _with_payload(failure, answer.payload)
        return success(answer.payload)

    # Shaping the plan -----------------------------------------------------------------------

    def task_create(self, *, epic: str, title: str, deps: Sequence[str] = (),
                    priority: int | None = None, domain: str | None = None,
                    files: Sequence[str] = (), description: str | None = None,
                    acceptance: str | None = None, trigger_rule: str | None = None,
                    max_retries: int | None = None, estimate: float | None = None,
                    actor: str | None = None, message: str | None = None, dry_run: bool = False,
                    no_commit: bool = False) -> dict[str, Any]:
        from git_flowctl.changes import ops, structure

        given = {"trigger_rule": trigger_rule, "max_retries": max_retries, "estimate": estimate}
        extra = structure.check_task_fields({k: v for k, v in given.items() if v is not None})

        from git_flowctl.changes.acting import mode_of
        from git_flowctl.coordination.reservations import apply_with_task_number
        from git_flowctl.repo.writer import Writer

        ws = self.workspace()
        mode = mode_of(no_commit, dry_run)
        ctx = self._context(ws, actor, mode, False)

        def create(plan: Plan, number: int | None, taken: set[int]) -> Change:
            return ops.create_task(plan, epic, title, ctx, depends_on=_split(deps),
                                   priority=priority, domain=domain, files=_split(files),
                                   description=description, acceptance=acceptance,
                                   number=number, taken_numbers=taken,
                                   extra={k: v for k, v in extra.items() if v is not None})

        # Its number reserved as the CLI's `task create` reserves it (issue #13, finding 8).
        outcome = apply_with_task_number(ws, epic, Writer(ws, message=message), mode, ctx.actor,
                                         create)
        return success(outcome.payload())

    def dep_add(self, task: str, deps: Sequence[str], *, force: bool = False,
                actor: str | None = None, message: str | None = None, dry_run: bool = False,
                no_commit: bool = False) -> dict[str, Any]:
        from git_flowctl.changes import structure
        from git_flowctl.model.errors import UsageError

        wanted = _split(deps)
        if not wanted:
            raise UsageError("dep_add needs at least one dependency", hint='deps: ["fn-1.1"]')
        return self._mutate(lambda plan, ctx: structure.add_dependencies(plan, task, wanted, ctx),
                            actor=actor, message=message, dry_run=dry_run, no_commit=no_commit,
                            force=force)


def _split(values: Sequence[str]) -> list[str]:
    """List arguments take the CLI's comma-separated form too (``["a,b", "c"]``)."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _with_payload(error: FlowError, payload: Mapping[str, Any]) -> FlowError:
    """A refusal that carries the command's whole result, as `validate` and `heartbeat` print it
    when they exit non-zero (Output.fail)."""
    error.details = dict(payload)
    return error
