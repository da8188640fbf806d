"""Two-way sync with HubSpot, against a fake account on 127.0.0.1 (tests/fakecrm/hubspot.py)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm.models import Company, Deal, DealHistory
from crm.services import deal_update
from sync.models import ConnectionStatus, CrmConnection
from sync.services import pushes_queue
from tests.factories import WorkspaceFactory
from tests.fakecrm.hubspot import FakeHubSpot, seed_synthetic
from tests.fakecrm.server import Running


@pytest.fixture
def fake_hs(settings):
    settings.SYNC_BACKOFF_SCALE = 0.01
    fake = FakeHubSpot()
    server = Running(fake)
    yield fake, server.url
    server.stop()


def _sync(slug: str, *extra: str) -> dict:
    out = StringIO()
    call_command("sync_crm", "--workspace", slug, "--json", *extra, stdout=out)
    return json.loads(out.getvalue())


def _connect(slug: str, url: str, token: str = "pat-1") -> None:  # noqa: S107  # the fake account's token
    call_command(
        "connect_crm", "--workspace", slug, "--provider", "hubspot", "--base-url", url, "--access-token", token,
        stdout=StringIO(),
    )  # fmt: skip


def test_hubspot_backfill_history_incremental_push_and_archive(db, fake_hs, capsys):
    fake, url = fake_hs
    seed_synthetic(fake, deals=1000)
    ws = WorkspaceFactory(slug="hs", time_zone="UTC")
    _connect("hs", url)
    fake.limit_at_calls = {fake.calls + 8}  # a 429 with Retry-After in the middle of the deal pages
    started = time.perf_counter()
    counts = _sync("hs", "--full")
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nHubSpot backfill: 1000 deals in {seconds:.1f} s ({1000 / seconds:.0f} records/s)")
    assert counts["errors"] == 0 and fake.limited == 1  # waited, tried again, nothing lost
    assert (
        counts["pulled"]["deals"] == 1000 and counts["pulled"]["companies"] == 50 and counts["pulled"]["members"] == 5
    )
    assert Deal.objects.filter(workspace=ws).count() == 1000 and Company.objects.filter(workspace=ws).count() == 50
    oid = next(o for o in fake.objects["deals"].values() if o["properties"]["dealname"] == "HS deal 4")["id"]
    deal = Deal.objects.select_related("stage", "owner", "company").get(workspace=ws, external_id=oid)
    assert deal.stage.name == "Closed Lost" and deal.outcome == "lost"  # path: 2 open stages, then lost
    assert deal.owner.email == "owner4@example.test" and deal.company.name == "Company 4"
    assert DealHistory.objects.filter(deal=deal, field="stage").count() == 3

    again = _sync("hs")
    assert again["pulled"] == dict.fromkeys(("deals", "companies", "contacts", "members", "history"), 0)

    fake.modify("deals", oid, {"amount": "4321"})
    third = _sync("hs")
    assert third["pulled"]["deals"] == 1
    deal.refresh_from_db()
    assert deal.amount == Decimal("4321")

    other = Deal.objects.get(
        workspace=ws,
        external_id=next(o for o in fake.objects["deals"].values() if o["properties"]["dealname"] == "HS deal 1")["id"],
    )
    contract = other.pipeline.stages.get(name="Contract Sent")
    deal_update(deal=other, actor=None, changes={"stage": contract})
    pushes_queue(workspace_id=ws.id, deal_ids=[other.id])
    assert _sync("hs")["pushed"]["deals"] == 1
    assert fake.patches == [(other.external_id, {"dealstage": "contractsent"})]
    assert _sync("hs")["pushed"]["deals"] == 0 and len(fake.patches) == 1

    fake.archive("deals", oid)
    assert _sync("hs")["deleted"]["deals"] == 1
    assert not Deal.objects.filter(pk=deal.pk).exists()


def test_a_revoked_hubspot_token_breaks_the_connection(db, fake_hs):
    fake, url = fake_hs
    seed_synthetic(fake, deals=5, companies=2, owners=1)
    WorkspaceFactory(slug="hs2", time_zone="UTC")
    _connect("hs2", url)
    fake.tokens.clear()
    assert _sync("hs2")["errors"] == 1
    conn = CrmConnection.objects.get(workspace__slug="hs2")
    assert conn.status == ConnectionStatus.BROKEN
    with pytest.raises(CommandError, match="broken"):
        _sync("hs2")
    with pytest.raises(CommandError, match="refused"):
        _connect("hs2", url, token="wrong")


def test_a_deal_hubspot_sends_malformed_is_reported_then_read_again(db, fake_hs):
    fake, url = fake_hs
    seed_synthetic(fake, deals=6, companies=2, owners=1)
    ws = WorkspaceFactory(slug="hs3", time_zone="UTC")
    _connect("hs3", url)
    broken = next(iter(fake.objects["deals"].values()))
    good_close = broken["properties"]["closedate"]
    broken["properties"]["closedate"] = "next Tuesday"
    counts = _sync("hs3", "--full")
    assert counts["errors"] == 1 and counts["pulled"]["deals"] == 5
    assert not Deal.objects.filter(workspace=ws, external_id=broken["id"]).exists()
    broken["properties"]["closedate"] = good_close  # fixed, without a new hs_lastmodifieddate
    again = _sync("hs3")
    assert again["errors"] == 0 and again["pulled"]["deals"] == 1
    assert Deal.objects.filter(workspace=ws, external_id=broken["id"]).exists()


@pytest.mark.parametrize("missing", ["batch_read", "search"])
def test_without_batch_read_or_search_changed_deals_are_still_pulled_alone(db, fake_hs, missing):
    fake, url = fake_hs
    seed_synthetic(fake, deals=8, companies=2, owners=1)
    ws = WorkspaceFactory(slug="hs4", time_zone="UTC")
    _connect("hs4", url)
    _sync("hs4", "--full")
    setattr(fake, missing, False)
    oid = next(iter(fake.objects["deals"]))
    fake.modify("deals", oid, {"amount": "1234", "hs_next_step": "demo"})
    counts = _sync("hs4")
    assert counts["errors"] == 0 and counts["pulled"]["deals"] == 1
    assert _sync("hs4")["pulled"]["deals"] == 0
    deal = Deal.objects.get(workspace=ws, external_id=oid)
    assert deal.amount == Decimal("1234") and deal.next_step == "demo"


def test_a_worker_killed_mid_backfill_resumes_from_the_hubspot_cursor(transactional_db, fake_hs):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from django.db import connection as dbconn

    fake, url = fake_hs
    seed_synthetic(fake, deals=3000, companies=20, owners=3)
    ws = WorkspaceFactory(slug="hskill", time_zone="UTC")
    _connect("hskill", url)
    conn = CrmConnection.objects.get(workspace=ws)
    script = (
        "import os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'vectoros.settings_test')\n"
        "from django.conf import settings\n"
        "settings.DATABASES['default']['NAME'] = sys.argv[1]\n"
        "django.setup()\n"
        "from sync.engine import run_sync\nfrom sync.models import CrmConnection\n"
        "run_sync(connection=CrmConnection.objects.select_related('workspace').get(pk=int(sys.argv[2])), full=True)\n"
    )
    root = Path(__file__).resolve().parent.parent
    worker = subprocess.Popen(  # noqa: S603  # our own interpreter and script
        [sys.executable, "-c", script, dbconn.settings_dict["NAME"], str(conn.pk)], cwd=root, env=os.environ.copy()
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and Deal.objects.filter(workspace=ws).count() < 500:
        assert worker.poll() is None, "the worker ended before it could be killed"
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert 500 <= Deal.objects.filter(workspace=ws).count() < 3000
    counts = _sync("hskill")
    assert Deal.objects.filter(workspace=ws).count() == 3000
    assert counts["pulled"]["deals"] == 3000  # the killed run's pages plus the rest, none twice
    assert DealHistory.objects.filter(deal__workspace=ws, field="amount", old_value__isnull=True).count() == 3000
    assert _sync("hskill")["pulled"]["deals"] == 0


def _connect_oauth(slug: str, url: str, fake: FakeHubSpot, refresh_token: str = "hs-refresh-cli") -> None:  # noqa: S107
    fake.refresh_tokens.add(refresh_token)  # as if the admin had installed our app and kept its refresh token
    call_command(
        "connect_crm", "--workspace", slug, "--provider", "hubspot", "--base-url", url,
        "--client-id", fake.client_id, "--client-secret", fake.client_secret, "--refresh-token", refresh_token,
        stdout=StringIO(),
    )  # fmt: skip


def test_connect_hubspot_through_the_oauth_flow(personas, fake_hs, settings):
    import httpx

    fake, url = fake_hs
    seed_synthetic(fake, deals=3, companies=1, owners=1)
    settings.SYNC_HUBSPOT_CLIENT_ID, settings.SYNC_HUBSPOT_CLIENT_SECRET = fake.client_id, fake.client_secret
    settings.SYNC_HUBSPOT_AUTHORIZE_URL = f"{url}/oauth/authorize"  # app.hubspot.com's install page, played here
    settings.SITE_URL = "http://testserver"
    ws = personas.workspace
    owner = personas.client_for(personas.owner)
    assert "Connect HubSpot" in owner.get(f"/w/{ws.slug}/settings/crm-sync/").content.decode()
    assert personas.client_for(personas.rep).post(f"/w/{ws.slug}/settings/crm-sync/connect/hubspot/").status_code == 403
    start = owner.post(f"/w/{ws.slug}/settings/crm-sync/connect/hubspot/", {"hubspot-base_url": url})
    assert start.status_code == 302 and start["Location"].startswith(f"{url}/oauth/authorize?client_id=hs-app&")
    assert "scope=oauth+crm.objects.deals.read" in start["Location"] and "state=" in start["Location"]
    consent = httpx.get(start["Location"], follow_redirects=False)  # the admin approves at HubSpot
    back = consent.headers["Location"]
    assert back.startswith("http://testserver/sync/oauth/callback/?")
    assert personas.client_for(personas.viewer).get(back.removeprefix("http://testserver")).status_code == 400
    done = owner.get(back.removeprefix("http://testserver"))
    assert done.status_code == 302 and done["Location"] == f"/w/{ws.slug}/settings/crm-sync/"
    conn = CrmConnection.objects.get(workspace=ws)
    assert conn.provider == "hubspot" and conn.base_url == url and conn.client_id == "hs-app"
    assert conn.refresh_token in fake.refresh_tokens and conn.access_token in fake.tokens
    assert fake.token_grants == ["authorization_code", "refresh_token"]  # the code, then the connection check
    assert owner.get(back.removeprefix("http://testserver")).status_code == 400  # the state is used up
    assert "Connected to HubSpot" in owner.get(f"/w/{ws.slug}/settings/crm-sync/").content.decode()


def test_the_default_hubspot_install_page_is_hubspots_own(personas, settings):
    settings.SYNC_HUBSPOT_CLIENT_ID = "our-app"
    settings.SITE_URL = "https://vectoros.example"
    ws = personas.workspace
    start = personas.client_for(personas.owner).post(f"/w/{ws.slug}/settings/crm-sync/connect/hubspot/", {})
    assert start["Location"].startswith("https://app.hubspot.com/oauth/authorize?client_id=our-app&redirect_uri=")
    assert "redirect_uri=https%3A%2F%2Fvectoros.example%2Fsync%2Foauth%2Fcallback%2F" in start["Location"]


def test_an_oauth_hubspot_token_that_expires_mid_sync_is_refreshed_once_and_nothing_is_lost(db, fake_hs):
    fake, url = fake_hs
    seed_synthetic(fake, deals=400, companies=10, owners=2)
    ws = WorkspaceFactory(slug="hso", time_zone="UTC")
    _connect_oauth("hso", url, fake)
    assert fake.token_grants == ["refresh_token"]  # connect_crm proved the refresh token
    fake.expire_at_calls = {fake.calls + 6}  # the access token runs out in the middle of the deal pages
    counts = _sync("hso", "--full")
    assert counts["errors"] == 0 and counts["pulled"]["deals"] == 400
    assert Deal.objects.filter(workspace=ws).count() == 400
    assert fake.unauthorized == 1 and fake.token_grants == ["refresh_token", "refresh_token"]
    conn = CrmConnection.objects.get(workspace=ws)
    assert conn.status == ConnectionStatus.OK and conn.access_token in fake.tokens  # the new token was kept

    # A token past its stated expiry is renewed before it is used: no 401 this time.
    conn.state["token_expires_at"] = time.time() - 1
    conn.save(update_fields=["state"])
    fake.expire_access_tokens()
    oid = next(iter(fake.objects["deals"]))
    fake.modify("deals", oid, {"amount": "999"})
    again = _sync("hso")
    assert again["errors"] == 0 and again["pulled"]["deals"] == 1
    assert fake.unauthorized == 1 and len(fake.token_grants) == 3
    assert Deal.objects.get(workspace=ws, external_id=oid).amount == Decimal("999")


def test_a_revoked_hubspot_refresh_token_breaks_the_connection(db, fake_hs):
    fake, url = fake_hs
    seed_synthetic(fake, deals=5, companies=2, owners=1)
    WorkspaceFactory(slug="hsr", time_zone="UTC")
    _connect_oauth("hsr", url, fake)
    fake.refresh_tokens.clear()  # the app was uninstalled
    fake.expire_access_tokens()
    counts = _sync("hsr")
    assert counts["errors"] == 1
    conn = CrmConnection.objects.get(workspace__slug="hsr")
    assert conn.status == ConnectionStatus.BROKEN and "BAD_REFRESH_TOKEN" in conn.last_error
    assert fake.token_grants.count("refresh_token") == 2  # tried once, then stopped
    with pytest.raises(CommandError, match="broken"):
        _sync("hsr")
    with pytest.raises(CommandError, match="refused"):
        call_command(
            "connect_crm", "--workspace", "hsr", "--provider", "hubspot", "--base-url", url,
            "--client-id", fake.client_id, "--client-secret", fake.client_secret, "--refresh-token", "unknown",
            stdout=StringIO(),
        )  # fmt: skip


def test_hubspot_commerce_subscriptions_become_customers_subscriptions_and_payments(db, fake_hs):
    """Subscriptions arrive through the sync where HubSpot has them: each on its company's customer, ARR from MRR,
    a cancelled one churned, a failed last payment a payment row; a second sync changes nothing, and an app without
    the scope syncs deals as before and says why subscriptions were skipped."""
    from customers.models import Customer, Payment, Subscription

    fake, url = fake_hs
    seed_synthetic(fake, deals=20, companies=3)
    company_ids = sorted(fake.objects["companies"], key=int)
    live = fake.add(
        "subscriptions",
        {"hs_name": "Pro", "hs_status": "active", "hs_mrr": "1500", "hs_recurring_billing_start_date": "2025-03-01",
         "hs_recurring_billing_frequency": "annually", "hs_last_payment_status": "failed",
         "hs_next_payment_due_date": "2026-03-01"},
        associations={"companies": [company_ids[0]]},
    )  # fmt: skip
    fake.add(
        "subscriptions",
        {"hs_name": "Starter", "hs_status": "canceled", "hs_mrr": "200",
         "hs_recurring_billing_start_date": "2024-01-01", "hs_recurring_billing_end_date": "2025-01-01",
         "hs_recurring_billing_frequency": "monthly"},
        associations={"companies": [company_ids[1]]},
    )  # fmt: skip
    fake.add("subscriptions", {"hs_name": "Orphan", "hs_mrr": "99", "hs_recurring_billing_start_date": "2025-01-01"})
    ws = WorkspaceFactory(slug="hs", time_zone="UTC")
    _connect("hs", url)

    counts = _sync("hs", "--full")
    assert counts["errors"] == 0 and counts["subscriptions"] == {"pulled": 2}  # the one with no company is left
    pro = Subscription.objects.get(workspace=ws, external_id=f"crm-{live}")
    assert (pro.plan, pro.arr, pro.billing_period, pro.churned) == ("Pro", Decimal("18000.00"), "annual", None)
    assert Customer.objects.get(pk=pro.customer_id).company.external_id == company_ids[0]
    starter = Subscription.objects.get(workspace=ws, plan="Starter")
    assert starter.churned is True and starter.status == "churned" and str(starter.end_date) == "2025-01-01"
    assert list(Payment.objects.filter(workspace=ws).values_list("status", flat=True)) == ["failed"]

    again = _sync("hs")
    assert again["subscriptions"] == {"pulled": 2}
    assert Subscription.objects.filter(workspace=ws).count() == 2 and Payment.objects.filter(workspace=ws).count() == 1
    assert Customer.objects.filter(workspace=ws).count() == 2

    fake.subscriptions_scope = False
    fake.modify("deals", next(iter(fake.objects["deals"])), {"amount": "777"})
    refused = _sync("hs")
    assert refused["errors"] == 0 and refused["pulled"]["deals"] == 1
    assert refused["subscriptions"]["pulled"] == 0 and "scope" in refused["subscriptions"]["skipped"]
