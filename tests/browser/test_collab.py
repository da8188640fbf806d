"""In real Chromium: comment with an @mention picked from the suggestions, see the mentioned member's bell light up,
follow the notification to the deal; the service worker registers for the whole site."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.services import deal_create
from tenancy.models import Role
from tenancy.services import user_get_or_create, workspace_create
from tests.browser.conftest import htmx_settled, sign_in
from tests.factories import MembershipFactory, default_stage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deal():
    user = user_get_or_create(email="ann@browser.test", password="browser-pass-123")
    ws = workspace_create(name="Browser Co", slug="browser-co", owner_user=user)
    owner = ws.memberships.get()
    owner.display_name = "Ann Owner"
    owner.save()
    bob = user_get_or_create(email="bob@browser.test", password="browser-pass-123")
    MembershipFactory(workspace=ws, user=bob, display_name="Bob Manager", role=Role.ADMIN)
    return deal_create(
        workspace=ws, actor=owner, title="Pilot at Initech", stage=default_stage(ws), amount=Decimal("900"), owner=owner
    )


@pytest.mark.parametrize("width", [1400, 390])
def test_mention_then_follow_the_bell(page, live_server, deal, screenshot_dir, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, "ann@browser.test", "browser-pass-123")
    page.goto(f"{live_server.url}/w/browser-co/deals/{deal.uuid}/")
    panel = page.locator("#collab-panel")
    panel.wait_for()  # the panel loads after the page
    htmx_settled(page)
    panel.get_by_label("Mention").fill("bob")
    suggestion = panel.get_by_role("button", name="@Bob Manager")
    suggestion.wait_for()
    htmx_settled(page)
    suggestion.click()
    panel.locator("input[name=mentions]:checked").wait_for()  # the picked member, ticked inside the form
    htmx_settled(page)
    assert panel.locator("input[name=mentions]:checked").count() == 1
    panel.get_by_label("Comment").fill("Can you **join** the call? <b>not bold</b>")
    panel.get_by_role("button", name="Comment", exact=True).click()
    comment = page.locator(".collab-comments li", has_text="join")
    comment.wait_for()
    htmx_settled(page)
    assert comment.locator("strong").inner_text() == "join"
    assert "<b>not bold</b>" in comment.inner_text()
    panel.get_by_label("Title").fill("Send the proposal")
    panel.get_by_role("button", name="Add task").click()
    page.locator(".collab-tasks li", has_text="Send the proposal").wait_for()
    assert "Send the proposal" in page.locator(".collab-tasks").inner_text()
    page.screenshot(path=str(screenshot_dir / f"collab-deal-{width}.png"), full_page=True)
    registered = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert registered == f"{live_server.url}/"

    page.context.clear_cookies()
    sign_in(page, live_server.url, "bob@browser.test", "browser-pass-123")
    page.goto(f"{live_server.url}/w/browser-co/collab/my-day/")
    page.locator("#bell .badge").wait_for()
    assert page.locator("#bell .badge").inner_text() == "1"
    page.locator("#bell summary").click()
    menu = page.locator("#bell-menu").bounding_box()
    assert menu["x"] >= 0 and menu["x"] + menu["width"] <= width + 1  # the dropdown is whole on a phone too
    page.screenshot(path=str(screenshot_dir / f"collab-bell-{width}.png"))
    page.locator("#bell-menu").get_by_role("link", name="Ann Owner mentioned you on Pilot at Initech").click()
    page.wait_for_load_state("networkidle")
    assert f"/deals/{deal.uuid}/" in page.url
    assert page.locator("#bell .badge").count() == 0
    # Nothing in the panel is wider than the panel (the page's own grid at 390 px is the responsive-layout part).
    assert page.evaluate("(p => p.scrollWidth <= p.clientWidth)(document.getElementById('collab-panel'))")
