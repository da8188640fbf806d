"""REST endpoints of the similarity app (mounted by vectoros.api at /api/v1/embeddings/).

Every endpoint works inside the API key's workspace; a deal of another workspace is a 404, the same
as a deal that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, Router, Schema
from ninja.errors import HttpError
from pydantic import ConfigDict, model_validator

from similarity import selectors, services
from similarity.embedding import EmbeddingModelUnavailable
from similarity.models import DealEmbedding
from vectoros.apischema import Body, Problem
from vectoros.http import ApiRequest, api_scope

router = Router(tags=["similarity"])
MAX_BATCH = 100
# A deal id of another workspace is the same 404 as one that does not exist; 503 when the embedding model is missing.
ERRORS = {404: Problem, 503: Problem}


def _workspace_id(request: ApiRequest) -> int:
    return request.auth.workspace_id


def _deal_ids(request: ApiRequest, uuids: list[uuid.UUID]) -> list[int]:
    found = dict(api_scope(request).deals().filter(uuid__in=uuids).values_list("uuid", "id"))
    missing = [str(u) for u in uuids if u not in found]
    if missing:
        raise HttpError(404, f"No such deal: {', '.join(missing[:5])}")
    return [found[u] for u in uuids]


class EmbedDealIn(Body):
    deal_id: uuid.UUID
    force: bool = False


class EmbedDealOut(Schema):
    deal_id: uuid.UUID
    embedded: bool = Field(description="True when a new vector was computed; false when the text was unchanged")
    text_hash: str
    model: str
    embedded_at: datetime


class EmbedMultipleIn(Body):
    deal_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_BATCH)
    force: bool = False


class EmbedMultipleOut(Schema):
    embedded: int
    skipped: int
    seconds: float
    per_second: float


def _deal_or_query(schema: dict[str, Any]) -> None:
    # Exactly one of the two: both present match both branches, neither matches none.
    schema["oneOf"] = [{"required": ["deal_id"]}, {"required": ["query"]}]
    for name in ("deal_id", "query"):
        schema["properties"][name].pop("default", None)


class FindSimilarIn(Body):
    """Either `deal_id` (deals like that one) or `query` (deals matching the text), never both."""

    model_config = ConfigDict(json_schema_extra=_deal_or_query)

    deal_id: uuid.UUID = None  # type: ignore[assignment]  # absent, never null: the schema's oneOf says so
    query: str = Field(
        default=None, min_length=1, max_length=2000, pattern=r"^[^\x00]*\S[^\x00]*$", examples=["data platform renewal"]
    )  # type: ignore[assignment]
    k: int = Field(default=10, ge=1, le=selectors.MAX_K)
    outcome: Literal["won", "lost", "closed"] | None = None

    @model_validator(mode="after")
    def one_of_deal_or_query(self) -> FindSimilarIn:
        if (self.deal_id is None) == (self.query is None):
            raise ValueError("Give either deal_id or query, not both.")
        return self


class SimilarDealOut(Schema):
    deal_id: uuid.UUID
    title: str
    similarity: float = Field(description="cosine similarity, 1 = same meaning")
    outcome: str
    amount: float
    currency: str
    close_date: date | None


class FindSimilarOut(Schema):
    results: list[SimilarDealOut]


class StatsOut(Schema):
    count: int
    deals: int
    dimensions: int
    distance_metric: str
    stale_count: int
    model: str


def _model_unavailable(exc: EmbeddingModelUnavailable) -> HttpError:
    return HttpError(503, str(exc))


@router.post("/embed-deal", response={200: EmbedDealOut, **ERRORS})
def embed_deal(request: ApiRequest, payload: EmbedDealIn) -> dict[str, object]:
    """Embed one deal now (nothing to do when its text is unchanged, unless `force`)."""
    [deal_id] = _deal_ids(request, [payload.deal_id])
    try:
        result = services.deal_embeddings_refresh(
            workspace_id=_workspace_id(request), deal_ids=[deal_id], force=payload.force
        )
    except EmbeddingModelUnavailable as exc:
        raise _model_unavailable(exc) from exc
    row = DealEmbedding.objects.get(deal_id=deal_id)
    return {
        "deal_id": payload.deal_id,
        "embedded": result.embedded == 1,
        "text_hash": row.text_hash,
        "model": row.model_name,
        "embedded_at": row.embedded_at,
    }


@router.post("/embed-multiple", response={200: EmbedMultipleOut, **ERRORS})
def embed_multiple(request: ApiRequest, payload: EmbedMultipleIn) -> dict[str, float]:
    """Embed up to 100 deals now; deals whose text is unchanged are skipped (unless `force`)."""
    ids = _deal_ids(request, list(dict.fromkeys(payload.deal_ids)))
    try:
        result = services.deal_embeddings_refresh(
            workspace_id=_workspace_id(request), deal_ids=ids, force=payload.force
        )
    except EmbeddingModelUnavailable as exc:
        raise _model_unavailable(exc) from exc
    return result.as_dict()


@router.post("/find-similar", response={200: FindSimilarOut, **ERRORS})
def find_similar(request: ApiRequest, payload: FindSimilarIn) -> dict[str, object]:
    """The k deals of the workspace nearest in meaning to a deal (never itself) or to a free-text query."""
    workspace_id = _workspace_id(request)
    try:
        if payload.deal_id is not None:
            [deal_id] = _deal_ids(request, [payload.deal_id])
            if selectors.deal_vector(workspace_id, deal_id) is None:
                services.deal_embeddings_refresh(workspace_id=workspace_id, deal_ids=[deal_id])
            found = selectors.similar_deals(workspace_id, deal_id, k=payload.k, outcome=payload.outcome)
        else:
            found = selectors.search_deals(workspace_id, payload.query or "", k=payload.k, outcome=payload.outcome)
    except EmbeddingModelUnavailable as exc:
        raise _model_unavailable(exc) from exc
    return {
        "results": [
            {
                "deal_id": d.uuid,
                "title": d.title,
                "similarity": d.similarity,
                "outcome": d.outcome,
                "amount": float(d.amount),
                "currency": d.currency,
                "close_date": d.close_date,
            }
            for d in found
        ]
    }


@router.get("/stats", response=StatsOut)
def stats(request: ApiRequest) -> dict[str, object]:
    """How many deals are embedded, how many are stale or missing, and with which model and metric."""
    return selectors.embedding_stats(_workspace_id(request))
