"""Issue #14, item 2: no text changes what history believes.

Titles, `-m` messages, reasons, summaries and evidence are data. Whatever they hold (trailer
lines, revert lines, squash headers, control characters, bytes that are not UTF-8), `log`,
`stats`, `recover` and `check` believe the same as without them; the tool either writes the text
harmlessly or refuses it (exit 1, nothing written). History believes a commit's flow lines only
in its trailer block and only when its tree agrees; a revert only in git's own form, and only
when the tree really goes back.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest
from conftest import FLOW_EXE, Repo

from git_flowctl.model.trailers import parse_message

T1, T2, T3 = "fn-1-add-oauth-login.1", "fn-1-add-oauth-login.2", "fn-1-add-oauth-login.3"
FORGED = f"Flow-Transition: {T3} todo->done action=done by=mallory id=01ZZZZZZZZZZZZZZZZZZZZZZZZ"


def beliefs(repo: Repo) -> dict[str, Any]:
    """What history says, command by command, without the commits' own IDs and times."""
    log = repo.ok("log")["events"]
    stats = repo.ok("stats")
    recover = repo.ok("recover")
    return {
        "log": [(e["id"], e["event"], e["from"], e["to"], e["action"], e["by"],
                 e["reverted_by"] is not None) for e in log],
        "states": stats["tasks"], "lead": stats["lead_time"]["count"],
        "done": stats["throughput"]["done"],
        "recover": (recover["clean"], recover["divergences"],
                    [(p["kind"], p["id"]) for p in recover["problems"]]),
        "status": {t: repo.ok("show", t)["status"] for t in (T1, T2, T3)},
    }


def without_commit_events(before: dict[str, Any], after: dict[str, Any],
                          new_events: int) -> dict[str, Any]:
    trimmed = dict(after)
    trimmed["log"] = after["log"][:len(after["log"]) - new_events]
    return trimmed


@pytest.fixture
def worked(flow_repo: Repo) -> tuple[Repo, str]:
    """fn-1.1 started and done; returns the repository and the done commit."""
    flow_repo.ok("start", "fn-1.1")
    flow_repo.ok("done", "fn-1.1")
    return flow_repo, flow_repo.head()


@pytest.mark.parametrize("title", [f"x\n{FORGED}\ny", f"x\r\n\r\n{FORGED}", "tab\there",
                                   "trailing\x1c", "\u2028" + FORGED, "nul\x00"])
def test_a_title_with_line_breaks_or_control_characters_is_refused(worked: tuple[Repo, str],
                                                                   title: str) -> None:
    repo, _ = worked
    head = repo.head()
    for args in (("task", "create", "--epic", "fn-1", "--title", title),
                 ("task", "edit", "fn-1.2", "--title", title),
                 ("epic", "create", "--title", title),
                 ("task", "split", "fn-1.3", "--titles", f"a|{title}")):
        result = repo.refused(*args, "--json")
        assert result.json["success"] is False and "control character" in result.json["error"]
        assert result.json["hint"]
    assert repo.head() == head and repo.status() == ""


def test_a_title_naming_a_revert_reverts_nothing(worked: tuple[Repo, str]) -> None:
    repo, done = worked
    before = beliefs(repo)
    for title in (f"This reverts commit {done}", f"This reverts commit {done}.",
                  f"Revert\" This reverts commit {done}."):
        repo.ok("task", "create", "--epic", "fn-1", "--title", title)
    repo.ok("task", "edit", "fn-1.2", "--title", f"This reverts commit {done}.")
    after = beliefs(repo)
    assert after["status"] == before["status"] and after["states"]["states"]["done"] == 1
    assert not any(reverted for *_, reverted in after["log"])
    assert after["recover"][0] is True and after["lead"] == before["lead"] == 1


TEXTS = [
    FORGED,
    f"Notes first.\n\n{FORGED}\nFlow-Evidence: {T3} tests=ok",
    "This reverts commit {done}.",
    "intro\n\ncommit {done}\nAuthor: M <m@x>\nDate:   Mon Jan 5 10:00:00 2026 +0000\n\n    "
    + FORGED,
    "* flow: done\n\n" + FORGED,
    "    " + FORGED.lower(),
]


@pytest.mark.parametrize("text", TEXTS)
def test_messages_reasons_summaries_and_evidence_change_no_belief(worked: tuple[Repo, str],
                                                                  text: str) -> None:
    repo, done = worked
    text = text.replace("{done}", done)
    repo.ok("config", "set", "retry_backoff.base", "0")  # fail, then start again at once
    base = repo.head()
    before = beliefs(repo)
    repo.ok("task", "edit", "fn-1.2", "--priority", "5", "-m", text)  # no trailer of its own
    message = repo.message()
    parsed = parse_message(message)
    assert parsed.transitions == [] and parsed.steps == [] and parsed.evidence == []
    for line in text.strip().splitlines():  # kept, as a quotation when it would read as a line
        assert line in message.splitlines() or f"> {line}" in message.splitlines()
    repo.ok("block", "fn-1.2", "--reason", text, "-m", text)
    repo.ok("unblock", "fn-1.2")
    repo.ok("start", "fn-1.2", "-m", text)
    repo.ok("fail", "fn-1.2", "--reason", text)
    repo.ok("start", "fn-1.2")
    repo.ok("done", "fn-1.2", "--summary", text, "--evidence", f"notes={text}",
            "--evidence", '{"x": ' + repr(text).replace("'", '"') + "}")
    repo.ok("skip", "fn-1.3", "--reason", text, "-m", text)
    made = repo.ok("task", "create", "--epic", "fn-1", "--title", "Plain", "--description", text,
                   "--acceptance", text, "--domain", text.splitlines()[0][:40] or "x", "-m", text)
    repo.ok("task", "edit", made["id"], "--description", text, "--acceptance", text)
    after = beliefs(repo)
    # The legitimate transitions are there, and nothing else.
    mine = [row[:5] for row in after["log"][len(before["log"]):]]
    assert mine == [
        (T2, "transition", "todo", "blocked", "block"), (T2, "transition", "blocked", "todo", "unblock"),
        (T2, "transition", "todo", "in_progress", "start"),
        (T2, "transition", "in_progress", "up_for_retry", "fail"),
        (T2, "transition", "up_for_retry", "in_progress", "start"),
        (T2, "transition", "in_progress", "done", "done"), (T3, "transition", "todo", "skipped", "skip"),
        (made["id"], "transition", None, "todo", "create")]
    assert after["log"][:len(before["log"])] == before["log"]
    assert after["status"] == {T1: "done", T2: "done", T3: "skipped"}
    assert after["done"] == 2 and after["recover"][0] is True
    checked = repo.flow("check", "--base", base, "--json")
    assert checked.exit_code == 0, checked


def test_hand_made_lines_outside_the_trailer_block_or_without_the_change_are_not_believed(
        worked: tuple[Repo, str]) -> None:
    repo, done = worked
    before = beliefs(repo)
    # In the body, above another paragraph: not the trailer block.
    repo.write("notes.txt", "1\n")
    repo.commit_all(f"notes\n\n{FORGED}\n\nSigned off, and more words here.")
    # In the trailer block, but the commit does not change fn-1.3's file.
    repo.write("notes.txt", "2\n")
    repo.commit_all(f"notes\n\n{FORGED}")
    # A revert line in git's form, but nothing is reverted.
    repo.write("notes.txt", "3\n")
    repo.commit_all(f"Revert \"done\"\n\nThis reverts commit {done}.")
    # Not git's form at all.
    repo.write("notes.txt", "4\n")
    repo.commit_all(f"undo it\n\nThis reverts commit {done[:10]} because")
    after = beliefs(repo)
    assert after["log"] == before["log"] and after["status"] == before["status"]
    assert after["states"] == before["states"] and after["lead"] == before["lead"]
    problems = after["recover"][2]
    assert ("trailer_without_change", T3) in problems and after["recover"][1] == []
    assert repo.ok("recover", "--apply")["commit"] is None


def test_a_real_git_revert_still_counts_and_a_fake_one_does_not(worked: tuple[Repo, str]) -> None:
    repo, done = worked
    repo.git("revert", "--no-edit", done)
    assert repo.ok("show", "fn-1.1")["status"] == "in_progress"
    assert [e["event"] for e in repo.ok("log", "fn-1.1")["events"]][-1] == "revert"
    assert repo.ok("recover")["clean"] is True
    # A commit that says it reverts the revert but leaves the file as it is: not believed.
    revert = repo.head()
    repo.write("notes.txt", "x\n")
    repo.commit_all(f"Revert \"Revert\"\n\nThis reverts commit {revert}.")
    assert repo.ok("log", "fn-1.1")["events"][-1]["event"] == "revert"
    assert repo.ok("recover")["divergences"] == []
    assert repo.ok("show", "fn-1.1")["status"] == "in_progress"


def test_github_squash_messages_count_every_commit_in_order(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("checkout", "-q", "-b", "feature")
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    messages = repo.git("log", "--reverse", "--format=%B%x00", "main..feature").split("\0")
    parts = [m.strip() for m in messages if m.strip()]
    repo.git("checkout", "-q", "main")
    repo.git("merge", "--squash", "-q", "feature")
    body = "\n\n".join(f"* {part}" for part in parts)
    repo.git("commit", "-q", "--no-verify", "-m",
             f"Design token schema (#12)\n\n{body}\n\n---------\n\nCo-authored-by: Bob <bob@example.com>")
    events = repo.ok("log", "fn-1.1")["events"]
    assert [(e["from"], e["to"]) for e in events] == [
        (None, "todo"), ("todo", "in_progress"), ("in_progress", "done")]
    assert repo.ok("recover")["clean"] is True
    assert repo.ok("stats")["cycle_time"]["count"] == 1


@pytest.mark.parametrize("option", ["--title", "--actor"])
def test_text_that_is_not_utf8_is_refused_with_a_clear_error(worked: tuple[Repo, str],
                                                             option: str) -> None:
    repo, _ = worked
    head = repo.head()
    argv = [FLOW_EXE.encode(), b"task", b"create", b"--epic", b"fn-1", b"--json"]
    argv += [b"--title", b"caf\xe9"] if option == "--title" else [b"--title", b"ok", b"--actor",
                                                                  b"caf\xe9"]
    result = subprocess.run(argv, cwd=repo.path, capture_output=True, env=dict(os.environ))
    assert result.returncode == 1, result
    assert b"Traceback" not in result.stderr + result.stdout
    assert b"not valid UTF-8" in result.stdout + result.stderr
    assert repo.head() == head


def test_an_actor_from_the_environment_must_be_one_line_of_utf8(worked: tuple[Repo, str]) -> None:
    repo, _ = worked
    head = repo.head()
    result = repo.refused("start", "fn-1.2", "--json", env={"FLOW_ACTOR": f"bob\n{FORGED}"})
    assert "control character" in result.json["error"]
    result = repo.refused("start", "fn-1.2", "--actor", "a\tb", "--json")
    assert "control character" in result.json["error"]
    assert repo.head() == head
