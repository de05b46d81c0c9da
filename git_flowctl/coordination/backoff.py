"""Retry backoff (issue #16, part 2): when an up_for_retry task may be picked up again.

``retry_backoff`` in config.yaml (``base`` seconds, ``factor``, ``max`` seconds; a task's own
``retry_backoff`` overrides any of them, or is a number: its base) spaces the attempts of a
failing task: after its n-th failed attempt it waits ``min(max, base * factor ** (n - 1))``.

Nothing stores the time: ``retry_after`` is derived from the history of the branch, from the
``fail`` transition that made the task up_for_retry (its ``id`` is a ULID, whose first ten
characters are the millisecond it was written; a transition id that is not a ULID falls back to
the commit's author time). So it survives clones and needs no clock in a file. An ``expire``
(an expired lease, issue #16 part 1) has waited its lease out already: it adds no backoff, nor
does an up_for_retry set by import, recover or restore.

Cost: the history is read (the replay cache continues from the last cached commit) only when
some task asked about is up_for_retry and the backoff is not zero; otherwise nothing is read.
Standard library only at import time, so the lean read paths can call it too.
"""

from __future__ import annotations

import math
import time

from git_flowctl.model.errors import FlowError

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

KEYS = ("base", "factor", "max")
DEFAULT = {"base": 30.0, "factor": 2.0, "max": 600.0}


class Backoff:
    """``base`` seconds after the first failed attempt, times ``factor`` after each next one,
    never more than ``max``."""

    __slots__ = ("base", "factor", "max")

    def __init__(self, base: float, factor: float, maximum: float) -> None:
        self.base = base
        self.factor = factor
        self.max = maximum

    @classmethod
    def of(cls, configured: Any, override: Any = None, where: str = "retry_backoff") -> Backoff:
        """The backoff from config.yaml's ``retry_backoff`` and a task's own (either may be a
        mapping of some of base/factor/max, or a number: the base)."""
        values = dict(DEFAULT)
        for value, origin in ((configured, where), (override, "the task's retry_backoff")):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
                raise FlowError(f"{origin} must be a number of seconds or a mapping of "
                                f"base, factor and max, not {value!r}",
                                hint="git flow-task config set retry_backoff.base 30")
            given = {"base": value} if not isinstance(value, dict) else value
            for key, number in given.items():
                if key not in KEYS:
                    raise FlowError(f"{origin}: unknown key {key!r} (base, factor, max)",
                                    hint="retry_backoff: {base: 30, factor: 2, max: 600}")
                if isinstance(number, bool) or not isinstance(number, (int, float)) \
                        or number < 0 or math.isnan(number) or math.isinf(number):
                    raise FlowError(f"{origin}.{key} must be a number of seconds >= 0, "
                                    f"not {number!r}",
                                    hint=f"git flow-task config set retry_backoff.{key} 30")
                values[str(key)] = float(number)
        return cls(values["base"], values["factor"], values["max"])

    @property
    def off(self) -> bool:
        return self.base <= 0 or self.max <= 0

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        if self.off or attempts < 1:
            return 0.0
        try:
            grown = self.base * self.factor ** (attempts - 1)
        except OverflowError:
            grown = self.max
        return min(self.max, grown)

    def as_json(self) -> dict[str, float]:
        return {"base": self.base, "factor": self.factor, "max": self.max}


def failed_at(root: str, common_dir: str, rev: str, task_ids: Iterable[str]) -> dict[str, float]:
    """For each task, the time (epoch seconds) of the ``fail`` that made it up_for_retry in
    REV's history; absent when its latest change into up_for_retry was something else."""
    wanted = list(task_ids)
    if not wanted:
        return {}
    from git_flowctl.history.replay import GitReader, replay
    from git_flowctl.model.ulid import is_ulid, ulid_milliseconds

    history = replay(GitReader(root, common_dir), rev)
    found: dict[str, float] = {}
    for task_id in wanted:
        for event in reversed(history.standing(task_id)):
            if event.target != "up_for_retry":
                continue
            if event.action == "fail":
                found[task_id] = (ulid_milliseconds(event.transition_id) / 1000
                                  if is_ulid(event.transition_id) else float(event.timestamp))
            break
    return found


def retry_after(root: str, common_dir: str, rev: str, waiting: Mapping[str, tuple[int, Backoff]],
                now: float | None = None) -> dict[str, float]:
    """The tasks of ``waiting`` (task -> its attempts and backoff; each up_for_retry) whose
    backoff has not passed yet, with the time (epoch seconds) each comes back."""
    chosen = {task_id: spec for task_id, spec in waiting.items()
              if spec[1].delay(spec[0]) > 0}
    if not chosen:
        return {}
    now = time.time() if now is None else now
    found = {}
    for task_id, failed in failed_at(root, common_dir, rev, chosen).items():
        attempts, backoff = chosen[task_id]
        comes_back = failed + backoff.delay(attempts)
        if comes_back > now:
            found[task_id] = comes_back
    return found


def iso_ms(timestamp: float) -> str:
    """``2026-01-05T10:00:02.500Z``: retry times are finer than a second (rounded up)."""
    whole, millis = divmod(math.ceil(timestamp * 1000), 1000)  # never earlier than it is
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"
