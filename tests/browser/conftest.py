"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright for Python.

Missing Chromium skips these tests on a laptop, and fails them in CI (CI=true), where .ci/run installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SETTLE_MS = int(os.environ.get("BROWSER_HTMX_SETTLE_MS", "0"))
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".vectoros" / "screenshots"

# Playwright's sync API runs an event loop in this thread; Django must still allow ORM calls here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: object) -> Iterator[object]:
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    if SETTLE_MS:  # shake out races with htmx's settling, e.g. BROWSER_HTMX_SETTLE_MS=1500
        script = f"addEventListener('DOMContentLoaded', () => {{ htmx.config.defaultSettleDelay = {SETTLE_MS} }})"
        page.add_init_script(script)
    page.set_default_timeout(30_000)  # generous: CI shares two cores with the server under test
    yield page
    context.close()


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def sign_in(page: object, live_server_url: str, email: str, password: str) -> None:
    """Sign in through the real allauth form, as a person would."""
    page.goto(f"{live_server_url}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state("networkidle")


def htmx_settled(page: object) -> None:
    """Wait until htmx has no request in flight and has wired up what it swapped in.

    htmx inserts new content, then processes its hx-* attributes when it settles (20 ms later by default): an input
    filled in between would fire its events with no listener, as on a busy CI machine.
    """
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
