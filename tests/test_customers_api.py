"""Subscriptions and usage through the API: keyed by external id (a resend changes nothing), workspace-scoped."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from customers.models import Customer, Subscription, UsageRecord
from customers.services import accounts_upsert
from tenancy.services import api_key_create

pytestmark = pytest.mark.django_db
API = "/api/v1/customers"


def _client(raw_key: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw_key}"})


@pytest.fixture
def customer(personas) -> Customer:
    accounts_upsert(
        workspace=personas.workspace,
        customers={
            "k": {"name": "Initech", "industry": "", "location": "", "since": None, "churned": None, "attributes": {}}
        },
        subscriptions={},
        usage={},
        tickets={},
        churn_events={},
    )
    return Customer.objects.get(workspace=personas.workspace)


def test_subscriptions_and_usage_upsert_by_external_id(personas, customer):
    _key, raw = api_key_create(workspace=personas.workspace, name="t", created_by=personas.owner)
    client = _client(raw)
    sub = [{"external_id": "s-1", "plan": "Pro", "seats": 5, "mrr": "100.00", "start_date": "2026-01-01"}]
    url = f"{API}/{customer.uuid}/subscriptions/"
    first = client.post(url, json.dumps(sub), content_type="application/json")
    assert first.status_code == 200 and first.json() == {"created": 1, "updated": 0}
    again = client.post(url, json.dumps(sub), content_type="application/json")
    assert again.json() == {"created": 0, "updated": 0}
    assert float(Subscription.objects.get(workspace=personas.workspace).arr) == 1200.0
    bad = client.post(url, json.dumps([{**sub[0], "billing_period": "weekly"}]), content_type="application/json")
    assert bad.status_code == 422 and bad["Content-Type"] == "application/problem+json"
    ends_first = [{**sub[0], "end_date": "2025-12-31"}]
    backwards = client.post(url, json.dumps(ends_first), content_type="application/json")
    assert backwards.status_code == 422 and "ends before it starts" in backwards.json()["detail"]
    extra = client.post(url, json.dumps([{**sub[0], "colour": "red"}]), content_type="application/json")
    assert extra.status_code == 422 and extra.json()["errors"]
    assert client.post(url, json.dumps([None]), content_type="application/json").status_code == 422
    usage = [{"external_id": "u-1", "date": "2026-02-01", "metric": "logins", "value": 12, "team": "Finance"}]
    response = client.post(f"{API}/{customer.uuid}/usage/", json.dumps(usage), content_type="application/json")
    assert response.json() == {"created": 1, "updated": 0}
    assert UsageRecord.objects.get(workspace=personas.workspace).team == "Finance"
    listed = client.get(f"{API}/").json()
    assert [c["name"] for c in listed["items"]] == ["Initech"] and listed["count"] == 1 and listed["next"] is None


def test_another_customers_subscription_is_a_conflict(personas, customer):
    accounts_upsert(
        workspace=personas.workspace,
        customers={
            "j": {"name": "Hooli", "industry": "", "location": "", "since": None, "churned": None, "attributes": {}}
        },
        subscriptions={},
        usage={},
        tickets={},
        churn_events={},
    )
    other = Customer.objects.get(workspace=personas.workspace, company__name="Hooli")
    _key, raw = api_key_create(workspace=personas.workspace, name="t", created_by=personas.owner)
    client = _client(raw)
    sub = json.dumps([{"external_id": "s-9", "mrr": 10, "start_date": "2026-01-01"}])
    assert client.post(f"{API}/{customer.uuid}/subscriptions/", sub, content_type="application/json").status_code == 200
    taken = client.post(f"{API}/{other.uuid}/subscriptions/", sub, content_type="application/json")
    assert taken.status_code == 409 and "another customer" in taken.json()["detail"]
    assert Subscription.objects.get(external_id="s-9").customer == customer


def test_customers_page_with_a_cursor(personas, customer):
    _key, raw = api_key_create(workspace=personas.workspace, name="t", created_by=personas.owner)
    page = _client(raw).get(f"{API}/?limit=1&cursor=o1").json()
    assert page["count"] == 1 and page["items"] == []
    assert _client(raw).get(f"{API}/?limit=0").status_code == 422


def test_another_workspace_key_sees_no_customer(personas, customer):
    _key, raw = api_key_create(workspace=personas.other_workspace, name="o", created_by=personas.outsider)
    client = _client(raw)
    assert client.get(f"{API}/{customer.uuid}/").status_code == 404
    assert client.get(f"{API}/").json()["items"] == []
    sub = [{"external_id": "s-1", "mrr": "1", "start_date": "2026-01-01"}]
    post = client.post(f"{API}/{customer.uuid}/subscriptions/", json.dumps(sub), content_type="application/json")
    assert post.status_code == 404 and not Subscription.objects.exists()
    assert post["Content-Type"] == "application/problem+json" and post.json()["title"]


def test_late_and_failed_payments_arrive_by_api_and_lower_health(personas, customer):
    """Payments are upserted by external id; after a refresh the customer's health names the payments driver."""
    from datetime import timedelta

    from customers.models import Payment
    from customers.services import customers_refresh

    _key, raw = api_key_create(workspace=personas.workspace, name="t", created_by=personas.owner)
    client = _client(raw)
    today = personas.workspace.today()
    url = f"{API}/{customer.uuid}/payments/"
    on_time = [
        {"external_id": f"inv-{i}", "due_date": str(today - timedelta(days=30 * i)), "amount": "500.00",
         "status": "paid", "paid_on": str(today - timedelta(days=30 * i))}
        for i in range(1, 4)
    ]  # fmt: skip
    response = client.post(url, json.dumps(on_time), content_type="application/json")
    assert response.status_code == 200 and response.json() == {"created": 3, "updated": 0}
    customers_refresh(workspace=personas.workspace)
    customer.refresh_from_db()
    healthy = customer.health
    assert {"name": "payments", "points": 3.0, "detail": "3 payments on time in 180 days"} in customer.health_drivers

    failed = [{**on_time[0], "status": "failed", "paid_on": None}, {**on_time[1], "status": "late"}]
    response = client.post(url, json.dumps(failed), content_type="application/json")
    assert response.json() == {"created": 0, "updated": 2}
    assert Payment.objects.filter(customer=customer).count() == 3
    customers_refresh(workspace=personas.workspace)
    customer.refresh_from_db()
    driver = next(d for d in customer.health_drivers if d["name"] == "payments")
    assert driver["detail"] == "2 of 3 payments late or failed in 180 days" and driver["points"] < 0
    assert customer.health < healthy

    bad = client.post(url, json.dumps([{**on_time[0], "status": "bounced"}]), content_type="application/json")
    assert bad.status_code == 422 and Payment.objects.filter(customer=customer, status="failed").count() == 1
