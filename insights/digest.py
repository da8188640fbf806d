"""The weekly digest's section from insights: the five deals that decide the period for this member."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.urls import reverse

from alerts.links import absolute, deal_url
from insights.selectors import focus_for_digest
from tenancy.models import Membership


def focus_section(member: Membership, today: date) -> dict[str, Any] | None:
    """Registered in alerts.delivery.email.DIGEST_SECTIONS by InsightsConfig.ready; None when there is nothing."""
    focus = focus_for_digest(member, today)
    if focus.run is None or not focus.deals:
        return None
    slug = member.workspace.slug
    return {
        "title": f"The deals that decide the period ({focus.scope_name})",
        "lines": [{"text": f"{d.deal.title}: {d.reason}", "url": deal_url(slug, d.deal.uuid)} for d in focus.deals],
        "url": absolute(reverse("insights:page", args=[slug])),
    }
