"""Time to close with censoring: a competing-risks (won / lost) Aalen-Johansen estimator on a day grid.

Plain NumPy. Deals still open are censored at their age; deals that entered observation late (their
history before a window is not used) enter the risk set at that age (left truncation). From the fit:
the chance a deal of age `a` that is still open wins within the next `h` days,
    (CIF_won(a + h) - CIF_won(a)) / S(a),
which is zero once `a` is beyond every close ever seen: a deal far older than anything that closed is
nearly dead, and the data says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CENSORED, WON, LOST = 0, 1, 2


@dataclass(frozen=True)
class CloseTimeModel:
    """Step functions on days 0..horizon: S(t) = P(still open after t days), CIF of a win by t days."""

    surv: np.ndarray
    cif_won: np.ndarray
    max_close_age: int
    n_deals: int
    n_closed: int
    # Revenue counterparts of `cif_won` (when amounts were given): the expected won amount, and amount
    # squared, per deal from wins by t days. Their increments over a range of ages divided by the CIF's give the
    # mean (and second moment) of what a win at those ages brings, with censoring handled like the counts.
    cif_won_amount: np.ndarray | None = None
    cif_won_amount_sq: np.ndarray | None = None

    @property
    def horizon(self) -> int:
        return len(self.surv) - 1

    def _at(self, values: np.ndarray, days: np.ndarray) -> np.ndarray:
        idx = np.clip(np.asarray(days, dtype=np.int64), 0, self.horizon)
        return values[idx]

    def survival(self, days: np.ndarray | float) -> np.ndarray:
        return self._at(self.surv, np.asarray(days))

    def win_within(self, age: np.ndarray | float, days: np.ndarray | float) -> np.ndarray:
        """P(win within `days` | still open at `age`)."""
        age = np.asarray(age)
        start_surv = self._at(self.surv, age)
        gained = self._at(self.cif_won, age + np.asarray(days)) - self._at(self.cif_won, age)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(start_surv > 1e-12, gained / np.maximum(start_surv, 1e-12), 0.0)
        return np.clip(out, 0.0, 1.0)

    def close_within(self, age: np.ndarray | float, days: np.ndarray | float) -> np.ndarray:
        """P(closes, won or lost, within `days` | still open at `age`)."""
        age = np.asarray(age)
        start = self._at(self.surv, age)
        end = self._at(self.surv, age + np.asarray(days))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(start > 1e-12, 1.0 - end / np.maximum(start, 1e-12), 0.0)
        return np.clip(out, 0.0, 1.0)

    def gained_within(self, age: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For deals still open at `age`: P(win) and P(close) from `start` to `end` days on (`start` 0: from now).

        The same numbers as `win_within(age, end) - win_within(age, start)` (likewise `close_within`, the second
        term only where `start > 0`), from one lookup of each curve value: a forecast evaluates this per group of
        open deals for every period."""
        now = self._at(self.surv, age)
        won_now = self._at(self.cif_won, age)
        at_end = np.clip(np.asarray(age) + np.asarray(end), 0, self.horizon)
        at_start = np.clip(np.asarray(age) + np.asarray(start), 0, self.horizon)
        alive = now > 1e-12
        base = np.maximum(now, 1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):
            win_end = np.where(alive, (self.cif_won[at_end] - won_now) / base, 0.0)
            win_start = np.where(alive, (self.cif_won[at_start] - won_now) / base, 0.0)
            close_end = np.where(alive, 1.0 - self.surv[at_end] / base, 0.0)
            close_start = np.where(alive, 1.0 - self.surv[at_start] / base, 0.0)
        later = np.asarray(start) > 0
        win = np.clip(win_end, 0.0, 1.0) - np.where(later, np.clip(win_start, 0.0, 1.0), 0.0)
        close = np.clip(close_end, 0.0, 1.0) - np.where(later, np.clip(close_start, 0.0, 1.0), 0.0)
        return win, close

    def win_share(self) -> float:
        """Share of eventual closes that are wins (the pooled win rate implied by the fit)."""
        closed = 1.0 - self.surv[-1]
        return float(self.cif_won[-1] / closed) if closed > 1e-12 else 0.0


def fit_close_times(
    durations: np.ndarray,
    events: np.ndarray,
    *,
    entry: np.ndarray | None = None,
    horizon: int | None = None,
    amounts: np.ndarray | None = None,
) -> CloseTimeModel:
    """Aalen-Johansen on whole days.

    `durations`: days from creation to close (closed deals) or to the as-of date (open deals, censored).
    `events`: CENSORED, WON or LOST. `entry`: age at which each deal came under observation (0 if none).
    `amounts`: each deal's amount (only wins' are read), for the revenue curves.
    """
    durations = np.maximum(np.asarray(durations, dtype=np.int64), 0)
    events = np.asarray(events, dtype=np.int64)
    entry = np.zeros_like(durations) if entry is None else np.maximum(np.asarray(entry, dtype=np.int64), 0)
    if durations.shape != events.shape or durations.shape != entry.shape:
        raise ValueError("durations, events and entry must have the same length")
    keep = entry <= durations
    if not keep.all():
        durations, events, entry = durations[keep], events[keep], entry[keep]
    amounts = None if amounts is None else np.asarray(amounts, dtype=float)[keep]
    closed = events != CENSORED
    max_close_age = int(durations[closed].max()) if closed.any() else 0
    top = int(horizon if horizon is not None else max(int(durations.max(initial=0)), max_close_age) + 1)
    size = top + 1
    if horizon is not None:  # otherwise every day is below `size` already
        durations_in, entry_in = np.minimum(durations, size - 1), np.minimum(entry, size - 1)
    else:
        durations_in, entry_in = durations, entry
    # Risk set at day t: entered at or before t and not yet closed/censored before t.
    enter_counts = np.bincount(entry_in, minlength=size)
    # Closes and censorings per day and event (one count: day * 3 + event).
    by_event = np.bincount(durations_in * 3 + events, minlength=3 * size).reshape(size, 3)
    exit_counts = by_event.sum(axis=1)
    at_risk = np.cumsum(enter_counts) - np.concatenate(([0], np.cumsum(exit_counts)[:-1]))
    risk = at_risk > 0
    per_risk = np.maximum(at_risk, 1)
    hazard_won = np.where(risk, by_event[:, WON] / per_risk, 0.0)
    hazard_lost = np.where(risk, by_event[:, LOST] / per_risk, 0.0)
    hazard = np.minimum(hazard_won + hazard_lost, 1.0)
    surv = np.cumprod(1.0 - hazard)
    surv_before = np.concatenate(([1.0], surv[:-1]))
    cif_won = np.cumsum(surv_before * hazard_won)
    revenue: list[np.ndarray | None] = [None, None]
    if amounts is not None:
        won_at = np.minimum(durations[events == WON], size - 1)
        for power in (1, 2):
            per_day = np.bincount(won_at, weights=amounts[events == WON] ** power, minlength=size)
            hazard_amount = np.where(risk, per_day / per_risk, 0.0)
            revenue[power - 1] = np.cumsum(surv_before * hazard_amount)
    return CloseTimeModel(
        surv=surv,
        cif_won=cif_won,
        max_close_age=max_close_age,
        n_deals=len(durations),
        n_closed=int(closed.sum()),
        cif_won_amount=revenue[0],
        cif_won_amount_sq=revenue[1],
    )
