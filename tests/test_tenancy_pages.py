"""Workspace settings, members, teams and invitations pages; the workspace switcher."""

from __future__ import annotations

import re

from django.core import mail
from django.urls import reverse

from tenancy.models import Invitation, Membership, Role, Team
from tenancy.services import invitation_token_hash


def url(name, personas, *args):
    return reverse(name, args=[personas.workspace.slug, *args])


SETTINGS = {"name": "Acme Worldwide", "currency": "eur", "fiscal_year_start_month": "4", "time_zone": "Europe/Paris"}


def test_owner_changes_workspace_settings(personas):
    client = personas.client_for(personas.owner)
    assert client.get(url("tenancy:workspace_settings", personas)).status_code == 200
    response = client.post(url("tenancy:workspace_settings", personas), SETTINGS)
    assert response.status_code == 302
    ws = personas.workspace
    ws.refresh_from_db()
    assert (ws.name, ws.currency, ws.fiscal_year_start_month, ws.time_zone) == (
        "Acme Worldwide",
        "EUR",
        4,
        "Europe/Paris",
    )


def test_settings_invalid_values_and_permissions(personas):
    client = personas.client_for(personas.owner)
    bad = client.post(
        url("tenancy:workspace_settings", personas), {**SETTINGS, "currency": "EURO", "time_zone": "Mars/Base"}
    )
    assert bad.status_code == 422 and set(bad.context["form"].errors) == {"currency", "time_zone"}
    for member in (personas.viewer, personas.rep, personas.manager):
        assert (
            personas.client_for(member).post(url("tenancy:workspace_settings", personas), SETTINGS).status_code == 403
        )
    assert personas.client_for(personas.outsider).get(url("tenancy:workspace_settings", personas)).status_code == 404
    assert client.put(url("tenancy:workspace_settings", personas)).status_code == 405
    personas.workspace.refresh_from_db()
    assert personas.workspace.name == "Acme Sales"


def test_members_page_and_role_change(personas):
    client = personas.client_for(personas.owner)
    html = client.get(url("tenancy:members", personas)).content.decode()
    assert "rep@acme.test" in html
    west = Team.objects.get(workspace=personas.workspace, name="West")
    prefix = str(personas.rep.uuid)
    response = client.post(
        url("tenancy:member_update", personas, personas.rep.uuid),
        {f"{prefix}-role": "manager", f"{prefix}-team": str(west.uuid)},
    )
    assert response.status_code == 302
    personas.rep.refresh_from_db()
    assert personas.rep.role == Role.MANAGER and personas.rep.team == west


def test_last_owner_cannot_be_demoted_and_others_may_not_change_roles(personas):
    prefix = str(personas.owner.uuid)
    data = {f"{prefix}-role": "viewer"}
    response = personas.client_for(personas.owner).post(
        url("tenancy:member_update", personas, personas.owner.uuid), data, follow=True
    )
    assert "at least one owner" in response.content.decode()
    personas.owner.refresh_from_db()
    assert personas.owner.role == Role.OWNER
    rep_prefix = str(personas.rep.uuid)
    for member in (personas.manager, personas.viewer):
        denied = personas.client_for(member).post(
            url("tenancy:member_update", personas, personas.rep.uuid), {f"{rep_prefix}-role": "owner"}
        )
        assert denied.status_code == 403
    outsider = personas.client_for(personas.outsider)
    assert (
        outsider.post(
            url("tenancy:member_update", personas, personas.rep.uuid), {f"{rep_prefix}-role": "owner"}
        ).status_code
        == 404
    )
    assert (
        personas.client_for(personas.owner).get(url("tenancy:member_update", personas, personas.rep.uuid)).status_code
        == 405
    )
    personas.rep.refresh_from_db()
    assert personas.rep.role == Role.REP


def test_teams_create_edit_and_no_cycles(personas):
    client = personas.client_for(personas.owner)
    east = Team.objects.get(workspace=personas.workspace, name="East")
    response = client.post(url("tenancy:teams", personas), {"name": "EMEA", "manager": str(personas.manager.uuid)})
    assert response.status_code == 302
    emea = Team.objects.get(workspace=personas.workspace, name="EMEA")
    assert emea.manager == personas.manager
    moved = client.post(url("tenancy:team_edit", personas, east.uuid), {"name": "East", "parent": str(emea.uuid)})
    assert moved.status_code == 302
    east.refresh_from_db()
    assert east.parent == emea
    cycle = client.post(url("tenancy:team_edit", personas, emea.uuid), {"name": "EMEA", "parent": str(east.uuid)})
    assert cycle.status_code == 422 and "cannot sit under itself" in cycle.content.decode()
    emea.refresh_from_db()
    assert emea.parent is None
    duplicate = client.post(url("tenancy:teams", personas), {"name": "EMEA"})
    assert duplicate.status_code == 422
    assert personas.client_for(personas.viewer).post(url("tenancy:teams", personas), {"name": "V"}).status_code == 403
    assert (
        personas.client_for(personas.rep).post(url("tenancy:team_edit", personas, east.uuid), {"name": "R"}).status_code
        == 403
    )
    assert personas.client_for(personas.outsider).get(url("tenancy:team_edit", personas, east.uuid)).status_code == 404
    assert client.delete(url("tenancy:teams", personas)).status_code == 405


def test_manager_sees_deals_of_sub_teams(personas):
    """The sales hierarchy: a team placed under the manager's team becomes visible to that manager."""
    from decimal import Decimal

    from crm.services import deal_create
    from tests.factories import default_stage

    ws = personas.workspace
    client = personas.client_for(personas.owner)
    east = Team.objects.get(workspace=ws, name="East")
    west = Team.objects.get(workspace=ws, name="West")
    deal_create(
        workspace=ws,
        actor=None,
        title="West deal",
        stage=default_stage(ws),
        owner=personas.other_rep,
        amount=Decimal(1),
    )
    manager = personas.client_for(personas.manager)
    assert manager.get(url("crm:deal_list", personas)).context["total"] == 0
    client.post(url("tenancy:team_edit", personas, west.uuid), {"name": "West", "parent": str(east.uuid)})
    assert [d.title for d in manager.get(url("crm:deal_list", personas)).context["page"]] == ["West deal"]


def test_invite_and_revoke(personas, django_capture_on_commit_callbacks):
    client = personas.client_for(personas.owner)
    east = Team.objects.get(workspace=personas.workspace, name="East")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("tenancy:invitations", personas), {"email": "New@Acme.test", "role": "rep", "team": str(east.uuid)}
        )
    assert response.status_code == 302
    invitation = Invitation.objects.get(workspace=personas.workspace)
    assert (invitation.email, invitation.role, invitation.team) == ("new@acme.test", "rep", east)
    assert len(mail.outbox) == 1
    raw_token = re.search(r"/invitations/([^/]+)/", mail.outbox[0].body).group(1)
    # Only the link's hash is stored: what the database holds does not open the invitation.
    assert invitation.token_hash == invitation_token_hash(raw_token) and raw_token not in invitation.token_hash
    assert "new@acme.test" in client.get(url("tenancy:invitations", personas)).content.decode()
    again = client.post(url("tenancy:invitations", personas), {"email": "rep@acme.test", "role": "rep"})
    assert again.status_code == 422 and "already a member" in again.content.decode()
    assert (
        personas.client_for(personas.viewer)
        .post(url("tenancy:invitation_revoke", personas, invitation.uuid))
        .status_code
        == 403
    )
    assert (
        personas.client_for(personas.outsider)
        .post(url("tenancy:invitation_revoke", personas, invitation.uuid))
        .status_code
        == 404
    )
    assert client.get(url("tenancy:invitation_revoke", personas, invitation.uuid)).status_code == 405
    assert client.post(url("tenancy:invitation_revoke", personas, invitation.uuid)).status_code == 302
    assert not Invitation.objects.filter(pk=invitation.pk).exists()


def test_invitation_accept_joins_the_workspace(personas, django_capture_on_commit_callbacks):
    from tests.factories import UserFactory

    with django_capture_on_commit_callbacks(execute=True):
        personas.client_for(personas.owner).post(
            url("tenancy:invitations", personas), {"email": "new@acme.test", "role": "viewer"}
        )
    raw_token = re.search(r"/invitations/([^/]+)/", mail.outbox[0].body).group(1)
    newcomer = UserFactory(email="new@acme.test")
    from django.test import Client

    client = Client()
    client.force_login(newcomer)
    assert client.get(reverse("invitation_accept", args=[invitation_token_hash(raw_token)])).status_code == 404
    response = client.post(reverse("invitation_accept", args=[raw_token]))
    assert response.status_code == 302 and response["Location"] == url("crm:board", personas)
    assert Membership.objects.get(workspace=personas.workspace, user=newcomer).role == Role.VIEWER


def test_switcher_remembers_the_last_workspace(personas):
    from tests.factories import MembershipFactory

    MembershipFactory(workspace=personas.other_workspace, user=personas.owner.user, role=Role.ADMIN)
    client = personas.client_for(personas.owner)
    board = client.get(url("crm:board", personas)).content.decode()
    assert 'href="/w/globex/"' in board  # the switcher lists both workspaces
    client.get(reverse("crm:board", args=["globex"]))
    assert client.session["workspace_slug"] == "globex"
    assert client.get(reverse("home"))["Location"] == reverse("crm:board", args=["globex"])
    client.get(url("crm:deal_list", personas))
    assert client.get(reverse("home"))["Location"] == url("crm:board", personas)
