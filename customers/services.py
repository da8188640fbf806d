"""Writes of the customers app: imports, settings, the churn model, health and risk, renewals, expansion deals."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from alerts.models import AlertKind, Priority
from alerts.services import alert_raise_for_deal
from crm.models import ChangeSource, Company, Deal, Pipeline, Stage, StageKind
from crm.services import deal_create, pipeline_create_default
from customers import churn
from customers.evaluation import churn_data, churn_evaluate, holdout_cut
from customers.features import (
    Facts,
    expansion_signals,
    health,
    next_renewal,
    subscription_features,
)
from customers.models import (
    RENEWAL_WINDOWS,
    ChurnEvent,
    ChurnModel,
    Customer,
    CustomerSettings,
    Payment,
    RenewalAlertMark,
    Subscription,
    SupportTicket,
    UsageRecord,
)
from customers.selectors import churn_model_in_use, load_facts, renewal_lead_days, renewal_probabilities, sub_facts
from tenancy.models import Membership, Workspace
from vectoros.bulk import copy_rows

RENEWALS_PIPELINE = "Renewals"
RENEWAL_SOURCE = "renewal"
EXPANSION_SOURCE = "expansion"


# --- imports -------------------------------------------------------------------------------------------


def _upsert(
    model: type[models.Model], workspace: Workspace, rows: dict[str, dict[str, Any]], now: datetime
) -> tuple[int, int, dict[str, int]]:
    """Create or update `model` rows keyed by external id; returns (created, updated, id by external id)."""
    existing = {o.external_id: o for o in model.objects.filter(workspace=workspace, external_id__in=list(rows))}  # type: ignore[attr-defined]
    fields = list(next(iter(rows.values()))) if rows else []
    new, changed = [], []
    for key, values in rows.items():
        found = existing.get(key)
        if found is None:
            new.append((key, values))
            continue
        dirty = [f for f in fields if _differs(getattr(found, f), values[f])]
        if dirty:
            for f in fields:
                setattr(found, f, values[f])
            changed.append(found)
    ids = {key: o.pk for key, o in existing.items()}
    if new:
        made = copy_rows(
            model,
            ["workspace_id", "external_id", *fields],
            [(workspace.id, key[:255], *(values[f] for f in fields)) for key, values in new],
            with_ids=True,
            now=now,
        )
        ids.update({key: pk for (key, _), pk in zip(new, made, strict=True)})
    if changed:
        model.objects.bulk_update(changed, fields, batch_size=1000)  # type: ignore[attr-defined]
    return len(new), len(changed), ids


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, Decimal) and new is not None:
        return old != Decimal(str(new))
    return bool(old != new)


def accounts_upsert(
    *,
    workspace: Workspace,
    customers: dict[str, dict[str, Any]],
    subscriptions: dict[str, dict[str, Any]],
    usage: dict[str, dict[str, Any]],
    tickets: dict[str, dict[str, Any]],
    churn_events: dict[str, dict[str, Any]],
    payments: dict[str, dict[str, Any]] | None = None,
) -> dict[str, tuple[int, int]]:
    """The importers' bulk write, keyed by external ids (a re-import changes nothing). Each customer is a crm
    Company with the same external id (an existing one is reused), and a Customer row linked to it."""
    now = timezone.now()
    counts: dict[str, tuple[int, int]] = {}
    # A customer given with "company_id" is an existing crm company (the demo's); the others are matched to or
    # created as a company with the customer's external id.
    company_rows = {
        key: {"name": v["name"][:200], "industry": v["industry"][:100], "location": v["location"][:120]}
        for key, v in customers.items()
        if "company_id" not in v
    }
    created, updated, company_ids = _upsert(Company, workspace, company_rows, now)
    counts["companies"] = (created, updated)
    company_ids.update({key: v["company_id"] for key, v in customers.items() if "company_id" in v})
    customer_rows = {
        key: {
            "company_id": company_ids[key],
            "since": v["since"],
            "churned": v["churned"],
            "attributes": v["attributes"],
        }
        for key, v in customers.items()
    }
    created, updated, customer_ids = _upsert(Customer, workspace, customer_rows, now)
    counts["customers"] = (created, updated)
    sub_rows = {
        key: {**{k: v for k, v in values.items() if k != "customer"}, "customer_id": customer_ids[values["customer"]]}
        for key, values in subscriptions.items()
    }
    for values in sub_rows.values():
        values.setdefault("currency", workspace.currency)
    created, updated, sub_ids = _upsert(Subscription, workspace, sub_rows, now)
    counts["subscriptions"] = (created, updated)
    usage_rows = {
        key: {
            "team": "",
            **{k: v for k, v in values.items() if k not in ("customer", "subscription")},
            "customer_id": customer_ids[values["customer"]],
            "subscription_id": sub_ids.get(values.get("subscription") or ""),
        }
        for key, values in usage.items()
    }
    counts["usage"] = _upsert(UsageRecord, workspace, usage_rows, now)[:2]
    kinds = [("tickets", SupportTicket, tickets), ("churn_events", ChurnEvent, churn_events)]
    if payments is not None:  # only the sources that have payments (the API, the CRM sync) report them
        kinds.append(("payments", Payment, payments))
    for name, model, rows in kinds:
        mapped = {
            key: {
                **{k: v for k, v in values.items() if k != "customer"},
                "customer_id": customer_ids[values["customer"]],
            }
            for key, values in rows.items()
        }
        counts[name] = _upsert(model, workspace, mapped, now)[:2]
    return counts


def customer_key(customer: Customer) -> str:
    """The key a customer's own records refer to it by (its external id, or one made from its uuid)."""
    return customer.external_id or f"customer-{customer.uuid.hex}"


@transaction.atomic
def customer_records_upsert(
    *,
    customer: Customer,
    subscriptions: dict[str, dict[str, Any]] | None = None,
    usage: dict[str, dict[str, Any]] | None = None,
    payments: dict[str, dict[str, Any]] | None = None,
) -> dict[str, tuple[int, int]]:
    """Subscriptions, usage and payments of one existing customer (the API), keyed by external id like an import."""
    key = customer_key(customer)
    if not customer.external_id:  # the upsert keys customers by external id: give this one its own
        customer.external_id = key
        customer.save(update_fields=["external_id"])
    current = {
        key: {
            "name": customer.company.name, "industry": customer.company.industry, "location": customer.company.location,
            "company_id": customer.company_id, "since": customer.since, "churned": customer.churned,
            "attributes": customer.attributes,
        }
    }  # fmt: skip
    return accounts_upsert(
        workspace=customer.workspace,
        customers=current,
        subscriptions=subscriptions or {},
        usage=usage or {},
        tickets={},
        churn_events={},
        payments=payments or {},
    )


# --- settings --------------------------------------------------------------------------------------------


def customer_settings_save(*, workspace: Workspace, renewal_lead_days: int) -> CustomerSettings:
    if not 1 <= renewal_lead_days <= 730:
        raise ValidationError({"renewal_lead_days": "Choose between 1 and 730 days."})
    row, _ = CustomerSettings.objects.update_or_create(
        workspace=workspace, defaults={"renewal_lead_days": renewal_lead_days}
    )
    return row


# --- churn model -----------------------------------------------------------------------------------------


def churn_train(*, workspace: Workspace, seed: int = 0, facts: Facts | None = None) -> ChurnModel:
    """Train on every decided renewal (or labelled customer), judge it on held-out rows, and make it the
    active model only when it beats the base rate and the logistic baseline there (beyond noise)."""
    facts = facts or load_facts(workspace)
    evaluation, held = churn_evaluate(
        workspace=workspace, as_of=holdout_cut(workspace, facts), cv=5, seed=seed, with_heldout=True, facts=facts
    )
    ok, reason = churn.activation(held, seed=seed)
    rows, y, segments, _ = churn_data(workspace, facts=facts)
    model = churn.fit_churn(rows, y, segments, seed=seed)
    with transaction.atomic():
        record = ChurnModel.objects.create(
            workspace=workspace,
            kind=model.kind,
            artifact=model.to_json(),
            report=evaluation,
            reason=reason or model.reason,
            is_active=False,
        )
        if ok:
            ChurnModel.objects.for_workspace(workspace).filter(is_active=True).update(is_active=False)
            record.is_active = True
            record.save(update_fields=["is_active"])
    return record


def customers_refresh(*, workspace: Workspace, today: date | None = None, facts: Facts | None = None) -> dict[str, int]:
    """Store each customer's health (with drivers) and churn risk (with drivers) as of `today`."""
    today = today or workspace.today()
    facts = facts or load_facts(workspace)
    model = churn_model_in_use(workspace)
    by_customer: dict[int, list] = {}
    for sub in facts.subscriptions:
        by_customer.setdefault(sub.customer_id, []).append(sub)
    customers = list(Customer.objects.for_workspace(workspace))
    for customer in customers:
        subs = [s for s in by_customer.get(customer.id, []) if s.start <= today and (s.end is None or s.end >= today)]
        score, drivers = health(facts, customer.id, today, subs)
        customer.health, customer.health_drivers = round(score, 1), [d.as_dict() for d in drivers]
    _risk(workspace, facts, model, customers, by_customer, today)
    Customer.objects.bulk_update(
        customers, ["health", "health_drivers", "churn_risk", "churn_drivers"], batch_size=1000
    )
    return {"customers": len(customers)}


def _risk(workspace, facts, model, customers, by_customer, today) -> None:
    """Churn risk: the model's probability for the customer's next renewal (its riskiest live subscription);
    for a labelled customer list without subscriptions, the model's probability on its attributes."""
    if model is None:
        for customer in customers:
            customer.churn_risk, customer.churn_drivers = None, []
        return
    for customer in customers:
        subs = [s for s in by_customer.get(customer.id, []) if s.start <= today and (s.end is None or s.end >= today)]
        if subs:
            rows = []
            for sub in subs:
                renewal = next_renewal(sub, today) or today
                rows.append(subscription_features(facts, sub, today, renewal))
            p = model.predict(rows, [s.plan or "unknown" for s in subs])
            worst = int(p.argmax())
            customer.churn_risk = round(float(p[worst]), 4)
            customer.churn_drivers = model.explain([rows[worst]])[0]
        elif customer.attributes:
            customer.churn_risk = round(float(model.predict([customer.attributes], ["all"])[0]), 4)
            customer.churn_drivers = model.explain([customer.attributes])[0]


# --- renewals --------------------------------------------------------------------------------------------


def _renewals_stage(workspace: Workspace) -> Stage:
    pipeline = Pipeline.objects.filter(workspace=workspace, name=RENEWALS_PIPELINE).first()
    if pipeline is None:
        pipeline = pipeline_create_default(workspace=workspace, name=RENEWALS_PIPELINE)
    stage = Stage.objects.filter(pipeline=pipeline, kind=StageKind.OPEN).order_by("order").first()
    if stage is None:
        raise ValidationError(f"The {RENEWALS_PIPELINE} pipeline has no open stage.")
    return stage


def _window(days_left: int) -> int | None:
    """The alert window a renewal `days_left` away is in: 90 for 61-90 days, 60 for 31-60, 30 for 0-30."""
    for window in sorted(RENEWAL_WINDOWS):
        if 0 <= days_left <= window:
            return window
    return None


def renewals_run(*, workspace: Workspace, as_of: date | None = None, facts: Facts | None = None) -> dict[str, Any]:
    """Open a renewal deal for every live subscription renewing within the lead time, and raise its 90/60/30-day
    alert once each (ranked by ARR at risk: ARR x churn risk). Idempotent: a second pass creates nothing."""
    today = as_of or workspace.today()
    lead = renewal_lead_days(workspace)
    moment = datetime.combine(today, time(12), tzinfo=workspace.tz)
    live = Subscription.objects.for_workspace(workspace).filter(start_date__lte=today).exclude(end_date__lt=today)
    due = []
    for sub in live.select_related("customer__company", "renewal_deal"):
        renewal = next_renewal(sub_facts(sub), today)
        if renewal is not None and (renewal - today).days <= lead:
            due.append((sub, renewal))
    keep = renewal_probabilities(workspace, [sub_facts(s) for s, _ in due], today, facts=facts)
    risks = {sub.id: 1 - p for (sub, _), p in zip(due, keep, strict=True)}
    stats: dict[str, Any] = {
        "as_of": today.isoformat(),
        "due": len(due),
        "deals_created": 0,
        "alerts": {str(w): 0 for w in RENEWAL_WINDOWS},
    }
    marks = set(
        RenewalAlertMark.objects.filter(subscription_id__in=[s.id for s, _ in due]).values_list(
            "subscription_id", "window"
        )
    )
    stage = _renewals_stage(workspace) if due else None
    for sub, renewal in sorted(due, key=lambda d: -float(d[0].arr) * risks[d[0].id]):
        deal = _renewal_deal(workspace, sub, renewal, stage, moment, stats)
        window = _window((renewal - today).days)
        if window is None or (sub.id, window) in marks:
            continue
        risk = risks[sub.id]
        at_risk = float(sub.arr) * risk
        alert = alert_raise_for_deal(
            workspace=workspace,
            deal=deal,
            kind=AlertKind.RENEWAL,
            now=moment,
            fields={
                "priority": Priority.HIGH
                if window == 30 and risk >= 0.3
                else Priority.MEDIUM
                if window <= 60
                else Priority.LOW,
                "score": round(at_risk, 2),
                "revenue_at_risk": Decimal(str(round(at_risk, 2))),
                "seen": f"{sub.customer} renews {sub.plan or 'its subscription'} on {renewal:%b %d, %Y} "
                f"(in {(renewal - today).days} days): ${float(sub.arr):,.0f} ARR.",
                "why": f"Churn risk {risk:.0%}: ${at_risk:,.0f} of ARR at risk in the {window}-day window.",
                "next_step": "Confirm the renewal with the champion; "
                "review usage, tickets and health on the customer page.",
                "details": {
                    "window": window,
                    "subscription": str(sub.uuid),
                    "renewal_date": renewal.isoformat(),
                    "arr": float(sub.arr),
                    "churn_risk": round(risk, 4),
                },
            },
        )
        RenewalAlertMark.objects.create(
            workspace=workspace, subscription=sub, window=window, alert_id=alert.id, as_of=today
        )
        stats["alerts"][str(window)] += 1
    return stats


def _renewal_deal(
    workspace: Workspace, sub: Subscription, renewal: date, stage: Stage | None, moment: datetime, stats
) -> Deal:
    external_id = f"renewal:{sub.external_id or sub.uuid.hex}:{renewal.isoformat()}"
    deal = sub.renewal_deal
    if deal is None or deal.external_id != external_id:
        deal = Deal.objects.for_workspace(workspace).filter(external_id=external_id).first()
    if deal is None:
        assert stage is not None
        deal = deal_create(
            workspace=workspace,
            actor=None,
            title=f"Renewal: {sub.customer} {sub.plan}".strip()[:200],
            stage=stage,
            source_of_change=ChangeSource.SYSTEM,
            at=moment,
            company=sub.customer.company,
            owner=sub.customer.company.owner,
            amount=sub.arr,
            currency=sub.currency,
            expected_close_date=renewal,
            source=RENEWAL_SOURCE,
            external_id=external_id,
            attributes={"subscription": str(sub.uuid), "renewal_date": renewal.isoformat()},
        )
        stats["deals_created"] += 1
    if sub.renewal_deal_id != deal.id:
        sub.renewal_deal = deal
        sub.save(update_fields=["renewal_deal"])
    return deal


# --- expansion -------------------------------------------------------------------------------------------


def expansion_deal_create(*, customer: Customer, actor: Membership, today: date | None = None) -> Deal:
    """One click: an expansion deal in the default pipeline for a customer, carrying the signals behind it."""
    if not actor.can_write or actor.workspace_id != customer.workspace_id:
        raise ValidationError("You cannot create deals here.")
    workspace = customer.workspace
    today = today or workspace.today()
    facts = load_facts(workspace, customer_ids=[customer.id])
    subs = [s for s in facts.subscriptions if s.start <= today and (s.end is None or s.end >= today)]
    signals = expansion_signals(facts, customer.id, today, subs)
    pipeline = Pipeline.objects.filter(workspace=workspace, is_default=True).first()
    stage = Stage.objects.filter(pipeline=pipeline, kind=StageKind.OPEN).order_by("order").first() if pipeline else None
    if stage is None:
        raise ValidationError("The default pipeline has no open stage.")
    arr = sum(s.arr for s in subs)
    return deal_create(
        workspace=workspace,
        actor=actor,
        title=f"Expansion: {customer}"[:200],
        stage=stage,
        company=customer.company,
        owner=actor,
        amount=Decimal(str(round(arr * 0.2, 2))),
        expected_close_date=today + timedelta(days=60),
        source=EXPANSION_SOURCE,
        attributes={"signals": [s.as_dict() for s in signals]},
    )
