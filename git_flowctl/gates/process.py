"""Running a command with a deadline, and killing everything it started.

A command runs in its own session (so its own process group) with marker variables in its
environment. At the deadline its group gets SIGTERM, then SIGKILL after a grace period; so do
the processes that left the group (``setsid``, a daemonizing test server) but still carry the
markers, found through ``/proc/<pid>/environ`` the way Jenkins' ProcessTreeKiller finds a
build's strays by BUILD_ID. A command that ends on its own has what it left behind killed too.

The guard, invariants and reviewers run through ``run_with_deadline``; ``run``'s scheduler
(coordination/scheduler.py) drives its own processes and kills them with ``kill_tree``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

KILL_GRACE_SECONDS = 2.0


def kill_tree(pid: int, sig: signal.Signals, markers: tuple[str, ...] = ()) -> None:
    """Signal the process group led by ``pid`` and (Linux) every process whose environment
    carries all of ``markers`` (``KEY=VALUE`` entries)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    for stray in marked_processes(markers) if markers else ():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(stray, sig)


def marked_processes(markers: tuple[str, ...]) -> list[int]:
    """PIDs (not this process) whose environment holds every ``KEY=VALUE`` of ``markers``."""
    wanted = [f"\0{marker}\0".encode() for marker in markers]
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []  # no /proc: the process group is all we can reach
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environment = b"\0" + handle.read()
        except OSError:
            continue  # gone, or another user's
        if all(marker in environment for marker in wanted):
            found.append(int(entry))
    return found


@dataclass(frozen=True)
class Completed:
    """How a command ended: its exit code (negative: killed by that signal), whether the
    deadline killed it, how long it took, and the digest of its output file."""

    exit_code: int
    timed_out: bool
    duration: float
    sha256: str
    output: Path


def run_with_deadline(argv: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float,
                      output: Path, stdin: bytes | None = None,
                      markers: tuple[str, ...] = (),
                      kill_grace: float = KILL_GRACE_SECONDS) -> Completed:
    """Run ``argv`` with its standard output and error in ``output``; at ``timeout`` seconds
    kill its whole tree. ``markers`` must be entries of ``env`` (they find the strays).

    Raises OSError when the program cannot be started at all."""
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(output, "wb") as sink, _stdin_file(output, stdin) as source:
        process = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=source, stdout=sink,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        timed_out = False
        try:
            process.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_tree(process.pid, signal.SIGTERM, markers)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=kill_grace)
        except BaseException:  # Ctrl-C: nothing of it may outlive us
            kill_tree(process.pid, signal.SIGKILL, markers)
            process.wait()
            raise
        finally:
            # Whatever it left behind (or whatever ignored SIGTERM) goes too.
            kill_tree(process.pid, signal.SIGKILL, markers)
        exit_code = process.wait()
    duration = time.monotonic() - started
    with open(output, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return Completed(exit_code, timed_out, duration, digest, output)


@contextlib.contextmanager
def _stdin_file(output: Path, data: bytes | None) -> Iterator[IO[bytes]]:
    """Standard input from a file beside the output (a pipe could fill while the command
    ignores it), or /dev/null."""
    if data is None:
        with open(os.devnull, "rb") as handle:
            yield handle
        return
    path = output.with_name(output.name + ".stdin")
    path.write_bytes(data)
    try:
        with open(path, "rb") as handle:
            yield handle
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
