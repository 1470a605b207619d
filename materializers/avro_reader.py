"""Avro binary → a Python dict, as fastavro decodes it, by a function generated once per writer
schema (the decoder's hot path: fastavro's C reader costs ~4 µs for a five-column row, the
generated one about half of that, and a key of one long a fifth).

Only flat records are compiled: fields of primitive types, enums, fixed, the logical types
fastavro knows (through fastavro's own logical readers, so values are identical), and unions
of those. Anything else (nested records, arrays, maps, named-type references) gets ``None``
from ``compile_reader`` and the caller uses fastavro. Field names never enter the generated
source: they are constants bound by index.

Corrupt input raises what the decoder already catches (``IndexError`` past the end,
``EOFError`` for a short string or bytes, ``ValueError`` for bad UTF-8 or a negative length).
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable, Mapping
from typing import Any

from fastavro._logical_readers import LOGICAL_READERS

Reader = Callable[[bytes, int], tuple[dict[str, Any], int]]
"""(payload, start) → (the record, the position after it)."""

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_EPOCH_NAIVE = datetime.datetime(1970, 1, 1)
_TIMESTAMPS: dict[str, tuple[datetime.datetime, str]] = {
    "long-timestamp-micros": (_EPOCH, ""),
    "long-timestamp-millis": (_EPOCH, " * 1000"),
    "long-local-timestamp-micros": (_EPOCH_NAIVE, ""),
    "long-local-timestamp-millis": (_EPOCH_NAIVE, " * 1000"),
}
"""Timestamps read inline, as fastavro's logical readers do (epoch + timedelta: a call less)."""

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "string", "bytes"})


def _varint(out: list[str], pad: str, target: str) -> None:
    """Lines reading one zig-zag varint from ``b`` at ``p`` into ``target``."""
    out += [
        f"{pad}x = b[p]; p += 1",
        f"{pad}if x & 0x80:",
        f"{pad}    x &= 0x7F; s = 7",
        f"{pad}    while True:",
        f"{pad}        y = b[p]; p += 1",
        f"{pad}        x |= (y & 0x7F) << s",
        f"{pad}        if not y & 0x80: break",
        f"{pad}        s += 7",
        f"{pad}{target} = (x >> 1) ^ -(x & 1)",
    ]


def _sized(out: list[str], pad: str, target: str, size: str, text: bool) -> None:
    out += [
        f"{pad}if {size} < 0 or p + {size} > len(b): raise EOFError('short string or bytes')",
        f"{pad}{target} = b[p:p + {size}]" + (".decode()" if text else ""),
        f"{pad}p += {size}",
    ]


class _Compiler:
    """Source text and constants of one generated reader."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {
            "_F": struct.Struct("<f").unpack_from,
            "_D": struct.Struct("<d").unpack_from,
            "_T": datetime.timedelta,
        }

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def field(self, avro_type: Any, pad: str, target: str) -> bool:
        """Lines reading one value of ``avro_type``; False if not supported."""
        if isinstance(avro_type, list):
            return self._union(avro_type, pad, target)
        if isinstance(avro_type, str):
            return self._primitive(avro_type, pad, target)
        if not isinstance(avro_type, Mapping):
            return False
        kind = avro_type.get("type")
        if kind == "enum":
            _varint(self.lines, pad, "i")
            self.lines.append(f"{pad}{target} = {self.const(tuple(avro_type['symbols']))}[i]")
            return True
        if kind == "fixed":
            _sized(self.lines, pad, target, str(int(avro_type["size"])), False)
            return self._logical(avro_type, "fixed", pad, target)
        if not isinstance(kind, str) or kind not in _PRIMITIVES:
            return False
        return self._primitive(kind, pad, target) and self._logical(avro_type, kind, pad, target)

    def _logical(self, avro_type: Mapping[str, Any], kind: str, pad: str, target: str) -> bool:
        logical = avro_type.get("logicalType")
        inline = _TIMESTAMPS.get(f"{kind}-{logical}")
        if inline is not None:
            epoch, scale = inline
            self.lines.append(
                f"{pad}{target} = {self.const(epoch)} + _T(microseconds={target}{scale})"
            )
            return True
        reader = LOGICAL_READERS.get(f"{kind}-{logical}") if logical else None
        if reader is not None:
            call = f"{self.const(reader)}({target}, {self.const(dict(avro_type))}, None)"
            self.lines.append(f"{pad}{target} = {call}")
        return True

    def _primitive(self, name: str, pad: str, target: str) -> bool:
        if name == "null":
            self.lines.append(f"{pad}{target} = None")
        elif name == "boolean":
            self.lines += [f"{pad}{target} = b[p] != 0", f"{pad}p += 1"]
        elif name in ("int", "long"):
            _varint(self.lines, pad, target)
        elif name in ("float", "double"):
            unpack, size = ("_F", 4) if name == "float" else ("_D", 8)
            self.lines += [
                f"{pad}if p + {size} > len(b): raise EOFError('short float or double')",
                f"{pad}{target} = {unpack}(b, p)[0]",
                f"{pad}p += {size}",
            ]
        elif name in ("string", "bytes"):
            _varint(self.lines, pad, "n")
            _sized(self.lines, pad, target, "n", name == "string")
        else:
            return False
        return True

    def _union(self, branches: list[Any], pad: str, target: str) -> bool:
        if any(isinstance(b, list) for b in branches):
            return False
        _varint(self.lines, pad, "u")
        for index, branch in enumerate(branches):
            keyword = "if" if index == 0 else "elif"
            self.lines.append(f"{pad}{keyword} u == {index}:")
            if not self.field(branch, pad + "    ", target):
                return False
        self.lines += [f"{pad}else:", f"{pad}    raise IndexError(f'union index {{u}}')"]
        return True


def compile_reader(schema: Mapping[str, Any]) -> Reader | None:
    """A reader for records of ``schema`` (a record schema's JSON form), or None if the schema
    is not flat enough to compile (see the module docstring)."""
    if schema.get("type") != "record":
        return None
    compiler = _Compiler()
    names: list[str] = []
    for index, field in enumerate(schema.get("fields", ())):
        if not compiler.field(field["type"], "    ", f"v{index}"):
            return None
        names.append(compiler.const(str(field["name"])))
    items = ", ".join(f"{name}: v{i}" for i, name in enumerate(names))
    source = "\n".join(["def read(b, p):", *compiler.lines, f"    return {{{items}}}, p"])
    namespace = dict(compiler.consts)
    exec(compile(source, "<avro reader>", "exec"), namespace)  # source: see the docstring
    reader: Reader = namespace["read"]
    return reader
