"""The dashboard tells the truth: the funnel from history, periods by fiscal year, money in the workspace currency."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from crm.demo.services import demo_workspace_seed
from crm.models import Deal, Stage, StageKind
from forecasting.models import CurrencyRate
from forecasting.selectors import stage_funnel
from forecasting.services import forecast_run
from tenancy.models import Workspace


@pytest.mark.slow
def test_demo_funnel_never_rises_and_lost_deals_count_only_the_stages_they_entered(db):
    demo_workspace_seed(slug="demo", as_of=date(2026, 6, 30), scale=0.3)
    workspace = Workspace.objects.get(slug="demo")
    stages = list(Stage.objects.for_workspace(workspace).filter(pipeline__is_default=True).order_by("order"))
    names, reached, days = stage_funnel(workspace, stages, None)
    assert names[-1] == next(s.name for s in stages if s.kind == StageKind.WON)
    assert all(a >= b for a, b in itertools.pairwise(reached)), list(zip(names, reached, strict=True))
    deals = Deal.objects.for_workspace(workspace)
    assert reached[0] == deals.count()
    # Every won deal reached Won, and no lost deal did.
    assert reached[-1] == deals.filter(outcome="won").count()
    # Lost deals no longer lift every open stage: fewer deals reached the last open stage than were ever closed.
    assert reached[-2] < deals.exclude(outcome="open").count()
    assert all(d is None or d >= 0 for d in days)

    # A rep's funnel counts only their deals.
    owner_id = deals.values_list("owner_id", flat=True).first()
    _, mine, _ = stage_funnel(workspace, stages, frozenset({owner_id}))
    assert mine[0] == deals.filter(owner_id=owner_id).count() < reached[0]


# ---- money in the workspace currency -----------------------------------------------------------------
NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def mixed_currencies(personas):
    from crm.services import deal_create
    from tests.factories import default_stage

    ws = personas.workspace
    made = {}
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        for title, amount, currency in (("Dollars", 1000, "USD"), ("Euros", 1000, "EUR"), ("Crowns", 1000, "SEK")):
            made[title] = deal_create(
                workspace=ws,
                actor=personas.owner,
                title=title,
                stage=default_stage(ws, "Qualification"),
                amount=Decimal(amount),
                owner=personas.rep,
                currency=currency,
                expected_close_date=date(2026, 6, 1),
            )
    return made


def test_deals_in_other_currencies_are_converted_by_the_admins_rates(personas, mixed_currencies):
    from forecasting.inputs import load_history
    from forecasting.waterfall import pipeline_changes

    ws = personas.workspace
    owner = personas.client_for(personas.owner)
    url = reverse("forecasting:rates", args=[ws.slug])
    # Bad input is refused with a message; the workspace's own currency cannot be given a rate.
    bad = owner.post(url, {"currency": "E1", "rate": "1.1"})
    assert bad.status_code == 422 and "three" in bad.content.decode()
    own = owner.post(url, {"currency": "usd", "rate": "2"})
    assert own.status_code == 422 and "always worth 1" in own.content.decode()
    # A rep may read the table but not change it.
    assert personas.client_for(personas.rep).post(url, {"currency": "EUR", "rate": "1.1"}).status_code == 403
    assert owner.post(url, {"currency": "eur", "rate": "1.10"}).status_code == 302
    assert CurrencyRate.objects.get(workspace=ws).currency == "EUR"

    with time_machine.travel(NOW, tick=False):
        loaded = load_history(ws, NOW)
        # USD at face value, EUR times 1.1, SEK (no rate) at face value.
        assert sorted(float(s.amount) for s in loaded.snapshots) == [1000.0, 1000.0, 1100.0]
        week = pipeline_changes(ws, start=date(2026, 5, 1), end=date(2026, 5, 15))
        assert week.end.amount == Decimal("3100.00") and week.flows["new"].amount == Decimal("3100.00")
        run = forecast_run(workspace=ws, sims=300)
        assert run.inputs["open_deals"] == 3
        page = owner.get(reverse("forecasting:dashboard", args=[ws.slug])).content.decode()
    assert "1 deal in SEK" in page  # the one left at face value is named
    assert "Q2 FY2026" in page and "2026-04-01 – 2026-06-30" not in page
    assert "All teams" in page and "All reps" in page and "---------" not in page


def test_euro_workspace_shows_euros_and_fiscal_quarters(personas, mixed_currencies):
    ws = personas.workspace
    ws.currency, ws.fiscal_year_start_month = "EUR", 2
    ws.save()
    with time_machine.travel(NOW, tick=False):
        forecast_run(workspace=ws, sims=300)
        page = personas.client_for(personas.owner).get(reverse("forecasting:dashboard", args=[ws.slug]))
    body = page.content.decode()
    # May 15 lies in Q2 (May-Jul) of the fiscal year that runs Feb 2026 - Jan 2027.
    assert "Q2 FY2027" in body
    assert "€" in body and "$" not in body.split("<h1>")[1].split("</main>")[0].replace("$,", "")


def _chart(page: str, name: str) -> dict:
    import json

    return json.loads(page.split(f'data-chart="{name}">')[1].split(">", 1)[1].split("</script>")[0])


def test_thin_workspace_gets_sane_axes_and_the_band_is_drawn(personas):
    from crm.services import deal_create
    from tests.factories import default_stage

    ws = personas.workspace
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        deal_create(
            workspace=ws,
            actor=personas.owner,
            title="Only deal",
            stage=default_stage(ws, "Qualification"),
            amount=Decimal(500),
            owner=personas.rep,
            expected_close_date=date(2026, 6, 10),
        )
    with time_machine.travel(NOW, tick=False):
        run = forecast_run(workspace=ws, sims=300)
        page = (
            personas.client_for(personas.owner).get(reverse("forecasting:dashboard", args=[ws.slug])).content.decode()
        )
    # The months left in the period (May and June) were each simulated; the trend draws them with their band.
    assert [m["month"] for m in run.rollups["months"]] == ["2026-05", "2026-06"]
    trend = _chart(page, "trend")
    band = next(t for t in trend["data"] if t.get("name") == "P10–P90 band")
    assert band["fill"] == "tonexty" and band["x"] == ["2026-05", "2026-06"]
    projection = next(t for t in trend["data"] if str(t.get("name", "")).startswith("Projection"))
    assert projection["y"] == [m["p50"] for m in run.rollups["months"]]
    assert trend["layout"]["xaxis"]["type"] == "category"  # no "23:59:59.999" ticks on a lone month
    assert trend["layout"]["yaxis"]["rangemode"] == "nonnegative"
    distribution = _chart(page, "distribution")
    assert distribution["layout"]["xaxis"]["range"][0] == 0  # never a negative revenue axis
    assert "23:59:59" not in page
