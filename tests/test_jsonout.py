"""print_json prints what json.dumps(indent=2, ensure_ascii=False, default=str) would."""

from __future__ import annotations

import json
import math
import random
from collections import OrderedDict
from datetime import date
from typing import Any

import pytest

from git_flowctl.views.jsonout import dumps


class Text(str):
    pass


class Number(int):
    pass


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth < 3 and roll < 0.15:
        return {_key(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 3 and roll < 0.3:
        items = [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
        return tuple(items) if rng.random() < 0.2 else items
    return rng.choice([
        None, True, False, 0, -7, 2**70, 1.5, -0.0, math.inf, -math.inf, math.nan, 1e300,
        "", "plain", "quote \" and \\ backslash", "tab\tnew\nline\x00\x1f", "caf\u00e9 \u2028 \U0001F600",
        Text("sub"), Number(3), date(2026, 1, 5), b"bytes", {1, 2}, OrderedDict(a=1), "</script>",
    ])


def _key(rng: random.Random) -> Any:
    return rng.choice(["id", "title", "é", "", "a\"b", 1, 2.5, True, False, None, Number(4)])


@pytest.mark.parametrize("seed", range(6))
def test_same_bytes_as_json_dumps(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2000):
        data = {_key(rng): _value(rng, 0) for _ in range(rng.randint(0, 5))}
        assert dumps(data) == json.dumps(data, indent=2, ensure_ascii=False, default=str)


def test_unusable_keys_are_refused_as_json_refuses_them() -> None:
    with pytest.raises(TypeError):
        json.dumps({(1, 2): 1}, indent=2, default=str)
    with pytest.raises(TypeError, match="keys must be str"):
        dumps({(1, 2): 1})
