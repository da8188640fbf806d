"""The monitors' rules: plain functions over arrays of deal facts. No Django here.

Each detector takes a `DealFacts` (one NumPy array per fact, one slot per open deal) and the
workspace's `Thresholds`, and returns a `Finding`: which deals it flags and how severe (0-1) each is.
Missing facts are NaN and never flag a deal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from forecasting.coverage import coverage_ratio


@dataclass(frozen=True)
class Thresholds:
    stale_days: float = 14
    stall_percentile: float = 75
    stall_min_samples: int = 8
    # Per stage (stage id, percentile), chosen by the calibration where time in that stage carried signal;
    # a percentile of None switches the rule off in that stage. Stages not listed use `stall_percentile`.
    stall_percentile_by_stage: tuple[tuple[int, float | None], ...] = ()
    slip_min_pushes: int = 2
    slip_past_due_days: float = 1
    engagement_recent_days: float = 14
    engagement_baseline_days: float = 42
    engagement_drop_ratio: float = 0.35
    engagement_min_baseline: int = 4
    ghost_days: float = 14
    ghost_min_outbound: int = 3
    model_drop: float = 0.15
    model_low_probability: float = 0.2
    model_large_quantile: float = 0.75
    single_thread_max_contacts: int = 1
    coverage_ratio: float = 3.0
    forecast_drop_share: float = 0.1
    # Priority cut-offs on score / (the workspace's median expected deal value).
    critical_score: float = 2.5
    high_score: float = 1.0
    medium_score: float = 0.35

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k in _NUMERIC}

    def stall_percentile_for(self, stage_id: int) -> float | None:
        return dict(self.stall_percentile_by_stage).get(int(stage_id), self.stall_percentile)

    @classmethod
    def from_dict(cls, values: Mapping[str, object] | None) -> Thresholds:
        """Known keys override the defaults; unknown keys are ignored; bad values raise ValueError."""
        known = {f.name: f.type for f in fields(cls) if f.name in _NUMERIC}
        clean: dict[str, float | int] = {}
        for key, value in (values or {}).items():
            if key not in known:
                continue
            number = float(value)  # type: ignore[arg-type]  # a value float() refuses raises, as the docstring says
            if not np.isfinite(number) or number < 0:
                raise ValueError(f"{key} must be a non-negative number")
            clean[key] = int(number) if known[key] == "int" else number
        return cls(**clean)  # type: ignore[arg-type]  # each value was converted to its field's type above


_NUMERIC = {f.name for f in fields(Thresholds) if f.type in ("float", "int")}


@dataclass
class DealFacts:
    """Facts about open deals as of one moment; every array has one slot per deal."""

    deal_id: np.ndarray  # int64
    amount: np.ndarray
    stage_id: np.ndarray  # int64
    stage_probability: np.ndarray  # 0-1, the stage's default
    win_probability: np.ndarray  # 0-1 from the scoring model, NaN without one
    previous_win_probability: np.ndarray  # at the previous monitor run, NaN when unknown
    age_days: np.ndarray
    days_in_stage: np.ndarray
    stage_norm_days: np.ndarray  # the stage's percentile of completed durations, NaN when too few
    days_since_activity: np.ndarray  # NaN when never
    recent_activities: np.ndarray
    earlier_activities: np.ndarray
    days_since_inbound: np.ndarray  # NaN when never
    recent_outbound: np.ndarray
    recent_inbound: np.ndarray
    slip_count: np.ndarray
    slip_days: np.ndarray
    days_past_due: np.ndarray  # as-of date minus expected close; NaN without a date
    contact_count: np.ndarray  # NaN when the workspace records no contacts on deals
    days_to_period_end: np.ndarray  # to the end of the quarter the deal is due in (this one when overdue)
    activity_tracked: np.ndarray  # bool: False when the workspace logs no activities at all (e.g. an import)
    meeting_booked: np.ndarray  # bool: a meeting ahead, known at the as-of time (email/calendar capture)
    # Captured signals (crm.engagement; all False when not given): the buyer's latest recent message was negative
    # or "not now"; a recent meeting was a no-show and the buyer has not written since.
    buyer_cooling: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    no_show_unanswered: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __post_init__(self) -> None:
        for name in ("buyer_cooling", "no_show_unanswered"):
            if len(getattr(self, name)) == 0 and len(self.deal_id):  # not given
                setattr(self, name, np.zeros(len(self.deal_id), bool))

    def __len__(self) -> int:
        return len(self.deal_id)

    @classmethod
    def empty(cls) -> DealFacts:
        return cls(**{f.name: np.zeros(0) for f in fields(cls)})

    def take(self, index: np.ndarray) -> DealFacts:
        return DealFacts(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass
class Finding:
    flagged: np.ndarray  # bool
    severity: np.ndarray  # 0-1, zero where not flagged

    @classmethod
    def of(cls, flagged: np.ndarray, severity: np.ndarray) -> Finding:
        flagged = np.asarray(flagged, dtype=bool)
        return cls(flagged, np.where(flagged, np.clip(np.nan_to_num(severity), 0.05, 1.0), 0.0))


def _gt(a: np.ndarray, b: float | np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(a, nan=-np.inf) > b


def stale(f: DealFacts, t: Thresholds) -> Finding:
    """No activity for `stale_days`, or never any once the deal is older than that. Silent in a
    workspace that logs no activities (silence there says nothing about the deal), and for a deal with a meeting
    booked ahead."""
    idle = np.where(np.isnan(f.days_since_activity), f.age_days, f.days_since_activity)
    flagged = _gt(idle, t.stale_days) & f.activity_tracked.astype(bool) & ~f.meeting_booked.astype(bool)
    return Finding.of(flagged, 0.5 + 0.5 * (idle - t.stale_days) / (2 * t.stale_days))


def stalled(f: DealFacts, t: Thresholds) -> Finding:
    """In the current stage longer than the workspace usually takes to leave it."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = f.days_in_stage / f.stage_norm_days
    flagged = _gt(ratio, 1.0) & _gt(f.stage_norm_days, 0.0)
    return Finding.of(flagged, 0.5 + (ratio - 1.0) / 2)


def slipping(f: DealFacts, t: Thresholds) -> Finding:
    """Close date pushed out again (and again), or past due while still open."""
    pushed = f.slip_count >= t.slip_min_pushes
    overdue = _gt(f.days_past_due, t.slip_past_due_days - 1e-9)
    severity = np.maximum(
        np.where(pushed, 0.3 + 0.15 * f.slip_count + f.slip_days / 180, 0),
        np.where(overdue, 0.6 + np.nan_to_num(f.days_past_due) / 60, 0),
    )
    return Finding.of(pushed | overdue, severity)


def engagement(f: DealFacts, t: Thresholds) -> Finding:
    """Recent activity rate well below the deal's own earlier rate, or replies stopping (ghosting)."""
    recent_rate = f.recent_activities / t.engagement_recent_days
    earlier_rate = f.earlier_activities / t.engagement_baseline_days
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(earlier_rate > 0, recent_rate / earlier_rate, np.nan)
    decaying = (f.earlier_activities >= t.engagement_min_baseline) & (
        np.nan_to_num(ratio, nan=np.inf) < t.engagement_drop_ratio
    )
    ghosting = (
        ~np.isnan(f.days_since_inbound)
        & _gt(f.days_since_inbound, t.ghost_days)
        & (f.recent_outbound >= t.ghost_min_outbound)
        & ~f.meeting_booked.astype(bool)  # the buyer accepted a meeting ahead: not ghosting
    )
    severity = np.maximum(np.where(decaying, 1.0 - np.nan_to_num(ratio), 0), np.where(ghosting, 0.8, 0))
    captured = captured_signals(f)
    return Finding.of(decaying | ghosting | captured.flagged, np.maximum(severity, captured.severity))


def captured_signals(f: DealFacts) -> Finding:
    """What captured mail and meetings say outright: the buyer's latest message cooled (negative, "not now"), or
    they missed the last meeting and have not written since. Silent without capture."""
    cooling, no_show = f.buyer_cooling.astype(bool), f.no_show_unanswered.astype(bool)
    return Finding.of(cooling | no_show, np.maximum(np.where(cooling, 0.7, 0), np.where(no_show, 0.6, 0)))


def model_risk(f: DealFacts, t: Thresholds) -> Finding:
    """Win probability dropped sharply since the last run, or is low on a large deal. Silent without a model."""
    p, before = f.win_probability, f.previous_win_probability
    dropped = _gt(before - p, t.model_drop)
    if np.isnan(p).all():
        return Finding.of(np.zeros(len(f), bool), np.zeros(len(f)))
    large = f.amount >= np.quantile(f.amount, t.model_large_quantile) if len(f) else np.zeros(0, bool)
    low = ~np.isnan(p) & (np.nan_to_num(p, nan=1.0) < t.model_low_probability) & large
    severity = np.maximum(np.nan_to_num(before - p) * 2, np.where(low, 1.0 - np.nan_to_num(p), 0))
    return Finding.of(dropped | low, severity)


def single_threaded(f: DealFacts, t: Thresholds) -> Finding:
    """At most one contact involved on a deal above the workspace's median amount."""
    if not len(f) or np.isnan(f.contact_count).all():
        return Finding.of(np.zeros(len(f), bool), np.zeros(len(f)))
    median = float(np.median(f.amount))
    flagged = (np.nan_to_num(f.contact_count, nan=np.inf) <= t.single_thread_max_contacts) & (f.amount > median)
    return Finding.of(flagged, np.full(len(f), 0.4))


DETECTORS: dict[str, Callable[[DealFacts, Thresholds], Finding]] = {
    "stale": stale,
    "stalled": stalled,
    "slipping": slipping,
    "engagement": engagement,
    "model_risk": model_risk,
    "single_threaded": single_threaded,
}


def run_all(f: DealFacts, t: Thresholds, kinds: list[str] | None = None) -> dict[str, Finding]:
    return {kind: DETECTORS[kind](f, t) for kind in kinds or list(DETECTORS)}


@dataclass(frozen=True)
class CoverageCheck:
    flagged: bool
    coverage: float
    open_pipeline: float
    remaining_target: float


def coverage(*, open_pipeline: float, target: float, won: float, t: Thresholds) -> CoverageCheck:
    """Open pipeline due this period over what is left of its target, below `coverage_ratio`."""
    remaining = max(target - won, 0.0)
    ratio = coverage_ratio(open_pipeline=open_pipeline, target=target, won=won)  # the one definition
    if ratio is None or remaining <= 0:
        return CoverageCheck(False, float("inf"), open_pipeline, 0.0)
    return CoverageCheck(ratio < t.coverage_ratio, ratio, open_pipeline, remaining)


def forecast_drop(*, p50_now: float, p50_before: float, t: Thresholds) -> tuple[bool, float]:
    """The forecast's P50 fell by more than `forecast_drop_share` (returns the share it fell by)."""
    if p50_before <= 0:
        return False, 0.0
    share = (p50_before - p50_now) / p50_before
    return share > t.forecast_drop_share, share
