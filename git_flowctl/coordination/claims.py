"""Claims: who works on which task, shared by every worktree and, through a remote, every clone.

A claim is the ref ``refs/flow/claims/<task-id>``, created only if it is absent. Refs live in the
repository's common directory, so every worktree sees the same ones and two of them cannot both
create it. The ref points at a small commit (empty tree, no parents) whose one ``Flow-Claim``
trailer says who holds the task, since when, until when the lease runs and on which branch the
transitions are recorded. ``done`` turns it into a record that the task is finished on that branch
(naming the commit); ``release``, ``fail`` and ``block`` give the task back (the ref goes).

With a remote (``claims.remote`` in config.yaml, or ``--remote``) the remote is the arbiter: the
ref is pushed create-only (``--force-with-lease=<ref>:`` with ``--atomic``), later changes are
pushed with a lease on the value last seen there, and what the remote has is mirrored under
``refs/flow/remote-claims/<remote>/``. docs/claims.md tells the whole story.

Every change of a local claim ref is a compare-and-swap under the ref's lock (a libgit2
transaction: lock, read, compare, write), so a lost race is always detected, never overwritten.
Reading needs no lock: ``ready`` and ``next`` list every claim with one ``git for-each-ref``
(``read_namespaces``) and never import pygit2.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from git_flowctl.coordination import claimview
from git_flowctl.model import states
from git_flowctl.model.config import CONFIG_PATH, Config
from git_flowctl.model.errors import ConflictError, FlowError, UsageError
from git_flowctl.model.ulid import new_ulid

if TYPE_CHECKING:
    import pygit2

    from git_flowctl.changes.ops import Context
    from git_flowctl.model.items import Task
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.repo.writer import Builder, Mode, Outcome, Writer

CLAIMS_PREFIX = "refs/flow/claims/"
REMOTE_CLAIMS_PREFIX = "refs/flow/remote-claims/"
HELD = "held"
FINISHED = "done"
_LOCK_ATTEMPTS = 400  # ~ 2 s of retries while another process holds a claim ref's lock
_PUSH_WAIT = 10.0  # seconds a claim's push to the remote may take before it is taken as local


def claim_ref(task_id: str) -> str:
    return f"{CLAIMS_PREFIX}{task_id}"


def remote_claim_ref(remote: str, task_id: str) -> str:
    return f"{REMOTE_CLAIMS_PREFIX}{remote}/{task_id}"


def claims_refspec(remote: str) -> str:
    """The fetch refspec that mirrors a remote's claims (never over the local ones)."""
    return f"+{CLAIMS_PREFIX}*:{REMOTE_CLAIMS_PREFIX}{remote}/*"


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> float | None:
    """A lease's ``until`` as a Unix time (claimview.lease_end: the lean reads use it too)."""
    return claimview.lease_end(text or None)


class ClaimTakenError(ConflictError):
    """The task is held by someone else (or finished on another branch): exit 3, holder named."""


# The record -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One claim (``state=held``) or finished record (``state=done``) as read from its commit."""

    task: str
    state: str
    holder: str
    since: str
    branch: str
    until: str | None = None  # lease expiry (held claims)
    commit: str | None = None  # the done transition (finished records); None when only staged
    finished: str | None = None
    host: str | None = None
    repo: str | None = None  # the repository that made it (Workspace.repository_id)
    nonce: str = ""
    oid: str | None = None  # the claim commit the ref points at
    where: str = "local"  # "local", or the remote it was mirrored from

    @classmethod
    def held(cls, task: str, holder: str, branch: str, lease_seconds: int,
             *, since: str | None = None, repo: str | None = None) -> Claim:
        now = time.time()
        return cls(task, HELD, holder, since or iso(now), branch,
                   until=iso(math.ceil(now + lease_seconds)), host=_hostname(), repo=repo,
                   nonce=new_ulid())

    def finished_record(self, branch: str, commit: str | None, repo: str | None) -> Claim:
        return replace(self, state=FINISHED, until=None, branch=branch, commit=commit,
                       finished=iso(time.time()), host=_hostname(), repo=repo,
                       nonce=new_ulid(), oid=None, where="local")

    def renewed(self, lease_seconds: int) -> Claim:
        fresh = Claim.held(self.task, self.holder, self.branch, lease_seconds, since=self.since,
                           repo=self.repo)
        return replace(fresh, host=self.host or fresh.host)

    @property
    def is_finished(self) -> bool:
        return self.state == FINISHED

    def expires_in(self, now: float | None = None) -> float | None:
        until = parse_iso(self.until)
        if self.is_finished or until is None:
            return None
        return until - (time.time() if now is None else now)

    def expired(self, now: float | None = None) -> bool:
        left = self.expires_in(now)
        return left is not None and left <= 0

    def message(self) -> str:
        pairs = {"state": self.state, "holder": self.holder, "since": self.since}
        if self.until:
            pairs["until"] = self.until
        if self.finished:
            pairs["finished"] = self.finished
        pairs["branch"] = self.branch
        if self.commit:
            pairs["commit"] = self.commit
        if self.host:
            pairs["host"] = self.host
        if self.repo:
            pairs["repo"] = self.repo
        pairs["id"] = self.nonce or new_ulid()
        verb = "finished" if self.is_finished else "claim"
        from git_flowctl.model.trailers import format_claim

        return f"flow: {verb} {self.task} by {self.holder}\n\n{format_claim(self.task, pairs)}\n"

    @classmethod
    def from_message(cls, task: str, message: str, oid: str, where: str = "local") -> Claim:
        pairs = claimview.claim_fields(task, message)
        if pairs is None:
            # Not ours to interpret: treat it as held by nobody we know, so nothing takes it.
            return cls(task, HELD, claimview.UNREADABLE, "", "", oid=oid, where=where)
        return cls(task, pairs.get("state", HELD), pairs.get("holder", "?"), pairs.get("since", ""),
                   pairs.get("branch", ""), until=pairs.get("until"), commit=pairs.get("commit"),
                   finished=pairs.get("finished"), host=pairs.get("host"),
                   repo=pairs.get("repo"), nonce=pairs.get("id", ""), oid=oid, where=where)

    def describe(self) -> str:
        """``bob (since ..., on refs/heads/x)`` for messages."""
        if self.is_finished:
            at = f" at {self.commit[:12]}" if self.commit else " (staged, not yet committed)"
            return f"finished by {self.holder} on {short_branch(self.branch)}{at}"
        lease = ""
        left = self.expires_in()
        if left is not None:
            lease = f", lease expired at {self.until}" if left <= 0 else f", lease until {self.until}"
        return f"claimed by {self.holder} (since {self.since} on {short_branch(self.branch)}{lease})"

    def as_json(self, now: float | None = None) -> dict[str, Any]:
        left = self.expires_in(now)
        return {
            "id": self.task, "state": self.state, "holder": self.holder, "claimed_at": self.since,
            "lease_until": self.until, "expires_in": None if left is None else round(left),
            "stale": bool(left is not None and left <= 0), "branch": self.branch,
            "commit": self.commit, "finished_at": self.finished, "host": self.host,
            "repository": self.repo, "where": self.where, "ref": claim_ref(self.task),
        }


def _hostname() -> str:
    import socket  # only writing or comparing a claim needs it: `ready` and `next` start faster

    return socket.gethostname()


short_branch = claimview.short_branch


def current_branch(repo: pygit2.Repository) -> str:
    """The ref transitions go to: ``refs/heads/x``, or ``HEAD@<sha>`` when detached."""
    import pygit2

    head = repo.lookup_reference("HEAD")
    if head.type == pygit2.enums.ReferenceType.SYMBOLIC:
        return str(head.target)
    return f"HEAD@{str(head.target)[:12]}"


# Local refs -------------------------------------------------------------------------------------


class _Mismatch(Exception):
    pass


class ClaimRefs:
    """Claim refs in one namespace of the local repository, changed only by compare-and-swap."""

    def __init__(self, ws: Workspace, prefix: str = CLAIMS_PREFIX, where: str = "local") -> None:
        self.ws = ws
        self.prefix = prefix
        self.where = where

    @property
    def repo(self) -> pygit2.Repository:
        return self.ws.repo

    def name(self, task_id: str) -> str:
        return f"{self.prefix}{task_id}"

    def target(self, task_id: str) -> str | None:
        try:
            return str(self.repo.references[self.name(task_id)].target)
        except (KeyError, ValueError):
            return None

    def read(self, task_id: str) -> Claim | None:
        oid = self.target(task_id)
        return None if oid is None else self._load(task_id, oid)

    def _load(self, task_id: str, oid: str) -> Claim:
        import pygit2

        try:
            commit = self.repo[oid]
            message = commit.message if isinstance(commit, pygit2.Commit) else ""
        except (KeyError, ValueError):
            message = ""
        return Claim.from_message(task_id, message, oid, self.where)

    def all(self) -> list[Claim]:
        return read_namespaces([self])[0]

    def _all_from_repo(self) -> list[Claim]:
        found = []
        for name in self.repo.listall_references():
            if name.startswith(self.prefix):
                task_id = name[len(self.prefix):]
                oid = self.target(task_id)
                if oid is not None and "/" not in task_id:
                    found.append(self._load(task_id, oid))
        return sorted(found, key=lambda claim: claim.task)

    def write(self, claim: Claim) -> Claim:
        """Create the claim's commit object (nothing visible changes yet)."""
        import pygit2

        empty_tree = self.repo.TreeBuilder().write()
        stamp = int(time.time())
        signature = pygit2.Signature("git flow-task", "flow-task@localhost", stamp, 0)
        oid = self.repo.create_commit(None, signature, signature, claim.message(), empty_tree, [])
        return replace(claim, oid=str(oid), where=self.where)

    def swap(self, task_id: str, expected: str | None, new: str | None) -> bool:
        """Set the ref to ``new`` (None deletes) if it is ``expected`` (None: absent)."""
        import pygit2

        name = self.name(task_id)
        last_error: Exception | None = None
        for attempt in range(_LOCK_ATTEMPTS):
            try:
                with self.repo.transaction() as txn:
                    txn.lock_ref(name)
                    if self.target(task_id) != expected:
                        raise _Mismatch
                    if new is None:
                        if expected is not None:
                            txn.remove(name)
                    else:
                        txn.set_target(name, new, message="flow claim")
                return True
            except _Mismatch:
                return False
            except (pygit2.GitError, OSError) as exc:  # the lock is held: another racer
                last_error = exc
                time.sleep(min(0.001 * (attempt + 1), 0.01))
        from git_flowctl.repo.locks import stale_lock_error

        lock = self.ws.common_dir / f"{name}.lock"
        if lock.exists():  # held for seconds: a crashed git left it (exit 1, named)
            raise stale_lock_error(lock, f"the claim ref {name}")
        raise ConflictError(f"could not update {name}: {last_error}",
                            hint="another git flow-task may be changing it; try again")

    def set_mirror(self, task_id: str, oid: str | None) -> None:
        """Force a mirror ref to what the remote was seen to hold (no compare)."""
        for _ in range(5):
            if self.swap(task_id, self.target(task_id), oid):
                return


def read_namespaces(namespaces: list[ClaimRefs]) -> list[list[Claim]]:
    """Every claim of each namespace (each sorted by task), all of one workspace: through
    pygit2 when the command has it open, else with one ``git for-each-ref`` for all of them
    (their names, targets and commit messages), so ``ready`` and ``next`` need no pygit2."""
    ws = namespaces[0].ws
    if ws.repo_is_open:
        return [refs._all_from_repo() for refs in namespaces]
    listed = ws.reader.refs(*(refs.prefix for refs in namespaces), messages=True)
    return claimview.namespace_claims(listed, [(refs.prefix, refs.where) for refs in namespaces],
                                      Claim.from_message)


# The remote -------------------------------------------------------------------------------------


@dataclass
class PushResult:
    ok: bool
    rejected: bool = False  # the remote refused: the lease did not match (someone else won)
    problem: str | None = None  # why it could not be reached


# `git push --porcelain` status flags, and the reasons of a refusal that mean "someone else won".
_PORCELAIN_FLAGS = ("*\t", "+\t", "-\t", " \t", "=\t", "!\t")
_LOST_RACE = ("stale info", "atomic", "lock", "fetch first", "non-fast-forward", "already exists",
              "failed to update")


class RemoteClaims:
    """The claim refs of one git remote: create-only and leased pushes, and a mirror of them.

    ``prefix`` and ``mirror_prefix`` name another namespace of refs kept the same way (the
    epic numbers of reservations.py)."""

    def __init__(self, ws: Workspace, name: str, prefix: str = CLAIMS_PREFIX,
                 mirror_prefix: str = REMOTE_CLAIMS_PREFIX) -> None:
        self.ws = ws
        self.name = name
        self.prefix = prefix
        self.mirror = ClaimRefs(ws, f"{mirror_prefix}{name}/", where=name)

    def exists(self) -> bool:
        return self.ws.config_value(f"remote.{self.name}.url") is not None

    def _git(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": os.environ.get(
            "GIT_SSH_COMMAND", "ssh -o BatchMode=yes")}
        return self.ws.git(*args, check=False, env=env)

    def push(self, task_id: str, expected: str | None, new: str | None) -> PushResult:
        """One atomic push of the claim ref, leased on ``expected`` (None: must not exist)."""
        ref = f"{self.prefix}{task_id}"
        result = self._git("push", "--porcelain", "--atomic", "--no-verify",
                           f"--force-with-lease={ref}:{expected or ''}", self.name,
                           f"{new or ''}:{ref}")
        out = result.stdout.decode("utf-8", errors="replace")
        status = [line for line in out.splitlines() if line[:2] in _PORCELAIN_FLAGS]
        refused = [line for line in status if line.startswith("!")]
        if result.returncode == 0 and status and not refused:
            self.mirror.set_mirror(task_id, new)
            return PushResult(ok=True)
        if refused:
            reason = refused[0].split("\t")[-1]
            if any(word in reason for word in _LOST_RACE):
                return PushResult(ok=False, rejected=True)
            return PushResult(ok=False, problem=f"the remote refused {ref}: {reason}")
        error = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
        return PushResult(ok=False, problem=error[-1] if error else f"git push exited {result.returncode}")

    def fetch(self, task_id: str | None = None) -> str | None:
        """Refresh the mirror (all claims, pruned; or one); returns a problem, None when fine."""
        if task_id is None:
            refspec = f"+{self.prefix}*:{self.mirror.prefix}*"
            result = self._git("fetch", "--quiet", "--no-tags", "--prune", "--no-write-fetch-head",
                               "--no-auto-maintenance", self.name, refspec)
        else:
            refspec = f"+{self.prefix}{task_id}:{self.mirror.name(task_id)}"
            result = self._git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                               "--no-auto-maintenance", self.name, refspec)
            if result.returncode != 0 and b"couldn't find remote ref" in result.stderr:
                self.mirror.set_mirror(task_id, None)
                return None
        if result.returncode != 0:
            error = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
            return error[-1] if error else f"git fetch exited {result.returncode}"
        return None

    def read(self, task_id: str) -> Claim | None:
        return self.mirror.read(task_id)


def ensure_claims_refspec(ws: Workspace, remote: str) -> bool:
    """Add the fetch refspec mirroring ``remote``'s claims (for plain `git fetch`); True if added.

    Called by ``init --remote``, ``config set claims.remote`` and ``hooks install``. The
    mirror lives under refs/flow/remote-claims/<remote>/ so a fetch never overwrites a local claim.
    """
    if ws.config_value(f"remote.{remote}.url") is None:
        raise FlowError(f"no git remote named {remote!r}",
                        hint=f"add it first (`git remote add {remote} URL`)")
    refspec = claims_refspec(remote)
    existing = ws.git("config", "--get-all", f"remote.{remote}.fetch", check=False)
    if refspec in existing.stdout.decode("utf-8", errors="replace").splitlines():
        return False
    ws.git("config", "--add", f"remote.{remote}.fetch", refspec)
    return True


# The facade the commands and the scheduler use -------------------------------------------------


@dataclass
class Acquired:
    """A claim just taken: enough to roll it back if the transition then fails."""

    claim: Claim
    previous: Claim | None  # what the local ref held before (a reclaimed claim)
    remote_previous: str | None = None
    remote_taken: Claim | None = None  # the remote's claim this one replaced (a reclaim)
    pushed: bool = False
    note: str | None = None
    remote: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = self.claim.as_json()
        taken = self.previous or self.remote_taken
        data.update(scope="remote" if self.pushed else "local", remote=self.remote, note=self.note,
                    reclaimed_from=taken.holder if taken else None)
        return data


@dataclass
class Claims:
    """Claims of one workspace, with the lease length and the remote (if any) from config."""

    ws: Workspace
    lease_seconds: int = 3600
    remote_name: str | None = None
    local: ClaimRefs = field(init=False)
    remote: RemoteClaims | None = field(init=False, default=None)
    remote_problem: str | None = field(init=False, default=None)
    # Per default branch commit: the tasks whose flow/ branch it does not hold (``landed``).
    _unmerged: dict[str, set[str]] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.local = ClaimRefs(self.ws)
        if self.remote_name:
            remote = RemoteClaims(self.ws, self.remote_name)
            if remote.exists():
                self.remote = remote
            else:
                self.remote_problem = f"no git remote named {self.remote_name!r}"

    @classmethod
    def open(cls, ws: Workspace, remote: str | None = None, config: Config | None = None) -> Claims:
        """Settings from the work tree's config.yaml; ``remote`` (--remote) overrides it."""
        if config is None:
            config = Config.parse(ws.work_tree_source().read(CONFIG_PATH))
        lease = config.get("claims.lease_seconds")
        if not isinstance(lease, int) or isinstance(lease, bool) or lease < 0:
            raise FlowError(f"claims.lease_seconds must be a whole number of seconds, not {lease!r}",
                            hint="git flow-task config set claims.lease_seconds 3600")
        name = remote if remote is not None else config.get("claims.remote")
        return cls(ws, lease, str(name) if name else None)

    # Reading ---------------------------------------------------------------------------------

    @property
    def local_only_note(self) -> str:
        if self.remote_name is None:
            return "claim is local only: no claims.remote configured"
        return f"claim is local only: {self.remote_problem}"

    def refresh(self) -> str | None:
        """Fetch the remote's claims into the mirror; the problem when it cannot be reached."""
        if self.remote is None:
            return self.remote_problem
        problem = self.remote.fetch()
        self.remote_problem = problem and f"remote {self.remote_name!r} unreachable ({problem})"
        return self.remote_problem

    def get(self, task_id: str) -> Claim | None:
        return self.local.read(task_id)

    def all(self) -> list[Claim]:
        """Every claim: the local ones, and the remote's (its mirror). Where both exist and
        differ, the remote decides (our own pushes keep the mirror in step, so a difference is
        someone else's change), unless the remote could not be reached."""
        namespaces = [self.local] if self.remote is None else [self.local, self.remote.mirror]
        listed = read_namespaces(namespaces)
        return claimview.merged(listed[0], listed[1] if self.remote is not None else None,
                                self.remote_problem)

    def held_map(self, actor: str, listed: list[Claim] | None = None) -> dict[str, str]:
        """For ``ready``/``next``: task -> holder (claimview.held_map says how); a finished
        record that nothing holds any more (``abandoned``) holds nothing. ``listed``: ``all()``
        read already by the caller."""
        return claimview.held_map(self.all() if listed is None else listed, actor, time.time(),
                                  self.ws.repository_id(create=False), self.abandoned)

    # Taking a claim --------------------------------------------------------------------------

    def is_own(self, claim: Claim, actor: str) -> bool:
        """Made by this actor in this repository (any of its worktrees). A claim of the same
        identity from another clone is someone else's: the repository ID tells them apart. A
        claim from before repository IDs falls back to the machine's name."""
        if claim.holder != actor:
            return False
        if claim.repo is None:
            return claim.host == _hostname()
        return claim.repo == self.ws.repository_id()

    def stale_here(self, claim: Claim, actor: str) -> bool:
        """The actor's own claim or record, made on this branch of this repository, that this
        branch's HEAD no longer bears out (the task is not in progress, or not done, there): the
        transition was reverted or reset away, so it speaks for nothing and the actor may claim
        or finish the task again. Anyone else, including the same identity in another clone
        (whose HEAD never had the transition), is still refused, except from an abandoned
        record (``abandoned``)."""
        if self.abandoned(claim):
            return True
        if claim.repo is None or not self.is_own(claim, actor) \
                or claim.branch != current_branch(self.ws.repo):
            return False
        expected = states.DONE if claim.is_finished else states.IN_PROGRESS
        return _status_at_head(self.ws, claim.task) != expected

    def abandoned(self, claim: Claim) -> bool:
        """A record of work finished on a detached HEAD of this repository whose commit no
        branch, no remote-tracking branch and no worktree's HEAD holds (or that is gone): that
        work can never land, so the record would hold the task forever (issue #13, finding 10)."""
        if not claim.is_finished or not claim.branch.startswith("HEAD@") \
                or claim.where != "local" or not claim.commit:
            return False
        if self.ws.git("cat-file", "-e", f"{claim.commit}^{{commit}}", check=False).returncode != 0:
            return True  # collected: nothing refers to it any more
        holders = self.ws.git("for-each-ref", "--count=1", "--contains", claim.commit,
                              "refs/heads/", "refs/remotes/", check=False)
        if holders.returncode != 0 or holders.stdout.strip():
            return False
        listing = self.ws.git("worktree", "list", "--porcelain", check=False).stdout.decode()
        heads = [line[5:] for line in listing.splitlines() if line.startswith("HEAD ")]
        return not any(self.ws.git("merge-base", "--is-ancestor", claim.commit, head,
                                   check=False).returncode == 0 for head in heads)

    def check_available(self, task_id: str, actor: str, *, reclaim: bool = False,
                        force: bool = False) -> None:
        """Refuse (exit 3) as ``acquire`` would, changing nothing (for --dry-run)."""
        current = self.local.read(task_id)
        if current is None and self.remote is not None:
            current = self.remote.read(task_id)
        if current is not None and not self.stale_here(current, actor):
            _check_takeover(current, actor, reclaim, force=force)

    def acquire(self, task_id: str, actor: str, branch: str, *, reclaim: bool = False,
                force: bool = False) -> Acquired:
        """Create the claim (or take over an expired one with ``reclaim``), locally then remotely.

        Raises ``ClaimTakenError`` naming the holder when the task is held or finished elsewhere.
        """
        claim = self.local.write(Claim.held(task_id, actor, branch, self.lease_seconds,
                                            repo=self.ws.repository_id()))
        previous: Claim | None = None
        for _ in range(_LOCK_ATTEMPTS):
            current = self.local.read(task_id)
            if current is not None and not self.stale_here(current, actor):
                arbiter = self._as_the_remote_has_it(current)
                if arbiter is None:
                    continue  # that claim lost its push and was given back: try again
                _check_takeover(arbiter, actor, reclaim, force=force)
            if self.local.swap(task_id, current.oid if current else None, claim.oid):
                previous = current
                break
        else:
            raise ConflictError(f"could not claim {task_id}: its claim ref kept changing")
        acquired = Acquired(claim, previous, remote=self.remote_name)
        try:
            self._acquire_remote(acquired, actor, reclaim, force)
        except BaseException:
            self._restore_local(acquired)
            raise
        return acquired

    def _as_the_remote_has_it(self, current: Claim) -> Claim | None:
        """A local claim that refuses us may be another worktree's whose push to the remote is
        still on its way and may lose: with a remote, the claim the remote holds decides (the
        arbiter), so wait until it holds one or the local claim goes (None: it was given back
        after losing). Without a remote, or when it cannot be reached, the local claim."""
        if self.remote is None or current.where != "local" or self.remote_problem:
            return current
        made = parse_iso(current.since) or 0.0
        # A claim older than a push can take was pushed or stayed local long ago: look once.
        deadline = time.monotonic() + max(0.0, min(_PUSH_WAIT, made + _PUSH_WAIT - time.time()))
        while True:
            if self.remote.fetch(current.task) is not None:
                return current
            theirs = self.remote.read(current.task)
            if theirs is not None:
                return theirs
            now = self.local.read(current.task)
            if now is None or now.oid != current.oid:
                return None
            if time.monotonic() > deadline:
                return current  # a claim made while the remote was out of reach: it stands
            time.sleep(0.02)

    def _acquire_remote(self, acquired: Acquired, actor: str, reclaim: bool, force: bool) -> None:
        task_id, oid = acquired.claim.task, acquired.claim.oid
        if self.remote is None:
            acquired.note = self.local_only_note
            return
        # Leased on what we replace locally (nothing, or the claim we reclaim); a refusal tells us
        # what the remote really holds.
        expected = acquired.previous.oid if acquired.previous else None
        for _ in range(5):
            result = self.remote.push(task_id, expected, oid)
            if result.ok:
                acquired.pushed, acquired.remote_previous = True, expected
                return
            if not result.rejected:
                self.remote_problem = f"remote {self.remote_name!r} unreachable ({result.problem})"
                acquired.note = self.local_only_note
                return
            problem = self.remote.fetch(task_id)
            if problem is not None:
                raise ConflictError(f"the remote refused the claim of {task_id}, and fetching "
                                    f"its holder failed: {problem}")
            current = self.remote.read(task_id)
            if current is not None and current.oid == oid:  # our push did land after all
                acquired.pushed, acquired.remote_previous = True, expected
                return
            if current is not None and not self.stale_here(current, actor):
                _check_takeover(current, actor, reclaim, remote=self.remote_name, force=force)
            acquired.remote_taken = current
            expected = current.oid if current else None
        raise ConflictError(f"could not claim {task_id} on {self.remote_name}: the ref kept changing")

    def rollback(self, acquired: Acquired) -> None:
        """Undo ``acquire`` (the transition failed): the claim and the commits agree again."""
        if acquired.pushed and self.remote is not None:
            self.remote.push(acquired.claim.task, acquired.claim.oid, acquired.remote_previous)
        self._restore_local(acquired)

    def _restore_local(self, acquired: Acquired) -> None:
        previous = acquired.previous.oid if acquired.previous else None
        self.local.swap(acquired.claim.task, acquired.claim.oid, previous)

    # Holding one -----------------------------------------------------------------------------

    def heartbeat(self, task_id: str, actor: str, *, force: bool = False) -> tuple[Claim, str | None]:
        """Extend the lease of the actor's claim; exit 3 when someone else holds it now."""
        for _ in range(_LOCK_ATTEMPTS):
            current = self.local.read(task_id)
            if current is None:
                if self.remote is not None:
                    self.remote.fetch(task_id)
                    theirs = self.remote.read(task_id)
                    if theirs is not None and not self.is_own(theirs, actor):
                        raise ClaimTakenError(f"{task_id} is {theirs.describe()} on {self.remote_name}",
                                              holder=theirs.holder, id=task_id)
                raise FlowError(f"{task_id} is not claimed here",
                                hint=f"`git flow-task start {task_id}` claims it")
            if current.is_finished:
                raise ClaimTakenError(f"{task_id} is {current.describe()}; there is no lease to extend",
                                      holder=current.holder, id=task_id)
            if current.holder != actor and not force:
                raise ClaimTakenError(f"{task_id} is {current.describe()}, not by {actor}",
                                      hint="your lease ran out and it was reclaimed; stop working "
                                           "on it (your changes are still in your branch)",
                                      holder=current.holder, id=task_id)
            renewed = self.local.write(current.renewed(self.lease_seconds))
            if self.local.swap(task_id, current.oid, renewed.oid):
                break
        else:
            raise ConflictError(f"could not extend the lease of {task_id}: its ref kept changing")
        note = self._push_change(task_id, current, renewed, actor)
        return renewed, note

    def _push_change(self, task_id: str, old: Claim, new: Claim | None, actor: str) -> str | None:
        """Bring the remote's claim from ``old`` (what we held) to ``new`` (None deletes).

        Raises ClaimTakenError (after putting the local claim back) when another actor holds it
        on the remote. Returns a note when the change stayed local."""
        if self.remote is None:
            return self.local_only_note if self.remote_name else None
        # Leased on the claim we held, never on the mirror: the mirror may show someone else's
        # claim, and a lease on it would overwrite theirs.
        expected: str | None = old.oid
        for _ in range(5):
            if new is None and expected is None:
                return None  # nothing there to delete
            result = self.remote.push(task_id, expected, new.oid if new else None)
            if result.ok:
                return None
            if not result.rejected:
                self.remote_problem = f"remote {self.remote_name!r} unreachable ({result.problem})"
                return f"changed locally only: {self.remote_problem}"
            problem = self.remote.fetch(task_id)
            if problem is not None:
                return f"changed locally only: fetching {self.remote_name} failed ({problem})"
            theirs = self.remote.read(task_id)
            ours = theirs is not None and (theirs.oid in (old.oid, new.oid if new else None)
                                           or _same_lineage(theirs, old))
            if theirs is not None and not ours:
                # Someone else changed it since we last held it: they own it now.
                with contextlib.suppress(ConflictError):
                    self.local.swap(task_id, new.oid if new else None, old.oid)
                raise ClaimTakenError(f"{task_id} is {theirs.describe()} on {self.remote_name}",
                                      holder=theirs.holder, id=task_id)
            if theirs is not None and new is not None and theirs.oid == new.oid:
                return None
            expected = theirs.oid if theirs else None
        raise ConflictError(f"could not update the claim of {task_id} on {self.remote_name}")

    def confirm(self, task_id: str, actor: str, *, force: bool = False) -> Claim | None:
        """Before ``done``: the actor still holds the claim (its lease is extended), else exit 3.

        None when there is no claim (work started before claims existed, or a --no-commit start
        whose claim was given back); ``finish`` then creates the record."""
        current = self.local.read(task_id)
        if current is None:
            if self.remote is not None and self.remote.fetch(task_id) is None:
                theirs = self.remote.read(task_id)
                if theirs is not None and (not self.is_own(theirs, actor) or theirs.is_finished) \
                        and not force:
                    raise ClaimTakenError(f"{task_id} is {theirs.describe()} on {self.remote_name}",
                                          holder=theirs.holder, id=task_id)
            return None
        if current.is_finished and not force and not self.stale_here(current, actor):
            raise ClaimTakenError(f"{task_id} is {current.describe()}", holder=current.holder,
                                  id=task_id)
        if current.is_finished:
            return current
        claim, _ = self.heartbeat(task_id, actor, force=force)
        return claim

    def finish(self, task_id: str, actor: str, branch: str, commit: str | None,
               confirmed: Claim | None) -> dict[str, Any]:
        """After ``done``: the claim becomes the record "finished on BRANCH at COMMIT"."""
        base = confirmed or Claim.held(task_id, actor, branch, 0)
        record = self.local.write(replace(base, holder=actor).finished_record(
            branch, commit, self.ws.repository_id()))
        expected = confirmed.oid if confirmed else None
        note: str | None = None
        if not self.local.swap(task_id, expected, record.oid):
            now = self.local.read(task_id)
            return {**record.as_json(), "scope": "none",
                    "note": f"the claim changed meanwhile ({now.describe() if now else 'gone'}); "
                            "the done transition is recorded, the claim ref was left alone"}
        try:
            note = self._push_change(task_id, confirmed or record, record, actor)
        except ClaimTakenError as lost:
            note = f"the remote's claim changed meanwhile: {lost.message}"
        return {**record.as_json(), "scope": "remote" if self.remote and not note else "local",
                "remote": self.remote_name, "note": note}

    # Giving one back -------------------------------------------------------------------------

    def check_holder(self, task_id: str, actor: str, action: str, *, force: bool = False) -> Claim | None:
        """Before release/fail/block: the claim (if any) is the actor's, else exit 3."""
        current = self.local.read(task_id)
        if current is not None and current.holder != actor and not force:
            raise ClaimTakenError(
                f"cannot {action} {task_id}: it is {current.describe()}",
                hint="only the holder gives a task back; --force overrides (recorded)",
                holder=current.holder, id=task_id)
        return current

    def drop(self, task_id: str, held: Claim | None, actor: str) -> dict[str, Any]:
        """Delete the claim the caller read (compare-and-swap), locally and on the remote."""
        if held is None:
            if self.remote is not None and self.remote.mirror.target(task_id) is not None:
                theirs = self.remote.read(task_id)
                if theirs is not None and self.is_own(theirs, actor):
                    held = theirs
            if held is None:
                return {"id": task_id, "released": False, "note": "there was no claim"}
        if held.where == "local" and not self.local.swap(task_id, held.oid, None):
            return {"id": task_id, "released": False,
                    "note": "the claim changed meanwhile; it was left alone"}
        try:
            note = self._push_change(task_id, held, None, actor)
        except ClaimTakenError as lost:
            note = f"the remote's claim changed meanwhile: {lost.message}"
        return {"id": task_id, "released": True, "holder": held.holder, "remote": self.remote_name,
                "note": note}

    # Records across branches -----------------------------------------------------------------

    def landed(self, claim: Claim, default_ref: str | None,
               default_plan: Plan | None) -> bool:
        """A finished record's work has reached the default branch: its commit is there, or
        (a squash merge, a --no-commit done) the default branch's tree says the task is done;
        and the task's ``flow/`` branch, if `run` left one, is merged there (landing.py)."""
        if not claim.is_finished or default_ref is None:
            return False
        import pygit2

        from git_flowctl.coordination.landing import unmerged_task_branches

        repo = self.ws.repo
        try:
            tip = repo.revparse_single(default_ref).peel(pygit2.Commit).id
        except (KeyError, ValueError, pygit2.GitError):
            return False
        unmerged = self._unmerged.get(str(tip))
        if unmerged is None:
            unmerged = self._unmerged[str(tip)] = unmerged_task_branches(self.ws, str(tip))
        if claim.task in unmerged:
            return False
        if claim.commit:
            with contextlib.suppress(KeyError, ValueError, pygit2.GitError):
                commit = pygit2.Oid(hex=claim.commit)
                if commit == tip or repo.descendant_of(tip, commit):
                    return True
        if default_plan is not None:
            task = default_plan.tasks.get(claim.task)
            return task is not None and task.status in states.FINISHED
        return False

    def prune(self, actor: str) -> list[dict[str, Any]]:
        """Remove the finished records whose work has landed on the default branch."""
        default_ref, default_plan = self.default_branch_plan()
        pruned = []
        for claim in self.all():
            if not self.landed(claim, default_ref, default_plan):
                continue
            if claim.where == "local":
                if not self.local.swap(claim.task, claim.oid, None):
                    continue
            else:
                assert self.remote is not None
                if self.remote.mirror.target(claim.task) != claim.oid:
                    continue
            try:
                note = self._push_change(claim.task, claim, None, actor)
            except ClaimTakenError as changed:
                note = changed.message
            pruned.append({**claim.as_json(), "note": note})
        return pruned

    def default_branch_plan(self) -> tuple[str | None, Plan | None]:
        from git_flowctl.repo.plan import Plan

        config = Config.parse(self.ws.work_tree_source().read(CONFIG_PATH))
        configured = config.get("default_branch")
        default_ref = self.ws.default_branch(str(configured) if configured else None)
        if default_ref is None:
            return None, None
        try:
            return default_ref, Plan.load(self.ws.revision_source(default_ref), strict=False)
        except FlowError:
            return default_ref, None


def _same_lineage(theirs: Claim, ours: Claim) -> bool:
    """An earlier version of our own claim (a heartbeat that did not reach the remote)."""
    return (not theirs.is_finished and theirs.holder == ours.holder and bool(theirs.since)
            and theirs.since == ours.since and theirs.branch == ours.branch
            and theirs.repo == ours.repo)


def _check_takeover(current: Claim, actor: str, reclaim: bool, remote: str | None = None,
                    *, force: bool = False) -> None:
    """May ``actor`` replace ``current``? Raises ClaimTakenError naming the holder when not.

    ``force`` (a repair, recorded in the transition) replaces the actor's own claim or record,
    never someone else's."""
    if force and current.holder == actor:
        return
    where = f" on {remote}" if remote else ""
    task_id = current.task
    if current.is_finished:
        hint = ("it is not taken again until that work lands on the default branch "
                "(then `git flow-task claims --prune`); `reopen` it there to redo it")
        if current.branch.startswith("HEAD@"):  # a detached HEAD still holds it somewhere
            hint = (f"it was finished on a detached HEAD ({(current.commit or '')[:12]}) that some "
                    "branch or worktree still holds: land that work, or, to give the task up, "
                    f"`git update-ref -d {CLAIMS_PREFIX}{task_id}`")
        raise ClaimTakenError(
            f"{task_id} is {current.describe()}{where}", hint=hint,
            holder=current.holder, id=task_id, finished_on=current.branch, commit=current.commit)
    if current.holder == actor:
        if reclaim:
            return
        raise ClaimTakenError(
            f"{task_id} is already claimed by you: {current.describe()}{where}",
            hint="another worker using your identity (another clone, worktree or agent) may be "
                 "on it: give each worker its own FLOW_ACTOR, or take it over with --reclaim",
            holder=current.holder, id=task_id)
    if current.expired():
        if reclaim:
            return
        raise ClaimTakenError(
            f"{task_id} is {current.describe()}{where}",
            hint=f"the lease has run out: `git flow-task reclaim {task_id}` takes it over",
            holder=current.holder, id=task_id)
    raise ClaimTakenError(f"{task_id} is {current.describe()}{where}",
                          hint="pick another task (`git flow-task next --claim` does)",
                          holder=current.holder, id=task_id)


# A transition with its claim step --------------------------------------------------------------

GIVE_BACK = ("release", "fail", "block")


def apply_with_claim(claims: Claims, writer: Writer, build: Builder, mode: Mode, *,
                     task_id: str, action: str, actor: str, reclaim: bool = False,
                     force: bool = False) -> Outcome:
    """``Writer.apply`` with the claim step the action needs (DESIGN §6).

    start: claim first; if the transition then fails, the claim is rolled back.
    done: the holder is confirmed (lease extended) first; after the commit the claim becomes the
    finished record. release, fail, block: the claim must be the actor's; after the commit it is
    deleted. The claim outcome is added to the command's JSON result as ``claim``.
    """
    from git_flowctl.repo.writer import Mode

    branch = current_branch(claims.ws.repo)
    if mode is not Mode.STAGE and not force and not (action == "start" and reclaim):
        _refuse_illegal(claims, task_id, action, actor)
    if action == "start" and not force:
        build = _refusing_held_back(claims, build, task_id, actor)
    if mode is Mode.DRY_RUN:
        if action == "start":
            claims.check_available(task_id, actor, reclaim=reclaim, force=force)
        elif action == "done":
            current = claims.get(task_id)
            if current is not None and (current.holder != actor or current.is_finished) and not force:
                raise ClaimTakenError(f"{task_id} is {current.describe()}", holder=current.holder)
        elif action in GIVE_BACK:
            claims.check_holder(task_id, actor, action, force=force)
        return writer.apply(build, mode)
    if action == "start":
        acquired = claims.acquire(task_id, actor, branch, reclaim=reclaim, force=force)
        try:
            outcome = writer.apply(build, mode)
        except BaseException:
            claims.rollback(acquired)
            raise
        outcome.change.result["claim"] = acquired.as_json()
        return outcome
    if action == "done":
        try:
            confirmed = claims.confirm(task_id, actor, force=force)
        except ClaimTakenError as taken:
            raise _done_by_another(claims, task_id, actor, taken) from None
        outcome = writer.apply(build, mode)
        outcome.change.result["claim"] = claims.finish(task_id, actor, branch, outcome.commit,
                                                       confirmed)
        return outcome
    if action in GIVE_BACK:
        held = claims.check_holder(task_id, actor, action, force=force)
        outcome = writer.apply(build, mode)
        outcome.change.result["claim"] = claims.drop(task_id, held, actor)
        return outcome
    raise UsageError(f"no claim step for {action}")


class FilesHeldError(ClaimTakenError):
    """The task's ``files`` overlap those of a task someone else holds (issue #16): exit 3."""


def _refusing_held_back(claims: Claims, build: Builder, task_id: str, actor: str) -> Builder:
    """``build`` after a check, on the plan the writer reads, that no task someone else holds
    owns files this task owns (availability.file_holders), and that no retry backoff holds it
    back (availability.refuse_backoff); ``--force`` skips both."""
    from git_flowctl.coordination.availability import file_holders, file_overlaps, refuse_backoff

    listed = claims.all()

    def checked(plan: Plan) -> Any:
        refuse_backoff(claims.ws, plan, task_id, actor, listed)
        if task_id in plan.tasks and plan.tasks[task_id].files:
            overlaps = file_overlaps(plan, task_id, file_holders(
                plan, actor, listed, claims.ws.repository_id(create=False)))
            if overlaps:
                named = "; ".join(f"{o['held_task']} held by {o['held_by']} ({', '.join(o['paths'])})"
                                  for o in overlaps)
                raise FilesHeldError(
                    f"cannot start {task_id}: its files overlap {named}",
                    hint="wait until that task is finished or given back (`git flow-task files` "
                         "shows who owns what), or --force starts it anyway (recorded)",
                    id=task_id, holder=overlaps[0]["held_by"], files_held=overlaps)
        return build(plan)

    return checked


def _refuse_illegal(claims: Claims, task_id: str, action: str, actor: str) -> None:
    """The state machine refuses first (exit 1), so "start a task you already started" says that,
    not "you hold its claim". But when another actor holds the task, that is the answer (exit 3,
    the holder named), whatever the state machine would say (issue #12). Reads only the task's
    file at HEAD."""
    task = _task_at_head(claims.ws, task_id)
    if task is None:  # unborn, or not committed yet; the transition will say
        return
    try:
        states.check_action(task_id, task.status, action)
    except FlowError as refused:
        holder = claims.get(task_id)
        if holder is None and claims.remote is not None:
            holder = claims.remote.read(task_id)
        if holder is not None and not holder.is_finished and not claims.is_own(holder, actor) \
                and action in ("start", "done"):
            raise ClaimTakenError(
                f"{task_id} is {task.status} and {holder.describe()}",
                hint="pick another task (`git flow-task next`); `git flow-task start "
                     f"{task_id} --reclaim` takes it over once the lease has run out",
                holder=holder.holder, id=task_id, status=task.status) from None
        if task.status == states.IN_PROGRESS and action == "start" and task.assignee \
                and task.assignee != actor:
            raise FlowError(f"{refused.message}; {task.assignee} started it",
                            hint=refused.hint, **refused.details) from None
        raise


def _done_by_another(claims: Claims, task_id: str, actor: str, taken: ClaimTakenError) -> ClaimTakenError:
    """`done` refused because someone else holds the claim: the hint depends on whether this
    actor started the task on this branch (then their lease ran out and it was reclaimed) or
    never held it at all (issue #12)."""
    task = _task_at_head(claims.ws, task_id)
    if task is not None and task.assignee == actor:
        return taken  # started here by this actor: "your lease ran out and it was reclaimed"
    started = f"{task.assignee} started it on this branch" if task is not None and task.assignee \
        else "it was not started by you"
    return ClaimTakenError(f"{taken.message}; {started}",
                           hint="only the holder finishes it; `git flow-task next` picks a task "
                                "for you", **taken.details)


def _status_at_head(ws: Workspace, task_id: str) -> str | None:
    """The task's stored status in HEAD's tree (only its file is read), None when absent."""
    task = _task_at_head(ws, task_id)
    return task.status if task is not None else None


def _task_at_head(ws: Workspace, task_id: str) -> Task | None:
    """The task as HEAD's tree has it (only its file is read), None when absent."""
    import pygit2

    from git_flowctl.model.document import Document
    from git_flowctl.model.items import Task, task_path
    from git_flowctl.repo.sources import blob_bytes

    path = task_path(task_id)
    try:
        tree = ws.repo.revparse_single("HEAD").peel(pygit2.Commit).tree
        blob = tree[path]
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return Task.from_document(Document.parse(blob_bytes(ws.repo, blob.id), path), task_id)


def held_claims(claims: Claims, actor: str) -> Iterator[Claim]:
    for claim in claims.all():
        if claims.is_own(claim, actor) and not claim.is_finished:
            yield claim


# next --claim ----------------------------------------------------------------------------------


def claim_next(claims: Claims, ctx: Context, *, epic_ref: str | None = None,
               message: str | None = None, mode: Mode | None = None) -> dict[str, Any]:
    """Pick and claim in one step (``next --claim``): the actor's own in-progress task when it
    still holds its claim (resumed), else the best ready task no claim holds, started here.

    A lost race moves on to the next candidate; each loss is listed in ``lost_races``. With a
    remote, its claims are fetched first so that tasks held on other machines are passed over.
    Returns flowctl's ``next`` shape plus ``claimed``, ``claim`` and ``lost_races``.
    """
    from git_flowctl.changes import ops
    from git_flowctl.coordination import availability
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.writer import Mode, Writer

    mode = mode or Mode.COMMIT
    ws = claims.ws
    problem = claims.refresh() if claims.remote is not None else claims.remote_problem
    writer = Writer(ws, message=message)
    lost: list[dict[str, Any]] = []
    exclude: set[str] = set()
    expired: list[dict[str, Any]] = []
    swept = mode is not Mode.COMMIT  # expired leases are recorded as commits (issue #16)
    while True:
        plan = Plan.load(ws.index_source()) if mode is Mode.STAGE else ws.load_plan("HEAD")
        plan.require_initialized()
        epic_id = plan.resolve_epic(epic_ref) if epic_ref else None
        if not swept:
            from git_flowctl.coordination import expiry

            swept = True
            recorded = expiry.sweep(claims, writer, ctx, plan, epic_id=epic_id)
            expired.extend(item.as_json() for item in recorded)
            if recorded:
                continue  # the plan changed: read it again
        listed = claims.all()
        every = {claim.task: claim for claim in listed}
        mine_elsewhere = {
            task_id for task_id, claim in every.items()
            if claim.holder == ctx.actor and not claim.is_finished
            and (task_id not in plan.tasks or plan.tasks[task_id].status != states.IN_PROGRESS)}
        answer = availability.next_answer(ws, plan, ctx.actor, epic_id, claims, listed=listed,
                                          exclude=frozenset(exclude | mine_elsewhere))
        answer.update(claimed=False, claim=None, lost_races=lost, expired=expired,
                      local_only=claims.remote is None or problem is not None)
        if answer["status"] != "work":
            return answer
        task_id = str(answer["task"])
        if answer["reason"] == "resume_in_progress":
            held = every.get(task_id)
            if held is not None and (held.is_finished or not claims.is_own(held, ctx.actor)):
                exclude.add(task_id)  # reclaimed by someone else: no longer ours to resume
                continue
            if held is not None and held.expired() and mode is not Mode.DRY_RUN:
                try:  # resumed: the lease runs again
                    held, _ = claims.heartbeat(task_id, ctx.actor)
                except ClaimTakenError:
                    exclude.add(task_id)
                    continue
            if held is None and mode is not Mode.DRY_RUN:
                try:
                    held = claims.acquire(task_id, ctx.actor, current_branch(ws.repo)).claim
                except ClaimTakenError as taken:
                    lost.append({"id": task_id, "holder": taken.details.get("holder"),
                                 "error": taken.message})
                    exclude.add(task_id)
                    continue
            answer.update(claimed=held is not None, claim=held.as_json() if held else None)
            return answer
        if mode is Mode.DRY_RUN:
            answer["dry_run"] = True
            return answer
        build = functools.partial(ops.start, ref=task_id, ctx=ctx)
        try:
            outcome = apply_with_claim(claims, writer, build, mode, task_id=task_id, action="start", actor=ctx.actor)
        except ClaimTakenError as taken:
            lost.append({"id": task_id, "holder": taken.details.get("holder"),
                         "error": taken.message})
            exclude.add(task_id)
            continue
        answer.update(claimed=True, claim=outcome.change.result.get("claim"),
                      commit=outcome.commit, message=outcome.change.result.get("message"))
        return answer
