"""Slack incoming-webhook messages for Critical alerts (a JSON body with `text` and `blocks`)."""

from __future__ import annotations

import json

from alerts.delivery.errors import DeliveryError
from alerts.delivery.http import post_json
from alerts.models import AlertSettings, Delivery


def escape(text: object) -> str:
    """Slack's mrkdwn control characters as entities: `<!channel>` or `<https://x|y>` in a deal title stays text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(payload: dict) -> dict:
    data = payload["data"]
    deal = data.get("deal") or {}
    title = f":rotating_light: Critical: {escape(deal.get('title') or data['kind'])}"
    link = f"<{deal['url']}|Open the deal>" if deal.get("url") else ""  # our own URL: the one link we mean
    seen, why, next_step = escape(data["seen"]), escape(data["why"]), escape(data["next_step"])
    text = f"{title}\n{seen}\n{why}\nNext step: {next_step}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{seen}"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{why}\n*Next step:* {next_step} {link}".strip()},
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
