"""`import_accounts`: all or nothing with problems named by file, row and column; re-imports change nothing."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from crm.models import Company
from customers.importing import RAVENSTACK_FILES, run_account_import
from customers.models import ChurnEvent, Customer, Subscription, SupportTicket, UsageRecord
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db
MAPPING = {
    "delimiter": ";",
    "external_id": "id",
    "name": "name",
    "churned": {"column": "left", "yes": ["Yes"], "no": ["No"]},
    "attributes": ["plan", "seats", "spend"],
}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(["id;name;left;plan;seats;spend", *lines]) + "\n", encoding="utf-8")
    return path


def test_a_bad_cell_refuses_the_whole_file_naming_row_and_column(tmp_path):
    workspace = WorkspaceFactory()
    path = _write(tmp_path, ["c1;Acme;No;pro;10;100.5", "c2;Beta;Maybe;basic;3;20", "c3;=HYPERLINK();Yes;pro;4;1"])
    report = run_account_import(workspace=workspace, fmt="csv", path=path, mapping=MAPPING)
    problems = {(e.row, e.column) for e in report.errors}
    assert problems == {(3, "left"), (4, "name")}
    assert "Maybe" in report.errors[0].message
    assert not report.written
    assert Customer.objects.for_workspace(workspace).count() == 0
    assert Company.objects.for_workspace(workspace).count() == 0


def test_skip_invalid_imports_the_good_rows_only(tmp_path):
    workspace = WorkspaceFactory()
    path = _write(tmp_path, ["c1;Acme;No;pro;10;100.5", "c2;Beta;Maybe;basic;3;20", "c3;Gamma;Yes;basic;4;"])
    report = run_account_import(workspace=workspace, fmt="csv", path=path, mapping=MAPPING, skip_invalid=True)
    assert report.written and report.skipped == 1
    customers = {c.external_id: c for c in Customer.objects.for_workspace(workspace)}
    assert set(customers) == {"c1", "c3"}
    assert customers["c1"].attributes == {"plan": "pro", "seats": 10, "spend": 100.5}
    assert customers["c1"].churned is False and customers["c3"].churned is True
    assert customers["c1"].company.name == "Acme"


def test_reimport_is_idempotent_and_a_changed_row_is_an_update(tmp_path):
    workspace = WorkspaceFactory()
    path = _write(tmp_path, ["c1;Acme;No;pro;10;100", "c2;Beta;Yes;basic;3;20"])
    first = run_account_import(workspace=workspace, fmt="csv", path=path, mapping=MAPPING)
    assert first.created["customers"] == 2 and first.created["companies"] == 2
    again = run_account_import(workspace=workspace, fmt="csv", path=path, mapping=MAPPING)
    assert sum(again.created.values()) == 0 and sum(again.updated.values()) == 0
    _write(tmp_path, ["c1;Acme;Yes;pro;10;100", "c2;Beta;Yes;basic;3;20"])
    changed = run_account_import(workspace=workspace, fmt="csv", path=path, mapping=MAPPING)
    assert changed.updated["customers"] == 1 and sum(changed.created.values()) == 0
    assert Customer.objects.get(workspace=workspace, external_id="c1").churned is True
    assert Customer.objects.for_workspace(workspace).count() == 2


def test_without_an_id_column_the_row_number_is_the_key_and_dry_run_writes_nothing(tmp_path):
    workspace = WorkspaceFactory()
    path = _write(tmp_path, ["c1;Acme;No;pro;10;100", "c2;Beta;Yes;basic;3;20"])
    mapping = {k: v for k, v in MAPPING.items() if k != "external_id"}
    dry = run_account_import(workspace=workspace, fmt="csv", path=path, mapping=mapping, dry_run=True)
    assert dry.created["customers"] == 2 and not dry.written
    assert Customer.objects.for_workspace(workspace).count() == 0
    run_account_import(workspace=workspace, fmt="csv", path=path, mapping=mapping)
    keys = set(Customer.objects.for_workspace(workspace).values_list("external_id", flat=True))
    assert keys == {"customers.csv#2", "customers.csv#3"}


def test_command_json_and_a_bad_mapping(tmp_path, personas):
    path = _write(tmp_path, ["c1;Acme;No;pro;10;100"])
    mapping_file = tmp_path / "m.json"
    mapping_file.write_text(json.dumps({**MAPPING, "colour": "x"}))
    out = StringIO()
    with pytest.raises(CommandError, match="1 problems"):
        call_command(
            "import_accounts", str(path), workspace="acme", fmt="csv", mapping=str(mapping_file), json=True, stdout=out
        )
    assert "unknown mapping keys: colour" in json.loads(out.getvalue())["errors"][0]["message"]
    mapping_file.write_text(json.dumps(MAPPING))
    out = StringIO()
    call_command(
        "import_accounts", str(path), workspace="acme", fmt="csv", mapping=str(mapping_file), json=True, stdout=out
    )
    assert json.loads(out.getvalue())["created"]["customers"] == 1


def _ravenstack(folder: Path, *, bad_account: bool = False) -> Path:
    folder.mkdir()
    files = {
        "accounts": "account_id,account_name,industry,country,signup_date,referral_source,plan_tier,seats,is_trial,"
        "churn_flag\n"
        "A-1,Company_1,EdTech,US,2023-01-10,partner,Pro,10,FALSE,FALSE\n",
        "subscriptions": "subscription_id,account_id,start_date,end_date,plan_tier,seats,mrr_amount,arr_amount,"
        "is_trial,"
        "upgrade_flag,downgrade_flag,churn_flag,billing_frequency,auto_renew_flag\n"
        f"S-1,{'A-9' if bad_account else 'A-1'},2023-02-01,,Pro,10,500,6000,FALSE,FALSE,FALSE,FALSE,annual,TRUE\n",
        "usage": "usage_id,subscription_id,usage_date,feature_name,usage_count,usage_duration_secs,error_count,"
        "is_beta_feature\n"
        "U-1,S-1,2023-03-01,feature_1,5,100,0,False\n",
        "tickets": "ticket_id,account_id,submitted_at,closed_at,resolution_time_hours,priority,"
        "first_response_time_minutes,"
        "satisfaction_score,escalation_flag\nT-1,A-1,2023-04-01,2023-04-02 3:00,27,high,60,4,FALSE\n",
        "churn_events": "churn_event_id,account_id,churn_date,reason_code,refund_amount_usd,preceding_upgrade_flag,"
        "preceding_downgrade_flag,is_reactivation,feedback_text\n",
    }
    for key, text in files.items():
        (folder / RAVENSTACK_FILES[key]).write_text(text, encoding="utf-8")
    return folder


def test_ravenstack_unknown_account_is_named_with_its_file(tmp_path):
    workspace = WorkspaceFactory()
    report = run_account_import(
        workspace=workspace, fmt="ravenstack", path=_ravenstack(tmp_path / "r", bad_account=True)
    )
    assert [(e.file, e.row, e.column) for e in report.errors] == [
        ("ravenstack_subscriptions.csv", 2, "account_id"),
        ("ravenstack_feature_usage.csv", 2, "subscription_id"),
    ]
    assert Customer.objects.for_workspace(workspace).count() == 0


def test_ravenstack_small_folder_imports_every_kind(tmp_path):
    workspace = WorkspaceFactory()
    report = run_account_import(workspace=workspace, fmt="ravenstack", path=_ravenstack(tmp_path / "r"))
    assert report.written, report.errors
    sub = Subscription.objects.get(workspace=workspace)
    assert (sub.plan, sub.seats, float(sub.arr), sub.billing_period, sub.auto_renew) == (
        "Pro",
        10,
        6000.0,
        "annual",
        True,
    )
    assert UsageRecord.objects.get(workspace=workspace).subscription == sub
    assert SupportTicket.objects.get(workspace=workspace).priority == "high"


def test_ravenstack_folder_imports_and_reimports_to_nothing(shared_data):
    workspace = WorkspaceFactory()
    folder = shared_data / "ravenstack-saas-churn"
    report = run_account_import(workspace=workspace, fmt="ravenstack", path=folder)
    assert report.written, report.errors[:5]
    assert report.created == {
        "companies": 500, "customers": 500, "subscriptions": 5000, "usage": 25000, "tickets": 2000, "churn_events": 600,
    }  # fmt: skip
    assert ChurnEvent.objects.for_workspace(workspace).count() == 600
    again = run_account_import(workspace=workspace, fmt="ravenstack", path=folder)
    assert sum(again.created.values()) == 0 and sum(again.updated.values()) == 0
