"""`pipeline_changes`: the waterfall balances exactly, matches the raw Maven CSV, and each bar's deals add up to it."""

from __future__ import annotations

import csv
import itertools
import json
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm.demo.services import demo_workspace_seed
from crm.selectors import DealSnapshot
from forecasting.waterfall import FLOWS, deal_flows, pipeline_changes
from tenancy.models import Membership, Team, Workspace
from tests.factories import WorkspaceFactory

MAVEN = "maven-crm-as-of-2017-06-30"


def _run(*args: str) -> dict:
    out = StringIO()
    call_command("pipeline_changes", *args, "--json", stdout=out)
    return json.loads(out.getvalue(), parse_float=Decimal)


def _balanced(result: dict) -> None:
    flows = sum((Decimal(f["amount"]) for f in result["flows"].values()), Decimal(0))
    assert Decimal(result["start"]["amount"]) + flows == Decimal(result["end"]["amount"]), result
    assert set(result["flows"]) == set(FLOWS)
    for name in ("new", "pulled_in", "increased"):
        assert result["flows"][name]["amount"] >= 0, (name, result)
    for name in ("decreased", "pushed_out", "won", "lost"):
        assert result["flows"][name]["amount"] <= 0, (name, result)


def _drill_down_adds_up(waterfall) -> None:
    for name in FLOWS:
        items = waterfall.items[name]
        assert sum((i.amount for i in items), Decimal(0)) == waterfall.flows[name].amount, name
        assert len(items) == waterfall.flows[name].deals, name


# ---- one deal, flow by flow --------------------------------------------------------------------------
T0 = datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
T1 = datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC)
Q2 = (date(2026, 4, 1), date(2026, 6, 30))


def _snap(**kw) -> DealSnapshot:
    base = {
        "id": 1,
        "uuid": "u",
        "title": "Deal",
        "owner_id": 7,
        "company_id": None,
        "pipeline_id": 1,
        "stage_id": 1,
        "amount": Decimal("100"),
        "expected_close_date": date(2026, 5, 15),
        "probability": None,
        "outcome": "open",
        "created_at": datetime(2026, 1, 5, tzinfo=UTC),
        "closed_at": None,
        "stage_entered_at": datetime(2026, 1, 5, tzinfo=UTC),
        "as_of": T1,
    }
    return DealSnapshot(**{**base, **kw})


@pytest.mark.parametrize(
    ("before", "after", "owners", "expected"),
    [
        # created in the window and still open: new at its amount at the end
        (None, _snap(created_at=T0 + timedelta(days=3), amount=Decimal(80)), None, [("new", 80)]),
        # created and won in the window: in new and in won, cancelling
        (
            None,
            _snap(created_at=T0 + timedelta(days=3), outcome="won", closed_at=T1 - timedelta(days=1)),
            None,
            [("new", 100), ("won", -100)],
        ),
        # won at a higher amount than at the start: won at the close amount, the rise as increased
        (
            _snap(),
            _snap(outcome="won", amount=Decimal(130), closed_at=T1 - timedelta(days=1)),
            None,
            [("won", -130), ("increased", 30)],
        ),
        (_snap(), _snap(outcome="lost", closed_at=T1 - timedelta(days=1)), None, [("lost", -100)]),
        (_snap(expected_close_date=date(2026, 8, 1)), _snap(), None, [("pulled_in", 100)]),
        (_snap(), _snap(expected_close_date=date(2026, 8, 1)), None, [("pushed_out", -100)]),
        (_snap(), _snap(amount=Decimal(60)), None, [("decreased", -40)]),
        (_snap(), _snap(amount=Decimal(160)), None, [("increased", 60)]),
        (_snap(), _snap(), None, []),
        # reopened in the window
        (_snap(outcome="lost", closed_at=T0 - timedelta(days=5)), _snap(), None, [("other", 100)]),
        # the owner left the rep's scope
        (_snap(), _snap(owner_id=8), frozenset({7}), [("other", -100)]),
        # won by someone outside the scope: it left the scope's pipeline, not a win of the scope
        (
            _snap(),
            _snap(owner_id=8, outcome="won", closed_at=T1 - timedelta(days=1)),
            frozenset({7}),
            [("other", -100)],
        ),
    ],
)
def test_each_deal_gets_the_flow_the_docstring_defines(before, after, owners, expected):
    flows = deal_flows(before, after, window=(T0, T1), owner_ids=owners, period=Q2)
    assert [(name, int(amount)) for name, amount, _ in flows] == expected


# ---- the demo ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_waterfalls_balance_over_random_windows_and_scopes(db):
    as_of = date(2026, 6, 30)
    demo_workspace_seed(slug="demo", as_of=as_of, scale=0.3)
    workspace = Workspace.objects.get(slug="demo")
    teams = list(Team.objects.filter(workspace=workspace).values_list("uuid", flat=True))
    reps = [e for e in Membership.objects.for_workspace(workspace).values_list("email", flat=True) if e]
    rng = random.Random(13)
    seen: set[str] = set()
    for _ in range(12):
        start = as_of - timedelta(days=rng.randint(7, 500))
        end = start + timedelta(days=rng.randint(0, 200))
        args = ["--workspace", "demo", "--from", start.isoformat(), "--to", end.isoformat()]
        if rng.random() < 0.6:
            p0 = end - timedelta(days=rng.randint(-60, 120))
            args += ["--period", f"{p0.isoformat()}:{(p0 + timedelta(days=91)).isoformat()}"]
        pick = rng.random()
        if pick < 0.3 and teams:
            args += ["--team", str(rng.choice(teams))]
        elif pick < 0.5 and reps:
            args += ["--rep", rng.choice(reps)]
        result = _run(*args)
        _balanced(result)
        seen |= {name for name, flow in result["flows"].items() if flow["deals"]}
    # The windows exercise the flows, not only the trivial ones.
    assert {"new", "won", "lost", "pulled_in", "pushed_out"} <= seen, seen

    week = pipeline_changes(workspace, start=as_of - timedelta(days=7), end=as_of)
    _drill_down_adds_up(week)
    quarter = pipeline_changes(workspace, start=date(2026, 3, 31), end=as_of, period=(date(2026, 4, 1), as_of))
    _drill_down_adds_up(quarter)
    assert quarter.flows["won"].deals > 0


def test_bad_arguments_are_refused_with_a_message(db):
    WorkspaceFactory(slug="acme")
    with pytest.raises(CommandError, match="--to is before --from"):
        _run("--workspace", "acme", "--from", "2026-06-30", "--to", "2026-03-31")
    with pytest.raises(CommandError, match="START:END"):
        _run("--workspace", "acme", "--from", "2026-03-31", "--to", "2026-06-30", "--period", "2026-04-01")
    with pytest.raises(CommandError, match="No member"):
        _run("--workspace", "acme", "--from", "2026-03-31", "--to", "2026-06-30", "--rep", "nobody@example.com")
    with pytest.raises(CommandError, match="No workspace"):
        _run("--workspace", "nope", "--from", "2026-03-31", "--to", "2026-06-30")


# ---- Maven: balance and the raw CSV's counts ---------------------------------------------------------
def _csv_counts(folder, start: date, end: date) -> dict[str, int]:
    counts = {"new": 0, "won": 0, "lost": 0}
    with open(folder / "sales_pipeline.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            engaged = date.fromisoformat(row["engage_date"]) if row["engage_date"] else None
            closed = date.fromisoformat(row["close_date"]) if row["close_date"] else None
            if engaged and start < engaged <= end:
                counts["new"] += 1
            if closed and start < closed <= end and row["deal_stage"] in {"Won", "Lost"}:
                counts[row["deal_stage"].lower()] += 1
    return counts


@pytest.mark.shared_data
@pytest.mark.slow
def test_maven_quarter_ends_balance_and_match_the_csv(db, shared_data):
    from crm.importers import run_import

    workspace = WorkspaceFactory(slug="maven", with_pipeline=False)
    run_import(workspace=workspace, fmt="maven", path=shared_data / MAVEN)
    quarter_ends = [date(2016, 12, 31), date(2017, 3, 31), date(2017, 6, 30)]
    for start, end in [*itertools.pairwise(quarter_ends), (quarter_ends[0], quarter_ends[-1])]:
        result = _run("--workspace", "maven", "--from", start.isoformat(), "--to", end.isoformat())
        _balanced(result)
        expected = _csv_counts(shared_data / MAVEN, start, end)
        assert {k: result["flows"][k]["deals"] for k in expected} == expected, (start, end)
    q2 = pipeline_changes(workspace, start=date(2017, 3, 31), end=date(2017, 6, 30))
    _drill_down_adds_up(q2)
    # The won bar is what closed won in Q2 2017 (the forecast backtest's actual, $3,086,111).
    assert q2.flows["won"].amount == Decimal("-3086111")

    rng = random.Random(2017)
    for _ in range(15):
        start = date(2016, 10, 1) + timedelta(days=rng.randint(0, 250))
        end = start + timedelta(days=rng.randint(0, 200))
        period = None
        if rng.random() < 0.5:
            p0 = start + timedelta(days=rng.randint(0, 120))
            period = f"{p0.isoformat()}:{(p0 + timedelta(days=90)).isoformat()}"
        args = ["--workspace", "maven", "--from", start.isoformat(), "--to", end.isoformat()]
        _balanced(_run(*args, *(["--period", period] if period else [])))


# ---- the page ----------------------------------------------------------------------------------------
NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def week_of_deals(personas):
    """Two deals each for the East rep and the West rep: one created this week, one won this week."""
    import time_machine

    from crm.services import deal_create, deal_move_to_stage
    from tests.factories import default_stage

    ws = personas.workspace
    deals = {}
    for owner, name in ((personas.rep, "East"), (personas.other_rep, "West")):
        old = NOW - timedelta(days=30)
        with time_machine.travel(old, tick=False):
            won = deal_create(
                workspace=ws,
                actor=owner,
                title=f"{name} old",
                stage=default_stage(ws, "Qualification"),
                amount=Decimal(5000),
                owner=owner,
                at=old,
                created_at=old,
            )
        with time_machine.travel(NOW - timedelta(days=2), tick=False):
            deal_move_to_stage(deal=won, stage=default_stage(ws, "Closed Won"), actor=owner)
            deals[name] = deal_create(
                workspace=ws,
                actor=owner,
                title=f"{name} fresh",
                stage=default_stage(ws, "Qualification"),
                amount=Decimal(700),
                owner=owner,
            )
    return deals


def _page(client, slug="acme", **params):
    from django.urls import reverse

    return client.get(reverse("forecasting:changes", args=[slug]), params)


def test_since_last_week_page_lists_each_bars_deals(personas, week_of_deals):
    import time_machine

    with time_machine.travel(NOW, tick=False):
        response = _page(personas.client_for(personas.owner), flow="won")
        page = response.content.decode()
        assert response.status_code == 200
        assert 'data-chart="waterfall"' in page
        assert "Won: 2 deals, -10,000" in page and "New: 2 deals, 1,400" in page
        assert "East old" in page and "West old" in page and "East fresh" not in page
        # The rep sees only their own team's deals, in the chart and in the list.
        rep_page = _page(personas.client_for(personas.rep), flow="new").content.decode()
        assert "East fresh" in rep_page and "West fresh" not in rep_page
        assert "New: 1 deals, 700" in rep_page
        # A bad window is refused with a message (and the default week shown), never a 500.
        bad = _page(personas.client_for(personas.owner), start="2026-05-10", end="2026-05-01").content.decode()
        assert "is before" in bad


def test_changes_page_as_outsider_and_wrong_method(personas, week_of_deals):
    from django.urls import reverse

    assert _page(personas.client_for(personas.outsider)).status_code == 404
    url = reverse("forecasting:changes", args=["acme"])
    assert personas.client_for(personas.owner).post(url).status_code == 405
    # Another team's id is a field error: the page shows the member's own scope.
    west = personas.other_rep.team
    page = _page(personas.client_for(personas.rep), team=str(west.uuid)).content.decode()
    assert "West" not in page.split("<h2>Each bar")[1]
