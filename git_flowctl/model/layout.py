"""Where plan files live in a tree (DESIGN §1, docs/file-format.md). Standard library only:
the lean read path (views/lean.py) and the plan snapshot (repo/catalog.py) import it."""

from __future__ import annotations

FLOW_DIR = ".flow"
TASKS_DIR = ".flow/tasks"
EPICS_DIR = ".flow/epics"
ARCHIVE_DIR = ".flow/archive"
ARCHIVE_EPICS_DIR = ".flow/archive/epics"
ARCHIVE_TASKS_DIR = ".flow/archive/tasks"
CONFIG_PATH = ".flow/config.yaml"
# The gap registry (gates/gaps.py): one file per gap, in a folder per epic; an archived epic's
# gaps move with it (`epic archive`). Not plan files: the plan readers never list them.
GAPS_DIR = ".flow/gaps"
ARCHIVE_GAPS_DIR = ".flow/archive/gaps"
GAP_DIRS = (GAPS_DIR, ARCHIVE_GAPS_DIR)

# The directories a plan is read from, each for its direct children (Plan.load, the archive).
PLAN_DIRS = (EPICS_DIR, TASKS_DIR, ARCHIVE_EPICS_DIR, ARCHIVE_TASKS_DIR)
TASK_DIRS = frozenset({TASKS_DIR, ARCHIVE_TASKS_DIR})


def task_path(task_id: str) -> str:
    return f"{TASKS_DIR}/{task_id}.md"


def epic_path(epic_id: str) -> str:
    return f"{EPICS_DIR}/{epic_id}.md"


def archived_task_path(task_id: str) -> str:
    return f"{ARCHIVE_TASKS_DIR}/{task_id}.md"


def archived_epic_path(epic_id: str) -> str:
    return f"{ARCHIVE_EPICS_DIR}/{epic_id}.md"


def gap_path(epic_id: str, gap_id: str) -> str:
    return f"{GAPS_DIR}/{epic_id}/{gap_id}.md"


def archived_gap_path(epic_id: str, gap_id: str) -> str:
    return f"{ARCHIVE_GAPS_DIR}/{epic_id}/{gap_id}.md"


def is_gap_path(path: str) -> bool:
    """A gap's file: ``<gaps dir>/<epic-id>/<gap-id>.md``, live or archived."""
    for directory in GAP_DIRS:
        if path.startswith(directory + "/") and path.endswith(".md"):
            return path.count("/") == directory.count("/") + 2
    return False
