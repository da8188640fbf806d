"""Pulling from and pushing to Salesforce.

Opportunities, their OpportunityHistory, accounts, contacts and users are read with SOQL ordered by
SystemModstamp; what comes back is handed to the Salesforce importer's own reading (`SalesforceFormat`), so
stages, amounts and history are built exactly as for an export folder. Stage definitions (OpportunityStage)
add the stages no opportunity is in yet. Deletions come from queryAll with IsDeleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from crm.importers.records import Context, MemberRecord, PipelineSpec
from crm.importers.salesforce import PIPELINE, SalesforceFormat
from crm.models import ForecastCategory, TrackedField
from sync.clients.salesforce import SalesforceClient
from sync.tables import RowsTable

OPPORTUNITY_FIELDS = (
    "Id", "AccountId", "OwnerId", "Name", "Description", "StageName", "Amount", "Probability", "CloseDate",
    "NextStep", "LeadSource", "Type", "ForecastCategoryName", "IsClosed", "IsWon", "CreatedDate",
    "LastModifiedDate", "SystemModstamp",
)  # fmt: skip
HISTORY_FIELDS = ("Id", "OpportunityId", "CreatedDate", "StageName", "Amount", "CloseDate", "Probability")
FIELD_HISTORY_FIELDS = ("Id", "OpportunityId", "CreatedDate", "Field", "OldValue", "NewValue")
# What OpportunityFieldHistory adds to OpportunityHistory (which already gives stage, amount, close date and
# probability, so their field-history rows are not read: they would count each change twice).
FIELD_HISTORY_OF = {"NextStep": TrackedField.NEXT_STEP, "ForecastCategoryName": TrackedField.FORECAST_CATEGORY}
ACCOUNT_FIELDS = (
    "Id", "Name", "Type", "ParentId", "BillingCity", "BillingState", "BillingCountry", "Website", "Industry",
    "AnnualRevenue", "NumberOfEmployees", "Ownership", "Rating", "SystemModstamp",
)  # fmt: skip
CONTACT_FIELDS = ("Id", "AccountId", "FirstName", "LastName", "Email", "Phone", "Title", "SystemModstamp")
USER_FIELDS = ("Id", "Name", "Email", "SystemModstamp")
STAGE_FIELDS = ("MasterLabel", "IsClosed", "IsWon", "DefaultProbability", "SortOrder", "IsActive")
IN_CHUNK = 200  # ids per `WHERE x IN (...)`: keeps the query URL far below Salesforce's 16,000 characters

CATEGORY_FROM_SF = {
    "pipeline": ForecastCategory.PIPELINE,
    "best case": ForecastCategory.BEST_CASE,
    "bestcase": ForecastCategory.BEST_CASE,
    "commit": ForecastCategory.COMMIT,
    "forecast": ForecastCategory.COMMIT,
    "omitted": ForecastCategory.OMITTED,
    "closed": ForecastCategory.CLOSED,
}
CATEGORY_TO_SF = {
    ForecastCategory.PIPELINE: "Pipeline",
    ForecastCategory.BEST_CASE: "Best Case",
    ForecastCategory.COMMIT: "Commit",
    ForecastCategory.OMITTED: "Omitted",
    ForecastCategory.CLOSED: "Closed",
}


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal (whole seconds, UTC): a `>=` on it can only return more, never less."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quoted(ids: list[str]) -> str:
    return ", ".join("'" + i.replace("\\", "\\\\").replace("'", "\\'") + "'" for i in ids)


def changed_since(
    client: SalesforceClient, sobject: str, fields: tuple[str, ...], mark: dict[str, str] | None
) -> Iterator[list[dict[str, Any]]]:
    """Pages of records modified since the high-water mark ({"at", "id"}), in (SystemModstamp, Id) order; the
    records at or before the mark itself (a `>=` on whole seconds returns some again) are left out."""
    where = f" WHERE SystemModstamp >= {soql_datetime(stamp(mark['at']))}" if mark else ""
    soql = f"SELECT {', '.join(fields)} FROM {sobject}{where} ORDER BY SystemModstamp, Id"
    after = (stamp(mark["at"]), mark["id"]) if mark else None
    for page in client.query(soql):
        yield [r for r in page if after is None or (stamp(r["SystemModstamp"]), r["Id"]) > after]


def by_ids(client: SalesforceClient, sobject: str, fields: tuple[str, ...], key: str, ids: list[str]) -> list[dict]:
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        soql = f"SELECT {', '.join(fields)} FROM {sobject} WHERE {key} IN ({quoted(chunk)})"
        for page in client.query(soql):
            found.extend(page)
    return found


def field_history(client: SalesforceClient, ids: list[str]) -> list[dict[str, Any]]:
    """The next-step and forecast-category rows of OpportunityFieldHistory for these opportunities, oldest first."""
    wanted = quoted(list(FIELD_HISTORY_OF))
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        soql = (
            f"SELECT {', '.join(FIELD_HISTORY_FIELDS)} FROM OpportunityFieldHistory "
            f"WHERE Field IN ({wanted}) AND OpportunityId IN ({quoted(chunk)}) ORDER BY CreatedDate, Id"
        )
        for page in client.query(soql):
            found.extend(page)
    return sorted(found, key=lambda r: (stamp(r["CreatedDate"]), r["Id"]))


def field_history_value(field: str, raw: Any) -> str | None:
    """A field-history value in our terms: a forecast category's key, a next step's text; None for blank."""
    if raw in (None, ""):
        return None
    if field == "ForecastCategoryName":
        return CATEGORY_FROM_SF.get(str(raw).strip().lower()) or None
    return str(raw)[:255]


def deleted_since(client: SalesforceClient, mark: dict[str, str] | None) -> list[dict[str, Any]]:
    where = f" AND SystemModstamp >= {soql_datetime(stamp(mark['at']))}" if mark else ""
    soql = f"SELECT Id, SystemModstamp FROM Opportunity WHERE IsDeleted = true{where} ORDER BY SystemModstamp, Id"
    rows = [r for page in client.query(soql, include_deleted=True) for r in page]
    if mark:
        after = (stamp(mark["at"]), mark["id"])
        rows = [r for r in rows if (stamp(r["SystemModstamp"]), r["Id"]) > after]
    return rows


def stage_definitions(client: SalesforceClient) -> list[tuple[str, int, str]]:
    """(name, default probability, kind) of every active stage, in Salesforce's order."""
    soql = f"SELECT {', '.join(STAGE_FIELDS)} FROM OpportunityStage ORDER BY SortOrder"
    stages = []
    for page in client.query(soql):
        for r in page:
            if r.get("IsActive") is False:
                continue
            kind = "won" if r.get("IsWon") else "lost" if r.get("IsClosed") else "open"
            stages.append((str(r["MasterLabel"]), int(float(r.get("DefaultProbability") or 0)), kind))
    return stages


class PulledSalesforce(SalesforceFormat):
    """The Salesforce export reader over tables pulled from the API instead of files in a folder."""

    def __init__(self, *, tables: dict[str, RowsTable], known_accounts: set[str], ctx: Context) -> None:
        self.ctx = ctx
        self.tables = tables
        self.opportunities = tables["Opportunity.csv"]  # type: ignore[assignment]  # RowsTable duck-types CsvSource
        self.file = "Opportunity"
        self.users = {}
        self.accounts = dict.fromkeys(known_accounts)  # type: ignore[assignment]  # only membership is read
        self.contact_records = []
        self.history = self._read_history(None)  # type: ignore[arg-type]  # the folder is not used
        self.roles = {}
        self.stage_spec = self._stages()
        self.owners = set()

    def _optional(self, folder: Any, name: str, *required: str) -> Any:
        return self.tables.get(name)

    def pipeline(self) -> PipelineSpec:
        return PipelineSpec(name=PIPELINE, stages=self.stage_spec)


def member_records(users: list[dict[str, Any]]) -> list[MemberRecord]:
    return [
        MemberRecord(
            key=u["Id"], display_name=str(u.get("Name") or f"Salesforce user {u['Id']}"), email=u.get("Email") or ""
        )
        for u in users
    ]


def crm_values(record: dict[str, Any], stage_default_category: str | None) -> dict[str, Any]:
    """The pushed fields of an opportunity, in our terms (as SyncedDeal.values stores them)."""
    raw_category = str(record.get("ForecastCategoryName") or "").strip().lower()
    category = CATEGORY_FROM_SF.get(raw_category, "")
    return {
        "stage": record.get("StageName") or "",
        "amount": _amount(record.get("Amount")),
        "expected_close_date": (record.get("CloseDate") or "")[:10] or None,
        "next_step": record.get("NextStep") or "",
        "forecast_category": "" if category == stage_default_category else category,
    }


def _amount(value: Any) -> str | None:
    return None if value in (None, "") else f"{Decimal(str(value)):.2f}"


def push_body(fields: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for field, value in fields.items():
        if field == "stage":
            body["StageName"] = value
        elif field == "amount":
            body["Amount"] = None if value is None else float(value)
        elif field == "expected_close_date":
            body["CloseDate"] = value
        elif field == "next_step":
            body["NextStep"] = value or None
        elif field == "forecast_category" and value:
            body["ForecastCategoryName"] = CATEGORY_TO_SF.get(value, value)
    return body
