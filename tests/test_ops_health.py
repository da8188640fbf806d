"""Health checks (no sign-in) and /metrics (token or allowed network only)."""

from __future__ import annotations

import pytest
from django.test import Client

from ops import health

pytestmark = pytest.mark.django_db


def test_live_and_ready_answer_without_a_session():
    client = Client()
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "migrations": "ok"}}
    assert "sessionid" not in ready.cookies


def test_ready_is_503_and_says_what_is_wrong(monkeypatch):
    monkeypatch.setattr(health, "_migrations_seen_applied", False)
    monkeypatch.setattr(
        "ops.health.MigrationExecutor.migration_plan",
        lambda self, targets: [(type("M", (), {"app_label": "crm", "name": "0042_new"})(), False)],
    )
    response = Client().get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "1 migration(s) not applied, e.g. crm.0042_new"
    assert response.json()["checks"]["database"] == "ok"


def test_ready_is_503_when_the_database_is_down(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr("django.db.backends.utils.CursorWrapper.execute", refuse)
    response = Client().get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "OSError: connection refused"
    assert response.json()["checks"]["migrations"] == "database unavailable"


def test_metrics_need_a_token_or_an_allowed_network(settings):
    settings.METRICS_TOKEN = "s3cret-token"
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200


def test_metrics_show_request_latency_queue_depth_failures_and_run_times(personas, settings):
    from forecasting.models import ForecastRun

    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    client = personas.client_for(personas.owner)
    client.get("/health/live")
    ForecastRun.objects.create(
        workspace=personas.workspace,
        as_of="2026-01-01T00:00Z",
        period_start="2026-01-01",
        period_end="2026-03-31",
        sims=100,
        mean=1.0,
        duration_ms=1500,
    )
    body = Client(REMOTE_ADDR="127.0.0.1").get("/metrics").content.decode()
    assert "django_http_requests_latency_seconds_by_view_method" in body
    assert 'vectoros_queue_depth{queue="interactive"}' in body
    assert 'vectoros_queue_depth{queue="bulk"}' in body
    assert "vectoros_forecast_run_seconds_count 1.0" in body
    assert "vectoros_forecast_run_seconds_sum 1.5" in body
    assert "vectoros_jobs_pending" in body
