"""A fitted Scorer as JSON and back: a saved model is data (XGBoost's own JSON model format, coefficients,
calibration and rates as numbers), never pickled objects that would run code when loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from scoring.baseline import BetaBinomialRates
from scoring.features import Vocabulary
from scoring.model import Boosted, Ensemble, Logistic, Scorer

FORMAT = "vectoros-scorer/1"


class ArtifactError(ValueError):
    """A model file we cannot read as a scorer (wrong format, or an old pickled one: retrain to replace it)."""


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _predictor_json(predictor: Boosted | Logistic | Ensemble | None) -> dict[str, Any] | None:
    if predictor is None:
        return None
    if isinstance(predictor, Logistic):
        return {
            "type": "logistic",
            "c": predictor.c,
            "median": predictor.median.tolist(),
            "scale": predictor.scale.tolist(),
            "coef": predictor.coef.tolist(),
            "intercept": predictor.intercept,
        }
    if isinstance(predictor, Boosted):
        model = json.loads(bytes(predictor.booster.save_raw("json")))
        return {"type": "xgboost", "params": predictor.params, "rounds": predictor.rounds, "model": model}
    return {"type": "ensemble", "members": [_predictor_json(member) for member in predictor.members]}


def _predictor(data: dict[str, Any] | None) -> Boosted | Logistic | Ensemble | None:
    if data is None:
        return None
    if data["type"] == "logistic":
        return Logistic(
            c=float(data["c"]),
            median=np.asarray(data["median"], dtype=float),
            scale=np.asarray(data["scale"], dtype=float),
            coef=np.asarray(data["coef"], dtype=float),
            intercept=float(data["intercept"]),
        )
    if data["type"] == "xgboost":
        raw = json.dumps(data["model"]).encode()
        return Boosted(params=dict(data["params"]), rounds=int(data["rounds"]), raw=raw)
    if data["type"] == "ensemble":
        return Ensemble(members=[_predictor(member) for member in data["members"]])
    raise ArtifactError(f"unknown predictor type {data['type']!r}")


def _rates_json(rates: BetaBinomialRates) -> dict[str, Any]:
    # JSON keys are strings; the rates are keyed by floats and pairs of floats, so they go as [key, value] lists.
    return {
        "use_segments": rates.use_segments,
        "strength": rates.strength,
        "base": rates.base,
        "stage_rates": [[k, v] for k, v in rates.stage_rates.items()],
        "segment_rates": [[list(k), v] for k, v in rates.segment_rates.items()],
        "stage_counts": [[k, v] for k, v in rates.stage_counts.items()],
    }


def _rates(data: dict[str, Any]) -> BetaBinomialRates:
    return BetaBinomialRates(
        use_segments=bool(data["use_segments"]),
        strength=float(data["strength"]),
        base=float(data["base"]),
        stage_rates={float(k): float(v) for k, v in data["stage_rates"]},
        segment_rates={(float(k[0]), float(k[1])): float(v) for k, v in data["segment_rates"]},
        stage_counts={float(k): float(v) for k, v in data["stage_counts"]},
    )


def scorer_to_json(scorer: Scorer) -> str:
    document = {
        "format": FORMAT,
        "kind": scorer.kind,
        "feature_names": scorer.feature_names,
        "vocabulary": {"numeric": scorer.vocabulary.numeric, "categories": scorer.vocabulary.categories},
        "baseline": _rates_json(scorer.baseline),
        "predictor": _predictor_json(scorer.predictor),
        "platt": list(scorer.platt),
        "params": scorer.params,
        "validation": scorer.validation,
        "reason": scorer.reason,
        "importance": scorer.importance,
        "psi_reference": scorer.psi_reference,
        "n_won": scorer.n_won,
        "n_lost": scorer.n_lost,
    }
    return json.dumps(document, default=_plain)


def scorer_from_json(text: str) -> Scorer:
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ArtifactError("not a JSON scorer (a model saved in the old pickle format? retrain it)") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArtifactError(f"not a {FORMAT} file")
    return Scorer(
        kind=data["kind"],
        feature_names=list(data["feature_names"]),
        vocabulary=Vocabulary(numeric=list(data["vocabulary"]["numeric"]), categories=data["vocabulary"]["categories"]),
        baseline=_rates(data["baseline"]),
        predictor=_predictor(data["predictor"]),
        platt=(float(data["platt"][0]), float(data["platt"][1])),
        params=data["params"],
        validation=data["validation"],
        reason=data["reason"],
        importance=data["importance"],
        psi_reference=data["psi_reference"],
        n_won=int(data["n_won"]),
        n_lost=int(data["n_lost"]),
    )


def scorer_save(path: Path, scorer: Scorer) -> None:
    path.write_text(scorer_to_json(scorer), encoding="utf-8")


def scorer_read(path: Path) -> Scorer:
    try:
        return scorer_from_json(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ArtifactError(f"{path.name}: not a JSON scorer (an old pickled model? retrain it)") from None
