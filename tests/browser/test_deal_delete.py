"""In real Chromium: delete a deal from its page, find it under Deleted deals, restore it, see both in its history."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.services import deal_create
from tenancy.services import user_get_or_create, workspace_create
from tests.browser.conftest import sign_in
from tests.factories import default_stage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deal():
    user = user_get_or_create(email="admin@browser.test", password="browser-pass-123")
    ws = workspace_create(name="Browser Co", slug="browser-co", owner_user=user)
    owner = ws.memberships.get()
    return deal_create(
        workspace=ws, actor=owner, title="Doomed deal", stage=default_stage(ws), amount=Decimal("900"), owner=owner
    )


def test_delete_then_restore_a_deal(page, live_server, deal, screenshot_dir):
    sign_in(page, live_server.url, "admin@browser.test", "browser-pass-123")
    page.goto(f"{live_server.url}/w/browser-co/deals/{deal.uuid}/")
    page.get_by_role("button", name="Delete deal").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/w/browser-co/deals/")
    assert "Doomed deal” deleted" in page.locator("#messages").inner_text()
    assert page.get_by_role("link", name="Doomed deal").count() == 0

    page.get_by_role("link", name="Deleted deals").click()
    page.wait_for_load_state("networkidle")
    row = page.locator("tr", has_text="Doomed deal")
    assert row.count() == 1
    page.screenshot(path=str(screenshot_dir / "deleted-deals.png"), full_page=True)
    row.get_by_role("button", name="Restore").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/w/browser-co/deals/{deal.uuid}/")
    assert "restored" in page.locator("#messages").inner_text()
    history = page.locator("#deal-history").inner_text()
    assert history.count("Deleted") == 2
    page.screenshot(path=str(screenshot_dir / "deal-restored.png"), full_page=True)
