"""A noticer for the expiry race test: waits for the go file (argv[1]), then runs one command
line (argv[2:]) through the CLI in this process and prints its JSON with the exit code.

Imports happen before the wait, so racers released together really reach the claim ref
together (a console script spends most of its start-up importing)."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path


def main() -> int:
    from git_flowctl.cli import run
    from git_flowctl.coordination import claims, expiry  # noqa: F401 (imported before the race)

    go = Path(sys.argv[1])
    deadline = time.monotonic() + 300
    while not go.exists():
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.002)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = run([*sys.argv[2:], "--json"])
    data = json.loads(buffer.getvalue())
    data["exit_code"] = code
    print(json.dumps(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
