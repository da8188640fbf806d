"""The forecast dashboard, targets, what-if and the live endpoint, tried as every persona."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from crm.services import deal_create, deal_move_to_stage
from forecasting.models import DealForecast, ForecastRun, Target
from forecasting.services import backtest_run, forecast_run
from forecasting.tasks import on_deals_changed
from tests.factories import default_stage

NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def few_sims(monkeypatch):
    # Every run these tests trigger (the live handler, what-if) needs only a few hundred simulations.
    monkeypatch.setattr("forecasting.compute.DEFAULT_SIMS", 300)
    monkeypatch.setattr("forecasting.selectors.WHAT_IF_SIMS", 300)


@pytest.fixture
def history(personas):
    ws = personas.workspace
    with time_machine.travel(NOW - timedelta(days=200), tick=False):
        pass
    deals = []
    for i in range(30):
        created = NOW - timedelta(days=180 - 6 * i)
        owner = personas.rep if i % 2 else personas.other_rep
        deal = deal_create(
            workspace=ws,
            actor=owner,
            title=f"Deal {i}",
            stage=default_stage(ws, "Qualification"),
            amount=Decimal(10_000 + 100 * i),
            owner=owner,
            at=created,
            created_at=created,
        )
        deals.append(deal)
        if i < 20:
            with time_machine.travel(created + timedelta(days=20 + i % 10), tick=False):
                deal_move_to_stage(
                    deal=deal, stage=default_stage(ws, "Closed Won" if i % 3 else "Closed Lost"), actor=owner
                )
    return deals


@pytest.fixture
def run(personas, history):
    with time_machine.travel(NOW, tick=False):
        return forecast_run(workspace=personas.workspace, sims=300)


def test_run_is_stored_with_percentiles_rollups_and_deal_parts(personas, run):
    assert run.p10 <= run.p50 <= run.p90
    assert len(run.quarters) == 4
    assert {r["name"] for r in run.rollups["reps"]} >= {personas.rep.display_name, personas.other_rep.display_name}
    assert DealForecast.objects.filter(run=run).count() == 10
    east = next(t for t in run.rollups["teams"] if t["name"] == "East")
    assert east["p50"] <= run.p90


def test_dashboard_renders_six_charts_for_a_viewer(personas, run):
    response = personas.client_for(personas.viewer).get(reverse("forecasting:dashboard", args=["acme"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('data-chart="') == 6
    assert "Monte Carlo distribution" in body and "Sales funnel" in body


def test_outsider_gets_404(personas, run):
    client = personas.client_for(personas.outsider)
    assert client.get(reverse("forecasting:dashboard", args=["acme"])).status_code == 404
    assert client.get(reverse("forecasting:latest", args=["acme"])).status_code == 404


def test_viewer_cannot_set_targets_or_run(personas, run):
    client = personas.client_for(personas.viewer)
    response = client.post(reverse("forecasting:target_save", args=["acme"]), {"amount": "100000"})
    assert response.status_code == 403
    assert not Target.objects.exists()
    assert client.post(reverse("forecasting:run", args=["acme"])).status_code == 403


def test_owner_sets_a_target_and_sees_chance(personas, run):
    client = personas.client_for(personas.owner)
    response = client.post(reverse("forecasting:target_save", args=["acme"]), {"amount": "50000"})
    assert response.status_code == 302
    target = Target.objects.get()
    assert target.amount == Decimal("50000") and target.period_start == run.period_start
    page = client.get(reverse("forecasting:dashboard", args=["acme"])).content.decode()
    assert "Chance of target" in page and "$50,000" in page


def test_bad_target_is_refused_without_a_write(personas, run):
    client = personas.client_for(personas.owner)
    client.post(reverse("forecasting:target_save", args=["acme"]), {"amount": "-5"})
    assert not Target.objects.exists()


def test_wrong_method(personas, run):
    client = personas.client_for(personas.owner)
    assert client.get(reverse("forecasting:target_save", args=["acme"])).status_code == 405
    assert client.post(reverse("forecasting:latest", args=["acme"])).status_code == 405


def test_what_if_changes_nothing_stored(personas, run, history):
    client = personas.client_for(personas.viewer)
    open_deal = history[-1]
    before = ForecastRun.objects.count()
    with time_machine.travel(NOW, tick=False):
        response = client.get(
            reverse("forecasting:what_if", args=["acme"]), {"exclude": str(open_deal.uuid), "win_rate_scale": "0.5"}
        )
    assert response.status_code == 200
    assert "What-if" in response.content.decode()
    assert ForecastRun.objects.count() == before


def test_latest_endpoint_reports_a_new_run_after_a_deal_change(personas, run, history):
    client = personas.client_for(personas.rep)
    first = client.get(reverse("forecasting:latest", args=["acme"])).json()["run"]
    on_deals_changed(personas.workspace.id, [history[-1].id])  # what the coalesced job runs
    second = client.get(reverse("forecasting:latest", args=["acme"])).json()["run"]
    assert first == run.uuid.hex and second != first


def test_backtest_hides_the_future(personas, history):
    as_of = (NOW - timedelta(days=60)).date()
    result = backtest_run(
        workspace=personas.workspace,
        as_of=as_of,
        period_start=as_of + timedelta(days=1),
        period_end=NOW.date(),
        sims=300,
    )
    assert result.actual > 0
    assert result.forecast["p10"] <= result.forecast["p50"] <= result.forecast["p90"]
    assert set(result.baselines) == {"weighted_pipeline", "last_period_run_rate"}
    assert date(2026, 1, 1) < result.as_of


def test_rep_target_chance_comes_from_the_same_simulations(personas, run):
    from forecasting.selectors import chance_of_reaching

    rep_row = next(r for r in run.rollups["reps"] if r["id"] == personas.rep.uuid.hex)
    assert len(rep_row["q"]) == 101 and rep_row["q"][10] == pytest.approx(rep_row["p10"])
    # A target at the rep's own median is reached about half the time; far above it, almost never.
    assert chance_of_reaching(rep_row["q"], rep_row["p50"]) == pytest.approx(0.5, abs=0.02)
    assert chance_of_reaching(rep_row["q"], rep_row["q"][-1] * 2 + 1) == 0.0
    Target.objects.create(
        workspace=personas.workspace,
        period_start=run.period_start,
        period_end=run.period_end,
        owner=personas.rep,
        amount=Decimal(round(rep_row["p50"], 2)),
    )
    client = personas.client_for(personas.owner)
    page = client.get(reverse("forecasting:dashboard", args=["acme"]), {"rep": personas.rep.uuid}).content.decode()
    assert "Chance of target" in page
    assert any(f"{pct}%" in page for pct in range(45, 56))


def test_a_deal_change_run_forecasts_this_quarter_and_carries_the_next_ones(personas, run, history):
    # `run` is a manual (full) run; a deal change re-forecasts this quarter only.
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        on_deals_changed(personas.workspace.id, [history[-1].id])
    live = ForecastRun.objects.for_workspace(personas.workspace).order_by("-as_of").first()
    assert live.pk != run.pk and len(live.quarters) == 4
    assert live.quarters[1:] == [{**q, "carried_from_full_run": True} for q in run.quarters[1:]]
    # Once the quarter has rolled over, the carried summaries no longer fit: all four are computed afresh.
    with time_machine.travel(NOW + timedelta(days=60), tick=False):
        on_deals_changed(personas.workspace.id, [history[-1].id])
    later = ForecastRun.objects.for_workspace(personas.workspace).order_by("-as_of").first()
    assert not any(q.get("carried_from_full_run") for q in later.quarters)
    assert later.quarters[0]["start"] == "2026-07-01"
