"""The command line: a thin click layer over the domain.

Subcommands load lazily from ``COMMANDS`` so that `git flow-task start` imports only what start
needs. ``--json`` is global and may stand before or after the subcommand (DESIGN §8).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import click

from git_flowctl import __version__
from git_flowctl.cli import compat
from git_flowctl.cli.output import Output, report_error
from git_flowctl.model.errors import FlowError, UsageError

# name -> (module, attribute, one-line help). The help is here so `--help` need not import all.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("setup", "init_command", "Create .flow/ and its config.yaml in one commit."),
    "detect": ("setup", "detect_command", "Is there a plan here, and is it valid (flowctl's detect)."),
    "config": ("setup", "config_group", "Read and change .flow/config.yaml settings."),
    "demo": ("setup", "demo_command", "Run a short demo in a throwaway repository."),
    "epic": ("epics", "epic_group", "Epics: create, show, edit, close, reopen, set-plan, add-dep, rm-dep, archive."),
    "epics": ("epics", "epics_command", "List epics with their progress."),
    "task": ("tasks", "task_group", "Tasks: create, show, edit, set-deps, split."),
    "dep": ("deps", "dep_group", "Add and remove task dependencies (cycles refused)."),
    "tasks": ("tasks", "tasks_command", "List tasks (--epic, --status, --domain)."),
    "list": ("tasks", "list_command", "List every epic and its tasks."),
    "show": ("tasks", "show_command", "Show an epic or a task."),
    "cat": ("tasks", "cat_command", "Print an epic's or a task's Markdown body."),
    "start": ("work", "start_command", "Start a task (its dependencies must be done)."),
    "done": ("work", "done_command", "Finish a task, with a summary and evidence."),
    "block": ("work", "block_command", "Mark a task blocked, with a reason."),
    "unblock": ("work", "unblock_command", "Return a blocked task to todo."),
    "fail": ("work", "fail_command", "Record a failed attempt (up_for_retry, then failed)."),
    "retry": ("work", "retry_command", "Return a failed task to todo (attempts reset)."),
    "skip": ("work", "skip_command", "Skip a task, with a reason."),
    "reopen": ("work", "reopen_command", "Reopen a done or skipped task (--cascade)."),
    "release": ("work", "release_command", "Give an in-progress task back (to todo)."),
    "status": ("insight", "status_command", "Counts per state, per epic."),
    "ready": ("queries", "ready_command", "Tasks that can start now, in progress, and blocked."),
    "next": ("queries", "next_command", "The one task to do next (your own in-progress one first)."),
    "blocked": ("queries", "blocked_command", "Tasks that cannot start, and why."),
    "graph": ("graph", "graph_command", "Draw the dependency graph (ascii, mermaid, dot) in layers."),
    "critical-path": ("graph", "critical_path_command", "The longest chain of unfinished work."),
    "renumber": ("planning", "renumber_command", "Repair epic number collisions, rewriting references."),
    "help": ("manual", "help_command", "Show the help of a command (help epic close)."),
    "completion": ("manual", "completion_command", "Print the shell completion script (bash, zsh, fish)."),
    "validate": ("integrity", "validate_command", "Check every epic and task file (--rev, --staged)."),
    "check": ("integrity", "check_command", "CI branch check: every commit in BASE..HEAD and the tree."),
    "merge-driver": ("integrity", "merge_driver_command", "git's merge driver for .flow/ files."),
    "hook": ("hooks", "hook_group", "What git runs: pre-commit, prepare-commit-msg, commit-msg, pre-push."),
    "hooks": ("hooks", "hooks_group", "Install, remove or inspect the git hooks and merge driver."),
    "log": ("history", "log_command", "Transitions of a task, an epic or all, from history."),
    "stats": ("history", "stats_command", "Lead and cycle time, throughput, WIP, from history."),
    "recover": ("history", "recover_command", "Compare files with history; --apply repairs."),
    "claims": ("claims", "claims_command", "Who holds which task, lease expiry, finished records."),
    "heartbeat": ("claims", "heartbeat_command", "Extend the lease of your claims."),
    "reclaim": ("claims", "reclaim_command", "Take over a claim whose lease has run out."),
    "run": ("run", "run_command", "Run a command for each ready task, N at a time, in worktrees."),
    "files": ("workflow", "files_command", "Which task owns which paths, and the conflicts between tasks."),
    "queue": ("workflow", "queue_command", "Per epic: ready, in progress, blocked and waiting, and what blocks them."),
    "restart": ("workflow", "restart_command", "Back to todo: a task and everything downstream of it."),
    "prompt": ("workflow", "prompt_command", "Everything one worker needs to do one task (the worker's brief)."),
    "import": ("migrate", "import_group", "Import a plan: from flowctl's .flow/, or an export."),
    "export": ("migrate", "export_command", "Print the whole plan as one versioned JSON document."),
    "prime": ("prime", "prime_command", "A primer for AI agents: the workflow, for this repository."),
    "doctor": ("doctor", "doctor_command", "Check this setup; each problem with the command that fixes it."),
    "board": ("board", "board_command", "The plan at a glance: columns per state, progress, ready queue, critical path."),
    "guard": ("gates", "guard_group", "Run the project's checks (tests, lint, types, invariants); detect proposes them."),
    "invariants": ("gates", "invariants_group", "Architecture rules with verify commands: show, check."),
    "checkpoint": ("checkpoints", "checkpoint_group", "An epic's state kept as a ref: save, list, diff, restore, delete."),
    "gap": ("gates", "gap_group", "The gap registry: add, list, resolve, check (open required gaps keep an epic open)."),
    "review": ("gates", "review_command", "Record a review verdict (SHIP, NEEDS_WORK, MAJOR_RETHINK), or run a reviewer."),
    "mcp": ("serve", "mcp_command", "Serve this repository to AI agents over MCP (stdio)."),
}


# The environment variable click's shell completion scripts set (`completion SHELL`).
COMPLETE_VAR = "_GIT_FLOW_TASK_COMPLETE"


class FlowGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        import importlib

        module = importlib.import_module(f"git_flowctl.cli.commands.{spec[0]}")
        command: click.Command = getattr(module, spec[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=FlowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="git flow-task")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """git flow-task: epics and tasks in the repository, every state change a commit.

    Every command takes --json (before or after the subcommand) and then prints
    {"success": true, ...} or {"success": false, "error": ...}. Exit codes: 0 ok, 1 refused or
    invalid, 2 usage, 3 lost a race or claimed by another.
    """


def run(argv: list[str]) -> int:
    """Run one command line; returns the exit code and never lets a traceback out."""
    args, json_mode = _take_json_flag(argv)
    out = Output(json_mode=json_mode)
    if not args and COMPLETE_VAR not in os.environ:
        return _short_help(out)
    try:
        args = compat.translate(args)
    except compat.Redirect as redirect:
        report_error(out, UsageError(redirect.message))
        return 2
    try:
        _refuse_undecodable(args)
        if json_mode and _asks_for_help(args):
            return _help_as_json(args, out)
        cli.main(args=args, prog_name="git flow-task", standalone_mode=False, obj=out,
                 complete_var=COMPLETE_VAR)
        return out.exit_code
    except FlowError as error:
        report_error(out, error)
        return error.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.exceptions.Abort:
        report_error(out, FlowError("interrupted"))
        return 130
    except click.ClickException as exc:
        report_error(out, _usage_error(exc))
        return 2
    except KeyboardInterrupt:
        report_error(out, FlowError("interrupted"))
        return 130
    except BrokenPipeError:
        _silence_broken_pipe()
        return 1
    except Exception as exc:  # a bug: say so in one line, keep the traceback for FLOW_DEBUG
        if os.environ.get("FLOW_DEBUG"):
            raise
        report_error(out, FlowError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="this is a bug in git flow-task; rerun with FLOW_DEBUG=1 for the traceback and report it"))
        return 1


def _usage_error(exc: click.ClickException) -> UsageError:
    """click's usage errors in our words: git's suggestions, and `-h` (through git, `--help`
    opens the man page)."""
    ctx = exc.ctx if isinstance(exc, click.UsageError) else None
    usage_hint = f"`{ctx.command_path} -h` shows the usage" if ctx is not None else None
    unknown_command = _unknown_command(exc)
    if unknown_command is not None and ctx is not None and isinstance(ctx.command, click.Group):
        group = ctx.command
        names = [name for name in group.list_commands(ctx)
                 if not getattr(group.get_command(ctx, name), "hidden", False)]
        found = compat.suggest(unknown_command, names)
        where = ctx.command_path
        if found:
            return UsageError(f"{unknown_command!r} is not a {where} command",
                              hint="did you mean " + " or ".join(f"`{where} {name}`" for name in found) + "?",
                              suggestions=found)
        return UsageError(f"{unknown_command!r} is not a {where} command",
                          hint=f"`{where} -h` lists the commands")
    if isinstance(exc, click.NoSuchOption) and ctx is not None:
        options = [opt for param in ctx.command.params for opt in (*param.opts, *param.secondary_opts)
                   if opt.startswith("--")]
        found = compat.suggest(exc.option_name, options, compat.OPTION_SIMILARITY_FLOOR)
        hint = ("did you mean " + " or ".join(f"`{name}`" for name in found) + "?") if found else usage_hint
        return UsageError(f"no such option {exc.option_name!r} for `{ctx.command_path}`",
                          hint=hint, suggestions=found)
    return UsageError(exc.format_message(), hint=usage_hint)


def _unknown_command(exc: click.ClickException) -> str | None:
    name = getattr(exc, "command_name", None)  # click >= 8.4: NoSuchCommand
    if isinstance(name, str):
        return name
    match = re.fullmatch(r"No such command '(.+)'\.(?: .*)?", exc.message, re.S)
    return match.group(1) if match else None


def _short_help(out: Output) -> int:
    """No command: the short help on standard output (git's `git` alone prints its usage), exit 2."""
    with click.Context(cli, info_name="git flow-task") as ctx:
        text = ctx.get_help()
    if out.json_mode:
        report_error(out, UsageError("no command given", hint="`git flow-task -h` lists the commands",
                                     commands=sorted(COMMANDS)))
    else:
        sys.stdout.write(text + "\n")
    return 2


def _take_json_flag(argv: list[str]) -> tuple[list[str], bool]:
    args: list[str] = []
    json_mode = False
    for index, arg in enumerate(argv):
        if arg == "--":
            args.extend(argv[index:])
            break
        if arg == "--json":
            json_mode = True
        else:
            args.append(arg)
    return args, json_mode


def _asks_for_help(args: list[str]) -> bool:
    before = args[:args.index("--")] if "--" in args else args
    return "--help" in before or "-h" in before


def _help_as_json(args: list[str], out: Output) -> int:
    """``--help`` with ``--json``: the help text in the JSON shape of `help COMMAND`."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(click.exceptions.Exit):
        cli.main(args=args, prog_name="git flow-task", standalone_mode=False, obj=out,
                 complete_var=COMPLETE_VAR)
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    out.emit({"command": " ".join(["git flow-task", *words]), "help": buffer.getvalue().rstrip()})
    return 0


def _refuse_undecodable(args: list[str]) -> None:
    """Arguments that were not UTF-8 (Python keeps their bytes as lone surrogates) would fail
    wherever they are written; refuse them at the door. What follows ``--`` (a command for
    `run`) is passed on as it is."""
    from git_flowctl.model.text import require_utf8

    for place, arg in enumerate(args, start=1):
        if arg == "--":
            break
        require_utf8(arg, f"argument {place}")


def _silence_broken_pipe() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def payload_defaults() -> dict[str, Any]:
    return {"success": True}
