"""The console script. Kept free of heavy imports: hooks run on every commit.

``git flow-task hook pre-commit`` takes a fast path when nothing under ``.flow/`` is staged, so a
commit of code alone pays little more than interpreter start-up (issue #4, bench/).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:2] == ["hook", "pre-commit"]:
        from git_flowctl.hookfast import nothing_staged_under_flow

        if nothing_staged_under_flow():
            return 0
    from git_flowctl.cli import run

    return run(args)
