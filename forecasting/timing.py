"""When a deal may close: the forecast engine's own per-deal timing model, read for one deal.

The engine gives each open deal a chance to be won inside a window of days from now: the close-time
curve of deals that sat in the same stage (and amount band, and as many pushes) at least as long,
times its segment's win rate (or the deal's calibrated score, as the live forecast uses it). Read for
this quarter, the next and everything after (to the curve's horizon), the rest is the chance it is
never won.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from django.utils import timezone

from crm.models import Deal
from forecasting.compute import fit_as_of
from forecasting.model import open_deal_inputs
from forecasting.periods import fiscal_quarter_bounds, period_label
from scoring.selectors import deal_win_probabilities

LATER_DAYS = 3 * 365  # "later": up to three years out, past any close-time curve's horizon


@dataclass(frozen=True)
class TimingBar:
    label: str
    chance: float


def _chance(deals, rates, position: int) -> float:
    segment = int(deals.segment[position])
    weight = float(deals.weight[position])
    if segment >= len(rates.alpha):  # a calibrated score: the weight is the whole chance
        return min(max(weight, 0.0), 1.0)
    return min(max(float(rates.mean[segment]) * weight, 0.0), 1.0)


def deal_close_timing(deal: Deal, *, today: date | None = None) -> list[TimingBar] | None:
    """This quarter, next quarter, later, never: the chance the open deal is won in each; None when closed."""
    workspace = deal.workspace
    if deal.outcome != "open":
        return None
    now = timezone.now()
    today = today or now.astimezone(workspace.tz).date()
    loaded, model = fit_as_of(workspace, now)
    where = np.flatnonzero(loaded.deal_ids == deal.id)
    if not len(where) or not loaded.history.is_open[where[0]]:
        return None
    scores = deal_win_probabilities(workspace.id, [deal.id])
    fixed = np.array([scores.get(int(d), np.nan) for d in loaded.deal_ids], dtype=float)
    this = fiscal_quarter_bounds(workspace, today)
    nxt = fiscal_quarter_bounds(workspace, this[1] + timedelta(days=1))
    windows = [
        (period_label(workspace, *this), 1, max((this[1] - today).days, 1)),
        (period_label(workspace, *nxt), max((nxt[0] - today).days, 1), (nxt[1] - today).days),
        ("Later", (nxt[1] - today).days + 1, LATER_DAYS),
    ]
    bars = []
    for label, w0, w1 in windows:
        idx, deals = open_deal_inputs(loaded.history, model, window=(w0, w1), fixed_probability=fixed)
        position = int(np.flatnonzero(idx == where[0])[0])
        bars.append(TimingBar(label, _chance(deals, model.rates, position)))
    won = sum(b.chance for b in bars)
    if won > 1:  # a calibrated score applies per window; never claim more than certainty overall
        bars = [TimingBar(b.label, b.chance / won) for b in bars]
        won = 1.0
    bars.append(TimingBar("Not won", max(1.0 - won, 0.0)))
    return bars
