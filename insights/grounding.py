"""Is every number in a written answer one of the facts? A plain core: text and JSON in, the strays out.

A number in the answer is read with its unit ("$1.2M" is 1,200,000 written to the nearest 100,000; "34%"
is 34 to the nearest 1; "1,200,000" is exact; "12.5k" is 12,500 to the nearest 100) and it matches a fact
when the fact, rounded the way the answer wrote it, is the same number: $1,249,000 may be written "$1.2M"
but not "$1.3M". A percentage also matches a fact that is a fraction (0.34 is "34%"). Signs are ignored
("fell by $200K" for a change of -200,000). Numbers inside words ("Q4", "H1") are labels, not figures,
and list markers at the start of a line ("1." or "2)") are not figures either. Dates' parts are numbers
like any other, so a date must be one of the facts' dates.

Facts are every number in the facts' JSON, including those written inside strings ("2026-12-01" gives
2026, 12 and 1), except under the keys in `UNTRUSTED_PROSE`: a number the model read in a deal's
description or an email is not a fact we computed, so it cannot back a sentence.

An answer with a link is not grounded either: nothing we compute is a URL, and a link is what an
instruction planted in a description would most want to get in front of a reader.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

UNTRUSTED_PROSE = frozenset({"description", "body", "notes", "next_step", "subject", "lost_reason", "attributes"})
SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mm": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "billion": 1e9}
_NUMBER = re.compile(
    r"(?<![\w.])[-−]?[$€£]?\s?(?P<digits>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<decimals>\d+))?"
    r"(?:\s?(?P<percent>%|percent\b|pp\b|points?\b)|\s?(?P<scale>thousand|million|billion|mm|bn|[kKmMbB])(?![\w]))?"
)
_LIST_MARKER = re.compile(r"^\s*\d{1,2}[.)]\s", re.MULTILINE)
_LINK = re.compile(r"https?://|www\.|\]\(", re.IGNORECASE)
_FACT_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)


@dataclass(frozen=True)
class Figure:
    """A number as the answer wrote it: `value` in units of `scale`, to `decimals` places."""

    text: str
    value: float
    decimals: int
    scale: float
    percent: bool

    def matches(self, fact: float) -> bool:
        tolerance = 0.5 * 10 ** (-self.decimals) + 1e-9
        candidates = [abs(fact)]
        if self.percent:
            candidates.append(abs(fact) * 100)
        return any(abs(candidate / self.scale - self.value) <= tolerance for candidate in candidates)


@dataclass(frozen=True)
class Check:
    grounded: bool
    strays: list[str]  # what the answer wrote that no fact backs
    has_link: bool

    def reason(self) -> str:
        parts = []
        if self.strays:
            parts.append("these numbers are not in the facts: " + ", ".join(self.strays))
        if self.has_link:
            parts.append("it contains a link, and no fact is a link")
        return "; ".join(parts)


def figures_in(text: str) -> list[Figure]:
    """Every number the answer writes, with its unit and precision."""
    cleaned = _LIST_MARKER.sub(" ", text)
    found = []
    for match in _NUMBER.finditer(cleaned):
        digits = match.group("digits").replace(",", "")
        decimals = match.group("decimals") or ""
        scale_word = (match.group("scale") or "").lower()
        value = float(f"{digits}.{decimals}" if decimals else digits)
        found.append(
            Figure(
                text=match.group(0).strip(),
                value=value,
                decimals=len(decimals),
                scale=SCALES.get(scale_word, 1.0),
                percent=match.group("percent") is not None,
            )
        )
    return found


def fact_numbers(facts: object, *, skip: frozenset[str] = UNTRUSTED_PROSE) -> list[float]:
    """Every number in the facts' JSON (in strings too), leaving out values under the `skip` keys."""
    numbers: list[float] = []

    def walk(value: object) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, int | float):
            if math.isfinite(value):
                numbers.append(float(value))
        elif isinstance(value, str):
            if _UUID.fullmatch(value):
                return  # an identifier's digits are not figures
            numbers.extend(float(part) for part in _FACT_NUMBER.findall(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if key not in skip:
                    walk(item)
        elif isinstance(value, Iterable):
            for item in value:
                walk(item)

    walk(facts)
    return numbers


def check(text: str, facts: object) -> Check:
    """Whether every number in `text` matches a fact after rounding, and the text carries no link."""
    known = fact_numbers(facts)
    strays = [figure.text for figure in figures_in(text) if not any(figure.matches(fact) for fact in known)]
    has_link = bool(_LINK.search(text))
    return Check(grounded=not strays and not has_link, strays=strays, has_link=has_link)
