"""The canonical string of an Avro schema, as Avro-Java's ``Schema.toString()`` writes it.

Confluent stores and returns this string (``AvroSchema.canonicalString()``) and derives the
schema's identity from it, so whitespace and key order never make a new id while ``doc``,
``default`` or ``aliases`` do. Key order per kind, from Avro-Java's ``toJson`` methods:

- record: type, name, namespace (only if it differs from the enclosing one), doc, fields,
  props, aliases
- field: name, type, doc, default, order (unless ascending), aliases, props
- enum: type, name, namespace, doc, symbols, default, props, aliases
- fixed: type, name, namespace, doc, size, props, aliases

A primitive without properties collapses to its bare name (``{"type":"string"}`` is
``"string"``); a named type already written is written again as a name reference, qualified
only when its namespace differs from the enclosing one.

The input is JSON that the Avro parser has already accepted; this module only re-renders it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
SCHEMA_RESERVED = frozenset(
    {"doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases"}
)
ENUM_RESERVED = SCHEMA_RESERVED | {"default"}
FIELD_RESERVED = frozenset({"default", "doc", "name", "order", "type", "aliases"})

Json = Any


@dataclass(slots=True)
class _Scope:
    """The enclosing namespace and the full names written (or known from references) so far."""

    space: str | None
    written: set[str] = field(default_factory=set)


def canonical_string(schema: Json, known_names: Iterable[str] = ()) -> str:
    """Render parsed schema JSON the way Avro-Java's ``Schema.toString()`` does."""
    rendered = _render(schema, _Scope(None, set(known_names)))
    return json.dumps(rendered, ensure_ascii=False, separators=(",", ":"))


def split_name(name: str, space: str | None) -> tuple[str | None, str]:
    """(namespace, simple name) of a possibly dotted name read inside namespace ``space``."""
    if "." in name:
        namespace, _, simple = name.rpartition(".")
        return namespace or None, simple
    return space or None, name


def full_name(space: str | None, simple: str) -> str:
    return f"{space}.{simple}" if space else simple


def _render(node: Json, scope: _Scope) -> Json:
    if isinstance(node, str):
        return node if node in PRIMITIVES else _name_ref(node, scope)
    if isinstance(node, list):
        return [_render(branch, scope) for branch in node]
    return _render_object(node, scope)


def _render_object(node: dict[str, Json], scope: _Scope) -> Json:
    kind = node.get("type")
    renderer = _RENDERERS.get(kind) if isinstance(kind, str) else None
    if renderer is not None:
        return renderer(node, scope)
    if kind in PRIMITIVES:
        props = _props(node, SCHEMA_RESERVED)
        return {"type": kind, **props} if props else kind
    return _render(kind, scope)


def _name_ref(name: str, scope: _Scope) -> str:
    space, simple = split_name(name, scope.space)
    if "." not in name and full_name(space, simple) not in scope.written:
        space = None  # Avro-Java falls back to the null namespace for unresolved simple names
    return simple if space is None or space == scope.space else full_name(space, simple)


def _named_header(node: dict[str, Json], scope: _Scope) -> tuple[dict[str, Json], str | None]:
    declared = node.get("namespace", scope.space)
    space, simple = split_name(node["name"], declared)
    header: dict[str, Json] = {"type": node["type"], "name": simple}
    if space is not None and space != scope.space:
        header["namespace"] = space
    elif space is None and scope.space is not None:
        header["namespace"] = ""
    if isinstance(node.get("doc"), str):
        header["doc"] = node["doc"]
    scope.written.add(full_name(space, simple))
    return header, space


def _aliases(node: dict[str, Json], space: str | None) -> dict[str, Json]:
    qualified: dict[str, None] = {}
    for alias in node.get("aliases") or ():
        alias_space, simple = split_name(alias, space)
        qualified[simple if alias_space in (None, space) else full_name(alias_space, simple)] = None
    return {"aliases": list(qualified)} if qualified else {}


def _record(node: dict[str, Json], scope: _Scope) -> Json:
    out, space = _named_header(node, scope)
    saved, scope.space = scope.space, space
    out["fields"] = [_field(f, scope) for f in node["fields"]]
    scope.space = saved
    return {**out, **_props(node, SCHEMA_RESERVED), **_aliases(node, space)}


def _field(node: dict[str, Json], scope: _Scope) -> Json:
    out: dict[str, Json] = {"name": node["name"], "type": _render(node["type"], scope)}
    if isinstance(node.get("doc"), str):
        out["doc"] = node["doc"]
    if "default" in node:
        out["default"] = node["default"]
    order = str(node.get("order", "ascending")).lower()
    if order != "ascending":
        out["order"] = order
    aliases = list(dict.fromkeys(node.get("aliases") or ()))
    if aliases:
        out["aliases"] = aliases
    return {**out, **_props(node, FIELD_RESERVED)}


def _enum(node: dict[str, Json], scope: _Scope) -> Json:
    out, space = _named_header(node, scope)
    out["symbols"] = list(node["symbols"])
    if isinstance(node.get("default"), str):
        out["default"] = node["default"]
    return {**out, **_props(node, ENUM_RESERVED), **_aliases(node, space)}


def _fixed(node: dict[str, Json], scope: _Scope) -> Json:
    out, space = _named_header(node, scope)
    out["size"] = node["size"]
    return {**out, **_props(node, SCHEMA_RESERVED), **_aliases(node, space)}


def _array(node: dict[str, Json], scope: _Scope) -> Json:
    return {
        "type": "array",
        "items": _render(node["items"], scope),
        **_props(node, SCHEMA_RESERVED),
    }


def _map(node: dict[str, Json], scope: _Scope) -> Json:
    return {
        "type": "map",
        "values": _render(node["values"], scope),
        **_props(node, SCHEMA_RESERVED),
    }


def _props(node: dict[str, Json], reserved: frozenset[str]) -> dict[str, Json]:
    return {key: value for key, value in node.items() if key not in reserved}


_RENDERERS = {
    "record": _record,
    "error": _record,
    "enum": _enum,
    "fixed": _fixed,
    "array": _array,
    "map": _map,
}
