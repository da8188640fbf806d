"""Point-in-time facts about customers: renewal cases, churn features, health and expansion signals.

Plain Python and NumPy over `Facts` (loaded by `customers.loader`); nothing here reads the database or
the clock. Everything "as of t" looks only at what happened before t: usage, tickets, churn events and
activities dated before it, and the subscription's terms as they stood.

A renewal case is a subscription reaching a renewal date: each anniversary of its start it lived past
(renewed, y = 0), and its end date when it ended (churned: y = 1; ended without churn: y = 0). An
open-ended subscription renews yearly on its start date's anniversary, whatever its billing period
(billing says how often it is invoiced, not how long the commitment runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

FEATURE_LEAD_DAYS = 60  # a training case is seen as it stood this long before its renewal date
USAGE_DAYS = 90
TICKET_DAYS = 180
PAYMENT_DAYS = 180
SEAT_METRIC = "active_seats"  # a usage metric that is a reading of seats in use, not activity


@dataclass
class SubFacts:
    id: int
    customer_id: int
    plan: str
    seats: int
    arr: float
    start: date
    end: date | None
    billing: str
    auto_renew: bool
    is_trial: bool
    churned: bool | None
    upgraded: bool = False
    downgraded: bool = False


@dataclass
class Events:
    """One customer's dated events as day ordinals (sorted), with per-event values."""

    days: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra: np.ndarray = field(default_factory=lambda: np.zeros(0))  # errors / priority weight / inbound flag
    labels: list[str] = field(default_factory=list)  # metric names (usage)
    teams: list[str] = field(default_factory=list)  # the department behind each usage row, "" when unknown

    def before(self, t: int, days: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.days, [t - days, t])
        return np.arange(lo, hi)

    def activity_before(self, t: int, days: int) -> np.ndarray:
        """Like `before`, without the seats-in-use readings (a level, not activity)."""
        found = self.before(t, days)
        return np.array([i for i in found if self.labels[i] != SEAT_METRIC], dtype=np.int64) if self.labels else found


@dataclass
class Facts:
    subscriptions: list[SubFacts]
    customer_attributes: dict[int, dict[str, Any]]
    customer_since: dict[int, date | None]
    usage: dict[int, Events]
    tickets: dict[int, Events]  # values: satisfaction (nan when none), extra: 1 for high/urgent
    churn_events: dict[int, np.ndarray]
    activities: dict[int, Events]  # per day: values = activities, extra = inbound ones
    data_end: date
    subscriptions_of: dict[int, list[SubFacts]] = field(default_factory=dict)
    payments: dict[int, Events] = field(default_factory=dict)  # by due date: values = 1 for late or failed

    def __post_init__(self) -> None:
        for sub in self.subscriptions:
            self.subscriptions_of.setdefault(sub.customer_id, []).append(sub)


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def next_renewal(sub: SubFacts, on_or_after: date) -> date | None:
    """The subscription's next renewal date on or after a day: its end date, or its next start anniversary."""
    if sub.end is not None:
        return sub.end if sub.end >= on_or_after else None
    years = max(1, on_or_after.year - sub.start.year)
    found = add_years(sub.start, years)
    while found < on_or_after:
        years += 1
        found = add_years(sub.start, years)
    return found


@dataclass(frozen=True)
class Case:
    sub: SubFacts
    renewal: date
    churned: bool


def renewal_cases(facts: Facts, *, until: date) -> list[Case]:
    """Every renewal decided by `until` (inclusive), with its outcome."""
    cases = []
    for sub in facts.subscriptions:
        stop = min(sub.end or until, until)
        years = 1
        while (day := add_years(sub.start, years)) < stop:
            cases.append(Case(sub, day, False))
            years += 1
        if sub.end is not None and sub.end <= until and sub.churned is not None:
            cases.append(Case(sub, sub.end, bool(sub.churned)))
    return cases


def _trend(events: Events, t: int) -> tuple[float, float, float]:
    """Usage in the last 30 days, in the 60 before them (per 30 days), and their log2 ratio."""
    recent = events.values[events.activity_before(t, 30)].sum()
    prior = events.values[events.activity_before(t - 30, 60)].sum() / 2
    ratio = math.log2((recent + 1) / (prior + 1))
    return float(recent), float(prior), ratio


def subscription_features(facts: Facts, sub: SubFacts, t: date, renewal: date) -> dict[str, Any]:
    """What was known about a subscription and its customer at `t`, before a renewal on `renewal`.

    The term's age and the days left are left out on purpose: training cases are seen a fixed time before
    their renewal, and in data whose churn dates fall anywhere (RavenStack) the age alone tells a churned
    term from an anniversary, a leak that would not hold when scoring live subscriptions."""
    day = t.toordinal()
    customer = sub.customer_id
    since = facts.customer_since.get(customer)
    usage = facts.usage.get(customer, Events())
    tickets = facts.tickets.get(customer, Events())
    activities = facts.activities.get(customer, Events())
    churns = facts.churn_events.get(customer, np.zeros(0, dtype=np.int64))
    used = usage.activity_before(day, USAGE_DAYS)
    recent, _, ratio = _trend(usage, day)
    opened = tickets.before(day, TICKET_DAYS)
    satisfaction = tickets.values[opened]
    rated = satisfaction[~np.isnan(satisfaction)]
    found: dict[str, Any] = {
        "plan": sub.plan or "unknown",
        "billing": sub.billing,
        "auto_renew": float(sub.auto_renew),
        "is_trial": float(sub.is_trial),
        "seats": float(sub.seats),
        "arr": sub.arr,
        "customer_days": float((t - since).days) if since else None,
        "usage_90d": float(usage.values[used].sum()),
        "usage_per_seat_90d": float(usage.values[used].sum()) / max(sub.seats, 1),
        "usage_errors_90d": float(usage.extra[used].sum()),
        "usage_features_90d": float(len({usage.labels[i] for i in used})) if usage.labels else 0.0,
        "usage_last_30d": recent,
        "usage_trend": ratio,
        "tickets_180d": float(len(opened)),
        "urgent_tickets_180d": float(tickets.extra[opened].sum()),
        "satisfaction_180d": float(rated.mean()) if len(rated) else None,
        "activities_90d": float(activities.values[activities.before(day, 90)].sum()),
        "past_churn_events": float((churns < day).sum()),
        "other_subscriptions": float(
            sum(1 for s in facts.subscriptions_of.get(customer, []) if s.id != sub.id and s.start <= t)
        ),
    }
    if facts.payments:  # only where payments are recorded: elsewhere a constant column says nothing
        due = facts.payments.get(customer, Events())
        found["late_or_failed_payments_180d"] = float(due.values[due.before(day, PAYMENT_DAYS)].sum())
    for key, value in facts.customer_attributes.get(customer, {}).items():
        found.setdefault(f"account_{key}", value)
    return found


def training_rows(facts: Facts, cases: list[Case]) -> tuple[list[dict[str, Any]], np.ndarray, list[str], list[int]]:
    """Features of each case as it stood FEATURE_LEAD_DAYS before its renewal (not before the term began)."""
    rows, y, segments, groups = [], [], [], []
    for case in cases:
        t = max(case.sub.start, case.renewal - timedelta(days=FEATURE_LEAD_DAYS))
        rows.append(subscription_features(facts, case.sub, t, case.renewal))
        y.append(float(case.churned))
        segments.append(case.sub.plan or "unknown")
        groups.append(case.sub.id)
    return rows, np.array(y), segments, groups


# --- health and expansion ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Driver:
    name: str
    points: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "points": round(self.points, 1), "detail": self.detail}


def health(facts: Facts, customer: int, today: date, subs: list[SubFacts]) -> tuple[float, list[Driver]]:
    """A 0-100 health score from 60, with the drivers that moved it (largest first)."""
    day = today.toordinal()
    usage = facts.usage.get(customer, Events())
    recent, prior, ratio = _trend(usage, day)
    drivers = []
    if len(usage.days):
        drivers.append(
            Driver("usage trend", max(-20.0, min(15.0, 10 * ratio)), f"{recent:.0f} last 30 days vs {prior:.0f} before")
        )
    seats = sum(s.seats for s in subs)
    if seats and len(usage.days):
        per_seat = recent / seats
        drivers.append(
            Driver(
                "seat utilisation",
                max(-10.0, min(10.0, 5 * math.log2((per_seat + 0.1) / 1.0))),
                f"{per_seat:.1f} uses per seat in 30 days",
            )
        )
    activities = facts.activities.get(customer, Events())
    touched = int(activities.values[activities.before(day, 90)].sum())
    drivers.append(
        Driver("engagement", -10.0 if touched == 0 else min(10.0, 3.0 * touched), f"{touched} activities in 90 days")
    )
    tickets = facts.tickets.get(customer, Events())
    opened = tickets.before(day, 90)
    if len(opened):
        urgent = float(tickets.extra[opened].sum())
        drivers.append(
            Driver(
                "support tickets",
                -min(20.0, 3.0 * len(opened) + 4.0 * urgent),
                f"{len(opened)} tickets in 90 days, {urgent:.0f} high or urgent",
            )
        )
        rated = tickets.values[opened][~np.isnan(tickets.values[opened])]
        if len(rated):
            drivers.append(
                Driver("ticket satisfaction", 5.0 * (float(rated.mean()) - 3.5), f"mean {rated.mean():.1f} of 5")
            )
    payments = facts.payments.get(customer, Events())
    due = payments.before(day, PAYMENT_DAYS)
    if len(due):
        bad = int(payments.values[due].sum())
        drivers.append(
            Driver("payments", -min(20.0, 7.0 * bad), f"{bad} of {len(due)} payments late or failed in 180 days")
            if bad
            else Driver("payments", 3.0, f"{len(due)} payments on time in 180 days")
        )
    if any(s.downgraded for s in subs):
        drivers.append(Driver("plan change", -10.0, "downgraded"))
    elif any(s.upgraded for s in subs):
        drivers.append(Driver("plan change", 5.0, "upgraded"))
    score = max(0.0, min(100.0, 60.0 + sum(d.points for d in drivers)))
    return score, sorted(drivers, key=lambda d: -abs(d.points))


def expansion_signals(facts: Facts, customer: int, today: date, subs: list[SubFacts]) -> list[Driver]:
    """Signals that a customer would buy more: seats near or over the licence, usage growing, new teams, a champion."""
    day = today.toordinal()
    usage = facts.usage.get(customer, Events())
    found = []
    seats = sum(s.seats for s in subs)
    seat_rows = [i for i in usage.before(day, 30) if usage.labels and usage.labels[i] == SEAT_METRIC]
    if seats and seat_rows:
        active = float(usage.values[seat_rows].max())
        share = active / seats
        if share >= 0.9:
            found.append(
                Driver("seats near or over licence", 30.0 * min(share, 1.5), f"{active:.0f} active of {seats} seats")
            )
    recent, prior, ratio = _trend(usage, day)
    if ratio >= 0.4 and recent >= 10 and prior > 0:  # growth, not a first month
        found.append(
            Driver("usage growing", 20.0 * min(ratio, 2.0), f"{recent:.0f} last 30 days vs {prior:.0f} before")
        )
    teams_now = {usage.teams[i] for i in usage.before(day, 60) if usage.teams and usage.teams[i]}
    if teams_now:
        teams_before = {usage.teams[i] for i in usage.before(day - 60, 365) if usage.teams[i]}
        new = sorted(teams_now - teams_before)
        if new and teams_before:
            found.append(Driver("new teams active", 15.0 * len(new), ", ".join(new[:3])))
    activities = facts.activities.get(customer, Events())
    inbound = float(activities.extra[activities.before(day, 45)].sum())
    if inbound >= 2:
        found.append(Driver("engaged champion", 10.0 * min(inbound, 4.0), f"{inbound:.0f} inbound touches in 45 days"))
    return sorted(found, key=lambda d: -d.points)
