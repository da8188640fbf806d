"""A spreadsheet-shaped CSV imports with no mapping; without an amount or stage column it is refused before anything
is written; importing the same file twice creates nothing; rows are matched by content, never by file#row."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from crm.importers import run_import
from crm.importers.automap import auto_mapping
from crm.models import Company, Deal, DealHistory, ImportJob, ImportStatus, Outcome
from tenancy.models import Membership
from tests.factories import CompanyFactory, make_deal

SHEET = (
    "Deal,Company,Amount,Stage,Close date,Owner\n"
    'Data platform,Initech,"12,500",Proposal,2025-03-31,ann@initech.test\n'
    "Renewal,Globex Corp,3000,Closed Won,2025-01-15,Bob\n"
    "Pilot,Globex Corp,500,Closed Lost,2025-02-01,Bob\n"
)


def _write(tmp_path: Path, text: str, name: str = "deals.csv") -> Path:
    folder = tmp_path / str(len(list(tmp_path.iterdir())))
    folder.mkdir()
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _counts(ws) -> tuple[int, int, int, int]:
    return (
        Deal.all_objects.for_workspace(ws).count(),
        DealHistory.objects.for_workspace(ws).count(),
        Company.objects.for_workspace(ws).count(),
        Membership.objects.filter(workspace=ws).count(),
    )


def test_columns_are_recognised_by_name_whatever_their_case_spaces_or_underscores():
    mapping = auto_mapping(["deal_name", "ACCOUNT", "Deal Size", "status", "Expected-Close", "Rep Email", "Notes"])
    assert {k: mapping[k] for k in ("title", "company", "amount", "stage", "expected_close", "owner")} == {
        "title": "deal_name",
        "company": "ACCOUNT",
        "amount": "Deal Size",
        "stage": "status",
        "expected_close": "Expected-Close",
        "owner": "Rep Email",
    }
    assert mapping["description"] == "Notes" and mapping["required"] == ["amount", "stage"]
    assert "amount" not in auto_mapping(["Opportunity", "Account", "Stage"])


def test_spreadsheet_csv_imports_with_no_mapping_and_a_second_import_changes_nothing(personas, tmp_path):
    ws = personas.workspace
    report = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, SHEET)).as_dict()
    assert report["errors"] == [] and report["created"]["deals"] == 3 and report["created"]["companies"] == 2
    assert report["deals_by_outcome"] == {"won": 1, "lost": 1, "open": 1}
    platform = Deal.objects.get(workspace=ws, title="Data platform")
    assert platform.amount == Decimal("12500") and platform.stage.name == "Proposal"
    assert platform.company.name == "Initech" and platform.owner.email == "ann@initech.test"
    assert platform.expected_close_date == date(2025, 3, 31)
    assert platform.external_id.startswith("key:") and "#" not in platform.external_id
    assert Deal.objects.get(workspace=ws, title="Renewal").outcome == Outcome.WON
    assert Deal.objects.get(workspace=ws, title="Pilot").outcome == Outcome.LOST

    before = _counts(ws)
    again = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, SHEET)).as_dict()
    assert again["created"]["deals"] == 0 and again["updated"]["deals"] == 0 and again["unchanged"]["deals"] == 3
    assert _counts(ws) == before


def test_a_changed_value_updates_the_deal_instead_of_creating_another(personas, tmp_path):
    ws = personas.workspace
    run_import(workspace=ws, fmt="csv", path=_write(tmp_path, SHEET))
    changed = SHEET.replace('"12,500",Proposal', "15000,Negotiation")
    report = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, changed)).as_dict()
    assert report["created"]["deals"] == 0 and report["updated"]["deals"] == 1 and report["unchanged"]["deals"] == 2
    deal = Deal.objects.get(workspace=ws, title="Data platform")
    assert deal.amount == Decimal("15000") and deal.stage.name == "Negotiation"


def test_another_file_with_the_same_name_never_overwrites_deals_by_row_number(personas, tmp_path):
    ws = personas.workspace
    run_import(workspace=ws, fmt="csv", path=_write(tmp_path, SHEET))
    other = "Deal,Company,Amount,Stage\nWebsite,Hooli,900,Discovery\n"
    report = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, other)).as_dict()
    assert report["created"]["deals"] == 1 and report["updated"]["deals"] == 0
    # Row 2 of the first file is untouched.
    assert Deal.objects.get(workspace=ws, title="Data platform").amount == Decimal("12500")
    assert Deal.objects.for_workspace(ws).count() == 4


def test_deals_imported_under_file_and_row_are_taken_over_only_when_still_the_same_deal(personas, tmp_path):
    ws = personas.workspace
    initech = CompanyFactory(workspace=ws, name="Initech")
    same = make_deal(ws, title="Data platform", company=initech, amount=12500, external_id="deals.csv#2")
    other = make_deal(ws, title="Something else", amount=77, external_id="deals.csv#3")  # row 3 is Renewal now
    report = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, SHEET)).as_dict()
    assert report["created"]["deals"] == 2  # Renewal and Pilot; Data platform was already there
    same.refresh_from_db()
    other.refresh_from_db()
    assert same.external_id.startswith("key:data platform") and same.amount == Decimal("12500")
    assert (other.title, other.amount, other.external_id) == ("Something else", Decimal("77"), "deals.csv#3")
    assert Deal.objects.for_workspace(ws).count() == 4


def test_exact_copies_within_a_file_stay_distinct_and_stable(personas, tmp_path):
    ws = personas.workspace
    text = "Deal,Company,Amount,Stage\nSeats,Initech,100,Proposal\nSeats,Initech,100,Proposal\n"
    first = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, text)).as_dict()
    assert first["created"]["deals"] == 2
    ids = sorted(Deal.objects.for_workspace(ws).values_list("external_id", flat=True))
    assert ids[1] == f"{ids[0]} ~2"
    second = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, text)).as_dict()
    assert second["created"]["deals"] == 0 and second["unchanged"]["deals"] == 2


@pytest.mark.parametrize(
    ("header", "missing"),
    [("Deal,Company,Stage,Owner", "no amount column"), ("Deal,Company,Amount,Owner", "no stage")],
    ids=["no-amount", "no-stage"],
)
def test_a_file_without_amount_or_stage_is_refused_before_anything_is_written(personas, tmp_path, header, missing):
    ws = personas.workspace
    before = _counts(ws)
    row = {"Deal": "X", "Company": "Initech", "Stage": "Proposal", "Owner": "Bob", "Amount": "10"}
    text = header + "\n" + ",".join(row[c] for c in header.split(",")) + "\n"
    report = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, text))
    assert (
        not report.written and missing in report.errors[0].message and "nothing was written" in report.errors[0].message
    )
    assert _counts(ws) == before
    with pytest.raises(CommandError, match="1 problem; nothing was imported"):
        call_command("import_crm", str(_write(tmp_path, text)), workspace="acme", fmt="csv", stdout=StringIO())
    assert _counts(ws) == before


def test_import_command_with_no_mapping(personas, tmp_path):
    out = StringIO()
    call_command("import_crm", str(_write(tmp_path, SHEET)), workspace="acme", fmt="csv", json=True, stdout=out)
    data = json.loads(out.getvalue())
    assert data["created"]["deals"] == 3 and data["refused"] == 0
    assert any(line.startswith("columns recognised by name: title ← “Deal”") for line in data["reconciled"])
    out = StringIO()
    call_command("import_crm", str(_write(tmp_path, SHEET)), workspace="acme", fmt="csv", stdout=out)
    assert "unchanged: {'deals': 3" in out.getvalue()


# --- the web page ----------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path) -> Path:
    settings.UPLOADS_DIR = tmp_path / "uploads"
    return settings.UPLOADS_DIR


@pytest.fixture
def queued(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr("crm.importers.jobs.async_task", lambda func, *args, **kw: calls.append((func, args)))
    return calls


def _url(name: str, *args) -> str:
    return reverse(f"crm_data:{name}", args=["acme", *args])


def _run(queued: list[tuple]) -> None:
    from django.utils.module_loading import import_string

    while queued:
        func, args = queued.pop(0)
        import_string(func)(*args)


def _upload(client, text: str, name: str = "deals.csv") -> ImportJob:
    client.post(_url("import"), {"fmt": "csv", "file": SimpleUploadedFile(name, text.encode())})
    return ImportJob.objects.order_by("-created_at").first()


def test_web_import_maps_by_name_shows_identities_and_twice_creates_nothing(
    personas, queued, django_capture_on_commit_callbacks
):
    ws = personas.workspace
    CompanyFactory(workspace=ws, name="Globex Corporation")
    client = personas.client_for(personas.owner)
    job = _upload(client, SHEET)
    assert job.mapping["amount"] == "Amount" and job.mapping["stage"] == "Stage" and job.mapping["company"] == "Company"
    page = client.get(_url("import_job", job.uuid)).content.decode()
    assert '<option value="Amount" selected>Amount</option>' in page
    assert "a content key" in page and "key:data platform | initech" in page
    assert "company “Globex Corp” looks like the existing “Globex Corporation”" in page
    assert '<button type="submit">Start the import</button>' in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url("import_start", job.uuid), {})
    _run(queued)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.report["created"]["deals"] == 3
    done = client.get(_url("import_job", job.uuid)).content.decode()
    assert "<dt>Unchanged</dt><dd>0 deals" in done

    again = _upload(client, SHEET)
    page = client.get(_url("import_job", again.uuid)).content.decode()
    assert "updates the deal “Data platform”" in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url("import_start", again.uuid), {})
    _run(queued)
    again.refresh_from_db()
    assert again.report["created"]["deals"] == 0 and again.report["unchanged"]["deals"] == 3
    assert Deal.objects.for_workspace(ws).count() == 3


def test_web_import_without_amount_cannot_start(personas, queued, django_capture_on_commit_callbacks):
    client = personas.client_for(personas.owner)
    job = _upload(client, "Deal,Company,Stage\nX,Initech,Proposal\n")
    page = client.get(_url("import_job", job.uuid)).content.decode()
    assert "no amount column" in page and '<button type="submit" disabled>Start the import</button>' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("import_start", job.uuid), {}, follow=True)
    assert "Not started: no amount column" in response.content.decode()
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED and queued == []
    assert not Deal.objects.for_workspace(personas.workspace).exists()
    # Mapping the column on the page lets it start.
    client.post(_url("import_mapping", job.uuid), {"title": "Deal", "company": "Company", "stage": "Stage"})
    job.refresh_from_db()
    assert job.mapping["required"] == ["amount", "stage"]  # what a person maps is held to the same rule


@pytest.mark.parametrize(("errors", "heading"), [(1, "1 problem</h3>"), (2, "2 problems</h3>")])
def test_report_counts_problems_in_good_english(personas, errors, heading):
    rows = [{"row": n + 2, "column": "Amount", "message": "bad"} for n in range(errors)]
    report = {"created": {}, "updated": {}, "unchanged": {}, "errors": rows, "error_count": errors, "refused": errors}
    job = ImportJob.objects.create(
        workspace=personas.workspace, fmt="csv", path="x/d.csv", original_name="d.csv", status=ImportStatus.FAILED,
        report=report, created_by=personas.owner,
    )  # fmt: skip
    page = personas.client_for(personas.owner).get(_url("import_job", job.uuid)).content.decode()
    assert heading in page and f"<dt>Refused rows</dt><dd>{errors}</dd>" in page
