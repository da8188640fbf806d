"""What-if: deals picked by searching, bad input refused with a message, the scenario beside the base."""

from __future__ import annotations

import json
import re

import time_machine
from django.urls import reverse

from forecasting.models import ForecastRun
from tests.test_forecast_views import NOW, few_sims, history, run  # fixtures

_ = (few_sims, history, run)


def _search(client, q, **params):
    return client.get(reverse("forecasting:what_if_deals", args=["acme"]), {"q": q, **params}).content.decode()


def test_search_finds_open_deals_in_sight_by_title(personas, history, run):
    rep = personas.client_for(personas.rep)  # East: owns the odd-numbered deals
    page = _search(rep, "Deal 2")
    titles = set(re.findall(r'aria-label="Leave out ([^"]+)"', page))
    # Deal 2x: 20-29 are open (0-19 closed); the rep sees the odd ones only.
    assert titles == {"Deal 21", "Deal 23", "Deal 25", "Deal 27", "Deal 29"}
    assert "two letters" in _search(rep, "D")
    assert "No open deal you can see" in _search(rep, "Deal 22")  # West's deal is not offered
    # A ticked deal stays ticked beside new matches.
    picked = history[21]
    again = _search(rep, "Deal 2", exclude=str(picked.uuid))
    assert f'value="{picked.uuid}" aria-label="Leave out Deal 21" checked' in again
    assert (
        personas.client_for(personas.outsider)
        .get(reverse("forecasting:what_if_deals", args=["acme"]), {"q": "Deal"})
        .status_code
        == 404
    )


def _what_if(client, **params):
    return client.get(reverse("forecasting:what_if", args=["acme"]), params)


def test_bad_what_if_input_is_refused_with_a_message(personas, run):
    owner = personas.client_for(personas.owner)
    for params, message in (
        ({"exclude": "not-a-deal"}, "“not-a-deal” is not a deal id."),
        ({}, "Nothing to compare"),
        ({"slip": "00000000-0000-0000-0000-000000000000", "slip_days": "0"}, "at least one day"),
        ({"win_rate_scale": "9"}, "less than or equal to 3"),
    ):
        response = _what_if(owner, **params)
        assert response.status_code == 422, params
        assert message in response.content.decode(), params
        assert "stored data unchanged" not in response.content.decode()


def test_scenario_sits_beside_the_base_with_the_difference(personas, run, history):
    owner = personas.client_for(personas.owner)
    before = ForecastRun.objects.count()
    biggest = [d for d in history[20:]]
    with time_machine.travel(NOW, tick=False):
        response = _what_if(owner, exclude=[str(d.uuid) for d in biggest])
    page = response.content.decode()
    assert response.status_code == 200 and ForecastRun.objects.count() == before
    table = page.split('aria-label="Base and what-if"')[1].split("</table>")[0]
    assert "Likely (P50)" in table and "Difference" in table
    # Leaving out every open deal can only lower the likely outcome.
    assert re.search(r"Likely \(P50\)</th><td>[^<]+</td><td>[^<]+</td><td>−", table), table
    chart = json.loads(page.split('data-chart="distribution">')[1].split(">", 1)[1].split("</script>")[0])
    assert [t["name"].split(":")[0] for t in chart["data"]] == ["Base", "What-if"]
