"""Deleting a deal: soft, recorded in its history, hidden everywhere, re-forecast, restorable by an admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from alerts.models import Alert, AlertKind, AlertStatus
from alerts.selectors import alerts_for_member
from alerts.tasks import on_deals_changed as alerts_on_deals_changed
from crm.models import ChangeSource, Deal, DealHistory, TrackedField
from crm.selectors import pipeline_as_of
from crm.services import activity_log, deal_create, deal_delete, deal_move_to_stage
from forecasting.models import ForecastRun
from scoring.loader import load_raw
from scoring.models import DealScore
from scoring.tasks import on_deals_changed as scoring_on_deals_changed
from similarity import embedding
from similarity.models import DealEmbedding
from similarity.selectors import similar_deals
from similarity.tasks import on_deals_changed as similarity_on_deals_changed
from tenancy.jobs import run_pending
from tenancy.models import PendingJob
from tenancy.services import api_key_create
from tests.factories import default_stage

API = "/api/v1"
NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)
FORECAST = "forecasting.tasks.on_deals_changed"


@pytest.fixture(autouse=True)
def few_sims(monkeypatch):
    monkeypatch.setattr("forecasting.compute.DEFAULT_SIMS", 300)
    monkeypatch.setattr("forecasting.selectors.WHAT_IF_SIMS", 300)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def api(personas):
    _key, raw = api_key_create(workspace=personas.workspace, name="tests", created_by=personas.owner)
    return Client(headers={"Authorization": f"Bearer {raw}"})


@pytest.fixture
def deals(personas):
    """A small history: 12 closed deals and 8 open ones, all the rep's."""
    ws = personas.workspace
    made = []
    for i in range(20):
        created = NOW - timedelta(days=150 - 6 * i)
        deal = deal_create(
            workspace=ws,
            actor=personas.rep,
            title=f"Deal {i}",
            stage=default_stage(ws, "Qualification"),
            amount=Decimal(5000 + 500 * i),
            owner=personas.rep,
            at=created,
            created_at=created,
        )
        if i < 12:
            with time_machine.travel(created + timedelta(days=30), tick=False):
                deal_move_to_stage(
                    deal=deal, stage=default_stage(ws, "Closed Won" if i % 2 else "Closed Lost"), actor=None
                )
        made.append(deal)
    return made


def _url(name, personas, *args):
    return reverse(name, args=[personas.workspace.slug, *args])


def _listed(client, personas, deal) -> list[int]:
    """The ids the deal list shows when searching for the deal's exact title."""
    page = client.get(_url("crm:deal_list", personas), {"q": deal.title}).context["page"]
    return [d.id for d in page.object_list if d.title == deal.title]


def _latest_run(ws) -> ForecastRun:
    return ForecastRun.objects.for_workspace(ws).order_by("-created_at", "-id").first()


def test_api_delete_keeps_history_hides_the_deal_and_reforecasts_without_it(
    personas, deals, api, django_capture_on_commit_callbacks
):
    ws = personas.workspace
    deal = deals[-1]
    history_before = list(DealHistory.objects.filter(deal_id=deal.id).values_list("id", flat=True))
    assert len(history_before) >= 1

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"{API}/deals/{deal.uuid}/")
    assert response.status_code == 204

    # Kept, marked, and its history intact plus one "deleted" row saying who and how.
    stored = Deal.all_objects.get(pk=deal.pk)
    assert stored.deleted_at == NOW and stored.deleted_by == personas.owner  # the key's creator
    rows = list(DealHistory.objects.filter(deal_id=deal.id).order_by("id"))
    assert [r.id for r in rows[:-1]] == history_before
    assert (rows[-1].field, rows[-1].old_value, rows[-1].new_value, rows[-1].source) == (
        TrackedField.DELETED,
        False,
        True,
        ChangeSource.API,
    )

    # Gone from the API, the web list (and its search), the board and the deal page.
    assert api.get(f"{API}/deals/{deal.uuid}/").status_code == 404
    assert str(deal.uuid) not in {d["id"] for d in api.get(f"{API}/deals/", {"limit": 500}).json()["items"]}
    assert api.delete(f"{API}/deals/{deal.uuid}/").status_code == 404
    client = personas.client_for(personas.rep)
    assert _listed(client, personas, deal) == []
    board = client.get(_url("crm:board", personas)).context["board"]
    assert deal.id not in {c.id for column in board.columns for c in column.cards}
    assert any(column.cards for column in board.columns)
    assert client.get(_url("crm:deal_detail", personas, deal.uuid)).status_code == 404

    # Forecast and scoring inputs no longer see it.
    assert deal.id not in {s.id for s in pipeline_as_of(ws, NOW)}
    assert deal.id not in load_raw(ws.id).deal_ids.tolist()

    # A re-forecast was queued by the delete; the worker's run leaves the deal out.
    key = f"{FORECAST}:{ws.id}"
    pending = PendingJob.objects.get(key=key)
    assert deal.id in pending.args[-1]
    before = _latest_run(ws)
    run_pending(key)
    after = _latest_run(ws)
    assert after is not None and after != before
    assert deal.id not in set(after.deal_forecasts.values_list("deal_id", flat=True))
    assert after.deal_forecasts.exists()  # the other open deals are still forecast


def test_an_admin_restores_a_deleted_deal_from_the_page_and_it_comes_back_everywhere(
    personas, deals, api, django_capture_on_commit_callbacks
):
    deal = deals[-1]
    rep = personas.client_for(personas.rep)
    with django_capture_on_commit_callbacks(execute=True):
        response = rep.post(_url("crm:deal_delete", personas, deal.uuid))
    assert response.status_code == 302
    assert not Deal.objects.filter(pk=deal.pk).exists()

    # Reps may not see or use the restore page; outsiders do not learn it exists.
    assert rep.get(_url("crm:deleted_deals", personas)).status_code == 403
    assert rep.post(_url("crm:deal_restore", personas, deal.uuid)).status_code == 403
    outsider = personas.client_for(personas.outsider)
    assert outsider.get(_url("crm:deleted_deals", personas)).status_code == 404
    assert outsider.post(_url("crm:deal_restore", personas, deal.uuid)).status_code == 404
    assert Deal.all_objects.get(pk=deal.pk).deleted_at is not None

    owner = personas.client_for(personas.owner)
    page = owner.get(_url("crm:deleted_deals", personas))
    assert page.status_code == 200 and deal.title in page.content.decode()
    assert owner.get(_url("crm:deleted_deals", personas)).context["page"].object_list[0] == deal
    assert owner.get(_url("crm:deal_restore", personas, deal.uuid)).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(_url("crm:deal_restore", personas, deal.uuid))
    assert response.status_code == 302 and response["Location"] == _url("crm:deal_detail", personas, deal.uuid)
    assert PendingJob.objects.filter(key=f"{FORECAST}:{personas.workspace.id}").exists()

    restored = Deal.objects.get(pk=deal.pk)
    assert restored.deleted_at is None and restored.deleted_by is None
    assert api.get(f"{API}/deals/{deal.uuid}/").status_code == 200
    assert _listed(rep, personas, deal) == [deal.id]
    detail = rep.get(_url("crm:deal_detail", personas, deal.uuid))
    assert detail.status_code == 200
    deleted_rows = [r for r in detail.context["history"] if r.field == "Deleted"]
    assert [(r.old, r.new) for r in deleted_rows] == [("yes", "no"), ("no", "yes")]  # newest first
    # A second restore of a live deal is a 404, not a second history row.
    assert owner.post(_url("crm:deal_restore", personas, deal.uuid)).status_code == 404


def test_who_may_delete_on_the_web(personas, deals):
    deal = deals[-1]  # the rep's, in team East
    assert personas.client_for(personas.viewer).post(_url("crm:deal_delete", personas, deal.uuid)).status_code == 403
    assert personas.client_for(personas.other_rep).post(_url("crm:deal_delete", personas, deal.uuid)).status_code == 404
    assert personas.client_for(personas.outsider).post(_url("crm:deal_delete", personas, deal.uuid)).status_code == 404
    assert personas.client_for(personas.rep).get(_url("crm:deal_delete", personas, deal.uuid)).status_code == 405
    assert Deal.objects.filter(pk=deal.pk).exists()
    page = personas.client_for(personas.rep).get(_url("crm:deal_detail", personas, deal.uuid)).content.decode()
    assert _url("crm:deal_delete", personas, deal.uuid) in page
    viewer_page = personas.client_for(personas.viewer).get(_url("crm:deal_detail", personas, deal.uuid))
    assert _url("crm:deal_delete", personas, deal.uuid) not in viewer_page.content.decode()


def test_a_deleted_deal_leaves_scores_search_and_open_alerts(personas, deals):
    ws = personas.workspace
    deal, neighbour = deals[-1], deals[-2]
    rng = np.random.default_rng(3)
    for d in (deal, neighbour):
        v = rng.normal(size=embedding.DIMENSIONS).astype(np.float32)
        DealEmbedding.objects.create(
            deal=d, workspace=ws, embedding=v / np.linalg.norm(v), text_hash="x", model_name="x", outcome=d.outcome
        )
    DealScore.objects.create(workspace=ws, deal=deal, probability=0.4, low=0.3, high=0.5, confidence="low")
    alert = Alert.objects.create(workspace=ws, deal=deal, kind=AlertKind.STALE, seen="s", why="w", next_step="n")
    assert [s.deal_id for s in similar_deals(ws.id, neighbour.id)] == [deal.id]

    deal_delete(deal=deal, actor=personas.owner)
    assert similar_deals(ws.id, neighbour.id) == []  # hidden at once, before any job ran
    for handler in (similarity_on_deals_changed, scoring_on_deals_changed, alerts_on_deals_changed):
        handler(ws.id, [deal.id])
    assert not DealEmbedding.objects.filter(deal_id=deal.id).exists()
    assert not DealScore.objects.filter(deal_id=deal.id).exists()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert not alerts_for_member(personas.owner, today=NOW.date(), status="resolved").filter(pk=alert.pk).exists()


def test_a_deleted_deals_activities_and_external_id(personas, deals, api):
    ws = personas.workspace
    deal = deal_create(
        workspace=ws,
        actor=personas.rep,
        title="Imported",
        stage=default_stage(ws),
        owner=personas.rep,
        external_id="X-1",
    )
    activity = activity_log(workspace=ws, actor=personas.rep, kind="call", subject="Secret call", deal=deal)
    assert api.delete(f"{API}/deals/{deal.uuid}/").status_code == 204
    assert api.get(f"{API}/activities/{activity.uuid}/").status_code == 404
    # The id stays taken (a restore brings the deal back): a clear 422, not a 500.
    stage = default_stage(ws)
    response = api.post(
        f"{API}/deals/",
        {"title": "Again", "stage": str(stage.uuid), "external_id": "X-1"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "deleted deal" in response.content.decode()
