"""Confluent's content negotiation, as Jersey does it for the registry's resources.

Responses: ``application/vnd.schemaregistry.v1+json`` (server quality 1), ``...registry+json``
(0.9) and ``application/json`` (0.5). No Accept, ``*/*``, ``*`` or ``application/*`` give v1;
a range nothing matches (``text/*``, ``application/octet-stream``) is 406.
Requests: the same three types plus ``application/octet-stream`` (read as JSON); others 415.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

V1_JSON = "application/vnd.schemaregistry.v1+json"
SR_JSON = "application/vnd.schemaregistry+json"
JSON = "application/json"
OFFERED = ((V1_JSON, 1.0), (SR_JSON, 0.9), (JSON, 0.5))
ACCEPTED_REQUEST_TYPES = frozenset({V1_JSON, SR_JSON, JSON, "application/octet-stream"})


@dataclass(frozen=True, slots=True)
class MediaRange:
    type: str
    subtype: str
    quality: float

    def matches(self, media_type: str) -> int:
        """How specifically this matches ``media_type``: -1 no, 0 ``*/*``, 1 ``x/*``, 2 exact."""
        main, _, sub = media_type.partition("/")
        if self.type == "*":
            return 0
        if self.type != main:
            return -1
        if self.subtype == "*":
            return 1
        return 2 if self.subtype == sub else -1


@lru_cache(maxsize=256)
def response_type(accept: str | None) -> str | None:
    """The media type to answer with, or None for 406."""
    ranges = parse_accept(accept)
    best: tuple[float, int, float] | None = None
    chosen = None
    for media_type, server_quality in OFFERED:
        score = _score(ranges, media_type, server_quality)
        if score is not None and (best is None or score > best):
            best, chosen = score, media_type
    return chosen


def parse_accept(accept: str | None) -> list[MediaRange]:
    if accept is None or not accept.strip():
        return [MediaRange("*", "*", 1.0)]
    return [r for part in accept.split(",") if (r := _parse_range(part)) is not None]


@lru_cache(maxsize=256)
def request_type_ok(content_type: str | None) -> bool:
    return content_type is None or media_type_of(content_type) in ACCEPTED_REQUEST_TYPES


def media_type_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def charset_of(content_type: str | None) -> str:
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


def _parse_range(part: str) -> MediaRange | None:
    media, *params = (p.strip() for p in part.split(";"))
    media = media.lower()
    if media == "*":
        media = "*/*"
    main, slash, sub = media.partition("/")
    if not slash or not main or not sub:
        return None
    return MediaRange(main, sub, _quality(params))


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def _score(
    ranges: list[MediaRange], media_type: str, server_quality: float
) -> tuple[float, int, float] | None:
    matches = [(r.matches(media_type), r.quality) for r in ranges]
    specific = [m for m in matches if m[0] >= 0]
    if not specific:
        return None
    specificity, quality = max(specific)
    if quality <= 0:
        return None
    return quality, specificity, server_quality
