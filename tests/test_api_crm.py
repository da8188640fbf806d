"""The REST API: bearer keys, CRUD through services (with history), 422s and cross-workspace 404s."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from crm.models import ChangeSource, Deal, DealHistory, TrackedField
from tenancy.services import api_key_create, api_key_revoke
from tests.factories import CompanyFactory, ContactFactory, default_stage, make_deal

API = "/api/v1"


def _client(raw_key: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw_key}"})


@pytest.fixture
def key(personas):
    _key, raw = api_key_create(workspace=personas.workspace, name="tests", created_by=personas.owner)
    return raw


@pytest.fixture
def deal(personas):
    return make_deal(personas.workspace, actor=personas.rep, title="Acme renewal", amount=1000, owner=personas.rep)


def test_health_needs_no_key(db):
    response = Client().get(f"{API}/health/")
    assert response.status_code == 200
    assert response.json()["database"] is True and "worker_last_task_at" in response.json()


def test_wrong_and_revoked_keys_are_401(personas, key, deal):
    assert Client().get(f"{API}/deals/").status_code == 401
    assert _client("vos_nope").get(f"{API}/deals/").status_code == 401
    api_key, raw = api_key_create(workspace=personas.workspace, name="old")
    assert _client(raw).get(f"{API}/deals/").status_code == 200
    api_key_revoke(key=api_key)
    assert _client(raw).get(f"{API}/deals/").status_code == 401


def test_deal_crud_records_history_with_source_api(personas, key):
    client = _client(key)
    ws = personas.workspace
    stage = default_stage(ws)
    response = client.post(
        f"{API}/deals/",
        {"title": "Globex expansion", "stage": str(stage.uuid), "amount": "2500.00", "owner": str(personas.rep.uuid)},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    deal_id = response.json()["id"]
    deal = Deal.objects.get(uuid=deal_id)
    assert deal.amount == Decimal("2500") and deal.owner == personas.rep

    won = default_stage(ws, "Closed Won")
    response = client.patch(
        f"{API}/deals/{deal_id}/", {"stage": str(won.uuid), "amount": "3000"}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["outcome"] == "won"
    rows = DealHistory.objects.filter(deal=deal).values_list("field", "source")
    assert (TrackedField.AMOUNT, ChangeSource.API) in rows and (TrackedField.OUTCOME, ChangeSource.API) in rows

    listing = client.get(f"{API}/deals/", {"outcome": "won", "limit": 1}).json()
    assert listing["count"] == 1 and listing["items"][0]["id"] == deal_id
    assert client.delete(f"{API}/deals/{deal_id}/").status_code == 204
    assert not Deal.objects.filter(uuid=deal_id).exists()


def test_validation_errors_are_422_with_field_details(personas, key):
    client = _client(key)
    stage = default_stage(personas.workspace)
    response = client.post(
        f"{API}/deals/", {"title": "", "stage": str(stage.uuid), "amount": "-5"}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] == "Unprocessable Entity" and "title" in problem["detail"]
    fields = {tuple(e["loc"])[-1] for e in problem["errors"]}
    assert {"title", "amount"} <= fields
    other_stage = default_stage(personas.other_workspace)
    response = client.post(
        f"{API}/deals/", {"title": "X", "stage": str(other_stage.uuid)}, content_type="application/json"
    )
    # A stage of another workspace names nothing in this one: the same 404 as an id that does not exist.
    assert response.status_code == 404 and response.json()["errors"][0]["loc"] == ["body", "stage"]
    assert Deal.objects.for_workspace(personas.workspace).count() == 0


def test_another_workspace_ids_are_404(personas, deal):
    """With workspace B's key, every id of workspace A answers 404, whatever the method."""
    ws = personas.workspace
    company = CompanyFactory(workspace=ws)
    contact = ContactFactory(workspace=ws)
    from crm.services import activity_log

    activity = activity_log(workspace=ws, actor=personas.rep, kind="call", subject="Intro", deal=deal)
    _other, raw = api_key_create(workspace=personas.other_workspace, name="b")
    client = _client(raw)
    targets = {
        "deals": deal.uuid,
        "companies": company.uuid,
        "contacts": contact.uuid,
        "activities": activity.uuid,
    }
    for kind, pk in targets.items():
        url = f"{API}/{kind}/{pk}/"
        assert client.get(url).status_code == 404, url
        assert client.patch(url, {}, content_type="application/json").status_code == 404, url
        assert client.delete(url).status_code == 404, url
    listed = client.get(f"{API}/deals/").json()
    assert listed["count"] == 0
    assert client.get(f"{API}/activities/", {"deal": str(deal.uuid)}).json()["count"] == 0
    assert Deal.objects.filter(pk=deal.pk).exists()


def test_create_api_key_command_prints_a_working_key(personas):
    out = StringIO()
    call_command("create_api_key", workspace="acme", name="BI", json=True, stdout=out)
    raw = json.loads(out.getvalue())["key"]
    assert _client(raw).get(f"{API}/pipelines/").status_code == 200
    assert personas.workspace.api_keys.get().key_hash != raw  # only a hash is stored
