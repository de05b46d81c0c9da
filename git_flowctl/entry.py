"""The console script. Kept free of heavy imports: hooks run on every commit.

``git flow-task hook pre-commit`` (and commit-msg, prepare-commit-msg) take a fast path when
nothing under ``.flow/`` is staged, so a commit of code alone pays little more than interpreter
start-up (issue #4, bench/bench_hooks.py).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) >= 2 and args[0] == "hook":
        from git_flowctl.hookfast import nothing_to_do

        if nothing_to_do(args[1], args[2:]):
            return 0
    from git_flowctl.cli import run

    return run(args)
