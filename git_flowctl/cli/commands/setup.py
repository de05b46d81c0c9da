"""Setup: init, config get|set, demo."""

from __future__ import annotations

from typing import Any

import click

from git_flowctl import ops
from git_flowctl.cli.common import (
    apply_change,
    get_output,
    mode_of,
    mutating,
    open_workspace,
    rev_option,
)
from git_flowctl.config import (
    CONFIG_PATH,
    DEFAULTS,
    Config,
    coerce_value,
    known_key,
    set_config_value,
)
from git_flowctl.document import dump_yaml
from git_flowctl.errors import FlowError, UsageError
from git_flowctl.plan import Plan
from git_flowctl.writer import Change


@click.command("init")
@mutating
def init_command(no_commit: bool, dry_run: bool, message: str | None, actor: str | None) -> None:
    """Create .flow/ with its config.yaml in one commit (does nothing when it exists)."""
    out = get_output()
    ws = open_workspace(out)
    apply_change(out, ws, ops.init, mode_of(no_commit, dry_run), message)


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
    typed = coerce_value(value)

    def build(plan: Plan) -> Change:
        plan.require_initialized()
        raw = plan.source.read(CONFIG_PATH)
        new_text = set_config_value(raw.decode("utf-8") if raw else "", key, typed)
        Config.parse(new_text.encode("utf-8"))  # never write a config that does not read back
        return Change(f"flow: config {key}={value}", {CONFIG_PATH: new_text.encode("utf-8")},
                      result={"key": key, "value": typed, "message": f"{key} = {typed}"})

    apply_change(out, ws, build, mode_of(no_commit, dry_run), message)


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the throwaway repository and print its path.")
def demo_command(keep: bool) -> None:
    """Run a short demo in a throwaway repository: a plan, transitions, a gate, the log."""
    from git_flowctl.demo import run_demo

    out = get_output()
    result = run_demo(keep=keep, json_mode=out.json_mode)
    if out.json_mode:
        out.emit(result)
