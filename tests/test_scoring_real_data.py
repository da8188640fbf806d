"""The scorer on real data: skill where there is signal (Salvirt), honesty where there is none (Maven)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from datetime import date as date_cls
from pathlib import Path

import pytest

from crm.importers import run_import
from scoring.evaluation import evaluate_as_of, evaluate_cv_repeated
from scoring.features import to_days
from scoring.loader import load_raw
from tests.factories import WorkspaceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
PRESET = Path(__file__).resolve().parent.parent / "crm" / "importers" / "presets" / "salvirt-b2b.json"


def test_salvirt_cross_validated_scores_are_skilful_and_calibrated(shared_data):
    workspace = WorkspaceFactory(slug="salvirt")
    report = run_import(
        workspace=workspace,
        fmt="csv",
        path=shared_data / "salvirt-b2b" / "Salvirt_B2B_ML_dataset.csv",
        mapping=json.loads(PRESET.read_text()),
    )
    assert report.as_dict()["deals_by_outcome"] == {"won": 227, "lost": 221, "open": 0}
    result = evaluate_cv_repeated(load_raw(workspace.id), 10, repeats=3)
    assert result["auc"] >= 0.84
    assert result["ece"] <= 0.05
    assert result["auc"] > result["baselines"]["logistic"]["auc"]
    assert result["brier"] < result["brier_base_rate"]


def test_maven_scores_claim_no_skill_they_do_not_have(shared_data):
    workspace = WorkspaceFactory(slug="maven")
    run_import(workspace=workspace, fmt="maven", path=shared_data / "maven-crm-as-of-2017-06-30")
    as_of = to_days(datetime.combine(date_cls(2017, 3, 31), time.max, tzinfo=UTC))
    result = evaluate_as_of(load_raw(workspace.id), as_of)
    assert result["n_test"] > 500
    # Outcomes there are close to unpredictable from the fields: never worse than the base rate.
    assert result["brier"] <= result["brier_base_rate"] + 1e-9
