"""``.flow/config.yaml``: project settings, all optional, with defaults."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from git_flowctl.model.document import DocumentError, load_yaml
from git_flowctl.model.layout import CONFIG_PATH as CONFIG_PATH  # re-exported
from git_flowctl.model.reviews import KINDS as REVIEW_KINDS

TYPE_CHECKING = False  # typing's import costs the hooks' start-up time (guard/hooklean.py)
if TYPE_CHECKING:
    from typing import Any

DEFAULTS: dict[str, Any] = {
    "prefix": "fn",
    "slug_max": 20,
    "max_retries": 2,
    "default_branch": None,
    "require_evidence": False,
    "link_commits": False,
    "claims": {"remote": None, "lease_seconds": 3600},
    # Seconds before an up_for_retry task is offered again (issue #16, coordination/backoff.py)
    "retry_backoff": {"base": 30, "factor": 2, "max": 600},
    # Quality gates (issue #15, docs/gates.md)
    "require_verify": False,
    "require_review": None,
    "guard": {},
    # Landing (issue #17, docs/landing.md)
    "land": {"strategy": "merge", "on_failure": "fail"},
}

# Sections whose keys are the project's own names (the guard's commands): every key below them
# is a known setting.
OPEN_SECTIONS = frozenset({"guard"})

CONFIG_TEMPLATE = """\
# git flow-task project settings. Every key is optional; these are the defaults.
# Reference: docs/file-format.md#config
prefix: fn              # epic IDs look like fn-1-slug, tasks fn-1-slug.1
slug_max: 20            # longest slug in an ID, cut at a word boundary
max_retries: 2          # `fail` gives a task back as up_for_retry this many times
retry_backoff:          # an up_for_retry task is offered again min(max, base * factor^(n-1))
  base: 30              #   seconds after its n-th failed attempt (a task's retry_backoff overrides)
  factor: 2
  max: 600
default_branch: null    # branch where work lands; null: origin/HEAD, else main or master
require_evidence: false # `done` must carry --evidence
link_commits: false     # prepare-commit-msg adds Flow-Task: ID to code commits
claims:
  remote: null          # e.g. origin: claims are pushed there, so clones never collide
  lease_seconds: 3600   # a claim expires unless `heartbeat` extends it
require_verify: false   # `done` must pass the guard (--verify); check and pre-push report done-unverified
require_review: null    # plan, completion or [plan, completion]: a SHIP verdict is needed first
guard: {}               # named check commands (`guard detect --write` proposes them)
land:
  strategy: merge       # how `land` brings a task's branch in: merge, rebase or squash
  on_failure: fail      # a branch that cannot land (conflict, guard) leaves its task failed, or block
"""


def _whole(low: int, high: int) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) \
        and low <= value <= high


def _name_or_null(value: Any) -> bool:
    """A branch or remote name: one word of printable characters (git refuses the rest)."""
    return value is None or (isinstance(value, str) and re.fullmatch(r"[^\s\x00-\x1f\x7f]+", value)
                             is not None and not value.startswith("-"))


# What each setting may hold (issue #14: `config set slug_max "a b"` or `prefix null` used to be
# written and break every later command). Checked by `config set`, by the writer for every
# config.yaml it commits, when a setting is read, and by `validate` (config-invalid).
SETTINGS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "prefix": (lambda value: isinstance(value, str)
               and re.fullmatch(r"[a-z][a-z0-9]{0,15}", value) is not None,
               "a word of 1 to 16 lower-case letters and digits, starting with a letter (fn)"),
    "slug_max": (_whole(1, 200), "a whole number from 1 to 200"),
    "max_retries": (_whole(0, 1000), "a whole number from 0 to 1000"),
    "default_branch": (_name_or_null, "a branch name, or null"),
    "require_evidence": (lambda value: isinstance(value, bool), "true or false"),
    "link_commits": (lambda value: isinstance(value, bool), "true or false"),
    "claims": (lambda value: value is None or isinstance(value, dict),
               "a mapping (remote, lease_seconds)"),
    "claims.remote": (_name_or_null, "a git remote's name, or null"),
    "claims.lease_seconds": (_whole(0, 10 * 365 * 86400), "a whole number of seconds, 0 or more"),
    "require_verify": (lambda value: isinstance(value, bool), "true or false"),
    "require_review": (lambda value: value is None or value is False or value in REVIEW_KINDS
                       or (isinstance(value, list) and bool(value)
                           and all(isinstance(kind, str) and kind in REVIEW_KINDS for kind in value)),
                       f"null, {' or '.join(sorted(REVIEW_KINDS))}, or a list of them"),
    "guard": (lambda value: value is None or isinstance(value, dict),
              "a mapping of check names to commands"),
    "land": (lambda value: value is None or isinstance(value, dict),
             "a mapping (strategy, on_failure)"),
    "land.strategy": (lambda value: value in ("merge", "rebase", "squash"),
                      "merge, rebase or squash"),
    "land.on_failure": (lambda value: value in ("fail", "block"), "fail or block"),
}


@dataclass
class Config:
    """.flow/config.yaml as parsed; ``get`` falls back to the defaults."""

    raw: dict[str, Any] = field(default_factory=dict)
    # Settings holding a value of the wrong type or range: key -> (line, what it must be).
    problems: dict[str, tuple[int | None, str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: bytes | None, path: str = CONFIG_PATH) -> Config:
        if text is None:
            return cls({})
        try:
            decoded = text.decode("utf-8")
            data = load_yaml(decoded)
        except UnicodeDecodeError:
            raise DocumentError(path, None, "not valid UTF-8", hint="save it as UTF-8") from None
        except Exception as exc:  # yaml.YAMLError, without importing yaml's names here
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise DocumentError(path, line, f"invalid YAML: {problem}",
                                hint=getattr(exc, "hint", None)) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise DocumentError(path, 1, "config must be a mapping of `key: value` lines")
        return cls(data, _problems(data, decoded))

    def check(self, path: str = CONFIG_PATH) -> None:
        """Raise for the first setting with a value of the wrong type or range."""
        for key in self.problems:
            raise self._error(key, path)

    def check_key(self, key: str, path: str = CONFIG_PATH) -> None:
        if key in self.problems:
            raise self._error(key, path)

    def _error(self, key: str, path: str = CONFIG_PATH) -> DocumentError:
        line, wanted = self.problems[key]
        value = self._raw_value(key)
        return DocumentError(path, line, f"{key} must be {wanted}, not {value!r}",
                             hint=f"set it with `git flow-task config set {key} VALUE`")

    def _raw_value(self, dotted: str) -> Any:
        node: Any = self.raw
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def get(self, dotted: str) -> Any:
        """A setting by dotted key (``claims.remote``), falling back to the default; a known
        setting holding a value of the wrong type is an error naming it (exit 1)."""
        for key in self.problems:
            if key == dotted or key.startswith(f"{dotted}.") or dotted.startswith(f"{key}."):
                raise self._error(key)
        for source in (self.raw, DEFAULTS):
            node: Any = source
            for part in dotted.split("."):
                if not isinstance(node, dict) or part not in node:
                    break
                node = node[part]
            else:
                return copy.deepcopy(node)
        return None

    @property
    def prefix(self) -> str:
        return str(self.get("prefix"))

    @property
    def slug_max(self) -> int:
        return int(self.get("slug_max"))

    @property
    def max_retries(self) -> int:
        return int(self.get("max_retries"))

    @property
    def require_evidence(self) -> bool:
        return bool(self.get("require_evidence"))

    @property
    def link_commits(self) -> bool:
        return bool(self.get("link_commits"))

    @property
    def require_verify(self) -> bool:
        return bool(self.get("require_verify"))

    @property
    def require_review(self) -> frozenset[str]:
        """The review kinds that need a SHIP verdict (``require_review``: a kind or a list)."""
        from git_flowctl.model.errors import FlowError

        value = self.get("require_review")
        kinds = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        if value not in (None, False) and (not kinds or any(k not in REVIEW_KINDS for k in kinds)):
            raise FlowError(f"{CONFIG_PATH}: require_review: {value!r} is not plan, completion "
                            "or a list of them", hint="git flow-task config set require_review plan")
        return frozenset(kinds)


def _problems(data: dict[str, Any], text: str) -> dict[str, tuple[int | None, str]]:
    found: dict[str, tuple[int | None, str]] = {}
    for key, (valid, wanted) in SETTINGS.items():
        node: Any = data
        present = True
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                present = False
                break
            node = node[part]
        if present and not valid(node):
            found[key] = (_line_of(text, key), wanted)
    return found


def _line_of(text: str, dotted: str) -> int | None:
    """The line of a setting in config.yaml (for messages): its last part, under the first."""
    parts = dotted.split(".")
    start = 0
    lines = text.splitlines()
    for depth, part in enumerate(parts):
        pattern = re.compile(rf"^{'[ ]+' if depth else ''}{re.escape(part)}[ \t]*:")
        for number in range(start, len(lines)):
            if pattern.match(lines[number]):
                start = number + 1
                break
        else:
            return None
    return start


def check_value(dotted: str, value: Any) -> str | None:
    """Why ``value`` cannot be the setting ``dotted`` (None: it can)."""
    rule = SETTINGS.get(dotted)
    if rule is not None and not rule[0](value):
        return f"{dotted} must be {rule[1]}, not {value!r}"
    return None


def known_key(dotted: str) -> bool:
    if dotted.split(".", 1)[0] in OPEN_SECTIONS:
        return True
    node: Any = DEFAULTS
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def coerce_setting(dotted: str, text: str) -> Any:
    """``coerce_value`` for a setting: a guard command line stays text (``true`` is a command)."""
    parts = dotted.split(".")
    if parts[0] == "guard" and (len(parts) == 2 or parts[2:] == ["run"]):
        return text
    return coerce_value(text)


def coerce_value(text: str) -> Any:
    """A value typed on the command line, read as YAML (``3`` -> 3, ``true`` -> True)."""
    try:
        return load_yaml(text)
    except Exception:
        return text


def set_config_value(text: str, dotted: str, value: Any) -> str:
    """``text`` with one setting changed; other lines and comments kept as they were.

    A scalar whose key already has a one-line value is replaced in place (its trailing comment
    stays); anything else re-renders that top-level key's block.
    """
    import re

    from git_flowctl.model.document import Document, dump_yaml

    lines = text.splitlines(keepends=True)
    parts = dotted.split(".")
    if not isinstance(value, (dict, list)):
        scalar = dump_yaml(value).removesuffix("\n").removesuffix("\n...")
        indent, start = "", 0
        for depth, part in enumerate(parts):
            pattern = re.compile(rf"^{indent}(?P<key>{re.escape(part)})(?P<sep>\s*:)(?P<rest>.*?)(?P<nl>\r?\n?)$")
            for number in range(start, len(lines)):
                line = lines[number]
                if line.strip() and not line.startswith(indent) and depth:
                    break  # left the parent block
                match = pattern.match(line)
                if match is None:
                    continue
                if depth == len(parts) - 1:
                    rest = match.group("rest")
                    comment = re.search(r"\s+#.*$", rest)
                    value_text = (rest[:comment.start()] if comment else rest).strip()
                    follows = next((ln for ln in lines[number + 1:]
                                    if ln.strip() and not ln.lstrip().startswith("#")), "")
                    block = not value_text and follows.startswith(indent + " ")  # a mapping or list
                    if (value_text and not value_text.startswith(("|", ">"))) or (comment and not block):
                        suffix = comment.group(0) if comment else ""
                        lines[number] = f"{indent}{part}{match.group('sep')} {scalar}{suffix}{match.group('nl') or chr(10)}"
                        return "".join(lines)
                else:
                    child = next((ln for ln in lines[number + 1:] if ln.strip() and not ln.lstrip().startswith("#")), "")
                    indent = child[: len(child) - len(child.lstrip(" "))]
                    start = number + 1
                    if not indent:
                        start = len(lines)
                break
            else:
                break
    body = text if not text or text.endswith("\n") else text + "\n"
    doc = Document.parse(f"---\n{body}---\n".encode(), CONFIG_PATH)
    top, *rest_parts = parts
    if rest_parts:
        existing = doc.data.get(top)
        node: dict[str, Any] = copy.deepcopy(existing) if isinstance(existing, dict) else {}
        cursor = node
        for part in rest_parts[:-1]:
            child_node = cursor.get(part)
            cursor[part] = child_node if isinstance(child_node, dict) else {}
            cursor = cursor[part]
        cursor[rest_parts[-1]] = value
        doc.data[top] = node
    else:
        doc.data[top] = value
    rendered = doc.render().decode("utf-8")
    return rendered[len("---\n"):-len("---\n")]
