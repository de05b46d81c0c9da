"""flowctl 0.26's spellings, and git's "did you mean" for typos (issue #12).

Flow-Next skills and agent prompts in the wild call flowctl's command names. Each one either
works here under its flowctl name (``ALIASES``, ``OPTION_ALIASES``: the command line is rewritten
before click parses it, so the result is the command's own JSON) or stops with exit 2 and one line
naming the command that does it (``REDIRECTS``). docs/flowctl.md has the same table for people.

Suggestions for unknown commands and options follow git's ``help_unknown_cmd`` (help.c): a
weighted Damerau-Levenshtein distance (swap 0, substitution 2, insertion 1, deletion 3), a
candidate that starts with the typed word counts as closest, and nothing is suggested past a
similarity of 7. So ``strat`` and ``stauts`` suggest ``start`` and ``status``.
"""

from __future__ import annotations

from collections.abc import Iterable

# flowctl command path -> our command path. Options pass through unchanged unless
# OPTION_ALIASES says otherwise for the *flowctl* path.
ALIASES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("task", "skip"): ("skip",),
    ("task", "set-description"): ("task", "edit"),
    ("task", "set-acceptance"): ("task", "edit"),
    ("epic", "set-title"): ("epic", "edit"),
    ("epic", "set-branch"): ("epic", "edit"),
    ("worker-prompt",): ("prompt",),
}

# (flowctl command path, flowctl option) -> (our option, prefix of its value). A value prefix of
# "@" turns a file name into our "text, @file or -" form ("-" stays "-": stdin).
OPTION_ALIASES: dict[tuple[tuple[str, ...], str], tuple[str, str]] = {
    (("task", "set-description"), "--file"): ("--description", "@"),
    (("task", "set-acceptance"), "--file"): ("--acceptance", "@"),
    (("task", "create"), "--acceptance-file"): ("--acceptance", "@"),
    (("start",), "--note"): ("--message", ""),
    (("block",), "--reason-file"): ("--reason", "@"),
    (("skip",), "--reason-file"): ("--reason", "@"),
    (("task", "skip"), "--reason-file"): ("--reason", "@"),
}

# flowctl command path -> what to say instead (exit 2). One line each.
REDIRECTS: dict[tuple[str, ...], str] = {
    ("task", "reset"): "flowctl's `task reset` is `git flow-task restart TASK` here (it resets "
                       "the task and everything downstream; `reopen`, `unblock`, `release` and "
                       "`retry` reset one task)",
    ("task", "set-spec"): "flowctl's `task set-spec` is `git flow-task task edit TASK "
                          "--description @FILE --acceptance @FILE` here",
    ("epic", "set-plan-review-status"): "flowctl's `epic set-plan-review-status EPIC --status S` "
                                        "is `git flow-task review EPIC --kind plan --verdict S` "
                                        "here (or `--run 'COMMAND'` for a reviewer program)",
    ("state-path",): "flowctl's `state-path` has no counterpart: the state is in the commits "
                     "(`git flow-task log`, `git flow-task status`)",
    ("migrate-state",): "flowctl's `migrate-state` is `git flow-task import flowctl .flow` here: "
                        "it brings the state directory into commits",
    ("memory",): "flowctl's `memory` is an agent integration outside task tracking: "
                 "not part of git flow-task",
    ("prep-chat",): "flowctl's `prep-chat` is an agent integration outside task tracking: "
                    "not part of git flow-task (`git flow-task prime` writes the agent primer)",
    ("rp",): "flowctl's `rp` (RepoPrompt) is an agent integration outside task tracking: "
             "not part of git flow-task",
    ("codex",): "flowctl's `codex` is an agent integration outside task tracking: "
                "not part of git flow-task",
    ("ralph",): "flowctl's `ralph` loop is `git flow-task run -- COMMAND` here "
                "(or `git flow-task next --claim` in your own loop)",
    ("review-backend",): "flowctl's `review-backend` is an agent integration outside task "
                         "tracking: not part of git flow-task",
}


class Redirect(Exception):
    """A flowctl name with no counterpart under that name: the message says what to run."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def translate(args: list[str]) -> list[str]:
    """Rewrite a flowctl command line into ours; raises ``Redirect`` for names that only point.

    Only the leading words (the command path) and the options of an aliased path change; words
    after ``--`` are never touched.
    """
    path = _leading_words(args)
    for length in (2, 1):
        key = tuple(path[:length])
        if len(key) == length and key in REDIRECTS:
            raise Redirect(REDIRECTS[key])
    for length in (2, 1):
        key = tuple(path[:length])
        if len(key) < length:
            continue
        target = ALIASES.get(key)
        if target is None and not any(flow_path == key for flow_path, _ in OPTION_ALIASES):
            continue
        rest = _rewrite_options(key, args[length:])
        return [*(target or key), *rest]
    return args


def _leading_words(args: list[str]) -> list[str]:
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    return words[:2]


def _rewrite_options(path: tuple[str, ...], rest: list[str]) -> list[str]:
    out: list[str] = []
    index = 0
    while index < len(rest):
        arg = rest[index]
        if arg == "--":
            out.extend(rest[index:])
            break
        name, eq, inline = arg.partition("=")
        alias = OPTION_ALIASES.get((path, name))
        if alias is None:
            out.append(arg)
            index += 1
            continue
        ours, prefix = alias
        if eq:
            value, index = inline, index + 1
        elif index + 1 < len(rest):
            value, index = rest[index + 1], index + 2
        else:
            out.append(ours)  # let click say the option needs a value
            index += 1
            continue
        out.extend([ours, value if value == "-" else f"{prefix}{value}"])
    return out


# git's help.c ---------------------------------------------------------------------------------

SIMILARITY_FLOOR = 7
# Options are long and share their leading "--": a looser floor would suggest `--remote` for
# `--nte`. git's parse-options suggests nothing; this keeps to one or two slips.
OPTION_SIMILARITY_FLOOR = 4


def git_distance(typed: str, candidate: str) -> int:
    """git's ``levenshtein(typed, candidate, 0, 2, 1, 3)`` (levenshtein.c), weights as git uses
    them for commands: swap 0, substitution 2, insertion 1, deletion 3."""
    swap, substitution, insertion, deletion = 0, 2, 1, 3
    row0 = [0] * (len(candidate) + 1)
    row1 = [j * insertion for j in range(len(candidate) + 1)]
    row2 = [0] * (len(candidate) + 1)
    for i in range(len(typed)):
        row2[0] = (i + 1) * deletion
        for j in range(len(candidate)):
            best = row1[j] + substitution * (typed[i] != candidate[j])
            if (i > 0 and j > 0 and typed[i - 1] == candidate[j] and typed[i] == candidate[j - 1]
                    and best > row0[j - 1] + swap):
                best = row0[j - 1] + swap
            best = min(best, row1[j + 1] + deletion, row2[j] + insertion)
            row2[j + 1] = best
        row0, row1, row2 = row1, row2, row0
    return row1[len(candidate)]


def suggest(typed: str, candidates: Iterable[str], floor: int = SIMILARITY_FLOOR) -> list[str]:
    """The closest candidates, as git ranks them; none when nothing is close enough."""
    scored = []
    for candidate in sorted(set(candidates)):
        if candidate == typed:
            continue
        similarity = 0 if candidate.startswith(typed) and typed else git_distance(typed, candidate) + 1
        scored.append((similarity, candidate))
    if not scored:
        return []
    best = min(score for score, _ in scored)
    if best > floor:
        return []
    return [candidate for score, candidate in scored if score == best]
