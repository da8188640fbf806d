"""In real Chromium: drag a card to another column; drag one onto Closed Won, answer the close dialog, then undo."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from crm.models import Deal
from crm.services import deal_create
from tenancy.services import user_get_or_create, workspace_create
from tests.browser.conftest import htmx_settled, sign_in
from tests.factories import default_stage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deals():
    user = user_get_or_create(email="dnd@browser.test", password="browser-pass-123")
    ws = workspace_create(name="Drag Co", slug="drag-co", owner_user=user)
    owner = ws.memberships.get()
    made = {}
    for title, stage, amount in (("Rocket launch", "Qualification", "42000"), ("Moon base", "Negotiation", "90000")):
        made[title] = deal_create(
            workspace=ws, actor=owner, title=title, stage=default_stage(ws, stage), amount=Decimal(amount), owner=owner
        )
    return made


def column(page, stage: str):
    return page.locator(f'#board [data-stage="{stage}"]')


def test_drag_to_a_column_then_close_with_the_dialog_and_undo(page, live_server, deals, screenshot_dir):
    sign_in(page, live_server.url, "dnd@browser.test", "browser-pass-123")
    card = column(page, "Qualification").locator(".card", has_text="Rocket launch")
    with page.expect_response(lambda r: r.url.endswith("/move/") and r.status == 200):
        card.drag_to(column(page, "Proposal"))
    column(page, "Proposal").locator(".card", has_text="Rocket launch").wait_for()
    htmx_settled(page)  # the board was swapped in again: drag only once htmx has wired it up
    assert Deal.objects.get(pk=deals["Rocket launch"].pk).stage.name == "Proposal"

    moon = column(page, "Negotiation").locator(".card", has_text="Moon base")
    moon.drag_to(column(page, "Closed Won"))
    dialog = page.locator("#close-dialog")
    dialog.wait_for(state="visible")
    assert page.locator("#close-amount").input_value() == "90000.00"
    page.fill("#close-amount", "85000")
    page.screenshot(path=str(screenshot_dir / "board-close-dialog.png"))
    with page.expect_response(lambda r: r.url.endswith("/move/") and r.status == 200):
        dialog.get_by_role("button", name="Close the deal").click()
    page.locator("[data-undo-bar]").wait_for()
    htmx_settled(page)
    won = Deal.objects.get(pk=deals["Moon base"].pk)
    assert (won.outcome, won.amount) == ("won", Decimal("85000"))
    assert column(page, "Negotiation").locator(".card", has_text="Moon base").count() == 0

    with page.expect_response(lambda r: r.url.endswith("/undo/") and r.status == 200):
        page.locator("[data-undo-bar]").get_by_role("button", name="Undo").click()
    column(page, "Negotiation").locator(".card", has_text="Moon base").wait_for()
    back = Deal.objects.get(pk=deals["Moon base"].pk)
    assert (back.outcome, back.amount, back.stage.name) == ("open", Decimal("90000"), "Negotiation")
    page.screenshot(path=str(screenshot_dir / "board-after-undo.png"), full_page=True)


def test_cancelling_the_dialog_moves_nothing(page, live_server, deals):
    sign_in(page, live_server.url, "dnd@browser.test", "browser-pass-123")
    card = column(page, "Negotiation").locator(".card", has_text="Moon base")
    card.locator("select[name=stage]").select_option(label="Closed Lost")
    card.get_by_role("button", name="Move").click()  # the keyboard path asks the same questions
    page.locator("#close-dialog").wait_for(state="visible")
    page.locator("#close-dialog").get_by_role("button", name="Cancel").click()
    page.locator("#close-dialog").wait_for(state="hidden")
    # The dialog's "close" event, which puts the menu back, fires after it is hidden: wait for it (it raced here).
    expect(card.locator("select[name=stage]")).to_have_value(
        str(default_stage(deals["Moon base"].workspace, "Negotiation").uuid)
    )
    assert Deal.objects.get(pk=deals["Moon base"].pk).outcome == "open"
