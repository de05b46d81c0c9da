"""`recover`: compare the replayed history with the files, explain each difference, repair.

What is compared (docs/history.md):

* every task and epic history knows, against its file (in the work tree, or at ``--rev``):
  ``status`` when the file says something history does not (with the commit that made the
  change without a trailer, a hand edit), ``deleted`` when the file is gone (restorable from
  its last blob in history; an archived file under ``.flow/archive/`` is not gone);
* every task or epic file history knows nothing about (``untracked_file``);
* in history itself: status changes with no trailer (``untracked_change``), trailers whose commit
  does not change the file to match (``trailer_without_change``), malformed trailer lines and
  reverts of commits that cannot be found.

``build_recovery`` turns the fixable differences into one ``Change`` for the writer: deleted
files restored from their last blob, statuses set to what history says, each with an
``action=recover`` transition. History is read with ``git`` (``history.py``, ``git log --raw``,
``git cat-file --batch``); nothing here imports click or rich.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from git_flowctl.history.agreement import status_of as status_of
from git_flowctl.history.replay import GitReader, History, Progress, replay
from git_flowctl.model.config import CONFIG_PATH
from git_flowctl.model.document import Document
from git_flowctl.model.errors import ConflictError, FlowError
from git_flowctl.model.items import ARCHIVE_DIR, archived_epic_path, archived_task_path
from git_flowctl.model.layout import ARCHIVE_GAPS_DIR
from git_flowctl.model.trailers import Trailers, Transition, parse_message
from git_flowctl.model.ulid import new_ulid
from git_flowctl.repo.gitcli import missing_objects_error

FLOW = ".flow"
TASKS = ".flow/tasks/"
EPICS = ".flow/epics/"
ARCHIVE = ARCHIVE_DIR + "/"
AUTHORITATIVE = ("recover", "import")
_ZERO = re.compile(r"^0+$")


def subject_of(path: str) -> str | None:
    """The task or epic ID a ``.flow`` path holds (``.flow/tasks/<id>.md``, archived ones too)."""
    if not path.endswith(".md") or not path.startswith((TASKS, EPICS, ARCHIVE)) \
            or path.startswith(ARCHIVE_GAPS_DIR + "/"):  # an archived epic's gaps: no subject
        return None
    return path.rsplit("/", 1)[-1][:-3]


def home_path(subject: str, *, archived: bool = False) -> str:
    if archived:
        return archived_task_path(subject) if "." in subject else archived_epic_path(subject)
    return f"{TASKS if '.' in subject else EPICS}{subject}.md"


# Reading what git knows -----------------------------------------------------------------------


@dataclass
class PathChange:
    commit: str
    path: str
    old_blob: str | None
    new_blob: str | None


@dataclass
class FileHistory:
    """Every change to ``.flow/`` files in the history of a commit (merges excluded: git shows
    no diff for them), newest first, with the commits' parsed trailers."""

    commits: list[str] = field(default_factory=list)
    parents: dict[str, list[str]] = field(default_factory=dict)
    trailers: dict[str, Trailers] = field(default_factory=dict)
    changes: dict[str, list[PathChange]] = field(default_factory=dict)  # commit -> changes
    by_path: dict[str, list[PathChange]] = field(default_factory=dict)  # path -> changes

    def last_blob(self, path: str) -> tuple[str, PathChange] | None:
        """The newest content a path had, and the change that gave (or removed) it."""
        for change in self.by_path.get(path, []):
            blob = change.new_blob or change.old_blob
            if blob:
                return blob, change
        return None


def read_file_history(git: GitReader, head: str) -> FileHistory:
    # --full-history: a merge whose .flow/ equals one parent's must not hide the other side's
    # commits that changed files and changed them back (issue #13, finding 9).
    result = git.run("log", "--raw", "-z", "--no-abbrev", "--no-renames", "--full-history",
                     "--encoding=UTF-8",
                     "--format=%x1e%H%x1f%P%x1f%B", head, "--", FLOW)
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        raise FlowError(f"git log failed: {detail[-1] if detail else result.returncode}")
    history = FileHistory()
    for record in result.stdout.decode("utf-8", "replace").split("\x1e")[1:]:
        header, _, raw = record.partition("\0")
        sha, parents, message = header.split("\x1f", 2)
        history.commits.append(sha)
        history.parents[sha] = parents.split()
        history.trailers[sha] = parse_message(message)
        tokens = raw.split("\0")
        changes: list[PathChange] = []
        for meta, path in zip(tokens[0::2], tokens[1::2], strict=False):
            fields = meta.strip().split()
            if len(fields) < 5 or not fields[0].startswith(":"):
                continue
            old, new = fields[2], fields[3]
            change = PathChange(sha, path, None if _ZERO.match(old) else old,
                                None if _ZERO.match(new) else new)
            changes.append(change)
            history.by_path.setdefault(path, []).append(change)
        history.changes[sha] = changes
    return history


def read_blobs(git: GitReader, blob_ids: Iterable[str]) -> dict[str, bytes]:
    """Blob contents, in one ``git cat-file --batch``."""
    wanted = sorted(set(blob_ids))
    if not wanted:
        return {}
    result = git.run("cat-file", "--batch", input=("\n".join(wanted) + "\n").encode())
    data = result.stdout
    found: dict[str, bytes] = {}
    position = 0
    while position < len(data):
        end = data.index(b"\n", position)
        header = data[position:end].split()
        position = end + 1
        if len(header) == 3:
            size = int(header[2])
            found[header[0].decode()] = data[position:position + size]
            position += size + 1
    if len(found) < len(wanted):  # never read as "no status": say why they are missing
        raise missing_objects_error(git.root, [oid for oid in wanted if oid not in found])
    return found


def current_files(git: GitReader, rev: str | None) -> dict[str, bytes]:
    """Every file under ``.flow/`` in the work tree, or in REV's tree."""
    files: dict[str, bytes] = {}
    if rev is None:
        base = Path(git.root) / FLOW
        for directory, dirs, names in os.walk(base):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                if name.startswith("."):
                    continue
                full = Path(directory) / name
                try:
                    files[full.relative_to(git.root).as_posix()] = full.read_bytes()
                except OSError:
                    continue
        return files
    listing = git.run("ls-tree", "-r", "-z", rev, "--", FLOW)
    entries = {}
    for item in listing.stdout.decode("utf-8", "replace").split("\0"):
        meta, _, path = item.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":
            entries[path] = parts[2]
    blobs = read_blobs(git, entries.values())
    return {path: blobs[blob] for path, blob in entries.items() if blob in blobs}


# The comparison --------------------------------------------------------------------------------


@dataclass
class Divergence:
    """A file that disagrees with history, why, and what ``--apply`` does about it."""

    kind: str  # status | deleted | untracked_file
    id: str | None
    path: str
    file_status: str | None
    history_status: str | None
    commit: str | None  # the commit that explains it (a hand edit, a deletion), if one does
    evidence: str
    fix: str | None  # what --apply does; None when it leaves it alone
    restore_blob: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "path": self.path,
                "file_status": self.file_status, "history_status": self.history_status,
                "commit": self.commit, "evidence": self.evidence, "fix": self.fix,
                "restore_blob": self.restore_blob}


@dataclass
class HistoryProblem:
    """Something wrong inside history: a change without its trailer, a trailer without its
    change, a malformed line, a revert of an unknown commit."""

    kind: str  # untracked_change | trailer_without_change | malformed | unknown_revert
    # | landed_not_done
    commit: str
    id: str | None
    message: str
    source: str | None = None
    target: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "commit": self.commit, "id": self.id, "from": self.source,
                "to": self.target, "message": self.message}


@dataclass
class Diagnosis:
    rev: str
    head: str | None
    head_tree: str | None
    compared_with: str
    history: History
    divergences: list[Divergence]
    problems: list[HistoryProblem]
    checked: int
    unchecked: list[str]
    boundary: list[str]
    blobs: dict[str, bytes]

    @property
    def fixable(self) -> list[Divergence]:
        return [d for d in self.divergences if d.fix is not None]

    def note(self) -> str | None:
        if not self.history.shallow:
            return None
        listed = ", ".join(self.unchecked[:10]) + (" ..." if len(self.unchecked) > 10 else "")
        text = (f"shallow clone: history stops at {len(self.boundary)} boundary commit(s) "
                f"({', '.join(b[:7] for b in self.boundary[:3])}); transitions before it are not "
                f"here. Checked {self.checked} task(s)/epic(s) against the transitions that are")
        if self.unchecked:
            text += f"; could not check {len(self.unchecked)} with no transition after it ({listed})"
        return text + ". `git fetch --unshallow` gives a full check."

    def as_json(self) -> dict[str, Any]:
        return {
            "rev": self.rev,
            "head": self.head,
            "compared_with": self.compared_with,
            "shallow": self.history.shallow,
            "history_complete": not self.history.shallow,
            "boundary": self.boundary,
            "commits": self.history.commits,
            "checked": self.checked,
            "unchecked": self.unchecked,
            "note": self.note(),
            "divergences": [d.as_json() for d in self.divergences],
            "problems": [p.as_json() for p in self.problems],
            "clean": not self.divergences and not self.problems,
        }


def interrupted_paths(git: GitReader, git_dir: Path,
                      head: str | None) -> dict[str, tuple[str | None, str | None]]:
    """The paths a transition committed to HEAD left behind in the work tree and index (it was
    killed between moving the branch and rewriting them; the writer's journal says so): path ->
    (blob before, blob after). A path changed since by someone else is not listed."""
    from git_flowctl.repo.writer import read_journal

    data = read_journal(git_dir)
    if data is None or data[0] is None or data[0] != head:
        return {}
    paths = data[1]  # a --no-commit change cut short is completed by the writer, unreported
    listing = git.run("ls-files", "-s", "-z", "--", *paths).stdout.decode("utf-8", "replace")
    staged = {}
    for item in listing.split("\0"):
        meta, _, path = item.partition("\t")
        if meta:
            staged[path] = meta.split()[1]
    present = [path for path in paths if (Path(git.root) / path).is_file()]
    hashed = git.run("hash-object", "--", *present).stdout.decode().split() if present else []
    on_disk = dict(zip(present, hashed, strict=False))
    found = {}
    for path, (before, after) in paths.items():
        index, work = staged.get(path), on_disk.get(path)
        if index in (before, after) and work in (before, after) and (index, work) != (after, after):
            found[path] = (before, after)
    return found


def diagnose(git: GitReader, rev: str | None = None, *,
             progress: Progress | None = None, git_dir: Path | None = None) -> Diagnosis:
    """``git_dir``: the worktree's git directory, where a transition cut short by a crash left
    its journal (compared with the working tree only)."""
    history = replay(git, rev or "HEAD", progress=progress)
    head = history.head
    files_history = read_file_history(git, head) if head else FileHistory()
    boundary = _boundary(git) if history.shallow else []
    blob_ids = {b for changes in files_history.changes.values() for c in changes
                for b in (c.old_blob, c.new_blob) if b}
    cut_short = interrupted_paths(git, git_dir, head) if git_dir and rev is None else {}
    blobs = read_blobs(git, blob_ids | {after for _, after in cut_short.values() if after})
    statuses = {blob: status_of(raw) for blob, raw in blobs.items()}
    files = current_files(git, rev)
    for cut_path, (_, after) in cut_short.items():  # compared as they will be once completed
        if after is None:
            files.pop(cut_path, None)
        elif after in blobs:
            files[cut_path] = blobs[after]
    head_tree = None
    if head is not None:
        tree = git.run("rev-parse", f"{head}^{{tree}}")
        head_tree = tree.stdout.decode().strip() or None

    problems = _unresolved(git, history, _untracked_changes(history, files_history, statuses,
                                                            set(boundary)))
    problems += _trailers_without_change(git, history, files_history, statuses)
    problems += _landings_not_done(history)
    for finding in history.findings:
        if finding.kind == "trailer_without_change":
            continue  # listed with their subjects below
        problems.append(HistoryProblem(finding.kind, finding.commit, None,
                                       f"line {finding.line}: {finding.message}"
                                       if finding.line else finding.message))
    for commit, named, target, why in history.not_believed:  # lines its trees do not bear out
        problems.append(HistoryProblem("trailer_without_change", commit, named, why, None,
                                       None if target == "none" else target))

    by_subject: dict[str, str] = {}
    for file_path in sorted(files):
        subject = subject_of(file_path)
        if subject is not None and (file_path.startswith((TASKS, EPICS)) or subject not in by_subject):
            by_subject[subject] = file_path
    divergences: list[Divergence] = [
        Divergence("interrupted", subject_of(path), path, None, None, head,
                   f"{(head or '')[:7]} was committed, but the command was stopped before it "
                   "updated the work tree and the index", "bring the file and its index entry "
                   "to HEAD's version (no commit)") for path in sorted(cut_short)]
    checked = 0
    known = set(history.subjects())
    compared = "working tree" if rev is None else rev
    for subject in sorted(known):
        wanted = history.state(subject)
        path = by_subject.get(subject)
        if path is None:
            if wanted is None:
                continue  # gone in history too (its creation was reverted, or it was removed)
            checked += 1
            divergences.append(_deleted(subject, wanted, files_history, compared,
                                        archived=history.archived(subject)))
            continue
        checked += 1
        actual = status_of(files[path])
        if wanted is None:
            divergences.append(Divergence(
                "status", subject, path, actual, None, None,
                "history undid its creation (a revert) or removed it, but the file is here", None))
        elif actual != wanted:
            divergences.append(_mismatch(subject, path, actual, wanted, files_history,
                                         statuses, problems, compared))
    unchecked: list[str] = []
    for subject, path in sorted(by_subject.items()):
        if subject in known:
            continue
        if history.shallow:
            unchecked.append(subject)
            continue
        added = next((c for c in reversed(files_history.by_path.get(path, []))
                      if c.old_blob is None), None)
        actual = status_of(files[path])
        divergences.append(Divergence(
            "untracked_file", subject, path, actual, None, added.commit if added else None,
            (f"added in {added.commit[:7]} without a Flow-Transition trailer" if added
             else f"not committed: only in the {compared}"),
            f"record it as {actual} ({actual}->{actual} action=recover)" if actual and added
            else None))
    config = files_history.last_blob(CONFIG_PATH)
    if config is not None and CONFIG_PATH not in files and head is not None:
        blob, change = config
        deleted_by = change.commit if change.new_blob is None else None
        divergences.append(Divergence(
            "deleted", None, CONFIG_PATH, None, None, deleted_by,
            f"deleted in {deleted_by[:7]}" if deleted_by
            else f"deleted in the {compared} (not committed)",
            "restore it from its last version", blob))
    needed = {d.restore_blob for d in divergences if d.restore_blob}
    return Diagnosis(rev or "HEAD", head, head_tree, compared, history, divergences, problems,
                     checked, unchecked, boundary, {b: blobs[b] for b in needed if b in blobs})


def _boundary(git: GitReader) -> list[str]:
    try:
        return (Path(git.common_dir) / "shallow").read_text().split()
    except OSError:
        return []


def _deleted(subject: str, wanted: str, files_history: FileHistory, compared: str, *,
             archived: bool) -> Divergence:
    path = home_path(subject, archived=archived)
    last = files_history.last_blob(path)
    if last is None:
        return Divergence("deleted", subject, path, None, wanted, None,
                          "history has transitions for it but no version of its file",
                          None)
    blob, change = last
    if change.new_blob is None:
        evidence = f"deleted in {change.commit[:7]}"
        commit: str | None = change.commit
    else:
        evidence = f"deleted in the {compared} (not committed)"
        commit = None
    return Divergence("deleted", subject, path, None, wanted, commit, evidence,
                      f"restore it from {blob[:7]} with status {wanted}", blob)


def _said(status: str | None) -> str:
    return status if status is not None else "no status"


def _mismatch(subject: str, path: str, actual: str | None, wanted: str,
              files_history: FileHistory, statuses: dict[str, str | None],
              problems: list[HistoryProblem], compared: str) -> Divergence:
    fix = f"set status to {wanted} ({actual or 'none'}->{wanted} action=recover)"
    last = files_history.last_blob(path)
    committed = statuses.get(last[0]) if last and last[1].new_blob else None
    if compared == "working tree" and committed != actual:
        return Divergence("status", subject, path, actual, wanted, None,
                          f"the {compared} file says {_said(actual)}, its last commit says "
                          f"{_said(committed)}: an uncommitted edit", fix)
    edits = [p for p in problems if p.kind == "untracked_change" and p.id == subject]
    edit = next((p for p in edits if p.target == actual), edits[0] if edits else None)
    if edit is not None:
        return Divergence("status", subject, path, actual, wanted, edit.commit,
                          f"{edit.commit[:7]} changed it {edit.source}->{edit.target} without a "
                          "Flow-Transition trailer", fix)
    claims = [p for p in problems if p.kind == "trailer_without_change" and p.id == subject
              and p.target == wanted]
    if claims and last is not None and last[1].commit == claims[0].commit and committed == actual:
        # That commit's own change made the file say `actual`: its lines disagree among
        # themselves, and history's reading of them is no ground to move the file (issue #13).
        return Divergence("status", subject, path, actual, wanted, claims[0].commit,
                          f"{claims[0].commit[:7]} records {claims[0].source or 'none'}->{wanted} "
                          f"but its own change made the file {_said(actual)}: its trailers do not chain",
                          None)
    if claims:
        return Divergence("status", subject, path, actual, wanted, claims[0].commit,
                          f"{claims[0].commit[:7]} records {claims[0].source or 'none'}->{wanted} "
                          "but does not change its file", fix)
    return Divergence("status", subject, path, actual, wanted, None,
                      "no single commit explains it (a merge resolution, or a history rewrite)",
                      fix)


def _subject_statuses(changes: list[PathChange], statuses: dict[str, str | None],
                      ) -> dict[str, tuple[str | None, str | None]]:
    """Per subject a commit touched: (status before, status after); a move keeps its status."""
    found: dict[str, tuple[str | None, str | None]] = {}
    for change in changes:
        subject = subject_of(change.path)
        if subject is None:
            continue
        before, after = found.get(subject, (None, None))
        before = before or (statuses.get(change.old_blob) if change.old_blob else None)
        after = after or (statuses.get(change.new_blob) if change.new_blob else None)
        found[subject] = (before, after)
    return found


def _untracked_changes(history: History, files_history: FileHistory,
                       statuses: dict[str, str | None], boundary: set[str]) -> list[HistoryProblem]:
    problems = []
    events_by_commit: dict[str, list[tuple[str, str | None]]] = {}
    for event in history.events():
        events_by_commit.setdefault(event.commit, []).append((event.subject, event.state_after))
    for commit in files_history.commits:
        if commit in boundary:
            continue  # a shallow clone's boundary commit shows every file as added
        lines = files_history.trailers[commit]
        for subject, (before, after) in _subject_statuses(files_history.changes[commit],
                                                          statuses).items():
            if after is None or before == after:
                continue
            explained = any(t.subject == subject and t.target == after for t in lines.transitions) \
                or (subject, after) in events_by_commit.get(commit, [])
            if not explained:
                problems.append(HistoryProblem(
                    "untracked_change", commit, subject,
                    f"{commit[:7]} changes {subject} {before or 'none'}->{after} without a "
                    "Flow-Transition trailer", before, after))
    return problems


def _unresolved(git: GitReader, history: History,
                problems: list[HistoryProblem]) -> list[HistoryProblem]:
    """Drop the changes a later ``recover`` (or ``import``) of the same subject settled."""
    settled: dict[str, list[str]] = {}
    for event in history.events({p.id for p in problems if p.id}):
        if event.counts and event.action in AUTHORITATIVE:
            settled.setdefault(event.subject, []).append(event.commit)
    kept = []
    for problem in problems:
        later = [c for c in settled.get(problem.id or "", []) if c != problem.commit]
        if not any(git.run("merge-base", "--is-ancestor", problem.commit, commit).returncode == 0
                   for commit in later):
            kept.append(problem)
    return kept


def _trailers_without_change(git: GitReader, history: History, files_history: FileHistory,
                             statuses: dict[str, str | None]) -> list[HistoryProblem]:
    last_target: dict[tuple[str, str], tuple[str | None, str, str]] = {}
    for event in history.events():
        if event.kind == "transition" and event.action not in AUTHORITATIVE:
            last_target[(event.commit, event.subject)] = (event.source, event.target,
                                                          event.transition_id)
    suspects: list[tuple[str, str, str | None, str]] = []
    for (commit, subject), (source, target, _) in last_target.items():
        after = _subject_statuses(files_history.changes.get(commit, []), statuses).get(subject)
        if after is None or after[1] != (None if target == "none" else target):
            suspects.append((commit, subject, source, target))
    if not suspects:
        return []
    merges = _merges(git, {commit for commit, *_ in suspects})
    return [HistoryProblem("trailer_without_change", commit, subject,
                           f"{commit[:7]} records {subject} {source or 'none'}->{target} but "
                           "does not change its file to match", source, target)
            for commit, subject, source, target in suspects if commit not in merges]


def _landings_not_done(history: History) -> list[HistoryProblem]:
    """``Flow-Landed`` lines (issue #17) whose task was not done right after their commit: the
    landing did not bring its state (docs/landing.md)."""
    from git_flowctl.history.replay import EVENT_LANDED

    return [HistoryProblem("landed_not_done", event.commit, event.subject,
                           f"{event.commit[:7]} says {event.subject} landed, but it was "
                           f"{event.state_after or 'not there'} then", event.state_after,
                           event.state_after)
            for event in history.events() if event.kind == EVENT_LANDED
            and event.state_after != "done"]


def _merges(git: GitReader, commits: set[str]) -> set[str]:
    """Which of these commits are merges (their changes are not in the file history)."""
    result = git.run("rev-list", "--no-walk", "--parents", *sorted(commits), "--")
    return {line.split()[0] for line in result.stdout.decode().splitlines()
            if len(line.split()) > 2}


# The repair --------------------------------------------------------------------------------------


def build_recovery(diagnosis: Diagnosis, actor: str) -> Callable[[Any], Any]:
    """A builder for ``Writer.apply`` given the base's source (``Writer(load=...)``), not a Plan:
    the tree being repaired may not load as one. One commit restores and corrects every
    fixable file."""
    from git_flowctl.model.items import EPIC_KEY_ORDER, TASK_KEY_ORDER
    from git_flowctl.repo.writer import Change

    def build(source: Any) -> Change:
        tree = getattr(getattr(source, "tree", None), "id", None)
        if str(tree) != str(diagnosis.head_tree) and diagnosis.head_tree is not None:
            raise ConflictError("the branch moved while recovering",
                                hint="run `git flow-task recover` again")
        writes: dict[str, bytes | None] = {}
        transitions: list[Transition] = []
        restored: list[str] = []
        updated: list[str] = []
        for item in diagnosis.fixable:
            order = TASK_KEY_ORDER if item.id and "." in item.id else EPIC_KEY_ORDER
            if item.kind == "deleted":
                assert item.restore_blob is not None
                content = diagnosis.blobs[item.restore_blob]
                if item.id is not None and item.history_status is not None:
                    content = _with_status(content, item.path, item.history_status, order)
                    transitions.append(Transition(item.id, None, item.history_status, "recover",
                                                  actor, new_ulid()))
                writes[item.path] = content
                restored.append(item.path)
            elif item.kind == "status" and item.id is not None and item.history_status:
                current = source.read(item.path)
                if current is None:
                    raise ConflictError(f"{item.path} is not committed",
                                        hint="commit it first, then run recover again")
                writes[item.path] = _with_status(current, item.path, item.history_status, order)
                transitions.append(Transition(item.id, item.file_status, item.history_status,
                                              "recover", actor, new_ulid()))
                updated.append(item.path)
            elif item.kind == "untracked_file" and item.id is not None and item.file_status:
                # <status>-><status>: history learns the status the file has, which stays.
                transitions.append(Transition(item.id, item.file_status, item.file_status,
                                              "recover", actor, new_ulid()))
                updated.append(item.path)
        count = len(restored) + len(updated)
        change = Change(f"flow: recover {count} file{'s' if count != 1 else ''} from history",
                        writes, transitions,
                        result={"restored": restored, "updated": updated})
        change.restores = frozenset(restored)
        change.allow_empty = any(item.kind == "untracked_file" for item in diagnosis.fixable)
        return change

    return build


def _with_status(content: bytes, path: str, status: str, order: tuple[str, ...]) -> bytes:
    if status_of(content) == status:
        return content
    doc = Document.parse(content, path)
    doc.data["status"] = status
    return doc.render(order)
