"""An epic's gaps follow it (issue #15's gap registry meets `renumber` and `epic archive`): the
gap folder moves with the epic, the IDs a gap names are rewritten, and every reader (gap list,
gap check, epic close, validate, check --base, recover) agrees afterwards. Real commits."""

from __future__ import annotations

from conftest import Repo
from test_reviews_gaps import frontmatter

EPIC = "fn-1-add-oauth-login"
MOVED = "fn-5-add-oauth-login"


def gaps_of(repo: Repo, epic_id: str, *, archived: bool = False) -> list[str]:
    """The gap files git tracks for an epic."""
    folder = f".flow/{'archive/' if archived else ''}gaps/{epic_id}/"
    return sorted(path.rsplit("/", 1)[-1] for path in repo.git("ls-files", folder).split())


def test_renumber_moves_the_epics_gaps_and_rewrites_what_they_name(flow_repo: Repo) -> None:
    repo = flow_repo
    required = repo.ok("gap", "add", "--epic", "fn-1", "--task", "fn-1.2", "--source",
                       f"review of {EPIC}.3", "Logout revokes refresh tokens")["id"]
    nice = repo.ok("gap", "add", "--epic", "fn-1", "--priority", "nice", "Prettier logs")["id"]
    repo.ok("gap", "resolve", nice, "--evidence", f"done in {EPIC}.1")
    base = repo.head()
    files_before = repo.git("ls-files", ".flow").split()

    dry = repo.ok("renumber", "fn-1", "--to", "5", "--dry-run")
    assert f".flow/gaps/{MOVED}/{required}.md" in dry["diff"]
    assert repo.head() == base and repo.git("ls-files", ".flow").split() == files_before

    data = repo.ok("renumber", "fn-1", "--to", "5")
    assert data["renamed"][EPIC] == MOVED
    assert repo.git("rev-list", "--count", f"{base}..HEAD").strip() == "1" and repo.status() == ""
    assert gaps_of(repo, EPIC) == [] and not (repo.path / f".flow/gaps/{EPIC}").exists()
    assert gaps_of(repo, MOVED) == sorted([f"{required}.md", f"{nice}.md"])  # their IDs kept
    moved = frontmatter(repo, f".flow/gaps/{MOVED}/{required}.md")
    assert moved == {"id": required, "epic": MOVED, "capability": "Logout revokes refresh tokens",
                     "priority": "required", "status": "open", "task": f"{MOVED}.2",
                     "source": f"review of {MOVED}.3"}
    assert frontmatter(repo, f".flow/gaps/{MOVED}/{nice}.md")["evidence"] == f"done in {MOVED}.1"
    # a real move, as git sees it: the files are renamed, not rewritten from scratch
    renames = repo.git("show", "--format=", "-M", "--name-status", "HEAD", "--", ".flow/gaps")
    assert "R" in renames and f".flow/gaps/{EPIC}/{nice}.md\t.flow/gaps/{MOVED}/{nice}.md" in renames

    listed = {gap["id"]: gap["status"] for gap in repo.ok("gap", "list", "--epic", "fn-5")["gaps"]}
    assert listed == {required: "open", nice: "resolved"}
    check = repo.flow("gap", "check", "--epic", "fn-5", "--json")
    assert check.exit_code == 1 and [g["id"] for g in check.json["open_blocking"]] == [required]
    # the same text again is the same gap, though its epic's ID (and so the hash) changed
    again = repo.ok("gap", "add", "--epic", "fn-5", "logout revokes refresh tokens")
    assert again["created"] is False and again["id"] == required
    for task in ("fn-5.1", "fn-5.2", "fn-5.3"):
        repo.ok("start", task)
        repo.ok("done", task)
    refused = repo.flow("epic", "close", "fn-5", "--json")
    assert refused.exit_code == 1 and refused.json["open_gaps"] == [required]
    repo.ok("gap", "resolve", required, "--evidence", "tests/test_logout.py")
    assert repo.ok("epic", "close", "fn-5")["status"] == "done"
    assert repo.flow("validate").exit_code == 0
    assert repo.flow("check", "--base", base).exit_code == 0
    assert repo.ok("recover")["clean"] is True


def test_renumber_of_a_task_rewrites_the_gaps_that_name_it(flow_repo: Repo) -> None:
    repo = flow_repo
    gap = repo.ok("gap", "add", "--epic", "fn-1", "--task", "fn-1.2", "Refresh tokens")["id"]
    other = repo.ok("gap", "add", "--epic", "fn-1", "--task", "fn-1.3", "Login button")["id"]
    base = repo.head()
    other_bytes = repo.read(f".flow/gaps/{EPIC}/{other}.md")
    renamed = repo.ok("renumber", "fn-1.2")["renamed"]
    new_id = renamed[f"{EPIC}.2"]
    assert frontmatter(repo, f".flow/gaps/{EPIC}/{gap}.md")["task"] == new_id
    assert repo.read(f".flow/gaps/{EPIC}/{other}.md") == other_bytes  # names no renamed ID
    changed = repo.git("show", "--format=", "--name-only", "HEAD").split()
    assert f".flow/gaps/{EPIC}/{gap}.md" in changed and f".flow/gaps/{EPIC}/{other}.md" not in changed
    assert repo.flow("check", "--base", base).exit_code == 0


def test_a_broken_gap_file_stops_renumber_before_anything_is_written(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write(f".flow/gaps/{EPIC}/gap-00000000.md", "---\nid: [unclosed\n---\n")
    repo.commit_all("a broken gap file")
    head = repo.head()
    result = repo.refused("renumber", "fn-1", "--to", "5")
    assert f".flow/gaps/{EPIC}/gap-00000000.md" in result.stderr
    assert "Traceback" not in result.stderr and repo.head() == head and repo.status() == ""


def test_archive_moves_the_epics_gaps_with_it(flow_repo: Repo) -> None:
    repo = flow_repo
    resolved = repo.ok("gap", "add", "--epic", "fn-1", "Tokens expire")["id"]
    repo.ok("gap", "resolve", resolved, "--evidence", "tests/test_expiry.py")
    still_open = repo.ok("gap", "add", "--epic", "fn-1", "--priority", "nice", "Dark mode")["id"]
    for task in ("fn-1.1", "fn-1.2", "fn-1.3"):
        repo.ok("start", task)
        repo.ok("done", task)
    repo.ok("epic", "close", "fn-1")
    contents = {gap: repo.read(f".flow/gaps/{EPIC}/{gap}.md") for gap in (resolved, still_open)}
    base = repo.head()

    data = repo.ok("epic", "archive", "fn-1")
    assert sorted(data["gaps"]) == sorted(f".flow/archive/gaps/{EPIC}/{gap}.md" for gap in contents)
    assert "(and 2 gaps)" in data["message"]
    assert repo.git("rev-list", "--count", f"{base}..HEAD").strip() == "1" and repo.status() == ""
    assert gaps_of(repo, EPIC) == [] and not (repo.path / ".flow/gaps").exists()
    for gap, text in contents.items():  # moved unchanged: state and ID kept
        assert repo.read(f".flow/archive/gaps/{EPIC}/{gap}.md") == text
    trailers = [line for line in repo.message().splitlines() if line.startswith("Flow-")]
    assert trailers == [f"Flow-Archive: {EPIC}"] + [f"Flow-Archive: {EPIC}.{n}" for n in (1, 2, 3)]

    # read-only from now on, as the epic is; the live registry no longer lists them
    assert repo.ok("gap", "list")["gaps"] == []
    refused = repo.refused("gap", "resolve", still_open, "--json")
    assert refused.json["error"] == (f"gap {still_open} is archived with epic {EPIC} (under "
                                     ".flow/archive/gaps/): it is read-only")
    assert "archived" in repo.refused("gap", "list", "--epic", "fn-1").stderr
    # the archived gap files are not plan files to any reader
    assert repo.flow("validate").exit_code == 0
    assert repo.flow("check", "--base", base).exit_code == 0
    assert repo.ok("recover")["clean"] is True
    assert repo.ok("status")["total_tasks"] == 0
