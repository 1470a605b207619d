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
        mark = doc.mark(loc)
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        line = f"{mark or doc.name}: {dotted}: {_describe(err, loc, model, hidden)}"
        found.append(((mark.line, mark.column) if mark else (0, 0), line))
    return "invalid configuration:\n  " + "\n  ".join(line for _, line in sorted(found))


def _describe(
    err: Mapping[str, Any], loc: Path_, model: type[BaseModel], hidden: set[Path_]
) -> str:
    if err["type"] == "extra_forbidden":
        valid = _keys_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(valid)}"
        return f"unknown key; {hint}"
    if err["type"] == "missing":
        return "required key is missing"
    message = str(err["msg"])
    if loc in hidden or _is_secret(model, loc):
        return message
    return f"{message} (got {err.get('input')!r})"


def _model_at(model: type[BaseModel], loc: Path_) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            current = _unwrap(field.annotation) if field else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            continue
        else:
            current = None
        if current is None:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """The model type inside Optional[...], list[...], dict[str, ...] or a union of models."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, dict, tuple, typing.Annotated):
        for arg in reversed(typing.get_args(annotation)):
            inner = _unwrap(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return annotation


def _keys_at(model: type[BaseModel], loc: Path_) -> list[str]:
    found = _model_at(model, loc)
    return sorted(found.model_fields) if found else []


def _is_secret(model: type[BaseModel], loc: Path_) -> bool:
    parent = _model_at(model, loc[:-1])
    if parent is None or not loc or not isinstance(loc[-1], str):
        return False
    field = parent.model_fields.get(loc[-1])
    return field is not None and "Secret" in str(field.annotation)
