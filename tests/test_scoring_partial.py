"""Rescoring a changed deal loads only what its features read (load_raw's deal_ids), and scores it exactly as loading
the whole workspace does, other deals' facts included (the rep's, the company's and the stages' past outcomes, the
rep's past probabilities, the workspace's usual deal size, the most similar closed deals)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from crm.models import ActivityKind, Deal
from crm.services import activity_log, deal_create, deal_update
from scoring.features import Vocabulary, build_features, to_days
from scoring.loader import load_raw
from scoring.models import DealScore
from scoring.services import scorer_train, scores_refresh
from similarity.models import DIMENSIONS, DealEmbedding
from tests.factories import CompanyFactory, default_stage

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
AT = T0 + timedelta(days=120)  # when the changed deal is rescored


@pytest.fixture(autouse=True)
def _models_dir(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"


def _embed(deal: Deal, seed: int) -> None:
    vector = np.random.default_rng(seed).normal(size=DIMENSIONS).astype(np.float32)
    DealEmbedding.objects.create(
        deal=deal, workspace=deal.workspace, embedding=vector / np.linalg.norm(vector), text_hash="x", model_name="t"
    )


def _deal(personas, title: str, day: int, owner=None, company=None, **fields) -> Deal:
    return deal_create(
        workspace=personas.workspace,
        actor=personas.rep,
        title=title,
        stage=default_stage(personas.workspace, "Prospecting"),
        owner=owner or personas.rep,
        company=company,
        at=T0 + timedelta(days=day),
        created_at=T0 + timedelta(days=day),
        **fields,
    )


def _workspace(personas):
    """Closed deals of two reps (some at one company) with stage, amount and probability history, activities and
    embeddings; the rep's open deal to rescore, another open deal of theirs, and a scorer."""
    ws = personas.workspace
    acme = CompanyFactory(workspace=ws, name="Acme")
    for i in range(14):
        owner = personas.rep if i % 3 else personas.other_rep
        deal = _deal(personas, f"Closed {i}", i, owner=owner, company=acme if i % 2 else None, amount=Decimal(900 + i))
        at = T0 + timedelta(days=i + 5)
        deal_update(
            deal=deal,
            actor=personas.rep,
            at=at,
            changes={"stage": default_stage(ws, "Negotiation"), "probability": 30 + 5 * i, "amount": 1000 + 50 * i},
        )
        activity_log(
            workspace=ws, actor=personas.rep, kind=ActivityKind.CALL, subject="call", deal=deal, occurred_at=at
        )
        won = i % 4 in (1, 2)
        deal_update(  # closing sets the probability too: the rep's error is about the one before
            deal=deal,
            actor=personas.rep,
            at=T0 + timedelta(days=40 + i),
            changes={"stage": default_stage(ws, "Closed Won" if won else "Closed Lost"), "probability": 100 * won},
        )
        _embed(deal, i)
    target = _deal(personas, "Changed one", 50, company=acme, amount=Decimal(2000), probability=40)
    deal_update(
        deal=target,
        actor=personas.rep,
        at=T0 + timedelta(days=60),
        changes={"stage": default_stage(ws, "Negotiation"), "amount": Decimal(2500), "probability": 60},
    )
    activity_log(
        workspace=ws, actor=personas.rep, kind=ActivityKind.MEETING, subject="demo", deal=target, occurred_at=AT
    )
    _embed(target, 100)
    bystander = _deal(personas, "Bystander", 55, company=acme, amount=Decimal(700))
    for day in (60, 70, 80):
        activity_log(
            workspace=ws,
            actor=personas.rep,
            kind=ActivityKind.EMAIL,
            subject="hi",
            deal=bystander,
            occurred_at=T0 + timedelta(days=day),
        )
    _embed(bystander, 101)
    scorer_train(workspace=ws, as_of=AT)
    return target, bystander


def _score(deal: Deal) -> tuple[float, dict, dict]:
    score = DealScore.objects.get(deal=deal)
    return score.probability, score.factors, score.features


def test_rescoring_a_changed_deal_gives_the_full_loads_score(personas):
    target, bystander = _workspace(personas)
    ws_id = personas.workspace.id

    scores_refresh(workspace_id=ws_id, deal_ids=[target.id], at=AT, raw=load_raw(ws_id))  # the whole workspace
    full = _score(target)
    scores_refresh(workspace_id=ws_id, deal_ids=[target.id], at=AT)  # what a deal save runs
    partial = _score(target)

    assert partial == full
    features = partial[2]
    # Features fed by other deals have values (not the empty fallbacks), so the comparison covers them.
    for name in ("owner_win_rate", "company_win_rate", "stage_win_rate", "rep_past_error", "neighbour_won_ratio"):
        assert features[name] is not None, name
    assert features["amount_vs_workspace"] != 0 and features["act_meeting_7d"] == 1
    # ...and it read less: not the other open deal's activities, nor its embedding.
    raw = load_raw(ws_id, deal_ids=[target.id])
    other = raw.index[bystander.id]
    assert other not in raw.act_deal and raw.has_embedding is not None and not raw.has_embedding[other]
    assert load_raw(ws_id).act_deal.tolist().count(other) == 3


def test_every_feature_of_the_partial_load_equals_the_full_loads(personas):
    target, _ = _workspace(personas)
    ws_id = personas.workspace.id
    full, partial = load_raw(ws_id), load_raw(ws_id, deal_ids=[target.id])
    vocabulary = Vocabulary.fit(full.attributes)
    t = np.array([to_days(AT)])

    x_full, names = build_features(full, np.array([full.index[target.id]]), t, vocabulary)
    x_partial, _ = build_features(partial, np.array([partial.index[target.id]]), t, vocabulary)

    assert np.array_equal(x_full, x_partial, equal_nan=True), [
        (n, a, b) for n, a, b in zip(names, x_full[0], x_partial[0], strict=True) if not (a == b or (a != a and b != b))
    ]


def test_another_deal_closing_shows_in_the_changed_deals_rates(personas):
    target, bystander = _workspace(personas)
    ws_id = personas.workspace.id
    scores_refresh(workspace_id=ws_id, deal_ids=[target.id], at=AT)
    before = _score(target)[2]

    # The same rep wins another deal at the same company; then only the target is rescored.
    deal_update(
        deal=bystander,
        actor=personas.rep,
        at=AT - timedelta(days=1),
        changes={"stage": default_stage(personas.workspace, "Closed Won")},
    )
    scores_refresh(workspace_id=ws_id, deal_ids=[target.id], at=AT)
    after = _score(target)

    assert after[2]["owner_win_rate"] > before["owner_win_rate"]
    assert after[2]["company_win_rate"] > before["company_win_rate"]
    scores_refresh(workspace_id=ws_id, deal_ids=[target.id], at=AT, raw=load_raw(ws_id))
    assert _score(target) == after


def test_features_of_a_deal_the_partial_load_left_out_are_refused(personas):
    target, bystander = _workspace(personas)
    raw = load_raw(personas.workspace.id, deal_ids=[target.id])
    with pytest.raises(ValueError, match="scope"):
        build_features(raw, np.array([raw.index[bystander.id]]), np.array([to_days(AT)]), Vocabulary([], {}))
