"""The Maven CRM folder imports with its history, and a second import changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crm.importers import run_import
from crm.models import Company, Deal, DealHistory, Outcome, TrackedField
from crm.selectors import pipeline_as_of
from tenancy.models import Membership, Role, Team

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


@pytest.fixture
def maven(shared_data):
    return shared_data / "maven-crm-as-of-2017-06-30"


def test_maven_folder_imports_with_history(personas, maven, django_capture_on_commit_callbacks):
    ws = personas.workspace
    with django_capture_on_commit_callbacks():
        report = run_import(workspace=ws, fmt="maven", path=maven)
    data = report.as_dict()
    assert data["errors"] == []
    assert data["deals_by_outcome"] == {"won": 1785, "lost": 894, "open": 1686}
    assert data["created"]["deals"] == 4365 and data["created"]["companies"] == 85
    assert Deal.objects.for_workspace(ws).count() == 4365
    assert Company.objects.for_workspace(ws).count() == 85
    agents = Membership.objects.for_workspace(ws).filter(role=Role.REP, user__isnull=True)
    assert agents.count() == 30
    assert not agents.filter(display_name="Carl Lin").exists()  # in sales_teams, no deals
    assert any("GTXPro" in line and "GTX Pro" in line for line in data["reconciled"])
    assert any("technolgy" in line for line in data["reconciled"])
    assert any("blank account" in line for line in data["reconciled"])

    moses = Membership.objects.get(workspace=ws, display_name="Moses Frase")
    assert moses.team.name == "Dustin Brinkmann's team" and moses.team.parent.name == "Central region"
    assert moses.team.manager.display_name == "Dustin Brinkmann"
    acme = Company.objects.get(workspace=ws, name="Acme Corporation")
    assert acme.industry == "technology" and acme.annual_revenue == Decimal("1100040000.00")
    assert Company.objects.get(workspace=ws, name="Bluth Company").parent == acme

    won = Deal.objects.get(workspace=ws, external_id="1C1I7A6R")
    assert won.outcome == Outcome.WON and won.amount == Decimal("1054") and not won.amount_is_estimated
    assert won.created_at == datetime(2016, 10, 20, tzinfo=UTC) and won.closed_at == datetime(2017, 3, 1, tzinfo=UTC)
    changes = list(DealHistory.objects.filter(deal=won).values_list("field", "old_value", "new_value"))
    assert (TrackedField.AMOUNT, "1096", "1054") in changes and (TrackedField.OUTCOME, "open", "won") in changes
    lost = Deal.objects.get(workspace=ws, external_id="KWVA7VR1")
    assert lost.amount == Decimal("4821") and lost.attributes["close_value"] == 0 and lost.amount_is_estimated
    assert lost.attributes["product"] == "GTX Pro"
    assert Deal.objects.for_workspace(ws).filter(outcome=Outcome.OPEN, company__isnull=True).count() == 484

    # As of 2017-03-31, a deal won on 2017-05-01 was still open at its list price.
    snapshots = {s.id: s for s in pipeline_as_of(ws, datetime(2017, 3, 31, 12, tzinfo=UTC))}
    later = Deal.objects.for_workspace(ws).filter(outcome=Outcome.WON, closed_at__gt=datetime(2017, 4, 1, tzinfo=UTC))
    deal = later.exclude(created_at__gt=datetime(2017, 3, 31, tzinfo=UTC)).first()
    list_price = DealHistory.objects.get(deal=deal, field=TrackedField.AMOUNT, old_value__isnull=True).new_value
    assert snapshots[deal.id].is_open and snapshots[deal.id].amount == Decimal(list_price) != deal.amount

    history_rows = DealHistory.objects.for_workspace(ws).count()
    again = run_import(workspace=ws, fmt="maven", path=maven)
    assert again.as_dict()["created"] == dict.fromkeys(("deals", "companies", "contacts", "members", "history"), 0)
    assert again.as_dict()["updated"]["deals"] == 0
    assert DealHistory.objects.for_workspace(ws).count() == history_rows
    assert Team.objects.filter(workspace=ws, name__endswith="region").count() == 3
