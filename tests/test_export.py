"""CSV exports: streamed, filtered like the deal list, formula injection neutralised, tenancy respected."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.urls import reverse

from crm.services import deal_create
from tests.factories import CompanyFactory, default_stage


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200 and response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def _deal(personas, title, owner, stage="Prospecting"):
    ws = personas.workspace
    return deal_create(
        workspace=ws, actor=owner, title=title, stage=default_stage(ws, stage), amount=Decimal(100), owner=owner
    )


def test_deal_export_neutralises_formulas_and_filters(personas):
    _deal(personas, '=HYPERLINK("http://evil")', personas.rep)
    _deal(personas, "Plain deal", personas.other_rep, "Closed Won")
    url = reverse("crm_data:export_deals", kwargs={"slug": "acme"})
    rows = _rows(personas.client_for(personas.owner).get(url))
    titles = {r[1] for r in rows[1:]}
    assert titles == {'\'=HYPERLINK("http://evil")', "Plain deal"}
    won = _rows(personas.client_for(personas.owner).get(url, {"outcome": "won"}))
    assert [r[1] for r in won[1:]] == ["Plain deal"]
    assert personas.client_for(personas.owner).get(url, {"owner": "not-a-uuid"}).status_code == 400


def test_rep_exports_only_deals_they_see_and_outsider_gets_404(personas):
    _deal(personas, "Mine", personas.rep)
    _deal(personas, "Theirs", personas.other_rep)
    url = reverse("crm_data:export_deals", kwargs={"slug": "acme"})
    assert [r[1] for r in _rows(personas.client_for(personas.rep).get(url))[1:]] == ["Mine"]
    assert personas.client_for(personas.outsider).get(url).status_code == 404
    assert personas.client_for(personas.owner).post(url).status_code == 405


def test_company_export_prefixes_dangerous_cells(personas):
    CompanyFactory(workspace=personas.workspace, name="@SUM(A1)", industry="-2+3")
    CompanyFactory(workspace=personas.other_workspace, name="Other tenant")
    url = reverse("crm_data:export_companies", kwargs={"slug": "acme"})
    rows = _rows(personas.client_for(personas.viewer).get(url))
    assert [(r[1], r[3]) for r in rows[1:]] == [("'@SUM(A1)", "'-2+3")]
