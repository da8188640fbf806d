"""Every main page in real Chromium at a desktop width (1280 px) and a phone's (390 px), on the demo data.

At 390 px no page scrolls sideways, the menu button opens the navigation and every section is reachable from
it; axe-core (the copy bundled by the axe-playwright-python package) finds no serious or critical violation;
the alerts page reaches its last alert through its pages. Screenshots of every page at both widths are saved.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert, AlertKind, Priority
from alerts.services import monitors_run
from crm.demo.services import demo_workspace_seed
from crm.models import Deal
from crm.services import deal_create
from forecasting.services import forecast_run
from tenancy.models import Workspace
from tenancy.services import user_get_or_create, workspace_create
from tests.browser.conftest import sign_in
from tests.factories import default_stage

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP, PHONE = 1280, 390
SERIOUS = {"serious", "critical"}


@pytest.fixture
def demo() -> Workspace:
    # A third of the demo's volume: the same pages and data shapes, seeded in seconds.
    demo_workspace_seed(slug="demo", as_of=timezone.now().date(), scale=0.3)
    ws = Workspace.objects.get(slug="demo")
    forecast_run(workspace=ws, sims=1000)
    monitors_run(workspace=ws)
    return ws


def main_pages(ws: Workspace) -> dict[str, str]:
    """Each main section's page (and one deal's page), by a short name used for screenshots."""
    deal = Deal.objects.for_workspace(ws).filter(outcome="open").order_by("-amount").first()
    names = {
        "board": ("crm:board", []),
        "deals": ("crm:deal_list", []),
        "deal": ("crm:deal_detail", [deal.uuid]),
        "companies": ("crm:company_list", []),
        "contacts": ("crm:contact_list", []),
        "forecast": ("forecasting:dashboard", []),
        "alerts": ("alerts:list", []),
        "customers": ("customers:list", []),
        "settings": ("tenancy:workspace_settings", []),
        "insights": ("insights:page", []),
        "ask": ("insights:ask", []),
        "my-day": ("collab:my_day", []),
        "duplicates": ("crm_data:duplicates", ["companies"]),
    }
    return {short: reverse(name, args=[ws.slug, *args]) for short, (name, args) in names.items()}


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")


def overflow(page) -> tuple[int, int]:
    return page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")


def serious_violations(page) -> list[str]:
    results = Axe().run(page).response
    return [
        f"{v['id']} ({v['impact']}): {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in results["violations"]
        if v["impact"] in SERIOUS
    ]


def test_main_pages_fit_a_phone_and_the_menu_reaches_every_section(chromium, live_server, demo, screenshot_dir):
    pages = main_pages(demo)
    for width in (DESKTOP, PHONE):
        context = chromium.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        sign_in(page, live_server.url, "demo@example.com", "vectoros-demo")
        too_wide = {}
        for short, path in pages.items():
            open_page(page, live_server.url + path)
            page.screenshot(path=str(screenshot_dir / f"{short}-{width}.png"), full_page=True)
            scroll_width, inner_width = overflow(page)
            if width == PHONE and scroll_width > inner_width:
                too_wide[short] = scroll_width
        assert not too_wide, f"pages scrolling sideways at {width} px: {too_wide}"

        open_page(page, live_server.url + pages["board"])
        button = page.get_by_role("button", name="Menu")
        nav = page.get_by_role("navigation", name="Workspace")
        if width == DESKTOP:
            assert not button.is_visible() and nav.is_visible()
            context.close()
            continue
        # The phone: the navigation folds behind one button that says whether it is open.
        assert button.is_visible() and button.get_attribute("aria-expanded") == "false"
        assert not nav.is_visible()
        button.click()
        assert button.get_attribute("aria-expanded") == "true"
        links = nav.get_by_role("link")
        assert links.count() >= 9
        for i in range(links.count()):
            link = links.nth(i)
            box = link.bounding_box()
            assert link.is_visible() and box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE, (
                link.inner_text()
            )
        page.screenshot(path=str(screenshot_dir / f"menu-open-{PHONE}.png"))
        page.keyboard.press("Escape")
        assert button.get_attribute("aria-expanded") == "false" and not nav.is_visible()
        # Every section is one tap away: open the menu, tap the section, land on it.
        for name in ("Deals", "Forecast", "Alerts", "Settings"):
            button.click()
            link = nav.get_by_role("link", name=name).first
            href = link.get_attribute("href")
            link.click()
            page.wait_for_load_state("networkidle")
            assert page.url == live_server.url + href, name
            current = page.locator(
                f'nav[aria-label="Workspace"] a[href="{href}"]'
            )  # folded again: not in the a11y tree
            assert current.get_attribute("aria-current") == "page", name
        context.close()


def test_main_pages_have_no_serious_accessibility_violations(chromium, live_server, demo):
    pages = main_pages(demo)
    found = {}
    for width in (DESKTOP, PHONE):
        context = chromium.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        sign_in(page, live_server.url, "demo@example.com", "vectoros-demo")
        for short, path in pages.items():
            open_page(page, live_server.url + path)
            violations = serious_violations(page)
            if violations:
                found[f"{short} at {width} px"] = violations
        if width == PHONE:  # the open menu too
            page.get_by_role("button", name="Menu").click()
            if violations := serious_violations(page):
                found["open menu"] = violations
        context.close()
    assert not found, found


@pytest.fixture
def many_alerts() -> Workspace:
    user = user_get_or_create(email="owner@alerts.test", password="browser-pass-123")
    ws = workspace_create(name="Alerting Co", slug="alerting", owner_user=user)
    owner = ws.memberships.get()
    now = timezone.now()
    for i in range(60):
        deal = deal_create(
            workspace=ws, actor=owner, title=f"Deal {i:02d}", stage=default_stage(ws), amount=Decimal(1000 + i),
            owner=owner,
        )  # fmt: skip
        Alert.objects.create(
            workspace=ws, deal=deal, kind=AlertKind.STALE, priority=Priority.MEDIUM, score=1000 - i,
            seen=f"Quiet deal number {i:02d}", why="Why", next_step="Next", first_seen_at=now - timedelta(days=1),
        )  # fmt: skip
    return ws


def test_the_alerts_page_reaches_its_last_alert(page, live_server, many_alerts, screenshot_dir):
    page.set_viewport_size({"width": PHONE, "height": 900})
    sign_in(page, live_server.url, "owner@alerts.test", "browser-pass-123")
    open_page(page, f"{live_server.url}/w/alerting/alerts/")
    assert page.get_by_text("60 alerts").is_visible()
    badge = page.locator("nav .badge")  # folded in the menu on a phone: attached, not visible
    badge.wait_for(state="attached")
    assert badge.text_content() == "60"  # the badge counts what the list shows
    pages = 1
    while page.get_by_role("link", name="Next →").count():
        page.get_by_role("link", name="Next →").click()
        page.wait_for_load_state("networkidle")
        pages += 1
        assert pages < 10
    assert pages == 3
    last = page.get_by_text("Quiet deal number 59")
    last.scroll_into_view_if_needed()
    assert last.is_visible()
    assert overflow(page)[0] <= PHONE
    page.screenshot(path=str(screenshot_dir / f"alerts-last-page-{PHONE}.png"), full_page=True)
