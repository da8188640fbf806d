"""First run: a new workspace lands on its checklist, items tick from real state, sample data fills the board;
someone with no workspace (a superuser) can create one instead of a dead end."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from crm.models import Deal, DealHistory
from tenancy.models import Workspace
from tenancy.services import invitation_create, user_get_or_create, workspace_create
from tests.factories import UserFactory


def items(response):
    return {item.key: item.done for item in response.context["onboarding_items"]}


def test_a_new_workspace_lands_on_its_checklist_and_items_tick(db):
    user = user_get_or_create(email="founder@new.test", password="pw-123456789")
    ws = workspace_create(name="founder's workspace", slug="founder", owner_user=user)
    client = Client()
    client.force_login(user)
    landing = client.get(client.get("/")["Location"])  # home opens the board, which starts with the checklist
    assert items(landing) == {"name": False, "money": False, "team": False, "deals": False}
    assert "Get founder&#x27;s workspace ready" in landing.content.decode()
    assert "Try sample data" in landing.content.decode()
    welcome = reverse("crm:onboarding", args=[ws.slug])

    ws.name, ws.currency = "Founder Ltd", "EUR"
    ws.save()
    invitation_create(workspace=ws, email="rep@new.test", role="rep", invited_by=ws.memberships.get())
    assert items(client.get(welcome)) == {"name": True, "money": True, "team": True, "deals": False}

    seeded = client.post(reverse("crm:onboarding_sample", args=[ws.slug]))
    assert seeded.status_code == 302 and seeded["Location"] == reverse("crm:board", args=[ws.slug])
    deals = Deal.objects.for_workspace(ws)
    assert deals.count() == 8 and DealHistory.objects.filter(deal__in=deals).exists()  # through the service
    board = client.get(reverse("crm:board", args=[ws.slug]))
    assert board.status_code == 200 and board.context["board"].open_count == 8
    assert "ready</h2>" not in board.content.decode()  # the board is the board again
    again = client.post(reverse("crm:onboarding_sample", args=[ws.slug]), follow=True)
    assert "already has deals" in again.content.decode() and deals.count() == 8


def test_members_who_cannot_set_up_cannot_seed(personas):
    assert (
        personas.client_for(personas.rep)
        .post(reverse("crm:onboarding_sample", args=[personas.workspace.slug]))
        .status_code
        == 403
    )
    assert not Deal.objects.exists()


def test_a_superuser_without_a_workspace_can_create_one(db):
    admin = UserFactory(email="root@ops.test", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin)
    home = client.get("/")
    assert "Create a workspace" in home.content.decode() and "No workspace yet" not in home.content.decode()
    empty = client.post(reverse("workspace_new"), {"name": ""})
    assert empty.status_code == 422
    created = client.post(reverse("workspace_new"), {"name": "Ops Team"})
    ws = Workspace.objects.get(name="Ops Team")
    assert created["Location"] == reverse("crm:onboarding", args=[ws.slug])
    assert ws.memberships.get().user == admin and ws.pipelines.exists()


def test_a_member_of_a_workspace_cannot_create_more_from_here(personas):
    response = personas.client_for(personas.rep).post(reverse("workspace_new"), {"name": "Mine"})
    assert response.status_code == 404 and not Workspace.objects.filter(name="Mine").exists()
