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


@pytest.fixture
def redis_url(tmp_path):
    """A redis-server of our own on a free loopback port (skipped where Debian's redis-server is absent)."""
    import shutil
    import socket
    import subprocess
    import time

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],  # noqa: S607
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield url, server
    if server.poll() is None:
        server.terminate()
        server.wait()


def test_ready_checks_the_redis_broker_and_says_when_it_is_down(redis_url, settings, monkeypatch):
    from django_q.conf import Conf

    url, server = redis_url
    settings.REDIS_URL = url
    monkeypatch.setattr(Conf, "ORM", None)  # what REDIS_URL does to Q_CLUSTER at start-up
    monkeypatch.setattr(Conf, "REDIS", url)
    assert Client().get("/health/ready").json()["checks"]["broker"] == "ok"
    server.terminate()
    server.wait()
    response = Client().get("/health/ready")
    assert response.status_code == 503
    assert "ConnectionError" in response.json()["checks"]["broker"]


def test_production_logs_are_one_json_object_per_line():
    import json
    import logging

    from ops.logs import JsonFormatter

    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "crm.services", logging.ERROR, __file__, 1, "deal %s failed", ("D-1",), sys.exc_info()
        )
    record.workspace = "acme"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "crm.services"
    assert entry["message"] == "deal D-1 failed"
    assert entry["workspace"] == "acme"
    assert "ValueError: boom" in entry["exception"]
