"""Evaluating a view's row filter against a decoded row (no eval: a fixed set of comparisons).

A literal from YAML is converted once to the column value's Python type (a decimal column is
compared with ``Decimal("9.99")``, a date column with ``date.fromisoformat(...)``). A NULL
column value fails every comparison except ``is_null``, as in SQL.
"""

from __future__ import annotations

import datetime
import decimal
import operator
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from strangler.materializers.config import Comparison, Condition, Literal_, RowFilter

_BINARY: dict[Comparison, Callable[[Any, Any], bool]] = {
    Comparison.EQ: operator.eq,
    Comparison.NE: operator.ne,
    Comparison.LT: operator.lt,
    Comparison.LE: operator.le,
    Comparison.GT: operator.gt,
    Comparison.GE: operator.ge,
}

_PARSERS: dict[type, Callable[[Any], Any]] = {
    decimal.Decimal: lambda v: decimal.Decimal(str(v)),
    datetime.date: lambda v: datetime.date.fromisoformat(str(v)),
    datetime.datetime: lambda v: datetime.datetime.fromisoformat(str(v)),
    datetime.time: lambda v: datetime.time.fromisoformat(str(v)),
    uuid.UUID: lambda v: uuid.UUID(str(v)),
    float: float,
}


def _coerce(literal: Literal_, sample: Any) -> Any:
    parse = _PARSERS.get(type(sample))
    return literal if parse is None or isinstance(literal, type(sample)) else parse(literal)


def condition_holds(cond: Condition, row: Mapping[str, Any]) -> bool:
    """Whether ``row`` (source column name → value) satisfies ``cond``."""
    value = row.get(cond.column)
    if cond.op is Comparison.IS_NULL or cond.op is Comparison.NOT_NULL:
        return (value is None) == (cond.op is Comparison.IS_NULL)
    if value is None:
        return False
    if isinstance(cond.value, list):
        found = any(value == _coerce(v, value) for v in cond.value)
        return found == (cond.op is Comparison.IN)
    assert cond.value is not None  # the config model guarantees a value for binary ops
    return _BINARY[cond.op](value, _coerce(cond.value, value))


def row_matches(row_filter: RowFilter | None, row: Mapping[str, Any]) -> bool:
    """Whether the view keeps ``row``; no filter keeps everything."""
    if row_filter is None:
        return True
    if not all(condition_holds(c, row) for c in row_filter.all):
        return False
    return not row_filter.any or any(condition_holds(c, row) for c in row_filter.any)
