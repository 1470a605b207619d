"""Subjects, versions and ids as clients write them in paths and bodies, checked and parsed."""

from __future__ import annotations

import unicodedata
from typing import Literal

from strangler.schema_registry.errors import InvalidSubject, InvalidVersion
from strangler.schema_registry.model import MAX_VERSION, Subject, Version

Latest = Literal["latest"]
VersionSpec = Version | Latest

# Confluent reserves these for its own config keys (QualifiedSubject.isValidSubject).
_RESERVED_SUBJECTS = frozenset({"__GLOBAL", "__EMPTY"})


def parse_version(text: str) -> VersionSpec:
    """``latest``/``-1`` or a number in 1..2^31-1; anything else is 42202."""
    if text == "latest" or text == "-1":
        return "latest"
    if not (text.isascii() and text.isdigit()):
        raise InvalidVersion(text)
    number = int(text)
    if not 1 <= number <= MAX_VERSION:
        raise InvalidVersion(text)
    return Version(number)


def checked_subject(text: str) -> Subject:
    """A subject a client may create: non-empty, no control characters, not reserved (42208)."""
    if not text or text in _RESERVED_SUBJECTS or any(_is_control(ch) for ch in text):
        raise InvalidSubject(text)
    return Subject(text)


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc"
