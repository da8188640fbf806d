"""`import_accounts`: customers, subscriptions, usage, tickets and churn events from files.

Two formats: `ravenstack` (a folder of five CSV files: accounts, subscriptions, feature usage, support
tickets, churn events) and `csv` (one row per customer with a JSON mapping, see `MAPPING_KEYS`).

The deal importer's rules and machinery (`crm.importers`: `ImportReport`, `RowError`, `Context`, the
streaming `CsvSource` and the cell parsers): a first pass reads and checks every row and writes nothing;
a problem is named by file, row and column, and any problem means nothing is written unless
`skip_invalid` is set (then the bad rows, and the rows that depend on them, are left out). The second
pass writes in one transaction keyed by external ids, so a re-import creates nothing new; a dry run
writes and rolls back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from crm.importers.reading import CsvSource, FileProblem
from crm.importers.records import Context
from crm.importers.report import ImportReport, RowError
from crm.importers.values import CellError, check_not_formula, number_or_text, parse_amount, parse_date, parse_datetime
from customers import services
from tenancy.models import Workspace

FORMATS = ("ravenstack", "csv")
ENTITIES = ("companies", "customers", "subscriptions", "usage", "tickets", "churn_events")
MAPPING_KEYS = {"delimiter", "encoding", "external_id", "name", "churned", "attributes"}
RAVENSTACK_FILES = {
    "accounts": "ravenstack_accounts.csv",
    "subscriptions": "ravenstack_subscriptions.csv",
    "usage": "ravenstack_feature_usage.csv",
    "tickets": "ravenstack_support_tickets.csv",
    "churn_events": "ravenstack_churn_events.csv",
}
_TRUE, _FALSE = {"true", "yes", "1", "y", "t"}, {"false", "no", "0", "n", "f", ""}


@dataclass
class Records:
    """Everything a file set holds, checked: dicts of model field values keyed by external id."""

    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    churn_events: dict[str, dict[str, Any]] = field(default_factory=dict)


def _bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CellError(f"“{raw.strip()}” is not true or false")


def _int(raw: str) -> int:
    text = raw.strip()
    if not text:
        return 0
    try:
        value = float(text)
    except ValueError:
        raise CellError(f"“{text}” is not a number") from None
    if value < 0 or value != int(value):
        raise CellError(f"“{text}” is not a whole number of zero or more")
    return int(value)


def _float(raw: str) -> float | None:
    text = raw.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise CellError(f"“{text}” is not a number") from None


class _Rows:
    """Reads one file's rows, applying per-column parsers; problems go to the context, named by file/row/column."""

    def __init__(self, ctx: Context, source: CsvSource) -> None:
        self.ctx, self.source, self.file = ctx, source, source.path.name
        self.bad: set[int] = set()

    def error(self, row: int, column: str, message: str) -> None:
        self.ctx.error(row, column, message, file=self.file)
        self.bad.add(row)

    def parse(self, row: int, cells: dict[str, str], parsers: dict[str, Callable[[str], Any]]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        ok = True
        for column, parse in parsers.items():
            try:
                out[column] = parse(cells.get(column, ""))
            except CellError as exc:
                self.error(row, column, str(exc))
                ok = False
        return out if ok else None


def _required(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise CellError("is empty")
    check_not_formula(text)
    return text


def _text(raw: str) -> str:
    text = raw.strip()
    check_not_formula(text)
    return text


def _read_ravenstack(folder: Path, ctx: Context) -> Records:
    if not folder.is_dir():
        raise FileProblem(f"{folder} is not a folder (the ravenstack format reads a folder of CSV files)")
    tz = ctx.tz
    day = lambda raw: parse_date(raw, tz)  # noqa: E731  # a parser per column, as a one-liner
    required_day = lambda raw: _require_value(parse_date(raw, tz))  # noqa: E731
    moment = lambda raw: parse_datetime(raw, tz)  # noqa: E731
    out = Records()
    sources = {}
    for key, name in RAVENSTACK_FILES.items():
        path = folder / name
        if not path.is_file():
            raise FileProblem(f"{folder.name}: {name} is missing", file=name)
        sources[key] = CsvSource(path)
    sources["accounts"].require("account_id", "account_name", "signup_date", "churn_flag")
    sources["subscriptions"].require("subscription_id", "account_id", "start_date", "end_date", "seats", "mrr_amount")
    sources["usage"].require("usage_id", "subscription_id", "usage_date", "feature_name", "usage_count")
    sources["tickets"].require("ticket_id", "account_id", "submitted_at")
    sources["churn_events"].require("churn_event_id", "account_id", "churn_date")

    reader = _Rows(ctx, sources["accounts"])
    account_row: dict[str, int] = {}
    for row, cells in reader.source.rows():
        values = reader.parse(
            row,
            cells,
            {
                "account_id": _required, "account_name": _required, "industry": _text, "country": _text,
                "signup_date": required_day, "referral_source": _text, "plan_tier": _text, "seats": _int,
                "is_trial": _bool, "churn_flag": _bool,
            },
        )  # fmt: skip
        if values is None or _duplicate(reader, row, values["account_id"], account_row, "account_id"):
            continue
        out.customers[values["account_id"]] = {
            "name": values["account_name"],
            "industry": values["industry"],
            "location": values["country"],
            "since": values["signup_date"],
            "churned": values["churn_flag"],
            "attributes": {
                "industry": values["industry"], "country": values["country"],
                "referral_source": values["referral_source"], "plan_tier": values["plan_tier"],
                "seats": values["seats"], "is_trial": values["is_trial"],
            },
        }  # fmt: skip

    reader = _Rows(ctx, sources["subscriptions"])
    seen: dict[str, int] = {}
    for row, cells in reader.source.rows():
        values = reader.parse(
            row,
            cells,
            {
                "subscription_id": _required, "account_id": _required, "start_date": required_day, "end_date": day,
                "plan_tier": _text, "seats": _int, "mrr_amount": _amount, "arr_amount": _amount, "is_trial": _bool,
                "upgrade_flag": _bool, "downgrade_flag": _bool, "churn_flag": _bool, "billing_frequency": _billing,
                "auto_renew_flag": _bool,
            },
        )  # fmt: skip
        if values is None or _duplicate(reader, row, values["subscription_id"], seen, "subscription_id"):
            continue
        if values["account_id"] not in out.customers:
            reader.error(row, "account_id", _unknown("account", values["account_id"], account_row))
            continue
        if values["end_date"] is not None and values["end_date"] < values["start_date"]:
            reader.error(row, "end_date", f"ends ({values['end_date']}) before it starts ({values['start_date']})")
            continue
        mrr, arr = values["mrr_amount"], values["arr_amount"]
        ended = values["end_date"] is not None
        out.subscriptions[values["subscription_id"]] = {
            "customer": values["account_id"],
            "plan": values["plan_tier"],
            "seats": values["seats"],
            "mrr": mrr,
            "arr": arr if arr else mrr * 12,
            "start_date": values["start_date"],
            "end_date": values["end_date"],
            "billing_period": values["billing_frequency"],
            "auto_renew": values["auto_renew_flag"],
            "is_trial": values["is_trial"],
            "upgraded": values["upgrade_flag"],
            "downgraded": values["downgrade_flag"],
            "churned": values["churn_flag"] if ended else None,
            "status": ("churned" if values["churn_flag"] else "ended") if ended else "active",
        }

    reader = _Rows(ctx, sources["usage"])
    seen = {}
    ids_seen: set[str] = set()
    for row, cells in reader.source.rows():
        values = reader.parse(
            row,
            cells,
            {
                "usage_id": _required, "subscription_id": _required, "usage_date": required_day,
                "feature_name": _required, "usage_count": _required_float, "usage_duration_secs": _float,
                "error_count": _int,
            },
        )  # fmt: skip
        if values is None:
            continue
        # RavenStack's usage ids are short and repeat across subscriptions (distinct records): a usage row is
        # keyed by its id and its subscription, so only a true repeat is refused.
        key = f"{values['usage_id']}/{values['subscription_id']}"
        if values["usage_id"] in ids_seen and key not in seen:
            ctx.reconcile(
                "some usage_id values repeat on different subscriptions: usage is keyed by id and subscription"
            )
        ids_seen.add(values["usage_id"])
        if _duplicate(reader, row, key, seen, "usage_id"):
            continue
        sub = out.subscriptions.get(values["subscription_id"])
        if sub is None:
            reader.error(row, "subscription_id", f"“{values['subscription_id']}” is not a subscription in the file")
            continue
        out.usage[key] = {
            "customer": sub["customer"],
            "subscription": values["subscription_id"],
            "date": values["usage_date"],
            "metric": values["feature_name"][:100],
            "value": values["usage_count"],
            "duration_seconds": values["usage_duration_secs"],
            "errors": values["error_count"],
        }

    reader = _Rows(ctx, sources["tickets"])
    seen = {}
    for row, cells in reader.source.rows():
        values = reader.parse(
            row,
            cells,
            {
                "ticket_id": _required, "account_id": _required, "submitted_at": lambda r: _require_value(moment(r)),
                "closed_at": moment, "resolution_time_hours": _float, "priority": _priority,
                "first_response_time_minutes": _float, "satisfaction_score": _float, "escalation_flag": _bool,
            },
        )  # fmt: skip
        if values is None or _duplicate(reader, row, values["ticket_id"], seen, "ticket_id"):
            continue
        if values["account_id"] not in out.customers:
            reader.error(row, "account_id", _unknown("account", values["account_id"], account_row))
            continue
        out.tickets[values["ticket_id"]] = {
            "customer": values["account_id"],
            "priority": values["priority"],
            "opened_at": values["submitted_at"],
            "resolved_at": values["closed_at"],
            "resolution_hours": values["resolution_time_hours"],
            "first_response_minutes": values["first_response_time_minutes"],
            "satisfaction": values["satisfaction_score"],
            "escalated": values["escalation_flag"],
        }

    reader = _Rows(ctx, sources["churn_events"])
    seen = {}
    for row, cells in reader.source.rows():
        values = reader.parse(
            row,
            cells,
            {
                "churn_event_id": _required, "account_id": _required, "churn_date": required_day,
                "reason_code": _text, "refund_amount_usd": _amount, "is_reactivation": _bool, "feedback_text": _text,
            },
        )  # fmt: skip
        if values is None or _duplicate(reader, row, values["churn_event_id"], seen, "churn_event_id"):
            continue
        if values["account_id"] not in out.customers:
            reader.error(row, "account_id", _unknown("account", values["account_id"], account_row))
            continue
        out.churn_events[values["churn_event_id"]] = {
            "customer": values["account_id"],
            "date": values["churn_date"],
            "reason": values["reason_code"][:100],
            "refund": values["refund_amount_usd"],
            "feedback": values["feedback_text"],
            "is_reactivation": values["is_reactivation"],
        }
    return out


def _require_value(value: Any) -> Any:
    if value is None:
        raise CellError("is empty")
    return value


def _required_float(raw: str) -> float:
    return float(_require_value(_float(raw)))


def _amount(raw: str) -> Decimal:
    return parse_amount(raw) or Decimal("0")


def _billing(raw: str) -> str:
    text = raw.strip().lower()
    periods = {"monthly": "monthly", "month": "monthly", "annual": "annual", "annually": "annual", "yearly": "annual"}
    periods |= {"quarterly": "quarterly", "": "monthly"}
    if text not in periods:
        raise CellError(f"“{raw.strip()}” is not a billing period (monthly, quarterly or annual)")
    return periods[text]


def _priority(raw: str) -> str:
    text = raw.strip().lower() or "medium"
    if text not in {"low", "medium", "high", "urgent"}:
        raise CellError(f"“{raw.strip()}” is not a priority (low, medium, high or urgent)")
    return text


def _duplicate(reader: _Rows, row: int, key: str, seen: dict[str, int], column: str) -> bool:
    first = seen.setdefault(key, row)
    if first != row:
        reader.error(row, column, f"“{key}” already used on row {first}")
        return True
    return False


def _unknown(what: str, key: str, rows: dict[str, int]) -> str:
    if key in rows:
        return f"{what} “{key}” was refused (see its row {rows[key]})"
    return f"“{key}” is not an {what} in the file"


def check_mapping(mapping: dict[str, Any]) -> list[str]:
    """Problems with a customer CSV mapping, as messages (empty when it is usable)."""
    if not isinstance(mapping, dict):
        return ["the mapping must be a JSON object"]
    problems = []
    unknown = set(mapping) - MAPPING_KEYS
    if unknown:
        problems.append(
            f"unknown mapping keys: {', '.join(sorted(unknown))} (known: {', '.join(sorted(MAPPING_KEYS))})"
        )
    churned = mapping.get("churned")
    if churned is not None and (
        not isinstance(churned, dict)
        or not isinstance(churned.get("column"), str)
        or not all(isinstance(churned.get(k, []), list) for k in ("yes", "no"))
    ):
        problems.append('"churned" must be {"column": COLUMN, "yes": [VALUES], "no": [VALUES]}')
    attributes = mapping.get("attributes", [])
    if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
        problems.append('"attributes" must be a list of column names')
    for key in ("delimiter", "encoding", "external_id", "name"):
        if key in mapping and not isinstance(mapping[key], str):
            problems.append(f'"{key}" must be a string')
    return problems


def _read_csv(path: Path, mapping: dict[str, Any], ctx: Context) -> Records:
    problems = check_mapping(mapping)
    if problems:
        raise FileProblem("; ".join(problems))
    source = CsvSource(path, delimiter=mapping.get("delimiter"), encoding=mapping.get("encoding", "utf-8"))
    churned = mapping.get("churned")
    attributes: list[str] = list(mapping.get("attributes", []))
    id_column, name_column = mapping.get("external_id"), mapping.get("name")
    source.require(*(c for c in (id_column, name_column, churned and churned["column"], *attributes) if c))
    yes = {str(v).strip().lower() for v in (churned or {}).get("yes", [])}
    no = {str(v).strip().lower() for v in (churned or {}).get("no", [])}
    out = Records()
    reader = _Rows(ctx, source)
    seen: dict[str, int] = {}
    for row, cells in source.rows():
        ok = True
        key = cells.get(id_column, "").strip() if id_column else f"{path.name}#{row}"
        if not key:
            reader.error(row, id_column or "", "the external id is empty")
            continue
        if _duplicate(reader, row, key, seen, id_column or ""):
            continue
        label: bool | None = None
        if churned:
            raw = cells.get(churned["column"], "").strip()
            if raw.lower() in yes:
                label = True
            elif raw.lower() in no:
                label = False
            elif raw:
                shown = ", ".join(sorted(yes | no))
                reader.error(row, churned["column"], f"“{raw}” is neither a churned nor a retained value ({shown})")
                ok = False
        values: dict[str, Any] = {}
        for column in attributes:
            text = cells.get(column, "").strip()
            value = number_or_text(text)
            if isinstance(value, str):
                try:
                    check_not_formula(value)
                except CellError as exc:
                    reader.error(row, column, str(exc))
                    ok = False
            values[column] = value
        name = cells.get(name_column, "").strip() if name_column else ""
        try:
            check_not_formula(name)
        except CellError as exc:
            reader.error(row, name_column or "", str(exc))
            ok = False
        if ok:
            out.customers[key] = {
                "name": name or key,
                "industry": "",
                "location": "",
                "since": None,
                "churned": label,
                "attributes": values,
            }
    return out


def run_account_import(
    *,
    workspace: Workspace,
    fmt: str,
    path: Path | str,
    mapping: dict[str, Any] | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
) -> ImportReport:
    """Import `path` into `workspace`; never raises for bad input (problems are in `report.errors`)."""
    started = time.perf_counter()
    report = ImportReport(
        fmt=fmt,
        dry_run=dry_run,
        created=dict.fromkeys(ENTITIES, 0),
        updated=dict.fromkeys(ENTITIES, 0),
        deals_by_outcome={},
    )
    ctx = Context(report=report, tz=workspace.tz, now=timezone.now(), currency=workspace.currency)
    try:
        if fmt == "ravenstack":
            records = _read_ravenstack(Path(path), ctx)
        elif fmt == "csv":
            records = _read_csv(Path(path), mapping or {}, ctx)
        else:
            raise FileProblem(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        report.rows = sum(
            len(getattr(records, k)) for k in ("customers", "subscriptions", "usage", "tickets", "churn_events")
        )
        if report.error_count:
            if not skip_invalid:
                return report
            report.skipped = len({(e.file, e.row) for e in report.errors})  # rows left out, not problems
        _write(workspace, records, report)
    except FileProblem as exc:
        report.add_error(RowError(row=exc.row, column=exc.column, message=str(exc), file=exc.file))
    finally:
        report.seconds = time.perf_counter() - started
    return report


def _write(workspace: Workspace, records: Records, report: ImportReport) -> None:
    try:
        with transaction.atomic():
            counts = services.accounts_upsert(
                workspace=workspace,
                customers=records.customers,
                subscriptions=records.subscriptions,
                usage=records.usage,
                tickets=records.tickets,
                churn_events=records.churn_events,
            )
            for entity, (created, updated) in counts.items():
                report.created[entity] = created
                report.updated[entity] = updated
            if report.dry_run:
                transaction.set_rollback(True)
    except DatabaseError as exc:
        for counts_of in (report.created, report.updated):
            for key in counts_of:
                counts_of[key] = 0
        report.add_error(
            RowError(row=0, column="", message=f"the database refused the import, nothing was written: {exc}")
        )
        return
    report.written = not report.dry_run


def as_of_date(value: str) -> date:
    """A --as-of value: an ISO date."""
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(f"“{value}” is not a date (use YYYY-MM-DD)") from None
