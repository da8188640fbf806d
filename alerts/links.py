"""Absolute links from alerts to the screens they talk about (for emails, Slack and webhooks)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.urls import NoReverseMatch, reverse


def deal_path(slug: str, deal_uuid: uuid.UUID | str) -> str:
    try:
        return reverse("crm:deal_detail", args=[slug, deal_uuid])
    except NoReverseMatch:  # the CRM screens are not mounted (e.g. a trimmed deployment)
        return reverse("alerts:deal_panel", args=[slug, deal_uuid])


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def deal_url(slug: str, deal_uuid: uuid.UUID | str) -> str:
    return absolute(deal_path(slug, deal_uuid))
