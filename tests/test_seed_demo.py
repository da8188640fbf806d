"""`seed_demo`: the demo workspace's shape, determinism, idempotency, as-of reconstruction and leading signals."""

from __future__ import annotations

import functools
import json
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import numpy as np
import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Count, Max

from crm.demo.generator import STAGE_NAMES, DemoData, generate
from crm.models import Activity, ActivityKind, Deal, DealHistory, Direction, Outcome, Stage, TrackedField
from crm.selectors import pipeline_as_of
from tenancy.models import Membership, Role, Team, Workspace

AS_OF = date(2026, 6, 30)
hook_calls: list[int] = []


def record_hook(workspace_id: int) -> None:
    hook_calls.append(workspace_id)


def broken_hook(workspace_id: int) -> None:
    raise RuntimeError("no model today")


@pytest.fixture(autouse=True)
def _local_demo(settings):
    settings.DEBUG = True  # seed_demo runs only in the local demo; tests/test_security_settings.py checks the refusal


@functools.cache
def full_demo() -> DemoData:
    """The full-size demo as plain data, generated once for the tests that only read it."""
    return generate(seed=42, as_of=AS_OF)


def seed(*args: str) -> dict:
    out = StringIO()
    call_command("seed_demo", "--as-of", AS_OF.isoformat(), "--json", *args, stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def no_handlers(settings, monkeypatch):
    """Record `deals_changed` calls instead of queueing the other apps' background work."""
    calls: list[list[int]] = []
    monkeypatch.setattr(
        "crm.management.commands.seed_demo.deals_changed",
        lambda *, workspace_id, deal_ids, bulk=False: calls.append(list(deal_ids)),
    )
    settings.DEMO_SEED_HOOKS = ["tests.test_seed_demo.record_hook"]
    hook_calls.clear()
    return calls


@pytest.mark.django_db
def test_small_demo_has_the_shape_of_a_sales_team_and_a_second_run_changes_nothing(no_handlers):
    first = seed("--scale", "0.15", "--seed", "5")
    assert first["created"] is True
    ws = Workspace.objects.get(slug="demo")
    assert ws.is_demo and ws.name == "Demo Co"

    teams = list(Team.objects.filter(workspace=ws))
    assert len(teams) == 3 and all(t.manager_id for t in teams)
    assert sum(t.parent_id is not None for t in teams) == 1
    assert Membership.objects.filter(workspace=ws, role=Role.REP).count() == 12
    for email, role in [("demo@example.com", Role.OWNER), ("manager@example.com", Role.MANAGER)]:
        user = authenticate(username=email, password="vectoros-demo")
        assert user is not None and Membership.objects.get(workspace=ws, user=user).role == role
    assert authenticate(username="rep@example.com", password="vectoros-demo") is not None

    deals = Deal.objects.for_workspace(ws)
    outcomes = Counter(deals.values_list("outcome", flat=True))
    assert outcomes[Outcome.WON] > 20 and outcomes[Outcome.LOST] > outcomes[Outcome.WON] and outcomes[Outcome.OPEN] > 20
    assert not deals.filter(outcome=Outcome.LOST, lost_reason="").exists()
    assert not deals.exclude(outcome=Outcome.OPEN).filter(closed_at__isnull=True).exists()
    assert set(deals.values_list("stage__kind", flat=True).distinct()) == {"open", "won", "lost"}
    contact_counts = set(deals.annotate(n=Count("contacts")).values_list("n", flat=True))
    assert contact_counts <= {1, 2, 3, 4, 5} and 1 in contact_counts and max(contact_counts) >= 3
    attrs = deals.first().attributes
    assert {"product", "segment", "region"} <= set(attrs)
    assert deals.exclude(source="").count() == deals.count()

    activities = Activity.objects.for_workspace(ws)
    assert set(activities.values_list("kind", flat=True).distinct()) == set(ActivityKind.values)
    directions = set(activities.filter(kind=ActivityKind.EMAIL).values_list("direction", flat=True).distinct())
    assert directions == {Direction.INBOUND, Direction.OUTBOUND}
    assert not activities.filter(occurred_at__gt=datetime(2026, 6, 30, tzinfo=UTC)).exists()

    fields = Counter(DealHistory.objects.for_workspace(ws).values_list("field", flat=True))
    # Every deal starts with one row per field it has (old value empty); probability starts empty.
    started = Counter(
        DealHistory.objects.for_workspace(ws).filter(old_value__isnull=True).values_list("field", flat=True)
    )
    for field in (TrackedField.STAGE, TrackedField.AMOUNT, TrackedField.EXPECTED_CLOSE_DATE, TrackedField.OWNER):
        assert started[field] == deals.count(), field
    assert started[TrackedField.OUTCOME] == deals.count()
    for field in (TrackedField.STAGE, TrackedField.EXPECTED_CLOSE_DATE, TrackedField.AMOUNT, TrackedField.PROBABILITY):
        assert fields[field] > 10, field
    assert fields[TrackedField.OUTCOME] == deals.count() + outcomes[Outcome.WON] + outcomes[Outcome.LOST]
    slips = DealHistory.objects.for_workspace(ws).filter(
        field=TrackedField.EXPECTED_CLOSE_DATE, old_value__isnull=False
    )
    assert any(date.fromisoformat(h.new_value) > date.fromisoformat(h.old_value) for h in slips)

    # Zombies: open, older than any deal that ever closed, and silent for months.
    longest_closed = max(
        (d.closed_at - d.created_at for d in deals.exclude(outcome=Outcome.OPEN).only("closed_at", "created_at")),
    )
    last_touch = dict(
        deals.filter(outcome=Outcome.OPEN).annotate(last=Max("activities__occurred_at")).values_list("id", "last")
    )
    end = datetime(2026, 6, 30, tzinfo=UTC)
    zombies = [
        d
        for d in deals.filter(outcome=Outcome.OPEN)
        if end - d.created_at > longest_closed and (last_touch[d.id] is None or end - last_touch[d.id] > timedelta(90))
    ]
    assert zombies

    # The other apps were told once, after the data existed.
    assert hook_calls == [ws.id]
    assert len(no_handlers) == 1 and sorted(no_handlers[0]) == sorted(deals.values_list("id", flat=True))

    before = (deals.count(), DealHistory.objects.count(), activities.count(), Membership.objects.count())
    second = seed("--scale", "0.15", "--seed", "5")
    assert second["created"] is False and second["counts"] == first["counts"]
    assert (deals.count(), DealHistory.objects.count(), activities.count(), Membership.objects.count()) == before
    assert hook_calls == [ws.id] and len(no_handlers) == 1

    out = StringIO()
    call_command("seed_demo", "--as-of", AS_OF.isoformat(), stdout=out)
    assert "nothing changed" in out.getvalue() and "demo@example.com" in out.getvalue()

    # A hook added after the demo was seeded can be run on it without re-seeding.
    assert seed("--rerun-hooks")["counts"] == first["counts"]
    assert hook_calls == [ws.id, ws.id] and len(no_handlers) == 2 and len(no_handlers[1]) == deals.count()


def test_same_seed_gives_the_same_deals_and_another_seed_does_not():
    def fingerprint(seed: int) -> list[tuple]:
        data = generate(seed=seed, as_of=AS_OF, scale=0.05)
        return [
            (d.title, d.amount, d.stage, d.created_at, d.expected_close_date, d.outcome, len(d.history))
            for d in data.deals
        ] + [(a.at, a.subject) for a in data.activities[:50]]

    assert fingerprint(11) == fingerprint(11)
    assert fingerprint(11) != fingerprint(12)


def test_dates_follow_as_of():
    early = generate(seed=3, as_of=date(2025, 1, 31), scale=0.05)
    end = datetime(2025, 1, 31, tzinfo=UTC)
    start = end - timedelta(days=730)
    assert all(d.created_at < end for d in early.deals)
    assert all(h.at < end for d in early.deals for h in d.history)
    assert all(a.at < end for a in early.activities)
    # Deals from before the window are only those still open when it starts (a full pipeline on day one).
    before = [d for d in early.deals if d.created_at < start]
    assert before and all(d.closed_at is None or d.closed_at > start for d in before)
    assert min(d.created_at for d in early.deals) > start - timedelta(days=160)


def test_losing_deals_show_leading_signs_before_they_close():
    """A month before closing, deals about to be lost hear less from the buyer and slip more than winners."""
    data = full_demo()
    inbound: dict[int, list[datetime]] = {}
    for a in data.activities:
        if a.direction == "inbound":
            inbound.setdefault(a.deal, []).append(a.at)
    recent = {"won": [], "lost": []}
    slips = {"won": [], "lost": []}
    for i, d in enumerate(data.deals):
        if d.outcome == "open" or d.closed_at - d.created_at < timedelta(days=60):
            continue
        look = d.closed_at - timedelta(days=30)
        recent[d.outcome].append(sum(1 for t in inbound.get(i, ()) if look - timedelta(days=21) <= t < look))
        slips[d.outcome].append(sum(1 for h in d.history if h.field == "expected_close_date" and h.at < look))
    assert len(recent["won"]) > 50 and len(recent["lost"]) > 50
    assert np.mean(recent["lost"]) < 0.75 * np.mean(recent["won"])
    # ...but not trivially: some losers still reply and some winners go quiet.
    assert np.mean([n > 0 for n in recent["lost"]]) > 0.2
    assert np.mean([n == 0 for n in recent["won"]]) > 0.1


@pytest.mark.django_db
def test_seeding_over_a_real_workspace_is_refused(personas):
    for extra in ((), ("--reset",)):
        with pytest.raises(CommandError, match="not a demo workspace"):
            seed("--workspace", personas.workspace.slug, "--scale", "0.05", *extra)
    assert Workspace.objects.filter(pk=personas.workspace.pk).exists()
    assert not Deal.objects.filter(workspace=personas.workspace).exists()


@pytest.mark.django_db
def test_reset_reseeds_for_a_new_date_and_a_failing_hook_is_reported(settings, no_handlers):
    seed("--scale", "0.05")
    settings.DEMO_SEED_HOOKS = ["tests.test_seed_demo.broken_hook", "tests.test_seed_demo.record_hook"]
    out = StringIO()
    with pytest.raises(CommandError, match="broken_hook: RuntimeError: no model today"):
        call_command("seed_demo", "--scale", "0.05", "--reset", "--as-of", "2027-01-15", stdout=out)
    assert "Re-seeded demo workspace" in out.getvalue()
    ws = Workspace.objects.get(slug="demo")
    latest = Deal.objects.for_workspace(ws).aggregate(m=Max("created_at"))["m"]
    assert datetime(2026, 12, 1, tzinfo=UTC) < latest < datetime(2027, 1, 15, tzinfo=UTC)
    assert Workspace.objects.filter(slug="demo").count() == 1
    # The other hook still ran, and the other apps were still told about the new deals.
    assert hook_calls[-1] == ws.id and len(no_handlers) == 2


@pytest.mark.django_db
def test_bad_options_are_clear_errors():
    with pytest.raises(CommandError, match="--as-of must be a date"):
        call_command("seed_demo", "--as-of", "yesterday")
    with pytest.raises(CommandError, match="--scale"):
        call_command("seed_demo", "--scale", "0")
    assert not Workspace.objects.filter(slug="demo").exists()


def test_full_size_demo_has_the_advertised_volume():
    data = full_demo()
    outcomes = Counter(d.outcome for d in data.deals)
    assert 2600 <= len(data.deals) <= 3600
    assert 400 <= outcomes["open"] <= 700
    assert 350 <= len(data.companies) <= 450 and 1000 <= len(data.contacts) <= 1600
    assert 0.18 < outcomes["won"] / (outcomes["won"] + outcomes["lost"]) < 0.4
    zombies = sum(d.is_zombie for d in data.deals)
    assert 0.03 <= zombies / outcomes["open"] <= 0.08
    assert len({d.owner for d in data.deals}) == 12


@pytest.mark.django_db
def test_pipeline_as_of_on_the_seeded_data_reproduces_the_simulated_stages(no_handlers):
    seed("--scale", "0.1", "--seed", "9")
    ws = Workspace.objects.get(slug="demo")
    stage_name = dict(Stage.objects.filter(workspace=ws).values_list("id", "name"))
    # The generator's own timeline (the truth) against the selector that rebuilds the past from DealHistory.
    truth = generate(seed=9, as_of=AS_OF, scale=0.1)
    deal_ids = list(Deal.objects.for_workspace(ws).order_by("id").values_list("id", flat=True))
    assert len(deal_ids) == len(truth.deals)
    rnd = random.Random(1)
    for as_of in (datetime(2025, 3, 31, 23, tzinfo=UTC), datetime(2025, 11, 15, 12, tzinfo=UTC)):
        sample = rnd.sample(range(len(deal_ids)), 120)
        snapshots = {s.id: s for s in pipeline_as_of(ws, as_of, deal_ids=[deal_ids[i] for i in sample])}
        checked = closed = 0
        for i in sample:
            spec = truth.deals[i]
            if spec.created_at > as_of:
                assert deal_ids[i] not in snapshots
                continue
            expected = amount = None
            for h in spec.history:  # the creation rows first, then the changes
                if h.at <= as_of and h.field == "stage":
                    expected = h.new
                if h.at <= as_of and h.field == "amount":
                    amount = h.new
            snapshot = snapshots[deal_ids[i]]
            assert stage_name[snapshot.stage_id] == STAGE_NAMES[expected]
            assert snapshot.amount == amount
            assert snapshot.is_open == (expected < 5)
            checked += 1
            closed += not snapshot.is_open
        assert checked > 30 and closed > 5
