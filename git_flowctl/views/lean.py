"""The lean read path: `status`, `show`, `tasks`, `list`, `epics`, `ready`, `next` and
`blocked` with ``--json``, answered without click, YAML or pygit2 (issue #11).

At 5,000 tasks a read must cost a few times interpreter start-up, and importing click alone
costs more than that. ``entry.py`` calls ``answer`` first; it reads the work tree's plan
snapshot (repo/catalog.py: a stat of each plan file, the catalog itself, nothing parsed when
nothing changed), computes the answer with the functions the click commands use
(views/shapes.py, coordination/queries.py, landing.py, claimview.py, model/facts.py) and prints
it with the same printer (views/jsonout.py), so both paths print the same bytes
(tests/test_lean_path.py runs every read both ways).

Anything it is not sure of makes it step aside (``Fallback``) before printing anything: an
option it does not know, ``--rev``, a repository found in an unusual way, a file that does not
load, an error to report, a default branch whose plan is not in the snapshot yet. The normal
path then answers, and fills the snapshot for the next time.

The same reads without ``--json`` print their human text, drawn from the same payload by
views/text.py (as the click commands draw it); a stored text is kept under its output mode
(a pipe, or a terminal's width and colours) besides the JSON answer's key.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import zlib

from git_flowctl.coordination import claimview, landing, queries
from git_flowctl.model import ids, states
from git_flowctl.model.errors import FlowError
from git_flowctl.model.facts import EpicFacts, PlanFacts, TaskFacts
from git_flowctl.model.frontfast import load_simple
from git_flowctl.model.layout import (
    ARCHIVE_EPICS_DIR,
    ARCHIVE_TASKS_DIR,
    EPICS_DIR,
    TASKS_DIR,
    epic_path,
    task_path,
)
from git_flowctl.model.markdown import split_file
from git_flowctl.repo import leangit
from git_flowctl.repo.catalog import Catalog, Known, PlanCache, WorkTree, tree_catalog
from git_flowctl.views import shapes
from git_flowctl.views.jsonout import dumps

TYPE_CHECKING = False  # typing costs start-up time that this path avoids (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Options = dict[str, Any]


class Fallback(Exception):
    """The lean path cannot answer this for sure: the normal CLI will."""


# Command lines --------------------------------------------------------------------------------

# command -> (options taking one value, options that may repeat, number of arguments)
_SHAPES: dict[str, tuple[frozenset[str], frozenset[str], int]] = {
    "status": (frozenset(), frozenset(), 0),
    "show": (frozenset(), frozenset(), 1),
    "tasks": (frozenset({"--epic", "--status", "--domain"}), frozenset({"--status"}), 0),
    "list": (frozenset(), frozenset(), 0),
    "epics": (frozenset(), frozenset(), 0),
    "ready": (frozenset({"--epic", "--actor"}), frozenset(), 0),
    "next": (frozenset({"--epic", "--actor"}), frozenset(), 0),
    "blocked": (frozenset({"--epic"}), frozenset(), 0),
    "validate": (frozenset(), frozenset(), 0),
    "board": (frozenset({"--epic"}), frozenset(), 0),
}
_FLAGS = {"board": frozenset({"--plain"})}  # options without a value


def _options(command: str, words: list[str]) -> Options:
    """The command's options as click would give them, for the plain forms only."""
    takes_value, repeatable, arguments = _SHAPES[command]
    found: Options = {"args": []}
    index = 0
    while index < len(words):
        word = words[index]
        if word in takes_value:
            if index + 1 >= len(words) or words[index + 1].startswith("-"):
                raise Fallback
            if word in repeatable:
                found.setdefault(word, []).append(words[index + 1])
            elif word in found:
                raise Fallback
            else:
                found[word] = words[index + 1]
            index += 2
            continue
        if word in _FLAGS.get(command, ()) and word not in found:
            found[word] = True
            index += 1
            continue
        if word.startswith("-") or len(found["args"]) >= arguments:
            raise Fallback  # --rev, --help, --claim, an unknown option, one argument too many
        found["args"].append(word)
        index += 1
    if len(found["args"]) != arguments:
        raise Fallback
    return found


def answer(args: list[str]) -> int | None:
    """Print the answer and return 0, or return None (nothing printed) for the normal path."""
    if "--" in args:
        return None
    json_mode = "--json" in args
    words = [word for word in args if word != "--json"]
    if not words or words[0] not in _SHAPES:
        return None
    if words[0] == "board":
        if json_mode == ("--plain" in words):
            return None  # board: --plain (text) or --json, not both, and not a terminal's
    elif not json_mode and words[0] not in TEXT_READS:
        return None
    enabled = gc.isenabled()
    gc.disable()  # a short read whose objects hold no cycles (catalog.without_gc)
    try:
        options = _options(words[0], words[1:])
        place = leangit.locate()
        if place is None:
            raise Fallback
        mode = None if json_mode or words[0] == "board" else _text_mode()
        reader = _Reader(place, _COMMANDS[words[0]] in _REPEATED_ONLY)
        generation = reader.work_tree.generation
        key = _text_key(reader, reader.answer_key(generation, words, options), words[0], mode)
        found = read_answer(reader.cache, key)
        if found is None:
            if _COMMANDS[words[0]] in _REPEATED_ONLY:
                raise Fallback  # before loading the plan (50 MB at 50,000 tasks) for nothing
            reader.load()
            payload = _COMMANDS[words[0]](reader, options)
            if mode is None:
                text = dumps({"success": True, **payload})
                text += "\n"  # in place: the only reference (a copy of 30 MB at 50,000 tasks)
            else:
                text = _human(reader, words[0], payload, mode)
            del payload
            code = 0
            reader.keep_derived()
            if reader.catalog.generation != generation:  # stored anew: the key names it
                key = _text_key(reader, reader.answer_key(reader.catalog.generation, words, options),
                                words[0], mode)
            write_answer(reader.cache, key, text, code)
        else:
            text, code = found
    except (Fallback, FlowError):
        return None  # the normal path reports errors, with the same words
    except Exception:
        if os.environ.get("FLOW_DEBUG"):
            raise
        return None  # a bug here must not cost an answer: the normal path gives it
    finally:
        if enabled:
            gc.enable()
    sys.stdout.write(text)
    sys.stdout.flush()
    return code


# Human answers (views/text.py) ------------------------------------------------------------------

# The reads answered here without --json too: their text is drawn from the payload of their
# JSON answer by views/text.py, as the click commands draw it; `validate`'s is repeated.
TEXT_READS = frozenset({"status", "show", "tasks", "list", "epics", "ready", "next", "blocked",
                        "validate"})
_WORK_TREE = "working tree"  # the label of the plan read (sources.WorkTreeSource), in `status`


def _text_mode() -> Any:
    from git_flowctl.views.text import output_mode

    return output_mode(sys.stdout)


def _reading_default(reader: _Reader, command: str) -> bool | None:
    """Whether the work tree is the default branch checked out (landing._reads_default), for
    the answers that mark landed work by it; None for the others."""
    if _NEEDS[command] != "tip":
        return None
    tip = reader.tip()
    return tip is not None and tip.checked_out


def _text_key(reader: _Reader | None, key: tuple[Any, ...] | None, command: str,
              mode: Any) -> tuple[Any, ...] | None:
    """A human answer's key: the JSON answer's, plus the output mode (views/text.Mode: a
    pipe's text is never a terminal's), whether landed work is marked as on the default branch,
    and the renderer's code."""
    if key is None or mode is None:
        return key
    marks = _reading_default(reader, command) if reader is not None else None
    stamp = os.stat(os.path.join(os.path.dirname(os.path.abspath(__file__)), "text.py")).st_mtime_ns
    return (*key, ("text", tuple(mode), marks, stamp))


def _human(reader: _Reader, command: str, payload: dict[str, Any], mode: Any) -> str:
    """The human answer of ``command`` from its JSON payload, as the click command draws it."""
    from git_flowctl.views import text

    marks = _reading_default(reader, command)
    blocks: list[Any]
    if command == "status":
        blocks = text.status_blocks(payload, _WORK_TREE, not marks, bool(marks))
    elif command == "show":
        if ids.is_task_id(payload["id"]):
            blocks = text.task_blocks(payload)
        else:
            blocks = text.epic_blocks(payload, not marks, bool(marks))
    elif command == "tasks":
        blocks = text.tasks_blocks(payload, not marks, bool(marks))
    elif command == "list":
        blocks = text.list_blocks(payload, bool(marks))
    elif command == "epics":
        blocks = text.epics_blocks(payload)
    elif command == "ready":
        blocks = text.ready_blocks(payload)
    elif command == "next":
        blocks = text.next_blocks(payload)
    else:
        blocks = text.blocked_blocks(payload)
    return text.render(blocks, mode)


def remember_text_answer(common_dir: str, root: str, generation: str | None, words: list[str],
                         text: str, code: int, mode: Any) -> None:
    """``remember_answer`` for a human answer printed in ``mode`` (`validate`)."""
    if generation is None:
        return
    cache = PlanCache(common_dir, root)
    if WorkTree(cache, root).generation == generation:
        key = (generation, tuple(words), (), code_stamp(words[0]))
        write_answer(cache, _text_key(None, key, words[0], mode), text, code)


# What an answer depends on besides the plan and the command line: the default branch
# (landing), or the actor and the claims (ready, next).
_NEEDS: dict[str, str] = {"status": "tip", "show": "tip", "tasks": "tip", "list": "tip",
                          "epics": "", "ready": "held", "next": "held", "blocked": "held",
                          "validate": "", "board": "board"}
# The modules whose code makes an answer: a stored answer names their files' mtimes too.
_ANSWER_CODE = ("views/lean.py", "views/shapes.py", "views/jsonout.py", "coordination/queries.py",
                "coordination/landing.py", "coordination/claimview.py", "coordination/runs.py",
                "model/facts.py",
                "model/states.py", "model/frontfast.py", "model/markdown.py", "repo/catalog.py")
# `validate` is computed by the validator (guard/validate.py), through the click command, which
# keeps its answer here (``remember_answer``); these make it too.
_BOARD_CODE = ("views/board.py", "views/graphviews.py", "cli/commands/board.py",
               "history/replay.py", "model/trailerfast.py")
_VALIDATE_CODE = ("guard/validate.py", "guard/reporting.py", "model/items.py", "model/document.py",
                  "model/config.py", "model/ids.py", "model/graph.py", "cli/commands/integrity.py",
                  "cli/output.py")
KEEP_ANSWERS = 32


# The plan and what git says about it ----------------------------------------------------------


class _Reader:
    def __init__(self, place: leangit.Place, repeat_only: bool = False) -> None:
        """``repeat_only``: the command is answered here only from a stored answer (then,
        with no snapshot stored, it steps aside before reading every plan file)."""
        self.place = place
        self.cache = PlanCache(place.common_dir, place.root)
        stats = self.cache.load_stats() if repeat_only else None
        if repeat_only and stats is None:
            raise Fallback
        self.work_tree = WorkTree(self.cache, place.root, stats)  # lists and stats the plan files
        self._tip: tuple[leangit.Ref | None] | None = None
        self._task_branches: tuple[tuple[str, str], ...] = ()  # flow/<task-id> branches and tips
        self._actors: dict[str | None, str] = {}
        self._held: dict[str, dict[str, str]] = {}

    # A stored answer: the same plan (the catalog's generation), command line, default branch,
    # actor, claims and code give the same bytes ------------------------------------------------

    def answer_key(self, generation: str | None, words: list[str],
                   options: Options) -> tuple[Any, ...] | None:
        """What the answer is a function of; None when the files changed since the snapshot
        (then it is computed)."""
        if generation is None:
            return None
        need = _NEEDS[words[0]]
        inputs: tuple[Any, ...] = ()
        if need == "tip":
            who = self.actor(None)  # what is ready: the actor's view (queries.Offer)
            inputs = (*self.landing_key(), who, tuple(sorted(self.held(who).items())))
            if words[0] == "status":
                inputs += (repr(self.runs()),)
        elif need == "held":
            who = self.actor(options.get("--actor"))
            inputs = (who, tuple(sorted(self.held(who).items())))
        elif need == "board":
            head = leangit.output(self.place.root, "rev-parse", "--verify", "-q", "HEAD^{commit}")
            if head is None:
                raise Fallback  # an unborn branch: the normal path
            who = self.actor(None)
            inputs = board_inputs(head.decode().strip(), who, self.held(who)) + self.landing_key()
        return (generation, tuple(words), inputs, code_stamp(words[0]))


    # The plan -----------------------------------------------------------------------------------

    def load(self) -> None:
        """The plan as facts (the catalog's rows; what changed is parsed and stored)."""
        self.catalog = catalog = self.work_tree.catalog()
        settings = self._settings()
        if not isinstance(settings.get("max_retries"), int):
            raise Fallback
        # One pass over the rows: any file that does not load, or a task whose epic does not
        # exist, is the normal path's to report (with file and line).
        epics = {}
        for name, entry in catalog.dirs.get(EPICS_DIR, {}).items():
            if name.endswith(".md"):
                if entry[1] is None:
                    raise Fallback
                epics[entry[1][0]] = EpicFacts._make(entry[1])
        tasks = {}
        for name, entry in catalog.dirs.get(TASKS_DIR, {}).items():
            if name.endswith(".md"):
                row = entry[1]
                if row is None or row[1] not in epics:
                    raise Fallback
                tasks[row[0]] = TaskFacts._make(row)
        self.derived = self.cache.load_derived(catalog.generation)
        self.derived_changed = False
        self.facts = PlanFacts(tasks, epics, max_retries=settings["max_retries"],
                               archived_task=self._archived(ARCHIVE_TASKS_DIR, TaskFacts._make),
                               archived_epic=self._archived(ARCHIVE_EPICS_DIR, EpicFacts._make),
                               require_review=lambda: _required(settings), derived=self.derived)
        # Only task files changed since a generation whose facts were derived: follow them.
        self.before: tuple[dict[str, Any], list[str]] | None = None
        if not self.derived and catalog.follows is not None:
            generation, paths = catalog.follows
            if all(path.startswith(f"{TASKS_DIR}/") for path in paths):
                self.before = (self.cache.load_derived(generation),
                               [path[len(TASKS_DIR) + 1:-3] for path in paths if path.endswith(".md")])
                self.facts.follow(*self.before)

    def _settings(self) -> dict[str, Any]:
        """config.yaml's settings as ``Config`` reads them (catalog.SETTINGS)."""
        entry = self.work_tree.config_entry()
        settings = Catalog(entry, {}).settings()
        if settings is None or entry is None or entry[2] is not None:
            raise Fallback  # no config.yaml, or one that does not load: the normal path says
        return settings

    def keep_derived(self) -> None:
        """Keep what this read derived from the snapshot for the next read of it."""
        for key, value in self.facts.derived().items():
            if key not in self.derived:
                self.derived[key] = value
                self.derived_changed = True
        if self.derived_changed:
            self.cache.save_derived(self.catalog.generation, self.derived)

    def _archived(self, directory: str, make: Callable[[Any], Any]) -> Callable[[str], Any]:
        """``Plan.archived_task``/``archived_epic`` from the snapshot: None when there is no
        such file; a file there that does not load is the normal path's to report."""
        def lookup(item_id: str) -> Any:
            entry = self.catalog.entry(f"{directory}/{item_id}.md")
            if entry is None:
                return None
            if entry[1] is None:
                raise Fallback
            return make(entry[1])

        return lookup

    def resolve_epic(self, ref: str | None) -> str | None:
        return ids.resolve(ref, self.facts.epics, kind="epic") if ref else None

    def actor(self, override: str | None) -> str:
        if override not in self._actors:
            found = leangit.find_actor(override, lambda key: leangit.config_value(self.place.root, key))
            if found is None or not found.isprintable() or "\u2028" in found or "\u2029" in found \
                    or not _utf8(found):
                raise Fallback  # the normal path refuses it (model/text.one_line_field), in its words
            self._actors[override] = found
        return self._actors[override]

    def offer(self) -> queries.Offer:
        """What the actor may start (queries.Offer). A task a backoff or its files could hold
        back steps aside (``_LeanHeldBack``): availability.py reads history and claims for it."""
        who = self.actor(None)
        return queries.Offer(self.facts, who, self.held(who), _LeanHeldBack(self.facts))

    def held(self, actor: str) -> dict[str, str]:
        """``Claims.open(ws).held_map(actor)`` (queries.held_claims), without pygit2."""
        if actor not in self._held:
            self._held[actor] = self._held_map(actor)
        return self._held[actor]

    def _held_map(self, actor: str) -> dict[str, str]:
        settings = self._settings()
        lease = settings.get("claims.lease_seconds")
        if not isinstance(lease, int) or isinstance(lease, bool) or lease < 0:
            raise Fallback  # Claims.open refuses it, with its message
        remote = settings.get("claims.remote")
        prefixes = [(claimview.CLAIMS_PREFIX, "local")]
        if remote and leangit.config_value(self.place.root, f"remote.{remote}.url") is not None:
            prefixes.append((f"{claimview.REMOTE_CLAIMS_PREFIX}{remote}/", str(remote)))
        listed = leangit.refs(self.place.root, *(prefix for prefix, _ in prefixes), messages=True)
        if listed is None:
            raise Fallback
        found = claimview.namespace_claims(listed, prefixes, claimview.claim_record)
        every = claimview.merged(found[0], found[1] if len(found) > 1 else None, None)
        return claimview.held_map(every, actor, time.time(),
                                  leangit.read_repository_id(self.place.common_dir), _no_abandoned)

    def runs(self) -> list[dict[str, Any]]:
        """The registered runs, as `status` lists them (coordination/runs.list_runs)."""
        if not os.path.isdir(os.path.join(self.place.common_dir, "flow-runs", "registry")):
            return []  # no run was ever registered (runs.registry_dir): nothing to read
        from git_flowctl.coordination import runs

        return runs.list_runs(self.place.common_dir)

    def landing_key(self) -> tuple[Any, ...]:
        """What landed work depends on besides the plan: the default branch's tip and the
        ``flow/`` branches (coordination/landing.py)."""
        tip = self.tip()
        return ((tip.name, tip.oid) if tip is not None else ()) + self._task_branches

    def tip(self) -> leangit.Ref | None:
        """The default branch (``Workspace.default_branch_tip``); None when there is none."""
        if self._tip is None:
            configured = self._settings().get("default_branch")
            if configured is not None and not isinstance(configured, str):
                raise Fallback
            main_head = leangit.main_worktree_branch(self.place.common_dir)
            listed = leangit.refs(self.place.root, leangit.ORIGIN_HEAD,
                                  *leangit.default_candidates(configured, None, main_head),
                                  landing.TASK_BRANCHES)
            if listed is None:
                raise Fallback
            self._task_branches = tuple((ref.name, ref.oid) for ref in listed
                                        if ref.name.startswith(landing.TASK_BRANCHES))
            by_name = {ref.name: ref for ref in listed}
            origin_head = by_name.get(leangit.ORIGIN_HEAD)
            if origin_head is not None and origin_head.symref and origin_head.symref not in by_name:
                raise Fallback  # origin/HEAD points elsewhere: the normal path lists that ref
            found = leangit.default_branch_ref(by_name, configured, main_head)
            if found is not None and found.type != "commit":
                raise Fallback  # a tag: the normal path peels it
            self._tip = (found,)
        return self._tip[0]

    def landing(self) -> tuple[str | None, set[str]]:
        """(the default branch's name, the tasks landed on it): ``landing.landed_tasks``."""
        tip = self.tip()
        if tip is None:
            return None, set()
        known = self.derived.setdefault("landed", {})
        if tip.oid in known:  # landed on this tip, from this very snapshot, before
            if known[tip.oid] and self._task_branches:
                raise Fallback  # whether a flow/ branch is merged: landing.unmerged_task_branches
            return landing.branch_name(tip.name), set(known[tip.oid])
        derived, changed = self.before if self.before is not None else ({}, [])
        before = derived.get("landed")
        if isinstance(before, dict) and isinstance(before.get(tip.oid), list):
            # Landed on this tip before the changed tasks changed: look at those again only.
            tasks = self.facts.tasks
            done = [task_id for task_id in changed
                    if task_id in tasks and tasks[task_id].status == states.DONE]
            landed = set(before[tip.oid]).difference(changed)
            if done:
                landed |= landing.landed_of(done, self.catalog.blob, self._tree_catalog(tip.oid))
        else:
            done = [task.id for task in self.facts.tasks.values() if task.status == states.DONE]
            if not done:
                return landing.branch_name(tip.name), set()
            landed = landing.landed_of(done, self.catalog.blob, self._tree_catalog(tip.oid))
        if landed and self._task_branches:
            raise Fallback  # whether a flow/ branch is merged: landing.unmerged_task_branches
        known.clear()  # the newest tip only: the default branch moves forward
        known[tip.oid] = sorted(landed)
        self.derived_changed = True
        return landing.branch_name(tip.name), landed

    def _tree_catalog(self, commit: str) -> Catalog:
        """The catalog of a commit's plan: stored under its ``.flow`` tree ID (known by commit
        after the first time), else built from one ``git ls-tree`` with the entries of the
        stored catalogs; a blob none of them knows is left to the normal path."""
        flow_tree = self.cache.commit_trees().get(commit)
        if flow_tree == "":
            return Catalog(None, {})  # the commit has no .flow
        found = self.cache.load_tree(flow_tree) if flow_tree else None
        if found is not None:
            return found
        listed = leangit.output(self.place.root, "ls-tree", "-r", "-t", "-z", commit, "--", ".flow")
        if listed is None:
            raise Fallback
        flow_tree, listing = leangit.plan_listing(listed)
        self.cache.remember_commit_tree(commit, flow_tree or "")
        if not flow_tree:
            return Catalog(None, {})

        def unknown(path: str, blob: str) -> bytes | None:
            raise Fallback  # a blob no catalog knows: the normal path reads and parses it

        return tree_catalog(self.cache, flow_tree, lambda: listing, unknown,
                            Known(self.cache, self.catalog, work_tree=False))

    def task_file(self, path: str) -> tuple[dict[str, Any], str]:
        """A plan file's frontmatter and body as ``Document.parse`` reads them."""
        try:
            with open(os.path.join(self.place.root, path), "rb") as handle:
                raw = handle.read()
        except OSError:
            raise Fallback from None
        split = split_file(raw)
        data = load_simple(split[0]) if split is not None else None
        if split is None or data is None:
            raise Fallback  # YAML beyond the simple form: the normal path parses it
        return data, split[1]


# The commands (each the body of its click command) ---------------------------------------------


def _status(reader: _Reader, options: Options) -> dict[str, Any]:
    report = shapes.status_report(reader.facts, True, reader.offer())
    branch, landed = reader.landing()
    report["default_branch"] = branch
    report["landed"] = sorted(landed, key=ids.id_sort_key)
    report["not_landed"] = sorted((task.id for task in reader.facts.tasks.values()
                                   if task.status == states.DONE and task.id not in landed),
                                  key=ids.id_sort_key) if branch is not None else []
    report["runs"] = reader.runs()  # flowctl's key: the registered runs (views/reads.status_answer)
    return report


def _show(reader: _Reader, options: Options) -> dict[str, Any]:
    ref = options["args"][0]
    facts = reader.facts
    parsed = ids.parse_id(ref)
    if parsed is None:
        found = ids.resolve(ref, [*facts.epics, *facts.tasks])
        is_task = found in facts.tasks
    else:
        is_task = parsed.is_task
        found = ids.resolve(ref, facts.tasks if is_task else facts.epics,
                            kind="task" if is_task else "epic")
    branch, landed = reader.landing()
    if is_task:
        data, body = reader.task_file(task_path(found))
        detail = shapes.task_detail(facts, facts.tasks[found], data, body, reader.offer())
        detail["landed"] = found in landed
        detail["default_branch"] = branch
        return detail
    data, _ = reader.task_file(epic_path(found))
    detail = shapes.epic_detail(facts, facts.epics[found], data)
    shapes.mark_landed(detail["tasks"], landed)
    return detail


def _tasks(reader: _Reader, options: Options) -> dict[str, Any]:
    epic_id = reader.resolve_epic(options.get("--epic"))
    rows = shapes.task_rows(reader.facts, reader.offer(), epic_id, options.get("--status", ()),
                            options.get("--domain"))
    shapes.mark_landed(rows, reader.landing()[1])
    return {"tasks": rows, "count": len(rows)}


def _list(reader: _Reader, options: Options) -> dict[str, Any]:
    facts = reader.facts
    epics = [shapes.epic_summary(facts, epic) for epic in facts.sorted_epics()]
    tasks = [shapes.task_summary(facts, task) for task in facts.sorted_tasks()]
    shapes.mark_landed(tasks, reader.landing()[1])
    return {"epics": epics, "tasks": tasks, "epic_count": len(epics), "task_count": len(tasks)}


def _epics(reader: _Reader, options: Options) -> dict[str, Any]:
    rows = [shapes.epic_summary(reader.facts, epic) for epic in reader.facts.sorted_epics()]
    return {"epics": rows, "count": len(rows)}


def _ready(reader: _Reader, options: Options) -> dict[str, Any]:
    epic_id = reader.resolve_epic(options.get("--epic"))
    who = reader.actor(options.get("--actor"))
    _nothing_held_back(reader)
    return queries.ready_report(reader.facts, who, epic_id, held=reader.held(who))


def _next(reader: _Reader, options: Options) -> dict[str, Any]:
    epic_id = reader.resolve_epic(options.get("--epic"))
    who = reader.actor(options.get("--actor"))
    _nothing_held_back(reader)
    return queries.next_work(reader.facts, who, epic_id, held=reader.held(who))


class _LeanHeldBack(dict[str, str]):
    """queries.Offer's ``held_back`` on the lean path: only an up_for_retry task (a backoff)
    or one that owns files can be held back (availability.holdbacks); asked about one, the
    normal path answers."""

    def __init__(self, facts: PlanFacts) -> None:
        super().__init__()
        self.facts = facts

    def get(self, task_id: str, default: Any = None) -> Any:
        task = self.facts.tasks[task_id]
        if task.status == states.UP_FOR_RETRY or task.files:
            raise Fallback
        return default


def _nothing_held_back(reader: _Reader) -> None:
    """``ready`` and ``next`` answer here only when coordination/availability.py can hold
    nothing back: no task waits for a retry backoff (up_for_retry) and none owns files. Else
    the normal path answers (the backoff runs on time, and reads history)."""
    if any(task.status == states.UP_FOR_RETRY or task.files for task in reader.facts.tasks.values()):
        raise Fallback


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False  # lone surrogates: not UTF-8 (model/text.require_utf8)
    return True

def _blocked(reader: _Reader, options: Options) -> dict[str, Any]:
    epic_id = reader.resolve_epic(options.get("--epic"))
    rows = queries.blocked_rows(reader.facts, epic_id, reader.offer())
    return {"epic": epic_id, "blocked": rows, "count": len(rows)}


def _required(settings: dict[str, Any]) -> frozenset[str]:
    """``Config.require_review`` as stored; a setting it refuses is the normal path's to say."""
    kinds = settings.get("require_review")
    if not isinstance(kinds, list):
        raise Fallback
    return frozenset(kinds)


def _no_abandoned(claim: Any) -> bool:
    """Whether a record of detached-HEAD work is abandoned takes git's word (claims.Claims
    .abandoned): the normal path asks it."""
    raise Fallback


def _validate(reader: _Reader, options: Options) -> dict[str, Any]:
    raise Fallback  # the validator runs on the normal path, which keeps its answer


def _board(reader: _Reader, options: Options) -> dict[str, Any]:
    raise Fallback  # the board (history, critical path) is drawn on the normal path, which keeps it


_REPEATED_ONLY = (_validate, _board)  # answered here only from a stored answer
_COMMANDS: dict[str, Callable[[_Reader, Options], dict[str, Any]]] = {
    "status": _status, "show": _show, "tasks": _tasks, "list": _list, "epics": _epics,
    "ready": _ready, "next": _next, "blocked": _blocked, "validate": _validate,
    "board": _board,
}


def code_stamp(command: str) -> tuple[int, ...]:
    """The mtimes of the files whose code makes the command's answer: a stored answer is not
    used by other code, even of the same version (an editable install, a rebuilt wheel)."""
    base = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stamp = []
    extra = {"validate": _VALIDATE_CODE, "board": _BOARD_CODE}.get(command, ())
    for name in _ANSWER_CODE + extra:
        try:
            stamp.append(os.stat(os.path.join(base, name)).st_mtime_ns)
        except OSError:
            stamp.append(0)
    return tuple(stamp)


def _answer_name(key: tuple[Any, ...]) -> str:
    text = repr(key[1:]).encode("utf-8", "surrogateescape")
    return f"answer-{zlib.crc32(text):08x}{zlib.adler32(text):08x}"


def read_answer(cache: PlanCache, key: tuple[Any, ...] | None) -> tuple[str, int] | None:
    """A stored answer's (text, exit code) under exactly this key."""
    if key is None:
        return None
    found = cache.read(_answer_name(key))
    if not isinstance(found, tuple) or len(found) != 3 or found[0] != repr(key) \
            or not isinstance(found[1], str) or not isinstance(found[2], int):
        return None
    return found[1], found[2]


def write_answer(cache: PlanCache, key: tuple[Any, ...] | None, text: str, code: int) -> None:
    """Keep an answer under its key (none when the catalog could not be stored)."""
    if key is not None:
        cache.write(_answer_name(key), (repr(key), text, code))
        cache.prune("answer-", KEEP_ANSWERS)


def remember_answer(common_dir: str, root: str, generation: str | None, words: list[str],
                    text: str, code: int, inputs: tuple[Any, ...] = ()) -> None:
    """Keep what the normal path printed for a command the lean path only repeats
    (`validate`, `board`), when the work tree is still the catalog of ``generation`` it was
    computed from (a file changed meanwhile: nothing is kept). ``inputs``: as ``answer_key``
    names them (``board_inputs``)."""
    if generation is None:
        return
    cache = PlanCache(common_dir, root)
    if WorkTree(cache, root).generation == generation:
        write_answer(cache, (generation, tuple(words), inputs, code_stamp(words[0])), text, code)


def landing_inputs(root: str) -> tuple[Any, ...] | None:
    """``_Reader.landing_key`` for the work tree at ``root``; None where the lean path steps aside."""
    place = leangit.locate(root)
    if place is None:
        return None
    try:
        return _Reader(place).landing_key()
    except Fallback:
        return None


def board_inputs(head: str, actor: str, held: dict[str, str]) -> tuple[Any, ...]:
    """What a board depends on besides the plan: the commit its latest transitions come from,
    the actor and the claims."""
    return (head, actor, tuple(sorted(held.items())))

