"""Issue #14, items 3, 6 and 7: files and settings a person or a hostile clone wrote.

Valid YAML in any layout survives a rewrite; what would read two ways (a key twice) or expand
without bound (anchors and aliases: a YAML bomb) is refused with the file and line; a setting of
the wrong type is refused by `config set` and reported on load; the writer reads back every file
it commits and writes nothing when it would not read back as intended.
"""

from __future__ import annotations

import time

import pytest
from conftest import Repo

TASK1 = ".flow/tasks/fn-1-add-oauth-login.1.md"
TASK2 = ".flow/tasks/fn-1-add-oauth-login.2.md"

LAYOUTS = {
    "indented": ("---\n  id: fn-1-add-oauth-login.1\n  epic: fn-1-add-oauth-login\n"
                 "  title: Design token schema\n  status: todo\n  priority: 1\n---\n"),
    "flow style": ("---\n{id: fn-1-add-oauth-login.1, epic: fn-1-add-oauth-login, title: Design "
                   "token schema, status: todo, priority: 1}\n---\n"),
    "flow style on lines": ("---\n{id: fn-1-add-oauth-login.1,\n epic: fn-1-add-oauth-login,\n "
                            "title: Design token schema, status: todo, priority: 1}\n---\n"),
    "document end marker": ("---\nid: fn-1-add-oauth-login.1\nepic: fn-1-add-oauth-login\n"
                            "title: 'Design token schema'\nstatus: \"todo\"\npriority: 1\n...\n"),
}
BODY = "## Description\nTBD\n\n## Acceptance\n- [ ] TBD\n\n## Done summary\n\n## Evidence\n"


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_valid_yaml_in_any_layout_survives_a_transition(flow_repo: Repo, layout: str) -> None:
    repo = flow_repo
    repo.write(TASK1, LAYOUTS[layout] + BODY)
    repo.commit_all("hand-written layout")
    assert repo.ok("validate")["valid"] is True
    repo.ok("start", "fn-1.1")
    repo.ok("task", "edit", "fn-1.1", "--priority", "3")
    shown = repo.ok("show", "fn-1.1")
    assert (shown["status"], shown["priority"], shown["title"]) == \
        ("in_progress", 3, "Design token schema")
    assert repo.ok("validate")["valid"] is True
    assert BODY in repo.read(TASK1)


def test_a_key_given_twice_is_refused_everywhere_and_nothing_is_written(flow_repo: Repo) -> None:
    repo = flow_repo
    text = repo.read(TASK1).replace("status: todo", "status: done\nstatus: todo")
    repo.write(TASK1, text)
    repo.commit_all("two statuses")
    head = repo.head()
    line = text.splitlines().index("status: todo") + 1
    shown = repo.refused("show", "fn-1.1", "--json")
    assert f"{TASK1}:{line}" in shown.json["error"] and "given twice" in shown.json["error"]
    assert shown.json["hint"]
    validated = repo.refused("validate", "--json")
    assert any("given twice" in f["message"] for f in validated.json["findings"])
    repo.refused("task", "edit", "fn-1.1", "--priority", "1")
    repo.refused("start", "fn-1.1")
    assert repo.head() == head and repo.status() == ""


BOMB = ("lol: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        + "".join(f"l{n}: &{chr(98 + n)} [{','.join([f'*{chr(97 + n)}'] * 9)}]\n" for n in range(8)))


def test_a_yaml_bomb_is_refused_at_once_by_every_reader(flow_repo: Repo) -> None:
    repo = flow_repo
    text = repo.read(TASK2).replace("status: todo\n", "status: todo\n" + BOMB)
    repo.write(TASK2, text)
    repo.commit_all("a billion laughs")
    head = repo.head()
    for args in (("show", "fn-1.1"), ("validate",), ("tasks", "--rev", "HEAD"), ("start", "fn-1.1"),
                 ("show", "fn-1.2"), ("ready",), ("recover",)):
        started = time.monotonic()
        result = repo.flow(*args, "--json")
        assert time.monotonic() - started < 10, args
        assert "Traceback" not in result.stdout + result.stderr
        assert "MemoryError" not in result.stdout
        if args[0] != "recover":  # recover compares statuses with history: the file's is there
            assert result.exit_code == 1, (args, result)
            assert "an anchor (&a) is not allowed" in result.stdout, (args, result.stdout)
    assert repo.head() == head
    # Hooks read the same files: a commit adding one is refused, quickly.
    repo.ok("hooks", "install")
    repo.git("reset", "-q", "--hard", "HEAD~1")
    before = repo.head()
    repo.write(TASK2, text)
    repo.git("add", TASK2)
    started = time.monotonic()
    repo.git("commit", "-q", "-m", "bomb", check=False)
    assert time.monotonic() - started < 10
    assert repo.head() == before


@pytest.mark.parametrize("key,value", [("slug_max", "a b"), ("max_retries", "x"),
                                       ("prefix", "null"), ("prefix", "Fn-1"),
                                       ("claims.lease_seconds", "1.5"), ("require_evidence", "maybe"),
                                       ("claims", "[1, 2]"), ("default_branch", "a b")])
def test_config_set_refuses_a_value_of_the_wrong_type(flow_repo: Repo, key: str, value: str) -> None:
    repo = flow_repo
    head = repo.head()
    result = repo.refused("config", "set", key, value, "--json")
    assert f"{key} must be" in result.json["error"] and "config set" in result.json["hint"]
    assert repo.head() == head and repo.status() == ""


def test_a_hand_edited_config_of_the_wrong_types_is_reported_then_fixed(flow_repo: Repo) -> None:
    repo = flow_repo
    text = repo.read(".flow/config.yaml")
    text = text.replace("slug_max: 20", "slug_max: a b").replace("prefix: fn", "prefix: null")
    text = text.replace("max_retries: 2", "max_retries: x")
    repo.write(".flow/config.yaml", text)
    repo.commit_all("hand edit")
    created = repo.refused("epic", "create", "--title", "More", "--json")
    assert "prefix must be" in created.json["error"] and created.json["line"] > 0
    assert len(repo.ok("log", "fn-1.1")["events"]) == 1  # what needs no setting still works
    failed = repo.flow("fail", "fn-1.1", "--force", "--json")
    assert failed.exit_code == 1 and "max_retries must be" in failed.json["error"]
    findings = repo.refused("validate", "--json").json["findings"]
    assert sorted(f["message"].split(" must")[0] for f in findings
                  if f["rule"] == "config-invalid") == ["max_retries", "prefix", "slug_max"]
    for key, value in (("prefix", "fn"), ("slug_max", "20"), ("max_retries", "2")):
        repo.ok("config", "set", key, value)
    assert repo.ok("epic", "create", "--title", "More")["id"] == "fn-2-more"
    assert repo.ok("validate")["valid"] is True


def test_the_writer_writes_nothing_that_would_not_read_back_as_intended(flow_repo: Repo) -> None:
    from git_flowctl.model.document import Document, Rendered
    from git_flowctl.model.errors import FlowError
    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.repo.writer import Change, Writer

    repo = flow_repo
    head = repo.head()
    ws = Workspace(repo.path)
    raw = (repo.path / TASK1).read_bytes()
    doc = Document.parse(raw, TASK1)
    wrong = Rendered(raw.replace(b"status: todo", b"status: done"), doc.data, doc.body)
    broken = b"---\nid: [unclosed\n---\n"
    for path, content in ((TASK1, wrong), (TASK2, broken), (".flow/config.yaml", b"a: [\n")):
        with pytest.raises(FlowError) as refused:
            Writer(ws).apply(lambda plan, p=path, c=content: Change("flow: x", {p: c}))
        assert "refused to write" in refused.value.message
    assert repo.head() == head and repo.status() == ""


# Item 5: locks a crashed git left behind --------------------------------------------------------


@pytest.mark.parametrize("lock", ["index.lock", "refs/heads/main.lock",
                                  "refs/flow/claims/fn-1-add-oauth-login.1.lock"])
def test_a_stale_lock_is_named_with_how_to_remove_it(flow_repo: Repo, lock: str) -> None:
    repo = flow_repo
    head = repo.head()
    path = repo.path / ".git" / lock
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    started = time.monotonic()
    result = repo.flow("start", "fn-1.1", "--json")
    assert time.monotonic() - started < 8
    assert result.exit_code == 1, result  # refused, not a lost race to retry (exit 3)
    assert str(path) in result.json["error"] and f"rm {path}" in result.json["hint"]
    assert repo.head() == head and repo.status() == ""
    assert repo.git("for-each-ref", "refs/flow/claims/") == ""  # no claim left behind
    path.unlink()
    assert repo.ok("start", "fn-1.1")["status"] == "in_progress"


def test_a_lock_that_goes_away_is_waited_for(flow_repo: Repo) -> None:
    import threading

    repo = flow_repo
    lock = repo.path / ".git" / "index.lock"
    lock.write_text("")
    threading.Timer(0.5, lock.unlink).start()
    assert repo.ok("start", "fn-1.1")["status"] == "in_progress"
    assert repo.status() == ""
