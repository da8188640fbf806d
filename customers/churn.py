"""The churn model: plain NumPy, XGBoost and scikit-learn, no Django.

Rows are dicts of feature values (numbers, or text for categories; None or "" when missing) with a
label (1 = churned) and a segment (the plan tier, or a categorical attribute) for the fallback.

- `Encoder` turns rows into a matrix: a column is numeric when nearly all its filled cells are numbers
  (numeric strings included, stray text becomes missing), otherwise one-hot over its common values.
- `fit_churn` trains gradient boosting (one thread), picks the rounds by early stopping on inner folds,
  calibrates it with Platt scaling on those out-of-fold margins, and falls back to segment base rates
  (Beta-shrunk toward the overall rate) when there are too few churned or retained rows to learn from.
- `evaluate` scores pooled out-of-fold predictions (`cv`) or a time split (`as_of`) beside the base rate
  and a logistic baseline on the same columns; `activation` applies the deal scorer's rule: the model
  must beat both by more than noise on held-out rows.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from scoring.activation import beats_references
from scoring.baseline import BetaBinomialRates
from scoring.model import Logistic, metrics

FORMAT = "vectoros-churn/1"
MIN_EACH = 30  # churned and retained rows needed before a learned model is tried
MIN_TOTAL = 150
MIN_CATEGORY = 5  # a category seen fewer times in training goes to the column's "other"
NUMERIC_SHARE = 0.95  # share of filled cells that must be numbers for a column to be numeric
MAX_CATEGORIES = 50
XGB_PARAMS = {
    "objective": "binary:logistic",
    "tree_method": "hist",
    "nthread": 1,
    "max_depth": 4,
    "eta": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.7,
    "min_child_weight": 2.0,
    "lambda": 2.0,
    "seed": 0,
    "eval_metric": "logloss",
}
MAX_ROUNDS = 800
INNER_FOLDS = 3


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return float(value) if isinstance(value, bool) else None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(float(value)) else None
    text = str(value).strip().replace(",", "")
    if not text:
        return None
    try:
        found = float(text)
    except ValueError:
        return None
    return found if math.isfinite(found) else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip()


@dataclass
class Encoder:
    """Which columns are numbers and which categories each categorical column keeps (learnt on training rows)."""

    numeric: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, rows: list[dict[str, Any]]) -> Encoder:
        columns = sorted({k for row in rows for k in row})
        numeric, categories = [], {}
        for column in columns:
            filled = [row.get(column) for row in rows if _text(row.get(column)) != ""]
            if not filled:
                continue
            numbers = sum(_number(v) is not None for v in filled)
            if numbers >= NUMERIC_SHARE * len(filled):
                numeric.append(column)
                continue
            counts = Counter(_text(v) for v in filled)
            kept = [value for value, n in counts.most_common(MAX_CATEGORIES) if n >= MIN_CATEGORY]
            if kept:
                categories[column] = kept
        return cls(numeric=numeric, categories=categories)

    @property
    def names(self) -> list[str]:
        names = list(self.numeric)
        for column, values in self.categories.items():
            names += [f"{column}={value}" for value in values] + [f"{column}=other"]
        return names

    @property
    def sources(self) -> list[str]:
        """The input column behind each matrix column (one-hot columns share their source)."""
        found = list(self.numeric)
        for column, values in self.categories.items():
            found += [column] * (len(values) + 1)
        return found

    def transform(self, rows: list[dict[str, Any]]) -> np.ndarray:
        x = np.full((len(rows), len(self.names)), np.nan)
        for i, row in enumerate(rows):
            for j, column in enumerate(self.numeric):
                value = _number(row.get(column))
                if value is not None:
                    x[i, j] = value
        start = len(self.numeric)
        for column, values in self.categories.items():
            index = {value: k for k, value in enumerate(values)}
            width = len(values) + 1
            block = np.zeros((len(rows), width))
            for i, row in enumerate(rows):
                text = _text(row.get(column))
                if text:
                    block[i, index.get(text, len(values))] = 1.0
            x[:, start : start + width] = block
            start += width
        return x

    def as_dict(self) -> dict[str, Any]:
        return {"numeric": self.numeric, "categories": self.categories}


def _segment_codes(segments: list[str], known: dict[str, float]) -> np.ndarray:
    return np.array([known.get(s, -1.0) for s in segments], dtype=float)


@dataclass
class ChurnModel:
    """A fitted model: boosted trees with Platt scaling, or (fallback) segment base rates."""

    kind: str
    encoder: Encoder
    segments: dict[str, float]
    rates: BetaBinomialRates
    booster_json: bytes = b""
    rounds: int = 0
    platt: tuple[float, float] = (1.0, 0.0)
    reason: str = ""
    n_churned: int = 0
    n_retained: int = 0
    _booster: xgb.Booster | None = None

    @property
    def booster(self) -> xgb.Booster:
        if self._booster is None:
            self._booster = xgb.Booster(params={"nthread": 1})
            self._booster.load_model(bytearray(self.booster_json))
        return self._booster

    def _segment_rates(self, segments: list[str]) -> np.ndarray:
        codes = _segment_codes(segments, self.segments)
        return self.rates.predict(codes, np.full(len(codes), -1.0))

    def predict(self, rows: list[dict[str, Any]], segments: list[str]) -> np.ndarray:
        if self.kind != "xgboost" or not rows:
            return self._segment_rates(segments)
        margin = self.booster.predict(xgb.DMatrix(self.encoder.transform(rows), nthread=1), output_margin=True)
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * margin + b)))

    def explain(self, rows: list[dict[str, Any]], top: int = 3) -> list[list[dict[str, Any]]]:
        """Per row, the input columns that push its risk up or down most (XGBoost's own contributions)."""
        if self.kind != "xgboost" or not rows:
            return [[{"driver": "segment base rate", "effect": 0.0}] for _ in rows]
        contributions = self.booster.predict(xgb.DMatrix(self.encoder.transform(rows), nthread=1), pred_contribs=True)
        sources = self.encoder.sources
        out = []
        for row in contributions:
            by_source: dict[str, float] = {}
            for j, value in enumerate(row[:-1]):
                by_source[sources[j]] = by_source.get(sources[j], 0.0) + float(value)
            ranked = sorted(by_source.items(), key=lambda kv: -abs(kv[1]))[:top]
            out.append([{"driver": name, "effect": round(value * self.platt[0], 3)} for name, value in ranked])
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "encoder": self.encoder.as_dict(),
            "segments": self.segments,
            "rates": {
                "base": self.rates.base,
                "strength": self.rates.strength,
                "stage_rates": list(self.rates.stage_rates.items()),
            },
            "model": self.booster_json.decode() if self.booster_json else None,
            "rounds": self.rounds,
            "platt": list(self.platt),
            "reason": self.reason,
            "n_churned": self.n_churned,
            "n_retained": self.n_retained,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChurnModel:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} model")
        rates = BetaBinomialRates(
            use_segments=False, strength=float(data["rates"]["strength"]), base=float(data["rates"]["base"])
        )
        rates.stage_rates = {float(k): float(v) for k, v in data["rates"]["stage_rates"]}
        return cls(
            kind=data["kind"],
            encoder=Encoder(numeric=list(data["encoder"]["numeric"]), categories=dict(data["encoder"]["categories"])),
            segments={str(k): float(v) for k, v in data["segments"].items()},
            rates=rates,
            booster_json=(data["model"] or "").encode(),
            rounds=int(data["rounds"]),
            platt=(float(data["platt"][0]), float(data["platt"][1])),
            reason=data["reason"],
            n_churned=int(data["n_churned"]),
            n_retained=int(data["n_retained"]),
        )


def _fit_rates(segments: list[str], y: np.ndarray) -> tuple[dict[str, float], BetaBinomialRates]:
    known = {s: float(i) for i, s in enumerate(sorted(set(segments)))}
    codes = _segment_codes(segments, known)
    rates = BetaBinomialRates(use_segments=False).fit(codes, np.full(len(y), -1.0), y, np.ones(len(y)))
    return known, rates


def _train(
    x: np.ndarray, y: np.ndarray, rounds: int, evals: tuple[np.ndarray, np.ndarray] | None = None
) -> xgb.Booster:
    dtrain = xgb.DMatrix(x, label=y, nthread=1)
    if evals is None:
        return xgb.train(XGB_PARAMS, dtrain, num_boost_round=rounds)
    dvalid = xgb.DMatrix(evals[0], label=evals[1], nthread=1)
    return xgb.train(
        XGB_PARAMS,
        dtrain,
        num_boost_round=rounds,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=50,
        verbose_eval=False,
    )


def fit_churn(rows: list[dict[str, Any]], y: np.ndarray, segments: list[str], *, seed: int = 0) -> ChurnModel:
    y = np.asarray(y, dtype=float)
    known, rates = _fit_rates(segments, y)
    encoder = Encoder.fit(rows)
    n_churned, n_retained = int(y.sum()), int(len(y) - y.sum())
    model = ChurnModel("segment_rates", encoder, known, rates, n_churned=n_churned, n_retained=n_retained)
    if min(n_churned, n_retained) < MIN_EACH or len(y) < MIN_TOTAL or not encoder.names:
        model.reason = (
            f"{n_churned} churned and {n_retained} retained rows: too few to learn from "
            f"(at least {MIN_EACH} of each and {MIN_TOTAL} in all); using segment base rates"
        )
        return model
    x = encoder.transform(rows)
    # Inner folds: the rounds by early stopping, and out-of-fold margins for Platt scaling.
    margins = np.zeros(len(y))
    best: list[int] = []
    for tr, va in StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=seed).split(x, y):
        booster = _train(x[tr], y[tr], MAX_ROUNDS, evals=(x[va], y[va]))
        n = int(booster.best_iteration) + 1
        best.append(n)
        margins[va] = booster[:n].predict(xgb.DMatrix(x[va], nthread=1), output_margin=True)
    platt = LogisticRegression(C=1e4, max_iter=1000).fit(margins.reshape(-1, 1), y)
    model.rounds = max(20, int(np.mean(best) * INNER_FOLDS / (INNER_FOLDS - 1)))  # more rows, a few more rounds
    booster = _train(x, y, model.rounds)
    model.kind = "xgboost"
    model.booster_json = bytes(booster.save_raw("json"))
    model._booster = booster
    model.platt = (float(platt.coef_[0][0]), float(platt.intercept_[0]))
    return model


def logistic_baseline(train_rows: list[dict[str, Any]], y: np.ndarray, test_rows: list[dict[str, Any]]) -> np.ndarray:
    """The plain baseline every model must beat: L2 logistic regression (C=1) on the same encoded columns."""
    encoder = Encoder.fit(train_rows)
    if not encoder.names or len(np.unique(y)) < 2:
        return np.full(len(test_rows), float(np.mean(y)) if len(y) else 0.5)
    fitted = Logistic(1.0).fit(encoder.transform(train_rows), y, np.ones(len(y)))
    return 1.0 / (1.0 + np.exp(-fitted.margin(encoder.transform(test_rows))))


def _clean(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def report(
    y: np.ndarray, p: np.ndarray, base: np.ndarray, logistic: np.ndarray, extra: dict[str, Any]
) -> dict[str, Any]:
    """The figures `evaluate_churn` prints: the model's, the base rate's Brier and the logistic baseline's."""
    found = metrics(y, p)
    lr = metrics(y, logistic)
    return {
        "n": len(y),
        "auc": _clean(found["auc"]),
        "brier": _clean(found["brier"]),
        "brier_base_rate": _clean(metrics(y, base)["brier"]),
        "ece": _clean(found["ece"]),
        "baselines": {"logistic": {"auc": _clean(lr["auc"]), "brier": _clean(lr["brier"])}},
        **extra,
    }


@dataclass
class Heldout:
    """Held-out predictions: the model's, and the references it must beat, on the same rows."""

    y: np.ndarray
    p: np.ndarray
    base: np.ndarray
    logistic: np.ndarray
    kinds: Counter[str]


def heldout_cv(
    rows: list[dict[str, Any]],
    y: np.ndarray,
    segments: list[str],
    k: int,
    *,
    seed: int = 0,
    groups: list[int] | None = None,
) -> Heldout:
    """Pooled out-of-fold predictions of K stratified folds (rows sharing a group stay in one fold)."""
    y = np.asarray(y, dtype=float)
    if k < 2:
        raise ValueError("--cv needs at least 2 folds")
    if len(y) < k or min(y.sum(), len(y) - y.sum()) < k:
        raise ValueError(f"{len(y)} rows ({int(y.sum())} churned) are too few for {k}-fold cross-validation")
    p, base, logistic = np.zeros(len(y)), np.zeros(len(y)), np.zeros(len(y))
    kinds: Counter[str] = Counter()
    if groups is None:
        split = StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    else:
        split = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups)
    for tr, te in split:
        train_rows, test_rows = [rows[i] for i in tr], [rows[i] for i in te]
        model = fit_churn(train_rows, y[tr], [segments[i] for i in tr], seed=seed)
        kinds[model.kind] += 1
        p[te] = model.predict(test_rows, [segments[i] for i in te])
        base[te] = float(y[tr].mean())
        logistic[te] = logistic_baseline(train_rows, y[tr], test_rows)
    return Heldout(y, p, base, logistic, kinds)


def heldout_split(
    train_rows: list[dict[str, Any]],
    y_train: np.ndarray,
    train_segments: list[str],
    test_rows: list[dict[str, Any]],
    y_test: np.ndarray,
    test_segments: list[str],
    *,
    seed: int = 0,
) -> Heldout:
    y_train = np.asarray(y_train, dtype=float)
    if not len(test_rows):
        raise ValueError("no held-out rows: nothing was up for renewal after that date with a known outcome")
    if len(np.unique(y_train)) < 2:
        raise ValueError("the rows before that date have a single outcome; pick a later date")
    model = fit_churn(train_rows, y_train, train_segments, seed=seed)
    p = model.predict(test_rows, test_segments)
    base = np.full(len(test_rows), float(y_train.mean()))
    logistic = logistic_baseline(train_rows, y_train, test_rows)
    return Heldout(np.asarray(y_test, dtype=float), p, base, logistic, Counter([model.kind]))


def activation(held: Heldout, *, seed: int = 0) -> tuple[bool, str]:
    """The deal scorer's rule: a Brier gain over the base rate and over the logistic baseline, both
    beyond noise (paired bootstrap interval above zero), on held-out rows."""
    if held.kinds.get("xgboost", 0) == 0:
        return False, "too few churned or retained rows to train a model; segment base rates are used"
    groups = np.arange(len(held.y))
    ok, _, reason = beats_references(
        held.y, np.ones(len(held.y)), groups, held.p, {"base_rate": held.base, "logistic": held.logistic}, seed=seed
    )
    return ok, reason
