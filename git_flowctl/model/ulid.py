"""ULIDs (https://github.com/ulid/spec): 48-bit millisecond time, 80 random bits, Crockford base32.

Each transition carries one as ``id=`` so that a cherry-pick, rebase or squash that copies the
trailer line is counted once.
"""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def new_ulid(milliseconds: int | None = None) -> str:
    stamp = int(time.time() * 1000) if milliseconds is None else milliseconds
    value = (stamp << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_ulid(text: str) -> bool:
    return bool(ULID_RE.match(text))


def ulid_milliseconds(text: str) -> int:
    value = 0
    for char in text[:10]:
        value = value * 32 + _ALPHABET.index(char)
    return value
