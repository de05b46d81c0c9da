"""git_flowctl.model.tuples builds what typing.NamedTuple builds, without importing typing."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest

from git_flowctl.model import tuples


def _point(base: type) -> type:
    class Point(base):
        """A point on a grid."""

        x: int
        y: int = 0
        label: str | None = None

        @property
        def norm(self) -> int:
            return abs(self.x) + abs(self.y)

        def moved(self, dx: int) -> typing.Any:
            return self._replace(x=self.x + dx)

    return Point


def test_the_same_class_as_typing_builds() -> None:
    ours, theirs = _point(tuples.NamedTuple), _point(typing.NamedTuple)
    assert ours._fields == theirs._fields == ("x", "y", "label")
    assert ours._field_defaults == theirs._field_defaults == {"y": 0, "label": None}
    assert ours.__doc__ == theirs.__doc__ == "A point on a grid."
    assert ours.__module__ == theirs.__module__ == __name__
    point = ours(-2, label="a")
    assert point == (-2, 0, "a") == theirs(-2, label="a")
    assert (point.norm, point.moved(5), repr(point)) == (2, ours(3, 0, "a"), "Point(x=-2, y=0, label='a')")
    assert isinstance(point, tuple) and hash(point) == hash((-2, 0, "a"))
    with pytest.raises(AttributeError):
        point.x = 1


def test_misdeclared_classes_are_refused() -> None:
    with pytest.raises(TypeError, match="without a default follows"):
        class Bad(tuples.NamedTuple):
            x: int = 0
            y: int
    with pytest.raises(TypeError, match="super"):
        class Child(tuples.NamedTuple):
            x: int

            def __repr__(self) -> str:
                return super().__repr__()


def test_the_lean_modules_import_neither_typing_nor_dataclasses() -> None:
    code = ("import sys\n"
            "import git_flowctl.entry, git_flowctl.history.timeline, git_flowctl.history.replay, git_flowctl.model.ids\n"
            "print(sorted({'typing', 'dataclasses', 'git_flowctl.model.trailers'} & set(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
