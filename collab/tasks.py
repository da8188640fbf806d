"""Worker entry points of the collab app: they take ids and call the delivery or the services."""

from __future__ import annotations

from collab import delivery, services


def deliver_notification(notification_id: int) -> None:
    delivery.deliver(notification_id)


def deliver_pending() -> int:
    return delivery.deliver_pending()


def on_deals_changed(workspace_id: int, deal_ids: list[int]) -> int:
    """A DEAL_CHANGE_HANDLERS entry: tell members a person made them a deal's owner."""
    return services.on_deals_changed(workspace_id, deal_ids)
