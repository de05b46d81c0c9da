"""Large plans in the documented file format (docs/file-format.md), written straight to disk.

Issue #11's shape: EPICS epics of TASKS tasks each; inside an epic the tasks form chains with
diamonds (task n depends on n-1, and every fourth task also on n-2, so two paths join); every
fifth epic depends on the one before; a quarter of the tasks are done (the first quarter of
each epic, so the done ones have only done dependencies), and a few are in progress, blocked,
failed or skipped. Writing the files directly takes seconds where the CLI would take hours.
"""

from __future__ import annotations

from pathlib import Path

CONFIG = """\
prefix: fn
slug_max: 20
max_retries: 2
default_branch: null
require_evidence: false
link_commits: false
claims:
  remote: null
  lease_seconds: 3600
"""

TASK_BODY = """\
## Description
Implement step {number} of epic {epic_number}: wire the handler, cover the edge cases and
keep the public interface as it is.

## Acceptance
- [ ] the handler answers
- [ ] tests cover the failure path

## Done summary
{summary}
## Evidence
{evidence}"""

EPIC_BODY = """\
## Overview
Epic {number}: a slice of the product.

## Scope
TBD

## Approach
TBD

## Acceptance
TBD

## References
TBD
"""


def epic_id(number: int) -> str:
    return f"fn-{number}-epic-{number}"


def task_id(epic_number: int, number: int) -> str:
    return f"{epic_id(epic_number)}.{number}"


def task_status(epic_number: int, number: int, per_epic: int) -> str:
    """A quarter done (the first quarter of every epic); a few in progress, blocked, failed,
    skipped; the rest todo."""
    if number <= per_epic // 4:
        return "done"
    if number == per_epic // 4 + 1:
        kind = epic_number % 10
        return {1: "in_progress", 3: "blocked", 5: "in_progress", 7: "failed"}.get(kind, "todo")
    if number == per_epic and epic_number % 25 == 0:
        return "skipped"
    return "todo"


def task_text(epic_number: int, number: int, per_epic: int) -> str:
    status = task_status(epic_number, number, per_epic)
    deps = []
    if number > 1:
        deps.append(task_id(epic_number, number - 1))
    if number > 2 and number % 4 == 0:
        deps.append(task_id(epic_number, number - 2))
    lines = [
        "---",
        f"id: {task_id(epic_number, number)}",
        f"epic: {epic_id(epic_number)}",
        f"title: Step {number} of epic {epic_number}",
        f"status: {status}",
        f"depends_on: [{', '.join(deps)}]",
    ]
    if number % 3 == 0:
        lines.append(f"priority: {number % 5}")
    lines.append(f"domain: {('backend', 'frontend', 'docs')[number % 3]}")
    if status in ("in_progress", "done"):
        lines.append(f"assignee: worker{epic_number % 7}@example.com")
    if status == "failed":
        lines.append("attempts: 2")
    if status == "blocked":
        lines.append("blocked_reason: waiting on the vendor")
    if status == "skipped":
        lines.append("skipped_reason: not needed")
    lines.append("created: 2026-01-05T10:00:00Z")
    lines.append("---")
    done = status == "done"
    body = TASK_BODY.format(number=number, epic_number=epic_number,
                            summary="shipped\n" if done else "",
                            evidence="- Tests: pytest -q\n" if done else "")
    return "\n".join(lines) + "\n" + body


def epic_text(number: int) -> str:
    deps = f"[{epic_id(number - 1)}]" if number % 5 == 0 and number > 1 else "[]"
    return (f"---\nid: {epic_id(number)}\ntitle: Epic {number}\nstatus: open\n"
            f"depends_on_epics: {deps}\ncreated: 2026-01-05T10:00:00Z\n---\n"
            + EPIC_BODY.format(number=number))


def write_plan(root: Path, epics: int, per_epic: int) -> None:
    """Write ``.flow/`` under ``root`` (a work tree)."""
    flow = root / ".flow"
    (flow / "tasks").mkdir(parents=True, exist_ok=True)
    (flow / "epics").mkdir(parents=True, exist_ok=True)
    (flow / "config.yaml").write_text(CONFIG)
    for epic_number in range(1, epics + 1):
        (flow / "epics" / f"{epic_id(epic_number)}.md").write_text(epic_text(epic_number))
        for number in range(1, per_epic + 1):
            (flow / "tasks" / f"{task_id(epic_number, number)}.md").write_text(
                task_text(epic_number, number, per_epic))


if __name__ == "__main__":
    import sys

    write_plan(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))


def write_flowctl_plan(root: Path, epics: int, per_epic: int) -> None:
    """The same shape as flowctl 0.26 keeps it (tests/fixtures/flowctl-0.26): meta.json,
    config.json, epics/<id>.json, specs/<epic-id>.md, tasks/<id>.json and tasks/<id>.md."""
    import json

    (root / "epics").mkdir(parents=True, exist_ok=True)
    (root / "specs").mkdir(exist_ok=True)
    (root / "tasks").mkdir(exist_ok=True)
    (root / "meta.json").write_text(json.dumps({"next_epic": epics + 1, "schema_version": 2}))
    (root / "config.json").write_text(json.dumps({"memory": {"enabled": False}}))
    stamp = "2026-11-28T10:08:00.000000Z"
    for epic_number in range(1, epics + 1):
        epic = epic_id(epic_number)
        (root / "epics" / f"{epic}.json").write_text(json.dumps({
            "branch_name": epic, "created_at": stamp,
            "depends_on_epics": [epic_id(epic_number - 1)] if epic_number % 5 == 0 and epic_number > 1 else [],
            "id": epic, "next_task": per_epic + 1, "plan_review_status": "unknown",
            "plan_reviewed_at": None, "spec_path": f".flow/specs/{epic}.md", "status": "open",
            "title": f"Epic {epic_number}", "updated_at": stamp}, indent=2))
        (root / "specs" / f"{epic}.md").write_text(f"# {epic} Epic {epic_number}\n\n## Overview\nTBD\n")
        for number in range(1, per_epic + 1):
            task = task_id(epic_number, number)
            deps = [task_id(epic_number, number - 1)] if number > 1 else []
            status = task_status(epic_number, number, per_epic)
            (root / "tasks" / f"{task}.json").write_text(json.dumps({
                "assignee": None, "claim_note": "", "claimed_at": None, "created_at": stamp,
                "depends_on": deps, "epic": epic, "id": task,
                "priority": number % 5 if number % 3 == 0 else None,
                "spec_path": f".flow/tasks/{task}.md",
                "status": status if status in ("todo", "in_progress", "done", "blocked") else "todo",
                "title": f"Step {number} of epic {epic_number}", "updated_at": stamp}, indent=2))
            (root / "tasks" / f"{task}.md").write_text(
                f"# {task} Step {number} of epic {epic_number}\n\n## Description\nDo it.\n"
                "## Acceptance\n- [ ] TBD\n\n## Done summary\nTBD\n## Evidence\n- Commits:\n")
