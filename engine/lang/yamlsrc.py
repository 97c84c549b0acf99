"""Reading YAML while remembering where each value came from (file, line, column).

PyYAML's safe composer gives nodes with marks; we turn them into plain Python data plus a
map from key path to position, so that every later error can point at the line to fix.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.lang.errors import GameFileError

KeyPath = tuple[Any, ...]


@dataclass
class Located:
    """Plain data loaded from a YAML file, with the position of every node."""

    file: str
    data: Any
    marks: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: KeyPath) -> tuple[int | None, int | None]:
        """The line and column of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while True:
            if p in self.marks:
                return self.marks[p]
            if not p:
                return None, None
            p = p[:-1]

    def error(self, path: KeyPath, message: str) -> GameFileError:
        line, col = self.where(path)
        return GameFileError(self.file, line, col, format_path(path), message)


def format_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def load_yaml(path: Path, display_name: str | None = None) -> Located:
    """Load ``path`` with the safe loader; syntax errors become located GameFileErrors."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GameFileError(name, None, None, "", "file not found") from None
    except UnicodeDecodeError as e:
        raise GameFileError(name, None, None, "", f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise GameFileError(name, None, None, "", f"cannot read: {e.strerror}") from None
    return load_yaml_text(text, name)


def load_yaml_text(text: str, name: str) -> Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = " ".join(x for x in (e.context, e.problem) if x)
        if e.context_mark is not None and mark is not e.context_mark:
            problem += f" (the construct began at line {e.context_mark.line + 1}, column {e.context_mark.column + 1})"
        raise GameFileError(name, line, col, "", f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as e:
        raise GameFileError(name, None, None, "", f"YAML error: {e}") from None
    located = Located(name, None)
    if node is None:
        located.data = {}
        return located
    located.data = _convert(node, (), located)
    return located


def _convert(node: yaml.Node, path: KeyPath, located: Located) -> Any:
    located.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise located.error(path, "YAML merge keys (<<) are not supported; write the keys out")
            key = _scalar(key_node, path, located)
            if isinstance(key, (list, dict)):
                raise located.error(path, "mapping keys must be plain scalars")
            kpath = path + (key,)
            if key in out:
                line = key_node.start_mark.line + 1
                raise GameFileError(located.file, line, key_node.start_mark.column + 1,
                                    format_path(kpath), "duplicate key")
            out[key] = _convert(value_node, kpath, located)
            # point errors about a key at the key itself, which is where people look
            located.marks[kpath] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), located) for i, item in enumerate(node.value)]
    return _scalar(node, path, located)


def _scalar(node: yaml.Node, path: KeyPath, located: Located) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return _convert(node, path, located)
    try:
        return yaml.SafeLoader(" ").construct_object(node, deep=True)
    except yaml.YAMLError as e:
        raise located.error(path, f"bad value: {e}") from None
