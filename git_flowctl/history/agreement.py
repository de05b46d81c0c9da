"""What a commit's tree says about a task or epic: the evidence replay checks its trailers against.

Replay believes the flow lines a commit carries for a subject only when the commit's tree agrees
(DESIGN §4, docs/trailers.md section 4): the status the subject's file has in that commit (its
home under ``.flow/tasks`` or ``.flow/epics``, else under ``.flow/archive``) must be the state
replay gives the subject after the commit's lines; no file means the state ``none``. A title,
a message or any other text can write lines, but it cannot make a tree agree with them.

The statuses are read with one ``git cat-file --batch`` per call, asked for ``<commit>:<path>``
(a walk of three small trees and one blob, about 15 us), only for the subjects a command shows:
``log TASK`` reads its task's few commits, not every file of every commit. A few commits made
since the last command are read from their loose objects first (their trees and blobs are new,
so git wrote them loose), which spares starting git at all. Standard library only (replay's
lean path).
"""

from __future__ import annotations

import contextlib
import os
import re
import zlib

TYPE_CHECKING = False  # typing costs start-up time that replay's lean path avoids
if TYPE_CHECKING:
    from collections.abc import Iterable

    from git_flowctl.history.replay import GitReader

UNREADABLE = "?"  # a file is there but its status cannot be read (not a status at all)
TASKS = ".flow/tasks/"
EPICS = ".flow/epics/"
ARCHIVE_TASKS = ".flow/archive/tasks/"
ARCHIVE_EPICS = ".flow/archive/epics/"
_STATUS_LINE = re.compile(rb"""^status:[ \t]*(["']?)([a-z_]+)\1[ \t]*(?:#[^\n]*)?\r?$""", re.M)


def status_of(raw: bytes) -> str | None:
    """The ``status:`` of a task or epic file; None when it has none or does not parse."""
    text = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    if text.startswith(b"---"):
        end = text.find(b"\n---", 3)
        if end > 0:
            found: list[tuple[bytes, bytes]] = _STATUS_LINE.findall(text[:end])
            if len(found) == 1:
                return found[0][1].decode()
    from git_flowctl.model.document import Document, DocumentError

    try:
        value: object = Document.parse(raw, "file").data.get("status")
    except DocumentError:
        return None
    return value if isinstance(value, str) else None


def home_paths(subject: str) -> tuple[str, str]:
    """Where a subject's file is: its home, then the archive (``epic archive``)."""
    if "." in subject:
        return f"{TASKS}{subject}.md", f"{ARCHIVE_TASKS}{subject}.md"
    return f"{EPICS}{subject}.md", f"{ARCHIVE_EPICS}{subject}.md"


class TreeStatuses:
    """Statuses of subjects' files in commits' trees, remembered per (commit, subject), and per
    blob (``blobs``: what a replay cached from earlier checks, and what this one learns)."""

    def __init__(self, git: GitReader, blobs: dict[str, str] | None = None) -> None:
        self.git = git
        self.known: dict[tuple[str, str], str | None] = {}
        self.blobs = blobs if blobs is not None else {}
        self.learned: dict[str, str] = {}  # blob -> status, read by this one

    def statuses(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """(commit, subject) -> the file's status there, None when there is no file,
        ``UNREADABLE`` when its status cannot be read."""
        wanted = [pair for pair in dict.fromkeys(pairs) if pair not in self.known]
        if 0 < len(wanted) <= _LOOSE_AT_MOST:
            wanted = [pair for pair in wanted if not self._from_loose(pair)]
        if wanted:
            homes = self._read([f"{commit}:{home_paths(subject)[0]}" for commit, subject in wanted])
            missing = [pair for pair, found in zip(wanted, homes, strict=True) if found is None]
            archived = dict(zip(missing, self._read(
                [f"{commit}:{home_paths(subject)[1]}" for commit, subject in missing]),
                strict=True)) if missing else {}
            for pair, found in zip(wanted, homes, strict=True):
                read = found if found is not None else archived.get(pair)
                if read is None:
                    self.known[pair] = None
                else:
                    status = status_of(read[1]) or UNREADABLE
                    self.known[pair] = self.learned[read[0]] = status
        return {pair: self.known[pair] for pair in pairs}

    def _from_loose(self, pair: tuple[str, str]) -> bool:
        """Read the status from loose objects only; False when one of them is packed."""
        commit, subject = pair
        objects = os.path.join(self.git.common_dir, "objects")
        raw = _loose(objects, commit, b"commit")
        if raw is None or not raw.startswith(b"tree "):
            return False
        tree = raw[5:raw.index(b"\n")].decode()
        for path in home_paths(subject):
            blob = _tree_entry(objects, tree, path)
            if blob == _NOT_LOOSE:
                return False
            if blob is not None:
                if blob in self.blobs:  # an earlier version again (packed by now): known
                    self.known[pair] = self.blobs[blob]
                    return True
                found = _loose(objects, blob, b"blob")
                if found is None:
                    return False
                status = status_of(found) or UNREADABLE
                self.known[pair] = self.learned[blob] = status
                return True
        self.known[pair] = None
        return True

    def _read(self, requests: list[str]) -> list[tuple[str, bytes] | None]:
        """The blob ID and content of each ``<commit>:<path>`` (None when missing or not a
        blob)."""
        if not requests:
            return []
        data = ("\n".join(requests) + "\n").encode("utf-8", "surrogateescape")
        source = _input_file(data)
        try:
            process = self.git.start("cat-file", "--batch", stdin=source)
        finally:
            os.close(source)
        with open(process.stdout, "rb") as pipe:
            output = pipe.read()
        code, errors = process.wait()
        if code != 0:
            from git_flowctl.model.errors import FlowError

            detail = errors.strip().splitlines()
            raise FlowError(f"git cat-file failed: {detail[-1] if detail else code}")
        found: list[tuple[str, bytes] | None] = []
        position = 0
        for _ in requests:
            end = output.index(b"\n", position)
            header = output[position:end].split(b" ")
            position = end + 1
            if len(header) == 3 and header[1] in (b"blob", b"tree", b"commit", b"tag") \
                    and header[2].isdigit():
                size = int(header[2])
                found.append((header[0].decode(), output[position:position + size])
                             if header[1] == b"blob" else None)
                position += size + 1
            else:  # "<request> missing", or ambiguous
                found.append(None)
        return found


_LOOSE_AT_MOST = 8  # more than this and one git process is cheaper than reading file by file


def _loose(objects: str, oid: str, kind: bytes) -> bytes | None:
    """A loose object's content when it is loose and of that kind, else None."""
    try:
        with open(os.path.join(objects, oid[:2], oid[2:]), "rb") as handle:
            data = zlib.decompress(handle.read())
    except (OSError, zlib.error):
        return None
    header, _, content = data.partition(b"\0")
    parts = header.split(b" ")
    if len(parts) != 2 or parts[0] != kind or not parts[1].isdigit() \
            or int(parts[1]) != len(content):
        return None
    return content


_NOT_LOOSE = ""


def _tree_entry(objects: str, tree: str, path: str) -> str | None:
    """The object ID at ``path`` under ``tree``, None when there is no such entry,
    ``_NOT_LOOSE`` when a tree on the way is not loose (or not a tree)."""
    size = len(tree) // 2  # 20 bytes for SHA-1 IDs, 32 for SHA-256
    oid = tree
    parts = path.split("/")
    for depth, name in enumerate(parts):
        content = _loose(objects, oid, b"tree")
        if content is None:
            return _NOT_LOOSE
        wanted = name.encode("utf-8")
        position, found = 0, None
        while position < len(content):
            space = content.index(b" ", position)
            end = content.index(b"\0", space)
            entry_name = content[space + 1:end]
            if entry_name == wanted:
                mode = content[position:space]
                directory = mode == b"40000"
                if directory == (depth < len(parts) - 1):
                    found = content[end + 1:end + 1 + size].hex()
                break
            position = end + 1 + size
        if found is None:
            return None
        oid = found
    return oid


def _input_file(data: bytes) -> int:
    """A readable file descriptor holding ``data`` (git's stdin): an anonymous memory file
    where Linux has one, else an unlinked temporary file. A file, not a pipe: git writes its
    answers while it reads, and a pipe each way could fill both and stall."""
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None:
        fd: int = memfd("flow-requests", getattr(os, "MFD_CLOEXEC", 0))
    else:
        import tempfile

        fd, name = tempfile.mkstemp(prefix="flow-requests-")
        with contextlib.suppress(OSError):
            os.unlink(name)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
