"""Outbound webhooks signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`)."""

from __future__ import annotations

import json

from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from alerts.delivery.errors import DeliveryError
from alerts.delivery.http import post_json
from alerts.models import Delivery


def signed_headers(*, secret: str, message_id: str, body: str) -> dict[str, str]:
    now = timezone.now()
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=now, data=body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def send(delivery: Delivery) -> None:
    endpoint = delivery.endpoint
    if endpoint is None or not endpoint.is_active:
        raise DeliveryError("endpoint removed", permanent=True)
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    # The message id stays the same on every retry: it is the receiver's idempotency key.
    message_id = f"msg_{delivery.uuid.hex}"
    headers = signed_headers(secret=endpoint.secret, message_id=message_id, body=body)
    headers["Idempotency-Key"] = message_id
    post_json(endpoint.url, body, headers)
