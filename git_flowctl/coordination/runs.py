"""The run registry (issue #16, part 4): every `run` of a repository, seen from anywhere.

A run registers itself in ``<git-common-dir>/flow-runs/registry/<run-id>.json`` when it starts,
rewrites the file whenever what it does changes (and every few seconds, so a run on another
machine sharing the directory shows as alive), and removes it when it ends. The record says who
runs (pid, host, boot, the process's start time), on which branch, with which command and how
many jobs, which tasks it runs now with their attempts, and whether it is paused or stopping.

A run whose process is gone shows as ``dead``: on this host, its pid does not exist any more, or
it exists but started at another time (the pid was reused), or the machine has rebooted since
(another boot id). On another host, a record not rewritten for ``STALE_SECONDS`` is dead. The
next `run` of the same actor on the same branch resumes a dead run's tasks.

Run events (start, done, fail, timeout, retry scheduled, breaker open, ...) are appended as JSON
lines to ``<git-common-dir>/flow-runs/<run-id>/events.jsonl``; `log --follow --json` streams
them with the transitions.

Standard library only, so `status --json` (`runs`) stays a cheap read.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from typing import Any

RUNS_DIR = "flow-runs"
REGISTRY_DIR = "registry"
EVENTS_FILE = "events.jsonl"
STALE_SECONDS = 60.0  # a record of another host not rewritten for this long: its run is dead
REFRESH_SECONDS = 5.0  # how often a run rewrites its record at the least


def runs_root(common_dir: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(common_dir), RUNS_DIR)


def registry_dir(common_dir: str | os.PathLike[str]) -> str:
    return os.path.join(runs_root(common_dir), REGISTRY_DIR)


def record_path(common_dir: str | os.PathLike[str], run_id: str) -> str:
    return os.path.join(registry_dir(common_dir), f"{run_id}.json")


def hostname() -> str:
    import socket

    return socket.gethostname()


def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """When the process started, as the kernel counts it (``/proc/<pid>/stat`` field 22, clock
    ticks since boot); None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()  # after "pid (comm) ": state is field 3
    return fields[19].decode() if len(fields) > 19 else None


def identity(pid: int | None = None) -> dict[str, Any]:
    """What tells this process apart from any other, even one that gets its pid later."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "host": hostname(), "boot_id": boot_id(), "process_start": process_start(pid)}


def liveness(record: dict[str, Any], now: float | None = None) -> str:
    """``alive`` or ``dead`` (see the module's docstring)."""
    if record.get("host") != hostname():
        updated = record.get("updated")
        now = time.time() if now is None else now
        return "alive" if isinstance(updated, (int, float)) and now - updated < STALE_SECONDS \
            else "dead"
    if record.get("boot_id") and boot_id() and record["boot_id"] != boot_id():
        return "dead"
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return "dead"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        pass
    started = record.get("process_start")
    if started is not None and process_start(pid) not in (None, started):
        return "dead"  # the pid now belongs to another process
    if _zombie(pid):
        return "dead"
    return "alive"


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] == b"Z"


def list_runs(common_dir: str | os.PathLike[str], now: float | None = None) -> list[dict[str, Any]]:
    """Every registered run, oldest first, each with ``state``: running, paused, stopping or
    dead (its process is gone; the next `run` on its branch resumes its tasks)."""
    folder = registry_dir(common_dir)
    try:
        names = sorted(name for name in os.listdir(folder) if name.endswith(".json"))
    except OSError:
        return []
    found = []
    for name in names:
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            continue  # being replaced this very moment, or not ours
        if not isinstance(record, dict) or "run_id" not in record:
            continue
        alive = liveness(record, now) == "alive"
        record["alive"] = alive
        record["state"] = ("dead" if not alive else "stopping" if record.get("stopping")
                           else "paused" if record.get("paused") else "running")
        found.append(record)
    return sorted(found, key=lambda r: (str(r.get("started_at", "")), str(r["run_id"])))


def status_report(common_dir: str | os.PathLike[str], run_id: str | None = None) -> dict[str, Any]:
    """`run status [RUN-ID]`'s answer: the runs (or the one RUN-ID, or an ID's prefix, names),
    how many, and how many are alive and dead. An ID that names no run is refused."""
    listed = list_runs(common_dir)
    if run_id is not None:
        listed = [r for r in listed if r["run_id"] == run_id or r["run_id"].startswith(run_id)]
        if not listed:
            from git_flowctl.model.errors import FlowError

            raise FlowError(f"no run {run_id} in this repository",
                            hint="`git flow-task run status` lists the runs")
    return {"runs": listed, "count": len(listed),
            "active": sum(1 for r in listed if r["alive"]),
            "dead": sum(1 for r in listed if not r["alive"])}


def write_record(common_dir: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Replace the run's record in one step (a reader sees the old one or the new one)."""
    folder = registry_dir(common_dir)
    os.makedirs(folder, exist_ok=True)
    target = record_path(common_dir, str(record["run_id"]))
    temporary = f"{target}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, ensure_ascii=False)
    os.replace(temporary, target)


def remove_record(common_dir: str | os.PathLike[str], run_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(record_path(common_dir, run_id))


def append_event(run_dir: str | os.PathLike[str], event: dict[str, Any]) -> None:
    """One JSON line per event; lines are written whole (O_APPEND, one write each)."""
    line = (json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(os.path.join(os.fspath(run_dir), EVENTS_FILE),
                 os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class EventTail:
    """New run events of every run, for `log --follow`: those appended after it was made
    (runs that start later are read from their first line)."""

    def __init__(self, common_dir: str | os.PathLike[str]) -> None:
        self.root = runs_root(common_dir)
        self.offsets: dict[str, int] = {}
        for name in self._run_dirs():
            with contextlib.suppress(OSError):
                self.offsets[name] = os.path.getsize(os.path.join(self.root, name, EVENTS_FILE))
            self.offsets.setdefault(name, 0)

    def _run_dirs(self) -> list[str]:
        try:
            return [name for name in os.listdir(self.root)
                    if name != REGISTRY_DIR and os.path.isdir(os.path.join(self.root, name))]
        except OSError:
            return []

    def poll(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for name in self._run_dirs():
            path = os.path.join(self.root, name, EVENTS_FILE)
            offset = self.offsets.get(name, 0)
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
            except OSError:
                continue
            complete = data[:data.rfind(b"\n") + 1]  # a line still being written waits
            self.offsets[name] = offset + len(complete)
            for line in complete.splitlines():
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict):
                        found.append(event)
        return sorted(found, key=lambda e: float(e.get("timestamp") or 0))
