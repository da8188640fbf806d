"""Alerts that earn their priority: a workspace's stored calibration shapes the monitors and the relevance page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from alerts.calibration import NOT_PREDICTIVE, calibration_compute, data_gaps
from alerts.models import Alert, AlertCalibration, AlertKind, Priority
from alerts.services import monitors_run
from tests.alerts_helpers import NOW, log_activity, make_deal

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


FIGURES = {
    "flagged": 40,
    "went_bad": 5,
    "precision": 0.125,
    "lift": 0.5,
    "lift_interval": [0.2, 1.0],
    "precision_interval": [0.05, 0.26],
    "base_rate": 0.25,
}


def _calibrate(workspace, **by_kind):
    return AlertCalibration.objects.create(
        workspace=workspace,
        as_of=NOW - timedelta(days=1),
        origins=["2026-02-28T23:59:59+00:00"],
        by_kind={kind: {**FIGURES, "verdict": verdict} for kind, verdict in by_kind.items()},
        thresholds={},
        base_rate=0.25,
    )


@pytest.fixture
def quiet_big_deal(personas):
    deal = make_deal(personas.workspace, personas.rep, title="Quiet big deal", amount=400_000)
    other = make_deal(personas.workspace, personas.other_rep, title="Busy deal", amount=9_000)
    log_activity(other, days_ago=2)
    return deal


def test_a_rule_that_has_not_predicted_losses_here_is_shown_at_low_with_the_reason(personas, quiet_big_deal):
    monitors_run(workspace=personas.workspace, as_of=NOW)
    before = Alert.objects.get(deal=quiet_big_deal, kind=AlertKind.STALE)
    assert before.priority >= Priority.HIGH  # a large deal with no activity at all ranks high uncalibrated

    _calibrate(personas.workspace, stale="not_predictive")
    monitors_run(workspace=personas.workspace, as_of=NOW + timedelta(hours=1))
    after = Alert.objects.get(deal=quiet_big_deal, kind=AlertKind.STALE)
    assert after.priority == Priority.LOW
    assert NOT_PREDICTIVE in after.why


def test_a_rule_with_too_little_history_is_capped_at_medium(personas, quiet_big_deal):
    _calibrate(personas.workspace, stale="untested")
    monitors_run(workspace=personas.workspace, as_of=NOW)
    alert = Alert.objects.get(deal=quiet_big_deal, kind=AlertKind.STALE)
    assert alert.priority == Priority.MEDIUM and "too few past alerts" in alert.why


def test_a_rule_that_earns_keeps_its_rank(personas, quiet_big_deal):
    _calibrate(personas.workspace, stale="earns")
    monitors_run(workspace=personas.workspace, as_of=NOW)
    assert Alert.objects.get(deal=quiet_big_deal, kind=AlertKind.STALE).priority >= Priority.HIGH


def test_calibration_is_computed_from_past_month_ends_only(personas, quiet_big_deal):
    row = calibration_compute(workspace=personas.workspace, as_of=NOW)
    # Deals were created 60 days before NOW and the horizon is 60 days: no past month end has a known
    # outcome yet, so every rule is untested and no threshold is moved.
    assert row.origins == [] and row.thresholds == {}
    assert {r["verdict"] for r in row.by_kind.values()} == {"untested"}


def test_the_relevance_page_shows_backtest_figures_and_what_cannot_run(personas, quiet_big_deal):
    _calibrate(personas.workspace, stale="not_predictive", stalled="earns")
    response = personas.client_for(personas.owner).get(reverse("alerts:relevance", args=["acme"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "On your history this signal has not predicted losses" in body
    assert "0.125 (0.05–0.26)" in body and "0.5 (0.2–1.0)" in body
    # No contacts linked to deals in this workspace: the page says what to connect.
    assert "Cannot run: this workspace has no contacts linked to deals" in body
    assert "sync contacts with your CRM" in body


def test_without_activities_the_activity_rules_cannot_run(personas):
    make_deal(personas.workspace, personas.rep, title="Imported deal")
    kinds = {gap["kind"] for gap in data_gaps(personas.workspace)}
    assert {"stale", "engagement", "single_threaded"} <= kinds


def test_the_relevance_page_names_each_stages_stalled_threshold(personas):
    """The per-stage choice is shown by stage name with its evidence, never as a raw dict of stage ids."""
    stages = list(personas.workspace.pipelines.get(is_default=True).stages.order_by("order"))
    row = _calibrate(personas.workspace, stalled="earns")
    row.thresholds = {"stall_percentile_by_stage": {str(stages[0].id): 75.0, str(stages[1].id): None}}
    row.by_kind["stalled"]["by_stage"] = [
        {"stage": stages[0].id, "name": stages[0].name, "percentile": 75.0, "flagged": 14, "precision": 0.71,
         "lift": 1.6, "lift_interval": [1.2, 1.9]},
        {"stage": stages[1].id, "name": stages[1].name, "percentile": None, "flagged": 12, "precision": 0.3,
         "lift": 0.9, "lift_interval": [0.5, 1.3]},
    ]  # fmt: skip
    row.save()
    body = personas.client_for(personas.owner).get(reverse("alerts:relevance", args=["acme"])).content.decode()
    assert f'<th scope="row">{stages[0].name}</th>' in body and "the 75th percentile of stays" in body
    assert "1.6 (1.2–1.9)" in body and "Off: on your history no threshold predicted losses here" in body
    assert "stall_percentile_by_stage" not in body and "“stalled” per stage (below)" in body
