"""Parsing cell values: amounts, dates, numbers, and refusing formula-looking text. No Django here."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any


class CellError(ValueError):
    """A cell that cannot be read; the message names the problem for a person."""


_CURRENCY = re.compile(r"[\s$€£¥\u00a0]|USD|EUR|GBP", re.IGNORECASE)


_PLAIN_AMOUNT = re.compile(r"\d{1,12}(\.\d{1,2})?")
_CENT = Decimal("0.01")


def parse_amount(raw: str) -> Decimal | None:
    """'1,234.50', '1.234,50', '$ 1 200', '1200' → Decimal; blank → None; negative or text → CellError."""
    if _PLAIN_AMOUNT.fullmatch(raw):  # fast path: most cells of a large file are plain numbers
        return Decimal(raw).quantize(_CENT)
    text = _CURRENCY.sub("", raw.strip())
    if not text:
        return None
    if "," in text and "." in text:
        # Whichever separator comes last is the decimal one.
        text = text.replace(",", "") if text.rfind(".") > text.rfind(",") else text.replace(".", "").replace(",", ".")
    elif "," in text:
        head, _, tail = text.rpartition(",")
        text = text.replace(",", "") if len(tail) == 3 and head else text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CellError(f"“{raw.strip()}” is not an amount") from None
    if not value.is_finite():
        raise CellError(f"“{raw.strip()}” is not an amount")
    if value < 0:
        raise CellError(f"amount {raw.strip()} is negative")
    if value >= Decimal("1e12"):
        raise CellError(f"amount {raw.strip()} is too large")
    return value.quantize(Decimal("0.01"))


_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S.%f",
    "%m/%d/%y %I:%M %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%y %H:%M",
    "%m/%d/%Y %H:%M",
    "%m/%d/%y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
)
_TZ_SUFFIX = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def parse_datetime(raw: str, tz: tzinfo, formats: tuple[str, ...] = ()) -> datetime | None:
    """A timestamp from the usual CRM export formats; a bare date is 00:00 in `tz`; blank → None.

    Slashed dates are read month first (Salesforce and HubSpot US exports); pass `formats` to override.
    """
    text = raw.strip()
    if not text:
        return None
    if not formats and len(text) >= 10 and text[4] == "-":
        try:
            parsed = datetime.fromisoformat(text)  # fast path: ISO dates are most of every file
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
    if _TZ_SUFFIX.search(text) and ("T" in text or " " in text):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    for fmt in formats or _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if not 1900 <= parsed.year <= 2200:
            break
        return parsed.replace(tzinfo=tz)
    raise CellError(f"“{text}” is not a date (use e.g. 2024-03-31 or 03/31/24)")


def parse_date(raw: str, tz: tzinfo, formats: tuple[str, ...] = ()) -> date | None:
    found = parse_datetime(raw, tz, formats)
    return found.date() if found is not None else None


def midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


_NUMBER_FIRST = frozenset("0123456789+-.")
_INT = re.compile(r"^[+-]?\d{1,15}$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def number_or_text(raw: str) -> int | float | str:
    """Attribute values: numbers become numbers, everything else stays text (stripped)."""
    text = raw.strip()
    if not text or (text[0] not in _NUMBER_FIRST):
        return text  # most attribute cells are words: skip the regular expressions
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        value = float(text)
        if value == value and abs(value) != float("inf"):
            return value
    return text


FORMULA_FIRST = frozenset("=@+-\t\r")
_NUMERIC_START = re.compile(r"^[+-]\s*[\d.(]")


def check_not_formula(text: str) -> None:
    """Refuse cells a spreadsheet would run as a formula (`= + - @` first), except plain signed numbers.

    We refuse rather than silently rewrite: the person importing should see and fix such cells.
    """
    if not text:
        return
    first = text[0]
    if first in "=@" or (first in "+-" and not _NUMERIC_START.match(text)) or first in "\t\r":
        shown = text if len(text) <= 40 else text[:37] + "…"
        raise CellError(
            f"“{shown}” starts with {first!r} and looks like a spreadsheet formula; "
            "remove it or put an apostrophe in front"
        )


def check_row_cells(
    row: Mapping[str, str],
    *,
    text_columns: Iterable[str],
    parsers: Iterable[tuple[str, Callable[[str], Any]]],
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The checks every export format runs on a row: no formula cells in `text_columns`, and each parser
    applied to its column. Returns the parsed values and the (column, message) problems found."""
    problems: list[tuple[str, str]] = []
    for column in text_columns:
        try:
            check_not_formula(row.get(column, "").strip())
        except CellError as exc:
            problems.append((column, str(exc)))
    parsed: dict[str, Any] = {}
    for column, parse in parsers:
        try:
            parsed[column] = parse(row.get(column, ""))
        except CellError as exc:
            problems.append((column, str(exc)))
    return parsed, problems
