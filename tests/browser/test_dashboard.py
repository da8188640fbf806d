"""The forecast dashboard in real Chromium: all six charts draw, and a screenshot is saved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from crm.services import deal_create, deal_move_to_stage
from forecasting.services import forecast_run, target_set
from tests.browser.conftest import sign_in
from tests.factories import default_stage


@pytest.mark.django_db(transaction=True)
def test_dashboard_draws_six_charts(personas, live_server, page, screenshot_dir):
    ws = personas.workspace
    now = datetime.now(UTC)
    stages = ["Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation"]
    for i in range(40):
        created = now - timedelta(days=150 - 3 * i)
        deal = deal_create(
            workspace=ws,
            actor=personas.rep,
            title=f"Deal {i}",
            stage=default_stage(ws, stages[i % 5]),
            amount=Decimal(8000 + 500 * i),
            owner=personas.rep if i % 2 else personas.other_rep,
            at=created,
            created_at=created,
        )
        if i < 25:
            deal_move_to_stage(deal=deal, stage=default_stage(ws, "Closed Won" if i % 3 else "Closed Lost"), actor=None)
    run = forecast_run(workspace=ws, sims=2000)
    target_set(workspace=ws, period_start=run.period_start, period_end=run.period_end, amount=Decimal(run.p50 * 1.1))
    sign_in(page, live_server.url, "owner@acme.test", "correct-horse-battery")
    page.goto(f"{live_server.url}/w/acme/forecast/")
    page.wait_for_selector(".js-plotly-plot")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6")
    assert page.locator("figure[data-chart] .js-plotly-plot").count() == 6
    for title in (
        "Scenarios",
        "Monte Carlo distribution",
        "Revenue trend",
        "Open pipeline by stage",
        "Pipeline health",
        "Sales funnel",
    ):
        assert page.get_by_text(title).first.is_visible()
    page.screenshot(path=str(screenshot_dir / "forecast_dashboard.png"), full_page=True)
