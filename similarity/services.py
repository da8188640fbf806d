"""Writes of the similarity app: (re)computing deal embeddings, idempotently."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Window
from django.db.models.functions import RowNumber, Substr
from django.utils import timezone

from crm.models import Activity, Deal
from similarity import embedding
from similarity.models import DealEmbedding
from similarity.text import ACTIVITY_BODY_CHARS, LATEST_ACTIVITIES, DealText, build_text, text_hash


@dataclass(frozen=True)
class RefreshResult:
    embedded: int
    skipped: int
    seconds: float

    @property
    def per_second(self) -> float:
        return round(self.embedded / self.seconds, 1) if self.seconds > 0 and self.embedded else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "embedded": self.embedded,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 2),
            "per_second": self.per_second,
        }


@dataclass(frozen=True)
class PendingText:
    deal_id: int
    workspace_id: int
    text: str
    text_hash: str
    outcome: str
    closed_at: datetime | None


def deal_texts(*, workspace_id: int, deal_ids: Iterable[int] | None = None) -> list[PendingText]:
    """The embeddable text of each deal of the workspace (or of `deal_ids` within it): two queries."""
    deals = Deal.objects.for_workspace(workspace_id).select_related("company", "stage").order_by("id")
    if deal_ids is not None:
        deals = deals.filter(id__in=list(deal_ids))
    deals = deals.only(
        "id",
        "workspace_id",
        "title",
        "description",
        "attributes",
        "lost_reason",
        "outcome",
        "closed_at",
        "company__name",
        "company__industry",
        "stage__name",
    )
    rows = list(deals)
    activities: dict[int, list[tuple[str, str]]] = {}
    if rows:
        latest = (
            Activity.objects.for_workspace(workspace_id)
            .filter(deal_id__in=[d.id for d in rows])
            .annotate(
                rank=Window(
                    RowNumber(), partition_by=[F("deal_id")], order_by=[F("occurred_at").desc(), F("id").desc()]
                ),
                short_body=Substr("body", 1, ACTIVITY_BODY_CHARS),
            )
            .filter(rank__lte=LATEST_ACTIVITIES)
            .order_by("deal_id", "rank")
            .values_list("deal_id", "subject", "short_body")
        )
        for deal_id, subject, body in latest:
            activities.setdefault(deal_id, []).append((subject, body))
    model_name = embedding.MODEL_NAME
    result = []
    for deal in rows:
        attributes = deal.attributes if isinstance(deal.attributes, dict) else {}
        text = build_text(
            DealText(
                title=deal.title,
                description=deal.description,
                company=deal.company.name if deal.company else "",
                industry=deal.company.industry if deal.company else "",
                product=str(attributes.get("product") or ""),
                attributes=attributes,
                stage=deal.stage.name,
                lost_reason=deal.lost_reason,
                activities=activities.get(deal.id, ()),
            )
        )
        result.append(
            PendingText(deal.id, deal.workspace_id, text, text_hash(text, model_name), deal.outcome, deal.closed_at)
        )
    return result


def stale_split(pending: list[PendingText], *, force: bool) -> tuple[list[PendingText], list[PendingText]]:
    """Split into (needs a new vector, only needs its copied outcome/close date updated)."""
    existing = {
        row[0]: row[1:]
        for row in DealEmbedding.objects.filter(deal_id__in=[p.deal_id for p in pending]).values_list(
            "deal_id", "text_hash", "outcome", "closed_at"
        )
    }
    to_embed, to_touch = [], []
    for item in pending:
        current = existing.get(item.deal_id)
        if force or current is None or current[0] != item.text_hash:
            to_embed.append(item)
        elif (current[1], current[2]) != (item.outcome, item.closed_at):
            to_touch.append(item)
    return to_embed, to_touch


def deal_embeddings_refresh(
    *,
    workspace_id: int,
    deal_ids: Iterable[int] | None = None,
    force: bool = False,
    batch_size: int = embedding.BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> RefreshResult:
    """Embed the deals whose text changed (or that have no embedding), in batches; others are skipped.

    Deals of other workspaces among `deal_ids` are ignored. Each batch is written with one upsert,
    so an interrupted run keeps what it finished and a re-run only does the rest.
    """
    started = time.perf_counter()
    pending = deal_texts(workspace_id=workspace_id, deal_ids=deal_ids)
    if deal_ids is not None:  # deleted deals are not searchable: their vectors go (a restore embeds them again)
        gone = set(deal_ids) - {p.deal_id for p in pending}
        DealEmbedding.objects.for_workspace(workspace_id).filter(deal_id__in=gone).delete()
    to_embed, to_touch = stale_split(pending, force=force)
    for item in to_touch:
        DealEmbedding.objects.filter(deal_id=item.deal_id).update(outcome=item.outcome, closed_at=item.closed_at)
    # Batches of texts of similar length pad less (SentenceTransformer.encode sorts the same way).
    to_embed.sort(key=lambda item: len(item.text))
    done = 0
    if progress:
        progress(0, len(to_embed))
    for start in range(0, len(to_embed), batch_size):
        batch = to_embed[start : start + batch_size]
        vectors = embedding.encode([item.text for item in batch], batch_size=batch_size)
        now = timezone.now()
        DealEmbedding.objects.bulk_create(
            [
                DealEmbedding(
                    deal_id=item.deal_id,
                    workspace_id=item.workspace_id,
                    embedding=vector,
                    text_hash=item.text_hash,
                    model_name=embedding.MODEL_NAME,
                    embedded_at=now,
                    outcome=item.outcome,
                    closed_at=item.closed_at,
                )
                for item, vector in zip(batch, vectors, strict=True)
            ],
            update_conflicts=True,
            unique_fields=["deal"],
            update_fields=["workspace", "embedding", "text_hash", "model_name", "embedded_at", "outcome", "closed_at"],
        )
        done += len(batch)
        if progress:
            progress(done, len(to_embed))
    return RefreshResult(
        embedded=len(to_embed), skipped=len(pending) - len(to_embed), seconds=time.perf_counter() - started
    )
