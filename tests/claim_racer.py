"""A racer for the claim race tests: loop `next --claim` then `done` until nothing is left.

Each command runs through the CLI in this process (no interpreter start-up per command, so eight
racers fit on a small machine); the racers themselves are separate processes.

Run as a subprocess in a worktree or clone, with FLOW_ACTOR set. Waits for the file named by
argv[1] so that every racer starts at once, then prints one JSON line: the tasks it finished and
the races it lost.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any


def call(*args: str) -> dict[str, Any]:
    """One `git flow-task` command line, run in this process (the console script's code path)."""
    from git_flowctl.cli import run

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = run([*args, "--json"])
    data: dict[str, Any] = json.loads(buffer.getvalue())
    data["exit_code"] = code
    return data


def main() -> int:
    go = Path(sys.argv[1])
    deadline = time.monotonic() + 300
    while not go.exists():
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.005)
    finished: list[str] = []
    lost: list[str] = []
    while True:
        answer = call("next", "--claim")
        if answer["exit_code"] != 0:
            print(json.dumps({"error": answer}))
            return 1
        lost.extend(race["id"] for race in answer["lost_races"])
        if answer["status"] != "work":
            break
        done = call("done", str(answer["task"]))
        if done["exit_code"] != 0:
            print(json.dumps({"error": done}))
            return 1
        finished.append(str(answer["task"]))
    print(json.dumps({"done": finished, "lost": lost}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
