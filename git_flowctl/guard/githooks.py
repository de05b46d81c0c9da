"""The git hooks (DESIGN §5), each a thin caller of the one validator.

- pre-commit: the staged ``.flow/`` against HEAD (and MERGE_HEAD during a merge). No message
  exists yet, so trailers are not required; the ones already known (a ``--no-commit`` chain, a
  squash message, a revert) explain multi-step changes.
- prepare-commit-msg: appends the ``Flow-Transition`` lines for staged status changes the
  message does not explain yet (the ``--no-commit`` lines, else one inferred from the table), and
  ``Flow-Task: ID`` for the actor's in-progress tasks when ``link_commits`` is on.
- commit-msg: the message's trailers and the staged changes agree (every rule, strictly).
- pre-push: every commit being pushed, and the pushed tree, against the same rules.

The repository is opened with ``GIT_INDEX_FILE`` honoured (``Workspace(from_env=True)``): during
``git commit -a`` git stages into a temporary index and only that one holds the commit-to-be.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from git_flowctl.guard.validate import (
    Finding,
    History,
    ItemStore,
    Snapshot,
    actions_for,
    changed_subjects,
    check_change,
    errors_in,
    find_chain,
    invert,
    invert_renames,
    new_findings,
    shallow_commits,
)
from git_flowctl.model.trailers import (
    TASK_KEY,
    Rename,
    Trailers,
    Transition,
    parse_lines,
    parse_message,
)
from git_flowctl.model.ulid import new_ulid
from git_flowctl.repo import pending
from git_flowctl.repo.gitindex import open_index
from git_flowctl.repo.sources import IndexSource, TreeSource

if TYPE_CHECKING:
    import pygit2

    from git_flowctl.guard.records import GapStates
    from git_flowctl.repo.workspace import Workspace

ZERO_SHA = re.compile(r"^0+$")


@dataclass
class HookResult:
    hook: str
    findings: list[Finding] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # prepare-commit-msg
    commits: list[str] = field(default_factory=list)  # pre-push: commits checked

    @property
    def ok(self) -> bool:
        return not errors_in(self.findings)


@dataclass
class _Staged:
    """The commit about to be made: its parents and the index it records."""

    head: pygit2.Commit | None
    parent_commits: list[pygit2.Commit]
    parents: list[Snapshot]
    after: Snapshot
    source: IndexSource  # what ``after`` was read from


def _head_commit(repo: pygit2.Repository) -> pygit2.Commit | None:
    import pygit2

    try:
        return repo.head.peel(pygit2.Commit)
    except (pygit2.GitError, KeyError, ValueError):
        return None  # unborn branch


def _commits_in(ws: Workspace, name: str) -> list[pygit2.Commit]:
    import pygit2

    try:
        lines = (ws.git_dir / name).read_text().split()
    except FileNotFoundError:
        return []
    found = []
    for sha in lines:
        try:
            found.append(ws.repo[sha].peel(pygit2.Commit))
        except (KeyError, ValueError, pygit2.GitError):
            continue
    return found


def _staged(ws: Workspace, history: History, *, amend: bool = False) -> _Staged:
    head = _head_commit(ws.repo)
    if amend and head is not None:
        parent_commits = list(head.parents)
    else:
        parent_commits = ([head] if head is not None else []) + _commits_in(ws, "MERGE_HEAD")
    source = IndexSource(ws.repo, open_index(ws), label="index")
    after = Snapshot.load(source, history.cache)
    parents = [history.snapshot(commit) for commit in parent_commits] or [Snapshot.empty()]
    return _Staged(head, parent_commits, parents, after, source)


def _staged_gaps(ws: Workspace, staged: _Staged, trailers: Trailers,
                 reverted: Sequence[Trailers]) -> GapStates | None:
    """The gaps the staged change touches or the message names (guard/records.py), against
    each parent; None when there are none. The index's gap files were listed with the plan's."""
    from git_flowctl.guard import records

    named = [*trailers.gaps, *(line for message in reverted for line in message.gaps)]
    parents = [TreeSource(ws.repo, commit.tree, str(commit.id)[:7])
               for commit in staged.parent_commits] or [TreeSource(ws.repo, None, "empty tree")]
    now = staged.after.gap_blobs if staged.after.gap_blobs is not None \
        else records.gap_entries(staged.source)
    changed: set[str] = set()
    for parent in parents:
        changed |= records.changed_gap_paths(records.gap_entries(parent), now)
    if not changed and not named:
        return None
    return records.gap_states(parents, staged.source, changed, named)


def _tree_findings(staged: _Staged) -> list[Finding]:
    """What the staged tree adds to the problems its parents already had."""
    before = [item for parent in staged.parents for item in parent.findings()]
    return new_findings(before, staged.after.findings())


def _live_pending(ws: Workspace, staged: _Staged) -> dict[str, pending.Entry]:
    entries = pending.read(ws.git_dir)
    if not entries:
        return {}
    head_tree = staged.head.tree if staged.head is not None else None
    head_source = TreeSource(ws.repo, head_tree, "HEAD")
    index_source = IndexSource(ws.repo, open_index(ws))
    committed = {path: head_source.blob_id(path) for path in entries}
    in_index = {path: index_source.blob_id(path) for path in entries}
    return pending.prune(ws.git_dir, committed, in_index)


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def clean_message(text: str, comment_char: str = "#") -> str:
    """The message as git will record it: without comment lines and the ``-v`` diff."""
    kept = []
    scissors = f"{comment_char} ------------------------ >8 ------------------------"
    for line in text.splitlines():
        if line.rstrip() == scissors:
            break
        if line.startswith(comment_char):
            continue
        kept.append(line)
    return "\n".join(kept)


def _comment_char(ws: Workspace) -> str:
    value = ws.config_value("core.commentChar") or ws.config_value("core.commentString") or "#"
    return "#" if value == "auto" else value


# pre-commit ------------------------------------------------------------------------------------


def pre_commit(ws: Workspace) -> HookResult:
    history = History(ws.repo, cache=ItemStore(ws.common_dir, ws.root))
    staged = _staged(ws, history)
    foreseen: list[Transition] = []
    evidence: set[str] = set()
    renames: list[Rename] = []
    texts = [parse_lines("\n".join(entry.lines)) for entry in _live_pending(ws, staged).values()]
    texts += [parse_message(_read_text(ws.git_dir / name)) for name in ("SQUASH_MSG", "MERGE_MSG")]
    for known in texts:
        foreseen.extend(known.transitions)
        foreseen.extend(history.reverted(known))
        evidence.update(item.subject for item in known.evidence)
        renames.extend([*known.renames, *history.reverted_renames(known)])
    for reverted in _commits_in(ws, "REVERT_HEAD"):
        undone = parse_message(reverted.message)
        foreseen.extend(invert(history.effect(undone)))  # a revert of a revert does it again
        renames.extend(invert_renames([*undone.renames, *history.reverted_renames(undone)]))
    findings = check_change(staged.parents, staged.after, message=None, foreseen=foreseen,
                            foreseen_evidence=evidence, renames=renames)
    findings.extend(_tree_findings(staged))
    history.close()
    return HookResult("pre-commit", findings)


# prepare-commit-msg ------------------------------------------------------------------------------


def prepare_commit_msg(ws: Workspace, message_file: Path, source: str | None = None,
                       sha: str | None = None) -> HookResult:
    history = History(ws.repo, cache=ItemStore(ws.common_dir, ws.root))
    head = _head_commit(ws.repo)
    amend = source == "commit" and head is not None and sha is not None and str(head.id).startswith(sha)
    staged = _staged(ws, history, amend=amend)
    text = _read_text(message_file)
    existing = parse_message(clean_message(text, _comment_char(ws)))
    present = {item.id for item in existing.transitions}
    present_lines = {line.strip() for line in text.splitlines()}
    live = _live_pending(ws, staged)
    index = IndexSource(ws.repo, open_index(ws))
    lines: list[str] = []

    def add(candidates: Iterable[str]) -> None:
        for line, transition_id in _with_ids(candidates):
            if line.strip() not in present_lines and (transition_id is None or transition_id not in present):
                lines.append(line)

    # What a --no-commit command wrote is exactly what is staged: its lines describe it.
    for path, exact in sorted(live.items()):
        if exact.blob == index.blob_id(path):
            add(exact.lines)
    known = parse_lines("\n".join(lines))
    explained = [*existing.transitions, *history.reverted(existing), *known.transitions]
    renames = [*existing.renames, *history.reverted_renames(existing), *known.renames]
    actor: str | None = None
    for subject, (olds, new) in sorted(changed_subjects(staged.parents, staged.after, renames).items()):
        if new is None or _explains([t for t in explained if t.subject == subject], olds, new):
            continue
        item = staged.after.item(subject)
        entry = live.get(item.path) if item is not None else None
        if entry is not None:  # staged content changed since, but the chain still fits
            waiting = parse_lines("\n".join(entry.lines))
            if _explains([t for t in waiting.transitions if t.subject == subject], olds, new):
                add(entry.lines)
                continue
        kind = "task" if item is not None and item.kind == "task" else "epic"
        candidates = actions_for(kind, olds[0], new)
        if len(candidates) == 1:
            actor = actor or ws.actor()
            lines.append(Transition(subject, olds[0], new, candidates[0], actor, new_ulid()).line())
    if staged.after.config.link_commits:
        actor = actor or ws.actor()
        moving = {item.subject for item in parse_lines("\n".join(lines)).transitions}
        for task_id, task in sorted(staged.after.tasks.items()):
            if task.status == "in_progress" and task.assignee == actor \
                    and task_id not in existing.task_refs and task_id not in moving:
                lines.append(f"{TASK_KEY}: {task_id}")
    lines = list(dict.fromkeys(lines))
    if lines:
        _append_trailers(message_file, lines)
    return HookResult("prepare-commit-msg", added=lines)


def _explains(transitions: Sequence[Transition], olds: Iterable[str | None], new: str | None) -> bool:
    return bool(transitions) and any(find_chain(transitions, old, new) is not None for old in olds)


def _with_ids(lines: Iterable[str]) -> list[tuple[str, str | None]]:
    result: list[tuple[str, str | None]] = []
    for line in lines:
        parsed = parse_lines(line).transitions
        result.append((line, parsed[0].id if parsed else None))
    return result


def _append_trailers(message_file: Path, lines: list[str]) -> None:
    args = ["git", "interpret-trailers", "--in-place", "--if-exists", "add", "--no-divider"]
    for line in lines:
        args += ["--trailer", line]
    result = subprocess.run([*args, str(message_file)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        from git_flowctl.model.errors import FlowError

        raise FlowError(f"could not add the trailers to the message: {result.stderr.strip()}",
                        hint="add them by hand:\n" + "\n".join(lines))


# commit-msg ------------------------------------------------------------------------------------


def commit_msg(ws: Workspace, message_file: Path) -> HookResult:
    history = History(ws.repo, cache=ItemStore(ws.common_dir, ws.root))
    text = clean_message(_read_text(message_file), _comment_char(ws))
    trailers = parse_message(text)
    head = _head_commit(ws.repo)
    staged = _staged(ws, history, amend=_looks_like_amend(trailers, head))
    reverted = history.reverted_messages(trailers)
    findings = check_change(staged.parents, staged.after, message=trailers,
                            foreseen=history.reverted(trailers),
                            renames=history.reverted_renames(trailers),
                            gaps=_staged_gaps(ws, staged, trailers, reverted), reverted=reverted)
    findings.extend(_tree_findings(staged))
    history.close()
    return HookResult("commit-msg", findings)


def _looks_like_amend(trailers: Trailers, head: pygit2.Commit | None) -> bool:
    """`git commit --amend` keeps HEAD's trailers and replaces HEAD: the parents are HEAD's.

    git does not tell a commit-msg hook that it amends; a message that repeats a transition,
    gap or review line's ID of HEAD's own message does (IDs are unique per line).
    """
    def line_ids(message: Trailers) -> set[str]:
        return {item.id for item in message.transitions} | {item.id for item in message.gaps} \
            | {item.id for item in message.reviews}

    mine = line_ids(trailers)
    if head is None or not mine:
        return False
    return bool(mine & line_ids(parse_message(head.message)))


# pre-push --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefUpdate:
    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str


def parse_push_lines(lines: Iterable[str]) -> list[RefUpdate]:
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4:
            updates.append(RefUpdate(*parts))
    return updates


def _updates_from_pre_commit_env(ws: Workspace) -> list[RefUpdate]:
    """The pre-commit framework consumes stdin and passes the first ref through the environment.

    A push that contains a root commit gets no from/to refs there, only the local branch: it is
    checked as a new branch.
    """
    local_ref = os.environ.get("PRE_COMMIT_LOCAL_BRANCH")
    to_ref = os.environ.get("PRE_COMMIT_TO_REF") or local_ref
    if not to_ref:
        return []
    from_ref = os.environ.get("PRE_COMMIT_FROM_REF")
    remote_ref = os.environ.get("PRE_COMMIT_REMOTE_BRANCH") or local_ref or "HEAD"
    zeros = "0" * 40
    return [RefUpdate(local_ref or "HEAD", _rev(ws, to_ref) or zeros, remote_ref,
                      (_rev(ws, from_ref) or zeros) if from_ref else zeros)]


def _rev(ws: Workspace, rev: str) -> str | None:
    import pygit2

    try:
        return str(ws.repo.revparse_single(rev).id)
    except (KeyError, ValueError, pygit2.GitError):
        return None


def _remote_default(ws: Workspace, remote: str | None, configured: str | None) -> pygit2.Oid | None:
    refs = ws.repo.references
    if not remote:
        found = ws.default_branch(configured)
        target = refs[found].resolve().target if found else None
        return target if not isinstance(target, str) else None
    names = []
    if configured:
        names.append(f"refs/remotes/{remote}/{configured}")
    head_ref = f"refs/remotes/{remote}/HEAD"
    if head_ref in refs:
        names.append(head_ref)
    names += [f"refs/remotes/{remote}/main", f"refs/remotes/{remote}/master"]
    for name in names:
        if name in refs:
            target = refs[name].resolve().target
            return target if not isinstance(target, str) else None
    return None


def pre_push(ws: Workspace, remote: str | None, lines: Iterable[str]) -> HookResult:
    import pygit2

    updates = parse_push_lines(lines) or _updates_from_pre_commit_env(ws)
    history = History(ws.repo, shallow_commits(ws.common_dir), ItemStore(ws.common_dir, ws.root))
    result = HookResult("pre-push")
    for update in updates:
        if ZERO_SHA.match(update.local_sha) or update.remote_ref.startswith("refs/flow/") \
                or update.local_ref.startswith("refs/flow/"):
            continue  # a deleted ref, or a claim ref (DESIGN §6)
        try:
            local = ws.repo[update.local_sha].peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            continue  # not a commit (a tag of a blob, say): nothing of ours to check
        hide: list[pygit2.Oid] = []
        baseline: Snapshot | None = None
        remote_commit = None
        if not ZERO_SHA.match(update.remote_sha):
            try:
                remote_commit = ws.repo[update.remote_sha].peel(pygit2.Commit)
            except (KeyError, ValueError, pygit2.GitError):
                remote_commit = None  # the remote has commits we never fetched
        if remote_commit is not None:
            hide.append(remote_commit.id)
            baseline = history.snapshot(remote_commit)
        else:
            config = history.snapshot(local).config
            default = _remote_default(ws, remote, config.get("default_branch"))
            base = ws.repo.merge_base(local.id, default) if default is not None else None
            if base is not None:
                hide.append(base)
                baseline = history.snapshot(ws.repo[base].peel(pygit2.Commit))
            else:
                for ref in ws.repo.references:
                    if remote and ref.startswith(f"refs/remotes/{remote}/"):
                        target = ws.repo.references[ref].resolve().target
                        if not isinstance(target, str):
                            hide.append(target)
        report = history.check_range(local, hide, tree_baseline=baseline)
        result.commits.extend(check.commit for check in report.commits)
        result.findings.extend(_unpushed_hint(item) for item in report.findings())
    history.close()
    return result


def _unpushed_hint(item: Finding) -> Finding:
    """A refused commit is not on the remote yet: the way out is to rewrite it, not a new commit
    (pre-push checks every commit of the push, so a later repair leaves this one refused)."""
    if item.commit is None or not item.is_error:
        return item
    short = item.commit[:7]
    rule_hint = _FORCE_REPAIR.sub("", item.hint or "").strip(" ;")
    return replace(item, hint=f"{short} is not pushed yet: rewrite it (`git rebase -i {short}^`, "
                              f"then edit or drop it) and push again"
                              + (f" ({rule_hint})" if rule_hint else ""))


# The commit-time advice ("record a repair with --force") cannot help a commit already made.
_FORCE_REPAIR = re.compile(r"[;,]?\s*a repair is recorded with (?:the command's )?--force")
