"""An undated win/loss import: the amount it was created with is a feature, unless losses are coded into it."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from crm.importers import run_import
from scoring.features import BASE_FEATURES, Vocabulary, build_features, training_snapshots
from scoring.loader import load_raw
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db
MAPPING = {
    "external_id": "Id",
    "title": "Deal {Id}",
    "amount": "Amount",
    "outcome": {"column": "Result", "won": ["Won"], "lost": ["Loss"]},
    "attributes": ["Region"],  # the amount is mapped as the amount only, as a user's mapping would
}


def _amount_column(tmp_path, slug: str, lost_amount) -> np.ndarray:
    rng = np.random.default_rng(0)
    path = tmp_path / f"{slug}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Id", "Region", "Amount", "Result"])
        for i in range(60):
            won = i % 2 == 0
            amount = int(rng.integers(1_000, 5_000)) if won else lost_amount(rng)
            writer.writerow([f"D{i}", "North" if i % 3 else "South", amount, "Won" if won else "Loss"])
    workspace = WorkspaceFactory(slug=slug)
    run_import(workspace=workspace, fmt="csv", path=path, mapping=MAPPING)
    raw = load_raw(workspace.id)
    snaps = training_snapshots(raw)
    x, names = build_features(raw, snaps.deal, snaps.t, Vocabulary.fit(raw.attributes))
    assert names[: len(BASE_FEATURES)] == BASE_FEATURES
    assert np.isnan(x[:, names.index("days_in_stage")]).all()  # the deal's state is still masked
    return x[:, names.index("amount_log")]


def test_an_undated_import_keeps_the_amount_it_was_created_with(tmp_path):
    amount = _amount_column(tmp_path, "creation", lambda rng: int(rng.integers(20_000, 90_000)))
    assert not np.isnan(amount).any()


def test_an_import_that_writes_losses_as_zero_keeps_the_amount_masked(tmp_path):
    # Close values: a lost deal brought 0. That amount is the label in disguise, not a creation-time field.
    amount = _amount_column(tmp_path, "closevalue", lambda rng: 0)
    assert np.isnan(amount).all()
