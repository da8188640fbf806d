"""In real Chromium: a rep submits their call, their manager adjusts it with a reason, and the owner sees both
versions and where each sits in the model's distribution."""

from __future__ import annotations

import numpy as np
import pytest
from django.utils import timezone

from forecasting.calls import current_period
from forecasting.models import ForecastRun
from forecasting.models_calls import CallSubmission
from forecasting.selectors import chance_of_reaching
from tenancy.models import Role, Team
from tenancy.services import membership_add, user_get_or_create, workspace_create
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "browser-pass-123"


@pytest.fixture
def call_workspace():
    owner_user = user_get_or_create(email="owner@calls.test", password=PASSWORD)
    ws = workspace_create(name="Calls Co", slug="calls-co", owner_user=owner_user)
    manager = membership_add(
        workspace=ws, user=user_get_or_create(email="manager@calls.test", password=PASSWORD), role=Role.MANAGER
    )
    team = Team.objects.create(workspace=ws, name="East", manager=manager)
    manager.team = team
    manager.save()
    rep = membership_add(
        workspace=ws, user=user_get_or_create(email="rep@calls.test", password=PASSWORD), role=Role.REP, team=team
    )
    rep.display_name = "Rita Rep"
    rep.save()
    start, end = current_period(ws)
    rng = np.random.default_rng(1)
    rep_samples = rng.gamma(5.0, 20_000, 10_000)  # median about 93,000

    def row(ident: str, samples: np.ndarray) -> dict:
        q = [round(float(v), 2) for v in np.percentile(samples, np.arange(101))]
        return {"id": ident, "name": ident, "p10": q[10], "p50": q[50], "p90": q[90], "q": q}

    run = ForecastRun.objects.create(
        workspace=ws,
        as_of=timezone.now(),
        period_start=start,
        period_end=end,
        sims=10_000,
        mean=float(rep_samples.mean() * 1.5),
        percentiles={"p10": 0, "p50": float(np.median(rep_samples) * 1.5), "p90": 0},
        rollups={
            "reps": [row(rep.uuid.hex, rep_samples)],
            "teams": [row(team.uuid.hex, rep_samples * 1.5)],
            "workspace": row("", rep_samples * 1.5),
        },
    )
    return ws, rep, manager, run


def _context_page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


def test_submit_adjust_and_see_both_versions(chromium, live_server, call_workspace, screenshot_dir):
    ws, rep, manager, run = call_workspace
    calls_url = f"{live_server.url}/w/{ws.slug}/forecast/calls/"

    context, page = _context_page(chromium)
    sign_in(page, live_server.url, "rep@calls.test", PASSWORD)
    page.goto(calls_url)
    page.fill("input[name=commit]", "80000")
    page.fill("input[name=best_case]", "120000")
    page.fill("input[name=most_likely]", "95000")
    page.get_by_role("button", name="Submit call").click()
    page.wait_for_load_state("networkidle")
    assert "Your call saved (version 1)" in page.locator("#messages").inner_text()
    page.screenshot(path=str(screenshot_dir / "calls-1-rep-submitted.png"), full_page=True)
    context.close()

    context, page = _context_page(chromium)
    sign_in(page, live_server.url, "manager@calls.test", PASSWORD)
    page.goto(calls_url)
    page.select_option("select[name=member]", label="Rita Rep")
    page.fill("input[name=commit]", "60000")
    page.fill("input[name=best_case]", "100000")
    page.fill("input[name=most_likely]", "")
    page.get_by_role("button", name="Submit call").click()
    page.wait_for_load_state("networkidle")
    # No reason: refused with a message beside the field, nothing stored.
    assert "Say why you adjust someone else's call." in page.content()
    assert CallSubmission.objects.filter(member=rep).count() == 1
    page.select_option("select[name=member]", label="Rita Rep")
    page.fill("textarea[name=reason]", "Initech slips to next quarter")
    page.get_by_role("button", name="Submit call").click()
    page.wait_for_load_state("networkidle")
    assert "Rita Rep's call saved (version 2)" in page.locator("#messages").inner_text()
    page.screenshot(path=str(screenshot_dir / "calls-2-manager-adjusted.png"), full_page=True)
    context.close()

    context, page = _context_page(chromium)
    sign_in(page, live_server.url, "owner@calls.test", PASSWORD)
    page.goto(calls_url)
    row = page.locator("#calls-table tr[data-member='Rita Rep']")
    row.locator("summary").click()
    versions = row.locator("li.call-version")
    assert versions.count() == 2
    q = run.rollups["reps"][0]["q"]
    expected = {
        "2": (f"{round(chance_of_reaching(q, 60_000) * 100)}%", "Initech slips to next quarter"),
        "1": (f"{round(chance_of_reaching(q, 80_000) * 100)}%", None),
    }
    for number, (chance, reason) in expected.items():
        text = row.locator(f"li.call-version[data-version='{number}']").inner_text()
        assert f"commit {ws.currency} " in text and f"(chance {chance})" in text
        if reason:
            assert reason in text and f"by {manager.display_name} (adjusted)" in text
    # The model's P50 stands beside the call.
    p50 = f"{ws.currency} {run.rollups['reps'][0]['p50']:,.0f}"
    assert p50 in row.inner_text()
    page.screenshot(path=str(screenshot_dir / "calls-3-owner-sees-versions.png"), full_page=True)
    context.close()
