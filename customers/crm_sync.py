"""Subscriptions from the CRM sync (HubSpot commerce subscriptions): a settings.SYNC_SUBSCRIPTION_HANDLERS entry.

The sync hands plain records keyed by the CRM's ids; the company is the synced crm Company with that external id.
They go through the importers' upsert, so a record seen again changes nothing, and its last payment status
becomes a payment row the health score and churn features read.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from crm.models import Company
from customers.models import Customer, PaymentStatus, SubscriptionStatus
from customers.services import accounts_upsert, customer_key
from tenancy.models import Workspace

CANCELLED = {"canceled", "cancelled"}  # ended in churn
EXPIRED = {"expired"}  # ran its term out
PAYMENT = {"succeeded": PaymentStatus.PAID, "paid": PaymentStatus.PAID, "failed": PaymentStatus.FAILED}


def subscriptions_from_crm(*, workspace: Workspace, records: list[dict[str, Any]]) -> int:
    """Upsert the records whose company is known; returns how many were written."""
    companies = dict(
        Company.objects.for_workspace(workspace)
        .filter(external_id__in={r["company_key"] for r in records})
        .values_list("external_id", "id")
    )
    kept = [r for r in records if r["company_key"] in companies]
    if not kept:
        return 0
    existing = {}
    for customer in Customer.objects.for_workspace(workspace).filter(company_id__in=companies.values()):
        if not customer.external_id:  # the upsert keys customers by external id: give this one its own
            customer.external_id = customer_key(customer)
            customer.save(update_fields=["external_id"])
        existing[customer.company_id] = customer.external_id
    customers: dict[str, dict[str, Any]] = {}
    for record in kept:
        company_id = companies[record["company_key"]]
        key = existing.get(company_id) or f"crm-company-{record['company_key']}"
        customers[key] = {"company_id": company_id, "since": None, "churned": None, "attributes": {}}
        record["customer"] = key
    subscriptions = {f"crm-{r['key']}": _subscription(r) for r in kept}
    payments = {
        f"crm-{r['key']}-{r['next_payment_due'] or r['start_date']}": {
            "customer": r["customer"],
            "due_date": r["next_payment_due"] or r["start_date"],
            "paid_on": None,
            "amount": r["mrr"],
            "status": PAYMENT[r["last_payment_status"]],
        }
        for r in kept
        if r["last_payment_status"] == "failed"  # a success says no more than the subscription being live
    }
    accounts_upsert(
        workspace=workspace,
        customers=customers,
        subscriptions=subscriptions,
        usage={},
        tickets={},
        churn_events={},
        payments=payments,
    )
    return len(kept)


def _subscription(record: dict[str, Any]) -> dict[str, Any]:
    cancelled, expired = record["status"] in CANCELLED, record["status"] in EXPIRED
    end: date | None = record["end_date"]
    return {
        "customer": record["customer"],
        "plan": record["plan"],
        "seats": 0,
        "mrr": record["mrr"],
        "arr": (record["mrr"] * 12).quantize(Decimal("0.01")),
        "start_date": record["start_date"],
        "end_date": end,
        "billing_period": record["billing_period"],
        "auto_renew": not (cancelled or expired),
        "is_trial": False,
        "upgraded": False,
        "downgraded": False,
        "churned": True if cancelled else (False if expired else None),
        "status": SubscriptionStatus.CHURNED
        if cancelled
        else (SubscriptionStatus.ENDED if expired else SubscriptionStatus.ACTIVE),
    }
