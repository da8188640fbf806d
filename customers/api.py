"""REST endpoints of the customers app (mounted by vectoros.api at /api/v1/customers/). Workspace-wide API keys.

Subscriptions and usage arrive here keyed by their external ids, through the importers' upsert, so sending the
same record twice changes nothing.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from ninja import Router, Schema
from ninja.errors import HttpError

from crm.api.common import ERRORS
from customers.models import BillingPeriod, Customer, Subscription
from customers.services import customer_key, customer_records_upsert
from vectoros.http import ApiRequest

router = Router(tags=["customers"])


class CustomerOut(Schema):
    id: UUID
    company_id: UUID
    name: str
    external_id: str
    health: float | None
    churn_risk: float | None
    health_drivers: list[dict[str, Any]]
    churn_drivers: list[dict[str, Any]]

    @staticmethod
    def of(customer: Customer) -> CustomerOut:
        return CustomerOut(
            id=customer.uuid,
            company_id=customer.company.uuid,
            name=customer.company.name,
            external_id=customer.external_id,
            health=customer.health,
            churn_risk=customer.churn_risk,
            health_drivers=customer.health_drivers,
            churn_drivers=customer.churn_drivers,
        )


class SubscriptionIn(Schema):
    external_id: str
    plan: str = ""
    seats: int = 0
    mrr: Decimal
    start_date: date
    end_date: date | None = None
    billing_period: str = BillingPeriod.ANNUAL
    auto_renew: bool = False


class UsageIn(Schema):
    external_id: str
    date: date
    metric: str
    value: float
    team: str = ""


class Written(Schema):
    created: int
    updated: int


def _customer(request: ApiRequest, customer_id: UUID) -> Customer:
    found = (
        Customer.objects.filter(workspace_id=request.auth.workspace_id, uuid=customer_id)
        .select_related("company")
        .first()
    )
    if found is None:
        raise HttpError(404, "No such customer")
    return found


@router.get("/", response={200: list[CustomerOut], **ERRORS})
def customers_list(request: ApiRequest, limit: int = 100, offset: int = 0):
    customers = Customer.objects.for_workspace(request.auth.workspace_id).select_related("company").order_by("id")
    return [CustomerOut.of(c) for c in customers[max(offset, 0) : max(offset, 0) + min(max(limit, 1), 500)]]


@router.get("/{customer_id}/", response={200: CustomerOut, **ERRORS})
def customers_get(request: ApiRequest, customer_id: UUID):
    return CustomerOut.of(_customer(request, customer_id))


@router.post("/{customer_id}/subscriptions/", response={200: Written, **ERRORS})
def subscriptions_upsert(request: ApiRequest, customer_id: UUID, payload: list[SubscriptionIn]):
    customer = _customer(request, customer_id)
    key = customer_key(customer)
    rows = {}
    for item in payload:
        if item.billing_period not in BillingPeriod.values:
            raise HttpError(422, f"billing_period must be one of {', '.join(BillingPeriod.values)}")
        if item.mrr < 0 or item.seats < 0 or (item.end_date and item.end_date < item.start_date):
            raise HttpError(422, f"{item.external_id}: negative amounts or an end before the start")
        taken = Subscription.objects.filter(workspace_id=customer.workspace_id, external_id=item.external_id)
        if taken.exclude(customer=customer).exists():
            raise HttpError(422, f"{item.external_id} is another customer's subscription")
        rows[item.external_id] = {
            "customer": key, "plan": item.plan, "seats": item.seats, "mrr": item.mrr, "arr": item.mrr * 12,
            "start_date": item.start_date, "end_date": item.end_date, "billing_period": item.billing_period,
            "auto_renew": item.auto_renew, "is_trial": False, "upgraded": False, "downgraded": False,
            "churned": None, "status": "active",
        }  # fmt: skip
    created, updated = customer_records_upsert(customer=customer, subscriptions=rows)["subscriptions"]
    return Written(created=created, updated=updated)


@router.post("/{customer_id}/usage/", response={200: Written, **ERRORS})
def usage_upsert(request: ApiRequest, customer_id: UUID, payload: list[UsageIn]):
    customer = _customer(request, customer_id)
    key = customer_key(customer)
    rows = {
        f"{key}:{item.external_id}": {
            "customer": key,
            "subscription": None,
            "date": item.date,
            "metric": item.metric[:100],
            "value": item.value,
            "duration_seconds": None,
            "errors": 0,
            "team": item.team[:100],
        }
        for item in payload
    }
    created, updated = customer_records_upsert(customer=customer, usage=rows)["usage"]
    return Written(created=created, updated=updated)
