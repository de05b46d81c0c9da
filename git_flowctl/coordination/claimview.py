"""Who holds which task, as `ready` and `next` read it: the one place that turns claims into
the ``held`` map of queries.py (docs/claims.md).

``claims.Claims.held_map`` and the lean read path (views/lean.py) both call ``held_map``, so
both answer alike. Standard library only: reading a lease's expiry needs no ``datetime``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import NamedTuple, Protocol, TypeVar

    from git_flowctl.repo.leangit import Ref

    class ClaimLike(Protocol):
        """A claim as held_map reads it (claims.Claim has these)."""

        @property
        def task(self) -> str: ...
        @property
        def state(self) -> str: ...
        @property
        def holder(self) -> str: ...
        @property
        def branch(self) -> str: ...
        @property
        def until(self) -> str | None: ...
        @property
        def oid(self) -> str | None: ...
        @property
        def where(self) -> str: ...
        @property
        def commit(self) -> str | None: ...
        @property
        def repo(self) -> str | None: ...

    Claimed = TypeVar("Claimed", bound=ClaimLike)
else:
    from git_flowctl.model.tuples import NamedTuple

FINISHED = "done"  # claims.FINISHED: the state of a finished record
HELD = "held"
UNREADABLE = "(unreadable claim)"
CLAIMS_PREFIX = "refs/flow/claims/"
REMOTE_CLAIMS_PREFIX = "refs/flow/remote-claims/"


class ClaimRecord(NamedTuple):
    """A claim as read from its ref (claims.Claim, without what only writers need)."""

    task: str
    state: str
    holder: str
    branch: str
    until: str | None
    oid: str
    where: str
    commit: str | None = None
    repo: str | None = None  # the repository that made it (Workspace.repository_id)


def claim_fields(task: str, message: str) -> dict[str, str] | None:
    """The fields of a claim commit's ``Flow-Claim`` line for ``task``; None when the message
    holds none for it (then nobody we know holds it, so nothing takes it)."""
    from git_flowctl.model.trailerfast import parse_claim  # only when there are claims

    parsed = parse_claim(message)
    if parsed is None or parsed[0] != task:
        return None
    return parsed[1]


def claim_record(task: str, message: str, oid: str, where: str) -> ClaimRecord:
    fields = claim_fields(task, message)
    if fields is None:
        return ClaimRecord(task, HELD, UNREADABLE, "", None, oid, where)
    return ClaimRecord(task, fields.get("state", HELD), fields.get("holder", "?"),
                       fields.get("branch", ""), fields.get("until"), oid, where,
                       fields.get("commit"), fields.get("repo"))


def namespace_claims(refs: Iterable[Ref], prefixes: list[tuple[str, str]],
                     make: Callable[[str, str, str, str], Claimed]) -> list[list[Claimed]]:
    """Claims per namespace (``(ref prefix, where)``) from a ``for-each-ref`` listing with
    messages, each sorted by task; ``make(task, message, oid, where)`` reads one."""
    found: list[list[Claimed]] = [[] for _ in prefixes]
    for ref in refs:
        for claims, (prefix, where) in zip(found, prefixes, strict=True):
            task_id = ref.name.removeprefix(prefix)
            if task_id != ref.name and "/" not in task_id:
                message = ref.message if ref.type == "commit" else ""
                claims.append(make(task_id, message, ref.oid, where))
                break
    return [sorted(claims, key=lambda claim: claim.task) for claims in found]


def merged(local: list[Claimed], mirror: list[Claimed] | None, remote_problem: str | None) -> list[Claimed]:
    """Every claim: the local ones, and the remote's mirror. Where both exist and differ, the
    remote decides (our own pushes keep the mirror in step, so a difference is someone else's
    change), unless the remote could not be reached."""
    found = {claim.task: claim for claim in local}
    for claim in mirror or ():
        mine = found.get(claim.task)
        if mine is None or (mine.oid != claim.oid and not remote_problem):
            found[claim.task] = claim
    return [found[task] for task in sorted(found)]


def short_branch(branch: str) -> str:
    return branch.removeprefix("refs/heads/") or "(no branch)"


def lease_end(until: str | None) -> float | None:
    """``until`` (``%Y-%m-%dT%H:%M:%SZ``, as claims are written) as a Unix time; None when it
    is absent or not that form with valid numbers. ``claims.parse_iso`` reads the same."""
    if until is None or len(until) != 20 or until[4] != "-" or until[7] != "-" or until[10] != "T" \
            or until[13] != ":" or until[16] != ":" or until[19] != "Z":
        return None
    fields = (until[0:4], until[5:7], until[8:10], until[11:13], until[14:16], until[17:19])
    if not all(field.isdigit() and field.isascii() for field in fields):
        return None
    year, month, day, hour, minute, second = (int(field) for field in fields)
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month) and year >= 1
            and hour < 24 and minute < 60 and second < 60):
        return None
    return float(_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def held_entry(claim: ClaimLike, actor: str, now: float, mine: str | None) -> str:
    """What ``ready`` and ``next`` say of a claimed task: a finished record never reads as the
    actor's (no branch takes a task finished on another); the actor's own live claim maps to
    the actor, unless another clone made it (``mine``: this repository's ID, DESIGN §6);
    anyone else's names them, and an expired lease says so."""
    if claim.state == FINISHED:
        return f"{claim.holder} (finished on {short_branch(claim.branch)})"
    if claim.holder == actor and claim.repo not in (None, mine):
        return f"{actor} (in another clone)"
    if claim.holder == actor:
        return actor
    end = lease_end(claim.until)
    return claim.holder + (" (lease expired)" if end is not None and end - now <= 0 else "")


def finished_on(holder: str) -> str | None:
    """The branch a ``held_entry`` of a finished record names; None for a live claim."""
    marker = " (finished on "
    at = holder.rfind(marker)
    return holder[at + len(marker):-1] if at != -1 and holder.endswith(")") else None


def held_map(claims: Iterable[Claimed], actor: str, now: float, mine: str | None,
             abandoned: Callable[[Claimed], bool] = lambda claim: False) -> dict[str, str]:
    """Task -> holder, for ``queries.ready_report`` and ``queries.next_work``. A finished
    record that ``abandoned`` says no branch holds any more (claims.Claims.abandoned: work done
    on a detached HEAD since dropped) holds nothing."""
    return {claim.task: held_entry(claim, actor, now, mine) for claim in claims
            if not (claim.state == FINISHED and may_be_abandoned(claim) and abandoned(claim))}


def may_be_abandoned(claim: ClaimLike) -> bool:
    """A local finished record of work on a detached HEAD (``HEAD@...``): only such a record can
    be abandoned (claims.Claims.abandoned asks git whether it is)."""
    return claim.state == FINISHED and claim.branch.startswith("HEAD@") \
        and claim.where == "local" and bool(claim.commit)
