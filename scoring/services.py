"""Writes of the scoring app: train a version, apply the activation rule, score deals, flags, outcomes, drift."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django_q.tasks import async_task

from crm.models import Deal, Outcome
from scoring.activation import still_beats_references
from scoring.artifacts import ArtifactError, scorer_read, scorer_save
from scoring.baseline import beta_interval
from scoring.features import (
    RawData,
    Vocabulary,
    align_columns,
    build_features,
    feature_label,
    open_attributes,
    to_days,
    training_snapshots,
)
from scoring.loader import load_raw
from scoring.model import Scorer, _baseline_inputs, auc, fit_scorer, metrics, psi
from scoring.models import DealScore, DriftReport, FlagDirection, ModelStatus, OutcomeRecord, ScoreFlag, ScoringModel
from scoring.selectors import rollback_target
from tenancy.jobs import enqueue_coalesced, queue_for
from tenancy.models import Membership, Workspace
from vectoros.bulk import copy_rows

PSI_ALERT = 0.25  # the usual "significant shift" line for population stability
BRIER_ALERT_MARGIN = 0.05  # rolling Brier this much worse than at training raises an alert
MIN_CLOSED_FOR_DRIFT = 30
_CACHE: dict[str, Scorer] = {}


def _artifact_dir(workspace_id: int) -> Path:
    path = Path(settings.MODELS_DIR) / "scoring" / str(workspace_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def scorer_load(model: ScoringModel) -> Scorer:
    """The scorer of a version, read from its JSON file under MODELS_DIR (cached per process)."""
    if model.artifact_path not in _CACHE:
        _CACHE[model.artifact_path] = scorer_read(Path(model.artifact_path))
    return _CACHE[model.artifact_path]


def _features_for(scorer: Scorer, raw: RawData, qd: np.ndarray, qt: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Feature rows in the scorer's own columns (a version trained before a feature was added lacks it)."""
    x, names = build_features(raw, qd, qt, scorer.vocabulary)
    if names != scorer.feature_names:
        x, names = align_columns(x, names, scorer.feature_names), list(scorer.feature_names)
    return x, names


def _now_days(at: datetime | None) -> float:
    return to_days(at or timezone.now())


def _jsonable(d):
    if isinstance(d, dict):
        return {str(k): _jsonable(v) for k, v in d.items()}
    if isinstance(d, list | tuple):
        return [_jsonable(v) for v in d]
    if isinstance(d, float) and math.isnan(d):
        return None
    if isinstance(d, np.floating | np.integer):
        return _jsonable(d.item())
    return d


def _compare_with_active(active: ScoringModel, raw: RawData, snaps, scorer: Scorer) -> tuple[bool, str]:
    """Does the new version beat the active one on the new version's held-out snapshots (Brier and AUC)?"""
    held = scorer.heldout
    if held is None or scorer.heldout_p is None:  # only a loaded (not freshly trained) scorer lacks them
        raise ValueError("compare a freshly trained scorer: it carries its held-out predictions")
    try:
        old = scorer_load(active)
    except ArtifactError:
        return (
            True,
            f"v{active.version} was saved in an older file format and cannot be read; this version replaces it.",
        )
    x_old, _ = _features_for(old, raw, snaps.deal[held], snaps.t[held])
    y, w = snaps.y[held], snaps.weight[held]
    old_m = metrics(y, old.predict(x_old), w)
    new_m = metrics(y, scorer.heldout_p, w)
    stage_m = scorer.validation["baselines"]["stage_rate"]
    stage_auc = 0.5 if math.isnan(stage_m["auc"]) else stage_m["auc"]
    old_auc = 0.5 if math.isnan(old_m["auc"]) else old_m["auc"]
    # The monthly re-check applies the activation rule to the active model on the latest held-out deals.
    old_good, _, why = still_beats_references(scorer, snaps, held, old.predict(x_old))
    old_good = not old.is_fallback and old_good and old_auc > stage_auc
    if not old_good:
        return True, (
            f"v{active.version} no longer beats the base rate and the stage win rates on the latest held-out deals "
            f"(Brier {old_m['brier']:.4f} vs {stage_m['brier']:.4f} for the stage rates{'; ' + why if why else ''}); "
            "replaced."
        )
    if scorer.is_fallback:
        return False, f"v{active.version} still beats the stage win rates; kept."
    better = new_m["brier"] < old_m["brier"] and new_m["auc"] > old_auc
    verdict = "activated" if better else f"not activated, v{active.version} stays"
    return better, (
        f"On the same held-out deals: Brier {new_m['brier']:.4f} vs v{active.version}'s {old_m['brier']:.4f}, "
        f"AUC {new_m['auc']:.3f} vs {old_auc:.3f}: {verdict}."
    )


def scorer_train(*, workspace: Workspace, as_of: datetime | None = None, synthetic: bool | None = None) -> ScoringModel:
    """Train a new version on deals closed by `as_of` (default now), store it, and apply the activation rule."""
    raw = load_raw(workspace.id)
    cut = _now_days(as_of)
    snaps = training_snapshots(raw, closed_before=cut)
    vocabulary = Vocabulary.fit([raw.attributes[i] for i in np.unique(snaps.deal)], open_attributes(raw))
    x, names = build_features(raw, snaps.deal, snaps.t, vocabulary)
    scorer = fit_scorer(x, snaps.y, snaps.weight, snaps.deal, snaps.closed, names, vocabulary, snapshot_t=snaps.t)

    with transaction.atomic():
        version = (ScoringModel.objects.filter(workspace=workspace).aggregate(v=Max("version"))["v"] or 0) + 1
        closed_days = raw.closed[np.unique(snaps.deal)] if len(snaps.deal) else np.zeros(0)
        model = ScoringModel.objects.create(
            workspace=workspace,
            version=version,
            kind=scorer.kind,
            is_fallback=scorer.is_fallback,
            is_synthetic=workspace.is_demo if synthetic is None else synthetic,
            reason=scorer.reason,
            window_start=_from_days(np.min(closed_days)) if len(closed_days) else None,
            window_end=_from_days(np.max(closed_days)) if len(closed_days) else None,
            n_won=scorer.n_won,
            n_lost=scorer.n_lost,
            metrics=_jsonable(scorer.validation),
            feature_names=names,
            importance=_jsonable({feature_label(k): v for k, v in scorer.importance.items()}),
            reliability=_jsonable(scorer.validation.get("reliability", [])),
        )
        path = _artifact_dir(workspace.id) / f"v{version}-{model.uuid}.json"
        scorer_save(path, scorer)
        model.artifact_path = str(path)
        active = ScoringModel.objects.filter(workspace=workspace, status=ModelStatus.ACTIVE).first()
        if active is None:
            activate, decision = True, "First version of this workspace: activated."
        elif scorer.heldout is None:
            activate = active.is_fallback
            decision = "Too few outcomes to judge; " + ("activated." if activate else f"v{active.version} stays.")
        else:
            activate, decision = _compare_with_active(active, raw, snaps, scorer)
        model.decision = decision
        model.save()
        if activate:
            scorer_activate(model=model)
    return model


def scorer_retrain_enqueue(*, workspace: Workspace) -> None:
    """Train a new version in the background (after commit, coalesced per workspace: presses before it starts
    make one run); the model page shows it when done."""
    func = "scoring.tasks.retrain_requested"
    enqueue_coalesced(key=f"{func}:{workspace.id}", func=func, head_args=[workspace.id])


def _from_days(days: float) -> datetime:
    return datetime.fromtimestamp(float(days) * 86400.0, tz=UTC)


@transaction.atomic
def scorer_activate(*, model: ScoringModel) -> ScoringModel:
    ScoringModel.objects.filter(workspace_id=model.workspace_id, status=ModelStatus.ACTIVE).exclude(pk=model.pk).update(
        status=ModelStatus.RETIRED
    )
    model.status = ModelStatus.ACTIVE
    model.activated_at = timezone.now()
    model.save(update_fields=["status", "activated_at"])
    return model


def scorer_rollback(*, workspace: Workspace) -> ScoringModel:
    """Re-activate the version that was active before the current one; this workspace's deals are rescored."""
    current = ScoringModel.objects.filter(workspace=workspace, status=ModelStatus.ACTIVE).first()
    previous = rollback_target(workspace.id)
    if previous is None:
        raise ValidationError("There is no earlier active version to roll back to.")
    scorer_activate(model=previous)
    if current is not None:
        ScoringModel.objects.filter(pk=current.pk).update(status=ModelStatus.CANDIDATE, activated_at=None)
    workspace_id = workspace.id
    transaction.on_commit(
        lambda: async_task(
            "scoring.tasks.rescore_workspace", workspace_id, cluster=queue_for("scoring.tasks.rescore_workspace")
        )
    )
    return previous


def _confidence(scorer: Scorer, p: float, n: float) -> tuple[str, float, float]:
    low, high = beta_interval(p, n)
    width = high - low
    return ("high" if width < 0.12 else "medium" if width < 0.25 else "low"), low, high


def scores_refresh(
    *, workspace_id: int, deal_ids: list[int] | None = None, at: datetime | None = None, raw: RawData | None = None
) -> int:
    """Score the workspace's open deals (or those of `deal_ids`) with the active version, as of now."""
    if deal_ids is not None:  # a deleted deal's score goes (a restore scores it again)
        deleted = Deal.all_objects.for_workspace(workspace_id).deleted().filter(id__in=deal_ids)
        DealScore.objects.filter(workspace_id=workspace_id, deal__in=deleted).delete()
    model = ScoringModel.objects.filter(workspace_id=workspace_id, status=ModelStatus.ACTIVE).first()
    if model is None:
        return 0
    scorer = scorer_load(model)
    # A few changed deals: only what their features read (see load_raw), the same scores at a fraction of the cost.
    raw = raw if raw is not None else load_raw(workspace_id, deal_ids=deal_ids)
    wanted = raw.outcome == 0
    if deal_ids is not None:
        wanted &= np.isin(raw.deal_ids, np.asarray(list(deal_ids), dtype=np.int64))
    idx = np.flatnonzero(wanted)
    if len(idx) == 0:
        return 0
    now = _now_days(at)
    x, names = _features_for(scorer, raw, idx, np.full(len(idx), now))
    p = scorer.predict(x)
    explanations = scorer.explain(x)
    if scorer.is_fallback:
        n_behind = scorer.baseline.confidence_deals(_baseline_inputs(x)[0])
    else:
        n_behind = np.full(len(idx), float(scorer.validation.get("n_heldout_deals", 0)) * 4)
    scored_at = at or timezone.now()
    rows = []
    for j, i in enumerate(idx):
        conf, low, high = _confidence(scorer, float(p[j]), float(n_behind[j]))
        factors = {
            direction: [[feature_label(name), round(weight, 3)] for name, weight in explanations[j][direction]]
            for direction in ("up", "down")
        }
        base = {
            n: (None if math.isnan(v) else round(float(v), 4))
            for n, v in zip(names, x[j], strict=True)
            if not n.startswith("attr:") or v
        }
        rows.append(
            (
                workspace_id,
                int(raw.deal_ids[i]),
                model.id,
                float(p[j]),
                low,
                high,
                conf,
                factors,
                base,
                scored_at,
            )
        )
    _scores_replace(workspace_id=workspace_id, rows=rows)
    closed_ids = raw.deal_ids[raw.outcome != 0]
    if deal_ids is not None:
        closed_ids = closed_ids[np.isin(closed_ids, np.asarray(list(deal_ids), dtype=np.int64))]
    DealScore.objects.filter(workspace_id=workspace_id, deal_id__in=[int(d) for d in closed_ids]).delete()
    return len(rows)


_SCORE_COLUMNS = (
    "workspace_id", "deal_id", "model_id", "probability", "low", "high", "confidence",
    "factors", "features", "scored_at",
)  # fmt: skip


@transaction.atomic
def _scores_replace(*, workspace_id: int, rows: list[tuple]) -> None:
    """Replace these deals' scores with COPY: thousands of JSON-carrying rows per refresh.

    (bulk_create's upsert sends them as arrays, whose per-character quoting cost seconds at 5,000 deals.)
    """
    table = DealScore._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE workspace_id = %s AND deal_id = ANY(%s)", [workspace_id, [r[1] for r in rows]]
        )
    copy_rows(DealScore, _SCORE_COLUMNS, rows)


@transaction.atomic
def outcomes_capture(*, workspace_id: int, deal_ids: list[int]) -> int:
    """Record each newly closed deal's outcome with its last score and features; settle flags on it."""
    closed = list(
        Deal.objects.for_workspace(workspace_id)
        .filter(id__in=deal_ids)
        .exclude(outcome=Outcome.OPEN)
        .exclude(outcome_record__isnull=False)
        .values("id", "outcome", "closed_at", "created_at")
    )
    if not closed:
        return 0
    scores = {s.deal_id: s for s in DealScore.objects.filter(deal_id__in=[d["id"] for d in closed])}
    records = []
    for d in closed:
        score = scores.get(d["id"])
        records.append(
            OutcomeRecord(
                workspace_id=workspace_id,
                deal_id=d["id"],
                outcome=d["outcome"],
                closed_at=d["closed_at"] or d["created_at"],
                score=score.probability if score else None,
                model_id=score.model_id if score else None,
                features=score.features if score else {},
            )
        )
    # The unique deal keeps a re-run from recording an outcome twice.
    OutcomeRecord.objects.bulk_create(records, ignore_conflicts=True)
    for d in closed:
        won = d["outcome"] == Outcome.WON
        for flag in ScoreFlag.objects.filter(deal_id=d["id"], outcome=""):
            flag.outcome = d["outcome"]
            flag.rep_was_right = won if flag.direction == FlagDirection.TOO_LOW else not won
            flag.save(update_fields=["outcome", "rep_was_right"])
    return len(records)


def score_flag_create(*, deal: Deal, membership: Membership, direction: str, reason: str) -> ScoreFlag:
    if membership.workspace_id != deal.workspace_id:
        raise ValidationError("Unknown deal.")
    if direction not in FlagDirection.values:
        raise ValidationError({"direction": "Say whether the score is too high or too low."})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the score is wrong."})
    score = DealScore.objects.filter(deal=deal).first()
    if score is None:
        raise ValidationError("This deal has no score yet.")
    return ScoreFlag.objects.create(
        workspace_id=deal.workspace_id,
        deal=deal,
        flagged_by=membership,
        direction=direction,
        reason=reason[:2000],
        score_at_flag=score.probability,
    )


def drift_check(*, workspace_id: int, raw: RawData | None = None, at: datetime | None = None) -> DriftReport | None:
    """PSI of each feature (open deals now vs training) and Brier/AUC on deals closed since training."""
    model = ScoringModel.objects.filter(workspace_id=workspace_id, status=ModelStatus.ACTIVE).first()
    if model is None:
        return None
    scorer = scorer_load(model)
    raw = raw if raw is not None else load_raw(workspace_id)
    idx = np.flatnonzero(raw.outcome == 0)
    psi_values: dict[str, float] = {}
    if len(idx) >= 20:
        x, names = _features_for(scorer, raw, idx, np.full(len(idx), _now_days(at)))
        for j, name in enumerate(names):
            ref = scorer.psi_reference.get(name)
            if ref is not None:
                psi_values[name] = round(psi(ref, x[:, j]), 4)
    since = list(
        OutcomeRecord.objects.filter(
            workspace_id=workspace_id, closed_at__gt=model.trained_at, score__isnull=False
        ).values_list("outcome", "score")
    )
    brier_since = auc_since = None
    if since:
        y = np.array([o == Outcome.WON for o, _ in since], dtype=float)
        p = np.array([s for _, s in since])
        brier_since = float(np.mean((p - y) ** 2))
        a = auc(y, p)
        auc_since = None if math.isnan(a) else a
    train_brier = (model.metrics.get("model") or model.metrics.get("baselines", {}).get("stage_rate") or {}).get(
        "brier"
    )
    shifted = sorted((k for k, v in psi_values.items() if v > PSI_ALERT), key=lambda k: -psi_values[k])
    worse = (
        brier_since is not None
        and train_brier is not None
        and len(since) >= MIN_CLOSED_FOR_DRIFT
        and brier_since > train_brier + BRIER_ALERT_MARGIN
    )
    parts = []
    if shifted:
        parts.append("inputs shifted: " + ", ".join(feature_label(k) for k in shifted[:3]))
    if worse:
        parts.append(f"Brier on {len(since)} deals closed since training is {brier_since:.3f} (was {train_brier:.3f})")
    # The alerts app reads this (scoring.selectors.model_drift) and raises or resolves its model-drift alert.
    return DriftReport.objects.create(
        workspace_id=workspace_id,
        model=model,
        psi=psi_values,
        n_closed_since=len(since),
        brier_since=brier_since,
        auc_since=auc_since,
        summary=f"Deal scores drifting (v{model.version}): " + "; ".join(parts) if parts else "",
    )
