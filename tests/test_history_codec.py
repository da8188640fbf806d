"""crm.history: the codec of tracked values, the one transition, and the rows a deal starts with."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

import crm.migrations
from crm import history
from crm.history import Change, DealState
from crm.models import DealHistory, Outcome, StageKind, TrackedField
from crm.selectors import deal_state_as_of
from crm.services import deal_update
from tests.factories import default_stage, make_deal

T0 = datetime(2026, 2, 2, 9, 30, tzinfo=UTC)

# (field, Python value, its stored JSON form) for every tracked field.
SAMPLES = [
    (TrackedField.STAGE, 42, 42),
    (TrackedField.AMOUNT, Decimal("12000.50"), "12000.5"),
    (TrackedField.AMOUNT, Decimal("12000.00"), "12000"),
    (TrackedField.EXPECTED_CLOSE_DATE, date(2026, 3, 31), "2026-03-31"),
    (TrackedField.OWNER, 7, 7),
    (TrackedField.PROBABILITY, Decimal("62.50"), "62.5"),
    (TrackedField.OUTCOME, Outcome.WON, "won"),
]


@pytest.mark.parametrize(("field", "value", "stored"), SAMPLES)
def test_every_field_round_trips_through_its_json_form(field, value, stored):
    assert history.encode(field, value) == stored
    assert json.loads(json.dumps(stored)) == stored  # plain JSON, nothing an encoder must know
    assert history.decode(field, stored) == value
    assert history.encode(field, None) is None and history.decode(field, None) is None


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value", "stored"), SAMPLES)
def test_the_sql_expression_of_each_field_reads_what_encode_wrote(field, value, stored):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {history.sql_value(field, 'v')} FROM (SELECT %s::jsonb AS v) AS row", [json.dumps(stored)]
        )
        (in_sql,) = cursor.fetchone()
    assert history.decode(field, in_sql) == value


def test_every_tracked_field_maps_to_a_deal_attribute_and_back():
    assert set(history.TRACKED_ATTRS) <= set(TrackedField.values)
    assert all(history.FIELD_OF_ATTR[attr] == field for field, attr in history.TRACKED_ATTRS.items())
    assert [history.outcome_of_kind(k) for k in StageKind.values] == [Outcome.OPEN, Outcome.WON, Outcome.LOST]
    assert history.kind_of_outcome(Outcome.LOST) == StageKind.LOST and history.kind_of_outcome(None) is None


def test_apply_derives_when_the_stage_was_entered_and_the_deal_closed():
    t1, t2, t3 = T0 + timedelta(days=1), T0 + timedelta(days=2), T0 + timedelta(days=3)
    start = history.fold([*history.stage_changes(1, StageKind.OPEN, T0), Change(TrackedField.AMOUNT, "100", T0)])
    assert start == DealState(stage_id=1, amount=Decimal(100), outcome=Outcome.OPEN, stage_entered_at=T0)
    moved = history.apply(start, Change(TrackedField.STAGE, 2, t1))
    assert moved.stage_entered_at == t1 and moved.closed_at is None
    assert history.apply(moved, Change(TrackedField.STAGE, 2, t2)) is moved  # same stage: no change
    won = history.fold(history.stage_changes(3, StageKind.WON, t2), moved)
    assert won.outcome == Outcome.WON and won.closed_at == t2 and won.stage_entered_at == t2
    reopened = history.apply(won, Change(TrackedField.OUTCOME, Outcome.OPEN, t3))
    assert reopened.closed_at is None and reopened.stage_id == 3


def test_creation_rows_are_the_fields_that_have_a_value():
    state = history.fold([*history.stage_changes(5, StageKind.OPEN, T0), Change(TrackedField.OWNER, 9, T0)])
    assert history.creation_changes(state) == [
        (TrackedField.STAGE, None, 5),
        (TrackedField.OWNER, None, 9),
        (TrackedField.OUTCOME, None, "open"),
    ]


def _changes(ws, personas):
    """A deal's life: (moment, changes for deal_update)."""
    return [
        (T0 + timedelta(days=2), {"stage": default_stage(ws, "Discovery"), "amount": Decimal("14000.00")}),
        (T0 + timedelta(days=5), {"expected_close_date": date(2026, 5, 15), "probability": 40}),
        (T0 + timedelta(days=9), {"owner": personas.manager, "amount": 14000}),  # the amount is unchanged
        (T0 + timedelta(days=12), {"stage": default_stage(ws, "Closed Won")}),
        (T0 + timedelta(days=20), {"outcome": Outcome.OPEN, "probability": None}),
    ]


def test_the_transition_folded_over_changes_is_what_deal_update_stores(personas):
    ws = personas.workspace
    deal = make_deal(ws, amount=12000, owner=personas.rep, at=T0)
    folded = DealState.of(deal)
    for at, changes in _changes(ws, personas):
        steps = []
        for key, value in changes.items():
            if key == "stage":
                steps += history.stage_changes(value.id, value.kind, at)
            elif key == "owner":
                steps.append(Change(TrackedField.OWNER, value.id, at))
            else:
                steps.append(Change(key, value, at))
        before, folded = folded, history.fold(steps, folded)
        seen = DealHistory.objects.filter(deal=deal).count()
        deal = deal_update(deal=deal, actor=personas.rep, changes=changes, at=at)
        deal.refresh_from_db()
        assert DealState.of(deal) == folded
        stored = DealHistory.objects.filter(deal=deal).order_by("id")[seen:]
        assert [(r.field, r.old_value, r.new_value) for r in stored] == history.diff(before, folded)
    assert deal.outcome == Outcome.OPEN and deal.closed_at is None and deal.probability is None


def test_the_as_of_rebuild_gives_the_state_at_every_moment(personas):
    ws = personas.workspace
    deal = make_deal(ws, amount=12000, owner=personas.rep, at=T0, expected_close_date=date(2026, 3, 31))
    states = [(T0, DealState.of(deal))]
    for at, changes in _changes(ws, personas):
        deal = deal_update(deal=deal, actor=None, changes=changes, at=at)
        deal.refresh_from_db()
        states.append((at, DealState.of(deal)))
    assert deal_state_as_of(deal, T0 - timedelta(seconds=1)) is None
    ends = [later for later, _ in states[1:]] + [states[-1][0] + timedelta(days=1)]
    for (start, state), end in zip(states, ends, strict=True):
        for moment in (start, end - timedelta(seconds=1)):
            snapshot = deal_state_as_of(deal, moment)
            rebuilt = DealState(**{attr: getattr(snapshot, attr) for attr in vars(state)})
            assert rebuilt == state, moment


def _migration(name: str):
    """A crm migration module by the end of its name (its number may change when branches meet)."""
    (path,) = Path(crm.migrations.__file__).parent.glob(f"[0-9][0-9][0-9][0-9]_{name}.py")
    return importlib.import_module(f"crm.migrations.{path.stem}")


@pytest.mark.django_db
def test_migration_turns_a_created_row_into_ordinary_rows(personas):
    ws = personas.workspace
    won = default_stage(ws, "Closed Won")
    deal = make_deal(ws, stage=won, amount=500, at=T0)
    DealHistory.objects.filter(deal=deal).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crm_dealhistory (workspace_id, deal_id, field, old_value, new_value, changed_at, source)"
            " VALUES (%s, %s, 'created', NULL, %s::jsonb, %s, 'import')",
            [ws.id, deal.id, json.dumps({"stage": won.id, "amount": "500"}), T0],
        )
        cursor.execute(_migration("history_created_as_rows").FORWARD)
    rows = set(DealHistory.objects.filter(deal=deal).values_list("field", "old_value", "new_value", "changed_at"))
    assert rows == {
        (TrackedField.STAGE, None, won.id, T0),
        (TrackedField.AMOUNT, None, "500", T0),
        (TrackedField.OUTCOME, None, "won", T0),
    }
    snapshot = deal_state_as_of(deal, T0 + timedelta(hours=1))
    assert snapshot.outcome == Outcome.WON and snapshot.closed_at == T0 and snapshot.amount == 500
