"""Run every benchmark script in this folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    worst = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        code = subprocess.run([sys.executable, str(script), *sys.argv[1:]]).returncode
        worst = max(worst, code)
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
