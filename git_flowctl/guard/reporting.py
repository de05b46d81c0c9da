"""Findings as text: compiler-style lines, GitHub workflow annotations, JUnit XML; as JSON; and
`validate`'s whole report (the CLI prints it, the MCP server returns it).

Plain strings only (no rich): hooks print these on every refused commit and must stay light.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from git_flowctl.guard.validate import ERROR, NOTICE, WARNING, Finding, RangeReport

if TYPE_CHECKING:
    from git_flowctl.guard.validate import Snapshot
    from git_flowctl.repo.workspace import Workspace


def location(item: Finding) -> str:
    if item.file and item.line:
        return f"{item.file}:{item.line}"
    return item.file or ".flow"


def text_lines(findings: Iterable[Finding], *, show_commit: bool = True) -> list[str]:
    """``path:line: error [rule] message`` and an indented hint, as editors and CI logs expect."""
    lines: list[str] = []
    for item in findings:
        where = location(item)
        commit = f" (commit {item.commit[:7]})" if show_commit and item.commit else ""
        lines.append(f"{where}: {item.severity} [{item.rule}] {item.message}{commit}")
        if item.hint:
            lines.append(f"    hint: {item.hint}")
    return lines


def summary(findings: Sequence[Finding]) -> str:
    counts = {severity: sum(1 for f in findings if f.severity == severity)
              for severity in (ERROR, WARNING, NOTICE)}
    parts = [f"{count} {name}{'s' if count != 1 else ''}" for name, count in counts.items() if count]
    return ", ".join(parts) if parts else "no problems"


def findings_payload(findings: list[Finding]) -> dict[str, Any]:
    """The JSON every integrity command shares (flowctl's validate names where they exist)."""
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    return {
        "valid": not errors,
        "findings": [f.as_dict() for f in findings],
        "errors": [f.message for f in errors],
        "warnings": [f.message for f in warnings],
        "total_errors": len(errors),
        "total_warnings": len(warnings),
    }


@dataclass(frozen=True)
class Validation:
    """`validate`'s result: its JSON fields, the findings and the snapshot they came from."""

    payload: dict[str, Any]
    findings: list[Finding]
    snapshot: Snapshot
    source: str  # "working tree", "index", "commit abc1234"
    # The work tree's snapshot generation when every file read is in it (repo/catalog.py):
    # the answer may be kept for the same files (views/lean.py).
    generation: str | None = None

    @property
    def failure(self) -> str | None:
        """The error line of an invalid plan (the command exits 1), None when it is valid."""
        return None if self.payload["valid"] else f"validate: {summary(self.findings)}"


def validate_report(ws: Workspace, *, rev: str | None = None, staged: bool = False,
                    epic_ref: str | None = None, every_epic: bool = False) -> Validation:
    """Check every epic and task file of the work tree, the index (``staged``) or REV; with
    ``epic_ref`` (and not ``every_epic``) only that epic's findings are reported."""
    from git_flowctl.guard.validate import ItemStore, Snapshot
    from git_flowctl.model import ids
    from git_flowctl.model.errors import FlowError, UsageError
    from git_flowctl.repo.catalog import WorkTree
    from git_flowctl.repo.sources import WorkTreeSource

    if rev and staged:
        raise UsageError("--rev and --staged cannot be combined")
    catalog = None
    if rev or staged:
        source: Any = ws.revision_source(rev) if rev else ws.index_source()
    else:  # the work tree, its files' blob IDs from its snapshot (repo/catalog.py)
        catalog = WorkTree(ws.plan_cache, str(ws.root)).catalog().blobs_only()
        source = WorkTreeSource(ws.root, catalog=catalog)
    store = ItemStore(ws.common_dir, ws.root)  # files parsed before, by blob ID (issue #11)
    snapshot = Snapshot.load(source, store)
    store.save()
    if source.read(".flow/config.yaml") is None and not snapshot.items:
        raise FlowError(f"no .flow/ plan in the {source.label}", hint="run `git flow-task init` first")
    findings = snapshot.findings()
    extra: dict[str, Any] = {}
    if epic_ref is not None and not every_epic:
        epic_id = ids.resolve(epic_ref, snapshot.epics, kind="epic")
        mine = {epic_id, *(t for t, item in snapshot.tasks.items() if item.epic == epic_id)}
        paths = {snapshot.epics[epic_id].path, *(snapshot.tasks[t].path for t in mine if t in snapshot.tasks)}
        findings = [f for f in findings if f.subject in mine or f.file in paths]
        extra = {"epic": epic_id, "task_count": len(mine) - 1}
    payload = {"source": source.label, **extra, **findings_payload(findings),
               "total_epics": len(snapshot.epics), "total_tasks": len(snapshot.tasks)}
    generation = catalog.generation if catalog is not None and snapshot.blobs is not None else None
    return Validation(payload, findings, snapshot, source.label, generation)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_lines(findings: Iterable[Finding]) -> list[str]:
    """GitHub Actions workflow commands: ``::error file=F,line=L,title=T::message``."""
    lines = []
    for item in findings:
        command = {ERROR: "error", WARNING: "warning"}.get(item.severity, "notice")
        props = []
        if item.file:
            props.append(f"file={_escape_property(item.file)}")
            if item.line:
                props.append(f"line={item.line}")
        props.append(f"title={_escape_property('flow-task ' + item.rule)}")
        text = item.message
        if item.commit:
            text += f" (commit {item.commit[:7]})"
        if item.hint:
            text += f"\nhint: {item.hint}"
        lines.append(f"::{command} {','.join(props)}::{_escape_data(text)}")
    return lines


def github_error_line(message: str, hint: str | None, *, title: str) -> str:
    """A fatal error (no report could be made) as one workflow annotation, so that it shows on
    the run's summary rather than only in the log."""
    text = f"{message} (hint: {hint})" if hint else message
    return f"::error title={_escape_property(title)}::{_escape_data(text)}"


def junit_xml(report: RangeReport) -> str:
    """One test case per commit checked and one for the tree at the head; errors are failures."""
    suite = ElementTree.Element("testsuite", name="git flow-task check")
    cases: list[tuple[str, str, list[Finding]]] = [
        (f"{check.commit[:7]} {check.summary}", "commits", check.findings) for check in report.commits]
    cases.append((f"tree at {report.head[:7]}", "tree", report.tree))
    failures = 0
    for name, classname, findings in cases:
        case = ElementTree.SubElement(suite, "testcase", classname=f"flow-task.{classname}", name=name)
        errors = [f for f in findings if f.severity == ERROR]
        if errors:
            failures += 1
            failure = ElementTree.SubElement(case, "failure", message=errors[0].message,
                                             type=errors[0].rule)
            failure.text = "\n".join(text_lines(errors, show_commit=False))
        others = [f for f in findings if f.severity != ERROR]
        if others:
            ElementTree.SubElement(case, "system-out").text = "\n".join(text_lines(others, show_commit=False))
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    root = ElementTree.Element("testsuites", name="git flow-task", tests=str(len(cases)),
                               failures=str(failures))
    root.append(suite)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
