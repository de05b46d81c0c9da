"""Integrity: validate, check (the CI branch check), merge-driver."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import get_output, open_workspace, rev_option
from git_flowctl.cli.output import Output
from git_flowctl.model.errors import FlowError, UsageError
from git_flowctl.views.text import plural as _plural

if TYPE_CHECKING:
    from rich.console import Console

    from git_flowctl.guard.reporting import Validation
    from git_flowctl.guard.validate import Finding, RangeReport
    from git_flowctl.repo.workspace import Workspace


def print_findings(console: Console, findings: list[Finding], *, show_commit: bool = True) -> None:
    from git_flowctl.cli.render import print_lines
    from git_flowctl.views.text import finding_lines

    print_lines(console, finding_lines(findings, show_commit=show_commit))


def _emit_result(out: Output, payload: dict[str, Any], findings: list[Finding], what: str) -> str | None:
    """Print the result (JSON), or set the exit code (human output printed by the caller);
    returns the JSON document printed."""
    from git_flowctl.guard.reporting import summary
    from git_flowctl.views.jsonout import dumps

    errors = [f for f in findings if f.severity == "error"]
    if out.json_mode:
        if errors:
            out.fail(payload, f"{what}: {summary(findings)}")
            return dumps({"success": False, "error": f"{what}: {summary(findings)}", **payload}) + "\n"
        out.emit(payload)
        return dumps({"success": True, **payload}) + "\n"
    if errors:
        out.exit_code = 1
    return None


@click.command("validate")
@rev_option
@click.option("--staged", is_flag=True, help="Validate the index: what the next commit records.")
@click.option("--epic", "epic_ref", shell_complete=complete.epic_ids, metavar="EPIC",
              help="Only report problems of this epic and its tasks (the whole plan is read).")
@click.option("--all", "all_", is_flag=True, help="Every epic and task (the default; flowctl's flag).")
@click.option("--format", "fmt", type=click.Choice(["human", "json", "github"]), default=None,
              help="Output format (--json is the same as --format json).")
def validate_command(rev: str | None, staged: bool, epic_ref: str | None, all_: bool,
                     fmt: str | None) -> None:
    """Check every epic and task file: structure, IDs, dependencies, cycles, epics.

    Reads the working tree (default), the index (--staged) or a revision (--rev, no checkout).
    Reports every problem with its file, line and rule (docs/validation.md); exits 1 when any
    is an error.
    """
    from git_flowctl.guard.reporting import validate_report

    out = get_output()
    if fmt == "json":
        out.json_mode = True
    ws = open_workspace(out)
    report = validate_report(ws, rev=rev, staged=staged, epic_ref=epic_ref, every_epic=all_)
    payload, findings = report.payload, report.findings
    if fmt == "github":
        from git_flowctl.guard.reporting import github_lines

        for line in github_lines(findings):
            click.echo(line)
        out.exit_code = 1 if not payload["valid"] else 0
        return
    printed = _emit_result(out, payload, findings, "validate")
    if out.json_mode:
        plain = epic_ref is None and fmt is None
        if printed is not None and plain and report.generation is not None:
            # Every file the validator read is in the work tree's snapshot: `validate --json`
            # of the same files prints this again without validating (views/lean.py).
            from git_flowctl.views.lean import remember_answer

            remember_answer(str(ws.common_dir), str(ws.root), report.generation, ["validate"],
                            printed, out.exit_code)
        return
    _print_validation(out, ws, report, remember=epic_ref is None and fmt is None)


def _print_validation(out: Output, ws: Workspace, report: Validation, *, remember: bool) -> None:
    """`validate`'s human answer (views/text.py); of the whole work tree it is kept for the same
    files and output mode, as the JSON one is, and the lean path repeats it (views/lean.py)."""
    from git_flowctl.guard.reporting import summary
    from git_flowctl.views import text

    findings, snapshot = report.findings, report.snapshot
    lines = text.finding_lines(findings)
    counts = f"{_plural(len(snapshot.epics), 'epic')}, {_plural(len(snapshot.tasks), 'task')}"
    if report.payload["valid"]:
        lines.append([("✓", "green"), (f" .flow/ in the {report.source} is valid ({counts})"
                                       + (f"; {summary(findings)}" if findings else ""), "")])
    else:
        lines.append([("✗", "red"), (f" .flow/ in the {report.source}: {summary(findings)} ({counts})", "")])
    mode = text.output_mode(sys.stdout)
    printed = text.render(lines, mode)
    sys.stdout.write(printed)
    sys.stdout.flush()
    if remember and report.generation is not None:
        from git_flowctl.views.lean import remember_text_answer

        remember_text_answer(str(ws.common_dir), str(ws.root), report.generation, ["validate"],
                             printed, out.exit_code, mode)


@click.command("check")
@click.option("--base", metavar="REV",
              help="Check the commits in REV..HEAD (default: the merge base with the default branch).")
@click.option("--head", "head_rev", metavar="REV", default="HEAD", show_default=True,
              help="The last commit to check.")
@click.option("--format", "fmt", type=click.Choice(["human", "json", "github", "junit"]), default=None,
              help="human (default), json (like --json), github (workflow annotations), junit (XML).")
@click.option("-o", "--output", "output_file", type=click.Path(dir_okay=False),
              help="Write the report to this file instead of standard output.")
def check_command(base: str | None, head_rev: str, fmt: str | None, output_file: str | None) -> None:
    """The CI branch check: every commit in BASE..HEAD and the tree at HEAD.

    Each commit's status changes must be legal, carry their Flow-Transition trailers (a squash
    merge that dropped them fails), and pass the gates; the tree at HEAD must be valid. Forced
    transitions are listed. Exits 1 when anything is an error. Needs the full history (a
    shallow clone is refused).
    """
    out = get_output()
    if fmt is None:
        fmt = "json" if out.json_mode else "human"
    if fmt == "json":
        out.json_mode = True
    try:
        _check(out, base, head_rev, fmt, output_file)
    except FlowError as error:
        if fmt == "github":
            from git_flowctl.guard.reporting import github_error_line

            click.echo(github_error_line(error.message, error.hint, title="git flow-task check"))
        raise


def _check(out: Output, base: str | None, head_rev: str, fmt: str, output_file: str | None) -> None:
    from git_flowctl.guard.reporting import findings_payload
    from git_flowctl.guard.validate import History, ItemStore, shallow_commits

    ws = open_workspace(out)
    head = _commit(ws.repo, head_rev)
    if base is None:
        default = ws.default_branch(ws.load_plan(strict=False).config.get("default_branch"))
        if default is None:
            raise UsageError("no --base given and no default branch to compare with",
                             hint="pass --base origin/main (the branch this one merges into)")
        base_oid = ws.repo.merge_base(head.id, ws.repo.references[default].resolve().target)
        base_label = default
    else:
        base_oid = _commit(ws.repo, base).id
        base_label = base
    history = History(ws.repo, shallow_commits(ws.common_dir), ItemStore(ws.common_dir, ws.root))
    report = history.check_range(head, [base_oid] if base_oid is not None else [],
                                 base=str(base_oid) if base_oid is not None else None)
    history.close()
    findings = report.findings()
    text = _render_check(out, report, base_label, fmt)
    if output_file is not None and text is not None:
        Path(output_file).write_text(text, "utf-8")
    elif text is not None:
        sys.stdout.write(text)
    if fmt in ("github", "junit"):
        out.exit_code = 0 if report.ok else 1
        return
    payload = {"base": report.base, "base_ref": base_label, "head": report.head,
               "commits_checked": len(report.commits), **findings_payload(findings),
               "forced": [f.as_dict() for f in findings if f.rule == "transition-forced"]}
    _emit_result(out, payload, findings, "check")


def _commit(repo: Any, rev: str) -> Any:
    import pygit2

    try:
        return repo.revparse_single(rev).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise FlowError(f"unknown revision {rev!r}",
                        hint="fetch it first (CI: check out the full history) or give a branch, "
                             "tag or commit") from None


def _render_check(out: Output, report: RangeReport, base_label: str, fmt: str) -> str | None:
    from git_flowctl.guard.reporting import github_lines, junit_xml, summary

    findings = report.findings()
    if fmt == "github":
        lines = github_lines(findings)
        lines.append(f"git flow-task check {base_label}..{report.head[:7]}: "
                     f"{_plural(len(report.commits), 'commit')}, {summary(findings)}")
        return "\n".join(lines) + "\n"
    if fmt == "junit":
        return junit_xml(report)
    if fmt == "json":
        return None
    console = out.console
    for check in report.commits:
        if check.findings:
            console.print(f"[bold]commit {check.commit[:7]}[/bold] {check.summary}", markup=True,
                          highlight=False)
            print_findings(console, check.findings, show_commit=False)
    if report.tree:
        console.print(f"[bold]tree at {report.head[:7]}[/bold]", highlight=False)
        print_findings(console, report.tree, show_commit=False)
    verdict = "[green]✓[/green]" if report.ok else "[red]✗[/red]"
    console.print(f"{verdict} checked {_plural(len(report.commits), 'commit')} in {base_label}..{report.head[:7]}: "
                  f"{summary(findings)}", highlight=False)
    return None


@click.command("merge-driver", context_settings={"ignore_unknown_options": True})
@click.argument("base")
@click.argument("ours")
@click.argument("theirs")
@click.argument("marker_size", required=False, default="7")
@click.argument("path", required=False)
def merge_driver_command(base: str, ours: str, theirs: str, marker_size: str, path: str | None) -> None:
    """git's merge driver for .flow/**/*.md: git flow-task merge-driver %O %A %B %L %P.

    Frontmatter is merged field by field, the body as text; the result is written to OURS.
    Exits 0 when clean, 1 when conflict markers were left (docs/hooks.md#the-merge-driver).
    """
    from git_flowctl.guard.mergedriver import run

    out = get_output()
    out.exit_code = run(base, ours, theirs, marker_size, path)
