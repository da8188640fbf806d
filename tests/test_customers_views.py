"""The customer pages, the one-click expansion deal, and the renewals panel on the forecast dashboard (demo)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import dateformat

from crm.models import Company, Deal
from customers.features import add_years
from customers.models import Customer, CustomerSettings, Subscription
from customers.services import accounts_upsert, customers_refresh
from tenancy.models import Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(personas) -> Customer:
    workspace = personas.workspace
    today = workspace.today()
    start = today - timedelta(days=400)
    accounts_upsert(
        workspace=workspace,
        customers={
            "k1": {"name": "Initech", "industry": "", "location": "", "since": start, "churned": None, "attributes": {}}
        },
        subscriptions={
            "s1": {
                "customer": "k1",
                "plan": "Pro",
                "seats": 10,
                "mrr": Decimal("2000"),
                "arr": Decimal("24000"),
                "start_date": start,
                "end_date": None,
                "billing_period": "annual",
                "auto_renew": True,
                "is_trial": False,
                "upgraded": False,
                "downgraded": False,
                "churned": None,
                "status": "active",
            }
        },
        usage={
            f"u{i}": {
                "customer": "k1",
                "subscription": "s1",
                "date": today - timedelta(days=i),
                "metric": "active_seats" if i % 2 else "logins",
                "value": 11.0 if i % 2 else 40.0 + i,
                "duration_seconds": None,
                "errors": 0,
            }
            for i in range(1, 80, 3)
        },
        tickets={},
        churn_events={},
    )
    customers_refresh(workspace=workspace)
    return Customer.objects.get(workspace=workspace)


def test_list_and_page_show_arr_health_subscriptions_and_usage(personas, customer):
    client = personas.client_for(personas.rep)
    listing = client.get(reverse("customers:list", args=["acme"]) + "?sort=risk")
    assert listing.status_code == 200
    assert b"Initech" in listing.content and b"$24,000" in listing.content
    # An open-ended annual term renews on its start's next anniversary: 400 days in, that is in its second year.
    start = personas.workspace.today() - timedelta(days=400)
    assert dateformat.format(add_years(start, 2), "M j, Y") in listing.content.decode()
    page = client.get(reverse("customers:detail", args=["acme", customer.uuid]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "What drives health" in body and "seat utilisation" in body
    assert 'data-chart="usage"' in body and "Pro" in body
    assert customer.health is not None


def test_outsider_gets_404_and_viewer_cannot_create_a_deal(personas, customer):
    outsider = personas.client_for(personas.outsider)
    assert outsider.get(reverse("customers:detail", args=["acme", customer.uuid])).status_code == 404
    assert outsider.get(reverse("customers:list", args=["acme"])).status_code == 404
    viewer = personas.client_for(personas.viewer)
    assert viewer.post(reverse("customers:expansion_deal", args=["acme", customer.uuid])).status_code == 403
    assert not Deal.objects.filter(workspace=personas.workspace).exists()
    rep = personas.client_for(personas.rep)
    assert rep.get(reverse("customers:expansion_deal", args=["acme", customer.uuid])).status_code == 405


def test_expansion_signals_and_one_click_deal(personas, customer):
    client = personas.client_for(personas.rep)
    page = client.get(reverse("customers:expansion", args=["acme"]))
    assert b"seats near or over licence" in page.content  # 11 active of 10 seats
    response = client.post(reverse("customers:expansion_deal", args=["acme", customer.uuid]))
    deal = Deal.objects.get(workspace=personas.workspace, source="expansion")
    assert response.status_code == 302 and str(deal.uuid) in response["Location"]
    assert deal.company == customer.company and deal.owner == personas.rep
    assert deal.attributes["signals"][0]["name"] == "seats near or over licence"


@pytest.fixture
def demo(settings) -> Workspace:
    settings.DEBUG = True  # seed_demo runs only in the local demo
    settings.DEMO_SEED_HOOKS = ["customers.tasks.demo_seed_hook"]
    out = StringIO()
    as_of = (date.today() - timedelta(days=1)).isoformat()
    call_command("seed_demo", "--as-of", as_of, "--scale", "0.3", "--seed", "7", "--json", stdout=out)
    assert json.loads(out.getvalue())["hook_errors"] == []
    return Workspace.objects.get(slug="demo")


@pytest.mark.slow
def test_demo_forecast_dashboard_loads_the_renewals_panel(demo):
    client = Client()
    client.login(email="demo@example.com", password="vectoros-demo")
    subs = Subscription.objects.for_workspace(demo)
    assert subs.filter(end_date__isnull=True).count() > 10
    dashboard = client.get(reverse("forecasting:dashboard", args=["demo"]))
    panel_url = reverse("customers:forecast_panel", args=["demo"])
    assert dashboard.status_code == 200 and f'hx-get="{panel_url}"' in dashboard.content.decode()
    panel = client.get(panel_url, HTTP_HX_REQUEST="true")
    body = panel.content.decode()
    assert panel.status_code == 200 and "Renewals and net retention" in body
    assert "Gross retention" in body and "Net retention" in body and "%" in body
    # Risk and health are on the demo's customers, and renewals are in the Renewals pipeline.
    assert Customer.objects.for_workspace(demo).exclude(churn_risk=None).exists()
    assert Deal.objects.for_workspace(demo).filter(pipeline__name="Renewals").exists()


def test_lead_time_is_set_by_admins_only(personas):
    url = reverse("customers:settings", args=["acme"])
    assert personas.client_for(personas.rep).post(url, {"renewal_lead_days": 60}).status_code == 403
    assert personas.client_for(personas.owner).post(url, {"renewal_lead_days": 60}).status_code == 302
    assert CustomerSettings.objects.get(workspace=personas.workspace).renewal_lead_days == 60
    personas.client_for(personas.owner).post(url, {"renewal_lead_days": 0})
    assert CustomerSettings.objects.get(workspace=personas.workspace).renewal_lead_days == 60


def _account(name: str, arr: int, renews: date) -> dict:
    return {
        "customers": {
            name: {"name": name, "industry": "", "location": "", "since": None, "churned": None, "attributes": {}}
        },
        "subscription": {
            "customer": name,
            "plan": "Pro",
            "seats": 5,
            "mrr": Decimal(arr) / 12,
            "arr": Decimal(arr),
            "start_date": renews - timedelta(days=365),
            "end_date": renews,
            "billing_period": "annual",
            "auto_renew": True,
            "is_trial": False,
            "upgraded": False,
            "downgraded": False,
            "churned": None,
            "status": "active",
        },
    }


def test_renewals_panel_follows_the_dashboard_filter_and_the_members_scope(personas):
    """Accounts follow their company's owner: the East rep sees East's renewal only, the owner sees both and a
    row per team, and the rep filter narrows the panel to that rep's accounts."""
    workspace = personas.workspace
    today = workspace.today()
    east, west = _account("Initech", 30000, today), _account("Umbrella", 70000, today)
    accounts_upsert(
        workspace=workspace,
        customers=east["customers"] | west["customers"],
        subscriptions={"e": east["subscription"], "w": west["subscription"]},
        usage={},
        tickets={},
        churn_events={},
    )
    Company.objects.filter(workspace=workspace, name="Initech").update(owner=personas.rep)
    Company.objects.filter(workspace=workspace, name="Umbrella").update(owner=personas.other_rep)
    url = reverse("customers:forecast_panel", args=["acme"])

    def panel(member, query: str = "") -> str:
        client = Client()
        client.force_login(member.user)
        response = client.get(url + query, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        return response.content.decode()

    everything = panel(personas.owner)
    assert "$100,000 (2)" in everything  # both accounts up for renewal this quarter
    assert "by team" in everything and "$30,000 (1)" in everything and "$70,000 (1)" in everything
    own = panel(personas.rep)
    assert "$30,000 (1)" in own and "70,000" not in own and "$100,000" not in own
    chosen = panel(personas.owner, f"?rep={personas.other_rep.uuid}")
    assert "$70,000 (1)" in chosen and "30,000" not in chosen
    # A rep asking for another team's rep gets their own scope, not the other team's accounts.
    refused = panel(personas.rep, f"?rep={personas.other_rep.uuid}")
    assert "70,000" not in refused
