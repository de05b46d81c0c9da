"""``typing.NamedTuple``'s class syntax, built by ``collections.namedtuple`` at run time.

The lean paths (the commit hooks, ``log --json``: bench/) cannot afford ``dataclasses`` (it
imports ``inspect`` and ``ast``, and compiles code for every class) nor ``typing``. Modules on
those paths declare their records as type checkers know them::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from git_flowctl.model.tuples import NamedTuple

    class Point(NamedTuple):
        x: int
        y: int = 0

        def norm(self) -> int: ...

mypy checks them as ``typing.NamedTuple`` classes; at run time this module makes the same class
(fields in order, defaults, methods and properties) with ``collections.namedtuple``.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# What a class body holds besides fields and members.
_NOT_MEMBERS = frozenset({"__module__", "__qualname__", "__annotations__"})


class _Builder(type):
    def __new__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        if not bases:
            return super().__new__(cls, name, bases, namespace)  # NamedTuple itself
        if "__classcell__" in namespace:
            raise TypeError(f"{name}: methods of a NamedTuple cannot use super() or __class__")
        fields = list(namespace.get("__annotations__", {}))
        defaults = [namespace[field] for field in fields if field in namespace]
        if any(field not in namespace for field in fields[len(fields) - len(defaults):]):
            raise TypeError(f"{name}: a field without a default follows one with a default")
        built = namedtuple(name, fields, defaults=defaults,  # type: ignore[misc]  # fields known at run time
                           module=namespace["__module__"])
        for key, value in namespace.items():
            if key not in _NOT_MEMBERS and key not in fields:
                setattr(built, key, value)
        return built


class NamedTuple(metaclass=_Builder):
    """Subclass to declare a record (see the module docstring); the subclass is a namedtuple."""
