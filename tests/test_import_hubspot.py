"""HubSpot exports: deals with companies and contacts from the documented columns."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from crm.importers import run_import
from crm.models import Company, Contact, Deal, DealHistory, Outcome, Stage, StageKind, TrackedField

DEALS = (
    '"Record ID","Deal Name","Deal Stage","Pipeline","Amount","Close Date","Create Date","Deal owner",'
    '"Associated Company","Associated Company IDs","Deal probability","Closed Lost Reason","Associated Contact IDs"\n'
    '"9001","Initech renewal","Contract Sent","Sales Pipeline","12500","2024-07-31","2024-05-02 09:15","Ann Lee",'
    '"Initech","301","0.9","","501"\n'
    '"9002","Globex expansion","closedwon","Sales Pipeline","48,000.00","2024-06-14 16:00","2024-04-01 11:00",'
    '"Ann Lee","Globex","302","1","","501;502"\n'
    '"9003","Hooli pilot","Closed lost","Sales Pipeline","3000","2024-05-20","2024-05-01","bob@corp.test",'
    '"Hooli","","0","Went with a competitor",""\n'
    '"9004","Umbrella intro","appointmentscheduled","Sales Pipeline","","","2024-06-01","",""," ","0.2","",""\n'
)
COMPANIES = (
    "Record ID,Company name,Company Domain Name,Industry,Number of Employees,Annual Revenue\n"
    "301,Initech,initech.test,COMPUTER_SOFTWARE,250,12000000\n"
    "302,Globex,globex.test,UTILITIES,1200,\n"
)
CONTACTS = (
    "Record ID,First Name,Last Name,Email,Phone Number,Job Title,Associated Company ID\n"
    "501,Peter,Gibbons,peter@initech.test,+1 555 0100,Engineer,301\n"
    "502,Hank,Scorpio,hank@globex.test,,CEO,302\n"
)


def _folder(tmp_path: Path, deals: str = DEALS) -> Path:
    (tmp_path / "deals.csv").write_text(deals, encoding="utf-8")
    (tmp_path / "companies.csv").write_text(COMPANIES, encoding="utf-8")
    (tmp_path / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    return tmp_path


def test_hubspot_folder_imports_deals_companies_contacts(personas, tmp_path):
    ws = personas.workspace
    report = run_import(workspace=ws, fmt="hubspot", path=_folder(tmp_path)).as_dict()
    assert report["errors"] == []
    assert report["created"]["deals"] == 4 and report["created"]["contacts"] == 2
    assert report["created"]["companies"] == 3  # Initech, Globex, and Hooli by name only
    assert report["created"]["members"] == 2
    assert report["deals_by_outcome"] == {"won": 1, "lost": 1, "open": 2}

    renewal = Deal.objects.get(workspace=ws, external_id="hubspot-deal:9001")
    assert renewal.stage.name == "Contract Sent" and renewal.probability == Decimal("90")
    assert renewal.expected_close_date == date(2024, 7, 31) and renewal.company.domain == "initech.test"
    assert renewal.owner.display_name == "Ann Lee" and renewal.owner.user is None
    assert renewal.attributes == {"hubspot_pipeline": "Sales Pipeline"}
    assert list(renewal.contacts.values_list("last_name", flat=True)) == ["Gibbons"]
    won = Deal.objects.get(workspace=ws, external_id="hubspot-deal:9002")
    assert won.outcome == Outcome.WON and won.amount == Decimal("48000.00") and won.stage.name == "Closed Won"
    assert won.created_at == datetime(2024, 4, 1, 11, tzinfo=UTC)
    assert won.closed_at == datetime(2024, 6, 14, 16, tzinfo=UTC)
    assert DealHistory.objects.filter(deal=won, field=TrackedField.OUTCOME, new_value="won").exists()
    assert won.contacts.count() == 2
    lost = Deal.objects.get(workspace=ws, external_id="hubspot-deal:9003")
    assert lost.outcome == Outcome.LOST and lost.lost_reason == "Went with a competitor"
    assert lost.owner.email == "bob@corp.test" and lost.company.name == "Hooli"
    intro = Deal.objects.get(workspace=ws, external_id="hubspot-deal:9004")
    assert intro.stage.name == "Appointment Scheduled" and intro.amount == 0 and intro.company is None
    assert Contact.objects.get(workspace=ws, external_id="hubspot-contact:502").company.name == "Globex"
    assert Company.objects.get(workspace=ws, external_id="hubspot-company:301").employees == 250
    stages = list(Stage.objects.filter(workspace=ws, pipeline__name="HubSpot").values_list("name", "kind"))
    assert stages[0] == ("Appointment Scheduled", StageKind.OPEN)
    assert stages[-2:] == [("Closed Won", StageKind.WON), ("Closed Lost", StageKind.LOST)]

    again = run_import(workspace=ws, fmt="hubspot", path=tmp_path).as_dict()
    assert set(again["created"].values()) == {0} and again["updated"]["deals"] == 0


def test_hubspot_single_deals_file_with_bad_cells_is_refused(personas, tmp_path):
    ws = personas.workspace
    bad = DEALS.replace('"2024-05-01","bob@corp.test"', '"yesterday","bob@corp.test"').replace(
        '"Umbrella intro"', '"=HYPERLINK(1)"'
    )
    path = tmp_path / "hubspot-deals-export.csv"
    path.write_text(bad, encoding="utf-8")
    report = run_import(workspace=ws, fmt="hubspot", path=path)
    assert not report.written
    assert [(e.row, e.column) for e in report.errors] == [(4, "Create Date"), (5, "Deal Name")]
    assert not Deal.objects.for_workspace(ws).exists()


def test_hubspot_missing_columns_are_named(personas, tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text("Record ID,Deal Name,Amount\n1,A,10\n", encoding="utf-8")
    report = run_import(workspace=personas.workspace, fmt="hubspot", path=path)
    assert "“Deal Stage”" in report.errors[0].message and "“Create Date”" in report.errors[0].message


def test_hubspot_folder_with_export_file_names(personas, tmp_path):
    (tmp_path / "hubspot-crm-exports-all-deals-2024-07-01.csv").write_text(DEALS, encoding="utf-8")
    (tmp_path / "hubspot-crm-exports-all-companies-2024-07-01.csv").write_text(COMPANIES, encoding="utf-8")
    (tmp_path / "hubspot-crm-exports-all-contacts-2024-07-01.csv").write_text(CONTACTS, encoding="utf-8")
    report = run_import(workspace=personas.workspace, fmt="hubspot", path=tmp_path).as_dict()
    assert report["errors"] == [] and report["created"]["deals"] == 4
    assert report["created"]["contacts"] == 2 and report["created"]["companies"] == 3
