"""The scorer's evaluation at size: a generated 50,000-row win/loss set, imported and cross-validated."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from crm.importers import run_import
from scoring.winloss_sample import MAPPING, write_csv
from tests.factories import WorkspaceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
ROWS = 50_000


def test_a_50k_win_loss_set_imports_and_cross_validates_without_a_crash(tmp_path):
    path = tmp_path / "winloss.csv"
    written = write_csv(path, ROWS, seed=3)
    workspace = WorkspaceFactory(slug="winloss")
    report = run_import(workspace=workspace, fmt="csv", path=path, mapping=MAPPING, skip_invalid=True).as_dict()
    # Repeated ids are refused, the rest imported.
    assert written["repeated_ids"] > 0
    assert report["skipped"] == written["repeated_ids"]
    assert sum(report["deals_by_outcome"].values()) == ROWS - written["repeated_ids"]

    out = StringIO()
    call_command("evaluate_scorer", "--workspace", "winloss", "--cv", "5", "--repeats", "1", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["n_test"] == ROWS - written["repeated_ids"]
    # The signal is learnt, well beyond the base rate and the plain logistic baseline.
    assert result["auc"] >= 0.8
    assert result["brier"] < result["brier_base_rate"] - 0.05
    assert result["auc"] > result["baselines"]["logistic"]["auc"]
    # Saying the base rate for everyone predicts no deal at 0.5 or above: its precision is undefined,
    # reported as such (null with the reason), never averaged as a number.
    assert result["baselines"]["base_rate"]["precision"] is None
    assert result["baselines_undefined"]["base_rate"]["precision"]["reason"] == "no deal was predicted at 0.5 or above"
