"""Honest evaluation: train only on what was known, test on what came after (plain NumPy core).

`evaluate_as_of`: train on deals closed by DATE (features as of points in their lives before DATE),
test on deals open at DATE that closed later (features as of DATE). `evaluate_cv`: stratified K-fold
over closed deals, for undated data. Both report the model actually used (which may be the fallback)
beside the baselines on the same test deals.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from sklearn.model_selection import StratifiedKFold

from scoring.baseline import BetaBinomialRates
from scoring.features import RawData, Vocabulary, build_features, open_attributes, training_snapshots
from scoring.model import _baseline_inputs, fit_scorer, metrics


def _clean(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def _report(y, p, baselines: dict[str, np.ndarray], n_train: int, used: dict) -> dict:
    out = {"n_train": n_train, "n_test": len(y), **_clean(metrics(y, p))}
    out["brier_base_rate"] = _clean(metrics(y, baselines["base_rate"]))["brier"]
    out["baselines"] = {name: _clean(metrics(y, pred)) for name, pred in baselines.items()}
    out.update(used)
    return out


def evaluate_as_of(raw: RawData, as_of: float, *, seed: int = 0) -> dict:
    snaps = training_snapshots(raw, closed_before=as_of)
    vocabulary = Vocabulary.fit([raw.attributes[i] for i in np.unique(snaps.deal)], open_attributes(raw))
    x, names = build_features(raw, snaps.deal, snaps.t, vocabulary)
    scorer = fit_scorer(x, snaps.y, snaps.weight, snaps.deal, snaps.closed, names, vocabulary, seed=seed)

    test = np.flatnonzero((raw.created <= as_of) & ~np.isnan(raw.closed) & (raw.closed > as_of) & (raw.outcome != 0))
    xt, _ = build_features(raw, test, np.full(len(test), as_of), vocabulary)
    y = (raw.outcome[test] == 1).astype(float)
    p = scorer.predict(xt)
    stage, segment = _baseline_inputs(xt)
    base_rate = float(np.average(snaps.y, weights=snaps.weight)) if len(snaps.y) else 0.5
    s, g = _baseline_inputs(x)
    baselines = {
        "base_rate": np.full(len(test), base_rate),
        "stage_rate": BetaBinomialRates(use_segments=False).fit(s, g, snaps.y, snaps.weight).predict(stage, segment),
        "stage_segment": BetaBinomialRates(use_segments=True).fit(s, g, snaps.y, snaps.weight).predict(stage, segment),
    }
    used = {
        "model": scorer.kind,
        "fallback": scorer.is_fallback,
        "reason": scorer.reason,
        "n_train_deals": len(np.unique(snaps.deal)),
        "validation": scorer.validation,
    }
    return _report(y, p, baselines, len(snaps.y), used)


def evaluate_cv(raw: RawData, k: int, *, seed: int = 0) -> dict:
    snaps = training_snapshots(raw)
    deals = np.unique(snaps.deal)
    deal_y = (raw.outcome[deals] == 1).astype(float)
    if len(deals) < k or min(deal_y.sum(), len(deal_y) - deal_y.sum()) < k:
        raise ValueError(f"{len(deals)} closed deals are too few for {k}-fold cross-validation.")
    p = np.zeros(len(deals))
    base = {
        "base_rate": np.zeros(len(deals)),
        "stage_rate": np.zeros(len(deals)),
        "stage_segment": np.zeros(len(deals)),
    }
    kinds: Counter[str] = Counter()
    n_train = 0
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(deals, deal_y):
        rows = np.isin(snaps.deal, deals[tr])
        vocabulary = Vocabulary.fit([raw.attributes[i] for i in deals[tr]], open_attributes(raw))
        x, names = build_features(raw, snaps.deal[rows], snaps.t[rows], vocabulary)
        y, w = snaps.y[rows], snaps.weight[rows]
        scorer = fit_scorer(x, y, w, snaps.deal[rows], snaps.closed[rows], names, vocabulary, seed=seed)
        kinds[scorer.kind] += 1
        n_train += len(y)
        # Each test deal is scored as it stood at its latest snapshot before closing.
        test_deals = deals[te]
        last_t = np.array([snaps.t[snaps.deal == d].max() for d in test_deals])
        xt, _ = build_features(raw, test_deals, last_t, vocabulary)
        p[te] = scorer.predict(xt)
        s, g = _baseline_inputs(x)
        st, gt = _baseline_inputs(xt)
        base["base_rate"][te] = float(np.average(y, weights=w))
        base["stage_rate"][te] = BetaBinomialRates(use_segments=False).fit(s, g, y, w).predict(st, gt)
        base["stage_segment"][te] = BetaBinomialRates(use_segments=True).fit(s, g, y, w).predict(st, gt)
    used = {"model": dict(kinds), "fallback": kinds.get("xgboost", 0) + kinds.get("logistic", 0) == 0, "folds": k}
    return _report(deal_y, p, base, n_train // k, used)
