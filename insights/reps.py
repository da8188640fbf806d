"""Rep insights: each rep against their team with the deal mix taken into account. Plain NumPy.

For every figure the team's value is indirectly standardised to the rep's mix: the peers' figure in
each stratum (a size band, or the company's size for deal size), weighted by how the rep's own deals
fall into those strata. So a rep who sells mostly small deals is compared with what the team does on
small deals. The rep's figure has a 90% interval (Wilson for shares, a bootstrap for means); a gap is
called out only when that interval leaves out the team's figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Z90 = 1.6448536269514722  # two-sided 90%
MIN_DEALS = 8  # fewer of the rep's deals than this: no figure, however wide its interval would be
BOOTSTRAP = 2000
BANDS = 3


@dataclass(frozen=True)
class Comparison:
    value: float
    team: float
    low: float
    high: float
    n: int

    @property
    def excludes_team(self) -> bool:
        return not (self.low <= self.team <= self.high)


def wilson(successes: float, n: float, z: float = Z90) -> tuple[float, float]:
    """The Wilson score interval of a share (90% by default)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def bands(values: np.ndarray, count: int = BANDS) -> np.ndarray:
    """Each value's band among `count` equal-sized bands of the values (NaN: a band of its own, -1)."""
    values = np.asarray(values, dtype=float)
    known = values[~np.isnan(values)]
    if len(known) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    edges = np.unique(np.quantile(known, np.linspace(0, 1, count + 1)[1:-1]))
    out = np.searchsorted(edges, values, side="right").astype(np.int64)
    out[np.isnan(values)] = -1
    return out


def _standardised(peer_values: np.ndarray, peer_strata: np.ndarray, rep_strata: np.ndarray, stat) -> float:
    """The peers' figure re-weighted to the rep's mix of strata (a stratum the peers lack: their overall figure)."""
    overall = stat(peer_values)
    total = 0.0
    for stratum in np.unique(rep_strata):
        weight = float(np.mean(rep_strata == stratum))
        in_stratum = peer_values[peer_strata == stratum]
        total += weight * (stat(in_stratum) if len(in_stratum) else overall)
    return float(total)


def share_vs_peers(
    success: np.ndarray, strata: np.ndarray, rep: np.ndarray, peers: np.ndarray, min_n: int = MIN_DEALS
) -> Comparison | None:
    """A share (win rate, conversion, slippage): the rep's with its Wilson interval, the peers' at the rep's mix."""
    success = np.asarray(success, dtype=float)
    n = int(rep.sum())
    if n < min_n or int(peers.sum()) < min_n:
        return None
    k = float(success[rep].sum())
    low, high = wilson(k, n)
    team = _standardised(success[peers], strata[peers], strata[rep], np.mean)
    return Comparison(value=k / n, team=team, low=low, high=high, n=n)


def mean_vs_peers(
    values: np.ndarray,
    strata: np.ndarray,
    rep: np.ndarray,
    peers: np.ndarray,
    *,
    seed: int = 0,
    min_n: int = MIN_DEALS,
) -> Comparison | None:
    """A mean (cycle days, deal size, activities): the rep's with a stratified bootstrap 90% interval
    (resampled within each stratum, so the interval is of the rep's own mix), the peers' at that mix."""
    values = np.asarray(values, dtype=float)
    n = int(rep.sum())
    if n < min_n or int(peers.sum()) < min_n:
        return None
    mine, my_strata = values[rep], strata[rep]
    rng = np.random.default_rng(seed)
    draws = np.zeros(BOOTSTRAP)
    for stratum in np.unique(my_strata):
        group = mine[my_strata == stratum]
        picks = rng.integers(0, len(group), size=(BOOTSTRAP, len(group)))
        draws += group[picks].sum(axis=1)
    draws /= n
    low, high = np.quantile(draws, [0.05, 0.95])
    team = _standardised(values[peers], strata[peers], my_strata, np.mean)
    return Comparison(value=float(mine.mean()), team=team, low=float(low), high=float(high), n=n)


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    unit: str  # "share", "days", "money", "count"
    higher_is_better: bool
    coaching_low: str  # when the rep is worse than the team
    coaching_high: str  # when better: what to share


METRICS: dict[str, MetricSpec] = {
    "win_rate": MetricSpec(
        "win_rate", "Win rate", "share", True,
        "Review the last lost deals with {rep}: qualify out earlier and bring a manager into late-stage deals.",
        "{rep} wins more than the team on a like-for-like mix: ask them to walk the team through a recent win.",
    ),
    "conversion": MetricSpec(
        "conversion", "Conversion from {stage}", "share", True,
        "Deals stall after {stage}: agree {stage}'s exit criteria with {rep} and sit in on their next {stage} calls.",
        "{rep} moves deals past {stage} better than the team: have them share how they run that stage.",
    ),
    "cycle_days": MetricSpec(
        "cycle_days", "Days to win", "days", False,
        "{rep}'s wins take longer: set a mutual close plan with dated next steps on each open deal.",
        "{rep} closes faster than the team: capture their close plan as a template.",
    ),
    "deal_size": MetricSpec(
        "deal_size", "Average won deal", "money", True,
        "{rep}'s wins are smaller than the team's with similar-sized customers: practise multi-product "
        "discovery and anchor on value before price.",
        "{rep} lands larger deals with similar customers: have them share their discovery questions.",
    ),
    "slippage": MetricSpec(
        "slippage", "Deals whose close date slipped", "share", False,
        "{rep}'s close dates move often: in 1:1s, date only what the buyer has confirmed.",
        "{rep}'s close dates hold: their dating discipline is worth copying.",
    ),
    "activity": MetricSpec(
        "activity", "Activities per deal per month", "count", True,
        "{rep} logs fewer touches per deal than the team: block time for follow-ups and reach more contacts per deal.",
        "{rep} works their deals harder than the team does.",
    ),
}  # fmt: skip


def format_value(value: float, unit: str, currency: str = "") -> str:
    if unit == "share":
        return f"{round(100 * value)}%"
    if unit == "days":
        return f"{value:.0f} days"
    if unit == "money":
        return f"{currency} {value:,.0f}".strip()
    return f"{value:.1f}"


@dataclass(frozen=True)
class RepMetric:
    key: str
    label: str
    unit: str
    comparison: Comparison
    called_out: bool
    better: bool
    text: str
    coaching: str
    value_text: str = ""
    team_text: str = ""
    interval_text: str = ""

    def as_json(self) -> dict[str, object]:
        c = self.comparison
        return {
            "metric": self.key,
            "label": self.label,
            "value": round(c.value, 4),
            "team": round(c.team, 4),
            "low": round(c.low, 4),
            "high": round(c.high, 4),
            "n": c.n,
            "called_out": self.called_out,
            "better": self.better,
            "text": self.text,
            "coaching": self.coaching,
        }


def describe(
    spec: MetricSpec, comparison: Comparison, *, rep_name: str, stage: str = "", currency: str = ""
) -> RepMetric:
    label = spec.label.format(stage=stage)
    fmt: Callable[[float], str] = lambda v: format_value(v, spec.unit, currency)  # noqa: E731 - a local shorthand
    if spec.unit == "share":
        interval = f"{round(100 * comparison.low)}–{round(100 * comparison.high)}%"
    else:
        interval = f"{fmt(comparison.low)}–{format_value(comparison.high, spec.unit)}"
    text = (
        f"{label} {fmt(comparison.value)} vs team {fmt(comparison.team)}, 90% interval {interval} "
        f"({comparison.n} deals)"
    )
    better = (comparison.value > comparison.team) == spec.higher_is_better
    called_out = comparison.excludes_team
    coaching = ""
    if called_out:
        coaching = (spec.coaching_high if better else spec.coaching_low).format(rep=rep_name, stage=stage)
    return RepMetric(
        spec.key, label, spec.unit, comparison, called_out, better, text, coaching,
        value_text=fmt(comparison.value), team_text=fmt(comparison.team), interval_text=interval,
    )  # fmt: skip
