"""Expansion signals measured on history: `evaluate_expansion` compares flagged customers with the others."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from customers.services import accounts_upsert
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db
AS_OF = date(2025, 6, 1)


def _sub(customer: str, start: date, arr: int, *, upgraded: bool = False) -> dict:
    return {
        "customer": customer, "plan": "Pro", "seats": 10, "mrr": Decimal(arr) / 12, "arr": Decimal(arr),
        "start_date": start, "end_date": None, "billing_period": "annual", "auto_renew": True, "is_trial": False,
        "upgraded": upgraded, "downgraded": False, "churned": None, "status": "active",
    }  # fmt: skip


def test_flagged_customers_that_expanded_are_counted_against_the_others():
    workspace = WorkspaceFactory(slug="exp")
    start = date(2024, 1, 1)
    customers = {
        k: {"name": k, "industry": "", "location": "", "since": start, "churned": None, "attributes": {}}
        for k in ("full", "quiet", "later")
    }
    usage = {}
    for key, seats in (("full", 12.0), ("quiet", 4.0), ("later", 5.0)):
        for i in range(0, 30, 10):
            usage[f"{key}-{i}"] = {
                "customer": key, "subscription": f"s-{key}", "date": AS_OF - timedelta(days=i + 1),
                "metric": "active_seats", "value": seats, "duration_seconds": None, "errors": 0,
            }  # fmt: skip
    subscriptions = {f"s-{k}": _sub(k, start, 12000) for k in customers}
    subscriptions["s-full-2"] = _sub("full", AS_OF + timedelta(days=40), 6000, upgraded=True)
    subscriptions["s-later-2"] = _sub("later", AS_OF + timedelta(days=300), 6000, upgraded=True)  # beyond 180 days
    accounts_upsert(
        workspace=workspace, customers=customers, subscriptions=subscriptions, usage=usage, tickets={}, churn_events={}
    )
    out = StringIO()
    call_command("evaluate_expansion", workspace="exp", as_of=AS_OF.isoformat(), json=True, stdout=out)
    found = json.loads(out.getvalue())
    assert (found["flagged"], found["flagged_expanded"]) == (1, 1)  # 12 seats in use of 10: flagged, and expanded
    assert (found["others"], found["others_expanded"]) == (2, 0)
    assert found["precision"] == 1.0 and found["base_rate"] == 0.0 and found["lift"] is None
