"""Guard evidence: how a check's result is written into ``Flow-Evidence`` pairs, and read back.

One ``Flow-Evidence`` line per check (docs/trailers.md, "Guard evidence"):

    Flow-Evidence: fn-1.2 guard.test=pass guard.test.duration=3.21 guard.test.output=sha256:<hex>
    Flow-Evidence: fn-1.2 invariant.no-cli-in-domain=pass invariant.no-cli-in-domain.duration=0.40 ...

``<kind>.<name>`` holds the result (``pass``, ``fail`` or ``skipped``); ``.duration`` the seconds
it took, ``.output`` the digest of its output (kept under the git directory by ``guard``), and
``.exit`` its exit code when it ran. The names are the project's own (config.yaml's guard
entries, invariants' slugs) and are checked against ``NAME`` before they become keys; nothing
else of a check (its command, its output) goes into a trailer.

A transition is *verified* when its evidence holds at least one passing check and no failing
one: skipped checks (a program not installed) are reported but prove nothing, so a guard whose
every check was skipped does not verify (issue #15).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

GUARD, INVARIANT = "guard", "invariant"
KINDS = (GUARD, INVARIANT)
PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
RESULTS = (PASS, FAIL, SKIPPED)
# The outcome of a set of checks: one of RESULTS, or MISSING when there is none.
MISSING = "missing"

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)


def valid_name(name: str) -> bool:
    return NAME.fullmatch(name) is not None


def entry_pairs(kind: str, name: str, result: str, duration: float, sha256: str | None,
                exit_code: int | None) -> dict[str, str]:
    """The pairs of one check's ``Flow-Evidence`` line."""
    if kind not in KINDS or result not in RESULTS or not valid_name(name):
        raise ValueError(f"not a guard evidence entry: {kind}.{name}={result}")
    key = f"{kind}.{name}"
    pairs = {key: result, f"{key}.duration": f"{duration:.2f}"}
    if exit_code is not None:
        pairs[f"{key}.exit"] = str(exit_code)
    if sha256 is not None:
        pairs[f"{key}.output"] = f"sha256:{sha256}"
    return pairs


def results_of(fields: Mapping[str, str]) -> dict[str, str]:
    """``{"guard.test": "pass", ...}``: the check results among a transition's evidence."""
    found: dict[str, str] = {}
    for key, value in fields.items():
        kind, _, name = key.partition(".")
        if kind in KINDS and valid_name(name) and value in RESULTS:
            found[key] = value
    return found


def outcome(fields: Mapping[str, str]) -> str:
    """``pass`` (verified), ``fail``, ``skipped`` (every check skipped) or ``missing``."""
    results = set(results_of(fields).values())
    if not results:
        return MISSING
    if FAIL in results:
        return FAIL
    return PASS if PASS in results else SKIPPED


def verified(fields: Mapping[str, str]) -> bool:
    return outcome(fields) == PASS
