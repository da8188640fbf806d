"""`backtest` shows what a live forecast would have shown that day (blended out of sample); imports learn the blend."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from crm.models import Stage, StageKind
from crm.services import deal_create, deal_move_to_stage
from forecasting.backtest import calibration_as_of, horizon_of
from forecasting.management.commands.bench_reforecast import _seed
from forecasting.models import ForecastRun, RollingBacktest
from forecasting.services import BACKTEST_REFRESH_TASK, backtest_run
from forecasting.tasks import on_deals_changed
from tenancy.jobs import queue_for, run_pending
from tenancy.models import PendingJob
from tests.factories import WorkspaceFactory

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
AS_OF = date(2026, 3, 31)
SIMS = 300


@pytest.fixture
def steady(db):
    """A year of deals created at a steady pace, a third of them won, closing about two months after creation."""
    workspace = WorkspaceFactory(slug="steady", with_pipeline=False)
    with time_machine.travel(NOW, tick=False):
        _seed(workspace, 150, 900)
    return workspace


def _won_after(workspace, created: datetime, closed: datetime, amount: int) -> None:
    stages = Stage.objects.for_workspace(workspace)
    with time_machine.travel(created, tick=False):
        deal = deal_create(
            workspace=workspace,
            actor=None,
            title="Late whale",
            stage=stages.filter(kind=StageKind.OPEN).order_by("order").first(),
            amount=Decimal(amount),
            created_at=created,
        )
    with time_machine.travel(closed, tick=False):
        deal_move_to_stage(deal=deal, stage=stages.get(kind=StageKind.WON), actor=None)


def test_a_backtest_blends_as_a_live_forecast_would_have_that_day_and_sees_nothing_later(steady):
    period = {"period_start": date(2026, 4, 1), "period_end": date(2026, 6, 30)}
    first = backtest_run(workspace=steady, as_of=AS_OF, sims=SIMS, **period)
    blend = first.blend
    assert blend["applied"] and blend["horizon"] == "this"
    # Learnt from the month-ends whose quarter was over by the as-of day (Q1's), not from Q2 itself.
    expected = calibration_as_of(steady, AS_OF, "this", sims=SIMS)
    assert blend["model_weight"] == expected.model_weight and blend["learnt_from"] == expected.learnt_from
    assert 0 < blend["model_weight"] < 1
    # The shown P50 is the blend of the deal model's and the throughput model's, not the deal model's alone.
    w = blend["model_weight"]
    mixed = w * blend["model_p50"] + (1 - w) * blend["throughput_p50"]
    assert first.forecast["p50"] == pytest.approx(mixed, rel=0.02)
    assert blend["model_p50"] != pytest.approx(blend["throughput_p50"], rel=0.02)
    assert first.forecast["p50"] != pytest.approx(blend["model_p50"], rel=0.005)

    # A big win after the as-of day changes the actual, never the forecast, its blend or its calibration.
    _won_after(steady, datetime(2026, 4, 10, tzinfo=UTC), datetime(2026, 5, 20, tzinfo=UTC), 5_000_000)
    again = backtest_run(workspace=steady, as_of=AS_OF, sims=SIMS, **period)
    assert again.actual == pytest.approx(first.actual + 5_000_000)
    assert again.forecast == first.forecast and again.blend == blend


def test_the_next_quarter_is_blended_with_what_the_backtest_of_next_learnt(steady):
    assert horizon_of(steady, AS_OF, date(2026, 6, 30)) == "this"
    assert horizon_of(steady, date(2026, 2, 28), date(2026, 6, 30)) == "next"
    period = {"period_start": date(2026, 4, 1), "period_end": date(2026, 6, 30)}
    result = backtest_run(workspace=steady, as_of=date(2026, 2, 28), sims=SIMS, **period)
    assert result.blend["horizon"] == "next"
    assert result.blend["model_weight"] == calibration_as_of(steady, date(2026, 2, 28), "next", sims=SIMS).model_weight


def test_an_import_queues_the_rolling_backtest_on_the_bulk_queue_and_the_forecast_then_applies_it(
    steady, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("forecasting.compute.DEFAULT_SIMS", SIMS)
    ids = list(steady.deals.values_list("id", flat=True))
    key = f"{BACKTEST_REFRESH_TASK}:{steady.id}:bulk"
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        on_deals_changed(steady.id, ids)  # what the import's coalesced job runs
    assert queue_for(BACKTEST_REFRESH_TASK, key) == "bulk"
    assert PendingJob.objects.filter(key=key).exists()
    assert ForecastRun.objects.for_workspace(steady).get().inputs["blend"] is None  # nothing learnt yet

    with time_machine.travel(NOW, tick=False):
        run_pending(key)  # the bulk worker
    assert sorted(RollingBacktest.objects.for_workspace(steady).values_list("horizon", flat=True)) == ["next", "this"]
    latest = ForecastRun.objects.for_workspace(steady).order_by("-created_at", "-id").first()
    learnt = RollingBacktest.objects.for_workspace(steady).get(horizon="this").summary["calibration_now"]
    assert latest.inputs["blend"]["model_weight"] == learnt["model_weight"]

    # A single save, once a backtest is kept, queues no other.
    PendingJob.objects.all().delete()
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        on_deals_changed(steady.id, ids[:1])
    assert not PendingJob.objects.filter(key=key).exists()


def test_weekly_origins_are_printed_not_kept_and_each_month_of_them_counts_once(steady):
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        args = ("--workspace", "steady", "--every", "week", "--sims", "200", "--json")
        call_command("backtest_rolling", *args, stdout=out)
    result = json.loads(out.getvalue())
    days = [date.fromisoformat(o["date"]) for o in result["origins"]]
    assert any(d.weekday() == 6 for d in days) and any((d + timedelta(days=1)).day == 1 for d in days)
    learnt = result["calibration_now"]
    # Four or five overlapping origins a month are one piece of evidence, not four or five.
    assert learnt["learnt"] and learnt["evidence"] == 8 and learnt["learnt_from"] > 3 * learnt["evidence"]
    assert not RollingBacktest.objects.exists()  # the live blend is learnt from month-ends only
