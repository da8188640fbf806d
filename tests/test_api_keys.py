"""The API keys page: members create their own keys (the raw key shown once) and revoke them; owners and admins
see and revoke every key of the workspace; viewers only look; outsiders get 404."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from tenancy.models import ApiKey, Role
from tenancy.services import api_key_create, api_key_hash


def _url(name: str, *args) -> str:
    return reverse(f"crm_data:{name}", args=["acme", *args])


def test_owner_creates_a_key_sees_it_once_and_revokes_it(personas):
    client = personas.client_for(personas.owner)
    response = client.post(_url("api_keys"), {"name": "BI export", "scope": "read"})
    assert response.status_code == 200
    raw = re.search(r'<code id="new-api-key"[^>]*>([^<]+)</code>', response.content.decode()).group(1)
    key = ApiKey.objects.get(workspace=personas.workspace, name="BI export")
    assert key.key_hash == api_key_hash(raw) and raw not in (key.prefix, key.key_hash)
    assert key.created_by == personas.owner
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/deals/").status_code == 200
    listing = client.get(_url("api_keys")).content.decode()
    assert "BI export" in listing and raw not in listing and key.prefix in listing

    response = client.post(_url("api_key_revoke", key.uuid))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api.get("/api/v1/deals/").status_code == 401
    assert "revoked" in client.get(_url("api_keys")).content.decode()


def test_blank_name_is_refused(personas):
    response = personas.client_for(personas.owner).post(_url("api_keys"), {"name": ""})
    assert response.status_code == 400 and not ApiKey.objects.exists()


def test_api_keys_page_permissions(personas):
    key, _raw = api_key_create(workspace=personas.workspace, name="ours")
    theirs, _ = api_key_create(workspace=personas.other_workspace, name="theirs")
    personas.rep.role = Role.ADMIN
    personas.rep.save()
    assert "ours" in personas.client_for(personas.rep).get(_url("api_keys")).content.decode()
    for member in (personas.manager, personas.viewer, personas.other_rep):
        client = personas.client_for(member)
        listing = client.get(_url("api_keys"))
        assert listing.status_code == 200 and "ours" not in listing.content.decode()  # only their own keys
        assert client.post(_url("api_key_revoke", key.uuid)).status_code in {403, 404}
    viewer = personas.client_for(personas.viewer)
    assert viewer.post(_url("api_keys"), {"name": "x", "scope": "read"}).status_code == 403
    outsider = personas.client_for(personas.outsider)
    assert outsider.get(_url("api_keys")).status_code == 404
    assert outsider.post(_url("api_key_revoke", key.uuid)).status_code == 404
    owner = personas.client_for(personas.owner)
    assert owner.post(_url("api_key_revoke", theirs.uuid)).status_code == 404
    assert owner.get(_url("api_key_revoke", key.uuid)).status_code == 405
    key.refresh_from_db()
    theirs.refresh_from_db()
    assert key.revoked_at is None and theirs.revoked_at is None and ApiKey.objects.count() == 2
    assert (
        f'href="{_url("api_keys")}"' in owner.get(reverse("tenancy:workspace_settings", args=["acme"])).content.decode()
    )
