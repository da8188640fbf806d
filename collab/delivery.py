"""Email and Web Push of notifications, each at most once (the way alerts' outbox sends email).

A sender claims a channel with a conditional UPDATE (pending → sending) before it sends, and records "sent" or
"failed" after. A worker killed mid-send leaves "sending", which is never sent again: a missed message rather
than a duplicate, since neither a mailbox nor a phone can drop a repeat.
"""

from __future__ import annotations

import logging

from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse

from alerts.links import absolute
from collab import push
from collab.models import DeliveryState, Notification, PushSubscription

logger = logging.getLogger(__name__)


def _claim(notification_id: int, field: str) -> bool:
    return bool(
        Notification.objects.filter(id=notification_id, **{field: DeliveryState.PENDING}).update(
            **{field: DeliveryState.SENDING}
        )
    )


def _finish(notification_id: int, field: str, state: str, error: str = "") -> None:
    updates: dict[str, str] = {field: state}
    if error:
        updates["last_error"] = error[:300]
    Notification.objects.filter(id=notification_id, **{field: DeliveryState.SENDING}).update(**updates)


def open_path(notification: Notification) -> str:
    """The link that marks the notification read and goes to what it is about."""
    return reverse("collab:notification_open", args=[notification.workspace.slug, notification.uuid])


def _send_email(notification: Notification) -> None:
    if not _claim(notification.id, "email_state"):
        return
    link = absolute(open_path(notification))
    text = f"{notification.title}\n\n{notification.body}\n\n{link}\n".replace("\n\n\n", "\n\n")
    try:
        send_mail(f"[VectorOS] {notification.title}", text, None, [notification.recipient.email])
    except Exception as exc:  # SMTP refused or unreachable: recorded, not retried (at most once)
        _finish(notification.id, "email_state", DeliveryState.FAILED, f"{type(exc).__name__}: {exc}")
        logger.info("notification email %s failed: %s", notification.uuid, exc)
        return
    _finish(notification.id, "email_state", DeliveryState.SENT)


def _send_push(notification: Notification) -> None:
    if not _claim(notification.id, "push_state"):
        return
    payload = {
        "title": notification.title,
        "body": notification.body[:200],
        "url": open_path(notification),
        "tag": str(notification.uuid),
    }
    sent, errors = 0, []
    for subscription in PushSubscription.objects.filter(membership_id=notification.recipient_id):
        try:
            push.send(subscription.subscription_info(), payload)
            sent += 1
        except push.PushError as exc:
            errors.append(str(exc))
            if exc.gone:
                subscription.delete()  # expired or refused for good: the browser subscribes again next visit
            else:
                PushSubscription.objects.filter(id=subscription.id).update(last_error=str(exc)[:300])
    state = DeliveryState.SENT if sent else DeliveryState.FAILED
    _finish(notification.id, "push_state", state, "; ".join(errors))


def deliver(notification_id: int) -> None:
    """Send the notification's pending email and push (either may already be taken by another worker)."""
    notification = Notification.objects.select_related("recipient", "workspace").filter(id=notification_id).first()
    if notification is None:
        return
    if notification.email_state == DeliveryState.PENDING:
        _send_email(notification)
    if notification.push_state == DeliveryState.PENDING:
        _send_push(notification)


def deliver_pending(limit: int = 200) -> int:
    """Every notification with an email or push still pending (a lost task, a broker outage)."""
    ids = list(
        Notification.objects.filter(Q(email_state=DeliveryState.PENDING) | Q(push_state=DeliveryState.PENDING))
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    for notification_id in ids:
        deliver(notification_id)
    return len(ids)
