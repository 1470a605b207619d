"""Parsing PostgreSQL's text output of built-in types into Python values.

pgoutput sends column values in their text form, produced by each type's output function in
the walsender session, so the form depends on session settings. The replication session must
use ``SESSION_SETTINGS`` (ISO dates, ISO 8601 intervals, UTC, shortest-exact floats, hex bytea,
UTF-8); the parsers here assume exactly those forms.

Documented choices for values Python (and therefore fastavro) cannot hold:

* ``infinity`` / ``-infinity`` dates and timestamps become the largest / smallest value
  Python has (``9999-12-31`` / ``0001-01-01``, and ``23:59:59.999999`` / ``00:00`` for
  timestamps), the convention psycopg documents for infinity. A real ``9999-12-31`` is then
  indistinguishable from ``infinity``.
* Dates and timestamps before year 1 (``BC``) or after 9999 raise ``ValueParseError`` naming the
  value: there is no faithful Avro-and-Python representation, and clamping real data is wrong.
* ``time`` ``24:00:00`` (valid in PostgreSQL) becomes ``23:59:59.999999``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Final

from strangler.connectors.postgres.errors import ValueParseError

SESSION_SETTINGS: Final[dict[str, str]] = {
    "DateStyle": "ISO",
    "IntervalStyle": "iso_8601",
    "TimeZone": "UTC",
    "extra_float_digits": "3",
    "bytea_output": "hex",
    "client_encoding": "UTF8",
    "lc_monetary": "C",  # money's text form depends on it
}
"""Session settings the text parsers rely on (set them on the replication connection)."""


def libpq_options() -> str:
    """``SESSION_SETTINGS`` as a libpq ``options`` value (``-c DateStyle=ISO -c …``)."""
    return " ".join(f"-c {name}={value}" for name, value in SESSION_SETTINGS.items())


_DATE = re.compile(r"(\d{4,})-(\d\d)-(\d\d)( BC)?\Z")
_TIME = r"(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?"
_OFFSET = r"(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?"
_TIMESTAMP = re.compile(rf"(\d{{4,}})-(\d\d)-(\d\d) {_TIME}{_OFFSET}( BC)?\Z")
_TIME_ONLY = re.compile(rf"{_TIME}\Z")
_INTERVAL = re.compile(
    r"-?P(?:-?\d+Y)?(?:-?\d+M)?(?:-?\d+D)?(?:T(?:-?\d+H)?(?:-?\d+M)?(?:-?[\d.]+S)?)?\Z"
)

_ISO_SHAPE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.+-]|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\Z")
"""The start of the server's form (a year of four digits, a space before the time); only
such texts take ``datetime.fromisoformat``, which reads other ISO forms as well."""
_MAX_TIMESTAMP = datetime.max.replace(tzinfo=UTC)
_MIN_TIMESTAMP = datetime.min.replace(tzinfo=UTC)


def parse_bool(text: str) -> bool:
    if text in ("t", "f"):
        return text == "t"
    raise ValueParseError("boolean", text, "expected 't' or 'f'")


def parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueParseError("integer", text, "not an integer") from None


def parse_float(text: str) -> float:
    """Floats, including PostgreSQL's ``NaN``, ``Infinity`` and ``-Infinity``."""
    try:
        return float(text)
    except ValueError:
        raise ValueParseError("float", text, "not a number") from None


def parse_decimal(text: str) -> Decimal:
    """A numeric value for an Avro decimal; ``NaN`` has no decimal representation."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueParseError("numeric", text, "not a number") from None
    if not value.is_finite():
        raise ValueParseError(
            "numeric", text, "NaN and infinity cannot be stored in an Avro decimal"
        )
    return value


def parse_bytea(text: str) -> bytes:
    """``bytea`` in hex form (``\\x0aff``) or, failing that, the older escape form."""
    if text.startswith("\\x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            raise ValueParseError("bytea", text, "bad hex digits") from None
    return _unescape_bytea(text)


def _unescape_bytea(text: str) -> bytes:
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] != "\\":
            out += text[i].encode()
            i += 1
        elif text[i + 1 : i + 2] == "\\":
            out.append(0x5C)
            i += 2
        else:
            out.append(int(text[i + 1 : i + 4], 8))
            i += 4
    return bytes(out)


def parse_date(text: str) -> date:
    if text in ("infinity", "-infinity"):
        return date.max if text == "infinity" else date.min
    match = _DATE.match(text)
    if match is None:
        raise ValueParseError("date", text, "expected YYYY-MM-DD (DateStyle ISO)")
    year, month, day, bc = match.groups()
    return date(_year(year, bc, "date", text), int(month), int(day))


def parse_time(text: str) -> time:
    match = _TIME_ONLY.match(text)
    if match is None:
        raise ValueParseError("time", text, "expected HH:MM:SS[.ffffff]")
    hour, minute, second, fraction = match.groups()
    if hour == "24":
        return time.max  # PostgreSQL allows 24:00:00; Python's time ends at 23:59:59.999999
    return time(int(hour), int(minute), int(second), _micros(fraction))


def parse_timestamp(text: str) -> datetime:
    """``timestamp`` or ``timestamptz``, as an aware UTC datetime.

    A ``timestamp`` (no time zone) is read as UTC wall-clock time; a ``timestamptz`` carries
    its offset (``+00`` with TimeZone=UTC) and is converted to UTC.
    """
    if _ISO_SHAPE.match(text) is not None and text[-1] != "C":  # 4-digit year, not BC
        try:  # the server's ISO form is one datetime.fromisoformat reads: the fast path
            value = datetime.fromisoformat(text)
        except ValueError:
            pass  # an unusual form: the checked parse below explains it
        else:
            if value.tzinfo is None:
                return value.replace(tzinfo=UTC)
            return value.astimezone(UTC)
    if text in ("infinity", "-infinity"):
        return _MAX_TIMESTAMP if text == "infinity" else _MIN_TIMESTAMP
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueParseError("timestamp", text, "expected YYYY-MM-DD HH:MM:SS (DateStyle ISO)")
    year, month, day, hour, minute, second, fraction, *offset, bc = match.groups()
    year_ = _year(year, bc, "timestamp", text)
    local = datetime(
        year_, int(month), int(day), int(hour), int(minute), int(second), _micros(fraction)
    )
    return local.replace(tzinfo=_zone(*offset)).astimezone(UTC)


def parse_interval(text: str) -> str:
    """An interval in ISO 8601 form (``P1Y2M3DT4H5M6.5S``), checked and kept as text."""
    if _INTERVAL.match(text) is None:
        raise ValueParseError("interval", text, "expected ISO 8601 (set IntervalStyle=iso_8601)")
    return text


def _year(digits: str, bc: str | None, type_name: str, text: str) -> int:
    year = int(digits)
    if bc or year > 9999:
        raise ValueParseError(
            type_name, text, "years before 1 AD or after 9999 have no Avro/Python representation"
        )
    return year


def _micros(fraction: str | None) -> int:
    return int((fraction or "").ljust(6, "0"))


def _zone(
    sign: str | None, hours: str | None, minutes: str | None, seconds: str | None
) -> timezone:
    if sign is None:
        return UTC
    delta = timedelta(hours=int(hours or 0), minutes=int(minutes or 0), seconds=int(seconds or 0))
    return timezone(-delta if sign == "-" else delta)
