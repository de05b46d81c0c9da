"""The console script. Kept free of heavy imports: hooks run on every commit.

``git flow-task hook pre-commit`` (and commit-msg, prepare-commit-msg) take a fast path when
nothing under ``.flow/`` is staged, so a commit of code alone pays little more than interpreter
start-up (issue #4, bench/bench_hooks.py); when a few plan files are staged, pre-commit checks
them against HEAD's stored snapshot without click or pygit2 (guard/hooklean.py, issue #11).
``git flow-task log [ID | --epic E] --json`` is answered without click, pygit2 or YAML from the
cached replay (issue #5, bench/bench_replay.py); anything else about it takes the normal path.
"""

from __future__ import annotations

import sys

# Read commands the lean path answers with --json (views/lean.py, issue #11), and without it
# (their human text, views/text.py) all but `board`, which it answers with --plain.
_LEAN_READS = frozenset({"status", "show", "tasks", "list", "epics", "ready", "next", "blocked",
                         "validate", "board"})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) >= 2 and args[0] == "hook":
        from git_flowctl.guard.hookfast import nothing_to_do, staged_under_flow

        staged = staged_under_flow() if args[1] == "pre-commit" and "--json" not in args else None
        if staged == b"":
            return 0  # nothing under .flow/ staged
        if staged is not None:
            from git_flowctl.guard.hooklean import pre_commit

            if pre_commit(staged) == 0:
                return 0
        elif nothing_to_do(args[1], args[2:]):
            return 0
    if args[:1] == ["log"] and "--json" in args:
        from git_flowctl.history.timeline import fast_log

        code = fast_log(args)
        if code is not None:
            return code
    if ("--json" in args and not set(args).isdisjoint(_LEAN_READS)) \
            or (args[:1] == ["board"] and "--plain" in args) \
            or (bool(args) and args[0] != "board" and args[0] in _LEAN_READS):
        from git_flowctl.views.lean import answer

        code = answer(args)
        if code is not None:
            return code
    from git_flowctl.cli import run

    return run(args)
