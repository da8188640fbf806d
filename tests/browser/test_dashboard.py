"""The forecast dashboard in real Chromium on the demo data: all six charts draw, and a screenshot is saved."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from crm.demo.services import demo_workspace_seed
from forecasting.services import forecast_run, target_set
from tenancy.scope import Scope
from tests.browser.conftest import sign_in


@pytest.mark.django_db(transaction=True)
def test_dashboard_draws_six_charts(live_server, page, screenshot_dir):
    # A small demo (a third of the full volume): the same causal model, seeded in seconds.
    demo_workspace_seed(slug="demo", as_of=timezone.now().date(), scale=0.3)
    from tenancy.models import Workspace

    ws = Workspace.objects.get(slug="demo")
    run = forecast_run(workspace=ws, sims=2000)
    target_set(
        scope=Scope.whole_workspace(ws),
        period_start=run.period_start,
        period_end=run.period_end,
        amount=Decimal(round(run.p50 * 1.1, -3)),
    )
    sign_in(page, live_server.url, "demo@example.com", "vectoros-demo")
    page.set_viewport_size({"width": 1360, "height": 900})
    page.goto(f"{live_server.url}/w/demo/forecast/")
    page.wait_for_selector(".js-plotly-plot")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6")
    # Every figure fits inside its card once the page has laid out (none spills into its neighbour).
    page.wait_for_function(
        """Array.from(document.querySelectorAll('figure[data-chart]')).every(f => {
            const svg = f.querySelector('.main-svg');
            return svg && svg.getBoundingClientRect().width <= f.getBoundingClientRect().width + 1;
        })"""
    )
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
    # The target is drawn on the distribution, labelled, not only coloured.
    assert page.locator("figure[data-chart] .js-plotly-plot").nth(1).get_by_text("Target").count() >= 1
    page.screenshot(path=str(screenshot_dir / "forecast_dashboard.png"), full_page=True)
