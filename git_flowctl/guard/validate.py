"""The one validator (DESIGN §5): ``validate``, every hook, ``check`` and pre-push call it.

A check yields ``Finding``s, each naming a rule, a file and line where there is one, a message a
person can act on and a hint. Rule names are stable: docs/validation.md lists them, and other
tools may refer to them. Nothing here raises on a bad file: files are loaded one by one and
every problem is collected (the ``Plan`` loader, by contrast, stops at the first).

Three kinds of check:

- ``Snapshot.findings()``: one tree on its own (structure and graph rules).
- ``check_change(parents, after, message)``: what one commit changes (transition, trailer, gate
  and evidence rules). With ``message=None`` (pre-commit, before any message exists) trailers are
  not required; foreseen ones (``--no-commit``, a squash message) still explain chains.
- ``History``: every commit of a range (``check --base``, pre-push), with parsed files cached by
  blob ID so that a long range costs one parse per distinct file version.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import zlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, KeysView, Mapping, Sequence
from dataclasses import dataclass, field, replace

from git_flowctl.model import ids, reviews, states, verification
from git_flowctl.model.chains import chain_order
from git_flowctl.model.config import CONFIG_PATH, Config
from git_flowctl.model.document import (
    CONFLICT_HINT,
    Document,
    DocumentError,
    conflict_marker_line,
    sections,
)
from git_flowctl.model.errors import FlowError
from git_flowctl.model.graph import find_cycle, format_cycle
from git_flowctl.model.items import (
    ARCHIVE_DIR,
    EPIC_SECTIONS,
    EPIC_STATUSES,
    EPICS_DIR,
    FLOW_DIR,
    TASK_SECTIONS,
    TASK_STATUSES,
    TASKS_DIR,
    epic_field_problems,
    task_field_problems,
)
from git_flowctl.model.layout import ARCHIVE_GAPS_DIR, is_gap_path

TYPE_CHECKING = False  # typing's import costs the hooks' start-up time (guard/hooklean.py)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    import pygit2

    from git_flowctl.guard.records import GapState, GapStates
    from git_flowctl.model.trailers import GapChange, Rename, Review, Trailers, Transition
    from git_flowctl.repo.catalog import PlanCache
    from git_flowctl.repo.sources import Source

ERROR, WARNING, NOTICE = "error", "warning", "notice"
SEVERITIES = (ERROR, WARNING, NOTICE)


@dataclass(frozen=True)
class Rule:
    """One rule the validator applies (the table in docs/validation.md)."""

    name: str
    group: str
    severity: str
    summary: str


# The rule names are a public interface (docs/validation.md); never rename one.
RULES: dict[str, Rule] = {rule.name: rule for rule in (
    Rule("config-invalid", "structure", ERROR,
         ".flow/config.yaml does not parse, or a setting has the wrong type"),
    Rule("file-unreadable", "structure", ERROR, "a file is not UTF-8 frontmatter + Markdown"),
    Rule("conflict-markers", "structure", ERROR,
         "a file holds the conflict markers a merge left (<<<<<<<, =======, >>>>>>>)"),
    Rule("field-invalid", "structure", ERROR,
         "a required field is missing or has the wrong type, or the ID does not match the file name"),
    Rule("epic-missing", "structure", ERROR, "a task's epic does not exist"),
    Rule("duplicate-id", "structure", ERROR, "two files define the same task or epic ID"),
    Rule("duplicate-epic-number", "structure", ERROR, "two epics share a number (fn-3-a, fn-3-b)"),
    Rule("section-missing", "structure", ERROR,
         "a task lacks a required body section (an epic's missing section is a warning)"),
    Rule("section-duplicate", "structure", ERROR, "a body section heading appears twice"),
    Rule("dependency-missing", "graph", ERROR, "a task depends on a task that does not exist"),
    Rule("dependency-cycle", "graph", ERROR, "task dependencies form a cycle"),
    Rule("epic-dependency-missing", "graph", ERROR, "an epic depends on an epic that does not exist"),
    Rule("epic-dependency-cycle", "graph", ERROR, "epic dependencies form a cycle"),
    Rule("epic-done-unfinished", "graph", ERROR,
         "an epic is done while a task of it is not done or skipped, or an epic it depends on is open"),
    Rule("transition-illegal", "transitions", ERROR, "a status change the state machine does not allow"),
    Rule("trailer-missing", "transitions", ERROR, "a status change without a Flow-Transition trailer"),
    Rule("trailer-mismatch", "transitions", ERROR,
         "a status change whose trailers do not lead from the old status to the new one"),
    Rule("trailer-without-change", "transitions", ERROR,
         "a Flow-Transition trailer whose change the commit does not make"),
    Rule("trailer-malformed", "transitions", ERROR, "a Flow-* trailer line that does not parse"),
    Rule("transition-forced", "transitions", NOTICE, "a transition recorded with --force (force=1)"),
    Rule("file-deleted", "transitions", WARNING, "a task or epic file was deleted (not archived)"),
    Rule("task-ref-unknown", "transitions", WARNING, "a Flow-Task trailer names no existing task"),
    Rule("landed-not-done", "transitions", ERROR,
         "a Flow-Landed trailer whose task is not done in the commit's tree"),
    Rule("gap-trailer-missing", "gates", ERROR,
         "a gap was added, resolved, reopened, re-prioritized or deleted without a Flow-Gap trailer"),
    Rule("gap-trailer-mismatch", "gates", ERROR,
         "a gap changed but its Flow-Gap trailers do not lead from its old state to the new one"),
    Rule("gap-trailer-without-change", "gates", ERROR,
         "a Flow-Gap trailer whose change the commit does not make"),
    Rule("review-trailer-missing", "gates", ERROR,
         "a review verdict (plan_review_status, completion_review_status) set without a "
         "Flow-Review trailer"),
    Rule("review-trailer-mismatch", "gates", ERROR,
         "a review verdict changed to another verdict than its Flow-Review trailer says"),
    Rule("review-trailer-without-change", "gates", ERROR,
         "a Flow-Review trailer whose verdict the commit's tree does not hold"),
    Rule("gate-unsatisfied", "gates", ERROR,
         "a task entered in_progress or done while a dependency is not satisfied"),
    Rule("evidence-missing", "evidence", ERROR,
         "a task entered done without evidence while config.yaml requires it"),
    Rule("done-unverified", "evidence", ERROR,
         "a task entered done without passing guard evidence while config.yaml sets require_verify"),
)}

# Transitions synthesized for `git revert` of a transition commit carry this action.
REVERT_ACTION = "revert"
_BY_AUTHORITY = states.AUTHORITATIVE_ACTIONS | {REVERT_ACTION}


@dataclass(frozen=True)
class Finding:
    """One problem a rule found: where, why, and what to do about it."""

    rule: str
    message: str
    file: str | None = None
    line: int | None = None
    hint: str | None = None
    severity: str = ERROR
    subject: str | None = None
    commit: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def key(self) -> tuple[str, str | None, str | None, str]:
        """Identity across two trees, line numbers aside (for "no new problems")."""
        return (self.rule, self.file, self.subject, self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "file": self.file, "line": self.line,
                "subject": self.subject, "commit": self.commit, "message": self.message,
                "hint": self.hint}


def finding(rule: str, message: str, *, file: str | None = None, line: int | None = None,
            hint: str | None = None, subject: str | None = None,
            severity: str | None = None) -> Finding:
    return Finding(rule, message, file, line, hint, severity or RULES[rule].severity, subject)


def errors_in(findings: Iterable[Finding]) -> list[Finding]:
    return [item for item in findings if item.is_error]


def new_findings(before: Iterable[Finding], after: Iterable[Finding]) -> list[Finding]:
    """The findings of ``after`` that ``before`` did not have (a change must not make it worse)."""
    known = {item.key() for item in before}
    return [item for item in after if item.key() not in known]


# One file --------------------------------------------------------------------------------------


@dataclass
class Item:
    """One task or epic file as far as it could be read; never raises."""

    path: str
    kind: str  # "task", "epic", or "unknown" (an unreadable file under archive/)
    id: str | None
    status: str | None  # None when missing or not a status of its kind
    doc: Document | None
    findings: list[Finding]
    epic: str | None = None
    depends_on: list[str] = field(default_factory=list)
    trigger_rule: str = "all_success"
    assignee: str | None = None
    has_evidence: bool = False
    lines: dict[str, int] | None = None  # the lines of LINE_KEYS, for an item read from the store
    # The latest verdict of each review kind (model/reviews.KINDS order: plan, completion)
    reviews: tuple[str | None, ...] = (None, None)

    def line(self, key: str) -> int | None:
        if self.doc is not None:
            return self.doc.line_of(key)
        return self.lines.get(key) if self.lines is not None else None

    def record(self) -> tuple[Any, ...]:
        """The item as ``ItemStore`` keeps it (marshal: no Document, the lines it needs)."""
        lines = {key: line for key in LINE_KEYS if (line := self.line(key)) is not None}
        return (self.kind, self.id, self.status, [tuple(vars(f).values()) for f in self.findings],
                self.epic, list(self.depends_on), self.trigger_rule, self.assignee,
                self.has_evidence, lines, tuple(self.reviews))

    @classmethod
    def from_record(cls, path: str, record: Any) -> Item:
        kind, subject, status, findings, epic, depends_on, rule, assignee, evidence, lines, \
            verdicts = record
        return cls(path, kind, subject, status, None, [Finding(*item) for item in findings], epic,
                   list(depends_on), rule, assignee, evidence, dict(lines), tuple(verdicts))

    @property
    def archived(self) -> bool:
        return _archived(self.path)


def _archived(path: str) -> bool:
    return path.startswith(ARCHIVE_DIR + "/")


# The keys whose lines findings name (Item.line): what a stored item keeps of its document.
LINE_KEYS = ("id", "epic", "status", "depends_on", "depends_on_epics", "plan_review_status",
             "completion_review_status")


# The parts of a tree's findings, in the order findings() gives them (Snapshot.finding_parts).
PARTS = ("config", "items", "duplicates", "task-graph", "cycle", "epic-graph", "epic-cycle", "epics-done")
Parts = tuple[list[Finding], ...]


class ItemStore(dict[tuple[str, str], Item]):
    """Items by (path, blob ID), kept under the common directory (flow-cache/plan/items) so
    that `validate`, the hooks and `check` parse each file version once, ever (issue #11).
    A ``ParseCache`` that loads and saves itself; like every cache, never needed.

    Each item is stored marshalled on its own and made into an ``Item`` when used, and the
    items added lately go to a small file of their own (``ADDED``) until there are many: at
    50,000 tasks, loading every record as objects, and writing them all again after a hand
    edit, cost more memory than the rest of `validate`. Records are content (path and blob
    ID), so two files written by different commands never disagree."""

    NAME = "items"
    ADDED = "items-added"
    KEEP_ADDED = 2048  # more added than this: written into NAME
    TREES = "findings"  # the trees' findings by content (not "tree-*": those are catalogs)
    KEEP = 100_000  # beyond this, only the items used by this command are kept
    KEEP_TREES = 16

    def __init__(self, common_dir: str | os.PathLike[str], root: str | os.PathLike[str]) -> None:
        super().__init__()
        from git_flowctl.repo.catalog import PlanCache

        self._cache = PlanCache(common_dir, root)
        self._loaded: dict[tuple[str, str], Any] | None = None  # read on first use
        self._stored_added: dict[tuple[str, str], Any] = {}  # what ADDED held
        self._new: dict[tuple[str, str], bytes] = {}  # added by this command
        self._used: set[tuple[str, str]] = set()
        self._trees: dict[str, Any] | None = None
        self._trees_added = False

    @property
    def _stored(self) -> dict[tuple[str, str], Any]:
        if self._loaded is None:
            stored = self._cache.read(self.NAME)
            added = self._cache.read(self.ADDED)
            self._stored_added = added if isinstance(added, dict) else {}
            self._loaded = stored if isinstance(stored, dict) else {}
            self._loaded.update(self._stored_added)
        return self._loaded

    def __missing__(self, key: tuple[str, str]) -> Item:
        record = self._stored.get(key)
        if record is None:
            raise KeyError(key)
        try:
            item = Item.from_record(key[0], marshal.loads(record) if type(record) is bytes else record)
        except (TypeError, ValueError, EOFError):
            raise KeyError(key) from None
        self[key] = item
        return item

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._stored

    @property
    def plan_cache(self) -> PlanCache:
        return self._cache

    def __setitem__(self, key: tuple[str, str], item: Item) -> None:
        dict.__setitem__(self, key, item)
        self._used.add(key)
        if key not in self._stored:
            with contextlib.suppress(ValueError):  # marshal cannot store it: parsed next time
                self._stored[key] = self._new[key] = marshal.dumps(item.record())

    def finding_parts(self, content: str) -> Parts | None:
        """The findings of a tree whose content is named ``content`` (Snapshot.content), in
        their parts (``Snapshot.finding_parts``)."""
        if self._trees is None:
            stored = self._cache.read(self.TREES)
            self._trees = stored if isinstance(stored, dict) else {}
        records = self._trees.get(content)
        try:
            parts = tuple([Finding(*record) for record in part] for part in records) \
                if records is not None else None
        except TypeError:
            return None
        return parts if parts is not None and len(parts) == len(PARTS) else None

    def keep_finding_parts(self, content: str, parts: Parts) -> None:
        if self._trees is None:
            self.finding_parts(content)
        assert self._trees is not None
        self._trees.pop(content, None)
        self._trees[content] = [[tuple(vars(item).values()) for item in part] for part in parts]
        self._trees = dict(list(self._trees.items())[-self.KEEP_TREES:])
        self._trees_added = True

    def save(self) -> None:
        if self._trees_added and self._trees is not None:
            self._cache.write(self.TREES, self._trees)
            self._trees_added = False
        if not self._new:
            return
        if len(self._stored_added) + len(self._new) <= self.KEEP_ADDED:
            self._stored_added.update(self._new)
            self._cache.write(self.ADDED, self._stored_added)
        else:
            stored = self._stored
            if len(stored) > self.KEEP:
                stored = {key: record for key, record in stored.items() if key in self._used}
            if self._cache.write(self.NAME, stored):
                self._stored_added = {}
                self._cache.write(self.ADDED, {})
        self._new = {}


def _id_like(text: str, kind: str) -> bool:
    return ids.is_task_id(text) if kind == "task" else ids.is_epic_id(text)


def parse_item(path: str, raw: bytes, kind: str | None) -> Item:
    """Read one file tolerantly. ``kind`` None (archive): decided by the ID inside."""
    name = path.rpartition("/")[2]
    stem = name[:-3] if path.endswith(".md") else name
    markers = conflict_marker_line(raw.decode("utf-8", errors="replace")) \
        if b"<<<<<<<" in raw else None
    conflicted = [] if markers is None else [finding(
        "conflict-markers", "merge conflict markers left in the file", file=path, line=markers,
        hint=CONFLICT_HINT)]
    try:
        doc = Document.parse(raw, path)
    except DocumentError as error:
        guess = kind or ("task" if ids.is_task_id(stem) else "epic" if ids.is_epic_id(stem) else "unknown")
        # With markers, the parse error is their consequence: report the cause alone.
        return Item(path, guess, stem if guess != "unknown" and _id_like(stem, guess) else None, None,
                    None, conflicted or [finding("file-unreadable", error.problem, file=path,
                                                 line=error.line, hint=error.hint)])
    data = doc.data
    raw_id = data.get("id")
    if kind is None:
        if isinstance(raw_id, str) and ids.is_task_id(raw_id):
            kind = "task"
        elif isinstance(raw_id, str) and ids.is_epic_id(raw_id):
            kind = "epic"
        else:
            kind = "task" if "epic" in data else "epic"
        expected = stem if ids.parse_id(stem) is not None else None
    else:
        expected = stem
    problems = task_field_problems(doc, expected) if kind == "task" else epic_field_problems(doc, expected)
    if isinstance(raw_id, str) and _id_like(raw_id, kind):
        subject: str | None = raw_id
    elif _id_like(stem, kind):
        subject = stem
    else:
        subject = None
    found = [*conflicted, *(finding("field-invalid", problem.message, file=path, line=problem.line,
                                    hint=problem.hint, subject=subject) for problem in problems)]
    valid_statuses = TASK_STATUSES if kind == "task" else EPIC_STATUSES
    status = data.get("status")
    item = Item(path, kind, subject, status if status in valid_statuses else None, doc, found)
    item.reviews = tuple(reviews.verdict_in(data, review_kind) for review_kind in reviews.KINDS)
    found.extend(_section_findings(doc, raw, kind, subject))
    if kind == "task":
        epic = data.get("epic")
        item.epic = epic if isinstance(epic, str) else None
        deps = data.get("depends_on")
        item.depends_on = [dep for dep in deps if isinstance(dep, str)] if isinstance(deps, list) else []
        rule = data.get("trigger_rule")
        item.trigger_rule = rule if isinstance(rule, str) and rule else "all_success"
        assignee = data.get("assignee")
        item.assignee = assignee if isinstance(assignee, str) else None
        evidence = doc.section("Evidence")
        item.has_evidence = bool(evidence and evidence.strip())
    else:
        deps = data.get("depends_on_epics")
        item.depends_on = [dep for dep in deps if isinstance(dep, str)] if isinstance(deps, list) else []
    # The rules need the lines of a few keys, not the document: a cold `validate` of 50,000
    # files held every body (issue #11).
    item.lines = {key: line for key in LINE_KEYS if (line := doc.line_of(key)) is not None}
    item.doc = None
    return item


def _section_findings(doc: Document, raw: bytes, kind: str, subject: str | None) -> list[Finding]:
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
    offset = len(text.split("\n")) - len(doc.body.split("\n"))  # lines before the body
    found: list[Finding] = []
    seen: dict[str, int] = {}
    for section in sections(doc.body):
        title = section.title.strip().lower()
        line = offset + section.heading_line + 1
        if title in seen:
            found.append(finding(
                "section-duplicate", f"`## {section.title}` appears twice (first on line {seen[title]})",
                file=doc.path, line=line, subject=subject,
                hint="merge the two sections into one; commands edit only the first"))
        else:
            seen[title] = line
    required = TASK_SECTIONS if kind == "task" else EPIC_SECTIONS
    for title in required:
        if title.lower() not in seen:
            found.append(finding(
                "section-missing", f"no `## {title}` section", file=doc.path, subject=subject,
                severity=ERROR if kind == "task" else WARNING,
                hint=f"add a `## {title}` heading to the body (it may be empty)"))
    return found


# One tree --------------------------------------------------------------------------------------

ParseCache = dict[tuple[str, str], Item]


class _Held:
    """A stored file not made an ``Item`` yet (``Snapshot.from_record``), shared by the tables
    that list it so that they make the same one: its status, and its record still marshalled."""

    __slots__ = ("item", "packed", "path", "status")

    def __init__(self, path: str, status: str | None, packed: bytes) -> None:
        self.path = path
        self.status = status
        self.packed = packed
        self.item: Item | None = None

    def get(self) -> Item:
        if self.item is None:
            import marshal

            self.item = Item.from_record(self.path, marshal.loads(self.packed))
        return self.item


class _Table(dict[str, "Any"]):
    """A table of a snapshot read from the cache (by ID or by path): its values become Items
    when they are looked at. A hook at 5,000 tasks looks at a few (issue #11). Copied only by
    ``copy`` (``_layer``): ``dict(table)`` would copy what it stores, not Items."""

    def __getitem__(self, key: str) -> Item:
        value = dict.__getitem__(self, key)
        return value.get() if type(value) is _Held else value

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, default)
        return value.get() if type(value) is _Held else value

    def values(self) -> list[Item]:  # type: ignore[override]
        return [self[key] for key in dict.keys(self)]

    def items(self) -> list[tuple[str, Item]]:  # type: ignore[override]
        return [(key, self[key]) for key in dict.keys(self)]

    def copy(self) -> _Table:
        """A copy whose values are made on use, as this one's."""
        return _Table(self)  # dict's own copy of the stored values (so never ``dict(table)``)

    def status(self, key: str) -> str | None:
        """``self[key].status`` without making the Item."""
        value = dict.__getitem__(self, key)
        return value.status  # type: ignore[no-any-return]  # an Item's or a _Held's: the same


class _Layered(dict[str, "Any"]):
    """A table of a snapshot derived by a transition (``Snapshot._replaced``): a flat table
    (``root``, never changed) with some values replaced (``over``), never a key added or
    removed, so it holds and iterates what a copy of the base updated in place would, in the
    same order. Deriving adds the changes to a copy of ``over``, not of the table: a branch of
    200 transitions at 5,000 tasks copies a few hundred entries, not 200 tables of 5,000
    (issue #11). ``_layer`` flattens it into a new root when ``over`` grows.

    A dict only to its type: nothing is stored in the dict itself, and every reading method
    is answered from the two tables (``dict(layered)`` goes through ``keys`` and lookups)."""

    __slots__ = ("over", "root")

    def __init__(self, root: dict[str, Any], over: dict[str, Any]) -> None:
        super().__init__()
        self.root = root
        self.over = over

    def __getitem__(self, key: str) -> Any:
        over = self.over
        return over[key] if key in over else self.root[key]

    def get(self, key: str, default: Any = None) -> Any:
        over = self.over
        return over[key] if key in over else self.root.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.root

    def __iter__(self) -> Iterator[str]:
        return iter(self.root)

    def __len__(self) -> int:
        return len(self.root)

    def __bool__(self) -> bool:
        return bool(self.root)

    def __eq__(self, other: object) -> bool:
        return dict(self.items()) == other

    __hash__ = None

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        return self.root.keys()  # the same keys (a view: set operations work as on a dict's)

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self[key] for key in self.root]

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return [(key, self[key]) for key in self.root]

    def copy(self) -> dict[str, Any]:
        return dict(self.items())

    def status(self, key: str) -> str | None:
        """``self[key].status`` without making an Item of a stored one (``_Table.status``)."""
        over = self.over
        if key in over:
            return over[key].status  # type: ignore[no-any-return]
        root = self.root
        return root.status(key) if isinstance(root, _Table) else root[key].status

    def __setitem__(self, key: str, value: Any) -> None:
        raise TypeError("a derived snapshot's table is read only")

    def __repr__(self) -> str:
        return f"_Layered({len(self.root)} entries, {len(self.over)} replaced)"


_FLATTEN_AT = 32  # replaced entries kept beside a root before a new root is made (and 1/8 of it)


def _layer(table: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``table`` with the values of ``changes`` replaced (every key already in it): a
    ``_Layered`` over its flat root, or, once the replaced entries reach an eighth of it, a
    new flat table (a ``_Table`` when the root is one, so that stored records stay unmade)."""
    if isinstance(table, _Layered):
        root, over = table.root, {**table.over, **changes}
    else:
        root, over = table, dict(changes)
    if len(over) <= _FLATTEN_AT or len(over) * 8 <= len(root):
        return _Layered(root, over)
    if isinstance(root, _Table):
        flat: dict[str, Any] = root.copy()
        for key, value in over.items():
            dict.__setitem__(flat, key, value)
        return flat
    return {**root, **over}


class Snapshot:
    """Every epic and task file of one tree (work tree, index or commit), read tolerantly."""

    def __init__(self, label: str, config: Config, items: list[Item],
                 config_findings: list[Finding] | None = None,
                 blobs: dict[str, str] | None = None,
                 tables: tuple[dict[str, Item], dict[str, Item]] | None = None) -> None:
        """``tables``: (tasks, epics) already built (Snapshot.derive); ``items`` is then
        computed from the files by path when asked for."""
        self.label = label
        self.config = config
        self._items: list[Item] | None = items if tables is None else None
        self.config_findings = config_findings or []
        # path -> blob ID of every plan file, when the source knows them (not the work tree)
        self.blobs = blobs
        self.tasks: dict[str, Item] = {}
        self.epics: dict[str, Item] = {}
        if tables is not None:
            self.tasks, self.epics = tables
        for item in items if tables is None else ():
            if item.id is None:
                continue
            table = self.tasks if item.kind == "task" else self.epics
            table.setdefault(item.id, item)
        self._parts: Parts | None = None
        # derived by ``_replaced``: the same IDs at the same paths (finding_parts follows them)
        self._simple = False
        # what names this snapshot's content for the ItemStore: a commit's ``.flow`` tree ID,
        # or (None) the digest of its blob IDs
        self.content: str | None = None
        self._effective: dict[str, str] | None = None
        self._store: ItemStore | None = None
        self.config_blob: str | None = None
        self._statuses: dict[str, str | None] | None = None
        self._by_path: dict[str, Item] | None = None
        # (the snapshot this one was derived from, the paths that differ): Snapshot.derive
        self.derived_from: tuple[Snapshot, frozenset[str]] | None = None
        self._some: dict[str, str] = {}  # effective states resolved one task at a time
        # The gap files of a tree read whole (``load``) with their blob IDs; None: not listed
        self.gap_blobs: dict[str, str | None] | None = None

    @classmethod
    def empty(cls, label: str = "empty tree") -> Snapshot:
        return cls(label, Config({}), [])

    @classmethod
    def load(cls, source: Source, cache: ParseCache | None = None) -> Snapshot:
        config_findings: list[Finding] = []
        raw_config = source.read(CONFIG_PATH)
        try:
            config = Config.parse(raw_config)
        except DocumentError as error:
            config = Config({})
            config_findings.append(finding("config-invalid", error.problem, file=CONFIG_PATH,
                                           line=error.line, hint=error.hint))
        if config.problems:
            for setting in config.problems:
                wrong = config._error(setting)
                config_findings.append(finding("config-invalid", wrong.problem, file=CONFIG_PATH,
                                               line=wrong.line, hint=wrong.hint))
            # The other rules read the defaults where a setting is wrong.
            tops = {setting.split(".")[0] for setting in config.problems}
            config = Config({k: v for k, v in config.raw.items() if k not in tops})
        items: list[Item] = []
        blobs: dict[str, str] | None = {}
        gap_blobs: dict[str, str | None] = {}
        for path, blob in source.walk_entries(FLOW_DIR):
            is_plan_file, kind = _kind_of_path(path)
            if not is_plan_file:
                if is_gap_path(path):
                    gap_blobs[path] = blob  # listed anyway: the gap rules compare them
                continue
            if blob is None:
                blobs = None
            elif blobs is not None:
                blobs[path] = blob
            key = (path, blob) if blob is not None else None
            if cache is not None and key is not None and key in cache:
                items.append(cache[key])
                continue
            raw = source.read(path)
            if raw is None:
                continue
            item = parse_item(path, raw, kind)
            if cache is not None and key is not None:
                cache[key] = item
            items.append(item)
        items.sort(key=lambda item: (item.archived, item.path))
        snapshot = cls(source.label, config, items, config_findings, blobs)
        snapshot.config_blob = source.blob_id(CONFIG_PATH)
        snapshot.gap_blobs = gap_blobs
        if isinstance(cache, ItemStore):
            snapshot._store = cache
        return snapshot

    def record(self) -> tuple[Any, ...] | None:
        """The snapshot as the cache keeps it (marshal), or None when its blobs are unknown:
        config.yaml's blob, settings and findings; then, file by file in order, its path, blob,
        kind, ID and status, and its whole Item record marshalled on its own. ``from_record``
        gives it back without reading or parsing a file, each Item made when looked at."""
        import marshal

        if self.blobs is None or len(self.items) != len(self.blobs):
            return None  # a file listed but not read
        columns: tuple[list[Any], ...] = ([], [], [], [], [], [])
        for item in self.items:
            blob = self.blobs.get(item.path)
            if blob is None:
                return None
            for column, value in zip(columns, (item.path, blob, item.kind, item.id, item.status,
                                               marshal.dumps(item.record())), strict=True):
                column.append(value)
        return (self.config_blob, self.config.raw, self.config.problems,
                [tuple(vars(item).values()) for item in self.config_findings], *columns)

    @classmethod
    def from_record(cls, label: str, record: Any) -> Snapshot | None:
        from git_flowctl.repo.catalog import without_gc

        try:
            (config_blob, raw, problems, config_findings, paths, blobs, kinds, subjects, statuses,
             packed) = record
            with without_gc():  # thousands of objects, no cycles
                by_path = _Table()
                tasks = _Table()
                epics = _Table()
                for path, kind, subject, status, row in zip(paths, kinds, subjects, statuses, packed,
                                                             strict=True):
                    held = by_path[path] = _Held(path, status, row)
                    if subject is not None:
                        table = tasks if kind == "task" else epics
                        if subject not in table:
                            table[subject] = held
                snapshot = cls(label, Config(raw, problems), [], [Finding(*item) for item in config_findings],
                               dict(zip(paths, blobs, strict=True)), tables=(tasks, epics))
                snapshot._by_path = by_path
        except (TypeError, ValueError):
            return None
        snapshot.config_blob = config_blob
        return snapshot

    def _replaced(self, label: str, config: Config, config_findings: list[Finding],
                  blobs: dict[str, str], replaced: dict[str, Item | None]) -> Snapshot | None:
        """The derived snapshot when every change replaces a file by another version with the
        same ID (a transition): the tables are this one's with those values replaced
        (``_layer``: not copied), so they hold what a full build would, in the same order.
        None otherwise (the caller builds it whole)."""
        by_path = self.by_path()
        tables: dict[str, dict[str, Item]] = {"task": self.tasks, "epic": self.epics}
        changes: dict[str, dict[str, Item]] = {"task": {}, "epic": {}}
        paths: dict[str, Item] = {}
        for path, item in replaced.items():
            old = by_path.get(path)
            if item is None or old is None or old.id is None or item.id != old.id \
                    or item.kind != old.kind or old.kind not in tables \
                    or tables[old.kind].get(old.id) is not old:
                return None
            changes[old.kind][old.id] = item
            paths[path] = item
        snapshot = Snapshot(label, config, [], config_findings, blobs,
                            tables=(_layer(self.tasks, changes["task"]) if changes["task"] else self.tasks,
                                    _layer(self.epics, changes["epic"]) if changes["epic"] else self.epics))
        snapshot._simple = True
        snapshot._by_path = _layer(by_path, paths) if paths else by_path
        if self._statuses is not None:
            statuses = {item.id: item.status for item in paths.values() if item.id is not None}
            snapshot._statuses = _layer(self._statuses, statuses) if statuses else self._statuses
        return snapshot

    def _content_key(self) -> str | None:
        """What names the files' content: ``content`` when set (a commit's ``.flow`` tree
        ID; a derived snapshot's base and changes), else a digest of the files' blob IDs and
        config.yaml's. The tree's findings are a function of it, kept in the ItemStore so
        the hooks of one commit and `check` compute each tree's findings once."""
        if self.content is not None:
            return self.content
        if self.blobs is None:
            return None
        content = repr((sorted(self.blobs.items()), self.config_blob)).encode()
        return f"{zlib.crc32(content):08x}{zlib.adler32(content):08x}"

    def derive(self, label: str, changes: dict[str, str | None], read: Any,
               cache: ParseCache | None) -> Snapshot:
        """This snapshot with some files changed (``{path: new blob ID, or None: gone}``):
        the snapshot of a commit from its parent's, reading only the files that changed
        (``read(path)`` gives their bytes). History walks a branch this way (issue #11)."""
        assert self.blobs is not None
        blobs: dict[str, str] = {}  # the changed files' (the others: self.blobs)
        replaced: dict[str, Item | None] = {}
        config, config_findings, config_blob = self.config, self.config_findings, self.config_blob
        for path, blob in changes.items():
            if path == CONFIG_PATH:
                config_findings = []
                config_blob = blob
                try:
                    config = Config.parse(read(path) if blob is not None else None)
                except DocumentError as error:
                    config = Config({})
                    config_findings = [finding("config-invalid", error.problem, file=CONFIG_PATH,
                                               line=error.line, hint=error.hint)]
                continue
            is_plan_file, kind = _kind_of_path(path)
            if not is_plan_file:
                continue
            if blob is None:
                replaced[path] = None
                continue
            key = (path, blob)
            if cache is not None and key in cache:
                blobs[path] = blob
                replaced[path] = cache[key]
                continue
            raw = read(path)
            if raw is None:
                replaced[path] = None
                continue
            blobs[path] = blob
            item = parse_item(path, raw, kind)
            if cache is not None:
                cache[key] = item
            replaced[path] = item
        snapshot: Snapshot | None = None
        if all(path in self.blobs for path in blobs) and all(item is not None for item in replaced.values()):
            snapshot = self._replaced(label, config, config_findings, _layer(self.blobs, blobs)
                                      if blobs else self.blobs, replaced)
        if snapshot is None:
            blobs = {**self.blobs, **blobs}
            for path, gone in replaced.items():
                if gone is None:
                    blobs.pop(path, None)
            items = []
            for item in self.items:
                if item.path in replaced:
                    found = replaced.pop(item.path)
                    if found is not None:
                        items.append(found)
                else:
                    items.append(item)
            added = [item for item in replaced.values() if item is not None]
            if added:
                items.extend(added)
                items.sort(key=lambda item: (item.archived, item.path))
            snapshot = Snapshot(label, config, items, config_findings, blobs)
        snapshot.config_blob = config_blob
        snapshot._store = self._store
        snapshot.derived_from = (self, frozenset(changes))
        if self.content is not None:
            from git_flowctl.repo.catalog import sha1_hex

            snapshot.content = f"derived:{sha1_hex(repr((self.content, sorted(changes.items()))).encode())}"
        return snapshot

    # Reading ---------------------------------------------------------------------------------

    @property
    def items(self) -> list[Item]:
        """Every plan file read, in (archived, path) order."""
        if self._items is None:
            assert self._by_path is not None
            self._items = list(self._by_path.values())
        return self._items

    def by_path(self) -> dict[str, Item]:
        if self._by_path is None:
            self._by_path = {item.path: item for item in self.items}
        return self._by_path

    def item(self, subject: str) -> Item | None:
        return self.tasks.get(subject) or self.epics.get(subject)

    def statuses(self) -> dict[str, str | None]:
        """Every subject's stored status (None: present, but not a valid status); a copy."""
        return dict(self._status_table())

    def _status_table(self) -> dict[str, str | None]:
        """``statuses()`` itself, not a copy: for reading only."""
        if self._statuses is None:
            result: dict[str, str | None] = {}
            for table in (self.epics, self.tasks):
                if isinstance(table, (_Table, _Layered)):
                    for subject in (table.root if isinstance(table, _Layered) else dict.keys(table)):
                        result[subject] = table.status(subject)
                    continue
                for subject, item in table.items():
                    result[subject] = item.status
            self._statuses = result
        return self._statuses

    def has(self, subject: str) -> bool:
        return subject in self.tasks or subject in self.epics

    def effective_states(self) -> dict[str, str]:
        if self._effective is None:
            known = {s: t for s, t in self.tasks.items() if t.status is not None}
            self._effective = states.effective_states(
                {s: t.status for s, t in known.items() if t.status is not None},
                {s: t.depends_on for s, t in known.items()},
                {s: t.trigger_rule for s, t in known.items()})
        return self._effective

    def state_of(self, subject: str) -> str:
        """A task's effective state: ``effective_states()[subject]``, walking only its
        dependencies until the whole tree is needed, or a cycle makes the walk's answer depend
        on where it began (as facts.PlanFacts.state_of)."""
        if self._effective is not None:
            return self._effective.get(subject, states.MISSING)
        found = self._some
        if subject in found:
            return found[subject]
        task = self.tasks.get(subject)
        if task is None or task.status is None:
            return states.MISSING
        tasks = self.tasks
        cycles: list[str] = []
        known = len(found)

        def stored(item: str) -> str | None:
            other = tasks.get(item)
            return other.status if other is not None else None

        resolve = states.effective_resolver(
            stored, lambda item: tasks[item].depends_on if item in tasks else [],
            lambda item: tasks[item].trigger_rule if item in tasks else "all_success", found, cycles)
        state = resolve(subject)
        if cycles:
            for added in list(found)[known:]:
                del found[added]
            return self.effective_states().get(subject, states.MISSING)
        return state

    def open_epic_dependencies(self, epic_id: str | None) -> list[str]:
        """The open epics ``epic_id`` depends on (facts.PlanFacts.epic_waits)."""
        epic = self.epics.get(epic_id) if epic_id is not None else None
        if epic is None:
            return []
        return [dep for dep in epic.depends_on if dep in self.epics and self.epics[dep].status == "open"]

    def unsatisfied(self, task: Item) -> dict[str, str]:
        dep_states = {dep: self.state_of(dep) for dep in task.depends_on}
        return {dep: dep_states[dep] for dep in states.unsatisfied(task.trigger_rule, dep_states)}

    # The tree rules ----------------------------------------------------------------------------

    def findings(self) -> list[Finding]:
        """Structure and graph findings of this tree (computed once)."""
        return [item for part in self.finding_parts() for item in part]

    def finding_parts(self) -> Parts:
        """``findings()`` in its parts (``PARTS``), whose concatenation it is. A snapshot
        derived by a transition (``Snapshot.derive``) computes them from its base's and the
        files that changed; a tree seen before finds them in the ItemStore by its content."""
        if self._parts is not None:
            return self._parts
        chain: list[Snapshot] = []  # derived snapshots whose parts follow from their base's
        snapshot: Snapshot = self
        while True:
            found = snapshot._stored_parts()
            if found is not None:
                snapshot._parts = found
                break
            if snapshot.derived_from is None or not snapshot._simple:
                snapshot._parts = snapshot._all_parts()
                snapshot._keep_parts()
                break
            chain.append(snapshot)
            snapshot = snapshot.derived_from[0]
            if snapshot._parts is not None:
                break
        for derived in reversed(chain):
            assert derived.derived_from is not None
            derived._parts = derived._parts_after(*derived.derived_from)
            if derived is self or (derived.content or "").startswith("tree:"):
                derived._keep_parts()  # a commit's tree: the next hook or check asks again
        assert self._parts is not None
        return self._parts

    def _stored_parts(self) -> Parts | None:
        if self._parts is not None:
            return self._parts
        content = self._content_key() if self._store is not None else None
        return self._store.finding_parts(content) if content is not None and self._store is not None else None

    def _keep_parts(self) -> None:
        content = self._content_key() if self._store is not None else None
        if content is not None and self._store is not None and self._parts is not None:
            self._store.keep_finding_parts(content, self._parts)

    def _all_parts(self) -> Parts:
        return (list(self.config_findings), [item for each in self.items for item in each.findings],
                self._duplicates(), self._task_graph(), self._cycle(), self._epic_graph(),
                self._epic_cycle(), self._epics_done())

    def _parts_after(self, base: Snapshot, paths: frozenset[str]) -> Parts:
        """The parts of this snapshot, derived by ``_replaced`` from ``base`` (the same IDs at
        the same paths, only their content changed), from ``base``'s: only what the changed
        files can affect is computed again (the rules below, part by part)."""
        assert base._parts is not None
        _, _, duplicates, task_graph, cycle, epic_graph, epic_cycle, epics_done = base._parts
        before, after = base.by_path(), self.by_path()
        olds = [before[path] for path in sorted(paths) if path in before]
        news = [after[path] for path in sorted(paths) if path in after]
        changed = {item.id for item in (*olds, *news) if item.id is not None}
        tasks = {item.id for item in news if item.kind == "task" and item.id is not None}
        epic_changed = any(item.kind != "task" for item in (*olds, *news))
        # Duplicates: the changed items head their ID's group (``_replaced``), so only a line
        # of an epic that repeats another's number can move.
        if any(item.subject in changed for item in duplicates):
            duplicates = self._duplicates()
        # The missing epic or dependencies of a task: its own fields against IDs that stayed.
        kept = [item for item in task_graph if item.subject not in tasks]
        added = [item for task_id in sorted(tasks) for item in self._task_links(task_id, self.tasks[task_id])]
        task_graph = sorted([*kept, *added], key=lambda item: item.subject or "") if added else kept
        old_deps = {item.id: item.depends_on for item in olds}
        if any(old_deps.get(item.id) != item.depends_on for item in news if item.kind == "task") \
                or any(item.subject in changed for item in cycle):
            cycle = self._cycle()
        if epic_changed:
            epic_graph, epic_cycle, epics_done = self._epic_graph(), self._epic_cycle(), self._epics_done()
        else:
            touched = {item.epic for item in (*olds, *news) if item.epic is not None}
            kept = [item for item in epics_done if item.subject not in touched]
            added = [item for epic_id in sorted(touched)
                     if epic_id in self.epics and self.epics[epic_id].status == "done"
                     for item in self._epic_done(epic_id, self.epics[epic_id], self._tasks_of(epic_id))]
            epics_done = sorted([*kept, *added], key=lambda item: item.subject or "") if added else kept
        return (list(self.config_findings), self._items_after(base._parts[1], paths), duplicates,
                task_graph, cycle, epic_graph, epic_cycle, epics_done)

    def _items_after(self, before: list[Finding], paths: frozenset[str]) -> list[Finding]:
        """The files' own findings: the base's, those of the changed files replaced. Each
        names its file, and they come in the files' order ((archived, path): ``items``)."""
        if any(item.file is None for item in before):
            return [item for each in self.items for item in each.findings]
        mine = self.by_path()
        kept = [item for item in before if item.file not in paths]
        added = [item for path in sorted(paths) if path in mine for item in mine[path].findings]
        if not added:
            return kept
        return sorted([*kept, *added], key=lambda item: (_archived(item.file or ""), item.file or ""))

    def _tree_findings(self) -> list[Finding]:
        return [item for part in self._all_parts() for item in part]

    def _duplicates(self) -> list[Finding]:
        found: list[Finding] = []
        groups: dict[tuple[str, str], list[Item]] = defaultdict(list)
        for item in self.items:
            if item.id is not None:
                groups[(item.kind, item.id)].append(item)
        for (kind, subject), group in sorted(groups.items()):
            for extra in group[1:]:
                found.append(finding(
                    "duplicate-id", f"{kind} {subject} is also defined in {group[0].path}",
                    file=extra.path, line=extra.line("id"), subject=subject,
                    hint="keep one file per ID: delete or rename the copy"))
        numbers: dict[tuple[str, int], list[str]] = defaultdict(list)
        for epic_id in sorted(self.epics, key=ids.id_sort_key):
            parsed = ids.parse_id(epic_id)
            if parsed is not None:
                numbers[(parsed.prefix, parsed.epic_number)].append(epic_id)
        for (prefix, number), epic_ids in sorted(numbers.items()):
            for other in epic_ids[1:]:
                item = self.epics[other]
                found.append(finding(
                    "duplicate-epic-number",
                    f"epic {other} has the same number as {epic_ids[0]} ({prefix}-{number})",
                    file=item.path, line=item.line("id"), subject=other,
                    hint=f"give one a free number with `git flow-task renumber {other}`; "
                         f"until then the short ID {prefix}-{number} is ambiguous"))
        return found

    def _task_graph(self) -> list[Finding]:
        return [item for task_id, task in sorted(self.tasks.items()) for item in self._task_links(task_id, task)]

    def _task_links(self, task_id: str, task: Item) -> list[Finding]:
        """A task's epic and dependencies that do not exist."""
        found: list[Finding] = []
        if task.epic is not None and ids.is_epic_id(task.epic) and task.epic not in self.epics:
            found.append(finding(
                "epic-missing", f"task {task_id} belongs to epic {task.epic}, which does not exist",
                file=task.path, line=task.line("epic"), subject=task_id,
                hint="create the epic (`git flow-task epic create`) or correct `epic:`"))
        for dep in task.depends_on:
            if ids.is_task_id(dep) and dep not in self.tasks:
                found.append(finding(
                    "dependency-missing", f"{task_id} depends on {dep}, which does not exist",
                    file=task.path, line=task.line("depends_on"), subject=task_id,
                    hint=f"remove it (`git flow-task dep rm {task_id} {dep}`) or create the task"))
        return found

    def _cycle(self) -> list[Finding]:
        return _cycle_finding(self.tasks, "dependency-cycle", "dependency cycle", "depends_on",
                              "remove one of these dependencies; a cycle can never start")

    def _epic_graph(self) -> list[Finding]:
        found: list[Finding] = []
        for epic_id, epic in sorted(self.epics.items()):
            for dep in epic.depends_on:
                if ids.is_epic_id(dep) and dep not in self.epics:
                    found.append(finding(
                        "epic-dependency-missing", f"epic {epic_id} depends on {dep}, which does not exist",
                        file=epic.path, line=epic.line("depends_on_epics"), subject=epic_id,
                        hint="remove it from `depends_on_epics` or create that epic"))
        return found

    def _epic_cycle(self) -> list[Finding]:
        return _cycle_finding(self.epics, "epic-dependency-cycle", "epic dependency cycle",
                              "depends_on_epics", "remove one of these epic dependencies")

    def _epics_done(self) -> list[Finding]:
        if not any(epic.status == "done" for epic in self.epics.values()):
            return []
        by_epic: dict[str, list[tuple[str, Item]]] = defaultdict(list)
        for task_id, task in self.tasks.items():
            if task.epic is not None:
                by_epic[task.epic].append((task_id, task))
        return [item for epic_id, epic in sorted(self.epics.items())
                for item in self._epic_done(epic_id, epic, by_epic.get(epic_id, []))]

    def _tasks_of(self, epic_id: str) -> list[tuple[str, Item]]:
        return [(task_id, task) for task_id, task in self.tasks.items() if task.epic == epic_id]

    def _epic_done(self, epic_id: str, epic: Item, tasks: list[tuple[str, Item]]) -> list[Finding]:
        """A done epic with unfinished tasks or open epic dependencies (``tasks``: its own)."""
        if epic.status != "done":
            return []
        unfinished = [f"{t} ({item.status})" for t, item in sorted(tasks, key=lambda kv: ids.id_sort_key(kv[0]))
                      if item.status is not None and item.status not in states.FINISHED]
        open_deps = [f"epic {d} (open)" for d in epic.depends_on
                     if d in self.epics and self.epics[d].status == "open"]
        if not unfinished and not open_deps:
            return []
        return [finding(
            "epic-done-unfinished",
            f"epic {epic_id} is done but {', '.join(unfinished + open_deps)} "
            f"{'is' if len(unfinished + open_deps) == 1 else 'are'} not finished",
            file=epic.path, line=epic.line("status"), subject=epic_id,
            hint="reopen the epic, or finish or skip what is open first")]


def _cycle_finding(items: Mapping[str, Item], rule: str, said: str, key: str,
                   hint: str) -> list[Finding]:
    """The first dependency cycle among ``items`` (tasks or epics), at its first one's ``key``."""
    cycle = find_cycle({subject: [dep for dep in item.depends_on if dep in items]
                        for subject, item in items.items()})
    if not cycle:
        return []
    first = items[cycle[0]]
    return [finding(rule, f"{said}: {format_cycle(cycle)}", file=first.path,
                    line=first.line(key), subject=cycle[0], hint=hint)]


def _kind_of_path(path: str) -> tuple[bool, str | None]:
    """(is it a plan file, "task" | "epic" | None for the archive, where the content decides)."""
    if not path.endswith(".md"):
        return False, None
    parent = path.rpartition("/")[0]
    if parent == TASKS_DIR:
        return True, "task"
    if parent == EPICS_DIR:
        return True, "epic"
    # An archived epic's gaps (.flow/archive/gaps/<epic>/) are not plan files.
    return path.startswith(ARCHIVE_DIR + "/") and not path.startswith(ARCHIVE_GAPS_DIR + "/"), None


# One change ------------------------------------------------------------------------------------


_REVERT_DEPTH = 16  # reverts of reverts followed this far


def invert(transitions: Iterable[Transition]) -> list[Transition]:
    """What ``git revert`` of a commit with these trailers does: each change backwards."""
    inverted = []
    for item in transitions:
        if item.source is None:
            continue  # reverting a create deletes the file: reported as file-deleted
        from git_flowctl.model.trailers import Transition

        inverted.append(Transition(item.subject, item.target, item.source, REVERT_ACTION, item.by,
                                   f"{item.id}.revert"))
    return inverted


def invert_renames(renames: Iterable[Rename]) -> list[Rename]:
    """What ``git revert`` of a renumber commit does: the files go back to the old IDs."""
    from git_flowctl.model.trailers import Rename

    return [Rename(item.new, item.old) for item in renames]


def _dedupe(transitions: Iterable[Transition]) -> list[Transition]:
    seen: set[tuple[str, str]] = set()
    result = []
    for item in transitions:
        key = (item.subject, item.id)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result


def find_chain(links: Sequence[Transition], start: str | None, end: str | None) -> list[Transition] | None:
    """An order of ``links`` that leads from ``start`` to ``end`` using each once, or None:
    the ID order, else a small search (``model.chains``, the rule replay follows too)."""
    return chain_order(links, lambda link: (link.source, link.target), lambda link: link.id,
                       start, end)


def _link_problem(kind: str, link: Transition) -> str | None:
    if link.action in _BY_AUTHORITY:
        return None
    if link.action == states.RESTORE_ACTION:
        if link.force or legal_change(kind, link.source, link.target):
            return None
        return (f"restore goes only where the state machine goes, not "
                f"{link.source or 'none'}->{link.target}")
    table = states.ACTIONS if kind == "task" else states.EPIC_ACTIONS
    action = table.get(link.action)
    if action is None:
        return f"action={link.action} is not a {kind} action ({', '.join(table)})"
    if link.force or (link.source in action.sources and link.target in action.targets):
        return None
    sources = ", ".join(source or "none" for source in action.sources)
    return (f"{link.action} goes from {sources} to {', '.join(action.targets)}, "
            f"not {link.source or 'none'}->{link.target}")


def legal_change(kind: str, source: str | None, target: str) -> bool:
    table = states.LEGAL_TASK_CHANGES if kind == "task" else states.LEGAL_EPIC_CHANGES
    return (source, target) in table


def actions_for(kind: str, source: str | None, target: str) -> list[str]:
    table = states.ACTIONS if kind == "task" else states.EPIC_ACTIONS
    return [a.name for a in table.values() if source in a.sources and target in a.targets]


def _legal_moves(kind: str, source: str | None) -> str:
    table = states.ACTIONS if kind == "task" else states.EPIC_ACTIONS
    moves = [f"{target} ({action.name})" for action in table.values() if source in action.sources
             for target in action.targets]
    return ", ".join(moves) or "nothing"


def _change_text(source: str | None, target: str | None) -> str:
    return f"{source or 'none'} -> {target or 'none'}"


def changed_subjects(parents: Sequence[Snapshot], after: Snapshot,
                     renames: Iterable[Rename] = ()) -> dict[str, tuple[list[str | None], str | None]]:
    """Subjects whose status differs from every parent's: id -> (statuses in the parents, new).

    A subject whose status is not valid on either side is left to the field rules. A renamed
    subject (``Flow-Rename: old new``, from ``renumber``) is compared under its new ID with the
    status its old ID had, and its old ID is not reported as deleted.
    """
    renames = list(renames)
    # The parents' tables are read, not copied (a branch of 200 commits at 50,000 tasks), unless
    # renames change them; ``renamed_to[i]`` holds what the renames add to parent i's subjects.
    bases = [parent.statuses() if renames else parent._status_table() for parent in parents] or [{}]
    renamed_to: list[set[str]] = [set() for _ in bases]
    renamed_away: set[str] = set()
    for rename in renames:
        for base, names in zip(bases, renamed_to, strict=True):
            if rename.old in base and rename.new not in base:
                base[rename.new] = base[rename.old]
                names.add(rename.new)
        renamed_away.add(rename.old)

    def present(index: int, subject: str) -> bool:
        return subject in renamed_to[index] or (index < len(parents) and parents[index].has(subject))

    now = after._status_table()
    subjects = _touched_subjects(parents, after)
    if subjects is None:
        subjects = set(now).union(*bases)
    else:
        subjects |= {rename.new for rename in renames}
    subjects -= {old for old in renamed_away if old not in now}
    result: dict[str, tuple[list[str | None], str | None]] = {}
    for subject in subjects:
        new = now.get(subject)
        if subject in now and new is None:
            continue
        olds = [base.get(subject) for base in bases]
        if any(subject in base and base.get(subject) is None for base in bases):
            continue
        if any(old == new and present(index, subject) == (subject in now)
               for index, old in enumerate(olds)):
            continue
        result[subject] = (olds, new)
    return result


def _touched_subjects(parents: Sequence[Snapshot], after: Snapshot) -> set[str] | None:
    """The subjects of files whose blob differs between ``after`` and a parent; None when a
    snapshot does not know its blobs (the work tree), so that every subject is compared."""
    if not parents or after.blobs is None or any(parent.blobs is None for parent in parents):
        return None
    changed: set[str] = set()
    for parent in parents:
        assert parent.blobs is not None
        if after.derived_from is not None and after.derived_from[0] is parent:
            changed.update(after.derived_from[1])  # known from the trees' diff
            continue
        changed.update(path for path, blob in after.blobs.items() if parent.blobs.get(path) != blob)
        changed.update(path for path in parent.blobs if path not in after.blobs)
    subjects: set[str] = set()
    for snapshot in (after, *parents):
        for path in changed:
            item = snapshot.by_path().get(path)
            if item is not None and item.id is not None:
                subjects.add(item.id)
    return subjects


def check_change(parents: Sequence[Snapshot], after: Snapshot, *, message: Trailers | None,
                 foreseen: Sequence[Transition] = (), foreseen_evidence: Collection[str] = (),
                 renames: Sequence[Rename] = (), commit: str | None = None,
                 gaps: GapStates | None = None, reverted: Sequence[Trailers] = ()) -> list[Finding]:
    """The transition, trailer, gate and evidence rules for one change (parents -> after).

    ``message`` holds the commit message's trailers; None before a message exists (pre-commit),
    when trailers are not required and ``foreseen`` ones (a --no-commit chain, a squash message)
    only explain changes. ``foreseen`` also carries synthesized revert transitions; ``renames``
    the ``Flow-Rename`` records known besides the message's own. ``gaps``: the states of the gaps
    the change touches (guard/records.py), for the gap rules; ``reverted``: the messages of the
    commits the change reverts, whose ``Flow-Gap`` and ``Flow-Review`` lines it undoes.
    """
    strict = message is not None
    renames = [*renames, *(message.renames if message else [])]
    links = _dedupe([*(message.transitions if message else []), *foreseen])
    by_subject: dict[str, list[Transition]] = defaultdict(list)
    for link in links:
        by_subject[link.subject].append(link)
    evidence_subjects = set(foreseen_evidence) | {e.subject for e in (message.evidence if message else [])}
    found: list[Finding] = []
    if message is not None:
        for bad in message.malformed:
            found.append(finding("trailer-malformed", f"message line {bad.line_number}: {bad.reason}: {bad.text}",
                                 hint="the form is `Flow-Transition: <id> <from>-><to> action=<a> "
                                      "by=<actor> id=<ULID>`; quote values with spaces"))
        for ref in message.task_refs:
            if ref not in after.tasks and not any(ref in parent.tasks for parent in parents):
                found.append(finding("task-ref-unknown", f"Flow-Task: {ref} names no task", subject=ref,
                                     hint="use the full task ID (`git flow-task tasks` lists them)"))
        for landed in message.landings:
            # A landing (issue #17) brings the code and the state together: the task it names
            # is done in the tree the landing commit makes, by its own done or an earlier one.
            task = after.tasks.get(landed.subject)
            status = after.statuses().get(landed.subject)
            if status != states.DONE:
                found.append(finding(
                    "landed-not-done",
                    f"Flow-Landed says {landed.subject} landed, but this commit leaves it "
                    f"{status or 'absent'}",
                    file=task.path if task else None, line=task.line("status") if task else None,
                    subject=landed.subject,
                    hint="a landing commit carries the task's done (or lands a task done "
                         "before); `git flow-task land` writes both"))
    changes = changed_subjects(parents, after, renames)
    for subject in sorted(set(changes) | set(by_subject), key=ids.id_sort_key):
        kind = "task" if ids.is_task_id(subject) else "epic"
        item = after.item(subject) or next((p.item(subject) for p in parents if p.item(subject)), None)
        file, line = (item.path, item.line("status")) if item else (None, None)
        trailers = by_subject.get(subject, [])
        if subject not in changes:
            if not strict or not trailers:
                continue
            now = after._status_table().get(subject)
            # A file with no readable status before (flowctl's spec at this path, replaced by
            # `import flowctl` in place) may be explained by a trailer from none.
            unreadable_before = any(subject in p._status_table() and p._status_table()[subject] is None
                                    for p in parents)
            if find_chain(trailers, now, now) is None and not (
                    unreadable_before and find_chain(trailers, None, now) is not None):
                said = ", ".join(f"{t.source or 'none'}->{t.target}" for t in trailers)
                found.append(finding(
                    "trailer-without-change",
                    f"the trailer for {subject} says {said}, but this commit leaves it {now or 'absent'}",
                    file=file, line=line, subject=subject,
                    hint="remove the trailer, or stage the task file change it describes"))
            continue
        olds, new = changes[subject]
        base = olds[0]
        if new is None:
            found.append(finding(
                "file-deleted", f"{kind} {subject} ({base}) was deleted",
                file=file, subject=subject,
                hint="its history stays in git; archive finished epics instead of deleting files"))
            continue
        chain = None
        if trailers:
            for start in dict.fromkeys(olds):
                chain = find_chain(trailers, start, new)
                if chain is not None:
                    break
        exempt = False
        if chain is None:
            if strict and trailers:
                said = ", ".join(f"{t.source or 'none'}->{t.target}" for t in sorted(trailers, key=lambda t: t.id))
                found.append(finding(
                    "trailer-mismatch",
                    f"{subject} changed {_change_text(base, new)}, but its trailers say {said}",
                    file=file, line=line, subject=subject,
                    hint="the trailers must lead from the committed status to the new one"))
            elif strict:
                found.append(finding(
                    "trailer-missing",
                    f"{subject} changed {_change_text(base, new)} with no Flow-Transition trailer",
                    file=file, line=line, subject=subject,
                    hint="change states with git flow-task commands (with --no-commit and the hooks "
                         "installed the trailer is added to your commit); a squash merge must keep "
                         "the squashed messages"))
            if not legal_change(kind, base, new):
                found.append(finding(
                    "transition-illegal",
                    f"{subject}: {_change_text(base, new)} is not a legal {kind} transition",
                    file=file, line=line, subject=subject,
                    hint=f"from {base or 'none'} a {kind} can go to {_legal_moves(kind, base)}; "
                         f"a repair is recorded with the command's --force"))
        else:
            for link in chain:
                problem = _link_problem(kind, link)
                if problem is not None:
                    found.append(finding(
                        "transition-illegal", f"{subject}: {problem}", file=file, line=line,
                        subject=subject, hint="a repair is recorded with the command's --force"))
                elif link.force and link.action not in _BY_AUTHORITY:
                    found.append(finding(
                        "transition-forced",
                        f"{subject}: {link.source or 'none'}->{link.target} ({link.action}) was forced by {link.by}",
                        file=file, line=line, subject=subject))
            exempt = chain[-1].force or chain[-1].action in _BY_AUTHORITY
        task = after.tasks.get(subject)
        if kind != "task" or task is None or exempt:
            continue
        if new in (states.IN_PROGRESS, states.DONE):
            blocking = after.unsatisfied(task)
            if blocking:
                listed = ", ".join(f"{dep} ({state})" for dep, state in blocking.items())
                found.append(finding(
                    "gate-unsatisfied",
                    f"{subject} entered {new} but its dependencies are not satisfied: {listed}",
                    file=task.path, line=task.line("status"), subject=subject,
                    hint=f"{states.unsatisfied_hint(blocking)} (`git flow-task ready` lists what "
                         f"can start); a repair is recorded with --force"))
            # Started here (in progress now, or done from a state `start` leaves): its epic's
            # dependencies were open (docs/states.md#epic-dependencies).
            started = new == states.IN_PROGRESS or base in states.STARTABLE
            waits = after.open_epic_dependencies(task.epic) if started else []
            if waits:
                found.append(finding(
                    "gate-unsatisfied",
                    f"{subject} entered {new} while its epic {task.epic} waits for epic "
                    f"{', '.join(waits)} (open)",
                    file=task.path, line=task.line("status"), subject=subject,
                    hint=f"{states.epic_wait_hint(waits)}; a repair is recorded with --force"))
        if new == states.DONE and strict and after.config.require_verify:
            fields = {key: value for line in message.evidence if line.subject == subject
                      for key, value in line.fields} if message is not None else {}
            result = verification.outcome(fields)
            if result != verification.PASS:
                said = {verification.MISSING: "no guard evidence",
                        verification.SKIPPED: "every guard check skipped",
                        verification.FAIL: "a failing guard check"}[result]
                found.append(finding(
                    "done-unverified",
                    f"{subject} entered done with {said} (config require_verify)",
                    file=task.path, line=task.line("status"), subject=subject,
                    hint=f"finish with `git flow-task done {subject} --verify`, which runs the "
                         "guard and records its results; a repair is recorded with --force"))
        if new == states.DONE and after.config.require_evidence and subject not in evidence_subjects \
                and not task.has_evidence:
            found.append(finding(
                "evidence-missing", f"{subject} entered done without evidence (config require_evidence)",
                file=task.path, line=task.line("status"), subject=subject,
                hint="finish with `git flow-task done --evidence commits=... tests=...`"))
    if message is not None:
        found.extend(review_findings(parents, after, message, renames, reverted))
        if gaps is not None:
            found.extend(gap_findings(gaps, message, reverted, after.epics))
    if commit is not None:
        found = [replace(item, commit=commit) for item in found]
    return found


# Gaps and reviews: their trailers against the files (docs/validation.md#gaps-and-reviews) ------


def review_findings(parents: Sequence[Snapshot], after: Snapshot, message: Trailers,
                    renames: Sequence[Rename] = (), reverted: Sequence[Trailers] = ()) -> list[Finding]:
    """A verdict set in a file (``plan_review_status``, ``completion_review_status``) needs the
    ``Flow-Review`` trailer of its subject and kind that says it; a trailer needs its verdict in
    the tree. A verdict removed needs nothing (it only takes a judgment back: no gate opens), nor
    one that ``import`` or ``recover`` sets by authority, nor one a revert puts back."""
    said: dict[tuple[str, str], list[Review]] = defaultdict(list)
    for line in message.reviews:
        said[(line.subject, line.kind)].append(line)
    undone = {(line.subject, line.kind) for trailers in reverted for line in trailers.reviews}
    by_authority = {link.subject for link in message.transitions if link.action in _BY_AUTHORITY}
    old_id = {rename.new: rename.old for rename in renames}
    touched = _touched_subjects(parents, after)
    subjects = set(after.tasks) | set(after.epics) if touched is None else set(touched)
    subjects |= {subject for subject, _ in said}
    found: list[Finding] = []
    for subject in sorted(subjects, key=ids.id_sort_key):
        item = after.item(subject)
        if item is None and subject not in {s for s, _ in said}:
            continue
        befores = [parent.item(subject) or parent.item(old_id.get(subject, subject)) for parent in parents]
        for index, kind in enumerate(reviews.KINDS):
            new = item.reviews[index] if item is not None else None
            olds = [before.reviews[index] if before is not None else None for before in befores] or [None]
            lines = sorted(said.get((subject, kind), []), key=lambda line: line.id)
            where: dict[str, Any] = {
                "file": item.path if item else None, "subject": subject,
                "line": item.line(reviews.status_field(kind)) if item else None}
            if all(old != new for old in olds):
                if new is None or (subject, kind) in undone or subject in by_authority:
                    continue
                if not lines:
                    found.append(finding(
                        "review-trailer-missing",
                        f"{subject}'s {kind} verdict changed {olds[0] or 'none'} -> {new} with no "
                        f"Flow-Review trailer", **where,
                        hint=f"record verdicts with `git flow-task review {subject} --verdict {new} "
                             f"--kind {kind}`; a verdict is not edited by hand"))
                elif lines[-1].verdict != new:
                    found.append(finding(
                        "review-trailer-mismatch",
                        f"{subject}'s {kind} verdict changed {olds[0] or 'none'} -> {new}, but its "
                        f"Flow-Review trailer says {lines[-1].verdict}", **where,
                        hint="the trailer must name the verdict the file records"))
            elif lines and lines[-1].verdict != new:
                found.append(finding(
                    "review-trailer-without-change",
                    f"the Flow-Review trailer for {subject} says {kind} {lines[-1].verdict}, but "
                    f"this commit leaves its {kind} verdict {new or 'none'}"
                    + ("" if item is not None else f" ({subject} is absent)"), **where,
                    hint=f"remove the trailer, or stage the {reviews.status_field(kind)} change "
                         "it describes"))
    return found


def gap_findings(gaps: GapStates, message: Trailers, reverted: Sequence[Trailers] = (),
                 epics: Collection[str] = ()) -> list[Finding]:
    """A gap whose state (status, priority) changes needs ``Flow-Gap`` trailers that lead from
    its old state to the new one; a trailer needs its change. A gap is one gap wherever its file
    is (a move by ``renumber`` or ``epic archive`` changes nothing), a revert may undo what the
    reverted commit's trailers did, and a gap deleted with its epic (``epics``: the epics after
    the change) is the epic's ``file-deleted``."""
    said: dict[str, list[GapChange]] = defaultdict(list)
    for line in message.gaps:
        said[line.subject].append(line)
    undone = {line.subject for trailers in reverted for line in trailers.gaps}
    found: list[Finding] = []
    for gap in sorted(set(gaps.after).union(*gaps.before, said)):
        new = gaps.after.get(gap)
        olds = [before.get(gap) for before in gaps.before] or [None]
        known = [state for state in (new, *olds) if state is not None]
        if any(not state.readable for state in known):
            continue  # a file that does not say its state: `gap list` names it
        lines = said.get(gap, [])
        now = new.status if new is not None else None
        where: dict[str, Any] = {"file": known[0].path if known else None, "subject": gap}
        if all(_gap_key(old) != _gap_key(new) for old in olds):
            if gap in undone:
                continue
            if new is None and known and known[0].path.split("/")[-2] not in epics:
                continue  # gone with its epic
            change = f"{_gap_text(olds[0])} -> {_gap_text(new)}"
            if not lines:
                found.append(finding(
                    "gap-trailer-missing", f"gap {gap} changed {change} with no Flow-Gap trailer",
                    **where,
                    hint="change gaps with `git flow-task gap add|resolve` (with --no-commit and "
                         "the hooks installed, the trailer is added to your commit); a gap is "
                         "resolved, not deleted"))
                continue
            chain = next((chain for old in dict.fromkeys(o.status if o else None for o in olds)
                          if (chain := _gap_chain(lines, old, now)) is not None), None)
            if chain is None or (new is not None and chain[-1].priority != new.priority):
                found.append(finding(
                    "gap-trailer-mismatch",
                    f"gap {gap} changed {change}, but its Flow-Gap trailers say {_said(lines)}",
                    **where, hint="the trailers must lead from the committed state to the new one"))
            continue
        chain = _gap_chain(lines, now, now) if lines else None
        if lines and (chain is None or (new is not None and chain[-1].priority != new.priority)):
            found.append(finding(
                "gap-trailer-without-change",
                f"the Flow-Gap trailer for {gap} says {_said(lines)}, but this commit leaves it "
                f"{_gap_text(new)}", **where,
                hint="remove the trailer, or stage the gap file change it describes"))
    return found


def _gap_key(state: GapState | None) -> tuple[str | None, str | None] | None:
    return None if state is None else (state.status, state.priority)


def _gap_text(state: GapState | None) -> str:
    return "none" if state is None else state.text()


def _said(lines: Sequence[GapChange]) -> str:
    return ", ".join(f"{line.source or 'none'}->{line.target} [{line.priority}]"
                     for line in sorted(lines, key=lambda line: line.id))


def _gap_chain(lines: Sequence[GapChange], start: str | None, end: str | None) -> list[GapChange] | None:
    return chain_order(lines, lambda line: (line.source, line.target), lambda line: line.id,
                       start, end)


# History ---------------------------------------------------------------------------------------


@dataclass
class CommitCheck:
    """One commit's findings (`check`, pre-push)."""

    commit: str
    summary: str
    findings: list[Finding]


@dataclass
class RangeReport:
    """The commits of a range and the tree at its head, checked."""

    head: str
    base: str | None
    commits: list[CommitCheck]
    tree: list[Finding]  # the tree at the head

    def findings(self) -> list[Finding]:
        return [item for check in self.commits for item in check.findings] + self.tree

    @property
    def ok(self) -> bool:
        return not errors_in(self.findings())


class HistoryError(FlowError):
    pass


class History:
    """Commits' snapshots and checks, with one parse per distinct file version."""

    def __init__(self, repo: pygit2.Repository, shallow: Collection[str] = (),
                 cache: ParseCache | None = None) -> None:
        """``cache``: parsed files by (path, blob ID); an ``ItemStore`` keeps them across
        commands (``close`` stores what this one parsed)."""
        self.repo = repo
        self.cache: ParseCache = cache if cache is not None else {}
        self._snapshots: dict[str, Snapshot] = {}
        self.shallow = set(shallow)
        self._diffs: dict[str, dict[str, str | None]] | None = None  # PlanCache.tree_diffs
        self._new_diffs: dict[str, dict[str, str | None]] = {}
        self._flow_trees: dict[pygit2.Oid, str | None] = {}

    def close(self) -> None:
        if isinstance(self.cache, ItemStore):
            self.cache.save()
            if self._new_diffs:
                self.cache.plan_cache.remember_tree_diffs(self._new_diffs)
                self._new_diffs = {}

    def _tree_diff(self, old_tree: str, new_tree: str) -> dict[str, str | None]:
        """The plan files that differ between two ``.flow`` trees: ``{path: new blob ID, or
        None: gone}``, from the stored diffs (the writer stores the one it makes) or else
        from comparing the trees (then stored)."""
        import pygit2

        key = f"{old_tree}:{new_tree}"
        if self._diffs is None:
            self._diffs = self.cache.plan_cache.tree_diffs() if isinstance(self.cache, ItemStore) else {}
        found = self._diffs.get(key)
        if isinstance(found, dict):
            return found
        changes: dict[str, str | None] = {}
        old, new = self.repo[old_tree], self.repo[new_tree]
        assert isinstance(old, pygit2.Tree) and isinstance(new, pygit2.Tree)
        for delta in old.diff_to_tree(new).deltas:
            if delta.status == pygit2.enums.DeltaStatus.DELETED:
                changes[f"{FLOW_DIR}/{delta.old_file.path}"] = None
            else:
                if delta.status == pygit2.enums.DeltaStatus.RENAMED:
                    changes[f"{FLOW_DIR}/{delta.old_file.path}"] = None
                if delta.new_file.mode in (pygit2.enums.FileMode.BLOB,
                                           pygit2.enums.FileMode.BLOB_EXECUTABLE,
                                           pygit2.enums.FileMode.LINK):
                    changes[f"{FLOW_DIR}/{delta.new_file.path}"] = str(delta.new_file.id)
                else:
                    changes[f"{FLOW_DIR}/{delta.new_file.path}"] = None
        self._diffs[key] = self._new_diffs[key] = changes
        return changes

    def _flow_tree(self, commit: pygit2.Commit) -> str | None:
        """The commit's ``.flow`` tree ID, looked up once per commit (a commit of a range is
        asked for as a parent, as itself and in between)."""
        key = commit.id
        if key not in self._flow_trees:
            self._flow_trees[key] = _flow_tree(commit)
        return self._flow_trees[key]

    def snapshot(self, commit: pygit2.Commit | None) -> Snapshot:
        if commit is None:
            return Snapshot.empty()
        key = self._flow_tree(commit) or ""
        if key not in self._snapshots:
            label = str(commit.id)[:7]
            snapshot = self._derived(commit, key) or self._stored(key, label)
            if snapshot is None:
                from git_flowctl.repo.sources import TreeSource

                snapshot = Snapshot.load(TreeSource(self.repo, commit.tree, label), self.cache)
                record = snapshot.record() if key and isinstance(self.cache, ItemStore) else None
                if record is not None and isinstance(self.cache, ItemStore):
                    self.cache.plan_cache.save_checked(key, record)
            if key:
                snapshot.content = f"tree:{key}"
            self._snapshots[key] = snapshot
        return self._snapshots[key]

    def _stored(self, key: str, label: str) -> Snapshot | None:
        """The snapshot of a ``.flow`` tree that a command before this one read whole."""
        if not key or not isinstance(self.cache, ItemStore):
            return None
        snapshot = Snapshot.from_record(label, self.cache.plan_cache.load_checked(key))
        if snapshot is not None:
            snapshot._store = self.cache
        return snapshot

    def _derived(self, commit: pygit2.Commit, key: str) -> Snapshot | None:
        """The commit's snapshot from a parent's already read, through the diff of their
        ``.flow`` trees (a branch of 200 transitions reads 200 files, not 200 plans)."""
        for parent in commit.parents:
            parent_key = self._flow_tree(parent) or ""
            base = self._snapshots.get(parent_key)
            if base is None or base.blobs is None or not key or not parent_key:
                continue
            changes = self._tree_diff(parent_key, key)
            if any(part.startswith(".") for path in changes
                   for part in path[len(FLOW_DIR) + 1:].split("/")):
                return None  # a hidden file or directory: a full read decides what counts
            from git_flowctl.repo.sources import TreeSource

            source = TreeSource(self.repo, commit.tree, str(commit.id)[:7])
            return base.derive(source.label, changes, source.read, self.cache)
        return None

    def reverted(self, trailers: Trailers, depth: int = 0) -> list[Transition]:
        """The transitions that the reverts named in ``trailers`` undo, each backwards. A
        reverted commit that is itself a revert did the inverse of what it reverted, so a revert
        of a revert does it again (issue #13, finding 7)."""
        return [step for message in self._reverted_messages(trailers)
                for step in invert(self.effect(message, depth + 1))]

    def effect(self, trailers: Trailers, depth: int = 0) -> list[Transition]:
        """What a commit with these trailers did: its transitions, and what its reverts undid
        (down a chain of reverts of reverts, as far as ``_REVERT_DEPTH``)."""
        if depth >= _REVERT_DEPTH or not trailers.reverts:
            return list(trailers.transitions)
        return [*trailers.transitions, *self.reverted(trailers, depth)]

    def reverted_renames(self, trailers: Trailers, depth: int = 0) -> list[Rename]:
        """The renumbers that the reverts named in ``trailers`` undo: each ID back."""
        return [step for message in self._reverted_messages(trailers)
                for step in invert_renames([*message.renames, *(
                    self.reverted_renames(message, depth + 1) if depth < _REVERT_DEPTH else [])])]

    def reverted_messages(self, trailers: Trailers, depth: int = 0) -> list[Trailers]:
        """The messages of the commits ``trailers`` reverts, and of the ones those revert (down
        a chain of reverts of reverts, as far as ``_REVERT_DEPTH``): whose ``Flow-Gap`` and
        ``Flow-Review`` lines a revert undoes or redoes."""
        found = []
        for message in self._reverted_messages(trailers):
            found.append(message)
            if depth + 1 < _REVERT_DEPTH:
                found.extend(self.reverted_messages(message, depth + 1))
        return found

    def gap_states(self, commit: pygit2.Commit, parents: Sequence[pygit2.Commit],
                   trailers: Trailers, reverted: Sequence[Trailers]) -> GapStates | None:
        """The gaps a commit touches or its trailers name (guard/records.py); None when there
        are none. Which gap files changed comes from the ``.flow`` trees' diff when it is known
        (the snapshots were derived through it), else from the gap directories' tree IDs: a
        commit that touches no gap file reads none."""
        from git_flowctl.guard import records
        from git_flowctl.repo.sources import TreeSource

        named = [*trailers.gaps, *(line for message in reverted for line in message.gaps)]
        flow = _flow_tree(commit)
        trees: list[pygit2.Tree | None] = [parent.tree for parent in parents] or [None]
        changed: set[str] = set()
        compare: list[pygit2.Tree | None] = []  # parents whose diff is not known
        bases: list[pygit2.Commit | None] = [*parents] or [None]
        for parent in bases:
            parent_flow = _flow_tree(parent) if parent is not None else None
            if parent_flow == flow:
                continue
            known = self._diffs.get(f"{parent_flow}:{flow}") if self._diffs and parent_flow else None
            if isinstance(known, dict):
                changed.update(path for path in known if records.is_gap_path(path))
            else:
                compare.append(parent.tree if parent is not None else None)
        if compare:
            mine = records.gap_subtrees(commit.tree)
            compare = [tree for tree in compare if records.gap_subtrees(tree) != mine]
        if not changed and not compare and not named:
            return None
        after = TreeSource(self.repo, commit.tree, str(commit.id)[:7])
        sources = [TreeSource(self.repo, tree, "parent") for tree in trees]
        if compare:
            now = records.gap_entries(after)
            for tree in compare:
                source = TreeSource(self.repo, tree, "parent")
                changed |= records.changed_gap_paths(records.gap_entries(source), now)
        return records.gap_states(sources, after, changed, named)

    def _reverted_messages(self, trailers: Trailers) -> list[Trailers]:
        import pygit2

        found = []
        for sha in trailers.reverts:
            try:
                target = self.repo.revparse_single(sha).peel(pygit2.Commit)
            except (KeyError, ValueError, pygit2.GitError):
                continue
            from git_flowctl.model.trailers import parse_message

            found.append(parse_message(target.message))
        return found

    def check_commit(self, commit: pygit2.Commit) -> list[Finding]:
        if str(commit.id) in self.shallow:
            raise HistoryError(
                f"history is incomplete: commit {str(commit.id)[:7]} is the edge of a shallow clone",
                hint="fetch the whole history (`git fetch --unshallow`); in CI check out with "
                     "fetch-depth: 0 (GitHub Actions) or GIT_DEPTH: 0 (GitLab CI)")
        parents = [self.snapshot(parent) for parent in commit.parents]
        after = self.snapshot(commit)
        from git_flowctl.model.trailers import parse_message

        trailers = parse_message(commit.message)
        flow_changed = not parents or any(self._flow_tree(p) != self._flow_tree(commit) for p in commit.parents)
        if not flow_changed and not trailers.transitions and not trailers.malformed \
                and not trailers.task_refs and not trailers.landings and not trailers.gaps \
                and not trailers.reviews:
            return []
        reverted = self.reverted_messages(trailers)
        return check_change(parents or [Snapshot.empty()], after, message=trailers,
                            foreseen=self.reverted(trailers),
                            renames=self.reverted_renames(trailers), commit=str(commit.id),
                            gaps=self.gap_states(commit, list(commit.parents), trailers, reverted),
                            reverted=reverted)

    def check_range(self, head: pygit2.Commit, hide: Iterable[pygit2.Oid], *,
                    tree_baseline: Snapshot | None = None, base: str | None = None) -> RangeReport:
        """Every commit reachable from ``head`` but not from ``hide``, oldest first, and the
        tree at ``head``: all of its findings, or with ``tree_baseline`` only the new ones."""
        import pygit2

        walker = self.repo.walk(head.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
        for oid in hide:
            walker.hide(oid)
        checks = []
        for commit in walker:
            found = self.check_commit(commit)
            checks.append(CommitCheck(str(commit.id), commit.message.split("\n", 1)[0], found))
        tip = self.snapshot(head).findings()
        tree = new_findings(tree_baseline.findings(), tip) if tree_baseline is not None else tip
        return RangeReport(str(head.id), base, checks, tree)


def _flow_tree(commit: pygit2.Commit) -> str | None:
    try:
        return str(commit.tree[FLOW_DIR].id)
    except KeyError:
        return None


def shallow_commits(common_dir: Path) -> set[str]:
    try:
        return set((common_dir / "shallow").read_text().split())
    except FileNotFoundError:
        return set()
