"""Captured signals feed the alerts and the scorer: a buyer's "not now" raises an engagement alert that a warm
reply clears, a no-show with silence since flags the deal, the scorer's engagement features read only what was dated
before their as-of, and switching capture off (the ablation) takes all of it away."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from alerts import detectors
from alerts.models import Alert, AlertKind
from alerts.services import monitors_run
from capture.models import CapturedMessage
from crm import engagement
from crm.models import Activity
from scoring.ablation import without_capture
from scoring.features import engagement_features, to_days
from scoring.loader import load_raw
from tests.capture import corpus as world
from tests.capture.servers import imap_server
from tests.test_alerts_detectors import make_facts
from tests.test_capture import _crm

T = detectors.Thresholds()


def test_engagement_detector_flags_cooling_buyers_and_unanswered_no_shows_only():
    quiet = make_facts(3)  # healthy deals, no captured signals: nothing
    assert not detectors.engagement(quiet, T).flagged.any()
    signalled = replace(
        quiet, buyer_cooling=np.array([True, False, False]), no_show_unanswered=np.array([False, True, False])
    )
    found = detectors.engagement(signalled, T)
    assert found.flagged.tolist() == [True, True, False]
    assert found.severity[0] > found.severity[1] > 0


def _mail(frm: str, to: list[str], subject: str, body: str, at, mid: str, reply_to: str = "") -> bytes:
    return world.build_mail(
        frm=frm, to=to, subject=subject, body=body, sent_at=at, message_id=mid, in_reply_to=reply_to or None
    )


def _capture() -> dict:
    out = StringIO()
    call_command("capture_activities", "--workspace", "acme", "--json", stdout=out)
    return json.loads(out.getvalue())


def _engagement_alert(personas, deal):
    return Alert.objects.for_workspace(personas.workspace).filter(kind=AlertKind.ENGAGEMENT, deal=deal).first()


@pytest.mark.slow
def test_captured_signals_raise_and_clear_alerts_and_feed_the_scorer_point_in_time(personas, tmp_path: Path, db):
    now = timezone.now()
    deals = _crm(personas)
    stark, wayne = deals["Stark upgrade"], deals["Wayne platform"]
    with imap_server(tmp_path, world.REP) as server:
        server.append_many(
            [
                (
                    "Sent",
                    _mail(
                        world.REP,
                        ["tony@stark.com"],
                        "Stark proposal",
                        "Here it is.",
                        now - timedelta(days=5),
                        "<p@acme.test>",
                    ),
                ),
                (
                    "INBOX",
                    _mail(
                        "tony@stark.com",
                        [world.REP],
                        "Re: Stark proposal",
                        "Thanks, but this is not a priority right now. Let's circle back next year.",
                        now - timedelta(days=2),
                        "<n@stark.com>",
                        "<p@acme.test>",
                    ),
                ),
                (
                    "INBOX",
                    _mail(
                        "bruce@wayne.com",
                        [world.REP],
                        "Wayne scope",
                        "Looks great, thanks!",
                        now - timedelta(days=1),
                        "<b@wayne.com>",
                    ),
                ),
            ]
        )
        call_command("connect_mailbox", "--workspace", "acme", "--member", world.REP, "--imap-url", server.url())
        assert _capture()["messages"]["new"] == 3

        monitors_run(workspace=personas.workspace)
        alert = _engagement_alert(personas, stark)
        assert alert is not None and alert.resolved_at is None
        assert "not now" in alert.seen and alert.details["buyer_cooling"] is True
        assert _engagement_alert(personas, wayne) is None  # a warm reply raises nothing

        # Ablation: with capture off the same run sees neither the activities nor the signals.
        with engagement.without_capture():
            assert engagement.signal_rows(personas.workspace.id) == []
            raw_off = load_raw(personas.workspace.id)
        raw = load_raw(personas.workspace.id)
        captured = Activity.objects.filter(external_id__startswith=engagement.CAPTURED_PREFIX).count()
        assert captured == 3 and int(raw.act_captured.sum()) == 3
        assert len(without_capture(raw).act_deal) == len(raw.act_deal) - 3 and not raw_off.signals

        # The scorer's engagement features, point in time: nothing before the mail was sent, the reply after.
        i = np.array([raw.index[stark.id], raw.index[wayne.id]])
        before = engagement_features(raw, i, np.full(2, to_days(now - timedelta(days=3))))
        after = engagement_features(raw, i, np.full(2, to_days(now)))
        assert before["not_now_90d"].tolist() == [0, 0] and np.isnan(before["inbound_sentiment_90d"]).all()
        assert after["not_now_90d"].tolist() == [1, 0]
        assert after["inbound_sentiment_90d"][1] > 0.3
        assert 70 < after["reply_hours_90d"][0] < 74  # Tony answered three days after the proposal
        assert after["senior_contacts"].tolist() == [0, 1]  # Bruce is a VP
        assert before["senior_contacts"].tolist() == [0, 0]
        # Rescoring one changed deal reads that deal's signals only, and gets the same features from them.
        one = load_raw(personas.workspace.id, deal_ids=[wayne.id])
        alone = engagement_features(one, np.array([one.index[wayne.id]]), np.full(1, to_days(now)))
        for name, values in after.items():
            np.testing.assert_array_equal(alone[name], values[1:], err_msg=name)
        assert alone["senior_contacts"].tolist() == [1]
        assert all(one.index[stark.id] not in positions for positions, _, _ in one.signals.values())
        assert engagement_features(without_capture(raw), i, np.full(2, to_days(now)))["not_now_90d"].tolist() == [0, 0]

        # Tony warms up: the engagement alert clears on the next run.
        server.append(
            "INBOX",
            _mail(
                "tony@stark.com",
                [world.REP],
                "Re: Stark proposal",
                "Good news, budget approved! Please send the contract, excited to start.",
                now,
                "<w@stark.com>",
                "<n@stark.com>",
            ),
        )
        assert _capture()["messages"]["new"] == 1
        assert CapturedMessage.objects.get(message_id="<w@stark.com>").sentiment > 0.5
        monitors_run(workspace=personas.workspace)
        alert.refresh_from_db()
        assert alert.resolved_at is not None

        out = StringIO()
        today = timezone.localdate().isoformat()
        call_command(
            "backtest_alerts", "--workspace", "acme", "--as-of", today, "--json", "--no-calibration", stdout=out
        )
        ablation = json.loads(out.getvalue())["engagement_ablation"]
        print("engagement ablation on the test mailbox:", json.dumps(ablation))  # the report's figures (pytest -s)
        assert ablation["captured_activities"] == 4
        assert set(ablation) >= {"with", "without", "added"}
        assert (
            ablation["with"]["by_kind"]["engagement"]["flagged"]
            >= ablation["without"]["by_kind"]["engagement"]["flagged"]
        )
