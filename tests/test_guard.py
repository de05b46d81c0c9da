"""Issue #15, the guard: real commands, real processes, real git.

A check that sleeps past its timeout dies with the child it spawned; a missing program is
skipped and a guard of skipped checks does not pass; `done --verify` refuses and writes nothing
when a check fails, and records evidence that `log`, `check --base` and pre-push read when the
checks pass; `guard detect` proposes the commands of small Python, Node, Rust and Go projects.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, make_repo

ID1 = "fn-1-add-oauth-login.1"
TASK1 = f".flow/tasks/{ID1}.md"
ULID = "01JD3Q6X5M3N8Q2R7T9VWXYZ0A"


def guard_config(repo: Repo, entries: dict[str, Any], **settings: Any) -> None:
    """Write the guard section (and other settings) into config.yaml and commit it."""
    import yaml

    path = repo.path / ".flow" / "config.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    data["guard"] = entries
    data.update(settings)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    repo.commit_all("configure the guard")
    repo.flow("guard", "trust")  # written by hand here: this clone trusts its own commands


def process_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 60
    while not process_gone(pid):
        assert time.monotonic() < deadline, f"process {pid} is still alive"
        time.sleep(0.05)


def results(data: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["result"] for item in data["results"]}


# Timeouts kill the whole tree --------------------------------------------------------------------


def test_a_check_past_its_timeout_is_killed_with_the_child_it_spawned(flow_repo: Repo,
                                                                      tmp_path: Path) -> None:
    repo = flow_repo
    pid_file = tmp_path / "child.pid"
    guard_config(repo, {"slow": {"run": f"sleep 300 & echo $! > {pid_file}; wait", "timeout": 1},
                        "quick": "true"})
    started = time.monotonic()
    result = repo.flow("guard", "--json")
    assert result.exit_code == 1, result
    assert time.monotonic() - started < 60
    data = result.json
    assert data["success"] is False and data["status"] == "fail"
    slow = next(item for item in data["results"] if item["name"] == "slow")
    assert slow["result"] == "fail" and slow["timed_out"] is True
    assert "timed out after 1s" in slow["reason"]
    assert results(data)["quick"] == "pass"
    wait_gone(int(pid_file.read_text()))


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds strays through /proc")
def test_a_timeout_also_kills_a_child_that_left_the_process_group(flow_repo: Repo,
                                                                  tmp_path: Path) -> None:
    repo = flow_repo
    pid_file = tmp_path / "escaped.pid"
    script = tmp_path / "escape.py"
    script.write_text(f"import os, time\nif os.fork() == 0:\n    os.setsid()\n"
                      f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                      f"    time.sleep(300)\ntime.sleep(300)\n")
    guard_config(repo, {"escapes": {"run": f"{sys.executable} {script}", "timeout": 2}})
    data = repo.flow("guard", "--json").json
    assert data["results"][0]["timed_out"] is True
    deadline = time.monotonic() + 30
    while not pid_file.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    wait_gone(int(pid_file.read_text()))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds strays through /proc")
def test_a_guard_inside_a_check_is_killed_with_everything_it_started(flow_repo: Repo,
                                                                     tmp_path: Path) -> None:
    """A test suite that runs `git flow-task guard` itself: the inner guard's checks get markers
    of their own and keep the outer check's, so the outer timeout reaches them."""
    repo = flow_repo
    inner = make_repo(tmp_path / "inner")
    inner.ok("init")
    pid_file = tmp_path / "inner.pid"
    script = tmp_path / "escape.py"
    script.write_text(f"import os, time\nif os.fork() == 0:\n    os.setsid()\n"
                      f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                      f"    time.sleep(300)\ntime.sleep(300)\n")
    guard_config(inner, {"escapes": {"run": f"{sys.executable} {script}", "timeout": 300}})
    guard_config(repo, {"nested": {"run": f"cd {inner.path} && git flow-task guard", "timeout": 3}})
    started = time.monotonic()
    data = repo.flow("guard", "--json").json
    assert data["results"][0]["timed_out"] is True and time.monotonic() - started < 60
    deadline = time.monotonic() + 30
    while not pid_file.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    wait_gone(int(pid_file.read_text()))


# Skipped is not a pass ----------------------------------------------------------------------------


def test_a_missing_program_is_skipped_and_all_skipped_is_not_a_pass(flow_repo: Repo) -> None:
    repo = flow_repo
    guard_config(repo, {"rust": "cargo-that-is-not-installed test", "go": "no-such-go vet ./..."})
    result = repo.flow("guard", "--json")
    assert result.exit_code == 1
    data = result.json
    assert data["status"] == "skipped" and results(data) == {"rust": "skipped", "go": "skipped"}
    assert data["results"][0]["reason"] == "program not found: cargo-that-is-not-installed"
    assert data["error"] == "every check was skipped; a skipped check proves nothing"

    repo.ok("start", "fn-1.1")
    head = repo.head()
    refused = repo.flow("done", "fn-1.1", "--verify", "--json")
    assert refused.exit_code == 1, refused
    assert "every check was skipped" in refused.json["error"]
    assert repo.head() == head and repo.status() == ""
    assert "status: in_progress" in repo.read(TASK1)

    guard_config(repo, {"rust": "cargo-that-is-not-installed test", "real": "true"})
    data = repo.ok("guard")
    assert data["status"] == "pass" and data["counts"] == {"pass": 1, "fail": 0, "skipped": 1}


def test_no_guard_configured_refuses_with_the_detect_hint(flow_repo: Repo) -> None:
    result = flow_repo.flow("guard", "--json")
    assert result.exit_code == 1
    assert result.json["status"] == "missing" and "guard detect --write" in result.json["hint"]


# done --verify ---------------------------------------------------------------------------------


def test_done_verify_with_a_failing_test_exits_1_and_writes_nothing(flow_repo: Repo) -> None:
    repo = flow_repo
    guard_config(repo, {"test": "echo 3 tests failed; exit 3", "lint": "true"})
    repo.ok("start", "fn-1.1")
    head, refs = repo.head(), repo.git("for-each-ref")
    result = repo.flow("done", "fn-1.1", "--verify", "--summary", "all good", "--json")
    assert result.exit_code == 1, result
    data = result.json
    assert data["error"] == f"cannot finish {ID1}: the guard failed: test"
    assert {r["name"]: (r["result"], r["exit_code"]) for r in data["guard"]["results"]} == {
        "test": ("fail", 3), "lint": ("pass", 0)}
    assert repo.head() == head and repo.status() == "" and repo.git("for-each-ref") == refs
    assert "status: in_progress" in repo.read(TASK1) and "all good" not in repo.read(TASK1)
    output = Path(data["guard"]["results"][0]["output"])
    assert output.read_text() == "3 tests failed\n"
    assert str(output).startswith(str(repo.path / ".git" / "flow-guard"))


def test_done_verify_refuses_what_done_refuses_before_running_the_guard(flow_repo: Repo,
                                                                       tmp_path: Path) -> None:
    repo = flow_repo
    ran = tmp_path / "ran"
    guard_config(repo, {"test": f"touch {ran}"})
    result = repo.flow("done", "fn-1.1", "--verify")  # todo: done needs in_progress
    assert result.exit_code == 1
    assert f"cannot done {ID1}: it is todo (done needs in_progress)" in result.stderr
    assert not ran.exists()


def test_passing_guard_evidence_is_in_the_commit_log_and_accepted_by_check(flow_repo: Repo,
                                                                          tmp_path: Path) -> None:
    repo = flow_repo
    guard_config(repo, {"test": "echo ok", "missing": "no-such-program --x"}, require_verify=True)
    base = repo.head()
    repo.ok("start", "fn-1.1")
    refused = repo.flow("done", "fn-1.1", "--json")
    assert refused.exit_code == 1 and "--verify" in refused.json["hint"]
    data = repo.ok("done", "fn-1.1", "--verify", "--evidence", "commits=abc1234")
    assert data["verified"] is True and data["status"] == "done"
    message = repo.message()
    output = repo.path / ".git" / "flow-guard"
    log_file = next(output.glob("*/guard.test.log"))
    digest = hashlib.sha256(log_file.read_bytes()).hexdigest()
    assert f"Flow-Evidence: {ID1} guard.test=pass guard.test.duration=" in message
    assert f"guard.test.exit=0 guard.test.output=sha256:{digest}" in message
    assert f"Flow-Evidence: {ID1} guard.missing=skipped guard.missing.duration=0.00" in message
    assert f"Flow-Evidence: {ID1} commits=abc1234" in message
    assert "- Guard: test pass in" in repo.read(TASK1)

    events = repo.ok("log", "fn-1.1")["events"]
    evidence = events[-1]["evidence"]
    assert evidence["guard.test"] == "pass" and evidence["guard.missing"] == "skipped"
    assert evidence["guard.test.output"] == f"sha256:{digest}" and evidence["commits"] == "abc1234"
    fast = subprocess.run(["git", "flow-task", "log", "fn-1.1", "--json"], cwd=repo.path,
                          capture_output=True, text=True, check=True)
    assert json.loads(fast.stdout)["events"][-1]["evidence"] == evidence
    stats = repo.ok("stats")
    assert stats["verified"] == {"completions": 1, "verified": 1, "unverified": 0}

    assert repo.flow("check", "--base", base).exit_code == 0


def test_a_done_without_guard_evidence_is_reported_by_check_and_refused_by_pre_push(
        flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo.git("remote", "add", "origin", str(bare))
    guard_config(repo, {"test": "true"}, require_verify=True)
    repo.git("push", "-q", "origin", "main")
    base = repo.head()
    repo.git("checkout", "-q", "-b", "feature")
    repo.ok("start", "fn-1.1")
    # A done written by hand (an older tool, another script): the trailer, no guard evidence.
    repo.write(TASK1, repo.read(TASK1).replace("status: in_progress", "status: done"))
    repo.commit_all(f"done by hand\n\nFlow-Transition: {ID1} in_progress->done action=done "
                    f"by=alice@example.com id={ULID}\nFlow-Evidence: {ID1} guard.test=skipped")
    check = repo.flow("check", "--base", base, "--json")
    assert check.exit_code == 1
    found = [f for f in check.json["findings"] if f["rule"] == "done-unverified"]
    assert len(found) == 1 and found[0]["subject"] == ID1
    assert "every guard check skipped" in found[0]["message"]

    push = subprocess.run(["git", "push", "origin", "feature"], cwd=repo.path,
                          capture_output=True, text=True)
    assert push.returncode != 0 and "[done-unverified]" in push.stderr, push.stderr
    assert subprocess.run(["git", "ls-remote", str(bare), "refs/heads/feature"],
                          capture_output=True, text=True, check=True).stdout == ""

    # The same transition through `done --verify` passes both.
    repo.git("reset", "-q", "--hard", "HEAD~1")
    repo.ok("done", "fn-1.1", "--verify")
    assert repo.flow("check", "--base", base).exit_code == 0
    push = subprocess.run(["git", "push", "-q", "origin", "feature"], cwd=repo.path,
                          capture_output=True, text=True)
    assert push.returncode == 0, push.stderr


def test_without_require_verify_a_plain_done_passes_check(flow_repo: Repo) -> None:
    repo = flow_repo
    base = repo.head()
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    assert repo.flow("check", "--base", base).exit_code == 0


def test_forced_done_under_require_verify_is_recorded_and_passes(flow_repo: Repo) -> None:
    repo = flow_repo
    guard_config(repo, {"test": "false"}, require_verify=True)
    base = repo.head()
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1", "--force")
    check = repo.flow("check", "--base", base, "--json")
    assert check.exit_code == 0
    assert [f["rule"] for f in check.json["findings"]] == ["transition-forced"]


# when, outputs, config errors ------------------------------------------------------------------


def test_when_runs_a_check_only_for_matching_changes(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    marker = tmp_path / "ran"
    guard_config(repo, {"docs": {"run": f"touch {marker}", "when": ["docs/", "*.md"]},
                        "always": "true"})
    base = repo.head()
    repo.write("src/app.py", "print('hi')\n")
    data = repo.flow("guard", "--base", base, "--json").json
    assert results(data) == {"docs": "skipped", "always": "pass"}
    assert "matches docs/, *.md" in data["results"][0]["reason"] and not marker.exists()
    repo.write("docs/guide.md", "# Guide\n")
    assert results(repo.ok("guard", "--base", base)) == {"docs": "pass", "always": "pass"}
    assert marker.exists()
    marker.unlink()
    repo.git("checkout", "-q", "-b", "feature")  # default base: where feature left main
    repo.commit_all("docs")
    assert results(repo.ok("guard")) == {"docs": "pass", "always": "pass"}
    assert repo.ok("guard")["base"] == base


def test_only_runs_the_named_checks(flow_repo: Repo) -> None:
    repo = flow_repo
    guard_config(repo, {"test": "true", "lint": "false"})
    assert results(repo.ok("guard", "--only", "test")) == {"test": "pass"}
    unknown = repo.flow("guard", "--only", "nope")
    assert unknown.exit_code == 2 and "known: test, lint" in unknown.stderr


def test_checks_run_from_the_repository_root_without_gits_redirections(flow_repo: Repo) -> None:
    repo = flow_repo
    guard_config(repo, {"where": 'test "$(pwd)" = "$(git rev-parse --show-toplevel)" '
                                 '&& test -z "$GIT_INDEX_FILE"'})
    (repo.path / "sub").mkdir()
    assert repo.ok("guard", cwd=repo.path / "sub", env={"GIT_INDEX_FILE": "/nowhere"})["passed"]


@pytest.mark.parametrize(("entry", "message"), [
    ({"bad name": "true"}, "guard.bad name: a guard name is letters"),
    ({"test": {"run": "true", "comand": "x"}}, "guard.test: unknown key `comand`"),
    ({"test": {"run": "true", "timeout": "soon"}}, "guard.test: `timeout` must be a number"),
    ({"test": {"timeout": 3}}, "guard.test: `run` must be a command line"),
])
def test_a_bad_guard_entry_is_a_clear_error(flow_repo: Repo, entry: dict[str, Any],
                                            message: str) -> None:
    guard_config(flow_repo, entry)
    result = flow_repo.refused("guard")
    assert message in result.stderr


def test_config_set_knows_guard_keys(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("config", "set", "guard.test.run", "echo tested")
    repo.ok("config", "set", "guard.test.timeout", "30")
    repo.ok("config", "set", "guard.lint", "true")
    assert repo.ok("config", "get", "guard.test")["value"] == {"run": "echo tested", "timeout": 30}
    data = repo.ok("guard")
    assert results(data) == {"test": "pass", "lint": "pass"}


# guard detect ------------------------------------------------------------------------------------


def sample(tmp_path: Path, name: str, files: dict[str, str]) -> Repo:
    repo = make_repo(tmp_path / name)
    for path, text in files.items():
        repo.write(path, text)
    repo.commit_all("the project")
    repo.ok("init")
    return repo


def proposed(repo: Repo) -> dict[str, str]:
    return {p["name"]: p["run"] for p in repo.ok("guard", "detect")["proposals"]}


PYPROJECT = """\
[project]
name = "sample"
version = "0.1.0"

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 100

[tool.mypy]
strict = true
files = ["sample"]
"""


def test_detect_a_python_project(tmp_path: Path) -> None:
    repo = sample(tmp_path, "python", {"pyproject.toml": PYPROJECT, "sample/__init__.py": ""})
    assert proposed(repo) == {"test": "pytest -q", "lint": "ruff check .", "typecheck": "mypy"}
    bare = sample(tmp_path, "python-bare", {"pyproject.toml": '[project]\nname = "x"\n',
                                            "tests/test_x.py": "def test_x(): pass\n"})
    assert proposed(bare) == {"test": "pytest -q"}


def test_detect_a_node_project_with_its_package_manager(tmp_path: Path) -> None:
    package = {"name": "sample", "scripts": {"test": "vitest run", "lint": "eslint .",
                                            "typecheck": "tsc --noEmit", "build": "vite build"}}
    repo = sample(tmp_path, "node", {"package.json": json.dumps(package), "pnpm-lock.yaml": ""})
    assert proposed(repo) == {"test": "pnpm test", "lint": "pnpm run lint",
                              "typecheck": "pnpm run typecheck"}
    placeholder = {"scripts": {"test": 'echo "Error: no test specified" && exit 1'}}
    npm = sample(tmp_path, "npm", {"package.json": json.dumps(placeholder)})
    assert proposed(npm) == {}


def test_detect_rust_go_and_make(tmp_path: Path) -> None:
    rust = sample(tmp_path, "rust", {"Cargo.toml": '[package]\nname = "s"\nversion = "0.1.0"\n',
                                     "src/main.rs": "fn main() {}\n"})
    assert proposed(rust) == {"test": "cargo test", "lint": "cargo clippy -- -D warnings"}
    go = sample(tmp_path, "go", {"go.mod": "module example.com/s\n\ngo 1.22\n",
                                 "main.go": "package main\n"})
    assert proposed(go) == {"test": "go test ./...", "vet": "go vet ./..."}
    make = sample(tmp_path, "make", {"Makefile": "CC ?= cc\ntest: build\n\t./run-tests\n"})
    assert proposed(make) == {"test": "make test"}
    none = sample(tmp_path, "none", {"notes.txt": "nothing to run\n"})
    assert proposed(none) == {}


def test_detect_names_two_stacks_apart_and_write_adds_what_is_missing(tmp_path: Path) -> None:
    package = {"scripts": {"test": "jest"}}
    repo = sample(tmp_path, "both", {"pyproject.toml": PYPROJECT, "package.json": json.dumps(package)})
    assert proposed(repo) == {"python-test": "pytest -q", "lint": "ruff check .",
                              "typecheck": "mypy", "node-test": "npm test"}
    repo.ok("config", "set", "guard.lint", "ruff check src")  # the user's own stays
    head = repo.head()
    written = repo.ok("guard", "detect", "--write")
    assert written["added"] == ["python-test", "typecheck", "node-test"]
    assert repo.git("rev-list", "--count", f"{head}..HEAD").strip() == "1"
    import yaml

    guard = yaml.safe_load(repo.read(".flow/config.yaml"))["guard"]
    assert guard == {"lint": "ruff check src", "python-test": "pytest -q", "typecheck": "mypy",
                     "node-test": "npm test"}
    assert repo.ok("guard", "detect", "--write")["added"] == []
    assert repo.status() == ""


# Invariants --------------------------------------------------------------------------------------

INVARIANTS = """\
# Invariants

## The domain imports no CLI
Nothing outside cli/ imports click.

verify: ! grep -rq 'import click' domain

## Docs exist
```sh
verify: this line is in a fence and is not the command
```
verify: test -f README.md
timeout: 30
"""


def test_invariants_show_check_and_guard_includes_them(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write(".flow/invariants.md", INVARIANTS)
    repo.write("domain/core.py", "import os\n")
    repo.commit_all("invariants")
    repo.ok("guard", "trust")
    shown = repo.ok("invariants", "show")
    assert [(i["name"], i["key"], i["verify"], i["timeout"]) for i in shown["invariants"]] == [
        ("The domain imports no CLI", "invariant.the-domain-imports-no-cli",
         "! grep -rq 'import click' domain", 600.0),
        ("Docs exist", "invariant.docs-exist", "test -f README.md", 30.0)]
    checked = repo.ok("invariants", "check")
    assert results(checked) == {"the-domain-imports-no-cli": "pass", "docs-exist": "pass"}
    assert {r["kind"] for r in checked["results"]} == {"invariant"}

    guard_config(repo, {"test": "true"})
    assert results(repo.ok("guard")) == {"test": "pass", "the-domain-imports-no-cli": "pass",
                                          "docs-exist": "pass"}
    repo.write("domain/cli.py", "import click\n")
    broken = repo.flow("invariants", "check", "--json")
    assert broken.exit_code == 1 and results(broken.json)["the-domain-imports-no-cli"] == "fail"
    repo.ok("start", "fn-1.1")
    refused = repo.flow("done", "fn-1.1", "--verify", "--json")
    assert refused.exit_code == 1
    assert "the guard failed: the-domain-imports-no-cli" in refused.json["error"]
    (repo.path / "domain/cli.py").unlink()
    repo.ok("done", "fn-1.1", "--verify")
    assert f"Flow-Evidence: {ID1} invariant.docs-exist=pass" in repo.message()


def test_an_invariant_without_verify_is_named_and_refused(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write(".flow/invariants.md", "## Layers hold\nNo verify line here.\n")
    shown = repo.flow("invariants", "show", "--json")
    assert shown.exit_code == 1
    assert shown.json["invariants"][0]["problems"] == ["no `verify:` line: nothing checks it"]
    refused = repo.refused("invariants", "check")
    assert ".flow/invariants.md:1: invariant 'Layers hold': no `verify:` line" in refused.stderr
    no_file = make_repo(repo.path.parent / "other")
    no_file.ok("init")
    assert no_file.refused("invariants", "check").stderr.startswith("error: no invariants")


def test_guard_human_output(flow_repo: Repo) -> None:
    repo = flow_repo
    guard_config(repo, {"test": "true", "gone": "no-such-tool"})
    result = repo.flow("guard")
    assert result.exit_code == 0
    assert "pass    guard.test" in result.stdout
    assert "skipped guard.gone (program not found: no-such-tool)" in result.stdout
    assert "guard passed: 1 passed, 1 skipped" in result.stdout
    failing = repo.flow("guard", "--only", "gone")
    assert failing.exit_code == 1
    assert "error: every check was skipped" in failing.stderr and "hint: install" in failing.stderr


# run: the guard after the command ----------------------------------------------------------------


def run_plan(repo: Repo, titles: list[str]) -> list[str]:
    repo.ok("init")
    repo.ok("config", "set", "max_retries", "0")
    repo.ok("epic", "create", "--title", "Run")
    return [repo.ok("task", "create", "--epic", "fn-1", "--title", title)["id"] for title in titles]


def test_run_records_a_failure_when_the_guard_does_not_pass_after_the_command(repo: Repo,
                                                                             tmp_path: Path) -> None:
    good, bad = run_plan(repo, ["Writes the file", "Forgets the file"])
    # The guard runs in the task's worktree: it sees what the command made there.
    guard_config(repo, {"made": "test -f made.txt", "gone": "no-such-linter ."})
    command = tmp_path / "work.sh"
    command.write_text(f'#!/bin/sh\n[ "$FLOW_TASK_ID" = "{good}" ] && echo made > made.txt\n'
                       'git add -A && git commit -qm work --allow-empty\nexit 0\n')
    command.chmod(0o755)
    result = repo.flow("--json", "run", "--", str(command))
    assert result.exit_code == 1, result
    data = result.json
    assert data["done"] == [good] and data["failed"] == [bad]
    failed = data["tasks"][bad]["attempts"][0]
    assert failed["exit_code"] == 0 and failed["outcome"] == "failed"
    assert "the command exited 0, but the guard failed: made" in failed["reason"]
    assert {r["name"]: r["result"] for r in failed["guard"]["results"]} == {
        "made": "fail", "gone": "skipped"}
    assert "the guard failed: made" in repo.read(f".flow/tasks/{bad}.md")
    done_commit = repo.git("log", "--format=%H", "-1", "--grep", f"flow: done {good}").strip()
    message = repo.message(done_commit)
    assert f"Flow-Evidence: {good} guard.made=pass" in message
    assert f"Flow-Evidence: {good} guard.gone=skipped" in message
    assert data["tasks"][good]["attempts"][0]["guard"]["status"] == "pass"


def test_run_without_a_guard_records_done_as_before(repo: Repo) -> None:
    (task,) = run_plan(repo, ["Plain"])
    data = repo.flow("--json", "run", "--", "true").json
    assert data["done"] == [task] and data["tasks"][task]["attempts"][0]["guard"] is None


def test_run_under_require_verify_without_a_guard_fails_the_task(repo: Repo) -> None:
    (task,) = run_plan(repo, ["Unverifiable"])
    repo.ok("config", "set", "require_verify", "true")
    result = repo.flow("--json", "run", "--", "true")
    assert result.exit_code == 1
    attempt = result.json["tasks"][task]["attempts"][0]
    assert "no guard commands or invariants to run" in attempt["reason"]
    assert result.json["failed"] == [task]


def test_ctrl_c_during_the_guard_kills_its_checks_and_releases_the_task(repo: Repo,
                                                                       tmp_path: Path) -> None:
    import signal

    (task,) = run_plan(repo, ["Guarded"])
    pid_file = tmp_path / "guard.pid"
    ran_second = tmp_path / "second-ran"
    guard_config(repo, {"slow": f"sleep 300 & echo $! > {pid_file}.tmp; "
                                f"mv {pid_file}.tmp {pid_file}; wait",
                        "second": f"touch {ran_second}"})
    process = subprocess.Popen(["git-flow-task", "--json", "run", "--", "true"], cwd=repo.path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not pid_file.exists():
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, (out, err)
    summary = json.loads(out)
    assert summary["tasks"][task]["attempts"][0]["outcome"] == "released"
    wait_gone(int(pid_file.read_text()))
    assert not ran_second.exists()
    assert "status: todo" in repo.read(f".flow/tasks/{task}.md")
    assert repo.git("for-each-ref", "refs/flow/claims/").strip() == ""
