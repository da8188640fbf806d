"""The signal rows capture offers alerts and scoring (see crm.engagement): per captured message and meeting on a
deal, dated when it happened."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from capture.models import CapturedEvent, CapturedMessage, MeetingOutcome
from crm.engagement import SignalRow
from crm.models import Direction

COOLING_SENTIMENT = -0.3  # VADER compound at or below this reads as negative
# A model's label (CapturedMessage.llm_sentiment) on VADER's scale: "negative" reads as cooling.
LABEL_SENTIMENT = {"positive": 0.5, "neutral": 0.0, "negative": -0.5}
SENIOR_TITLE = re.compile(
    r"\b(chief|c[eftoi]o|vp|svp|evp|vice president|president|head|director|founder|owner|partner)\b", re.I
)


def signal_rows(workspace_id: int, deal_ids: Collection[int] | None = None) -> Iterator[SignalRow]:
    """The rows of the workspace's deals, or of those of `deal_ids`."""
    messages = (
        CapturedMessage.objects.filter(_on_deals("", deal_ids), workspace_id=workspace_id, direction=Direction.INBOUND)
        .values_list("deal_id", "sent_at", "sentiment", "cues", "response_seconds", "llm_sentiment", "llm_cues")
        .order_by()
    )
    for deal_id, sent_at, sentiment, cues, response, llm_sentiment, llm_cues in messages.iterator(chunk_size=2000):
        if llm_sentiment:  # the model's reading, when it gave one, replaces the lexicon's
            sentiment, cues = LABEL_SENTIMENT[llm_sentiment], llm_cues
        not_now = "not_now" in (cues or [])
        cooling = not_now or (sentiment is not None and sentiment <= COOLING_SENTIMENT)
        yield deal_id, sent_at, "inbound", 1.0 if cooling else 0.0
        if sentiment is not None:
            yield deal_id, sent_at, "sentiment", float(sentiment)
        if not_now:
            yield deal_id, sent_at, "not_now", 1.0
        if response is not None:
            yield deal_id, sent_at, "reply_hours", response / 3600
    now = timezone.now()
    for event in CapturedEvent.objects.filter(_on_deals("", deal_ids), workspace_id=workspace_id, starts_at__lte=now):
        outcome, deal_id = event.outcome(now), int(event.deal_id or 0)
        if outcome == MeetingOutcome.HELD:
            yield deal_id, event.starts_at, "meeting_held", 1.0
        elif outcome == MeetingOutcome.NO_SHOW:
            yield deal_id, event.starts_at, "meeting_no_show", 1.0
    yield from _senior_rows(workspace_id, deal_ids)


def _on_deals(prefix: str, deal_ids: Collection[int] | None) -> Q:
    """Rows on a deal, or on one of `deal_ids`."""
    if deal_ids is None:
        return Q(**{f"{prefix}deal__isnull": False})
    return Q(**{f"{prefix}deal_id__in": list(deal_ids)})


def _senior_rows(workspace_id: int, deal_ids: Collection[int] | None) -> Iterator[SignalRow]:
    """The first captured message or meeting on each deal with each senior contact (by title)."""
    # Each row brings its contact's title: reading every titled contact of the workspace first cost rescoring one
    # deal more than all its other signals.
    titled = Q(contact__workspace_id=workspace_id) & ~Q(contact__title="")
    through = (
        CapturedMessage.contacts.through.objects.filter(
            titled, _on_deals("capturedmessage__", deal_ids), capturedmessage__workspace_id=workspace_id
        )
        .values_list("capturedmessage__deal_id", "contact_id", "capturedmessage__sent_at", "contact__title")
        .order_by()
    )
    meetings = (
        CapturedEvent.contacts.through.objects.filter(
            titled, _on_deals("capturedevent__", deal_ids), capturedevent__workspace_id=workspace_id
        )
        .values_list("capturedevent__deal_id", "contact_id", "capturedevent__starts_at", "contact__title")
        .order_by()
    )
    senior: dict[str, bool] = {}
    first: dict[tuple[int, int], datetime] = {}
    for deal_id, contact_id, at, title in [*through, *meetings]:
        if title not in senior:
            senior[title] = SENIOR_TITLE.search(title) is not None
        if not senior[title]:
            continue
        key = (deal_id, contact_id)
        if key not in first or at < first[key]:
            first[key] = at
    for (deal_id, _), at in first.items():
        yield deal_id, at, "senior_contact", 1.0
