"""CSV exports of a workspace's CRM data, streamed row by row, safe to open in a spreadsheet.

Which deals are exported is `crm.selectors.deals_filtered`, the deal list's own selector.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet

from crm.models import Activity, Company, Contact

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(value: Any) -> Any:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe; numbers stay numbers.

    Spreadsheets skip leading whitespace and line breaks (`" =1+1"`, `"\\n=1+1"`) and read full-width signs as
    ASCII ones (`＝HYPERLINK(`), so the first visible character is judged after NFKC folding.
    """
    if not isinstance(value, str) or not value:
        return value
    first_visible = unicodedata.normalize("NFKC", value.lstrip()[:1])
    if value.startswith(FORMULA_STARTS) or first_visible.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header)  # the BOM makes Excel read UTF-8
    for row in rows:
        yield writer.writerow([neutralise("" if v is None else v) for v in row])


DEAL_HEADER = ["id", "title", "company", "owner", "pipeline", "stage", "outcome", "amount", "currency",
               "amount_is_estimated", "probability", "expected_close_date", "created_at", "closed_at", "source",
               "external_id"]  # fmt: skip


def deal_rows(deals: QuerySet) -> Iterator[list[Any]]:
    """One row per deal, in the queryset's order (the deal list's, when it comes from `deals_filtered`)."""
    deals = deals.select_related("company", "owner", "pipeline", "stage")
    for d in deals.iterator(chunk_size=2000):
        yield [d.uuid, d.title, d.company.name if d.company else "", d.owner.display_name if d.owner else "",
               d.pipeline.name, d.stage.name, d.outcome, d.amount, d.currency, d.amount_is_estimated, d.probability,
               d.expected_close_date, d.created_at.isoformat(), d.closed_at.isoformat() if d.closed_at else "",
               d.source, d.external_id]  # fmt: skip


COMPANY_HEADER = [
    "id",
    "name",
    "domain",
    "industry",
    "employees",
    "annual_revenue",
    "location",
    "parent",
    "external_id",
]


def company_rows(companies: QuerySet[Company]) -> Iterator[list[Any]]:
    for c in companies.select_related("parent").order_by("name", "id").iterator(chunk_size=2000):
        yield [c.uuid, c.name, c.domain, c.industry, c.employees, c.annual_revenue, c.location,
               c.parent.name if c.parent else "", c.external_id]  # fmt: skip


CONTACT_HEADER = ["id", "first_name", "last_name", "email", "phone", "title", "company", "external_id"]


def contact_rows(contacts: QuerySet[Contact]) -> Iterator[list[Any]]:
    for c in contacts.select_related("company").order_by("last_name", "id").iterator(chunk_size=2000):
        yield [c.uuid, c.first_name, c.last_name, c.email, c.phone, c.title, c.company.name if c.company else "",
               c.external_id]  # fmt: skip


ACTIVITY_HEADER = ["id", "kind", "direction", "occurred_at", "subject", "deal", "company", "owner", "external_id"]


def activity_rows(activities: QuerySet[Activity]) -> Iterator[list[Any]]:
    activities = activities.select_related("deal", "company", "owner").order_by("occurred_at", "id")
    for a in activities.iterator(chunk_size=2000):
        yield [a.uuid, a.kind, a.direction, a.occurred_at.isoformat(), a.subject, a.deal.uuid if a.deal else "",
               a.company.name if a.company else "", a.owner.display_name if a.owner else "", a.external_id]  # fmt: skip


__all__ = ["csv_lines", "neutralise"]
