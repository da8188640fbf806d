"""Reads of the capture screens; every one takes the workspace (or a scoped object) explicitly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from statistics import median

from django.db.models import QuerySet

from capture.models import (
    CalendarConnection,
    CapturedEvent,
    CapturedMessage,
    CaptureState,
    ConnectionStatus,
    ContactSuggestion,
    MailboxConnection,
)
from crm.models import Deal, DealQuerySet
from tenancy.models import Membership, Workspace


def connections_for_member(member: Membership) -> tuple[QuerySet[MailboxConnection], QuerySet[CalendarConnection]]:
    live = {"member": member}
    return (
        MailboxConnection.objects.filter(**live).exclude(status=ConnectionStatus.DISCONNECTED).order_by("created_at"),
        CalendarConnection.objects.filter(**live).exclude(status=ConnectionStatus.DISCONNECTED).order_by("created_at"),
    )


def unassigned_for_member(member: Membership) -> tuple[list[CapturedMessage], list[CapturedEvent]]:
    """What this member's connections captured that waits for a deal: one row per thread (its latest message)."""
    rows = (
        CapturedMessage.objects.for_workspace(member.workspace)
        .filter(state=CaptureState.UNASSIGNED, member=member)
        .select_related("company")
        .order_by("thread_key", "-sent_at")
        .distinct("thread_key")
    )
    events = CapturedEvent.objects.for_workspace(member.workspace).filter(state=CaptureState.UNASSIGNED, member=member)
    return sorted(rows, key=lambda m: m.sent_at, reverse=True)[:200], list(events.select_related("company")[:200])


def open_deals_by_company(workspace: Workspace, deals: DealQuerySet, company_ids: set[int]) -> dict[int, list[Deal]]:
    found: dict[int, list[Deal]] = {}
    for deal in deals.open().filter(company_id__in=company_ids).order_by("title"):
        found.setdefault(deal.company_id, []).append(deal)  # type: ignore[arg-type]  # filtered on company
    return found


def suggestions(workspace: Workspace) -> QuerySet[ContactSuggestion]:
    return (
        ContactSuggestion.objects.for_workspace(workspace)
        .filter(dismissed=False)
        .select_related("company")
        .order_by("-seen_count", "email")
    )


_SENIORITY = (
    ("executive", re.compile(r"\b(chief|ceo|cfo|cto|coo|cio|ciso|cro|president|founder|owner|partner)\b", re.I)),
    ("vp", re.compile(r"\b(vp|svp|evp|vice president|head of)\b", re.I)),
    ("director", re.compile(r"\bdirector\b", re.I)),
    ("manager", re.compile(r"\b(manager|lead)\b", re.I)),
)


def seniority(title: str) -> str:
    """The level a job title says (executive, vp, director, manager), or "" when it says none."""
    return next((level for level, pattern in _SENIORITY if pattern.search(title or "")), "")


@dataclass
class DealSignals:
    messages: list[CapturedMessage]
    meetings: list[CapturedEvent]
    inbound: int
    outbound: int
    median_reply_hours: float | None
    sentiment: str | None  # of the latest inbound message
    read_by: str  # who read that sentiment: "lexicon" or the model's reader ("Claude")
    cues: list[str]  # seen in inbound mail of the last 30 messages
    senior_attendees: list[tuple[str, str]]  # (contact, title) at director level or above, from captured meetings


def deal_signals(deal: Deal) -> DealSignals:
    messages = list(CapturedMessage.objects.filter(deal=deal).order_by("-sent_at")[:30])
    meetings = list(CapturedEvent.objects.filter(deal=deal).prefetch_related("contacts").order_by("-starts_at")[:10])
    senior = {
        c.full_name: c.title
        for e in meetings
        for c in e.contacts.all()
        if seniority(c.title) in {"executive", "vp", "director"}
    }
    inbound = [m for m in messages if m.direction == "inbound"]
    replies = [m.response_seconds / 3600 for m in inbound if m.response_seconds is not None]
    latest = next((m for m in inbound if m.sentiment_label is not None), None)
    cues = sorted({c for m in inbound for c in m.shown_cues})
    return DealSignals(
        messages=messages[:10],
        meetings=meetings,
        inbound=len(inbound),
        outbound=len(messages) - len(inbound),
        median_reply_hours=round(median(replies), 1) if replies else None,
        sentiment=latest.sentiment_label if latest else None,
        read_by=latest.reading_source if latest else "lexicon",
        cues=cues,
        senior_attendees=sorted(senior.items()),
    )
