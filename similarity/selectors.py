"""Reads of the similarity app: nearest deals by meaning, within one workspace.

Query plan (deliberate): every search is an *exact* nearest-neighbour search inside the workspace's
own rows. The b-tree `similarity_ws_outcome_idx` on (workspace_id, outcome, closed_at) narrows the
table to the workspace (and outcome / close date when filtered); PostgreSQL then computes the
cosine distance for each of those rows and keeps the k best with a top-N sort. There is no HNSW or
IVFFlat index on the table on purpose: pgvector 0.6.2 has no iterative index scan, so an
approximate index scanned first and filtered afterwards returns whatever of its `ef_search`
candidates survive the filter, i.e. silently fewer than k rows (and none at all for a small
workspace among large ones). The exact plan always returns k rows when k exist and costs a few
milliseconds for tens of thousands of rows per workspace (`manage.py bench_similarity` measures it).
The vectors are stored at unit length, so the ranking uses the negative inner product `<#>`, which
orders exactly as the cosine distance `<=>` does and costs about a third less per row.
A workspace far beyond that would get its own partial HNSW index (`WHERE workspace_id = N`), whose
results are still workspace-pure but approximate; none needs it yet.

The workspace id is part of every WHERE clause, and the rows returned are loaded again through
`Deal.objects.for_workspace`, so no query can return another workspace's deal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from statistics import median
from typing import Any, Literal

import numpy as np
from django.db import connection

from crm import history
from crm.models import Deal, DealHistory, Outcome, Stage, StageKind, TrackedField
from similarity import embedding
from similarity.models import DealEmbedding
from similarity.services import deal_texts, stale_split

OutcomeFilter = Literal["won", "lost", "closed"] | None
_OUTCOMES: dict[str | None, tuple[str, ...] | None] = {
    None: None,
    "won": (Outcome.WON,),
    "lost": (Outcome.LOST,),
    "closed": (Outcome.WON, Outcome.LOST),
    "open": (Outcome.OPEN,),
}
MAX_K = 100


@dataclass(frozen=True)
class SimilarDeal:
    deal_id: int
    uuid: str
    title: str
    similarity: float
    outcome: str
    amount: Decimal
    currency: str
    company: str
    stage: str
    lost_reason: str
    created_at: datetime
    closed_at: datetime | None
    expected_close_date: date | None

    @property
    def close_date(self) -> date | None:
        return self.closed_at.date() if self.closed_at else self.expected_close_date

    @property
    def cycle_days(self) -> int | None:
        if self.closed_at is None:
            return None
        return max(0, (self.closed_at - self.created_at).days)


def _vector_literal(vector: Sequence[float] | np.ndarray) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


def nearest_sql(
    *,
    workspace_id: int,
    vector: Sequence[float] | np.ndarray,
    k: int,
    outcome: str | None = None,
    exclude_deal_id: int | None = None,
    closed_before: datetime | None = None,
    owner_ids: Iterable[int] | None = None,
) -> tuple[str, list[Any]]:
    """The SQL of the exact workspace-filtered search described above, and its parameters."""
    if outcome not in _OUTCOMES:
        raise ValueError(f"outcome must be one of won, lost, closed or None, not {outcome!r}")
    k = max(1, min(int(k), MAX_K))
    unit = np.asarray(vector, dtype=np.float64)
    q = _vector_literal(unit / (np.linalg.norm(unit) or 1.0))
    where = ["e.workspace_id = %s"]
    params: list[Any] = [workspace_id]
    outcomes = _OUTCOMES[outcome]
    if outcomes is not None:
        where.append("e.outcome = ANY(%s)")
        params.append(list(outcomes))
    if exclude_deal_id is not None:
        where.append("e.deal_id <> %s")
        params.append(exclude_deal_id)
    if closed_before is not None:
        where.append("e.closed_at < %s")
        params.append(closed_before)
    join = ""
    if owner_ids is not None:
        join = "JOIN crm_deal d ON d.id = e.deal_id AND d.workspace_id = e.workspace_id AND d.owner_id = ANY(%s)"
        join += " AND d.deleted_at IS NULL"
        params.insert(0, list(owner_ids))
    sql = (
        f"SELECT e.deal_id, e.embedding <#> %s::vector AS neg_dot FROM similarity_dealembedding e {join} "
        f"WHERE {' AND '.join(where)} ORDER BY neg_dot, e.deal_id LIMIT %s"
    )
    return sql, [q, *params, k]


def _nearest_ids(**kwargs: Any) -> list[tuple[int, float]]:
    """(deal id, cosine distance) of the k nearest embeddings of the workspace (see nearest_sql)."""
    sql, params = nearest_sql(**kwargs)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # Unit vectors: cosine distance = 1 - dot = 1 + (a <#> b).
        return [(int(deal_id), 1.0 + float(neg_dot)) for deal_id, neg_dot in cursor.fetchall()]


def _load(workspace_id: int, hits: list[tuple[int, float]]) -> list[SimilarDeal]:
    deals = {
        d.id: d
        for d in Deal.objects.for_workspace(workspace_id)
        .filter(id__in=[deal_id for deal_id, _ in hits])
        .select_related("company", "stage")
    }
    result = []
    for deal_id, distance in hits:
        d = deals.get(deal_id)
        if d is None:  # deleted since: never another workspace's, the filter above is by workspace
            continue
        result.append(
            SimilarDeal(
                deal_id=d.id,
                uuid=str(d.uuid),
                title=d.title,
                similarity=round(1.0 - distance, 4),
                outcome=d.outcome,
                amount=d.amount,
                currency=d.currency,
                company=d.company.name if d.company else "",
                stage=d.stage.name,
                lost_reason=d.lost_reason,
                created_at=d.created_at,
                closed_at=d.closed_at,
                expected_close_date=d.expected_close_date,
            )
        )
    return result


def deal_vector(workspace_id: int, deal_id: int) -> np.ndarray | None:
    row = DealEmbedding.objects.for_workspace(workspace_id).filter(deal_id=deal_id).values_list("embedding", flat=True)
    found = list(row)
    return np.asarray(found[0], dtype=np.float32) if found else None


def deal_vectors(workspace_id: int, deal_ids: list[int]) -> dict[int, np.ndarray]:
    """Stored embeddings of these deals (those that have one): settings.DEAL_VECTORS_HOOK, for crm.duplicates."""
    rows = DealEmbedding.objects.for_workspace(workspace_id).filter(deal_id__in=deal_ids)
    return {pk: np.asarray(v, dtype=np.float32) for pk, v in rows.values_list("deal_id", "embedding")}


def similar_deals(
    workspace_id: int,
    deal_id: int,
    k: int = 10,
    outcome: OutcomeFilter = None,
    *,
    owner_ids: Iterable[int] | None = None,
) -> list[SimilarDeal]:
    """The k deals of the workspace nearest in meaning to `deal_id` (never itself), most similar first.

    `outcome` keeps only won, lost or closed (won or lost) deals; `owner_ids` only deals of those
    owners (what a rep may see). Empty when the deal has no embedding yet.
    """
    vector = deal_vector(workspace_id, deal_id)
    if vector is None:
        return []
    hits = _nearest_ids(
        workspace_id=workspace_id, vector=vector, k=k, outcome=outcome, exclude_deal_id=deal_id, owner_ids=owner_ids
    )
    return _load(workspace_id, hits)


def search_deals(
    workspace_id: int, query: str, k: int = 20, *, outcome: OutcomeFilter = None, owner_ids: Iterable[int] | None = None
) -> list[SimilarDeal]:
    """Deals of the workspace nearest in meaning to a free-text query (embedded with the same model)."""
    vector = embedding.encode([query.strip() or query])[0]
    hits = _nearest_ids(workspace_id=workspace_id, vector=vector, k=k, outcome=outcome, owner_ids=owner_ids)
    return _load(workspace_id, hits)


def neighbour_won_ratio(
    workspace_id: int, deal_ids: list[int], k: int = 10, closed_before: datetime | None = None
) -> dict[int, float | None]:
    """For each deal, the share of won deals among its k nearest closed (won or lost) neighbours.

    Only neighbours closed strictly before `closed_before` count (so a model trained on the past does
    not see the future), never the deal itself. None when a deal has no embedding or no closed
    neighbour. One query for all deals (a LATERAL exact search per deal, see the module docstring).
    """
    result: dict[int, float | None] = {int(i): None for i in deal_ids}
    if not result:
        return result
    k = max(1, min(int(k), MAX_K))
    closed_filter = "AND e.closed_at < %s" if closed_before is not None else ""
    sql = f"""
        SELECT d.deal_id, n.won, n.total
        FROM similarity_dealembedding d
        CROSS JOIN LATERAL (
            SELECT count(*) FILTER (WHERE x.outcome = %s) AS won, count(*) AS total
            FROM (
                SELECT e.outcome FROM similarity_dealembedding e
                WHERE e.workspace_id = d.workspace_id AND e.outcome = ANY(%s) AND e.deal_id <> d.deal_id
                {closed_filter}
                ORDER BY e.embedding <#> d.embedding, e.deal_id
                LIMIT %s
            ) x
        ) n
        WHERE d.workspace_id = %s AND d.deal_id = ANY(%s)
    """
    params: list[Any] = [Outcome.WON, [Outcome.WON, Outcome.LOST]]
    if closed_before is not None:
        params.append(closed_before)
    params += [k, workspace_id, list(result)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for deal_id, won, total in cursor.fetchall():
            result[int(deal_id)] = (won / total) if total else None
    return result


# --- the deal page's panel -------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeGroup:
    """Similar deals of one outcome and what they had in common."""

    deals: list[SimilarDeal]
    stages_reached: list[tuple[str, int]] = field(default_factory=list)  # furthest open stage, most common first
    median_cycle_days: float | None = None
    lost_reasons: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class DealPanel:
    indexed: bool
    won: OutcomeGroup
    lost: OutcomeGroup
    nearest_closed: int = 0
    nearest_won: int = 0

    @property
    def nearest_lost(self) -> int:
        return self.nearest_closed - self.nearest_won

    @property
    def won_ratio(self) -> float | None:
        return self.nearest_won / self.nearest_closed if self.nearest_closed else None


def _furthest_open_stage(workspace_id: int, deal_ids: list[int]) -> dict[int, str]:
    """The furthest open stage each deal ever reached, from its history (empty for deals without one)."""
    stage_ids_by_deal: dict[int, set[int]] = {}
    rows = (
        DealHistory.objects.for_workspace(workspace_id)
        .filter(deal_id__in=deal_ids, field=TrackedField.STAGE)
        .values_list("deal_id", "new_value")
    )
    # Every stage a deal was in has a row with it as the new value (its first stage too: the creation row).
    for deal_id, new in rows:
        stage_id = history.decode(TrackedField.STAGE, new)
        if stage_id is not None:
            stage_ids_by_deal.setdefault(deal_id, set()).add(stage_id)
    all_ids = set().union(*stage_ids_by_deal.values()) if stage_ids_by_deal else set()
    stages = {s.id: s for s in Stage.objects.for_workspace(workspace_id).filter(id__in=all_ids, kind=StageKind.OPEN)}
    result = {}
    for deal_id, ids in stage_ids_by_deal.items():
        open_stages = [stages[i] for i in ids if i in stages]
        if open_stages:
            result[deal_id] = max(open_stages, key=lambda s: s.order).name
    return result


def _group(workspace_id: int, deals: list[SimilarDeal]) -> OutcomeGroup:
    if not deals:
        return OutcomeGroup(deals=[])
    reached = _furthest_open_stage(workspace_id, [d.deal_id for d in deals])
    cycles = [d.cycle_days for d in deals if d.cycle_days is not None]
    reasons = Counter(d.lost_reason.strip() for d in deals if d.lost_reason.strip())
    return OutcomeGroup(
        deals=deals,
        stages_reached=Counter(reached.values()).most_common(3),
        median_cycle_days=median(cycles) if cycles else None,
        lost_reasons=reasons.most_common(3),
    )


def deal_panel(
    workspace_id: int, deal_id: int, *, ratio_k: int = 10, owner_ids: Iterable[int] | None = None
) -> DealPanel:
    """The deal's nearest closed deals, split into won and lost: the lists are exactly the deals the
    "N won, M lost" summary counts, so the two always agree."""
    vector = deal_vector(workspace_id, deal_id)
    empty = OutcomeGroup(deals=[])
    if vector is None:
        return DealPanel(indexed=False, won=empty, lost=empty)
    owners = list(owner_ids) if owner_ids is not None else None
    common = {"workspace_id": workspace_id, "vector": vector, "exclude_deal_id": deal_id, "owner_ids": owners}
    closed = _load(workspace_id, _nearest_ids(k=ratio_k, outcome="closed", **common))
    won = [d for d in closed if d.outcome == Outcome.WON]
    return DealPanel(
        indexed=True,
        won=_group(workspace_id, won),
        lost=_group(workspace_id, [d for d in closed if d.outcome != Outcome.WON]),
        nearest_closed=len(closed),
        nearest_won=len(won),
    )


# --- the API's stats -------------------------------------------------------------------------------


def embedding_stats(workspace_id: int) -> dict[str, object]:
    pending = deal_texts(workspace_id=workspace_id)
    stale, _ = stale_split(pending, force=False)
    return {
        "count": DealEmbedding.objects.for_workspace(workspace_id).count(),
        "deals": len(pending),
        "dimensions": embedding.DIMENSIONS,
        "distance_metric": "cosine",
        "stale_count": len(stale),
        "model": embedding.MODEL_NAME,
    }
