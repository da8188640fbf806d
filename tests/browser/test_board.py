"""In real Chromium: sign in through the form, see the board, move a deal, reload, find it in its new column."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.models import DealHistory, TrackedField
from crm.services import deal_create
from tenancy.services import user_get_or_create, workspace_create
from tests.browser.conftest import sign_in
from tests.factories import default_stage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def board_deal():
    user = user_get_or_create(email="owner@browser.test", password="browser-pass-123")
    ws = workspace_create(name="Browser Co", slug="browser-co", owner_user=user)
    owner = ws.memberships.get()
    deal_create(
        workspace=ws, actor=owner, title="Other deal", stage=default_stage(ws), amount=Decimal("500"), owner=owner
    )
    return deal_create(
        workspace=ws, actor=owner, title="Rocket launch", stage=default_stage(ws, "Qualification"),
        amount=Decimal("42000"), owner=owner,
    )  # fmt: skip


def column(page, stage: str):
    return page.locator(f'section.column[data-stage="{stage}"]')


def test_move_a_deal_on_the_board(page, live_server, board_deal, screenshot_dir):
    sign_in(page, live_server.url, "owner@browser.test", "browser-pass-123")
    assert page.url.endswith("/w/browser-co/")
    assert column(page, "Qualification").locator(".card", has_text="Rocket launch").count() == 1
    assert "42,000" in column(page, "Qualification").inner_text()

    card = column(page, "Qualification").locator(".card", has_text="Rocket launch")
    card.locator("select[name=stage]").select_option(label="Proposal")
    with page.expect_response(lambda r: r.url.endswith("/move/") and r.status == 200):
        card.get_by_role("button", name="Move").click()
    # htmx swapped the board in place: the card is in its new column without a page load.
    column(page, "Proposal").locator(".card", has_text="Rocket launch").wait_for()
    assert "moved to Proposal" in page.locator("#messages").inner_text()

    page.reload()
    assert column(page, "Proposal").locator(".card", has_text="Rocket launch").count() == 1
    assert column(page, "Qualification").locator(".card", has_text="Rocket launch").count() == 0
    assert "1 deal" in column(page, "Proposal").locator(".stats").inner_text()
    page.screenshot(path=str(screenshot_dir / "board-after-move.png"), full_page=True)
    history = DealHistory.objects.get(deal=board_deal, field=TrackedField.STAGE, old_value__isnull=False)  # the move
    assert history.changed_by.user.email == "owner@browser.test"
