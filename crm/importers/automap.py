"""Columns mapped by their names, the fields an import cannot do without, and a row's content key. No Django here.

A spreadsheet calls the deal's value "Amount", "Value" or "Deal size"; `auto_mapping(header)` recognises the
usual names (case, spaces, underscores and punctuation ignored) and builds a mapping for `MappedCsvFormat`.
Such a mapping (and every mapping made on the import page) lists `"required"` fields: without a column for
each, the file is refused before anything is read or written. A mapping file written by hand (`--mapping`)
is used as written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

# Field → the column names that mean it, most specific first. Compared after `header_key`.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "external_id": (
        "external id", "id", "deal id", "opportunity id", "record id", "crm id", "deal number", "reference", "ref",
    ),
    "title": ("deal", "deal name", "name", "opportunity", "opportunity name", "title", "deal title", "subject"),
    "company": (
        "company", "company name", "account", "account name", "client", "customer", "organisation", "organization",
    ),
    "amount": (
        "amount", "value", "deal value", "deal size", "deal amount", "size", "opportunity amount", "total",
        "contract value", "acv",
    ),
    "stage": ("stage", "status", "deal stage", "sales stage", "pipeline stage", "opportunity stage"),
    "owner": (
        "owner", "deal owner", "owner email", "sales rep", "rep", "rep email", "salesperson", "sales agent",
        "account manager", "assigned to", "opportunity owner",
    ),
    "created": ("created", "created date", "created at", "created on", "date created", "create date", "opened"),
    "closed": ("closed", "closed date", "closed at", "closed on", "actual close date", "date closed"),
    "expected_close": (
        "close date", "expected close", "expected close date", "expected closing date", "closing date",
        "target close date", "close",
    ),
    "probability": ("probability", "probability %", "win probability", "chance"),
    "description": ("description", "notes", "note"),
    "source": ("source", "lead source", "deal source"),
}  # fmt: skip
# Values of an outcome column (or of the stage column) that mean won or lost.
WON_WORDS = ("won", "closed won", "win", "signed")
LOST_WORDS = ("lost", "closed lost", "lose", "dead", "cancelled", "canceled")
OUTCOME_NAMES = ("outcome", "result", "won lost", "win loss")
# Without these an import is refused. "stage" is met by a stage column or a won/lost outcome column.
REQUIRED = ("amount", "stage")
FIELD_LABELS = {"amount": "amount", "stage": "stage (or a won/lost outcome)", "title": "deal name"}


def header_key(name: str) -> str:
    """'Close_Date ', 'close-date', 'CloseDate' → 'closedate'."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[^0-9a-z%]+", "", text)


def auto_mapping(columns: Iterable[str]) -> dict[str, Any]:
    """A mapping for the columns whose names we recognise; each column is used for one field at most."""
    columns = list(columns)
    by_key: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(header_key(column), column)
    used: set[str] = set()
    mapping: dict[str, Any] = {}
    for field, names in SYNONYMS.items():
        for name in names:
            found = by_key.get(header_key(name))
            if found is not None and found not in used:
                mapping[field] = found
                used.add(found)
                break
    outcome_column = next((by_key[k] for k in map(header_key, OUTCOME_NAMES) if k in by_key), None)
    if outcome_column is not None and outcome_column not in used:
        mapping["outcome"] = {"column": outcome_column, "won": list(WON_WORDS), "lost": list(LOST_WORDS)}
    elif "stage" in mapping:
        # "Closed Won" in the stage column closes the deal as won even when the pipeline calls that stage otherwise.
        mapping["outcome"] = {"column": mapping["stage"], "won": list(WON_WORDS), "lost": list(LOST_WORDS)}
    mapping["required"] = list(REQUIRED)
    return mapping


def missing_required(mapping: dict[str, Any]) -> list[str]:
    """The required fields of `mapping` that no column provides, by name."""
    missing = []
    for field in mapping.get("required", []):
        if field == "stage":
            if not mapping.get("stage") and not (mapping.get("outcome") or {}).get("column"):
                missing.append(field)
        elif not mapping.get(field):
            missing.append(field)
    return missing


def missing_message(missing: list[str]) -> str:
    parts = []
    for field in missing:
        names = ", ".join(n.title() for n in SYNONYMS.get(field, ())[:5])
        parts.append(f"no {FIELD_LABELS.get(field, field)} column (looked for {names}, …)")
    return "; ".join(parts) + ": map it before importing, nothing was written"


def normalise_text(value: str) -> str:
    """Case, accents' compatibility forms, punctuation and runs of spaces ignored."""
    text = unicodedata.normalize("NFKC", value).casefold()
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(text.split())


def content_key(*, title: str, company: str, created: str) -> str:
    """A row's identity when the file has no id column: what the deal is, not where it sits in the file.

    Amount, stage, owner and the expected close date are left out on purpose: they change between two exports
    of the same deal, and a changed value must update the deal, not create another.
    """
    parts = [normalise_text(title), normalise_text(company)]
    if created:
        parts.append(created)
    return ("key:" + " | ".join(parts))[:240]
