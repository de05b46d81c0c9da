"""Setup: init, detect, config get|set, demo."""

from __future__ import annotations

from typing import Any

import click

from git_flowctl.changes import ops
from git_flowctl.cli.common import (
    apply_change,
    emit_outcome,
    get_output,
    mode_of,
    mutating,
    open_workspace,
    rev_option,
)
from git_flowctl.model.config import (
    CONFIG_PATH,
    DEFAULTS,
    Config,
    check_value,
    coerce_setting,
    known_key,
    set_config_value,
)
from git_flowctl.model.document import dump_yaml, identical
from git_flowctl.model.errors import FlowError, UsageError
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.writer import Change, Mode, Writer


@click.command("init")
@click.option("--remote", metavar="NAME",
              help="Claim through this git remote: sets claims.remote and adds its fetch refspec.")
@mutating
def init_command(remote: str | None, no_commit: bool, dry_run: bool, message: str | None,
                 actor: str | None) -> None:
    """Create .flow/ with its config.yaml in one commit (does nothing when it exists)."""
    out = get_output()
    ws = open_workspace(out)
    if remote is None:
        apply_change(out, ws, ops.init, mode_of(no_commit, dry_run), message)
        return
    from git_flowctl.coordination.claims import claims_refspec, ensure_claims_refspec

    mode = mode_of(no_commit, dry_run)
    if ws.config_value(f"remote.{remote}.url") is None:
        raise FlowError(f"no git remote named {remote!r}",
                        hint=f"add it first (`git remote add {remote} URL`)")

    def build(plan: Plan) -> Change:
        change = ops.init(plan)
        raw = change.writes.get(CONFIG_PATH) or plan.source.read(CONFIG_PATH) or b""
        if Config.parse(raw).get("claims.remote") != remote:
            text = set_config_value(raw.decode("utf-8"), "claims.remote", remote)
            change.writes[CONFIG_PATH] = text.encode("utf-8")
            change.result["actions"].append(f"set claims.remote: {remote}")
            change.result["message"] = f"initialized .flow/, claims through {remote}"
        return change

    added = False if mode is Mode.DRY_RUN else ensure_claims_refspec(ws, remote)
    outcome = Writer(ws, message=message).apply(build, mode)
    outcome.change.result.update(claims_refspec=claims_refspec(remote), claims_refspec_added=added)
    emit_outcome(out, outcome)


@click.group("config")
def config_group() -> None:
    """Read and change .flow/config.yaml settings (dotted keys: claims.remote)."""


@config_group.command("get")
@click.argument("key", required=False)
@rev_option
def config_get(key: str | None, rev: str | None) -> None:
    """Print a setting (or all settings, defaults filled in)."""
    out = get_output()
    ws = open_workspace(out)
    config = ws.load_plan(rev, strict=False).config
    if key is None:
        merged = {name: config.get(name) for name in DEFAULTS}
        merged.update({k: v for k, v in config.raw.items() if k not in merged})
        out.emit({"config": merged}, dump_yaml(merged, flow_leaves=False).rstrip())
        return
    if not known_key(key) and config.get(key) is None:
        raise FlowError(f"unknown setting {key!r}",
                        hint="known: " + ", ".join(_known_keys()))
    value = config.get(key)
    out.emit({"key": key, "value": value}, "null" if value is None else str(value))


def _known_keys(prefix: str = "", node: dict[str, Any] | None = None) -> list[str]:
    keys: list[str] = []
    for name, value in (DEFAULTS if node is None else node).items():
        if isinstance(value, dict):
            keys.extend(_known_keys(f"{prefix}{name}.", value))
        else:
            keys.append(f"{prefix}{name}")
    return keys


@config_group.command("set")
@click.argument("key")
@click.argument("value")
@mutating
def config_set(key: str, value: str, no_commit: bool, dry_run: bool, message: str | None,
               actor: str | None) -> None:
    """Set a setting in .flow/config.yaml (the value is read as YAML: 3, true, null, text)."""
    out = get_output()
    ws = open_workspace(out)
    if not known_key(key):
        raise UsageError(f"unknown setting {key!r}", hint="known: " + ", ".join(_known_keys()))
    typed = coerce_setting(key, value)
    wrong = check_value(key, typed)
    if wrong is not None:
        raise FlowError(wrong, hint=f"for example `git flow-task config set {key} "
                                    f"{_example(key)}`")

    def build(plan: Plan) -> Change:
        plan.require_initialized()
        raw = plan.source.read(CONFIG_PATH)
        new_text = set_config_value(raw.decode("utf-8") if raw else "", key, typed)
        written = Config.parse(new_text.encode("utf-8"))  # never write what does not read back
        before = Config.parse(raw) if raw else Config({})
        for wrong in written.problems:
            if wrong not in before.problems:  # fixing one setting never waits for the others
                written.check_key(wrong)
        if not identical(written.get(key), typed):
            raise FlowError(f"{key} would not read back as {typed!r} from {CONFIG_PATH}",
                            hint="nothing was written; edit the file by hand")
        return Change(f"flow: config {key}={value}", {CONFIG_PATH: new_text.encode("utf-8")},
                      result={"key": key, "value": typed, "message": f"{key} = {typed}"})

    mode = mode_of(no_commit, dry_run)
    if key != "claims.remote" or not typed or mode is Mode.DRY_RUN:
        apply_change(out, ws, build, mode, message)
        parts = key.split(".")
        if parts[0] == "guard" and parts[2:] in ([], ["run"]) and isinstance(typed, str) \
                and mode is not Mode.DRY_RUN:
            from git_flowctl.gates.trust import trust

            trust(ws, [(f"guard.{parts[1]}", typed.strip())])  # typed here: the user's own
        return
    from git_flowctl.coordination.claims import ensure_claims_refspec

    outcome = Writer(ws, message=message).apply(build, mode)
    if ws.config_value(f"remote.{typed}.url") is None:
        outcome.change.result["note"] = (f"no git remote named {typed!r} here yet: after adding "
                                         f"it, `git flow-task init --remote {typed}` sets up "
                                         "fetching its claims")
    else:
        outcome.change.result["claims_refspec_added"] = ensure_claims_refspec(ws, str(typed))
    emit_outcome(out, outcome)


_EXAMPLES = {"prefix": "fn", "slug_max": "20", "max_retries": "2", "default_branch": "main",
             "require_evidence": "true", "link_commits": "false", "claims.remote": "origin",
             "claims.lease_seconds": "3600", "require_verify": "true", "require_review": "plan"}


def _example(key: str) -> str:
    return _EXAMPLES.get(key, "VALUE")


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the throwaway repository and print its path.")
def demo_command(keep: bool) -> None:
    """Run a short demo in a throwaway repository: a plan, transitions, a gate, the log."""
    from git_flowctl.cli.demo import run_demo

    out = get_output()
    result = run_demo(keep=keep, json_mode=out.json_mode)
    if out.json_mode:
        out.emit(result)


@click.command("detect")
def detect_command() -> None:
    """Is there a plan here, and is it valid? flowctl's `detect`: exists, valid, path.

    Exits 0 either way (the answer is in the fields); `validate` lists the problems.
    """
    from git_flowctl.guard.validate import Snapshot, errors_in

    out = get_output()
    ws = open_workspace(out)
    source = ws.work_tree_source()
    snapshot = Snapshot.load(source)
    exists = source.read(CONFIG_PATH) is not None or bool(snapshot.items)
    errors = errors_in(snapshot.findings()) if exists else []
    path = str(ws.root / ".flow")
    payload = {"exists": exists, "valid": exists and not errors, "path": path,
               "errors": len(errors)}
    if out.json_mode:
        out.emit(payload)
        return
    if not exists:
        out.console.print(f"no .flow/ plan in the {source.label}: `git flow-task init` creates one",
                          highlight=False)
    elif errors:
        out.console.print(f"{path}: {len(errors)} error{'s' if len(errors) > 1 else ''} "
                          "(`git flow-task validate` lists them)", highlight=False)
    else:
        out.console.print(f"{path}: valid", highlight=False)
