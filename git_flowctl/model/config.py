"""``.flow/config.yaml``: project settings, all optional, with defaults."""

from __future__ import annotations

import copy
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
    # Quality gates (issue #15, docs/gates.md)
    "require_verify": False,
    "require_review": None,
    "guard": {},
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
default_branch: null    # branch where work lands; null: origin/HEAD, else main or master
require_evidence: false # `done` must carry --evidence
link_commits: false     # prepare-commit-msg adds Flow-Task: ID to code commits
claims:
  remote: null          # e.g. origin: claims are pushed there, so clones never collide
  lease_seconds: 3600   # a claim expires unless `heartbeat` extends it
require_verify: false   # `done` must pass the guard (--verify); check and pre-push report done-unverified
require_review: null    # plan, completion or [plan, completion]: a SHIP verdict is needed first
guard: {}               # named check commands (`guard detect --write` proposes them)
"""


@dataclass
class Config:
    """.flow/config.yaml as parsed; ``get`` falls back to the defaults."""

    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: bytes | None, path: str = CONFIG_PATH) -> Config:
        if text is None:
            return cls({})
        try:
            data = load_yaml(text.decode("utf-8"))
        except UnicodeDecodeError:
            raise DocumentError(path, None, "not valid UTF-8") from None
        except Exception as exc:  # yaml.YAMLError, without importing yaml's names here
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise DocumentError(path, line, f"invalid YAML: {problem}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise DocumentError(path, 1, "config must be a mapping of `key: value` lines")
        return cls(data)

    def get(self, dotted: str) -> Any:
        """A setting by dotted key (``claims.remote``), falling back to the default."""
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
                    if (rest.strip() and not rest.strip().startswith(("|", ">", "#"))) or comment:
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
