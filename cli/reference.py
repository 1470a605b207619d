"""The pipeline file's reference, generated from the typed config models: every key, its type,
its default and its one-line doc. ``strangler reference`` prints it; docs/pipeline-reference.md
is this output, kept current by a test."""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

HEADER = """# Pipeline file reference

Generated from the config models by `strangler reference`; do not edit by hand.
String values may use `${VAR}` or `${VAR:-default}`; unknown keys are errors.
"""


def reference(model: type[BaseModel], title: str = "(top level)") -> str:
    """Markdown tables for ``model`` and every model nested in it, depth first."""
    sections: list[str] = [HEADER]
    seen: set[type[BaseModel]] = set()
    _section(model, title, sections, seen)
    return "\n".join(sections)


def _section(model: type[BaseModel], path: str, out: list[str], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
    out.append(f"## `{path}`\n\n{doc}\n")
    out.append("| key | type | default | description |\n|---|---|---|---|")
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        # one line: a markdown table cell ends at a line break
        description = " ".join((field.description or "").split()).replace("|", "\\|")
        out.append(
            f"| `{name}` | {type_name(field.annotation)} | {_default(field)} | {description} |"
        )
        members = _models_in(field.annotation)
        base = f"{path}.{name}" if path != "(top level)" else name
        nested += [(_tagged(base, m) if len(members) > 1 else base, m) for m in members]
    out.append("")
    for sub_path, sub in nested:
        _section(sub, sub_path, out, seen)


def type_name(annotation: Any) -> str:
    """A reader's name for a type: enums list their values, models link their section."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in args)
    if origin in (list, tuple, set, frozenset):
        return f"list of {type_name(args[0])}" if args else "list"
    if _models_in(annotation) and len(_models_in(annotation)) > 1:
        return "section (by `type`)"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}" if args else "mapping"
    if origin is typing.Annotated:
        return type_name(args[0])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if annotation is type(None):
        return "null"
    return {
        "str": "string",
        "int": "integer",
        "float": "number",
        "bool": "boolean",
        "SecretStr": "secret string",
        "Path": "path",
    }.get(getattr(annotation, "__name__", ""), str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if isinstance(value, enum.Enum):
        value = value.value
    return (
        f"`{value!r}`"
        if value not in (None, {}, [])
        else ("-" if value is None else f"`{value!r}`")
    )


def _tagged(path: str, model: type[BaseModel]) -> str:
    """A section title for one member of a union of models: its ``type`` value, if any."""
    field = model.model_fields.get("type")
    return f"{path} (type: {field.default})" if field is not None else path


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
