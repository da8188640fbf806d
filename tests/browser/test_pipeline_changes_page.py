"""What changed, in real Chromium on the demo: the waterfall draws and a bar lists its deals; a screenshot."""

from __future__ import annotations

import pytest
from django.utils import timezone

from crm.demo.services import demo_workspace_seed
from tests.browser.conftest import sign_in


@pytest.mark.django_db(transaction=True)
def test_what_changed_draws_the_waterfall_and_lists_a_bar(live_server, page, screenshot_dir):
    demo_workspace_seed(slug="demo", as_of=timezone.now().date(), scale=0.3)
    sign_in(page, live_server.url, "demo@example.com", "vectoros-demo")
    page.set_viewport_size({"width": 1360, "height": 900})
    page.goto(f"{live_server.url}/w/demo/forecast/")
    page.get_by_role("link", name="What changed since last week").click()
    page.wait_for_selector("figure[data-chart=waterfall] .js-plotly-plot")
    chart = page.locator("figure[data-chart=waterfall]")
    for label in ("New", "Won", "Lost", "Pushed out"):
        assert chart.get_by_text(label, exact=True).count() >= 1, label
    page.get_by_role("link", name="Won:").click()
    table = page.get_by_role("table", name="Won")
    table.wait_for()
    assert table.locator("tbody tr").count() >= 1
    page.screenshot(path=str(screenshot_dir / "what_changed.png"), full_page=True)
