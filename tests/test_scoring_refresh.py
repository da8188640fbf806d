"""Scores follow deal changes: a change through crm.services queues one coalesced rescoring job."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings as django_settings

from crm.models import ActivityKind
from crm.services import activity_log, deal_create, deal_update
from scoring.artifacts import scorer_save
from scoring.features import Vocabulary, build_features, training_snapshots
from scoring.management.commands.bench_scoring import synthetic_raw
from scoring.model import fit_scorer
from scoring.models import DealScore, ModelStatus, ScoringModel
from scoring.schedules import SCHEDULES
from tenancy.jobs import run_pending
from tenancy.models import PendingJob
from tests.factories import default_stage

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
HANDLER = "scoring.tasks.on_deals_changed"


@pytest.fixture
def learned_model(personas, settings, tmp_path):
    """An active learned model (trained on synthetic history where bigger deals win more)."""
    settings.MODELS_DIR = tmp_path / "models"
    raw = synthetic_raw(n_open=20, n_closed=600, seed=1)
    s = training_snapshots(raw)
    vocab = Vocabulary.fit(raw.attributes)
    x, names = build_features(raw, s.deal, s.t, vocab)
    scorer = fit_scorer(x, s.y, s.weight, s.deal, s.closed, names, vocab)
    assert not scorer.is_fallback, scorer.reason
    path = tmp_path / "scorer.json"
    scorer_save(path, scorer)
    return ScoringModel.objects.create(
        workspace=personas.workspace,
        version=1,
        kind=scorer.kind,
        status=ModelStatus.ACTIVE,
        artifact_path=str(path),
        feature_names=names,
    )


def test_a_deal_update_rescores_the_deal_through_the_coalesced_handler(
    personas, learned_model, django_capture_on_commit_callbacks
):
    assert HANDLER in django_settings.DEAL_CHANGE_HANDLERS
    key = f"{HANDLER}:{personas.workspace.id}"
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            deal = deal_create(
                workspace=personas.workspace,
                actor=personas.rep,
                title="Small pilot",
                stage=default_stage(personas.workspace, "Prospecting"),
                owner=personas.rep,
                amount=Decimal("900"),
                expected_close_date=date(2025, 4, 1),
                at=NOW - timedelta(days=20),
                created_at=NOW - timedelta(days=20),
            )
        run_pending(key)
        before = DealScore.objects.get(deal=deal)

        # Several changes in a row are merged into one pending job for the workspace.
        with django_capture_on_commit_callbacks(execute=True):
            deal_update(deal=deal, actor=personas.rep, changes={"amount": Decimal("400000")})
            for i in range(3):
                activity_log(
                    workspace=personas.workspace,
                    actor=personas.rep,
                    kind=ActivityKind.MEETING,
                    subject=f"workshop {i}",
                    deal=deal,
                    occurred_at=NOW - timedelta(days=i),
                )
        assert PendingJob.objects.filter(key=key).count() == 1
        run_pending(key)

    after = DealScore.objects.get(deal=deal)
    assert after.probability > before.probability + 0.05, (before.probability, after.probability)
    assert after.features["amount_log"] > before.features["amount_log"]
    assert after.factors != before.factors
    assert "deal size" in str(after.factors["up"])
    assert not PendingJob.objects.filter(key=key).exists()


def test_every_open_deal_is_rescored_nightly():
    nightly = {s["func"]: s for s in SCHEDULES}
    assert nightly["scoring.tasks.rescore_all"]["cron"].split()[2:] == ["*", "*", "*"]
