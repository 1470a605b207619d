"""Typed, strict configuration: YAML in, validated models out, every error located.

- Models derive from ``StrictModel``: unknown keys are rejected (with the closest valid key),
  values are frozen, and each field carries a one-line docstring that the reference is built from.
- ``${VAR}`` and ``${VAR:-default}`` are replaced in string values; ``$$`` is a literal ``$``.
  A missing variable without a default is an error naming the variable and the line.
- Values that came from the environment, and fields typed ``Secret``, never appear in messages.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from strangler.core.errors import ConfigError
from strangler.core.yamlsource import Path_, YamlDocument, read_yaml

Secret = SecretStr
"""A value that is never printed (passwords, tokens); read it with ``.get_secret_value()``."""

M = TypeVar("M", bound=BaseModel)

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class StrictModel(BaseModel):
    """Base of every config model: unknown keys rejected, immutable, docstrings as field docs."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, validate_default=True
    )


def load_config(
    source: Path | str,
    model: type[M],
    *,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> M:
    """Read YAML from a file (Path) or text (str), interpolate, validate into ``model``."""
    doc = read_yaml(source, name)
    secret_paths: set[Path_] = set()
    doc.data = interpolate(
        doc, doc.data, (), os.environ if environ is None else environ, secret_paths
    )
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(
            format_errors(exc, doc, model, secret_paths),
            fix="correct the values named above; `strangler validate FILE` "
            "checks a file without starting anything",
        ) from None


def interpolate(
    doc: YamlDocument, value: Any, path: Path_, environ: Mapping[str, str], touched: set[Path_]
) -> Any:
    """Replace ``${VAR}`` references in every string of ``value``; record which paths changed."""
    if isinstance(value, dict):
        return {k: interpolate(doc, v, (*path, k), environ, touched) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(doc, v, (*path, i), environ, touched) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        var, default = match.group(1), match.group(2)
        if var in environ:
            touched.add(path)
            return environ[var]
        if default is not None:
            return default
        raise ConfigError(
            f"{doc.mark(path)}: environment variable {var} is not set",
            fix=f"export {var}=... before running, or write ${{{var}:-default}} in the file",
        )

    return _VAR.sub(substitute, value)


def format_errors(
    exc: ValidationError, doc: YamlDocument, model: type[BaseModel], hidden: set[Path_]
) -> str:
    """One line per problem: ``file:line:col: dotted.path: what is wrong``."""
    found = []
    for err in exc.errors(include_url=False):
        loc: Path_ = tuple(err["loc"])
        where = data_location(doc.data, loc)
        mark = doc.mark(where)
        dotted = ".".join(str(p) for p in where) or "(top level)"
        line = f"{mark or doc.name}: {dotted}: {_describe(err, loc, model, where in hidden)}"
        found.append(((mark.line, mark.column) if mark else (0, 0), line))
    return "invalid configuration:\n  " + "\n  ".join(line for _, line in sorted(found))


def _describe(err: Mapping[str, Any], loc: Path_, model: type[BaseModel], hidden: bool) -> str:
    if err["type"] == "extra_forbidden":
        valid = _keys_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(valid)}"
        return f"unknown key; {hint}"
    if err["type"] == "missing":
        return "required key is missing"
    if err["type"] == "union_tag_invalid":
        context = err.get("ctx") or {}
        return f"type {context.get('tag')!r} is not one of {context.get('expected_tags')}"
    message = str(err["msg"]).removeprefix("Value error, ")
    if hidden or _is_secret(model, loc) or isinstance(err.get("input"), dict | list):
        return message  # a whole section repeated back would bury the message
    return f"{message} (got {err.get('input')!r})"


def _model_at(model: type[BaseModel], loc: Path_) -> type[BaseModel] | None:
    """The model at ``loc`` below ``model``. List indexes and mapping keys are stepped over; a
    part that names no field but a union member's ``type`` is a union tag (pydantic puts tags
    in error locations)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or _is_mapping(current):
            current = _value_type(current)
            continue
        models = _models_in(current)
        owner = next((m for m in models if part in m.model_fields), None)
        if owner is not None:
            current = owner.model_fields[part].annotation
            continue
        tagged = next((m for m in models if _type_tag(m) == part), None)
        if tagged is None:
            return None
        current = tagged
    found = _models_in(current)
    return found[0] if len(found) == 1 else None


def _is_mapping(annotation: Any) -> bool:
    inner = _strip(annotation)
    return typing.get_origin(inner) is dict


def _value_type(annotation: Any) -> Any:
    """The item type of a list or the value type of a mapping (itself otherwise)."""
    inner = _strip(annotation)
    args = typing.get_args(inner)
    if typing.get_origin(inner) in (list, tuple) and args:
        return args[0]
    if typing.get_origin(inner) is dict and len(args) == 2:
        return args[1]
    return annotation


def _strip(annotation: Any) -> Any:
    """``X`` from ``Annotated[X, ...]`` and from ``X | None``."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _strip(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return annotation


def _type_tag(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("type")
    return field.default if field is not None else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Models inside an annotation: itself, or within Optional/Annotated/unions/containers."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def data_location(data: Any, loc: Path_) -> Path_:
    """``loc`` as a path in the document: the union tags pydantic inserts (a part that is not a
    key where the document has a mapping, unless it is the last part) are dropped."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if isinstance(data, dict) and part not in data and i < len(loc) - 1:
            continue
        out.append(part)
        if isinstance(data, dict):
            data = data.get(str(part))
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            data = None
    return tuple(out)


def _keys_at(model: type[BaseModel], loc: Path_) -> list[str]:
    found = _model_at(model, loc)
    return sorted(found.model_fields) if found else []


def _is_secret(model: type[BaseModel], loc: Path_) -> bool:
    parent = _model_at(model, loc[:-1])
    if parent is None or not loc or not isinstance(loc[-1], str):
        return False
    field = parent.model_fields.get(loc[-1])
    return field is not None and "Secret" in str(field.annotation)
