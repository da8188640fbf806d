"""The demo's first scoring model: every open demo deal gets a score with factors, marked as synthetic."""

from __future__ import annotations

import json
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from crm.models import Deal, Outcome
from scoring.models import DealScore, ModelStatus, ScoringModel
from tenancy.models import Membership, Role, Workspace

AS_OF = date(2026, 6, 30)


@pytest.fixture(autouse=True)
def _models_dir(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.DEBUG = True  # seed_demo runs only in the local demo


@pytest.mark.django_db
def test_after_the_demo_hook_every_open_deal_has_a_score_with_factors_on_its_page(settings, monkeypatch):
    # Only our hook, and no queued handlers: the hook itself must leave every open deal scored.
    settings.DEMO_SEED_HOOKS = ["scoring.tasks.demo_seed_hook"]
    monkeypatch.setattr("crm.management.commands.seed_demo.deals_changed", lambda **kwargs: None)
    out = StringIO()
    call_command("seed_demo", "--as-of", AS_OF.isoformat(), "--scale", "0.2", "--seed", "7", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["hook_errors"] == []

    workspace = Workspace.objects.get(slug="demo")
    model = ScoringModel.objects.get(workspace=workspace, status=ModelStatus.ACTIVE)
    assert model.is_synthetic and not model.is_fallback, model.reason
    # It had to beat the stage win rates on later deals to be activated at all.
    assert model.metrics["model"]["brier"] < model.metrics["baselines"]["stage_rate"]["brier"]

    open_ids = set(Deal.objects.for_workspace(workspace).filter(outcome=Outcome.OPEN).values_list("id", flat=True))
    scores = {s.deal_id: s for s in DealScore.objects.filter(deal_id__in=open_ids)}
    assert open_ids and set(scores) == open_ids
    assert all(s.factors["up"] or s.factors["down"] for s in scores.values())
    assert all(0.0 < s.probability < 1.0 for s in scores.values())

    owner = Membership.objects.filter(workspace=workspace, role=Role.OWNER, user__isnull=False).first()
    client = Client()
    client.force_login(owner.user)
    deal = Deal.objects.get(id=next(iter(open_ids)))
    page = client.get(reverse("scoring:deal_panel", args=[workspace.slug, deal.uuid]), HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    html = page.content.decode()
    score = scores[deal.id]
    assert f"{round(score.probability * 100)}%" in html
    first_factor = (score.factors["up"] or score.factors["down"])[0][0]
    assert first_factor in html.replace("&quot;", '"').replace("&#x27;", "'")
    assert "synthetic demo data" in html
    model_page = client.get(reverse("scoring:model", args=[workspace.slug]))
    assert "trained on synthetic demo data" in model_page.content.decode()
