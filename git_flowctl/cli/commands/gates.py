"""Quality gates (issue #15, docs/gates.md): guard, guard detect, invariants show|check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import get_output, mode_of, mutating, open_workspace, rev_option
from git_flowctl.cli.output import Output
from git_flowctl.model.errors import FlowError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from git_flowctl.changes.ops import Context
    from git_flowctl.gates.guard import Report
    from git_flowctl.repo.writer import Change

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


def report_guard(out: Output, report: Report, **extra: Any) -> None:
    """Print a guard report; a report that does not pass sets exit code 1."""
    import sys

    problem = report.problem()
    payload = {**report.as_json(), **extra, **({"hint": report.hint()} if problem else {})}
    if out.json_mode:
        if problem:
            out.fail(payload, problem)
        else:
            out.emit(payload)
        return
    print_report(out.console, report)
    if problem:
        out.fail(payload, problem)
        sys.stderr.write(f"hint: {report.hint()}\n")
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
    from git_flowctl.gates.trust import trust
    from git_flowctl.repo.writer import Mode

    mode = mode_of(no_commit, dry_run)
    apply_change(out, ws, lambda plan: write_proposals(plan, proposals), mode, message)
    if mode is not Mode.DRY_RUN:  # proposed by this tool, written at the user's request
        trust(ws, [(f"guard.{p.name}", p.run) for p in proposals])


@guard_group.command("trust")
@click.option("--list", "list_only", is_flag=True,
              help="List the command lines and whether each is trusted; trust nothing.")
def guard_trust_command(list_only: bool) -> None:
    """Trust the command lines of this repository's guard and invariants, for this clone.

    The guard runs commands that come with the repository (.flow/config.yaml's `guard:`, the
    `verify:` lines of .flow/invariants.md); a clone, a pull or a merged branch can change
    them. `guard`, `done --verify`, `invariants check`, `run` and `land` run only command lines
    trusted here, and refuse otherwise. This records each one (its SHA-256, under .git/, never
    committed); read them first. A command line that changes needs trusting again.
    """
    from git_flowctl.gates.trust import trust, untrusted
    from git_flowctl.gates.verify import configured_checks

    out = get_output()
    ws = open_workspace(out)
    checks = configured_checks(ws.work_tree_source())
    strangers = {check.key for check in untrusted(ws, checks)}
    rows: list[dict[str, Any]] = [{"check": check.key, "run": check.run, "origin": check.origin,
                                   "trusted": check.key not in strangers} for check in checks]
    added = [] if list_only else trust(ws, [(check.key, check.run) for check in checks
                                          if check.key in strangers])
    payload = {"checks": rows, "trusted_now": added, "listed_only": list_only}

    def render(console: Console) -> None:
        from rich.markup import escape

        if not rows:
            console.print("no guard commands or invariants to trust", highlight=False)
        for row in rows:
            state = "trusted" if row["trusted"] else ("untrusted" if list_only else "trusted now")
            console.print(f"{escape(row['check'])}: {escape(row['run'])} [dim]({state}; "
                          f"{escape(row['origin'])})[/dim]", highlight=False)

    out.emit(payload, render)


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


@click.command("review")
@click.argument("target", metavar="TASK|EPIC", shell_complete=complete.any_ids)
@click.option("--verdict", metavar="VERDICT",
              help="Record this verdict: ship, needs_work or major_rethink.")
@click.option("--run", "command", metavar="COMMAND",
              help="Run this reviewer (a command line) and take the verdict from the "
                   "<verdict>...</verdict> tag of its output.")
@click.option("--kind", type=click.Choice(["plan", "completion"]),
              help="What is reviewed (default: completion once the work is finished, else plan).")
@click.option("--notes", metavar="TEXT", help="Notes for the file's ## Reviews (text, @file or -).")
@click.option("--timeout", type=float, default=1800.0, show_default=True, metavar="SECONDS",
              help="Kill the reviewer (its whole process tree) after this long.")
@mutating
def review_command(target: str, verdict: str | None, command: str | None, kind: str | None,
                   notes: str | None, timeout: float, no_commit: bool, dry_run: bool,
                   message: str | None, actor: str | None) -> None:
    """Record a review verdict on a task or an epic: SHIP, NEEDS_WORK or MAJOR_RETHINK.

    The verdict goes into the file's frontmatter (plan_review_status or
    completion_review_status, flowctl's fields) and a `Flow-Review` trailer; notes go under
    `## Reviews`. With --run, the reviewer gets the spec and, for a completion review, the diff
    of the work's commits on standard input; a reviewer that is not installed is skipped with a
    warning (nothing recorded), one that fails or gives no verdict is an error. With
    `require_review`, `next` and `epic close` wait for SHIP verdicts.
    """
    import sys

    from git_flowctl.cli.common import context_for, emit_outcome, read_text
    from git_flowctl.gates import review
    from git_flowctl.repo.writer import Mode

    out = get_output()
    if (verdict is None) == (command is None):
        raise UsageError("give --verdict or --run (one of them)",
                         hint="--verdict ship, or --run 'claude -p \"review this\"'")
    if command is not None and not command.strip():
        raise UsageError("--run needs a command line", hint="--run 'codex exec -'")
    if verdict is not None:
        review.normalize_verdict(verdict)
    if timeout <= 0:
        raise UsageError("--timeout must be above 0 seconds")
    notes_text = read_text(notes, "the notes")
    ws = open_workspace(out)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode)
    run_payload: dict[str, Any] = {}
    sha256 = None
    if command is not None:
        plan = ws.load_plan("HEAD" if mode is not Mode.STAGE else None)
        plan.require_initialized()
        item = plan.resolve_any(target)
        chosen = kind or review.default_kind(plan, item)
        ran = review.run_reviewer(ws, command, review.review_input(ws, plan, item, chosen),
                                  timeout=timeout)
        run_payload = {"reviewer": ran.as_json()}
        if ran.status == "skipped":
            warning = f"{ran.reason}: no verdict recorded"
            if out.json_mode:
                out.emit({"id": item.id, "kind": chosen, "verdict": None, "status": "skipped",
                          "warning": warning, "commit": None, **run_payload})
            else:
                sys.stderr.write(f"warning: {warning}\n")
            return
        if ran.verdict is None:
            raise FlowError(f"review of {item.id} failed: {ran.reason}",
                            hint=f"the reviewer's output is in {ran.output}" if ran.output
                            else "check the command line", **run_payload)
        verdict, kind, sha256 = ran.verdict, chosen, ran.sha256
    assert verdict is not None
    from git_flowctl.repo.writer import Writer

    outcome = Writer(ws, message=message).apply(
        lambda plan: review.record(plan, target, str(verdict), ctx, kind=kind, notes=notes_text,
                                   output_sha256=sha256, reviewer="run" if command else None),
        mode)
    outcome.change.result.update(run_payload)
    emit_outcome(out, outcome)


@click.group("gap")
def gap_group() -> None:
    """The gap registry: what an epic still lacks (required, important, nice)."""


@gap_group.command("add")
@click.argument("capability", metavar="[TEXT]", required=False)
@click.option("--epic", "epic_ref", required=True, shell_complete=complete.epic_ids, metavar="EPIC",
              help="The epic that lacks it.")
@click.option("--capability", "capability_option", metavar="TEXT",
              help="The gap's text, as flowctl spelled it (instead of TEXT).")
@click.option("--priority", default="required", show_default=True,
              type=click.Choice(["required", "important", "nice", "nice-to-have"]),
              help="required and important gaps keep the epic from closing.")
@click.option("--task", "task_ref", shell_complete=complete.task_ids, metavar="TASK",
              help="The task expected to close it.")
@click.option("--source", metavar="TEXT", help="Where the gap was found (a review, a test).")
@mutating
def gap_add_command(capability: str | None, epic_ref: str, capability_option: str | None,
                    priority: str, task_ref: str | None, source: str | None, no_commit: bool,
                    dry_run: bool, message: str | None, actor: str | None) -> None:
    """Register a gap of EPIC (TEXT, @file or -); adding the same text twice does nothing.

    The gap is a file under .flow/gaps/<epic>/ (its ID is flowctl's content hash), added in a
    commit with a `Flow-Gap` trailer; two branches adding gaps to one epic merge cleanly.
    """
    from git_flowctl.cli.common import read_text, run_mutation
    from git_flowctl.gates import gaps

    text = read_text(_one_text(capability, capability_option), "the gap") or ""
    run_mutation(lambda plan, ctx: gaps.add(plan, epic_ref, text, priority, ctx, task=task_ref,
                                            source=source),
                 actor=actor, no_commit=no_commit, dry_run=dry_run, message=message)


def _one_text(argument: str | None, option: str | None) -> str:
    if (argument is None) == (option is None):
        raise UsageError("give the gap's text once: TEXT or --capability TEXT",
                         hint='gap add --epic fn-1 "Logout revokes tokens"')
    return str(argument if argument is not None else option)


@gap_group.command("resolve")
@click.argument("gap_ref", metavar="[GAP-ID]", required=False)
@click.option("--epic", "epic_ref", shell_complete=complete.epic_ids, metavar="EPIC",
              help="With --capability: the gap by its epic and text (flowctl's way).")
@click.option("--capability", metavar="TEXT", help="With --epic: the gap's text.")
@click.option("--evidence", metavar="TEXT", help="How it was resolved (text, @file or -).")
@mutating
def gap_resolve_command(gap_ref: str | None, epic_ref: str | None, capability: str | None,
                        evidence: str | None, no_commit: bool, dry_run: bool,
                        message: str | None, actor: str | None) -> None:
    """Mark a gap resolved (open -> resolved), with evidence; resolving it again does nothing."""
    from git_flowctl.cli.common import read_text, run_mutation
    from git_flowctl.gates import gaps
    from git_flowctl.repo.plan import Plan

    if (gap_ref is None) == (epic_ref is None or capability is None):
        raise UsageError("give a GAP-ID, or --epic and --capability",
                         hint="git flow-task gap list shows the gaps and their IDs")
    text = read_text(evidence, "the evidence")

    def build(plan: Plan, ctx: Context) -> Change:
        ref = gap_ref or gaps.gap_id(plan.resolve_epic(str(epic_ref)), str(capability))
        return gaps.resolve(plan, ref, ctx, evidence=text)

    run_mutation(build, actor=actor, no_commit=no_commit, dry_run=dry_run, message=message)


@gap_group.command("list")
@click.option("--epic", "epic_ref", shell_complete=complete.epic_ids, metavar="EPIC",
              help="Only this epic's gaps.")
@click.option("--open", "open_only", is_flag=True, help="Only open gaps.")
@click.option("--status", type=click.Choice(["open", "resolved"]),
              help="Only gaps in this status (flowctl's filter).")
@rev_option
def gap_list_command(epic_ref: str | None, open_only: bool, status: str | None,
                     rev: str | None) -> None:
    """List gaps (of one epic, or all), with priority and status."""
    from git_flowctl.cli.common import read_plan
    from git_flowctl.gates import gaps

    out, _, plan = read_plan(rev)
    epic_id = plan.resolve_epic(epic_ref) if epic_ref else None
    wanted = gaps.OPEN if open_only else status
    found = [gap for gap in gaps.gaps_of(plan.source, epic_id)
             if wanted is None or gap.status == wanted]
    payload = {"epic": epic_id, "count": len(found), "gaps": [gap.as_json() for gap in found]}

    def render(console: Console) -> None:
        from rich.markup import escape

        if not found:
            console.print("no gaps" + (f" in {epic_id}" if epic_id else ""), highlight=False)
        for gap in found:
            mark = "[green]✓[/green]" if gap.status != gaps.OPEN else \
                "[red]✗[/red]" if gap.blocking else "[yellow]·[/yellow]"
            console.print(f"{mark} {gap.id} [dim]{escape(gap.epic)}[/dim] "
                          f"{escape(f'[{gap.priority}]')} {escape(gap.capability)}", highlight=False)

    out.emit(payload, render)


@gap_group.command("check")
@click.option("--epic", "epic_ref", required=True, shell_complete=complete.epic_ids,
              metavar="EPIC", help="The epic to check.")
@rev_option
def gap_check_command(epic_ref: str, rev: str | None) -> None:
    """Exit 1 while EPIC has an open required or important gap (flowctl's gate)."""
    from git_flowctl.cli.common import read_plan
    from git_flowctl.gates import gaps

    out, _, plan = read_plan(rev)
    report = gaps.check_report(plan.source, plan.resolve_epic(epic_ref))
    if report["gate"] == "fail":
        blocking = report["open_blocking"]
        if not out.json_mode:
            from rich.markup import escape

            for gap in blocking:
                out.console.print(f"[red]✗[/red] {gap['id']} {escape('[' + gap['priority'] + ']')} "
                                  f"{escape(gap['capability'])}", highlight=False)
        out.fail(report, f"{report['epic']} has {len(blocking)} open blocking "
                         f"gap{'s' if len(blocking) > 1 else ''}")
        return
    out.emit(report, f"gap check passed for {report['epic']}: {len(report['resolved'])} resolved, "
                     f"{len(report['open_non_blocking'])} open but not blocking")
