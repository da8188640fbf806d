"""Zapier-style hooks: subscribe, sample, unsubscribe, polling triggers (API keys are per workspace)."""

from __future__ import annotations

from django.test import Client

from alerts.models import WebhookEndpoint
from sync.models import HookEvent, HookSubscription
from tenancy.services import api_key_create
from tests.factories import WorkspaceFactory


def _client(workspace) -> Client:
    _key, raw = api_key_create(workspace=workspace, name="zapier")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def test_subscribe_sample_poll_and_unsubscribe(db):
    ws, other = WorkspaceFactory(slug="hooks"), WorkspaceFactory(slug="other")
    client = _client(ws)
    answer = client.post(
        "/api/v1/sync/hooks/",
        {"target_url": "https://hooks.zapier.test/abc", "event": "deal.updated"},
        content_type="application/json",
    )
    assert answer.status_code == 201
    body = answer.json()
    endpoint = WebhookEndpoint.objects.get(workspace=ws, url="https://hooks.zapier.test/abc")
    assert endpoint.send_deal_events and not endpoint.send_alert_events and body["secret"] == endpoint.secret
    bad = client.post(
        "/api/v1/sync/hooks/", {"target_url": "https://x.test", "event": "nope"}, content_type="application/json"
    )
    assert bad.status_code == 422 and bad["Content-Type"] == "application/problem+json"
    assert [e["loc"] for e in bad.json()["errors"]] == [["body", "event"]]
    not_a_url = client.post(
        "/api/v1/sync/hooks/", {"target_url": "ftp://x.test", "event": "deal.updated"}, content_type="application/json"
    )
    assert not_a_url.status_code == 422 and not HookSubscription.objects.filter(endpoint__url="ftp://x.test").exists()
    assert client.get("/api/v1/sync/hooks/samples/alert.raised").json()["type"] == "alert.raised"
    assert client.get("/api/v1/sync/hooks/samples/nope").status_code == 422
    assert client.get("/api/v1/sync/triggers/deals?since=0.5").status_code == 422  # not read as a Unix time
    assert client.get("/api/v1/sync/triggers/deals").json() == []
    # Another workspace's key cannot remove it.
    assert _client(other).delete(f"/api/v1/sync/hooks/{body['id']}").status_code == 204
    assert HookSubscription.objects.filter(uuid=body["id"]).exists()
    assert client.delete(f"/api/v1/sync/hooks/{body['id']}").status_code == 204
    endpoint.refresh_from_db()
    assert not endpoint.is_active and not HookSubscription.objects.filter(uuid=body["id"]).exists()
    assert client.delete(f"/api/v1/sync/hooks/{body['id']}").status_code == 204  # twice is fine
    assert client.get("/api/v1/sync/triggers/deals").status_code == 200
    assert Client().get("/api/v1/sync/triggers/deals").status_code == 401


def test_the_schema_lists_every_hook_event(client):
    schema = client.get("/api/v1/openapi.json").json()
    event = schema["paths"]["/api/v1/sync/hooks/samples/{event}"]["get"]["parameters"][0]["schema"]
    assert event["enum"] == HookEvent.values


def test_forecast_runs_reach_forecast_subscribers_once(db):
    from datetime import date

    from alerts.models import Delivery
    from forecasting.models import ForecastRun
    from sync.services import hook_subscribe, hooks_forecasts_enqueue

    ws = WorkspaceFactory(slug="fc")
    hook = hook_subscribe(workspace=ws, target_url="https://hooks.zapier.test/fc", event="forecast.completed")
    deal_hook = hook_subscribe(workspace=ws, target_url="https://hooks.zapier.test/deals", event="deal.updated")
    run = ForecastRun.objects.create(
        workspace=ws,
        as_of=hook.created_at,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
        sims=100,
        mean=5.0,
        percentiles={"p10": 1.0, "p50": 5.0, "p90": 9.0},
    )
    assert hooks_forecasts_enqueue() == 1
    assert hooks_forecasts_enqueue() == 0  # idempotent
    delivery = Delivery.objects.get(event_type="forecast.completed")
    assert delivery.endpoint_id == hook.endpoint_id and delivery.payload["data"]["id"] == str(run.uuid)
    assert delivery.payload["data"]["p50"] == 5.0
    assert not Delivery.objects.filter(endpoint=deal_hook.endpoint).exists()
