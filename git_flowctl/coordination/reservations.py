"""Epic and task number reservations (DESIGN §1, IDs): one create-only ref per number.

Reading every branch's ``.flow/epics`` (numbering.taken_epic_numbers) finds the numbers that are
committed somewhere, but not those that another worktree or clone is taking at this moment. So
`epic create` also reserves its number: it creates ``refs/flow/epic-numbers/<prefix>-<N>`` only
if it is absent (refs are shared by every worktree of a repository), and, when ``claims.remote``
is set, pushes that ref create-only to the remote the way claims are pushed (DESIGN §6). A number
whose ref exists here or on the remote is taken: the next one is tried. With the remote
unreachable, the reservation is local and the result says so. Reservations are never removed by
success (one small ref per epic); a create that fails gives its number back.

Task numbers are reserved the same way (issue #13, finding 8), per epic:
``refs/flow/task-numbers/<epic-id>.<M>`` (``TaskNumbers``), so two worktrees or clones that each
`task create` in one epic get different numbers, and a `--no-commit` create stashed away keeps
its number.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from git_flowctl.coordination.claims import ClaimRefs, RemoteClaims, iso
from git_flowctl.model.errors import ConflictError

if TYPE_CHECKING:
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.repo.writer import Change, Mode, Outcome, Writer

RESERVATIONS_PREFIX = "refs/flow/epic-numbers/"
REMOTE_RESERVATIONS_PREFIX = "refs/flow/remote-epic-numbers/"
TASK_RESERVATIONS_PREFIX = "refs/flow/task-numbers/"
REMOTE_TASK_RESERVATIONS_PREFIX = "refs/flow/remote-task-numbers/"
_ATTEMPTS = 100  # numbers tried before giving up (each one found taken by a racer)


@dataclass
class Reservation:
    number: int
    key: str  # <prefix>-<N> (an epic's) or <epic-id>.<M> (a task's), the ref's last component
    oid: str  # the reservation commit
    remote: str | None  # where it is reserved too (None: here only)
    note: str | None  # why it is local only, when a remote is configured
    namespace: str = RESERVATIONS_PREFIX

    @property
    def ref(self) -> str:
        return f"{self.namespace}{self.key}"

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ref": self.ref, "scope": "remote" if self.remote else "local"}
        if self.remote:
            data["remote"] = self.remote
        if self.note:
            data["note"] = self.note
        return data


class EpicNumbers:
    """The reservation refs of one workspace, and of its claims remote when one is configured."""

    LOCAL_PREFIX = RESERVATIONS_PREFIX
    REMOTE_PREFIX = REMOTE_RESERVATIONS_PREFIX
    WHAT = "epic"
    SEPARATOR = "-"  # fn-3: the key is the prefix, this, and the number

    def __init__(self, ws: Workspace, prefix: str, remote_name: str | None = None) -> None:
        self.ws = ws
        self.prefix = prefix
        self.local = ClaimRefs(ws, self.LOCAL_PREFIX)
        self.remote_name = remote_name
        self.remote: RemoteClaims | None = None
        self.problem: str | None = None
        if remote_name:
            remote = RemoteClaims(ws, remote_name, self.LOCAL_PREFIX, self.REMOTE_PREFIX)
            if remote.exists():
                self.remote = remote
            else:
                self.problem = f"no git remote named {remote_name!r}"

    def _key(self, number: int) -> str:
        return f"{self.prefix}{self.SEPARATOR}{number}"

    def reserved(self) -> set[int]:
        """Numbers reserved here or seen reserved on the remote (as last fetched)."""
        numbers: set[int] = set()
        start = f"{self.prefix}{self.SEPARATOR}"
        for name in self.ws.repo.listall_references():
            if not name.startswith((self.LOCAL_PREFIX, self.REMOTE_PREFIX)):
                continue
            key = name.rsplit("/", 1)[-1]
            if key.startswith(start) and key[len(start):].isdigit():
                numbers.add(int(key[len(start):]))
        return numbers

    def refresh(self) -> None:
        """Fetch the remote's reservations; a failure is remembered, and pushing still tried
        (a push can reach a remote that a fetch cannot, through a push URL)."""
        if self.remote is not None:
            problem = self.remote.fetch()
            if problem:
                self.problem = f"remote {self.remote_name!r} unreachable ({problem})"

    def reserve(self, taken: set[int], epic_id_for: Callable[[int], str], actor: str) -> Reservation:
        """The lowest number above every taken or reserved one that this call could reserve.

        ``epic_id_for(number)`` names the epic in the reservation's message."""
        self.refresh()
        number = max(taken | self.reserved(), default=0) + 1
        for _ in range(_ATTEMPTS):
            reservation = self._try(number, epic_id_for(number), actor)
            if reservation is not None:
                return reservation
            number += 1  # another worktree or clone reserved it first
        raise ConflictError(f"could not reserve {self.WHAT} number after {_ATTEMPTS} tries",
                            hint="other clones keep taking them; try again")

    def reserve_exact(self, number: int, epic_id: str, actor: str) -> Reservation:
        """Reserve ``number`` itself (``renumber --to``); exit 3 when someone holds it."""
        self.refresh()
        reservation = None if number in self.reserved() else self._try(number, epic_id, actor)
        if reservation is None:
            raise ConflictError(f"{self.WHAT} number {number} is reserved by another create or "
                                "renumber", hint="leave --to out to take the next free number")
        return reservation

    def _try(self, number: int, epic_id: str, actor: str) -> Reservation | None:
        """Reserve ``number`` here, then on the remote; None when either already has it."""
        key = self._key(number)
        oid = self._commit(f"flow: {self.WHAT} number {key} for {epic_id}\n\n"
                           f"Reserved-By: {actor}\nReserved-At: {iso(time.time())}\n")
        if not self.local.swap(key, None, oid):
            return None
        if self.remote is None:
            return Reservation(number, key, oid, None, self.problem, self.LOCAL_PREFIX)
        pushed = self.remote.push(key, None, oid)
        if pushed.ok:
            return Reservation(number, key, oid, self.remote_name, None, self.LOCAL_PREFIX)
        if pushed.rejected:  # another clone reserved it first: it stays taken here too
            self.local.swap(key, oid, None)
            return None
        return Reservation(number, key, oid, None,
                           f"remote {self.remote_name!r} unreachable ({pushed.problem})",
                           self.LOCAL_PREFIX)

    def release(self, reservation: Reservation) -> None:
        """Give a number back (the create that reserved it failed)."""
        if reservation.remote is not None and self.remote is not None:
            self.remote.push(reservation.key, reservation.oid, None)
        self.local.swap(reservation.key, reservation.oid, None)

    def _commit(self, message: str) -> str:
        import pygit2

        repo = self.ws.repo
        signature = pygit2.Signature("git flow-task", "flow-task@localhost", int(time.time()), 0)
        empty_tree = repo.TreeBuilder().write()
        return str(repo.create_commit(None, signature, signature, message, empty_tree, []))


class TaskNumbers(EpicNumbers):
    """Task numbers of one epic: ``refs/flow/task-numbers/<epic-id>.<M>`` (and the remote's
    mirrored under ``refs/flow/remote-task-numbers/<remote>/``)."""

    LOCAL_PREFIX = TASK_RESERVATIONS_PREFIX
    REMOTE_PREFIX = REMOTE_TASK_RESERVATIONS_PREFIX
    WHAT = "task"
    SEPARATOR = "."

    def __init__(self, ws: Workspace, epic_id: str, remote_name: str | None = None) -> None:
        super().__init__(ws, epic_id, remote_name)


def apply_with_numbers(numbers: EpicNumbers, writer: Writer, mode: Mode, *,
                       reserve: Callable[[list[Reservation]], None],
                       build: Callable[[Plan, list[Reservation] | None], Change],
                       ) -> tuple[Outcome, list[Reservation]]:
    """Run ``build(plan, reservations)`` through the writer with the numbers that ``reserve``
    adds to the list it is given first (None and nothing reserved on a dry run, where ``build``
    picks free numbers itself); every number is given back if reserving or writing fails (the
    shape of claims.apply_with_claim)."""
    from git_flowctl.repo.writer import Mode

    if mode is Mode.DRY_RUN:
        return writer.apply(lambda plan: build(plan, None), mode), []
    reserved: list[Reservation] = []
    try:
        reserve(reserved)
        return writer.apply(lambda plan: build(plan, reserved), mode), reserved
    except BaseException:
        for reservation in reserved:
            numbers.release(reservation)
        raise


def apply_with_task_number(ws: Workspace, epic_ref: str, writer: Writer, mode: Mode, actor: str,
                           create: Callable[[Plan, int | None, set[int]], Change]) -> Outcome:
    """`task create` with its number reserved (``TaskNumbers``): ``create(plan, number, taken)``
    builds the change for the reserved number (None on a dry run, with the numbers taken on
    other branches and reserved). Shared by the CLI and the MCP server."""
    return apply_with_task_numbers(
        ws, writer, mode, actor, 1,
        lambda plan, numbers, taken: create(plan, numbers[0] if numbers else None, taken),
        epic_ref=epic_ref)


def apply_with_task_numbers(ws: Workspace, writer: Writer, mode: Mode, actor: str, count: int,
                            create: Callable[[Plan, list[int] | None, set[int]], Change], *,
                            epic_ref: str | None = None, task_ref: str | None = None) -> Outcome:
    """Reserve ``count`` task numbers in the epic ``epic_ref`` names (or ``task_ref``'s epic:
    `task split`), then write ``create(plan, numbers, taken)``. An epic or task that does not
    resolve here goes to the builder as it is, which says what is wrong."""
    from git_flowctl.coordination.numbering import taken_task_numbers
    from git_flowctl.model import ids
    from git_flowctl.model.config import CONFIG_PATH, Config
    from git_flowctl.model.errors import FlowError
    from git_flowctl.model.items import EPICS_DIR, TASKS_DIR

    source = ws.work_tree_source()  # IDs and the config only: no whole plan read
    try:
        if task_ref is not None:
            names = source.list_files(TASKS_DIR)
            epic_id = ids.epic_of(ids.resolve(task_ref, sorted(
                name[:-3] for name in names if name.endswith(".md")), kind="task"))
        else:
            assert epic_ref is not None
            epic_id = ids.resolve(epic_ref, sorted(name[:-3] for name in source.list_files(EPICS_DIR)
                                                   if name.endswith(".md")), kind="epic")
        remote = Config.parse(source.read(CONFIG_PATH)).get("claims.remote")
    except FlowError:
        return writer.apply(lambda plan: create(plan, None, set()), mode)
    numbers = TaskNumbers(ws, epic_id, str(remote) if remote else None)
    taken = taken_task_numbers(ws, epic_id) | numbers.reserved()

    def reserve(into: list[Reservation]) -> None:
        for _ in range(count):
            into.append(numbers.reserve(taken | {r.number for r in into},
                                        lambda number: ids.make_task_id(epic_id, number), actor))

    def build(plan: Plan, reserved: list[Reservation] | None) -> Change:
        change = create(plan, [r.number for r in reserved] if reserved else None, taken)
        if reserved:
            change.result["reservation" if count == 1 else "reservations"] = \
                reserved[0].as_json() if count == 1 else [r.as_json() for r in reserved]
        return change

    outcome, _ = apply_with_numbers(numbers, writer, mode, reserve=reserve, build=build)
    return outcome
