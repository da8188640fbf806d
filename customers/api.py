"""REST endpoints of the customers app (mounted by vectoros.api at /api/v1/customers/). Workspace-wide API keys.

Subscriptions and usage arrive here keyed by their external ids, through the importers' upsert, so sending the
same record twice changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from crm.api.common import ERRORS
from customers.models import BillingPeriod, Customer, PaymentStatus, Subscription
from customers.services import customer_key, customer_records_upsert
from vectoros.apischema import Body, Conflict, CursorPage, Day, PageOut, UnknownReference, decimal_amount, paginate
from vectoros.http import ApiRequest

router = Router(tags=["customers"])

# Postgres refuses NUL characters in text: the schema says so, so they are a 422 rather than a 500.
ExternalId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
Short = Annotated[str, Field(max_length=100, pattern=r"^[^\x00]*$")]


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


class CustomerPage(PageOut):
    items: list[CustomerOut]


class SubscriptionIn(Body):
    external_id: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00]*$")]
    plan: Short = ""
    seats: int = Field(0, ge=0, le=2_147_483_647)
    mrr: decimal_amount(digits=12)  # type: ignore[valid-type]  # arr (12 × mrr) fits the 14 digits stored
    start_date: Day
    end_date: Day | None = None
    billing_period: Literal[tuple(BillingPeriod.values)] = BillingPeriod.ANNUAL.value  # type: ignore[valid-type]  # the model's own periods
    auto_renew: bool = False


class UsageIn(Body):
    external_id: ExternalId
    date: Day
    metric: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
    value: float = Field(allow_inf_nan=False)
    team: Short = ""


class PaymentIn(Body):
    external_id: ExternalId
    due_date: Day
    paid_on: Day | None = None
    amount: decimal_amount(digits=12)  # type: ignore[valid-type]
    status: Literal[tuple(PaymentStatus.values)]  # type: ignore[valid-type]  # paid (on time), late, failed


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
        raise UnknownReference(["path", "customer_id"], customer_id, message="No such customer")
    return found


@router.get("/", response={200: CustomerPage, **ERRORS})
def customers_list(request: ApiRequest, page: Query[CursorPage]):
    customers = Customer.objects.for_workspace(request.auth.workspace_id).select_related("company").order_by("id")
    found = paginate(request, customers, page)
    return {**found, "items": [CustomerOut.of(c) for c in found["items"]]}


@router.get("/{customer_id}/", response={200: CustomerOut, **ERRORS})
def customers_get(request: ApiRequest, customer_id: UUID):
    return CustomerOut.of(_customer(request, customer_id))


@router.post("/{customer_id}/subscriptions/", response={200: Written, **ERRORS})
def subscriptions_upsert(request: ApiRequest, customer_id: UUID, payload: list[SubscriptionIn]):
    """Create or update subscriptions by `external_id`; one that belongs to another customer is a 409.

    Business rule: a period that ends before it starts is refused with 422.
    """
    customer = _customer(request, customer_id)
    key = customer_key(customer)
    rows = {}
    for index, item in enumerate(payload):
        if item.end_date and item.end_date < item.start_date:
            raise HttpError(422, f"{item.external_id}: the period ends before it starts")
        taken = Subscription.objects.filter(workspace_id=customer.workspace_id, external_id=item.external_id)
        if taken.exclude(customer=customer).exists():
            raise Conflict(f"{item.external_id} is another customer's subscription", loc=["body", str(index)])
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
            "metric": item.metric,
            "value": item.value,
            "duration_seconds": None,
            "errors": 0,
            "team": item.team,
        }
        for item in payload
    }
    created, updated = customer_records_upsert(customer=customer, usage=rows)["usage"]
    return Written(created=created, updated=updated)


@router.post("/{customer_id}/payments/", response={200: Written, **ERRORS})
def payments_upsert(request: ApiRequest, customer_id: UUID, payload: list[PaymentIn]):
    """Create or update invoices' outcomes by `external_id`: late and failed payments lower health and, where a
    workspace records payments, are a churn feature."""
    customer = _customer(request, customer_id)
    key = customer_key(customer)
    rows = {}
    for item in payload:
        rows[f"{key}:{item.external_id}"] = {
            "customer": key,
            "due_date": item.due_date,
            "paid_on": item.paid_on,
            "amount": item.amount,
            "status": item.status,
        }
    created, updated = customer_records_upsert(customer=customer, payments=rows)["payments"]
    return Written(created=created, updated=updated)
