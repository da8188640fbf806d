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
from crm.demo.services import demo_workspace_delete
from crm.importers import run_import
from crm.models import ChangeSource, Deal, DealHistory, TrackedField
from crm.selectors import pipeline_as_of
from crm.services import activity_log, deal_create, deal_delete, deal_move_to_stage, deal_update
from forecasting.models import ForecastRun
from forecasting.services import forecast_run
from scoring.loader import load_raw
from scoring.models import DealScore, ModelStatus, ScoringModel
from scoring.tasks import on_deals_changed as scoring_on_deals_changed
from similarity import embedding
from similarity.models import DealEmbedding
from similarity.selectors import similar_deals
from similarity.tasks import on_deals_changed as similarity_on_deals_changed
from tenancy.jobs import run_pending
from tenancy.models import PendingJob
from tenancy.scope import Scope
from tenancy.services import api_key_create
from tests.factories import CompanyFactory, ContactFactory, default_stage

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
    assert (
        not alerts_for_member(Scope.for_member(personas.owner), today=NOW.date(), status="resolved")
        .filter(pk=alert.pk)
        .exists()
    )


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


# --- what-if: one builder, one refusal for the web and the API -------------------------------------------


@pytest.fixture
def run(personas, deals):
    return forecast_run(workspace=personas.workspace, sims=300)


def _web_what_if(client, personas, **params):
    return client.get(_url("forecasting:what_if", personas), params)


def test_what_if_refuses_unknown_hidden_and_closed_deals_alike_on_the_web_and_the_api(personas, deals, run, api):
    ws = personas.workspace
    theirs = deal_create(
        workspace=ws, actor=personas.other_rep, title="West deal", stage=default_stage(ws), owner=personas.other_rep
    )
    closed, open_deal = deals[0], deals[-1]
    unknown = "00000000-0000-0000-0000-000000000000"
    rep = personas.client_for(personas.rep)
    for bad in (unknown, str(theirs.uuid), str(closed.uuid)):
        web = _web_what_if(rep, personas, exclude=bad)
        assert web.status_code == 422
        message = f"Not an open deal you can see: {bad}."
        assert web.context["what_if_form"].errors["exclude"] == [message]
        assert message in web.content.decode() and "stored data unchanged" not in web.content.decode()
        htmx = rep.get(_url("forecasting:what_if", personas), {"slip": bad}, headers={"HX-Request": "true"})
        assert htmx.status_code == 200 and f"What-if not run: {message}" in htmx.content.decode()
        if bad != str(theirs.uuid):  # the API key sees the whole workspace, so only these two are refused
            response = api.post(f"{API}/forecasts/what-if/", {"slip": [bad]}, content_type="application/json")
            assert response.status_code == 404  # names no open deal the key can see
            assert response.json()["errors"] == [{"loc": ["body", "slip"], "msg": message, "type": "not_found"}]
    assert _web_what_if(rep, personas, exclude=str(open_deal.uuid)).status_code == 200
    ok = api.post(f"{API}/forecasts/what-if/", {"exclude": [str(theirs.uuid)]}, content_type="application/json")
    assert ok.status_code == 200
    deal_delete(deal=open_deal, actor=personas.owner)  # a deleted deal is an unknown one
    assert _web_what_if(rep, personas, exclude=str(open_deal.uuid)).status_code == 422


# --- probability_is_manual: decided by crm.services for every writer ----------------------------------------


def test_a_probability_set_through_the_api_is_manual_and_one_set_by_the_system_is_not(personas, api):
    ws = personas.workspace
    stage = default_stage(ws)
    body = {"title": "With a guess", "stage": str(stage.uuid), "probability": "35"}
    created = api.post(f"{API}/deals/", body, content_type="application/json")
    assert created.status_code == 201
    deal = Deal.objects.get(uuid=created.json()["id"])
    assert deal.probability == Decimal("35") and deal.probability_is_manual
    api.patch(f"{API}/deals/{deal.uuid}/", {"probability": None}, content_type="application/json")
    deal.refresh_from_db()
    assert deal.probability is None and not deal.probability_is_manual
    deal_update(deal=deal, actor=None, changes={"probability": Decimal("60")}, source_of_change=ChangeSource.SYSTEM)
    deal.refresh_from_db()
    assert deal.probability == Decimal("60") and not deal.probability_is_manual
    api.patch(f"{API}/deals/{deal.uuid}/", {"probability": "70"}, content_type="application/json")
    deal.refresh_from_db()
    assert deal.probability_is_manual


def test_an_imported_probability_is_manual_only_when_the_file_says_so(personas, tmp_path):
    ws = personas.workspace
    path = tmp_path / "deals.csv"
    path.write_text("Id,Name,Stage,Probability,Rep set it\nA,Alpha,Prospecting,40,yes\nB,Beta,Prospecting,40,\n")
    mapping = {"external_id": "Id", "title": "Name", "stage": "Stage", "probability": "Probability"}
    run_import(workspace=ws, fmt="csv", path=path, mapping=mapping)
    assert dict(Deal.objects.for_workspace(ws).values_list("external_id", "probability_is_manual")) == {
        "A": False,
        "B": False,
    }
    report = run_import(workspace=ws, fmt="csv", path=path, mapping={**mapping, "probability_is_manual": "Rep set it"})
    assert not report.errors
    # Unchanged probabilities keep their flag; a changed one takes the file's word.
    path.write_text("Id,Name,Stage,Probability,Rep set it\nA,Alpha,Prospecting,45,yes\nB,Beta,Prospecting,50,no\n")
    run_import(workspace=ws, fmt="csv", path=path, mapping={**mapping, "probability_is_manual": "Rep set it"})
    assert dict(Deal.objects.for_workspace(ws).values_list("external_id", "probability_is_manual")) == {
        "A": True,
        "B": False,
    }
    path.write_text("Id,Name,Stage,Probability,Rep set it\nC,Gamma,Prospecting,45,perhaps\n")
    bad = run_import(workspace=ws, fmt="csv", path=path, mapping={**mapping, "probability_is_manual": "Rep set it"})
    assert "is not yes or no" in str(bad.errors) and not Deal.objects.filter(external_id="C").exists()


# --- scoring's rollback -------------------------------------------------------------------------------------


def test_a_rollback_rescores_only_its_own_workspace(personas, monkeypatch, django_capture_on_commit_callbacks):
    ws = personas.workspace
    older = ScoringModel.objects.create(
        workspace=ws, version=1, kind="baseline", status=ModelStatus.RETIRED, activated_at=NOW - timedelta(days=9)
    )
    ScoringModel.objects.create(workspace=ws, version=2, kind="baseline", status=ModelStatus.ACTIVE, activated_at=NOW)
    queued = []
    monkeypatch.setattr("scoring.services.async_task", lambda *args, **kwargs: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = personas.client_for(personas.owner).post(reverse("scoring:rollback", args=[ws.slug]))
    assert response.status_code == 302
    older.refresh_from_db()
    assert older.status == ModelStatus.ACTIVE
    assert queued == [("scoring.tasks.rescore_workspace", ws.id)]


# --- companies, contacts and activities: deleted through services that re-judge their deals --------------


def test_deleting_a_company_contact_or_activity_requeues_the_deals_it_touched(
    personas, api, django_capture_on_commit_callbacks
):
    ws = personas.workspace
    company = CompanyFactory(workspace=ws)
    contact = ContactFactory(workspace=ws, company=company)
    deal = deal_create(
        workspace=ws, actor=personas.rep, title="Linked", stage=default_stage(ws), owner=personas.rep, company=company
    )
    deal.contacts.add(contact)
    activity = activity_log(workspace=ws, actor=personas.rep, kind="call", subject="Intro", deal=deal)
    key = f"{FORECAST}:{ws.id}"

    def requeued(call) -> bool:
        PendingJob.objects.filter(key=key).delete()
        with django_capture_on_commit_callbacks(execute=True):
            assert call().status_code in {204, 302}
        return deal.id in PendingJob.objects.get(key=key).args[-1]

    assert requeued(lambda: api.delete(f"{API}/activities/{activity.uuid}/"))
    assert personas.client_for(personas.rep).post(_url("crm:contact_delete", personas, contact.uuid)).status_code == 403
    assert requeued(
        lambda: personas.client_for(personas.owner).post(_url("crm:contact_delete", personas, contact.uuid))
    )
    assert requeued(lambda: api.delete(f"{API}/companies/{company.uuid}/"))
    deal.refresh_from_db()
    assert deal.company is None and not deal.contacts.exists() and not deal.activities.exists()


def test_related_managers_and_exports_hide_a_deleted_deal(personas):
    ws = personas.workspace
    company, contact = CompanyFactory(workspace=ws), ContactFactory(workspace=ws)
    deal = deal_create(
        workspace=ws, actor=personas.rep, title="Hidden", stage=default_stage(ws), owner=personas.rep, company=company
    )
    deal.contacts.add(contact)
    activity_log(workspace=ws, actor=personas.rep, kind="call", subject="About Hidden", deal=deal)
    deal_delete(deal=deal, actor=personas.rep)
    assert not company.deals.exists() and not contact.deals.exists() and not personas.rep.deals.exists()
    owner = personas.client_for(personas.owner)
    companies = owner.get(_url("crm:company_list", personas)).context["page"].object_list
    assert [c.deal_count for c in companies if c.id == company.id] == [0]
    export = owner.get(_url("crm_data:export_activities", personas))
    assert "About Hidden" not in b"".join(export.streaming_content).decode()
    deals_csv = owner.get(_url("crm_data:export_deals", personas))
    assert "Hidden" not in b"".join(deals_csv.streaming_content).decode()


def test_a_demo_workspace_with_a_deleted_deal_can_still_be_removed(personas):
    ws = personas.workspace
    ws.is_demo = True
    ws.save(update_fields=["is_demo"])
    deal = deal_create(workspace=ws, actor=personas.rep, title="Gone", stage=default_stage(ws), owner=personas.rep)
    deal_delete(deal=deal, actor=personas.owner)
    assert demo_workspace_delete(slug=ws.slug)
    assert not Deal.all_objects.filter(pk=deal.pk).exists()


def test_a_re_import_keeps_a_deleted_deal_deleted_and_current(personas, tmp_path):
    ws = personas.workspace
    path = tmp_path / "deals.csv"
    mapping = {"external_id": "Id", "title": "Name", "stage": "Stage", "amount": "Amount"}
    path.write_text("Id,Name,Stage,Amount\nA,Alpha,Prospecting,100\n")
    run_import(workspace=ws, fmt="csv", path=path, mapping=mapping)
    deal_delete(deal=Deal.objects.get(workspace=ws, external_id="A"), actor=personas.owner)
    path.write_text("Id,Name,Stage,Amount\nA,Alpha,Prospecting,250\n")
    report = run_import(workspace=ws, fmt="csv", path=path, mapping=mapping)
    assert not report.errors and report.created["deals"] == 0
    stored = Deal.all_objects.get(workspace=ws, external_id="A")
    assert stored.deleted_at is not None and stored.amount == Decimal("250")
    assert not Deal.objects.filter(workspace=ws).exists()
