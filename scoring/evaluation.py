"""Honest evaluation: train only on what was known, test on what came after (plain NumPy core).

`evaluate_as_of`: train on deals closed by DATE (features as of points in their lives before DATE),
test on deals open at DATE that closed later (features as of DATE). `evaluate_cv`: stratified K-fold
over closed deals, for undated data. Both report the model actually used (which may be the fallback)
beside the baselines on the same test deals.
"""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from scoring.baseline import BetaBinomialRates
from scoring.features import RawData, Vocabulary, build_features, open_attributes, training_snapshots
from scoring.model import Logistic, _baseline_inputs, ece, fit_scorer, metrics

ECE_DEFINITION = (
    "expected calibration error: predictions pooled over all test deals, 10 equal-width bins on [0, 1], "
    "sum over bins of (deals in bin / all deals) * |mean prediction - observed win frequency|"
)


def ece_noise_floor(p: np.ndarray, *, draws: int = 500, seed: int = 0) -> dict[str, float]:
    """The ECE a perfectly calibrated model with these very predictions would show, by chance alone.

    Outcomes are drawn from the predictions themselves, so any ECE measured on a few hundred deals
    can be read against it: a figure inside this range is not evidence of miscalibration.
    """
    rng = np.random.default_rng(seed)
    sims = np.array([ece((rng.random(len(p)) < p).astype(float), p) for _ in range(draws)])
    return {"mean": float(sims.mean()), "p90": float(np.quantile(sims, 0.9))}


def duplicate_groups(raw: RawData, deals: np.ndarray) -> np.ndarray:
    """A group id per deal: deals whose inputs (attributes, amount) are identical share one.

    The outcome is left out on purpose: grouping only rows that also share the outcome would leave
    exactly the same-input, opposite-outcome pairs straddling folds, a bias the other way.
    """
    keys = [json.dumps([raw.attributes[d], float(raw.amount[d])], sort_keys=True, default=str) for d in deals]
    _, groups = np.unique(keys, return_inverse=True)
    return groups


def _clean(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


# Why a metric can have no value on a set of test deals (it is then null, never a made-up number).
UNDEFINED_REASONS = {
    "auc": "the test deals have only one outcome",
    "precision": "no deal was predicted at 0.5 or above",
    "fpr": "the test deals include no lost deal",
    "brier": "no test deals",
    "log_loss": "no test deals",
    "ece": "no test deals",
}


def _undefined(d: dict) -> dict[str, str]:
    return {k: UNDEFINED_REASONS.get(k, "undefined on these deals") for k, v in d.items() if v is None}


def _report(y, p, baselines: dict[str, np.ndarray], n_train: int, used: dict) -> dict:
    out = {"n_train": n_train, "n_test": len(y), **_clean(metrics(y, p))}
    out["undefined"] = _undefined(out)
    out["brier_base_rate"] = _clean(metrics(y, baselines["base_rate"]))["brier"]
    out["baselines"] = {name: _clean(metrics(y, pred)) for name, pred in baselines.items()}
    out["baselines_undefined"] = {name: u for name, m in out["baselines"].items() if (u := _undefined(m))}
    out["ece_definition"] = ECE_DEFINITION
    out.update(used)
    return out


def evaluate_as_of(raw: RawData, as_of: float, *, seed: int = 0) -> dict:
    snaps = training_snapshots(raw, closed_before=as_of)
    vocabulary = Vocabulary.fit([raw.attributes[i] for i in np.unique(snaps.deal)], open_attributes(raw))
    x, names = build_features(raw, snaps.deal, snaps.t, vocabulary)
    scorer = fit_scorer(
        x, snaps.y, snaps.weight, snaps.deal, snaps.closed, names, vocabulary, seed=seed, snapshot_t=snaps.t
    )

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
    if len(np.unique(snaps.y)) == 2:
        baselines["logistic"] = 1.0 / (1.0 + np.exp(-Logistic(1.0).fit(x, snaps.y, snaps.weight).margin(xt)))
    used = {
        "model": scorer.kind,
        "fallback": scorer.is_fallback,
        "reason": scorer.reason,
        "n_train_deals": len(np.unique(snaps.deal)),
        "validation": scorer.validation,
    }
    return _report(y, p, baselines, len(snaps.y), used)


def evaluate_cv(raw: RawData, k: int, *, seed: int = 0, group_duplicates: bool = False) -> dict:
    """Stratified K-fold over closed deals, metrics over the pooled out-of-fold predictions.

    Duplicate deals (same inputs) that land in different folds let a model be tested on a row it
    has seen; with `group_duplicates` each set of duplicates stays in
    one fold (StratifiedGroupKFold), the stricter figure.
    """
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
        "logistic": np.zeros(len(deals)),
    }
    kinds: Counter[str] = Counter()
    n_train = 0
    # Each deal's latest snapshot time, in one pass (a per-deal scan is quadratic at 78k deals).
    latest = np.full(len(deals), -np.inf)
    np.maximum.at(latest, np.searchsorted(deals, snaps.deal), snaps.t)
    dup = duplicate_groups(raw, deals)
    if group_duplicates:
        split = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(deals, deal_y, dup)
    else:
        split = StratifiedKFold(k, shuffle=True, random_state=seed).split(deals, deal_y)
    for tr, te in split:
        rows = np.isin(snaps.deal, deals[tr])
        vocabulary = Vocabulary.fit([raw.attributes[i] for i in deals[tr]], open_attributes(raw))
        x, names = build_features(raw, snaps.deal[rows], snaps.t[rows], vocabulary)
        y, w = snaps.y[rows], snaps.weight[rows]
        # With duplicates grouped, the calibration folds inside training group them too: otherwise
        # Platt scaling learns the confidence a model has on rows it has seen, and is overconfident.
        inner = dup[np.searchsorted(deals, snaps.deal[rows])] if group_duplicates else None
        scorer = fit_scorer(
            x, y, w, snaps.deal[rows], snaps.closed[rows], names, vocabulary, seed=seed, fold_groups=inner
        )
        kinds[scorer.kind] += 1
        n_train += len(y)
        # Each test deal is scored as it stood at its latest snapshot before closing.
        test_deals = deals[te]
        last_t = latest[np.searchsorted(deals, test_deals)]
        xt, _ = build_features(raw, test_deals, last_t, vocabulary)
        p[te] = scorer.predict(xt)
        s, g = _baseline_inputs(x)
        st, gt = _baseline_inputs(xt)
        base["base_rate"][te] = float(np.average(y, weights=w))
        base["stage_rate"][te] = BetaBinomialRates(use_segments=False).fit(s, g, y, w).predict(st, gt)
        base["stage_segment"][te] = BetaBinomialRates(use_segments=True).fit(s, g, y, w).predict(st, gt)
        # The plain baseline: one L2 logistic regression (C=1) on the same columns, uncalibrated.
        base["logistic"][te] = 1.0 / (1.0 + np.exp(-Logistic(1.0).fit(x, y, w).margin(xt)))
    n_dup_rows = len(dup) - len(np.unique(dup))
    used = {
        "model": dict(kinds),
        "fallback": kinds.get("xgboost", 0) + kinds.get("logistic", 0) == 0,
        "folds": k,
        "seed": seed,
        "split": (
            "stratified K-fold, exact duplicate deals kept in one fold (StratifiedGroupKFold)"
            if group_duplicates
            else "stratified K-fold by deal (exact duplicate deals may fall in different folds)"
        ),
        "duplicate_deals": n_dup_rows,  # deals whose inputs repeat an earlier deal's
        "ece_noise_floor": ece_noise_floor(np.clip(p, 0, 1), seed=seed),
    }
    return _report(deal_y, p, base, n_train // k, used)


_METRICS = ("auc", "brier", "log_loss", "ece", "precision", "fpr", "brier_base_rate")


def mean_defined(values: list[float | None]) -> tuple[float | None, int]:
    """The mean of the values that are defined, and how many were not (None or NaN): never a crash."""
    ok = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return (float(np.mean(ok)) if ok else None), len(values) - len(ok)


def _averaged(runs: list[dict], read) -> tuple[dict, dict]:
    """Means over runs of the metrics `read(run)` gives, and for each one left out somewhere, why."""
    means, undefined = {}, {}
    keys = [k for k in read(runs[0]) if k not in ("undefined", "baselines_undefined")]
    for key in keys:
        means[key], missing = mean_defined([read(run).get(key) for run in runs])
        if missing:
            undefined[key] = {
                "repeats_without_value": missing,
                "repeats_averaged": len(runs) - missing,
                "reason": UNDEFINED_REASONS.get(key, "undefined on these deals"),
            }
    return means, undefined


def default_repeats(n_deals: int) -> int:
    """Fold shuffles worth running: five on a few hundred deals, one on tens of thousands, where a
    shuffle moves AUC and ECE by well under a thousandth and each repeat costs minutes."""
    return 5 if n_deals < 5000 else 3 if n_deals < 20000 else 1


def evaluate_cv_repeated(raw: RawData, k: int, *, repeats: int, seed: int = 0, group_duplicates: bool = False) -> dict:
    """Repeated stratified K-fold: the metrics are means over `repeats` different fold shuffles.

    On a few hundred deals one shuffle's ECE and AUC move by a few hundredths with the shuffle alone
    (see `ece_noise_floor`); the mean is the steadier estimate, and `per_repeat` shows the spread.
    A metric with no value in some repeat (say precision when no deal reaches 0.5) is averaged over
    the repeats that have one, and `undefined` says how many did not and why.
    """
    runs = [evaluate_cv(raw, k, seed=seed + r, group_duplicates=group_duplicates) for r in range(repeats)]
    result = dict(runs[0])
    means, undefined = _averaged(runs, lambda run: {key: run[key] for key in _METRICS})
    result.update(means)
    result["undefined"] = undefined
    result["baselines"], result["baselines_undefined"] = {}, {}
    for name in runs[0]["baselines"]:
        result["baselines"][name], missing = _averaged(runs, lambda run, name=name: run["baselines"][name])
        if missing:
            result["baselines_undefined"][name] = missing
    result["model"] = dict(sum((Counter(run["model"]) for run in runs), Counter()))
    result["fallback"] = all(run["fallback"] for run in runs)
    result["repeats"] = repeats
    result["per_repeat"] = [{"seed": run["seed"], **{key: run[key] for key in ("auc", "ece", "brier")}} for run in runs]
    return result
