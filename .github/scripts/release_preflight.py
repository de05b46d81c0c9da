"""Before a release is built: the pushed tag, git_flowctl.__version__, CHANGELOG.md and the
project URL in pyproject.toml must agree (docs/releasing.md).

    python .github/scripts/release_preflight.py TAG OWNER/REPO [--notes FILE]

TAG is the pushed tag (vX.Y.Z), OWNER/REPO the GitHub repository the workflow runs in. Exits 1
and names every disagreement; with --notes, writes the version's CHANGELOG.md section to FILE
(the GitHub release's text). Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def package_version() -> str:
    """The version as hatch reads it (tool.hatch.version: the __version__ line)."""
    text = (ROOT / "git_flowctl" / "__init__.py").read_text("utf-8")
    found = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if found is None:
        raise SystemExit("git_flowctl/__init__.py has no __version__ line")
    return found.group(1)


def changelog_section(version: str) -> str | None:
    """The text under `## [VERSION]` in CHANGELOG.md, up to the next `## ` heading."""
    text = (ROOT / "CHANGELOG.md").read_text("utf-8")
    heading = re.search(rf"^## \[{re.escape(version)}\][^\n]*\n", text, re.MULTILINE)
    if heading is None:
        return None
    rest = text[heading.end():]
    following = re.search(r"^## ", rest, re.MULTILINE)
    return (rest[:following.start()] if following else rest).strip() + "\n"


def problems(tag: str, repository: str) -> tuple[list[str], str | None]:
    found: list[str] = []
    version = package_version()
    if tag != f"v{version}":
        found.append(f"the tag {tag} does not name git_flowctl.__version__ {version} "
                     f"(tag v{version}, or change __version__ first)")
    notes = changelog_section(version)
    if notes is None:
        found.append(f"CHANGELOG.md has no section `## [{version}]`")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    url = project.get("urls", {}).get("Repository")
    expected = f"https://github.com/{repository}"
    if url != expected:
        found.append(f"pyproject.toml's [project.urls] Repository is {url!r}, not {expected!r}: "
                     "set it (and the docs' install lines) to this repository")
    return found, notes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tag")
    parser.add_argument("repository", help="OWNER/REPO")
    parser.add_argument("--notes", type=Path, help="write the version's changelog section here")
    args = parser.parse_args(argv)
    found, notes = problems(args.tag, args.repository)
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if found:
        return 1
    if args.notes is not None and notes is not None:
        args.notes.write_text(notes, "utf-8")
    print(f"release {args.tag} of {args.repository}: tag, version, changelog and URL agree")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
