"""REST endpoints of the scoring app (mounted by vectoros.api at /api/v1/ml/).

Every endpoint works inside the API key's workspace; a deal of another workspace is a 404, the same
as a deal that does not exist. Scores are computed fresh, as of the request.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from ninja import Field, Router, Schema
from ninja.errors import HttpError

from scoring.models import DealScore
from scoring.selectors import active_model
from scoring.services import scores_refresh
from vectoros.apischema import Body, Conflict, Problem
from vectoros.http import ApiRequest, api_scope

router = Router(tags=["scoring"])
MAX_BATCH = 500
ERRORS = {
    404: Problem,  # a deal id that is not in the key's workspace
    409: Problem,  # the workspace has no scoring model yet
}


def _workspace_id(request: ApiRequest) -> int:
    return request.auth.workspace_id


class Factor(Schema):
    label: str
    weight: float


class ScoreOut(Schema):
    deal_id: uuid.UUID
    probability: float | None = Field(description="calibrated win probability 0-1; null for a closed deal")
    low: float | None = None
    high: float | None = None
    confidence: str | None = None
    raising: list[Factor] = []
    lowering: list[Factor] = []
    model_version: int | None = None
    model_kind: str | None = None


class ScoreDealIn(Body):
    deal_id: uuid.UUID


class ScoreMultipleIn(Body):
    deal_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_BATCH)


class ScoreMultipleOut(Schema):
    scores: list[ScoreOut]


class ModelInfoOut(Schema):
    active: bool
    version: int | None = None
    kind: str | None = None
    fallback: bool | None = None
    synthetic: bool | None = None
    reason: str = ""
    trained_at: datetime | None = None
    n_won: int = 0
    n_lost: int = 0
    metrics: dict = {}
    features: list[str] = []


def _score(request: ApiRequest, uuids: list[uuid.UUID]) -> list[ScoreOut]:
    workspace_id = _workspace_id(request)
    found = dict(api_scope(request).deals().filter(uuid__in=uuids).values_list("uuid", "id"))
    missing = [str(u) for u in uuids if u not in found]
    if missing:
        raise HttpError(404, f"No such deal: {', '.join(missing[:5])}")
    if active_model(workspace_id) is None:
        raise Conflict("This workspace has no scoring model yet (train one with train_scorer).")
    scores_refresh(workspace_id=workspace_id, deal_ids=list(found.values()))
    by_deal = {s.deal_id: s for s in DealScore.objects.filter(deal_id__in=found.values()).select_related("model")}
    out = []
    for u in uuids:
        s = by_deal.get(found[u])
        if s is None:
            out.append(ScoreOut(deal_id=u, probability=None))
            continue
        out.append(
            ScoreOut(
                deal_id=u,
                probability=s.probability,
                low=s.low,
                high=s.high,
                confidence=s.confidence,
                raising=[Factor(label=f[0], weight=f[1]) for f in s.factors.get("up", [])],
                lowering=[Factor(label=f[0], weight=f[1]) for f in s.factors.get("down", [])],
                model_version=s.model.version if s.model else None,
                model_kind=s.model.kind if s.model else None,
            )
        )
    return out


@router.post("/score-deal", response={200: ScoreOut, **ERRORS})
def score_deal(request: ApiRequest, payload: ScoreDealIn) -> ScoreOut:
    return _score(request, [payload.deal_id])[0]


@router.post("/score-multiple", response={200: ScoreMultipleOut, **ERRORS})
def score_multiple(request: ApiRequest, payload: ScoreMultipleIn) -> ScoreMultipleOut:
    return ScoreMultipleOut(scores=_score(request, list(dict.fromkeys(payload.deal_ids))))


@router.get("/model-info", response=ModelInfoOut)
def model_info(request: ApiRequest) -> ModelInfoOut:
    model = active_model(_workspace_id(request))
    if model is None:
        return ModelInfoOut(active=False, reason="No scoring model has been trained for this workspace.")
    return ModelInfoOut(
        active=True,
        version=model.version,
        kind=model.kind,
        fallback=model.is_fallback,
        synthetic=model.is_synthetic,
        reason=model.reason,
        trained_at=model.trained_at,
        n_won=model.n_won,
        n_lost=model.n_lost,
        metrics={k: v for k, v in model.metrics.items() if k in {"mode", "model", "baselines", "brier_gain_z"}},
        features=model.feature_names,
    )
