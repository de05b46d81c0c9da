"""`stats`: flow metrics computed from replayed history alone (docs/history.md defines each).

Only transitions that stand count (a reverted transition never happened). Times are author
times of the commits (a squashed transition keeps the date of the commit it was squashed from).

* lead time: a task's first creation to its last completion (``-> done``), for tasks done now;
* cycle time: its first start (``-> in_progress``) to that completion;
* both as median and 90th percentile (linear interpolation between closest ranks);
* per ISO week: completions (throughput), creations, starts, failures, and the work in progress
  (tasks in_progress) at the end of the week and at its peak;
* failure rate: failed attempts / finished attempts (``fail`` / (``fail`` + ``-> done``));
  retry rate: failed attempts that were started again / failed attempts;
* forced transitions, and evidence totals (records, commits, tests, PRs, tokens);
* completions whose evidence shows a passing guard (``verified``), and review verdicts per
  kind (the latest verdict of each task or epic, and every verdict recorded).

``--since`` keeps the events at or after a date (a task counts for lead and cycle time when its
completion is in range); ``--epic`` keeps that epic's tasks.
"""

from __future__ import annotations

import contextlib
import statistics
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from git_flowctl.history.replay import EVENT_RENAME, EVENT_REVIEW, Event, History
from git_flowctl.model import ids, verification
from git_flowctl.model.errors import UsageError

DONE, IN_PROGRESS = "done", "in_progress"


def parse_since(text: str) -> datetime:
    """``--since``: an ISO date or date-time (UTC unless it says otherwise)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since {text!r} is not a date",
                         hint="use an ISO date such as 2026-01-05 or 2026-01-05T10:00:00Z") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _duration(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "median_seconds": statistics.median(values) if values else None,
        "p90_seconds": percentile(values, 0.9),
    }


def _week(timestamp: int) -> tuple[int, int]:
    iso = datetime.fromtimestamp(timestamp, UTC).isocalendar()
    return iso.year, iso.week


def _week_label(week: tuple[int, int]) -> tuple[str, str]:
    monday = date.fromisocalendar(week[0], week[1], 1)
    return f"{week[0]}-W{week[1]:02d}", monday.isoformat()


def _next_week(week: tuple[int, int]) -> tuple[int, int]:
    monday = date.fromisocalendar(week[0], week[1], 1) + timedelta(days=7)
    iso = monday.isocalendar()
    return iso.year, iso.week


def stats_report(history: History, *, rev: str, epic: str | None = None,
                 since: datetime | None = None) -> dict[str, Any]:
    tasks = [s for s in history.subjects() if "." in s and not history.renamed(s)]
    epic_id = None
    if epic is not None:
        epic_id = ids.resolve(epic, sorted({ids.epic_of(t) for t in tasks}
                                           | {s for s in history.subjects() if "." not in s}),
                              kind="epic")
        tasks = [t for t in tasks if ids.epic_of(t) == epic_id]
    cutoff = int(since.timestamp()) if since is not None else None

    lead: list[float] = []
    cycle: list[float] = []
    per_week: dict[tuple[int, int], Counter[str]] = {}
    fails = dones = retried = verified = 0
    forced: list[dict[str, Any]] = []
    evidence = Counter[str]()
    evidence_keys = Counter[str]()
    states = Counter[str]()

    def in_range(event: Event) -> bool:
        return cutoff is None or event.timestamp >= cutoff

    for task in tasks:
        state = history.state(task)
        if state is not None:
            states[state] += 1
        standing = history.standing(task)
        created = next((e.timestamp for e in standing if e.source is None), None)
        if created is None and standing:
            created = standing[0].timestamp
        started = next((e.timestamp for e in standing if e.target == IN_PROGRESS), None)
        finished = [e for e in standing if e.target == DONE]
        if state == DONE and finished and in_range(finished[-1]):
            completed = finished[-1].timestamp
            if created is not None:
                lead.append(float(completed - created))
            if started is not None:
                cycle.append(float(completed - started))
        for position, event in enumerate(standing):
            if not in_range(event):
                continue
            counts = per_week.setdefault(_week(event.timestamp), Counter())
            if event.source is None:
                counts["created"] += 1
            if event.target == IN_PROGRESS:
                counts["started"] += 1
            if event.target == DONE:
                counts["done"] += 1
                dones += 1
                verified += verification.verified(event.evidence)
            if event.action == "fail":
                counts["failed"] += 1
                fails += 1
                if any(later.target == IN_PROGRESS for later in standing[position + 1:]):
                    retried += 1
            if event.force:
                forced.append({"id": task, "from": event.source, "to": event.target,
                               "action": event.action, "by": event.by, "commit": event.commit,
                               "time": event.iso_time})
            if event.evidence:
                evidence["records"] += 1
                for key, value in event.evidence.items():
                    evidence_keys[key] += 1
                    if key in ("commits", "tests", "prs"):
                        evidence[key] += len([item for item in value.split(",") if item.strip()])
                    elif key == "tokens":
                        with contextlib.suppress(ValueError):
                            evidence["tokens"] += int(value.replace("_", ""))

    weeks = _weeks(history, set(tasks), per_week, cutoff)
    reviewed = [*tasks, *([epic_id] if epic_id else
                          [s for s in history.subjects() if "." not in s and not history.renamed(s)])]
    throughput = [week["done"] for week in weeks]
    return {
        "rev": rev,
        "head": history.head,
        "epic": epic_id,
        "since": since.isoformat() if since is not None else None,
        "shallow": history.shallow,
        "tasks": {"total": len(tasks), "states": dict(sorted(states.items()))},
        "lead_time": _duration(lead),
        "cycle_time": _duration(cycle),
        "throughput": {
            "weeks": len(weeks),
            "done": sum(throughput),
            "per_week_mean": (sum(throughput) / len(weeks)) if weeks else None,
        },
        "weeks": weeks,
        "failures": {
            "failed_attempts": fails,
            "completions": dones,
            "failure_rate": fails / (fails + dones) if fails + dones else None,
            "retried": retried,
            "retry_rate": retried / fails if fails else None,
        },
        "forced": forced,
        "evidence": {
            "records": evidence["records"],
            "commits": evidence["commits"],
            "tests": evidence["tests"],
            "prs": evidence["prs"],
            "tokens": evidence["tokens"],
            "keys": dict(sorted(evidence_keys.items())),
        },
        "verified": {"completions": dones, "verified": verified,
                     "unverified": dones - verified},
        "reviews": _reviews(history, reviewed, in_range),
    }


def _reviews(history: History, subjects: list[str],
             in_range: Callable[[Event], bool]) -> dict[str, Any]:
    """Verdicts per kind: every one recorded (in range), and the latest of each subject."""
    recorded: dict[str, Counter[str]] = {}
    latest: dict[str, dict[str, str]] = {}
    for event in history.events(subjects):
        if event.kind != EVENT_REVIEW or not in_range(event):
            continue
        kind, verdict = event.extra.get("kind", ""), event.extra.get("verdict", "")
        recorded.setdefault(kind, Counter())[verdict] += 1
        latest.setdefault(kind, {})[event.subject] = verdict
    return {
        "recorded": {kind: dict(sorted(counts.items())) for kind, counts in sorted(recorded.items())},
        "latest": {kind: dict(sorted(Counter(by_subject.values()).items()))
                   for kind, by_subject in sorted(latest.items())},
    }


def _weeks(history: History, tasks: set[str], per_week: dict[tuple[int, int], Counter[str]],
           cutoff: int | None) -> list[dict[str, Any]]:
    """One row per ISO week from the first to the last with activity, gaps included, with the
    work in progress at the end of each week and its peak."""
    wip_end: dict[tuple[int, int], int] = {}
    wip_peak: dict[tuple[int, int], int] = {}
    in_progress: set[str] = set()
    for event in history.events(tasks):  # as it happened: a reverted start counted until undone
        if event.kind == EVENT_RENAME:
            in_progress.discard(event.extra.get("renamed_from", ""))
        if event.state_after == IN_PROGRESS:
            in_progress.add(event.subject)
        else:
            in_progress.discard(event.subject)
        if cutoff is not None and event.timestamp < cutoff:
            continue
        week = _week(event.timestamp)
        wip_end[week] = len(in_progress)
        wip_peak[week] = max(wip_peak.get(week, 0), len(in_progress))
    active = sorted(set(per_week) | set(wip_end))
    if not active:
        return []
    rows = []
    week = active[0]
    carried = 0
    while week <= active[-1]:
        label, monday = _week_label(week)
        counts = per_week.get(week, Counter())
        carried = wip_end.get(week, carried)
        rows.append({"week": label, "start": monday, "done": counts["done"],
                     "created": counts["created"], "started": counts["started"],
                     "failed": counts["failed"], "wip": carried,
                     "wip_peak": max(wip_peak.get(week, carried), carried)})
        week = _next_week(week)
    return rows
