"""Review verdicts (issue #15, docs/gates.md#reviews): SHIP, NEEDS_WORK or MAJOR_RETHINK on a task's
or an epic's plan or completion, from a person (``--verdict``) or an external reviewer
(``--run 'COMMAND'``: codex, claude, a script).

A verdict is a commit: the file's frontmatter keeps the latest verdict of each kind
(``plan_review_status``, ``completion_review_status``: model/reviews.py), notes go under the
body's ``## Reviews`` (each line quoted, so no text of theirs becomes a heading), and the
``Flow-Review`` trailer records kind, verdict, actor and, for a reviewer's run, the digest of its
output. ``log`` and ``stats`` read the trailers. Nothing the reviewer printed goes into the
message.

A reviewer gets the spec (the item's file, and its epic's for a task) and, for a completion
review, the diff of the work's commits on standard input; the verdict is the last
``<verdict>...</verdict>`` tag of its output (flowctl's convention).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from git_flowctl.changes.ops import Context, _quoted_title
from git_flowctl.model import reviews, states
from git_flowctl.model.errors import UsageError
from git_flowctl.model.items import Epic, Task
from git_flowctl.model.trailers import Review
from git_flowctl.model.ulid import new_ulid
from git_flowctl.repo.writer import Change

if TYPE_CHECKING:
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.workspace import Workspace

REVIEWS_DIR = "flow-reviews"  # reviewers' outputs, under the worktree's git directory
DEFAULT_TIMEOUT = 1800.0
SECTION = "Reviews"
_VERDICT_TAG = re.compile(r"<verdict>\s*([A-Za-z_ -]+?)\s*</verdict>", re.IGNORECASE)


def parse_verdict(text: str) -> str | None:
    """The verdict of the last ``<verdict>X</verdict>`` tag (``SHIP``, ``NEEDS_WORK``,
    ``MAJOR_RETHINK``, any case, ``-`` or a space for ``_``); None when there is none."""
    found = None
    for match in _VERDICT_TAG.finditer(text):
        word = re.sub(r"[ -]+", "_", match.group(1).strip()).lower()
        if word in reviews.VERDICTS:
            found = word
    return found


def normalize_verdict(text: str) -> str:
    word = re.sub(r"[ -]+", "_", text.strip()).lower()
    if word not in reviews.VERDICTS:
        raise UsageError(f"unknown verdict {text!r}",
                         hint="--verdict ship, needs_work or major_rethink")
    return word


def default_kind(plan: Plan, item: Task | Epic) -> str:
    """What the item is ready for: completion once its work is finished, else its plan."""
    if isinstance(item, Task):
        return reviews.COMPLETION if item.status in states.FINISHED else reviews.PLAN
    tasks = plan.tasks_of(item.id)
    finished = bool(tasks) and all(task.status in states.FINISHED for task in tasks)
    return reviews.COMPLETION if finished or item.status == "done" else reviews.PLAN


def _quoted(notes: str) -> list[str]:
    return [f"  > {line}".rstrip() for line in notes.strip("\n").splitlines()]


def record(plan: Plan, ref: str, verdict: str, ctx: Context, *, kind: str | None = None,
           notes: str | None = None, output_sha256: str | None = None,
           reviewer: str | None = None) -> Change:
    """The commit of one verdict. ``reviewer``: what ran (``run``) or None for a person."""
    item = plan.resolve_any(ref)
    verdict = normalize_verdict(verdict)
    kind = kind or default_kind(plan, item)
    if kind not in reviews.KINDS:
        raise UsageError(f"unknown review kind {kind!r}", hint="--kind plan or --kind completion")
    previous = reviews.verdict_in(item.doc.data, kind)
    item.set(reviews.status_field(kind), verdict)
    label = verdict.upper()
    entry = [f"- {ctx.now} {kind} {label} by {ctx.actor}"
             + (" (reviewer run)" if reviewer else ""), *(_quoted(notes) if notes else [])]
    existing = item.doc.section(SECTION)
    body = "\n".join([*([existing.rstrip("\n")] if existing and existing.strip() else []), *entry])
    item.doc.set_section(SECTION, body)
    extra: dict[str, str] = {}
    if output_sha256:
        extra["output"] = f"sha256:{output_sha256}"
    if reviewer:
        extra["reviewer"] = reviewer
    trailer = Review(item.id, kind, verdict, ctx.actor, new_ulid(), tuple(extra.items()))
    what = "epic " if isinstance(item, Epic) else ""
    return Change(
        f"flow: review {what}{item.id} {_quoted_title(item.title)}: {kind} {label}",
        {item.path: item.render()}, records=[trailer],
        result={"id": item.id, "type": "epic" if isinstance(item, Epic) else "task",
                "kind": kind, "verdict": verdict, "previous": previous,
                "field": reviews.status_field(kind), "notes": notes,
                "message": f"{item.id}: {kind} review {label}"})


# Running a reviewer ------------------------------------------------------------------------------


@dataclass
class ReviewerRun:
    status: str  # verdict (a verdict was found), skipped (not installed), failed
    verdict: str | None
    exit_code: int | None
    duration: float
    output: str | None
    sha256: str | None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "verdict": self.verdict, "exit_code": self.exit_code,
                "duration": round(self.duration, 3), "output": self.output,
                "sha256": self.sha256, "reason": self.reason}


def review_input(ws: Workspace, plan: Plan, item: Task | Epic, kind: str) -> bytes:
    """What the reviewer reads: the spec, then (completion) the diff of the work's commits."""
    parts = [f"# Review request: {kind} of {item.id}\n",
             "Answer with <verdict>SHIP</verdict>, <verdict>NEEDS_WORK</verdict> or "
             "<verdict>MAJOR_RETHINK</verdict>.\n",
             f"\n## Spec: {item.path}\n\n", _text(plan.source.read(item.path))]
    if isinstance(item, Task) and item.epic in plan.epics:
        epic = plan.epics[item.epic]
        parts += [f"\n## Epic: {epic.path}\n\n", _text(plan.source.read(epic.path))]
    if kind == reviews.COMPLETION:
        tasks = [item] if isinstance(item, Task) else plan.tasks_of(item.id)
        commits = work_commits(ws, [task.id for task in tasks])
        parts.append(f"\n## Diff of the work's commits ({len(commits)})\n\n")
        if commits:
            shown = ws.git("-c", "core.quotePath=false", "show", "--no-color", "--stat", "--patch",
                           "--format=commit %H%nAuthor: %an <%ae>%nDate: %aI%n%n%w(0,4,4)%B",
                           *commits, check=False)
            parts.append(shown.stdout.decode("utf-8", "replace"))
        else:
            parts.append("(no commits found: none names the task with `Flow-Task:`, none is in "
                         "its done evidence, and it has no flow/<task> branch)\n")
    return "".join(parts).encode("utf-8")


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw is not None else "(missing)\n"


def work_commits(ws: Workspace, task_ids: Sequence[str]) -> list[str]:
    """The commits of the tasks' work, oldest first: code commits that name a task with
    ``Flow-Task:``, the commits listed in a done transition's evidence (``commits=``), and the
    commits of ``run``'s ``flow/<task>`` branches not on HEAD."""
    found: dict[str, None] = {}
    for task_id in task_ids:
        linked = ws.git("log", "--format=%H", "--fixed-strings", f"--grep=Flow-Task: {task_id}",
                        "HEAD", check=False)
        found.update(dict.fromkeys(linked.stdout.decode().split()))
        done = ws.git("log", "--format=%(trailers:key=Flow-Evidence,valueonly)", "--fixed-strings",
                      f"--grep=Flow-Evidence: {task_id} ", "HEAD", check=False)
        for line in done.stdout.decode("utf-8", "replace").splitlines():
            words = line.split()
            if not words or words[0] != task_id:
                continue
            for word in words[1:]:
                if word.startswith("commits="):
                    for commit in word.removeprefix("commits=").split(","):
                        resolved = ws.resolve_commit(commit.strip()) if commit.strip() else None
                        if resolved:
                            found[resolved] = None
        branch = f"refs/heads/flow/{task_id}"
        if ws.git("rev-parse", "--verify", "-q", branch, check=False).returncode == 0:
            own = ws.git("rev-list", "--no-merges", branch, "--not", "HEAD", check=False)
            found.update(dict.fromkeys(own.stdout.decode().split()))
    if not found:
        return []
    ordered = ws.git("rev-list", "--no-walk=sorted", "--reverse", *found, check=False)
    return ordered.stdout.decode().split() or list(found)


def run_reviewer(ws: Workspace, command: str, stdin: bytes, *, timeout: float,
                 env: Mapping[str, str] | None = None) -> ReviewerRun:
    """Run ``command`` (a command line, by /bin/sh) with ``stdin``; its whole tree is killed at
    the timeout. A reviewer program that is not installed is ``skipped``."""
    from git_flowctl.gates.guard import program_missing
    from git_flowctl.gates.process import run_with_deadline

    environment = dict(env if env is not None else os.environ)
    missing = program_missing(command, ws.root, environment)
    if missing is not None:
        return ReviewerRun("skipped", None, None, 0.0, None, None,
                           f"reviewer program not found: {missing}")
    run_id = new_ulid().lower()
    output = ws.git_dir / REVIEWS_DIR / f"{run_id}.log"
    marker_name = f"FLOW_REVIEW_{run_id.upper()}"  # its own name: nested runs keep it
    environment[marker_name] = "1"
    try:
        done = run_with_deadline(["/bin/sh", "-c", command], cwd=ws.root, env=environment,
                                 timeout=timeout, output=output, stdin=stdin,
                                 markers=(f"{marker_name}=1",))
    except OSError as error:
        return ReviewerRun("failed", None, None, 0.0, None, None,
                           f"cannot run the reviewer: {error.strerror}")
    _prune(output.parent)
    text = Path(output).read_text("utf-8", errors="replace")
    verdict = parse_verdict(text)
    common = (done.exit_code, done.duration, str(output), done.sha256)
    if done.timed_out:
        return ReviewerRun("failed", None, *common, f"timed out after {timeout:g}s: killed")
    if done.exit_code != 0:
        return ReviewerRun("failed", None, *common, f"the reviewer exited {done.exit_code}")
    if verdict is None:
        return ReviewerRun("failed", None, *common,
                           "no <verdict>SHIP|NEEDS_WORK|MAJOR_RETHINK</verdict> in its output")
    return ReviewerRun("verdict", verdict, *common)


def _prune(directory: Path, keep: int = 50) -> None:
    for old in sorted(directory.glob("*.log"))[:-keep]:
        old.unlink(missing_ok=True)
