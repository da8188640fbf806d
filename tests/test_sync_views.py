"""The CRM sync settings tab and the deal's CRM panel, as owner, viewer and outsider."""

from __future__ import annotations

from django_q.models import OrmQ

from sync.models import ConnectionStatus, CrmConnection, SyncConflict, SyncedDeal, SyncRun
from tests.factories import DealFactory


def _connection(ws, **extra) -> CrmConnection:
    return CrmConnection.objects.create(
        workspace=ws, provider="salesforce", base_url="https://login.example.test", client_id="c", **extra
    )


def test_status_panel_sync_now_and_settings(personas, django_capture_on_commit_callbacks):
    ws = personas.workspace
    conn = _connection(ws, instance_url="https://acme.example.test")
    SyncRun.objects.create(
        connection=conn,
        status="done",
        seconds=2.5,
        counts={
            "pulled": {"deals": 40, "companies": 2, "contacts": 0, "members": 1, "history": 90},
            "pushed": {"deals": 3},
            "deleted": {"deals": 0},
            "conflicts": 1,
            "errors": 0,
            "seconds": 2.5,
        },
    )
    url = f"/w/{ws.slug}/settings/crm-sync/"
    owner = personas.client_for(personas.owner)
    page = owner.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "133 records in, 3 out" in text and "https://acme.example.test" in text and "Sync now" in text

    before = OrmQ.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.post(f"{url}{conn.uuid}/now/").status_code == 302
    assert OrmQ.objects.count() == before + 1

    saved = owner.post(
        url,
        {
            "connection": str(conn.uuid),
            f"{conn.uuid}-interval_minutes": "30",
            f"{conn.uuid}-conflict_policy": "vectoros_wins",
            f"{conn.uuid}-attributes": "Region__c = region",
        },
    )
    assert saved.status_code == 302
    conn.refresh_from_db()
    assert (conn.interval_minutes, conn.conflict_policy) == (30, "vectoros_wins")
    assert conn.field_mapping["attributes"] == {"Region__c": "region"}
    bad = owner.post(
        url,
        {
            "connection": str(conn.uuid),
            f"{conn.uuid}-interval_minutes": "0",
            f"{conn.uuid}-conflict_policy": "crm_wins",
            f"{conn.uuid}-attributes": "no equals sign",
        },
    )
    assert bad.status_code == 422

    viewer = personas.client_for(personas.viewer)
    assert viewer.get(url).status_code == 200 and "Sync now" not in viewer.get(url).content.decode()
    assert viewer.post(f"{url}{conn.uuid}/now/").status_code == 403
    rep = personas.client_for(personas.rep)
    assert rep.post(f"{url}{conn.uuid}/now/").status_code == 403  # admins only
    outsider = personas.client_for(personas.outsider)
    assert outsider.get(url).status_code == 404


def test_a_broken_connection_is_shown_and_cannot_sync(personas):
    ws = personas.workspace
    conn = _connection(ws, status=ConnectionStatus.BROKEN, last_error="invalid_grant: expired access/refresh token")
    owner = personas.client_for(personas.owner)
    text = owner.get(f"/w/{ws.slug}/settings/crm-sync/").content.decode()
    assert "The connection is broken" in text and "invalid_grant" in text
    owner.post(f"/w/{ws.slug}/settings/crm-sync/{conn.uuid}/now/")
    assert "broken" in owner.get(f"/w/{ws.slug}/settings/crm-sync/").content.decode()


def test_the_deal_page_shows_a_conflict(personas):
    ws = personas.workspace
    conn = _connection(ws)
    deal = DealFactory(workspace=ws, owner=personas.rep)
    SyncedDeal.objects.create(connection=conn, deal=deal, external_id="006X", values={})
    SyncConflict.objects.create(
        connection=conn, deal=deal, field="amount", crm_value="222.00", local_value="111.00", winner="crm_wins"
    )
    owner = personas.client_for(personas.owner)
    panel = owner.get(f"/w/{ws.slug}/settings/crm-sync/deals/{deal.uuid}/").content.decode()
    assert "CRM “222.00”, VectorOS “111.00”" in panel and "006X" in panel
    assert f"/settings/crm-sync/deals/{deal.uuid}/" in owner.get(f"/w/{ws.slug}/deals/{deal.uuid}/").content.decode()
    assert (
        personas.client_for(personas.outsider).get(f"/w/{ws.slug}/settings/crm-sync/deals/{deal.uuid}/").status_code
        == 404
    )
