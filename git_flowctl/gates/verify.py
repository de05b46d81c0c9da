"""What ``guard``, ``invariants check``, ``done --verify`` and ``run`` share: the checks a
repository configures (guard commands, then invariants) and one call that runs them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from git_flowctl.gates import invariants
from git_flowctl.gates.guard import Check, Report, default_base, guard_checks, run_checks, select
from git_flowctl.model.config import CONFIG_PATH, Config
from git_flowctl.model.errors import FlowError

if TYPE_CHECKING:
    from git_flowctl.changes.ops import Context
    from git_flowctl.model.trailers import Evidence
    from git_flowctl.repo.sources import Source
    from git_flowctl.repo.workspace import Workspace

AUTO = "auto"  # base: where this branch left the default branch


def configured_checks(source: Source, *, guard: bool = True,
                      with_invariants: bool = True) -> list[Check]:
    """The guard's commands and the invariants of the tree ``source`` reads."""
    found: list[Check] = []
    if guard:
        found.extend(guard_checks(Config.parse(source.read(CONFIG_PATH))))
    if with_invariants:
        found.extend(invariants.checks(invariants.load(source.read(invariants.INVARIANTS_PATH))))
    return found


def verify(ws: Workspace, *, only: Iterable[str] = (), base: str | None = AUTO,
           root: Path | None = None, source: Source | None = None, guard: bool = True,
           with_invariants: bool = True, env: Mapping[str, str] | None = None,
           markers: Mapping[str, str] | None = None, keep_in: Path | None = None,
           stop: Callable[[], bool] | None = None) -> Report:
    """Run the configured checks (``only`` some) in ``root`` (default: the work tree), as
    ``source`` (default: the work tree) defines them. ``base``: what ``when`` compares with;
    ``AUTO`` is the merge base with the default branch, None runs every check."""
    tree = source or ws.work_tree_source()
    checks = select(configured_checks(tree, guard=guard, with_invariants=with_invariants), only)
    if base == AUTO:
        base = default_base(ws, Config.parse(tree.read(CONFIG_PATH))) \
            if any(check.when for check in checks) else None
    return run_checks(ws, checks, cwd=root, base=base, env=env, markers=markers, keep_in=keep_in,
                      stop=stop)


@dataclass
class BeforeDone:
    """``done --verify``'s guard run: the task it is for and the report."""

    task_id: str
    report: Report

    def refusal(self) -> FlowError | None:
        """The refusal when the guard did not pass (exit 1, nothing written), else None."""
        problem = self.report.problem()
        if problem is None:
            return None
        return FlowError(f"cannot finish {self.task_id}: {problem}",
                         hint=f"nothing was written; {self.report.hint()}",
                         guard=self.report.as_json())

    def evidence(self) -> list[Evidence]:
        return self.report.evidence(self.task_id)


def guard_before_done(ws: Workspace, task: str, ctx: Context, *, from_head: bool,
                      evidence: Mapping[str, Any] | None = None) -> BeforeDone:
    """Refuse what ``done`` would refuse anyway (state machine, assignee, dependencies,
    evidence) before minutes of checks, then run the guard in the work tree. The CLI and the
    MCP server's ``done`` call this; ``ops.done`` then takes ``evidence()``."""
    from git_flowctl.changes.ops import check_done

    plan = ws.load_plan("HEAD" if from_head else None)
    task_id = check_done(plan, task, ctx, evidence=evidence).id
    return BeforeDone(task_id, verify(ws))
