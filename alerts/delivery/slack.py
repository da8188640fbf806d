"""Slack incoming-webhook messages for Critical alerts (a JSON body with `text` and `blocks`)."""

from __future__ import annotations

import json

from alerts.delivery.errors import DeliveryError
from alerts.delivery.http import post_json
from alerts.models import AlertSettings, Delivery


def message(payload: dict) -> dict:
    data = payload["data"]
    deal = data.get("deal") or {}
    title = f":rotating_light: Critical: {deal.get('title') or data['kind']}"
    link = f"<{deal['url']}|Open the deal>" if deal.get("url") else ""
    text = f"{title}\n{data['seen']}\n{data['why']}\nNext step: {data['next_step']}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{data['seen']}"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{data['why']}\n*Next step:* {data['next_step']} {link}".strip()},
            },
        ],
    }


def send(delivery: Delivery) -> None:
    row = AlertSettings.objects.filter(workspace_id=delivery.workspace_id).first()
    if row is None or not row.slack_enabled or not row.slack_webhook_url:
        raise DeliveryError("Slack is not configured", permanent=True)
    answer = post_json(row.slack_webhook_url, json.dumps(message(delivery.payload)), {})
    if answer.text.strip() not in {"ok", ""}:
        raise DeliveryError(f"Slack answered {answer.text[:100]!r}", permanent=True)
