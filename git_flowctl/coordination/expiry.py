"""Expired leases become failed attempts (issue #16, docs/claims.md#expired-leases).

A claim whose lease has run out belongs to an agent that stopped heartbeating: it died, or it
hangs. Whoever notices it first (`next --claim`, `run`, `reclaim --expired`) records the attempt:

1. **take the claim over**, by a compare-and-swap from exactly the expired claim read to a claim
   of the noticer (locally under the ref lock, and on the remote with a push leased on the value
   the remote was seen to hold). Of several noticers one wins; the others see the ref changed and
   record nothing. A later noticer that read the expired claim before the winner gave it back
   still compares against that claim's commit, which is gone for good: it loses too;
2. **record** ``action=expire`` on the noticer's branch (``ops.expire``): in_progress ->
   up_for_retry (or failed when the retries are used up) where the holder's start is in this
   branch's history, todo or up_for_retry -> the same where the holder recorded its start on
   another branch, so the attempt counts where the task is picked up again;
3. **give the claim back** (compare-and-swap to nothing), so the task can be claimed again.

A task that cannot be expired here (done, blocked or unknown on this branch) is left alone: its
claim stays until its holder's branch deals with it (`claims --stale` lists it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from git_flowctl.coordination.claims import (
    Acquired,
    Claim,
    Claims,
    ClaimTakenError,
    current_branch,
)
from git_flowctl.model import states
from git_flowctl.model.errors import FlowError

if TYPE_CHECKING:
    from git_flowctl.changes.ops import Context
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.writer import Writer

EXPIRABLE = frozenset({states.IN_PROGRESS, states.TO_DO, states.UP_FOR_RETRY})


@dataclass(frozen=True)
class Expired:
    """One expired lease, recorded (``commit``) or given back without a record (``note``)."""

    task: str
    holder: str
    lease_until: str | None
    status: str | None  # the task's state after the expire transition
    attempts: int | None
    commit: str | None
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.task, "holder": self.holder, "lease_until": self.lease_until,
                "status": self.status, "attempts": self.attempts, "commit": self.commit,
                "note": self.note}


def expired_claims(claims: Claims, plan: Plan, actor: str, *, epic_id: str | None = None,
                   now: float | None = None) -> list[Claim]:
    """The held claims whose lease has run out, of tasks this branch can record an expiry for.

    The actor's own claim (made in this repository) of a task in progress here under its name is
    not among them: that is the actor's work to resume (``next --claim`` renews its lease). The
    same identity's claim from another clone is someone else's, as everywhere (claims.is_own)."""
    now = time.time() if now is None else now
    found = []
    for claim in claims.all():
        task = plan.tasks.get(claim.task)
        if claim.is_finished or not claim.expired(now) or task is None:
            continue
        if epic_id is not None and task.epic != epic_id:
            continue
        if task.status not in EXPIRABLE:
            continue
        if claims.is_own(claim, actor) and task.status == states.IN_PROGRESS \
                and task.assignee == actor:
            continue
        found.append(claim)
    return found


def take_over(claims: Claims, current: Claim, actor: str, branch: str) -> Acquired | None:
    """Compare-and-swap from exactly ``current`` to a new claim of ``actor``; None when the ref
    no longer holds ``current`` (another noticer was first) or the remote refuses."""
    task_id = current.task
    claim = claims.local.write(Claim.held(task_id, actor, branch, claims.lease_seconds,
                                          repo=claims.ws.repository_id()))
    # A claim read locally is compared locally: that is where worktrees race. A claim read from
    # the remote's mirror is decided by the remote (below); the local ref only follows it.
    local_before = current.oid if current.where == "local" else claims.local.target(task_id)
    if not claims.local.swap(task_id, local_before, claim.oid):
        return None
    previous = current if current.where == "local" else None
    acquired = Acquired(claim, previous, remote=claims.remote_name)
    if claims.remote is None:
        acquired.note = claims.local_only_note
        return acquired
    remote_before = current.oid if current.where != "local" else claims.remote.mirror.target(task_id)
    if remote_before not in (None, current.oid):
        seen = claims.remote.read(task_id)
        if seen is not None and not (seen.expired() and not seen.is_finished):
            claims.local.swap(task_id, claim.oid, local_before)
            return None
    result = claims.remote.push(task_id, remote_before, claim.oid)
    if result.ok:
        acquired.pushed, acquired.remote_previous = True, remote_before
        acquired.remote_taken = current if current.where != "local" else None
        return acquired
    if result.rejected:  # the remote moved on: someone else noticed first
        claims.local.swap(task_id, claim.oid, local_before)
        claims.remote.fetch(task_id)
        return None
    claims.remote_problem = f"remote {claims.remote_name!r} unreachable ({result.problem})"
    acquired.note = claims.local_only_note
    return acquired


def record_expiry(claims: Claims, writer: Writer, ctx: Context, current: Claim) -> Expired | None:
    """Take ``current`` over, record its expiry here and give the claim back; None when
    another noticer took it first (nothing was written)."""
    from git_flowctl.changes import ops

    acquired = take_over(claims, current, ctx.actor, current_branch(claims.ws.repo))
    if acquired is None:
        return None
    status: str | None = None
    attempts: int | None = None
    commit: str | None = None
    note: str | None = None
    try:
        outcome = writer.apply(lambda plan: ops.expire(
            plan, current.task, ctx, holder=current.holder, lease_until=current.until))
        status = str(outcome.change.result.get("status"))
        attempts = outcome.change.result.get("attempts")
        commit = outcome.commit
    except FlowError as refused:
        note = f"not recorded: {refused.message}"
    try:
        dropped = claims.drop(current.task, acquired.claim, ctx.actor)
        if not dropped.get("released"):
            note = (note + "; " if note else "") + str(dropped.get("note"))
    except ClaimTakenError as lost:
        note = (note + "; " if note else "") + lost.message
    return Expired(current.task, current.holder, current.until, status, attempts, commit, note)


def sweep(claims: Claims, writer: Writer, ctx: Context, plan: Plan, *,
          epic_id: str | None = None) -> list[Expired]:
    """Record every expired lease of this plan's tasks (in ``epic_id``) that no other noticer
    records first."""
    recorded = []
    for claim in expired_claims(claims, plan, ctx.actor, epic_id=epic_id):
        expired = record_expiry(claims, writer, ctx, claim)
        if expired is not None:
            recorded.append(expired)
    return recorded
