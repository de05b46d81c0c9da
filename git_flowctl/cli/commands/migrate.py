"""Migration: import flowctl, import json, export."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from git_flowctl.cli.common import (
    context_for,
    emit_outcome,
    get_output,
    mode_of,
    mutating,
    open_workspace,
    read_plan,
    rev_option,
)
from git_flowctl.model.errors import UsageError
from git_flowctl.repo.writer import Mode, Writer

if TYPE_CHECKING:
    from git_flowctl.cli.output import Output
    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.repo.writer import Outcome
    from git_flowctl.views.importers import ImportSet


@click.group("import")
def import_group() -> None:
    """Bring a plan in: from flowctl, or from an `export --json` document."""


@import_group.command("flowctl")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              help="flowctl's runtime state directory (default: FLOW_STATE_DIR, else "
                   "<git-common-dir>/flow-state of the repository holding PATH).")
@mutating
def import_flowctl(path: Path, state_dir: Path | None, no_commit: bool, dry_run: bool,
                   message: str | None, actor: str | None) -> None:
    """Import flowctl's .flow/ directory at PATH, with its runtime state, in one commit.

    IDs, titles, dependencies, priorities, domains, files, statuses, assignees, blocked
    reasons, summaries, evidence and spec bodies are kept; flowctl fields with no equivalent
    go into the frontmatter unchanged. Importing the same data again does nothing; tasks that
    already exist with other content are never overwritten (the import is refused).
    """
    from git_flowctl.views.importers.flowctl import default_state_dir, read_flowctl

    out = get_output()
    ws = open_workspace(out)
    directory = path if path.is_absolute() else Path.cwd() / path
    chosen_state = state_dir or default_state_dir(directory, ws.common_dir)
    incoming = read_flowctl(directory, str(path).rstrip("/") or ".", chosen_state, ws.root)
    _run_import(out, ws, incoming, mode_of(no_commit, dry_run), message, actor)


@import_group.command("json")
@click.argument("file", metavar="FILE")
@click.option("--keep-config", is_flag=True,
              help="Keep this repository's config.yaml (import only epics and tasks).")
@mutating
def import_json(file: str, keep_config: bool, no_commit: bool, dry_run: bool,
                message: str | None, actor: str | None) -> None:
    """Import a plan written by `export --json` (FILE, or - for stdin), in one commit."""
    from git_flowctl.views.export import read_document

    out = get_output()
    ws = open_workspace(out)
    if file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(file).read_text("utf-8")
        except FileNotFoundError:
            raise UsageError(f"no such file: {file}",
                             hint="write one with `git flow-task export --json > plan.json`") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {file}: {exc}") from None
    _run_import(out, ws, read_document(text, file, keep_config=keep_config),
                mode_of(no_commit, dry_run), message, actor)


def _run_import(out: Output, ws: Workspace, incoming: ImportSet, mode: Mode,
                message: str | None, actor: str | None) -> None:
    from git_flowctl.views.importers import build_change, load_plan_past_foreign_files

    ctx = context_for(ws, actor, mode)
    outcome = Writer(ws, message=message, load=load_plan_past_foreign_files).apply(
        lambda plan: build_change(plan, incoming, ctx), mode)
    if outcome.noop and not out.json_mode and mode is not Mode.DRY_RUN:
        out.console.print(str(outcome.change.result["message"]), markup=False, highlight=False)
    else:
        emit_outcome(out, outcome, _human)
    if not out.json_mode:
        for warning in outcome.change.result.get("warnings", []):
            out.console.print(f"[yellow]warning:[/yellow] {_escape(warning)}", highlight=False)


def _human(outcome: Outcome) -> str:
    result = outcome.change.result
    text = str(result["message"])
    if result.get("removed"):
        text += f"; removed flowctl's {len(result['removed'])} files (they stay in history)"
    return text


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@click.command("export")
@rev_option
def export_command(rev: str | None) -> None:
    """Print the whole plan as one versioned JSON document (for `import json`).

    Every field, unknown keys and bodies included, plus derived states, dependencies and epic
    progress. Without --json the document is printed bare; with --json it carries
    "success": true like every other command.
    """
    from git_flowctl.views.export import export_plan

    out, ws, plan = read_plan(rev)
    commit = _commit_of(ws, rev)
    document = export_plan(plan, commit=commit)
    if out.json_mode:
        out.emit(document)
    else:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _commit_of(ws: Workspace, rev: str | None) -> str | None:
    import pygit2

    try:
        commit = ws.repo.revparse_single(rev or "HEAD").peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return None  # an unborn branch
    return str(commit.id)
