"""API keys: read / write scope, expiry, the maker's visibility or the whole workspace, revocation, the commands."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Deal
from tenancy.models import ApiKey, ApiKeyScope, Role
from tenancy.services import api_key_create, membership_remove
from tests.factories import make_deal

API = "/api/v1"


def _api(raw: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw}"})


@pytest.fixture
def deals(personas):
    east = make_deal(personas.workspace, title="East deal", owner=personas.rep)
    west = make_deal(personas.workspace, title="West deal", owner=personas.other_rep)
    return east, west


def _titles(client: Client) -> set[str]:
    response = client.get(f"{API}/deals/")
    assert response.status_code == 200, response.content
    return {d["title"] for d in response.json()["items"]}


def test_read_key_reads_but_every_write_is_403_and_changes_nothing(personas, deals):
    _key, raw = api_key_create(
        workspace=personas.workspace, name="bi", created_by=personas.owner, scope=ApiKeyScope.READ
    )
    client = _api(raw)
    east, _west = deals
    assert _titles(client) == {"East deal", "West deal"}
    patch = client.patch(f"{API}/deals/{east.uuid}/", {"amount": "1.00"}, content_type="application/json")
    post = client.post(f"{API}/companies/", {"name": "Initech"}, content_type="application/json")
    delete = client.delete(f"{API}/deals/{east.uuid}/")
    assert (patch.status_code, post.status_code, delete.status_code) == (403, 403, 403)
    assert "read-only" in patch.json()["detail"]
    east.refresh_from_db()
    assert east.amount != 1 and Deal.objects.filter(pk=east.pk).exists()


def test_write_key_writes(personas, deals):
    _key, raw = api_key_create(workspace=personas.workspace, name="sync", created_by=personas.owner, scope="write")
    east, _west = deals
    response = _api(raw).patch(f"{API}/deals/{east.uuid}/", {"amount": "1234.00"}, content_type="application/json")
    assert response.status_code == 200, response.content
    east.refresh_from_db()
    assert east.amount == 1234


def test_expired_and_revoked_keys_are_401(personas, deals):
    key, raw = api_key_create(
        workspace=personas.workspace,
        name="short",
        created_by=personas.owner,
        expires_at=timezone.now() + timedelta(days=1),
    )
    assert _api(raw).get(f"{API}/deals/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        assert _api(raw).get(f"{API}/deals/").status_code == 401
    page = personas.client_for(personas.owner)
    assert page.post(reverse("crm_data:api_key_revoke", args=["acme", key.uuid])).status_code == 302
    assert _api(raw).get(f"{API}/deals/").status_code == 401


def test_a_key_sees_what_its_maker_sees_unless_an_admin_made_it_workspace_wide(personas, deals):
    _rep_key, rep_raw = api_key_create(workspace=personas.workspace, name="mine", created_by=personas.rep)
    _wide, wide_raw = api_key_create(
        workspace=personas.workspace, name="all", created_by=personas.owner, workspace_wide=True
    )
    assert _titles(_api(rep_raw)) == {"East deal"}
    _east, west = deals
    assert _api(rep_raw).get(f"{API}/deals/{west.uuid}/").status_code == 404
    assert _titles(_api(wide_raw)) == {"East deal", "West deal"}
    with pytest.raises(ValidationError, match="Only owners and admins"):
        api_key_create(workspace=personas.workspace, name="sneaky", created_by=personas.rep, workspace_wide=True)


def test_a_removed_makers_keys_stop_working_at_once_even_workspace_wide(personas, deals):
    personas.manager.role = Role.ADMIN
    personas.manager.save()
    _key, raw = api_key_create(
        workspace=personas.workspace, name="ops", created_by=personas.manager, workspace_wide=True
    )
    client = _api(raw)
    assert client.get(f"{API}/deals/").status_code == 200
    membership_remove(membership=personas.manager, actor=personas.owner)
    assert client.get(f"{API}/deals/").status_code == 401


def test_a_deactivated_user_account_closes_their_keys(personas, deals):
    _key, raw = api_key_create(workspace=personas.workspace, name="mine", created_by=personas.rep)
    personas.rep.user.is_active = False
    personas.rep.user.save()
    assert _api(raw).get(f"{API}/deals/").status_code == 401


def test_keys_page_creates_a_read_key_with_expiry_and_shows_last_use(personas, deals):
    owner = personas.client_for(personas.owner)
    url = reverse("crm_data:api_keys", args=["acme"])
    response = owner.post(url, {"name": "BI", "scope": "read", "expires_in_days": "30", "workspace_wide": "on"})
    assert response.status_code == 200
    raw = re.search(r'<code id="new-api-key"[^>]*>([^<]+)</code>', response.content.decode()).group(1)
    key = ApiKey.objects.get(name="BI")
    assert key.scope == "read" and key.workspace_wide
    assert timedelta(days=29, hours=23) < key.expires_at - timezone.now() <= timedelta(days=30)
    assert _api(raw).get(f"{API}/deals/").status_code == 200
    listing = owner.get(url).content.decode()
    assert "Read only" in listing and "whole workspace" in listing
    assert key.expires_at.strftime("%Y-%m-%d") in listing
    key.refresh_from_db()
    assert key.last_used_at is not None and key.last_used_at.strftime("%Y-%m-%d %H:%M") in listing


def test_keys_page_refuses_bad_expiry_and_rep_cannot_make_workspace_wide_keys(personas):
    url = reverse("crm_data:api_keys", args=["acme"])
    owner = personas.client_for(personas.owner)
    assert owner.post(url, {"name": "x", "scope": "read", "expires_in_days": "0"}).status_code == 400
    assert owner.post(url, {"name": "x", "scope": "admin"}).status_code == 400
    rep = personas.client_for(personas.rep)
    assert "workspace_wide" not in rep.get(url).content.decode()
    assert rep.post(url, {"name": "mine", "scope": "write", "workspace_wide": "on"}).status_code == 200
    key = ApiKey.objects.get(name="mine")
    assert key.created_by == personas.rep and not key.workspace_wide and key.scope == "write"
    assert not ApiKey.objects.filter(name="x").exists()


def test_create_api_key_command_defaults_to_read_and_takes_scope_and_expiry(personas, deals):
    out = StringIO()
    call_command("create_api_key", workspace="acme", name="cli-read", json=True, stdout=out)
    body = json.loads(out.getvalue())
    assert body["scope"] == "read" and body["expires_at"] is None
    east, _west = deals
    reader = _api(body["key"])
    assert reader.get(f"{API}/deals/").status_code == 200
    change = {"amount": "5.00"}
    assert reader.patch(f"{API}/deals/{east.uuid}/", change, content_type="application/json").status_code == 403

    out = StringIO()
    call_command(
        "create_api_key", workspace="acme", name="cli-write", scope="write", expires_in_days=2, json=True, stdout=out
    )
    body = json.loads(out.getvalue())
    writer = _api(body["key"])
    assert writer.patch(f"{API}/deals/{east.uuid}/", change, content_type="application/json").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=2, minutes=1)):
        assert writer.get(f"{API}/deals/").status_code == 401
    with pytest.raises(CommandError, match="between 1 and 3650"):
        call_command("create_api_key", workspace="acme", name="bad", expires_in_days=0)
    with pytest.raises(CommandError, match="No workspace"):
        call_command("create_api_key", workspace="nope", name="bad")


def test_revoke_api_key_command(personas, deals):
    _key, raw = api_key_create(workspace=personas.workspace, name="old-sync")
    assert _api(raw).get(f"{API}/deals/").status_code == 200
    out = StringIO()
    call_command("revoke_api_key", workspace="acme", name="old-sync", stdout=out)
    assert "Revoked 1 key" in out.getvalue()
    assert _api(raw).get(f"{API}/deals/").status_code == 401
    with pytest.raises(CommandError, match="no unrevoked API key named 'old-sync'"):
        call_command("revoke_api_key", workspace="acme", name="old-sync")
    with pytest.raises(CommandError, match="No workspace"):
        call_command("revoke_api_key", workspace="nope", name="old-sync")


def test_a_deleted_makers_workspace_wide_key_does_not_live_on_without_a_maker(personas, deals):
    personas.manager.role = Role.ADMIN
    personas.manager.save()
    _key, raw = api_key_create(
        workspace=personas.workspace, name="ops", created_by=personas.manager, workspace_wide=True
    )
    assert _api(raw).get(f"{API}/deals/").status_code == 200
    personas.manager.user.delete()
    assert _api(raw).get(f"{API}/deals/").status_code == 401


def test_a_key_in_use_records_its_last_use_once_a_minute_not_on_every_call(personas, deals):
    # An integration's concurrent calls must not all queue on a write to the same key row.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    key, raw = api_key_create(workspace=personas.workspace, name="BI", scope=ApiKeyScope.READ, created_by=None)
    client = _api(raw)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert client.get(f"{API}/deals/").status_code == 200
        key.refresh_from_db()
        first = key.last_used_at
        assert first is not None
        traveller.shift(timedelta(seconds=30))
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"{API}/deals/").status_code == 200
        assert not [q for q in ctx.captured_queries if q["sql"].startswith("UPDATE") and "tenancy_apikey" in q["sql"]]
        key.refresh_from_db()
        assert key.last_used_at == first
        traveller.shift(timedelta(seconds=31))
        assert client.get(f"{API}/deals/").status_code == 200
        key.refresh_from_db()
        assert key.last_used_at == first + timedelta(seconds=61)
