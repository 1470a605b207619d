"""YAML read with the location of every key and value, so config errors can point at a line.

PyYAML's safe loader forgets where things were and silently keeps the last of two equal keys;
this reader composes the node tree itself, keeps ``file:line:column`` per path and rejects
duplicate keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from strangler.core.errors import ConfigError

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    """A place in a source file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass
class YamlDocument:
    """Plain Python data of one YAML document and where each path came from."""

    data: Any
    marks: dict[Path_, Mark] = field(default_factory=dict)
    name: str = "<string>"

    def mark(self, path: Path_) -> Mark | None:
        """The mark of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if (found := self.marks.get(path[:end])) is not None:
                return found
        return None


def read_yaml(source: Path | str, name: str | None = None) -> YamlDocument:
    """Parse a file (a Path) or text (a str) into a ``YamlDocument``."""
    text = source.read_text() if isinstance(source, Path) else source
    label = name or (str(source) if isinstance(source, Path) else "<string>")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, label) from None
    doc = YamlDocument(None, {}, label)
    doc.data = {} if node is None else _build(node, (), doc)
    return doc


def _syntax_error(exc: yaml.MarkedYAMLError, label: str) -> ConfigError:
    mark = exc.problem_mark
    where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
    return ConfigError(
        f"{where}: invalid YAML: {exc.problem or exc}",
        fix="fix the syntax at that position (indentation, a missing ':' or quote)",
    )


def _mark(node: yaml.Node, doc: YamlDocument) -> Mark:
    return Mark(doc.name, node.start_mark.line + 1, node.start_mark.column + 1)


def _build(node: yaml.Node, path: Path_, doc: YamlDocument) -> Any:
    doc.marks.setdefault(path, _mark(node, doc))
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(node, path, doc)
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc) for i, item in enumerate(node.value)]
    return yaml.SafeLoader(" ").construct_object(node, deep=True)


def _build_mapping(node: yaml.MappingNode, path: Path_, doc: YamlDocument) -> dict[str, Any]:
    out: dict[str, Any] = {}
    inherited: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`; explicit keys win
            merged = _build(value_node, path, doc)
            for item in merged if isinstance(merged, list) else [merged]:
                inherited.update(item if isinstance(item, dict) else {})
            continue
        key = str(_build(key_node, (*path, "<key>"), doc))
        if key in out:
            where = _mark(key_node, doc)
            raise ConfigError(
                f"{where}: duplicate key {key!r}",
                fix="keep one of the two; YAML would silently use the last",
            )
        doc.marks[(*path, key)] = _mark(key_node, doc)
        out[key] = _build(value_node, (*path, key), doc)
    doc.marks.pop((*path, "<key>"), None)
    return {**inherited, **out}
