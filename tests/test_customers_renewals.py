"""Renewals: a renewal deal within the lead time, and each 90/60/30-day alert exactly once per subscription."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from uuid import UUID

import pytest
from django.core.management import call_command

from alerts.models import Alert, AlertKind, AlertStatus
from crm.models import Deal
from customers.features import add_years
from customers.importing import run_account_import
from customers.models import Subscription
from customers.services import accounts_upsert, customer_settings_save, renewals_run
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db
AS_OF = date(2026, 3, 1)


def _customers(workspace, renewals: dict[str, date | None], *, start: date = date(2025, 1, 1)) -> None:
    """One customer per subscription; a date is the term's end (its renewal), None an evergreen term from `start`."""
    accounts_upsert(
        workspace=workspace,
        customers={
            key: {
                "name": f"Customer {key}",
                "industry": "",
                "location": "",
                "since": start,
                "churned": None,
                "attributes": {},
            }
            for key in renewals
        },
        subscriptions={
            f"S-{key}": {
                "customer": key,
                "plan": "Pro",
                "seats": 10,
                "mrr": Decimal("1000"),
                "arr": Decimal(str(12000 * (i + 1))),
                "start_date": start,
                "end_date": end,
                "billing_period": "annual",
                "auto_renew": True,
                "is_trial": False,
                "upgraded": False,
                "downgraded": False,
                "churned": None,
                "status": "active",
            }
            for i, (key, end) in enumerate(renewals.items())
        },
        usage={},
        tickets={},
        churn_events={},
    )


def _active_windows(workspace) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {30: set(), 60: set(), 90: set()}
    for alert in Alert.objects.for_workspace(workspace).active().filter(kind=AlertKind.RENEWAL):
        found[alert.details["window"]].add(alert.details["subscription"])
    return found


def test_windows_once_each_and_deals_within_the_lead_time():
    workspace = WorkspaceFactory()
    days = {"a": 10, "b": 45, "c": 75, "d": 100, "e": 200}
    _customers(workspace, {k: AS_OF + timedelta(days=d) for k, d in days.items()})
    first = renewals_run(workspace=workspace, as_of=AS_OF)
    assert first["due"] == 4 and first["deals_created"] == 4  # 200 days is beyond the 120-day lead time
    assert first["alerts"] == {"90": 1, "60": 1, "30": 1}
    subs = {s.external_id: str(s.uuid) for s in Subscription.objects.for_workspace(workspace)}
    assert _active_windows(workspace) == {30: {subs["S-a"]}, 60: {subs["S-b"]}, 90: {subs["S-c"]}}
    deal = Deal.objects.get(workspace=workspace, external_id__startswith="renewal:S-c:")
    assert (
        deal.pipeline.name == "Renewals"
        and deal.amount == Decimal("36000")
        and deal.expected_close_date == AS_OF + timedelta(days=75)
    )
    # Ranked by ARR at risk: the larger subscription scores higher at the same risk.
    scores = {a.details["subscription"]: a.score for a in Alert.objects.filter(workspace=workspace)}
    assert scores[subs["S-c"]] > scores[subs["S-b"]] > scores[subs["S-a"]] > 0

    again = renewals_run(workspace=workspace, as_of=AS_OF)
    assert again["deals_created"] == 0 and again["alerts"] == {"90": 0, "60": 0, "30": 0}
    assert Alert.objects.filter(workspace=workspace).count() == 3

    # A month later c enters the 60-day window (its 90-day alert is superseded) and d the 90-day one.
    later = renewals_run(workspace=workspace, as_of=AS_OF + timedelta(days=30))
    assert later["alerts"] == {"90": 1, "60": 1, "30": 1}  # d at 70 days, c at 45, b at 15
    assert _active_windows(workspace) == {30: {subs["S-a"], subs["S-b"]}, 60: {subs["S-c"]}, 90: {subs["S-d"]}}
    superseded = Alert.objects.get(workspace=workspace, details__subscription=subs["S-c"], details__window=90)
    assert superseded.status == AlertStatus.RESOLVED
    assert renewals_run(workspace=workspace, as_of=AS_OF + timedelta(days=30))["alerts"] == {"90": 0, "60": 0, "30": 0}


def test_lead_time_is_a_workspace_setting_and_evergreen_terms_renew_on_their_anniversary():
    workspace = WorkspaceFactory()
    _customers(workspace, {"x": None}, start=date(2024, 4, 15))  # renews on April 15
    customer_settings_save(workspace=workspace, renewal_lead_days=30)
    assert renewals_run(workspace=workspace, as_of=AS_OF)["due"] == 0  # 45 days away, beyond a 30-day lead
    customer_settings_save(workspace=workspace, renewal_lead_days=120)
    stats = renewals_run(workspace=workspace, as_of=AS_OF)
    assert stats["due"] == 1 and stats["alerts"]["60"] == 1
    assert Deal.objects.get(workspace=workspace).expected_close_date == date(2026, 4, 15)


def _expected_windows(folder, as_of: date) -> dict[str, set[str]]:
    """Read straight from the CSV: live subscriptions whose renewal (end date, else the start's next anniversary)
    falls 0-30, 31-60 or 61-90 days after `as_of`."""
    found: dict[str, set[str]] = {"30": set(), "60": set(), "90": set()}
    with (folder / "ravenstack_subscriptions.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            start = date.fromisoformat(row["start_date"])
            end = date.fromisoformat(row["end_date"]) if row["end_date"] else None
            if start > as_of or (end is not None and end < as_of):
                continue
            if end is not None:
                renewal = end
            else:
                years = 1
                while (renewal := add_years(start, years)) < as_of:
                    years += 1
            days = (renewal - as_of).days
            for window in (30, 60, 90):
                if days <= window:
                    found[str(window)].add(row["subscription_id"])
                    break
    return found


@pytest.mark.slow
def test_ravenstack_alerts_equal_the_subscriptions_in_each_window_and_a_second_pass_creates_none(shared_data):
    folder = shared_data / "ravenstack-saas-churn"
    workspace = WorkspaceFactory(slug="raven")
    assert run_account_import(workspace=workspace, fmt="ravenstack", path=folder).written
    as_of = date(2024, 6, 30)
    expected = _expected_windows(folder, as_of)
    out = StringIO()
    call_command("renewal_alerts", workspace="raven", as_of=as_of.isoformat(), json=True, stdout=out)
    stats = json.loads(out.getvalue())
    assert stats["alerts"] == {w: len(ids) for w, ids in expected.items()}
    by_uuid = dict(Subscription.objects.for_workspace(workspace).values_list("uuid", "external_id"))
    raised = {w: {by_uuid[UUID(s)] for s in subs} for w, subs in _active_windows(workspace).items()}
    assert raised == {int(w): ids for w, ids in expected.items()}
    out = StringIO()
    call_command("renewal_alerts", workspace="raven", as_of=as_of.isoformat(), json=True, stdout=out)
    assert json.loads(out.getvalue())["alerts"] == {"90": 0, "60": 0, "30": 0}
