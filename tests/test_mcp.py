"""Issue #18: `git flow-task mcp`, driven as an agent's client drives it.

Each test starts `git flow-task mcp` as a subprocess and talks to it with the `mcp` SDK's own
stdio client (initialize, list tools, call tools, read resources). Repositories are real; what a
tool did is read back with git and with the CLI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import Repo
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from git_flowctl.mcp.server import PROMPT_NAMES, TOOL_NAMES

ID1, ID2, ID3 = "fn-1-add-oauth-login.1", "fn-1-add-oauth-login.2", "fn-1-add-oauth-login.3"


@asynccontextmanager
async def served(repo: Repo, *args: str, actor: str | None = None,
                 cwd: Path | None = None) -> AsyncIterator[tuple[ClientSession, Any]]:
    """A session with `git flow-task mcp ARGS` started in the repository (or CWD)."""
    env = dict(os.environ)
    if actor is not None:
        env["FLOW_ACTOR"] = actor
    params = StdioServerParameters(command="git", args=["flow-task", "mcp", *args],
                                   cwd=str(cwd or repo.path), env=env)
    with open(os.devnull, "w") as errlog:  # the server's log lines are not the test's output
        async with stdio_client(params, errlog=errlog) as (read, write), \
                ClientSession(read, write) as session:
            init = await session.initialize()
            yield session, init


def run(test: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(120):  # a hung server fails the test instead of the suite
            await test()

    anyio.run(bounded)


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool call that must succeed; returns its structured content (the CLI's JSON)."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result
    data = result.structured_content
    assert isinstance(data, dict) and data["success"] is True, data
    assert json.loads(result.content[0].text) == data  # type: ignore[union-attr]
    return data


async def refused(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool call that must fail as an MCP tool error; returns its content."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result
    data = result.structured_content
    assert isinstance(data, dict) and data["success"] is False, data
    return data


def test_an_agent_creates_claims_and_finishes_a_task(flow_repo: Repo) -> None:
    repo = flow_repo

    async def agent() -> None:
        async with served(repo, actor="agent-1") as (session, init):
            assert init.instructions.startswith("# This MCP server")
            assert "# Working here with git flow-task" in init.instructions  # prime's primer
            assert "You act as `agent-1` (from FLOW_ACTOR)" in init.instructions
            listed = await session.list_tools()
            assert sorted(tool.name for tool in listed.tools) == sorted(TOOL_NAMES)
            done_tool = next(tool for tool in listed.tools if tool.name == "done")
            assert {"task", "summary", "evidence"} <= set(done_tool.input_schema["properties"])

            created = await call(session, "task_create", epic="fn-1", title="Write the docs",
                                 deps=[ID2], priority=0, acceptance="- [ ] a page")
            assert created["id"] == "fn-1-add-oauth-login.4" and created["depends_on"] == [ID2]
            await call(session, "dep_add", task="fn-1.4", deps=[ID3])
            picked = await call(session, "next", claim=True)
            assert picked["status"] == "work" and picked["task"] == ID1 and picked["claimed"]
            assert picked["claim"]["holder"] == "agent-1"
            finished = await call(session, "done", task="fn-1.1", summary="Schema written",
                                  evidence={"commits": ["abc1234"], "tests": "pytest -q"})
            assert finished["status"] == "done" and finished["commit"] == repo.head()
            shown = await call(session, "show", id="fn-1.4")
            assert shown["depends_on"] == [ID2, ID3] and shown["acceptance"] == "- [ ] a page"

    run(agent)
    message = repo.message()
    assert f"Flow-Transition: {ID1} in_progress->done action=done by=agent-1 id=" in message
    assert f'Flow-Evidence: {ID1} commits=abc1234 tests="pytest -q"' in message
    log = repo.git("log", "--format=%(trailers:key=Flow-Transition,valueonly)", "-4")
    assert f"{ID1} todo->in_progress action=start by=agent-1" in log
    assert "fn-1-add-oauth-login.4 none->todo action=create by=agent-1" in log
    assert repo.status() == ""  # the commits left the work tree and index clean


def test_block_fail_release_heartbeat_and_a_dry_run(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("config", "set", "retry_backoff.base", "0")  # the failed task starts again at once
    head = repo.head()

    async def agent() -> None:
        async with served(repo, actor="agent-1") as (session, _):
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            assert tools["show"].annotations.read_only_hint is True
            assert tools["next"].annotations.read_only_hint is False  # claim=true writes
            dry = await call(session, "start", task="fn-1.1", dry_run=True)
            assert dry["dry_run"] is True and dry["commit"] is None
            assert "Flow-Transition: fn-1-add-oauth-login.1 todo->in_progress" in dry["commit_message"]
            assert repo.head() == head  # a dry run writes nothing
            await call(session, "start", task="fn-1.1")
            beat = await call(session, "heartbeat")
            assert [row["id"] for row in beat["renewed"]] == [ID1] and beat["actor"] == "agent-1"
            blocked = await call(session, "block", task="fn-1.1", reason="waiting for the API review")
            assert blocked["status"] == "blocked"
            assert "reason" not in repo.git("log", "-1", "--format=%(trailers)")  # text is data
            repo.ok("unblock", "fn-1.1")
            await call(session, "start", task="fn-1.1")
            failed = await call(session, "fail", task="fn-1.1", reason="flaky")
            assert failed["status"] == "up_for_retry"
            await call(session, "start", task="fn-1.1")
            released = await call(session, "release", task="fn-1.1")
            assert released["status"] == "todo"
            await call(session, "start", task="fn-1.1")
            finished = await call(session, "done", task="fn-1.1", evidence=["tests=pytest -q", "commits=abc1234"])
            assert finished["evidence"] == {"tests": "pytest -q", "commits": "abc1234"}
            events = await call(session, "log", task="fn-1.1")
            actions = [event["action"] for event in events["events"]]
            assert actions == ["create", "start", "block", "unblock", "start", "fail", "start",
                               "release", "start", "done"], actions

    run(agent)


def test_tools_return_exactly_the_cli_json(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1", "--evidence", "tests=ok")
    cli = {
        "status": repo.ok("status"),
        "show": repo.ok("show", "fn-1.2"),
        "show_epic": repo.ok("show", "fn-1"),
        "tasks": repo.ok("tasks", "--status", "ready"),
        "ready": repo.ok("ready"),
        "next": repo.ok("next"),
        "log": repo.ok("log", "fn-1.1"),
        "validate": repo.ok("validate"),
    }

    async def agent() -> None:
        async with served(repo) as (session, _):
            assert await call(session, "status") == cli["status"]
            assert await call(session, "show", id="fn-1.2") == cli["show"]
            assert await call(session, "show", id="fn-1") == cli["show_epic"]
            assert await call(session, "tasks", status=["ready"]) == cli["tasks"]
            assert await call(session, "ready") == cli["ready"]
            assert await call(session, "next") == cli["next"]
            assert await call(session, "log", task="fn-1.1") == cli["log"]
            assert await call(session, "validate") == cli["validate"]
            status = await session.read_resource("flow://status")
            assert json.loads(status.contents[0].text) == cli["status"]  # type: ignore[union-attr]
            task = await session.read_resource("flow://task/fn-1.2")
            assert json.loads(task.contents[0].text) == cli["show"]  # type: ignore[union-attr]

    run(agent)


def test_errors_keep_the_cli_error_hint_and_exit_code(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    cli_error = repo.flow("show", "fn-1.9", "--json")
    assert cli_error.exit_code == 1
    # agent-1 works on fn-1.1 in another worktree: its claim ref is shared, its commit is not.
    other = tmp_path / "other"
    repo.git("worktree", "add", "-q", "-b", "other", str(other))
    repo.ok("start", "fn-1.1", "--actor", "agent-1", cwd=other)

    async def agent() -> None:
        async with served(repo, actor="agent-2") as (session, _):
            unknown = await refused(session, "show", id="fn-1.9")
            assert {k: unknown[k] for k in ("success", "error", "hint")} == \
                {k: cli_error.json[k] for k in ("success", "error", "hint")}
            assert unknown["hint"] and unknown["exit_code"] == 1
            gated = await refused(session, "start", task="fn-1.2")  # fn-1.1 is not done
            assert gated["exit_code"] == 1 and ID1 in gated["error"]
            usage = await refused(session, "next", claim=True, rev="HEAD")
            assert usage["exit_code"] == 2 and usage["exit_meaning"] == "usage"
            taken = await refused(session, "start", task="fn-1.1")
            assert taken["exit_code"] == 3 and taken["holder"] == "agent-1", taken
            assert taken["exit_meaning"] == "lost a race or claimed by another"
            with pytest.raises(MCPError) as missing:
                await session.read_resource("flow://task/fn-1.9")
            assert "no task 'fn-1.9'" in str(missing.value)
            assert str(cli_error.json["hint"]) in str(missing.value)
            # the session goes on after its errors
            assert (await call(session, "show", id="fn-1.1"))["status"] == "todo"

    run(agent)
    cli_taken = repo.flow("start", "fn-1.1", "--actor", "agent-2")
    assert cli_taken.exit_code == 3  # what the tool's exit_code said


def test_an_invalid_plan_is_a_tool_error_with_every_finding(flow_repo: Repo) -> None:
    repo = flow_repo
    path = f".flow/tasks/{ID2}.md"
    repo.write(path, repo.read(path).replace("status: todo", "status: bogus"))
    cli = repo.flow("validate", "--json")
    assert cli.exit_code == 1

    async def agent() -> None:
        async with served(repo) as (session, _):
            invalid = await refused(session, "validate")
            assert invalid["exit_code"] == 1
            assert {k: v for k, v in invalid.items() if k not in ("exit_code", "exit_meaning", "hint")} \
                == cli.json

    run(agent)


def test_a_cli_transition_between_two_calls_is_seen(flow_repo: Repo) -> None:
    repo = flow_repo

    async def agent() -> None:
        async with served(repo, actor="agent-1") as (session, _):
            assert (await call(session, "show", id="fn-1.1"))["status"] == "todo"
            assert (await call(session, "next"))["task"] == ID1
            repo.ok("start", "fn-1.1", "--actor", "someone-else")  # another process commits
            assert (await call(session, "show", id="fn-1.1"))["status"] == "in_progress"
            nothing = await call(session, "next")  # fn-1.1 is someone else's, 2 and 3 wait
            assert nothing["status"] == "none", nothing
            repo.ok("done", "fn-1.1", "--actor", "someone-else")
            assert (await call(session, "next"))["task"] == ID2
            status = await session.read_resource("flow://status")
            assert json.loads(status.contents[0].text)["tasks"]["done"] == 1  # type: ignore[union-attr]

    run(agent)


@pytest.mark.slow
def test_two_agents_racing_next_with_claim_get_different_tasks(repo: Repo) -> None:
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Wide")
    for number in range(6):
        repo.ok("task", "create", "--epic", "fn-1", "--title", f"Task {number}")
    picked: dict[str, list[str]] = {"agent-1": [], "agent-2": []}

    async def agent(actor: str, ready: anyio.Event, go: anyio.Event) -> None:
        async with served(repo, actor=actor) as (session, _):
            ready.set()
            await go.wait()
            for _ in range(3):
                answer = await call(session, "next", claim=True)
                assert answer["status"] == "work" and answer["claimed"], answer
                picked[actor].append(answer["task"])
                await call(session, "done", task=answer["task"], summary=f"by {actor}")

    async def race() -> None:
        go = anyio.Event()
        ready = [anyio.Event(), anyio.Event()]
        async with anyio.create_task_group() as group:
            group.start_soon(agent, "agent-1", ready[0], go)
            group.start_soon(agent, "agent-2", ready[1], go)
            for event in ready:
                await event.wait()
            go.set()

    run(race)
    every = picked["agent-1"] + picked["agent-2"]
    assert len(every) == 6 and len(set(every)) == 6, picked
    done = repo.ok("tasks", "--status", "done")["tasks"]
    assert len(done) == 6
    log = repo.git("log", "--format=%(trailers:key=Flow-Transition,valueonly)")
    for actor, tasks in picked.items():
        for task in tasks:
            assert f"{task} todo->in_progress action=start by={actor}" in log


def test_the_repo_option_serves_another_directory(flow_repo: Repo, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    async def agent() -> None:
        async with served(flow_repo, "--repo", str(flow_repo.path), cwd=elsewhere) as (session, _):
            assert (await call(session, "status"))["total_tasks"] == 3

    run(agent)


def test_without_the_sdk_the_command_says_how_to_install_it(flow_repo: Repo) -> None:
    # sys.modules["mcp"] = None makes `import mcp` fail as when the package is not installed.
    code = ("import sys; sys.modules['mcp'] = None; from git_flowctl.entry import main; "
            "sys.exit(main(['mcp']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=flow_repo.path, capture_output=True,
                            text=True, env=dict(os.environ), stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result
    assert "error: the MCP server needs the mcp package" in result.stderr
    assert "hint: pip install 'git-flowctl[mcp]'" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_outside_a_repository_the_server_does_not_start(tmp_path: Path) -> None:
    result = subprocess.run(["git", "flow-task", "mcp"], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path)},
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and "not a git repository" in result.stderr, result


def _agents_page_configs() -> dict[str, tuple[list[str], dict[str, str]]]:
    """The stdio command line and environment of each client's snippet in docs/agents.md."""
    import tomllib

    text = (Path(__file__).resolve().parent.parent / "docs" / "agents.md").read_text()
    claude, cursor = (json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)
                      if "mcpServers" in block)
    (codex_text,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    codex = tomllib.loads(codex_text)["mcp_servers"]["flow-task"]
    configs = {"claude": claude["mcpServers"]["flow-task"], "codex": codex,
               "cursor": cursor["mcpServers"]["flow-task"]}
    assert configs["claude"]["type"] == "stdio"
    assert "claude mcp add --scope project --env FLOW_ACTOR=claude flow-task -- git flow-task mcp" in text
    assert "codex mcp add flow-task --env FLOW_ACTOR=codex -- git flow-task mcp" in text
    return {name: ([config["command"], *config["args"]], config["env"])
            for name, config in configs.items()}


@pytest.mark.slow
def test_the_client_snippets_in_the_docs_start_the_server(flow_repo: Repo, tmp_path: Path) -> None:
    configs = _agents_page_configs()
    assert sorted(configs) == ["claude", "codex", "cursor"]
    elsewhere = tmp_path / "not-the-project"
    elsewhere.mkdir()

    async def start_each() -> None:
        for name, (argv, env) in configs.items():
            assert argv[:3] == ["git", "flow-task", "mcp"], (name, argv)
            argv = [arg.replace("${workspaceFolder}", str(flow_repo.path)) for arg in argv]
            # Cursor names the workspace itself; the others start in the project directory.
            cwd = elsewhere if name == "cursor" else flow_repo.path
            async with served(flow_repo, *argv[3:], actor=env["FLOW_ACTOR"], cwd=cwd) as (session, init):
                assert f"You act as `{name}` (from FLOW_ACTOR)" in init.instructions
                assert (await call(session, "status"))["total_tasks"] == 3

    run(start_each)


def test_the_package_name_does_not_shadow_the_sdk() -> None:
    """git_flowctl.mcp imports the SDK `mcp` by its absolute name: it gets the SDK, not itself."""
    import mcp as sdk

    from git_flowctl.mcp import server

    assert server.MCPServer.__module__.startswith("mcp.server.")
    assert Path(sdk.__file__).parent != Path(server.__file__).parent
    assert "git_flowctl" not in sdk.__name__


def test_done_with_verify_runs_the_guard_and_refuses_a_failing_one(flow_repo: Repo) -> None:
    """Issue #15 through the agents' door: `done` with verify is `done --verify`."""
    repo = flow_repo
    repo.ok("config", "set", "guard.test", "test -f passing")
    repo.ok("config", "set", "require_verify", "true")
    repo.ok("start", "fn-1.1", "--actor", "agent-1")

    async def agent() -> None:
        async with served(repo, actor="agent-1") as (session, _):
            unverified = await refused(session, "done", task="fn-1.1")
            assert "--verify" in unverified["hint"]
            failing = await refused(session, "done", task="fn-1.1", verify=True)
            assert failing["exit_code"] == 1 and "the guard failed: test" in failing["error"]
            assert failing["guard"]["results"][0]["result"] == "fail"
            (repo.path / "passing").write_text("")
            finished = await call(session, "done", task="fn-1.1", verify=True)
            assert finished["status"] == "done" and finished["verified"] is True

    head = repo.head()
    run(agent)
    assert repo.git("rev-list", "--count", f"{head}..HEAD").strip() == "1"
    assert f"Flow-Evidence: {ID1} guard.test=pass" in repo.message()


# The agent loop's tools (issue #16's commands through the agents' door) -------------------------


def _loop_plan(repo: Repo) -> None:
    """test_workflow's chain (1 <- 2 <- 3 <- 4 failed, 5 apart, 6 on 1), plus two open tasks
    whose files overlap, one of them held by bob."""
    from test_workflow import chain

    chain(repo)
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Api", "--files", "src/api/**")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Routes", "--files", "src/api/routes.py")
    repo.ok("start", "fn-1.7", env={"FLOW_ACTOR": "bob"})


def test_the_loop_reads_return_exactly_the_cli_json(repo: Repo) -> None:
    _loop_plan(repo)
    cli = {
        "prompt": repo.ok("prompt", "fn-1.5"),
        "queue": repo.ok("queue"),
        "queue_all": repo.ok("queue", "--all"),
        "files": repo.ok("files"),
        "files_epic": repo.ok("files", "--epic", "fn-1"),
        "interrupted": repo.ok("status", "--interrupted"),
        "status": repo.ok("status"),
        "runs": repo.ok("run", "status"),
    }
    assert cli["files"]["conflicts"] and cli["queue"]["epics"]  # what is compared is not empty
    unknown = repo.flow("prompt", "fn-1.99", "--json")
    assert unknown.exit_code == 1
    prompt_text = repo.flow("prompt", "fn-1.5").stdout

    async def agent() -> None:
        async with served(repo) as (session, _):
            assert await call(session, "prompt", task="fn-1.5") == cli["prompt"]
            assert await call(session, "queue") == cli["queue"]
            assert await call(session, "queue", all=True) == cli["queue_all"]
            assert await call(session, "files") == cli["files"]
            assert await call(session, "files", epic="fn-1") == cli["files_epic"]
            assert await call(session, "status", interrupted=True) == cli["interrupted"]
            assert await call(session, "status") == cli["status"]
            assert await call(session, "run_status") == cli["runs"]
            missing = await refused(session, "prompt", task="fn-1.99")
            assert {k: missing[k] for k in ("error", "hint")} == \
                {k: unknown.json[k] for k in ("error", "hint")} and missing["exit_code"] == 1
            nothing = await refused(session, "run_status", run_id="01NOSUCHRUN")
            assert nothing["exit_code"] == 1 and "no run 01NOSUCHRUN" in nothing["error"]
            # `prompt` is also an MCP prompt, for clients that offer prompts to their user
            assert [p.name for p in (await session.list_prompts()).prompts] == list(PROMPT_NAMES)
            brief = await session.get_prompt("worker", {"task": "fn-1.5"})
            (message,) = brief.messages
            assert message.role == "user" and message.content.text == prompt_text  # type: ignore[union-attr]
            with pytest.raises(MCPError) as error:
                await session.get_prompt("worker", {"task": "fn-1.99"})
            assert unknown.json["error"] in str(error.value)
            assert str(unknown.json["hint"]) in str(error.value)

    run(agent)


def test_the_loop_reads_take_the_servers_actor(repo: Repo) -> None:
    """Whose view `queue`, `files` and `prompt` give: the server's actor unless a call names one."""
    _loop_plan(repo)
    as_bob = {"queue": repo.ok("queue", "--actor", "bob"), "files": repo.ok("files", "--actor", "bob"),
              "prompt": repo.ok("prompt", "fn-1.8", "--actor", "bob")}
    as_alice = repo.ok("files", "--actor", "alice")
    assert as_bob["files"] != as_alice  # bob's own claim is not "held by another" for bob

    async def agent() -> None:
        async with served(repo, actor="bob") as (session, _):
            assert await call(session, "queue") == as_bob["queue"]
            assert await call(session, "files") == as_bob["files"]
            assert await call(session, "prompt", task="fn-1.8") == as_bob["prompt"]
            assert await call(session, "files", actor="alice") == as_alice

    run(agent)


def test_restart_through_the_server(repo: Repo) -> None:
    from test_workflow import T, chain, statuses

    chain(repo)
    base = repo.head()

    async def agent() -> None:
        async with served(repo, actor="agent-1") as (session, _):
            before = statuses(repo)
            dry = await call(session, "restart", task="fn-1.2", dry_run=True)
            assert dry["would_reset"] == [T[2], T[3], T[4]] and dry["commit"] is None
            assert repo.head() == base and repo.status() == "" and statuses(repo) == before
            done = await call(session, "restart", task="fn-1.2")
            assert done["reset"] == [T[2], T[3], T[4]] and done["commit"] == repo.head()
            assert done["claims_dropped"] == [T[2], T[3]]  # 4 failed: its claim went then
            repo.ok("start", T[2], env={"FLOW_ACTOR": "bob"})
            busy = await refused(session, "restart", task="fn-1.1")
            assert busy["exit_code"] == 1 and T[2] in busy["error"] and "in progress" in busy["error"]
            forced = await call(session, "restart", task="fn-1.1", force=True)
            assert forced["reset"] == [T[1], T[2]] and T[2] in forced["claims_dropped"]
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            assert tools["restart"].annotations.destructive_hint is True

    run(agent)
    message = repo.message()
    assert re.search(rf"^Flow-Transition: {re.escape(T[2])} in_progress->todo action=restart "
                     r"by=agent-1 .*force=1", message, re.M), message
    claims = {row["id"] for row in repo.ok("claims")["claims"]}
    assert not claims & {T[1], T[2], T[3], T[4]}
    assert repo.flow("check", "--base", base).exit_code == 0


def test_land_through_the_server(repo: Repo, tmp_path: Path) -> None:
    from test_land import first_parents, plan, script, status_at
    from test_land import run as run_tasks

    first, second, other = plan(repo, ("First", []), ("Second", []), ("Other", [1]))
    command = script(tmp_path / "cmd.sh",
                     f'if [ "$FLOW_TASK_ID" = "{other}" ]; then echo other > other.txt\n'
                     'else echo "line of $FLOW_TASK_ID" > shared.txt; fi\n'
                     'git add -A && git commit -q -m "work on $FLOW_TASK_ID"\n')
    run_tasks(repo, "--", command)
    cli_dry = repo.ok("land", "--all-done", "--dry-run")
    cli_waits = repo.flow("land", other, "--json")
    assert cli_waits.exit_code == 1
    before = repo.head()

    async def agent() -> None:
        async with served(repo) as (session, _):
            dry = await call(session, "land", all_done=True, dry_run=True)
            assert dry == cli_dry and dry["order"] == [first, second, other]
            assert repo.head() == before
            waits = await refused(session, "land", tasks=[other])  # its dependency has not landed
            assert {k: waits[k] for k in ("error", "hint")} == \
                {k: cli_waits.json[k] for k in ("error", "hint")} and waits["exit_code"] == 1
            usage = await refused(session, "land", tasks=[first], remote="origin")
            assert usage["exit_code"] == 2 and "--push" in usage["hint"]
            assert (await refused(session, "land"))["exit_code"] == 2  # nothing named
            # the second task's line conflicts with the first's: it does not land, the rest does
            landed = await refused(session, "land", tasks=[first, second, other])
            assert landed["exit_code"] == 1 and "1 of 3 task(s) did not land" in landed["error"]
            assert landed["landed"] == [first, other] and landed["failed"] == [second]
            outcome = {task["id"]: task for task in landed["tasks"]}[second]
            assert outcome["outcome"] == "failed" and outcome["paths"] == ["shared.txt"]

    run(agent)
    assert repo.git("show", "main:shared.txt").strip() == f"line of {first}"
    assert repo.git("show", "main:other.txt").strip() == "other"
    assert status_at(repo, second) == "failed"
    assert len(first_parents(repo, before)) == 3  # two landings and the failure's record
    assert repo.flow("check", "--base", before).exit_code == 0


def test_run_status_through_the_server_sees_a_live_run(repo: Repo, tmp_path: Path) -> None:
    from test_run import plan as run_plan
    from test_run import wait_for
    from test_run_registry import WAIT, blocking_command, run_status, spawn_run

    first, second = run_plan(repo, ("First", [], ["a.txt"]), ("Second", [], ["b.txt"]))
    process = spawn_run(repo, "--jobs", "2", "--", blocking_command(tmp_path))
    try:
        wait_for(lambda: len((run_status(repo)["runs"] or [{}])[0].get("running") or []) == 2,
                 "both tasks to run")

        async def agent() -> None:
            async with served(repo) as (session, _):
                listed = await call(session, "run_status")
                (record,) = listed["runs"]
                assert record["pid"] == process.pid and record["state"] == "running"
                assert sorted(entry["task"] for entry in record["running"]) == [first, second]
                assert (listed["count"], listed["active"], listed["dead"]) == (1, 1, 0)
                one = await call(session, "run_status", run_id=record["run_id"][:8])
                assert [r["run_id"] for r in one["runs"]] == [record["run_id"]]
                status = await call(session, "status")
                assert [r["run_id"] for r in status["runs"]] == [record["run_id"]]

        run(agent)
    finally:
        (tmp_path / "go").touch()
        process.communicate(timeout=WAIT)
    assert process.returncode == 0


def test_the_agents_page_documents_every_tool_and_argument(flow_repo: Repo) -> None:
    """docs/agents.md's tool table: one row per tool, naming exactly the tool's arguments."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "agents.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (.+) \|$", text, re.M)
    own = {tool: set(re.findall(r"`([a-z_]+)`", arguments.partition("and as ")[0]))
           for tool, arguments in rows}
    documented = {tool: own[tool] | (own[like.strip("` ")] if like else set())
                  for tool, arguments in rows for like in [arguments.partition("and as ")[2]]}

    async def agent() -> None:
        async with served(flow_repo) as (session, _):
            listed = (await session.list_tools()).tools
            schemas = {tool.name: set(tool.input_schema["properties"]) for tool in listed}
            assert sorted(documented) == sorted(schemas)
            for name, properties in schemas.items():
                assert documented[name] == properties, name

    run(agent)
