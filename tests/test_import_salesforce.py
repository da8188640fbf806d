"""Salesforce folders import with their stage history; both export flavours; re-import creates nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from crm.importers import run_import
from crm.models import Company, Contact, Deal, DealHistory, Outcome, Stage, StageKind, TrackedField
from tenancy.models import Membership

OPPORTUNITY = (
    "Id,AccountId,Name,StageName,Amount,Probability,CloseDate,IsClosed,IsWon,CreatedDate,LastModifiedDate,OwnerId,"
    "LeadSource,IsDeleted\n"
    "006A,001A,Acme Generators,Closed Won,52000,100,03/20/24,TRUE,TRUE,03/01/24,03/20/24 04:30 PM,005X,Web,FALSE\n"
    "006B,001A,Acme SLA,Negotiation/Review,9000,90,2024-06-30,FALSE,FALSE,2024-03-05 09:00:00,,005Y,,FALSE\n"
    "006C,000000000000000AAA,Lost Cause,Closed Lost,,0,04/01/24,TRUE,FALSE,03/02/24,,005X,,FALSE\n"
    "006D,001A,Deleted,Prospecting,1,10,04/01/24,FALSE,FALSE,03/02/24,,005X,,TRUE\n"
)
HISTORY = (
    "Id,OpportunityId,CreatedDate,StageName,Amount,CloseDate,Probability,IsDeleted\n"
    # Report-export dates (MM/DD/YY hh:mm AM) and ISO ones in the same file, out of order.
    "008A3,006A,03/20/24 04:30 PM,Closed Won,52000,03/20/24,100,FALSE\n"
    "008A1,006A,03/01/24 10:15 AM,Prospecting,40000,04/30/24,10,FALSE\n"
    "008A2,006A,2024-03-10 12:00:00,Proposal/Price Quote,50000,2024-04-15 00:00:00,75,FALSE\n"
    "008B1,006B,2024-03-05 09:00:00,Negotiation/Review,9000,2024-06-30,90,FALSE\n"
)
ACCOUNT = (
    "Id,Name,Industry,AnnualRevenue,NumberOfEmployees,BillingCity,BillingState,Website,ParentId\n"
    "001A,Acme Corp,Energy,5000000,120,Austin,TX,https://www.acme.test/about,\n"
)
CONTACT = "Id,AccountId,FirstName,LastName,Email,Phone,Title\n003A,001A,Rose,Gonzalez,rose@acme.test,(512) 555,CFO\n"
USER = "Id,Name,Email\n005X,Ann Seller,ann@corp.test\n"


def _folder(tmp_path: Path, **overrides: str) -> Path:
    files = {"opportunity.csv": OPPORTUNITY, "OpportunityHistory.csv": HISTORY, "Account.csv": ACCOUNT,
             "contact.CSV": CONTACT, "User.csv": USER, **overrides}  # fmt: skip
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_salesforce_folder_replays_opportunity_history(personas, tmp_path):
    ws = personas.workspace
    report = run_import(workspace=ws, fmt="salesforce", path=_folder(tmp_path)).as_dict()
    assert report["errors"] == []
    assert report["created"]["deals"] == 3 and report["created"]["companies"] == 1
    assert report["created"]["contacts"] == 1 and report["created"]["members"] == 2
    assert report["deals_by_outcome"] == {"won": 1, "lost": 1, "open": 1}
    assert any("deleted opportunities" in line for line in report["reconciled"])

    won = Deal.objects.get(workspace=ws, external_id="006A")
    assert won.outcome == Outcome.WON and won.amount == Decimal("52000") and won.stage.name == "Closed Won"
    assert won.created_at == datetime(2024, 3, 1, tzinfo=UTC)
    assert won.closed_at == datetime(2024, 3, 20, 16, 30, tzinfo=UTC)
    assert won.owner.display_name == "Ann Seller" and won.owner.user is None and won.source == "Web"
    assert won.company.name == "Acme Corp" and won.company.domain == "acme.test"
    assert won.company.location == "Austin, TX"
    stages = [
        (h.changed_at, Stage.objects.get(pk=h.new_value).name)
        for h in DealHistory.objects.filter(deal=won, field=TrackedField.STAGE).order_by("changed_at")
    ]
    assert stages == [
        (datetime(2024, 3, 1, tzinfo=UTC), "Prospecting"),  # created there
        (datetime(2024, 3, 10, 12, tzinfo=UTC), "Proposal/Price Quote"),
        (datetime(2024, 3, 20, 16, 30, tzinfo=UTC), "Closed Won"),
    ]
    slips = DealHistory.objects.filter(deal=won, field=TrackedField.EXPECTED_CLOSE_DATE).order_by("changed_at")
    assert [(h.old_value, h.new_value) for h in slips] == [
        (None, "2024-04-30"),
        ("2024-04-30", "2024-04-15"),
        ("2024-04-15", "2024-03-20"),
    ]
    amounts = DealHistory.objects.filter(deal=won, field=TrackedField.AMOUNT).values_list("new_value", flat=True)
    assert list(amounts) == ["40000", "50000", "52000"]

    lost = Deal.objects.get(workspace=ws, external_id="006C")
    assert lost.outcome == Outcome.LOST and lost.company is None and lost.amount == 0
    open_deal = Deal.objects.get(workspace=ws, external_id="006B")
    assert open_deal.expected_close_date == date(2024, 6, 30) and open_deal.owner.display_name == "Salesforce user 005Y"
    assert Contact.objects.get(workspace=ws, external_id="003A").company.name == "Acme Corp"
    kinds = dict(Stage.objects.filter(pipeline__name="Salesforce", workspace=ws).values_list("name", "kind"))
    assert kinds["Closed Won"] == StageKind.WON and kinds["Closed Lost"] == StageKind.LOST
    assert kinds["Prospecting"] == StageKind.OPEN
    probability = Stage.objects.get(workspace=ws, pipeline__name="Salesforce", name="Proposal/Price Quote")
    assert probability.default_probability == 75

    history = DealHistory.objects.for_workspace(ws).count()
    again = run_import(workspace=ws, fmt="salesforce", path=tmp_path).as_dict()
    assert set(again["created"].values()) == {0} and set(again["updated"].values()) == {0}
    assert DealHistory.objects.for_workspace(ws).count() == history


def test_iso_times_are_utc_and_report_times_are_in_the_workspace_zone(personas, tmp_path):
    ws = personas.workspace
    ws.time_zone = "America/New_York"
    ws.save()
    run_import(workspace=ws, fmt="salesforce", path=_folder(tmp_path))
    won = Deal.objects.get(workspace=ws, external_id="006A")
    # Report-export times are New York times (EDT from March 10); ISO ones are already UTC.
    assert won.created_at == datetime(2024, 3, 1, 5, tzinfo=UTC)  # the date-only CreatedDate, midnight in New York
    stages = DealHistory.objects.filter(deal=won, field=TrackedField.STAGE).order_by("changed_at")
    assert [h.changed_at for h in stages] == [
        datetime(2024, 3, 1, 5, tzinfo=UTC),
        datetime(2024, 3, 10, 12, tzinfo=UTC),
        datetime(2024, 3, 20, 20, 30, tzinfo=UTC),
    ]
    assert Deal.objects.get(workspace=ws, external_id="006B").created_at == datetime(2024, 3, 5, 9, tzinfo=UTC)


def test_salesforce_bad_rows_refuse_the_folder(personas, tmp_path):
    ws = personas.workspace
    broken = OPPORTUNITY.replace("03/02/24,,005X,,FALSE\n006D", "31/31/24,,005X,,FALSE\n006D")
    report = run_import(workspace=ws, fmt="salesforce", path=_folder(tmp_path, **{"opportunity.csv": broken}))
    assert not report.written
    assert [(e.row, e.column) for e in report.errors] == [(4, "CreatedDate")]
    assert "31/31/24" in report.errors[0].message
    assert not Deal.objects.for_workspace(ws).exists() and not Company.objects.for_workspace(ws).exists()


def test_salesforce_needs_an_opportunity_file(personas, tmp_path):
    (tmp_path / "Account.csv").write_text(ACCOUNT, encoding="utf-8")
    report = run_import(workspace=personas.workspace, fmt="salesforce", path=tmp_path)
    assert "Opportunity.csv is missing" in report.errors[0].message


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("folder", "deals", "outcomes", "companies", "contacts", "members"),
    [
        ("earthfink1982-salesforce-in-powerbi", 36, {"won": 12, "lost": 8, "open": 16}, 18, 25, 0),
        ("elastic-dbt_duckdb", 31, {"won": 18, "lost": 0, "open": 13}, None, None, 1),
    ],
)
def test_salesforce_sample_folders(personas, shared_data, folder, deals, outcomes, companies, contacts, members):
    ws = personas.workspace
    path = shared_data / "salesforce-sample" / folder
    report = run_import(workspace=ws, fmt="salesforce", path=path).as_dict()
    assert report["errors"] == []
    assert report["created"]["deals"] == deals and report["deals_by_outcome"] == outcomes
    assert report["created"]["members"] == members
    if companies is not None:
        assert report["created"]["companies"] == companies and report["created"]["contacts"] == contacts
    # Every deal has its creation in history; closed deals carry an outcome change or were created closed.
    started = DealHistory.objects.for_workspace(ws).filter(field=TrackedField.STAGE, old_value__isnull=True)
    assert started.count() == deals
    assert Deal.objects.for_workspace(ws).filter(company__isnull=False).count() >= deals - 1
    again = run_import(workspace=ws, fmt="salesforce", path=path).as_dict()
    assert set(again["created"].values()) == {0} and again["updated"]["deals"] == 0
    assert Membership.objects.filter(workspace=ws, user__isnull=True).count() == members
