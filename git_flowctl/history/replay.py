"""Replay: the state of every task and epic, rebuilt from commit messages alone (DESIGN §4).

Walk the commits reachable from a revision, parents before children, and fold their
``Flow-Transition`` trailers (docs/trailers.md) into a state per subject:

* each transition ``id=`` counts once: a cherry-pick, a rebase or a squash that copies the line
  does not count it again;
* ``This reverts commit <sha>`` undoes what that commit did (its transitions, or, for a revert of
  a revert, the undoing); the reverted transition is dropped and the subject falls back to the
  target of its latest transition still standing;
* both sides of a merge count.

The order is canonical, so that a replay continued from a cached state gives exactly what a full
replay gives: follow first parents from the revision to the root; each commit on that chain
brings, in order, the commits it reaches that the chain before it did not (a merge's other side,
depth-first, parents first), then itself.

History is read with ``git log`` (one process, streamed), not pygit2: this module imports only the
standard library, so a ``log`` after one new commit costs little more than interpreter start-up
(bench/bench_replay.py). The cache (``<git-common-dir>/flow-cache/replay``) keeps the folded
state keyed by the last commit processed; a later replay walks only the commits after it.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import sys
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator

from git_flowctl import __version__
from git_flowctl.model.chains import chain_order
from git_flowctl.model.errors import FlowError
from git_flowctl.model.trailerfast import (
    LOG_BLOCK,
    NONE_STATE,
    CanonicalLine,
    canonical_lines,
    format_pairs,
    parse_pairs,
)
from git_flowctl.repo.cache import CACHE_DIR, read_file, write_file

TYPE_CHECKING = False  # typing costs start-up time that the lean `log` path avoids
if TYPE_CHECKING:
    import subprocess
    from typing import Any, NamedTuple, TypeVar

    from git_flowctl.model.trailerfast import CanonicalLine
    from git_flowctl.model.trailers import (
        Evidence,
        Landed,
        Revert,
        Review,
        SquashOrigin,
        Trailers,
        Transition,
    )
else:
    from git_flowctl.model.tuples import NamedTuple

EVENT_TRANSITION = "transition"
EVENT_REVERT = "revert"
EVENT_RENAME = "rename"
EVENT_ARCHIVE = "archive"
EVENT_REVIEW = "review"  # a verdict (`Flow-Review`): the subject's state does not change
EVENT_LANDED = "landed"  # `land` brought the task's branch here (`Flow-Landed`): no state change

_FIELD = "\x1f"
# The commit, its parents, the author (name, email, then Unix time and offset from UTC as +hhmm
# on one line: `--date=raw`, which git formats faster than `%at` and `--date=format:%z`, which
# calls strftime per commit), the message. ``_record`` splits the last line in two.
_LOG_FORMAT = ("--date=raw", "--format=%H%x1f%P%x1f%an%n%ae%n%ad%x1f%B")
_GIT_CONFIG = ("-c", "log.showSignature=false", "-c", "core.quotePath=false")

Progress = Callable[[int, int], None]  # (commits read, commits expected)
Lookup = Callable[[str], "tuple[str, str] | None"]  # commit name -> (full ID, message)


# Reading git ----------------------------------------------------------------------------------


class GitReader:
    """Runs ``git`` in a work tree; knows the common directory (where the cache lives)."""

    def __init__(self, root: str | os.PathLike[str], common_dir: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)  # plain strings: pathlib costs start-up time (bench/)
        self.common_dir = os.fspath(common_dir)

    @classmethod
    def discover(cls, cwd: str | os.PathLike[str] | None = None) -> GitReader:
        result = _run_git(os.fspath(cwd or os.getcwd()), "rev-parse", "--show-toplevel",
                          "--git-common-dir")
        lines = result.stdout.decode("utf-8", "surrogateescape").splitlines()
        if result.returncode != 0 or len(lines) < 2:
            raise FlowError("not a git repository (or no work tree)",
                            hint="run this inside a git work tree")
        return cls(lines[0], os.path.realpath(os.path.join(lines[0], lines[1])))

    @classmethod
    def discover_with_chain(cls, rev: str, count: int,
                            cwd: str | None = None) -> tuple[GitReader, list[str]]:
        """Discover the repository and read REV's first ``count`` first-parent commits in one
        ``git`` call (the lean ``log`` path). The chain is shorter at the root, and empty when
        REV names no commit (the caller then asks again the slow way)."""
        args = ["rev-parse", "--show-toplevel", "--git-common-dir", rev,
                *(f"{rev}~{step}" for step in range(1, count))]
        result = _run_git(cwd or os.getcwd(), *args)
        lines = result.stdout.decode("utf-8", "surrogateescape").splitlines()
        if len(lines) < 2 or not lines[0].startswith("/"):
            raise FlowError("not a git repository (or no work tree)",
                            hint="run this inside a git work tree")
        chain = []
        for line in lines[2:]:  # git stops at the first name it cannot resolve
            if len(line) not in (40, 64) or not all(c in "0123456789abcdef" for c in line):
                break
            chain.append(line)
        return cls(lines[0], os.path.realpath(os.path.join(lines[0], lines[1]))), chain

    @classmethod
    def locate(cls, cwd: str | None = None) -> GitReader | None:
        """The work tree and common directory, found the way git finds them in the plain case
        (a ``.git`` directory, or a ``.git`` file of a linked worktree, in this directory or
        above), without running git; None whenever git could answer otherwise (``GIT_DIR`` and
        friends set, anything unexpected), and the caller then asks git."""
        if any(name in os.environ for name in (
                "GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES",
                "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")):
            return None
        directory = os.path.realpath(cwd or os.getcwd())
        while True:
            dotgit = os.path.join(directory, ".git")
            if os.path.isdir(dotgit):
                if os.path.exists(os.path.join(dotgit, "commondir")) \
                        or not os.path.isfile(os.path.join(dotgit, "HEAD")):
                    return None
                return cls(directory, dotgit)
            if os.path.isfile(dotgit):
                try:
                    with open(dotgit, encoding="utf-8") as handle:
                        pointer = handle.read().strip()
                    if not pointer.startswith("gitdir: "):
                        return None
                    git_dir = os.path.realpath(os.path.join(directory, pointer[8:]))
                    with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as handle:
                        common = handle.read().strip()
                except OSError:
                    return None  # a submodule, or something else: let git say
                return cls(directory, os.path.realpath(os.path.join(git_dir, common)))
            parent = os.path.dirname(directory)
            if parent == directory:
                return None
            directory = parent

    def first_parent_records(self, rev: str, count: int) -> tuple[list[str], dict[str, Record]] | None:
        """REV's last ``count`` first-parent commits, read in one ``git log``: the chain (newest
        first) and their records (messages not parsed yet); None when git cannot read REV."""
        output = self.output("log", "-z", "--first-parent", f"-n{count}", "--encoding=UTF-8",
                             *_LOG_FORMAT, rev, "--")
        if not output:
            return None
        chain: list[str] = []
        records: dict[str, Record] = {}
        for piece in output.decode("utf-8", "replace").split("\0"):
            record = _record(piece, None)
            if record is not None:
                chain.append(record[0])
                records[record[0]] = record
        return chain, records

    def run(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return _run_git(self.root, *args, input=input)

    def output(self, *args: str) -> bytes | None:
        """What git prints, or None when it fails."""
        process = self.start(*args)
        with open(process.stdout, "rb") as pipe:
            data = pipe.read()
        return data if process.wait()[0] == 0 else None

    def start(self, *args: str, stdin: int | None = None) -> _Git:
        """Start git to read what it prints as it prints it. Without ``subprocess``, whose
        import costs the lean `log` path milliseconds (bench/bench_replay.py). ``stdin``: a
        file descriptor git reads its input from (else nothing)."""
        stdout, stdout_end = os.pipe()
        stderr, stderr_end = os.pipe()
        given = (os.POSIX_SPAWN_DUP2, stdin, 0) if stdin is not None \
            else (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)
        try:
            pid = os.posix_spawnp("git", ["git", "-C", self.root, *_GIT_CONFIG, *args], _git_env(),
                                  file_actions=[given,
                                                (os.POSIX_SPAWN_DUP2, stdout_end, 1),
                                                (os.POSIX_SPAWN_DUP2, stderr_end, 2)])
        except OSError as exc:
            os.close(stdout)
            os.close(stderr)
            raise FlowError(f"cannot run git: {exc.strerror}",
                            hint="is git installed and on PATH?") from None
        finally:
            os.close(stdout_end)
            os.close(stderr_end)
        return _Git(pid, stdout, stderr)

    @property
    def shallow(self) -> bool:
        return os.path.exists(os.path.join(self.common_dir, "shallow"))

    def first_parents(self, rev: str, count: int) -> list[str] | None:
        """REV and up to ``count - 1`` first-parent ancestors; [] for an unborn HEAD; None when
        REV names no commit."""
        result = self.run("rev-list", "--first-parent", f"--max-count={count}",
                          f"{rev}^{{commit}}", "--")
        if result.returncode == 0:
            return result.stdout.decode().split()
        if rev == "HEAD" and self.run("rev-parse", "--verify", "-q", "HEAD").returncode != 0 \
                and self.run("symbolic-ref", "-q", "HEAD").returncode == 0:
            return []  # an unborn branch: no history yet
        return None

    def resolve(self, rev: str) -> str | None:
        """The commit REV names (None for an unborn HEAD); an unknown REV is an error."""
        chain = self.first_parents(rev, 1)
        if chain is None:
            raise unknown_revision(rev)
        return chain[0] if chain else None

    def shallow_marker(self) -> str:
        """What the shallow boundary is (the replay of a shallow clone changes when it deepens)."""
        try:
            with open(os.path.join(self.common_dir, "shallow"), "rb") as handle:
                data = handle.read()
        except OSError:
            return ""
        return f"{zlib.crc32(data):08x}:{len(data)}"

    def message(self, rev: str) -> tuple[str, str] | None:
        """(full commit ID, message) of a commit outside the walked history, if git has it."""
        result = self.run("log", "-1", "--no-walk", "--encoding=UTF-8", "--format=%H%x1f%B",
                          f"{rev}^{{commit}}", "--")
        if result.returncode != 0 or not result.stdout:
            return None
        sha, _, message = result.stdout.decode("utf-8", "replace").partition(_FIELD)
        return sha, message


class _Git(NamedTuple):
    """A git process started by ``GitReader.start``: read ``stdout`` to its end, then ``wait``."""

    pid: int
    stdout: int  # file descriptors, the caller's to read (and close stdout)
    stderr: int

    def wait(self) -> tuple[int, str]:
        """Its exit code and what it wrote to stderr."""
        with open(self.stderr, "rb") as pipe:
            errors = pipe.read().decode(errors="replace")
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status), errors


def unknown_revision(rev: str) -> FlowError:
    return FlowError(f"unknown revision {rev!r}",
                     hint="give a branch, tag or commit (`git log --oneline` lists them)")


def _git_env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}


def _run_git(cwd: str, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    import subprocess  # not at the top: replay runs git with GitReader.start

    try:
        return subprocess.run(["git", *_GIT_CONFIG, *args], cwd=cwd, env=_git_env(), input=input,
                              capture_output=True, check=False)
    except OSError as exc:
        raise FlowError(f"cannot run git: {exc.strerror}", hint="is git installed and on PATH?") from None


# One commit as git log gives it: (sha, parents, author, message); the author is the four lines
# of ``_LOG_FORMAT``, the message is kept only when it can matter (flow trailers or a revert line).
Record = tuple[str, tuple[str, ...], str, str]


def _offset_minutes(text: str) -> int:
    """``+0130`` -> 90."""
    if len(text) != 5 or text[0] not in "+-" or not text[1:].isdigit():
        return 0
    minutes = int(text[1:3]) * 60 + int(text[3:5])
    return -minutes if text[0] == "-" else minutes


def _offset_text(minutes: int) -> str:
    """90 -> ``+0130``, as git writes an offset."""
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def read_records(git: GitReader, head: str, exclude: str | None = None,
                 progress: Progress | None = None, expected: int = 0,
                 newest_first: _NewestFirst | None = None,
                 ) -> tuple[dict[str, Record], dict[str, Parsed]]:
    """Every commit reachable from ``head`` and not from ``exclude``, keyed by ID, and the
    parsed trailers of those that have any. git's output is parsed while git still writes it,
    and folded then too when ``newest_first`` is given: while it stays usable, blocks that it
    folds whole (``_NewestFirst.add_block``) are kept as text, and read into records only if
    it stops being usable (then ``records`` is complete; else it holds only the rest)."""
    args = ["log", "-z", "--encoding=UTF-8", *_LOG_FORMAT, head]
    if exclude:
        args.append(f"^{exclude}")
    args.append("--")
    records: dict[str, Record] = {}
    parsed: dict[str, Parsed] = {}
    folded_blocks: list[str] = []
    process = git.start(*args)
    _widen_pipe(process.stdout)
    try:
        pending = b""
        while True:
            block = os.read(process.stdout, _PIPE_SIZE)
            data = pending + block
            cut = data.rfind(b"\0") if block else len(data)
            if cut < 0:
                pending = data
                continue
            text, pending = data[:cut].decode("utf-8", "replace"), data[cut + 1:]
            if newest_first is not None and newest_first.usable and newest_first.add_block(text):
                folded_blocks.append(text)
            else:
                _read_block(text, records, parsed, newest_first)
            if progress is not None:
                progress(len(records) + (newest_first.commits if newest_first else 0), expected)
            if not block:
                break
    finally:
        os.close(process.stdout)
        code, errors = process.wait()
    if code != 0:
        detail = errors.strip().splitlines()
        raise FlowError(f"git log failed: {detail[-1] if detail else code}")
    if newest_first is not None and not newest_first.usable:
        for text in folded_blocks:  # what it folded is of no use now: read it as records
            _read_block(text, records, parsed, None)
    return records, parsed


def _read_block(text: str, records: dict[str, Record], parsed: dict[str, Parsed],
                newest_first: _NewestFirst | None) -> None:
    for piece in text.split("\0"):
        record = _record(piece, parsed)
        if record is not None:
            records[record[0]] = record
            if newest_first is not None:
                newest_first.add(record, parsed.get(record[0]))


def _record(piece: str, parsed: dict[str, Parsed] | None) -> Record | None:
    """One commit of ``git log -z`` in ``_LOG_FORMAT``; its trailers go into ``parsed`` (None:
    they are parsed later, if needed)."""
    parts = piece.split(_FIELD, 3)
    if len(parts) != 4:
        return None
    sha, parents, author, message = parts
    author = _author_lines(author)
    if "flow-" not in message.lower() and "reverts commit" not in message:
        message = ""
    elif parsed is not None:
        parsed[sha] = _parse(sha, author, message)
    return (sha, tuple(parents.split()), author, message)


def _author_lines(author: str) -> str:
    """git's ``name\nemail\ntime offset`` as the four lines an event keeps (``_LOG_FORMAT``)."""
    space = author.rfind(" ")  # between the time and the offset (an email holds no space)
    return f"{author[:space]}\n{author[space + 1:]}"


def _parse(sha: str, author: str, message: str) -> Parsed:
    """A commit's flow lines: a message of canonical lines (what this tool writes) ready to
    fold, anything else by the general parser, loaded only then."""
    lines = canonical_lines(message)
    if lines is None:
        from git_flowctl.model.trailers import parse_message

        return parse_message(message)
    return _prepare(sha, author, lines)


def _prepare(sha: str, author: str, lines: list[CanonicalLine]) -> list[Prepared]:
    """Canonical lines as transitions ready to fold: (id, subject, target, event text)."""
    evidence = _canonical_evidence(lines) if len(lines) > 1 else {}
    prepared = []
    sources = []
    for place, (subject, source, target, action, by, ulid, force, _, _) in enumerate(lines):
        if subject:  # a transition (an evidence line has no subject in this place)
            # The event's fields up to _E_REVERTED_BY, each followed by _SEP.
            prepared.append((ulid, subject, target, (
                f"{EVENT_TRANSITION}\n{subject}\n{'' if source == NONE_STATE else source}\n"
                f"{target}\n{action}\n{by}\n{ulid}\n{'1' if force else ''}\n\n"
                f"{evidence.get(place, '')}\n{sha}\n{author}\n\n\n\n")))
            sources.append(source)
    if len(prepared) > 1:
        return _in_chain_order(prepared, [(source, item[2]) for source, item in zip(sources, prepared, strict=True)],
                               [item[1] for item in prepared], [item[0] for item in prepared])
    return prepared


if TYPE_CHECKING:
    _Item = TypeVar("_Item")


def _in_chain_order(items: list[_Item], pairs: list[tuple[str | None, str | None]],
                    subjects: list[str], ids: list[str]) -> list[_Item]:
    """One message's transitions with each subject's put in the order ``check`` accepts
    (``model.chains``: ID order, else the order that chains), each in the places that
    subject's lines held; the other lines stay where they are (issue #13, finding 3)."""
    places: dict[str, list[int]] = {}
    for place, subject in enumerate(subjects):
        places.setdefault(subject, []).append(place)
    result = items
    for held in places.values():
        if len(held) < 2:
            continue
        order = chain_order(held, lambda place: pairs[place], lambda place: ids[place])
        if order is not None and order != held:
            result = list(result) if result is items else result
            for slot, place in zip(held, order, strict=True):
                result[slot] = items[place]
    return result


_PIPE_SIZE = 1 << 20  # what Linux lets any process ask for (/proc/sys/fs/pipe-max-size)


def _widen_pipe(fd: int) -> None:
    """Let git write up to a megabyte ahead of the parser (Linux), so that it seldom waits
    while a block is parsed: on two cores, reading then costs about what git alone costs."""
    import fcntl

    resize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if resize is not None:
        with contextlib.suppress(OSError):  # over a limit: the default size works, slower
            fcntl.fcntl(fd, resize, _PIPE_SIZE)


def canonical_order(head: str, records: dict[str, Record]) -> list[str]:
    """The commits of ``records`` in replay order (see the module docstring).

    Commits not in ``records`` (already replayed, or beyond a shallow boundary) are skipped.
    """
    chain: list[str] = []
    commit: str | None = head
    while commit is not None and commit in records:
        chain.append(commit)
        parents = records[commit][1]
        commit = parents[0] if parents else None
    chain.reverse()
    if all(len(records[commit][1]) <= 1 for commit in chain):
        return chain  # no merge: each commit brings only itself
    placed: set[str] = set()
    order: list[str] = []
    for start in chain:
        placed.add(start)
        if len(records[start][1]) <= 1:
            order.append(start)  # its parent, if any, is the chain commit before it
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(records[start][1]))]
        while stack:
            node, parents_left = stack[-1]
            for parent in parents_left:
                if parent in records and parent not in placed:
                    placed.add(parent)
                    stack.append((parent, iter(records[parent][1])))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


# The fold -------------------------------------------------------------------------------------

# An event is stored as one string, its fields joined by newlines (no field can hold one: trailer
# values and git idents are single lines), so a cached history of 20,000 events loads in a few
# milliseconds; ``Event`` is the readable view, made only for the events a command shows. The
# author's four fields (name to offset) are the lines git gave (``_LOG_FORMAT``).
_SEP = "\n"
(_E_KIND, _E_SUBJECT, _E_FROM, _E_TO, _E_ACTION, _E_BY, _E_ID, _E_FORCE, _E_EXTRA, _E_EVIDENCE,
 _E_COMMIT, _E_NAME, _E_EMAIL, _E_TIME, _E_OFFSET, _E_ORIGIN, _E_UNDOES, _E_REVERTED_BY,
 _E_BEFORE, _E_AFTER) = range(20)


class Event(NamedTuple):
    """One entry of a subject's history: a transition, or the undoing (or redoing) of one."""

    position: int  # in replay order
    kind: str  # "transition" | "revert"
    subject: str
    source: str | None  # as the trailer says (None: created)
    target: str
    action: str
    by: str
    transition_id: str
    force: bool
    extra: dict[str, str]
    evidence: dict[str, str]
    commit: str
    author_name: str
    author_email: str
    timestamp: int
    offset_minutes: int
    squashed_from: str | None  # the squashed commit whose message held the line
    undoes: str | None  # for a revert: the transition id it undoes (or redoes)
    reverted_by: str | None  # for a transition: the commit that undid it, while it stands undone
    state_before: str | None  # the replayed state before and after this event
    state_after: str | None

    @property
    def iso_time(self) -> str:
        """The author time in UTC: ``2026-01-05T10:00:00Z``."""
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.timestamp))

    @property
    def is_epic(self) -> bool:
        return "." not in self.subject  # task IDs are <epic-id>.<n>; epic IDs hold no dot

    @property
    def counts(self) -> bool:
        """A transition that stands (not reverted)."""
        return self.kind == EVENT_TRANSITION and self.reverted_by is None

    def as_json(self) -> dict[str, Any]:
        """The shape `log --json` prints (docs/history.md)."""
        return {
            "id": self.subject,
            "type": "epic" if self.is_epic else "task",
            "event": self.kind,
            "from": self.source,
            "to": self.target,
            "action": self.action,
            "by": self.by,
            "commit": self.commit,
            "author": f"{self.author_name} <{self.author_email}>",
            "time": self.iso_time,
            "timestamp": self.timestamp,
            "transition_id": self.transition_id,
            "force": self.force,
            "evidence": self.evidence,
            "extra": self.extra,
            "squashed_from": self.squashed_from,
            "undoes": self.undoes,
            "reverted_by": self.reverted_by,
        }


def _decode_event(index: int, text: str) -> Event:
    f = text.split(_SEP)
    return Event(index, f[_E_KIND], f[_E_SUBJECT], f[_E_FROM] or None, f[_E_TO], f[_E_ACTION],
                 f[_E_BY], f[_E_ID], f[_E_FORCE] == "1", parse_pairs(f[_E_EXTRA]) or {},
                 parse_pairs(f[_E_EVIDENCE]) or {}, f[_E_COMMIT], f[_E_NAME], f[_E_EMAIL],
                 int(f[_E_TIME] or 0), _offset_minutes(f[_E_OFFSET]), f[_E_ORIGIN] or None, f[_E_UNDOES] or None,
                 f[_E_REVERTED_BY] or None, f[_E_BEFORE] or None, f[_E_AFTER] or None)


class Finding(NamedTuple):
    """Something in history the replay could not use: a malformed line, an unknown revert."""

    commit: str
    kind: str  # "malformed" | "unknown_revert"
    message: str
    line: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "kind": self.kind, "message": self.message, "line": self.line}


# Who made a step and when: (commit, name, email, time, offset, squashed commit or "").
_Author = tuple[str, str, str, str, str, str]
# A canonical transition ready to fold: (transition id, subject, target, its event's fields up to
# the states before and after it, which only the fold knows).
Prepared = tuple[str, str, str, str]
if TYPE_CHECKING:
    # A commit's flow lines: parsed objects, or a message of canonical lines ready to fold.
    Parsed = Trailers | list[Prepared]


def _squashed_author(author: _Author, origin: SquashOrigin) -> _Author:
    """A squashed commit's step: its own author and date, from the header git wrote."""
    commit, name, email, stamp, offset, _ = author
    if origin.author:
        name, _, rest = origin.author.partition(" <")
        email = rest.rstrip(">") or email
    if origin.timestamp is not None:
        stamp, offset = str(origin.timestamp), _offset_text(origin.offset_minutes or 0)
    return (commit, name, email, stamp, offset, origin.commit)


_SEARCHES = 16  # searches of the counted transition IDs' string before decoding them


class _Fold:
    """The replay state.

    What a cached fold holds is shaped so that loading it and continuing by one commit touches
    little: events stay strings until shown, the per-subject lists of event positions are bytes
    (``_positions``) decoded one subject at a time, the transition IDs counted are one string
    searched with ``in`` (their event positions beside it), and the map commit -> effect is
    decoded only when a revert needs it.
    """

    def __init__(self, events: list[str] | None = None, states: dict[str, str] | None = None,
                 applied_ids: str = "\n", applied_blob: bytes = b"",
                 standing: dict[str, bytes] | None = None,
                 by_subject: dict[str, bytes] | None = None,
                 effects_blob: bytes = b"",
                 findings: list[tuple[str, str, str, int | None]] | None = None,
                 commits: int = 0, renamed: dict[str, str] | None = None,
                 archived: dict[str, str] | None = None, effects_in_events: bool = False,
                 distrust: dict[str, str] | None = None,
                 verified: dict[str, int] | None = None,
                 blob_statuses: dict[str, str] | None = None) -> None:
        """``effects_in_events``: what each commit did is what its events say (a fold made
        newest first: transitions only, each counted by the commit that holds it), so the
        commit -> effect map is derived from the events when a revert first needs it.
        ``distrust``: ``"<commit> <subject>"`` -> the state they lead to and why (two lines): the
        lines of that commit for that subject are not believed (its tree disagrees, history/agreement.py); ``verified``: per subject,
        the last event position whose commit's tree was found to agree."""
        self.distrust = distrust if distrust is not None else {}
        self.verified = verified if verified is not None else {}
        # The status of task and epic file versions (blob -> status) met by the checks lately,
        # so that a commit going back to an earlier (packed) version needs no git process.
        self.blob_statuses = blob_statuses if blob_statuses is not None else {}
        self.events: list[str] = events if events is not None else []
        self.renamed = renamed if renamed is not None else {}  # old ID -> new ID (renumber)
        self.archived = archived if archived is not None else {}  # ID -> commit that archived it
        self.states: dict[str, str] = states if states is not None else {}  # "none": gone
        self.findings = findings if findings is not None else []
        self.commits = commits
        self._applied_ids = applied_ids  # "\n<id>\n<id>\n" of the cached part
        self._applied_blob = applied_blob  # their event positions
        self._applied: dict[str, int] | None = None if applied_blob else {}
        self._applied_new: dict[str, int] = {}
        self._standing_stored = standing if standing is not None else {}
        self._standing: dict[str, list[int]] = {}
        self._by_subject_stored = by_subject if by_subject is not None else {}
        self._by_subject: dict[str, list[int]] = {}
        self._effects_blob = effects_blob
        self._effects_in_events = effects_in_events
        self._effects: dict[str, str] | None = None if effects_blob or effects_in_events else {}
        self._effects_new: dict[str, str] = {}
        self._searches = 0
        self._loaded = len(self.events)  # events of the state as loaded (from the cache)
        self._not_applied: set[str] = set()  # transition IDs known absent from the loaded state

    def dump(self) -> tuple[Any, ...]:
        """The cached form; parts never decoded since they were loaded are stored as they are."""
        if self._applied is None and not self._applied_new:
            ids_text, applied_blob = self._applied_ids, self._applied_blob
        else:
            applied = self.applied_map()
            ids_text = f"\n{_SEP.join(applied)}\n" if applied else "\n"
            applied_blob = _positions_blob(applied.values())
        effects_in_events = self._effects_in_events and self._effects is None \
            and not self._effects_new
        return (self.events, self.states, ids_text, applied_blob,
                {**self._standing_stored, **{k: _positions_blob(v) for k, v in self._standing.items()}},
                {**self._by_subject_stored,
                 **{k: _positions_blob(v) for k, v in self._by_subject.items()}},
                b"" if effects_in_events else marshal.dumps(self.effects_map()), self.findings,
                self.commits, self.renamed, self.archived, effects_in_events, self.distrust,
                self.verified, self.blob_statuses)

    @classmethod
    def load(cls, data: tuple[Any, ...]) -> _Fold:
        events, states, ids_text, applied_blob, standing, by_subject, effects_blob, findings, \
            commits, renamed, archived, effects_in_events, distrust, verified, blob_statuses = data
        shapes = ((events, list), (states, dict), (ids_text, str), (applied_blob, bytes),
                  (standing, dict), (by_subject, dict), (effects_blob, bytes), (findings, list),
                  (commits, int), (renamed, dict), (archived, dict), (effects_in_events, bool),
                  (distrust, dict), (verified, dict), (blob_statuses, dict))
        if not all(isinstance(value, kind) for value, kind in shapes) \
                or not all(isinstance(event, str) for event in events[-1:]):
            raise ValueError("not a replay state")
        return cls(events, states, ids_text, applied_blob, standing, by_subject, effects_blob,
                   findings, commits, renamed, archived, effects_in_events, distrust, verified,
                   blob_statuses)

    # The lazily decoded parts -----------------------------------------------------------------

    def applied_map(self) -> dict[str, int]:
        if self._applied is None:
            ids, positions = self._applied_ids[1:-1].split(_SEP), _positions(self._applied_blob)
            if len(ids) != len(positions):
                raise ValueError("not a replay state")
            self._applied = dict(zip(ids, positions, strict=True))
        if self._applied_new:
            self._applied.update(self._applied_new)
            self._applied_new = {}
        return self._applied

    def _is_applied(self, transition_id: str) -> bool:
        if transition_id in self._applied_new:
            return True
        if self._applied is not None:
            return transition_id in self._applied
        if transition_id in self._not_applied:
            return False
        if self._searches < _SEARCHES:
            self._searches += 1  # each reads the whole string: a few are cheaper than the map
            return f"\n{transition_id}\n" in self._applied_ids
        return transition_id in self.applied_map()

    def not_applied(self, transition_ids: Iterable[str]) -> None:
        """Transition IDs that the state as loaded did not count (a delta knows them)."""
        self._not_applied.update(transition_ids)

    def applied_since_loaded(self) -> list[str]:
        """The transition IDs counted since the state was loaded, in order."""
        return [fields[_E_ID] for fields in (event.split(_SEP) for event in self.events[self._loaded:])
                if fields[_E_KIND] == EVENT_TRANSITION]

    def effects_map(self) -> dict[str, str]:
        if self._effects is None and self._effects_in_events:
            derived: dict[str, list[str]] = {}
            for text in self.events:
                fields = text.split(_SEP)
                derived.setdefault(fields[_E_COMMIT], []).append(f"+{fields[_E_ID]}")
            self._effects = {commit: _SEP.join(items) for commit, items in derived.items()}
        if self._effects is None:
            decoded = marshal.loads(self._effects_blob)
            if not isinstance(decoded, dict):
                raise ValueError("not a replay state")
            self._effects = decoded
        if self._effects_new:
            self._effects.update(self._effects_new)
            self._effects_new = {}
        return self._effects

    def standing_of(self, subject: str, *, create: bool = False) -> list[int]:
        return _decoded(self._standing, self._standing_stored, subject, create)

    def events_of(self, subject: str, *, create: bool = False) -> list[int]:
        return _decoded(self._by_subject, self._by_subject_stored, subject, create)

    def subjects(self) -> list[str]:
        return list({**self._by_subject_stored, **self._by_subject})

    def state(self, subject: str) -> str | None:
        state = self.states.get(subject)
        return None if state is None or state == NONE_STATE else state

    def add_commits(self, order: Iterable[str], records: dict[str, Record],
                    parsed: dict[str, Parsed], lookup: Lookup) -> None:
        """Fold ``records`` in replay ``order``; ``parsed``: the trailers of those with any."""
        for sha in order:
            found = parsed.get(sha)
            if isinstance(found, list):
                self.commits += 1
                self._add_prepared(sha, found)
            else:
                self.add_commit(records[sha], found, lookup)

    def add_commit(self, record: Record, parsed: Parsed | None, lookup: Lookup) -> None:
        self.commits += 1
        if parsed is None:
            return
        if isinstance(parsed, list):
            self._add_prepared(record[0], parsed)
            return
        from git_flowctl.model.trailers import (  # loaded: it parsed this
            Landed,
            Rename,
            Revert,
            Review,
            Transition,
        )

        sha = record[0]
        for bad in parsed.malformed:
            self.findings.append((sha, "malformed", f"{bad.reason}: {bad.text}", bad.line_number))
        if not parsed.steps:
            return
        evidence = _evidence_for(parsed.transitions, parsed.evidence) if parsed.evidence else {}
        name, email, stamp, offset = record[2].split(_SEP)
        author: _Author = (sha, name, email, stamp, offset, "")
        effect: list[str] = []
        squashed: dict[str, list[str]] = {}  # what each squashed commit did (for their reverts)
        distrust = self.distrust
        steps = parsed.steps
        links = [step for step in steps if isinstance(step, Transition)]
        if len(links) > 1:  # each subject's transitions in the order check accepts
            chained = iter(_in_chain_order(links, [(link.source, link.target) for link in links],
                                           [link.subject for link in links],
                                           [link.id for link in links]))
            steps = [next(chained) if isinstance(step, Transition) else step for step in steps]
        for step in steps:
            step_author = author if step.origin is None else _squashed_author(author, step.origin)
            if isinstance(step, Transition):
                if distrust and f"{sha} {step.subject}" in distrust:
                    continue
                done = [f"+{step.id}"] if self._apply(step, evidence.get(id(step)), step_author) else []
            elif isinstance(step, Revert):
                done = self._revert(step, squashed, lookup, step_author)
            elif isinstance(step, Rename):
                if distrust and (f"{sha} {step.new}" in distrust or f"{sha} {step.old}" in distrust):
                    continue
                done = [f">{step.old} {step.new}"] if step.old != step.new else []
                self._rename(step.old, step.new, step_author)
            elif isinstance(step, Review):
                self._review(step, step_author)
                done = []
            elif isinstance(step, Landed):
                self._landed(step, step_author)
                done = []
            else:
                if distrust and f"{sha} {step.subject}" in distrust:
                    continue
                self._archive(step.subject, step_author)
                done = []
            effect.extend(done)
            if step.origin is not None:
                squashed.setdefault(step.origin.commit, []).extend(done)
        if effect:
            self._effects_new[sha] = _SEP.join(effect)

    def _add_prepared(self, sha: str, transitions: list[Prepared]) -> None:
        """``add_commit`` for a message of canonical lines only (``_parse``): the same fold with
        the events' text made while git was still writing, for long histories
        (bench/bench_replay.py)."""
        events, states, applied = self.events, self.states, self._applied_new
        by_subject, standing = self._by_subject, self._standing
        distrust = self.distrust
        done = []
        for ulid, subject, target, head in transitions:
            if ulid in applied or self._is_applied(ulid) \
                    or (distrust and f"{sha} {subject}" in distrust):
                continue
            index = len(events)
            events.append(f"{head}{states.get(subject, '')}{_SEP}{target}")
            indices = by_subject.get(subject)
            (indices if indices is not None else self.events_of(subject, create=True)).append(index)
            indices = standing.get(subject)
            (indices if indices is not None else self.standing_of(subject, create=True)).append(index)
            applied[ulid] = index
            states[subject] = target
            done.append(f"+{ulid}")
        if done:
            self._effects_new[sha] = done[0] if len(done) == 1 else _SEP.join(done)

    def _event(self, fields: list[str], subject: str) -> int:
        index = len(self.events)
        self.events.append(_SEP.join(fields))
        self.events_of(subject, create=True).append(index)
        return index

    def _apply(self, step: Transition, evidence: str | None, author: _Author) -> bool:
        if self._is_applied(step.id):
            return False  # a copy (cherry-pick, rebase, squash) of a transition already counted
        subject = step.subject
        before = self.states.get(subject, "")
        index = self._event([
            EVENT_TRANSITION, subject, step.source or "", step.target, step.action, step.by,
            step.id, "1" if step.force else "", format_pairs(dict(step.extra)) if step.extra else "",
            evidence or "", *author, "", "", before, step.target,
        ], subject)
        self._applied_new[step.id] = index
        self.standing_of(subject, create=True).append(index)
        self.states[subject] = step.target
        return True

    def current_id(self, subject: str) -> str:
        """The ID a subject has now, following renames (``renumber``)."""
        for _ in range(64):
            renamed = self.renamed.get(subject)
            if renamed is None or renamed == subject:
                break
            subject = renamed
        return subject

    def _rename(self, old: str, new: str, author: _Author) -> None:
        """``Flow-Rename: <old> <new>``: the subject goes on under its new ID."""
        if old == new:
            return
        state = self.states.get(old, "")
        # The merged events are verified only as far as both subjects' were.
        self.verified[new] = min(self.verified.pop(old, -1), self.verified.get(new, -1))
        if self.renamed.get(new) == old:
            del self.renamed[new]  # renamed back (a revert of the renumber)
        self.renamed[old] = new
        self.states[new] = state or self.states.get(new, "")
        if state:
            self.states[old] = NONE_STATE
        standing = self.standing_of(old, create=True)
        self._standing[new] = [*standing, *self.standing_of(new)]
        self._standing[old] = []
        merged = sorted({*self.events_of(old), *self.events_of(new)})
        self._by_subject[new] = merged
        self._event([EVENT_RENAME, new, state, state or NONE_STATE, "renumber", author[2], "",
                     "", format_pairs({"renamed_from": old}), "", *author, "", "", state, state],
                    new)

    def _archive(self, subject: str, author: _Author) -> None:
        """``Flow-Archive: <id>``: moved under .flow/archive/, its state unchanged."""
        subject = self.current_id(subject)
        self.archived[subject] = author[0]
        state = self.states.get(subject, "")
        self._event([EVENT_ARCHIVE, subject, state, state or NONE_STATE, "archive", author[2],
                     "", "", "", "", *author, "", "", state, state], subject)

    def _review(self, step: Review, author: _Author) -> None:
        """``Flow-Review: <id> kind=... verdict=...``: an event, the state unchanged."""
        subject = self.current_id(step.subject)
        state = self.states.get(subject, "")
        pairs = {"kind": step.kind, "verdict": step.verdict, **dict(step.extra)}
        self._event([EVENT_REVIEW, subject, state, state or NONE_STATE, "review", step.by,
                     step.id, "", format_pairs(pairs), "", *author, "", "", state, state], subject)

    def _landed(self, step: Landed, author: _Author) -> None:
        """``Flow-Landed: <task> commit=<sha>``: an event, the state unchanged."""
        subject = self.current_id(step.subject)
        state = self.states.get(subject, "")
        pairs = {"commit": step.commit, **dict(step.extra)}
        self._event([EVENT_LANDED, subject, state, state or NONE_STATE, "land",
                     pairs.pop("by", author[2]), "", "", format_pairs(pairs), "", *author, "", "",
                     state, state], subject)

    def _revert(self, step: Revert, squashed: dict[str, list[str]], lookup: Lookup,
                author: _Author) -> list[str]:
        target: list[str] | None = None
        for origin_commit, origin_effect in squashed.items():
            if origin_commit.startswith(step.commit):
                target = origin_effect
        if target is None:
            target = self._effect_of(step.commit, lookup, depth=0)
        if target is None:
            self.findings.append((author[0], "unknown_revert",
                                  f"reverts commit {step.commit}, which is neither in this history "
                                  "nor in the object database", step.line_number))
            return []
        done = []
        for item in reversed(target):
            undo = _inverse(item)
            if undo[0] == ">":  # a renumber reverted: the files are back under the old IDs
                old, new = undo[1:].split(" ")
                if self.distrust and (f"{author[0]} {new}" in self.distrust
                                      or f"{author[0]} {old}" in self.distrust):
                    continue
                if self.current_id(old) == old:
                    self._rename(old, new, author)
                    done.append(undo)
            elif self._toggle(undo, author):
                done.append(undo)
        return done

    def _toggle(self, signed_id: str, author: _Author) -> bool:
        """Undo (``-id``) or redo (``+id``) a counted transition; False when nothing changes."""
        transition_id = signed_id[1:]
        if not self._is_applied(transition_id):
            return False
        index = self.applied_map()[transition_id]
        fields = self.events[index].split(_SEP)
        subject = self.current_id(fields[_E_SUBJECT])
        if self.distrust and f"{author[0]} {subject}" in self.distrust:
            return False  # this commit's tree does not undo it (history/agreement.py)
        standing = self.standing_of(subject, create=True)
        redo = signed_id[0] == "+"
        if (index in standing) == redo:
            return False
        before = self.states.get(subject, "")
        if redo:
            standing.append(index)
        else:
            standing.remove(index)
        after = self.events[standing[-1]].split(_SEP)[_E_TO] if standing else NONE_STATE
        self.states[subject] = after
        fields[_E_REVERTED_BY] = "" if redo else author[0]
        self.events[index] = _SEP.join(fields)
        self._event([EVENT_REVERT, subject, before, after, "revert", author[2], transition_id,
                     "", "", "", *author, transition_id, "", before, after], subject)
        return True

    def _effect_of(self, commit: str, lookup: Lookup, depth: int) -> list[str] | None:
        """What ``commit`` did, in order (what a revert of it undoes): ``+id`` counted a
        transition, ``-id`` undid one, ``>old new`` renamed a subject."""
        effects = self.effects_map()
        found = effects.get(commit)
        if found is not None:
            return found.split(_SEP)
        outside = lookup(commit) if depth <= 8 else None
        if outside is None:
            return None
        full, message = outside
        if full in effects:
            return effects[full].split(_SEP)
        from git_flowctl.model.trailers import Rename, Revert, Transition, parse_message

        parsed = parse_message(message)
        effect: list[str] = []
        for step in parsed.steps:
            if isinstance(step, Transition):
                effect.append(f"+{step.id}")
            elif isinstance(step, Rename) and step.old != step.new:
                effect.append(f">{step.old} {step.new}")
            elif isinstance(step, Revert):
                inner = self._effect_of(step.commit, lookup, depth + 1) or []
                effect.extend(_inverse(item) for item in reversed(inner))
        return effect


def _inverse(item: str) -> str:
    """What undoes one item of an effect (``_Fold._effect_of``)."""
    if item[0] == ">":
        old, new = item[1:].split(" ")
        return f">{new} {old}"
    return ("-" if item[0] == "+" else "+") + item[1:]


_POSITION = "I"  # the array type code of an event position


def _positions(blob: bytes) -> list[int]:
    """Event positions stored as machine integers (the cache's marker names their size)."""
    return array(_POSITION, blob).tolist()


def _decoded(decoded: dict[str, list[int]], stored: dict[str, bytes], subject: str,
             create: bool) -> list[int]:
    """A subject's positions, decoded from the stored blob on first use (kept once non-empty, or
    when the caller will add to them)."""
    found = decoded.get(subject)
    if found is None:
        found = _positions(stored.get(subject, b""))
        if found or create:
            decoded[subject] = found
    return found


def _positions_blob(values: Iterable[int]) -> bytes:
    return array(_POSITION, values).tobytes()


def _canonical_evidence(lines: list[CanonicalLine]) -> dict[int, str]:
    """``_evidence_for`` for canonical lines: the place of a transition -> its evidence pairs."""
    if len(lines) == 2 and lines[0][0] and lines[1][7] == lines[0][0]:
        # What `done --evidence` writes: a transition and its evidence line. Its pairs are
        # already as format_pairs writes them when no key repeats and no value needs quotes.
        pairs = lines[1][8][1:]
        items = pairs.split(" ")
        if pairs and "\\" not in pairs and "= " not in pairs and pairs[-1] != "=" \
                and pairs.isprintable() \
                and len({item.partition("=")[0] for item in items}) == len(items):
            return {0: pairs}
    transitions = [(place, line[0]) for place, line in enumerate(lines) if line[0]]
    attached: dict[int, dict[str, str]] = {}
    for place, line in enumerate(lines):
        subject = line[7]  # an evidence line's (a transition's is empty)
        owner = -1  # the last transition of the subject above, else the first below
        for other, other_subject in transitions if subject else ():
            if other_subject == subject:
                if other > place:
                    owner = other if owner < 0 else owner
                    break
                owner = other
        if owner >= 0:
            fields = attached.setdefault(owner, {})
            for pair in line[8].split(" "):
                if pair:
                    key, _, value = pair.partition("=")
                    fields[key] = value
    return {owner: format_pairs(fields) for owner, fields in attached.items()}


def _evidence_for(transitions: list[Transition], evidence: Iterable[Evidence]) -> dict[int, str]:
    """Each Flow-Evidence line belongs to a transition of its subject from the same (squashed)
    message: the last one above it, else the first one below it."""
    if len(transitions) == 1:  # the common case: one transition and its evidence
        owner = transitions[0]
        fields: dict[str, str] = {}
        for item in evidence:
            if item.subject == owner.subject and item.origin == owner.origin:
                fields.update(item.fields)
        return {id(owner): format_pairs(fields)} if fields else {}
    attached: dict[int, dict[str, str]] = {}
    for item in evidence:
        same = [t for t in transitions if t.subject == item.subject and t.origin == item.origin]
        if not same:
            continue
        above = [t for t in same if t.line_number <= item.line_number]
        owner = above[-1] if above else same[0]
        attached.setdefault(id(owner), {}).update(dict(item.fields))
    return {key: format_pairs(value) for key, value in attached.items()}


class _NewestFirst:
    """A full replay's fold made while git writes, from commits in ``git log``'s order (newest
    first), when the history allows it: one first-parent chain of commits whose messages hold
    only canonical lines, no transition id twice. Anything else (a merge, a revert, a squash, a
    rename, a copied transition) makes it unusable, and the replay folds in canonical order once
    git is done; both give the same fold (tests/test_history.py).

    Going backwards, the state before a transition is the target of the next one of its
    subject to come (the one before it in time): until that one comes, its event text lacks
    the two states at its end and the transition waits in ``_waiting``.
    """

    def __init__(self, head: str) -> None:
        self.usable = True
        self._next: str | None = head  # the commit git must write next: the parent of the last
        self._commits = 0
        self._events: list[str] = []  # newest first
        self._waiting: dict[str, tuple[int, str]] = {}  # subject -> (place, target), its oldest
        self._places: dict[str, list[int]] = {}  # subject -> places of its events, newest first
        self._ids: dict[str, int] = {}  # transition id -> place
        self._states: dict[str, str] = {}  # subject -> the target of its newest transition

    def add(self, record: Record, parsed: Parsed | None) -> None:
        if not self.usable:
            return
        sha, parents = record[0], record[1]
        if sha != self._next or len(parents) > 1 or (parsed is not None
                                                     and not isinstance(parsed, list)):
            self.usable = False
            return
        self._next = parents[0] if parents else None
        self._commits += 1
        if not parsed:
            return
        events, waiting, places = self._events, self._waiting, self._places
        for ulid, subject, target, head in reversed(parsed):
            if ulid in self._ids:
                self.usable = False  # the oldest copy counts: only the canonical order tells
                return
            place = len(events)
            self._ids[ulid] = place
            events.append(head)
            newer = waiting.get(subject)
            if newer is None:
                self._states[subject] = target
                places[subject] = [place]
            else:
                events[newer[0]] = f"{events[newer[0]]}{target}{_SEP}{newer[1]}"
                places[subject].append(place)
            waiting[subject] = (place, target)

    @property
    def commits(self) -> int:
        """Commits folded so far (all of them, while it is usable)."""
        return self._commits

    def add_block(self, text: str) -> bool:
        """Fold a block of whole ``git log -z`` records at once, with one pattern for all of
        its messages instead of a few calls per commit (bench/bench_replay.py); False, having
        folded nothing, when any message in it may hold more than canonical lines, which
        ``_record`` then reads one by one. What ``canonical_lines`` checks per message is
        checked here for the whole block: no revert or squash line, no CR, and as many canonical
        lines as occurrences of "flow-". Each record has exactly three field separators, so the
        pattern finds one record match per record."""
        if not text:
            return True
        if "reverts commit" in text or "\ncommit " in text or "\r" in text \
                or text.count(_FIELD) != 3 * (text.count("\0") + 1):
            return False
        if "\n* " in text:  # may start a squashed message (trailerfast.canonical_lines)
            return False
        found: list[tuple[str, ...]] = LOG_BLOCK.pattern.findall(f"\0{text}")
        if len(found) - text.count("\0") - 1 != text.lower().count("flow-"):
            return False
        sha = parents = author = ""
        lines: list[CanonicalLine] = []
        for match in found:
            if match[0]:
                if sha:
                    self._add_raw(sha, parents, author, lines)
                sha, parents, author = match[0], match[1], match[2]
                lines = []
            else:
                lines.append(match[3:])  # type: ignore[arg-type]  # the 9 line groups
        self._add_raw(sha, parents, author, lines)
        return True

    def _add_raw(self, sha: str, parents: str, author: str, lines: list[CanonicalLine]) -> None:
        """One commit of ``add_block``: as ``_record`` and ``_parse`` would give it to ``add``."""
        author = _author_lines(author)
        self.add((sha, tuple(parents.split()), author, ""),
                 _prepare(sha, author, lines) if lines else None)

    def fold(self) -> _Fold:
        """The fold in replay order (what ``_Fold.add_commits`` would have made)."""
        events = self._events
        for place, target in self._waiting.values():  # the first of a subject: no state before
            events[place] = f"{events[place]}{_SEP}{target}"
        events.reverse()
        last = len(events) - 1
        subjects = sorted(self._places, key=lambda subject: -self._places[subject][-1])
        # In the cached form straight away: the IDs oldest first, whose events are 0, 1, 2, ...
        ids = list(self._ids)
        ids.reverse()
        positions = {subject: _positions_blob([last - place for place in reversed(self._places[subject])])
                     for subject in subjects}
        return _Fold(events, {subject: self._states[subject] for subject in subjects},
                     f"\n{_SEP.join(ids)}\n" if ids else "\n", _positions_blob(range(len(ids))),
                     positions, dict(positions), commits=self._commits, effects_in_events=True)


# The result -------------------------------------------------------------------------------------


class History:
    """The replayed history of one revision.

    Replay folds every flow line found in trailer blocks; a subject's lines are believed only
    once the trees of their commits are found to agree (history/agreement.py). Each question
    checks the subjects it is about first (``log TASK`` reads one task's commits, ``stats`` all of
    them); a disagreement is recorded as not believed and the history is folded again without
    those lines. What was checked is cached with the fold.
    """

    def __init__(self, head: str | None, shallow: bool, walked: int, cached_from: str | None,
                 fold: _Fold, git: GitReader | None = None,
                 save: Callable[[_Fold], None] | None = None, unsaved: bool = False) -> None:
        self.head = head
        self.shallow = shallow
        self.walked = walked  # commits read from git for this answer (the rest came from the cache)
        self.cached_from = cached_from  # the cached commit the replay continued from
        self._fold = fold
        self._git = git  # None: nothing is checked against trees (folds made in tests)
        self._save = save
        self._unsaved = unsaved  # the fold is not cached yet (``flush`` caches it)
        self._statuses: Any = None

    @property
    def commits(self) -> int:
        """Commits replayed in all (from the root, or from the shallow boundary)."""
        return self._fold.commits

    def state(self, subject: str) -> str | None:
        """The replayed state, or None when history does not know the subject (or it is gone)."""
        self.verify([subject])
        return self._fold.state(subject)

    def states(self) -> dict[str, str]:
        self.verify()
        return {subject: state for subject, state in self._fold.states.items()
                if state != NONE_STATE}

    def subjects(self) -> list[str]:
        """Every subject a flow line names (believed or not: ``state`` and ``events`` say)."""
        return self._fold.subjects()

    def current_id(self, subject: str) -> str:
        """The ID a subject has now (``renumber`` renames are followed)."""
        return self._fold.current_id(subject)

    def renamed(self, subject: str) -> bool:
        self.verify([subject])
        return subject in self._fold.renamed

    def archived(self, subject: str) -> bool:
        """Moved under .flow/archive/ (``epic archive``)."""
        self.verify([subject])
        return subject in self._fold.archived

    def event(self, index: int) -> Event:
        return _decode_event(index, self._fold.events[index])

    def events(self, subjects: Iterable[str] | None = None) -> list[Event]:
        """Events in replay order (parents before children), of some subjects or all."""
        if subjects is None:
            self.verify()
            return [_decode_event(i, text) for i, text in enumerate(self._fold.events)]
        subjects = list(subjects)
        self.verify(subjects)
        indices = sorted({i for s in subjects for i in self._fold.events_of(s)})
        return [self.event(i) for i in indices]

    def standing(self, subject: str) -> list[Event]:
        """The transitions of a subject that stand (not reverted), in the order they count."""
        self.verify([subject])
        return [self.event(i) for i in self._fold.standing_of(subject)]

    def transition_ids(self, commit: str) -> list[str]:
        """The transitions a commit made count (``+id``) or undid (``-id``)."""
        self.verify()
        found = self._fold.effects_map().get(commit)
        return found.split(_SEP) if found else []

    @property
    def findings(self) -> list[Finding]:
        self.verify()
        return [Finding(*item) for item in self._fold.findings]

    @property
    def not_believed(self) -> list[tuple[str, str, str, str]]:
        """(commit, subject, the state its lines lead to, why) of the lines not believed so
        far (``verify`` first to have all of them)."""
        found = []
        for key, value in self._fold.distrust.items():
            commit, _, subject = key.partition(" ")
            target, _, why = value.partition("\n")
            found.append((commit, subject, target, why))
        return found

    # Checking the trees -------------------------------------------------------------------------

    def verify(self, subjects: Iterable[str] | None = None) -> None:
        """Check the lines of these subjects (all: None) against their commits' trees, and fold
        again without those the trees do not bear out (history/agreement.py)."""
        if self._git is None or self.head is None:
            return
        for _ in range(256):  # each round distrusts at least one more (commit, subject)
            fold = self._fold
            names = fold.subjects() if subjects is None else subjects
            checks, last = _unchecked(fold, names)
            if not checks:
                return
            if self._statuses is None:
                from git_flowctl.history.agreement import TreeStatuses

                self._statuses = TreeStatuses(self._git, fold.blob_statuses)
            found = self._statuses.statuses(list(checks))
            _remember(fold.blob_statuses, self._statuses.learned)
            added: dict[str, str] = {}
            seen_wrong: set[str] = set()
            for key, (expected, _, kind, owner) in sorted(checks.items(), key=lambda item: item[1][1]):
                actual = found[key]
                wanted = None if expected in ("", NONE_STATE) else expected
                if actual == wanted:
                    continue
                # The first disagreement of a subject is certain (all before it agree); a later
                # one is when a transition sets the state (it does not depend on what came
                # before); after a revert or rename it may only echo an earlier one.
                if owner not in seen_wrong or kind == EVENT_TRANSITION:
                    commit, named = key
                    added[f"{commit} {named}"] = (  # the state they lead to, then why
                        f"{wanted or NONE_STATE}\n{commit[:7]} records {named} -> "
                        f"{wanted or NONE_STATE} but its tree says {_shown(actual)}: its lines "
                        f"for {named} are not believed")
                seen_wrong.add(owner)
            added = {key: why for key, why in added.items() if key not in fold.distrust}
            if not added:
                fold.verified.update(last)
                self._changed()
                return
            self._refold(added)
        raise FlowError("history could not be checked against its trees",
                        hint="report this with `git flow-task recover --json`")

    def _refold(self, added: dict[str, str]) -> None:
        assert self._git is not None and self.head is not None
        distrust = {**self._fold.distrust, **added}
        fresh = _replay(self._git, self.head, self._save is not None, None, None, None,
                        not self._unsaved, distrust)
        self._fold, self.walked, self.cached_from = fresh._fold, fresh.walked, None
        self._save = fresh._save

    def _changed(self) -> None:
        """The fold changed (more of it checked): cache it now, or at ``flush`` when the
        caller asked for one write at the end."""
        if self._unsaved:
            return
        if self._save is not None:
            self._save(self._fold)

    def flush(self) -> None:
        """Cache the fold if ``replay(..., save=False)`` left it uncached."""
        if self._unsaved and self._save is not None:
            self._save(self._fold)
        self._unsaved = False


_BLOB_STATUSES = 512  # file versions whose status a fold remembers (the latest checked)


def _remember(memory: dict[str, str], learned: dict[str, str]) -> None:
    for blob, status in learned.items():
        memory.pop(blob, None)
        memory[blob] = status  # the latest last
    while len(memory) > _BLOB_STATUSES:
        del memory[next(iter(memory))]


def _shown(status: str | None) -> str:
    from git_flowctl.history.agreement import UNREADABLE

    if status is None:
        return "no file"
    return "an unreadable file" if status == UNREADABLE else status


def _unchecked(fold: _Fold, subjects: Iterable[str],
               ) -> tuple[dict[tuple[str, str], tuple[str, int, str, str]], dict[str, int]]:
    """The (commit, subject as named there) of each event not checked yet, with the state
    the subject has after that commit's last event, its position and kind, and the subject it
    belongs to now; and the last event of each subject (what it is checked up to)."""
    checks: dict[tuple[str, str], tuple[str, int, str, str]] = {}
    last: dict[str, int] = {}
    for subject in subjects:
        positions = fold.events_of(subject)
        if not positions:
            continue
        done = fold.verified.get(subject, -1)
        if positions[-1] <= done:
            continue
        last[subject] = positions[-1]
        for position in positions:
            if position <= done:
                continue
            fields = fold.events[position].split(_SEP)
            if fields[_E_KIND] not in (EVENT_TRANSITION, EVENT_REVERT):
                continue  # a rename, archive move or review keeps the state: nothing to check
            checks[(fields[_E_COMMIT], fields[_E_SUBJECT])] = (
                fields[_E_AFTER], position, fields[_E_KIND], subject)
    return checks, last


def replay(git: GitReader, rev: str = "HEAD", *, use_cache: bool = True,
           progress: Progress | None = None, chain: list[str] | None = None,
           chain_records: dict[str, Record] | None = None, save: bool = True) -> History:
    """The history of ``rev``: continued from the nearest cached state on its first-parent
    chain when there is one, else replayed from the root; the result is cached (``save``:
    now and whenever more of it is checked; else once, at ``History.flush``). ``chain``: the
    start of REV's first-parent chain when the caller already has it, and ``chain_records``
    those commits read already (``GitReader.first_parent_records``)."""
    # A replay makes a few tuples and lists per commit and no reference cycle: the cycle
    # collector would only walk them again and again, a third of the time of a long replay
    # (bench/bench_replay.py). Mercurial turns it off the same way for its indexes.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _replay(git, rev, use_cache, progress, chain, chain_records, save)
    finally:
        if collecting:
            gc.enable()


def _replay(git: GitReader, rev: str, use_cache: bool, progress: Progress | None,
            chain: list[str] | None, chain_records: dict[str, Record] | None,
            save_now: bool = True, distrust: dict[str, str] | None = None) -> History:
    """``distrust``: lines known not to be believed; the history is then folded from the root
    (a cached fold may count them)."""
    store = ReplayCache(git.common_dir, git.shallow_marker()) if use_cache else None
    hit = store.find(git, rev, chain or None) if store is not None and not distrust else None
    if hit is None:
        head = git.resolve(rev)
        if head is None:
            return History(None, git.shallow, 0, None, _Fold())
    elif isinstance(hit, str):
        head = hit  # nothing cached on its chain
        hit = None
    else:
        head = hit.head
        if hit.commit == head:
            return History(head, git.shallow, 0, hit.commit, hit.fold, git,
                           _saver(store, head, hit, []), unsaved=False)
    assert head is not None
    expected = 0
    if progress is not None and hit is None:
        counted = git.run("rev-list", "--count", head, "--")
        expected = int(counted.stdout.strip() or 0) if counted.returncode == 0 else 0
    known = _new_on_chain(hit.commit, chain, chain_records) if hit and chain else None
    newest_first = _NewestFirst(head) if hit is None and not distrust else None
    records, parsed = known or read_records(git, head, hit.commit if hit else None, progress,
                                            expected, newest_first)
    order: list[str] = []
    walked = len(records)
    if newest_first is not None and newest_first.usable:
        walked = newest_first.commits  # records holds only what it did not fold by blocks
        fold = newest_first.fold()
    else:
        order = canonical_order(head, records)
        fold = hit.fold if hit else _Fold(distrust=dict(distrust or {}))
        fold.add_commits(order, records, parsed, message_lookup(git, records))
        if distrust:
            fold.findings.extend((key.split(" ", 1)[0], "trailer_without_change",
                                  why.split("\n", 1)[-1], None) for key, why in distrust.items())
    added = [records[sha] for sha in order]
    save = _saver(store, head, hit, added)
    if save is not None and save_now:
        save(fold)
    return History(head, git.shallow, walked, hit.commit if hit else None, fold, git, save,
                   unsaved=not save_now)


def _saver(store: ReplayCache | None, head: str, hit: _Hit | None,
           added: list[Record]) -> Callable[[_Fold], None] | None:
    """How the fold at ``head`` is cached (again, once more of it is checked)."""
    if store is None:
        return None
    if hit is None:
        return lambda fold: store.save_full(head, fold)
    base, pending = hit.base, [*hit.pending, *added]
    if hit.commit == head and hit.base == head:
        return lambda fold: store.save_full(head, fold)
    return lambda fold: store.save_after(head, base, pending, fold)


def _new_on_chain(cached: str, chain: list[str], records: dict[str, Record] | None,
                  ) -> tuple[dict[str, Record], dict[str, Parsed]] | None:
    """The commits after ``cached`` and their trailers, when they are all on the chain already
    read: no merge among them (a merge brings commits of its other side, which only
    ``git log`` finds)."""
    if records is None or cached not in chain:
        return None
    newer = chain[:chain.index(cached)]
    if not all(sha in records and len(records[sha][1]) == 1 for sha in newer):
        return None
    return ({sha: records[sha] for sha in newer},
            {sha: _parse(sha, records[sha][2], records[sha][3]) for sha in newer
             if records[sha][3]})


def message_lookup(git: GitReader, records: dict[str, Record]) -> Lookup:
    """Find a reverted commit's message: among the commits just read, else ask git."""
    seen: dict[str, tuple[str, str] | None] = {}

    def lookup(rev: str) -> tuple[str, str] | None:
        record = records.get(rev)
        if record is None and len(rev) < 40:
            matches = [sha for sha in records if sha.startswith(rev)]
            record = records[matches[0]] if len(matches) == 1 else None
        if record is not None:
            return record[0], record[3]
        if rev not in seen:
            seen[rev] = git.message(rev)
        return seen[rev]

    return lookup


# The cache --------------------------------------------------------------------------------------

_CACHE_FORMAT = 13  # bump whenever what the cache holds changes shape or meaning
_MAGIC = b"FLOWRPL1"
_DELTA_MAX = 200  # commits a delta may add to its full snapshot before a new full one is written
_KEEP_FILES = 16
_CHAIN_FIRST = 32  # how far down the first-parent chain a cached state is looked for first,
_CHAIN = 1000  # and then


class _Hit(NamedTuple):
    head: str  # the commit asked for
    commit: str  # the cached commit found on its first-parent chain
    fold: _Fold  # the state at that commit
    base: str  # the full snapshot it rests on (itself, or a delta's base)
    pending: list[Record]  # the commits a delta adds to its base


class ReplayCache:
    """Replayed states under ``<git-common-dir>/flow-cache/replay/``, keyed by commit.

    ``<sha>.full`` holds the whole fold at that commit; ``<sha>.delta`` names a full snapshot on
    its first-parent chain and the commits after it (few), so one new commit costs a small write.
    Files are written under a temporary name and renamed (atomic for concurrent readers); a file
    that is unreadable, from another format or Python version, or fails its checksum is ignored
    and replaced. Nothing here changes an answer, only how fast it comes.
    """

    def __init__(self, common_dir: str, shallow_marker: str) -> None:
        self.directory = os.path.join(common_dir, CACHE_DIR, "replay")
        self.marker = (_CACHE_FORMAT, __version__, marshal.version, tuple(sys.version_info[:2]),
                       array(_POSITION).itemsize, sys.byteorder, shallow_marker)

    def _names(self) -> set[str]:
        try:
            return set(os.listdir(self.directory))
        except OSError:
            return set()

    def find(self, git: GitReader, rev: str, known: list[str] | None = None) -> _Hit | str | None:
        """The nearest cached state on the first-parent chain of REV; else REV's commit ID
        (a str), or None for an unborn HEAD. An unknown REV is an error. ``known``: the start
        of the chain, when the caller has it."""
        names = self._names()
        chain = known
        if not chain:
            chain = git.first_parents(rev, _CHAIN_FIRST if names else 1)
            if chain is None:
                raise unknown_revision(rev)
            if not chain:
                return None
        if not names:
            return chain[0]
        hit = self._nearest(git, chain[0], chain, names)
        if hit is None and len(chain) >= _CHAIN_FIRST:  # the chain goes on: look further down
            longer = git.first_parents(rev, _CHAIN) or []
            hit = self._nearest(git, chain[0], longer[len(chain):], names)
        return hit or chain[0]

    def _nearest(self, git: GitReader, head: str, chain: list[str], names: set[str]) -> _Hit | None:
        for sha in chain:
            for kind in ("full", "delta"):
                if f"{sha}.{kind}" in names:
                    hit = self._load(git, head, sha, kind)
                    if hit is not None:
                        return hit
        return None

    def _load(self, git: GitReader, head: str, sha: str, kind: str) -> _Hit | None:
        data = self._read(f"{sha}.{kind}")
        if data is None:
            return None
        try:
            if kind == "full":
                return _Hit(head, sha, _Fold.load(data), sha, [])
            base, raw_records, not_applied, verified, blob_statuses = data
            if not isinstance(verified, dict) or not isinstance(blob_statuses, dict):
                return None
            full = self._read(f"{base}.full")
            if full is None:
                return None
            fold = _Fold.load(full)
            fold.not_applied(not_applied)  # what the delta's commits counted: no search for them
            records: list[Record] = [(r[0], tuple(r[1]), r[2], r[3]) for r in raw_records]
            lookup = message_lookup(git, {record[0]: record for record in records})
            for record in records:
                commit, _, author, message = record
                fold.add_commit(record, _parse(commit, author, message) if message else None,
                                lookup)
            fold.verified, fold.blob_statuses = verified, blob_statuses
            return _Hit(head, sha, fold, base, records)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None

    def _read(self, name: str) -> Any:
        return read_file(os.path.join(self.directory, name), _MAGIC, self.marker)

    def save_full(self, head: str, fold: _Fold) -> None:
        self._write(f"{head}.full", fold.dump())

    def save_after(self, head: str, base: str, records: list[Record], fold: _Fold) -> None:
        if len(records) > _DELTA_MAX:
            self.save_full(head, fold)
        else:
            self._write(f"{head}.delta", (base, records, fold.applied_since_loaded(),
                                          fold.verified, fold.blob_statuses))

    def _write(self, name: str, data: Any) -> None:
        if not write_file(self.directory, name, _MAGIC, self.marker, data):
            return  # a cache that cannot be written only costs speed
        self._prune()

    def _prune(self) -> None:
        entries = []
        for name in self._names():
            if name.startswith(".tmp-"):
                continue
            with contextlib.suppress(OSError):
                entries.append((os.stat(os.path.join(self.directory, name)).st_mtime_ns, name))
        if len(entries) <= _KEEP_FILES:
            return
        entries.sort(reverse=True)
        keep = {name for _, name in entries[:_KEEP_FILES]}
        for name in list(keep):  # a delta needs its full snapshot
            if name.endswith(".delta"):
                data = self._read(name)
                if isinstance(data, tuple) and data:
                    keep.add(f"{data[0]}.full")
        for _, name in entries:
            if name not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.directory, name))
