"""The demo's history of calls: causal (each call made before its period ended, beside the model of its day),
once only, and enough for the accuracy page to say something."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from forecasting import call_accuracy
from forecasting.call_demo import PAST_QUARTERS, demo_calls
from forecasting.compute import end_of_day
from forecasting.models import Target
from forecasting.models_calls import CallSubmission
from tenancy.models import Workspace
from tenancy.scope import Scope

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings, monkeypatch):
    settings.DEBUG = True
    settings.DEMO_SEED_HOOKS = ["forecasting.tasks.demo_targets", "forecasting.call_demo.demo_calls"]
    monkeypatch.setattr("forecasting.compute.DEFAULT_SIMS", 500)
    monkeypatch.setattr("crm.management.commands.seed_demo.deals_changed", lambda **kwargs: None)
    out = StringIO()
    call_command("seed_demo", "--scale", "0.15", "--seed", "5", "--json", stdout=out)
    return Workspace.objects.get(slug=json.loads(out.getvalue())["workspace"])


def test_demo_calls_are_causal_and_written_once(demo):
    versions = list(CallSubmission.objects.for_workspace(demo))
    today = demo.today()
    past = [v for v in versions if v.period_end < today]
    assert len({v.period_start for v in past}) == PAST_QUARTERS
    for v in past:
        assert v.created_at <= end_of_day(v.period_end, demo)
        assert v.model.get("p50") is not None and v.model.get("q")
        assert v.commit <= v.most_likely <= v.best_case
    current = [v for v in versions if v.period_end >= today]
    assert current and any(v.adjusted and v.reason for v in current)
    assert demo_calls(demo.id) == 0  # a re-run of the hooks adds nothing
    report = call_accuracy.accuracy_report(Scope.whole_workspace(demo))
    assert report["people"] and report["signal"].periods == PAST_QUARTERS
    assert report["signal"].statement.startswith(("Calls add signal", "Calls carry no signal"))
    # Rep and team quotas for this quarter, split from the workspace's target.
    assert Target.objects.for_workspace(demo).filter(owner__isnull=False).exists()
    assert Target.objects.for_workspace(demo).filter(team__isnull=False).exists()
