"""Removing a member: out of the workspace at once, signed out, keys revoked, open deals handed on with history."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from crm.models import Deal, DealHistory, TrackedField
from crm.services import deal_update
from tenancy.models import Membership, Role
from tenancy.services import api_key_create
from tests.factories import MembershipFactory, WorkspaceFactory, default_stage, make_deal

API = "/api/v1"


def _remove_url(member: Membership) -> str:
    return reverse("tenancy:member_remove", args=["acme", member.uuid])


@pytest.fixture
def reps_deals(personas):
    open_deal = make_deal(personas.workspace, title="Open one", owner=personas.rep)
    won = make_deal(personas.workspace, title="Won one", owner=personas.rep)
    deal_update(deal=won, actor=personas.rep, changes={"stage": default_stage(personas.workspace, "Closed Won")})
    return open_deal, won


def test_owner_removes_a_rep_who_loses_everything_at_once(personas, reps_deals, django_capture_on_commit_callbacks):
    rep_browser = personas.client_for(personas.rep)
    assert rep_browser.get(reverse("crm:board", args=["acme"])).status_code == 200
    _key, raw = api_key_create(workspace=personas.workspace, name="rep's", created_by=personas.rep)
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    assert api.get(f"{API}/deals/").status_code == 200

    owner = personas.client_for(personas.owner)
    page = owner.get(_remove_url(personas.rep)).content.decode()
    assert "1 open deal" in page and "1 API key" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(_remove_url(personas.rep), {"reassign_to": str(personas.other_rep.uuid)})
    assert response.status_code == 302

    personas.rep.refresh_from_db()
    assert not personas.rep.is_active
    assert api.get(f"{API}/deals/").status_code == 401
    # Their only workspace: every session of theirs ended, so the browser is back at the sign-in page.
    home = rep_browser.get(reverse("crm:board", args=["acme"]))
    assert home.status_code == 302 and reverse("account_login") in home["Location"]
    open_deal, won = reps_deals
    open_deal.refresh_from_db()
    won.refresh_from_db()
    assert open_deal.owner == personas.other_rep and won.owner == personas.rep
    change = DealHistory.objects.filter(deal=open_deal, field=TrackedField.OWNER).order_by("-id").first()
    assert change is not None and change.changed_by == personas.owner
    assert (change.old_value, change.new_value) == (personas.rep.id, personas.other_rep.id)
    members_page = owner.get(reverse("tenancy:members", args=["acme"])).content.decode()
    assert "inactive" in members_page


def test_deals_can_be_left_unassigned(personas, reps_deals):
    owner = personas.client_for(personas.owner)
    assert owner.post(_remove_url(personas.rep), {"reassign_to": ""}).status_code == 302
    open_deal, _won = reps_deals
    open_deal.refresh_from_db()
    assert open_deal.owner is None


def test_a_member_of_another_workspace_keeps_that_one_but_loses_this_one_immediately(personas):
    other = WorkspaceFactory(name="Side project", slug="side")
    MembershipFactory(workspace=other, user=personas.rep.user, role=Role.REP)
    rep_browser = personas.client_for(personas.rep)
    assert personas.client_for(personas.owner).post(_remove_url(personas.rep)).status_code == 302
    assert rep_browser.get(reverse("crm:board", args=["acme"])).status_code == 404
    assert rep_browser.get(reverse("crm:board", args=["side"])).status_code == 200


def test_who_may_remove_whom(personas):
    admin = personas.manager
    admin.role = Role.ADMIN
    admin.save()
    response = personas.client_for(admin).post(_remove_url(personas.owner))
    assert response.status_code == 422 and "Only an owner can remove an owner" in response.content.decode()
    response = personas.client_for(personas.owner).post(_remove_url(personas.owner))
    assert response.status_code == 422 and "at least one owner" in response.content.decode()
    for member in (personas.rep, personas.viewer, personas.other_rep):
        assert personas.client_for(member).post(_remove_url(personas.viewer)).status_code == 403
    assert personas.client_for(personas.outsider).post(_remove_url(personas.viewer)).status_code == 404
    # A reassignment target from another workspace is refused like an unknown one.
    outsider_choice = {"reassign_to": str(personas.outsider.uuid)}
    assert personas.client_for(personas.owner).post(_remove_url(personas.viewer), outsider_choice).status_code == 422
    assert personas.client_for(personas.owner).get(_remove_url(personas.viewer)).status_code == 200
    assert Membership.objects.filter(is_active=False).count() == 0


def test_remove_member_command(personas, reps_deals):
    out = StringIO()
    call_command("remove_member", workspace="acme", email="REP@acme.test", reassign_to="west@acme.test", stdout=out)
    assert "Removed rep@acme.test from acme" in out.getvalue()
    personas.rep.refresh_from_db()
    assert not personas.rep.is_active
    assert Deal.objects.get(title="Open one").owner == personas.other_rep
    with pytest.raises(CommandError, match=r"'nobody@acme\.test' is not an active member of acme"):
        call_command("remove_member", workspace="acme", email="nobody@acme.test")
    with pytest.raises(CommandError, match="No workspace with slug 'nope'"):
        call_command("remove_member", workspace="nope", email="west@acme.test")
    with pytest.raises(CommandError, match="at least one owner"):
        call_command("remove_member", workspace="acme", email="owner@acme.test")


def test_a_removed_member_comes_back_only_through_a_new_invitation(personas, django_capture_on_commit_callbacks):
    from django.core import mail

    from tenancy.services import invitation_accept, invitation_by_token, invitation_create, membership_remove

    membership_remove(membership=personas.rep, actor=personas.owner)
    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(workspace=personas.workspace, invited_by=personas.owner, email="rep@acme.test", role="viewer")
    token = mail.outbox[-1].body.split("/invitations/")[1].split("/")[0]
    invitation_accept(invitation=invitation_by_token(token), user=personas.rep.user)
    personas.rep.refresh_from_db()
    assert personas.rep.is_active and personas.rep.role == Role.VIEWER
    assert personas.client_for(personas.rep).get(reverse("crm:board", args=["acme"])).status_code == 200
