"""CSV import with a mapping: bad files change nothing, good rows land, re-import creates nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from crm.importers import run_import
from crm.models import Company, Deal, DealHistory, Outcome, Pipeline, Stage
from tenancy.models import Membership, Team

MAPPING = {
    "external_id": "Id",
    "title": "Name",
    "amount": "Amount",
    "stage": "Stage",
    "owner": "Owner",
    "company": "Account",
    "created": "Created",
    "closed": "Closed",
    "outcome": {"column": "Result", "won": ["Won"], "lost": ["Lost", "Dead"]},
    "attributes": ["Segment", "Seats"],
}
HEADER = "Id,Name,Amount,Stage,Owner,Account,Created,Closed,Result,Segment,Seats\n"
GOOD = (
    'A1,Renewal,"12,500.00",Negotiation,ann@acme.test,Initech,2024-01-10,,Open,Mid,40\n'
    "A2,Expansion,3000,Closed Won,Bob,Initech,01/15/24 09:30 AM,2024-03-01,Won,Enterprise,120\n"
    "A3,Pilot,500,Closed Lost,Bob,Globex Corp,2024-02-01,2024-02-20,Dead,SMB,n/a\n"
)


def _write(tmp_path: Path, text: str | bytes, name: str = "deals.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _snapshot(ws) -> tuple[int, ...]:
    return (
        Deal.objects.for_workspace(ws).count(),
        DealHistory.objects.for_workspace(ws).count(),
        Company.objects.for_workspace(ws).count(),
        Membership.objects.filter(workspace=ws).count(),
        Stage.objects.for_workspace(ws).count(),
        Pipeline.objects.for_workspace(ws).count(),
        Team.objects.filter(workspace=ws).count(),
    )


def test_mapped_csv_imports_deals_with_history_and_attributes(personas, tmp_path):
    ws = personas.workspace
    report = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, HEADER + GOOD), mapping=MAPPING)
    data = report.as_dict()
    assert data["errors"] == [] and data["created"]["deals"] == 3 and data["created"]["companies"] == 2
    assert data["deals_by_outcome"] == {"won": 1, "lost": 1, "open": 1}
    renewal = Deal.objects.get(workspace=ws, external_id="A1")
    assert renewal.amount == Decimal("12500.00") and renewal.stage.name == "Negotiation"
    assert renewal.attributes == {"Segment": "Mid", "Seats": 40}
    assert renewal.owner.email == "ann@acme.test" and renewal.owner.user is None
    expansion = Deal.objects.get(workspace=ws, external_id="A2")
    assert expansion.outcome == Outcome.WON and expansion.closed_at.date().isoformat() == "2024-03-01"
    assert expansion.created_at.hour == 9 and expansion.created_at.minute == 30
    assert DealHistory.objects.filter(deal=expansion, field="outcome", new_value="won").exists()
    pilot = Deal.objects.get(workspace=ws, external_id="A3")
    assert pilot.outcome == Outcome.LOST and pilot.attributes["Seats"] == "n/a"

    before = _snapshot(ws)
    again = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, HEADER + GOOD), mapping=MAPPING)
    assert again.as_dict()["created"]["deals"] == 0 and again.as_dict()["updated"]["deals"] == 0
    assert _snapshot(ws) == before


def test_changed_row_updates_the_deal_and_records_history(personas, tmp_path):
    ws = personas.workspace
    run_import(workspace=ws, fmt="csv", path=_write(tmp_path, HEADER + GOOD), mapping=MAPPING)
    first_written = Deal.objects.get(workspace=ws, external_id="A1").updated_at
    changed = GOOD.replace('"12,500.00"', "15000")
    report = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, HEADER + changed), mapping=MAPPING)
    assert report.as_dict()["updated"]["deals"] == 1 and report.as_dict()["created"]["deals"] == 0
    deal = Deal.objects.get(workspace=ws, external_id="A1")
    assert deal.amount == Decimal("15000")
    assert deal.updated_at > first_written  # "last changed" moves (the live re-forecast reads it)
    assert DealHistory.objects.filter(deal=deal, field="amount", old_value="12500", new_value="15000").exists()


@pytest.mark.parametrize(
    ("content", "mapping", "expected"),
    [
        (HEADER.replace(",Amount", ",Value") + GOOD, MAPPING, "“Amount” missing"),
        ((HEADER + GOOD.replace("Initech", "Société Générale")).encode("latin-1"), MAPPING, "not UTF-8 at byte"),
        (HEADER + GOOD.replace("2024-02-01", "31/31/2024"), MAPPING, "“31/31/2024” is not a date"),
        (HEADER + GOOD.replace("Pilot", '=HYPERLINK("http://x")'), MAPPING, "looks like a spreadsheet formula"),
        (HEADER + GOOD.replace("500", "five hundred"), MAPPING, "“five hundred” is not an amount"),
        (HEADER + GOOD.replace("A2", "A1"), MAPPING, "already used on row 2"),
        (HEADER + GOOD, {**MAPPING, "stage": 3}, "must be a column name"),
    ],
    ids=["missing-column", "latin-1", "broken-date", "formula", "bad-amount", "duplicate-id", "bad-mapping"],
)
def test_bad_file_is_refused_and_changes_nothing(personas, tmp_path, content, mapping, expected):
    ws = personas.workspace
    before = _snapshot(ws)
    report = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, content), mapping=mapping)
    messages = " | ".join(e.message for e in report.errors)
    assert expected in messages
    assert not report.written and report.as_dict()["created"]["deals"] == 0
    assert _snapshot(ws) == before


def test_latin1_message_names_the_byte_and_the_encoding(personas, tmp_path):
    content = "Id,Name\nA1,Café\n".encode("latin-1")
    report = run_import(workspace=personas.workspace, fmt="csv", path=_write(tmp_path, content), mapping={})
    assert report.errors[0].message.endswith(
        "not UTF-8 at byte 14 (looks like Latin-1 / Windows-1252); save it as UTF-8 and try again"
    )


def test_latin1_accepted_when_the_mapping_says_so(personas, tmp_path):
    content = "Id,Name\nA1,Café\n".encode("latin-1")
    mapping = {"external_id": "Id", "title": "Name", "encoding": "latin-1"}
    report = run_import(workspace=personas.workspace, fmt="csv", path=_write(tmp_path, content), mapping=mapping)
    assert report.written and Deal.objects.get(workspace=personas.workspace, external_id="A1").title == "Café"


def test_skip_invalid_imports_good_rows_and_reports_bad_ones(personas, tmp_path):
    ws = personas.workspace
    text = HEADER + GOOD.replace("2024-02-01", "yesterday")
    report = run_import(workspace=ws, fmt="csv", path=_write(tmp_path, text), mapping=MAPPING, skip_invalid=True)
    data = report.as_dict()
    assert data["skipped"] == 1 and data["created"]["deals"] == 2
    assert data["errors"] == [
        {
            "row": 4,
            "column": "Created",
            "message": "“yesterday” is not a date (use e.g. 2024-03-31 or 03/31/24)",
            "file": "deals.csv",
        }
    ]
    assert set(Deal.objects.for_workspace(ws).values_list("external_id", flat=True)) == {"A1", "A2"}


def test_dry_run_reports_the_same_and_writes_nothing(personas, tmp_path):
    ws = personas.workspace
    before = _snapshot(ws)
    path = _write(tmp_path, HEADER + GOOD)
    dry = run_import(workspace=ws, fmt="csv", path=path, mapping=MAPPING, dry_run=True).as_dict()
    assert _snapshot(ws) == before
    real = run_import(workspace=ws, fmt="csv", path=path, mapping=MAPPING).as_dict()
    for key in ("created", "updated", "deals_by_outcome", "skipped", "errors"):
        assert dry[key] == real[key]
    assert real["created"]["deals"] == 3


def test_delimiter_is_sniffed_and_numbers_become_numbers(personas, tmp_path):
    text = "ref;title;score;ratio\nX-1;Deal one;7;0.25\n"
    mapping = {"external_id": "ref", "title": "title", "attributes": ["score", "ratio"]}
    report = run_import(workspace=personas.workspace, fmt="csv", path=_write(tmp_path, text), mapping=mapping)
    assert report.written
    deal = Deal.objects.get(workspace=personas.workspace, external_id="X-1")
    assert deal.attributes == {"score": 7, "ratio": 0.25, "undated": True}


def test_command_prints_json_report(personas, tmp_path):
    out = StringIO()
    path = _write(tmp_path, HEADER + GOOD)
    mapping_file = tmp_path / "mapping.json"
    mapping_file.write_text(json.dumps(MAPPING))
    call_command("import_crm", str(path), workspace="acme", fmt="csv", mapping=str(mapping_file), json=True, stdout=out)
    data = json.loads(out.getvalue())
    assert data["created"]["deals"] == 3 and set(data) >= {
        "created",
        "updated",
        "skipped",
        "errors",
        "deals_by_outcome",
    }


@pytest.mark.shared_data
def test_salvirt_imports_with_its_preset(personas, shared_data):
    from crm.management.commands.import_crm import load_mapping

    path = shared_data / "salvirt-b2b" / "Salvirt_B2B_ML_dataset.csv"
    report = run_import(workspace=personas.workspace, fmt="csv", path=path, mapping=load_mapping("salvirt-b2b"))
    data = report.as_dict()
    assert data["created"]["deals"] == 448 and data["errors"] == []
    assert data["deals_by_outcome"]["open"] == 0
    assert any(line.startswith("83 rows are exact copies") for line in data["reconciled"])
    # Identities are content keys (the n-th exact copy ends in ~n), never "<file name>#<row>".
    keys = list(Deal.objects.for_workspace(personas.workspace).order_by("id").values_list("external_id", flat=True))
    assert len(set(keys)) == 448 and all(k.startswith("key:") and "#" not in k for k in keys)
    deal = Deal.objects.get(workspace=personas.workspace, external_id=keys[0])
    assert len([k for k in deal.attributes if k != "undated"]) == 22 and deal.attributes["undated"] is True


def test_unreadable_csv_line_is_a_clear_refusal(personas, tmp_path):
    huge = "x" * 200_000  # over the csv module's field limit
    path = _write(tmp_path, HEADER + GOOD + f'A9,"{huge}",1,S,O,C,2024-01-01,,Open,M,1\n')
    report = run_import(workspace=personas.workspace, fmt="csv", path=path, mapping=MAPPING)
    assert not report.written and report.errors[0].row == 5
    assert (
        "cannot read line 5" in report.errors[0].message and "field larger than field limit" in report.errors[0].message
    )
    assert not Deal.objects.for_workspace(personas.workspace).exists()
