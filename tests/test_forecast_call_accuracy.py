"""Call accuracy on a constructed history, the call-signal test, and both in the API and on the page."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest
import time_machine
from django.test import Client

from forecasting import call_accuracy
from forecasting.call_accuracy import Observation, call_signal
from forecasting.models_calls import CallSubmission
from tenancy.scope import Scope
from tenancy.services import api_key_create
from tests.factories import make_deal

pytestmark = pytest.mark.django_db

QUARTERS = [
    (date(2026, 1, 1), date(2026, 3, 31)),
    (date(2026, 4, 1), date(2026, 6, 30)),
    (date(2026, 7, 1), date(2026, 9, 30)),
]


def call(member, start, end, commit, likely=None, *, at, version, p50=None):
    return CallSubmission.objects.create(
        workspace=member.workspace,
        member=member,
        period_start=start,
        period_end=end,
        version=version,
        commit=Decimal(commit),
        best_case=Decimal(max(commit, likely or 0) * 2),
        most_likely=None if likely is None else Decimal(likely),
        submitted_by=member,
        model={"p50": p50} if p50 is not None else {},
        created_at=at,
    )


@pytest.fixture
def history(personas):
    """The rep wins 1000, 2000, 500 in three quarters; their final calls were 800, 2500 (most likely), 600."""
    p = personas
    ws = p.workspace
    for (start, _end), amount in zip(QUARTERS, (1000, 2000, 500), strict=True):
        make_deal(
            ws,
            owner=p.rep,
            amount=amount,
            stage="Closed Won",
            at=datetime.combine(start, datetime.min.time(), UTC).replace(day=15),
        )
    # Another rep's win is not in the rep's scope.
    make_deal(ws, owner=p.other_rep, amount=7777, stage="Closed Won", at=datetime(2026, 2, 3, tzinfo=UTC))
    (q1s, q1e), (q2s, q2e), (q3s, q3e) = QUARTERS
    call(p.rep, q1s, q1e, 700, at=datetime(2026, 1, 10, tzinfo=UTC), version=1)
    call(p.rep, q1s, q1e, 800, at=datetime(2026, 3, 20, tzinfo=UTC), version=2)
    call(p.rep, q1s, q1e, 9999, at=datetime(2026, 4, 5, tzinfo=UTC), version=3)  # after the period: not counted
    call(p.rep, q2s, q2e, 1500, 2500, at=datetime(2026, 4, 10, tzinfo=UTC), version=1)
    call(p.rep, q3s, q3e, 600, at=datetime(2026, 8, 1, tzinfo=UTC), version=1)
    return p


def test_accuracy_figures_on_a_constructed_history(history):
    p = history
    with time_machine.travel(datetime(2026, 11, 2, tzinfo=UTC), tick=False):
        report = call_accuracy.accuracy_report(Scope.for_member(p.owner))
    person = next(x for x in report["people"] if x.member == p.rep)
    assert [r["call"] for r in person.rows] == [800, 2500, 600]
    assert [r["actual"] for r in person.rows] == [1000, 2000, 500]
    errors = [(800 - 1000) / 1000 * 100, (2500 - 2000) / 2000 * 100, (600 - 500) / 500 * 100]  # -20, +25, +20
    assert person.mae_pct == pytest.approx(np.mean(np.abs(errors)), abs=0.05)
    assert person.bias_pct == pytest.approx(np.mean(errors), abs=0.05)
    # Commit met: 800 ≤ 1000 yes, 1500 ≤ 2000 yes, 600 ≤ 500 no.
    assert person.commit_met_share == pytest.approx(2 / 3, abs=0.001)


def test_a_rep_sees_only_their_teams_accuracy(history):
    p = history
    call(p.other_rep, *QUARTERS[0], 5000, at=datetime(2026, 2, 1, tzinfo=UTC), version=1)
    with time_machine.travel(datetime(2026, 11, 2, tzinfo=UTC), tick=False):
        seen = {x.member for x in call_accuracy.accuracy_report(Scope.for_member(p.rep))["people"]}
        everyone = {x.member for x in call_accuracy.accuracy_report(Scope.for_member(p.owner))["people"]}
    assert seen == {p.rep} and everyone == {p.rep, p.other_rep}


def _obs(rng, periods: int, informative: bool) -> list[Observation]:
    out = []
    for k in range(periods):
        for _ in range(6):
            model = 100_000.0
            actual = model * float(np.exp(rng.normal(0, 0.3)))
            private = (actual - model) * 0.6 if informative else model * rng.normal(0, 0.3)
            out.append(Observation(date(2024, 1, 1).replace(year=2020 + k), model, model + private, actual))
    return out


def test_calls_that_know_something_get_weight_and_noise_gets_none():
    rng = np.random.default_rng(3)
    found = call_signal(_obs(rng, 8, informative=True))
    assert found.has_signal and 0.4 < found.weight <= 1.0
    assert found.mae_blend < found.mae_model and "Calls add signal" in found.statement
    noise = call_signal(_obs(rng, 8, informative=False))
    assert not noise.has_signal and "no signal" in noise.statement


def test_too_little_history_says_so():
    result = call_signal([Observation(date(2026, 1, 1), 100.0, 120.0, 110.0)])
    assert not result.has_signal and "Not enough history" in result.statement


def test_accuracy_in_the_api_and_on_the_page(history):
    p = history
    _key, raw = api_key_create(workspace=p.workspace, name="tests", created_by=p.owner)
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    with time_machine.travel(datetime(2026, 11, 2, tzinfo=UTC), tick=False):
        body = json.loads(client.get("/api/v1/forecasts/calls/accuracy").content)
        page = p.client_for(p.owner).get(f"/w/{p.workspace.slug}/forecast/calls/accuracy/")
    person = next(x for x in body["people"] if x["name"] == p.rep.display_name)
    assert person["periods"] == 3 and person["commit_met_share"] == pytest.approx(0.667, abs=0.001)
    assert set(body["signal"]) >= {"weight", "mae_model", "mae_blend", "has_signal", "statement"}
    assert page.status_code == 200
    # These calls stored no model P50, so there is nothing to test the calls against: the page says so.
    assert "Not enough history" in body["signal"]["statement"]
    assert "Not enough history" in page.content.decode()
    assert p.rep.display_name in page.content.decode()
    assert Client().get("/api/v1/forecasts/calls/accuracy").status_code == 401


def test_when_calls_carry_signal_the_call_page_blends_them(personas):
    """Four past quarters in which the rep's calls knew the outcome far better than the model."""
    from forecasting import calls

    p = personas
    ws = p.workspace
    past = [(date(2025, 10, 1), date(2025, 12, 31)), *QUARTERS]
    for k, (start, end) in enumerate(past):
        actual = 1000 * (k + 1)
        make_deal(
            ws, owner=p.rep, amount=actual, stage="Closed Won", at=datetime(start.year, start.month, 20, tzinfo=UTC)
        )
        model = 2000 if k % 2 == 0 else 500  # the model is far off, in both directions
        call(
            p.rep,
            start,
            end,
            actual * 0.9,
            actual,
            at=datetime(start.year, start.month, 5, tzinfo=UTC),
            version=1,
            p50=model,
        )
    with time_machine.travel(datetime(2026, 11, 2, tzinfo=UTC), tick=False):
        signal = call_accuracy.workspace_signal(ws)
        assert signal.has_signal and signal.weight > 0.5
        # This quarter: a stored run puts the rep's P50 at 4,000; the rep calls 6,000.
        from forecasting.models import ForecastRun

        q = [40.0 * i for i in range(101)]
        ForecastRun.objects.create(
            workspace=ws, as_of=datetime(2026, 11, 1, tzinfo=UTC), period_start=date(2026, 10, 1),
            period_end=date(2026, 12, 31), sims=1, mean=0, percentiles={},
            rollups={"reps": [{"id": p.rep.uuid.hex, "p50": 2000.0, "q": q}], "teams": [], "workspace": None},
        )  # fmt: skip
        calls.call_submit(
            scope=Scope.for_member(p.rep), member=p.rep, period_start=date(2026, 10, 1), period_end=date(2026, 12, 31),
            commit=Decimal(5000), best_case=Decimal(8000), most_likely=Decimal(6000),
        )  # fmt: skip
        page = p.client_for(p.owner).get("/w/acme/forecast/calls/").content.decode()
    w = signal.weight
    assert f"Model + calls (w {w:.2f})" in page
    assert f"{ws.currency} {(1 - w) * 2000 + w * 6000:,.0f}" in page
