"""The activation rule's statistics: does a model beat the base rate AND the stage rates by more than noise?

Plain NumPy. The comparison a user cares about is against saying the base rate for everyone and
against the stage win rates, on deals decided after the model's training data (time-ordered data)
or on deals it never saw (cross-validated folds, for undated data such as a CSV with no dates).
A Brier gain counts only when a paired bootstrap interval over deals (each deal's snapshots
averaged first, so a long-lived deal does not count many times) lies wholly above zero.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

BOOTSTRAP_DRAWS = 1000
INTERVAL = 0.95
REFERENCES = ("base_rate", "stage_rate")  # what a model must beat, both of them


def per_deal_gain(y, p_ref, p_new, w, groups) -> np.ndarray:
    """Per deal, the (weighted) Brier score of the reference minus the model's: > 0 where the model is better."""
    gain = w * ((p_ref - y) ** 2 - (p_new - y) ** 2)
    _, inv = np.unique(groups, return_inverse=True)
    return np.bincount(inv, weights=gain) / np.maximum(np.bincount(inv, weights=w), 1e-12)


def paired_bootstrap(gains: np.ndarray, *, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> dict[str, float]:
    """Mean per-deal Brier gain with a percentile bootstrap interval (deals resampled, model and
    reference paired on each deal) and its z (mean over standard error), for the record."""
    n = len(gains)
    if n < 2:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "z": 0.0, "deals": n}
    rng = np.random.default_rng(seed)
    # Resampling in chunks keeps memory flat on tens of thousands of deals.
    means = np.empty(draws)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, draws, chunk):
        stop = min(draws, start + chunk)
        means[start:stop] = gains[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1 - INTERVAL) / 2
    se = gains.std(ddof=1) / math.sqrt(n)
    return {
        "mean": float(gains.mean()),
        "low": float(np.quantile(means, tail)),
        "high": float(np.quantile(means, 1 - tail)),
        "z": float(gains.mean() / se) if se > 0 else 0.0,
        "deals": n,
    }


def beats_references(
    y: np.ndarray,
    w: np.ndarray,
    groups: np.ndarray,
    p_model: np.ndarray,
    references: dict[str, np.ndarray],
    *,
    seed: int = 0,
) -> tuple[bool, dict[str, dict[str, float]], str]:
    """Whether the model's Brier gain over every reference is above zero beyond noise.

    Returns the verdict, the gain interval per reference, and when it fails, the reason in words.
    """
    gains = {
        name: paired_bootstrap(per_deal_gain(y, ref, p_model, w, groups), seed=seed) for name, ref in references.items()
    }
    failing = [name for name, g in gains.items() if not (g["low"] > 0)]
    if not failing:
        return True, gains, ""
    words = {
        "base_rate": "the base rate",
        "stage_rate": "the stage win rates",
        "stage_segment": "the stage × size rates",
    }
    parts = [
        f"{words.get(name, name)} (Brier gain {gains[name]['mean']:+.4f}, {INTERVAL:.0%} interval "
        f"{gains[name]['low']:+.4f} to {gains[name]['high']:+.4f})"
        for name in failing
    ]
    return False, gains, "it did not beat " + " nor ".join(parts) + " by more than noise"


def time_ordered_holdout(
    groups: np.ndarray, t: np.ndarray, close_t: np.ndarray, share: float = 0.25
) -> tuple[np.ndarray, np.ndarray, float]:
    """Train rows: deals decided before the cut. Held-out rows: deals decided after it, as they stood
    at or after the cut (what the model would have been asked to score). The cut leaves about
    `share` of the deals decided after it. Returns (train rows, held-out rows, cut day)."""
    deal_close: dict[int, float] = {}
    for g, c in zip(groups.tolist(), close_t.tolist(), strict=True):
        deal_close[g] = c
    closes = np.sort(np.fromiter(deal_close.values(), dtype=float))
    cut = float(closes[min(len(closes) - 1, int(len(closes) * (1 - share)))])
    train = np.flatnonzero(close_t < cut)
    held = np.flatnonzero((close_t >= cut) & (t >= cut))
    return train, held, cut


def still_beats_references(scorer, snaps, held: np.ndarray, p_old: np.ndarray) -> tuple[bool, dict, str]:
    """The activation rule applied to an older model's predictions `p_old` on a new version's held-out
    rows (the monthly re-check): it must still beat the base rate and the stage rates beyond noise."""
    refs = scorer.heldout_refs or {}
    if "stage_rate" not in refs:
        return True, {}, ""
    y, w, groups = snaps.y[held], snaps.weight[held], snaps.deal[held]
    stage = np.clip(refs["stage_rate"], 1e-6, 1 - 1e-6)
    # The references get the held-out deals' own level (cross-fitted), as in the activation rule.
    fair = cross_fitted(y, w, groups, {"stage_rate": np.log(stage / (1 - stage))})
    return beats_references(y, w, groups, p_old, {"base_rate": fair["base_rate"], "stage_rate": fair["stage_rate"]})


def cross_fitted(
    y: np.ndarray, w: np.ndarray, groups: np.ndarray, margins: dict[str, np.ndarray], *, folds: int = 5, seed: int = 0
) -> dict[str, np.ndarray]:
    """Out-of-fold predictions on held-out rows: for each margin a Platt scaling fitted on the other
    deals' rows, and `base_rate`, the other deals' (weighted) win rate. Deals never straddle folds."""
    out = {name: np.zeros(len(y)) for name in (*margins, "base_rate")}
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        rate = float(np.average(y, weights=w)) if len(y) else 0.5
        return {name: np.full(len(y), rate) for name in out}
    # GroupKFold has no shuffle: permute the group labels so folds do not follow the deals' order.
    _, inverse = np.unique(groups, return_inverse=True)
    shuffled = np.random.default_rng(seed).permutation(n_groups)[inverse]
    for train, test in GroupKFold(min(folds, n_groups)).split(y, y, shuffled):
        out["base_rate"][test] = float(np.average(y[train], weights=w[train]))
        for name, margin in margins.items():
            if len(np.unique(y[train])) < 2:
                out[name][test] = out["base_rate"][test]
                continue
            lr = LogisticRegression(C=1e4, max_iter=1000).fit(
                margin[train].reshape(-1, 1), y[train], sample_weight=w[train]
            )
            out[name][test] = lr.predict_proba(margin[test].reshape(-1, 1))[:, 1]
    return out
