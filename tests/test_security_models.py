"""Saved scoring models are JSON (XGBoost's own model format, calibration and rates as numbers), load back to the
same predictions and explanations, and a pickled file is refused without being run."""

from __future__ import annotations

import functools
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from scoring.artifacts import ArtifactError, scorer_read, scorer_save
from scoring.features import Vocabulary, build_features, training_snapshots
from scoring.management.commands.bench_scoring import synthetic_raw
from scoring.model import Boosted, Logistic, Scorer, fit_scorer


@functools.cache
def training_data():
    raw = synthetic_raw(n_open=20, n_closed=600, seed=1)
    s = training_snapshots(raw)
    vocab = Vocabulary.fit(raw.attributes)
    x, names = build_features(raw, s.deal, s.t, vocab)
    return x, s, names, vocab


def fitted(candidates=None, n: int | None = None) -> tuple[Scorer, np.ndarray]:
    x, s, names, vocab = training_data()
    rows = slice(None) if n is None else slice(0, n)
    scorer = fit_scorer(
        x[rows], s.y[rows], s.weight[rows], s.deal[rows], s.closed[rows], names, vocab, candidates=candidates
    )
    return scorer, x


@pytest.mark.parametrize(
    ("candidates", "predictor_type"),
    [((("xgboost", {"max_depth": 3, "eta": 0.1}),), Boosted), ((("logistic", 0.2),), Logistic)],
)
def test_a_learned_scorer_round_trips_through_json(tmp_path: Path, candidates, predictor_type):
    scorer, x = fitted(candidates)
    assert isinstance(scorer.predictor, predictor_type), scorer.reason
    path = tmp_path / "v1.json"
    scorer_save(path, scorer)

    document = json.loads(path.read_text())  # plain JSON through and through
    assert document["format"] == "vectoros-scorer/1" and document["platt"] == list(scorer.platt)
    loaded = scorer_read(path)
    assert np.allclose(loaded.predict(x[:200]), scorer.predict(x[:200]))
    for mine, theirs in zip(loaded.explain(x[:5]), scorer.explain(x[:5]), strict=True):
        for side in ("up", "down"):
            assert [name for name, _ in mine[side]] == [name for name, _ in theirs[side]]
            assert [v for _, v in mine[side]] == pytest.approx([v for _, v in theirs[side]], abs=1e-6)
    assert (loaded.kind, loaded.n_won, loaded.n_lost, loaded.reason) == (
        scorer.kind,
        scorer.n_won,
        scorer.n_lost,
        scorer.reason,
    )


def test_a_fallback_scorer_round_trips_with_its_stage_rates(tmp_path: Path):
    scorer, x = fitted(n=60)  # too few outcomes: stage win rates
    assert scorer.is_fallback
    scorer_save(tmp_path / "v1.json", scorer)
    loaded = scorer_read(tmp_path / "v1.json")
    assert loaded.is_fallback and np.allclose(loaded.predict(x[:100]), scorer.predict(x[:100]))


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickled_model_file_is_refused_and_never_run(tmp_path: Path):
    marker = tmp_path / "ran"
    path = tmp_path / "v1.pkl"
    path.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ArtifactError, match="retrain"):
        scorer_read(path)
    assert not marker.exists()
