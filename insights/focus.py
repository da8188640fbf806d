"""The deals that decide the period: each open deal's part in a stored Monte Carlo run. Plain NumPy.

Inputs are one run's simulations (forecasting.simulations): which deal won in which simulation, each
simulation's total for the scope asked about (workspace, team or rep) and the target. Per deal:

- `chance_if_won` / `chance_if_lost`: the chance of reaching the target when, in every simulation, the
  deal is set to won (or lost) and everything else stays as simulated. That is "how much the chance
  moves if the deal is won or lost". The plain conditional P(hit | won in that simulation) is kept too
  (`observed_if_won`/`observed_if_lost`), but not ranked on: deals share their segment's rate draw, so
  a small deal's wins coincide with good quarters and the conditional credits it with their luck.
- `spread_share`: cov(deal's revenue, total) / var(total) over the simulations; the shares of all
  deals, new business and nothing else add up to 1 (the total's variance, decomposed).
- `impact`: the swing scaled by what can still be done: how open the outcome still is (the deal's
  outcome's standard deviation, 2·sqrt(p(1-p)), 1 at even odds), the days left in the period and
  whether an open alert names something to fix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK_CELLS = 2_000_000  # deal-simulations per block of the counterfactual: ~16 MB of float64
FULL_TIME_DAYS = 14  # with two weeks or more left, time does not limit what a rep can do
ALERT_BOOST = 0.2  # per open alert (up to three): an alert names a concrete thing to fix
MAX_ALERTS_COUNTED = 3


@dataclass(frozen=True)
class Impacts:
    """Per deal (aligned with the rows given), and the scope's chance as simulated."""

    chance: float
    chance_if_won: np.ndarray
    chance_if_lost: np.ndarray
    observed_if_won: np.ndarray  # NaN where the deal never won (or never lost) in the simulations
    observed_if_lost: np.ndarray
    spread_share: np.ndarray
    probability: np.ndarray  # share of simulations the deal won

    @property
    def swing(self) -> np.ndarray:
        return self.chance_if_won - self.chance_if_lost


def raw_threshold(target: float, totals: np.ndarray, raw_totals: np.ndarray) -> float:
    """The engine's total that corresponds to `target` on the stored (maybe blended) scale.

    The blend keeps each simulation's rank, so reaching the target is the same as the raw total
    reaching this value; outside the simulated range the gap is carried over as it is."""
    if totals.shape != raw_totals.shape or len(totals) == 0:
        raise ValueError("totals and raw totals must be non-empty and aligned")
    if np.array_equal(totals, raw_totals):
        return float(target)
    order = np.argsort(totals, kind="stable")
    blended, raw = totals[order], raw_totals[order]
    if target <= blended[0]:
        return float(raw[0] - (blended[0] - target))
    if target > blended[-1]:
        return float(raw[-1] + (target - blended[-1]))
    return float(np.interp(target, blended, raw))


def deal_impacts(
    *,
    won: np.ndarray,
    amount: np.ndarray,
    totals: np.ndarray,
    raw_totals: np.ndarray,
    target: float,
) -> Impacts:
    """Every deal's swing, observed conditional chances and spread share, from the simulations.

    `won` is deals x simulations (bool), `amount` the simulated amounts, `totals` what the target is
    compared with, `raw_totals` the engine's sums (equal to `totals` unless blended)."""
    won = np.asarray(won, dtype=bool)
    amount = np.asarray(amount, dtype=float)
    n, sims = won.shape
    if len(amount) != n or len(totals) != sims or len(raw_totals) != sims:
        raise ValueError("deal and simulation arrays do not line up")
    hit = np.asarray(totals) >= target
    chance = float(hit.mean()) if sims else 0.0
    threshold = raw_threshold(target, np.asarray(totals, float), np.asarray(raw_totals, float))
    raw = np.asarray(raw_totals, dtype=float)

    if_won, if_lost = np.empty(n), np.empty(n)
    step = max(1, CHUNK_CELLS // max(sims, 1))
    for a in range(0, n, step):
        b = min(n, a + step)
        without = raw[None, :] - amount[a:b, None] * won[a:b]
        if_won[a:b] = (without + amount[a:b, None] >= threshold).mean(axis=1)
        if_lost[a:b] = (without >= threshold).mean(axis=1)

    wins = won.sum(axis=1).astype(float)
    hits_when_won = won.astype(np.float32) @ hit.astype(np.float32)
    losses = sims - wins
    with np.errstate(invalid="ignore", divide="ignore"):
        observed_won = np.where(wins > 0, hits_when_won / wins, np.nan)
        observed_lost = np.where(losses > 0, (hit.sum() - hits_when_won) / losses, np.nan)

    centred = raw - raw.mean()
    variance = float(centred @ centred) / sims if sims else 0.0
    covariance = amount * (won.astype(np.float32) @ centred.astype(np.float32)) / max(sims, 1)
    share = covariance / variance if variance > 0 else np.zeros(n)
    return Impacts(
        chance=chance,
        chance_if_won=if_won,
        chance_if_lost=if_lost,
        observed_if_won=observed_won,
        observed_if_lost=observed_lost,
        spread_share=share,
        probability=wins / max(sims, 1),
    )


def room_to_act(probability: np.ndarray, days_left: int, open_alerts: np.ndarray) -> np.ndarray:
    """How much can still be done about each deal this period, between 0 and 1.6.

    The deal's outcome must still be open (2·sqrt(p(1-p)): 1 at even odds, 0.6 at 10%, 0 when
    certain either way), there must be time (full with FULL_TIME_DAYS left, none after the period),
    and an open alert adds a concrete thing to fix."""
    p = np.clip(np.asarray(probability, dtype=float), 0.0, 1.0)
    openness = 2.0 * np.sqrt(p * (1.0 - p))
    time = min(max(days_left, 0), FULL_TIME_DAYS) / FULL_TIME_DAYS
    boost = 1.0 + ALERT_BOOST * np.minimum(np.asarray(open_alerts, dtype=float), MAX_ALERTS_COUNTED)
    return openness * time * boost


def impact_scores(impacts: Impacts, room: np.ndarray) -> np.ndarray:
    """The ranking figure: points of chance the deal swings (0..1), times the room to act."""
    return np.clip(impacts.swing, 0.0, 1.0) * room


def top(scores: np.ndarray, count: int) -> list[int]:
    """Indices of the `count` highest scores above zero, highest first (ties: the earlier row)."""
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order[:count] if scores[i] > 0]


def _pct(value: float) -> str:
    """A share as people read it: whole percents, one decimal below 10% so a small move still shows."""
    if 0 < value < 0.1:
        return f"{100 * value:.1f}%"
    return f"{round(100 * value)}%"


def reason(
    *,
    chance: float,
    chance_if_won: float,
    chance_if_lost: float,
    spread_share: float,
    probability: float,
    target_label: str,
    stage: str,
    days_left: int,
    alerts: list[str],
) -> str:
    """One plain sentence per deal, every number from the simulations or the data."""
    parts = [
        f"Won, it lifts the chance of reaching {target_label} from {_pct(chance)} to {_pct(chance_if_won)}; "
        f"lost, it drops to {_pct(chance_if_lost)}"
    ]
    parts.append(f"it is won in {_pct(probability)} of simulations and carries {_pct(spread_share)} of the spread")
    situation = f"in {stage}, {days_left} day{'s' if days_left != 1 else ''} left in the period"
    if alerts:
        situation += f"; open alert{'s' if len(alerts) > 1 else ''}: {', '.join(alerts)}"
    parts.append(situation)
    return ". ".join(p[0].upper() + p[1:] for p in parts) + "."
