"""What each alert says: what was seen, why it matters, what to do next. Plain Python over facts."""

from __future__ import annotations

import math
from typing import Any

from alerts.detectors import DealFacts, Thresholds


def _d(x: float) -> int:
    return round(float(x))


def describe(kind: str, f: DealFacts, i: int, stage_name: str, t: Thresholds) -> tuple[str, str, str, dict[str, Any]]:
    """(seen, why, next_step, details) for deal slot `i` flagged by detector `kind`."""
    if kind == "stale":
        idle = f.days_since_activity[i]
        if math.isnan(idle):
            seen = f"No activity logged at all in the {_d(f.age_days[i])} days since the deal was created."
        else:
            seen = f"No activity for {_d(idle)} days (threshold {_d(t.stale_days)})."
        return (
            seen,
            "Deals that go quiet are lost or slip far more often than deals with regular contact.",
            "Log the last conversation or reach out to the buyer this week to confirm the deal is alive.",
            {"days_since_activity": None if math.isnan(idle) else _d(idle), "age_days": _d(f.age_days[i])},
        )
    if kind == "stalled":
        return (
            f"{_d(f.days_in_stage[i])} days in {stage_name}; deals here usually move on within "
            f"{_d(f.stage_norm_days[i])} days (the {_d(t.stall_percentile_for(f.stage_id[i]) or 0)}th percentile of "
            "this stage's stays).",
            "A deal stuck longer than most deals ever stay in a stage rarely closes on time.",
            f"Agree a concrete next step that moves it out of {stage_name}, or re-qualify it.",
            {"days_in_stage": _d(f.days_in_stage[i]), "stage_norm_days": _d(f.stage_norm_days[i]), "stage": stage_name},
        )
    if kind == "slipping":
        parts = []
        if f.slip_count[i] >= t.slip_min_pushes:
            parts.append(f"close date pushed out {_d(f.slip_count[i])} times ({_d(f.slip_days[i])} days in total)")
        if not math.isnan(f.days_past_due[i]) and f.days_past_due[i] >= t.slip_past_due_days:
            parts.append(f"expected close date passed {_d(f.days_past_due[i])} days ago and the deal is still open")
        return (
            "The " + "; ".join(parts) + ".",
            "Repeatedly slipping dates usually mean the buyer has not committed; the forecast counts on this deal.",
            "Confirm the buyer's timeline and decision process, then set a realistic close date.",
            {
                "slip_count": _d(f.slip_count[i]),
                "slip_days": _d(f.slip_days[i]),
                "days_past_due": None if math.isnan(f.days_past_due[i]) else _d(f.days_past_due[i]),
            },
        )
    if kind == "engagement":
        ghosting = f.recent_outbound[i] >= t.ghost_min_outbound and f.days_since_inbound[i] > t.ghost_days
        if ghosting:
            seen = (
                f"{_d(f.recent_outbound[i])} outbound touches in the last {_d(t.ghost_days)} days but no reply "
                f"for {_d(f.days_since_inbound[i])} days."
            )
        elif f.buyer_cooling[i] or f.no_show_unanswered[i]:
            seen = (
                "The buyer's latest email reads negative or says “not now”."
                if f.buyer_cooling[i]
                else "The buyer missed the last meeting and has not written since."
            )
        else:
            seen = (
                f"{_d(f.recent_activities[i])} activities in the last {_d(t.engagement_recent_days)} days against "
                f"{_d(f.earlier_activities[i])} in the {_d(t.engagement_baseline_days)} days before."
            )
        return (
            seen,
            "Falling engagement from the buyer is one of the earliest signs a deal is going cold.",
            "Try a different contact or channel, and ask directly whether priorities have changed.",
            {
                "recent_activities": _d(f.recent_activities[i]),
                "earlier_activities": _d(f.earlier_activities[i]),
                "ghosting": bool(ghosting),
                "buyer_cooling": bool(f.buyer_cooling[i]),
                "no_show_unanswered": bool(f.no_show_unanswered[i]),
            },
        )
    if kind == "model_risk":
        p, before = f.win_probability[i], f.previous_win_probability[i]
        if not math.isnan(before) and before - p > t.model_drop:
            seen = f"Win probability fell from {before:.0%} to {p:.0%} since the last check."
        else:
            seen = f"Win probability is {p:.0%} on one of the workspace's largest open deals."
        return (
            seen,
            "The scoring model sees this deal's pattern in deals that were lost.",
            "Review what changed on the deal and whether it still belongs in the forecast.",
            {
                "win_probability": round(float(p), 3),
                "previous": None if math.isnan(before) else round(float(before), 3),
            },
        )
    if kind == "single_threaded":
        return (
            f"Only {_d(f.contact_count[i])} contact involved on a deal above the workspace's median amount.",
            "Deals that depend on one person stall or die when that person leaves, changes role or goes quiet.",
            "Bring in a second stakeholder (economic buyer or champion's manager).",
            {"contact_count": _d(f.contact_count[i])},
        )
    raise ValueError(f"unknown alert kind {kind!r}")
