"""The forecasting REST API: latest run, run detail, targets CRUD, what-if; 404 across workspaces, 422s."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from crm.services import deal_create, deal_move_to_stage
from forecasting.models import ForecastRun, Target
from forecasting.services import forecast_run
from tenancy.services import api_key_create
from tests.factories import default_stage

API = "/api/v1/forecasts"
NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)


def _client(raw_key: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw_key}"})


@pytest.fixture
def api(personas):
    _key, raw = api_key_create(workspace=personas.workspace, name="tests", created_by=personas.owner)
    return _client(raw)


@pytest.fixture
def outsider_api(personas):
    _key, raw = api_key_create(workspace=personas.other_workspace, name="theirs", created_by=personas.outsider)
    return _client(raw)


@pytest.fixture
def run(personas):
    ws = personas.workspace
    deals = []
    for i in range(24):
        created = NOW - timedelta(days=120 - 4 * i)
        deal = deal_create(
            workspace=ws,
            actor=personas.rep,
            title=f"Deal {i}",
            stage=default_stage(ws, "Qualification"),
            amount=Decimal(5000 + 250 * i),
            owner=personas.rep,
            at=created,
            created_at=created,
        )
        deals.append(deal)
        if i < 14:
            with time_machine.travel(created + timedelta(days=45), tick=False):
                deal_move_to_stage(
                    deal=deal, stage=default_stage(ws, "Closed Won" if i % 2 else "Closed Lost"), actor=None
                )
    with time_machine.travel(NOW, tick=False):
        return forecast_run(workspace=ws, sims=400)


def test_latest_and_detail_show_percentiles_and_deal_parts(api, run):
    latest = api.get(f"{API}/latest/")
    assert latest.status_code == 200
    body = latest.json()
    assert body["id"] == str(run.uuid)
    assert body["percentiles"]["p10"] <= body["percentiles"]["p50"] <= body["percentiles"]["p90"]
    assert len(body["deals"]) == 10  # the open deals, each with its chance and confidence
    assert {d["confidence"] for d in body["deals"]} <= {"high", "medium", "low", "unlikely"}
    detail = api.get(f"{API}/runs/{run.uuid}/")
    assert detail.status_code == 200 and detail.json()["id"] == str(run.uuid)
    assert api.get(f"{API}/runs/").json()[0]["id"] == str(run.uuid)


def test_another_workspace_sees_nothing(outsider_api, run):
    assert outsider_api.get(f"{API}/runs/{run.uuid}/").status_code == 404
    assert outsider_api.get(f"{API}/latest/").status_code == 404
    assert outsider_api.post(f"{API}/what-if/", "{}", content_type="application/json").status_code == 404


def test_targets_crud(api, outsider_api, personas, run):
    east = personas.rep.team
    payload = {"period_start": str(run.period_start), "period_end": str(run.period_end), "amount": "250000.00"}
    created = api.post(
        f"{API}/targets/", json.dumps({**payload, "team": str(east.uuid)}), content_type="application/json"
    )
    assert created.status_code == 201, created.content
    target_id = created.json()["id"]
    assert Target.objects.get(uuid=target_id).team == east
    changed = api.put(
        f"{API}/targets/{target_id}/",
        json.dumps({**payload, "team": str(east.uuid), "amount": "300000"}),
        content_type="application/json",
    )
    assert changed.status_code == 200 and Decimal(changed.json()["amount"]) == Decimal("300000")
    assert outsider_api.get(f"{API}/targets/{target_id}/").status_code == 404
    assert outsider_api.delete(f"{API}/targets/{target_id}/").status_code == 404
    assert api.delete(f"{API}/targets/{target_id}/").status_code == 204
    assert not Target.objects.filter(uuid=target_id).exists()


@pytest.mark.parametrize(
    ("bad", "status"),
    [
        ({"amount": "-1"}, 422),
        ({"period_end": "2020-01-01"}, 422),
        ({"team": "00000000-0000-0000-0000-000000000000"}, 404),  # names no team of the workspace
        ({"amount": "not money"}, 422),
        ({"team": "00000000-0000-0000-0000-000000000000", "rep": "00000000-0000-0000-0000-000000000000"}, 422),
    ],
)
def test_bad_targets_are_refused_and_write_nothing(api, run, bad, status):
    payload = {"period_start": str(run.period_start), "period_end": str(run.period_end), "amount": "1000", **bad}
    response = api.post(f"{API}/targets/", json.dumps(payload), content_type="application/json")
    assert response.status_code == status and response["Content-Type"] == "application/problem+json"
    assert not Target.objects.exists()


def test_what_if_changes_nothing_stored(api, run, personas):
    open_ids = [str(u) for u in run.deal_forecasts.values_list("deal__uuid", flat=True)]
    expected = sum(run.deal_forecasts.values_list("expected", flat=True))
    before = ForecastRun.objects.count()
    with time_machine.travel(NOW, tick=False):
        plain = api.post(f"{API}/what-if/", "{}", content_type="application/json")
        response = api.post(f"{API}/what-if/", json.dumps({"exclude": open_ids}), content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["base"] == run.percentiles  # the stored run, shown beside the scenario
    # Every open deal left out: what remains is new business, the open deals' expected value lower.
    assert expected > 0  # closes took 45 days, so the younger open deals still have a chance
    assert body["scenario"]["mean"] < plain.json()["scenario"]["mean"] - 0.5 * expected
    assert ForecastRun.objects.count() == before
    bad = api.post(
        f"{API}/what-if/",
        json.dumps({"exclude": ["00000000-0000-0000-0000-000000000000"]}),
        content_type="application/json",
    )
    assert bad.status_code == 404 and bad.json()["errors"][0]["loc"] == ["body", "exclude"]
    assert (
        api.post(f"{API}/what-if/", json.dumps({"win_rate_scale": 9}), content_type="application/json").status_code
        == 422
    )
