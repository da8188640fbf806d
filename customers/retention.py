"""Renewals in the forecast: a Monte Carlo distribution of renewed ARR, gross and net revenue retention per period.

Plain NumPy. Each subscription up for renewal in a period renews with its own probability (independent draws);
expansion deals closing in the period are won with theirs. Gross retention = renewed ARR / ARR up for renewal;
net retention = (renewed ARR + expansion won) / ARR up for renewal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIMS = 10_000


@dataclass(frozen=True)
class Period:
    label: str
    arr_due: np.ndarray  # ARR of each subscription renewing in the period
    p_renew: np.ndarray
    expansion: np.ndarray  # amounts of expansion deals expected to close in it
    p_expansion: np.ndarray


def _quantiles(values: np.ndarray) -> dict[str, float]:
    p10, p50, p90 = np.quantile(values, [0.1, 0.5, 0.9])
    return {"p10": float(p10), "p50": float(p50), "p90": float(p90), "mean": float(values.mean())}


def simulate(periods: list[Period], *, sims: int = SIMS, seed: int = 0) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    out: list[dict[str, object]] = []
    for period in periods:
        due = float(period.arr_due.sum())
        renewed = (rng.random((sims, len(period.arr_due))) < period.p_renew) @ period.arr_due
        expansion = (rng.random((sims, len(period.expansion))) < period.p_expansion) @ period.expansion
        row: dict[str, object] = {
            "period": period.label,
            "subscriptions": len(period.arr_due),
            "arr_due": due,
            "renewed": _quantiles(renewed),
            "expansion": _quantiles(expansion),
            "grr": _quantiles(renewed / due) if due else None,
            "nrr": _quantiles((renewed + expansion) / due) if due else None,
        }
        out.append(row)
    return out
