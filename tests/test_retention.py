"""Retention: `prune_retention` removes what is older than the configured days and keeps what pages still need."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from alerts.models import Channel, Delivery, DeliveryStatus, MonitorRun
from audit.models import AuditEvent, DealEvent
from audit.services import audit_record
from crm.models import ImportJob, ImportStatus
from forecasting.models import DealForecast, ForecastRun
from tests.factories import DealFactory

DAY = timedelta(days=1)


def _run(ws, created_at, period_start):
    return ForecastRun.objects.create(
        workspace=ws,
        created_at=created_at,
        as_of=created_at,
        period_start=period_start,
        period_end=period_start + timedelta(days=89),
        sims=100,
        mean=1.0,
    )


def test_prune_retention_removes_old_rows_and_keeps_the_latest(personas):
    ws = personas.workspace
    now = timezone.now()
    old = now - 500 * DAY
    q1, q2 = date(2025, 1, 1), date(2025, 4, 1)
    q1_early, q1_last, q2_only = _run(ws, old - DAY, q1), _run(ws, old, q1), _run(ws, old, q2)
    current = _run(ws, now, date(2026, 10, 1))
    deal = DealFactory(workspace=ws)
    DealForecast.objects.create(run=q1_early, deal=deal, probability=0.5, expected=1.0, confidence="low")
    old_monitor = MonitorRun.objects.create(workspace=ws, as_of=now - 200 * DAY)
    latest_monitor = MonitorRun.objects.create(workspace=ws, as_of=now - 100 * DAY)
    done = ImportJob.objects.create(workspace=ws, fmt="csv", path="a", original_name="a.csv", status=ImportStatus.DONE)
    live = ImportJob.objects.create(
        workspace=ws, fmt="csv", path="b", original_name="b.csv", status=ImportStatus.QUEUED
    )
    ImportJob.objects.filter(pk__in=[done.pk, live.pk]).update(created_at=now - 100 * DAY)
    sent = Delivery.objects.create(
        workspace=ws, channel=Channel.EMAIL, idempotency_key="d1", status=DeliveryStatus.SENT
    )
    pending = Delivery.objects.create(workspace=ws, channel=Channel.EMAIL, idempotency_key="d2")
    Delivery.objects.filter(pk__in=[sent.pk, pending.pk]).update(created_at=now - 100 * DAY)
    export = audit_record(workspace=ws, action="export", actor="owner@acme.test")
    AuditEvent.objects.filter(pk=export.pk).update(at=now - 800 * DAY)
    recent = audit_record(workspace=ws, action="export", actor="owner@acme.test")
    DealEvent.objects.filter(pgh_obj_id=deal.pk).update(pgh_created_at=now - 800 * DAY)
    stray = Path(settings.UPLOADS_DIR) / str(ws.uuid) / "stray-upload"
    stray.mkdir(parents=True, exist_ok=True)
    os.utime(stray, (0, 0))

    out = StringIO()
    call_command("prune_retention", "--json", stdout=out)
    removed = json.loads(out.getvalue())["removed"]

    assert set(ForecastRun.objects.values_list("id", flat=True)) == {q1_last.id, q2_only.id, current.id}
    assert not DealForecast.objects.filter(run_id=q1_early.id).exists()
    assert list(MonitorRun.objects.values_list("id", flat=True)) == [latest_monitor.id]
    assert list(ImportJob.objects.values_list("id", flat=True)) == [live.id]
    assert list(Delivery.objects.values_list("id", flat=True)) == [pending.id]
    assert list(AuditEvent.objects.values_list("id", flat=True)) == [recent.id]
    assert not DealEvent.objects.filter(pgh_obj_id=deal.pk).exists()
    assert not stray.exists()
    assert removed["forecast_runs"] == 1 and removed["monitor_runs"] == 1 and removed["import_jobs"] == 1
    assert removed["deliveries"] == 1 and removed["audit_events"] >= 2 and removed["upload_folders"] >= 1
    assert old_monitor.pk not in MonitorRun.objects.values_list("id", flat=True)


def test_retention_days_come_from_settings(personas, settings):
    ws = personas.workspace
    recent_run = _run(ws, timezone.now() - 10 * DAY, date(2026, 7, 1))
    _run(ws, timezone.now(), date(2026, 7, 1))
    call_command("prune_retention", stdout=StringIO())
    assert ForecastRun.objects.filter(pk=recent_run.pk).exists()
    settings.RETENTION_DAYS = {**settings.RETENTION_DAYS, "forecast_runs": 5}
    call_command("prune_retention", stdout=StringIO())
    assert not ForecastRun.objects.filter(pk=recent_run.pk).exists()


def test_the_daily_schedule_is_declared(db):
    from tenancy.management.commands.sync_schedules import declared_schedules

    assert {
        "name": "audit.prune_retention",
        "func": "audit.tasks.prune_retention",
        "schedule_type": "C",
        "cron": "15 4 * * *",
    } in declared_schedules()


@pytest.mark.parametrize("value", ["0", "many"])
def test_a_bad_retention_setting_fails_loudly(value):
    import subprocess
    import sys

    env = {**os.environ, "DEBUG": "true", "VECTOROS_RETENTION_DAYS_AUDIT": value}
    result = subprocess.run(
        [sys.executable, "-c", "import vectoros.settings"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "VECTOROS_RETENTION_DAYS_AUDIT" in result.stderr
