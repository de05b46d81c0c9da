"""git's lock files (``index.lock``, ``refs/heads/main.lock``, ...) as the writer meets them.

git takes a lock by creating ``<file>.lock`` and releases it by renaming or deleting it; a git
process that crashed leaves it behind, and every later writer fails until someone removes it.
A lock held by a live process goes within moments, so a writer waits a little; one that stays
is named, with how to remove it safely, instead of being retried for seconds or reported as a
lost race that a script would retry forever (issue #14, item 5).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from git_flowctl.model.errors import FlowError

LOCK_WAIT = 2.0  # seconds a lock may stay before it is taken for one left by a crash


def wait_until_gone(lock: Path, seconds: float = LOCK_WAIT) -> bool:
    """True when ``lock`` does not exist, or stops existing within ``seconds``."""
    deadline = time.monotonic() + seconds
    while lock.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def stale_lock_error(lock: Path, what: str, *, done: str | None = None) -> FlowError:
    """``what`` is locked by ``lock``; ``done``: what was already done before it was met."""
    prefix = f"{done}, but " if done else ""
    return FlowError(
        f"{prefix}{what} is locked: {lock} exists",
        hint=(f"another git command may be running; if none is, a crashed one left the lock: "
              f"remove it (`rm {shlex.quote(str(lock))}`) and run the command again"
              + (" (or `git flow-task recover --apply`)" if done else "")),
        lock=str(lock))


def refuse_if_stale(lock: Path, what: str) -> None:
    """Wait for ``lock`` to go; raise ``stale_lock_error`` when it stays."""
    if not wait_until_gone(lock):
        raise stale_lock_error(lock, what)
