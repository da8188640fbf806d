"""The similar-deal feature: won share among the nearest deals closed before T, computed for many rows at once."""

from __future__ import annotations

import math

import numpy as np

from scoring.features import Vocabulary, build_features, neighbour_won_ratio
from scoring.management.commands.bench_scoring import synthetic_raw


def _with_embeddings(raw, vectors: dict[int, list[float]]):
    raw.embeddings = np.zeros((raw.n, 2), dtype=np.float32)
    raw.has_embedding = np.zeros(raw.n, dtype=bool)
    for i, v in vectors.items():
        raw.embeddings[i] = np.asarray(v, dtype=np.float32) / np.linalg.norm(v)
        raw.has_embedding[i] = True
    return raw


def test_neighbours_closed_after_t_and_the_deal_itself_never_count():
    raw = synthetic_raw(n_open=1, n_closed=5, seed=0)
    raw.closed[1:] = [100.0, 110.0, 120.0, 130.0, 140.0]
    raw.outcome[1:] = [1, 1, 2, 2, 2]  # won, won, lost, lost, lost
    # Deals 1-2 (won) point one way, 3-5 (lost) the other; deal 0 (open) sits with the winners.
    raw = _with_embeddings(raw, {0: [1, 0.1], 1: [1, 0], 2: [1, 0.2], 3: [0, 1], 4: [0.1, 1], 5: [0.2, 1]})

    qd = np.array([0, 0, 0, 1, 5])
    qt = np.array([50.0, 115.0, 200.0, 200.0, 200.0])
    ratio = neighbour_won_ratio(raw, qd, qt, k=2)
    assert math.isnan(ratio[0])  # nothing had closed yet
    assert ratio[1] == 1.0  # deals 1 and 2, both won, had closed by day 115
    assert ratio[2] == 1.0  # later the two nearest are still the winners
    assert ratio[3] == 0.5  # deal 1 is not its own neighbour: deal 2 (won) and a loser
    assert ratio[4] == 0.0

    wide = neighbour_won_ratio(raw, np.array([0]), np.array([125.0]), k=10)
    assert wide[0] == 2 / 3  # only the three deals closed before day 125 count


def test_without_embeddings_the_feature_is_empty_and_with_them_it_is_a_column():
    raw = synthetic_raw(n_open=20, n_closed=200, seed=4)
    vocab = Vocabulary.fit(raw.attributes)
    qd = np.arange(20)
    qt = np.full(20, 19_800.0)
    x, names = build_features(raw, qd, qt, vocab)
    col = names.index("neighbour_won_ratio")
    assert np.isnan(x[:, col]).all()

    rng = np.random.default_rng(0)
    raw = _with_embeddings(raw, {i: rng.normal(size=2).tolist() for i in range(raw.n)})
    x, _ = build_features(raw, qd, qt, vocab)
    assert not np.isnan(x[:, col]).any()
    assert ((x[:, col] >= 0) & (x[:, col] <= 1)).all()
