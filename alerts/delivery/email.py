"""Email digests: the top alerts of each member, daily or weekly as they chose, text and HTML."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from alerts import selectors
from alerts.delivery import outbox
from alerts.delivery.errors import DeliveryError
from alerts.links import absolute, deal_url
from alerts.models import Channel, Delivery, DigestFrequency, NotificationPreference, Priority
from forecasting.calls import call_reminder
from forecasting.waterfall import FLOW_LABELS, FLOWS, Snapshots, owners_for_member, pipeline_changes, pipeline_snapshots
from tenancy.models import Membership
from tenancy.scope import Scope

DIGEST_SIZE = 10
# Sections higher apps add to the weekly digest (registered in their AppConfig.ready, e.g. insights' five deals that
# decide the period): `section(member, today)` returns {"title", "lines": [{"text", "url"}], "url"} or None.
DIGEST_SECTIONS: list[Callable[[Membership, date], dict[str, Any] | None]] = []
logger = logging.getLogger(__name__)


def digest_sections(member: Membership, today: date) -> list[dict[str, Any]]:
    """The registered sections for this member; one that fails is left out (logged), never the whole digest."""
    found = []
    for section in DIGEST_SECTIONS:
        try:
            result = section(member, today)
        except Exception:  # a broken section must not stop the member's digest
            logger.exception("digest section %s failed for member %s", getattr(section, "__name__", section), member.id)
            continue
        if result:
            found.append(result)
    return found


def period_key(frequency: str, now: datetime) -> str:
    if frequency == DigestFrequency.DAILY:
        return now.date().isoformat()
    year, week, _ = now.isocalendar()
    return f"{year}-W{week:02d}"


def _members_for(frequency: str) -> list[tuple[Membership, int]]:
    """Members with a login and an email who chose this frequency (weekly is the default)."""
    prefs = {p.membership_id: p for p in NotificationPreference.objects.all()}
    members = Membership.objects.active().filter(user__isnull=False, user__is_active=True).exclude(email="")
    chosen = []
    for member in members.select_related("workspace", "user"):
        pref = prefs.get(member.id)
        digest = pref.digest if pref else DigestFrequency.WEEKLY
        if digest == frequency:
            chosen.append((member, pref.min_priority if pref else Priority.MEDIUM))
    return chosen


def since_last_week(member: Membership, today: date, cache: dict[int, Snapshots] | None = None) -> dict[str, object]:
    """The weekly digest's "since last week": the member's pipeline waterfall over the last seven days."""
    workspace = member.workspace
    start = today - timedelta(days=7)
    cache = {} if cache is None else cache
    if workspace.id not in cache:
        cache[workspace.id] = pipeline_snapshots(workspace, start=start, end=today)
    owners = owners_for_member(Scope.for_member(member), team=None, rep=None)
    result = pipeline_changes(workspace, start=start, end=today, owner_ids=owners, snapshots=cache[workspace.id])
    flows = [
        {"label": FLOW_LABELS[name], "deals": result.flows[name].deals, "amount": result.flows[name].amount}
        for name in FLOWS
        if result.flows[name].deals or result.flows[name].amount
    ]
    return {
        "start": result.start,
        "end": result.end,
        "flows": flows,
        "currency": workspace.currency,
        "url": absolute(reverse("forecasting:changes", args=[workspace.slug])),
    }


def render_digest(
    member: Membership,
    alerts: list,
    frequency: str,
    since: dict[str, object] | None = None,
    sections: list[dict[str, Any]] | None = None,
) -> dict[str, str]:
    workspace = member.workspace
    items = [
        {
            "alert": a,
            "priority": Priority(a.priority).label,
            "url": deal_url(workspace.slug, a.deal.uuid)
            if a.deal_id
            else absolute(reverse("alerts:list", args=[workspace.slug])),
        }
        for a in alerts
    ]
    context = {
        "member": member,
        "workspace": workspace,
        "items": items,
        "frequency": frequency,
        "since": since,
        "sections": sections or [],
        "list_url": absolute(reverse("alerts:list", args=[workspace.slug])),
        "preferences_url": absolute(reverse("alerts:preferences", args=[workspace.slug])),
        # The weekly forecast call: the member's submission status and when the next call is due.
        "call": call_reminder(member),
        "calls_url": absolute(reverse("forecasting:calls", args=[workspace.slug])),
    }
    count = len(items)
    return {
        "to": member.email,
        "subject": f"[{workspace.name}] {count} alert{'s' if count != 1 else ''} need your attention",
        "text": render_to_string("alerts/email/digest.txt", context),
        "html": render_to_string("alerts/email/digest.html", context),
    }


def digests_enqueue(*, frequency: str, now: datetime) -> int:
    """One digest per member for this day/week (idempotency key per member and period); members
    with nothing to report get none. Returns how many new digests were queued."""
    key_period = period_key(frequency, now)
    rows = []
    snapshots: dict[int, Snapshots] = {}  # one as-of rebuild per workspace, whatever its number of members
    for member, min_priority in _members_for(frequency):
        key = f"digest:{member.id}:{frequency}:{key_period}"
        if Delivery.objects.filter(idempotency_key=key).exists():
            continue
        alerts = selectors.digest_alerts(member, today=now.date(), min_priority=min_priority, limit=DIGEST_SIZE)
        if not alerts:
            continue
        today = now.astimezone(member.workspace.tz).date()
        weekly = frequency == DigestFrequency.WEEKLY
        rows.append(
            Delivery(
                workspace=member.workspace,
                channel=Channel.EMAIL,
                membership=member,
                event_type=f"digest.{frequency}",
                idempotency_key=key,
                payload=render_digest(
                    member,
                    alerts,
                    frequency,
                    since_last_week(member, today, snapshots) if weekly else None,
                    digest_sections(member, today) if weekly else None,
                ),
            )
        )
    return outbox.enqueue(rows)


def send(delivery: Delivery) -> None:
    payload = delivery.payload
    message_id = hashlib.sha256(delivery.idempotency_key.encode()).hexdigest()[:32]
    message = EmailMultiAlternatives(
        subject=payload["subject"],
        body=payload["text"],
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[payload["to"]],
        headers={"Message-ID": f"<{message_id}@vectoros>", "X-VectorOS-Idempotency-Key": delivery.idempotency_key},
    )
    message.attach_alternative(payload["html"], "text/html")
    try:
        message.send(fail_silently=False)
    except (OSError, Exception) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
