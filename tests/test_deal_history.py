"""Every tracked change leaves a history row, and deals can be rebuilt as of any past moment."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from crm.models import Deal, DealHistory, Outcome, Stage, TrackedField
from crm.selectors import deal_state_as_of, pipeline_as_of
from crm.services import deal_create, deal_move_to_stage, deal_update
from crm.services import pipeline_create_default as make_pipeline
from tests.factories import default_stage, make_deal

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _stage(workspace, name):
    return default_stage(workspace, name)


@pytest.fixture
def deal(personas) -> Deal:
    return make_deal(
        personas.workspace,
        actor=personas.rep,
        title="Acme renewal",
        amount=12000,
        expected_close_date=date(2026, 3, 31),
        owner=personas.rep,
        at=T0,
    )


def test_every_tracked_change_is_recorded(personas, deal):
    ws = personas.workspace
    t1 = T0 + timedelta(days=3)
    deal_update(
        deal=deal,
        actor=personas.rep,
        at=t1,
        changes={
            "stage": _stage(ws, "Proposal"),
            "amount": Decimal("15000"),
            "expected_close_date": date(2026, 4, 30),
            "probability": 60,
            "owner": personas.manager,
        },
    )
    deal_move_to_stage(deal=deal, stage=_stage(ws, "Closed Won"), actor=personas.manager)
    rows = list(DealHistory.objects.filter(deal=deal).values_list("field", "old_value", "new_value"))
    fields = [r[0] for r in rows]
    assert fields.count(TrackedField.STAGE) == 3  # the creation row and two moves
    assert (TrackedField.AMOUNT, "12000", "15000") in rows
    assert (TrackedField.EXPECTED_CLOSE_DATE, "2026-03-31", "2026-04-30") in rows
    assert (TrackedField.OWNER, personas.rep.id, personas.manager.id) in rows
    assert (TrackedField.PROBABILITY, None, "60") in rows
    assert (TrackedField.OUTCOME, "open", "won") in rows
    deal.refresh_from_db()
    assert deal.outcome == Outcome.WON and deal.closed_at is not None
    # A move without an explicit time is stamped when it happens, after the back-dated edit.
    won_move = DealHistory.objects.filter(deal=deal, field=TrackedField.STAGE).order_by("id").last()
    assert won_move.changed_at > t1 and won_move.changed_by == personas.manager


def test_unchanged_values_leave_no_row(personas, deal):
    before = DealHistory.objects.filter(deal=deal).count()
    deal_update(deal=deal, actor=personas.rep, changes={"amount": Decimal("12000.00"), "title": "Renamed"})
    assert DealHistory.objects.filter(deal=deal).count() == before
    deal.refresh_from_db()
    assert deal.title == "Renamed"


def test_stage_of_another_pipeline_is_refused(personas, deal):
    other = make_pipeline(workspace=personas.workspace, name="Renewals")
    foreign_stage = Stage.objects.filter(pipeline=other).first()
    with pytest.raises(ValidationError):
        deal_move_to_stage(deal=deal, stage=foreign_stage, actor=personas.rep)
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"
    assert not DealHistory.objects.filter(deal=deal, field=TrackedField.STAGE, old_value__isnull=False).exists()


def test_creation_is_one_ordinary_row_per_field_with_a_value(personas, deal):
    rows = set(DealHistory.objects.filter(deal=deal).values_list("field", "old_value", "new_value", "changed_at"))
    assert rows == {
        (TrackedField.STAGE, None, _stage(personas.workspace, "Prospecting").id, T0),
        (TrackedField.AMOUNT, None, "12000", T0),
        (TrackedField.EXPECTED_CLOSE_DATE, None, "2026-03-31", T0),
        (TrackedField.OWNER, None, personas.rep.id, T0),
        (TrackedField.OUTCOME, None, "open", T0),
    }  # no probability row: it had none


def test_state_as_of_rebuilds_the_past(personas, deal):
    ws = personas.workspace
    t1, t2, t3 = T0 + timedelta(days=3), T0 + timedelta(days=10), T0 + timedelta(days=20)
    deal_update(deal=deal, actor=None, at=t1, changes={"stage": _stage(ws, "Discovery"), "amount": 14000})
    deal_update(deal=deal, actor=None, at=t2, changes={"expected_close_date": date(2026, 5, 15)})
    deal_update(deal=deal, actor=None, at=t3, changes={"stage": _stage(ws, "Closed Lost")})

    assert deal_state_as_of(deal, T0 - timedelta(seconds=1)) is None
    at_start = deal_state_as_of(deal, T0 + timedelta(hours=1))
    assert at_start.stage_id == _stage(ws, "Prospecting").id
    assert at_start.amount == Decimal("12000")
    assert at_start.expected_close_date == date(2026, 3, 31)
    assert at_start.is_open and at_start.closed_at is None

    mid = deal_state_as_of(deal, t2 + timedelta(hours=1))
    assert mid.stage_id == _stage(ws, "Discovery").id
    assert mid.amount == Decimal("14000")
    assert mid.expected_close_date == date(2026, 5, 15)
    assert mid.stage_entered_at == t1
    assert mid.is_open

    end = deal_state_as_of(deal, t3 + timedelta(hours=1))
    assert end.outcome == Outcome.LOST and end.closed_at == t3


def test_pipeline_as_of_uses_a_fixed_number_of_queries(personas, django_assert_max_num_queries):
    ws = personas.workspace
    for i in range(30):
        d = deal_create(workspace=ws, actor=None, title=f"D{i}", stage=_stage(ws, "Prospecting"), at=T0, created_at=T0)
        deal_update(deal=d, actor=None, at=T0 + timedelta(days=i + 1), changes={"stage": _stage(ws, "Proposal")})
    with django_assert_max_num_queries(3):
        snapshots = pipeline_as_of(ws, T0 + timedelta(days=10, hours=1))
    stages = [s.stage_id for s in snapshots]
    assert stages.count(_stage(ws, "Proposal").id) == 10
    assert stages.count(_stage(ws, "Prospecting").id) == 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_keep_every_history_row(personas):
    ws = personas.workspace
    deal = deal_create(workspace=ws, actor=None, title="Contested", stage=_stage(ws, "Prospecting"))
    errors: list[BaseException] = []

    def edit(amount: int) -> None:
        try:
            deal_update(deal=deal, actor=None, changes={"amount": Decimal(amount)})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(1000 + i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = list(
        DealHistory.objects.filter(deal=deal, field=TrackedField.AMOUNT, old_value__isnull=False).order_by("id")
    )
    assert len(rows) == 6
    # Each change's old value is the previous change's new value: no update was lost.
    for prev, nxt in itertools.pairwise(rows):
        assert nxt.old_value == prev.new_value
