"""Hooks: `hook <name>` (what git runs) and `hooks install|uninstall|status`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from git_flowctl.cli.common import get_output, open_workspace
from git_flowctl.cli.output import Output

if TYPE_CHECKING:
    from git_flowctl.guard.githooks import HookResult
    from git_flowctl.guard.hookinstall import SharedHooksDirError
    from git_flowctl.repo.workspace import Workspace

_REFUSED = {
    "pre-commit": "commit refused",
    "commit-msg": "commit refused",
    "pre-push": "push refused",
    "prepare-commit-msg": "commit refused",
}


def _hook_workspace(out: Output) -> Workspace:
    from git_flowctl.repo.workspace import Workspace

    ws = Workspace(from_env=True)
    out.display_path = ws.rel
    return ws


def _report(out: Output, result: HookResult) -> None:
    """Hooks speak on stderr in plain text (git shows it; no rich on this path)."""
    from git_flowctl.guard.reporting import findings_payload, summary, text_lines

    payload = {"hook": result.hook, **findings_payload(result.findings)}
    if result.added:
        payload["added"] = result.added
    if result.hook == "pre-push":
        payload["commits_checked"] = len(result.commits)
    if out.json_mode:
        if result.ok:
            out.emit(payload)
        else:
            out.fail(payload, f"{_REFUSED[result.hook]}: {summary(result.findings)}")
        return
    if result.findings:
        lines = text_lines(result.findings)
        verdict = _REFUSED[result.hook] if not result.ok else "note"
        lines.append(f"git flow-task {result.hook}: {verdict}: {summary(result.findings)}")
        if not result.ok and result.hook != "pre-push":
            lines.append("    (`git commit --no-verify` skips the hooks; the push and CI check "
                         "the same rules)")
        sys.stderr.write("\n".join(lines) + "\n")
    if not result.ok:
        out.exit_code = 1


def _message_file(ws: Workspace, given: str | None) -> Path:
    if given:
        return Path(given).absolute()
    return ws.git_dir / "COMMIT_EDITMSG"


@click.group("hook")
def hook_group() -> None:
    """What git runs: the hooks themselves (installed by `hooks install` or pre-commit).

    Each checks the commit or push against the same rules as `validate` and `check`.
    """


@hook_group.command("pre-commit")
@click.argument("files", nargs=-1, required=False)
def hook_pre_commit(files: tuple[str, ...]) -> None:
    """Validate the staged .flow/ against HEAD (fast when nothing under .flow/ is staged)."""
    from git_flowctl.guard.githooks import pre_commit

    out = get_output()
    _report(out, pre_commit(_hook_workspace(out)))


@hook_group.command("prepare-commit-msg")
@click.argument("message_file", required=False)
@click.argument("source", required=False)
@click.argument("sha", required=False)
def hook_prepare_commit_msg(message_file: str | None, source: str | None, sha: str | None) -> None:
    """Add Flow-Transition trailers for staged status changes (and Flow-Task with link_commits)."""
    from git_flowctl.guard.githooks import prepare_commit_msg

    out = get_output()
    ws = _hook_workspace(out)
    source = source or os.environ.get("PRE_COMMIT_COMMIT_MSG_SOURCE") or None
    sha = sha or os.environ.get("PRE_COMMIT_COMMIT_OBJECT_NAME") or None
    _report(out, prepare_commit_msg(ws, _message_file(ws, message_file), source, sha))


@hook_group.command("commit-msg")
@click.argument("message_file", required=False)
def hook_commit_msg(message_file: str | None) -> None:
    """Check that the message's trailers and the staged status changes agree."""
    from git_flowctl.guard.githooks import commit_msg

    out = get_output()
    ws = _hook_workspace(out)
    _report(out, commit_msg(ws, _message_file(ws, message_file)))


@hook_group.command("pre-push")
@click.argument("remote", required=False)
@click.argument("url", required=False)
def hook_pre_push(remote: str | None, url: str | None) -> None:
    """Check every commit being pushed (ref lines on stdin, as git gives them)."""
    from git_flowctl.guard.githooks import pre_push

    out = get_output()
    ws = _hook_workspace(out)
    lines = [] if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read().splitlines()
    remote = remote or os.environ.get("PRE_COMMIT_REMOTE_NAME") or None
    _report(out, pre_push(ws, remote, lines))


@click.group("hooks")
def hooks_group() -> None:
    """Install, remove and inspect the plain git hooks and the merge driver."""


_MODIFY_HELP = ("Also change the directory core.hooksPath names when it is tracked, managed by "
                "husky, or global (without it, the command refuses and prints the lines to add "
                "to your hook manager).")


def _refused_here(out: Output, refused: SharedHooksDirError) -> None:
    """The refusal, then the lines to add instead (JSON carries them as `recipes`)."""
    if out.json_mode:
        raise refused
    from git_flowctl.cli.output import report_error

    report_error(out, refused)
    sys.stderr.write(str(refused.details.get("recipes", "")) + "\n")
    out.exit_code = refused.exit_code


@hooks_group.command("install")
@click.option("--merge-driver-only", is_flag=True,
              help="Only register the merge driver (when the pre-commit framework, husky or "
                   "lefthook runs the hooks).")
@click.option("--modify-hooks-path", is_flag=True, help=_MODIFY_HELP)
def hooks_install(merge_driver_only: bool, modify_hooks_path: bool) -> None:
    """Install the hook shims (chaining any hook already there) and the merge driver config.

    The shims go where git looks for hooks (core.hooksPath is honoured) and call this
    interpreter by its absolute path; run it again after moving or recreating the environment.
    A core.hooksPath that is tracked, managed by husky, or global is left alone unless
    --modify-hooks-path is given: the command prints the lines for husky, lefthook or the
    pre-commit framework instead.
    """
    from git_flowctl.guard.hookinstall import SharedHooksDirError, install

    out = get_output()
    ws = open_workspace(out)
    try:
        result = install(ws, shims=not merge_driver_only, modify_hooks_path=modify_hooks_path)
    except SharedHooksDirError as refused:
        _refused_here(out, refused)
        return
    if out.json_mode:
        out.emit(result)
        return
    console = out.console
    for action in result["hooks"]:
        console.print(f"[green]✓[/green] {action['hook']}: {action['action']}", highlight=False)
    console.print("[green]✓[/green] merge driver: merge.flow-task in .git/config", highlight=False)
    if not result["gitattributes"]:
        console.print(f"[yellow]![/yellow] .gitattributes lacks `{result['gitattributes_line']}`: "
                      "run `git flow-task init` to add it (one commit)", highlight=False)
    info = result["hooks_dir_info"]
    if result["hooks_path"] and not merge_driver_only:
        console.print(f"hooks directory: {info['path']}, {info['description']}", highlight=False,
                      markup=False)
    if info["tracked"] and not merge_driver_only:
        console.print("the hooks directory is tracked: commit the hooks so that everyone runs "
                      "them (they call `git flow-task` from PATH)", highlight=False, markup=False)


@hooks_group.command("uninstall")
@click.option("--modify-hooks-path", is_flag=True, help=_MODIFY_HELP)
def hooks_uninstall(modify_hooks_path: bool) -> None:
    """Remove the shims and the merge driver config; put back the hooks that were there."""
    from git_flowctl.guard.hookinstall import SharedHooksDirError, uninstall

    out = get_output()
    ws = open_workspace(out)
    try:
        result = uninstall(ws, modify_hooks_path=modify_hooks_path)
    except SharedHooksDirError as refused:
        _refused_here(out, refused)
        return
    if out.json_mode:
        out.emit(result)
        return
    for action in result["hooks"]:
        out.console.print(f"{action['hook']}: {action['action']}", highlight=False)
    if result["merge_driver_removed"]:
        out.console.print("merge driver: removed from .git/config", highlight=False)


@hooks_group.command("status")
def hooks_status() -> None:
    """Which hooks are installed, what they chain, and whether the merge driver is set up."""
    from git_flowctl.guard.hookinstall import status

    out = get_output()
    ws = open_workspace(out)
    result = status(ws)
    if out.json_mode:
        out.emit(result)
        return
    console = out.console
    info = result["hooks_dir_info"]
    console.print(f"hooks directory: {result['hooks_dir']} ({info['description']})",
                  highlight=False, markup=False)
    for hook in result["hooks"]:
        state = hook["state"]
        if state == "installed" and hook["python"] and not hook["python_exists"]:
            state = f"installed, but {hook['python']} is gone (run `git flow-task hooks install`)"
        elif state == "installed" and not hook["python"]:
            state = "installed (calls `git flow-task` from PATH)"
        elif state == "wired":
            via = {"block": "through the line `hooks install` added to it",
                   "script": "the hook calls `git flow-task hook`"}.get(hook["via"], f"through {hook['via']}")
            state = f"runs flow-task ({via})"
        elif state == "foreign":
            state = "another hook, which does not run flow-task"
        chained = f" (runs {Path(hook['chained']).name} first)" if hook["chained"] else ""
        console.print(f"  {hook['name']}: {state}{chained}", highlight=False, markup=False)
    console.print(f"merge driver: {result['merge_driver'] or 'not configured'}", highlight=False,
                  markup=False)
    console.print(f".gitattributes: {'ok' if result['gitattributes'] else 'missing ' + result['gitattributes_line']}",
                  highlight=False, markup=False)
