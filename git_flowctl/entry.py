"""The console script. Kept free of heavy imports: hooks run on every commit.

``git flow-task hook pre-commit`` takes a fast path when nothing under ``.flow/`` is staged, so a
commit of code alone pays little more than interpreter start-up (issue #4, bench/).
``git flow-task log [ID | --epic E] --json`` is answered without click, pygit2 or YAML from the
cached replay (issue #5, bench/bench_replay.py); anything else about it takes the normal path.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:2] == ["hook", "pre-commit"]:
        from git_flowctl.hookfast import nothing_staged_under_flow

        if nothing_staged_under_flow():
            return 0
    if args[:1] == ["log"] and "--json" in args:
        from git_flowctl.timeline import fast_log

        code = fast_log(args)
        if code is not None:
            return code
    from git_flowctl.cli import run

    return run(args)
