"""Review verdicts (issue #15, docs/gates.md): their values and where a file keeps the latest.

flowctl's names: an epic's ``plan_review_status`` and ``completion_review_status`` (``ship``,
``needs_work``; flowctl wrote ``unknown`` before any review), so an imported flowctl epic keeps
its plan verdict. Tasks carry the same two fields. The verdict itself is the reviewer's tag
``<verdict>SHIP</verdict>``, written lower case.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

SHIP, NEEDS_WORK, MAJOR_RETHINK = "ship", "needs_work", "major_rethink"
VERDICTS = (SHIP, NEEDS_WORK, MAJOR_RETHINK)
PLAN, COMPLETION = "plan", "completion"
KINDS = (PLAN, COMPLETION)


def status_field(kind: str) -> str:
    """The frontmatter field that holds the latest verdict of ``kind``."""
    return f"{kind}_review_status"


def verdict_in(data: Mapping[str, Any], kind: str) -> str | None:
    """The latest ``kind`` verdict a file's frontmatter records (None: not reviewed)."""
    value = data.get(status_field(kind))
    return value if isinstance(value, str) and value in VERDICTS else None
