"""Issue #18: the install works from every channel the docs name.

The release workflow's checks run here on the real artifacts: the sdist and the wheel built
offline as the workflow builds them (the wheel from the sdist), `twine check`,
`check-wheel-contents`, then the wheel installed into a fresh virtualenv where `git flow-task
--version`, `git help flow-task` and the hooks must work. The workflow files pass actionlint;
the tag, the version, CHANGELOG.md, the project URL and the docs' install lines agree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import BIN_DIR, Repo, make_repo

from git_flowctl import __version__

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PREFLIGHT = ROOT / ".github" / "scripts" / "release_preflight.py"
TAG = f"v{__version__}"
REPOSITORY_URL: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "pre-push")


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("actionlint", path=str(BIN_DIR))
    assert exe is not None, "actionlint is missing: pip install -e '.[test]'"
    return subprocess.run([exe, "-no-color", *map(str, paths)], cwd=ROOT, capture_output=True,
                          text=True)


def test_the_workflows_pass_actionlint() -> None:
    assert [path.name for path in WORKFLOWS] == ["ci.yml", "release.yml"]
    result = _actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_a_broken_workflow(tmp_path: Path) -> None:
    """The check above can fail: a workflow with a mistake actionlint knows is refused."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    broken.write_text(text.replace("runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    needs: nowhere"))
    result = _actionlint(broken)
    assert result.returncode == 1 and "nowhere" in result.stdout, result


def test_the_workflows_do_what_the_issue_asks() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert set(ci[True]) == {"pull_request", "push"} and ci[True]["push"]["branches"] == ["main"]
    assert ci["jobs"]["test"]["steps"][-1]["run"] == "bash .ci/run"
    release = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert release[True] == {"push": {"tags": ["v*"]}}
    build = "\n".join(step.get("run", "") for step in release["jobs"]["build"]["steps"])
    for command in ("release_preflight.py", "python -m build", "twine check --strict dist/*",
                    "check-wheel-contents dist/*.whl"):
        assert command in build
    pypi = release["jobs"]["pypi"]
    assert pypi["permissions"] == {"id-token": "write"} and "password" not in str(pypi)
    assert pypi["steps"][-1]["uses"] == "pypa/gh-action-pypi-publish@release/v1"
    assert "gh release create" in str(release["jobs"]["github-release"]["steps"])


def _preflight(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PREFLIGHT), *args], cwd=cwd, capture_output=True,
                          text=True)


def test_the_release_preflight_agrees_for_this_version(tmp_path: Path) -> None:
    repository = REPOSITORY_URL.removeprefix("https://github.com/")
    notes = tmp_path / "notes.md"
    passed = _preflight(TAG, repository, "--notes", str(notes))
    assert passed.returncode == 0, passed.stderr
    changelog = (ROOT / "CHANGELOG.md").read_text()
    section = changelog.split(f"## [{__version__}]", 1)[1].split("\n", 1)[1].split("\n## ", 1)[0]
    assert notes.read_text().strip() == section.strip() != ""

    wrong_tag = _preflight("v9.9.9", repository)
    assert wrong_tag.returncode == 1
    assert f"the tag v9.9.9 does not name git_flowctl.__version__ {__version__}" in wrong_tag.stderr
    elsewhere = _preflight(TAG, "someone/fork")
    assert elsewhere.returncode == 1
    assert "not 'https://github.com/someone/fork'" in elsewhere.stderr


def test_the_docs_install_lines_name_the_project_url_and_the_first_tag() -> None:
    assert REPOSITORY_URL.startswith("https://github.com/") and REPOSITORY_URL.endswith("/git-flowctl")
    pages = ["README.md", "docs/ci.md", "docs/hooks.md", "docs/guide.md", "docs/agents.md"]
    found = 0
    for page in pages:
        text = (ROOT / page).read_text()
        for match in re.finditer(r"git\+(https://[^\s@\"'`]+)@([\w.\-]+)", text):
            assert (match.group(1), match.group(2)) == (REPOSITORY_URL, TAG), (page, match.group(0))
            found += 1
    assert found >= 4
    ci = (ROOT / "docs" / "ci.md").read_text()
    assert "pip install git-flowctl\n" not in ci  # nothing is on PyPI before the first release
    (precommit,) = [block for block in re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "hooks.md").read_text(), re.DOTALL)
                    if "repos:" in block]  # the other is lefthook's
    config = yaml.safe_load(precommit)
    assert config["repos"][0]["repo"] == REPOSITORY_URL and config["repos"][0]["rev"] == TAG


@pytest.mark.slow
def test_the_release_artifacts_build_pass_the_checks_and_install(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist),
                            str(ROOT)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    (sdist,) = dist.glob(f"git_flowctl-{__version__}.tar.gz")
    (wheel,) = dist.glob(f"git_flowctl-{__version__}-py3-none-any.whl")

    twine = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
                           capture_output=True, text=True)
    assert twine.returncode == 0 and twine.stdout.count("PASSED") == 2, twine.stdout + twine.stderr
    contents = subprocess.run([sys.executable, "-m", "check_wheel_contents", str(wheel)],
                              capture_output=True, text=True)
    assert contents.returncode == 0 and contents.stdout.strip().endswith(": OK"), contents

    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    top = f"git_flowctl-{__version__}"
    for needed in ("share/man/man1/git-flow-task.1", "CHANGELOG.md", ".pre-commit-hooks.yaml",
                   *(f"hooks/{hook}" for hook in HOOKS)):
        assert f"{top}/{needed}" in names, needed

    with zipfile.ZipFile(wheel) as archive:
        for hook in HOOKS:  # the shims hooks install copies, executable
            name = f"git_flowctl/hook_templates/{hook}"
            assert archive.read(name) == (ROOT / "hooks" / hook).read_bytes()
            assert archive.getinfo(name).external_attr >> 16 & 0o111
        man = [n for n in archive.namelist() if n.endswith("share/man/man1/git-flow-task.1")]
        assert len(man) == 1 and ".data/data/" in man[0], man
        assert archive.read(man[0]) == (ROOT / "share" / "man" / "man1" / "git-flow-task.1").read_bytes()
        assert "git_flowctl/mcp/server.py" in archive.namelist()
        metadata = archive.read(f"git_flowctl-{__version__}.dist-info/METADATA").decode()
    assert f"Project-URL: Repository, {REPOSITORY_URL}" in metadata
    assert "Provides-Extra: mcp" in metadata and "extra == 'mcp'" in metadata

    venv = _fresh_venv_with(wheel, tmp_path / "venv")
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    env.pop("MANPATH", None)
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import git_flowctl; print(git_flowctl.__file__)"],
                           capture_output=True, text=True, env=env, check=True, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # the wheel's copy runs

    version = subprocess.run(["git", "flow-task", "--version"], capture_output=True, text=True,
                             env=env, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"git flow-task, version {__version__}"
    assert shutil.which("git-flow-task", path=env["PATH"]) == str(venv / "bin" / "git-flow-task")

    page = venv / "share" / "man" / "man1" / "git-flow-task.1"
    assert page.is_file()  # where man looks for the pages of a bin/ directory on PATH
    if shutil.which("man") is not None:
        shown = subprocess.run(["git", "help", "flow-task"], capture_output=True, text=True,
                               cwd=tmp_path, env={**env, "MANPAGER": "cat", "PAGER": "cat",
                                                  "MANWIDTH": "100"})
        assert shown.returncode == 0, shown.stderr
        assert "GIT-FLOW-TASK(1)" in re.sub(r".\x08", "", shown.stdout)

    _hooks_run_from(venv, make_repo(tmp_path / "project"), env)


def _fresh_venv_with(wheel: Path, venv: Path) -> Path:
    """A new virtualenv holding the wheel. Its dependencies (pygit2, PyYAML, networkx, click,
    rich) are borrowed from this interpreter's site-packages through a .pth line, so that the
    test needs no network; git_flowctl itself, its console script, its man page and its hook
    shims come only from the wheel (its site-packages comes first on sys.path)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                                "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "borrowed_dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    return venv


def _hooks_run_from(venv: Path, repo: Repo, env: dict[str, str]) -> None:
    def flow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "flow-task", *args], cwd=repo.path, capture_output=True,
                              text=True, env=env)

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=repo.path, capture_output=True, text=True, env=env)

    for args in (["init"], ["epic", "create", "--title", "Auth"],
                 ["task", "create", "--epic", "fn-1", "--title", "Schema"],
                 ["task", "create", "--epic", "fn-1", "--title", "Middleware", "--deps", "fn-1.1"],
                 ["hooks", "install"]):
        result = flow(*args)
        assert result.returncode == 0, (args, result.stderr)
    shim = (repo.path / ".git" / "hooks" / "pre-commit").read_text()
    assert str(venv / "bin" / "python") in shim  # the installed interpreter runs the hooks

    task2 = repo.path / ".flow" / "tasks" / "fn-1-auth.2.md"
    task2.write_text(task2.read_text().replace("status: todo", "status: done"))
    refused = git("commit", "-qam", "finish by hand")
    assert refused.returncode != 0 and "[gate-unsatisfied] fn-1-auth.2" in refused.stderr, refused
    git("checkout", "--", str(task2))

    started = flow("start", "fn-1.1", "--no-commit")
    assert started.returncode == 0, started.stderr
    (repo.path / "schema.py").write_text("SCHEMA = {}\n")
    git("add", "schema.py")
    committed = git("commit", "-qm", "Add the schema")
    assert committed.returncode == 0, committed.stderr
    assert "Flow-Transition: fn-1-auth.1 todo->in_progress" in repo.message()
