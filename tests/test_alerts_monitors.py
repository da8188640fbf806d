"""A monitor pass: alerts created once, refreshed, auto-resolved; the commands' JSON; model drift."""

from __future__ import annotations

import json
from datetime import date, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from alerts.models import Alert, AlertKind, AlertStatus, MonitorRun, Priority
from alerts.services import monitors_run
from scoring.models import DriftReport, ModelStatus, ScoringModel
from tests.alerts_helpers import NOW, log_activity, make_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def deals(personas):
    ws = personas.workspace
    quiet = make_deal(ws, personas.rep, title="Quiet big deal", amount=400_000)
    healthy = make_deal(ws, personas.rep, title="Healthy deal", amount=10_000)
    overdue = make_deal(ws, personas.other_rep, title="Overdue", amount=5_000, close=date(2026, 4, 1))
    for days in (1, 5, 9, 20, 30):
        log_activity(healthy, days_ago=days)
        log_activity(overdue, days_ago=days)
    return {"quiet": quiet, "healthy": healthy, "overdue": overdue}


def _kinds(deal) -> set[str]:
    return set(Alert.objects.filter(deal=deal).active().values_list("kind", flat=True))


def test_a_pass_flags_what_is_wrong_and_nothing_else(personas, deals):
    result = monitors_run(workspace=personas.workspace, as_of=NOW)
    assert result["deals_checked"] == 3
    assert _kinds(deals["quiet"]) == {AlertKind.STALE}
    assert _kinds(deals["healthy"]) == set()
    assert _kinds(deals["overdue"]) == {AlertKind.SLIPPING}
    stale = Alert.objects.get(deal=deals["quiet"])
    assert "No activity logged at all" in stale.seen and stale.why and stale.next_step
    assert result["alerts"]["created"] == 2
    assert result["by_kind"] == {"slipping": 1, "stale": 1}


def test_a_second_pass_creates_nothing(personas, deals):
    monitors_run(workspace=personas.workspace, as_of=NOW)
    again = monitors_run(workspace=personas.workspace, as_of=NOW)
    assert again["alerts"] == {"created": 0, "updated": 0, "resolved": 0}
    assert Alert.objects.count() == 2
    assert MonitorRun.objects.count() == 2


def test_alert_resolves_itself_when_the_condition_clears(personas, deals):
    monitors_run(workspace=personas.workspace, as_of=NOW)
    log_activity(deals["quiet"], days_ago=-0.5)  # a call logged after the first pass
    later = monitors_run(workspace=personas.workspace, as_of=NOW + timedelta(days=1))
    assert later["alerts"]["resolved"] == 1
    alert = Alert.objects.get(deal=deals["quiet"], kind=AlertKind.STALE)
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_at is not None
    # Going quiet again raises a new alert, not the resolved one.
    monitors_run(workspace=personas.workspace, as_of=NOW + timedelta(days=20))
    assert Alert.objects.filter(deal=deals["quiet"], kind=AlertKind.STALE).count() == 2


def test_dismissed_alert_is_not_raised_again_while_its_condition_lasts(personas, deals):
    monitors_run(workspace=personas.workspace, as_of=NOW)
    Alert.objects.filter(deal=deals["quiet"]).update(status=AlertStatus.DISMISSED, not_useful=True)
    result = monitors_run(workspace=personas.workspace, as_of=NOW + timedelta(hours=1))
    assert result["alerts"]["created"] == 0
    assert Alert.objects.get(deal=deals["quiet"]).status == AlertStatus.DISMISSED


def test_the_big_quiet_deal_outranks_the_small_overdue_one(personas, deals):
    monitors_run(workspace=personas.workspace, as_of=NOW)
    first = Alert.objects.for_workspace(personas.workspace).first()
    assert first.deal == deals["quiet"]
    assert first.priority > Alert.objects.get(deal=deals["overdue"]).priority


def test_run_monitors_command_prints_the_json_of_the_issue(personas, deals):
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("run_monitors", "--workspace", "acme", "--as-of", "2026-05-14", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert set(data) == {"deals_checked", "alerts", "by_kind", "by_priority", "seconds"}
    assert set(data["alerts"]) == {"created", "updated", "resolved"}
    assert set(data["by_priority"]) == {"Critical", "High", "Medium", "Low"}
    assert data["alerts"]["created"] == 2


def test_run_monitors_refuses_an_unknown_workspace_or_bad_date(personas):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No workspace"):
        call_command("run_monitors", "--workspace", "nope")
    with pytest.raises(CommandError, match="date like"):
        call_command("run_monitors", "--workspace", "acme", "--as-of", "31/05/2026")


def test_model_drift_from_scorings_report_keeps_one_open_alert_and_resolves(personas):
    ws = personas.workspace
    model = ScoringModel.objects.create(workspace=ws, version=1, kind="logistic", status=ModelStatus.ACTIVE)

    def report(summary: str, days: int) -> None:
        DriftReport.objects.create(workspace=ws, model=model, summary=summary, computed_at=NOW - timedelta(days=days))

    report("Deal scores drifting (v1): Brier 0.31 (was 0.20)", days=3)
    monitors_run(workspace=ws, as_of=NOW - timedelta(days=2))
    report("Deal scores drifting (v1): Brier 0.33 (was 0.20)", days=2)
    monitors_run(workspace=ws, as_of=NOW - timedelta(days=1))
    alerts = Alert.objects.filter(workspace=ws, kind=AlertKind.MODEL_DRIFT)
    assert alerts.count() == 1
    assert alerts.get().seen == "Deal scores drifting (v1): Brier 0.33 (was 0.20)"
    assert alerts.get().priority == Priority.HIGH and alerts.get().status == AlertStatus.OPEN

    report("", days=1)  # the latest check found nothing
    monitors_run(workspace=ws, as_of=NOW)
    assert alerts.get().status == AlertStatus.RESOLVED


def test_coverage_below_target_from_the_workspace_setting(personas, deals):
    from alerts.services import alert_settings_get

    row = alert_settings_get(workspace=personas.workspace)
    row.quarter_target = 1_000_000
    row.save()
    monitors_run(workspace=personas.workspace, as_of=NOW)
    coverage = Alert.objects.get(workspace=personas.workspace, kind=AlertKind.COVERAGE)
    assert "what is left of the target" in coverage.seen
    row.quarter_target = 50_000
    row.save()
    monitors_run(workspace=personas.workspace, as_of=NOW + timedelta(hours=1))
    coverage.refresh_from_db()
    assert coverage.status == AlertStatus.RESOLVED


def test_backtest_command_prints_the_json_of_the_issue(personas, deals):
    out = StringIO()
    call_command(
        "backtest_alerts", "--workspace", "acme", "--as-of", "2026-05-14", "--horizon-days", "60", "--json", stdout=out
    )
    data = json.loads(out.getvalue())
    # The keys it always had, and the new ones beside them.
    assert {"high_critical", "by_kind", "bad_rate_unflagged", "base_rate", "by_priority"} <= set(data)
    assert {"flagged", "precision", "recall", "false_positive_rate", "lift", "lift_interval"} <= set(
        data["high_critical"]
    )
    assert {"flagged", "precision", "recall", "precision_interval", "lift"} <= set(data["by_kind"]["stale"])
    assert set(data["by_priority"]) == {"Critical", "High", "Medium", "Low"}
    # Nothing was won after the date: every deal's due date passed without a win, so all three went bad.
    assert data["base_rate"] == 1.0
    assert data["by_kind"]["stale"]["flagged"] == 1 and data["by_kind"]["stale"]["precision"] == 1.0
    # Too little history before the date to judge any rule: none of them is trusted with High or Critical.
    assert set(data["calibration"]["verdicts"].values()) == {"untested"}
    assert data["high_critical"]["flagged"] == 0
