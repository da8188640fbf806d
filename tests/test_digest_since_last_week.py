"""The weekly email digest carries the member's "since last week" pipeline waterfall."""

from __future__ import annotations

from alerts.delivery import email
from alerts.models import Delivery
from alerts.services import monitors_run
from tests.alerts_helpers import NOW
from tests.test_alerts_delivery import critical

_ = critical


def test_weekly_digest_says_what_changed_in_the_members_pipeline(critical):
    monitors_run(workspace=critical.workspace, as_of=NOW)
    assert email.digests_enqueue(frequency="weekly", now=NOW) >= 1
    rep = Delivery.objects.get(membership=critical.rep)
    text = rep.payload["text"]
    # The quiet big deal was there a week ago; the two small ones are new this week.
    assert "Since last week, your open pipeline: 1 deals, USD 400000 → 3 deals, USD 402000" in text
    assert "New: 2 deals, USD 2000" in text
    assert "/w/acme/forecast/changes/" in text
    assert "Since last week" in rep.payload["html"]
    # The daily digest has no weekly figures.
    assert email.render_digest(critical.rep, [], "daily")["text"].count("Since last week") == 0
