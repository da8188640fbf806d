"""The drill's load (run by drill.py through locust, headless): people using the app and integrations calling the API.

Every request is appended to DRILL_RECORD as a JSON line (time, page, ms, status) so drill.py can tell errors
inside restart windows from errors outside them. Users share one signed-in session (DRILL_SESSION): 50 sign-ins
from one address in a minute would only measure the sign-in rate limit.
"""

from __future__ import annotations

import json
import os
import random
import time

from locust import HttpUser, between, events, task

SLUG = os.environ.get("DRILL_WORKSPACE", "demo")
SESSION = os.environ["DRILL_SESSION"]
API_KEY = os.environ["DRILL_API_KEY"]
with open(os.environ["DRILL_DEALS"]) as handle:
    DEALS: list[str] = json.load(handle)
_record = open(os.environ["DRILL_RECORD"], "a", buffering=1)  # noqa: SIM115 (open for the whole run)


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, response, exception, **kwargs):
    status = getattr(response, "status_code", 0) or 0
    line = {"t": time.time(), "name": name, "ms": response_time, "status": status, "error": exception is not None}
    _record.write(json.dumps(line) + "\n")


class Seller(HttpUser):
    """Someone in the sales team: the board, the list, a deal, the forecast."""

    wait_time = between(1, 3)
    weight = 4

    def on_start(self) -> None:
        self.client.cookies.set("sessionid", SESSION)

    @task(3)
    def board(self) -> None:
        self.client.get(f"/w/{SLUG}/", name="board")

    @task(3)
    def deal_list(self) -> None:
        self.client.get(f"/w/{SLUG}/deals/", name="deal list")

    @task(4)
    def deal_page(self) -> None:
        self.client.get(f"/w/{SLUG}/deals/{random.choice(DEALS)}/", name="deal page")

    @task(2)
    def forecast(self) -> None:
        self.client.get(f"/w/{SLUG}/forecast/", name="forecast dashboard")


class Integration(HttpUser):
    """A system reading through the API and updating deals (every update re-forecasts and rescores)."""

    wait_time = between(1, 3)
    weight = 1

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {API_KEY}"

    @task(3)
    def api_deals(self) -> None:
        self.client.get("/api/v1/deals/?limit=50", name="api: deal list")

    @task(3)
    def api_deal(self) -> None:
        self.client.get(f"/api/v1/deals/{random.choice(DEALS)}/", name="api: deal")

    @task(1)
    def api_forecast(self) -> None:
        self.client.get("/api/v1/forecasts/latest/", name="api: latest forecast")

    @task(2)
    def update_deal(self) -> None:
        amount = random.randrange(5_000, 250_000, 500)
        self.client.patch(f"/api/v1/deals/{random.choice(DEALS)}/", json={"amount": amount}, name="api: deal update")
