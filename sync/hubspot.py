"""Pulling from and pushing to HubSpot (CRM API v3).

Stages come from the pipelines API (label, probability, closed/won from metadata) into one "HubSpot" pipeline,
as the HubSpot importer does. Owners become members without a login (keyed by owner id, matched by email to
members imported from an export). Deals carry `propertiesWithHistory` for stage, amount, close date, owner and
probability, replayed into deal history. A full run lists every deal (50 a page, the limit with history) and
keeps its `after` cursor as the high-water mark; later runs search `hs_lastmodifieddate` from the last mark
and batch-read the changed deals with their history. Archived deals soft-delete here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from crm.importers.records import Change, CompanyRecord, ContactRecord, DealRecord, MemberRecord, PipelineSpec
from crm.models import ChangeSource, Deal, ForecastCategory, Stage
from crm.services import deal_delete
from sync.clients import CrmError
from sync.clients.hubspot import HubSpotClient
from sync.models import CrmConnection

if TYPE_CHECKING:
    from sync.engine import Run

PIPELINE = "HubSpot"
HISTORY = ("dealstage", "amount", "closedate", "hubspot_owner_id", "hs_deal_stage_probability")
DEAL_PROPERTIES = (
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "closedate",
    "createdate",
    "hubspot_owner_id",
    "description",
    "hs_deal_stage_probability",
    "hs_next_step",
    "hs_manual_forecast_category",
    "hs_lastmodifieddate",
)
COMPANY_PROPERTIES = ("name", "domain", "industry", "numberofemployees", "annualrevenue", "city", "country")
CONTACT_PROPERTIES = ("firstname", "lastname", "email", "phone", "jobtitle", "associatedcompanyid")
PROPERTY = {
    "stage": "dealstage",
    "amount": "amount",
    "expected_close_date": "closedate",
    "next_step": "hs_next_step",
    "forecast_category": "hs_manual_forecast_category",
}
CATEGORY_TO_HUBSPOT = {
    ForecastCategory.PIPELINE: "PIPELINE",
    ForecastCategory.BEST_CASE: "BEST_CASE",
    ForecastCategory.COMMIT: "COMMIT",
    ForecastCategory.OMITTED: "OMIT",
    ForecastCategory.CLOSED: "CLOSED",
}
CATEGORY_FROM_HUBSPOT = {v: k for k, v in CATEGORY_TO_HUBSPOT.items()}
MODIFIED = {"companies": "hs_lastmodifieddate", "contacts": "lastmodifieddate", "deals": "hs_lastmodifieddate"}
# HubSpot's commerce subscriptions (HubSpot payments or Stripe): read where the account has them and the app was
# granted `crm.objects.subscriptions.read`, and handed to settings.SYNC_SUBSCRIPTION_HANDLERS (the customers app).
SUBSCRIPTION_PROPERTIES = (
    "hs_name",
    "hs_status",
    "hs_mrr",
    "hs_recurring_billing_start_date",
    "hs_recurring_billing_end_date",
    "hs_recurring_billing_frequency",
    "hs_last_payment_status",
    "hs_next_payment_due_date",
)
BILLING = {"monthly": "monthly", "quarterly": "quarterly", "annually": "annual", "annual": "annual"}


def when(value: Any) -> datetime:
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000).astimezone()
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value in (None, "") else Decimal(str(value))
    except InvalidOperation:
        return None


def _date(value: Any) -> date | None:
    return when(value).date() if value not in (None, "") else None


def stages(client: HubSpotClient, connection: CrmConnection) -> tuple[tuple[str, int, str], ...]:
    """Every pipeline's stages, open ones first; remembers stage ids by label and labels by id for pushes."""
    found: list[tuple[int, int, str, int, str]] = []
    ids: dict[str, str] = {}
    for pipeline in client.pipelines():
        for stage in pipeline.get("stages", []):
            meta = stage.get("metadata") or {}
            chance = float(meta.get("probability") or 0)
            closed = str(meta.get("isClosed", "false")).lower() == "true"
            kind = ("won" if chance >= 1 else "lost") if closed else "open"
            ids[stage["label"]] = stage["id"]
            found.append(
                (
                    ("open", "won", "lost").index(kind),
                    stage.get("displayOrder", 0),
                    stage["label"],
                    round(chance * 100),
                    kind,
                )
            )
    connection.state["stage_ids"] = ids
    connection.state["stage_labels"] = {v: k for k, v in ids.items()}
    found.sort()
    return tuple((label, chance, kind) for _k, _o, label, chance, kind in found)


def _changed(client: HubSpotClient, kind: str, properties: tuple[str, ...], mark: dict[str, str] | None):
    """Pages of objects modified since the mark, oldest first (list for a first run, search after)."""
    if mark is None:
        for results, _after in client.list_pages(
            f"/crm/v3/objects/{kind}", {"limit": 100, "properties": ",".join((*properties, MODIFIED[kind]))}
        ):
            yield results
        return
    body = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": MODIFIED[kind],
                        "operator": "GTE",
                        "value": str(int(when(mark["at"]).timestamp() * 1000)),
                    }
                ]
            }
        ],
        "sorts": [{"propertyName": MODIFIED[kind], "direction": "ASCENDING"}],
        "properties": [*properties, MODIFIED[kind]],
        "limit": 100,
    }
    after = (when(mark["at"]), int(mark["id"]))
    for results, _after in client.search_pages(kind, body):
        yield [r for r in results if (when(r["properties"][MODIFIED[kind]]), int(r["id"])) > after]


def _mark(rows: list[dict[str, Any]], kind: str, old: dict[str, str] | None) -> dict[str, str] | None:
    stamped = [
        (when(r["properties"][MODIFIED[kind]]), int(r["id"]), r) for r in rows if r["properties"].get(MODIFIED[kind])
    ]
    if not stamped:
        return old
    at, oid, row = max(stamped, key=lambda s: (s[0], s[1]))
    if old is not None and (when(old["at"]), int(old["id"])) >= (at, oid):
        return old
    return {"at": row["properties"][MODIFIED[kind]], "id": str(oid)}


def deal_record(
    row: dict[str, Any], labels: dict[str, str], kinds: dict[str, str], keep_company: str | None
) -> DealRecord:
    props = row["properties"]
    history = row.get("propertiesWithHistory") or {}
    created = when(props.get("createdate") or row.get("createdAt"))

    def timeline(name: str) -> list[tuple[datetime, Any]]:
        entries = sorted(((when(e["timestamp"]), e.get("value")) for e in history.get(name, [])), key=lambda e: e[0])
        return entries or [(created, props.get(name))]

    def convert(name: str, value: Any) -> Any:
        if name == "dealstage":
            return labels.get(str(value), str(value or ""))
        if name == "amount":
            return _decimal(value) or Decimal(0)
        if name == "closedate":
            return _date(value)
        if name == "hs_deal_stage_probability":
            chance = _decimal(value)
            return None if chance is None else (chance * 100).quantize(Decimal("0.01"))
        return value or None

    fields = {
        "dealstage": "stage",
        "amount": "amount",
        "closedate": "expected_close_date",
        "hubspot_owner_id": "owner",
        "hs_deal_stage_probability": "probability",
    }
    first = {name: convert(name, timeline(name)[0][1]) for name in fields}
    changes = [
        Change(at=max(at, created), field=field, value=convert(name, value))
        for name, field in fields.items()
        for at, value in timeline(name)[1:]
    ]
    # The current values are the truth, whatever history says.
    last_at = max([created, *(c.at for c in changes)])
    changes.extend(
        Change(at=last_at, field=field, value=convert(name, props.get(name))) for name, field in fields.items()
    )
    companies = [a["id"] for a in ((row.get("associations") or {}).get("companies") or {}).get("results", [])]
    contacts = [a["id"] for a in ((row.get("associations") or {}).get("contacts") or {}).get("results", [])]
    stage = first["dealstage"]
    return DealRecord(
        row=0,
        external_id=str(row["id"]),
        title=str(props.get("dealname") or row["id"]),
        created_at=created,
        stage=stage,
        outcome=kinds.get(stage.lower()) if stage else None,
        amount=first["amount"],
        owner_key=first["hubspot_owner_id"],
        company_key=companies[0] if companies else keep_company,
        expected_close_date=first["closedate"],
        probability=first["hs_deal_stage_probability"],
        description=str(props.get("description") or ""),
        attributes={"hubspot_pipeline": props.get("pipeline")} if props.get("pipeline") else {},
        changes=changes,
        contact_keys=contacts,
    )


def crm_values(row: dict[str, Any], labels: dict[str, str], stage_default_category: str | None) -> dict[str, Any]:
    props = row["properties"]
    amount = _decimal(props.get("amount"))
    close = _date(props.get("closedate"))
    category = CATEGORY_FROM_HUBSPOT.get(str(props.get("hs_manual_forecast_category") or ""), "")
    return {
        "stage": labels.get(str(props.get("dealstage")), str(props.get("dealstage") or "")),
        "amount": None if amount is None else f"{amount:.2f}",
        "expected_close_date": close.isoformat() if close else None,
        "next_step": props.get("hs_next_step") or "",
        "forecast_category": "" if category == stage_default_category else category,
    }


def pull_hubspot(work: Run, client: HubSpotClient) -> None:
    conn, hw = work.conn, work.conn.high_water
    spec = stages(client, conn)
    labels: dict[str, str] = conn.state["stage_labels"]
    kinds = {label.lower(): kind for label, _c, kind in spec}
    owners = [o for results, _a in client.list_pages("/crm/v3/owners", {"limit": 100}) for o in results]
    companies = [r for page in _changed(client, "companies", COMPANY_PROPERTIES, hw.get("companies")) for r in page]
    contacts = [r for page in _changed(client, "contacts", CONTACT_PROPERTIES, hw.get("contacts")) for r in page]
    with transaction.atomic():
        ctx = work.context()
        writer = work.writer(ctx, PipelineSpec(name=PIPELINE, stages=spec))
        writer.write_teams_and_members(
            [],
            [
                MemberRecord(
                    key=str(o["id"]),
                    display_name=f"{o.get('firstName') or ''} {o.get('lastName') or ''}".strip()
                    or o.get("email")
                    or str(o["id"]),
                    email=o.get("email") or "",
                )
                for o in owners
                if not o.get("archived")
            ],
        )
        writer.write_companies(
            CompanyRecord(
                key=str(c["id"]),
                name=str(c["properties"].get("name") or c["id"])[:200],
                industry=str(c["properties"].get("industry") or "")[:100],
                employees=int(float(c["properties"]["numberofemployees"]))
                if c["properties"].get("numberofemployees")
                else None,
                annual_revenue=_decimal(c["properties"].get("annualrevenue")),
                location=", ".join(p for p in (c["properties"].get("city"), c["properties"].get("country")) if p)[:120],
                domain=str(c["properties"].get("domain") or "")[:200],
            )
            for c in companies
        )
        work.know_records(writer)  # contacts name their company by id
        writer.write_contacts(
            ContactRecord(
                key=str(c["id"]),
                last_name=str(c["properties"].get("lastname") or c["properties"].get("email") or c["id"]),
                first_name=str(c["properties"].get("firstname") or ""),
                email=str(c["properties"].get("email") or "")[:254],
                phone=str(c["properties"].get("phone") or ""),
                title=str(c["properties"].get("jobtitle") or ""),
                company_key=c["properties"].get("associatedcompanyid") or None,
            )
            for c in contacts
        )
        hw["companies"] = _mark(companies, "companies", hw.get("companies"))
        hw["contacts"] = _mark(contacts, "contacts", hw.get("contacts"))
        work.absorb(ctx.report)
        work.save_progress(f"{len(owners)} owners, {len(companies)} companies, {len(contacts)} contacts")
    pull_subscriptions(work, client)

    if hw.get("deals") is None or "after" in (hw.get("deals") or {}):
        # A first run: every deal by id order; the `after` cursor is the resume point.
        start = (hw.get("deals") or {}).get("after")
        params = {
            "limit": 50,
            "properties": ",".join(DEAL_PROPERTIES),
            "propertiesWithHistory": ",".join(HISTORY),
            "associations": "companies,contacts",
        }
        newest = (hw.get("deals") or {}).get("newest")
        for results, after in client.list_pages("/crm/v3/objects/deals", params, after=start):
            newest = _mark(results, "deals", newest)
            cursor = {"after": after, "newest": newest} if after else newest
            _write_deals(work, results, labels, kinds, spec, cursor)
        if hw.get("deals") is not None and "after" in hw["deals"]:
            hw["deals"] = hw["deals"].get("newest")
    else:
        retry = list(conn.state.get("retry", []))
        if retry:
            conn.state["retry"] = []
            found = client.batch_read("deals", retry, [*DEAL_PROPERTIES, *work.custom_fields()], list(HISTORY))
            _write_deals(work, found, labels, kinds, spec, hw.get("deals"))
        for page in _changed(client, "deals", ("hs_lastmodifieddate",), hw.get("deals")):
            if not page:
                continue
            full = client.batch_read(
                "deals", [r["id"] for r in page], [*DEAL_PROPERTIES, *work.custom_fields()], list(HISTORY)
            )
            _write_deals(work, full, labels, kinds, spec, _mark(page, "deals", hw.get("deals")))

    archived_mark = hw.get("archived")
    for results, _after in client.list_pages("/crm/v3/objects/deals", {"limit": 100, "archived": "true"}):
        for row in results:
            at = row.get("archivedAt") or row.get("updatedAt")
            if archived_mark and at and when(at) <= when(archived_mark):
                continue
            with transaction.atomic():
                deal = Deal.objects.filter(workspace=work.ws, external_id=str(row["id"])).first()
                if deal is not None:
                    deal_delete(deal=deal, actor=None, source_of_change=ChangeSource.SYNC)
                    work.add("deleted", "deals", 1)
                if at and (hw.get("archived") is None or when(at) > when(hw["archived"])):
                    hw["archived"] = at
                work.save_progress(f"archived {row['id']}")


def subscription_record(row: dict[str, Any]) -> dict[str, Any] | None:
    """A HubSpot subscription as the plain record the handlers take; None without a company or a start date."""
    props = row.get("properties") or {}
    companies = ((row.get("associations") or {}).get("companies") or {}).get("results") or []
    start = _date(props.get("hs_recurring_billing_start_date"))
    if not companies or start is None:
        return None
    return {
        "key": str(row["id"]),
        "company_key": str(companies[0]["id"]),
        "plan": str(props.get("hs_name") or "")[:100],
        "status": str(props.get("hs_status") or "").lower(),
        "mrr": _decimal(props.get("hs_mrr")) or Decimal("0"),
        "start_date": start,
        "end_date": _date(props.get("hs_recurring_billing_end_date")),
        "billing_period": BILLING.get(str(props.get("hs_recurring_billing_frequency") or "").lower(), "monthly"),
        "last_payment_status": str(props.get("hs_last_payment_status") or "").lower(),
        "next_payment_due": _date(props.get("hs_next_payment_due_date")),
    }


def pull_subscriptions(work: Run, client: HubSpotClient) -> None:
    """Every subscription, each run (an account holds hundreds, not millions), to the registered handlers.

    An account without commerce subscriptions, or an app without the scope, answers 403 or 404: that is said in
    the run's counts, not an error."""
    if not settings.SYNC_SUBSCRIPTION_HANDLERS:
        return
    params = {"limit": 100, "properties": ",".join(SUBSCRIPTION_PROPERTIES), "associations": "companies"}
    try:
        rows = [r for results, _a in client.list_pages("/crm/v3/objects/subscriptions", params) for r in results]
    except CrmError as exc:
        if "(403)" not in str(exc) and "(404)" not in str(exc):
            raise
        work.counts["subscriptions"] = {
            "pulled": 0,
            "skipped": "HubSpot refused: the account has no commerce subscriptions or the app lacks the scope",
        }
        return
    records = [r for r in map(subscription_record, rows) if r is not None]
    with transaction.atomic():
        handlers = [import_string(h) for h in settings.SYNC_SUBSCRIPTION_HANDLERS]
        written = sum(handler(workspace=work.ws, records=records) for handler in handlers)
        work.counts["subscriptions"] = {"pulled": written}
        work.save_progress(f"{written} subscriptions")


def _write_deals(
    work: Run,
    rows: list[dict[str, Any]],
    labels: dict[str, str],
    kinds: dict[str, str],
    spec: tuple,
    cursor: dict[str, Any] | None,
) -> None:
    with transaction.atomic():
        ctx = work.context()
        writer = work.writer(ctx, PipelineSpec(name=PIPELINE, stages=spec))
        work.know_records(writer)
        companies = dict(
            Deal.all_objects.filter(workspace=work.ws, external_id__in=[str(r["id"]) for r in rows]).values_list(
                "external_id", "company__external_id"
            )
        )
        custom = work.custom_fields()
        defaults = {s.name.lower(): s.forecast_category for s in Stage.objects.filter(pipeline=writer.pipeline)}
        records: list[DealRecord] = []
        upstream: dict[str, dict[str, Any]] = {}
        for row in rows:
            try:
                record = deal_record(row, labels, kinds, companies.get(str(row["id"])) or None)
                stage_label = labels.get(str(row["properties"].get("dealstage")), "")
                theirs = crm_values(row, labels, defaults.get(stage_label.lower()))
            except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
                # Reported now and read again by the next run, never skipped for good.
                work.error(f"HubSpot deal {row.get('id')}: {exc!r}")
                work.conn.state["retry"] = sorted({*work.conn.state.get("retry", []), str(row.get("id"))})
                continue
            work.map_attributes(record, row, custom)
            records.append(record)
            upstream[record.external_id] = theirs
        kept = work.reconcile(records, upstream)
        writer.write_deals(records)
        work.absorb(ctx.report)
        work.after_write(records, upstream, kept, ctx.report.deal_ids)
        if cursor is not None:
            work.conn.high_water["deals"] = cursor
        work.save_progress(f"{len(rows)} deals")


def push_properties(connection: CrmConnection, fields: dict[str, Any]) -> dict[str, Any]:
    """Our pushed fields as HubSpot deal properties (a stage by its id in the pipelines API)."""
    ids: dict[str, str] = connection.state.get("stage_ids", {})
    properties: dict[str, Any] = {}
    for field, value in fields.items():
        if field == "stage":
            value = ids.get(value, value)
        elif field == "forecast_category":
            value = CATEGORY_TO_HUBSPOT.get(value, value)
        properties[PROPERTY[field]] = "" if value is None else str(value)
    return properties
