"""`git flow-task mcp`: the tools of tools.py served over stdio with the official `mcp` SDK.

The SDK is an optional extra (`pip install 'git-flowctl[mcp]'`); only this module imports it.
This package is `git_flowctl.mcp` and the SDK is the top-level `mcp`: absolute imports (the only
kind Python 3 has without a leading dot) always mean the SDK here.

Each tool returns the CLI's ``--json`` object as the result's structured content (and as JSON
text, for clients that read only text). A refusal is a tool error (``isError``, which the model
reads, as the MCP specification asks for execution errors) whose content is the CLI's failure
JSON plus ``exit_code``: 1 refused or invalid, 2 usage, 3 lost a race or claimed by another.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from git_flowctl import __version__
from git_flowctl.mcp.tools import FlowTools, error_payload, internal_error
from git_flowctl.model.errors import FlowError, NotFoundError

TOOL_NAMES = ("next", "ready", "show", "tasks", "status", "start", "done", "block", "fail",
              "release", "heartbeat", "log", "task_create", "dep_add", "validate", "prompt",
              "queue", "files", "restart", "run_status", "land")
PROMPT_NAMES = ("worker",)

PREFACE = """\
# This MCP server

Its tools are the `git flow-task` commands the primer below names: `next`, `ready`, `show`, \
`tasks`, `status`, `start`, `done`, `block`, `fail`, `release`, `heartbeat`, `log`, \
`task_create`, `dep_add`, `validate`, `prompt`, `queue`, `files`, `restart`, `run_status` \
(`run status`), `land`. Call the tool where the primer says to run the command (`next` with \
`claim: true` for `next --claim`, `status` with `interrupted: true` for `status \
--interrupted`); the arguments are the command's options and the result is its `--json` \
object. A refusal is a tool error with the same `error` and `hint`, and `exit_code` 1 \
(refused: read the hint, do not retry unchanged), 2 (usage: fix the arguments) or 3 (lost a \
race or claimed by another: pick another task). Resources: `flow://status`, \
`flow://task/{id}`. Prompt: `worker` (a task's brief, as the `prompt` tool gives it).

"""

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                        open_world_hint=False)
# `restart` throws away finished work's record (summaries, evidence, attempts; history keeps it).
RESETS = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False,
                         open_world_hint=False)
# `next` reads, unless claim=true starts the task: hints describe the tool, so it is a writer.

TaskRef = Annotated[str, Field(description="A task ID: full (fn-1-slug.2) or short (fn-1.2).")]
EpicRef = Annotated[str | None, Field(description="Only this epic (fn-1 or its full ID).")]
Rev = Annotated[str | None, Field(
    description="Read the plan of this revision from git objects (no checkout).")]
Actor = Annotated[str | None, Field(
    description="Who acts (default: the server's --actor, FLOW_ACTOR, git user.email, "
                "user.name, $USER).")]
Message = Annotated[str | None, Field(description="Extra text for the commit body.")]
DryRun = Annotated[bool, Field(description="Return the change and write nothing.")]
NoCommit = Annotated[bool, Field(
    description="Write and stage the file only; the next `git commit` records it.")]
Force = Annotated[bool, Field(
    description="Override the state machine or a gate (recorded as force=1).")]
Remote = Annotated[str | None, Field(
    description="Push the claim to this git remote (default: claims.remote).")]


def build_server(root: Path, *, actor: str | None, instructions: str) -> MCPServer:
    tools = FlowTools(root, actor)
    server: MCPServer = MCPServer("git-flow-task", version=__version__, instructions=instructions,
                                  log_level="WARNING")
    # One call at a time: the SDK runs synchronous tools on worker threads, and a workspace's
    # git processes and locks are meant for one caller. Other processes race through the
    # compare-and-swap of refs and claims as CLI commands do.
    lock = threading.Lock()

    def call(run: Callable[[], dict[str, Any]]) -> CallToolResult:
        with lock:
            try:
                payload = run()
            except FlowError as error:
                return _result(error_payload(error), is_error=True)
            except Exception as exc:  # a bug: one line to the model, the traceback to stderr
                traceback.print_exc(file=sys.stderr)
                return _result(error_payload(internal_error(exc)), is_error=True)
        return _result(payload)

    @server.tool(annotations=WRITE)
    def next(epic: EpicRef = None, actor: Actor = None, rev: Rev = None,
             claim: Annotated[bool, Field(
                 description="Claim it and start it (one commit); a race lost to another "
                             "worker moves on to the next task.")] = False,
             remote: Remote = None, message: Message = None) -> CallToolResult:
        """The one task to do next: your own in-progress task first, else the best ready one.

        With claim=true it is claimed and started in one step. Result: status (work|none), epic,
        task, reason, passed_over; with claim also claimed, claim, lost_races.
        """
        return call(lambda: tools.next(epic=epic, actor=actor, rev=rev, claim=claim,
                                       remote=remote, message=message))

    @server.tool(annotations=READ)
    def ready(epic: EpicRef = None, actor: Actor = None, rev: Rev = None) -> CallToolResult:
        """Tasks that can start now, those in progress, and those blocked (with what blocks
        them), each sorted by priority, number, title."""
        return call(lambda: tools.ready(epic=epic, actor=actor, rev=rev))

    @server.tool(annotations=READ)
    def show(id: Annotated[str, Field(description="An epic or task ID (full or short).")],
             rev: Rev = None) -> CallToolResult:
        """An epic (with its tasks) or a task: fields, derived state, description, acceptance,
        done summary, evidence."""
        return call(lambda: tools.show(id, rev=rev))

    @server.tool(annotations=READ)
    def tasks(epic: EpicRef = None,
              status: Annotated[list[str] | None, Field(
                  description="Only tasks in these states (derived ones like ready or "
                              "upstream_failed work).")] = None,
              domain: Annotated[str | None, Field(description="Only tasks of this domain.")] = None,
              rev: Rev = None) -> CallToolResult:
        """List tasks: id, epic, title, status, priority, domain, depends_on, landed."""
        return call(lambda: tools.tasks(epic=epic, status=status or (), domain=domain, rev=rev))

    @server.tool(annotations=READ)
    def status(rev: Rev = None,
               interrupted: Annotated[bool, Field(
                   description="Only the open epics whose work has started and is not finished, "
                               "with what is in progress and the call that goes on.")] = False,
               ) -> CallToolResult:
        """Counts per state, per epic, what is ready, what landed on the default branch, and the
        runs of this repository (`runs`). With interrupted: `status --interrupted`."""
        return call(lambda: tools.status(rev=rev, interrupted=interrupted))

    @server.tool(annotations=READ)
    def queue(all: Annotated[bool, Field(description="Closed epics too.")] = False,
              actor: Actor = None, rev: Rev = None) -> CallToolResult:
        """Per open epic: how many tasks are ready, in progress, blocked and waiting, and what
        blocks each (blocked: status blocked, upstream_failed, claimed by another, retry backoff,
        files held by another; waiting: unfinished dependencies)."""
        return call(lambda: tools.queue(all=all, actor=actor, rev=rev))

    @server.tool(annotations=READ)
    def files(epic: EpicRef = None, actor: Actor = None, rev: Rev = None) -> CallToolResult:
        """Which open task owns which paths (its `files`: paths, directories, globs), and the
        conflicts between tasks that may run at once, with who holds them."""
        return call(lambda: tools.files(epic=epic, actor=actor, rev=rev))

    @server.tool(annotations=READ)
    def prompt(task: TaskRef,
               actor: Annotated[str | None, Field(
                   description="Who will work on it (default: the server's actor).")] = None,
               rev: Rev = None) -> CallToolResult:
        """Everything one worker needs to do TASK (flowctl's worker-prompt): `prompt` is the
        brief (spec, acceptance, the dependencies' done summaries and evidence, owned files,
        the exact commands to finish, fail or block it); its parts are fields too."""
        return call(lambda: tools.prompt(task, actor=actor, rev=rev))

    @server.tool(annotations=READ)
    def run_status(run_id: Annotated[str | None, Field(
                       description="Only this run (its ID or a prefix of it).")] = None,
                   ) -> CallToolResult:
        """The runs of this repository (`run status`): each one's state (running, paused,
        stopping, dead), pid, host, branch, actor, jobs, and the tasks it runs now with their
        attempts. A dead run's tasks are resumed by the next `run` on its branch."""
        return call(lambda: tools.run_status(run_id))

    @server.tool(annotations=WRITE)
    def start(task: TaskRef,
              reclaim: Annotated[bool, Field(
                  description="Take over a claim whose lease expired.")] = False,
              remote: Remote = None, force: Force = False, actor: Actor = None,
              message: Message = None, dry_run: DryRun = False,
              no_commit: NoCommit = False) -> CallToolResult:
        """Start TASK (todo or up_for_retry -> in_progress) and claim it. Refused while a
        dependency is unfinished; exit_code 3 while someone else holds the claim."""
        return call(lambda: tools.start(task, reclaim=reclaim, remote=remote, force=force,
                                        actor=actor, message=message, dry_run=dry_run,
                                        no_commit=no_commit))

    @server.tool(annotations=WRITE)
    def done(task: TaskRef,
             summary: Annotated[str | None, Field(description="What was done.")] = None,
             evidence: Annotated[dict[str, Any] | list[str] | None, Field(
                 description='Evidence: an object such as {"commits": ["abc123"], "tests": '
                             '"pytest -q"}, or key=value strings.')] = None,
             remote: Remote = None, force: Force = False, actor: Actor = None,
             message: Message = None, dry_run: DryRun = False,
             no_commit: NoCommit = False,
             verify: Annotated[bool, Field(
                 description="Run the project's guard (tests, lint, types, invariants) first: "
                             "refused, nothing written, unless it passes; its results become "
                             "the commit's evidence.")] = False) -> CallToolResult:
        """Finish TASK (in_progress -> done): fills its done summary and evidence and records a
        Flow-Evidence trailer. exit_code 3 when the claim is no longer yours. With verify, the
        guard runs first (required when the project sets require_verify)."""
        return call(lambda: tools.done(task, summary=summary, evidence=evidence, remote=remote,
                                       force=force, actor=actor, message=message,
                                       dry_run=dry_run, no_commit=no_commit, verify=verify))

    @server.tool(annotations=WRITE)
    def block(task: TaskRef, reason: Annotated[str, Field(description="Why.")],
              remote: Remote = None, force: Force = False, actor: Actor = None,
              message: Message = None, dry_run: DryRun = False,
              no_commit: NoCommit = False) -> CallToolResult:
        """Block TASK (todo or in_progress -> blocked) with a reason; its claim is given back."""
        return call(lambda: tools.block(task, reason=reason, remote=remote, force=force,
                                        actor=actor, message=message, dry_run=dry_run,
                                        no_commit=no_commit))

    @server.tool(annotations=WRITE)
    def fail(task: TaskRef,
             reason: Annotated[str | None, Field(description="Why it failed.")] = None,
             remote: Remote = None, force: Force = False, actor: Actor = None,
             message: Message = None, dry_run: DryRun = False,
             no_commit: NoCommit = False) -> CallToolResult:
        """Record a failed attempt of TASK: in_progress -> up_for_retry while attempts <
        max_retries, else failed; its claim is given back."""
        return call(lambda: tools.fail(task, reason=reason, remote=remote, force=force,
                                       actor=actor, message=message, dry_run=dry_run,
                                       no_commit=no_commit))

    @server.tool(annotations=WRITE)
    def release(task: TaskRef, remote: Remote = None, force: Force = False, actor: Actor = None,
                message: Message = None, dry_run: DryRun = False,
                no_commit: NoCommit = False) -> CallToolResult:
        """Give TASK back: in_progress -> todo, the assignee cleared, the claim given back."""
        return call(lambda: tools.release(task, remote=remote, force=force, actor=actor,
                                          message=message, dry_run=dry_run, no_commit=no_commit))

    @server.tool(annotations=RESETS)
    def restart(task: TaskRef, force: Annotated[bool, Field(
                    description="Also reset tasks in progress (their claims are given back); "
                                "recorded as force=1.")] = False,
                actor: Actor = None, message: Message = None, dry_run: DryRun = False,
                no_commit: NoCommit = False) -> CallToolResult:
        """Back to todo: TASK and every task downstream of it, from any state, in one commit
        (`reset`; with dry_run `would_reset`). Attempts, assignee, reasons, done summary and
        evidence are cleared (history keeps them). Refused while one of them is in progress,
        unless force."""
        return call(lambda: tools.restart(task, force=force, actor=actor, message=message,
                                          dry_run=dry_run, no_commit=no_commit))

    @server.tool(annotations=WRITE)
    def land(tasks: Annotated[list[str] | None, Field(
                 description="The tasks to land (or all_done).")] = None,
             all_done: Annotated[bool, Field(
                 description="Every done task whose branch is not on the target yet.")] = False,
             into: Annotated[str | None, Field(
                 description="The branch to land on (default: the default branch).")] = None,
             strategy: Annotated[str | None, Field(
                 description="merge, rebase or squash (default: land.strategy, else merge).")] = None,
             branch: Annotated[str | None, Field(
                 description="The branch to land, for one task (default: flow/<task-id>, else "
                             "its claim's).")] = None,
             push: Annotated[bool, Field(
                 description="Push each landing to the target's remote.")] = False,
             remote: Annotated[str | None, Field(
                 description="The remote push pushes to.")] = None,
             dry_run: Annotated[bool, Field(
                 description="Return the order and what each landing would do; change "
                             "nothing.")] = False,
             actor: Actor = None) -> CallToolResult:
        """Merge finished task branches into the target with their state, one at a time in
        dependency order (a task in progress gets its done in the landing commit). A conflict
        or a failing guard lands nothing of that task; a task that did not land makes this a
        tool error carrying the whole result (exit_code 3 when it lost a race)."""
        return call(lambda: tools.land(tasks or (), into=into, strategy=strategy, branch=branch,
                                       all_done=all_done, push=push, remote=remote,
                                       dry_run=dry_run, actor=actor))

    @server.tool(annotations=WRITE)
    def heartbeat(task: Annotated[str | None, Field(
                      description="The task whose claim to extend (default: every claim the "
                                  "actor holds).")] = None,
                  remote: Remote = None, actor: Actor = None) -> CallToolResult:
        """Extend the lease of your claims. exit_code 3 when a claim is no longer yours: stop
        working on that task."""
        return call(lambda: tools.heartbeat(task, remote=remote, actor=actor))

    @server.tool(annotations=READ)
    def log(task: Annotated[str | None, Field(description="Only this task's transitions.")] = None,
            epic: Annotated[str | None, Field(
                description="Every transition of this epic and its tasks.")] = None,
            rev: Annotated[str, Field(description="Read the history of this revision.")] = "HEAD",
            ) -> CallToolResult:
        """Transitions from history, oldest first: when, commit, task, from -> to, action, who,
        evidence; reverted ones marked."""
        return call(lambda: tools.log(task, epic=epic, rev=rev))

    @server.tool(annotations=WRITE)
    def task_create(epic: Annotated[str, Field(description="The epic (fn-1 or its full ID).")],
                    title: Annotated[str, Field(description="What the task does.")],
                    deps: Annotated[list[str] | None, Field(
                        description="Task IDs it depends on (any epic).")] = None,
                    priority: Annotated[int | None, Field(
                        description="Lower runs first; absent sorts last.")] = None,
                    domain: Annotated[str | None, Field(
                        description="Free text: backend, frontend, docs, ...")] = None,
                    files: Annotated[list[str] | None, Field(
                        description="Paths the task owns.")] = None,
                    description: Annotated[str | None, Field(
                        description="The ## Description section.")] = None,
                    acceptance: Annotated[str | None, Field(
                        description="The ## Acceptance checklist.")] = None,
                    trigger_rule: Annotated[str | None, Field(
                        description="all_success (default), none_failed_min_one_success, "
                                    "all_done.")] = None,
                    max_retries: Annotated[int | None, Field(
                        description="Failed attempts given back as up_for_retry.")] = None,
                    estimate: Annotated[float | None, Field(
                        description="Size of the work, any unit.")] = None,
                    actor: Actor = None, message: Message = None, dry_run: DryRun = False,
                    no_commit: NoCommit = False) -> CallToolResult:
        """Create a task in an epic (status todo); a dependency that would close a cycle is
        refused."""
        return call(lambda: tools.task_create(
            epic=epic, title=title, deps=deps or (), priority=priority, domain=domain,
            files=files or (), description=description, acceptance=acceptance,
            trigger_rule=trigger_rule, max_retries=max_retries, estimate=estimate, actor=actor,
            message=message, dry_run=dry_run, no_commit=no_commit))

    @server.tool(annotations=WRITE)
    def dep_add(task: TaskRef,
                deps: Annotated[list[str], Field(description="Task IDs TASK will depend on.")],
                force: Force = False, actor: Actor = None, message: Message = None,
                dry_run: DryRun = False, no_commit: NoCommit = False) -> CallToolResult:
        """Make TASK depend on each of DEPS; a cycle is refused (and printed)."""
        return call(lambda: tools.dep_add(task, deps, force=force, actor=actor, message=message,
                                          dry_run=dry_run, no_commit=no_commit))

    @server.tool(annotations=READ)
    def validate(rev: Rev = None,
                 staged: Annotated[bool, Field(description="Validate the index.")] = False,
                 epic: EpicRef = None,
                 all: Annotated[bool, Field(description="Every epic and task.")] = False,
                 ) -> CallToolResult:
        """Check every epic and task file (structure, IDs, dependencies, cycles); an invalid
        plan is a tool error carrying every finding with its file, line and rule."""
        return call(lambda: tools.validate(rev=rev, staged=staged, epic=epic, all=all))

    def resource(run: Callable[[], dict[str, Any]]) -> str:
        with lock:
            try:
                return json.dumps(run(), ensure_ascii=False, default=str)
            except NotFoundError as error:
                raise ResourceNotFoundError(_one_line(error)) from None
            except FlowError as error:
                raise ResourceError(_one_line(error)) from None

    @server.resource("flow://status", name="status", mime_type="application/json")
    def status_resource() -> str:
        """The plan's counts per state and epic: `status`'s JSON."""
        return resource(lambda: tools.status())

    @server.resource("flow://task/{id}", name="task", mime_type="application/json")
    def task_resource(id: str) -> str:
        """A task (or an epic): `show`'s JSON."""
        return resource(lambda: tools.show(id))

    @server.prompt(name="worker", title="Work on a task")
    def worker(task: Annotated[str, Field(description="The task: fn-1.2 or its full ID.")]) -> str:
        """The worker's brief for TASK (`prompt TASK`): what to do, what its dependencies left,
        and the exact calls to start, finish, fail or block it."""
        with lock:
            try:
                return str(tools.prompt(task)["prompt"])
            except FlowError as error:
                raise MCPError(INVALID_PARAMS, _one_line(error)) from None

    return server


def _result(payload: dict[str, Any], *, is_error: bool = False) -> CallToolResult:
    text = json.dumps(payload, ensure_ascii=False, default=str)
    # Structured content is JSON: what json.dumps made of the payload (dates as strings).
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=json.loads(text), is_error=is_error)


def _one_line(error: FlowError) -> str:
    return f"{error.message} (hint: {error.hint})" if error.hint else error.message


def instructions_for(root: Path, available: Collection[str]) -> str:
    """The server's instructions: what its tools are, then `prime`'s primer for this
    repository. A plan with broken files is read past them (the primer counts what it can);
    the `validate` tool names the problems."""
    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.views import primer

    ws = Workspace(root)
    try:
        from git_flowctl.views.reads import offer_for

        plan = ws.load_plan(strict=False)
        return PREFACE + primer.build(plan, primer.setup_for(ws), available=available,
                                      offer=offer_for(ws, plan, None))
    except FlowError as error:
        return PREFACE + (f"The plan could not be read ({_one_line(error)}); the `validate` "
                          "tool lists the problems.\n")


def serve(root: Path, *, actor: str | None, available: Collection[str]) -> None:
    """Serve until the client closes standard input."""
    if actor:
        os.environ["FLOW_ACTOR"] = actor  # the primer says who acts, as tools default to
    server = build_server(root, actor=actor, instructions=instructions_for(root, available))
    logging.getLogger("mcp").setLevel(logging.WARNING)
    server.run("stdio")
