"""``epic close`` with the gates (issue #15): the gap registry and the completion review.

``changes.structure.close_epic`` checks the tasks and the epic dependencies and builds the
change; here, before it is recorded, an open ``required`` or ``important`` gap refuses it
(unless ``--skip-gap-check``), and so does a missing SHIP completion verdict when
``require_review`` includes ``completion`` (unless ``--force``, which the trailer records).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from git_flowctl.changes import structure
from git_flowctl.changes.ops import Context
from git_flowctl.gates import gaps
from git_flowctl.model import reviews
from git_flowctl.model.errors import FlowError
from git_flowctl.repo.writer import Change

if TYPE_CHECKING:
    from git_flowctl.repo.plan import Plan


def close_epic(plan: Plan, ref: str, ctx: Context, *, skip_gap_check: bool = False) -> Change:
    change = structure.close_epic(plan, ref, ctx)  # tasks and epic dependencies first
    epic = plan.epic(ref)
    if not skip_gap_check:
        report = gaps.check_report(plan.source, epic.id)
        blocking = report["open_blocking"]
        if blocking:
            raise FlowError(
                f"cannot close {epic.id}: {len(blocking)} open gap{'s' if len(blocking) > 1 else ''}"
                f" must be resolved first: {gaps.describe(blocking)}",
                hint="resolve them (`git flow-task gap resolve GAP-ID --evidence ...`), or close "
                     "anyway with --skip-gap-check",
                id=epic.id, open_gaps=[gap["id"] for gap in blocking])
        change.result["gaps"] = {"open_blocking": 0, "total": report["total"]}
    else:
        change.result["gap_check"] = "skipped"
    if reviews.COMPLETION in plan.config.require_review and not ctx.force:
        latest = reviews.verdict_in(epic.doc.data, reviews.COMPLETION)
        if latest != reviews.SHIP:
            raise FlowError(
                f"cannot close {epic.id}: config requires a SHIP completion review "
                f"(latest: {latest.upper() if latest else 'none'})",
                hint=f"`git flow-task review {epic.id} --kind completion --run 'COMMAND'` or "
                     "`--verdict ship`; --force overrides (recorded)",
                id=epic.id, completion_review_status=latest)
    return change
