"""Ask VectorOS and the manager briefs: tool use over read-only selectors in the asker's Scope, against a local
Messages API server (the real `anthropic` client, configured by settings)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from crm.models import Deal
from crm.services import deal_move_to_stage, deal_update
from forecasting.periods import fiscal_quarter_bounds
from forecasting.services import forecast_run
from insights import fallbacks, grounding
from insights.ask import TOOLS
from insights.facts import forecast_change_facts
from tenancy.scope import Scope
from tests import insights_helpers
from tests.conftest import Personas
from tests.factories import default_stage, make_deal
from tests.fakeanthropic.server import FakeAnthropic

# The local Messages API server and the settings pointing the real client at it.
anthropic_server = insights_helpers.anthropic_server
fake_api = insights_helpers.fake_api


@pytest.fixture
def deals(personas: Personas) -> dict[str, Deal]:
    today = personas.workspace.today()
    mine = make_deal(
        personas.workspace,
        title="East Enterprise expansion",
        stage="Proposal",
        amount="50000",
        owner=personas.rep,
        expected_close_date=today + timedelta(days=10),
        attributes={"segment": "Enterprise"},
    )
    theirs = make_deal(
        personas.workspace,
        title="West Enterprise secret",
        stage="Proposal",
        amount="90000",
        owner=personas.other_rep,
        expected_close_date=today + timedelta(days=10),
        attributes={"segment": "Enterprise"},
    )
    for deal, actor in ((mine, personas.rep), (theirs, personas.other_rep)):
        pushed = today + timedelta(days=40)
        deal_update(deal=deal, actor=actor, changes={"expected_close_date": pushed})
    return {"mine": mine, "theirs": theirs}


def ask(personas: Personas, member: Any, question: str) -> str:
    url = reverse("insights:ask", args=[personas.workspace.slug])
    response = personas.client_for(member).get(url, {"q": question})
    assert response.status_code == 200
    return response.content.decode()


def tool_results(request: dict[str, Any]) -> list[Any]:
    found = []
    for message in request["messages"]:
        if message["role"] == "user" and isinstance(message["content"], list):
            found += [json.loads(b["content"]) for b in message["content"] if b.get("type") == "tool_result"]
    return found


def test_a_rep_asking_about_slipped_deals_sees_only_their_own(
    personas: Personas, deals: dict[str, Deal], fake_api: FakeAnthropic
) -> None:
    fake_api.then_tool("deals_slipped", {"query": "Enterprise"}, text="Let me look.")
    fake_api.then_text("One Enterprise deal slipped: [D1], $50K, moved 30 days later.")

    body = ask(personas, personas.rep, "Which Enterprise deals slipped this month and why?")

    first, second = fake_api.requests
    assert first["stream"] is True and second["stream"] is True  # the tool call arrived as input_json_delta events
    assert {tool["name"] for tool in first["tools"]} == {t["name"] for t in TOOLS}
    assert all("Read-only" in tool["description"] for tool in first["tools"])
    [result] = tool_results(second)
    assert [row["title"] for row in result["slipped"]] == ["East Enterprise expansion"]
    assert result["slipped"][0]["days_later"] == 30
    assert "West Enterprise secret" not in json.dumps(second)
    url = reverse("crm:deal_detail", args=[personas.workspace.slug, deals["mine"].uuid])
    assert f'href="{url}"' in body and "AI-written" in body
    assert "West Enterprise secret" not in body


def test_a_rep_cannot_fetch_another_reps_deal_by_id(
    personas: Personas, deals: dict[str, Deal], fake_api: FakeAnthropic
) -> None:
    hidden = str(deals["theirs"].uuid)
    fake_api.then_tool("deal_details", {"deal": hidden})
    fake_api.then_text("I could not find that deal [D7].")

    body = ask(personas, personas.rep, f"Tell me about deal {hidden}")

    [result] = tool_results(fake_api.requests[1])
    assert result == {"error": "No such deal."}
    assert "West Enterprise secret" not in body and "90,000" not in body
    assert "[D7]" in body  # a reference no tool returned is not a link


def test_the_manager_sees_both_teams_only_when_they_lead_them(
    personas: Personas, deals: dict[str, Deal], fake_api: FakeAnthropic
) -> None:
    fake_api.then_tool("search_deals", {"query": "Enterprise"})
    fake_api.then_text("Two deals: [D1] and [D2].")
    ask(personas, personas.owner, "Enterprise deals?")
    [result] = tool_results(fake_api.requests[1])
    assert {row["title"] for row in result["deals"]} == {"East Enterprise expansion", "West Enterprise secret"}

    fake_api.then_tool("search_deals", {"query": "Enterprise"})
    fake_api.then_text("One deal: [D1].")
    ask(personas, personas.manager, "Enterprise deals?")
    [result] = tool_results(fake_api.requests[3])
    assert [row["title"] for row in result["deals"]] == ["East Enterprise expansion"]


def test_an_answer_with_an_invented_number_is_replaced(
    personas: Personas, deals: dict[str, Deal], fake_api: FakeAnthropic
) -> None:
    fake_api.then_tool("search_deals", {"query": "Enterprise"})
    fake_api.then_text("[D1] is worth $75K.").then_text("[D1] is worth $80K.")

    body = ask(personas, personas.rep, "What is the Enterprise deal worth?")

    assert len(fake_api.requests) == 3
    assert "75K" not in body and "80K" not in body
    assert "Not AI-written" in body and "East Enterprise expansion" in body


def test_ask_without_a_key_or_with_the_api_overloaded_answers_from_the_data(
    personas: Personas, deals: dict[str, Deal], fake_api: FakeAnthropic, settings: Any
) -> None:
    fake_api.then_error(529, times=2)
    body = ask(personas, personas.rep, "Enterprise deals")
    assert "Not AI-written" in body and "did not answer" in body
    assert "East Enterprise expansion" in body and "West Enterprise secret" not in body

    fake_api.then_tool("search_deals", {"query": "Enterprise"}).then_stream_error("[D1] is")
    body = ask(personas, personas.rep, "Enterprise deals")  # an error event in the middle of the stream
    assert "did not answer" in body and "East Enterprise expansion" in body

    settings.ANTHROPIC_API_KEY = ""
    body = ask(personas, personas.rep, "Enterprise deals")
    assert "no Anthropic API key" in body and "West Enterprise secret" not in body


def test_ask_is_rate_limited(
    personas: Personas, deals: dict[str, Deal], fake_api: FakeAnthropic, settings: Any
) -> None:
    settings.ANTHROPIC_API_KEY = ""
    settings.VECTOROS_RATE_LIMITS = {**settings.VECTOROS_RATE_LIMITS, "ai": "2/60"}
    client = personas.client_for(personas.rep)
    url = reverse("insights:ask", args=[personas.workspace.slug])
    statuses = [client.get(url, {"q": "Enterprise"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get(url).status_code == 200  # the empty form costs nothing


def test_why_the_forecast_changed_names_the_deal_that_moved_it(
    personas: Personas, deals: dict[str, Deal], fake_api: FakeAnthropic
) -> None:
    now = timezone.now()
    for i in range(12):  # a closed history, so the forecast has win rates to go on
        created = now - timedelta(days=150 - 5 * i)
        old = make_deal(personas.workspace, title=f"Old {i}", amount="10000", owner=personas.other_rep, at=created)
        with time_machine.travel(created + timedelta(days=10), tick=False):
            deal_move_to_stage(deal=old, stage=default_stage(personas.workspace, "Proposal"), actor=personas.other_rep)
        with time_machine.travel(created + timedelta(days=20), tick=False):
            stage = default_stage(personas.workspace, "Closed Won" if i % 3 else "Closed Lost")
            deal_move_to_stage(deal=old, stage=stage, actor=personas.other_rep)
    earlier = now - timedelta(days=1)
    forecast_run(workspace=personas.workspace, sims=300, as_of=earlier)
    quarter_end = fiscal_quarter_bounds(personas.workspace, personas.workspace.today())[1]
    changes = {"amount": Decimal("80000"), "expected_close_date": quarter_end}  # back into this quarter
    deal_update(deal=deals["mine"], actor=personas.rep, changes=changes)
    forecast_run(workspace=personas.workspace, sims=300)

    facts = forecast_change_facts(Scope.for_member(personas.rep))

    assert facts["runs"] == 2
    [moved] = facts["deals_that_moved_it"]
    assert moved["deal"] == str(deals["mine"].uuid) and moved["change"] > 0
    assert "West Enterprise secret" not in json.dumps(facts)
    text = fallbacks.write(facts)
    assert "East Enterprise expansion" in text and grounding.check(text, facts).grounded

    change = moved["change"]
    fake_api.then_text(f"East Enterprise expansion raised the expected revenue by ${change:,.0f}.")
    response = personas.client_for(personas.rep).get(
        reverse("insights:forecast_change", args=[personas.workspace.slug])
    )
    body = response.content.decode()
    assert response.status_code == 200 and "AI-written" in body and "Not AI-written" not in body
    assert "<facts>" in json.dumps(fake_api.requests[0]) and "tools" not in fake_api.requests[0]
