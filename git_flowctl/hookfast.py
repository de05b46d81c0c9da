"""The cheap check at the front of the pre-commit hook: is anything under .flow/ staged?

Imports only the standard library (subprocess), so a commit that touches no task file costs one
`git diff --cached --quiet` (a few milliseconds) on top of interpreter start-up.
"""

from __future__ import annotations

import subprocess


def nothing_staged_under_flow() -> bool:
    try:
        result = subprocess.run(
            ["git", "diff", "--cached", "--quiet", "--no-ext-diff", "--", ".flow"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            check=False)
    except OSError:
        return False
    return result.returncode == 0
