"""Two-way sync with Salesforce, against a fake org on 127.0.0.1 (tests/fakecrm/salesforce.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection as dbconn

from crm.models import ChangeSource, Company, Contact, Deal, DealHistory, Stage
from crm.services import deal_update
from sync.models import ConnectionStatus, CrmConnection, PushOutbox, SyncConflict, SyncRun
from sync.services import pushes_queue
from tests.factories import WorkspaceFactory
from tests.fakecrm.salesforce import FakeSalesforce, seed_from_export, seed_synthetic
from tests.fakecrm.server import Running

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake_sf(settings):
    settings.SYNC_BACKOFF_SCALE = 0.01  # real waits, a hundredth as long
    fake = FakeSalesforce()
    server = Running(fake)
    fake.instance_url = server.url
    yield fake, server.url
    server.stop()


def _connect(slug: str, url: str) -> CrmConnection:
    call_command(
        "connect_crm", "--workspace", slug, "--provider", "salesforce", "--base-url", url,
        "--client-id", "cid", "--client-secret", "csecret", "--refresh-token", "refresh-1", stdout=StringIO(),
    )  # fmt: skip
    return CrmConnection.objects.get(workspace__slug=slug)


def _sync(slug: str, *extra: str) -> dict:
    out = StringIO()
    call_command("sync_crm", "--workspace", slug, "--json", *extra, stdout=out)
    return json.loads(out.getvalue())


def test_backfill_survives_expiry_and_rate_limit_then_pulls_only_changes(db, fake_sf, capsys):
    fake, url = fake_sf
    seed_synthetic(fake, opportunities=3000)
    ws = WorkspaceFactory(slug="sf", time_zone="UTC")
    conn = _connect("sf", url)
    assert conn.instance_url == url and conn.access_token  # the token endpoint's answer
    with dbconn.cursor() as cursor:
        cursor.execute("SELECT refresh_token, client_secret FROM sync_crmconnection WHERE id = %s", [conn.pk])
        stored = cursor.fetchone()
    assert "refresh-1" not in stored[0] and "csecret" not in stored[1]  # encrypted at rest
    fake.expire_tokens_at_query = 12  # mid-backfill: the session ends (401 INVALID_SESSION_ID)
    fake.limit_at_query = {20}  # and the org's API limit answers once (403 REQUEST_LIMIT_EXCEEDED)
    started = time.perf_counter()
    counts = _sync("sf", "--full")
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nSalesforce backfill: 3000 opportunities in {seconds:.1f} s ({3000 / seconds:.0f} records/s)")
    assert set(counts) == {"pulled", "pushed", "deleted", "conflicts", "errors", "seconds"}
    assert counts["pulled"]["deals"] == 3000
    assert counts["pulled"]["companies"] == 300 and counts["pulled"]["contacts"] == 300
    assert counts["pulled"]["members"] == 20
    assert fake.limit_at_query == set()  # the 403 was answered
    assert counts["errors"] == 0 and fake.token_grants == 2  # connect, then one refresh after the 401
    assert Deal.objects.filter(workspace=ws).count() == 3000
    assert Company.objects.filter(workspace=ws).count() == 300 and Contact.objects.filter(workspace=ws).count() == 300
    history_rows = len(fake.tables["OpportunityHistory"])
    assert counts["pulled"]["history"] >= history_rows  # every stage step, plus each deal's creation rows
    deal = Deal.objects.select_related("stage", "owner", "company").get(workspace=ws, external_id=f"006{10:015d}")
    upstream = fake.find("Opportunity", deal.external_id)
    assert deal.stage.name == upstream["StageName"] and deal.amount == Decimal(str(upstream["Amount"]))
    assert deal.owner.display_name == "Rep 10" and deal.company.name == "Account 10"
    stages = list(
        DealHistory.objects.filter(deal=deal, field="stage").order_by("changed_at").values_list("new_value", flat=True)
    )
    assert len(stages) == len([h for h in fake.tables["OpportunityHistory"] if h["OpportunityId"] == deal.external_id])

    again = _sync("sf")
    assert again["pulled"] == dict.fromkeys(("deals", "companies", "contacts", "members", "history"), 0)

    fake.modify("Opportunity", deal.external_id, {"Amount": 98765.0, "NextStep": "send contract"})
    third = _sync("sf")
    assert third["pulled"]["deals"] == 1
    deal.refresh_from_db()
    assert deal.amount == Decimal("98765") and deal.next_step == "send contract"
    assert DealHistory.objects.filter(
        deal=deal, field="amount", source=ChangeSource.SYNC, new_value="98765.00"
    ).exists() or DealHistory.objects.filter(deal=deal, field="amount").order_by(
        "-changed_at"
    ).first().new_value.startswith("98765")

    fake.delete("Opportunity", f"006{11:015d}")
    assert _sync("sf")["deleted"]["deals"] == 1
    assert not Deal.objects.filter(workspace=ws, external_id=f"006{11:015d}").exists()


@pytest.fixture
def small_org(db, fake_sf):
    fake, url = fake_sf
    seed_synthetic(fake, opportunities=30, accounts=10, users=3)
    ws = WorkspaceFactory(slug="small", time_zone="UTC")
    conn = _connect("small", url)
    _sync("small", "--full")
    return fake, ws, conn


def test_a_stage_changed_in_vectoros_reaches_salesforce_once(small_org):
    fake, ws, _conn = small_org
    deal = Deal.objects.select_related("stage").get(workspace=ws, external_id=f"006{1:015d}")
    negotiation = deal.pipeline.stages.get(name="Negotiation/Review")
    deal_update(deal=deal, actor=None, changes={"stage": negotiation, "next_step": "pricing call"})
    pushes_queue(workspace_id=ws.id, deal_ids=[deal.id])
    pushes_queue(workspace_id=ws.id, deal_ids=[deal.id])  # the handler may run twice: still one push
    counts = _sync("small")
    assert counts["pushed"]["deals"] == 1
    assert fake.patches == [(deal.external_id, {"StageName": "Negotiation/Review", "NextStep": "pricing call"})]
    assert fake.find("Opportunity", deal.external_id)["StageName"] == "Negotiation/Review"
    before = set(DealHistory.objects.filter(deal=deal).values_list("id", flat=True))
    again = _sync("small")  # the echo of our own change is no change
    # Salesforce moved the probability to the new stage's default: that comes back; our change is not sent again.
    assert again["pushed"]["deals"] == 0 and len(fake.patches) == 1
    assert set(DealHistory.objects.filter(deal=deal).exclude(id__in=before).values_list("field", flat=True)) <= {
        "probability",
        "forecast_category",
    }
    deal.refresh_from_db()
    assert deal.stage_id == negotiation.id and deal.probability == Decimal("90")
    pushes_queue(workspace_id=ws.id, deal_ids=[deal.id])
    assert PushOutbox.objects.filter(status="pending").count() == 0


def test_a_field_changed_on_both_sides_is_a_conflict_the_crm_wins(small_org):
    fake, ws, _conn = small_org
    deal = Deal.objects.get(workspace=ws, external_id=f"006{2:015d}")
    deal_update(deal=deal, actor=None, changes={"amount": Decimal("111")})
    pushes_queue(workspace_id=ws.id, deal_ids=[deal.id])
    fake.modify("Opportunity", deal.external_id, {"Amount": 222.0})
    counts = _sync("small")
    assert counts["conflicts"] == 1 and counts["pushed"]["deals"] == 0 and fake.patches == []
    deal.refresh_from_db()
    assert deal.amount == Decimal("222")
    amounts = [
        DealHistory.objects.filter(deal=deal, field="amount")
        .order_by("changed_at", "id")
        .values_list("new_value", flat=True)
    ]
    assert "111" in str(list(amounts[0]))  # the losing value stays in the deal's history
    conflict = SyncConflict.objects.get(deal=deal)
    assert (conflict.field, conflict.crm_value, conflict.local_value, conflict.winner) == (
        "amount",
        "222.00",
        "111.00",
        "crm_wins",
    )


def test_a_revoked_refresh_token_breaks_the_connection_and_stops_retries(small_org):
    fake, _ws, conn = small_org
    fake.access_tokens.clear()
    fake.refresh_tokens.clear()
    counts = _sync("small")
    assert counts["errors"] == 1
    conn.refresh_from_db()
    assert conn.status == ConnectionStatus.BROKEN and "invalid_grant" in conn.last_error
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="broken"):
        _sync("small")


def test_a_worker_killed_mid_sync_resumes_without_duplicates(transactional_db, fake_sf):
    fake, url = fake_sf
    seed_synthetic(fake, opportunities=6000, accounts=50, users=5)
    ws = WorkspaceFactory(slug="killed", time_zone="UTC")
    conn = _connect("killed", url)
    script = (
        "import os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'vectoros.settings_test')\n"
        "from django.conf import settings\n"
        "settings.DATABASES['default']['NAME'] = sys.argv[1]\n"
        "django.setup()\n"
        "from sync.engine import run_sync\nfrom sync.models import CrmConnection\n"
        "run_sync(connection=CrmConnection.objects.select_related('workspace').get(pk=int(sys.argv[2])), full=True)\n"
    )
    worker = subprocess.Popen(  # noqa: S603  # our own interpreter and script
        [sys.executable, "-c", script, dbconn.settings_dict["NAME"], str(conn.pk)], cwd=ROOT, env=os.environ.copy()
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and Deal.objects.filter(workspace=ws).count() < 2000:
        assert worker.poll() is None, "the worker ended before it could be killed"
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    written = Deal.objects.filter(workspace=ws).count()
    assert 2000 <= written < 6000
    run = SyncRun.objects.get(connection=conn)
    assert run.status == "running"  # the killed run, to be taken over
    counts = _sync("killed")
    assert Deal.objects.filter(workspace=ws).count() == 6000
    assert counts["pulled"]["deals"] == 6000  # the killed run's pages plus the rest, none twice
    assert SyncRun.objects.filter(connection=conn).count() == 1
    assert DealHistory.objects.filter(deal__workspace=ws, field="amount", old_value__isnull=True).count() == 6000


@pytest.mark.parametrize("folder", ["earthfink1982-salesforce-in-powerbi", "elastic-dbt_duckdb"])
def test_a_backtest_on_synced_data_equals_one_on_the_same_data_imported(db, fake_sf, shared_data, folder):
    fake, url = fake_sf
    path = shared_data / "salesforce-sample" / folder
    seed_from_export(fake, path)
    imported = WorkspaceFactory(slug="imported", time_zone="UTC")
    call_command("import_crm", "--workspace", "imported", "--format", "salesforce", str(path), stdout=StringIO())
    synced = WorkspaceFactory(slug="synced", time_zone="UTC")
    _connect("synced", url)
    _sync("synced", "--full")

    def figures(slug: str) -> dict:
        out = StringIO()
        call_command("backtest_rolling", "--workspace", slug, "--json", "--sims", "300", stdout=out)
        found = json.loads(out.getvalue())
        found.pop("workspace")
        return found

    def states(ws) -> list:
        return sorted(
            Deal.objects.filter(workspace=ws).values_list(
                "external_id",
                "stage__name",
                "amount",
                "expected_close_date",
                "outcome",
                "created_at",
                "owner__external_id",
            )
        )

    assert states(imported) == states(synced)
    history = lambda ws: sorted(  # noqa: E731  # a local shorthand
        DealHistory.objects.filter(deal__workspace=ws)
        .exclude(field__in=["stage", "owner"])
        .values_list("deal__external_id", "field", "old_value", "new_value", "changed_at"),
        key=repr,
    )
    assert history(imported) == history(synced)
    assert figures("imported") == figures("synced")


def test_custom_fields_map_to_attributes_and_a_bad_record_is_retried(small_org):
    fake, ws, conn = small_org
    conn.field_mapping = {"attributes": {"Region__c": "region"}}
    conn.save()
    good, bad = f"006{3:015d}", f"006{4:015d}"
    fake.modify("Opportunity", good, {"Region__c": "EMEA"})
    fake.modify("Opportunity", bad, {"Probability": 150.0, "Region__c": "APAC"})  # refused by the reader
    counts = _sync("small")
    assert counts["errors"] == 1
    assert Deal.objects.get(workspace=ws, external_id=good).attributes["region"] == "EMEA"
    assert "region" not in Deal.objects.get(workspace=ws, external_id=bad).attributes
    # Fixed upstream without a new stamp (say, a formula field): the retry list still brings it in.
    fake.find("Opportunity", bad)["Probability"] = 40.0
    again = _sync("small")
    assert again["errors"] == 0 and again["pulled"]["deals"] == 1
    assert Deal.objects.get(workspace=ws, external_id=bad).attributes["region"] == "APAC"


def test_connect_salesforce_through_the_oauth_web_flow(personas, fake_sf, settings):
    import httpx

    fake, url = fake_sf
    seed_synthetic(fake, opportunities=3, accounts=1, users=1)
    settings.SYNC_SALESFORCE_CLIENT_ID, settings.SYNC_SALESFORCE_CLIENT_SECRET = "cid", "csecret"
    settings.SITE_URL = "http://testserver"
    ws = personas.workspace
    owner = personas.client_for(personas.owner)
    assert "Connect Salesforce" in owner.get(f"/w/{ws.slug}/settings/crm-sync/").content.decode()
    start = owner.post(f"/w/{ws.slug}/settings/crm-sync/connect/salesforce/", {"base_url": url})
    assert start.status_code == 302 and start["Location"].startswith(f"{url}/services/oauth2/authorize?")
    consent = httpx.get(start["Location"], follow_redirects=False)  # the admin approves at Salesforce
    back = consent.headers["Location"]
    assert back.startswith("http://testserver/sync/oauth/callback/?")
    # Someone else's browser cannot finish it.
    assert personas.client_for(personas.viewer).get(back.removeprefix("http://testserver")).status_code == 400
    done = owner.get(back.removeprefix("http://testserver"))
    assert done.status_code == 302 and done["Location"] == f"/w/{ws.slug}/settings/crm-sync/"
    conn = CrmConnection.objects.get(workspace=ws)
    assert conn.provider == "salesforce" and conn.instance_url == url and conn.refresh_token in fake.refresh_tokens
    assert owner.get(back.removeprefix("http://testserver")).status_code == 400  # the state is used up


def test_connect_hubspot_from_the_settings_page_refuses_a_bad_token(personas):
    ws = personas.workspace
    owner = personas.client_for(personas.owner)
    page = owner.post(
        f"/w/{ws.slug}/settings/crm-sync/",
        {"action": "connect", "provider": "hubspot", "base_url": "http://127.0.0.1:9", "access_token": "x"},
    )
    assert page.status_code == 422 and "refused the connection" in page.content.decode()
    assert not CrmConnection.objects.filter(workspace=ws).exists()
    assert (
        personas.client_for(personas.rep)
        .post(f"/w/{ws.slug}/settings/crm-sync/", {"action": "connect", "provider": "hubspot", "access_token": "x"})
        .status_code
        == 403
    )


def test_when_vectoros_wins_our_value_stays_and_goes_back(small_org):
    fake, ws, conn = small_org
    conn.conflict_policy = "vectoros_wins"
    conn.save()
    deal = Deal.objects.get(workspace=ws, external_id=f"006{5:015d}")
    deal_update(deal=deal, actor=None, changes={"amount": Decimal("777")})
    pushes_queue(workspace_id=ws.id, deal_ids=[deal.id])
    fake.modify("Opportunity", deal.external_id, {"Amount": 888.0, "NextStep": "their step"})
    counts = _sync("small")
    assert counts["conflicts"] == 1 and counts["pushed"]["deals"] == 1
    deal.refresh_from_db()
    assert deal.amount == Decimal("777") and deal.next_step == "their step"  # a field only they changed comes in
    assert fake.find("Opportunity", deal.external_id)["Amount"] == 777.0
    assert SyncConflict.objects.get(deal=deal).winner == "vectoros_wins"


def test_the_schedule_queues_a_due_connection_once_per_interval(small_org):
    from django_q.models import OrmQ

    from sync.tasks import sync_due

    _fake, _ws, conn = small_org
    SyncRun.objects.filter(connection=conn).update(started_at=conn.created_at - timedelta(hours=1))
    before = OrmQ.objects.count()
    assert sync_due() == 1
    assert sync_due() == 0  # already queued this interval
    assert OrmQ.objects.count() == before + 1


def test_next_step_and_forecast_category_history_come_from_opportunity_field_history(small_org):
    fake, ws, _conn = small_org
    deal = Deal.objects.get(workspace=ws, external_id=f"006{4:015d}")
    assert fake.find("Opportunity", deal.external_id)["ForecastCategoryName"] == "Pipeline"
    fake.modify("Opportunity", deal.external_id, {"NextStep": "call the CFO"})
    assert fake.find("Opportunity", deal.external_id)["Amount"] != 4242.0
    fake.modify("Opportunity", deal.external_id, {"ForecastCategoryName": "Commit"})
    fake.modify("Opportunity", deal.external_id, {"NextStep": "send the contract", "Amount": 4242.0})
    rows = {r["Field"]: r for r in fake.tables["OpportunityFieldHistory"] if r["OpportunityId"] == deal.external_id}
    counts = _sync("small")
    assert counts["errors"] == 0 and counts["pulled"]["deals"] == 1
    steps = list(
        DealHistory.objects.filter(deal=deal, field="next_step")
        .order_by("changed_at")
        .values_list("old_value", "new_value", "changed_at", "source")
    )
    assert [(old, new) for old, new, _at, _s in steps] == [
        (None, "call the CFO"),
        ("call the CFO", "send the contract"),
    ]
    assert steps[-1][2].isoformat().startswith(rows["NextStep"]["CreatedDate"][:19])  # Salesforce's time, not ours
    assert {source for *_rest, source in steps} == {ChangeSource.SYNC}
    category = list(
        DealHistory.objects.filter(deal=deal, field="forecast_category").values_list("old_value", "new_value")
    )
    assert category == [("pipeline", "commit")]  # from the field history once, not again from the current value
    amounts = [
        Decimal(str(v))
        for v in DealHistory.objects.filter(deal=deal, field="amount").values_list("new_value", flat=True)
    ]
    assert amounts.count(Decimal("4242")) == 1  # from OpportunityHistory, and only from there
    deal.refresh_from_db()
    assert deal.next_step == "send the contract" and deal.forecast_category == "commit"

    fake.modify("Opportunity", deal.external_id, {"Description": "touched"})  # pulled again, field history too
    again = _sync("small")
    assert again["pulled"]["deals"] == 1 and again["pulled"]["history"] == 0
    assert DealHistory.objects.filter(deal=deal, field__in=["next_step", "forecast_category"]).count() == 3

    deal_update(deal=deal, actor=None, changes={"next_step": "sign"})  # ours goes out and its echo comes back
    pushes_queue(workspace_id=ws.id, deal_ids=[deal.id])
    assert _sync("small")["pushed"]["deals"] == 1
    assert fake.tables["OpportunityFieldHistory"][-1]["NewValue"] == "sign"
    _sync("small")
    assert not DealHistory.objects.filter(deal=deal, field="next_step", new_value="sign").exists()


def test_a_backfill_of_many_pages_gives_the_stage_probabilities_an_import_gives(db, fake_sf, tmp_path):
    """A stage's default probability is the one most seen over all the data, as the importer decides it, not the
    one most seen on the first page the stage turns up on."""
    import csv

    fake, url = fake_sf
    fake.batch_size = 60  # 240 opportunities: 4 pages
    columns = ["Id", "Name", "StageName", "Amount", "Probability", "CloseDate", "IsClosed", "IsWon", "CreatedDate"]
    rows = []
    for i in range(240):
        page = i // 60
        if i % 4 == 0:
            stage, probability = "Qualification", 20 if page == 0 else 35  # page 1 says 20, the rest 35
        elif i % 4 == 1 and page > 0:
            stage, probability = "Proposal", 60 if page == 1 else 70  # first met on page 2, with 60
        elif i % 4 == 2:
            stage, probability = "Closed Won", 100
        else:
            stage, probability = "Discovery", 10
        rows.append(
            {
                "Id": f"006{i:015d}",
                "Name": f"Deal {i}",
                "StageName": stage,
                "Amount": str(1000 + i),
                "Probability": str(probability),
                "CloseDate": "2026-03-01",
                "IsClosed": "true" if stage == "Closed Won" else "false",
                "IsWon": "true" if stage == "Closed Won" else "false",
                "CreatedDate": f"2025-01-{1 + i % 28:02d}T10:00:00.000Z",
            }
        )
    with (tmp_path / "Opportunity.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)
    seed_from_export(fake, tmp_path)
    imported = WorkspaceFactory(slug="imported", time_zone="UTC")
    call_command("import_crm", "--workspace", "imported", "--format", "salesforce", str(tmp_path), stdout=StringIO())
    synced = WorkspaceFactory(slug="synced", time_zone="UTC")
    _connect("synced", url)
    queries = fake.query_calls
    assert _sync("synced")["pulled"]["deals"] == 240  # the first sync: a backfill
    assert fake.query_calls - queries >= 4

    def stages(ws) -> dict:
        found = Stage.objects.filter(workspace=ws, pipeline__name="Salesforce")
        return {s.name: (s.default_probability, s.kind, s.forecast_category) for s in found}

    assert stages(synced) == stages(imported)
    assert stages(synced)["Qualification"][0] == 35 and stages(synced)["Proposal"][0] == 70
    assert "stage_votes" not in CrmConnection.objects.get(workspace=synced).state
