"""A live re-forecast folds again only the deals that changed since the previous one, and sees every change."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Deal, DealHistory
from crm.selectors import pipeline_as_of
from crm.services import deal_delete, deal_move_to_stage, deal_update
from forecasting import inputs
from forecasting.inputs import live_pipeline
from tests.factories import default_stage, make_deal

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    inputs._live.clear()
    yield
    inputs._live.clear()


def test_live_snapshots_match_a_full_fold_after_every_kind_of_change(personas):
    ws, owner = personas.workspace, personas.owner
    old = timezone.now() - timedelta(days=200)
    deals = [make_deal(ws, title=f"Deal {i}", amount=1000 * (i + 1), at=old, actor=owner) for i in range(6)]
    first = live_pipeline(ws, timezone.now())
    assert first == pipeline_as_of(ws, first[0].as_of)
    # The previous run is older than the slack: only deals written since are folded again.
    inputs._live[ws.id].as_of -= inputs.CHANGE_SLACK * 2
    Deal.objects.filter(workspace=ws).update(updated_at=old)
    DealHistory.objects.filter(workspace=ws).update(changed_at=old)

    deal_update(deal=deals[0], actor=owner, changes={"amount": Decimal("777")})
    deal_move_to_stage(deal=deals[1], stage=default_stage(ws, "Negotiation"), actor=owner)
    deal_delete(deal=deals[2], actor=owner)
    added = make_deal(ws, title="New", amount=5, actor=owner)
    now = timezone.now()
    with CaptureQueriesContext(connection) as ctx:
        live = live_pipeline(ws, now)

    assert live == pipeline_as_of(ws, now)
    by_id = {s.id: s for s in live}
    assert by_id[deals[0].id].amount == Decimal("777")
    assert by_id[deals[1].id].stage_id == default_stage(ws, "Negotiation").id
    assert deals[2].id not in by_id and added.id in by_id
    folded = [q["sql"] for q in ctx.captured_queries if "DISTINCT ON" in q["sql"]]
    refolded = {int(i) for sql in folded for i in re.findall(r"\d+", sql.split('"deal_id" IN (')[-1].split(")")[0])}
    assert refolded == {deals[0].id, deals[1].id, added.id}  # untouched deals 3, 4, 5 come from the last run


def test_a_past_as_of_or_another_workspace_never_reads_the_live_snapshots(personas):
    ws, owner = personas.workspace, personas.owner
    deal = make_deal(ws, amount=100, at=timezone.now() - timedelta(days=30), actor=owner)
    live_pipeline(ws, timezone.now())
    week_ago = timezone.now() - timedelta(days=7)
    deal_update(deal=deal, actor=owner, changes={"amount": Decimal("900")})
    assert [s.amount for s in live_pipeline(ws, week_ago)] == [Decimal("100")]
    assert [s.amount for s in live_pipeline(ws, timezone.now())] == [Decimal("900")]


def test_a_change_dated_in_the_past_is_seen_when_its_deal_is_named(personas):
    # An import writes history dated when the change happened in the other CRM: the handler's ids say which deals.
    ws, owner = personas.workspace, personas.owner
    old = timezone.now() - timedelta(days=90)
    deal = make_deal(ws, amount=100, at=old, actor=owner)
    live_pipeline(ws, timezone.now())
    inputs._live[ws.id].as_of -= inputs.CHANGE_SLACK * 2
    Deal.objects.filter(id=deal.id).update(amount=Decimal("250"), updated_at=old)
    DealHistory.objects.create(
        workspace=ws,
        deal=deal,
        field="amount",
        old_value="100.00",
        new_value="250.00",
        changed_at=old + timedelta(days=1),
    )

    assert [s.amount for s in live_pipeline(ws, timezone.now(), changed_ids=[deal.id])] == [Decimal("250")]
