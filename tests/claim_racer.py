"""A racer for the claim race tests: loop `next --claim` then `done` until nothing is left.

Run as a subprocess in a worktree or clone, with FLOW_ACTOR set. Waits for the file named by
argv[1] so that every racer starts at once, then prints one JSON line: the tasks it finished and
the races it lost.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> int:
    from git_flowctl.claims import Claims, claim_next
    from git_flowctl.cli import run
    from git_flowctl.ops import Context
    from git_flowctl.workspace import Workspace

    go = Path(sys.argv[1])
    deadline = time.monotonic() + 300
    while not go.exists():
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.005)
    finished: list[str] = []
    lost: list[str] = []
    while True:
        ws = Workspace()
        answer = claim_next(Claims.open(ws), Context(actor=ws.actor(), now=ws.identities[0].iso()))
        lost.extend(race["id"] for race in answer["lost_races"])
        if answer["status"] != "work":
            break
        code = run(["done", str(answer["task"]), "--json"])
        if code != 0:
            print(json.dumps({"error": f"done {answer['task']} exited {code}"}))
            return 1
        finished.append(str(answer["task"]))
    print(json.dumps({"done": finished, "lost": lost}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
