"""The weekly forecast call: versions, adjustments, roll-ups, the model's distribution, visibility, the page."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from crm.models import ForecastCategory
from crm.services import deal_update
from forecasting import calls
from forecasting.models import ForecastRun
from forecasting.models_calls import CallSettings, CallSubmission
from tenancy.models import Role
from tenancy.scope import Scope
from tests.factories import MembershipFactory, TeamFactory, UserFactory, make_deal

pytestmark = pytest.mark.django_db

START, END = date(2026, 10, 1), date(2026, 12, 31)


@pytest.fixture(autouse=True)
def _mid_quarter():
    """Every test runs on a Wednesday in the middle of the quarter its calls are for."""
    with time_machine.travel(datetime(2026, 11, 18, 9, 0, tzinfo=UTC), tick=True):
        yield


def submit(by, member=None, commit=100, best=200, likely=None, reason="", at=None):
    return calls.call_submit(
        scope=Scope.for_member(by),
        member=member or by,
        period_start=START,
        period_end=END,
        commit=Decimal(commit),
        best_case=Decimal(best),
        most_likely=None if likely is None else Decimal(likely),
        reason=reason,
        now=at,
    )


def q_of(samples: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in np.percentile(samples, np.arange(101))]


def store_run(ws, reps: dict, teams: dict, workspace_samples: np.ndarray) -> ForecastRun:
    """A run whose roll-ups hold the percentiles of the given simulated totals (as forecast_run stores them)."""

    def row(ident: str, samples: np.ndarray) -> dict:
        q = q_of(samples)
        return {"id": ident, "name": ident, "p10": q[10], "p50": q[50], "p90": q[90], "q": q}

    return ForecastRun.objects.create(
        workspace=ws,
        as_of=timezone.now(),
        period_start=START,
        period_end=END,
        sims=len(workspace_samples),
        mean=float(workspace_samples.mean()),
        percentiles={"p50": float(np.median(workspace_samples))},
        rollups={
            "reps": [row(m.uuid.hex, s) for m, s in reps.items()],
            "teams": [row(t.uuid.hex, s) for t, s in teams.items()],
            "workspace": row("", workspace_samples),
        },
    )


def test_every_version_is_kept_and_an_adjustment_needs_a_reason(personas):
    p = personas
    first = submit(p.rep, commit=100, best=150)
    second = submit(p.rep, commit=120, best=180, likely=150)
    with pytest.raises(ValidationError) as exc:
        submit(p.manager, member=p.rep, commit=90, best=150)
    assert "reason" in exc.value.message_dict
    adjusted = submit(p.manager, member=p.rep, commit=90, best=150, reason="Globex slips to January")
    versions = list(CallSubmission.objects.filter(member=p.rep).order_by("version"))
    assert [v.version for v in versions] == [1, 2, 3]
    assert [v.commit for v in versions] == [Decimal(100), Decimal(120), Decimal(90)]
    assert versions[0].id == first.id and versions[1].most_likely == Decimal(150)
    assert adjusted.submitted_by == p.manager and adjusted.adjusted and not second.adjusted
    assert adjusted.reason == "Globex slips to January"


def test_who_may_adjust_whom(personas):
    p = personas
    with pytest.raises(PermissionDenied):
        submit(p.rep, member=p.other_rep, reason="x")  # a rep adjusts nobody
    with pytest.raises(PermissionDenied):
        submit(p.manager, member=p.other_rep, reason="x")  # West is not the manager's team
    with pytest.raises(PermissionDenied):
        submit(p.viewer)
    assert submit(p.owner, member=p.other_rep, reason="Board view").member == p.other_rep


def test_bad_numbers_are_refused_by_field(personas):
    with pytest.raises(ValidationError) as exc:
        submit(personas.rep, commit=300, best=200, likely=500)
    assert set(exc.value.message_dict) == {"best_case", "most_likely"}
    with pytest.raises(ValidationError) as exc:
        calls.call_submit(
            scope=Scope.for_member(personas.rep), member=personas.rep, period_start=date(2026, 7, 1),
            period_end=date(2026, 9, 30), commit=Decimal(1), best_case=Decimal(2),
        )  # fmt: skip
    assert "That period is over" in exc.value.message_dict["period_start"][0]
    assert not CallSubmission.objects.exists()


def test_position_in_the_distribution_matches_the_samples(personas):
    p = personas
    rng = np.random.default_rng(7)
    rep_samples = rng.gamma(4.0, 25_000, 10_000)
    run = store_run(p.workspace, {p.rep: rep_samples}, {}, rep_samples * 3)
    version = submit(p.rep, commit=90_000, best=140_000)
    overview = calls.calls_overview(Scope.for_member(p.owner), START, END)
    mine = next(c for c in overview["calls"] if c.member == p.rep)
    for value in (version.commit, version.best_case):
        by_hand = float(np.mean(rep_samples >= float(value)))
        assert mine.chance(value) == pytest.approx(by_hand, abs=0.011)
    assert mine.model_p50 == pytest.approx(float(np.percentile(rep_samples, 50)), rel=1e-6)
    # The version remembers the model as it stood when the call was made.
    assert version.model["run"] == run.uuid.hex and version.model["p50"] == mine.model_p50


def test_rollup_sums_each_level(personas):
    """Workspace ← East (manager) ← East-2 (sub-manager, two reps); East also has its own rep."""
    p = personas
    ws = p.workspace
    east = p.rep.team
    sub = MembershipFactory(workspace=ws, role=Role.MANAGER, user=UserFactory(email="sub@acme.test"))
    east2 = TeamFactory(workspace=ws, name="East-2", manager=sub, parent=east)
    sub.team = east  # the sub-manager sits in the team above the one they lead
    sub.save()
    a = MembershipFactory(workspace=ws, role=Role.REP, team=east2, user=UserFactory(email="a@acme.test"))
    b = MembershipFactory(workspace=ws, role=Role.REP, team=east2, user=UserFactory(email="b@acme.test"))
    submit(a, commit=100, best=150)
    submit(b, commit=50, best=80)
    submit(b, commit=60, best=90)  # only the latest version counts
    submit(p.rep, commit=30, best=40)
    submit(p.other_rep, commit=1000, best=1000)

    def levels(member):
        out = {}

        def walk(n):
            out[n.name] = n
            for c in n.children:
                walk(c)

        for node in calls.calls_overview(Scope.for_member(member), START, END)["tree"]:
            walk(node)
        return out

    tree = levels(p.owner)
    assert tree["East-2"].below_commit == 160  # a 100 + b 60
    # Without the sub-manager's call East-2 passes its sum up; East adds its own rep and the sub-manager (no call).
    assert tree["East"].below_commit == 160 + 30
    submit(sub, commit=140, best=200)
    tree = levels(p.owner)
    assert tree["East"].below_commit == 140 + 30  # now the sub-manager's call stands for East-2
    assert tree["East-2"].manager.latest.commit == 140
    assert tree["Workspace"].below_commit == 170 + 1000  # West has no manager: its reps' sum
    assert tree["East-2"].below_best_case == 150 + 90


def test_visibility_rep_sees_own_team_manager_the_subtree(personas):
    p = personas
    submit(p.rep, commit=111, best=222)
    submit(p.other_rep, commit=333, best=444)
    for member, seen, hidden in ((p.rep, p.rep, p.other_rep), (p.manager, p.rep, p.other_rep)):
        overview = calls.calls_overview(Scope.for_member(member), START, END)
        shown = {c.member for c in overview["calls"]}
        assert seen in shown and hidden not in shown
        # The status list is everyone's; only the numbers stay in sight.
        assert {s["member"] for s in overview["status"]} >= {p.rep, p.other_rep}
    owner_view = {c.member for c in calls.calls_overview(Scope.for_member(p.owner), START, END)["calls"]}
    assert {p.rep, p.other_rep} <= owner_view


def test_status_against_the_due_moment(personas):
    ws = personas.workspace
    CallSettings.objects.create(workspace=ws, due_weekday=0, due_time=time(12, 0))
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a Wednesday; last due Monday 23 Nov 12:00
    last_due, next_due = calls.due_moments(ws, now)
    assert last_due == datetime(2026, 11, 23, 12, 0, tzinfo=UTC) and next_due - last_due == timedelta(days=7)
    on_time = [datetime(2026, 11, 23, 11, 0, tzinfo=UTC)]
    late = [datetime(2026, 11, 24, 8, 0, tzinfo=UTC)]
    too_old = [datetime(2026, 11, 16, 11, 0, tzinfo=UTC)]
    assert calls.submission_status(on_time, last_due, now) == "submitted"
    assert calls.submission_status(late, last_due, now) == "late"
    assert calls.submission_status(too_old, last_due, now) == "missing"


def test_an_adjustment_does_not_count_as_the_reps_own_submission(personas):
    p = personas
    now = timezone.now()
    submit(p.manager, member=p.rep, reason="pre-fill", at=now - timedelta(hours=1))
    overview = calls.calls_overview(Scope.for_member(p.owner), START, END, now=now)
    status = {s["member"]: s["status"] for s in overview["status"]}
    assert status[p.rep] in {"missing", "late"} and status[p.rep] != "submitted"


def test_suggestions_from_forecast_categories(personas):
    p = personas
    ws = p.workspace
    close = date(2026, 11, 15)
    commit = make_deal(ws, owner=p.rep, amount=1000, stage="Negotiation", expected_close_date=close)
    make_deal(ws, owner=p.rep, amount=500, stage="Proposal", expected_close_date=close)
    make_deal(ws, owner=p.rep, amount=700, stage="Prospecting", expected_close_date=close)
    make_deal(ws, owner=p.rep, amount=9000, stage="Negotiation", expected_close_date=date(2027, 2, 1))
    pipeline_deal = make_deal(ws, owner=p.rep, amount=300, stage="Prospecting", expected_close_date=close)
    deal_update(deal=pipeline_deal, actor=p.rep, changes={"forecast_category": ForecastCategory.COMMIT})
    hint = calls.suggestion_for(p.rep, START, END)
    # Negotiation's deals are Commit by default, Proposal's Best Case; the override moves one into Commit;
    # the Negotiation deal closing next quarter does not count.
    assert hint["commit"] == 1000 + 300
    assert hint["best_case"] == 1000 + 300 + 500
    assert commit.effective_forecast_category == ForecastCategory.COMMIT


def test_page_submit_adjust_and_access(personas):
    p = personas
    url = f"/w/{p.workspace.slug}/forecast/calls/"
    rep_client = p.client_for(p.rep)
    response = rep_client.post(
        url + "submit/", {"commit": "1000", "best_case": "2000", "period_start": START.isoformat()}
    )
    assert response.status_code == 302
    assert CallSubmission.objects.get(member=p.rep).commit == Decimal(1000)
    manager_client = p.client_for(p.manager)
    refused = manager_client.post(
        url + "submit/",
        {"member": p.rep.uuid, "commit": "800", "best_case": "1500", "period_start": START.isoformat()},
    )
    assert refused.status_code == 422 and "Say why" in refused.content.decode()
    manager_client.post(
        url + "submit/",
        {
            "member": p.rep.uuid,
            "commit": "800",
            "best_case": "1500",
            "reason": "Deal X slipped",
            "period_start": START.isoformat(),
        },
    )
    assert CallSubmission.objects.filter(member=p.rep).count() == 2
    page = p.client_for(p.owner).get(url + f"?on={START.isoformat()}").content.decode()
    assert "Deal X slipped" in page and "2 versions" in page
    # Another team's member is not someone a manager can adjust: the same 403 as any refusal.
    west = manager_client.post(
        url + "submit/",
        {"member": p.other_rep.uuid, "commit": "1", "best_case": "2", "reason": "x", "period_start": START},
    )
    assert west.status_code in {403, 422}
    assert not CallSubmission.objects.filter(member=p.other_rep).exists()
    assert p.client_for(p.viewer).post(url + "submit/", {"commit": "1", "best_case": "2"}).status_code == 403
    assert p.client_for(p.outsider).get(url).status_code == 404
    assert rep_client.put(url).status_code == 405
    rep_page = rep_client.get(url + f"?on={START.isoformat()}").content.decode()
    assert p.other_rep.display_name in rep_page  # in the status list
    assert "Deal X slipped" in rep_page


def test_the_digest_reminds_callers_of_their_status(personas):
    from alerts.delivery.email import render_digest

    p = personas
    missing = render_digest(p.rep, [], "weekly")
    assert "Forecast call for" in missing["text"] and "your status is missing" in missing["text"]
    assert "/w/acme/forecast/calls/" in missing["html"]
    last_due, _ = calls.due_moments(p.workspace)
    calls.call_submit(
        scope=Scope.for_member(p.rep),
        member=p.rep,
        period_start=calls.current_period(p.workspace)[0],
        period_end=calls.current_period(p.workspace)[1],
        commit=Decimal(1),
        best_case=Decimal(2),
        now=last_due - timedelta(hours=1),
    )
    assert "your status is submitted" in render_digest(p.rep, [], "weekly")["text"]
    assert "Forecast call" not in render_digest(p.owner, [], "weekly")["text"]  # owners are not asked to call


def test_the_api_lists_a_periods_versions_with_their_chances(personas):
    import json

    from django.test import Client

    from tenancy.services import api_key_create

    p = personas
    samples = np.random.default_rng(2).gamma(3.0, 1000, 10_000)
    store_run(p.workspace, {p.rep: samples}, {}, samples)
    submit(p.rep, commit=2000, best=4000)
    submit(p.manager, member=p.rep, commit=1500, best=3000, reason="slipped")
    _key, raw = api_key_create(workspace=p.workspace, name="t", created_by=p.owner)
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    body = json.loads(client.get(f"/api/v1/forecasts/calls/?on={START.isoformat()}").content)
    mine = sorted((v for v in body["versions"] if v["member"] == str(p.rep.uuid)), key=lambda v: v["version"])
    assert [v["commit"] for v in mine] == [2000, 1500] and mine[1]["reason"] == "slipped"
    assert mine[0]["chance_commit"] == pytest.approx(float(np.mean(samples >= 2000)), abs=0.011)
    assert body["status"][p.rep.uuid.hex] in {"submitted", "late", "missing"}
    assert client.get("/api/v1/forecasts/calls/?on=20260105").status_code == 422  # a date, not a number
    assert Client().get("/api/v1/forecasts/calls/").status_code == 401


def test_the_due_day_is_set_by_admins(personas):
    url = "/w/acme/forecast/calls/settings/"
    data = {"due_weekday": "4", "due_time": "16:30"}
    assert personas.client_for(personas.rep).post(url, data).status_code == 403
    assert personas.client_for(personas.viewer).post(url, data).status_code == 403
    assert personas.client_for(personas.outsider).get(url).status_code == 404
    assert personas.client_for(personas.owner).post(url, data).status_code == 302
    row = CallSettings.objects.get(workspace=personas.workspace)
    assert (row.due_weekday, row.due_time) == (4, time(16, 30))
    assert "Friday" in personas.client_for(personas.rep).get("/w/acme/forecast/calls/").content.decode()
    assert personas.client_for(personas.owner).post(url, {"due_weekday": "9", "due_time": "x"}).status_code == 422


def test_the_call_page_query_count_does_not_grow_with_reps_and_versions(personas):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    p = personas
    client = p.client_for(p.owner)
    path = f"/w/acme/forecast/calls/?on={START.isoformat()}"
    client.get(path)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    submit(p.rep)
    few = count()
    for i in range(6):
        member = MembershipFactory(
            workspace=p.workspace, role=Role.REP, team=p.rep.team, user=UserFactory(email=f"r{i}@acme.test")
        )
        submit(member)
        submit(member, commit=150)
    assert count() == few
