"""Deal list fixes: open deals by default with a switch to closed or all; closed deals show when they closed, never
a future expected close; the Export link carries the filters as applied, also after an htmx filter change."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.urls import reverse

from crm.services import deal_close
from tests import factories
from tests.factories import default_stage

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


def make(personas, title, stage="Proposal", **fields):
    return factories.make_deal(
        personas.workspace, actor=personas.owner, owner=personas.rep, title=title, stage=stage, **fields
    )


def test_open_by_default_with_a_switch(personas):
    make(personas, "Open one")
    make(personas, "Lost one", stage="Closed Lost")
    client = personas.client_for(personas.owner)
    deals = reverse("crm:deal_list", args=[personas.workspace.slug])
    default = client.get(deals)
    assert [d.title for d in default.context["page"]] == ["Open one"]
    html = default.content.decode()
    assert 'value="open" checked' in html and 'value="all"' in html and "1 open deal" in html
    assert [d.title for d in client.get(deals, {"outcome": "closed"}).context["page"]] == ["Lost one"]
    assert len(client.get(deals, {"outcome": "all"}).context["page"]) == 2


def test_a_lost_deal_shows_when_it_closed_not_a_future_close(personas):
    lost = make(personas, "Lost one", expected_close_date=date(2026, 6, 30))
    deal_close(deal=lost, stage=default_stage(personas.workspace, "Closed Lost"), actor=personas.owner,
               close_date=date(2026, 2, 3), lost_reason="Budget")  # fmt: skip
    make(personas, "Open one", expected_close_date=date(2026, 6, 30))
    html = (
        personas.client_for(personas.owner)
        .get(reverse("crm:deal_list", args=[personas.workspace.slug]), {"outcome": "all"})
        .content.decode()
    )
    assert "closed Feb 3, 2026" in html and "expected Jun 30, 2026" in html
    assert html.count("Jun 30, 2026") == 1  # only the open deal's


def test_export_link_follows_htmx_filter_changes(personas):
    make(personas, "Rep deal")
    factories.make_deal(
        personas.workspace, actor=personas.owner, owner=personas.other_rep, title="West deal", stage="Proposal"
    )
    client = personas.client_for(personas.owner)
    deals = reverse("crm:deal_list", args=[personas.workspace.slug])
    response = client.get(deals, {"owner": personas.other_rep.uuid}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'id="export-link"' in html and 'hx-swap-oob="true"' in html  # swapped in beside the results
    href = html.split('id="export-link"')[0].rsplit("<a", 1)[1] + html.split('id="export-link"')[1].split(">")[0]
    export_url = href.split('href="')[1].split('"')[0].replace("&amp;", "&")
    rows = list(csv.DictReader(io.StringIO(b"".join(client.get(export_url).streaming_content).decode("utf-8-sig"))))
    assert [r["title"] for r in rows] == ["West deal"]
