"""Deal scoring: no leakage, honest fallback, the activation rule, explanations, flags, views and API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from crm.models import ActivityKind, Deal, Outcome
from crm.services import activity_log, deal_create, deal_update
from scoring.features import Vocabulary, build_features, to_days
from scoring.loader import load_raw
from scoring.management.commands.bench_scoring import synthetic_raw
from scoring.model import MIN_WON, fit_scorer, metrics
from scoring.models import DealScore, ModelStatus, ScoreFlag, ScoringModel
from scoring.services import outcomes_capture, scorer_rollback, scorer_train, scores_refresh
from tenancy.services import api_key_create
from tests.factories import default_stage

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _models_dir(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"


def _deal(personas, title="Deal", at=T0, stage="Prospecting", **fields) -> Deal:
    return deal_create(
        workspace=personas.workspace,
        actor=personas.rep,
        title=title,
        stage=default_stage(personas.workspace, stage),
        owner=personas.rep,
        at=at,
        created_at=at,
        **fields,
    )


def test_features_as_of_t_ignore_everything_after_t(personas):
    """Adding history and activities after T leaves the features as of T unchanged (no leakage)."""
    deal = _deal(personas, amount=Decimal("10000"), expected_close_date=date(2025, 3, 1))
    activity_log(
        workspace=personas.workspace,
        actor=personas.rep,
        kind=ActivityKind.CALL,
        subject="intro",
        deal=deal,
        occurred_at=T0 + timedelta(days=2),
    )
    t = to_days(T0 + timedelta(days=10))
    raw = load_raw(personas.workspace.id)
    vocab = Vocabulary.fit(raw.attributes)
    before, names = build_features(raw, np.array([raw.index[deal.id]]), np.array([t]), vocab)

    later = T0 + timedelta(days=20)
    deal_update(
        deal=deal,
        actor=personas.rep,
        at=later,
        changes={
            "stage": default_stage(personas.workspace, "Negotiation"),
            "amount": Decimal("90000"),
            "expected_close_date": date(2025, 6, 1),
            "probability": 90,
        },
    )
    for i in range(5):
        activity_log(
            workspace=personas.workspace,
            actor=personas.rep,
            kind=ActivityKind.MEETING,
            subject=f"m{i}",
            deal=deal,
            occurred_at=later + timedelta(days=i),
        )
    deal_update(
        deal=deal,
        actor=personas.rep,
        at=later + timedelta(days=9),
        changes={"stage": default_stage(personas.workspace, "Closed Won")},
    )

    raw = load_raw(personas.workspace.id)
    after, _ = build_features(raw, np.array([raw.index[deal.id]]), np.array([t]), vocab)
    np.testing.assert_array_equal(np.nan_to_num(before, nan=-999), np.nan_to_num(after, nan=-999))
    f = dict(zip(names, after[0], strict=True))
    assert f["act_call_30d"] == 1 and f["act_meeting_90d"] == 0
    assert f["amount_log"] == pytest.approx(np.log1p(10000))
    assert f["days_to_close"] == pytest.approx(to_days(date(2025, 3, 1)) - t)
    # ...while as of a later T the new facts are seen.
    late, _ = build_features(raw, np.array([raw.index[deal.id]]), np.array([to_days(later + timedelta(days=6))]), vocab)
    assert dict(zip(names, late[0], strict=True))["act_meeting_30d"] == 5


def test_too_few_outcomes_fall_back_to_stage_rates():
    raw = synthetic_raw(n_open=10, n_closed=60, seed=3)
    from scoring.features import training_snapshots

    s = training_snapshots(raw)
    vocab = Vocabulary.fit(raw.attributes)
    x, names = build_features(raw, s.deal, s.t, vocab)
    scorer = fit_scorer(x, s.y, s.weight, s.deal, s.closed, names, vocab)
    assert scorer.is_fallback and scorer.kind == "stage_rate"
    assert "Too little history" in scorer.reason and str(MIN_WON) in scorer.reason


def test_model_on_learnable_data_is_calibrated_and_explained():
    raw = synthetic_raw(n_open=200, n_closed=1200, seed=1)
    from scoring.features import training_snapshots

    s = training_snapshots(raw)
    vocab = Vocabulary.fit(raw.attributes)
    x, names = build_features(raw, s.deal, s.t, vocab)
    scorer = fit_scorer(x, s.y, s.weight, s.deal, s.closed, names, vocab)
    assert not scorer.is_fallback, scorer.reason
    held = metrics(s.y[scorer.heldout], scorer.heldout_p, s.weight[scorer.heldout])
    assert held["auc"] > scorer.validation["baselines"]["stage_rate"]["auc"]
    assert held["ece"] < 0.08
    explanations = scorer.explain(x[:5])
    assert all(e["up"] or e["down"] for e in explanations)
    assert "amount_log" in {name for e in explanations for name, _ in e["up"] + e["down"]} | set(scorer.importance)


def test_unpredictable_outcomes_are_not_given_a_model():
    """Outcomes that are coin flips whatever the features: the scorer must say so and fall back to rates."""
    raw = synthetic_raw(n_open=50, n_closed=1200, seed=2)
    rng = np.random.default_rng(0)
    closed = raw.outcome != 0
    raw.outcome[closed] = np.where(rng.random(closed.sum()) < 0.6, 1, 2)
    from scoring.features import training_snapshots

    s = training_snapshots(raw)
    vocab = Vocabulary.fit(raw.attributes)
    x, names = build_features(raw, s.deal, s.t, vocab)
    scorer = fit_scorer(x, s.y, s.weight, s.deal, s.closed, names, vocab)
    assert scorer.is_fallback, scorer.reason
    assert "was not used" in scorer.reason and "by more than noise" in scorer.reason
    assert scorer.kind in {"stage_rate", "stage_segment", "base_rate"}


def _history(personas, n_won=3, n_lost=3):
    deals = []
    for i in range(n_won + n_lost):
        d = _deal(personas, title=f"D{i}", at=T0 + timedelta(days=i), amount=Decimal(1000 + i))
        stage = "Closed Won" if i < n_won else "Closed Lost"
        deal_update(
            deal=d,
            actor=personas.rep,
            at=T0 + timedelta(days=40 + i),
            changes={"stage": default_stage(personas.workspace, stage)},
        )
        deals.append(d)
    return deals


def test_training_activation_rollback_and_scores(personas):
    _history(personas)
    open_deal = _deal(personas, title="Open one", at=T0 + timedelta(days=50))
    first = scorer_train(workspace=personas.workspace)
    assert first.status == ModelStatus.ACTIVE and first.is_fallback
    assert "First version" in first.decision
    assert scores_refresh(workspace_id=personas.workspace.id) == 1
    score = DealScore.objects.get(deal=open_deal)
    assert 0 < score.probability < 1 and score.model == first

    second = scorer_train(workspace=personas.workspace)
    # Neither has held-out data to judge on; the fresher fallback replaces the old one.
    first.refresh_from_db()
    assert second.status == ModelStatus.ACTIVE and first.status == ModelStatus.RETIRED
    assert scorer_rollback(workspace=personas.workspace) == first
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == ModelStatus.ACTIVE and second.status == ModelStatus.CANDIDATE
    assert ScoringModel.objects.filter(workspace=personas.workspace, status=ModelStatus.ACTIVE).count() == 1


def test_outcome_capture_settles_flags(personas):
    _history(personas)
    deal = _deal(personas, title="Flagged", at=T0 + timedelta(days=50))
    scorer_train(workspace=personas.workspace)
    scores_refresh(workspace_id=personas.workspace.id)
    client = personas.client_for(personas.rep)
    url = reverse("scoring:flag", args=[personas.workspace.slug, deal.uuid])
    response = client.post(url, {"direction": "too_low", "reason": "Champion signed off"})
    assert response.status_code == 200 and b"flag is recorded" in response.content
    flag = ScoreFlag.objects.get(deal=deal)
    assert flag.flagged_by == personas.rep and flag.outcome == ""

    deal_update(deal=deal, actor=personas.rep, changes={"stage": default_stage(personas.workspace, "Closed Won")})
    outcomes_capture(workspace_id=personas.workspace.id, deal_ids=[deal.id])
    outcomes_capture(workspace_id=personas.workspace.id, deal_ids=[deal.id])  # idempotent
    flag.refresh_from_db()
    assert flag.outcome == Outcome.WON and flag.rep_was_right is True
    assert deal.outcome_record.score == pytest.approx(flag.score_at_flag)
    page = personas.client_for(personas.manager).get(reverse("scoring:model", args=[personas.workspace.slug]))
    assert b"Champion signed off" in page.content and b"rep right" in page.content


def test_views_permissions(personas):
    _history(personas)
    deal = _deal(personas, title="Open one", at=T0 + timedelta(days=50))
    scorer_train(workspace=personas.workspace)
    scores_refresh(workspace_id=personas.workspace.id)
    panel = reverse("scoring:deal_panel", args=[personas.workspace.slug, deal.uuid])
    flag = reverse("scoring:flag", args=[personas.workspace.slug, deal.uuid])

    ok = personas.client_for(personas.rep).get(panel)
    assert ok.status_code == 200 and b"Model: win chance" in ok.content and b"Flag this score" in ok.content
    assert personas.client_for(personas.outsider).get(panel).status_code == 404
    assert (
        personas.client_for(personas.rep)
        .get(reverse("scoring:deal_panel", args=[personas.workspace.slug, "nope"]))
        .status_code
        == 404
    )
    assert personas.client_for(personas.viewer).post(flag, {"direction": "too_high", "reason": "x"}).status_code == 403
    assert personas.client_for(personas.rep).get(flag).status_code == 405
    bad = personas.client_for(personas.rep).post(flag, {"direction": "sideways", "reason": ""})
    assert bad.status_code == 400 and not ScoreFlag.objects.exists()
    assert (
        personas.client_for(personas.viewer).get(reverse("scoring:model", args=[personas.workspace.slug])).status_code
        == 200
    )
    assert (
        personas.client_for(personas.outsider).get(reverse("scoring:model", args=[personas.workspace.slug])).status_code
        == 404
    )
    assert (
        personas.client_for(personas.rep).post(reverse("scoring:rollback", args=[personas.workspace.slug])).status_code
        == 403
    )


def test_api(personas):
    _history(personas)
    deal = _deal(personas, title="Open one", at=T0 + timedelta(days=50))
    _, key = api_key_create(workspace=personas.workspace, name="ml")
    _, other_key = api_key_create(workspace=personas.other_workspace, name="ml")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    info = client.get("/api/v1/ml/model-info").json()
    assert info["active"] is False
    assert (
        client.post("/api/v1/ml/score-deal", {"deal_id": str(deal.uuid)}, content_type="application/json").status_code
        == 409
    )

    scorer_train(workspace=personas.workspace)
    info = client.get("/api/v1/ml/model-info").json()
    assert info["active"] and info["fallback"] and info["kind"] == "stage_rate"
    one = client.post("/api/v1/ml/score-deal", {"deal_id": str(deal.uuid)}, content_type="application/json")
    assert one.status_code == 200 and 0 < one.json()["probability"] < 1
    many = client.post("/api/v1/ml/score-multiple", {"deal_ids": [str(deal.uuid)]}, content_type="application/json")
    assert many.status_code == 200 and len(many.json()["scores"]) == 1
    other = Client(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    assert (
        other.post("/api/v1/ml/score-deal", {"deal_id": str(deal.uuid)}, content_type="application/json").status_code
        == 404
    )
    assert (
        client.post("/api/v1/ml/score-multiple", {"deal_ids": []}, content_type="application/json").status_code == 422
    )
