"""Content-Security-Policy on every page, no inline script anywhere, charts drawn from JSON with escaped labels,
Swagger UI from our own static files."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import plotly.graph_objects as go
import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from crm.models import Stage
from crm.services import deal_create, deal_move_to_stage
from forecasting.services import forecast_run
from tests.factories import default_stage
from tests.test_sweep import workspace_routes
from vectoros.plots import figure_payload

NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)
EVIL = "<a href=//evil.example>x</a>"
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.DOTALL | re.IGNORECASE)


@pytest.fixture(autouse=True)
def few_sims(monkeypatch):
    monkeypatch.setattr("forecasting.compute.DEFAULT_SIMS", 300)
    monkeypatch.setattr("forecasting.selectors.WHAT_IF_SIMS", 300)


@pytest.fixture
def demo_like(personas):
    """Won, lost and open deals, a stage and deals named like a link, and a forecast run to chart."""
    ws = personas.workspace
    Stage.objects.filter(pipeline__workspace=ws, name="Negotiation").update(name=EVIL)
    for i in range(12):
        created = NOW - timedelta(days=150 - 10 * i)
        deal = deal_create(
            workspace=ws, actor=personas.owner, title=EVIL if i % 4 == 0 else f"Deal {i}",
            stage=default_stage(ws, EVIL if i % 2 else "Qualification"), amount=Decimal(20_000 + 500 * i),
            owner=personas.rep, at=created, created_at=created,
        )  # fmt: skip
        if i < 6:
            with time_machine.travel(created + timedelta(days=30), tick=False):
                won_or_lost = "Closed Won" if i % 3 else "Closed Lost"
                deal_move_to_stage(deal=deal, stage=default_stage(ws, won_or_lost), actor=personas.owner)
    with time_machine.travel(NOW, tick=False):
        forecast_run(workspace=ws, sims=300)
    return personas


def assert_no_inline_script(response, path: str) -> None:
    policy = response.get("Content-Security-Policy", "")
    assert "script-src 'self'" in policy, f"{path}: {policy!r}"
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0], path
    nonce = re.search(r"'nonce-([^']+)'", policy)
    for attributes, body in SCRIPT.findall(response.content.decode()):
        src = re.search(r"""src=["']([^"']+)""", attributes)
        if src:
            assert not re.match(r"(https?:)?//", src.group(1)), f"{path} loads a script from {src.group(1)}"
            continue
        if re.search(r"""type=["']application/json""", attributes):
            continue  # data, never executed
        assert nonce and f'nonce="{nonce.group(1)}"' in attributes, f"{path} has an inline script: {body[:80]!r}"


@pytest.mark.django_db
def test_every_workspace_page_has_a_policy_and_no_inline_script(demo_like):
    client = demo_like.client_for(demo_like.owner)
    checked = []
    for route in workspace_routes():
        if "<" in route.replace("<slug:slug>", ""):
            continue  # pages of one object: their templates are the same ones the list pages use
        path = "/" + route.replace("<slug:slug>", "acme")
        response = client.get(path)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            assert_no_inline_script(response, path)
            checked.append(path)
    assert "/w/acme/forecast/" in checked and "/w/acme/scoring/" in checked
    assert len(checked) >= 10


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/accounts/signup/", "/api/v1/docs", "/admin/login/"])
def test_public_pages_have_a_policy_and_no_inline_script(path):
    response = Client().get(path, follow=True)
    assert response.status_code == 200
    assert_no_inline_script(response, path)


@pytest.mark.django_db
def test_swagger_ui_and_its_assets_come_from_our_static_files(admin_client):
    response = Client().get("/api/v1/docs")
    body = response.content.decode()
    assert "cdn" not in body.lower()
    sources = re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']([^"']+)""", body)
    assert any(src.endswith("swagger-ui-bundle.js") for src in sources)
    for src in sources:
        assert src.startswith("/static/"), src
        assert Client().get(src).status_code == 200, src


def chart_data(html: str, key: str) -> dict:
    found = re.search(rf'data-chart="{key}"><script[^>]*type="application/json"[^>]*>(.*?)</script>', html, re.S)
    assert found, f"no chart {key}"
    return json.loads(found.group(1))


@pytest.mark.django_db
def test_a_stage_named_like_a_link_reaches_plotly_as_text(demo_like):
    response = demo_like.client_for(demo_like.viewer).get(reverse("forecasting:dashboard", args=["acme"]))
    html = response.content.decode()
    assert "<a href=//evil" not in html  # not in the page, not in any chart's data
    funnel = chart_data(html, "funnel")["data"][0]
    assert any(label.startswith("&lt;a href=//evil.example&gt;x&lt;/a&gt;") for label in funnel["y"])
    stages = chart_data(html, "stages")["data"][0]
    assert any(label.startswith("&lt;a href=//evil.example&gt;x&lt;/a&gt;:") for label in stages["labels"])


def test_deal_titles_in_a_figure_are_escaped_but_our_own_markup_is_kept():
    fig = go.Figure(go.Bar(x=[EVIL, "Fine & dandy"], y=[1, 2], name=EVIL, hovertemplate="%{x}<extra></extra>"))
    fig.update_layout(title={"text": "Deals<br>by size"})
    payload = figure_payload(fig, {"displaylogo": False})
    trace = payload["data"][0]
    assert trace["x"] == ["&lt;a href=//evil.example&gt;x&lt;/a&gt;", "Fine &amp; dandy"]
    assert trace["name"] == "&lt;a href=//evil.example&gt;x&lt;/a&gt;"
    assert trace["hovertemplate"] == "%{x}<extra></extra>"  # a template of ours, not data
    assert payload["layout"]["title"]["text"] == "Deals<br>by size"
    assert payload["config"] == {"displaylogo": False}
