"""What ``guard``, ``invariants check``, ``done --verify`` and ``run`` share: the checks a
repository configures (guard commands, then invariants) and one call that runs them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from git_flowctl.gates import invariants
from git_flowctl.gates.guard import Check, Report, default_base, guard_checks, run_checks, select
from git_flowctl.model.config import CONFIG_PATH, Config

if TYPE_CHECKING:
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
