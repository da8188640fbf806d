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
    assert bad.status_code == 422
    usage = [{"external_id": "u-1", "date": "2026-02-01", "metric": "logins", "value": 12, "team": "Finance"}]
    response = client.post(f"{API}/{customer.uuid}/usage/", json.dumps(usage), content_type="application/json")
    assert response.json() == {"created": 1, "updated": 0}
    assert UsageRecord.objects.get(workspace=personas.workspace).team == "Finance"
    listed = client.get(f"{API}/").json()
    assert [c["name"] for c in listed] == ["Initech"]


def test_another_workspace_key_sees_no_customer(personas, customer):
    _key, raw = api_key_create(workspace=personas.other_workspace, name="o", created_by=personas.outsider)
    client = _client(raw)
    assert client.get(f"{API}/{customer.uuid}/").status_code == 404
    assert client.get(f"{API}/").json() == []
    sub = [{"external_id": "s-1", "mrr": "1", "start_date": "2026-01-01"}]
    post = client.post(f"{API}/{customer.uuid}/subscriptions/", json.dumps(sub), content_type="application/json")
    assert post.status_code == 404 and not Subscription.objects.exists()
