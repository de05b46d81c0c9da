"""Quality gates (issue #15, docs/gates.md): guard, guard detect, invariants show|check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli.common import get_output, mode_of, mutating, open_workspace
from git_flowctl.cli.output import Output
from git_flowctl.model.errors import FlowError

if TYPE_CHECKING:
    from rich.console import Console

    from git_flowctl.gates.guard import Report

_STYLE = {"pass": "green", "fail": "bold red", "skipped": "yellow"}


def print_report(console: Console, report: Report) -> None:
    from rich.markup import escape

    for result in report.results:
        took = f" {result.duration:.1f}s" if result.exit_code is not None else ""
        reason = f" [dim]({escape(result.reason)})[/dim]" if result.reason else ""
        console.print(f"[{_STYLE[result.result]}]{result.result:<7}[/] {escape(result.check.key)}"
                      f"[dim]{took}[/dim]{reason}", highlight=False)
        if result.result == "fail" and result.output:
            console.print(f"        [dim]output: {escape(result.output)}[/dim]", highlight=False)


def guard_hint(report: Report) -> str:
    if not report.results:
        return "`git flow-task guard detect --write` proposes guard commands for this project"
    if report.outcome == "skipped":
        return "install the programs the checks run, or configure a check that runs here"
    return "each failed check's output is kept under the git directory (see `output`)"


def report_guard(out: Output, report: Report, **extra: Any) -> None:
    """Print a guard report; a report that does not pass sets exit code 1."""
    import sys

    problem = report.problem()
    payload = {**report.as_json(), **extra, **({"hint": guard_hint(report)} if problem else {})}
    if out.json_mode:
        if problem:
            out.fail(payload, problem)
        else:
            out.emit(payload)
        return
    print_report(out.console, report)
    if problem:
        out.fail(payload, problem)
        sys.stderr.write(f"hint: {guard_hint(report)}\n")
    else:
        counts = report.counts()
        out.console.print(f"[green]✓[/green] guard passed: {counts['pass']} passed, "
                          f"{counts['skipped']} skipped", highlight=False)


@click.group("guard", invoke_without_command=True)
@click.option("--only", "only", multiple=True, metavar="NAME",
              help="Run only this guard command or invariant (repeatable).")
@click.option("--base", metavar="REV",
              help="Compare `when` patterns with this commit (default: where the branch left "
                   "the default branch).")
@click.option("--no-invariants", is_flag=True, help="Run the guard commands only.")
@click.pass_context
def guard_group(ctx: click.Context, only: tuple[str, ...], base: str | None,
                no_invariants: bool) -> None:
    """Run the project's checks: the guard commands of config.yaml, then the invariants.

    Each runs from the repository root with its timeout enforced (the whole process tree is
    killed) and ends pass, fail, or skipped (its program is not installed, or no changed file
    matches its `when`). Outputs are kept under the git directory (flow-guard/). Exits 1 unless
    at least one check passed and none failed: skipped checks prove nothing.
    """
    if ctx.invoked_subcommand is not None:
        return
    from git_flowctl.gates.verify import AUTO, verify

    out = get_output()
    ws = open_workspace(out)
    report = verify(ws, only=only, base=base or AUTO, with_invariants=not no_invariants)
    report_guard(out, report)


@guard_group.command("detect")
@click.option("--write", is_flag=True,
              help="Add the proposed commands that are not configured yet to config.yaml (one commit).")
@mutating
def guard_detect_command(write: bool, no_commit: bool, dry_run: bool, message: str | None,
                         actor: str | None) -> None:
    """Propose guard commands from the files at the repository root (pyproject.toml,
    package.json, Cargo.toml, go.mod, a Makefile's test target). Runs nothing."""
    from git_flowctl.gates.detect import detect

    out = get_output()
    ws = open_workspace(out)
    source = ws.work_tree_source()
    proposals = detect(source.read, lambda path: (ws.root / path).exists())
    payload: dict[str, Any] = {"proposals": [p.as_json() for p in proposals]}
    if not write:
        from git_flowctl.gates.guard import guard_checks
        from git_flowctl.model.config import CONFIG_PATH, Config

        configured = {check.name for check in guard_checks(Config.parse(source.read(CONFIG_PATH)))}
        payload["configured"] = sorted(configured)
        payload["message"] = (f"{len(proposals)} proposed" if proposals
                              else "nothing detected at the repository root")

        def render(console: Console) -> None:
            from rich.markup import escape

            if not proposals:
                console.print("nothing detected at the repository root", highlight=False)
            for proposal in proposals:
                mark = "configured" if proposal.name in configured else "proposed"
                console.print(f"{proposal.name}: {escape(proposal.run)} [dim]({mark}; "
                              f"{escape(proposal.because)})[/dim]", highlight=False)
            if any(p.name not in configured for p in proposals):
                console.print("[dim]`git flow-task guard detect --write` adds them to "
                              ".flow/config.yaml[/dim]", highlight=False)

        out.emit(payload, render)
        return
    from git_flowctl.cli.common import apply_change
    from git_flowctl.gates.guard import write_proposals

    apply_change(out, ws, lambda plan: write_proposals(plan, proposals),
                 mode_of(no_commit, dry_run), message)


@click.group("invariants")
def invariants_group() -> None:
    """Architecture rules in .flow/invariants.md, each with a `verify:` command."""


@invariants_group.command("show")
def invariants_show_command() -> None:
    """List the invariants: name, key, verify command and any problem."""
    from git_flowctl.gates import invariants

    out = get_output()
    ws = open_workspace(out)
    found = invariants.load(ws.work_tree_source().read(invariants.INVARIANTS_PATH))
    payload = {"path": invariants.INVARIANTS_PATH, "count": len(found),
               "invariants": [item.as_json() for item in found]}

    def render(console: Console) -> None:
        from rich.markup import escape

        if not found:
            console.print(f"no invariants ({invariants.INVARIANTS_PATH} has no `## ` sections)",
                          highlight=False)
        for item in found:
            console.print(f"[bold]{escape(item.name)}[/bold] [dim](invariant.{item.slug}, "
                          f"line {item.line})[/dim]", highlight=False)
            console.print(f"  verify: {escape(item.verify or '-')}", highlight=False)
            for problem in item.problems:
                console.print(f"  [red]problem:[/red] {escape(problem)}", highlight=False)

    out.emit(payload, render)
    if any(item.problems for item in found):
        out.exit_code = 1


@invariants_group.command("check")
@click.option("--only", "only", multiple=True, metavar="NAME",
              help="Check only this invariant (its slug; repeatable).")
def invariants_check_command(only: tuple[str, ...]) -> None:
    """Run every invariant's verify command, as `guard` runs its commands (same results)."""
    from git_flowctl.gates.verify import verify

    out = get_output()
    ws = open_workspace(out)
    report = verify(ws, only=only, base=None, guard=False)
    if not report.results:
        raise FlowError("no invariants to check",
                        hint="write `## Name` sections with a `verify:` line in .flow/invariants.md")
    report_guard(out, report)
